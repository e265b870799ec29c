//! The parsers of what read(2) on a fanotify fd returned (metadata and info
//! records) and of what a tracer wrote back (the response).
#![no_main]

use fsnotify_gadget::backend::tracepoint::userbuf::{parse_fanotify, parse_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (evs, _err) = parse_fanotify(data);
    assert!(evs.len() * 24 <= data.len(), "more events than the buffer can hold");
    for ev in &evs {
        let name = ev.info_name.as_ref().map_or(0, Vec::len);
        let handle = ev.fid.as_ref().map_or(0, |f| f.2.len());
        assert!(name <= data.len() && handle <= data.len());
    }
    let _ = parse_response(data);
});

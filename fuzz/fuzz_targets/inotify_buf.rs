//! The parser of what read(2) on an inotify fd returned: never panics, and
//! every record it returns lies within the buffer.
#![no_main]

use fsnotify_gadget::backend::tracepoint::userbuf::parse_inotify;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (evs, _err) = parse_inotify(data);
    let names: usize = evs.iter().map(|e| e.name.len() + 16).sum();
    assert!(names <= data.len(), "records claim more bytes than the buffer has");
});

//! The procfs parsers: /proc/PID/fdinfo/FD (as `list` reads it), and the
//! status, mountinfo and ns link text `list` reads.
#![no_main]

use fsnotify_gadget::procfs::{self, fdinfo, mountinfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let info = fdinfo::parse_fdinfo(&text);
    assert!(info.marks.len() <= text.lines().count());
    let _ = procfs::status_uid(&text);
    let _ = procfs::ns_id(&text);
    let _ = mountinfo::parse_mountinfo(&text);
});

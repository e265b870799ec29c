//! The /proc/kallsyms parser and the range lookups the backends make.
#![no_main]

use fsnotify_gadget::kallsyms::Kallsyms;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let names = ["inotify_read", "inotify_handle_inode_event", "fanotify_handle_event"];
    let k = Kallsyms::parse(&String::from_utf8_lossy(data), &names);
    let _ = k.addresses_hidden();
    for name in names {
        let _ = k.has(name);
        for r in k.ranges(name) {
            assert!(r.start < r.end, "an empty or inverted range: {r:?}");
        }
    }
});

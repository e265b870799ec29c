//! The /proc/kallsyms parsers: the backends' (`Kallsyms`, and the range
//! lookups they make) and the task_file iterator's (`iter::read_fn_addrs`,
//! the addresses of the read functions it tells notify files by).
#![no_main]

use fsnotify_gadget::kallsyms::Kallsyms;
use fsnotify_gadget::procfs::iter::read_fn_addrs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let names = ["inotify_read", "inotify_handle_inode_event", "fanotify_handle_event"];
    let k = Kallsyms::parse(&text, &names);
    let _ = k.addresses_hidden();
    for name in names {
        let _ = k.has(name);
        for r in k.ranges(name) {
            assert!(r.start < r.end, "an empty or inverted range: {r:?}");
        }
    }
    // A read function the iterator finds is one the backends' parser finds too
    // (a built-in text symbol of exactly that name).
    let (inotify_read, fanotify_read) = read_fn_addrs(&text);
    let both = Kallsyms::parse(&text, &["inotify_read", "fanotify_read"]);
    for (name, addr) in [("inotify_read", inotify_read), ("fanotify_read", fanotify_read)] {
        assert!(addr == 0 || both.has(name), "{name} at {addr:#x} for one parser only");
    }
});

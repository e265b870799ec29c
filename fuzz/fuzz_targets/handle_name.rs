//! The paths a ring record's name becomes, before any file is opened:
//! - a `FSG_F_HANDLE` record's name[] (`handle::handle_bytes`) read as a
//!   file handle and an entry (`HandleName::parse`), then the entry joined to
//!   the handle's path (`HandleName::join`);
//! - an inotify record's name joined to its watch's path (`watch_paths::join`).
//!
//! The input is tried both as a whole record and as name[] alone. Checked:
//! parse refuses exactly the inputs shorter than their header or their
//! claimed handle, and what it accepts is its input again, byte for byte;
//! the handle bytes never reach past name[] or `name_len`; a join is the
//! directory, one `/` where needed, and the entry: never longer.
#![no_main]

use std::mem::{offset_of, size_of};

use fsnotify_gadget::backend::handle::{handle_bytes, HandleName};
use fsnotify_gadget::backend::kernel::decode::{fsg_event, HEADER_LEN};
use fsnotify_gadget::procfs::watch_paths;
use libfuzzer_sys::fuzz_target;

/// Directories as the kernel's readlink of an opened handle gives them.
const DIRS: [&[u8]; 4] = [b"/", b"/srv/data", b"/srv/data/", b"/home/u/a b\n\xff"];

/// `dir` joined with `entry`: the directory itself for no entry, else one `/` between.
fn check_join(dir: &[u8], entry: &[u8], joined: &[u8]) {
    if entry.is_empty() {
        assert_eq!(joined, dir, "no entry: the directory itself");
        return;
    }
    let slash = usize::from(!dir.ends_with(b"/"));
    assert_eq!(joined.len(), dir.len() + slash + entry.len(), "a join is the directory, a `/` and the entry, no more");
    assert!(joined.starts_with(dir) && joined.ends_with(entry), "{joined:?}");
    assert!(slash == 0 || joined[dir.len()] == b'/');
}

fn check_parse(b: &[u8]) {
    let claimed = b.get(12..16).map(|l| u32::from_ne_bytes(l.try_into().unwrap()) as usize);
    let Some(h) = HandleName::parse(b) else {
        assert!(claimed.is_none_or(|len| b.len() - 16 < len), "a whole handle refused: {b:?}");
        return;
    };
    assert_eq!(Some(h.handle.len()), claimed);
    // Nothing lost, nothing made up: the header, the handle and the entry are the input.
    let mut again = Vec::with_capacity(b.len());
    again.extend_from_slice(&h.fsid.to_ne_bytes());
    again.extend_from_slice(&h.handle_type.to_ne_bytes());
    again.extend_from_slice(&(h.handle.len() as u32).to_ne_bytes());
    again.extend_from_slice(h.handle);
    again.extend_from_slice(h.entry);
    assert_eq!(again, b);
    for dir in DIRS {
        check_join(dir, h.entry, &h.join(dir.to_vec()));
    }
}

fuzz_target!(|data: &[u8]| {
    // As a whole record: what decode_record hands the parser.
    if let Some(name) = handle_bytes(data) {
        let at = offset_of!(fsg_event, name_len);
        let name_len = data.get(at..at + 4).map_or(0, |l| u32::from_ne_bytes(l.try_into().unwrap()) as usize);
        let name_buf = size_of::<fsg_event>() - HEADER_LEN;
        assert!(name.len() <= name_len && name.len() <= name_buf, "{} bytes of handle", name.len());
        assert!(name.is_empty() || data.get(HEADER_LEN..HEADER_LEN + name.len()) == Some(name), "name[] is where the header ends");
        check_parse(name);
    }
    // As name[] alone: every header the parser may see, without a record's.
    check_parse(data);
    // An inotify record's name under its watch's path.
    let name = data.split(|&b| b == 0).next().unwrap_or_default();
    for dir in DIRS {
        check_join(dir, name, &watch_paths::join(dir, name));
    }
});

//! The small per-process facts read from /proc: the real uid of
//! `/proc/PID/status` (`status_uid`), the effective capabilities of
//! `/proc/self/status` (`privileges::effective_caps`, and what is missing of
//! them), the namespace id of a `/proc/PID/ns/mnt` link (`ns_id`) and the
//! kind of a `/proc/PID/fd/N` link (`NotifyKind::of_link`).
//!
//! Checked: a value is read from the first line of its kind only (other
//! lines before it, and later lines of its kind, change nothing); what the
//! kernel prints for a value reads back as that value; `missing` names
//! nothing exactly when CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON, are there.
#![no_main]

use fsnotify_gadget::privileges::{effective_caps, missing};
use fsnotify_gadget::procfs::{ns_id, status_uid, NotifyKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    let uid = status_uid(&text);
    let caps = effective_caps(&text);
    // Other lines before the value's change nothing, nor does a later line of its kind.
    assert_eq!(status_uid(&format!("Name:\tx\nGid:\t1\t1\t1\t1\n{text}")), uid);
    assert_eq!(effective_caps(&format!("Name:\tx\nCapPrm:\t1\n{text}")), caps);
    if let Some(u) = uid {
        assert!(text.lines().any(|l| l.starts_with("Uid:")));
        assert_eq!(status_uid(&format!("{text}\nUid:\t{}\t0\t0\t0\n", u.wrapping_add(1))), Some(u), "only the first Uid: line counts");
    }
    if let Some(c) = caps {
        assert!(text.lines().any(|l| l.starts_with("CapEff:")));
        assert_eq!(effective_caps(&format!("{text}\nCapEff:\t{:016x}\n", !c)), Some(c), "only the first CapEff: line counts");
        let has = |bit: u32| c & (1 << bit) != 0;
        assert_eq!(missing(c).is_empty(), has(21) || (has(38) && has(39)), "{:?} missing of {c:#x}", missing(c));
    }

    // What the kernel prints reads back.
    let n = data.get(..8).map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap()));
    assert_eq!(status_uid(&format!("Name:\tsleep\nUid:\t{}\t{n}\t{n}\t{n}\nGid:\t0\t0\t0\t0\n", n as u32)), Some(n as u32));
    assert_eq!(effective_caps(&format!("CapInh:\t0000000000000000\nCapEff:\t{n:016x}\n")), Some(n));
    assert_eq!(ns_id(&format!("mnt:[{n}]")), Some(n));

    if ns_id(&text).is_some() {
        assert!(text.ends_with(']') && text.contains(":["), "{text:?} is no ns link");
    }
    match NotifyKind::of_link(data) {
        Some(NotifyKind::Inotify) => assert_eq!(data, b"anon_inode:inotify"),
        Some(NotifyKind::Fanotify) => assert_eq!(data, b"anon_inode:[fanotify]"),
        None => assert!(data != b"anon_inode:inotify" && data != b"anon_inode:[fanotify]"),
    }
});

//! The BPF iterators' output `list` reads: the task_file iterator's records
//! (`iter::task_files`: each notify file's group and kind) and the task
//! iterator's per-user counts (`iter::user_counts_of`), raw bytes as a
//! `read(2)` of the iterator returns them.
//!
//! Checked against the records read plainly: a (tgid, fd) keeps its first
//! record; with the read functions known, only notify files are kept, each
//! with its kind; a trailing cut-off record is ignored; each `struct ucounts`
//! counts once, a count the kernel does not have (negative) is none, and a
//! sum never wraps (it stops at u64::MAX).
#![no_main]

use std::collections::{HashMap, HashSet};
use std::mem::size_of;

use fsnotify_gadget::boundary::read_prefix;
use fsnotify_gadget::procfs::iter::{fsg_kind, fsg_task_file, fsg_user_counts, task_files, user_counts_of, IterFile};
use fsnotify_gadget::procfs::NotifyKind;
use libfuzzer_sys::fuzz_target;

fn check_task_files(data: &[u8], targeted: bool) {
    let files = task_files(data, targeted);
    let mut want: HashMap<(u32, u32), IterFile> = HashMap::new();
    for r in data.chunks_exact(size_of::<fsg_task_file>()).map(read_prefix::<fsg_task_file>) {
        let kind = match fsg_kind(r.kind) {
            fsg_kind::FSG_KIND_INOTIFY => Some(NotifyKind::Inotify),
            fsg_kind::FSG_KIND_FANOTIFY => Some(NotifyKind::Fanotify),
            _ if targeted => continue,
            _ => None,
        };
        want.entry((r.tgid, r.fd)).or_insert(IterFile { group: r.group, kind });
    }
    assert_eq!(files, want, "targeted: {targeted}");
    assert!(!targeted || files.values().all(|f| f.kind.is_some()));
}

fn check_user_counts(data: &[u8]) {
    let counts = user_counts_of(data);
    let mut seen = HashSet::new();
    let mut want: HashMap<u32, [Option<u128>; 4]> = HashMap::new();
    for r in data.chunks_exact(size_of::<fsg_user_counts>()).map(read_prefix::<fsg_user_counts>) {
        if !seen.insert(r.ucounts) {
            continue;
        }
        let sums = want.entry(r.uid).or_default();
        for (sum, v) in sums.iter_mut().zip([r.inotify_instances, r.inotify_watches, r.fanotify_groups, r.fanotify_marks]) {
            if v >= 0 {
                *sum = Some(sum.unwrap_or(0) + v as u128);
            }
        }
    }
    assert_eq!(counts.len(), want.len());
    for (uid, sums) in want {
        let c = counts[&uid];
        let got = [c.inotify_instances, c.inotify_watches, c.fanotify_groups, c.fanotify_marks];
        let sums = sums.map(|s| s.map(|s| s.min(u128::from(u64::MAX)) as u64));
        assert_eq!(got, sums, "uid {uid}");
    }
}

fuzz_target!(|data: &[u8]| {
    check_task_files(data, true);
    check_task_files(data, false);
    check_user_counts(data);
});

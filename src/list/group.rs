//! Which notify fds are one instance (an open file description held through
//! several fds or by several processes): the same group address, or, without
//! one, the same file by kcmp(KCMP_FILE).

use std::collections::HashMap;

use crate::procfs::{NotifyFd, NotifyKind as Kind};

/// Whether two fds refer to the same open file description (kcmp KCMP_FILE);
/// None when kcmp fails.
pub(super) fn kcmp_same_file(a: &NotifyFd, b: &NotifyFd) -> Option<bool> {
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, a.pid as libc::c_long, b.pid as libc::c_long, KCMP_FILE, a.fd as libc::c_long, b.fd as libc::c_long) };
    (r >= 0).then_some(r == 0)
}

/// Groups fds into instances (indexes into `fds`, each group sorted): by
/// group address when known; otherwise with `same_file`, tried only between
/// fds of the same kind whose marks are identical. Returns the groups and
/// whether `same_file` ever failed.
pub fn group_fds(fds: &[NotifyFd], mut same_file: impl FnMut(&NotifyFd, &NotifyFd) -> Option<bool>) -> (Vec<Vec<usize>>, bool) {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_addr: HashMap<(Kind, u64), usize> = HashMap::new();
    let mut failed = false;
    for (i, f) in fds.iter().enumerate() {
        if let Some(addr) = f.group {
            if let Some(&g) = by_addr.get(&(f.kind, addr)) {
                groups[g].push(i);
                continue;
            }
            by_addr.insert((f.kind, addr), groups.len());
            groups.push(vec![i]);
            continue;
        }
        let mut found = None;
        for (g, members) in groups.iter().enumerate() {
            let rep = &fds[members[0]];
            if rep.kind != f.kind || rep.info.marks != f.info.marks || rep.info.fa_flags != f.info.fa_flags {
                continue;
            }
            match same_file(rep, f) {
                Some(true) => {
                    found = Some(g);
                    break;
                }
                Some(false) => {}
                None => failed = true,
            }
        }
        match found {
            Some(g) => groups[g].push(i),
            None => groups.push(vec![i]),
        }
    }
    (groups, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd(pid: u32, fd: u32, kind: Kind, group: Option<u64>, marks: &str) -> NotifyFd {
        NotifyFd { pid, fd, kind, info: crate::procfs::fdinfo::parse_fdinfo(marks), group }
    }

    #[test]
    fn fds_group_by_address_then_by_kcmp() {
        let w = "inotify wd:1 ino:1 sdev:1 mask:1 ignored_mask:0\n";
        let fds = vec![
            fd(10, 3, Kind::Inotify, Some(0xffff1), ""),
            fd(10, 4, Kind::Inotify, Some(0xffff2), ""),
            fd(11, 3, Kind::Inotify, Some(0xffff1), ""),
            fd(12, 5, Kind::Fanotify, Some(0xffff1), ""),
            fd(20, 3, Kind::Inotify, None, w),
            fd(21, 3, Kind::Inotify, None, w),
            fd(22, 3, Kind::Inotify, None, w),
            fd(23, 3, Kind::Inotify, None, ""),
        ];
        let mut calls = 0;
        let (g, failed) = group_fds(&fds, |a, b| {
            calls += 1;
            Some((a.pid, b.pid) == (20, 21))
        });
        assert!(!failed);
        assert_eq!(g, vec![vec![0, 2], vec![1], vec![3], vec![4, 5], vec![6], vec![7]]);
        // Only fds with identical marks are compared: 21 with 20, 22 with 20, 23 with 0 and 1 (both empty).
        assert_eq!(calls, 4);
        let (g, failed) = group_fds(&fds[4..6], |_, _| None);
        assert!(failed);
        assert_eq!(g.len(), 2);
    }
}

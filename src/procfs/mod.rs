//! What procfs and the kernel say about processes and their inotify and
//! fanotify fds: the one place `list`, the tracers and the coming path and
//! container resolution get these facts from.
//!
//! - this module: [`NotifyKind`], the `/proc/PID/fd` scan for notify fds
//!   (their `anon_inode:` link), and the small per-process facts (comm, uid,
//!   mount namespace);
//! - [`fdinfo`]: the parser of a notify fd's `/proc/PID/fdinfo/FD`;
//! - [`mountinfo`]: `/proc/PID/mountinfo` and device numbers;
//! - [`resolve`]: what a watch or mark is on, as a path (`open_by_handle_at`,
//!   mountinfo);
//! - [`iter`]: the `task_file` BPF iterator (bpf/task_files.bpf.c), which
//!   gives each notify file's `fsnotify_group` address;
//! - [`watch_paths`]: the path of each inotify record's watch, for the tracers;
//! - [`backlog`]: the bytes queued on a process's notify fds, for `top`.
//!
//! Nothing read here is trusted: a process that exits meanwhile, or a file
//! that cannot be read, is skipped rather than an error.

pub mod backlog;
pub mod cgroups;
pub mod fdinfo;
pub mod iter;
pub mod mountinfo;
pub mod resolve;
pub mod watch_paths;

use std::os::unix::ffi::OsStrExt;

use fdinfo::FdInfo;

/// inotify or fanotify: the kind of a notify group, its fd and its events.
/// Its numbers are C's `enum fsg_kind` (src/bpf/notify_kind.h), through the
/// iterator's skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotifyKind {
    Inotify,
    Fanotify,
}

impl NotifyKind {
    pub fn name(self) -> &'static str {
        match self {
            NotifyKind::Inotify => "inotify",
            NotifyKind::Fanotify => "fanotify",
        }
    }

    /// The kind of a `/proc/PID/fd/N` link target.
    pub fn of_link(target: &[u8]) -> Option<NotifyKind> {
        match target {
            b"anon_inode:inotify" => Some(NotifyKind::Inotify),
            b"anon_inode:[fanotify]" => Some(NotifyKind::Fanotify),
            _ => None,
        }
    }

    /// The value of C's `enum fsg_kind` for this kind; also its bit in the
    /// BPF programs' `want_kinds` filter.
    pub fn raw(self) -> u32 {
        use iter::fsg_kind;
        match self {
            NotifyKind::Inotify => fsg_kind::FSG_KIND_INOTIFY.0,
            NotifyKind::Fanotify => fsg_kind::FSG_KIND_FANOTIFY.0,
        }
    }

    /// The kind a BPF record names (`enum fsg_kind`); None for
    /// `FSG_KIND_OTHER` and unknown values.
    pub fn from_raw(raw: u32) -> Option<NotifyKind> {
        [NotifyKind::Inotify, NotifyKind::Fanotify].into_iter().find(|k| k.raw() == raw)
    }
}

/// One notify fd of one process.
#[derive(Debug, Clone)]
pub struct NotifyFd {
    pub pid: u32,
    pub fd: u32,
    pub kind: NotifyKind,
    pub info: FdInfo,
    /// The `fsnotify_group` address, from the iterator.
    pub group: Option<u64>,
}

/// Every notify fd in /proc (of process `only`, if given), sorted by pid and
/// fd, with its parsed fdinfo. Processes and fds that vanish meanwhile, or
/// cannot be read, are skipped; so is this process.
pub fn scan_notify_fds(only: Option<u32>) -> Vec<NotifyFd> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return out };
    let me = std::process::id();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        // Not ourselves: fds inherited from whoever started us would show up twice.
        if pid == me || only.is_some_and(|o| o != pid) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        for f in fds.flatten() {
            let Some(fd) = f.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let Ok(target) = std::fs::read_link(f.path()) else { continue };
            let Some(kind) = NotifyKind::of_link(target.as_os_str().as_bytes()) else { continue };
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else { continue };
            out.push(NotifyFd { pid, fd, kind, info: fdinfo::parse_fdinfo(&text), group: None });
        }
    }
    out.sort_by_key(|f| (f.pid, f.fd));
    out
}

/// A process's comm (`/proc/PID/comm`, without its newline); None once it exited.
pub fn comm(pid: u32) -> Option<Vec<u8>> {
    let mut comm = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
    if comm.last() == Some(&b'\n') {
        comm.pop();
    }
    Some(comm)
}

/// A process's real uid, from `/proc/PID/status`.
pub fn uid(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).ok().and_then(|s| status_uid(&s))
}

/// A process's mount namespace id, from its `/proc/PID/ns/mnt` link.
pub fn mntns(pid: u32) -> Option<u64> {
    std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok().and_then(|l| ns_id(&l.to_string_lossy()))
}

/// The real uid from `/proc/PID/status` (`Uid:` real effective saved fs).
pub fn status_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line["Uid:".len()..].split_ascii_whitespace().next()?.parse().ok()
}

/// The namespace id from a `/proc/PID/ns/mnt` link: `mnt:[4026531841]`.
pub fn ns_id(link: &str) -> Option<u64> {
    link.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_name_the_kind() {
        assert_eq!(NotifyKind::of_link(b"anon_inode:inotify"), Some(NotifyKind::Inotify));
        assert_eq!(NotifyKind::of_link(b"anon_inode:[fanotify]"), Some(NotifyKind::Fanotify));
        assert_eq!(NotifyKind::of_link(b"anon_inode:[eventfd]"), None);
        assert_eq!(NotifyKind::of_link(b"/tmp/anon_inode:inotify"), None);
    }

    #[test]
    fn kinds_are_the_c_enum() {
        assert_eq!((NotifyKind::Inotify.raw(), NotifyKind::Fanotify.raw()), (1, 2));
        assert_eq!(NotifyKind::from_raw(1), Some(NotifyKind::Inotify));
        assert_eq!(NotifyKind::from_raw(2), Some(NotifyKind::Fanotify));
        assert_eq!(NotifyKind::from_raw(0), None);
        assert_eq!(NotifyKind::from_raw(3), None);
    }

    #[test]
    fn status_and_ns_parse() {
        assert_eq!(status_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(1000));
        assert_eq!(status_uid("Uid:\n"), None);
        assert_eq!(ns_id("mnt:[4026531841]"), Some(4026531841));
        assert_eq!(ns_id("mnt:4026531841"), None);
    }
}

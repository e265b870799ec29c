//! Events waiting to be read: the bytes queued on a process's inotify or
//! fanotify fds. The kernel keeps the queue's length in the group
//! (`fsnotify_group.q_len`) but shows it in no file; it answers `FIONREAD`
//! on the notify fd (the bytes a read would return, every queued event with
//! its name or info records) to whoever holds the fd. So the fd is borrowed:
//! pidfd_getfd(2) (Linux 5.6) puts a copy of it in this process, `FIONREAD`
//! asks, and the copy is closed. It needs ptrace rights over the process:
//! root on the host, `CAP_SYS_PTRACE` in a container.
//!
//! The copy is a second reference to the same open file: the queue is only
//! read, never consumed, and if the process closes its fd meanwhile the
//! group goes when the copy is closed, microseconds later, as it would have.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use super::NotifyKind;

/// Why a backlog could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The process exited, or holds no notify fd of that kind now.
    Gone,
    /// No ptrace rights over it (pidfd_getfd: EPERM).
    NotPermitted,
    /// The kernel has no pidfd_getfd (before 5.6) or refused FIONREAD.
    Unsupported,
}

impl Unavailable {
    pub fn reason(self) -> &'static str {
        match self {
            Unavailable::Gone => "the process or its notify fd is gone",
            Unavailable::NotPermitted => "no ptrace rights over the process (run as root, or add CAP_SYS_PTRACE)",
            Unavailable::Unsupported => "this kernel has no pidfd_getfd (Linux 5.6)",
        }
    }
}

/// The fds of `pid` whose link says they are notify fds of `kind`.
fn notify_fds(pid: u32, kind: NotifyKind) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    let mut fds: Vec<i32> = dir
        .flatten()
        .filter(|f| std::fs::read_link(f.path()).is_ok_and(|t| NotifyKind::of_link(t.as_os_str().as_bytes()) == Some(kind)))
        .filter_map(|f| f.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn unavailable(errno: i32) -> Unavailable {
    match errno {
        libc::ESRCH | libc::EBADF => Unavailable::Gone,
        libc::EPERM | libc::EACCES => Unavailable::NotPermitted,
        _ => Unavailable::Unsupported,
    }
}

/// Bytes queued now on the notify fds of `kind` that `pid` holds, each open
/// file once (fds dup'ed within the process share one queue).
pub fn queued_bytes(pid: u32, kind: NotifyKind) -> Result<u64, Unavailable> {
    queued_on(pid, &notify_fds(pid, kind))
}

/// Bytes queued on the notify fds `fds` of `pid`, each open file once.
fn queued_on(pid: u32, fds: &[i32]) -> Result<u64, Unavailable> {
    if fds.is_empty() {
        return Err(Unavailable::Gone);
    }
    // SAFETY: pidfd_open takes a pid and flags; the result is a new fd or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if raw < 0 {
        return Err(unavailable(errno()));
    }
    // SAFETY: raw is a pidfd this function just opened and owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut total = 0u64;
    let mut counted: Vec<i32> = Vec::new();
    let mut last_err = Unavailable::Gone;
    for &fd in fds {
        // The same open file under another fd number: its queue is counted.
        // SAFETY: kcmp compares two fds of one process; no memory is passed.
        let same = |other: i32| unsafe { libc::syscall(libc::SYS_kcmp, pid as libc::pid_t, pid as libc::pid_t, 0 /* KCMP_FILE */, other, fd) } == 0;
        if counted.iter().any(|&c| same(c)) {
            continue;
        }
        // SAFETY: pidfd_getfd takes a pidfd, a fd number in that process and flags.
        let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) } as i32;
        if copy < 0 {
            last_err = unavailable(errno());
            if last_err == Unavailable::NotPermitted || last_err == Unavailable::Unsupported {
                return Err(last_err);
            }
            continue;
        }
        // SAFETY: copy is a new fd this function owns.
        let copy = unsafe { OwnedFd::from_raw_fd(copy) };
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int to the pointer given.
        if unsafe { libc::ioctl(copy.as_raw_fd(), libc::FIONREAD, &mut n) } < 0 {
            return Err(Unavailable::Unsupported);
        }
        total += n.max(0) as u64;
        counted.push(fd);
    }
    if counted.is_empty() {
        return Err(last_err);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this kernel has pidfd_getfd(2), asked with a pidfd that cannot be
    /// one: EBADF where the call exists, ENOSYS where it does not.
    fn kernel_has_pidfd_getfd() -> bool {
        // SAFETY: no pointer is passed; fd -1 is refused before anything is done.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, -1, 0, 0) };
        assert_eq!(r, -1, "pidfd_getfd on fd -1");
        match errno() {
            libc::EBADF => true,
            libc::ENOSYS => false,
            e => panic!("pidfd_getfd on fd -1: errno {e}"),
        }
    }

    /// This process's own inotify queue, with events of known size in it
    /// (its fds only: other tests of this process may hold notify fds too).
    #[test]
    fn the_bytes_of_queued_inotify_events_are_counted_once_per_open_file() {
        let dir = std::env::temp_dir().join(format!("fsg-backlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // SAFETY: plain syscalls with valid arguments.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        assert!(fd >= 0);
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        assert!(unsafe { libc::inotify_add_watch(fd, c.as_ptr(), libc::IN_CREATE) } > 0);
        let me = std::process::id();
        assert!(notify_fds(me, NotifyKind::Inotify).contains(&fd));
        assert!(!notify_fds(me, NotifyKind::Fanotify).contains(&fd));
        let before = queued_on(me, &[fd]);
        if !kernel_has_pidfd_getfd() {
            // Before Linux 5.6 there is no way to ask, and the answer says why.
            assert_eq!(before, Err(Unavailable::Unsupported), "a kernel without pidfd_getfd");
            unsafe { libc::close(fd) };
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        assert_eq!(before, Ok(0));
        // Names of 1 to 15 bytes take 16 bytes with their NUL padding: 32 an event.
        for i in 0..10 {
            std::fs::write(dir.join(format!("f{i}")), b"").unwrap();
        }
        assert_eq!(queued_on(me, &[fd]), Ok(320));
        // A second fd for the same open file does not double it.
        let dup = unsafe { libc::dup(fd) };
        assert_eq!(queued_on(me, &[fd, dup]), Ok(320));
        // Reading consumes; asking does not.
        let mut buf = [0u8; 32];
        assert_eq!(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }, 32);
        assert_eq!(queued_on(me, &[dup]), Ok(288));
        assert_eq!(queued_on(me, &[dup]), Ok(288));
        unsafe {
            libc::close(dup);
            libc::close(fd);
        }
        assert_eq!(queued_on(me, &[]), Err(Unavailable::Gone));
        assert_eq!(queued_bytes(u32::MAX / 2, NotifyKind::Inotify), Err(Unavailable::Gone));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

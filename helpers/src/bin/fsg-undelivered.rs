//! `fsg-undelivered inotify|fanotify efault|emfile|close DIR EVENTS FAILS`
//!
//! Events that leave a notification queue without reaching the reader, in
//! exact numbers. Watches DIR (inotify: IN_CREATE; fanotify: FAN_CLOSE_WRITE on
//! its children, an fd per event), creates EVENTS new files in it (distinct
//! names: the kernel merges no two of these events), then:
//!
//! - `efault`: makes FAILS reads into a buffer that cannot be written (a
//!   PROT_NONE page): each dequeues one event and fails with EFAULT;
//! - `emfile` (fanotify only): makes FAILS reads with no fd free below
//!   RLIMIT_NOFILE: each dequeues one event, cannot make its fd, fails with EMFILE;
//! - `close`: closes the fd with every event still queued (FAILS is ignored);
//!
//! then reads what is left with a good buffer and prints one line:
//! `read=R failed=F`: the events its reads returned, and the reads that failed.

use std::ffi::CString;
use std::process::exit;

fn usage() -> ! {
    eprintln!("usage: fsg-undelivered inotify|fanotify efault|emfile|close DIR EVENTS FAILS");
    exit(2)
}

fn die(what: &str) -> ! {
    eprintln!("fsg-undelivered: {what}: {}", std::io::Error::last_os_error());
    exit(1)
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Inotify,
    Fanotify,
}

/// A notify fd watching `dir` for the events `make_events` causes.
fn watch(api: Api, dir: &str) -> i32 {
    let cdir = CString::new(dir).unwrap_or_else(|_| usage());
    // SAFETY: plain syscalls; cdir is a valid C string.
    unsafe {
        match api {
            Api::Inotify => {
                let fd = libc::inotify_init1(libc::IN_NONBLOCK);
                if fd < 0 || libc::inotify_add_watch(fd, cdir.as_ptr(), libc::IN_CREATE) < 0 {
                    die("inotify");
                }
                fd
            }
            Api::Fanotify => {
                let fd = libc::fanotify_init(libc::FAN_CLASS_NOTIF | libc::FAN_NONBLOCK, libc::O_RDONLY as u32);
                let mask = libc::FAN_CLOSE_WRITE | libc::FAN_EVENT_ON_CHILD;
                if fd < 0 || libc::fanotify_mark(fd, libc::FAN_MARK_ADD, mask, libc::AT_FDCWD, cdir.as_ptr()) < 0 {
                    die("fanotify");
                }
                fd
            }
        }
    }
}

fn make_events(dir: &str, n: u64) {
    let pid = std::process::id();
    for i in 0..n {
        let path = format!("{dir}/u{pid}-{i}");
        if let Err(e) = std::fs::write(&path, b"x") {
            eprintln!("fsg-undelivered: writing {path}: {e}");
            exit(1);
        }
    }
}

/// The events in one read's buffer; fanotify's fds are closed.
fn count(api: Api, buf: &[u8]) -> u64 {
    let (mut events, mut off) = (0, 0);
    let field = |at: usize| u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap());
    match api {
        Api::Inotify => {
            // struct inotify_event: wd, mask, cookie, len, then len name bytes.
            while off + 16 <= buf.len() {
                events += 1;
                off += 16 + field(off + 12) as usize;
            }
        }
        Api::Fanotify => {
            // struct fanotify_event_metadata: event_len, vers/reserved/metadata_len, mask (8), fd, pid.
            while off + 24 <= buf.len() {
                let len = field(off) as usize;
                let fd = field(off + 16) as i32;
                if len < 24 {
                    break;
                }
                if fd >= 0 {
                    // SAFETY: the event fd is ours to close.
                    unsafe { libc::close(fd) };
                }
                events += 1;
                off += len;
            }
        }
    }
    events
}

/// One read into `buf`: Ok(bytes), or the error.
fn read_into(fd: i32, buf: *mut u8, len: usize) -> Result<usize, std::io::Error> {
    // SAFETY: the kernel checks the buffer; a bad one is the point of `efault`.
    let n = unsafe { libc::read(fd, buf.cast(), len) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [api, how, dir, events, fails] = &args[..] else { usage() };
    let api = match api.as_str() {
        "inotify" => Api::Inotify,
        "fanotify" => Api::Fanotify,
        _ => usage(),
    };
    let events: u64 = events.parse().unwrap_or_else(|_| usage());
    let fails: u64 = fails.parse().unwrap_or_else(|_| usage());
    let fd = watch(api, dir);
    make_events(dir, events);

    let mut failed = 0u64;
    match how.as_str() {
        "efault" => {
            // SAFETY: a fresh anonymous mapping nobody may write.
            let page = unsafe { libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
            if page == libc::MAP_FAILED {
                die("mmap");
            }
            for _ in 0..fails {
                match read_into(fd, page.cast(), 4096) {
                    Err(e) if e.raw_os_error() == Some(libc::EFAULT) => failed += 1,
                    other => {
                        eprintln!("fsg-undelivered: a read into a PROT_NONE page gave {other:?}, not EFAULT");
                        exit(1);
                    }
                }
            }
        }
        "emfile" if api == Api::Fanotify => {
            let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: plain syscalls on our own fds and limits.
            unsafe {
                // The lowest free fd is the next one the kernel would give: allow none from there.
                let free = libc::dup(0);
                libc::close(free);
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut old);
                let low = libc::rlimit { rlim_cur: free as libc::rlim_t, rlim_max: old.rlim_max };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &low) < 0 {
                    die("setrlimit");
                }
            }
            let mut buf = vec![0u8; 64 * 1024];
            for _ in 0..fails {
                match read_into(fd, buf.as_mut_ptr(), buf.len()) {
                    Err(e) if e.raw_os_error() == Some(libc::EMFILE) => failed += 1,
                    other => {
                        eprintln!("fsg-undelivered: a read with no free fd gave {other:?}, not EMFILE");
                        exit(1);
                    }
                }
            }
            // SAFETY: restores the limit read above.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) } < 0 {
                die("setrlimit");
            }
        }
        "close" => {
            // SAFETY: our own fd; its queued events go with it.
            unsafe { libc::close(fd) };
            println!("read=0 failed=0");
            return;
        }
        _ => usage(),
    }

    let mut read = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match read_into(fd, buf.as_mut_ptr(), buf.len()) {
            Ok(n) => read += count(api, &buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => {
                eprintln!("fsg-undelivered: read: {e}");
                exit(1);
            }
        }
    }
    println!("read={read} failed={failed}");
}

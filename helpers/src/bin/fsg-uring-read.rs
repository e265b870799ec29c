//! `fsg-uring-read --dir DIR --ready FILE`
//!
//! Reads an inotify queue with one io_uring `IORING_OP_READ` that io_uring
//! completes inline, in `io_uring_enter` itself: the inotify fd is opened
//! with `IN_NONBLOCK`, so io_uring issues the read at once from the
//! submitting thread instead of handing it to an io-wq worker, and the
//! events are queued before the read is submitted, so the read never waits.
//! Raw `io_uring_setup`/`io_uring_enter` and the mmapped rings (no liburing).
//!
//! Watches DIR for `IN_CREATE`, creates the --ready file, waits until a file
//! named `go` appears in DIR, then submits the read (64 KiB) and waits for
//! its completion. Prints one line: `PID TID EVENTS THREADS`: its pid, the
//! thread that submitted the read, the events the read returned (the `go`
//! file's included), and how many threads the process has after the read
//! completed (1: no io-wq worker ever ran, so the read was done inline).

use std::ffi::CString;
use std::path::Path;
use std::process::exit;
use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: fsg-uring-read --dir DIR --ready FILE");
    exit(2)
}

fn die(what: &str) -> ! {
    eprintln!("fsg-uring-read: {what}: {}", std::io::Error::last_os_error());
    exit(1)
}

fn main() {
    let (mut dir, mut ready) = (None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--dir" => dir = Some(val()),
            "--ready" => ready = Some(val()),
            _ => usage(),
        }
    }
    let (Some(dir), Some(ready)) = (dir, ready) else { usage() };

    // SAFETY: plain syscalls with valid arguments.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        die("inotify_init1");
    }
    let c_dir = CString::new(dir.clone()).unwrap_or_else(|_| usage());
    // SAFETY: a valid fd and C string.
    if unsafe { libc::inotify_add_watch(fd, c_dir.as_ptr(), libc::IN_CREATE) } < 0 {
        die("inotify_add_watch");
    }

    let ring = fsg_test_helpers::uring::Ring::new().unwrap_or_else(|e| {
        eprintln!("fsg-uring-read: {e}");
        exit(1)
    });
    if std::fs::write(&ready, b"").is_err() {
        die("creating the --ready file");
    }
    while !Path::new(&dir).join("go").exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut buf = vec![0u8; 64 * 1024];
    let n = ring.read(fd, &mut buf, ring.fd, 0).unwrap_or_else(|e| {
        eprintln!("fsg-uring-read: {e}");
        exit(1)
    });

    // Whole `struct inotify_event`s: a 16-byte header and `len` name bytes.
    let bytes = &buf[..n];
    let (mut events, mut off) = (0, 0);
    while off + 16 <= bytes.len() {
        events += 1;
        off += 16 + u32::from_ne_bytes(bytes[off + 12..off + 16].try_into().unwrap()) as usize;
    }
    let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0);
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    println!("{} {tid} {events} {threads}", std::process::id());
}

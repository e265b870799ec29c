//! `fsg-inotify-reader --dir DIR --ready FILE [--buf BYTES] [--pause-ms MS] [--no-read]`
//!
//! An inotify reader with an exact, scriptable pace, for burst and fault
//! tests: watches DIR (every event), creates the --ready file once the watch
//! is in place, then reads with a BYTES-sized buffer (default 64 KiB),
//! sleeping MS between reads (default 0: drain as fast as it can). With
//! --no-read it never reads; the queue is left to the kernel.
//!
//! On SIGTERM or SIGINT it stops reading, closes its inotify fd (events still
//! queued are discarded by the kernel unread) and prints one line; on SIGUSR1
//! it first reads until its queue is empty (at its own pace), then does the same:
//! `events=N overflow=K bytes=B`: the events it read, how many of them were
//! IN_Q_OVERFLOW, and the bytes read.

use std::ffi::CString;
use std::process::exit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);
static DRAIN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_drain(_: libc::c_int) {
    DRAIN.store(true, Ordering::SeqCst);
}

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn usage() -> ! {
    eprintln!("usage: fsg-inotify-reader --dir DIR --ready FILE [--buf BYTES] [--pause-ms MS] [--no-read]");
    exit(2)
}

fn die(what: &str) -> ! {
    eprintln!("fsg-inotify-reader: {what}: {}", std::io::Error::last_os_error());
    exit(1)
}

/// Counts the events in one read's buffer: (events, overflows). The buffer
/// holds whole `struct inotify_event`s, each a 16-byte header and `len` name bytes.
fn count_events(buf: &[u8]) -> (u64, u64) {
    let (mut events, mut overflows, mut off) = (0, 0, 0);
    while off + 16 <= buf.len() {
        let field = |at: usize| u32::from_ne_bytes(buf[off + at..off + at + 4].try_into().unwrap());
        if field(4) & libc::IN_Q_OVERFLOW != 0 {
            overflows += 1;
        }
        events += 1;
        off += 16 + field(12) as usize;
    }
    (events, overflows)
}

fn main() {
    let (mut dir, mut ready, mut buf_len, mut pause_ms, mut read) = (None, None, 64 * 1024, 0u64, true);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--dir" => dir = Some(val()),
            "--ready" => ready = Some(val()),
            "--buf" => buf_len = val().parse().unwrap_or_else(|_| usage()),
            "--pause-ms" => pause_ms = val().parse().unwrap_or_else(|_| usage()),
            "--no-read" => read = false,
            _ => usage(),
        }
    }
    let (Some(dir), Some(ready)) = (dir, ready) else { usage() };
    if buf_len < 16 + 256 {
        eprintln!("fsg-inotify-reader: --buf must hold one event with a full name (272 bytes)");
        exit(2);
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic; no SA_RESTART, so a
        // blocked poll returns EINTR.
        unsafe { libc::signal(sig, on_term as *const () as libc::sighandler_t) };
    }
    // SAFETY: as above.
    unsafe { libc::signal(libc::SIGUSR1, on_drain as *const () as libc::sighandler_t) };

    // SAFETY: plain syscalls with valid arguments.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if fd < 0 {
        die("inotify_init1");
    }
    let c_dir = CString::new(dir).unwrap_or_else(|_| usage());
    if unsafe { libc::inotify_add_watch(fd, c_dir.as_ptr(), libc::IN_ALL_EVENTS) } < 0 {
        die("inotify_add_watch");
    }
    if std::fs::write(&ready, b"").is_err() {
        die("creating the --ready file");
    }

    let mut buf = vec![0u8; buf_len];
    let (mut events, mut overflows, mut bytes) = (0u64, 0u64, 0u64);
    while !STOP.load(Ordering::SeqCst) {
        let draining = DRAIN.load(Ordering::SeqCst);
        if !read {
            if draining {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut pfd, 1, 100) } {
            // 100 ms with nothing to read: the queue is empty.
            0 if draining => break,
            n if n <= 0 => continue,
            _ => {}
        }
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                _ => die("read"),
            }
        }
        let (e, o) = count_events(&buf[..n as usize]);
        events += e;
        overflows += o;
        bytes += n as u64;
        if pause_ms > 0 {
            std::thread::sleep(Duration::from_millis(pause_ms));
        }
    }
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    println!("events={events} overflow={overflows} bytes={bytes}");
}

//! `fsg-fanotify-perm --dir DIR --deny NAME [--count N] [--ready FILE] [--delay-ms MS]`
//!
//! A fanotify permission client with an exact, scriptable behavior: marks DIR
//! with FAN_OPEN_PERM|FAN_EVENT_ON_CHILD in a FAN_CLASS_CONTENT group, creates
//! the --ready file once the mark is in place, then answers every event:
//! FAN_DENY when the file's name is NAME, else FAN_ALLOW, printing one line
//! `PID PATH allow|deny` per event. Exits after N events (--count) or on SIGTERM.
//! --delay-ms waits that long before each answer: a known permission latency.

use std::ffi::CString;
use std::io::Write;
use std::process::exit;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn usage() -> ! {
    eprintln!("usage: fsg-fanotify-perm --dir DIR --deny NAME [--count N] [--ready FILE] [--delay-ms MS]");
    exit(2)
}

fn die(what: &str) -> ! {
    eprintln!("fsg-fanotify-perm: {what}: {}", std::io::Error::last_os_error());
    exit(1)
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Metadata {
    event_len: u32,
    vers: u8,
    reserved: u8,
    metadata_len: u16,
    mask: u64,
    fd: i32,
    pid: i32,
}

#[repr(C)]
struct Response {
    fd: i32,
    response: u32,
}

fn main() {
    let mut dir = None;
    let mut deny = None;
    let mut count: Option<u64> = None;
    let mut ready = None;
    let mut delay_ms = 0u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--dir" => dir = Some(val()),
            "--deny" => deny = Some(val()),
            "--count" => count = Some(val().parse().unwrap_or_else(|_| usage())),
            "--ready" => ready = Some(val()),
            "--delay-ms" => delay_ms = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let (Some(dir), Some(deny)) = (dir, deny) else { usage() };

    // SAFETY: plain syscalls with valid arguments; the handler only stores an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_term as *const () as usize;
        // No SA_RESTART: a SIGTERM interrupts the blocking read.
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
    // SAFETY: fanotify_init has no pointer arguments.
    let fan = unsafe { libc::fanotify_init(libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC, libc::O_RDONLY as u32) };
    if fan < 0 {
        die("fanotify_init");
    }
    let cdir = CString::new(dir.clone()).unwrap_or_else(|_| usage());
    // SAFETY: cdir is a valid C string.
    let r = unsafe {
        libc::fanotify_mark(fan, libc::FAN_MARK_ADD, libc::FAN_OPEN_PERM | libc::FAN_EVENT_ON_CHILD, libc::AT_FDCWD, cdir.as_ptr())
    };
    if r < 0 {
        die("fanotify_mark");
    }
    if let Some(ready) = &ready {
        if let Err(e) = std::fs::write(ready, b"") {
            eprintln!("fsg-fanotify-perm: creating {ready}: {e}");
            exit(1);
        }
    }

    let mut handled = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let stdout = std::io::stdout();
    while !STOP.load(Ordering::SeqCst) && count.is_none_or(|c| handled < c) {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::read(fan, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            die("read");
        }
        let n = n as usize;
        let mut off = 0;
        while off + std::mem::size_of::<Metadata>() <= n {
            // SAFETY: the bytes are within buf; read_unaligned copes with alignment.
            let md: Metadata = unsafe { std::ptr::read_unaligned(buf[off..].as_ptr().cast()) };
            if md.event_len < std::mem::size_of::<Metadata>() as u32 {
                break;
            }
            off += md.event_len as usize;
            if md.fd < 0 {
                continue;
            }
            let path = std::fs::read_link(format!("/proc/self/fd/{}", md.fd))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "?".to_string());
            let name = path.rsplit('/').next().unwrap_or("");
            let denied = name == deny;
            if delay_ms > 0 {
                std::thread::sleep(std::time::Duration::from_millis(delay_ms));
            }
            let resp = Response { fd: md.fd, response: if denied { libc::FAN_DENY } else { libc::FAN_ALLOW } };
            // SAFETY: resp is a valid fanotify_response.
            let w = unsafe { libc::write(fan, (&resp as *const Response).cast(), std::mem::size_of::<Response>()) };
            if w < 0 {
                die("write");
            }
            let mut out = stdout.lock();
            let _ = writeln!(out, "{} {} {}", md.pid, path, if denied { "deny" } else { "allow" });
            let _ = out.flush();
            // SAFETY: the event fd is ours to close.
            unsafe { libc::close(md.fd) };
            handled += 1;
        }
    }
}

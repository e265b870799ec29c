//! fsg-fanotify-perm --dir DIR --deny NAME [--count N] [--ready FILE]
//!
//! A fanotify permission client with exact, known answers: it watches the
//! files in DIR for FAN_OPEN_PERM, denies opening the file named NAME and
//! allows everything else. It prints `PID PATH allow|deny` per event, creates
//! FILE once its mark is in place, and exits after N events or on SIGTERM.

use std::ffi::CString;
use std::io::Write;
use std::process::exit;

fn usage() -> ! {
    eprintln!("usage: fsg-fanotify-perm --dir DIR --deny NAME [--count N] [--ready FILE]");
    exit(2);
}

fn fail(what: &str) -> ! {
    eprintln!("fsg-fanotify-perm: {what}: {}", std::io::Error::last_os_error());
    exit(1);
}

fn main() {
    let mut dir = None;
    let mut deny = None;
    let mut count: Option<u64> = None;
    let mut ready = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--dir" => dir = Some(value()),
            "--deny" => deny = Some(value()),
            "--count" => count = Some(value().parse().unwrap_or_else(|_| usage())),
            "--ready" => ready = Some(value()),
            _ => usage(),
        }
    }
    let (Some(dir), Some(deny)) = (dir, deny) else { usage() };

    // SAFETY: plain syscalls with valid arguments; buffers outlive the calls.
    unsafe {
        let fd = libc::fanotify_init(libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC, libc::O_RDONLY as u32);
        if fd < 0 {
            fail("fanotify_init");
        }
        let cdir = CString::new(dir.clone()).unwrap();
        let mask = libc::FAN_OPEN_PERM | libc::FAN_EVENT_ON_CHILD;
        if libc::fanotify_mark(fd, libc::FAN_MARK_ADD, mask, libc::AT_FDCWD, cdir.as_ptr()) < 0 {
            fail("fanotify_mark");
        }
        if let Some(r) = &ready {
            std::fs::write(r, b"").unwrap_or_else(|e| {
                eprintln!("fsg-fanotify-perm: cannot create {r}: {e}");
                exit(1)
            });
        }
        let mut seen = 0u64;
        let mut buf = vec![0u8; 8192];
        let meta_len = std::mem::size_of::<libc::fanotify_event_metadata>();
        let stdout = std::io::stdout();
        loop {
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                fail("read");
            }
            let mut off = 0usize;
            while off + meta_len <= n as usize {
                let m: libc::fanotify_event_metadata = std::ptr::read_unaligned(buf.as_ptr().add(off).cast());
                if (m.event_len as usize) < meta_len {
                    break;
                }
                off += m.event_len as usize;
                if m.fd < 0 {
                    continue;
                }
                let path = std::fs::read_link(format!("/proc/self/fd/{}", m.fd)).unwrap_or_default();
                let denied = path.file_name().is_some_and(|f| f.to_string_lossy() == deny);
                let answer = if denied { libc::FAN_DENY } else { libc::FAN_ALLOW };
                if m.mask & (libc::FAN_OPEN_PERM | libc::FAN_ACCESS_PERM | libc::FAN_OPEN_EXEC_PERM) != 0 {
                    let resp = libc::fanotify_response { fd: m.fd, response: answer };
                    let size = std::mem::size_of::<libc::fanotify_response>();
                    if libc::write(fd, (&resp as *const libc::fanotify_response).cast(), size) != size as isize {
                        fail("write response");
                    }
                }
                libc::close(m.fd);
                let _ = writeln!(stdout.lock(), "{} {} {}", m.pid, path.display(), if denied { "deny" } else { "allow" });
                seen += 1;
                if count.is_some_and(|c| seen >= c) {
                    exit(0);
                }
            }
        }
    }
}

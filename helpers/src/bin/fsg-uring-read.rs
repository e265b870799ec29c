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
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: fsg-uring-read --dir DIR --ready FILE");
    exit(2)
}

fn die(what: &str) -> ! {
    eprintln!("fsg-uring-read: {what}: {}", std::io::Error::last_os_error());
    exit(1)
}

/// `struct io_sqring_offsets` (linux/io_uring.h).
#[repr(C)]
#[derive(Default)]
struct SqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    flags: u32,
    dropped: u32,
    array: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_cqring_offsets`.
#[repr(C)]
#[derive(Default)]
struct CqOffsets {
    head: u32,
    tail: u32,
    ring_mask: u32,
    ring_entries: u32,
    overflow: u32,
    cqes: u32,
    flags: u32,
    resv1: u32,
    user_addr: u64,
}

/// `struct io_uring_params`.
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
    sq_off: SqOffsets,
    cq_off: CqOffsets,
}

/// `struct io_uring_sqe`, the fields a read uses.
#[repr(C)]
#[derive(Default)]
struct Sqe {
    opcode: u8,
    flags: u8,
    ioprio: u16,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    rw_flags: u32,
    user_data: u64,
    rest: [u64; 3],
}

/// `struct io_uring_cqe`.
#[repr(C)]
struct Cqe {
    user_data: u64,
    res: i32,
    flags: u32,
}

const IORING_OP_READ: u8 = 22;
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const USER_DATA: u64 = 7;

/// Maps `len` bytes of the ring's region at `offset`.
fn map(ring: i32, len: usize, offset: i64) -> *mut u8 {
    // SAFETY: a shared mapping of the io_uring fd, as io_uring_setup(2) describes.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_POPULATE, ring, offset) };
    if p == libc::MAP_FAILED {
        die("mmap");
    }
    p.cast()
}

/// The ring's u32 at byte `off` of `base`, as an atomic.
fn word(base: *mut u8, off: u32) -> &'static AtomicU32 {
    // SAFETY: the offsets come from the kernel and lie in the mapping, which
    // lives until exit; the kernel reads and writes these words concurrently.
    unsafe { &*(base.add(off as usize) as *const AtomicU32) }
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

    let mut params = Params::default();
    // SAFETY: io_uring_setup fills `params`, which outlives the call.
    let ring = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, &mut params as *mut Params) } as i32;
    if ring < 0 {
        die("io_uring_setup");
    }
    let sq = map(ring, params.sq_off.array as usize + params.sq_entries as usize * 4, IORING_OFF_SQ_RING);
    let cq = map(ring, params.cq_off.cqes as usize + params.cq_entries as usize * std::mem::size_of::<Cqe>(), IORING_OFF_CQ_RING);
    let sqes = map(ring, params.sq_entries as usize * std::mem::size_of::<Sqe>(), IORING_OFF_SQES).cast::<Sqe>();

    if std::fs::write(&ready, b"").is_err() {
        die("creating the --ready file");
    }
    while !Path::new(&dir).join("go").exists() {
        std::thread::sleep(Duration::from_millis(20));
    }

    let mut buf = vec![0u8; 64 * 1024];
    let tail = word(sq, params.sq_off.tail).load(Ordering::Acquire);
    let index = tail & word(sq, params.sq_off.ring_mask).load(Ordering::Relaxed);
    let sqe = Sqe {
        opcode: IORING_OP_READ,
        fd,
        addr: buf.as_mut_ptr() as u64,
        len: buf.len() as u32,
        user_data: USER_DATA,
        ..Default::default()
    };
    // SAFETY: `index` is below sq_entries; the slot is ours until submitted.
    unsafe { sqes.add(index as usize).write(sqe) };
    word(sq, params.sq_off.array + 4 * index).store(index, Ordering::Relaxed);
    word(sq, params.sq_off.tail).store(tail.wrapping_add(1), Ordering::Release);
    // SAFETY: the ring fd; no signal mask.
    let n = unsafe { libc::syscall(libc::SYS_io_uring_enter, ring, 1u32, 1u32, IORING_ENTER_GETEVENTS, std::ptr::null::<u8>(), 0usize) };
    if n != 1 {
        die("io_uring_enter");
    }
    let head = word(cq, params.cq_off.head).load(Ordering::Acquire);
    if word(cq, params.cq_off.tail).load(Ordering::Acquire) == head {
        eprintln!("fsg-uring-read: io_uring_enter returned without a completion");
        exit(1);
    }
    let slot = head & word(cq, params.cq_off.ring_mask).load(Ordering::Relaxed);
    // SAFETY: a completion the kernel wrote, below cq_entries.
    let cqe = unsafe { cq.add(params.cq_off.cqes as usize).cast::<Cqe>().add(slot as usize).read() };
    word(cq, params.cq_off.head).store(head.wrapping_add(1), Ordering::Release);
    if cqe.user_data != USER_DATA || cqe.res <= 0 {
        eprintln!("fsg-uring-read: the read completed with {} (user_data {})", cqe.res, cqe.user_data);
        exit(1);
    }

    // Whole `struct inotify_event`s: a 16-byte header and `len` name bytes.
    let bytes = &buf[..cqe.res as usize];
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

//! One io_uring read at a time, through raw `io_uring_setup`/`io_uring_enter` and the
//! mmapped rings (no liburing): what the helpers that read a notify fd through io_uring
//! share.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

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
/// `io_uring_enter` flag: wait for the completions asked for.
pub const IORING_ENTER_GETEVENTS: u32 = 1;
/// `io_uring_enter` flag: its fd argument is an index of the ring's registered fds.
pub const IORING_ENTER_REGISTERED_RING: u32 = 16;
const IORING_REGISTER_RING_FDS: u32 = 20;
const IORING_OFF_SQ_RING: i64 = 0;
const IORING_OFF_CQ_RING: i64 = 0x800_0000;
const IORING_OFF_SQES: i64 = 0x1000_0000;
const USER_DATA: u64 = 7;

/// An io_uring with its rings mapped.
pub struct Ring {
    /// The ring's own fd.
    pub fd: i32,
    params: Params,
    sq: *mut u8,
    cq: *mut u8,
    sqes: *mut Sqe,
}

fn os_err(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Maps `len` bytes of the ring's region at `offset`.
fn map(ring: i32, len: usize, offset: i64) -> io::Result<*mut u8> {
    // SAFETY: a shared mapping of the io_uring fd, as io_uring_setup(2) describes.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_POPULATE, ring, offset) };
    if p == libc::MAP_FAILED {
        return Err(os_err("mmap"));
    }
    Ok(p.cast())
}

/// The ring's u32 at byte `off` of `base`, as an atomic.
fn word(base: *mut u8, off: u32) -> &'static AtomicU32 {
    // SAFETY: the offsets come from the kernel and lie in the mapping, which lives until
    // exit (never unmapped); the kernel reads and writes these words concurrently.
    unsafe { &*(base.add(off as usize) as *const AtomicU32) }
}

impl Ring {
    /// A ring of 4 entries.
    pub fn new() -> io::Result<Ring> {
        let mut params = Params::default();
        // SAFETY: io_uring_setup fills `params`, which outlives the call.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, &mut params as *mut Params) } as i32;
        if fd < 0 {
            return Err(os_err("io_uring_setup"));
        }
        let sq = map(fd, params.sq_off.array as usize + params.sq_entries as usize * 4, IORING_OFF_SQ_RING)?;
        let cq = map(fd, params.cq_off.cqes as usize + params.cq_entries as usize * std::mem::size_of::<Cqe>(), IORING_OFF_CQ_RING)?;
        let sqes = map(fd, params.sq_entries as usize * std::mem::size_of::<Sqe>(), IORING_OFF_SQES)?.cast::<Sqe>();
        Ok(Ring { fd, params, sq, cq, sqes })
    }

    /// Registers the ring's own fd at registered-ring index `index` (IORING_REGISTER_RING_FDS).
    pub fn register_at(&self, index: u32) -> io::Result<()> {
        // io_uring_rsrc_update { offset, resv, data }.
        let mut update: [u64; 2] = [u64::from(index), self.fd as u64];
        // SAFETY: the call reads one io_uring_rsrc_update of ours.
        if unsafe { libc::syscall(libc::SYS_io_uring_register, self.fd, IORING_REGISTER_RING_FDS, update.as_mut_ptr(), 1u32) } != 1 {
            return Err(os_err("io_uring_register(RING_FDS)"));
        }
        Ok(())
    }

    /// Reads `fd` into `buf` with one IORING_OP_READ, submitted by
    /// `io_uring_enter(enter_fd, 1, 1, IORING_ENTER_GETEVENTS | enter_flags)`; the bytes read.
    pub fn read(&self, fd: i32, buf: &mut [u8], enter_fd: i32, enter_flags: u32) -> io::Result<usize> {
        let p = &self.params;
        let tail = word(self.sq, p.sq_off.tail).load(Ordering::Acquire);
        let index = tail & word(self.sq, p.sq_off.ring_mask).load(Ordering::Relaxed);
        let sqe = Sqe { opcode: IORING_OP_READ, fd, addr: buf.as_mut_ptr() as u64, len: buf.len() as u32, user_data: USER_DATA, ..Default::default() };
        // SAFETY: `index` is below sq_entries; the slot is ours until submitted.
        unsafe { self.sqes.add(index as usize).write(sqe) };
        word(self.sq, p.sq_off.array + 4 * index).store(index, Ordering::Relaxed);
        word(self.sq, p.sq_off.tail).store(tail.wrapping_add(1), Ordering::Release);
        let flags = IORING_ENTER_GETEVENTS | enter_flags;
        // SAFETY: the ring (or its registered index); no signal mask.
        let n = unsafe { libc::syscall(libc::SYS_io_uring_enter, enter_fd, 1u32, 1u32, flags, std::ptr::null::<u8>(), 0usize) };
        if n != 1 {
            return Err(os_err("io_uring_enter"));
        }
        let head = word(self.cq, p.cq_off.head).load(Ordering::Acquire);
        if word(self.cq, p.cq_off.tail).load(Ordering::Acquire) == head {
            return Err(io::Error::other("io_uring_enter returned without a completion"));
        }
        let slot = head & word(self.cq, p.cq_off.ring_mask).load(Ordering::Relaxed);
        // SAFETY: a completion the kernel wrote, below cq_entries.
        let cqe = unsafe { self.cq.add(p.cq_off.cqes as usize).cast::<Cqe>().add(slot as usize).read() };
        word(self.cq, p.cq_off.head).store(head.wrapping_add(1), Ordering::Release);
        if cqe.user_data != USER_DATA || cqe.res <= 0 {
            return Err(io::Error::other(format!("the read completed with {} (user_data {})", cqe.res, cqe.user_data)));
        }
        Ok(cqe.res as usize)
    }
}

//! The tracepoint-only backend, for kernels that allow neither kprobes nor
//! BPF trampolines (no CONFIG_KPROBES, lockdown): see bpf/tracepoint.bpf.c for
//! the hooks and join.rs for how the partial records become [`Record`]s.
//!
//! What user space adds: the allocator call-site ranges (/proc/kallsyms); the
//! notify fds that existed before the start (/proc/*/fd links, then the
//! task_file iterator for their group address); the fanotify group's init
//! flags (/proc/PID/fdinfo/FD); and a fanotify event's path, resolved from the
//! event fd the tracer received (/proc/TRACER/fd/FD, while the tracer still
//! holds it) or, for groups that report names, the name in the info record.

pub mod join;
pub mod userbuf;

#[allow(clippy::all, non_camel_case_types, dead_code)]
pub(crate) mod skel {
    include!(concat!(env!("OUT_DIR"), "/tracepoint.skel.rs"));
}

use std::io::Read;
use std::mem::{size_of, MaybeUninit};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Iter, Link, MapCore, MapFlags, OpenObject};

use super::{map_use, proc_of, Clock, DecodedRing, Filters, Lost, TableUse, Tracer};
use crate::kallsyms::{Kallsyms, Range};
use crate::model::Record;
use join::{FdInfo, JoinFilters, Joiner, Raw, ReadChunk, KIND_FANOTIFY, KIND_INOTIFY};
use skel::types::{fsgt_event, fsgt_fd_key, fsgt_fd_val, fsgt_flags, fsgt_iter_rec, fsgt_rec, fsgt_stat};
use skel::{TracepointSkel, TracepointSkelBuilder};

/// Fields this backend cannot fill.
pub const UNFILLED_FIELDS: &[&str] = &["prio", "i_ino", "i_ino_dir", "fa_type"];

/// Where inotify/fanotify allocate their events (the tracee side).
const ALLOC_FUNCS: &[(&str, u32)] = &[
    ("inotify_handle_inode_event", KIND_INOTIFY),
    ("inotify_handle_event", KIND_INOTIFY), // before Linux 5.11
    ("fanotify_handle_event", KIND_FANOTIFY),
    ("fanotify_alloc_event", KIND_FANOTIFY),
    ("fanotify_alloc_path_event", KIND_FANOTIFY),
    ("fanotify_alloc_perm_event", KIND_FANOTIFY),
    ("fanotify_alloc_fid_event", KIND_FANOTIFY),
    ("fanotify_alloc_name_event", KIND_FANOTIFY),
];

/// Where events may be freed, depending on the build's inlining: while the
/// tracer reads them, when merged in the tracee, when a permission event
/// ends, when a group is flushed.
const FREE_FUNCS: &[&str] = &[
    "inotify_read",
    "inotify_free_event",
    "fsnotify_destroy_event",
    "inotify_handle_inode_event",
    "inotify_handle_event",
    "inotify_release",
    "fanotify_read",
    "fanotify_free_event",
    "fanotify_handle_event",
    "fanotify_release",
    "fsnotify_flush_notify",
    "fsnotify_destroy_group",
];

const MAX_ALLOC_RANGES: usize = 8;
const MAX_FREE_RANGES: usize = 16;

/// One decoded ring-buffer record: join input, or news about notify fds and
/// processes for the fd tables. Handled in poll().
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Raw(Raw),
    NewFd { pid: u32, fd: i32, kind: u32 },
    Fork { parent: u32, child: u32 },
    Exec { pid: u32 },
    Exit { pid: u32 },
}

pub struct TracepointTracer {
    skel: TracepointSkel<'static>,
    _links: Vec<Link>,
    iter_link: Link,
    ring: DecodedRing<Msg>,
    joiner: Joiner,
    mounts: Mounts,
}

/// Mount points by filesystem id, to open FID-reporting groups' file handles.
#[derive(Default)]
struct Mounts {
    by_fsid: std::collections::HashMap<u64, std::fs::File>,
    scanned_at: Option<std::time::Instant>,
}

impl Mounts {
    fn fsid_of(path: &std::ffi::CStr) -> Option<u64> {
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: path is a C string, st a valid statfs buffer.
        if unsafe { libc::statfs(path.as_ptr(), &mut st) } != 0 {
            return None;
        }
        // SAFETY: fsid_t is two ints; the kernel reports the same 8 bytes in FID records.
        Some(unsafe { std::mem::transmute::<libc::fsid_t, u64>(st.f_fsid) })
    }

    /// A directory on the filesystem `fsid`; mountinfo is rescanned at most once a second.
    fn get(&mut self, fsid: u64) -> Option<&std::fs::File> {
        let stale = self.scanned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(1));
        if !self.by_fsid.contains_key(&fsid) && stale {
            self.scanned_at = Some(std::time::Instant::now());
            let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            for line in text.lines() {
                let Some(mp) = line.split(' ').nth(4) else { continue };
                let mp = mp.replace("\\040", " ");
                let Ok(c) = std::ffi::CString::new(mp.clone()) else { continue };
                if let Some(id) = Self::fsid_of(&c) {
                    if let std::collections::hash_map::Entry::Vacant(e) = self.by_fsid.entry(id) {
                        if let Ok(f) = std::fs::File::open(&mp) {
                            e.insert(f);
                        }
                    }
                }
            }
        }
        self.by_fsid.get(&fsid)
    }

    /// The path of a file handle, through open_by_handle_at (needs CAP_DAC_READ_SEARCH).
    fn path_of(&mut self, fsid: u64, handle_type: i32, handle: &[u8]) -> Option<Vec<u8>> {
        use std::os::fd::AsRawFd;
        let mount = self.get(fsid)?.as_raw_fd();
        let mut fh = Vec::with_capacity(8 + handle.len());
        fh.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
        fh.extend_from_slice(&handle_type.to_ne_bytes());
        fh.extend_from_slice(handle);
        // SAFETY: fh is a struct file_handle of the declared size.
        let fd = unsafe { libc::syscall(libc::SYS_open_by_handle_at, mount, fh.as_mut_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok();
        // SAFETY: fd is ours.
        unsafe { libc::close(fd as i32) };
        let bytes = link?.into_os_string().into_encoded_bytes();
        bytes.starts_with(b"/").then_some(bytes)
    }
}

fn hull(ranges: &[(Range, u32)]) -> (u64, u64) {
    let lo = ranges.iter().map(|r| r.0.start).min().unwrap_or(0);
    let hi = ranges.iter().map(|r| r.0.end).max().unwrap_or(0);
    (lo, hi)
}

/// For the benchmark: the backend's allocation and syscall programs
/// attached with nothing to do (they return at once), to measure what
/// being attached to those tracepoints costs by itself. Detached on drop.
pub struct HooksOnly {
    _skel: TracepointSkel<'static>,
    _links: Vec<Link>,
}

pub fn attach_hooks_only() -> Result<HooksOnly> {
    let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
    let mut open = TracepointSkelBuilder::default().open(storage).context("opening the BPF object")?;
    open.maps.rodata_data.as_deref_mut().ok_or_else(|| anyhow!("BPF object has no .rodata"))?.hooks_only = true;
    let skel = open.load().map_err(|e| anyhow!("loading the tracepoint programs: {e}{}", super::libbpf_tail()))?;
    let p = &skel.progs;
    let mut links = Vec::new();
    for prog in [&p.tp_sys_exit, &p.tp_sys_enter, &p.tp_kfree, &p.tp_kmem_cache_free, &p.tp_kmalloc, &p.tp_kmem_cache_alloc] {
        links.push(prog.attach().map_err(|e| anyhow!("attaching {}: {e}", prog.name().to_string_lossy()))?);
    }
    Ok(HooksOnly { _skel: skel, _links: links })
}

impl TracepointTracer {
    pub fn open(filters: &Filters) -> Result<TracepointTracer> {
        let wanted: Vec<&str> = ALLOC_FUNCS.iter().map(|(name, _)| *name).chain(FREE_FUNCS.iter().copied()).collect();
        let kallsyms = Kallsyms::read(&wanted).context("reading /proc/kallsyms")?;
        if kallsyms.addresses_hidden() {
            bail!("/proc/kallsyms hides addresses (needs root and kptr_restrict < 2)");
        }
        let mut allocs: Vec<(Range, u32)> = Vec::new();
        for (name, kind) in ALLOC_FUNCS {
            allocs.extend(kallsyms.ranges(name).into_iter().map(|r| (r, *kind)));
        }
        let mut frees: Vec<(Range, u32)> = Vec::new();
        for name in FREE_FUNCS {
            frees.extend(kallsyms.ranges(name).into_iter().map(|r| (r, 0)));
        }
        if !allocs.iter().any(|r| r.1 == KIND_INOTIFY) || !allocs.iter().any(|r| r.1 == KIND_FANOTIFY) {
            bail!("/proc/kallsyms lacks inotify_handle_inode_event or fanotify_handle_event");
        }
        if allocs.len() > MAX_ALLOC_RANGES || frees.len() > MAX_FREE_RANGES {
            bail!("too many call-site ranges ({} alloc, {} free)", allocs.len(), frees.len());
        }

        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = TracepointSkelBuilder::default().open(storage).context("opening the BPF object")?;
        let rodata = open.maps.rodata_data.as_deref_mut().ok_or_else(|| anyhow!("BPF object has no .rodata"))?;
        rodata.want_kinds = filters.kinds();
        rodata.tracee_pid = filters.tracee_pid.unwrap_or(0);
        rodata.tracer_pid = filters.tracer_pid.unwrap_or(0);
        rodata.tracer_group = filters.tracer_group.unwrap_or(0);
        for (i, (r, kind)) in allocs.iter().enumerate() {
            rodata.alloc_start[i] = r.start;
            rodata.alloc_end[i] = r.end;
            rodata.alloc_kind[i] = *kind;
        }
        (rodata.alloc_lo, rodata.alloc_hi) = hull(&allocs);
        for (i, (r, _)) in frees.iter().enumerate() {
            rodata.free_start[i] = r.start;
            rodata.free_end[i] = r.end;
        }
        (rodata.free_lo, rodata.free_hi) = hull(&frees);
        let skel = open.load().map_err(|e| anyhow!("loading the tracepoint programs: {e}{}", super::libbpf_tail()))?;

        // The iterator is run on demand; everything else is attached now,
        // frees and reads before allocs so no alloc misses its end.
        let iter_link = skel.progs.iter_notify_fds.attach().map_err(|e| anyhow!("attaching the task_file iterator: {e}{}", super::libbpf_tail()))?;
        let mut links = Vec::new();
        {
            let p = &skel.progs;
            for prog in [&p.tp_sys_exit, &p.tp_sys_enter, &p.tp_exit, &p.tp_exec, &p.tp_fork, &p.tp_kfree, &p.tp_kmem_cache_free, &p.tp_kmalloc, &p.tp_kmem_cache_alloc] {
                links.push(prog.attach().map_err(|e| anyhow!("attaching {}: {e}{}", prog.name().to_string_lossy(), super::libbpf_tail()))?);
            }
        }

        let clock = Clock::now();
        let ring = DecodedRing::new(&skel.maps.events, move |raw: &[u8]| decode(raw, clock))?;
        let joiner = Joiner::new(JoinFilters { tracee_pid: filters.tracee_pid, tracer_pid: filters.tracer_pid, tracer_group: filters.tracer_group });
        let mut t = TracepointTracer {
            skel,
            _links: links,
            iter_link,
            ring,
            joiner,
            mounts: Mounts::default(),
        };
        t.scan_proc(None);
        t.run_iter();
        Ok(t)
    }

    /// Adds the notify fds found in /proc (of every process, or of one).
    fn scan_proc(&mut self, only: Option<u32>) {
        let pids: Vec<u32> = match only {
            Some(p) => vec![p],
            None => std::fs::read_dir("/proc")
                .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
                .unwrap_or_default(),
        };
        let me = std::process::id();
        for pid in pids {
            if pid == me {
                continue;
            }
            let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
            for entry in dir.flatten() {
                let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
                let Ok(link) = std::fs::read_link(entry.path()) else { continue };
                if let Some(kind) = link_kind(link.as_os_str().as_encoded_bytes()) {
                    self.add_fd(pid, fd, kind, None);
                }
            }
        }
    }

    fn add_fd(&mut self, pid: u32, fd: i32, kind: u32, group: Option<u64>) {
        let mut info = FdInfo { kind, group, ..Default::default() };
        if kind == KIND_FANOTIFY {
            if let Some((flags, f_flags)) = fanotify_fdinfo(pid, fd) {
                info.fa_flags = Some(flags);
                info.fa_f_flags = Some(f_flags);
            }
        }
        self.joiner.fds.insert((pid, fd), info);
        let key = fsgt_fd_key { tgid: pid, fd };
        let val = fsgt_fd_val { group: group.unwrap_or(0), kind, ..Default::default() };
        // SAFETY: both are plain repr(C) structs the BPF map was declared with.
        let (k, v) = unsafe { (as_bytes(&key), as_bytes(&val)) };
        let _ = self.skel.maps.fds.update(k, v, MapFlags::NO_EXIST);
        let old = self.skel.maps.holders.lookup(&pid.to_ne_bytes(), MapFlags::ANY).ok().flatten();
        let kinds = old.and_then(|v| v.get(..4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))).unwrap_or(0) | kind;
        let _ = self.skel.maps.holders.update(&pid.to_ne_bytes(), &kinds.to_ne_bytes(), MapFlags::ANY);
    }

    fn forget_pid(&mut self, pid: u32, keep: impl Fn(i32) -> bool) {
        let gone: Vec<(u32, i32)> = self.joiner.fds.keys().filter(|(p, fd)| *p == pid && !keep(*fd)).copied().collect();
        for (p, fd) in gone {
            self.joiner.fds.remove(&(p, fd));
            let key = fsgt_fd_key { tgid: p, fd };
            // SAFETY: see add_fd.
            let _ = self.skel.maps.fds.delete(unsafe { as_bytes(&key) });
        }
    }

    /// Runs the task_file iterator: it fills the group of every tracked fd.
    fn run_iter(&mut self) {
        let Ok(mut it) = Iter::new(&self.iter_link) else { return };
        let mut bytes = Vec::new();
        if it.read_to_end(&mut bytes).is_err() {
            return;
        }
        for rec in bytes.chunks_exact(size_of::<fsgt_iter_rec>()) {
            let mut r = fsgt_iter_rec::default();
            // SAFETY: plain old data, the chunk has exactly its size.
            unsafe { std::ptr::copy_nonoverlapping(rec.as_ptr(), (&mut r as *mut fsgt_iter_rec).cast::<u8>(), rec.len()) };
            if let Some(info) = self.joiner.fds.get_mut(&(r.tgid, r.fd)) {
                info.group = Some(r.group);
            }
        }
    }

    fn handle(&mut self, msg: Msg, out: &mut Vec<Record>) {
        match msg {
            Msg::Raw(raw) => {
                let mounts = &mut self.mounts;
                let mut resolve = |pid: u32, ev: &userbuf::FanotifyEvent| resolve_path(pid, ev, mounts);
                self.joiner.push(raw, &mut resolve, out);
            }
            Msg::NewFd { pid, fd, kind } => {
                self.add_fd(pid, fd, kind, None);
                self.run_iter();
            }
            Msg::Fork { parent, child } => {
                let inherited: Vec<(i32, FdInfo)> =
                    self.joiner.fds.iter().filter(|((p, _), _)| *p == parent).map(|((_, fd), i)| (*fd, *i)).collect();
                for (fd, info) in inherited {
                    self.add_fd(child, fd, info.kind, info.group);
                }
            }
            Msg::Exec { pid } => {
                // Close-on-exec fds are gone: keep what /proc still shows.
                self.forget_pid(pid, |fd| {
                    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                        .is_ok_and(|l| link_kind(l.as_os_str().as_encoded_bytes()).is_some())
                });
            }
            Msg::Exit { pid } => self.forget_pid(pid, |_| false),
        }
    }
}

const FSGT_LINK_PATH: usize = 64;

fn boot_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The kind of notify fd a /proc/PID/fd link names.
fn link_kind(link: &[u8]) -> Option<u32> {
    match link {
        b"anon_inode:inotify" => Some(KIND_INOTIFY),
        b"anon_inode:[fanotify]" => Some(KIND_FANOTIFY),
        _ => None,
    }
}

/// `fanotify flags:%x event-flags:%x` from /proc/PID/fdinfo/FD.
fn fanotify_fdinfo(pid: u32, fd: i32) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    parse_fanotify_fdinfo(&text)
}

pub fn parse_fanotify_fdinfo(text: &str) -> Option<(u32, u32)> {
    let line = text.lines().find(|l| l.starts_with("fanotify flags:"))?;
    let mut flags = None;
    let mut event_flags = None;
    for word in line.split_ascii_whitespace() {
        if let Some(v) = word.strip_prefix("flags:") {
            flags = u32::from_str_radix(v, 16).ok();
        } else if let Some(v) = word.strip_prefix("event-flags:") {
            event_flags = u32::from_str_radix(v, 16).ok();
        }
    }
    Some((flags?, event_flags?))
}

/// A fanotify event's path: for FID-reporting groups, the file handle opened
/// with open_by_handle_at (plus the info record's name); else the event fd
/// as the tracer holds it, if it still does (if not, join.rs waits for the
/// tracer's own readlink of /proc/self/fd/N).
fn resolve_path(tracer_pid: u32, ev: &userbuf::FanotifyEvent, mounts: &mut Mounts) -> Option<Vec<u8>> {
    if let Some((fsid, htype, handle)) = &ev.fid {
        if let Some(mut p) = mounts.path_of(*fsid, *htype, handle) {
            if let Some(name) = &ev.info_name {
                if name.as_slice() != b"." {
                    p.push(b'/');
                    p.extend_from_slice(name);
                }
            }
            return Some(p);
        }
    }
    if ev.fd < 0 {
        return None;
    }
    let link = std::fs::read_link(format!("/proc/{tracer_pid}/fd/{}", ev.fd)).ok()?;
    let bytes = link.as_os_str().as_encoded_bytes();
    if !bytes.starts_with(b"/") {
        return None;
    }
    Some(bytes.to_vec())
}

/// # Safety
/// `T` must be plain old data without padding holes that matter.
unsafe fn as_bytes<T>(v: &T) -> &[u8] {
    std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>())
}

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    Short(usize),
    BadRecord(u32),
}

/// Bytes of a record's fixed header; a record's payload follows it.
pub const HEADER_LEN: usize = size_of::<fsgt_event>();

/// Decodes one ring-buffer record. Pure: any bytes are handled; the fuzz
/// target `tracepoint_ring` feeds it arbitrary records.
pub fn decode(raw: &[u8], clock: Clock) -> Result<Msg, DecodeError> {
    if raw.len() < HEADER_LEN {
        return Err(DecodeError::Short(raw.len()));
    }
    let mut ev = fsgt_event::default();
    // SAFETY: fsgt_event is plain old data; HEADER_LEN is within both buffers.
    unsafe { std::ptr::copy_nonoverlapping(raw.as_ptr(), (&mut ev as *mut fsgt_event).cast::<u8>(), HEADER_LEN) };
    let data = &raw[HEADER_LEN..];
    let p = &ev.proc;
    let proc_ = proc_of!(p);
    let ts = clock.to_epoch_ns(ev.ts);
    let len = (ev.len as usize).min(data.len());
    let has = |f: fsgt_flags| ev.flags & f.0 != 0;
    Ok(match fsgt_rec(ev.rec) {
        fsgt_rec::FSGT_REC_ALLOC => Msg::Raw(Raw::Alloc { ts, ptr: ev.ptr, kind: ev.kind, tracee: proc_ }),
        fsgt_rec::FSGT_REC_DELIVER => Msg::Raw(Raw::Deliver { ts, ptr: ev.ptr, tid: p.tid, read_id: ev.read_id, index: ev.arg }),
        fsgt_rec::FSGT_REC_DROP => Msg::Raw(Raw::Drop {
            ts,
            ptr: ev.ptr,
            tid: ev.proc.tid,
            dying: ev.flags & fsgt_flags::FSGT_F_DYING.0 != 0,
        }),
        fsgt_rec::FSGT_REC_READ => Msg::Raw(Raw::Read(ReadChunk {
            ts,
            read_id: ev.read_id,
            tracer: proc_,
            kind: ev.kind,
            fd: ev.fd,
            group: ev.group,
            total: ev.total,
            offset: ev.offset,
            frees: ev.arg,
            data: data[..len].to_vec(),
            last: has(fsgt_flags::FSGT_F_LAST),
            truncated: has(fsgt_flags::FSGT_F_TRUNCATED),
            fault: has(fsgt_flags::FSGT_F_FAULT),
        })),
        fsgt_rec::FSGT_REC_WRITE => Msg::Raw(Raw::Write {
            ts,
            tracer: proc_,
            fd: ev.fd,
            group: ev.group,
            data: data[..len].to_vec(),
            fault: has(fsgt_flags::FSGT_F_FAULT),
        }),
        fsgt_rec::FSGT_REC_NEWFD => Msg::NewFd { pid: p.pid, fd: ev.fd, kind: ev.kind },
        fsgt_rec::FSGT_REC_FORK => Msg::Fork { parent: p.pid, child: ev.arg },
        fsgt_rec::FSGT_REC_EXEC => Msg::Exec { pid: p.pid },
        fsgt_rec::FSGT_REC_EXIT => Msg::Exit { pid: p.pid },
        fsgt_rec::FSGT_REC_READLINK => {
            let path_len = (ev.arg as usize).min(FSGT_LINK_PATH).min(data.len());
            let target = data.get(FSGT_LINK_PATH..).map(|t| &t[..len.min(t.len())]).unwrap_or(&[]);
            Msg::Raw(Raw::Readlink {
                pid: p.pid,
                link: data[..path_len].to_vec(),
                target: target.to_vec(),
                truncated: has(fsgt_flags::FSGT_F_TRUNCATED),
            })
        }
        other => return Err(DecodeError::BadRecord(other.0)),
    })
}

impl Tracer for TracepointTracer {
    fn name(&self) -> &'static str {
        "tracepoint"
    }

    fn poll(&mut self, timeout: Duration, out: &mut Vec<Record>) -> Result<bool> {
        let (msgs, more) = self.ring.poll(timeout)?;
        for m in msgs {
            self.handle(m, out);
        }
        self.joiner.tick(Clock::now().to_epoch_ns(boot_ns()), false, out);
        Ok(more)
    }

    fn finish(&mut self, out: &mut Vec<Record>) {
        self.joiner.tick(Clock::now().to_epoch_ns(boot_ns()), true, out);
        self.joiner.finish();
    }

    fn lost(&self) -> Lost {
        let bss = self.skel.maps.bss_data.as_deref();
        let at = |s: fsgt_stat| {
            // SAFETY: the counters live in the mmapped .bss, which the kernel
            // updates atomically; a volatile read sees the current value.
            bss.map_or(0, |b| unsafe { std::ptr::read_volatile(&b.stats[s.0 as usize]) })
        };
        let j = &self.joiner.stats;
        Lost {
            // Events, not kernel records: a read's lost records count the
            // events it freed; a lost answer is one fa_resp record.
            ringbuf: at(fsgt_stat::FSGT_STAT_READ_LOST) + j.lost_reads + at(fsgt_stat::FSGT_STAT_WRITE_DROPS),
            untracked: at(fsgt_stat::FSGT_STAT_FDS_FULL) + at(fsgt_stat::FSGT_STAT_READING_FULL),
            undecodable: self.ring.undecodable() + j.unjoined + j.evicted_perms,
            cut: j.cut,
            partial: j.no_tracee + j.unpaired,
        }
    }

    fn tables(&self) -> Vec<TableUse> {
        let m = &self.skel.maps;
        let mut t = vec![map_use("reading", &m.reading), map_use("linking", &m.linking)];
        t.extend(self.joiner.tables());
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_flags_parse() {
        let text = "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\nfanotify flags:10 event-flags:8000\nfanotify ino:1 sdev:2 mflags:0 mask:1 ignored_mask:0\n";
        assert_eq!(parse_fanotify_fdinfo(text), Some((0x10, 0x8000)));
        assert_eq!(parse_fanotify_fdinfo("pos:\t0\n"), None);
        assert_eq!(parse_fanotify_fdinfo("fanotify flags:zz event-flags:1\n"), None);
    }

    #[test]
    fn link_kinds() {
        assert_eq!(link_kind(b"anon_inode:inotify"), Some(KIND_INOTIFY));
        assert_eq!(link_kind(b"anon_inode:[fanotify]"), Some(KIND_FANOTIFY));
        assert_eq!(link_kind(b"/tmp/x"), None);
    }

    fn raw_event(ev: &fsgt_event, data: &[u8]) -> Vec<u8> {
        // SAFETY: test-only view of a POD struct.
        let mut v = unsafe { as_bytes(ev) }[..HEADER_LEN].to_vec();
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn decode_handles_short_and_lying_records() {
        let clock = Clock::with_offset(0);
        assert!(matches!(decode(&[0u8; 10], clock), Err(DecodeError::Short(10))));
        let mut ev = fsgt_event { rec: fsgt_rec::FSGT_REC_READ.0, len: 4096, flags: fsgt_flags::FSGT_F_LAST.0, ..Default::default() };
        ev.proc.pid = 7;
        let Ok(Msg::Raw(Raw::Read(c))) = decode(&raw_event(&ev, b"abc"), clock) else { panic!("not a read") };
        assert_eq!(c.data, b"abc", "len is capped at the bytes present");
        assert!(c.last);
        ev.rec = 99;
        assert!(matches!(decode(&raw_event(&ev, b""), clock), Err(DecodeError::BadRecord(99))));
    }
}

//! Joins the tracepoint programs' partial records into [`Record`]s. Pure
//! logic (no I/O except through the `resolve` callback), bounded tables.
//!
//! - `Alloc {ptr}` (tracee context) is kept until the pointer is freed.
//! - During one followed read(2), `Deliver {ptr, index}` records arrive in
//!   the order the kernel copied the events out; the read's buffer then
//!   arrives as `Read` chunks. Its records that a free accompanies (all but
//!   overflow events and fanotify permission events) are paired with those
//!   frees by index: the pointer names the alloc, hence the tracee. A lost
//!   `Deliver` leaves its record without a tracee, and the others in place.
//! - fanotify permission events are not freed at read: they are paired with
//!   the newest pending fanotify alloc of the process `metadata.pid` names,
//!   and kept by (tracer, event fd) until the tracer writes its answer
//!   (`Write`), which gives the `fa_resp` record. Freed (`Drop`) before an
//!   answer was written: an `interrupted` `fa_resp`.

use std::collections::{BTreeMap, HashMap};

use super::userbuf::{self, FanotifyEvent, InotifyEvent};
use crate::model::{EventType, FaResponse, Proc, Record};

pub const KIND_INOTIFY: u32 = 1;
pub const KIND_FANOTIFY: u32 = 2;

/// Bounds of the join tables.
pub const MAX_ALLOCS: usize = 65536;
pub const MAX_THREADS: usize = 4096;
pub const MAX_DELIVERS_PER_READ: usize = 16384;
pub const MAX_PERMS: usize = 4096;
/// How far back (in allocs) a permission event looks for its tracee's alloc.
const PERM_LOOKBACK: usize = 4096;
/// Bytes of one read(2) the kernel side copies at most: FSGT_MAX_CHUNKS
/// chunks of FSGT_CHUNK bytes (bpf/tracepoint_event.h).
pub const MAX_READ: usize = 64 * 4096;

/// One record from the kernel, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raw {
    Alloc { ts: u64, ptr: u64, kind: u32, tracee: Proc },
    /// Freed during a followed read: the `index`th free of that read.
    Deliver { ts: u64, ptr: u64, tid: u32, read_id: u64, index: u32 },
    /// Freed outside a followed read, by thread `tid`; `dying`: its process is being killed.
    Drop { ts: u64, ptr: u64, tid: u32, dying: bool },
    Read(ReadChunk),
    Write { ts: u64, tracer: Proc, fd: i32, group: u64, data: Vec<u8>, fault: bool },
    /// A fanotify tracer's readlink(2) of `link` returned `target`;
    /// `truncated` when it may be cut (it filled the tracer's buffer, or
    /// the record's).
    Readlink { pid: u32, link: Vec<u8>, target: Vec<u8>, truncated: bool },
}

/// How long a fanotify record waits for its tracer's readlink of the event fd.
pub const HOLD_NS: u64 = 100_000_000;
pub const MAX_HELD: usize = 4096;

/// The fd number in `/proc/self/fd/N`, `/proc/thread-self/fd/N`, `/proc/PID/fd/N`.
pub fn proc_fd_number(link: &[u8], pid: u32) -> Option<i32> {
    let s = std::str::from_utf8(link).ok()?;
    let rest = s.strip_prefix("/proc/")?;
    let (who, rest) = rest.split_once('/')?;
    let fd = rest.strip_prefix("fd/")?;
    if who != "self" && who != "thread-self" && who.parse::<u32>().ok()? != pid {
        return None;
    }
    fd.parse().ok()
}

#[derive(Debug)]
struct Held {
    key: (u32, i32),
    rec: Record,
    resolved: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadChunk {
    pub ts: u64,
    pub read_id: u64,
    pub tracer: Proc,
    pub kind: u32,
    pub fd: i32,
    pub group: u64,
    pub total: u32,
    pub offset: u32,
    /// Events the read freed (Delivers sent or lost).
    pub frees: u32,
    pub data: Vec<u8>,
    pub last: bool,
    pub truncated: bool,
    pub fault: bool,
}

/// What is known of a notify fd (from the iterator and /proc fdinfo).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FdInfo {
    pub kind: u32,
    pub group: Option<u64>,
    pub fa_flags: Option<u32>,
    pub fa_f_flags: Option<u32>,
}

/// User-space side of the filters (the kernel applies them where it can).
#[derive(Debug, Clone, Default)]
pub struct JoinFilters {
    pub tracee_pid: Option<u32>,
    pub tracer_pid: Option<u32>,
    pub tracer_group: Option<u64>,
}

#[derive(Debug, Clone)]
struct Alloc {
    ts: u64,
    kind: u32,
    tracee: Proc,
    seq: u64,
}

/// A free during a read: the freed event's alloc (if seen), the free's time.
type Delivered = (Option<Alloc>, u64);

#[derive(Debug)]
struct Reading {
    read_id: u64,
    /// By index; `None` where that free's record was lost.
    delivers: Vec<Option<Delivered>>,
    buf: Vec<u8>,
    chunk: Option<ReadChunk>,
}

impl Reading {
    /// Events this read freed, as far as is known.
    fn frees(&self) -> u64 {
        let told = self.chunk.as_ref().map_or(0, |c| c.frees);
        (told as usize).max(self.delivers.len()) as u64
    }
}

#[derive(Debug, Clone)]
struct Perm {
    template: Record,
    ptr: Option<u64>,
    alloc_ts: Option<u64>,
    key: (u32, i32),
    answered: bool,
}

/// Counters of what could not be joined.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JoinStats {
    /// Allocs evicted from a full table before their free was seen (their
    /// events, if read later, have no tracee).
    pub evicted_allocs: u64,
    /// Permission events evicted from a full table: their answer is not printed.
    pub evicted_perms: u64,
    /// Reads whose buffer could not be parsed, and answers that could not.
    pub unjoined: u64,
    /// Frees of a read that no record in its buffer took: its records are
    /// printed, but their tracees may be wrong.
    pub unpaired: u64,
    /// Records of freed events printed without their tracee: the free's or
    /// the alloc's kernel record was lost, or the event was queued before
    /// the start.
    pub no_tracee: u64,
    /// Events of reads whose buffer was lost after its first chunk (ring
    /// buffer full; the kernel counts those lost before it).
    pub lost_reads: u64,
    /// Events past the part of a read(2) the kernel side copies (MAX_READ):
    /// freed during the read, never seen in its buffer.
    pub cut: u64,
}

#[derive(Default)]
pub struct Joiner {
    pub fds: HashMap<(u32, i32), FdInfo>,
    pub filters: JoinFilters,
    pub stats: JoinStats,
    allocs: HashMap<u64, Alloc>,
    order: BTreeMap<u64, u64>, // seq -> ptr
    seq: u64,
    reads: HashMap<u32, Reading>,
    perms: HashMap<(u32, i32), u64>, // (tracer tgid, event fd) -> perm id
    perm_by_ptr: HashMap<u64, u64>,  // event ptr -> perm id
    perm_table: BTreeMap<u64, Perm>,
    perm_seq: u64,
    held: std::collections::VecDeque<Held>,
}

/// Resolves a fanotify event's path: `(tracer pid, event fd, the event)`.
pub type Resolve<'a> = &'a mut dyn FnMut(u32, &FanotifyEvent) -> Option<Vec<u8>>;

impl Joiner {
    pub fn new(filters: JoinFilters) -> Joiner {
        Joiner { filters, ..Default::default() }
    }

    pub fn pending_allocs(&self) -> usize {
        self.allocs.len()
    }

    /// The user-space join tables (allocs wait for their free, reads for
    /// their buffer, permission events for their answer, fanotify records
    /// for their path).
    pub fn tables(&self) -> Vec<crate::backend::TableUse> {
        use crate::backend::TableUse;
        vec![
            TableUse { name: "user:allocs", entries: self.allocs.len(), capacity: MAX_ALLOCS },
            TableUse { name: "user:reads", entries: self.reads.len(), capacity: MAX_THREADS },
            TableUse { name: "user:perms", entries: self.perm_table.len(), capacity: MAX_PERMS },
            TableUse { name: "user:held", entries: self.held.len(), capacity: MAX_HELD },
        ]
    }

    /// Takes one kernel record; appends the records it completes to `out`.
    pub fn push(&mut self, raw: Raw, resolve: Resolve<'_>, out: &mut Vec<Record>) {
        match raw {
            Raw::Alloc { ts, ptr, kind, tracee } => self.alloc(ts, ptr, kind, tracee),
            Raw::Deliver { ts, ptr, tid, read_id, index } => {
                // Take the alloc now: once freed, the pointer may be reused
                // by another event before this read's buffer arrives.
                let alloc = self.take_alloc(ptr);
                let r = self.reading(tid, read_id);
                let i = index as usize;
                if i < MAX_DELIVERS_PER_READ {
                    if r.delivers.len() <= i {
                        r.delivers.resize_with(i + 1, || None);
                    }
                    r.delivers[i] = Some((alloc, ts));
                }
            }
            Raw::Drop { ts, ptr, tid, dying } => self.dropped(ts, ptr, tid, dying, out),
            Raw::Read(chunk) => self.read_chunk(chunk, resolve, out),
            Raw::Write { ts, tracer, fd, group, data, fault } => {
                if !fault {
                    self.write(ts, tracer, fd, group, &data, out)
                }
            }
            Raw::Readlink { pid, link, target, truncated } => self.readlink(pid, &link, target, truncated),
        }
    }

    /// A cut target is kept, marked `name_truncated`, until a whole one
    /// comes (clients retry with a larger buffer) or the hold ends.
    fn readlink(&mut self, pid: u32, link: &[u8], target: Vec<u8>, truncated: bool) {
        let Some(fd) = proc_fd_number(link, pid) else { return };
        if !target.starts_with(b"/") {
            return;
        }
        if let Some(h) = self.held.iter_mut().find(|h| h.key == (pid, fd) && !h.resolved) {
            if !truncated || h.rec.name.is_empty() || h.rec.name_truncated {
                h.rec.name = target.clone();
                h.rec.name_truncated = truncated;
            }
            h.resolved = !truncated;
        }
        if let Some(p) = self.perms.get(&(pid, fd)).and_then(|id| self.perm_table.get_mut(id)) {
            if !truncated || p.template.name.is_empty() || p.template.name_truncated {
                p.template.name = target;
                p.template.name_truncated = truncated;
            }
        }
    }

    /// Releases held fanotify records: those resolved, and those older than
    /// HOLD_NS at `now_ns` (epoch), in order. `force` releases all.
    pub fn tick(&mut self, now_ns: u64, force: bool, out: &mut Vec<Record>) {
        while let Some(h) = self.held.front() {
            if !(force || h.resolved || now_ns.saturating_sub(h.rec.timestamp_ns) >= HOLD_NS) {
                break;
            }
            let h = self.held.pop_front().expect("front exists");
            if self.wanted(&h.rec) {
                out.push(h.rec);
            }
        }
    }

    fn emit(&mut self, rec: Record, wait_for: Option<(u32, i32)>, out: &mut Vec<Record>) {
        match wait_for {
            Some(key) => {
                self.held.push_back(Held { key, rec, resolved: false });
                if self.held.len() > MAX_HELD {
                    if let Some(h) = self.held.pop_front() {
                        if self.wanted(&h.rec) {
                            out.push(h.rec);
                        }
                    }
                }
            }
            None if !self.held.is_empty() => self.held.push_back(Held { key: (0, -1), rec, resolved: true }),
            None => {
                if self.wanted(&rec) {
                    out.push(rec)
                }
            }
        }
    }

    fn alloc(&mut self, ts: u64, ptr: u64, kind: u32, tracee: Proc) {
        self.seq += 1;
        if let Some(old) = self.allocs.insert(ptr, Alloc { ts, kind, tracee, seq: self.seq }) {
            // Reused before we saw its free (a free we do not follow).
            self.order.remove(&old.seq);
        }
        self.order.insert(self.seq, ptr);
        while self.allocs.len() > MAX_ALLOCS {
            let Some((_, victim)) = self.order.pop_first() else { break };
            self.allocs.remove(&victim);
            self.stats.evicted_allocs += 1;
        }
    }

    fn take_alloc(&mut self, ptr: u64) -> Option<Alloc> {
        let a = self.allocs.remove(&ptr)?;
        self.order.remove(&a.seq);
        Some(a)
    }

    fn reading(&mut self, tid: u32, read_id: u64) -> &mut Reading {
        if !self.reads.contains_key(&tid) && self.reads.len() >= MAX_THREADS {
            // Drop the oldest read in progress (lowest read_id).
            if let Some(&victim) = self.reads.iter().min_by_key(|(_, r)| r.read_id).map(|(t, _)| t) {
                if let Some(r) = self.reads.remove(&victim) {
                    self.stats.lost_reads += r.frees();
                }
            }
        }
        let r = self.reads.entry(tid).or_insert_with(|| Reading { read_id, delivers: Vec::new(), buf: Vec::new(), chunk: None });
        if r.read_id != read_id {
            // A new read of this thread: the previous one never got its
            // last chunk. With none at all, the kernel counted its events.
            if r.chunk.is_some() {
                self.stats.lost_reads += r.frees();
            }
            *r = Reading { read_id, delivers: Vec::new(), buf: Vec::new(), chunk: None };
        }
        r
    }

    /// At the end of a run: reads still waiting for chunks will not get
    /// them; their events are lost.
    pub fn finish(&mut self) {
        for (_, r) in self.reads.drain() {
            if r.chunk.is_some() {
                self.stats.lost_reads += r.frees();
            }
        }
    }

    fn read_chunk(&mut self, c: ReadChunk, resolve: Resolve<'_>, out: &mut Vec<Record>) {
        let tid = c.tracer.tid;
        let r = self.reading(tid, c.read_id);
        if c.offset as usize != r.buf.len() || r.buf.len() + c.data.len() > MAX_READ {
            // Not the next chunk: this read cannot be parsed.
            let frees = r.frees().max(c.frees as u64);
            self.reads.remove(&tid);
            self.stats.lost_reads += frees;
            return;
        }
        r.buf.extend_from_slice(&c.data);
        let last = c.last;
        r.chunk = Some(c);
        if !last {
            return;
        }
        let Some(r) = self.reads.remove(&tid) else { return };
        let Some(c) = r.chunk else { return };
        let mut delivers = r.delivers;
        if delivers.len() < c.frees as usize && (c.frees as usize) <= MAX_DELIVERS_PER_READ {
            delivers.resize_with(c.frees as usize, || None);
        }
        let mut delivers = delivers.into_iter();
        let info = self.fds.get(&(c.tracer.pid, c.fd)).copied().unwrap_or_default();
        let group = info.group.or((c.group != 0).then_some(c.group));
        let (records, err) = match c.kind {
            KIND_INOTIFY => {
                let (evs, err) = userbuf::parse_inotify(&r.buf);
                let recs = evs
                    .into_iter()
                    .map(|ev| {
                        let freed = !ev.is_overflow();
                        let d = if freed { delivers.next().flatten() } else { None };
                        let rec = self.inotify_record(&c, group, ev, d);
                        self.stats.no_tracee += u64::from(freed && rec.tracee.is_none());
                        (rec, None)
                    })
                    .collect::<Vec<_>>();
                (recs, err)
            }
            KIND_FANOTIFY => {
                let (evs, err) = userbuf::parse_fanotify(&r.buf);
                let mut recs = Vec::new();
                for ev in evs {
                    let freed = !(ev.is_overflow() || ev.is_perm());
                    let d = if freed { delivers.next().flatten() } else { None };
                    let fd = ev.fd;
                    let rec = self.fanotify_record(&c, group, &info, ev, d, resolve);
                    self.stats.no_tracee += u64::from(freed && rec.tracee.is_none());
                    // An event fd's path looked up in /proc now may already be
                    // another file's: the tracer can have closed the fd and
                    // reused its number. The tracer's own readlink of it, made
                    // while it held the event, is the one to trust: wait for it.
                    let wait = (fd >= 0).then_some((c.tracer.pid, fd));
                    recs.push((rec, wait));
                }
                (recs, err)
            }
            _ => (Vec::new(), None),
        };
        let left = delivers.count();
        if c.truncated {
            // The events past the copied bytes (and the one cut in half)
            // were freed as the tracer got them: one free each, unpaired.
            self.stats.cut += left as u64;
        } else {
            if err.is_some() || c.fault {
                self.stats.unjoined += 1;
            }
            // Frees that no record took: the records and frees disagree.
            self.stats.unpaired += left as u64;
        }
        for (rec, wait) in records {
            self.emit(rec, wait, out);
        }
    }

    fn wanted(&self, rec: &Record) -> bool {
        if let Some(pid) = self.filters.tracee_pid {
            if rec.tracee.as_ref().map(|t| t.pid) != Some(pid) {
                return false;
            }
        }
        if let Some(pid) = self.filters.tracer_pid {
            if rec.tracer.as_ref().map(|t| t.pid) != Some(pid) {
                return false;
            }
        }
        if let Some(g) = self.filters.tracer_group {
            if rec.fsnotify_group != Some(g) {
                return false;
            }
        }
        true
    }

    /// Fills tracee and latency from the alloc the free names.
    fn join_alloc(&mut self, rec: &mut Record, deliver: Option<Delivered>, kind: u32) {
        let Some((alloc, free_ts)) = deliver else { return };
        if let Some(a) = alloc {
            if a.kind == kind {
                rec.tracee = Some(a.tracee);
                rec.latency_ns = Some(free_ts.saturating_sub(a.ts));
            }
        }
    }

    fn base(&self, t: EventType, c: &ReadChunk, group: Option<u64>, ts: u64) -> Record {
        let mut rec = Record::new(t, ts);
        rec.tracer = Some(c.tracer.clone());
        rec.fsnotify_group = group;
        rec
    }

    fn inotify_record(&mut self, c: &ReadChunk, group: Option<u64>, ev: InotifyEvent, d: Option<Delivered>) -> Record {
        let mut rec = self.base(EventType::Inotify, c, group, d.as_ref().map_or(c.ts, |d| d.1));
        self.join_alloc(&mut rec, d, KIND_INOTIFY);
        rec.i_wd = Some(ev.wd);
        rec.i_mask = Some(ev.mask);
        rec.i_cookie = Some(ev.cookie);
        rec.name = ev.name;
        rec
    }

    fn fanotify_record(
        &mut self,
        c: &ReadChunk,
        group: Option<u64>,
        info: &FdInfo,
        ev: FanotifyEvent,
        d: Option<Delivered>,
        resolve: Resolve<'_>,
    ) -> Record {
        let mut rec = self.base(EventType::Fanotify, c, group, d.as_ref().map_or(c.ts, |d| d.1));
        self.join_alloc(&mut rec, d, KIND_FANOTIFY);
        rec.fa_mask = Some(ev.mask);
        rec.fa_pid = Some(ev.pid as u32);
        rec.fa_flags = info.fa_flags;
        rec.fa_f_flags = info.fa_f_flags;
        if let Some(path) = resolve(c.tracer.pid, &ev) {
            rec.name = path;
        } else if let Some(name) = &ev.info_name {
            rec.name = name.clone();
        }
        if ev.is_perm() {
            let alloc = self.perm_alloc(ev.pid as u32);
            let (ptr, alloc_ts) = match &alloc {
                Some((ptr, a)) => {
                    rec.tracee = Some(a.tracee.clone());
                    rec.latency_ns = Some(c.ts.saturating_sub(a.ts));
                    (Some(*ptr), Some(a.ts))
                }
                None => (None, None),
            };
            if ev.fd >= 0 {
                self.add_perm(Perm { template: rec.clone(), ptr, alloc_ts, key: (c.tracer.pid, ev.fd), answered: false });
            }
        }
        rec
    }

    /// The newest fanotify alloc of the thread (or process) `pid`; it stays
    /// in the table (its free ends the permission event).
    fn perm_alloc(&self, pid: u32) -> Option<(u64, Alloc)> {
        let mut by_tgid = None;
        for (_, ptr) in self.order.iter().rev().take(PERM_LOOKBACK) {
            let Some(a) = self.allocs.get(ptr) else { continue };
            if a.kind != KIND_FANOTIFY || self.perm_by_ptr.contains_key(ptr) {
                continue;
            }
            if a.tracee.tid == pid {
                return Some((*ptr, a.clone()));
            }
            if by_tgid.is_none() && a.tracee.pid == pid {
                by_tgid = Some((*ptr, a.clone()));
            }
        }
        by_tgid
    }

    fn add_perm(&mut self, p: Perm) {
        self.perm_seq += 1;
        let id = self.perm_seq;
        if let Some(old) = self.perms.insert(p.key, id) {
            self.remove_perm(old);
        }
        if let Some(ptr) = p.ptr {
            if let Some(old) = self.perm_by_ptr.insert(ptr, id) {
                self.remove_perm(old);
            }
        }
        self.perm_table.insert(id, p);
        while self.perm_table.len() > MAX_PERMS {
            let Some((&oldest, _)) = self.perm_table.iter().next() else { break };
            self.remove_perm(oldest);
            self.stats.evicted_perms += 1;
        }
    }

    fn remove_perm(&mut self, id: u64) -> Option<Perm> {
        let p = self.perm_table.remove(&id)?;
        if self.perms.get(&p.key) == Some(&id) {
            self.perms.remove(&p.key);
        }
        if let Some(ptr) = p.ptr {
            if self.perm_by_ptr.get(&ptr) == Some(&id) {
                self.perm_by_ptr.remove(&ptr);
            }
        }
        Some(p)
    }

    fn write(&mut self, ts: u64, tracer: Proc, _fd: i32, group: u64, data: &[u8], out: &mut Vec<Record>) {
        let Ok(resp) = userbuf::parse_response(data) else {
            self.stats.unjoined += 1;
            return;
        };
        let Some(&id) = self.perms.get(&(tracer.pid, resp.fd)) else { return };
        let Some(p) = self.perm_table.get_mut(&id) else { return };
        p.answered = true;
        let mut rec = p.template.clone();
        let alloc_ts = p.alloc_ts;
        let key = p.key;
        let keep = p.ptr.is_some();
        self.perms.remove(&key);
        if !keep {
            self.perm_table.remove(&id);
        }
        rec.event_type = EventType::FaResp;
        rec.timestamp_ns = ts;
        rec.tracer = Some(tracer);
        if rec.fsnotify_group.is_none() && group != 0 {
            rec.fsnotify_group = Some(group);
        }
        rec.fa_response = FaResponse::from_kernel(resp.response);
        if rec.fa_response == FaResponse::Interrupted {
            rec.fa_response = FaResponse::Deny; // anything but FAN_ALLOW denies
        }
        rec.latency_ns = alloc_ts.map(|a| ts.saturating_sub(a));
        self.emit(rec, None, out);
    }

    fn dropped(&mut self, ts: u64, ptr: u64, tid: u32, dying: bool, out: &mut Vec<Record>) {
        let alloc = self.take_alloc(ptr);
        let Some(id) = self.perm_by_ptr.get(&ptr).copied() else {
            // Never read, and freed by its own tracee as it is killed: a
            // permission request whose tracee stopped waiting before any
            // tracer read it. (Merges free at once, in a live tracee;
            // flushes free in the process that closes the group.)
            if let Some(a) = alloc.filter(|a| dying && a.kind == KIND_FANOTIFY && a.tracee.tid == tid) {
                let mut rec = Record::new(EventType::FaResp, ts);
                rec.fa_response = FaResponse::Interrupted;
                rec.latency_ns = Some(ts.saturating_sub(a.ts));
                rec.tracee = Some(a.tracee);
                self.emit(rec, None, out);
            }
            return;
        };
        let Some(p) = self.remove_perm(id) else { return };
        if p.answered {
            return;
        }
        let mut rec = p.template;
        rec.event_type = EventType::FaResp;
        rec.timestamp_ns = ts;
        rec.fa_response = FaResponse::Interrupted;
        rec.latency_ns = p.alloc_ts.map(|a| ts.saturating_sub(a));
        self.emit(rec, None, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_(pid: u32, comm: &str) -> Proc {
        Proc { pid, tid: pid, comm: comm.into(), ..Default::default() }
    }

    fn inotify_bytes(evs: &[(i32, u32, &str)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (wd, mask, name) in evs {
            let padded = if name.is_empty() { 0 } else { (name.len() / 16 + 1) * 16 };
            v.extend_from_slice(&wd.to_ne_bytes());
            v.extend_from_slice(&mask.to_ne_bytes());
            v.extend_from_slice(&0u32.to_ne_bytes());
            v.extend_from_slice(&(padded as u32).to_ne_bytes());
            let mut n = name.as_bytes().to_vec();
            n.resize(padded, 0);
            v.extend(n);
        }
        v
    }

    fn chunk(tracer: &Proc, kind: u32, read_id: u64, data: Vec<u8>) -> Raw {
        Raw::Read(ReadChunk {
            ts: read_id + 10,
            read_id,
            tracer: tracer.clone(),
            kind,
            fd: 3,
            group: 0xabc,
            total: data.len() as u32,
            offset: 0,
            frees: 0,
            data,
            last: true,
            truncated: false,
            fault: false,
        })
    }

    fn no_resolve() -> impl FnMut(u32, &FanotifyEvent) -> Option<Vec<u8>> {
        |_, _| None
    }

    #[test]
    fn inotify_records_pair_with_frees_in_order() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let mut r = no_resolve();
        let tracer = proc_(10, "inotifywatch");
        j.push(Raw::Alloc { ts: 1, ptr: 0x100, kind: KIND_INOTIFY, tracee: proc_(20, "a") }, &mut r, &mut out);
        j.push(Raw::Alloc { ts: 2, ptr: 0x200, kind: KIND_INOTIFY, tracee: proc_(21, "b") }, &mut r, &mut out);
        j.push(Raw::Deliver { ts: 5, ptr: 0x100, tid: 10, read_id: 4, index: 0 }, &mut r, &mut out);
        j.push(Raw::Deliver { ts: 6, ptr: 0x200, tid: 10, read_id: 4, index: 1 }, &mut r, &mut out);
        let buf = inotify_bytes(&[(1, 0x20, "a-file"), (-1, userbuf::IN_Q_OVERFLOW, ""), (1, 0x4, "b-file")]);
        j.push(chunk(&tracer, KIND_INOTIFY, 4, buf), &mut r, &mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].tracee.as_ref().unwrap().comm, b"a");
        assert_eq!(out[0].name, b"a-file");
        assert_eq!(out[0].latency_ns, Some(4));
        assert_eq!(out[1].tracee, None, "overflow has no tracee");
        assert_eq!(out[2].tracee.as_ref().unwrap().comm, b"b");
        assert_eq!(out[2].fsnotify_group, Some(0xabc));
        assert_eq!(j.pending_allocs(), 0);
        assert_eq!(j.stats, JoinStats::default());
    }

    #[test]
    fn a_pointer_reused_before_the_read_ends_keeps_its_first_tracee() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let mut r = no_resolve();
        j.push(Raw::Alloc { ts: 1, ptr: 0x100, kind: KIND_INOTIFY, tracee: proc_(20, "a") }, &mut r, &mut out);
        j.push(Raw::Deliver { ts: 5, ptr: 0x100, tid: 10, read_id: 4, index: 0 }, &mut r, &mut out);
        j.push(Raw::Alloc { ts: 6, ptr: 0x100, kind: KIND_INOTIFY, tracee: proc_(21, "b") }, &mut r, &mut out);
        j.push(chunk(&proc_(10, "w"), KIND_INOTIFY, 4, inotify_bytes(&[(1, 2, "a-file")])), &mut r, &mut out);
        assert_eq!(out[0].tracee.as_ref().unwrap().pid, 20);
        assert_eq!(out[0].latency_ns, Some(4));
        assert_eq!(j.pending_allocs(), 1, "b's event is still queued");
    }

    #[test]
    fn stale_frees_of_a_lost_read_are_not_reused() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let mut r = no_resolve();
        j.push(Raw::Alloc { ts: 1, ptr: 0x100, kind: KIND_INOTIFY, tracee: proc_(20, "a") }, &mut r, &mut out);
        j.push(Raw::Alloc { ts: 1, ptr: 0x200, kind: KIND_INOTIFY, tracee: proc_(21, "b") }, &mut r, &mut out);
        j.push(Raw::Deliver { ts: 5, ptr: 0x100, tid: 10, read_id: 4, index: 0 }, &mut r, &mut out);
        // read 4's buffer was lost; read 7:
        j.push(Raw::Deliver { ts: 8, ptr: 0x200, tid: 10, read_id: 7, index: 0 }, &mut r, &mut out);
        j.push(chunk(&proc_(10, "w"), KIND_INOTIFY, 7, inotify_bytes(&[(1, 2, "b-file")])), &mut r, &mut out);
        assert_eq!(out[0].tracee.as_ref().unwrap().comm, b"b");
        assert_eq!(j.stats, JoinStats::default(), "no chunk of read 4 came: the kernel counts its events");
    }

    #[test]
    fn a_lost_free_leaves_its_record_without_a_tracee_and_the_others_in_place() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let mut r = no_resolve();
        for (ptr, comm) in [(0x100, "a"), (0x200, "b"), (0x300, "c")] {
            j.push(Raw::Alloc { ts: 1, ptr, kind: KIND_INOTIFY, tracee: proc_(20, comm) }, &mut r, &mut out);
        }
        // The free of 0x200 (index 1) was lost in the kernel.
        j.push(Raw::Deliver { ts: 5, ptr: 0x100, tid: 10, read_id: 4, index: 0 }, &mut r, &mut out);
        j.push(Raw::Deliver { ts: 6, ptr: 0x300, tid: 10, read_id: 4, index: 2 }, &mut r, &mut out);
        let Raw::Read(mut c) = chunk(&proc_(10, "w"), KIND_INOTIFY, 4, inotify_bytes(&[(1, 2, "a"), (1, 2, "b"), (1, 2, "c")])) else {
            unreachable!()
        };
        c.frees = 3;
        j.push(Raw::Read(c), &mut r, &mut out);
        let comms: Vec<_> = out.iter().map(|o| o.tracee.as_ref().map(|t| t.comm.to_vec())).collect();
        assert_eq!(comms, vec![Some(b"a".to_vec()), None, Some(b"c".to_vec())]);
        assert_eq!(j.stats, JoinStats { no_tracee: 1, ..Default::default() });
    }

    #[test]
    fn a_read_cut_short_by_lost_chunks_counts_its_events() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let mut r = no_resolve();
        let buf = inotify_bytes(&[(1, 2, "x"), (1, 2, "y"), (1, 2, "z")]);
        let first = |read_id: u64| {
            Raw::Read(ReadChunk {
                ts: 1,
                read_id,
                tracer: proc_(10, "w"),
                kind: KIND_INOTIFY,
                fd: 3,
                group: 0,
                total: buf.len() as u32,
                offset: 0,
                frees: 3,
                data: buf[..20].to_vec(),
                last: false,
                truncated: false,
                fault: false,
            })
        };
        // Read 1's later chunks were lost: the thread's next read shows it.
        j.push(first(1), &mut r, &mut out);
        j.push(Raw::Deliver { ts: 5, ptr: 0x100, tid: 10, read_id: 2, index: 0 }, &mut r, &mut out);
        assert_eq!(j.stats.lost_reads, 3);
        // Read 2 never completes before the run ends.
        j.push(first(2), &mut r, &mut out);
        assert_eq!(j.stats.lost_reads, 3, "not yet: its chunks may still come");
        j.finish();
        assert_eq!(j.stats.lost_reads, 6);
        assert!(out.is_empty());
        assert_eq!(j.tables().iter().map(|t| t.entries).sum::<usize>(), 0);
    }

    #[test]
    fn split_reads_and_missing_chunks() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let mut r = no_resolve();
        let buf = inotify_bytes(&[(1, 2, "x"), (1, 2, "y")]);
        let mk = |off: usize, data: &[u8], last: bool| {
            Raw::Read(ReadChunk {
                ts: 1,
                read_id: 1,
                tracer: proc_(10, "w"),
                kind: KIND_INOTIFY,
                fd: 3,
                group: 0,
                total: buf.len() as u32,
                offset: off as u32,
                frees: 2,
                data: data.to_vec(),
                last,
                truncated: false,
                fault: false,
            })
        };
        j.push(mk(0, &buf[..20], false), &mut r, &mut out);
        j.push(mk(20, &buf[20..], true), &mut r, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].name, b"y");
        out.clear();
        j.push(mk(0, &buf[..20], false), &mut r, &mut out);
        j.push(mk(30, &buf[30..], true), &mut r, &mut out);
        assert!(out.is_empty());
        assert_eq!(j.stats.lost_reads, 2, "the read's two events");
    }

    fn fan_bytes(mask: u64, fd: i32, pid: i32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&24u32.to_ne_bytes());
        v.extend_from_slice(&[3, 0]);
        v.extend_from_slice(&24u16.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&fd.to_ne_bytes());
        v.extend_from_slice(&pid.to_ne_bytes());
        v
    }

    fn response(fd: i32, resp: u32) -> Vec<u8> {
        let mut v = fd.to_ne_bytes().to_vec();
        v.extend_from_slice(&resp.to_ne_bytes());
        v
    }

    #[test]
    fn permission_events_answered_and_interrupted() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let mut r = |_: u32, ev: &FanotifyEvent| Some(format!("/d/f{}", ev.fd).into_bytes());
        let helper = proc_(10, "helper");
        j.push(Raw::Alloc { ts: 1, ptr: 0x100, kind: KIND_FANOTIFY, tracee: proc_(20, "cat") }, &mut r, &mut out);
        j.push(Raw::Alloc { ts: 2, ptr: 0x200, kind: KIND_FANOTIFY, tracee: proc_(21, "cat") }, &mut r, &mut out);
        let mut buf = fan_bytes(0x10000, 5, 20);
        buf.extend(fan_bytes(0x10000, 6, 21));
        j.push(chunk(&helper, KIND_FANOTIFY, 3, buf), &mut r, &mut out);
        assert!(out.is_empty(), "records with an event fd wait for the tracer's readlink");
        j.tick(0, true, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].tracee.as_ref().unwrap().pid, 20);
        assert_eq!(out[1].tracee.as_ref().unwrap().pid, 21);
        assert_eq!(out[0].name, b"/d/f5");
        out.clear();
        j.push(Raw::Write { ts: 20, tracer: helper.clone(), fd: 3, group: 0, data: response(5, 2), fault: false }, &mut r, &mut out);
        j.push(Raw::Drop { ts: 21, ptr: 0x100, tid: 1, dying: false }, &mut r, &mut out);
        j.push(Raw::Drop { ts: 22, ptr: 0x200, tid: 1, dying: false }, &mut r, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].event_type, EventType::FaResp);
        assert_eq!(out[0].fa_response, FaResponse::Deny);
        assert_eq!(out[0].tracee.as_ref().unwrap().pid, 20);
        assert_eq!(out[0].latency_ns, Some(19));
        assert_eq!(out[1].fa_response, FaResponse::Interrupted);
        assert_eq!(out[1].tracee.as_ref().unwrap().pid, 21);
        assert_eq!(j.pending_allocs(), 0);
    }

    #[test]
    fn events_past_a_cut_read_are_counted_as_cut() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let mut r = no_resolve();
        let (w, t) = (proc_(10, "watcher"), proc_(20, "touch"));
        for ptr in 1..=4u64 {
            j.push(Raw::Alloc { ts: ptr, ptr, kind: KIND_INOTIFY, tracee: t.clone() }, &mut r, &mut out);
            j.push(Raw::Deliver { ts: 10, ptr, tid: 10, read_id: 5, index: ptr as u32 - 1 }, &mut r, &mut out);
        }
        // The copied bytes hold one whole event and half of the next.
        let mut data = inotify_bytes(&[(1, 0x2, "first"), (1, 0x2, "second")]);
        data.truncate(data.len() - 8);
        let Raw::Read(mut c) = chunk(&w, KIND_INOTIFY, 5, data) else { unreachable!() };
        c.truncated = true;
        j.push(Raw::Read(c), &mut r, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, b"first");
        assert_eq!(j.stats.cut, 3, "the half event and the two never copied");
        assert_eq!(j.stats.unjoined, 0);
    }

    #[test]
    fn a_request_never_read_ends_interrupted_only_when_its_tracee_dies() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let mut r = no_resolve();
        let cat = proc_(30, "cat");
        for (ptr, tid, dying, kind) in [(0x1, 30, true, KIND_FANOTIFY), (0x2, 30, false, KIND_FANOTIFY), (0x3, 31, true, KIND_FANOTIFY), (0x4, 30, true, KIND_INOTIFY)] {
            j.push(Raw::Alloc { ts: 1, ptr, kind, tracee: cat.clone() }, &mut r, &mut out);
            j.push(Raw::Drop { ts: 9, ptr, tid, dying }, &mut r, &mut out);
        }
        assert_eq!(out.len(), 1, "only the fanotify event freed by its own dying tracee: {out:?}");
        assert_eq!(out[0].event_type, EventType::FaResp);
        assert_eq!(out[0].fa_response, FaResponse::Interrupted);
        assert_eq!(out[0].tracee.as_ref().unwrap().pid, 30);
        assert_eq!(out[0].latency_ns, Some(8));
        assert_eq!(j.pending_allocs(), 0);
    }

    #[test]
    fn the_tracers_readlink_beats_a_late_proc_lookup_of_a_reused_fd() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        // By the time user space looks in /proc, fd 5 is another file.
        let mut r = |_: u32, _: &FanotifyEvent| Some(b"/d/next-file".to_vec());
        let helper = proc_(10, "helper");
        j.push(Raw::Alloc { ts: 1, ptr: 0x100, kind: KIND_FANOTIFY, tracee: proc_(20, "cat") }, &mut r, &mut out);
        j.push(chunk(&helper, KIND_FANOTIFY, 3, fan_bytes(0x10000, 5, 20)), &mut r, &mut out);
        let link = b"/proc/self/fd/5".to_vec();
        j.push(Raw::Readlink { pid: 10, link, target: b"/d/this-file".to_vec(), truncated: false }, &mut r, &mut out);
        j.tick(0, false, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, b"/d/this-file");
        j.push(Raw::Write { ts: 20, tracer: helper.clone(), fd: 3, group: 0, data: response(5, 1), fault: false }, &mut r, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].event_type, EventType::FaResp);
        assert_eq!(out[1].name, b"/d/this-file", "the answer names the file the tracer saw");
    }

    #[test]
    fn fanotify_records_wait_for_the_tracers_readlink() {
        let mut j = Joiner::default();
        let mut out = Vec::new();
        let mut r = no_resolve();
        let fatrace = proc_(10, "fatrace");
        j.push(Raw::Alloc { ts: 1, ptr: 0x100, kind: KIND_FANOTIFY, tracee: proc_(20, "cat") }, &mut r, &mut out);
        j.push(Raw::Deliver { ts: 5, ptr: 0x100, tid: 10, read_id: 4, index: 0 }, &mut r, &mut out);
        let mut buf = fan_bytes(0x20, 5, 20);
        buf.extend(fan_bytes(0x4000, -1, 0));
        j.push(chunk(&fatrace, KIND_FANOTIFY, 4, buf.clone()), &mut r, &mut out);
        assert!(out.is_empty(), "held until the readlink");
        // A readlink that filled the client's buffer may be cut: not final.
        j.push(Raw::Readlink { pid: 10, link: b"/proc/self/fd/5".to_vec(), target: b"/etc/pas".to_vec(), truncated: true }, &mut r, &mut out);
        j.tick(0, false, &mut out);
        assert!(out.is_empty(), "a cut target waits for the retry");
        j.push(Raw::Readlink { pid: 10, link: b"/proc/self/fd/5".to_vec(), target: b"/etc/passwd".to_vec(), truncated: false }, &mut r, &mut out);
        j.tick(0, false, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, b"/etc/passwd");
        assert!(!out[0].name_truncated);
        assert_eq!(out[0].tracee.as_ref().unwrap().pid, 20);
        assert!(out[1].tracee.is_none());
        out.clear();
        // No readlink: released after HOLD_NS, nameless.
        j.push(chunk(&fatrace, KIND_FANOTIFY, 9, fan_bytes(0x20, 6, 20)), &mut r, &mut out);
        j.tick(19 + HOLD_NS - 1, false, &mut out);
        assert!(out.is_empty());
        j.tick(19 + HOLD_NS, false, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].name.is_empty());
        out.clear();
        // Only a cut target: released after HOLD_NS with it, marked truncated.
        j.push(chunk(&fatrace, KIND_FANOTIFY, 30, fan_bytes(0x20, 7, 20)), &mut r, &mut out);
        j.push(Raw::Readlink { pid: 10, link: b"/proc/self/fd/7".to_vec(), target: b"/a/very/lo".to_vec(), truncated: true }, &mut r, &mut out);
        j.tick(40 + HOLD_NS, false, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, b"/a/very/lo");
        assert!(out[0].name_truncated);
    }

    #[test]
    fn proc_fd_links() {
        assert_eq!(proc_fd_number(b"/proc/self/fd/12", 5), Some(12));
        assert_eq!(proc_fd_number(b"/proc/thread-self/fd/3", 5), Some(3));
        assert_eq!(proc_fd_number(b"/proc/5/fd/3", 5), Some(3));
        assert_eq!(proc_fd_number(b"/proc/6/fd/3", 5), None);
        assert_eq!(proc_fd_number(b"/proc/self/fdinfo/3", 5), None);
        assert_eq!(proc_fd_number(b"/tmp/x", 5), None);
        assert_eq!(proc_fd_number(b"/proc/self/fd/\xff", 5), None);
    }

    #[test]
    fn filters_and_bounds() {
        let mut j = Joiner::new(JoinFilters { tracee_pid: Some(21), tracer_pid: None, tracer_group: None });
        let mut out = Vec::new();
        let mut r = no_resolve();
        j.push(Raw::Alloc { ts: 1, ptr: 0x100, kind: KIND_INOTIFY, tracee: proc_(20, "a") }, &mut r, &mut out);
        j.push(Raw::Alloc { ts: 1, ptr: 0x200, kind: KIND_INOTIFY, tracee: proc_(21, "b") }, &mut r, &mut out);
        j.push(Raw::Deliver { ts: 5, ptr: 0x100, tid: 10, read_id: 4, index: 0 }, &mut r, &mut out);
        j.push(Raw::Deliver { ts: 6, ptr: 0x200, tid: 10, read_id: 4, index: 1 }, &mut r, &mut out);
        j.push(chunk(&proc_(10, "w"), KIND_INOTIFY, 4, inotify_bytes(&[(1, 2, "a"), (1, 2, "b")])), &mut r, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, b"b");
        for i in 0..(MAX_ALLOCS as u64 + 10) {
            j.push(Raw::Alloc { ts: i, ptr: 0x1000 + i, kind: KIND_INOTIFY, tracee: proc_(1, "x") }, &mut r, &mut out);
        }
        assert_eq!(j.pending_allocs(), MAX_ALLOCS);
        assert_eq!(j.stats.evicted_allocs, 10);
    }
}

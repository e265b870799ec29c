//! Kernel backends. Each one fills [`crate::model::Record`]s its own way;
//! nothing past this module knows which one ran.
//!
//! - `fentry`: fentry/fexit on the fsnotify queue functions (trampolines).
//! - `kprobe`: the same programs as kprobes/kretprobes.
//! - `tracepoint`: allocator and wakeup tracepoints only, for kernels that
//!   allow neither (no CONFIG_KPROBES, lockdown=confidentiality).

pub mod handle;
pub mod kernel;
pub mod probe;
pub mod tracepoint;

use std::time::Duration;

use anyhow::Result;

use crate::model::Record;

/// The comm in a skeleton's `char[16]` (generated as `[i8]`), up to its NUL.
pub fn c_comm(s: &[i8]) -> crate::model::Comm {
    let mut bytes = [0u8; crate::model::Comm::MAX];
    for (b, &c) in bytes.iter_mut().zip(s) {
        *b = c as u8;
    }
    crate::model::Comm::from_c(&bytes[..s.len().min(bytes.len())])
}

/// Converts a `struct fsg_proc` (src/bpf/proc_info.h) to a [`crate::model::Proc`].
/// Each backend's skeleton generates its own copy of the type, so this is a
/// macro over the field names rather than a function over one type.
macro_rules! proc_of {
    ($p:expr) => {{
        let p = $p;
        $crate::model::Proc {
            pid: p.pid,
            tid: p.tid,
            ppid: p.ppid,
            comm: $crate::backend::c_comm(&p.comm),
            pcomm: $crate::backend::c_comm(&p.pcomm),
            uid: p.uid,
            gid: p.gid,
            user: None,
            group: None,
            mntns_id: p.mntns_id,
            cgroup_id: p.cgroup_id,
            cgroup: None,
            container: None,
        }
    }};
}
pub(crate) use proc_of;

/// In-kernel filters; `None`/`true` mean "everything".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub inotify: bool,
    pub fanotify: bool,
    pub tracee_pid: Option<u32>,
    pub tracer_pid: Option<u32>,
    pub tracer_group: Option<u64>,
    /// The comm the tracee (tracer) must have, as the kernel keeps it (at most 15 bytes).
    pub tracee_comm: Option<crate::model::Comm>,
    pub tracer_comm: Option<crate::model::Comm>,
    /// The cgroup v2 id the tracee (tracer) must be in.
    pub tracee_cgroup: Option<u64>,
    pub tracer_cgroup: Option<u64>,
    /// Keep the events the tool itself causes (its writes to a watched file,
    /// which would otherwise feed back through another watcher).
    pub include_self: bool,
}

impl Filters {
    /// A comm filter as the BPF globals hold it: NUL-padded, all zero for any.
    pub fn comm_bytes(comm: &Option<crate::model::Comm>) -> [std::ffi::c_char; 16] {
        let mut out = [0; 16];
        for (o, b) in out.iter_mut().zip(comm.as_ref().map_or(&[][..], |c| c.as_bytes())) {
            *o = *b as std::ffi::c_char;
        }
        out
    }

    /// The pid whose events the kernel leaves out: this process, or 0 for none.
    pub fn self_pid(&self) -> u32 {
        if self.include_self {
            0
        } else {
            std::process::id()
        }
    }

    /// The bitmask of `enum fsg_kind` values wanted.
    pub fn kinds(&self) -> u32 {
        use crate::procfs::NotifyKind;
        (if self.inotify { NotifyKind::Inotify.raw() } else { 0 }) | (if self.fanotify { NotifyKind::Fanotify.raw() } else { 0 })
    }
}

/// Which backend to use (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The best one this kernel allows: fentry, else kprobe, else tracepoint.
    Auto,
    /// fentry/fexit programs (needs BPF trampolines).
    Fentry,
    /// kprobes/kretprobes (needs CONFIG_KPROBES and bpf_probe_read_kernel).
    Kprobe,
    /// Tracepoints only (works on locked-down kernels without kprobes).
    Tracepoint,
}

/// Records lost, by cause, since the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lost {
    /// The ring buffer was full when the kernel had a record to send.
    pub ringbuf: u64,
    /// Events the kernel side could not track (its maps were full).
    pub untracked: u64,
    /// Records user space could not decode or join.
    pub undecodable: u64,
    /// Not lost, and not in the total: events taken off a queue that no
    /// tracer received, so there is no record of them.
    pub discarded: Discarded,
}

/// Events dequeued that never reached their tracer, by cause (kernel backends).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Discarded {
    /// The group's queue was emptied at close: its fd closed, or its reader exited.
    pub at_close: u64,
    /// The read could not copy the event out: EFAULT, or for fanotify no fd for
    /// the event (EMFILE, ENFILE, an open error).
    pub copy_failed: u64,
}

impl Discarded {
    pub fn total(&self) -> u64 {
        self.at_close + self.copy_failed
    }
}

impl Lost {
    /// Events that were not printed: the records missing from the output.
    pub fn total(&self) -> u64 {
        self.ringbuf + self.untracked + self.undecodable
    }

    /// What was counted after `earlier`.
    pub fn since(&self, earlier: &Lost) -> Lost {
        Lost {
            ringbuf: self.ringbuf - earlier.ringbuf,
            untracked: self.untracked - earlier.untracked,
            undecodable: self.undecodable - earlier.undecodable,
            discarded: Discarded {
                at_close: self.discarded.at_close - earlier.discarded.at_close,
                copy_failed: self.discarded.copy_failed - earlier.discarded.copy_failed,
            },
        }
    }
}

/// How full one table that joins the halves of an event is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableUse {
    /// The BPF map's name, or `user:NAME` for a table kept in user space.
    pub name: &'static str,
    pub entries: usize,
    pub capacity: usize,
}

/// The occupancy of a BPF hash map, counted by walking its keys.
pub(crate) fn map_use(name: &'static str, map: &dyn libbpf_rs::MapCore) -> TableUse {
    TableUse { name, entries: map.keys().count(), capacity: map.max_entries() as usize }
}

/// A running backend.
pub trait Tracer {
    /// `fentry`, `kprobe` or `tracepoint`.
    fn name(&self) -> &'static str;
    /// Waits up to `timeout` for kernel data and appends the records it
    /// completes. Takes at most [`RING_BATCH`] kernel records at a time, so
    /// memory stays bounded when the kernel produces faster than we print;
    /// returns true when more may be waiting (poll again without waiting).
    fn poll(&mut self, timeout: Duration, out: &mut Vec<Record>) -> Result<bool>;
    /// At the end of the run, once the ring is drained: appends what was
    /// still held for a part that will not come now, and counts as lost
    /// what cannot be completed.
    fn finish(&mut self, _out: &mut Vec<Record>) {}
    /// What was lost so far.
    fn lost(&self) -> Lost;
    /// The tables that hold one half of an event until the other half comes:
    /// once the machine is quiet, each should be empty again.
    fn tables(&self) -> Vec<TableUse>;
    /// Records lost to a full ring buffer since the last call, by the
    /// address of their `fsnotify_group` (0: a group the backend could not
    /// tell); taken from the kernel's table, which this empties.
    fn take_lost_by_group(&self) -> Vec<(u64, u64)>;
    /// Groups torn down since the last call: (address, wall-clock ns when), taken from the
    /// kernel's table, which this empties. What is cached by a group's address is stale for
    /// records read after that moment: the address may be a new group's.
    fn take_groups_gone(&self) -> Vec<(u64, u64)>;
}

/// Takes and deletes every entry of a `lost_by_group` map (src/bpf/common.bpf.h).
pub(crate) fn take_counts(map: &dyn libbpf_rs::MapCore) -> Vec<(u64, u64)> {
    let keys: Vec<Vec<u8>> = map.keys().collect();
    let word = |b: &[u8]| b.try_into().map(u64::from_ne_bytes).ok();
    keys.iter()
        .filter_map(|k| {
            // Read and deleted at once: a count made after it starts the entry again (one
            // racing with it, on another CPU, may be missed).
            let v = map.lookup_and_delete(k).ok().flatten()?;
            Some((word(k)?, word(&v)?))
        })
        .collect()
}

/// Kernel records taken from a ring buffer per poll.
pub const RING_BATCH: usize = 4096;

/// A BPF ring buffer whose records are decoded as they arrive and queued
/// until the next [`DecodedRing::poll`]; records that do not decode are counted.
pub(crate) struct DecodedRing<T> {
    ring: libbpf_rs::RingBuffer<'static>,
    queue: std::rc::Rc<std::cell::RefCell<Vec<T>>>,
    undecodable: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<T: 'static> DecodedRing<T> {
    pub fn new<E>(map: &dyn libbpf_rs::MapCore, decode: impl Fn(&[u8]) -> Result<T, E> + 'static) -> Result<Self> {
        let queue = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let undecodable = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let mut builder = libbpf_rs::RingBufferBuilder::new();
        {
            let queue = queue.clone();
            let undecodable = undecodable.clone();
            builder.add(map, move |raw: &[u8]| {
                match decode(raw) {
                    Ok(v) => queue.borrow_mut().push(v),
                    Err(_) => undecodable.set(undecodable.get() + 1),
                }
                0
            })?;
        }
        Ok(DecodedRing { ring: builder.build()?, queue, undecodable })
    }

    /// Waits up to `timeout` for records and returns up to [`RING_BATCH`]
    /// of them, decoded, and whether more may be waiting.
    pub fn poll(&self, timeout: Duration) -> Result<(Vec<T>, bool)> {
        let mut taken = self.consume()?;
        if taken == 0 && !timeout.is_zero() {
            let mut pfd = libc::pollfd { fd: self.ring.epoll_fd(), events: libc::POLLIN, revents: 0 };
            let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd; an epoll fd is readable when a ring has data.
            unsafe { libc::poll(&mut pfd, 1, ms) };
            taken = self.consume()?;
        }
        Ok((std::mem::take(&mut *self.queue.borrow_mut()), taken >= RING_BATCH))
    }

    fn consume(&self) -> Result<usize> {
        let n = self.ring.consume_raw_n(RING_BATCH);
        if n < 0 && -n != libc::EINTR {
            anyhow::bail!("reading the ring buffer: {}", std::io::Error::from_raw_os_error(-n));
        }
        Ok(n.max(0) as usize)
    }

    /// Records that could not be decoded, since the start.
    pub fn undecodable(&self) -> u64 {
        self.undecodable.get()
    }
}

/// Converts the kernel's CLOCK_BOOTTIME stamps to wall-clock time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Wall-clock ns minus boot-time ns, measured once at start.
    offset: i128,
}

fn clock_ns(id: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to write to; both clocks exist on Linux.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

impl Clock {
    pub fn now() -> Clock {
        Clock { offset: clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_BOOTTIME) }
    }

    /// A clock with a given offset, for tests and benchmarks.
    pub fn with_offset(offset: i128) -> Clock {
        Clock { offset }
    }

    pub fn to_epoch_ns(self, boot_ns: u64) -> u64 {
        (boot_ns as i128 + self.offset).max(0) as u64
    }
}

/// A backend that runs, and what to tell the user about it: which backend
/// `auto` chose and why the better ones did not work, or what it cannot do.
pub struct Opened {
    pub tracer: Box<dyn Tracer>,
    /// Lines for stderr, without the `fsnotify-gadget: ` prefix.
    pub notes: Vec<String>,
}

/// The file descriptors a backend holds (programs, maps, links, the ring's epoll) are far
/// fewer than this; a lower soft RLIMIT_NOFILE is raised to it when the hard limit allows.
const WANTED_NOFILE: u64 = 1024;

/// Below this soft limit no backend can load: the kernel backend alone holds about 50
/// descriptors once attached (17 programs, their links, its maps, BTF, the ring's epoll; the
/// tracepoint backend 23), and loading needs a few more at once. Checked before anything
/// loads, because a load that runs out part-way does not always fail with EMFILE: libbpf can
/// report a later, unrelated-looking error instead (an invalid map fd).
const NEEDED_NOFILE: u64 = 64;

/// (soft, hard) RLIMIT_NOFILE, after raising the soft limit towards [`WANTED_NOFILE`].
fn raise_nofile() -> (u64, u64) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid rlimit buffer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (0, 0);
    }
    if lim.rlim_cur < WANTED_NOFILE && lim.rlim_max > lim.rlim_cur {
        let raised = libc::rlimit { rlim_cur: lim.rlim_max.min(WANTED_NOFILE), rlim_max: lim.rlim_max };
        // SAFETY: as above; lowering nothing, raising the soft limit within the hard one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    (lim.rlim_cur, lim.rlim_max)
}

/// Whether an error's text says a file descriptor could not be had (EMFILE).
fn out_of_fds(text: &str) -> bool {
    text.contains("os error 24") || text.contains("EMFILE")
}

/// What to say when the descriptors ran out, or would: the limit, and what to raise.
fn fd_limit_error(nofile: (u64, u64), why: &[String]) -> anyhow::Error {
    let mut s = format!(
        "out of file descriptors: RLIMIT_NOFILE is {} (hard limit {}), too few for the BPF programs, \
         maps and links (at least {NEEDED_NOFILE} are needed); raise it (`ulimit -n {WANTED_NOFILE}`, or \
         LimitNOFILE= in a systemd unit) and start again",
        nofile.0, nofile.1
    );
    if !why.is_empty() {
        s.push_str(":\n  ");
        s.push_str(&why.join("\n  "));
    }
    anyhow::anyhow!(s)
}

/// The error when every backend failed: what ran out and what to raise, when that is the
/// cause, rather than a verdict on the kernel.
fn none_works(why: &[String], nofile: (u64, u64)) -> anyhow::Error {
    if why.iter().any(|w| out_of_fds(w)) {
        return fd_limit_error(nofile, why);
    }
    anyhow::anyhow!("no backend works on this kernel:\n  {}", why.join("\n  "))
}

/// The one line `auto` says: which backend, why not a better one (in short:
/// what the kernel lacks, or which programs did not load), and what the
/// backend does not fill.
fn using_line(backend: &str, missing: &[&str], load_failed: bool, unfilled: &[&str]) -> String {
    let mut s = format!("using the {backend} backend");
    if !missing.is_empty() {
        s.push_str(": ");
        if missing.iter().all(|m| m.starts_with("no ")) {
            s.push_str("this kernel has ");
        }
        s.push_str(&missing.join(" and "));
    }
    if !unfilled.is_empty() {
        s.push_str(&format!("; {} are not filled", unfilled.join(", ")));
    }
    if load_failed {
        s.push_str(" (-v says why)");
    }
    s
}

/// Opens the chosen backend. `auto` rules out what the kernel cannot run
/// with cheap checks ([`probe`]), then tries the rest best first, and notes
/// in one line which one runs and why not a better one; with `verbose`, the
/// whole reason of each, one line each.
pub fn open(choice: Choice, filters: &Filters, verbose: bool) -> Result<Opened> {
    use kernel::Family;
    let nofile = raise_nofile();
    if nofile.0 != 0 && nofile.0 < NEEDED_NOFILE {
        return Err(fd_limit_error(nofile, &[]));
    }
    let explain = |e: anyhow::Error| {
        let text = format!("{e:#}");
        if out_of_fds(&text) {
            none_works(&[text], nofile)
        } else {
            e
        }
    };
    let with_notes = |mut t: kernel::KernelTracer, mut after: Vec<String>| {
        let mut notes = std::mem::take(&mut t.notes);
        notes.append(&mut after);
        Opened { tracer: Box::new(t), notes }
    };
    match choice {
        Choice::Fentry => Ok(with_notes(kernel::KernelTracer::open(Family::Fentry, filters).map_err(explain)?, vec![])),
        Choice::Kprobe => Ok(with_notes(kernel::KernelTracer::open(Family::Kprobe, filters).map_err(explain)?, vec![])),
        Choice::Tracepoint => {
            Ok(Opened { tracer: Box::new(tracepoint::TracepointTracer::open(filters).map_err(explain)?), notes: vec![] })
        }
        Choice::Auto => {
            let mut why = Vec::new();
            let mut missing: Vec<&'static str> = Vec::new();
            let mut load_failed = false;
            let lockdown = probe::locked_down();
            for family in [Family::Fentry, Family::Kprobe] {
                let check = match (&lockdown, family) {
                    (Some(m), _) => Err(m.clone()),
                    (None, Family::Fentry) => probe::fentry(kernel::PROBED_FUNCTION),
                    (None, Family::Kprobe) => probe::kprobes(),
                };
                if let Err(probe::Missing(m, seen)) = check {
                    if !missing.contains(&m) {
                        missing.push(m);
                    }
                    why.push(format!("{}: {m}: {seen}", family.name()));
                    continue;
                }
                match kernel::KernelTracer::open(family, filters) {
                    Ok(t) => {
                        let mut notes = vec![using_line(t.name(), &missing, load_failed, &[])];
                        if verbose {
                            notes.append(&mut why);
                        }
                        return Ok(with_notes(t, notes));
                    }
                    Err(e) => {
                        load_failed = true;
                        missing.push(match family {
                            Family::Fentry => "the fentry programs did not load",
                            Family::Kprobe => "the kprobe programs did not load",
                        });
                        why.push(format!("{}: {:#}", family.name(), e));
                    }
                }
            }
            match tracepoint::TracepointTracer::open(filters) {
                Ok(t) => {
                    let mut notes = vec![using_line("tracepoint", &missing, load_failed, tracepoint::UNFILLED_FIELDS)];
                    if verbose {
                        notes.append(&mut why);
                    }
                    Ok(Opened { tracer: Box::new(t), notes })
                }
                Err(e) => {
                    why.push(format!("tracepoint: {e:#}"));
                    Err(none_works(&why, nofile))
                }
            }
        }
    }
}

/// libbpf's messages (verifier logs can run to megabytes) are kept out of the
/// terminal unless `FSG_DEBUG=1` (all of them) or `-v` (all but debug);
/// the last lines are kept for error reports.
static LIBBPF_TAIL: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
const LIBBPF_TAIL_LINES: usize = 6;
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn on_libbpf_message(level: libbpf_rs::PrintLevel, msg: String) {
    let debug = level == libbpf_rs::PrintLevel::Debug;
    if std::env::var_os("FSG_DEBUG").is_some() || (!debug && VERBOSE.load(std::sync::atomic::Ordering::Relaxed)) {
        // libbpf starts its own lines with `libbpf: `.
        eprint!("{msg}");
        return;
    }
    if debug {
        return;
    }
    if let Ok(mut tail) = LIBBPF_TAIL.lock() {
        // Without the prefix libbpf gives every line, and without its advice to raise
        // `ulimit -l`: BPF memory is charged to the cgroup since Linux 5.11, and on
        // older kernels the tool raises RLIMIT_MEMLOCK itself (libbpf-rs does).
        let lines = msg.lines().map(|l| l.trim_start_matches("libbpf: ").to_string());
        tail.extend(lines.filter(|l| !l.contains("ulimit -l")));
        let excess = tail.len().saturating_sub(LIBBPF_TAIL_LINES);
        tail.drain(..excess);
    }
}

/// `-v`: libbpf's messages (but debug ones) are shown as they come.
pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, std::sync::atomic::Ordering::Relaxed);
}

/// Routes libbpf's messages through [`on_libbpf_message`].
pub fn quiet_libbpf() {
    libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Debug, on_libbpf_message)));
}

/// The last libbpf lines since the previous call, for an error message.
pub fn libbpf_tail() -> String {
    let lines = LIBBPF_TAIL.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default();
    if lines.is_empty() {
        return String::new();
    }
    format!(" [libbpf: {}] (FSG_DEBUG=1 shows everything)", lines.join(" | "))
}

//! The tracepoint-only backend, for kernels that allow neither kprobes nor
//! BPF trampolines (no CONFIG_KPROBES, lockdown=confidentiality): four slab
//! tracepoints and a wakeup tracepoint (see bpf/tracepoint.bpf.c). The BPF
//! side reads each event from its slab object when the tracer's read frees
//! it, joins it with the tracee that allocated it and sends the record the
//! fentry/kprobe backends send, decoded by [`crate::backend::kernel::decode`].
//!
//! What user space adds: the allocator call-site ranges and the notify files'
//! read functions, from /proc/kallsyms; and the path of a fanotify event
//! reported by file handle (FID), opened with open_by_handle_at.

#[allow(clippy::all, non_camel_case_types, dead_code)]
pub(crate) mod skel {
    include!(concat!(env!("OUT_DIR"), "/tracepoint.skel.rs"));
}

use std::mem::MaybeUninit;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, OpenObject};

use super::{map_use, Clock, DecodedRing, Filters, Lost, TableUse, Tracer};
use crate::kallsyms::{Kallsyms, Range};
use crate::model::Record;
use skel::types::fsgt_free_class;
use skel::{TracepointSkel, TracepointSkelBuilder};

/// Fields this backend cannot fill: inode numbers are only known to
/// inotify's handler.
pub const UNFILLED_FIELDS: &[&str] = &["i_ino", "i_ino_dir"];

use crate::procfs::NotifyKind;

/// Where inotify/fanotify allocate their events (the tracee side); which of
/// them holds the call depends on the build's inlining.
const ALLOC_FUNCS: &[(&str, NotifyKind)] = &[
    ("inotify_handle_inode_event", NotifyKind::Inotify),
    ("inotify_handle_event", NotifyKind::Inotify), // before Linux 5.11
    ("fanotify_handle_event", NotifyKind::Fanotify),
    ("fanotify_alloc_event", NotifyKind::Fanotify),
    ("fanotify_alloc_path_event", NotifyKind::Fanotify),
    ("fanotify_alloc_perm_event", NotifyKind::Fanotify),
    ("fanotify_alloc_fid_event", NotifyKind::Fanotify),
    ("fanotify_alloc_name_event", NotifyKind::Fanotify),
];

/// Where events may be freed, and what a free there means.
const FREE_FUNCS: &[(&str, fsgt_free_class)] = &[
    // The tracer's read copied the event out (the free path inlined).
    ("inotify_read", fsgt_free_class::FSGT_FREE_READ),
    ("fanotify_read", fsgt_free_class::FSGT_FREE_READ),
    // The tracee's handler: merged, dropped on overflow, a permission answer.
    ("inotify_handle_inode_event", fsgt_free_class::FSGT_FREE_HANDLER),
    ("inotify_handle_event", fsgt_free_class::FSGT_FREE_HANDLER),
    ("fanotify_handle_event", fsgt_free_class::FSGT_FREE_HANDLER),
    ("fanotify_get_response", fsgt_free_class::FSGT_FREE_HANDLER),
    // Shared paths (not inlined on some builds), flushes and cancelled
    // permission requests (freed by the tracer's answer or close).
    ("inotify_free_event", fsgt_free_class::FSGT_FREE_OTHER),
    ("fanotify_free_event", fsgt_free_class::FSGT_FREE_OTHER),
    ("fanotify_free_path_event", fsgt_free_class::FSGT_FREE_OTHER),
    ("fanotify_free_perm_event", fsgt_free_class::FSGT_FREE_OTHER),
    ("fanotify_free_fid_event", fsgt_free_class::FSGT_FREE_OTHER),
    ("fanotify_free_name_event", fsgt_free_class::FSGT_FREE_OTHER),
    ("fsnotify_destroy_event", fsgt_free_class::FSGT_FREE_OTHER),
    ("fanotify_write", fsgt_free_class::FSGT_FREE_OTHER),
    ("fsnotify_flush_notify", fsgt_free_class::FSGT_FREE_OTHER),
    // Where a group is torn down, its queue flushed and the group itself freed (the last
    // put may be inlined in any of them): user space forgets what it cached of its address.
    // The group's kfree is a tail call of a tail call on some builds: its call site is then
    // the release that closed the group's last fd.
    ("inotify_release", fsgt_free_class::FSGT_FREE_GROUP),
    ("fanotify_release", fsgt_free_class::FSGT_FREE_GROUP),
    ("fsnotify_destroy_group", fsgt_free_class::FSGT_FREE_GROUP),
    ("fsnotify_put_group", fsgt_free_class::FSGT_FREE_GROUP),
    ("fsnotify_final_destroy_group", fsgt_free_class::FSGT_FREE_GROUP),
];

const MAX_ALLOC_RANGES: usize = 8;
const MAX_FREE_RANGES: usize = 24;

/// The call-site ranges and read functions this kernel has.
struct Sites {
    allocs: Vec<(Range, u32)>,
    frees: Vec<(Range, u32)>,
    inotify_read: u64,
    fanotify_read: u64,
    /// bpf_rdonly_cast (Linux 6.2): kernel objects are read with plain
    /// loads, which lockdown=confidentiality allows.
    rdonly_cast: bool,
}

impl Sites {
    fn find() -> Result<Sites> {
        let mut wanted: Vec<&str> = ALLOC_FUNCS.iter().map(|(name, _)| *name).chain(FREE_FUNCS.iter().map(|(name, _)| *name)).collect();
        wanted.push("bpf_rdonly_cast");
        let k = Kallsyms::read(&wanted).context("reading /proc/kallsyms")?;
        if k.addresses_hidden() {
            bail!("/proc/kallsyms hides addresses (needs root and kptr_restrict < 2)");
        }
        let mut allocs = Vec::new();
        for (name, kind) in ALLOC_FUNCS {
            allocs.extend(k.ranges(name).into_iter().map(|r| (r, kind.raw())));
        }
        let mut frees = Vec::new();
        for (name, class) in FREE_FUNCS {
            frees.extend(k.ranges(name).into_iter().map(|r| (r, class.0)));
        }
        if !allocs.iter().any(|r| r.1 == NotifyKind::Inotify.raw()) || !allocs.iter().any(|r| r.1 == NotifyKind::Fanotify.raw()) {
            bail!("/proc/kallsyms lacks inotify_handle_inode_event or fanotify_handle_event");
        }
        if allocs.len() > MAX_ALLOC_RANGES || frees.len() > MAX_FREE_RANGES {
            bail!("too many call-site ranges ({} alloc, {} free)", allocs.len(), frees.len());
        }
        let start = |name: &str| k.ranges(name).first().map(|r| r.start);
        let (Some(inotify_read), Some(fanotify_read)) = (start("inotify_read"), start("fanotify_read")) else {
            bail!("/proc/kallsyms lacks inotify_read or fanotify_read");
        };
        Ok(Sites { allocs, frees, inotify_read, fanotify_read, rdonly_cast: k.has("bpf_rdonly_cast") })
    }
}

fn hull(ranges: &[(Range, u32)]) -> (u64, u64) {
    let lo = ranges.iter().map(|r| r.0.start).min().unwrap_or(0);
    let hi = ranges.iter().map(|r| r.0.end).max().unwrap_or(0);
    (lo, hi)
}

pub struct TracepointTracer {
    skel: TracepointSkel<'static>,
    _links: Vec<Link>,
    ring: DecodedRing<Record>,
    /// The records' clock, for the times of the groups torn down.
    clock: Clock,
}

/// For the benchmark: the backend's slab programs attached with nothing to
/// do (they return at once), to measure what being attached to those
/// tracepoints costs by itself. Detached on drop.
pub struct HooksOnly {
    _skel: TracepointSkel<'static>,
    _links: Vec<Link>,
}

pub fn attach_hooks_only() -> Result<HooksOnly> {
    let skel = load(&Filters::default(), true)?;
    let links = attach_slab(&skel)?;
    Ok(HooksOnly { _skel: skel, _links: links })
}

/// Attaches the slab programs, frees before allocations so that no recorded
/// allocation misses its end.
fn attach_slab(skel: &TracepointSkel<'static>) -> Result<Vec<Link>> {
    let p = &skel.progs;
    let mut links = Vec::new();
    for (prog, tp) in [(&p.tp_free, "kfree"), (&p.tp_free, "kmem_cache_free"), (&p.tp_alloc, "kmalloc"), (&p.tp_alloc, "kmem_cache_alloc")] {
        links.push(prog.attach_raw_tracepoint(tp).map_err(|e| anyhow!("attaching the {tp} tracepoint: {e}{}", super::libbpf_tail()))?);
    }
    Ok(links)
}

/// Loads the programs with the filters and this kernel's call sites set.
fn load(filters: &Filters, hooks_only: bool) -> Result<TracepointSkel<'static>> {
    let sites = Sites::find()?;
    // The skeleton borrows its object storage for as long as it lives: for
    // the whole run.
    let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
    let mut open = TracepointSkelBuilder::default().open(storage).context("opening the BPF object")?;
    let rodata = open.maps.rodata_data.as_deref_mut().ok_or_else(|| anyhow!("BPF object has no .rodata"))?;
    rodata.want_kinds = filters.kinds();
    rodata.tracee_pid = filters.tracee_pid.unwrap_or(0);
    rodata.tracer_pid = filters.tracer_pid.unwrap_or(0);
    rodata.self_pid = filters.self_pid();
    rodata.tracee_cgroup = filters.tracee_cgroup.unwrap_or(0);
    rodata.tracer_cgroup = filters.tracer_cgroup.unwrap_or(0);
    rodata.tracee_comm = Filters::comm_bytes(&filters.tracee_comm);
    rodata.tracer_comm = Filters::comm_bytes(&filters.tracer_comm);
    rodata.tracer_group = filters.tracer_group.unwrap_or(0);
    rodata.hooks_only = hooks_only;
    rodata.probe_read = !sites.rdonly_cast;
    for (i, (r, kind)) in sites.allocs.iter().enumerate() {
        rodata.alloc_start[i] = r.start;
        rodata.alloc_end[i] = r.end;
        rodata.alloc_kind[i] = *kind;
    }
    (rodata.alloc_lo, rodata.alloc_hi) = hull(&sites.allocs);
    for (i, (r, class)) in sites.frees.iter().enumerate() {
        rodata.free_start[i] = r.start;
        rodata.free_end[i] = r.end;
        rodata.free_class[i] = *class;
    }
    (rodata.free_lo, rodata.free_hi) = hull(&sites.frees);
    rodata.inotify_read_addr = sites.inotify_read;
    rodata.fanotify_read_addr = sites.fanotify_read;
    let how = if sites.rdonly_cast {
        "bpf_core_cast"
    } else {
        "bpf_probe_read_kernel (this kernel has no bpf_rdonly_cast; lockdown=confidentiality would refuse it)"
    };
    open.load().map_err(|e| anyhow!("loading the tracepoint programs (reading kernel objects with {how}): {e}{}", super::libbpf_tail()))
}

impl TracepointTracer {
    pub fn open(filters: &Filters) -> Result<TracepointTracer> {
        let skel = load(filters, false)?;
        let mut links = Vec::new();
        for prog in [&skel.progs.tp_exit, &skel.progs.tp_waking] {
            links.push(prog.attach().map_err(|e| anyhow!("attaching {}: {e}{}", prog.name().to_string_lossy(), super::libbpf_tail()))?);
        }
        links.extend(attach_slab(&skel)?);
        let clock = Clock::now();
        let mounts = std::cell::RefCell::new(super::handle::Mounts::default());
        let ring = DecodedRing::new(&skel.maps.events, move |raw: &[u8]| super::handle::decode_record(raw, clock, &mut mounts.borrow_mut()))?;
        Ok(TracepointTracer { skel, _links: links, ring, clock })
    }
}

impl Tracer for TracepointTracer {
    fn name(&self) -> &'static str {
        "tracepoint"
    }

    fn poll(&mut self, timeout: Duration, out: &mut Vec<Record>) -> Result<bool> {
        let (records, more) = self.ring.poll(timeout)?;
        out.extend(records);
        Ok(more)
    }

    fn lost(&self) -> Lost {
        let bss = self.skel.maps.bss_data.as_deref();
        let at = |s: u32| bss.map_or(0, |b| crate::boundary::read_counter(&b.stats[s as usize]));
        use super::kernel::skel::types::fsg_stat;
        Lost {
            ringbuf: at(fsg_stat::FSG_STAT_RINGBUF_DROPS.0),
            untracked: at(fsg_stat::FSG_STAT_PENDING_FULL.0),
            undecodable: self.ring.undecodable(),
            discarded: Default::default(),
        }
    }

    fn take_lost_by_group(&self) -> Vec<(u64, u64)> {
        super::take_counts(&self.skel.maps.lost_by_group)
    }

    fn take_groups_gone(&self) -> Vec<(u64, u64)> {
        super::take_counts(&self.skel.maps.groups_gone).into_iter().map(|(g, at)| (g, self.clock.to_epoch_ns(at))).collect()
    }

    fn tables(&self) -> Vec<TableUse> {
        let m = &self.skel.maps;
        vec![map_use("allocs", &m.allocs), map_use("waiting", &m.waiting)]
    }
}

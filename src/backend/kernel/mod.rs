//! The fentry and kprobe backends: one BPF object (bpf/kernel.bpf.c) with
//! both families of programs; only the chosen family is loaded.

pub mod decode;
pub mod perm_paths;

#[allow(clippy::all, non_camel_case_types, dead_code)]
pub(crate) mod skel {
    include!(concat!(env!("OUT_DIR"), "/kernel.skel.rs"));
}

// SAFETY: generated from kernel_event.h and proc_info.h: integers and arrays.
unsafe impl crate::boundary::Plain for skel::types::fsg_event {}

use std::mem::MaybeUninit;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, OpenObject};

use super::{map_use, Clock, DecodedRing, Filters, Lost, TableUse, Tracer};
use crate::kallsyms::Kallsyms;
use crate::model::Record;
use skel::types::fsg_stat;
use skel::{KernelSkel, KernelSkelBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Fentry,
    Kprobe,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Fentry => "fentry",
            Family::Kprobe => "kprobe",
        }
    }
}

/// The kernel functions hooked, under the first name this kernel has.
#[derive(Debug, PartialEq, Eq)]
struct Targets {
    inotify_handle: &'static str,
    fanotify_handle: &'static str,
    insert: &'static str,
    remove: &'static str,
    destroy: &'static str,
    /// Called by inotify's and fanotify's read after each event they copied out.
    peek: &'static str,
    inotify_read: &'static str,
    fanotify_read: &'static str,
}

fn first_present(k: &Kallsyms, names: &[&'static str]) -> Result<&'static str> {
    names
        .iter()
        .copied()
        .find(|n| k.has(n))
        .ok_or_else(|| anyhow!("the kernel has none of {}", names.join(", ")))
}

// Linux 5.11 renamed inotify's handler; the older one takes other arguments,
// so inode numbers are only known where the new one exists.
const INOTIFY_HANDLE: &[&str] = &["inotify_handle_inode_event"];
const FANOTIFY_HANDLE: &[&str] = &["fanotify_handle_event"];
/// Where a group is torn down, in every kernel this runs on.
const GROUP_GONE: &str = "fsnotify_destroy_group";
// Linux 5.16 renamed fsnotify_add_event.
const INSERT: &[&str] = &["fsnotify_insert_event", "fsnotify_add_event"];
const REMOVE: &[&str] = &["fsnotify_remove_first_event"];
const DESTROY: &[&str] = &["fsnotify_destroy_event"];
const PEEK: &[&str] = &["fsnotify_peek_first_event"];
const INOTIFY_READ: &[&str] = &["inotify_read"];
const FANOTIFY_READ: &[&str] = &["fanotify_read"];

/// The function `--backend auto` attaches a test fentry program to
/// ([`super::probe::fentry`]): one of the hooks, present in every kernel the tool runs on.
pub const PROBED_FUNCTION: &str = DESTROY[0];

impl Targets {
    /// The names of Linux 5.16 and later. Tried first, they spare reading /proc/kallsyms,
    /// which the kernel formats anew at each read: 60 ms on a native 6.18 kernel, 0.67 s of a
    /// Debian 6.12 guest under TCG, for every start.
    fn newest() -> Targets {
        Targets {
            inotify_handle: INOTIFY_HANDLE[0],
            fanotify_handle: FANOTIFY_HANDLE[0],
            insert: INSERT[0],
            remove: REMOVE[0],
            destroy: DESTROY[0],
            peek: PEEK[0],
            inotify_read: INOTIFY_READ[0],
            fanotify_read: FANOTIFY_READ[0],
        }
    }

    /// The names this kernel has, from /proc/kallsyms.
    fn find() -> Result<Targets> {
        let wanted = [INOTIFY_HANDLE, FANOTIFY_HANDLE, INSERT, REMOVE, DESTROY, PEEK, INOTIFY_READ, FANOTIFY_READ].concat();
        let k = Kallsyms::read(&wanted).context("reading /proc/kallsyms")?;
        Ok(Targets {
            inotify_handle: first_present(&k, INOTIFY_HANDLE)?,
            fanotify_handle: first_present(&k, FANOTIFY_HANDLE)?,
            insert: first_present(&k, INSERT)?,
            remove: first_present(&k, REMOVE)?,
            destroy: first_present(&k, DESTROY)?,
            peek: first_present(&k, PEEK)?,
            inotify_read: first_present(&k, INOTIFY_READ)?,
            fanotify_read: first_present(&k, FANOTIFY_READ)?,
        })
    }
}

pub struct KernelTracer {
    family: Family,
    skel: KernelSkel<'static>,
    _links: Vec<Link>,
    ring: DecodedRing<Record>,
    /// The records' clock, for the times of the groups torn down.
    clock: Clock,
    /// What the caller should tell the user about how it runs.
    pub notes: Vec<String>,
}

impl KernelTracer {
    pub fn open(family: Family, filters: &Filters) -> Result<KernelTracer> {
        let newest = Targets::newest();
        match Self::open_with(family, filters, &newest) {
            Ok(tracer) => Ok(tracer),
            // An older kernel may name a hook otherwise: look the names up, and try again only
            // with other names (with the same ones, the first error is the one that tells).
            Err(first) => match Targets::find() {
                Ok(found) if found != newest => Self::open_with(family, filters, &found),
                _ => Err(first),
            },
        }
    }

    fn open_with(family: Family, filters: &Filters, targets: &Targets) -> Result<KernelTracer> {
        // The skeleton borrows its object storage for as long as it lives:
        // for the whole run.
        let storage: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = KernelSkelBuilder::default().open(storage).context("opening the BPF object")?;
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

        let fentry = family == Family::Fentry;
        let p = &mut open.progs;
        for prog in [
            &mut p.fentry_inotify_handle,
            &mut p.fentry_fanotify_handle,
            &mut p.fentry_insert,
            &mut p.fexit_remove,
            &mut p.fentry_destroy,
            &mut p.fentry_peek,
            &mut p.fentry_inotify_read,
            &mut p.fentry_fanotify_read,
            &mut p.fentry_group_gone,
        ] {
            prog.set_autoload(fentry);
        }
        for prog in [
            &mut p.kprobe_inotify_handle,
            &mut p.kprobe_insert,
            &mut p.kprobe_remove,
            &mut p.kretprobe_remove,
            &mut p.kprobe_destroy,
            &mut p.kprobe_peek,
            &mut p.kprobe_read_start,
            &mut p.kprobe_group_gone,
        ] {
            prog.set_autoload(!fentry);
        }
        // Loaded in both modes: before Linux 6.5, trampolines take at most six
        // arguments and fanotify_handle_event has eight, so the fentry mode
        // may need this one kprobe.
        p.kprobe_fanotify_handle.set_autoload(true);
        p.thread_exit.set_autoload(true);
        if fentry {
            p.fentry_inotify_handle.set_attach_target(0, Some(targets.inotify_handle.to_string()))?;
            p.fentry_fanotify_handle.set_attach_target(0, Some(targets.fanotify_handle.to_string()))?;
            p.fentry_insert.set_attach_target(0, Some(targets.insert.to_string()))?;
            p.fexit_remove.set_attach_target(0, Some(targets.remove.to_string()))?;
            p.fentry_destroy.set_attach_target(0, Some(targets.destroy.to_string()))?;
            p.fentry_peek.set_attach_target(0, Some(targets.peek.to_string()))?;
            p.fentry_inotify_read.set_attach_target(0, Some(targets.inotify_read.to_string()))?;
            p.fentry_fanotify_read.set_attach_target(0, Some(targets.fanotify_read.to_string()))?;
            p.fentry_group_gone.set_attach_target(0, Some(GROUP_GONE.to_string()))?;
        }
        let skel = open.load().map_err(|e| load_error(family, e))?;

        // Attach the end of an event's life first, so nothing recorded by a
        // later hook can miss its removal; and what sends a staged record
        // (the peek) and discards one (a read's start) before what stages it.
        let mut links = Vec::new();
        let mut notes = Vec::new();
        let p = &skel.progs;
        let attach_err = |e: libbpf_rs::Error| attach_error(family, e);
        if fentry {
            for prog in [
                &p.fentry_group_gone,
                &p.fentry_destroy,
                &p.fentry_peek,
                &p.fentry_inotify_read,
                &p.fentry_fanotify_read,
                &p.fexit_remove,
                &p.fentry_insert,
                &p.fentry_inotify_handle,
            ] {
                links.push(prog.attach().map_err(attach_err)?);
            }
            match p.fentry_fanotify_handle.attach() {
                Ok(link) => links.push(link),
                Err(fentry_err) => match p.kprobe_fanotify_handle.attach_kprobe(false, targets.fanotify_handle) {
                    Ok(link) => links.push(link),
                    Err(kprobe_err) => notes.push(format!(
                        "warning: fanotify events reported by file handle (FID) will have no path: \
                         {} takes neither an fentry ({fentry_err}) nor a kprobe ({kprobe_err})",
                        targets.fanotify_handle
                    )),
                },
            }
        } else {
            links.push(p.kprobe_group_gone.attach_kprobe(false, GROUP_GONE).map_err(attach_err)?);
            links.push(p.kprobe_destroy.attach_kprobe(false, targets.destroy).map_err(attach_err)?);
            links.push(p.kprobe_peek.attach_kprobe(false, targets.peek).map_err(attach_err)?);
            links.push(p.kprobe_read_start.attach_kprobe(false, targets.inotify_read).map_err(attach_err)?);
            links.push(p.kprobe_read_start.attach_kprobe(false, targets.fanotify_read).map_err(attach_err)?);
            links.push(p.kretprobe_remove.attach_kprobe(true, targets.remove).map_err(attach_err)?);
            links.push(p.kprobe_remove.attach_kprobe(false, targets.remove).map_err(attach_err)?);
            links.push(p.kprobe_insert.attach_kprobe(false, targets.insert).map_err(attach_err)?);
            links.push(p.kprobe_inotify_handle.attach_kprobe(false, targets.inotify_handle).map_err(attach_err)?);
            links.push(p.kprobe_fanotify_handle.attach_kprobe(false, targets.fanotify_handle).map_err(attach_err)?);
        }

        links.push(p.thread_exit.attach().map_err(|e| anyhow!("attaching the thread-exit tracepoint: {e}{}", super::libbpf_tail()))?);

        let clock = Clock::now();
        let mounts = std::cell::RefCell::new(crate::backend::handle::Mounts::default());
        let perm_paths = std::cell::RefCell::new(perm_paths::PermPaths::default());
        let ring = DecodedRing::new(&skel.maps.events, move |raw: &[u8]| {
            let mut r = crate::backend::handle::decode_record(raw, clock, &mut mounts.borrow_mut())?;
            perm_paths.borrow_mut().join(raw, &mut r);
            Ok::<_, decode::DecodeError>(r)
        })?;
        Ok(KernelTracer { family, skel, _links: links, ring, clock, notes })
    }
}

/// The lockdown level the kernel enforces (`none`, `integrity`, `confidentiality`),
/// when securityfs is mounted.
pub(crate) fn lockdown() -> Option<String> {
    let text = std::fs::read_to_string("/sys/kernel/security/lockdown").ok()?;
    text.split_whitespace().find(|w| w.starts_with('[')).map(|w| w.trim_matches(['[', ']']).to_string())
}

fn load_error(family: Family, e: libbpf_rs::Error) -> anyhow::Error {
    if lockdown().as_deref() == Some("confidentiality") {
        return anyhow!(
            "kernel lockdown=confidentiality refuses bpf_probe_read_kernel, which the {} programs need: {e}{}",
            family.name(),
            super::libbpf_tail()
        );
    }
    let hint = match (family, e.kind()) {
        (Family::Fentry, libbpf_rs::ErrorKind::PermissionDenied) => {
            "this kernel refuses fentry/fexit programs (no BPF trampolines, or lockdown)"
        }
        (Family::Fentry, _) => "fentry/fexit programs did not load (does the kernel have BPF trampolines?)",
        (Family::Kprobe, libbpf_rs::ErrorKind::PermissionDenied) => {
            "the verifier refused bpf_probe_read_kernel (kernel lockdown=confidentiality?)"
        }
        (Family::Kprobe, _) => "kprobe programs did not load",
    };
    anyhow!("{hint}: {e}{}", super::libbpf_tail())
}

fn attach_error(family: Family, e: libbpf_rs::Error) -> anyhow::Error {
    let hint = match family {
        Family::Fentry => "fentry/fexit programs loaded but did not attach".to_string(),
        Family::Kprobe if e.kind() == libbpf_rs::ErrorKind::PermissionDenied => perf_refused(read_paranoid()),
        Family::Kprobe => "kprobes did not attach (is the kernel built without CONFIG_KPROBES?)".to_string(),
    };
    anyhow!("{hint}: {e}{}", super::libbpf_tail())
}

fn read_paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").ok()?.trim().parse().ok()
}

/// Why the kernel refused the perf events kprobes are attached through, with
/// CAP_PERFMON at hand: Debian's and Ubuntu's kernels leave perf_event_open to
/// CAP_SYS_ADMIN alone when kernel.perf_event_paranoid is above 2 (their
/// default is 3), where fentry and the tracepoint backend need no perf event.
fn perf_refused(paranoid: Option<i32>) -> String {
    match paranoid {
        Some(level) if level > 2 => format!(
            "the kernel refused the kprobes' perf events: kernel.perf_event_paranoid is {level}, which leaves perf_event_open \
             to CAP_SYS_ADMIN alone (Debian's and Ubuntu's kernels); add CAP_SYS_ADMIN, set kernel.perf_event_paranoid=2, \
             or use --backend fentry or tracepoint"
        ),
        _ => "the kernel refused the kprobes' perf events (CAP_PERFMON missing?)".to_string(),
    }
}

impl Tracer for KernelTracer {
    fn name(&self) -> &'static str {
        self.family.name()
    }

    fn poll(&mut self, timeout: Duration, out: &mut Vec<Record>) -> Result<bool> {
        let (records, more) = self.ring.poll(timeout)?;
        out.extend(records);
        Ok(more)
    }

    fn lost(&self) -> Lost {
        let bss = self.skel.maps.bss_data.as_deref();
        // The counters live in the mmapped .bss, which the kernel updates atomically.
        let at = |s: fsg_stat| bss.map_or(0, |b| crate::boundary::read_counter(&b.stats[s.0 as usize]));
        Lost {
            ringbuf: at(fsg_stat::FSG_STAT_RINGBUF_DROPS),
            untracked: at(fsg_stat::FSG_STAT_PENDING_FULL)
                + at(fsg_stat::FSG_STAT_STASH_FULL)
                + at(fsg_stat::FSG_STAT_STAGED_FULL),
            undecodable: self.ring.undecodable(),
            discarded: super::Discarded {
                at_close: at(fsg_stat::FSG_STAT_DISCARDED_CLOSE),
                copy_failed: at(fsg_stat::FSG_STAT_DISCARDED_COPY),
            },
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
        vec![
            // handler_stash is task storage: one entry per thread that ever
            // queued, freed with it, and not listable from user space.
            map_use("pending", &m.pending),
            map_use("queued_paths", &m.queued_paths),
            map_use("remove_args", &m.remove_args),
            staged_use(&m.staged),
        ]
    }
}

/// How many threads have a record staged (an entry stays, empty, for each thread
/// that reads): once the machine is quiet, none should.
fn staged_use(map: &dyn libbpf_rs::MapCore) -> TableUse {
    let full = map
        .keys()
        .filter_map(|k| map.lookup(&k, libbpf_rs::MapFlags::ANY).ok().flatten())
        .filter(|v| {
            let at = std::mem::offset_of!(skel::types::staged, full);
            v.get(at..at + 4).is_some_and(|b| b != [0; 4])
        })
        .count();
    TableUse { name: "staged", entries: full, capacity: map.max_entries() as usize }
}

//! `fsnotify-gadget list`: every inotify and fanotify instance on the machine.
//!
//! Sources, all readable without kprobes:
//! - `/proc/PID/fd` links (`anon_inode:inotify`, `anon_inode:[fanotify]`) find
//!   the notify fds, and `/proc/PID/fdinfo/FD` their watches, marks and
//!   fanotify flags ([`crate::procfs`]);
//! - a `task_file` BPF iterator ([`crate::procfs::iter`]) reads each such
//!   file's `private_data`: the `struct fsnotify_group` address the tracer prints.
//!
//! An instance (an open file description) held through several fds or by
//! several processes (dup, fork) is one row: fds are grouped by their group
//! address, or, when the iterator is unavailable, by `kcmp(KCMP_FILE)`.
//!
//! Here: gathering the instances. [`group`] de-duplicates fds, [`watches`]
//! builds the `--watches` rows, [`summary`] the per-user totals; [`columns`]
//! and [`json`] print them, one file per format.

mod columns;
mod covers;
mod group;
mod inventory;
mod json;
mod summary;
mod watches;

pub use inventory::{inventory, Inventory, TopHolder, UserUse};

use std::collections::HashMap;
use std::io::{self, Write};

use anyhow::Result;

use crate::output::Format;
use crate::procfs::{iter, resolve, NotifyFd};
use group::{group_fds, kcmp_same_file};
use summary::Summary;

/// What to list and how (`fsnotify-gadget list`'s flags).
#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    /// Only this process's instances.
    pub pid: Option<u32>,
    /// Also every watch and mark, with its path.
    pub watches: bool,
    /// Instead: the watches and marks that cover this path.
    pub path: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Default)]
struct ProcInfo {
    pub(super) comm: Vec<u8>,
    pub(super) uid: Option<u32>,
    pub(super) user: Option<String>,
    pub(super) mntns: Option<u64>,
    /// Its container and pod; None on the host.
    pub(super) container: Option<std::sync::Arc<crate::containers::Container>>,
}

fn proc_info(pid: u32, names: &mut crate::names::Names) -> Option<ProcInfo> {
    let comm = crate::procfs::comm(pid)?;
    let uid = crate::procfs::uid(pid);
    let user = uid.and_then(|u| names.user(u)).map(|u| u.to_string());
    let mntns = crate::procfs::mntns(pid);
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let container = names.containers().lookup_proc(&cgroup, mntns.unwrap_or(0));
    Some(ProcInfo { comm, uid, user, mntns, container })
}

impl ProcInfo {
    /// The CONTAINER column: the container's name (else its id's first 12 digits), `-` on the host.
    pub(super) fn container_text(&self) -> String {
        self.container.as_ref().map_or_else(|| "-".into(), |c| c.label().to_string())
    }

    /// The POD column: `NAMESPACE/POD`, `-` outside Kubernetes.
    pub(super) fn pod_text(&self) -> String {
        let k8s = self.container.as_ref().and_then(|c| c.k8s.as_ref());
        match k8s.map(|k| (k.namespace.as_deref(), k.pod.as_deref())) {
            Some((ns, Some(pod))) => format!("{}/{pod}", ns.unwrap_or("?")),
            _ => "-".into(),
        }
    }
}

/// An instance as listed: its fds, the one shown first, and what is known.
struct Instance<'a> {
    pub(super) fds: Vec<&'a NotifyFd>,
    /// The holder the row shows (the --pid process, else the lowest pid).
    pub(super) primary: &'a NotifyFd,
}

pub fn run(args: &Options) -> Result<()> {
    // Other users' fdinfo needs root-like rights, the iterator CAP_BPF and
    // CAP_PERFMON. A kernel without BTF is not fatal: only the address is lost.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let missing = crate::privileges::missing(crate::privileges::effective_caps(&status).unwrap_or(0));
    if !missing.is_empty() {
        anyhow::bail!(
            "missing {} (or CAP_SYS_ADMIN): `list` reads every process's fdinfo and runs a BPF iterator; run it as root, e.g. `sudo fsnotify-gadget list`",
            missing.join(" and ")
        );
    }
    let mut out = io::BufWriter::new(io::stdout().lock());
    list(args, &mut out)?;
    out.flush()?;
    Ok(())
}

/// Every notify fd on the machine with what is known of it and its holder, grouped into
/// instances: what `list` prints and [`inventory`] sums up.
struct Gathered {
    fds: Vec<NotifyFd>,
    procs: HashMap<u32, ProcInfo>,
    /// Indexes into `fds`, one group per instance.
    groups: Vec<Vec<usize>>,
    /// What the reader should know about how complete it is.
    notes: Vec<String>,
    /// The kernel's own per-user counts, when its task iterator ran.
    kernel: Option<HashMap<u32, iter::KernelCounts>>,
}

/// Scans every process: other holders of an instance and its user's totals are part of
/// any answer, even one about a single process.
fn gather() -> Gathered {
    let mut fds = crate::procfs::scan_notify_fds(None);
    let iter_result = match std::env::var_os("FSG_LIST_NO_ITER") {
        // For tests of the fallback (kcmp de-duplication, empty addresses).
        Some(_) => Err(anyhow::anyhow!("disabled by FSG_LIST_NO_ITER")),
        None => iter::notify_files(),
    };
    let mut notes = Vec::new();
    match &iter_result {
        Ok(seen) => {
            for f in &mut fds {
                if let Some(s) = seen.get(&(f.pid, f.fd)) {
                    if s.kind.is_none_or(|k| k == f.kind) {
                        f.group = Some(s.group);
                    }
                }
            }
        }
        Err(e) => notes.push(format!("FSNOTIFY_GROUP is empty: the task_file iterator is unavailable: {e:#}")),
    }

    // Drop processes that exited meanwhile.
    let mut names = crate::names::Names::default();
    let mut procs: HashMap<u32, ProcInfo> = HashMap::new();
    for f in &fds {
        if let std::collections::hash_map::Entry::Vacant(e) = procs.entry(f.pid) {
            if let Some(p) = proc_info(f.pid, &mut names) {
                e.insert(p);
            }
        }
    }
    fds.retain(|f| procs.contains_key(&f.pid));

    let (groups, kcmp_failed) = group_fds(&fds, kcmp_same_file);
    if kcmp_failed {
        notes.push("kcmp(KCMP_FILE) failed: fds without a group address are not de-duplicated".into());
    }
    // Right after the scan, so that the two describe the same moment.
    let kernel = match iter::user_counts() {
        Ok(k) => Some(k),
        Err(e) => {
            notes.push(format!("the kernel's per-user counts are not shown: the task iterator is unavailable: {e:#}"));
            None
        }
    };
    Gathered { fds, procs, groups, notes, kernel }
}

/// One watch or mark that covers the `--path` target.
struct Cover<'a> {
    fd: &'a NotifyFd,
    mark: &'a crate::procfs::fdinfo::Mark,
    on: covers::On,
    gets: Vec<&'static str>,
}

/// `list --path`: every watch and mark covering the path, one row each.
fn list_covering(path: &std::path::Path, format: Format, out: &mut impl Write) -> Result<()> {
    let target = covers::Target::of(path);
    if target.dev.is_none() {
        anyhow::bail!("{}: neither it nor its directory exists", path.display());
    }
    let Gathered { fds, procs, groups, notes, .. } = gather();
    for n in &notes {
        eprintln!("fsnotify-gadget: note: {n}");
    }
    // One holder per instance: its marks are the instance's.
    let mut found = Vec::new();
    for g in &groups {
        let fd = &fds[g[0]];
        for mark in &fd.info.marks {
            if let Some(on) = target.covered_by(mark) {
                let gets = covers::events_got(fd.kind, on, mark.mask, mark.ignored_mask);
                found.push(Cover { fd, mark, on, gets });
            }
        }
    }
    found.sort_by_key(|c| (c.fd.pid, c.fd.fd, c.mark.wd));
    if found.is_empty() {
        let mut shown = String::new();
        crate::output::escape_terminal(target.path.as_os_str().as_encoded_bytes(), &mut shown);
        eprintln!("fsnotify-gadget: note: no inotify watch or fanotify mark covers {shown}: no watcher gets its events");
        return Ok(());
    }
    match format {
        Format::Json | Format::JsonPretty => json::write_covers(&target, &found, &procs, out),
        Format::Columns => columns::write_covers(&target, &found, &procs, out),
    }
}

fn list(args: &Options, out: &mut impl Write) -> Result<()> {
    if let Some(path) = &args.path {
        return list_covering(path, args.format, out);
    }
    let Gathered { fds, procs, groups, notes, kernel } = gather();
    let mut instances: Vec<Instance> = groups
        .iter()
        .filter_map(|g| {
            let members: Vec<&NotifyFd> = g.iter().map(|&i| &fds[i]).collect();
            let primary = match args.pid {
                Some(p) => *members.iter().find(|f| f.pid == p)?,
                None => members[0],
            };
            Some(Instance { fds: members, primary })
        })
        .collect();
    instances.sort_by_key(|i| (i.primary.pid, i.primary.fd));

    for n in &notes {
        eprintln!("fsnotify-gadget: note: {n}");
    }
    if let Some(p) = args.pid {
        if instances.is_empty() {
            eprintln!("fsnotify-gadget: note: process {p} holds no inotify or fanotify fd");
        }
    }

    let mut resolver = resolve::Resolver::default();
    match args.format {
        Format::Json | Format::JsonPretty => json::write_instances(args, &instances, &procs, &mut resolver, out)?,
        Format::Columns => columns::write_instances(args, &instances, &procs, &mut resolver, out)?,
    }
    let summary = Summary::new(&instances, &groups, &fds, &procs, kernel.as_ref());
    match args.format {
        Format::Json | Format::JsonPretty => json::write_summary(&summary, out)?,
        Format::Columns => columns::write_summary(&summary, out)?,
    }
    Ok(())
}

fn group_text(f: &NotifyFd) -> String {
    f.group.map_or_else(|| "-".into(), |g| format!("{g:#x}"))
}

fn user_text(p: &ProcInfo) -> String {
    match (&p.user, p.uid) {
        (Some(u), _) => u.clone(),
        (None, Some(uid)) => uid.to_string(),
        (None, None) => "?".into(),
    }
}

/// The other holders of an instance, as `pid:fd`.
fn others<'a>(i: &Instance<'a>) -> Vec<&'a NotifyFd> {
    i.fds.iter().copied().filter(|f| !std::ptr::eq(*f, i.primary)).collect()
}

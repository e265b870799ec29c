//! The `task_file` BPF iterator (bpf/task_files.bpf.c): the fsnotify_group
//! address (`file->private_data`) of every open inotify and fanotify file.

#[allow(clippy::all, non_camel_case_types, dead_code)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/task_files.skel.rs"));
}

// SAFETY: generated from task_file_rec.h: integers only.
unsafe impl crate::boundary::Plain for skel::types::fsg_task_file {}
// SAFETY: generated from task_file_rec.h: integers only.
unsafe impl crate::boundary::Plain for skel::types::fsg_user_counts {}

use std::collections::HashMap;
use std::io::Read;
use std::mem::{size_of, MaybeUninit};

use anyhow::{anyhow, Context, Result};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Iter, OpenObject};

/// C's `enum fsg_kind` (src/bpf/notify_kind.h), as the skeleton generates it.
pub use skel::types::fsg_kind;
// Public so tests and fuzz targets can build the records the iterators write.
pub use skel::types::{fsg_task_file, fsg_user_counts};
use skel::TaskFilesSkelBuilder;

use super::NotifyKind;

/// What the iterator saw of one open notify file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IterFile {
    pub group: u64,
    /// None when the kernel's read functions were not found in kallsyms and
    /// every file was reported: the caller then trusts /proc for the kind.
    pub kind: Option<NotifyKind>,
}

/// Addresses of `inotify_read` and `fanotify_read` (exact names, text
/// symbols) from kallsyms text; 0 when absent or hidden.
pub fn read_fn_addrs(kallsyms: &str) -> (u64, u64) {
    let (mut ino, mut fan) = (0, 0);
    for line in kallsyms.lines() {
        let mut parts = line.split_ascii_whitespace();
        let (Some(addr), Some(t), Some(name)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if !matches!(t, "t" | "T") || parts.next().is_some() {
            continue; // module symbols carry a [module] column: these two are built in
        }
        let slot = match name {
            "inotify_read" => &mut ino,
            "fanotify_read" => &mut fan,
            _ => continue,
        };
        if let Ok(a) = u64::from_str_radix(addr, 16) {
            *slot = a;
        }
    }
    (ino, fan)
}

/// Reads an attached iterator to its end: every record it wrote.
fn run_iter(attached: libbpf_rs::Result<libbpf_rs::Link>, what: &str) -> Result<Vec<u8>> {
    let link = attached.map_err(|e| anyhow!("attaching the {what} iterator: {e}{}", crate::backend::libbpf_tail()))?;
    let mut it = Iter::new(&link).map_err(|e| anyhow!("creating the {what} iterator: {e}"))?;
    let mut bytes = Vec::new();
    it.read_to_end(&mut bytes).with_context(|| format!("reading the {what} iterator"))?;
    Ok(bytes)
}

/// inotify_read's and fanotify_read's addresses, from /proc/kallsyms (5 MB) read once: the
/// trace runs the iterator whenever it looks a watch up, up to once a batch.
fn read_fns_once() -> (u64, u64) {
    static ADDRS: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();
    *ADDRS.get_or_init(|| std::fs::read_to_string("/proc/kallsyms").map(|t| read_fn_addrs(&t)).unwrap_or((0, 0)))
}

/// Runs the iterator once: (tgid, fd) -> what it saw.
pub fn notify_files() -> Result<HashMap<(u32, u32), IterFile>> {
    crate::backend::quiet_libbpf();
    let (ino_read, fan_read) = match std::env::var_os("FSG_LIST_NO_KALLSYMS") {
        // For tests of the path taken where kallsyms hides addresses.
        Some(_) => (0, 0),
        None => read_fns_once(),
    };
    let targeted = ino_read != 0 || fan_read != 0;

    let mut storage = MaybeUninit::<OpenObject>::uninit();
    let mut open = TaskFilesSkelBuilder::default().open(&mut storage).context("opening the BPF object")?;
    let rodata = open.maps.rodata_data.as_deref_mut().ok_or_else(|| anyhow!("BPF object has no .rodata"))?;
    rodata.inotify_read_addr = ino_read;
    rodata.fanotify_read_addr = fan_read;
    // Each iterator loads alone: one this kernel refuses does not take the other with it.
    open.progs.task_user_counts.set_autoload(false);
    let skel = open.load().map_err(|e| anyhow!("loading the task_file iterator: {e}{}", crate::backend::libbpf_tail()))?;
    let bytes = run_iter(skel.progs.task_notify_files.attach(), "task_file")?;
    Ok(task_files(&bytes, targeted))
}

/// The task_file iterator's output, `struct fsg_task_file` records back to
/// back (a cut-off last one is dropped): (tgid, fd) -> what it saw, the first
/// record of each. `targeted`: the iterator knew the read functions, so a
/// record of another kind is not a notify file.
pub fn task_files(bytes: &[u8], targeted: bool) -> HashMap<(u32, u32), IterFile> {
    let mut out = HashMap::new();
    for chunk in bytes.chunks_exact(size_of::<fsg_task_file>()) {
        let r: fsg_task_file = crate::boundary::read_prefix(chunk);
        let kind = match NotifyKind::from_raw(r.kind) {
            Some(k) => Some(k),
            None if targeted => continue,
            None => None,
        };
        out.entry((r.tgid, r.fd)).or_insert(IterFile { group: r.group, kind });
    }
    out
}

/// The kernel's own per-user counts (`struct ucounts`), summed over the user
/// namespaces a uid has one in; None where this kernel has no such count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounts {
    pub inotify_instances: Option<u64>,
    pub inotify_watches: Option<u64>,
    pub fanotify_groups: Option<u64>,
    pub fanotify_marks: Option<u64>,
}

/// Sums the task iterator's records per uid, each `struct ucounts` once.
pub fn sum_user_counts(records: &[fsg_user_counts]) -> HashMap<u32, KernelCounts> {
    let mut seen = std::collections::HashSet::new();
    let mut out: HashMap<u32, KernelCounts> = HashMap::new();
    // The counts are the kernel's, read as bytes: a sum of absurd ones stops at u64::MAX.
    let add = |slot: &mut Option<u64>, v: i64| {
        if v >= 0 {
            *slot = Some(slot.unwrap_or(0).saturating_add(v as u64));
        }
    };
    for r in records {
        if !seen.insert(r.ucounts) {
            continue;
        }
        let c = out.entry(r.uid).or_default();
        add(&mut c.inotify_instances, r.inotify_instances);
        add(&mut c.inotify_watches, r.inotify_watches);
        add(&mut c.fanotify_groups, r.fanotify_groups);
        add(&mut c.fanotify_marks, r.fanotify_marks);
    }
    out
}

/// Runs the task iterator once: what the kernel counts for each uid that has a task.
pub fn user_counts() -> Result<HashMap<u32, KernelCounts>> {
    crate::backend::quiet_libbpf();
    let mut storage = MaybeUninit::<OpenObject>::uninit();
    let mut open = TaskFilesSkelBuilder::default().open(&mut storage).context("opening the BPF object")?;
    open.progs.task_notify_files.set_autoload(false);
    let skel = open.load().map_err(|e| anyhow!("loading the task iterator: {e}{}", crate::backend::libbpf_tail()))?;
    let bytes = run_iter(skel.progs.task_user_counts.attach(), "task")?;
    Ok(user_counts_of(&bytes))
}

/// The task iterator's output, `struct fsg_user_counts` records back to back
/// (a cut-off last one is dropped), summed per uid.
pub fn user_counts_of(bytes: &[u8]) -> HashMap<u32, KernelCounts> {
    let records: Vec<fsg_user_counts> = bytes.chunks_exact(size_of::<fsg_user_counts>()).map(crate::boundary::read_prefix).collect();
    sum_user_counts(&records)
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_counts_take_each_ucounts_once_and_sum_namespaces() {
        use super::{fsg_user_counts, sum_user_counts, KernelCounts};
        let rec = |ucounts, uid, i| fsg_user_counts {
            ucounts,
            uid,
            inotify_instances: i,
            inotify_watches: 10 * i,
            fanotify_groups: 0,
            fanotify_marks: -1,
            ..Default::default()
        };
        // Two tasks of one ucounts, and uid 1000 in a second user namespace.
        let sums = sum_user_counts(&[rec(1, 1000, 3), rec(1, 1000, 3), rec(2, 1000, 2), rec(3, 0, 1)]);
        assert_eq!(
            sums[&1000],
            KernelCounts { inotify_instances: Some(5), inotify_watches: Some(50), fanotify_groups: Some(0), fanotify_marks: None }
        );
        assert_eq!(sums[&0].inotify_instances, Some(1));
        let huge = sum_user_counts(&[rec(1, 7, i64::MAX), rec(2, 7, i64::MAX), rec(3, 7, i64::MAX)]);
        assert_eq!(huge[&7].inotify_instances, Some(u64::MAX), "a sum never wraps");
    }

    use super::*;

    #[test]
    fn read_functions_are_found_by_exact_name() {
        let k = "ffffffff8172a400 t inotify_read\n\
                 ffffffff8172a300 t inotify_read.cold\n\
                 ffffffff8172e3e0 t fanotify_read\n\
                 ffffffff9000000 t fanotify_read [some_module]\n\
                 zz t inotify_read\n\
                 garbage\n";
        assert_eq!(read_fn_addrs(k), (0xffffffff8172a400, 0xffffffff8172e3e0));
        assert_eq!(read_fn_addrs(""), (0, 0));
    }
}

//! The `task_file` BPF iterator (bpf/task_files.bpf.c): the fsnotify_group
//! address (`file->private_data`) of every open inotify and fanotify file.

#[allow(clippy::all, non_camel_case_types, dead_code)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/task_files.skel.rs"));
}

// SAFETY: generated from task_file_rec.h: integers only.
unsafe impl crate::boundary::Plain for skel::types::fsg_task_file {}

use std::collections::HashMap;
use std::io::Read;
use std::mem::{size_of, MaybeUninit};

use anyhow::{anyhow, Context, Result};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Iter, OpenObject};

/// C's `enum fsg_kind` (src/bpf/notify_kind.h), as the skeleton generates it.
pub use skel::types::fsg_kind;
use skel::types::fsg_task_file;
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

/// Runs the iterator once: (tgid, fd) -> what it saw.
pub fn notify_files() -> Result<HashMap<(u32, u32), IterFile>> {
    crate::backend::quiet_libbpf();
    let (ino_read, fan_read) = match std::env::var_os("FSG_LIST_NO_KALLSYMS") {
        // For tests of the path taken where kallsyms hides addresses.
        Some(_) => (0, 0),
        None => std::fs::read_to_string("/proc/kallsyms").map(|t| read_fn_addrs(&t)).unwrap_or((0, 0)),
    };
    let targeted = ino_read != 0 || fan_read != 0;

    let mut storage = MaybeUninit::<OpenObject>::uninit();
    let mut open = TaskFilesSkelBuilder::default().open(&mut storage).context("opening the BPF object")?;
    let rodata = open.maps.rodata_data.as_deref_mut().ok_or_else(|| anyhow!("BPF object has no .rodata"))?;
    rodata.inotify_read_addr = ino_read;
    rodata.fanotify_read_addr = fan_read;
    let skel = open.load().map_err(|e| anyhow!("loading the task_file iterator: {e}{}", crate::backend::libbpf_tail()))?;
    let link = skel
        .progs
        .task_notify_files
        .attach()
        .map_err(|e| anyhow!("attaching the task_file iterator: {e}{}", crate::backend::libbpf_tail()))?;
    let mut it = Iter::new(&link).map_err(|e| anyhow!("creating the iterator: {e}"))?;
    let mut bytes = Vec::new();
    it.read_to_end(&mut bytes).context("reading the iterator")?;

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
    Ok(out)
}

#[cfg(test)]
mod tests {
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

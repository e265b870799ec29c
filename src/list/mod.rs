//! `fsnotify-gadget list`: every inotify and fanotify instance on the machine.
//!
//! Sources, all readable without kprobes:
//! - `/proc/PID/fd` links (`anon_inode:inotify`, `anon_inode:[fanotify]`) find
//!   the notify fds, and `/proc/PID/fdinfo/FD` their watches, marks and
//!   fanotify flags (parsed in [`procfs`]);
//! - a `task_file` BPF iterator ([`iter`]) reads each such file's
//!   `private_data`: the `struct fsnotify_group` address the tracer prints.
//!
//! An instance (an open file description) held through several fds or by
//! several processes (dup, fork) is one row: fds are grouped by their group
//! address, or, when the iterator is unavailable, by `kcmp(KCMP_FILE)`.

mod iter;
pub mod procfs;
mod resolve;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;

use anyhow::Result;
use clap::Args;
use serde_json::{json, Map, Value};

use crate::output::{escape_terminal, Format};
use procfs::FdInfo;

#[derive(Args)]
pub struct ListArgs {
    /// Output format: aligned columns, or one JSON object per line.
    #[arg(short = 'o', long = "output", value_enum, default_value = "columns")]
    pub output: Format,

    /// Only this process.
    #[arg(long, value_name = "PID", value_parser = crate::cli::parse_pid)]
    pub pid: Option<u32>,

    /// Also list every watch (inotify) and mark (fanotify), with its path.
    #[arg(long)]
    pub watches: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Inotify,
    Fanotify,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Inotify => "inotify",
            Kind::Fanotify => "fanotify",
        }
    }

    /// The kind of a `/proc/PID/fd/N` link target.
    pub fn of_link(target: &[u8]) -> Option<Kind> {
        match target {
            b"anon_inode:inotify" => Some(Kind::Inotify),
            b"anon_inode:[fanotify]" => Some(Kind::Fanotify),
            _ => None,
        }
    }
}

/// One notify fd of one process.
#[derive(Debug, Clone)]
pub struct NotifyFd {
    pub pid: u32,
    pub fd: u32,
    pub kind: Kind,
    pub info: FdInfo,
    /// From the iterator.
    pub group: Option<u64>,
}

#[derive(Debug, Clone, Default)]
struct ProcInfo {
    comm: Vec<u8>,
    uid: Option<u32>,
    user: Option<String>,
    mntns: Option<u64>,
}

/// Every notify fd in /proc. Processes and fds that vanish meanwhile, or
/// cannot be read, are skipped.
fn scan_fds(only: Option<u32>) -> Vec<NotifyFd> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return out };
    let me = std::process::id();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        // Not ourselves: fds inherited from whoever started us would show up twice.
        if pid == me || only.is_some_and(|o| o != pid) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        for f in fds.flatten() {
            let Some(fd) = f.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let Ok(target) = std::fs::read_link(f.path()) else { continue };
            let Some(kind) = Kind::of_link(target.as_os_str().as_bytes()) else { continue };
            let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else { continue };
            out.push(NotifyFd { pid, fd, kind, info: procfs::parse_fdinfo(&text), group: None });
        }
    }
    out.sort_by_key(|f| (f.pid, f.fd));
    out
}

fn proc_info(pid: u32, names: &mut crate::names::Names) -> Option<ProcInfo> {
    let mut comm = std::fs::read(format!("/proc/{pid}/comm")).ok()?;
    if comm.last() == Some(&b'\n') {
        comm.pop();
    }
    let uid = std::fs::read_to_string(format!("/proc/{pid}/status")).ok().and_then(|s| procfs::status_uid(&s));
    let user = uid.and_then(|u| names.user(u)).map(|u| u.to_string());
    let mntns = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok().and_then(|l| procfs::ns_id(&l.to_string_lossy()));
    Some(ProcInfo { comm, uid, user, mntns })
}

/// Whether two fds refer to the same open file description (kcmp KCMP_FILE);
/// None when kcmp fails.
fn kcmp_same_file(a: &NotifyFd, b: &NotifyFd) -> Option<bool> {
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, a.pid as libc::c_long, b.pid as libc::c_long, KCMP_FILE, a.fd as libc::c_long, b.fd as libc::c_long) };
    (r >= 0).then_some(r == 0)
}

/// Groups fds into instances (indexes into `fds`, each group sorted): by
/// group address when known; otherwise with `same_file`, tried only between
/// fds of the same kind whose marks are identical. Returns the groups and
/// whether `same_file` ever failed.
pub fn group_fds(fds: &[NotifyFd], mut same_file: impl FnMut(&NotifyFd, &NotifyFd) -> Option<bool>) -> (Vec<Vec<usize>>, bool) {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_addr: HashMap<(Kind, u64), usize> = HashMap::new();
    let mut failed = false;
    for (i, f) in fds.iter().enumerate() {
        if let Some(addr) = f.group {
            if let Some(&g) = by_addr.get(&(f.kind, addr)) {
                groups[g].push(i);
                continue;
            }
            by_addr.insert((f.kind, addr), groups.len());
            groups.push(vec![i]);
            continue;
        }
        let mut found = None;
        for (g, members) in groups.iter().enumerate() {
            let rep = &fds[members[0]];
            if rep.kind != f.kind || rep.info.marks != f.info.marks || rep.info.fa_flags != f.info.fa_flags {
                continue;
            }
            match same_file(rep, f) {
                Some(true) => {
                    found = Some(g);
                    break;
                }
                Some(false) => {}
                None => failed = true,
            }
        }
        match found {
            Some(g) => groups[g].push(i),
            None => groups.push(vec![i]),
        }
    }
    (groups, failed)
}

/// An instance as listed: its fds, the one shown first, and what is known.
struct Instance<'a> {
    fds: Vec<&'a NotifyFd>,
    /// The holder the row shows (the --pid process, else the lowest pid).
    primary: &'a NotifyFd,
}

fn read_limit(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Columns text of untrusted bytes.
fn esc(b: &[u8]) -> String {
    let mut s = String::new();
    escape_terminal(b, &mut s);
    s
}

/// A JSON string member for untrusted bytes: `key`, plus `key_hex` with the
/// exact bytes when they are not UTF-8.
fn json_bytes(obj: &mut Map<String, Value>, key: &str, b: &[u8]) {
    obj.insert(key.into(), Value::String(String::from_utf8_lossy(b).into_owned()));
    if std::str::from_utf8(b).is_err() {
        obj.insert(format!("{key}_hex"), Value::String(b.iter().map(|x| format!("{x:02x}")).collect()));
    }
}

/// Aligned columns: every column as wide as its widest cell, the last not padded.
fn table(header: &[&str], rows: &[Vec<String>], out: &mut impl Write) -> io::Result<()> {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            if i + 1 < w.len() {
                s.push_str(&format!("{c:<width$} ", width = w[i]));
            } else {
                s.push_str(c);
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    out.write_all(line(&mut header.iter().copied()).as_bytes())?;
    for r in rows {
        out.write_all(line(&mut r.iter().map(String::as_str)).as_bytes())?;
    }
    Ok(())
}

pub fn run(args: &ListArgs) -> Result<()> {
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
    match list(args, &mut out).and_then(|()| out.flush().map_err(Into::into)) {
        Err(e) if e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) => Ok(()),
        r => r,
    }
}

fn list(args: &ListArgs, out: &mut impl Write) -> Result<()> {
    // Everything is scanned even with --pid: other holders of its instances
    // and its user's totals are part of the answer.
    let mut fds = scan_fds(None);
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
    match args.output {
        Format::Json => write_json(args, &instances, &procs, &mut resolver, out)?,
        Format::Columns => write_columns(args, &instances, &procs, &mut resolver, out)?,
    }
    let summary = Summary::new(&instances, &groups, &fds, &procs);
    match args.output {
        Format::Json => summary.json(out)?,
        Format::Columns => summary.columns(out)?,
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

/// A watch's mask by name, with `IN_ALL_EVENTS` for its twelve event bits.
fn inotify_watch_mask(mask: u32) -> String {
    const IN_ALL_EVENTS: u32 = 0xfff;
    if mask & IN_ALL_EVENTS != IN_ALL_EVENTS {
        return crate::masks::inotify_mask(mask);
    }
    match mask & !IN_ALL_EVENTS {
        0 => "IN_ALL_EVENTS".into(),
        rest => format!("IN_ALL_EVENTS|{}", crate::masks::inotify_mask(rest)),
    }
}

struct WatchRow {
    pid: u32,
    fd: u32,
    kind: Kind,
    wd: Option<i32>,
    mask: String,
    ignored_mask: String,
    dev: Option<(u32, u32)>,
    ino: Option<u64>,
    path: Vec<u8>,
}

fn watch_rows(i: &Instance, resolver: &mut resolve::Resolver) -> Vec<WatchRow> {
    let f = i.primary;
    let decode = |m: u64| match f.kind {
        Kind::Inotify => inotify_watch_mask(m as u32),
        Kind::Fanotify => crate::masks::fanotify_mask(m),
    };
    let mut marks: Vec<&procfs::Mark> = f.info.marks.iter().collect();
    marks.sort_by_key(|m| m.wd);
    marks
        .into_iter()
        .map(|m| WatchRow {
            pid: f.pid,
            fd: f.fd,
            kind: f.kind,
            wd: m.wd,
            mask: decode(m.mask),
            ignored_mask: decode(m.ignored_mask),
            dev: resolver.dev(f.pid, &m.object),
            ino: match m.object {
                procfs::Object::Inode { ino, .. } => Some(ino),
                _ => None,
            },
            path: resolver.describe(f.pid, &m.object),
        })
        .collect()
}

fn write_columns(
    args: &ListArgs,
    instances: &[Instance],
    procs: &HashMap<u32, ProcInfo>,
    resolver: &mut resolve::Resolver,
    out: &mut impl Write,
) -> Result<()> {
    let header = ["PID", "COMM", "USER", "FD", "KIND", "FSNOTIFY_GROUP", "WATCHES", "MNTNS_ID", "FA_FLAGS", "FA_F_FLAGS", "HOLDERS"];
    let mut rows = Vec::new();
    for i in instances {
        let f = i.primary;
        let p = &procs[&f.pid];
        let other = others(i);
        let mut holders = (other.len() + 1).to_string();
        if !other.is_empty() {
            let list: Vec<String> = other.iter().map(|o| format!("{}:{}", o.pid, o.fd)).collect();
            holders.push_str(&format!(" (also {})", list.join(",")));
        }
        rows.push(vec![
            f.pid.to_string(),
            esc(&p.comm),
            esc(user_text(p).as_bytes()),
            f.fd.to_string(),
            f.kind.name().into(),
            group_text(f),
            f.info.marks.len().to_string(),
            p.mntns.map_or_else(|| "-".into(), |n| n.to_string()),
            f.info.fa_flags.map_or_else(|| "-".into(), crate::masks::fanotify_init_flags),
            f.info.fa_f_flags.map_or_else(|| "-".into(), |x| format!("{x:#x}")),
            holders,
        ]);
    }
    table(&header, &rows, out)?;
    if args.watches {
        let mut rows = Vec::new();
        for i in instances {
            for w in watch_rows(i, resolver) {
                rows.push(vec![
                    w.pid.to_string(),
                    w.fd.to_string(),
                    w.kind.name().into(),
                    w.wd.map_or_else(|| "-".into(), |x| x.to_string()),
                    w.mask,
                    w.ignored_mask,
                    w.dev.map_or_else(|| "-".into(), |(a, b)| format!("{a}:{b}")),
                    w.ino.map_or_else(|| "-".into(), |x| x.to_string()),
                    esc(&w.path),
                ]);
            }
        }
        writeln!(out)?;
        table(&["PID", "FD", "KIND", "WD", "MASK", "IGNORED_MASK", "DEV", "INO", "PATH"], &rows, out)?;
    }
    Ok(())
}

fn write_json(
    args: &ListArgs,
    instances: &[Instance],
    procs: &HashMap<u32, ProcInfo>,
    resolver: &mut resolve::Resolver,
    out: &mut impl Write,
) -> Result<()> {
    for i in instances {
        let f = i.primary;
        let p = &procs[&f.pid];
        let mut o = Map::new();
        o.insert("row".into(), json!("instance"));
        o.insert("pid".into(), json!(f.pid));
        json_bytes(&mut o, "comm", &p.comm);
        o.insert("user".into(), json!(user_text(p)));
        o.insert("uid".into(), json!(p.uid));
        o.insert("fd".into(), json!(f.fd));
        o.insert("kind".into(), json!(f.kind.name()));
        o.insert("fsnotify_group".into(), json!(f.group.map(|g| format!("{g:#x}"))));
        o.insert("watches".into(), json!(f.info.marks.len()));
        o.insert("mntns_id".into(), json!(p.mntns));
        if f.kind == Kind::Fanotify {
            o.insert("fa_flags".into(), json!(f.info.fa_flags));
            o.insert("fa_f_flags".into(), json!(f.info.fa_f_flags));
            o.insert("fa_flags_names".into(), json!(f.info.fa_flags.map(crate::masks::fanotify_init_flags)));
        }
        let holders: Vec<Value> = i.fds.iter().map(|h| json!({"pid": h.pid, "fd": h.fd})).collect();
        o.insert("holders".into(), Value::Array(holders));
        serde_json::to_writer(&mut *out, &o)?;
        writeln!(out)?;
        if args.watches {
            for w in watch_rows(i, resolver) {
                let mut o = Map::new();
                o.insert("row".into(), json!("watch"));
                o.insert("pid".into(), json!(w.pid));
                o.insert("fd".into(), json!(w.fd));
                o.insert("kind".into(), json!(w.kind.name()));
                o.insert("wd".into(), json!(w.wd));
                o.insert("mask".into(), json!(w.mask));
                o.insert("ignored_mask".into(), json!(w.ignored_mask));
                o.insert("dev".into(), json!(w.dev.map(|(a, b)| format!("{a}:{b}"))));
                o.insert("ino".into(), json!(w.ino));
                json_bytes(&mut o, "path", &w.path);
                serde_json::to_writer(&mut *out, &o)?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

#[derive(Default)]
struct UserTotals {
    name: String,
    inotify_instances: u64,
    inotify_watches: u64,
    fanotify_groups: u64,
    fanotify_marks: u64,
}

/// Per-user totals (over every instance on the machine, for the users of the
/// listed rows), the limits, and the listed instances with most watches.
struct Summary {
    users: BTreeMap<Option<u32>, UserTotals>,
    max_user_instances: Option<u64>,
    max_user_watches: Option<u64>,
    top: Vec<(u32, u32, Vec<u8>, Kind, usize)>,
}

impl Summary {
    fn new(instances: &[Instance], groups: &[Vec<usize>], fds: &[NotifyFd], procs: &HashMap<u32, ProcInfo>) -> Summary {
        let shown: std::collections::HashSet<Option<u32>> = instances.iter().map(|i| procs[&i.primary.pid].uid).collect();
        let mut users: BTreeMap<Option<u32>, UserTotals> = BTreeMap::new();
        for g in groups {
            // The instance counts against its first holder's (real) uid.
            let f = &fds[g[0]];
            let p = &procs[&f.pid];
            if !shown.contains(&p.uid) {
                continue;
            }
            let t = users.entry(p.uid).or_default();
            t.name = user_text(p);
            let n = f.info.marks.len() as u64;
            match f.kind {
                Kind::Inotify => {
                    t.inotify_instances += 1;
                    t.inotify_watches += n;
                }
                Kind::Fanotify => {
                    t.fanotify_groups += 1;
                    t.fanotify_marks += n;
                }
            }
        }
        let mut top: Vec<_> = instances
            .iter()
            .filter(|i| !i.primary.info.marks.is_empty())
            .map(|i| {
                let f = i.primary;
                (f.pid, f.fd, procs[&f.pid].comm.clone(), f.kind, f.info.marks.len())
            })
            .collect();
        top.sort_by(|a, b| b.4.cmp(&a.4).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        top.truncate(5);
        Summary {
            users,
            max_user_instances: read_limit("/proc/sys/fs/inotify/max_user_instances"),
            max_user_watches: read_limit("/proc/sys/fs/inotify/max_user_watches"),
            top,
        }
    }

    fn columns(&self, out: &mut impl Write) -> io::Result<()> {
        if self.users.is_empty() {
            return Ok(());
        }
        let lim = |v: Option<u64>| v.map_or_else(|| "?".into(), |v| v.to_string());
        writeln!(out)?;
        let rows: Vec<Vec<String>> = self
            .users
            .values()
            .map(|t| {
                vec![
                    esc(t.name.as_bytes()),
                    format!("{}/{}", t.inotify_instances, lim(self.max_user_instances)),
                    format!("{}/{}", t.inotify_watches, lim(self.max_user_watches)),
                    t.fanotify_groups.to_string(),
                    t.fanotify_marks.to_string(),
                ]
            })
            .collect();
        table(&["USER", "INOTIFY_INSTANCES/MAX", "INOTIFY_WATCHES/MAX", "FANOTIFY_GROUPS", "FANOTIFY_MARKS"], &rows, out)?;
        if !self.top.is_empty() {
            writeln!(out, "\nTop consumers:")?;
            let rows: Vec<Vec<String>> = self
                .top
                .iter()
                .map(|(pid, fd, comm, kind, n)| vec![pid.to_string(), esc(comm), fd.to_string(), kind.name().into(), n.to_string()])
                .collect();
            table(&["PID", "COMM", "FD", "KIND", "WATCHES"], &rows, out)?;
        }
        Ok(())
    }

    fn json(&self, out: &mut impl Write) -> Result<()> {
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|(uid, t)| {
                json!({
                    "uid": uid, "user": t.name,
                    "inotify_instances": t.inotify_instances, "inotify_watches": t.inotify_watches,
                    "fanotify_groups": t.fanotify_groups, "fanotify_marks": t.fanotify_marks,
                })
            })
            .collect();
        let top: Vec<Value> = self
            .top
            .iter()
            .map(|(pid, fd, comm, kind, n)| {
                let mut o = Map::new();
                o.insert("pid".into(), json!(pid));
                o.insert("fd".into(), json!(fd));
                json_bytes(&mut o, "comm", comm);
                o.insert("kind".into(), json!(kind.name()));
                o.insert("watches".into(), json!(n));
                Value::Object(o)
            })
            .collect();
        let v = json!({
            "row": "summary",
            "users": users,
            "max_user_instances": self.max_user_instances,
            "max_user_watches": self.max_user_watches,
            "top": top,
        });
        serde_json::to_writer(&mut *out, &v)?;
        writeln!(out)?;
        Ok(())
    }
}

/// One user's use, as `list`'s summary shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserUse {
    pub uid: Option<u32>,
    pub user: String,
    pub inotify_instances: u64,
    pub inotify_watches: u64,
    pub fanotify_groups: u64,
    pub fanotify_marks: u64,
}

/// One of the instances with most watches or marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopHolder {
    pub pid: u32,
    pub fd: u32,
    pub comm: Vec<u8>,
    pub kind: Kind,
    pub watches: usize,
}

/// What `list` sums up below its table, over every instance on the machine: each
/// user's use, the `fs.inotify` limits and the top holders (the metrics' inventory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub users: Vec<UserUse>,
    pub max_user_instances: Option<u64>,
    pub max_user_watches: Option<u64>,
    pub top: Vec<TopHolder>,
}

/// Scans the machine as `fsnotify-gadget list` does (the same steps, without
/// printing) and returns its summary.
pub fn inventory() -> Inventory {
    let mut fds = scan_fds(None);
    if let Ok(seen) = iter::notify_files() {
        for f in &mut fds {
            if let Some(s) = seen.get(&(f.pid, f.fd)) {
                if s.kind.is_none_or(|k| k == f.kind) {
                    f.group = Some(s.group);
                }
            }
        }
    }
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
    let (groups, _) = group_fds(&fds, kcmp_same_file);
    let instances: Vec<Instance> = groups
        .iter()
        .map(|g| Instance { fds: g.iter().map(|&i| &fds[i]).collect(), primary: &fds[g[0]] })
        .collect();
    let summary = Summary::new(&instances, &groups, &fds, &procs);
    Inventory {
        users: summary
            .users
            .into_iter()
            .map(|(uid, t)| UserUse {
                uid,
                user: t.name,
                inotify_instances: t.inotify_instances,
                inotify_watches: t.inotify_watches,
                fanotify_groups: t.fanotify_groups,
                fanotify_marks: t.fanotify_marks,
            })
            .collect(),
        max_user_instances: summary.max_user_instances,
        max_user_watches: summary.max_user_watches,
        top: summary.top.into_iter().map(|(pid, fd, comm, kind, watches)| TopHolder { pid, fd, comm, kind, watches }).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd(pid: u32, fd: u32, kind: Kind, group: Option<u64>, marks: &str) -> NotifyFd {
        NotifyFd { pid, fd, kind, info: procfs::parse_fdinfo(marks), group }
    }

    #[test]
    fn watch_masks_abbreviate_all_events() {
        assert_eq!(inotify_watch_mask(0xfff), "IN_ALL_EVENTS");
        assert_eq!(inotify_watch_mask(0x2), "IN_MODIFY");
        assert!(inotify_watch_mask(0x1000fff).starts_with("IN_ALL_EVENTS|"));
    }

    #[test]
    fn link_targets_name_the_kind() {
        assert_eq!(Kind::of_link(b"anon_inode:inotify"), Some(Kind::Inotify));
        assert_eq!(Kind::of_link(b"anon_inode:[fanotify]"), Some(Kind::Fanotify));
        assert_eq!(Kind::of_link(b"anon_inode:[eventfd]"), None);
        assert_eq!(Kind::of_link(b"/tmp/anon_inode:inotify"), None);
    }

    #[test]
    fn fds_group_by_address_then_by_kcmp() {
        let w = "inotify wd:1 ino:1 sdev:1 mask:1 ignored_mask:0\n";
        let fds = vec![
            fd(10, 3, Kind::Inotify, Some(0xffff1), ""),
            fd(10, 4, Kind::Inotify, Some(0xffff2), ""),
            fd(11, 3, Kind::Inotify, Some(0xffff1), ""),
            fd(12, 5, Kind::Fanotify, Some(0xffff1), ""),
            fd(20, 3, Kind::Inotify, None, w),
            fd(21, 3, Kind::Inotify, None, w),
            fd(22, 3, Kind::Inotify, None, w),
            fd(23, 3, Kind::Inotify, None, ""),
        ];
        let mut calls = 0;
        let (g, failed) = group_fds(&fds, |a, b| {
            calls += 1;
            Some((a.pid, b.pid) == (20, 21))
        });
        assert!(!failed);
        assert_eq!(g, vec![vec![0, 2], vec![1], vec![3], vec![4, 5], vec![6], vec![7]]);
        // Only fds with identical marks are compared: 21 with 20, 22 with 20, 23 with 0 and 1 (both empty).
        assert_eq!(calls, 4);
        let (g, failed) = group_fds(&fds[4..6], |_, _| None);
        assert!(failed);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn tables_align_and_do_not_pad_the_last_column() {
        let mut out = Vec::new();
        table(&["A", "BB"], &[vec!["xyz".into(), "1".into()], vec!["é".into(), "".into()]], &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A   BB\nxyz 1\né\n");
    }
}

//! `list`'s columns printer: aligned tables of the instances, their
//! watches and the summary.

use std::collections::HashMap;
use std::io::{self, Write};

use anyhow::Result;

use super::summary::Summary;
use super::watches::watch_rows;
use super::{group_text, others, user_text, Instance, Options, ProcInfo};
use crate::output::escape_terminal;
use crate::procfs::resolve;

/// Columns text of untrusted bytes.
fn esc(b: &[u8]) -> String {
    let mut s = String::new();
    escape_terminal(b, &mut s);
    s
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

pub(super) fn write_instances(
    args: &Options,
    instances: &[Instance],
    procs: &HashMap<u32, ProcInfo>,
    resolver: &mut resolve::Resolver,
    out: &mut impl Write,
) -> Result<()> {
    let header =
        ["PID", "COMM", "USER", "FD", "KIND", "FSNOTIFY_GROUP", "WATCHES", "MNTNS_ID", "CONTAINER", "POD", "FA_FLAGS", "FA_F_FLAGS", "HOLDERS"];
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
            esc(p.container_text().as_bytes()),
            esc(p.pod_text().as_bytes()),
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

pub(super) fn write_summary(summary: &Summary, out: &mut impl Write) -> io::Result<()> {
    if summary.users.is_empty() {
        return Ok(());
    }
    let lim = |v: Option<u64>| v.map_or_else(|| "?".into(), |v| v.to_string());
    writeln!(out)?;
    let rows: Vec<Vec<String>> = summary
        .users
        .values()
        .map(|t| {
            vec![
                esc(t.name.as_bytes()),
                format!("{}/{}", t.inotify_instances, lim(summary.max_user_instances)),
                format!("{}/{}", t.inotify_watches, lim(summary.max_user_watches)),
                t.fanotify_groups.to_string(),
                t.fanotify_marks.to_string(),
            ]
        })
        .collect();
    table(&["USER", "INOTIFY_INSTANCES/MAX", "INOTIFY_WATCHES/MAX", "FANOTIFY_GROUPS", "FANOTIFY_MARKS"], &rows, out)?;
    for t in summary.users.values() {
        if let (Some((instances, watches)), Some(k)) = (t.unseen(), t.kernel) {
            writeln!(
                out,
                "note: the kernel counts {} inotify instances and {} watches for {}: {instances} and {watches} more than \
                 any process's fds show (held in flight over a unix socket, or by a process this scan cannot see)",
                k.inotify_instances.unwrap_or(0),
                k.inotify_watches.unwrap_or(0),
                esc(t.name.as_bytes()),
            )?;
        }
    }
    if !summary.top.is_empty() {
        writeln!(out, "\nTop consumers:")?;
        let rows: Vec<Vec<String>> = summary
            .top
            .iter()
            .map(|(pid, fd, comm, kind, n)| vec![pid.to_string(), esc(comm), fd.to_string(), kind.name().into(), n.to_string()])
            .collect();
        table(&["PID", "COMM", "FD", "KIND", "WATCHES"], &rows, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_do_not_pad_the_last_column() {
        let mut out = Vec::new();
        table(&["A", "BB"], &[vec!["xyz".into(), "1".into()], vec!["é".into(), "".into()]], &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A   BB\nxyz 1\né\n");
    }
}

/// `list --path`: who watches the path, how, and which of its events each gets.
pub(super) fn write_covers(target: &super::covers::Target, found: &[super::Cover], procs: &HashMap<u32, ProcInfo>, out: &mut impl Write) -> Result<()> {
    writeln!(out, "Watchers of {}:", esc(target.path.as_os_str().as_encoded_bytes()))?;
    let header = ["PID", "COMM", "CONTAINER", "FD", "KIND", "FSNOTIFY_GROUP", "WD", "ON", "MASK", "GETS"];
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|c| {
            vec![
                c.fd.pid.to_string(),
                procs.get(&c.fd.pid).map_or_else(|| "?".into(), |p| esc(&p.comm)),
                procs.get(&c.fd.pid).map_or_else(|| "?".into(), |p| esc(p.container_text().as_bytes())),
                c.fd.fd.to_string(),
                c.fd.kind.name().to_string(),
                group_text(c.fd),
                c.mark.wd.map_or_else(|| "-".into(), |w| w.to_string()),
                c.on.name().to_string(),
                super::watches::mask_text(c.fd.kind, c.mark.mask),
                if c.gets.is_empty() { "(none of its events)".into() } else { c.gets.join(",") },
            ]
        })
        .collect();
    table(&header, &rows, out)?;
    Ok(())
}

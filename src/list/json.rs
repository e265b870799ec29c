//! `list`'s JSON printer: one object per instance, watch and summary line.

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;
use serde_json::{json, Map, Value};

use super::summary::Summary;
use super::watches::watch_rows;
use super::{user_text, Instance, Options, ProcInfo};
use crate::procfs::{resolve, NotifyKind as Kind};

/// A JSON string member for untrusted bytes: `key`, plus `key_hex` with the
/// exact bytes when they are not UTF-8.
fn json_bytes(obj: &mut Map<String, Value>, key: &str, b: &[u8]) {
    let (text, hex) = crate::output::json::untrusted(b);
    obj.insert(key.into(), Value::String(text.into_owned()));
    if let Some(hex) = hex {
        obj.insert(crate::output::json::hex_key(key), Value::String(hex));
    }
}

/// `"container"` and `"k8s"` as the trace's JSON nests them, `null` on the host.
fn insert_container(o: &mut Map<String, Value>, p: &ProcInfo) {
    let c = p.container.as_deref();
    o.insert("container".into(), c.map_or(Value::Null, |c| json!({"id": c.id, "name": c.name, "runtime": c.runtime, "image": c.image})));
    let k8s = c.and_then(|c| c.k8s.as_ref());
    o.insert(
        "k8s".into(),
        k8s.map_or(Value::Null, |k| json!({"namespace": k.namespace, "pod": k.pod, "container": k.container, "pod_uid": k.pod_uid})),
    );
}

pub(super) fn write_instances(
    args: &Options,
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
        insert_container(&mut o, p);
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

pub(super) fn write_summary(summary: &Summary, out: &mut impl Write) -> Result<()> {
    let users: Vec<Value> = summary
        .users
        .iter()
        .map(|(uid, t)| {
            json!({
                "uid": uid, "user": t.name,
                "inotify_instances": t.inotify_instances, "inotify_watches": t.inotify_watches,
                "fanotify_groups": t.fanotify_groups, "fanotify_marks": t.fanotify_marks,
                // The kernel's own counts (null where not known), and whether the fds differ from them.
                "kernel": t.kernel.map(|k| json!({
                    "inotify_instances": k.inotify_instances, "inotify_watches": k.inotify_watches,
                    "fanotify_groups": k.fanotify_groups, "fanotify_marks": k.fanotify_marks,
                })),
                "unseen_inotify_instances": t.unseen().map_or(0, |u| u.0),
                "unseen_inotify_watches": t.unseen().map_or(0, |u| u.1),
            })
        })
        .collect();
    let top: Vec<Value> = summary
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
        "max_user_instances": summary.max_user_instances,
        "max_user_watches": summary.max_user_watches,
        "top": top,
    });
    serde_json::to_writer(&mut *out, &v)?;
    writeln!(out)?;
    Ok(())
}

/// `list --path`: one object per watch or mark that covers the path.
pub(super) fn write_covers(target: &super::covers::Target, found: &[super::Cover], procs: &HashMap<u32, ProcInfo>, out: &mut impl Write) -> Result<()> {
    for c in found {
        let mut o = Map::new();
        o.insert("row".into(), json!("cover"));
        json_bytes(&mut o, "path", target.path.as_os_str().as_encoded_bytes());
        o.insert("pid".into(), json!(c.fd.pid));
        json_bytes(&mut o, "comm", procs.get(&c.fd.pid).map_or(&b""[..], |p| &p.comm));
        if let Some(p) = procs.get(&c.fd.pid) {
            insert_container(&mut o, p);
        }
        o.insert("fd".into(), json!(c.fd.fd));
        o.insert("kind".into(), json!(c.fd.kind.name()));
        o.insert("fsnotify_group".into(), json!(c.fd.group.map(|g| format!("{g:#x}"))));
        o.insert("wd".into(), json!(c.mark.wd));
        o.insert("on".into(), json!(c.on.name()));
        o.insert("mask".into(), json!(super::watches::mask_text(c.fd.kind, c.mark.mask)));
        o.insert("mask_raw".into(), json!(c.mark.mask));
        o.insert("gets".into(), json!(c.gets));
        serde_json::to_writer(&mut *out, &Value::Object(o))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

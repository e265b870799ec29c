//! The catalogue of record fields: their names, help text and values.
//!
//! A field has one canonical name, `tracer.comm`; `--fields` also accepts
//! `tracer_comm`, in any case. Column headers are the upper-case form with
//! `_` (`TRACER_COMM`); JSON nests dotted names (`{"tracer":{"comm":…}}`).

use crate::containers::{Container, K8s};
use crate::masks;
use crate::model::{FaResponse, Proc, Record};

/// A field's value for one record, before formatting.
#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    U64(u64),
    I64(i64),
    /// An address, printed as `0x…` in both outputs.
    Hex(u64),
    /// Nanoseconds since the epoch: a number in JSON, local time in columns
    /// (`--timestamp-format`).
    Time(u64),
    /// Nanoseconds since the epoch as RFC 3339 text in UTC, in both outputs.
    Rfc3339(u64),
    /// A duration in nanoseconds: a number in JSON, human units in columns
    /// (`150ms`, `3.0s`).
    Latency(u64),
    /// A value the record's type gives no meaning (the answer of an event
    /// that is not a permission request): the word in JSON, blank in columns.
    NotApplicable(&'static str),
    /// A number shown by name (see [`Decoded`]).
    Decoded(Decoded),
    Static(&'static str),
    /// A value the event has but the tool could not learn: `null` in JSON,
    /// `(unknown)` in columns (a field beside it says why).
    Unknown,
    /// Untrusted bytes (names, comms): escaped by each output.
    Bytes(&'a [u8]),
}

/// A number the outputs show as names (`IN_OPEN|FS_EVENT_ON_CHILD`), from
/// [`masks`]. The text is written straight into the output line, with no
/// String per record, and is plain ASCII with nothing to escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    InotifyMask(u32),
    FanotifyMask(u64),
    FanotifyEventType(u32),
}

impl Decoded {
    /// Appends the text.
    pub fn write(self, out: &mut Vec<u8>) {
        match self {
            Decoded::InotifyMask(m) => masks::write_inotify_mask(m, out),
            Decoded::FanotifyMask(m) => masks::write_fanotify_mask(m, out),
            Decoded::FanotifyEventType(t) => masks::write_fanotify_event_type(t, out),
        }
    }

    /// The text as a String, as the mask functions give it.
    pub fn text(self) -> String {
        match self {
            Decoded::InotifyMask(m) => masks::inotify_mask(m),
            Decoded::FanotifyMask(m) => masks::fanotify_mask(m),
            Decoded::FanotifyEventType(t) => masks::fanotify_event_type(t),
        }
    }
}

pub struct Field {
    pub name: &'static str,
    pub help: &'static str,
    /// Column width; the last column is never padded.
    pub width: usize,
    pub get: fn(&Record) -> Value<'_>,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

fn opt_u<T: Into<u64>>(v: Option<T>) -> Value<'static> {
    v.map_or(Value::Null, |v| Value::U64(v.into()))
}

/// One side's fields. Their help does not say which side: `--help` and the
/// man page list them under a heading that does ([`groups`]).
macro_rules! proc_fields {
    ($side:ident) => {
        [
            Field { name: concat!(stringify!($side), ".pid"), help: "pid (thread group id)", width: 8,
                get: |r| r.$side.as_ref().map_or(Value::Null, |p: &Proc| Value::U64(p.pid.into())) },
            Field { name: concat!(stringify!($side), ".tid"), help: "thread id", width: 8,
                get: |r| r.$side.as_ref().map_or(Value::Null, |p| Value::U64(p.tid.into())) },
            Field { name: concat!(stringify!($side), ".ppid"), help: "pid of its parent", width: 8,
                get: |r| r.$side.as_ref().map_or(Value::Null, |p| Value::U64(p.ppid.into())) },
            Field { name: concat!(stringify!($side), ".comm"), help: "command name", width: 16,
                get: |r| r.$side.as_ref().map_or(Value::Null, |p| Value::Bytes(&p.comm)) },
            Field { name: concat!(stringify!($side), ".pcomm"), help: "command name of its parent", width: 16,
                get: |r| r.$side.as_ref().map_or(Value::Null, |p| Value::Bytes(&p.pcomm)) },
            Field { name: concat!(stringify!($side), ".uid"), help: "user id", width: 6,
                get: |r| r.$side.as_ref().map_or(Value::Null, |p| Value::U64(p.uid.into())) },
            Field { name: concat!(stringify!($side), ".gid"), help: "group id", width: 6,
                get: |r| r.$side.as_ref().map_or(Value::Null, |p| Value::U64(p.gid.into())) },
            Field { name: concat!(stringify!($side), ".user"), help: "user name", width: 10,
                get: |r| r.$side.as_ref().and_then(|p| p.user.as_deref()).map_or(Value::Null, |u| Value::Bytes(u.as_bytes())) },
            Field { name: concat!(stringify!($side), ".group"), help: "group name", width: 10,
                get: |r| r.$side.as_ref().and_then(|p| p.group.as_deref()).map_or(Value::Null, |g| Value::Bytes(g.as_bytes())) },
            Field { name: concat!(stringify!($side), ".mntns_id"), help: "mount namespace id", width: 11,
                get: |r| r.$side.as_ref().map_or(Value::Null, |p| Value::U64(p.mntns_id)) },
            Field { name: concat!(stringify!($side), ".cgroup_id"), help: "cgroup v2 id (the inode of its /sys/fs/cgroup directory)", width: 10,
                get: |r| r.$side.as_ref().map_or(Value::Null, |p| Value::U64(p.cgroup_id)) },
            Field { name: concat!(stringify!($side), ".cgroup"), help: "cgroup v2 path, as /proc/PID/cgroup shows it", width: 24,
                get: |r| r.$side.as_ref().and_then(|p| p.cgroup.as_deref()).map_or(Value::Null, |c| Value::Bytes(c.as_bytes())) },
            Field { name: concat!(stringify!($side), ".container.id"), help: "id of its container (null on the host)", width: 16,
                get: |r| container(r.$side.as_ref(), |c| Some(c.id.as_str())) },
            Field { name: concat!(stringify!($side), ".container.name"), help: "name of its container", width: 16,
                get: |r| container(r.$side.as_ref(), |c| c.name.as_deref()) },
            Field { name: concat!(stringify!($side), ".container.runtime"), help: "what runs the container: docker, containerd, cri-o, podman or runc", width: 10,
                get: |r| container(r.$side.as_ref(), |c| c.runtime) },
            Field { name: concat!(stringify!($side), ".container.image"), help: "image of its container, where the runtime records it", width: 24,
                get: |r| container(r.$side.as_ref(), |c| c.image.as_deref()) },
            Field { name: concat!(stringify!($side), ".k8s.namespace"), help: "Kubernetes namespace of its pod", width: 12,
                get: |r| k8s(r.$side.as_ref(), |k| k.namespace.as_deref()) },
            Field { name: concat!(stringify!($side), ".k8s.pod"), help: "Kubernetes pod", width: 16,
                get: |r| k8s(r.$side.as_ref(), |k| k.pod.as_deref()) },
            Field { name: concat!(stringify!($side), ".k8s.container"), help: "container name in the pod spec (null for the pod's sandbox)", width: 16,
                get: |r| k8s(r.$side.as_ref(), |k| k.container.as_deref()) },
            Field { name: concat!(stringify!($side), ".k8s.pod_uid"), help: "uid of its pod", width: 36,
                get: |r| k8s(r.$side.as_ref(), |k| k.pod_uid.as_deref()) },
        ]
    };
}

static TRACER_FIELDS: [Field; 20] = proc_fields!(tracer);
static TRACEE_FIELDS: [Field; 20] = proc_fields!(tracee);

/// A side's container text, null for a host process (or a missing side).
fn container<'a>(p: Option<&'a Proc>, get: fn(&'a Container) -> Option<&'a str>) -> Value<'a> {
    p.and_then(|p| p.container.as_deref()).and_then(get).map_or(Value::Null, |t| Value::Bytes(t.as_bytes()))
}

/// A side's pod text, null outside Kubernetes.
fn k8s<'a>(p: Option<&'a Proc>, get: fn(&'a K8s) -> Option<&'a str>) -> Value<'a> {
    p.and_then(|p| p.container.as_deref()).and_then(|c| c.k8s.as_ref()).and_then(get).map_or(Value::Null, |t| Value::Bytes(t.as_bytes()))
}

static EVENT_FIELDS: &[Field] = &[
    Field { name: "timestamp", help: "when the tracer dequeued the event (fa_resp: when it was answered)", width: 15,
        get: |r| Value::Time(r.timestamp_ns) },
    Field { name: "timestamp_rfc3339", help: "timestamp as RFC 3339 text, UTC, to the ns (2026-12-02T14:03:07.123456789Z)", width: 30,
        get: |r| Value::Rfc3339(r.timestamp_ns) },
    Field { name: "type", help: "inotify, fanotify, or fa_resp (the answer to a fanotify permission event)", width: 8,
        get: |r| Value::Static(r.event_type.as_str()) },
    Field { name: "prio", help: "priority of the tracer's group: 0 notification, 1 content, 2 pre-content", width: 4,
        get: |r| opt_u(r.prio) },
    Field { name: "fsnotify_group", help: "address of the event's struct fsnotify_group (what --tracer-group takes)", width: 18,
        get: |r| r.fsnotify_group.map_or(Value::Null, Value::Hex) },
    Field { name: "group_unknown", help: "true when the event was read but the backend could not tell from which group's queue (the tracepoint backend, when the read's registers and fd table name a group whose queue does not hold the reader, as an inline io_uring read or a forged one does): fsnotify_group is null, and so is an inotify record's path", width: 5,
        get: |r| Value::Static(if r.group_unknown() { "true" } else { "false" }) },
    Field { name: "latency_ns", help: "queueing to dequeue (fa_resp: to the answer): ns in JSON, 150ms in columns", width: 7,
        get: |r| r.latency_ns.map_or(Value::Null, Value::Latency) },
    Field { name: "i_wd", help: "inotify watch descriptor", width: 4,
        get: |r| r.i_wd.map_or(Value::Null, |v| Value::I64(v.into())) },
    Field { name: "i_mask", help: "inotify event mask, by name", width: 34,
        get: |r| r.i_mask.map_or(Value::Null, |m| Value::Decoded(Decoded::InotifyMask(m))) },
    Field { name: "i_mask_raw", help: "inotify event mask, as a number", width: 10,
        get: |r| opt_u(r.i_mask) },
    Field { name: "i_cookie", help: "inotify cookie tying IN_MOVED_FROM to IN_MOVED_TO", width: 8,
        get: |r| opt_u(r.i_cookie) },
    Field { name: "i_ino", help: "inode number of the file the inotify event is about", width: 10,
        get: |r| opt_u(r.i_ino) },
    Field { name: "i_ino_dir", help: "inode number of the watched directory (events on its children)", width: 10,
        get: |r| opt_u(r.i_ino_dir) },
    Field { name: "mask", help: "i_mask or fa_mask, whichever the record has (columns only: JSON has both)", width: 34,
        get: |r| match (r.i_mask, r.fa_mask) {
            (Some(m), _) => Value::Decoded(Decoded::InotifyMask(m)),
            (None, Some(m)) => Value::Decoded(Decoded::FanotifyMask(m)),
            (None, None) => Value::Null,
        } },
    Field { name: "fa_type", help: "the kernel's fanotify event type (FANOTIFY_EVENT_TYPE_*)", width: 30,
        get: |r| r.fa_type.map_or(Value::Null, |t| Value::Decoded(Decoded::FanotifyEventType(t))) },
    Field { name: "fa_mask", help: "fanotify event mask, by name", width: 26,
        get: |r| r.fa_mask.map_or(Value::Null, |m| Value::Decoded(Decoded::FanotifyMask(m))) },
    Field { name: "fa_mask_raw", help: "fanotify event mask, as a number", width: 10,
        get: |r| opt_u(r.fa_mask) },
    Field { name: "fa_pid", help: "pid the fanotify event reports (the tracee's)", width: 8,
        get: |r| opt_u(r.fa_pid) },
    Field { name: "fa_flags", help: "the fanotify group's fanotify_init flags", width: 8,
        get: |r| opt_u(r.fa_flags) },
    Field { name: "fa_f_flags", help: "the fanotify group's event_f_flags (open flags of event fds)", width: 10,
        get: |r| opt_u(r.fa_f_flags) },
    Field { name: "fa_response", help: "answer to a permission event: allow, deny, interrupted; na (blank in columns)", width: 11,
        get: |r| match r.fa_response {
            FaResponse::Na => Value::NotApplicable(FaResponse::Na.as_str()),
            answer => Value::Static(answer.as_str()),
        } },
    Field { name: "name", help: "inotify: the name in the watched directory; fanotify: the full path", width: 0,
        get: |r| if r.name_unknown.is_some() { Value::Unknown } else { Value::Bytes(&r.name) } },
    Field { name: "name_unknown", help: "why name is null: the event names a file the tool could not name (for example a file handle of a file deleted since)", width: 0,
        get: |r| r.name_unknown.map_or(Value::Null, Value::Static) },
    Field { name: "name_truncated", help: "true when the kernel had a longer name than the record carries", width: 5,
        get: |r| Value::Static(if r.name_truncated { "true" } else { "false" }) },
    Field { name: "path", help: "full path of the file: inotify, the watch's path (from the tracer's fdinfo) joined with name; fanotify, name", width: 0,
        get: path },
    Field { name: "path_stale", help: "true when the event says the watched object moved or went: path is where it was found when read", width: 5,
        get: |r| Value::Static(if r.path_stale { "true" } else { "false" }) },
];

fn path(r: &Record) -> Value<'_> {
    match (&r.path, r.event_type) {
        (Some(p), _) => Value::Bytes(p),
        (None, crate::model::EventType::Inotify) => Value::Null,
        (None, _) if r.name_unknown.is_some() => Value::Unknown,
        (None, _) if r.name.starts_with(b"/") => Value::Bytes(&r.name),
        (None, _) => Value::Null,
    }
}

/// Every field, in the order `--help` lists them.
pub fn all() -> impl Iterator<Item = &'static Field> {
    EVENT_FIELDS[..3].iter().chain(TRACER_FIELDS.iter()).chain(TRACEE_FIELDS.iter()).chain(EVENT_FIELDS[3..].iter())
}

/// The fields as `--help` and the man page list them: a heading, then its
/// fields. The tracee's are the tracer's, on the other side.
pub fn groups() -> Vec<(&'static str, Vec<&'static Field>)> {
    let by = |pick: fn(&str) -> bool| all().filter(|f| pick(f.name)).collect::<Vec<_>>();
    vec![
        ("Every record", by(|n| !n.starts_with("tracer.") && !n.starts_with("tracee.") && !n.starts_with("i_") && !n.starts_with("fa_"))),
        ("The tracer, the process that read the event (JSON: \"tracer\": {...})", by(|n| n.starts_with("tracer."))),
        ("The tracee, the process whose file access queued the event (JSON: \"tracee\": {...})", by(|n| n.starts_with("tracee."))),
        ("inotify records (blank in columns, null in JSON, for the others)", by(|n| n.starts_with("i_"))),
        ("fanotify and fa_resp records", by(|n| n.starts_with("fa_"))),
    ]
}

/// Fields for the columns only: JSON has what they show in other fields.
pub const COLUMNS_ONLY: &[&str] = &["mask"];

/// What JSON shows without `--fields`: every field but [`COLUMNS_ONLY`].
pub fn json_default() -> impl Iterator<Item = &'static Field> {
    all().filter(|f| !COLUMNS_ONLY.contains(&f.name))
}

/// What a table shows without `--fields`, when the width allows (see
/// `output::columns::default_fields` for narrower terminals).
pub const DEFAULT_COLUMNS: &[&str] =
    &["timestamp", "type", "tracer.pid", "tracer.comm", "tracee.pid", "tracee.comm", "mask", "fa_response", "path"];

/// Looks a field up by `tracer.comm`, `tracer_comm` or `TRACER_COMM`.
pub fn find(name: &str) -> Option<&'static Field> {
    let wanted = canonical(&name.trim().to_ascii_lowercase());
    all().find(|f| f.name == wanted || f.name.replace('.', "_") == wanted)
}

/// Other names `--fields` takes, each for one field (lower case; `_` also
/// for `.`): the column header of `latency_ns`, and Inspektor Gadget's names
/// of the container fields, which it gives one side only: the tracee's.
pub const ALIASES: &[(&str, &str)] = &[
    ("latency", "latency_ns"),
    ("runtime.containername", "tracee.container.name"),
    ("runtime.containerid", "tracee.container.id"),
    ("runtime.runtimename", "tracee.container.runtime"),
    ("runtime.containerimagename", "tracee.container.image"),
    ("k8s.namespace", "tracee.k8s.namespace"),
    ("k8s.podname", "tracee.k8s.pod"),
    ("k8s.containername", "tracee.k8s.container"),
];

/// How Inspektor Gadget's fsnotify gadget names the fields of either side
/// that it nests deeper (`tracer.parent.comm`, `tracee.user.uid`), and ours.
pub const IG_SIDE_ALIASES: &[(&str, &str)] = &[
    ("parent.comm", "pcomm"),
    ("parent.pid", "ppid"),
    ("user.uid", "uid"),
    ("user.gid", "gid"),
    ("user.user", "user"),
    ("user.group", "group"),
];

/// The field name an alias stands for (lower case in, `_` or `.` between
/// the words of IG's names), or the name itself.
fn canonical(name: &str) -> String {
    if let Some((_, field)) = ALIASES.iter().find(|(alias, _)| *alias == name || alias.replace('.', "_") == name) {
        return field.to_string();
    }
    for side in ["tracer", "tracee"] {
        let Some(rest) = name.strip_prefix(side).and_then(|r| r.strip_prefix(['.', '_'])) else { continue };
        if let Some((_, ours)) = IG_SIDE_ALIASES.iter().find(|(ig, _)| *ig == rest || ig.replace('.', "_") == rest) {
            return format!("{side}.{ours}");
        }
    }
    name.to_string()
}

/// Parses a `--fields` list (comma separated, `=` allowed before it).
pub fn parse_list(list: &str) -> Result<Vec<&'static Field>, String> {
    let mut out = Vec::new();
    for name in list.split(',').filter(|n| !n.trim().is_empty()) {
        match find(name) {
            Some(f) => out.push(f),
            None => return Err(format!("unknown field '{}': `fsnotify-gadget --help` lists them", name.trim())),
        }
    }
    if out.is_empty() {
        return Err("--fields needs at least one field name".to_string());
    }
    Ok(out)
}

/// The column header of a field: `tracer.comm` -> `TRACER_COMM`;
/// `latency_ns`, whose column is in human units, is `LATENCY`.
pub fn header(field: &Field) -> String {
    match field.name {
        "latency_ns" => "LATENCY".to_string(),
        name => name.replace('.', "_").to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_find_a_field() {
        assert_eq!(find("tracer_comm").unwrap().name, "tracer.comm");
        assert_eq!(find("tracer.comm").unwrap().name, "tracer.comm");
        assert_eq!(find("TRACEE_MNTNS_ID").unwrap().name, "tracee.mntns_id");
        assert_eq!(find("i_mask").unwrap().name, "i_mask");
        assert!(find("nope").is_none());
    }

    #[test]
    fn inspektor_gadget_names_are_aliases() {
        for (ig, ours) in [
            ("tracer.parent.comm", "tracer.pcomm"),
            ("tracee.parent.comm", "tracee.pcomm"),
            ("tracer.parent.pid", "tracer.ppid"),
            ("tracee.user.uid", "tracee.uid"),
            ("tracer.user.gid", "tracer.gid"),
            ("tracee.user.user", "tracee.user"),
            ("tracer.user.group", "tracer.group"),
            ("TRACEE_PARENT_COMM", "tracee.pcomm"),
            ("tracer_user_uid", "tracer.uid"),
            ("latency", "latency_ns"),
            ("LATENCY", "latency_ns"),
        ] {
            assert_eq!(find(ig).map(|f| f.name), Some(ours), "{ig}");
        }
        // IG's names that are ours already, and what is not a name.
        for same in ["tracer.comm", "tracee.mntns_id", "fa_response", "i_cookie", "tracee.group"] {
            assert_eq!(find(same).unwrap().name, same);
        }
        for bad in ["tracer.parent", "tracer.user.shell", "parent.comm", "tracex.parent.comm"] {
            assert!(find(bad).is_none(), "{bad}");
        }
        let names: Vec<_> = parse_list("tracer.comm,tracer.parent.comm,tracee.user.uid").unwrap().iter().map(|f| f.name).collect();
        assert_eq!(names, ["tracer.comm", "tracer.pcomm", "tracee.uid"]);
    }

    #[test]
    fn groups_hold_every_field_once() {
        let mut grouped: Vec<_> = groups().into_iter().flat_map(|(_, fs)| fs).map(|f| f.name).collect();
        let mut every: Vec<_> = all().map(|f| f.name).collect();
        grouped.sort();
        every.sort();
        assert_eq!(grouped, every);
        assert!(all().all(|f| !f.help.contains("(the process reading the event)")));
        assert_eq!(find("tracer.pcomm").unwrap().help, "command name of its parent");
    }

    #[test]
    fn the_seeds_field_list_parses() {
        let f = parse_list("tracer_comm,tracee_comm,i_mask,name").unwrap();
        let names: Vec<_> = f.iter().map(|f| f.name).collect();
        assert_eq!(names, ["tracer.comm", "tracee.comm", "i_mask", "name"]);
        assert!(parse_list("tracer_comm,bogus").unwrap_err().contains("bogus"));
        assert!(parse_list(" , ").is_err());
    }

    #[test]
    fn headers_are_upper_case_with_underscores() {
        assert_eq!(header(find("tracer.comm").unwrap()), "TRACER_COMM");
        assert_eq!(header(find("fa_f_flags").unwrap()), "FA_F_FLAGS");
    }

    #[test]
    fn default_columns_exist_and_names_are_unique() {
        for c in DEFAULT_COLUMNS {
            assert!(find(c).is_some(), "{c}");
        }
        let mut names: Vec<_> = all().map(|f| f.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}

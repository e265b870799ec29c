//! The output writers as they were before issue #6 made them fast: every
//! string through `serde_json::to_writer`, every number through `core::fmt`,
//! every mask name through a new String. Kept only as the oracle the fast
//! writers in `fsnotify_gadget::output` are compared with, byte for byte, by the unit tests
//! and the fuzz targets (fuzz/output_check.rs). Not for output. Timestamps
//! and latencies are as the writers show them since issue #17, written the
//! slow way (jiff's strftime, floating point).
//!
//! Nothing here comes from the code under test but the names of the fields
//! a selection holds: the mask and event type names are literal tables
//! written from the man pages and the kernel's headers, each field's value
//! is read from the [`Record`] here, and the headers and column widths are
//! written out here too. A field this module does not know is a panic, so
//! that a new field gets an expectation of its own. A width or a name that
//! changes in `fsnotify_gadget::fields` or `masks` has to change here as
//! well, on purpose.

use std::fmt::Write as _;
use std::io::{self, Write};

use fsnotify_gadget::fields::Field;
use fsnotify_gadget::model::{EventType, FaResponse, Proc, Record};

/// The bits of an inotify event mask by name: `IN_*` as inotify(7) and
/// linux/inotify.h give them; the bits only the kernel sets in its own mask
/// (which the kernel backends read) by their names in the kernel's
/// include/linux/fsnotify_backend.h (`FS_*`).
const INOTIFY_NAMES: &[(u32, &str)] = &[
    (0x0000_0001, "IN_ACCESS"),
    (0x0000_0002, "IN_MODIFY"),
    (0x0000_0004, "IN_ATTRIB"),
    (0x0000_0008, "IN_CLOSE_WRITE"),
    (0x0000_0010, "IN_CLOSE_NOWRITE"),
    (0x0000_0020, "IN_OPEN"),
    (0x0000_0040, "IN_MOVED_FROM"),
    (0x0000_0080, "IN_MOVED_TO"),
    (0x0000_0100, "IN_CREATE"),
    (0x0000_0200, "IN_DELETE"),
    (0x0000_0400, "IN_DELETE_SELF"),
    (0x0000_0800, "IN_MOVE_SELF"),
    (0x0000_1000, "FS_OPEN_EXEC"),
    (0x0000_2000, "IN_UNMOUNT"),
    (0x0000_4000, "IN_Q_OVERFLOW"),
    (0x0000_8000, "IN_IGNORED"),
    (0x0001_0000, "FS_OPEN_PERM"),
    (0x0002_0000, "FS_ACCESS_PERM"),
    (0x0004_0000, "FS_OPEN_EXEC_PERM"),
    (0x0100_0000, "IN_ONLYDIR"),
    (0x0200_0000, "IN_DONT_FOLLOW"),
    (0x0400_0000, "IN_EXCL_UNLINK"),
    (0x0800_0000, "FS_EVENT_ON_CHILD"),
    (0x1000_0000, "IN_MASK_CREATE"),
    (0x2000_0000, "IN_MASK_ADD"),
    (0x4000_0000, "IN_ISDIR"),
    (0x8000_0000, "IN_ONESHOT"),
];

/// The bits of a fanotify event mask by name: `FAN_*` as fanotify_mark(2)
/// and linux/fanotify.h (Linux 6.14 and later) give them. 0x80000 is
/// reserved there (the old `FAN_DIR_MODIFY`) and has no name;
/// `FAN_PRE_ACCESS` is 0x100000. The kernel's own mask carries
/// `FS_EVENT_ON_CHILD` (fsnotify_backend.h), which fanotify.h calls
/// `FAN_EVENT_ON_CHILD` as a mark flag.
const FANOTIFY_NAMES: &[(u64, &str)] = &[
    (0x0000_0001, "FAN_ACCESS"),
    (0x0000_0002, "FAN_MODIFY"),
    (0x0000_0004, "FAN_ATTRIB"),
    (0x0000_0008, "FAN_CLOSE_WRITE"),
    (0x0000_0010, "FAN_CLOSE_NOWRITE"),
    (0x0000_0020, "FAN_OPEN"),
    (0x0000_0040, "FAN_MOVED_FROM"),
    (0x0000_0080, "FAN_MOVED_TO"),
    (0x0000_0100, "FAN_CREATE"),
    (0x0000_0200, "FAN_DELETE"),
    (0x0000_0400, "FAN_DELETE_SELF"),
    (0x0000_0800, "FAN_MOVE_SELF"),
    (0x0000_1000, "FAN_OPEN_EXEC"),
    (0x0000_4000, "FAN_Q_OVERFLOW"),
    (0x0000_8000, "FAN_FS_ERROR"),
    (0x0001_0000, "FAN_OPEN_PERM"),
    (0x0002_0000, "FAN_ACCESS_PERM"),
    (0x0004_0000, "FAN_OPEN_EXEC_PERM"),
    (0x0010_0000, "FAN_PRE_ACCESS"),
    (0x0100_0000, "FAN_MNT_ATTACH"),
    (0x0200_0000, "FAN_MNT_DETACH"),
    (0x0800_0000, "FS_EVENT_ON_CHILD"),
    (0x1000_0000, "FAN_RENAME"),
    (0x4000_0000, "FAN_ONDIR"),
];

/// The kernel's `enum fanotify_event_type` (fs/notify/fanotify/fanotify.h),
/// in its order: the value is the index.
const FANOTIFY_EVENT_TYPES: &[&str] = &[
    "FANOTIFY_EVENT_TYPE_FID",
    "FANOTIFY_EVENT_TYPE_FID_NAME",
    "FANOTIFY_EVENT_TYPE_PATH",
    "FANOTIFY_EVENT_TYPE_PATH_PERM",
    "FANOTIFY_EVENT_TYPE_OVERFLOW",
    "FANOTIFY_EVENT_TYPE_FS_ERROR",
    "FANOTIFY_EVENT_TYPE_MNT",
];

/// The mask decoder as it was: a String grown name by name, `{:#x}` for the
/// rest, `0` for no bit at all.
fn decode<T>(mask: T, table: &[(T, &str)]) -> String
where
    T: Copy + PartialEq + std::ops::BitAnd<Output = T> + std::ops::BitAndAssign + std::ops::Not<Output = T> + Default + std::fmt::LowerHex,
{
    let zero = T::default();
    if mask == zero {
        return "0".to_string();
    }
    let mut rest = mask;
    let mut out = String::new();
    for &(bit, name) in table {
        if mask & bit != zero {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != zero {
        if !out.is_empty() {
            out.push('|');
        }
        out.push_str(&format!("{rest:#x}"));
    }
    out
}

fn event_type_name(t: u32) -> String {
    match FANOTIFY_EVENT_TYPES.get(t as usize) {
        Some(n) => n.to_string(),
        None => format!("FANOTIFY_EVENT_TYPE_{t}"),
    }
}

/// A field's value for one record, as this oracle reads it.
enum V<'a> {
    /// Absent: blank in columns, `null` in JSON.
    Null,
    Num(u64),
    Int(i64),
    /// An address: `0x…` in both.
    Addr(u64),
    /// ns since the epoch: time of day in columns, the number in JSON.
    Time(u64),
    /// ns since the epoch: RFC 3339 text in both.
    Rfc3339(u64),
    /// ns: human units in columns, the number in JSON.
    Latency(u64),
    /// A word JSON prints and columns leave blank (`na`).
    NotApplicable(&'static str),
    /// Mask or type names: text in both.
    Names(String),
    /// A word: text in both.
    Word(&'static str),
    /// `true`/`false`, unquoted in JSON.
    Bool(bool),
    /// Known to exist but not learnt: `(unknown)` in columns, `null` in JSON.
    Unknown,
    /// Untrusted bytes.
    Bytes(&'a [u8]),
}

fn text(s: Option<&str>) -> V<'_> {
    s.map_or(V::Null, |s| V::Bytes(s.as_bytes()))
}

fn opt<T: Into<u64>>(v: Option<T>) -> V<'static> {
    v.map_or(V::Null, |v| V::Num(v.into()))
}

/// A field of one side (`pid`, `container.id`, ...), read from the side.
fn side_value<'a>(field: &str, p: Option<&'a Proc>) -> V<'a> {
    let Some(p) = p else { return V::Null };
    let container = p.container.as_deref();
    let k8s = container.and_then(|c| c.k8s.as_ref());
    match field {
        "pid" => V::Num(p.pid.into()),
        "tid" => V::Num(p.tid.into()),
        "ppid" => V::Num(p.ppid.into()),
        "comm" => V::Bytes(p.comm.as_bytes()),
        "pcomm" => V::Bytes(p.pcomm.as_bytes()),
        "uid" => V::Num(p.uid.into()),
        "gid" => V::Num(p.gid.into()),
        "user" => text(p.user.as_deref()),
        "group" => text(p.group.as_deref()),
        "mntns_id" => V::Num(p.mntns_id),
        "cgroup_id" => V::Num(p.cgroup_id),
        "cgroup" => text(p.cgroup.as_deref()),
        "container.id" => text(container.map(|c| c.id.as_str())),
        "container.name" => text(container.and_then(|c| c.name.as_deref())),
        "container.runtime" => text(container.and_then(|c| c.runtime)),
        "container.image" => text(container.and_then(|c| c.image.as_deref())),
        "k8s.namespace" => text(k8s.and_then(|k| k.namespace.as_deref())),
        "k8s.pod" => text(k8s.and_then(|k| k.pod.as_deref())),
        "k8s.container" => text(k8s.and_then(|k| k.container.as_deref())),
        "k8s.pod_uid" => text(k8s.and_then(|k| k.pod_uid.as_deref())),
        other => panic!("the oracle knows no side field {other:?}: give it one in testkit/src/reference.rs"),
    }
}

/// Field `name`'s value for `r`, read here from the record.
fn value<'a>(name: &str, r: &'a Record) -> V<'a> {
    if let Some(rest) = name.strip_prefix("tracer.") {
        return side_value(rest, r.tracer.as_ref());
    }
    if let Some(rest) = name.strip_prefix("tracee.") {
        return side_value(rest, r.tracee.as_ref());
    }
    let inotify = |m: u32| V::Names(decode(m, INOTIFY_NAMES));
    let fanotify = |m: u64| V::Names(decode(m, FANOTIFY_NAMES));
    match name {
        "timestamp" => V::Time(r.timestamp_ns),
        "timestamp_rfc3339" => V::Rfc3339(r.timestamp_ns),
        "type" => V::Word(match r.event_type {
            EventType::Inotify => "inotify",
            EventType::Fanotify => "fanotify",
            EventType::FaResp => "fa_resp",
        }),
        "prio" => opt(r.prio),
        "fsnotify_group" => r.fsnotify_group.map_or(V::Null, V::Addr),
        "group_unknown" => V::Bool(r.tracer.is_some() && r.fsnotify_group.is_none()),
        "latency_ns" => r.latency_ns.map_or(V::Null, V::Latency),
        "i_wd" => r.i_wd.map_or(V::Null, |w| V::Int(w.into())),
        "i_mask" => r.i_mask.map_or(V::Null, inotify),
        "i_mask_raw" => opt(r.i_mask),
        "i_cookie" => opt(r.i_cookie),
        "i_ino" => opt(r.i_ino),
        "i_ino_dir" => opt(r.i_ino_dir),
        "mask" => match (r.i_mask, r.fa_mask) {
            (Some(m), _) => inotify(m),
            (None, Some(m)) => fanotify(m),
            (None, None) => V::Null,
        },
        "fa_type" => r.fa_type.map_or(V::Null, |t| V::Names(event_type_name(t))),
        "fa_mask" => r.fa_mask.map_or(V::Null, fanotify),
        "fa_mask_raw" => opt(r.fa_mask),
        "fa_pid" => opt(r.fa_pid),
        "fa_flags" => opt(r.fa_flags),
        "fa_f_flags" => opt(r.fa_f_flags),
        "fa_response" => match r.fa_response {
            FaResponse::Na => V::NotApplicable("na"),
            FaResponse::Allow => V::Word("allow"),
            FaResponse::Deny => V::Word("deny"),
            FaResponse::Interrupted => V::Word("interrupted"),
        },
        "name" if r.name_unknown.is_some() => V::Unknown,
        "name" => V::Bytes(&r.name),
        "name_unknown" => r.name_unknown.map_or(V::Null, V::Word),
        "name_truncated" => V::Bool(r.name_truncated),
        // inotify: the path user space joined, or nothing; fanotify: the
        // name when it is a path, unknown when the name is.
        "path" => match (&r.path, r.event_type) {
            (Some(p), _) => V::Bytes(p),
            (None, EventType::Inotify) => V::Null,
            (None, _) if r.name_unknown.is_some() => V::Unknown,
            (None, _) if r.name.starts_with(b"/") => V::Bytes(&r.name),
            (None, _) => V::Null,
        },
        "path_stale" => V::Bool(r.path_stale),
        other => panic!("the oracle knows no field {other:?}: give it one in testkit/src/reference.rs"),
    }
}

/// A column's width before its header is counted (0: unbounded, never padded
/// past its header).
fn width(name: &str) -> usize {
    let side = name.strip_prefix("tracer.").or_else(|| name.strip_prefix("tracee."));
    if let Some(field) = side {
        return match field {
            "pid" | "tid" | "ppid" => 8,
            "comm" | "pcomm" => 16,
            "uid" | "gid" => 6,
            "user" | "group" => 10,
            "mntns_id" => 11,
            "cgroup_id" => 10,
            "cgroup" => 24,
            "container.id" | "container.name" => 16,
            "container.runtime" => 10,
            "container.image" => 24,
            "k8s.namespace" => 12,
            "k8s.pod" | "k8s.container" => 16,
            "k8s.pod_uid" => 36,
            other => panic!("the oracle has no width for tracer/tracee {other:?}"),
        };
    }
    match name {
        "timestamp" => 15,
        "timestamp_rfc3339" => 30,
        "type" => 8,
        "prio" => 4,
        "fsnotify_group" => 18,
        "latency_ns" => 7,
        "i_wd" => 4,
        "i_mask" | "mask" => 34,
        "i_mask_raw" | "i_ino" | "i_ino_dir" | "fa_mask_raw" | "fa_f_flags" => 10,
        "i_cookie" | "fa_pid" | "fa_flags" => 8,
        "fa_type" => 30,
        "fa_mask" => 26,
        "fa_response" => 11,
        "name" | "name_unknown" | "path" => 0,
        "name_truncated" | "path_stale" | "group_unknown" => 5,
        other => panic!("the oracle has no width for {other:?}"),
    }
}

/// A column's header: the name in upper case, `_` for `.`; `LATENCY` for
/// `latency_ns`, whose column is in human units.
fn header(name: &str) -> String {
    if name == "latency_ns" {
        return "LATENCY".to_string();
    }
    name.replace('.', "_").to_ascii_uppercase()
}

/// The escape rule written the plain way: a char whose General_Category is
/// in the Other group (Cc, Cf, Cs, Co, Cn) or is Zl or Zp.
fn is_hidden(c: char) -> bool {
    use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};
    c.general_category_group() == GeneralCategoryGroup::Other
        || matches!(c.general_category(), GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator)
}

/// Escapes untrusted bytes for a terminal, on one line. See the module docs.
pub fn escape_terminal(bytes: &[u8], out: &mut String) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if is_hidden(c) => {
                    let _ = write!(out, "\\u{{{:04x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// A timestamp through jiff's strftime, in UTC.
fn utc(ns: u64, format: &str) -> String {
    let ts = jiff::Timestamp::from_nanosecond(i128::from(ns)).expect("a u64 of ns is in jiff's range");
    jiff::tz::Offset::UTC.to_datetime(ts).strftime(format).to_string()
}

/// `HH:MM:SS.uuuuuu` (UTC) from nanoseconds since the epoch.
pub fn time_of_day(ns: u64) -> String {
    utc(ns, "%H:%M:%S%.6f")
}

/// RFC 3339 in UTC to the nanosecond.
pub fn rfc3339(ns: u64) -> String {
    utc(ns, "%Y-%m-%dT%H:%M:%S%.9fZ")
}

/// A duration the plain way: the largest unit reached, one decimal below
/// 10 of it, whole from 10; a rounding to 1000 of a unit goes to the next.
pub fn latency(ns: u64) -> String {
    if ns < 1000 {
        return format!("{ns}ns");
    }
    let units: [(&str, u128); 3] = [("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)];
    let mut i = units.iter().rposition(|&(_, scale)| u128::from(ns) >= scale).expect("ns >= 1000");
    loop {
        let (name, scale) = units[i];
        // Halves round up: the half-tenths, halved upwards.
        let tenths = (u128::from(ns) * 20 / scale).div_ceil(2);
        if tenths < 100 {
            return format!("{}.{}{name}", tenths / 10, tenths % 10);
        }
        let whole = (u128::from(ns) * 2 / scale).div_ceil(2);
        if whole >= 1000 && i + 1 < units.len() {
            i += 1;
            continue;
        }
        return format!("{whole}{name}");
    }
}

fn column_text(v: &V<'_>, out: &mut String) {
    match v {
        V::Null | V::NotApplicable(_) => {}
        V::Num(n) => {
            let _ = write!(out, "{n}");
        }
        V::Int(n) => {
            let _ = write!(out, "{n}");
        }
        V::Addr(n) => {
            let _ = write!(out, "{n:#x}");
        }
        V::Time(ns) => out.push_str(&time_of_day(*ns)),
        V::Rfc3339(ns) => out.push_str(&rfc3339(*ns)),
        V::Latency(ns) => out.push_str(&latency(*ns)),
        V::Names(s) => out.push_str(s),
        V::Word(s) => out.push_str(s),
        V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        V::Unknown => out.push_str("(unknown)"),
        V::Bytes(b) => escape_terminal(b, out),
    }
}

/// Writes records as a table: a header row, then one row per record.
pub struct Columns {
    fields: Vec<&'static str>,
    header_done: bool,
    line: String,
}

impl Columns {
    /// Only the fields' names are taken from `fields`.
    pub fn new(fields: Vec<&'static Field>) -> Columns {
        Columns { fields: fields.iter().map(|f| f.name).collect(), header_done: false, line: String::new() }
    }

    fn push_cell(&mut self, i: usize, text_start: usize) {
        let last = i + 1 == self.fields.len();
        if !last {
            let used = self.line[text_start..].chars().count();
            let width = width(self.fields[i]).max(header(self.fields[i]).len());
            for _ in used..width {
                self.line.push(' ');
            }
            self.line.push(' ');
        }
    }

    pub fn header(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.line.clear();
        for i in 0..self.fields.len() {
            let start = self.line.len();
            self.line.push_str(&header(self.fields[i]));
            self.push_cell(i, start);
        }
        self.line.push('\n');
        out.write_all(self.line.as_bytes())
    }

    pub fn write(&mut self, r: &Record, out: &mut impl Write) -> io::Result<()> {
        if !self.header_done {
            self.header_done = true;
            self.header(out)?;
        }
        self.line.clear();
        for i in 0..self.fields.len() {
            let start = self.line.len();
            column_text(&value(self.fields[i], r), &mut self.line);
            self.push_cell(i, start);
        }
        self.line.push('\n');
        out.write_all(self.line.as_bytes())
    }
}

/// A JSON object member: a plain field, or a nested object of fields.
enum Member {
    Field(&'static str),
    Object(&'static str, Vec<&'static str>),
}

/// Writes records as JSON lines; dotted field names become nested objects.
pub struct Json {
    layout: Vec<Member>,
    line: Vec<u8>,
}

fn json_str(s: &str, out: &mut Vec<u8>) {
    // serde_json escapes quotes, backslashes and every control character.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `"key":value` for field `name` (`key` is its last part or parts).
fn json_member(key: &str, name: &str, r: &Record, out: &mut Vec<u8>) {
    json_str(key, out);
    out.push(b':');
    match value(name, r) {
        V::Null | V::Unknown => out.extend_from_slice(b"null"),
        V::Num(n) | V::Time(n) | V::Latency(n) => {
            let _ = write!(out, "{n}");
        }
        V::Rfc3339(ns) => json_str(&rfc3339(ns), out),
        V::NotApplicable(s) | V::Word(s) => json_str(s, out),
        V::Int(n) => {
            let _ = write!(out, "{n}");
        }
        V::Addr(n) => {
            let _ = write!(out, "\"{n:#x}\"");
        }
        V::Names(s) => json_str(&s, out),
        V::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        V::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => json_str(s, out),
            Err(_) => {
                json_str(&String::from_utf8_lossy(b), out);
                out.push(b',');
                json_str(&format!("{key}_hex"), out);
                out.push(b':');
                json_str(&hex(b), out);
            }
        },
    }
}

impl Json {
    /// Only the fields' names are taken from `fields`.
    pub fn new(fields: Vec<&'static Field>) -> Json {
        let mut layout: Vec<Member> = Vec::new();
        for f in fields.iter().map(|f| f.name) {
            match f.split_once('.') {
                None => layout.push(Member::Field(f)),
                Some((prefix, _)) => {
                    let existing = layout.iter_mut().find_map(|m| match m {
                        Member::Object(p, v) if *p == prefix => Some(v),
                        _ => None,
                    });
                    match existing {
                        Some(v) => v.push(f),
                        None => layout.push(Member::Object(f.split('.').next().unwrap(), vec![f])),
                    }
                }
            }
        }
        Json { layout, line: Vec::with_capacity(1024) }
    }

    pub fn write(&mut self, r: &Record, out: &mut impl Write) -> io::Result<()> {
        self.line.clear();
        self.line.push(b'{');
        for (i, m) in self.layout.iter().enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            match m {
                Member::Field(f) => json_member(f, f, r, &mut self.line),
                Member::Object(prefix, fs) => {
                    let side = if *prefix == "tracer" { &r.tracer } else { &r.tracee };
                    json_str(prefix, &mut self.line);
                    self.line.push(b':');
                    let Some(p) = side.as_ref() else {
                        self.line.extend_from_slice(b"null");
                        continue;
                    };
                    // `container.*` and `k8s.*` nest once more, where their first field was.
                    let mut inner: Vec<(&str, Vec<&str>)> = Vec::new();
                    for f in fs {
                        let rest = &f[prefix.len() + 1..];
                        let sub = rest.split_once('.').map_or("", |(s, _)| s);
                        match inner.iter_mut().find(|(s, _)| !s.is_empty() && *s == sub) {
                            Some((_, v)) => v.push(f),
                            None => inner.push((sub, vec![f])),
                        }
                    }
                    self.line.push(b'{');
                    for (j, (sub, gs)) in inner.iter().enumerate() {
                        if j > 0 {
                            self.line.push(b',');
                        }
                        if sub.is_empty() {
                            json_member(&gs[0][prefix.len() + 1..], gs[0], r, &mut self.line);
                            continue;
                        }
                        json_str(sub, &mut self.line);
                        self.line.push(b':');
                        let present = match *sub {
                            "container" => p.container.is_some(),
                            "k8s" => p.container.as_ref().is_some_and(|c| c.k8s.is_some()),
                            _ => true,
                        };
                        if !present {
                            self.line.extend_from_slice(b"null");
                            continue;
                        }
                        self.line.push(b'{');
                        for (k, f) in gs.iter().enumerate() {
                            if k > 0 {
                                self.line.push(b',');
                            }
                            json_member(&f[prefix.len() + sub.len() + 2..], f, r, &mut self.line);
                        }
                        self.line.push(b'}');
                    }
                    self.line.push(b'}');
                }
            }
        }
        self.line.extend_from_slice(b"}\n");
        out.write_all(&self.line)
    }
}

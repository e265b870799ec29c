//! The output writers as they were before issue #6 made them fast: every
//! string through `serde_json::to_writer`, every number through `core::fmt`,
//! every mask name through a new String. Kept only as the oracle the fast
//! writers in `fsnotify_gadget::output` are compared with, byte for byte, by the unit tests
//! and the fuzz targets (fuzz/output_check.rs). Not for output. Timestamps
//! and latencies are as the writers show them since issue #17, written the
//! slow way (jiff's strftime, floating point).

use std::fmt::Write as _;
use std::io::{self, Write};

use fsnotify_gadget::fields::{self, Decoded, Field, Value};
use fsnotify_gadget::masks::{FANOTIFY_BITS, INOTIFY_BITS};
use fsnotify_gadget::model::Record;

/// The mask decoder as it was: a String grown name by name, `{:#x}` for the rest.
fn decode<T>(mask: T, table: &[(T, &str)]) -> String
where
    T: Copy + PartialEq + std::ops::BitAnd<Output = T> + std::ops::BitAndAssign + std::ops::Not<Output = T> + Default + std::fmt::LowerHex,
{
    let zero = T::default();
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

fn mask_text(d: Decoded) -> String {
    match d {
        Decoded::InotifyMask(0) | Decoded::FanotifyMask(0) => "0".to_string(),
        Decoded::InotifyMask(m) => decode(m, INOTIFY_BITS),
        Decoded::FanotifyMask(m) => decode(m, FANOTIFY_BITS),
        Decoded::FanotifyEventType(t) => {
            const NAMES: &[&str] = &["FID", "FID_NAME", "PATH", "PATH_PERM", "OVERFLOW", "FS_ERROR", "MNT"];
            match NAMES.get(t as usize) {
                Some(n) => format!("FANOTIFY_EVENT_TYPE_{n}"),
                None => format!("FANOTIFY_EVENT_TYPE_{t}"),
            }
        }
    }
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

fn column_text(v: &Value<'_>, out: &mut String) {
    match v {
        Value::Null => {}
        Value::U64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::I64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Hex(n) => {
            let _ = write!(out, "{n:#x}");
        }
        Value::Time(ns) => out.push_str(&time_of_day(*ns)),
        Value::Rfc3339(ns) => out.push_str(&rfc3339(*ns)),
        Value::Latency(ns) => out.push_str(&latency(*ns)),
        Value::NotApplicable(_) => {}
        Value::Decoded(d) => out.push_str(&mask_text(*d)),
        Value::Static(s) => out.push_str(s),
        Value::Unknown => out.push_str("(unknown)"),
        Value::Bytes(b) => escape_terminal(b, out),
    }
}

/// Writes records as a table: a header row, then one row per record.
pub struct Columns {
    fields: Vec<&'static Field>,
    header_done: bool,
    line: String,
}

impl Columns {
    pub fn new(fields: Vec<&'static Field>) -> Columns {
        Columns { fields, header_done: false, line: String::new() }
    }

    fn push_cell(&mut self, i: usize, text_start: usize) {
        let last = i + 1 == self.fields.len();
        if !last {
            let used = self.line[text_start..].chars().count();
            let width = self.fields[i].width.max(fields::header(self.fields[i]).len());
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
            self.line.push_str(&fields::header(self.fields[i]));
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
            column_text(&(self.fields[i].get)(r), &mut self.line);
            self.push_cell(i, start);
        }
        self.line.push('\n');
        out.write_all(self.line.as_bytes())
    }
}

/// A JSON object member: a plain field, or a nested object of fields.
enum Member {
    Field(&'static Field),
    Object(&'static str, Vec<&'static Field>),
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

fn json_member(key: &str, v: &Value<'_>, out: &mut Vec<u8>) {
    json_str(key, out);
    out.push(b':');
    match v {
        Value::Null | Value::Unknown => out.extend_from_slice(b"null"),
        Value::U64(n) | Value::Time(n) | Value::Latency(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Rfc3339(ns) => json_str(&rfc3339(*ns), out),
        Value::NotApplicable(s) => json_str(s, out),
        Value::I64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Hex(n) => {
            let _ = write!(out, "\"{n:#x}\"");
        }
        Value::Decoded(d) => json_str(&mask_text(*d), out),
        Value::Static(s) if *s == "true" || *s == "false" => out.extend_from_slice(s.as_bytes()),
        Value::Static(s) => json_str(s, out),
        Value::Bytes(b) => match std::str::from_utf8(b) {
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
    pub fn new(fields: Vec<&'static Field>) -> Json {
        let mut layout: Vec<Member> = Vec::new();
        for f in fields {
            match f.name.split_once('.') {
                None => layout.push(Member::Field(f)),
                Some((prefix, _)) => {
                    let existing = layout.iter_mut().find_map(|m| match m {
                        Member::Object(p, v) if *p == prefix => Some(v),
                        _ => None,
                    });
                    match existing {
                        Some(v) => v.push(f),
                        None => layout.push(Member::Object(f.name.split('.').next().unwrap(), vec![f])),
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
                Member::Field(f) => json_member(f.name, &(f.get)(r), &mut self.line),
                Member::Object(prefix, fs) => {
                    let side = if *prefix == "tracer" { &r.tracer } else { &r.tracee };
                    json_str(prefix, &mut self.line);
                    self.line.push(b':');
                    if side.is_none() {
                        self.line.extend_from_slice(b"null");
                        continue;
                    }
                    let p = side.as_ref().unwrap();
                    // `container.*` and `k8s.*` nest once more, where their first field was.
                    let mut inner: Vec<(&str, Vec<&Field>)> = Vec::new();
                    for f in fs {
                        let rest = &f.name[prefix.len() + 1..];
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
                            json_member(&gs[0].name[prefix.len() + 1..], &(gs[0].get)(r), &mut self.line);
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
                            json_member(&f.name[prefix.len() + sub.len() + 2..], &(f.get)(r), &mut self.line);
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


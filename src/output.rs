//! Formats records as aligned columns or JSON lines.
//!
//! Names, paths and comms are chosen by whoever created the file or the
//! process, so they are escaped before they reach a terminal or a JSON
//! consumer:
//! - columns: control characters, invisible/bidirectional format characters,
//!   backslashes and bytes that are not UTF-8 become `\n`, `\t`, `\r`, `\\`,
//!   `\xNN` or `\u{NNNN}`; a name never spans two rows nor sends escape
//!   sequences to the terminal.
//! - JSON: strings are escaped by serde_json. A name that is not valid UTF-8
//!   is written with U+FFFD in `name` and its exact bytes, hex-encoded, in
//!   `name_hex`, so consumers can recover them.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::fields::{self, Field, Value};
use crate::model::Record;

/// The output format (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for a terminal.
    Columns,
    /// One JSON object per line.
    Json,
}

/// Characters that change how text is displayed without being visible.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{061c}')
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
                c if c.is_control() || is_format_char(c) => {
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

/// `HH:MM:SS.nnnnnnnnn` (UTC) from nanoseconds since the epoch.
pub fn time_of_day(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}.{:09}", day / 3600, day / 60 % 60, day % 60, ns % 1_000_000_000)
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
        Value::Str(s) => escape_terminal(s.as_bytes(), out),
        Value::Static(s) => out.push_str(s),
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
        Value::Null => out.extend_from_slice(b"null"),
        Value::U64(n) | Value::Time(n) => {
            let _ = write!(out, "{n}");
        }
        Value::I64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Hex(n) => {
            let _ = write!(out, "\"{n:#x}\"");
        }
        Value::Str(s) => json_str(s, out),
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
                    self.line.push(b'{');
                    for (j, f) in fs.iter().enumerate() {
                        if j > 0 {
                            self.line.push(b',');
                        }
                        let key = &f.name[prefix.len() + 1..];
                        json_member(key, &(f.get)(r), &mut self.line);
                    }
                    self.line.push(b'}');
                }
            }
        }
        self.line.extend_from_slice(b"}\n");
        out.write_all(&self.line)
    }
}

/// Either writer, chosen by `-o`.
pub enum Writer {
    Columns(Columns),
    Json(Json),
}

impl Writer {
    pub fn new(format: Format, fields: Vec<&'static Field>) -> Writer {
        match format {
            Format::Columns => Writer::Columns(Columns::new(fields)),
            Format::Json => Writer::Json(Json::new(fields)),
        }
    }

    pub fn write(&mut self, r: &Record, out: &mut impl Write) -> io::Result<()> {
        match self {
            Writer::Columns(c) => c.write(r, out),
            Writer::Json(j) => j.write(r, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventType, Proc};

    fn escaped(b: &[u8]) -> String {
        let mut s = String::new();
        escape_terminal(b, &mut s);
        s
    }

    fn sample() -> Record {
        let mut r = Record::new(EventType::Inotify, 1_700_000_000_123_456_789);
        r.tracer = Some(Proc { pid: 10, comm: b"inotifywatch".into(), ..Default::default() });
        r.tracee = Some(Proc { pid: 20, comm: b"touch".into(), ..Default::default() });
        r.i_mask = Some(0x0800_0020);
        r.name = b"ABCDE".to_vec();
        r
    }

    #[test]
    fn terminal_escapes_control_and_invalid_bytes() {
        assert_eq!(escaped(b"a\x1b[31mb"), "a\\x1b[31mb");
        assert_eq!(escaped(b"x\ny\tz\r"), "x\\ny\\tz\\r");
        assert_eq!(escaped(b"\xff\xfe"), "\\xff\\xfe");
        assert_eq!(escaped(b"back\\slash"), "back\\\\slash");
        assert_eq!(escaped("rtl\u{202e}txt".as_bytes()), "rtl\\u{202e}txt");
        assert_eq!(escaped("\u{9b}".as_bytes()), "\\u{009b}");
        assert_eq!(escaped("héllo | \"q\"".as_bytes()), "héllo | \"q\"");
    }

    #[test]
    fn json_nests_sides_and_decodes_masks() {
        let fields = fields::parse_list("tracer_comm,tracee_comm,i_mask,i_mask_raw,name,i_wd").unwrap();
        let mut out = Vec::new();
        Json::new(fields).write(&sample(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["tracer"]["comm"], "inotifywatch");
        assert_eq!(v["tracee"]["comm"], "touch");
        assert_eq!(v["i_mask"], "IN_OPEN|FS_EVENT_ON_CHILD");
        assert_eq!(v["i_mask_raw"], 0x0800_0020);
        assert_eq!(v["name"], "ABCDE");
        assert!(v["i_wd"].is_null());
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    #[test]
    fn json_round_trips_hostile_names() {
        let mut r = sample();
        r.name = b"evil\n\x1b]52;c;AAAA\x07\"\\\xff".to_vec();
        let mut out = Vec::new();
        Json::new(fields::all().collect()).write(&r, &mut out).unwrap();
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let hex = v["name_hex"].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        assert_eq!(bytes, r.name);

        r.name = b"valid \"utf8\"\n".to_vec();
        out.clear();
        Json::new(fields::all().collect()).write(&r, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["name"], "valid \"utf8\"\n");
        assert!(v.get("name_hex").is_none());
    }

    #[test]
    fn columns_align_and_escape() {
        let fields = fields::parse_list("tracer_comm,tracee_comm,i_mask,name").unwrap();
        let mut c = Columns::new(fields);
        let mut out = Vec::new();
        let mut r = sample();
        c.write(&r, &mut out).unwrap();
        r.name = b"two\nlines\x1b[2J".to_vec();
        c.write(&r, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("TRACER_COMM      TRACEE_COMM      I_MASK"));
        assert_eq!(lines[1].find("touch"), lines[0].find("TRACEE_COMM"));
        assert!(lines[1].ends_with("IN_OPEN|FS_EVENT_ON_CHILD          ABCDE"));
        assert!(lines[2].ends_with("two\\nlines\\x1b[2J"));
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn time_of_day_is_utc() {
        assert_eq!(time_of_day(86_400_000_000_000 + 3_723_000_000_005), "01:02:03.000000005");
    }
}

//! Formats records as aligned columns or JSON lines.
//!
//! Names, paths and comms are chosen by whoever created the file or the
//! process, so they are escaped before they reach a terminal or a JSON
//! consumer:
//! - columns: what a terminal would not show as itself is escaped, by
//!   Unicode General_Category rather than by a list: every control (Cc),
//!   format (Cf), line or paragraph separator (Zl, Zp), private-use (Co) and
//!   unassigned (Cn, noncharacters included) code point
//!   ([`escape::is_escaped_char`]). Newline, tab and carriage return become
//!   `\n`, `\t`, `\r`; the other C0 controls and DEL `\xNN`; the rest
//!   `\u{NNNN}` (at least four lowercase hex digits). A backslash is doubled
//!   and each byte that is not part of valid UTF-8 is `\xNN`, so the escaped
//!   text gives back the exact bytes. Everything else (letters, marks,
//!   symbols, spaces) is printed as it is. A name never spans two rows nor
//!   sends escape sequences to the terminal. Cn is as of the Unicode version
//!   of the unicode-properties tables ([`escape::UNICODE_VERSION`]): a code
//!   point assigned only in a later version is escaped.
//! - JSON: strings are escaped exactly as serde_json escapes them (`json_str`;
//!   the tests and fuzz targets compare the output with serde_json's and with
//!   the previous serde_json-based writer, kept in testkit/ as an oracle). A
//!   name that is not valid UTF-8 is written with U+FFFD in `name` and its
//!   exact bytes, hex-encoded, in `name_hex`, so consumers can recover them
//!   ([`json::untrusted`], which `list` follows too).
//!
//! One file per job: [`escape`] (the terminal escaping), [`columns`] and
//! [`json`] (one printer per format), [`time`] (timestamps and latencies as
//! text), and [`Writer`] here, which picks one.

pub mod columns;
pub mod escape;
pub mod json;
pub mod time;

use std::io::{self, Write};

use crate::fields::Field;
use crate::model::Record;

pub use columns::{Columns, Style};
pub use escape::escape_terminal;
pub use json::Json;
pub use time::{time_of_day, TimeText, TimestampFormat};

/// The output format (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    Columns,
    /// One JSON object per line.
    Json,
    /// The same JSON objects, indented over several lines, for people.
    JsonPretty,
}

/// Appends `n` in decimal.
fn push_int(n: impl itoa::Integer, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Either writer, chosen by `-o`.
pub enum Writer {
    Columns(Columns),
    Json(Json),
    /// The JSON writer, the line it writes, and the line indented.
    JsonPretty(Json, Vec<u8>, Vec<u8>),
}

impl Writer {
    /// Columns without a width limit, times in UTC (tests, benchmarks).
    pub fn new(format: Format, fields: Vec<&'static Field>) -> Writer {
        Writer::with_style(format, fields, Style::default())
    }

    /// `style` is the columns'.
    pub fn with_style(format: Format, fields: Vec<&'static Field>, style: Style) -> Writer {
        match format {
            Format::Columns => Writer::Columns(Columns::with_style(fields, style)),
            Format::Json => Writer::Json(Json::new(fields)),
            Format::JsonPretty => Writer::JsonPretty(Json::new(fields), Vec::with_capacity(1024), Vec::with_capacity(2048)),
        }
    }

    /// What comes before the first record: the columns' header.
    pub fn start(&mut self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Writer::Columns(c) => c.header(out),
            Writer::Json(_) | Writer::JsonPretty(..) => Ok(()),
        }
    }

    pub fn write(&mut self, r: &Record, out: &mut impl Write) -> io::Result<()> {
        match self {
            Writer::Columns(c) => c.write(r, out),
            Writer::Json(j) => j.write(r, out),
            Writer::JsonPretty(j, line, pretty) => {
                line.clear();
                j.append(r, line);
                pretty.clear();
                json::indent(line, pretty);
                out.write_all(pretty)
            }
        }
    }

    /// Appends `r` to an output buffer: what [`Writer::write`] writes, with
    /// JSON lines built in place (the tracing loop's buffer, and the benchmark's).
    pub fn append(&mut self, r: &Record, buf: &mut Vec<u8>) {
        match self {
            Writer::Json(j) => j.append(r, buf),
            // Writing to a Vec cannot fail.
            _ => self.write(r, buf).expect("writing to memory"),
        }
    }
}

/// Records of each type, with long comms, names and paths, for the layout
/// tests: the sample, a long name, a permission request and its answer.
#[cfg(test)]
fn samples() -> Vec<Record> {
    use crate::model::{EventType, FaResponse, Proc};
    let mut long = sample();
    long.timestamp_ns += 100_000_000;
    long.i_mask = Some(0x0800_0008);
    long.name = b"a-name-long-enough-to-need-cutting-at-eighty-columns.txt".to_vec();
    long.path = Some(b"/tmp/X/a-name-long-enough-to-need-cutting-at-eighty-columns.txt".to_vec());
    long.latency_ns = Some(812_000);
    let daemon = Proc { pid: 4_194_303, comm: b"fanotify-daemon".into(), ..Default::default() };
    let reader = Proc { pid: 3_001, comm: b"cat".into(), ..Default::default() };
    let mut request = Record::new(EventType::Fanotify, 1_700_000_001_000_000_000);
    request.tracer = Some(daemon);
    request.tracee = Some(reader);
    request.fa_mask = Some(0x0001_0000);
    request.fa_pid = Some(3_001);
    request.latency_ns = Some(150_000_000);
    request.name = b"/srv/data/projects/2026/report-final-version-3.pdf".to_vec();
    let mut answer = request.clone();
    answer.event_type = EventType::FaResp;
    answer.timestamp_ns += 812_000;
    answer.fa_response = FaResponse::Allow;
    answer.latency_ns = Some(3_000_000_000);
    vec![sample(), long, request, answer]
}

/// The record the columns and JSON printers' unit tests print: inotifywatch reading
/// touch's IN_OPEN of ABCDE.
#[cfg(test)]
fn sample() -> Record {
    use crate::model::{EventType, Proc};
    let mut r = Record::new(EventType::Inotify, 1_700_000_000_123_456_789);
    r.tracer = Some(Proc { pid: 10, comm: b"inotifywatch".into(), ..Default::default() });
    r.tracee = Some(Proc { pid: 20, comm: b"touch".into(), ..Default::default() });
    r.i_mask = Some(0x0800_0020);
    r.name = b"ABCDE".to_vec();
    r.path = Some(b"/tmp/X/ABCDE".to_vec());
    r
}

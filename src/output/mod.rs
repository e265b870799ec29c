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
//! [`json`] (one printer per format), and [`Writer`] here, which picks one.

pub mod columns;
pub mod escape;
pub mod json;

use std::io::{self, Write};

use crate::fields::Field;
use crate::model::Record;

pub use columns::{time_of_day, Columns};
pub use escape::escape_terminal;
pub use json::Json;

/// The output format (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    Columns,
    /// One JSON object per line.
    Json,
}

/// Appends `n` in decimal.
fn push_int(n: impl itoa::Integer, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
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
    r
}

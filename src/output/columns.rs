//! The columns printer: a header row, then one aligned row per record.

use std::io::{self, Write};

use super::escape::escape_terminal_into;
use super::push_int;
use crate::fields::{self, Field, Value};
use crate::masks::push_hex;
use crate::model::Record;

/// `HH:MM:SS.nnnnnnnnn` (UTC) from nanoseconds since the epoch.
pub fn time_of_day(ns: u64) -> String {
    let mut out = Vec::with_capacity(18);
    push_time_of_day(ns, &mut out);
    String::from_utf8(out).expect("digits are ASCII")
}

/// Appends `n`'s last `width` decimal digits, zero-padded.
fn push_digits(mut n: u64, width: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + width, b'0');
    for d in out[start..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn push_time_of_day(ns: u64, out: &mut Vec<u8>) {
    let day = ns / 1_000_000_000 % 86_400;
    // Hours are below 24: two digits, as `{:02}` gives.
    push_digits(day / 3600, 2, out);
    out.push(b':');
    push_digits(day / 60 % 60, 2, out);
    out.push(b':');
    push_digits(day % 60, 2, out);
    out.push(b'.');
    push_digits(ns % 1_000_000_000, 9, out);
}

fn column_text(v: &Value<'_>, out: &mut Vec<u8>) {
    match v {
        Value::Null => {}
        Value::Unknown => out.extend_from_slice(b"(unknown)"),
        Value::U64(n) => push_int(*n, out),
        Value::I64(n) => push_int(*n, out),
        Value::Hex(n) => push_hex(*n, out),
        Value::Time(ns) => push_time_of_day(*ns, out),
        Value::Decoded(d) => d.write(out),
        Value::Static(s) => out.extend_from_slice(s.as_bytes()),
        Value::Bytes(b) => escape_terminal_into(b, out),
    }
}

/// Writes records as a table: a header row, then one row per record.
pub struct Columns {
    fields: Vec<&'static Field>,
    /// Each column's width: the field's, or its header's if wider.
    widths: Vec<usize>,
    header_done: bool,
    line: Vec<u8>,
}

impl Columns {
    pub fn new(fields: Vec<&'static Field>) -> Columns {
        let widths = fields.iter().map(|f| f.width.max(fields::header(f).len())).collect();
        Columns { fields, widths, header_done: false, line: Vec::with_capacity(256) }
    }

    /// Pads the cell that starts at `text_start` to its column's width, in
    /// characters (the line is UTF-8: every byte but continuation bytes
    /// starts one).
    fn push_cell(&mut self, i: usize, text_start: usize) {
        let last = i + 1 == self.fields.len();
        if !last {
            let used = self.line[text_start..].iter().filter(|&&b| b & 0xc0 != 0x80).count();
            let width = self.widths[i];
            if used < width {
                self.line.resize(self.line.len() + width - used, b' ');
            }
            self.line.push(b' ');
        }
    }

    pub fn header(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.line.clear();
        for i in 0..self.fields.len() {
            let start = self.line.len();
            self.line.extend_from_slice(fields::header(self.fields[i]).as_bytes());
            self.push_cell(i, start);
        }
        self.line.push(b'\n');
        out.write_all(&self.line)
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
        self.line.push(b'\n');
        out.write_all(&self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::sample;


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

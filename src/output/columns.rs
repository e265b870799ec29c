//! The columns printer: a header row, then one aligned row per record.
//!
//! With a width (the terminal's, or `COLUMNS`) every line fits in it: text
//! columns (comms, user and group names, masks, names and paths) give up
//! width down to their header's, a value wider than its column is cut with
//! `…` (JSON has it whole), and the last column takes what is left of the
//! line. Only when the columns asked for do not fit even so is a line cut at
//! the width. Without one (output to a pipe or a file) nothing is cut.

use std::io::{self, Write};

use super::escape::escape_terminal_into;
use super::push_int;
use super::time::{push_latency, TimeText, TimestampFormat};
use crate::fields::{self, Field, Value};
use crate::masks::push_hex;
use crate::model::Record;

/// How a table is laid out.
#[derive(Debug, Clone)]
pub struct Style {
    /// Characters a line may take; None: no limit, nothing cut.
    pub width: Option<usize>,
    pub timestamp: TimestampFormat,
    /// The zone timestamps are shown in.
    pub time: TimeText,
}

impl Default for Style {
    /// No width limit, times of day in UTC: what tests and benchmarks use.
    fn default() -> Style {
        Style { width: None, timestamp: TimestampFormat::Time, time: TimeText::new(jiff::tz::TimeZone::UTC) }
    }
}

/// The width a table has when stdout is a terminal without a size.
pub const FALLBACK_WIDTH: usize = 80;

/// The width of the table: `COLUMNS` when set to a number, else the size of
/// the terminal on stdout, else (a pipe, a file) None: no limit. A terminal
/// that reports no size gets [`FALLBACK_WIDTH`].
pub fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|&n| n > 0) {
        return Some(n);
    }
    // SAFETY: isatty and TIOCGWINSZ only read the fd's state into `ws`.
    unsafe {
        if libc::isatty(libc::STDOUT_FILENO) != 1 {
            return None;
        }
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            return Some(ws.ws_col as usize);
        }
    }
    Some(FALLBACK_WIDTH)
}

/// How a column may be sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fit {
    /// What its values take: the field's width, or its header's if wider.
    natural: usize,
    /// The narrowest it gets (its header's width); `natural` for columns
    /// that are not cut (numbers, times, words).
    min: usize,
    /// The width it is given before any column grows past it.
    comfortable: usize,
}

/// Whether a field's values are text that may be cut: names, masks, and
/// every field of unbounded width (width 0: names and paths).
fn is_text(f: &Field) -> bool {
    let leaf = f.name.rsplit('.').next().unwrap_or(f.name);
    f.width == 0 || matches!(leaf, "comm" | "pcomm" | "user" | "group" | "i_mask" | "fa_mask" | "mask" | "fa_type")
}

/// What a text column of unbounded values (names, paths) is given before
/// the other columns grow past their comfortable widths.
const LONG_TEXT: usize = 40;

/// A column's width without a limit: the field's, or its header's if wider.
fn plain_width(f: &Field, ts: TimestampFormat) -> usize {
    let width = if f.name == "timestamp" { ts.width() } else { f.width };
    width.max(fields::header(f).chars().count())
}

fn fit(f: &Field, ts: TimestampFormat) -> Fit {
    let header = fields::header(f).chars().count();
    let natural = plain_width(f, ts);
    if !is_text(f) {
        return Fit { natural, min: natural, comfortable: natural };
    }
    // A comm's first twelve characters name most programs; twenty show a
    // mask with two flags; sixteen the end of a name.
    let (natural, comfortable) = match f.width {
        0 => (LONG_TEXT, 16),
        16 => (natural, 12),
        _ => (natural, 20),
    };
    let min = header.max(4);
    Fit { natural: natural.max(min), min, comfortable: comfortable.clamp(min, natural.max(min)) }
}

/// Each column's width in `width` characters: every one at least its
/// minimum; then, while there is room, text columns grown to their
/// comfortable width, the last column to its natural one, the others to
/// theirs left to right; the last column, if text, takes the rest. The sum
/// passes `width` only when the minimums do.
fn layout(fits: &[Fit], width: usize) -> Vec<usize> {
    let n = fits.len();
    let mut w: Vec<usize> = fits.iter().map(|f| f.min).collect();
    let used = |w: &[usize]| w.iter().sum::<usize>() + n.saturating_sub(1);
    let grow = |w: &mut Vec<usize>, i: usize, to: usize| {
        let spare = width.saturating_sub(used(w));
        w[i] += to.saturating_sub(w[i]).min(spare);
    };
    for (i, f) in fits.iter().enumerate() {
        grow(&mut w, i, f.comfortable);
    }
    if n > 0 {
        grow(&mut w, n - 1, fits[n - 1].natural);
    }
    for (i, f) in fits.iter().enumerate().take(n.saturating_sub(1)) {
        grow(&mut w, i, f.natural);
    }
    if let Some(last) = fits.last() {
        if last.min < last.natural {
            w[n - 1] += width.saturating_sub(used(&w));
        }
    }
    w
}

/// What a table shows without `--fields` in `width` characters: the default
/// columns, less the ones that matter least (in this order: tracer.pid,
/// type, fa_response, tracee.pid) until the rest fit at their comfortable
/// widths. At 80 characters: timestamp, tracer.comm, tracee.comm, mask, name.
pub fn default_fields(width: Option<usize>, ts: TimestampFormat) -> Vec<&'static Field> {
    const DROPPED_FIRST: [&str; 4] = ["tracer.pid", "type", "fa_response", "tracee.pid"];
    let mut names: Vec<&str> = fields::DEFAULT_COLUMNS.to_vec();
    let need = |names: &[&str]| -> usize {
        let fits = names.iter().map(|n| fit(fields::find(n).expect("default field"), ts));
        fits.map(|f| f.comfortable).sum::<usize>() + names.len() - 1
    };
    if let Some(width) = width {
        for drop in DROPPED_FIRST {
            if need(&names) <= width {
                break;
            }
            names.retain(|n| *n != drop);
        }
    }
    names.iter().map(|n| fields::find(n).expect("default field")).collect()
}

/// Byte offset of the `chars`-th character of UTF-8 text (its length if fewer).
fn char_offset(text: &[u8], chars: usize) -> usize {
    let mut seen = 0;
    for (i, &b) in text.iter().enumerate() {
        if b & 0xc0 != 0x80 {
            if seen == chars {
                return i;
            }
            seen += 1;
        }
    }
    text.len()
}

fn chars(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b & 0xc0 != 0x80).count()
}

/// Cuts the UTF-8 text from `start` to at most `width` characters, the last
/// of them `…`, when it is wider.
fn cut(line: &mut Vec<u8>, start: usize, width: usize) {
    // Fewer bytes than the width: fewer characters too.
    if line.len() - start <= width || chars(&line[start..]) <= width {
        return;
    }
    let keep = char_offset(&line[start..], width.saturating_sub(1));
    line.truncate(start + keep);
    if width > 0 {
        line.extend_from_slice("…".as_bytes());
    }
}

/// Cuts a path from `start` to at most `width` characters by its
/// beginning, `…` first, so the file's own name stays.
fn cut_left(line: &mut Vec<u8>, start: usize, width: usize) {
    let n = chars(&line[start..]);
    if n <= width || width == 0 {
        return;
    }
    let from = start + char_offset(&line[start..], n - (width - 1));
    line.splice(start..from, "…".bytes());
}

/// Writes records as a table: a header row, then one row per record.
pub struct Columns {
    fields: Vec<&'static Field>,
    /// Each column's width (see [`layout`]).
    widths: Vec<usize>,
    /// The text columns: their values are cut (paths by their beginning).
    text: Vec<bool>,
    /// The line's width limit, when there is one.
    limit: Option<usize>,
    timestamp: TimestampFormat,
    time: TimeText,
    /// For `timestamp_rfc3339`, in UTC as in JSON.
    utc: TimeText,
    header_done: bool,
    line: Vec<u8>,
}

impl Columns {
    /// Unlimited width, times of day in UTC.
    pub fn new(fields: Vec<&'static Field>) -> Columns {
        Columns::with_style(fields, Style::default())
    }

    pub fn with_style(fields: Vec<&'static Field>, style: Style) -> Columns {
        let fits: Vec<Fit> = fields.iter().map(|f| fit(f, style.timestamp)).collect();
        let widths = match style.width {
            Some(w) => layout(&fits, w),
            // Each field's width, or its header's if wider; a longer value
            // pushes the rest of its row right.
            None => fields.iter().map(|f| plain_width(f, style.timestamp)).collect(),
        };
        Columns {
            text: fields.iter().map(|f| is_text(f)).collect(),
            fields,
            widths,
            limit: style.width,
            timestamp: style.timestamp,
            time: style.time,
            utc: TimeText::utc(),
            header_done: false,
            line: Vec::with_capacity(256),
        }
    }

    /// Cuts the cell that starts at `text_start` to its column's width when
    /// there is a limit (a path in a text column by its beginning, anything
    /// else by its end),
    /// then pads it, in characters (the line is UTF-8: every byte but
    /// continuation bytes starts one). The last cell is not padded.
    fn push_cell(&mut self, i: usize, text_start: usize) {
        let width = self.widths[i];
        if self.limit.is_some() {
            if self.text[i] && self.line.get(text_start) == Some(&b'/') {
                cut_left(&mut self.line, text_start, width);
            } else {
                cut(&mut self.line, text_start, width);
            }
        }
        if i + 1 < self.fields.len() {
            let used = chars(&self.line[text_start..]);
            if used < width {
                self.line.resize(self.line.len() + width - used, b' ');
            }
            self.line.push(b' ');
        }
    }

    /// Ends the line, cut to the limit if the columns could not fit it.
    fn end_line(&mut self, out: &mut impl Write) -> io::Result<()> {
        if let Some(limit) = self.limit {
            cut(&mut self.line, 0, limit);
        }
        self.line.push(b'\n');
        out.write_all(&self.line)
    }

    /// Writes the header row now (the tracer does at start, so a quiet
    /// trace shows its columns); else the first record's row brings it.
    pub fn header(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.header_done = true;
        self.line.clear();
        for i in 0..self.fields.len() {
            let start = self.line.len();
            self.line.extend_from_slice(fields::header(self.fields[i]).as_bytes());
            self.push_cell(i, start);
        }
        self.end_line(out)
    }

    fn push_value(&mut self, v: &Value<'_>) {
        let out = &mut self.line;
        match v {
            Value::Null | Value::NotApplicable(_) => {}
            Value::Unknown => out.extend_from_slice(b"(unknown)"),
            Value::U64(n) => push_int(*n, out),
            Value::I64(n) => push_int(*n, out),
            Value::Hex(n) => push_hex(*n, out),
            Value::Time(ns) => self.time.push(*ns, self.timestamp, out),
            Value::Rfc3339(ns) => self.utc.push(*ns, TimestampFormat::Rfc3339, out),
            Value::Latency(ns) => push_latency(*ns, out),
            Value::Decoded(d) => d.write(out),
            Value::Static(s) => out.extend_from_slice(s.as_bytes()),
            Value::Bytes(b) => escape_terminal_into(b, out),
        }
    }

    pub fn write(&mut self, r: &Record, out: &mut impl Write) -> io::Result<()> {
        if !self.header_done {
            self.header(out)?;
        }
        self.line.clear();
        for i in 0..self.fields.len() {
            let start = self.line.len();
            self.push_value(&(self.fields[i].get)(r));
            self.push_cell(i, start);
        }
        self.end_line(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{sample, samples};
    use super::*;

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

    /// The default table of the sample records at `width`.
    fn table(width: usize) -> String {
        let style = Style { width: Some(width), ..Style::default() };
        let mut c = Columns::with_style(default_fields(Some(width), style.timestamp), style);
        let mut out = Vec::new();
        c.header(&mut out).unwrap();
        for r in samples() {
            c.write(&r, &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    /// Where each column of a row starts: after two or more spaces, or one
    /// space at a header's column start.
    fn starts(header: &str) -> Vec<usize> {
        let mut v = vec![0];
        let b = header.as_bytes();
        for i in 1..b.len() {
            if b[i] != b' ' && b[i - 1] == b' ' {
                v.push(i);
            }
        }
        v
    }

    fn check_table(width: usize, golden: &str) {
        let text = table(width);
        assert_eq!(text, golden, "at {width} columns:\n{text}");
        let lines: Vec<&str> = text.lines().collect();
        for l in &lines {
            assert!(l.chars().count() <= width, "{} > {width}: {l}", l.chars().count());
        }
        // Every value starts where its header does (the header's columns are
        // words without spaces, the sample values too).
        let heads = starts(lines[0]);
        for l in &lines[1..] {
            let chars: Vec<char> = l.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                if *c != ' ' && (i == 0 || chars[i - 1] == ' ') {
                    assert!(heads.contains(&i), "a value at {i} under no header:\n{}\n{l}", lines[0]);
                }
            }
        }
    }

    #[test]
    fn golden_80() {
        check_table(
            80,
            "\
TIMESTAMP       TRACER_COMM  TRACEE_COMM  MASK                 PATH
22:13:20.123456 inotifywatch touch        IN_OPEN|FS_EVENT_ON… /tmp/X/ABCDE
22:13:20.223456 inotifywatch touch        IN_CLOSE_WRITE|FS_E… …ghty-columns.txt
22:13:21.000000 fanotify-da… cat          FAN_OPEN_PERM        …al-version-3.pdf
22:13:21.000812 fanotify-da… cat          FAN_OPEN_PERM        …al-version-3.pdf
",
        );
    }

    #[test]
    fn golden_120() {
        check_table(
            120,
            "\
TIMESTAMP       TYPE     TRACER_COMM  TRACEE_PID TRACEE_COMM  MASK                 FA_RESPONSE PATH
22:13:20.123456 inotify  inotifywatch 20         touch        IN_OPEN|FS_EVENT_ON…             /tmp/X/ABCDE
22:13:20.223456 inotify  inotifywatch 20         touch        IN_CLOSE_WRITE|FS_E…             …ng-at-eighty-columns.txt
22:13:21.000000 fanotify fanotify-da… 3001       cat          FAN_OPEN_PERM                    …port-final-version-3.pdf
22:13:21.000812 fa_resp  fanotify-da… 3001       cat          FAN_OPEN_PERM        allow       …port-final-version-3.pdf
",
        );
    }

    #[test]
    fn golden_200() {
        check_table(
            200,
            "\
TIMESTAMP       TYPE     TRACER_PID TRACER_COMM      TRACEE_PID TRACEE_COMM      MASK                               FA_RESPONSE PATH
22:13:20.123456 inotify  10         inotifywatch     20         touch            IN_OPEN|FS_EVENT_ON_CHILD                      /tmp/X/ABCDE
22:13:20.223456 inotify  10         inotifywatch     20         touch            IN_CLOSE_WRITE|FS_EVENT_ON_CHILD               /tmp/X/a-name-long-enough-to-need-cutting-at-eighty-columns.txt
22:13:21.000000 fanotify 4194303    fanotify-daemon  3001       cat              FAN_OPEN_PERM                                  /srv/data/projects/2026/report-final-version-3.pdf
22:13:21.000812 fa_resp  4194303    fanotify-daemon  3001       cat              FAN_OPEN_PERM                      allow       /srv/data/projects/2026/report-final-version-3.pdf
",
        );
        assert!(!table(200).contains('…'));
    }

    #[test]
    fn columns_that_cannot_fit_are_cut_at_the_width() {
        // Every field at 80 columns: far too many to fit; each line is cut.
        let style = Style { width: Some(80), ..Style::default() };
        let mut c = Columns::with_style(fields::all().collect(), style);
        let mut out = Vec::new();
        for r in samples() {
            c.write(&r, &mut out).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        for l in text.lines() {
            assert_eq!(l.chars().count(), 80, "{l}");
            assert!(l.ends_with('…'), "{l}");
        }
        // Without a width nothing is cut, whatever the length.
        let mut c = Columns::new(fields::parse_list("tracer_comm,name").unwrap());
        let mut out = Vec::new();
        let mut r = sample();
        r.name = vec![b'x'; 5000];
        c.write(&r, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with(&format!("{}\n", "x".repeat(5000))));
    }

    #[test]
    fn cells_cut_by_characters_not_bytes() {
        let style = Style { width: Some(40), ..Style::default() };
        let mut c = Columns::with_style(fields::parse_list("tracee_user,name").unwrap(), style);
        let mut r = sample();
        r.tracee.as_mut().unwrap().user = Some("ユーザー名がとても長い名前です".into());
        r.name = "/données/été/ファイル/の/とても長い名前のファイル.txt".as_bytes().to_vec();
        let mut out = Vec::new();
        c.write(&r, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert_eq!(row.chars().count(), 40, "{row}");
        assert!(row.starts_with("ユーザー名がとても長… …"), "{row}");
        assert!(row.ends_with(" …été/ファイル/の/とても長い名前のファイル.txt"), "{row}");
    }

    #[test]
    fn inotify_rows_leave_fanotify_columns_blank() {
        let mut c = Columns::new(fields::parse_list("type,fa_response,fa_mask,latency,name").unwrap());
        let mut out = Vec::new();
        for r in samples() {
            c.write(&r, &mut out).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "TYPE     FA_RESPONSE FA_MASK                    LATENCY NAME");
        assert_eq!(lines[1], format!("inotify{}ABCDE", " ".repeat(56 - 7)));
        // Each value where its header starts, in characters.
        let at = |line: &str, header: &str| {
            let col = lines[0].find(header).unwrap();
            line.chars().skip(col).collect::<String>()
        };
        assert!(at(lines[2], "LATENCY").starts_with("812µs   a-name"), "{}", lines[2]);
        assert!(at(lines[4], "FA_RESPONSE").starts_with("allow       FAN_OPEN_PERM "), "{}", lines[4]);
        assert!(at(lines[4], "LATENCY").starts_with("3.0s    /srv"), "{}", lines[4]);
        assert_eq!(at(lines[3], "FA_RESPONSE").chars().next(), Some(' '), "{}", lines[3]);
        assert!(!text.contains("na "));
    }

    #[test]
    fn narrow_defaults_drop_the_least_needed_columns() {
        let names = |w| default_fields(w, TimestampFormat::Time).iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(names(None), fields::DEFAULT_COLUMNS);
        assert_eq!(names(Some(80)), ["timestamp", "tracer.comm", "tracee.comm", "mask", "path"]);
        assert_eq!(names(Some(40)), ["timestamp", "tracer.comm", "tracee.comm", "mask", "path"]);
        assert_eq!(names(Some(300)), fields::DEFAULT_COLUMNS);
    }
}

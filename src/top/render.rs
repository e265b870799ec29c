//! A [`Summary`] as tables of text: the sections both the live view and the
//! plain-text output draw, and the plain-text block itself.

use super::aggregate::{LostCounts, ProcCell, Scope, Summary};
use crate::output::escape_terminal;

/// One section: a title, its column headers, its rows of cells, and how many
/// rows `--max-rows` left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: &'static str,
    pub header: Vec<&'static str>,
    /// Which columns hold numbers (right-aligned).
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
    pub more: usize,
}

/// A duration in nanoseconds with a unit that keeps three significant digits
/// or so: `850ns`, `12.3us`, `20.1ms`, `1.50s`.
pub fn duration(ns: u64) -> String {
    let f = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}us", f / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", f / 1e6)
    } else {
        format!("{:.2}s", f / 1e9)
    }
}

fn rate(r: f64) -> String {
    format!("{r:.1}")
}

fn comm(p: &ProcCell) -> String {
    let mut s = String::new();
    escape_terminal(p.raw.as_bytes(), &mut s);
    if s.is_empty() {
        s.push('-');
    }
    s
}

/// The process's container, escaped (a runtime's name is another program's text); `-` on the host.
fn container(p: &ProcCell) -> String {
    let mut s = String::new();
    escape_terminal(p.container.as_deref().unwrap_or("-").as_bytes(), &mut s);
    s
}

fn pid(p: &ProcCell) -> String {
    if p.pid == 0 {
        "-".to_string()
    } else {
        p.pid.to_string()
    }
}

fn opt_duration(ns: Option<u64>) -> String {
    ns.map_or_else(|| "-".to_string(), duration)
}

/// The losses in words: `none lost`, or `lost N (R ring buffer, …)`.
pub fn lost_words(l: &LostCounts) -> String {
    if l.total == 0 {
        return "none lost".to_string();
    }
    let mut causes = vec![];
    for (n, what) in [(l.ringbuf, "ring buffer full"), (l.untracked, "kernel maps full"), (l.undecodable, "undecodable")] {
        if n > 0 {
            causes.push(format!("{n} {what}"));
        }
    }
    format!("lost {} ({})", l.total, causes.join(", "))
}

/// The first line of a block: which span, how long, how many records, losses.
pub fn title(s: &Summary) -> String {
    let span = match s.scope {
        Scope::Interval => format!("interval {} ({:.2} s)", s.interval, s.seconds),
        Scope::Total => format!("summary of {:.1} s ({} intervals)", s.seconds, s.interval),
    };
    let backlog = s.backlog_unknown.map_or_else(String::new, |why| format!("; backlog unknown: {why}"));
    format!("fsnotify-gadget top: {span}: {} records, {}{backlog}", s.records, lost_words(&s.lost))
}

/// A size in bytes as people read it: `0`, `512B`, `9.4KiB`, `12MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    if n == 0 {
        return "0".to_string();
    }
    let (mut v, mut u) = (n as f64, 0);
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else if v < 10.0 {
        format!("{v:.1}{}", UNITS[u])
    } else {
        format!("{v:.0}{}", UNITS[u])
    }
}

/// A section from its columns, the text (left-aligned) ones among them, and
/// each row's cells with its total since the start, which an interval shows
/// in a last TOTAL column.
fn section(
    title: &'static str,
    columns: &[&'static str],
    text_columns: &[&str],
    rows: impl Iterator<Item = (Vec<String>, u64)>,
    more: usize,
    interval: bool,
) -> Section {
    let mut header = columns.to_vec();
    if interval {
        header.push("TOTAL");
    }
    let numeric = header.iter().map(|h| !text_columns.contains(h)).collect();
    let rows = rows
        .map(|(mut row, total)| {
            if interval {
                row.push(total.to_string());
            }
            row
        })
        .collect();
    Section { title, header, numeric, rows, more }
}

/// The three sections. An interval shows the span's counts and the totals
/// since the start beside them; the whole run's summary has one count.
pub fn sections(s: &Summary) -> Vec<Section> {
    let interval = s.scope == Scope::Interval;
    let tracers = s.tracers.iter().map(|r| {
        let row = vec![
            pid(&r.tracer),
            comm(&r.tracer),
            container(&r.tracer),
            r.kind.to_string(),
            rate(r.events_per_s),
            r.events.to_string(),
            r.overflows.to_string(),
            r.lost.to_string(),
            r.backlog_bytes.map_or_else(|| "-".to_string(), bytes),
        ];
        (row, r.total_events)
    });
    let pairs = s.pairs.iter().map(|r| {
        let row = vec![
            pid(&r.tracee),
            comm(&r.tracee),
            pid(&r.tracer),
            comm(&r.tracer),
            r.mask.clone(),
            rate(r.events_per_s),
            r.events.to_string(),
        ];
        (row, r.total_events)
    });
    let permission = s.permission.iter().map(|r| {
        let row = vec![
            pid(&r.tracer),
            comm(&r.tracer),
            container(&r.tracer),
            rate(r.requests_per_s),
            r.requests.to_string(),
            opt_duration(r.p50_ns),
            opt_duration(r.p99_ns),
            opt_duration(r.max_ns),
            r.allow.to_string(),
            r.deny.to_string(),
            r.interrupted.to_string(),
        ];
        (row, r.total_requests)
    });
    vec![
        section(
            "TRACERS",
            &["PID", "COMM", "CONTAINER", "KIND", "EVENTS/S", "EVENTS", "OVERFLOWS", "LOST", "BACKLOG"],
            &["COMM", "CONTAINER", "KIND"],
            tracers,
            s.tracers_more,
            interval,
        ),
        section(
            "TRACEE -> TRACER",
            &["TRACEE_PID", "TRACEE_COMM", "TRACER_PID", "TRACER_COMM", "MASK", "EVENTS/S", "EVENTS"],
            &["TRACEE_COMM", "TRACER_COMM", "MASK"],
            pairs,
            s.pairs_more,
            interval,
        ),
        section(
            "PERMISSION DAEMONS",
            &["PID", "COMM", "CONTAINER", "REQ/S", "REQUESTS", "P50", "P99", "MAX", "ALLOW", "DENY", "INTERRUPTED"],
            &["COMM", "CONTAINER"],
            permission,
            s.permission_more,
            interval,
        ),
    ]
}

/// Display width of an escaped cell (escaping leaves no control characters;
/// every other character is taken as one column).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// The plain-text block: the title, then each section as aligned columns
/// (numbers right-aligned), `(none)` for an empty one and `(N more)` under
/// a cut one. No escape codes: it can be pasted into a bug report.
pub fn text(s: &Summary) -> String {
    let mut out = title(s);
    out.push('\n');
    for sec in sections(s) {
        out.push('\n');
        out.push_str(sec.title);
        out.push('\n');
        if sec.rows.is_empty() {
            out.push_str("(none)\n");
            continue;
        }
        let mut widths: Vec<usize> = sec.header.iter().map(|h| width(h)).collect();
        for row in &sec.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let line = |cells: &[String]| {
            let mut l = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = " ".repeat(widths[i] - width(cell));
                if i > 0 {
                    l.push_str("  ");
                }
                if sec.numeric[i] {
                    l.push_str(&pad);
                    l.push_str(cell);
                } else {
                    l.push_str(cell);
                    l.push_str(&pad);
                }
            }
            l.truncate(l.trim_end().len());
            l.push('\n');
            l
        };
        out.push_str(&line(&sec.header.iter().map(|h| h.to_string()).collect::<Vec<_>>()));
        for row in &sec.rows {
            out.push_str(&line(row));
        }
        if sec.more > 0 {
            out.push_str(&format!("({} more)\n", sec.more));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventType, FaResponse, Proc, Record};
    use crate::top::aggregate::{Aggregate, SortKey};

    #[test]
    fn durations_have_human_units() {
        assert_eq!(duration(850), "850ns");
        assert_eq!(duration(12_345), "12.3us");
        assert_eq!(duration(20_100_000), "20.1ms");
        assert_eq!(duration(1_500_000_000), "1.50s");
    }

    #[test]
    fn sizes_are_in_binary_units() {
        let cases = [(0, "0"), (32, "32B"), (1023, "1023B"), (1024, "1.0KiB"), (9_600, "9.4KiB"), (10_240, "10KiB"), (16 << 20, "16MiB"), (3 << 30, "3.0GiB")];
        for (n, want) in cases {
            assert_eq!(bytes(n), want, "{n}");
        }
    }

    #[test]
    fn text_blocks_align_and_say_what_was_cut() {
        let mut a = Aggregate::default();
        for (pid, n) in [(11, 3), (2222, 1)] {
            for _ in 0..n {
                let mut r = Record::new(EventType::Inotify, 1);
                let web = crate::containers::Container { id: "c".repeat(64), name: Some("web".into()), ..Default::default() };
                r.tracer = Some(Proc { pid, comm: b"w\x1b[31m".into(), container: Some(std::sync::Arc::new(web)), ..Default::default() });
                r.tracee = Some(Proc { pid: 5, comm: b"touch".into(), ..Default::default() });
                r.i_mask = Some(0x20);
                a.add(&r);
            }
        }
        let mut r = Record::new(EventType::FaResp, 1);
        r.tracer = Some(Proc { pid: 9, comm: b"permd".into(), ..Default::default() });
        r.fa_response = FaResponse::Deny;
        r.latency_ns = Some(20_000_000);
        a.add(&r);
        let mut s = a.end_interval(1.0, SortKey::Rate, 1);
        s.tracers[0].backlog_bytes = Some(9_600);
        s.tracers[0].lost = 2;
        let text = text(&s);
        let want = "\
fsnotify-gadget top: interval 1 (1.00 s): 5 records, none lost

TRACERS
PID  COMM       CONTAINER  KIND     EVENTS/S  EVENTS  OVERFLOWS  LOST  BACKLOG  TOTAL
 11  w\\x1b[31m  web        inotify       3.0       3          0     2   9.4KiB      3
(1 more)

TRACEE -> TRACER
TRACEE_PID  TRACEE_COMM  TRACER_PID  TRACER_COMM  MASK     EVENTS/S  EVENTS  TOTAL
         5  touch                11  w\\x1b[31m    IN_OPEN       3.0       3      3
(1 more)

PERMISSION DAEMONS
PID  COMM   CONTAINER  REQ/S  REQUESTS     P50     P99     MAX  ALLOW  DENY  INTERRUPTED  TOTAL
  9  permd  -            1.0         1  20.0ms  20.0ms  20.0ms      0     1            0      1
";
        assert_eq!(text, want);
        assert!(!text.contains('\x1b'), "no escape code reaches the text");

        s.backlog_unknown = Some(crate::procfs::backlog::Unavailable::NotPermitted.reason());
        assert!(title(&s).ends_with("none lost; backlog unknown: no ptrace rights over the process (run as root, or add CAP_SYS_PTRACE)"), "{}", title(&s));

        let empty = super::text(&Aggregate::default().total(2.0, SortKey::Rate, 5));
        assert!(empty.starts_with("fsnotify-gadget top: summary of 2.0 s (0 intervals): 0 records, none lost\n"), "{empty}");
        assert_eq!(empty.matches("(none)").count(), 3, "{empty}");
        assert!(!empty.contains("TOTAL"), "the whole run has one count per row");
    }
}

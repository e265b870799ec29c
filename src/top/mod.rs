//! `fsnotify-gadget top`: a live summary of the trace. The records come from
//! the tracer's own loop ([`crate::trace::drive`]) and backend, so top sees
//! [`crate::model::Record`]s only, whichever backend made them.
//!
//! - [`aggregate`]: the counts, rates, quantiles, sorting and limits (pure);
//! - [`quantile`]: the latency histogram;
//! - [`render`]: a summary as plain text, and the sections the live view draws;
//! - [`live`]: the live view (ratatui).
//!
//! Every `--interval` one summary: drawn on a terminal, printed as a plain
//! text block when stdout is not one (or with `-o text`), as one JSON object
//! per line with `-o json`. At the end (Ctrl-C, `q`, SIGTERM, `--timeout`)
//! the summary of the whole run: plain text, after the live view has given
//! the terminal back; a last JSON object with `"scope":"total"` under `-o json`.
//! A terminal that hangs up ends the live view at once, with no summary.

pub mod aggregate;
pub mod live;
pub mod quantile;
pub mod render;

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Result;

pub use aggregate::{Aggregate, SortKey, Summary};

use crate::backend::Tracer;
use crate::model::Record;
use crate::trace::{Consumer, Source};

/// How the summaries are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Redrawn in place on a terminal.
    Live,
    /// One plain-text block per interval.
    Text,
    /// One JSON object per line.
    Json,
}

/// What `top` needs, without clap.
#[derive(Debug, Clone)]
pub struct Options {
    pub source: Source,
    pub interval: Duration,
    pub sort: SortKey,
    pub max_rows: usize,
    /// None: live on a terminal, plain text otherwise.
    pub format: Option<Format>,
}

/// The consumer: aggregates the loop's records and shows a summary at the end
/// of each interval.
struct Top {
    options: Options,
    format: Format,
    aggregate: Aggregate,
    started: Instant,
    interval_started: Instant,
    next: Instant,
    live: Option<live::Live>,
    quit: bool,
}

impl Top {
    fn emit(&mut self, s: Summary) -> Result<()> {
        match self.format {
            Format::Live => {
                if let Some(live) = &mut self.live {
                    live.show(s)?;
                }
                Ok(())
            }
            // A blank line between blocks.
            Format::Text => print(&format!("{}\n", render::text(&s))),
            Format::Json => print(&json_line(&s)),
        }
    }

    fn end_interval(&mut self, now: Instant) -> Result<()> {
        let seconds = now.duration_since(self.interval_started).as_secs_f64();
        let mut s = self.aggregate.end_interval(seconds, self.options.sort, self.options.max_rows);
        fill_backlog(&mut s);
        self.interval_started = now;
        self.next += self.options.interval;
        if self.next <= now {
            // A slow output or a stalled loop: the next interval is a whole one.
            self.next = now + self.options.interval;
        }
        self.emit(s)
    }
}

/// Reads the backlog of each tracer shown, as the span ends. A process that
/// exited, or no longer holds such an fd, has none; a reason that holds for
/// every tracer (no ptrace rights, an old kernel) is said once, in the summary.
fn fill_backlog(s: &mut Summary) {
    use crate::procfs::backlog::{queued_bytes, Unavailable};
    use crate::procfs::NotifyKind;
    for row in &mut s.tracers {
        let Some(kind) = [NotifyKind::Inotify, NotifyKind::Fanotify].into_iter().find(|k| k.name() == row.kind) else { continue };
        row.backlog_bytes = match queued_bytes(row.tracer.pid, kind) {
            Ok(n) => Some(n),
            Err(Unavailable::Gone) => None,
            Err(why) => {
                s.backlog_unknown = Some(why.reason());
                None
            }
        };
    }
}

/// Writes to standard output and flushes: a closed pipe comes back as an
/// error (the caller takes it as a quiet end).
fn print(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A summary as one line of JSON.
pub fn json_line(s: &Summary) -> String {
    let mut line = serde_json::to_string(s).expect("a summary is plain data");
    line.push('\n');
    line
}

impl Consumer for Top {
    fn start(&mut self, _tracer: &dyn Tracer) -> Result<()> {
        let now = Instant::now();
        self.started = now;
        self.interval_started = now;
        self.next = now + self.options.interval;
        if self.format == Format::Live {
            self.live = Some(live::Live::start()?);
        }
        Ok(())
    }

    fn take(&mut self, batch: &mut Vec<Record>, tracer: &dyn Tracer) -> Result<()> {
        for r in batch.drain(..) {
            self.aggregate.add(&r);
        }
        for (group, n) in tracer.take_lost_by_group() {
            self.aggregate.add_lost(group, n);
        }
        self.aggregate.set_lost(tracer.lost());
        // Keys first: a terminal that went away is not drawn on.
        if let Some(live) = &mut self.live {
            self.quit |= live.quit_requested()?;
        }
        let now = Instant::now();
        if now >= self.next {
            self.end_interval(now)?;
        }
        Ok(())
    }

    fn wake_by(&self) -> Option<Instant> {
        Some(self.next)
    }

    fn wants_stop(&self) -> bool {
        self.quit
    }

    fn finish(&mut self, tracer: &dyn Tracer) -> Result<()> {
        for (group, n) in tracer.take_lost_by_group() {
            self.aggregate.add_lost(group, n);
        }
        self.aggregate.set_lost(tracer.lost());
        let now = Instant::now();
        // The part of an interval the stop cut short, when it counted
        // anything: shown and counted among the intervals.
        if self.aggregate.interval_has_data() {
            self.end_interval(now)?;
        }
        let mut total = self.aggregate.total(now.duration_since(self.started).as_secs_f64(), self.options.sort, self.options.max_rows);
        fill_backlog(&mut total);
        // Give the terminal back before the summary, which stays on it; a
        // terminal that went away gets none (a quiet end, as SIGHUP is).
        if let Some(mut live) = self.live.take() {
            if !live.alive() {
                return Ok(());
            }
        }
        match self.format {
            Format::Json => print(&json_line(&total)),
            Format::Text | Format::Live => print(&render::text(&total)),
        }
    }
}

/// Runs `top` until stopped.
pub fn run(options: &Options) -> Result<()> {
    let format = options.format.unwrap_or(if io::stdout().is_terminal() { Format::Live } else { Format::Text });
    if format == Format::Live && !io::stdout().is_terminal() {
        anyhow::bail!("the live view needs a terminal on standard output; use -o text or -o json");
    }
    let now = Instant::now();
    let mut top = Top {
        options: options.clone(),
        format,
        aggregate: Aggregate::default(),
        started: now,
        interval_started: now,
        next: now + options.interval,
        live: None,
        quit: false,
    };
    crate::trace::drive(&options.source, &mut top)
}

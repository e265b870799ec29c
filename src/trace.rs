//! The tracing loop: poll the backend, enrich, print, report losses.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::backend::{self, Choice, Filters, Lost, TableUse, Tracer};
use crate::fields::Field;
use crate::model::Record;
use crate::names::Names;
use crate::output::{Format, Style, TimeText, TimestampFormat, Writer};

/// What to trace and how to print it (the tracer's flags).
#[derive(Debug, Clone)]
pub struct Options {
    /// The backend, the filters, when to stop, the container roots.
    pub source: Source,
    pub format: Format,
    pub fields: Vec<&'static Field>,
    /// The columns' width limit (None: no limit).
    pub width: Option<usize>,
    /// How the columns show timestamps.
    pub timestamp: TimestampFormat,
    /// Print a stats line this often, and at exit.
    pub stats: Option<Duration>,
    /// Serve Prometheus metrics there, so labelled and refreshed.
    pub metrics: Option<(std::net::SocketAddr, crate::metrics::Options)>,
}

static STOP: AtomicBool = AtomicBool::new(false);
static STATS_NOW: AtomicBool = AtomicBool::new(false);
/// Records the kernel sent that the `-F` conditions then left out in user space, since the
/// start: the `--stats` line's `filtered=`. A condition handed to the kernel leaves out its
/// records there, so a trace whose conditions all went to the kernel counts none here (the
/// tests of the in-kernel filters hold the kernel to that).
static FILTERED_OUT: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

extern "C" fn on_stats_signal(_: libc::c_int) {
    STATS_NOW.store(true, Ordering::SeqCst);
}

/// SIGINT, SIGTERM and SIGHUP (the terminal went away) stop the trace cleanly, with its
/// summary; SIGUSR1 prints a stats line and tracing goes on.
fn install_signal_handlers() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let stop = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        let _ = unsafe { sigaction(sig, &stop) };
    }
    let stats = SigAction::new(SigHandler::Handler(on_stats_signal), SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: as above.
    let _ = unsafe { sigaction(Signal::SIGUSR1, &stats) };
}

/// Fills the fields that come from user space rather than the kernel.
pub fn enrich(names: &mut Names, r: &mut Record) {
    for p in [r.tracer.as_mut(), r.tracee.as_mut()].into_iter().flatten() {
        names.enrich(p);
    }
}

fn describe(lost: &Lost) -> String {
    let mut parts = Vec::new();
    if lost.ringbuf > 0 {
        parts.push(format!("{} (ring buffer full)", lost.ringbuf));
    }
    if lost.untracked > 0 {
        parts.push(format!("{} (kernel maps full)", lost.untracked));
    }
    if lost.undecodable > 0 {
        parts.push(format!("{} (could not be decoded or joined)", lost.undecodable));
    }
    parts.join(", ")
}

/// Events dequeued that never reached a tracer: `; 3 discarded (2 at close, …)`, or nothing.
fn describe_discarded(lost: &Lost) -> String {
    let d = &lost.discarded;
    if d.total() == 0 {
        return String::new();
    }
    let mut parts = Vec::new();
    if d.at_close > 0 {
        parts.push(format!("{} at close, never read", d.at_close));
    }
    if d.copy_failed > 0 {
        parts.push(format!("{} the read could not copy out", d.copy_failed));
    }
    format!("; {} events dequeued but not delivered: {}", d.total(), parts.join(", "))
}

/// `VmRSS` and `VmHWM` of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The `--stats` line, `key=value` words after the prefix.
pub fn stats_line(printed: u64, filtered: u64, lost: &Lost, rss_kib: u64, peak_kib: u64, tables: &[TableUse]) -> String {
    let mut s = format!(
        "fsnotify-gadget: stats: records={printed} filtered={filtered} lost={} discarded_close={} discarded_copy={} rss_kib={rss_kib} peak_rss_kib={peak_kib}",
        lost.total(),
        lost.discarded.at_close,
        lost.discarded.copy_failed,
    );
    for t in tables {
        s.push_str(&format!(" {}={}/{}", t.name, t.entries, t.capacity));
    }
    s
}

/// Standard output, counting the bytes write(2) took: on a write error the
/// records that reached it are told from those that did not.
struct Counted<W: Write> {
    inner: W,
    accepted: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.accepted += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where the records go, and how many of them reached it.
///
/// Records are appended to one buffer (JSON lines are built in it, not
/// copied into it from a line of their own), which is handed to write(2)
/// whenever it holds [`Output::FLUSH_AT`] bytes and at the end of each batch.
struct Output<W: Write> {
    /// None once a write error ended the output.
    out: Option<Counted<W>>,
    /// What the next write(2) takes.
    buf: Vec<u8>,
    /// Where each record not yet taken whole ends, in bytes handed out.
    ends: std::collections::VecDeque<u64>,
    /// Records whose every byte write(2) took.
    written: u64,
    /// The write error that ended the output, and the records it left unwritten.
    failed: Option<(io::Error, u64)>,
}

impl<W: Write> Output<W> {
    const FLUSH_AT: usize = 64 * 1024;

    fn new(w: W) -> Self {
        let buf = Vec::with_capacity(Self::FLUSH_AT + 8 * 1024);
        Output { out: Some(Counted { inner: w, accepted: 0 }), buf, ends: Default::default(), written: 0, failed: None }
    }

    /// Hands the buffer to write(2), whole.
    fn hand_out(out: &mut Counted<W>, buf: &mut Vec<u8>) -> io::Result<()> {
        out.write_all(buf)?;
        buf.clear();
        Ok(())
    }

    /// Ends the output after a write error: what write(2) did not take is dropped.
    fn end(&mut self, e: io::Error, unwritten: u64) {
        self.out = None;
        self.buf.clear();
        self.ends.clear();
        self.failed = Some((e, unwritten));
    }

    /// Writes what comes before the records (the columns' header) at once,
    /// so a quiet trace shows it. Errors end the output as in [`Output::write_batch`].
    fn start(&mut self, writer: &mut Writer) -> io::Result<()> {
        let Some(out) = &mut self.out else { return Ok(()) };
        writer.start(&mut self.buf).expect("writing to memory");
        match Self::hand_out(out, &mut self.buf).and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(e),
            Err(e) => {
                self.end(e, 0);
                Ok(())
            }
        }
    }

    /// Writes the batch, handing each record to `seen` first (the metrics
    /// count it there, while it is in cache, rather than in a pass of their
    /// own over up to 4096 records, 2 MB). A closed pipe is
    /// returned as an error (the reader is gone: a quiet end); any other write
    /// error ends the output, and the records it left, this batch's and every
    /// later one's, are counted as unwritten. `seen` sees every record either way.
    fn write_batch(&mut self, batch: &mut Vec<Record>, writer: &mut Writer, mut seen: impl FnMut(&Record)) -> io::Result<()> {
        let Some(out) = &mut self.out else {
            batch.iter().for_each(seen);
            if let Some((_, unwritten)) = &mut self.failed {
                *unwritten += batch.len() as u64;
            }
            batch.clear();
            return Ok(());
        };
        let mut result = Ok(());
        let mut not_appended = 0;
        for r in batch.iter() {
            seen(r);
            if result.is_err() {
                not_appended += 1;
                continue;
            }
            writer.append(r, &mut self.buf);
            self.ends.push_back(out.accepted + self.buf.len() as u64);
            if self.buf.len() >= Self::FLUSH_AT {
                result = Self::hand_out(out, &mut self.buf);
            }
        }
        batch.clear();
        let result = result.map_err(|e| (e, not_appended)).and_then(|()| Self::hand_out(out, &mut self.buf).and_then(|()| out.flush()).map_err(|e| (e, 0)));
        // Count the records write(2) has taken whole.
        let accepted = out.accepted;
        while self.ends.front().is_some_and(|&end| end <= accepted) {
            self.ends.pop_front();
            self.written += 1;
        }
        match result {
            Ok(()) => Ok(()),
            Err((e, _)) if e.kind() == io::ErrorKind::BrokenPipe => Err(e),
            Err((e, rest)) => {
                let unwritten = rest + self.ends.len() as u64;
                self.end(e, unwritten);
                Ok(())
            }
        }
    }
}

/// The printing side of a trace, over any output: the records written by
/// the columns or JSON writer, counted by the metrics recorder on the way.
/// The trace prints to standard output through it; the user-space benchmark
/// runs the same code into a sink.
pub struct Printing<W: Write> {
    writer: Writer,
    output: Output<W>,
    metrics: Option<crate::metrics::Recorder>,
    /// Records read from a queue the backend could not tell (`group_unknown`).
    group_unknown: u64,
}

impl<W: Write> Printing<W> {
    pub fn new(writer: Writer, out: W, metrics: Option<crate::metrics::Recorder>) -> Self {
        Printing { writer, output: Output::new(out), metrics, group_unknown: 0 }
    }

    /// Writes what comes before the records (the columns' header).
    pub fn start(&mut self) -> io::Result<()> {
        self.output.start(&mut self.writer)
    }

    /// Counts and writes a batch, then publishes the metrics it counted
    /// (with `tracer`'s loss counts and tables when there is one). Errors as
    /// [`Output::write_batch`].
    pub fn take(&mut self, batch: &mut Vec<Record>, tracer: Option<&dyn Tracer>) -> io::Result<()> {
        let unknown = &mut self.group_unknown;
        let result = match &mut self.metrics {
            Some(m) => self.output.write_batch(batch, &mut self.writer, |r| {
                *unknown += u64::from(r.group_unknown());
                m.observe(r)
            }),
            None => self.output.write_batch(batch, &mut self.writer, |r| *unknown += u64::from(r.group_unknown())),
        };
        if let Some(m) = &mut self.metrics {
            m.flush(tracer);
        }
        result
    }

    /// Records whose every byte the output took.
    pub fn written(&self) -> u64 {
        self.output.written
    }
}

/// Says what was lost since the last warning.
fn warn_lost(new: &Lost) {
    if new.total() > 0 {
        eprintln!("fsnotify-gadget: warning: lost {} records: {}", new.total(), describe(new));
    }
}

/// Warns of a --tracer-pid or --tracee-pid that no process has: nothing
/// matches until one starts with that pid (the filter is not refused, so a
/// process about to start can still be caught).
fn warn_missing_pids(filters: &Filters) {
    for (flag, pid) in [("--tracer-pid", filters.tracer_pid), ("--tracee-pid", filters.tracee_pid)] {
        if let Some(pid) = pid {
            if let Some(warning) = missing_pid_warning(flag, pid, std::path::Path::new("/proc")) {
                eprintln!("fsnotify-gadget: {warning}");
            }
        }
    }
}

/// The warning for `flag PID` when `proc` has no such process.
fn missing_pid_warning(flag: &str, pid: u32, proc: &std::path::Path) -> Option<String> {
    if proc.join(pid.to_string()).exists() {
        return None;
    }
    Some(format!("warning: {flag} {pid}: no such process now; nothing will match until one has that pid"))
}

/// What the loop reads, whoever takes its records: the backend, the
/// in-kernel filters, and when to stop.
#[derive(Debug, Clone)]
pub struct Source {
    pub backend: Choice,
    pub filters: Filters,
    /// `--filter` conditions, all checked on every record before the consumer takes it.
    pub conditions: Vec<crate::filter::Condition>,
    /// Stop after this long; None: at Ctrl-C or SIGTERM.
    pub timeout: Option<Duration>,
    /// `-v`: why each backend was passed over, and libbpf's messages.
    pub verbose: bool,
    /// Where the runtimes keep their state (`--runtime-root`, HOST_ROOT).
    pub roots: crate::containers::Roots,
    /// `--tracee-container`, `--tracer-container`: a container running at
    /// start has its cgroup id handed to the kernel's filter.
    pub tracee_container: Option<String>,
    pub tracer_container: Option<String>,
}

/// Where the loop's records go: the printer of the trace, or `top`'s
/// aggregation. It sees records and loss counts only, never which backend
/// made them.
pub trait Consumer {
    /// Called once the backend runs, before the first poll.
    fn start(&mut self, _tracer: &dyn Tracer) -> Result<()> {
        Ok(())
    }
    /// Called after every poll with the records it completed (possibly
    /// none); takes them out of `batch`. An error ends the run at once.
    fn take(&mut self, batch: &mut Vec<Record>, tracer: &dyn Tracer) -> Result<()>;
    /// The latest moment the loop may sleep until before calling
    /// [`Consumer::take`] again (a refresh that is due).
    fn wake_by(&self) -> Option<Instant> {
        None
    }
    /// Called once the last records were taken, while the backend still
    /// runs (its loss counts and tables are final): the summary.
    fn finish(&mut self, _tracer: &dyn Tracer) -> Result<()> {
        Ok(())
    }
    /// True once the consumer wants the run to end (its output failed, its
    /// user quit): what the kernel already sent is drained, then the loop ends.
    fn wants_stop(&self) -> bool {
        false
    }
}

/// Opens the backend, then polls it and hands every record to `consumer`
/// until a signal, the timeout or the consumer stops it; drains what the
/// kernel already sent, and the backend's last records, before it returns.
pub fn drive(source: &Source, consumer: &mut dyn Consumer) -> Result<()> {
    crate::privileges::check()?;
    backend::quiet_libbpf();
    backend::set_verbose(source.verbose);
    warn_missing_pids(&source.filters);
    let mut names = Names::with_containers(crate::containers::Containers::new(source.roots.clone()));
    let mut filters = source.filters.clone();
    for note in container_push_down(source, &mut names, &mut filters) {
        eprintln!("fsnotify-gadget: {note}");
    }
    let opened = backend::open(source.backend, &filters, source.verbose)?;
    for note in &opened.notes {
        eprintln!("fsnotify-gadget: {note}");
    }
    let mut tracer: Box<dyn Tracer> = opened.tracer;
    // Loading parsed the kernel's BTF (tens of MiB, now freed, and more
    // when auto tried a backend that failed): give those pages back.
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe { libc::malloc_trim(0) };
    install_signal_handlers();
    // The watches' paths as they are now, before "tracing with" lets anyone act on the trace.
    let mut paths = crate::procfs::watch_paths::WatchPaths::default();
    paths.prime();
    eprintln!("fsnotify-gadget: tracing with the {} backend; Ctrl-C stops", tracer.name());
    consumer.start(tracer.as_ref())?;

    let deadline = source.timeout.map(|t| Instant::now() + t);
    let mut batch = Vec::new();
    let mut more = false;
    let mut stopped_at: Option<Instant> = None;
    loop {
        let stopping = STOP.load(Ordering::SeqCst) || consumer.wants_stop() || deadline.is_some_and(|d| Instant::now() >= d);
        if stopping && stopped_at.is_none() {
            stopped_at = Some(Instant::now());
        }
        // What the kernel produces after the stop is not waited for forever.
        let drained_enough = stopped_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2));
        let mut wait = if stopping || more { Duration::ZERO } else { Duration::from_millis(100) };
        if let Some(at) = consumer.wake_by() {
            wait = wait.min(at.saturating_duration_since(Instant::now()));
        }
        more = tracer.poll(wait, &mut batch)?;
        for (group, at) in tracer.take_groups_gone() {
            paths.group_gone(group, at);
        }
        // Soon after the read, while the tracer and its watches are still there.
        paths.new_batch();
        names.new_batch();
        batch.iter_mut().for_each(|r| {
            paths.fill(r);
            enrich(&mut names, r);
        });
        keep_matching(&source.conditions, &mut batch);
        consumer.take(&mut batch, tracer.as_ref())?;
        if stopping && (!more || drained_enough) {
            break;
        }
    }
    tracer.finish(&mut batch);
    for (group, at) in tracer.take_groups_gone() {
        paths.group_gone(group, at);
    }
    batch.iter_mut().for_each(|r| {
        paths.fill(r);
        enrich(&mut names, r);
    });
    keep_matching(&source.conditions, &mut batch);
    consumer.take(&mut batch, tracer.as_ref())?;
    consumer.finish(tracer.as_ref())
}

/// Keeps the records that meet every `-F` condition, counting the others in [`FILTERED_OUT`].
fn keep_matching(conditions: &[crate::filter::Condition], batch: &mut Vec<Record>) {
    if conditions.is_empty() {
        return;
    }
    let before = batch.len();
    batch.retain(|r| crate::filter::matches_all(conditions, r));
    FILTERED_OUT.fetch_add((before - batch.len()) as u64, Ordering::Relaxed);
}

/// Hands the kernel the cgroup id of `--tracee-container` / `--tracer-container`
/// when that container runs now in exactly one cgroup with none below it
/// (the kernel compares the leaf cgroup); otherwise the user-space condition
/// alone selects. Returns what to tell the user.
fn container_push_down(source: &Source, names: &mut Names, filters: &mut Filters) -> Vec<String> {
    let mut notes = Vec::new();
    for (flag, name, slot) in [
        ("--tracee-container", &source.tracee_container, &mut filters.tracee_cgroup),
        ("--tracer-container", &source.tracer_container, &mut filters.tracer_cgroup),
    ] {
        let Some(name) = name else { continue };
        let ids = names.containers().cgroup_ids_of(name);
        match ids[..] {
            [id] if slot.is_none() && names.containers().cgroup_is_leaf(id) => {
                *slot = Some(id);
                notes.push(format!("{flag} {name}: filtered in the kernel by its cgroup id {id} (a restart of it is not seen)"));
            }
            [] => notes.push(format!("{flag} {name}: no running container has that name now; filtered in user space")),
            _ => {}
        }
    }
    notes
}

/// The trace's consumer: prints every record, serves the metrics, warns of
/// losses, prints the stats lines.
struct Printer<'a> {
    args: &'a Options,
    printing: Printing<RawStdout>,
    reported: Lost,
    next_stats: Option<Instant>,
}

impl Printer<'_> {
    fn print_stats(&self, tracer: &dyn Tracer) {
        let (rss, peak) = memory_kib();
        let filtered = FILTERED_OUT.load(Ordering::Relaxed);
        eprintln!("{}", stats_line(self.printing.written(), filtered, &tracer.lost(), rss, peak, &tracer.tables()));
    }
}

impl Consumer for Printer<'_> {
    fn start(&mut self, tracer: &dyn Tracer) -> Result<()> {
        self.printing.metrics =
            self.args.metrics.as_ref().and_then(|(addr, options)| crate::metrics::start_for_trace(*addr, options, tracer.name()));
        // The header now, so that a quiet trace is not a blank screen.
        self.printing.start()?;
        Ok(())
    }

    fn take(&mut self, batch: &mut Vec<Record>, tracer: &dyn Tracer) -> Result<()> {
        self.printing.take(batch, Some(tracer))?;
        let lost = tracer.lost();
        if lost != self.reported {
            warn_lost(&lost.since(&self.reported));
            self.reported = lost;
        }
        if let (Some(at), Some(every)) = (self.next_stats, self.args.stats) {
            if Instant::now() >= at {
                self.print_stats(tracer);
                self.next_stats = Some(at + every);
            }
        }
        if STATS_NOW.swap(false, Ordering::SeqCst) {
            self.print_stats(tracer);
        }
        Ok(())
    }

    fn finish(&mut self, tracer: &dyn Tracer) -> Result<()> {
        if self.args.stats.is_some() {
            self.print_stats(tracer);
        }
        let lost = tracer.lost();
        let printed = self.printing.written();
        let unwritten = match &self.printing.output.failed {
            Some((e, n)) => format!(", {n} not written (standard output: {e})"),
            None => String::new(),
        };
        let sep = if lost.total() == 0 { "," } else { ";" };
        let unknown = match self.printing.group_unknown {
            0 => String::new(),
            n => format!("; {n} read from a queue the backend could not tell (group_unknown, no path)"),
        };
        eprintln!("fsnotify-gadget: {printed} records{unwritten}{sep} {}{unknown}", lost_summary(&lost));
        match self.printing.output.failed.take() {
            Some((e, _)) => Err(anyhow::Error::new(e).context("writing the records to standard output")),
            None => Ok(()),
        }
    }

    fn wants_stop(&self) -> bool {
        // Nothing more can be written: drain what the kernel sent, count it, and stop.
        self.printing.output.failed.is_some()
    }
}

/// Standard output as its file descriptor. std's stdout keeps a line buffer, whose bytes its
/// write() reports as taken before any reached the kernel: on a full disk the last of them
/// were counted as written and then lost. Here every byte counted is one write(2) took.
struct RawStdout(std::mem::ManuallyDrop<std::fs::File>);

impl RawStdout {
    /// Standard output, or why the records could go nowhere: closed (std reopens a closed
    /// fd 1 on /dev/null, read and write, before main; a shell's `>/dev/null` opens it
    /// write-only), or open for reading only. Either way the trace would print nothing
    /// and say it printed everything.
    fn check() -> Result<RawStdout> {
        use std::os::fd::{AsRawFd, FromRawFd};
        use std::os::unix::fs::FileTypeExt;
        // SAFETY: fd 1 is open (std made sure of it); ManuallyDrop never closes it.
        let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) });
        let mode = nix::fcntl::fcntl(file.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)
            .map(|flags| flags & libc::O_ACCMODE)
            .map_err(|e| anyhow::anyhow!("standard output: {e}"))?;
        if mode == libc::O_RDONLY {
            anyhow::bail!("standard output is open for reading only: give the records a file, a pipe or the terminal");
        }
        let dev_null = file.metadata().is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            m.file_type().is_char_device() && m.rdev() == libc::makedev(1, 3)
        });
        if dev_null && mode == libc::O_RDWR {
            anyhow::bail!(
                "standard output was closed: give the records a file, a pipe or the terminal (to discard them, >/dev/null)"
            );
        }
        Ok(RawStdout(file))
    }
}

impl Write for RawStdout {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        (&*self.0).write(b)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The exit line's losses: `none lost`, or how many and why, then the events
/// dequeued that no tracer received.
pub fn lost_summary(lost: &Lost) -> String {
    let discarded = describe_discarded(lost);
    if lost.total() == 0 {
        format!("none lost{discarded}")
    } else {
        format!("lost {}: {}{discarded}", lost.total(), describe(lost))
    }
}

/// Traces until stopped. An output error ends the run with that error (a
/// closed pipe, `| head`, is for the caller to take as a normal end).
pub fn run(args: &Options) -> Result<()> {
    let out = RawStdout::check()?;
    let style = Style { width: args.width, timestamp: args.timestamp, time: TimeText::local() };
    let mut printer = Printer {
        args,
        printing: Printing::new(Writer::with_style(args.format, args.fields.clone(), style), out, None),
        reported: Lost::default(),
        next_stats: args.stats.map(|every| Instant::now() + every),
    };
    drive(&args.source, &mut printer)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_pid_without_a_process_is_warned_of() {
        let proc = std::path::Path::new("/proc");
        let me = std::process::id();
        assert_eq!(super::missing_pid_warning("--tracer-pid", me, proc), None);
        let w = super::missing_pid_warning("--tracee-pid", 999_999_999, proc).unwrap();
        assert!(w.starts_with("warning: --tracee-pid 999999999: no such process"), "{w}");
    }

    /// Standard output that takes `room` bytes, at most `chunk` a write, then fails.
    struct Room {
        took: Vec<u8>,
        room: usize,
        chunk: usize,
    }

    impl std::io::Write for Room {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let n = b.len().min(self.chunk).min(self.room - self.took.len());
            if n == 0 {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            self.took.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn records_are_counted_written_only_when_write_took_them_whole() {
        use crate::model::{EventType, Record};
        use crate::output::{Format, Writer};
        // Two batches of lines from 20 bytes to 3 KiB: 1.2 MB, past many 64 KiB hand-outs.
        let batch = || -> Vec<Record> {
            (0..400u64)
                .map(|i| {
                    let mut r = Record::new(EventType::Inotify, i);
                    r.name = vec![b'x'; (i as usize * 37) % 3000];
                    r
                })
                .collect()
        };
        let fields = crate::fields::parse_list("timestamp,name").unwrap();
        let (mut expected, mut ends) = (Vec::new(), Vec::new());
        let mut w = Writer::new(Format::Json, fields.clone());
        for r in batch().iter().chain(batch().iter()) {
            w.write(r, &mut expected).unwrap();
            ends.push(expected.len());
        }
        // Room for everything, for nothing, and for part of a record, in the
        // first batch and in the second, in small writes and whole ones.
        for room in [expected.len(), 0, 100_000, ends[250] + 5, ends[799] - 1] {
            for chunk in [4096, usize::MAX] {
                let mut out = super::Output::new(Room { took: Vec::new(), room, chunk });
                let mut writer = Writer::new(Format::Json, fields.clone());
                let mut seen = 0;
                for _ in 0..2 {
                    out.write_batch(&mut batch(), &mut writer, |_| seen += 1).unwrap();
                }
                let whole = ends.iter().filter(|&&e| e <= room).count() as u64;
                assert_eq!(out.written, whole, "room {room}, chunk {chunk}");
                assert_eq!(seen, 800, "the metrics count every record, written or not: room {room}, chunk {chunk}");
                match (&out.failed, &out.out) {
                    (None, Some(o)) => {
                        assert_eq!(whole, 800);
                        assert_eq!(o.inner.took, expected);
                    }
                    (Some((e, unwritten)), None) => {
                        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
                        assert_eq!(out.written + unwritten, 800, "room {room}, chunk {chunk}");
                    }
                    _ => panic!("an output that failed is closed"),
                }
            }
        }
    }
}

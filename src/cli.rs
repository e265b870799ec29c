//! The command line. Every flag's help is its documentation.
//!
//! The only module that knows clap: every flag and value enum is defined
//! here, and the commands get plain options ([`crate::trace::Options`],
//! [`crate::list::Options`]). [`docs`] turns the same definition into the
//! man pages and shell completions.

use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::backend::{Choice, Filters};
use crate::fields::{self, Field};
use crate::metrics;
use crate::output::{Format, TimestampFormat};
use crate::top::SortKey;

pub mod docs;

const ABOUT: &str = "Shows who watches which files through inotify and fanotify, who caused each event, \
and what the watcher answered, live from the kernel with eBPF.";

/// The description of `--help` and of the man page.
const DESCRIPTION: &str = "\
Shows who watches which files through inotify and fanotify, who caused each event, and what the \
watcher answered, live from the kernel with eBPF.

Each record joins the two processes an fsnotify event has: the TRACEE, whose file access queued \
the event, and the TRACER, which read it from its inotify or fanotify file descriptor. fanotify \
permission events also get an fa_resp record with the tracer's answer: allow, deny, or \
interrupted when the tracee stopped waiting.

Needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN) and a kernel with BTF \
(/sys/kernel/btf/vmlinux).";

/// The examples of `--help`, and of the man page with what each does.
const EXAMPLES: [(&str, &str); 6] = [
    ("sudo fsnotify-gadget", "Every inotify and fanotify event, in columns, until Ctrl-C."),
    (
        "sudo fsnotify-gadget --inotify-only --fields tracer_comm,tracee_comm,i_mask,name",
        "inotify events only, four columns: who read the event, who caused it, its mask, the file name.",
    ),
    (
        "sudo fsnotify-gadget --fanotify-only -o json --timeout 10",
        "fanotify events and permission answers as JSON lines, for ten seconds.",
    ),
    ("sudo fsnotify-gadget --tracer-pid \"$(pidof inotifywait)\"", "Only the events inotifywait reads."),
    (
        "sudo fsnotify-gadget top",
        "A live summary: events per second by tracer and by tracee and tracer pair, and each fanotify \
         permission daemon's requests and answer latency; q quits and prints the summary of the run.",
    ),
    (
        "sudo fsnotify-gadget top --fanotify-only -o json --interval 5 --timeout 60",
        "One JSON summary every five seconds for a minute, then one for the whole minute.",
    ),
];

fn long_about() -> String {
    let mut s = format!("{DESCRIPTION}\n\nExamples:");
    for (example, _) in EXAMPLES {
        s.push_str("\n  ");
        s.push_str(example);
    }
    s
}

#[derive(Parser)]
#[command(name = "fsnotify-gadget", version, about = ABOUT, long_about = long_about(), max_term_width = 100)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Subcommand)]
pub enum Command {
    /// List every inotify and fanotify instance on the machine (idle ones
    /// too): who holds it, its fsnotify_group address, its watches.
    List(ListArgs),
    /// A live summary, refreshed every --interval: per tracer, per tracee and
    /// tracer pair, per fanotify permission daemon.
    ///
    /// On a terminal the view is redrawn in place (q quits); otherwise one plain-text
    /// block per interval, or one JSON object per line with -o json. On exit (Ctrl-C,
    /// q, SIGTERM, --timeout) the summary of the whole run is printed to stdout; a
    /// terminal that goes away (window closed, ssh cut) ends the live view without one.
    Top(TopArgs),
    /// Serve Prometheus metrics of the inventory (what `list` sums up) on
    /// --metrics ADDR:PORT, refreshed periodically, without tracing.
    Serve(ServeArgs),
    /// Write the man pages and the bash, zsh and fish completions under DIR.
    ///
    /// `sudo fsnotify-gadget docs /usr/local/share` installs them for every user: man,
    /// bash-completion, zsh and fish look there. Needs no privileges beyond writing DIR.
    Docs(DocsArgs),
}

/// `fsnotify-gadget docs DIR`.
#[derive(Args)]
pub struct DocsArgs {
    /// A share directory such as /usr/local/share: the files go to man/man1/,
    /// bash-completion/completions/, zsh/site-functions/ and fish/vendor_completions.d/ under it.
    #[arg(value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub dir: std::path::PathBuf,
}

#[derive(Args)]
pub struct ListArgs {
    /// Output format: aligned columns, or one JSON object per line.
    #[arg(short = 'o', long = "output", value_enum, default_value = "columns")]
    pub output: ListFormat,

    /// Only this process.
    #[arg(long, value_name = "PID", value_parser = parse_pid)]
    pub pid: Option<u32>,

    /// Also list every watch (inotify) and mark (fanotify), with its path.
    #[arg(long)]
    pub watches: bool,

    /// Who watches PATH instead: every inotify watch and fanotify mark that
    /// covers it (on the file itself, on its directory, on its mount or its
    /// filesystem), with which of its events (open, open_perm, modify,
    /// close_write, create, delete, move, attrib) each watcher gets. PATH need
    /// not exist yet: a watch on its directory would see it created.
    #[arg(long, value_name = "PATH", value_hint = clap::ValueHint::AnyPath, conflicts_with = "watches")]
    pub path: Option<std::path::PathBuf>,
}

/// `fsnotify-gadget top`.
#[derive(Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Show a summary every SECONDS (at least 0.1: the loop wakes every 100 ms at most).
    #[arg(long, value_name = "SECONDS", value_parser = parse_interval, default_value = "1", help_heading = "Output")]
    pub interval: Duration,

    /// Order of the rows: rate (events or requests per second, the default),
    /// total (since the start), p99 or max (permission daemons by answer latency),
    /// overflows (tracers by queue overflows), pid, comm. Rows of a section the key
    /// does not apply to are ordered by rate.
    #[arg(long, value_enum, default_value = "rate", help_heading = "Output")]
    pub sort: SortKey,

    /// At most N rows per section (the rest are counted as `N more`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), default_value = "20", help_heading = "Output")]
    pub max_rows: u32,

    /// Output format; without it, the live view on a terminal and plain text otherwise.
    #[arg(short = 'o', long = "output", value_enum, help_heading = "Output")]
    pub output: Option<TopFormat>,

    /// Stop after this many seconds, with the summary of the whole run (default:
    /// run until q, Ctrl-C, SIGTERM or SIGHUP, which stop the same way).
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout, allow_negative_numbers = true)]
    pub timeout: Option<Duration>,
}

/// `top`'s output format (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopFormat {
    /// One plain-text block per interval, without escape codes, even on a terminal.
    Text,
    /// One JSON object per interval and line, then one for the whole run.
    Json,
}

/// `top --sort`: [`SortKey`]'s values by name (the aggregation knows no clap).
impl ValueEnum for SortKey {
    fn value_variants<'a>() -> &'a [Self] {
        use SortKey::*;
        &[Rate, Total, P99, Max, Overflows, Pid, Comm]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let name = match self {
            SortKey::Rate => "rate",
            SortKey::Total => "total",
            SortKey::P99 => "p99",
            SortKey::Max => "max",
            SortKey::Overflows => "overflows",
            SortKey::Pid => "pid",
            SortKey::Comm => "comm",
        };
        Some(clap::builder::PossibleValue::new(name))
    }
}

impl TopArgs {
    /// What `top` needs, without clap.
    pub fn options(&self) -> crate::top::Options {
        use crate::top::Format;
        crate::top::Options {
            source: self.source.source(self.timeout),
            interval: self.interval,
            sort: self.sort,
            max_rows: self.max_rows as usize,
            format: self.output.map(|f| match f {
                TopFormat::Text => Format::Text,
                TopFormat::Json => Format::Json,
            }),
        }
    }
}

/// How the metrics are labelled and refreshed (the tracer's and `serve`'s).
#[derive(Args, Clone, Debug)]
pub struct MetricsArgs {
    /// Labels of fsnotify_gadget_events_total besides `type`: a comma-separated
    /// subset of tracer_comm, tracee_comm, tracer_uid, tracee_uid,
    /// tracer_container, tracee_container (the container's name, or the first 12
    /// characters of its id; empty on the host), tracer_pod, tracee_pod
    /// (NAMESPACE/POD of a Kubernetes container; empty otherwise), or `none`.
    #[arg(long, value_name = "LIST", value_parser = metrics::parse_labels, default_value = metrics::DEFAULT_LABELS, help_heading = "Metrics")]
    pub metrics_labels: metrics::LabelList,

    /// At most this many label sets per metric; past it, new ones are counted with
    /// every label `other` (fsnotify_gadget_metrics_folded_total counts them).
    #[arg(long, value_name = "N", value_parser = metrics::parse_max_series, default_value = "1000", help_heading = "Metrics")]
    pub metrics_max_series: usize,

    /// Refresh the inventory gauges (what `list` shows) every SECONDS.
    #[arg(long, value_name = "SECONDS", value_parser = metrics::parse_secs, default_value = "15", help_heading = "Metrics")]
    pub metrics_inventory: Duration,
}

/// `fsnotify-gadget serve`: the inventory gauges only, no tracing.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Serve Prometheus metrics on http://ADDR:PORT/metrics.
    #[arg(long, value_name = "ADDR:PORT", value_parser = metrics::parse_addr, required = true)]
    pub metrics: std::net::SocketAddr,

    #[command(flatten)]
    pub options: MetricsArgs,

    /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "SECONDS", value_parser = metrics::parse_secs)]
    pub timeout: Option<Duration>,
}

impl MetricsArgs {
    pub fn options(&self) -> metrics::Options {
        metrics::Options {
            labels: self.metrics_labels.clone(),
            max_series: self.metrics_max_series,
            inventory_every: self.metrics_inventory,
        }
    }
}

impl ServeArgs {
    /// What `serve` needs, without clap.
    pub fn options(&self) -> metrics::ServeOptions {
        metrics::ServeOptions { addr: self.metrics, options: self.options.options(), timeout: self.timeout }
    }
}

/// The output format (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    Columns,
    /// One JSON object per line.
    Json,
    /// The same JSON objects, indented over several lines.
    Jsonpretty,
}

impl From<OutputFormat> for Format {
    fn from(f: OutputFormat) -> Format {
        match f {
            OutputFormat::Columns => Format::Columns,
            OutputFormat::Json => Format::Json,
            OutputFormat::Jsonpretty => Format::JsonPretty,
        }
    }
}

/// The output format of `list` (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns for a terminal.
    Columns,
    /// One JSON object per line.
    Json,
}

impl From<ListFormat> for Format {
    fn from(f: ListFormat) -> Format {
        match f {
            ListFormat::Columns => Format::Columns,
            ListFormat::Json => Format::Json,
        }
    }
}

/// How the columns show timestamps (`--timestamp-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TimestampArg {
    /// Local time of day, to the microsecond (14:03:07.123456).
    Time,
    /// Local date and time to the nanosecond, with the UTC offset
    /// (2026-12-02T14:03:07.123456789+01:00).
    Rfc3339,
    /// Nanoseconds since the epoch, as in JSON.
    Ns,
}

impl From<TimestampArg> for TimestampFormat {
    fn from(t: TimestampArg) -> TimestampFormat {
        match t {
            TimestampArg::Time => TimestampFormat::Time,
            TimestampArg::Rfc3339 => TimestampFormat::Rfc3339,
            TimestampArg::Ns => TimestampFormat::Ns,
        }
    }
}

/// Which backend to use (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// The best one this kernel allows: fentry, else kprobe, else tracepoint.
    Auto,
    /// fentry/fexit programs (needs BPF trampolines).
    Fentry,
    /// kprobes/kretprobes (needs CONFIG_KPROBES, bpf_probe_read_kernel and perf events:
    /// CAP_SYS_ADMIN where kernel.perf_event_paranoid is above 2, as on Debian and Ubuntu).
    Kprobe,
    /// Tracepoints only (works on locked-down kernels without kprobes).
    Tracepoint,
}

impl From<BackendChoice> for Choice {
    fn from(c: BackendChoice) -> Choice {
        match c {
            BackendChoice::Auto => Choice::Auto,
            BackendChoice::Fentry => Choice::Fentry,
            BackendChoice::Kprobe => Choice::Kprobe,
            BackendChoice::Tracepoint => Choice::Tracepoint,
        }
    }
}

/// What to trace: the in-kernel filters and the backend, the same for the
/// trace and for `top`.
#[derive(Args)]
pub struct SourceArgs {
    /// Show only inotify events.
    #[arg(long, conflicts_with = "fanotify_only", help_heading = "Filters (applied in the kernel)")]
    pub inotify_only: bool,

    /// Show only fanotify events and permission answers.
    #[arg(long, help_heading = "Filters (applied in the kernel)")]
    pub fanotify_only: bool,

    /// Show only events caused by this process (its pid, the thread group id).
    #[arg(long, value_name = "PID", value_parser = parse_pid, allow_negative_numbers = true, help_heading = "Filters (applied in the kernel)")]
    pub tracee_pid: Option<u32>,

    /// Show only events read by this process.
    #[arg(long, value_name = "PID", value_parser = parse_pid, allow_negative_numbers = true, help_heading = "Filters (applied in the kernel)")]
    pub tracer_pid: Option<u32>,

    /// Show only events of this fsnotify group: the hex address shown in the
    /// FSNOTIFY_GROUP field, with or without 0x.
    #[arg(long, value_name = "ADDR", value_parser = parse_group, help_heading = "Filters (applied in the kernel)")]
    pub tracer_group: Option<u64>,

    /// Also show the events fsnotify-gadget itself causes. Left out by default:
    /// when another watcher (fatrace, an antivirus) sees the files the tool
    /// writes, each of its records would cause another event, without end.
    #[arg(long, help_heading = "Filters (applied in the kernel)")]
    pub include_self: bool,

    /// Show only records where EXPR holds; repeat it and all must hold. EXPR is
    /// FIELD==VALUE, FIELD!=VALUE, FIELD~REGEX, FIELD!~REGEX, FIELD>=N or FIELD<=N
    /// on any field of FIELDS below: `-F tracee.comm~^python`, `-F path~^/etc/`,
    /// `-F type!=fa_resp`, `-F latency_ns>=1000000`. Numbers compare as numbers,
    /// masks by name (`i_mask~IN_OPEN`), a REGEX matches anywhere unless
    /// anchored; a field a record lacks (null) meets only != and !~. The
    /// equalities on tracee.pid, tracer.pid, tracee.comm, tracer.comm,
    /// tracee.cgroup_id, tracer.cgroup_id, fsnotify_group and type also go to
    /// the kernel, like the flags above; the rest are checked in user space.
    #[arg(short = 'F', long = "filter", value_name = "EXPR", value_parser = parse_condition, help_heading = "Filters on any field")]
    pub filter: Vec<crate::filter::Condition>,

    /// Show only records where the tracer or the tracee (either) runs in the
    /// container NAME: the name its runtime gave it (podman/docker --name), or
    /// under Kubernetes the pod spec's container name. Checked in user space.
    #[arg(short = 'c', long = "containername", value_name = "NAME", help_heading = "Containers and pods")]
    pub containername: Option<String>,

    /// Show only records whose tracee runs in the container NAME. When such a
    /// container runs at start, in one cgroup with none below it, its cgroup id
    /// goes to the kernel's filter (stderr says so; a restart of it is then not
    /// seen); otherwise it is checked in user space.
    #[arg(long, value_name = "NAME", help_heading = "Containers and pods")]
    pub tracee_container: Option<String>,

    /// Show only records whose tracer runs in the container NAME; in the kernel
    /// as for --tracee-container.
    #[arg(long, value_name = "NAME", help_heading = "Containers and pods")]
    pub tracer_container: Option<String>,

    /// Show only records where either side runs in a pod of this Kubernetes
    /// namespace. Checked in user space.
    #[arg(long, value_name = "NS", help_heading = "Containers and pods")]
    pub k8s_namespace: Option<String>,

    /// Show only records where either side runs in this Kubernetes pod.
    /// Checked in user space.
    #[arg(long, value_name = "POD", help_heading = "Containers and pods")]
    pub k8s_podname: Option<String>,

    /// Where a runtime keeps its state, when not where it does by default:
    /// KIND=DIR with KIND runc (/run/runc, /run/containerd/runc,
    /// /run/docker/runtime-runc), containerd
    /// (/run/containerd/io.containerd.runtime.v2.task), podman or cri-o (the
    /// containers/storage root, /var/lib/containers/storage) or docker
    /// (/var/lib/docker). Repeat it; a kind given replaces its defaults. Also
    /// read from FSNOTIFY_GADGET_RUNTIME_ROOTS (KIND=DIR,...). With HOST_ROOT set
    /// (the tool in a container, the node's / mounted there) every directory,
    /// /proc and the cgroup tree are looked for under it.
    #[arg(long, value_name = "KIND=DIR", value_parser = crate::containers::parse_root, help_heading = "Containers and pods")]
    pub runtime_root: Vec<(String, std::path::PathBuf)>,

    /// Kernel hooks to use; auto picks the best the kernel allows and says
    /// which on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendChoice,
}

#[derive(Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Comma-separated fields to show (see FIELDS below); `tracer_comm` and
    /// `tracer.comm` are the same field.
    #[arg(long, value_name = "LIST", value_parser = parse_fields, help_heading = "Output")]
    pub fields: Option<FieldList>,

    /// Output format: aligned columns (as wide as the terminal, or COLUMNS; not cut
    /// when written to a pipe or a file), one JSON object per line, or the same
    /// objects indented.
    #[arg(short = 'o', long = "output", value_enum, default_value = "columns", help_heading = "Output")]
    pub output: OutputFormat,

    /// How the columns show timestamps; JSON has the integer `timestamp` and
    /// `timestamp_rfc3339` in UTC. Local time is that of TZ or /etc/localtime, else UTC.
    #[arg(long, value_enum, default_value = "time", help_heading = "Output")]
    pub timestamp_format: TimestampArg,

    /// Say more at start: why auto chose its backend, with libbpf's messages
    /// (as FSG_DEBUG=1 does).
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Stop after this many seconds (default: run until Ctrl-C, SIGTERM or SIGHUP,
    /// each of which stops cleanly with the summary line). SIGUSR1 prints a stats
    /// line without stopping.
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout, allow_negative_numbers = true)]
    pub timeout: Option<std::time::Duration>,

    /// Every SECONDS and at exit, print one `fsnotify-gadget: stats:` line on
    /// stderr: records printed, left out by `-F` in user space (`filtered=`; the
    /// conditions handed to the kernel leave theirs out there) and lost, the
    /// tool's resident memory (now and peak), and how many entries each table that joins the halves of an
    /// event holds (`name=used/capacity`; once the machine is quiet they are 0).
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub stats: Option<std::time::Duration>,

    /// Also serve Prometheus metrics on http://ADDR:PORT/metrics: events, losses,
    /// table occupancy, latency histograms and the inventory gauges.
    #[arg(long, value_name = "ADDR:PORT", value_parser = metrics::parse_addr, help_heading = "Metrics")]
    pub metrics: Option<std::net::SocketAddr>,

    #[command(flatten)]
    pub metrics_options: MetricsArgs,
}

/// The fields `--fields` selected.
#[derive(Clone)]
pub struct FieldList(pub Vec<&'static Field>);

fn parse_condition(s: &str) -> Result<crate::filter::Condition, String> {
    crate::filter::parse(s)
}

fn parse_fields(s: &str) -> Result<FieldList, String> {
    fields::parse_list(s).map(FieldList)
}

/// Parses an fsnotify_group address: hex, `0x` optional.
pub fn parse_group(s: &str) -> Result<u64, String> {
    let hex = s.trim().trim_start_matches("0x").trim_start_matches("0X");
    match u64::from_str_radix(hex, 16) {
        Ok(0) => Err("the address must not be 0".to_string()),
        Ok(v) => Ok(v),
        Err(_) => Err(format!("'{s}' is not a hex address like 0xffff8881234abcd0")),
    }
}

/// Parses a process id: a positive decimal number.
pub fn parse_pid(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) | Err(_) => Err(format!("'{s}' is not a process id (a positive whole number)")),
        Ok(v) => Ok(v),
    }
}

/// top's shortest interval: the trace loop takes the kernel's records every 100 ms at most,
/// so shorter intervals would print blocks of nothing, tens of thousands a second.
const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_timeout(s)?;
    if d < MIN_INTERVAL {
        return Err(format!("'{s}' is shorter than top's shortest interval, 0.1 s"));
    }
    Ok(d)
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(std::time::Duration::from_secs_f64(v)),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

impl SourceArgs {
    /// The kernel's filters: the flags, narrowed by the --filter equalities;
    /// an error when they contradict each other.
    pub fn filters(&self) -> Result<Filters, String> {
        let mut f = Filters {
            inotify: !self.fanotify_only,
            fanotify: !self.inotify_only,
            tracee_pid: self.tracee_pid,
            tracer_pid: self.tracer_pid,
            tracer_group: self.tracer_group,
            tracee_comm: None,
            tracer_comm: None,
            tracee_cgroup: None,
            tracer_cgroup: None,
            include_self: self.include_self,
        };
        crate::filter::push_down(&self.filter, &mut f)?;
        Ok(f)
    }

    /// What clap cannot check: the filters' consistency, FSNOTIFY_GADGET_RUNTIME_ROOTS.
    pub fn check(&self) -> Result<(), String> {
        self.filters()?;
        crate::containers::Roots::from_env(&self.runtime_root).map(|_| ())
    }

    /// The -F conditions, and those of the container and pod flags.
    pub fn conditions(&self) -> Vec<crate::filter::Condition> {
        use crate::filter::{either, equal};
        let mut c = self.filter.clone();
        c.extend(self.containername.as_deref().map(|n| either("tracee.container.name", "tracer.container.name", n, "-c")));
        c.extend(self.tracee_container.as_deref().map(|n| equal("tracee.container.name", n, "--tracee-container")));
        c.extend(self.tracer_container.as_deref().map(|n| equal("tracer.container.name", n, "--tracer-container")));
        c.extend(self.k8s_namespace.as_deref().map(|n| either("tracee.k8s.namespace", "tracer.k8s.namespace", n, "--k8s-namespace")));
        c.extend(self.k8s_podname.as_deref().map(|n| either("tracee.k8s.pod", "tracer.k8s.pod", n, "--k8s-podname")));
        c
    }

    /// The loop's source, stopping after `timeout`, saying more with `verbose`.
    /// The filters and roots were checked by [`parse`].
    pub fn source_verbose(&self, timeout: Option<Duration>, verbose: bool) -> crate::trace::Source {
        crate::trace::Source {
            backend: self.backend.into(),
            filters: self.filters().expect("checked by cli::parse"),
            conditions: self.conditions(),
            timeout,
            verbose,
            roots: crate::containers::Roots::from_env(&self.runtime_root).expect("checked by cli::parse"),
            tracee_container: self.tracee_container.clone(),
            tracer_container: self.tracer_container.clone(),
        }
    }

    /// The loop's source, stopping after `timeout`.
    pub fn source(&self, timeout: Option<Duration>) -> crate::trace::Source {
        self.source_verbose(timeout, false)
    }
}

impl TraceArgs {
    /// The `--fields` list, else the defaults: for columns those that fit
    /// `width`, for JSON every field.
    pub fn selected_fields(&self, width: Option<usize>) -> Vec<&'static Field> {
        match (&self.fields, self.output) {
            (Some(list), _) => list.0.clone(),
            (None, OutputFormat::Columns) => crate::output::columns::default_fields(width, self.timestamp_format.into()),
            (None, OutputFormat::Json | OutputFormat::Jsonpretty) => fields::json_default().collect(),
        }
    }

    /// What the tracer needs, without clap, for the terminal on stdout.
    pub fn options(&self) -> crate::trace::Options {
        self.options_for_width(crate::output::columns::terminal_width())
    }

    /// What the tracer needs, without clap; `width` is the terminal's (see
    /// [`crate::output::columns::terminal_width`]).
    pub fn options_for_width(&self, width: Option<usize>) -> crate::trace::Options {
        crate::trace::Options {
            source: self.source.source_verbose(self.timeout, self.verbose),
            format: self.output.into(),
            fields: self.selected_fields(width),
            width,
            timestamp: self.timestamp_format.into(),
            stats: self.stats,
            metrics: self.metrics.map(|addr| (addr, self.metrics_options.options())),
        }
    }
}

impl ListArgs {
    /// What `list` needs, without clap.
    pub fn options(&self) -> crate::list::Options {
        crate::list::Options { format: self.output.into(), pid: self.pid, watches: self.watches, path: self.path.clone() }
    }
}

/// The FIELDS section of `--help`: the fields by group, the tracee's by
/// name only (their meanings are the tracer's).
fn fields_help() -> String {
    let mut s = String::from("FIELDS (for --fields):\n");
    for (title, group) in fields::groups() {
        s.push_str(&format!("  {title}:\n"));
        if group.iter().all(|f| f.name.starts_with("tracee.")) {
            let names: Vec<&str> = group.iter().map(|f| f.name).collect();
            s.push_str(&format!("    {}: as the tracer's\n", names.join(", ")));
            continue;
        }
        for f in group {
            s.push_str(&format!("    {:<18} {}\n", f.name, f.help));
        }
    }
    s.push_str(&format!("\n{}\n", fields_notes()));
    s.push_str(
        "\nBACKENDS:\n  fentry      every field\n  kprobe      every field\n  tracepoint  all but ",
    );
    s.push_str(&crate::backend::tracepoint::UNFILLED_FIELDS.join(", "));
    s.push_str(" (null in JSON, blank in columns)\n");
    s
}

/// What `--help` and the man page say under the field list: the defaults,
/// the other names `--fields` takes, and how columns fit the terminal.
pub fn fields_notes() -> String {
    let ig: Vec<String> = fields::IG_SIDE_ALIASES.iter().map(|(ig, ours)| format!("tracer.{ig}={ours}")).collect();
    format!(
        "Default columns: {} (fewer on a narrow terminal); JSON shows every field but mask. \
         tracer_comm and tracer.comm are the same field; latency is latency_ns, and Inspektor Gadget's names \
         work too: {} (and tracee.*). Columns fit the terminal's width (or COLUMNS): long values are cut \
         with … (paths by their beginning), whole in JSON.",
        fields::DEFAULT_COLUMNS.join(", "),
        ig.join(", ")
    )
}

/// A clap error as one line: the message and its hints (`[possible values:
/// …]`, `tip: …`), without the usage block, ending with where to look.
pub fn one_line_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut parts = Vec::new();
    let mut in_usage = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("Usage:") {
            in_usage = true;
            continue;
        }
        if l.is_empty() {
            in_usage = false;
            continue;
        }
        if in_usage || l.starts_with("For more information") {
            continue;
        }
        parts.push(l.strip_prefix("error: ").unwrap_or(l));
    }
    format!("{} (see `fsnotify-gadget --help`)", parts.join("; "))
}

/// The whole command line as clap sees it, `--help`'s FIELDS and BACKENDS included: what
/// [`parse`] parses and what [`docs`] documents.
pub fn command() -> clap::Command {
    Cli::command().after_help(fields_help())
}

/// Parses the process arguments. `--help` and `--version` print and exit 0;
/// bad input prints one line, `fsnotify-gadget: error: …`, and exits with status 2.
pub fn parse() -> Cli {
    let parsed = command().try_get_matches().and_then(|m| Cli::from_arg_matches(&m));
    match parsed {
        Ok(cli) => match match &cli.command {
            Some(Command::Top(top)) => top.source.check(),
            _ => cli.trace.source.check(),
        } {
            Ok(_) => cli,
            Err(e) => {
                eprintln!("fsnotify-gadget: error: {e} (see `fsnotify-gadget --help`)");
                std::process::exit(2);
            }
        },
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("fsnotify-gadget: error: {}", one_line_error(&e));
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_addresses_parse_with_or_without_prefix() {
        assert_eq!(parse_group("0xffff888012345678"), Ok(0xffff_8880_1234_5678));
        assert_eq!(parse_group("ffff888012345678"), Ok(0xffff_8880_1234_5678));
        assert!(parse_group("xyz").is_err());
        assert!(parse_group("0").is_err());
    }

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn filters_follow_flags() {
        let cli = Cli::try_parse_from(["fsnotify-gadget", "--inotify-only", "--tracee-pid", "7", "--tracer-group", "ff00"]).unwrap();
        let f = cli.trace.source.filters().unwrap();
        assert_eq!((f.inotify, f.fanotify, f.tracee_pid, f.tracer_group), (true, false, Some(7), Some(0xff00)));
        assert!(Cli::try_parse_from(["fsnotify-gadget", "--inotify-only", "--fanotify-only"]).is_err());
        assert!(Cli::try_parse_from(["fsnotify-gadget", "--tracee-pid", "abc"]).is_err());
        assert!(Cli::try_parse_from(["fsnotify-gadget", "--fields", "tracer_comm,nope"]).is_err());
        assert!(Cli::try_parse_from(["fsnotify-gadget", "--timeout", "-1"]).is_err());
        assert!(Cli::try_parse_from(["fsnotify-gadget", "--tracer-pid", "0"]).is_err());
    }

    #[test]
    fn top_takes_the_tracer_filters_and_its_own_flags() {
        let cli = Cli::try_parse_from([
            "fsnotify-gadget", "top", "--fanotify-only", "--tracer-pid", "9", "--interval", "0.5", "--sort", "p99", "--max-rows", "3",
            "-o", "json", "--timeout", "4", "--backend", "tracepoint",
        ])
        .unwrap();
        let Some(Command::Top(args)) = cli.command else { panic!("not top") };
        let o = args.options();
        let f = &o.source.filters;
        assert_eq!((f.inotify, f.fanotify, f.tracer_pid, f.tracee_pid), (false, true, Some(9), None));
        assert_eq!((o.source.backend, o.source.timeout), (Choice::Tracepoint, Some(Duration::from_secs(4))));
        assert_eq!((o.interval, o.sort, o.max_rows), (Duration::from_millis(500), crate::top::SortKey::P99, 3));
        assert_eq!(o.format, Some(crate::top::Format::Json));
        let Some(Command::Top(args)) = Cli::try_parse_from(["fsnotify-gadget", "top"]).unwrap().command else { panic!("not top") };
        let o = args.options();
        assert_eq!((o.interval, o.sort, o.max_rows, o.format, o.source.timeout), (Duration::from_secs(1), crate::top::SortKey::Rate, 20, None, None));
        assert!(o.source.filters.inotify && o.source.filters.fanotify);
        for bad in [&["--max-rows", "0"][..], &["--interval", "0"], &["--interval", "1e-9"], &["--interval", "0.09"], &["--sort", "fast"], &["-o", "columns"], &["--fields", "name"]] {
            assert!(Cli::try_parse_from([&["fsnotify-gadget", "top"][..], bad].concat()).is_err(), "{bad:?}");
        }
        assert!(error_of(&["top", "--interval", "1e-9"]).contains("'1e-9' is shorter than top's shortest interval, 0.1 s"));
        let Some(Command::Top(args)) = Cli::try_parse_from(["fsnotify-gadget", "top", "--interval", "0.1"]).unwrap().command else { panic!("not top") };
        assert_eq!(args.options().interval, Duration::from_millis(100));
    }

    fn error_of(args: &[&str]) -> String {
        let mut argv = vec!["fsnotify-gadget"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(e) => one_line_error(&e),
        }
    }

    #[test]
    fn bad_input_is_one_line_naming_the_flag_and_the_value() {
        for (args, want) in [
            (&["--tracee-pid", "abc"][..], "'abc' is not a process id"),
            (&["--tracer-group", "xyz"], "'xyz' is not a hex address"),
            (&["--fields", "tracer_comm,nope"], "unknown field 'nope'"),
            (&["-o", "yaml"], "[possible values: columns, json, jsonpretty]"),
            (&["list", "-o", "yaml"], "[possible values: columns, json]"),
            (&["--timestamp-format", "iso"], "[possible values: time, rfc3339, ns]"),
            (&["--timeout", "-1"], "'-1' is not a positive number of seconds"),
            (&["--bogus"], "unexpected argument '--bogus'"),
            (&["list", "--pid", "x"], "'x' is not"),
        ] {
            let line = error_of(args);
            assert!(!line.contains('\n'), "{args:?}: {line:?}");
            assert!(line.contains(want), "{args:?}: {line:?} lacks {want:?}");
            assert!(!line.contains("Usage:"), "{line}");
            assert!(line.ends_with("(see `fsnotify-gadget --help`)"), "{line}");
        }
        assert!(error_of(&["--tracee-pid", "abc"]).starts_with("invalid value 'abc' for '--tracee-pid <PID>'"));
    }
}

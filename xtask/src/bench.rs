//! `cargo xtask bench`: runs fsg-bench (bench/) on the host and inside the test VM
//! on each default kernel, then reduces its raw `FSG-BENCH {json}` lines to the figures of
//! BENCHMARKS.md, each beside its target.
//!
//! Comparisons are ratios of runs made side by side (alternating, rotating order), reported
//! as the median over rounds and the range of the per-round ratios.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The prefix of fsg-bench's measurement lines.
pub const LINE_PREFIX: &str = "FSG-BENCH ";

/// The `FSG-BENCH` records in some output (a serial console's lines may carry a prefix).
pub fn parse_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<Value> {
    lines
        .into_iter()
        .filter_map(|line| {
            let at = line.find(LINE_PREFIX)?;
            serde_json::from_str(line[at + LINE_PREFIX.len()..].trim()).ok()
        })
        .collect()
}

/// Median and range of a set of measurements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

/// The median (the mean of the middle two for an even count) and the range; `None` when empty.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Summary {
        median,
        min: v[0],
        max: v[n - 1],
        n,
    })
}

impl Summary {
    fn show(&self, precision: usize, unit: &str) -> String {
        format!(
            "{:.p$}{unit} (range {:.p$}-{:.p$}, n={})",
            self.median,
            self.min,
            self.max,
            self.n,
            p = precision
        )
    }
}

/// A target: the figure must be at most (or at least) a bound.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
}

impl Target {
    pub fn met(self, value: f64) -> bool {
        match self {
            Target::AtMost(bound) => value <= bound,
            Target::AtLeast(bound) => value >= bound,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::AtMost(b) => write!(f, "<= {b}"),
            Target::AtLeast(b) => write!(f, ">= {b}"),
        }
    }
}

fn verdict(target: Target, value: f64) -> String {
    let word = if target.met(value) { "met" } else { "MISSED" };
    format!("[target {target}: {word}]")
}

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn of_type<'a>(records: &'a [Value], t: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    records.iter().filter(move |r| r["t"] == t)
}

/// Per round, the metric (`cpu_ns`, `wall_ns`) of each config of one comparison.
pub fn rounds(records: &[Value], bench: &str, metric: &str) -> Vec<BTreeMap<String, f64>> {
    let mut by_round: BTreeMap<u64, BTreeMap<String, f64>> = BTreeMap::new();
    for r in of_type(records, "sample").filter(|r| r["bench"] == bench) {
        let round = r["round"].as_u64().unwrap_or(0);
        by_round
            .entry(round)
            .or_default()
            .insert(text(r, "config").to_string(), num(r, metric));
    }
    by_round.into_values().collect()
}

/// The per-round ratios b / a.
pub fn ratios(rounds: &[BTreeMap<String, f64>], a: &str, b: &str) -> Vec<f64> {
    rounds
        .iter()
        .filter_map(|r| Some(r.get(b)? / r.get(a)?))
        .collect()
}

/// The per-round ratios of added cost: (b - base) / (a - base).
pub fn added_cost_ratios(
    rounds: &[BTreeMap<String, f64>],
    base: &str,
    a: &str,
    b: &str,
) -> Vec<f64> {
    rounds
        .iter()
        .filter_map(|r| {
            let base = r.get(base)?;
            Some((r.get(b)? - base) / (r.get(a)? - base))
        })
        .collect()
}

/// The report: figure lines, and whether every expected figure was there.
#[derive(Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub missing: Vec<String>,
}

impl Report {
    fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }

    fn missing(&mut self, what: impl Into<String>) {
        let what = what.into();
        self.lines.push(format!("  MISSING: {what}"));
        self.missing.push(what);
    }
}

fn machine_line(records: &[Value]) -> String {
    match of_type(records, "machine").next() {
        Some(m) => format!(
            "kernel {}, {} CPU(s), {}",
            text(m, "kernel"),
            m["nproc"],
            text(m, "cpu")
        ),
        None => "machine unknown".to_string(),
    }
}

/// One comparison against untraced runs, on workload CPU time (where the hooks' cost lands)
/// with wall time beside it.
fn comparison(
    report: &mut Report,
    records: &[Value],
    bench: &str,
    title: &str,
    traced: &[&str],
    target: Option<Target>,
) {
    let cpu = rounds(records, bench, "cpu_ns");
    let wall = rounds(records, bench, "wall_ns");
    let events = of_type(records, "sample")
        .find(|r| r["bench"] == bench)
        .map(|r| num(r, "events"))
        .unwrap_or(f64::NAN);
    if !title.is_empty() {
        report.line(format!("  {title} ({events} events per run)"));
    }
    for config in traced {
        let Some(c) = summarize(&ratios(&cpu, "none", config)) else {
            report.missing(format!("{bench}: {config} / none"));
            continue;
        };
        let w = summarize(&ratios(&wall, "none", config));
        let added: Vec<f64> = cpu
            .iter()
            .filter_map(|r| Some((r.get(*config)? - r.get("none")?) / events))
            .collect();
        let added = summarize(&added).map_or(String::new(), |s| {
            format!("; added {:.0} ns CPU per event", s.median)
        });
        let target = target.map_or(String::new(), |t| format!(" {}", verdict(t, c.median)));
        report.line(format!(
            "    {config:<10} / none: CPU {}{target}; wall {}{added}",
            c.show(3, "x"),
            w.map_or("-".into(), |w| w.show(3, "x"))
        ));
    }
}

fn kernel_part(report: &mut Report, label: &str, records: &[Value]) {
    report.line(format!(
        "== 1. Kernel-side cost per event, VM {label} ({}) ==",
        machine_line(records)
    ));
    for (bench, title) in [
        ("k-inotify", "inotify workload, reader draining its fd"),
        ("k-fanotify", "fanotify permission workload, answered by a thread"),
    ] {
        let fentry_target = Some(Target::AtMost(1.15));
        comparison(report, records, bench, title, &["fentry"], fentry_target);
        comparison(report, records, bench, "", &["kprobe"], None);
        let cpu = rounds(records, bench, "cpu_ns");
        match summarize(&added_cost_ratios(&cpu, "none", "kprobe", "fentry")) {
            Some(s) => report.line(format!(
                "    fentry's added cost / kprobe's: {} {}",
                s.show(3, ""),
                verdict(Target::AtMost(0.5), s.median)
            )),
            None => report.missing(format!("{bench}: fentry vs kprobe")),
        }
    }
    prog_stats(report, records);
}

fn prog_stats(report: &mut Report, records: &[Value]) {
    report.line("  BPF programs, average run time per invocation (kernel.bpf_stats_enabled=1):");
    let progs: Vec<&Value> = of_type(records, "prog").collect();
    if progs.is_empty() {
        report.missing("BPF program statistics");
    }
    for p in progs {
        let runs = num(p, "run_cnt");
        let avg = if runs > 0.0 {
            format!("{:>6.0} ns", num(p, "run_time_ns") / runs)
        } else {
            "     - ".to_string()
        };
        let events = num(p, "events");
        let per_event = if events > 0.0 {
            format!(" ({:.2} runs per event)", runs / events)
        } else {
            String::new()
        };
        report.line(format!(
            "    {:<10} {:<9} workload {:<16} {avg} x {runs:>8} runs{per_event}",
            text(p, "backend"),
            text(p, "workload"),
            text(p, "prog"),
        ));
    }
}

fn tracepoint_part(report: &mut Report, records: &[Value]) {
    report.line(format!(
        "== 2. Tracepoint backend cost, host ({}) ==",
        machine_line(records)
    ));
    comparison(
        report,
        records,
        "tp-inotify",
        "fsnotify workload (inotify)",
        &["tracepoint"],
        None,
    );
    comparison(
        report,
        records,
        "tp-stat",
        "stat/open/close over 1000 files, no fsnotify event",
        &["tracepoint"],
        Some(Target::AtMost(1.15)),
    );
    comparison(
        report,
        records,
        "tp-stat",
        "the same with only the attach points: the backend's programs attached, each returning at once",
        &["hooks"],
        None,
    );
    comparison(
        report,
        records,
        "tp-getpid",
        "getpid(2) loop: a syscall that touches no file and no memory",
        &["tracepoint"],
        Some(Target::AtMost(1.05)),
    );
    comparison(
        report,
        records,
        "tp-getpid",
        "the same with only the attach points",
        &["hooks"],
        None,
    );
    prog_stats(report, records);
}

/// A throughput run's configuration: its format, ` + metrics` when `--metrics` counted it.
fn throughput_config(r: &Value) -> String {
    let metrics = if r["metrics"] == true { " + metrics" } else { "" };
    format!("{}{metrics}", text(r, "format"))
}

/// Records per second of this thread's CPU (wall time where a run has no CPU time).
fn records_per_s(r: &Value) -> f64 {
    let ns = if r["cpu_ns"].is_number() { num(r, "cpu_ns") } else { num(r, "ns") };
    num(r, "records") / (ns / 1e9)
}

fn userspace_part(report: &mut Report, records: &[Value]) {
    report.line("== 3. User-space throughput (one core, output to a sink) ==");
    let mut keys: Vec<(String, String)> = of_type(records, "throughput")
        .map(|r| (text(r, "path").to_string(), throughput_config(r)))
        .collect();
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        report.missing("user-space throughput");
    }
    for (path, config) in keys {
        let runs: Vec<&Value> = of_type(records, "throughput")
            .filter(|r| r["path"] == path.as_str() && throughput_config(r) == config)
            .collect();
        let rate: Vec<f64> = runs.iter().map(|r| records_per_s(r)).collect();
        let allocs = runs
            .iter()
            .map(|r| num(r, "allocs") / num(r, "records"))
            .fold(0.0, f64::max);
        let bytes = runs
            .iter()
            .map(|r| num(r, "alloc_bytes") / num(r, "records"))
            .fold(0.0, f64::max);
        let s = summarize(&rate).expect("at least one run");
        let target = if config == "json" {
            format!(" {}", verdict(Target::AtLeast(1_000_000.0), s.median))
        } else {
            String::new()
        };
        report.line(format!(
            "  {path:<10} {config:<17} {} records/s{target}; {allocs:.1} allocations ({bytes:.0} bytes) per record",
            s.show(0, "")
        ));
    }
    metrics_part(report, records);
}

/// What `--metrics` costs: JSON throughput with the recorder counting every record
/// against the same run without it, round by round; and a scrape of 10,000 label sets.
fn metrics_part(report: &mut Report, records: &[Value]) {
    report.line("== 3b. Metrics (--metrics, default labels) ==");
    let json = |metrics: bool| -> BTreeMap<u64, f64> {
        of_type(records, "throughput")
            .filter(|r| r["format"] == "json" && (r["metrics"] == true) == metrics)
            .map(|r| (r["round"].as_u64().unwrap_or(0), records_per_s(r)))
            .collect()
    };
    let (off, on) = (json(false), json(true));
    let cost: Vec<f64> = on
        .iter()
        .filter_map(|(round, on)| Some((1.0 - on / off.get(round)?) * 100.0))
        .collect();
    match summarize(&cost) {
        Some(c) => report.line(format!(
            "  JSON throughput lost to counting every record: {} {}",
            c.show(1, "%"),
            verdict(Target::AtMost(5.0), c.median)
        )),
        None => report.missing("metrics: throughput with and without --metrics"),
    }
    let scrapes: Vec<&Value> = of_type(records, "scrape").collect();
    let ms: Vec<f64> = scrapes.iter().map(|r| num(r, "ms")).collect();
    match (summarize(&ms), scrapes.first()) {
        (Some(s), Some(first)) => report.line(format!(
            "  a scrape of {} label sets ({:.0} KiB): {}; slowest {:.1} ms {}",
            num(first, "series"),
            num(first, "bytes") / 1024.0,
            s.show(1, " ms"),
            s.max,
            verdict(Target::AtMost(100.0), s.max)
        )),
        _ => report.missing("metrics: scrape time"),
    }
}

fn saturation_part(report: &mut Report, place: &str, records: &[Value]) {
    let steps: Vec<&Value> = of_type(records, "saturation").collect();
    let Some(first) = steps.first() else {
        report.missing(format!("saturation ({place})"));
        return;
    };
    let backend = text(first, "backend");
    let clean = steps.iter().rfind(|s| num(s, "lost") == 0.0);
    let dropping = steps.iter().find(|s| num(s, "lost") > 0.0);
    let rate_name = |s: &Value| match num(s, "rate") {
        0.0 => "unpaced".to_string(),
        r => format!("{r:.0}/s"),
    };
    let clean_text = clean.map_or("none".to_string(), |s| {
        format!(
            "{} requested, {:.0}/s achieved, {} generated = {} emitted",
            rate_name(s),
            num(s, "achieved"),
            s["generated"],
            s["emitted"]
        )
    });
    report.line(format!(
        "  {place} {backend}: highest rate with zero drops: {clean_text}"
    ));
    match dropping {
        Some(s) => {
            let gap = num(s, "generated") - num(s, "emitted");
            let lost = num(s, "lost");
            let check = if gap == lost {
                "equal: yes".to_string()
            } else {
                format!("equal: NO ({lost:.0} counted, {gap:.0} missing)")
            };
            report.line(format!(
                "    first step with drops: {} ({:.0}/s achieved): generated {} - emitted {} = {gap:.0}, drop counter {lost:.0}; {check}",
                rate_name(s),
                num(s, "achieved"),
                s["generated"],
                s["emitted"]
            ));
        }
        None => report.line(format!(
            "    no drops even unpaced: the workload's reader is the bottleneck at {:.0}/s",
            steps.last().map_or(0.0, |s| num(s, "achieved"))
        )),
    }
}

fn startup_part(report: &mut Report, place: &str, records: &[Value], host: bool) {
    let mut backends: Vec<&str> = of_type(records, "startup")
        .map(|r| text(r, "backend"))
        .collect();
    backends.dedup();
    if backends.is_empty() {
        report.missing(format!("start-up ({place})"));
    }
    for backend in backends {
        let ms: Vec<f64> = of_type(records, "startup")
            .filter(|r| r["backend"] == backend)
            .map(|r| num(r, "ms"))
            .collect();
        let s = summarize(&ms).expect("at least one");
        let target = if host {
            format!(" {}", verdict(Target::AtMost(300.0), s.median))
        } else {
            " (TCG emulation: no target)".to_string()
        };
        report.line(format!(
            "  {place} {backend:<10} exec to tracing: {}{target}",
            s.show(0, " ms")
        ));
    }
}

fn memory_part(report: &mut Report, place: &str, records: &[Value]) {
    let mem: Vec<&Value> = of_type(records, "memory").collect();
    if mem.is_empty() {
        report.missing(format!("memory ({place})"));
    }
    for m in mem {
        let rss = num(m, "peak_rss_kib") / 1024.0;
        report.line(format!(
            "  {place} {:<10} {:<4}: peak RSS {rss:.1} MiB {}; BPF maps {:.1} MiB",
            text(m, "backend"),
            text(m, "state"),
            verdict(Target::AtMost(32.0), rss),
            num(m, "maps_kib") / 1024.0
        ));
    }
}

/// `top`'s answer latency quantiles for the whole run against each permission daemon's
/// true delay (the median over runs, and its ratio to the delay: at most 10% above it),
/// and its interval summaries per second of `--interval 1` (at least 7 in 8 s).
fn top_part(report: &mut Report, records: &[Value]) {
    report.line("== 7. top: latency quantiles against daemons of known delay, summaries per second ==");
    for delay in [50.0, 100.0] {
        let runs: Vec<&Value> = of_type(records, "top_latency").filter(|r| num(r, "delay_ms") == delay).collect();
        let ms = |key: &str| -> Vec<f64> { runs.iter().map(|r| num(r, key) / 1e6).collect() };
        let (Some(p50), Some(p99), Some(max)) = (summarize(&ms("p50_ns")), summarize(&ms("p99_ns")), summarize(&ms("max_ns"))) else {
            report.missing(format!("top: the {delay} ms daemon's quantiles"));
            continue;
        };
        let against = |q: Summary| {
            let ratio = q.median / delay;
            format!("{} = {ratio:.3}x the delay {}", q.show(2, " ms"), verdict(Target::AtMost(1.1), ratio))
        };
        report.line(format!(
            "  daemon answering after {delay:.0} ms ({} answers a run): p50 {}; p99 {}; max {:.2} ms",
            num(runs[0], "requests"),
            against(p50),
            against(p99),
            max.max
        ));
    }
    let runs: Vec<&Value> = of_type(records, "top_intervals").collect();
    let per_s: Vec<f64> = runs.iter().map(|r| num(r, "intervals") / num(r, "seconds")).collect();
    match summarize(&per_s) {
        Some(s) => report.line(format!(
            "  top --interval 1: {} interval summaries per second ({} in {:.2} s in the first run) {}",
            s.show(3, ""),
            num(runs[0], "intervals"),
            num(runs[0], "seconds"),
            verdict(Target::AtLeast(0.875), s.median)
        )),
        None => report.missing("top: interval summaries per second"),
    }
}

/// From a watcher's read(2) returning an event to its record on the tool's stdout, against
/// the README's "at most about 100 ms" (judged on the slowest).
fn delay_part(report: &mut Report, place: &str, backend: &str, records: &[Value]) {
    let delays: Vec<&Value> = of_type(records, "print_delay").filter(|r| text(r, "backend") == backend).collect();
    let ms: Vec<f64> = delays.iter().map(|r| num(r, "ms")).collect();
    match summarize(&ms) {
        Some(s) => report.line(format!(
            "  {place} {backend:<10} median {:.3} ms, slowest {:.3} ms of {} events {}",
            s.median,
            s.max,
            s.n,
            verdict(Target::AtMost(100.0), s.max)
        )),
        None => report.missing(format!("read-to-print delay ({place}, {backend})")),
    }
}

/// Every figure: the VM's kernels first, then the host. Without `vm` (`--no-vm`) the VM's
/// figures are not expected.
pub fn report(host: &[Value], guests: &[(String, Vec<Value>)], vm: bool) -> Report {
    let mut report = Report::default();
    for (label, records) in guests {
        kernel_part(&mut report, label, records);
    }
    if vm && guests.is_empty() {
        report.missing("the VM part");
    }
    tracepoint_part(&mut report, host);
    userspace_part(&mut report, host);
    report.line("== 4. Saturation (inotify events at rising rates) ==");
    saturation_part(&mut report, "host", host);
    for (label, records) in guests {
        saturation_part(&mut report, &format!("VM {label}"), records);
    }
    report.line("== 5. Start-up (from exec to the 'tracing with' line) ==");
    startup_part(&mut report, "host", host, true);
    for (label, records) in guests {
        startup_part(&mut report, &format!("VM {label}"), records, false);
    }
    report.line("== 6. Memory (idle: 1 s after start; load: the busiest saturation step) ==");
    memory_part(&mut report, "host", host);
    for (label, records) in guests {
        memory_part(&mut report, &format!("VM {label}"), records);
    }
    top_part(&mut report, host);
    report.line("== 8. From a watcher's read(2) to the record on stdout (README: at most about 100 ms) ==");
    for (label, records) in guests {
        for backend in ["fentry", "kprobe"] {
            delay_part(&mut report, &format!("VM {label}"), backend, records);
        }
    }
    delay_part(&mut report, "host", "tracepoint", host);
    report
}

/// Inspektor Gadget's fsnotify programs (kprobes, unmodified, minimal loader) as issue 19
/// measured them under `-icount`: added guest instructions per event, (inotify, fanotify
/// permission), by the kernel's version.
fn ig_reference(kernel: &str) -> Option<(f64, f64)> {
    let version = kernel.split(|c: char| !c.is_ascii_digit() && c != '.').next()?;
    let mut parts = version.split('.');
    match (parts.next()?, parts.next()?) {
        ("6", "12") => Some((5_607.0, 15_194.0)),
        ("6", "1") => Some((10_702.0, 16_380.0)),
        _ => None,
    }
}

/// One guest's instruction counts: per workload, what each backend adds per event beside
/// the targets (fentry at most half of IG's, kprobe below IG's), the records it made, and
/// each BPF program's share.
fn icount_part(report: &mut Report, label: &str, records: &[Value]) {
    report.line(format!(
        "== Kernel-side cost in guest instructions, VM {label} ({}) ==",
        machine_line(records)
    ));
    let reference = ig_reference(label);
    for (index, (bench, workload, title)) in [
        ("k-inotify", "inotify", "inotify workload, reader draining its fd"),
        ("k-fanotify", "fanotify", "fanotify permission workload, answered by a thread"),
    ]
    .into_iter()
    .enumerate()
    {
        let cpu = rounds(records, bench, "cpu_ns");
        let samples: Vec<&Value> = of_type(records, "sample").filter(|r| r["bench"] == bench).collect();
        let Some(events) = samples.first().map(|r| num(r, "events")) else {
            report.missing(format!("{bench}: no runs"));
            continue;
        };
        report.line(format!("  {title} ({events} events per run): instructions the workload gains per event"));
        let ig = reference.map(|(inotify, fanotify)| if index == 0 { inotify } else { fanotify });
        for (config, target) in [("fentry", ig.map(|ig| Target::AtMost(ig / 2.0))), ("kprobe", ig.map(Target::AtMost))] {
            let added: Vec<f64> = cpu
                .iter()
                .filter_map(|r| Some((r.get(config)? - r.get("none")?) / events))
                .collect();
            let Some(a) = summarize(&added) else {
                report.missing(format!("{bench}: {config} - none"));
                continue;
            };
            let made: Vec<f64> = samples
                .iter()
                .filter(|r| r["config"] == config)
                .map(|r| num(r, "emitted") / num(r, "events"))
                .collect();
            let lost: f64 = samples.iter().filter(|r| r["config"] == config).map(|r| num(r, "lost")).sum();
            let made = summarize(&made).map_or("-".to_string(), |m| format!("{:.2}", m.median));
            let against = match (ig, target) {
                (Some(ig), Some(t)) => format!(" IG {ig:.0}, {:.2}x of it {}", a.median / ig, verdict(t, a.median)),
                _ => " (no IG reference for this kernel)".to_string(),
            };
            report.line(format!("    {config:<7} {}{against}; {made} records per event, {lost} lost", a.show(0, "")));
        }
        let mut sums: BTreeMap<&str, (f64, Vec<String>)> = BTreeMap::new();
        for p in of_type(records, "prog").filter(|p| p["workload"] == workload) {
            let per_event = num(p, "run_time_ns") / num(p, "events");
            let entry = sums.entry(text(p, "backend")).or_default();
            entry.0 += per_event;
            entry.1.push(format!("{} {per_event:.0} ({:.2} runs)", text(p, "prog"), num(p, "run_cnt") / num(p, "events")));
        }
        if sums.is_empty() {
            report.missing(format!("{bench}: BPF program statistics"));
        }
        for (backend, (sum, progs)) in sums {
            report.line(format!("    {backend:<7} programs per event: {sum:.0} in all: {}", progs.join(", ")));
        }
    }
}

/// The figures of `cargo xtask bench --icount`: every guest's instruction counts.
pub fn icount_report(guests: &[(String, Vec<Value>)]) -> Report {
    let mut report = Report::default();
    if guests.is_empty() {
        report.missing("the VM part");
    }
    for (label, records) in guests {
        icount_part(&mut report, label, records);
    }
    report
}

/// Runs `fsg-bench host` on this machine, passing its progress through; its records.
pub fn run_host(fsg_bench: &std::path::Path, smoke: bool) -> Result<Vec<Value>> {
    let mut command = Command::new(fsg_bench);
    command.arg("host");
    if smoke {
        command.arg("--smoke");
    }
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", fsg_bench.display()))?;
    let mut lines = vec![];
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        lines.push(line?);
    }
    let status = child.wait()?;
    let records = parse_lines(lines.iter().map(String::as_str));
    if !status.success() || !records.iter().any(|r| r["t"] == "done") {
        bail!("fsg-bench host failed ({status}); its errors are above");
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_range() {
        let s = summarize(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(summarize(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(summarize(&[f64::NAN, 5.0]).unwrap().median, 5.0);
        assert!(summarize(&[]).is_none());
    }

    #[test]
    fn reads_bench_lines_from_a_console() {
        let console = [
            "[    1.0] random kernel line",
            "FSG-BENCH {\"t\":\"startup\",\"backend\":\"fentry\",\"ms\":812.5}",
            "noise FSG-BENCH {\"t\":\"done\"}\r",
            "FSG-BENCH {broken",
        ];
        let records = parse_lines(console);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["ms"], 812.5);
        assert_eq!(records[1]["t"], "done");
    }

    fn sample(round: u64, config: &str, cpu: f64) -> Value {
        serde_json::json!({"t":"sample","bench":"b","round":round,"config":config,"cpu_ns":cpu,"wall_ns":cpu,"events":10})
    }

    #[test]
    fn ratios_pair_runs_of_the_same_round() {
        let records = vec![
            sample(0, "none", 100.0),
            sample(0, "fentry", 110.0),
            sample(0, "kprobe", 130.0),
            sample(1, "kprobe", 260.0),
            sample(1, "none", 200.0),
            sample(1, "fentry", 210.0),
        ];
        let r = rounds(&records, "b", "cpu_ns");
        assert_eq!(ratios(&r, "none", "fentry"), [1.1, 1.05]);
        let added = added_cost_ratios(&r, "none", "kprobe", "fentry");
        assert!((added[0] - 1.0 / 3.0).abs() < 1e-9 && (added[1] - 1.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn icount_figures_against_the_reference() {
        assert_eq!(ig_reference("6.12.118+deb12-cloud-amd64"), Some((5_607.0, 15_194.0)));
        assert_eq!(ig_reference("6.1.0-57-cloud-amd64"), Some((10_702.0, 16_380.0)));
        assert_eq!(ig_reference("6.10.3"), None);
        let mut records = vec![];
        for round in 0..3u64 {
            for (config, cpu) in [("none", 1_000_000.0), ("fentry", 3_000_000.0), ("kprobe", 7_000_000.0)] {
                records.push(serde_json::json!({"t": "sample", "bench": "k-inotify", "round": round, "config": config,
                    "events": 1000, "cpu_ns": cpu + round as f64, "emitted": if config == "none" { 0 } else { 1000 }, "lost": 0}));
            }
        }
        records.push(serde_json::json!({"t": "prog", "backend": "fentry", "workload": "inotify", "prog": "fexit_remove",
            "run_cnt": 1000, "run_time_ns": 1_500_000, "events": 1000}));
        let report = icount_report(&[("6.12.118+deb12-cloud-amd64".to_string(), records)]);
        let text = report.lines.join("\n");
        assert!(text.contains("fentry  2000 (range 2000-2000, n=3) IG 5607, 0.36x of it [target <= 2803.5: met]"), "{text}");
        assert!(text.contains("kprobe  6000 (range 6000-6000, n=3) IG 5607, 1.07x of it [target <= 5607: MISSED]"), "{text}");
        assert!(text.contains("fentry  programs per event: 1500 in all: fexit_remove 1500 (1.00 runs)"), "{text}");
        // The fanotify workload never ran: said, not skipped.
        assert_eq!(report.missing, ["k-fanotify: no runs"]);
    }

    #[test]
    fn targets_and_missing_figures() {
        assert!(Target::AtMost(1.1).met(1.1) && !Target::AtMost(1.1).met(1.2));
        assert!(Target::AtLeast(5.0).met(6.0) && !Target::AtLeast(5.0).met(4.0));
        let report = report(&[], &[], true);
        assert!(report.missing.iter().any(|m| m.contains("VM")));
        assert!(report.missing.iter().any(|m| m.contains("throughput")));
        assert!(report.missing.iter().any(|m| m.contains("scrape")));
        for what in ["the 50 ms daemon's quantiles", "the 100 ms daemon's quantiles", "interval summaries per second", "read-to-print delay (host, tracepoint)"] {
            assert!(report.missing.iter().any(|m| m.contains(what)), "{what} not said missing: {:?}", report.missing);
        }
    }

    #[test]
    fn top_quantiles_against_the_delays_and_the_read_to_print_delay() {
        let latency = |delay: u64, round: u64, p50_ms: f64, p99_ms: f64| {
            serde_json::json!({"t": "top_latency", "round": round, "delay_ms": delay, "requests": 110,
                "p50_ns": p50_ms * 1e6, "p99_ns": p99_ms * 1e6, "max_ns": (p99_ms + 1.0) * 1e6})
        };
        let mut records = vec![
            latency(50, 0, 50.2, 50.9),
            latency(50, 1, 50.4, 56.0),
            latency(50, 2, 50.3, 51.0),
            latency(100, 0, 100.4, 112.0),
            serde_json::json!({"t": "top_intervals", "round": 0, "interval_s": 1.0, "intervals": 8, "seconds": 8.0}),
            serde_json::json!({"t": "top_intervals", "round": 1, "interval_s": 1.0, "intervals": 8, "seconds": 10.0}),
        ];
        for ms in [0.5, 40.0, 99.0] {
            records.push(serde_json::json!({"t": "print_delay", "backend": "tracepoint", "ms": ms}));
        }
        let mut report = Report::default();
        top_part(&mut report, &records);
        delay_part(&mut report, "host", "tracepoint", &records);
        delay_part(&mut report, "VM 6.12", "fentry", &records);
        assert_eq!(report.missing, ["read-to-print delay (VM 6.12, fentry)"], "a backend's figure is its own");
        report.missing.clear();
        let text = report.lines.join("\n");
        assert!(text.contains("after 50 ms (110 answers a run): p50 50.30 ms (range 50.20-50.40, n=3) = 1.006x the delay [target <= 1.1: met]; p99 51.00 ms (range 50.90-56.00, n=3) = 1.020x the delay [target <= 1.1: met]; max 57.00 ms"), "{text}");
        assert!(text.contains("after 100 ms (110 answers a run): p50 100.40 ms (range 100.40-100.40, n=1) = 1.004x the delay [target <= 1.1: met]; p99 112.00 ms (range 112.00-112.00, n=1) = 1.120x the delay [target <= 1.1: MISSED]"), "{text}");
        assert!(text.contains("top --interval 1: 0.900 (range 0.800-1.000, n=2) interval summaries per second (8 in 8.00 s in the first run) [target >= 0.875: met]"), "{text}");
        assert!(text.contains("host tracepoint median 40.000 ms, slowest 99.000 ms of 3 events [target <= 100: met]"), "{text}");
        assert!(report.missing.is_empty(), "{:?}", report.missing);
    }

    #[test]
    fn the_metrics_cost_pairs_runs_of_the_same_round() {
        let run = |round: u64, metrics: bool, cpu_ns: f64| {
            serde_json::json!({"t": "throughput", "path": "kernel", "format": "json", "metrics": metrics,
                "round": round, "records": 1_000_000, "ns": 1, "cpu_ns": cpu_ns, "allocs": 0, "alloc_bytes": 0})
        };
        // Round 0: 500k/s off, 480k/s on (4% lost); round 1, twice as fast: 1000k/s and 900k/s (10%).
        let records = vec![
            run(0, false, 2e9),
            run(0, true, 1e9 / 0.48),
            run(1, true, 1e9 / 0.9),
            run(1, false, 1e9),
            serde_json::json!({"t": "scrape", "series": 10000, "bytes": 1_263_000, "ms": 12.5}),
            serde_json::json!({"t": "scrape", "series": 10000, "bytes": 1_263_000, "ms": 120.0}),
            serde_json::json!({"t": "scrape", "series": 10000, "bytes": 1_263_000, "ms": 13.5}),
        ];
        let mut report = Report::default();
        userspace_part(&mut report, &records);
        let text = report.lines.join("\n");
        assert!(text.contains("kernel     json + metrics    690000 (range 480000-900000, n=2) records/s;"), "{text}");
        assert!(text.contains("kernel     json              750000 (range 500000-1000000, n=2) records/s [target >= 1000000: MISSED]"), "{text}");
        assert!(text.contains("lost to counting every record: 7.0% (range 4.0-10.0, n=2) [target <= 5: MISSED]"), "{text}");
        assert!(text.contains("a scrape of 10000 label sets (1233 KiB): 13.5 ms (range 12.5-120.0, n=3); slowest 120.0 ms [target <= 100: MISSED]"), "{text}");
        assert!(report.missing.is_empty(), "{:?}", report.missing);
    }
}

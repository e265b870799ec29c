//! `fsg-bench host|vm|userspace [--smoke]`: the measuring side of `cargo xtask bench`.
//!
//! It prints raw measurements, one `FSG-BENCH {json}` line each, on stdout (progress goes to
//! stderr); xtask/src/bench.rs turns them into ratios, medians and spreads and prints them
//! beside their targets. Every comparison runs its configurations alternately, in a rotating
//! order, round after round, so a noisy machine slows all of them alike.
//!
//! - `host`: the tracepoint backend (the one that runs where kprobes and fentry do not):
//!   its cost on a fsnotify workload and on file activity that queues no fsnotify event,
//!   its BPF programs' run time, saturation, start-up and memory; `top`'s latency
//!   quantiles against daemons of known delay and its interval summaries per second
//!   (top.rs); the delay from a watcher's read to the record on stdout (delay.rs); then
//!   `userspace`.
//! - `vm`: inside the test VM (xtask), the fentry and kprobe backends: kernel-side cost,
//!   BPF program run time, saturation, start-up and memory.
//! - `userspace`: decode, enrichment, metrics and output throughput (userspace.rs), and
//!   what a scrape of 10,000 label sets takes (scrape.rs).

mod delay;
mod procs;
mod scrape;
mod top;
mod userspace;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use procs::{Gadget, Workload};

/// Counts the allocations of this process, for allocations per record.
mod allocs {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    static COUNT: AtomicU64 = AtomicU64::new(0);
    static BYTES: AtomicU64 = AtomicU64::new(0);

    pub struct Counting;

    // SAFETY: every call is passed to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            COUNT.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size() as u64, Relaxed);
            System.alloc(layout)
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout)
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            COUNT.fetch_add(1, Relaxed);
            BYTES.fetch_add(new_size as u64, Relaxed);
            System.realloc(ptr, layout, new_size)
        }
    }

    pub fn count() -> u64 {
        COUNT.load(Relaxed)
    }

    pub fn bytes() -> u64 {
        BYTES.load(Relaxed)
    }
}

#[global_allocator]
static ALLOCATOR: allocs::Counting = allocs::Counting;

/// Prints one measurement for xtask.
pub fn emit(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "FSG-BENCH {value}");
    let _ = out.flush();
}

/// How much of everything to do.
struct Size {
    rounds: usize,
    /// Iterations of the fsnotify workloads (7 inotify events each).
    ops: u64,
    /// Passes of the stat workload over its 1000 files.
    stat_passes: u64,
    startups: usize,
    /// Seconds per saturation step.
    step_secs: f64,
    userspace_records: usize,
    userspace_rounds: usize,
    /// Scrapes of the metrics endpoint with 10,000 label sets.
    scrapes: usize,
    /// `top` against permission daemons of known delay.
    top: top::TopSize,
    /// Events timed from their read to their record on stdout.
    delay_events: usize,
}

impl Size {
    fn new(smoke: bool, vm: bool) -> Size {
        // 110 answers of the 50 ms daemon in a full run: its p99 (rank 109) is not its slowest.
        let top = match smoke {
            true => top::TopSize { rounds: 1, opens: [20, 10], min_intervals: 3 },
            false => top::TopSize { rounds: 3, opens: [110, 60], min_intervals: 8 },
        };
        let delay_events = if smoke { 10 } else { 60 };
        match (smoke, vm) {
            (true, false) => Size { rounds: 3, ops: 2000, stat_passes: 20, startups: 2, step_secs: 0.2, userspace_records: 400_000, userspace_rounds: 5, scrapes: 5, top, delay_events },
            (true, true) => Size { rounds: 2, ops: 300, stat_passes: 2, startups: 1, step_secs: 0.3, userspace_records: 0, userspace_rounds: 0, scrapes: 0, top, delay_events },
            (false, false) => Size { rounds: 11, ops: 20_000, stat_passes: 200, startups: 7, step_secs: 1.0, userspace_records: 1_000_000, userspace_rounds: 7, scrapes: 20, top, delay_events },
            (false, true) => Size { rounds: 7, ops: 3000, stat_passes: 10, startups: 3, step_secs: 1.0, userspace_records: 0, userspace_rounds: 0, scrapes: 0, top, delay_events },
        }
    }
}

fn progress(what: &str) {
    eprintln!("fsg-bench: {what}");
}

/// The scratch directory for the workloads.
fn work_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("fsg-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// One workload run under `config` ("none", a backend, or "hooks": the tracepoint backend's
/// hot programs attached with nothing to do); the gadget, if any, follows the
/// workload's own events only when `follow` is set.
fn one_run(config: &str, mode: &str, dir: &Path, args: &[String], follow: bool) -> Result<(procs::WorkResult, Option<procs::GadgetEnd>)> {
    let _ = std::fs::remove_dir_all(dir);
    let workload = Workload::start(mode, dir, args)?;
    let _hooks = match config {
        "hooks" => Some(fsnotify_gadget::backend::tracepoint::attach_hooks_only()?),
        _ => None,
    };
    let gadget = match config {
        "none" | "hooks" => None,
        backend => {
            let filter = if follow { vec!["--tracer-pid".to_string(), workload.pid().to_string()] } else { vec![] };
            Some(Gadget::start(backend, &filter)?)
        }
    };
    let result = workload.go()?;
    let end = gadget.map(Gadget::stop).transpose()?;
    let _ = std::fs::remove_dir_all(dir);
    Ok((result, end))
}

/// Runs `mode` under each config, `rounds` times, rotating the order; one `sample` line per run.
fn compare(bench: &str, mode: &str, args: &[String], configs: &[&str], rounds: usize, follow: bool, work: &Path) -> Result<()> {
    progress(&format!("{bench}: {} rounds of {}", rounds, configs.join(", ")));
    for round in 0..rounds {
        for k in 0..configs.len() {
            let config = configs[(round + k) % configs.len()];
            let (r, end) = one_run(config, mode, &work.join(bench), args, follow)?;
            let end = end.unwrap_or_default();
            emit(&serde_json::json!({"t": "sample", "bench": bench, "round": round, "config": config,
                "ops": r.ops, "events": r.events, "wall_ns": r.wall_ns, "cpu_ns": r.cpu_ns,
                "emitted": end.emitted, "lost": end.lost}));
        }
    }
    Ok(())
}

/// Each BPF program's run count and time while the workloads ran, with
/// kernel.bpf_stats_enabled set for this pass only (the statistics cost time themselves).
fn bpf_stats(backend: &str, workloads: &[(&str, Vec<String>)], work: &Path) -> Result<()> {
    const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";
    let before = std::fs::read_to_string(SYSCTL).with_context(|| format!("reading {SYSCTL}"))?;
    std::fs::write(SYSCTL, "1").with_context(|| format!("writing {SYSCTL}"))?;
    let result = (|| -> Result<()> {
        for (mode, args) in workloads {
            progress(&format!("BPF statistics: {backend}, {mode} workload"));
            let dir = work.join("stats");
            let _ = std::fs::remove_dir_all(&dir);
            let workload = Workload::start(mode, &dir, args)?;
            let gadget = Gadget::start(backend, &["--tracer-pid".to_string(), workload.pid().to_string()])?;
            let r = workload.go()?;
            let ids = gadget.prog_ids();
            for info in libbpf_rs::query::ProgInfoIter::default() {
                if ids.contains(&info.id) {
                    emit(&serde_json::json!({"t": "prog", "backend": backend, "workload": mode,
                        "prog": info.name.to_string_lossy(), "run_cnt": info.run_cnt,
                        "run_time_ns": info.run_time_ns, "events": r.events}));
                }
            }
            gadget.stop()?;
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(())
    })();
    std::fs::write(SYSCTL, before.trim()).with_context(|| format!("restoring {SYSCTL}"))?;
    result
}

/// Start-up time, and memory when idle (after the first start-up, one second later).
fn startup(backend: &str, count: usize) -> Result<()> {
    progress(&format!("start-up: {backend}, {count} times"));
    for i in 0..count {
        let gadget = Gadget::start(backend, &[])?;
        emit(&serde_json::json!({"t": "startup", "backend": backend, "ms": gadget.ready_after.as_secs_f64() * 1e3}));
        if i == 0 {
            std::thread::sleep(Duration::from_secs(1));
            emit(&serde_json::json!({"t": "memory", "backend": backend, "state": "idle",
                "peak_rss_kib": gadget.peak_rss_kib(), "maps_kib": gadget.maps_kib()}));
        }
        gadget.stop()?;
    }
    Ok(())
}

/// Raises the inotify event rate until records are lost; at each step, generated (events
/// the workload's reader dequeued), emitted and lost. The last step runs unpaced. Memory
/// under load: the peak of the busiest step.
fn saturation(backend: &str, step_secs: f64, work: &Path) -> Result<()> {
    let rates = [10_000u64, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 0];
    let mut peak = (0u64, 0u64);
    for rate in rates {
        progress(&format!("saturation: {backend}, {} events/s", if rate == 0 { "unpaced".to_string() } else { rate.to_string() }));
        let dir = work.join("rate");
        let _ = std::fs::remove_dir_all(&dir);
        let args = vec!["--rate".into(), rate.to_string(), "--seconds".into(), step_secs.to_string()];
        let workload = Workload::start("rate", &dir, &args)?;
        let gadget = Gadget::start(backend, &["--tracer-pid".to_string(), workload.pid().to_string()])?;
        let r = workload.go()?;
        // Let the gadget catch up before it is stopped: it drains what is queued at exit anyway.
        std::thread::sleep(Duration::from_millis(300));
        let maps = gadget.maps_kib();
        let end = gadget.stop()?;
        peak = peak.max((end.peak_rss_kib, maps));
        emit(&serde_json::json!({"t": "saturation", "backend": backend, "rate": rate,
            "achieved": r.events as f64 / (r.wall_ns as f64 / 1e9), "generated": r.events,
            "emitted": end.emitted, "lost": end.lost}));
        let _ = std::fs::remove_dir_all(&dir);
        if end.lost > 0 {
            break;
        }
    }
    emit(&serde_json::json!({"t": "memory", "backend": backend, "state": "load", "peak_rss_kib": peak.0, "maps_kib": peak.1}));
    Ok(())
}

fn machine() {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim().to_string()));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    emit(&serde_json::json!({"t": "machine", "kernel": release, "cpu": model.unwrap_or_default(), "nproc": cores}));
}

fn fsnotify_args(size: &Size) -> Vec<String> {
    vec!["--ops".into(), size.ops.to_string()]
}

fn host(size: &Size, work: &Path) -> Result<()> {
    let tp = "tracepoint";
    let stat_args = vec!["--ops".to_string(), size.stat_passes.to_string()];
    compare("tp-inotify", "inotify", &fsnotify_args(size), &["none", tp], size.rounds, true, work)?;
    compare("tp-stat", "stat", &stat_args, &["none", tp, "hooks"], size.rounds, false, work)?;
    let getpid_args = vec!["--ops".to_string(), (size.stat_passes * 10).to_string()];
    compare("tp-getpid", "getpid", &getpid_args, &["none", tp, "hooks"], size.rounds, false, work)?;
    bpf_stats(tp, &[("inotify", fsnotify_args(size)), ("stat", stat_args)], work)?;
    saturation(tp, size.step_secs, work)?;
    startup(tp, size.startups)?;
    top::run(&size.top, work)?;
    delay::run(tp, size.delay_events, work)?;
    userspace_part(size)
}

/// The user-space throughput and the metrics' scrape.
fn userspace_part(size: &Size) -> Result<()> {
    userspace::run(size.userspace_records, size.userspace_rounds)?;
    progress("metrics: scrapes of 10,000 label sets");
    scrape::run(size.scrapes)
}

fn vm(size: &Size, work: &Path) -> Result<()> {
    let args = fsnotify_args(size);
    for backend in ["fentry", "kprobe"] {
        startup(backend, size.startups)?;
    }
    compare("k-inotify", "inotify", &args, &["none", "fentry", "kprobe"], size.rounds, true, work)?;
    compare("k-fanotify", "fanotify", &args, &["none", "fentry", "kprobe"], size.rounds, true, work)?;
    for backend in ["fentry", "kprobe"] {
        bpf_stats(backend, &[("inotify", args.clone()), ("fanotify", args.clone())], work)?;
    }
    // Their programs wake the tool only at 256 KiB of records: a quiet trace waits for the poll.
    for backend in ["fentry", "kprobe"] {
        delay::run(backend, size.delay_events, work)?;
    }
    saturation("fentry", size.step_secs, work)
}

/// The kernel-side cost alone, for a guest under QEMU's `-icount shift=0,sleep=off`: the
/// guest clock then advances one nanosecond per guest instruction, so each run's CPU time
/// and each program's `run_time_ns` are instruction counts. The workloads and rounds of
/// issue 19's reference measurement of Inspektor Gadget's programs (1,000 ops, 7 rounds).
fn vm_icount(smoke: bool, work: &Path) -> Result<()> {
    let (rounds, ops) = if smoke { (2, 300) } else { (7, 1000) };
    let args = vec!["--ops".to_string(), ops.to_string()];
    compare("k-inotify", "inotify", &args, &["none", "fentry", "kprobe"], rounds, true, work)?;
    compare("k-fanotify", "fanotify", &args, &["none", "fentry", "kprobe"], rounds, true, work)?;
    for backend in ["fentry", "kprobe"] {
        bpf_stats(backend, &[("inotify", args.clone()), ("fanotify", args.clone())], work)?;
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let icount = args.iter().any(|a| a == "--icount");
    let part = args.iter().find(|a| !a.starts_with("--")).cloned().unwrap_or_default();
    let result = (|| -> Result<()> {
        if part != "userspace" {
            fsnotify_gadget::privileges::check()?;
        }
        machine();
        let work = work_dir()?;
        let result = match part.as_str() {
            "host" => host(&Size::new(smoke, false), &work),
            "vm" if icount => vm_icount(smoke, &work),
            "vm" => vm(&Size::new(smoke, true), &work),
            "userspace" => userspace_part(&Size::new(smoke, false)),
            _ => bail!("usage: fsg-bench host|vm|userspace [--smoke], fsg-bench vm --icount [--smoke]"),
        };
        let _ = std::fs::remove_dir_all(&work);
        result
    })();
    match result {
        Ok(()) => emit(&serde_json::json!({"t": "done"})),
        Err(e) => {
            eprintln!("fsg-bench: error: {e:#}");
            std::process::exit(1);
        }
    }
}

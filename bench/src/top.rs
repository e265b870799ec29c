//! `fsnotify-gadget top` against known answers: two fanotify permission daemons
//! (fsg-fanotify-perm) answer after 50 and 100 ms while threads open files under their
//! marks, all under SCHED_FIFO; top, run with `-o json --interval 1`, gives each daemon's
//! p50, p99 and max for the whole run (one `top_latency` line per daemon and run). The
//! run is stopped just after an interval summary came, once every open was answered and
//! at least `min_intervals` summaries were written: the summaries per second of the
//! whole run (one `top_intervals` line per run) are then those of `--interval 1`.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::emit;
use crate::procs::{set_fifo, PermDaemon, TimedLines};

/// The daemons' delays, ms.
pub const DELAYS_MS: [u64; 2] = [50, 100];

/// How big one run is.
pub struct TopSize {
    pub rounds: usize,
    /// Opens answered by the 50 ms daemon and by the 100 ms one, per run.
    pub opens: [usize; 2],
    /// Interval summaries a run writes at least.
    pub min_intervals: u64,
}

/// `n` files in a fresh `dir`, made before a daemon marks it (writing them opens them).
fn files(dir: &Path, n: usize) -> Result<Vec<PathBuf>> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    (0..n)
        .map(|i| {
            let p = dir.join(format!("f{i}"));
            std::fs::write(&p, b"x")?;
            Ok(p)
        })
        .collect()
}

/// Opens each file once, in order (each open waits for its answer), from a SCHED_FIFO thread.
fn open_all(paths: Vec<PathBuf>) -> JoinHandle<Result<()>> {
    std::thread::spawn(move || {
        set_fifo(0)?;
        for p in paths {
            std::fs::File::open(&p).with_context(|| format!("opening {}", p.display()))?;
        }
        Ok(())
    })
}

pub fn run(size: &TopSize, work: &Path) -> Result<()> {
    for round in 0..size.rounds {
        crate::progress(&format!("top: daemons answering after {DELAYS_MS:?} ms, round {}", round + 1));
        one_run(size, round, work)?;
    }
    Ok(())
}

fn one_run(size: &TopSize, round: usize, work: &Path) -> Result<()> {
    let dirs = DELAYS_MS.map(|ms| work.join(format!("top-{ms}")));
    let paths = [files(&dirs[0], size.opens[0])?, files(&dirs[1], size.opens[1])?];
    let daemons = [PermDaemon::start(&dirs[0], DELAYS_MS[0])?, PermDaemon::start(&dirs[1], DELAYS_MS[1])?];
    let top = TimedLines::start(&["top", "-o", "json", "--interval", "1", "--fanotify-only", "--backend", "tracepoint"])?;
    let [a, b] = paths;
    let mut opens = vec![open_all(a), open_all(b)];
    let mut intervals = 0u64;
    loop {
        let Some((_, line)) = top.next(Duration::from_secs(30)) else { bail!("top wrote no summary for 30 s") };
        let summary: Value = serde_json::from_str(&line).with_context(|| format!("top wrote {line:?}"))?;
        if summary["scope"] != "interval" {
            bail!("top wrote {line} before it was stopped");
        }
        intervals += 1;
        for o in std::mem::take(&mut opens) {
            if o.is_finished() {
                o.join().expect("an opening thread panicked")?;
            } else {
                opens.push(o);
            }
        }
        if opens.is_empty() && intervals >= size.min_intervals {
            break;
        }
    }
    let rest = top.stop()?;
    let (_, last) = rest.last().context("top wrote no summary of the run")?;
    let total: Value = serde_json::from_str(last).with_context(|| format!("top wrote {last:?}"))?;
    if total["scope"] != "total" {
        bail!("top's last line is not the run's summary: {last}");
    }
    // Summaries that came between the last one read above and the stop.
    let counted = intervals + rest.len() as u64 - 1;
    if total["interval"].as_u64() != Some(counted) {
        bail!("top wrote {counted} interval summaries and says {}", total["interval"]);
    }
    emit(&serde_json::json!({"t": "top_intervals", "round": round, "interval_s": 1.0,
        "intervals": counted, "seconds": total["seconds"]}));
    for (k, daemon) in daemons.iter().enumerate() {
        let row = total["permission"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["tracer"]["pid"].as_u64() == Some(u64::from(daemon.pid()))))
            .with_context(|| format!("no row for the {} ms daemon in {total}", DELAYS_MS[k]))?;
        if row["requests"].as_u64() != Some(size.opens[k] as u64) {
            bail!("the {} ms daemon answered {} opens, top counted {}", DELAYS_MS[k], size.opens[k], row["requests"]);
        }
        emit(&serde_json::json!({"t": "top_latency", "round": round, "delay_ms": DELAYS_MS[k],
            "requests": row["requests"], "p50_ns": row["p50_ns"], "p99_ns": row["p99_ns"], "max_ns": row["max_ns"]}));
    }
    drop(daemons);
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    Ok(())
}

//! `cargo xtask fuzz`: builds the cargo-fuzz targets in fuzz/ and runs each
//! for a while, seeded with the checked-in corpus (fuzz/corpus/TARGET).
//!
//! cargo-fuzz needs `-Z` flags; on a stable toolchain they are allowed with
//! RUSTC_BOOTSTRAP=1. New inputs go to target/fuzz-corpus/TARGET, never into
//! the checked-in corpus; crashes go to fuzz/artifacts/TARGET.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::cargo::Workspace;

/// Seconds each target runs in `--smoke` mode (CI and `cargo xtask test`).
pub const SMOKE_SECONDS: u64 = 15;
/// Seconds each target runs without `--smoke`.
pub const DEFAULT_SECONDS: u64 = 120;
/// The longest input tried: well above one record or one read(2) chunk.
const MAX_LEN: u32 = 16384;
/// A process that grows past this is a failure (libFuzzer's -rss_limit_mb).
const RSS_LIMIT_MB: u32 = 1024;
/// One allocation larger than this is a failure: no parser may allocate by
/// what a length field claims.
const MALLOC_LIMIT_MB: u32 = 64;

/// What one target's run gave.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    pub ok: bool,
    pub execs: Option<u64>,
    pub execs_per_sec: Option<u64>,
    pub corpus: Option<u64>,
}

/// Reads libFuzzer's `-print_final_stats=1` lines and its `#N DONE cov: … corp: K/…` line.
pub fn parse_stats(outcome: &mut Outcome, line: &str) {
    let stat = |key: &str| line.strip_prefix(key).and_then(|v| v.trim().parse().ok());
    if let Some(v) = stat("stat::number_of_executed_units:") {
        outcome.execs = Some(v);
    } else if let Some(v) = stat("stat::average_exec_per_sec:") {
        outcome.execs_per_sec = Some(v);
    } else if line
        .split_whitespace()
        .nth(1)
        .is_some_and(|w| w == "DONE" || w == "INITED")
    {
        let corp = line.split_whitespace().skip_while(|w| *w != "corp:").nth(1);
        if let Some(n) = corp
            .and_then(|c| c.split('/').next())
            .and_then(|n| n.parse().ok())
        {
            outcome.corpus = Some(n);
        }
    }
}

fn cargo_fuzz(ws: &Workspace) -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(&ws.root)
        .env("RUSTC_BOOTSTRAP", "1")
        .arg("fuzz");
    c
}

/// The fuzz targets cargo-fuzz finds in fuzz/Cargo.toml.
fn targets(ws: &Workspace) -> Result<Vec<String>> {
    let out = cargo_fuzz(ws)
        .arg("list")
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo fuzz (install it: scripts/install-deps.sh)")?;
    if !out.status.success() {
        bail!("cargo fuzz list failed: is cargo-fuzz installed (scripts/install-deps.sh)?");
    }
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.is_empty() {
        bail!("cargo fuzz list found no targets in fuzz/");
    }
    Ok(names)
}

fn run_target(ws: &Workspace, target: &str, seconds: u64) -> Result<Outcome> {
    let seeds = ws.root.join("fuzz/corpus").join(target);
    if !seeds.is_dir() {
        bail!("{target} has no checked-in corpus ({})", seeds.display());
    }
    let scratch = ws.target_dir.join("fuzz-corpus").join(target);
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let mut child = cargo_fuzz(ws)
        .args(["run", "-O", target])
        .arg(&scratch)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-max_len={MAX_LEN}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-malloc_limit_mb={MALLOC_LIMIT_MB}"))
        .arg("-print_final_stats=1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run cargo fuzz run")?;
    let mut outcome = Outcome::default();
    let mut tail: Vec<String> = Vec::new();
    for line in BufReader::new(child.stderr.take().expect("piped stderr")).lines() {
        let line = line?;
        parse_stats(&mut outcome, &line);
        // Progress lines are many; keep the last ones for a failure report.
        tail.push(line);
        if tail.len() > 40 {
            tail.remove(0);
        }
    }
    outcome.ok = child.wait()?.success();
    if !outcome.ok {
        eprintln!(
            "fuzz {target}: FAILED (the input is in {}); the end of its output:\n{}",
            ws.root.join("fuzz/artifacts").join(target).display(),
            tail.join("\n")
        );
    }
    Ok(outcome)
}

/// Builds and runs every target for `seconds` each; (passed, failed), one per target.
pub fn run(ws: &Workspace, seconds: u64) -> Result<(u32, u32)> {
    let names = targets(ws)?;
    println!(
        "fuzz: building {} targets (cargo fuzz build -O)",
        names.len()
    );
    let built = cargo_fuzz(ws)
        .args(["build", "-O"])
        .status()
        .context("cannot run cargo fuzz build")?;
    if !built.success() {
        bail!("cargo fuzz build failed (its errors are above)");
    }
    let (mut passed, mut failed) = (0, 0);
    for target in &names {
        let o = run_target(ws, target, seconds)?;
        let num = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        println!(
            "fuzz {target}: {} in {seconds} s: {} execs ({}/s), corpus {} inputs",
            if o.ok { "ok" } else { "FAILED" },
            num(o.execs),
            num(o.execs_per_sec),
            num(o.corpus)
        );
        if o.ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    Ok((passed, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_stats() {
        let mut o = Outcome::default();
        for line in [
            "#2\tINITED cov: 95 ft: 96 corp: 2/480b exec/s: 0 rss: 40Mb",
            "#65536\tpulse  cov: 300 ft: 900 corp: 120/9Kb lim: 652 exec/s: 21845 rss: 60Mb",
            "#311742\tDONE   cov: 310 ft: 1017 corp: 148/14Kb lim: 4096 exec/s: 20782 rss: 61Mb",
            "stat::number_of_executed_units: 311742",
            "stat::average_exec_per_sec:     20782",
            "stat::peak_rss_mb:              61",
        ] {
            parse_stats(&mut o, line);
        }
        assert_eq!(
            o,
            Outcome {
                ok: false,
                execs: Some(311742),
                execs_per_sec: Some(20782),
                corpus: Some(148)
            }
        );
    }
}

//! `cargo xtask fuzz`: builds the cargo-fuzz targets in fuzz/ and runs each
//! for a while, seeded with the checked-in corpus (fuzz/corpus/TARGET).
//!
//! cargo-fuzz needs `-Z` flags; on a stable toolchain they are allowed with
//! RUSTC_BOOTSTRAP=1. New inputs go to target/fuzz-corpus/TARGET, never into
//! the checked-in corpus; crashes go to fuzz/artifacts/TARGET.
//!
//! A target passes when its run exits 0 *and* libFuzzer's final stats show it
//! ran at least [`floor`] inputs: a run that exits 0 having executed nothing
//! (a target that returns before fuzzing, a binary that is not a libFuzzer
//! one, stats that no longer parse) fails rather than passing unseen. A
//! target without checked-in seeds fails too, before it is run.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::Path;
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
/// The fewest inputs a target must execute per second of its run. The
/// slowest target runs thousands a second on a 2-core machine; a run below
/// this did not really fuzz.
pub const MIN_EXECS_PER_SECOND: u64 = 100;

/// The fewest inputs a run of `seconds` must execute: 1,500 for `--smoke`.
pub fn floor(seconds: u64) -> u64 {
    MIN_EXECS_PER_SECOND * seconds
}

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

/// Whether a run passed: it exited 0 and executed at least `floor` inputs.
/// The error says why not, in a line's words.
pub fn verdict(o: &Outcome, floor: u64) -> Result<(), String> {
    if !o.ok {
        return Err(
            "the target failed: a crash, an assertion, a leak, a timeout or out of memory".into(),
        );
    }
    match o.execs {
        None => Err(
            "libFuzzer reported no stat::number_of_executed_units: nothing shows that inputs ran"
                .into(),
        ),
        Some(n) if n < floor => Err(format!(
            "executed {n} inputs, fewer than the floor of {floor}: the run did not really fuzz"
        )),
        Some(_) => Ok(()),
    }
}

/// The checked-in seeds of a target: the files in its corpus directory; an
/// error when it is missing or holds none.
pub fn seed_count(dir: &Path) -> Result<usize, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("no checked-in corpus ({}: {e})", dir.display()))?;
    let n = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .count();
    if n == 0 {
        return Err(format!(
            "its checked-in corpus {} holds no seed",
            dir.display()
        ));
    }
    Ok(n)
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
    let floor = floor(seconds);
    println!("fuzz: each target must execute at least {floor} inputs in {seconds} s ({MIN_EXECS_PER_SECOND}/s)");
    let (mut passed, mut failed) = (0, 0);
    for target in &names {
        if let Err(why) = seed_count(&ws.root.join("fuzz/corpus").join(target)) {
            println!("fuzz {target}: FAILED, not run: {why}");
            failed += 1;
            continue;
        }
        let o = run_target(ws, target, seconds)?;
        let num = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
        let result = verdict(&o, floor);
        println!(
            "fuzz {target}: {} in {seconds} s: {} execs ({}/s), corpus {} inputs",
            if result.is_ok() { "ok" } else { "FAILED" },
            num(o.execs),
            num(o.execs_per_sec),
            num(o.corpus)
        );
        match result {
            Ok(()) => passed += 1,
            Err(why) => {
                println!("fuzz {target}: FAILED because {why}");
                failed += 1;
            }
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

    fn outcome(ok: bool, execs: Option<u64>) -> Outcome {
        Outcome {
            ok,
            execs,
            execs_per_sec: None,
            corpus: None,
        }
    }

    #[test]
    fn a_run_passes_only_if_it_exited_0_and_ran_the_floor() {
        assert_eq!(floor(SMOKE_SECONDS), 1500);
        assert_eq!(verdict(&outcome(true, Some(1500)), 1500), Ok(()));
        assert_eq!(verdict(&outcome(true, Some(311742)), 1500), Ok(()));
        let why = verdict(&outcome(true, Some(1499)), 1500).unwrap_err();
        assert!(
            why.contains("1499") && why.contains("floor of 1500"),
            "{why}"
        );
        let why = verdict(&outcome(true, Some(0)), 1500).unwrap_err();
        assert!(why.contains("executed 0 inputs"), "{why}");
        let why = verdict(&outcome(true, None), 1500).unwrap_err();
        assert!(why.contains("number_of_executed_units"), "{why}");
        // Exiting non-zero fails however much ran.
        assert!(verdict(&outcome(false, Some(u64::MAX)), 1500)
            .unwrap_err()
            .contains("the target failed"));
        assert!(verdict(&outcome(false, None), 0).is_err());
    }

    /// The `[[bin]]` names of fuzz/Cargo.toml: the targets `cargo fuzz list` gives.
    fn declared_targets(manifest: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut in_bin = false;
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_bin = line == "[[bin]]";
            } else if let Some(v) = line
                .strip_prefix("name")
                .map(str::trim)
                .and_then(|v| v.strip_prefix('='))
            {
                if in_bin {
                    names.push(v.trim().trim_matches('"').to_string());
                }
            }
        }
        names
    }

    #[test]
    fn every_target_has_checked_in_seeds() {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
        let targets = declared_targets(&manifest);
        assert!(targets.len() >= 10, "{targets:?}");
        for t in &targets {
            assert!(
                fuzz.join("fuzz_targets").join(format!("{t}.rs")).is_file(),
                "{t} has no fuzz_targets/{t}.rs"
            );
            if let Err(why) = seed_count(&fuzz.join("corpus").join(t)) {
                panic!("fuzz target {t}: {why}");
            }
        }
    }

    #[test]
    fn an_empty_or_missing_corpus_is_refused() {
        let dir = std::env::temp_dir().join(format!("fsg-xtask-seeds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(seed_count(&dir)
            .unwrap_err()
            .contains("no checked-in corpus"));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        assert!(
            seed_count(&dir).unwrap_err().contains("holds no seed"),
            "a directory is no seed"
        );
        std::fs::write(dir.join("seed-0"), b"x").unwrap();
        assert_eq!(seed_count(&dir), Ok(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

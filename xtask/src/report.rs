//! Reading test results: libtest's output (host and guest) and the markers the guest's /init prints.

use std::time::Duration;

/// Printed by the guest's /init as soon as it runs (see init.sh): the kernel has booted.
pub const INIT_STARTED: &str = "FSG-VM: init started";
/// Printed by /init right before it starts the test binary.
pub const TESTS_BEGIN: &str = "FSG-VM: tests begin";
/// Printed by /init after the test binary, followed by its exit code.
pub const TESTS_END: &str = "FSG-VM: tests end, exit code ";
/// Printed by the guest's test runner for each test: `FSG-VM: time NAME SECONDS`.
pub const TEST_TIME: &str = "FSG-VM: time ";
/// Printed by the guest's test runner once it has measured the guest's speed; the line ends
/// in `scaled by FACTOR`.
pub const CALIBRATION: &str = "FSG-VM: calibration: ";
/// Printed by the guest's test runner when the test binary's listing failed or named no
/// test, followed by why.
pub const LISTING_FAILED: &str = "FSG-VM: listing failed: ";
/// Printed by the guest's test runner before the tests: `FSG-VM: selected S of M matching
/// tests (...)`, the tests this boot must report and those its kernel's shards share.
pub const SELECTED: &str = "FSG-VM: selected ";

/// `(S, M)` of a selection line.
pub fn parse_selected(line: &str) -> Option<(u32, u32)> {
    let rest = &line[line.find(SELECTED)? + SELECTED.len()..];
    let mut words = rest.split_whitespace();
    let selected = words.next()?.parse().ok()?;
    (words.next()? == "of").then_some(())?;
    let matching = words.next()?.parse().ok()?;
    Some((selected, matching))
}

/// The slowness factor of a calibration line (1.0: as fast as the reference machine).
pub fn parse_calibration(line: &str) -> Option<f64> {
    let rest = &line[line.find(CALIBRATION)?..];
    let factor: f64 = rest.rsplit("scaled by ").next()?.trim().parse().ok()?;
    (factor.is_finite() && factor >= 1.0).then_some(factor)
}

/// `(name, seconds)` of a test-time line.
pub fn parse_test_time(line: &str) -> Option<(String, f64)> {
    let rest = &line[line.find(TEST_TIME)? + TEST_TIME.len()..];
    let (name, seconds) = rest.trim().rsplit_once(' ')?;
    Some((name.to_string(), seconds.parse().ok()?))
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: u32,
    pub failed: u32,
    pub ignored: u32,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, other: Totals) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

/// Parses libtest's summary line:
/// `test result: ok. 3 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s`.
/// The guest's runner renames the summary line of each failed test process it echoes
/// (`test process result:`), so that only its own summary is read.
pub fn parse_result_line(line: &str) -> Option<Totals> {
    let rest = &line[line.find("test result: ")? + "test result: ".len()..];
    let (_, counts) = rest.split_once(". ")?;
    let mut totals = Totals::default();
    let mut seen = 0;
    for part in counts.split(';') {
        let mut words = part.split_whitespace();
        let (Some(number), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse() else { continue };
        match what {
            "passed" => totals.passed = number,
            "failed" => totals.failed = number,
            "ignored" => totals.ignored = number,
            _ => continue,
        }
        seen += 1;
    }
    (seen == 3).then_some(totals)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Ignored,
}

/// Parses libtest's line for one test: `test some::name ... ok` (or `FAILED`, `ignored`,
/// `ignored, reason`).
pub fn parse_test_line(line: &str) -> Option<(&str, Outcome)> {
    let rest = line.strip_prefix("test ")?;
    let (name, status) = rest.split_once(" ... ")?;
    let outcome = match status.trim_end() {
        "ok" => Outcome::Ok,
        "FAILED" => Outcome::Failed,
        s if s == "ignored" || s.starts_with("ignored, ") => Outcome::Ignored,
        _ => return None,
    };
    Some((name, outcome))
}

/// What one boot of the test VM showed.
#[derive(Debug, Default)]
pub struct GuestReport {
    /// Time from starting QEMU to the first line of /init, when it got there.
    pub booted_after: Option<Duration>,
    pub totals: Option<Totals>,
    pub failed_tests: Vec<String>,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub wall: Duration,
    /// fsg-bench's measurement lines, when the guest ran the benchmarks.
    pub bench_lines: Vec<String>,
    /// Each test's wall time, as the guest's runner measured it.
    pub test_times: Vec<(String, f64)>,
    /// How much slower than the reference machine the guest measured itself.
    pub slowness: Option<f64>,
    /// Why the runner could not list the tests, when it could not.
    pub listing_failed: Option<String>,
    /// (tests this boot selected, tests matching on its kernel across every shard).
    pub selected: Option<(u32, u32)>,
}

impl GuestReport {
    /// Reads the serial console's lines, each with the time since QEMU started.
    pub fn from_console(lines: &[(Duration, String)], timed_out: bool, wall: Duration) -> Self {
        let mut report = GuestReport {
            timed_out,
            wall,
            ..Default::default()
        };
        let mut in_tests = false;
        for (at, line) in lines {
            if line.contains(crate::bench::LINE_PREFIX) {
                report.bench_lines.push(line.clone());
                continue;
            }
            if let Some(time) = parse_test_time(line) {
                report.test_times.push(time);
                continue;
            }
            if let Some(factor) = parse_calibration(line) {
                report.slowness = Some(factor);
                continue;
            }
            if let Some(i) = line.find(LISTING_FAILED) {
                report.listing_failed = Some(line[i + LISTING_FAILED.len()..].trim().to_string());
                continue;
            }
            if let Some(selected) = parse_selected(line) {
                report.selected = Some(selected);
                continue;
            }
            if report.booted_after.is_none() && line.contains(INIT_STARTED) {
                report.booted_after = Some(*at);
            } else if line.contains(TESTS_BEGIN) {
                in_tests = true;
            } else if let Some(i) = line.find(TESTS_END) {
                in_tests = false;
                let code = line[i + TESTS_END.len()..].split_whitespace().next();
                report.exit_code = code.and_then(|c| c.parse().ok());
            } else if in_tests {
                if let Some(totals) = parse_result_line(line) {
                    *report.totals.get_or_insert_with(Totals::default) += totals;
                } else if let Some((name, Outcome::Failed)) = parse_test_line(line) {
                    report.failed_tests.push(name.to_string());
                }
            }
        }
        report
    }

    /// Tests that reported a verdict.
    fn ran(&self) -> u32 {
        self.totals.map_or(0, |t| t.passed + t.failed)
    }

    /// Whether the kernel booted, the test binary ran to its end with status 0, and every test
    /// it selected reported and passed. A boot that selected none is ok only as one shard of
    /// a kernel whose other shards ran the matching tests (see [`shards_complete`]).
    pub fn ok(&self) -> bool {
        !self.timed_out
            && self.exit_code == Some(0)
            && self.listing_failed.is_none()
            && self.totals.is_some_and(|t| t.failed == 0)
            && self.selected.is_some_and(|(selected, matching)| matching > 0 && selected == self.ran())
    }

    /// (passed, failed) as the summary counts them: a boot that did not get the test binary's
    /// verdict counts as one failure at least.
    pub fn counted(&self) -> (u32, u32) {
        let totals = self.totals.unwrap_or_default();
        let failed = if self.ok() {
            totals.failed
        } else {
            totals.failed.max(1)
        };
        (totals.passed, failed)
    }

    /// The `n` slowest tests, slowest first.
    pub fn slowest(&self, n: usize) -> Vec<(String, f64)> {
        let mut times = self.test_times.clone();
        times.sort_by(|a, b| b.1.total_cmp(&a.1));
        times.truncate(n);
        times
    }

    /// One line for the per-kernel report.
    pub fn describe(&self) -> String {
        let mut parts = vec![];
        match self.booted_after {
            Some(t) => parts.push(format!("booted in {:.1} s", t.as_secs_f64())),
            None => parts.push("did not boot to /init".to_string()),
        }
        if let Some(why) = &self.listing_failed {
            parts.push(format!("listing the tests failed: {why}"));
        }
        match self.totals {
            Some(t) => parts.push(format!(
                "{} passed, {} failed, {} ignored",
                t.passed, t.failed, t.ignored
            )),
            None if self.booted_after.is_some() && self.listing_failed.is_none() => {
                parts.push("the test binary reported no result".to_string())
            }
            None => {}
        }
        match self.selected {
            Some((selected, _)) if self.totals.is_some() && selected != self.ran() => {
                parts.push(format!("{} of {selected} selected tests reported", self.ran()))
            }
            None if self.totals.is_some() && self.bench_lines.is_empty() => {
                parts.push("the runner did not say how many tests it selected".to_string())
            }
            _ => {}
        }
        if self.timed_out {
            parts.push("TIMED OUT".to_string());
        } else if let Some(code) = self.exit_code.filter(|c| *c != 0) {
            parts.push(format!("test binary exit code {code}"));
        }
        parts.push(format!("wall {:.1} s", self.wall.as_secs_f64()));
        let verdict = if self.ok() { "ok" } else { "FAILED" };
        format!("{verdict}: {}", parts.join(", "))
    }
}

/// The closing line that CI and people read: `N passed, M failed`.
pub fn summary_line(passed: u32, failed: u32) -> String {
    format!("{passed} passed, {failed} failed")
}

/// The closing line of the whole suite: `N passed, M failed, K skipped`, where the skipped
/// tests are those that ran nowhere (ignored on the host for another reason than running in
/// the VM).
pub fn closing_line(passed: u32, failed: u32, skipped: u32) -> String {
    format!("{passed} passed, {failed} failed, {skipped} skipped")
}

/// The reason every test of tests/vm_e2e.rs is ignored with on the host: such a test is not
/// skipped, the VM runs it.
pub const RUNS_IN_THE_VM: &str = "runs inside the VM";

/// Whether a libtest line says a test was ignored because it runs in the VM.
pub fn ignored_for_the_vm(line: &str) -> bool {
    matches!(parse_test_line(line), Some((_, Outcome::Ignored))) && line.contains(&format!("ignored, {RUNS_IN_THE_VM}"))
}

/// For each kernel, whether its boots' shards together selected every test that matches
/// there: one message for each kernel where they did not (a shard that crashed before it
/// said, or shards that disagree on what matches).
pub fn incomplete_shards<'a>(boots: impl IntoIterator<Item = (&'a str, &'a GuestReport)>) -> Vec<String> {
    let mut kernels: Vec<(&str, u32, Vec<u32>)> = vec![];
    for (kernel, report) in boots {
        let i = match kernels.iter().position(|k| k.0 == kernel) {
            Some(i) => i,
            None => {
                kernels.push((kernel, 0, vec![]));
                kernels.len() - 1
            }
        };
        if let Some((selected, matching)) = report.selected {
            kernels[i].1 += selected;
            kernels[i].2.push(matching);
        } else {
            kernels[i].2.push(u32::MAX);
        }
    }
    let mut messages = vec![];
    for (kernel, selected, matching) in kernels {
        let agreed = matching.windows(2).all(|w| w[0] == w[1]) && matching[0] != u32::MAX;
        if !agreed {
            messages.push(format!("{kernel}: its boots do not agree on the tests that match, or one did not say: {matching:?}"));
        } else if selected != matching[0] {
            messages.push(format!("{kernel}: its shards selected {selected} of the {} matching tests", matching[0]));
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libtest_result_lines() {
        let ok = "test result: ok. 3 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(
            parse_result_line(ok),
            Some(Totals {
                passed: 3,
                failed: 0,
                ignored: 2
            })
        );
        let failed = "test result: FAILED. 1 passed; 4 failed; 0 ignored; 0 measured; 7 filtered out; finished in 1.20s";
        assert_eq!(
            parse_result_line(failed),
            Some(Totals {
                passed: 1,
                failed: 4,
                ignored: 0
            })
        );
        // A kernel message can land on the same console line before libtest's text.
        let noisy = "[   12.5] random: crng init done test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s";
        assert_eq!(parse_result_line(noisy).map(|t| t.passed), Some(1));
        assert_eq!(parse_result_line("test result: garbled"), None);
        assert_eq!(parse_result_line("running 3 tests"), None);
    }

    #[test]
    fn parses_libtest_test_lines() {
        assert_eq!(
            parse_test_line("test a::b ... ok"),
            Some(("a::b", Outcome::Ok))
        );
        assert_eq!(
            parse_test_line("test sees_kernel ... FAILED"),
            Some(("sees_kernel", Outcome::Failed))
        );
        assert_eq!(
            parse_test_line("test x ... ignored"),
            Some(("x", Outcome::Ignored))
        );
        assert_eq!(
            parse_test_line("test x ... ignored, needs a VM"),
            Some(("x", Outcome::Ignored))
        );
        assert_eq!(
            parse_test_line("test result: ok. 1 passed; 0 failed; 0 ignored"),
            None
        );
        assert_eq!(
            parse_test_line("test x has been running for over 60 seconds"),
            None
        );
    }

    fn console(lines: &[&str]) -> Vec<(Duration, String)> {
        (0..)
            .zip(lines)
            .map(|(i, l)| (Duration::from_secs(i), l.to_string()))
            .collect()
    }

    #[test]
    fn reads_a_guest_run_that_failed_one_test() {
        let lines = console(&[
            "[    0.000000] Linux version 6.12.0",
            "FSG-VM: init started at uptime 1.52 s",
            "FSG-VM: tests begin",
            "FSG-VM: selected 2 of 2 matching tests (2 listed, shard 1 of 1)",
            "running 2 tests",
            "test harness_fails_on_purpose ... FAILED",
            "test sees_kernel ... ok",
            "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s",
            "FSG-VM: tests end, exit code 101",
        ]);
        let report = GuestReport::from_console(&lines, false, Duration::from_secs(9));
        assert_eq!(report.booted_after, Some(Duration::from_secs(1)));
        assert_eq!(report.exit_code, Some(101));
        assert_eq!(report.failed_tests, ["harness_fails_on_purpose"]);
        assert!(!report.ok());
        assert_eq!(report.counted(), (1, 1));
    }

    #[test]
    fn counts_a_boot_without_verdict_as_a_failure() {
        let booted_only = console(&[
            "FSG-VM: init started at uptime 1.5 s",
            "FSG-VM: tests begin",
        ]);
        let report = GuestReport::from_console(&booted_only, true, Duration::from_secs(600));
        assert!(report.booted_after.is_some() && !report.ok());
        assert_eq!(report.counted(), (0, 1));
        let nothing = GuestReport::from_console(&console(&["Kernel panic"]), false, Duration::ZERO);
        assert_eq!((nothing.booted_after, nothing.counted()), (None, (0, 1)));
        // libtest says ok but the binary's exit code disagrees: trust neither.
        let odd = console(&[
            "FSG-VM: tests begin",
            "FSG-VM: selected 2 of 2 matching tests (2 listed, shard 1 of 1)",
            "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s",
            "FSG-VM: tests end, exit code 1",
        ]);
        let odd = GuestReport::from_console(&odd, false, Duration::ZERO);
        assert_eq!(odd.counted(), (2, 1));
        assert!(odd.describe().contains("test binary exit code 1"), "{}", odd.describe());
    }

    #[test]
    fn fails_a_run_whose_listing_failed_or_named_no_test() {
        for why in ["/opt/fsg/crashes-at-list --list ended with signal: 11 (SIGSEGV)", "/bin/true --list named no test"] {
            let lines = console(&[
                "FSG-VM: init started at uptime 1.5 s",
                "FSG-VM: tests begin",
                &format!("FSG-VM: listing failed: {why}"),
                "FSG-VM: tests end, exit code 1",
            ]);
            let report = GuestReport::from_console(&lines, false, Duration::from_secs(9));
            assert_eq!(report.listing_failed.as_deref(), Some(why));
            assert!(!report.ok());
            assert_eq!(report.counted(), (0, 1));
            assert!(report.describe().contains(&format!("listing the tests failed: {why}")), "{}", report.describe());
        }
    }

    #[test]
    fn fails_a_run_that_reported_fewer_tests_than_it_selected_or_none() {
        let run = |selected: &str, result: &str| {
            let lines = console(&["FSG-VM: init started at uptime 1.5 s", "FSG-VM: tests begin", selected, result, "FSG-VM: tests end, exit code 0"]);
            GuestReport::from_console(&lines, false, Duration::from_secs(9))
        };
        let ok = "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1s";
        let three = run("FSG-VM: selected 3 of 5 matching tests (9 listed, shard 1 of 2)", ok);
        assert!(!three.ok());
        assert_eq!(three.counted(), (2, 1));
        assert!(three.describe().contains("2 of 3 selected tests reported"), "{}", three.describe());
        let unsaid = run("running 2 tests", ok);
        assert!(!unsaid.ok() && unsaid.describe().contains("did not say how many"), "{}", unsaid.describe());
        // An empty shard is fine on its own when its kernel matched tests: the shards' sum says.
        let none = "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 4 filtered out; finished in 0s";
        assert!(run("FSG-VM: selected 0 of 1 matching tests (9 listed, shard 2 of 2)", none).ok());
        assert!(!run("FSG-VM: selected 0 of 0 matching tests (9 listed, shard 1 of 1)", none).ok());
    }

    #[test]
    fn a_kernels_shards_must_select_every_matching_test() {
        let report = |selected: Option<(u32, u32)>| GuestReport { selected, ..Default::default() };
        let (a, b, c) = (report(Some((3, 5))), report(Some((2, 5))), report(Some((2, 5))));
        assert!(incomplete_shards([("6.1", &a), ("6.1", &b)]).is_empty());
        assert_eq!(incomplete_shards([("6.1", &a), ("6.1", &b), ("6.12", &c)]), ["6.12: its shards selected 2 of the 5 matching tests"]);
        let unsaid = report(None);
        assert_eq!(incomplete_shards([("6.1", &a), ("6.1", &unsaid)]).len(), 1);
        let other = report(Some((2, 4)));
        assert_eq!(incomplete_shards([("6.1", &a), ("6.1", &other)]).len(), 1);
    }

    #[test]
    fn tells_vm_tests_from_skipped_ones() {
        assert!(ignored_for_the_vm("test inotifywait_and_touch_fentry ... ignored, runs inside the VM: cargo xtask vm-test"));
        assert!(!ignored_for_the_vm("test seeds::rewrite ... ignored, rewrites fuzz/corpus/*/seed-*"));
        assert!(!ignored_for_the_vm("test x ... ok"));
        assert_eq!(closing_line(3, 0, 2), "3 passed, 0 failed, 2 skipped");
        // Every VM test gives that reason (tests/vm_e2e.rs).
        let vm_tests = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vm_e2e.rs")).unwrap();
        let reasons: Vec<&str> = vm_tests.lines().filter(|l| l.trim_start().starts_with("#[ignore")).collect();
        assert!(!reasons.is_empty() && reasons.iter().all(|l| l.contains(&format!("\"{RUNS_IN_THE_VM}"))), "{reasons:?}");
    }

    #[test]
    fn reads_the_runners_times_and_calibration() {
        let lines = console(&[
            "FSG-VM: init started at uptime 1.5 s",
            "FSG-VM: calibration: 30000 watched writes/s, 60000/s on the reference machine: deadlines scaled by 2.00",
            "FSG-VM: tests begin",
            "FSG-VM: selected 2 of 2 matching tests (2 listed, shard 1 of 1)",
            "test a ... ok",
            "test b ... FAILED",
            "    | test process result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 9 filtered out; finished in 1s",
            "FSG-VM: time a 1.5",
            "FSG-VM: time b 20.0",
            "FSG-VM: time c::d 3.25",
            "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 22s",
            "FSG-VM: tests end, exit code 101",
        ]);
        let report = GuestReport::from_console(&lines, false, Duration::from_secs(30));
        assert_eq!(report.slowness, Some(2.0));
        assert_eq!(report.counted(), (1, 1), "the echoed result line of a failed test is not counted");
        assert_eq!(report.failed_tests, ["b"]);
        assert_eq!(
            report.slowest(2),
            [("b".to_string(), 20.0), ("c::d".to_string(), 3.25)]
        );
        assert_eq!(parse_calibration("FSG-VM: calibration: x: deadlines scaled by 0.5"), None);
    }

    #[test]
    fn passes_a_clean_run() {
        let lines = console(&[
            "FSG-VM: init started at uptime 1.5 s",
            "FSG-VM: tests begin",
            "FSG-VM: selected 2 of 3 matching tests (9 listed, shard 1 of 2)",
            "test result: ok. 2 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.02s",
            "FSG-VM: tests end, exit code 0",
        ]);
        let report = GuestReport::from_console(&lines, false, Duration::from_secs(12));
        assert!(report.ok());
        assert_eq!(report.counted(), (2, 0));
        assert!(report
            .describe()
            .starts_with("ok: booted in 0.0 s, 2 passed, 0 failed, 1 ignored"));
    }
}

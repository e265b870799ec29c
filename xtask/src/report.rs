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

    /// Whether the kernel booted, the test binary ran to its end and every test passed.
    pub fn ok(&self) -> bool {
        !self.timed_out && self.exit_code == Some(0) && self.totals.is_some_and(|t| t.failed == 0)
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
        match self.totals {
            Some(t) => parts.push(format!(
                "{} passed, {} failed, {} ignored",
                t.passed, t.failed, t.ignored
            )),
            None if self.booted_after.is_some() => {
                parts.push("the test binary reported no result".to_string())
            }
            None => {}
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
            "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s",
            "FSG-VM: tests end, exit code 1",
        ]);
        assert_eq!(
            GuestReport::from_console(&odd, false, Duration::ZERO).counted(),
            (2, 1)
        );
    }

    #[test]
    fn reads_the_runners_times_and_calibration() {
        let lines = console(&[
            "FSG-VM: init started at uptime 1.5 s",
            "FSG-VM: calibration: 30000 watched writes/s, 60000/s on the reference machine: deadlines scaled by 2.00",
            "FSG-VM: tests begin",
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

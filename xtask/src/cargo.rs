//! Cargo: where the workspace is, building the binaries the VM image holds, running host tests.

use crate::report::{ignored_for_the_vm, parse_result_line, Totals};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The root package: the gadget itself and its tests.
const MAIN_PACKAGE: &str = "fsnotify-gadget";
/// The programs the end-to-end tests drive.
const HELPERS_PACKAGE: &str = "fsg-test-helpers";
/// The benchmarks' measuring side (bench/), which the VM image carries too.
const BENCH_PACKAGE: &str = "fsg-bench";
/// tests/vm_e2e.rs: the tests that run inside the VM.
const VM_TEST_TARGET: &str = "vm_e2e";

pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
}

impl Workspace {
    pub fn locate() -> Result<Workspace> {
        let out = cargo()
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed: is the workspace's Cargo.toml valid?");
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("cargo metadata printed no JSON")?;
        let path = |key: &str| {
            meta[key]
                .as_str()
                .map(PathBuf::from)
                .with_context(|| format!("cargo metadata has no {key}"))
        };
        Ok(Workspace {
            root: path("workspace_root")?,
            target_dir: path("target_directory")?,
        })
    }

    fn cargo(&self) -> Command {
        let mut command = cargo();
        command.current_dir(&self.root);
        command
    }

    /// `cargo build --release` of fsnotify-gadget, every test helper and fsg-bench; their paths.
    pub fn build_programs(&self) -> Result<Vec<PathBuf>> {
        let mut command = self.cargo();
        command.args([
            "build",
            "--release",
            "--bins",
            "--message-format=json-render-diagnostics",
        ]);
        command.args(["--package", MAIN_PACKAGE, "--package", HELPERS_PACKAGE, "--package", BENCH_PACKAGE]);
        let built = self.artifacts(command, "bin")?;
        if !built.iter().any(|(name, _)| name == MAIN_PACKAGE) {
            bail!("cargo build did not produce the {MAIN_PACKAGE} binary");
        }
        Ok(built.into_iter().map(|(_, path)| path).collect())
    }

    /// `cargo test --release --test vm_e2e --no-run`; the test binary's path.
    pub fn build_vm_test(&self) -> Result<PathBuf> {
        let mut command = self.cargo();
        command.args([
            "test",
            "--release",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ]);
        command.args(["--package", MAIN_PACKAGE, "--test", VM_TEST_TARGET]);
        let built = self.artifacts(command, "test").with_context(|| {
            format!("cannot build the VM tests (tests/{VM_TEST_TARGET}.rs of {MAIN_PACKAGE})")
        })?;
        built
            .into_iter()
            .find(|(name, _)| name == VM_TEST_TARGET)
            .map(|(_, path)| path)
            .with_context(|| format!("cargo built no test binary named {VM_TEST_TARGET}"))
    }

    fn artifacts(&self, mut command: Command, kind: &str) -> Result<Vec<(String, PathBuf)>> {
        let out = command
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run cargo")?;
        if !out.status.success() {
            bail!("cargo failed (its errors are above)");
        }
        Ok(executables(&String::from_utf8_lossy(&out.stdout), kind))
    }

    /// `cargo test --workspace --release --no-fail-fast` (a failing test binary does not hide
    /// the ones after it), its output passed through; the summed libtest results, and whether
    /// cargo succeeded. The workspace's binaries are built first: host tests run the test
    /// helpers, which `cargo test` alone does not build.
    pub fn run_host_tests(&self) -> Result<HostRun> {
        let built = self
            .cargo()
            .args(["build", "--workspace", "--release", "--bins"])
            .status()
            .context("cannot run cargo build")?;
        if !built.success() {
            return Ok(HostRun { totals: Totals::default(), in_the_vm: 0, ok: false });
        }
        let mut child = self
            .cargo()
            .args(["test", "--workspace", "--release", "--no-fail-fast"])
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot run cargo test")?;
        let mut run = HostRun { totals: Totals::default(), in_the_vm: 0, ok: false };
        for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
            let line = line?;
            println!("{line}");
            if let Some(t) = parse_result_line(&line) {
                run.totals += t;
            } else if ignored_for_the_vm(&line) {
                run.in_the_vm += 1;
            }
        }
        run.ok = child.wait()?.success();
        Ok(run)
    }
}

/// What the host tests gave.
pub struct HostRun {
    pub totals: Totals,
    /// Ignored on the host because the VM runs them (tests/vm_e2e.rs): not skipped.
    pub in_the_vm: u32,
    /// Whether cargo built and ran everything and every test passed.
    pub ok: bool,
}

impl HostRun {
    /// Ignored tests that run nowhere.
    pub fn skipped(&self) -> u32 {
        self.totals.ignored.saturating_sub(self.in_the_vm)
    }
}

/// The cargo that runs xtask, so the same toolchain builds everything.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// (target name, executable) of the artifacts of one target kind ("bin", "test") in cargo's
/// `--message-format=json` output.
pub fn executables(json_lines: &str, kind: &str) -> Vec<(String, PathBuf)> {
    let mut found = vec![];
    for line in json_lines.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let target = &message["target"];
        let kinds = target["kind"].as_array();
        if !kinds.is_some_and(|k| k.iter().any(|k| k == kind)) {
            continue;
        }
        if let (Some(name), Some(exe)) = (target["name"].as_str(), message["executable"].as_str()) {
            found.push((name.to_string(), PathBuf::from(exe)));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executables_in_cargo_json() {
        let out = r#"{"reason":"compiler-artifact","package_id":"libc","target":{"kind":["lib"],"name":"libc"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"fsnotify-gadget"},"executable":"/w/target/release/fsnotify-gadget"}
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"vm_e2e"},"executable":"/w/target/release/deps/vm_e2e-0123abcd"}
{"reason":"build-finished","success":true}
not json
"#;
        assert_eq!(
            executables(out, "bin"),
            [(
                "fsnotify-gadget".to_string(),
                PathBuf::from("/w/target/release/fsnotify-gadget")
            )]
        );
        assert_eq!(
            executables(out, "test"),
            [(
                "vm_e2e".to_string(),
                PathBuf::from("/w/target/release/deps/vm_e2e-0123abcd")
            )]
        );
    }
}

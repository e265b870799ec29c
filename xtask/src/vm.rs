//! The VM test run: kernels and image prepared once, then boots run side by side, two QEMUs
//! per core.

use crate::cargo::Workspace;
use crate::initramfs::{self, Binaries};
use crate::kernels::{self, Kernel, Spec};
use crate::qemu::{self, GuestArgs};
use crate::report::{GuestReport, INIT_STARTED, TESTS_END};
use anyhow::{Context, Result};
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// A boot's time limit on a machine as fast as the reference of the guest's calibration
/// (helpers/src/bin/fsg-vm-runner.rs).
const DEFAULT_TIMEOUT_SECS: u64 = 900;

/// Kernels and the test image, ready to boot. The image's directory is removed on drop
/// unless `keep` was asked for.
pub struct Prepared {
    pub kernels: Vec<Kernel>,
    pub initrd: PathBuf,
    image_dir: PathBuf,
    keep: bool,
    /// target/vm-test: the console logs.
    pub log_dir: PathBuf,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if self.keep {
            eprintln!(
                "xtask: kept the image and its file list in {}",
                self.image_dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.image_dir);
        }
    }
}

/// Resolves the kernels (the default ones when `specs` is empty), builds the binaries and
/// writes the initramfs.
pub fn prepare(ws: &Workspace, specs: &[Spec], keep: bool) -> Result<Prepared> {
    qemu::check_installed()?;
    let default_specs: Vec<Spec>;
    let specs = if specs.is_empty() {
        default_specs = kernels::DEFAULT_KERNELS.map(Spec::parse).to_vec();
        &default_specs
    } else {
        specs
    };
    let cache = match std::env::var_os("FSG_VM_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => ws.root.join(".vm-cache"),
    };
    let kernels = kernels::resolve(specs, &cache)?;
    for kernel in &kernels {
        eprintln!(
            "xtask: kernel {}: {}",
            kernel.label,
            kernel.vmlinuz.display()
        );
    }

    eprintln!("xtask: building the binaries for the VM");
    let programs = ws.build_programs()?;
    let vm_test = ws.build_vm_test()?;
    // The static binary runs in the guests too (the tests of `fsnotify-gadget-static`).
    let static_gadget = crate::dist::build(ws).context("cannot build the static binary for the VM")?;
    let log_dir = ws.target_dir.join("vm-test");
    let image_dir = log_dir.join(format!("initramfs-{}", std::process::id()));
    let binaries = Binaries { programs, vm_test, static_gadget };
    let initrd =
        initramfs::build(&binaries, &image_dir).context("cannot build the VM's initramfs")?;
    let size = fs::metadata(&initrd)?.len();
    eprintln!(
        "xtask: initramfs {} ({:.1} MiB)",
        initrd.display(),
        size as f64 / (1 << 20) as f64
    );
    Ok(Prepared {
        kernels,
        initrd,
        image_dir,
        keep,
        log_dir,
    })
}

/// One boot: a kernel, what its /init does, and the name of its log.
pub struct Job {
    pub name: String,
    pub kernel: Kernel,
    pub args: GuestArgs,
}

/// The machine's online CPUs (`/sys/devices/system/cpu/online`, such as `0-1`): what QEMU's
/// threads can run on, whatever CPU quota this process has.
fn online_cpus() -> usize {
    let counted = std::fs::read_to_string("/sys/devices/system/cpu/online").ok().and_then(|list| {
        list.trim().split(',').map(|range| match range.split_once('-') {
            Some((a, b)) => Some(b.parse::<usize>().ok()? + 1 - a.parse::<usize>().ok()?),
            None => range.parse::<usize>().ok().map(|_| 1),
        }).sum::<Option<usize>>()
    });
    counted.filter(|&n| n > 0).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Boots every job, two at once for each online CPU (a test guest idles a third of its time),
/// and returns their reports in order.
pub fn run(prepared: &Prepared, jobs: &[Job]) -> Result<Vec<GuestReport>> {
    let timeout = Timeout::from_env()?;
    let cores = 2 * online_cpus();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<GuestReport>>> = Mutex::new(jobs.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..cores.min(jobs.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { return };
                let report = boot(prepared, job, timeout).unwrap_or_else(|e| {
                    println!("[{}] could not boot: {e:#}", job.name);
                    GuestReport::default() // counts as failed
                });
                results.lock().unwrap()[i] = Some(report);
            });
        }
    });
    let reports = results.into_inner().unwrap();
    Ok(reports
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect())
}

/// How long a boot may take: FSG_VM_TIMEOUT seconds, fixed, when set; otherwise
/// [`DEFAULT_TIMEOUT_SECS`], multiplied by the slowness the guest reports once it has
/// measured itself (a slower machine makes fewer burst events but still runs every test).
#[derive(Clone, Copy, Debug)]
struct Timeout {
    base: Duration,
    scaled: bool,
}

impl Timeout {
    fn from_env() -> Result<Timeout> {
        match std::env::var("FSG_VM_TIMEOUT") {
            Ok(value) => {
                let secs: u64 = value
                    .parse()
                    .with_context(|| format!("FSG_VM_TIMEOUT={value:?}: give whole seconds"))?;
                Ok(Timeout { base: Duration::from_secs(secs), scaled: false })
            }
            Err(_) => Ok(Timeout { base: Duration::from_secs(DEFAULT_TIMEOUT_SECS), scaled: true }),
        }
    }

    /// The limit once the guest said how slow it is.
    fn for_slowness(&self, slowness: f64) -> Duration {
        if self.scaled {
            self.base.mul_f64(slowness.clamp(1.0, 8.0))
        } else {
            self.base
        }
    }
}

fn boot(prepared: &Prepared, job: &Job, timeout: Timeout) -> Result<GuestReport> {
    fs::create_dir_all(&prepared.log_dir)?;
    let log = qemu::log_path(&prepared.log_dir, &job.name);
    println!("[{}] booting {}", job.name, job.kernel.vmlinuz.display());
    let mut in_userland = false;
    let mut limit = timeout.base;
    let console = qemu::run(
        &job.kernel,
        &prepared.initrd,
        &job.args,
        &log,
        limit,
        |at, line| {
            if let Some(slowness) = crate::report::parse_calibration(line) {
                limit = timeout.for_slowness(slowness);
                println!("[{}] {line}", job.name);
                println!("[{}] time limit of this boot: {} s", job.name, limit.as_secs());
                return Some(limit);
            }
            if !in_userland && line.contains(INIT_STARTED) {
                in_userland = true;
                println!(
                    "[{}] /init started {:.1} s after QEMU",
                    job.name,
                    at.as_secs_f64()
                );
            } else if line.contains(crate::bench::LINE_PREFIX) {
                // Benchmark measurements: xtask bench reduces them to figures.
            } else if in_userland || line.starts_with("qemu: ") {
                // After /init starts the console is the test binary's output (and kernel errors).
                println!("[{}] {line}", job.name);
            }
            None
        },
    )?;
    let report = GuestReport::from_console(&console.lines, console.timed_out, console.wall);
    if report.booted_after.is_none() || (report.exit_code.is_none() && !console.timed_out) {
        // No test output explains it: show how the boot ended.
        let tail = console.lines.len().saturating_sub(25);
        for (_, line) in &console.lines[tail..] {
            println!("[{}] | {line}", job.name);
        }
    }
    if console.timed_out {
        println!(
            "[{}] timed out after {} s (FSG_VM_TIMEOUT sets the limit)",
            job.name,
            limit.as_secs()
        );
    }
    let ended = console.lines.iter().any(|(_, l)| l.contains(TESTS_END));
    if !ended {
        println!(
            "[{}] the guest did not report the end of the tests; log: {}",
            job.name,
            log.display()
        );
    }
    Ok(report)
}

/// Prints one line per job and returns the summed (passed, failed).
pub fn print_reports(prepared: &Prepared, jobs: &[Job], reports: &[GuestReport]) -> (u32, u32) {
    let (mut passed, mut failed) = (0, 0);
    for (job, report) in jobs.iter().zip(reports) {
        let name = &job.name;
        println!("{name}: {}", report.describe());
        for test in &report.failed_tests {
            println!("{name}:   failed: {test}");
        }
        if !report.ok() {
            println!(
                "{name}:   log: {}",
                qemu::log_path(&prepared.log_dir, name).display()
            );
        }
        let slowest = report.slowest(10);
        if !slowest.is_empty() {
            let total: f64 = report.test_times.iter().map(|t| t.1).sum();
            println!(
                "{name}:   {} tests took {total:.0} s; the slowest:",
                report.test_times.len()
            );
            for (test, seconds) in slowest {
                println!("{name}:   {seconds:7.1} s  {test}");
            }
        }
        let (p, f) = report.counted();
        passed += p;
        failed += f;
    }
    // The shards of a kernel must have selected every matching test between them.
    for message in crate::report::incomplete_shards(jobs.iter().map(|j| j.kernel.label.as_str()).zip(reports)) {
        println!("FAILED: {message}");
        failed += 1;
    }
    (passed, failed)
}

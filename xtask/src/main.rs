//! Project tasks, run as `cargo xtask TASK`:
//! - `test`: the whole test suite (host tests, the VM harness self-test, the VM tests);
//! - `vm-test`: tests/vm_e2e.rs inside QEMU, on Debian's 6.1 and 6.12 kernels;
//! - `vm-shell`: the same VM with a shell, for debugging;
//! - `fuzz`: the cargo-fuzz targets of fuzz/, each for a while.
//! - `bench`: the benchmarks, on the host and in the VM (bench.rs).
//! - `dist`: the static binary, its man pages and completions, and with `--image` its OCI
//!   image (dist.rs).

mod bench;
mod cargo;
mod cpio;
mod dist;
mod fuzz;
mod initramfs;
mod kernels;
mod qemu;
mod report;
mod vm;

use anyhow::{bail, Result};
use cargo::Workspace;
use kernels::Spec;
use qemu::GuestArgs;
use report::{closing_line, summary_line, GuestReport};
use std::process::ExitCode;
use std::time::Instant;
use vm::Job;

const USAGE: &str = "\
usage: cargo xtask TASK [OPTIONS]

tasks:
  test      the whole test suite: cargo test --workspace --release, fuzz --smoke, the
            VM harness self-test, then vm-test; ends with 'N passed, M failed, K skipped'
            --no-vm           host tests and fuzzing only
            --keep            keep the VM image directory
  vm-test   run tests/vm_e2e.rs inside QEMU on Debian's 6.1 and 6.12 cloud kernels, and
            on 6.12 booted with lockdown=confidentiality (its lockdown and tracepoint tests)
            --kernel SPEC     boot this kernel instead of the defaults (repeatable):
                              a vmlinuz path or a Debian package name
            --filter NAME     run only the guest tests whose name contains NAME
            --fail-on-purpose set FSG_FAIL_ON_PURPOSE=1 in the guest (the harness must go red)
            --self-test       only the harness self-test: boots that fail on purpose (a failing
                              test, a non-zero exit, a crashed listing, an empty one), each of
                              which must be reported as failed, for its reason
            --keep            keep the VM image directory (target/vm-test/initramfs-*)
  vm-shell  boot the VM image with an interactive shell (default kernel: 6.12)
            --kernel SPEC, --keep as above
  fuzz      build the cargo-fuzz targets (fuzz/) and run each, seeded from fuzz/corpus;
            ends with 'N passed, M failed', one per target (needs cargo-fuzz)
            --smoke           a short run: 15 s per target (as in CI)
            --seconds N       run each target N seconds (default 120)
  bench     the benchmarks (BENCHMARKS.md): every figure beside its target, from the
            host (tracepoint backend, user space) and the VM (fentry, kprobe)
            --smoke           a few seconds per part, every figure still printed
            --no-vm           host part only
            --icount          instead, the kernel-side cost as instruction counts: the VM
                              under QEMU's -icount (one guest ns per instruction), untraced
                              vs fentry vs kprobe, beside issue 19's targets (no host part)
            --kernel SPEC, --keep as above
  dist      one statically linked binary, target/dist/fsnotify-gadget (libbpf, libelf,
            zlib and glibc inside; checked to need no loader), and its man pages and
            shell completions in target/dist/share (what `fsnotify-gadget docs` writes)
            --image           also build the OCI image localhost/fsnotify-gadget from
                              deploy/Containerfile (buildah or podman, offline)

kernels: a vmlinuz path or a Debian package name, optionally followed by kernel command-line
  words, each after a '+': linux-image-6.12-cloud-amd64+lockdown=confidentiality

environment:
  FSG_VM_CACHE      where downloaded kernels are kept (default: <workspace>/.vm-cache)
  FSG_VM_TIMEOUT    seconds one boot may take before QEMU is killed (default: 900, scaled
                    by the slowness the guest measures at boot; set, it is fixed)
  FSG_VM_SHARDS     guests each kernel's tests are split across (default: 2)
  FSG_BURST_EVENTS  events per burst test (unset: sized by time; 1000000 for the full size)
  FSG_SOAK_SECS     seconds of the soak tests (default: 20)
";

#[derive(Debug, Default, PartialEq)]
struct Options {
    kernels: Vec<Spec>,
    filter: Option<String>,
    fail_on_purpose: bool,
    self_test: bool,
    keep: bool,
    no_vm: bool,
    smoke: bool,
    seconds: Option<u64>,
    image: bool,
    icount: bool,
}

/// Parses `TASK [OPTIONS]`, accepting for each task only the options it uses.
fn parse_args(args: &[String]) -> Result<(String, Options)> {
    let Some(task) = args.first() else {
        bail!("no task given")
    };
    let allowed: &[&str] = match task.as_str() {
        "test" => &["--no-vm", "--keep"],
        "vm-test" => &["--kernel", "--filter", "--fail-on-purpose", "--self-test", "--keep"],
        "vm-shell" => &["--kernel", "--keep"],
        "fuzz" => &["--smoke", "--seconds"],
        "bench" => &["--smoke", "--no-vm", "--kernel", "--keep", "--icount"],
        "dist" => &["--image"],
        "help" | "--help" | "-h" => &[],
        _ => bail!("unknown task {task:?}"),
    };
    let mut options = Options::default();
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        if !allowed.contains(&flag) {
            bail!("{task} does not take {arg:?}");
        }
        let mut value = || match inline.clone().or_else(|| rest.next().cloned()) {
            Some(value) => Ok(value),
            None => bail!("{flag} needs a value"),
        };
        match flag {
            "--kernel" => options.kernels.push(Spec::parse(&value()?)),
            "--filter" => {
                let filter = value()?;
                qemu::check_filter(&filter)?;
                options.filter = Some(filter);
            }
            "--fail-on-purpose" => options.fail_on_purpose = true,
            "--self-test" => options.self_test = true,
            "--keep" => options.keep = true,
            "--no-vm" => options.no_vm = true,
            "--smoke" => options.smoke = true,
            "--image" => options.image = true,
            "--icount" => options.icount = true,
            "--seconds" => {
                let v = value()?;
                match v.parse::<u64>() {
                    Ok(n) if n > 0 => options.seconds = Some(n),
                    _ => bail!("--seconds takes a positive whole number, not {v:?}"),
                }
            }
            _ => unreachable!("every allowed flag is handled"),
        }
    }
    Ok((task.clone(), options))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, options) = match parse_args(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("xtask: {e:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match task.as_str() {
        "test" => test(&options),
        "vm-test" => vm_test(&options),
        "vm-shell" => vm_shell(&options).map(|()| true),
        "fuzz" => fuzz_task(&options),
        "bench" => bench(&options),
        "dist" => dist_task(&options),
        _ => {
            print!("{USAGE}");
            Ok(true)
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn vm_test(options: &Options) -> Result<bool> {
    let start = Instant::now();
    let ws = Workspace::locate()?;
    if options.self_test {
        let prepared = vm::prepare(&ws, &[Spec::package(kernels::SELF_TEST_PACKAGE)], options.keep)?;
        let (tests, jobs) = self_test_jobs(&prepared)?;
        let reports = vm::run(&prepared, &jobs)?;
        let ok = judge_self_tests(&prepared, &tests, &jobs, &reports);
        println!("vm-test: harness self-test {}", if ok { "ok" } else { "FAILED" });
        println!("{}", summary_line(u32::from(ok), u32::from(!ok)));
        return Ok(ok);
    }
    let prepared = vm::prepare(&ws, &options.kernels, options.keep)?;
    let args = GuestArgs {
        fail_on_purpose: options.fail_on_purpose,
        filter: options.filter.clone(),
        ..GuestArgs::default()
    };
    let jobs = test_jobs(&prepared.kernels, &args)?;
    let reports = vm::run(&prepared, &jobs)?;
    let (passed, failed) = vm::print_reports(&prepared, &jobs, &reports);
    println!(
        "vm-test: {} kernel(s) in {:.1} s",
        jobs.len(),
        start.elapsed().as_secs_f64()
    );
    println!("vm-test: {}", summary_line(passed, failed));
    Ok(failed == 0)
}

fn dist_task(options: &Options) -> Result<bool> {
    let ws = Workspace::locate()?;
    let binary = dist::build(&ws)?;
    println!("dist: {} (static: no loader, no dynamic section)", binary.display());
    let share = dist::docs(&ws, &binary)?;
    println!("dist: {}: man pages and bash, zsh and fish completions", share.display());
    if options.image {
        let tag = dist::image(&ws, &binary, &share)?;
        println!("dist: image {tag}");
    }
    Ok(true)
}

fn fuzz_task(options: &Options) -> Result<bool> {
    let seconds = options.seconds.unwrap_or(if options.smoke { fuzz::SMOKE_SECONDS } else { fuzz::DEFAULT_SECONDS });
    let ws = Workspace::locate()?;
    let (passed, failed) = fuzz::run(&ws, seconds)?;
    println!("{}", summary_line(passed, failed));
    Ok(failed == 0)
}

/// Guests a kernel's tests are split across, unless FSG_VM_SHARDS says otherwise. Tests run
/// one at a time in a guest (many count what the whole machine holds), and a guest sleeps a
/// third of its time waiting on them: two guests a kernel keep both cores of a CI machine
/// busy.
const DEFAULT_VM_SHARDS: u32 = 2;

fn vm_shards() -> Result<u32> {
    match std::env::var("FSG_VM_SHARDS") {
        Ok(v) => match v.parse::<u32>() {
            Ok(n) if (1..=8).contains(&n) => Ok(n),
            _ => bail!("FSG_VM_SHARDS={v:?}: give 1 to 8"),
        },
        Err(_) => Ok(DEFAULT_VM_SHARDS),
    }
}

/// One test boot for each kernel and shard, all with `args` otherwise.
fn test_jobs(kernels: &[kernels::Kernel], args: &GuestArgs) -> Result<Vec<Job>> {
    let shards = vm_shards()?;
    let env = GuestArgs::env_from_host()?;
    let mut jobs = vec![];
    for kernel in kernels {
        let shards = shards.min(kernels::test_selection(&kernel.spec.cmdline).max_shards);
        for k in 1..=shards {
            let (name, shard) = match shards {
                1 => (kernel.label.clone(), None),
                n => (format!("{}.{k}of{n}", kernel.label), Some((k, n))),
            };
            let args = GuestArgs { shard, env: env.clone(), ..args.clone() };
            jobs.push(Job { name, kernel: kernel.clone(), args });
        }
    }
    Ok(jobs)
}

/// The guest test that must fail when FSG_FAIL_ON_PURPOSE=1 is set.
const SELF_TEST: &str = "harness_fails_on_purpose";

/// The status the self-test's runner exits with after its test passed.
const EXIT_ON_PURPOSE: u8 = 3;

/// One boot of the harness self-test: what it breaks, and the sign that the harness saw it.
struct SelfTest {
    what: &'static str,
    args: GuestArgs,
    saw_it: fn(&GuestReport) -> bool,
}

/// Boots that break the run on purpose, each in one way the harness must catch: a test that
/// fails, a runner that exits non-zero after its tests passed, a test binary that crashes
/// while listing its tests, and one that lists none. Each must fail, and for its reason.
fn self_tests() -> Vec<SelfTest> {
    let one_test = || GuestArgs { filter: Some(SELF_TEST.to_string()), ..GuestArgs::default() };
    vec![
        SelfTest {
            what: "a failing test",
            args: GuestArgs { fail_on_purpose: true, ..one_test() },
            saw_it: |r| r.failed_tests.iter().any(|t| t == SELF_TEST || t.ends_with(&format!("::{SELF_TEST}"))),
        },
        SelfTest {
            what: "a non-zero exit after every test passed",
            args: GuestArgs { exit_on_purpose: Some(EXIT_ON_PURPOSE), ..one_test() },
            saw_it: |r| {
                r.exit_code == Some(i32::from(EXIT_ON_PURPOSE)) && r.totals.is_some_and(|t| (t.passed, t.failed) == (1, 0))
            },
        },
        SelfTest {
            what: "a test binary that crashes at --list",
            args: GuestArgs { test_binary: Some("crashes_at_list"), ..GuestArgs::default() },
            saw_it: |r| r.listing_failed.as_deref().is_some_and(|w| w.contains("SIGSEGV")),
        },
        SelfTest {
            what: "a test binary that lists no test",
            args: GuestArgs { test_binary: Some("lists_nothing"), ..GuestArgs::default() },
            saw_it: |r| r.listing_failed.as_deref().is_some_and(|w| w.contains("named no test")),
        },
    ]
}

fn test(options: &Options) -> Result<bool> {
    let start = Instant::now();
    let ws = Workspace::locate()?;
    println!("xtask test: host tests (cargo test --workspace --release)");
    let host = ws.run_host_tests()?;
    let host_failed = if host.ok {
        host.totals.failed
    } else {
        host.totals.failed.max(1)
    };
    let skipped = host.skipped();
    let mut lines = vec![format!(
        "host tests: {} ({} ignored here run in the VM)",
        closing_line(host.totals.passed, host_failed, skipped),
        host.in_the_vm
    )];
    let (mut passed, mut failed) = (host.totals.passed, host_failed);
    println!("xtask test: fuzz --smoke ({} s per target)", fuzz::SMOKE_SECONDS);
    match fuzz::run(&ws, fuzz::SMOKE_SECONDS) {
        Ok((fuzz_passed, fuzz_failed)) => {
            lines.push(format!("fuzz targets: {}", summary_line(fuzz_passed, fuzz_failed)));
            passed += fuzz_passed;
            failed += fuzz_failed;
        }
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            lines.push("fuzz targets: could not run (error above)".to_string());
            failed += 1;
        }
    }
    if !options.no_vm {
        let vm_start = Instant::now();
        match vm_suite(&ws, options.keep) {
            Ok((self_test_ok, vm_passed, vm_failed)) => {
                lines.push(format!(
                    "VM harness self-test: {}",
                    if self_test_ok {
                        "ok, the harness went red on purpose at a failing test, a non-zero exit, \
                         a crashed listing and an empty one"
                    } else {
                        "FAILED"
                    }
                ));
                lines.push(format!(
                    "VM tests: {} (VM phase, image build included: {:.0} s)",
                    summary_line(vm_passed, vm_failed),
                    vm_start.elapsed().as_secs_f64()
                ));
                passed += vm_passed + u32::from(self_test_ok);
                failed += vm_failed + u32::from(!self_test_ok);
            }
            Err(e) => {
                eprintln!("xtask: error: {e:#}");
                lines.push("VM tests: could not run (error above)".to_string());
                failed += 1;
            }
        }
    }
    println!("xtask test: benchmarks, smoke mode (cargo xtask bench --smoke)");
    let smoke = Options {
        smoke: true,
        no_vm: options.no_vm,
        ..Options::default()
    };
    let bench_ok = bench(&smoke).unwrap_or_else(|e| {
        eprintln!("xtask: error: {e:#}");
        false
    });
    lines.push(format!(
        "benchmarks (smoke): {}",
        if bench_ok { "ok, every figure printed" } else { "FAILED" }
    ));
    passed += u32::from(bench_ok);
    failed += u32::from(!bench_ok);
    println!();
    for line in lines {
        println!("xtask test: {line}");
    }
    println!("xtask test: {:.1} s", start.elapsed().as_secs_f64());
    println!("{}", closing_line(passed, failed, skipped));
    Ok(failed == 0)
}

/// The self-test's boots, on the 6.12 kernel of `prepared`.
fn self_test_jobs(prepared: &vm::Prepared) -> Result<(Vec<SelfTest>, Vec<Job>)> {
    let self_test_spec = Spec::package(kernels::SELF_TEST_PACKAGE);
    let Some(kernel) = prepared.kernels.iter().find(|k| k.spec == self_test_spec) else {
        bail!("the kernels lack {}", kernels::SELF_TEST_PACKAGE);
    };
    let tests = self_tests();
    let jobs = tests
        .iter()
        .enumerate()
        .map(|(i, t)| Job { name: format!("{}-self-test-{}", kernel.label, i + 1), kernel: kernel.clone(), args: t.args.clone() })
        .collect();
    Ok((tests, jobs))
}

/// Whether every self-test boot failed, for its reason; prints one verdict a boot.
fn judge_self_tests(prepared: &vm::Prepared, tests: &[SelfTest], jobs: &[Job], reports: &[GuestReport]) -> bool {
    let mut all_ok = true;
    for ((test, job), report) in tests.iter().zip(jobs).zip(reports) {
        println!("{} (must fail: {}): {}", job.name, test.what, report.describe());
        if !report.ok() && (test.saw_it)(report) {
            println!("{}: ok: the harness went red at {}", job.name, test.what);
        } else {
            all_ok = false;
            println!(
                "{}: HARNESS SELF-TEST FAILED: {} should fail the run and be reported as such; log: {}",
                job.name,
                test.what,
                qemu::log_path(&prepared.log_dir, &job.name).display()
            );
        }
    }
    all_ok
}

/// The harness self-test on the 6.12 kernel and vm-test on the default kernels, booted side
/// by side from one image. Returns (self-test ok, VM tests passed, VM tests failed).
fn vm_suite(ws: &Workspace, keep: bool) -> Result<(bool, u32, u32)> {
    let prepared = vm::prepare(ws, &[], keep)?;
    let (self_tests, mut jobs) = self_test_jobs(&prepared)?;
    let n = jobs.len();
    jobs.extend(test_jobs(&prepared.kernels, &GuestArgs::default())?);
    let reports = vm::run(&prepared, &jobs)?;
    let self_test_ok = judge_self_tests(&prepared, &self_tests, &jobs[..n], &reports[..n]);
    let (passed, failed) = vm::print_reports(&prepared, &jobs[n..], &reports[n..]);
    println!("vm-test: {}", summary_line(passed, failed));
    Ok((self_test_ok, passed, failed))
}

/// `cargo xtask bench`: fsg-bench on the host, then in the VM on each kernel; prints every
/// figure. Fails when a part could not run or a figure is missing, not when a target is
/// missed (the figures say that).
fn bench(options: &Options) -> Result<bool> {
    let start = Instant::now();
    let ws = Workspace::locate()?;
    let size = match (options.icount, options.smoke) {
        (false, true) => "smoke",
        (false, false) => "full",
        (true, true) => "icount-smoke",
        (true, false) => "icount",
    };
    if options.icount && options.no_vm {
        bail!("--icount measures in the VM: it does not go with --no-vm");
    }
    eprintln!("xtask: building the binaries");
    let programs = ws.build_programs()?;
    let Some(fsg_bench) = programs.iter().find(|p| p.ends_with("fsg-bench")) else {
        bail!("cargo built no fsg-bench binary");
    };
    let host = if options.icount {
        vec![]
    } else {
        println!("xtask bench: host part ({size})");
        bench::run_host(fsg_bench, options.smoke).unwrap_or_else(|e| {
            eprintln!("xtask: error: {e:#}");
            vec![]
        })
    };
    let mut guests = vec![];
    if !options.no_vm {
        // The benchmarks measure fentry and kprobe: not on a locked-down boot, which refuses both.
        let plain: Vec<Spec> = kernels::DEFAULT_KERNELS.map(Spec::parse).into_iter().filter(|s| s.cmdline.is_empty()).collect();
        let specs = if options.kernels.is_empty() { &plain } else { &options.kernels };
        let prepared = vm::prepare(&ws, specs, options.keep)?;
        let jobs: Vec<Job> = prepared
            .kernels
            .iter()
            .map(|kernel| Job {
                name: format!("{}-bench", kernel.label),
                kernel: kernel.clone(),
                args: GuestArgs {
                    bench: Some(size.to_string()),
                    icount: options.icount,
                    ..GuestArgs::default()
                },
            })
            .collect();
        println!("xtask bench: VM part ({size}), {} kernel(s)", jobs.len());
        for (job, report) in jobs.iter().zip(vm::run(&prepared, &jobs)?) {
            let records = bench::parse_lines(report.bench_lines.iter().map(String::as_str));
            let done = records.iter().any(|r| r["t"] == "done");
            if report.exit_code != Some(0) || !done {
                println!(
                    "[{}] fsg-bench did not finish: {}; log: {}",
                    job.name,
                    report.describe(),
                    qemu::log_path(&prepared.log_dir, &job.name).display()
                );
            }
            guests.push((job.kernel.label.clone(), records));
        }
    }
    let report = if options.icount { bench::icount_report(&guests) } else { bench::report(&host, &guests, !options.no_vm) };
    println!();
    for line in &report.lines {
        println!("{line}");
    }
    println!(
        "xtask bench: {size} run in {:.1} s; {}",
        start.elapsed().as_secs_f64(),
        if report.missing.is_empty() {
            "every figure printed".to_string()
        } else {
            format!("MISSING {} figure(s)", report.missing.len())
        }
    );
    Ok(report.missing.is_empty())
}

fn vm_shell(options: &Options) -> Result<()> {
    let specs = match options.kernels.first() {
        Some(spec) => vec![spec.clone()],
        None => vec![Spec::package(kernels::SELF_TEST_PACKAGE)],
    };
    let ws = Workspace::locate()?;
    let prepared = vm::prepare(&ws, &specs, options.keep)?;
    qemu::shell(&prepared.kernels[0], &prepared.initrd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<(String, Options)> {
        let args: Vec<String> = args.split_whitespace().map(String::from).collect();
        parse_args(&args)
    }

    #[test]
    fn parses_vm_test_options() {
        let (task, options) = parse(
            "vm-test --kernel /tmp/vmlinuz --kernel=linux-image-6.12-cloud-amd64 --filter x --keep",
        )
        .unwrap();
        assert_eq!(task, "vm-test");
        assert_eq!(
            options.kernels,
            [Spec::parse("/tmp/vmlinuz"), Spec::package("linux-image-6.12-cloud-amd64")]
        );
        assert_eq!(options.filter.as_deref(), Some("x"));
        assert!(options.keep && !options.fail_on_purpose);
    }

    #[test]
    fn rejects_options_a_task_does_not_take() {
        assert!(parse("test --no-vm").is_ok_and(|(_, o)| o.no_vm));
        assert!(parse("bench --smoke --no-vm").is_ok_and(|(_, o)| o.smoke && o.no_vm));
        assert!(parse("bench --icount --smoke").is_ok_and(|(_, o)| o.smoke && o.icount));
        assert!(parse("vm-test --icount").is_err());
        assert!(parse("test --smoke").is_err());
        assert!(parse("test --kernel x").is_err());
        assert!(parse("vm-test --no-vm").is_err());
        assert!(parse("vm-test --filter").is_err());
        assert!(parse("frobnicate").is_err());
        assert!(parse("fuzz --smoke --seconds 3").is_ok_and(|(_, o)| o.smoke && o.seconds == Some(3)));
        assert!(parse("fuzz --seconds 0").is_err());
        assert!(parse("fuzz --no-vm").is_err());
        assert!(parse("").is_err());
    }
}

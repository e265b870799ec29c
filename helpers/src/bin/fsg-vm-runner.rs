//! Runs the VM test binary inside the guest one test per process, each with its own deadline,
//! so that a hung test fails by name instead of eating the whole boot's timeout.
//!
//! ```text
//! fsg-vm-runner --binary /opt/fsg/vm_e2e [--filter WORD]... [--any WORD]... [--skip WORD]... [--shard K/N]
//! ```
//!
//! First it measures how fast this guest is (a short timed loop of writes to a watched file,
//! the path the tests exercise most) against the speed of the machine the deadlines were set
//! on, and scales every deadline by that slowness. Tests get it as `FSG_VM_SLOWNESS`. Then it
//! lists the tests (`--list --ignored`; a listing that fails or names none ends the run with
//! `FSG-VM: listing failed: WHY` and status 1), says how many it selected
//! (`FSG-VM: selected S of M matching tests`, which the host holds the results to), runs each as `BINARY --ignored --exact NAME`, in its
//! own process group so that a test killed at its deadline takes its children with it, and
//! prints libtest's lines (`test NAME ... ok`, `test result: ...`) for the host's report, the
//! output of every failed test, the `FSG-NOTE:` lines of passing ones (what a burst made, say),
//! and one `FSG-VM: time NAME SECONDS` line a test.
//!
//! Tests run one at a time: many of them count what the whole machine has loaded, set
//! machine-wide sysctls or measure the tool's memory. To use more of the host, the harness
//! boots several guests instead, each running its shard: `--shard K/N` runs the K-th of
//! every N tests of the sorted list (so a test's fentry and kprobe variants land in different
//! shards).

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::process::{exit, Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Writes per second of [`calibrate`]'s loop on the machine the deadlines below were set on:
/// a 2-core AMD EPYC of this project's CI kind, Debian's 6.12 kernel under TCG, the other
/// core busy with the 6.1 guest.
const REFERENCE_WRITES_PER_S: f64 = 60_000.0;

/// Per-test deadlines at slowness 1, by the first pattern the name contains. filters_select
/// starts four tracers one after the other (7.4 s each for the tracepoint backend on a quiet
/// 6.12 guest, 32 s in all); with the host busy after the calibration it took 99 to 154 s.
const DEADLINES: [(&str, u64); 4] = [("burst_", 240), ("soak_", 150), ("filters_select_", 200), ("", 90)];

fn usage() -> ! {
    eprintln!("usage: fsg-vm-runner --binary PATH [--filter WORD]... [--any WORD]... [--skip WORD]... [--shard K/N]");
    exit(2)
}

struct Options {
    binary: String,
    /// Tests whose names contain every one of these...
    filters: Vec<String>,
    /// ...at least one of these, when there are any...
    any: Vec<String>,
    /// ...and none of these.
    skips: Vec<String>,
    /// (K, N): run the tests whose index in the sorted list is K-1 modulo N.
    shard: (usize, usize),
}

fn parse_args() -> Options {
    let mut options = Options { binary: String::new(), filters: vec![], any: vec![], skips: vec![], shard: (1, 1) };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--binary" => options.binary = value(),
            "--filter" => options.filters.push(value()),
            "--any" => options.any.push(value()),
            "--skip" => options.skips.push(value()),
            "--shard" => options.shard = parse_shard(&value()).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    if options.binary.is_empty() {
        usage();
    }
    options
}

/// `K/N` with 1 <= K <= N.
fn parse_shard(s: &str) -> Option<(usize, usize)> {
    let (k, n) = s.split_once('/')?;
    let (k, n) = (k.parse().ok()?, n.parse().ok()?);
    (1..=n).contains(&k).then_some((k, n))
}

/// Times one-byte writes to a file in an inotify-watched directory for about half a second
/// and returns writes per second.
fn calibrate() -> f64 {
    let dir = std::env::temp_dir().join("fsg-vm-calibration");
    let _ = std::fs::create_dir_all(&dir);
    let file = std::fs::File::create(dir.join("f")).expect("create the calibration file");
    // SAFETY: plain syscalls on our own fds; the watch makes each write queue an event.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    let path = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    if fd >= 0 {
        unsafe { libc::inotify_add_watch(fd, path.as_ptr(), libc::IN_MODIFY) };
    }
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    let mut writes = 0u64;
    while start.elapsed() < Duration::from_millis(500) {
        for _ in 0..256 {
            file.write_at(b"x", 0).expect("write the calibration file");
        }
        writes += 256;
        if fd >= 0 {
            // SAFETY: reads into our own buffer.
            while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
        }
    }
    let rate = writes as f64 / start.elapsed().as_secs_f64();
    if fd >= 0 {
        unsafe { libc::close(fd) };
    }
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

/// The test binary's tests (`--list --ignored`), or why there are none: a listing that fails
/// (the binary crashed, or is not one) or that names no test is a broken run, never an empty
/// pass.
fn list_tests(options: &Options) -> Result<Vec<String>, String> {
    let out = Command::new(&options.binary)
        .args(["--ignored", "--list", "--format", "terse"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", options.binary))?;
    if !out.status.success() {
        return Err(format!("{} --list ended with {}", options.binary, out.status));
    }
    let names: Vec<String> =
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.strip_suffix(": test")).map(str::to_string).collect();
    if names.is_empty() {
        return Err(format!("{} --list named no test", options.binary));
    }
    Ok(names)
}

fn deadline_of(name: &str, slowness: f64) -> Duration {
    let base = DEADLINES.iter().find(|(pattern, _)| name.contains(pattern)).map_or(90, |d| d.1);
    Duration::from_secs_f64(base as f64 * slowness)
}

/// A test running in its own process group, its output collected on a thread.
struct Running {
    name: String,
    child: Child,
    output: mpsc::Receiver<Vec<u8>>,
    started: Instant,
    deadline: Duration,
}

fn start(options: &Options, name: &str, slowness: f64) -> Running {
    let mut child = Command::new(&options.binary)
        .args(["--ignored", "--exact", name, "--test-threads=1", "--nocapture", "--color", "never"])
        .env("FSG_VM_SLOWNESS", format!("{slowness:.2}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| {
            eprintln!("fsg-vm-runner: cannot run {}: {e}", options.binary);
            exit(1)
        });
    let (send, output) = mpsc::channel();
    for mut stream in [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())] {
        let send = send.clone();
        thread::spawn(move || {
            let mut bytes = vec![];
            let _ = stream.read_to_end(&mut bytes);
            let _ = send.send(bytes);
        });
    }
    Running { name: name.to_string(), child, output, started: Instant::now(), deadline: deadline_of(name, slowness) }
}

/// How a finished test ended.
struct Finished {
    name: String,
    passed: bool,
    seconds: f64,
    /// Its libtest output, and why it failed when the output does not say.
    output: String,
}

/// Kills the test's whole process group when it is past its deadline.
fn poll(running: &mut Running) -> Option<Finished> {
    let status: Option<ExitStatus> = running.child.try_wait().ok().flatten();
    let late = running.started.elapsed() > running.deadline;
    if status.is_none() && !late {
        return None;
    }
    let mut why = String::new();
    let status = status.unwrap_or_else(|| {
        // SAFETY: the test's own process group, made by process_group(0) at spawn.
        unsafe { libc::kill(-(running.child.id() as i32), libc::SIGKILL) };
        why = format!("killed at its deadline of {:.0} s (scaled by FSG_VM_SLOWNESS)\n", running.deadline.as_secs_f64());
        running.child.wait().expect("wait for a killed test")
    });
    // Its own children may hold the pipes open: take what arrived, wait no longer than a moment.
    // SAFETY: as above; the group is gone once its leader ended, or this does nothing.
    unsafe { libc::kill(-(running.child.id() as i32), libc::SIGKILL) };
    let mut output = Vec::new();
    for _ in 0..2 {
        if let Ok(part) = running.output.recv_timeout(Duration::from_secs(5)) {
            output.extend(part);
        }
    }
    let output = String::from_utf8_lossy(&output).into_owned();
    // One test ran and passed: libtest's own verdict, not only the exit status.
    let passed = status.success() && output.contains("test result: ok. 1 passed;");
    if !passed && why.is_empty() && status.success() {
        why = "the test binary ran no test of that name\n".to_string();
    }
    Some(Finished { name: running.name.clone(), passed, seconds: running.started.elapsed().as_secs_f64(), output: why + &output })
}

fn main() {
    let options = parse_args();
    let writes_per_s = calibrate();
    let slowness = (REFERENCE_WRITES_PER_S / writes_per_s).max(1.0);
    println!(
        "FSG-VM: calibration: {writes_per_s:.0} watched writes/s, {:.0}/s on the reference machine: \
         deadlines scaled by {slowness:.2}",
        REFERENCE_WRITES_PER_S
    );
    let mut all = list_tests(&options).unwrap_or_else(|why| {
        println!("FSG-VM: listing failed: {why}");
        exit(1)
    });
    all.sort();
    let (k, n) = options.shard;
    let matching: Vec<&String> = all
        .iter()
        .filter(|name| options.filters.iter().all(|f| name.contains(f.as_str())))
        .filter(|name| options.any.is_empty() || options.any.iter().any(|f| name.contains(f.as_str())))
        .filter(|name| !options.skips.iter().any(|f| name.contains(f.as_str())))
        .collect();
    if matching.is_empty() {
        // A boot that runs nothing proves nothing: filters that select no test are a mistake
        // to report, not a pass.
        println!(
            "FSG-VM: listing failed: no test of {} matches the filters {:?}, any of {:?}, skips {:?}",
            all.len(),
            options.filters,
            options.any,
            options.skips
        );
        exit(1);
    }
    let selected: Vec<String> =
        matching.iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, name)| name.to_string()).collect();
    // The host checks that this many tests reported a result, and that the shards of one
    // kernel add up to the matching ones.
    println!("FSG-VM: selected {} of {} matching tests ({} listed, shard {k} of {n})", selected.len(), matching.len(), all.len());
    println!("\nrunning {} tests (shard {k} of {n})", selected.len());
    let _ = std::io::stdout().flush();

    let begun = Instant::now();
    let mut finished: Vec<Finished> = vec![];
    for name in &selected {
        let mut running = start(&options, name, slowness);
        let done = loop {
            if let Some(done) = poll(&mut running) {
                break done;
            }
            thread::sleep(Duration::from_millis(50));
        };
        println!("test {} ... {}", done.name, if done.passed { "ok" } else { "FAILED" });
        // What a passing test chose to report (sizes, figures): its FSG-NOTE lines.
        let notes = done.output.lines().filter_map(|l| l.find("FSG-NOTE: ").map(|at| &l[at + 10..]));
        for note in notes.filter(|_| done.passed) {
            println!("    {}: {note}", done.name);
        }
        if !done.passed {
            // Indented and renamed, so that the host's report reads only the runner's own
            // `test NAME ...` and `test result:` lines.
            println!("\n---- {} output ----", done.name);
            for line in done.output.trim_end().lines() {
                println!("    | {}", line.replace("test result: ", "test process result: "));
            }
        }
        let _ = std::io::stdout().flush();
        finished.push(done);
    }

    let passed = finished.iter().filter(|f| f.passed).count();
    let failed = finished.len() - passed;
    for f in &finished {
        println!("FSG-VM: time {} {:.1}", f.name, f.seconds);
    }
    if failed > 0 {
        println!("\nfailures:");
        for f in finished.iter().filter(|f| !f.passed) {
            println!("    {}", f.name);
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s",
        if failed == 0 { "ok" } else { "FAILED" },
        all.len() - selected.len(),
        begun.elapsed().as_secs_f64()
    );
    if failed > 0 {
        exit(101);
    }
    // The harness self-test: a guest whose tests all passed but whose runner exits non-zero
    // must still fail on the host.
    if let Some(code) = std::env::var("FSG_EXIT_ON_PURPOSE").ok().and_then(|c| c.parse::<i32>().ok()) {
        println!("fsg-vm-runner: exiting with {code}, as FSG_EXIT_ON_PURPOSE asks");
        exit(code);
    }
    exit(0);
}

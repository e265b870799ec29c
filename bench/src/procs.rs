//! The processes a benchmark drives: the workload helper (helpers/src/bin/fsg-workload.rs)
//! and fsnotify-gadget itself, both found next to this binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// How long fsnotify-gadget may take to attach (TCG guests are slow).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this program")?;
    let path = exe.with_file_name(name);
    if !path.is_file() {
        bail!("{} not found: build the workspace's binaries (cargo build --workspace --release --bins)", path.display());
    }
    Ok(path)
}

/// What one timed run of the workload reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkResult {
    pub ops: u64,
    pub events: u64,
    pub wall_ns: u64,
    pub cpu_ns: u64,
}

/// Parses `result ops=N events=E wall_ns=W cpu_ns=C`.
pub fn parse_result(line: &str) -> Option<WorkResult> {
    let rest = line.trim().strip_prefix("result ")?;
    let mut r = WorkResult::default();
    for word in rest.split_whitespace() {
        let (key, value) = word.split_once('=')?;
        let value = value.parse().ok()?;
        match key {
            "ops" => r.ops = value,
            "events" => r.events = value,
            "wall_ns" => r.wall_ns = value,
            "cpu_ns" => r.cpu_ns = value,
            _ => {}
        }
    }
    Some(r)
}

/// A workload set up and waiting for its start.
pub struct Workload {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Workload {
    pub fn start(mode: &str, dir: &Path, args: &[String]) -> Result<Workload> {
        let mut child = Command::new(sibling("fsg-workload")?)
            .arg(mode)
            .arg("--dir")
            .arg(dir)
            .args(args)
            .arg("--wait")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting fsg-workload")?;
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        if line.trim() != "ready" {
            let _ = child.kill();
            bail!("fsg-workload {mode} did not get ready (said {line:?})");
        }
        Ok(Workload { child, stdin, stdout })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs the timed part and returns what it measured.
    pub fn go(mut self) -> Result<WorkResult> {
        self.stdin.write_all(b"go\n")?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("fsg-workload failed ({status})");
        }
        parse_result(&line).ok_or_else(|| anyhow!("fsg-workload printed {line:?}"))
    }
}

/// A running fsnotify-gadget whose output is counted.
pub struct Gadget {
    child: Child,
    /// From exec to its "tracing with" line.
    pub ready_after: Duration,
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_reader: JoinHandle<()>,
    lines: JoinHandle<u64>,
}

/// What fsnotify-gadget reported when it stopped.
#[derive(Debug, Clone, Copy, Default)]
pub struct GadgetEnd {
    /// Records it printed (lines on stdout).
    pub emitted: u64,
    /// Records it said it lost.
    pub lost: u64,
    /// Peak resident memory, KiB.
    pub peak_rss_kib: u64,
}

/// Parses the gadget's last stderr line: `fsnotify-gadget: N records, none lost` or
/// `fsnotify-gadget: N records; lost M: ...`; returns (N, M).
pub fn parse_summary(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("fsnotify-gadget: ")?;
    let (n, rest) = rest.split_once(" records")?;
    let n = n.parse().ok()?;
    if rest.starts_with(", none lost") {
        return Some((n, 0));
    }
    let lost = rest.strip_prefix("; lost ")?.split(':').next()?.parse().ok()?;
    Some((n, lost))
}

/// A `Key: N kB` line of /proc/PID/status.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim_start_matches(':').split_whitespace().next()?.parse().ok()
}

/// The `key:` value of a /proc fdinfo text.
pub fn fdinfo_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.trim().parse().ok())
}

/// fdinfo texts of a process's open files.
fn fdinfos(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return vec![] };
    dir.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()).collect()
}

impl Gadget {
    /// Starts fsnotify-gadget with `--backend BACKEND -o json ARGS` and waits until it traces.
    pub fn start(backend: &str, args: &[String]) -> Result<Gadget> {
        let started = Instant::now();
        let mut child = Command::new(sibling("fsnotify-gadget")?)
            .args(["--backend", backend, "-o", "json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting fsnotify-gadget")?;
        let mut stdout = child.stdout.take().expect("piped");
        let lines = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut n = 0u64;
            while let Ok(read) = stdout.read(&mut buf) {
                if read == 0 {
                    break;
                }
                n += buf[..read].iter().filter(|&&b| b == b'\n').count() as u64;
            }
            n
        });
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        let kept = stderr_lines.clone();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("tracing with the") {
                    let _ = ready_tx.send(started.elapsed());
                }
                kept.lock().unwrap().push(line);
            }
        });
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(ready_after) => Ok(Gadget { child, ready_after, stderr: stderr_lines, stderr_reader, lines }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = stderr_reader.join();
                let said = stderr_lines.lock().unwrap().join(" | ");
                bail!("fsnotify-gadget --backend {backend} did not start tracing: {said}")
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak RSS so far, KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        status_kib(self.pid(), "VmHWM").unwrap_or(0)
    }

    /// Memory charged to its BPF maps (the sum of their fdinfo `memlock`), KiB.
    pub fn maps_kib(&self) -> u64 {
        fdinfos(self.pid()).iter().filter(|t| t.contains("map_type:")).filter_map(|t| fdinfo_value(t, "memlock")).sum::<u64>() / 1024
    }

    /// The ids of its BPF programs.
    pub fn prog_ids(&self) -> Vec<u32> {
        fdinfos(self.pid()).iter().filter_map(|t| fdinfo_value(t, "prog_id")).map(|id| id as u32).collect()
    }

    /// Stops it with SIGINT, as Ctrl-C would, and reads its report.
    pub fn stop(mut self) -> Result<GadgetEnd> {
        let peak_rss_kib = self.peak_rss_kib();
        // SAFETY: kill with a pid we started and still own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait()?;
        let _ = self.stderr_reader.join();
        let emitted = self.lines.join().unwrap_or(0);
        let stderr = self.stderr.lock().unwrap();
        if !status.success() {
            bail!("fsnotify-gadget failed ({status}): {}", stderr.join(" | "));
        }
        let Some((printed, lost)) = stderr.iter().rev().find_map(|l| parse_summary(l)) else {
            bail!("fsnotify-gadget printed no summary: {}", stderr.join(" | "))
        };
        if printed != emitted {
            bail!("fsnotify-gadget says it printed {printed} records, its stdout had {emitted} lines");
        }
        Ok(GadgetEnd { emitted, lost, peak_rss_kib })
    }
}

/// A running fsnotify-gadget (any subcommand) whose stdout lines come with the
/// moment (CLOCK_MONOTONIC, as [`Instant`]) this process read each.
pub struct TimedLines {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl TimedLines {
    /// Starts `fsnotify-gadget ARGS` and waits until it traces.
    pub fn start(args: &[&str]) -> Result<TimedLines> {
        let mut child = Command::new(sibling("fsnotify-gadget")?)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting fsnotify-gadget")?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            while stdout.read_line(&mut line).is_ok_and(|n| n > 0) {
                if tx.send((Instant::now(), line.trim_end().to_string())).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let kept = stderr.clone();
        let err = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("tracing with the") {
                    let _ = ready_tx.send(());
                }
                kept.lock().unwrap().push(line);
            }
        });
        if ready_rx.recv_timeout(READY_TIMEOUT).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("fsnotify-gadget {} did not start tracing: {}", args.join(" "), stderr.lock().unwrap().join(" | "));
        }
        Ok(TimedLines { child, lines, stderr })
    }

    /// The next stdout line and when it came, waiting `timeout` at most.
    pub fn next(&self, timeout: Duration) -> Option<(Instant, String)> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Stops it with SIGINT; the stdout lines not taken yet (it must exit with status 0).
    pub fn stop(mut self) -> Result<Vec<(Instant, String)>> {
        // SAFETY: kill with a pid we started and still own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait()?;
        if !status.success() {
            bail!("fsnotify-gadget failed ({status}): {}", self.stderr.lock().unwrap().join(" | "));
        }
        // The reader thread ends at the pipe's end, dropping its sender.
        Ok(self.lines.iter().collect())
    }
}

impl Drop for TimedLines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// fsg-fanotify-perm marking `dir`, answering every open after `delay_ms`, under
/// SCHED_FIFO (a busy machine's wake-up delays are then not taken for its own),
/// returned once its mark is in place.
pub struct PermDaemon {
    child: Child,
}

impl PermDaemon {
    pub fn start(dir: &Path, delay_ms: u64) -> Result<PermDaemon> {
        let ready = dir.with_extension("ready");
        let _ = std::fs::remove_file(&ready);
        let child = Command::new(sibling("fsg-fanotify-perm")?)
            .arg("--dir")
            .arg(dir)
            .args(["--deny", "/", "--delay-ms", &delay_ms.to_string(), "--ready"])
            .arg(&ready)
            .stdout(Stdio::null())
            .spawn()
            .context("starting fsg-fanotify-perm")?;
        let daemon = PermDaemon { child };
        set_fifo(daemon.pid())?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() {
            if Instant::now() > deadline {
                bail!("fsg-fanotify-perm never marked {}", dir.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(daemon)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for PermDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Real-time priority for the permission daemons and the threads whose opens they answer.
pub const RT_PRIORITY: i32 = 10;

/// SCHED_FIFO at [`RT_PRIORITY`] for `pid` (0: the calling thread).
pub fn set_fifo(pid: u32) -> Result<()> {
    let param = libc::sched_param { sched_priority: RT_PRIORITY };
    // SAFETY: param is a valid sched_param; the pid is ours or 0.
    if unsafe { libc::sched_setscheduler(pid as libc::pid_t, libc::SCHED_FIFO, &param) } != 0 {
        bail!("SCHED_FIFO for {pid}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_workload_result() {
        let r = parse_result("result ops=10 events=72 wall_ns=9886190 cpu_ns=609000\n").unwrap();
        assert_eq!((r.ops, r.events, r.wall_ns, r.cpu_ns), (10, 72, 9886190, 609000));
        assert!(parse_result("ready").is_none());
        assert!(parse_result("result ops=x").is_none());
    }

    #[test]
    fn parses_the_gadget_summary() {
        assert_eq!(parse_summary("fsnotify-gadget: 3 records, none lost"), Some((3, 0)));
        assert_eq!(
            parse_summary("fsnotify-gadget: 10 records; lost 7: 5 (ring buffer full), 2 (kernel maps full)"),
            Some((10, 7))
        );
        assert_eq!(parse_summary("fsnotify-gadget: warning: lost 2 records: 2 (ring buffer full)"), None);
    }

    #[test]
    fn reads_fdinfo_values() {
        let text = "pos:\t0\nflags:\t02000002\nmap_type:\t27\nmemlock:\t8654848\nmap_id:\t12\n";
        assert_eq!(fdinfo_value(text, "memlock"), Some(8654848));
        assert_eq!(fdinfo_value(text, "prog_id"), None);
    }
}

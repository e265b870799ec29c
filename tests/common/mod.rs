//! Shared pieces of the end-to-end tests: run fsnotify-gadget, collect its
//! JSON records, start and stop client programs. Shared by the two test
//! binaries, tests/host/ and tests/vm_e2e.rs; what only one of them uses
//! says so.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod cgroups;
pub mod forgery;
// The VM tests use every burst size and pace; the host tests (tracepoint
// backend) not those only the fentry and kprobe backends are held to.
#[allow(dead_code)]
pub mod reliability;

/// The fsnotify-gadget binary: $FSG_BIN inside the VM, else the one cargo built.
pub fn gadget_bin() -> PathBuf {
    std::env::var_os("FSG_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_fsnotify-gadget")))
}

/// The capabilities deploy/daemonset.yaml gives the tool (its `add:` list, in
/// that order; the host test of the manifest checks they are the same), with
/// their numbers (linux/capability.h).
#[allow(dead_code)]
pub const DAEMONSET_CAPS: [(&str, u32); 6] =
    [("BPF", 39), ("PERFMON", 38), ("SYSLOG", 34), ("SYS_PTRACE", 19), ("DAC_READ_SEARCH", 2), ("SYS_RESOURCE", 24)];

pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test needs root: it loads BPF programs");
}

/// A test helper program (helpers/): next to the test binary's target
/// directory on the host (`cargo test --workspace` builds them), on PATH in the VM.
pub fn helper(name: &str) -> PathBuf {
    if std::env::var_os("FSG_IN_VM").is_some() {
        return PathBuf::from(name);
    }
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(p.exists(), "{} not built: run `cargo test --workspace` (it builds the fsg-test-helpers bins)", p.display());
    p
}

/// Waits (20 s at most) until a helper has created its `--ready` file.
pub fn wait_ready(ready: &Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "{what} never became ready ({} is missing)", ready.display());
        thread::sleep(Duration::from_millis(20));
    }
}

/// fsg-fanotify-perm marking `dir`, denying the file named `deny`, returned
/// once its mark is in place.
pub fn perm_helper(dir: &Path, deny: &str) -> Client {
    static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ready = std::env::temp_dir().join(format!("fsg-perm-ready-{}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    let bin = helper("fsg-fanotify-perm");
    let c = Client::start(bin.to_str().unwrap(), &["--dir", dir.to_str().unwrap(), "--deny", deny, "--ready", ready.to_str().unwrap()]);
    wait_ready(&ready, "fsg-fanotify-perm");
    let _ = std::fs::remove_file(&ready);
    c
}

/// The `key=value` words of a `fsnotify-gadget: stats:` line.
pub fn parse_stats(line: &str) -> std::collections::HashMap<String, String> {
    let rest = line.split_once("stats:").map_or("", |(_, r)| r);
    rest.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `filtered=` of the last `fsnotify-gadget: stats:` line (the tool ran with `--stats`): the
/// records the kernel sent that `-F` then left out in user space. A condition the kernel
/// applies leaves nothing there: the tests of the in-kernel filters hold it to 0, so that a
/// filter deleted from the BPF side fails them even though user space would hide it.
pub fn filtered_in_user_space(stderr: &[String]) -> u64 {
    let line = stderr.iter().rev().find(|l| l.contains("stats:")).unwrap_or_else(|| panic!("no stats line (give --stats): {stderr:?}"));
    parse_stats(line).get("filtered").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no filtered= in {line}"))
}

/// `VmRSS` of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for {pid}"))
}

/// A running fsnotify-gadget with JSON output.
pub struct Gadget {
    child: Child,
    stderr: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
    stdout: thread::JoinHandle<Vec<u8>>,
}

impl Gadget {
    /// Starts it with `-o json` and `args`, and waits until it is tracing.
    pub fn start(args: &[&str]) -> Gadget {
        Gadget::spawn(&[&["-o", "json"], args].concat())
    }

    /// Starts it with exactly `args` (any output format), and waits until it is tracing.
    pub fn spawn(args: &[&str]) -> Gadget {
        Gadget::spawn_with(args, None)
    }

    /// Starts it with `args`, its stdout going to the file `out` (its stop then
    /// returns no stdout), and waits until it is tracing.
    #[allow(dead_code)]
    pub fn spawn_into(args: &[&str], out: &Path) -> Gadget {
        let file = std::fs::File::create(out).unwrap_or_else(|e| panic!("create {out:?}: {e}"));
        Gadget::spawn_with(args, Some(file))
    }

    /// Starts `command` (the tool, set up by the caller: its binary, its
    /// process's limits) with `-o json` and `args`, and waits until it is tracing.
    #[allow(dead_code)]
    pub fn start_command(command: Command, args: &[&str]) -> Gadget {
        Gadget::spawn_command(command, &[&["-o", "json"], args].concat(), None)
    }

    fn spawn_with(args: &[&str], out: Option<std::fs::File>) -> Gadget {
        Gadget::spawn_command(Command::new(gadget_bin()), args, out)
    }

    fn spawn_command(mut command: Command, args: &[&str], out: Option<std::fs::File>) -> Gadget {
        let piped = out.is_none();
        let mut child = command
            .args(args)
            .stdout(out.map_or_else(Stdio::piped, Stdio::from))
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fsnotify-gadget");
        let out = if piped { child.stdout.take() } else { None };
        let stdout = thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut out) = out {
                let _ = out.read_to_end(&mut v);
            }
            v
        });
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[gadget] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut g = Gadget { child, stderr: rx, stderr_seen: Vec::new(), stdout };
        g.wait_stderr("tracing with", Duration::from_secs(60));
        g
    }

    /// Waits for a stderr line containing `needle`; panics with what was seen.
    pub fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.stderr_seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("fsnotify-gadget did not print {needle:?}; stderr so far: {:#?}", self.stderr_seen),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The stderr lines seen so far, without waiting.
    pub fn stderr_now(&mut self) -> &[String] {
        while let Ok(line) = self.stderr.try_recv() {
            self.stderr_seen.push(line);
        }
        &self.stderr_seen
    }

    /// Stops it with SIGINT and returns its records and its stderr.
    pub fn stop(self) -> (Vec<Value>, Vec<String>) {
        let (out, stderr) = self.stop_raw();
        let records = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}")))
            .collect();
        (records, stderr)
    }

    /// Stops it with SIGINT and returns its stdout unparsed (JSON is UTF-8) and its stderr.
    pub fn stop_raw(self) -> (String, Vec<String>) {
        let (out, stderr) = self.stop_bytes();
        (String::from_utf8(out).expect("fsnotify-gadget wrote invalid UTF-8"), stderr)
    }

    /// Stops it with SIGINT and returns its stdout bytes and its stderr.
    /// Panics unless it exited with status 0.
    pub fn stop_bytes(self) -> (Vec<u8>, Vec<String>) {
        self.stop_with(libc::SIGINT)
    }

    /// Stops it with `sig` and returns its stdout bytes and its stderr.
    /// Panics unless it exited with status 0.
    pub fn stop_with(self, sig: i32) -> (Vec<u8>, Vec<String>) {
        // SAFETY: kill with a pid we own.
        unsafe { libc::kill(self.child.id() as i32, sig) };
        self.wait_exit()
    }

    /// Waits until it ends by itself (its --timeout) and returns its stdout
    /// bytes and its stderr. Panics unless it exited with status 0.
    pub fn wait_exit(mut self) -> (Vec<u8>, Vec<String>) {
        let status = self.child.wait().expect("wait for fsnotify-gadget");
        let stdout = std::mem::replace(&mut self.stdout, thread::spawn(Vec::new));
        let out = stdout.join().unwrap();
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(500)) {
            self.stderr_seen.push(l);
        }
        assert!(status.success(), "fsnotify-gadget exited with {status}; stderr: {:#?}", self.stderr_seen);
        (out, std::mem::take(&mut self.stderr_seen))
    }
}

impl Drop for Gadget {
    /// A test that panics before `stop` must not leave the tool running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client program started for a test, killed when dropped.
pub struct Client {
    pub child: Child,
    /// The program, for a reader of the test; nothing reads it yet.
    #[allow(dead_code)]
    pub name: String,
}

impl Client {
    pub fn start(cmd: &str, args: &[&str]) -> Client {
        let child = Command::new(cmd)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {cmd}: {e}"));
        Client { child, name: cmd.to_string() }
    }

    /// Takes charge of a process started some other way.
    pub fn from_child(child: Child) -> Client {
        Client { child, name: String::new() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGINT, then wait.
    pub fn stop(mut self) {
        // SAFETY: kill with a pid we own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `pid` has an fd whose link contains `what` (`inotify`, `fanotify`).
pub fn wait_for_notify_fd(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
            for e in dir.flatten() {
                if std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains(what)) {
                    // The fd exists; give the client a moment to add its watches.
                    thread::sleep(Duration::from_millis(700));
                    return;
                }
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("process {pid} never opened an {what} fd");
}

/// Runs a command to completion and returns its pid.
pub fn run(cmd: &str, args: &[&str]) -> u32 {
    let mut c = Command::new(cmd).args(args).spawn().unwrap_or_else(|e| panic!("run {cmd}: {e}"));
    let pid = c.id();
    let st = c.wait().unwrap();
    assert!(st.success(), "{cmd} {args:?} failed: {st}");
    pid
}

/// A fresh, empty directory for one test, as its canonical path (records
/// carry canonical paths).
/// The JSON lines written to `out` so far (a line still being written is left out).
pub fn json_lines(out: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Polls `out` until one of its JSON lines satisfies `ok`; panics after
/// `timeout` naming `what` and showing the last three lines.
pub fn wait_json_line(out: &Path, what: &str, timeout: Duration, ok: impl Fn(&Value) -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let seen = json_lines(out);
        if seen.iter().any(&ok) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not in {:?}", seen.iter().rev().take(3).collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fsg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.canonicalize().unwrap()
}

/// Only the VM tests compare inode numbers (the tracepoint backend has none).
#[allow(dead_code)]
pub fn ino(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

/// The inode number of this process's mount namespace (the VM tests check it).
#[allow(dead_code)]
pub fn my_mntns() -> u64 {
    let link = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let s = link.to_string_lossy();
    s.trim_start_matches("mnt:[").trim_end_matches(']').parse().unwrap()
}

pub fn s<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

/// Records whose field `path` equals `want`.
pub fn with<'a>(records: &'a [Value], path: &str, want: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| s(r, path).as_str() == Some(want)).collect()
}

/// A mask value (`IN_OPEN|FS_EVENT_ON_CHILD`) contains this bit name.
pub fn has_bit(mask: &Value, bit: &str) -> bool {
    mask.as_str().is_some_and(|m| m.split('|').any(|b| b == bit))
}

pub mod hostile;

//! `fsnotify-gadget top` on this machine's kernel: two fanotify permission
//! daemons (fsg-fanotify-perm) answer after known delays while the test opens
//! files under their marks; top's summaries must count every request and give
//! each daemon ordered answer latency quantiles, none below its delay (how
//! near the delay they come is a benchmark's figure: `cargo xtask bench`).
//! Also: the plain text without a terminal, the live view on a pty, and a
//! queue overflow counted for its tracer.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::common::{helper, json_lines, require_root, test_dir, wait_json_line, wait_ready, Client, Gadget};

/// One test at a time: each loads the machine (answers on time, a burst of
/// writes) in a way that would slow another's daemons and readers.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Real-time priority for the daemons and the opening threads: on a busy
/// machine a waking task can wait tens of milliseconds for a CPU, and the
/// run would last longer than its requests need.
const RT_PRIORITY: i32 = 10;

/// A permission daemon marking `dir` that waits `delay_ms` before each answer
/// and denies the file named `no`, under SCHED_FIFO.
fn daemon(dir: &Path, delay_ms: u64) -> Client {
    let ready = dir.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let delay = delay_ms.to_string();
    let prio = RT_PRIORITY.to_string();
    let bin = helper("fsg-fanotify-perm");
    let args = ["-f", &prio, bin.to_str().unwrap(), "--dir", dir.to_str().unwrap(), "--deny", "no", "--ready", ready.to_str().unwrap(), "--delay-ms", &delay];
    // chrt execs the daemon: the pid is the daemon's.
    let c = Client::start("chrt", &args);
    wait_ready(&ready, "fsg-fanotify-perm");
    c
}

/// Files to open under `dir`: `n - denied` allowed ones, `denied` times the
/// denied one. Made before the daemon marks `dir` (writing them opens them).
fn files(dir: &Path, n: usize, denied: usize) -> Vec<PathBuf> {
    std::fs::write(dir.join("no"), b"x").unwrap();
    let mut v: Vec<PathBuf> = (0..n - denied)
        .map(|i| {
            let p = dir.join(format!("f{i}"));
            std::fs::write(&p, b"x").unwrap();
            p
        })
        .collect();
    v.extend((0..denied).map(|_| dir.join("no")));
    v
}

/// Opens each file once, in order (each open waits for its answer), from a
/// thread under SCHED_FIFO.
fn open_all(paths: Vec<PathBuf>) -> thread::JoinHandle<(usize, usize)> {
    thread::spawn(move || {
        let param = libc::sched_param { sched_priority: RT_PRIORITY };
        // SAFETY: pid 0 is the calling thread; param is a valid sched_param.
        let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        assert_eq!(r, 0, "SCHED_FIFO: {}", std::io::Error::last_os_error());
        let (mut allowed, mut denied) = (0, 0);
        for p in paths {
            match std::fs::File::open(&p) {
                Ok(_) => allowed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => denied += 1,
                Err(e) => panic!("open {}: {e}", p.display()),
            }
        }
        (allowed, denied)
    })
}

/// `fsnotify-gadget top ARGS`, run to its --timeout: its stdout (it must exit 0).
fn top(args: &[&str], workload: impl FnOnce()) -> String {
    let g = Gadget::spawn(&[&["top"], args].concat());
    workload();
    let (out, _) = g.wait_exit();
    String::from_utf8(out).expect("top wrote UTF-8")
}

fn row(rows: &Value, pid: u32) -> Option<&Value> {
    rows.as_array().unwrap().iter().find(|r| r["tracer"]["pid"].as_u64() == Some(u64::from(pid)))
}

/// `p50 <= p99 <= max`, all present, the first not below `floor_ns`: each
/// answer waited at least that long after its request was queued, and a
/// quantile never falls below the smallest answer (src/top/quantile.rs).
fn ordered_quantiles(p: &Value, floor_ns: u64, what: &str) -> (u64, u64, u64) {
    let q = |k: &str| p[k].as_u64().unwrap_or_else(|| panic!("{what}: no {k} in {p}"));
    let (p50, p99, max) = (q("p50_ns"), q("p99_ns"), q("max_ns"));
    assert!(floor_ns <= p50 && p50 <= p99 && p99 <= max, "{what}: p50 {p50} <= p99 {p99} <= max {max}, none below {floor_ns} ns: {p}");
    (p50, p99, max)
}

/// -o json: one summary per interval (run until two have been written and
/// every open was answered), then the whole run's; every request counted,
/// in the intervals and in the whole run, with ordered latency quantiles
/// none below each daemon's delay.
#[test]
fn json_summaries_count_requests_and_time_answers() {
    let _alone = crate::alone(module_path!());
    let _one = one_at_a_time();
    require_root();
    const DENIED: usize = 10;
    let (fast_dir, slow_dir) = (test_dir("top-fast"), test_dir("top-slow"));
    // 110 answers from the fast one: its p99 (rank 109) is not its slowest.
    let (fast_ms, slow_ms) = (50, 100);
    let (fast_opens, slow_opens) = (110, 60);
    let (fast_files, slow_files) = (files(&fast_dir, fast_opens, DENIED), files(&slow_dir, slow_opens, DENIED));
    let fast = daemon(&fast_dir, fast_ms);
    let slow = daemon(&slow_dir, slow_ms);
    // No --timeout: the run lasts as long as the opens need, however slow the machine.
    let json = fast_dir.with_extension("top.json");
    let g = Gadget::spawn_into(&["top", "-o", "json", "--interval", "1", "--fanotify-only"], &json);
    let opens = [open_all(fast_files), open_all(slow_files)];
    assert_eq!(opens.map(|o| o.join().unwrap()), [(fast_opens - DENIED, DENIED), (slow_opens - DENIED, DENIED)]);
    wait_json_line(&json, "a second interval summary", Duration::from_secs(60), |s| s["interval"].as_u64() >= Some(2));
    let (_, err) = g.stop_bytes();
    let summaries = json_lines(&json);
    let (total, intervals) = summaries.split_last().unwrap_or_else(|| panic!("no summary; stderr {err:?}"));
    assert_eq!(total["scope"], "total", "{total}");
    assert!(intervals.len() >= 2, "{} interval summaries", intervals.len());
    for (i, s) in intervals.iter().enumerate() {
        assert_eq!(s["scope"], "interval", "{s}");
        assert_eq!(s["interval"].as_u64(), Some(i as u64 + 1), "{s}");
    }
    for (pid, delay, opens, name) in [(fast.pid(), fast_ms, fast_opens, "fast"), (slow.pid(), slow_ms, slow_opens, "slow")] {
        let opens = opens as u64;
        let floor = delay * 1_000_000;
        let p = row(&total["permission"], pid).unwrap_or_else(|| panic!("no {name} daemon in {total}"));
        assert_eq!(p["requests"].as_u64(), Some(opens), "{name}: {p}");
        let want = (Some(opens - DENIED as u64), Some(DENIED as u64), Some(0));
        assert_eq!((p["allow"].as_u64(), p["deny"].as_u64(), p["interrupted"].as_u64()), want, "{p}");
        let (p50, p99, max) = ordered_quantiles(p, floor, &format!("{name} (whole run)"));
        eprintln!("FSG-NOTE: {name} daemon ({delay} ms): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms", p50 as f64 / 1e6, p99 as f64 / 1e6, max as f64 / 1e6);
        // The intervals add up to the run, and each one that answered has
        // its ordered quantiles, its slowest no slower than the run's.
        let mut sum = 0;
        for s in intervals {
            let Some(p) = row(&s["permission"], pid) else { continue };
            let n = p["requests"].as_u64().unwrap();
            sum += n;
            if n > 0 {
                let (_, _, interval_max) = ordered_quantiles(p, floor, &format!("{name}, interval {}", s["interval"]));
                assert!(interval_max <= max, "{name}: interval {} max {interval_max} above the run's {max}", s["interval"]);
            } else {
                assert!(p["p50_ns"].is_null() && p["p99_ns"].is_null() && p["max_ns"].is_null(), "no answer, no latency: {p}");
            }
        }
        assert_eq!(sum, opens, "{name}: the intervals' requests");
        // Each request is also a fanotify event the daemon read, caused by this process.
        let t = row(&total["tracers"], pid).unwrap_or_else(|| panic!("{name} daemon not among the tracers: {total}"));
        assert_eq!((t["kind"].as_str(), t["events"].as_u64(), t["overflows"].as_u64()), (Some("fanotify"), Some(opens), Some(0)));
        let pairs: Vec<&Value> = total["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["tracer"]["pid"].as_u64() == Some(u64::from(pid)))
            .collect();
        assert_eq!(pairs.len(), 1, "{pairs:?}");
        assert_eq!(pairs[0]["tracee"]["pid"].as_u64(), Some(u64::from(std::process::id())), "{}", pairs[0]);
        assert!(pairs[0]["mask"].as_str().unwrap().split('|').any(|b| b == "FAN_OPEN_PERM"), "{}", pairs[0]);
        assert_eq!(pairs[0]["events"].as_u64(), Some(opens));
    }
    assert_eq!(total["lost"]["total"].as_u64(), Some(0), "{total}");
    fast.stop();
    slow.stop();
}

/// Plain text when stdout is not a terminal, with a filter: one block per
/// interval, then the whole run's, no escape codes, only the daemon asked for.
#[test]
fn plain_text_without_a_terminal_and_a_tracer_filter() {
    let _alone = crate::alone(module_path!());
    let _one = one_at_a_time();
    require_root();
    const OPENS: usize = 10;
    let (one_dir, other_dir) = (test_dir("top-one"), test_dir("top-other"));
    let (one_files, other_files) = (files(&one_dir, OPENS, 1), files(&other_dir, OPENS, 1));
    let one = daemon(&one_dir, 10);
    let other = daemon(&other_dir, 10);
    let pid = one.pid().to_string();
    let out = top(&["--interval", "1", "--timeout", "3", "--tracer-pid", &pid, "--sort", "p99", "--max-rows", "5"], || {
        let opens = [open_all(one_files), open_all(other_files)];
        for o in opens {
            assert_eq!(o.join().unwrap(), (OPENS - 1, 1));
        }
    });
    assert!(!out.contains('\x1b'), "an escape code in the plain text: {out:?}");
    let blocks: Vec<&str> = out.split("fsnotify-gadget top: ").filter(|b| !b.is_empty()).collect();
    assert!(blocks.len() >= 3, "{out}");
    let (total, intervals) = blocks.split_last().unwrap();
    assert!(intervals.iter().all(|b| b.starts_with("interval ")), "{out}");
    assert!(total.starts_with("summary of "), "{out}");
    for section in ["TRACERS", "TRACEE -> TRACER", "PERMISSION DAEMONS"] {
        assert!(total.contains(&format!("\n{section}\n")), "{section} missing: {total}");
    }
    // The whole run: the daemon's row, its comm, its ten answers (9 allowed, 1 denied).
    let perm = total.split("PERMISSION DAEMONS\n").nth(1).unwrap();
    let mut lines = perm.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["PID", "COMM", "CONTAINER", "REQ/S", "REQUESTS", "P50", "P99", "MAX", "ALLOW", "DENY", "INTERRUPTED"]);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 1, "only the filtered daemon: {perm}");
    let r = &rows[0];
    // The daemon runs on the host: no container.
    assert_eq!((r[0], r[1], r[2], r[4], r[8], r[9], r[10]), (pid.as_str(), "fsg-fanotify-pe", "-", "10", "9", "1", "0"), "{perm}");
    let other_pid = other.pid().to_string();
    assert!(!out.split_whitespace().any(|w| w == other_pid), "the other daemon ({other_pid}) was filtered out: {out}");
    one.stop();
    other.stop();
}

/// On a terminal (a pty from script(1), 100 x 30): the live view on the
/// alternate screen, then, once the terminal is given back, the whole run's
/// summary in plain text, which stays on the screen.
#[test]
fn live_view_on_a_terminal_then_the_summary() {
    let _alone = crate::alone(module_path!());
    let _one = one_at_a_time();
    require_root();
    const OPENS: usize = 8;
    let dir = test_dir("top-live");
    let paths = files(&dir, OPENS, 2);
    let d = daemon(&dir, 10);
    let cmd = format!("stty cols 100 rows 30; exec {} top --timeout 3 --tracer-pid {}", crate::common::gadget_bin().display(), d.pid());
    let (mut script, reader) = on_a_pty(&cmd, "tracing with");
    assert_eq!(open_all(paths).join().unwrap(), (OPENS - 2, 2));
    let status = script.wait().unwrap();
    let out = reader.join().unwrap();
    let text = String::from_utf8_lossy(&out).replace("\r\n", "\n");
    assert!(status.success(), "{status}: {text}");
    let enter = text.find("\x1b[?1049h").unwrap_or_else(|| panic!("the alternate screen never came: {text:?}"));
    let leave = text.rfind("\x1b[?1049l").unwrap_or_else(|| panic!("the terminal was not given back: {text:?}"));
    assert!(enter < leave);
    let live = &text[enter..leave];
    // The view is drawn by cursor moves, only what changed: look for words.
    for word in ["TRACERS", "PERMISSION", "DAEMONS", "interval 1 ", "fsg-fanotify-pe", "FAN_OPEN_PERM"] {
        assert!(live.contains(word), "the live view lacks {word:?}: {live:?}");
    }
    // An answer latency in human units (`10.4ms`; how near the daemon's 10 ms
    // is the JSON test's to check, not this one's on a loaded machine).
    let b = live.as_bytes();
    let latency = (3..b.len().saturating_sub(1)).any(|i| &b[i..i + 2] == b"ms" && b[i - 1].is_ascii_digit() && b[i - 2] == b'.' && b[i - 3].is_ascii_digit());
    assert!(latency, "the live view shows no latency: {live:?}");
    let after = &text[leave..];
    let summary = &after[after.find("fsnotify-gadget top: summary of ").unwrap_or_else(|| panic!("no summary after the view: {after:?}"))..];
    assert!(!summary.contains('\x1b'), "escape codes in the summary: {summary:?}");
    let perm = summary.split("PERMISSION DAEMONS\n").nth(1).unwrap();
    let row: Vec<&str> = perm.lines().nth(1).unwrap().split_whitespace().collect();
    let pid = d.pid().to_string();
    assert_eq!((row[0], row[2], row[4], row[8], row[9]), (pid.as_str(), "-", "8", "6", "2"), "{summary}");
    d.stop();
}

/// Runs `cmd` under script(1), on a pty of its own (stderr included), and
/// returns once it has written `until`; the thread gives back all it wrote.
fn on_a_pty(cmd: &str, until: &str) -> (std::process::Child, thread::JoinHandle<Vec<u8>>) {
    let mut script = std::process::Command::new("script")
        .args(["-qefc", cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let mut pty = script.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = thread::spawn(move || {
        use std::io::Read;
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = pty.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let _ = tx.send(all.clone());
        }
        all
    });
    loop {
        let so_far = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap_or_else(|_| panic!("top never wrote {until:?}"));
        if String::from_utf8_lossy(&so_far).contains(until) {
            break;
        }
    }
    (script, reader)
}

/// A terminal that goes away under the live view (here script(1), which
/// holds the pty's master side, is killed: a closed window or a cut ssh
/// session does the same) ends top, which then unloads its BPF programs.
#[test]
fn a_terminal_that_goes_away_ends_the_live_view() {
    use crate::common::reliability::wait_until_nothing_loaded;
    let _alone = crate::alone(module_path!());
    let _one = one_at_a_time();
    require_root();
    let dir = test_dir("top-hangup");
    let pid_file = dir.join("pid");
    // The shell's pid is the gadget's once it execs.
    let cmd = format!("stty cols 100 rows 30; echo $$ > {}; exec {} top --timeout 300", pid_file.display(), crate::common::gadget_bin().display());
    // Once the first interval is drawn, the live view reads its keys.
    let (mut script, reader) = on_a_pty(&cmd, "interval 1 ");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    let stat = format!("/proc/{pid}/stat");
    assert!(std::fs::read_to_string(&stat).unwrap().contains("(fsnotify-gadget)"), "pid {pid} is not the gadget");
    script.kill().unwrap();
    script.wait().unwrap();
    reader.join().unwrap();
    // Ended: gone, or a zombie nobody has reaped yet. Its --timeout is far
    // beyond this wait, so only the hangup can end it in time.
    let ended = || std::fs::read_to_string(&stat).map_or(true, |s| s.rsplit(") ").next().is_some_and(|rest| rest.starts_with('Z')));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !ended() {
        if std::time::Instant::now() > deadline {
            let state = std::fs::read_to_string(&stat).unwrap_or_default();
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            panic!("top still ran 60 s after its terminal went away: {state}");
        }
        thread::sleep(std::time::Duration::from_millis(100));
    }
    wait_until_nothing_loaded("top after its terminal went away");
}

/// A tracer whose inotify queue overflowed: top counts the IN_Q_OVERFLOW
/// record as its overflow, and every event it read as its events.
#[test]
fn a_queue_overflow_is_counted_for_its_tracer() {
    use crate::common::reliability::{modify_events, two_files, wait_stopped, Reader, Sysctl, SLOW_QUEUE};
    let _alone = crate::alone(module_path!());
    let _one = one_at_a_time();
    require_root();
    let dir = test_dir("top-overflow");
    let files = two_files(&dir);
    // A small queue (for readers started now): the overflow is the same at any size.
    let _queue = Sysctl::set("/proc/sys/fs/inotify/max_queued_events", &SLOW_QUEUE.to_string());
    let reader = Reader::start(&dir, &[]);
    let pid = reader.pid();
    let g = Gadget::spawn(&["top", "-o", "json", "--tracer-pid", &pid.to_string()]);
    reader.signal(libc::SIGSTOP);
    wait_stopped(pid);
    modify_events(&files, SLOW_QUEUE + 100);
    reader.signal(libc::SIGCONT);
    // SIGUSR1: the reader reads until its queue is empty, then says what it read.
    let (read, overflows) = reader.finish_drained();
    assert_eq!(overflows, 1, "the reader saw one IN_Q_OVERFLOW ({read} events)");
    let (out, _) = g.stop_bytes();
    let out = String::from_utf8(out).unwrap();
    let total: Value = serde_json::from_str(out.lines().last().expect("no summary")).unwrap();
    assert_eq!(total["scope"], "total", "{total}");
    let t = row(&total["tracers"], pid).unwrap_or_else(|| panic!("the reader is not among the tracers: {total}"));
    assert_eq!((t["kind"].as_str(), t["events"].as_u64(), t["overflows"].as_u64()), (Some("inotify"), Some(read), Some(1)), "{t}");
    let overflow_pairs: Vec<&Value> =
        total["pairs"].as_array().unwrap().iter().filter(|p| p["mask"].as_str().is_some_and(|m| m.contains("IN_Q_OVERFLOW"))).collect();
    assert_eq!(overflow_pairs.len(), 1, "{overflow_pairs:?}");
    assert_eq!(overflow_pairs[0]["events"].as_u64(), Some(1));
}

/// A tracer that stops reading: each summary shows the bytes waiting in its
/// queue (FIONREAD on its fd, borrowed with pidfd_getfd), 32 for each
/// IN_MODIFY of a 7-byte name; none while it keeps up.
#[test]
fn a_stopped_tracer_shows_its_queue_backlog() {
    use crate::common::reliability::{modify_events, two_files, wait_stopped, Reader};
    let _alone = crate::alone(module_path!());
    let _one = one_at_a_time();
    require_root();
    let dir = test_dir("top-backlog");
    let files = two_files(&dir);
    let reader = Reader::start(&dir, &[]);
    let pid = reader.pid();
    let out = dir.with_extension("top.json");
    let g = Gadget::spawn_into(&["top", "-o", "json", "--interval", "0.3", "--tracer-pid", &pid.to_string()], &out);
    let backlog = |s: &Value| row(&s["tracers"], pid).and_then(|t| t["backlog_bytes"].as_u64());
    modify_events(&files, 10);
    wait_json_line(&out, "the reader's 10 events read, its queue empty", Duration::from_secs(30), |s| {
        row(&s["tracers"], pid).is_some_and(|t| t["total_events"] == 10) && backlog(s) == Some(0)
    });
    reader.signal(libc::SIGSTOP);
    wait_stopped(pid);
    modify_events(&files, 300);
    wait_json_line(&out, "300 events waiting", Duration::from_secs(30), |s| backlog(s) == Some(300 * 32));
    let (_, err) = g.stop_bytes();
    let all = json_lines(&out);
    let total = all.last().expect("no summary");
    assert_eq!(total["scope"], "total", "{total}");
    assert_eq!(backlog(total), Some(300 * 32), "{total}");
    assert!(total.get("backlog_unknown").is_none(), "{total}");
    assert!(err.iter().all(|l| !l.contains("backlog")), "{err:?}");
    // Asking did not consume: the reader still finds every event.
    reader.signal(libc::SIGCONT);
    let (read, overflows) = reader.finish_drained();
    assert_eq!((read, overflows), (310, 0));
}

/// Records lost to a full ring buffer while top was stopped are its tracer's
/// LOST (tests/common/reliability.rs; the VM runs it on fentry and kprobe).
#[test]
fn ring_buffer_losses_are_counted_for_their_tracer() {
    let _alone = crate::alone(module_path!());
    let _one = one_at_a_time();
    require_root();
    crate::common::reliability::top_counts_ring_losses_for_their_tracer("tracepoint", 200_000);
}

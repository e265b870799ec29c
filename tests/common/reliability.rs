//! Reliability scenarios: bursts, faults and soak. Each takes the backend's
//! name, so the VM tests (fentry, kprobe) and the host tests (tracepoint)
//! run the same bodies.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::*;

/// The names (as the kernel truncates them, 15 bytes) of every BPF program
/// this project loads, any backend.
const OUR_PROGRAMS: &[&str] = &[
    "fentry_inotify_", "fentry_fanotify", "kprobe_fanotify", "fentry_insert", "fexit_remove", "fentry_destroy",
    "kprobe_inotify_", "kprobe_insert", "kprobe_remove", "kretprobe_remov", "kprobe_destroy", "thread_exit",
    "fentry_peek", "kprobe_peek", "kprobe_read_sta",
    "tp_alloc", "tp_free", "tp_waking", "tp_exit", "iter_notify_gro", "task_notify_fil", "task_user_count",
];

/// This project's BPF programs loaded right now.
pub fn our_programs() -> Vec<String> {
    libbpf_rs::query::ProgInfoIter::default()
        .map(|p| p.name.to_string_lossy().into_owned())
        .filter(|n| OUR_PROGRAMS.iter().any(|o| n.starts_with(o)))
        .collect()
}

/// Waits until none of our programs is loaded (the kernel frees them shortly
/// after their last fd closes); panics naming what stayed.
pub fn wait_until_nothing_loaded(why: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !our_programs().is_empty() {
        assert!(Instant::now() < deadline, "{why}: still loaded: {:?}", our_programs());
        sleep(Duration::from_millis(100));
    }
}

/// The words of the last `stats:` line on stderr.
fn last_stats(stderr: &[String]) -> HashMap<String, String> {
    parse_stats(stderr.iter().rev().find(|l| l.contains("stats:")).expect("a --stats line on stderr"))
}

/// The last `stats:` line's tables that are not empty.
pub fn busy_tables(stderr: &[String]) -> Vec<String> {
    last_stats(stderr)
        .into_iter()
        .filter(|(_, v)| v.split_once('/').is_some_and(|(used, _)| used != "0"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// `(records, lost)` from the last `stats:` line.
pub fn final_counts(stderr: &[String]) -> (u64, u64) {
    let st = last_stats(stderr);
    let n = |k: &str| st.get(k).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no {k} in {st:?}"));
    (n("records"), n("lost"))
}

/// An fsg-inotify-reader on `dir`, started and ready.
pub struct Reader {
    pub client: Client,
}

impl Reader {
    pub fn start(dir: &Path, args: &[&str]) -> Reader {
        let ready = dir.with_extension("ready");
        let _ = std::fs::remove_file(&ready);
        let child = Command::new(helper("fsg-inotify-reader"))
            .args(["--dir", dir.to_str().unwrap(), "--ready", ready.to_str().unwrap()])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start fsg-inotify-reader");
        let client = Client::from_child(child);
        wait_ready(&ready, "fsg-inotify-reader");
        Reader { client }
    }

    pub fn pid(&self) -> u32 {
        self.client.pid()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.pid() as i32, sig) };
    }

    /// SIGTERM; returns its `events=` and `overflow=` counts.
    pub fn finish(self) -> (u64, u64) {
        self.finish_with(libc::SIGTERM)
    }

    /// SIGUSR1: it reads on, at its pace, until its queue is empty; then as [`Reader::finish`].
    pub fn finish_drained(self) -> (u64, u64) {
        self.finish_with(libc::SIGUSR1)
    }

    fn finish_with(mut self, sig: i32) -> (u64, u64) {
        self.signal(sig);
        let mut out = String::new();
        self.client.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let status = self.client.child.wait().unwrap();
        assert!(status.success(), "fsg-inotify-reader: {status}");
        let words: HashMap<&str, u64> =
            out.split_whitespace().filter_map(|w| w.split_once('=')).map(|(k, v)| (k, v.parse().unwrap())).collect();
        (words["events"], words["overflow"])
    }
}

/// Makes `n` IN_MODIFY events in `dir`: one-byte writes alternating between
/// two files, so that no event is merged into the one queued before it.
pub fn modify_events(files: &[File; 2], n: u64) {
    for i in 0..n {
        files[(i % 2) as usize].write_at(b"x", 0).unwrap();
    }
}

/// How many events a burst makes.
#[derive(Debug, Clone, Copy)]
pub struct BurstSize {
    /// Stop after this many events...
    pub max_events: u64,
    /// ...or after this long writing, whichever comes first (None: no time limit)...
    pub max_time: Option<Duration>,
    /// ...but never before this many.
    pub min_events: u64,
}

impl BurstSize {
    /// Exactly `n` events.
    pub fn exactly(n: u64) -> BurstSize {
        BurstSize { max_events: n, max_time: None, min_events: n }
    }
}

/// Like [`modify_events`], sized by `size`; returns how many it made.
pub fn modify_events_sized(files: &[File; 2], size: BurstSize) -> u64 {
    let start = Instant::now();
    let mut made = 0;
    while made < size.max_events {
        let step = (size.max_events - made).min(1024);
        modify_events(files, step);
        made += step;
        let late = size.max_time.is_some_and(|t| start.elapsed() >= t);
        if late && made >= size.min_events {
            break;
        }
    }
    made
}

pub fn two_files(dir: &Path) -> [File; 2] {
    [File::create(dir.join("burst-a")).unwrap(), File::create(dir.join("burst-b")).unwrap()]
}

/// Waits until the gadget's `stats:` lines show `want` records plus losses,
/// or stop changing for five seconds.
fn wait_for_records(g: &mut Gadget, want: u64) {
    let (mut last, mut since) = (u64::MAX, Instant::now());
    loop {
        sleep(Duration::from_millis(500));
        let now = g.stderr_now().iter().rev().find(|l| l.contains("stats:")).map(|l| {
            let st = parse_stats(l);
            st["records"].parse::<u64>().unwrap() + st["lost"].parse::<u64>().unwrap()
        });
        let Some(now) = now else { continue };
        if now >= want {
            return;
        }
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > Duration::from_secs(5) {
            return;
        }
    }
}

pub fn read_sysctl(path: &str) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

/// Restores a sysctl when dropped.
pub struct Sysctl {
    path: &'static str,
    old: String,
}

impl Sysctl {
    pub fn set(path: &'static str, value: &str) -> Sysctl {
        let old = read_sysctl(path);
        std::fs::write(path, value).unwrap();
        Sysctl { path, old }
    }
}

impl Drop for Sysctl {
    fn drop(&mut self) {
        let _ = std::fs::write(self.path, &self.old);
    }
}

/// How a burst's reader reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// 64 KiB reads, no pause, and a queue that holds the whole burst.
    Fast,
    /// 1 KiB reads with 100 ms pauses (about 300 events a second) and a queue
    /// of [`SLOW_QUEUE`] events: any writer faster than that overflows it.
    Slow,
    /// Like `Fast`, but fsnotify-gadget is stopped (SIGSTOP) until the reader
    /// has read everything: the ring buffer overflows.
    Stalled,
}

/// `max_queued_events` for the slow reader: small, so that a burst of a few
/// thousand events overflows it on any machine.
pub const SLOW_QUEUE: u64 = 1024;

/// Events that surely overflow the kernel backends' ring buffer while the tool
/// is stopped: its 8 MiB (src/backend/kernel/bpf/kernel.bpf.c) held 33,825
/// records of a burst (7-byte names) on Debian's 6.1 and 6.12 kernels.
pub const RING_OVERFLOW_EVENTS: u64 = 60_000;

/// `n` events, sized by `size`, to one reader. Afterwards: every record
/// emitted or reported lost (emitted + lost = what the reader read), the
/// tables that join the halves of an event are empty, and the tool's memory
/// is back near where it started.
pub fn burst(backend: &str, size: BurstSize, pace: Pace) {
    let dir = test_dir(&format!("burst-{pace:?}"));
    let files = two_files(&dir);
    let queue = match pace {
        Pace::Fast | Pace::Stalled => size.max_events + 1024,
        Pace::Slow => SLOW_QUEUE,
    };
    let _queue = Sysctl::set("/proc/sys/fs/inotify/max_queued_events", &queue.to_string());
    let reader_args: &[&str] = match pace {
        Pace::Fast | Pace::Stalled => &[],
        Pace::Slow => &["--buf", "1024", "--pause-ms", "100"],
    };
    let reader = Reader::start(&dir, reader_args);
    let pid = reader.pid().to_string();
    let mut g = Gadget::start(&["--backend", backend, "--tracer-pid", &pid, "--fields", "i_mask", "--stats", "0.5"]);
    sleep(Duration::from_secs(1));
    let idle_kib = rss_kib(g.pid());

    let stall = |sig| {
        // SAFETY: signals a child this test started.
        assert_eq!(unsafe { libc::kill(g.pid() as i32, sig) }, 0);
    };
    if pace == Pace::Stalled {
        stall(libc::SIGSTOP);
    }
    let start = Instant::now();
    let n = modify_events_sized(&files, size);
    let generated_in = start.elapsed();
    drop(files);
    // The reader takes what its queue holds, at its own pace, then stops.
    let (read, overflows) = reader.finish_drained();
    if pace == Pace::Stalled {
        stall(libc::SIGCONT);
    }
    wait_for_records(&mut g, read);
    sleep(Duration::from_secs(1));
    let after_kib = rss_kib(g.pid());
    let (out, stderr) = g.stop_raw();

    let emitted = out.lines().count() as u64;
    let (records, lost) = final_counts(&stderr);
    println!(
        "FSG-NOTE: burst {pace:?}: {n} writes in {:.1} s ({size:?}); reader read {read} events ({overflows} overflow); \
         {emitted} records, {lost} reported lost; RSS {idle_kib} KiB idle, {after_kib} KiB after",
        generated_in.as_secs_f64()
    );
    assert_eq!(records, emitted, "the stats line counts what was printed");
    assert_eq!(emitted + lost, read, "every event the reader read is a record or is reported lost");
    match pace {
        Pace::Fast => {
            assert!(read >= n, "the reader got every event: {read} < {n}");
            assert_eq!(overflows, 0);
        }
        Pace::Stalled => {
            assert!(read >= n, "the reader got every event: {read} < {n}");
            assert!(lost > 0, "the ring buffer cannot hold {n} events while the tool is stopped");
        }
        Pace::Slow => {
            // The slow reader reads its queue (SLOW_QUEUE) and what it frees in a
            // few seconds: under half the records that surely overflow the ring
            // buffer, so they fit in it even if the tool read none of them.
            // Nothing may be lost, and every IN_Q_OVERFLOW the reader read is a record.
            assert!(read < RING_OVERFLOW_EVENTS / 2, "the slow reader read {read} events");
            assert_eq!(lost, 0, "the slow reader's {read} events fit in the ring buffer");
            assert!(overflows >= 1, "the slow reader's queue never overflowed ({read} events read)");
            let overflow_records = out.lines().filter(|l| l.contains("IN_Q_OVERFLOW")).count() as u64;
            assert_eq!(overflow_records, overflows, "each overflow the reader read is a record: {}", &out[..out.len().min(300)]);
        }
    }
    // An allocation whose free record was lost (tracepoint backend) stays
    // until the kernel reuses its address: only after losses, only there.
    let kept_after_loss = |t: &String| lost > 0 && t.starts_with("user:allocs=");
    let busy: Vec<String> = busy_tables(&stderr).into_iter().filter(|t| !kept_after_loss(t)).collect();
    assert!(busy.is_empty(), "tables not empty after the burst: {busy:?}");
    assert!(
        after_kib <= idle_kib + 16 * 1024,
        "RSS did not come back near idle: {idle_kib} KiB idle, {after_kib} KiB after"
    );
}

/// A tracer killed while events wait in its queue: they were never read,
/// so there is no record of them; the tool goes on and forgets them.
pub fn tracer_killed_with_events_queued(backend: &str) {
    let dir = test_dir("killed-tracer");
    let files = two_files(&dir);
    let victim = Reader::start(&dir, &["--no-read"]);
    let g = Gadget::start(&["--backend", backend, "--inotify-only", "--stats", "60"]);
    modify_events(&files, 100);
    victim.signal(libc::SIGKILL);
    let victim_pid = victim.pid();
    drop(victim);
    // The tool still works: a second tracer's events arrive.
    let witness = Reader::start(&dir, &[]);
    modify_events(&files, 10);
    sleep(Duration::from_secs(1));
    let (read, _) = witness.finish();
    assert!(read >= 10, "the witness read {read} events, expected at least 10");
    sleep(Duration::from_millis(500));
    let (records, stderr) = g.stop();
    assert!(
        records.iter().all(|r| s(r, "tracer.pid").as_u64() != Some(victim_pid as u64)),
        "a record names the killed tracer, which never read: {records:#?}"
    );
    let modifies = records.iter().filter(|r| has_bit(&r["i_mask"], "IN_MODIFY")).count() as u64;
    assert!(modifies >= 10, "the second tracer's events are missing: {records:#?}");
    assert!(busy_tables(&stderr).is_empty(), "tables not empty: {:?}", busy_tables(&stderr));
}

/// An inotify fd closed with events unread: no records for them, nothing
/// kept for them.
pub fn closed_with_unread_events(backend: &str) {
    let dir = test_dir("closed-unread");
    let files = two_files(&dir);
    let reader = Reader::start(&dir, &["--no-read"]);
    let pid = reader.pid();
    let g = Gadget::start(&["--backend", backend, "--stats", "60"]);
    modify_events(&files, 100);
    let (read, _) = reader.finish();
    assert_eq!(read, 0);
    sleep(Duration::from_millis(800));
    let (records, stderr) = g.stop();
    assert!(records.iter().all(|r| s(r, "tracer.pid").as_u64() != Some(pid as u64)), "{records:#?}");
    assert!(busy_tables(&stderr).is_empty(), "tables not empty: {:?}", busy_tables(&stderr));
}

/// A queue that overflows: the reader gets IN_Q_OVERFLOW, and so does the output.
pub fn queue_overflow_is_a_record(backend: &str) {
    let dir = test_dir("overflow");
    let files = two_files(&dir);
    // A small queue: the overflow is the same at any size, and fewer events make it quicker.
    let max = SLOW_QUEUE;
    let _queue = Sysctl::set("/proc/sys/fs/inotify/max_queued_events", &max.to_string());
    let reader = Reader::start(&dir, &[]);
    let pid = reader.pid();
    let g = Gadget::start(&["--backend", backend, "--tracer-pid", &pid.to_string()]);
    reader.signal(libc::SIGSTOP);
    wait_stopped(reader.pid());
    modify_events(&files, max + 100);
    reader.signal(libc::SIGCONT);
    sleep(Duration::from_secs(3));
    let (read, overflows) = reader.finish();
    sleep(Duration::from_secs(1));
    let (records, _) = g.stop();
    assert_eq!(overflows, 1, "the reader saw one IN_Q_OVERFLOW ({read} events)");
    let ovf: Vec<_> = records.iter().filter(|r| has_bit(&r["i_mask"], "IN_Q_OVERFLOW")).collect();
    assert_eq!(ovf.len(), 1, "one overflow record, got {}", ovf.len());
    assert_eq!(ovf[0]["i_wd"], -1);
    assert_eq!(s(ovf[0], "tracer.pid"), pid);
    assert!(ovf[0]["tracee"].is_null() || s(ovf[0], "tracee.pid").is_null(), "an overflow has no tracee: {:#}", ovf[0]);
    assert_eq!(records.len() as u64, read, "one record per event read");
}

/// A watched directory removed: IN_DELETE_SELF, then IN_IGNORED as the watch goes.
pub fn watched_directory_deleted(backend: &str) {
    let dir = test_dir("deleted").join("watched");
    std::fs::create_dir(&dir).unwrap();
    let g = Gadget::start(&["--backend", backend, "--inotify-only"]);
    let w = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    let rmdir = run("rmdir", &[dir.to_str().unwrap()]);
    sleep(Duration::from_secs(1));
    let watcher = w.pid();
    w.stop();
    let (records, _) = g.stop();
    let mine: Vec<_> = records.iter().filter(|r| s(r, "tracer.pid") == watcher).collect();
    let delete_self = mine.iter().find(|r| has_bit(&r["i_mask"], "IN_DELETE_SELF"));
    let ignored = mine.iter().find(|r| has_bit(&r["i_mask"], "IN_IGNORED"));
    let delete_self = delete_self.unwrap_or_else(|| panic!("no IN_DELETE_SELF: {mine:#?}"));
    assert_eq!(s(delete_self, "tracee.pid"), rmdir);
    assert_eq!(s(delete_self, "tracer.comm"), "inotifywait");
    assert!(ignored.is_some(), "no IN_IGNORED: {mine:#?}");
}

/// A tracee killed while its permission request waits: `interrupted`.
pub fn fanotify_permission_interrupted(backend: &str) {
    let dir = test_dir("perm-int");
    std::fs::write(dir.join("held"), b"x").unwrap();
    let g = Gadget::start(&["--backend", backend, "--fanotify-only"]);
    let helper = perm_helper(&dir, "none");
    // SAFETY: signals to a child we own.
    unsafe { libc::kill(helper.pid() as i32, libc::SIGSTOP) };
    wait_stopped(helper.pid());
    let mut tracee = Command::new("cat").arg(dir.join("held")).stdout(Stdio::null()).spawn().unwrap();
    sleep(Duration::from_millis(500));
    tracee.kill().unwrap();
    tracee.wait().unwrap();
    unsafe { libc::kill(helper.pid() as i32, libc::SIGCONT) };
    sleep(Duration::from_secs(1));
    let (records, _) = g.stop();
    helper.stop();
    let path = dir.join("held");
    let resps: Vec<_> = records.iter().filter(|r| r["type"] == "fa_resp" && s(r, "tracee.pid") == tracee.id()).collect();
    assert_eq!(resps.len(), 1, "one fa_resp for the killed tracee: {records:#?}");
    assert_eq!(resps[0]["fa_response"], "interrupted", "{records:#?}");
    // The tracepoint backend cannot name a request no tracer read.
    if backend != "tracepoint" {
        assert_eq!(resps[0]["name"], path.to_str().unwrap());
    }
}

/// Waits until `pid` is stopped (state T in /proc/PID/stat).
pub fn wait_stopped(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T')) {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} did not stop: {stat}");
        sleep(Duration::from_millis(10));
    }
}

/// fsnotify-gadget killed with SIGKILL: nothing stays loaded, and the next
/// run works.
pub fn sigkill_then_restart(backend: &str) {
    wait_until_nothing_loaded("before the test");
    let first = Gadget::start(&["--backend", backend]);
    assert!(!our_programs().is_empty(), "the running tool's programs are visible");
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(first.pid() as i32, libc::SIGKILL) };
    drop(first);
    wait_until_nothing_loaded("after SIGKILL");
    inotify_record_seen(vec![Gadget::start(&["--backend", backend])]);
}

/// Two instances at once: each sees every record.
pub fn two_instances(backend: &str) {
    let a = Gadget::start(&["--backend", backend]);
    let b = Gadget::start(&["--backend", backend]);
    inotify_record_seen(vec![a, b]);
}

/// Each gadget (already tracing) records one inotifywait + touch.
fn inotify_record_seen(gadgets: Vec<Gadget>) {
    let dir = test_dir("seen");
    let w = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    let touch = run("touch", &[dir.join("seen-file").to_str().unwrap()]);
    sleep(Duration::from_secs(1));
    w.stop();
    for (i, g) in gadgets.into_iter().enumerate() {
        let (records, _) = g.stop();
        let mine = with(&records, "name", "seen-file");
        assert!(mine.iter().any(|r| s(r, "tracee.pid") == touch), "instance {i} missed the touch: {records:#?}");
    }
}

/// `fsnotify-gadget | head -1`: when head exits, the tool ends quietly at the
/// closed pipe, with status 0 and no error.
pub fn piped_into_head(backend: &str) {
    let dir = test_dir("head");
    let w = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    let mut gadget = Command::new(gadget_bin())
        .args(["--backend", backend, "--inotify-only"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let head = Command::new("head").arg("-1").stdin(gadget.stdout.take().unwrap()).stdout(Stdio::piped()).spawn().unwrap();
    let mut err = gadget.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = gadget.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = gadget.kill();
            panic!("fsnotify-gadget did not end after head exited");
        }
        let _ = std::fs::write(dir.join("head-file"), b"x");
        sleep(Duration::from_millis(200));
    };
    let first = head.wait_with_output().unwrap();
    let stderr = stderr.join().unwrap();
    w.stop();
    assert_eq!(status.code(), Some(0), "exit status at a closed pipe; stderr: {stderr}");
    assert!(!stderr.contains("error") && !stderr.contains("panicked"), "stderr: {stderr}");
    assert_eq!(String::from_utf8_lossy(&first.stdout).lines().count(), 1);
}

/// A mixed workload for `secs` seconds (inotify readers, fanotify permission
/// answers, creates, writes, renames, deletes), with the tool's memory and
/// tables sampled each second: both stay flat. Prints the samples.
pub fn soak(backend: &str, secs: u64) {
    let dir = test_dir("soak");
    std::fs::write(dir.join("denied"), b"x").unwrap();
    let w = Client::start("inotifywait", &["-m", "-r", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    let answerer = perm_helper(&dir, "denied");
    let mut g = Gadget::start(&["--backend", backend, "--fields", "type", "--stats", "1"]);
    // Tables are sampled from the stats lines: from the first one on.
    g.wait_stderr("stats:", Duration::from_secs(30));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = {
        let (dir, stop) = (dir.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let a = dir.join(format!("f{}", i % 50));
                let b = dir.join(format!("g{}", i % 50));
                let _ = std::fs::write(&a, i.to_ne_bytes());
                let _ = std::fs::rename(&a, &b);
                let _ = std::fs::read(&b);
                let _ = std::fs::remove_file(&b);
                let _ = std::fs::read(dir.join("denied"));
                i += 1;
                if i % 100 == 0 {
                    sleep(Duration::from_millis(5));
                }
            }
            i
        })
    };
    let mut samples = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        sleep(Duration::from_secs(1));
        let stats = g.stderr_now().iter().rev().find(|l| l.contains("stats:")).expect("the stats line waited for above");
        let tables: u64 = parse_stats(stats).values().filter_map(|v| v.split_once('/')).map(|(u, _)| u.parse::<u64>().unwrap()).sum();
        samples.push((rss_kib(g.pid()), tables));
    }
    assert!(samples.len() >= 2, "{} samples in {secs} s: a soak needs two halves", samples.len());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = worker.join().unwrap();
    sleep(Duration::from_secs(2));
    w.stop();
    answerer.stop();
    sleep(Duration::from_millis(500));
    let (out, stderr) = g.stop_raw();
    let (records, lost) = final_counts(&stderr);
    println!("FSG-NOTE: soak: {secs} s, {rounds} rounds, {records} records, {lost} lost; (RSS KiB, table entries) each second: {samples:?}");
    assert!(records > rounds, "the workload's events were recorded ({records} records for {rounds} rounds)");
    assert_eq!(out.lines().count() as u64, records);
    // Flat: the second half's highest RSS within 4 MiB of the first half's.
    let half = samples.len() / 2;
    let first = samples[..half].iter().map(|s| s.0).max().unwrap();
    let second = samples[half..].iter().map(|s| s.0).max().unwrap();
    assert!(second <= first + 4096, "RSS grew: {first} KiB in the first half, {second} KiB in the second");
    let most = samples.iter().map(|s| s.1).max().unwrap();
    assert!(most < 4096, "the tables held up to {most} entries under a steady workload");
    assert!(busy_tables(&stderr).is_empty(), "tables not empty at the end: {:?}", busy_tables(&stderr));
}

/// SIGUSR1 prints a stats line and the trace goes on; SIGHUP (the terminal
/// went away) stops it like SIGTERM: status 0, the summary line, and nothing
/// left loaded.
pub fn signals_stop_cleanly(backend: &str) {
    wait_until_nothing_loaded("before the test");
    let dir = test_dir("signals");
    let w = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    let mut g = Gadget::start(&["--backend", backend, "--inotify-only", "--tracer-pid", &w.pid().to_string()]);
    std::fs::write(dir.join("before-usr1"), b"x").unwrap();
    sleep(Duration::from_millis(500));
    // SAFETY: a signal to a child this test started.
    assert_eq!(unsafe { libc::kill(g.pid() as i32, libc::SIGUSR1) }, 0);
    let stats = g.wait_stderr("stats:", Duration::from_secs(20));
    assert!(parse_stats(&stats)["records"].parse::<u64>().unwrap() >= 1, "{stats}");
    std::fs::write(dir.join("after-usr1"), b"x").unwrap();
    sleep(Duration::from_millis(500));
    let (out, stderr) = g.stop_with(libc::SIGHUP);
    w.stop();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("\"after-usr1\""), "it went on tracing after SIGUSR1: {out}");
    let summary = stderr.iter().rev().find(|l| l.contains(" records")).unwrap_or_else(|| panic!("no summary line: {stderr:#?}"));
    assert!(summary.contains("none lost"), "{summary}");
    wait_until_nothing_loaded("after SIGHUP");
}

/// Events taken off a queue that never reached the reader: reads that could
/// not copy them out (EFAULT; fanotify with no fd free, EMFILE) and queues
/// emptied at close. None has a record, each is counted as discarded with its
/// cause, and every event the reader did get has its record.
pub fn undelivered_events_are_discarded(backend: &str) {
    let dir = test_dir("undelivered");
    let dir = dir.to_str().unwrap();
    let mut g = Gadget::start(&["--backend", backend, "--stats", "3600"]);
    let counted = |line: &str| {
        let st = parse_stats(line);
        let n = |k: &str| st.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| panic!("no {k} in {line}"));
        (n("discarded_close"), n("discarded_copy"))
    };
    let mut before = (0, 0);
    let mut readers = Vec::new();
    for (api, how, events, fails) in
        [("inotify", "efault", 20, 3), ("fanotify", "efault", 20, 3), ("fanotify", "emfile", 20, 3), ("inotify", "close", 20, 0), ("fanotify", "close", 20, 0)]
    {
        let child = Command::new(helper("fsg-undelivered"))
            .args([api, how, dir, &events.to_string(), &fails.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start fsg-undelivered");
        let pid = child.id();
        let out = child.wait_with_output().unwrap();
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "fsg-undelivered {api} {how}: {}", out.status);
        let words = parse_stats(&format!("stats: {line}"));
        let read: u64 = words["read"].parse().unwrap();
        let failed: u64 = words["failed"].parse().unwrap();
        let discarded = if how == "close" { (events, 0) } else { (0, fails) };
        assert_eq!((read, failed), (events - discarded.0 - discarded.1, fails), "{api} {how}: {line}");
        sleep(Duration::from_millis(500));
        // SAFETY: a signal to the child we started.
        unsafe { libc::kill(g.pid() as i32, libc::SIGUSR1) };
        let now = counted(&g.wait_stderr("stats:", Duration::from_secs(30)));
        assert_eq!((now.0 - before.0, now.1 - before.1), discarded, "{api} {how}: discarded (at close, copy failed)");
        before = now;
        readers.push((pid, read, api, how));
    }
    let (records, stderr) = g.stop();
    for (pid, read, api, how) in readers {
        let mine = records.iter().filter(|r| s(r, "tracer.pid") == pid).count() as u64;
        assert_eq!(mine, read, "{api} {how}: one record per event the reader got");
    }
    let exit = stderr.iter().rev().find(|l| l.contains(" records")).expect("the exit line");
    assert!(exit.contains("49 events dequeued but not delivered: 40 at close"), "{exit}");
    assert!(busy_tables(&stderr).is_empty(), "tables not empty: {:?}", busy_tables(&stderr));
}

/// `top` stopped while a reader gets `n` events, more than the ring buffer
/// holds: the kernel counts the records it drops by group, and top puts them
/// on the tracer whose records name that group. Every event the reader read
/// is an event or a loss of its row, and its losses are the run's.
pub fn top_counts_ring_losses_for_their_tracer(backend: &str, n: u64) {
    let dir = test_dir("top-lost");
    let files = two_files(&dir);
    let _queue = Sysctl::set("/proc/sys/fs/inotify/max_queued_events", &(n + 1024).to_string());
    let reader = Reader::start(&dir, &[]);
    let pid = reader.pid();
    let out = dir.with_extension("top.json");
    let g = Gadget::spawn_into(&["top", "-o", "json", "--interval", "0.5", "--backend", backend, "--tracer-pid", &pid.to_string()], &out);
    let signal = |sig| {
        // SAFETY: signals a child this test started.
        assert_eq!(unsafe { libc::kill(g.pid() as i32, sig) }, 0);
    };
    signal(libc::SIGSTOP);
    modify_events(&files, n);
    let (read, overflows) = reader.finish_drained();
    assert_eq!(overflows, 0);
    signal(libc::SIGCONT);
    let row = |s: &Value| s["tracers"].as_array().and_then(|rows| rows.iter().find(|r| r["tracer"]["pid"] == pid).cloned());
    let counted = |s: &Value| row(s).map(|t| t["total_events"].as_u64().unwrap_or(0) + t["total_lost"].as_u64().unwrap_or(0));
    super::wait_json_line(&out, &format!("{read} events read, all counted"), Duration::from_secs(120), |s| counted(s) == Some(read));
    g.stop_bytes();
    let total = super::json_lines(&out).pop().expect("no summary");
    assert_eq!(total["scope"], "total", "{total}");
    let t = row(&total).unwrap_or_else(|| panic!("the reader is not among the tracers: {total}"));
    let lost = total["lost"]["ringbuf"].as_u64().unwrap();
    assert!(lost > 0, "the ring buffer held {read} events while top was stopped: {total}");
    assert_eq!(t["lost"].as_u64(), Some(lost), "{t}");
    assert_eq!(t["events"].as_u64().unwrap() + lost, read, "{t}");
    println!("FSG-NOTE: top ring losses {backend}: {read} events read, {lost} lost, all on the reader's row");
}

//! End-to-end tests of the tracepoint backend on this host (issue 4): real
//! inotify/fanotify clients, the built binary, exact expectations.
//! Needs root; fails (never passes silently) without it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::common::{helper, require_root};

fn tempdir(tag: &str) -> PathBuf {
    crate::common::test_dir(&format!("tp-{tag}"))
}

struct Gadget {
    child: Child,
    out: mpsc::Receiver<String>,
}

/// Starts fsnotify-gadget with the tracepoint backend, JSON output, and waits
/// for its "tracing with" line.
fn gadget(args: &[&str], timeout_s: u32) -> Gadget {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fsnotify-gadget"))
        .args(["--backend", "tracepoint", "-o", "json", "--timeout", &timeout_s.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fsnotify-gadget");
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[gadget] {line}");
            if line.contains("tracing with") {
                let _ = ready_tx.send(());
            }
        }
    });
    let stdout = child.stdout.take().unwrap();
    let (tx, out) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(30)).expect("fsnotify-gadget did not start tracing");
    Gadget { child, out }
}

impl Gadget {
    /// Waits for the --timeout exit and returns every record.
    fn records(mut self) -> Vec<Value> {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "fsnotify-gadget failed: {status}");
        self.out.iter().map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}"))).collect()
    }
}

fn spawn(cmd: &str, args: &[&str]) -> Child {
    Command::new(cmd).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("spawn {cmd}: {e}"))
}

/// A background client, killed when dropped (also when a test panics).
struct Bg(Child);

impl Bg {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        // SAFETY: the pid is our child's, not yet reaped.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// inotifywait -m on dir, returned once it says its watches are established.
fn inotifywait(dir: &Path) -> Bg {
    let mut c = spawn("inotifywait", &["-m", "-q", dir.to_str().unwrap()]);
    // -q hides "Watches established": give it a moment to set them up instead.
    let mut out = c.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });
    std::thread::sleep(Duration::from_millis(500));
    Bg(c)
}

fn stop(c: Bg) {
    drop(c);
}

fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn pid_of(v: &Value, side: &str) -> Option<u64> {
    v[side]["pid"].as_u64()
}

/// 1. inotifywatch + touch on an existing file.
#[test]
fn inotifywatch_and_touch() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("t1");
    let file = dir.join("existing");
    std::fs::write(&file, b"x").unwrap();
    let g = gadget(&["--inotify-only"], 4);
    let watch = Bg(spawn("inotifywatch", &["-t", "3", dir.to_str().unwrap()]));
    std::thread::sleep(Duration::from_millis(700));
    let touch = Command::new("touch").arg(&file).spawn().unwrap();
    let touch_pid = touch.id() as u64;
    let watch_pid = watch.id() as u64;
    let _ = touch.wait_with_output();
    let recs: Vec<Value> = g.records().into_iter().filter(|r| pid_of(r, "tracer") == Some(watch_pid)).collect();
    drop(watch);
    let masks: Vec<&str> = recs.iter().filter(|r| pid_of(r, "tracee") == Some(touch_pid)).map(|r| s(&r["i_mask"])).collect();
    for r in &recs {
        assert_eq!(s(&r["type"]), "inotify");
        assert_eq!(s(&r["tracer"]["comm"]), "inotifywatch", "{r}");
        assert_eq!(s(&r["tracee"]["comm"]), "touch", "{r}");
        assert_eq!(s(&r["name"]), "existing", "{r}");
        assert!(r["fsnotify_group"].is_string(), "{r}");
        assert!(r["latency_ns"].is_u64(), "{r}");
    }
    // The mask as the kernel queued it (what every backend reports): events
    // on a watched directory's children carry FS_EVENT_ON_CHILD.
    assert_eq!(masks, vec!["IN_OPEN|FS_EVENT_ON_CHILD", "IN_ATTRIB|FS_EVENT_ON_CHILD", "IN_CLOSE_WRITE|FS_EVENT_ON_CHILD"], "records: {recs:?}");
}

/// 2. Many tracees, one tracer, many events per read: each record names its tracee.
#[test]
fn many_tracees_one_tracer() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("t2");
    let g = gadget(&["--inotify-only"], 8);
    let w = inotifywait(&dir);
    let wpid = w.id() as u64;
    let mut loops = Vec::new();
    for k in 0..8 {
        // The shell itself writes (no child process): the tracee is the shell.
        let script = format!("for i in $(seq 1 60); do echo $i > {}/t{k}-$i; done", dir.display());
        loops.push((k, Command::new("sh").arg("-c").arg(script).spawn().unwrap()));
    }
    let mut pids = std::collections::HashMap::new();
    for (k, c) in loops {
        pids.insert(k, c.id() as u64);
        let _ = c.wait_with_output();
    }
    std::thread::sleep(Duration::from_millis(500));
    let recs = g.records();
    stop(w);
    let mine: Vec<&Value> = recs.iter().filter(|r| pid_of(r, "tracer") == Some(wpid)).collect();
    let mut per_tracee = std::collections::HashMap::new();
    for r in &mine {
        let name = s(&r["name"]);
        let k: u64 = name.trim_start_matches('t').split('-').next().unwrap().parse().unwrap_or_else(|_| panic!("name {name}"));
        assert_eq!(pid_of(r, "tracee"), Some(pids[&k]), "record for {name} names the wrong tracee: {r}");
        *per_tracee.entry(k).or_insert(0) += 1;
    }
    // echo > new file: IN_CREATE, IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE for each of 60 files.
    for k in 0..8 {
        assert_eq!(per_tracee.get(&k).copied().unwrap_or(0), 60 * 4, "tracee {k}: {:?}", per_tracee);
    }
}

/// 3. Two tracers on one directory: each record goes to the tracer that read it.
#[test]
fn two_tracers_same_directory() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("t3");
    let g = gadget(&["--inotify-only"], 4);
    let a = inotifywait(&dir);
    let b = inotifywait(&dir);
    let (apid, bpid) = (a.id() as u64, b.id() as u64);
    let out = run("sh", &["-c", &format!("echo 1 > {0}/shared; touch {0}/shared", dir.display())]);
    assert!(out.status.success());
    let recs = g.records();
    stop(a);
    stop(b);
    let of = |pid| recs.iter().filter(|r| pid_of(r, "tracer") == Some(pid) && s(&r["name"]) == "shared").collect::<Vec<_>>();
    let (ra, rb) = (of(apid), of(bpid));
    // echo >: CREATE OPEN MODIFY CLOSE_WRITE; touch: OPEN ATTRIB CLOSE_WRITE.
    assert_eq!(ra.len(), 7, "{ra:?}");
    assert_eq!(rb.len(), 7, "{rb:?}");
    let group = |v: &Vec<&Value>| v.iter().map(|r| s(&r["fsnotify_group"]).to_string()).collect::<std::collections::HashSet<_>>();
    let (ga, gb) = (group(&ra), group(&rb));
    assert_eq!(ga.len(), 1);
    assert_eq!(gb.len(), 1);
    assert_ne!(ga, gb, "the two tracers have their own groups");
    let masks = |v: &Vec<&Value>| v.iter().map(|r| s(&r["i_mask"]).to_string()).collect::<Vec<_>>();
    assert_eq!(masks(&ra), masks(&rb));
}

/// 4. fanotify: fatrace, and permission events answered by fsg-fanotify-perm.
#[test]
fn fanotify_fatrace_and_permission_answers() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("t4");
    let target = dir.join("read-me");
    std::fs::write(&target, b"data").unwrap();
    let g = gadget(&["--fanotify-only"], 6);
    // fatrace -c: the filesystem of its cwd; its output goes to a pipe (no feedback).
    let fat = Bg(Command::new("fatrace").arg("-c").current_dir(&dir).stdout(Stdio::null()).spawn().unwrap());
    let fat_pid = fat.id() as u64;
    std::thread::sleep(Duration::from_millis(700));
    let cat = Command::new("cat").arg(&target).stdout(Stdio::null()).spawn().unwrap();
    let cat_pid = cat.id() as u64;
    let _ = cat.wait_with_output();

    let pdir = tempdir("t4perm");
    std::fs::write(pdir.join("ok"), b"fine").unwrap();
    std::fs::write(pdir.join("bad"), b"secret").unwrap();
    let ready = pdir.with_extension("ready");
    let perm = Command::new(helper("fsg-fanotify-perm"))
        .args(["--dir", pdir.to_str().unwrap(), "--deny", "bad", "--count", "2", "--ready", ready.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let perm_pid = perm.id() as u64;
    crate::common::wait_ready(&ready, "fsg-fanotify-perm");
    let ok = Command::new("cat").arg(pdir.join("ok")).output().unwrap();
    let bad_child = Command::new("cat").arg(pdir.join("bad")).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let bad_pid = bad_child.id() as u64;
    let bad = bad_child.wait_with_output().unwrap();
    let ok_out = perm.wait_with_output().unwrap();
    assert!(ok.status.success());
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Operation not permitted"), "{bad:?}");
    let helper_lines = String::from_utf8_lossy(&ok_out.stdout).to_string();
    assert!(helper_lines.contains("/bad deny"), "{helper_lines}");

    let recs = g.records();
    stop(fat);
    let tpath = target.to_str().unwrap();
    let fat_recs: Vec<&Value> = recs.iter().filter(|r| pid_of(r, "tracer") == Some(fat_pid) && pid_of(r, "tracee") == Some(cat_pid)).collect();
    assert!(!fat_recs.is_empty(), "no fatrace record for cat");
    for r in &fat_recs {
        assert_eq!(s(&r["type"]), "fanotify");
        assert_eq!(s(&r["tracer"]["comm"]), "fatrace");
        assert_eq!(r["fa_pid"].as_u64(), Some(cat_pid));
    }
    // Before its exec the child still has the test thread's comm: look at the file read.
    let read: Vec<&&Value> = fat_recs.iter().filter(|r| s(&r["name"]) == tpath).collect();
    assert!(read.iter().any(|r| s(&r["fa_mask"]).contains("FAN_OPEN")), "{fat_recs:?}");
    for r in read {
        assert_eq!(s(&r["tracee"]["comm"]), "cat", "{r}");
    }

    let resp: Vec<&Value> = recs.iter().filter(|r| s(&r["type"]) == "fa_resp" && pid_of(r, "tracer") == Some(perm_pid)).collect();
    assert_eq!(resp.len(), 2, "{resp:?}");
    let okp = pdir.join("ok");
    let badp = pdir.join("bad");
    let allow = resp.iter().find(|r| s(&r["fa_response"]) == "allow").expect("an allow answer");
    let deny = resp.iter().find(|r| s(&r["fa_response"]) == "deny").expect("a deny answer");
    assert_eq!(s(&allow["name"]), okp.to_str().unwrap());
    assert_eq!(s(&deny["name"]), badp.to_str().unwrap());
    assert_eq!(pid_of(deny, "tracee"), Some(bad_pid));
    assert_eq!(s(&deny["tracee"]["comm"]), "cat");
    assert_eq!(s(&deny["tracer"]["comm"]), "fsg-fanotify-pe");
    assert!(s(&deny["fa_mask"]).contains("FAN_OPEN_PERM"));
    let perm_events: Vec<&Value> = recs.iter().filter(|r| s(&r["type"]) == "fanotify" && pid_of(r, "tracer") == Some(perm_pid)).collect();
    assert_eq!(perm_events.len(), 2, "{perm_events:?}");
}

/// 5. Every filter flag.
#[test]
fn filters() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("t5");
    let a = inotifywait(&dir);
    let b = inotifywait(&dir);
    let (apid, bpid) = (a.id() as u64, b.id() as u64);
    let fat = Bg(Command::new("fatrace").arg("-c").current_dir(&dir).stdout(Stdio::null()).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(700));
    let work = |tag: &str| {
        let c = Command::new("sh").arg("-c").arg(format!("echo x > {}/{tag}", dir.display())).spawn().unwrap();
        let pid = c.id() as u64;
        let _ = c.wait_with_output();
        pid
    };
    let check = |args: &[&str], tag: &str, pred: &dyn Fn(&Value) -> bool| -> (Vec<Value>, u64) {
        let g = gadget(args, 3);
        let pid = work(tag);
        let recs = g.records();
        for r in &recs {
            assert!(pred(r), "{args:?} let through {r}");
        }
        (recs, pid)
    };
    let (recs, _) = check(&["--inotify-only"], "f-ino", &|r| s(&r["type"]) == "inotify");
    assert!(recs.iter().any(|r| s(&r["name"]) == "f-ino"));
    let (recs, _) = check(&["--fanotify-only"], "f-fan", &|r| s(&r["type"]) != "inotify");
    assert!(recs.iter().any(|r| s(&r["name"]).ends_with("/f-fan")), "{recs:?}");
    let tpid = std::process::id().to_string();
    let (recs, _) = check(&["--tracer-pid", &apid.to_string()], "f-tracer", &|r| pid_of(r, "tracer") == Some(apid));
    assert!(recs.iter().any(|r| s(&r["name"]) == "f-tracer"));
    // The group of tracer b, learned from a record.
    let (recs, _) = check(&["--tracer-pid", &bpid.to_string(), "--inotify-only"], "f-learn", &|_| true);
    let group = recs.iter().find_map(|r| r["fsnotify_group"].as_str().map(str::to_string)).expect("a group");
    let (recs, _) = check(&["--tracer-group", &group], "f-group", &|r| r["fsnotify_group"].as_str() == Some(group.as_str()));
    assert!(recs.iter().any(|r| s(&r["name"]) == "f-group" && pid_of(r, "tracer") == Some(bpid)), "{recs:?}");
    assert!(!recs.iter().any(|r| pid_of(r, "tracer") == Some(apid)));
    // --tracee-pid: a shell started before the gadget, told to write after it started.
    let gate = dir.join("gate");
    let sh = Command::new("sh")
        .arg("-c")
        .arg(format!("while [ ! -e {0} ]; do sleep 0.05; done; echo y > {1}/f-tracee", gate.display(), dir.display()))
        .spawn()
        .unwrap();
    let shpid = sh.id() as u64;
    let g = gadget(&["--tracee-pid", &shpid.to_string()], 3);
    std::fs::write(&gate, b"").unwrap();
    let _ = sh.wait_with_output();
    work("f-other");
    let recs = g.records();
    assert!(recs.iter().any(|r| s(&r["name"]) == "f-tracee"), "{recs:?}");
    for r in &recs {
        assert_eq!(pid_of(r, "tracee"), Some(shpid), "{r}");
    }
    let _ = tpid;
    stop(a);
    stop(b);
    stop(fat);
}

/// 6. A tracer whose inotify fd existed before the gadget started.
#[test]
fn tracer_started_before_the_gadget() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("t6");
    let w = inotifywait(&dir);
    let wpid = w.id() as u64;
    std::thread::sleep(Duration::from_millis(300));
    let g = gadget(&["--inotify-only"], 3);
    let out = run("touch", &[dir.join("late").to_str().unwrap()]);
    assert!(out.status.success());
    let recs = g.records();
    stop(w);
    let mine: Vec<&Value> = recs.iter().filter(|r| pid_of(r, "tracer") == Some(wpid)).collect();
    let masks: Vec<&str> = mine.iter().map(|r| s(&r["i_mask"])).collect();
    assert_eq!(masks, vec!["IN_CREATE", "IN_OPEN|FS_EVENT_ON_CHILD", "IN_ATTRIB|FS_EVENT_ON_CHILD", "IN_CLOSE_WRITE|FS_EVENT_ON_CHILD"], "{mine:?}");
    for r in mine {
        assert_eq!(s(&r["tracee"]["comm"]), "touch");
        assert_eq!(s(&r["tracer"]["comm"]), "inotifywait");
        assert!(r["fsnotify_group"].is_string());
    }
}

/// One `--fanotify-only` run whose JSON goes to `out` while fatrace watches that
/// filesystem, `cat`ting `target` three times once it traces: its pid and records.
fn traced_into_file(out: &Path, target: &Path, extra: &[&str]) -> (u64, Vec<u64>, Vec<Value>) {
    let file = std::fs::File::create(out).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fsnotify-gadget"))
        .args(["--backend", "tracepoint", "-o", "json", "--fanotify-only", "--timeout", "3"])
        .args(extra)
        .stdout(file)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fsnotify-gadget");
    let pid = child.id() as u64;
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok);
    assert!(stderr.by_ref().any(|l| l.contains("tracing with")), "fsnotify-gadget did not start tracing");
    std::thread::spawn(move || stderr.for_each(|l| eprintln!("[gadget] {l}")));
    let mut cats = Vec::new();
    for _ in 0..3 {
        let mut cat = Command::new("cat").arg(target).stdout(Stdio::null()).spawn().unwrap();
        cats.push(cat.id() as u64);
        assert!(cat.wait().unwrap().success());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(out).unwrap();
    (pid, cats, text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}"))).collect())
}

/// How many events fatrace printed for each pid: its lines are `comm(pid): TYPES path`.
fn fatrace_lines_per_pid(log: &str) -> std::collections::HashMap<u64, usize> {
    let mut n = std::collections::HashMap::new();
    for l in log.lines() {
        let pid = l.split_once("): ").and_then(|(head, _)| head.rsplit_once('(')).and_then(|(_, p)| p.parse().ok());
        if let Some(pid) = pid {
            *n.entry(pid).or_default() += 1;
        }
    }
    n
}

/// The tool's own file activity is left out (issue 15): with fatrace watching the
/// filesystem the records are written to, each record would cause a fatrace event
/// and so another record, without end. By default none has the tool as its
/// tracee, and each cat of the workload has exactly as many records read by
/// fatrace as fatrace itself printed for it; --include-self brings the tool's back.
#[test]
fn own_activity_is_left_out_unless_asked() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("self");
    let target = dir.join("read-me");
    std::fs::write(&target, b"data").unwrap();
    let log = std::env::temp_dir().join(format!("fsg-fatrace-{}.log", std::process::id()));
    let mut fat = Command::new("fatrace").args(["-c", "-s", "12", "-o"]).arg(&log).current_dir(&dir).stdout(Stdio::null()).spawn().unwrap();
    let fat_pid = fat.id() as u64;
    std::thread::sleep(Duration::from_millis(700));

    let (me, cats, recs) = traced_into_file(&dir.join("default.json"), &target, &[]);
    let own: Vec<&Value> = recs.iter().filter(|r| pid_of(r, "tracee") == Some(me)).collect();
    assert!(own.is_empty(), "{} of {} records have the tool as tracee: {:?}", own.len(), recs.len(), own.first());

    let (me, _, with_self) = traced_into_file(&dir.join("self.json"), &target, &["--include-self"]);
    let own = with_self.iter().filter(|r| pid_of(r, "tracee") == Some(me) && pid_of(r, "tracer") == Some(fat_pid)).count();
    assert!(own > 0, "--include-self: no record has the tool as tracee ({} records)", with_self.len());
    eprintln!("own activity: {own} of {} records with --include-self", with_self.len());

    assert!(fat.wait().unwrap().success(), "fatrace -s did not end cleanly");
    let printed = fatrace_lines_per_pid(&std::fs::read_to_string(&log).unwrap());
    let _ = std::fs::remove_file(&log);
    for cat in cats {
        let ours = recs.iter().filter(|r| pid_of(r, "tracer") == Some(fat_pid) && pid_of(r, "tracee") == Some(cat)).count();
        let theirs = printed.get(&cat).copied().unwrap_or(0);
        assert!(theirs > 0, "fatrace printed nothing for cat {cat}");
        assert_eq!(ours, theirs, "cat {cat}: {ours} records read by fatrace, fatrace printed {theirs}");
    }
}

#[test]
fn fatrace_lines_are_counted_per_pid() {
    let n = fatrace_lines_per_pid("cat(12): O /tmp/a\ncat(12): RC /tmp/a (x)\nsh(7): W /x\nnoise\n");
    assert_eq!((n[&12], n[&7], n.len()), (2, 1, 2));
}

/// Two inotify instances in one process, each with its watch as wd 1 (on the
/// first and second directory given), read as events come; creates the ready file.
const TWO_INSTANCES: &str = r#"
import ctypes, os, select, sys
libc = ctypes.CDLL(None, use_errno=True)
fds = []
for d in sys.argv[1:3]:
    fd = libc.inotify_init()
    assert libc.inotify_add_watch(fd, d.encode(), 0x100) == 1  # IN_CREATE
    fds.append(fd)
open(sys.argv[3], "w").close()
while True:
    for fd in select.select(fds, [], [])[0]:
        os.read(fd, 65536)
"#;

/// `path` on inotify records (issue 15): the watch's path joined with the name;
/// for a watch on a file, whose events have no name, the file's path; and two
/// instances of one process that both have a wd 1 each get their own watch's.
#[test]
fn inotify_records_have_the_full_path() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("paths");
    let (a, b, file) = (dir.join("a"), dir.join("b"), dir.join("watched-file"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::fs::write(&file, b"x").unwrap();
    let g = gadget(&["--inotify-only"], 5);
    let ready = dir.join("ready");
    let py = Bg(spawn("python3", &["-c", TWO_INSTANCES, a.to_str().unwrap(), b.to_str().unwrap(), ready.to_str().unwrap()]));
    crate::common::wait_ready(&ready, "the two-instance reader");
    let watch = inotifywait(&file);
    // coreutils' `tail -f` follows a file through an inotify watch on it.
    let tail = Bg(Command::new("tail").args(["-f", "-n", "0"]).arg(&file).stdout(Stdio::null()).spawn().unwrap());
    crate::common::wait_for_notify_fd(tail.id(), "inotify");
    std::fs::write(a.join("one"), b"").unwrap();
    std::fs::write(b.join("two"), b"").unwrap();
    std::fs::OpenOptions::new().append(true).open(&file).unwrap().write_all(b"more\n").unwrap();
    let (py_pid, watch_pid, tail_pid) = (py.id() as u64, watch.id() as u64, tail.id() as u64);
    let recs = g.records();
    stop(py);
    stop(watch);
    stop(tail);
    let path_of = |tracer: u64, name: &str| -> Vec<String> {
        recs.iter()
            .filter(|r| pid_of(r, "tracer") == Some(tracer) && s(&r["name"]) == name)
            .map(|r| s(&r["path"]).to_string())
            .collect()
    };
    let one = path_of(py_pid, "one");
    let two = path_of(py_pid, "two");
    assert!(!one.is_empty() && one.iter().all(|p| Path::new(p) == a.join("one")), "{one:?}");
    assert!(!two.is_empty() && two.iter().all(|p| Path::new(p) == b.join("two")), "{two:?}");
    for (who, pid) in [("inotifywait", watch_pid), ("tail -f", tail_pid)] {
        let on_file = path_of(pid, "");
        assert!(!on_file.is_empty() && on_file.iter().all(|p| Path::new(p) == file), "{who}: {on_file:?}");
    }
    // Only this test's readers: the machine's others (an earlier test's exiting
    // watcher, with its IN_IGNORED) are not about these watches.
    let ours = |r: &&serde_json::Value| [Some(py_pid), Some(watch_pid), Some(tail_pid)].contains(&pid_of(r, "tracer"));
    let stale: Vec<_> = recs.iter().filter(ours).filter(|r| r["path_stale"] != false).collect();
    assert!(stale.is_empty(), "nothing moved, nothing is stale: {stale:#?}");
}

/// `-F` on any field (issue 15): a regex on the tracee's comm and one on the
/// path, a negation and a number (the tracee's uid, which leaves out a touch
/// by nobody), all at once, keep exactly what they say.
#[test]
fn field_filters_keep_what_they_say() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("field-filters");
    let g = gadget(&["--inotify-only", "-F", "tracee.comm~^tou", "-F", "path~/keep-[0-9]$", "-F", "i_mask!~IN_OPEN", "-F", "tracee.uid<=0"], 4);
    let w = inotifywait(&dir);
    for name in ["keep-1", "drop-1", "keep-2"] {
        run("touch", &[dir.join(name).to_str().unwrap()]);
    }
    // Kept by every condition but the number: nobody's touch.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let as_nobody = run("setpriv", &["--reuid", "65534", "--regid", "65534", "--clear-groups", "touch", dir.join("keep-4").to_str().unwrap()]);
    assert!(as_nobody.status.success(), "{as_nobody:?}");
    std::fs::write(dir.join("keep-3"), b"written by the test, not by touch").unwrap();
    let recs = g.records();
    stop(w);
    assert!(!recs.is_empty(), "no record passed");
    let names: std::collections::BTreeSet<&str> = recs.iter().map(|r| s(&r["name"])).collect();
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["keep-1", "keep-2"], "{recs:#?}");
    for r in &recs {
        assert_eq!(s(&r["tracee"]["comm"]), "touch", "{r}");
        assert!(!s(&r["i_mask"]).contains("IN_OPEN"), "{r}");
        assert!(s(&r["path"]).ends_with(s(&r["name"])), "{r}");
    }
}

/// Comm equalities, which the kernel applies (issue 15): only the records whose
/// tracer and tracee have exactly those comms, with another watcher and another
/// writer on the same directory; their records, which each equality alone would
/// leave out, happen (an unfiltered trace shows them) but never reach user space.
#[test]
fn comm_equalities_keep_exactly_those_comms() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("comm-filters");
    let ready = dir.join("ready");
    let other = Bg(spawn("python3", &["-c", TWO_INSTANCES, dir.to_str().unwrap(), dir.to_str().unwrap(), ready.to_str().unwrap()]));
    crate::common::wait_ready(&ready, "the python watcher");
    let all = crate::common::Gadget::start(&["--backend", "tracepoint", "--inotify-only"]);
    let g = crate::common::Gadget::start(&[
        "--backend", "tracepoint", "--inotify-only", "--stats", "3600", "-F", "tracer.comm==inotifywait", "-F", "tracee.comm==touch",
    ]);
    let w = inotifywait(&dir);
    run("touch", &[dir.join("by-touch").to_str().unwrap()]);
    std::fs::write(dir.join("by-the-test"), b"").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let (recs, stderr) = g.stop();
    let (everything, _) = all.stop();
    stop(w);
    stop(other);
    assert!(recs.iter().any(|r| s(&r["name"]) == "by-touch"), "{recs:#?}");
    for r in &recs {
        assert_eq!((s(&r["tracer"]["comm"]), s(&r["tracee"]["comm"])), ("inotifywait", "touch"), "{r}");
    }
    let seen = |tracer: &str, tracee_is_touch: bool, name: &str| {
        everything.iter().any(|r| s(&r["tracer"]["comm"]) == tracer && (s(&r["tracee"]["comm"]) == "touch") == tracee_is_touch && s(&r["name"]) == name)
    };
    assert!(seen("python3", true, "by-touch"), "the python watcher's record of touch: {everything:#?}");
    assert!(seen("inotifywait", false, "by-the-test"), "inotifywait's record of the test's write: {everything:#?}");
    assert_eq!(crate::common::filtered_in_user_space(&stderr), 0, "the kernel let through what the comms exclude: {stderr:?}");
}

/// A watched directory moved under `inotifywait -r` (issue 15): records of
/// files made in it afterwards have its new path, never the old one.
#[test]
fn a_moved_directory_gives_its_new_path() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = tempdir("moved");
    let (old, new) = (dir.join("old"), dir.join("new"));
    std::fs::create_dir(&old).unwrap();
    let g = gadget(&["--inotify-only"], 5);
    let mut c = spawn("inotifywait", &["-m", "-r", dir.to_str().unwrap()]);
    let err = c.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("Watches established"))), "inotifywait -r did not start");
    let w = Bg(c);
    std::fs::write(old.join("before"), b"").unwrap();
    std::fs::rename(&old, &new).unwrap();
    std::fs::write(new.join("after"), b"").unwrap();
    let recs = g.records();
    let tracer = w.id() as u64;
    stop(w);
    let paths = |name: &str| -> Vec<String> {
        recs.iter().filter(|r| pid_of(r, "tracer") == Some(tracer) && s(&r["name"]) == name).map(|r| s(&r["path"]).to_string()).collect()
    };
    let after = paths("after");
    assert!(!after.is_empty(), "no record of the file made after the move: {recs:#?}");
    for p in &after {
        assert_eq!(Path::new(p), new.join("after"), "a record after the move has the old path");
    }
}

/// Each side's cgroup v2 id, and `-F tracee.cgroup_id==` / `-F tracer.cgroup_id==` applied
/// in the kernel (issues 14, 15): tests/common/cgroups.rs, also run in the VMs.
#[test]
fn cgroup_ids_on_both_sides() {
    let _alone = crate::alone(module_path!());
    require_root();
    crate::common::cgroups::cgroup_ids_on_both_sides("tracepoint");
}

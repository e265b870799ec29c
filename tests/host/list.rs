//! Host tests of `fsnotify-gadget list`, run by `cargo test` as root (they
//! read other processes' fdinfo and load the task_file iterator). They need
//! inotifywait (inotify-tools) and fatrace.
//!
//! Every test holds LOCK: some open notify fds in this very process, and a
//! child spawned by another test at the same time would inherit them.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{require_root, Client};

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

struct Output {
    stdout: String,
    stderr: String,
}

/// Runs `fsnotify-gadget list ARGS` with extra environment; asserts success.
fn list_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_fsnotify-gadget"))
        .arg("list")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run fsnotify-gadget list");
    let o = Output { stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: String::from_utf8_lossy(&out.stderr).into() };
    assert!(out.status.success(), "list {args:?} failed ({}): stdout:\n{}\nstderr:\n{}", out.status, o.stdout, o.stderr);
    o
}

fn list(args: &[&str]) -> Output {
    list_env(args, &[])
}

/// `list -o json ARGS`: every line parsed, and stderr.
fn list_json_env(args: &[&str], env: &[(&str, &str)]) -> (Vec<Value>, String) {
    let mut a = vec!["-o", "json"];
    a.extend_from_slice(args);
    let o = list_env(&a, env);
    let rows = o.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("invalid JSON {l:?}: {e}"))).collect();
    (rows, o.stderr)
}

fn list_json(args: &[&str]) -> Vec<Value> {
    let (rows, stderr) = list_json_env(args, &[]);
    assert!(!stderr.contains("iterator is unavailable"), "the task_file iterator should work here: {stderr}");
    rows
}

fn rows<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|r| r["row"] == kind).collect()
}

fn group(row: &Value) -> u64 {
    let s = row["fsnotify_group"].as_str().unwrap_or_else(|| panic!("no fsnotify_group in {row}"));
    assert!(s.starts_with("0x") && s[2..].chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)), "{s}");
    u64::from_str_radix(&s[2..], 16).unwrap()
}

/// `inotifywait -m ARGS`, once it has said its watches are established.
fn inotifywait(args: &[&str]) -> Client {
    let mut child = Command::new("inotifywait")
        .arg("-m")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start inotifywait (inotify-tools)");
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("Watches established") => break,
            Some(Ok(_)) => {}
            _ => panic!("inotifywait {args:?} did not establish its watches"),
        }
    }
    // Keep draining its stderr so it never blocks.
    std::thread::spawn(move || for _ in lines {});
    Client::from_child(child)
}

/// The fds of `pid` whose link is `anon_inode:<what>`.
fn notify_fds(pid: u32, link: &str) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy() == link))
        .map(|e| e.file_name().to_string_lossy().parse().unwrap())
        .collect();
    out.sort();
    out
}

fn test_dir(name: &str) -> PathBuf {
    crate::common::test_dir(&format!("list-{name}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn inotifywait_tree_shows_pid_comm_fd_watches_and_paths() {
    let _alone = crate::alone(module_path!());
    require_root();
    let _l = lock();
    let root = test_dir("tree");
    let mut dirs: Vec<PathBuf> = ["a", "a/b", "c", "c/with space", "c/new\nline"].iter().map(|d| root.join(d)).collect();
    dirs.push(root.clone());
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(root.join("a/file"), b"x").unwrap();
    let w = inotifywait(&["-r", s(&root)]);
    let fds = notify_fds(w.pid(), "anon_inode:inotify");
    assert_eq!(fds.len(), 1, "inotifywait holds one inotify fd");

    let pid = w.pid().to_string();
    let all = list_json(&["--pid", &pid, "--watches"]);
    let inst = rows(&all, "instance");
    assert_eq!(inst.len(), 1, "{all:#?}");
    let i = inst[0];
    assert_eq!(i["pid"], w.pid());
    assert_eq!(i["comm"], "inotifywait");
    assert_eq!(i["user"], "root");
    assert_eq!(i["fd"], fds[0]);
    assert_eq!(i["kind"], "inotify");
    assert_eq!(i["watches"], dirs.len());
    assert!(group(i) >= 0xff00_0000_0000_0000, "a kernel address: {i}");
    let mntns: u64 = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap().to_string_lossy()[5..].trim_end_matches(']').parse().unwrap();
    assert_eq!(i["mntns_id"], mntns);
    assert!(i.get("fa_flags").is_none());

    let watches = rows(&all, "watch");
    let mut paths: Vec<&str> = watches.iter().map(|r| r["path"].as_str().unwrap()).collect();
    paths.sort();
    let mut want: Vec<&str> = dirs.iter().map(|d| s(d)).collect();
    want.sort();
    assert_eq!(paths, want);
    for r in &watches {
        assert_eq!(r["pid"], w.pid());
        assert_eq!(r["fd"], fds[0]);
        assert_eq!(r["kind"], "inotify");
        assert!(r["wd"].as_u64().unwrap() >= 1);
        assert!(r["mask"].as_str().unwrap().contains("IN_ALL_EVENTS"), "{r}");
        assert_eq!(r["ignored_mask"], "0");
        let meta = std::fs::metadata(r["path"].as_str().unwrap()).unwrap();
        assert_eq!(r["ino"], std::os::unix::fs::MetadataExt::ino(&meta));
        let dev = std::os::unix::fs::MetadataExt::dev(&meta);
        assert_eq!(r["dev"], format!("{}:{}", libc::major(dev), libc::minor(dev)));
    }
    let summary = rows(&all, "summary");
    assert_eq!(summary.len(), 1);
    assert!(summary[0]["users"].as_array().unwrap().iter().any(|u| u["user"] == "root" && u["inotify_watches"].as_u64().unwrap() >= 5));

    // The same in columns: the row, every path, and the summary.
    let o = list(&["--pid", &pid, "--watches"]);
    let row = o.stdout.lines().find(|l| l.starts_with(&format!("{pid} "))).unwrap_or_else(|| panic!("{}", o.stdout));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[..5], &[pid.as_str(), "inotifywait", "root", &fds[0].to_string(), "inotify"], "{row}");
    assert_eq!(cells[5], i["fsnotify_group"].as_str().unwrap());
    assert_eq!(cells[6], "6");
    for d in &dirs {
        // Untrusted names are escaped: the newline is `\n`, on one row.
        let shown = s(d).replace('\n', "\\n");
        assert!(o.stdout.lines().any(|l| l.ends_with(&shown)), "{} missing:\n{}", d.display(), o.stdout);
    }
    assert!(o.stdout.contains("INOTIFY_WATCHES/MAX"), "{}", o.stdout);
    drop(w);
    std::fs::remove_dir_all(&root).unwrap();
}

/// `fanotify flags:%x event-flags:%x` of an fd.
fn fdinfo_fa_flags(pid: u32, fd: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
    let line = text.lines().find(|l| l.starts_with("fanotify flags:")).unwrap();
    let v: Vec<u64> = line.split_whitespace().skip(1).map(|kv| u64::from_str_radix(kv.split_once(':').unwrap().1, 16).unwrap()).collect();
    (v[0], v[1])
}

/// fatrace writing to `out`, once it has its marks (on every mount or filesystem): it and its fd.
fn fatrace(out: &Path) -> (Client, u32) {
    let child = Command::new("fatrace").args(["-o", s(out)]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start fatrace");
    let fa = Client::from_child(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fds = notify_fds(fa.pid(), "anon_inode:[fanotify]");
        if let Some(&fd) = fds.first() {
            let text = std::fs::read_to_string(format!("/proc/{}/fdinfo/{fd}", fa.pid())).unwrap_or_default();
            if text.lines().filter(|l| l.starts_with("fanotify ")).count() >= 2 {
                return (fa, fd);
            }
        }
        assert!(Instant::now() < deadline, "fatrace never added its marks");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fatrace_appears_with_its_init_flags() {
    let _alone = crate::alone(module_path!());
    require_root();
    let _l = lock();
    let dir = test_dir("fatrace");
    let (fa, fd) = fatrace(&dir.join("out"));
    let (flags, f_flags) = fdinfo_fa_flags(fa.pid(), fd);
    let pid = fa.pid().to_string();
    let all = list_json(&["--pid", &pid, "--watches"]);
    let inst = rows(&all, "instance");
    assert_eq!(inst.len(), 1, "{all:#?}");
    let i = inst[0];
    assert_eq!(i["comm"], "fatrace");
    assert_eq!(i["fd"], fd);
    assert_eq!(i["kind"], "fanotify");
    assert_eq!(i["fa_flags"], flags);
    assert_eq!(i["fa_f_flags"], f_flags);
    assert!(group(i) >= 0xff00_0000_0000_0000);
    let marks = rows(&all, "watch");
    assert_eq!(i["watches"], marks.len());
    assert!(!marks.is_empty());
    for m in &marks {
        assert_eq!(m["kind"], "fanotify");
        assert!(m["wd"].is_null());
        let p = m["path"].as_str().unwrap();
        assert!(p.starts_with("(filesystem ") || p.starts_with("(mount ") || p.starts_with('/'), "{m}");
    }
    // The names are the kernel's own flags (fdinfo, above) decoded here,
    // from fanotify_init(2)'s table, not by the code under test.
    let want = init_flag_names(flags);
    assert_eq!(i["fa_flags_names"], want.as_str(), "fdinfo flags:{flags:x}");
    assert_eq!(fa_flags_cell(&list(&["--pid", &pid]).stdout, fa.pid(), fd), want);
    drop(fa);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// fanotify_init(2)'s `flags` by name, as its man page and linux/fanotify.h
/// give them. `FAN_CLASS_NOTIF` is 0: the class is the two bits 0x0c.
const FANOTIFY_INIT_FLAGS: [(u64, &str); 15] = [
    (0x0000_0001, "FAN_CLOEXEC"),
    (0x0000_0002, "FAN_NONBLOCK"),
    (0x0000_0004, "FAN_CLASS_CONTENT"),
    (0x0000_0008, "FAN_CLASS_PRE_CONTENT"),
    (0x0000_0010, "FAN_UNLIMITED_QUEUE"),
    (0x0000_0020, "FAN_UNLIMITED_MARKS"),
    (0x0000_0040, "FAN_ENABLE_AUDIT"),
    (0x0000_0080, "FAN_REPORT_PIDFD"),
    (0x0000_0100, "FAN_REPORT_TID"),
    (0x0000_0200, "FAN_REPORT_FID"),
    (0x0000_0400, "FAN_REPORT_DIR_FID"),
    (0x0000_0800, "FAN_REPORT_NAME"),
    (0x0000_1000, "FAN_REPORT_TARGET_FID"),
    (0x0000_2000, "FAN_REPORT_FD_ERROR"),
    (0x0000_4000, "FAN_REPORT_MNT"),
];

/// What `list` shows for a group's init flags: `FAN_CLASS_NOTIF` when the
/// class bits are 0, then every set flag in bit order, `|`-separated.
fn init_flag_names(flags: u64) -> String {
    let mut names: Vec<&str> = FANOTIFY_INIT_FLAGS.iter().filter(|(bit, _)| flags & bit != 0).map(|(_, n)| *n).collect();
    if flags & 0x0c == 0 {
        names.insert(0, "FAN_CLASS_NOTIF");
    }
    let known = FANOTIFY_INIT_FLAGS.iter().fold(0, |all, (bit, _)| all | bit);
    assert_eq!(flags & !known, 0, "a flag fanotify_init(2) does not list: {flags:#x}");
    names.join("|")
}

/// The FA_FLAGS cell of the instance row of `pid`'s `fd` in `list`'s columns.
fn fa_flags_cell(table: &str, pid: u32, fd: u32) -> String {
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    let col = header.iter().position(|h| *h == "FA_FLAGS").unwrap_or_else(|| panic!("no FA_FLAGS column:\n{table}"));
    // Every cell before FA_FLAGS is one word (comm, user and the container
    // columns of these processes have no space).
    let row = lines
        .map(|l| l.split_whitespace().collect::<Vec<&str>>())
        .find(|c| c.len() > col && c[0] == pid.to_string() && c[3] == fd.to_string())
        .unwrap_or_else(|| panic!("no row of {pid} fd {fd}:\n{table}"));
    row[col].to_string()
}

fn inotify_fd(cloexec: bool) -> OwnedFd {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::inotify_init1(if cloexec { libc::IN_CLOEXEC } else { 0 }) };
    assert!(fd >= 0, "inotify_init1: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh fd we own.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn add_watch(fd: &OwnedFd, p: &Path) {
    let c = std::ffi::CString::new(s(p)).unwrap();
    // SAFETY: valid fd and C string.
    let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_CREATE | libc::IN_DELETE) };
    assert!(wd >= 0, "inotify_add_watch: {}", std::io::Error::last_os_error());
}

/// Instance rows of `pid`, by fd.
fn instances_of(all: &[Value], pid: u32) -> Vec<&Value> {
    let mut v: Vec<&Value> = rows(all, "instance").into_iter().filter(|r| r["pid"] == pid).collect();
    v.sort_by_key(|r| r["fd"].as_u64());
    v
}

#[test]
fn two_instances_and_an_inherited_fd_are_counted_once() {
    let _alone = crate::alone(module_path!());
    require_root();
    let _l = lock();
    let dir = test_dir("shared");
    for d in ["x", "y", "z"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let own = inotify_fd(true); // this process only: 2 watches
    add_watch(&own, &dir.join("x"));
    add_watch(&own, &dir.join("y"));
    let shared = inotify_fd(false); // inherited by the child: 1 watch
    add_watch(&shared, &dir.join("z"));
    // SAFETY: dup of a valid fd; the result is checked.
    let dup = unsafe { libc::dup(shared.as_raw_fd()) };
    assert!(dup >= 0);
    // SAFETY: a fresh fd we own.
    let dup = unsafe { OwnedFd::from_raw_fd(dup) };
    let (shared_fd, dup_fd) = (shared.as_raw_fd(), dup.as_raw_fd());
    let mut cmd = Command::new("sleep");
    cmd.arg("60");
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // The child keeps the shared instance, under fd 50 too, and closes the dup.
            if libc::dup2(shared_fd, 50) < 0 || libc::close(dup_fd) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let child = Client::from_child(cmd.spawn().unwrap());
    let me = std::process::id();
    let ours = notify_fds(me, "anon_inode:inotify");
    assert_eq!(ours, {
        let mut v = vec![own.as_raw_fd() as u32, shared_fd as u32, dup_fd as u32];
        v.sort();
        v
    });
    assert_eq!(notify_fds(child.pid(), "anon_inode:inotify"), vec![shared_fd as u32, 50]);

    // With the iterator (grouped by address; also as it runs where kallsyms
    // hides addresses: every file written, matched by pid and fd) and
    // without it (kcmp).
    for env in [&[][..], &[("FSG_LIST_NO_KALLSYMS", "1")][..], &[("FSG_LIST_NO_ITER", "1")][..]] {
        let (mine, stderr) = list_json_env(&["--pid", &me.to_string()], env);
        let mine = instances_of(&mine, me);
        assert_eq!(mine.len(), 2, "two instances, the dup not counted twice ({env:?}): {mine:#?}");
        let (own_row, shared_row) = if mine[0]["fd"] == own.as_raw_fd() { (mine[0], mine[1]) } else { (mine[1], mine[0]) };
        assert_eq!(own_row["fd"], own.as_raw_fd());
        assert_eq!(own_row["watches"], 2);
        assert_eq!(own_row["holders"].as_array().unwrap().len(), 1);
        assert_eq!(shared_row["fd"], shared_fd.min(dup_fd));
        assert_eq!(shared_row["watches"], 1);
        let mut holders: Vec<(u64, u64)> =
            shared_row["holders"].as_array().unwrap().iter().map(|h| (h["pid"].as_u64().unwrap(), h["fd"].as_u64().unwrap())).collect();
        holders.sort();
        let mut want = vec![(me as u64, shared_fd as u64), (me as u64, dup_fd as u64), (child.pid() as u64, shared_fd as u64), (child.pid() as u64, 50)];
        want.sort();
        assert_eq!(holders, want, "{env:?}");

        let (theirs, _) = list_json_env(&["--pid", &child.pid().to_string()], env);
        let theirs = instances_of(&theirs, child.pid());
        assert_eq!(theirs.len(), 1, "the child holds one instance through two fds: {theirs:#?}");
        assert_eq!(theirs[0]["fd"], shared_fd.min(50));
        assert_eq!(theirs[0]["comm"], "sleep");

        // The whole machine: the shared instance is one row.
        let (all, _) = list_json_env(&[], env);
        let holding = rows(&all, "instance")
            .into_iter()
            .filter(|r| r["holders"].as_array().unwrap().iter().any(|h| h["pid"] == child.pid()))
            .count();
        assert_eq!(holding, 1, "{env:?}");

        if env.first().is_none_or(|e| e.0 != "FSG_LIST_NO_ITER") {
            assert!(!stderr.contains("iterator is unavailable"), "{stderr}");
            let (g_own, g_shared) = (group(own_row), group(shared_row));
            assert!(g_own >= 0xff00_0000_0000_0000 && g_shared >= 0xff00_0000_0000_0000);
            assert_ne!(g_own, g_shared);
            assert_eq!(group(theirs[0]), g_shared, "parent and child share the group");
        } else {
            assert!(mine.iter().all(|r| r["fsnotify_group"].is_null()));
            assert!(stderr.contains("FSG_LIST_NO_ITER"), "the empty address is explained: {stderr}");
            let o = list_env(&["--pid", &me.to_string()], env);
            let table = o.stdout.lines().skip(1).take_while(|l| !l.is_empty());
            assert!(table.clone().count() == 2 && table.into_iter().all(|l| l.split_whitespace().nth(5) == Some("-")), "{}", o.stdout);
        }
    }
    drop(child);
    drop((own, shared, dup));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn deleted_directory_and_exiting_processes() {
    let _alone = crate::alone(module_path!());
    require_root();
    let _l = lock();
    let dir = test_dir("deleted");
    let gone = dir.join("gone");
    std::fs::create_dir_all(&gone).unwrap();
    std::fs::create_dir_all(dir.join("kept")).unwrap();
    // Holding the directory keeps its inode, so the watch outlives the rmdir.
    let hold = std::fs::File::open(&gone).unwrap();
    let w = inotifywait(&[s(&gone), s(&dir.join("kept"))]);
    std::fs::remove_dir(&gone).unwrap();
    let pid = w.pid().to_string();
    let all = list_json(&["--pid", &pid, "--watches"]);
    let watches = rows(&all, "watch");
    let paths: Vec<&str> = watches.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&s(&dir.join("kept"))), "{paths:?}");
    assert!(
        paths.iter().any(|p| *p == "(deleted)" || *p == format!("{} (deleted)", s(&gone))),
        "the deleted directory's watch is marked: {paths:?}"
    );
    let o = list(&["--pid", &pid, "--watches"]);
    assert!(o.stdout.contains("(deleted)"), "{}", o.stdout);
    drop(hold);

    // Processes that come and go while the listing runs.
    let churn = Client::from_child(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "i=0; while [ $i -lt 300 ]; do timeout 0.05 inotifywait -qq -m -r {d} & i=$((i+1)); sleep 0.01; done; wait",
                d = s(&dir)
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..8 {
        let (all, _) = list_json_env(&["--watches"], &[]);
        assert!(!rows(&all, "summary").is_empty());
        list(&["--watches"]);
    }
    drop(churn);
    drop(w);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fanotify_inode_and_mount_marks_are_named() {
    let _alone = crate::alone(module_path!());
    require_root();
    let _l = lock();
    let dir = test_dir("famarks");
    // SAFETY: plain syscalls; results are checked.
    let fd = unsafe { libc::fanotify_init(libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC, (libc::O_RDONLY | libc::O_LARGEFILE) as u32) };
    assert!(fd >= 0, "fanotify_init: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh fd we own.
    let fa = unsafe { OwnedFd::from_raw_fd(fd) };
    let c = std::ffi::CString::new(s(&dir)).unwrap();
    for (flags, mask) in [(libc::FAN_MARK_ADD, libc::FAN_OPEN | libc::FAN_EVENT_ON_CHILD), (libc::FAN_MARK_ADD | libc::FAN_MARK_MOUNT, libc::FAN_CLOSE_WRITE)] {
        // SAFETY: valid fd and C string.
        let r = unsafe { libc::fanotify_mark(fa.as_raw_fd(), flags, mask, libc::AT_FDCWD, c.as_ptr()) };
        assert_eq!(r, 0, "fanotify_mark: {}", std::io::Error::last_os_error());
    }
    // A second group, of other flags: content class, no marks.
    let (content_flags, content_f_flags) = (libc::FAN_CLASS_CONTENT | libc::FAN_NONBLOCK | libc::FAN_UNLIMITED_QUEUE | libc::FAN_REPORT_TID, libc::O_RDWR as u32);
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::fanotify_init(content_flags, content_f_flags) };
    assert!(fd >= 0, "fanotify_init: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh fd we own.
    let content = unsafe { OwnedFd::from_raw_fd(fd) };
    let me = std::process::id().to_string();
    let all = list_json(&["--pid", &me, "--watches"]);
    let table = list(&["--pid", &me]).stdout;
    let inst: Vec<&Value> = rows(&all, "instance").into_iter().filter(|r| r["fd"] == fa.as_raw_fd()).collect();
    assert_eq!(inst.len(), 1, "{all:#?}");
    assert_eq!(inst[0]["kind"], "fanotify");
    assert_eq!(inst[0]["watches"], 2);
    // The flags this test passed, as the kernel's fdinfo shows them and by
    // their names in fanotify_init(2).
    // (The kernel adds O_LARGEFILE, 0x8000, to the event flags of a 64-bit caller.)
    assert_eq!(fdinfo_fa_flags(std::process::id(), fa.as_raw_fd() as u32), (0x1, 0x8000), "FAN_CLOEXEC; O_RDONLY|O_LARGEFILE");
    assert_eq!((&inst[0]["fa_flags"], &inst[0]["fa_f_flags"]), (&Value::from(0x1), &Value::from(0x8000)));
    assert_eq!(inst[0]["fa_flags_names"], "FAN_CLASS_NOTIF|FAN_CLOEXEC");
    assert_eq!(fa_flags_cell(&table, std::process::id(), fa.as_raw_fd() as u32), "FAN_CLASS_NOTIF|FAN_CLOEXEC");
    let other: Vec<&Value> = rows(&all, "instance").into_iter().filter(|r| r["fd"] == content.as_raw_fd()).collect();
    assert_eq!(other.len(), 1, "{all:#?}");
    assert_eq!(fdinfo_fa_flags(std::process::id(), content.as_raw_fd() as u32), (0x116, 0x8002), "O_RDWR|O_LARGEFILE");
    assert_eq!((&other[0]["fa_flags"], &other[0]["fa_f_flags"]), (&Value::from(0x116), &Value::from(0x8002)));
    assert_eq!(other[0]["fa_flags_names"], "FAN_NONBLOCK|FAN_CLASS_CONTENT|FAN_UNLIMITED_QUEUE|FAN_REPORT_TID");
    assert_eq!(
        fa_flags_cell(&table, std::process::id(), content.as_raw_fd() as u32),
        "FAN_NONBLOCK|FAN_CLASS_CONTENT|FAN_UNLIMITED_QUEUE|FAN_REPORT_TID"
    );
    drop(content);
    let marks: Vec<&Value> = rows(&all, "watch").into_iter().filter(|r| r["fd"] == fa.as_raw_fd()).collect();
    let paths: Vec<&str> = marks.iter().map(|m| m["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&s(&dir)), "the inode mark resolves to its directory: {paths:?}");
    assert!(paths.iter().any(|p| p.starts_with("(mount 0x")), "the mount mark is named: {paths:?}");
    assert!(marks.iter().any(|m| m["mask"].as_str().unwrap().contains("FAN_OPEN")));
    drop(fa);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn watch_in_another_mount_namespace_resolves_through_the_holder() {
    let _alone = crate::alone(module_path!());
    require_root();
    let _l = lock();
    let dir = test_dir("mntns");
    // A tmpfs mounted only in the watcher's private mount namespace.
    let script = format!("mount -t tmpfs fsg-list-test {d} && mkdir {d}/inner && exec inotifywait -m {d}/inner", d = s(&dir));
    let mut child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start unshare (util-linux)");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let w = Client::from_child(child);
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("Watches established"))), "the watcher did not start");
    let pid = w.pid().to_string();
    let all = list_json(&["--pid", &pid, "--watches"]);
    let inst = rows(&all, "instance");
    assert_eq!(inst.len(), 1, "{all:#?}");
    let theirs: u64 = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap().to_string_lossy()[5..].trim_end_matches(']').parse().unwrap();
    let ours: u64 = std::fs::read_link("/proc/self/ns/mnt").unwrap().to_string_lossy()[5..].trim_end_matches(']').parse().unwrap();
    assert_ne!(theirs, ours);
    assert_eq!(inst[0]["mntns_id"], theirs);
    let watches = rows(&all, "watch");
    assert_eq!(watches.len(), 1);
    assert_eq!(watches[0]["path"], format!("{}/inner", s(&dir)), "{}", watches[0]);
    assert!(!dir.join("inner").exists(), "the tmpfs is not mounted here");
    drop(w);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Held as user argv[2]: one inotify instance with one watch in the process,
/// and five with 100 watches each sent over a unix socket (SCM_RIGHTS) and
/// closed by the sender, never received: in flight, in no process's fd table.
const IN_FLIGHT: &str = r#"
import ctypes, os, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
d, uid = sys.argv[1], int(sys.argv[2])
os.setgid(uid); os.setuid(uid)
shown = libc.inotify_init()
assert libc.inotify_add_watch(shown, d.encode(), 0x100) >= 1
a, b = socket.socketpair()
for i in range(5):
    fd = libc.inotify_init()
    for j in range(100):
        assert libc.inotify_add_watch(fd, f"{d}/{j}".encode(), 0x100) >= 1, ctypes.get_errno()
    socket.send_fds(a, [b"x"], [fd])
    os.close(fd)
print("ready", flush=True)
time.sleep(60)
"#;

/// `list` counts what the fds in /proc show; the kernel also counts instances
/// no fd table holds. The summary gives the kernel's own counts beside them
/// and says how many more it has (issue 18, item 7).
///
/// The counts are the whole machine's for one user, so that user is one
/// only this test uses (not nobody, whom other tests, of this binary or of
/// another run beside it, hold inotify fds as), and the test runs alone.
#[test]
fn kernel_counts_show_instances_in_flight() {
    let _alone = crate::alone(module_path!());
    let _g = lock();
    require_root();
    let uid = 3_000_000_000 + std::process::id();
    let named = Command::new("getent").args(["passwd", &uid.to_string()]).output().expect("getent (libc-bin)");
    assert!(!named.status.success(), "uid {uid} is an account's: {named:?}");
    let dir = std::env::temp_dir().join(format!("fsg-inflight-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for j in 0..100 {
        std::fs::create_dir_all(dir.join(j.to_string())).unwrap();
    }
    let mut child = Command::new("python3").arg("-c").arg(IN_FLIGHT).arg(&dir).arg(uid.to_string()).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let rows = list_json(&[]);
    let text = list_env(&[], &[]).stdout;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let summary = rows.iter().find(|r| r["row"] == "summary").expect("a summary row");
    let user = summary["users"].as_array().unwrap().iter().find(|u| u["uid"] == uid).expect("the user in the summary");
    // No name: the uid stands for it.
    assert_eq!(user["user"], uid.to_string(), "{user}");
    assert_eq!((user["inotify_instances"].as_u64(), user["inotify_watches"].as_u64()), (Some(1), Some(1)), "{user}");
    let kernel = &user["kernel"];
    assert_eq!((kernel["inotify_instances"].as_u64(), kernel["inotify_watches"].as_u64()), (Some(6), Some(501)), "{user}");
    assert_eq!((user["unseen_inotify_instances"].as_u64(), user["unseen_inotify_watches"].as_u64()), (Some(5), Some(500)));
    assert!(
        text.lines().any(|l| l.starts_with(&format!("note: the kernel counts 6 inotify instances and 501 watches for {uid}:"))
            && l.contains("5 and 500 more")),
        "{text}"
    );
}

/// `list --path` (issue 15): "who watches this?". A watch on the file itself (tail -f
/// style), one on its directory, a recursive watcher's, a fanotify mount mark and fatrace's
/// marks each cover it, each with the events it would get; a path not created yet is covered
/// by its directory's watches; a path nobody watches says so.
#[test]
fn who_watches_a_path() {
    let _alone = crate::alone(module_path!());
    require_root();
    let _l = lock();
    let dir = test_dir("covers");
    let (sub, lone) = (dir.join("sub"), dir.join("lone"));
    std::fs::create_dir(&sub).unwrap();
    std::fs::create_dir(&lone).unwrap();
    let file = sub.join("nginx.conf");
    std::fs::write(&file, b"x").unwrap();
    let covers = |path: &Path| -> Vec<Value> {
        let (all, stderr) = list_json_env(&["--path", s(path)], &[]);
        eprintln!("{stderr}");
        all.into_iter().filter(|r| r["row"] == "cover").collect()
    };
    let got = |r: &Value| -> Vec<String> { r["gets"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect() };

    let nobody = Command::new(env!("CARGO_BIN_EXE_fsnotify-gadget")).args(["list", "--path", s(&lone.join("x"))]).output().unwrap();
    assert!(nobody.status.success() && nobody.stdout.is_empty(), "{nobody:?}");
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no inotify watch or fanotify mark covers"), "{nobody:?}");

    let on_dir = inotifywait(&[s(&sub)]);
    let on_file = inotifywait(&["-e", "modify", s(&file)]);
    let tree = inotifywait(&["-r", s(&dir)]);
    // SAFETY: plain syscalls; results are checked.
    let fd = unsafe { libc::fanotify_init(libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC, libc::O_RDONLY as u32) };
    assert!(fd >= 0, "fanotify_init: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh fd we own.
    let fa = unsafe { OwnedFd::from_raw_fd(fd) };
    let c = std::ffi::CString::new(s(&dir)).unwrap();
    // SAFETY: valid fd and C string.
    let r = unsafe { libc::fanotify_mark(fa.as_raw_fd(), libc::FAN_MARK_ADD | libc::FAN_MARK_MOUNT, libc::FAN_OPEN | libc::FAN_CLOSE_WRITE, libc::AT_FDCWD, c.as_ptr()) };
    assert_eq!(r, 0, "fanotify_mark: {}", std::io::Error::last_os_error());

    let rows = covers(&file);
    let of = |pid: u32| -> Vec<&Value> { rows.iter().filter(|r| r["pid"] == pid).collect() };
    let d = of(on_dir.pid());
    assert_eq!(d.len(), 1, "{rows:#?}");
    assert_eq!(d[0]["on"], "parent");
    assert_eq!(got(d[0]), ["open", "modify", "close_write", "create", "delete", "move", "attrib"]);
    let f = of(on_file.pid());
    assert_eq!((f.len(), &f[0]["on"], got(f[0])), (1, &Value::from("itself"), vec!["modify".to_string()]), "{rows:#?}");
    let t = of(tree.pid());
    assert_eq!(t.len(), 1, "only the -r watch on sub covers the file: {rows:#?}");
    assert_eq!(t[0]["on"], "parent");
    let m = of(std::process::id());
    assert_eq!(m.len(), 1, "{rows:#?}");
    assert_eq!((&m[0]["on"], got(m[0])), (&Value::from("mount"), vec!["open".to_string(), "close_write".to_string()]));

    // Not there yet: its directory's watchers would see it created, the file's watcher not at all.
    let new = covers(&sub.join("not-yet"));
    assert!(new.iter().any(|r| r["pid"] == on_dir.pid() && got(r).contains(&"create".to_string())), "{new:#?}");
    assert!(new.iter().all(|r| r["pid"] != on_file.pid()), "{new:#?}");

    let (fat, _) = fatrace(&dir.join("fatrace.out"));
    let rows = covers(&file);
    let fr: Vec<&Value> = rows.iter().filter(|r| r["pid"] == fat.pid()).collect();
    assert_eq!(fr.len(), 1, "one of fatrace's marks covers the file: {rows:#?}");
    assert!(fr[0]["on"] == "filesystem" || fr[0]["on"] == "mount", "{rows:#?}");
    assert!(got(fr[0]).contains(&"open".to_string()), "{rows:#?}");
    let cols = list(&["--path", s(&file)]);
    assert!(cols.stdout.contains("fatrace") && cols.stdout.contains(" itself ") && cols.stdout.contains(" parent "), "{}", cols.stdout);
    drop((fat, fa, on_dir, on_file, tree));
    std::fs::remove_dir_all(&dir).unwrap();
}

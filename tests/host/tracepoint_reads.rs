//! The tracepoint backend reads each event from the kernel's object when the
//! tracer's read frees it (issue 13): what that changes, checked on this host
//! with small python3 clients whose every syscall is known. Needs root.
//!
//! - a read already blocked before the tool started is seen;
//! - readv and a child reading right after fork are reads like any other;
//! - bytes a process reads from a regular file are never taken for events;
//! - a permission request is answered `allow` when its daemon dies, and a
//!   notification-only group never yields an answer record;
//! - an fd received over SCM_RIGHTS or taken with pidfd_getfd is read like
//!   one the reader opened; one read of 17,000 events (FAN_UNLIMITED_QUEUE),
//!   and a read over 256 KiB that ends with the overflow, are printed whole;
//! - `--tracee-pid` leaves the exit line about what was printed;
//! - a read through io_uring (IORING_OP_READ, run by an io-wq worker) and a
//!   32-bit (ia32) reader are reads like any other.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{require_root, s, test_dir, with, Gadget};
use serde_json::Value;

const PRELUDE: &str = r#"
import ctypes, os, struct, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
def ready(): open(sys.argv[1], 'w').close()
"#;

fn python(script: &str, args: &[&str]) -> Child {
    Command::new("python3")
        .arg("-c")
        .arg(format!("{PRELUDE}{script}"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 (scripts/install-deps.sh installs it)")
}

fn wait_file(p: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", p.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the task is blocked in read(2) (syscall 0) on this kernel.
fn wait_blocked_in_read(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sc = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        if sc.split(' ').next() == Some("0") {
            return;
        }
        assert!(Instant::now() < deadline, "pid {pid} never blocked in read(2): {sc:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn output(c: Child) -> String {
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "client failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn tracer_records(records: &[Value], pid: u32) -> Vec<&Value> {
    records.iter().filter(|r| r["tracer"]["pid"].as_u64() == Some(pid as u64)).collect()
}

/// Reads one event from an inotify watch on DIR (IN_CREATE), with read(2)
/// or readv(2), or in a child forked right after the watch is set.
const ONE_READ: &str = r#"
d, mode = sys.argv[2], sys.argv[3]
fd = libc.inotify_init()
assert libc.inotify_add_watch(fd, d.encode(), 0x100) >= 1
if mode == 'fork':
    pid = os.fork()
    if pid == 0:
        n = len(os.read(fd, 4096))
        print(os.getpid(), n, flush=True)
        os._exit(0)
    ready()
    os.waitpid(pid, 0)
    sys.exit(0)
ready()
if mode == 'readv':
    n = os.readv(fd, [bytearray(4096)])
else:
    n = len(os.read(fd, 4096))
print(os.getpid(), n, flush=True)
"#;

/// The pid that read, and the bytes it read (one IN_CREATE of `name`).
fn check_one_read(out: &str, name: &str) -> u32 {
    let mut it = out.split_whitespace();
    let pid: u32 = it.next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no pid in {out:?}"));
    let n: usize = it.next().and_then(|p| p.parse().ok()).unwrap();
    assert_eq!(n, 16 + (name.len() / 16 + 1) * 16, "one event read: {out:?}");
    pid
}

fn one_read(mode: &str, blocked_first: bool) {
    require_root();
    let dir = test_dir(&format!("tp13-{mode}-{blocked_first}"));
    let ready = dir.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let (client, g) = if blocked_first {
        let c = python(ONE_READ, &[ready.to_str().unwrap(), dir.to_str().unwrap(), mode]);
        wait_file(&ready);
        wait_blocked_in_read(c.id());
        (c, Gadget::start(&["--backend", "tracepoint", "--inotify-only"]))
    } else {
        let g = Gadget::start(&["--backend", "tracepoint", "--inotify-only"]);
        let c = python(ONE_READ, &[ready.to_str().unwrap(), dir.to_str().unwrap(), mode]);
        wait_file(&ready);
        (c, g)
    };
    let parent = client.id();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(dir.join("first-event"), b"x").unwrap();
    let reader = check_one_read(&output(client), "first-event");
    std::thread::sleep(Duration::from_millis(300));
    let (records, stderr) = g.stop();
    let mine = tracer_records(&records, reader);
    // printed + lost = read: the reader read exactly one event.
    assert_eq!(mine.len(), 1, "{records:#?}");
    let r = mine[0];
    assert_eq!(r["i_mask"], "IN_CREATE", "{r}");
    assert_eq!(r["name"], "first-event", "{r}");
    assert_eq!(s(r, "tracee.pid").as_u64(), Some(std::process::id() as u64), "{r}");
    assert!(r["fsnotify_group"].is_string(), "the group is known: {r}");
    if mode == "fork" {
        assert_ne!(reader, parent);
        assert_eq!(s(r, "tracer.ppid").as_u64(), Some(parent as u64), "{r}");
    }
    assert!(stderr.iter().any(|l| l.contains("none lost")), "{stderr:?}");
}

#[test]
fn reader_blocked_before_the_start_gets_its_first_event() {
    let _alone = crate::alone(module_path!());
    one_read("read", true);
}

#[test]
fn readv_is_a_read() {
    let _alone = crate::alone(module_path!());
    one_read("readv", false);
}

#[test]
fn child_reading_right_after_fork() {
    let _alone = crate::alone(module_path!());
    one_read("fork", false);
}

/// The injection of issue 13: an unprivileged reader closes its inotify fd
/// and reads a regular file of its own, holding fake inotify records, under
/// the same fd number. Its real event is printed; the fake one never is.
#[test]
fn fd_reuse_injection_as_nobody_yields_no_record() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("tp13-inject");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let ready = dir.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let script = r#"
d = sys.argv[2]
os.setgid(65534); os.setuid(65534)
fd = libc.inotify_init()
assert libc.inotify_add_watch(fd, d.encode(), 0x100) >= 1
ready()
while not os.path.exists(d + '/go'): time.sleep(0.02)
assert len(os.read(fd, 4096)) > 0
fake = struct.pack('iIII', 1, 0x400, 0, 16) + b'FAKE-EVENT'.ljust(16, b'\0')
with open(d + '/fake', 'wb') as f: f.write(fake)
os.close(fd)
fd2 = os.open(d + '/fake', os.O_RDONLY)
assert fd2 == fd, (fd, fd2)
assert os.read(fd2, 4096) == fake
print(os.getpid(), flush=True)
"#;
    let g = Gadget::start(&["--backend", "tracepoint", "--inotify-only"]);
    let c = python(script, &[ready.to_str().unwrap(), dir.to_str().unwrap()]);
    wait_file(&ready);
    std::fs::write(dir.join("go"), b"").unwrap();
    let pid: u32 = output(c).trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (records, _) = g.stop();
    let mine = tracer_records(&records, pid);
    assert!(mine.iter().any(|r| r["name"] == "go" && s(r, "tracer.uid") == 65534), "the real event: {records:#?}");
    assert!(with(&records, "name", "FAKE-EVENT").is_empty(), "{records:#?}");
    assert_eq!(mine.len(), 1, "{mine:#?}");
}

/// A fanotify permission daemon that reads one request and never answers.
const SILENT_DAEMON: &str = r#"
d = sys.argv[2]
fd = libc.fanotify_init(0x4, os.O_RDONLY)  # FAN_CLASS_CONTENT
assert fd >= 0
assert libc.fanotify_mark(fd, 1, 0x10000 | 0x08000000, -100, d.encode()) == 0  # FAN_OPEN_PERM on children
ready()
buf = os.read(fd, 4096)
print(len(buf), flush=True)
time.sleep(60)
"#;

/// A daemon killed with a request pending: the kernel allows it, and so
/// does the record.
#[test]
fn daemon_killed_with_a_request_pending_is_allow() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("tp13-daemon");
    let file = dir.join("guarded");
    std::fs::write(&file, b"x").unwrap();
    let ready = dir.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let g = Gadget::start(&["--backend", "tracepoint", "--fanotify-only"]);
    let mut daemon = python(SILENT_DAEMON, &[ready.to_str().unwrap(), dir.to_str().unwrap()]);
    let daemon_pid = daemon.id();
    wait_file(&ready);
    let cat = Command::new("cat").arg(&file).stdout(Stdio::null()).spawn().unwrap();
    let cat_pid = cat.id();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(daemon.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.trim().parse::<usize>().unwrap() >= 24, "the daemon read the request: {line:?}");
    std::thread::sleep(Duration::from_millis(300));
    daemon.kill().unwrap();
    let _ = daemon.wait();
    let cat = cat.wait_with_output().unwrap();
    assert!(cat.status.success(), "the kernel allows what a dead daemon was asked: {cat:?}");
    std::thread::sleep(Duration::from_millis(300));
    let (records, _) = g.stop();
    let path = file.to_str().unwrap();
    let resp: Vec<&Value> = with(&records, "name", path).into_iter().filter(|r| r["type"] == "fa_resp").collect();
    assert_eq!(resp.len(), 1, "{records:#?}");
    assert_eq!(resp[0]["fa_response"], "allow", "{}", resp[0]);
    assert_eq!(s(resp[0], "tracee.pid").as_u64(), Some(cat_pid as u64));
    assert_eq!(s(resp[0], "tracer.pid").as_u64(), Some(daemon_pid as u64), "{}", resp[0]);
    let req: Vec<&Value> = with(&records, "name", path).into_iter().filter(|r| r["type"] == "fanotify").collect();
    assert_eq!(req.len(), 1, "the request was delivered: {records:#?}");
}

/// Writers that exit with files open under a notification-only group
/// (fatrace): their events merge and are freed as they exit. None of that is
/// a permission answer.
#[test]
fn notification_group_never_yields_an_answer() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("tp13-notif");
    let g = Gadget::start(&["--backend", "tracepoint", "--fanotify-only"]);
    let fat = Command::new("fatrace").arg("-c").current_dir(&dir).stdout(Stdio::null()).spawn().unwrap();
    let fat = crate::common::Client::from_child(fat);
    crate::common::wait_for_notify_fd(fat.pid(), "fanotify");
    std::thread::sleep(Duration::from_millis(300));
    let writers: Vec<Child> = (0..20)
        .map(|i| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("exec 3>>{0}/w{i}; echo a >&3; echo b >&3; kill -9 $$", dir.display()))
                .spawn()
                .unwrap()
        })
        .collect();
    for mut w in writers {
        let _ = w.wait();
    }
    std::thread::sleep(Duration::from_millis(500));
    let fat_pid = fat.pid();
    let (records, _) = g.stop();
    fat.stop();
    let seen = tracer_records(&records, fat_pid).into_iter().filter(|r| s(r, "name").as_str().is_some_and(|n| n.contains("/w"))).count();
    assert!(seen >= 20, "fatrace's events on the writers' files: {records:#?}");
    let answers: Vec<&Value> = records.iter().filter(|r| r["type"] == "fa_resp").collect();
    assert!(answers.is_empty(), "{answers:#?}");
}

/// With --tracee-pid the exit line counts what was printed, and nothing else.
#[test]
fn tracee_pid_counters_describe_what_was_printed() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("tp13-tracee");
    let gate = dir.join("gate");
    let w = crate::common::Client::start("inotifywait", &["-m", "-q", dir.to_str().unwrap()]);
    crate::common::wait_for_notify_fd(w.pid(), "inotify");
    let sh = Command::new("sh")
        .arg("-c")
        .arg(format!("while [ ! -e {0} ]; do sleep 0.05; done; for i in 1 2 3 4 5; do echo y > {1}/t$i; done", gate.display(), dir.display()))
        .spawn()
        .unwrap();
    let shpid = sh.id();
    let g = Gadget::start(&["--backend", "tracepoint", "--inotify-only", "--tracee-pid", &shpid.to_string()]);
    std::fs::write(&gate, b"").unwrap();
    let _ = sh.wait_with_output();
    for i in 0..5 {
        std::fs::write(dir.join(format!("other{i}")), b"z").unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let (records, stderr) = g.stop();
    w.stop();
    assert!(!records.is_empty());
    for r in &records {
        assert_eq!(s(r, "tracee.pid").as_u64(), Some(shpid as u64), "{r}");
    }
    // inotifywait's events from the shell (the gate's are the test's own).
    assert_eq!(records.iter().filter(|r| s(r, "name").as_str().is_some_and(|n| n.starts_with('t'))).count(), records.len());
    let last = stderr.iter().rev().find(|l| l.contains(" records")).expect("an exit line");
    assert_eq!(last, &format!("fsnotify-gadget: {} records, none lost", records.len()), "{stderr:?}");
}

/// Prints `PID READ-EVENTS` after reading, from an inotify fd the script did not
/// open itself, every event of DIR (IN_CREATE) once `DIR/go` exists: `scm` receives
/// it over a Unix socket (SCM_RIGHTS) from a child that made it after the fork;
/// `pidfd` takes it from such a child with pidfd_getfd(2).
const FOREIGN_FD: &str = r#"
import socket
d, how = sys.argv[2], sys.argv[3]
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
child = os.fork()
if child == 0:
    fd = libc.inotify_init()
    assert libc.inotify_add_watch(fd, d.encode(), 0x100) >= 1
    if how == 'scm':
        socket.send_fds(b, [b'x'], [fd])
    else:
        b.send(struct.pack('i', fd))
    time.sleep(60)
    os._exit(0)
if how == 'scm':
    _, fds, _, _ = socket.recv_fds(a, 1, 1)
    fd = fds[0]
else:
    (theirs,) = struct.unpack('i', a.recv(4))
    pidfd = os.pidfd_open(child)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(438), ctypes.c_long(pidfd), ctypes.c_long(theirs), ctypes.c_long(0))  # pidfd_getfd
    assert fd >= 0, ctypes.get_errno()
os.kill(child, 9)
os.waitpid(child, 0)
ready()
while not os.path.exists(d + '/go'): time.sleep(0.02)
time.sleep(0.2)
buf = os.read(fd, 65536)
n, off = 0, 0
while off < len(buf):
    n += 1
    off += 16 + struct.unpack_from('I', buf, off + 12)[0]
print(os.getpid(), n, flush=True)
"#;

/// A tracer that got its fd from another process, not from inotify_init: its
/// read is followed like any other (printed = read).
/// Runs a client `script` (argv: READY DIR ARGS...) that reads an inotify
/// watch on DIR once `DIR/go` exists and prints `PID EVENTS`; makes three
/// files `TAG-0..2` and the go file, and checks that the tool printed exactly
/// what the one read took (printed = read), in order. Returns those records.
fn three_files_then_go(tag: &str, script: &str, args: &[&str]) -> (u32, Vec<Value>) {
    require_root();
    let dir = test_dir(&format!("tp13-{tag}"));
    let ready = dir.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let g = Gadget::start(&["--backend", "tracepoint", "--inotify-only"]);
    let c = python(script, &[&[ready.to_str().unwrap(), dir.to_str().unwrap()], args].concat());
    wait_file(&ready);
    for i in 0..3 {
        std::fs::write(dir.join(format!("{tag}-{i}")), b"x").unwrap();
    }
    std::fs::write(dir.join("go"), b"").unwrap();
    let out = output(c);
    let mut it = out.split_whitespace().map(|w| w.parse::<u32>().unwrap());
    let (pid, read) = (it.next().unwrap(), it.next().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    let (records, stderr) = g.stop();
    let mine: Vec<Value> = tracer_records(&records, pid).into_iter().cloned().collect();
    assert_eq!(read, 4, "three files and the go file: {out:?}");
    assert_eq!(mine.len() as u32, read, "printed = read: {records:#?}");
    for (i, r) in mine.iter().take(3).enumerate() {
        assert_eq!(r["name"], format!("{tag}-{i}"), "{r}");
        assert_eq!(r["i_mask"], "IN_CREATE", "{r}");
        assert_eq!(s(r, "tracee.pid").as_u64(), Some(std::process::id() as u64), "{r}");
        assert!(r["fsnotify_group"].is_string(), "the group is known: {r}");
    }
    assert!(stderr.iter().any(|l| l.contains("none lost")), "{stderr:?}");
    (pid, mine)
}

fn foreign_fd(how: &str) {
    three_files_then_go(how, FOREIGN_FD, &[how]);
}

#[test]
fn fd_received_over_scm_rights() {
    let _alone = crate::alone(module_path!());
    foreign_fd("scm");
}

#[test]
fn fd_taken_with_pidfd_getfd() {
    let _alone = crate::alone(module_path!());
    foreign_fd("pidfd");
}

/// One read(2) of many events: `fanotify N` reads N FAN_CREATE events of an
/// unlimited queue (FAN_UNLIMITED_QUEUE, reported by directory handle and
/// name) at once; `inotify N` reads a queue of N-1 events and its overflow
/// (max_queued_events is set by the test) in one read over 256 KiB. Prints
/// `PID EVENTS OVERFLOWS BYTES` of that one read.
const BIG_READ: &str = r#"
d, kind, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
if kind == 'fanotify':
    FAN_CLASS_NOTIF, FAN_UNLIMITED_QUEUE, FAN_REPORT_DFID_NAME = 0, 0x10, 0xc00
    fd = libc.fanotify_init(FAN_CLASS_NOTIF | FAN_UNLIMITED_QUEUE | FAN_REPORT_DFID_NAME, os.O_RDONLY)
    assert fd >= 0, ctypes.get_errno()
    assert libc.fanotify_mark(fd, 1, 0x100 | 0x40000000, -100, d.encode()) == 0  # FAN_CREATE | FAN_ONDIR
else:
    fd = libc.inotify_init()
    assert libc.inotify_add_watch(fd, d.encode(), 0x100) >= 1
ready()
while not os.path.exists(d + '/go'): time.sleep(0.02)
time.sleep(0.5)
buf = os.read(fd, 8 << 20)
events = overflows = off = 0
while off < len(buf):
    events += 1
    if kind == 'fanotify':
        off += struct.unpack_from('I', buf, off)[0]
    else:
        if struct.unpack_from('I', buf, off + 4)[0] & 0x4000: overflows += 1
        off += 16 + struct.unpack_from('I', buf, off + 12)[0]
print(os.getpid(), events, overflows, len(buf), flush=True)
"#;

/// Runs BIG_READ, makes `n` files (with `name_len`-byte names), and returns the
/// reader's pid, what its one read held, and what the tool printed and said.
fn big_read(kind: &str, n: usize, name_len: usize) -> (u32, u64, u64, u64, Vec<Value>, Vec<String>) {
    require_root();
    let dir = test_dir(&format!("tp13-big-{kind}"));
    let ready = dir.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let only = if kind == "fanotify" { "--fanotify-only" } else { "--inotify-only" };
    let g = Gadget::start(&["--backend", "tracepoint", only, "--stats", "1"]);
    let c = python(BIG_READ, &[ready.to_str().unwrap(), dir.to_str().unwrap(), kind, &n.to_string()]);
    wait_file(&ready);
    for i in 0..n {
        let name = format!("{i:0>width$}", width = name_len);
        std::fs::File::create(dir.join(name)).unwrap();
    }
    std::fs::write(dir.join("go"), b"").unwrap();
    let out = output(c);
    let v: Vec<u64> = out.split_whitespace().map(|w| w.parse().unwrap()).collect();
    // Let the tool drain what one read freed.
    std::thread::sleep(Duration::from_secs(2));
    let (records, stderr) = g.stop();
    (v[0] as u32, v[1], v[2], v[3], records, stderr)
}

#[test]
fn unlimited_queue_read_of_17000_events() {
    let _alone = crate::alone(module_path!());
    let (pid, events, _, bytes, records, stderr) = big_read("fanotify", 17_000, 8);
    assert!(events >= 17_000, "one read took every create: {events} events, {bytes} bytes");
    let printed = tracer_records(&records, pid).len() as u64;
    let (_, lost) = crate::common::reliability::final_counts(&stderr);
    eprintln!("one read: {events} events, {bytes} bytes; {printed} printed, {lost} lost");
    // 17,000 records of a short name fit the 8 MiB ring buffer: none may be lost.
    assert_eq!((printed, lost), (events, 0), "printed = read ({bytes} bytes)");
}

#[test]
fn overflow_inside_a_read_over_256_kib() {
    let _alone = crate::alone(module_path!());
    // 2048 events of 224 bytes (16 + a 200-byte name, padded) and the overflow: 459 KiB.
    let _queue = crate::common::reliability::Sysctl::set("/proc/sys/fs/inotify/max_queued_events", "2048");
    let (pid, events, overflows, bytes, records, stderr) = big_read("inotify", 2100, 200);
    assert!(bytes > 256 * 1024, "one read over 256 KiB: {bytes} bytes");
    assert_eq!(overflows, 1, "the read ends with the overflow: {events} events");
    let mine = tracer_records(&records, pid);
    let (_, lost) = crate::common::reliability::final_counts(&stderr);
    eprintln!("one read: {events} events, {bytes} bytes; {} printed, {lost} lost", mine.len());
    assert_eq!((mine.len() as u64, lost), (events, 0), "printed = read ({bytes} bytes)");
    let overflow: Vec<&&Value> = mine.iter().filter(|r| r["i_mask"].as_str().is_some_and(|m| m.contains("IN_Q_OVERFLOW"))).collect();
    assert_eq!(overflow.len(), 1, "the overflow is a record: {:#?}", mine.last());
    assert_eq!(overflow[0]["i_wd"], -1, "{}", overflow[0]);
}

/// Reads an inotify watch's queue with one io_uring IORING_OP_READ, through
/// raw io_uring_setup/io_uring_enter and the mmapped rings (no liburing).
/// The read of a blocking inotify fd runs in an io-wq worker of this process.
/// Prints `PID EVENTS` of that one read.
const URING_READ: &str = r#"
d = sys.argv[2]
libc.syscall.restype = ctypes.c_long
fd = libc.inotify_init()
assert libc.inotify_add_watch(fd, d.encode(), 0x100) >= 1
# A number no register of the worker holds by chance: the file comes from the request.
os.dup2(fd, 77); os.close(fd); fd = 77
params = ctypes.create_string_buffer(120)
ring = libc.syscall(425, 4, params)  # io_uring_setup
assert ring >= 0, ctypes.get_errno()
sq_entries, cq_entries = struct.unpack_from('II', params, 0)
# io_sqring_offsets: head tail ring_mask ring_entries flags dropped array; io_cqring_offsets: ... cqes
sq = struct.unpack_from('IIIIIIIIQ', params, 40)
cq = struct.unpack_from('IIIIIIIIQ', params, 80)
sqm = mmap.mmap(ring, sq[6] + sq_entries * 4, offset=0)
cqm = mmap.mmap(ring, cq[5] + cq_entries * 16, offset=0x8000000)
sqes = mmap.mmap(ring, sq_entries * 64, offset=0x10000000)
ready()
while not os.path.exists(d + '/go'): time.sleep(0.02)
buf = ctypes.create_string_buffer(65536)
sqe = struct.pack('BBHiQQIIQ', 22, 0, 0, fd, 0, ctypes.addressof(buf), len(buf), 0, 7)  # IORING_OP_READ
sqes[0:64] = sqe + bytes(64 - len(sqe))
tail = struct.unpack_from('I', sqm, sq[1])[0]
struct.pack_into('I', sqm, sq[6] + 4 * (tail & struct.unpack_from('I', sqm, sq[2])[0]), 0)
struct.pack_into('I', sqm, sq[1], tail + 1)
assert libc.syscall(426, ring, 1, 1, 1, None, 0) == 1, ctypes.get_errno()  # io_uring_enter, GETEVENTS
head = struct.unpack_from('I', cqm, cq[0])[0]
user_data, res, _ = struct.unpack_from('QiI', cqm, cq[5] + 16 * (head & struct.unpack_from('I', cqm, cq[2])[0]))
assert user_data == 7 and res > 0, res
off = events = 0
while off < res:
    off += 16 + struct.unpack_from('I', buf, off + 12)[0]
    events += 1
print(os.getpid(), events, flush=True)
"#;

#[test]
fn io_uring_read_is_a_read() {
    let _alone = crate::alone(module_path!());
    let (pid, records) = three_files_then_go("uring", &format!("import mmap\n{URING_READ}"), &[]);
    for r in &records {
        // The io-wq worker that ran the read is a thread of the reader.
        assert_ne!(s(r, "tracer.tid").as_u64(), Some(pid as u64), "{r}");
    }
}

#[test]
fn ia32_reader_is_a_reader() {
    use std::io::{BufRead, BufReader, Write};
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("tp13-ia32");
    let bin = dir.with_extension("ia32");
    crate::build_ia32(include_str!("ia32_reader.c"), &bin);
    let g = Gadget::start(&["--backend", "tracepoint", "--inotify-only"]);
    let mut c = Command::new(&bin).current_dir(&dir).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    for i in 0..3 {
        std::fs::write(dir.join(format!("ia32-{i}")), b"x").unwrap();
    }
    c.stdin.take().unwrap().write_all(b"g").unwrap();
    let bytes: u32 = lines.next().unwrap().unwrap().parse().unwrap();
    assert!(c.wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    let (records, stderr) = g.stop();
    // Three IN_CREATE events of a 6-byte name: 16 + 16 bytes each.
    assert_eq!(bytes, 3 * 32, "one read took the three events");
    let mine = tracer_records(&records, c.id());
    assert_eq!(mine.len(), 3, "printed = read: {records:#?}");
    for (i, r) in mine.iter().enumerate() {
        assert_eq!(r["name"], format!("ia32-{i}"), "{r}");
        assert_eq!(r["i_mask"], "IN_CREATE", "{r}");
        assert!(r["fsnotify_group"].is_string(), "the group is known: {r}");
    }
    assert!(stderr.iter().any(|l| l.contains("none lost")), "{stderr:?}");
}

/// fsnotifywait --fanotify reports by directory handle and name
/// (FAN_REPORT_DFID_NAME): every record names the entry's full path, as the
/// directory handle resolves and the event's name completes it.
#[test]
fn directory_handle_and_name_events_have_their_path() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("tp13-dfid-name");
    let g = Gadget::start(&["--backend", "tracepoint", "--fanotify-only"]);
    let w = Command::new("fsnotifywait")
        .args(["--fanotify", "-m", "-e", "create", "-e", "delete"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fsnotifywait (inotify-tools, scripts/install-deps.sh)");
    let pid = w.id();
    // fsnotifywait says "Watches established." on stderr when its marks are set.
    let mut err = std::io::BufReader::new(w.stderr.unwrap());
    let mut line = String::new();
    while !line.contains("established") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0, "fsnotifywait ended");
    }
    std::fs::write(dir.join("made-here"), b"x").unwrap();
    std::fs::create_dir(dir.join("sub dir")).unwrap();
    std::fs::remove_file(dir.join("made-here")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let (records, stderr) = g.stop();
    let mine = tracer_records(&records, pid);
    let paths: Vec<(&str, &str)> = mine.iter().map(|r| (r["fa_mask"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or(""))).collect();
    let made = format!("{}/made-here", dir.display());
    let sub = format!("{}/sub dir", dir.display());
    assert!(paths.iter().any(|(m, p)| m.contains("FAN_CREATE") && *p == made), "{paths:?}");
    assert!(paths.iter().any(|(m, p)| m.contains("FAN_CREATE") && m.contains("FAN_ONDIR") && *p == sub), "{paths:?}");
    assert!(paths.iter().any(|(m, p)| m.contains("FAN_DELETE") && *p == made), "{paths:?}");
    assert!(stderr.iter().any(|l| l.contains("none lost")), "{stderr:?}");
}

/// A FAN_REPORT_FID reader reads the events of a file deleted before the
/// read: the file handle no longer opens, so the record's name is unknown
/// (JSON `null`, with `name_unknown` saying why), never an empty string.
const FID_READ: &str = r#"
d = sys.argv[2]
FAN_CLASS_NOTIF, FAN_REPORT_FID = 0, 0x200
fd = libc.fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_FID, os.O_RDONLY)
assert fd >= 0, ctypes.get_errno()
# FAN_CLOSE_WRITE | FAN_EVENT_ON_CHILD on the directory
assert libc.fanotify_mark(fd, 1, 0x8 | 0x08000000, -100, d.encode()) == 0, ctypes.get_errno()
ready()
while not os.path.exists(d + '/go'): time.sleep(0.02)
time.sleep(0.3)
buf = os.read(fd, 65536)
off = events = 0
while off < len(buf):
    off += struct.unpack_from('I', buf, off)[0]
    events += 1
print(os.getpid(), events, flush=True)
"#;

#[test]
fn a_file_handle_that_no_longer_opens_is_an_unknown_name() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("tp18-unknown-name");
    let ready = dir.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let g = Gadget::start(&["--backend", "tracepoint", "--fanotify-only"]);
    let c = python(FID_READ, &[ready.to_str().unwrap(), dir.to_str().unwrap()]);
    wait_file(&ready);
    std::fs::write(dir.join("doomed"), b"x").unwrap();
    std::fs::remove_file(dir.join("doomed")).unwrap();
    std::fs::write(dir.join("go"), b"").unwrap();
    let out = output(c);
    let mut it = out.split_whitespace().map(|w| w.parse::<u32>().unwrap());
    let (pid, read) = (it.next().unwrap(), it.next().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    let (records, stderr) = g.stop();
    let mine = tracer_records(&records, pid);
    assert_eq!((read, mine.len()), (2, 2), "doomed's close and go's: {records:#?}");
    let doomed = &mine[0];
    assert!(doomed["name"].is_null(), "{doomed}");
    assert!(doomed["name_unknown"].as_str().is_some_and(|w| w.contains("file handle")), "{doomed}");
    assert_eq!(mine[1]["name"], format!("{}/go", dir.display()), "{}", mine[1]);
    assert!(mine[1]["name_unknown"].is_null(), "{}", mine[1]);
    assert!(stderr.iter().any(|l| l.contains("none lost")), "{stderr:?}");
}

//! Hostile input end to end (issue 7, items 1 and 5), shared by the host
//! tests (tracepoint backend) and the VM tests (fentry, kprobe): file names
//! and a comm built to break a terminal or a JSON consumer, a path near
//! PATH_MAX, through inotify and fanotify, printed as columns and as JSON.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use fsg_test_helpers::{hex, hostile_names};
use serde_json::Value;

use super::{helper, perm_helper, test_dir, wait_for_notify_fd, Client, Gadget};

/// Runs fsg-hostile with raw-byte arguments; its pid.
fn hostile(args: &[&[u8]]) -> u32 {
    let mut c = Command::new(helper("fsg-hostile"));
    for a in args {
        c.arg(std::ffi::OsStr::from_bytes(a));
    }
    let mut child = c.spawn().expect("start fsg-hostile");
    let pid = child.id();
    let st = child.wait().unwrap();
    assert!(st.success(), "fsg-hostile {args:?}: {st}");
    pid
}

fn bytes_of(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

fn join(dir: &Path, name: &[u8]) -> Vec<u8> {
    let mut v = bytes_of(dir);
    v.push(b'/');
    v.extend_from_slice(name);
    v
}

/// The exact bytes a JSON record carries for `key` (of `obj`): `KEY_hex` when
/// the bytes are not UTF-8, else the string.
pub fn json_bytes(obj: &Value, key: &str) -> Vec<u8> {
    if let Some(h) = obj.get(format!("{key}_hex")).and_then(Value::as_str) {
        return fsg_test_helpers::unhex(h).unwrap_or_else(|| panic!("bad hex in {obj}"));
    }
    obj[key].as_str().unwrap_or_else(|| panic!("no string {key} in {obj}")).as_bytes().to_vec()
}

/// A directory chain under `base` whose path, plus `/` and a 100-byte file
/// name, is a few bytes short of PATH_MAX (4096 with its NUL).
fn deep_dir(base: &Path) -> PathBuf {
    let mut p = base.to_path_buf();
    let target = 4095 - 1 - 100;
    while p.as_os_str().len() < target {
        // Components of 200 bytes, the last one what is left (never 0).
        let left = target - p.as_os_str().len() - 1;
        let comp = "d".repeat(if left > 201 { 200 } else { left });
        p.push(comp);
    }
    std::fs::create_dir_all(&p).unwrap();
    assert_eq!(p.as_os_str().len(), target);
    p
}

/// The odd comm the `comm` tracee sets: an escape sequence, a newline, a
/// byte that is not UTF-8, shell metacharacters (15 bytes: the kernel's limit).
const ODD_COMM: &[u8] = b"\x1b[2J\n\xff|x;$(y)";
const ODD_COMM_SHOWN: &str = "\\x1b[2J\\n\\xff|x;$(y)";

/// Every check of issue 7 item 1 for one backend: hostile names through
/// inotify (the name field) and fanotify (the path field), a path near
/// PATH_MAX, and a tracee with an odd comm, in columns and in JSON.
pub fn hostile_names_end_to_end(backend: &str) {
    let base = test_dir(&format!("hostile-{backend}"));
    let (ino_dir, fan_dir) = (base.join("ino"), base.join("fan"));
    std::fs::create_dir_all(&ino_dir).unwrap();
    std::fs::create_dir_all(&fan_dir).unwrap();
    let deep = deep_dir(&base.join("deep"));
    let deep_file = join(&deep, "f".repeat(100).as_bytes());
    assert_eq!(deep_file.len(), 4095);

    // The tracers start after the tool: a read(2) already blocked when the
    // tracepoint backend attaches is not followed (see the README).
    let json = Gadget::spawn(&["--backend", backend, "-o", "json"]);
    let cols = Gadget::spawn(&["--backend", backend, "--fields", "type,tracee_pid,tracee_comm,name"]);
    let watcher = Client::start("inotifywait", &["-m", "-q", ino_dir.to_str().unwrap()]);
    wait_for_notify_fd(watcher.pid(), "inotify");
    let perm = perm_helper(&fan_dir, "none");
    let perm_deep = perm_helper(&deep, "none");

    let p_ino = hostile(&[b"names", &bytes_of(&ino_dir)]);
    let p_fan = hostile(&[b"names", &bytes_of(&fan_dir)]);
    let p_deep = hostile(&[b"create", hex(&deep_file).as_bytes()]);
    let comm_file = join(&ino_dir, b"by-odd-comm");
    let p_comm = hostile(&[b"comm", hex(ODD_COMM).as_bytes(), hex(&comm_file).as_bytes()]);
    thread::sleep(Duration::from_millis(1500));
    let (json_out, _) = json.stop_bytes();
    let (cols_out, _) = cols.stop_bytes();
    drop((watcher, perm, perm_deep));

    // JSON: every line parses; each name comes back byte for byte.
    let records: Vec<Value> = json_out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap_or_else(|e| panic!("invalid JSON line {:?}: {e}", String::from_utf8_lossy(l))))
        .collect();
    let of = |pid: u32| records.iter().filter(move |r| r["tracee"]["pid"] == pid).collect::<Vec<_>>();
    let names = hostile_names();
    // open(O_CREAT) + write + close of a new file: IN_CREATE, IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE.
    let ino = of(p_ino);
    assert_eq!(ino.len(), 4 * names.len(), "inotify records of the hostile tracee: {ino:#?}");
    for (name, _) in &names {
        let n = ino.iter().filter(|r| json_bytes(r, "name") == *name).count();
        assert_eq!(n, 4, "inotify records for {:?}: {ino:#?}", String::from_utf8_lossy(name));
    }
    // Each creation is one FAN_OPEN_PERM request and its answer.
    let fan = of(p_fan);
    assert_eq!(fan.len(), 2 * names.len(), "fanotify records of the hostile tracee: {fan:#?}");
    for (name, _) in &names {
        let path = join(&fan_dir, name);
        let got: Vec<&Value> = fan.iter().copied().filter(|r| json_bytes(r, "name") == path).collect();
        assert_eq!(got.len(), 2, "records for {:?}: {fan:#?}", String::from_utf8_lossy(&path));
        assert!(got.iter().all(|r| r["name_truncated"] == false));
    }
    let deep_recs = of(p_deep);
    assert_eq!(deep_recs.len(), 2, "{deep_recs:#?}");
    for r in &deep_recs {
        // The whole path, or a signalled truncation: never a silent cut.
        let got = json_bytes(r, "name");
        if r["name_truncated"] == true {
            // Cut at the root side (a walk up from the file) or at the end (readlink).
            let part = deep_file.ends_with(&got) || deep_file.starts_with(&got);
            assert!(got.len() < deep_file.len() && part, "a truncated path must be a part of the path: {r}");
        } else {
            assert_eq!(got, deep_file, "the path near PATH_MAX: {r}");
        }
    }
    let by_comm = of(p_comm);
    assert_eq!(by_comm.len(), 4, "{by_comm:#?}");
    for r in &by_comm {
        assert_eq!(json_bytes(&r["tracee"], "comm"), ODD_COMM, "{r}");
        assert_eq!(json_bytes(r, "name"), b"by-odd-comm");
    }

    // Columns: no control byte reaches the terminal; one row per record,
    // showing the escaped forms.
    for (i, &b) in cols_out.iter().enumerate() {
        let bad = (b < 0x20 && b != b'\n') || b == 0x7f;
        assert!(!bad, "control byte {b:#04x} at {i} in the columns: {:?}", String::from_utf8_lossy(&cols_out));
    }
    let text = String::from_utf8(cols_out).expect("columns are UTF-8");
    assert!(!text.chars().any(|c| c != '\n' && (c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c))), "{text}");
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    let rows_of = |pid: u32| rows.iter().filter(move |r| r.get(1) == Some(&pid.to_string().as_str())).collect::<Vec<_>>();
    let ino_rows = rows_of(p_ino);
    assert_eq!(ino_rows.len(), 4 * names.len(), "{text}");
    for (_, shown) in &names {
        let n = ino_rows.iter().filter(|r| r.len() == 4 && r[3] == shown).count();
        assert_eq!(n, 4, "rows showing {shown:?}:\n{text}");
    }
    let fan_rows = rows_of(p_fan);
    assert_eq!(fan_rows.len(), 2 * names.len(), "{text}");
    for (_, shown) in &names {
        let want = format!("{}/{shown}", fan_dir.display());
        let n = fan_rows.iter().filter(|r| r.len() == 4 && r[3] == want).count();
        assert_eq!(n, 2, "rows showing {want:?}:\n{text}");
    }
    assert_eq!(rows_of(p_deep).len(), 2, "{text}");
    let comm_rows = rows_of(p_comm);
    assert_eq!(comm_rows.len(), 4, "{text}");
    for r in comm_rows {
        assert_eq!(r[2..], [ODD_COMM_SHOWN, "by-odd-comm"], "{text}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// Processes that hold notify fds and exit at once, before the tool can read
/// their /proc entries: the tool keeps running, reports them, and exits cleanly.
pub fn vanishing_processes(backend: &str) {
    let dir = test_dir(&format!("vanish-{backend}"));
    let g = Gadget::spawn(&["--backend", backend, "-o", "json"]);
    let out = Command::new(helper("fsg-hostile")).args(["vanish", dir.to_str().unwrap(), "20"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let pids: Vec<u64> = String::from_utf8_lossy(&out.stdout).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(pids.len(), 20);
    thread::sleep(Duration::from_millis(1000));
    let (stdout, stderr) = g.stop_bytes();
    assert!(stderr.iter().any(|l| l.contains(" records")), "no summary line: {stderr:#?}");
    let records: Vec<Value> = stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    for (i, pid) in pids.iter().enumerate() {
        let mine: Vec<&Value> = records.iter().filter(|r| r["tracer"]["pid"] == *pid).collect();
        let ino = mine.iter().filter(|r| r["type"] == "inotify").count();
        let fan = mine.iter().filter(|r| r["type"] == "fanotify").count();
        assert_eq!((ino, fan), (1, 1), "child {i} (pid {pid}): {mine:#?}");
        for r in &mine {
            assert_eq!(r["tracee"]["pid"], *pid, "the child caused its own events: {r}");
        }
        let name = format!("vanish-{i}");
        assert!(mine.iter().any(|r| r["type"] == "inotify" && r["name"] == name.as_str()), "{mine:#?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

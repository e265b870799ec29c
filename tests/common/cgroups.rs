//! Cgroup ids on both sides of a record, and the kernel filters on them, run
//! on the host (tracepoint) and in the VMs (every backend): a tracer and a
//! tracee each moved into a cgroup v2 of their own.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::*;

/// Where cgroup v2 is mounted (the unified hierarchy of a v1/v2 hybrid); one
/// is mounted under /tmp where none is (the test VMs).
fn cgroup2_root() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS] - FSTYPE SOURCE SUPER
    if let Some(at) = mounts.lines().find_map(|l| {
        let (head, tail) = l.split_once(" - ")?;
        (tail.split(' ').next() == Some("cgroup2")).then(|| head.split(' ').nth(4).map(PathBuf::from))?
    }) {
        return at;
    }
    let at = PathBuf::from("/tmp/fsg-cgroup2");
    std::fs::create_dir_all(&at).unwrap();
    let st = Command::new("mount").args(["-t", "cgroup2", "none"]).arg(&at).status().unwrap();
    assert!(st.success(), "mount -t cgroup2 failed");
    at
}

/// A fresh cgroup v2, removed when dropped (once its processes have left).
struct Cgroup(PathBuf);

impl Cgroup {
    fn new(root: &Path, name: &str) -> Cgroup {
        let d = root.join(format!("fsg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir(&d);
        std::fs::create_dir(&d).unwrap_or_else(|e| panic!("mkdir {d:?}: {e}"));
        Cgroup(d)
    }

    /// The cgroup's id, as BPF's bpf_get_current_cgroup_id() gives it: its directory's inode.
    fn id(&self) -> u64 {
        std::fs::metadata(&self.0).unwrap().ino()
    }

    /// Its path as /proc/PID/cgroup shows it: under the cgroup2 root.
    fn path(&self) -> String {
        format!("/{}", self.0.file_name().unwrap().to_string_lossy())
    }

    /// `cmd args` started inside this cgroup (a shell moves itself in, then execs it).
    fn spawn(&self, cmd: &str, args: &[&str]) -> std::process::Child {
        let procs = self.0.join("cgroup.procs");
        Command::new("sh")
            .arg("-c")
            .arg("echo $$ > \"$0\" && exec \"$@\"")
            .arg(&procs)
            .arg(cmd)
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The cgroup v2 id and path of this process, where its watchers outside the test cgroups are.
fn own_cgroup(root: &Path) -> (u64, String) {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let rel = text.lines().find_map(|l| l.strip_prefix("0::")).expect("no cgroup v2 line in /proc/self/cgroup");
    (std::fs::metadata(root.join(rel.trim_start_matches('/'))).unwrap().ino(), rel.to_string())
}

/// Watcher A runs in cgroup A, watcher O outside; touch B runs in cgroup B, touch O outside.
/// Every record carries each side's own cgroup id and path; `-F tracee.cgroup_id==B` keeps exactly the
/// records whose tracee is in B and `-F tracer.cgroup_id==A` those read by watcher A.
pub fn cgroup_ids_on_both_sides(backend: &str) {
    let root = cgroup2_root();
    let (cg_a, cg_b) = (Cgroup::new(&root, "tracer"), Cgroup::new(&root, "tracee"));
    let (a, b) = (cg_a.id(), cg_b.id());
    let (own, own_path) = own_cgroup(&root);
    let dir = test_dir("cgroups");
    let d = dir.to_str().unwrap();
    let in_a = Client { child: cg_a.spawn("inotifywait", &["-m", "-q", d]), name: "inotifywait in A".into() };
    let outside = Client::start("inotifywait", &["-m", "-q", d]);
    wait_for_notify_fd(in_a.pid(), "inotify");
    wait_for_notify_fd(outside.pid(), "inotify");

    let common = ["--backend", backend, "--inotify-only"];
    let all = Gadget::start(&common);
    let stats = ["--stats", "3600"];
    let by_tracee = Gadget::start(&[&common[..], &stats, &["-F", &format!("tracee.cgroup_id=={b}")]].concat());
    let by_tracer = Gadget::start(&[&common[..], &stats, &["-F", &format!("tracer.cgroup_id=={a}")]].concat());
    let mut t = cg_b.spawn("touch", &[dir.join("from-b").to_str().unwrap()]);
    assert!(t.wait().unwrap().success());
    let touch_b = t.id();
    run("touch", &[dir.join("from-outside").to_str().unwrap()]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    let (all, _) = all.stop();
    let (by_tracee, tracee_stderr) = by_tracee.stop();
    let (by_tracer, tracer_stderr) = by_tracer.stop();
    let (pa, po) = (in_a.pid(), outside.pid());
    in_a.stop();
    outside.stop();

    let named = |recs: &[Value], name: &str| -> Vec<Value> { recs.iter().filter(|r| r["name"] == name).cloned().collect() };
    let ids = |r: &Value| (s(r, "tracer.cgroup_id").as_u64().unwrap(), s(r, "tracee.cgroup_id").as_u64().unwrap());
    let paths = |r: &Value| (s(r, "tracer.cgroup").as_str().unwrap_or("null").to_string(), s(r, "tracee.cgroup").as_str().unwrap_or("null").to_string());
    let from_b = named(&all, "from-b");
    assert!(!from_b.is_empty(), "no record of the touch in cgroup B: {all:#?}");
    for r in &from_b {
        assert_eq!(s(r, "tracee.pid"), touch_b, "{r}");
        let tracer = if s(r, "tracer.pid") == pa { (a, cg_a.path()) } else if s(r, "tracer.pid") == po { (own, own_path.clone()) } else { continue };
        assert_eq!(ids(r), (tracer.0, b), "tracer and tracee each in their own cgroup: {r}");
        assert_eq!(paths(r), (tracer.1, cg_b.path()), "{r}");
    }
    for r in named(&all, "from-outside").iter().filter(|r| s(r, "tracer.pid") == pa) {
        assert_eq!(ids(r), (a, own), "{r}");
        assert_eq!(paths(r), (cg_a.path(), own_path.clone()), "{r}");
    }
    for who in [pa, po] {
        assert!(from_b.iter().any(|r| s(r, "tracer.pid") == who), "watcher {who} has no record of from-b: {from_b:#?}");
    }

    // Each filter's leavings happened (the touch from outside B; outside's reads, seen
    // above), and the kernel kept them from user space.
    assert!(!named(&all, "from-outside").is_empty(), "no record of the touch outside B: {all:#?}");
    for (stderr, flag) in [(&tracee_stderr, "tracee"), (&tracer_stderr, "tracer")] {
        assert_eq!(filtered_in_user_space(stderr), 0, "-F {flag}.cgroup_id: left out in user space, not in the kernel: {stderr:?}");
    }
    assert!(by_tracee.iter().all(|r| ids(r).1 == b), "-F tracee.cgroup_id=={b}: {by_tracee:#?}");
    assert!(named(&by_tracee, "from-outside").is_empty());
    assert!([pa, po].iter().all(|&w| by_tracee.iter().any(|r| s(r, "tracer.pid") == w && r["name"] == "from-b")), "{by_tracee:#?}");

    assert!(by_tracer.iter().all(|r| s(r, "tracer.pid") == pa && ids(r).0 == a), "-F tracer.cgroup_id=={a}: {by_tracer:#?}");
    for name in ["from-b", "from-outside"] {
        assert!(!named(&by_tracer, name).is_empty(), "-F tracer.cgroup_id: no record of {name}: {by_tracer:#?}");
    }
}

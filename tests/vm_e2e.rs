//! End-to-end tests of the fentry and kprobe backends. They need a kernel
//! with kprobes and trampolines, so they are ignored on the host and run
//! inside QEMU on Debian's kernels by `cargo xtask vm-test` (with --ignored).

mod common;

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use common::reliability::*;
use common::*;
use serde_json::Value;

/// Declares one test per backend for a test body taking the backend name.
macro_rules! each_backend {
    ($body:ident: $($name:ident => $backend:literal),+) => {
        $(
            #[test]
            #[ignore = "runs inside the VM: cargo xtask vm-test"]
            fn $name() {
                require_root();
                $body($backend);
            }
        )+
    };
}

/// Proves the harness turns red when a guest test fails.
#[test]
#[ignore = "runs inside the VM: cargo xtask vm-test"]
fn harness_fails_on_purpose() {
    assert_ne!(std::env::var("FSG_FAIL_ON_PURPOSE").as_deref(), Ok("1"), "failing on purpose, as asked");
}

fn settle() {
    sleep(Duration::from_millis(800));
}

/// The foundation's first proof: inotifywait reads, touch writes.
fn inotifywait_and_touch(backend: &str) {
    let dir = test_dir("first");
    let g = Gadget::start(&["--backend", backend]);
    let w = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    run("touch", &[dir.join("new-file").to_str().unwrap()]);
    settle();
    let (records, stderr) = g.stop();
    let watcher = w.pid();
    w.stop();
    assert!(stderr.iter().any(|l| l.contains(&format!("{backend} backend"))), "{stderr:?}");
    let mine = with(&records, "name", "new-file");
    assert!(!mine.is_empty(), "no record for new-file in {records:#?}");
    for r in &mine {
        assert_eq!(r["type"], "inotify");
        assert_eq!(s(r, "tracer.comm"), "inotifywait");
        assert_eq!(s(r, "tracee.comm"), "touch");
        assert_eq!(s(r, "tracer.pid"), watcher);
    }
}
each_backend!(inotifywait_and_touch: inotifywait_and_touch_fentry => "fentry", inotifywait_and_touch_kprobe => "kprobe", inotifywait_and_touch_tracepoint => "tracepoint");

/// The tool as `tool` makes it (each call a new command: another build, other
/// limits) lists an inotifywait, then traces a touch in its directory with
/// `backend`; `running` looks at the tracing tool first.
fn lists_and_traces_a_touch(backend: &str, tag: &str, tool: impl Fn() -> Command, running: impl FnOnce(&Gadget)) {
    let dir = test_dir(tag);
    let w = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    let w_pid = w.pid();
    let list = tool().args(["list", "-o", "json", "--pid", &w_pid.to_string()]).output().unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success() && listed.contains("\"inotify\"") && listed.contains(&format!("\"pid\":{w_pid}")), "{list:?}");
    let g = Gadget::start_command(tool(), &["--backend", backend]);
    running(&g);
    let name = format!("touched-{tag}");
    run("touch", &[dir.join(&name).to_str().unwrap()]);
    settle();
    let (records, stderr) = g.stop();
    w.stop();
    assert!(stderr.iter().any(|l| l.contains(&format!("tracing with the {backend} backend"))), "{stderr:?}");
    let mine = with(&records, "name", &name);
    assert!(!mine.is_empty(), "no record for the touch in {records:#?}");
    for r in &mine {
        assert_eq!(s(r, "tracer.pid"), w_pid);
        assert_eq!(s(r, "tracee.comm"), "touch");
    }
}

/// The static binary of `cargo xtask dist` (libbpf, libelf and zlib inside,
/// no loader: the harness copies no library for it) runs here as on the
/// host: its help, `list` naming a watcher, and a trace with each backend.
fn static_binary_traces(backend: &str) {
    let bin = Path::new("/usr/bin/fsnotify-gadget-static");
    let elf = std::fs::read(bin).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    // No PT_INTERP program header: nothing for a dynamic loader to do.
    let (phoff, phentsize, phnum) = (
        u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize,
        u16::from_le_bytes(elf[54..56].try_into().unwrap()) as usize,
        u16::from_le_bytes(elf[56..58].try_into().unwrap()) as usize,
    );
    let interp = (0..phnum).any(|i| u32::from_le_bytes(elf[phoff + i * phentsize..][..4].try_into().unwrap()) == 3);
    assert!(!interp, "{} asks for a dynamic loader", bin.display());
    let help = Command::new(bin).arg("--help").output().unwrap();
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--tracer-group"), "{help:?}");

    lists_and_traces_a_touch(backend, "static", || Command::new(bin), |_| {});
}
each_backend!(static_binary_traces: static_binary_fentry => "fentry", static_binary_kprobe => "kprobe", static_binary_tracepoint => "tracepoint");

/// Sets kernel.perf_event_paranoid, and puts the old value back when dropped.
struct Paranoid(String);

impl Paranoid {
    const PATH: &str = "/proc/sys/kernel/perf_event_paranoid";

    fn set(level: &str) -> Paranoid {
        let old = std::fs::read_to_string(Self::PATH).unwrap();
        std::fs::write(Self::PATH, level).unwrap();
        Paranoid(old.trim().to_string())
    }
}

impl Drop for Paranoid {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, &self.0);
    }
}

/// The DaemonSet's capabilities, and no other (root with its bounding set cut
/// to that list, so that exec leaves it exactly those), trace a touch and list
/// the watcher with fentry and the tracepoint backend. The kprobe backend
/// attaches through perf events, which Debian's kernels (perf_event_paranoid
/// 3) leave to CAP_SYS_ADMIN: forced, it stops with one line saying so; with
/// kernel.perf_event_paranoid=2 it traces under the same capabilities.
fn daemonset_capabilities(backend: &str) {
    use std::os::unix::process::CommandExt;
    let keep: u64 = DAEMONSET_CAPS.iter().map(|(_, n)| 1u64 << n).sum();
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap().trim().parse().unwrap();
    let limited = |bin: &Path| {
        let mut c = Command::new(bin);
        // SAFETY: only prctl between fork and exec.
        unsafe {
            c.pre_exec(move || {
                for cap in (0..=last).filter(|cap| keep & (1u64 << cap) == 0) {
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        c
    };
    let paranoid: i32 = std::fs::read_to_string(Paranoid::PATH).unwrap().trim().parse().unwrap();
    let _lowered = (backend == "kprobe" && paranoid > 2).then(|| {
        let out = limited(&gadget_bin()).args(["--backend", "kprobe", "--timeout", "1"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.lines().count() == 1, "{out:?}");
        assert!(err.contains(&format!("kernel.perf_event_paranoid is {paranoid}")) && err.contains("CAP_SYS_ADMIN"), "{err}");
        println!("FSG-NOTE: kprobe with the DaemonSet's capabilities at perf_event_paranoid {paranoid}: {}", err.trim());
        Paranoid::set("2")
    });
    lists_and_traces_a_touch(backend, "daemonset-caps", || limited(&gadget_bin()), |g| {
        let status = std::fs::read_to_string(format!("/proc/{}/status", g.pid())).unwrap();
        let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).map(|v| u64::from_str_radix(v.trim(), 16).unwrap());
        assert_eq!(eff, Some(keep), "the tool runs with the DaemonSet's capabilities and no other");
    });
}
each_backend!(daemonset_capabilities: daemonset_caps_fentry => "fentry", daemonset_caps_kprobe => "kprobe", daemonset_caps_tracepoint => "tracepoint");

/// The seed's example: inotifywatch on a directory, touch on an existing file.
fn seed_inotify_example(backend: &str) {
    let dir = test_dir("seed");
    let file = dir.join("ABCDE");
    std::fs::write(&file, b"x").unwrap();
    let g = Gadget::start(&["--backend", backend, "--inotify-only"]);
    let w = Client::start("inotifywatch", &[dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    let touch_pid = run("touch", &[file.to_str().unwrap()]);
    settle();
    let (records, _) = g.stop();
    let watcher = w.pid();
    w.stop();

    let mine = with(&records, "name", "ABCDE");
    for bit in ["IN_OPEN", "IN_ATTRIB", "IN_CLOSE_WRITE"] {
        let r = mine
            .iter()
            .find(|r| has_bit(&r["i_mask"], bit))
            .unwrap_or_else(|| panic!("no {bit} record for ABCDE in {records:#?}"));
        assert!(has_bit(&r["i_mask"], "FS_EVENT_ON_CHILD"), "{r}");
        assert_eq!(r["type"], "inotify");
        assert_eq!(s(r, "tracer.comm"), "inotifywatch");
        assert_eq!(s(r, "tracer.pid"), watcher);
        assert_eq!(s(r, "tracee.comm"), "touch");
        assert_eq!(s(r, "tracee.pid"), touch_pid);
        assert_eq!(s(r, "tracee.tid"), touch_pid);
        assert_eq!(s(r, "tracee.ppid"), std::process::id());
        assert_eq!(s(r, "tracee.uid"), 0);
        assert_eq!(s(r, "tracee.gid"), 0);
        assert_eq!(s(r, "tracee.user"), "root");
        assert_eq!(s(r, "tracee.mntns_id"), my_mntns());
        assert_eq!(s(r, "tracer.mntns_id"), my_mntns());
        if backend == "tracepoint" {
            // Only inotify's handler knows the inodes; this backend hooks no function.
            assert!(r["i_ino"].is_null() && r["i_ino_dir"].is_null(), "{r}");
        } else {
            assert_eq!(r["i_ino"], ino(&file));
            assert_eq!(r["i_ino_dir"], ino(&dir));
        }
        assert_eq!(r["prio"], 0);
        assert!(r["i_wd"].as_i64().unwrap() >= 1);
        let group = r["fsnotify_group"].as_str().unwrap();
        assert!(u64::from_str_radix(&group[2..], 16).unwrap() >= 0xff00_0000_0000_0000, "a kernel address: {r}");
        assert!(r["latency_ns"].as_u64().is_some());
        assert!(r["fa_mask"].is_null());
        assert_eq!(r["fa_response"], "na");
    }
}
each_backend!(seed_inotify_example: seed_inotify_example_fentry => "fentry", seed_inotify_example_kprobe => "kprobe", seed_inotify_example_tracepoint => "tracepoint");

/// A rename gives IN_MOVED_FROM and IN_MOVED_TO sharing one cookie.
fn rename_shares_a_cookie(backend: &str) {
    let dir = test_dir("rename");
    std::fs::write(dir.join("before"), b"x").unwrap();
    let g = Gadget::start(&["--backend", backend, "--inotify-only"]);
    let w = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    run("mv", &[dir.join("before").to_str().unwrap(), dir.join("after").to_str().unwrap()]);
    settle();
    let (records, _) = g.stop();
    w.stop();
    let from = with(&records, "name", "before").into_iter().find(|r| has_bit(&r["i_mask"], "IN_MOVED_FROM"));
    let to = with(&records, "name", "after").into_iter().find(|r| has_bit(&r["i_mask"], "IN_MOVED_TO"));
    let (from, to) = (from.expect("IN_MOVED_FROM record"), to.expect("IN_MOVED_TO record"));
    assert_ne!(from["i_cookie"], 0);
    assert_eq!(from["i_cookie"], to["i_cookie"]);
    assert_eq!(s(from, "tracee.comm"), "mv");
}
each_backend!(rename_shares_a_cookie: rename_shares_a_cookie_fentry => "fentry", rename_shares_a_cookie_kprobe => "kprobe", rename_shares_a_cookie_tracepoint => "tracepoint");

/// Starts a process that waits for `gate` to exist, then runs `touch path`.
fn gated_touch(gate: &Path, path: &Path) -> std::process::Child {
    let script = format!("while [ ! -e {} ]; do sleep 0.05; done; exec touch {}", gate.display(), path.display());
    Command::new("sh").args(["-c", &script]).spawn().unwrap()
}

/// Two tracers, two tracees, at once: each filter keeps exactly its share.
fn filters_select(backend: &str) {
    let a = test_dir("filter-a");
    let b = test_dir("filter-b");
    let wa = Client::start("inotifywait", &["-m", a.to_str().unwrap()]);
    let wb = Client::start("inotifywait", &["-m", b.to_str().unwrap()]);
    wait_for_notify_fd(wa.pid(), "inotify");
    wait_for_notify_fd(wb.pid(), "inotify");
    let gate = a.join("..").join(format!("fsg-gate-{}", std::process::id()));
    let _ = std::fs::remove_file(&gate);
    let mut ta = gated_touch(&gate, &a.join("from-a"));
    let mut tb = gated_touch(&gate, &b.join("from-b"));

    let by_tracer = Gadget::start(&["--backend", backend, "--tracer-pid", &wa.pid().to_string()]);
    let by_tracee = Gadget::start(&["--backend", backend, "--tracee-pid", &tb.id().to_string()]);
    let fan_only = Gadget::start(&["--backend", backend, "--fanotify-only"]);
    let ino_only = Gadget::start(&["--backend", backend, "--inotify-only"]);
    std::fs::write(&gate, b"").unwrap();
    ta.wait().unwrap();
    tb.wait().unwrap();
    settle();
    let (r_tracer, _) = by_tracer.stop();
    let (r_tracee, _) = by_tracee.stop();
    let (r_fan, _) = fan_only.stop();
    let (r_ino, _) = ino_only.stop();
    let _ = std::fs::remove_file(&gate);

    assert!(!with(&r_tracer, "name", "from-a").is_empty(), "{r_tracer:#?}");
    assert!(r_tracer.iter().all(|r| s(r, "tracer.pid") == wa.pid()), "{r_tracer:#?}");
    assert!(with(&r_tracer, "name", "from-b").is_empty());

    assert!(!with(&r_tracee, "name", "from-b").is_empty(), "{r_tracee:#?}");
    assert!(r_tracee.iter().all(|r| s(r, "tracee.pid") == tb.id()), "{r_tracee:#?}");

    assert!(r_fan.iter().all(|r| r["type"] != "inotify"), "{r_fan:#?}");
    assert!(!with(&r_ino, "name", "from-a").is_empty() && !with(&r_ino, "name", "from-b").is_empty());
    assert!(r_ino.iter().all(|r| r["type"] == "inotify"));
}
each_backend!(filters_select: filters_select_fentry => "fentry", filters_select_kprobe => "kprobe", filters_select_tracepoint => "tracepoint");

/// Every `-F` equality that is handed to the kernel is applied there: with this backend, the
/// records that each condition alone would leave out happen, yet none reaches user space
/// (`filtered=0` on the stats line), and what is printed meets the conditions. User space
/// checks every condition again, so without this a filter deleted from the BPF side would go
/// unnoticed.
fn filters_select_in_kernel(backend: &str) {
    let dir = test_dir("kernel-filters");
    let d = dir.to_str().unwrap();
    let ready = dir.join("..").join(format!("fsg-kf-ready-{}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    let w = Client::start("inotifywait", &["-m", "-q", d]);
    let reader = Client::start(helper("fsg-inotify-reader").to_str().unwrap(), &["--dir", d, "--ready", ready.to_str().unwrap()]);
    wait_ready(&ready, "fsg-inotify-reader");
    wait_for_notify_fd(w.pid(), "inotify");
    let list = Command::new(gadget_bin()).args(["list", "-o", "json", "--pid", &w.pid().to_string()]).output().unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    let group = listed
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v["fsnotify_group"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("list gave inotifywait no group: {listed}"));
    let gate = dir.join("..").join(format!("fsg-kf-gate-{}", std::process::id()));
    let _ = std::fs::remove_file(&gate);
    let (mut t1, mut t2) = (gated_touch(&gate, &dir.join("t1")), gated_touch(&gate, &dir.join("t2")));
    let t1_pid = t1.id().to_string();

    let stats = ["--backend", backend, "--stats", "3600"];
    let started = [
        // Left out without them: the reader's records of touch, inotifywait's of this process.
        Gadget::start(&[&stats[..], &["-F", "tracer.comm==inotifywait", "-F", "tracee.comm==touch"]].concat()),
        // The reader's records of t1, inotifywait's of t2.
        Gadget::start(&[&stats[..], &["-F", &format!("tracer.pid=={}", w.pid()), "-F", &format!("tracee.pid=={t1_pid}")]].concat()),
        // The reader's group.
        Gadget::start(&[&stats[..], &["-F", &format!("fsnotify_group=={group}")]].concat()),
        // Every inotify record.
        Gadget::start(&[&stats[..], &["-F", "type==fanotify"]].concat()),
        Gadget::start(&["--backend", backend, "--inotify-only"]),
    ];
    std::fs::write(&gate, b"").unwrap();
    t1.wait().unwrap();
    t2.wait().unwrap();
    std::fs::write(dir.join("by-the-test"), b"x").unwrap();
    settle();
    let mut runs: Vec<(Vec<Value>, Vec<String>)> = started.into_iter().map(Gadget::stop).collect();
    let (all, _) = runs.pop().unwrap();
    let _ = std::fs::remove_file(&gate);
    let (r_pid, w_pid) = (reader.pid(), w.pid());
    reader.stop();
    w.stop();

    // What each condition alone leaves out did happen.
    let seen = |tracer: u32, name: &str| all.iter().any(|r| s(r, "tracer.pid") == tracer && r["name"] == name);
    for (tracer, name) in [(r_pid, "t1"), (r_pid, "t2"), (w_pid, "t2"), (w_pid, "by-the-test")] {
        assert!(seen(tracer, name), "no record of {name} read by {tracer}: {all:#?}");
    }
    let names = ["comms", "pids", "group", "type"];
    for ((records, stderr), what) in runs.iter().zip(names) {
        assert_eq!(filtered_in_user_space(stderr), 0, "{what}: user space left records out, so the kernel did not: {stderr:?}");
        match what {
            "comms" => assert!(records.iter().all(|r| s(r, "tracer.comm") == "inotifywait" && s(r, "tracee.comm") == "touch"), "{records:#?}"),
            "pids" => assert!(records.iter().all(|r| s(r, "tracer.pid") == w_pid && s(r, "tracee.pid") == t1.id()), "{records:#?}"),
            "group" => assert!(records.iter().all(|r| r["fsnotify_group"] == group.as_str()), "{records:#?}"),
            _ => assert!(records.iter().all(|r| r["type"] != "inotify"), "{records:#?}"),
        }
        if what != "type" {
            assert!(records.iter().any(|r| r["name"] == "t1"), "{what}: nothing of t1 kept: {records:#?}");
        }
    }
}
each_backend!(filters_select_in_kernel: filters_select_in_kernel_fentry => "fentry", filters_select_in_kernel_kprobe => "kprobe", filters_select_in_kernel_tracepoint => "tracepoint");

/// Full paths and field filters with this backend (issue 15): an `inotifywait -r` tree and
/// watches on a file (inotifywait, `tail -F`) give each record the file's full path, a moved
/// directory its new one; a comm
/// equality (applied in the kernel) and a path regex (in user space) keep exactly their share.
fn paths_and_field_filters(backend: &str) {
    let dir = test_dir("paths");
    let (sub, moved, file) = (dir.join("sub"), dir.join("moved"), dir.join("watched"));
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(&file, b"x").unwrap();
    let tree = Client::start("inotifywait", &["-m", "-r", dir.to_str().unwrap()]);
    let on_file = Client::start("inotifywait", &["-m", file.to_str().unwrap()]);
    // -F (follow the name) adds IN_ATTRIB to the watch, which touch sets off; -f watches only
    // IN_MODIFY, and the comm filter lets only touch's events through.
    let tail = Client::start("tail", &["-F", "-n", "0", file.to_str().unwrap()]);
    wait_for_notify_fd(tree.pid(), "inotify");
    wait_for_notify_fd(on_file.pid(), "inotify");
    wait_for_notify_fd(tail.pid(), "inotify");
    settle(); // -r adds its watches after making its fd
    let g = Gadget::start(&["--backend", backend, "--inotify-only", "-F", "tracee.comm==touch", "-F", "path~/(sub|moved|watched)"]);
    run("touch", &[sub.join("f").to_str().unwrap()]);
    std::fs::rename(&sub, &moved).unwrap();
    run("touch", &[moved.join("g").to_str().unwrap()]);
    run("touch", &[file.to_str().unwrap()]);
    run("touch", &[dir.join("other").to_str().unwrap()]);
    settle();
    let (records, _) = g.stop();
    assert!(records.iter().all(|r| s(r, "tracee.comm") == "touch"), "{records:#?}");
    assert!(with(&records, "name", "other").is_empty(), "the path regex lets no record of other through: {records:#?}");
    let of = |tracer: u32, name: &str| -> Vec<(&str, bool)> {
        records
            .iter()
            .filter(|r| s(r, "tracer.pid") == tracer && s(r, "name") == name)
            .map(|r| (r["path"].as_str().unwrap_or("null"), r["path_stale"] == true))
            .collect()
    };
    let (f, g_) = (of(tree.pid(), "f"), of(tree.pid(), "g"));
    let (old_f, new_f) = (sub.join("f"), moved.join("f"));
    // Made before the move, read after it: its old path, or the new one marked stale.
    assert!(!f.is_empty() && f.iter().all(|&(p, stale)| p == old_f.to_str().unwrap() || (stale && p == new_f.to_str().unwrap())), "{f:?}");
    // Made after the move: the new path, never the old one.
    assert!(!g_.is_empty() && g_.iter().all(|&(p, _)| p == moved.join("g").to_str().unwrap()), "after the move: {g_:?}");
    for (who, pid) in [("inotifywait", on_file.pid()), ("tail -F", tail.pid())] {
        let w = of(pid, "");
        assert!(!w.is_empty() && w.iter().all(|&(p, stale)| p == file.to_str().unwrap() && !stale), "{who}, a watch on a file: {w:?}");
    }
}
each_backend!(paths_and_field_filters: paths_and_filters_fentry => "fentry", paths_and_filters_kprobe => "kprobe");

/// --tracer-group with an address the tool printed keeps exactly that group.
fn tracer_group_selects_one_group(backend: &str) {
    let dir = test_dir("group");
    let w1 = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    let w2 = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w1.pid(), "inotify");
    wait_for_notify_fd(w2.pid(), "inotify");

    let g = Gadget::start(&["--backend", backend, "--inotify-only"]);
    run("touch", &[dir.join("one").to_str().unwrap()]);
    settle();
    let (records, _) = g.stop();
    let of_w1 = records.iter().find(|r| s(r, "tracer.pid") == w1.pid()).expect("a record read by the first watcher");
    let group = of_w1["fsnotify_group"].as_str().unwrap().to_string();
    let other = records.iter().find(|r| s(r, "tracer.pid") == w2.pid()).expect("a record read by the second watcher");
    assert_ne!(other["fsnotify_group"].as_str().unwrap(), group);

    let g = Gadget::start(&["--backend", backend, "--tracer-group", &group]);
    run("touch", &[dir.join("two").to_str().unwrap()]);
    settle();
    let (records, _) = g.stop();
    assert!(!with(&records, "name", "two").is_empty(), "{records:#?}");
    for r in &records {
        assert_eq!(r["fsnotify_group"], group.as_str());
        assert_eq!(s(r, "tracer.pid"), w1.pid());
    }
}
each_backend!(tracer_group_selects_one_group: tracer_group_fentry => "fentry", tracer_group_kprobe => "kprobe", tracer_group_tracepoint => "tracepoint");

/// Permission events: one allowed, one denied, each with its answer.
fn fanotify_permission_answers(backend: &str) {
    let dir = test_dir("perm");
    for f in ["ok", "no"] {
        std::fs::write(dir.join(f), b"x").unwrap();
    }
    let ready = dir.join("../fsg-perm-ready");
    let _ = std::fs::remove_file(&ready);
    let g = Gadget::start(&["--backend", backend, "--fanotify-only"]);
    // The answer waits 100 ms, so each opener is asleep on it when it comes: the
    // tracepoint backend names the answering tracer (and its group) by that
    // wakeup. An answer given before its opener sleeps wakes nobody and leaves
    // them unknown when the request's own wakeup was not seen either (README).
    let helper = Client::start(
        "fsg-fanotify-perm",
        &["--dir", dir.to_str().unwrap(), "--deny", "no", "--ready", ready.to_str().unwrap(), "--delay-ms", "100"],
    );
    wait_ready(&ready, "fsg-fanotify-perm");
    let ok = Command::new("cat").arg(dir.join("ok")).output().unwrap();
    let no = Command::new("cat").arg(dir.join("no")).output().unwrap();
    assert!(ok.status.success());
    assert!(!no.status.success(), "the denied open succeeded");
    assert!(String::from_utf8_lossy(&no.stderr).contains("not permitted"), "{:?}", no);
    settle();
    let (records, _) = g.stop();
    let helper_pid = helper.pid();
    helper.stop();

    for (file, answer) in [("ok", "allow"), ("no", "deny")] {
        let path = dir.join(file);
        let path = path.to_str().unwrap();
        let reqs: Vec<&Value> = with(&records, "name", path).into_iter().filter(|r| r["type"] == "fanotify").collect();
        let resps: Vec<&Value> = with(&records, "name", path).into_iter().filter(|r| r["type"] == "fa_resp").collect();
        assert_eq!(reqs.len(), 1, "one permission request for {path}: {records:#?}");
        assert_eq!(resps.len(), 1, "one answer for {path}: {records:#?}");
        for r in [reqs[0], resps[0]] {
            assert_eq!(r["prio"], 1);
            assert!(has_bit(&r["fa_mask"], "FAN_OPEN_PERM"), "{r}");
            assert_eq!(s(r, "tracee.comm"), "cat");
            assert_eq!(s(r, "tracer.pid"), helper_pid);
            assert_eq!(r["fa_type"], "FANOTIFY_EVENT_TYPE_PATH_PERM");
            assert_eq!(r["fa_pid"], s(r, "tracee.pid").clone());
        }
        assert_eq!(reqs[0]["fa_response"], "na");
        assert_eq!(resps[0]["fa_response"], answer);
    }
}
each_backend!(fanotify_permission_answers: fanotify_permission_fentry => "fentry", fanotify_permission_kprobe => "kprobe", fanotify_permission_tracepoint => "tracepoint");

/// Nothing stays loaded or attached after the tool exits.
fn nothing_left_behind(backend: &str) {
    wait_until_nothing_loaded("before the test");
    let g = Gadget::start(&["--backend", backend]);
    let during = our_programs();
    assert!(during.len() >= 4, "the running tool's programs are visible: {during:?}");
    g.stop();
    wait_until_nothing_loaded("after the tool exited");
}
each_backend!(nothing_left_behind: nothing_left_behind_fentry => "fentry", nothing_left_behind_kprobe => "kprobe", nothing_left_behind_tracepoint => "tracepoint");

/// `fanotify flags:%x event-flags:%x` of a process's fanotify fd, from fdinfo.
fn fanotify_init_flags(pid: u32) -> (u64, u64) {
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        if !std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("fanotify")) {
            continue;
        }
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", e.file_name().to_string_lossy())).unwrap();
        let line = info.lines().find(|l| l.starts_with("fanotify flags:")).unwrap();
        let mut it = line.split_whitespace();
        let flags = it.nth(1).unwrap().trim_start_matches("flags:");
        let f_flags = it.next().unwrap().trim_start_matches("event-flags:");
        return (u64::from_str_radix(flags, 16).unwrap(), u64::from_str_radix(f_flags, 16).unwrap());
    }
    panic!("process {pid} has no fanotify fd");
}

/// fanotify notification events with a real client (fatrace, which asks
/// for file handles rather than fds): the full path, the tracee's pid, and
/// the group's init flags as the client set them.
fn fanotify_with_fatrace(backend: &str) {
    let dir = test_dir("fatrace");
    let file = dir.join("watched-by-fatrace");
    std::fs::write(&file, b"x").unwrap();
    let g = Gadget::start(&["--backend", backend, "--fanotify-only"]);
    let f = Command::new("fatrace")
        .arg("--current-mount")
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let tracer = Client { child: f, name: "fatrace".into() };
    wait_for_notify_fd(tracer.pid(), "fanotify");
    let (init_flags, f_flags) = fanotify_init_flags(tracer.pid());
    let tracee = run("touch", &[file.to_str().unwrap()]);
    settle();
    let (records, _) = g.stop();
    let tracer_pid = tracer.pid();
    tracer.stop();
    let mine = with(&records, "name", file.to_str().unwrap());
    assert!(!mine.is_empty(), "no record with the full path {file:?}: {records:#?}");
    for r in mine {
        assert_eq!(r["type"], "fanotify");
        assert_eq!(s(r, "tracer.comm"), "fatrace");
        assert_eq!(s(r, "tracer.pid"), tracer_pid);
        assert_eq!(s(r, "tracee.comm"), "touch");
        assert_eq!(s(r, "tracee.pid"), tracee);
        assert_eq!(r["fa_pid"], tracee);
        assert_eq!(r["fa_flags"].as_u64().unwrap() & 0xffff, init_flags, "{r}");
        assert_eq!(r["fa_f_flags"], f_flags, "{r}");
        assert_eq!(r["prio"], 0);
        assert_eq!(r["fa_response"], "na");
        assert!(r["fa_type"].as_str().unwrap().starts_with("FANOTIFY_EVENT_TYPE_FID"), "{r}");
        assert!(r["i_mask"].is_null());
    }
}
each_backend!(fanotify_with_fatrace: fanotify_with_fatrace_fentry => "fentry", fanotify_with_fatrace_kprobe => "kprobe", fanotify_with_fatrace_tracepoint => "tracepoint");

/// The tool's own activity is left out in the kernel with this backend (issue 15). Its JSON
/// goes to a file that fatrace watches, so each record it writes is an event fatrace reads,
/// which would be another record without end. By default no record has the tool as its
/// tracee and each cat of the workload is there; --include-self brings the tool's own back.
fn own_activity_left_out(backend: &str) {
    let dir = test_dir("self");
    let target = dir.join("read-me");
    std::fs::write(&target, b"data").unwrap();
    let f = Command::new("fatrace").arg("--current-mount").current_dir(&dir).stdout(std::process::Stdio::null()).spawn().unwrap();
    let fatrace = Client { child: f, name: "fatrace".into() };
    wait_for_notify_fd(fatrace.pid(), "fanotify");
    for (extra, name) in [(None, "default"), (Some("--include-self"), "include-self")] {
        let out = dir.join(format!("{name}.json"));
        let mut args = vec!["-o", "json", "--backend", backend, "--fanotify-only"];
        args.extend(extra);
        let g = Gadget::spawn_into(&args, &out);
        let me = g.pid();
        let cats: Vec<u32> = (0..3)
            .map(|_| {
                let mut c = Command::new("cat").arg(&target).stdout(std::process::Stdio::null()).spawn().unwrap();
                assert!(c.wait().unwrap().success());
                c.id()
            })
            .collect();
        settle();
        g.stop();
        let text = std::fs::read_to_string(&out).unwrap();
        let records: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: bad JSON {l:?}: {e}"))).collect();
        for cat in cats {
            let n = records.iter().filter(|r| s(r, "tracer.pid") == fatrace.pid() && s(r, "tracee.pid") == cat).count();
            assert!(n > 0, "{name}: no record of fatrace reading cat {cat}'s events ({} records)", records.len());
        }
        let own = records.iter().filter(|r| s(r, "tracee.pid") == me).count();
        eprintln!("{backend} {name}: {own} of {} records have the tool as tracee", records.len());
        if extra.is_none() {
            assert_eq!(own, 0, "by default no record has the tool as tracee: {:?}", records.iter().find(|r| s(r, "tracee.pid") == me));
        } else {
            assert!(own > 0, "--include-self: the tool's writes, which fatrace read, are missing");
        }
    }
    fatrace.stop();
}
each_backend!(own_activity_left_out: own_activity_left_out_fentry => "fentry", own_activity_left_out_kprobe => "kprobe", own_activity_left_out_tracepoint => "tracepoint");

fn forged_group_dup2(backend: &str) {
    common::forgery::forged_group(backend, "dup2");
}
each_backend!(forged_group_dup2: forged_group_dup2_fentry => "fentry", forged_group_dup2_kprobe => "kprobe", forged_group_dup2_tracepoint => "tracepoint");

fn forged_group_uring(backend: &str) {
    common::forgery::forged_group(backend, "uring");
}
each_backend!(forged_group_uring: forged_group_uring_fentry => "fentry", forged_group_uring_kprobe => "kprobe", forged_group_uring_tracepoint => "tracepoint");

fn forged_group_reuse(backend: &str) {
    common::forgery::reused_group_address(backend);
}
each_backend!(forged_group_reuse: forged_group_reuse_fentry => "fentry", forged_group_reuse_kprobe => "kprobe", forged_group_reuse_tracepoint => "tracepoint");

use common::cgroups::cgroup_ids_on_both_sides;
each_backend!(cgroup_ids_on_both_sides: cgroup_ids_fentry => "fentry", cgroup_ids_kprobe => "kprobe", cgroup_ids_tracepoint => "tracepoint");

/// Two instances at once, one printing JSON and one columns, see the same records.
fn json_and_columns_agree(backend: &str) {
    let dir = test_dir("formats");
    let fields = "tracer_pid,tracee_pid,i_mask,name";
    let json = Gadget::start(&["--backend", backend, "--inotify-only", "--fields", fields]);
    let mut columns = Command::new(gadget_bin())
        .args(["--backend", backend, "--inotify-only", "--fields", fields])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let cols_err = columns.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(cols_err));
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("tracing with"))));
    let w = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    for i in 0..5 {
        run("touch", &[dir.join(format!("f{i}")).to_str().unwrap()]);
    }
    settle();
    let (records, _) = json.stop();
    // SAFETY: signal to a child we own.
    unsafe { libc::kill(columns.id() as i32, libc::SIGINT) };
    let out = columns.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut rows = text.lines();
    assert_eq!(rows.next().unwrap().split_whitespace().collect::<Vec<_>>(), ["TRACER_PID", "TRACEE_PID", "I_MASK", "NAME"]);
    let mut from_columns: Vec<String> = rows
        .filter(|l| l.trim_end().ends_with(|c: char| c.is_ascii_digit()) && l.contains(" f"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let mut from_json: Vec<String> = records
        .iter()
        .filter(|r| r["name"].as_str().is_some_and(|n| n.starts_with('f')))
        .map(|r| format!("{} {} {} {}", s(r, "tracer.pid"), s(r, "tracee.pid"), r["i_mask"].as_str().unwrap(), r["name"].as_str().unwrap()))
        .collect();
    from_columns.sort();
    from_json.sort();
    assert!(from_json.len() >= 5, "{from_json:#?}");
    assert_eq!(from_columns, from_json);
    w.stop();
}
each_backend!(json_and_columns_agree: json_and_columns_agree_fentry => "fentry", json_and_columns_agree_kprobe => "kprobe");

/// The seed's example as a person runs it, in columns with the seed's own
/// field list. The transcript goes to the serial console (the VM log) for
/// the README.
fn seed_session_in_columns(backend: &str) {
    let dir = Path::new("/tmp/X");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("ABCDE"), b"x").unwrap();
    let mut g = Command::new(gadget_bin())
        .args(["--backend", backend, "--fields=tracer_comm,tracee_comm,i_mask,name"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = g.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(err));
    let ready = lines.next().unwrap().unwrap();
    assert!(ready.contains("tracing with"), "{ready}");
    let w = Client::start("inotifywatch", &["/tmp/X"]);
    wait_for_notify_fd(w.pid(), "inotify");
    run("touch", &["/tmp/X/ABCDE"]);
    settle();
    // SAFETY: signal to a child we own.
    unsafe { libc::kill(g.id() as i32, libc::SIGINT) };
    let out = g.wait_with_output().unwrap();
    let summary: Vec<String> = lines.map_while(Result::ok).collect();
    w.stop();
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0].split_whitespace().collect::<Vec<_>>(), ["TRACER_COMM", "TRACEE_COMM", "I_MASK", "NAME"]);
    for mask in ["IN_OPEN|FS_EVENT_ON_CHILD", "IN_ATTRIB|FS_EVENT_ON_CHILD", "IN_CLOSE_WRITE|FS_EVENT_ON_CHILD"] {
        let want = format!("inotifywatch touch {mask} ABCDE");
        assert!(
            rows.iter().any(|r| r.split_whitespace().collect::<Vec<_>>().join(" ") == want),
            "no row {want:?} in:\n{text}"
        );
    }
    assert!(summary.iter().any(|l| l.contains("none lost")), "{summary:?}");
    if let Ok(mut console) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
        use std::io::Write;
        let _ = writeln!(
            console,
            "FSG-TRANSCRIPT-BEGIN {backend}\n# fsnotify-gadget --fields=tracer_comm,tracee_comm,i_mask,name\n{ready}\n{text}{}\nFSG-TRANSCRIPT-END",
            summary.join("\n")
        );
    }
}
each_backend!(seed_session_in_columns: seed_session_in_columns_fentry => "fentry", seed_session_in_columns_kprobe => "kprobe");

/// The group address `list` prints selects that tracer's records.
fn list_address_selects_the_tracer(backend: &str) {
    let dir = test_dir("list-group");
    let w1 = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    let w2 = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w1.pid(), "inotify");
    wait_for_notify_fd(w2.pid(), "inotify");
    let out = Command::new(gadget_bin()).args(["list", "-o", "json", "--pid", &w2.pid().to_string()]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let rows: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let instance = rows.iter().find(|r| r["row"] == "instance").unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!(instance["pid"], w2.pid());
    let group = instance["fsnotify_group"].as_str().unwrap().to_string();

    let g = Gadget::start(&["--backend", backend, "--tracer-group", &group]);
    run("touch", &[dir.join("listed").to_str().unwrap()]);
    settle();
    let (records, _) = g.stop();
    assert!(!with(&records, "name", "listed").is_empty(), "{records:#?}");
    for r in &records {
        assert_eq!(r["fsnotify_group"], group.as_str());
        assert_eq!(s(r, "tracer.pid"), w2.pid());
    }
}
each_backend!(list_address_selects_the_tracer: list_address_fentry => "fentry", list_address_kprobe => "kprobe");

// Reliability (tests/common/reliability.rs): bursts, faults.

/// How many events a burst makes. FSG_BURST_EVENTS=N: exactly N (a fifth of
/// that for the stalled tool), as `FSG_BURST_EVENTS=1000000 cargo xtask vm-test
/// --filter burst` asks. Unset: sized by time, so that a slow machine makes
/// fewer: about three seconds of writing, but always enough to overflow what
/// the pace must overflow (the slow reader's queue, the stalled tool's ring
/// buffer). The properties hold at any such size.
fn burst_size(pace: Pace) -> BurstSize {
    let fixed: Option<u64> = std::env::var("FSG_BURST_EVENTS").ok().and_then(|v| v.parse().ok());
    let size = match (fixed, pace) {
        (Some(n), Pace::Stalled) => BurstSize::exactly(n / 5),
        (Some(n), _) => BurstSize::exactly(n),
        (None, Pace::Fast) => BurstSize { max_events: 1_000_000, max_time: Some(Duration::from_secs(3)), min_events: 0 },
        (None, Pace::Slow) => {
            BurstSize { max_events: 1_000_000, max_time: Some(Duration::from_secs(3)), min_events: 4 * SLOW_QUEUE }
        }
        (None, Pace::Stalled) => {
            BurstSize { max_events: 200_000, max_time: Some(Duration::from_secs(3)), min_events: RING_OVERFLOW_EVENTS }
        }
    };
    println!("FSG-NOTE: burst {pace:?} sized {size:?}");
    size
}

fn burst_fast(backend: &str) {
    burst(backend, burst_size(Pace::Fast), Pace::Fast);
}
each_backend!(burst_fast: burst_fast_reader_fentry => "fentry", burst_fast_reader_kprobe => "kprobe");

fn burst_slow(backend: &str) {
    burst(backend, burst_size(Pace::Slow), Pace::Slow);
}
each_backend!(burst_slow: burst_slow_reader_fentry => "fentry", burst_slow_reader_kprobe => "kprobe");

/// A burst made while the tool is stopped: more than the ring buffer holds.
fn burst_stalled(backend: &str) {
    burst(backend, burst_size(Pace::Stalled), Pace::Stalled);
}
each_backend!(burst_stalled: burst_stalled_tool_fentry => "fentry", burst_stalled_tool_kprobe => "kprobe");

/// top's LOST: the records a stopped tool lost, on the reader's row.
fn top_ring_losses(backend: &str) {
    top_counts_ring_losses_for_their_tracer(backend, RING_OVERFLOW_EVENTS);
}
each_backend!(top_ring_losses: top_ring_losses_fentry => "fentry", top_ring_losses_kprobe => "kprobe");

each_backend!(fanotify_permission_interrupted: fanotify_interrupted_fentry => "fentry", fanotify_interrupted_kprobe => "kprobe", fanotify_interrupted_tracepoint => "tracepoint");
each_backend!(tracer_killed_with_events_queued: fault_tracer_killed_fentry => "fentry", fault_tracer_killed_kprobe => "kprobe");
each_backend!(closed_with_unread_events: fault_closed_unread_fentry => "fentry", fault_closed_unread_kprobe => "kprobe");
each_backend!(undelivered_events_are_discarded: fault_undelivered_fentry => "fentry", fault_undelivered_kprobe => "kprobe");
each_backend!(queue_overflow_is_a_record: fault_queue_overflow_fentry => "fentry", fault_queue_overflow_kprobe => "kprobe");
each_backend!(watched_directory_deleted: fault_dir_deleted_fentry => "fentry", fault_dir_deleted_kprobe => "kprobe");
each_backend!(sigkill_then_restart: fault_sigkill_restart_fentry => "fentry", fault_sigkill_restart_kprobe => "kprobe");
each_backend!(two_instances: fault_two_instances_fentry => "fentry", fault_two_instances_kprobe => "kprobe");
each_backend!(piped_into_head: fault_piped_into_head_fentry => "fentry", fault_piped_into_head_kprobe => "kprobe");
each_backend!(signals_stop_cleanly: fault_signals_fentry => "fentry", fault_signals_kprobe => "kprobe");

fn soak_short(backend: &str) {
    let secs = std::env::var("FSG_SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    soak(backend, secs);
}
each_backend!(soak_short: soak_fentry => "fentry", soak_kprobe => "kprobe");

// Hostile names, comms and paths near PATH_MAX, and processes that vanish
// before the tool can look at them (issue 7): tests/common/hostile.rs.
use common::hostile::{hostile_names_end_to_end, vanishing_processes};
each_backend!(hostile_names_end_to_end: hostile_names_fentry => "fentry", hostile_names_kprobe => "kprobe", hostile_names_tracepoint => "tracepoint");
each_backend!(vanishing_processes: hostile_vanishing_fentry => "fentry", hostile_vanishing_kprobe => "kprobe");

// Booted with lockdown=confidentiality (the harness's lockdown boot runs the
// tests whose names contain `lockdown`, and only there): bpf_probe_read_kernel
// and trampolines are refused, and the tracepoint backend is what is left.

/// The lockdown level the kernel enforces, from securityfs (`[confidentiality]`).
fn lockdown_level() -> String {
    let path = "/sys/kernel/security/lockdown";
    if !Path::new(path).exists() {
        let _ = Command::new("mount").args(["-t", "securityfs", "none", "/sys/kernel/security"]).status();
    }
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split_whitespace().find(|w| w.starts_with('[')).unwrap_or("").trim_matches(['[', ']']).to_string()
}

/// `--backend auto` says in one short line why not fentry or kprobe (the
/// lockdown), and traces with the tracepoint backend: the seed's inotify example works.
#[test]
#[ignore = "runs inside the VM booted with lockdown=confidentiality: cargo xtask vm-test"]
fn lockdown_auto_picks_tracepoint() {
    require_root();
    assert_eq!(lockdown_level(), "confidentiality", "this test is for the lockdown=confidentiality boot");
    let dir = test_dir("lockdown-auto");
    let file = dir.join("ABCDE");
    std::fs::write(&file, b"x").unwrap();
    let g = Gadget::start(&["--inotify-only"]);
    let w = Client::start("inotifywatch", &[dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    let touch_pid = run("touch", &[file.to_str().unwrap()]);
    settle();
    let (records, stderr) = g.stop();
    let watcher = w.pid();
    w.stop();
    let using = stderr.iter().find(|l| l.contains("using the tracepoint backend")).unwrap_or_else(|| panic!("{stderr:#?}"));
    // One short line (two at 80 columns at most), no libbpf detail without -v.
    assert!(using.chars().count() <= 160, "{using}");
    assert!(!using.contains("libbpf"), "{using}");
    assert!(using.contains("lockdown"), "the reason names lockdown: {using}");
    let mine = with(&records, "name", "ABCDE");
    for bit in ["IN_OPEN", "IN_ATTRIB", "IN_CLOSE_WRITE"] {
        let r = mine.iter().find(|r| has_bit(&r["i_mask"], bit)).unwrap_or_else(|| panic!("no {bit} in {records:#?}"));
        assert_eq!(s(r, "tracer.pid"), watcher);
        assert_eq!(s(r, "tracee.pid"), touch_pid);
        assert_eq!(s(r, "tracee.comm"), "touch");
        assert_eq!(r["prio"], 0);
    }
}

/// Forced, fentry and kprobe each stop with one error line naming the cause.
#[test]
#[ignore = "runs inside the VM booted with lockdown=confidentiality: cargo xtask vm-test"]
fn lockdown_fentry_and_kprobe_refuse_in_one_line() {
    require_root();
    assert_eq!(lockdown_level(), "confidentiality", "this test is for the lockdown=confidentiality boot");
    for backend in ["fentry", "kprobe"] {
        let out = Command::new(common::gadget_bin()).args(["--backend", backend, "--timeout", "1"]).output().unwrap();
        assert!(!out.status.success(), "{backend} ran under lockdown: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{backend}: {err}");
        assert!(lines[0].starts_with("fsnotify-gadget: error: "), "{backend}: {err}");
        assert!(lines[0].contains("lockdown"), "{backend}: {err}");
    }
}

/// Forced, the tracepoint backend runs the permission example under lockdown too.
#[test]
#[ignore = "runs inside the VM booted with lockdown=confidentiality: cargo xtask vm-test"]
fn lockdown_forced_permission_answers() {
    require_root();
    assert_eq!(lockdown_level(), "confidentiality", "this test is for the lockdown=confidentiality boot");
    fanotify_permission_answers("tracepoint");
}

/// Waits until `pid` has a fanotify fd with an inode mark (its fdinfo lists
/// `fanotify ino:`): the client has set its marks.
fn wait_for_fanotify_mark(pid: u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let fds = std::fs::read_dir(format!("/proc/{pid}/fdinfo")).into_iter().flatten().flatten();
        if fds.into_iter().any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("fanotify ino:"))) {
            return;
        }
        sleep(Duration::from_millis(50));
    }
    panic!("pid {pid} set no fanotify mark");
}

/// fsnotifywait --fanotify reports by directory handle and name
/// (FAN_REPORT_DFID_NAME): a create, a mkdir and a delete each name the
/// entry's full path, never an empty name.
fn dfid_name_events_have_their_path(backend: &str) {
    let dir = test_dir("dfid-name");
    let g = Gadget::start(&["--backend", backend, "--fanotify-only"]);
    let w = Client::start("fsnotifywait", &["--fanotify", "-m", "-e", "create", "-e", "delete", dir.to_str().unwrap()]);
    wait_for_fanotify_mark(w.pid());
    std::fs::write(dir.join("made-here"), b"x").unwrap();
    std::fs::create_dir(dir.join("sub dir")).unwrap();
    std::fs::remove_file(dir.join("made-here")).unwrap();
    settle();
    let (records, _) = g.stop();
    let pid = w.pid();
    w.stop();
    let mine: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| s(r, "tracer.pid") == pid)
        .map(|r| (r["fa_mask"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or("<null>")))
        .collect();
    let made = format!("{}/made-here", dir.display());
    let sub = format!("{}/sub dir", dir.display());
    assert!(mine.iter().any(|(m, p)| m.contains("FAN_CREATE") && *p == made), "{mine:?}");
    assert!(mine.iter().any(|(m, p)| m.contains("FAN_CREATE") && m.contains("FAN_ONDIR") && *p == sub), "{mine:?}");
    assert!(mine.iter().any(|(m, p)| m.contains("FAN_DELETE") && *p == made), "{mine:?}");
    assert!(mine.iter().all(|(_, p)| !p.is_empty()), "no empty name: {mine:?}");
}
each_backend!(dfid_name_events_have_their_path: fanotify_dfid_name_fentry => "fentry", fanotify_dfid_name_kprobe => "kprobe", fanotify_dfid_name_tracepoint => "tracepoint");

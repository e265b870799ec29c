//! Container identity on both sides of a record (issue 14), with real
//! containers: Debian's podman running runc (crun refuses this machine's
//! v1/v2 hybrid cgroups), an image imported offline from busybox-static and
//! the host's inotifywait with its libraries, since nothing can be pulled.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::common::{filtered_in_user_space, require_root, run, s, test_dir, wait_for_notify_fd, Gadget};

fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).stderr(Stdio::piped()).output().expect("run podman (scripts/install-deps.sh installs it)");
    assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Copies `bin` and the libraries ldd lists for it into `tree`, at the same paths.
fn copy_with_libraries(bin: &Path, tree: &Path) {
    let ldd = Command::new("ldd").arg(bin).output().unwrap();
    let text = String::from_utf8_lossy(&ldd.stdout);
    let libs = text.split_whitespace().filter(|w| w.starts_with('/')).map(PathBuf::from);
    for file in std::iter::once(bin.to_path_buf()).chain(libs) {
        let to = tree.join(file.strip_prefix("/").unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap_or_else(|e| panic!("copy {file:?}: {e}"));
    }
}

/// The test image, imported once per run: busybox's applets, and inotifywait.
pub(crate) fn image() -> &'static str {
    static TAG: OnceLock<&'static str> = OnceLock::new();
    TAG.get_or_init(|| {
        let tree = test_dir("ctr-image-tree");
        std::fs::create_dir_all(tree.join("bin")).unwrap();
        std::fs::copy("/bin/busybox", tree.join("bin/busybox")).expect("busybox-static (scripts/install-deps.sh)");
        for applet in ["sh", "touch", "sleep", "cat", "mkdir"] {
            std::os::unix::fs::symlink("busybox", tree.join("bin").join(applet)).unwrap();
        }
        copy_with_libraries(Path::new("/usr/bin/inotifywait"), &tree);
        let tar = tree.with_extension("tar");
        run("tar", &["-C", tree.to_str().unwrap(), "-cf", tar.to_str().unwrap(), "."]);
        let tag = "localhost/fsg-test-containers:1";
        podman(&["import", tar.to_str().unwrap(), tag]);
        tag
    })
}

/// A detached container running `cmd` with `dir` mounted at /w, removed when dropped.
pub(crate) struct Ctr {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) pid: u32,
}

impl Ctr {
    pub(crate) fn run(label: &str, dir: &Path, cmd: &[&str]) -> Ctr {
        let name = format!("fsg-{label}-{}", std::process::id());
        let _ = Command::new("podman").args(["rm", "-f", "-t", "0", &name]).output();
        let volume = format!("{}:/w", dir.display());
        // The flags this machine needs: runc, rlimits podman may set, no network.
        let mut args = vec![
            "--runtime", "runc", "run", "-d", "--name", &name, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
            "--network", "none", "-v", &volume, image(),
        ];
        args.extend_from_slice(cmd);
        let id = podman(&args);
        let pid = podman(&["inspect", "-f", "{{.State.Pid}}", &name]).parse().unwrap();
        Ctr { name, id, pid }
    }

    /// Waits until the container's command has ended.
    pub(crate) fn wait(&self) {
        podman(&["wait", &self.name]);
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rm", "-f", "-t", "0", &self.name]).output();
    }
}

/// A host inotifywait watching `dir`.
fn host_watcher(dir: &Path) -> crate::common::Client {
    let w = crate::common::Client::start("inotifywait", &["-m", "-q", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    w
}

/// The side's container as the record has it: `(name, id)`, None when null.
fn side(r: &Value, which: &str) -> Option<(String, String)> {
    let c = s(r, &format!("{which}.container"));
    if c.is_null() {
        return None;
    }
    Some((c["name"].as_str().unwrap_or("").to_string(), c["id"].as_str().unwrap_or("").to_string()))
}

fn named(c: &Ctr) -> Option<(String, String)> {
    Some((c.name.clone(), c.id.clone()))
}

/// The records about files in `dir`.
fn under<'a>(records: &'a [Value], dir: &Path) -> Vec<&'a Value> {
    let prefix = format!("{}/", dir.display());
    records.iter().filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with(&prefix))).collect()
}

#[test]
fn a_host_watcher_sees_a_writer_in_a_container() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("ctr-host-watcher");
    let watcher = host_watcher(&dir);
    let g = Gadget::start(&["--tracer-pid", &watcher.pid().to_string()]);
    // The first event may wake a read begun before the start (README, Guarantees).
    run("touch", &[dir.join("first").to_str().unwrap()]);
    let writer = Ctr::run("writer", &dir, &["sh", "-c", "sleep 0.5; touch /w/from-the-container; touch /w/again"]);
    writer.wait();
    std::thread::sleep(Duration::from_millis(500));
    let (records, _) = g.stop();
    let ours = under(&records, &dir);
    let from: Vec<_> = ours.iter().filter(|r| r["name"] == "from-the-container" || r["name"] == "again").collect();
    assert!(from.len() >= 2, "no record of the container's touches: {ours:#?}");
    for r in &from {
        assert_eq!(side(r, "tracee"), named(&writer), "{r}");
        assert_eq!(r["tracee"]["container"]["runtime"], "podman", "{r}");
        assert_eq!(r["tracee"]["container"]["image"], image(), "{r}");
        assert_eq!(r["tracee"]["k8s"], Value::Null, "a podman container is in no pod: {r}");
        assert_eq!(side(r, "tracer"), None, "the watcher is on the host: {r}");
        assert_eq!(r["tracer"]["k8s"], Value::Null);
    }
    for r in ours.iter().filter(|r| r["name"] == "first") {
        assert_eq!((side(r, "tracer"), side(r, "tracee")), (None, None), "host on both sides: {r}");
    }
}

#[test]
fn a_watcher_in_a_container_sees_a_host_writer_and_list_names_it() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("ctr-container-watcher");
    let watcher = Ctr::run("watcher", &dir, &["inotifywait", "-m", "-q", "/w"]);
    wait_for_notify_fd(watcher.pid, "inotify");

    let listed = Command::new(crate::common::gadget_bin()).args(["list", "-o", "json", "--pid", &watcher.pid.to_string()]).output().unwrap();
    assert!(listed.status.success(), "list: {}", String::from_utf8_lossy(&listed.stderr));
    let rows: Vec<Value> = String::from_utf8(listed.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let row = rows.iter().find(|r| r["row"] == "instance" && r["pid"] == watcher.pid).unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!((row["container"]["name"].as_str(), row["container"]["id"].as_str()), (Some(&*watcher.name), Some(&*watcher.id)), "{row}");
    assert_eq!(row["container"]["runtime"], "podman");
    let table = Command::new(crate::common::gadget_bin()).args(["list", "--pid", &watcher.pid.to_string()]).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    let header = table.lines().next().unwrap().split_whitespace().position(|c| c == "CONTAINER").expect("a CONTAINER column");
    let line = table.lines().find(|l| l.starts_with(&watcher.pid.to_string())).unwrap_or_else(|| panic!("{table}"));
    assert_eq!(line.split_whitespace().nth(header), Some(&*watcher.name), "{table}");

    let g = Gadget::start(&["--tracer-pid", &watcher.pid.to_string()]);
    run("touch", &[dir.join("first").to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(300));
    run("touch", &[dir.join("from-the-host").to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(500));
    let (records, _) = g.stop();
    let seen: Vec<_> = under(&records, &dir).into_iter().filter(|r| r["name"] == "from-the-host").collect();
    assert!(!seen.is_empty(), "the container's watcher read nothing of the host's touch: {records:#?}");
    for r in &seen {
        assert_eq!(side(r, "tracer"), named(&watcher), "{r}");
        assert_eq!(r["tracer"]["pid"], watcher.pid);
        assert_eq!(side(r, "tracee"), None, "touch ran on the host: {r}");
    }
}

/// A multiset of records by who read and caused what.
fn keys(records: &[&Value]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in records {
        let k = format!("{} {} {} {}", r["tracer"]["pid"], r["tracee"]["pid"], r["path"], r["i_mask"]);
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

#[test]
fn two_containers_each_on_its_side_and_the_container_filter_keeps_exactly_theirs() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("ctr-two");
    let other = test_dir("ctr-two-host");
    let watcher = Ctr::run("a-watcher", &dir, &["inotifywait", "-m", "-q", "/w"]);
    wait_for_notify_fd(watcher.pid, "inotify");
    let host = host_watcher(&other);
    // One trace of everything, one of -c with the watcher's container: both
    // started after the watchers, so both miss alike what the tracepoint
    // backend misses (the read each watcher had begun).
    let all = Gadget::start(&[]);
    let only = Gadget::start(&["-c", &watcher.name]);
    run("touch", &[dir.join("first").to_str().unwrap(), other.join("first").to_str().unwrap()]);
    let writer = Ctr::run("b-writer", &dir, &["sh", "-c", "sleep 0.5; for i in 1 2 3; do touch /w/from-b-$i; sleep 0.1; done"]);
    writer.wait();
    for i in 0..3 {
        run("touch", &[dir.join(format!("from-host-{i}")).to_str().unwrap(), other.join(format!("host-only-{i}")).to_str().unwrap()]);
    }
    std::thread::sleep(Duration::from_millis(700));
    let (only, _) = only.stop();
    let (all, _) = all.stop();
    drop(host);

    let from_b: Vec<_> = under(&all, &dir).into_iter().filter(|r| r["name"].as_str().is_some_and(|n| n.starts_with("from-b-"))).collect();
    assert!(from_b.len() >= 3, "the watcher read too little of B's touches: {from_b:#?}");
    for r in &from_b {
        assert_eq!(side(r, "tracer"), named(&watcher), "{r}");
        assert_eq!(side(r, "tracee"), named(&writer), "{r}");
    }
    for r in under(&all, &other) {
        assert_eq!((side(r, "tracer"), side(r, "tracee")), (None, None), "host on both sides: {r}");
    }
    // Exactly the records with the watcher's container on either side.
    assert!(only.iter().all(|r| side(r, "tracer") == named(&watcher) || side(r, "tracee") == named(&watcher)), "{only:#?}");
    let expected: Vec<&Value> = all.iter().filter(|r| side(r, "tracer") == named(&watcher) || side(r, "tracee") == named(&watcher)).collect();
    let (want, got) = (keys(&expected), keys(&only.iter().collect::<Vec<_>>()));
    assert_eq!(got, want, "-c kept other records than those of its container");
    assert!(want.keys().any(|k| k.contains("from-host-")), "the host's touches in the container's directory are in: {want:#?}");
}

#[test]
fn records_read_after_their_container_exited_have_null_containers() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("ctr-exited");
    let ready = dir.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    // A host reader, stopped while the container writes: the container's events wait in its queue.
    let reader = Command::new(crate::common::helper("fsg-inotify-reader"))
        .args(["--dir", dir.to_str().unwrap(), "--ready", ready.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let reader = crate::common::Client::from_child(reader);
    crate::common::wait_ready(&ready, "fsg-inotify-reader");
    let mut g = Gadget::start(&["--tracer-pid", &reader.pid().to_string()]);
    // SAFETY: kill with a pid we own.
    unsafe { libc::kill(reader.pid() as i32, libc::SIGSTOP) };
    let writer = Ctr::run("gone", &dir, &["sh", "-c", "for i in 1 2 3 4 5; do touch /w/f-$i; done"]);
    writer.wait();
    let (name, id) = (writer.name.clone(), writer.id.clone());
    drop(writer);
    // Past the rescan interval, so the tool's view of the runtimes has no such container.
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: as above.
    unsafe { libc::kill(reader.pid() as i32, libc::SIGCONT) };
    std::thread::sleep(Duration::from_millis(1500));
    assert!(g.stderr_now().iter().all(|l| !l.contains("error")), "{:#?}", g.stderr_now());
    let (records, stderr) = g.stop();
    let touched: Vec<_> = under(&records, &dir).into_iter().filter(|r| r["tracee"]["comm"] == "touch").collect();
    assert!(touched.len() >= 5, "the reader's records of the exited container's touches: {records:#?} {stderr:#?}");
    for r in &touched {
        let c = &r["tracee"]["container"];
        // Its cgroup and namespace are gone: no name, no image; an id only if a
        // walk of the cgroups met its cgroup while it lived.
        assert!(c.is_null() || (c["name"].is_null() && c["image"].is_null() && c["id"] == id.as_str()), "{name}: {r}");
        assert!(r["tracee"]["cgroup_id"].as_u64().is_some_and(|i| i > 1), "the kernel still gave its cgroup id: {r}");
    }
}

#[test]
fn top_names_the_container_of_a_watcher_and_of_a_writer() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("ctr-top");
    let watcher = Ctr::run("top-watcher", &dir, &["inotifywait", "-m", "-q", "/w"]);
    wait_for_notify_fd(watcher.pid, "inotify");
    let g = Gadget::spawn(&["top", "-o", "json", "--interval", "1", "--tracer-pid", &watcher.pid.to_string()]);
    run("touch", &[dir.join("first").to_str().unwrap()]);
    let writer = Ctr::run("top-writer", &dir, &["sh", "-c", "sleep 0.5; for i in 1 2 3; do touch /w/w-$i; sleep 0.1; done"]);
    writer.wait();
    run("touch", &[dir.join("from-the-host").to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(1200));
    let (out, _) = g.stop_bytes();
    let out = String::from_utf8(out).unwrap();
    let total: Value = serde_json::from_str(out.lines().last().expect("no summary")).unwrap();
    let tracer = total["tracers"].as_array().unwrap().iter().find(|t| t["tracer"]["pid"] == watcher.pid).unwrap_or_else(|| panic!("{total}"));
    assert_eq!(tracer["tracer"]["container"], watcher.name.as_str(), "{tracer}");
    let pairs = total["pairs"].as_array().unwrap();
    let from_writer: Vec<_> = pairs.iter().filter(|p| p["tracee"]["container"] == writer.name.as_str()).collect();
    assert!(!from_writer.is_empty(), "no pair names the writer's container: {total}");
    assert!(from_writer.iter().all(|p| p["tracer"]["container"] == watcher.name.as_str() && p["tracee"]["comm"] == "touch"), "{from_writer:?}");
    let host: Vec<_> = pairs.iter().filter(|p| p["tracee"]["container"].is_null()).collect();
    assert!(!host.is_empty() && host.iter().all(|p| p["tracee"]["comm"] == "touch"), "the host's touch is a pair with no tracee container: {total}");
    // The plain text: the watcher's row has its container in the CONTAINER column.
    let g = Gadget::spawn(&["top", "--interval", "1", "--tracer-pid", &watcher.pid.to_string()]);
    run("touch", &[dir.join("text").to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(300));
    run("touch", &[dir.join("text-2").to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(1200));
    let (text, _) = g.stop_bytes();
    let text = String::from_utf8(text).unwrap();
    let tracers = text.rsplit("TRACERS\n").next().unwrap();
    let mut lines = tracers.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&header[..3], ["PID", "COMM", "CONTAINER"], "{text}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!((row[0], row[2]), (watcher.pid.to_string().as_str(), watcher.name.as_str()), "{text}");
}

/// The value of `fsnotify_gadget_events_total{tracee_container="NAME",type="inotify"}`
/// in a scrape, if that series is there.
fn inotify_series(text: &str, container: &str) -> Option<u64> {
    let head = format!("fsnotify_gadget_events_total{{tracee_container=\"{container}\",type=\"inotify\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&head)).map(|v| v.trim().parse().unwrap_or_else(|e| panic!("{v}: {e}")))
}

fn events_lines(text: &str) -> Vec<String> {
    text.lines().filter(|l| l.starts_with("fsnotify_gadget_events_total{")).map(String::from).collect()
}

#[test]
fn metrics_count_a_containers_events_and_the_hosts_under_tracee_container() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("ctr-metrics");
    let watcher = host_watcher(&dir);
    let port = crate::fleet::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut g = Gadget::start(&[
        "--backend", "tracepoint", "--metrics", &addr, "--metrics-labels", "tracee_container", "--tracer-pid", &watcher.pid().to_string(),
    ]);
    g.wait_stderr(&format!("metrics on http://{addr}/metrics"), Duration::from_secs(20));
    // The first event may wake a read begun before the start (README, Guarantees).
    run("touch", &[dir.join("first").to_str().unwrap()]);
    const IN_CONTAINER: usize = 5;
    const ON_HOST: usize = 3;
    let writer = Ctr::run("metrics-writer", &dir, &["sh", "-c", "sleep 0.5; for i in 1 2 3 4 5; do touch /w/from-ctr-$i; done"]);
    writer.wait();
    for i in 0..ON_HOST {
        run("touch", &[dir.join(format!("from-host-{i}")).to_str().unwrap()]);
    }
    // Scraped once the counts stay put (the trace loop publishes after each batch).
    std::thread::sleep(Duration::from_millis(700));
    let mut text = crate::fleet::http_get(port, "/metrics");
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(500));
        let again = crate::fleet::http_get(port, "/metrics");
        let settled = events_lines(&again) == events_lines(&text);
        text = again;
        if settled {
            break;
        }
    }
    let (records, stderr) = g.stop();
    let named = |r: &&Value, name: &str| r["tracee"]["container"]["name"] == name;
    let inotify: Vec<&Value> = records.iter().filter(|r| r["type"] == "inotify").collect();
    assert_eq!(inotify.len(), records.len(), "only the inotify watcher is traced: {records:#?}");
    let from_ctr: Vec<&Value> = inotify.iter().copied().filter(|r| named(r, &writer.name)).collect();
    let from_host: Vec<&Value> = inotify.iter().copied().filter(|r| r["tracee"]["container"].is_null()).collect();
    assert_eq!(from_ctr.len() + from_host.len(), inotify.len(), "a tracee in another container: {records:#?}");
    // Every file of each writer is there, under its side.
    let files = |rs: &[&Value], prefix: &str| {
        let mut names: Vec<String> = rs.iter().filter_map(|r| r["name"].as_str()).filter(|n| n.starts_with(prefix)).map(String::from).collect();
        names.sort();
        names.dedup();
        names.len()
    };
    assert_eq!(files(&from_ctr, "from-ctr-"), IN_CONTAINER, "{records:#?} {stderr:#?}");
    assert_eq!(files(&from_host, "from-host-"), ON_HOST, "{records:#?} {stderr:#?}");
    assert_eq!(files(&from_host, "from-ctr-") + files(&from_ctr, "from-host-"), 0, "{records:#?}");
    // The counter has exactly these two series, each with its side's records.
    assert_eq!(inotify_series(&text, &writer.name), Some(from_ctr.len() as u64), "{text}");
    assert_eq!(inotify_series(&text, ""), Some(from_host.len() as u64), "{text}");
    assert_eq!(events_lines(&text).len(), 2, "{text}");
    eprintln!("{}", events_lines(&text).join("\n"));
}

/// containerd run for one test with its own state, root and socket, stopped when dropped.
struct Containerd {
    child: std::process::Child,
    dir: PathBuf,
    sock: PathBuf,
}

impl Containerd {
    fn start(dir: &Path, pause: &str) -> Containerd {
        let defaults = Command::new("containerd").args(["config", "default"]).output().expect("containerd (scripts/install-deps.sh)");
        let config = String::from_utf8(defaults.stdout).unwrap();
        assert!(config.contains("sandbox_image = ") && config.contains("restrict_oom_score_adj = false"), "{config}");
        // The pause image imported below; and the sandbox's oom_score_adj of -998 is
        // refused here (runc fails with "can't get final child's PID"): keep ours.
        let config: String = config
            .lines()
            .map(|l| match l.trim_start() {
                t if t.starts_with("sandbox_image = ") => format!("    sandbox_image = \"{pause}\""),
                t if t.starts_with("restrict_oom_score_adj = ") => "    restrict_oom_score_adj = true".to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let sock = dir.join("containerd.sock");
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .arg("--address")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd { child, dir: dir.to_path_buf(), sock };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !c.ctr(&["version"]).status.success() {
            assert!(std::time::Instant::now() < deadline, "containerd did not start: {}", c.log());
            std::thread::sleep(Duration::from_millis(200));
        }
        c
    }

    fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("ctr").arg("--address").arg(&self.sock).args(["-n", "k8s.io"]).args(args).output().unwrap()
    }

    /// An image podman has, imported into containerd's k8s.io namespace under the same name.
    fn import(&self, image: &str) {
        let tar = self.dir.join(format!("{}.tar", image.replace(['/', ':'], "_")));
        podman(&["save", "--format", "docker-archive", "-o", tar.to_str().unwrap(), image]);
        let out = self.ctr(&["images", "import", tar.to_str().unwrap()]);
        assert!(out.status.success(), "ctr images import {image}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// The CRI client (tests/host/cri), its stubs generated from api.proto on first use.
    fn cri(&self, args: &[&str]) -> String {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/host/cri");
        let stubs = self.dir.join("stubs");
        if !stubs.join("api_pb2_grpc.py").exists() {
            std::fs::create_dir_all(&stubs).unwrap();
            let st = Command::new("/usr/bin/python3")
                .args(["-m", "grpc_tools.protoc", "-I"])
                .arg(&src)
                .arg(format!("--python_out={}", stubs.display()))
                .arg(format!("--grpc_python_out={}", stubs.display()))
                .arg(src.join("api.proto"))
                .status()
                .expect("python3 -m grpc_tools.protoc (python3-grpc-tools)");
            assert!(st.success(), "generating the CRI stubs failed");
        }
        let out = Command::new("/usr/bin/python3").arg(src.join("cri_client.py")).arg(&self.sock).args(args).env("CRI_STUBS", &stubs).output().unwrap();
        assert!(out.status.success(), "cri_client.py {args:?}: {}\ncontainerd: {}", String::from_utf8_lossy(&out.stderr), self.log());
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kubernetes_identity_through_containerds_cri() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("ctr-cri");
    let shared = dir.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    // The pod's sandbox image: busybox's sleep standing in for pause.
    let pause = "localhost/fsg-test-pause:1";
    let tar = dir.join("pause-tree.tar");
    let _ = image();
    let tree = std::env::temp_dir().join(format!("fsg-ctr-image-tree-{}", std::process::id()));
    run("tar", &["-C", tree.to_str().unwrap(), "-cf", tar.to_str().unwrap(), "."]);
    podman(&["import", "--change", "ENTRYPOINT [\"/bin/sleep\", \"1000000\"]", tar.to_str().unwrap(), pause]);
    let containerd = Containerd::start(&dir, pause);
    containerd.import(pause);
    containerd.import(image());
    let ids: Value = serde_json::from_str(&containerd.cri(&["up", shared.to_str().unwrap(), image()])).unwrap();
    let (sandbox, id) = (ids["sandbox"].as_str().unwrap().to_string(), ids["container"].as_str().unwrap().to_string());
    let tasks = dir.join("state/io.containerd.runtime.v2.task");
    let pid: u32 = std::fs::read_to_string(tasks.join("k8s.io").join(&id).join("init.pid")).unwrap().trim().parse().unwrap();
    wait_for_notify_fd(pid, "inotify");

    // containerd keeps its tasks under --state here: --runtime-root says where.
    let root = format!("containerd={}", tasks.display());
    let all = Gadget::start(&["--tracer-pid", &pid.to_string(), "--runtime-root", &root]);
    let pod = Gadget::start(&["--k8s-podname", "web-0", "--k8s-namespace", "prod", "--runtime-root", &root]);
    let other = Gadget::start(&["--k8s-namespace", "dev", "--runtime-root", &root]);
    run("touch", &[shared.join("first").to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(300));
    run("touch", &[shared.join("from-the-host").to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(700));
    let (records, _) = all.stop();
    let (in_pod, _) = pod.stop();
    let (in_dev, _) = other.stop();
    containerd.cri(&["down", &sandbox]);

    let seen: Vec<_> = under(&records, &shared).into_iter().filter(|r| r["name"] == "from-the-host").collect();
    assert!(!seen.is_empty(), "the pod's watcher read nothing: {records:#?}");
    for r in &seen {
        let (c, k) = (&r["tracer"]["container"], &r["tracer"]["k8s"]);
        assert_eq!((c["id"].as_str(), c["name"].as_str(), c["runtime"].as_str()), (Some(&*id), Some("app"), Some("containerd")), "{r}");
        assert_eq!(c["image"], image(), "{r}");
        assert_eq!((k["namespace"].as_str(), k["pod"].as_str(), k["container"].as_str()), (Some("prod"), Some("web-0"), Some("app")), "{r}");
        assert_eq!(k["pod_uid"], "6b0a4e6c-5d4b-4a8f-9d0e-1c2b3a4d5e6f", "{r}");
        assert!(r["tracer"]["cgroup"].as_str().is_some_and(|p| p.contains("pod6b0a4e6c-5d4b-4a8f-9d0e-1c2b3a4d5e6f")), "kubelet's pod cgroup: {r}");
        assert_eq!((r["tracee"]["container"].clone(), r["tracee"]["k8s"].clone()), (Value::Null, Value::Null), "touch ran on the host: {r}");
    }
    assert!(under(&in_pod, &shared).iter().any(|r| r["name"] == "from-the-host"), "--k8s-podname web-0 kept nothing: {in_pod:#?}");
    assert!(in_pod.iter().all(|r| r["tracer"]["k8s"]["pod"] == "web-0" || r["tracee"]["k8s"]["pod"] == "web-0"), "{in_pod:#?}");
    assert!(in_dev.is_empty(), "no pod of namespace dev runs: {in_dev:#?}");
}

#[test]
fn a_tracee_container_running_at_start_is_filtered_in_the_kernel_by_its_cgroup() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("ctr-push-down");
    let watcher = host_watcher(&dir);
    let writer = Ctr::run("pushed", &dir, &["sh", "-c", "while true; do touch /w/loop; sleep 0.2; done"]);
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", writer.pid)).unwrap();
    let rel = cgroup.lines().find_map(|l| l.strip_prefix("0::")).unwrap().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let root = fsnotify_gadget::procfs::cgroups::cgroup2_mount(&mounts).expect("a cgroup2 mount");
    let id = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(root.join(rel.trim_start_matches('/'))).unwrap());

    let mut g = Gadget::start(&["--tracee-container", &writer.name, "--tracer-container", "fsg-no-such-container"]);
    let said = g.stderr_now().join("\n");
    assert!(said.contains(&format!("--tracee-container {}: filtered in the kernel by its cgroup id {id}", writer.name)), "{said}");
    assert!(said.contains("--tracer-container fsg-no-such-container: no running container has that name now; filtered in user space"), "{said}");
    g.stop();

    // The host's touches, read by the same watcher, are what the container's cgroup leaves
    // out: the kernel must, so that user space's check of the name has nothing to drop.
    let everything = Gadget::start(&["--tracer-pid", &watcher.pid().to_string()]);
    let g = Gadget::start(&["--tracee-container", &writer.name, "--tracer-pid", &watcher.pid().to_string(), "--stats", "3600"]);
    for i in 0..3 {
        run("touch", &[dir.join(format!("host-{i}")).to_str().unwrap()]);
        std::thread::sleep(Duration::from_millis(300));
    }
    let (records, stderr) = g.stop();
    let (everything, _) = everything.stop();
    assert!(everything.iter().any(|r| r["name"] == "host-0" && r["tracee"]["container"].is_null()), "no record of the host's touch: {everything:#?}");
    assert_eq!(filtered_in_user_space(&stderr), 0, "the container's cgroup was not applied in the kernel: {stderr:?}");
    assert!(records.iter().any(|r| r["name"] == "loop"), "none of the container's touches: {records:#?}");
    for r in &records {
        assert_eq!((r["tracee"]["cgroup_id"].as_u64(), side(r, "tracee")), (Some(id), named(&writer)), "{r}");
    }
}

/// Runtime state is whatever whoever can write a runtime root put there: a state.json that
/// is a FIFO, one linked to /dev/zero and one linked to /proc/kmsg sit in the runc root the
/// tool is given. A container's records still print (naming it scans that root), and SIGINT
/// still stops the tool: before, the FIFO's open held the trace with no record printed,
/// deaf to SIGINT and SIGTERM.
#[test]
fn hostile_runtime_state_neither_hangs_nor_feeds_the_trace() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("hostile-state");
    let root = test_dir("hostile-state-root");
    for entry in ["fifo", "zero", "kmsg"] {
        std::fs::create_dir(root.join(entry)).unwrap();
    }
    let fifo = std::ffi::CString::new(root.join("fifo/state.json").to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink("/dev/zero", root.join("zero/state.json")).unwrap();
    std::os::unix::fs::symlink("/proc/kmsg", root.join("kmsg/state.json")).unwrap();
    let watcher = host_watcher(&dir);
    let writer = Ctr::run("hostile-state", &dir, &["sh", "-c", "while true; do touch /w/loop; sleep 0.2; done"]);
    let g = Gadget::start(&["--tracer-pid", &watcher.pid().to_string(), "--runtime-root", &format!("runc={}", root.display())]);
    std::thread::sleep(Duration::from_secs(2));
    let pid = g.pid();
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(g.stop()));
    let Ok((records, _)) = stopped.recv_timeout(Duration::from_secs(30)) else {
        // SAFETY: the tool's pid, still ours.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        panic!("fsnotify-gadget did not stop 30 s after SIGINT");
    };
    let loops: Vec<&Value> = records.iter().filter(|r| r["name"] == "loop").collect();
    assert!(loops.len() >= 2, "the container's touches were not printed: {records:#?}");
    // From inside the container: naming their tracee is what reads the runtime root.
    assert!(loops.iter().all(|r| s(r, "tracee.cgroup").as_str().is_some_and(|c| c.contains(&writer.id))), "{loops:#?}");
}

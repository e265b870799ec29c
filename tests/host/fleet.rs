//! Running across a fleet (issue 16), on this host (as root): the static binary, the
//! metrics scraped by a real Prometheus, `promtool check metrics`, the OCI image under
//! podman, and the DaemonSet manifest against the CLI and kubectl.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{helper, require_root, test_dir, wait_for_notify_fd, wait_ready, Client};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The static binary of `cargo xtask dist` ($FSG_DIST_BIN when given). xtask is built in
/// its own target directory: this test's cargo holds the lock of the normal one.
fn dist_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("FSG_DIST_BIN") {
            return PathBuf::from(p);
        }
        let st = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(root())
            .args(["run", "--quiet", "--release", "--package", "xtask", "--target-dir"])
            .arg(root().join("target/dist/xtask"))
            .args(["--", "dist"])
            .status()
            .expect("run cargo xtask dist");
        assert!(st.success(), "cargo xtask dist failed: {st}");
        root().join("target/dist/fsnotify-gadget")
    })
}

/// A running fsnotify-gadget: stdout lines and stderr lines as they come.
struct Gadget {
    child: Child,
    out: mpsc::Receiver<String>,
    err: mpsc::Receiver<String>,
    err_seen: Vec<String>,
}

impl Gadget {
    fn spawn(bin: &Path, args: &[&str]) -> Gadget {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let lines = |r: Box<dyn Read + Send>, tag: &'static str| {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines().map_while(Result::ok) {
                    if tag == "err" {
                        eprintln!("[gadget] {line}");
                    }
                    let _ = tx.send(line);
                }
            });
            rx
        };
        let out = lines(Box::new(child.stdout.take().unwrap()), "out");
        let err = lines(Box::new(child.stderr.take().unwrap()), "err");
        Gadget { child, out, err, err_seen: Vec::new() }
    }

    /// Waits for a stderr line containing `needle`.
    fn wait_stderr(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(l) = self.err_seen.iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.err.recv_timeout(left) {
                Ok(l) => self.err_seen.push(l),
                Err(_) => panic!("fsnotify-gadget never said {needle:?}; it said {:?}", self.err_seen),
            }
        }
    }

    /// Waits for the exit (--timeout); stdout lines and every stderr line.
    fn finish(mut self) -> (Vec<String>, Vec<String>) {
        let st = self.child.wait().unwrap();
        let out: Vec<String> = self.out.iter().collect();
        self.err_seen.extend(self.err.iter());
        assert!(st.success(), "fsnotify-gadget failed: {st}; stderr {:?}", self.err_seen);
        (out, std::mem::take(&mut self.err_seen))
    }
}

impl Drop for Gadget {
    fn drop(&mut self) {
        // SAFETY: a pid we own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn json_lines(lines: &[String]) -> Vec<Value> {
    lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
}

/// A loopback port nobody listens on now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` on a loopback port; the body (panics on a non-200 answer).
pub(crate) fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "GET {path}: {head}");
    body.to_string()
}

/// Percent-encoding for a query string value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A copy of `bin` named `name`: its processes' comm is then unique to this test, whatever
/// else runs on the machine.
fn renamed(bin: &Path, dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::copy(bin, &p).unwrap_or_else(|e| panic!("copy {}: {e}", bin.display()));
    p
}

pub(crate) fn which(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed (scripts/install-deps.sh installs it)"))
}

/// inotifywait -m on `dir` (recursive), as `uid`, its output lines sent back.
fn inotifywait_as(bin: &Path, uid: u32, dir: &Path) -> (Client, mpsc::Receiver<String>) {
    let mut child = Command::new("setpriv")
        .args([format!("--reuid={uid}"), format!("--regid={uid}"), "--clear-groups".into()])
        .arg(bin)
        .args(["-m", "-r", "-q"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start inotifywait under setpriv");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let c = Client::from_child(child);
    wait_for_notify_fd(c.pid(), "inotify");
    (c, rx)
}

#[test]
fn static_binary_runs_help_list_and_a_host_trace() {
    let _alone = crate::alone(module_path!());
    require_root();
    let bin = dist_binary();
    let ldd = Command::new("ldd").arg(bin).output().expect("run ldd");
    let said = String::from_utf8_lossy(&ldd.stdout).to_string() + &String::from_utf8_lossy(&ldd.stderr);
    assert!(said.contains("not a dynamic executable"), "ldd {}: {said}", bin.display());

    let help = Command::new(bin).arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--metrics <ADDR:PORT>"));

    let dir = test_dir("fleet-static");
    let (watcher, _lines) = inotifywait_as(&which("inotifywait"), 0, &dir);
    let list = Command::new(bin).args(["list", "-o", "json", "--pid", &watcher.pid().to_string()]).output().unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let rows = json_lines(&String::from_utf8_lossy(&list.stdout).lines().map(String::from).collect::<Vec<_>>());
    assert!(rows.iter().any(|r| r["row"] == "instance" && r["kind"] == "inotify" && r["watches"] == 1), "{rows:?}");

    let mut g = Gadget::spawn(bin, &["--backend", "tracepoint", "--timeout", "4", "-o", "json", "--tracer-pid", &watcher.pid().to_string()]);
    g.wait_stderr("tracing with the tracepoint backend");
    crate::common::run("touch", &[dir.join("from-static").to_str().unwrap()]);
    let (out, err) = g.finish();
    let records = json_lines(&out);
    assert!(
        records.iter().any(|r| r["tracee"]["comm"] == "touch" && r["name"] == "from-static" && r["tracer"]["pid"] == watcher.pid()),
        "no record of the touch in {records:?}"
    );
    assert!(err.iter().any(|l| l.contains("none lost")), "{err:?}");
}

/// Prometheus' answer to an instant query: the samples' (labels, value).
fn prom_query(port: u16, q: &str) -> Vec<(Value, f64)> {
    let body = http_get(port, &format!("/api/v1/query?query={}", urlencode(q)));
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["status"], "success", "{q}: {body}");
    v["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["metric"].clone(), s["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
        .collect()
}

/// Asks until the query's single value satisfies `ok` (30 s at most); that value.
fn prom_wait(port: u16, q: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = prom_query(port, q);
        if let [(_, v)] = last[..] {
            if ok(v) {
                return v;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("Prometheus never answered {q:?} as expected; last answer {last:?}");
}

struct Prometheus {
    child: Child,
    port: u16,
}

impl Prometheus {
    /// A real Prometheus on a loopback port, scraping `target` every second.
    fn start(dir: &Path, target: u16) -> Prometheus {
        let port = free_port();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: fsnotify-gadget\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n",
                root().join("deploy/alerts.yml").display()
            ),
        )
        .unwrap();
        let child = Command::new(which("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() || !http_get_ok(port, "/-/ready") {
            assert!(Instant::now() < deadline, "prometheus never became ready: {}", std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }
}

fn http_get_ok(port: u16, path: &str) -> bool {
    std::panic::catch_unwind(|| http_get(port, path)).is_ok()
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_prometheus_scrapes_what_the_workload_did() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("fleet-prom");
    let bins = test_dir("fleet-prom-bins");
    let watched = dir.join("watched");
    std::fs::create_dir(&watched).unwrap();
    const SUBDIRS: usize = 20;
    for i in 0..SUBDIRS {
        std::fs::create_dir(watched.join(format!("d{i}"))).unwrap();
    }
    let guarded = dir.join("guarded");
    std::fs::create_dir(&guarded).unwrap();
    for n in ["ok1", "ok2", "ok3", "no"] {
        std::fs::write(guarded.join(n), b"x").unwrap();
    }
    // World-readable, for the watcher that runs as another user.
    for p in [&dir, &watched] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&bins, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // Unique comms (and a uid of our own) whatever else runs here.
    let tag = std::process::id() % 100_000;
    let watcher_comm = format!("fltiw{tag}");
    let perm_comm = format!("fltperm{tag}");
    let watcher_bin = renamed(&which("inotifywait"), &bins, &watcher_comm);
    let perm_bin = renamed(&helper("fsg-fanotify-perm"), &bins, &perm_comm);
    const UID: u32 = 42_4242;

    let mport = free_port();
    let addr = format!("127.0.0.1:{mport}");
    let mut g = Gadget::spawn(
        &crate::common::gadget_bin(),
        &["--backend", "tracepoint", "-o", "json", "--timeout", "90", "--metrics", &addr, "--metrics-labels", "tracer_comm,tracer_uid", "--metrics-inventory", "1"],
    );
    g.wait_stderr("tracing with");
    g.wait_stderr(&format!("metrics on http://{addr}/metrics"));
    let prom = Prometheus::start(&dir, mport);

    // Started after the tracer: the tracepoint backend does not see a read that was
    // already blocked when it attached.
    let (watcher, events) = inotifywait_as(&watcher_bin, UID, &watched);
    const DELAY_MS: u64 = 20;
    let ready = dir.join("perm-ready");
    let perm = Client::start(
        perm_bin.to_str().unwrap(),
        &["--dir", guarded.to_str().unwrap(), "--deny", "no", "--ready", ready.to_str().unwrap(), "--delay-ms", &DELAY_MS.to_string()],
    );
    wait_ready(&ready, "fsg-fanotify-perm");

    for i in 0..SUBDIRS {
        std::fs::write(watched.join(format!("d{i}")).join("f"), b"hello").unwrap();
    }
    let mut allowed = 0;
    let mut denied = 0;
    for _ in 0..3 {
        for n in ["ok1", "ok2", "ok3", "no"] {
            match std::fs::read(guarded.join(n)) {
                Ok(_) => allowed += 1,
                Err(_) => denied += 1,
            }
        }
    }
    assert_eq!((allowed, denied), (9, 3));
    // What the watcher read: one line per event.
    std::thread::sleep(Duration::from_secs(1));
    let read_by_watcher = events.try_iter().count() as f64;
    assert!(read_by_watcher >= SUBDIRS as f64 * 3.0, "inotifywait printed only {read_by_watcher} events");

    let q_events = format!("sum(fsnotify_gadget_events_total{{type=\"inotify\",tracer_comm=\"{watcher_comm}\",tracer_uid=\"{UID}\"}})");
    let got = prom_wait(prom.port, &q_events, |v| v >= read_by_watcher);
    assert_eq!(got, read_by_watcher, "{q_events}");

    let q_count = |answer: &str| format!("sum(fsnotify_gadget_permission_latency_seconds_count{{tracer_comm=\"{perm_comm}\",answer=\"{answer}\"}})");
    assert_eq!(prom_wait(prom.port, &q_count("allow"), |v| v >= 9.0), 9.0);
    assert_eq!(prom_wait(prom.port, &q_count("deny"), |v| v >= 3.0), 3.0);
    // The answers' histogram as /metrics has it now that Prometheus counted all twelve.
    let answers = permission_buckets(&http_get(mport, "/metrics"), &perm_comm);
    // Over the counters since the start: the series appeared with all answers in them,
    // so Prometheus saw no increase() to take. Each quantile is the one the buckets give.
    let quantile = |q: f64| {
        let promql = format!("histogram_quantile({q}, sum by (le) (fsnotify_gadget_permission_latency_seconds_bucket{{tracer_comm=\"{perm_comm}\"}}))");
        let got = prom_wait(prom.port, &promql, |v| v.is_finite() && v > 0.0);
        let want = histogram_quantile(q, &answers);
        assert!((got - want).abs() <= want * 1e-9, "{promql} = {got}, the buckets give {want}: {answers:?}");
        eprintln!("PromQL {promql} = {got}");
        got
    };
    let (p50, p99) = (quantile(0.5), quantile(0.99));
    assert!(p50 <= p99, "p50 {p50} > p99 {p99}");

    let q_watches = format!("fsnotify_gadget_inotify_watches{{uid=\"{UID}\"}}");
    assert_eq!(prom_wait(prom.port, &q_watches, |v| v == (SUBDIRS + 1) as f64), (SUBDIRS + 1) as f64);
    let q_limit = "max(fsnotify_gadget_inotify_max_user_watches)";
    let limit: f64 = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches").unwrap().trim().parse().unwrap();
    assert_eq!(prom_wait(prom.port, q_limit, |v| v > 0.0), limit);
    // The example alert rules load and evaluate.
    let rules = http_get(prom.port, "/api/v1/rules");
    assert!(rules.contains("InotifyWatchesNearLimit"), "{rules}");
    assert!(!rules.contains("\"health\":\"err\""), "{rules}");

    // The exposition passes promtool's checker.
    let exposition = http_get(mport, "/metrics");
    let mut promtool = Command::new(which("promtool")).args(["check", "metrics"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    promtool.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    if let Some(path) = std::env::var_os("FSG_METRICS_CAPTURE") {
        std::fs::write(path, &exposition).unwrap();
    }

    drop(perm);
    drop(watcher);
    drop(prom);
    // SAFETY: a pid we own.
    unsafe { libc::kill(g.child.id() as i32, libc::SIGTERM) };
    let (out, err) = g.finish();
    assert!(err.iter().any(|l| l.contains("records")), "{err:?}");
    // The histogram counts the answers the JSON printed, each in its bucket, and the
    // answers waited at least DELAY_MS (so none is in a bucket below 16.4 ms).
    let mut printed: Vec<(String, u64)> = json_lines(&out)
        .into_iter()
        .filter(|r| r["type"] == "fa_resp" && r["tracer"]["comm"] == perm_comm.as_str())
        .map(|r| (r["fa_response"].as_str().unwrap().to_string(), r["latency_ns"].as_u64().unwrap_or_else(|| panic!("no latency_ns: {r}"))))
        .collect();
    printed.sort();
    assert_eq!(printed.len(), 12, "{printed:?}");
    assert!(printed.iter().all(|(_, ns)| *ns >= DELAY_MS * 1_000_000), "an answer before the daemon's {DELAY_MS} ms: {printed:?}");
    for (answer, buckets) in answers.iter().map(|(a, b)| (a.as_str(), b)) {
        for &(le, count) in buckets {
            let below = printed.iter().filter(|(a, ns)| a == answer && (le.is_infinite() || *ns <= (le * 1e9).round() as u64)).count() as u64;
            assert_eq!(count, below, "answer {answer}, le {le}: /metrics {buckets:?}, JSON {printed:?}");
        }
    }
    let counts: Vec<(&str, u64)> = answers.iter().map(|(a, b)| (a.as_str(), b.last().unwrap().1)).collect();
    assert_eq!(counts, [("allow", 9), ("deny", 3)], "{answers:?}");
}

/// The `fsnotify_gadget_permission_latency_seconds_bucket` series of `tracer_comm` in a
/// text exposition: by answer (sorted), each bucket's `le` (seconds) and cumulative count,
/// by `le`.
fn permission_buckets(exposition: &str, tracer_comm: &str) -> Vec<(String, Vec<(f64, u64)>)> {
    let mut by_answer: std::collections::BTreeMap<String, Vec<(f64, u64)>> = Default::default();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("fsnotify_gadget_permission_latency_seconds_bucket{") else { continue };
        let (labels, value) = rest.split_once("} ").unwrap_or_else(|| panic!("{line}"));
        let labels: std::collections::HashMap<&str, &str> = labels
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("{line}"));
                (k, v.trim_matches('"'))
            })
            .collect();
        if labels["tracer_comm"] != tracer_comm {
            continue;
        }
        let le = if labels["le"] == "+Inf" { f64::INFINITY } else { labels["le"].parse().unwrap() };
        by_answer.entry(labels["answer"].to_string()).or_default().push((le, value.parse().unwrap()));
    }
    assert!(!by_answer.is_empty(), "no permission histogram of {tracer_comm} in {exposition}");
    by_answer
        .into_iter()
        .map(|(answer, mut buckets)| {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            (answer, buckets)
        })
        .collect()
}

/// PromQL's `histogram_quantile(q, sum by (le) (...))` over these series: the bucket
/// where rank q·count falls, interpolated linearly within it (Prometheus' bucketQuantile;
/// past the last finite bound, that bound).
fn histogram_quantile(q: f64, series: &[(String, Vec<(f64, u64)>)]) -> f64 {
    let mut summed: Vec<(f64, f64)> = Vec::new();
    for (_, buckets) in series {
        for &(le, n) in buckets {
            match summed.iter_mut().find(|(l, _)| *l == le) {
                Some(b) => b.1 += n as f64,
                None => summed.push((le, n as f64)),
            }
        }
    }
    summed.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = summed.last().unwrap().1;
    let rank = q * total;
    let b = summed[..summed.len() - 1].iter().position(|(_, n)| *n >= rank).unwrap_or(summed.len() - 1);
    if b == summed.len() - 1 {
        return summed[summed.len() - 2].0;
    }
    let (start, below) = if b == 0 { (0.0, 0.0) } else { summed[b - 1] };
    let (end, upto) = summed[b];
    start + (end - start) * ((rank - below) / (upto - below))
}

#[test]
fn a_taken_metrics_port_is_one_line_and_the_trace_goes_on() {
    let _alone = crate::alone(module_path!());
    require_root();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = test_dir("fleet-taken");
    let (watcher, _lines) = inotifywait_as(&which("inotifywait"), 0, &dir);
    let mut g = Gadget::spawn(
        &crate::common::gadget_bin(),
        &["--backend", "tracepoint", "-o", "json", "--timeout", "4", "--metrics", &addr, "--tracer-pid", &watcher.pid().to_string()],
    );
    g.wait_stderr("tracing with");
    let line = g.wait_stderr("metrics");
    std::thread::sleep(Duration::from_millis(300));
    crate::common::run("touch", &[dir.join("still-traced").to_str().unwrap()]);
    let (out, err) = g.finish();
    assert!(line.starts_with(&format!("fsnotify-gadget: warning: metrics: cannot listen on {addr}: ")), "{line}");
    assert!(line.ends_with("tracing goes on without /metrics"), "{line}");
    assert_eq!(err.iter().filter(|l| l.contains("metrics")).count(), 1, "{err:?}");
    assert!(json_lines(&out).iter().any(|r| r["name"] == "still-traced"), "{out:?}");
}

#[test]
fn serve_answers_the_inventory_without_tracing() {
    let _alone = crate::alone(module_path!());
    require_root();
    let port = free_port();
    let mut g = Gadget::spawn(&crate::common::gadget_bin(), &["serve", "--metrics", &format!("127.0.0.1:{port}"), "--timeout", "5"]);
    g.wait_stderr("serving the inventory");
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let body = http_get(port, "/metrics");
        if body.contains("fsnotify_gadget_inotify_max_user_watches ") || Instant::now() > deadline {
            // The first scan was made before /metrics answered.
            break body;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches").unwrap();
    assert!(body.contains(&format!("fsnotify_gadget_inotify_max_user_watches {}", limit.trim())), "{body}");
    assert!(body.contains("fsnotify_gadget_build_info{backend=\"none\""), "{body}");
    assert!(!body.contains("fsnotify_gadget_events_total{"), "serve traces nothing: {body}");
    let (out, _) = g.finish();
    assert!(out.is_empty(), "{out:?}");
}

/// deploy/daemonset.yaml decoded by kubectl, offline (`kubectl label --local` decodes
/// against the client's built-in API types and needs no server); its DaemonSet object.
fn daemonset() -> Value {
    let out = Command::new(which("kubectl"))
        .args(["label", "--local", "-o", "json", "checked=offline", "-f"])
        .arg(root().join("deploy/daemonset.yaml"))
        .output()
        .expect("run kubectl");
    assert!(out.status.success(), "kubectl rejects deploy/daemonset.yaml: {}", String::from_utf8_lossy(&out.stderr));
    let objects: Vec<Value> = serde_json::Deserializer::from_slice(&out.stdout).into_iter().map(|v| v.unwrap()).collect();
    let kinds: Vec<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Namespace", "DaemonSet"]);
    objects.into_iter().nth(1).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap_or_else(|| panic!("not a list: {v}")).iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn the_daemonset_validates_and_its_args_parse_with_the_cli() {
    let _alone = crate::alone(module_path!());
    use clap::Parser;
    let ds = daemonset();
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    assert_eq!(pod["tolerations"][0]["operator"], "Exists");
    let c = &pod["containers"][0];
    let args = strings(&c["args"]);
    let cli = fsnotify_gadget::cli::Cli::try_parse_from(std::iter::once("fsnotify-gadget".to_string()).chain(args.iter().cloned()))
        .unwrap_or_else(|e| panic!("the DaemonSet's args {args:?} do not parse: {e}"));
    assert!(cli.command.is_none(), "the DaemonSet traces");
    let metrics = cli.trace.metrics.expect("the DaemonSet serves metrics");
    assert!(matches!(cli.trace.output, fsnotify_gadget::cli::OutputFormat::Json), "JSON lines for the log pipeline");
    assert_eq!(c["ports"][0]["containerPort"], metrics.port());
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/metrics");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], c["ports"][0]["name"]);
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"]);
    assert!(!strings(&sc["capabilities"]["add"]).contains(&"SYS_ADMIN".to_string()));
    // The list the VM tests run the fentry and kprobe backends with.
    let listed: Vec<&str> = crate::common::DAEMONSET_CAPS.iter().map(|(name, _)| *name).collect();
    assert_eq!(strings(&sc["capabilities"]["add"]), listed);
    let mounts: Vec<&str> = c["volumeMounts"].as_array().unwrap().iter().map(|m| m["mountPath"].as_str().unwrap()).collect();
    assert!(mounts.contains(&"/sys/kernel/btf") && mounts.contains(&"/host"), "{mounts:?}");
    assert!(c["resources"]["limits"]["memory"].is_string() && c["resources"]["requests"]["memory"].is_string());
}

/// `cargo xtask dist --image` (once per test run).
fn image() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let _ = dist_binary();
        let st = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(root())
            .args(["run", "--quiet", "--release", "--package", "xtask", "--target-dir"])
            .arg(root().join("target/dist/xtask"))
            .args(["--", "dist", "--image"])
            .status()
            .expect("run cargo xtask dist --image");
        assert!(st.success(), "cargo xtask dist --image failed: {st}");
        format!("localhost/fsnotify-gadget:{}", env!("CARGO_PKG_VERSION"))
    })
}

#[test]
fn the_image_traces_a_host_touch_under_podman_as_the_daemonset_runs_it() {
    let _alone = crate::alone(module_path!());
    require_root();
    let tag = image();
    let ds = daemonset();
    let c = &ds["spec"]["template"]["spec"]["containers"][0];
    let caps = strings(&c["securityContext"]["capabilities"]["add"]).join(",").to_lowercase();
    let dir = test_dir("fleet-podman");
    let (watcher, _lines) = inotifywait_as(&which("inotifywait"), 0, &dir);
    // The DaemonSet's container: its capabilities and nothing else, host pids, the
    // mounts, a read-only root, no seccomp filter; its args, then a timeout and a filter.
    // Flags this host needs: runc (crun refuses the hybrid cgroups), rlimits podman may
    // set, no network (the metrics port binds in the container's own namespace).
    let mut args: Vec<String> = [
        "--runtime", "runc", "run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "none",
        "--pid", "host", "--cap-drop", "all", "--cap-add", &caps, "--security-opt", "seccomp=unconfined",
        "--security-opt", "no-new-privileges", "--read-only", "-e", "HOST_ROOT=/host",
        "-v", "/sys/kernel/btf:/sys/kernel/btf:ro", "-v", "/:/host:ro", tag,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(strings(&c["args"]));
    args.extend(["--timeout".to_string(), "8".to_string(), "--tracer-pid".to_string(), watcher.pid().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut g = Gadget::spawn(&which("podman"), &args);
    g.wait_stderr("tracing with");
    // The first touch may wake a read that was blocked before the programs attached,
    // which the tracepoint backend does not follow (README, Guarantees): the second is
    // read in a read it saw begin.
    crate::common::run("touch", &[dir.join("first").to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(500));
    crate::common::run("touch", &[dir.join("from-the-host").to_str().unwrap()]);
    // A writer in another container: the tool, in its own, names it from the
    // node's runtime state under HOST_ROOT.
    let writer = crate::containers::Ctr::run("fleet-writer", &dir, &["touch", "/w/from-a-container"]);
    writer.wait();
    std::thread::sleep(Duration::from_millis(500));
    let (out, err) = g.finish();
    let records = json_lines(&out);
    assert!(
        records.iter().any(|r| r["name"] == "from-the-host" && r["tracee"]["comm"] == "touch" && r["tracer"]["pid"] == watcher.pid()),
        "the container saw no record of the host's touch: {records:?} {err:?}"
    );
    let from: Vec<&Value> = records.iter().filter(|r| r["name"] == "from-a-container").collect();
    assert!(!from.is_empty(), "no record of the writer container's touch: {records:?} {err:?}");
    for r in from {
        let c = &r["tracee"]["container"];
        assert_eq!((c["name"].as_str(), c["id"].as_str()), (Some(&*writer.name), Some(&*writer.id)), "{r}");
        assert_eq!((c["runtime"].as_str(), c["image"].as_str()), (Some("podman"), Some(crate::containers::image())), "{r}");
        assert_eq!(r["tracer"]["container"], Value::Null, "the watcher is on the host: {r}");
    }
}

#[test]
fn the_image_holds_the_man_pages_and_completions() {
    let _alone = crate::alone(module_path!());
    require_root();
    let tag = image();
    let podman = which("podman");
    // Created, never started: its files are read through `podman export`.
    let created = Command::new(&podman).args(["create", tag]).output().unwrap();
    assert!(created.status.success(), "podman create: {}", String::from_utf8_lossy(&created.stderr));
    let id = String::from_utf8_lossy(&created.stdout).trim().to_string();
    let tar = test_dir("fleet-image-docs").join("image.tar");
    let exported = Command::new(&podman).args(["export", "-o"]).arg(&tar).arg(&id).output().unwrap();
    let _ = Command::new(&podman).args(["rm", &id]).output();
    assert!(exported.status.success(), "podman export: {}", String::from_utf8_lossy(&exported.stderr));
    let listing = Command::new("tar").arg("-tf").arg(&tar).output().unwrap();
    let files = String::from_utf8_lossy(&listing.stdout).to_string();
    for path in [
        "fsnotify-gadget",
        "usr/share/man/man1/fsnotify-gadget.1",
        "usr/share/man/man1/fsnotify-gadget-list.1",
        "usr/share/bash-completion/completions/fsnotify-gadget",
        "usr/share/zsh/site-functions/_fsnotify-gadget",
        "usr/share/fish/vendor_completions.d/fsnotify-gadget.fish",
    ] {
        assert!(files.lines().any(|l| l.trim_start_matches("./") == path), "the image lacks {path}: {files}");
    }
}

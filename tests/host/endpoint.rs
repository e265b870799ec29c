//! The /metrics endpoint against hostile clients (issue 30), on the tool as the
//! DaemonSet runs it (`nofile=1024`): a flood of connections, running out of file
//! descriptors, a 200 MB request line; and hostile comms, which reach label values
//! escaped as the columns escape names. Needs root.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{gadget_bin, helper, require_root, rss_kib, run, test_dir, wait_for_notify_fd, Client, Gadget};
use crate::fleet::{free_port, http_get};

/// The DaemonSet's limit on open files (the container runtime's; fleet.rs runs the
/// image under podman with it too).
const NOFILE: libc::rlim_t = 1024;

/// The connections the endpoint holds at most (src/metrics/http.rs, `LIMITS`).
const MAX_CONNECTIONS: usize = 64;

/// The tool, tracing with the tracepoint backend and serving /metrics on `port`,
/// its open files limited to [`NOFILE`]; once /metrics answers.
fn start(port: u16, more: &[&str]) -> Gadget {
    let mut cmd = Command::new(gadget_bin());
    // SAFETY: only setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let l = libc::rlimit { rlim_cur: NOFILE, rlim_max: NOFILE };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let addr = format!("127.0.0.1:{port}");
    let args = [&["--backend", "tracepoint", "--metrics", &addr][..], more].concat();
    let g = Gadget::start_command(cmd, &args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !answers(port) {
        assert!(Instant::now() < deadline, "/metrics never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    g
}

/// Whether `GET /metrics` on `port` is answered 200 now.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = [0u8; 12];
    s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").is_ok() && s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// The file descriptors a process has open: their numbers.
fn open_fds(pid: u32) -> Vec<u32> {
    let mut fds: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

/// A scrape's body, asserting it is the exposition.
fn scrape(port: u16) -> String {
    let body = http_get(port, "/metrics");
    assert!(body.contains("\nfsnotify_gadget_build_info{"), "{body}");
    body
}

fn no_panic(stderr: &[String]) {
    assert!(!stderr.iter().any(|l| l.contains("panicked")), "{stderr:#?}");
}

/// 1,500 connections held open at once (more than `nofile` allows the tool): the
/// tool holds at most [`MAX_CONNECTIONS`] of them, a scrape is answered while they
/// are held and after, and tracing goes on.
#[test]
fn the_endpoint_answers_through_1500_connections_at_nofile_1024() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("endpoint-flood");
    let port = free_port();
    let g = start(port, &[]);
    // Started after the tracer: the tracepoint backend does not see a read that was
    // already blocked when it attached.
    let watcher = Client::start("inotifywait", &["-m", "-q", dir.to_str().unwrap()]);
    wait_for_notify_fd(watcher.pid(), "inotify");
    let before = open_fds(g.pid()).len();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut held = Vec::new();
    for i in 0..1500 {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        held.push(s);
    }
    run("touch", &[dir.join("while-held").to_str().unwrap()]);
    let during = scrape(port);
    let most = open_fds(g.pid()).len();
    eprintln!("{} connections held; the tool has {most} files open ({before} before)", held.len());
    // The listener was open before; a few more for what tracing opens meanwhile.
    assert!(most <= before + MAX_CONNECTIONS + 8, "{most} files open, {before} before the connections");
    drop(held);
    // Scrapes until the touch is counted (the trace loop publishes what it counted
    // after each batch).
    let series = "fsnotify_gadget_events_total{tracee_comm=\"touch\",tracer_comm=\"inotifywait\",type=\"inotify\"}";
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut after = scrape(port);
    while !after.contains(series) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        after = scrape(port);
    }
    let (records, stderr) = g.stop();
    drop(watcher);
    no_panic(&stderr);
    let touched: Vec<_> = records.iter().filter(|r| r["name"] == "while-held").collect();
    assert!(!touched.is_empty(), "no record of the touch while the connections were held: {records:#?}");
    assert!(after.contains(series), "no {series} in {after}; the records: {touched:#?}");
    let full: Vec<&String> = stderr.iter().filter(|l| l.contains(&format!("more than {MAX_CONNECTIONS} connections at once"))).collect();
    assert_eq!(full.len(), 1, "{stderr:#?}");
    drop(during);
}

/// The lowest limit on open files under which `pid` can open `more` files (file
/// numbers below the limit that are free).
fn limit_for(pid: u32, more: usize) -> libc::rlim_t {
    let fds = open_fds(pid);
    let mut limit = 0u32;
    let mut free = 0;
    while free < more {
        if fds.binary_search(&limit).is_err() {
            free += 1;
        }
        limit += 1;
    }
    libc::rlim_t::from(limit)
}

fn set_nofile(pid: u32, soft: libc::rlim_t) {
    let l = libc::rlimit { rlim_cur: soft, rlim_max: NOFILE };
    // SAFETY: prlimit on a pid we own, with a valid struct and no old value asked.
    let r = unsafe { libc::prlimit(pid as libc::pid_t, libc::RLIMIT_NOFILE, &l, std::ptr::null_mut()) };
    assert_eq!(r, 0, "prlimit {pid}: {}", std::io::Error::last_os_error());
}

/// Out of file descriptors (EMFILE on accept): the endpoint says so once, waits and
/// accepts again once descriptors are free; the next scrape is answered.
#[test]
fn the_endpoint_accepts_again_after_running_out_of_file_descriptors() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("endpoint-emfile");
    let port = free_port();
    // No inventory scans (they open files in /proc) while the limit is low.
    let mut g = start(port, &["--metrics-inventory", "3600"]);
    let watcher = Client::start("inotifywait", &["-m", "-q", dir.to_str().unwrap()]);
    wait_for_notify_fd(watcher.pid(), "inotify");
    // Room for three more files: three connections, then EMFILE.
    let low = limit_for(g.pid(), 3);
    set_nofile(g.pid(), low);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let held: Vec<TcpStream> = (0..30).map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap()).collect();
    let said = g.wait_stderr("metrics: cannot accept a connection", Duration::from_secs(30));
    assert!(said.contains("Too many open files"), "{said}");
    // Still out of descriptors: many more failed accepts, each after a pause.
    std::thread::sleep(Duration::from_secs(1));
    drop(held);
    // Under the same low limit: the connections were closed, so are their files.
    scrape(port);
    eprintln!("answered under a limit of {low} open files");
    set_nofile(g.pid(), NOFILE);
    run("touch", &[dir.join("after-emfile").to_str().unwrap()]);
    // A record exists once inotifywait has read the event: on a busy machine that may come
    // after an immediate SIGINT, which ends the trace with what was read by then.
    std::thread::sleep(Duration::from_millis(1500));
    let (records, stderr) = g.stop();
    drop(watcher);
    no_panic(&stderr);
    assert!(records.iter().any(|r| r["name"] == "after-emfile"), "tracing stopped");
    assert_eq!(stderr.iter().filter(|l| l.contains("cannot accept")).count(), 1, "{stderr:#?}");
}

/// A request line of 200 MB, streamed: the endpoint closes the connection long
/// before its end, the tool's RSS stays within 64 MiB of its idle RSS (the
/// DaemonSet's limit is 128 MiB), and the next scrape is answered.
#[test]
fn a_200_mb_request_line_leaves_rss_bounded() {
    let _alone = crate::alone(module_path!());
    require_root();
    let port = free_port();
    let g = start(port, &["--metrics-inventory", "3600"]);
    scrape(port);
    let idle = rss_kib(g.pid());
    const LINE: usize = 200 << 20;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let (mut sent, mut most) = (0, idle);
    let ended = loop {
        if sent >= LINE {
            break None;
        }
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) => break Some(e),
        }
        most = most.max(rss_kib(g.pid()));
    };
    most = most.max(rss_kib(g.pid()));
    eprintln!("idle RSS {idle} KiB, at most {most} KiB while {sent} bytes of the line went; the connection ended: {ended:?}");
    assert!(most - idle < 64 << 10, "RSS went from {idle} KiB to {most} KiB");
    let e = ended.unwrap_or_else(|| panic!("all {LINE} bytes of the request line were taken"));
    assert!(matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe), "{e}");
    drop(s);
    scrape(port);
    let (_, stderr) = g.stop();
    no_panic(&stderr);
}

/// Text format escaping of a label value: `\`, `"` and newlines.
fn exposition_escaped(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A comm as the columns show it.
fn shown(comm: &[u8]) -> String {
    let mut s = String::new();
    fsnotify_gadget::output::escape_terminal(comm, &mut s);
    s
}

/// A watcher and a writer whose comms hold ESC, BEL, CR and U+202E: /metrics has
/// their series, with the comms escaped as the columns show them (in the event
/// counter, the delivery histogram and the inventory), nothing of them raw, and
/// promtool accepts it.
#[test]
fn hostile_comms_reach_metrics_escaped_as_the_columns_show_them() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("endpoint-comms");
    let bins = test_dir("endpoint-comms-bins");
    // Enough watches to be among the five holders with most.
    for i in 0..200 {
        std::fs::create_dir(dir.join(format!("d{i}"))).unwrap();
    }
    let port = free_port();
    let g = start(port, &["--metrics-labels", "tracer_comm,tracee_comm", "--metrics-inventory", "1"]);
    let watcher_comm: &[u8] = b"iw\x1b]0;x\x07\xe2\x80\xae";
    let watcher_bin = bins.join(OsStr::from_bytes(watcher_comm));
    std::fs::copy(crate::fleet::which("inotifywait"), &watcher_bin).unwrap();
    let child = Command::new(&watcher_bin).args(["-m", "-r", "-q"]).arg(&dir).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let watcher = Client::from_child(child);
    wait_for_notify_fd(watcher.pid(), "inotify");
    // Let the recursive watch reach every subdirectory.
    std::thread::sleep(Duration::from_millis(500));
    let writer_comm: &[u8] = b"fsg\x1b[31m\x07\r\xe2\x80\xae";
    let hex = fsg_test_helpers::hex;
    let file = dir.join("by-a-hostile-comm");
    let st = Command::new(helper("fsg-hostile")).args(["comm", &hex(writer_comm), &hex(file.as_os_str().as_bytes())]).status().unwrap();
    assert!(st.success(), "fsg-hostile: {st}");

    let tracer = exposition_escaped(&shown(watcher_comm));
    let tracee = exposition_escaped(&shown(writer_comm));
    // What a reader of the exposition sees: the escapes, their backslashes doubled.
    assert_eq!(tracer, r"iw\\x1b]0;x\\x07\\u{202e}");
    assert_eq!(tracee, r"fsg\\x1b[31m\\x07\\r\\u{202e}");
    let events = format!("fsnotify_gadget_events_total{{tracee_comm=\"{tracee}\",tracer_comm=\"{tracer}\",type=\"inotify\"}} ");
    let delivery = format!("fsnotify_gadget_delivery_latency_seconds_count{{tracer_comm=\"{tracer}\",type=\"inotify\"}} ");
    let top = format!("comm=\"{tracer}\"");
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let body = scrape(port);
        if [&events, &delivery, &top].iter().all(|w| body.contains(w.as_str())) {
            break body;
        }
        assert!(Instant::now() < deadline, "no {events}, {delivery} or {top} in {body}");
        std::thread::sleep(Duration::from_millis(300));
    };
    for raw in ['\x1b', '\x07', '\r', '\u{202e}', '\u{fffd}'] {
        assert!(!body.contains(raw), "{raw:?} raw in /metrics: {body}");
    }
    let mut promtool = Command::new(crate::fleet::which("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(checked.status.success(), "promtool check metrics: {}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    let (_, stderr) = g.stop();
    drop(watcher);
    no_panic(&stderr);
}

/// `--metrics 127.0.0.1:0` lets the kernel choose the port: the start-up line names the
/// one bound, and /metrics answers there.
#[test]
fn port_0_announces_the_port_bound() {
    let _alone = crate::alone(module_path!());
    require_root();
    let mut g = Gadget::start(&["--backend", "tracepoint", "--metrics", "127.0.0.1:0"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let port: u16 = loop {
        let said = g.stderr_now().join("\n");
        if let Some(line) = said.lines().find(|l| l.starts_with("fsnotify-gadget: metrics on ")) {
            break line
                .strip_prefix("fsnotify-gadget: metrics on http://127.0.0.1:")
                .and_then(|rest| rest.strip_suffix("/metrics"))
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("the metrics line names no port: {line}"));
        }
        assert!(Instant::now() < deadline, "no metrics line: {said}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(port, 0, "the kernel chose the port");
    scrape(port);
    g.stop();
}

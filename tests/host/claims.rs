//! Claims README.md makes, each checked on this host against what the test
//! finds itself rather than against what the tool says of itself:
//!
//! - losses are warned of as they happen (`fsnotify-gadget: warning: lost N
//!   records: …`) and summed at exit (`fsnotify-gadget: N records; lost M:
//!   …`): both lines' exact words, and numbers that agree with each other and
//!   with the events the reader read;
//! - `--backend auto` does not load a backend to learn that the kernel cannot
//!   run it: its bpf(2) loads, seen by strace, are the tracepoint backend's
//!   and one two-instruction fentry program;
//! - a read io_uring completes inline is printed, with `fsnotify_group` null
//!   and no `prio`.
//!
//! Needs root, strace and python3. The tests run one at a time: one sets a
//! sysctl and loads the machine with a burst.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::common::reliability::{modify_events, two_files, wait_stopped, Reader, Sysctl};
use crate::common::{gadget_bin, helper, require_root, s, test_dir, wait_ready, Client, Gadget};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The causes of a loss, in the words README.md's Guarantees give them.
const CAUSES: [&str; 3] = ["ring buffer full", "kernel maps full", "could not be decoded or joined"];

/// `12 (ring buffer full), 3 (kernel maps full)`: the count of each cause.
/// Panics unless the text is exactly that form, of known causes.
fn causes(text: &str) -> Vec<(u64, &'static str)> {
    let parts: Vec<(u64, &'static str)> = text
        .split(", ")
        .map(|part| {
            let (n, cause) = part.split_once(" (").unwrap_or_else(|| panic!("not `N (cause)`: {part:?} in {text:?}"));
            let cause = cause.strip_suffix(')').unwrap_or_else(|| panic!("{part:?}"));
            let known = CAUSES.iter().find(|c| **c == cause).unwrap_or_else(|| panic!("an unknown cause {cause:?} in {text:?}"));
            (n.parse().unwrap_or_else(|_| panic!("not a count: {n:?} in {text:?}")), *known)
        })
        .collect();
    let again: Vec<String> = parts.iter().map(|(n, c)| format!("{n} ({c})")).collect();
    assert_eq!(again.join(", "), text);
    assert!(parts.iter().all(|(n, _)| *n > 0), "a cause with nothing lost: {text:?}");
    parts
}

/// Each cause's total over `lists`.
fn by_cause(lists: &[Vec<(u64, &'static str)>]) -> Vec<(&'static str, u64)> {
    CAUSES.iter().map(|c| (*c, lists.iter().flatten().filter(|(_, k)| k == c).map(|(n, _)| n).sum())).collect()
}

/// Records the tracepoint backend cannot send while the tool is stopped: its
/// ring buffer (8 MiB, src/backend/tracepoint/bpf/tracepoint.bpf.c) holds
/// some tens of thousands of this burst's records.
const STALLED_EVENTS: u64 = 100_000;

/// A reader gets a burst while fsnotify-gadget is stopped (SIGSTOP), so its
/// ring buffer overflows; once it runs again it warns, and its exit line
/// sums what it lost. Both lines are exactly as README.md gives them, the
/// warnings add up to the exit line's count, cause by cause, and what was
/// printed plus what was lost is what the reader read.
#[test]
fn losses_are_warned_of_then_summed_at_exit() {
    let _alone = crate::alone(module_path!());
    let _one = one_at_a_time();
    require_root();
    let dir = test_dir("claims-lost");
    let files = two_files(&dir);
    let _queue = Sysctl::set("/proc/sys/fs/inotify/max_queued_events", &(STALLED_EVENTS + 1024).to_string());
    let reader = Reader::start(&dir, &[]);
    let mut g = Gadget::start(&["--backend", "tracepoint", "--tracer-pid", &reader.pid().to_string(), "--fields", "i_mask"]);
    let stall = |sig| {
        // SAFETY: a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(g.pid() as i32, sig) }, 0);
    };
    stall(libc::SIGSTOP);
    wait_stopped(g.pid());
    modify_events(&files, STALLED_EVENTS);
    drop(files);
    // Every event read, while the tool cannot take a record from its ring.
    let (read, overflows) = reader.finish_drained();
    assert_eq!(overflows, 0, "the queue held the burst");
    assert!(read > STALLED_EVENTS, "{read} events read");
    stall(libc::SIGCONT);
    g.wait_stderr("fsnotify-gadget: warning: lost ", Duration::from_secs(60));
    // The reader is gone: everything is in the ring or counted lost; the
    // stop drains the ring before the exit line.
    let (out, stderr) = g.stop_raw();
    let printed_lines = out.lines().count() as u64;

    let warnings: Vec<Vec<(u64, &'static str)>> = stderr
        .iter()
        .filter_map(|l| l.strip_prefix("fsnotify-gadget: warning: lost "))
        .map(|rest| {
            let (n, parts) = rest.split_once(" records: ").unwrap_or_else(|| panic!("not `lost N records: …`: {rest:?}"));
            let parts = causes(parts);
            assert_eq!(n.parse::<u64>().unwrap(), parts.iter().map(|(n, _)| n).sum::<u64>(), "the line's count is its causes' sum: {rest}");
            parts
        })
        .collect();
    assert!(!warnings.is_empty(), "{stderr:#?}");
    let exit = stderr.last().unwrap_or_else(|| panic!("no stderr"));
    let rest = exit.strip_prefix("fsnotify-gadget: ").unwrap_or_else(|| panic!("{exit:?}"));
    let (printed, rest) = rest.split_once(" records; lost ").unwrap_or_else(|| panic!("not `N records; lost M: …`: {exit:?}"));
    let (lost, parts) = rest.split_once(": ").unwrap_or_else(|| panic!("{exit:?}"));
    let (printed, lost): (u64, u64) = (printed.parse().unwrap(), lost.parse().unwrap());
    let at_exit = causes(parts);

    eprintln!("{STALLED_EVENTS} writes; the reader read {read}; {printed} records, {lost} lost; {} warning lines", warnings.len());
    assert_eq!(lost, at_exit.iter().map(|(n, _)| n).sum::<u64>(), "{exit}");
    assert_eq!(by_cause(&warnings), by_cause(&[at_exit]), "the warnings add up to the exit line, cause by cause: {stderr:#?}");
    assert!(by_cause(&warnings)[0].1 > 0, "the stopped tool's ring buffer overflowed: {stderr:#?}");
    assert_eq!(printed, printed_lines, "the exit line counts the records printed");
    assert_eq!(printed + lost, read, "every event the reader read is printed or counted lost");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bpf(2) call that loads something into the kernel, as strace shows it,
/// reduced to what tells one load from another: the command, and the type,
/// attach type, size and name of a program, the type, name and size of a
/// map, the size of BTF. None for the calls that load nothing.
fn load_signature(call: &str) -> Option<String> {
    let field = |key: &str| {
        let at = [format!("{{{key}="), format!(" {key}=")]
            .iter()
            .find_map(|k| call.find(k.as_str()))
            .unwrap_or_else(|| panic!("no {key} in {call}"))
            + key.len()
            + 2;
        let rest = &call[at..];
        rest[..rest.find([',', '}']).unwrap_or(rest.len())].to_string()
    };
    let command = call.split_once("bpf(").map(|(_, c)| c.split([',', ')']).next().unwrap_or_default())?;
    match command {
        "BPF_PROG_LOAD" => Some(format!(
            "PROG_LOAD {} {} insn_cnt={} name={}",
            field("prog_type"),
            field("expected_attach_type"),
            field("insn_cnt"),
            field("prog_name")
        )),
        "BPF_MAP_CREATE" => {
            Some(format!("MAP_CREATE {} name={} max_entries={}", field("map_type"), field("map_name"), field("max_entries")))
        }
        "BPF_BTF_LOAD" => Some(format!("BTF_LOAD btf_size={}", field("btf_size"))),
        _ => None,
    }
}

/// The tool's bpf(2) loads (see [`load_signature`]) with `args`, under
/// `strace -f`, and its stderr.
fn bpf_loads(args: &[&str]) -> (Vec<String>, String) {
    let log = std::env::temp_dir().join(format!("fsg-claims-strace-{}-{}", std::process::id(), args.join("_").replace('/', "")));
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=bpf", "-o"])
        .arg(&log)
        .arg(gadget_bin())
        .args(args)
        .output()
        .expect("run strace (scripts/install-deps.sh installs it)");
    let calls = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("strace log {}: {e}; {out:?}", log.display()));
    let _ = std::fs::remove_file(&log);
    assert!(out.status.success(), "{out:?}");
    let calls: Vec<&str> = calls.lines().filter(|l| l.contains("bpf(")).collect();
    assert!(calls.iter().all(|c| !c.contains("<unfinished")), "a bpf(2) call strace split in two: {calls:#?}");
    (calls.iter().filter_map(|c| load_signature(c)).collect(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// "It does not load a backend to learn that the kernel cannot run it": on
/// this host, where auto ends with the tracepoint backend, every kind of
/// load auto makes is one the forced tracepoint backend makes too, but one:
/// a single fentry program of two instructions (the trampoline check); the
/// kprobe check loads nothing. A trial load of the fentry or kprobe backend
/// would add loads of its own: its BTF, its maps, its programs. (Kinds, not
/// counts: the procfs iterator that both run is loaded once or twice,
/// depending on what the machine does meanwhile, and libbpf probes the
/// kernel again for each object it loads.)
#[test]
fn auto_loads_no_backend_to_probe_it() {
    let _alone = crate::alone(module_path!());
    let _one = one_at_a_time();
    require_root();
    let common = ["--timeout", "0.3", "--inotify-only", "-o", "json"];
    let (forced, _) = bpf_loads(&[&["--backend", "tracepoint"][..], &common].concat());
    let (auto, stderr) = bpf_loads(&[&["--backend", "auto"][..], &common].concat());
    assert!(stderr.contains("fsnotify-gadget: tracing with the tracepoint backend"), "auto ends with tracepoint here: {stderr}");
    let probe = "PROG_LOAD BPF_PROG_TYPE_TRACING BPF_TRACE_FENTRY insn_cnt=2 name=\"fsg_probe\"";
    assert_eq!(auto.iter().filter(|l| *l == probe).count(), 1, "{auto:#?}");
    assert!(forced.iter().any(|l| l.starts_with("PROG_LOAD BPF_PROG_TYPE_TRACING BPF_TRACE_RAW_TP")), "{forced:#?}");
    let kinds = |loads: &[String]| loads.iter().cloned().collect::<std::collections::BTreeSet<String>>();
    let (forced, auto) = (kinds(&forced), kinds(&auto));
    assert_eq!(auto.difference(&forced).collect::<Vec<_>>(), [probe], "auto's loads that forcing tracepoint does not make");
    assert_eq!(forced.difference(&auto).count(), 0, "the tracepoint backend's loads auto does not make: {forced:#?}");
}

/// "A read io_uring completes inline (an fd opened with IN_NONBLOCK, issued
/// from io_uring_enter) is still printed, with fsnotify_group null and no
/// prio": fsg-uring-read reads three files' IN_CREATE and the `go` file's
/// with one IORING_OP_READ, in the thread that submitted it (its process
/// has no other thread afterwards: no io-wq worker ran). Each event is one
/// record naming that thread as the tracer.
#[test]
fn an_inline_io_uring_read_is_printed_with_a_null_group() {
    let _alone = crate::alone(module_path!());
    let _one = one_at_a_time();
    require_root();
    let dir = test_dir("claims-uring");
    let ready = dir.with_extension("ready");
    let _ = std::fs::remove_file(&ready);
    let child = Command::new(helper("fsg-uring-read"))
        .args(["--dir", dir.to_str().unwrap(), "--ready", ready.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start fsg-uring-read");
    let mut reader = Client::from_child(child);
    wait_ready(&ready, "fsg-uring-read");
    let pid = reader.pid();
    let g = Gadget::start(&["--backend", "tracepoint", "--inotify-only", "--tracer-pid", &pid.to_string()]);
    let names = ["uring-0", "uring-1", "uring-2", "go"];
    for name in names {
        std::fs::write(dir.join(name), b"x").unwrap();
    }
    let mut line = String::new();
    reader.child.stdout.take().unwrap().read_to_string(&mut line).unwrap();
    let status = reader.child.wait().unwrap();
    assert!(status.success(), "fsg-uring-read: {status}");
    let said: Vec<u64> = line.split_whitespace().map(|w| w.parse().unwrap()).collect();
    assert_eq!(said, [pid as u64, pid as u64, 4, 1], "PID TID EVENTS THREADS: read inline by its one thread");
    std::thread::sleep(Duration::from_millis(300));
    let (records, stderr) = g.stop();

    assert_eq!(records.len(), names.len(), "one record per event read: {records:#?}");
    for (r, name) in records.iter().zip(names) {
        assert_eq!(r["name"], name, "{r}");
        assert_eq!(r["type"], "inotify", "{r}");
        assert_eq!(r["i_mask"], "IN_CREATE", "{r}");
        assert_eq!((s(r, "tracer.pid"), s(r, "tracer.tid")), (&pid.into(), &pid.into()), "{r}");
        assert_eq!(s(r, "tracer.comm"), "fsg-uring-read", "{r}");
        assert_eq!(s(r, "tracee.pid"), std::process::id(), "{r}");
        assert!(r["fsnotify_group"].is_null() && r["group_unknown"] == true, "{r}");
        assert!(r["prio"].is_null(), "{r}");
    }
    assert_eq!(
        stderr.last().map(String::as_str),
        Some("fsnotify-gadget: 4 records, none lost; 4 read from a queue the backend could not tell (group_unknown, no path)"),
        "{stderr:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&ready);
}

//! The tool as a person sees it in a terminal (issue 17): the binary under
//! a pseudo-terminal of 80 columns (`script` from util-linux), with
//! `--backend auto`, and the start-up messages on stderr.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{gadget_bin, require_root, test_dir, wait_for_notify_fd, Client};

/// A name longer than an 80-column table's NAME column.
const LONG_NAME: &str = "a-file-name-long-enough-that-an-eighty-column-table-has-to-cut-it.txt";

/// Waits (20 s at most) until `text` holds what `done` looks for.
fn wait_for(text: &Mutex<Vec<u8>>, what: &str, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = String::from_utf8_lossy(&text.lock().unwrap()).to_string();
        if done(&now) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what} in:\n{now}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where each word of a line starts, in characters.
fn word_starts(line: &str) -> Vec<usize> {
    let chars: Vec<char> = line.chars().collect();
    (0..chars.len()).filter(|&i| chars[i] != ' ' && (i == 0 || chars[i - 1] == ' ')).collect()
}

#[test]
fn an_80_column_terminal_gets_a_table_that_fits_with_its_header_first() {
    let _alone = crate::alone(module_path!());
    require_root();
    let dir = test_dir("terminal");
    let err_file = dir.with_extension("stderr");
    let gadget = format!(
        "stty cols 80 rows 40; exec {} --backend auto --inotify-only --timeout 8 2>{}",
        gadget_bin().display(),
        err_file.display()
    );
    let mut script = Command::new("script")
        .args(["-q", "-e", "-c", &gadget, "/dev/null"])
        .env_remove("COLUMNS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run script (util-linux; scripts/install-deps.sh installs it)");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut out = script.stdout.take().unwrap();
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    // The header comes before any event: none of ours exists yet.
    wait_for(&seen, "header", |t| t.contains("TIMESTAMP"));
    let before_events = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert!(!before_events.contains("inotifywait"), "{before_events}");

    let w = Client::start("inotifywait", &["-m", dir.to_str().unwrap()]);
    wait_for_notify_fd(w.pid(), "inotify");
    std::fs::write(dir.join(LONG_NAME), b"x").unwrap();
    std::fs::write(dir.join("short"), b"x").unwrap();
    wait_for(&seen, "rows of our events", |t| t.lines().filter(|l| l.contains("inotifywait")).count() >= 4);
    w.stop();
    let status = script.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "{status}");

    let text = String::from_utf8(seen.lock().unwrap().clone()).expect("the table is UTF-8");
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    for l in &lines {
        assert!(l.chars().count() <= 80, "{} characters: {l:?}", l.chars().count());
    }
    assert!(lines[0].starts_with("TIMESTAMP "), "the header is first: {text}");
    let header = word_starts(lines[0]);
    let ours: Vec<&&str> = lines.iter().filter(|l| l.contains("inotifywait")).collect();
    for row in &ours {
        // Our rows have a value in every column, each where its header starts.
        assert_eq!(word_starts(row), header, "\n{}\n{row}", lines[0]);
    }
    // A path is cut at its beginning: the file's own name stays.
    let long = ours.iter().find(|l| l.ends_with("-cut-it.txt")).unwrap_or_else(|| panic!("{text}"));
    assert!(long.contains('…') && !long.contains(LONG_NAME), "{long}");
    assert!(ours.iter().any(|l| l.ends_with("/short")), "{text}");
    // Local time of day: HH:MM:SS.uuuuuu.
    let time = ours[0].split(' ').next().unwrap();
    assert_eq!((time.len(), &time[2..3], &time[8..9]), (15, ":", "."), "{time}");

    // The start-up messages: auto's choice in one line of at most two
    // terminal lines, no libbpf detail.
    let err = std::fs::read_to_string(&err_file).unwrap();
    let _ = std::fs::remove_file(&err_file);
    let using: Vec<&str> = err.lines().filter(|l| l.contains("using the")).collect();
    assert_eq!(using.len(), 1, "{err}");
    assert!(using[0].chars().count() <= 160, "{} characters: {}", using[0].chars().count(), using[0]);
    assert!(!err.contains("libbpf"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Asks this kernel itself whether an fentry program loads and attaches,
/// with raw bpf(2) from python3 (nothing of the tool's): a program of two
/// instructions (r0 = 0; exit), BPF_PROG_TYPE_TRACING with attach type
/// BPF_TRACE_FENTRY on argv[1], whose BTF id it finds in
/// /sys/kernel/btf/vmlinux (linux/btf.h's layout). Prints `ok`, or the step
/// that failed, the errno and its text.
const FENTRY_PROBE: &str = r#"
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
func = sys.argv[1].encode()
btf = open('/sys/kernel/btf/vmlinux', 'rb').read()
magic, _, _, hdr_len, type_off, type_len, str_off, _ = struct.unpack_from('<HBBIIIII', btf, 0)
assert magic == 0xeb9f
types, strs = hdr_len + type_off, hdr_len + str_off
# Bytes after each struct btf_type (12 bytes), by kind, from its vlen.
extra = {1: lambda v: 4, 3: lambda v: 12, 4: lambda v: 12 * v, 5: lambda v: 12 * v, 6: lambda v: 8 * v,
         13: lambda v: 8 * v, 14: lambda v: 4, 15: lambda v: 12 * v, 17: lambda v: 4, 19: lambda v: 12 * v}
off, tid, found = types, 0, 0
while off < types + type_len:
    tid += 1
    name_off, info, _ = struct.unpack_from('<III', btf, off)
    kind, vlen = (info >> 24) & 0x1f, info & 0xffff
    if kind == 12 and btf[strs + name_off:btf.index(b'\0', strs + name_off)] == func:  # BTF_KIND_FUNC
        found = tid
        break
    off += 12 + extra.get(kind, lambda v: 0)(vlen)
assert found, 'no BTF FUNC ' + sys.argv[1]
insns = (ctypes.c_uint64 * 2)(0xb7, 0x95)
lic = ctypes.create_string_buffer(b'GPL')
attr = ctypes.create_string_buffer(144)
struct.pack_into('<IIQQ', attr, 0, 26, 2, ctypes.addressof(insns), ctypes.addressof(lic))
struct.pack_into('<I', attr, 68, 24)
struct.pack_into('<I', attr, 108, found)
prog = libc.syscall(321, 5, attr, len(attr))  # BPF_PROG_LOAD
if prog < 0:
    e = ctypes.get_errno(); print('load', e, os.strerror(e)); sys.exit()
link = ctypes.create_string_buffer(64)
struct.pack_into('<III', link, 0, prog, 0, 24)
if libc.syscall(321, 28, link, len(link)) < 0:  # BPF_LINK_CREATE
    e = ctypes.get_errno(); print('attach', e, os.strerror(e)); sys.exit()
print('ok')
"#;

/// Whether this kernel has kprobe events, from its own configuration
/// (/proc/config.gz, else /boot/config-RELEASE).
fn kernel_has_kprobe_events() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let config = Command::new("zcat").arg("/proc/config.gz").output().ok().filter(|o| o.status.success()).map(|o| o.stdout);
    let config = config
        .or_else(|| std::fs::read(format!("/boot/config-{}", release.trim())).ok())
        .expect("the kernel's configuration: /proc/config.gz or /boot/config-RELEASE");
    String::from_utf8_lossy(&config).lines().any(|l| l == "CONFIG_KPROBE_EVENTS=y")
}

/// `-v` gives the reasons in full, each on its own line. What they must be
/// is worked out from what the test finds of this kernel itself, not from
/// the backend the tool says it chose: on this host (6.18, a kernel built
/// without kprobes, where an fentry program is refused) that is the
/// tracepoint backend, with both reasons.
#[test]
fn verbose_says_why_auto_chose() {
    let _alone = crate::alone(module_path!());
    require_root();
    let lockdown = std::fs::read_to_string("/sys/kernel/security/lockdown").unwrap_or_default();
    assert!(!lockdown.contains("[confidentiality]"), "the lockdown tests of the VMs cover this: {lockdown}");
    let probe = Command::new("python3").arg("-c").arg(FENTRY_PROBE).arg("fsnotify_destroy_event").output().expect("python3");
    assert!(probe.status.success(), "{probe:?}");
    let probe = String::from_utf8(probe.stdout).unwrap();
    let fentry_refused = match probe.trim().split_once(' ') {
        None => {
            assert_eq!(probe.trim(), "ok");
            None
        }
        Some((step, error)) => {
            let (errno, text) = error.split_once(' ').unwrap();
            assert!(step == "load" || step == "attach", "{probe}");
            Some(format!(
                "fsnotify-gadget: fentry: no BPF trampolines: a test fentry program on fsnotify_destroy_event did not {step}: {text} (os error {errno})"
            ))
        }
    };
    let no_kprobes = "fsnotify-gadget: kprobe: no kprobes: none of /sys/bus/event_source/devices/kprobe/type, \
                      /sys/kernel/tracing/kprobe_events, /sys/kernel/debug/tracing/kprobe_events exists";
    let (backend, using, reasons) = match (fentry_refused, kernel_has_kprobe_events()) {
        (None, _) => ("fentry", "fsnotify-gadget: using the fentry backend".to_string(), vec![]),
        (Some(fentry), true) => {
            ("kprobe", "fsnotify-gadget: using the kprobe backend: this kernel has no BPF trampolines".to_string(), vec![fentry])
        }
        (Some(fentry), false) => (
            "tracepoint",
            "fsnotify-gadget: using the tracepoint backend: this kernel has no BPF trampolines and no kprobes; \
             i_ino, i_ino_dir are not filled"
                .to_string(),
            vec![fentry, no_kprobes.to_string()],
        ),
    };

    let out = Command::new(gadget_bin()).args(["-v", "--timeout", "0.5", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let at = |line: &str| lines.iter().position(|l| *l == line).unwrap_or_else(|| panic!("no line {line:?} in:\n{err}"));
    let using_at = at(&using);
    let tracing_at = at(&format!("fsnotify-gadget: tracing with the {backend} backend; Ctrl-C stops"));
    // One reason per better backend passed over, each in full, in order,
    // between the two (libbpf's messages may come between them too).
    let given: Vec<&str> = lines[using_at + 1..tracing_at]
        .iter()
        .copied()
        .filter(|l| l.starts_with("fsnotify-gadget: fentry: ") || l.starts_with("fsnotify-gadget: kprobe: "))
        .collect();
    assert_eq!(given, reasons, "{err}");
}

/// A pid filter for a process that does not exist is warned of at start,
/// and the trace still runs.
#[test]
fn a_pid_filter_without_a_process_is_warned_of() {
    let _alone = crate::alone(module_path!());
    require_root();
    // A pid above the kernel's pid_max is no process's.
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap().trim().parse().unwrap();
    let missing = (max + 1).to_string();
    assert!(!Path::new(&format!("/proc/{missing}")).exists());
    for flag in ["--tracer-pid", "--tracee-pid"] {
        let out = Command::new(gadget_bin()).args([flag, &missing, "--backend", "tracepoint", "--timeout", "0.5"]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or_default();
        assert_eq!(first, format!("fsnotify-gadget: warning: {flag} {missing}: no such process now; nothing will match until one has that pid"));
        assert!(err.contains("tracing with"), "{err}");
    }
    // A process that exists is not warned of.
    let me = std::process::id().to_string();
    let out = Command::new(gadget_bin()).args(["--tracer-pid", &me, "--backend", "tracepoint", "--timeout", "0.5"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{out:?}");
}

/// COLUMNS sets the width even when standard output is not a terminal; the
/// header comes at start, fitted, with no record yet.
#[test]
fn columns_sets_the_width_of_a_piped_table() {
    let _alone = crate::alone(module_path!());
    require_root();
    let out = Command::new(gadget_bin())
        .args(["--backend", "tracepoint", "--tracer-pid", &std::process::id().to_string(), "--timeout", "0.5"])
        .env("COLUMNS", "60")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // No record (this test reads no events): the header alone, within 60.
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].starts_with("TIMESTAMP ") && lines[0].ends_with(" PATH"), "{text}");
    assert!(lines[0].chars().count() <= 60, "{text}");
    // Without COLUMNS a pipe gets every default column, uncut.
    let out = Command::new(gadget_bin())
        .args(["--backend", "tracepoint", "--tracer-pid", &std::process::id().to_string(), "--timeout", "0.5"])
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    let header = String::from_utf8(out.stdout).unwrap();
    let words: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(words, ["TIMESTAMP", "TYPE", "TRACER_PID", "TRACER_COMM", "TRACEE_PID", "TRACEE_COMM", "MASK", "FA_RESPONSE", "PATH"]);
}

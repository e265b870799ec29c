//! The seed corpus of the fuzz targets in `fuzz/`: well-formed inputs built
//! from the real structures (the BPF records' Rust types, what the kernel
//! returns from read(2) on inotify and fanotify fds, procfs and kallsyms
//! text), so the fuzzer starts from inputs that reach deep into each parser.
//!
//! `cargo test -p fsg-testkit seeds -- --ignored` rewrites `fuzz/corpus/*/seed-*`
//! (as root: the fanotify seed needs CAP_SYS_ADMIN); `… escape_seeds -- --ignored`
//! rewrites only the escaper's, which need no kernel. The other test checks
//! that every seed parses cleanly, so a change of a record layout that makes
//! the checked-in seeds stale is noticed.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use fsnotify_gadget::backend::kernel::decode::{encode, fsg_event, fsg_flags, fsg_type, set_c};

fn kernel_records() -> Vec<Vec<u8>> {
    let mut ino = fsg_event { r#type: fsg_type::FSG_TYPE_INOTIFY.0, ..Default::default() };
    ino.flags = fsg_flags::FSG_F_TRACER.0 | fsg_flags::FSG_F_TRACEE.0 | fsg_flags::FSG_F_INODES.0 | fsg_flags::FSG_F_PRIO.0;
    ino.timestamp_ns = 2_000;
    ino.queued_ns = 1_500;
    ino.group = 0xffff_8880_1234_5678;
    set_c(&mut ino.tracer.comm, b"inotifywait");
    set_c(&mut ino.tracee.comm, b"touch");
    ino.i_mask = 0x0800_0020;
    ino.i_wd = 1;
    set_c(&mut ino.name, b"ABCDE");
    ino.name_len = 5;

    let mut fan = ino;
    fan.r#type = fsg_type::FSG_TYPE_FA_RESP.0;
    fan.flags |= fsg_flags::FSG_F_PATH_COMPONENTS.0 | fsg_flags::FSG_F_NAME_TRUNCATED.0;
    fan.fa_mask = 0x10000;
    fan.fa_response = 2;
    let comps = b"secret\0tmp\0";
    set_c(&mut fan.name, comps);
    fan.name_len = comps.len() as u32;
    vec![encode(&ino), encode(&fan)]
}

/// Names for the escaper: every character issue 18 found printed raw, the
/// ones escaped before it, visible text that must stay as it is, and C0,
/// DEL, backslashes and bytes that are not UTF-8 among them.
fn escape_inputs() -> Vec<(String, Vec<u8>)> {
    let hidden = "a\u{2028}b\u{2029}c\u{ad}d\u{2060}e\u{180e}f\u{fff9}\u{fffa}\u{fffb}g\u{e0001}\u{e0041}\u{e007f}\
                  h\u{e000}\u{f0000}\u{378}\u{ffff}\u{202e}\u{200b}\u{feff}\u{61c}\u{9b}i";
    let visible = "é 日本語 😀👍🏽 e\u{301} \u{a0} \u{fffc} Ωμέγα עברית";
    vec![
        ("seed-hidden".into(), hidden.as_bytes().to_vec()),
        ("seed-visible".into(), visible.as_bytes().to_vec()),
        ("seed-bytes".into(), b"sgr-\x1b[31m\x07\n\t\r\x7f\\back\xff\xc3(\xe2\x80\xed\xa0\x80-".to_vec()),
        ("seed-ascii".into(), b"plain-file_name.txt".to_vec()),
    ]
}

fn check(r: libc::c_int, what: &str) -> std::io::Result<libc::c_int> {
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return Err(std::io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(r)
}

fn cstr(p: &Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

/// The fdinfo of an inotify fd watching a directory.
fn real_inotify(dir: &Path) -> std::io::Result<String> {
    // SAFETY: plain syscalls; the fd is owned right away.
    let fd = unsafe { OwnedFd::from_raw_fd(check(libc::inotify_init1(libc::IN_NONBLOCK), "inotify_init1")?) };
    // SAFETY: the path is a valid C string.
    check(unsafe { libc::inotify_add_watch(fd.as_raw_fd(), cstr(dir).as_ptr(), libc::IN_ALL_EVENTS) }, "inotify_add_watch")?;
    std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
}

/// The same for a fanotify group that reports directory file handles and names.
fn real_fanotify(dir: &Path) -> std::io::Result<String> {
    const FAN_REPORT_DFID_NAME: u32 = 0x0c00;
    const FAN_CREATE: u64 = 0x100;
    const FAN_EVENT_ON_CHILD: u64 = 0x0800_0000;
    // SAFETY: plain syscalls; the fd is owned right away.
    let raw = unsafe { libc::fanotify_init(libc::FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | libc::FAN_NONBLOCK, libc::O_RDONLY as u32) };
    let fd = unsafe { OwnedFd::from_raw_fd(check(raw, "fanotify_init")?) };
    // SAFETY: the path is a valid C string.
    let r = unsafe { libc::fanotify_mark(fd.as_raw_fd(), libc::FAN_MARK_ADD, FAN_CREATE | FAN_EVENT_ON_CHILD, libc::AT_FDCWD, cstr(dir).as_ptr()) };
    check(r, "fanotify_mark")?;
    std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
}

/// The lines of the running kernel's kallsyms a backend looks for, with
/// their neighbours (those end the functions' ranges).
fn kallsyms_excerpt() -> String {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut keep = std::collections::BTreeSet::new();
    for (i, l) in lines.iter().enumerate() {
        if l.contains("inotify_") || l.contains("fanotify_handle") || l.contains("fsnotify_destroy") {
            keep.extend([i, i + 1]);
        }
        if keep.len() > 40 {
            break;
        }
    }
    keep.iter().filter_map(|&i| lines.get(i)).map(|l| format!("{l}\n")).collect()
}

/// Every seed, as (target, file name, bytes).
pub fn seeds() -> std::io::Result<Vec<(&'static str, String, Vec<u8>)>> {
    let dir = std::env::temp_dir().join(format!("fsg-seeds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let ifdinfo = real_inotify(&dir)?;
    let ffdinfo = real_fanotify(&dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut out = Vec::new();
    for (i, r) in kernel_records().into_iter().enumerate() {
        out.push(("kernel_ring", format!("seed-{i}"), r));
    }
    out.push(("fdinfo", "seed-inotify".into(), ifdinfo.into_bytes()));
    out.push(("fdinfo", "seed-fanotify".into(), ffdinfo.into_bytes()));
    out.push(("kallsyms", "seed-excerpt".into(), kallsyms_excerpt().into_bytes()));
    for (name, bytes) in escape_inputs() {
        out.push(("terminal_escape", name, bytes));
    }
    Ok(out)
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

#[cfg(test)]
#[test]
#[ignore = "rewrites fuzz/corpus/*/seed-*: cargo test -p fsg-testkit seeds -- --ignored"]
fn write_fuzz_seeds() {
    for (target, name, bytes) in seeds().expect("build the seeds (as root)") {
        let d = corpus_dir().join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), bytes).unwrap();
    }
}

#[cfg(test)]
#[test]
fn checked_in_seeds_parse_cleanly() {
    use fsnotify_gadget::backend::Clock;
    let clock = Clock::with_offset(0);
    let files = |target: &str| -> Vec<Vec<u8>> {
        let d = corpus_dir().join(target);
        let mut v: Vec<Vec<u8>> = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("seed-"))
            .map(|e| std::fs::read(e.path()).unwrap())
            .collect();
        v.sort();
        assert!(!v.is_empty(), "no seeds in {}", d.display());
        v
    };
    for raw in files("kernel_ring") {
        fsnotify_gadget::backend::kernel::decode::decode(&raw, clock).expect("a kernel_ring seed decodes");
    }
    for text in files("fdinfo") {
        let text = String::from_utf8(text).unwrap();
        let info = fsnotify_gadget::procfs::fdinfo::parse_fdinfo(&text);
        assert!(!info.marks.is_empty(), "{text}");
    }
    for text in files("kallsyms") {
        let k = fsnotify_gadget::kallsyms::Kallsyms::parse(&String::from_utf8(text).unwrap(), &["inotify_read", "inotify_handle_inode_event"]);
        assert!(k.has("inotify_read") || k.has("inotify_handle_inode_event"));
    }
    // Captured from a real podman/runc container (and docker's and containerd's
    // layouts): each is read by the parser of its kind.
    for name in ["seed-runc-state.json", "seed-oci-config.json", "seed-storage-containers.json", "seed-docker-config.json", "seed-containerd-config.json", "seed-proc-cgroup"] {
        use fsnotify_gadget::containers::{cgroup_path, state};
        let text = std::fs::read_to_string(corpus_dir().join("runtime_state").join(name)).unwrap();
        match name {
            "seed-runc-state.json" => assert_eq!(state::manager(&state::runc_state(&text).unwrap().annotations), Some("podman")),
            "seed-oci-config.json" => assert_eq!(state::oci_annotations(&text).unwrap()["io.container.manager"], "libpod"),
            "seed-storage-containers.json" => assert!(state::storage_containers(&text)[0].image.is_some()),
            "seed-docker-config.json" => assert_eq!(state::docker_config(&text).unwrap().name.as_deref(), Some("db")),
            "seed-containerd-config.json" => assert_eq!(state::k8s(&state::oci_annotations(&text).unwrap()).unwrap().container.as_deref(), Some("app")),
            _ => assert_eq!(cgroup_path::from_proc_cgroup(&text).runtime, Some("podman")),
        }
    }
    // Built without the kernel, so they must be exactly what is checked in.
    let mut want: Vec<Vec<u8>> = escape_inputs().into_iter().map(|(_, b)| b).collect();
    want.sort();
    assert_eq!(files("terminal_escape"), want, "fuzz/corpus/terminal_escape is stale: cargo test -p fsg-testkit escape_seeds -- --ignored");
}

/// The escaper's seeds need no kernel: write them without root.
#[cfg(test)]
#[test]
#[ignore = "rewrites fuzz/corpus/terminal_escape/seed-*: cargo test -p fsg-testkit escape_seeds -- --ignored"]
fn write_escape_seeds() {
    let d = corpus_dir().join("terminal_escape");
    std::fs::create_dir_all(&d).unwrap();
    for (name, bytes) in escape_inputs() {
        std::fs::write(d.join(name), bytes).unwrap();
    }
}

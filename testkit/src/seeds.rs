//! The seed corpus of the fuzz targets in `fuzz/`: well-formed inputs built
//! from the real structures (the BPF records' Rust types, what the kernel
//! returns from read(2) on inotify and fanotify fds, procfs and kallsyms
//! text), so the fuzzer starts from inputs that reach deep into each parser.
//!
//! `cargo test -p fsg-testkit seeds -- --ignored` rewrites `fuzz/corpus/*/seed-*`
//! (as root: the fanotify seed needs CAP_SYS_ADMIN). The other test checks
//! that every seed parses cleanly, so a change of a record layout that makes
//! the checked-in seeds stale is noticed.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use fsnotify_gadget::backend::kernel::decode::{encode, fsg_event, fsg_flags, fsg_type, set_c};
use fsnotify_gadget::backend::tracepoint::HEADER_LEN as TP_HEADER_LEN;
use fsnotify_gadget::backend::tracepoint_compat::{fsgt_event, fsgt_flags, fsgt_rec};

/// One `[u16 LE length][record]` frame: how the `tracepoint_ring` target
/// splits its input into ring-buffer records.
pub fn frame(rec: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(rec.len() as u16).to_le_bytes());
    out.extend_from_slice(rec);
}

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

fn tp_record(rec: fsgt_rec, kind: u32, data: &[u8], flags: u32) -> Vec<u8> {
    let mut ev = fsgt_event { rec: rec.0, kind, len: data.len() as u32, flags, ..Default::default() };
    ev.proc.pid = 100;
    ev.proc.tid = 100;
    ev.ptr = 0xffff_8880_0000_1000;
    ev.read_id = 7;
    ev.fd = 3;
    ev.total = data.len() as u32;
    set_c(&mut ev.proc.comm, b"inotifywait");
    let mut v = fsnotify_gadget::boundary::as_bytes(&ev)[..TP_HEADER_LEN].to_vec();
    v.extend_from_slice(data);
    v
}

/// A whole join: alloc, the free during the read, then the read's buffer.
fn tracepoint_stream(kind: u32, buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame(&tp_record(fsgt_rec::FSGT_REC_NEWFD, kind, &[], 0), &mut out);
    frame(&tp_record(fsgt_rec::FSGT_REC_ALLOC, kind, &[], 0), &mut out);
    frame(&tp_record(fsgt_rec::FSGT_REC_DELIVER, kind, &[], 0), &mut out);
    frame(&tp_record(fsgt_rec::FSGT_REC_READ, kind, buf, fsgt_flags::FSGT_F_LAST.0), &mut out);
    let mut response = 3i32.to_ne_bytes().to_vec();
    response.extend_from_slice(&1u32.to_ne_bytes());
    frame(&tp_record(fsgt_rec::FSGT_REC_WRITE, kind, &response, 0), &mut out);
    let mut link = b"/proc/self/fd/5".to_vec();
    link.resize(64, 0);
    link.extend_from_slice(b"/tmp/target");
    frame(&tp_record(fsgt_rec::FSGT_REC_READLINK, kind, &link, 0), &mut out);
    frame(&tp_record(fsgt_rec::FSGT_REC_EXIT, kind, &[], 0), &mut out);
    out
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

fn read_fd(fd: &OwnedFd) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: buf is writable for its length; the fd is non-blocking.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(n.max(0) as usize);
    buf
}

/// What read(2) on an inotify fd returns for a create, write and rename, and its fdinfo.
fn real_inotify(dir: &Path) -> std::io::Result<(Vec<u8>, String)> {
    // SAFETY: plain syscalls; the fd is owned right away.
    let fd = unsafe { OwnedFd::from_raw_fd(check(libc::inotify_init1(libc::IN_NONBLOCK), "inotify_init1")?) };
    // SAFETY: the path is a valid C string.
    check(unsafe { libc::inotify_add_watch(fd.as_raw_fd(), cstr(dir).as_ptr(), libc::IN_ALL_EVENTS) }, "inotify_add_watch")?;
    std::fs::write(dir.join("a-name-of-some-length"), b"x")?;
    std::fs::rename(dir.join("a-name-of-some-length"), dir.join("b"))?;
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?;
    Ok((read_fd(&fd), fdinfo))
}

/// The same for a fanotify group that reports directory file handles and names.
fn real_fanotify(dir: &Path) -> std::io::Result<(Vec<u8>, String)> {
    const FAN_REPORT_DFID_NAME: u32 = 0x0c00;
    const FAN_CREATE: u64 = 0x100;
    const FAN_EVENT_ON_CHILD: u64 = 0x0800_0000;
    // SAFETY: plain syscalls; the fd is owned right away.
    let raw = unsafe { libc::fanotify_init(libc::FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | libc::FAN_NONBLOCK, libc::O_RDONLY as u32) };
    let fd = unsafe { OwnedFd::from_raw_fd(check(raw, "fanotify_init")?) };
    // SAFETY: the path is a valid C string.
    let r = unsafe { libc::fanotify_mark(fd.as_raw_fd(), libc::FAN_MARK_ADD, FAN_CREATE | FAN_EVENT_ON_CHILD, libc::AT_FDCWD, cstr(dir).as_ptr()) };
    check(r, "fanotify_mark")?;
    std::fs::write(dir.join("created"), b"x")?;
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?;
    Ok((read_fd(&fd), fdinfo))
}

/// A fanotify read buffer in the classic layout (an event fd, no info records).
fn fanotify_fd_event() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&24u32.to_ne_bytes());
    v.extend_from_slice(&[3, 0]);
    v.extend_from_slice(&24u16.to_ne_bytes());
    v.extend_from_slice(&0x1_0000u64.to_ne_bytes());
    v.extend_from_slice(&5i32.to_ne_bytes());
    v.extend_from_slice(&1234i32.to_ne_bytes());
    v
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
    let (ibuf, ifdinfo) = real_inotify(&dir)?;
    let (fbuf, ffdinfo) = real_fanotify(&dir)?;
    let _ = std::fs::remove_dir_all(&dir);
    let mut out = Vec::new();
    for (i, r) in kernel_records().into_iter().enumerate() {
        out.push(("kernel_ring", format!("seed-{i}"), r));
    }
    out.push(("tracepoint_ring", "seed-inotify".into(), tracepoint_stream(1, &ibuf)));
    out.push(("tracepoint_ring", "seed-fanotify".into(), tracepoint_stream(2, &fbuf)));
    out.push(("inotify_buf", "seed-real".into(), ibuf));
    out.push(("fanotify_buf", "seed-dfid-name".into(), fbuf));
    out.push(("fanotify_buf", "seed-fd".into(), fanotify_fd_event()));
    out.push(("fdinfo", "seed-inotify".into(), ifdinfo.into_bytes()));
    out.push(("fdinfo", "seed-fanotify".into(), ffdinfo.into_bytes()));
    out.push(("kallsyms", "seed-excerpt".into(), kallsyms_excerpt().into_bytes()));
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
    for stream in files("tracepoint_ring") {
        let mut rest = &stream[..];
        let mut n = 0;
        while rest.len() >= 2 {
            let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
            let rec = &rest[2..2 + len];
            fsnotify_gadget::backend::tracepoint::decode(rec, clock).expect("a tracepoint_ring record decodes");
            rest = &rest[2 + len..];
            n += 1;
        }
        assert!(rest.is_empty() && n > 3);
    }
    for buf in files("inotify_buf") {
        let (evs, err) = fsnotify_gadget::backend::tracepoint::userbuf::parse_inotify(&buf);
        assert_eq!(err, None);
        assert!(evs.iter().any(|e| !e.name.is_empty()), "{evs:?}");
    }
    for buf in files("fanotify_buf") {
        let (evs, err) = fsnotify_gadget::backend::tracepoint::userbuf::parse_fanotify(&buf);
        assert_eq!(err, None);
        assert!(!evs.is_empty());
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
}

//! From a watcher's read(2) to the record on fsnotify-gadget's stdout. This process is
//! the watcher: a thread polls an inotify fd (so that each read begins after the tool
//! attached, as the tracepoint backend needs) and notes when each read returned, by the
//! names it read; another thread reads the tool's JSON lines as they come. Files are
//! created one at a time, at a pace that is no multiple of the tool's 100 ms poll, so
//! the events fall at every point of its cycle. Both times are CLOCK_MONOTONIC
//! ([`Instant`]); one `print_delay` line per event.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::emit;
use crate::procs::TimedLines;

/// Between two creates: no multiple of 100 ms.
const PACE: Duration = Duration::from_millis(137);

/// The names of the inotify events in a read's buffer.
fn names(buf: &[u8]) -> Vec<String> {
    const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER <= buf.len() {
        let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap()) as usize;
        let name = &buf[at + HEADER..(at + HEADER + len).min(buf.len())];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        out.push(String::from_utf8_lossy(&name[..end]).into_owned());
        at += HEADER + len;
    }
    out
}

/// Reads `fd` until `stop`, sending each name read and when its read returned.
fn reader(fd: i32, stop: Arc<AtomicBool>, tx: mpsc::Sender<(String, Instant)>) -> std::thread::JoinHandle<Result<()>> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 50) } <= 0 {
                continue;
            }
            // SAFETY: buf is valid for buf.len() bytes.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            let at = Instant::now();
            if n < 0 {
                bail!("read on the inotify fd: {}", std::io::Error::last_os_error());
            }
            for name in names(&buf[..n as usize]) {
                let _ = tx.send((name, at));
            }
        }
        Ok(())
    })
}

pub fn run(backend: &str, events: usize, work: &Path) -> Result<()> {
    crate::progress(&format!("read-to-print delay ({backend}): {events} inotify events, one each {} ms", PACE.as_millis()));
    let dir = work.join("delay");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // SAFETY: plain syscalls with valid arguments.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
    if fd < 0 {
        bail!("inotify_init1: {}", std::io::Error::last_os_error());
    }
    let cdir = CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: cdir is a valid C string.
    if unsafe { libc::inotify_add_watch(fd, cdir.as_ptr(), libc::IN_CREATE) } < 0 {
        bail!("inotify_add_watch: {}", std::io::Error::last_os_error());
    }
    let me = std::process::id().to_string();
    let result = (|| {
        let gadget = TimedLines::start(&["--backend", backend, "-o", "json", "--inotify-only", "--tracer-pid", &me])?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, reads) = mpsc::channel();
        let watcher = reader(fd, stop.clone(), tx);
        for i in 0..events {
            std::fs::File::create(dir.join(format!("e{i}")))?;
            std::thread::sleep(PACE);
        }
        // Every record, then the watcher's reads.
        let mut printed: HashMap<String, Instant> = HashMap::new();
        while printed.len() < events {
            let Some((at, line)) = gadget.next(Duration::from_secs(10)) else {
                bail!("{} of {events} records printed after 10 s", printed.len());
            };
            let r: Value = serde_json::from_str(&line).with_context(|| format!("the tool wrote {line:?}"))?;
            if let Some(name) = r["name"].as_str().filter(|n| n.starts_with('e')) {
                printed.entry(name.to_string()).or_insert(at);
            }
        }
        stop.store(true, Ordering::Relaxed);
        watcher.join().expect("the watcher thread panicked")?;
        gadget.stop()?;
        let read: HashMap<String, Instant> = reads.try_iter().collect();
        for i in 0..events {
            let name = format!("e{i}");
            let (Some(read), Some(printed)) = (read.get(&name), printed.get(&name)) else {
                bail!("no read or no record of {name}");
            };
            let ms = printed.saturating_duration_since(*read).as_secs_f64() * 1e3;
            emit(&serde_json::json!({"t": "print_delay", "backend": backend, "ms": ms}));
        }
        Ok(())
    })();
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_an_inotify_buffer() {
        let mut buf = Vec::new();
        for (wd, name) in [(1i32, &b"e1\0\0\0\0\0\0\0\0\0\0\0\0\0\0"[..]), (1, b"e22\0")] {
            buf.extend_from_slice(&wd.to_ne_bytes());
            buf.extend_from_slice(&libc::IN_CREATE.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&(name.len() as u32).to_ne_bytes());
            buf.extend_from_slice(name);
        }
        assert_eq!(names(&buf), ["e1", "e22"]);
    }
}

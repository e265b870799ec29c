//! The end-to-end tests on this machine's own kernel, in one binary. They
//! need root; they fail (never pass silently) without it.
//!
//! - [`tracepoint`]: the tracepoint backend with real clients;
//! - [`tracepoint_reads`]: what reading each event from its kernel object
//!   fixes (a read blocked before the start, readv, fd reuse, answers);
//! - [`list`]: `fsnotify-gadget list`;
//! - [`hostile`]: hostile names and vanishing processes (tests/vm_e2e.rs runs
//!   the same with the fentry and kprobe backends);
//! - [`forgery`]: a reader that names another of its groups in its registers or
//!   fd table while it reads, which no record may take for the group read;
//! - [`input`]: bad flags and missing privileges;
//! - [`stdout`]: a standard output that cannot take the records, and a full disk;
//! - [`terminal`]: the columns in an 80-column pseudo-terminal, and the
//!   start-up messages;
//! - [`reliability`]: faults, a stalled burst and a short soak
//!   (tests/common/reliability.rs);
//! - [`top`]: `fsnotify-gadget top` with permission daemons of known delays;
//! - [`containers`]: container identity on both sides, with podman and runc;
//! - [`fleet`]: the static binary, its image under podman, the DaemonSet
//!   manifest, and the metrics scraped by a real Prometheus.
//!
//! The tests of one module never run beside another module's (see
//! [`alone`]): some count what the whole machine's tables hold, some set
//! sysctls, some hold notify fds that a child spawned by another test would
//! inherit.

#[path = "../common/mod.rs"]
mod common;

mod claims;
mod containers;
mod endpoint;
mod fleet;
mod forgery;
mod hostile;
mod input;
mod list;
mod reliability;
mod stdout;
mod terminal;
mod top;
mod tracepoint;
mod tracepoint_reads;

use std::sync::{Condvar, Mutex};

/// Builds the freestanding 32-bit (ia32) program `source` into `bin` (the C next to it is
/// written there first, as `bin` with the extension `c`), as the ia32 readers' tests need.
pub fn build_ia32(source: &str, bin: &std::path::Path) {
    let src = bin.with_extension("c");
    std::fs::write(&src, source).unwrap();
    let cc = std::process::Command::new("cc")
        .args(["-m32", "-nostdlib", "-static", "-ffreestanding", "-fno-pic", "-fno-stack-protector", "-O1", "-o"])
        .arg(bin)
        .arg(&src)
        .status()
        .expect("cc (scripts/install-deps.sh installs gcc)");
    assert!(cc.success(), "cc -m32 failed");
}

/// Which module's tests run now, and how many of them.
static RUNNING: Mutex<(Option<&'static str>, usize)> = Mutex::new((None, 0));
static CHANGED: Condvar = Condvar::new();

/// Held by a running test: until every test of its module has dropped its
/// guard, no test of another module starts.
pub struct Alone;

/// Waits until no test of another module runs, then admits this one
/// (`module` is its `module_path!()`).
pub fn alone(module: &'static str) -> Alone {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    while running.0.is_some_and(|m| m != module) {
        running = CHANGED.wait(running).unwrap_or_else(|e| e.into_inner());
    }
    running.0 = Some(module);
    running.1 += 1;
    Alone
}

impl Drop for Alone {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        running.1 -= 1;
        if running.1 == 0 {
            running.0 = None;
            CHANGED.notify_all();
        }
    }
}

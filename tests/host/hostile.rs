//! Hostile names, comms and vanishing processes through the tracepoint
//! backend on this host (issue 7, items 1 and 5); tests/vm_e2e.rs runs the
//! same checks with the fentry and kprobe backends. Needs root.

use crate::common::{hostile, require_root};

#[test]
fn hostile_names_tracepoint() {
    let _alone = crate::alone(module_path!());
    require_root();
    hostile::hostile_names_end_to_end("tracepoint");
}

#[test]
fn vanishing_processes_tracepoint() {
    let _alone = crate::alone(module_path!());
    require_root();
    hostile::vanishing_processes("tracepoint");
}

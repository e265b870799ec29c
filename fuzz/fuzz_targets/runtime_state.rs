//! The container runtimes' state files (runc's state.json, OCI config.json,
//! containers/storage's containers.json, docker's config.v2.json, pid files)
//! and cgroup paths: written by other programs, read as root by the tracer.
#![no_main]

use fsnotify_gadget::containers::{cgroup_path, state};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for f in state::runc_state(&text).into_iter().chain(state::docker_config(&text)).chain(state::storage_containers(&text)) {
        let _ = state::k8s(&f.annotations);
        let _ = state::k8s_image(&f.annotations);
        let _ = state::manager(&f.annotations);
    }
    if let Some(a) = state::oci_annotations(&text) {
        let _ = state::k8s(&a);
    }
    let _ = state::pid_file(&text);
    for hint in [cgroup_path::parse(&text), cgroup_path::from_proc_cgroup(&text)] {
        // What a path names is always well formed: a 64-digit id, a 36-character uid.
        assert!(hint.id.as_ref().is_none_or(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())));
        assert!(hint.pod_uid.as_ref().is_none_or(|u| u.len() == 36));
    }
});

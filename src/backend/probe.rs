//! What `--backend auto` asks of the kernel before loading a backend: a
//! failed load of the whole BPF object costs as much as a good one (the
//! kernel's BTF parsed, every program verified), so the families the kernel
//! cannot run are ruled out by cheap checks first. A check that passes is
//! not trusted blindly: the backend is still opened, and one that fails
//! then falls through to the next as before.

use std::ffi::CString;
use std::path::Path;

use libbpf_rs::libbpf_sys as sys;

/// Why a family cannot run here: words for the one-line start-up note, and
/// what the check saw, for `-v`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub &'static str, pub String);

/// The last OS error, as text.
fn os_error() -> String {
    std::io::Error::last_os_error().to_string()
}

/// Whether kernel lockdown is at `confidentiality`, which refuses
/// bpf_probe_read_kernel to both the fentry and the kprobe programs.
pub fn locked_down() -> Option<Missing> {
    (super::kernel::lockdown().as_deref() == Some("confidentiality"))
        .then(|| Missing("kernel lockdown=confidentiality", "/sys/kernel/security/lockdown says so".to_string()))
}

/// Whether kprobes can be attached: the perf kprobe PMU, or tracefs's
/// kprobe_events (what libbpf falls back to), exists only when the kernel
/// has CONFIG_KPROBES (with CONFIG_KPROBE_EVENTS).
pub fn kprobes() -> Result<(), Missing> {
    let places = [
        "/sys/bus/event_source/devices/kprobe/type",
        "/sys/kernel/tracing/kprobe_events",
        "/sys/kernel/debug/tracing/kprobe_events",
    ];
    if places.iter().any(|p| Path::new(p).exists()) {
        Ok(())
    } else {
        Err(Missing("no kprobes", format!("none of {} exists", places.join(", "))))
    }
}

/// Whether fentry programs load and attach on `func`: a program of two
/// instructions (return 0) loaded as fentry on it, attached, and closed.
pub fn fentry(func: &str) -> Result<(), Missing> {
    let no = |what: String| Missing("no BPF trampolines", what);
    let name = CString::new(func).map_err(|_| no(format!("{func:?} is not a C string")))?;
    // SAFETY: a C string; libbpf reads the kernel's BTF to find the id.
    let id = unsafe { sys::libbpf_find_vmlinux_btf_id(name.as_ptr(), sys::BPF_TRACE_FENTRY) };
    if id <= 0 {
        return Err(no(format!("the kernel's BTF has no {func}")));
    }
    // SAFETY: bpf_insn is plain integers (its register bitfields 0: r0).
    let mut insns: [sys::bpf_insn; 2] = unsafe { std::mem::zeroed() };
    insns[0].code = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K: r0 = 0
    insns[1].code = 0x95; // BPF_JMP | BPF_EXIT
    let mut opts = sys::bpf_prog_load_opts {
        sz: std::mem::size_of::<sys::bpf_prog_load_opts>() as _,
        expected_attach_type: sys::BPF_TRACE_FENTRY,
        attach_btf_id: id as u32,
        ..Default::default()
    };
    // SAFETY: valid instructions, names and options that outlive the call.
    let prog = unsafe {
        sys::bpf_prog_load(sys::BPF_PROG_TYPE_TRACING, c"fsg_probe".as_ptr(), c"GPL".as_ptr(), insns.as_ptr(), insns.len() as _, &mut opts)
    };
    if prog < 0 {
        return Err(no(format!("a test fentry program on {func} did not load: {}", os_error())));
    }
    // SAFETY: a program fd we own; no options.
    let link = unsafe { sys::bpf_link_create(prog, 0, sys::BPF_TRACE_FENTRY, std::ptr::null()) };
    let attach_error = os_error();
    // SAFETY: closing fds we own (the link detaches as it closes).
    unsafe {
        if link >= 0 {
            libc::close(link);
        }
        libc::close(prog);
    }
    if link < 0 {
        return Err(no(format!("a test fentry program on {func} did not attach: {attach_error}")));
    }
    Ok(())
}

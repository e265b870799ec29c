//! User-space throughput: raw records through the same decode, enrichment, metrics and
//! output code the tracing loop runs (src/trace.rs), into a sink, on one core.
//!
//! One path, `kernel`: `struct fsg_event` bytes, as every backend's programs write them to
//! the ring buffer (the tracepoint backend sends the same records), through
//! `backend::kernel::decode::decode`.
//!
//! The records are built once, before timing, in the shapes real sessions produce: inotify
//! events with short names, fanotify events with paths, permission answers.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use fsnotify_gadget::backend::kernel::decode::{self, fsg_event, fsg_flags, fsg_type};
use fsnotify_gadget::backend::{Clock, RING_BATCH};
use fsnotify_gadget::fields;
use fsnotify_gadget::model::Record;
use fsnotify_gadget::metrics;
use fsnotify_gadget::names::Names;
use fsnotify_gadget::output::{Format, Writer};
use fsnotify_gadget::trace::{enrich, Printing};

use crate::{allocs, emit};

const NAMES: [&str; 8] = ["a", "main.rs", "Cargo.lock", ".git", "index.lock", "target", "report-2024-final.pdf", "x.tmp"];
const DIRS: [&str; 4] = ["home", "alice", "src", "project"];

/// Kernel-backend records: 7 of 10 inotify, 2 fanotify with a path, 1 permission answer.
fn kernel_records(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut ev = fsg_event::default();
            ev.timestamp_ns = 1_000_000 + i as u64 * 1000;
            ev.queued_ns = ev.timestamp_ns - 20_000;
            ev.group = 0xffff_8880_1234_0000 + (i as u64 % 3) * 0x400;
            ev.flags = fsg_flags::FSG_F_TRACER.0 | fsg_flags::FSG_F_TRACEE.0 | fsg_flags::FSG_F_PRIO.0;
            for (p, pid, comm) in [(&mut ev.tracer, 800, &b"inotifywait"[..]), (&mut ev.tracee, 2000 + (i as u32 % 50), b"cargo")] {
                p.pid = pid;
                p.tid = pid;
                p.ppid = 1;
                p.uid = if i % 4 == 0 { 0 } else { 1000 };
                p.gid = p.uid;
                p.mntns_id = 4026531841;
                // Every other tracee is in the benchmark's container (see `containers`).
                if pid != 800 && i % 2 == 0 {
                    p.mntns_id = own_mntns();
                }
                decode::set_c(&mut p.comm, comm);
                decode::set_c(&mut p.pcomm, b"bash");
            }
            let name = NAMES[i % NAMES.len()].as_bytes();
            match i % 10 {
                0..=6 => {
                    ev.r#type = fsg_type::FSG_TYPE_INOTIFY.0;
                    ev.flags |= fsg_flags::FSG_F_INODES.0;
                    ev.i_wd = 1 + (i % 5) as i32;
                    ev.i_mask = [0x2, 0x8, 0x20, 0x100, 0x200][i % 5] | 0x0800_0000;
                    ev.i_ino = 10_000 + i as u64;
                    ev.i_ino_dir = 99;
                    decode::set_c(&mut ev.name, name);
                    ev.name_len = name.len() as u32;
                }
                _ => {
                    // A path as the programs send it: components, leaf first, each NUL-terminated.
                    let mut comps = name.to_vec();
                    comps.push(0);
                    for d in DIRS.iter().rev() {
                        comps.extend_from_slice(d.as_bytes());
                        comps.push(0);
                    }
                    ev.r#type = if i % 10 == 9 { fsg_type::FSG_TYPE_FA_RESP.0 } else { fsg_type::FSG_TYPE_FANOTIFY.0 };
                    ev.flags |= fsg_flags::FSG_F_PATH_COMPONENTS.0 | fsg_flags::FSG_F_PERM.0;
                    ev.fa_type = 3;
                    ev.fa_mask = 0x10000;
                    ev.fa_pid = ev.tracee.pid;
                    ev.fa_flags = 0x4;
                    ev.fa_response = 1;
                    decode::set_c(&mut ev.name, &comps);
                    ev.name_len = comps.len() as u32;
                }
            }
            decode::encode(&ev)
        })
        .collect()
}

fn pin_to_one_core() {
    // SAFETY: set is a valid cpu_set_t; pid 0 is this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// This process's mount namespace: the container the benchmark's runtime state names.
fn own_mntns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/mnt").map_or(0, |m| m.ino())
}

/// A container cache that knows one container, as podman's runc state and
/// containers/storage describe it, whose init process is this one: records
/// in this mount namespace hit it, the others hit the cache's "no container".
/// The state stays in `root` for the cache's rescans (once a second at most).
fn containers(root: &std::path::Path) -> anyhow::Result<fsnotify_gadget::containers::Containers> {
    let id = "5a5b1f717e6b43cc70cd8226a41ce9bf71a0f389ed8359e89645b7fe8e3930c2";
    std::fs::create_dir_all(root.join("runc").join(id))?;
    std::fs::create_dir_all(root.join("storage/overlay-containers"))?;
    let state = serde_json::json!({"id": id, "init_process_pid": std::process::id(), "config": {"labels": ["io.container.manager=libpod"]}});
    std::fs::write(root.join("runc").join(id).join("state.json"), state.to_string())?;
    let meta = serde_json::json!({"image-name": "localhost/app:1"}).to_string();
    let storage = serde_json::json!([{"id": id, "names": ["web"], "metadata": meta}]);
    std::fs::write(root.join("storage/overlay-containers/containers.json"), storage.to_string())?;
    let roots = fsnotify_gadget::containers::Roots {
        runc: vec![root.join("runc")],
        containerd: Vec::new(),
        storage: vec![root.join("storage")],
        docker: Vec::new(),
        proc: "/proc".into(),
    };
    let mut c = fsnotify_gadget::containers::Containers::new(roots);
    c.rescan_now();
    anyhow::ensure!(c.running().len() == 1, "the benchmark's container was not found");
    Ok(c)
}

/// The configurations each round runs, side by side: the default columns,
/// every JSON field, and every JSON field with `--metrics` counting each
/// record under the default labels.
const CONFIGS: [(&str, Format, bool); 3] = [("columns", Format::Columns, false), ("json", Format::Json, false), ("json", Format::Json, true)];

/// Polls each configuration takes in its turn: 64 Ki records, a few tens of
/// milliseconds, short enough for the configurations to share the machine's
/// slow moments, long enough that each runs with its own caches warm.
const TURN: usize = 16;

/// This thread's CPU time in ns: the machine is shared, and wall time would count the others.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One configuration's tracing loop, fed batch by batch, and what its batches cost.
struct Pipeline {
    printing: Printing<io::Sink>,
    names: Names,
    batch: Vec<Record>,
    ns: u64,
    cpu_ns: u64,
    allocs: u64,
    alloc_bytes: u64,
}

impl Pipeline {
    fn new(format: Format, with_metrics: bool, state_root: &std::path::Path) -> anyhow::Result<Pipeline> {
        let selected: Vec<_> = match format {
            Format::Columns => fields::DEFAULT_COLUMNS.iter().filter_map(|n| fields::find(n)).collect(),
            Format::Json | Format::JsonPretty => fields::json_default().collect(),
        };
        let recorder = match with_metrics {
            true => {
                let labels = metrics::parse_labels(metrics::DEFAULT_LABELS).map_err(anyhow::Error::msg)?;
                Some(metrics::Recorder::new(Arc::new(metrics::Metrics::new(&labels.0, "bench")?), 1000))
            }
            false => None,
        };
        Ok(Pipeline {
            printing: Printing::new(Writer::new(format, selected), io::sink(), recorder),
            names: Names::with_containers(containers(state_root)?),
            batch: Vec::with_capacity(RING_BATCH),
            ns: 0,
            cpu_ns: 0,
            allocs: 0,
            alloc_bytes: 0,
        })
    }

    /// One poll's records, as the tracing loop takes them: decoded as the
    /// ring buffer hands them out, enriched, then counted and written.
    fn poll(&mut self, raw: &[&[u8]], clock: Clock) -> anyhow::Result<()> {
        let (a0, b0, t0, c0) = (allocs::count(), allocs::bytes(), Instant::now(), thread_cpu_ns());
        for r in raw {
            let Ok(r) = decode::decode(r, clock) else { anyhow::bail!("a benchmark record did not decode") };
            self.batch.push(r);
        }
        self.names.new_batch();
        let names = &mut self.names;
        self.batch.iter_mut().for_each(|r| enrich(names, r));
        self.printing.take(&mut self.batch, None)?;
        self.cpu_ns += thread_cpu_ns() - c0;
        self.ns += t0.elapsed().as_nanos() as u64;
        self.allocs += allocs::count() - a0;
        self.alloc_bytes += allocs::bytes() - b0;
        Ok(())
    }
}

/// Times `records` records per configuration and round through the trace's
/// own printing code ([`Printing`]) into a sink. The configurations take
/// turns of [`TURN`] polls, the same records each, in a rotating order, so
/// that a slower moment of the machine falls on all of them alike.
/// One `throughput` line each per round.
pub fn run(records: usize, rounds: usize) -> anyhow::Result<()> {
    pin_to_one_core();
    let distinct = 4096;
    let kernel_raw = kernel_records(distinct);
    let clock = Clock::with_offset(1_700_000_000_000_000_000);
    let state_root = std::env::temp_dir().join(format!("fsg-bench-containers-{}", std::process::id()));
    for round in 0..rounds {
        let mut pipelines = CONFIGS.iter().map(|&(_, format, m)| Pipeline::new(format, m, &state_root)).collect::<anyhow::Result<Vec<_>>>()?;
        let mut done = 0;
        for turn in 0.. {
            if done >= records {
                break;
            }
            let end = records.min(done + TURN * RING_BATCH);
            let raw: Vec<&[u8]> = (done..end).map(|i| &kernel_raw[i % distinct][..]).collect();
            for k in 0..pipelines.len() {
                for polled in raw.chunks(RING_BATCH) {
                    pipelines[(turn + k) % CONFIGS.len()].poll(polled, clock)?;
                }
            }
            done = end;
        }
        for ((name, _, with_metrics), p) in CONFIGS.iter().zip(&pipelines) {
            emit(&serde_json::json!({"t": "throughput", "path": "kernel", "format": name, "metrics": with_metrics,
                "round": round, "records": records, "ns": p.ns, "cpu_ns": p.cpu_ns,
                "allocs": p.allocs, "alloc_bytes": p.alloc_bytes}));
        }
    }
    let _ = std::fs::remove_dir_all(&state_root);
    Ok(())
}

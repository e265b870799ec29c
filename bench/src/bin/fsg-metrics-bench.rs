//! What `--metrics` costs, printed as figures (issue 16's targets beside them):
//!
//! 1. user-space throughput with metrics off and on: records through enrichment and
//!    the JSON writer into a sink, as the trace loop runs them, with and without the
//!    recorder counting them (flushed once per batch of 4096, as after each poll);
//!    alternated rounds, medians, per second of this thread's CPU time. Decoding is left out, so the relative cost printed is
//!    larger than in the full pipeline (whose records/s are lower).
//! 2. a scrape of 10,000 distinct label sets: GET /metrics over loopback from the real
//!    HTTP thread, after the recorder filled the registry; the median of 20 scrapes.
//!
//! `cargo run --release -p fsg-bench --bin fsg-metrics-bench [-- --records N --rounds N]`

use std::io::{self, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fsnotify_gadget::fields;
use fsnotify_gadget::metrics::{http, Label, Metrics, Recorder};
use fsnotify_gadget::model::{EventType, FaResponse, Proc, Record};
use fsnotify_gadget::names::Names;
use fsnotify_gadget::output::{Format, Writer};
use fsnotify_gadget::trace::enrich;

const BATCH: usize = 4096;

fn proc_(pid: u32, comm: &str, uid: u32) -> Proc {
    Proc { pid, tid: pid, ppid: 1, comm: comm.into(), pcomm: b"bash".into(), uid, gid: uid, mntns_id: 4026531841, ..Default::default() }
}

/// Records as real sessions make them: 7 of 10 inotify, 2 fanotify, 1 permission answer,
/// a few tracers and tracees.
fn records(n: usize) -> Vec<Record> {
    let tracers = ["inotifywait", "code", "fatrace", "fapolicyd"];
    let tracees = ["cargo", "rustc", "touch", "bash", "git", "make"];
    (0..n)
        .map(|i| {
            let t = match i % 10 {
                0..=6 => EventType::Inotify,
                7 | 8 => EventType::Fanotify,
                _ => EventType::FaResp,
            };
            let mut r = Record::new(t, 1_700_000_000_000_000_000 + i as u64);
            r.tracer = Some(proc_(800 + (i % 4) as u32, tracers[i % 4], 0));
            r.tracee = Some(proc_(2000 + (i % 50) as u32, tracees[i % 6], if i % 4 == 0 { 0 } else { 1000 }));
            r.latency_ns = Some(1000 + (i as u64 * 7919) % 2_000_000);
            r.fsnotify_group = Some(0xffff_8880_1234_0000);
            match t {
                EventType::Inotify => {
                    r.i_wd = Some(1);
                    r.i_mask = Some(0x2);
                    r.name = b"main.rs".to_vec();
                }
                EventType::Fanotify => {
                    r.fa_mask = Some(0x20);
                    r.name = b"/home/alice/src/project/main.rs".to_vec();
                }
                EventType::FaResp => r.fa_response = if i % 20 == 9 { FaResponse::Deny } else { FaResponse::Allow },
            }
            r
        })
        .collect()
}

/// This thread's CPU time: the machine is shared, and wall time would count the others.
fn cpu_secs() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// One timed pass; records per CPU second.
fn pass(input: &[Record], recorder: Option<&mut Recorder>) -> f64 {
    let mut writer = Writer::new(Format::Json, fields::all().collect());
    let mut names = Names::default();
    let mut out = BufWriter::with_capacity(64 * 1024, io::sink());
    let mut recorder = recorder;
    let t0 = cpu_secs();
    for chunk in input.chunks(BATCH) {
        if let Some(m) = recorder.as_deref_mut() {
            m.observe_all(chunk);
            m.flush(None);
        }
        for r in chunk {
            let mut r = r.clone();
            enrich(&mut names, &mut r);
            writer.write(&r, &mut out).expect("sink");
        }
    }
    out.flush().expect("sink");
    input.len() as f64 / (cpu_secs() - t0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn scrape(port: u16) -> (Duration, usize) {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "GET /metrics HTTP/1.0\r\n\r\n").expect("send");
    let mut body = Vec::new();
    s.read_to_end(&mut body).expect("read");
    (t0.elapsed(), body.len())
}

fn main() {
    let mut n = 1_000_000usize;
    let mut rounds = 7usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            eprintln!("usage: fsg-metrics-bench [--records N] [--rounds N]");
            std::process::exit(2)
        });
        match a.as_str() {
            "--records" => n = v,
            "--rounds" => rounds = v,
            _ => {
                eprintln!("usage: fsg-metrics-bench [--records N] [--rounds N]");
                std::process::exit(2)
            }
        }
    }
    let input = records(n);
    let labels = [Label::TracerComm, Label::TraceeComm];
    let metrics = Arc::new(Metrics::new(&labels, "bench").expect("metrics"));
    let mut recorder = Recorder::new(metrics.clone(), 1000);
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        off.push(pass(&input, None));
        on.push(pass(&input, Some(&mut recorder)));
    }
    let (off, on) = (median(off), median(on));
    println!(
        "metrics-bench: user-space JSON throughput, metrics off {:.0}k records/s, on {:.0}k records/s: {:+.1}% (target: at most 5% less; median of {rounds} alternated rounds of {n} records, CPU time)",
        off / 1e3,
        on / 1e3,
        (on / off - 1.0) * 100.0
    );

    // 100 tracers x 100 tracees = 10,000 label sets of events_total (plus 100 delivery
    // histograms and 100 permission histograms).
    let metrics = Arc::new(Metrics::new(&labels, "bench").expect("metrics"));
    let mut recorder = Recorder::new(metrics.clone(), 20_000);
    for a in 0..100 {
        for b in 0..100 {
            let mut r = Record::new(if b % 10 == 9 { EventType::FaResp } else { EventType::Inotify }, 1);
            r.tracer = Some(proc_(a, &format!("tracer-{a}"), 0));
            r.tracee = Some(proc_(b, &format!("tracee-{b}"), 0));
            r.latency_ns = Some(5000);
            r.fa_response = FaResponse::Allow;
            recorder.observe(&r);
        }
    }
    recorder.flush(None);
    let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    http::spawn(format!("127.0.0.1:{port}").parse().expect("addr"), metrics).expect("serve");
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..20 {
        let (t, b) = scrape(port);
        times.push(t.as_secs_f64() * 1e3);
        bytes = b;
    }
    let worst = times.iter().cloned().fold(0.0, f64::max);
    println!(
        "metrics-bench: a scrape of 10,000 label sets ({} KiB): median {:.1} ms, worst {:.1} ms of 20 (target: under 100 ms)",
        bytes / 1024,
        median(times),
        worst
    );
}

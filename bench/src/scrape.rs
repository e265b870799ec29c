//! What a scrape of `--metrics` costs on a busy node: 10,000 distinct label sets of
//! `fsnotify_gadget_events_total` (100 tracers by 100 tracees, a tenth of them
//! permission answers, so 100 delivery and 100 permission histograms besides), counted
//! by the trace loop's recorder, then `GET /metrics` over loopback from the real HTTP
//! thread, as Prometheus asks it. One `scrape` line per scrape.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use fsnotify_gadget::metrics::{self, http, Metrics, Recorder};
use fsnotify_gadget::model::{EventType, FaResponse, Proc, Record};

use crate::emit;

fn side(pid: u32, comm: &str) -> Proc {
    Proc { pid, tid: pid, ppid: 1, comm: comm.into(), pcomm: b"bash".into(), mntns_id: 4026531841, ..Default::default() }
}

/// GET /metrics; the whole answer.
fn get(port: u16) -> anyhow::Result<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(s, "GET /metrics HTTP/1.0\r\n\r\n")?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    Ok(body)
}

pub fn run(scrapes: usize) -> anyhow::Result<()> {
    let labels = metrics::parse_labels(metrics::DEFAULT_LABELS).map_err(anyhow::Error::msg)?;
    let metrics = Arc::new(Metrics::new(&labels.0, "bench")?);
    // Room for every label set: none is folded under `other`.
    let mut recorder = Recorder::new(metrics.clone(), 20_000);
    for a in 0..100 {
        for b in 0..100 {
            let mut r = Record::new(if b % 10 == 9 { EventType::FaResp } else { EventType::Inotify }, 1);
            r.tracer = Some(side(a, &format!("tracer-{a}")));
            r.tracee = Some(side(b, &format!("tracee-{b}")));
            r.latency_ns = Some(5000);
            r.fa_response = if b % 10 == 9 { FaResponse::Allow } else { FaResponse::Na };
            recorder.observe(&r);
        }
    }
    recorder.flush(None);
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    http::spawn(format!("127.0.0.1:{port}").parse()?, metrics).map_err(anyhow::Error::msg)?;
    for _ in 0..scrapes {
        let t0 = Instant::now();
        let body = get(port)?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let text = String::from_utf8_lossy(&body);
        let series = text.lines().filter(|l| l.starts_with("fsnotify_gadget_events_total{")).count();
        anyhow::ensure!(text.starts_with("HTTP/1.") && series == 10_000, "the scrape did not answer the 10,000 label sets: {series}");
        emit(&serde_json::json!({"t": "scrape", "series": series, "bytes": body.len(), "ms": ms}));
    }
    Ok(())
}

//! The /metrics endpoint: tiny_http on its own thread.
//!
//! A scrape encodes the registry (the trace loop only ever flushes into it, so neither
//! waits for the other); a client that goes away, or stops reading, mid-answer costs
//! that answer only: every connection's writes give up after [`SEND_TIMEOUT`] without
//! progress, so the next scrape is answered.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Metrics;

/// The Prometheus text exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long an answer waits for a client that takes none of it before giving it up
/// (less than Prometheus' default scrape timeout, 10 s).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `addr` now (so a taken port is reported at once) and answers on a new thread.
pub fn spawn(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<(), String> {
    spawn_with(addr, metrics, SEND_TIMEOUT)
}

fn spawn_with(addr: SocketAddr, metrics: Arc<Metrics>, send_timeout: Duration) -> Result<(), String> {
    let listener = TcpListener::bind(addr).map_err(|e| e.to_string())?;
    // Linux copies a listening socket's options into each connection it accepts:
    // this send timeout holds for every answer. (A receive timeout would end
    // tiny_http's accept loop, which stops at its first error.)
    set_send_timeout(&listener, send_timeout).map_err(|e| format!("cannot set a send timeout: {e}"))?;
    let server = tiny_http::Server::from_listener(listener, None).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("fsg-metrics-http".into())
        .spawn(move || {
            let mut told = false;
            for request in server.incoming_requests() {
                let peer = request.remote_addr().map_or("a client".to_string(), |a| a.to_string());
                if let Err(e) = answer(request, &metrics) {
                    if !told {
                        eprintln!(
                            "fsnotify-gadget: warning: metrics: the answer to {peer} was cut off ({e}): it went away or read nothing for {} s; tracing and the next scrapes go on (later cut-offs are not reported)",
                            send_timeout.as_secs()
                        );
                        told = true;
                    }
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn set_send_timeout(listener: &TcpListener, t: Duration) -> nix::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt::SendTimeout};
    setsockopt(listener, SendTimeout, &nix::sys::time::TimeVal::from(libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    }))
}

fn answer(request: tiny_http::Request, metrics: &Metrics) -> std::io::Result<()> {
    let header = |v: &str| tiny_http::Header::from_bytes("Content-Type", v).expect("valid header");
    let path = request.url().split('?').next().unwrap_or("");
    let response = match (request.method(), path) {
        (tiny_http::Method::Get | tiny_http::Method::Head, "/metrics") => {
            tiny_http::Response::from_string(metrics.encode()).with_header(header(CONTENT_TYPE))
        }
        (tiny_http::Method::Get | tiny_http::Method::Head, "/") => {
            tiny_http::Response::from_string("fsnotify-gadget: metrics are at /metrics\n").with_header(header("text/plain"))
        }
        _ => tiny_http::Response::from_string("not found: try /metrics\n").with_status_code(404),
    };
    request.respond(response)
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM end `serve`.
pub fn install_stop_handlers() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    use super::*;
    use crate::metrics::{Label, Recorder};
    use crate::model::{EventType, Proc, Record};

    /// A connection to `port` whose receive buffer is set before it connects
    /// to 4 KiB, so that the window it offers stays small: an answer to it
    /// fills the sender's buffer at once when nothing is read.
    fn small_window(port: u16) -> TcpStream {
        use nix::sys::socket::{connect, setsockopt, socket, sockopt::RcvBuf, AddressFamily, SockFlag, SockType, SockaddrIn};
        let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::empty(), None).unwrap();
        setsockopt(&fd, RcvBuf, &4096).unwrap();
        connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::new(127, 0, 0, 1, port)).unwrap();
        TcpStream::from(fd)
    }

    /// A client that asks for /metrics and reads none of it, and one that goes
    /// away after the first bytes, cost their own answers only: the next
    /// scrape is answered in full, once the first gave up.
    #[test]
    fn a_client_that_stops_reading_does_not_hold_up_the_next_scrape() {
        let metrics = Arc::new(Metrics::new(&[Label::TracerComm, Label::TraceeComm], "test").unwrap());
        let mut rec = Recorder::new(metrics.clone(), 100_000);
        // 40,000 series, an answer of about 5 MB: more than loopback buffers hold
        // for a client that reads nothing.
        for a in 0..200 {
            for b in 0..200 {
                let mut r = Record::new(EventType::Inotify, 1);
                r.tracer = Some(Proc { comm: format!("tracer-{a}").as_str().into(), ..Default::default() });
                r.tracee = Some(Proc { comm: format!("tracee-{b}").as_str().into(), ..Default::default() });
                rec.observe(&r);
            }
        }
        rec.flush(None);
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        spawn_with(format!("127.0.0.1:{port}").parse().unwrap(), metrics, Duration::from_secs(1)).unwrap();
        let ask = |s: TcpStream| {
            let mut s = s;
            s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
            s
        };
        let connect = || TcpStream::connect(("127.0.0.1", port)).unwrap();
        let stalled = ask(small_window(port));
        let mut gone = ask(connect());
        gone.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        gone.read_exact(&mut [0; 100]).expect("the answer after a stalled client's starts");
        drop(gone);
        let t0 = Instant::now();
        let mut answer = Vec::new();
        let mut s = ask(connect());
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.read_to_end(&mut answer).expect("the scrape after a stalled client is answered");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.") && text.contains(" 200 "), "{}", &text[..text.len().min(200)]);
        let series = text.lines().filter(|l| l.starts_with("fsnotify_gadget_events_total{")).count();
        assert_eq!(series, 40_000, "a whole answer");
        // It waited for the stalled answer to give up, not for the stalled client.
        assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
        drop(stalled);
    }
}

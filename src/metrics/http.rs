//! The /metrics endpoint: tiny_http on its own thread.
//!
//! A scrape encodes the registry (the trace loop only ever flushes into it, so neither
//! waits for the other); a client that goes away mid-answer costs that answer only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::Metrics;

/// The Prometheus text exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Binds `addr` now (so a taken port is reported at once) and answers on a new thread.
pub fn spawn(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<(), String> {
    let server = tiny_http::Server::http(addr).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("fsg-metrics-http".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                answer(request, &metrics);
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn answer(request: tiny_http::Request, metrics: &Metrics) {
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
    // A client that hung up is not our problem.
    let _ = request.respond(response);
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

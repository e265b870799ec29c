//! The /metrics endpoint: a small HTTP/1.1 server over std::net, on its own thread.
//!
//! A scrape encodes the registry (the trace loop only ever flushes into it, so neither
//! waits for the other). Whatever can reach the port is a client, so everything a
//! client can make the endpoint hold is bounded, and nothing a client does ends it:
//! - at most [`Limits::max_connections`] connections are open at once; past that, a new
//!   one takes the place of the oldest that has not sent a whole request yet (a scrape
//!   sends its request at once, so a flood of idle connections does not keep it out);
//! - a request head (request line and headers) is at most [`Limits::max_head`] bytes and
//!   must arrive within [`Limits::read_timeout`] of the connection: past either, the
//!   connection gets a short 431 or 408 (when its buffer takes it) and is closed;
//! - at most [`Limits::max_answers`] answers to /metrics are held at once (the others
//!   wait for one of them to end), and an answer is given up after
//!   [`Limits::send_timeout`] without progress (a client that went away or stopped
//!   reading) or [`Limits::answer_timeout`] in all;
//! - a failed accept, such as EMFILE or ENFILE (the process or the system is out of
//!   file descriptors), is reported once; accepting pauses for [`ACCEPT_BACKOFF`] and
//!   goes on (the connections wait in the kernel's queue meanwhile).
//!
//! One thread polls every socket, nonblocking, so no client waits for another's
//! request or answer, and a connection costs one descriptor and its head buffer. Every
//! answer ends its connection (`Connection: close`).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::Metrics;

/// The Prometheus text exposition format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long an answer waits for a client that takes none of it before giving it up
/// (less than Prometheus' default scrape timeout, 10 s).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long accepting pauses after an accept failed (out of file descriptors, say).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long an answered connection is drained of what its client still sends
/// (bytes after the request head) before it is closed, so that closing it with
/// unread bytes does not reset it under the answer.
const LINGER: Duration = Duration::from_secs(1);

/// What the endpoint holds for its clients at most.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Bytes of a request's line and headers.
    pub max_head: usize,
    /// Time from a connection's accept to the end of its request head.
    pub read_timeout: Duration,
    /// Answers to /metrics held at once (each is a copy of the exposition).
    pub max_answers: usize,
    /// Time an answer may make no progress.
    pub send_timeout: Duration,
    /// Time an answer may take in all.
    pub answer_timeout: Duration,
}

/// The endpoint's limits: a Prometheus server or two and a readiness probe need a
/// few connections; a request head of Prometheus or kubelet is some 300 bytes.
pub const LIMITS: Limits = Limits {
    max_connections: 64,
    max_head: 8 * 1024,
    read_timeout: Duration::from_secs(5),
    max_answers: 4,
    send_timeout: SEND_TIMEOUT,
    answer_timeout: Duration::from_secs(30),
};

/// Binds `addr` now (so a taken port is reported at once) and answers on a new thread;
/// the address bound (port 0 asks the kernel for a free one, which this names).
pub fn spawn(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr, String> {
    spawn_with(addr, metrics, LIMITS)
}

fn spawn_with(addr: SocketAddr, metrics: Arc<Metrics>, limits: Limits) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr).map_err(|e| e.to_string())?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("fsg-metrics-http".into())
        .spawn(move || Server { listener, metrics, limits, conns: Vec::new(), paused_until: None, told: Told::default() }.run())
        .map_err(|e| e.to_string())?;
    Ok(bound)
}

/// What a whole request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// GET or HEAD /metrics (`true`: HEAD, no body).
    Metrics(bool),
    /// GET or HEAD /.
    Index(bool),
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

enum State {
    /// Reading the request head: the bytes so far.
    Head(Vec<u8>),
    /// A whole request for /metrics, waiting until fewer than `max_answers` answers are held.
    Queued(bool),
    /// Sending an answer: its bytes, how many went, when some last went, when it began,
    /// and whether it is an answer to /metrics (one of the `max_answers`).
    Answer { bytes: Vec<u8>, sent: usize, progress: Instant, began: Instant, exposition: bool },
    /// Answered and shut for writing: reading what the client still sends, until it
    /// closes or the instant given.
    Linger(Instant),
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    state: State,
}

/// Which warnings were printed: each once, however often its cause comes back.
#[derive(Default)]
struct Told {
    cut_off: bool,
    full: bool,
    accept: bool,
}

struct Server {
    listener: TcpListener,
    metrics: Arc<Metrics>,
    limits: Limits,
    /// Oldest first.
    conns: Vec<Conn>,
    /// Accepting failed: the listener is not polled until then.
    paused_until: Option<Instant>,
    told: Told,
}

impl Server {
    fn run(mut self) {
        loop {
            let now = Instant::now();
            self.end_expired(now);
            self.start_answers();
            if self.paused_until.is_some_and(|t| now >= t) {
                self.paused_until = None;
            }
            let listening = self.paused_until.is_none();
            let mut fds: Vec<PollFd> = Vec::with_capacity(self.conns.len() + 1);
            if listening {
                fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
            }
            for c in &self.conns {
                fds.push(PollFd::new(c.stream.as_fd(), c.wants()));
            }
            let timeout = match self.next_deadline() {
                None => PollTimeout::NONE,
                Some(t) => {
                    // Rounded up, so that the deadline has passed when poll returns.
                    let ms = t.saturating_duration_since(now).as_micros().div_ceil(1000);
                    PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
                }
            };
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    // Out of memory for the poll set, say: try again shortly.
                    self.tell_accept(&std::io::Error::from(e));
                    std::thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            }
            let ready: Vec<PollFlags> = fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect();
            drop(fds);
            let (accept, ready) = if listening { (!ready[0].is_empty(), &ready[1..]) } else { (false, &ready[..]) };
            let mut keep = Vec::with_capacity(self.conns.len());
            for (c, &ev) in self.conns.iter_mut().zip(ready) {
                keep.push(ev.is_empty() || c.serve(&self.limits, &mut self.told));
            }
            let mut keep = keep.into_iter();
            self.conns.retain(|_| keep.next().unwrap_or(true));
            if accept {
                self.accept();
            }
        }
    }

    /// Accepts what waits (a bounded number at a time, so that the connections
    /// already open are served in between).
    fn accept(&mut self) {
        for _ in 0..256 {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    if self.conns.len() >= self.limits.max_connections && !self.make_room() {
                        continue;
                    }
                    self.conns.push(Conn { stream, peer, accepted: Instant::now(), state: State::Head(Vec::new()) });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // A client that reset its connection before it was accepted, a signal.
                Err(e) if matches!(e.kind(), ErrorKind::ConnectionAborted | ErrorKind::Interrupted) => {}
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection stays queued in
                    // the kernel until a descriptor is free again.
                    self.tell_accept(&e);
                    self.paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// At the connection bound: closes the oldest connection still reading its
    /// request head; false (the new one is closed) when every connection has sent a
    /// whole request.
    fn make_room(&mut self) -> bool {
        if !self.told.full {
            eprintln!(
                "fsnotify-gadget: warning: metrics: more than {} connections at once: the oldest that has not sent a whole request is closed for each new one; tracing goes on (later ones are not reported)",
                self.limits.max_connections
            );
            self.told.full = true;
        }
        match self.conns.iter().position(|c| matches!(c.state, State::Head(_) | State::Linger(_))) {
            Some(i) => {
                self.conns.remove(i);
                true
            }
            None => false,
        }
    }

    fn tell_accept(&mut self, e: &std::io::Error) {
        if !self.told.accept {
            eprintln!(
                "fsnotify-gadget: warning: metrics: cannot accept a connection ({e}); accepting pauses {} ms and goes on, tracing goes on (later failures are not reported)",
                ACCEPT_BACKOFF.as_millis()
            );
            self.told.accept = true;
        }
    }

    /// Closes the connections past a deadline.
    fn end_expired(&mut self, now: Instant) {
        let limits = self.limits;
        let told = &mut self.told;
        self.conns.retain_mut(|c| match &c.state {
            State::Head(_) if now >= c.accepted + limits.read_timeout => {
                c.refuse("408 Request Timeout");
                false
            }
            State::Answer { progress, began, exposition, .. }
                if now >= *progress + limits.send_timeout || now >= *began + limits.answer_timeout =>
            {
                if *exposition {
                    let why = if now >= *progress + limits.send_timeout {
                        format!("it read nothing for {} s", limits.send_timeout.as_secs())
                    } else {
                        format!("it took more than {} s", limits.answer_timeout.as_secs())
                    };
                    tell_cut_off(told, c.peer, &why);
                }
                false
            }
            State::Linger(until) => now < *until,
            _ => true,
        });
    }

    /// The next instant some connection's deadline passes, or accepting resumes.
    fn next_deadline(&self) -> Option<Instant> {
        let l = &self.limits;
        self.conns
            .iter()
            .filter_map(|c| match &c.state {
                State::Head(_) => Some(c.accepted + l.read_timeout),
                State::Queued(_) => None,
                State::Answer { progress, began, .. } => Some((*progress + l.send_timeout).min(*began + l.answer_timeout)),
                State::Linger(until) => Some(*until),
            })
            .chain(self.paused_until)
            .min()
    }

    /// Encodes the exposition for the requests that wait, oldest first, while
    /// fewer than `max_answers` are held.
    fn start_answers(&mut self) {
        let mut held = self.conns.iter().filter(|c| matches!(c.state, State::Answer { exposition: true, .. })).count();
        for c in self.conns.iter_mut() {
            if held >= self.limits.max_answers {
                return;
            }
            if let State::Queued(head_only) = c.state {
                let body = self.metrics.encode();
                c.answer(response("200 OK", CONTENT_TYPE, body.as_bytes(), head_only), true);
                held += 1;
            }
        }
    }
}

fn tell_cut_off(told: &mut Told, peer: SocketAddr, why: &str) {
    if !told.cut_off {
        eprintln!(
            "fsnotify-gadget: warning: metrics: the answer to {peer} was cut off: {why}; tracing and the next scrapes go on (later cut-offs are not reported)"
        );
        told.cut_off = true;
    }
}

impl Conn {
    fn wants(&self) -> PollFlags {
        match self.state {
            State::Head(_) | State::Linger(_) => PollFlags::POLLIN,
            State::Answer { .. } => PollFlags::POLLOUT,
            // Errors and hang-ups are reported whatever is asked.
            State::Queued(_) => PollFlags::empty(),
        }
    }

    /// Does what the socket is ready for; false when the connection is done.
    fn serve(&mut self, limits: &Limits, told: &mut Told) -> bool {
        match &mut self.state {
            State::Head(head) => {
                let mut buf = [0u8; 4096];
                let route = loop {
                    match self.stream.read(&mut buf) {
                        Ok(0) => return false,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(_) => return false,
                    }
                    match head_end(head) {
                        Some(end) if end <= limits.max_head => break Some(route(&head[..end])),
                        _ if head.len() > limits.max_head => break None,
                        _ => {}
                    }
                };
                match route {
                    Some(route) => {
                        self.request(route);
                        true
                    }
                    None => {
                        self.refuse("431 Request Header Fields Too Large");
                        false
                    }
                }
            }
            State::Queued(_) => {
                // The client hung up or reset before its answer: nothing to send to.
                false
            }
            State::Answer { bytes, sent, progress, exposition, .. } => {
                while *sent < bytes.len() {
                    match self.stream.write(&bytes[*sent..]) {
                        Ok(n) => {
                            *sent += n;
                            *progress = Instant::now();
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => {
                            if *exposition {
                                tell_cut_off(told, self.peer, &format!("{e}: it went away"));
                            }
                            return false;
                        }
                    }
                }
                // All sent: the end of the answer is the end of the stream.
                let _ = self.stream.shutdown(Shutdown::Write);
                self.state = State::Linger(Instant::now() + LINGER);
                self.drain()
            }
            State::Linger(_) => self.drain(),
        }
    }

    /// Reads and drops what the client sends after its request; false at its end
    /// (or when nothing more is there: the connection can be closed at once).
    fn drain(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let mut got = false;
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return false,
                Ok(_) => got = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return got,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    fn request(&mut self, route: Route) {
        let text = "text/plain; charset=utf-8";
        match route {
            Route::Metrics(head_only) => self.state = State::Queued(head_only),
            Route::Index(head_only) => self.answer(response("200 OK", text, b"fsnotify-gadget: metrics are at /metrics\n", head_only), false),
            Route::NotFound => self.answer(response("404 Not Found", text, b"not found: try /metrics\n", false), false),
            Route::MethodNotAllowed => self.answer(response("405 Method Not Allowed", text, b"only GET and HEAD\n", false), false),
            Route::BadRequest => self.answer(response("400 Bad Request", text, b"not an HTTP/1 request\n", false), false),
        }
    }

    fn answer(&mut self, bytes: Vec<u8>, exposition: bool) {
        let now = Instant::now();
        self.state = State::Answer { bytes, sent: 0, progress: now, began: now, exposition };
    }

    /// A short answer as the connection is closed, if its send buffer takes it now.
    fn refuse(&mut self, status: &str) {
        let _ = self.stream.write(&response(status, "text/plain; charset=utf-8", b"", false));
    }
}

/// Where the request head ends (after its empty line), if it has.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a request head asks for: only its request line matters.
fn route(head: &[u8]) -> Route {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let (Some(method), Some(target), Some(version), None) = (words.next(), words.next(), words.next(), words.next()) else {
        return Route::BadRequest;
    };
    if !version.starts_with(b"HTTP/1.") {
        return Route::BadRequest;
    }
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Route::MethodNotAllowed,
    };
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match path {
        b"/metrics" => Route::Metrics(head_only),
        b"/" => Route::Index(head_only),
        _ => Route::NotFound,
    }
}

/// An answer's bytes: status line, headers, and the body unless `head_only`.
fn response(status: &str, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let date = jiff::fmt::rfc2822::DateTimePrinter::new().timestamp_to_rfc9110_string(&jiff::Timestamp::now()).unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {status}\r\nDate: {date}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
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
    /// scrape is answered in full.
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
        spawn_with(format!("127.0.0.1:{port}").parse().unwrap(), metrics, Limits { send_timeout: Duration::from_secs(1), ..LIMITS }).unwrap();
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
        // It did not wait for the stalled client.
        assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
        drop(stalled);
    }

    /// An endpoint on a free loopback port with these limits; its port.
    fn endpoint(metrics: Arc<Metrics>, limits: Limits) -> u16 {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        spawn_with(format!("127.0.0.1:{port}").parse().unwrap(), metrics, limits).unwrap();
        port
    }

    fn small_metrics() -> Arc<Metrics> {
        let metrics = Arc::new(Metrics::new(&[Label::TracerComm], "test").unwrap());
        let mut rec = Recorder::new(metrics.clone(), 100);
        let mut r = Record::new(EventType::Inotify, 1);
        r.tracer = Some(Proc { comm: "watcher".into(), ..Default::default() });
        rec.observe(&r);
        rec.flush(None);
        metrics
    }

    /// Sends `request` and reads the whole answer (30 s at most): its head and body.
    fn exchange(port: u16, request: &[u8]) -> (String, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(request).unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).expect("an answer, then the end of the connection");
        let at = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&answer)));
        (String::from_utf8(answer[..at].to_vec()).unwrap(), answer[at + 4..].to_vec())
    }

    /// /metrics is the registry's text exposition, byte for byte, with its length and
    /// type; HEAD has the head alone; other paths and methods are refused.
    #[test]
    fn the_routes_answer_what_they_did() {
        let metrics = small_metrics();
        let port = endpoint(metrics.clone(), LIMITS);
        let (head, body) = exchange(port, b"GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        assert_eq!(body, metrics.encode().into_bytes());
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())), "{head}");
        assert!(head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "{head}");
        assert!(head.contains("\r\nConnection: close"), "{head}");
        assert!(String::from_utf8_lossy(&body).contains("fsnotify_gadget_events_total{tracer_comm=\"watcher\",type=\"inotify\"} 1\n"));
        let (head, body) = exchange(port, b"HEAD /metrics HTTP/1.0\n\n");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && body.is_empty(), "{head} {body:?}");
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", metrics.encode().len())), "{head}");
        let (head, body) = exchange(port, b"GET / HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && body == b"fsnotify-gadget: metrics are at /metrics\n", "{head}");
        assert!(exchange(port, b"GET /other HTTP/1.1\r\n\r\n").0.starts_with("HTTP/1.1 404 "));
        assert!(exchange(port, b"POST /metrics HTTP/1.1\r\n\r\n").0.starts_with("HTTP/1.1 405 "));
        assert!(exchange(port, b"GET /metrics\r\n\r\n").0.starts_with("HTTP/1.1 400 "));
    }

    /// The answer to a client that reads nothing is given up after the send
    /// timeout: the connection ends before the whole answer went.
    #[test]
    fn an_answer_that_makes_no_progress_is_cut_off() {
        let metrics = Arc::new(Metrics::new(&[Label::TracerComm], "test").unwrap());
        let mut rec = Recorder::new(metrics.clone(), 100_000);
        for a in 0..40_000 {
            let mut r = Record::new(EventType::Inotify, 1);
            r.tracer = Some(Proc { comm: format!("tracer-{a}").as_str().into(), ..Default::default() });
            rec.observe(&r);
        }
        rec.flush(None);
        let whole = metrics.encode().len();
        let port = endpoint(metrics, Limits { send_timeout: Duration::from_secs(1), ..LIMITS });
        let mut s = small_window(port);
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        // Three times the send timeout without reading.
        std::thread::sleep(Duration::from_secs(3));
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                // Cut off with bytes unread here: a reset.
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!("the connection neither ended nor was reset: {e} after {} bytes", got.len()),
            }
        }
        assert!(got.len() < whole, "the whole answer ({whole} bytes) came, {} bytes", got.len());
    }

    /// Past the connection bound, a new connection takes the place of the oldest
    /// idle one: with 200 idle connections held, a scrape is answered.
    #[test]
    fn a_flood_of_idle_connections_does_not_keep_a_scrape_out() {
        let metrics = small_metrics();
        let port = endpoint(metrics.clone(), Limits { max_connections: 8, ..LIMITS });
        let idle: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
        let (head, body) = exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert_eq!(body, metrics.encode().into_bytes());
        drop(idle);
    }

    /// A request head past the bound ends its connection before the client is
    /// done sending; the next scrape is answered.
    #[test]
    fn a_request_head_past_the_bound_is_refused() {
        let metrics = small_metrics();
        let port = endpoint(metrics.clone(), LIMITS);
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET /").unwrap();
        const LINE: usize = 64 << 20;
        let chunk = vec![b'a'; 64 << 10];
        let mut sent = 0;
        while sent < LINE {
            match s.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) => {
                    assert!(matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe), "{e}");
                    break;
                }
            }
        }
        assert!(sent < LINE, "all of a {LINE}-byte request line was taken");
        let (head, body) = exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert_eq!(body, metrics.encode().into_bytes());
    }

    /// A request head that does not end within the read timeout ends its
    /// connection (with a 408).
    #[test]
    fn a_request_head_that_never_ends_is_closed_at_the_read_deadline() {
        let port = endpoint(small_metrics(), Limits { read_timeout: Duration::from_secs(1), ..LIMITS });
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("the connection ends");
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    }
}

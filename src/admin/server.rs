//! The admin socket: a Unix domain socket served by one mio thread, many clients at once, one
//! command per line; optionally a loopback HTTP listener serving `GET /metrics`.
//!
//! # Framing
//!
//! A request is one line of UTF-8 ending in `\n` (`\r\n` accepted; a last line without newline
//! is answered when the client shuts down its write side), at most [`MAX_LINE`] bytes. Every
//! request gets exactly one reply, in order:
//!
//! ```text
//! ok <N>\n<N bytes of body>      the body is UTF-8 text ending in \n (or empty), N ≤ MAX_REPLY
//! err <message>\n                one line, no body
//! ```
//!
//! so a client reads one header line, then exactly `N` bytes when it says `ok`. A line longer
//! than [`MAX_LINE`] gets an `err` and the connection is closed after it is sent; every other
//! error leaves the connection usable.
//!
//! # Socket file
//!
//! The path is locked, checked and bound with mode 0600 by [`super::socket_file`]; a second
//! instance on the same path is refused. The socket and its lock file are removed on shutdown.
//!
//! # Clients
//!
//! The Unix socket (mode 0600: its owner or root) and the HTTP port (loopback, but open to every
//! local user) have separate budgets, so scrapers can never crowd out the operator. A client
//! that sends nothing for [`AdminOptions::idle_timeout`] is closed (an HTTP client must send its
//! whole request within it). When every socket slot is taken, a new socket client is still
//! admitted: the one idle longest is closed to make room. An HTTP client over its budget gets a
//! `503` and is closed.
//!
//! # Threading
//!
//! The thread owns the [`Responder`] (newest snapshot, latency collector, command sender). It
//! wakes at least every [`TICK`] to collect latency interval sets, recycle snapshot buffers and
//! close idle clients, so the engine's pools keep circulating even when nobody is connected. It
//! never takes a lock the engine waits on: everything it shares with the engine is a lock-free
//! queue.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::reply::{ErrorKind, Reply, Responder};
use super::snapshot::{CommandSender, SnapshotReader};
use super::socket_file::SocketFile;
use crate::latency::LatencyCollector;

/// Longest request line accepted, in bytes, newline excluded.
pub const MAX_LINE: usize = 4096;
/// Longest wait between two latency collections.
pub const TICK: Duration = Duration::from_millis(100);
/// Largest reply body: a client whose unread replies exceed this is disconnected, so no reply
/// longer than this is ever sent, and a client can refuse a header announcing more.
pub const MAX_REPLY: usize = 8 << 20;
/// Longest HTTP request head accepted.
const MAX_HTTP_HEAD: usize = 8192;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const HTTP: Token = Token(2);
const FIRST_CONN: usize = 3;

/// What the admin thread reads from and writes to.
pub struct AdminSources {
    pub snapshots: SnapshotReader,
    pub latency: LatencyCollector,
    pub commands: CommandSender,
}

/// Optional behaviour of the admin thread.
#[derive(Clone, Debug)]
pub struct AdminOptions {
    /// Serve `GET /metrics` on this loopback address (`admin.http_metrics`); off when `None`.
    pub http_metrics: Option<SocketAddr>,
    /// Unix socket clients served at once. One more is still admitted: the client idle longest
    /// is closed to make room (only the socket's owner or root can connect at all).
    pub max_clients: usize,
    /// HTTP metrics clients served at once, a budget of their own; one more gets a `503` and is
    /// closed.
    pub max_http_clients: usize,
    /// A client that sends nothing for this long is closed; an HTTP client must send its whole
    /// request within it.
    pub idle_timeout: Duration,
}

impl Default for AdminOptions {
    fn default() -> AdminOptions {
        AdminOptions {
            http_metrics: None,
            max_clients: 64,
            max_http_clients: 16,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

/// Starts the admin thread.
pub struct AdminServer;

impl AdminServer {
    /// Creates the socket at `path` (mode 0600) and serves it on a new thread.
    pub fn spawn(path: impl AsRef<Path>, sources: AdminSources) -> io::Result<AdminHandle> {
        AdminServer::spawn_with(path, sources, AdminOptions::default())
    }

    /// [`AdminServer::spawn`] with options. Refuses a non-loopback `http_metrics` address.
    pub fn spawn_with(
        path: impl AsRef<Path>,
        sources: AdminSources,
        options: AdminOptions,
    ) -> io::Result<AdminHandle> {
        let path = path.as_ref().to_path_buf();
        let http = match options.http_metrics {
            Some(addr) if !addr.ip().is_loopback() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "admin.http_metrics: {addr} is not a loopback address; metrics are served on loopback only"
                    ),
                ));
            }
            Some(addr) => Some(TcpListener::bind(addr).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("admin.http_metrics: cannot listen on {addr}: {e}"),
                )
            })?),
            None => None,
        };
        let http_addr = http.as_ref().map(TcpListener::local_addr).transpose()?;
        let mut socket = SocketFile::claim(&path)?;
        let listener = UnixListener::from_std(socket.bind()?);
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let mut server = Server {
            poll,
            listener,
            http,
            conns: Vec::new(),
            responder: Responder::new(sources.snapshots, sources.latency, sources.commands),
            max_clients: options.max_clients.max(1),
            max_http_clients: options.max_http_clients.max(1),
            idle_timeout: options.idle_timeout,
            stop: Arc::clone(&stop),
            served: Arc::clone(&served),
        };
        let thread = std::thread::Builder::new()
            .name("carry-admin".into())
            .spawn(move || {
                let outcome = server.run();
                (outcome, server.into_sources())
            })?;
        Ok(AdminHandle {
            path,
            socket: Some(socket),
            http_addr,
            waker,
            stop,
            served,
            thread: Some(thread),
        })
    }
}

type ServerOutcome = (io::Result<()>, AdminSources);

/// The running admin thread. Dropping it shuts the thread down too.
pub struct AdminHandle {
    path: PathBuf,
    /// Held until the thread is joined; dropping it removes the socket and releases the path.
    socket: Option<SocketFile>,
    http_addr: Option<SocketAddr>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    thread: Option<JoinHandle<ServerOutcome>>,
}

impl AdminHandle {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bound address of the HTTP metrics listener (useful with port 0).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Commands answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Stops the thread, removes the socket file (and releases the path) and hands the sources back (e.g. for a final
    /// latency report). Fails if the thread failed; the error names the socket path.
    pub fn shutdown(mut self) -> io::Result<AdminSources> {
        match self.stop_and_join() {
            Some((Ok(()), sources)) => Ok(sources),
            Some((Err(e), _)) => Err(e),
            None => Err(io::Error::other(format!(
                "{}: admin thread panicked",
                self.path.display()
            ))),
        }
    }

    fn stop_and_join(&mut self) -> Option<ServerOutcome> {
        let thread = self.thread.take()?;
        self.stop.store(true, Ordering::Release);
        let _ = self.waker.wake();
        let outcome = thread.join().ok();
        drop(self.socket.take());
        outcome
    }
}

impl Drop for AdminHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Unix(s) => s,
            Stream::Tcp(s) => s,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn is_http(&self) -> bool {
        matches!(self, Stream::Tcp(_))
    }
}

struct Conn {
    stream: Stream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    /// Stop reading; close once `output` is flushed.
    closing: bool,
    eof: bool,
    /// When the client last sent or took bytes (for HTTP: when it connected, so that the whole
    /// request must arrive within the idle timeout).
    active: Instant,
}

struct Server {
    poll: Poll,
    listener: UnixListener,
    http: Option<TcpListener>,
    conns: Vec<Option<Conn>>,
    responder: Responder,
    max_clients: usize,
    max_http_clients: usize,
    idle_timeout: Duration,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
}

impl Server {
    fn into_sources(self) -> AdminSources {
        AdminSources {
            snapshots: self.responder.snapshots,
            latency: self.responder.latency,
            commands: self.responder.commands,
        }
    }

    fn run(&mut self) -> io::Result<()> {
        self.poll
            .registry()
            .register(&mut self.listener, LISTENER, Interest::READABLE)?;
        if let Some(http) = self.http.as_mut() {
            self.poll
                .registry()
                .register(http, HTTP, Interest::READABLE)?;
        }
        let mut events = Events::with_capacity(256);
        let mut next_tick = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io::Error::new(e.kind(), format!("admin poll: {e}"))),
            }
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {}
                    LISTENER => self.accept_unix(),
                    HTTP => self.accept_http(),
                    Token(t) => self.serve(t - FIRST_CONN, ev),
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                self.responder.tick();
                self.close_idle(now);
                next_tick = now + TICK;
            }
        }
        Ok(())
    }

    fn free_slot(&mut self) -> usize {
        match self.conns.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        }
    }

    /// Clients of one kind (socket or HTTP) connected now.
    fn clients(&self, http: bool) -> usize {
        self.conns
            .iter()
            .flatten()
            .filter(|c| c.stream.is_http() == http)
            .count()
    }

    fn close(&mut self, slot: usize, why: Option<ErrorKind>) {
        if let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) {
            let _ = self.poll.registry().deregister(conn.stream.source());
            if let Some(kind) = why {
                self.responder.counters.error(kind);
            }
        }
        self.responder.counters.clients = self.conns.iter().flatten().count() as u64;
    }

    /// Closes every client that has been idle for the timeout.
    fn close_idle(&mut self, now: Instant) {
        for slot in 0..self.conns.len() {
            let idle = self.conns[slot]
                .as_ref()
                .is_some_and(|c| now.saturating_duration_since(c.active) >= self.idle_timeout);
            if idle {
                self.close(slot, Some(ErrorKind::IdleTimeout));
            }
        }
    }

    fn add(&mut self, stream: Stream) {
        self.responder.counters.connections += 1;
        let mut conn = Conn {
            stream,
            input: Vec::with_capacity(1024),
            output: Vec::new(),
            written: 0,
            closing: false,
            eof: false,
            active: Instant::now(),
        };
        let http = conn.stream.is_http();
        if http && self.clients(true) >= self.max_http_clients {
            self.responder.counters.error(ErrorKind::TooManyClients);
            let msg = http_response(
                "503 Service Unavailable",
                "text/plain",
                "too many clients\n",
            );
            // Best effort: a fresh socket buffer takes one short response. Whatever request has
            // arrived is read first: closing on unread bytes resets the connection, and the
            // client might never see the 503.
            let _ = conn.stream.read(&mut [0u8; 1024]);
            let _ = conn.stream.write(&msg);
            return;
        }
        if !http && self.clients(false) >= self.max_clients {
            // Only the socket's owner (or root) can get here: make room for them.
            let oldest = self
                .conns
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.as_ref().filter(|c| !c.stream.is_http()).map(|c| (i, c)))
                .min_by_key(|(_, c)| c.active)
                .map(|(i, _)| i);
            if let Some(slot) = oldest {
                self.close(slot, Some(ErrorKind::Evicted));
            }
        }
        let slot = self.free_slot();
        let registered = self.poll.registry().register(
            conn.stream.source(),
            Token(slot + FIRST_CONN),
            Interest::READABLE | Interest::WRITABLE,
        );
        if registered.is_ok() {
            self.conns[slot] = Some(conn);
            self.responder.counters.clients = self.conns.iter().flatten().count() as u64;
        }
    }

    fn accept_unix(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((s, _)) => self.add(Stream::Unix(s)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors or similar: retry on the next readiness event.
                Err(_) => return,
            }
        }
    }

    fn accept_http(&mut self) {
        loop {
            let Some(http) = self.http.as_ref() else {
                return;
            };
            match http.accept() {
                // The listener is bound to loopback, so every peer is local.
                Ok((s, _)) => self.add(Stream::Tcp(s)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    fn serve(&mut self, slot: usize, ev: &Event) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let mut alive = true;
        if (ev.is_readable() || ev.is_read_closed()) && !conn.closing {
            alive = self.read(&mut conn);
        }
        if alive {
            alive = flush(&mut conn);
        }
        if alive && conn.output.is_empty() && (conn.closing || conn.eof) {
            alive = false;
        }
        self.conns[slot] = Some(conn);
        if !alive {
            self.close(slot, None);
        }
    }

    /// Reads until the socket would block, answering every complete line. False: drop it.
    fn read(&mut self, conn: &mut Conn) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    conn.eof = true;
                    break;
                }
                Ok(n) => {
                    if !conn.stream.is_http() {
                        conn.active = Instant::now();
                    }
                    conn.input.extend_from_slice(&buf[..n]);
                    if conn.stream.is_http() {
                        self.http_request(conn);
                    } else {
                        self.lines(conn);
                    }
                    if conn.closing {
                        conn.input.clear();
                        return true;
                    }
                    if conn.output.len() > MAX_REPLY {
                        self.responder.counters.error(ErrorKind::OutputOverflow);
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        // End of input: a last line without newline is still a command.
        if !conn.stream.is_http() && !conn.input.is_empty() && !conn.closing {
            let line = std::mem::take(&mut conn.input);
            self.answer(conn, &line);
        }
        true
    }

    fn lines(&mut self, conn: &mut Conn) {
        let mut start = 0;
        while let Some(pos) = conn.input[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let line = conn.input[start..end].to_vec();
            start = end + 1;
            if line.len() > MAX_LINE {
                self.too_long(conn);
                return;
            }
            self.answer(conn, &line);
        }
        conn.input.drain(..start);
        if conn.input.len() > MAX_LINE {
            self.too_long(conn);
        }
    }

    fn too_long(&mut self, conn: &mut Conn) {
        self.responder.counters.error(ErrorKind::LineTooLong);
        conn.output.extend_from_slice(
            format!("err line longer than {MAX_LINE} bytes; closing the connection\n").as_bytes(),
        );
        conn.closing = true;
    }

    fn answer(&mut self, conn: &mut Conn, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let reply = match std::str::from_utf8(line) {
            Ok(text) => self.responder.answer(text),
            Err(_) => {
                self.responder.counters.error(ErrorKind::UnknownCommand);
                Reply::Err("request is not UTF-8".into())
            }
        };
        self.served.fetch_add(1, Ordering::Relaxed);
        frame(&mut conn.output, &reply);
    }

    fn http_request(&mut self, conn: &mut Conn) {
        let Some(head_end) = conn.input.windows(4).position(|w| w == b"\r\n\r\n") else {
            if conn.input.len() > MAX_HTTP_HEAD {
                conn.output.extend(http_response(
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    "request head too large\n",
                ));
                conn.closing = true;
            }
            return;
        };
        let head = String::from_utf8_lossy(&conn.input[..head_end]).into_owned();
        let mut request_line = head.lines().next().unwrap_or("").split(' ');
        let (method, target) = (request_line.next(), request_line.next());
        let response = match (method, target) {
            (Some("GET"), Some("/metrics")) => match self.responder.answer("metrics") {
                Reply::Ok(body) => http_response("200 OK", crate::metrics::CONTENT_TYPE, &body),
                Reply::Err(msg) => http_response("500 Internal Server Error", "text/plain", &msg),
            },
            (Some("GET"), _) => {
                http_response("404 Not Found", "text/plain", "only /metrics here\n")
            }
            _ => http_response(
                "405 Method Not Allowed",
                "text/plain",
                "GET /metrics only\n",
            ),
        };
        self.served.fetch_add(1, Ordering::Relaxed);
        conn.output.extend(response);
        conn.closing = true;
    }
}

/// Writes what the socket takes. False: the peer is gone.
fn flush(conn: &mut Conn) -> bool {
    while conn.written < conn.output.len() {
        match conn.stream.write(&conn.output[conn.written..]) {
            Ok(0) => return false,
            Ok(n) => {
                conn.written += n;
                if !conn.stream.is_http() {
                    conn.active = Instant::now();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    conn.output.clear();
    conn.written = 0;
    true
}

/// Appends a framed reply (see the module doc).
pub fn frame(out: &mut Vec<u8>, reply: &Reply) {
    match reply {
        Reply::Ok(body) => {
            out.extend_from_slice(format!("ok {}\n", body.len()).as_bytes());
            out.extend_from_slice(body.as_bytes());
        }
        Reply::Err(msg) => {
            out.extend_from_slice(b"err ");
            out.extend(
                msg.bytes()
                    .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
            );
            out.push(b'\n');
        }
    }
}

fn http_response(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_say_where_a_reply_ends() {
        let mut out = Vec::new();
        frame(&mut out, &Reply::Ok("a\nb\n".into()));
        frame(&mut out, &Reply::Err("bad\nthing".into()));
        assert_eq!(out, b"ok 4\na\nb\nerr bad thing\n");
    }
}

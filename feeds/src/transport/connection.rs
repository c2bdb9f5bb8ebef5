//! One websocket connection of one [`WsSession`], driven by readiness events from a mio
//! `Poll` that the caller owns (a feed group thread, or a test). The connection goes
//! non-blocking TCP connect → TLS (rustls, `wss://` only) → HTTP upgrade (request built and
//! response parsed and verified with tungstenite's handshake helpers) → frames.
//!
//! Frames are read by this module, not by tungstenite's `WebSocket`, which allocates a message per
//! frame: bytes are read into one reused buffer, complete frames are parsed in place and a
//! single-frame text message is handed to [`WsSession::on_text`] as a mutable slice of that
//! buffer, so the session's parser can read it where it lies. Fragmented messages are reassembled into a
//! second reused buffer; frames split across reads simply wait for the rest. After warm-up the read
//! path (socket read → frame → session → sink) allocates nothing on `ws://`. On `wss://`,
//! rustls 0.23 copies each decrypted TLS record into a fresh `Vec` inside its own buffer
//! (`take_received_plaintext`), one allocation per record that this crate cannot avoid.
//!
//! Protocol pings are answered with a pong carrying the same payload, a close frame is answered
//! and ends the connection, and the receive stamp of every frame is taken right after the socket
//! read that completed it. Timers (connect and handshake timeouts, silence watchdog, maximum
//! connection age, application heartbeats) are checked by [`Connection::on_timer`].

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::{generate_request, Response};
use tungstenite::handshake::derive_accept_key;
use tungstenite::handshake::machine::TryParse;

use crate::transport::backoff::XorShift64;
use crate::transport::clock;
use crate::transport::frame::{
    encode_frame, parse_head, FrameHead, InBuf, MAX_HEADER, OP_BINARY, OP_CLOSE, OP_CONTINUATION,
    OP_PING, OP_PONG, OP_TEXT,
};
use crate::transport::session::{DropReason, Heartbeat, Inbound, RecvStamp, WsSession};
use crate::transport::stats::{ConnectionStats, DisconnectReason};

/// Longest HTTP upgrade response accepted.
const MAX_UPGRADE_RESPONSE: usize = 64 * 1024;
/// Reads per readiness event before yielding to the other connections of the thread.
const READS_PER_TURN: usize = 32;

/// Limits and timers of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionOptions {
    /// TCP connect must complete within this.
    pub connect_timeout: Duration,
    /// TLS plus the websocket upgrade must complete within this after TCP is up.
    pub handshake_timeout: Duration,
    /// Nothing received (data, pings, pongs) for this long: reconnect.
    pub silence_timeout: Duration,
    /// Reconnect this long before the session's `max_connection_age` (at most half of it).
    pub max_age_margin: Duration,
    /// Largest message accepted (a single frame or a reassembled fragmented message).
    pub max_message_size: usize,
    /// Initial size of the read buffer; it grows (once, during warm-up) to the largest frame seen.
    pub read_buffer_size: usize,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            silence_timeout: Duration::from_secs(60),
            max_age_margin: Duration::from_secs(5 * 60),
            max_message_size: 16 << 20,
            read_buffer_size: 64 << 10,
        }
    }
}

/// Where a session connects to, parsed once from its URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as given.
    pub url: String,
    /// `wss://` (TLS) or `ws://` (plain TCP, e.g. the demo's simulated venues).
    pub secure: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// The TCP port (443 or 80 when the URL names none).
    pub port: u16,
}

impl Endpoint {
    /// Parses a `ws://` or `wss://` URL.
    ///
    /// ```
    /// let e = carry_feeds::transport::connection::Endpoint::parse("wss://fstream.binance.com/stream?streams=a").unwrap();
    /// assert_eq!((e.secure, e.host.as_str(), e.port), (true, "fstream.binance.com", 443));
    /// let e = carry_feeds::transport::connection::Endpoint::parse("ws://127.0.0.1:9001/ws").unwrap();
    /// assert_eq!((e.secure, e.port), (false, 9001));
    /// assert!(carry_feeds::transport::connection::Endpoint::parse("https://x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Endpoint, TransportError> {
        let bad = |reason: &str| TransportError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: tungstenite::http::Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
        let secure = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => return Err(bad("scheme must be ws:// or wss://")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        Ok(Endpoint {
            url: url.to_string(),
            secure,
            host,
            port,
        })
    }
}

/// A connection that cannot even be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The session's URL is not a usable `ws://` or `wss://` URL.
    #[error("websocket URL {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why a connection ended, with a human detail for the log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disconnect {
    /// The reason, for the disconnect counter.
    pub reason: DisconnectReason,
    /// What happened, for the log.
    pub detail: String,
}

impl Disconnect {
    /// A disconnect for `reason`, described by `detail`.
    pub fn new(reason: DisconnectReason, detail: impl Into<String>) -> Disconnect {
        Disconnect {
            reason,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No socket.
    Idle,
    /// TCP connect in flight.
    Connecting,
    /// TLS handshake and/or HTTP upgrade in flight.
    Upgrading,
    /// Websocket open: subscriptions sent, frames flowing.
    Open,
}

struct Socket {
    tcp: TcpStream,
    tls: Option<Box<ClientConnection>>,
}

enum ReadOutcome {
    Data(usize),
    WouldBlock,
    Eof,
}

/// One websocket connection and its session, reused across reconnects. Generic over the
/// session, so each kind of stream (market data, a private order stream) gets its own output
/// type; `S` may be a trait object (`dyn VenueSession`).
pub struct Connection<S: WsSession + ?Sized> {
    session: Box<S>,
    endpoint: Endpoint,
    server_name: Option<ServerName<'static>>,
    tls_config: Arc<ClientConfig>,
    options: ConnectionOptions,
    stats: Arc<ConnectionStats>,
    socket: Option<Socket>,
    phase: Phase,
    inbuf: InBuf,
    fragment: Vec<u8>,
    fragment_opcode: Option<u8>,
    out: Vec<u8>,
    out_pos: usize,
    rng: XorShift64,
    accept_key: String,
    phase_deadline_ns: u64,
    opened_ns: u64,
    last_recv_ns: u64,
    heartbeat: Option<Heartbeat>,
    next_heartbeat_ns: u64,
    max_age_deadline_ns: Option<u64>,
    close_sent: bool,
    subscribe_error_logged: bool,
}

fn ns(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

impl<S: WsSession + ?Sized> Connection<S> {
    /// Prepares a connection for `session` (nothing is opened yet). `seed` varies the websocket
    /// masking keys between connections.
    pub fn new(
        session: Box<S>,
        tls_config: Arc<ClientConfig>,
        options: ConnectionOptions,
        stats: Arc<ConnectionStats>,
        seed: u64,
    ) -> Result<Connection<S>, TransportError> {
        let endpoint = Endpoint::parse(session.url())?;
        let server_name = if endpoint.secure {
            Some(ServerName::try_from(endpoint.host.clone()).map_err(|e| {
                TransportError::BadUrl {
                    url: endpoint.url.clone(),
                    reason: format!("host is not a valid TLS server name: {e}"),
                }
            })?)
        } else {
            None
        };
        // Build one request now so a URL tungstenite would reject fails here, not on connect.
        endpoint
            .url
            .as_str()
            .into_client_request()
            .and_then(generate_request)
            .map_err(|e| TransportError::BadUrl {
                url: endpoint.url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Connection {
            session,
            endpoint,
            server_name,
            tls_config,
            inbuf: InBuf::new(
                options.read_buffer_size,
                (options.max_message_size + MAX_HEADER).max(MAX_UPGRADE_RESPONSE + 1),
            ),
            options,
            stats,
            socket: None,
            phase: Phase::Idle,
            fragment: Vec::new(),
            fragment_opcode: None,
            out: Vec::with_capacity(4096),
            out_pos: 0,
            rng: XorShift64::new(seed),
            accept_key: String::new(),
            phase_deadline_ns: 0,
            opened_ns: 0,
            last_recv_ns: 0,
            heartbeat: None,
            next_heartbeat_ns: 0,
            max_age_deadline_ns: None,
            close_sent: false,
            subscribe_error_logged: false,
        })
    }

    /// Where the connection goes.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The session.
    pub fn session(&self) -> &S {
        &self.session
    }

    /// The session, to hand it something (a REST snapshot, for example).
    pub fn session_mut(&mut self) -> &mut S {
        &mut self.session
    }

    /// The connection's counters.
    pub fn stats(&self) -> &Arc<ConnectionStats> {
        &self.stats
    }

    /// Where the connection is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the websocket is open.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Monotonic ns at which the websocket opened (meaningful while open).
    pub fn opened_ns(&self) -> u64 {
        self.opened_ns
    }

    /// Starts a non-blocking TCP connect to `addr` and registers the socket under `token`. The
    /// upgrade request is queued and goes out once TCP (and TLS) are up.
    pub fn connect(
        &mut self,
        addr: SocketAddr,
        registry: &Registry,
        token: Token,
        now_ns: u64,
    ) -> Result<(), Disconnect> {
        if self.socket.is_some() {
            self.close(registry, DisconnectReason::Shutdown);
        }
        self.stats.connect_attempts.incr();
        self.inbuf.clear();
        self.fragment.clear();
        self.fragment_opcode = None;
        self.out.clear();
        self.out_pos = 0;
        self.close_sent = false;
        self.subscribe_error_logged = false;

        let (request, key) = self
            .endpoint
            .url
            .as_str()
            .into_client_request()
            .and_then(generate_request)
            .map_err(|e| Disconnect::new(DisconnectReason::HandshakeError, e.to_string()))?;
        self.accept_key = derive_accept_key(key.as_bytes());
        self.out.extend_from_slice(&request);

        let tls = match &self.server_name {
            Some(name) => Some(Box::new(
                ClientConnection::new(self.tls_config.clone(), name.clone())
                    .map_err(|e| Disconnect::new(DisconnectReason::TlsError, e.to_string()))?,
            )),
            None => None,
        };
        let mut tcp = TcpStream::connect(addr).map_err(|e| {
            Disconnect::new(
                DisconnectReason::ConnectFailed,
                format!("connect to {addr}: {e}"),
            )
        })?;
        registry
            .register(&mut tcp, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| Disconnect::new(DisconnectReason::IoError, format!("register: {e}")))?;
        self.socket = Some(Socket { tcp, tls });
        self.phase = Phase::Connecting;
        self.phase_deadline_ns = now_ns.saturating_add(ns(self.options.connect_timeout));
        Ok(())
    }

    /// Handles a readiness event (or a retry after `Ok(true)`): completes the connect, moves the
    /// handshake along, reads and dispatches frames, writes what is pending. The session's
    /// outputs go to `sink` in the order the venue sent them. `Ok(true)` means the connection stopped reading
    /// to let others run while data may still be waiting: call again soon without waiting for
    /// a new event (readiness is edge-triggered).
    pub fn on_ready(&mut self, sink: &mut dyn FnMut(S::Output)) -> Result<bool, Disconnect> {
        if self.phase == Phase::Connecting && !self.check_connected()? {
            return Ok(false);
        }
        if self.socket.is_none() {
            return Ok(false);
        }
        self.flush()?;
        let more = self.read_available(sink)?;
        self.flush()?;
        Ok(more)
    }

    /// Checks timeouts, the silence watchdog and the maximum age, and sends a due heartbeat.
    pub fn on_timer(&mut self, now_ns: u64) -> Result<(), Disconnect> {
        match self.phase {
            Phase::Idle => Ok(()),
            Phase::Connecting if now_ns >= self.phase_deadline_ns => Err(Disconnect::new(
                DisconnectReason::Timeout,
                format!(
                    "TCP connect not done after {:?}",
                    self.options.connect_timeout
                ),
            )),
            Phase::Upgrading if now_ns >= self.phase_deadline_ns => Err(Disconnect::new(
                DisconnectReason::Timeout,
                format!(
                    "TLS/websocket handshake not done after {:?}",
                    self.options.handshake_timeout
                ),
            )),
            Phase::Connecting | Phase::Upgrading => Ok(()),
            Phase::Open => {
                let silent = now_ns.saturating_sub(self.last_recv_ns);
                if silent >= ns(self.options.silence_timeout) {
                    return Err(Disconnect::new(
                        DisconnectReason::Watchdog,
                        format!("nothing received for {:?}", Duration::from_nanos(silent)),
                    ));
                }
                if self.max_age_deadline_ns.is_some_and(|d| now_ns >= d) {
                    return Err(Disconnect::new(
                        DisconnectReason::MaxAge,
                        "reconnecting ahead of the venue's maximum connection age",
                    ));
                }
                if let Some(hb) = &self.heartbeat {
                    if now_ns >= self.next_heartbeat_ns {
                        encode_frame(&mut self.out, &mut self.rng, OP_TEXT, hb.text.as_bytes());
                        self.stats.heartbeats_sent.incr();
                        let every = ns(hb.every).max(1);
                        self.next_heartbeat_ns =
                            (self.next_heartbeat_ns + every).max(now_ns.saturating_add(every / 2));
                        self.flush()?;
                    }
                }
                Ok(())
            }
        }
    }

    /// The earliest monotonic ns at which [`Connection::on_timer`] has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::Idle => None,
            Phase::Connecting | Phase::Upgrading => Some(self.phase_deadline_ns),
            Phase::Open => {
                let mut d = self
                    .last_recv_ns
                    .saturating_add(ns(self.options.silence_timeout));
                if let Some(age) = self.max_age_deadline_ns {
                    d = d.min(age);
                }
                if self.heartbeat.is_some() {
                    d = d.min(self.next_heartbeat_ns);
                }
                Some(d)
            }
        }
    }

    /// Closes the socket (a close frame and TLS close_notify first if open, best effort),
    /// deregisters it and counts the disconnect under `reason`. Returns whether it was open.
    pub fn close(&mut self, registry: &Registry, reason: DisconnectReason) -> bool {
        let was_open = self.phase == Phase::Open;
        if was_open && !self.close_sent {
            // 1001 "going away": the client is leaving (reconnect or shutdown).
            encode_frame(
                &mut self.out,
                &mut self.rng,
                OP_CLOSE,
                &1001u16.to_be_bytes(),
            );
            self.close_sent = true;
        }
        if self.phase != Phase::Connecting {
            // The close frame must be encrypted before close_notify: nothing after it is read.
            let _ = self.flush();
            if let Some(tls) = self.socket.as_mut().and_then(|s| s.tls.as_mut()) {
                tls.send_close_notify();
            }
            let _ = self.flush();
        }
        if let Some(mut sock) = self.socket.take() {
            let _ = registry.deregister(&mut sock.tcp);
            let _ = sock.tcp.shutdown(std::net::Shutdown::Both);
        }
        if self.phase != Phase::Idle {
            self.stats.disconnect(reason).incr();
        }
        self.stats.up.set(0);
        self.stats.up_since_unix_ms.set(0);
        self.phase = Phase::Idle;
        self.heartbeat = None;
        self.max_age_deadline_ns = None;
        was_open
    }

    fn check_connected(&mut self) -> Result<bool, Disconnect> {
        let Some(sock) = &mut self.socket else {
            return Ok(false);
        };
        let fail = |e: io::Error| {
            Disconnect::new(
                DisconnectReason::ConnectFailed,
                format!(
                    "connect to {}:{}: {e}",
                    self.endpoint.host, self.endpoint.port
                ),
            )
        };
        if let Some(e) = sock.tcp.take_error().map_err(fail)? {
            return Err(fail(e));
        }
        match sock.tcp.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
            Err(e) => return Err(fail(e)),
        }
        // Latency matters more than packet count: subscriptions, pongs and heartbeats are tiny.
        let _ = sock.tcp.set_nodelay(true);
        self.phase = Phase::Upgrading;
        self.phase_deadline_ns =
            clock::mono_ns().saturating_add(ns(self.options.handshake_timeout));
        Ok(true)
    }

    fn read_available(&mut self, sink: &mut dyn FnMut(S::Output)) -> Result<bool, Disconnect> {
        for _ in 0..READS_PER_TURN {
            let Some(sock) = &mut self.socket else {
                return Ok(false);
            };
            let spare = self.inbuf.spare();
            if spare.is_empty() {
                // Unreachable while frames are bounded by the limit; never mistake it for EOF.
                return Err(Disconnect::new(
                    DisconnectReason::ProtocolError,
                    format!("read buffer full at {} bytes", self.inbuf.limit),
                ));
            }
            let n = match read_plain(sock, spare)? {
                ReadOutcome::Data(n) => n,
                ReadOutcome::WouldBlock => return Ok(false),
                ReadOutcome::Eof => {
                    return Err(Disconnect::new(
                        DisconnectReason::ClosedByVenue,
                        if self.phase == Phase::Open {
                            "connection closed without a close frame"
                        } else {
                            "connection closed during the handshake"
                        },
                    ))
                }
            };
            let stamp = clock::recv_stamp();
            self.inbuf.end += n;
            self.last_recv_ns = stamp.mono_ns;
            self.stats.bytes.add(n as u64);
            self.stats.last_recv_mono_ns.set(stamp.mono_ns);
            if self.phase == Phase::Upgrading {
                self.try_finish_upgrade(stamp)?;
            }
            if self.phase == Phase::Open {
                self.process_frames(stamp, sink)?;
            }
        }
        Ok(true)
    }

    fn try_finish_upgrade(&mut self, stamp: RecvStamp) -> Result<(), Disconnect> {
        let parsed = <Response as TryParse>::try_parse(self.inbuf.filled()).map_err(|e| {
            Disconnect::new(
                DisconnectReason::HandshakeError,
                format!("bad upgrade response: {e}"),
            )
        })?;
        let Some((size, response)) = parsed else {
            if self.inbuf.end - self.inbuf.start > MAX_UPGRADE_RESPONSE {
                return Err(Disconnect::new(
                    DisconnectReason::HandshakeError,
                    format!("upgrade response headers over {MAX_UPGRADE_RESPONSE} bytes"),
                ));
            }
            return Ok(());
        };
        verify_upgrade(&response, &self.accept_key)?;
        self.inbuf.start += size;
        self.open(stamp.mono_ns, stamp.unix_ms);
        Ok(())
    }

    fn open(&mut self, now_ns: u64, now_ms: i64) {
        self.phase = Phase::Open;
        self.opened_ns = now_ns;
        self.last_recv_ns = now_ns;
        self.stats.connects.incr();
        self.stats.up.set(1);
        self.stats.up_since_unix_ms.set(now_ms.max(0) as u64);
        self.session.reset();
        for msg in self.session.on_connect(now_ms) {
            encode_frame(&mut self.out, &mut self.rng, OP_TEXT, msg.as_bytes());
        }
        self.heartbeat = self.session.heartbeat().filter(|h| !h.every.is_zero());
        if let Some(hb) = &self.heartbeat {
            self.next_heartbeat_ns = now_ns.saturating_add(ns(hb.every));
        }
        self.max_age_deadline_ns = self.session.max_connection_age().map(|age| {
            let margin = self.options.max_age_margin.min(age / 2);
            now_ns.saturating_add(ns(age - margin))
        });
    }

    fn process_frames(
        &mut self,
        stamp: RecvStamp,
        sink: &mut dyn FnMut(S::Output),
    ) -> Result<(), Disconnect> {
        loop {
            let head = match parse_head(self.inbuf.filled(), self.options.max_message_size)
                .map_err(|e| Disconnect::new(DisconnectReason::ProtocolError, e))?
            {
                Some(h) => h,
                None => {
                    self.inbuf.make_room(MAX_HEADER);
                    break;
                }
            };
            let total = head.header_len + head.payload_len;
            if self.inbuf.end - self.inbuf.start < total {
                self.inbuf.make_room(total);
                break;
            }
            let payload = self.inbuf.start + head.header_len..self.inbuf.start + total;
            // Consumed before handling: handlers only write to `out`, never to `inbuf`.
            self.inbuf.start += total;
            self.stats.frames.incr();
            self.handle_frame(head, payload, stamp, sink)?;
        }
        if self.inbuf.start == self.inbuf.end {
            self.inbuf.clear();
        }
        Ok(())
    }

    fn handle_frame(
        &mut self,
        head: FrameHead,
        payload: std::ops::Range<usize>,
        stamp: RecvStamp,
        sink: &mut dyn FnMut(S::Output),
    ) -> Result<(), Disconnect> {
        let protocol = |detail: String| Disconnect::new(DisconnectReason::ProtocolError, detail);
        match head.opcode {
            OP_TEXT | OP_BINARY => {
                if self.fragment_opcode.is_some() {
                    return Err(protocol(
                        "new data frame inside a fragmented message".to_string(),
                    ));
                }
                if !head.fin {
                    self.fragment.clear();
                    self.fragment.extend_from_slice(&self.inbuf.data[payload]);
                    self.fragment_opcode = Some(head.opcode);
                } else if head.opcode == OP_TEXT {
                    self.deliver_in_place(payload, stamp, sink)?;
                } else {
                    self.stats.binary_messages.incr();
                }
            }
            OP_CONTINUATION => {
                let Some(first) = self.fragment_opcode else {
                    return Err(protocol(
                        "continuation frame without a first frame".to_string(),
                    ));
                };
                if self.fragment.len() + payload.len() > self.options.max_message_size {
                    return Err(protocol(format!(
                        "fragmented message over the {}-byte limit",
                        self.options.max_message_size
                    )));
                }
                self.fragment.extend_from_slice(&self.inbuf.data[payload]);
                if head.fin {
                    self.fragment_opcode = None;
                    if first == OP_TEXT {
                        let outcome = deliver(
                            &mut *self.session,
                            &self.stats,
                            &mut self.fragment,
                            stamp,
                            sink,
                        );
                        self.after_delivery(outcome)?;
                    } else {
                        self.stats.binary_messages.incr();
                    }
                }
            }
            OP_PING => {
                self.stats.pings.incr();
                let mut copy = [0u8; 125];
                let n = payload.len();
                copy[..n].copy_from_slice(&self.inbuf.data[payload]);
                encode_frame(&mut self.out, &mut self.rng, OP_PONG, &copy[..n]);
            }
            OP_PONG => {}
            OP_CLOSE => {
                let body = &self.inbuf.data[payload];
                let (code, text) = match body {
                    [a, b, rest @ ..] => (
                        Some(u16::from_be_bytes([*a, *b])),
                        String::from_utf8_lossy(rest).into_owned(),
                    ),
                    _ => (None, String::new()),
                };
                if !self.close_sent {
                    // Echo the status code, as RFC 6455 5.5.1 asks.
                    let echo = code.map(u16::to_be_bytes);
                    let echo: &[u8] = echo.as_ref().map_or(&[], |c| c.as_slice());
                    encode_frame(&mut self.out, &mut self.rng, OP_CLOSE, echo);
                    self.close_sent = true;
                    let _ = self.flush();
                }
                return Err(Disconnect::new(
                    DisconnectReason::ClosedByVenue,
                    match code {
                        Some(c) => format!("close frame {c} {text:?}"),
                        None => "close frame without a status".to_string(),
                    },
                ));
            }
            _ => unreachable!("parse_head rejects unknown opcodes"),
        }
        Ok(())
    }

    fn deliver_in_place(
        &mut self,
        payload: std::ops::Range<usize>,
        stamp: RecvStamp,
        sink: &mut dyn FnMut(S::Output),
    ) -> Result<(), Disconnect> {
        let outcome = deliver(
            &mut *self.session,
            &self.stats,
            &mut self.inbuf.data[payload],
            stamp,
            sink,
        );
        self.after_delivery(outcome)
    }

    fn after_delivery(&mut self, outcome: Result<Inbound, DropReason>) -> Result<(), Disconnect> {
        match outcome {
            Ok(Inbound::ReconnectRequested) => Err(Disconnect::new(
                DisconnectReason::VenueNotice,
                "the venue announced it will close this connection",
            )),
            Err(DropReason::SubscribeError) if !self.subscribe_error_logged => {
                self.subscribe_error_logged = true;
                eprintln!(
                    "carry-feeds: {} {}: the venue refused a subscription: {} (further refusals \
                     on this connection are only counted)",
                    self.session.venue(),
                    self.endpoint.url,
                    self.session
                        .last_problem()
                        .unwrap_or("no message from the venue module")
                );
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Writes pending bytes until done or the socket would block.
    fn flush(&mut self) -> Result<(), Disconnect> {
        let Some(sock) = &mut self.socket else {
            return Ok(());
        };
        if self.phase == Phase::Connecting {
            return Ok(());
        }
        let io_err = |what: &str, e: io::Error| {
            Disconnect::new(DisconnectReason::IoError, format!("{what}: {e}"))
        };
        match &mut sock.tls {
            None => {
                while self.out_pos < self.out.len() {
                    match sock.tcp.write(&self.out[self.out_pos..]) {
                        Ok(0) => return Err(io_err("write", io::ErrorKind::WriteZero.into())),
                        Ok(n) => self.out_pos += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_err("write", e)),
                    }
                }
            }
            Some(tls) => loop {
                let mut accepted = 0;
                if self.out_pos < self.out.len() {
                    accepted = tls
                        .writer()
                        .write(&self.out[self.out_pos..])
                        .map_err(|e| io_err("TLS write", e))?;
                    self.out_pos += accepted;
                }
                let mut blocked = false;
                while tls.wants_write() {
                    match tls.write_tls(&mut sock.tcp) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            blocked = true;
                            break;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(io_err("write", e)),
                    }
                }
                if blocked || self.out_pos >= self.out.len() || accepted == 0 {
                    break;
                }
            },
        }
        if self.out_pos >= self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        Ok(())
    }

    /// Test hook: runs the frame path over `bytes` as if they had just been read on an open
    /// connection. Pongs and close replies land in the (socket-less) output buffer.
    #[cfg(test)]
    fn feed_bytes_for_test(
        &mut self,
        bytes: &[u8],
        sink: &mut dyn FnMut(S::Output),
    ) -> Result<(), Disconnect> {
        if self.phase != Phase::Open {
            self.open(clock::mono_ns(), clock::unix_ms());
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let spare = self.inbuf.spare();
            let n = spare.len().min(rest.len());
            spare[..n].copy_from_slice(&rest[..n]);
            self.inbuf.end += n;
            rest = &rest[n..];
            self.process_frames(clock::recv_stamp(), sink)?;
        }
        Ok(())
    }

    /// Test hook: the bytes queued for sending (frames are masked).
    #[cfg(test)]
    fn pending_output_for_test(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }
}

/// Hands one text message to the session and counts it and its outcome.
fn deliver<S: WsSession + ?Sized>(
    session: &mut S,
    stats: &ConnectionStats,
    frame: &mut [u8],
    stamp: RecvStamp,
    sink: &mut dyn FnMut(S::Output),
) -> Result<Inbound, DropReason> {
    stats.messages.incr();
    let mut events = 0u64;
    let outcome = session.on_text(frame, stamp, &mut |ev| {
        events += 1;
        sink(ev);
    });
    stats.events.add(events);
    match outcome {
        Ok(Inbound::SubscribeAck) => stats.subscribe_acks.incr(),
        Err(reason) => stats.drops(reason).incr(),
        Ok(_) => {}
    }
    outcome
}

fn verify_upgrade(response: &Response, accept_key: &str) -> Result<(), Disconnect> {
    let fail = |detail: String| Disconnect::new(DisconnectReason::HandshakeError, detail);
    if response.status() != tungstenite::http::StatusCode::SWITCHING_PROTOCOLS {
        return Err(fail(format!("upgrade refused: HTTP {}", response.status())));
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if !header("Upgrade").eq_ignore_ascii_case("websocket") {
        return Err(fail(format!(
            "upgrade response has Upgrade: {:?}, not websocket",
            header("Upgrade")
        )));
    }
    if !header("Connection")
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    {
        return Err(fail(format!(
            "upgrade response has Connection: {:?}, not upgrade",
            header("Connection")
        )));
    }
    if header("Sec-WebSocket-Accept") != accept_key {
        return Err(fail(
            "upgrade response has a wrong Sec-WebSocket-Accept".to_string(),
        ));
    }
    if !header("Sec-WebSocket-Extensions").is_empty() {
        return Err(fail(format!(
            "server enabled extension {:?} that was not offered",
            header("Sec-WebSocket-Extensions")
        )));
    }
    Ok(())
}

/// Reads decrypted (or plain) bytes from the socket.
fn read_plain(sock: &mut Socket, buf: &mut [u8]) -> Result<ReadOutcome, Disconnect> {
    let io_err = |e: io::Error| Disconnect::new(DisconnectReason::IoError, format!("read: {e}"));
    match &mut sock.tls {
        None => loop {
            match sock.tcp.read(buf) {
                Ok(0) => return Ok(ReadOutcome::Eof),
                Ok(n) => return Ok(ReadOutcome::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadOutcome::WouldBlock)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        },
        Some(tls) => loop {
            match tls.reader().read(buf) {
                Ok(0) => return Ok(ReadOutcome::Eof),
                Ok(n) => return Ok(ReadOutcome::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(ReadOutcome::Eof),
                Err(e) => return Err(io_err(e)),
            }
            match tls.read_tls(&mut sock.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadOutcome::WouldBlock)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(e)),
            }
            if let Err(e) = tls.process_new_packets() {
                // Let the venue see our alert, if the socket takes it.
                let _ = tls.write_tls(&mut sock.tcp);
                return Err(Disconnect::new(DisconnectReason::TlsError, e.to_string()));
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::frame::tests::{client_frames, frame};
    use crate::transport::stats::ConnectionStats;
    use carry_engine::{Exchange, InstrumentId, Market, MarketEvent, MarketEventKind, Venue};

    /// Turns every text message into one reset event whose `ts_ms` is the message length, and
    /// remembers the messages.
    struct Echo {
        seen: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
        reconnect_on: Option<Vec<u8>>,
        max_age: Option<Duration>,
    }

    impl WsSession for Echo {
        type Output = MarketEvent;
        fn venue(&self) -> Venue {
            Venue::new(Exchange::Okx, Market::Perp)
        }
        fn url(&self) -> &str {
            "ws://127.0.0.1:1/ws"
        }
        fn on_connect(&mut self, _now_unix_ms: i64) -> Vec<String> {
            vec!["sub".to_string()]
        }
        fn heartbeat(&self) -> Option<Heartbeat> {
            None
        }
        fn max_connection_age(&self) -> Option<Duration> {
            self.max_age
        }
        fn on_text(
            &mut self,
            frame: &mut [u8],
            recv: RecvStamp,
            sink: &mut dyn FnMut(MarketEvent),
        ) -> Result<Inbound, DropReason> {
            if self.reconnect_on.as_deref() == Some(&*frame) {
                return Ok(Inbound::ReconnectRequested);
            }
            if frame == b"bad" {
                return Err(DropReason::Malformed);
            }
            self.seen.lock().unwrap().push(frame.to_vec());
            sink(MarketEvent {
                venue: self.venue(),
                instrument: InstrumentId(0),
                ts_ms: frame.len() as i64,
                recv_ns: recv.mono_ns,
                kind: MarketEventKind::FeedReset,
            });
            Ok(Inbound::Data(1))
        }
        fn reset(&mut self) {}
    }

    type Seen = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

    fn conn(max_message: usize, initial_buffer: usize) -> (Connection<Echo>, Seen) {
        conn_aged(max_message, initial_buffer, None)
    }

    fn conn_aged(
        max_message: usize,
        initial_buffer: usize,
        max_age: Option<Duration>,
    ) -> (Connection<Echo>, Seen) {
        let stats = Arc::new(ConnectionStats::new(
            Venue::new(Exchange::Okx, Market::Perp),
            "ws://127.0.0.1:1/ws",
        ));
        let options = ConnectionOptions {
            max_message_size: max_message,
            read_buffer_size: initial_buffer,
            ..ConnectionOptions::default()
        };
        let tls = crate::transport::tls::client_config(None).unwrap();
        let seen = Seen::default();
        let c = Connection::new(
            Box::new(Echo {
                seen: seen.clone(),
                reconnect_on: Some(b"bye".to_vec()),
                max_age,
            }),
            tls,
            options,
            stats,
            7,
        )
        .unwrap();
        (c, seen)
    }

    #[test]
    fn frames_split_at_every_byte_arrive_whole_and_in_order() {
        let msgs: Vec<Vec<u8>> = vec![
            b"{\"a\":1}".to_vec(),
            vec![b'y'; 300],
            vec![b'z'; 70_000],
            b"last".to_vec(),
        ];
        let mut stream = Vec::new();
        for m in &msgs {
            stream.extend(frame(true, OP_TEXT, m));
        }
        // Small initial buffer: growth and compaction both happen.
        for chunk in [1usize, 2, 3, 7, 64, 1000, stream.len()] {
            let (mut c, seen) = conn(1 << 20, 16);
            let mut events = Vec::new();
            for piece in stream.chunks(chunk) {
                c.feed_bytes_for_test(piece, &mut |e| events.push(e.ts_ms))
                    .unwrap();
            }
            assert_eq!(*seen.lock().unwrap(), msgs, "chunk {chunk}");
            let lens: Vec<i64> = msgs.iter().map(|m| m.len() as i64).collect();
            assert_eq!(events, lens);
            assert_eq!(c.stats.messages.get(), 4);
            assert_eq!(c.stats.events.get(), 4);
        }
    }

    #[test]
    fn fragmented_message_with_interleaved_ping_is_reassembled() {
        let (mut c, seen) = conn(1 << 20, 64);
        let mut stream = frame(false, OP_TEXT, b"{\"part\":");
        stream.extend(frame(true, OP_PING, b"keepalive-42"));
        stream.extend(frame(false, OP_CONTINUATION, b"\"one\","));
        stream.extend(frame(true, OP_CONTINUATION, b"\"x\":2}"));
        stream.extend(frame(true, OP_TEXT, b"after"));
        let mut n = 0;
        for piece in stream.chunks(5) {
            c.feed_bytes_for_test(piece, &mut |_| n += 1).unwrap();
        }
        assert_eq!(
            *seen.lock().unwrap(),
            vec![b"{\"part\":\"one\",\"x\":2}".to_vec(), b"after".to_vec()]
        );
        assert_eq!(n, 2);
        assert_eq!(c.stats.pings.get(), 1);
        let out = client_frames(c.pending_output_for_test());
        // The subscription sent at open, then the pong with the ping's payload.
        assert_eq!(out[0], (OP_TEXT, b"sub".to_vec()));
        assert_eq!(out[1], (OP_PONG, b"keepalive-42".to_vec()));
    }

    #[test]
    fn close_frame_is_echoed_and_ends_the_connection() {
        let (mut c, _) = conn(1 << 20, 64);
        let mut payload = 1000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye now");
        let err = c
            .feed_bytes_for_test(&frame(true, OP_CLOSE, &payload), &mut |_| {})
            .unwrap_err();
        assert_eq!(err.reason, DisconnectReason::ClosedByVenue);
        assert!(
            err.detail.contains("1000") && err.detail.contains("bye now"),
            "{err}"
        );
        let out = client_frames(c.pending_output_for_test());
        assert_eq!(
            out.last().unwrap(),
            &(OP_CLOSE, 1000u16.to_be_bytes().to_vec())
        );
    }

    #[test]
    fn venue_notice_drops_and_oversize_are_handled() {
        let (mut c, _) = conn(100, 64);
        c.feed_bytes_for_test(&frame(true, OP_TEXT, b"bad"), &mut |_| {})
            .unwrap();
        assert_eq!(c.stats.drops(DropReason::Malformed).get(), 1);
        let err = c
            .feed_bytes_for_test(&frame(true, OP_TEXT, b"bye"), &mut |_| {})
            .unwrap_err();
        assert_eq!(err.reason, DisconnectReason::VenueNotice);

        let (mut c, _) = conn(100, 64);
        let err = c
            .feed_bytes_for_test(&frame(true, OP_TEXT, &[b'a'; 101]), &mut |_| {})
            .unwrap_err();
        assert_eq!(err.reason, DisconnectReason::ProtocolError);
        let (mut c, _) = conn(100, 64);
        let mut stream = frame(false, OP_TEXT, &[b'a'; 60]);
        stream.extend(frame(true, OP_CONTINUATION, &[b'a'; 60]));
        let err = c.feed_bytes_for_test(&stream, &mut |_| {}).unwrap_err();
        assert!(err.detail.contains("fragmented message over"), "{err}");
        let (mut c, _) = conn(100, 64);
        let err = c
            .feed_bytes_for_test(&frame(true, OP_CONTINUATION, b"x"), &mut |_| {})
            .unwrap_err();
        assert!(err.detail.contains("without a first frame"), "{err}");
    }

    #[test]
    fn upgrade_response_is_verified() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let accept = derive_accept_key(key.as_bytes());
        let parse = |raw: &str| {
            <Response as TryParse>::try_parse(raw.as_bytes())
                .unwrap()
                .unwrap()
                .1
        };
        let ok = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        assert!(verify_upgrade(&parse(&ok), &accept).is_ok());
        let wrong_key = ok.replace(&accept, "AAAA");
        let err = verify_upgrade(&parse(&wrong_key), &accept).unwrap_err();
        assert!(err.detail.contains("Sec-WebSocket-Accept"), "{err}");
        let refused = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        let err = verify_upgrade(&parse(refused), &accept).unwrap_err();
        assert_eq!(err.reason, DisconnectReason::HandshakeError);
        assert!(err.detail.contains("403"), "{err}");
        let deflate = ok.replace(
            "\r\n\r\n",
            "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        );
        assert!(verify_upgrade(&parse(&deflate), &accept).is_err());
    }

    #[test]
    fn timers_fire_watchdog_and_max_age() {
        let (mut c, _) = conn(1 << 20, 64);
        assert_eq!(c.next_deadline(), None);
        c.feed_bytes_for_test(&[], &mut |_| {}).unwrap();
        let opened = c.opened_ns();
        let silence = ns(ConnectionOptions::default().silence_timeout);
        assert_eq!(c.next_deadline(), Some(opened + silence));
        assert!(c.on_timer(opened + silence - 1).is_ok());
        let err = c.on_timer(opened + silence).unwrap_err();
        assert_eq!(err.reason, DisconnectReason::Watchdog);

        // A 20 s maximum age: the 5 min margin is capped at half of it, so 10 s after opening.
        let (mut c, _) = conn_aged(1 << 20, 64, Some(Duration::from_secs(20)));
        c.feed_bytes_for_test(&[], &mut |_| {}).unwrap();
        let opened = c.opened_ns();
        let age = ns(Duration::from_secs(10));
        assert_eq!(c.next_deadline(), Some(opened + age));
        assert!(c.on_timer(opened + age - 1).is_ok());
        let err = c.on_timer(opened + age).unwrap_err();
        assert_eq!(err.reason, DisconnectReason::MaxAge);
    }
}

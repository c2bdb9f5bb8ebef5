//! The websocket side of the simulator: one thread per accepted connection runs the handshake
//! (tungstenite over a blocking loopback socket), hands the request path and every text frame to
//! the venue's [`Protocol`], pushes data for each subscription at its own cadence, and lets a
//! private protocol poll its account for events every few milliseconds. Venue modules only say
//! what a message means and how data looks; sockets, timing, protocol pings, faults and shutdown
//! live here.

use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use carry_engine::Venue;
use carry_feeds::transport::clock::unix_ms;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::protocol::WebSocket;
use tungstenite::{Error as WsError, Message};

use super::listing::{ListedInstrument, Listing, VenueListing};
use super::market::{LegTick, MarketTick};
use super::Shared;

/// A data stream a client can subscribe to, across all simulated venues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Channel {
    BinanceMarkPrice,
    BinanceBookTicker,
    BybitTickers,
    BybitOrderbook1,
    OkxFundingRate,
    OkxBboTbt,
    OkxTickers,
    BitgetTicker,
    BitgetBooks1,
    GateFuturesTickers,
    GateFuturesBookTicker,
    GateSpotBookTicker,
}

/// One live subscription of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Sub {
    pub channel: Channel,
    pub instrument: usize,
    /// The market the data comes from (OKX, Bitget and Gate serve both on one connection).
    pub venue: Venue,
    /// The subscription as the client named it (Binance stream, Bybit topic, ...): it is echoed
    /// in wrappers and used to find the subscription again on unsubscribe.
    pub topic: String,
    pub period: Duration,
    pub next_due: Instant,
    /// Pushes made so far; the first one is where snapshot-then-delta venues send the snapshot.
    pub pushes: u64,
}

/// The request line and headers of a websocket handshake, as a venue sees them.
pub(crate) struct Handshake<'a> {
    /// Path and query, e.g. `/market/stream?streams=btcusdt@markPrice`.
    pub path: &'a str,
    pub request: &'a Request,
}

impl Handshake<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }
}

/// A handshake the venue refuses: HTTP status and JSON body.
#[derive(Debug)]
pub(crate) struct Reject {
    pub status: u16,
    pub body: String,
}

/// How a protocol asks for its connection to end once the pending frames are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Close {
    /// A close frame, as a venue ends a session it refuses.
    Graceful,
    /// The TCP connection just goes (an injected fault: the answer never arrives).
    Abort,
}

/// Per-connection state the venue protocol reads and writes.
pub(crate) struct Conn<'a> {
    pub shared: &'a Shared,
    /// The simulator's number for this connection (its registration).
    pub id: u64,
    /// The venue whose port this connection came in on.
    pub venue: Venue,
    /// A venue-style connection id (Bybit `conn_id`, OKX `connId`, Gate `conn_id`).
    pub conn_id: String,
    pub subs: Vec<Sub>,
    /// Text frames to send, in order, after the current step.
    pub out: Vec<String>,
    /// Wall clock of the current step, Unix ms.
    pub now_ms: i64,
    /// Protocol pings the server sends (Binance, Gate), and how often.
    pub server_ping: Option<Duration>,
    /// Longest time the venue waits for a client heartbeat before closing (Bitget: 2 min).
    pub client_ping_limit: Option<Duration>,
    pub last_client_ping: Instant,
    /// Set by the protocol to end the connection after this step's frames.
    pub close: Option<Close>,
}

impl<'a> Conn<'a> {
    pub fn send(&mut self, text: String) {
        self.out.push(text);
    }

    /// Records a client heartbeat (the venue's idle timer restarts).
    pub fn client_pinged(&mut self) {
        self.last_client_ping = Instant::now();
    }

    pub fn is_subscribed(&self, topic: &str) -> bool {
        self.subs.iter().any(|s| s.topic == topic)
    }

    /// Adds a subscription whose first push is due at once. Returns false if `topic` is
    /// already subscribed (nothing changes then).
    pub fn subscribe(
        &mut self,
        channel: Channel,
        instrument: usize,
        venue: Venue,
        topic: &str,
        period: Duration,
    ) -> bool {
        if self.is_subscribed(topic) {
            return false;
        }
        self.subs.push(Sub {
            channel,
            instrument,
            venue,
            topic: topic.to_string(),
            period,
            next_due: Instant::now(),
            pushes: 0,
        });
        true
    }

    /// Removes a subscription; false if it was not there.
    pub fn unsubscribe(&mut self, topic: &str) -> bool {
        let before = self.subs.len();
        self.subs.retain(|s| s.topic != topic);
        self.subs.len() != before
    }

    /// Cadence of book streams.
    pub fn quote_period(&self) -> Duration {
        self.shared.timing.quote_interval
    }

    /// Cadence of a stream the venue pushes every `real` (funding, tickers), sped up for the
    /// demo but never faster than the book streams.
    pub fn scaled_period(&self, real: Duration) -> Duration {
        let t = &self.shared.timing;
        (real / t.funding_speedup.max(1)).max(t.quote_interval)
    }

    pub fn listing(&self) -> &'a Listing {
        let shared: &'a Shared = self.shared;
        &shared.listing
    }

    /// What one push of `sub` is rendered from: the instrument, its listing on the
    /// subscription's venue and that leg at `tick`; `None` where the venue does not list it.
    pub fn subject<'t>(
        &self,
        sub: &Sub,
        tick: &'t MarketTick,
    ) -> Option<(&'a ListedInstrument, &'a VenueListing, &'t LegTick)> {
        let ins = self.listing().instruments().get(sub.instrument)?;
        Some((
            ins,
            ins.on(sub.venue)?,
            tick.leg(sub.instrument, sub.venue)?,
        ))
    }
}

/// What one venue's websocket speaks. One value per connection (it may keep per-connection
/// state such as Bybit's last pushed ticker for deltas).
pub(crate) trait Protocol: Send {
    /// Inspects the handshake (Binance reads its streams from the URL, Gate the decimal-size
    /// header); an error refuses the connection with an HTTP error.
    fn on_connect(&mut self, handshake: &Handshake<'_>, conn: &mut Conn<'_>) -> Result<(), Reject>;

    /// A text frame from the client: subscribe, unsubscribe, heartbeat.
    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>);

    /// Renders one push for a due subscription into `conn.out` (or nothing if the venue would
    /// not send anything now, e.g. a Bybit delta with no change).
    fn render(&mut self, sub: &Sub, tick: &MarketTick, conn: &mut Conn<'_>);

    /// How often [`Protocol::poll`] wants to run; `None` for protocols that never poll.
    fn poll_every(&self) -> Option<Duration> {
        None
    }

    /// Called every step (at least every `poll_every`): a private stream pushes the account
    /// events that happened since the last poll.
    fn poll(&mut self, _conn: &mut Conn<'_>) {}
}

/// Chooses a connection's protocol from its handshake path: `private` names the venue's private
/// stream or websocket API for a path (`/private/ws`, `/v5/private`, ...), anything else is the
/// venue's market data protocol.
pub(crate) struct ByPath {
    venue: Venue,
    active: Box<dyn Protocol>,
    private: fn(Venue, &str) -> Option<Box<dyn Protocol>>,
}

impl ByPath {
    pub fn new(
        venue: Venue,
        market: Box<dyn Protocol>,
        private: fn(Venue, &str) -> Option<Box<dyn Protocol>>,
    ) -> ByPath {
        ByPath {
            venue,
            active: market,
            private,
        }
    }
}

impl Protocol for ByPath {
    fn on_connect(&mut self, hs: &Handshake<'_>, conn: &mut Conn<'_>) -> Result<(), Reject> {
        if let Some(p) = (self.private)(self.venue, hs.path) {
            self.active = p;
        }
        self.active.on_connect(hs, conn)
    }

    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) {
        self.active.on_text(text, conn)
    }

    fn render(&mut self, sub: &Sub, tick: &MarketTick, conn: &mut Conn<'_>) {
        self.active.render(sub, tick, conn)
    }

    fn poll_every(&self) -> Option<Duration> {
        self.active.poll_every()
    }

    fn poll(&mut self, conn: &mut Conn<'_>) {
        self.active.poll(conn)
    }
}

/// Longest a connection thread blocks in a read: bounds how late a push or a stop can be seen
/// when nothing else wakes it (stop also shuts the socket down, which wakes it at once).
const MAX_WAIT: Duration = Duration::from_millis(200);
/// A client that does not drain its socket for this long is dropped, like a venue drops a slow
/// consumer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection ended: every exit path of a connection thread says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    Handshake,
    ClosedByClient,
    Io,
    NoPong,
    NoClientPing,
    Stopped,
    /// The protocol refused the session and closed it.
    ClosedByVenue,
    /// The protocol dropped the connection (an injected fault).
    Aborted,
}

/// Serves one accepted connection until it ends.
// The handshake callback's error type is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
pub(crate) fn serve(
    stream: TcpStream,
    venue: Venue,
    id: u64,
    shared: &Shared,
    mut protocol: Box<dyn Protocol>,
) -> Ended {
    if stream.set_nodelay(true).is_err()
        || stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return Ended::Io;
    }
    let mut conn = Conn {
        shared,
        id,
        venue,
        conn_id: connection_id(shared.seed, id),
        subs: Vec::new(),
        out: Vec::new(),
        now_ms: unix_ms(),
        server_ping: None,
        client_ping_limit: None,
        last_client_ping: Instant::now(),
        close: None,
    };
    let accepted = {
        let proto = &mut protocol;
        let c = &mut conn;
        let callback = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            match proto.on_connect(&Handshake { path, request: req }, c) {
                Ok(()) => Ok(resp),
                Err(r) => {
                    let mut e = ErrorResponse::new(Some(r.body));
                    *e.status_mut() = tungstenite::http::StatusCode::from_u16(r.status)
                        .unwrap_or(tungstenite::http::StatusCode::BAD_REQUEST);
                    e.headers_mut().insert(
                        "Content-Type",
                        tungstenite::http::HeaderValue::from_static("application/json"),
                    );
                    Err(e)
                }
            }
        };
        tungstenite::accept_hdr(stream, callback).ok()
    };
    let Some(mut ws) = accepted else {
        return Ended::Handshake;
    };
    run(&mut ws, &mut conn, protocol.as_mut())
}

fn run(ws: &mut WebSocket<TcpStream>, conn: &mut Conn<'_>, protocol: &mut dyn Protocol) -> Ended {
    let shared = conn.shared;
    let timing = &shared.timing;
    let mut next_ping = conn.server_ping.map(|p| Instant::now() + p);
    // Payload of the ping awaiting its pong, and when it was sent.
    let mut awaiting_pong: Option<(Vec<u8>, Instant)> = None;
    let mut ping_counter: u64 = 0;
    loop {
        if shared.is_stopping() {
            let _ = ws.close(None);
            let _ = ws.flush();
            return Ended::Stopped;
        }
        let now = Instant::now();
        let mut deadline = now + MAX_WAIT;
        for s in &conn.subs {
            deadline = deadline.min(s.next_due);
        }
        if let Some(p) = next_ping {
            deadline = deadline.min(p);
        }
        if let Some(every) = protocol.poll_every() {
            deadline = deadline.min(now + every);
        }
        let wait = deadline
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        if ws.get_mut().set_read_timeout(Some(wait)).is_err() {
            return Ended::Io;
        }
        conn.now_ms = unix_ms();
        match ws.read() {
            Ok(Message::Text(text)) => protocol.on_text(text.as_str(), conn),
            Ok(Message::Pong(payload)) => {
                if awaiting_pong
                    .as_ref()
                    .is_some_and(|(p, _)| p.as_slice() == payload.as_ref())
                {
                    awaiting_pong = None;
                }
            }
            // Pings are answered by tungstenite on the next write or flush; a close frame is
            // answered the same way and the next read reports the end.
            Ok(_) => {}
            Err(WsError::Io(e)) if is_timeout(&e) => {}
            Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => {
                return Ended::ClosedByClient
            }
            Err(_) => return Ended::Io,
        }

        let now = Instant::now();
        conn.now_ms = unix_ms();
        if !shared.is_stale(conn.venue) && conn.subs.iter().any(|s| s.next_due <= now) {
            let tick = shared.market.now();
            let mut subs = std::mem::take(&mut conn.subs);
            for sub in subs.iter_mut().filter(|s| s.next_due <= now) {
                if !shared.is_stale(sub.venue) {
                    protocol.render(sub, &tick, conn);
                    sub.pushes += 1;
                }
                // Stay on the cadence grid, but never burst to catch up after a stall.
                sub.next_due += sub.period;
                if sub.next_due <= now {
                    sub.next_due = now + sub.period;
                }
            }
            // A render may not touch subscriptions; anything added meanwhile is kept.
            subs.append(&mut conn.subs);
            conn.subs = subs;
        } else if shared.is_stale(conn.venue) {
            // A stale venue keeps its connections and heartbeats but goes silent; its pushes
            // resume on the cadence once the fault is lifted.
            for sub in conn.subs.iter_mut().filter(|s| s.next_due <= now) {
                sub.next_due = now + sub.period;
            }
        }

        if let (Some(period), Some(due)) = (conn.server_ping, next_ping) {
            if due <= now {
                if let Some((_, sent)) = &awaiting_pong {
                    if now.duration_since(*sent) >= timing.pong_timeout {
                        let _ = ws.close(None);
                        let _ = ws.flush();
                        return Ended::NoPong;
                    }
                }
                ping_counter += 1;
                let payload = format!("{}", conn.now_ms + ping_counter as i64).into_bytes();
                if awaiting_pong.is_none() {
                    awaiting_pong = Some((payload.clone(), now));
                }
                if ws.write(Message::Ping(payload.into())).is_err() {
                    return Ended::Io;
                }
                next_ping = Some(now + period);
            }
        }
        if let Some(limit) = conn.client_ping_limit {
            if now.duration_since(conn.last_client_ping) >= limit {
                let _ = ws.close(None);
                let _ = ws.flush();
                return Ended::NoClientPing;
            }
        }

        protocol.poll(conn);
        if conn.close == Some(Close::Abort) {
            let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
            return Ended::Aborted;
        }
        for text in conn.out.drain(..) {
            if ws.write(Message::text(text)).is_err() {
                return Ended::Io;
            }
        }
        if conn.close == Some(Close::Graceful) {
            let _ = ws.close(None);
            let _ = ws.flush();
            return Ended::ClosedByVenue;
        }
        match ws.flush() {
            Ok(()) => {}
            Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => {
                return Ended::ClosedByClient
            }
            Err(_) => return Ended::Io,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A UUID-shaped connection id, fixed by the seed and the connection number.
fn connection_id(seed: u64, id: u64) -> String {
    let mut rng = super::market::Rng::new(seed ^ id.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let a = rng.next_u64();
    let b = rng.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// Renders a JSON string literal (for echoing ids and topics the client sent).
pub(crate) fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

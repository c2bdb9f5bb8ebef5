//! The contract between a session (what to send on one websocket connection, how to read what
//! comes back) and the transport (sockets, TLS, heartbeats, reconnects, threads). A session knows
//! nothing about sockets; the transport knows nothing about any venue's JSON, nor about what a
//! session makes of it: a market data session produces market events for the feed queues, a
//! private order stream would produce execution reports for the gateway's report queue.

use std::time::Duration;

use carry_engine::Venue;

/// When a frame was read: monotonic ns for latency and staleness, wall ms for events that carry
/// no venue time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvStamp {
    /// Monotonic ns ([`crate::transport::clock::mono_ns`]).
    pub mono_ns: u64,
    /// Wall-clock Unix ms ([`crate::transport::clock::unix_ms`]).
    pub unix_ms: i64,
}

/// What one inbound text frame turned out to be, when it was understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Data; this many outputs were handed to the sink (possibly 0, e.g. an unsubscribed
    /// symbol that is counted elsewhere, or a delta that changed nothing).
    Data(usize),
    /// A subscription (or login) acknowledgement.
    SubscribeAck,
    /// A heartbeat reply, or any other message that needs no action.
    Control,
    /// The venue announced it will close or upgrade this connection; reconnect now.
    ReconnectRequested,
}

/// Why a frame was dropped. Low-cardinality: it labels a counter per venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Not JSON, or not the JSON shape this venue sends.
    Malformed,
    /// A field that must be there is missing.
    MissingField,
    /// A number, decimal or timestamp that does not parse.
    BadNumber,
    /// A symbol that is not configured on this connection.
    UnknownSymbol,
    /// A channel or event type this module does not handle.
    UnknownChannel,
    /// The venue refused a subscription (the error text goes to the connection's log once).
    SubscribeError,
    /// A delta arrived with no snapshot to apply it to.
    DeltaWithoutSnapshot,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 7] = [
        DropReason::Malformed,
        DropReason::MissingField,
        DropReason::BadNumber,
        DropReason::UnknownSymbol,
        DropReason::UnknownChannel,
        DropReason::SubscribeError,
        DropReason::DeltaWithoutSnapshot,
    ];

    /// The reason's label in metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::MissingField => "missing_field",
            DropReason::BadNumber => "bad_number",
            DropReason::UnknownSymbol => "unknown_symbol",
            DropReason::UnknownChannel => "unknown_channel",
            DropReason::SubscribeError => "subscribe_error",
            DropReason::DeltaWithoutSnapshot => "delta_without_snapshot",
        }
    }
}

/// An application-level heartbeat the client must send (Bybit JSON ping, OKX/Bitget text
/// `ping`, Gate's optional `futures.ping`). Websocket protocol pings are answered by the
/// transport for every venue and need nothing here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// How often.
    pub every: Duration,
    /// The text frame to send.
    pub text: String,
}

/// One websocket connection's logic: what to send when it opens, the heartbeat it needs, and
/// how to read what comes back into [`WsSession::Output`]s.
///
/// `on_text` runs on the connection's thread for every text frame. A session on a hot path
/// (market data) must not allocate there after warm-up: parse in place over the mutable frame
/// bytes, reusing the session's buffers.
pub trait WsSession: Send {
    /// What the session turns frames into: market events for a market data feed, execution
    /// reports for a private order stream.
    type Output;

    /// The venue at the other end (it names the connection in logs and counters).
    fn venue(&self) -> Venue;

    /// The websocket URL to connect to.
    fn url(&self) -> &str;

    /// Text frames to send, in order, right after each handshake (the first connect and every
    /// reconnect), built at that moment: `now_unix_ms` is the wall clock then, which a signed
    /// login puts in what it signs. Called after [`WsSession::reset`].
    fn on_connect(&mut self, now_unix_ms: i64) -> Vec<String>;

    /// The client-sent heartbeat, where the venue wants one.
    fn heartbeat(&self) -> Option<Heartbeat>;

    /// Longest time the venue allows one connection before it force-closes it (Binance and Bitget:
    /// 24 h). The transport reconnects on its own a little before this.
    fn max_connection_age(&self) -> Option<Duration>;

    /// Reads one text frame; every output goes to `sink` in the order the frame carries them.
    fn on_text(
        &mut self,
        frame: &mut [u8],
        recv: RecvStamp,
        sink: &mut dyn FnMut(Self::Output),
    ) -> Result<Inbound, DropReason>;

    /// Forget per-connection state (e.g. Bybit snapshots, a login) before a new connection opens.
    fn reset(&mut self);

    /// Why the last frame was dropped, in words, for the connection's log: the venue's own
    /// message for a refused subscription (`DropReason::SubscribeError`), the symbol for an
    /// unknown one. `None` after a frame that was understood.
    fn last_problem(&self) -> Option<&str> {
        None
    }
}

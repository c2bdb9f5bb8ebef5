//! The contract between a venue module (what to send, how to read what comes back) and the
//! websocket transport (sockets, TLS, reconnects, threads). A venue module knows nothing about
//! sockets; the transport knows nothing about any venue's JSON.

use std::time::Duration;

use carry_engine::{MarketEvent, Venue};

/// When a frame was read: monotonic ns for latency and staleness, wall ms for events that carry
/// no venue time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvStamp {
    pub mono_ns: u64,
    pub unix_ms: i64,
}

/// What one inbound text frame turned out to be, when it was understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Market data; this many events were handed to the sink (possibly 0, e.g. an unsubscribed
    /// symbol that is counted elsewhere, or a delta that changed nothing).
    Data(usize),
    /// A subscription acknowledgement.
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
    pub const ALL: [DropReason; 7] = [
        DropReason::Malformed,
        DropReason::MissingField,
        DropReason::BadNumber,
        DropReason::UnknownSymbol,
        DropReason::UnknownChannel,
        DropReason::SubscribeError,
        DropReason::DeltaWithoutSnapshot,
    ];

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
    pub every: Duration,
    pub text: String,
}

/// One websocket connection's venue logic: subscribe, heartbeat, parse.
///
/// `on_text` runs on the feed thread for every text frame. After warm-up it must not allocate:
/// parse in place over the mutable frame bytes, reusing the session's buffers.
pub trait VenueSession: Send {
    fn venue(&self) -> Venue;

    /// The websocket URL to connect to.
    fn url(&self) -> &str;

    /// Text frames to send, in order, right after the handshake (and after every reconnect).
    fn subscribe_messages(&self) -> Vec<String>;

    /// The client-sent heartbeat, where the venue wants one.
    fn heartbeat(&self) -> Option<Heartbeat>;

    /// Longest time the venue allows one connection before it force-closes it (Binance and Bitget:
    /// 24 h). The transport reconnects on its own a little before this.
    fn max_connection_age(&self) -> Option<Duration>;

    /// Parses one text frame; every event goes to `sink` in the order the frame carries them.
    fn on_text(
        &mut self,
        frame: &mut [u8],
        recv: RecvStamp,
        sink: &mut dyn FnMut(MarketEvent),
    ) -> Result<Inbound, DropReason>;

    /// Forget per-connection state (e.g. Bybit snapshots) after a disconnect.
    fn reset(&mut self);

    /// Takes what REST said about this connection's instruments: funding intervals (stamped on
    /// later funding events whose messages do not carry one) and contract sizes (to convert
    /// quoted sizes to base units).
    fn apply_snapshot(&mut self, snapshot: &VenueSnapshot);

    /// Why the last frame was dropped, in words, for the connection's log: the venue's own
    /// message for a refused subscription (`DropReason::SubscribeError`), the symbol for an
    /// unknown one. `None` after a frame that was understood.
    fn last_problem(&self) -> Option<&str> {
        None
    }
}

/// What a venue's REST API says at start and after each reconnect: the current funding of each
/// perpetual, the funding interval of each symbol and its trading rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VenueSnapshot {
    pub venue: Option<Venue>,
    pub instruments: Vec<InstrumentSnapshot>,
}

/// One instrument's part of a [`VenueSnapshot`]. `funding` is a ready-to-queue event (perps only).
#[derive(Clone, Debug, PartialEq)]
pub struct InstrumentSnapshot {
    pub instrument: carry_engine::InstrumentId,
    pub funding: Option<MarketEvent>,
    pub interval_ms: Option<u64>,
    pub spec: Option<carry_engine::InstrumentSpec>,
}

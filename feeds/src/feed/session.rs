//! The market data session: a [`WsSession`] whose output is [`MarketEvent`]s and which takes
//! what REST says about its instruments. The venue folders implement it; the feed group runs
//! it.

use carry_engine::MarketEvent;

use crate::feed::snapshot::VenueSnapshot;
use crate::transport::session::WsSession;

/// One websocket connection's market data logic: a [`WsSession`] producing market events, plus
/// the REST snapshot it is given at start and after each reconnect.
///
/// `on_text` runs on the feed thread for every text frame. After warm-up it must not allocate:
/// parse in place over the mutable frame bytes, reusing the session's buffers.
pub trait VenueSession: WsSession<Output = MarketEvent> {
    /// Takes what REST said about this connection's instruments: funding intervals (stamped on
    /// later funding events whose messages do not carry one) and contract sizes (to convert
    /// quoted sizes to base units).
    fn apply_snapshot(&mut self, snapshot: &VenueSnapshot);
}

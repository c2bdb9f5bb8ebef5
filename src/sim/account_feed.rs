//! What every simulated private websocket shares: following an account's events from the moment
//! a stream is authorised (nothing that happened before is replayed, so a fill during a
//! disconnect is found only by a query, as on the venues), the hold-back fault that delays
//! pushes, and marking the connection private so the drop fault finds it.

use std::time::Duration;

use carry_engine::market::venue::Exchange;

use super::account::AccountEvent;
use super::ws::Conn;

/// How often a private connection looks for new account events.
pub(crate) const POLL_EVERY: Duration = Duration::from_millis(5);

/// One connection's position in one account's event sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AccountFeed {
    pub exchange: Exchange,
    cursor: u64,
}

impl AccountFeed {
    /// Starts following `exchange`'s account from its latest event, and registers the
    /// connection as a private one.
    pub fn start(conn: &Conn<'_>, exchange: Exchange) -> AccountFeed {
        conn.shared.mark_private(conn.id, exchange);
        AccountFeed {
            exchange,
            cursor: conn.shared.last_event_seq(exchange),
        }
    }

    /// The events due now, oldest first: everything after the cursor, except that under the
    /// hold-back fault an event waits until it is that old (and everything after it waits too,
    /// so order is kept).
    pub fn due(&mut self, conn: &Conn<'_>) -> Vec<AccountEvent> {
        let shared = conn.shared;
        let mut events = shared.events_after(self.exchange, self.cursor);
        let hold_ms = shared.private_hold_ms(self.exchange);
        if hold_ms > 0 {
            let now = shared.venue_now_ms(self.exchange);
            if let Some(cut) = events.iter().position(|e| e.time_ms + hold_ms > now) {
                events.truncate(cut);
            }
        }
        if let Some(last) = events.last() {
            self.cursor = last.seq;
        }
        events
    }
}

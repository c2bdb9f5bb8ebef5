//! Normalized market events: what a feed thread produces from a venue message and the engine
//! consumes. Small, `Copy`, no heap, so they move through lock-free queues by value.
//!
//! Times follow the funding contract in DESIGN.md: `ts_ms` is Unix milliseconds UTC (the venue's
//! event time, else the wall-clock time the feed received the message; never 0), and `recv_ns`
//! is the monotonic receive time stamped by the feed thread, used only for latency and staleness.

use rust_decimal::Decimal;

use crate::market::instrument::InstrumentId;
use crate::market::venue::Venue;

/// One normalized market data event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MarketEvent {
    /// The venue it came from.
    pub venue: Venue,
    /// What it is about.
    pub instrument: InstrumentId,
    /// Venue event time in Unix ms UTC, or receive wall time where the venue sends none.
    pub ts_ms: i64,
    /// Monotonic receive time (ns) of the socket read that carried this event.
    pub recv_ns: u64,
    /// What it says.
    pub kind: MarketEventKind,
}

/// What a market event says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MarketEventKind {
    /// A funding update of a perpetual (spot markets never produce one).
    Funding(Funding),
    /// Top of book.
    Quote(Quote),
    /// The feed for this venue reconnected (or lost its connection): state received before it
    /// may have gaps. `instrument` is meaningless for this kind.
    FeedReset,
}

/// Funding state of one perpetual, as of one venue message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Funding {
    /// Rate for the current interval; not annualized (0.0001 = 1 bp). Positive: longs pay shorts.
    pub rate: Decimal,
    /// The venue's estimate for the next interval, where it publishes one.
    pub predicted_rate: Option<Decimal>,
    /// Unix ms UTC of the next settlement; 0 = unknown.
    pub next_funding_time_ms: i64,
    /// Funding interval in ms where the message (or the venue's REST metadata) states it.
    pub interval_ms: Option<u64>,
    /// The mark price the venue published with the rate, if any.
    pub mark_price: Option<Decimal>,
    /// The index price the venue published with the rate, if any.
    pub index_price: Option<Decimal>,
}

/// Best bid and offer with their sizes in base units (contracts already converted where the
/// venue quotes sizes in contracts).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quote {
    /// Best bid price.
    pub bid: Decimal,
    /// Quantity at the best bid, in base units.
    pub bid_qty: Decimal,
    /// Best ask price.
    pub ask: Decimal,
    /// Quantity at the best ask, in base units.
    pub ask_qty: Decimal,
}

impl Quote {
    /// Mid price, `(bid + ask) / 2` (see [`crate::decision::money::mid`], the one definition).
    pub fn mid(&self) -> Decimal {
        crate::decision::money::mid(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn market_event_stays_small() {
        // It is copied through queues by value; a regression here costs every hop.
        assert!(
            std::mem::size_of::<MarketEvent>() <= 160,
            "{}",
            std::mem::size_of::<MarketEvent>()
        );
    }

    #[test]
    fn mid_is_exact() {
        let q = Quote {
            bid: Decimal::new(2535190, 5),
            bid_qty: Decimal::ONE,
            ask: Decimal::new(2536520, 5),
            ask_qty: Decimal::ONE,
        };
        assert_eq!(q.mid(), Decimal::new(2535855, 5));
    }
}

//! The funding monitor: the latest funding and top of book of every configured (venue,
//! instrument) stream, how fresh each is, and which pairs care about each. Only streams some pair
//! subscribed to at start are kept; anything else is counted and dropped, so there is no default
//! symbol anywhere.
//!
//! Freshness is per stream kind: a perp leg is fresh when both its funding (`funding_ttl_ms`) and
//! its quote (`quote_ttl_ms`) are; a spot leg has no funding, so its freshness is its quote's
//! alone. A `FeedReset` on a venue marks every stream of that venue stale until each kind has
//! received new data, so a leg recovers as soon as its data resumes (the Go system waited on
//! funding that a spot leg never gets). Ages are measured on the monotonic clock, from the feed's
//! receive stamp to `now`.
//!
//! State lives in flat arrays indexed by `instrument * VENUE_COUNT + venue`: no hashing, no
//! allocation after construction.

use rust_decimal::Decimal;

use crate::clock::Now;
use crate::decision::target::PairId;
use crate::market::event::{Funding, MarketEvent, MarketEventKind, Quote};
use crate::market::instrument::InstrumentId;
use crate::market::interval::{IntervalSource, IntervalTracker};
use crate::market::venue::{Venue, VENUE_COUNT};

/// The two kinds of data a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Funding updates of a perp.
    Funding,
    /// Top of book.
    Quote,
}

impl StreamKind {
    /// The kind's name in metrics (`funding`, `quote`).
    pub const fn as_str(self) -> &'static str {
        match self {
            StreamKind::Funding => "funding",
            StreamKind::Quote => "quote",
        }
    }
}

/// Latest funding of one perp, with its interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FundingState {
    /// The latest update.
    pub funding: Funding,
    /// Venue event time, Unix ms.
    pub ts_ms: i64,
    /// Monotonic receive time.
    pub recv_ns: u64,
    /// The interval the rate settles on, in ms.
    pub interval_ms: u64,
    /// Where the interval came from.
    pub interval_source: IntervalSource,
    /// Settlements per year on `interval_ms`, cached for the hot path.
    pub periods_per_year: Decimal,
}

/// Latest top of book of one stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuoteState {
    /// The latest top of book.
    pub quote: Quote,
    /// Venue event time, Unix ms.
    pub ts_ms: i64,
    /// Monotonic receive time.
    pub recv_ns: u64,
}

/// What `apply` did with an event; also the label of the monitor's event counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Applied {
    /// A funding update was kept.
    Funding,
    /// A quote was kept.
    Quote,
    /// A feed reset marked this many subscribed streams stale.
    Reset(u16),
    /// No pair subscribed to this (venue, instrument).
    Unsubscribed,
    /// Funding on a spot market (spot has none).
    SpotFunding,
    /// Funding older (by venue time) than what is held: a late REST snapshot, say.
    OutOfOrder,
    /// Bid above ask, a non-positive price, or a negative size.
    BadQuote,
}

#[derive(Clone, Copy, Debug)]
struct Stream {
    subscribed: bool,
    funding: Option<FundingState>,
    quote: Option<QuoteState>,
    /// Set by a feed reset, cleared by the next update of that kind.
    funding_reset: bool,
    quote_reset: bool,
    interval: IntervalTracker,
}

/// Time-to-live of each stream kind, in monotonic ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttls {
    /// Funding older than this is stale.
    pub funding_ns: u64,
    /// A quote older than this is stale.
    pub quote_ns: u64,
}

impl Ttls {
    /// Time-to-live from the configuration's milliseconds.
    pub fn from_ms(funding_ms: u64, quote_ms: u64) -> Ttls {
        Ttls {
            funding_ns: funding_ms.saturating_mul(1_000_000),
            quote_ns: quote_ms.saturating_mul(1_000_000),
        }
    }
}

/// Why a leg is not fresh, most serious first; `None` from [`FundingMonitor::leg_problem`] means
/// fresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LegProblem {
    /// Nothing received yet.
    Missing,
    /// A feed reset and no new data since.
    Reset,
    /// Data older than its TTL.
    Stale,
}

/// Latest market state of every subscribed stream.
pub struct FundingMonitor {
    instruments: usize,
    streams: Vec<Stream>,
    ttl: Ttls,
    /// Pairs per stream, as offsets into `pair_ids` (`offsets[slot]..offsets[slot + 1]`).
    offsets: Vec<u32>,
    pair_ids: Vec<PairId>,
    /// Pairs touching each venue, for feed resets.
    venue_offsets: [u32; VENUE_COUNT + 1],
    venue_pair_ids: Vec<PairId>,
}

impl FundingMonitor {
    /// A monitor for `instruments` instruments, subscribed to the given (venue, instrument, pair)
    /// triples; unsubscribed streams are ignored.
    pub fn new(
        instruments: usize,
        ttl: Ttls,
        fallback_interval_ms: u64,
        subscriptions: &[(Venue, InstrumentId, PairId)],
    ) -> FundingMonitor {
        let slots = instruments * VENUE_COUNT;
        let mut streams = vec![
            Stream {
                subscribed: false,
                funding: None,
                quote: None,
                funding_reset: false,
                quote_reset: false,
                interval: IntervalTracker::new(fallback_interval_ms),
            };
            slots
        ];
        let mut per_slot: Vec<Vec<PairId>> = vec![Vec::new(); slots];
        let mut per_venue: Vec<Vec<PairId>> = vec![Vec::new(); VENUE_COUNT];
        for &(venue, instrument, pair) in subscriptions {
            if instrument.index() >= instruments {
                continue;
            }
            let slot = instrument.index() * VENUE_COUNT + venue.index();
            streams[slot].subscribed = true;
            if !per_slot[slot].contains(&pair) {
                per_slot[slot].push(pair);
            }
            if !per_venue[venue.index()].contains(&pair) {
                per_venue[venue.index()].push(pair);
            }
        }
        let mut offsets = Vec::with_capacity(slots + 1);
        let mut pair_ids = Vec::new();
        offsets.push(0);
        for list in &per_slot {
            pair_ids.extend_from_slice(list);
            offsets.push(pair_ids.len() as u32);
        }
        let mut venue_offsets = [0u32; VENUE_COUNT + 1];
        let mut venue_pair_ids = Vec::new();
        for (i, list) in per_venue.iter().enumerate() {
            venue_pair_ids.extend_from_slice(list);
            venue_offsets[i + 1] = venue_pair_ids.len() as u32;
        }
        FundingMonitor {
            instruments,
            streams,
            ttl,
            offsets,
            pair_ids,
            venue_offsets,
            venue_pair_ids,
        }
    }

    fn slot(&self, venue: Venue, instrument: InstrumentId) -> Option<usize> {
        (instrument.index() < self.instruments)
            .then(|| instrument.index() * VENUE_COUNT + venue.index())
    }

    /// Takes in one market event. O(1), except a feed reset, which touches that venue's streams.
    pub fn apply(&mut self, ev: &MarketEvent, now: Now) -> Applied {
        // A feed that forgot to stamp its read is taken as received now.
        let recv_ns = if ev.recv_ns == 0 {
            now.mono_ns
        } else {
            ev.recv_ns
        };
        if let MarketEventKind::FeedReset = ev.kind {
            let mut n = 0u16;
            for i in 0..self.instruments {
                let s = &mut self.streams[i * VENUE_COUNT + ev.venue.index()];
                if s.subscribed {
                    s.funding_reset = true;
                    s.quote_reset = true;
                    s.interval.reset();
                    n = n.saturating_add(1);
                }
            }
            return Applied::Reset(n);
        }
        let Some(slot) = self.slot(ev.venue, ev.instrument) else {
            return Applied::Unsubscribed;
        };
        let s = &mut self.streams[slot];
        if !s.subscribed {
            return Applied::Unsubscribed;
        }
        match &ev.kind {
            MarketEventKind::Funding(f) => {
                if !ev.venue.is_perp() {
                    return Applied::SpotFunding;
                }
                if let Some(old) = &s.funding {
                    if ev.ts_ms < old.ts_ms {
                        return Applied::OutOfOrder;
                    }
                }
                s.interval.observe(f.interval_ms, f.next_funding_time_ms);
                s.funding = Some(FundingState {
                    funding: *f,
                    ts_ms: ev.ts_ms,
                    recv_ns,
                    interval_ms: s.interval.interval_ms(),
                    interval_source: s.interval.source(),
                    periods_per_year: s.interval.periods_per_year(),
                });
                s.funding_reset = false;
                Applied::Funding
            }
            MarketEventKind::Quote(q) => {
                if q.bid <= Decimal::ZERO
                    || q.ask < q.bid
                    || q.bid_qty.is_sign_negative()
                    || q.ask_qty.is_sign_negative()
                {
                    return Applied::BadQuote;
                }
                s.quote = Some(QuoteState {
                    quote: *q,
                    ts_ms: ev.ts_ms,
                    recv_ns,
                });
                s.quote_reset = false;
                Applied::Quote
            }
            MarketEventKind::FeedReset => Applied::Reset(0),
        }
    }

    /// Whether a leg on `venue` cannot be used now: for a perp, its funding or its quote is
    /// missing, reset or older than its TTL; for spot, its quote.
    pub fn is_stale(&self, venue: Venue, instrument: InstrumentId, now: Now) -> bool {
        self.leg_problem(venue, instrument, now).is_some()
    }

    /// Why a leg is not fresh, or `None` when it is.
    pub fn leg_problem(
        &self,
        venue: Venue,
        instrument: InstrumentId,
        now: Now,
    ) -> Option<LegProblem> {
        let Some(slot) = self.slot(venue, instrument) else {
            return Some(LegProblem::Missing);
        };
        let s = &self.streams[slot];
        let quote = kind_problem(
            s.quote.map(|q| q.recv_ns),
            s.quote_reset,
            self.ttl.quote_ns,
            now,
        );
        if !venue.is_perp() {
            return quote;
        }
        let funding = kind_problem(
            s.funding.map(|f| f.recv_ns),
            s.funding_reset,
            self.ttl.funding_ns,
            now,
        );
        // Report the worse of the two (Missing before Reset before Stale).
        match (funding, quote) {
            (None, q) => q,
            (f, None) => f,
            (Some(f), Some(q)) => Some(if rank(f) <= rank(q) { f } else { q }),
        }
    }

    /// Milliseconds since the last update of one kind of one stream, `None` if never received.
    pub fn age_ms(
        &self,
        venue: Venue,
        instrument: InstrumentId,
        kind: StreamKind,
        now: Now,
    ) -> Option<u64> {
        let s = &self.streams[self.slot(venue, instrument)?];
        let recv = match kind {
            StreamKind::Funding => s.funding?.recv_ns,
            StreamKind::Quote => s.quote?.recv_ns,
        };
        Some(now.mono_ns.saturating_sub(recv) / 1_000_000)
    }

    /// The latest funding of a subscribed perp stream, if any arrived.
    pub fn funding(&self, venue: Venue, instrument: InstrumentId) -> Option<&FundingState> {
        self.streams[self.slot(venue, instrument)?].funding.as_ref()
    }

    /// The latest top of book of a subscribed stream, if any arrived.
    pub fn quote(&self, venue: Venue, instrument: InstrumentId) -> Option<&QuoteState> {
        self.streams[self.slot(venue, instrument)?].quote.as_ref()
    }

    /// The price risk and exposure value a leg at: the perp's mark where known, else mid.
    pub fn mark_price(&self, venue: Venue, instrument: InstrumentId) -> Option<Decimal> {
        let s = &self.streams[self.slot(venue, instrument)?];
        s.funding
            .and_then(|f| f.funding.mark_price)
            .filter(|m| *m > Decimal::ZERO)
            .or_else(|| s.quote.map(|q| crate::decision::money::mid(&q.quote)))
    }

    /// The current funding interval of a perp stream (fallback until learned).
    pub fn interval_ms(&self, venue: Venue, instrument: InstrumentId) -> Option<u64> {
        Some(
            self.streams[self.slot(venue, instrument)?]
                .interval
                .interval_ms(),
        )
    }

    /// Whether some pair subscribed to (venue, instrument).
    pub fn is_subscribed(&self, venue: Venue, instrument: InstrumentId) -> bool {
        self.slot(venue, instrument)
            .is_some_and(|slot| self.streams[slot].subscribed)
    }

    /// Pairs that use this (venue, instrument) as a leg or a leg candidate.
    pub fn pairs_for(&self, venue: Venue, instrument: InstrumentId) -> &[PairId] {
        match self.slot(venue, instrument) {
            Some(slot) => {
                &self.pair_ids[self.offsets[slot] as usize..self.offsets[slot + 1] as usize]
            }
            None => &[],
        }
    }

    /// Pairs that use `venue` for any instrument (the pairs a feed reset concerns).
    pub fn pairs_on_venue(&self, venue: Venue) -> &[PairId] {
        let i = venue.index();
        &self.venue_pair_ids[self.venue_offsets[i] as usize..self.venue_offsets[i + 1] as usize]
    }

    /// Every subscribed (venue, instrument), in slot order.
    pub fn subscribed(&self) -> impl Iterator<Item = (Venue, InstrumentId)> + '_ {
        self.streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.subscribed)
            .map(|(i, _)| {
                (
                    Venue::ALL[i % VENUE_COUNT],
                    InstrumentId((i / VENUE_COUNT) as u16),
                )
            })
    }
}

fn rank(p: LegProblem) -> u8 {
    match p {
        LegProblem::Missing => 0,
        LegProblem::Reset => 1,
        LegProblem::Stale => 2,
    }
}

fn kind_problem(recv_ns: Option<u64>, reset: bool, ttl_ns: u64, now: Now) -> Option<LegProblem> {
    let Some(recv) = recv_ns else {
        return Some(LegProblem::Missing);
    };
    if reset {
        return Some(LegProblem::Reset);
    }
    (now.mono_ns.saturating_sub(recv) > ttl_ns).then_some(LegProblem::Stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const MS: u64 = 1_000_000;

    fn v(s: &str) -> Venue {
        s.parse().unwrap()
    }

    fn funding_ev(venue: &str, inst: u16, recv_ms: u64, ts_ms: i64, next_ms: i64) -> MarketEvent {
        MarketEvent {
            venue: v(venue),
            instrument: InstrumentId(inst),
            ts_ms,
            recv_ns: recv_ms * MS,
            kind: MarketEventKind::Funding(Funding {
                rate: d("0.0001"),
                predicted_rate: None,
                next_funding_time_ms: next_ms,
                interval_ms: None,
                mark_price: Some(d("100.5")),
                index_price: None,
            }),
        }
    }

    fn quote_ev(venue: &str, inst: u16, recv_ms: u64) -> MarketEvent {
        MarketEvent {
            venue: v(venue),
            instrument: InstrumentId(inst),
            ts_ms: 1,
            recv_ns: recv_ms * MS,
            kind: MarketEventKind::Quote(Quote {
                bid: d("100"),
                bid_qty: d("1"),
                ask: d("101"),
                ask_qty: d("2"),
            }),
        }
    }

    fn at(ms: u64) -> Now {
        Now::new(ms * MS, 0)
    }

    fn monitor() -> FundingMonitor {
        FundingMonitor::new(
            2,
            Ttls::from_ms(60_000, 5_000),
            8 * 3_600_000,
            &[
                (v("binance-spot"), InstrumentId(0), PairId(0)),
                (v("binance-perp"), InstrumentId(0), PairId(0)),
                (v("binance-perp"), InstrumentId(0), PairId(1)),
                (v("bybit-perp"), InstrumentId(0), PairId(1)),
                (v("bybit-perp"), InstrumentId(1), PairId(2)),
            ],
        )
    }

    #[test]
    fn only_subscribed_streams_are_kept() {
        let mut m = monitor();
        assert_eq!(
            m.apply(&quote_ev("okx-perp", 0, 1), at(1)),
            Applied::Unsubscribed
        );
        assert_eq!(
            m.apply(&quote_ev("binance-perp", 1, 1), at(1)),
            Applied::Unsubscribed
        );
        assert_eq!(
            m.apply(&quote_ev("binance-perp", 9, 1), at(1)),
            Applied::Unsubscribed
        );
        assert_eq!(
            m.apply(&funding_ev("binance-spot", 0, 1, 1, 0), at(1)),
            Applied::SpotFunding
        );
        assert!(m.quote(v("okx-perp"), InstrumentId(0)).is_none());
        assert_eq!(
            m.pairs_for(v("binance-perp"), InstrumentId(0)),
            &[PairId(0), PairId(1)]
        );
        assert_eq!(m.pairs_for(v("bybit-perp"), InstrumentId(1)), &[PairId(2)]);
        assert_eq!(
            m.pairs_for(v("okx-perp"), InstrumentId(0)),
            &[] as &[PairId]
        );
        assert_eq!(m.pairs_on_venue(v("bybit-perp")), &[PairId(1), PairId(2)]);
        assert_eq!(m.subscribed().count(), 4);
    }

    #[test]
    fn perp_needs_funding_and_quote_spot_needs_quote_only() {
        let mut m = monitor();
        let (spot, perp) = (v("binance-spot"), v("binance-perp"));
        let i = InstrumentId(0);
        assert_eq!(m.leg_problem(spot, i, at(0)), Some(LegProblem::Missing));
        m.apply(&quote_ev("binance-spot", 0, 1_000), at(1_000));
        m.apply(&quote_ev("binance-perp", 0, 1_000), at(1_000));
        assert!(
            !m.is_stale(spot, i, at(1_000)),
            "a spot leg needs no funding"
        );
        assert_eq!(m.leg_problem(perp, i, at(1_000)), Some(LegProblem::Missing));
        m.apply(&funding_ev("binance-perp", 0, 1_000, 10, 0), at(1_000));
        assert!(!m.is_stale(perp, i, at(1_000)));
        // Quote TTL 5 s, funding TTL 60 s.
        assert!(!m.is_stale(spot, i, at(6_000)));
        assert_eq!(m.leg_problem(spot, i, at(6_001)), Some(LegProblem::Stale));
        assert_eq!(m.leg_problem(perp, i, at(6_001)), Some(LegProblem::Stale));
        m.apply(&quote_ev("binance-perp", 0, 30_000), at(30_000));
        assert!(
            !m.is_stale(perp, i, at(30_000)),
            "funding 29 s old is within 60 s"
        );
        m.apply(&quote_ev("binance-perp", 0, 61_500), at(61_500));
        assert!(m.is_stale(perp, i, at(61_500)), "funding 60.5 s old");
        assert_eq!(
            m.age_ms(perp, i, StreamKind::Funding, at(61_500)),
            Some(60_500)
        );
        assert_eq!(m.age_ms(perp, i, StreamKind::Quote, at(61_500)), Some(0));
        assert_eq!(m.mark_price(perp, i), Some(d("100.5")));
        assert_eq!(
            m.mark_price(spot, i),
            Some(d("100.5")),
            "spot: mid of 100/101"
        );
    }

    #[test]
    fn feed_reset_marks_the_venue_stale_until_each_kind_resumes() {
        let mut m = monitor();
        let perp = v("binance-perp");
        let i = InstrumentId(0);
        m.apply(&quote_ev("binance-spot", 0, 1_000), at(1_000));
        m.apply(&quote_ev("binance-perp", 0, 1_000), at(1_000));
        m.apply(&funding_ev("binance-perp", 0, 1_000, 10, 0), at(1_000));
        let reset = MarketEvent {
            venue: perp,
            instrument: InstrumentId(0),
            ts_ms: 11,
            recv_ns: 1_100 * MS,
            kind: MarketEventKind::FeedReset,
        };
        assert_eq!(m.apply(&reset, at(1_100)), Applied::Reset(1));
        assert_eq!(m.leg_problem(perp, i, at(1_100)), Some(LegProblem::Reset));
        assert!(
            !m.is_stale(v("binance-spot"), i, at(1_100)),
            "other venue untouched"
        );
        m.apply(&quote_ev("binance-perp", 0, 1_200), at(1_200));
        assert_eq!(
            m.leg_problem(perp, i, at(1_200)),
            Some(LegProblem::Reset),
            "funding still reset"
        );
        m.apply(&funding_ev("binance-perp", 0, 1_300, 12, 0), at(1_300));
        assert_eq!(m.leg_problem(perp, i, at(1_300)), None);
    }

    #[test]
    fn funding_out_of_order_is_dropped_and_bad_quotes_too() {
        let mut m = monitor();
        let perp = v("binance-perp");
        m.apply(&funding_ev("binance-perp", 0, 1, 2_000, 0), at(1));
        assert_eq!(
            m.apply(&funding_ev("binance-perp", 0, 2, 1_999, 0), at(2)),
            Applied::OutOfOrder
        );
        assert_eq!(m.funding(perp, InstrumentId(0)).unwrap().ts_ms, 2_000);
        let mut bad = quote_ev("binance-perp", 0, 3);
        if let MarketEventKind::Quote(q) = &mut bad.kind {
            q.bid = d("102");
        }
        assert_eq!(m.apply(&bad, at(3)), Applied::BadQuote);
        assert!(m.quote(perp, InstrumentId(0)).is_none());
    }

    #[test]
    fn interval_is_learned_from_the_schedule_and_kept_across_resets() {
        let mut m = monitor();
        let perp = v("bybit-perp");
        let h = 3_600_000i64;
        let t0 = 1_715_760_000_000i64;
        m.apply(&funding_ev("bybit-perp", 1, 1, 1, t0 + 4 * h), at(1));
        assert_eq!(m.interval_ms(perp, InstrumentId(1)), Some(8 * 3_600_000));
        m.apply(&funding_ev("bybit-perp", 1, 2, 2, t0 + 8 * h), at(2));
        let f = m.funding(perp, InstrumentId(1)).unwrap();
        assert_eq!(
            (f.interval_ms, f.interval_source),
            (4 * 3_600_000, IntervalSource::Schedule)
        );
        assert_eq!(f.periods_per_year, d("2190"));
    }
}

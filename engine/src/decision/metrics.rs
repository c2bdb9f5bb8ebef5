//! Gauges and counters of the decision half, as plain data for the admin socket: the lead reads
//! [`Metrics`] on the engine thread (after [`crate::decision::decider::Decider::refresh_metrics`], a few
//! times a second) and renders it elsewhere. Nothing here formats or allocates on the hot path:
//! counters are array slots indexed by small enums, gauges are recomputed on refresh into vectors
//! sized at start. Labels are low-cardinality: venue ids, configured pair names, enum labels.
//! Gauges are `f64` (they are read by people and Prometheus, never by the strategy).

use crate::decision::breaker::{BreakerKind, BREAKER_KIND_COUNT};
use crate::decision::command::OperatorCommand;
use crate::decision::pair::Orientation;
use crate::decision::strategy::{RejectReason, REJECT_REASON_COUNT};
use crate::decision::target::{PairId, TargetReason};
use crate::market::funding::{Applied, LegProblem};
use crate::market::instrument::InstrumentId;
use crate::market::interval::IntervalSource;
use crate::market::venue::{Venue, VENUE_COUNT};

/// Target reasons in counter order.
pub const TARGET_REASONS: [TargetReason; 4] = [
    TargetReason::Enter,
    TargetReason::Exit,
    TargetReason::ForceExit,
    TargetReason::Flatten,
];

/// The position of a target reason in [`TARGET_REASONS`] and the decision counters.
pub const fn target_reason_index(r: TargetReason) -> usize {
    match r {
        TargetReason::Enter => 0,
        TargetReason::Exit => 1,
        TargetReason::ForceExit => 2,
        TargetReason::Flatten => 3,
    }
}

/// Why an evaluation produced no target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The journal failed: nothing is decided.
    Halted,
    /// A cycle is in flight for the pair (execution's), and nothing forces an exit.
    InFlight,
    /// A leg is missing, reset or stale: no spread, no decision.
    NoSpread,
    /// Entries are paused (operator, flatten, leftover exposure, venue rejects).
    EntriesPaused,
    /// Flat, and the best net APR is below `entry_apr`.
    BelowEntry,
    /// Open, and the carry still pays above `exit_apr`.
    Holding,
}

/// Number of skip reasons; the length of per-reason counters.
pub const SKIP_REASON_COUNT: usize = 6;

impl SkipReason {
    /// Every skip reason, in index order.
    pub const ALL: [SkipReason; SKIP_REASON_COUNT] = [
        SkipReason::Halted,
        SkipReason::InFlight,
        SkipReason::NoSpread,
        SkipReason::EntriesPaused,
        SkipReason::BelowEntry,
        SkipReason::Holding,
    ];

    /// The reason's position in per-reason counters.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The reason's metric label (`below_entry`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SkipReason::Halted => "halted",
            SkipReason::InFlight => "in_flight",
            SkipReason::NoSpread => "no_spread",
            SkipReason::EntriesPaused => "entries_paused",
            SkipReason::BelowEntry => "below_entry",
            SkipReason::Holding => "holding",
        }
    }
}

/// What became of market events, by [`Applied`] outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventOutcome {
    /// A funding update was kept.
    Funding,
    /// A quote was kept.
    Quote,
    /// A feed reset marked streams stale.
    FeedReset,
    /// No pair subscribed to the stream.
    Unsubscribed,
    /// Funding on a spot market.
    SpotFunding,
    /// Funding older than what is held.
    OutOfOrder,
    /// A quote that cannot be right (crossed, non-positive price, negative size).
    BadQuote,
}

/// Number of event outcomes; the length of per-outcome counters.
pub const EVENT_OUTCOME_COUNT: usize = 7;

impl EventOutcome {
    /// Every outcome, in index order.
    pub const ALL: [EventOutcome; EVENT_OUTCOME_COUNT] = [
        EventOutcome::Funding,
        EventOutcome::Quote,
        EventOutcome::FeedReset,
        EventOutcome::Unsubscribed,
        EventOutcome::SpotFunding,
        EventOutcome::OutOfOrder,
        EventOutcome::BadQuote,
    ];

    /// The outcome's position in per-outcome counters.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The outcome's metric label (`out_of_order`).
    pub const fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Funding => "funding",
            EventOutcome::Quote => "quote",
            EventOutcome::FeedReset => "feed_reset",
            EventOutcome::Unsubscribed => "unsubscribed",
            EventOutcome::SpotFunding => "spot_funding",
            EventOutcome::OutOfOrder => "out_of_order",
            EventOutcome::BadQuote => "bad_quote",
        }
    }

    /// The counter an [`Applied`] result goes to.
    pub const fn of(a: Applied) -> EventOutcome {
        match a {
            Applied::Funding => EventOutcome::Funding,
            Applied::Quote => EventOutcome::Quote,
            Applied::Reset(_) => EventOutcome::FeedReset,
            Applied::Unsubscribed => EventOutcome::Unsubscribed,
            Applied::SpotFunding => EventOutcome::SpotFunding,
            Applied::OutOfOrder => EventOutcome::OutOfOrder,
            Applied::BadQuote => EventOutcome::BadQuote,
        }
    }
}

/// Monotonic counters, updated live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Per venue, by [`EventOutcome`] index.
    pub events: [[u64; EVENT_OUTCOME_COUNT]; VENUE_COUNT],
    /// Pair evaluations run.
    pub evaluations: u64,
    /// Targets emitted, by [`target_reason_index`].
    pub decisions: [u64; 4],
    /// Targets refused by validation, by [`RejectReason::index`].
    pub rejections: [u64; REJECT_REASON_COUNT],
    /// Evaluations without a target, by [`SkipReason::index`].
    pub skips: [u64; SKIP_REASON_COUNT],
    /// Breaker trips, by [`BreakerKind::index`].
    pub breaker_trips: [u64; BREAKER_KIND_COUNT],
    /// Rejects and retries reported by execution, per venue.
    pub venue_rejects: [u64; VENUE_COUNT],
    /// The same for retries.
    pub venue_retries: [u64; VENUE_COUNT],
    /// By [`OperatorCommand::index`].
    pub commands: [u64; 3],
}

impl Counters {
    /// Counts a market event's outcome on its venue.
    pub fn event(&mut self, venue: Venue, outcome: EventOutcome) {
        self.events[venue.index()][outcome.index()] += 1;
    }

    /// Counts a target emitted.
    pub fn decision(&mut self, r: TargetReason) {
        self.decisions[target_reason_index(r)] += 1;
    }

    /// Counts a target refused.
    pub fn rejection(&mut self, r: RejectReason) {
        self.rejections[r.index()] += 1;
    }

    /// Counts an evaluation without a target.
    pub fn skip(&mut self, r: SkipReason) {
        self.skips[r.index()] += 1;
    }

    /// Counts an operator command.
    pub fn command(&mut self, c: OperatorCommand) {
        self.commands[c.index()] += 1;
    }

    /// Events of one outcome over all venues.
    pub fn events_total(&self, outcome: EventOutcome) -> u64 {
        self.events.iter().map(|v| v[outcome.index()]).sum()
    }
}

/// Spread gauges of one pair, for its held orientation (or, when flat, its best one).
#[derive(Clone, Debug, PartialEq)]
pub struct PairGauges {
    /// The pair.
    pub pair: PairId,
    /// Configured name (label).
    pub name: String,
    /// Its instrument.
    pub instrument: InstrumentId,
    /// The orientation shown; `None` when no orientation has a spread.
    pub orientation: Option<Orientation>,
    /// Whether the pair holds a position.
    pub open: bool,
    /// The long leg's per-interval funding rate.
    pub long_rate: Option<f64>,
    /// The short leg's per-interval funding rate.
    pub short_rate: Option<f64>,
    /// `short_rate − long_rate`.
    pub spread: Option<f64>,
    /// Each leg annualized on its own interval, `short − long`.
    pub gross_apr: Option<f64>,
    /// Gross APR less round-trip costs annualized over the holding time.
    pub net_apr: Option<f64>,
    /// Why the shown orientation has no spread.
    pub leg_problem: Option<LegProblem>,
    /// Why the last evaluation emitted nothing.
    pub last_skip: Option<SkipReason>,
    /// A force-exit breaker tripped on the pair.
    pub force_exit: Option<BreakerKind>,
}

/// Freshness of one subscribed stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StreamGauges {
    /// The stream's venue.
    pub venue: Venue,
    /// Its instrument.
    pub instrument: InstrumentId,
    /// Age of the latest funding (perps), if any arrived.
    pub funding_age_ms: Option<u64>,
    /// Age of the latest quote, if any arrived.
    pub quote_age_ms: Option<u64>,
    /// Why the stream is not usable, if it is not.
    pub problem: Option<LegProblem>,
    /// Perps: the funding interval in use and where it came from.
    pub interval_ms: Option<u64>,
    /// Where the interval came from.
    pub interval_source: Option<IntervalSource>,
}

/// Exposure of one instrument over all venues.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExposureGauges {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Spot holdings, base units.
    pub spot_qty: f64,
    /// Perp positions, base units.
    pub perp_qty: f64,
    /// Spot plus perp: what a price move gains or loses per unit.
    pub net_delta: f64,
    /// Notional summed over legs, each at its own price.
    pub gross_notional: f64,
}

/// Margin state of one open perp position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LegRiskGauges {
    /// The perp venue.
    pub venue: Venue,
    /// Its instrument.
    pub instrument: InstrumentId,
    /// Signed base units.
    pub qty: f64,
    /// Average entry price.
    pub entry_price: f64,
    /// The price the risk is assessed at.
    pub mark_price: f64,
    /// Where the position would be liquidated.
    pub liquidation_price: f64,
    /// How far the mark may still move against the position, as a fraction of mark.
    pub liquidation_distance: f64,
    /// `None`: equity exhausted.
    pub margin_ratio: Option<f64>,
}

/// Everything the decision half reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Per pair, in pair order.
    pub pairs: Vec<PairGauges>,
    /// Per subscribed stream.
    pub streams: Vec<StreamGauges>,
    /// Per instrument with a position.
    pub exposures: Vec<ExposureGauges>,
    /// Per open perp position.
    pub legs: Vec<LegRiskGauges>,
    /// Quote units: every pair's larger leg, summed (what `max_total_notional` limits).
    pub total_notional: f64,
    /// The live counters.
    pub counters: Counters,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::cycle::target_reason_str;

    #[test]
    fn indices_are_dense_and_labels_unique() {
        for (i, r) in TARGET_REASONS.into_iter().enumerate() {
            assert_eq!(target_reason_index(r), i);
        }
        for (i, s) in SkipReason::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
        }
        for (i, e) in EventOutcome::ALL.into_iter().enumerate() {
            assert_eq!(e.index(), i);
        }
        for (i, r) in RejectReason::ALL.into_iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        // Each set labels one metric: unique within the set, Prometheus-friendly.
        let sets: [Vec<&str>; 5] = [
            SkipReason::ALL.iter().map(|s| s.as_str()).collect(),
            EventOutcome::ALL.iter().map(|s| s.as_str()).collect(),
            RejectReason::ALL.iter().map(|s| s.as_str()).collect(),
            TARGET_REASONS
                .iter()
                .map(|r| target_reason_str(*r))
                .collect(),
            BreakerKind::ALL.iter().map(|k| k.as_str()).collect(),
        ];
        for labels in &sets {
            let unique: std::collections::HashSet<&&str> = labels.iter().collect();
            assert_eq!(unique.len(), labels.len(), "{labels:?}");
            for l in labels {
                assert!(
                    l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{l}"
                );
            }
        }
        let mut c = Counters::default();
        c.event(Venue::ALL[3], EventOutcome::Quote);
        c.event(Venue::ALL[4], EventOutcome::Quote);
        assert_eq!(c.events_total(EventOutcome::Quote), 2);
        assert_eq!(c.events_total(EventOutcome::Funding), 0);
    }
}

//! The strategy's output and the reconciler's input: the position a pair wants on each leg.
//! Targets are states, not actions (DESIGN.md principle 5): the reconciler turns the gap between a
//! target and the confirmed positions and working orders into order intents.

use rust_decimal::Decimal;

use crate::market::instrument::InstrumentId;
use crate::market::venue::Venue;

/// Index of a configured pair; dense from 0 in configuration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairId(pub u16);

impl PairId {
    /// The pair's position in the pair table, for per-pair arrays.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The wanted position on one leg, in base units: positive long, negative short, zero flat.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LegTarget {
    /// The venue the leg trades on.
    pub venue: Venue,
    /// The position the leg wants, in signed base units (positive long).
    pub qty: Decimal,
}

/// Why a target was emitted; low-cardinality, used for journaling and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetReason {
    /// Net edge crossed the entry threshold.
    Enter,
    /// Net edge fell below the exit threshold or the spread flipped sign.
    Exit,
    /// A breaker forced the pair out (liquidation distance, margin ratio, leftover exposure).
    ForceExit,
    /// The operator asked for everything to be flat.
    Flatten,
}

/// The positions a pair wants: `long.qty >= 0`, `short.qty <= 0`; both zero means flat.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairTarget {
    /// The pair the target is for.
    pub pair: PairId,
    /// The pair's instrument.
    pub instrument: InstrumentId,
    /// What the long leg should hold.
    pub long: LegTarget,
    /// What the short leg should hold.
    pub short: LegTarget,
    /// Why the strategy wants this.
    pub reason: TargetReason,
}

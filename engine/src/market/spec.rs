//! What a venue says about how an instrument trades: price tick, quantity step, minimums, and the
//! contract size where the venue counts orders in contracts (OKX `ctVal`, Gate
//! `quanto_multiplier`). Feeds fetch these over REST at start; the reconciler rounds with them.

use rust_decimal::Decimal;

use crate::market::instrument::InstrumentId;
use crate::market::venue::{Venue, VENUE_COUNT};

/// Trading rules of one instrument on one venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Smallest price increment.
    pub tick_size: Decimal,
    /// Smallest quantity increment, in the venue's order unit (contracts where `contract_size`
    /// is set, else base units).
    pub lot_size: Decimal,
    /// Smallest order quantity, in the venue's order unit.
    pub min_qty: Decimal,
    /// Smallest order notional in quote units, where the venue has one (0 = none).
    pub min_notional: Decimal,
    /// Base units per contract, where orders are sized in contracts.
    pub contract_size: Option<Decimal>,
}

/// Trading rules per (venue, instrument), indexed without hashing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpecTable {
    slots: Vec<Option<InstrumentSpec>>,
}

impl SpecTable {
    /// An empty table with room for `instruments` instruments on every venue.
    pub fn new(instruments: usize) -> SpecTable {
        SpecTable {
            slots: vec![None; instruments * VENUE_COUNT],
        }
    }

    /// The rules of (venue, instrument), if known.
    pub fn get(&self, venue: Venue, instrument: InstrumentId) -> Option<InstrumentSpec> {
        self.slots
            .get(instrument.index() * VENUE_COUNT + venue.index())
            .copied()
            .flatten()
    }

    /// Sets the rules of (venue, instrument), growing the table for an instrument beyond its size.
    pub fn set(&mut self, venue: Venue, instrument: InstrumentId, spec: InstrumentSpec) {
        let i = instrument.index() * VENUE_COUNT + venue.index();
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(spec);
    }

    /// Every (venue, instrument, rules) known, by instrument then venue.
    pub fn iter(&self) -> impl Iterator<Item = (Venue, InstrumentId, InstrumentSpec)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.map(|s| {
                (
                    Venue::ALL[i % VENUE_COUNT],
                    InstrumentId((i / VENUE_COUNT) as u16),
                    s,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table_indexes_by_venue_and_instrument() {
        let mut t = SpecTable::new(1);
        let spec = InstrumentSpec {
            tick_size: Decimal::ONE,
            lot_size: Decimal::ONE,
            min_qty: Decimal::ONE,
            min_notional: Decimal::ZERO,
            contract_size: None,
        };
        let v = Venue::ALL[3];
        t.set(v, InstrumentId(2), spec);
        assert_eq!(t.get(v, InstrumentId(2)), Some(spec));
        assert_eq!(t.get(Venue::ALL[2], InstrumentId(2)), None);
        assert_eq!(t.get(v, InstrumentId(7)), None);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            vec![(v, InstrumentId(2), spec)]
        );
    }
}

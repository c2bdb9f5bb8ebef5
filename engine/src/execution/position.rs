//! Confirmed positions per (venue, instrument), built only from fills. Execution applies fills;
//! risk and the strategy read. Quantities are signed base units (positive long, negative short);
//! the entry price is the average price of the open quantity.

use rust_decimal::Decimal;

use crate::market::instrument::InstrumentId;
use crate::market::venue::{Venue, VENUE_COUNT};

/// One leg's confirmed position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Signed base units: positive long, negative short.
    pub qty: Decimal,
    /// Average entry price of the open quantity; zero when flat.
    pub entry_price: Decimal,
    /// Profit realised by reducing fills, in quote units, before fees.
    pub realized_pnl: Decimal,
}

impl Position {
    /// Applies a fill of `qty` (signed: positive buys, negative sells) at `price`.
    ///
    /// ```
    /// use carry_engine::execution::position::Position;
    /// use rust_decimal::Decimal;
    /// let mut p = Position::default();
    /// p.apply_fill(Decimal::from(2), Decimal::from(100));
    /// p.apply_fill(Decimal::from(-1), Decimal::from(110));
    /// assert_eq!((p.qty, p.entry_price, p.realized_pnl), (1.into(), 100.into(), 10.into()));
    /// ```
    pub fn apply_fill(&mut self, qty: Decimal, price: Decimal) {
        if qty.is_zero() {
            return;
        }
        let same_direction =
            self.qty.is_zero() || (self.qty.is_sign_positive() == qty.is_sign_positive());
        if same_direction {
            let new_qty = self.qty + qty;
            self.entry_price =
                (self.entry_price * self.qty.abs() + price * qty.abs()) / new_qty.abs();
            self.qty = new_qty;
            return;
        }
        // Reducing (and possibly flipping): the closed part realises PnL at the old entry.
        let closed = qty.abs().min(self.qty.abs());
        let direction = if self.qty.is_sign_positive() {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        self.realized_pnl += (price - self.entry_price) * closed * direction;
        let new_qty = self.qty + qty;
        if new_qty.is_zero() {
            self.entry_price = Decimal::ZERO;
        } else if new_qty.is_sign_positive() != self.qty.is_sign_positive() {
            self.entry_price = price;
        }
        self.qty = new_qty;
    }

    /// Notional at `price`, in quote units, always non-negative.
    pub fn notional(&self, price: Decimal) -> Decimal {
        (self.qty * price).abs()
    }
}

/// Positions of every (venue, instrument), indexed without hashing, with the list of instruments
/// that hold any, so that sums over open positions cost what is open rather than what is
/// configured.
#[derive(Clone, Debug, Default)]
pub struct Positions {
    slots: Vec<Position>,
    /// Non-flat venues per instrument.
    open_legs: Vec<u16>,
    /// Instruments with a non-flat position on some venue, in the order they opened.
    open_instruments: Vec<InstrumentId>,
}

impl Positions {
    /// Room for `instruments` instruments on every venue.
    pub fn new(instruments: usize) -> Positions {
        Positions {
            slots: vec![Position::default(); instruments * VENUE_COUNT],
            open_legs: vec![0; instruments],
            open_instruments: Vec::with_capacity(instruments),
        }
    }

    fn slot(instrument: InstrumentId, venue: Venue) -> usize {
        instrument.index() * VENUE_COUNT + venue.index()
    }

    /// The position on (venue, instrument); flat where there is none.
    pub fn get(&self, venue: Venue, instrument: InstrumentId) -> Position {
        self.slots
            .get(Self::slot(instrument, venue))
            .copied()
            .unwrap_or_default()
    }

    /// Applies a signed fill; ignores instruments outside the configured range.
    pub fn apply_fill(
        &mut self,
        venue: Venue,
        instrument: InstrumentId,
        qty: Decimal,
        price: Decimal,
    ) {
        let Some(p) = self.slots.get_mut(Self::slot(instrument, venue)) else {
            return;
        };
        let was_open = !p.qty.is_zero();
        p.apply_fill(qty, price);
        let is_open = !p.qty.is_zero();
        let Some(legs) = self.open_legs.get_mut(instrument.index()) else {
            return;
        };
        match (was_open, is_open) {
            (false, true) => {
                *legs += 1;
                if *legs == 1 {
                    self.open_instruments.push(instrument);
                }
            }
            (true, false) => {
                *legs -= 1;
                if *legs == 0 {
                    self.open_instruments.retain(|&i| i != instrument);
                }
            }
            _ => {}
        }
    }

    /// Instruments holding a non-flat position on some venue.
    pub fn open_instruments(&self) -> &[InstrumentId] {
        &self.open_instruments
    }

    /// Every non-flat position.
    pub fn open(&self) -> impl Iterator<Item = (Venue, InstrumentId, Position)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.qty.is_zero())
            .map(|(i, p)| {
                (
                    Venue::ALL[i % VENUE_COUNT],
                    InstrumentId((i / VENUE_COUNT) as u16),
                    *p,
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn fills_table() {
        // (fills as (qty, price)), expected (qty, entry, realized)
        type Case<'a> = (&'a [(&'a str, &'a str)], (&'a str, &'a str, &'a str));
        let cases: &[Case] = &[
            (&[("1", "100")], ("1", "100", "0")),
            (&[("1", "100"), ("1", "110")], ("2", "105", "0")),
            (&[("-2", "100"), ("-2", "90")], ("-4", "95", "0")),
            (&[("2", "100"), ("-1", "90")], ("1", "100", "-10")),
            (&[("-2", "100"), ("1", "90")], ("-1", "100", "10")),
            (&[("1", "100"), ("-1", "120")], ("0", "0", "20")),
            (&[("1", "100"), ("-3", "120")], ("-2", "120", "20")),
            (&[("0", "100")], ("0", "0", "0")),
        ];
        for (fills, (qty, entry, pnl)) in cases {
            let mut p = Position::default();
            for (q, px) in fills.iter() {
                p.apply_fill(d(q), d(px));
            }
            assert_eq!(
                (p.qty, p.entry_price, p.realized_pnl),
                (d(qty), d(entry), d(pnl)),
                "{fills:?}"
            );
        }
    }

    #[test]
    fn open_instruments_follow_fills_in_and_out() {
        let mut book = Positions::new(3);
        let (a, b) = (Venue::ALL[0], Venue::ALL[5]);
        assert!(book.open_instruments().is_empty());
        book.apply_fill(a, InstrumentId(2), d("1"), d("10"));
        book.apply_fill(b, InstrumentId(2), d("-1"), d("10"));
        book.apply_fill(a, InstrumentId(0), d("3"), d("10"));
        assert_eq!(book.open_instruments(), &[InstrumentId(2), InstrumentId(0)]);
        // One leg of instrument 2 closes: it is still open on the other venue.
        book.apply_fill(a, InstrumentId(2), d("-1"), d("11"));
        assert_eq!(book.open_instruments(), &[InstrumentId(2), InstrumentId(0)]);
        book.apply_fill(b, InstrumentId(2), d("0.4"), d("11"));
        book.apply_fill(b, InstrumentId(2), d("0.6"), d("11"));
        assert_eq!(book.open_instruments(), &[InstrumentId(0)]);
        // Flipping through zero in one fill stays open; an instrument out of range is ignored.
        book.apply_fill(a, InstrumentId(0), d("-5"), d("9"));
        book.apply_fill(a, InstrumentId(7), d("1"), d("9"));
        assert_eq!(book.open_instruments(), &[InstrumentId(0)]);
        let listed: Vec<_> = book.open().map(|(_, i, _)| i).collect();
        assert_eq!(listed, vec![InstrumentId(0)]);
    }

    #[test]
    fn book_indexes_by_venue_and_instrument() {
        let mut book = Positions::new(2);
        let v = Venue::ALL[3];
        book.apply_fill(v, InstrumentId(1), d("-0.5"), d("20"));
        assert_eq!(book.get(v, InstrumentId(1)).qty, d("-0.5"));
        assert_eq!(book.get(v, InstrumentId(0)).qty, Decimal::ZERO);
        assert_eq!(book.get(Venue::ALL[2], InstrumentId(1)).qty, Decimal::ZERO);
        let open: Vec<_> = book.open().collect();
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].0, open[0].1), (v, InstrumentId(1)));
        assert_eq!(book.get(v, InstrumentId(1)).notional(d("30")), d("15"));
    }
}

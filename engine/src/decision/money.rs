//! The money math of a funding-rate carry, as small pure functions on exact decimals: annualizing
//! a funding rate on its own interval, the spread and APR of a pair of legs, and the net edge once
//! round-trip costs (fees, crossing the book, adverse basis) are spread over the expected holding
//! time. Each function has a table test whose cases can be checked by hand.
//!
//! Sign convention (the venues' own): a positive funding rate means longs pay shorts. A pair is
//! long one leg and short the other, so it earns `rate(short) − rate(long)` per interval; a spot
//! leg has no funding (rate 0).

use rust_decimal::Decimal;

use crate::config::Crossing;
use crate::market::event::Quote;

/// Milliseconds in the 365-day year funding APRs are quoted on.
pub const MS_PER_YEAR: u64 = 365 * 24 * 3_600_000;
/// Hours in that year.
pub const HOURS_PER_YEAR: u32 = 365 * 24;

const HALF: Decimal = Decimal::from_parts(5, 0, 0, false, 1);

/// `(bid + ask) / 2`, computed as a multiplication (exact, and cheaper on the hot path).
pub fn mid(q: &Quote) -> Decimal {
    (q.bid + q.ask) * HALF
}

/// Intervals per year for a funding interval: 8760 for 1 h, 2190 for 4 h, 1095 for 8 h.
/// `interval_ms` must be non-zero (the interval tracker never yields 0).
pub fn periods_per_year(interval_ms: u64) -> Decimal {
    Decimal::from(MS_PER_YEAR) / Decimal::from(interval_ms.max(1))
}

/// A per-interval funding rate as a yearly rate: `rate × 365 × 24 h / interval`.
pub fn annualize(rate: Decimal, interval_ms: u64) -> Decimal {
    rate * periods_per_year(interval_ms)
}

/// One leg's funding as the strategy sees it: the rate it applies and the interval it settles on.
/// A spot leg is `LegRate::SPOT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegRate {
    /// Per interval, not annualized; positive means longs pay shorts.
    pub rate: Decimal,
    /// The settlement interval the rate applies to, in ms.
    pub interval_ms: u64,
}

impl LegRate {
    /// A spot leg: no funding. The interval is irrelevant with a zero rate.
    pub const SPOT: LegRate = LegRate {
        rate: Decimal::ZERO,
        interval_ms: 8 * 3_600_000,
    };

    /// The rate annualized on its own interval.
    pub fn apr(&self) -> Decimal {
        annualize(self.rate, self.interval_ms)
    }
}

/// Spread per interval, `rate(short) − rate(long)`: what the pair earns per settlement when both
/// legs settle on the same interval. Positive is income.
pub fn spread(long: LegRate, short: LegRate) -> Decimal {
    short.rate - long.rate
}

/// Gross APR of a pair: each leg annualized on its own interval, then `short − long`.
pub fn spread_apr(long: LegRate, short: LegRate) -> Decimal {
    short.apr() - long.apr()
}

/// Fraction of mid paid to cross one leg's book once. `HalfSpread`: `(ask − bid) / (ask + bid)`
/// (mid to touch); `FullSpread`: twice that. `None` for an empty or crossed book.
pub fn crossing_cost(q: &Quote, crossing: Crossing) -> Option<Decimal> {
    let width = crossing_width(q, crossing)?;
    Some(width / mid(q))
}

/// Quote units per base unit paid to cross one leg's book once (see [`crossing_cost`]).
pub fn crossing_width(q: &Quote, crossing: Crossing) -> Option<Decimal> {
    if q.bid <= Decimal::ZERO || q.ask < q.bid {
        return None;
    }
    let width = q.ask - q.bid;
    Some(match crossing {
        // Multiplying by 0.5 is exact and much cheaper than dividing by 2.
        Crossing::HalfSpread => width * HALF,
        Crossing::FullSpread => width,
    })
}

/// Adverse basis as a fraction of the long leg's price: buying the long leg dearer than the short
/// leg sells loses `long − short` when the two converge. A favourable basis is not counted as
/// income, because nothing makes it converge within the holding time.
pub fn adverse_basis(long_price: Decimal, short_price: Decimal) -> Decimal {
    if long_price <= short_price || long_price <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    (long_price - short_price) / long_price
}

/// The inputs of a round trip (enter, then exit, both legs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundTrip {
    /// Fee per fill on the long leg's venue plus the short leg's, as fractions of notional.
    pub fees: Decimal,
    /// One crossing of each leg's book, in quote units per base unit ([`crossing_width`]).
    pub width_long: Decimal,
    /// The same for the short leg.
    pub width_short: Decimal,
    /// Each leg's reference price (a perp's mark, else mid), for the basis.
    pub long_price: Decimal,
    /// The short leg's reference price.
    pub short_price: Decimal,
    /// The price notional is measured at (the long leg's mid).
    pub reference: Decimal,
}

impl RoundTrip {
    /// Total cost as a fraction of notional: each leg trades twice (in and out), paying its fee
    /// and one crossing each time, and an adverse basis (`long − short`, when positive) is lost
    /// once. The exit is assumed to meet the same book as the entry: the only one we can see.
    /// Quote amounts are summed first and divided once by `reference`: the legs of one
    /// instrument trade within a basis of each other, so one reference price is exact enough
    /// for a cost estimate and keeps the hot path to one division.
    pub fn cost(&self) -> Decimal {
        let mut quote = Decimal::TWO * (self.width_long + self.width_short);
        if self.long_price > self.short_price {
            quote += self.long_price - self.short_price;
        }
        let crossing_and_basis = if self.reference > Decimal::ZERO {
            quote / self.reference
        } else {
            Decimal::ZERO
        };
        Decimal::TWO * self.fees + crossing_and_basis
    }
}

/// A one-off cost (fraction of notional) spread over the holding time, as a yearly rate:
/// `cost × 8760 / holding_hours`.
pub fn cost_apr(cost: Decimal, holding_hours: Decimal) -> Decimal {
    cost * Decimal::from(HOURS_PER_YEAR) / holding_hours
}

/// Net APR: gross spread APR less annualized round-trip costs and, for a margin-short spot leg,
/// its borrow rate.
pub fn net_apr(gross_apr: Decimal, cost_apr: Decimal, borrow_apr: Decimal) -> Decimal {
    gross_apr - cost_apr - borrow_apr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const H: u64 = 3_600_000;

    fn leg(rate: &str, hours: u64) -> LegRate {
        LegRate {
            rate: d(rate),
            interval_ms: hours * H,
        }
    }

    #[test]
    fn annualize_table() {
        // (rate, interval hours, APR): 1 bp per 8 h is 1095 bp a year, per 1 h 8760 bp.
        let cases = [
            ("0.0001", 8, "0.1095"),
            ("0.0001", 4, "0.219"),
            ("0.0001", 1, "0.876"),
            ("-0.0001", 8, "-0.1095"),
            ("0.0003", 2, "1.314"),
            ("0", 8, "0"),
        ];
        for (rate, hours, apr) in cases {
            assert_eq!(
                annualize(d(rate), hours * H),
                d(apr),
                "{rate} per {hours} h"
            );
        }
        assert_eq!(periods_per_year(8 * H), d("1095"));
        assert_eq!(periods_per_year(H), d("8760"));
    }

    /// Who pays whom: positive rates mean longs pay shorts. The pair earns what its short leg
    /// receives minus what its long leg pays.
    #[test]
    fn sign_matrix() {
        // (long rate, short rate, spread, reading)
        let cases = [
            (
                "0.0001",
                "0.0003",
                "0.0002",
                "both positive: short receives 3, long pays 1",
            ),
            (
                "0.0003",
                "0.0001",
                "-0.0002",
                "both positive, wrong way round: pay 3, receive 1",
            ),
            (
                "-0.0001",
                "0.0002",
                "0.0003",
                "long receives 1 (negative), short receives 2",
            ),
            (
                "0.0001",
                "-0.0002",
                "-0.0003",
                "long pays 1, short pays 2 (negative)",
            ),
            (
                "-0.0002",
                "-0.0001",
                "0.0001",
                "both negative: long receives 2, short pays 1",
            ),
            (
                "-0.0001",
                "-0.0002",
                "-0.0001",
                "both negative: long receives 1, short pays 2",
            ),
            (
                "0",
                "0.0002",
                "0.0002",
                "spot long, perp short at +2: the classic carry",
            ),
            (
                "-0.0002",
                "0",
                "0.0002",
                "perp long at −2, spot margin-short: reverse carry",
            ),
            (
                "0",
                "-0.0002",
                "-0.0002",
                "spot long, perp short at −2: the short pays",
            ),
        ];
        for (long, short, expected, reading) in cases {
            let (l, s) = (leg(long, 8), leg(short, 8));
            assert_eq!(spread(l, s), d(expected), "{reading}");
            assert_eq!(spread_apr(l, s), d(expected) * d("1095"), "{reading}");
        }
    }

    #[test]
    fn legs_on_different_intervals_are_annualized_separately() {
        // Long 1 bp per 8 h (10.95 %), short 1 bp per 4 h (21.9 %): +10.95 %, although the raw
        // per-interval spread is zero.
        let (l, s) = (leg("0.0001", 8), leg("0.0001", 4));
        assert_eq!(spread(l, s), Decimal::ZERO);
        assert_eq!(spread_apr(l, s), d("0.1095"));
        // Spot long against a 1 h perp at 0.5 bp: 0.00005 × 8760.
        assert_eq!(spread_apr(LegRate::SPOT, leg("0.00005", 1)), d("0.438"));
    }

    fn quote(bid: &str, ask: &str) -> Quote {
        Quote {
            bid: d(bid),
            bid_qty: Decimal::ONE,
            ask: d(ask),
            ask_qty: Decimal::ONE,
        }
    }

    #[test]
    fn crossing_table() {
        // Bid 99.9, ask 100.1: mid 100, half-spread 0.1 = 10 bp, full 20 bp.
        let q = quote("99.9", "100.1");
        assert_eq!(crossing_cost(&q, Crossing::HalfSpread), Some(d("0.001")));
        assert_eq!(crossing_cost(&q, Crossing::FullSpread), Some(d("0.002")));
        assert_eq!(crossing_width(&q, Crossing::HalfSpread), Some(d("0.1")));
        assert_eq!(mid(&q), q.mid());
        assert_eq!(mid(&quote("0.00001", "0.00002")), d("0.000015"));
        // A locked book costs nothing to cross; a crossed or empty one is not a price.
        assert_eq!(
            crossing_cost(&quote("100", "100"), Crossing::HalfSpread),
            Some(Decimal::ZERO)
        );
        assert_eq!(
            crossing_cost(&quote("100.2", "100"), Crossing::HalfSpread),
            None
        );
        assert_eq!(
            crossing_cost(&quote("0", "100"), Crossing::HalfSpread),
            None
        );
    }

    #[test]
    fn basis_table() {
        // (long price, short price, adverse basis)
        let cases = [
            ("100", "100", "0"),
            ("100", "100.5", "0"), // short sells dearer: favourable, not counted
            ("100.5", "100", "0.004975124378109452736318408"), // 0.5 / 100.5
            ("200", "199", "0.005"),
        ];
        for (long, short, expected) in cases {
            assert_eq!(
                adverse_basis(d(long), d(short)),
                d(expected),
                "{long} vs {short}"
            );
        }
    }

    #[test]
    fn net_edge_table() {
        // Taker 5 bp on both venues; each book 0.02 wide at 100 (half-spread 0.01 = 1 bp);
        // no basis. Round trip = 2 × (5 + 5) bp + 2 × (1 + 1) bp = 24 bp.
        let rt = RoundTrip {
            fees: d("0.001"),
            width_long: d("0.01"),
            width_short: d("0.01"),
            long_price: d("100"),
            short_price: d("100"),
            reference: d("100"),
        };
        assert_eq!(rt.cost(), d("0.0024"));
        // Held 3 days (72 h): 24 bp × 8760 / 72 = 292 bp a year.
        assert_eq!(cost_apr(rt.cost(), d("72")), d("0.292"));
        // Held 30 days: 24 bp × 8760 / 720 = 29.2 bp a year.
        assert_eq!(cost_apr(rt.cost(), d("720")), d("0.0292"));
        // Gross 3 bp per 8 h = 32.85 %; net over 72 h = 32.85 − 29.2 = 3.65 %.
        let gross = spread_apr(LegRate::SPOT, leg("0.0003", 8));
        assert_eq!(gross, d("0.3285"));
        assert_eq!(
            net_apr(gross, cost_apr(rt.cost(), d("72")), Decimal::ZERO),
            d("0.0365")
        );
        // A margin-short spot leg borrowing at 5 % a year.
        assert_eq!(net_apr(d("0.2"), d("0.05"), d("0.05")), d("0.1"));
        // Long leg 0.1 dearer than the short leg: 10 bp of adverse basis, once.
        let adverse = RoundTrip {
            long_price: d("100.1"),
            ..rt
        };
        assert_eq!(adverse.cost(), d("0.0034"));
        // The short leg dearer is favourable and not counted.
        let favourable = RoundTrip {
            short_price: d("100.1"),
            ..rt
        };
        assert_eq!(favourable.cost(), d("0.0024"));
        // Maker rebates can make fees negative; crossing still costs.
        let rebate = RoundTrip {
            fees: d("-0.0002"),
            ..rt
        };
        assert_eq!(rebate.cost(), d("0"));
    }
}

//! The trading rules a simulated venue checks before it accepts an order, as pure functions: the
//! tick and lot grid, minimum and maximum quantity, minimum notional, and the price bands that
//! keep a limit price near the market (Binance `PERCENT_PRICE`, OKX price limits). Each venue
//! module maps a [`RuleBreak`] to its own code and message.
//!
//! Quantities are in the venue's order unit (contracts on OKX swaps and Gate futures, base units
//! elsewhere); notional multiplies by the contract size.

use rust_decimal::{Decimal, RoundingStrategy};

use super::listing::VenueListing;

/// An instrument's rules on one venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OrderRules {
    pub tick: Decimal,
    pub lot: Decimal,
    pub min_qty: Decimal,
    pub max_qty: Decimal,
    pub min_notional: Decimal,
    /// Base units per order unit (1 where the venue trades base units).
    pub contract_size: Decimal,
}

impl OrderRules {
    pub fn of(listing: &VenueListing) -> OrderRules {
        let s = &listing.spec;
        OrderRules {
            tick: s.tick_size,
            lot: s.lot_size,
            min_qty: s.min_qty,
            max_qty: listing.max_qty,
            min_notional: s.min_notional,
            contract_size: s.contract_size.unwrap_or(Decimal::ONE),
        }
    }

    /// Quote value of `qty` order units at `price`.
    pub fn notional(&self, qty: Decimal, price: Decimal) -> Decimal {
        qty * self.contract_size * price
    }
}

/// Why an order breaks the rules; the first rule broken, in the order venues check them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RuleBreak {
    QtyNotPositive,
    QtyOffLot,
    QtyBelowMin,
    QtyAboveMax,
    PriceNotPositive,
    PriceOffTick,
    NotionalBelowMin,
    /// A buy above the band's high (carries the high).
    PriceAboveBand(Decimal),
    /// A sell below the band's low (carries the low).
    PriceBelowBand(Decimal),
}

/// True when `value` is a whole multiple of `step` (a zero step accepts anything).
pub(crate) fn on_grid(value: Decimal, step: Decimal) -> bool {
    step.is_zero() || (value % step).is_zero()
}

/// Checks quantity, price and notional; `band` (if the venue has one) bounds buys from above
/// and sells from below.
pub(crate) fn check(
    rules: &OrderRules,
    qty: Decimal,
    price: Decimal,
    buy: bool,
    band: Option<Band>,
) -> Result<(), RuleBreak> {
    if qty <= Decimal::ZERO {
        return Err(RuleBreak::QtyNotPositive);
    }
    if !on_grid(qty, rules.lot) {
        return Err(RuleBreak::QtyOffLot);
    }
    if qty < rules.min_qty {
        return Err(RuleBreak::QtyBelowMin);
    }
    if qty > rules.max_qty {
        return Err(RuleBreak::QtyAboveMax);
    }
    if price <= Decimal::ZERO {
        return Err(RuleBreak::PriceNotPositive);
    }
    if !on_grid(price, rules.tick) {
        return Err(RuleBreak::PriceOffTick);
    }
    if rules.notional(qty, price) < rules.min_notional {
        return Err(RuleBreak::NotionalBelowMin);
    }
    if let Some(b) = band {
        if buy && price > b.high {
            return Err(RuleBreak::PriceAboveBand(b.high));
        }
        if !buy && price < b.low {
            return Err(RuleBreak::PriceBelowBand(b.low));
        }
    }
    Ok(())
}

/// The prices a venue accepts around a reference: `[low, high]`, both on the tick grid and
/// inside the exact band (the high rounds down, the low up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Band {
    pub low: Decimal,
    pub high: Decimal,
}

impl Band {
    /// `reference × down ..= reference × up`, on `tick`.
    pub fn around(reference: Decimal, down: Decimal, up: Decimal, tick: Decimal) -> Band {
        Band {
            low: to_tick(reference * down, tick, RoundingStrategy::ToPositiveInfinity),
            high: to_tick(reference * up, tick, RoundingStrategy::ToNegativeInfinity),
        }
    }
}

fn to_tick(value: Decimal, tick: Decimal, strategy: RoundingStrategy) -> Decimal {
    if tick.is_zero() {
        return value;
    }
    let steps = (value / tick).round_dp_with_strategy(0, strategy);
    (steps * tick).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn btc_perp() -> OrderRules {
        OrderRules {
            tick: d("0.1"),
            lot: d("0.001"),
            min_qty: d("0.001"),
            max_qty: d("1000"),
            min_notional: d("5"),
            contract_size: Decimal::ONE,
        }
    }

    #[test]
    fn rules_in_the_order_venues_check_them() {
        let r = btc_perp();
        let band = Some(Band {
            low: d("61750"),
            high: d("68250"),
        });
        let cases: [(&str, &str, bool, Result<(), RuleBreak>); 11] = [
            ("0.001", "65000.0", true, Ok(())),
            ("0", "65000", true, Err(RuleBreak::QtyNotPositive)),
            ("0.0015", "65000", true, Err(RuleBreak::QtyOffLot)),
            ("1000.001", "65000", true, Err(RuleBreak::QtyAboveMax)),
            ("0.001", "0", true, Err(RuleBreak::PriceNotPositive)),
            ("0.001", "65000.05", true, Err(RuleBreak::PriceOffTick)),
            // 0.001 × 4000 = 4 < 5
            ("0.001", "4000", false, Err(RuleBreak::NotionalBelowMin)),
            ("0.001", "68250", true, Ok(())),
            (
                "0.001",
                "68250.1",
                true,
                Err(RuleBreak::PriceAboveBand(d("68250"))),
            ),
            (
                "0.001",
                "61749.9",
                false,
                Err(RuleBreak::PriceBelowBand(d("61750"))),
            ),
            // The band bounds buys from above only.
            ("0.001", "61749.9", true, Ok(())),
        ];
        for (qty, px, buy, want) in cases {
            assert_eq!(check(&r, d(qty), d(px), buy, band), want, "{qty} @ {px}");
        }
        let small = OrderRules {
            min_qty: d("0.01"),
            ..btc_perp()
        };
        assert_eq!(
            check(&small, d("0.005"), d("65000"), true, None),
            Err(RuleBreak::QtyBelowMin)
        );
    }

    #[test]
    fn contracts_count_notional_through_the_contract_size() {
        // OKX BTC-USDT-SWAP: 1 contract = 0.01 BTC.
        let r = OrderRules {
            contract_size: d("0.01"),
            ..btc_perp()
        };
        assert_eq!(r.notional(d("3"), d("65000")), d("1950"));
    }

    #[test]
    fn bands_round_inward_onto_the_tick() {
        let b = Band::around(d("65000.3"), d("0.95"), d("1.05"), d("0.1"));
        // 61750.285 rounds up, 68250.315 down.
        assert_eq!(b.low, d("61750.3"));
        assert_eq!(b.high, d("68250.3"));
        let b = Band::around(d("100"), d("0.98"), d("1.02"), d("1"));
        assert_eq!((b.low, b.high), (d("98"), d("102")));
        assert!(on_grid(d("0.03"), d("0.01")));
        assert!(!on_grid(d("0.031"), d("0.01")));
        assert!(on_grid(d("7"), Decimal::ZERO));
    }
}

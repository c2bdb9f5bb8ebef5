//! Money math of order building: prices onto the venue's tick, base quantities onto the venue's
//! step, base units into contracts where the venue counts contracts (OKX `ctVal`, Gate
//! `quanto_multiplier`), and the venue's minimums.
//!
//! Quantities only ever round towards zero (an order never exceeds what was asked), and a
//! protective limit price only ever rounds towards the touch (a buy never pays more than its
//! cap, a sell never accepts less than its floor).

use rust_decimal::Decimal;

use crate::execution::order::Side;
use crate::market::event::Quote;
use crate::market::spec::InstrumentSpec;

const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// An order quantity in both units: base units and the venue's order unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderSize {
    /// Base units (BTC for BTC-USDT).
    pub base: Decimal,
    /// The venue's order unit: contracts where `spec.contract_size` is set, else base units.
    pub venue: Decimal,
}

/// Why a quantity cannot become an order on a venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Fewer units than the venue's minimum order quantity.
    #[error("quantity {venue_qty} (venue units) is below the venue minimum {min_qty}")]
    BelowMinQty {
        /// The quantity, in the venue's order unit.
        venue_qty: Decimal,
        /// The venue's minimum, in the same unit.
        min_qty: Decimal,
    },
    /// Less notional than the venue's minimum order value.
    #[error("notional {notional_quote} (quote units) is below the venue minimum {min_notional}")]
    BelowMinNotional {
        /// The order's notional, in quote units.
        notional_quote: Decimal,
        /// The venue's minimum, in quote units.
        min_notional: Decimal,
    },
}

/// `x` rounded towards zero onto a multiple of `step`; `x` itself where `step` is not positive.
///
/// ```
/// use carry_engine::execution::rounding::round_to_step;
/// use rust_decimal::Decimal;
/// let d = |s: &str| s.parse::<Decimal>().unwrap();
/// assert_eq!(round_to_step(d("0.0379"), d("0.001")), d("0.037"));
/// ```
pub fn round_to_step(x: Decimal, step: Decimal) -> Decimal {
    if step <= Decimal::ZERO {
        return x;
    }
    match x.checked_div(step) {
        Some(n) => n.trunc() * step,
        None => x,
    }
}

/// Smallest base-unit increment of an order: the lot in base units.
pub fn base_step(spec: &InstrumentSpec) -> Decimal {
    match spec.contract_size {
        Some(cs) => spec.lot_size * cs,
        None => spec.lot_size,
    }
}

/// The largest order not above `qty_base` that the venue accepts, in both units, checked against
/// the venue's minimum quantity and (at `price`) minimum notional.
pub fn size_order(
    qty_base: Decimal,
    price: Decimal,
    spec: &InstrumentSpec,
) -> Result<OrderSize, SizeError> {
    let qty_base = qty_base.abs();
    let venue = match spec.contract_size {
        Some(cs) if cs > Decimal::ZERO => {
            round_to_step(qty_base.checked_div(cs).unwrap_or_default(), spec.lot_size)
        }
        _ => round_to_step(qty_base, spec.lot_size),
    };
    let base = match spec.contract_size {
        Some(cs) if cs > Decimal::ZERO => venue * cs,
        _ => venue,
    };
    if venue.is_zero() || venue < spec.min_qty {
        return Err(SizeError::BelowMinQty {
            venue_qty: venue,
            min_qty: spec.min_qty,
        });
    }
    let notional_quote = base * price;
    if spec.min_notional > Decimal::ZERO && notional_quote < spec.min_notional {
        return Err(SizeError::BelowMinNotional {
            notional_quote,
            min_notional: spec.min_notional,
        });
    }
    // Normalized so the same size always has the same bytes in the journal, whatever step it
    // was rounded on.
    Ok(OrderSize {
        base: base.normalize(),
        venue: venue.normalize(),
    })
}

/// A limit price onto the tick, rounded towards the touch: down for buys, up for sells.
pub fn round_price(price: Decimal, tick: Decimal, side: Side) -> Decimal {
    if tick <= Decimal::ZERO {
        return price;
    }
    let Some(ticks) = price.checked_div(tick) else {
        return price;
    };
    let rounded = match side {
        Side::Buy => ticks.floor() * tick,
        Side::Sell => ticks.ceil() * tick,
    };
    rounded.normalize()
}

/// The limit price of a marketable order that may cross at most `slippage_bps` beyond the touch:
/// a buy pays at most `ask × (1 + bps/10⁴)`, a sell accepts at least `bid × (1 − bps/10⁴)`.
/// `None` when the side it would take is empty or non-positive.
///
/// ```
/// use carry_engine::execution::{order::Side, rounding::protective_price};
/// use carry_engine::Quote;
/// use rust_decimal::Decimal;
/// let d = |s: &str| s.parse::<Decimal>().unwrap();
/// let q = Quote { bid: d("100.0"), bid_qty: d("1"), ask: d("100.1"), ask_qty: d("1") };
/// assert_eq!(protective_price(Side::Buy, &q, d("10"), d("0.1")), Some(d("100.2")));
/// assert_eq!(protective_price(Side::Sell, &q, d("10"), d("0.1")), Some(d("99.9")));
/// ```
pub fn protective_price(
    side: Side,
    quote: &Quote,
    slippage_bps: Decimal,
    tick: Decimal,
) -> Option<Decimal> {
    let (touch, factor) = match side {
        Side::Buy => (quote.ask, Decimal::ONE + slippage_bps / BPS),
        Side::Sell => (quote.bid, Decimal::ONE - slippage_bps / BPS),
    };
    if touch <= Decimal::ZERO || factor <= Decimal::ZERO {
        return None;
    }
    let price = round_price(touch * factor, tick, side);
    (price > Decimal::ZERO).then_some(price)
}

/// Size available at the touch an order on `side` would take, in base units.
pub fn touch_size(side: Side, quote: &Quote) -> Decimal {
    match side {
        Side::Buy => quote.ask_qty,
        Side::Sell => quote.bid_qty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn spec(
        tick: &str,
        lot: &str,
        min: &str,
        min_notional: &str,
        cs: Option<&str>,
    ) -> InstrumentSpec {
        InstrumentSpec {
            tick_size: d(tick),
            lot_size: d(lot),
            min_qty: d(min),
            min_notional: d(min_notional),
            contract_size: cs.map(d),
        }
    }

    #[test]
    fn steps_table() {
        // (x, step, expected)
        let cases = [
            ("0.0379", "0.001", "0.037"),
            ("0.037", "0.001", "0.037"),
            ("1.99", "0.5", "1.5"),
            ("0.0009", "0.001", "0"),
            ("-0.0379", "0.001", "-0.037"),
            ("12.3", "0", "12.3"),
            ("7", "2", "6"),
        ];
        for (x, step, want) in cases {
            assert_eq!(round_to_step(d(x), d(step)), d(want), "{x} on {step}");
        }
    }

    #[test]
    fn price_table() {
        // (price, tick, side, expected): buys round down, sells up.
        let cases = [
            ("100.27", "0.1", Side::Buy, "100.2"),
            ("100.27", "0.1", Side::Sell, "100.3"),
            ("100.2", "0.1", Side::Sell, "100.2"),
            ("0.123456", "0.0001", Side::Buy, "0.1234"),
            ("0.123456", "0.0001", Side::Sell, "0.1235"),
            ("25351.9", "0.5", Side::Buy, "25351.5"),
            ("25351.9", "0.5", Side::Sell, "25352.0"),
            ("3.3", "0", Side::Buy, "3.3"),
        ];
        for (px, tick, side, want) in cases {
            assert_eq!(
                round_price(d(px), d(tick), side),
                d(want),
                "{px} {tick} {side:?}"
            );
        }
    }

    #[test]
    fn contracts_table() {
        let okx_btc = spec("0.1", "0.01", "0.01", "0", Some("0.01")); // 0.0001 BTC steps
        let gate_btc = spec("0.1", "1", "1", "0", Some("0.0001"));
        let gate_eth = spec("0.01", "1", "1", "0", Some("0.01"));
        let binance = spec("0.1", "0.001", "0.001", "100", None);
        // (qty_base, price, spec, Some((base, venue units)) or None for "refused")
        type Case<'a> = (&'a str, &'a str, InstrumentSpec, Option<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            ("0.05", "30000", okx_btc, Some(("0.05", "5"))),
            ("0.05678", "30000", okx_btc, Some(("0.0567", "5.67"))),
            ("0.0001", "30000", okx_btc, Some(("0.0001", "0.01"))),
            ("0.00009", "30000", okx_btc, None),
            ("0.01234", "30000", gate_btc, Some(("0.0123", "123"))),
            ("1.555", "2000", gate_eth, Some(("1.55", "155"))),
            ("0.0379", "30000", binance, Some(("0.037", "0.037"))),
            ("0.003", "30000", binance, None), // 90 USDT < 100 min notional
            ("0.0004", "30000", binance, None), // rounds to 0
        ];
        for (qty, px, spec, want) in cases {
            let got = size_order(d(qty), d(px), &spec);
            match want {
                Some((base, venue)) => {
                    let got = got.unwrap_or_else(|e| panic!("{qty}: {e}"));
                    assert_eq!((got.base, got.venue), (d(base), d(venue)), "{qty}");
                }
                None => assert!(got.is_err(), "{qty}: {got:?}"),
            }
        }
        assert_eq!(base_step(&okx_btc), d("0.0001"));
        assert_eq!(base_step(&binance), d("0.001"));
    }

    #[test]
    fn minimum_errors_say_which_minimum() {
        let s = spec("0.1", "0.001", "0.01", "5", None);
        assert_eq!(
            size_order(d("0.005"), d("100"), &s),
            Err(SizeError::BelowMinQty {
                venue_qty: d("0.005"),
                min_qty: d("0.01")
            })
        );
        let e = size_order(d("0.02"), d("100"), &s).unwrap_err();
        assert!(
            e.to_string().contains("notional 2.000 (quote units)"),
            "{e}"
        );
    }

    #[test]
    fn protective_prices_never_cross_their_cap() {
        let q = Quote {
            bid: d("25351.5"),
            bid_qty: d("2"),
            ask: d("25352.0"),
            ask_qty: d("3"),
        };
        // 5 bp of 25352 = 12.676 → cap 25364.676 → 25364.5 on a 0.5 tick.
        assert_eq!(
            protective_price(Side::Buy, &q, d("5"), d("0.5")),
            Some(d("25364.5"))
        );
        // 5 bp below 25351.5 = 25338.82425 → up to 25339.0.
        assert_eq!(
            protective_price(Side::Sell, &q, d("5"), d("0.5")),
            Some(d("25339.0"))
        );
        assert_eq!(
            protective_price(Side::Buy, &q, d("0"), d("0.5")),
            Some(d("25352.0"))
        );
        let empty = Quote {
            bid: d("0"),
            bid_qty: d("0"),
            ask: d("0"),
            ask_qty: d("0"),
        };
        assert_eq!(protective_price(Side::Sell, &empty, d("5"), d("0.5")), None);
        assert_eq!(touch_size(Side::Buy, &q), d("3"));
        assert_eq!(touch_size(Side::Sell, &q), d("2"));
    }
}

//! Margin risk of perpetual legs and exposure of the book. A carry is delta-neutral, but each perp
//! leg is margined on its own venue: a sharp move can liquidate one leg while the other (on
//! another venue, or spot) cannot help it. So every perp leg is watched on its own: estimated
//! liquidation price, distance to it, and margin ratio.
//!
//! The model is isolated margin on a linear (USDT) contract with a flat maintenance rate `m` and
//! leverage `L`: initial margin `|q|·E/L`, equity `|q|·E/L + q·(P − E)`, maintenance `|q|·P·m`.
//! Liquidation is where equity meets maintenance:
//! long `P = E·(1 − 1/L) / (1 − m)`, short `P = E·(1 + 1/L) / (1 + m)`.
//! Cross margin would liquidate later (the account backs the leg), so this errs on the safe side.
//! Venues' tiered maintenance rates are approximated by the configured rate per venue.

use rust_decimal::Decimal;

use crate::execution::position::Position;
use crate::market::instrument::InstrumentId;
use crate::market::venue::{Venue, VENUE_COUNT};

/// Estimated liquidation price of a perp position with entry `entry`, on side `long`.
pub fn liquidation_price(long: bool, entry: Decimal, leverage: Decimal, mmr: Decimal) -> Decimal {
    MarginModel::new(leverage, mmr).liquidation_price(long, entry)
}

/// How far the mark may still move against the position, as a fraction of mark:
/// `|mark − liq| / mark` on the safe side of `liq`, zero at or beyond it.
pub fn liquidation_distance(long: bool, mark: Decimal, liq: Decimal) -> Decimal {
    if mark <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let room = if long { mark - liq } else { liq - mark };
    if room <= Decimal::ZERO {
        Decimal::ZERO
    } else {
        room / mark
    }
}

/// Liquidation distance a fresh short has at leverage `L` (the tighter side):
/// `(1/L − m) / (1 + m)`.
pub fn entry_liquidation_distance(leverage: Decimal, mmr: Decimal) -> Decimal {
    (Decimal::ONE / leverage - mmr) / (Decimal::ONE + mmr)
}

/// Maintenance margin over equity; 1 means liquidation. `None` when equity is gone (zero or
/// negative), which callers treat as past any threshold.
pub fn margin_ratio(
    qty: Decimal,
    entry: Decimal,
    mark: Decimal,
    leverage: Decimal,
    mmr: Decimal,
) -> Option<Decimal> {
    let size = qty.abs();
    let equity = size * entry / leverage + qty * (mark - entry);
    if equity <= Decimal::ZERO {
        return None;
    }
    Some(size * mark * mmr / equity)
}

/// The margin model of one venue, with its liquidation factors computed once so that a
/// liquidation price needs no division.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarginModel {
    /// Position notional over margin.
    pub leverage: Decimal,
    /// Maintenance margin as a fraction of notional.
    pub maintenance_margin_rate: Decimal,
    long_liq_factor: Decimal,
    short_liq_factor: Decimal,
}

impl MarginModel {
    /// The model for `leverage` and maintenance rate `mmr`, its factors computed once.
    pub fn new(leverage: Decimal, mmr: Decimal) -> MarginModel {
        let inv = Decimal::ONE / leverage;
        MarginModel {
            leverage,
            maintenance_margin_rate: mmr,
            long_liq_factor: (Decimal::ONE - inv) / (Decimal::ONE - mmr),
            short_liq_factor: (Decimal::ONE + inv) / (Decimal::ONE + mmr),
        }
    }

    /// [`liquidation_price`] with the factors precomputed.
    pub fn liquidation_price(&self, long: bool, entry: Decimal) -> Decimal {
        entry
            * if long {
                self.long_liq_factor
            } else {
                self.short_liq_factor
            }
    }
}

/// [`LegRisk::breach`] for fixed thresholds, decided by cross-multiplication so that the check is
/// a handful of multiplications of short decimals (no division, no 28-digit factors): with `L`
/// leverage and `m` maintenance rate,
/// - long: distance `< min` ⇔ `mark·(1 − min)·L·(1 − m) < entry·(L − 1)`;
/// - short: distance `< min` ⇔ `entry·(L + 1) < mark·(1 + min)·L·(1 + m)`;
/// - ratio `> max` ⇔ `|q|·mark·m·L > max·E`, with `E = |q|·entry + L·q·(mark − entry)` (equity
///   times `L`), and `E ≤ 0` is exhausted equity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarginCheck {
    a_long: Decimal,
    b_long: Decimal,
    a_short: Decimal,
    b_short: Decimal,
    leverage: Decimal,
    mmr_times_leverage: Decimal,
    max_ratio: Decimal,
}

impl MarginCheck {
    /// The check for one venue's model, against the configured thresholds.
    pub fn new(model: &MarginModel, min_distance: Decimal, max_ratio: Decimal) -> MarginCheck {
        let (l, m) = (model.leverage, model.maintenance_margin_rate);
        MarginCheck {
            a_long: (Decimal::ONE - min_distance) * l * (Decimal::ONE - m),
            b_long: l - Decimal::ONE,
            a_short: (Decimal::ONE + min_distance) * l * (Decimal::ONE + m),
            b_short: l + Decimal::ONE,
            leverage: l,
            mmr_times_leverage: m * l,
            max_ratio,
        }
    }

    /// The first threshold breached by `qty` entered at `entry`, at `mark`.
    pub fn breach(&self, qty: Decimal, entry: Decimal, mark: Decimal) -> Option<Breach> {
        if qty.is_zero() || mark <= Decimal::ZERO {
            return None;
        }
        let too_close = if qty > Decimal::ZERO {
            mark * self.a_long < entry * self.b_long
        } else {
            entry * self.b_short < mark * self.a_short
        };
        if too_close {
            return Some(Breach::LiquidationDistance);
        }
        let size = qty.abs();
        let equity_l = size * entry + self.leverage * qty * (mark - entry);
        if equity_l <= Decimal::ZERO
            || size * mark * self.mmr_times_leverage > self.max_ratio * equity_l
        {
            return Some(Breach::MarginRatio);
        }
        None
    }
}

/// The risk picture of one perp leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LegRisk {
    /// The venue of the leg.
    pub venue: Venue,
    /// Its instrument.
    pub instrument: InstrumentId,
    /// Signed base units.
    pub qty: Decimal,
    /// Average entry price of the open quantity.
    pub entry_price: Decimal,
    /// The price the risk is assessed at.
    pub mark_price: Decimal,
    /// The venue's configured leverage.
    pub leverage: Decimal,
    /// The venue's configured maintenance margin rate.
    pub maintenance_margin_rate: Decimal,
    /// Where the position would be liquidated.
    pub liquidation_price: Decimal,
    /// How far the mark may still move against the position, as a fraction of mark.
    pub liquidation_distance: Decimal,
    /// `None`: equity exhausted.
    pub margin_ratio: Option<Decimal>,
}

/// Which threshold a leg breaches, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Breach {
    /// The mark is closer to liquidation than allowed.
    LiquidationDistance,
    /// Maintenance margin takes more of the equity than allowed.
    MarginRatio,
}

impl LegRisk {
    /// Assesses an open perp position at `mark`; `None` for a flat position or a spot venue.
    pub fn assess(
        venue: Venue,
        instrument: InstrumentId,
        position: &Position,
        mark: Decimal,
        model: &MarginModel,
    ) -> Option<LegRisk> {
        if !venue.is_perp() || position.qty.is_zero() || position.entry_price <= Decimal::ZERO {
            return None;
        }
        let (leverage, mmr) = (model.leverage, model.maintenance_margin_rate);
        let long = position.qty > Decimal::ZERO;
        let liq = model.liquidation_price(long, position.entry_price);
        Some(LegRisk {
            venue,
            instrument,
            qty: position.qty,
            entry_price: position.entry_price,
            mark_price: mark,
            leverage,
            maintenance_margin_rate: mmr,
            liquidation_price: liq,
            liquidation_distance: liquidation_distance(long, mark, liq),
            margin_ratio: margin_ratio(position.qty, position.entry_price, mark, leverage, mmr),
        })
    }

    /// The first threshold this leg breaches: liquidation distance below `min_distance`, or margin
    /// ratio above `max_ratio` (or equity exhausted).
    pub fn breach(&self, min_distance: Decimal, max_ratio: Decimal) -> Option<Breach> {
        if self.liquidation_distance < min_distance {
            return Some(Breach::LiquidationDistance);
        }
        match self.margin_ratio {
            Some(r) if r <= max_ratio => None,
            _ => Some(Breach::MarginRatio),
        }
    }
}

/// Exposure of one instrument across venues, in base units and in quote units at current prices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Spot holdings, signed base units.
    pub spot_qty: Decimal,
    /// Perp position, signed base units.
    pub perp_qty: Decimal,
    /// Notional summed over legs, each at its own price, always non-negative.
    pub gross_notional: Decimal,
}

impl Exposure {
    /// Base units the book would gain or lose per unit move: spot plus perp. Zero when hedged.
    pub fn net_delta(&self) -> Decimal {
        self.spot_qty + self.perp_qty
    }

    /// Adds one venue's position at `price` (mark for perps, mid for spot).
    pub fn add(&mut self, venue: Venue, position: &Position, price: Decimal) {
        if venue.is_perp() {
            self.perp_qty += position.qty;
        } else {
            self.spot_qty += position.qty;
        }
        self.gross_notional += position.notional(price);
    }
}

/// Exposure of one instrument from the positions on every venue, each priced by `price_of`
/// (falling back to the entry price where no price is known).
pub fn instrument_exposure(
    instrument: InstrumentId,
    positions: &crate::execution::position::Positions,
    mut price_of: impl FnMut(Venue) -> Option<Decimal>,
) -> Exposure {
    let mut e = Exposure::default();
    for venue in Venue::ALL.iter().take(VENUE_COUNT).copied() {
        let p = positions.get(venue, instrument);
        if p.qty.is_zero() {
            continue;
        }
        let price = price_of(venue).unwrap_or(p.entry_price);
        e.add(venue, &p, price);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn liquidation_price_table() {
        // (long, entry, leverage, mmr, liq): 2x with 0 maintenance liquidates a long at half the
        // entry and a short at 1.5x; maintenance moves liquidation closer.
        let cases = [
            (true, "100", "2", "0", "50"),
            (false, "100", "2", "0", "150"),
            (true, "100", "1", "0", "0"),
            (true, "100", "2", "0.5", "100"),
            // 10x, 0.5 %: long 100 × 0.9 / 0.995, short 100 × 1.1 / 1.005.
            (true, "100", "10", "0.005", "90.452261306532663316582914573"),
            (
                false,
                "100",
                "10",
                "0.005",
                "109.45273631840796019900497512",
            ),
        ];
        for (long, entry, lev, mmr, liq) in cases {
            assert_eq!(
                liquidation_price(long, d(entry), d(lev), d(mmr)).round_dp(20),
                d(liq).round_dp(20),
                "{long} {entry} {lev}x {mmr}"
            );
        }
    }

    #[test]
    fn distance_and_margin_ratio_table() {
        // Short 1 @ 100 at 2x, mmr 0 → liq 150. (mark, distance, margin ratio at mmr 0.01)
        let cases = [
            ("100", "0.5", Some("0.02")),  // ratio = 1 × 100 × 0.01 / 50
            ("120", "0.25", Some("0.04")), // equity 50 − 20 = 30; 1.2 / 30
            ("150", "0", None),            // equity 0
            ("160", "0", None),            // beyond liquidation
            ("50", "2", Some("0.0050")),   // equity 100; 0.5 / 100
        ];
        for (mark, dist, ratio) in cases {
            let liq = liquidation_price(false, d("100"), d("2"), Decimal::ZERO);
            assert_eq!(
                liquidation_distance(false, d(mark), liq),
                d(dist),
                "mark {mark}"
            );
            assert_eq!(
                margin_ratio(d("-1"), d("100"), d(mark), d("2"), d("0.01")),
                ratio.map(d),
                "mark {mark}"
            );
        }
        // Long 2 @ 100, 4x, mmr 0: liq 75. At 90: distance 15/90, ratio 0 (no maintenance).
        let liq = liquidation_price(true, d("100"), d("4"), Decimal::ZERO);
        assert_eq!(liq, d("75"));
        assert_eq!(liquidation_distance(true, d("90"), liq), d("15") / d("90"));
        assert_eq!(liquidation_distance(true, d("70"), liq), Decimal::ZERO);
        assert_eq!(
            margin_ratio(d("2"), d("100"), d("90"), d("4"), Decimal::ZERO),
            Some(Decimal::ZERO)
        );
    }

    #[test]
    fn entry_distance_matches_a_fresh_short() {
        let (lev, mmr) = (d("3"), d("0.005"));
        let liq = liquidation_price(false, d("100"), lev, mmr);
        assert_eq!(
            liquidation_distance(false, d("100"), liq).round_dp(20),
            entry_liquidation_distance(lev, mmr).round_dp(20)
        );
        // And the long side is farther.
        let liq_long = liquidation_price(true, d("100"), lev, mmr);
        assert!(
            liquidation_distance(true, d("100"), liq_long) > entry_liquidation_distance(lev, mmr)
        );
    }

    #[test]
    fn assess_and_breach() {
        let v: Venue = "bybit-perp".parse().unwrap();
        let pos = Position {
            qty: d("-1"),
            entry_price: d("100"),
            realized_pnl: Decimal::ZERO,
        };
        let model = MarginModel::new(d("2"), d("0.01"));
        let at = |mark: &str| LegRisk::assess(v, InstrumentId(0), &pos, d(mark), &model).unwrap();
        // 2x, mmr 1 %: liq = 100 × 1.5 / 1.01 ≈ 148.51.
        assert_eq!(at("100").breach(d("0.15"), d("0.5")), None);
        assert_eq!(
            at("130").breach(d("0.15"), d("0.5")),
            Some(Breach::LiquidationDistance)
        );
        // At 125 the distance is ~18.8 % but the ratio is 1.25 / 25 = 5 %: fine; with a 4 %
        // ceiling the margin ratio trips.
        assert_eq!(at("125").breach(d("0.15"), d("0.05")), None);
        assert_eq!(
            at("125").breach(d("0.15"), d("0.04")),
            Some(Breach::MarginRatio)
        );
        let spot: Venue = "bybit-spot".parse().unwrap();
        assert!(LegRisk::assess(spot, InstrumentId(0), &pos, d("100"), &model).is_none());
        assert!(
            LegRisk::assess(v, InstrumentId(0), &Position::default(), d("100"), &model).is_none()
        );
    }

    #[test]
    fn fast_breach_agrees_with_the_full_assessment() {
        let v: Venue = "okx-perp".parse().unwrap();
        let (min_distance, max_ratio) = (d("0.15"), d("0.3"));
        for (lev, mmr) in [("2", "0.005"), ("3", "0.01"), ("5", "0.004"), ("1", "0.02")] {
            let model = MarginModel::new(d(lev), d(mmr));
            assert_eq!(
                model.liquidation_price(true, d("100")),
                liquidation_price(true, d("100"), d(lev), d(mmr))
            );
            assert_eq!(
                model.liquidation_price(false, d("100")),
                liquidation_price(false, d("100"), d(lev), d(mmr))
            );
            for qty in ["1.5", "-1.5"] {
                let pos = Position {
                    qty: d(qty),
                    entry_price: d("100"),
                    realized_pnl: Decimal::ZERO,
                };
                for mark in 1..=300 {
                    let mark = Decimal::from(mark);
                    let full = LegRisk::assess(v, InstrumentId(0), &pos, mark, &model)
                        .unwrap()
                        .breach(min_distance, max_ratio);
                    let check = MarginCheck::new(&model, min_distance, max_ratio);
                    let fastest = check.breach(pos.qty, pos.entry_price, mark);
                    assert_eq!(fastest, full, "{lev}x mmr {mmr} qty {qty} mark {mark}");
                }
            }
        }
    }

    #[test]
    fn exposure_nets_spot_against_perp() {
        let mut book = crate::execution::position::Positions::new(1);
        let spot: Venue = "binance-spot".parse().unwrap();
        let perp: Venue = "binance-perp".parse().unwrap();
        book.apply_fill(spot, InstrumentId(0), d("2"), d("100"));
        book.apply_fill(perp, InstrumentId(0), d("-1.5"), d("101"));
        let e = instrument_exposure(InstrumentId(0), &book, |v| (v == perp).then(|| d("110")));
        assert_eq!(e.spot_qty, d("2"));
        assert_eq!(e.perp_qty, d("-1.5"));
        assert_eq!(e.net_delta(), d("0.5"));
        // Spot at its entry (no price known) 200, perp at 110 × 1.5 = 165.
        assert_eq!(e.gross_notional, d("365"));
    }
}

//! The simulated venues' margin model, as pure functions: the risk-limit tiers (leverage
//! brackets) every simulated perpetual shares, the maintenance margin of a position, and the
//! price at which a one-way position would be liquidated. Every venue's position rows and
//! risk-tier endpoints render from here, so `positionRisk.maintMargin`, Bybit's `positionMM`,
//! OKX's `mmr`, Bitget's `keepMarginRate` and Gate's `maintenance_rate` all agree.
//!
//! The tiers have the venues' documented shape (Binance `leverageBracket`: notional floor and
//! cap, initial leverage, maintenance ratio and the cumulative amount `cum`); the numbers are
//! the simulator's, the same for every instrument, in the quote asset. `cum` of tier *i* is
//! `cum(i−1) + floor(i) × (mmr(i) − mmr(i−1))`, which makes the maintenance margin
//! `notional × mmr − cum` continuous across tier boundaries.

use rust_decimal::Decimal;

/// One risk-limit tier: positions with notional in `(floor, cap]` (quote units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tier {
    /// 1-based, as the venues number them.
    pub number: u32,
    pub floor: Decimal,
    pub cap: Decimal,
    pub max_leverage: u32,
    /// Maintenance margin ratio.
    pub mmr: Decimal,
    /// Maintenance amount (Binance `cum`, Bybit `mmDeduction`, Gate `deduction`).
    pub cum: Decimal,
}

impl Tier {
    /// Initial margin ratio at the tier's maximum leverage.
    pub fn imr(&self) -> Decimal {
        Decimal::ONE / Decimal::from(self.max_leverage)
    }
}

/// (cap, max leverage, mmr in 1e-4): the floors are the previous caps.
const TIERS: [(i64, u32, i64); 6] = [
    (50_000, 125, 40),
    (250_000, 100, 50),
    (1_000_000, 50, 100),
    (5_000_000, 20, 250),
    (20_000_000, 10, 500),
    (50_000_000, 5, 1_000),
];

/// Every tier, lowest first.
pub(crate) fn tiers() -> Vec<Tier> {
    let mut out: Vec<Tier> = Vec::with_capacity(TIERS.len());
    for (i, &(cap, lev, mmr_e4)) in TIERS.iter().enumerate() {
        let mmr = Decimal::new(mmr_e4, 4);
        let (floor, cum) = match out.last() {
            Some(prev) => (prev.cap, prev.cum + prev.cap * (mmr - prev.mmr)),
            None => (Decimal::ZERO, Decimal::ZERO),
        };
        out.push(Tier {
            number: i as u32 + 1,
            floor,
            cap: Decimal::from(cap),
            max_leverage: lev,
            mmr,
            cum,
        });
    }
    out
}

/// The tier a position of `notional` (quote units, any sign) falls in; the last one beyond.
pub(crate) fn tier_of(notional: Decimal) -> Tier {
    let n = notional.abs();
    let all = tiers();
    all.iter()
        .copied()
        .find(|t| n <= t.cap)
        .unwrap_or(all[all.len() - 1])
}

/// Maintenance margin of a position of `notional`: `notional × mmr − cum` of its tier.
pub(crate) fn maintenance_margin(notional: Decimal) -> Decimal {
    let t = tier_of(notional);
    (notional.abs() * t.mmr - t.cum).max(Decimal::ZERO)
}

/// The mark price at which a one-way position is liquidated: where the equity backing it
/// (`backing`: the wallet balance plus other positions' unrealized PnL less their maintenance
/// margin on cross, the position margin on isolated) plus its own PnL falls to its
/// maintenance margin. `base` is the signed position in base units, `entry` its entry price,
/// `tier` the tier it is in now. `None` when flat; zero when no price liquidates it.
///
/// Long `Q`: `(Q·entry − backing − cum) / (Q·(1 − mmr))`; short `S = |Q|`:
/// `(backing + S·entry + cum) / (S·(1 + mmr))` (Binance's published formula for one position).
pub(crate) fn liquidation_price(
    base: Decimal,
    entry: Decimal,
    backing: Decimal,
    tier: &Tier,
) -> Option<Decimal> {
    if base.is_zero() {
        return None;
    }
    let price = if base > Decimal::ZERO {
        (base * entry - backing - tier.cum) / (base * (Decimal::ONE - tier.mmr))
    } else {
        let s = -base;
        (backing + s * entry + tier.cum) / (s * (Decimal::ONE + tier.mmr))
    };
    Some(price.max(Decimal::ZERO).round_dp(8).normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn tiers_are_contiguous_and_cum_keeps_the_margin_continuous() {
        let t = tiers();
        // cum by hand: 50 000 × 0.001 = 50; + 250 000 × 0.005 = 1 300; + 1 000 000 × 0.015 =
        // 16 300; + 5 000 000 × 0.025 = 141 300; + 20 000 000 × 0.05 = 1 141 300.
        let cums: Vec<Decimal> = t.iter().map(|x| x.cum.normalize()).collect();
        assert_eq!(
            cums,
            ["0", "50", "1300", "16300", "141300", "1141300"]
                .iter()
                .map(|s| d(s))
                .collect::<Vec<_>>()
        );
        for pair in t.windows(2) {
            assert_eq!(pair[0].cap, pair[1].floor);
            // At a boundary both tiers give the same maintenance margin.
            let at = pair[0].cap;
            assert_eq!(
                at * pair[0].mmr - pair[0].cum,
                at * pair[1].mmr - pair[1].cum
            );
        }
        assert_eq!(t[0].imr(), d("0.008"));
    }

    #[test]
    fn maintenance_margin_by_tier() {
        // (notional, maintenance margin)
        let cases = [
            ("0", "0"),
            ("10000", "40"),         // 10 000 × 0.004
            ("50000", "200"),        // the cap of tier 1
            ("-100000", "450"),      // 100 000 × 0.005 − 50, either side
            ("2000000", "33700"),    // 2 000 000 × 0.025 − 16 300
            ("90000000", "7858700"), // beyond the last cap: the last tier
        ];
        for (notional, mm) in cases {
            assert_eq!(
                maintenance_margin(d(notional)).normalize(),
                d(mm),
                "{notional}"
            );
        }
        assert_eq!(tier_of(d("50000.01")).number, 2);
    }

    #[test]
    fn liquidation_prices_by_hand() {
        let t1 = tier_of(d("6500"));
        // Long 0.1 BTC at 65 000 backed by 1 000: (6 500 − 1 000) / (0.1 × 0.996).
        assert_eq!(
            liquidation_price(d("0.1"), d("65000"), d("1000"), &t1),
            Some(d("55220.88353414"))
        );
        // Short 0.1 at 65 000 backed by 1 000: (1 000 + 6 500) / (0.1 × 1.004).
        assert_eq!(
            liquidation_price(d("-0.1"), d("65000"), d("1000"), &t1),
            Some(d("74701.19521912"))
        );
        // A long backed by more than it is worth is never liquidated.
        assert_eq!(
            liquidation_price(d("0.1"), d("65000"), d("10000"), &t1),
            Some(Decimal::ZERO)
        );
        assert_eq!(liquidation_price(Decimal::ZERO, d("1"), d("1"), &t1), None);
    }
}

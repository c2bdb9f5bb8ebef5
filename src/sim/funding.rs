//! Funding settlement on the simulator's funding clock, as pure functions: what one settlement
//! pays, and the settlement history the public funding-rate endpoints show.
//!
//! Each perpetual settles at the times its public feeds announce as the next funding time (the
//! interval's grid, compressed by `SimConfig::funding_hour` on an accelerated clock). At a
//! settlement the account books `−position × contract size × mark × rate` into the perp wallet:
//! a positive rate makes longs pay shorts. The rate and mark are the market model's at the
//! moment the venue settles, and the venue remembers them, so its funding-rate history shows
//! exactly what settled.

use std::collections::VecDeque;

use rust_decimal::{Decimal, RoundingStrategy};

/// Funding amounts are booked to 8 decimals.
const AMOUNT_DP: u32 = 8;
/// Settlements remembered per perpetual for the history endpoints.
pub(crate) const HISTORY_KEPT: usize = 1_000;

/// What one settlement pays a position, signed from the account's side (positive: received):
/// `−qty × contract_size × mark × rate`, rounded half away from zero to 8 decimals.
pub(crate) fn funding_amount(
    qty: Decimal,
    contract_size: Decimal,
    mark: Decimal,
    rate: Decimal,
) -> Decimal {
    (-(qty * contract_size * mark * rate))
        .round_dp_with_strategy(AMOUNT_DP, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// One settlement of one perpetual: when, at which rate and mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settlement {
    pub time_ms: i64,
    pub rate: Decimal,
    pub mark: Decimal,
}

/// The settlement times in `(after_ms, now_ms]` on a grid of `interval_ms`, oldest first, at
/// most `cap` of them (the newest ones: a stalled simulator does not replay a backlog).
pub(crate) fn due_settlements(
    after_ms: i64,
    now_ms: i64,
    interval_ms: i64,
    cap: usize,
) -> Vec<i64> {
    if interval_ms <= 0 || now_ms <= after_ms {
        return Vec::new();
    }
    let last = now_ms.div_euclid(interval_ms) * interval_ms;
    let first = (after_ms.div_euclid(interval_ms) + 1) * interval_ms;
    if last < first {
        return Vec::new();
    }
    let count = ((last - first) / interval_ms + 1) as usize;
    let skip = count.saturating_sub(cap);
    (skip..count)
        .map(|k| first + k as i64 * interval_ms)
        .collect()
}

/// The last `limit` settlements before `now_ms` on the grid, oldest first: each the recorded
/// one where the venue remembers it, else (times before the simulator started, or forgotten)
/// at `current` rate and mark, since the model has no memory before that.
pub(crate) fn history(
    recorded: &VecDeque<Settlement>,
    interval_ms: i64,
    next_ms: i64,
    current: (Decimal, Decimal),
    limit: usize,
) -> Vec<Settlement> {
    (1..=limit as i64)
        .rev()
        .map(|k| {
            let time_ms = next_ms - k * interval_ms;
            recorded
                .iter()
                .rev()
                .find(|s| s.time_ms == time_ms)
                .copied()
                .unwrap_or(Settlement {
                    time_ms,
                    rate: current.0,
                    mark: current.1,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn positive_rates_make_longs_pay_shorts() {
        // (qty, contract size, mark, rate) -> amount received (negative: paid)
        let cases = [
            // Long 0.5 BTC at 60 000, rate 0.01 %: pays 3.
            ("0.5", "1", "60000", "0.0001", "-3"),
            ("-0.5", "1", "60000", "0.0001", "3"),
            // A negative rate: longs receive.
            ("0.5", "1", "60000", "-0.0001", "3"),
            // 10 OKX contracts of 0.01 BTC at 65 000, rate 0.0001: 0.65.
            ("10", "0.01", "65000", "0.0001", "-0.65"),
            // Gate's 1e-4 BTC contracts, short 3 contracts: 3 × 0.0001 × 65000.5 × 0.00063926.
            ("-3", "0.0001", "65000.5", "0.00063926", "0.01246567"),
            ("0", "1", "65000", "0.001", "0"),
        ];
        for (q, cs, mark, rate, want) in cases {
            assert_eq!(
                funding_amount(d(q), d(cs), d(mark), d(rate)),
                d(want),
                "{q} × {cs} @ {mark} × {rate}"
            );
        }
    }

    #[test]
    fn due_settlements_are_the_grid_times_passed() {
        // 8 s grid: from 3 s to 17 s passes 8 s and 16 s; exactly on a time counts once.
        assert_eq!(
            due_settlements(3_000, 17_000, 8_000, 10),
            vec![8_000, 16_000]
        );
        assert_eq!(due_settlements(8_000, 16_000, 8_000, 10), vec![16_000]);
        assert_eq!(due_settlements(8_000, 15_999, 8_000, 10), Vec::<i64>::new());
        // A stall of ten intervals settles only the newest `cap`.
        assert_eq!(due_settlements(0, 80_000, 8_000, 2), vec![72_000, 80_000]);
        assert!(due_settlements(5, 4, 8_000, 10).is_empty());
    }

    #[test]
    fn history_uses_what_settled_and_the_current_rate_before() {
        let recorded: VecDeque<Settlement> = [Settlement {
            time_ms: 16_000,
            rate: d("0.0002"),
            mark: d("100"),
        }]
        .into();
        let h = history(&recorded, 8_000, 24_000, (d("0.0005"), d("101")), 3);
        let times: Vec<i64> = h.iter().map(|s| s.time_ms).collect();
        assert_eq!(times, vec![0, 8_000, 16_000]);
        assert_eq!(h[2].rate, d("0.0002"));
        assert_eq!((h[0].rate, h[0].mark), (d("0.0005"), d("101")));
    }
}

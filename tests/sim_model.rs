//! The simulator's market model on its own: the same seed replays the same market, and the
//! funding regimes do what the demo needs (a wide cross-venue spread every other cycle, which
//! then narrows or flips so positions exit too).

use carry::sim::listing::Listing;
use carry::sim::market::{MarketModel, MarketTick};
use carry_engine::Venue;
use rust_decimal::Decimal;

fn listing() -> Listing {
    let names: Vec<String> = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    Listing::new(&names, &Venue::ALL).unwrap()
}

fn run(seed: u64, ticks: usize) -> Vec<MarketTick> {
    let l = listing();
    let mut m = MarketModel::new(&l, seed, 160);
    let mut out = vec![(**m.current()).clone()];
    for _ in 0..ticks {
        out.push((**m.step()).clone());
    }
    out
}

#[test]
fn same_seed_same_market_other_seed_other_market() {
    let a = run(11, 2_000);
    let b = run(11, 2_000);
    let c = run(12, 2_000);
    assert_eq!(a, b);
    assert_ne!(a[1..], c[1..]);
    // Not trivially constant either: prices and rates move.
    let btc_perp = "binance-perp".parse().unwrap();
    let first = a[0].leg(0, btc_perp).unwrap();
    let last = a[2_000].leg(0, btc_perp).unwrap();
    assert_ne!(first.mark, last.mark);
    assert_ne!(first.funding_rate, last.funding_rate);
}

/// Annualized funding of a leg: each leg on its own interval (the funding contract).
fn apr(l: &Listing, t: &MarketTick, instrument: usize, venue: Venue) -> Decimal {
    let leg = t.leg(instrument, venue).unwrap();
    match l.get(instrument, venue).unwrap().funding_interval_hours {
        Some(h) => leg.funding_rate * Decimal::from(8_760) / Decimal::from(h),
        None => Decimal::ZERO,
    }
}

/// The widest (short − long) APR spread of an instrument at a step, and its legs.
fn widest(l: &Listing, t: &MarketTick, i: usize) -> (Decimal, Venue, Venue) {
    let mut best = (Decimal::MIN, Venue::ALL[0], Venue::ALL[0]);
    for &short in &Venue::ALL {
        for &long in &Venue::ALL {
            if short == long || !short.is_perp() && !long.is_perp() {
                continue;
            }
            let s = apr(l, t, i, short) - apr(l, t, i, long);
            if s > best.0 {
                best = (s, short, long);
            }
        }
    }
    best
}

#[test]
fn regimes_open_wide_spreads_then_narrow_or_flip_them() {
    let l = listing();
    let entry = Decimal::new(20, 2);
    let (mut narrowed, mut flipped) = (0, 0);
    for seed in [5, 17, 99, 2024] {
        let ticks = run(seed, 160 * 16);
        // Look at the last step of each regime, when funding has settled on its targets.
        for regime in 1..15usize {
            let end = &ticks[regime * 160 + 159];
            assert_eq!(end.regime, regime as u64);
            if regime % 2 == 1 {
                let next = &ticks[(regime + 1) * 160 + 159];
                let mut any_wide = false;
                for i in 0..3 {
                    let (spread, short, long) = widest(&l, end, i);
                    if spread < Decimal::new(60, 2) {
                        continue;
                    }
                    any_wide = true;
                    // One regime later the held orientation pays negative carry (an exit under any
                    // exit threshold), and so does its short leg held against spot.
                    let later = apr(&l, next, i, short) - apr(&l, next, i, long);
                    assert!(
                        later < Decimal::ZERO,
                        "regime {regime}: {short}/{long} at {later}"
                    );
                    let short_alone = apr(&l, next, i, short);
                    assert!(
                        short_alone < Decimal::ZERO,
                        "regime {regime}: {short} at {short_alone}"
                    );
                    if later < Decimal::new(-50, 2) {
                        flipped += 1;
                    } else {
                        narrowed += 1;
                    }
                }
                assert!(any_wide, "regime {regime}: no pair above 60 % APR");
            } else {
                // Nothing new opens: any spread at entry level is long the former high leg (now
                // below zero, or flipped to the low side).
                let before = &ticks[(regime - 1) * 160 + 159];
                for i in 0..3 {
                    let (spread, short, long) = widest(&l, end, i);
                    if spread >= entry {
                        let (_, was_short, _) = widest(&l, before, i);
                        assert_eq!(
                            long, was_short,
                            "regime {regime}: {short}/{long} at {spread}"
                        );
                    }
                }
            }
        }
    }
    assert!(
        narrowed > 0 && flipped > 0,
        "narrowed {narrowed}, flipped {flipped}"
    );
}

#[test]
fn the_first_regime_is_calm() {
    let l = listing();
    let ticks = run(9, 159);
    for i in 0..3 {
        let (spread, short, long) = widest(&l, &ticks[159], i);
        assert!(spread < Decimal::new(20, 2), "{short}/{long}: {spread}");
    }
}

#[test]
fn prices_wander_but_stay_near_their_start() {
    let ticks = run(3, 40_000);
    let l = listing();
    for (i, ins) in l.instruments().iter().enumerate() {
        let start = Decimal::new(ins.start_ticks, ins.price_scale);
        let mut moved = false;
        for t in &ticks {
            let index = t.instruments[i].index;
            let dev = ((index - start) / start).abs();
            assert!(
                dev < Decimal::new(10, 2),
                "{}: {index} vs {start}",
                ins.name
            );
            moved |= index != start;
        }
        assert!(moved, "{}", ins.name);
    }
}

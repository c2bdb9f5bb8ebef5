//! The simulated market: per instrument one mid-price random walk (mean-reverting so a long demo
//! stays near a plausible level), around it a quote per venue with its own small basis, spread
//! and sizes, and per perpetual a funding rate that moves in regimes. Regimes last one `cycle`:
//! the first is calm, every odd regime opens a wide cross-venue funding spread on a random pair
//! (well above a typical 20 % APR entry threshold) and every even one either calms it down or
//! flips it, so a demo sees entries and exits every few seconds.
//!
//! Everything is integer (price ticks, basis points of APR) and drawn from one seeded generator
//! in a fixed order, so the sequence of [`MarketTick`]s is a pure function of the seed and the
//! listing: the same seed replays the same market. Wall time enters only through
//! [`SharedMarket`], which decides how many steps have elapsed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carry_engine::market::venue::{Venue, VENUE_COUNT};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::listing::{ListedInstrument, Listing};

/// Scale of funding rates on the wire: Binance and most venues print 8 decimals.
pub const RATE_SCALE: u32 = 8;

/// splitmix64: tiny, fast, and its output sequence is fixed by the seed on every platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng {
            state: seed ^ 0x5851_f42d_4c95_7f2d,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`); the modulo bias is irrelevant at these ranges.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64 + 1) as i64
    }
}

/// One instrument on one venue at one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegTick {
    pub bid: Decimal,
    pub ask: Decimal,
    /// Book sizes in the venue's order unit (contracts on OKX/Gate perps, else base units).
    pub bid_qty: Decimal,
    pub ask_qty: Decimal,
    /// Perp mark price (the venue's own mid); equals the mid on spot.
    pub mark: Decimal,
    /// The cross-venue index price.
    pub index: Decimal,
    /// Funding rate for the current interval, not annualized; zero on spot.
    pub funding_rate: Decimal,
    /// The same rate annualized, in basis points (what the regimes steer); zero on spot.
    pub funding_apr_bp: i64,
    /// Increments every step: book update ids and sequence numbers derive from it.
    pub seq: u64,
}

/// All venues' state of one instrument at one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentTick {
    pub index: Decimal,
    pub legs: [Option<LegTick>; VENUE_COUNT],
}

/// The whole simulated market at one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketTick {
    /// Step number, from 0.
    pub tick: u64,
    /// Funding regime number, from 0 (`tick / ticks_per_regime`).
    pub regime: u64,
    pub instruments: Vec<InstrumentTick>,
}

impl MarketTick {
    pub fn leg(&self, instrument: usize, venue: Venue) -> Option<&LegTick> {
        self.instruments
            .get(instrument)
            .and_then(|i| i.legs[venue.index()].as_ref())
    }
}

#[derive(Clone, Debug)]
struct LegWalk {
    venue: Venue,
    /// Venue basis against the common mid, in ticks.
    offset: i64,
    max_offset: i64,
    max_lots: i64,
    qty_scale: u32,
    /// Funding interval in hours; `None` on spot.
    interval_hours: Option<u32>,
    apr_bp: i64,
    target_apr_bp: i64,
}

#[derive(Clone, Debug)]
struct InstrumentWalk {
    mid: i64,
    anchor: i64,
    price_scale: u32,
    legs: Vec<LegWalk>,
    /// The current regime's wide pair: (positions in `legs` of the high-funding perp, and of the
    /// low one where the instrument has a second perp).
    hot: Option<(usize, Option<usize>)>,
}

/// Annualized funding of calm markets: around 11 % APR (0.0001 per 8 h), like BTC most days.
const CALM_APR_BP: (i64, i64) = (800, 1_400);
/// The wide regime's high leg and low leg: at least 70 % APR apart, enough to clear a 10 % net
/// entry threshold after round-trip fees annualized over a few days.
const HOT_HIGH_APR_BP: (i64, i64) = (6_000, 9_000);
const HOT_LOW_APR_BP: (i64, i64) = (-3_000, -1_000);
/// A single-perp instrument flips negative against its spot leg.
const FLIPPED_SOLO_APR_BP: (i64, i64) = (-4_000, -2_000);
/// After a wide regime that calms down, the former high leg dips just below zero, so the held
/// orientation's gross carry turns negative whatever leg it was paired with: an exit under any
/// exit threshold (a sign flip always exits).
const REVERTED_HIGH_APR_BP: (i64, i64) = (-800, -200);
/// Per-step funding noise.
const APR_NOISE_BP: i64 = 5;
/// Book depth at the top, in quote currency (sizes are drawn up to this notional).
const MAX_TOP_NOTIONAL: i64 = 200_000;

/// The model itself: steps one quote interval at a time.
#[derive(Clone, Debug)]
pub struct MarketModel {
    rng: Rng,
    ticks_per_regime: u64,
    /// Funding approaches its regime target by 1/converge of the gap per step, so it settles
    /// within about a sixth of a regime and crosses thresholds on the way rather than jumping.
    converge: i64,
    walks: Vec<InstrumentWalk>,
    current: Arc<MarketTick>,
}

impl MarketModel {
    /// A model at step 0. `ticks_per_regime` is `cycle / quote_interval` (at least 1).
    pub fn new(listing: &Listing, seed: u64, ticks_per_regime: u64) -> MarketModel {
        let ticks_per_regime = ticks_per_regime.max(1);
        let walks = listing
            .instruments()
            .iter()
            .map(|ins| {
                let price = Decimal::new(ins.start_ticks, ins.price_scale);
                let legs = listing
                    .venues()
                    .iter()
                    .filter_map(|&venue| {
                        let l = ins.on(venue)?;
                        let base_per_lot = Decimal::new(1, l.qty_scale)
                            * l.spec.contract_size.unwrap_or(Decimal::ONE);
                        let max_lots = (Decimal::from(MAX_TOP_NOTIONAL) / price / base_per_lot)
                            .trunc()
                            .to_i64()
                            .unwrap_or(1)
                            .clamp(1, 1_000_000_000);
                        Some(LegWalk {
                            venue,
                            offset: 0,
                            // One basis point of the starting price, at least two ticks.
                            max_offset: (ins.start_ticks / 10_000).max(2),
                            max_lots,
                            qty_scale: l.qty_scale,
                            interval_hours: l.funding_interval_hours,
                            apr_bp: 0,
                            target_apr_bp: 0,
                        })
                    })
                    .collect();
                InstrumentWalk {
                    mid: ins.start_ticks,
                    anchor: ins.start_ticks,
                    price_scale: ins.price_scale,
                    legs,
                    hot: None,
                }
            })
            .collect();
        let mut model = MarketModel {
            rng: Rng::new(seed),
            ticks_per_regime,
            converge: (ticks_per_regime as i64 / 6).max(1),
            walks,
            current: Arc::new(MarketTick {
                tick: 0,
                regime: 0,
                instruments: Vec::new(),
            }),
        };
        model.enter_regime(0);
        for w in &mut model.walks {
            for leg in &mut w.legs {
                leg.apr_bp = leg.target_apr_bp;
            }
        }
        model.current = Arc::new(model.snapshot(0, 0));
        model
    }

    /// The state at the current step.
    pub fn current(&self) -> &Arc<MarketTick> {
        &self.current
    }

    pub fn ticks_per_regime(&self) -> u64 {
        self.ticks_per_regime
    }

    /// Advances one step and returns the new state.
    pub fn step(&mut self) -> &Arc<MarketTick> {
        let tick = self.current.tick + 1;
        let regime = tick / self.ticks_per_regime;
        if regime != self.current.regime {
            self.enter_regime(regime);
        }
        let converge = self.converge;
        let rng = &mut self.rng;
        for w in &mut self.walks {
            let vol = (w.mid / 50_000).max(1);
            let drift = (w.mid - w.anchor) / 4_000;
            w.mid = (w.mid + rng.between(-vol, vol) - drift)
                .max(w.anchor / 10)
                .max(10);
            for leg in &mut w.legs {
                leg.offset =
                    (leg.offset + rng.between(-1, 1)).clamp(-leg.max_offset, leg.max_offset);
                if leg.interval_hours.is_some() {
                    // At least one basis point of pull, so the noise cannot drift freely once
                    // the gap is smaller than `converge`.
                    let gap = leg.target_apr_bp - leg.apr_bp;
                    let pull = match gap / converge {
                        0 => gap.signum(),
                        p => p,
                    };
                    leg.apr_bp += pull + rng.between(-APR_NOISE_BP, APR_NOISE_BP);
                }
            }
        }
        self.current = Arc::new(self.snapshot(tick, regime));
        &self.current
    }

    /// Sets every perp's funding target for a new regime (see the module doc for the pattern).
    fn enter_regime(&mut self, regime: u64) {
        let rng = &mut self.rng;
        for w in &mut self.walks {
            let perps: Vec<usize> = (0..w.legs.len())
                .filter(|&i| w.legs[i].interval_hours.is_some())
                .collect();
            for &i in &perps {
                w.legs[i].target_apr_bp = rng.between(CALM_APR_BP.0, CALM_APR_BP.1);
            }
            if perps.is_empty() {
                w.hot = None;
                continue;
            }
            if regime % 2 == 1 {
                let high = perps[rng.below(perps.len() as u64) as usize];
                let low = (perps.len() > 1).then(|| {
                    let others: Vec<usize> = perps.iter().copied().filter(|&p| p != high).collect();
                    others[rng.below(others.len() as u64) as usize]
                });
                w.legs[high].target_apr_bp = rng.between(HOT_HIGH_APR_BP.0, HOT_HIGH_APR_BP.1);
                if let Some(low) = low {
                    w.legs[low].target_apr_bp = rng.between(HOT_LOW_APR_BP.0, HOT_LOW_APR_BP.1);
                }
                w.hot = Some((high, low));
            } else if let Some((high, low)) = w.hot.take() {
                if rng.below(2) == 0 {
                    // Flip the previous wide pair: what paid now costs.
                    match low {
                        Some(low) => {
                            w.legs[high].target_apr_bp =
                                rng.between(HOT_LOW_APR_BP.0, HOT_LOW_APR_BP.1);
                            w.legs[low].target_apr_bp =
                                rng.between(HOT_HIGH_APR_BP.0, HOT_HIGH_APR_BP.1);
                        }
                        None => {
                            w.legs[high].target_apr_bp =
                                rng.between(FLIPPED_SOLO_APR_BP.0, FLIPPED_SOLO_APR_BP.1);
                        }
                    }
                } else {
                    // Calm down: everyone back to normal, the former high leg just below zero.
                    w.legs[high].target_apr_bp =
                        rng.between(REVERTED_HIGH_APR_BP.0, REVERTED_HIGH_APR_BP.1);
                }
            }
        }
    }

    /// Draws this step's books and renders the state. Draw order is fixed (instrument, then
    /// legs in venue order), which is what keeps the sequence reproducible.
    fn snapshot(&mut self, tick: u64, regime: u64) -> MarketTick {
        let rng = &mut self.rng;
        let instruments = self
            .walks
            .iter()
            .map(|w| {
                let scale = w.price_scale;
                let mut legs: [Option<LegTick>; VENUE_COUNT] = Default::default();
                for leg in &w.legs {
                    let mid = (w.mid + leg.offset).max(3);
                    let bid = mid - rng.between(0, 1);
                    let ask = mid + rng.between(1, 2);
                    let bid_lots = 1 + rng.below(leg.max_lots as u64) as i64;
                    let ask_lots = 1 + rng.below(leg.max_lots as u64) as i64;
                    let (rate_e8, apr) = match leg.interval_hours {
                        Some(h) => (funding_rate_e8(leg.apr_bp, h), leg.apr_bp),
                        None => (0, 0),
                    };
                    legs[leg.venue.index()] = Some(LegTick {
                        bid: Decimal::new(bid, scale),
                        ask: Decimal::new(ask, scale),
                        bid_qty: Decimal::new(bid_lots, leg.qty_scale),
                        ask_qty: Decimal::new(ask_lots, leg.qty_scale),
                        mark: Decimal::new(mid, scale),
                        index: Decimal::new(w.mid, scale),
                        funding_rate: Decimal::new(rate_e8, RATE_SCALE),
                        funding_apr_bp: apr,
                        seq: tick + 1,
                    });
                }
                InstrumentTick {
                    index: Decimal::new(w.mid, scale),
                    legs,
                }
            })
            .collect();
        MarketTick {
            tick,
            regime,
            instruments,
        }
    }
}

/// The per-interval rate (units of 1e-8) of an annualized rate in basis points:
/// `apr × interval / year`. `7000 bp` on 8 h is `0.00063926`.
pub fn funding_rate_e8(apr_bp: i64, interval_hours: u32) -> i64 {
    apr_bp * i64::from(interval_hours) * 10_000 / 8_760
}

/// Static 24 h statistics that tickers carry: derived from the instrument's starting price so
/// they are plausible and never change (a Bybit delta never needs to carry them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayStats {
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    /// Base units traded.
    pub volume: Decimal,
    /// Quote units traded.
    pub turnover: Decimal,
}

impl DayStats {
    pub fn of(ins: &ListedInstrument) -> DayStats {
        let s = ins.price_scale;
        let open = Decimal::new(ins.start_ticks, s);
        let turnover = Decimal::from(1_000_000_000i64);
        DayStats {
            open,
            high: Decimal::new(ins.start_ticks * 102 / 100, s),
            low: Decimal::new(ins.start_ticks * 98 / 100, s),
            volume: (turnover / open).round_dp(3),
            turnover,
        }
    }

    /// `(last - open) / open`, to `dp` decimals.
    pub fn change(&self, last: Decimal, dp: u32) -> Decimal {
        ((last - self.open) / self.open).round_dp(dp)
    }
}

/// Steps a model no further back than this at once; a longer gap (a suspended laptop) is
/// skipped rather than replayed, so a reader never stalls for seconds.
const MAX_CATCH_UP_TICKS: u64 = 2_000;

/// The model shared by every simulated connection and the REST server, advanced lazily to the
/// number of quote intervals elapsed since start, so all venues see one consistent market.
#[derive(Debug)]
pub struct SharedMarket {
    model: Mutex<SharedState>,
    started: Instant,
    quote_interval: Duration,
}

#[derive(Debug)]
struct SharedState {
    model: MarketModel,
    skipped_ticks: u64,
}

impl SharedMarket {
    pub fn new(model: MarketModel, quote_interval: Duration) -> SharedMarket {
        SharedMarket {
            model: Mutex::new(SharedState {
                model,
                skipped_ticks: 0,
            }),
            started: Instant::now(),
            quote_interval: quote_interval.max(Duration::from_millis(1)),
        }
    }

    /// The market as of now.
    pub fn now(&self) -> Arc<MarketTick> {
        let elapsed = (self.started.elapsed().as_nanos() / self.quote_interval.as_nanos()) as u64;
        // A poisoned lock only means another connection thread panicked mid-step; the model
        // is still a valid state, so keep serving it.
        let mut s = self.model.lock().unwrap_or_else(|e| e.into_inner());
        let target = elapsed.saturating_sub(s.skipped_ticks);
        let at = s.model.current().tick;
        if target > at + MAX_CATCH_UP_TICKS {
            s.skipped_ticks += target - at - MAX_CATCH_UP_TICKS;
        }
        let target = elapsed.saturating_sub(s.skipped_ticks);
        while s.model.current().tick < target {
            s.model.step();
        }
        Arc::clone(s.model.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(instruments: &[&str]) -> Listing {
        let names: Vec<String> = instruments.iter().map(|s| s.to_string()).collect();
        Listing::new(&names, &Venue::ALL).unwrap()
    }

    #[test]
    fn rate_of_an_apr_is_exact_per_interval() {
        // apr_bp, hours, rate in 1e-8: checkable by hand as apr/10000 * h/8760.
        let cases = [
            (1_095, 8, 10_000),
            (7_000, 8, 63_926),
            (7_000, 4, 31_963),
            (7_000, 1, 7_990),
            (-2_000, 8, -18_264),
            (0, 8, 0),
        ];
        for (apr, h, e8) in cases {
            assert_eq!(funding_rate_e8(apr, h), e8, "{apr} bp over {h} h");
        }
    }

    #[test]
    fn rng_is_fixed_by_its_seed() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(8);
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut r = Rng::new(1);
        for _ in 0..1000 {
            let x = r.between(-3, 3);
            assert!((-3..=3).contains(&x));
        }
    }

    #[test]
    fn books_are_sane_on_every_leg() {
        let l = listing(&["BTC-USDT", "ETH-USDT", "DOGE-USDT"]);
        let mut m = MarketModel::new(&l, 3, 40);
        for _ in 0..500 {
            let t = m.step().clone();
            for (i, ins) in t.instruments.iter().enumerate() {
                for &venue in &Venue::ALL {
                    let leg = t
                        .leg(i, venue)
                        .expect("every venue carries every instrument");
                    assert!(
                        leg.bid > Decimal::ZERO && leg.ask > leg.bid,
                        "{venue} {leg:?}"
                    );
                    assert!(leg.bid_qty > Decimal::ZERO && leg.ask_qty > Decimal::ZERO);
                    let spec = l.get(i, venue).unwrap().spec;
                    assert_eq!(leg.bid.scale(), spec.tick_size.scale());
                    // Near the index: within 1 bp of basis plus a few ticks of spread.
                    let dev = ((leg.mark - ins.index) / ins.index).abs();
                    assert!(
                        dev < Decimal::new(2, 4),
                        "{venue} mark {} index {}",
                        leg.mark,
                        ins.index
                    );
                    if venue.is_perp() {
                        assert_eq!(
                            leg.funding_rate,
                            Decimal::new(
                                funding_rate_e8(
                                    leg.funding_apr_bp,
                                    l.get(i, venue).unwrap().funding_interval_hours.unwrap()
                                ),
                                RATE_SCALE
                            )
                        );
                    } else {
                        assert_eq!(leg.funding_rate, Decimal::ZERO);
                    }
                }
            }
        }
    }
}

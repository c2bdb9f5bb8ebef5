//! Benchmark `engine`: market events per second through the engine thread's code, and the latency
//! of one decision, single-threaded.
//!
//! - `decider/on_market`: events into the funding monitor alone.
//! - `decider/on_market+evaluate`: each event, then `evaluate` for every pair that cares about
//!   it (what the engine does per market event, minus journaling and order work).
//! - `decider/evaluate_{flat,open,auto}`: one decision: a flat spot–perp pair below its entry
//!   threshold, an open pair (margin checks and the exit rule), a flat `auto` pair choosing among
//!   six orientations.
//! - `decider/evaluate_entry/{1,256}_pairs`: one decision that returns an entry target, in a
//!   decider of 1 or 256 flat spot–perp pairs (the pairs of `pipeline`'s `wire_to_intent`). An
//!   entry is sized against the notional the other pairs hold, summed over the instruments that
//!   hold a position (none here): the two should cost the same.
//! - `engine/on_event`: the full path, `Engine::on_event` with the real decider, every input
//!   encoded as a journal record into a reused buffer (the journal's own append cost is measured
//!   by the `journal` benchmark).
//! - `engine/on_event+journal`: the same, appending to a real journal in a temporary directory
//!   (durability `none`: page cache).
//!
//! The event mix is fixed and seeded: 4 pairs over 4 instruments (9 streams on 7 venues), 90 %
//! quotes and 10 % funding updates, prices jittering by a tick, funding below the entry threshold
//! (the steady state: watching, not trading). Time advances 50 µs per event, so nothing goes
//! stale.
//! Figures per event are criterion's estimates (median of sample means).

use std::hint::black_box;
use std::path::PathBuf;

use carry_engine::config::{
    BreakerConfig, Crossing, EngineConfig, ExecConfig, FeeKind, PairConfig, RiskConfig,
    StrategyConfig,
};
use carry_engine::engine::{Engine, Input};
use carry_engine::execution::order::OrderIntent;
use carry_engine::sink::RecordSink;
use carry_engine::{
    Decider, DeciderConfig, Funding, InstrumentId, InstrumentSpec, MarketEvent, MarketEventKind,
    Now, PairId, Positions, Quote, Universe, Venue, VenueParams,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rust_decimal::Decimal;

const BATCH: usize = 1024;
const EVENTS: usize = 1 << 16;
const STEP_NS: u64 = 50_000;
const T0_MS: i64 = 1_715_760_000_000;

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal literal")
}

fn v(s: &str) -> Venue {
    s.parse().expect("venue id")
}

/// (instrument, price, venues it is listed on)
const INSTRUMENTS: [(&str, &str, &[&str]); 4] = [
    ("BTC-USDT", "65000", &["binance-spot", "binance-perp"]),
    ("ETH-USDT", "3000", &["bybit-spot", "bybit-perp"]),
    ("SOL-USDT", "150", &["okx-perp", "bitget-perp"]),
    (
        "DOGE-USDT",
        "0.15",
        &["gate-perp", "okx-perp", "bitget-perp"],
    ),
];

fn universe() -> Universe {
    let mut u = Universe::new();
    for (name, _, venues) in INSTRUMENTS {
        let id = u.add(name).expect("instrument");
        for venue in venues {
            u.set_symbol(id, v(venue), &name.replace('-', ""));
        }
    }
    u
}

fn pair(instrument: &str, long: &str, short: &str, venues: &[&str], qty: &str) -> PairConfig {
    PairConfig {
        name: None,
        instrument: instrument.into(),
        long: long.into(),
        short: short.into(),
        venues: venues.iter().map(|s| s.to_string()).collect(),
        order_qty: Some(d(qty)),
        max_notional: None,
        allow_margin_short_spot: false,
    }
}

fn config() -> DeciderConfig {
    DeciderConfig {
        pairs: vec![
            pair("BTC-USDT", "binance-spot", "binance-perp", &[], "0.01"),
            pair("ETH-USDT", "bybit-spot", "bybit-perp", &[], "0.2"),
            pair("SOL-USDT", "okx-perp", "bitget-perp", &[], "5"),
            pair(
                "DOGE-USDT",
                "auto",
                "auto",
                &["gate-perp", "okx-perp", "bitget-perp"],
                "5000",
            ),
        ],
        strategy: StrategyConfig {
            entry_apr: d("0.5"),
            exit_apr: d("0.02"),
            use_predicted_rate: false,
            expected_holding_hours: d("72"),
            fallback_interval_hours: 8,
            fee: FeeKind::Taker,
            crossing: Crossing::HalfSpread,
            spot_borrow_apr: None,
        },
        risk: RiskConfig {
            max_notional_per_pair: d("10000"),
            max_total_notional: d("40000"),
            min_liquidation_distance: d("0.15"),
            max_margin_ratio: d("0.5"),
            default_maintenance_margin_rate: d("0.005"),
            default_leverage: d("2"),
        },
        breakers: BreakerConfig::default(),
        venues: [VenueParams {
            taker_fee: d("0.0005"),
            maker_fee: d("0.0002"),
            maintenance_margin_rate: None,
            leverage: None,
        }; 10],
    }
}

/// A small deterministic generator (xorshift64*), so every run sees the same events.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn events() -> Vec<MarketEvent> {
    let mut streams = Vec::new();
    for (i, (_, price, venues)) in INSTRUMENTS.iter().enumerate() {
        for venue in *venues {
            streams.push((InstrumentId(i as u16), v(venue), d(price)));
        }
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..EVENTS)
        .map(|n| {
            let (instrument, venue, price) = streams[rng.below(streams.len() as u64) as usize];
            let tick = price / Decimal::from(100_000);
            let jitter = tick * Decimal::from(rng.below(5) as i64 - 2);
            let kind = if venue.is_perp() && rng.below(10) == 0 {
                MarketEventKind::Funding(Funding {
                    rate: Decimal::new(rng.below(10) as i64 - 2, 5),
                    predicted_rate: None,
                    next_funding_time_ms: T0_MS + 8 * 3_600_000,
                    interval_ms: Some(8 * 3_600_000),
                    mark_price: Some(price + jitter),
                    index_price: None,
                })
            } else {
                MarketEventKind::Quote(Quote {
                    bid: price + jitter - tick,
                    bid_qty: d("12.5"),
                    ask: price + jitter + tick,
                    ask_qty: d("9.25"),
                })
            };
            MarketEvent {
                venue,
                instrument,
                ts_ms: T0_MS + (n as u64 * STEP_NS / 1_000_000) as i64,
                recv_ns: n as u64 * STEP_NS,
                kind,
            }
        })
        .collect()
}

/// Replays the fixed event list forever with time moving forward: each lap shifts every stamp
/// past the previous lap.
struct Feed {
    events: Vec<MarketEvent>,
    next: usize,
    lap: u64,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            events: events(),
            next: 0,
            lap: 0,
        }
    }

    fn next(&mut self) -> (MarketEvent, Now) {
        let mut ev = self.events[self.next];
        let shift_ns = self.lap * EVENTS as u64 * STEP_NS;
        ev.recv_ns += shift_ns;
        ev.ts_ms += (shift_ns / 1_000_000) as i64;
        self.next += 1;
        if self.next == EVENTS {
            self.next = 0;
            self.lap += 1;
        }
        (ev, Now::new(ev.recv_ns + 2_000, ev.ts_ms))
    }
}

/// A decider that has seen every stream (one lap of the feed).
fn warm_decider(feed: &mut Feed) -> Decider {
    let mut decider = Decider::new(config(), &universe()).expect("bench config");
    for _ in 0..EVENTS {
        let (ev, now) = feed.next();
        decider.on_market(&ev, now);
    }
    decider
}

fn bench_decider(c: &mut Criterion) {
    let positions = Positions::new(INSTRUMENTS.len());
    let mut g = c.benchmark_group("decider");

    g.throughput(Throughput::Elements(BATCH as u64));
    let mut feed = Feed::new();
    let mut decider = warm_decider(&mut feed);
    g.bench_function("on_market", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let (ev, now) = feed.next();
                decider.on_market(black_box(&ev), now);
            }
        })
    });

    let mut decisions = 0u64;
    g.bench_function("on_market+evaluate", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let (ev, now) = feed.next();
                decider.on_market(black_box(&ev), now);
                let mut pairs = [PairId(0); 8];
                let care = decider.pairs_for(ev.venue, ev.instrument);
                let n = care.len().min(pairs.len());
                pairs[..n].copy_from_slice(&care[..n]);
                for &pair in &pairs[..n] {
                    if decider.evaluate(pair, &positions, false, now).is_some() {
                        decisions += 1;
                    }
                }
            }
        })
    });
    black_box(decisions);

    g.throughput(Throughput::Elements(1));
    let (_, now) = feed.next();
    g.bench_function("evaluate_flat", |b| {
        b.iter(|| black_box(decider.evaluate(black_box(PairId(0)), &positions, false, now)))
    });
    g.bench_function("evaluate_auto", |b| {
        b.iter(|| black_box(decider.evaluate(black_box(PairId(3)), &positions, false, now)))
    });
    // The BTC pair open: long 0.01 spot, short 0.01 perp at 65000.
    let mut open = Positions::new(INSTRUMENTS.len());
    open.apply_fill(v("binance-spot"), InstrumentId(0), d("0.01"), d("65000"));
    open.apply_fill(v("binance-perp"), InstrumentId(0), d("-0.01"), d("65000"));
    g.bench_function("evaluate_open", |b| {
        b.iter(|| black_box(decider.evaluate(black_box(PairId(0)), &open, false, now)))
    });

    for n in [1, 256] {
        let (mut decider, now) = entry_decider(n);
        let flat = Positions::new(n);
        let t = decider.evaluate(PairId(0), &flat, false, now);
        assert!(t.is_some(), "the entry bench decider enters");
        g.bench_function(format!("evaluate_entry/{n}_pairs"), |b| {
            b.iter(|| black_box(decider.evaluate(black_box(PairId(0)), &flat, false, now)))
        });
    }
    g.finish();
}

/// `n` spot–perp pairs on Binance (`C0-USDT` ..), every stream fresh and the perps paying 20 bp
/// per 8 h (219 % a year) against a 20 % entry threshold: every flat pair wants to enter.
fn entry_decider(n: usize) -> (Decider, Now) {
    let (spot, perp) = (v("binance-spot"), v("binance-perp"));
    let mut universe = Universe::new();
    let mut cfg = config();
    cfg.pairs.clear();
    cfg.strategy.entry_apr = d("0.2");
    cfg.risk.max_total_notional = d("1000000000");
    for i in 0..n {
        let name = format!("C{i}-USDT");
        let id = universe.add(&name).expect("instrument");
        universe.set_symbol(id, spot, &format!("C{i}USDT"));
        universe.set_symbol(id, perp, &format!("C{i}USDT"));
        cfg.pairs
            .push(pair(&name, "binance-spot", "binance-perp", &[], "1"));
    }
    let mut decider = Decider::new(cfg, &universe).expect("entry bench config");
    let now = Now::new(1_000_000, T0_MS);
    let quote = MarketEventKind::Quote(Quote {
        bid: d("99.99"),
        bid_qty: d("50"),
        ask: d("100.01"),
        ask_qty: d("50"),
    });
    let funding = MarketEventKind::Funding(Funding {
        rate: d("0.002"),
        predicted_rate: None,
        next_funding_time_ms: T0_MS + 8 * 3_600_000,
        interval_ms: Some(8 * 3_600_000),
        mark_price: Some(d("100")),
        index_price: None,
    });
    for i in 0..n {
        for (venue, kind) in [(spot, quote), (perp, quote), (perp, funding)] {
            let ev = MarketEvent {
                venue,
                instrument: InstrumentId(i as u16),
                ts_ms: T0_MS,
                recv_ns: now.mono_ns,
                kind,
            };
            decider.on_market(&ev, now);
        }
    }
    (decider, now)
}

/// Encodes every record into one reused buffer and keeps nothing: the engine's path without
/// the journal's I/O.
struct EncodeOnly {
    buf: Vec<u8>,
    seq: u64,
}

impl RecordSink for EncodeOnly {
    fn append_with<F: FnOnce(&mut [u8])>(
        &mut self,
        _kind: u16,
        _ts_ns: u64,
        len: usize,
        encode: F,
    ) -> Result<u64, carry_journal::JournalError> {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
        encode(&mut self.buf[..len]);
        black_box(&self.buf);
        self.seq += 1;
        Ok(self.seq)
    }
}

fn specs() -> Vec<(Venue, InstrumentId, InstrumentSpec)> {
    let mut out = Vec::new();
    for (i, (_, price, venues)) in INSTRUMENTS.iter().enumerate() {
        let tick = d(price) / Decimal::from(100_000);
        for venue in *venues {
            out.push((
                v(venue),
                InstrumentId(i as u16),
                InstrumentSpec {
                    tick_size: tick,
                    lot_size: d("0.0001"),
                    min_qty: d("0.0001"),
                    min_notional: d("5"),
                    contract_size: None,
                },
            ));
        }
    }
    out
}

fn engine_config() -> EngineConfig {
    EngineConfig {
        instance: "bench".into(),
        execution: ExecConfig::default(),
        config_text: String::new(),
    }
}

fn drive<S: RecordSink>(
    engine: &mut Engine<Decider, S>,
    feed: &mut Feed,
    out: &mut Vec<OrderIntent>,
) {
    for _ in 0..BATCH {
        let (ev, now) = feed.next();
        engine.on_event(&Input::Market(ev), now, out);
        out.clear();
    }
}

fn bench_engine(c: &mut Criterion) {
    let universe = universe();
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(BATCH as u64));

    let mut feed = Feed::new();
    let decider = warm_decider(&mut feed);
    let sink = EncodeOnly {
        buf: Vec::with_capacity(4096),
        seq: 0,
    };
    let mut engine =
        Engine::new(engine_config(), &universe, decider, sink).expect("engine on memory");
    let (_, now) = feed.next();
    engine.start(&specs(), now).expect("start");
    let mut out = Vec::with_capacity(64);
    g.bench_function("on_event", |b| {
        b.iter(|| drive(&mut engine, &mut feed, &mut out))
    });

    let dir = scratch_dir();
    let (journal, _) = carry_journal::Journal::open(&dir, carry_journal::JournalOptions::default())
        .expect("journal in a temporary directory");
    let mut feed = Feed::new();
    let decider = warm_decider(&mut feed);
    let mut engine =
        Engine::new(engine_config(), &universe, decider, journal).expect("engine on journal");
    let (_, now) = feed.next();
    engine.start(&specs(), now).expect("start");
    g.bench_function("on_event+journal", |b| {
        b.iter(|| drive(&mut engine, &mut feed, &mut out))
    });
    g.finish();
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("carry-bench-engine-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

criterion_group!(benches, bench_decider, bench_engine);
criterion_main!(benches);

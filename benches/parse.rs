//! Benchmark `parse`: one venue message of each kind carry reads, turned into events three ways so
//! the ratio reads off one run: `carry` (the live path: the venue parser reading the frame in
//! place, where it lies in the socket buffer, into exact decimals and normalized events),
//! `serde_json_struct` (serde_json into a typed struct borrowing `&str` fields, no normalization)
//! and `serde_json_value` (serde_json into a `Value`); `simd_json_tape` is simd-json's reusable
//! tape alone, the baseline that led carry to its own single-pass cursor. Messages are the
//! recorded payloads, compacted as they arrive on the wire, so each takes the path it takes live:
//! the in-order reader for the book streams, the keyed fast path for the other short frames
//! (Binance, OKX, Bitget, Gate), the cursor for the rest.
//!
//! Before criterion's groups it prints carry's time over serde_json typed per kind timed in
//! pairs (see [`paired`]), the steadier ratio on a shared machine.
//!
//! Short run for CI: `cargo bench --bench parse -- --warm-up-time 0.3 --measurement-time 0.5`.

#![allow(non_snake_case, dead_code)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use carry_engine::{Universe, Venue};
use carry_feeds::venue::market_ws::Parser;
use carry_feeds::venue::symbols;
use carry_feeds::RecvStamp;
use criterion::{criterion_group, BenchmarkId, Criterion};
use rust_decimal::Decimal;
use serde::Deserialize;

const RECV: RecvStamp = RecvStamp {
    mono_ns: 1,
    unix_ms: 1_700_000_000_000,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/venues/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    compact(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// Drops whitespace outside strings: the docs' examples are pretty-printed, the wire is not.
fn compact(json: &[u8]) -> Vec<u8> {
    let (mut out, mut in_string, mut escaped) = (Vec::with_capacity(json.len()), false, false);
    for &c in json {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if !c.is_ascii_whitespace() {
            in_string = c == b'"';
            out.push(c);
        }
    }
    out
}

/// A live-mode parser for one symbol, with a contract size where the venue quotes contracts.
fn parser(venue: Venue, symbol: &str) -> Parser {
    let mut universe = Universe::new();
    let id = universe
        .add(&symbols::canonical(venue, symbol).expect("symbol maps"))
        .expect("instrument");
    universe.set_symbol(id, venue, symbol);
    let mut p = Parser::new(venue, Arc::new(universe), true);
    p.set_contract_size(id, Some(Decimal::new(1, 2)));
    p
}

// --- The typed structs a serde_json implementation would use (borrowed `&str` fields) ---

#[derive(Deserialize)]
struct BinanceMarkPrice<'a> {
    e: &'a str,
    E: i64,
    s: &'a str,
    p: &'a str,
    i: &'a str,
    P: &'a str,
    r: &'a str,
    T: i64,
}

#[derive(Deserialize)]
struct BinanceBookTicker<'a> {
    u: u64,
    #[serde(default)]
    E: i64,
    s: &'a str,
    b: &'a str,
    B: &'a str,
    a: &'a str,
    A: &'a str,
}

#[derive(Deserialize)]
struct BybitTicker<'a> {
    topic: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(borrow)]
    data: BybitTickerData<'a>,
    ts: i64,
}

#[derive(Deserialize)]
struct BybitTickerData<'a> {
    symbol: &'a str,
    #[serde(rename = "fundingRate")]
    funding_rate: Option<&'a str>,
    #[serde(rename = "nextFundingTime")]
    next_funding_time: Option<&'a str>,
    #[serde(rename = "markPrice")]
    mark_price: Option<&'a str>,
    #[serde(rename = "indexPrice")]
    index_price: Option<&'a str>,
}

#[derive(Deserialize)]
struct BybitBook<'a> {
    topic: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    ts: i64,
    #[serde(borrow)]
    data: BybitBookData<'a>,
}

#[derive(Deserialize)]
struct BybitBookData<'a> {
    s: &'a str,
    #[serde(borrow)]
    b: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    a: Vec<(&'a str, &'a str)>,
    u: u64,
}

#[derive(Deserialize)]
struct OkxArg<'a> {
    channel: &'a str,
    #[serde(rename = "instId")]
    inst_id: &'a str,
}

#[derive(Deserialize)]
struct OkxFunding<'a> {
    #[serde(borrow)]
    arg: OkxArg<'a>,
    #[serde(borrow)]
    data: Vec<OkxFundingData<'a>>,
}

#[derive(Deserialize)]
struct OkxFundingData<'a> {
    #[serde(rename = "instId")]
    inst_id: &'a str,
    #[serde(rename = "fundingRate")]
    funding_rate: &'a str,
    #[serde(rename = "nextFundingRate")]
    next_funding_rate: &'a str,
    #[serde(rename = "fundingTime")]
    funding_time: &'a str,
    #[serde(rename = "nextFundingTime")]
    next_funding_time: &'a str,
    ts: &'a str,
}

#[derive(Deserialize)]
struct OkxBbo<'a> {
    #[serde(borrow)]
    arg: OkxArg<'a>,
    #[serde(borrow)]
    data: Vec<OkxBboData<'a>>,
}

#[derive(Deserialize)]
struct OkxBboData<'a> {
    #[serde(borrow)]
    asks: Vec<(&'a str, &'a str, &'a str, &'a str)>,
    #[serde(borrow)]
    bids: Vec<(&'a str, &'a str, &'a str, &'a str)>,
    ts: &'a str,
}

#[derive(Deserialize)]
struct BitgetArg<'a> {
    #[serde(rename = "instType")]
    inst_type: &'a str,
    channel: &'a str,
    #[serde(rename = "instId")]
    inst_id: &'a str,
}

#[derive(Deserialize)]
struct BitgetTicker<'a> {
    action: &'a str,
    #[serde(borrow)]
    arg: BitgetArg<'a>,
    #[serde(borrow)]
    data: Vec<BitgetTickerData<'a>>,
    ts: i64,
}

#[derive(Deserialize)]
struct BitgetTickerData<'a> {
    #[serde(rename = "instId")]
    inst_id: &'a str,
    #[serde(rename = "bidPr")]
    bid: &'a str,
    #[serde(rename = "askPr")]
    ask: &'a str,
    #[serde(rename = "bidSz")]
    bid_size: &'a str,
    #[serde(rename = "askSz")]
    ask_size: &'a str,
    #[serde(rename = "fundingRate")]
    funding_rate: Option<&'a str>,
    #[serde(rename = "nextFundingTime")]
    next_funding_time: Option<&'a str>,
    #[serde(rename = "markPrice")]
    mark_price: Option<&'a str>,
    #[serde(rename = "indexPrice")]
    index_price: Option<&'a str>,
    ts: &'a str,
}

#[derive(Deserialize)]
struct BitgetBooks<'a> {
    action: &'a str,
    #[serde(borrow)]
    arg: BitgetArg<'a>,
    #[serde(borrow)]
    data: Vec<BitgetBooksData<'a>>,
    ts: i64,
}

#[derive(Deserialize)]
struct BitgetBooksData<'a> {
    #[serde(borrow)]
    asks: Vec<(&'a str, &'a str)>,
    #[serde(borrow)]
    bids: Vec<(&'a str, &'a str)>,
    ts: &'a str,
}

#[derive(Deserialize)]
struct GateTickers<'a> {
    time: i64,
    time_ms: i64,
    channel: &'a str,
    event: &'a str,
    #[serde(borrow)]
    result: Vec<GateTickerData<'a>>,
}

#[derive(Deserialize)]
struct GateTickerData<'a> {
    contract: &'a str,
    funding_rate: &'a str,
    mark_price: &'a str,
    index_price: &'a str,
}

#[derive(Deserialize)]
struct GateFuturesBook<'a> {
    time_ms: i64,
    channel: &'a str,
    event: &'a str,
    #[serde(borrow)]
    result: GateFuturesBookData<'a>,
}

#[derive(Deserialize)]
struct GateFuturesBookData<'a> {
    t: i64,
    s: &'a str,
    b: &'a str,
    B: i64,
    a: &'a str,
    A: i64,
}

#[derive(Deserialize)]
struct GateSpotBook<'a> {
    time_ms: i64,
    channel: &'a str,
    event: &'a str,
    #[serde(borrow)]
    result: GateSpotBookData<'a>,
}

#[derive(Deserialize)]
struct GateSpotBookData<'a> {
    t: i64,
    s: &'a str,
    b: &'a str,
    B: &'a str,
    a: &'a str,
    A: &'a str,
}

/// One message kind: name, venue, fixture, symbol, a message to feed once before measuring
/// (the Bybit snapshot a delta merges into), and the typed serde_json parse.
struct Kind {
    name: &'static str,
    venue: &'static str,
    file: &'static str,
    symbol: &'static str,
    warm_with: Option<&'static str>,
    typed: fn(&[u8]) -> usize,
}

/// Typed parse; returns a byte of the result so nothing is optimized away.
macro_rules! typed {
    ($t:ty) => {
        |frame: &[u8]| {
            let parsed: $t = serde_json::from_slice(frame).expect("typed parse");
            black_box(&parsed);
            std::mem::size_of_val(&parsed)
        }
    };
}

const KINDS: &[Kind] = &[
    Kind {
        name: "binance_markPrice",
        venue: "binance-perp",
        file: "binance_usdm_markPrice_1.json",
        symbol: "BTCUSDT",
        warm_with: None,
        typed: typed!(BinanceMarkPrice),
    },
    Kind {
        name: "binance_bookTicker",
        venue: "binance-perp",
        file: "binance_usdm_bookTicker_1.json",
        symbol: "BNBUSDT",
        warm_with: None,
        typed: typed!(BinanceBookTicker),
    },
    Kind {
        name: "binance_spot_bookTicker",
        venue: "binance-spot",
        file: "binance_spot_bookTicker_1.json",
        symbol: "BNBUSDT",
        warm_with: None,
        typed: typed!(BinanceBookTicker),
    },
    Kind {
        name: "bybit_tickers_snapshot",
        venue: "bybit-perp",
        file: "bybit_linear_tickers_snapshot_1.json",
        symbol: "BTCUSDT",
        warm_with: None,
        typed: typed!(BybitTicker),
    },
    Kind {
        name: "bybit_tickers_delta",
        venue: "bybit-perp",
        file: "bybit_linear_tickers_delta_1.json",
        symbol: "BTCUSDT",
        warm_with: Some("bybit_linear_tickers_snapshot_1.json"),
        typed: typed!(BybitTicker),
    },
    Kind {
        name: "bybit_orderbook1",
        venue: "bybit-spot",
        file: "bybit_spot_orderbook1_snapshot_1.json",
        symbol: "BTCUSDT",
        warm_with: None,
        typed: typed!(BybitBook),
    },
    Kind {
        name: "okx_funding_rate",
        venue: "okx-perp",
        file: "okx_swap_funding_rate_push_1.json",
        symbol: "BTC-USD-SWAP",
        warm_with: None,
        typed: typed!(OkxFunding),
    },
    Kind {
        name: "okx_bbo_tbt",
        venue: "okx-perp",
        file: "okx_bbo_tbt_push_1.json",
        symbol: "BCH-USDT-SWAP",
        warm_with: None,
        typed: typed!(OkxBbo),
    },
    Kind {
        name: "bitget_ticker",
        venue: "bitget-perp",
        file: "bitget_usdtfutures_ticker_push_1.json",
        symbol: "BTCUSDT",
        warm_with: None,
        typed: typed!(BitgetTicker),
    },
    Kind {
        name: "bitget_books",
        venue: "bitget-spot",
        file: "bitget_spot_books5_push_1.json",
        symbol: "BTCUSDT",
        warm_with: None,
        typed: typed!(BitgetBooks),
    },
    Kind {
        name: "gate_futures_tickers",
        venue: "gate-perp",
        file: "gate_futures_tickers_push_1.json",
        symbol: "BTC_USD",
        warm_with: None,
        typed: typed!(GateTickers),
    },
    Kind {
        name: "gate_futures_book_ticker",
        venue: "gate-perp",
        file: "gate_futures_book_ticker_push_1.json",
        symbol: "BTC_USD",
        warm_with: None,
        typed: typed!(GateFuturesBook),
    },
    Kind {
        name: "gate_spot_book_ticker",
        venue: "gate-spot",
        file: "gate_spot_book_ticker_push_1.json",
        symbol: "BTC_USDT",
        warm_with: None,
        typed: typed!(GateSpotBook),
    },
];

/// The frame of `kind`, a parser warmed up for it, and a buffer holding the frame, which the
/// parser reads in place.
fn setup(kind: &Kind) -> (Vec<u8>, Parser, Vec<u8>) {
    let frame = fixture(kind.file);
    let venue: Venue = kind.venue.parse().expect("venue");
    let mut p = parser(venue, kind.symbol);
    if let Some(first) = kind.warm_with {
        let mut warm = fixture(first);
        p.parse(&mut warm, RECV, &mut |_| {})
            .expect("warm-up message");
    }
    // Every kind must yield its event, or the timing would measure a drop path.
    let mut buf = frame.clone();
    let mut events = 0usize;
    p.parse(&mut buf, RECV, &mut |_| events += 1)
        .unwrap_or_else(|e| panic!("{}: {e:?}", kind.name));
    assert_eq!(events, 1, "{}", kind.name);
    // The live path reads a frame in place in the socket buffer. A plain frame (what venues
    // send: no escapes) is left as it was, so every iteration reads the same frame.
    assert_eq!(buf, frame, "{}: the frame changed", kind.name);
    (frame, p, buf)
}

/// carry's time over serde_json typed for each kind, timed in pairs: per round, `PAIRED_N`
/// carry parses then as many serde_json ones, and the median over the rounds of each round's
/// ratio. Criterion times a kind's functions seconds to minutes apart, and on a shared machine
/// the CPU's speed moves by more than the ratio in that time; both halves of a pair run within
/// a millisecond. `CARRY_PAIRED_ROUNDS` sets the rounds (0 skips this table).
fn paired() {
    const PAIRED_N: u32 = 2000;
    let rounds: usize = std::env::var("CARRY_PAIRED_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(150);
    if rounds == 0 {
        return;
    }
    println!("parse, paired: carry / serde_json_struct, median of {rounds} rounds of {PAIRED_N} parses each");
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for kind in KINDS {
        let (frame, mut p, mut buf) = setup(kind);
        let (mut carry, mut serde, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            for _ in 0..PAIRED_N {
                let mut last = None;
                let out = p.parse(black_box(&mut buf), RECV, &mut |e| last = Some(e));
                let _ = black_box((out, last));
            }
            let c = t.elapsed().as_nanos() as f64 / f64::from(PAIRED_N);
            let t = Instant::now();
            for _ in 0..PAIRED_N {
                black_box((kind.typed)(black_box(&frame)));
            }
            let s = t.elapsed().as_nanos() as f64 / f64::from(PAIRED_N);
            carry.push(c);
            serde.push(s);
            ratio.push(c / s);
        }
        assert_eq!(buf, frame, "{}: the frame changed", kind.name);
        println!(
            "  {:26} carry {:6.0} ns  serde_json_struct {:6.0} ns  ratio {:.2}",
            kind.name,
            median(&mut carry),
            median(&mut serde),
            median(&mut ratio)
        );
    }
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    for kind in KINDS {
        let (frame, mut p, mut buf) = setup(kind);
        group.bench_with_input(BenchmarkId::new("carry", kind.name), &frame, |b, _| {
            b.iter(|| {
                let mut last = None;
                let out = p.parse(black_box(&mut buf), RECV, &mut |e| last = Some(e));
                black_box((out, last))
            })
        });
        assert_eq!(buf, frame, "{}: the frame changed", kind.name);
        // Why carry reads frames with its own cursor: simd-json's reusable tape alone, before
        // reading any field, costs about as much as carry's whole parse on the smallest frames
        // and more on the rest. It writes into its input, so each iteration copies the frame.
        let mut tape_buffers = simd_json::Buffers::new(4096);
        let mut tape_holder = Some(simd_json::Tape::null().reset::<'static>());
        group.bench_with_input(
            BenchmarkId::new("simd_json_tape", kind.name),
            &frame,
            |b, frame| {
                b.iter(|| {
                    buf.clear();
                    buf.extend_from_slice(frame);
                    let Some(held) = tape_holder.take() else {
                        return 0;
                    };
                    let mut tape = held.reset();
                    simd_json::fill_tape(&mut buf, &mut tape_buffers, &mut tape)
                        .expect("simd-json parse");
                    let n = tape.0.len();
                    tape_holder = Some(tape.reset());
                    black_box(n)
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("serde_json_struct", kind.name),
            &frame,
            |b, frame| b.iter(|| black_box((kind.typed)(black_box(frame)))),
        );
        group.bench_with_input(
            BenchmarkId::new("serde_json_value", kind.name),
            &frame,
            |b, frame| {
                b.iter(|| {
                    let v: serde_json::Value =
                        serde_json::from_slice(black_box(frame)).expect("value parse");
                    black_box(v)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, parse);

fn main() {
    // Not when cargo only lists or smoke-tests the benches.
    if !std::env::args().any(|a| a == "--list" || a == "--test") {
        paired();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

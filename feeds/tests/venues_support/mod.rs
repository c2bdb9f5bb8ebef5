//! Shared helpers for the venue parser tests: fixture loading, a universe holding the fixtures'
//! symbols, and a one-line rendering of events that a reader can check against the payloads.

#![allow(dead_code)]

use std::sync::Arc;

use carry_engine::{MarketEvent, MarketEventKind, Universe, Venue};
use carry_feeds::venue::market_ws::Parser;
use carry_feeds::venue::symbols;
use carry_feeds::{DropReason, Inbound, RecvStamp};

/// The receive stamp every test frame gets; events without a venue time carry its `unix_ms`.
pub const RECV: RecvStamp = RecvStamp {
    mono_ns: 7,
    unix_ms: 1_700_000_000_000,
};

/// Every market-data fixture, the venue it is read as, and the symbols it carries. Bybit deltas
/// follow their snapshot, as on the wire.
pub const MARKET_DATA: &[(&str, &str, &str)] = &[
    ("binance_usdm_markPrice_1.json", "binance-perp", "BTCUSDT"),
    ("binance_usdm_bookTicker_1.json", "binance-perp", "BNBUSDT"),
    ("binance_spot_bookTicker_1.json", "binance-spot", "BNBUSDT"),
    (
        "bybit_linear_tickers_snapshot_1.json",
        "bybit-perp",
        "BTCUSDT",
    ),
    ("bybit_linear_tickers_delta_1.json", "bybit-perp", "BTCUSDT"),
    (
        "bybit_spot_orderbook1_snapshot_1.json",
        "bybit-spot",
        "BTCUSDT",
    ),
    (
        "bybit_spot_tickers_snapshot_1.json",
        "bybit-spot",
        "BTCUSDT",
    ),
    (
        "okx_swap_funding_rate_push_1.json",
        "okx-perp",
        "BTC-USD-SWAP",
    ),
    ("okx_bbo_tbt_push_1.json", "okx-perp", "BCH-USDT-SWAP"),
    ("okx_tickers_push_1.json", "okx-spot", "BTC-USDT"),
    (
        "bitget_usdtfutures_ticker_push_1.json",
        "bitget-perp",
        "BTCUSDT",
    ),
    ("bitget_spot_ticker_push_1.json", "bitget-spot", "BTCUSDT"),
    ("bitget_spot_books5_push_1.json", "bitget-spot", "BTCUSDT"),
    ("gate_futures_tickers_push_1.json", "gate-perp", "BTC_USD"),
    (
        "gate_futures_book_ticker_push_1.json",
        "gate-perp",
        "BTC_USD",
    ),
    ("gate_spot_book_ticker_push_1.json", "gate-spot", "BTC_USDT"),
];

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../tests/fixtures/venues/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn venue(name: &str) -> Venue {
    name.parse().unwrap()
}

/// A universe holding `symbols` on `venue`, each under its canonical name.
pub fn universe(venue: Venue, syms: &[&str]) -> Universe {
    let mut u = Universe::new();
    for s in syms {
        let name = symbols::canonical(venue, s).unwrap();
        let id = u.find(&name).unwrap_or_else(|| u.add(&name).unwrap());
        u.set_symbol(id, venue, s);
    }
    u
}

/// A parser for `venue` over `syms`, with `require_contract_size` off (the venue's own sizes).
pub fn parser(venue_name: &str, syms: &[&str]) -> Parser {
    let v = venue(venue_name);
    Parser::new(v, Arc::new(universe(v, syms)), false)
}

/// Feeds one frame; returns the outcome and the events rendered.
pub fn feed(p: &mut Parser, frame: &[u8]) -> (Result<Inbound, DropReason>, Vec<String>) {
    let mut events = Vec::new();
    let mut bytes = frame.to_vec();
    let universe = Arc::clone(p.universe());
    let out = p.parse(&mut bytes, RECV, &mut |e| {
        events.push(render(&universe, &e))
    });
    (out, events)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

/// `SYMBOL funding rate=.. predicted=.. next=.. interval=.. mark=.. index=.. ts=..` or
/// `SYMBOL quote bid=..@.. ask=..@.. ts=..`, decimals as they print.
pub fn render(u: &Universe, e: &MarketEvent) -> String {
    assert_eq!(e.recv_ns, RECV.mono_ns, "recv_ns is the frame's");
    assert_ne!(e.ts_ms, 0, "timestamp is never 0");
    let symbol = u.symbol(e.instrument, e.venue).unwrap_or("?");
    match e.kind {
        MarketEventKind::Funding(f) => format!(
            "{symbol} funding rate={} predicted={} next={} interval={} mark={} index={} ts={}",
            f.rate,
            opt(f.predicted_rate),
            f.next_funding_time_ms,
            opt(f.interval_ms),
            opt(f.mark_price),
            opt(f.index_price),
            e.ts_ms
        ),
        MarketEventKind::Quote(q) => format!(
            "{symbol} quote bid={}@{} ask={}@{} ts={}",
            q.bid, q.bid_qty, q.ask, q.ask_qty, e.ts_ms
        ),
        MarketEventKind::FeedReset => format!("{symbol} reset"),
    }
}

/// `json` without the whitespace outside strings: the docs' examples are pretty-printed, venue
/// frames are compact, and the tokenizer takes a different path for each.
pub fn compact(json: &[u8]) -> Vec<u8> {
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

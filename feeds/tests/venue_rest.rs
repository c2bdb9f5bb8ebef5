//! `rest::fetch_snapshot` against a small HTTP server on 127.0.0.1 that serves the recorded
//! venue responses on the venues' real paths: every venue's snapshot carries funding (perps),
//! intervals and trading rules, and failures name the venue, the path and what went wrong.

mod venues_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

use carry_engine::{InstrumentSpec, MarketEventKind, Universe, Venue};
use carry_feeds::venue::market_rest::{fetch_snapshot, RestError};
use carry_feeds::{RecvStamp, VenueSnapshot};
use rust_decimal::Decimal;
use venues_support::{fixture, universe, venue};

const RECV: RecvStamp = RecvStamp {
    mono_ns: 42,
    unix_ms: 1_700_000_000_000,
};

/// A one-request-per-connection HTTP/1.1 server answering GETs from a path → (status, body)
/// table, recording each request target.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

fn serve(routes: Vec<(&str, u16, Vec<u8>)>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let routes: HashMap<String, (u16, Vec<u8>)> = routes
        .into_iter()
        .map(|(p, s, b)| (p.to_string(), (s, b)))
        .collect();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            // Skip the headers.
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                line.clear();
            }
            let target = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            log.lock().unwrap().push(target.clone());
            let (status, body) = routes
                .get(&target)
                .cloned()
                .unwrap_or((404, br#"{"error":"not found"}"#.to_vec()));
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    Server { url, seen }
}

fn ok(path: &str, file: &str) -> (String, u16, Vec<u8>) {
    (path.to_string(), 200, fixture(file))
}

fn fetch(
    venue_name: &str,
    syms: &[&str],
    routes: Vec<(String, u16, Vec<u8>)>,
) -> (Result<VenueSnapshot, RestError>, Vec<String>) {
    let server = serve(
        routes
            .iter()
            .map(|(p, s, b)| (p.as_str(), *s, b.clone()))
            .collect(),
    );
    let v = venue(venue_name);
    let u: Universe = universe(v, syms);
    let agent = ureq::Agent::new_with_defaults();
    let out = fetch_snapshot(&agent, v, &format!("{}/", server.url), &u, RECV);
    let seen = server.seen.lock().unwrap().clone();
    (out, seen)
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn spec(
    tick: &str,
    lot: &str,
    min: &str,
    notional: &str,
    contract: Option<&str>,
) -> InstrumentSpec {
    InstrumentSpec {
        tick_size: d(tick),
        lot_size: d(lot),
        min_qty: d(min),
        min_notional: d(notional),
        contract_size: contract.map(d),
    }
}

/// (rate, next funding ms, interval ms, mark, ts) of the one instrument's funding event.
fn funding_of(s: &VenueSnapshot) -> (String, i64, Option<u64>, Option<String>, i64) {
    let ev = s.instruments[0].funding.expect("funding event");
    assert_eq!(ev.recv_ns, RECV.mono_ns);
    match ev.kind {
        MarketEventKind::Funding(f) => (
            f.rate.to_string(),
            f.next_funding_time_ms,
            f.interval_ms,
            f.mark_price.map(|m| m.to_string()),
            ev.ts_ms,
        ),
        other => panic!("{other:?}"),
    }
}

/// premiumIndex with BTCUSDT (the recorded row) and BLZUSDT (its interval is adjusted).
fn premium_index_both() -> Vec<u8> {
    let btc = String::from_utf8(fixture("binance_usdm_premiumIndex_rest_1.json")).unwrap();
    let blz = btc
        .replace("BTCUSDT", "BLZUSDT")
        .replace("0.00038246", "-0.00012000");
    format!("[{btc},{blz}]").into_bytes()
}

/// fundingInfo with BLZUSDT on 4 h (as in the live excerpt of NOTES.md §1.4), so that an interval
/// taken from it differs from the 8 h default.
fn funding_info_4h() -> Vec<u8> {
    String::from_utf8(fixture("binance_usdm_fundingInfo_rest_1.json"))
        .unwrap()
        .replace("\"fundingIntervalHours\": 8", "\"fundingIntervalHours\": 4")
        .into_bytes()
}

#[test]
fn binance_perp_snapshot() {
    let (snap, seen) = fetch(
        "binance-perp",
        &["BTCUSDT", "BLZUSDT"],
        vec![
            ("/fapi/v1/premiumIndex".into(), 200, premium_index_both()),
            ("/fapi/v1/fundingInfo".into(), 200, funding_info_4h()),
            ok(
                "/fapi/v1/exchangeInfo",
                "binance_usdm_exchangeInfo_rest_shape.json",
            ),
        ],
    );
    let snap = snap.unwrap();
    assert_eq!(
        seen,
        [
            "/fapi/v1/premiumIndex",
            "/fapi/v1/fundingInfo",
            "/fapi/v1/exchangeInfo"
        ]
    );
    assert_eq!(snap.venue, Some(venue("binance-perp")));
    assert_eq!(snap.instruments.len(), 2);
    assert_eq!(
        funding_of(&snap),
        (
            "0.00038246".into(),
            1_597_392_000_000,
            Some(28_800_000),
            Some("11793.63104562".into()),
            1_597_370_495_002
        )
    );
    // BTCUSDT is not in fundingInfo: the 8 h default. BLZUSDT is, with 4 h.
    assert_eq!(snap.instruments[0].interval_ms, Some(28_800_000));
    assert_eq!(snap.instruments[1].interval_ms, Some(14_400_000));
    let blz = snap.instruments[1].funding.expect("BLZUSDT funding event");
    assert!(
        matches!(blz.kind, MarketEventKind::Funding(f) if f.interval_ms == Some(14_400_000)),
        "{blz:?}"
    );
    assert_eq!(
        snap.instruments[0].spec,
        Some(spec("0.10", "0.001", "0.001", "100", None))
    );
    assert_eq!(
        snap.instruments[1].spec,
        Some(spec("0.00001", "1", "1", "5", None))
    );
}

#[test]
fn binance_spot_snapshot_asks_for_its_symbols() {
    let path = "/api/v3/exchangeInfo?symbols=%5B%22BNBUSDT%22%5D";
    let (snap, seen) = fetch(
        "binance-spot",
        &["BNBUSDT"],
        vec![ok(path, "binance_spot_exchangeInfo_rest_shape.json")],
    );
    let snap = snap.unwrap();
    assert_eq!(seen, [path]);
    assert_eq!(snap.instruments[0].funding, None);
    assert_eq!(
        snap.instruments[0].spec,
        Some(spec("0.01", "0.001", "0.001", "5", None))
    );
}

#[test]
fn bybit_snapshots_follow_the_instruments_cursor() {
    let first = "/v5/market/instruments-info?category=linear&limit=1000";
    let second = format!("{first}&cursor=first%253D1000000%2526last%253D1000000");
    let (snap, seen) = fetch(
        "bybit-perp",
        &["BTCUSDT"],
        vec![
            ok(first, "bybit_linear_instruments_rest_shape_page1.json"),
            ok(&second, "bybit_linear_instruments_rest_shape_page2.json"),
            ok(
                "/v5/market/tickers?category=linear",
                "bybit_linear_tickers_rest_shape.json",
            ),
        ],
    );
    let snap = snap.unwrap();
    assert_eq!(
        seen,
        [first, second.as_str(), "/v5/market/tickers?category=linear"]
    );
    assert_eq!(
        funding_of(&snap),
        (
            "-0.001034".into(),
            1_672_387_200_000,
            Some(14_400_000),
            Some("16596.00".into()),
            1_672_376_496_682
        )
    );
    assert_eq!(
        snap.instruments[0].spec,
        Some(spec("0.10", "0.001", "0.001", "5", None))
    );

    let (snap, _) = fetch(
        "bybit-spot",
        &["BTCUSDT"],
        vec![ok(
            "/v5/market/instruments-info?category=spot&limit=1000",
            "bybit_spot_instruments_rest_shape.json",
        )],
    );
    let snap = snap.unwrap();
    assert_eq!(
        snap.instruments[0].spec,
        Some(spec("0.01", "0.000001", "0.000048", "1", None))
    );
    assert_eq!(snap.instruments[0].funding, None);
}

#[test]
fn okx_snapshots() {
    let (snap, seen) = fetch(
        "okx-perp",
        &["BTC-USDT-SWAP"],
        vec![
            ok(
                "/api/v5/public/instruments?instType=SWAP",
                "okx_swap_instruments_rest_shape.json",
            ),
            ok(
                "/api/v5/public/funding-rate?instId=BTC-USDT-SWAP",
                "okx_funding_rate_rest_1.json",
            ),
        ],
    );
    let snap = snap.unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        funding_of(&snap),
        (
            "0.0000182221218054".into(),
            1_743_609_600_000,
            Some(28_800_000),
            None,
            1_743_588_686_291
        )
    );
    assert_eq!(
        snap.instruments[0].spec,
        Some(spec("0.1", "0.01", "0.01", "0", Some("0.01")))
    );
    let (snap, _) = fetch(
        "okx-spot",
        &["BTC-USDT"],
        vec![ok(
            "/api/v5/public/instruments?instType=SPOT",
            "okx_spot_instruments_rest_shape.json",
        )],
    );
    assert_eq!(
        snap.unwrap().instruments[0].spec,
        Some(spec("0.1", "0.00000001", "0.00001", "0", None))
    );
}

#[test]
fn bitget_snapshots() {
    let (snap, _) = fetch(
        "bitget-perp",
        &["BTCUSDT"],
        vec![
            ok(
                "/api/v2/mix/market/contracts?productType=USDT-FUTURES",
                "bitget_contracts_rest_shape.json",
            ),
            ok(
                "/api/v2/mix/market/current-fund-rate?symbol=BTCUSDT&productType=USDT-FUTURES",
                "bitget_current_fund_rate_rest_1.json",
            ),
        ],
    );
    let snap = snap.unwrap();
    assert_eq!(
        funding_of(&snap),
        (
            "0.000068".into(),
            1_743_062_400_000,
            Some(28_800_000),
            None,
            1_743_054_548_546
        )
    );
    assert_eq!(
        snap.instruments[0].spec,
        Some(spec("0.1", "0.01", "0.01", "5", None))
    );
    let (snap, _) = fetch(
        "bitget-spot",
        &["BTCUSDT"],
        vec![ok(
            "/api/v2/spot/public/symbols",
            "bitget_spot_symbols_rest_shape.json",
        )],
    );
    assert_eq!(
        snap.unwrap().instruments[0].spec,
        Some(spec("0.01", "0.000001", "0", "5", None))
    );
}

#[test]
fn gate_snapshots() {
    let (snap, _) = fetch(
        "gate-perp",
        &["BTC_USDT"],
        vec![ok(
            "/api/v4/futures/usdt/contracts/BTC_USDT",
            "gate_futures_contract_rest_1.json",
        )],
    );
    let snap = snap.unwrap();
    // The contract carries no time: the event is stamped with the receive time.
    assert_eq!(
        funding_of(&snap),
        (
            "0.002053".into(),
            1_610_035_200_000,
            Some(28_800_000),
            Some("37985.6".into()),
            RECV.unix_ms
        )
    );
    assert_eq!(
        snap.instruments[0].spec,
        Some(spec("0.1", "1", "1", "0", Some("0.0001")))
    );
    let (snap, _) = fetch(
        "gate-spot",
        &["BTC_USDT"],
        vec![ok(
            "/api/v4/spot/currency_pairs/BTC_USDT",
            "gate_spot_currency_pair_rest_shape.json",
        )],
    );
    assert_eq!(
        snap.unwrap().instruments[0].spec,
        Some(spec("0.1", "0.0001", "0.0001", "1", None))
    );
}

#[test]
fn a_venue_without_instruments_asks_nothing() {
    let (snap, seen) = fetch("gate-spot", &[], vec![]);
    assert_eq!(snap.unwrap().instruments, []);
    assert!(seen.is_empty());
}

#[test]
fn failures_name_venue_path_and_reason() {
    // HTTP error status, with the venue's body.
    let (err, _) = fetch(
        "binance-perp",
        &["BTCUSDT"],
        vec![(
            "/fapi/v1/premiumIndex".into(),
            429,
            br#"{"code":-1003,"msg":"Too many requests"}"#.to_vec(),
        )],
    );
    let msg = err.unwrap_err().to_string();
    assert!(
        msg.starts_with("binance-perp GET /fapi/v1/premiumIndex: HTTP 429: "),
        "{msg}"
    );
    assert!(msg.contains("Too many requests"), "{msg}");

    // The venue's own error envelope.
    let (err, _) = fetch(
        "bybit-spot",
        &["BTCUSDT"],
        vec![(
            "/v5/market/instruments-info?category=spot&limit=1000".into(),
            200,
            br#"{"retCode":10006,"retMsg":"Too many visits!","result":{},"time":1}"#.to_vec(),
        )],
    );
    assert!(
        matches!(&err, Err(RestError::Venue { code, .. }) if code == "10006"),
        "{err:?}"
    );
    assert_eq!(err.unwrap_err().to_string(), "bybit-spot GET /v5/market/instruments-info?category=spot&limit=1000: venue error 10006: Too many visits!");

    // A configured instrument the venue does not list.
    let (err, _) = fetch(
        "okx-spot",
        &["DOGE-USDT"],
        vec![ok(
            "/api/v5/public/instruments?instType=SPOT",
            "okx_spot_instruments_rest_shape.json",
        )],
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "okx-spot GET /api/v5/public/instruments?instType=SPOT: the venue does not list DOGE-USDT"
    );

    // Not JSON.
    let (err, _) = fetch(
        "bitget-spot",
        &["BTCUSDT"],
        vec![(
            "/api/v2/spot/public/symbols".into(),
            200,
            b"<html>".to_vec(),
        )],
    );
    let msg = err.unwrap_err().to_string();
    assert!(
        msg.starts_with(
            "bitget-spot GET /api/v2/spot/public/symbols: unexpected response: not JSON"
        ),
        "{msg}"
    );

    // Nobody listening.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let v: Venue = venue("gate-perp");
    let u = universe(v, &["BTC_USDT"]);
    let err = fetch_snapshot(&ureq::Agent::new_with_defaults(), v, &url, &u, RECV).unwrap_err();
    assert!(matches!(err, RestError::Transport { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("gate-perp GET /api/v4/futures/usdt/contracts/BTC_USDT: "),
        "{err}"
    );
}

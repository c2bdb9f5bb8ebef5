//! Faithfulness of the simulator's wire formats, independent of carry's parsers (which ignore
//! fields they do not need): every message kind the simulator sends is compared with the venue's
//! real payload in tests/fixtures/venues. Every key of the real payload must be there, with the
//! same JSON type (a string-encoded number stays a string, Gate's integer sizes stay integers),
//! recursively; extra keys are allowed (venues add fields).

mod sim_support;

use std::time::Instant;

use carry::sim::SimVenues;
use carry_engine::Venue;
use serde_json::Value;
use sim_support::*;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/venues/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where `sim` departs from the shape of `real`.
fn departures(real: &Value, sim: &Value, at: &str, out: &mut Vec<String>) {
    if kind(real) != kind(sim) {
        out.push(format!(
            "{at}: {} in the venue, {} in the sim ({sim})",
            kind(real),
            kind(sim)
        ));
        return;
    }
    match (real, sim) {
        (Value::Object(r), Value::Object(s)) => {
            for (k, rv) in r {
                match s.get(k) {
                    Some(sv) => departures(rv, sv, &format!("{at}.{k}"), out),
                    None => out.push(format!("{at}.{k}: missing")),
                }
            }
        }
        (Value::Array(r), Value::Array(s)) => {
            if let (Some(rv), Some(sv)) = (r.first(), s.first()) {
                departures(rv, sv, &format!("{at}[0]"), out);
            } else if r.is_empty() != s.is_empty() {
                out.push(format!("{at}: array emptiness differs"));
            }
        }
        _ => {}
    }
}

fn assert_shape(fixture_name: &str, sim_text: &str) {
    let sim: Value = serde_json::from_str(sim_text)
        .unwrap_or_else(|e| panic!("{fixture_name}: sim sent non-JSON ({e}): {sim_text}"));
    let mut out = Vec::new();
    departures(&fixture(fixture_name), &sim, "$", &mut out);
    assert!(
        out.is_empty(),
        "{fixture_name} vs sim {sim_text}:\n{}",
        out.join("\n")
    );
}

/// Connects to `path` on `venue`'s port, sends `requests`, returns the first text frame for
/// which `pick` holds.
fn frame(
    sim: &SimVenues,
    venue: &str,
    path: &str,
    requests: &[&str],
    pick: impl Fn(&str) -> bool,
) -> String {
    let venue: Venue = venue.parse().unwrap();
    let mut c = Client::connect(&format!("{}{path}", sim.ws_url(venue)));
    for r in requests {
        c.send(r);
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let t = c
            .next_text(deadline)
            .unwrap_or_else(|| panic!("{venue}{path}: no matching frame after {requests:?}"));
        if pick(&t) {
            return t;
        }
    }
}

fn has(s: &'static str) -> impl Fn(&str) -> bool {
    move |t: &str| t.contains(s)
}

#[test]
fn binance_frames_match_the_venue() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT"])).unwrap();
    let mark = frame(
        &sim,
        "binance-perp",
        "/market/ws/btcusdt@markPrice",
        &[],
        |_| true,
    );
    assert_shape("binance_usdm_markPrice_1.json", &mark);
    let book = frame(
        &sim,
        "binance-perp",
        "/public/ws/btcusdt@bookTicker",
        &[],
        |_| true,
    );
    assert_shape("binance_usdm_bookTicker_1.json", &book);
    let spot = frame(&sim, "binance-spot", "/ws/btcusdt@bookTicker", &[], |_| {
        true
    });
    assert_shape("binance_spot_bookTicker_1.json", &spot);
    assert!(
        !spot.contains("\"E\""),
        "spot bookTicker carries no event time: {spot}"
    );
    let ack = frame(
        &sim,
        "binance-spot",
        "/ws",
        &[&fixture("binance_ws_subscribe_request_1.json")
            .to_string()
            .replace("btcusdt@aggTrade", "btcusdt@bookTicker")
            .replace("btcusdt@depth", "btcusdt@bookTicker")],
        has("\"id\""),
    );
    assert_shape("binance_ws_subscribe_ack_1.json", &ack);
}

#[test]
fn bybit_frames_match_the_venue() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT"])).unwrap();
    let sub =
        r#"{"req_id":"10001","op":"subscribe","args":["tickers.BTCUSDT","orderbook.1.BTCUSDT"]}"#;
    let linear = "/v5/public/linear";
    let ack = frame(
        &sim,
        "bybit-perp",
        linear,
        &[sub],
        has("\"op\":\"subscribe\""),
    );
    assert_shape("bybit_ws_subscribe_ack_linear_1.json", &ack);
    assert!(ack.contains("\"ret_msg\":\"\""), "{ack}");
    let snap = frame(
        &sim,
        "bybit-perp",
        linear,
        &[sub],
        has("\"type\":\"snapshot\",\"data\":{\"symbol\""),
    );
    assert_shape("bybit_linear_tickers_snapshot_1.json", &snap);
    let delta = frame(
        &sim,
        "bybit-perp",
        linear,
        &[sub],
        has("\"type\":\"delta\""),
    );
    assert_shape("bybit_linear_tickers_delta_1.json", &delta);
    // A delta carries only changed fields, all of which a snapshot has.
    let (s, d): (Value, Value) = (
        serde_json::from_str(&snap).unwrap(),
        serde_json::from_str(&delta).unwrap(),
    );
    let snap_keys = s["data"].as_object().unwrap();
    let delta_keys = d["data"].as_object().unwrap();
    assert!(delta_keys.len() < snap_keys.len(), "{delta}");
    assert!(
        delta_keys.keys().all(|k| snap_keys.contains_key(k)),
        "{delta}"
    );
    let book = frame(&sim, "bybit-perp", linear, &[sub], has("orderbook.1"));
    assert_shape("bybit_spot_orderbook1_snapshot_1.json", &book);
    let pong = frame(
        &sim,
        "bybit-perp",
        linear,
        &[r#"{"req_id":"100001","op":"ping"}"#],
        |_| true,
    );
    assert_shape("bybit_ws_pong_linear_1.json", &pong);

    let spot = "/v5/public/spot";
    let sub =
        r#"{"req_id":"10001","op":"subscribe","args":["tickers.BTCUSDT","orderbook.1.BTCUSDT"]}"#;
    let ack = frame(
        &sim,
        "bybit-spot",
        spot,
        &[sub],
        has("\"op\":\"subscribe\""),
    );
    assert_shape("bybit_ws_subscribe_ack_spot_1.json", &ack);
    assert!(ack.contains("\"ret_msg\":\"subscribe\""), "{ack}");
    let tick = frame(
        &sim,
        "bybit-spot",
        spot,
        &[sub],
        has("\"topic\":\"tickers."),
    );
    assert_shape("bybit_spot_tickers_snapshot_1.json", &tick);
    assert!(
        !tick.contains("bid1Price"),
        "spot tickers carry no book: {tick}"
    );
    let book = frame(&sim, "bybit-spot", spot, &[sub], has("orderbook.1"));
    assert_shape("bybit_spot_orderbook1_snapshot_1.json", &book);
}

#[test]
fn okx_frames_match_the_venue() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT"])).unwrap();
    let path = "/ws/v5/public";
    let sub = r#"{"id":"1512","op":"subscribe","args":[{"channel":"funding-rate","instId":"BTC-USDT-SWAP"},{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"},{"channel":"tickers","instId":"BTC-USDT"}]}"#;
    let ack = frame(
        &sim,
        "okx-perp",
        path,
        &[sub],
        has("\"event\":\"subscribe\""),
    );
    assert_shape("okx_ws_subscribe_ack_1.json", &ack);
    let funding = frame(&sim, "okx-perp", path, &[sub], |t| {
        t.contains("funding-rate") && t.contains("\"data\"")
    });
    assert_shape("okx_swap_funding_rate_push_1.json", &funding);
    let bbo = frame(&sim, "okx-perp", path, &[sub], |t| {
        t.contains("bbo-tbt") && t.contains("\"data\"")
    });
    assert_shape("okx_bbo_tbt_push_1.json", &bbo);
    let tickers = frame(&sim, "okx-perp", path, &[sub], |t| {
        t.contains("\"channel\":\"tickers\"") && t.contains("\"data\"")
    });
    assert_shape("okx_tickers_push_1.json", &tickers);
    let error = frame(
        &sim,
        "okx-perp",
        path,
        &[r#"{"id":"1512","op":"subscribe","argss":[]}"#],
        |_| true,
    );
    assert_shape(
        "okx_ws_subscribe_error_1.json",
        &error.replace("\"event\"", "\"id\":\"1512\",\"event\""),
    );
    assert_eq!(frame(&sim, "okx-perp", path, &["ping"], |_| true), "pong");
}

#[test]
fn bitget_frames_match_the_venue() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT"])).unwrap();
    let path = "/v2/ws/public";
    let sub = r#"{"op":"subscribe","args":[{"instType":"USDT-FUTURES","channel":"ticker","instId":"BTCUSDT"},{"instType":"SPOT","channel":"ticker","instId":"BTCUSDT"},{"instType":"SPOT","channel":"books1","instId":"BTCUSDT"}]}"#;
    let ack = frame(
        &sim,
        "bitget-perp",
        path,
        &[sub],
        has("\"event\":\"subscribe\""),
    );
    assert_shape("bitget_ws_subscribe_ack_1.json", &ack);
    let fut = frame(&sim, "bitget-perp", path, &[sub], |t| {
        t.contains("\"instType\":\"USDT-FUTURES\",\"channel\":\"ticker\"") && t.contains("\"data\"")
    });
    assert_shape("bitget_usdtfutures_ticker_push_1.json", &fut);
    let spot = frame(&sim, "bitget-perp", path, &[sub], |t| {
        t.contains("\"instType\":\"SPOT\",\"channel\":\"ticker\"") && t.contains("\"data\"")
    });
    assert_shape("bitget_spot_ticker_push_1.json", &spot);
    let book = frame(&sim, "bitget-perp", path, &[sub], |t| {
        t.contains("books1") && t.contains("\"data\"")
    });
    assert_shape("bitget_spot_books5_push_1.json", &book);
    assert_eq!(
        frame(&sim, "bitget-spot", path, &["ping"], |_| true),
        "pong"
    );
}

#[test]
fn gate_frames_match_the_venue() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT"])).unwrap();
    let fut = "/v4/ws/usdt";
    let sub = |channel: &str| {
        format!(
            r#"{{"time":123456,"channel":"{channel}","event":"subscribe","payload":["BTC_USDT"]}}"#
        )
    };
    let s = sub("futures.book_ticker");
    let ack = frame(
        &sim,
        "gate-perp",
        fut,
        &[&s],
        has("\"event\":\"subscribe\""),
    );
    assert_shape("gate_futures_subscribe_ack_1.json", &ack);
    let book = frame(&sim, "gate-perp", fut, &[&s], has("\"event\":\"update\""));
    assert_shape("gate_futures_book_ticker_push_1.json", &book);
    let s = sub("futures.tickers");
    let tickers = frame(&sim, "gate-perp", fut, &[&s], has("\"event\":\"update\""));
    assert_shape("gate_futures_tickers_push_1.json", &tickers);
    let ping = fixture("gate_futures_ping_request_1.json").to_string();
    let pong = frame(&sim, "gate-perp", fut, &[&ping], |_| true);
    assert_shape("gate_futures_pong_1.json", &pong);
    let s = sub("spot.book_ticker");
    let spot = frame(
        &sim,
        "gate-spot",
        "/ws/v4/",
        &[&s],
        has("\"event\":\"update\""),
    );
    assert_shape("gate_spot_book_ticker_push_1.json", &spot);
}

fn rest(sim: &SimVenues, venue: &str, path: &str) -> String {
    let venue: Venue = venue.parse().unwrap();
    let url = format!("{}{path}", sim.rest_url(venue));
    ureq::get(&url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .body_mut()
        .read_to_string()
        .unwrap()
}

#[test]
fn rest_bodies_match_the_venue() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT", "ETH-USDT"])).unwrap();
    let cases = [
        (
            "binance-perp",
            "/fapi/v1/premiumIndex?symbol=BTCUSDT",
            "binance_usdm_premiumIndex_rest_1.json",
        ),
        (
            "binance-perp",
            "/fapi/v1/fundingInfo",
            "binance_usdm_fundingInfo_rest_1.json",
        ),
        (
            "binance-perp",
            "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=3",
            "binance_usdm_fundingRate_history_rest_1.json",
        ),
        (
            "bybit-perp",
            "/v5/market/tickers?category=linear&symbol=BTCUSDT",
            "bybit_tickers_rest_inverse_1.json",
        ),
        (
            "bybit-perp",
            "/v5/market/funding/history?category=linear&symbol=BTCUSDT&limit=2",
            "bybit_funding_history_rest_1.json",
        ),
        (
            "okx-perp",
            "/api/v5/public/funding-rate?instId=BTC-USDT-SWAP",
            "okx_funding_rate_rest_1.json",
        ),
        (
            "okx-perp",
            "/api/v5/public/funding-rate-history?instId=BTC-USDT-SWAP&limit=2",
            "okx_funding_rate_history_rest_1.json",
        ),
        (
            "bitget-perp",
            "/api/v2/mix/market/current-fund-rate?symbol=BTCUSDT&productType=USDT-FUTURES",
            "bitget_current_fund_rate_rest_1.json",
        ),
        (
            "gate-perp",
            "/api/v4/futures/usdt/contracts/BTC_USDT",
            "gate_futures_contract_rest_1.json",
        ),
        (
            "gate-perp",
            "/api/v4/futures/usdt/funding_rate?contract=BTC_USDT&limit=2",
            "gate_futures_funding_rate_history_rest_1.json",
        ),
    ];
    for (venue, path, name) in cases {
        assert_shape(name, &rest(&sim, venue, path));
    }
}

//! The connections each venue module asks for: URLs, subscribe requests in the venues'
//! documented shapes (NOTES.md and the request payloads in tests/fixtures/venues), heartbeats,
//! maximum connection age, and the split over several connections at each venue's limits.

mod venues_support;

use std::sync::Arc;
use std::time::Duration;

use carry_engine::Universe;
use carry_feeds::venue::market_ws::sessions;
use carry_feeds::venue::symbols::venue_symbol;
use carry_feeds::VenueSession;
use serde_json::{json, Value};
use venues_support::{fixture, venue};

/// A universe of `n` instruments `C0-USDT`, `C1-USDT`, ... on `venue_name` (default symbols).
fn coins(venue_name: &str, n: usize) -> Arc<Universe> {
    let v = venue(venue_name);
    let mut u = Universe::new();
    for i in 0..n {
        let id = u.add(&format!("C{i}-USDT")).unwrap();
        u.set_symbol(id, v, &venue_symbol(v, &format!("C{i}"), "USDT"));
    }
    Arc::new(u)
}

fn build(venue_name: &str, base: &str, n: usize) -> Vec<Box<dyn VenueSession>> {
    sessions(venue(venue_name), base, coins(venue_name, n))
}

fn messages(s: &mut dyn VenueSession) -> Vec<Value> {
    s.on_connect(0)
        .iter()
        .map(|m| serde_json::from_str(m).unwrap_or_else(|e| panic!("{m}: {e}")))
        .collect()
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn binance_streams_are_in_the_url_on_their_own_routes() {
    let mut perp = build("binance-perp", "wss://fstream.binance.com/", 2);
    let urls: Vec<&str> = perp.iter().map(|s| s.url()).collect();
    assert_eq!(
        urls,
        [
            "wss://fstream.binance.com/market/stream?streams=c0usdt@markPrice/c1usdt@markPrice",
            "wss://fstream.binance.com/public/stream?streams=c0usdt@bookTicker/c1usdt@bookTicker",
        ]
    );
    let mut spot = build("binance-spot", "wss://stream.binance.com:9443", 1);
    assert_eq!(
        spot[0].url(),
        "wss://stream.binance.com:9443/stream?streams=c0usdt@bookTicker"
    );
    for s in perp.iter_mut().chain(&mut spot) {
        assert!(s.on_connect(0).is_empty());
        assert_eq!(s.heartbeat(), None, "the server pings with protocol frames");
        assert_eq!(s.max_connection_age(), Some(Duration::from_secs(86_400)));
    }
    // 200 streams per connection: 450 symbols take 3 markPrice and 3 bookTicker connections.
    let many = build("binance-perp", "wss://fstream.binance.com", 450);
    assert_eq!(many.len(), 6);
    assert_eq!(many[4].url().matches('@').count(), 50);
}

#[test]
fn bybit_subscribes_ten_args_at_a_time_and_pings_in_json() {
    let documented: Value =
        serde_json::from_slice(&fixture("bybit_ws_subscribe_request_1.json")).unwrap();
    let mut perp = build("bybit-perp", "wss://stream.bybit.com", 6);
    assert_eq!(perp.len(), 1);
    assert_eq!(perp[0].url(), "wss://stream.bybit.com/v5/public/linear");
    let msgs = messages(perp[0].as_mut());
    assert_eq!(msgs.len(), 2, "12 topics in requests of at most 10");
    assert_eq!(keys(&msgs[0]), keys(&documented));
    assert_eq!(msgs[0]["op"], "subscribe");
    assert_eq!(msgs[0]["args"].as_array().unwrap().len(), 10);
    assert_eq!(msgs[0]["args"][0], "tickers.C0USDT");
    assert_eq!(msgs[0]["args"][1], "orderbook.1.C0USDT");
    assert_eq!(msgs[1]["args"].as_array().unwrap().len(), 2);
    assert_ne!(msgs[0]["req_id"], msgs[1]["req_id"]);
    let hb = perp[0].heartbeat().unwrap();
    assert_eq!(hb.every, Duration::from_secs(20));
    let ping: Value = serde_json::from_str(&hb.text).unwrap();
    let doc_ping: Value = serde_json::from_slice(&fixture("bybit_ws_ping_request_1.json")).unwrap();
    assert_eq!(keys(&ping), keys(&doc_ping));
    assert_eq!(ping["op"], "ping");
    assert_eq!(perp[0].max_connection_age(), None);

    let mut spot = build("bybit-spot", "wss://stream.bybit.com", 15);
    assert_eq!(spot[0].url(), "wss://stream.bybit.com/v5/public/spot");
    let msgs = messages(spot[0].as_mut());
    let args: Vec<&Value> = msgs
        .iter()
        .flat_map(|m| m["args"].as_array().unwrap())
        .collect();
    assert_eq!(
        args.len(),
        15,
        "spot: orderbook.1 only (spot tickers carry no BBO)"
    );
    assert!(msgs
        .iter()
        .all(|m| m["args"].as_array().unwrap().len() <= 10));
    assert!(args
        .iter()
        .all(|a| a.as_str().unwrap().starts_with("orderbook.1.C")));
    assert_eq!(build("bybit-perp", "wss://x", 250).len(), 3);
}

#[test]
fn okx_subscribes_channel_and_inst_id_pairs_and_pings_in_text() {
    let documented: Value =
        serde_json::from_slice(&fixture("okx_ws_subscribe_request_1.json")).unwrap();
    let mut perp = build("okx-perp", "wss://ws.okx.com:8443", 2);
    assert_eq!(perp[0].url(), "wss://ws.okx.com:8443/ws/v5/public");
    let msgs = messages(perp[0].as_mut());
    assert_eq!(msgs.len(), 1);
    assert_eq!(keys(&msgs[0]), keys(&documented));
    let id = msgs[0]["id"].as_str().unwrap();
    assert!(
        id.len() <= 32 && id.bytes().all(|c| c.is_ascii_alphanumeric()),
        "{id}"
    );
    assert_eq!(
        msgs[0]["args"],
        json!([
            {"channel": "funding-rate", "instId": "C0-USDT-SWAP"},
            {"channel": "bbo-tbt", "instId": "C0-USDT-SWAP"},
            {"channel": "funding-rate", "instId": "C1-USDT-SWAP"},
            {"channel": "bbo-tbt", "instId": "C1-USDT-SWAP"},
        ])
    );
    assert_eq!(keys(&msgs[0]["args"][0]), keys(&documented["args"][0]));
    let hb = perp[0].heartbeat().unwrap();
    assert_eq!(
        (hb.every, hb.text.as_str()),
        (Duration::from_secs(20), "ping")
    );
    let mut spot = build("okx-spot", "wss://ws.okx.com:8443", 1);
    assert_eq!(
        messages(spot[0].as_mut())[0]["args"],
        json!([{"channel": "bbo-tbt", "instId": "C0-USDT"}])
    );
    assert_eq!(
        build("okx-perp", "wss://x", 30).len(),
        2,
        "fewer than 30 depth channels each"
    );
}

#[test]
fn bitget_subscribes_ticker_and_books1_with_inst_type() {
    let documented: Value =
        serde_json::from_slice(&fixture("bitget_ws_subscribe_request_1.json")).unwrap();
    let mut perp = build("bitget-perp", "wss://ws.bitget.com", 1);
    assert_eq!(perp[0].url(), "wss://ws.bitget.com/v2/ws/public");
    let msgs = messages(perp[0].as_mut());
    assert_eq!(keys(&msgs[0]), keys(&documented));
    assert_eq!(
        msgs[0]["args"],
        json!([
            {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "C0USDT"},
            {"instType": "USDT-FUTURES", "channel": "books1", "instId": "C0USDT"},
        ])
    );
    assert_eq!(keys(&msgs[0]["args"][0]), keys(&documented["args"][0]));
    let hb = perp[0].heartbeat().unwrap();
    assert_eq!(
        (hb.every, hb.text.as_str()),
        (Duration::from_secs(30), "ping")
    );
    assert_eq!(
        perp[0].max_connection_age(),
        Some(Duration::from_secs(86_400))
    );
    let mut spot = build("bitget-spot", "wss://ws.bitget.com", 1);
    assert_eq!(
        messages(spot[0].as_mut())[0]["args"],
        json!([{"instType": "SPOT", "channel": "books1", "instId": "C0USDT"}])
    );
    assert_eq!(
        build("bitget-perp", "wss://x", 30).len(),
        2,
        "under 50 channels each"
    );
}

#[test]
fn gate_subscribes_each_channel_with_a_payload_list() {
    let documented: Value =
        serde_json::from_slice(&fixture("gate_futures_subscribe_request_1.json")).unwrap();
    let mut perp = build("gate-perp", "wss://fx-ws.gateio.ws", 2);
    assert_eq!(perp[0].url(), "wss://fx-ws.gateio.ws/v4/ws/usdt");
    let msgs = messages(perp[0].as_mut());
    assert_eq!(msgs.len(), 2);
    for (m, channel) in msgs.iter().zip(["futures.tickers", "futures.book_ticker"]) {
        assert_eq!(keys(m), keys(&documented));
        assert_eq!(m["channel"], channel);
        assert_eq!(m["event"], "subscribe");
        assert_eq!(m["payload"], json!(["C0_USDT", "C1_USDT"]));
        assert!(m["time"].as_u64().unwrap() > 1_600_000_000, "Unix seconds");
    }
    let hb = perp[0].heartbeat().unwrap();
    let ping: Value = serde_json::from_str(&hb.text).unwrap();
    let doc_ping: Value =
        serde_json::from_slice(&fixture("gate_futures_ping_request_1.json")).unwrap();
    assert_eq!(keys(&ping), keys(&doc_ping));
    assert_eq!(ping["channel"], "futures.ping");
    let mut spot = build("gate-spot", "wss://api.gateio.ws", 1);
    assert_eq!(spot[0].url(), "wss://api.gateio.ws/ws/v4/");
    let msgs = messages(spot[0].as_mut());
    assert_eq!(
        (msgs.len(), &msgs[0]["channel"]),
        (1, &json!("spot.book_ticker"))
    );
    let ping: Value = serde_json::from_str(&spot[0].heartbeat().unwrap().text).unwrap();
    assert_eq!(ping["channel"], "spot.ping");
}

#[test]
fn sessions_cover_exactly_the_universe_on_their_venue() {
    for v in carry_engine::Venue::ALL {
        let u = coins(v.as_str(), 3);
        let mut built = sessions(v, "wss://h", Arc::clone(&u));
        assert!(!built.is_empty(), "{v}");
        for s in &built {
            assert_eq!(s.venue(), v);
            assert!(s.url().starts_with("wss://h/"), "{}", s.url());
        }
        // Each symbol appears in the URL or in a subscribe message of some session.
        let text: String = built
            .iter_mut()
            .map(|s| {
                let subscribe = s.on_connect(0).join(" ");
                format!("{} {subscribe}", s.url())
            })
            .collect();
        for (id, _) in u.iter() {
            let sym = u.symbol(id, v).unwrap();
            let needle = if v.exchange == carry_engine::Exchange::Binance {
                sym.to_ascii_lowercase()
            } else {
                sym.to_string()
            };
            assert!(text.contains(&needle), "{v} {sym}");
        }
    }
}

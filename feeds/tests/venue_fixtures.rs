//! Every market-data payload from the venues' docs and live captures decodes to the values
//! written out below, which were read off the payload files by hand; control messages
//! (acks, pongs, errors, notices) are recognised as such.

mod venues_support;

use std::sync::Arc;

use carry_engine::{Funding, InstrumentSpec, MarketEvent, MarketEventKind};
use carry_feeds::venue::market_ws::Parser;
use carry_feeds::{DropReason, Inbound, InstrumentSnapshot, VenueSnapshot};
use rust_decimal::Decimal;
use venues_support::{compact, feed, fixture, parser, universe, venue};

/// (fixture, venue, symbols, expected outcome, expected events). Times are the payloads' own
/// (Bybit envelope `ts`, OKX/Bitget `data[].ts`, Gate `time_ms` / `result.t`, Binance `E`), or
/// `RECV.unix_ms` = 1700000000000 where the message has none (Binance spot bookTicker).
#[allow(clippy::type_complexity)]
const TABLE: &[(&str, &str, &[&str], Inbound, &[&str])] = &[
    (
        "binance_usdm_markPrice_1.json",
        "binance-perp",
        &["BTCUSDT"],
        Inbound::Data(1),
        &["BTCUSDT funding rate=0.00038167 predicted=- next=1562306400000 interval=- mark=11794.15000000 index=11784.62659091 ts=1562305380000"],
    ),
    (
        "binance_usdm_bookTicker_1.json",
        "binance-perp",
        &["BNBUSDT"],
        Inbound::Data(1),
        &["BNBUSDT quote bid=25.35190000@31.21000000 ask=25.36520000@40.66000000 ts=1568014460893"],
    ),
    (
        "binance_spot_bookTicker_1.json",
        "binance-spot",
        &["BNBUSDT"],
        Inbound::Data(1),
        &["BNBUSDT quote bid=25.35190000@31.21000000 ask=25.36520000@40.66000000 ts=1700000000000"],
    ),
    ("binance_ws_subscribe_ack_1.json", "binance-spot", &[], Inbound::SubscribeAck, &[]),
    (
        "bybit_linear_tickers_snapshot_1.json",
        "bybit-perp",
        &["BTCUSDT"],
        Inbound::Data(1),
        &["BTCUSDT funding rate=0.00008055 predicted=- next=1715760000000 interval=- mark=61875.25 index=61903.73 ts=1715748762463"],
    ),
    (
        "bybit_spot_orderbook1_snapshot_1.json",
        "bybit-spot",
        &["BTCUSDT"],
        Inbound::Data(1),
        &["BTCUSDT quote bid=106285.8@0.794865 ask=106285.9@1.269905 ts=1748980103101"],
    ),
    // Spot tickers carry neither funding nor a book: understood, nothing to emit.
    ("bybit_spot_tickers_snapshot_1.json", "bybit-spot", &["BTCUSDT"], Inbound::Data(0), &[]),
    ("bybit_ws_subscribe_ack_linear_1.json", "bybit-perp", &[], Inbound::SubscribeAck, &[]),
    ("bybit_ws_subscribe_ack_spot_1.json", "bybit-spot", &[], Inbound::SubscribeAck, &[]),
    ("bybit_ws_pong_linear_1.json", "bybit-perp", &[], Inbound::Control, &[]),
    (
        "okx_swap_funding_rate_push_1.json",
        "okx-perp",
        &["BTC-USD-SWAP"],
        Inbound::Data(1),
        // interval = nextFundingTime 1700755200000 - fundingTime 1700726400000 = 8 h.
        &["BTC-USD-SWAP funding rate=0.0001875391284828 predicted=- next=1700726400000 interval=28800000 mark=- index=- ts=1700724675402"],
    ),
    (
        "okx_bbo_tbt_push_1.json",
        "okx-perp",
        &["BCH-USDT-SWAP"],
        Inbound::Data(1),
        // Without REST metadata: the venue's own numbers (contracts).
        &["BCH-USDT-SWAP quote bid=111.05@57745 ask=111.06@55154 ts=1670324386802"],
    ),
    (
        "okx_tickers_push_1.json",
        "okx-spot",
        &["BTC-USDT"],
        Inbound::Data(1),
        &["BTC-USDT quote bid=8888.88@5 ask=9999.99@11 ts=1597026383085"],
    ),
    ("okx_ws_subscribe_ack_1.json", "okx-perp", &[], Inbound::SubscribeAck, &[]),
    (
        "bitget_usdtfutures_ticker_push_1.json",
        "bitget-perp",
        &["BTCUSDT"],
        Inbound::Data(1),
        &["BTCUSDT funding rate=0.000096 predicted=- next=1701849600000 interval=- mark=43476.4 index=43478.4 ts=1701843962811"],
    ),
    (
        "bitget_spot_ticker_push_1.json",
        "bitget-spot",
        &["BTCUSDT"],
        Inbound::Data(1),
        &["BTCUSDT quote bid=43528@0.0334 ask=43528.01@0.1917 ts=1701842994338"],
    ),
    (
        "bitget_spot_books5_push_1.json",
        "bitget-spot",
        &["BTCUSDT"],
        Inbound::Data(1),
        &["BTCUSDT quote bid=26274.8@0.0009 ask=26274.9@0.0009 ts=1695710946294"],
    ),
    ("bitget_ws_subscribe_ack_1.json", "bitget-spot", &[], Inbound::SubscribeAck, &[]),
    (
        "gate_futures_tickers_push_1.json",
        "gate-perp",
        &["BTC_USD"],
        Inbound::Data(1),
        &["BTC_USD funding rate=-0.000114 predicted=- next=0 interval=- mark=118.35 index=118.36 ts=1541659086123"],
    ),
    (
        "gate_futures_book_ticker_push_1.json",
        "gate-perp",
        &["BTC_USD"],
        Inbound::Data(1),
        &["BTC_USD quote bid=54696.6@37000 ask=54696.7@47061 ts=1615366379123"],
    ),
    (
        "gate_spot_book_ticker_push_1.json",
        "gate-spot",
        &["BTC_USDT"],
        Inbound::Data(1),
        &["BTC_USDT quote bid=16716.8@0.0134 ask=16716.9@0.0353 ts=1671363004228"],
    ),
    ("gate_futures_subscribe_ack_1.json", "gate-perp", &[], Inbound::SubscribeAck, &[]),
    ("gate_futures_pong_1.json", "gate-perp", &[], Inbound::Control, &[]),
];

#[test]
fn every_fixture_decodes_to_the_hand_checked_values() {
    for (file, venue_name, symbols, outcome, events) in TABLE {
        // As published (pretty-printed) and as a venue sends it (compact): same result.
        for frame in [fixture(file), compact(&fixture(file))] {
            let mut p = parser(venue_name, symbols);
            let (out, got) = feed(&mut p, &frame);
            assert_eq!(out, Ok(*outcome), "{file}: {:?}", p.last_problem());
            assert_eq!(got, *events, "{file}");
            assert_eq!(p.last_problem(), None, "{file}");
        }
    }
}

#[test]
fn bybit_delta_merges_into_its_snapshot_and_needs_one() {
    let mut p = parser("bybit-perp", &["BTCUSDT"]);
    let delta = fixture("bybit_linear_tickers_delta_1.json");
    // A delta first: nothing to merge into.
    let (out, got) = feed(&mut p, &delta);
    assert_eq!(out, Err(DropReason::DeltaWithoutSnapshot));
    assert!(got.is_empty());
    let (out, _) = feed(&mut p, &fixture("bybit_linear_tickers_snapshot_1.json"));
    assert_eq!(out, Ok(Inbound::Data(1)));
    // The delta has no fundingRate/nextFundingTime: they come from the snapshot; mark and index
    // are the delta's.
    let (out, got) = feed(&mut p, &delta);
    assert_eq!(out, Ok(Inbound::Data(1)));
    assert_eq!(got, ["BTCUSDT funding rate=0.00008055 predicted=- next=1715760000000 interval=- mark=61875.06 index=61903.59 ts=1715748763063"]);
    // After a reconnect the old snapshot is gone.
    p.reset();
    assert_eq!(
        feed(&mut p, &delta).0,
        Err(DropReason::DeltaWithoutSnapshot)
    );
}

#[test]
fn bybit_interval_from_the_message_and_delta_without_funding_fields() {
    let mut p = parser("bybit-perp", &["BTCUSDT"]);
    let snap = br#"{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","fundingRate":"-0.0001","nextFundingTime":"1715760000000","fundingIntervalHour":"4","markPrice":"1.5","preOpenPrice":"","fundingCap":"0.005"},"cs":1,"ts":1715748762463}"#;
    assert_eq!(feed(&mut p, snap).1, ["BTCUSDT funding rate=-0.0001 predicted=- next=1715760000000 interval=14400000 mark=1.5 index=- ts=1715748762463"]);
    // Only the book changed: no funding event.
    let delta = br#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","bid1Price":"1.4","bid1Size":"2"},"cs":2,"ts":1715748762563}"#;
    assert_eq!(feed(&mut p, delta), (Ok(Inbound::Data(0)), vec![]));
    let delta = br#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","fundingRate":"0.0002"},"cs":3,"ts":1715748762663}"#;
    assert_eq!(feed(&mut p, delta).1, ["BTCUSDT funding rate=0.0002 predicted=- next=1715760000000 interval=14400000 mark=1.5 index=- ts=1715748762663"]);
    // A bad number in a delta leaves the merged state as it was.
    let bad = br#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","fundingRate":"0.0003","markPrice":"x"},"cs":4,"ts":1715748762763}"#;
    assert_eq!(feed(&mut p, bad).0, Err(DropReason::BadNumber));
    let mark = br#"{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","markPrice":"1.6"},"cs":5,"ts":1715748762863}"#;
    assert_eq!(feed(&mut p, mark).1, ["BTCUSDT funding rate=0.0002 predicted=- next=1715760000000 interval=14400000 mark=1.6 index=- ts=1715748762863"]);
}

#[test]
fn bybit_level1_book_snapshot_then_deltas() {
    let mut p = parser("bybit-perp", &["BTCUSDT"]);
    let delta = br#"{"topic":"orderbook.1.BTCUSDT","type":"delta","ts":2,"data":{"s":"BTCUSDT","b":[],"a":[["101","3"]],"u":2,"seq":2}}"#;
    assert_eq!(feed(&mut p, delta).0, Err(DropReason::DeltaWithoutSnapshot));
    let snap = br#"{"topic":"orderbook.1.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["100","1"]],"a":[["102","2"]],"u":1,"seq":1},"cts":1}"#;
    assert_eq!(
        feed(&mut p, snap).1,
        ["BTCUSDT quote bid=100@1 ask=102@2 ts=1"]
    );
    // An empty side is unchanged.
    assert_eq!(
        feed(&mut p, delta).1,
        ["BTCUSDT quote bid=100@1 ask=101@3 ts=2"]
    );
    // Size 0 removes the level: no two-sided quote until it is replaced.
    let gone = br#"{"topic":"orderbook.1.BTCUSDT","type":"delta","ts":3,"data":{"s":"BTCUSDT","b":[["100","0"]],"a":[],"u":3,"seq":3}}"#;
    assert_eq!(feed(&mut p, gone), (Ok(Inbound::Data(0)), vec![]));
    // Deeper books are not subscribed and not handled.
    let (out, _) = feed(&mut p, &fixture("bybit_linear_orderbook50_delta_1.json"));
    assert_eq!(out, Err(DropReason::UnknownChannel));
}

/// A REST snapshot for one instrument of a parser's universe.
fn snapshot(
    p: &Parser,
    symbol: &str,
    interval_ms: Option<u64>,
    contract: Option<&str>,
    next_ms: i64,
) -> VenueSnapshot {
    let v = p.venue();
    let id = p.universe().lookup(v, symbol.as_bytes()).unwrap();
    let funding = (next_ms > 0).then_some(MarketEvent {
        venue: v,
        instrument: id,
        ts_ms: 1,
        recv_ns: 1,
        kind: MarketEventKind::Funding(Funding {
            rate: Decimal::ZERO,
            predicted_rate: None,
            next_funding_time_ms: next_ms,
            interval_ms,
            mark_price: None,
            index_price: None,
        }),
    });
    VenueSnapshot {
        venue: Some(v),
        instruments: vec![InstrumentSnapshot {
            instrument: id,
            funding,
            interval_ms,
            spec: contract.map(|c| InstrumentSpec {
                tick_size: Decimal::ONE,
                lot_size: Decimal::ONE,
                min_qty: Decimal::ONE,
                min_notional: Decimal::ZERO,
                contract_size: Some(c.parse().unwrap()),
            }),
        }],
    }
}

#[test]
fn rest_snapshot_supplies_intervals_contract_sizes_and_gate_next_funding() {
    let mut p = parser("binance-perp", &["BTCUSDT"]);
    let snap = snapshot(&p, "BTCUSDT", Some(14_400_000), None, 0);
    p.apply_snapshot(&snap);
    assert_eq!(feed(&mut p, &fixture("binance_usdm_markPrice_1.json")).1, ["BTCUSDT funding rate=0.00038167 predicted=- next=1562306400000 interval=14400000 mark=11794.15000000 index=11784.62659091 ts=1562305380000"]);

    // OKX: ctVal 0.1 BCH per contract.
    let mut p = parser("okx-perp", &["BCH-USDT-SWAP"]);
    p.apply_snapshot(&snapshot(&p, "BCH-USDT-SWAP", None, Some("0.1"), 0));
    assert_eq!(
        feed(&mut p, &fixture("okx_bbo_tbt_push_1.json")).1,
        ["BCH-USDT-SWAP quote bid=111.05@5774.5 ask=111.06@5515.4 ts=1670324386802"]
    );

    // Gate: quanto_multiplier 0.0001 BTC; next settlement from REST, rolled past the event time.
    let mut p = parser("gate-perp", &["BTC_USD"]);
    p.apply_snapshot(&snapshot(
        &p,
        "BTC_USD",
        Some(28_800_000),
        Some("0.0001"),
        1_541_635_200_000,
    ));
    assert_eq!(
        feed(&mut p, &fixture("gate_futures_book_ticker_push_1.json")).1,
        ["BTC_USD quote bid=54696.6@3.7000 ask=54696.7@4.7061 ts=1615366379123"]
    );
    assert_eq!(feed(&mut p, &fixture("gate_futures_tickers_push_1.json")).1, ["BTC_USD funding rate=-0.000114 predicted=- next=1541664000000 interval=28800000 mark=118.35 index=118.36 ts=1541659086123"]);

    // A snapshot for another venue is ignored.
    let mut other = snapshot(&p, "BTC_USD", Some(3_600_000), None, 0);
    other.venue = Some(venue("gate-spot"));
    p.apply_snapshot(&other);
    assert_eq!(feed(&mut p, &fixture("gate_futures_tickers_push_1.json")).1, ["BTC_USD funding rate=-0.000114 predicted=- next=1541664000000 interval=28800000 mark=118.35 index=118.36 ts=1541659086123"]);
}

#[test]
fn live_sessions_withhold_contract_quotes_until_the_contract_size_is_known() {
    let v = venue("okx-perp");
    let u = Arc::new(universe(v, &["BCH-USDT-SWAP"]));
    let mut p = Parser::new(v, Arc::clone(&u), true);
    let (out, got) = feed(&mut p, &fixture("okx_bbo_tbt_push_1.json"));
    assert_eq!((out, got.len()), (Ok(Inbound::Data(0)), 0));
    p.set_contract_size(u.find("BCH-USDT").unwrap(), Some("0.1".parse().unwrap()));
    assert_eq!(
        feed(&mut p, &fixture("okx_bbo_tbt_push_1.json")).0,
        Ok(Inbound::Data(1))
    );
}

#[test]
fn binance_combined_wrapper_arrays_and_raw_mode() {
    let inner = String::from_utf8(fixture("binance_usdm_markPrice_1.json")).unwrap();
    let wrapped = format!(r#"{{"stream":"btcusdt@markPrice","data":{inner}}}"#);
    let mut p = parser("binance-perp", &["BTCUSDT"]);
    let (out, got) = feed(&mut p, wrapped.as_bytes());
    assert_eq!(out, Ok(Inbound::Data(1)));
    assert!(
        got[0].starts_with("BTCUSDT funding rate=0.00038167 "),
        "{got:?}"
    );
    // The all-market array: symbols nobody configured are skipped, and counted once.
    let arr = format!(
        r#"{{"stream":"!markPrice@arr","data":[{inner},{}]}}"#,
        inner.replace("BTCUSDT", "ETHUSDT")
    );
    let (out, got) = feed(&mut p, arr.as_bytes());
    assert_eq!(out, Err(DropReason::UnknownSymbol));
    assert_eq!(got.len(), 1);
    assert_eq!(p.unknown_symbol(), Some("ETHUSDT"));
    let raw = format!("[{inner}]");
    assert_eq!(feed(&mut p, raw.as_bytes()).0, Ok(Inbound::Data(1)));
}

/// Hand-built control frames in each venue's documented shape (NOTES.md §1-5).
#[test]
fn control_messages_errors_and_notices() {
    type Case<'a> = (
        &'a str,
        &'a str,
        Result<Inbound, DropReason>,
        Option<&'a str>,
    );
    let cases: &[Case] = &[
        (
            "binance-perp",
            r#"{"e":"serverShutdown","E":1700000000000}"#,
            Ok(Inbound::ReconnectRequested),
            Some("serverShutdown"),
        ),
        (
            "binance-spot",
            r#"{"code":0,"msg":"Unknown property","id":7}"#,
            Err(DropReason::SubscribeError),
            Some("Unknown property"),
        ),
        (
            "binance-spot",
            r#"{"error":{"code":2,"msg":"Invalid request"},"id":7}"#,
            Err(DropReason::SubscribeError),
            Some("code 2 Invalid request"),
        ),
        (
            "binance-perp",
            r#"{"e":"aggTrade","s":"BTCUSDT"}"#,
            Err(DropReason::UnknownChannel),
            None,
        ),
        (
            "bybit-perp",
            r#"{"success":false,"ret_msg":"error:handler not found,topic:tickers.NOPE","conn_id":"x","req_id":"carry-1","op":"subscribe"}"#,
            Err(DropReason::SubscribeError),
            Some("handler not found"),
        ),
        (
            "bybit-spot",
            r#"{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}"#,
            Ok(Inbound::Control),
            None,
        ),
        (
            "bybit-perp",
            r#"{"args":["1672916271846"],"op":"pong"}"#,
            Ok(Inbound::Control),
            None,
        ),
        ("okx-perp", "pong", Ok(Inbound::Control), None),
        (
            "okx-perp",
            r#"{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"a4d3ae55"}"#,
            Ok(Inbound::ReconnectRequested),
            Some("service upgrade"),
        ),
        (
            "okx-perp",
            r#"{"event":"channel-conn-count","channel":"bbo-tbt","connCount":"2","connId":"a"}"#,
            Ok(Inbound::Control),
            None,
        ),
        ("bitget-perp", "pong", Ok(Inbound::Control), None),
        (
            "bitget-perp",
            r#"{"event":"error","code":30001,"msg":"instType:USDT-FUTURES,channel:ticker,instId:NOPE doesn't exist"}"#,
            Err(DropReason::SubscribeError),
            Some("code 30001 instType"),
        ),
        (
            "gate-perp",
            r#"{"time":1545405058,"time_ms":1545405058123,"channel":"futures.tickers","event":"subscribe","error":{"code":2,"message":"unknown contract NOPE"},"result":null}"#,
            Err(DropReason::SubscribeError),
            Some("code 2 unknown contract NOPE"),
        ),
        (
            "gate-spot",
            r#"{"type":"service_upgrade","msg":"The connection will soon be closed for a service upgrade. Please reconnect."}"#,
            Ok(Inbound::ReconnectRequested),
            Some("service upgrade"),
        ),
        (
            "gate-spot",
            r#"{"time":1,"time_ms":1,"channel":"spot.pong","event":"","result":null}"#,
            Ok(Inbound::Control),
            None,
        ),
        ("gate-perp", "", Err(DropReason::Malformed), Some("empty")),
        (
            "okx-spot",
            "{\"arg\":",
            Err(DropReason::Malformed),
            Some("not JSON"),
        ),
        // Valid JSON whose root is not an object, and a root that is not JSON at all.
        (
            "gate-spot",
            "[1,2]",
            Err(DropReason::Malformed),
            Some("not a JSON object"),
        ),
        (
            "bybit-perp",
            "\"pong\"",
            Err(DropReason::Malformed),
            Some("not a JSON object"),
        ),
        (
            "bitget-perp",
            "[1,",
            Err(DropReason::Malformed),
            Some("not JSON: unexpected end"),
        ),
    ];
    for (venue_name, text, outcome, problem) in cases {
        let mut p = parser(venue_name, &[]);
        let (out, got) = feed(&mut p, text.as_bytes());
        assert_eq!(out, *outcome, "{venue_name} {text}");
        assert!(got.is_empty());
        if let Some(needle) = problem {
            let note = p.last_problem().unwrap_or_default();
            assert!(note.contains(needle), "{venue_name} {text}: {note:?}");
        }
    }
    let mut p = parser("okx-perp", &[]);
    let (out, _) = feed(&mut p, &fixture("okx_ws_subscribe_error_1.json"));
    assert_eq!(out, Err(DropReason::SubscribeError));
    assert!(
        p.last_problem().unwrap().contains("60012 Invalid request"),
        "{:?}",
        p.last_problem()
    );
}

/// In an all-market array, an element with an unknown symbol does not stop the others; a later
/// element that is not understood drops the frame, and the log names that fault, not the symbol.
#[test]
fn a_fault_after_an_unknown_symbol_in_an_array_is_what_the_log_names() {
    let unknown =
        r#"{"e":"markPriceUpdate","E":1,"s":"XYZUSDT","p":"1","i":"1","P":"1","r":"0.0001","T":2}"#;
    let cases = [
        (r#"{"s":"BTCUSDT"}"#, DropReason::Malformed, "no event type"),
        (
            r#"{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1","i":"1","P":"1","r":"x","T":2}"#,
            DropReason::BadNumber,
            "not an exact number: r",
        ),
    ];
    for (bad, reason, needle) in cases {
        let mut p = parser("binance-perp", &["BTCUSDT"]);
        let frame = format!("[{unknown},{bad}]");
        assert_eq!(feed(&mut p, frame.as_bytes()).0, Err(reason), "{frame}");
        let note = p.last_problem().unwrap_or_default();
        assert!(note.contains(needle), "{frame}: {note:?}");
        assert_eq!(p.unknown_symbol(), None, "{frame}");
    }
    // With nothing else wrong, the unknown symbol is what the frame is dropped for.
    let mut p = parser("binance-perp", &["BTCUSDT"]);
    assert_eq!(
        feed(&mut p, format!("[{unknown}]").as_bytes()).0,
        Err(DropReason::UnknownSymbol)
    );
    assert_eq!(p.unknown_symbol(), Some("XYZUSDT"));
}

#[test]
fn wrong_market_unknown_symbols_and_missing_fields_are_named() {
    // A futures ticker read on the spot venue is a quote (spot has no funding) ...
    let mut p = parser("bitget-spot", &["BTCUSDT"]);
    let mut f = fixture("bitget_usdtfutures_ticker_push_1.json");
    assert_eq!(
        feed(&mut p, &f).0,
        Ok(Inbound::Data(1)),
        "spot ticker with BBO reads as a quote"
    );
    // ... and a funding-only channel on a spot venue is refused.
    let mut p = parser("okx-spot", &["BTC-USD-SWAP"]);
    assert_eq!(
        feed(&mut p, &fixture("okx_swap_funding_rate_push_1.json")).0,
        Err(DropReason::UnknownChannel)
    );
    let mut p = parser("binance-perp", &["ETHUSDT"]);
    assert_eq!(
        feed(&mut p, &fixture("binance_usdm_markPrice_1.json")).0,
        Err(DropReason::UnknownSymbol)
    );
    assert_eq!(p.unknown_symbol(), Some("BTCUSDT"));
    assert!(p.last_problem().unwrap().contains("BTCUSDT"));
    let mut p = parser("bitget-perp", &["BTCUSDT"]);
    f = String::from_utf8(f)
        .unwrap()
        .replace("\"fundingRate\"", "\"fundingRateX\"")
        .into_bytes();
    assert_eq!(feed(&mut p, &f).0, Err(DropReason::MissingField));
    assert!(
        p.last_problem().unwrap().contains("fundingRate"),
        "{:?}",
        p.last_problem()
    );
}

#[test]
fn empty_book_sides_and_tickers_without_a_bbo_quote_nothing() {
    // OKX sends books with an empty side as keep-alives; levels are `[price, size, "0", orders]`.
    let mut p = parser("okx-perp", &["BCH-USDT-SWAP"]);
    let empty = br#"{"arg":{"channel":"bbo-tbt","instId":"BCH-USDT-SWAP"},"data":[{"asks":[],"bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":1}]}"#;
    assert_eq!(feed(&mut p, empty), (Ok(Inbound::Data(0)), vec![]));
    // Bitget: the item names no instId (the envelope's `arg.instId` stands) and no time (the
    // envelope's `ts` stands).
    let mut p = parser("bitget-spot", &["BTCUSDT"]);
    let book = |bids: &str| {
        format!(
            r#"{{"action":"snapshot","arg":{{"instType":"SPOT","channel":"books1","instId":"BTCUSDT"}},"data":[{{"asks":[["26274.9","0.0009"]],"bids":{bids}}}],"ts":1695710946294}}"#
        )
    };
    assert_eq!(
        feed(&mut p, book("[]").as_bytes()),
        (Ok(Inbound::Data(0)), vec![])
    );
    assert_eq!(
        feed(&mut p, book(r#"[["26274.8","0.0009"]]"#).as_bytes()).1,
        ["BTCUSDT quote bid=26274.8@0.0009 ask=26274.9@0.0009 ts=1695710946294"]
    );
    // A ticker with one side of its BBO empty, and one with a bad size.
    let mut p = parser("okx-spot", &["BTC-USDT"]);
    let ticker = |ask_size: &str| {
        format!(
            r#"{{"arg":{{"channel":"tickers","instId":"BTC-USDT"}},"data":[{{"instType":"SPOT","instId":"BTC-USDT","bidPx":"8888.88","bidSz":"5","askPx":"9999.99","askSz":"{ask_size}","ts":"1597026383085"}}]}}"#
        )
    };
    assert_eq!(
        feed(&mut p, ticker("").as_bytes()),
        (Ok(Inbound::Data(0)), vec![])
    );
    assert_eq!(
        feed(&mut p, ticker("x").as_bytes()).0,
        Err(DropReason::BadNumber)
    );
    assert!(
        p.last_problem().unwrap().contains("askSz"),
        "{:?}",
        p.last_problem()
    );
}

//! The real venue sessions (`carry_feeds::venue::market_ws::sessions`) through the real transport, for all
//! ten venues, against a local TLS websocket server: each connection asks for the path its
//! session names, sends exactly its session's subscribe messages, answers a protocol ping with
//! the same payload, and the recorded venue payloads it is served come out of the queue as exactly
//! the events the venue's parser makes of the same bytes, in order. The REST snapshot (contract
//! sizes for OKX and Gate perps) is applied before quotes are served.

mod transport_support;
mod venues_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use carry_engine::{InstrumentSpec, MarketEvent, Universe, Venue};
use carry_feeds::feed::group::{FeedGroup, FeedGroupConfig};
use carry_feeds::feed::queue::bounded;
use carry_feeds::feed::snapshot::StaticSnapshots;
use carry_feeds::transport::connection::Endpoint;
use carry_feeds::venue::market_ws::{sessions, Parser};
use carry_feeds::venue::sizes_in_contracts;
use carry_feeds::{InstrumentSnapshot, RecvStamp, VenueSnapshot};
use rust_decimal::Decimal;
use transport_support::{next_item, test_pki, wait_until, WsServer};
use venues_support::{fixture, universe};

/// Recorded market data per venue (sent in this order on the venue's first connection), with
/// the venue symbols they carry.
const PAYLOADS: &[(&str, &[&str])] = &[
    (
        "binance-perp",
        &[
            "binance_usdm_markPrice_1.json",
            "binance_usdm_bookTicker_1.json",
        ],
    ),
    ("binance-spot", &["binance_spot_bookTicker_1.json"]),
    (
        "bybit-perp",
        &[
            "bybit_linear_tickers_snapshot_1.json",
            "bybit_linear_tickers_delta_1.json",
        ],
    ),
    (
        "bybit-spot",
        &[
            "bybit_spot_orderbook1_snapshot_1.json",
            "bybit_spot_tickers_snapshot_1.json",
        ],
    ),
    (
        "okx-perp",
        &[
            "okx_swap_funding_rate_push_1.json",
            "okx_bbo_tbt_push_1.json",
        ],
    ),
    ("okx-spot", &["okx_tickers_push_1.json"]),
    ("bitget-perp", &["bitget_usdtfutures_ticker_push_1.json"]),
    (
        "bitget-spot",
        &[
            "bitget_spot_ticker_push_1.json",
            "bitget_spot_books5_push_1.json",
        ],
    ),
    (
        "gate-perp",
        &[
            "gate_futures_tickers_push_1.json",
            "gate_futures_book_ticker_push_1.json",
        ],
    ),
    ("gate-spot", &["gate_spot_book_ticker_push_1.json"]),
];

const SYMBOLS: &[(&str, &[&str])] = &[
    ("binance-perp", &["BTCUSDT", "BNBUSDT"]),
    ("binance-spot", &["BNBUSDT"]),
    ("bybit-perp", &["BTCUSDT"]),
    ("bybit-spot", &["BTCUSDT"]),
    ("okx-perp", &["BTC-USD-SWAP", "BCH-USDT-SWAP"]),
    ("okx-spot", &["BTC-USDT"]),
    ("bitget-perp", &["BTCUSDT"]),
    ("bitget-spot", &["BTCUSDT"]),
    ("gate-perp", &["BTC_USD"]),
    ("gate-spot", &["BTC_USDT"]),
];

/// Trading rules for every instrument, with a contract size where the venue sizes in contracts.
fn snapshot(venue: Venue, u: &Universe) -> VenueSnapshot {
    VenueSnapshot {
        venue: Some(venue),
        instruments: u
            .iter()
            .map(|(id, _)| InstrumentSnapshot {
                instrument: id,
                funding: None,
                interval_ms: Some(8 * 3_600_000),
                spec: Some(InstrumentSpec {
                    tick_size: Decimal::new(1, 2),
                    lot_size: Decimal::ONE,
                    min_qty: Decimal::ONE,
                    min_notional: Decimal::ZERO,
                    contract_size: sizes_in_contracts(venue).then(|| Decimal::new(1, 2)),
                }),
            })
            .collect(),
    }
}

/// What the venue's own parser makes of the payloads, stamped as received at Unix ms 1.
fn expected(
    venue: Venue,
    u: &Arc<Universe>,
    snap: &VenueSnapshot,
    files: &[&str],
) -> Vec<MarketEvent> {
    let mut parser = Parser::new(venue, u.clone(), true);
    parser.apply_snapshot(snap);
    let mut out = Vec::new();
    let recv = RecvStamp {
        mono_ns: 1,
        unix_ms: 1,
    };
    for f in files {
        let mut bytes = fixture(f);
        parser
            .parse(&mut bytes, recv, &mut |e| out.push(e))
            .unwrap_or_else(|r| panic!("{venue} {f}: {r:?}"));
    }
    out
}

/// The live event is the reference one, except for the receive stamps: `recv_ns` is the feed's,
/// and a `ts_ms` the reference took from its receive time (1) is the feed's wall clock.
fn assert_same(venue: Venue, got: &MarketEvent, want: &MarketEvent, now_ms: i64) {
    assert_eq!(
        (got.venue, got.instrument, got.kind),
        (want.venue, want.instrument, want.kind),
        "{venue}"
    );
    assert!(got.recv_ns > 1, "{venue}: recv_ns {}", got.recv_ns);
    if want.ts_ms == 1 {
        assert!(
            (got.ts_ms - now_ms).abs() < 600_000,
            "{venue}: ts_ms {}",
            got.ts_ms
        );
    } else {
        assert_eq!(got.ts_ms, want.ts_ms, "{venue}");
    }
}

#[test]
fn every_venue_session_runs_over_the_transport() {
    let pki = test_pki("venues");
    let tls = carry_feeds::transport::tls::client_config(Some(&pki.root_pem)).unwrap();
    let symbols: BTreeMap<&str, &[&str]> = SYMBOLS.iter().copied().collect();

    for (venue_name, files) in PAYLOADS {
        let venue: Venue = venue_name.parse().unwrap();
        let server = WsServer::start(Some(pki.server.clone()));
        let u = Arc::new(universe(venue, symbols[venue_name]));
        let snap = snapshot(venue, &u);
        let mut sessions = sessions(
            venue,
            &format!("wss://127.0.0.1:{}", server.port),
            u.clone(),
        );
        assert!(!sessions.is_empty(), "{venue}: no sessions");
        // Path (with query) → the subscribe messages that connection must send.
        let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in &mut sessions {
            let endpoint = Endpoint::parse(s.url()).unwrap();
            assert!(
                endpoint.secure && endpoint.port == server.port,
                "{venue}: {}",
                s.url()
            );
            let path = s.url()[format!("wss://127.0.0.1:{}", server.port).len()..].to_string();
            wanted.insert(path, s.on_connect(0));
        }
        let count = sessions.len();
        let mut config = FeedGroupConfig::new(
            venue.as_str(),
            sessions,
            u.clone(),
            tls.clone(),
            Arc::new(StaticSnapshots::new().with(venue, snap.clone())),
        );
        config.rest = vec![(venue, "https://rest.invalid".to_string())];
        let (producer, mut rx) = bounded(1024);
        let shutdown = Arc::new(AtomicBool::new(false));
        let handle = FeedGroup::spawn(config, producer, shutdown.clone()).unwrap();
        let stats = handle.stats();

        let mut conns = Vec::new();
        for _ in 0..count {
            let mut c = server.accept();
            let subs = wanted
                .remove(&c.path)
                .unwrap_or_else(|| panic!("{venue}: unexpected path {:?}", c.path));
            for sub in subs {
                assert_eq!(c.recv_text(), sub, "{venue} {}", c.path);
            }
            assert_eq!(c.ping(b"\x01venue-ping"), b"\x01venue-ping", "{venue}");
            conns.push(c);
        }
        assert!(wanted.is_empty(), "{venue}: never connected: {wanted:?}");
        wait_until("the REST snapshot applied", || {
            stats.snapshot().rest[0].ok == 1
        });

        for f in files.iter() {
            conns[0].send_text(std::str::from_utf8(&fixture(f)).unwrap());
        }
        let want = expected(venue, &u, &snap, files);
        assert!(!want.is_empty(), "{venue}: fixtures make no events");
        for w in &want {
            let got = next_item(&mut rx).event;
            assert_same(venue, &got, w, carry_feeds::transport::clock::unix_ms());
        }
        assert!(rx.is_empty(), "{venue}: extra events");

        shutdown.store(true, Ordering::SeqCst);
        handle.wake();
        handle.join().unwrap();
        let s = stats.snapshot();
        for c in &s.connections {
            assert_eq!(c.total_drops(), 0, "{venue} {}: {:?}", c.url, c.drops);
            assert_eq!(c.connects, 1, "{venue}");
            assert_eq!(c.pings, 1, "{venue}");
        }
        assert_eq!(
            s.connections.iter().map(|c| c.events).sum::<u64>(),
            want.len() as u64
        );
    }
}

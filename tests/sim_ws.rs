//! The simulator's websockets against carry's real venue sessions: for every venue, the
//! subscribe messages carry sends are acknowledged, data follows, heartbeats are answered, and
//! every frame the simulator sends parses through the real `VenueSession::on_text` into sane
//! funding and quotes. Plus: the venues' error shapes for unknown symbols are what carry counts
//! as refused subscriptions, protocol pings and their timeouts, and the injected faults.

mod sim_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use carry::sim::SimVenues;
use carry_engine::market::venue::Exchange;
use carry_engine::{MarketEvent, MarketEventKind, Venue};
use carry_feeds::transport::clock::unix_ms;
use carry_feeds::{DropReason, Inbound, VenueSession};
use rust_decimal::Decimal;
use sim_support::*;
use tungstenite::Message;

/// What one venue's sessions saw.
#[derive(Default, Debug)]
struct Seen {
    frames: usize,
    acks: usize,
    controls: usize,
    pings: usize,
    funding: Vec<MarketEvent>,
    quotes: Vec<MarketEvent>,
}

/// Drives one real session against the simulator until it has seen everything it should, every
/// frame through `on_text`; any frame carry drops fails the test with the frame.
fn drive(
    session: &mut Box<dyn VenueSession>,
    wants_funding: bool,
    wants_quotes: bool,
    seen: &mut Seen,
) {
    let mut client = Client::connect(session.url());
    let subscribes = session.on_connect(unix_ms());
    for s in &subscribes {
        client.send(s);
    }
    let heartbeat = session.heartbeat();
    if let Some(hb) = &heartbeat {
        client.send(&hb.text);
    }
    let venue = session.venue();
    let wants_ping = matches!(venue.exchange, Exchange::Binance | Exchange::Gate);
    let deadline = Instant::now() + PATIENCE;
    let (mut acks, mut controls, mut pings, mut funding, mut quotes, mut frames) =
        (0, 0, 0, 0, 0, 0);
    loop {
        let done = acks >= subscribes.len()
            && controls >= usize::from(heartbeat.is_some())
            && pings >= usize::from(wants_ping)
            && (!wants_funding || funding >= 3)
            && (!wants_quotes || quotes >= 20);
        if done {
            break;
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| {
                panic!("{venue}: incomplete after {frames} frames: acks {acks}/{} controls {controls} pings {pings} funding {funding} quotes {quotes}", subscribes.len())
            });
        let Some(msg) = client.next(left) else {
            continue;
        };
        let text = match msg {
            Message::Text(t) => t.to_string(),
            Message::Ping(_) => {
                pings += 1;
                continue;
            }
            other => panic!("{venue}: unexpected frame {other:?}"),
        };
        frames += 1;
        let mut bytes = text.clone().into_bytes();
        let mut events = Vec::new();
        let result = session.on_text(&mut bytes, stamp(), &mut |e| events.push(e));
        match result {
            Ok(Inbound::SubscribeAck) => acks += 1,
            Ok(Inbound::Control) => controls += 1,
            Ok(Inbound::Data(n)) => assert_eq!(n, events.len(), "{venue}: {text}"),
            Ok(Inbound::ReconnectRequested) => panic!("{venue}: reconnect requested by {text}"),
            Err(reason) => panic!(
                "{venue}: carry dropped a simulator frame as {reason:?} ({:?}): {text}",
                session.last_problem()
            ),
        }
        for e in events {
            match e.kind {
                MarketEventKind::Funding(_) => {
                    funding += 1;
                    seen.funding.push(e);
                }
                MarketEventKind::Quote(_) => {
                    quotes += 1;
                    seen.quotes.push(e);
                }
                MarketEventKind::FeedReset => panic!("{venue}: feed reset from a frame"),
            }
        }
    }
    seen.frames += frames;
    seen.acks += acks;
    seen.controls += controls;
    seen.pings += pings;
}

#[test]
fn every_venue_acks_streams_and_parses_through_carrys_sessions() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT", "ETH-USDT"])).unwrap();
    let u = universe(&sim);
    let now_ms = stamp().unix_ms;
    for venue in Venue::ALL {
        let mut sessions = sessions(&sim, venue, &u);
        assert!(!sessions.is_empty(), "{venue}: carry built no session");
        // What carry's feed does at start: the venue's REST snapshot, from the simulator.
        let snapshot = carry_feeds::venue::market_rest::fetch_snapshot(
            &ureq::Agent::new_with_config(ureq::Agent::config_builder().build()),
            venue,
            &sim.rest_url(venue),
            &u,
            stamp(),
        )
        .unwrap_or_else(|e| panic!("{venue}: {e}"));
        let mut seen = Seen::default();
        for s in &mut sessions {
            s.apply_snapshot(&snapshot);
            // Binance perp splits funding (/market) from quotes (/public).
            let wants_funding = venue.is_perp() && !s.url().contains("/public/");
            let wants_quotes = !s.url().contains("/market/");
            drive(s, wants_funding, wants_quotes, &mut seen);
        }
        assert!(seen.frames >= 20, "{venue}: {seen:?}");
        assert_eq!(seen.funding.is_empty(), !venue.is_perp(), "{venue}");
        for e in &seen.funding {
            let MarketEventKind::Funding(f) = e.kind else {
                unreachable!()
            };
            assert!(
                f.rate.abs() < Decimal::new(1, 2),
                "{venue}: rate {}",
                f.rate
            );
            assert!(
                f.next_funding_time_ms > now_ms,
                "{venue}: next funding {f:?}"
            );
            let interval = f.interval_ms.expect("interval from message or snapshot");
            assert!(
                [3_600_000, 4 * 3_600_000, 8 * 3_600_000].contains(&interval),
                "{venue}: {f:?}"
            );
            assert_eq!(
                f.next_funding_time_ms % interval as i64,
                0,
                "{venue}: on the UTC grid"
            );
            if let (Some(mark), Some(index)) = (f.mark_price, f.index_price) {
                assert!(
                    ((mark - index) / index).abs() < Decimal::new(5, 3),
                    "{venue}: {f:?}"
                );
            }
            assert!(e.ts_ms > 0);
        }
        for e in &seen.quotes {
            let MarketEventKind::Quote(q) = e.kind else {
                unreachable!()
            };
            assert!(q.bid > Decimal::ZERO && q.ask > q.bid, "{venue}: {q:?}");
            assert!(
                q.bid_qty > Decimal::ZERO && q.ask_qty > Decimal::ZERO,
                "{venue}: {q:?}"
            );
            // Top-of-book notional stays within the model's bound: proves contract sizes were
            // converted with the same ctVal / quanto_multiplier the listing reports.
            let notional = q.ask_qty * q.ask;
            assert!(notional <= Decimal::from(250_000), "{venue}: {q:?}");
            assert!(e.ts_ms > 0);
        }
        // Both instruments were subscribed and produced quotes.
        let instruments: BTreeMap<u16, usize> =
            seen.quotes.iter().fold(BTreeMap::new(), |mut m, e| {
                *m.entry(e.instrument.0).or_default() += 1;
                m
            });
        assert_eq!(
            instruments.len(),
            2,
            "{venue}: quotes per instrument {instruments:?}"
        );
    }
}

/// A subscribe for a symbol the venue does not list, in each venue's own request format.
fn bad_subscribe(venue: Venue) -> (String, String) {
    match (venue.exchange, venue.is_perp()) {
        (Exchange::Binance, true) => (
            "/public/ws".into(),
            r#"{"method":"SUBSCRIBE","params":["foousdt@bookTicker"],"id":7}"#.into(),
        ),
        (Exchange::Binance, false) => (
            "/ws".into(),
            r#"{"method":"SUBSCRIBE","params":["foousdt@bookTicker"],"id":7}"#.into(),
        ),
        (Exchange::Bybit, true) => (
            "/v5/public/linear".into(),
            r#"{"req_id":"x","op":"subscribe","args":["tickers.FOOUSDT"]}"#.into(),
        ),
        (Exchange::Bybit, false) => (
            "/v5/public/spot".into(),
            r#"{"req_id":"x","op":"subscribe","args":["orderbook.1.FOOUSDT"]}"#.into(),
        ),
        (Exchange::Okx, true) => (
            "/ws/v5/public".into(),
            r#"{"id":"1","op":"subscribe","args":[{"channel":"funding-rate","instId":"FOO-USDT-SWAP"}]}"#.into(),
        ),
        (Exchange::Okx, false) => (
            "/ws/v5/public".into(),
            r#"{"op":"subscribe","args":[{"channel":"bbo-tbt","instId":"FOO-USDT"}]}"#.into(),
        ),
        (Exchange::Bitget, true) => (
            "/v2/ws/public".into(),
            r#"{"op":"subscribe","args":[{"instType":"USDT-FUTURES","channel":"ticker","instId":"FOOUSDT"}]}"#.into(),
        ),
        (Exchange::Bitget, false) => (
            "/v2/ws/public".into(),
            r#"{"op":"subscribe","args":[{"instType":"SPOT","channel":"books1","instId":"FOOUSDT"}]}"#.into(),
        ),
        (Exchange::Gate, true) => (
            "/v4/ws/usdt".into(),
            r#"{"time":1,"channel":"futures.tickers","event":"subscribe","payload":["FOO_USDT"]}"#.into(),
        ),
        (Exchange::Gate, false) => (
            "/ws/v4/".into(),
            r#"{"time":1,"channel":"spot.book_ticker","event":"subscribe","payload":["FOO_USDT"]}"#.into(),
        ),
    }
}

#[test]
fn unknown_symbols_get_the_venue_error_that_carry_counts_as_refused() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT"])).unwrap();
    let u = universe(&sim);
    for venue in Venue::ALL {
        let (path, request) = bad_subscribe(venue);
        let mut client = Client::connect(&format!("{}{path}", sim.ws_url(venue)));
        client.send(&request);
        let reply = client
            .next_text(Instant::now() + PATIENCE)
            .unwrap_or_else(|| panic!("{venue}: no reply to {request}"));
        let mut session = sessions(&sim, venue, &u).remove(0);
        let mut bytes = reply.clone().into_bytes();
        let result = session.on_text(&mut bytes, stamp(), &mut |_| {});
        assert_eq!(result, Err(DropReason::SubscribeError), "{venue}: {reply}");
        let problem = session
            .last_problem()
            .unwrap_or_default()
            .to_ascii_uppercase();
        assert!(
            problem.contains("FOO"),
            "{venue}: the venue's message names the symbol: {problem}"
        );
    }
}

#[test]
fn binance_refuses_legacy_and_misrouted_futures_urls() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT"])).unwrap();
    let perp: Venue = "binance-perp".parse().unwrap();
    let base = sim.ws_url(perp);
    for (path, status) in [
        ("/ws/btcusdt@markPrice", 404),
        ("/stream?streams=btcusdt@markPrice", 404),
        ("/market/stream?streams=btcusdt@bookTicker", 400),
        ("/public/ws/btcusdt@markPrice", 400),
        ("/public/ws/BTCUSDT@bookTicker", 400),
        ("/public/ws/foousdt@bookTicker", 400),
    ] {
        match tungstenite::connect(format!("{base}{path}")) {
            Err(tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status().as_u16(), status, "{path}");
                let body =
                    String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).to_string();
                assert!(body.contains("\"msg\""), "{path}: {body}");
            }
            other => panic!(
                "{path}: expected HTTP {status}, got {:?}",
                other.map(|_| ())
            ),
        }
    }
    // The same streams on their own routes work, raw (unwrapped) and combined (wrapped).
    let mut raw = Client::connect(&format!("{base}/public/ws/btcusdt@bookTicker"));
    let first = raw.next_text(Instant::now() + PATIENCE).unwrap();
    assert!(first.starts_with("{\"e\":\"bookTicker\""), "{first}");
    let mut combined = Client::connect(&format!(
        "{base}/market/stream?streams=btcusdt@markPrice@1s"
    ));
    let first = combined.next_text(Instant::now() + PATIENCE).unwrap();
    assert!(
        first.starts_with(
            "{\"stream\":\"btcusdt@markPrice@1s\",\"data\":{\"e\":\"markPriceUpdate\""
        ),
        "{first}"
    );
}

#[test]
fn protocol_pings_go_unanswered_and_the_venue_hangs_up() {
    let mut config = fast_config(&["BTC-USDT"]);
    config.server_ping_interval = Duration::from_millis(50);
    config.pong_timeout = Duration::from_millis(200);
    let sim = SimVenues::start(config).unwrap();
    for venue in ["binance-spot", "gate-perp"] {
        let venue: Venue = venue.parse().unwrap();
        // A raw websocket client that never writes after the handshake: no pong ever.
        use std::io::{Read, Write};
        let addr = sim.ws_url(venue).trim_start_matches("ws://").to_string();
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("{venue}: the venue never hung up: {e}"),
            }
        }
        let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(all.starts_with(b"HTTP/1.1 101"), "{venue}");
        let frames = &all[head_end..];
        // Server frames are unmasked: 0x89 = FIN + ping, 0x88 = FIN + close.
        assert_eq!(
            frames.first(),
            Some(&0x89),
            "{venue}: first frame is a ping"
        );
        assert!(frames.contains(&0x88), "{venue}: closed with a close frame");
    }
}

#[test]
fn a_stale_venue_keeps_heartbeats_but_stops_data_then_resumes() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT"])).unwrap();
    let okx: Venue = "okx-spot".parse().unwrap();
    let mut c = Client::connect(&format!("{}/ws/v5/public", sim.ws_url(okx)));
    c.send(r#"{"op":"subscribe","args":[{"channel":"bbo-tbt","instId":"BTC-USDT"}]}"#);
    let deadline = Instant::now() + PATIENCE;
    let ack = c.next_text(deadline).unwrap();
    assert!(ack.contains("\"event\":\"subscribe\""), "{ack}");
    let data = c.next_text(deadline).unwrap();
    assert!(data.contains("bbo-tbt"), "{data}");

    sim.set_stale(okx, true);
    // Whatever was pushed before the fault arrives before this pong; after it, only pongs.
    c.send("ping");
    while c.next_text(deadline).unwrap() != "pong" {}
    c.send("ping");
    assert_eq!(c.next_text(deadline).as_deref(), Some("pong"));
    assert_eq!(
        c.next(Duration::from_millis(300)),
        None,
        "no data while stale"
    );

    sim.set_stale(okx, false);
    let resumed = c.next_text(deadline).unwrap();
    assert!(resumed.contains("bbo-tbt"), "{resumed}");
}

#[test]
fn dropped_connections_and_stop_end_every_socket() {
    let mut sim = SimVenues::start(fast_config(&["BTC-USDT"])).unwrap();
    let bybit: Venue = "bybit-perp".parse().unwrap();
    let gate: Venue = "gate-spot".parse().unwrap();
    let mut a = Client::connect(&format!("{}/v5/public/linear", sim.ws_url(bybit)));
    let mut b = Client::connect(&format!("{}/v5/public/linear", sim.ws_url(bybit)));
    let mut g = Client::connect(&format!("{}/ws/v4/", sim.ws_url(gate)));
    let deadline = Instant::now() + PATIENCE;
    while sim.connections(bybit) < 2 || sim.connections(gate) < 1 {
        assert!(Instant::now() < deadline, "connections never registered");
        std::thread::yield_now();
    }
    assert_eq!(sim.drop_connections(bybit), 2);
    assert!(a.ends_before(Instant::now() + PATIENCE));
    assert!(b.ends_before(Instant::now() + PATIENCE));
    while sim.connections(bybit) > 0 {
        assert!(
            Instant::now() < deadline,
            "dropped connections never unregistered"
        );
        std::thread::yield_now();
    }
    // Gate is untouched by the Bybit fault; stop() ends it and joins every thread.
    g.send(r#"{"time":1,"channel":"spot.ping"}"#);
    let pong = g.next_text(Instant::now() + PATIENCE).unwrap();
    assert!(pong.contains("\"channel\":\"spot.pong\""), "{pong}");
    sim.stop();
    assert!(g.ends_before(Instant::now() + PATIENCE));
    assert_eq!(sim.connections(gate), 0);
}

//! A feed group against a local websocket venue (TLS with a private root, and plain ws://):
//! subscribe, events in order, protocol ping → pong with the same payload, fragmented and split
//! frames, drops and close frames → FeedReset, reconnect, reset + resubscribe, REST snapshots
//! applied after each reconnect, app heartbeats, the silence watchdog, the maximum connection age,
//! an unreachable REST endpoint, and shutdown.
//!
//! The venue logic here is a test double (`ScriptSession`, a tiny text protocol) so these tests
//! exercise only the transport; `transport_venues.rs` runs the real venue sessions.

mod transport_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carry_engine::{
    Exchange, Funding, InstrumentId, Market, MarketEvent, MarketEventKind, Quote, Universe, Venue,
};
use carry_feeds::feed::group::{FeedGroup, FeedGroupConfig};
use carry_feeds::feed::queue::{bounded, Consumer};
use carry_feeds::feed::snapshot::{SnapshotError, SnapshotSource, StaticSnapshots};
use carry_feeds::transport::backoff::BackoffConfig;
use carry_feeds::transport::connection::ConnectionOptions;
use carry_feeds::transport::stats::DisconnectReason;
use carry_feeds::venue::market_rest::RestError;
use carry_feeds::{
    DropReason, Heartbeat, Inbound, InstrumentSnapshot, RecvStamp, VenueSession, VenueSnapshot,
    WsSession,
};
use rust_decimal::Decimal;
use transport_support::{next_item, test_pki, wait_until, WsServer};

const SUBSCRIBE: &str = r#"{"op":"subscribe","args":["test"]}"#;

fn venue() -> Venue {
    Venue::new(Exchange::Okx, Market::Perp)
}

#[derive(Default)]
struct Shared {
    resets: AtomicUsize,
    snapshots: AtomicUsize,
    recv_stamps: Mutex<Vec<RecvStamp>>,
}

/// Text protocol: `Q <ins> <seq>` quote, `F <ins> <seq>` funding, `ack`, `pong`, `notice`
/// (venue asks for a reconnect); anything else is malformed. `seq` goes to `ts_ms`.
struct ScriptSession {
    url: String,
    heartbeat: Option<Heartbeat>,
    max_age: Option<Duration>,
    shared: Arc<Shared>,
}

impl WsSession for ScriptSession {
    type Output = MarketEvent;

    fn venue(&self) -> Venue {
        venue()
    }
    fn url(&self) -> &str {
        &self.url
    }
    fn on_connect(&mut self, _now_unix_ms: i64) -> Vec<String> {
        vec![SUBSCRIBE.to_string()]
    }
    fn heartbeat(&self) -> Option<Heartbeat> {
        self.heartbeat.clone()
    }
    fn max_connection_age(&self) -> Option<Duration> {
        self.max_age
    }
    fn on_text(
        &mut self,
        frame: &mut [u8],
        recv: RecvStamp,
        sink: &mut dyn FnMut(MarketEvent),
    ) -> Result<Inbound, DropReason> {
        let text = std::str::from_utf8(frame).map_err(|_| DropReason::Malformed)?;
        self.shared.recv_stamps.lock().unwrap().push(recv);
        let parts: Vec<&str> = text.split(' ').collect();
        match parts.as_slice() {
            ["ack"] => Ok(Inbound::SubscribeAck),
            ["pong"] => Ok(Inbound::Control),
            ["notice"] => Ok(Inbound::ReconnectRequested),
            [kind @ ("Q" | "F"), ins, seq] => {
                let ins: u16 = ins.parse().map_err(|_| DropReason::BadNumber)?;
                let seq: i64 = seq.parse().map_err(|_| DropReason::BadNumber)?;
                let kind = if *kind == "Q" {
                    MarketEventKind::Quote(Quote {
                        bid: Decimal::from(seq),
                        bid_qty: Decimal::ONE,
                        ask: Decimal::from(seq + 1),
                        ask_qty: Decimal::ONE,
                    })
                } else {
                    MarketEventKind::Funding(funding(seq))
                };
                sink(MarketEvent {
                    venue: venue(),
                    instrument: InstrumentId(ins),
                    ts_ms: seq,
                    recv_ns: recv.mono_ns,
                    kind,
                });
                Ok(Inbound::Data(1))
            }
            _ => Err(DropReason::Malformed),
        }
    }
    fn reset(&mut self) {
        self.shared.resets.fetch_add(1, Ordering::SeqCst);
    }
}

impl VenueSession for ScriptSession {
    fn apply_snapshot(&mut self, _snapshot: &VenueSnapshot) {
        self.shared.snapshots.fetch_add(1, Ordering::SeqCst);
    }
}

fn funding(seq: i64) -> Funding {
    Funding {
        rate: Decimal::new(seq, 6),
        predicted_rate: None,
        next_funding_time_ms: 0,
        interval_ms: Some(8 * 3_600_000),
        mark_price: None,
        index_price: None,
    }
}

/// The REST snapshot's funding event is recognisable by its `ts_ms`.
const SNAPSHOT_TS: i64 = 777_000;

fn snapshot() -> VenueSnapshot {
    VenueSnapshot {
        venue: Some(venue()),
        instruments: vec![InstrumentSnapshot {
            instrument: InstrumentId(0),
            funding: Some(MarketEvent {
                venue: venue(),
                instrument: InstrumentId(0),
                ts_ms: SNAPSHOT_TS,
                recv_ns: 1,
                kind: MarketEventKind::Funding(funding(5)),
            }),
            interval_ms: Some(8 * 3_600_000),
            spec: None,
        }],
    }
}

fn fast_backoff() -> BackoffConfig {
    BackoffConfig {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(200),
        multiplier: 2,
        jitter_percent: 20,
        stable_after: Duration::from_secs(60),
    }
}

/// What the queue said, simplified: (kind, instrument, ts_ms).
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Quote(u16, i64),
    Funding(u16, i64),
    Reset,
    Snapshot,
}

fn got(rx: &mut Consumer) -> Got {
    let item = next_item(rx);
    assert!(item.enqueued_ns >= item.parsed_ns);
    let e = item.event;
    assert_eq!(e.venue, venue());
    match e.kind {
        MarketEventKind::FeedReset => Got::Reset,
        MarketEventKind::Funding(_) if e.ts_ms == SNAPSHOT_TS => Got::Snapshot,
        MarketEventKind::Funding(_) => Got::Funding(e.instrument.0, e.ts_ms),
        MarketEventKind::Quote(_) => Got::Quote(e.instrument.0, e.ts_ms),
    }
}

/// Next websocket event, setting aside REST snapshot events (they arrive whenever the fetch
/// completes, interleaved with websocket events). Returns the event and counts snapshots.
fn got_ws(rx: &mut Consumer, snapshots_seen: &mut usize) -> Got {
    loop {
        match got(rx) {
            Got::Snapshot => *snapshots_seen += 1,
            other => return other,
        }
    }
}

#[test]
fn tls_feed_lives_through_drops_closes_and_notices() {
    let pki = test_pki("life");
    let server = WsServer::start(Some(pki.server.clone()));
    let tls = carry_feeds::transport::tls::client_config(Some(&pki.root_pem)).unwrap();
    let shared = Arc::new(Shared::default());
    let session = ScriptSession {
        url: server.url(true, "/ws/v5/public"),
        heartbeat: None,
        max_age: None,
        shared: shared.clone(),
    };
    let mut config = FeedGroupConfig::new(
        "life",
        vec![Box::new(session)],
        Arc::new(Universe::new()),
        tls,
        Arc::new(StaticSnapshots::new().with(venue(), snapshot())),
    );
    config.rest = vec![(venue(), "https://rest.invalid".to_string())];
    config.backoff = fast_backoff();
    let (producer, mut rx) = bounded(1024);
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = FeedGroup::spawn(config, producer, shutdown.clone()).unwrap();
    let mut snaps = 0usize;

    // Connection 1: subscribe, data in order, ping/pong, fragments, split frames, a drop.
    let mut c1 = server.accept();
    assert_eq!(c1.path, "/ws/v5/public");
    assert_eq!(c1.recv_text(), SUBSCRIBE);
    c1.send_text("ack");
    c1.send_text("F 0 1");
    c1.send_text("Q 0 2");
    c1.send_text("Q 1 3");
    c1.send_text("garbage");
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Funding(0, 1));
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Quote(0, 2));
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Quote(1, 3));
    assert_eq!(
        c1.ping(b"binance-ping-1700000000"),
        b"binance-ping-1700000000"
    );
    assert_eq!(c1.ping(b""), b"");
    c1.send_fragmented(&["Q 0", " 4"]);
    c1.send_text_split("F 1 5", 1);
    c1.send_text("Q 0 6");
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Quote(0, 4));
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Funding(1, 5));
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Quote(0, 6));
    assert_eq!(shared.resets.load(Ordering::SeqCst), 1);
    c1.drop_tcp();

    // The drop: a reset, then connection 2 resubscribes after session.reset().
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Reset);
    let mut c2 = server.accept();
    assert_eq!(c2.recv_text(), SUBSCRIBE);
    assert_eq!(shared.resets.load(Ordering::SeqCst), 2);
    c2.send_text("F 0 10");
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Funding(0, 10));
    assert_eq!(c2.ping(b"after-reconnect"), b"after-reconnect");

    // A close frame from the venue is echoed; connection 3 follows.
    assert_eq!(c2.close(1000), Some(1000));
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Reset);
    let mut c3 = server.accept();
    assert_eq!(c3.recv_text(), SUBSCRIBE);

    // A venue notice: the client leaves with "going away" and comes back at once.
    c3.send_text("notice");
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Reset);
    assert_eq!(c3.expect_client_close(), Some(1001));
    let mut c4 = server.accept();
    assert_eq!(c4.recv_text(), SUBSCRIBE);
    c4.send_text("Q 0 20");
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Quote(0, 20));

    // One snapshot at start and one per reconnect (3), each applied and its funding queued.
    let stats = handle.stats();
    wait_until("4 REST snapshots", || {
        stats.snapshot().rest[0].ok == 4 && shared.snapshots.load(Ordering::SeqCst) == 4
    });
    wait_until("4 snapshot funding events", || {
        while let Some(item) = rx.pop() {
            assert_eq!(item.event.ts_ms, SNAPSHOT_TS, "unexpected {:?}", item.event);
            snaps += 1;
        }
        snaps == 4
    });

    shutdown.store(true, Ordering::SeqCst);
    handle.wake();
    assert_eq!(c4.expect_client_close(), Some(1001));
    handle.join().unwrap();

    let s = stats.snapshot();
    let c = &s.connections[0];
    assert_eq!(c.connects, 4);
    assert_eq!(c.disconnects_for(DisconnectReason::ClosedByVenue), 2);
    assert_eq!(c.disconnects_for(DisconnectReason::VenueNotice), 1);
    assert_eq!(c.disconnects_for(DisconnectReason::Shutdown), 1);
    assert_eq!(c.total_disconnects(), 4);
    assert_eq!(c.pings, 3);
    assert_eq!(c.subscribe_acks, 1);
    assert_eq!(c.drops_for(DropReason::Malformed), 1);
    assert_eq!(c.events, 8);
    assert!(!c.up);
    assert!(c.bytes > 0 && c.frames >= 13);
    assert_eq!(s.rest[0].failures, 0);
    // Every receive stamp is a real monotonic time.
    let stamps = shared.recv_stamps.lock().unwrap();
    assert!(stamps
        .iter()
        .all(|r| r.mono_ns > 0 && r.unix_ms > 1_600_000_000_000));
}

#[test]
fn heartbeats_and_the_watchdog_reconnect_plain_ws() {
    let server = WsServer::start(None);
    let shared = Arc::new(Shared::default());
    let session = ScriptSession {
        url: server.url(false, "/v5/public/linear"),
        heartbeat: Some(Heartbeat {
            every: Duration::from_millis(50),
            text: r#"{"op":"ping"}"#.to_string(),
        }),
        max_age: None,
        shared: shared.clone(),
    };
    let mut config = FeedGroupConfig::new(
        "watchdog",
        vec![Box::new(session)],
        Arc::new(Universe::new()),
        carry_feeds::transport::tls::client_config(None).unwrap(),
        Arc::new(StaticSnapshots::new()),
    );
    config.backoff = fast_backoff();
    config.connection = ConnectionOptions {
        silence_timeout: Duration::from_millis(400),
        ..ConnectionOptions::default()
    };
    let (producer, mut rx) = bounded(64);
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = FeedGroup::spawn(config, producer, shutdown.clone()).unwrap();

    let mut c1 = server.accept();
    assert_eq!(c1.recv_text(), SUBSCRIBE);
    // The client heartbeats on its own; the venue answers nothing, so the watchdog fires.
    assert_eq!(c1.recv_text(), r#"{"op":"ping"}"#);
    assert_eq!(c1.recv_text(), r#"{"op":"ping"}"#);
    let mut snaps = 0;
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Reset);
    let mut c2 = server.accept();
    assert_eq!(c2.recv_text(), SUBSCRIBE);
    c2.send_text("Q 3 1");
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Quote(3, 1));
    assert_eq!(snaps, 0, "no REST configured, no snapshot events");

    shutdown.store(true, Ordering::SeqCst);
    handle.wake();
    let stats = handle.stats();
    handle.join().unwrap();
    let c = &stats.snapshot().connections[0];
    assert!(c.disconnects_for(DisconnectReason::Watchdog) >= 1);
    assert!(c.heartbeats_sent >= 2);
    drop(c1);
    drop(c2);
}

#[test]
fn max_connection_age_reconnects_before_the_venue_does() {
    let server = WsServer::start(None);
    let shared = Arc::new(Shared::default());
    let session = ScriptSession {
        url: server.url(false, "/ws"),
        heartbeat: None,
        // With the default 5 min margin capped at half the age, this reconnects after 150 ms.
        max_age: Some(Duration::from_millis(300)),
        shared: shared.clone(),
    };
    let mut config = FeedGroupConfig::new(
        "age",
        vec![Box::new(session)],
        Arc::new(Universe::new()),
        carry_feeds::transport::tls::client_config(None).unwrap(),
        Arc::new(StaticSnapshots::new()),
    );
    config.backoff = fast_backoff();
    let (producer, mut rx) = bounded(64);
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = FeedGroup::spawn(config, producer, shutdown.clone()).unwrap();

    let mut c1 = server.accept();
    assert_eq!(c1.recv_text(), SUBSCRIBE);
    let mut snaps = 0;
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Reset);
    assert_eq!(c1.expect_client_close(), Some(1001));
    let mut c2 = server.accept();
    assert_eq!(c2.recv_text(), SUBSCRIBE);
    shutdown.store(true, Ordering::SeqCst);
    handle.wake();
    let stats = handle.stats();
    handle.join().unwrap();
    let c = &stats.snapshot().connections[0];
    assert!(c.disconnects_for(DisconnectReason::MaxAge) >= 1);
    assert_eq!(c.disconnects_for(DisconnectReason::Watchdog), 0);
}

/// Fails the first `fail` fetches, then serves the snapshot.
struct FlakyRest {
    fail: usize,
    calls: AtomicUsize,
}

impl SnapshotSource for FlakyRest {
    fn fetch(
        &self,
        venue: Venue,
        rest_url: &str,
        _universe: &Universe,
        _recv: RecvStamp,
    ) -> Result<VenueSnapshot, SnapshotError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.fail {
            Err(SnapshotError::Rest(RestError::Transport {
                venue,
                path: format!("{rest_url}/funding"),
                reason: "connection refused".into(),
            }))
        } else {
            Ok(snapshot())
        }
    }
}

#[test]
fn unreachable_rest_is_retried_while_the_websocket_runs() {
    let server = WsServer::start(None);
    let shared = Arc::new(Shared::default());
    let session = ScriptSession {
        url: server.url(false, "/ws"),
        heartbeat: None,
        max_age: None,
        shared: shared.clone(),
    };
    let rest = Arc::new(FlakyRest {
        fail: 3,
        calls: AtomicUsize::new(0),
    });
    let mut config = FeedGroupConfig::new(
        "rest",
        vec![Box::new(session)],
        Arc::new(Universe::new()),
        carry_feeds::transport::tls::client_config(None).unwrap(),
        rest.clone(),
    );
    config.rest = vec![(venue(), "http://127.0.0.1:9/".to_string())];
    config.rest_backoff = fast_backoff();
    let (producer, mut rx) = bounded(64);
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = FeedGroup::spawn(config, producer, shutdown.clone()).unwrap();

    let mut c1 = server.accept();
    assert_eq!(c1.recv_text(), SUBSCRIBE);
    c1.send_text("Q 0 1");
    let mut snaps = 0;
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Quote(0, 1));
    // The snapshot arrives once REST recovers.
    while snaps == 0 {
        if let Got::Snapshot = got(&mut rx) {
            snaps += 1;
        }
    }
    let stats = handle.stats();
    let s = stats.snapshot();
    assert_eq!(s.rest[0].failures, 3);
    assert_eq!(s.rest[0].ok, 1);
    assert_eq!(rest.calls.load(Ordering::SeqCst), 4);
    assert_eq!(shared.snapshots.load(Ordering::SeqCst), 1);
    assert_eq!(s.connections[0].total_disconnects(), 0);
    shutdown.store(true, Ordering::SeqCst);
    handle.wake();
    handle.join().unwrap();
}

#[test]
fn refused_connections_back_off_and_are_counted() {
    // A port with nothing listening: bind, read the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let shared = Arc::new(Shared::default());
    let session = ScriptSession {
        url: format!("ws://127.0.0.1:{port}/ws"),
        heartbeat: None,
        max_age: None,
        shared,
    };
    let mut config = FeedGroupConfig::new(
        "refused",
        vec![Box::new(session)],
        Arc::new(Universe::new()),
        carry_feeds::transport::tls::client_config(None).unwrap(),
        Arc::new(StaticSnapshots::new()),
    );
    config.backoff = fast_backoff();
    let (producer, rx) = bounded(64);
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = FeedGroup::spawn(config, producer, shutdown.clone()).unwrap();
    let stats = handle.stats();
    wait_until("3 refused connects", || {
        stats.snapshot().connections[0].disconnects_for(DisconnectReason::ConnectFailed) >= 3
    });
    shutdown.store(true, Ordering::SeqCst);
    handle.wake();
    handle.join().unwrap();
    let c = &stats.snapshot().connections[0];
    assert_eq!(c.connects, 0);
    assert!(c.connect_attempts >= 3);
    // Never connected, so never reset: the engine saw no FeedReset.
    assert!(rx.is_empty());
}

#[test]
fn untrusted_certificate_is_a_tls_error() {
    let pki = test_pki("untrusted");
    let server = WsServer::start(Some(pki.server.clone()));
    let shared = Arc::new(Shared::default());
    let session = ScriptSession {
        url: server.url(true, "/ws"),
        heartbeat: None,
        max_age: None,
        shared,
    };
    // The client trusts only the webpki roots, not the test root.
    let mut config = FeedGroupConfig::new(
        "untrusted",
        vec![Box::new(session)],
        Arc::new(Universe::new()),
        carry_feeds::transport::tls::client_config(None).unwrap(),
        Arc::new(StaticSnapshots::new()),
    );
    config.backoff = fast_backoff();
    let (producer, _rx) = bounded(64);
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = FeedGroup::spawn(config, producer, shutdown.clone()).unwrap();
    let stats = handle.stats();
    wait_until("a TLS failure", || {
        stats.snapshot().connections[0].disconnects_for(DisconnectReason::TlsError) >= 1
    });
    shutdown.store(true, Ordering::SeqCst);
    handle.wake();
    handle.join().unwrap();
    assert_eq!(stats.snapshot().connections[0].connects, 0);
}

#[test]
fn host_names_are_resolved_and_verified_by_name() {
    let pki = test_pki("dns");
    let server = WsServer::start(Some(pki.server.clone()));
    let shared = Arc::new(Shared::default());
    let session = ScriptSession {
        // A name, not an IP: resolved on a helper thread, and the certificate is checked for it.
        url: format!("wss://localhost:{}/ws", server.port),
        heartbeat: None,
        max_age: None,
        shared,
    };
    let mut config = FeedGroupConfig::new(
        "dns",
        vec![Box::new(session)],
        Arc::new(Universe::new()),
        carry_feeds::transport::tls::client_config(Some(&pki.root_pem)).unwrap(),
        Arc::new(StaticSnapshots::new()),
    );
    config.backoff = fast_backoff();
    let (producer, mut rx) = bounded(64);
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = FeedGroup::spawn(config, producer, shutdown.clone()).unwrap();
    // localhost may resolve to ::1 first, where nothing listens: the next attempt rotates to
    // the next address.
    let mut c = server.accept();
    assert_eq!(c.recv_text(), SUBSCRIBE);
    c.send_text("Q 0 1");
    let mut snaps = 0;
    assert_eq!(got_ws(&mut rx, &mut snaps), Got::Quote(0, 1));
    shutdown.store(true, Ordering::SeqCst);
    handle.wake();
    let stats = handle.stats();
    handle.join().unwrap();
    assert_eq!(stats.snapshot().connections[0].connects, 1);
}

#[test]
fn slow_engine_gets_conflated_quotes_but_every_funding() {
    let server = WsServer::start(None);
    let shared = Arc::new(Shared::default());
    let session = ScriptSession {
        url: server.url(false, "/ws"),
        heartbeat: None,
        max_age: None,
        shared,
    };
    let config = FeedGroupConfig::new(
        "slow-engine",
        vec![Box::new(session)],
        Arc::new(Universe::new()),
        carry_feeds::transport::tls::client_config(None).unwrap(),
        Arc::new(StaticSnapshots::new()),
    );
    // Two slots: the engine is "slow" because the test does not read until the feed is stuck.
    let (producer, mut rx) = bounded(2);
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = FeedGroup::spawn(config, producer, shutdown.clone()).unwrap();
    let stats = handle.stats();

    let mut c = server.accept();
    assert_eq!(c.recv_text(), SUBSCRIBE);
    for seq in 1..=100 {
        c.send_text(&format!("Q {} {seq}", (seq + 1) % 2));
    }
    c.send_text("F 0 101");
    c.send_text("Q 0 102");
    c.send_text("Q 1 103");
    // The funding update cannot be dropped: the feed thread waits for the engine.
    wait_until("the feed to wait for queue space", || {
        stats.snapshot().queue.backpressure_waits == 1
    });
    let mut snaps = 0;
    let got: Vec<Got> = (0..7).map(|_| got_ws(&mut rx, &mut snaps)).collect();
    assert_eq!(
        got,
        vec![
            Got::Quote(0, 1),
            Got::Quote(1, 2),
            // The latest quote of each instrument before the funding update, in the order the
            // instruments were first held back.
            Got::Quote(0, 99),
            Got::Quote(1, 100),
            Got::Funding(0, 101),
            Got::Quote(0, 102),
            Got::Quote(1, 103),
        ]
    );
    let q = stats.snapshot().queue;
    assert_eq!(q.conflated, 96, "quotes 3..=98 were replaced by later ones");
    assert_eq!(q.backpressure_waits, 1);
    shutdown.store(true, Ordering::SeqCst);
    handle.wake();
    handle.join().unwrap();
    assert!(rx.is_empty());
}

#[test]
fn shutdown_stops_a_feed_stuck_on_a_full_queue() {
    let server = WsServer::start(None);
    let session = ScriptSession {
        url: server.url(false, "/ws"),
        heartbeat: None,
        max_age: None,
        shared: Arc::new(Shared::default()),
    };
    let config = FeedGroupConfig::new(
        "stuck",
        vec![Box::new(session)],
        Arc::new(Universe::new()),
        carry_feeds::transport::tls::client_config(None).unwrap(),
        Arc::new(StaticSnapshots::new()),
    );
    let (producer, rx) = bounded(2);
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = FeedGroup::spawn(config, producer, shutdown.clone()).unwrap();
    let stats = handle.stats();
    let mut c = server.accept();
    assert_eq!(c.recv_text(), SUBSCRIBE);
    for seq in 1..=3 {
        c.send_text(&format!("F 0 {seq}"));
    }
    wait_until("the feed to wait for queue space", || {
        stats.snapshot().queue.backpressure_waits == 1
    });
    shutdown.store(true, Ordering::SeqCst);
    handle.join().unwrap();
    assert_eq!(rx.len(), 2, "the two funding updates that fit");
}

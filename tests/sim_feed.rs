//! The demo's data path end to end, minus the engine: carry's real feed thread (transport,
//! venue sessions, REST snapshots, queue) for all ten venues against the simulator. Every venue
//! delivers quotes (and perps funding) with no frame dropped, and a dropped connection comes
//! back: `FeedReset`, reconnect, resubscribe, data again.

mod sim_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use carry::sim::SimVenues;
use carry_engine::{MarketEventKind, Venue};
use carry_feeds::feed::group::{FeedGroup, FeedGroupConfig};
use carry_feeds::feed::queue::Consumer;
use carry_feeds::feed::snapshot::RestSnapshots;
use sim_support::*;

/// Pops until `done` says so, failing after a generous bound.
fn drain_until(
    consumer: &mut Consumer,
    what: &str,
    mut done: impl FnMut(&carry_engine::MarketEvent) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match consumer.pop() {
            Some(item) => {
                if done(&item.event) {
                    return;
                }
            }
            None => {
                assert!(Instant::now() < deadline, "timed out waiting for {what}");
                std::thread::yield_now();
            }
        }
    }
}

#[test]
fn carrys_feed_group_runs_on_the_simulator_and_survives_a_drop() {
    let sim = SimVenues::start(fast_config(&["BTC-USDT", "ETH-USDT"])).unwrap();
    let u = universe(&sim);
    let mut sessions = Vec::new();
    for venue in Venue::ALL {
        sessions.extend(carry_feeds::venue::market_ws::sessions(
            venue,
            &sim.ws_url(venue),
            Arc::clone(&u),
        ));
    }
    let tls = carry_feeds::transport::tls::client_config(None).unwrap();
    let snapshots = Arc::new(RestSnapshots::with_timeout(Duration::from_secs(5)));
    let mut config = FeedGroupConfig::new("sim", sessions, Arc::clone(&u), tls, snapshots);
    config.rest = Venue::ALL.iter().map(|&v| (v, sim.rest_url(v))).collect();
    let (producer, mut consumer) = carry_feeds::feed::queue::bounded(4096);
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = FeedGroup::spawn(config, producer, Arc::clone(&shutdown)).unwrap();

    // Every venue: quotes for both instruments, and funding for both on perps.
    let mut missing: BTreeSet<(Venue, u16, bool)> = BTreeSet::new();
    for venue in Venue::ALL {
        for i in 0..2u16 {
            missing.insert((venue, i, false));
            if venue.is_perp() {
                missing.insert((venue, i, true));
            }
        }
    }
    drain_until(&mut consumer, "every venue's quotes and funding", |e| {
        let is_funding = match e.kind {
            MarketEventKind::Funding(_) => true,
            MarketEventKind::Quote(_) => false,
            MarketEventKind::FeedReset => panic!("unexpected reset: {e:?}"),
        };
        missing.remove(&(e.venue, e.instrument.0, is_funding));
        missing.is_empty()
    });

    let stats = handle.stats().snapshot();
    for c in &stats.connections {
        assert_eq!(
            c.total_drops(),
            0,
            "{} {}: carry dropped frames: {:?}",
            c.venue,
            c.url,
            c.drops
        );
        assert!(c.up && c.events > 0, "{c:?}");
    }
    // REST snapshots run on helper threads, and a venue whose quotes need nothing from REST
    // (Binance) can stream everything before its snapshot lands: wait for it, bounded.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let rest = loop {
        let rest = handle.stats().snapshot().rest;
        if rest.iter().all(|r| r.ok >= 1) || std::time::Instant::now() > deadline {
            break rest;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for r in &rest {
        assert!(r.ok >= 1 && r.failures == 0, "{r:?}");
    }

    // A network drop on one venue: carry resets that venue, reconnects and streams again.
    let okx: Venue = "okx-perp".parse().unwrap();
    assert_eq!(sim.drop_connections(okx), 1);
    drain_until(&mut consumer, "okx-perp feed reset", |e| {
        e.venue == okx && e.kind == MarketEventKind::FeedReset
    });
    drain_until(&mut consumer, "okx-perp quotes after reconnect", |e| {
        e.venue == okx && matches!(e.kind, MarketEventKind::Quote(_))
    });
    let okx_conn = handle
        .stats()
        .snapshot()
        .connections
        .into_iter()
        .find(|c| c.venue == okx)
        .unwrap();
    assert!(okx_conn.connects >= 2, "{okx_conn:?}");

    shutdown.store(true, Ordering::Release);
    handle.wake();
    handle.join().unwrap();
}

//! Feed group counters the admin socket exposes: each connection's [`ConnectionStats`], per
//! venue REST snapshot outcomes, and the queue's conflation and backpressure counts.
//!
//! As for the connection counters, every counter has one writer, the feed thread that owns it;
//! any thread may read at any time with [`GroupStats::snapshot`].

use std::sync::Arc;

use carry_engine::Venue;

use crate::feed::queue::{QueueCounters, QueueSnapshot};
use crate::transport::session::DropReason;
use crate::transport::stats::{ConnectionSnapshot, ConnectionStats, Counter, DisconnectReason};

/// REST snapshot outcomes of one venue.
#[derive(Debug)]
#[repr(align(128))]
pub struct RestStats {
    /// The venue.
    pub venue: Venue,
    /// Snapshots fetched and applied.
    pub ok: Counter,
    /// Fetches that failed.
    pub failures: Counter,
    /// Unix ms of the last applied snapshot (0 = none yet).
    pub last_ok_unix_ms: Counter,
}

impl RestStats {
    /// Zeroed counters for `venue`.
    pub fn new(venue: Venue) -> RestStats {
        RestStats {
            venue,
            ok: Counter::default(),
            failures: Counter::default(),
            last_ok_unix_ms: Counter::default(),
        }
    }
}

/// All counters of one feed group (one thread). Shared as `Arc<GroupStats>`.
#[derive(Debug)]
pub struct GroupStats {
    /// The group's name.
    pub name: String,
    /// Each connection's counters.
    pub connections: Vec<Arc<ConnectionStats>>,
    /// Each venue's REST snapshot counters.
    pub rest: Vec<Arc<RestStats>>,
    /// The queue's overload counters.
    pub queue: Arc<QueueCounters>,
    /// The core the thread asked for, and whether pinning succeeded (1) or failed (0).
    pub core: Option<usize>,
    /// 1 if the thread is pinned to `core`, else 0.
    pub pinned: Counter,
}

impl GroupStats {
    /// A copy of every counter (not an atomic cut across them).
    pub fn snapshot(&self) -> GroupSnapshot {
        GroupSnapshot {
            name: self.name.clone(),
            core: self.core,
            pinned: self.pinned.get() != 0,
            connections: self.connections.iter().map(|c| c.snapshot()).collect(),
            rest: self
                .rest
                .iter()
                .map(|r| RestSnapshot {
                    venue: r.venue,
                    ok: r.ok.get(),
                    failures: r.failures.get(),
                    last_ok_unix_ms: r.last_ok_unix_ms.get() as i64,
                })
                .collect(),
            queue: self.queue.snapshot(),
        }
    }
}

/// A copy of one venue's REST counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestSnapshot {
    /// The venue.
    pub venue: Venue,
    /// Snapshots fetched and applied.
    pub ok: u64,
    /// Fetches that failed.
    pub failures: u64,
    /// Unix ms of the last applied snapshot (0 = none yet).
    pub last_ok_unix_ms: i64,
}

/// A copy of a whole group's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The group's name.
    pub name: String,
    /// The core the thread asked for.
    pub core: Option<usize>,
    /// Whether pinning to it succeeded.
    pub pinned: bool,
    /// Each connection's counters.
    pub connections: Vec<ConnectionSnapshot>,
    /// Each venue's REST counters.
    pub rest: Vec<RestSnapshot>,
    /// The queue's counters.
    pub queue: QueueSnapshot,
}

/// One venue's totals over its connections in a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueTotals {
    /// The venue.
    pub venue: Venue,
    /// Its connections in the group.
    pub connections: usize,
    /// Of them, open now.
    pub connections_up: usize,
    /// Websocket opens, over all its connections.
    pub connects: u64,
    /// Disconnects by reason.
    pub disconnects: [(DisconnectReason, u64); DisconnectReason::COUNT],
    /// Websocket frames received.
    pub frames: u64,
    /// Text messages handed to the sessions.
    pub messages: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Events produced.
    pub events: u64,
    /// Frames dropped, by reason.
    pub drops: [(DropReason, u64); DropReason::ALL.len()],
    /// REST snapshots applied.
    pub rest_ok: u64,
    /// REST snapshots failed.
    pub rest_failures: u64,
}

impl GroupSnapshot {
    /// Sums connections per venue, in venue index order: one row per venue even where the venue
    /// takes several connections (Binance perp: `/market` and `/public`).
    pub fn by_venue(&self) -> Vec<VenueTotals> {
        let mut out: Vec<VenueTotals> = Vec::new();
        let venues = self
            .connections
            .iter()
            .map(|c| c.venue)
            .chain(self.rest.iter().map(|r| r.venue));
        for venue in venues {
            if out.iter().any(|t| t.venue == venue) {
                continue;
            }
            let mut t = VenueTotals {
                venue,
                connections: 0,
                connections_up: 0,
                connects: 0,
                disconnects: DisconnectReason::ALL.map(|r| (r, 0)),
                frames: 0,
                messages: 0,
                bytes: 0,
                events: 0,
                drops: DropReason::ALL.map(|r| (r, 0)),
                rest_ok: 0,
                rest_failures: 0,
            };
            for c in self.connections.iter().filter(|c| c.venue == venue) {
                t.connections += 1;
                t.connections_up += usize::from(c.up);
                t.connects += c.connects;
                for (slot, (_, n)) in t.disconnects.iter_mut().zip(c.disconnects.iter()) {
                    slot.1 += n;
                }
                t.frames += c.frames;
                t.messages += c.messages;
                t.bytes += c.bytes;
                t.events += c.events;
                for (slot, (_, n)) in t.drops.iter_mut().zip(c.drops.iter()) {
                    slot.1 += n;
                }
            }
            for r in self.rest.iter().filter(|r| r.venue == venue) {
                t.rest_ok += r.ok;
                t.rest_failures += r.failures;
            }
            out.push(t);
        }
        out.sort_by_key(|t| t.venue.index());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carry_engine::{Exchange, Market};

    #[test]
    fn snapshot_and_per_venue_totals() {
        let bn = Venue::new(Exchange::Binance, Market::Perp);
        let okx = Venue::new(Exchange::Okx, Market::Spot);
        let a = ConnectionStats::new(bn, "wss://a");
        let b = ConnectionStats::new(bn, "wss://b");
        let c = ConnectionStats::new(okx, "wss://c");
        a.frames.add(10);
        b.frames.add(5);
        a.messages.add(4);
        b.messages.add(2);
        a.disconnect(DisconnectReason::Watchdog).incr();
        b.disconnect(DisconnectReason::Watchdog).incr();
        b.disconnect(DisconnectReason::MaxAge).incr();
        a.drops(DropReason::BadNumber).add(3);
        b.up.set(1);
        c.events.add(7);
        let rest = RestStats::new(bn);
        rest.failures.incr();
        let group = GroupStats {
            name: "g".into(),
            connections: vec![Arc::new(a), Arc::new(b), Arc::new(c)],
            rest: vec![Arc::new(rest)],
            queue: Arc::new(QueueCounters::default()),
            core: None,
            pinned: Counter::default(),
        };
        let snap = group.snapshot();
        assert_eq!(
            snap.connections[1].disconnects_for(DisconnectReason::MaxAge),
            1
        );
        assert_eq!(snap.connections[1].total_disconnects(), 2);
        let totals = snap.by_venue();
        assert_eq!(totals.len(), 2);
        assert_eq!(totals[0].venue, bn);
        assert_eq!(totals[0].frames, 15);
        assert_eq!(totals[0].messages, 6);
        assert_eq!(totals[0].connections, 2);
        assert_eq!(totals[0].connections_up, 1);
        assert_eq!(totals[0].rest_failures, 1);
        assert_eq!(
            totals[0]
                .disconnects
                .iter()
                .find(|(r, _)| *r == DisconnectReason::Watchdog)
                .unwrap()
                .1,
            2
        );
        assert_eq!(totals[0].drops.iter().map(|d| d.1).sum::<u64>(), 3);
        assert_eq!(totals[1].events, 7);
    }
}

//! What the engine thread shows the admin side, a few times a second: the [`Snapshot`] filled
//! from the engine's views (status, spreads, positions, breakers, cycles) and the metrics (the
//! engine's counters, each venue's feed counters summed over its connections, quotes the queues
//! conflated). The engine thread calls [`fill`] on its timer, never per event; everything is
//! written into the snapshot's reused rows and read straight from the atomics, so a publication
//! allocates nothing once the snapshot pool has warmed up.

use std::sync::Arc;

use carry_engine::decision::breaker::Scope;
use carry_engine::decision::decider::Decider;
use carry_engine::engine::Engine;
use carry_engine::market::venue::VENUE_COUNT;
use carry_engine::sink::RecordSink;
use carry_engine::{Now, Universe, Venue};
use carry_feeds::feed::stats::GroupStats;
use carry_feeds::transport::stats::{ConnectionStats, DisconnectReason};
use carry_feeds::DropReason;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;

use super::snapshot::{set_str, MetricValue, Mode, Snapshot};

/// Everything one publication reads, borrowed from the engine thread.
pub struct EngineView<'a, S: RecordSink> {
    /// The engine, its decider's gauges refreshed for `now`.
    pub engine: &'a Engine<Decider, S>,
    /// Instrument names for the rows.
    pub universe: &'a Universe,
    /// The feed groups' counters.
    pub feed_stats: &'a [Arc<GroupStats>],
    /// The instance name.
    pub instance: &'a str,
    /// How carry runs (live, paper, demo).
    pub mode: Mode,
    /// The sequence number of the last journaled record (0 for none).
    pub journal_seq: u64,
    /// Seconds since the engine thread started.
    pub uptime_s: u64,
    /// Market events per second, from [`EventRate`].
    pub events_per_s: f64,
    /// The time of this publication.
    pub now: Now,
}

/// Overwrites the snapshot's status and appends every row and metric.
pub fn fill<S: RecordSink>(s: &mut Snapshot, v: &EngineView<'_, S>) {
    status(s, v);
    spreads(s, v);
    positions(s, v);
    breakers(s, v);
    cycles(s, v);
    engine_metrics(s, v);
    feed_metrics(s, v.feed_stats);
}

fn status<S: RecordSink>(s: &mut Snapshot, v: &EngineView<'_, S>) {
    let c = v.engine.counters();
    set_str(&mut s.status.instance, v.instance);
    s.status.mode = v.mode;
    s.status.uptime_s = v.uptime_s;
    s.status.published_unix_ms = v.now.unix_ms;
    s.status.events = c.market_events;
    s.status.intents = c.intents;
    s.status.fills = c.fills;
    s.status.cycles_completed = c.cycles_completed;
    s.status.events_per_s = v.events_per_s;
    s.status.journal_seq = v.journal_seq;
    s.status.paused = v.engine.decider().breakers().global_entry_block().is_some();
}

fn spreads<S: RecordSink>(s: &mut Snapshot, v: &EngineView<'_, S>) {
    let decider = v.engine.decider();
    for g in &decider.metrics().pairs {
        let Some(pair) = decider.pair(g.pair) else {
            continue;
        };
        let row = s.spreads.push_slot();
        set_str(&mut row.pair, &g.name);
        set_str(&mut row.instrument, &v.universe.get(pair.instrument).name);
        let (long, short) = match g.orientation {
            Some(o) => (o.long, o.short),
            None => (
                pair.venues[0],
                *pair.venues.last().unwrap_or(&pair.venues[0]),
            ),
        };
        row.long_venue = long;
        row.short_venue = short;
        row.long_rate = g.long_rate.and_then(Decimal::from_f64);
        row.short_rate = g.short_rate.and_then(Decimal::from_f64);
        row.spread = g.spread.and_then(Decimal::from_f64);
        row.apr = g.gross_apr.and_then(Decimal::from_f64);
        row.net_apr = g.net_apr.and_then(Decimal::from_f64);
        row.long_stale = decider.monitor().is_stale(long, pair.instrument, v.now);
        row.short_stale = decider.monitor().is_stale(short, pair.instrument, v.now);
    }
}

fn positions<S: RecordSink>(s: &mut Snapshot, v: &EngineView<'_, S>) {
    let (engine, decider) = (v.engine, v.engine.decider());
    for (venue, instrument, pos) in engine.positions().open() {
        let row = s.positions.push_slot();
        row.venue = venue;
        set_str(&mut row.instrument, &v.universe.get(instrument).name);
        row.qty = pos.qty;
        row.entry = pos.entry_price;
        let risk = venue
            .is_perp()
            .then(|| decider.leg_risk(venue, instrument, engine.positions()))
            .flatten();
        row.mark = risk
            .map(|r| r.mark_price)
            .or_else(|| decider.quote(venue, instrument).map(|q| q.mid()));
        row.liq_price = risk.map(|r| r.liquidation_price);
        row.liq_distance = risk.map(|r| r.liquidation_distance);
        row.margin_ratio = risk.and_then(|r| r.margin_ratio);
    }
}

fn breakers<S: RecordSink>(s: &mut Snapshot, v: &EngineView<'_, S>) {
    let decider = v.engine.decider();
    for b in decider.breakers().active() {
        let row = s.breakers.push_slot();
        row.name = b.kind.as_str();
        row.state = b.kind.effect().as_str();
        row.tripped = true;
        row.since_unix_ms = b.since.unix_ms;
        match b.scope {
            Scope::Global => set_str(&mut row.scope, "global"),
            Scope::Venue(v) => set_str(&mut row.scope, v.as_str()),
            Scope::Stream { venue, .. } => set_str(&mut row.scope, venue.as_str()),
            Scope::Pair(p) => set_str(
                &mut row.scope,
                decider.pair(p).map_or("?", |p| p.name.as_str()),
            ),
        }
    }
}

fn cycles<S: RecordSink>(s: &mut Snapshot, v: &EngineView<'_, S>) {
    let decider = v.engine.decider();
    for view in v.engine.pairs() {
        let row = s.cycles.push_slot();
        set_str(
            &mut row.pair,
            decider.pair(view.pair).map_or("?", |p| p.name.as_str()),
        );
        row.state = view.state.as_str();
        row.cycle = view.cycle.map_or(0, u64::from);
        row.since_unix_ms = 0;
    }
}

fn engine_metrics<S: RecordSink>(s: &mut Snapshot, v: &EngineView<'_, S>) {
    let c = v.engine.counters();
    for (name, help, value) in [
        (
            "engine_inputs_total",
            "Inputs the engine journaled and applied",
            c.inputs,
        ),
        (
            "engine_market_events_total",
            "Market events the engine processed",
            c.market_events,
        ),
        (
            "engine_intents_total",
            "Order intents journaled and handed to gateways",
            c.intents,
        ),
        (
            "engine_fills_total",
            "Execution reports carrying a fill",
            c.fills,
        ),
        (
            "engine_rejects_total",
            "Orders the venue rejected",
            c.rejects,
        ),
        (
            "engine_cycles_started_total",
            "Entry cycles started",
            c.cycles_started,
        ),
        (
            "engine_cycles_completed_total",
            "Cycles that went back to flat",
            c.cycles_completed,
        ),
        (
            "engine_unwinds_total",
            "First legs unwound after a failed hedge",
            c.unwinds,
        ),
        (
            "engine_rejected_in_flight_total",
            "Entry triggers refused: a cycle was in flight",
            c.rejected_in_flight,
        ),
        (
            "engine_reused_client_ids_total",
            "Client order ids placed twice (must stay 0)",
            c.reused_ids,
        ),
        (
            "engine_journal_failures_total",
            "Journal appends that failed",
            c.journal_failures,
        ),
    ] {
        s.metrics
            .push_slot()
            .set(name, help, MetricValue::Counter(value));
    }
    s.metrics.push_slot().set(
        "engine_halted",
        "1 when the journal failed and the engine halted",
        MetricValue::Gauge(f64::from(u8::from(v.engine.is_halted()))),
    );
    for g in &v.engine.decider().metrics().pairs {
        if let Some(apr) = g.net_apr {
            s.metrics
                .push_slot()
                .set(
                    "pair_net_apr",
                    "Net APR of the pair's best or held orientation (fraction per year)",
                    MetricValue::Gauge(apr),
                )
                .label("pair", &g.name);
        }
    }
}

/// One series per venue, summed over its connections (Binance perp has two), read straight from
/// the atomics: no per-publish allocation.
fn feed_metrics(s: &mut Snapshot, feed_stats: &[Arc<GroupStats>]) {
    let counter = MetricValue::Counter;
    let mut venues = [FeedTotals::default(); VENUE_COUNT];
    for stats in feed_stats {
        for conn in &stats.connections {
            venues[conn.venue.index()].add(conn);
        }
    }
    for (v, t) in venues.iter().enumerate() {
        if t.connections == 0 {
            continue;
        }
        let venue = Venue::ALL[v].as_str();
        for (name, help, value) in [
            (
                "feed_connects_total",
                "Websocket connections established",
                counter(t.connects),
            ),
            (
                "feed_messages_total",
                "Websocket messages received",
                counter(t.messages),
            ),
            (
                "feed_events_total",
                "Market events produced",
                counter(t.events),
            ),
            (
                "feed_connections_up",
                "Websocket connections currently up",
                MetricValue::Gauge(t.up as f64),
            ),
        ] {
            s.metrics
                .push_slot()
                .set(name, help, value)
                .label("venue", venue);
        }
        for (reason, n) in DisconnectReason::ALL.iter().zip(t.disconnects) {
            if n > 0 {
                s.metrics
                    .push_slot()
                    .set(
                        "feed_disconnects_total",
                        "Websocket disconnects by reason",
                        counter(n),
                    )
                    .label("venue", venue)
                    .label("reason", reason.as_str());
            }
        }
        for (reason, n) in DropReason::ALL.iter().zip(t.drops) {
            if n > 0 {
                s.metrics
                    .push_slot()
                    .set(
                        "feed_dropped_messages_total",
                        "Venue messages dropped as not understood, by reason",
                        counter(n),
                    )
                    .label("venue", venue)
                    .label("reason", reason.as_str());
            }
        }
    }
    for stats in feed_stats {
        let q = stats.queue.snapshot();
        s.metrics
            .push_slot()
            .set(
                "feed_queue_conflated_total",
                "Quotes conflated because the engine queue was full",
                counter(q.conflated),
            )
            .label("group", &stats.name);
    }
}

/// One venue's feed counters, summed over its connections.
#[derive(Clone, Copy, Default)]
struct FeedTotals {
    connections: u64,
    up: u64,
    connects: u64,
    messages: u64,
    events: u64,
    disconnects: [u64; DisconnectReason::COUNT],
    drops: [u64; DropReason::ALL.len()],
}

impl FeedTotals {
    fn add(&mut self, c: &ConnectionStats) {
        self.connections += 1;
        self.up += c.up.get().min(1);
        self.connects += c.connects.get();
        self.messages += c.messages.get();
        self.events += c.events.get();
        for (total, reason) in self.disconnects.iter_mut().zip(DisconnectReason::ALL) {
            *total += c.disconnect(reason).get();
        }
        for (total, reason) in self.drops.iter_mut().zip(DropReason::ALL) {
            *total += c.drops(reason).get();
        }
    }
}

/// Market events per second, measured over windows of at least a second so that a publication
/// right after another does not divide by almost nothing.
#[derive(Clone, Copy, Debug)]
pub struct EventRate {
    since_ns: u64,
    events_then: u64,
    per_s: f64,
}

impl EventRate {
    /// A rate of 0 until the first window, which starts at `start_ns`.
    pub fn new(start_ns: u64) -> EventRate {
        EventRate {
            since_ns: start_ns,
            events_then: 0,
            per_s: 0.0,
        }
    }

    /// The rate at `now_ns`, when `events` have been counted since the start: a new figure once
    /// the current window is a second long, else the last one.
    pub fn update(&mut self, now_ns: u64, events: u64) -> f64 {
        let elapsed = now_ns.saturating_sub(self.since_ns);
        if elapsed >= 1_000_000_000 {
            self.per_s = (events - self.events_then) as f64 * 1e9 / elapsed as f64;
            self.since_ns = now_ns;
            self.events_then = events;
        }
        self.per_s
    }

    /// The last figure.
    pub fn per_s(&self) -> f64 {
        self.per_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_rate_holds_its_figure_until_a_window_is_a_second_long() {
        const S: u64 = 1_000_000_000;
        let mut r = EventRate::new(5 * S);
        assert_eq!(r.update(5 * S + S / 2, 100), 0.0);
        assert_eq!(r.update(7 * S, 400), 200.0);
        assert_eq!(r.update(7 * S + S / 2, 900), 200.0);
        assert_eq!(r.update(8 * S, 900), 500.0);
        assert_eq!(r.per_s(), 500.0);
    }
}

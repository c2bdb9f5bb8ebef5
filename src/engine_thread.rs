//! The engine thread: busy-polls every feed queue, the execution-report queue and the operator
//! command queue; stamps `Now` once per input; hands the intents the engine has journaled to the
//! gateways; records per-stage latency from the stamps that travel with each event; publishes an
//! admin snapshot a few times per second.
//!
//! On the market-event path (dequeue → decide → journal → hand to gateway) nothing allocates,
//! locks or logs: the queues are lock-free, the intent buffer and backlog are reused, the
//! latency histograms have fixed bounds. Snapshot publication runs on the engine's timer, not
//! per event, and reuses its buffers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use carry_engine::breaker::Scope;
use carry_engine::decider::Decider;
use carry_engine::engine::{Engine, ExecCounters, Input, RecordSink};
use carry_engine::order::OrderIntent;
use carry_engine::venue::VENUE_COUNT;
use carry_engine::{MarketEventKind, Now, Universe, Venue};
use carry_feeds::feed::queue::Consumer;
use carry_feeds::feed::stats::GroupStats;
use carry_feeds::transport::clock::{mono_ns, unix_ms};
use carry_feeds::transport::stats::{ConnectionStats, DisconnectReason};
use carry_feeds::DropReason;
use carry_journal::{Journal, JournalError};
use core_affinity::CoreId;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;

use crate::admin::snapshot::{set_str, MetricValue, Mode, SnapshotPublisher};
use crate::admin::CommandReceiver;
use crate::gateway::quote_board::QuoteBoard;
use crate::latency::{LatencyRecorder, Stage};
use carry_feeds::gateway::{Gateways, ReportReceiver};

/// The journal, timed: the engine thread splits each input's time into deciding and journaling
/// by how long the appends inside it took.
pub struct TimedJournal {
    pub journal: Journal,
    spent_ns: u64,
}

impl TimedJournal {
    pub fn new(journal: Journal) -> TimedJournal {
        TimedJournal {
            journal,
            spent_ns: 0,
        }
    }

    /// Time spent appending since the last call.
    fn take_spent(&mut self) -> u64 {
        std::mem::take(&mut self.spent_ns)
    }
}

impl RecordSink for TimedJournal {
    fn append_with<F: FnOnce(&mut [u8])>(
        &mut self,
        kind: u16,
        ts_ns: u64,
        len: usize,
        encode: F,
    ) -> Result<u64, JournalError> {
        let start = mono_ns();
        let r = self.journal.append_with(kind, ts_ns, len, encode);
        self.spent_ns += mono_ns().saturating_sub(start);
        r
    }
}

/// The engine as the thread runs it.
pub type LiveEngine = Engine<Decider, TimedJournal>;

/// How the engine thread runs.
#[derive(Clone, Debug)]
pub struct LoopOptions {
    pub core: Option<CoreId>,
    /// Spin when idle (lowest latency, one full core); otherwise nap briefly after a run of
    /// empty polls, which suits a shared machine such as a demo laptop.
    pub busy_poll: bool,
    /// Timer tick: timeouts and staleness are evaluated on these.
    pub tick_every: Duration,
    /// How often the admin snapshot is refreshed.
    pub publish_every: Duration,
    pub mode: Mode,
    pub instance: String,
}

/// Everything the engine thread owns.
pub struct EngineLoop {
    pub engine: LiveEngine,
    pub universe: Arc<Universe>,
    pub feeds: Vec<Consumer>,
    pub feed_stats: Vec<Arc<GroupStats>>,
    /// Trading rules from REST snapshots fetched after start.
    pub specs: crossbeam::channel::Receiver<(
        carry_engine::Venue,
        carry_engine::InstrumentId,
        carry_engine::InstrumentSpec,
    )>,
    pub reports: ReportReceiver,
    pub commands: CommandReceiver,
    pub gateways: Gateways,
    pub board: Arc<QuoteBoard>,
    pub latency: LatencyRecorder,
    pub snapshots: SnapshotPublisher,
    /// Set by the main thread once the feeds have stopped: drain what is queued, then return.
    pub stop: Arc<AtomicBool>,
    pub options: LoopOptions,
}

/// What the engine thread did, for the demo's summary and the exit log line.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopOutcome {
    pub counters: ExecCounters,
    pub market_events: u64,
    pub journal_next_seq: u64,
    /// Intents still waiting for a gateway when the loop stopped (journaled, so a restart
    /// resolves them).
    pub unsent_intents: usize,
    pub halted: bool,
}

/// Idle polls before a non-busy loop naps.
const IDLE_SPINS: u32 = 2_000;
const NAP: Duration = Duration::from_micros(200);
/// Feed items drained per queue per round, so one busy venue cannot starve the others or the
/// execution reports.
const DRAIN_BATCH: usize = 64;

impl EngineLoop {
    /// Runs until `stop` is set and every queue is empty, then flushes the journal.
    pub fn run(mut self) -> LoopOutcome {
        crate::cores::pin_current(self.options.core);
        let mut out: Vec<OrderIntent> = Vec::with_capacity(256);
        let mut backlog: VecDeque<OrderIntent> = VecDeque::with_capacity(1024);
        let started = mono_ns();
        let tick_ns = self.options.tick_every.as_nanos() as u64;
        let publish_ns = self.options.publish_every.as_nanos() as u64;
        let mut next_tick = started + tick_ns;
        let mut next_publish = started;
        let mut market_events = 0u64;
        let mut rate_window = (started, 0u64, 0.0f64);
        let mut idle = 0u32;
        loop {
            let mut worked = false;
            for q in 0..self.feeds.len() {
                for _ in 0..DRAIN_BATCH {
                    let Some(item) = self.feeds[q].pop() else {
                        break;
                    };
                    worked = true;
                    market_events += 1;
                    let dequeued = mono_ns();
                    let ev = item.event;
                    if !matches!(ev.kind, MarketEventKind::FeedReset) {
                        self.latency.record_span(
                            Stage::Parse,
                            ev.venue,
                            ev.recv_ns,
                            item.parsed_ns,
                        );
                    }
                    self.latency
                        .record_span(Stage::Queue, ev.venue, item.enqueued_ns, dequeued);
                    self.board.observe(&ev);
                    let now = Now::new(dequeued, unix_ms());
                    self.engine.on_event(&Input::Market(ev), now, &mut out);
                    let decided = mono_ns();
                    let journal_ns = self.engine.sink_mut().take_spent();
                    let total = decided.saturating_sub(dequeued);
                    self.latency
                        .record(Stage::Decide, ev.venue, total.saturating_sub(journal_ns));
                    self.latency.record(Stage::Journal, ev.venue, journal_ns);
                    if !out.is_empty() {
                        self.latency.record_span(
                            Stage::WireToIntent,
                            ev.venue,
                            ev.recv_ns,
                            decided,
                        );
                        self.hand_over(&mut out, &mut backlog, decided);
                    }
                }
            }
            while let Ok(report) = self.reports.try_recv() {
                worked = true;
                self.latency
                    .record_span(Stage::Ack, report.venue, report.sent_ns, report.recv_ns);
                let now = Now::new(mono_ns(), unix_ms());
                self.engine.on_event(&Input::Exec(report), now, &mut out);
                self.engine.sink_mut().take_spent();
                self.hand_over(&mut out, &mut backlog, mono_ns());
            }
            while let Some(cmd) = self.commands.poll() {
                worked = true;
                let now = Now::new(mono_ns(), unix_ms());
                self.engine.on_event(&Input::Command(cmd), now, &mut out);
                self.engine.sink_mut().take_spent();
                self.hand_over(&mut out, &mut backlog, mono_ns());
            }
            if !backlog.is_empty() {
                self.retry_backlog(&mut backlog, mono_ns());
            }
            let t = mono_ns();
            if t >= next_tick {
                next_tick = t + tick_ns;
                let now = Now::new(t, unix_ms());
                self.take_specs(now);
                self.engine.on_event(&Input::Tick, now, &mut out);
                self.engine.sink_mut().take_spent();
                self.hand_over(&mut out, &mut backlog, mono_ns());
                self.latency.maybe_publish(t);
            }
            if t >= next_publish {
                next_publish = t + publish_ns;
                let elapsed = t.saturating_sub(rate_window.0);
                if elapsed >= 1_000_000_000 {
                    rate_window.2 = (market_events - rate_window.1) as f64 * 1e9 / elapsed as f64;
                    rate_window = (t, market_events, rate_window.2);
                }
                self.publish(Now::new(t, unix_ms()), started, rate_window.2);
            }
            if worked {
                idle = 0;
                continue;
            }
            if self.stop.load(Ordering::Acquire) && self.feeds.iter().all(|f| f.is_empty()) {
                break;
            }
            idle = idle.saturating_add(1);
            if self.options.busy_poll || idle < IDLE_SPINS {
                std::hint::spin_loop();
            } else {
                std::thread::sleep(NAP);
            }
        }
        // Last answers already queued by the gateways still belong in the journal; what they
        // make the engine decide is journaled too, but no longer sent.
        let mut unsent = backlog.len();
        while let Ok(report) = self.reports.try_recv() {
            let now = Now::new(mono_ns(), unix_ms());
            self.engine.on_event(&Input::Exec(report), now, &mut out);
            unsent += out.len();
            out.clear();
        }
        let t = mono_ns();
        self.publish(Now::new(t, unix_ms()), started, rate_window.2);
        self.latency.publish(t);
        if let Err(e) = self.engine.sink_mut().journal.flush() {
            eprintln!("carry: engine: journal flush at shutdown failed: {e}");
        }
        LoopOutcome {
            counters: *self.engine.counters(),
            market_events,
            journal_next_seq: self.engine.sink().journal.next_seq(),
            unsent_intents: unsent,
            halted: self.engine.is_halted(),
        }
    }

    /// Journals the trading rules that REST snapshots fetched after start brought (the engine
    /// keeps only those that changed), so a venue whose REST was down at start can trade once it
    /// answers. They come rarely, so the timer tick drains them rather than every round.
    fn take_specs(&mut self, now: Now) {
        while let Ok((venue, instrument, spec)) = self.specs.try_recv() {
            // A failed append halts the engine (counted and shown); nothing else to do here.
            let _ = self.engine.update_spec(venue, instrument, spec, now);
        }
        self.engine.sink_mut().take_spent();
    }

    /// Hands every journaled intent in `out` to its gateway; a full gateway queue keeps the rest
    /// in `backlog`, in order, for the next round.
    fn hand_over(
        &mut self,
        out: &mut Vec<OrderIntent>,
        backlog: &mut VecDeque<OrderIntent>,
        journaled_ns: u64,
    ) {
        for intent in out.drain(..) {
            if !backlog.is_empty() {
                backlog.push_back(intent);
                continue;
            }
            match self.gateways.send(intent) {
                Ok(()) => {
                    self.latency
                        .record_span(Stage::Send, intent.venue, journaled_ns, mono_ns())
                }
                Err(back) => backlog.push_back(back),
            }
        }
    }

    fn retry_backlog(&mut self, backlog: &mut VecDeque<OrderIntent>, now_ns: u64) {
        while let Some(intent) = backlog.pop_front() {
            if let Err(back) = self.gateways.send(intent) {
                backlog.push_front(back);
                return;
            }
            self.latency
                .record_span(Stage::Send, intent.venue, now_ns, mono_ns());
        }
    }

    /// Fills the admin snapshot from the engine's views and the feeds' counters.
    fn publish(&mut self, now: Now, started_ns: u64, events_per_s: f64) {
        self.engine.refresh_metrics(now);
        let engine = &self.engine;
        let universe = &self.universe;
        let options = &self.options;
        let feed_stats = &self.feed_stats;
        self.snapshots.publish_with(|s| {
            let c = engine.counters();
            let decider = engine.decider();
            set_str(&mut s.status.instance, &options.instance);
            s.status.mode = options.mode;
            s.status.uptime_s = now.mono_ns.saturating_sub(started_ns) / 1_000_000_000;
            s.status.published_unix_ms = now.unix_ms;
            s.status.events = c.market_events;
            s.status.intents = c.intents;
            s.status.fills = c.fills;
            s.status.cycles_completed = c.cycles_completed;
            s.status.events_per_s = events_per_s;
            s.status.journal_seq = engine.sink().journal.next_seq().saturating_sub(1);
            s.status.paused = decider.breakers().global_entry_block().is_some();

            for g in &decider.metrics().pairs {
                let Some(pair) = decider.pair(g.pair) else {
                    continue;
                };
                let row = s.spreads.push_slot();
                set_str(&mut row.pair, &g.name);
                set_str(&mut row.instrument, &universe.get(pair.instrument).name);
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
                row.long_stale = decider.monitor().is_stale(long, pair.instrument, now);
                row.short_stale = decider.monitor().is_stale(short, pair.instrument, now);
            }

            for (venue, instrument, pos) in engine.positions().open() {
                let row = s.positions.push_slot();
                row.venue = venue;
                set_str(&mut row.instrument, &universe.get(instrument).name);
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

            for view in engine.pairs() {
                let row = s.cycles.push_slot();
                set_str(
                    &mut row.pair,
                    decider.pair(view.pair).map_or("?", |p| p.name.as_str()),
                );
                row.state = view.state.as_str();
                row.cycle = view.cycle.map_or(0, u64::from);
                row.since_unix_ms = 0;
            }

            let counter = |v: u64| MetricValue::Counter(v);
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
                s.metrics.push_slot().set(name, help, counter(value));
            }
            s.metrics.push_slot().set(
                "engine_halted",
                "1 when the journal failed and the engine halted",
                MetricValue::Gauge(f64::from(u8::from(engine.is_halted()))),
            );
            for g in &decider.metrics().pairs {
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
            // One series per venue, summed over its connections (Binance perp has two), read
            // straight from the atomics: no per-publish allocation.
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
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carry_engine::record::{kind, Record};
    use carry_engine::InstrumentSpec;
    use carry_journal::{JournalOptions, JournalReader};

    use crate::admin::{command_channel, snapshot_channel};
    use crate::config::Config;
    use crate::latency::{LatencyCollector, LatencyConfig};

    #[test]
    fn specs_that_arrive_after_start_are_journaled_on_the_tick() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::parse(crate::demo::DEMO_TOML, "demo.toml").unwrap();
        let (cfg, universe, decider) = config.engine_parts().unwrap();
        let (journal, _) =
            Journal::open(dir.path(), JournalOptions::default().segment_size(1 << 20)).unwrap();
        let mut engine = Engine::new(cfg, &universe, decider, TimedJournal::new(journal)).unwrap();
        // Started without any trading rules, as when every venue's REST was down.
        engine.start(&[], Now::new(mono_ns(), unix_ms())).unwrap();

        let gate: carry_engine::Venue = "gate-perp".parse().unwrap();
        let btc = universe.find("BTC-USDT").unwrap();
        let spec = InstrumentSpec {
            tick_size: Decimal::new(1, 1),
            lot_size: Decimal::ONE,
            min_qty: Decimal::ONE,
            min_notional: Decimal::ZERO,
            contract_size: Some(Decimal::new(1, 4)),
        };
        let (spec_tx, spec_rx) = crossbeam::channel::bounded(4);
        spec_tx.send((gate, btc, spec)).unwrap();
        // The same rules twice: journaled once.
        spec_tx.send((gate, btc, spec)).unwrap();

        let mut collector = LatencyCollector::new(LatencyConfig::default()).unwrap();
        let (publisher, _reader) = snapshot_channel(3);
        let (_commands, command_rx) = command_channel(4);
        let (_reports_tx, reports) = carry_feeds::gateway::report_queue(4);
        let universe = Arc::new(universe);
        let lp = EngineLoop {
            engine,
            board: Arc::new(QuoteBoard::new(universe.len())),
            universe,
            feeds: Vec::new(),
            feed_stats: Vec::new(),
            specs: spec_rx,
            reports,
            commands: command_rx,
            gateways: Gateways::new(),
            latency: collector.new_recorder("engine", &[Stage::Decide]).unwrap(),
            snapshots: publisher,
            // Already stopping: the loop runs one round (with its tick) and returns.
            stop: Arc::new(AtomicBool::new(true)),
            options: LoopOptions {
                core: None,
                busy_poll: false,
                tick_every: Duration::ZERO,
                publish_every: Duration::from_secs(1),
                mode: Mode::Run,
                instance: "demo".into(),
            },
        };
        let outcome = lp.run();
        assert!(!outcome.halted);

        let reader = JournalReader::open(dir.path()).unwrap();
        let journaled: Vec<_> = reader
            .iter_from(1)
            .map(Result::unwrap)
            .filter(|r| r.kind == kind::SPEC)
            .map(|r| match Record::decode(r.kind, r.payload).unwrap() {
                Record::Spec {
                    venue,
                    instrument,
                    spec,
                    ..
                } => (venue, instrument, spec),
                other => panic!("not a spec: {other:?}"),
            })
            .collect();
        assert_eq!(journaled, vec![(gate, btc, spec)]);
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

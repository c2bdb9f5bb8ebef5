//! The engine thread: busy-polls every feed queue, the execution-report queue and the operator
//! command queue; stamps `Now` once per input; hands the intents the engine has journaled to the
//! gateways; records per-stage latency from the stamps that travel with each event; publishes an
//! admin snapshot a few times per second (what goes into it is built in
//! [`crate::admin::publish`]).
//!
//! On the market-event path (dequeue → decide → journal → hand to gateway) nothing allocates,
//! locks or logs: the queues are lock-free, the intent buffer and backlog are reused, the
//! latency histograms have fixed bounds. Snapshot publication runs on the engine's timer, not
//! per event, and reuses its buffers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use carry_engine::decision::breaker::VenueCondition;
use carry_engine::decision::decider::Decider;
use carry_engine::engine::{Engine, ExecCounters, Input};
use carry_engine::execution::order::OrderIntent;
use carry_engine::sink::RecordSink;
use carry_engine::{MarketEventKind, Now, Universe, Venue};
use carry_feeds::feed::queue::Consumer;
use carry_feeds::feed::stats::GroupStats;
use carry_feeds::gateway::live::LiveStats;
use carry_feeds::transport::clock::{mono_ns, unix_ms};
use carry_journal::{Journal, JournalError};
use core_affinity::CoreId;

use crate::admin::publish::{self, EngineView, EventRate};
use crate::admin::snapshot::{Mode, SnapshotPublisher};
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
    /// Conditions of live venues the gateway side found (account setup at start), taken as
    /// journaled inputs on the next round.
    pub venue_conditions: crossbeam::channel::Receiver<(Venue, VenueCondition, bool)>,
    /// Live gateways' backlogs, watched on every tick: past the threshold a venue's entries pause
    /// (`order_backlog`) until its backlog has drained.
    pub backlogs: Vec<BacklogWatch>,
    /// Set by the main thread once the feeds have stopped: drain what is queued, then return.
    pub stop: Arc<AtomicBool>,
    pub options: LoopOptions,
}

/// One live gateway's backlog as the engine thread watches it.
pub struct BacklogWatch {
    /// The venue the gateway serves.
    pub venue: Venue,
    /// The gateway's counters (its `backlog` gauge).
    pub stats: Arc<LiveStats>,
    /// More intents waiting than this trips the venue's `order_backlog`.
    pub threshold: u64,
    /// Whether it is tripped now (cleared once the backlog is empty).
    pub tripped: bool,
}

impl BacklogWatch {
    /// The change to hand the engine, if the backlog crossed its threshold or drained.
    fn check(&mut self) -> Option<bool> {
        let backlog = self.stats.backlog.load(Ordering::Relaxed);
        let change = match (self.tripped, backlog) {
            (false, b) if b > self.threshold => Some(true),
            (true, 0) => Some(false),
            _ => None,
        };
        if let Some(on) = change {
            self.tripped = on;
        }
        change
    }
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

/// Intents on their way to the gateways: those the current input produced, and those a full
/// gateway queue sent back, kept in order for the next round. Both are reused, never shrunk.
struct Outbox {
    out: Vec<OrderIntent>,
    backlog: VecDeque<OrderIntent>,
}

/// What taking one input cost: when its decision finished, how much of it was journaling, and
/// how many intents it handed over.
struct Taken {
    decided_ns: u64,
    journal_ns: u64,
    intents: usize,
}

impl EngineLoop {
    /// Runs until `stop` is set and every queue is empty, then flushes the journal.
    pub fn run(mut self) -> LoopOutcome {
        crate::cores::pin_current(self.options.core);
        let mut outbox = Outbox {
            out: Vec::with_capacity(256),
            backlog: VecDeque::with_capacity(1024),
        };
        let started = mono_ns();
        let tick_ns = self.options.tick_every.as_nanos() as u64;
        let publish_ns = self.options.publish_every.as_nanos() as u64;
        let mut next_tick = started + tick_ns;
        let mut next_publish = started;
        let mut market_events = 0u64;
        let mut rate = EventRate::new(started);
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
                    let taken = self.take_input(&Input::Market(ev), now, &mut outbox);
                    let total = taken.decided_ns.saturating_sub(dequeued);
                    self.latency.record(
                        Stage::Decide,
                        ev.venue,
                        total.saturating_sub(taken.journal_ns),
                    );
                    self.latency
                        .record(Stage::Journal, ev.venue, taken.journal_ns);
                    if taken.intents > 0 {
                        self.latency.record_span(
                            Stage::WireToIntent,
                            ev.venue,
                            ev.recv_ns,
                            taken.decided_ns,
                        );
                    }
                }
            }
            while let Ok(report) = self.reports.try_recv() {
                worked = true;
                self.latency
                    .record_span(Stage::Ack, report.venue, report.sent_ns, report.recv_ns);
                let now = Now::new(mono_ns(), unix_ms());
                self.take_input(&Input::Exec(report), now, &mut outbox);
            }
            while let Some(cmd) = self.commands.poll() {
                worked = true;
                let now = Now::new(mono_ns(), unix_ms());
                self.take_input(&Input::Command(cmd), now, &mut outbox);
            }
            while let Ok((venue, condition, on)) = self.venue_conditions.try_recv() {
                worked = true;
                let now = Now::new(mono_ns(), unix_ms());
                let input = Input::Venue {
                    venue,
                    condition,
                    on,
                };
                self.take_input(&input, now, &mut outbox);
            }
            if !outbox.backlog.is_empty() {
                self.retry_backlog(&mut outbox.backlog, mono_ns());
            }
            let t = mono_ns();
            if t >= next_tick {
                next_tick = t + tick_ns;
                let now = Now::new(t, unix_ms());
                self.take_specs(now);
                for i in 0..self.backlogs.len() {
                    if let Some(on) = self.backlogs[i].check() {
                        let input = Input::Venue {
                            venue: self.backlogs[i].venue,
                            condition: VenueCondition::Backlog,
                            on,
                        };
                        self.take_input(&input, now, &mut outbox);
                    }
                }
                self.take_input(&Input::Tick, now, &mut outbox);
                self.latency.maybe_publish(t);
            }
            if t >= next_publish {
                next_publish = t + publish_ns;
                let per_s = rate.update(t, market_events);
                self.publish(Now::new(t, unix_ms()), started, per_s);
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
        let Outbox { mut out, backlog } = outbox;
        let mut unsent = backlog.len();
        while let Ok(report) = self.reports.try_recv() {
            let now = Now::new(mono_ns(), unix_ms());
            self.engine.on_event(&Input::Exec(report), now, &mut out);
            unsent += out.len();
            out.clear();
        }
        let t = mono_ns();
        self.publish(Now::new(t, unix_ms()), started, rate.per_s());
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

    /// One input through the engine at `now`: journaled, applied and decided on; the intents it
    /// produced (already journaled) go to their gateways.
    fn take_input(&mut self, input: &Input, now: Now, outbox: &mut Outbox) -> Taken {
        self.engine.on_event(input, now, &mut outbox.out);
        let decided_ns = mono_ns();
        let journal_ns = self.engine.sink_mut().take_spent();
        let intents = outbox.out.len();
        self.hand_over(outbox, decided_ns);
        Taken {
            decided_ns,
            journal_ns,
            intents,
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

    /// Hands every journaled intent in the outbox to its gateway; a full gateway queue keeps the
    /// rest in the backlog, in order, for the next round.
    fn hand_over(&mut self, outbox: &mut Outbox, journaled_ns: u64) {
        for intent in outbox.out.drain(..) {
            if !outbox.backlog.is_empty() {
                outbox.backlog.push_back(intent);
                continue;
            }
            match self.gateways.send(intent) {
                Ok(()) => {
                    self.latency
                        .record_span(Stage::Send, intent.venue, journaled_ns, mono_ns())
                }
                Err(back) => outbox.backlog.push_back(back),
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

    /// Refreshes the decider's gauges and publishes an admin snapshot of the engine at `now`.
    fn publish(&mut self, now: Now, started_ns: u64, events_per_s: f64) {
        self.engine.refresh_metrics(now);
        let view = EngineView {
            engine: &self.engine,
            universe: &self.universe,
            feed_stats: &self.feed_stats,
            instance: &self.options.instance,
            mode: self.options.mode,
            journal_seq: self.engine.sink().journal.next_seq().saturating_sub(1),
            uptime_s: now.mono_ns.saturating_sub(started_ns) / 1_000_000_000,
            events_per_s,
            now,
        };
        self.snapshots.publish_with(|s| publish::fill(s, &view));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carry_engine::record::{kind, Record};
    use carry_engine::InstrumentSpec;
    use carry_journal::{JournalOptions, JournalReader};
    use rust_decimal::Decimal;

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
            venue_conditions: crossbeam::channel::never(),
            backlogs: Vec::new(),
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

    #[test]
    fn a_backlog_trips_past_its_threshold_and_clears_only_once_drained() {
        let stats = Arc::new(LiveStats::default());
        let mut w = BacklogWatch {
            venue: "okx-perp".parse().unwrap(),
            stats: stats.clone(),
            threshold: 3,
            tripped: false,
        };
        let mut seen = Vec::new();
        for backlog in [0, 3, 4, 9, 2, 1, 0, 0, 5] {
            stats.backlog.store(backlog, Ordering::Relaxed);
            seen.push(w.check());
        }
        assert_eq!(
            seen,
            vec![
                None,
                None,
                Some(true),
                None,
                None,
                None,
                Some(false),
                None,
                Some(true)
            ]
        );
    }
}

//! The engine: one deterministic state machine on the engine thread. Every input (market event,
//! execution report, operator command, timer tick) is journaled with its `now`, applied, and then
//! decided on; every decision (order intent, cycle change, exposure report, breaker change) is
//! journaled and applied before it takes effect. Intents reach the caller's `out` only after
//! their record is in the journal; if any append fails, nothing from that input is returned and
//! the journal-failure breaker halts everything.
//!
//! State changes happen in exactly one place, [`Engine::apply`], driven by records. Recovery
//! after a restart is therefore a fold over the journal (no decisions, no new intents), and
//! `carry replay` re-runs the decisions on the journaled inputs and compares intents byte for
//! byte. The decision half ([`Decider`]) is driven through the small [`Decide`] trait, so tests
//! can substitute a scripted target source.
//!
//! # Restart guarantee
//! After any number of kill -9 restarts at any instant: no client order id is placed twice (ids
//! are a pure function of instance, cycle, step, leg and attempt; cycle and attempt counters are
//! rebuilt from the journaled intents, and an intent is journaled before any gateway sees it),
//! no pair exceeds its position limit (every order is sized from executed quantities and
//! working orders, and a pair whose order outcome is unknown sends nothing new until that
//! outcome is learnt from the venue), and every hedge matches the executed quantity of its first
//! leg (the hedge follows cumulative fills, and a hedge that cannot match is compensated by
//! reducing the first leg to what the hedge matched).

use std::collections::HashSet;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::clock::Now;
use crate::config::{ConfigError, EngineConfig, ExecConfig};
use crate::decision::breaker::BreakerChange;
use crate::decision::breaker::VenueCondition;
use crate::decision::command::OperatorCommand;
use crate::decision::decider::Decider;
use crate::decision::target::{PairId, PairTarget, TargetReason};
use crate::execution::client_id::{ClientIdError, ClientOrderId, InstanceId};
use crate::execution::cycle::{
    Cycle, CycleChange, CycleReason, CycleState, FillDelta, PairBook, WorkingOrder,
};
use crate::execution::order::{
    ExecKind, ExecReport, IntentAction, Leg, OrderIntent, Step, TimeInForce,
};
use crate::execution::position::Positions;
use crate::execution::reconciler::{
    choose_first_leg, common_entry_qty, Action, Blocked, Market, PairContext, ReconcileParams,
};
use crate::execution::rounding::{protective_price, size_order};
use crate::market::event::{MarketEvent, MarketEventKind, Quote};
use crate::market::instrument::{InstrumentId, Universe};
use crate::market::spec::{InstrumentSpec, SpecTable};
use crate::market::venue::Venue;
use crate::record::{
    ts_ns, ExposureReason, ExposureRecord, Record, RecordError, StartRecord, FORMAT_VERSION,
};
use crate::sink::RecordSink;

/// One input of the engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    /// A market event from a feed.
    Market(MarketEvent),
    /// An execution report from a gateway.
    Exec(ExecReport),
    /// An operator command.
    Command(OperatorCommand),
    /// A live venue's condition, as its gateway side reported it.
    Venue {
        /// The venue.
        venue: Venue,
        /// Which condition.
        condition: VenueCondition,
        /// Holding (`true`) or cleared.
        on: bool,
    },
    /// A timer tick: timeouts, staleness and periodic evaluation run on these.
    Tick,
}

/// Why the engine could not open, or could not journal a record it was handed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The execution configuration is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The instance name cannot prefix client order ids.
    #[error("instance: {0}")]
    Instance(#[from] ClientIdError),
    /// The journal could not be opened, read or appended to. Its own message names the journal
    /// file; wrapping it would print it twice wherever the error chain is followed.
    #[error(transparent)]
    Journal(#[from] carry_journal::JournalError),
    /// A record of an engine kind does not decode.
    #[error("journal record {seq}: {source}")]
    Record {
        /// The record's sequence number.
        seq: u64,
        /// What is wrong with it.
        source: RecordError,
    },
    /// The journal was written with another record format.
    #[error(
        "journal record {seq}: written with record format {found}; this build reads {supported}"
    )]
    Format {
        /// The START record's sequence number.
        seq: u64,
        /// The format it names.
        found: u16,
        /// The format this build reads.
        supported: u16,
    },
    /// The journal belongs to another instance.
    #[error("journal record {seq}: written by instance {found:?}, but this engine is instance {expected:?}; client order ids would not continue")]
    InstanceMismatch {
        /// The START record's sequence number.
        seq: u64,
        /// The instance it names.
        found: String,
        /// This engine's instance.
        expected: String,
    },
    /// A gateway record of a kind gateways do not own.
    #[error("record kind {0} is not a gateway's (gateways own kinds 64..=127)")]
    NotGatewayKind(u16),
    /// The engine halted after a journal failure and journals nothing more.
    #[error("the engine halted after a journal failure; nothing more is journaled")]
    Halted,
}

/// The decision half as the engine drives it. [`Decider`] is the real one.
pub trait Decide {
    /// How many pairs are configured.
    fn pair_count(&self) -> usize;
    /// Takes a market event.
    fn on_market(&mut self, ev: &MarketEvent, now: Now);
    /// Takes a timer tick.
    fn on_tick(&mut self, now: Now);
    /// Takes an operator command.
    fn on_command(&mut self, cmd: OperatorCommand, now: Now);
    /// A venue rejected an order.
    fn on_reject(&mut self, venue: Venue, now: Now);
    /// A live venue's condition holds or cleared.
    fn on_venue_condition(&mut self, venue: Venue, condition: VenueCondition, on: bool, now: Now);
    /// Execution retries an order step on a venue (counted like a reject).
    fn on_retry(&mut self, venue: Venue, now: Now);
    /// Execution left exposure on a pair it cannot close.
    fn on_leftover_exposure(&mut self, pair: PairId, now: Now);
    /// The journal failed: nothing may be decided any more.
    fn on_journal_failure(&mut self, now: Now);
    /// The position the pair wants now, if any; `in_flight` says a cycle is running.
    fn evaluate(
        &mut self,
        pair: PairId,
        positions: &Positions,
        in_flight: bool,
        now: Now,
    ) -> Option<PairTarget>;
    /// Pairs that care about a market event on (venue, instrument).
    fn pairs_for(&self, venue: Venue, instrument: InstrumentId) -> &[PairId];
    /// Pairs that use a venue at all (evaluated after its feed resets).
    fn pairs_on_venue(&self, venue: Venue) -> &[PairId];
    /// The latest top of book of (venue, instrument), if any.
    fn quote(&self, venue: Venue, instrument: InstrumentId) -> Option<Quote>;
    /// Hands every breaker change since the last call to `sink`, oldest first.
    fn drain_breaker_changes(&mut self, sink: &mut dyn FnMut(BreakerChange));
}

impl Decide for Decider {
    fn pair_count(&self) -> usize {
        self.pairs().len()
    }
    fn on_market(&mut self, ev: &MarketEvent, now: Now) {
        Decider::on_market(self, ev, now)
    }
    fn on_tick(&mut self, now: Now) {
        Decider::on_tick(self, now)
    }
    fn on_command(&mut self, cmd: OperatorCommand, now: Now) {
        Decider::on_command(self, cmd, now)
    }
    fn on_reject(&mut self, venue: Venue, now: Now) {
        Decider::on_reject(self, venue, now)
    }
    fn on_venue_condition(&mut self, venue: Venue, condition: VenueCondition, on: bool, now: Now) {
        Decider::on_venue_condition(self, venue, condition, on, now)
    }
    fn on_retry(&mut self, venue: Venue, now: Now) {
        Decider::on_retry(self, venue, now)
    }
    fn on_leftover_exposure(&mut self, pair: PairId, now: Now) {
        Decider::on_leftover_exposure(self, pair, now)
    }
    fn on_journal_failure(&mut self, now: Now) {
        Decider::on_journal_failure(self, now)
    }
    fn evaluate(
        &mut self,
        pair: PairId,
        positions: &Positions,
        in_flight: bool,
        now: Now,
    ) -> Option<PairTarget> {
        Decider::evaluate(self, pair, positions, in_flight, now)
    }
    fn pairs_for(&self, venue: Venue, instrument: InstrumentId) -> &[PairId] {
        Decider::pairs_for(self, venue, instrument)
    }
    fn pairs_on_venue(&self, venue: Venue) -> &[PairId] {
        Decider::pairs_on_venue(self, venue)
    }
    fn quote(&self, venue: Venue, instrument: InstrumentId) -> Option<Quote> {
        Decider::quote(self, venue, instrument)
    }
    fn drain_breaker_changes(&mut self, sink: &mut dyn FnMut(BreakerChange)) {
        for c in self.breaker_changes() {
            sink(c);
        }
    }
}

/// Execution counters, for the status view and metrics. Plain numbers, updated in place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExecCounters {
    /// Inputs journaled and applied.
    pub inputs: u64,
    /// Market events among them.
    pub market_events: u64,
    /// Execution reports among them.
    pub exec_reports: u64,
    /// Operator commands among them.
    pub commands: u64,
    /// Timer ticks among them.
    pub ticks: u64,
    /// Intents journaled.
    pub intents: u64,
    /// Place intents among them.
    pub places: u64,
    /// Resend intents among them.
    pub resends: u64,
    /// Query intents among them.
    pub queries: u64,
    /// Cancel intents among them.
    pub cancels: u64,
    /// Reports carrying a fill.
    pub fills: u64,
    /// Orders the venue rejected.
    pub rejects: u64,
    /// Duplicate-id answers (to resends).
    pub duplicates: u64,
    /// Entry cycles started.
    pub cycles_started: u64,
    /// Cycles that went back to flat, missed entries aside.
    pub cycles_completed: u64,
    /// Entries whose first leg executed nothing.
    pub entries_missed: u64,
    /// Times a cycle started unwinding a leg.
    pub unwinds: u64,
    /// Exposure records (leftover, dust, late fills).
    pub exposures: u64,
    /// Entry targets refused because the pair's cycle was in flight.
    pub rejected_in_flight: u64,
    /// Entry targets for a pair already open (no top-ups).
    pub ignored_open: u64,
    /// Entry targets refused for a size below a venue minimum.
    pub below_minimum: u64,
    /// Entry targets that were not a valid entry (zero size, same venue twice).
    pub bad_targets: u64,
    /// Orders not sent for want of a quote.
    pub blocked_no_quote: u64,
    /// Orders not sent for want of trading rules.
    pub blocked_no_spec: u64,
    /// Orders not sent because the attempt counter ran out.
    pub blocked_attempts: u64,
    /// Reports for no order of a live cycle.
    pub unmatched_reports: u64,
    /// Of those, reports carrying an executed quantity (exposure nobody tracks: alarm).
    pub unmatched_fills: u64,
    /// Fills for orders an ended cycle had written off as never placed (reported as exposure).
    pub late_fills: u64,
    /// A client order id placed a second time: must stay 0.
    pub reused_ids: u64,
    /// Journal appends that failed (each halts the engine).
    pub journal_failures: u64,
    /// Inputs dropped because the engine is halted.
    pub dropped_halted: u64,
    /// START records applied (this run's and the journal's).
    pub restarts: u64,
    /// Records applied while recovering from the journal.
    pub recovered_records: u64,
}

/// A pair's execution state, for views.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairView {
    /// The pair.
    pub pair: PairId,
    /// Where its cycle is.
    pub state: CycleState,
    /// The cycle number, if one is live.
    pub cycle: Option<u32>,
    /// Signed base units the cycle holds on its long and short leg.
    pub position: [Decimal; 2],
    /// The long and the short venue, if a cycle is live.
    pub venues: Option<[Venue; 2]>,
    /// Orders still working or of unknown fate.
    pub working_orders: usize,
    /// Orders of unknown fate.
    pub unknown_orders: usize,
    /// Whether the cycle stalled with exposure left.
    pub stalled: bool,
}

/// Client order ids one run may place before the issued-id set has to grow (about 2 MiB).
const ISSUED_HEADROOM: usize = 1 << 16;

/// Most actions one input may cause for one pair; a safety net against a decision loop.
const MAX_ACTIONS_PER_PAIR: usize = 32;

/// The engine. `D` is the decision half, `S` where records go.
pub struct Engine<D: Decide = Decider, S: RecordSink = carry_journal::Journal> {
    cfg: ExecConfig,
    params: ReconcileParams,
    instance: InstanceId,
    config_text: String,
    decider: D,
    sink: S,
    book: PairBook,
    positions: Positions,
    specs: SpecTable,
    issued: HashSet<ClientOrderId>,
    counters: ExecCounters,
    halted: bool,
    /// A late fill found while applying the current input: reported as exposure by its decision.
    late_fill: Option<(PairId, u32, crate::execution::order::Leg, FillDelta)>,
    pairs_scratch: Vec<PairId>,
    breaker_scratch: Vec<BreakerChange>,
}

/// What the reconciler reads: the decider's quotes and the engine's specs.
struct MarketView<'a, D: Decide> {
    decider: &'a D,
    specs: &'a SpecTable,
}

impl<D: Decide> Market for MarketView<'_, D> {
    fn quote(&self, venue: Venue, instrument: InstrumentId) -> Option<Quote> {
        self.decider.quote(venue, instrument)
    }
    fn spec(&self, venue: Venue, instrument: InstrumentId) -> Option<InstrumentSpec> {
        self.specs.get(venue, instrument)
    }
}

/// The journal failed: this input's outputs are withdrawn.
struct Failed;

impl<D: Decide> Engine<D, carry_journal::Journal> {
    /// Opens the engine on a journal: recovers state from every record in it (positions,
    /// cycles, working orders, every client order id issued), journals a START record and the
    /// trading rules in `specs`, and marks every unfinished order as unknown so it is resolved
    /// before its pair sends anything new. Emits no intent.
    pub fn open(
        cfg: EngineConfig,
        universe: &Universe,
        decider: D,
        specs: &[(Venue, InstrumentId, InstrumentSpec)],
        journal: carry_journal::Journal,
        now: Now,
    ) -> Result<Engine<D>, EngineError> {
        let reader = journal.reader()?;
        let mut engine = Engine::new(cfg, universe, decider, journal)?;
        engine.recover(reader.iter_from(1).map(|r| {
            r.map(|r| (r.seq, r.kind, r.payload))
                .map_err(EngineError::from)
        }))?;
        engine.start(specs, now)?;
        Ok(engine)
    }
}

impl<D: Decide, S: RecordSink> Engine<D, S> {
    /// An engine with empty state on `sink`; [`Engine::recover`] and [`Engine::start`] bring it
    /// up to date with a journal.
    pub fn new(
        cfg: EngineConfig,
        universe: &Universe,
        decider: D,
        sink: S,
    ) -> Result<Engine<D, S>, EngineError> {
        cfg.execution.validate()?;
        let instance = InstanceId::new(&cfg.instance)?;
        let pairs = decider.pair_count();
        Ok(Engine {
            params: cfg.execution.params(),
            cfg: cfg.execution,
            instance,
            config_text: cfg.config_text,
            decider,
            sink,
            book: PairBook::new(pairs),
            positions: Positions::new(universe.len()),
            specs: SpecTable::new(universe.len()),
            issued: HashSet::new(),
            counters: ExecCounters::default(),
            halted: false,
            late_fill: None,
            pairs_scratch: Vec::with_capacity(pairs.max(1)),
            breaker_scratch: Vec::with_capacity(64),
        })
    }

    /// Rebuilds state from journaled records (seq, kind, payload), applying each without
    /// deciding anything. Breaker changes the decider reports while catching up were journaled
    /// the first time round and are dropped.
    pub fn recover<'p, I>(&mut self, records: I) -> Result<(), EngineError>
    where
        I: IntoIterator<Item = Result<(u64, u16, &'p [u8]), EngineError>>,
    {
        for item in records {
            let (seq, kind, payload) = item?;
            let record = match Record::decode(kind, payload) {
                Ok(r) => r,
                // Kinds carry does not write belong to someone else; skip them.
                Err(RecordError::UnknownKind(_)) => continue,
                Err(source) => return Err(EngineError::Record { seq, source }),
            };
            if let Record::Start { start, .. } = &record {
                if start.format != FORMAT_VERSION {
                    return Err(EngineError::Format {
                        seq,
                        found: start.format,
                        supported: FORMAT_VERSION,
                    });
                }
                if start.instance != self.instance {
                    return Err(EngineError::InstanceMismatch {
                        seq,
                        found: start.instance.as_str().to_string(),
                        expected: self.instance.as_str().to_string(),
                    });
                }
            }
            self.apply(&record);
            self.counters.recovered_records += 1;
        }
        // Room for this run's ids up front: a set that grows on the intent path would allocate
        // (and copy every id ever issued) on the engine thread. Filling the reserved table once
        // and clearing it touches its pages now, so a first insert never takes a page fault.
        let fresh = self.issued.capacity() - self.issued.len() < ISSUED_HEADROOM;
        if fresh {
            let kept = std::mem::take(&mut self.issued);
            self.issued.reserve(kept.len() + ISSUED_HEADROOM);
            for cycle in 0..ISSUED_HEADROOM as u32 {
                if let Ok(id) =
                    ClientOrderId::new(&self.instance, u32::MAX - cycle, Step::Entry, Leg::Long, 0)
                {
                    self.issued.insert(id);
                }
            }
            self.issued.clear();
            self.issued.extend(kept);
        }
        self.decider.drain_breaker_changes(&mut |_| {});
        // Decisions were taken (and journaled) the first time round.
        self.late_fill = None;
        Ok(())
    }

    /// Journals the START record and any trading rule that differs from what the journal
    /// holds; everything unfinished becomes unknown.
    pub fn start(
        &mut self,
        specs: &[(Venue, InstrumentId, InstrumentSpec)],
        now: Now,
    ) -> Result<(), EngineError> {
        let start = Record::Start {
            now,
            start: StartRecord {
                format: FORMAT_VERSION,
                instance: self.instance,
                config_text: self.config_text.clone(),
            },
        };
        self.journal(&start)?;
        self.apply(&start);
        for (venue, instrument, spec) in specs {
            self.update_spec_inner(*venue, *instrument, *spec, now)?;
        }
        Ok(())
    }

    /// Journals a gateway's own record among the engine's, so that it keeps its place in the
    /// order of events. `kind` must be a gateway kind ([`crate::record::kind::GATEWAY`]); the payload is
    /// opaque to the engine, which skips it on recovery and replay. A failed append halts the
    /// engine, as every journal failure does.
    pub fn journal_gateway_record(
        &mut self,
        kind: u16,
        payload: &[u8],
        now: Now,
    ) -> Result<(), EngineError> {
        if !crate::record::kind::GATEWAY.contains(&kind) {
            return Err(EngineError::NotGatewayKind(kind));
        }
        if self.halted {
            return Err(EngineError::Halted);
        }
        let appended = self
            .sink
            .append_with(kind, ts_ns(now), payload.len(), |buf| {
                buf.copy_from_slice(payload)
            });
        if let Err(e) = appended {
            self.fail_journal(now);
            return Err(e.into());
        }
        Ok(())
    }

    /// New trading rules for a (venue, instrument), e.g. from a REST snapshot after a reconnect.
    /// Journaled (replay needs them), then used for every later order.
    pub fn update_spec(
        &mut self,
        venue: Venue,
        instrument: InstrumentId,
        spec: InstrumentSpec,
        now: Now,
    ) -> Result<(), EngineError> {
        if self.halted {
            return Ok(());
        }
        let r = self.update_spec_inner(venue, instrument, spec, now);
        if r.is_err() {
            self.fail_journal(now);
        }
        r
    }

    fn update_spec_inner(
        &mut self,
        venue: Venue,
        instrument: InstrumentId,
        spec: InstrumentSpec,
        now: Now,
    ) -> Result<(), EngineError> {
        if self.specs.get(venue, instrument) == Some(spec) {
            return Ok(());
        }
        let r = Record::Spec {
            now,
            venue,
            instrument,
            spec,
        };
        self.journal(&r)?;
        self.apply(&r);
        Ok(())
    }

    /// Takes one input at `now`. Appends to `out` the intents to hand to gateways, all of them
    /// already journaled; appends nothing if the journal fails (and halts).
    pub fn on_event(&mut self, input: &Input, now: Now, out: &mut Vec<OrderIntent>) {
        if self.halted {
            self.counters.dropped_halted += 1;
            return;
        }
        let mark = out.len();
        if self.step(input, now, out).is_err() {
            out.truncate(mark);
            self.fail_journal(now);
        }
    }

    fn step(&mut self, input: &Input, now: Now, out: &mut Vec<OrderIntent>) -> Result<(), Failed> {
        let record = match *input {
            Input::Market(event) => Record::Market { now, event },
            Input::Exec(report) => Record::Exec { now, report },
            Input::Command(command) => Record::Command { now, command },
            Input::Venue {
                venue,
                condition,
                on,
            } => Record::Venue {
                now,
                venue,
                condition,
                on,
            },
            Input::Tick => Record::Tick { now },
        };
        self.journal(&record).map_err(|_| Failed)?;
        self.apply(&record);
        self.counters.inputs += 1;
        match *input {
            Input::Market(ev) => {
                let pairs = match ev.kind {
                    MarketEventKind::FeedReset => self.decider.pairs_on_venue(ev.venue),
                    _ => self.decider.pairs_for(ev.venue, ev.instrument),
                };
                self.pairs_scratch.clear();
                self.pairs_scratch.extend_from_slice(pairs);
                for i in 0..self.pairs_scratch.len() {
                    let pair = self.pairs_scratch[i];
                    self.evaluate(pair, now, out)?;
                    self.drive(pair, now, out)?;
                }
            }
            Input::Exec(report) => {
                if let Some(pair) = self.book.pair_of(&report.client_order_id) {
                    self.drive(pair, now, out)?;
                }
                if let Some((pair, cycle, leg, fill)) = self.late_fill.take() {
                    let mut position = [Decimal::ZERO; 2];
                    position[leg.index()] = fill.qty;
                    let mut venues = self.book.cycle(pair).map_or([fill.venue; 2], |c| c.venues);
                    venues[leg.index()] = fill.venue;
                    let exposure = ExposureRecord {
                        pair,
                        instrument: fill.instrument,
                        cycle,
                        venues,
                        position,
                        reason: ExposureReason::LateFill,
                    };
                    self.record(Record::Exposure { now, exposure })?;
                }
            }
            Input::Command(cmd) => {
                for i in 0..self.book.len() {
                    let pair = PairId(i as u16);
                    if cmd == OperatorCommand::Flatten {
                        self.request_exit(pair, TargetReason::Flatten, now)?;
                    }
                    self.evaluate(pair, now, out)?;
                    self.drive(pair, now, out)?;
                }
            }
            Input::Venue { .. } | Input::Tick => {
                for i in 0..self.book.len() {
                    let pair = PairId(i as u16);
                    self.evaluate(pair, now, out)?;
                    self.drive(pair, now, out)?;
                }
            }
        }
        self.journal_breaker_changes(now)
    }

    fn journal_breaker_changes(&mut self, now: Now) -> Result<(), Failed> {
        let mut scratch = std::mem::take(&mut self.breaker_scratch);
        scratch.clear();
        self.decider.drain_breaker_changes(&mut |c| scratch.push(c));
        let mut result = Ok(());
        for change in scratch.iter() {
            let r = Record::Breaker {
                now,
                change: *change,
            };
            if self.journal(&r).is_err() {
                result = Err(Failed);
                break;
            }
        }
        self.breaker_scratch = scratch;
        result
    }

    fn fail_journal(&mut self, now: Now) {
        self.halted = true;
        self.counters.journal_failures += 1;
        self.decider.on_journal_failure(now);
    }

    fn journal(&mut self, record: &Record) -> Result<u64, carry_journal::JournalError> {
        self.sink
            .append_with(record.kind(), record.ts_ns(), record.encoded_len(), |buf| {
                record.encode(buf)
            })
    }

    /// Journals a decision that is not an intent, and applies it.
    fn record(&mut self, record: Record) -> Result<(), Failed> {
        self.journal(&record).map_err(|_| Failed)?;
        self.apply(&record);
        Ok(())
    }

    /// Journals a decision, applies it, and hands intents to `out`.
    fn emit(&mut self, record: Record, out: &mut Vec<OrderIntent>) -> Result<(), Failed> {
        self.journal(&record).map_err(|_| Failed)?;
        self.apply(&record);
        if let Record::Intent { intent, .. } = record {
            out.push(intent);
        }
        Ok(())
    }

    /// The one place state changes: applies a journaled record.
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Start { .. } => {
                self.book.apply_restart();
                self.counters.restarts += 1;
            }
            Record::Market { now, event } => {
                self.counters.market_events += 1;
                self.decider.on_market(event, *now);
            }
            Record::Exec { now, report } => {
                self.counters.exec_reports += 1;
                let effect = self.book.apply_report_at(report, *now);
                if let Some(fill) = effect.fill {
                    self.positions
                        .apply_fill(fill.venue, fill.instrument, fill.qty, fill.price);
                    self.counters.fills += 1;
                }
                if !effect.matched {
                    self.counters.unmatched_reports += 1;
                    if report.cum_qty_base > Decimal::ZERO {
                        self.counters.unmatched_fills += 1;
                    }
                }
                if let (Some((pair, cycle, leg)), Some(fill)) = (effect.late, effect.fill) {
                    self.counters.late_fills += 1;
                    self.late_fill = Some((pair, cycle, leg, fill));
                }
                match report.kind {
                    ExecKind::Rejected => {
                        self.counters.rejects += 1;
                        self.decider.on_reject(report.venue, *now);
                        if report.reject == crate::execution::order::RejectReason::Auth {
                            // Nothing more goes through on this venue until its key is fixed
                            // and a start's setup passes again.
                            self.decider.on_venue_condition(
                                report.venue,
                                VenueCondition::NotReady,
                                true,
                                *now,
                            );
                        }
                    }
                    ExecKind::Duplicate => self.counters.duplicates += 1,
                    _ => {}
                }
            }
            Record::Command { now, command } => {
                self.counters.commands += 1;
                self.decider.on_command(*command, *now);
            }
            Record::Venue {
                now,
                venue,
                condition,
                on,
            } => {
                self.decider
                    .on_venue_condition(*venue, *condition, *on, *now);
            }
            Record::Tick { now } => {
                self.counters.ticks += 1;
                self.decider.on_tick(*now);
            }
            Record::Intent { now, intent } => {
                self.counters.intents += 1;
                match intent.action {
                    IntentAction::Place => {
                        self.counters.places += 1;
                        if !self.issued.insert(intent.client_order_id) {
                            self.counters.reused_ids += 1;
                        }
                        if intent.attempt > 0 && intent.step != Step::Entry {
                            self.decider.on_retry(intent.venue, *now);
                        }
                    }
                    IntentAction::Resend => self.counters.resends += 1,
                    IntentAction::Query => self.counters.queries += 1,
                    IntentAction::Cancel => self.counters.cancels += 1,
                }
                self.book.apply_intent(intent, *now);
            }
            Record::Cycle { change, .. } => {
                match (change.from, change.to, change.reason) {
                    (CycleState::Flat, CycleState::Entering, _) => {
                        self.counters.cycles_started += 1
                    }
                    (_, CycleState::Flat, CycleReason::EntryMissed) => {
                        self.counters.entries_missed += 1
                    }
                    (_, CycleState::Flat, _) => self.counters.cycles_completed += 1,
                    (_, CycleState::Unwinding, _) if change.from != CycleState::Unwinding => {
                        self.counters.unwinds += 1
                    }
                    _ => {}
                }
                self.book.apply_cycle(change);
            }
            Record::Exposure { now, exposure } => {
                self.counters.exposures += 1;
                if exposure.reason != ExposureReason::Dust {
                    self.book.apply_stalled(exposure.pair, exposure.cycle);
                }
                self.decider.on_leftover_exposure(exposure.pair, *now);
            }
            Record::Spec {
                venue,
                instrument,
                spec,
                ..
            } => self.specs.set(*venue, *instrument, *spec),
            Record::Breaker { .. } | Record::PaperOrder { .. } => {}
        }
    }

    fn evaluate(
        &mut self,
        pair: PairId,
        now: Now,
        out: &mut Vec<OrderIntent>,
    ) -> Result<(), Failed> {
        let in_flight = self.book.state(pair).in_flight();
        let Some(target) = self.decider.evaluate(pair, &self.positions, in_flight, now) else {
            return Ok(());
        };
        match target.reason {
            TargetReason::Enter => match self.book.state(pair) {
                CycleState::Flat => self.enter(&target, now, out),
                CycleState::Open => {
                    self.counters.ignored_open += 1;
                    Ok(())
                }
                _ => {
                    self.counters.rejected_in_flight += 1;
                    Ok(())
                }
            },
            reason => self.request_exit(pair, reason, now),
        }
    }

    /// An exit target or flatten: start the exit, defer it until the cycle settles, or re-arm a
    /// stalled cycle when the exit is forced.
    fn request_exit(&mut self, pair: PairId, reason: TargetReason, now: Now) -> Result<(), Failed> {
        let Some(c) = self.book.cycle(pair) else {
            return Ok(());
        };
        let forced = matches!(reason, TargetReason::ForceExit | TargetReason::Flatten);
        let (to, why) = match c.state {
            CycleState::Flat => return Ok(()),
            CycleState::Open => (CycleState::Exiting, CycleReason::Exit(reason)),
            CycleState::Exiting | CycleState::Unwinding if c.stalled && forced => {
                (c.state, CycleReason::Rearmed)
            }
            CycleState::Entering | CycleState::Unwinding if c.exit_requested.is_none() => {
                (c.state, CycleReason::ExitDeferred(reason))
            }
            // Remembered so that an exit running out of attempts is re-armed, not abandoned.
            CycleState::Exiting if forced && c.exit_requested.is_none() => {
                (c.state, CycleReason::ExitDeferred(reason))
            }
            _ => return Ok(()),
        };
        let change = change_of(pair, c, to, why);
        self.record(Record::Cycle { now, change })
    }

    /// Flat → Entering: sizes the entry on both venues and sends the first leg.
    fn enter(
        &mut self,
        t: &PairTarget,
        now: Now,
        out: &mut Vec<OrderIntent>,
    ) -> Result<(), Failed> {
        let venues = [t.long.venue, t.short.venue];
        let qty = t.long.qty.min(-t.short.qty);
        if qty <= Decimal::ZERO || venues[0] == venues[1] {
            self.counters.bad_targets += 1;
            return Ok(());
        }
        let (Some(long_spec), Some(short_spec)) = (
            self.specs.get(venues[0], t.instrument),
            self.specs.get(venues[1], t.instrument),
        ) else {
            self.counters.blocked_no_spec += 1;
            return Ok(());
        };
        let (Some(long_quote), Some(short_quote)) = (
            self.decider.quote(venues[0], t.instrument),
            self.decider.quote(venues[1], t.instrument),
        ) else {
            self.counters.blocked_no_quote += 1;
            return Ok(());
        };
        let first = choose_first_leg(self.cfg.first_leg, &long_quote, &short_quote);
        let hedge = first.other();
        let specs = [long_spec, short_spec];
        let quotes = [long_quote, short_quote];
        let (fs, hs) = (&specs[first.index()], &specs[hedge.index()]);
        let q = common_entry_qty(qty, fs, hs);
        let side = first.opening_side();
        let Some(price) = protective_price(
            side,
            &quotes[first.index()],
            self.cfg.entry_slippage_bps,
            fs.tick_size,
        ) else {
            self.counters.blocked_no_quote += 1;
            return Ok(());
        };
        let hedge_price = protective_price(
            hedge.opening_side(),
            &quotes[hedge.index()],
            self.cfg.hedge_slippage_bps,
            hs.tick_size,
        )
        .unwrap_or(price);
        let (Ok(size), Ok(_)) = (size_order(q, price, fs), size_order(q, hedge_price, hs)) else {
            self.counters.below_minimum += 1;
            return Ok(());
        };
        let cycle = self.book.next_cycle();
        let change = CycleChange {
            pair: t.pair,
            instrument: t.instrument,
            cycle,
            from: CycleState::Flat,
            to: CycleState::Entering,
            reason: CycleReason::Enter,
            first,
            qty_base: size.base,
            venues,
        };
        self.emit(Record::Cycle { now, change }, out)?;
        let Ok(client_order_id) = ClientOrderId::new(&self.instance, cycle, Step::Entry, first, 0)
        else {
            self.counters.blocked_attempts += 1;
            return Ok(());
        };
        let intent = OrderIntent {
            action: IntentAction::Place,
            client_order_id,
            pair: t.pair,
            cycle,
            step: Step::Entry,
            leg: first,
            attempt: 0,
            venue: venues[first.index()],
            instrument: t.instrument,
            side,
            tif: TimeInForce::Ioc,
            reduce_only: false,
            price,
            qty_base: size.base,
            qty_venue: size.venue,
        };
        self.emit(Record::Intent { now, intent }, out)
    }

    /// Asks the reconciler for the pair's next action until there is none.
    fn drive(&mut self, pair: PairId, now: Now, out: &mut Vec<OrderIntent>) -> Result<(), Failed> {
        for _ in 0..MAX_ACTIONS_PER_PAIR {
            let Some(cycle) = self.book.cycle(pair) else {
                return Ok(());
            };
            let market = MarketView {
                decider: &self.decider,
                specs: &self.specs,
            };
            let ctx = PairContext {
                pair,
                instrument: cycle.instrument,
                cycle,
                instance: &self.instance,
                market: &market,
                params: &self.params,
                now,
            };
            let Some(action) = ctx.next_action() else {
                return Ok(());
            };
            match action {
                Action::Send(intent) => self.emit(Record::Intent { now, intent }, out)?,
                Action::Transition { to, reason } => {
                    let change = change_of(pair, cycle, to, reason);
                    self.emit(Record::Cycle { now, change }, out)?;
                }
                Action::Exposure { reason, then } => {
                    let exposure = ExposureRecord {
                        pair,
                        instrument: cycle.instrument,
                        cycle: cycle.number,
                        venues: cycle.venues,
                        position: cycle.position,
                        reason,
                    };
                    let follow = then.map(|(to, why)| change_of(pair, cycle, to, why));
                    self.emit(Record::Exposure { now, exposure }, out)?;
                    if let Some(change) = follow {
                        self.emit(Record::Cycle { now, change }, out)?;
                    }
                }
                Action::Blocked(b) => {
                    match b {
                        Blocked::NoQuote => self.counters.blocked_no_quote += 1,
                        Blocked::NoSpec => self.counters.blocked_no_spec += 1,
                        Blocked::AttemptOverflow => self.counters.blocked_attempts += 1,
                    }
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ views

    /// Every order whose outcome is unknown (sent before a restart, or unanswered): each is
    /// resolved (queried or resent) before its pair sends anything new.
    pub fn pending_resolutions(&self) -> impl Iterator<Item = &WorkingOrder> {
        self.book.unknown_orders()
    }

    /// Every pair's execution state, in pair order.
    pub fn pairs(&self) -> impl Iterator<Item = PairView> + '_ {
        (0..self.book.len()).map(|i| {
            let pair = PairId(i as u16);
            match self.book.cycle(pair) {
                Some(c) => PairView {
                    pair,
                    state: c.state,
                    cycle: Some(c.number),
                    position: c.position,
                    venues: Some(c.venues),
                    working_orders: c.orders.iter().filter(|o| !o.is_done()).count(),
                    unknown_orders: c
                        .orders
                        .iter()
                        .filter(|o| o.status == crate::execution::cycle::WorkStatus::Unknown)
                        .count(),
                    stalled: c.stalled,
                },
                None => PairView {
                    pair,
                    state: CycleState::Flat,
                    cycle: None,
                    position: [Decimal::ZERO; 2],
                    venues: None,
                    working_orders: 0,
                    unknown_orders: 0,
                    stalled: false,
                },
            }
        })
    }

    /// The pair's live cycle, if any.
    pub fn cycle(&self, pair: PairId) -> Option<&Cycle> {
        self.book.cycle(pair)
    }

    /// The pair's cycle state.
    pub fn state(&self, pair: PairId) -> CycleState {
        self.book.state(pair)
    }

    /// Positions confirmed by fills.
    pub fn positions(&self) -> &Positions {
        &self.positions
    }

    /// Execution counters.
    pub fn counters(&self) -> &ExecCounters {
        &self.counters
    }

    /// The decision half.
    pub fn decider(&self) -> &D {
        &self.decider
    }

    /// The trading rules orders are sized with.
    pub fn specs(&self) -> &SpecTable {
        &self.specs
    }

    /// Whether a journal failure halted the engine.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// The cycle number the next entry will take.
    pub fn next_cycle(&self) -> u32 {
        self.book.next_cycle()
    }

    /// Whether a client order id was ever placed by this engine (across restarts).
    pub fn issued(&self, id: &ClientOrderId) -> bool {
        self.issued.contains(id)
    }

    /// How many client order ids were ever placed.
    pub fn issued_count(&self) -> usize {
        self.issued.len()
    }

    /// The instance prefixing client order ids.
    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    /// Where records go.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Where records go, to flush or inspect.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Gives the record sink back, e.g. to `flush()` the journal at a clean shutdown.
    pub fn into_sink(self) -> S {
        self.sink
    }
}

fn change_of(pair: PairId, c: &Cycle, to: CycleState, reason: CycleReason) -> CycleChange {
    CycleChange {
        pair,
        instrument: c.instrument,
        cycle: c.number,
        from: c.state,
        to,
        reason,
        first: c.first,
        qty_base: c.qty_base,
        venues: c.venues,
    }
}

impl<S: RecordSink> Engine<Decider, S> {
    /// Recomputes the decider's gauges against the confirmed positions (see
    /// [`Decider::refresh_metrics`]); for snapshot publication, not per event.
    pub fn refresh_metrics(&mut self, now: Now) {
        self.decider.refresh_metrics(&self.positions, now);
    }
}

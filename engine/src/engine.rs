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
use serde::{Deserialize, Serialize};

use crate::breaker::BreakerChange;
use crate::client_id::{ClientIdError, ClientOrderId, InstanceId};
use crate::clock::Now;
use crate::command::OperatorCommand;
use crate::config::{check_count, ConfigError};
use crate::cycle::{
    Cycle, CycleChange, CycleReason, CycleState, FillDelta, PairBook, WorkingOrder,
};
use crate::decider::Decider;
use crate::event::{MarketEvent, MarketEventKind, Quote};
use crate::instrument::{InstrumentId, Universe};
use crate::order::{ExecKind, ExecReport, IntentAction, Leg, OrderIntent, Step, TimeInForce};
use crate::position::Positions;
use crate::reconciler::{
    choose_first_leg, common_entry_qty, Action, Blocked, FirstLeg, Market, PairContext,
    ReconcileParams,
};
use crate::record::{
    ExposureReason, ExposureRecord, Record, RecordError, StartRecord, FORMAT_VERSION,
};
use crate::rounding::{protective_price, size_order};
use crate::spec::InstrumentSpec;
use crate::target::{PairId, PairTarget, TargetReason};
use crate::venue::{Venue, VENUE_COUNT};

/// One input of the engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    Market(MarketEvent),
    Exec(ExecReport),
    Command(OperatorCommand),
    /// A timer tick: timeouts, staleness and periodic evaluation run on these.
    Tick,
}

/// How an order of unknown fate is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveMode {
    /// Ask the venue for the order by client order id (safe on every venue).
    Query,
    /// Send the same order again with the same id; the venue's duplicate answer tells its fate.
    /// Only for venues that reject duplicate ids for good (the paper venue does).
    Resend,
}

/// `[execution]`: how targets become orders.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecConfig {
    /// `less_liquid` (default), `long` or `short`: which leg of an entry goes first.
    pub first_leg: FirstLeg,
    /// How far past the touch the first leg's IOC may trade, in basis points.
    pub entry_slippage_bps: Decimal,
    /// The same for hedges and unwinds.
    pub hedge_slippage_bps: Decimal,
    /// The same for exits.
    pub exit_slippage_bps: Decimal,
    /// Hedge orders that may end short (rejected, partly filled, not found) before the first
    /// leg is unwound.
    pub max_hedge_attempts: u16,
    pub max_unwind_attempts: u16,
    /// Per leg, per exit.
    pub max_exit_attempts: u16,
    /// An order with no answer after this long is queried (or resent).
    pub ack_timeout_ms: u64,
    /// Time between two queries of the same order.
    pub probe_interval_ms: u64,
    /// An acknowledged order still working after this long is cancelled.
    pub order_timeout_ms: u64,
    /// Wait before the next attempt after one that executed nothing, doubled for each further
    /// one (rejects in a row, a venue not ready after a restart); 0 retries at once.
    pub retry_backoff_ms: u64,
    /// Longest such wait.
    pub max_retry_backoff_ms: u64,
    pub resolve: ResolveMode,
}

impl Default for ExecConfig {
    fn default() -> ExecConfig {
        ExecConfig {
            first_leg: FirstLeg::LessLiquid,
            entry_slippage_bps: Decimal::from(5),
            hedge_slippage_bps: Decimal::from(20),
            exit_slippage_bps: Decimal::from(20),
            max_hedge_attempts: 5,
            max_unwind_attempts: 5,
            max_exit_attempts: 5,
            ack_timeout_ms: 2_000,
            probe_interval_ms: 1_000,
            order_timeout_ms: 5_000,
            retry_backoff_ms: 250,
            max_retry_backoff_ms: 5_000,
            resolve: ResolveMode::Query,
        }
    }
}

impl ExecConfig {
    /// Checks ranges; errors name the key (`execution.max_hedge_attempts: ...`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bps_max = Decimal::from(1_000);
        for (key, v) in [
            ("execution.entry_slippage_bps", self.entry_slippage_bps),
            ("execution.hedge_slippage_bps", self.hedge_slippage_bps),
            ("execution.exit_slippage_bps", self.exit_slippage_bps),
        ] {
            if v < Decimal::ZERO || v >= bps_max {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be 0 to below 1000 basis points, got {v}"),
                ));
            }
        }
        for (key, v) in [
            ("execution.max_hedge_attempts", self.max_hedge_attempts),
            ("execution.max_unwind_attempts", self.max_unwind_attempts),
            ("execution.max_exit_attempts", self.max_exit_attempts),
        ] {
            if v == 0 || v > 1_000 {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be 1..=1000, got {v}"),
                ));
            }
        }
        for (key, v) in [
            ("execution.ack_timeout_ms", self.ack_timeout_ms),
            ("execution.probe_interval_ms", self.probe_interval_ms),
            ("execution.order_timeout_ms", self.order_timeout_ms),
        ] {
            if v == 0 || v > 3_600_000 {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be 1..=3600000 ms, got {v}"),
                ));
            }
        }
        check_count(
            "execution.retry_backoff_ms",
            self.retry_backoff_ms,
            0,
            60_000,
            " ms",
        )?;
        check_count(
            "execution.max_retry_backoff_ms",
            self.max_retry_backoff_ms,
            0,
            600_000,
            " ms",
        )
    }

    fn params(&self) -> ReconcileParams {
        ReconcileParams {
            hedge_slippage_bps: self.hedge_slippage_bps,
            exit_slippage_bps: self.exit_slippage_bps,
            max_hedge_attempts: self.max_hedge_attempts,
            max_unwind_attempts: self.max_unwind_attempts,
            max_exit_attempts: self.max_exit_attempts,
            ack_timeout_ns: self.ack_timeout_ms.saturating_mul(1_000_000),
            probe_interval_ns: self.probe_interval_ms.saturating_mul(1_000_000),
            order_timeout_ns: self.order_timeout_ms.saturating_mul(1_000_000),
            retry_backoff_ns: self.retry_backoff_ms.saturating_mul(1_000_000),
            max_retry_backoff_ns: self.max_retry_backoff_ms.saturating_mul(1_000_000),
            resolve_by_resend: self.resolve == ResolveMode::Resend,
        }
    }
}

/// What the engine is started with besides the decider and the journal.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// The instance name that prefixes every client order id.
    pub instance: String,
    pub execution: ExecConfig,
    /// The configuration text this engine was built from; journaled in the START record so that
    /// `carry replay` can rebuild the same engine. Opaque to the engine.
    pub config_text: String,
}

/// Why the engine could not open.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("instance: {0}")]
    Instance(#[from] ClientIdError),
    /// The journal's own message names the journal file; wrapping it would print it twice
    /// wherever the error chain is followed.
    #[error(transparent)]
    Journal(#[from] carry_journal::JournalError),
    #[error("journal record {seq}: {source}")]
    Record { seq: u64, source: RecordError },
    #[error(
        "journal record {seq}: written with record format {found}; this build reads {supported}"
    )]
    Format {
        seq: u64,
        found: u16,
        supported: u16,
    },
    #[error("journal record {seq}: written by instance {found:?}, but this engine is instance {expected:?}; client order ids would not continue")]
    InstanceMismatch {
        seq: u64,
        found: String,
        expected: String,
    },
}

/// Where the engine writes its records: the journal, or (for replay and tests) memory.
pub trait RecordSink {
    fn append_with<F: FnOnce(&mut [u8])>(
        &mut self,
        kind: u16,
        ts_ns: u64,
        len: usize,
        encode: F,
    ) -> Result<u64, carry_journal::JournalError>;
}

impl RecordSink for carry_journal::Journal {
    fn append_with<F: FnOnce(&mut [u8])>(
        &mut self,
        kind: u16,
        ts_ns: u64,
        len: usize,
        encode: F,
    ) -> Result<u64, carry_journal::JournalError> {
        carry_journal::Journal::append_with(self, kind, ts_ns, len, encode)
    }
}

/// Records kept in memory: replay's scratch journal, and tests (optionally failing after a
/// number of appends, to exercise the journal-failure path).
#[derive(Debug, Default)]
pub struct MemorySink {
    pub records: Vec<(u16, Vec<u8>)>,
    pub fail_after: Option<usize>,
    appended: usize,
}

impl MemorySink {
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// A sink whose appends fail once `n` have succeeded.
    pub fn failing_after(n: usize) -> MemorySink {
        MemorySink {
            fail_after: Some(n),
            ..MemorySink::default()
        }
    }

    /// Decoded records of one kind, in order.
    pub fn decoded(&self, of_kind: u16) -> Vec<Record> {
        self.records
            .iter()
            .filter(|(k, _)| *k == of_kind)
            .filter_map(|(k, p)| Record::decode(*k, p).ok())
            .collect()
    }
}

impl RecordSink for MemorySink {
    fn append_with<F: FnOnce(&mut [u8])>(
        &mut self,
        kind: u16,
        _ts_ns: u64,
        len: usize,
        encode: F,
    ) -> Result<u64, carry_journal::JournalError> {
        if self.fail_after.is_some_and(|n| self.appended >= n) {
            return Err(carry_journal::JournalError::Io {
                path: "memory".into(),
                op: "append",
                error: std::io::Error::other("injected append failure"),
            });
        }
        let mut buf = vec![0u8; len];
        encode(&mut buf);
        self.records.push((kind, buf));
        self.appended += 1;
        Ok(self.appended as u64)
    }
}

/// The decision half as the engine drives it. [`Decider`] is the real one.
pub trait Decide {
    fn pair_count(&self) -> usize;
    fn on_market(&mut self, ev: &MarketEvent, now: Now);
    fn on_tick(&mut self, now: Now);
    fn on_command(&mut self, cmd: OperatorCommand, now: Now);
    fn on_reject(&mut self, venue: Venue, now: Now);
    fn on_retry(&mut self, venue: Venue, now: Now);
    fn on_leftover_exposure(&mut self, pair: PairId, now: Now);
    fn on_journal_failure(&mut self, now: Now);
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

/// Trading rules per (venue, instrument), indexed without hashing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpecTable {
    slots: Vec<Option<InstrumentSpec>>,
}

impl SpecTable {
    pub fn new(instruments: usize) -> SpecTable {
        SpecTable {
            slots: vec![None; instruments * VENUE_COUNT],
        }
    }

    pub fn get(&self, venue: Venue, instrument: InstrumentId) -> Option<InstrumentSpec> {
        self.slots
            .get(instrument.index() * VENUE_COUNT + venue.index())
            .copied()
            .flatten()
    }

    pub fn set(&mut self, venue: Venue, instrument: InstrumentId, spec: InstrumentSpec) {
        let i = instrument.index() * VENUE_COUNT + venue.index();
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(spec);
    }

    pub fn iter(&self) -> impl Iterator<Item = (Venue, InstrumentId, InstrumentSpec)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.map(|s| {
                (
                    Venue::ALL[i % VENUE_COUNT],
                    InstrumentId((i / VENUE_COUNT) as u16),
                    s,
                )
            })
        })
    }
}

/// Execution counters, for the status view and metrics. Plain numbers, updated in place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExecCounters {
    pub inputs: u64,
    pub market_events: u64,
    pub exec_reports: u64,
    pub commands: u64,
    pub ticks: u64,
    pub intents: u64,
    pub places: u64,
    pub resends: u64,
    pub queries: u64,
    pub cancels: u64,
    pub fills: u64,
    pub rejects: u64,
    pub duplicates: u64,
    pub cycles_started: u64,
    pub cycles_completed: u64,
    pub entries_missed: u64,
    pub unwinds: u64,
    pub exposures: u64,
    /// Entry targets refused because the pair's cycle was in flight.
    pub rejected_in_flight: u64,
    /// Entry targets for a pair already open (no top-ups).
    pub ignored_open: u64,
    /// Entry targets refused for a size below a venue minimum.
    pub below_minimum: u64,
    pub bad_targets: u64,
    pub blocked_no_quote: u64,
    pub blocked_no_spec: u64,
    pub blocked_attempts: u64,
    /// Reports for no order of a live cycle.
    pub unmatched_reports: u64,
    /// Of those, reports carrying an executed quantity (exposure nobody tracks: alarm).
    pub unmatched_fills: u64,
    /// Fills for orders an ended cycle had written off as never placed (reported as exposure).
    pub late_fills: u64,
    /// A client order id placed a second time: must stay 0.
    pub reused_ids: u64,
    pub journal_failures: u64,
    /// Inputs dropped because the engine is halted.
    pub dropped_halted: u64,
    pub restarts: u64,
    pub recovered_records: u64,
}

/// A pair's execution state, for views.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairView {
    pub pair: PairId,
    pub state: CycleState,
    pub cycle: Option<u32>,
    pub position: [Decimal; 2],
    pub venues: Option<[Venue; 2]>,
    pub working_orders: usize,
    pub unknown_orders: usize,
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
    late_fill: Option<(PairId, u32, crate::order::Leg, FillDelta)>,
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
            Input::Tick => {
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
                    }
                    ExecKind::Duplicate => self.counters.duplicates += 1,
                    _ => {}
                }
            }
            Record::Command { now, command } => {
                self.counters.commands += 1;
                self.decider.on_command(*command, *now);
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
                        .filter(|o| o.status == crate::cycle::WorkStatus::Unknown)
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

    pub fn cycle(&self, pair: PairId) -> Option<&Cycle> {
        self.book.cycle(pair)
    }

    pub fn state(&self, pair: PairId) -> CycleState {
        self.book.state(pair)
    }

    pub fn positions(&self) -> &Positions {
        &self.positions
    }

    pub fn counters(&self) -> &ExecCounters {
        &self.counters
    }

    pub fn decider(&self) -> &D {
        &self.decider
    }

    pub fn specs(&self) -> &SpecTable {
        &self.specs
    }

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

    pub fn issued_count(&self) -> usize {
        self.issued.len()
    }

    pub fn instance(&self) -> &InstanceId {
        &self.instance
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_table_parses_with_defaults_and_names_bad_keys() {
        let cfg: ExecConfig = toml::from_str(
            r#"
first_leg = "short"
entry_slippage_bps = "7.5"
hedge_slippage_bps = 30
max_exit_attempts = 9
resolve = "resend"
"#,
        )
        .unwrap();
        assert_eq!(cfg.first_leg, FirstLeg::Short);
        assert_eq!(cfg.entry_slippage_bps, Decimal::new(75, 1));
        assert_eq!(cfg.hedge_slippage_bps, Decimal::from(30));
        assert_eq!((cfg.max_exit_attempts, cfg.max_hedge_attempts), (9, 5));
        assert_eq!(cfg.resolve, ResolveMode::Resend);
        assert!(cfg.validate().is_ok());
        assert_eq!(
            ExecConfig::default(),
            toml::from_str::<ExecConfig>("").unwrap()
        );

        assert!(toml::from_str::<ExecConfig>("max_hedge_atempts = 3").is_err());
        let bad = ExecConfig {
            max_hedge_attempts: 0,
            ..ExecConfig::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.starts_with("execution.max_hedge_attempts: "), "{e}");
        let bad = ExecConfig {
            exit_slippage_bps: Decimal::from(-1),
            ..ExecConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("execution.exit_slippage_bps"));
        // Each backoff refusal names its own key (both used to name retry_backoff_ms).
        let bad = ExecConfig {
            max_retry_backoff_ms: 600_001,
            ..ExecConfig::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert_eq!(
            e,
            "execution.max_retry_backoff_ms: must be 0..=600000 ms, got 600001"
        );
    }

    #[test]
    fn spec_table_indexes_by_venue_and_instrument() {
        let mut t = SpecTable::new(1);
        let spec = InstrumentSpec {
            tick_size: Decimal::ONE,
            lot_size: Decimal::ONE,
            min_qty: Decimal::ONE,
            min_notional: Decimal::ZERO,
            contract_size: None,
        };
        let v = Venue::ALL[3];
        t.set(v, InstrumentId(2), spec);
        assert_eq!(t.get(v, InstrumentId(2)), Some(spec));
        assert_eq!(t.get(Venue::ALL[2], InstrumentId(2)), None);
        assert_eq!(t.get(v, InstrumentId(7)), None);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            vec![(v, InstrumentId(2), spec)]
        );
    }
}

//! Execution scenarios through the real `Engine`: entries with partial fills, hedge retries and
//! compensation, parallel exits, unknown outcomes, duplicate answers, restarts on a real journal,
//! journal failure and replay. Targets come from a scripted decision half (a list of targets
//! released at given times) so each scenario controls exactly when the engine is asked to
//! enter or exit; everything else is the production code.

use std::collections::{HashSet, VecDeque};

use carry_engine::config::{
    BreakerConfig, EngineConfig, ExecConfig, PairConfig, ResolveMode, RiskConfig, StrategyConfig,
};
use carry_engine::decision::breaker::{BreakerChange, VenueCondition};
use carry_engine::decision::command::OperatorCommand;
use carry_engine::engine::{Decide, Engine, EngineError, Input};
use carry_engine::execution::client_id::ClientOrderId;
use carry_engine::execution::cycle::CycleState;
use carry_engine::execution::order::{
    ExecKind, ExecReport, IntentAction, Leg, OrderIntent, OrderStatus, RejectReason, Side, Step,
};
use carry_engine::record::{kind, ExposureReason, Record};
use carry_engine::replay::{replay_records, ReplayOutcome};
use carry_engine::sink::{MemorySink, RecordSink};
use carry_engine::{
    InstrumentId, InstrumentSpec, LegTarget, MarketEvent, MarketEventKind, Now, PairId, PairTarget,
    Positions, Quote, TargetReason, Universe, Venue,
};
use carry_journal::{Journal, JournalOptions, JournalReader};
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

const BTC: InstrumentId = InstrumentId(0);
const PAIR: PairId = PairId(0);

fn spot() -> Venue {
    "binance-spot".parse().unwrap()
}
fn okx() -> Venue {
    "okx-perp".parse().unwrap()
}

/// A decision half that releases scripted targets and remembers what execution told it.
#[derive(Default)]
struct Scripted {
    pairs: Vec<PairId>,
    quotes: Vec<Option<Quote>>,
    targets: VecDeque<(u64, PairTarget)>,
    rejects: Vec<Venue>,
    retries: Vec<Venue>,
    leftovers: Vec<PairId>,
    journal_failures: u32,
    commands: Vec<OperatorCommand>,
    venue_conditions: Vec<(Venue, VenueCondition, bool)>,
    in_flight_seen: Vec<bool>,
}

impl Scripted {
    fn new() -> Scripted {
        Scripted {
            pairs: vec![PAIR],
            quotes: vec![None; 10],
            ..Scripted::default()
        }
    }

    fn with_target(mut self, at_ms: u64, t: PairTarget) -> Scripted {
        self.targets.push_back((at_ms * 1_000_000, t));
        self
    }
}

impl Decide for Scripted {
    fn pair_count(&self) -> usize {
        self.pairs.len()
    }
    fn on_market(&mut self, ev: &MarketEvent, _now: Now) {
        if let MarketEventKind::Quote(q) = ev.kind {
            self.quotes[ev.venue.index()] = Some(q);
        }
    }
    fn on_tick(&mut self, _now: Now) {}
    fn on_command(&mut self, cmd: OperatorCommand, _now: Now) {
        self.commands.push(cmd);
    }
    fn on_reject(&mut self, venue: Venue, _now: Now) {
        self.rejects.push(venue);
    }
    fn on_retry(&mut self, venue: Venue, _now: Now) {
        self.retries.push(venue);
    }
    fn on_venue_condition(&mut self, venue: Venue, condition: VenueCondition, on: bool, _now: Now) {
        self.venue_conditions.push((venue, condition, on));
    }
    fn on_leftover_exposure(&mut self, pair: PairId, _now: Now) {
        self.leftovers.push(pair);
    }
    fn on_journal_failure(&mut self, _now: Now) {
        self.journal_failures += 1;
    }
    fn evaluate(
        &mut self,
        pair: PairId,
        _p: &Positions,
        in_flight: bool,
        now: Now,
    ) -> Option<PairTarget> {
        self.in_flight_seen.push(in_flight);
        match self.targets.front() {
            Some((at, t)) if t.pair == pair && now.mono_ns >= *at => {
                let t = *t;
                self.targets.pop_front();
                Some(t)
            }
            _ => None,
        }
    }
    fn pairs_for(&self, _venue: Venue, _instrument: InstrumentId) -> &[PairId] {
        &self.pairs
    }
    fn pairs_on_venue(&self, _venue: Venue) -> &[PairId] {
        &self.pairs
    }
    fn quote(&self, venue: Venue, _instrument: InstrumentId) -> Option<Quote> {
        self.quotes[venue.index()]
    }
    fn drain_breaker_changes(&mut self, _sink: &mut dyn FnMut(BreakerChange)) {}
}

fn enter(qty: &str) -> PairTarget {
    PairTarget {
        pair: PAIR,
        instrument: BTC,
        long: LegTarget {
            venue: spot(),
            qty: d(qty),
        },
        short: LegTarget {
            venue: okx(),
            qty: -d(qty),
        },
        reason: TargetReason::Enter,
    }
}

fn exit(reason: TargetReason) -> PairTarget {
    PairTarget {
        pair: PAIR,
        instrument: BTC,
        long: LegTarget {
            venue: spot(),
            qty: Decimal::ZERO,
        },
        short: LegTarget {
            venue: okx(),
            qty: Decimal::ZERO,
        },
        reason,
    }
}

fn universe() -> Universe {
    let mut u = Universe::new();
    let btc = u.add("BTC-USDT").unwrap();
    u.set_symbol(btc, spot(), "BTCUSDT");
    u.set_symbol(btc, okx(), "BTC-USDT-SWAP");
    u
}

fn specs() -> Vec<(Venue, InstrumentId, InstrumentSpec)> {
    vec![
        (
            spot(),
            BTC,
            InstrumentSpec {
                tick_size: d("0.01"),
                lot_size: d("0.00001"),
                min_qty: d("0.00001"),
                min_notional: d("5"),
                contract_size: None,
            },
        ),
        (
            okx(),
            BTC,
            // 0.01 BTC per contract, whole contracts: 0.01 BTC steps.
            InstrumentSpec {
                tick_size: d("0.1"),
                lot_size: d("1"),
                min_qty: d("1"),
                min_notional: d("0"),
                contract_size: Some(d("0.01")),
            },
        ),
    ]
}

fn exec_config() -> ExecConfig {
    ExecConfig {
        max_hedge_attempts: 3,
        max_unwind_attempts: 3,
        max_exit_attempts: 3,
        ack_timeout_ms: 1_000,
        probe_interval_ms: 500,
        order_timeout_ms: 10_000,
        // Immediate retries keep the scenarios short; `empty_attempts_back_off` covers backoff.
        retry_backoff_ms: 0,
        ..ExecConfig::default()
    }
}

fn config(execution: ExecConfig) -> EngineConfig {
    EngineConfig {
        instance: "t1".into(),
        execution,
        config_text: "scripted".into(),
    }
}

fn at(ms: u64) -> Now {
    Now::new(ms * 1_000_000, 1_700_000_000_000 + ms as i64)
}

fn quote_event(venue: Venue, bid: &str, bid_qty: &str, ask: &str, ask_qty: &str, ms: u64) -> Input {
    Input::Market(MarketEvent {
        venue,
        instrument: BTC,
        ts_ms: at(ms).unix_ms,
        recv_ns: at(ms).mono_ns,
        kind: MarketEventKind::Quote(Quote {
            bid: d(bid),
            bid_qty: d(bid_qty),
            ask: d(ask),
            ask_qty: d(ask_qty),
        }),
    })
}

fn report(i: &OrderIntent, kind: ExecKind, status: OrderStatus, cum: &str, avg: &str) -> Input {
    let mut r = ExecReport::new(i.client_order_id, i.venue, i.instrument, kind, status);
    r.cum_qty_base = d(cum);
    r.avg_price = d(avg);
    if status == OrderStatus::Rejected {
        r.reject = RejectReason::InsufficientBalance;
    }
    Input::Exec(r)
}

/// Drives an engine on a memory sink and keeps the time.
struct Harness<S: RecordSink = MemorySink> {
    engine: Engine<Scripted, S>,
    ms: u64,
    sent: Vec<OrderIntent>,
}

impl Harness<MemorySink> {
    fn new(decider: Scripted, execution: ExecConfig) -> Harness {
        Harness::on(decider, execution, MemorySink::new())
    }

    fn on(decider: Scripted, execution: ExecConfig, sink: MemorySink) -> Harness {
        let mut engine = Engine::new(config(execution), &universe(), decider, sink).unwrap();
        engine.start(&specs(), at(0)).unwrap();
        let mut h = Harness {
            engine,
            ms: 0,
            sent: Vec::new(),
        };
        h.quotes();
        h
    }

    /// Enters 1 BTC fully hedged, then asks for its exit; returns the exit orders it sends.
    fn exiting() -> (Harness, Vec<OrderIntent>) {
        let decider = Scripted::new()
            .with_target(1, enter("1"))
            .with_target(10, exit(TargetReason::Exit));
        let mut h = Harness::new(decider, exec_config());
        h.open_position();
        let exits = h.tick(10);
        (h, exits)
    }
}

impl<S: RecordSink> Harness<S> {
    /// The spot ask is thin (0.5) and the perp bid deep (10): the spot leg goes first.
    fn quotes(&mut self) {
        self.input(quote_event(spot(), "100.00", "3", "100.10", "0.5", self.ms));
        self.input(quote_event(okx(), "100.20", "10", "100.30", "10", self.ms));
    }

    fn input(&mut self, input: Input) -> Vec<OrderIntent> {
        let mut out = Vec::new();
        self.engine.on_event(&input, at(self.ms), &mut out);
        self.sent.extend_from_slice(&out);
        out
    }

    fn tick(&mut self, advance_ms: u64) -> Vec<OrderIntent> {
        self.ms += advance_ms;
        self.input(Input::Tick)
    }

    fn answer(
        &mut self,
        i: &OrderIntent,
        kind: ExecKind,
        status: OrderStatus,
        cum: &str,
    ) -> Vec<OrderIntent> {
        self.input(report(i, kind, status, cum, "100.1"))
    }

    fn state(&self) -> CycleState {
        self.engine.state(PAIR)
    }

    /// Enters 1 BTC fully hedged; returns (entry, hedge).
    fn open_position(&mut self) -> (OrderIntent, OrderIntent) {
        let entry = one(self.tick(1));
        let hedge = one(self.answer(&entry, ExecKind::Fill, OrderStatus::Filled, "1"));
        assert!(self
            .answer(&hedge, ExecKind::Fill, OrderStatus::Filled, "1")
            .is_empty());
        assert_eq!(self.state(), CycleState::Open);
        (entry, hedge)
    }
}

fn one(mut v: Vec<OrderIntent>) -> OrderIntent {
    assert_eq!(v.len(), 1, "expected exactly one intent, got {v:#?}");
    v.remove(0)
}

#[test]
fn partial_first_leg_gets_a_hedge_of_exactly_the_executed_quantity() {
    let mut h = Harness::new(Scripted::new().with_target(1, enter("1")), exec_config());
    let entry = one(h.tick(1));
    assert_eq!(h.state(), CycleState::Entering);
    // The less liquid leg (thin spot ask) goes first, as a limit IOC capped 5 bp over the ask.
    assert_eq!(
        (entry.step, entry.leg, entry.venue, entry.side),
        (Step::Entry, Leg::Long, spot(), Side::Buy)
    );
    assert_eq!(
        (entry.action, entry.tif),
        (
            IntentAction::Place,
            carry_engine::execution::order::TimeInForce::Ioc
        )
    );
    assert_eq!((entry.qty_base, entry.price), (d("1"), d("100.15")));

    // 60 % executes, then the IOC remainder expires.
    let hedge = one(h.answer(&entry, ExecKind::PartialFill, OrderStatus::Open, "0.6"));
    assert!(h
        .answer(&entry, ExecKind::Canceled, OrderStatus::Canceled, "0.6")
        .is_empty());
    assert_eq!(
        (hedge.step, hedge.leg, hedge.venue, hedge.side),
        (Step::Hedge, Leg::Short, okx(), Side::Sell)
    );
    assert_eq!(
        (hedge.qty_base, hedge.qty_venue),
        (d("0.6"), d("60")),
        "0.6 BTC = 60 contracts of 0.01"
    );
    assert!(!hedge.reduce_only);

    assert!(h
        .answer(&hedge, ExecKind::Fill, OrderStatus::Filled, "0.6")
        .is_empty());
    assert_eq!(h.state(), CycleState::Open);
    let pos = h.engine.positions();
    assert_eq!(pos.get(spot(), BTC).qty, d("0.6"));
    assert_eq!(pos.get(okx(), BTC).qty, d("-0.6"));
    assert_eq!(
        h.engine.cycle(PAIR).unwrap().position,
        [d("0.6"), d("-0.6")]
    );
}

#[test]
fn rejected_hedge_is_retried_with_new_ids_then_the_first_leg_is_unwound_from_fills() {
    let mut h = Harness::new(Scripted::new().with_target(1, enter("1")), exec_config());
    let entry = one(h.tick(1));
    let mut hedges = vec![one(h.answer(
        &entry,
        ExecKind::Fill,
        OrderStatus::Filled,
        "0.8",
    ))];
    for _ in 0..2 {
        let last = *hedges.last().unwrap();
        hedges.push(one(h.answer(
            &last,
            ExecKind::Rejected,
            OrderStatus::Rejected,
            "0",
        )));
    }
    let ids: HashSet<_> = hedges.iter().map(|i| i.client_order_id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(
        hedges.iter().map(|i| i.attempt).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert!(hedges
        .iter()
        .all(|i| i.qty_base == d("0.8") && i.step == Step::Hedge));

    // The third reject exhausts the hedge: the 0.8 the first leg executed is sold back.
    let unwind = one(h.answer(&hedges[2], ExecKind::Rejected, OrderStatus::Rejected, "0"));
    assert_eq!(h.state(), CycleState::Unwinding);
    assert_eq!(
        (unwind.step, unwind.leg, unwind.venue, unwind.side),
        (Step::Unwind, Leg::Long, spot(), Side::Sell)
    );
    assert_eq!(unwind.qty_base, d("0.8"));
    assert!(!ids.contains(&unwind.client_order_id));
    assert!(h
        .answer(&unwind, ExecKind::Fill, OrderStatus::Filled, "0.8")
        .is_empty());
    assert_eq!(h.state(), CycleState::Flat);
    assert_eq!(h.engine.positions().get(spot(), BTC).qty, Decimal::ZERO);
    let d = h.engine.decider();
    assert_eq!(d.rejects, vec![okx(); 3]);
    assert_eq!(
        d.retries,
        vec![okx(); 2],
        "hedge retries count toward the reject-rate breaker"
    );
}

#[test]
fn partly_hedged_cycle_unwinds_only_what_the_hedge_did_not_match() {
    let mut h = Harness::new(Scripted::new().with_target(1, enter("1")), exec_config());
    let entry = one(h.tick(1));
    let h0 = one(h.answer(&entry, ExecKind::Fill, OrderStatus::Filled, "1"));
    // The hedge IOC executes 0.4 and expires: the rest goes out with the next attempt. That
    // one made progress, so it does not use up the budget; three empty attempts do.
    let h1 = one(h.answer(&h0, ExecKind::Canceled, OrderStatus::Canceled, "0.4"));
    assert_eq!((h1.attempt, h1.qty_base), (1, d("0.6")));
    let h2 = one(h.answer(&h1, ExecKind::Rejected, OrderStatus::Rejected, "0"));
    let h3 = one(h.answer(&h2, ExecKind::Canceled, OrderStatus::Canceled, "0"));
    assert_eq!((h3.step, h3.attempt), (Step::Hedge, 3));
    let unwind = one(h.answer(&h3, ExecKind::Rejected, OrderStatus::Rejected, "0"));
    assert_eq!((unwind.step, unwind.qty_base), (Step::Unwind, d("0.6")));
    assert!(h
        .answer(&unwind, ExecKind::Fill, OrderStatus::Filled, "0.6")
        .is_empty());
    assert_eq!(h.state(), CycleState::Open);
    assert_eq!(
        h.engine.cycle(PAIR).unwrap().position,
        [d("0.4"), d("-0.4")]
    );
}

#[test]
fn exit_closes_both_legs_in_parallel_and_a_rejected_leg_does_not_block_the_other() {
    let (mut h, exits) = Harness::exiting();
    assert_eq!(
        exits.len(),
        2,
        "both legs leave on the same input: {exits:#?}"
    );
    assert_eq!(h.state(), CycleState::Exiting);
    let (long, short) = (exits[0], exits[1]);
    assert_eq!(
        (long.leg, long.side, long.qty_base, long.reduce_only),
        (Leg::Long, Side::Sell, d("1"), false)
    );
    assert_eq!(
        (short.leg, short.side, short.qty_venue, short.reduce_only),
        (Leg::Short, Side::Buy, d("100"), true)
    );
    assert!(exits.iter().all(|i| i.step == Step::Exit));

    let retry = one(h.answer(&long, ExecKind::Rejected, OrderStatus::Rejected, "0"));
    assert_eq!((retry.leg, retry.attempt), (Leg::Long, 1));
    assert!(h
        .answer(&short, ExecKind::Fill, OrderStatus::Filled, "1")
        .is_empty());
    assert_eq!(h.state(), CycleState::Exiting);
    assert!(h
        .answer(&retry, ExecKind::Fill, OrderStatus::Filled, "1")
        .is_empty());
    assert_eq!(h.state(), CycleState::Flat);
    assert!(h.engine.positions().open().next().is_none());
    assert_eq!(h.engine.counters().cycles_completed, 1);
}

#[test]
fn exit_out_of_attempts_reports_exposure_and_waits_for_a_forced_exit() {
    let (mut h, exits) = Harness::exiting();
    h.answer(&exits[1], ExecKind::Fill, OrderStatus::Filled, "1");
    let mut long = exits[0];
    for _ in 0..2 {
        long = one(h.answer(&long, ExecKind::Rejected, OrderStatus::Rejected, "0"));
    }
    assert!(h
        .answer(&long, ExecKind::Rejected, OrderStatus::Rejected, "0")
        .is_empty());
    let exposures = h.engine.sink().decoded(kind::EXPOSURE);
    assert_eq!(exposures.len(), 1);
    let Record::Exposure { exposure, .. } = &exposures[0] else {
        unreachable!()
    };
    assert_eq!(
        (exposure.reason, exposure.position),
        (ExposureReason::ExitExhausted, [d("1"), d("0")])
    );
    assert_eq!(h.engine.decider().leftovers, vec![PAIR]);
    assert!(h.engine.cycle(PAIR).unwrap().stalled);
    assert!(
        h.tick(5_000).is_empty(),
        "a stalled exit sends nothing on its own"
    );

    // An operator flatten re-arms it with fresh attempts (new ids).
    let again = one(h.input(Input::Command(OperatorCommand::Flatten)));
    assert_eq!(
        (again.leg, again.step, again.attempt),
        (Leg::Long, Step::Exit, 3)
    );
    h.answer(&again, ExecKind::Fill, OrderStatus::Filled, "1");
    assert_eq!(h.state(), CycleState::Flat);
}

#[test]
fn trigger_while_a_cycle_is_in_flight_is_rejected_and_counted() {
    let decider = Scripted::new()
        .with_target(1, enter("1"))
        .with_target(2, enter("1"));
    let mut h = Harness::new(decider, exec_config());
    let entry = one(h.tick(1));
    assert!(h.tick(1).is_empty());
    assert_eq!(h.engine.counters().rejected_in_flight, 1);
    assert_eq!(h.engine.counters().cycles_started, 1);
    assert!(h.engine.decider().in_flight_seen.contains(&true));
    assert_eq!(entry.cycle, 1);
}

#[test]
fn silence_is_queried_and_nothing_new_goes_out_until_it_is_resolved() {
    let mut h = Harness::new(Scripted::new().with_target(1, enter("1")), exec_config());
    let entry = one(h.tick(1));
    let hedge = one(h.answer(&entry, ExecKind::Fill, OrderStatus::Filled, "1"));
    assert!(h.tick(999).is_empty(), "ack timeout not reached");
    let q = one(h.tick(1));
    assert_eq!(
        (q.action, q.client_order_id),
        (IntentAction::Query, hedge.client_order_id)
    );
    assert_eq!(h.engine.pending_resolutions().count(), 1);
    assert!(
        h.tick(100).is_empty(),
        "no new hedge while the first one's fate is unknown"
    );
    // Two "not found" answers prove it never reached the venue: a new attempt goes out.
    h.answer(&q, ExecKind::QueryAnswer, OrderStatus::NotFound, "0");
    assert!(h.tick(100).is_empty());
    let q2 = one(h.tick(400));
    assert_eq!(q2.action, IntentAction::Query);
    let retry = one(h.answer(&q2, ExecKind::QueryAnswer, OrderStatus::NotFound, "0"));
    assert_eq!(
        (retry.action, retry.step, retry.attempt, retry.qty_base),
        (IntentAction::Place, Step::Hedge, 1, d("1"))
    );
}

#[test]
fn duplicate_answer_to_a_resend_resolves_to_the_existing_order() {
    let cfg = ExecConfig {
        resolve: ResolveMode::Resend,
        ..exec_config()
    };
    let mut h = Harness::new(Scripted::new().with_target(1, enter("1")), cfg);
    let entry = one(h.tick(1));
    let resend = one(h.tick(1_000));
    assert_eq!(
        (resend.action, resend.client_order_id),
        (IntentAction::Resend, entry.client_order_id)
    );
    assert_eq!(
        (resend.qty_base, resend.price),
        (entry.qty_base, entry.price)
    );
    // The venue already had it, filled 0.7: that is the order's state, not an error.
    let mut dup = ExecReport::new(
        entry.client_order_id,
        entry.venue,
        BTC,
        ExecKind::Duplicate,
        OrderStatus::Canceled,
    );
    dup.cum_qty_base = d("0.7");
    dup.avg_price = d("100.1");
    let hedge = one(h.input(Input::Exec(dup)));
    assert_eq!((hedge.step, hedge.qty_base), (Step::Hedge, d("0.7")));
    assert_eq!(h.engine.counters().duplicates, 1);
    assert_eq!(h.engine.counters().rejects, 0);
}

#[test]
fn journal_failure_returns_nothing_and_halts() {
    // START + 2 specs + 2 quotes = 5 records; the tick (6) and the cycle change (7) fit, the
    // entry intent (8) does not.
    let mut h = Harness::on(
        Scripted::new().with_target(1, enter("1")),
        exec_config(),
        MemorySink::failing_after(7),
    );
    assert!(
        h.tick(1).is_empty(),
        "an intent whose record failed is never handed out"
    );
    assert!(h.engine.is_halted());
    assert_eq!(h.engine.decider().journal_failures, 1);
    assert!(h.tick(1).is_empty());
    assert_eq!(h.engine.counters().dropped_halted, 1);
    assert_eq!(h.engine.sink().decoded(kind::INTENT).len(), 0);
}

fn open_on(
    dir: &std::path::Path,
    decider: Scripted,
    execution: ExecConfig,
    ms: u64,
) -> Harness<Journal> {
    let opts = JournalOptions::default().segment_size(1 << 20);
    let (journal, _) = Journal::open(dir, opts).unwrap();
    let engine = Engine::open(
        config(execution),
        &universe(),
        decider,
        &specs(),
        journal,
        at(ms),
    )
    .unwrap();
    Harness {
        engine,
        ms,
        sent: Vec::new(),
    }
}

#[test]
fn restart_resolves_unknown_orders_before_sending_anything_new() {
    let dir = tempfile::tempdir().unwrap();
    let (entry, hedge);
    {
        let mut h = open_on(
            dir.path(),
            Scripted::new().with_target(1, enter("1")),
            exec_config(),
            0,
        );
        h.quotes();
        entry = one(h.tick(1));
        hedge = one(h.answer(&entry, ExecKind::PartialFill, OrderStatus::Open, "0.5"));
        // The process dies here: the hedge is journaled, its fate unknown.
    }
    // The decider after restart would enter again right away: it must be refused.
    let mut h = open_on(
        dir.path(),
        Scripted::new().with_target(0, enter("1")),
        exec_config(),
        50,
    );
    assert_eq!(h.engine.state(PAIR), CycleState::Entering);
    let pending: Vec<ClientOrderId> = h
        .engine
        .pending_resolutions()
        .map(|o| o.intent.client_order_id)
        .collect();
    assert_eq!(pending, vec![entry.client_order_id, hedge.client_order_id]);
    assert!(h.engine.issued(&entry.client_order_id) && h.engine.issued(&hedge.client_order_id));
    assert_eq!(h.engine.positions().get(spot(), BTC).qty, d("0.5"));
    // Quotes were rebuilt from the journal too; the first input resolves both orders.
    let probes = h.tick(1);
    assert_eq!(probes.len(), 2);
    assert!(probes.iter().all(|p| p.action == IntentAction::Query));
    assert_eq!(h.engine.counters().rejected_in_flight, 1);
    // The entry finished at 0.5, the hedge filled: the cycle is open with matching legs.
    h.answer(&entry, ExecKind::QueryAnswer, OrderStatus::Canceled, "0.5");
    assert!(h
        .answer(&hedge, ExecKind::QueryAnswer, OrderStatus::Filled, "0.5")
        .is_empty());
    assert_eq!(h.engine.state(PAIR), CycleState::Open);
    assert!(
        h.sent.iter().all(|i| i.action != IntentAction::Place),
        "nothing placed after the restart"
    );
    assert_eq!(
        h.engine.counters().places,
        2,
        "the two places before the crash, recovered"
    );
    assert_eq!(h.engine.next_cycle(), 2);
}

#[test]
fn reopening_the_same_journal_twice_sends_nothing_and_rebuilds_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    {
        let decider = Scripted::new().with_target(1, enter("1"));
        let mut h = open_on(dir.path(), decider, exec_config(), 0);
        h.quotes();
        h.open_position();
    }
    let mut states = Vec::new();
    for round in 0..2 {
        let mut h = open_on(dir.path(), Scripted::new(), exec_config(), 100 + round);
        assert!(h.tick(1).is_empty());
        states.push((
            h.engine.state(PAIR),
            h.engine.cycle(PAIR).unwrap().position,
            h.engine.issued_count(),
            h.engine.next_cycle(),
            h.engine.positions().get(okx(), BTC).qty,
        ));
    }
    assert_eq!(states[0], states[1]);
    assert_eq!(
        states[0],
        (CycleState::Open, [d("1"), d("-1")], 2, 2, d("-1"))
    );
}

#[test]
fn a_gateway_record_is_journaled_as_given_and_skipped_by_recovery_and_replay() {
    const GATEWAY_KIND: u16 = 64;
    let payload: &[u8] = b"opaque to the engine";
    let decider = || Scripted::new().with_target(1, enter("1"));
    let dir = tempfile::tempdir().unwrap();
    let entry = {
        let mut h = open_on(dir.path(), decider(), exec_config(), 0);
        h.quotes();
        h.engine
            .journal_gateway_record(GATEWAY_KIND, payload, at(0))
            .unwrap();
        for refused in [kind::TICK, kind::PAPER_ORDER, 128, 0] {
            let e = h
                .engine
                .journal_gateway_record(refused, payload, at(0))
                .unwrap_err();
            assert!(
                matches!(e, EngineError::NotGatewayKind(k) if k == refused),
                "{e}"
            );
        }
        one(h.tick(1))
    };
    let reader = JournalReader::open(dir.path()).unwrap();
    let records: Vec<(u64, u16, Vec<u8>)> = reader
        .iter_from(1)
        .map(|r| r.map(|r| (r.seq, r.kind, r.payload.to_vec())).unwrap())
        .collect();
    let gateway: Vec<&(u64, u16, Vec<u8>)> = records
        .iter()
        .filter(|r| r.1 != kind::TICK && !kind::ENGINE.contains(&r.1))
        .collect();
    assert_eq!(gateway.len(), 1, "the refused kinds journaled nothing");
    assert_eq!(
        (gateway[0].1, gateway[0].2.as_slice()),
        (GATEWAY_KIND, payload)
    );

    // A restart reads past it to the cycle the entry started.
    let h = open_on(dir.path(), Scripted::new(), exec_config(), 50);
    assert_eq!(h.engine.state(PAIR), CycleState::Entering);
    assert!(h.engine.issued(&entry.client_order_id));
    // Replay too, and finds the same entry.
    match replay_records(&records, |_| {
        Ok((config(exec_config()), universe(), decider()))
    })
    .unwrap()
    {
        ReplayOutcome::Identical(stats) => assert_eq!(stats.identical, 1),
        ReplayOutcome::Diverged(d) => panic!("diverged: {d:?}"),
    }
}

#[test]
fn a_gateway_record_that_fails_to_append_halts_the_engine() {
    // START, two specs and two quotes fit; the gateway record does not.
    let mut h = Harness::on(Scripted::new(), exec_config(), MemorySink::failing_after(5));
    assert!(!h.engine.is_halted());
    let e = h
        .engine
        .journal_gateway_record(64, b"x", at(0))
        .unwrap_err();
    assert!(matches!(e, EngineError::Journal(_)), "{e}");
    assert!(h.engine.is_halted());
    let e = h
        .engine
        .journal_gateway_record(64, b"x", at(0))
        .unwrap_err();
    assert!(matches!(e, EngineError::Halted), "{e}");
}

#[test]
fn every_placed_id_is_unique_short_and_alphanumeric() {
    let decider = Scripted::new()
        .with_target(1, enter("1"))
        .with_target(20, exit(TargetReason::Exit))
        .with_target(40, enter("1"));
    let mut h = Harness::new(decider, exec_config());
    for _ in 0..2 {
        let entry = one(h.tick(20));
        let h0 = one(h.answer(&entry, ExecKind::Fill, OrderStatus::Filled, "1"));
        let h1 = one(h.answer(&h0, ExecKind::Rejected, OrderStatus::Rejected, "0"));
        h.answer(&h1, ExecKind::Fill, OrderStatus::Filled, "1");
        if h.state() == CycleState::Open && h.engine.next_cycle() == 2 {
            for x in h.tick(19) {
                h.answer(&x, ExecKind::Fill, OrderStatus::Filled, "1");
            }
        }
    }
    let placed: Vec<&OrderIntent> = h
        .sent
        .iter()
        .filter(|i| i.action == IntentAction::Place)
        .collect();
    assert!(placed.len() >= 8, "{placed:#?}");
    let ids: HashSet<_> = placed.iter().map(|i| i.client_order_id).collect();
    assert_eq!(ids.len(), placed.len());
    for id in ids {
        assert!(id.len() <= 28 && id.as_str().starts_with("t1"));
        assert!(id.as_bytes().iter().all(u8::is_ascii_alphanumeric));
    }
    assert_eq!(h.engine.counters().reused_ids, 0);
}

#[test]
fn replay_of_a_scripted_run_is_identical() {
    let decider = || {
        Scripted::new()
            .with_target(1, enter("1"))
            .with_target(10, exit(TargetReason::Exit))
    };
    let mut h = Harness::new(decider(), exec_config());
    let entry = one(h.tick(1));
    let h0 = one(h.answer(&entry, ExecKind::Fill, OrderStatus::Filled, "0.7"));
    h.answer(&h0, ExecKind::Fill, OrderStatus::Filled, "0.7");
    for x in h.tick(10) {
        h.answer(&x, ExecKind::Fill, OrderStatus::Filled, "0.7");
    }
    assert_eq!(h.state(), CycleState::Flat);
    let records: Vec<(u64, u16, Vec<u8>)> = h
        .engine
        .sink()
        .records
        .iter()
        .enumerate()
        .map(|(i, (k, p))| (i as u64 + 1, *k, p.clone()))
        .collect();
    let outcome = replay_records(&records, |_| {
        Ok((config(exec_config()), universe(), decider()))
    })
    .unwrap();
    match outcome {
        ReplayOutcome::Identical(stats) => assert_eq!(stats.identical, h.sent.len()),
        ReplayOutcome::Diverged(d) => panic!("diverged: {d:?}"),
    }

    // A different decision half diverges, and replay says where.
    let mut tampered = records.clone();
    let pos = tampered
        .iter()
        .position(|(_, k, _)| *k == kind::INTENT)
        .unwrap();
    let Record::Intent { now, mut intent } =
        Record::decode(kind::INTENT, &tampered[pos].2).unwrap()
    else {
        unreachable!()
    };
    intent.qty_base = d("0.9");
    tampered[pos].2 = Record::Intent { now, intent }.to_bytes();
    match replay_records(&tampered, |_| {
        Ok((config(exec_config()), universe(), decider()))
    })
    .unwrap()
    {
        ReplayOutcome::Diverged(div) => {
            assert_eq!(div.seq, tampered[pos].0);
            assert!(
                div.expected.contains("0.9") && div.got.contains("\"qty_base\":\"1\""),
                "{div:?}"
            );
        }
        ReplayOutcome::Identical(_) => panic!("a changed intent must diverge"),
    }
}

mod allocations {
    //! Counts heap allocations made by the current thread while counting is switched on.
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub struct Counting;

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // try_with: the thread-locals may already be gone while a thread shuts down.
            let _ = ON.try_with(|on| {
                if on.get() {
                    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
                }
            });
            // SAFETY: forwarding the caller's layout unchanged to the system allocator.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System.alloc` with this layout (see `alloc`).
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// Allocations made by this thread while running `f`.
    pub fn during(f: impl FnOnce()) -> u64 {
        COUNT.with(|c| c.set(0));
        ON.with(|on| on.set(true));
        f();
        ON.with(|on| on.set(false));
        COUNT.with(|c| c.get())
    }
}

#[global_allocator]
static ALLOC: allocations::Counting = allocations::Counting;

#[test]
fn market_events_do_not_allocate_after_warm_up() {
    use carry_engine::{Decider, DeciderConfig, Funding, VenueParams};

    #[derive(serde::Deserialize)]
    struct Tables {
        strategy: StrategyConfig,
        risk: RiskConfig,
        breakers: BreakerConfig,
        pairs: Vec<PairConfig>,
    }
    let t: Tables = toml::from_str(
        r#"
[strategy]
entry_apr = "0.10"
exit_apr = "0.02"
[risk]
max_notional_per_pair = 10000
max_total_notional = 15000
[breakers]
[[pairs]]
instrument = "BTC-USDT"
long = "binance-spot"
short = "okx-perp"
order_qty = "0.5"
"#,
    )
    .unwrap();
    let cfg = DeciderConfig {
        pairs: t.pairs,
        strategy: t.strategy,
        risk: t.risk,
        breakers: t.breakers,
        venues: [VenueParams {
            taker_fee: d("0.0005"),
            maker_fee: d("0.0002"),
            maintenance_margin_rate: None,
            leverage: None,
        }; 10],
    };
    let decider = Decider::new(cfg, &universe()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) =
        Journal::open(dir.path(), JournalOptions::default().segment_size(64 << 20)).unwrap();
    let mut engine = Engine::open(
        config(exec_config()),
        &universe(),
        decider,
        &specs(),
        journal,
        at(0),
    )
    .unwrap();
    let mut out = Vec::with_capacity(16);
    let mut ms = 0;
    let feed = |engine: &mut Engine<Decider, Journal>,
                out: &mut Vec<OrderIntent>,
                ms: &mut u64,
                rate: &str| {
        for i in 0..200u64 {
            *ms += 1;
            let bid = Decimal::new(10_000 + (i % 7) as i64, 2);
            let quote = |venue| {
                Input::Market(MarketEvent {
                    venue,
                    instrument: BTC,
                    ts_ms: at(*ms).unix_ms,
                    recv_ns: at(*ms).mono_ns,
                    kind: MarketEventKind::Quote(Quote {
                        bid,
                        bid_qty: d("3"),
                        ask: bid + d("0.01"),
                        ask_qty: d("3"),
                    }),
                })
            };
            engine.on_event(&quote(spot()), at(*ms), out);
            engine.on_event(&quote(okx()), at(*ms), out);
            let funding = Input::Market(MarketEvent {
                venue: okx(),
                instrument: BTC,
                ts_ms: at(*ms).unix_ms,
                recv_ns: at(*ms).mono_ns,
                kind: MarketEventKind::Funding(Funding {
                    rate: d(rate),
                    predicted_rate: None,
                    next_funding_time_ms: 1_700_006_400_000,
                    interval_ms: Some(28_800_000),
                    mark_price: Some(bid),
                    index_price: None,
                }),
            });
            engine.on_event(&funding, at(*ms), out);
            if i % 10 == 0 {
                engine.on_event(&Input::Tick, at(*ms), out);
            }
        }
    };
    assert_eq!(
        allocations::during(|| drop(std::hint::black_box(vec![1u8]))),
        1,
        "the counter counts"
    );
    // Below the entry threshold: the decision half evaluates the pair on every event.
    feed(&mut engine, &mut out, &mut ms, "0.00001");
    let allocated = allocations::during(|| feed(&mut engine, &mut out, &mut ms, "0.00001"));
    assert!(out.is_empty(), "no entry below the threshold");
    assert_eq!(
        allocated, 0,
        "allocations on the market-event path after warm-up"
    );
    assert_eq!(engine.counters().market_events, 1_200);

    // Open a position, then hold it: the open cycle is reconciled on every event too. The
    // entry itself (funding crosses the threshold → journaled entry intent) is the socket-to-
    // intent hot path, so it is counted as well.
    let allocated = allocations::during(|| feed(&mut engine, &mut out, &mut ms, "0.0005"));
    assert_eq!(allocated, 0, "allocations on the path to the entry intent");
    let entry = out
        .iter()
        .find(|i| i.step == Step::Entry)
        .copied()
        .expect("an entry");
    out.clear();
    let mut fill = |i: &OrderIntent, out: &mut Vec<OrderIntent>| {
        let mut r = ExecReport::new(
            i.client_order_id,
            i.venue,
            BTC,
            ExecKind::Fill,
            OrderStatus::Filled,
        );
        r.cum_qty_base = i.qty_base;
        r.avg_price = i.price;
        engine.on_event(&Input::Exec(r), at(ms), out);
    };
    let allocated = allocations::during(|| fill(&entry, &mut out));
    assert_eq!(
        allocated, 0,
        "allocations from the entry's fill to the hedge intent"
    );
    let hedge = out.pop().expect("a hedge");
    fill(&hedge, &mut out);
    assert_eq!(engine.state(PAIR), CycleState::Open);
    feed(&mut engine, &mut out, &mut ms, "0.0005");
    let allocated = allocations::during(|| feed(&mut engine, &mut out, &mut ms, "0.0005"));
    assert!(out.is_empty(), "holding: {out:#?}");
    assert_eq!(allocated, 0, "allocations while holding a position");
}

#[test]
fn a_flatten_during_an_exit_re_arms_it_instead_of_giving_up() {
    let (mut h, exits) = Harness::exiting();
    h.answer(&exits[1], ExecKind::Fill, OrderStatus::Filled, "1");
    // The operator flattens while the exit runs: nothing new yet, but it is remembered.
    assert!(h.input(Input::Command(OperatorCommand::Flatten)).is_empty());
    let mut long = exits[0];
    for _ in 0..2 {
        long = one(h.answer(&long, ExecKind::Rejected, OrderStatus::Rejected, "0"));
    }
    // The budget runs out: re-armed once, with the next attempt number.
    let again = one(h.answer(&long, ExecKind::Rejected, OrderStatus::Rejected, "0"));
    assert_eq!((again.leg, again.attempt), (Leg::Long, 3));
    assert!(h.engine.sink().decoded(kind::EXPOSURE).is_empty());
    h.answer(&again, ExecKind::Fill, OrderStatus::Filled, "1");
    assert_eq!(h.state(), CycleState::Flat);
}

#[test]
fn a_late_fill_for_an_order_written_off_as_never_placed_is_counted_and_reported() {
    let mut h = Harness::new(Scripted::new().with_target(1, enter("1")), exec_config());
    let entry = one(h.tick(1));
    let q1 = one(h.tick(1_000));
    h.answer(&q1, ExecKind::QueryAnswer, OrderStatus::NotFound, "0");
    let q2 = one(h.tick(500));
    // The second "not found" writes it off: nothing executed, the cycle ends.
    assert!(h
        .answer(&q2, ExecKind::QueryAnswer, OrderStatus::NotFound, "0")
        .is_empty());
    assert_eq!(h.state(), CycleState::Flat);
    assert_eq!(h.engine.counters().entries_missed, 1);
    // It had reached the venue after all, and filled.
    h.answer(&entry, ExecKind::QueryAnswer, OrderStatus::Filled, "1");
    assert_eq!(h.engine.positions().get(spot(), BTC).qty, d("1"));
    assert_eq!(h.engine.counters().late_fills, 1);
    let exposures = h.engine.sink().decoded(kind::EXPOSURE);
    let [Record::Exposure { exposure, .. }] = exposures.as_slice() else {
        panic!("one exposure record: {exposures:?}")
    };
    assert_eq!(
        (exposure.reason, exposure.position),
        (ExposureReason::LateFill, [d("1"), d("0")])
    );
    assert_eq!(h.engine.decider().leftovers, vec![PAIR]);
}

#[test]
fn empty_attempts_back_off_exponentially_but_progress_retries_at_once() {
    let cfg = ExecConfig {
        retry_backoff_ms: 100,
        max_retry_backoff_ms: 250,
        max_hedge_attempts: 5,
        ..exec_config()
    };
    let mut h = Harness::new(Scripted::new().with_target(1, enter("1")), cfg);
    let entry = one(h.tick(1));
    let h0 = one(h.answer(&entry, ExecKind::Fill, OrderStatus::Filled, "1"));
    // A partial fill is progress: the rest goes out at once.
    let h1 = one(h.answer(&h0, ExecKind::Canceled, OrderStatus::Canceled, "0.2"));
    assert_eq!((h1.attempt, h1.qty_base), (1, d("0.8")));
    // Rejects wait 100, then 200, then 250 (the cap) ms before the next attempt.
    let mut last = h1;
    for wait in [100, 200, 250] {
        let early = h.answer(&last, ExecKind::Rejected, OrderStatus::Rejected, "0");
        assert!(early.is_empty(), "retried at once: {early:?}");
        assert!(h.tick(wait - 1).is_empty(), "retried before {wait} ms");
        last = one(h.tick(1));
        assert_eq!((last.step, last.qty_base), (Step::Hedge, d("0.8")));
    }
    assert_eq!(last.attempt, 4);
}

#[test]
fn a_venue_condition_is_journaled_as_an_input_and_an_auth_reject_makes_the_venue_not_ready() {
    let decider = || Scripted::new().with_target(1, enter("1"));
    let dir = tempfile::tempdir().unwrap();
    let entry = {
        let mut h = open_on(dir.path(), decider(), exec_config(), 0);
        h.quotes();
        h.input(Input::Venue {
            venue: okx(),
            condition: VenueCondition::Backlog,
            on: true,
        });
        let entry = one(h.tick(1));
        // The venue refuses the key: an auth reject.
        let mut r = ExecReport::new(
            entry.client_order_id,
            entry.venue,
            entry.instrument,
            ExecKind::Rejected,
            OrderStatus::Rejected,
        );
        r.reject = RejectReason::Auth;
        h.input(Input::Exec(r));
        assert_eq!(
            h.engine.decider().venue_conditions,
            vec![
                (okx(), VenueCondition::Backlog, true),
                (entry.venue, VenueCondition::NotReady, true),
            ]
        );
        entry
    };
    let reader = JournalReader::open(dir.path()).unwrap();
    let records: Vec<(u64, u16, Vec<u8>)> = reader
        .iter_from(1)
        .map(|r| r.map(|r| (r.seq, r.kind, r.payload.to_vec())).unwrap())
        .collect();
    let venue_records: Vec<Record> = records
        .iter()
        .filter(|r| r.1 == kind::VENUE)
        .map(|r| Record::decode(r.1, &r.2).unwrap())
        .collect();
    assert!(
        matches!(
            venue_records.as_slice(),
            [Record::Venue { venue, condition: VenueCondition::Backlog, on: true, .. }] if *venue == okx()
        ),
        "{venue_records:?}"
    );
    // A restart folds both back into the decision half, as they were taken.
    let h = open_on(dir.path(), Scripted::new(), exec_config(), 50);
    assert_eq!(
        h.engine.decider().venue_conditions,
        vec![
            (okx(), VenueCondition::Backlog, true),
            (entry.venue, VenueCondition::NotReady, true),
        ]
    );
    match replay_records(&records, |_| {
        Ok((config(exec_config()), universe(), decider()))
    })
    .unwrap()
    {
        ReplayOutcome::Identical(stats) => assert_eq!(stats.identical, 1),
        ReplayOutcome::Diverged(d) => panic!("diverged: {d:?}"),
    }
}

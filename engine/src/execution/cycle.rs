//! One pair's trade cycle: Flat → Entering → Open → Exiting → Flat, with Unwinding when the legs
//! have to be brought back into balance. A cycle owns the orders it sent and the position each
//! leg gained from their fills, so that sizing (hedge, unwind, exit) always comes from what
//! executed, never from what was asked.
//!
//! Cycle state changes only through the `apply_*` methods of [`PairBook`] (a cycle change, an
//! intent, an execution report, a restart, a stall), each driven by a journal record. That makes
//! recovery a fold over the journal, and replay an exact re-run.

use rust_decimal::Decimal;

use crate::clock::Now;
use crate::decision::target::{PairId, TargetReason};
use crate::execution::client_id::ClientOrderId;
use crate::execution::order::{ExecReport, IntentAction, Leg, OrderIntent, OrderStatus, Step};
use crate::market::instrument::InstrumentId;
use crate::market::venue::Venue;

/// Where a pair is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CycleState {
    /// No position and no order: ready for an entry.
    Flat,
    /// The first leg is being bought/sold and the hedge follows its fills.
    Entering,
    /// Both legs are on and match.
    Open,
    /// Both legs are being closed.
    Exiting,
    /// The larger leg is being reduced to match the smaller one (a failed or lot-limited hedge).
    Unwinding,
}

impl CycleState {
    /// Every state, in code order.
    pub const ALL: [CycleState; 5] = [
        CycleState::Flat,
        CycleState::Entering,
        CycleState::Open,
        CycleState::Exiting,
        CycleState::Unwinding,
    ];

    /// A cycle is in flight when orders of it may still change the pair's legs.
    pub const fn in_flight(self) -> bool {
        matches!(
            self,
            CycleState::Entering | CycleState::Exiting | CycleState::Unwinding
        )
    }

    /// The state's one-byte journal code; never renumbered.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The state with this code, if any.
    pub const fn from_code(c: u8) -> Option<CycleState> {
        match c {
            0 => Some(CycleState::Flat),
            1 => Some(CycleState::Entering),
            2 => Some(CycleState::Open),
            3 => Some(CycleState::Exiting),
            4 => Some(CycleState::Unwinding),
            _ => None,
        }
    }

    /// The state's name in dumps and views (`entering`).
    pub const fn as_str(self) -> &'static str {
        match self {
            CycleState::Flat => "flat",
            CycleState::Entering => "entering",
            CycleState::Open => "open",
            CycleState::Exiting => "exiting",
            CycleState::Unwinding => "unwinding",
        }
    }
}

/// Why a cycle changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CycleReason {
    /// An entry target started the cycle.
    Enter,
    /// Both legs executed and match.
    Hedged,
    /// The first leg executed nothing.
    EntryMissed,
    /// The hedge ran out of attempts: the first leg is reduced to what the hedge matched.
    HedgeFailed,
    /// The hedge leg cannot match the first leg exactly (lot sizes): trim the first leg.
    Residual,
    /// The legs match again after an unwind.
    Unwound,
    /// Both legs are closed.
    Exited,
    /// A stalled cycle got a fresh attempt budget from a flatten or forced exit.
    Rearmed,
    /// The legs were found unequal while Open (a late fill): rebalance them.
    Imbalance,
    /// Exit started, asked for by a target with this reason.
    Exit(TargetReason),
    /// An exit target arrived while the cycle was in flight; it runs when the cycle settles.
    ExitDeferred(TargetReason),
}

const fn target_reason_code(r: TargetReason) -> u8 {
    match r {
        TargetReason::Enter => 0,
        TargetReason::Exit => 1,
        TargetReason::ForceExit => 2,
        TargetReason::Flatten => 3,
    }
}

const fn target_reason_from_code(c: u8) -> Option<TargetReason> {
    match c {
        0 => Some(TargetReason::Enter),
        1 => Some(TargetReason::Exit),
        2 => Some(TargetReason::ForceExit),
        3 => Some(TargetReason::Flatten),
        _ => None,
    }
}

/// Name of a target reason, for records and views.
pub const fn target_reason_str(r: TargetReason) -> &'static str {
    match r {
        TargetReason::Enter => "enter",
        TargetReason::Exit => "exit",
        TargetReason::ForceExit => "force_exit",
        TargetReason::Flatten => "flatten",
    }
}

impl CycleReason {
    /// Stable one-byte code for journal records; never renumber.
    pub const fn code(self) -> u8 {
        match self {
            CycleReason::Enter => 1,
            CycleReason::Hedged => 2,
            CycleReason::EntryMissed => 3,
            CycleReason::HedgeFailed => 4,
            CycleReason::Residual => 5,
            CycleReason::Unwound => 6,
            CycleReason::Exited => 7,
            CycleReason::Rearmed => 8,
            CycleReason::Imbalance => 9,
            CycleReason::Exit(r) => 16 + target_reason_code(r),
            CycleReason::ExitDeferred(r) => 32 + target_reason_code(r),
        }
    }

    /// The reason with this code, if any.
    pub const fn from_code(c: u8) -> Option<CycleReason> {
        Some(match c {
            1 => CycleReason::Enter,
            2 => CycleReason::Hedged,
            3 => CycleReason::EntryMissed,
            4 => CycleReason::HedgeFailed,
            5 => CycleReason::Residual,
            6 => CycleReason::Unwound,
            7 => CycleReason::Exited,
            8 => CycleReason::Rearmed,
            9 => CycleReason::Imbalance,
            16..=19 => match target_reason_from_code(c - 16) {
                Some(r) => CycleReason::Exit(r),
                None => return None,
            },
            32..=35 => match target_reason_from_code(c - 32) {
                Some(r) => CycleReason::ExitDeferred(r),
                None => return None,
            },
            _ => return None,
        })
    }

    /// The reason's name in dumps and views (`hedge_failed`).
    pub const fn as_str(self) -> &'static str {
        match self {
            CycleReason::Enter => "enter",
            CycleReason::Hedged => "hedged",
            CycleReason::EntryMissed => "entry_missed",
            CycleReason::HedgeFailed => "hedge_failed",
            CycleReason::Residual => "residual",
            CycleReason::Unwound => "unwound",
            CycleReason::Exited => "exited",
            CycleReason::Rearmed => "rearmed",
            CycleReason::Imbalance => "imbalance",
            CycleReason::Exit(_) => "exit",
            CycleReason::ExitDeferred(_) => "exit_deferred",
        }
    }

    /// The target reason behind an exit or deferred exit.
    pub const fn target_reason(self) -> Option<TargetReason> {
        match self {
            CycleReason::Exit(r) | CycleReason::ExitDeferred(r) => Some(r),
            _ => None,
        }
    }
}

/// A cycle state change, as journaled. `first`, `qty_base` and `venues` describe the cycle and
/// are repeated on every change so each record reads on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CycleChange {
    /// The pair.
    pub pair: PairId,
    /// Its instrument.
    pub instrument: InstrumentId,
    /// The cycle number.
    pub cycle: u32,
    /// The state before.
    pub from: CycleState,
    /// The state after (the same for a re-arm or a deferred exit).
    pub to: CycleState,
    /// Why.
    pub reason: CycleReason,
    /// The leg that is bought/sold first on entry.
    pub first: Leg,
    /// Entry size per leg, base units.
    pub qty_base: Decimal,
    /// Venue of the long leg and of the short leg.
    pub venues: [Venue; 2],
}

/// Where an order stands as far as the engine knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkStatus {
    /// Handed to a gateway; no answer yet.
    Sent,
    /// The venue has it and it is working.
    Open,
    /// No answer in time, or sent before a restart: its fate must be learnt before the pair
    /// sends anything new.
    Unknown,
    /// Finished (filled, cancelled, rejected, or confirmed never placed).
    Done(OrderStatus),
}

/// One order of a cycle, with what the venue reported about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkingOrder {
    /// The place intent that created it.
    pub intent: OrderIntent,
    /// What the engine knows of it.
    pub status: WorkStatus,
    /// Executed so far, in base units.
    pub cum_qty_base: Decimal,
    /// Average price of what executed.
    pub avg_price: Decimal,
    /// Fees paid so far, in quote units.
    pub fee_quote: Decimal,
    /// `now.mono_ns` when it was journaled.
    pub sent_ns: u64,
    /// When the last query, resend or cancel for it was journaled; `None` when never, or
    /// when a restart made every earlier probe meaningless.
    pub last_probe_ns: Option<u64>,
    /// How many times the venue said it does not know the order.
    pub not_found: u8,
    /// A cancel for it was journaled.
    pub cancel_sent: bool,
    /// A venue acknowledgement (or fill) was seen: it exists at the venue.
    pub acked: bool,
}

impl WorkingOrder {
    /// Quantity that may still execute, in base units, signed as the position change it would
    /// cause; zero once done.
    pub fn remaining_signed(&self) -> Decimal {
        match self.status {
            WorkStatus::Done(_) => Decimal::ZERO,
            _ => {
                (self.intent.qty_base - self.cum_qty_base).max(Decimal::ZERO)
                    * self.intent.side.sign()
            }
        }
    }

    /// Whether the order is finished.
    pub fn is_done(&self) -> bool {
        matches!(self.status, WorkStatus::Done(_))
    }

    /// Takes in a cumulative report: the fill it adds over what was known, signed as the position
    /// change, at the price of that increment. A repeated or older report adds nothing.
    fn take_fill(&mut self, report: &ExecReport) -> Option<FillDelta> {
        if report.cum_qty_base <= self.cum_qty_base {
            return None;
        }
        let delta = report.cum_qty_base - self.cum_qty_base;
        let price = increment_price(
            self.cum_qty_base,
            self.avg_price,
            report.cum_qty_base,
            report.avg_price,
        );
        self.cum_qty_base = report.cum_qty_base;
        self.avg_price = report.avg_price;
        Some(FillDelta {
            venue: self.intent.venue,
            instrument: self.intent.instrument,
            qty: delta * self.intent.side.sign(),
            price,
        })
    }

    /// Ended without executing anything (rejected, expired, never placed): counts against the
    /// step's attempt budget. An order that executed part of its quantity made progress, and
    /// progress is bounded by the quantity itself, so it does not count.
    pub fn ended_empty(&self) -> bool {
        matches!(self.status, WorkStatus::Done(_)) && self.cum_qty_base.is_zero()
    }
}

/// How many "not found" answers make an order that was never acknowledged count as never
/// placed. One is not enough: a query can overtake the order on its way to the venue.
pub const NOT_FOUND_CONFIRMATIONS: u8 = 2;

/// A live cycle of one pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Cycle {
    /// The cycle number (unique across the instance, also after restarts).
    pub number: u32,
    /// The pair's instrument.
    pub instrument: InstrumentId,
    /// Where the cycle is.
    pub state: CycleState,
    /// The leg that is bought/sold first on entry.
    pub first: Leg,
    /// Entry size per leg, base units.
    pub qty_base: Decimal,
    /// Venue of the long leg and of the short leg.
    pub venues: [Venue; 2],
    /// Signed base units each leg gained from this cycle's fills (long leg ≥ 0, short ≤ 0
    /// in a healthy cycle).
    pub position: [Decimal; 2],
    /// Next attempt number per leg and step: the next client order id of that (leg, step).
    pub next_attempt: [[u16; 4]; 2],
    /// Orders per leg and step that ended without executing anything.
    pub failures: [[u16; 4]; 2],
    /// When the last of those ended (monotonic ns): the next attempt waits out a backoff.
    pub last_empty_ns: [[u64; 4]; 2],
    /// Attempts exhausted with exposure left: no more automatic orders until a flatten or
    /// forced exit re-arms the cycle.
    pub stalled: bool,
    /// An exit was asked for while the cycle was in flight.
    pub exit_requested: Option<TargetReason>,
    /// Every order the cycle sent, in order.
    pub orders: Vec<WorkingOrder>,
}

/// Orders a cycle keeps before its vector would grow (growth is allowed, just not expected).
pub const ORDERS_PER_CYCLE: usize = 32;

impl Cycle {
    /// The venue of `leg`.
    pub fn venue(&self, leg: Leg) -> Venue {
        self.venues[leg.index()]
    }

    /// Unsigned size of a leg.
    pub fn size(&self, leg: Leg) -> Decimal {
        self.position[leg.index()].abs()
    }

    /// Signed quantity still in flight on a leg.
    pub fn in_flight(&self, leg: Leg) -> Decimal {
        self.orders
            .iter()
            .filter(|o| o.intent.leg == leg)
            .map(WorkingOrder::remaining_signed)
            .sum()
    }

    /// Any order of the leg not finished.
    pub fn leg_busy(&self, leg: Leg) -> bool {
        self.orders
            .iter()
            .any(|o| o.intent.leg == leg && !o.is_done())
    }

    /// Whether any order of the cycle is still working or of unknown fate.
    pub fn busy(&self) -> bool {
        self.orders.iter().any(|o| !o.is_done())
    }

    /// An order's outcome is unknown: nothing new may be sent for the pair.
    pub fn has_unknown(&self) -> bool {
        self.orders.iter().any(|o| o.status == WorkStatus::Unknown)
    }

    /// Orders of (leg, step) that ended without executing anything.
    pub fn failures(&self, leg: Leg, step: Step) -> u16 {
        self.failures[leg.index()][step.index()]
    }

    /// When the next attempt of (leg, step) may go out: after an empty attempt, `base` doubled
    /// for each further empty one, at most `cap`.
    pub fn retry_at_ns(&self, leg: Leg, step: Step, base_ns: u64, cap_ns: u64) -> u64 {
        let failures = self.failures(leg, step);
        if failures == 0 || base_ns == 0 {
            return 0;
        }
        let backoff = base_ns
            .saturating_mul(1u64 << (failures - 1).min(20))
            .min(cap_ns.max(base_ns));
        self.last_empty_ns[leg.index()][step.index()].saturating_add(backoff)
    }

    /// The attempt number the next order of (leg, step) takes.
    pub fn next_attempt(&self, leg: Leg, step: Step) -> u16 {
        self.next_attempt[leg.index()][step.index()]
    }
}

/// A fill increment found by applying a report: what the position book must also learn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillDelta {
    /// The venue that filled.
    pub venue: Venue,
    /// What it filled.
    pub instrument: InstrumentId,
    /// Signed base units (positive: bought).
    pub qty: Decimal,
    /// The price of the increment.
    pub price: Decimal,
}

/// What applying an execution report changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReportEffect {
    /// The fill increment the report carried, if any.
    pub fill: Option<FillDelta>,
    /// The report matched an order of a live cycle, or one written off by an ended cycle.
    pub matched: bool,
    /// The order reached a final state with this report.
    pub finished: bool,
    /// The fill belongs to an order an ended cycle had written off as never placed: exposure no
    /// cycle tracks. (pair, cycle, leg)
    pub late: Option<(PairId, u32, Leg)>,
}

/// Every pair's cycle, plus the cycle counter that keeps client order ids unique.
#[derive(Clone, Debug, Default)]
pub struct PairBook {
    cycles: Vec<Option<Cycle>>,
    /// A pre-allocated order list per pair for its first cycle, so entering never allocates on
    /// the engine thread (later cycles reuse the previous cycle's list).
    spare_orders: Vec<Vec<WorkingOrder>>,
    next_cycle: u32,
    /// Orders that ended cycles wrote off as never placed (two "not found" answers), kept so a
    /// fill that shows up for one later is still counted. Empty in normal operation.
    written_off: Vec<WorkingOrder>,
}

impl PairBook {
    /// A book of `pairs` flat pairs; the first cycle is number 1.
    pub fn new(pairs: usize) -> PairBook {
        PairBook {
            cycles: vec![None; pairs],
            spare_orders: (0..pairs)
                .map(|_| Vec::with_capacity(ORDERS_PER_CYCLE))
                .collect(),
            next_cycle: 1,
            written_off: Vec::new(),
        }
    }

    /// How many pairs it holds.
    pub fn len(&self) -> usize {
        self.cycles.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.cycles.is_empty()
    }

    /// The cycle number the next entry will use.
    pub fn next_cycle(&self) -> u32 {
        self.next_cycle
    }

    /// The pair's live cycle, if it has one.
    pub fn cycle(&self, pair: PairId) -> Option<&Cycle> {
        self.cycles.get(pair.index()).and_then(Option::as_ref)
    }

    /// The pair's state (flat without a cycle).
    pub fn state(&self, pair: PairId) -> CycleState {
        self.cycle(pair).map_or(CycleState::Flat, |c| c.state)
    }

    /// Applies a journaled cycle change.
    pub fn apply_cycle(&mut self, change: &CycleChange) {
        let Some(slot) = self.cycles.get_mut(change.pair.index()) else {
            return;
        };
        self.next_cycle = self.next_cycle.max(change.cycle.saturating_add(1));
        if change.from == CycleState::Flat && change.to == CycleState::Entering {
            let spare = self
                .spare_orders
                .get_mut(change.pair.index())
                .map(std::mem::take);
            let mut orders = slot.take().map(|c| c.orders).or(spare).unwrap_or_default();
            orders.clear();
            orders.reserve(ORDERS_PER_CYCLE);
            *slot = Some(Cycle {
                number: change.cycle,
                instrument: change.instrument,
                state: CycleState::Entering,
                first: change.first,
                qty_base: change.qty_base,
                venues: change.venues,
                position: [Decimal::ZERO; 2],
                next_attempt: [[0; 4]; 2],
                failures: [[0; 4]; 2],
                last_empty_ns: [[0; 4]; 2],
                stalled: false,
                exit_requested: None,
                orders,
            });
            return;
        }
        let Some(cycle) = slot.as_mut().filter(|c| c.number == change.cycle) else {
            return;
        };
        match change.reason {
            CycleReason::ExitDeferred(reason) => cycle.exit_requested = Some(reason),
            CycleReason::Rearmed => {
                cycle.stalled = false;
                cycle.failures = [[0; 4]; 2];
                cycle.exit_requested = None;
            }
            CycleReason::Exit(_) => {
                cycle.exit_requested = None;
                // An exit gets its own attempt budget, whatever entry used up.
                for leg in Leg::BOTH {
                    cycle.failures[leg.index()][Step::Exit.index()] = 0;
                }
                cycle.stalled = false;
            }
            _ => {}
        }
        cycle.state = change.to;
        if change.to == CycleState::Flat {
            self.written_off.extend(
                cycle
                    .orders
                    .iter()
                    .filter(|o| o.status == WorkStatus::Done(OrderStatus::NotFound)),
            );
            // Keep the allocation for the next cycle of this pair.
            cycle.orders.clear();
        }
    }

    /// Marks the cycle stalled after its exposure was reported.
    pub fn apply_stalled(&mut self, pair: PairId, cycle: u32) {
        if let Some(c) = self
            .cycles
            .get_mut(pair.index())
            .and_then(Option::as_mut)
            .filter(|c| c.number == cycle)
        {
            c.stalled = true;
        }
    }

    /// Applies a journaled intent to the order it creates or probes.
    pub fn apply_intent(&mut self, intent: &OrderIntent, now: Now) {
        self.next_cycle = self.next_cycle.max(intent.cycle.saturating_add(1));
        let Some(cycle) = self
            .cycles
            .get_mut(intent.pair.index())
            .and_then(Option::as_mut)
            .filter(|c| c.number == intent.cycle && c.state != CycleState::Flat)
        else {
            return;
        };
        match intent.action {
            IntentAction::Place => {
                let slot = &mut cycle.next_attempt[intent.leg.index()][intent.step.index()];
                *slot = (*slot).max(intent.attempt.saturating_add(1));
                cycle.orders.push(WorkingOrder {
                    intent: *intent,
                    status: WorkStatus::Sent,
                    cum_qty_base: Decimal::ZERO,
                    avg_price: Decimal::ZERO,
                    fee_quote: Decimal::ZERO,
                    sent_ns: now.mono_ns,
                    last_probe_ns: None,
                    not_found: 0,
                    cancel_sent: false,
                    acked: false,
                });
            }
            IntentAction::Resend | IntentAction::Query | IntentAction::Cancel => {
                if let Some(order) = cycle
                    .orders
                    .iter_mut()
                    .find(|o| o.intent.client_order_id == intent.client_order_id)
                {
                    order.last_probe_ns = Some(now.mono_ns);
                    if intent.action == IntentAction::Cancel {
                        order.cancel_sent = true;
                    } else if !order.is_done() {
                        order.status = WorkStatus::Unknown;
                    }
                }
            }
        }
    }

    /// After a restart nothing in flight is known: every unfinished order must be resolved.
    pub fn apply_restart(&mut self) {
        for cycle in self.cycles.iter_mut().flatten() {
            for o in cycle.orders.iter_mut().filter(|o| !o.is_done()) {
                o.status = WorkStatus::Unknown;
                o.last_probe_ns = None;
            }
        }
    }

    /// [`PairBook::apply_report_at`] at time zero, for tests that do not care about backoff.
    #[cfg(test)]
    pub(crate) fn apply_report(&mut self, report: &ExecReport) -> ReportEffect {
        self.apply_report_at(report, Now::default())
    }

    /// Applies an execution report, received at `now`, to the order it names. Fill quantities
    /// are cumulative, so only the increase over what was known moves positions.
    pub fn apply_report_at(&mut self, report: &ExecReport, now: Now) -> ReportEffect {
        let mut effect = ReportEffect::default();
        let Some((cycle, idx)) = self.find_order(&report.client_order_id) else {
            return self.apply_late_report(report);
        };
        effect.matched = true;
        let order = &mut cycle.orders[idx];
        let was_done = order.is_done();
        effect.fill = order.take_fill(report);
        if let Some(fill) = effect.fill {
            order.acked = true;
            cycle.position[order.intent.leg.index()] += fill.qty;
        }
        if report.fee_quote > order.fee_quote {
            order.fee_quote = report.fee_quote;
        }
        if !was_done {
            match report.status {
                OrderStatus::Open => {
                    order.acked = true;
                    order.not_found = 0;
                    order.status = WorkStatus::Open;
                }
                OrderStatus::NotFound => {
                    order.not_found = order.not_found.saturating_add(1);
                    if !order.acked && order.not_found >= NOT_FOUND_CONFIRMATIONS {
                        order.status = WorkStatus::Done(OrderStatus::NotFound);
                    }
                }
                terminal => order.status = WorkStatus::Done(terminal),
            }
        }
        if !was_done && order.is_done() {
            effect.finished = true;
            if order.ended_empty() {
                let (leg, step) = (order.intent.leg.index(), order.intent.step.index());
                cycle.failures[leg][step] += 1;
                cycle.last_empty_ns[leg][step] = now.mono_ns;
            }
        }
        effect
    }

    fn apply_late_report(&mut self, report: &ExecReport) -> ReportEffect {
        let mut effect = ReportEffect::default();
        let Some(order) = self
            .written_off
            .iter_mut()
            .find(|o| o.intent.client_order_id == report.client_order_id)
        else {
            return effect;
        };
        effect.matched = true;
        effect.fill = order.take_fill(report);
        if effect.fill.is_some() {
            effect.late = Some((order.intent.pair, order.intent.cycle, order.intent.leg));
        }
        effect
    }

    /// The pair whose live cycle holds the order with this client order id.
    pub fn pair_of(&self, cid: &ClientOrderId) -> Option<PairId> {
        self.cycles
            .iter()
            .flatten()
            .flat_map(|c| c.orders.iter())
            .find(|o| o.intent.client_order_id == *cid)
            .map(|o| o.intent.pair)
    }

    fn find_order(&mut self, cid: &ClientOrderId) -> Option<(&mut Cycle, usize)> {
        self.cycles.iter_mut().flatten().find_map(|c| {
            let idx = c
                .orders
                .iter()
                .position(|o| o.intent.client_order_id == *cid)?;
            Some((c, idx))
        })
    }

    /// Every order whose outcome is unknown, across pairs.
    pub fn unknown_orders(&self) -> impl Iterator<Item = &WorkingOrder> {
        self.cycles
            .iter()
            .flatten()
            .flat_map(|c| c.orders.iter())
            .filter(|o| o.status == WorkStatus::Unknown)
    }
}

/// Price of the quantity a report adds, from the cumulative averages before and after.
pub fn increment_price(
    old_qty: Decimal,
    old_avg: Decimal,
    new_qty: Decimal,
    new_avg: Decimal,
) -> Decimal {
    let delta = new_qty - old_qty;
    if delta <= Decimal::ZERO {
        return new_avg;
    }
    (new_qty * new_avg - old_qty * old_avg)
        .checked_div(delta)
        .unwrap_or(new_avg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::client_id::InstanceId;
    use crate::execution::order::{ExecKind, Side, TimeInForce};
    use crate::market::venue::{Exchange, Market};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const LONG: Venue = Venue::new(Exchange::Binance, Market::Spot);
    const SHORT: Venue = Venue::new(Exchange::Bybit, Market::Perp);

    fn start(book: &mut PairBook, cycle: u32) {
        book.apply_cycle(&CycleChange {
            pair: PairId(0),
            instrument: InstrumentId(0),
            cycle,
            from: CycleState::Flat,
            to: CycleState::Entering,
            reason: CycleReason::Enter,
            first: Leg::Long,
            qty_base: d("1"),
            venues: [LONG, SHORT],
        });
    }

    fn place(
        book: &mut PairBook,
        cycle: u32,
        step: Step,
        leg: Leg,
        attempt: u16,
        qty: &str,
    ) -> ClientOrderId {
        let cid =
            ClientOrderId::new(&InstanceId::new("t").unwrap(), cycle, step, leg, attempt).unwrap();
        let intent = OrderIntent {
            action: IntentAction::Place,
            client_order_id: cid,
            pair: PairId(0),
            cycle,
            step,
            leg,
            attempt,
            venue: [LONG, SHORT][leg.index()],
            instrument: InstrumentId(0),
            side: leg.opening_side(),
            tif: TimeInForce::Ioc,
            reduce_only: false,
            price: d("100"),
            qty_base: d(qty),
            qty_venue: d(qty),
        };
        book.apply_intent(&intent, Now::new(1_000, 1));
        cid
    }

    fn report(
        cid: ClientOrderId,
        kind: ExecKind,
        status: OrderStatus,
        cum: &str,
        avg: &str,
    ) -> ExecReport {
        let mut r = ExecReport::new(cid, LONG, InstrumentId(0), kind, status);
        r.cum_qty_base = d(cum);
        r.avg_price = d(avg);
        r
    }

    #[test]
    fn cumulative_reports_count_each_fill_once() {
        let mut book = PairBook::new(1);
        start(&mut book, 7);
        assert_eq!(book.next_cycle(), 8);
        let cid = place(&mut book, 7, Step::Entry, Leg::Long, 0, "1");
        let mut apply =
            |kind, status, cum, avg| book.apply_report(&report(cid, kind, status, cum, avg));
        let e = apply(ExecKind::PartialFill, OrderStatus::Open, "0.4", "100");
        assert_eq!(e.fill.map(|f| (f.qty, f.price)), Some((d("0.4"), d("100"))));
        assert!(!e.finished);
        // The same report again, and an older one, change nothing.
        let e = apply(ExecKind::PartialFill, OrderStatus::Open, "0.4", "100");
        assert_eq!(e.fill, None);
        let e = apply(ExecKind::PartialFill, OrderStatus::Open, "0.2", "100");
        assert_eq!(e.fill, None);
        let e = apply(ExecKind::Canceled, OrderStatus::Canceled, "0.6", "101");
        // 0.6 @ 101 = 60.6, minus 0.4 @ 100 = 40 → 0.2 @ 103.
        assert_eq!(e.fill.map(|f| (f.qty, f.price)), Some((d("0.2"), d("103"))));
        assert!(e.finished);
        let c = book.cycle(PairId(0)).unwrap();
        assert_eq!(c.position[0], d("0.6"));
        assert_eq!(c.failures(Leg::Long, Step::Entry), 0, "it made progress");
        assert!(!c.busy());
        let empty = place(&mut book, 7, Step::Entry, Leg::Long, 1, "1");
        book.apply_report(&report(
            empty,
            ExecKind::Canceled,
            OrderStatus::Canceled,
            "0",
            "0",
        ));
        let c = book.cycle(PairId(0)).unwrap();
        assert_eq!(c.failures(Leg::Long, Step::Entry), 1, "it executed nothing");
    }

    #[test]
    fn not_found_needs_confirmation_unless_acked() {
        let mut book = PairBook::new(1);
        start(&mut book, 1);
        let cid = place(&mut book, 1, Step::Hedge, Leg::Short, 0, "1");
        book.apply_restart();
        assert_eq!(book.unknown_orders().count(), 1);
        book.apply_report(&report(
            cid,
            ExecKind::QueryAnswer,
            OrderStatus::NotFound,
            "0",
            "0",
        ));
        assert_eq!(
            book.unknown_orders().count(),
            1,
            "one not-found is not proof"
        );
        let e = book.apply_report(&report(
            cid,
            ExecKind::QueryAnswer,
            OrderStatus::NotFound,
            "0",
            "0",
        ));
        assert!(e.finished);
        assert_eq!(
            book.cycle(PairId(0))
                .unwrap()
                .failures(Leg::Short, Step::Hedge),
            1
        );

        let cid2 = place(&mut book, 1, Step::Hedge, Leg::Short, 1, "1");
        book.apply_report(&report(cid2, ExecKind::Ack, OrderStatus::Open, "0", "0"));
        for _ in 0..3 {
            book.apply_report(&report(
                cid2,
                ExecKind::QueryAnswer,
                OrderStatus::NotFound,
                "0",
                "0",
            ));
        }
        assert!(
            book.cycle(PairId(0)).unwrap().busy(),
            "an acked order is never assumed gone"
        );
        assert_eq!(
            book.cycle(PairId(0))
                .unwrap()
                .next_attempt(Leg::Short, Step::Hedge),
            2
        );
    }

    #[test]
    fn a_fill_for_an_order_written_off_after_its_cycle_ended_is_still_counted() {
        let mut book = PairBook::new(1);
        start(&mut book, 2);
        let cid = place(&mut book, 2, Step::Hedge, Leg::Short, 0, "1");
        for _ in 0..NOT_FOUND_CONFIRMATIONS {
            book.apply_report(&report(
                cid,
                ExecKind::QueryAnswer,
                OrderStatus::NotFound,
                "0",
                "0",
            ));
        }
        book.apply_cycle(&CycleChange {
            pair: PairId(0),
            instrument: InstrumentId(0),
            cycle: 2,
            from: CycleState::Entering,
            to: CycleState::Flat,
            reason: CycleReason::EntryMissed,
            first: Leg::Long,
            qty_base: d("1"),
            venues: [LONG, SHORT],
        });
        let e = book.apply_report(&report(
            cid,
            ExecKind::QueryAnswer,
            OrderStatus::Filled,
            "0.3",
            "99",
        ));
        assert_eq!(e.late, Some((PairId(0), 2, Leg::Short)));
        assert_eq!(e.fill.map(|f| f.qty), Some(d("-0.3")));
        let again = book.apply_report(&report(
            cid,
            ExecKind::QueryAnswer,
            OrderStatus::Filled,
            "0.3",
            "99",
        ));
        assert_eq!((again.fill, again.late), (None, None), "counted once");
    }

    #[test]
    fn duplicate_answer_resolves_to_the_existing_order() {
        let mut book = PairBook::new(1);
        start(&mut book, 3);
        let cid = place(&mut book, 3, Step::Entry, Leg::Long, 0, "1");
        book.apply_restart();
        let e = book.apply_report(&report(
            cid,
            ExecKind::Duplicate,
            OrderStatus::Filled,
            "1",
            "99",
        ));
        assert!(e.finished && e.matched);
        assert_eq!(e.fill.unwrap().qty, d("1"));
        assert_eq!(book.unknown_orders().count(), 0);
        let c = book.cycle(PairId(0)).unwrap();
        assert_eq!(c.orders[0].status, WorkStatus::Done(OrderStatus::Filled));
        assert_eq!(c.failures(Leg::Long, Step::Entry), 0);
    }

    #[test]
    fn in_flight_is_signed_and_stops_when_done() {
        let mut book = PairBook::new(1);
        start(&mut book, 1);
        let _ = place(&mut book, 1, Step::Entry, Leg::Long, 0, "1");
        let h = place(&mut book, 1, Step::Hedge, Leg::Short, 0, "0.5");
        let c = book.cycle(PairId(0)).unwrap();
        assert_eq!(c.in_flight(Leg::Long), d("1"));
        assert_eq!(c.in_flight(Leg::Short), d("-0.5"));
        book.apply_report(&report(
            h,
            ExecKind::Fill,
            OrderStatus::Filled,
            "0.5",
            "100",
        ));
        let c = book.cycle(PairId(0)).unwrap();
        assert_eq!(c.in_flight(Leg::Short), Decimal::ZERO);
        assert_eq!(c.position[1], d("-0.5"));
        assert_eq!(Side::for_delta(c.position[1]), Side::Sell);
    }

    #[test]
    fn codes_round_trip() {
        for s in CycleState::ALL {
            assert_eq!(CycleState::from_code(s.code()), Some(s));
        }
        let mut known = 0;
        for c in 0..=u8::MAX {
            if let Some(r) = CycleReason::from_code(c) {
                assert_eq!(r.code(), c);
                known += 1;
            }
        }
        assert_eq!(known, 9 + 4 + 4);
    }
}

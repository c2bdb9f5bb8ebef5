//! The reconciler: compares what a pair's cycle wants on each leg with what its fills and
//! working orders already give, and names the one next thing to do (probe an order of unknown
//! fate, cancel a stale one, place an order that closes a gap, move the cycle on, or report
//! exposure it cannot close). It is a pure function of the cycle, the quotes and the trading
//! rules; the engine journals and applies each action and asks again, until nothing is left.
//!
//! Sizing rules, all from executed quantities: the hedge leg follows the first leg's fills
//! (rounded to the hedge venue's step), an unwind reduces the larger leg to the smaller, an exit
//! closes what each leg actually holds. Orders never exceed the gap, and nothing new is sent
//! while any order of the pair has an unknown outcome.

use rust_decimal::Decimal;

use crate::clock::Now;
use crate::decision::target::{PairId, TargetReason};
use crate::execution::client_id::{ClientOrderId, InstanceId};
use crate::execution::cycle::{Cycle, CycleReason, CycleState, WorkStatus, WorkingOrder};
use crate::execution::order::{IntentAction, Leg, OrderIntent, Side, Step, TimeInForce};
use crate::execution::rounding::{
    base_step, protective_price, round_to_step, size_order, touch_size,
};
use crate::market::event::Quote;
use crate::market::instrument::InstrumentId;
use crate::market::spec::InstrumentSpec;
use crate::market::venue::Venue;
use crate::record::ExposureReason;

/// The knobs the reconciler needs, in engine units (ns, bps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconcileParams {
    /// How far past the touch a hedge or unwind may trade, in basis points.
    pub hedge_slippage_bps: Decimal,
    /// The same for exits.
    pub exit_slippage_bps: Decimal,
    /// Hedge orders that may end short before the first leg is unwound.
    pub max_hedge_attempts: u16,
    /// Unwind orders that may end short before the exposure is reported.
    pub max_unwind_attempts: u16,
    /// Exit orders per leg that may end short before the exposure is reported.
    pub max_exit_attempts: u16,
    /// An order with no answer after this long is queried (or resent).
    pub ack_timeout_ns: u64,
    /// Time between two queries of the same order.
    pub probe_interval_ns: u64,
    /// An acknowledged order still working after this long is cancelled.
    pub order_timeout_ns: u64,
    /// Wait after an attempt that executed nothing, doubled per further one, at most the max.
    pub retry_backoff_ns: u64,
    /// The longest such wait.
    pub max_retry_backoff_ns: u64,
    /// Resolve unknown orders by resending with the same id instead of querying.
    pub resolve_by_resend: bool,
}

/// Why the reconciler could not act although something is left to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Blocked {
    /// No top of book for the leg's venue: the order cannot be priced.
    NoQuote,
    /// No trading rules for the leg's venue: the order cannot be sized.
    NoSpec,
    /// The attempt counter ran past what a client order id can carry.
    AttemptOverflow,
}

impl Blocked {
    /// The reason's metric label (`no_quote`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Blocked::NoQuote => "no_quote",
            Blocked::NoSpec => "no_spec",
            Blocked::AttemptOverflow => "attempt_overflow",
        }
    }
}

/// The one next thing to do for a pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    /// Journal and send this intent (place, resend, query or cancel).
    Send(OrderIntent),
    /// Move the cycle to another state.
    Transition {
        /// The state to move to.
        to: CycleState,
        /// Why.
        reason: CycleReason,
    },
    /// Report exposure the cycle cannot close; then, if given, move the cycle on.
    Exposure {
        /// Why the exposure is left.
        reason: ExposureReason,
        /// The cycle change that follows the report, if any.
        then: Option<(CycleState, CycleReason)>,
    },
    /// Something is left to do, but it cannot be done now.
    Blocked(Blocked),
}

/// What the reconciler reads besides the cycle: quotes and rules of one leg's venue.
pub trait Market {
    /// The latest top of book of (venue, instrument), if any.
    fn quote(&self, venue: Venue, instrument: InstrumentId) -> Option<Quote>;
    /// The trading rules of (venue, instrument), if known.
    fn spec(&self, venue: Venue, instrument: InstrumentId) -> Option<InstrumentSpec>;
}

/// Everything about the pair the reconciler needs.
pub struct PairContext<'a, M: Market> {
    /// The pair.
    pub pair: PairId,
    /// Its instrument.
    pub instrument: InstrumentId,
    /// Its current cycle.
    pub cycle: &'a Cycle,
    /// The instance whose client order ids the cycle uses.
    pub instance: &'a InstanceId,
    /// Quotes and trading rules.
    pub market: &'a M,
    /// Attempts, timeouts and slippage.
    pub params: &'a ReconcileParams,
    /// The time of the input being handled.
    pub now: Now,
}

impl<M: Market> PairContext<'_, M> {
    /// The next action for the pair, or `None` when it is waiting (for answers, fills, time or
    /// an operator).
    pub fn next_action(&self) -> Option<Action> {
        let c = self.cycle;
        if c.state == CycleState::Flat {
            return None;
        }
        if let Some(a) = self.follow_up() {
            return Some(a);
        }
        if c.has_unknown() || c.stalled {
            return None;
        }
        match c.state {
            CycleState::Flat => None,
            CycleState::Entering => self.entering(),
            CycleState::Unwinding => self.unwinding(),
            CycleState::Open => self.open(),
            CycleState::Exiting => self.exiting(),
        }
    }

    /// Probes for orders without an answer, cancels for orders resting too long.
    fn follow_up(&self) -> Option<Action> {
        let p = self.params;
        let now = self.now.mono_ns;
        let due =
            |since: Option<u64>| since.is_none_or(|t| now.saturating_sub(t) >= p.probe_interval_ns);
        for o in self.cycle.orders.iter() {
            match o.status {
                WorkStatus::Sent if now.saturating_sub(o.sent_ns) >= p.ack_timeout_ns => {
                    return Some(self.probe(o));
                }
                WorkStatus::Unknown if due(o.last_probe_ns) => return Some(self.probe(o)),
                WorkStatus::Open => {
                    let resting = o.intent.tif == TimeInForce::Gtc
                        || now.saturating_sub(o.sent_ns) >= p.order_timeout_ns;
                    if resting && !o.cancel_sent {
                        return Some(Action::Send(OrderIntent {
                            action: IntentAction::Cancel,
                            ..o.intent
                        }));
                    }
                    if o.cancel_sent && due(o.last_probe_ns) {
                        // The cancel's answer is overdue: ask where the order stands.
                        return Some(Action::Send(OrderIntent {
                            action: IntentAction::Query,
                            ..o.intent
                        }));
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn probe(&self, o: &WorkingOrder) -> Action {
        let action = if self.params.resolve_by_resend {
            IntentAction::Resend
        } else {
            IntentAction::Query
        };
        Action::Send(OrderIntent { action, ..o.intent })
    }

    fn entering(&self) -> Option<Action> {
        let c = self.cycle;
        let (first, hedge) = (c.first, c.first.other());
        let executed = c.size(first);
        let hedged = c.size(hedge);
        let Some(hedge_spec) = self.spec(hedge) else {
            return Some(Action::Blocked(Blocked::NoSpec));
        };
        let wanted = round_to_step(executed, base_step(&hedge_spec));
        let gap = wanted - hedged - c.in_flight(hedge).abs();
        let hedge_left = c.failures(hedge, Step::Hedge) < self.params.max_hedge_attempts;
        let settled = !c.leg_busy(first) && !c.leg_busy(hedge);
        if gap > Decimal::ZERO && hedge_left {
            if self.backing_off(hedge, Step::Hedge) {
                return None;
            }
            match self.order(
                hedge,
                Step::Hedge,
                hedge.opening_side(),
                gap,
                false,
                self.params.hedge_slippage_bps,
            ) {
                Ok(Some(intent)) => return Some(Action::Send(intent)),
                Ok(None) => {
                    // Below the hedge venue's minimum: wait for more of the first leg, unless
                    // it is done, in which case the first leg is trimmed instead.
                    if !settled {
                        return None;
                    }
                    return Some(Action::Transition {
                        to: CycleState::Unwinding,
                        reason: CycleReason::Residual,
                    });
                }
                Err(b) => return Some(Action::Blocked(b)),
            }
        }
        if !settled {
            return None;
        }
        let (to, reason) = if executed.is_zero() && hedged.is_zero() {
            (CycleState::Flat, CycleReason::EntryMissed)
        } else if executed == hedged {
            (CycleState::Open, CycleReason::Hedged)
        } else if !hedge_left {
            (CycleState::Unwinding, CycleReason::HedgeFailed)
        } else {
            (CycleState::Unwinding, CycleReason::Residual)
        };
        Some(Action::Transition { to, reason })
    }

    fn unwinding(&self) -> Option<Action> {
        let c = self.cycle;
        let (big, small) = if c.size(Leg::Long) >= c.size(Leg::Short) {
            (Leg::Long, Leg::Short)
        } else {
            (Leg::Short, Leg::Long)
        };
        let excess = c.size(big) - c.size(small) - c.in_flight(big).abs();
        let busy = c.busy();
        if excess > Decimal::ZERO {
            if c.failures(big, Step::Unwind) >= self.params.max_unwind_attempts {
                if busy {
                    return None;
                }
                return Some(Action::Exposure {
                    reason: ExposureReason::UnwindExhausted,
                    then: None,
                });
            }
            if self.backing_off(big, Step::Unwind) {
                return None;
            }
            // Reduce the larger leg: sell a long, buy back a short.
            let side = Side::for_delta(-c.position[big.index()]);
            match self.order(
                big,
                Step::Unwind,
                side,
                excess,
                true,
                self.params.hedge_slippage_bps,
            ) {
                Ok(Some(intent)) => return Some(Action::Send(intent)),
                Ok(None) => {
                    if busy {
                        return None;
                    }
                    return Some(Action::Exposure {
                        reason: ExposureReason::Dust,
                        then: Some(self.after_unwind()),
                    });
                }
                Err(b) => return Some(Action::Blocked(b)),
            }
        }
        if busy {
            return None;
        }
        if c.size(big) == c.size(small) {
            return Some(Action::Transition {
                to: self.after_unwind().0,
                reason: CycleReason::Unwound,
            });
        }
        None
    }

    /// Where an unwind ends: flat when the smaller leg is empty (any dust left on the other was
    /// reported), else open with matching legs.
    fn after_unwind(&self) -> (CycleState, CycleReason) {
        let c = self.cycle;
        if c.size(Leg::Long).min(c.size(Leg::Short)).is_zero() {
            (CycleState::Flat, CycleReason::Unwound)
        } else {
            (CycleState::Open, CycleReason::Unwound)
        }
    }

    fn open(&self) -> Option<Action> {
        let c = self.cycle;
        if let Some(reason) = c.exit_requested {
            return Some(Action::Transition {
                to: CycleState::Exiting,
                reason: CycleReason::Exit(reason),
            });
        }
        if c.busy() || c.size(Leg::Long) == c.size(Leg::Short) {
            return None;
        }
        // Legs apart by more than dust (a late fill): rebalance. Dust was already reported.
        let big = if c.size(Leg::Long) > c.size(Leg::Short) {
            Leg::Long
        } else {
            Leg::Short
        };
        let excess = c.size(big) - c.size(big.other());
        let side = Side::for_delta(-c.position[big.index()]);
        match self.order(
            big,
            Step::Unwind,
            side,
            excess,
            true,
            self.params.hedge_slippage_bps,
        ) {
            Ok(Some(_)) => Some(Action::Transition {
                to: CycleState::Unwinding,
                reason: CycleReason::Imbalance,
            }),
            _ => None,
        }
    }

    fn exiting(&self) -> Option<Action> {
        let c = self.cycle;
        let mut exhausted = false;
        let mut dust = false;
        let mut waiting = false;
        for leg in Leg::BOTH {
            // Closing orders in flight carry the opposite sign of the position.
            let remaining = -(c.position[leg.index()] + c.in_flight(leg));
            if remaining.is_zero() {
                continue;
            }
            if c.failures(leg, Step::Exit) >= self.params.max_exit_attempts {
                exhausted = true;
                continue;
            }
            if self.backing_off(leg, Step::Exit) {
                waiting = true;
                continue;
            }
            let side = Side::for_delta(remaining);
            match self.order(
                leg,
                Step::Exit,
                side,
                remaining.abs(),
                true,
                self.params.exit_slippage_bps,
            ) {
                Ok(Some(intent)) => return Some(Action::Send(intent)),
                Ok(None) => dust = true,
                // One leg's missing quote must not hold up the other leg's exit.
                Err(_) => continue,
            }
        }
        if c.busy() || waiting {
            return None;
        }
        if c.position[0].is_zero() && c.position[1].is_zero() {
            return Some(Action::Transition {
                to: CycleState::Flat,
                reason: CycleReason::Exited,
            });
        }
        if exhausted {
            // A forced exit asked for while this one ran gets one fresh budget before giving up.
            if matches!(
                c.exit_requested,
                Some(TargetReason::ForceExit | TargetReason::Flatten)
            ) {
                return Some(Action::Transition {
                    to: CycleState::Exiting,
                    reason: CycleReason::Rearmed,
                });
            }
            return Some(Action::Exposure {
                reason: ExposureReason::ExitExhausted,
                then: None,
            });
        }
        if dust {
            return Some(Action::Exposure {
                reason: ExposureReason::Dust,
                then: Some((CycleState::Flat, CycleReason::Exited)),
            });
        }
        // Something is left but could not be priced or sized yet.
        for leg in Leg::BOTH {
            if !c.position[leg.index()].is_zero() {
                if self.spec(leg).is_none() {
                    return Some(Action::Blocked(Blocked::NoSpec));
                }
                if self.quote(leg).is_none() {
                    return Some(Action::Blocked(Blocked::NoQuote));
                }
            }
        }
        None
    }

    /// The next attempt of (leg, step) is held back by the retry backoff.
    fn backing_off(&self, leg: Leg, step: Step) -> bool {
        let p = self.params;
        self.now.mono_ns
            < self
                .cycle
                .retry_at_ns(leg, step, p.retry_backoff_ns, p.max_retry_backoff_ns)
    }

    fn spec(&self, leg: Leg) -> Option<InstrumentSpec> {
        self.market.spec(self.cycle.venue(leg), self.instrument)
    }

    fn quote(&self, leg: Leg) -> Option<Quote> {
        self.market.quote(self.cycle.venue(leg), self.instrument)
    }

    /// A marketable IOC for up to `qty_base` on a leg, sized and priced for its venue.
    /// `Ok(None)` when the quantity is below the venue's minimum.
    fn order(
        &self,
        leg: Leg,
        step: Step,
        side: Side,
        qty_base: Decimal,
        reducing: bool,
        slippage_bps: Decimal,
    ) -> Result<Option<OrderIntent>, Blocked> {
        let c = self.cycle;
        let venue = c.venue(leg);
        let spec = self.spec(leg).ok_or(Blocked::NoSpec)?;
        let quote = self.quote(leg).ok_or(Blocked::NoQuote)?;
        let price =
            protective_price(side, &quote, slippage_bps, spec.tick_size).ok_or(Blocked::NoQuote)?;
        let Ok(size) = size_order(qty_base, price, &spec) else {
            return Ok(None);
        };
        let attempt = c.next_attempt(leg, step);
        let client_order_id = ClientOrderId::new(self.instance, c.number, step, leg, attempt)
            .map_err(|_| Blocked::AttemptOverflow)?;
        Ok(Some(OrderIntent {
            action: IntentAction::Place,
            client_order_id,
            pair: self.pair,
            cycle: c.number,
            step,
            leg,
            attempt,
            venue,
            instrument: self.instrument,
            side,
            tif: TimeInForce::Ioc,
            reduce_only: reducing && venue.is_perp(),
            price,
            qty_base: size.base,
            qty_venue: size.venue,
        }))
    }
}

/// Which leg of an entry goes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstLeg {
    /// The leg with less size at the touch it would take: the one most likely to fill short,
    /// so the hedge is sized from the harder fill.
    LessLiquid,
    /// The long leg always goes first.
    Long,
    /// The short leg always goes first.
    Short,
}

/// Picks the first leg from both legs' quotes.
pub fn choose_first_leg(rule: FirstLeg, long_quote: &Quote, short_quote: &Quote) -> Leg {
    match rule {
        FirstLeg::Long => Leg::Long,
        FirstLeg::Short => Leg::Short,
        FirstLeg::LessLiquid => {
            let long_touch = touch_size(Leg::Long.opening_side(), long_quote);
            let short_touch = touch_size(Leg::Short.opening_side(), short_quote);
            if short_touch < long_touch {
                Leg::Short
            } else {
                Leg::Long
            }
        }
    }
}

/// The entry size both legs can trade: `qty_base` rounded down onto both venues' steps.
pub fn common_entry_qty(
    qty_base: Decimal,
    first: &InstrumentSpec,
    hedge: &InstrumentSpec,
) -> Decimal {
    let (a, b) = (base_step(first), base_step(hedge));
    let q = round_to_step(round_to_step(qty_base, a), b);
    // Steps that do not divide each other: the first leg's step wins (the hedge trims later).
    round_to_step(q, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::cycle::{CycleChange, PairBook};
    use crate::execution::order::{ExecKind, ExecReport, OrderStatus};
    use crate::market::venue::{Exchange, Market as Mkt};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const LONG: Venue = Venue::new(Exchange::Binance, Mkt::Spot);
    const SHORT: Venue = Venue::new(Exchange::Okx, Mkt::Perp);

    struct Fixed;
    impl Market for Fixed {
        fn quote(&self, _: Venue, _: InstrumentId) -> Option<Quote> {
            Some(Quote {
                bid: d("100"),
                bid_qty: d("5"),
                ask: d("100.1"),
                ask_qty: d("5"),
            })
        }
        fn spec(&self, venue: Venue, _: InstrumentId) -> Option<InstrumentSpec> {
            Some(if venue == SHORT {
                // OKX-style: contracts of 0.01, whole contracts.
                InstrumentSpec {
                    tick_size: d("0.1"),
                    lot_size: d("1"),
                    min_qty: d("1"),
                    min_notional: d("0"),
                    contract_size: Some(d("0.01")),
                }
            } else {
                InstrumentSpec {
                    tick_size: d("0.1"),
                    lot_size: d("0.001"),
                    min_qty: d("0.001"),
                    min_notional: d("0"),
                    contract_size: None,
                }
            })
        }
    }

    fn params() -> ReconcileParams {
        ReconcileParams {
            hedge_slippage_bps: d("10"),
            exit_slippage_bps: d("10"),
            max_hedge_attempts: 2,
            max_unwind_attempts: 2,
            max_exit_attempts: 2,
            ack_timeout_ns: 1_000,
            probe_interval_ns: 1_000,
            order_timeout_ns: 5_000,
            retry_backoff_ns: 0,
            max_retry_backoff_ns: 0,
            resolve_by_resend: false,
        }
    }

    /// Applies a change of cycle 1 of pair 0 (long `LONG`, short `SHORT`).
    fn change(
        book: &mut PairBook,
        first: Leg,
        qty: &str,
        from: CycleState,
        to: CycleState,
        reason: CycleReason,
    ) {
        book.apply_cycle(&CycleChange {
            pair: PairId(0),
            instrument: InstrumentId(0),
            cycle: 1,
            from,
            to,
            reason,
            first,
            qty_base: d(qty),
            venues: [LONG, SHORT],
        });
    }

    fn book_with_entry(first: Leg, qty: &str) -> PairBook {
        let mut book = PairBook::new(1);
        let (from, to) = (CycleState::Flat, CycleState::Entering);
        change(&mut book, first, qty, from, to, CycleReason::Enter);
        book
    }

    fn next(book: &PairBook, now: u64) -> Option<Action> {
        let inst = InstanceId::new("t").unwrap();
        let p = params();
        PairContext {
            pair: PairId(0),
            instrument: InstrumentId(0),
            cycle: book.cycle(PairId(0)).unwrap(),
            instance: &inst,
            market: &Fixed,
            params: &p,
            now: Now::new(now, 0),
        }
        .next_action()
    }

    fn send(book: &mut PairBook, a: Option<Action>, now: u64) -> OrderIntent {
        match a {
            Some(Action::Send(i)) => {
                book.apply_intent(&i, Now::new(now, 0));
                i
            }
            other => panic!("expected an order, got {other:?}"),
        }
    }

    fn act(book: &mut PairBook, now: u64) -> OrderIntent {
        let a = next(book, now);
        send(book, a, now)
    }

    fn fill(book: &mut PairBook, i: &OrderIntent, cum: &str, status: OrderStatus) {
        let mut r = ExecReport::new(
            i.client_order_id,
            i.venue,
            i.instrument,
            ExecKind::Fill,
            status,
        );
        r.cum_qty_base = d(cum);
        r.avg_price = d("100");
        book.apply_report(&r);
    }

    fn entry(book: &mut PairBook, qty: &str) -> OrderIntent {
        let c = book.cycle(PairId(0)).unwrap();
        let cid =
            ClientOrderId::new(&InstanceId::new("t").unwrap(), 1, Step::Entry, c.first, 0).unwrap();
        let i = OrderIntent {
            action: IntentAction::Place,
            client_order_id: cid,
            pair: PairId(0),
            cycle: 1,
            step: Step::Entry,
            leg: c.first,
            attempt: 0,
            venue: c.venue(c.first),
            instrument: InstrumentId(0),
            side: c.first.opening_side(),
            tif: TimeInForce::Ioc,
            reduce_only: false,
            price: d("100.2"),
            qty_base: d(qty),
            qty_venue: d(qty),
        };
        book.apply_intent(&i, Now::new(0, 0));
        i
    }

    #[test]
    fn hedge_follows_each_fill_increment_in_hedge_venue_units() {
        let mut book = book_with_entry(Leg::Long, "1");
        let e = entry(&mut book, "1");
        assert_eq!(
            next(&book, 10),
            None,
            "nothing executed yet, nothing to hedge"
        );
        fill(&mut book, &e, "0.355", OrderStatus::Open);
        let h1 = act(&mut book, 10);
        // 0.355 BTC on a 0.01-BTC contract venue: 35 contracts = 0.35 BTC.
        assert_eq!(
            (h1.step, h1.leg, h1.side),
            (Step::Hedge, Leg::Short, Side::Sell)
        );
        assert_eq!(
            (h1.qty_base, h1.qty_venue, h1.attempt),
            (d("0.35"), d("35"), 0)
        );
        assert_eq!(next(&book, 10), None, "the in-flight hedge covers the gap");
        fill(&mut book, &e, "0.6", OrderStatus::Canceled);
        let h2 = act(&mut book, 10);
        assert_eq!((h2.qty_base, h2.attempt), (d("0.25"), 1));
        fill(&mut book, &h1, "0.35", OrderStatus::Filled);
        fill(&mut book, &h2, "0.25", OrderStatus::Filled);
        assert_eq!(
            next(&book, 10),
            Some(Action::Transition {
                to: CycleState::Open,
                reason: CycleReason::Hedged
            })
        );
    }

    #[test]
    fn lot_residual_is_trimmed_from_the_first_leg() {
        let mut book = book_with_entry(Leg::Long, "1");
        let e = entry(&mut book, "1");
        fill(&mut book, &e, "0.305", OrderStatus::Canceled);
        let h = act(&mut book, 1);
        assert_eq!(h.qty_base, d("0.3"));
        fill(&mut book, &h, "0.3", OrderStatus::Filled);
        assert_eq!(
            next(&book, 1),
            Some(Action::Transition {
                to: CycleState::Unwinding,
                reason: CycleReason::Residual
            })
        );
        let (from, to) = (CycleState::Entering, CycleState::Unwinding);
        change(&mut book, Leg::Long, "1", from, to, CycleReason::Residual);
        let u = act(&mut book, 1);
        assert_eq!(
            (u.step, u.leg, u.side, u.qty_base),
            (Step::Unwind, Leg::Long, Side::Sell, d("0.005"))
        );
        assert!(!u.reduce_only, "spot legs cannot be reduce-only");
        fill(&mut book, &u, "0.005", OrderStatus::Filled);
        assert_eq!(
            next(&book, 1),
            Some(Action::Transition {
                to: CycleState::Open,
                reason: CycleReason::Unwound
            })
        );
    }

    #[test]
    fn silence_leads_to_a_query_and_blocks_new_orders() {
        let mut book = book_with_entry(Leg::Long, "1");
        let e = entry(&mut book, "1");
        assert_eq!(next(&book, 999), None);
        let q = act(&mut book, 1_000);
        assert_eq!(
            (q.action, q.client_order_id),
            (IntentAction::Query, e.client_order_id)
        );
        // Unknown now: nothing else is sent, and the next query waits its interval.
        assert_eq!(next(&book, 1_500), None);
        let q2 = act(&mut book, 2_000);
        assert_eq!(q2.action, IntentAction::Query);
        fill(&mut book, &e, "0.2", OrderStatus::Canceled);
        let h = act(&mut book, 2_000);
        assert_eq!((h.step, h.qty_base), (Step::Hedge, d("0.2")));
    }

    #[test]
    fn exit_closes_both_legs_and_one_failure_does_not_block_the_other() {
        let mut book = book_with_entry(Leg::Long, "1");
        let e = entry(&mut book, "0.5");
        fill(&mut book, &e, "0.5", OrderStatus::Filled);
        let h = act(&mut book, 1);
        fill(&mut book, &h, "0.5", OrderStatus::Filled);
        for (from, to, reason) in [
            (CycleState::Entering, CycleState::Open, CycleReason::Hedged),
            (
                CycleState::Open,
                CycleState::Exiting,
                CycleReason::Exit(TargetReason::Exit),
            ),
        ] {
            change(&mut book, Leg::Long, "0.5", from, to, reason);
        }
        let x_long = act(&mut book, 1);
        let x_short = act(&mut book, 1);
        assert_eq!(
            (x_long.leg, x_long.side, x_long.qty_base),
            (Leg::Long, Side::Sell, d("0.5"))
        );
        assert_eq!(
            (x_short.leg, x_short.side, x_short.qty_venue),
            (Leg::Short, Side::Buy, d("50"))
        );
        assert!(x_short.reduce_only && !x_long.reduce_only);
        // The long exit is rejected twice (its budget); the short fills.
        fill(&mut book, &x_long, "0", OrderStatus::Rejected);
        fill(&mut book, &x_short, "0.5", OrderStatus::Filled);
        let again = act(&mut book, 1);
        assert_eq!((again.leg, again.attempt), (Leg::Long, 1));
        fill(&mut book, &again, "0", OrderStatus::Rejected);
        assert_eq!(
            next(&book, 1),
            Some(Action::Exposure {
                reason: ExposureReason::ExitExhausted,
                then: None
            })
        );
        assert_eq!(book.cycle(PairId(0)).unwrap().position, [d("0.5"), d("0")]);
    }

    #[test]
    fn first_leg_and_common_size() {
        // A long leg takes the ask, a short leg the bid.
        let thin_ask = Quote {
            bid: d("1"),
            bid_qty: d("9"),
            ask: d("1"),
            ask_qty: d("0.5"),
        };
        let thin_bid = Quote {
            bid: d("1"),
            bid_qty: d("0.2"),
            ask: d("1"),
            ask_qty: d("7"),
        };
        assert_eq!(
            choose_first_leg(FirstLeg::LessLiquid, &thin_ask, &thin_ask),
            Leg::Long
        );
        assert_eq!(
            choose_first_leg(FirstLeg::LessLiquid, &thin_bid, &thin_bid),
            Leg::Short
        );
        assert_eq!(
            choose_first_leg(FirstLeg::Long, &thin_bid, &thin_bid),
            Leg::Long
        );
        assert_eq!(
            choose_first_leg(FirstLeg::Short, &thin_ask, &thin_ask),
            Leg::Short
        );
        let spot = Fixed.spec(LONG, InstrumentId(0)).unwrap();
        let okx = Fixed.spec(SHORT, InstrumentId(0)).unwrap();
        assert_eq!(common_entry_qty(d("0.1234"), &spot, &okx), d("0.12"));
        assert_eq!(common_entry_qty(d("0.1234"), &okx, &spot), d("0.12"));
    }
}

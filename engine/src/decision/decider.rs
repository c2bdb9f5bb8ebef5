//! The decider: the facade of the decision half, which execution's `Engine` drives. Market
//! events, operator commands and execution's reports (rejects, leftover exposure, journal
//! failure) go in; for one pair at a time, [`Decider::evaluate`] says which position it wants on
//! each leg, or nothing. It holds no clock, does no I/O and, after construction, allocates
//! nothing per event: the same inputs give the same targets.
//!
//! # How execution uses it
//! ```text
//! on a market event:  decider.on_market(&ev, now);
//!                     for &pair in decider.pairs_for(ev.venue, ev.instrument) {   // FeedReset:
//!                         if let Some(t) = decider.evaluate(pair, &positions,      // pairs_on_venue
//!                                                           cycle_in_flight(pair), now) { .. }
//!                     }
//! on a timer tick:    decider.on_tick(now); evaluate every pair (staleness, risk, reject windows)
//! on a reject/retry:  decider.on_reject(venue, now) / decider.on_retry(venue, now)
//! exit left exposure: decider.on_leftover_exposure(pair, now)
//! journal failed:     decider.on_journal_failure(now)
//! operator:           decider.on_command(cmd, now), then evaluate every pair
//! after each input:   for c in decider.breaker_changes() { journal it }
//! ```
//!
//! # What `evaluate` returns
//! Targets are states, re-derived each time from confirmed positions, so a failed entry or a
//! partial exit simply gets the same target again on a later evaluation:
//! - **flat, no cycle in flight**: an `Enter` target for the best orientation when its net APR
//!   reaches `entry_apr`, entries are not paused, both legs are fresh and the target validates;
//!   else `None`. A flat pair forgets its orientation, so an `auto` pair may pick other venues
//!   next time; it never switches while a position or a cycle exists.
//! - **open, no cycle in flight**: `ForceExit` (liquidation distance or margin ratio past its
//!   threshold on a perp leg) or `Flatten` (operator) first; else `Exit` when the held
//!   orientation's gross APR is below `exit_apr` or below zero; else `None`. No pause ever
//!   blocks these. Stale data gives no spread and so no `Exit` (a forced exit uses the last
//!   mark, fresh or not).
//! - **cycle in flight**: only a `ForceExit`/`Flatten`, and only once per cycle, so execution
//!   can abandon an entry; otherwise `None`.
//! - **halted** (journal failure): always `None`.
//!
//! An entry does not top up: a pair holding less than its target size (a partial entry) is
//! open, and stays at what it has until it exits.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::clock::Now;
use crate::config::{ConfigError, DeciderConfig};
use crate::decision::breaker::{BreakerChange, BreakerKind, Breakers};
use crate::decision::command::OperatorCommand;
use crate::decision::metrics::{
    ExposureGauges, LegRiskGauges, Metrics, PairGauges, SkipReason, StreamGauges,
};
use crate::decision::pair::{Orientation, Pair, PairTable};
use crate::decision::risk::{self, Breach, LegRisk, MarginCheck, MarginModel};
use crate::decision::strategy::{self, Edge, EdgeInputs, LegCache, StrategyParams, TargetContext};
use crate::decision::target::{LegTarget, PairId, PairTarget, TargetReason};
use crate::execution::position::Positions;
use crate::market::event::{MarketEvent, MarketEventKind, Quote};
use crate::market::funding::{Applied, FundingMonitor, FundingState, LegProblem, StreamKind, Ttls};
use crate::market::instrument::{InstrumentId, Universe};
use crate::market::venue::{Venue, VENUE_COUNT};

/// Per-pair decision state.
#[derive(Clone, Copy, Debug, Default)]
struct PairState {
    /// The orientation of the last entry; kept while a position or a cycle exists.
    active: Option<Orientation>,
    /// The forced reason last emitted while a cycle was in flight (emit it once per cycle).
    forced_emitted: Option<TargetReason>,
    /// The last edge computed, for views.
    edge: Option<LastEdge>,
    last_skip: Option<SkipReason>,
}

/// What [`Decider::edge`] shows for a pair.
#[derive(Clone, Copy, Debug)]
enum LastEdge {
    /// The held orientation's inputs, as the exit rule saw them.
    Held(EdgeInputs),
    /// The best candidate of the last entry decision. Its inputs are combined from the stream
    /// caches when a view asks (which change only with new events, each of which re-decides),
    /// so the decision itself stays in fixed point.
    Best(Orientation),
}

/// The decision half of the engine. See the module documentation for the protocol.
pub struct Decider {
    pairs: PairTable,
    monitor: FundingMonitor,
    breakers: Breakers,
    params: StrategyParams,
    margin: [MarginModel; VENUE_COUNT],
    checks: [MarginCheck; VENUE_COUNT],
    /// Strategy values per stream, `instrument * VENUE_COUNT + venue`.
    legs: Vec<LegCache>,
    max_total_notional: Decimal,
    instruments: usize,
    /// Pairs of each instrument, so sums over open positions visit only the pairs that can hold
    /// them.
    pairs_by_instrument: Vec<Vec<PairId>>,
    state: Vec<PairState>,
    metrics: Metrics,
}

fn breaker_for(problem: Option<LegProblem>) -> Option<BreakerKind> {
    match problem {
        Some(LegProblem::Stale) => Some(BreakerKind::StaleFeed),
        Some(LegProblem::Reset) => Some(BreakerKind::FeedReset),
        // Never received is not a feed failure (it is the state at start); it shows in the
        // stream gauges and simply yields no spread.
        Some(LegProblem::Missing) | None => None,
    }
}

fn f64_of(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

impl Decider {
    /// Validates the configuration against the universe and builds every table the hot path
    /// needs. Errors name the offending key.
    pub fn new(cfg: DeciderConfig, universe: &Universe) -> Result<Decider, ConfigError> {
        cfg.validate()?;
        let pairs = PairTable::build(&cfg, universe)?;
        let instruments = universe.len();
        let mut subscriptions = Vec::new();
        for p in pairs.iter() {
            for &v in &p.venues {
                subscriptions.push((v, p.instrument, p.id));
            }
        }
        let fallback_ms = u64::from(cfg.strategy.fallback_interval_hours) * 3_600_000;
        let monitor = FundingMonitor::new(
            instruments,
            Ttls::from_ms(cfg.breakers.funding_ttl_ms, cfg.breakers.quote_ttl_ms),
            fallback_ms,
            &subscriptions,
        );
        let breakers = Breakers::new(
            instruments,
            pairs.len(),
            cfg.breakers.reject_window_ms,
            cfg.breakers.max_rejects_per_window,
        );
        let margin =
            Venue::ALL.map(|v| MarginModel::new(cfg.leverage(v), cfg.maintenance_margin_rate(v)));
        let checks = margin.map(|m| {
            MarginCheck::new(
                &m,
                cfg.risk.min_liquidation_distance,
                cfg.risk.max_margin_ratio,
            )
        });
        let metrics = Metrics {
            pairs: pairs
                .iter()
                .map(|p| PairGauges {
                    pair: p.id,
                    name: p.name.clone(),
                    instrument: p.instrument,
                    orientation: None,
                    open: false,
                    long_rate: None,
                    short_rate: None,
                    spread: None,
                    gross_apr: None,
                    net_apr: None,
                    leg_problem: None,
                    last_skip: None,
                    force_exit: None,
                })
                .collect(),
            streams: Vec::with_capacity(subscriptions.len()),
            exposures: Vec::with_capacity(instruments),
            legs: Vec::with_capacity(instruments * VENUE_COUNT),
            total_notional: 0.0,
            counters: Default::default(),
        };
        let mut pairs_by_instrument = vec![Vec::new(); instruments];
        for p in pairs.iter() {
            if let Some(list) = pairs_by_instrument.get_mut(p.instrument.index()) {
                list.push(p.id);
            }
        }
        Ok(Decider {
            pairs_by_instrument,
            state: vec![PairState::default(); pairs.len()],
            params: StrategyParams::new(&cfg)?,
            max_total_notional: cfg.risk.max_total_notional,
            legs: vec![LegCache::default(); instruments * VENUE_COUNT],
            checks,
            pairs,
            monitor,
            breakers,
            margin,
            instruments,
            metrics,
        })
    }

    // ------------------------------------------------------------------ inputs

    /// Takes in one market event: updates funding or quote state, and the stream breakers it
    /// affects. O(1); a feed reset is O(instruments).
    pub fn on_market(&mut self, ev: &MarketEvent, now: Now) {
        let applied = self.monitor.apply(ev, now);
        let slot = ev.instrument.index() * VENUE_COUNT + ev.venue.index();
        match (applied, &ev.kind) {
            (Applied::Quote, MarketEventKind::Quote(q)) => {
                if let Some(leg) = self.legs.get_mut(slot) {
                    leg.on_quote(q, &self.params);
                }
            }
            (Applied::Funding, _) => {
                if let (Some(leg), Some(f)) = (
                    self.legs.get_mut(slot),
                    self.monitor.funding(ev.venue, ev.instrument),
                ) {
                    leg.on_funding(f, &self.params);
                }
            }
            _ => {}
        }
        self.metrics.counters.event(
            ev.venue,
            crate::decision::metrics::EventOutcome::of(applied),
        );
        match applied {
            Applied::Reset(_) => {
                for i in 0..self.instruments {
                    let instrument = InstrumentId(i as u16);
                    if self.monitor.is_subscribed(ev.venue, instrument) {
                        self.breakers.set_stream(
                            ev.venue,
                            instrument,
                            Some(BreakerKind::FeedReset),
                            now,
                        );
                    }
                }
            }
            // Only a tripped stream can change state on new data; fresh data never trips.
            Applied::Funding | Applied::Quote
                if self
                    .breakers
                    .stream_blocked(ev.venue, ev.instrument)
                    .is_some() =>
            {
                let problem = self.monitor.leg_problem(ev.venue, ev.instrument, now);
                self.breakers
                    .set_stream(ev.venue, ev.instrument, breaker_for(problem), now);
            }
            _ => {}
        }
    }

    /// Timer tick: trips staleness breakers of streams whose data aged out and clears reject
    /// breakers whose window passed. O(subscribed streams).
    pub fn on_tick(&mut self, now: Now) {
        for i in 0..self.instruments {
            let instrument = InstrumentId(i as u16);
            for v in Venue::ALL {
                if self.monitor.is_subscribed(v, instrument) {
                    let problem = self.monitor.leg_problem(v, instrument, now);
                    self.breakers
                        .set_stream(v, instrument, breaker_for(problem), now);
                }
            }
        }
        self.breakers.refresh_venues(now);
    }

    /// An operator command; evaluate every pair afterwards so `flatten` takes effect.
    pub fn on_command(&mut self, cmd: OperatorCommand, now: Now) {
        self.metrics.counters.command(cmd);
        self.breakers.command(cmd, now);
    }

    /// A venue rejected an order: counts toward that venue's reject-rate breaker.
    pub fn on_reject(&mut self, venue: Venue, now: Now) {
        self.metrics.counters.venue_rejects[venue.index()] += 1;
        self.breakers.on_reject(venue, now);
    }

    /// A live venue's gateway reported a condition (not ready, backlog) holding or cleared.
    pub fn on_venue_condition(
        &mut self,
        venue: Venue,
        condition: crate::decision::breaker::VenueCondition,
        on: bool,
        now: Now,
    ) {
        self.breakers.set_venue_condition(venue, condition, on, now);
    }

    /// Execution retried an order on a venue (timeout, hedge retry): counts like a reject.
    pub fn on_retry(&mut self, venue: Venue, now: Now) {
        self.metrics.counters.venue_retries[venue.index()] += 1;
        self.breakers.on_reject(venue, now);
    }

    /// Execution gave up closing part of `pair`: no new entries there until `resume`. Exits go
    /// on: the pair is still open, so its exit conditions keep producing exit targets.
    pub fn on_leftover_exposure(&mut self, pair: PairId, now: Now) {
        self.breakers.trip_leftover(pair, now);
    }

    /// A journal write failed: halt everything (no targets at all) until restart.
    pub fn on_journal_failure(&mut self, now: Now) {
        self.breakers.halt(now);
    }

    // ------------------------------------------------------------------ decisions

    /// The target for one pair now, given confirmed positions and whether execution has a cycle
    /// in flight for it. `None`: no change wanted. See the module documentation.
    pub fn evaluate(
        &mut self,
        pair: PairId,
        positions: &Positions,
        in_flight: bool,
        now: Now,
    ) -> Option<PairTarget> {
        self.metrics.counters.evaluations += 1;
        let p = self.pairs.get(pair)?;
        if self.breakers.is_halted() {
            return self.skip(pair, SkipReason::Halted);
        }
        let held = held_orientation(p, positions, self.state[pair.index()].active);
        if held.is_none() && !in_flight {
            let st = &mut self.state[pair.index()];
            st.active = None;
            st.forced_emitted = None;
            self.breakers.clear_pair_force(pair, now);
            return self.consider_entry(pair, positions, now);
        }
        let o = held
            .or(self.state[pair.index()].active)
            .unwrap_or(p.orientations[0]);

        // Forced exits come first and ignore every pause.
        let forced = if self.breakers.is_flattening() {
            Some(TargetReason::Flatten)
        } else {
            self.check_margin(pair, o, positions, now);
            self.breakers
                .pair_force(pair)
                .map(|_| TargetReason::ForceExit)
        };
        if let Some(reason) = forced {
            // Idle: always (the last cycle ended and the pair is still open). In flight: once,
            // so execution can abandon what it is doing, then not again during that cycle.
            let st = &mut self.state[pair.index()];
            if in_flight && st.forced_emitted == Some(reason) {
                return self.skip(pair, SkipReason::InFlight);
            }
            st.forced_emitted = Some(reason);
            return self.emit_exit(pair, o, reason);
        }
        if in_flight {
            return self.skip(pair, SkipReason::InFlight);
        }

        let instrument = self.pairs.get(pair)?.instrument;
        match self.inputs(instrument, o, now) {
            Err(_) => {
                self.note_leg_problems(instrument, o, now);
                self.state[pair.index()].edge = None;
                self.skip(pair, SkipReason::NoSpread)
            }
            Ok(e) => {
                self.state[pair.index()].edge = Some(LastEdge::Held(e));
                if strategy::should_exit(e.gross_apr, &self.params) {
                    self.emit_exit(pair, o, TargetReason::Exit)
                } else {
                    self.skip(pair, SkipReason::Holding)
                }
            }
        }
    }

    fn skip(&mut self, pair: PairId, reason: SkipReason) -> Option<PairTarget> {
        self.metrics.counters.skip(reason);
        if let Some(st) = self.state.get_mut(pair.index()) {
            st.last_skip = Some(reason);
        }
        None
    }

    fn emit_exit(
        &mut self,
        pair: PairId,
        o: Orientation,
        reason: TargetReason,
    ) -> Option<PairTarget> {
        let p = self.pairs.get(pair)?;
        let t = PairTarget {
            pair,
            instrument: p.instrument,
            long: LegTarget {
                venue: o.long,
                qty: Decimal::ZERO,
            },
            short: LegTarget {
                venue: o.short,
                qty: Decimal::ZERO,
            },
            reason,
        };
        let ctx = TargetContext {
            price: Decimal::ZERO,
            open_notional: Decimal::ZERO,
            max_total_notional: self.max_total_notional,
            tradable: true,
        };
        if let Err(r) = strategy::validate(&t, p, &ctx) {
            self.metrics.counters.rejection(r);
            return None;
        }
        self.metrics.counters.decision(reason);
        self.state[pair.index()].last_skip = None;
        Some(t)
    }

    /// The edge inputs of `o` from the per-stream caches, or why a leg cannot be used.
    fn inputs(
        &self,
        instrument: InstrumentId,
        o: Orientation,
        now: Now,
    ) -> Result<EdgeInputs, LegProblem> {
        if let Some(p) = self.monitor.leg_problem(o.long, instrument, now) {
            return Err(p);
        }
        if let Some(p) = self.monitor.leg_problem(o.short, instrument, now) {
            return Err(p);
        }
        let base = instrument.index() * VENUE_COUNT;
        let (Some(long), Some(short)) = (
            self.legs.get(base + o.long.index()),
            self.legs.get(base + o.short.index()),
        ) else {
            return Err(LegProblem::Missing);
        };
        Ok(EdgeInputs::combine(o, long, short))
    }

    /// Trips the pair's force-exit breaker when a perp leg of `o` is past a margin threshold.
    /// Uses the last known mark even if stale: for a forced exit, old data is better than none.
    fn check_margin(&mut self, pair: PairId, o: Orientation, positions: &Positions, now: Now) {
        let Some(p) = self.pairs.get(pair) else {
            return;
        };
        let instrument = p.instrument;
        for venue in [o.long, o.short] {
            if !venue.is_perp() {
                continue;
            }
            let pos = positions.get(venue, instrument);
            if pos.qty.is_zero() {
                continue;
            }
            let Some(mark) = self.monitor.mark_price(venue, instrument) else {
                continue;
            };
            let breach = self.checks[venue.index()].breach(pos.qty, pos.entry_price, mark);
            if let Some(b) = breach {
                let kind = match b {
                    Breach::LiquidationDistance => BreakerKind::LiquidationDistance,
                    Breach::MarginRatio => BreakerKind::MarginRatio,
                };
                self.breakers.trip_pair_force(pair, kind, now);
                return;
            }
        }
    }

    fn note_leg_problems(&mut self, instrument: InstrumentId, o: Orientation, now: Now) {
        for v in [o.long, o.short] {
            let problem = self.monitor.leg_problem(v, instrument, now);
            self.breakers
                .set_stream(v, instrument, breaker_for(problem), now);
        }
    }

    fn consider_entry(
        &mut self,
        pair: PairId,
        positions: &Positions,
        now: Now,
    ) -> Option<PairTarget> {
        if self.breakers.global_entry_block().is_some() || self.breakers.pair_leftover(pair) {
            return self.skip(pair, SkipReason::EntriesPaused);
        }
        let p = self.pairs.get(pair)?;
        let instrument = p.instrument;
        // Each venue of the pair is checked once (an auto pair has many orientations over few
        // venues): fresh, and not paused by its reject rate.
        const UNUSABLE: u8 = 0;
        const USABLE: u8 = 1;
        const PAUSED: u8 = 2;
        let mut status = [UNUSABLE; VENUE_COUNT];
        for &v in &p.venues {
            let problem = self.monitor.leg_problem(v, instrument, now);
            self.breakers
                .set_stream(v, instrument, breaker_for(problem), now);
            if problem.is_none() {
                status[v.index()] = if self.breakers.venue_blocked(v, now) {
                    PAUSED
                } else {
                    USABLE
                };
            }
        }
        let base = instrument.index() * VENUE_COUNT;
        let usable =
            |o: &Orientation| status[o.long.index()] == USABLE && status[o.short.index()] == USABLE;
        let venue_paused = p.orientations.iter().any(|o| {
            !usable(o) && status[o.long.index()] != UNUSABLE && status[o.short.index()] != UNUSABLE
        });
        // Fixed point while every candidate's terms fit (always, at real prices and rates);
        // exact decimals for all of them otherwise, so the ranking compares like with like.
        let params = &self.params;
        let best = match self.best_entry(p, base, usable, |o, l, s| {
            strategy::entry_margin_fx(o, l, s, params)
        }) {
            Some(best) => best.map(|(o, m)| (o, m < 0)),
            None => self
                .best_entry(p, base, usable, |o, l, s| {
                    strategy::entry_margin(o, l, s, params)
                })
                .flatten()
                .map(|(o, m)| (o, m < Decimal::ZERO)),
        };
        let Some((o, below_entry)) = best else {
            self.state[pair.index()].edge = None;
            let reason = if venue_paused {
                SkipReason::EntriesPaused
            } else {
                SkipReason::NoSpread
            };
            return self.skip(pair, reason);
        };
        self.state[pair.index()].edge = Some(LastEdge::Best(o));
        if below_entry {
            return self.skip(pair, SkipReason::BelowEntry);
        }
        let (Some(lq), Some(sq)) = (
            self.quote(o.long, instrument),
            self.quote(o.short, instrument),
        ) else {
            return self.skip(pair, SkipReason::NoSpread);
        };
        let open_notional = self.open_notional(positions, Some(pair));
        let headroom = self.max_total_notional - open_notional;
        let p = self.pairs.get(pair)?;
        let qty = strategy::entry_qty(p, &lq, &sq, headroom);
        let t = PairTarget {
            pair,
            instrument,
            long: LegTarget { venue: o.long, qty },
            short: LegTarget {
                venue: o.short,
                qty: -qty,
            },
            reason: TargetReason::Enter,
        };
        let ctx = TargetContext {
            price: strategy::entry_price(&lq, &sq),
            open_notional,
            max_total_notional: self.max_total_notional,
            tradable: !self.monitor.is_stale(o.long, instrument, now)
                && !self.monitor.is_stale(o.short, instrument, now),
        };
        if let Err(r) = strategy::validate(&t, p, &ctx) {
            self.metrics.counters.rejection(r);
            return None;
        }
        self.state[pair.index()].active = Some(o);
        self.metrics.counters.decision(TargetReason::Enter);
        self.state[pair.index()].last_skip = None;
        Some(t)
    }

    /// The `usable` orientation of `p` with the largest `margin`, from the stream caches at
    /// `base`; `None` as soon as `margin` gives up on one (a term out of fixed point's range).
    fn best_entry<T: PartialOrd>(
        &self,
        p: &Pair,
        base: usize,
        usable: impl Fn(&Orientation) -> bool,
        margin: impl Fn(Orientation, &LegCache, &LegCache) -> Option<T>,
    ) -> Option<Option<(Orientation, T)>> {
        let mut best: Option<(Orientation, T)> = None;
        for &o in p.orientations.iter().filter(|o| usable(o)) {
            let (Some(l), Some(s)) = (
                self.legs.get(base + o.long.index()),
                self.legs.get(base + o.short.index()),
            ) else {
                continue;
            };
            let m = margin(o, l, s)?;
            if best.as_ref().is_none_or(|(_, b)| m > *b) {
                best = Some((o, m));
            }
        }
        Some(best)
    }

    /// Notional held by pairs, each counting its larger side (long legs vs short legs) at mark
    /// (or at entry price where no mark is known); `except` is left out. Every entry decision
    /// pays this walk, so it visits only the pairs of instruments that hold a position.
    fn open_notional(&self, positions: &Positions, except: Option<PairId>) -> Decimal {
        let mut total = Decimal::ZERO;
        let open_pairs = positions
            .open_instruments()
            .iter()
            .filter_map(|i| self.pairs_by_instrument.get(i.index()))
            .flatten()
            .filter_map(|&id| self.pairs.get(id));
        for p in open_pairs {
            if Some(p.id) == except {
                continue;
            }
            let (mut long, mut short, mut held) = (Decimal::ZERO, Decimal::ZERO, false);
            for &v in &p.venues {
                let pos = positions.get(v, p.instrument);
                if pos.qty.is_zero() {
                    continue;
                }
                held = true;
                let price = self
                    .monitor
                    .mark_price(v, p.instrument)
                    .unwrap_or(pos.entry_price);
                if pos.qty > Decimal::ZERO {
                    long += pos.notional(price);
                } else {
                    short += pos.notional(price);
                }
            }
            if held {
                total += long.max(short);
            }
        }
        total
    }

    // ------------------------------------------------------------------ views

    /// Pairs that use this (venue, instrument), as a leg or an `auto` candidate.
    pub fn pairs_for(&self, venue: Venue, instrument: InstrumentId) -> &[PairId] {
        self.monitor.pairs_for(venue, instrument)
    }

    /// Pairs that use `venue` for any instrument: the ones to evaluate after its feed resets.
    pub fn pairs_on_venue(&self, venue: Venue) -> &[PairId] {
        self.monitor.pairs_on_venue(venue)
    }

    /// The configured pairs, resolved.
    pub fn pairs(&self) -> &PairTable {
        &self.pairs
    }

    /// One pair, if the id is configured.
    pub fn pair(&self, id: PairId) -> Option<&Pair> {
        self.pairs.get(id)
    }

    /// Breaker trips and clears since the last call, oldest first; execution journals them.
    pub fn breaker_changes(&mut self) -> std::vec::Drain<'_, BreakerChange> {
        self.breakers.drain_changes()
    }

    /// The circuit breakers and which are tripped.
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    /// Whether a breaker halted everything (a journal failure).
    pub fn is_halted(&self) -> bool {
        self.breakers.is_halted()
    }

    /// The funding monitor: every subscribed stream's latest funding and quote.
    pub fn monitor(&self) -> &FundingMonitor {
        &self.monitor
    }

    /// The latest top of book of (venue, instrument), if one arrived.
    pub fn quote(&self, venue: Venue, instrument: InstrumentId) -> Option<Quote> {
        self.monitor.quote(venue, instrument).map(|q| q.quote)
    }

    /// The latest funding of (venue, instrument), if any arrived on a subscribed stream.
    pub fn funding(&self, venue: Venue, instrument: InstrumentId) -> Option<FundingState> {
        self.monitor.funding(venue, instrument).copied()
    }

    /// The edge last computed for a pair (held orientation, or best candidate when flat), as
    /// APRs (computed on demand: one division, not on the decision path).
    pub fn edge(&self, pair: PairId) -> Option<Edge> {
        let inputs = match self.state.get(pair.index())?.edge? {
            LastEdge::Held(e) => e,
            LastEdge::Best(o) => {
                let base = self.pairs.get(pair)?.instrument.index() * VENUE_COUNT;
                EdgeInputs::combine(
                    o,
                    self.legs.get(base + o.long.index())?,
                    self.legs.get(base + o.short.index())?,
                )
            }
        };
        Some(inputs.edge(&self.params))
    }

    /// The margin risk of one open perp position, at its current mark.
    pub fn leg_risk(
        &self,
        venue: Venue,
        instrument: InstrumentId,
        positions: &Positions,
    ) -> Option<LegRisk> {
        let pos = positions.get(venue, instrument);
        let mark = self
            .monitor
            .mark_price(venue, instrument)
            .unwrap_or(pos.entry_price);
        LegRisk::assess(venue, instrument, &pos, mark, &self.margin[venue.index()])
    }

    /// Counters are live; gauges are as of the last [`Decider::refresh_metrics`].
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Recomputes every gauge (spreads per pair, stream ages, exposure, margin per open perp
    /// leg). O(pairs × orientations + streams + positions); call it when publishing a snapshot,
    /// not per event. Reuses its vectors, so it does not allocate once they have reached size.
    pub fn refresh_metrics(&mut self, positions: &Positions, now: Now) {
        self.metrics.counters.breaker_trips = *self.breakers.trips();
        for i in 0..self.pairs.len() {
            let pair = PairId(i as u16);
            let Some(p) = self.pairs.get(pair) else {
                continue;
            };
            let held = held_orientation(p, positions, self.state[i].active);
            let shown = held.or(self.state[i].active);
            let (edge, problem) = match shown {
                Some(o) => {
                    match self
                        .inputs(p.instrument, o, now)
                        .map(|e| e.edge(&self.params))
                    {
                        Ok(e) => (Some(e), None),
                        Err(pr) => (None, Some(pr)),
                    }
                }
                None => {
                    let mut best: Option<Edge> = None;
                    let mut problem = None;
                    for &o in &p.orientations {
                        match self
                            .inputs(p.instrument, o, now)
                            .map(|e| e.edge(&self.params))
                        {
                            Ok(e) => {
                                if best.is_none_or(|b| e.net_apr > b.net_apr) {
                                    best = Some(e);
                                }
                            }
                            Err(pr) => problem = problem.or(Some(pr)),
                        }
                    }
                    (best, if best.is_some() { None } else { problem })
                }
            };
            let g = &mut self.metrics.pairs[i];
            g.orientation = edge.map(|e| e.orientation).or(shown);
            g.open = held.is_some();
            g.long_rate = edge.map(|e| f64_of(e.long_rate));
            g.short_rate = edge.map(|e| f64_of(e.short_rate));
            g.spread = edge.map(|e| f64_of(e.spread));
            g.gross_apr = edge.map(|e| f64_of(e.gross_apr));
            g.net_apr = edge.map(|e| f64_of(e.net_apr));
            g.leg_problem = problem;
            g.last_skip = self.state[i].last_skip;
            g.force_exit = self.breakers.pair_force(pair);
        }

        self.metrics.streams.clear();
        for (venue, instrument) in self.monitor.subscribed() {
            let f = self.monitor.funding(venue, instrument);
            self.metrics.streams.push(StreamGauges {
                venue,
                instrument,
                funding_age_ms: self
                    .monitor
                    .age_ms(venue, instrument, StreamKind::Funding, now),
                quote_age_ms: self
                    .monitor
                    .age_ms(venue, instrument, StreamKind::Quote, now),
                problem: self.monitor.leg_problem(venue, instrument, now),
                interval_ms: venue
                    .is_perp()
                    .then(|| self.monitor.interval_ms(venue, instrument))
                    .flatten(),
                interval_source: f.map(|f| f.interval_source),
            });
        }

        self.metrics.exposures.clear();
        self.metrics.legs.clear();
        for i in 0..self.instruments {
            let instrument = InstrumentId(i as u16);
            let monitor = &self.monitor;
            let e = risk::instrument_exposure(instrument, positions, |v| {
                monitor.mark_price(v, instrument)
            });
            if e.spot_qty.is_zero() && e.perp_qty.is_zero() {
                continue;
            }
            self.metrics.exposures.push(ExposureGauges {
                instrument,
                spot_qty: f64_of(e.spot_qty),
                perp_qty: f64_of(e.perp_qty),
                net_delta: f64_of(e.net_delta()),
                gross_notional: f64_of(e.gross_notional),
            });
            for v in Venue::ALL {
                if let Some(r) = self.leg_risk(v, instrument, positions) {
                    self.metrics.legs.push(LegRiskGauges {
                        venue: v,
                        instrument,
                        qty: f64_of(r.qty),
                        entry_price: f64_of(r.entry_price),
                        mark_price: f64_of(r.mark_price),
                        liquidation_price: f64_of(r.liquidation_price),
                        liquidation_distance: f64_of(r.liquidation_distance),
                        margin_ratio: r.margin_ratio.map(f64_of),
                    });
                }
            }
        }
        self.metrics.total_notional = f64_of(self.open_notional(positions, None));
    }
}

/// The orientation a pair's positions show: the venue holding a long and the one holding a
/// short. With one leg only (a partial entry or exit), the active orientation if it agrees, else
/// the first configured orientation that does.
fn held_orientation(
    p: &Pair,
    positions: &Positions,
    active: Option<Orientation>,
) -> Option<Orientation> {
    let (mut long, mut short) = (None, None);
    for &v in &p.venues {
        let q = positions.get(v, p.instrument).qty;
        if q > Decimal::ZERO {
            long = Some(v);
        } else if q < Decimal::ZERO {
            short = Some(v);
        }
    }
    let agrees =
        |o: &Orientation| long.is_none_or(|l| o.long == l) && short.is_none_or(|s| o.short == s);
    match (long, short) {
        (None, None) => None,
        (Some(l), Some(s)) => Some(Orientation { long: l, short: s }),
        _ => active
            .filter(agrees)
            .or_else(|| p.orientations.iter().copied().find(agrees))
            .or_else(|| {
                // A position no orientation explains (cannot come from this decider's targets):
                // pair it with any other venue of the pair so that it can still be exited.
                let held = long.or(short)?;
                let other = p.venues.iter().copied().find(|v| *v != held)?;
                Some(match long {
                    Some(l) => Orientation {
                        long: l,
                        short: other,
                    },
                    None => Orientation {
                        long: other,
                        short: held,
                    },
                })
            }),
    }
}

//! Circuit breakers: the conditions under which the engine stops opening positions, forces them
//! closed, or stops altogether. Each breaker has a kind (a small enum, the metric label), a scope
//! (everything, a venue, one venue's stream of one instrument, or a pair) and an effect:
//!
//! | kind | scope | effect | trips on | clears on |
//! |---|---|---|---|---|
//! | `stale_feed` | stream | pause entries | data older than its TTL | fresh data |
//! | `feed_reset` | stream | pause entries | the venue's feed reset | new data of every kind |
//! | `reject_rate` | venue | pause entries | more rejects/retries than allowed in a window | the window passing |
//! | `liquidation_distance` | pair | force exit | a perp leg too close to liquidation | the pair being flat |
//! | `margin_ratio` | pair | force exit | a perp leg's margin ratio too high | the pair being flat |
//! | `leftover_exposure` | pair | pause entries | execution could not close a leg | operator `resume` |
//! | `journal_failure` | global | halt | a journal write failed | restart only |
//! | `operator_pause` | global | pause entries | `pause` | `resume` |
//! | `operator_flatten` | global | force exit | `flatten` | `resume` |
//! | `venue_not_ready` | venue | pause entries | a live venue refused carry's setup or credentials | the venue reported ready (a start whose setup passed) |
//! | `order_backlog` | venue | pause entries | the gateway holds too many intents for the venue's rate limit | the backlog draining |
//!
//! Pausing entries never blocks an exit: exits are decided without consulting any pause, and
//! only force-exit breakers and `flatten` close positions on their own. A halt stops everything,
//! exits included, because with the journal failing no order could be recorded before sending.
//!
//! Every trip and clear is recorded as a [`BreakerChange`] for execution to journal (drained with
//! [`Breakers::drain_changes`]) and every trip is counted. Storage is sized at start; the change
//! buffer only grows if more changes happen between two drains than there are breakers.

use crate::clock::Now;
use crate::decision::command::OperatorCommand;
use crate::decision::target::PairId;
use crate::market::instrument::InstrumentId;
use crate::market::venue::{Venue, VENUE_COUNT};

/// What tripped a breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BreakerKind {
    /// Data of a stream older than its time-to-live.
    StaleFeed,
    /// A venue's feed reset; the stream waits for new data of every kind.
    FeedReset,
    /// More rejects or retries on a venue than allowed in a window.
    RejectRate,
    /// A perp leg of the pair too close to liquidation.
    LiquidationDistance,
    /// A perp leg of the pair with too high a margin ratio.
    MarginRatio,
    /// Execution could not close a leg of the pair.
    LeftoverExposure,
    /// A journal write failed.
    JournalFailure,
    /// The operator said `pause`.
    OperatorPause,
    /// The operator said `flatten`.
    OperatorFlatten,
    /// A live venue is not ready: it refused carry's account setup (hedge mode, leverage,
    /// margin mode) or its credentials.
    VenueNotReady,
    /// A live venue's gateway holds more intents than the venue's rate limit lets it send.
    OrderBacklog,
}

/// Number of breaker kinds; the length of per-kind counters.
pub const BREAKER_KIND_COUNT: usize = 11;

impl BreakerKind {
    /// Every kind, in index order.
    pub const ALL: [BreakerKind; BREAKER_KIND_COUNT] = [
        BreakerKind::StaleFeed,
        BreakerKind::FeedReset,
        BreakerKind::RejectRate,
        BreakerKind::LiquidationDistance,
        BreakerKind::MarginRatio,
        BreakerKind::LeftoverExposure,
        BreakerKind::JournalFailure,
        BreakerKind::OperatorPause,
        BreakerKind::OperatorFlatten,
        BreakerKind::VenueNotReady,
        BreakerKind::OrderBacklog,
    ];

    /// The kind's metric label (`stale_feed`).
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerKind::StaleFeed => "stale_feed",
            BreakerKind::FeedReset => "feed_reset",
            BreakerKind::RejectRate => "reject_rate",
            BreakerKind::LiquidationDistance => "liquidation_distance",
            BreakerKind::MarginRatio => "margin_ratio",
            BreakerKind::LeftoverExposure => "leftover_exposure",
            BreakerKind::JournalFailure => "journal_failure",
            BreakerKind::OperatorPause => "operator_pause",
            BreakerKind::OperatorFlatten => "operator_flatten",
            BreakerKind::VenueNotReady => "venue_not_ready",
            BreakerKind::OrderBacklog => "order_backlog",
        }
    }

    /// Dense index in `0..BREAKER_KIND_COUNT`; also a stable journal code (append only).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The kind at this index, if any.
    pub const fn from_index(i: usize) -> Option<BreakerKind> {
        if i < BREAKER_KIND_COUNT {
            Some(BreakerKind::ALL[i])
        } else {
            None
        }
    }

    /// What a tripped breaker of this kind does.
    pub const fn effect(self) -> Effect {
        match self {
            BreakerKind::StaleFeed
            | BreakerKind::FeedReset
            | BreakerKind::RejectRate
            | BreakerKind::LeftoverExposure
            | BreakerKind::OperatorPause
            | BreakerKind::VenueNotReady
            | BreakerKind::OrderBacklog => Effect::PauseEntries,
            BreakerKind::LiquidationDistance
            | BreakerKind::MarginRatio
            | BreakerKind::OperatorFlatten => Effect::ForceExit,
            BreakerKind::JournalFailure => Effect::Halt,
        }
    }
}

/// A condition of a live venue that only the gateway side can see (the engine does no I/O),
/// handed to the engine as a journaled input so replay sees it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VenueCondition {
    /// The venue refused carry's account setup or credentials.
    NotReady,
    /// The gateway's rate-limit backlog is past its threshold.
    Backlog,
}

impl VenueCondition {
    /// Every condition, in code order.
    pub const ALL: [VenueCondition; 2] = [VenueCondition::NotReady, VenueCondition::Backlog];

    /// The breaker this condition trips.
    pub const fn breaker(self) -> BreakerKind {
        match self {
            VenueCondition::NotReady => BreakerKind::VenueNotReady,
            VenueCondition::Backlog => BreakerKind::OrderBacklog,
        }
    }

    /// Stable one-byte code for journal records; never renumber.
    pub const fn code(self) -> u8 {
        match self {
            VenueCondition::NotReady => 1,
            VenueCondition::Backlog => 2,
        }
    }

    /// The condition with this journal code, if any.
    pub const fn from_code(code: u8) -> Option<VenueCondition> {
        match code {
            1 => Some(VenueCondition::NotReady),
            2 => Some(VenueCondition::Backlog),
            _ => None,
        }
    }

    /// The condition's name in views and dumps (`not_ready`).
    pub const fn as_str(self) -> &'static str {
        match self {
            VenueCondition::NotReady => "not_ready",
            VenueCondition::Backlog => "backlog",
        }
    }

    const fn slot(self) -> usize {
        self.code() as usize - 1
    }
}

/// What a tripped breaker does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// No new entries in its scope; exits go on.
    PauseEntries,
    /// Close positions in its scope (and no new entries).
    ForceExit,
    /// Nothing at all: no entries, no exits.
    Halt,
}

impl Effect {
    /// The effect's name in views (`pause_entries`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Effect::PauseEntries => "pause_entries",
            Effect::ForceExit => "force_exit",
            Effect::Halt => "halt",
        }
    }
}

/// What a breaker covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything.
    Global,
    /// One venue.
    Venue(Venue),
    /// One venue's stream of one instrument.
    Stream {
        /// The venue.
        venue: Venue,
        /// The instrument.
        instrument: InstrumentId,
    },
    /// One pair.
    Pair(PairId),
}

/// One trip or clear, for the journal and the admin view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerChange {
    /// Which breaker.
    pub kind: BreakerKind,
    /// Where.
    pub scope: Scope,
    /// `true`: tripped; `false`: cleared.
    pub tripped: bool,
    /// When the condition was seen.
    pub at: Now,
}

/// A breaker that is tripped now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveBreaker {
    /// Which breaker.
    pub kind: BreakerKind,
    /// Where.
    pub scope: Scope,
    /// When it tripped.
    pub since: Now,
}

/// Rejects (and retries) per venue over a sliding window: the last `cap = max + 1` stamps in a
/// ring. More than `max` in the window means the oldest of those `cap` is inside it.
#[derive(Clone, Debug)]
struct RejectWindow {
    stamps: Vec<u64>,
    next: usize,
    len: usize,
}

impl RejectWindow {
    fn new(cap: usize) -> RejectWindow {
        RejectWindow {
            stamps: vec![0; cap],
            next: 0,
            len: 0,
        }
    }

    fn push(&mut self, ns: u64) {
        let cap = self.stamps.len();
        self.stamps[self.next] = ns;
        self.next = (self.next + 1) % cap;
        self.len = (self.len + 1).min(cap);
    }

    /// More than `cap − 1` stamps within `window_ns` of `now_ns`.
    fn over(&self, now_ns: u64, window_ns: u64) -> bool {
        let cap = self.stamps.len();
        // With a full ring, `next` points at the oldest stamp.
        self.len == cap && now_ns.saturating_sub(self.stamps[self.next]) <= window_ns
    }
}

/// State of every breaker.
pub struct Breakers {
    halted: Option<Now>,
    paused: Option<Now>,
    flatten: Option<Now>,
    reject_windows: Vec<RejectWindow>,
    reject_tripped: [Option<Now>; VENUE_COUNT],
    /// Per venue, per [`VenueCondition`]: since when it holds.
    conditions: [[Option<Now>; 2]; VENUE_COUNT],
    window_ns: u64,
    /// Per stream slot (`instrument * VENUE_COUNT + venue`): stale or reset, and since when.
    streams: Vec<Option<(BreakerKind, Now)>>,
    /// Per pair: a force-exit breaker (liquidation distance or margin ratio).
    pair_force: Vec<Option<(BreakerKind, Now)>>,
    pair_leftover: Vec<Option<Now>>,
    changes: Vec<BreakerChange>,
    trips: [u64; BREAKER_KIND_COUNT],
}

impl Breakers {
    /// Breakers for `instruments` instruments and `pairs` pairs, none tripped; a venue trips
    /// `reject_rate` on more than `max_rejects` rejects or retries in `reject_window_ms`.
    pub fn new(
        instruments: usize,
        pairs: usize,
        reject_window_ms: u64,
        max_rejects: u32,
    ) -> Breakers {
        let cap = max_rejects.max(1) as usize + 1;
        let breakers = 3 + 3 * VENUE_COUNT + instruments * VENUE_COUNT + 2 * pairs;
        Breakers {
            halted: None,
            paused: None,
            flatten: None,
            reject_windows: (0..VENUE_COUNT).map(|_| RejectWindow::new(cap)).collect(),
            reject_tripped: [None; VENUE_COUNT],
            conditions: [[None; 2]; VENUE_COUNT],
            window_ns: reject_window_ms.saturating_mul(1_000_000),
            streams: vec![None; instruments * VENUE_COUNT],
            pair_force: vec![None; pairs],
            pair_leftover: vec![None; pairs],
            changes: Vec::with_capacity(2 * breakers),
            trips: [0; BREAKER_KIND_COUNT],
        }
    }

    fn record(&mut self, kind: BreakerKind, scope: Scope, tripped: bool, at: Now) {
        if tripped {
            self.trips[kind.index()] += 1;
        }
        self.changes.push(BreakerChange {
            kind,
            scope,
            tripped,
            at,
        });
    }

    /// Drains the trips and clears since the last call, oldest first.
    pub fn drain_changes(&mut self) -> std::vec::Drain<'_, BreakerChange> {
        self.changes.drain(..)
    }

    /// Whether any changes wait to be drained.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Trips per kind since start.
    pub fn trips(&self) -> &[u64; BREAKER_KIND_COUNT] {
        &self.trips
    }

    // ---- global ----

    /// A journal write failed: stop everything until restart.
    pub fn halt(&mut self, now: Now) {
        if self.halted.is_none() {
            self.halted = Some(now);
            self.record(BreakerKind::JournalFailure, Scope::Global, true, now);
        }
    }

    /// Whether a journal failure halted everything.
    pub fn is_halted(&self) -> bool {
        self.halted.is_some()
    }

    /// Applies an operator command. `resume` lifts pause, flatten and leftover-exposure pauses,
    /// never a halt.
    pub fn command(&mut self, cmd: OperatorCommand, now: Now) {
        match cmd {
            OperatorCommand::Pause => {
                if self.paused.is_none() {
                    self.paused = Some(now);
                    self.record(BreakerKind::OperatorPause, Scope::Global, true, now);
                }
            }
            OperatorCommand::Flatten => {
                if self.flatten.is_none() {
                    self.flatten = Some(now);
                    self.record(BreakerKind::OperatorFlatten, Scope::Global, true, now);
                }
            }
            OperatorCommand::Resume => {
                if self.paused.take().is_some() {
                    self.record(BreakerKind::OperatorPause, Scope::Global, false, now);
                }
                if self.flatten.take().is_some() {
                    self.record(BreakerKind::OperatorFlatten, Scope::Global, false, now);
                }
                for i in 0..self.pair_leftover.len() {
                    if self.pair_leftover[i].take().is_some() {
                        let scope = Scope::Pair(PairId(i as u16));
                        self.record(BreakerKind::LeftoverExposure, scope, false, now);
                    }
                }
            }
        }
    }

    /// Whether the operator's `flatten` is in force.
    pub fn is_flattening(&self) -> bool {
        self.flatten.is_some()
    }

    /// The global reason entries are off, if any (halt first, then flatten, then pause).
    pub fn global_entry_block(&self) -> Option<BreakerKind> {
        if self.halted.is_some() {
            Some(BreakerKind::JournalFailure)
        } else if self.flatten.is_some() {
            Some(BreakerKind::OperatorFlatten)
        } else if self.paused.is_some() {
            Some(BreakerKind::OperatorPause)
        } else {
            None
        }
    }

    // ---- venues ----

    /// Counts a reject or a retry on `venue`; trips the venue's breaker when more than the
    /// allowed number fall in one window.
    pub fn on_reject(&mut self, venue: Venue, now: Now) {
        let i = venue.index();
        self.reject_windows[i].push(now.mono_ns);
        if self.reject_tripped[i].is_none()
            && self.reject_windows[i].over(now.mono_ns, self.window_ns)
        {
            self.reject_tripped[i] = Some(now);
            self.record(BreakerKind::RejectRate, Scope::Venue(venue), true, now);
        }
    }

    /// Clears reject-rate breakers whose window has passed.
    pub fn refresh_venues(&mut self, now: Now) {
        for venue in Venue::ALL {
            self.refresh_venue(venue, now);
        }
    }

    fn refresh_venue(&mut self, venue: Venue, now: Now) {
        let i = venue.index();
        if self.reject_tripped[i].is_some()
            && !self.reject_windows[i].over(now.mono_ns, self.window_ns)
        {
            self.reject_tripped[i] = None;
            self.record(BreakerKind::RejectRate, Scope::Venue(venue), false, now);
        }
    }

    /// Whether entries on `venue` are paused: by its reject rate (refreshed first) or by a
    /// condition its gateway reported.
    pub fn venue_blocked(&mut self, venue: Venue, now: Now) -> bool {
        self.refresh_venue(venue, now);
        self.reject_tripped[venue.index()].is_some()
            || self.conditions[venue.index()].iter().any(Option::is_some)
    }

    /// A live venue's condition holds (`on`) or no longer does. Reports a change only when the
    /// state differs.
    pub fn set_venue_condition(
        &mut self,
        venue: Venue,
        condition: VenueCondition,
        on: bool,
        now: Now,
    ) {
        let slot = &mut self.conditions[venue.index()][condition.slot()];
        match (slot.is_some(), on) {
            (false, true) => {
                *slot = Some(now);
                self.record(condition.breaker(), Scope::Venue(venue), true, now);
            }
            (true, false) => {
                *slot = None;
                self.record(condition.breaker(), Scope::Venue(venue), false, now);
            }
            _ => {}
        }
    }

    // ---- streams ----

    /// Sets a stream's staleness breaker: `Some(StaleFeed | FeedReset)` trips, `None` clears.
    /// Reports a change only when the state differs.
    pub fn set_stream(
        &mut self,
        venue: Venue,
        instrument: InstrumentId,
        problem: Option<BreakerKind>,
        now: Now,
    ) {
        let slot = instrument.index() * VENUE_COUNT + venue.index();
        let Some(current) = self.streams.get(slot).copied() else {
            return;
        };
        let scope = Scope::Stream { venue, instrument };
        match (current, problem) {
            (None, None) => {}
            (Some((old, _)), Some(new)) if old == new => {}
            (old, new) => {
                if let Some((old, _)) = old {
                    self.record(old, scope, false, now);
                }
                if let Some(new) = new {
                    self.record(new, scope, true, now);
                }
                self.streams[slot] = new.map(|k| (k, now));
            }
        }
    }

    /// The breaker pausing (venue, instrument)'s stream, if any.
    pub fn stream_blocked(&self, venue: Venue, instrument: InstrumentId) -> Option<BreakerKind> {
        self.streams
            .get(instrument.index() * VENUE_COUNT + venue.index())
            .copied()
            .flatten()
            .map(|(k, _)| k)
    }

    // ---- pairs ----

    /// Trips a pair's force-exit breaker (liquidation distance or margin ratio); it stays
    /// tripped until [`Breakers::clear_pair_force`] (the pair is flat).
    pub fn trip_pair_force(&mut self, pair: PairId, kind: BreakerKind, now: Now) {
        if let Some(slot) = self.pair_force.get_mut(pair.index()) {
            if slot.is_none() {
                *slot = Some((kind, now));
                self.record(kind, Scope::Pair(pair), true, now);
            }
        }
    }

    /// Clears the pair's force-exit breaker (the pair is flat).
    pub fn clear_pair_force(&mut self, pair: PairId, now: Now) {
        if let Some(slot) = self.pair_force.get_mut(pair.index()) {
            if let Some((kind, _)) = slot.take() {
                self.record(kind, Scope::Pair(pair), false, now);
            }
        }
    }

    /// The force-exit breaker tripped on the pair, if any.
    pub fn pair_force(&self, pair: PairId) -> Option<BreakerKind> {
        self.pair_force
            .get(pair.index())
            .copied()
            .flatten()
            .map(|(k, _)| k)
    }

    /// Execution could not close a leg of `pair`: no new entries there until `resume`.
    pub fn trip_leftover(&mut self, pair: PairId, now: Now) {
        if let Some(slot) = self.pair_leftover.get_mut(pair.index()) {
            if slot.is_none() {
                *slot = Some(now);
                self.record(BreakerKind::LeftoverExposure, Scope::Pair(pair), true, now);
            }
        }
    }

    /// Whether leftover exposure pauses the pair's entries.
    pub fn pair_leftover(&self, pair: PairId) -> bool {
        self.pair_leftover
            .get(pair.index())
            .is_some_and(|s| s.is_some())
    }

    /// Every breaker tripped now, for the admin view (allocates; not for the hot path).
    pub fn active(&self) -> Vec<ActiveBreaker> {
        let mut out = Vec::new();
        let global = [
            (BreakerKind::JournalFailure, self.halted),
            (BreakerKind::OperatorFlatten, self.flatten),
            (BreakerKind::OperatorPause, self.paused),
        ];
        for (kind, since) in global {
            if let Some(since) = since {
                out.push(ActiveBreaker {
                    kind,
                    scope: Scope::Global,
                    since,
                });
            }
        }
        for venue in Venue::ALL {
            if let Some(since) = self.reject_tripped[venue.index()] {
                out.push(ActiveBreaker {
                    kind: BreakerKind::RejectRate,
                    scope: Scope::Venue(venue),
                    since,
                });
            }
        }
        for venue in Venue::ALL {
            for condition in VenueCondition::ALL {
                if let Some(since) = self.conditions[venue.index()][condition.slot()] {
                    out.push(ActiveBreaker {
                        kind: condition.breaker(),
                        scope: Scope::Venue(venue),
                        since,
                    });
                }
            }
        }
        for (slot, s) in self.streams.iter().enumerate() {
            if let Some((kind, since)) = s {
                out.push(ActiveBreaker {
                    kind: *kind,
                    scope: Scope::Stream {
                        venue: Venue::ALL[slot % VENUE_COUNT],
                        instrument: InstrumentId((slot / VENUE_COUNT) as u16),
                    },
                    since: *since,
                });
            }
        }
        for (i, s) in self.pair_force.iter().enumerate() {
            if let Some((kind, since)) = s {
                out.push(ActiveBreaker {
                    kind: *kind,
                    scope: Scope::Pair(PairId(i as u16)),
                    since: *since,
                });
            }
        }
        for (i, s) in self.pair_leftover.iter().enumerate() {
            if let Some(since) = s {
                out.push(ActiveBreaker {
                    kind: BreakerKind::LeftoverExposure,
                    scope: Scope::Pair(PairId(i as u16)),
                    since: *since,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn at(ms: u64) -> Now {
        Now::new(ms * MS, ms as i64)
    }

    fn v(s: &str) -> Venue {
        s.parse().unwrap()
    }

    fn drained(b: &mut Breakers) -> Vec<(BreakerKind, Scope, bool)> {
        b.drain_changes()
            .map(|c| (c.kind, c.scope, c.tripped))
            .collect()
    }

    #[test]
    fn venue_conditions_pause_their_venue_until_cleared_and_survive_resume() {
        let mut b = Breakers::new(1, 1, 1_000, 3);
        let (okx, gate) = (v("okx-perp"), v("gate-perp"));
        assert!(!b.venue_blocked(okx, at(0)));
        b.set_venue_condition(okx, VenueCondition::NotReady, true, at(1));
        b.set_venue_condition(okx, VenueCondition::NotReady, true, at(2)); // no second trip
        b.set_venue_condition(gate, VenueCondition::Backlog, true, at(3));
        assert!(b.venue_blocked(okx, at(4)));
        assert!(b.venue_blocked(gate, at(4)));
        b.command(OperatorCommand::Resume, at(5));
        assert!(
            b.venue_blocked(okx, at(6)),
            "resume does not make a venue ready"
        );
        b.set_venue_condition(gate, VenueCondition::Backlog, false, at(7));
        assert!(!b.venue_blocked(gate, at(8)));
        assert_eq!(
            drained(&mut b),
            vec![
                (BreakerKind::VenueNotReady, Scope::Venue(okx), true),
                (BreakerKind::OrderBacklog, Scope::Venue(gate), true),
                (BreakerKind::OrderBacklog, Scope::Venue(gate), false),
            ]
        );
        let active: Vec<_> = b.active().iter().map(|a| (a.kind, a.scope)).collect();
        assert_eq!(
            active,
            vec![(BreakerKind::VenueNotReady, Scope::Venue(okx))]
        );
        for c in VenueCondition::ALL {
            assert_eq!(VenueCondition::from_code(c.code()), Some(c));
        }
        assert_eq!(VenueCondition::from_code(0), None);
    }

    #[test]
    fn kinds_index_and_effects() {
        for (i, k) in BreakerKind::ALL.into_iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(BreakerKind::from_index(i), Some(k));
        }
        assert_eq!(BreakerKind::StaleFeed.effect(), Effect::PauseEntries);
        assert_eq!(BreakerKind::MarginRatio.effect(), Effect::ForceExit);
        assert_eq!(BreakerKind::OperatorFlatten.effect(), Effect::ForceExit);
        assert_eq!(BreakerKind::JournalFailure.effect(), Effect::Halt);
    }

    #[test]
    fn reject_rate_trips_above_the_limit_and_clears_when_the_window_passes() {
        // At most 3 rejects per 1000 ms.
        let mut b = Breakers::new(1, 1, 1_000, 3);
        let okx = v("okx-perp");
        for t in [0, 100, 200] {
            b.on_reject(okx, at(t));
        }
        assert!(!b.venue_blocked(okx, at(200)), "3 in the window is allowed");
        b.on_reject(okx, at(1_150)); // the one at 0 has left the window
        assert!(!b.venue_blocked(okx, at(1_150)));
        b.on_reject(okx, at(1_160)); // and the one at 100: 200, 1150, 1160 remain
        assert!(!b.venue_blocked(okx, at(1_160)));
        b.on_reject(okx, at(1_170)); // 200, 1150, 1160, 1170: four within 1000 ms
        assert!(b.venue_blocked(okx, at(1_170)), "4 rejects within 1000 ms");
        assert!(!b.venue_blocked(v("okx-spot"), at(1_170)), "per venue");
        assert_eq!(b.trips()[BreakerKind::RejectRate.index()], 1);
        assert!(b.venue_blocked(okx, at(1_200)));
        // The 4th most recent (200) leaves the window at 1201.
        assert!(!b.venue_blocked(okx, at(1_201)));
        assert_eq!(
            drained(&mut b),
            vec![
                (BreakerKind::RejectRate, Scope::Venue(okx), true),
                (BreakerKind::RejectRate, Scope::Venue(okx), false)
            ]
        );
    }

    #[test]
    fn operator_commands_and_halt() {
        let mut b = Breakers::new(1, 2, 1_000, 3);
        b.command(OperatorCommand::Pause, at(1));
        b.command(OperatorCommand::Pause, at(2)); // no second change
        assert_eq!(b.global_entry_block(), Some(BreakerKind::OperatorPause));
        b.command(OperatorCommand::Flatten, at(3));
        assert!(b.is_flattening());
        assert_eq!(b.global_entry_block(), Some(BreakerKind::OperatorFlatten));
        b.trip_leftover(PairId(1), at(4));
        assert!(b.pair_leftover(PairId(1)));
        assert_eq!(b.active().len(), 3);
        b.command(OperatorCommand::Resume, at(5));
        assert_eq!(b.global_entry_block(), None);
        assert!(!b.pair_leftover(PairId(1)));
        b.halt(at(6));
        b.command(OperatorCommand::Resume, at(7));
        assert!(b.is_halted(), "resume never lifts a halt");
        assert_eq!(b.global_entry_block(), Some(BreakerKind::JournalFailure));
        assert_eq!(
            drained(&mut b),
            vec![
                (BreakerKind::OperatorPause, Scope::Global, true),
                (BreakerKind::OperatorFlatten, Scope::Global, true),
                (BreakerKind::LeftoverExposure, Scope::Pair(PairId(1)), true),
                (BreakerKind::OperatorPause, Scope::Global, false),
                (BreakerKind::OperatorFlatten, Scope::Global, false),
                (BreakerKind::LeftoverExposure, Scope::Pair(PairId(1)), false),
                (BreakerKind::JournalFailure, Scope::Global, true),
            ]
        );
        assert!(!b.has_changes());
    }

    #[test]
    fn stream_and_pair_breakers_report_only_real_changes() {
        let mut b = Breakers::new(2, 1, 1_000, 3);
        let (venue, inst) = (v("gate-perp"), InstrumentId(1));
        let scope = Scope::Stream {
            venue,
            instrument: inst,
        };
        b.set_stream(venue, inst, None, at(1));
        b.set_stream(venue, inst, Some(BreakerKind::FeedReset), at(2));
        b.set_stream(venue, inst, Some(BreakerKind::FeedReset), at(3));
        assert_eq!(b.stream_blocked(venue, inst), Some(BreakerKind::FeedReset));
        b.set_stream(venue, inst, Some(BreakerKind::StaleFeed), at(4));
        b.set_stream(venue, inst, None, at(5));
        assert_eq!(b.stream_blocked(venue, inst), None);
        b.trip_pair_force(PairId(0), BreakerKind::MarginRatio, at(6));
        b.trip_pair_force(PairId(0), BreakerKind::LiquidationDistance, at(7)); // already tripped
        assert_eq!(b.pair_force(PairId(0)), Some(BreakerKind::MarginRatio));
        b.clear_pair_force(PairId(0), at(8));
        b.clear_pair_force(PairId(0), at(9));
        assert_eq!(
            drained(&mut b),
            vec![
                (BreakerKind::FeedReset, scope, true),
                (BreakerKind::FeedReset, scope, false),
                (BreakerKind::StaleFeed, scope, true),
                (BreakerKind::StaleFeed, scope, false),
                (BreakerKind::MarginRatio, Scope::Pair(PairId(0)), true),
                (BreakerKind::MarginRatio, Scope::Pair(PairId(0)), false),
            ]
        );
        assert_eq!(b.trips()[BreakerKind::FeedReset.index()], 1);
        assert_eq!(b.trips()[BreakerKind::StaleFeed.index()], 1);
    }
}

//! Per-stage latency: fixed-bound hdrhistograms filled on the hot threads, handed to the admin
//! thread once per interval, merged there into cumulative and last-interval views.
//!
//! A [`LatencyRecorder`] belongs to exactly one thread (the engine thread, or one gateway thread)
//! and records into the histograms of its current [`IntervalSet`]. Every histogram is created up
//! front with fixed bounds ([`LOWEST_NS`]..=[`HIGHEST_NS`], [`SIGFIG`] significant figures), so
//! recording is an index computation and an increment: it never allocates, never resizes, and a
//! value above the bound is clamped to it and counted as saturated.
//!
//! The exchange with the admin thread uses two bounded lock-free queues per recorder, both
//! pre-filled at construction: [`LatencyRecorder::maybe_publish`] pushes the filled set onto the
//! `filled` queue and pops an empty one from the `empty` queue; the [`LatencyCollector`] (admin
//! thread) pops filled sets, merges them, clears them and pushes them back. Neither side ever
//! waits for the other. If the admin thread has not returned a set in time the recorder simply
//! keeps recording into its current set (the interval gets longer, nothing is lost) and counts
//! the deferral. After the pool has circulated once, neither call allocates.
//!
//! Memory: one histogram of these bounds holds 27 648 counters; interval sets count in `u32`
//! (110 KiB per histogram), the cumulative view in `u64`. Only the stages a recorder declares
//! get histograms, and only per-venue stages get one per venue (the all-venues aggregate is built
//! on the admin side): the engine recorder of `carry run` declares all seven stages, three of
//! them per venue, so each of its interval sets is 34 histograms, about 3.7 MiB.
//!
//! ```
//! use carry::latency::{LatencyCollector, LatencyConfig, Stage};
//! use carry_engine::Venue;
//!
//! let mut collector = LatencyCollector::new(LatencyConfig::default()).unwrap();
//! let mut engine = collector.new_recorder("engine", &[Stage::Parse, Stage::Decide]).unwrap();
//! let okx: Venue = "okx-perp".parse().unwrap();
//! engine.maybe_publish(1); // starts the interval clock
//! engine.record(Stage::Parse, okx, 1_800);
//! engine.record_span(Stage::Decide, okx, 10_000, 10_150);
//! assert!(engine.maybe_publish(1 + 1_000_000_000)); // one interval later: handed over
//! collector.collect(5);
//! let summary = collector.report().summary_json();
//! assert_eq!(summary["parse"]["count"], 1);
//! assert_eq!(summary["decide"]["max"], 150);
//! ```

use std::fmt::Write as _;
use std::str::FromStr;
use std::sync::Arc;

use carry_engine::market::venue::{Venue, VENUE_COUNT};
use crossbeam::queue::ArrayQueue;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Lowest value a latency histogram discerns, in nanoseconds.
pub const LOWEST_NS: u64 = 1;
/// Highest value a latency histogram tracks (60 s); larger values are clamped and counted.
pub const HIGHEST_NS: u64 = 60_000_000_000;
/// Significant figures kept: values are exact to within 0.1 %.
pub const SIGFIG: u8 = 3;

/// A step of the path from socket read to venue acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Socket read → parsed market event (feed thread stamps, engine records).
    Parse,
    /// Event enqueued by the feed thread → dequeued by the engine thread.
    Queue,
    /// The engine's time for one market event (dequeued → `on_event` returned), less the time
    /// its journal appends took.
    Decide,
    /// The journal appends within that event: its own record and whatever it led to.
    Journal,
    /// Socket read of the triggering event → intent journaled.
    WireToIntent,
    /// Journaled → handed to the gateway thread's queue (the engine's non-blocking send).
    Send,
    /// The gateway sent the request → the venue's answer arrived (gateway stamps).
    Ack,
}

impl Stage {
    pub const COUNT: usize = 7;

    pub const ALL: [Stage; Stage::COUNT] = [
        Stage::Parse,
        Stage::Queue,
        Stage::Decide,
        Stage::Journal,
        Stage::WireToIntent,
        Stage::Send,
        Stage::Ack,
    ];

    /// The name used in tables, JSON keys and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Parse => "parse",
            Stage::Queue => "queue",
            Stage::Decide => "decide",
            Stage::Journal => "journal",
            Stage::WireToIntent => "wire_to_intent",
            Stage::Send => "send",
            Stage::Ack => "ack",
        }
    }

    /// Dense index in `0..Stage::COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Stages that differ by venue enough to be kept per venue (each feed has its own socket
    /// and queue); the others are kept as one all-venues histogram.
    pub const fn is_per_venue(self) -> bool {
        matches!(self, Stage::Parse | Stage::Queue | Stage::WireToIntent)
    }
}

/// A stage name that is not one of [`Stage::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown latency stage {0:?} (expected parse, queue, decide, journal, wire_to_intent, send or ack)")]
pub struct UnknownStage(pub String);

impl FromStr for Stage {
    type Err = UnknownStage;
    fn from_str(s: &str) -> Result<Stage, UnknownStage> {
        Stage::ALL
            .iter()
            .copied()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownStage(s.to_string()))
    }
}

/// Why a recorder or collector could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LatencyError {
    #[error("latency interval must be at least 1 ms, got {0} ns")]
    IntervalTooShort(u64),
    #[error(
        "latency pool must hold at least 2 interval sets (one recording, one in flight), got {0}"
    )]
    PoolTooSmall(usize),
    #[error("latency recorder {0:?} declares no stage to record")]
    NoStages(&'static str),
    #[error("more than {max} latency recorders", max = u16::MAX)]
    TooManyRecorders,
    #[error("hdrhistogram rejected bounds {LOWEST_NS}..={HIGHEST_NS} ns with {SIGFIG} significant figures: {0}")]
    Histogram(String),
}

fn new_histogram<C: hdrhistogram::Counter>() -> Result<Histogram<C>, LatencyError> {
    let mut h = Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIG)
        .map_err(|e| LatencyError::Histogram(format!("{e:?}")))?;
    // Fixed bounds: a resize would allocate on the recording thread.
    h.auto(false);
    Ok(h)
}

/// Slots of a recorder's set: per-venue stages use `VENUE_COUNT` slots, the others slot 0.
const SET_SLOTS: usize = Stage::COUNT * VENUE_COUNT;

const fn set_slot(stage: Stage, venue: Venue) -> usize {
    if stage.is_per_venue() {
        stage.index() * VENUE_COUNT + venue.index()
    } else {
        stage.index() * VENUE_COUNT
    }
}

/// One recorder's histograms for one interval, plus what could not be recorded exactly.
pub struct IntervalSet {
    recorder: u16,
    start_ns: u64,
    hist: Vec<Option<Histogram<u32>>>,
    saturated: [u64; Stage::COUNT],
    /// Records for a stage the recorder did not declare.
    undeclared: u64,
    /// Publishes the recorder deferred because no empty set was available.
    deferred: u64,
}

impl IntervalSet {
    fn new(recorder: u16, stages: &[Stage]) -> Result<IntervalSet, LatencyError> {
        let mut hist: Vec<Option<Histogram<u32>>> = (0..SET_SLOTS).map(|_| None).collect();
        for &stage in stages {
            if stage.is_per_venue() {
                for venue in Venue::ALL {
                    hist[set_slot(stage, venue)] = Some(new_histogram()?);
                }
            } else {
                hist[set_slot(stage, Venue::ALL[0])] = Some(new_histogram()?);
            }
        }
        Ok(IntervalSet {
            recorder,
            start_ns: 0,
            hist,
            saturated: [0; Stage::COUNT],
            undeclared: 0,
            deferred: 0,
        })
    }

    fn clear(&mut self) {
        for h in self.hist.iter_mut().flatten() {
            if !h.is_empty() {
                h.reset();
            }
        }
        self.saturated = [0; Stage::COUNT];
        self.undeclared = 0;
        self.deferred = 0;
        self.start_ns = 0;
    }

    /// The interval's histogram for `stage` on `venue` (ignored for all-venue stages), if the
    /// recorder declared that stage.
    pub fn histogram(&self, stage: Stage, venue: Venue) -> Option<&Histogram<u32>> {
        self.hist[set_slot(stage, venue)].as_ref()
    }

    /// Registration index of the recorder that filled this set.
    pub fn recorder(&self) -> u16 {
        self.recorder
    }
}

/// The two queues between one recorder and the collector.
struct Link {
    name: &'static str,
    filled: ArrayQueue<Box<IntervalSet>>,
    empty: ArrayQueue<Box<IntervalSet>>,
}

/// Records latencies on one thread and publishes them once per interval. See the module doc.
pub struct LatencyRecorder {
    current: Box<IntervalSet>,
    link: Arc<Link>,
    interval_ns: u64,
    deferred: u64,
}

impl LatencyRecorder {
    /// Records `ns` for `stage`. `venue` selects the per-venue histogram of per-venue stages and
    /// is ignored for the others. Never allocates; a value above [`HIGHEST_NS`] is clamped and
    /// counted as saturated.
    #[inline]
    pub fn record(&mut self, stage: Stage, venue: Venue, ns: u64) {
        let set = &mut *self.current;
        match set.hist[set_slot(stage, venue)].as_mut() {
            Some(h) => {
                if ns > HIGHEST_NS {
                    set.saturated[stage.index()] += 1;
                }
                h.saturating_record(ns);
            }
            None => set.undeclared += 1,
        }
    }

    /// Records the time from `from_ns` to `to_ns` (monotonic stamps). A stamp pair that runs
    /// backwards (stamps from different clocks) records 0 rather than a huge unsigned value.
    #[inline]
    pub fn record_span(&mut self, stage: Stage, venue: Venue, from_ns: u64, to_ns: u64) {
        self.record(stage, venue, to_ns.saturating_sub(from_ns));
    }

    /// Publishes the current set if an interval has passed since it started; call it on the
    /// owner's timer tick. Returns whether a set was handed over. The first call only starts the
    /// interval clock. Never blocks and, once the pool has circulated, never allocates.
    pub fn maybe_publish(&mut self, now_ns: u64) -> bool {
        if self.current.start_ns == 0 {
            self.current.start_ns = now_ns.max(1);
            return false;
        }
        if now_ns.saturating_sub(self.current.start_ns) < self.interval_ns {
            return false;
        }
        self.publish(now_ns)
    }

    /// Publishes the current set now, whatever its age (e.g. before the thread exits).
    pub fn publish(&mut self, now_ns: u64) -> bool {
        let Some(mut next) = self.link.empty.pop() else {
            // The collector still holds every spare set: keep recording into this one.
            self.deferred += 1;
            return false;
        };
        next.start_ns = now_ns.max(1);
        let mut filled = std::mem::replace(&mut self.current, next);
        filled.deferred = self.deferred;
        self.deferred = 0;
        if let Err(mut back) = self.link.filled.push(filled) {
            // Cannot happen (both queues hold the whole pool); never lose data if it does.
            std::mem::swap(&mut self.current, &mut back);
            self.deferred = self.current.deferred + 1;
            let _ = self.link.empty.push(back);
            return false;
        }
        true
    }

    /// The name this recorder was registered under.
    pub fn name(&self) -> &'static str {
        self.link.name
    }
}

/// How the latency exchange is sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyConfig {
    /// Publication interval of every recorder and window of the last-interval view.
    pub interval_ns: u64,
    /// Interval sets per recorder, including the one being recorded.
    pub pool: usize,
}

impl Default for LatencyConfig {
    fn default() -> LatencyConfig {
        LatencyConfig {
            interval_ns: 1_000_000_000,
            pool: 3,
        }
    }
}

/// Histograms indexed by (stage, venue or all-venues), allocated only for declared stages.
struct Totals<C: hdrhistogram::Counter> {
    hist: Vec<Option<Histogram<C>>>,
}

const TOTAL_VENUE_SLOTS: usize = VENUE_COUNT + 1;
const AGGREGATE: usize = VENUE_COUNT;

const fn total_slot(stage: Stage, venue_slot: usize) -> usize {
    stage.index() * TOTAL_VENUE_SLOTS + venue_slot
}

impl<C: hdrhistogram::Counter> Totals<C> {
    fn new() -> Totals<C> {
        Totals {
            hist: (0..Stage::COUNT * TOTAL_VENUE_SLOTS)
                .map(|_| None)
                .collect(),
        }
    }

    fn declare(&mut self, stage: Stage) -> Result<(), LatencyError> {
        let mut slots = vec![AGGREGATE];
        if stage.is_per_venue() {
            slots.extend(0..VENUE_COUNT);
        }
        for v in slots {
            let slot = &mut self.hist[total_slot(stage, v)];
            if slot.is_none() {
                *slot = Some(new_histogram()?);
            }
        }
        Ok(())
    }

    fn get(&self, stage: Stage, venue_slot: usize) -> Option<&Histogram<C>> {
        self.hist[total_slot(stage, venue_slot)].as_ref()
    }

    fn reset(&mut self) {
        for h in self.hist.iter_mut().flatten() {
            if !h.is_empty() {
                h.reset();
            }
        }
    }
}

/// Adds a `u32` interval histogram into a `u64` one of the same bounds.
fn widen_into(dst: &mut Histogram<u64>, src: &Histogram<u32>) {
    for v in src.iter_recorded() {
        // Same bounds on both sides: every recorded value is representable.
        dst.saturating_record_n(v.value_iterated_to(), u64::from(v.count_at_value()));
    }
}

/// Same bounds and counter type on both sides: only counter saturation could fail, and
/// hdrhistogram saturates rather than failing there.
fn add_same(dst: &mut Histogram<u32>, src: &Histogram<u32>) {
    let _ = dst.add(src);
}

/// The admin side of the exchange: owns the queues of every recorder, merges what they publish
/// into cumulative histograms and the last completed interval window.
pub struct LatencyCollector {
    config: LatencyConfig,
    links: Vec<Arc<Link>>,
    cumulative: Totals<u64>,
    window: Totals<u32>,
    last: Totals<u32>,
    window_start_ns: u64,
    last_window_ns: u64,
    intervals: u64,
    deferred: u64,
    undeclared: u64,
    saturated: [u64; Stage::COUNT],
}

impl LatencyCollector {
    pub fn new(config: LatencyConfig) -> Result<LatencyCollector, LatencyError> {
        if config.interval_ns < 1_000_000 {
            return Err(LatencyError::IntervalTooShort(config.interval_ns));
        }
        if config.pool < 2 {
            return Err(LatencyError::PoolTooSmall(config.pool));
        }
        Ok(LatencyCollector {
            config,
            links: Vec::new(),
            cumulative: Totals::new(),
            window: Totals::new(),
            last: Totals::new(),
            window_start_ns: 0,
            last_window_ns: 0,
            intervals: 0,
            deferred: 0,
            undeclared: 0,
            saturated: [0; Stage::COUNT],
        })
    }

    /// Creates a recorder for one thread, recording `stages`, with its pool of interval sets.
    /// Call before the collector moves to the admin thread.
    pub fn new_recorder(
        &mut self,
        name: &'static str,
        stages: &[Stage],
    ) -> Result<LatencyRecorder, LatencyError> {
        if stages.is_empty() {
            return Err(LatencyError::NoStages(name));
        }
        let id = u16::try_from(self.links.len()).map_err(|_| LatencyError::TooManyRecorders)?;
        let link = Arc::new(Link {
            name,
            filled: ArrayQueue::new(self.config.pool),
            empty: ArrayQueue::new(self.config.pool),
        });
        for _ in 1..self.config.pool {
            let set = Box::new(IntervalSet::new(id, stages)?);
            // Capacity is the pool size; the pool minus the current set always fits.
            let _ = link.empty.push(set);
        }
        let current = Box::new(IntervalSet::new(id, stages)?);
        for &stage in stages {
            self.cumulative.declare(stage)?;
            self.window.declare(stage)?;
            self.last.declare(stage)?;
        }
        self.links.push(Arc::clone(&link));
        Ok(LatencyRecorder {
            current,
            link,
            interval_ns: self.config.interval_ns,
            deferred: 0,
        })
    }

    /// Drains every recorder's published sets, merges them and hands the sets back; rotates the
    /// last-interval window when an interval has passed. Returns how many sets were merged.
    pub fn collect(&mut self, now_ns: u64) -> usize {
        let mut merged = 0;
        for i in 0..self.links.len() {
            let link = Arc::clone(&self.links[i]);
            while let Some(mut set) = link.filled.pop() {
                self.merge(&set);
                set.clear();
                // The recorder's side holds the rest of the pool: this always fits.
                let _ = link.empty.push(set);
                merged += 1;
            }
        }
        if self.window_start_ns == 0 {
            self.window_start_ns = now_ns.max(1);
        } else if now_ns.saturating_sub(self.window_start_ns) >= self.config.interval_ns {
            std::mem::swap(&mut self.window, &mut self.last);
            self.window.reset();
            self.last_window_ns = now_ns - self.window_start_ns;
            self.window_start_ns = now_ns.max(1);
        }
        merged
    }

    fn merge(&mut self, set: &IntervalSet) {
        self.intervals += 1;
        self.deferred += set.deferred;
        self.undeclared += set.undeclared;
        for (acc, s) in self.saturated.iter_mut().zip(set.saturated) {
            *acc += s;
        }
        for stage in Stage::ALL {
            let venues: &[Venue] = if stage.is_per_venue() {
                &Venue::ALL
            } else {
                &Venue::ALL[..1]
            };
            for &venue in venues {
                let Some(src) = set.histogram(stage, venue) else {
                    continue;
                };
                if src.is_empty() {
                    continue;
                }
                let mut targets = [AGGREGATE, AGGREGATE];
                let n = if stage.is_per_venue() {
                    targets[1] = venue.index();
                    2
                } else {
                    1
                };
                for &v in &targets[..n] {
                    let slot = total_slot(stage, v);
                    if let Some(dst) = self.cumulative.hist[slot].as_mut() {
                        widen_into(dst, src);
                    }
                    if let Some(dst) = self.window.hist[slot].as_mut() {
                        add_same(dst, src);
                    }
                }
            }
        }
    }

    /// Percentiles of everything merged so far and of the last completed window.
    pub fn report(&self) -> LatencyReport {
        let mut cumulative = Vec::new();
        let mut last_interval = Vec::new();
        for stage in Stage::ALL {
            let mut slots = vec![AGGREGATE];
            if stage.is_per_venue() {
                slots.extend(0..VENUE_COUNT);
            }
            for v in slots {
                let venue = Venue::from_index(v).map_or(ALL_VENUES, Venue::as_str);
                if let Some(h) = self.cumulative.get(stage, v) {
                    if v == AGGREGATE || !h.is_empty() {
                        cumulative.push(StageStats::of(stage, venue, h));
                    }
                }
                if let Some(h) = self.last.get(stage, v) {
                    if v == AGGREGATE || !h.is_empty() {
                        last_interval.push(StageStats::of(stage, venue, h));
                    }
                }
            }
        }
        LatencyReport {
            interval_ns: self.config.interval_ns,
            last_window_ns: self.last_window_ns,
            intervals_merged: self.intervals,
            deferred_publishes: self.deferred,
            undeclared_records: self.undeclared,
            saturated: Stage::ALL
                .iter()
                .map(|s| (s.as_str(), self.saturated[s.index()]))
                .filter(|(_, n)| *n > 0)
                .collect(),
            cumulative,
            last_interval,
        }
    }

    /// Names of the registered recorders, in registration order.
    pub fn recorder_names(&self) -> Vec<&'static str> {
        self.links.iter().map(|l| l.name).collect()
    }
}

/// The venue label of all-venues rows.
pub const ALL_VENUES: &str = "all";

/// Percentiles of one histogram, in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StageStats {
    pub stage: &'static str,
    /// A venue id, or [`ALL_VENUES`].
    pub venue: &'static str,
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// Sum of recorded values (hdrhistogram precision), for Prometheus summaries.
    pub sum: u64,
}

impl StageStats {
    fn of<C: hdrhistogram::Counter>(
        stage: Stage,
        venue: &'static str,
        h: &Histogram<C>,
    ) -> StageStats {
        let count = h.len();
        if count == 0 {
            return StageStats {
                stage: stage.as_str(),
                venue,
                count: 0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
                sum: 0,
            };
        }
        let mut q = [0u64; 4];
        for (slot, v) in q
            .iter_mut()
            .zip(h.value_at_quantiles([0.5, 0.9, 0.99, 0.999]))
        {
            *slot = v;
        }
        StageStats {
            stage: stage.as_str(),
            venue,
            count,
            p50: q[0],
            p90: q[1],
            p99: q[2],
            p999: q[3],
            max: h.max(),
            sum: (h.mean() * count as f64) as u64,
        }
    }
}

/// What the admin socket, the metrics page and the demo summary show about latency.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyReport {
    pub interval_ns: u64,
    /// Length of the last completed window (0 until one completes).
    pub last_window_ns: u64,
    pub intervals_merged: u64,
    pub deferred_publishes: u64,
    pub undeclared_records: u64,
    /// Values above [`HIGHEST_NS`] per stage, clamped when recorded.
    pub saturated: Vec<(&'static str, u64)>,
    /// All-venue rows for every declared stage, then per-venue rows that have data.
    pub cumulative: Vec<StageStats>,
    pub last_interval: Vec<StageStats>,
}

impl LatencyReport {
    /// An empty report (no recorder registered).
    pub fn empty() -> LatencyReport {
        LatencyReport {
            interval_ns: 0,
            last_window_ns: 0,
            intervals_merged: 0,
            deferred_publishes: 0,
            undeclared_records: 0,
            saturated: Vec::new(),
            cumulative: Vec::new(),
            last_interval: Vec::new(),
        }
    }

    /// Cumulative all-venue percentiles as
    /// `{STAGE:{"count":N,"p50":N,"p99":N,"p999":N,"max":N}}` (ns): the demo's `--summary` shape.
    pub fn summary_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for s in self.cumulative.iter().filter(|s| s.venue == ALL_VENUES) {
            map.insert(
                s.stage.to_string(),
                serde_json::json!({
                    "count": s.count,
                    "p50": s.p50,
                    "p99": s.p99,
                    "p999": s.p999,
                    "max": s.max,
                }),
            );
        }
        serde_json::Value::Object(map)
    }

    /// A fixed-width table of the cumulative and last-interval percentiles.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for (title, rows) in [
            ("cumulative", &self.cumulative),
            ("last interval", &self.last_interval),
        ] {
            let _ = writeln!(out, "{title}");
            let _ = writeln!(
                out,
                "{:<15} {:<13} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "stage", "venue", "count", "p50", "p90", "p99", "p99.9", "max"
            );
            for r in rows.iter() {
                let _ = writeln!(
                    out,
                    "{:<15} {:<13} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}",
                    r.stage,
                    r.venue,
                    r.count,
                    Nanos(r.p50),
                    Nanos(r.p90),
                    Nanos(r.p99),
                    Nanos(r.p999),
                    Nanos(r.max)
                );
            }
        }
        if !self.saturated.is_empty() {
            let _ = write!(out, "saturated (> {}):", Nanos(HIGHEST_NS));
            for (stage, n) in &self.saturated {
                let _ = write!(out, " {stage}={n}");
            }
            out.push('\n');
        }
        out
    }
}

/// A nanosecond duration shown with a unit a reader can take in at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nanos(pub u64);

impl std::fmt::Display for Nanos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.0;
        let text = if ns < 1_000 {
            format!("{ns}ns")
        } else if ns < 1_000_000 {
            format!("{:.1}us", ns as f64 / 1e3)
        } else if ns < 1_000_000_000 {
            format!("{:.1}ms", ns as f64 / 1e6)
        } else {
            format!("{:.2}s", ns as f64 / 1e9)
        };
        f.pad(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carry_engine::market::venue::{Exchange, Market};

    const OKX: Venue = Venue::new(Exchange::Okx, Market::Perp);
    const GATE: Venue = Venue::new(Exchange::Gate, Market::Spot);

    fn collector() -> LatencyCollector {
        LatencyCollector::new(LatencyConfig {
            interval_ns: 1_000_000_000,
            pool: 2,
        })
        .unwrap()
    }

    fn stats<'a>(rows: &'a [StageStats], stage: &str, venue: &str) -> &'a StageStats {
        rows.iter()
            .find(|r| r.stage == stage && r.venue == venue)
            .unwrap_or_else(|| panic!("no row {stage}/{venue} in {rows:?}"))
    }

    /// Within 0.1 % (3 significant figures), the histogram's promise.
    fn close(got: u64, want: u64) -> bool {
        got.abs_diff(want) * 1000 <= want.max(1)
    }

    #[test]
    fn the_hot_side_can_move_to_its_thread() {
        fn send<T: Send>() {}
        send::<LatencyRecorder>();
        send::<LatencyCollector>();
    }

    #[test]
    fn stage_names_round_trip() {
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(s.as_str().parse::<Stage>().unwrap(), *s);
        }
        assert!("wire".parse::<Stage>().is_err());
    }

    #[test]
    fn percentiles_come_back_within_precision() {
        let mut c = collector();
        let mut r = c
            .new_recorder("engine", &[Stage::Parse, Stage::Decide])
            .unwrap();
        // 1..=10_000 µs: p50 = 5 ms, p99 = 9.9 ms, max = 10 ms.
        for i in 1..=10_000u64 {
            r.record(Stage::Parse, OKX, i * 1_000);
        }
        r.record(Stage::Decide, OKX, 250);
        assert!(!r.maybe_publish(1_000));
        assert!(r.maybe_publish(1_000 + 1_000_000_000));
        assert_eq!(c.collect(2_000_000_000), 1);
        let rep = c.report();
        let all = stats(&rep.cumulative, "parse", ALL_VENUES);
        let okx = stats(&rep.cumulative, "parse", "okx-perp");
        assert_eq!(all.count, 10_000);
        assert_eq!(okx.count, 10_000);
        assert!(close(all.p50, 5_000_000), "{all:?}");
        assert!(close(all.p90, 9_000_000), "{all:?}");
        assert!(close(all.p99, 9_900_000), "{all:?}");
        assert!(close(all.p999, 9_990_000), "{all:?}");
        assert!(close(all.max, 10_000_000), "{all:?}");
        assert!(close(all.sum, 50_005_000_000), "{all:?}");
        // No per-venue row for a venue that saw nothing.
        assert!(!rep.cumulative.iter().any(|s| s.venue == "gate-spot"));
        let decide = stats(&rep.cumulative, "decide", ALL_VENUES);
        assert_eq!((decide.count, decide.max), (1, 250));
        // Undeclared stages have no rows at all.
        assert!(!rep.cumulative.iter().any(|s| s.stage == "ack"));
    }

    #[test]
    fn saturation_and_undeclared_stages_are_counted() {
        let mut c = collector();
        let mut r = c.new_recorder("gateway", &[Stage::Ack]).unwrap();
        r.record(Stage::Ack, GATE, HIGHEST_NS * 3);
        r.record(Stage::Ack, GATE, 0);
        r.record(Stage::Parse, GATE, 10);
        r.record_span(Stage::Ack, GATE, 500, 100);
        r.maybe_publish(1);
        assert!(r.publish(5));
        c.collect(10);
        let rep = c.report();
        assert_eq!(rep.saturated, vec![("ack", 1)]);
        assert_eq!(rep.undeclared_records, 1);
        let ack = stats(&rep.cumulative, "ack", ALL_VENUES);
        assert_eq!(ack.count, 3);
        assert!(close(ack.max, HIGHEST_NS), "{ack:?}");
        assert_eq!(ack.p50, 0);
    }

    #[test]
    fn sets_from_two_recorders_merge() {
        let mut c = collector();
        let mut engine = c.new_recorder("engine", &[Stage::Queue]).unwrap();
        let mut other = c.new_recorder("engine2", &[Stage::Queue]).unwrap();
        for _ in 0..300 {
            engine.record(Stage::Queue, OKX, 1_000);
        }
        for _ in 0..100 {
            other.record(Stage::Queue, GATE, 100_000);
        }
        for r in [&mut engine, &mut other] {
            r.maybe_publish(1);
            assert!(r.maybe_publish(1_000_000_001));
        }
        assert_eq!(c.collect(5), 2);
        let rep = c.report();
        let all = stats(&rep.cumulative, "queue", ALL_VENUES);
        assert_eq!(all.count, 400);
        assert!(close(all.p50, 1_000), "{all:?}");
        assert!(close(all.p90, 100_000), "{all:?}");
        assert_eq!(stats(&rep.cumulative, "queue", "okx-perp").count, 300);
        assert_eq!(stats(&rep.cumulative, "queue", "gate-spot").count, 100);
        assert_eq!(rep.intervals_merged, 2);
    }

    #[test]
    fn publish_defers_when_the_pool_is_out_and_loses_nothing() {
        let mut c = collector();
        let mut r = c.new_recorder("engine", &[Stage::Journal]).unwrap();
        r.maybe_publish(1);
        r.record(Stage::Journal, OKX, 10);
        assert!(r.maybe_publish(2_000_000_000)); // pool of 2: the spare is now in flight
        r.record(Stage::Journal, OKX, 20);
        assert!(!r.maybe_publish(4_000_000_000)); // collector has not returned it yet
        r.record(Stage::Journal, OKX, 30);
        assert_eq!(c.collect(4_000_000_001), 1);
        assert!(r.maybe_publish(4_000_000_002));
        assert_eq!(c.collect(4_000_000_003), 1);
        let rep = c.report();
        assert_eq!(stats(&rep.cumulative, "journal", ALL_VENUES).count, 3);
        assert_eq!(rep.deferred_publishes, 1);
    }

    #[test]
    fn last_interval_holds_only_the_last_window() {
        let mut c = collector();
        let mut r = c.new_recorder("engine", &[Stage::Decide]).unwrap();
        let s = 1_000_000_000u64;
        c.collect(1);
        r.maybe_publish(1);
        r.record(Stage::Decide, OKX, 100);
        r.record(Stage::Decide, OKX, 100);
        r.maybe_publish(s + 1);
        c.collect(s + 2); // window 1 closes holding 2 values
        r.record(Stage::Decide, OKX, 900);
        r.maybe_publish(2 * s + 2);
        c.collect(2 * s + 3); // window 2 closes holding 1 value
        let rep = c.report();
        assert_eq!(stats(&rep.cumulative, "decide", ALL_VENUES).count, 3);
        let last = stats(&rep.last_interval, "decide", ALL_VENUES);
        assert_eq!((last.count, last.max), (1, 900));
        assert_eq!(rep.last_window_ns, s + 1);
    }

    #[test]
    fn summary_json_has_the_demo_shape() {
        let mut c = collector();
        let mut r = c.new_recorder("engine", &[Stage::WireToIntent]).unwrap();
        r.record(Stage::WireToIntent, OKX, 4_000);
        r.maybe_publish(1);
        r.publish(2);
        c.collect(3);
        let json = c.report().summary_json();
        let obj = json.as_object().unwrap();
        assert_eq!(obj.len(), 1);
        let s = obj["wire_to_intent"].as_object().unwrap();
        let mut keys: Vec<&str> = s.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["count", "max", "p50", "p99", "p999"]);
        assert_eq!(s["count"], 1);
        assert!(close(s["max"].as_u64().unwrap(), 4_000));
    }

    #[test]
    fn table_lists_every_row() {
        let mut c = collector();
        let mut r = c.new_recorder("engine", &[Stage::Parse]).unwrap();
        r.record(Stage::Parse, OKX, 1_500);
        r.maybe_publish(1);
        r.publish(2);
        c.collect(3);
        let t = c.report().table();
        assert!(t.contains("parse           all"), "{t}");
        assert!(t.contains("okx-perp"), "{t}");
        assert!(t.contains("1.5us"), "{t}");
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = LatencyCollector::new(LatencyConfig {
            interval_ns: 10,
            pool: 3,
        });
        assert!(matches!(bad, Err(LatencyError::IntervalTooShort(10))));
        let bad = LatencyCollector::new(LatencyConfig {
            interval_ns: 1_000_000_000,
            pool: 1,
        });
        assert!(matches!(bad, Err(LatencyError::PoolTooSmall(1))));
        let mut c = collector();
        assert!(matches!(
            c.new_recorder("x", &[]),
            Err(LatencyError::NoStages("x"))
        ));
    }

    #[test]
    fn nanos_pick_a_readable_unit() {
        assert_eq!(Nanos(999).to_string(), "999ns");
        assert_eq!(Nanos(1_500).to_string(), "1.5us");
        assert_eq!(Nanos(2_500_000).to_string(), "2.5ms");
        assert_eq!(Nanos(3_000_000_000).to_string(), "3.00s");
    }
}

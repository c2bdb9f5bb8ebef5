//! What the engine thread shows the operator: a plain-data [`Snapshot`] of status, spreads,
//! positions, breakers, cycles and counters, published a few times per second, and the bounded
//! queue that carries operator commands the other way.
//!
//! Publish path: a fixed pool of boxed snapshots circulates through two lock-free bounded queues
//! (crossbeam `ArrayQueue`). [`SnapshotPublisher::publish_with`] takes a buffer from the `free`
//! queue, lets the caller overwrite it in place, and pushes it onto the `ready` queue;
//! [`SnapshotReader::latest`] (admin thread) drains `ready`, keeps the newest and returns the
//! rest to `free`. When `free` is empty the publisher takes the oldest unread snapshot back from
//! `ready` instead: it is about to be superseded anyway, so the engine never waits and never
//! fails to publish. A seqlock'd slot was the alternative; it needs `Copy` data or a reader that
//! copies under a retry loop, and the snapshot holds strings and variable row counts.
//!
//! No allocation after warm-up: row lists are [`Rows`], which keep their elements (and those
//! elements' `String` capacity) when cleared, so refilling a recycled snapshot with the same
//! shape of data reuses every buffer. Each buffer must warm up once (pool size times).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use carry_engine::Venue;
use crossbeam::queue::ArrayQueue;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use super::command::OperatorCommand;

/// A list of rows that keeps its elements when cleared, so they are overwritten in place.
#[derive(Clone, Debug, Default)]
pub struct Rows<T> {
    items: Vec<T>,
    len: usize,
}

impl<T: Default> Rows<T> {
    pub fn new() -> Rows<T> {
        Rows {
            items: Vec::new(),
            len: 0,
        }
    }

    /// Forgets the rows without dropping them (their buffers are reused by [`Rows::push_slot`]).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends a row and returns it for filling. The row may hold an older snapshot's values:
    /// set every field.
    pub fn push_slot(&mut self) -> &mut T {
        if self.len == self.items.len() {
            self.items.push(T::default());
        }
        self.len += 1;
        &mut self.items[self.len - 1]
    }

    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T: Serialize> Serialize for Rows<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(&self.items[..self.len])
    }
}

/// Overwrites `dst` with `src`, reusing `dst`'s capacity.
pub fn set_str(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

fn venue_str<S: Serializer>(v: &Venue, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

/// `Venue` has no `Default`; recycled rows start with this one until the engine sets theirs.
const PLACEHOLDER_VENUE: Venue = Venue::ALL[0];

/// Whether the process trades real venues or the local simulator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Run,
    Demo,
}

impl Mode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::Demo => "demo",
        }
    }
}

/// The status block.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Status {
    pub instance: String,
    pub mode: Mode,
    pub uptime_s: u64,
    /// Unix ms UTC at which the engine filled this snapshot.
    pub published_unix_ms: i64,
    pub events: u64,
    pub intents: u64,
    pub fills: u64,
    pub cycles_completed: u64,
    /// Events per second over the engine's last measuring window (a gauge).
    pub events_per_s: f64,
    /// Sequence number of the last journal record.
    pub journal_seq: u64,
    /// Entries paused by the operator.
    pub paused: bool,
}

/// One configured pair's funding spread.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpreadRow {
    /// The configured pair name.
    pub pair: String,
    /// Canonical instrument, `BASE-QUOTE`.
    pub instrument: String,
    #[serde(serialize_with = "venue_str")]
    pub long_venue: Venue,
    #[serde(serialize_with = "venue_str")]
    pub short_venue: Venue,
    /// Current funding rate of each leg, per its own interval; `None` while unknown.
    pub long_rate: Option<Decimal>,
    pub short_rate: Option<Decimal>,
    /// `short − long` per interval; `None` when a leg is missing or stale.
    pub spread: Option<Decimal>,
    pub apr: Option<Decimal>,
    /// APR after fees and costs.
    pub net_apr: Option<Decimal>,
    pub long_stale: bool,
    pub short_stale: bool,
}

impl Default for SpreadRow {
    fn default() -> SpreadRow {
        SpreadRow {
            pair: String::new(),
            instrument: String::new(),
            long_venue: PLACEHOLDER_VENUE,
            short_venue: PLACEHOLDER_VENUE,
            long_rate: None,
            short_rate: None,
            spread: None,
            apr: None,
            net_apr: None,
            long_stale: false,
            short_stale: false,
        }
    }
}

/// A position on one venue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PositionRow {
    #[serde(serialize_with = "venue_str")]
    pub venue: Venue,
    pub instrument: String,
    /// Base units: positive long, negative short.
    pub qty: Decimal,
    pub entry: Decimal,
    pub mark: Option<Decimal>,
    pub liq_price: Option<Decimal>,
    /// `|mark − liq| / mark`, a fraction.
    pub liq_distance: Option<Decimal>,
    pub margin_ratio: Option<Decimal>,
}

impl Default for PositionRow {
    fn default() -> PositionRow {
        PositionRow {
            venue: PLACEHOLDER_VENUE,
            instrument: String::new(),
            qty: Decimal::ZERO,
            entry: Decimal::ZERO,
            mark: None,
            liq_price: None,
            liq_distance: None,
            margin_ratio: None,
        }
    }
}

/// One circuit breaker.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BreakerRow {
    /// The breaker's reason enum name, e.g. `stale_feed`.
    pub name: &'static str,
    /// What it covers: `global`, a venue id or a configured pair name.
    pub scope: String,
    /// The breaker state enum name, e.g. `tripped`.
    pub state: &'static str,
    pub tripped: bool,
    /// Unix ms UTC of the last state change.
    pub since_unix_ms: i64,
}

/// The cycle state of one pair.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CycleRow {
    pub pair: String,
    /// `flat`, `entering`, `open`, `exiting` or `unwinding`.
    pub state: &'static str,
    /// Cycle number of the current (or last) cycle.
    pub cycle: u64,
    pub since_unix_ms: i64,
}

/// Counter (monotonic) or gauge.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricValue {
    Counter(u64),
    Gauge(f64),
}

impl Default for MetricValue {
    fn default() -> MetricValue {
        MetricValue::Counter(0)
    }
}

/// Labels per metric sample; enough for (venue, reason) or (pair, leg, reason).
pub const MAX_LABELS: usize = 3;

/// One label; `value` must be bounded: a venue id, an enum name, a configured name. Never
/// error text or anything from the network.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Label {
    pub key: &'static str,
    pub value: String,
}

/// One counter or gauge sample for the metrics page, e.g. feed disconnects by reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSample {
    /// Metric name without the `carry_` prefix, `[a-z0-9_]`, e.g. `feed_disconnects_total`.
    pub name: &'static str,
    /// One line of help text for the `# HELP` line.
    pub help: &'static str,
    labels: [Label; MAX_LABELS],
    label_count: usize,
    pub value: MetricValue,
}

impl MetricSample {
    /// Overwrites this (possibly recycled) sample.
    pub fn set(&mut self, name: &'static str, help: &'static str, value: MetricValue) -> &mut Self {
        self.name = name;
        self.help = help;
        self.value = value;
        self.label_count = 0;
        self
    }

    /// Adds a label; labels beyond [`MAX_LABELS`] are ignored (debug builds panic).
    pub fn label(&mut self, key: &'static str, value: &str) -> &mut Self {
        debug_assert!(
            self.label_count < MAX_LABELS,
            "metric {} has too many labels",
            self.name
        );
        if let Some(l) = self.labels.get_mut(self.label_count) {
            l.key = key;
            set_str(&mut l.value, value);
            self.label_count += 1;
        }
        self
    }

    pub fn labels(&self) -> &[Label] {
        &self.labels[..self.label_count]
    }
}

impl Serialize for MetricSample {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct LabelMap<'a>(&'a [Label]);
        impl Serialize for LabelMap<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|l| (l.key, l.value.as_str())))
            }
        }
        let mut st = s.serialize_struct("MetricSample", 3)?;
        st.serialize_field("name", self.name)?;
        st.serialize_field("labels", &LabelMap(self.labels()))?;
        st.serialize_field("value", &self.value)?;
        st.end()
    }
}

/// Everything the admin socket shows about the engine at one moment.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    pub status: Status,
    pub spreads: Rows<SpreadRow>,
    pub positions: Rows<PositionRow>,
    pub breakers: Rows<BreakerRow>,
    pub cycles: Rows<CycleRow>,
    /// Counters and gauges from feeds and engine (connects, disconnects and drops by reason,
    /// decisions, rejections by reason, ...).
    pub metrics: Rows<MetricSample>,
}

impl Snapshot {
    fn clear_rows(&mut self) {
        self.spreads.clear();
        self.positions.clear();
        self.breakers.clear();
        self.cycles.clear();
        self.metrics.clear();
    }
}

struct SnapshotQueues {
    free: ArrayQueue<Box<Snapshot>>,
    ready: ArrayQueue<Box<Snapshot>>,
    published: AtomicU64,
    skipped: AtomicU64,
}

/// Snapshots in the pool by default: one being filled, one unread, one held by the reader.
pub const DEFAULT_SNAPSHOT_POOL: usize = 3;

/// Creates the exchange with `pool` (at least 3) pre-allocated snapshots.
pub fn snapshot_channel(pool: usize) -> (SnapshotPublisher, SnapshotReader) {
    let pool = pool.max(DEFAULT_SNAPSHOT_POOL);
    let q = Arc::new(SnapshotQueues {
        free: ArrayQueue::new(pool),
        ready: ArrayQueue::new(pool),
        published: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
    });
    for _ in 0..pool {
        let _ = q.free.push(Box::default());
    }
    (
        SnapshotPublisher { q: Arc::clone(&q) },
        SnapshotReader { q, current: None },
    )
}

/// The engine side: fills and publishes snapshots without blocking.
pub struct SnapshotPublisher {
    q: Arc<SnapshotQueues>,
}

impl SnapshotPublisher {
    /// Takes a recycled snapshot (row lists already cleared, status holding older values), lets
    /// `fill` overwrite it, and publishes it. Returns false only if no buffer was available,
    /// which the pool size rules out while a single reader holds at most two.
    pub fn publish_with(&mut self, fill: impl FnOnce(&mut Snapshot)) -> bool {
        let Some(mut snap) = self.q.free.pop().or_else(|| self.q.ready.pop()) else {
            self.q.skipped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        snap.clear_rows();
        fill(&mut snap);
        match self.q.ready.push(snap) {
            Ok(()) => {
                self.q.published.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(snap) => {
                // Full only if the reader returned nothing; recycle rather than drop (no free).
                let _ = self.q.free.push(snap);
                self.q.skipped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

/// The admin side: the newest published snapshot.
pub struct SnapshotReader {
    q: Arc<SnapshotQueues>,
    current: Option<Box<Snapshot>>,
}

impl SnapshotReader {
    /// Takes in everything published since the last call and returns the newest snapshot, or
    /// `None` if the engine has not published one yet.
    pub fn latest(&mut self) -> Option<&Snapshot> {
        while let Some(next) = self.q.ready.pop() {
            if let Some(old) = self.current.replace(next) {
                let _ = self.q.free.push(old);
            }
        }
        self.current.as_deref()
    }

    /// Snapshots published and publishes skipped so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.q.published.load(Ordering::Relaxed),
            self.q.skipped.load(Ordering::Relaxed),
        )
    }
}

/// Commands the admin queue holds at most; a full queue refuses the command (the operator
/// sees an error and can retry) rather than blocking the admin thread.
pub const COMMAND_QUEUE_CAPACITY: usize = 64;

/// Creates the admin → engine command queue.
pub fn command_channel(capacity: usize) -> (CommandSender, CommandReceiver) {
    let q = Arc::new(ArrayQueue::new(capacity.max(1)));
    (CommandSender { q: Arc::clone(&q) }, CommandReceiver { q })
}

/// The admin side of the command queue.
#[derive(Clone)]
pub struct CommandSender {
    q: Arc<ArrayQueue<OperatorCommand>>,
}

impl CommandSender {
    /// Queues `cmd`; hands it back if the queue is full.
    pub fn send(&self, cmd: OperatorCommand) -> Result<(), OperatorCommand> {
        self.q.push(cmd)
    }
}

/// The engine side of the command queue; poll it from the engine loop.
pub struct CommandReceiver {
    q: Arc<ArrayQueue<OperatorCommand>>,
}

impl CommandReceiver {
    /// The next command, in the order the admin socket received them. Never blocks.
    pub fn poll(&self) -> Option<OperatorCommand> {
        self.q.pop()
    }
}

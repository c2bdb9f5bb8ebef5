//! A feed group: one thread, optionally pinned to a core, that keeps one or more market data
//! connections up (one per [`VenueSession`], on [`Streams`]: connects, heartbeats, reconnects
//! with backoff), fetches their venues' REST snapshots, and owns the producer end of one bounded
//! queue to the engine thread.
//!
//! What the group adds to the streams' work: every market event goes into the queue, and a
//! `FeedReset` event (never dropped) whenever an open connection drops, so the engine knows that
//! venue's state may have gaps.
//!
//! REST snapshots: at start and after each reconnect the group fetches the venue's snapshot on a
//! helper thread ([`SnapshotSource`], normally [`RestSnapshots`](crate::feed::snapshot::RestSnapshots):
//! [`crate::venue::market_rest`] over ureq),
//! then, on the feed thread, applies it to every session of that venue and pushes its funding
//! events. A venue whose REST is unreachable is counted, logged once, and retried with backoff;
//! the websocket connections keep running.
//!
//! Order on the queue around a reconnect: the `FeedReset` for the drop, then events of the new
//! connection and, whenever the REST fetch completes, the snapshot's funding events (which may
//! carry older venue timestamps than websocket events already delivered).
//!
//! Stopping: set the shared shutdown flag; the thread notices within [`SHUTDOWN_POLL`] (or at once
//! after [`FeedHandle::wake`]), sends close frames and exits. A push waiting for queue space also
//! gives up on shutdown. REST helper threads still in flight are detached and end with their
//! request timeout.
//!
//! Wiring one venue (what `carry run` does per feed group):
//!
//! ```no_run
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use carry_feeds::feed::group::{FeedGroup, FeedGroupConfig};
//! use carry_feeds::feed::snapshot::RestSnapshots;
//! use carry_feeds::feed::queue;
//! use carry_feeds::transport::tls;
//! use carry_feeds::venue::{default_rest_url, default_ws_url, market_ws};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let venue: carry_engine::Venue = "okx-perp".parse()?;
//! let mut universe = carry_engine::Universe::new();
//! let btc = universe.add("BTC-USDT")?;
//! universe.set_symbol(btc, venue, "BTC-USDT-SWAP");
//! let universe = Arc::new(universe);
//!
//! let sessions = market_ws::sessions(venue, default_ws_url(venue), universe.clone());
//! let rest = Arc::new(RestSnapshots::with_timeout(Duration::from_secs(10)));
//! let mut config =
//!     FeedGroupConfig::new("okx-perp", sessions, universe, tls::client_config(None)?, rest);
//! config.rest = vec![(venue, default_rest_url(venue).to_string())];
//! config.core = None; // or Some(core_affinity::CoreId { id: 2 })
//!
//! let (producer, mut consumer) = queue::bounded(8192);
//! let shutdown = Arc::new(AtomicBool::new(false));
//! let handle = FeedGroup::spawn(config, producer, shutdown.clone())?;
//! let stats = handle.stats(); // for the admin thread: stats.snapshot()
//!
//! // Engine thread: busy-poll the consumer.
//! consumer.drain(256, |item| { let _ = (item.event, item.parsed_ns, item.enqueued_ns); });
//!
//! shutdown.store(true, Ordering::Relaxed);
//! handle.wake();
//! handle.join()?;
//! # Ok(()) }
//! ```

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use carry_engine::{InstrumentId, MarketEvent, MarketEventKind, Universe, Venue};
use mio::Waker;

use crate::feed::queue::{FeedItem, Producer, PushError};
use crate::feed::session::VenueSession;
use crate::feed::snapshot::{SnapshotError, SnapshotSource, VenueSnapshot};
use crate::feed::stats::{GroupStats, RestStats};
use crate::transport::backoff::{seed_from, Backoff, BackoffConfig};
use crate::transport::clock;
use crate::transport::connection::ConnectionOptions;
use crate::transport::stats::Counter;
use crate::transport::streams::{StreamHandler, Streams, StreamsConfig, StreamsError};

/// Longest the thread sleeps in `poll` before looking at the shutdown flag again.
pub const SHUTDOWN_POLL: Duration = Duration::from_millis(50);

/// Everything a feed group needs. Build with [`FeedGroupConfig::new`] and adjust the public
/// fields.
pub struct FeedGroupConfig {
    /// Names the thread (`feed-<name>`), the log lines and the stats.
    pub name: String,
    /// Core to pin the thread to; `None` leaves it to the scheduler.
    pub core: Option<core_affinity::CoreId>,
    /// One websocket connection per session.
    pub sessions: Vec<Box<dyn VenueSession>>,
    /// REST base URL per venue whose snapshot the group fetches (at start and after every
    /// reconnect of one of that venue's connections).
    pub rest: Vec<(Venue, String)>,
    /// The instruments the sessions and the REST snapshots resolve symbols against.
    pub universe: Arc<Universe>,
    /// Where the REST snapshots come from (normally [`RestSnapshots`](crate::feed::snapshot::RestSnapshots)).
    pub snapshots: Arc<dyn SnapshotSource>,
    /// The TLS client configuration of `wss://` connections.
    pub tls: Arc<rustls::ClientConfig>,
    /// Reconnect pacing of the websocket connections.
    pub backoff: BackoffConfig,
    /// Retry pacing of failed REST snapshots.
    pub rest_backoff: BackoffConfig,
    /// Timeouts and limits of each connection.
    pub connection: ConnectionOptions,
    /// Spin on `poll` with a zero timeout instead of sleeping: lowest latency, one full core.
    pub busy_poll: bool,
}

impl FeedGroupConfig {
    /// A configuration with default backoff, timeouts and no busy polling.
    pub fn new(
        name: impl Into<String>,
        sessions: Vec<Box<dyn VenueSession>>,
        universe: Arc<Universe>,
        tls: Arc<rustls::ClientConfig>,
        snapshots: Arc<dyn SnapshotSource>,
    ) -> FeedGroupConfig {
        FeedGroupConfig {
            name: name.into(),
            core: None,
            sessions,
            rest: Vec::new(),
            universe,
            snapshots,
            tls,
            backoff: BackoffConfig::default(),
            rest_backoff: BackoffConfig {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(60),
                ..BackoffConfig::default()
            },
            connection: ConnectionOptions::default(),
            busy_poll: false,
        }
    }
}

/// How a feed thread ended, other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// Waiting for readiness failed.
    #[error("feed group {group}: mio poll failed: {source}")]
    Poll {
        /// The group's name.
        group: String,
        /// What the OS said.
        source: io::Error,
    },
    /// The engine side of the queue is gone.
    #[error("feed group {group}: the engine dropped the queue's consumer")]
    QueueDisconnected {
        /// The group's name.
        group: String,
    },
    /// The thread panicked.
    #[error("feed group {group}: the feed thread panicked")]
    Panicked {
        /// The group's name.
        group: String,
    },
}

/// The running group: its stats and its thread.
pub struct FeedHandle {
    name: String,
    stats: Arc<GroupStats>,
    waker: Arc<Waker>,
    thread: JoinHandle<Result<(), FeedError>>,
}

impl FeedHandle {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The live counters (cheap to clone and keep, e.g. for the admin thread).
    pub fn stats(&self) -> Arc<GroupStats> {
        self.stats.clone()
    }

    /// Makes the thread look at the shutdown flag now instead of within [`SHUTDOWN_POLL`].
    pub fn wake(&self) {
        let _ = self.waker.wake();
    }

    /// Whether the thread has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the thread (set the shutdown flag first).
    pub fn join(self) -> Result<(), FeedError> {
        match self.thread.join() {
            Ok(r) => r,
            Err(_) => Err(FeedError::Panicked { group: self.name }),
        }
    }
}

/// The state of a feed thread; see the module doc.
pub struct FeedGroup {
    name: String,
    streams: Streams<dyn VenueSession>,
    market: Market,
    universe: Arc<Universe>,
    snapshots: Arc<dyn SnapshotSource>,
    snapshot_tx: Sender<Fetched>,
    snapshot_rx: Receiver<Fetched>,
    shutdown: Arc<AtomicBool>,
    stats: Arc<GroupStats>,
    core: Option<core_affinity::CoreId>,
    busy_poll: bool,
}

/// What the group does with its connections' output and their opens and drops: events into the
/// queue, a `FeedReset` for every drop, a fresh REST snapshot after every reconnect.
struct Market {
    producer: Producer,
    push_error: Option<PushError>,
    rest: Vec<RestSlot>,
}

struct RestSlot {
    venue: Venue,
    url: String,
    stats: Arc<RestStats>,
    backoff: Backoff,
    wanted: bool,
    in_flight: bool,
    retry_at_ns: u64,
    last_started_ns: u64,
    failing: bool,
}

/// A REST snapshot from a helper thread.
struct Fetched {
    rest: usize,
    result: Result<VenueSnapshot, SnapshotError>,
}

impl FeedGroup {
    /// Starts the group's thread. Fails (before any thread starts) if the poll cannot be created
    /// or a session's URL is unusable.
    pub fn spawn(
        config: FeedGroupConfig,
        mut producer: Producer,
        shutdown: Arc<AtomicBool>,
    ) -> io::Result<FeedHandle> {
        producer.set_abort_flag(shutdown.clone());
        let streams = Streams::new(
            StreamsConfig {
                name: config.name.clone(),
                tls: config.tls,
                connection: config.connection,
                backoff: config.backoff,
            },
            config.sessions,
        )
        .map_err(|e| match e {
            StreamsError::Poll { source, .. } => source,
            StreamsError::Url { source, .. } => io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("feed group {}: {source}", config.name),
            ),
        })?;
        let rest: Vec<RestSlot> = config
            .rest
            .into_iter()
            .enumerate()
            .map(|(i, (venue, url))| RestSlot {
                venue,
                url,
                stats: Arc::new(RestStats::new(venue)),
                backoff: Backoff::new(config.rest_backoff, seed_from(&config.name, 1000 + i)),
                wanted: true,
                in_flight: false,
                retry_at_ns: 0,
                last_started_ns: 0,
                failing: false,
            })
            .collect();
        let stats = Arc::new(GroupStats {
            name: config.name.clone(),
            connections: streams.stats(),
            rest: rest.iter().map(|r| r.stats.clone()).collect(),
            queue: producer.counters(),
            core: config.core.map(|c| c.id),
            pinned: Counter::default(),
        });
        let waker = streams.waker();
        let (snapshot_tx, snapshot_rx) = mpsc::channel();
        let group = FeedGroup {
            name: config.name.clone(),
            streams,
            market: Market {
                producer,
                push_error: None,
                rest,
            },
            universe: config.universe,
            snapshots: config.snapshots,
            snapshot_tx,
            snapshot_rx,
            shutdown,
            stats: stats.clone(),
            core: config.core,
            busy_poll: config.busy_poll,
        };
        let thread = std::thread::Builder::new()
            .name(format!("feed-{}", config.name))
            .spawn(move || group.run())?;
        Ok(FeedHandle {
            name: config.name,
            stats,
            waker,
            thread,
        })
    }

    fn run(mut self) -> Result<(), FeedError> {
        if let Some(core) = self.core {
            if core_affinity::set_for_current(core) {
                self.stats.pinned.set(1);
            } else {
                eprintln!(
                    "carry-feeds: feed group {}: could not pin to core {}; running unpinned",
                    self.name, core.id
                );
            }
        }
        let result = loop {
            if self.shutdown.load(Ordering::Relaxed) {
                break Ok(());
            }
            let now = clock::mono_ns();
            self.start_due_fetches(now);
            let max_wait = self.max_wait(now);
            if let Err(e) = self.streams.turn(max_wait, &mut self.market) {
                break Err(FeedError::Poll {
                    group: self.name.clone(),
                    source: e,
                });
            }
            self.take_snapshots();
            self.market.producer.flush_pending();
            match self.market.push_error {
                Some(PushError::Disconnected) => {
                    break Err(FeedError::QueueDisconnected {
                        group: self.name.clone(),
                    })
                }
                Some(PushError::Aborted) => break Ok(()),
                None => {}
            }
        };
        self.streams.close_all();
        if let Err(e) = &result {
            eprintln!("carry-feeds: {e}");
        }
        result
    }

    /// How long the streams may wait for readiness: not at all when busy polling or while
    /// held-back quotes wait for the queue, else until the next REST retry or [`SHUTDOWN_POLL`].
    fn max_wait(&self, now: u64) -> Duration {
        if self.busy_poll || self.market.producer.has_pending() {
            return Duration::ZERO;
        }
        let mut deadline = now.saturating_add(SHUTDOWN_POLL.as_nanos() as u64);
        for r in &self.market.rest {
            if r.wanted && !r.in_flight {
                deadline = deadline.min(r.retry_at_ns);
            }
        }
        Duration::from_nanos(deadline.saturating_sub(now))
    }

    /// Starts the REST fetches whose time has come.
    fn start_due_fetches(&mut self, now: u64) {
        for i in 0..self.market.rest.len() {
            let r = &self.market.rest[i];
            if r.wanted && !r.in_flight && now >= r.retry_at_ns {
                self.begin_fetch(i, now);
            }
        }
    }

    fn begin_fetch(&mut self, i: usize, now: u64) {
        let r = &mut self.market.rest[i];
        r.in_flight = true;
        r.wanted = false;
        r.last_started_ns = now;
        let (venue, url) = (r.venue, r.url.clone());
        let (tx, waker) = (self.snapshot_tx.clone(), self.streams.waker());
        let (source, universe) = (self.snapshots.clone(), self.universe.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("rest-{venue}"))
            .spawn(move || {
                let result = source.fetch(venue, &url, &universe, clock::recv_stamp());
                let _ = tx.send(Fetched { rest: i, result });
                let _ = waker.wake();
            });
        if let Err(e) = spawned {
            self.snapshot_failed(i, format!("cannot start a REST thread: {e}"), now);
        }
    }

    fn take_snapshots(&mut self) {
        while let Ok(Fetched { rest, result }) = self.snapshot_rx.try_recv() {
            match result {
                Ok(snapshot) => self.apply_snapshot(rest, &snapshot),
                Err(e) => self.snapshot_failed(rest, e, clock::mono_ns()),
            }
        }
    }

    fn apply_snapshot(&mut self, i: usize, snapshot: &VenueSnapshot) {
        let r = &mut self.market.rest[i];
        r.in_flight = false;
        r.backoff.reset();
        r.stats.ok.incr();
        r.stats.last_ok_unix_ms.set(clock::unix_ms().max(0) as u64);
        if r.failing {
            r.failing = false;
            eprintln!(
                "carry-feeds: {} REST snapshot from {}: recovered",
                r.venue, r.url
            );
        }
        let venue = r.venue;
        for session in self.streams.sessions_mut() {
            if session.venue() == venue {
                session.apply_snapshot(snapshot);
            }
        }
        for ins in &snapshot.instruments {
            if let Some(event) = ins.funding {
                self.market.push(event);
            }
        }
    }

    fn snapshot_failed(&mut self, i: usize, error: impl std::fmt::Display, now: u64) {
        let r = &mut self.market.rest[i];
        r.in_flight = false;
        r.wanted = true;
        r.stats.failures.incr();
        let delay = r.backoff.next_delay();
        r.retry_at_ns = now.saturating_add(delay.as_nanos() as u64);
        if !r.failing {
            r.failing = true;
            eprintln!(
                "carry-feeds: {} REST snapshot from {} failed: {error}; retrying with backoff \
                 (further failures are only counted until it recovers)",
                r.venue, r.url
            );
        }
    }
}

impl Market {
    fn push(&mut self, event: MarketEvent) {
        if self.push_error.is_some() {
            return;
        }
        if let Err(e) = self.producer.push(FeedItem::new(event, clock::mono_ns())) {
            self.push_error = Some(e);
        }
    }
}

impl StreamHandler<MarketEvent> for Market {
    #[inline]
    fn output(&mut self, event: MarketEvent) {
        self.push(event);
    }

    fn opened(&mut self, _conn: usize, venue: Venue, dropped_ns: u64) {
        // A reconnect needs a fresh snapshot unless one was started after the drop; one still
        // in flight from before the drop does not count, so another follows it.
        if dropped_ns > 0 {
            for r in self.rest.iter_mut().filter(|r| r.venue == venue) {
                if r.last_started_ns < dropped_ns {
                    r.wanted = true;
                }
            }
        }
    }

    fn dropped(&mut self, _conn: usize, venue: Venue, now_ns: u64) {
        self.push(MarketEvent {
            venue,
            instrument: InstrumentId(0),
            ts_ms: clock::unix_ms(),
            recv_ns: now_ns,
            kind: MarketEventKind::FeedReset,
        });
    }
}

//! A feed group: one thread, optionally pinned to a core, that owns one or more websocket
//! connections (one per [`VenueSession`]), a mio `Poll` over their sockets, their timers, and the
//! producer end of one bounded queue to the engine thread.
//!
//! What the thread does for each connection:
//! - connects (DNS on a helper thread, since `ToSocketAddrs` blocks; IP literals directly),
//!   subscribes, answers protocol pings, sends the session's heartbeats;
//! - reconnects when the connection drops, when nothing arrived for `silence_timeout` (watchdog),
//!   a few minutes before the venue's maximum connection age, and when the venue announces a
//!   shutdown; failures back off exponentially with per-connection jitter, planned reconnects
//!   (age, venue notice) go at once;
//! - after a reconnect, calls `session.reset()` and sends what `session.on_connect(now)` builds;
//! - pushes a `FeedReset` event (never dropped) whenever an open connection drops, so the engine
//!   knows that venue's state may have gaps.
//!
//! REST snapshots: at start and after each reconnect the group fetches the venue's snapshot on a
//! helper thread ([`SnapshotSource`], normally [`RestSnapshots`]: [`crate::venue::market_rest`] over ureq),
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
//! use carry_feeds::venue::market_ws as venues;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let venue: carry_engine::Venue = "okx-perp".parse()?;
//! let mut universe = carry_engine::Universe::new();
//! let btc = universe.add("BTC-USDT")?;
//! universe.set_symbol(btc, venue, "BTC-USDT-SWAP");
//! let universe = Arc::new(universe);
//!
//! let sessions = venues::sessions(venue, venues::default_ws_url(venue), universe.clone());
//! let rest = Arc::new(RestSnapshots::with_timeout(Duration::from_secs(10)));
//! let mut config =
//!     FeedGroupConfig::new("okx-perp", sessions, universe, tls::client_config(None)?, rest);
//! config.rest = vec![(venue, venues::default_rest_url(venue).to_string())];
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
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use carry_engine::{InstrumentId, MarketEvent, MarketEventKind, Universe, Venue};
use mio::{Events, Poll, Token, Waker};

use crate::feed::queue::{FeedItem, Producer, PushError};
use crate::feed::session::VenueSession;
use crate::feed::snapshot::{SnapshotSource, VenueSnapshot};
use crate::feed::stats::{GroupStats, RestStats};
use crate::transport::backoff::{seed_from, Backoff, BackoffConfig};
use crate::transport::clock;
use crate::transport::connection::{Connection, ConnectionOptions, Disconnect, Phase};
use crate::transport::stats::{ConnectionStats, Counter, DisconnectReason};

/// Longest the thread sleeps in `poll` before looking at the shutdown flag again.
pub const SHUTDOWN_POLL: Duration = Duration::from_millis(50);

const WAKER: Token = Token(usize::MAX);

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
    pub universe: Arc<Universe>,
    pub snapshots: Arc<dyn SnapshotSource>,
    pub tls: Arc<rustls::ClientConfig>,
    /// Reconnect pacing of the websocket connections.
    pub backoff: BackoffConfig,
    /// Retry pacing of failed REST snapshots.
    pub rest_backoff: BackoffConfig,
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
    #[error("feed group {group}: mio poll failed: {source}")]
    Poll { group: String, source: io::Error },
    #[error("feed group {group}: the engine dropped the queue's consumer")]
    QueueDisconnected { group: String },
    #[error("feed group {group}: the feed thread panicked")]
    Panicked { group: String },
}

/// The running group: its stats and its thread.
pub struct FeedHandle {
    name: String,
    stats: Arc<GroupStats>,
    waker: Arc<Waker>,
    thread: JoinHandle<Result<(), FeedError>>,
}

impl FeedHandle {
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
    slots: Vec<Slot>,
    rest: Vec<RestSlot>,
    universe: Arc<Universe>,
    snapshots: Arc<dyn SnapshotSource>,
    producer: Producer,
    push_error: Option<PushError>,
    shutdown: Arc<AtomicBool>,
    poll: Poll,
    waker: Arc<Waker>,
    helper_tx: Sender<HelperMsg>,
    helper_rx: Receiver<HelperMsg>,
    stats: Arc<GroupStats>,
    core: Option<core_affinity::CoreId>,
    busy_poll: bool,
    connect_timeout_ns: u64,
}

struct Slot {
    conn: Connection<dyn VenueSession>,
    backoff: Backoff,
    state: SlotState,
    /// Bumped at every connect cycle so late DNS answers for an abandoned cycle are ignored.
    generation: u64,
    /// Consecutive failed attempts (for log pacing).
    failures: u32,
    /// Rotates through resolved addresses across attempts.
    addr_rotation: usize,
    /// When the last open connection dropped (0 = never open yet).
    dropped_ns: u64,
    /// The connection stopped reading with data possibly left (edge-triggered readiness).
    more_to_read: bool,
}

enum SlotState {
    Waiting {
        until_ns: u64,
    },
    /// DNS on a helper thread; given up at `deadline_ns` (a late answer is then ignored).
    Resolving {
        deadline_ns: u64,
    },
    Live,
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

enum HelperMsg {
    Resolved {
        slot: usize,
        generation: u64,
        result: Result<Vec<SocketAddr>, String>,
    },
    Snapshot {
        rest: usize,
        result: Result<VenueSnapshot, String>,
    },
}

impl FeedGroup {
    /// Starts the group's thread. Fails (before any thread starts) if the poll cannot be created
    /// or a session's URL is unusable.
    pub fn spawn(
        config: FeedGroupConfig,
        mut producer: Producer,
        shutdown: Arc<AtomicBool>,
    ) -> io::Result<FeedHandle> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        producer.set_abort_flag(shutdown.clone());
        let mut slots = Vec::with_capacity(config.sessions.len());
        let mut conn_stats = Vec::with_capacity(config.sessions.len());
        for (i, session) in config.sessions.into_iter().enumerate() {
            let stats = Arc::new(ConnectionStats::new(session.venue(), session.url()));
            let seed = seed_from(&config.name, i);
            let conn = Connection::new(
                session,
                config.tls.clone(),
                config.connection,
                stats.clone(),
                seed ^ 0x5bd1_e995,
            )
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("feed group {}: {e}", config.name),
                )
            })?;
            conn_stats.push(stats);
            slots.push(Slot {
                conn,
                backoff: Backoff::new(config.backoff, seed),
                state: SlotState::Waiting { until_ns: 0 },
                generation: 0,
                failures: 0,
                addr_rotation: 0,
                dropped_ns: 0,
                more_to_read: false,
            });
        }
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
            connections: conn_stats,
            rest: rest.iter().map(|r| r.stats.clone()).collect(),
            queue: producer.counters(),
            core: config.core.map(|c| c.id),
            pinned: Counter::default(),
        });
        let (helper_tx, helper_rx) = mpsc::channel();
        let group = FeedGroup {
            name: config.name.clone(),
            slots,
            rest,
            universe: config.universe,
            snapshots: config.snapshots,
            producer,
            push_error: None,
            shutdown,
            poll,
            waker: waker.clone(),
            helper_tx,
            helper_rx,
            stats: stats.clone(),
            core: config.core,
            busy_poll: config.busy_poll,
            connect_timeout_ns: config.connection.connect_timeout.as_nanos() as u64,
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
        let mut events = Events::with_capacity(256);
        let result = loop {
            if self.shutdown.load(Ordering::Relaxed) {
                break Ok(());
            }
            let now = clock::mono_ns();
            self.start_due_work(now);
            let timeout = self.poll_timeout(now);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    break Err(FeedError::Poll {
                        group: self.name.clone(),
                        source: e,
                    });
                }
            }
            for event in events.iter() {
                if event.token() != WAKER {
                    self.service(event.token().0);
                }
            }
            for i in 0..self.slots.len() {
                if self.slots[i].more_to_read {
                    self.service(i);
                }
            }
            self.handle_helper_messages();
            self.check_timers(clock::mono_ns());
            self.producer.flush_pending();
            match self.push_error {
                Some(PushError::Disconnected) => {
                    break Err(FeedError::QueueDisconnected {
                        group: self.name.clone(),
                    })
                }
                Some(PushError::Aborted) => break Ok(()),
                None => {}
            }
        };
        for slot in &mut self.slots {
            slot.conn
                .close(self.poll.registry(), DisconnectReason::Shutdown);
        }
        if let Err(e) = &result {
            eprintln!("carry-feeds: {e}");
        }
        result
    }

    fn poll_timeout(&self, now: u64) -> Duration {
        if self.busy_poll
            || self.producer.has_pending()
            || self.slots.iter().any(|s| s.more_to_read)
        {
            return Duration::ZERO;
        }
        let mut deadline = now.saturating_add(SHUTDOWN_POLL.as_nanos() as u64);
        for slot in &self.slots {
            match slot.state {
                SlotState::Waiting { until_ns } => deadline = deadline.min(until_ns),
                SlotState::Live => {
                    if let Some(d) = slot.conn.next_deadline() {
                        deadline = deadline.min(d);
                    }
                }
                SlotState::Resolving { deadline_ns } => deadline = deadline.min(deadline_ns),
            }
        }
        for r in &self.rest {
            if r.wanted && !r.in_flight {
                deadline = deadline.min(r.retry_at_ns);
            }
        }
        Duration::from_nanos(deadline.saturating_sub(now))
    }

    /// Starts connects and REST fetches whose time has come.
    fn start_due_work(&mut self, now: u64) {
        for i in 0..self.slots.len() {
            if let SlotState::Waiting { until_ns } = self.slots[i].state {
                if now >= until_ns {
                    self.begin_connect(i, now);
                }
            }
        }
        for i in 0..self.rest.len() {
            let r = &self.rest[i];
            if r.wanted && !r.in_flight && now >= r.retry_at_ns {
                self.begin_fetch(i, now);
            }
        }
    }

    fn begin_connect(&mut self, i: usize, now: u64) {
        let slot = &mut self.slots[i];
        slot.generation += 1;
        let endpoint = slot.conn.endpoint().clone();
        if let Ok(ip) = endpoint.host.parse::<IpAddr>() {
            self.connect_to(i, SocketAddr::new(ip, endpoint.port), now);
            return;
        }
        slot.state = SlotState::Resolving {
            deadline_ns: now.saturating_add(self.connect_timeout_ns),
        };
        let (tx, waker, generation) = (self.helper_tx.clone(), self.waker.clone(), slot.generation);
        let spawned = std::thread::Builder::new()
            .name(format!("dns-{}", self.name))
            .spawn(move || {
                let result = (endpoint.host.as_str(), endpoint.port)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>())
                    .map_err(|e| e.to_string());
                let _ = tx.send(HelperMsg::Resolved {
                    slot: i,
                    generation,
                    result,
                });
                let _ = waker.wake();
            });
        if let Err(e) = spawned {
            self.connection_failed(
                i,
                Disconnect::new(
                    DisconnectReason::ConnectFailed,
                    format!("cannot start a DNS thread: {e}"),
                ),
                now,
            );
        }
    }

    fn connect_to(&mut self, i: usize, addr: SocketAddr, now: u64) {
        let slot = &mut self.slots[i];
        match slot.conn.connect(addr, self.poll.registry(), Token(i), now) {
            Ok(()) => slot.state = SlotState::Live,
            Err(d) => self.connection_failed(i, d, now),
        }
    }

    fn begin_fetch(&mut self, i: usize, now: u64) {
        let r = &mut self.rest[i];
        r.in_flight = true;
        r.wanted = false;
        r.last_started_ns = now;
        let (venue, url) = (r.venue, r.url.clone());
        let (tx, waker) = (self.helper_tx.clone(), self.waker.clone());
        let (source, universe) = (self.snapshots.clone(), self.universe.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("rest-{venue}"))
            .spawn(move || {
                let result = source.fetch(venue, &url, &universe, clock::recv_stamp());
                let _ = tx.send(HelperMsg::Snapshot { rest: i, result });
                let _ = waker.wake();
            });
        if let Err(e) = spawned {
            self.snapshot_failed(i, format!("cannot start a REST thread: {e}"), now);
        }
    }

    /// Reads and dispatches what connection `i` has ready.
    fn service(&mut self, i: usize) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if !matches!(slot.state, SlotState::Live) {
            slot.more_to_read = false;
            return;
        }
        let was_open = slot.conn.is_open();
        let producer = &mut self.producer;
        let push_error = &mut self.push_error;
        let mut sink = |event: MarketEvent| {
            if push_error.is_none() {
                if let Err(e) = producer.push(FeedItem::new(event, clock::mono_ns())) {
                    *push_error = Some(e);
                }
            }
        };
        let outcome = slot.conn.on_ready(&mut sink);
        match outcome {
            Ok(more) => {
                slot.more_to_read = more;
                if !was_open && slot.conn.is_open() {
                    self.connection_opened(i);
                }
            }
            Err(d) => {
                if !was_open && slot.conn.is_open() {
                    self.connection_opened(i);
                }
                self.connection_failed(i, d, clock::mono_ns());
            }
        }
    }

    fn connection_opened(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.failures > 0 {
            eprintln!(
                "carry-feeds: {} {}: connected after {} failed attempt(s)",
                slot.conn.session().venue(),
                slot.conn.endpoint().url,
                slot.failures
            );
        }
        slot.failures = 0;
        let venue = slot.conn.session().venue();
        let dropped_ns = slot.dropped_ns;
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

    /// Ends connection `i` and schedules the next attempt.
    fn connection_failed(&mut self, i: usize, d: Disconnect, now: u64) {
        let slot = &mut self.slots[i];
        let opened_ns = slot.conn.opened_ns();
        // `close` counts the reason only for a socket it closes; DNS and connect() failures
        // never got one.
        let had_socket = slot.conn.phase() != Phase::Idle;
        let was_open = slot.conn.close(self.poll.registry(), d.reason);
        if !had_socket {
            slot.conn.stats().disconnect(d.reason).incr();
        }
        slot.more_to_read = false;
        let venue = slot.conn.session().venue();
        let delay = if was_open {
            slot.dropped_ns = now;
            slot.backoff
                .connection_ended(Duration::from_nanos(now.saturating_sub(opened_ns)));
            if d.reason.is_planned() {
                Duration::ZERO
            } else {
                slot.backoff.next_delay()
            }
        } else {
            slot.failures += 1;
            slot.addr_rotation = slot.addr_rotation.wrapping_add(1);
            slot.backoff.next_delay()
        };
        if was_open || slot.failures == 1 || slot.failures % 20 == 0 {
            eprintln!(
                "carry-feeds: {} {}: {} ({}); reconnecting in {:?}{}",
                venue,
                slot.conn.endpoint().url,
                if was_open {
                    "disconnected"
                } else {
                    "connect failed"
                },
                d,
                delay,
                if slot.failures > 1 {
                    format!(" (attempt {})", slot.failures)
                } else {
                    String::new()
                }
            );
        }
        slot.state = SlotState::Waiting {
            until_ns: now.saturating_add(delay.as_nanos() as u64),
        };
        if was_open {
            self.push(MarketEvent {
                venue,
                instrument: InstrumentId(0),
                ts_ms: clock::unix_ms(),
                recv_ns: now,
                kind: MarketEventKind::FeedReset,
            });
        }
    }

    fn check_timers(&mut self, now: u64) {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if let SlotState::Resolving { deadline_ns } = slot.state {
                if now >= deadline_ns {
                    let host = slot.conn.endpoint().host.clone();
                    self.connection_failed(
                        i,
                        Disconnect::new(
                            DisconnectReason::Timeout,
                            format!("DNS: no answer for {host} in time"),
                        ),
                        now,
                    );
                }
                continue;
            }
            if !matches!(slot.state, SlotState::Live) || slot.conn.phase() == Phase::Idle {
                continue;
            }
            if slot.conn.next_deadline().is_some_and(|d| now >= d) {
                if let Err(d) = slot.conn.on_timer(now) {
                    self.connection_failed(i, d, now);
                }
            }
        }
    }

    fn handle_helper_messages(&mut self) {
        while let Ok(msg) = self.helper_rx.try_recv() {
            let now = clock::mono_ns();
            match msg {
                HelperMsg::Resolved {
                    slot,
                    generation,
                    result,
                } => {
                    let Some(s) = self.slots.get(slot) else {
                        continue;
                    };
                    if s.generation != generation || !matches!(s.state, SlotState::Resolving { .. })
                    {
                        continue;
                    }
                    let host = s.conn.endpoint().host.clone();
                    match result {
                        Ok(addrs) if !addrs.is_empty() => {
                            let addr = addrs[s.addr_rotation % addrs.len()];
                            self.connect_to(slot, addr, now);
                        }
                        Ok(_) => self.connection_failed(
                            slot,
                            Disconnect::new(
                                DisconnectReason::ConnectFailed,
                                format!("DNS: {host} has no address"),
                            ),
                            now,
                        ),
                        Err(e) => self.connection_failed(
                            slot,
                            Disconnect::new(
                                DisconnectReason::ConnectFailed,
                                format!("DNS: {host}: {e}"),
                            ),
                            now,
                        ),
                    }
                }
                HelperMsg::Snapshot { rest, result } => match result {
                    Ok(snapshot) => self.apply_snapshot(rest, &snapshot),
                    Err(e) => self.snapshot_failed(rest, e, now),
                },
            }
        }
    }

    fn apply_snapshot(&mut self, i: usize, snapshot: &VenueSnapshot) {
        let r = &mut self.rest[i];
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
        for slot in self.slots.iter_mut() {
            if slot.conn.session().venue() == venue {
                slot.conn.session_mut().apply_snapshot(snapshot);
            }
        }
        for ins in &snapshot.instruments {
            if let Some(event) = ins.funding {
                self.push(event);
            }
        }
    }

    fn snapshot_failed(&mut self, i: usize, error: String, now: u64) {
        let r = &mut self.rest[i];
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

    fn push(&mut self, event: MarketEvent) {
        if self.push_error.is_some() {
            return;
        }
        if let Err(e) = self.producer.push(FeedItem::new(event, clock::mono_ns())) {
            self.push_error = Some(e);
        }
    }
}

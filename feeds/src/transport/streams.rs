//! Websocket connections kept up on one thread: one mio `Poll` over their sockets, their timers,
//! and their reconnects. Generic over the session, so market data and a private order stream run
//! on the same machinery and differ only in what their sessions produce and what a
//! [`StreamHandler`] does with it.
//!
//! What [`Streams`] does for each connection:
//! - connects (DNS on a helper thread, since `ToSocketAddrs` blocks; IP literals directly), sends
//!   what the session builds at connect time, answers protocol pings, sends the session's
//!   heartbeats;
//! - reconnects when the connection drops, when nothing arrived for `silence_timeout` (watchdog),
//!   a few minutes before the venue's maximum connection age, and when the venue announces a
//!   shutdown; failures back off exponentially with per-connection jitter, planned reconnects
//!   (age, venue notice) go at once;
//! - hands the session's outputs to the handler in the order the venue sent them, and tells it
//!   when a connection opens and when an open one drops (the reset signal: what the stream said
//!   may have gaps, so the feed group pushes a `FeedReset` and a private stream would reconcile).
//!
//! The owner runs the loop: [`Streams::turn`] waits for readiness (at most as long as the owner
//! allows, so it can look at a shutdown flag or its own work) and does one round of everything
//! above. Other threads wake a waiting turn with [`Streams::waker`].

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use carry_engine::Venue;
use mio::{Events, Poll, Token, Waker};

use crate::transport::backoff::{seed_from, Backoff, BackoffConfig};
use crate::transport::clock;
use crate::transport::connection::{
    Connection, ConnectionOptions, Disconnect, Phase, TransportError,
};
use crate::transport::session::WsSession;
use crate::transport::stats::{ConnectionStats, DisconnectReason};

/// The waker's token; connection `i` is `Token(i)`.
const WAKER: Token = Token(usize::MAX);

/// What the owner of [`Streams`] does with what its connections produce and when they open and
/// drop. Called on the streams' thread, from [`Streams::turn`].
pub trait StreamHandler<T> {
    /// One output of a connection's session, in the order the venue sent them. On the hot path
    /// of a market data feed: it must not block for long or allocate.
    fn output(&mut self, item: T);

    /// Connection `conn` of `venue` completed its handshake and sent its first messages.
    /// `dropped_ns` is when it last dropped while open (monotonic ns; 0 if it never was open).
    fn opened(&mut self, conn: usize, venue: Venue, dropped_ns: u64);

    /// Connection `conn` of `venue`, which was open, ended at `now_ns`: the reset signal. A
    /// reconnect follows on its own.
    fn dropped(&mut self, conn: usize, venue: Venue, now_ns: u64);
}

/// Why a set of streams could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// The mio poll or its waker could not be created.
    #[error("streams {name}: mio poll: {source}")]
    Poll {
        /// The streams' name.
        name: String,
        /// What the OS said.
        source: io::Error,
    },
    /// A session's URL is unusable.
    #[error("streams {name}: {source}")]
    Url {
        /// The streams' name.
        name: String,
        /// What is wrong with the URL.
        source: TransportError,
    },
}

/// How [`Streams`] connects and reconnects.
#[derive(Clone, Debug)]
pub struct StreamsConfig {
    /// Names the DNS threads and the log lines, and seeds each connection's jitter.
    pub name: String,
    /// The TLS client configuration of `wss://` connections.
    pub tls: Arc<rustls::ClientConfig>,
    /// Timeouts and limits of each connection.
    pub connection: ConnectionOptions,
    /// Reconnect pacing.
    pub backoff: BackoffConfig,
}

/// Websocket connections on one `Poll`, kept up; see the module doc.
pub struct Streams<S: WsSession + ?Sized> {
    name: String,
    slots: Vec<Slot<S>>,
    poll: Poll,
    events: Events,
    waker: Arc<Waker>,
    dns_tx: Sender<Resolved>,
    dns_rx: Receiver<Resolved>,
    connect_timeout_ns: u64,
}

struct Slot<S: WsSession + ?Sized> {
    conn: Connection<S>,
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

/// A DNS answer from a helper thread.
struct Resolved {
    slot: usize,
    generation: u64,
    result: Result<Vec<SocketAddr>, String>,
}

impl<S: WsSession + ?Sized> Streams<S> {
    /// One connection per session, none opened yet: the first [`Streams::turn`] starts them.
    /// Fails if the poll cannot be created or a session's URL is unusable.
    pub fn new(config: StreamsConfig, sessions: Vec<Box<S>>) -> Result<Streams<S>, StreamsError> {
        let poll_error = |source| StreamsError::Poll {
            name: config.name.clone(),
            source,
        };
        let poll = Poll::new().map_err(poll_error)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(poll_error)?);
        let mut slots = Vec::with_capacity(sessions.len());
        for (i, session) in sessions.into_iter().enumerate() {
            let stats = Arc::new(ConnectionStats::new(session.venue(), session.url()));
            let seed = seed_from(&config.name, i);
            let conn = Connection::new(
                session,
                config.tls.clone(),
                config.connection,
                stats,
                seed ^ 0x5bd1_e995,
            )
            .map_err(|source| StreamsError::Url {
                name: config.name.clone(),
                source,
            })?;
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
        let (dns_tx, dns_rx) = mpsc::channel();
        Ok(Streams {
            name: config.name,
            slots,
            poll,
            events: Events::with_capacity(256),
            waker,
            dns_tx,
            dns_rx,
            connect_timeout_ns: config.connection.connect_timeout.as_nanos() as u64,
        })
    }

    /// Wakes a [`Streams::turn`] that is waiting (from any thread).
    pub fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    /// The counters of each connection, in session order.
    pub fn stats(&self) -> Vec<Arc<ConnectionStats>> {
        self.slots.iter().map(|s| s.conn.stats().clone()).collect()
    }

    /// The sessions, in the order they were given (to hand them what REST said, for example).
    pub fn sessions_mut(&mut self) -> impl Iterator<Item = &mut S> {
        self.slots.iter_mut().map(|s| s.conn.session_mut())
    }

    /// One round: starts the connects whose time has come, waits for readiness at most
    /// `max_wait` (not at all while a connection has data left to read, less when a timer is due
    /// sooner), reads what is ready, takes DNS answers and checks every connection's timers.
    /// Fails only if the poll itself fails.
    pub fn turn(
        &mut self,
        max_wait: Duration,
        handler: &mut impl StreamHandler<S::Output>,
    ) -> io::Result<()> {
        let now = clock::mono_ns();
        self.start_due(now, handler);
        let timeout = self.timeout(now, max_wait);
        // Taken out while its events are served (`service` needs `self`); an empty `Events`
        // allocates nothing.
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                self.events = events;
                return Err(e);
            }
        }
        for event in events.iter() {
            if event.token() != WAKER {
                self.service(event.token().0, handler);
            }
        }
        self.events = events;
        for i in 0..self.slots.len() {
            if self.slots[i].more_to_read {
                self.service(i, handler);
            }
        }
        self.take_dns_answers(handler);
        self.check_timers(clock::mono_ns(), handler);
        Ok(())
    }

    /// Closes every connection (close frames first, best effort), counting it as a shutdown.
    pub fn close_all(&mut self) {
        for slot in &mut self.slots {
            slot.conn
                .close(self.poll.registry(), DisconnectReason::Shutdown);
        }
    }

    fn timeout(&self, now: u64, max_wait: Duration) -> Duration {
        if max_wait.is_zero() || self.slots.iter().any(|s| s.more_to_read) {
            return Duration::ZERO;
        }
        let mut deadline = now.saturating_add(max_wait.as_nanos() as u64);
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
        Duration::from_nanos(deadline.saturating_sub(now))
    }

    /// Starts connects whose time has come.
    fn start_due(&mut self, now: u64, handler: &mut impl StreamHandler<S::Output>) {
        for i in 0..self.slots.len() {
            if let SlotState::Waiting { until_ns } = self.slots[i].state {
                if now >= until_ns {
                    self.begin_connect(i, now, handler);
                }
            }
        }
    }

    fn begin_connect(&mut self, i: usize, now: u64, handler: &mut impl StreamHandler<S::Output>) {
        let slot = &mut self.slots[i];
        slot.generation += 1;
        let endpoint = slot.conn.endpoint().clone();
        if let Ok(ip) = endpoint.host.parse::<IpAddr>() {
            self.connect_to(i, SocketAddr::new(ip, endpoint.port), now, handler);
            return;
        }
        slot.state = SlotState::Resolving {
            deadline_ns: now.saturating_add(self.connect_timeout_ns),
        };
        let (tx, waker, generation) = (self.dns_tx.clone(), self.waker.clone(), slot.generation);
        let spawned = std::thread::Builder::new()
            .name(format!("dns-{}", self.name))
            .spawn(move || {
                let result = (endpoint.host.as_str(), endpoint.port)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>())
                    .map_err(|e| e.to_string());
                let _ = tx.send(Resolved {
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
                handler,
            );
        }
    }

    fn connect_to(
        &mut self,
        i: usize,
        addr: SocketAddr,
        now: u64,
        handler: &mut impl StreamHandler<S::Output>,
    ) {
        let slot = &mut self.slots[i];
        match slot.conn.connect(addr, self.poll.registry(), Token(i), now) {
            Ok(()) => slot.state = SlotState::Live,
            Err(d) => self.connection_failed(i, d, now, handler),
        }
    }

    /// Reads and dispatches what connection `i` has ready.
    fn service(&mut self, i: usize, handler: &mut impl StreamHandler<S::Output>) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if !matches!(slot.state, SlotState::Live) {
            slot.more_to_read = false;
            return;
        }
        let was_open = slot.conn.is_open();
        let outcome = slot.conn.on_ready(&mut |item| handler.output(item));
        match outcome {
            Ok(more) => {
                slot.more_to_read = more;
                if !was_open && slot.conn.is_open() {
                    self.connection_opened(i, handler);
                }
            }
            Err(d) => {
                if !was_open && slot.conn.is_open() {
                    self.connection_opened(i, handler);
                }
                self.connection_failed(i, d, clock::mono_ns(), handler);
            }
        }
    }

    fn connection_opened(&mut self, i: usize, handler: &mut impl StreamHandler<S::Output>) {
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
        handler.opened(i, slot.conn.session().venue(), slot.dropped_ns);
    }

    /// Ends connection `i` and schedules the next attempt.
    fn connection_failed(
        &mut self,
        i: usize,
        d: Disconnect,
        now: u64,
        handler: &mut impl StreamHandler<S::Output>,
    ) {
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
            handler.dropped(i, venue, now);
        }
    }

    fn check_timers(&mut self, now: u64, handler: &mut impl StreamHandler<S::Output>) {
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
                        handler,
                    );
                }
                continue;
            }
            if !matches!(slot.state, SlotState::Live) || slot.conn.phase() == Phase::Idle {
                continue;
            }
            if slot.conn.next_deadline().is_some_and(|d| now >= d) {
                if let Err(d) = slot.conn.on_timer(now) {
                    self.connection_failed(i, d, now, handler);
                }
            }
        }
    }

    fn take_dns_answers(&mut self, handler: &mut impl StreamHandler<S::Output>) {
        while let Ok(Resolved {
            slot,
            generation,
            result,
        }) = self.dns_rx.try_recv()
        {
            let now = clock::mono_ns();
            let Some(s) = self.slots.get(slot) else {
                continue;
            };
            if s.generation != generation || !matches!(s.state, SlotState::Resolving { .. }) {
                continue;
            }
            let host = s.conn.endpoint().host.clone();
            match result {
                Ok(addrs) if !addrs.is_empty() => {
                    let addr = addrs[s.addr_rotation % addrs.len()];
                    self.connect_to(slot, addr, now, handler);
                }
                Ok(_) => self.connection_failed(
                    slot,
                    Disconnect::new(
                        DisconnectReason::ConnectFailed,
                        format!("DNS: {host} has no address"),
                    ),
                    now,
                    handler,
                ),
                Err(e) => self.connection_failed(
                    slot,
                    Disconnect::new(DisconnectReason::ConnectFailed, format!("DNS: {host}: {e}")),
                    now,
                    handler,
                ),
            }
        }
    }
}

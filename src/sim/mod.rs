//! Simulated venues on loopback for `carry demo` and tests: all ten markets (five exchanges,
//! perp and spot) speaking their REAL wire formats over plain `ws://` and `http://` on
//! 127.0.0.1, fed by one seeded market model whose funding regimes open and close cross-venue
//! spreads every few seconds.
//!
//! Layout: [`listing`] (symbols, trading rules, funding intervals), [`market`] (the price and
//! funding model), `ws` (websocket connections), `http` (the REST endpoints the feeds call at
//! start), and one module per exchange (`binance`, `bybit`, `okx`, `bitget`, `gate`) that knows
//! only that venue's messages. Each simulated venue gets its own websocket port, so URL paths
//! are free to be whatever the venue module appends; one REST port serves every venue's paths
//! (they never collide).
//!
//! ```no_run
//! use carry::sim::{SimConfig, SimVenues};
//! use carry_engine::Venue;
//! let sim = SimVenues::start(SimConfig::default()).unwrap();
//! let okx: Venue = "okx-perp".parse().unwrap();
//! println!("{} {}", sim.ws_url(okx), sim.rest_url(okx));
//! ```

mod binance;
mod bitget;
mod bybit;
mod gate;
mod http;
pub mod listing;
pub mod market;
mod okx;
mod ws;

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use carry_engine::market::venue::{Exchange, VENUE_COUNT};
use carry_engine::Venue;

use listing::Listing;
use market::{MarketModel, SharedMarket};

/// What to simulate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Canonical `BASE-QUOTE` instruments, listed on every simulated venue.
    pub instruments: Vec<String>,
    /// The venues to simulate.
    pub venues: Vec<Venue>,
    /// Seeds the market model: the same seed replays the same prices and funding.
    pub seed: u64,
    /// How long one funding regime lasts (odd regimes open a wide spread, even ones close or
    /// flip it). Default 8 s.
    pub cycle: Duration,
    /// One model step; also the cadence of book pushes. Default 50 ms.
    pub quote_interval: Duration,
    /// Funding and ticker streams push at the venue's real cadence divided by this (OKX's 30 s
    /// funding-rate push becomes 3 s at the default 10), never faster than `quote_interval`.
    pub funding_speedup: u32,
    /// How often Binance and Gate send protocol ping frames. Default 5 s.
    pub server_ping_interval: Duration,
    /// A connection whose ping stays unanswered this long is closed, as the venues do. Default
    /// 30 s.
    pub pong_timeout: Duration,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            instruments: vec!["BTC-USDT".into(), "ETH-USDT".into(), "SOL-USDT".into()],
            venues: Venue::ALL.to_vec(),
            seed: 1,
            cycle: Duration::from_secs(8),
            quote_interval: Duration::from_millis(50),
            funding_speedup: 10,
            server_ping_interval: Duration::from_secs(5),
            pong_timeout: Duration::from_secs(30),
        }
    }
}

/// Cadences every connection reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub quote_interval: Duration,
    pub funding_speedup: u32,
    pub server_ping_interval: Duration,
    pub pong_timeout: Duration,
}

/// A socket the simulator may have to shut down (stop, or a dropped-connection fault).
struct Registered {
    id: u64,
    venue: Option<Venue>,
    stream: TcpStream,
}

/// State shared by the acceptor, every connection thread and the REST server.
pub(crate) struct Shared {
    pub listing: Arc<Listing>,
    pub market: SharedMarket,
    pub timing: Timing,
    pub seed: u64,
    stopping: AtomicBool,
    stale: [AtomicBool; VENUE_COUNT],
    rest_down: [AtomicBool; VENUE_COUNT],
    sockets: Mutex<Vec<Registered>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
}

impl Shared {
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    pub fn is_stale(&self, venue: Venue) -> bool {
        self.stale[venue.index()].load(Ordering::Relaxed)
    }

    pub fn is_rest_down(&self, venue: Venue) -> bool {
        self.rest_down[venue.index()].load(Ordering::Relaxed)
    }

    fn register(&self, venue: Option<Venue>, stream: &TcpStream) -> io::Result<u64> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let clone = stream.try_clone()?;
        lock(&self.sockets).push(Registered {
            id,
            venue,
            stream: clone,
        });
        Ok(id)
    }

    fn unregister(&self, id: u64) {
        lock(&self.sockets).retain(|r| r.id != id);
    }
}

/// Locks a mutex whose data stays valid even if a holder panicked (lists of sockets/threads).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running simulator. Dropping it stops every thread.
pub struct SimVenues {
    shared: Arc<Shared>,
    ws_addrs: [Option<SocketAddr>; VENUE_COUNT],
    rest_addr: SocketAddr,
    waker: Arc<mio::Waker>,
    acceptor: Option<JoinHandle<()>>,
}

const WAKER: mio::Token = mio::Token(usize::MAX);
const REST: mio::Token = mio::Token(usize::MAX - 1);

impl SimVenues {
    /// Binds one websocket port per venue and one REST port on 127.0.0.1 (ephemeral ports), and
    /// starts serving. Errors: a bad configuration (`InvalidInput`, naming what is wrong) or a
    /// socket that could not be bound.
    pub fn start(config: SimConfig) -> io::Result<SimVenues> {
        let listing = Listing::new(&config.instruments, &config.venues)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if config.quote_interval.is_zero() || config.cycle.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sim: cycle and quote_interval must be non-zero",
            ));
        }
        let ticks_per_regime =
            (config.cycle.as_nanos() / config.quote_interval.as_nanos()).max(1) as u64;
        let model = MarketModel::new(&listing, config.seed, ticks_per_regime);
        let shared = Arc::new(Shared {
            listing: Arc::new(listing),
            market: SharedMarket::new(model, config.quote_interval),
            timing: Timing {
                quote_interval: config.quote_interval,
                funding_speedup: config.funding_speedup.max(1),
                server_ping_interval: config.server_ping_interval.max(Duration::from_millis(10)),
                pong_timeout: config.pong_timeout,
            },
            seed: config.seed,
            stopping: AtomicBool::new(false),
            stale: Default::default(),
            rest_down: Default::default(),
            sockets: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
        });

        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let mut listeners: Vec<(Venue, TcpListener)> = Vec::new();
        let mut ws_addrs = [None; VENUE_COUNT];
        for &venue in shared.listing.venues() {
            let l = TcpListener::bind("127.0.0.1:0")?;
            l.set_nonblocking(true)?;
            ws_addrs[venue.index()] = Some(l.local_addr()?);
            listeners.push((venue, l));
        }
        let rest = TcpListener::bind("127.0.0.1:0")?;
        rest.set_nonblocking(true)?;
        let rest_addr = rest.local_addr()?;
        for (i, (_, l)) in listeners.iter().enumerate() {
            poll.registry().register(
                &mut mio::unix::SourceFd(&l.as_raw_fd()),
                mio::Token(i),
                mio::Interest::READABLE,
            )?;
        }
        poll.registry().register(
            &mut mio::unix::SourceFd(&rest.as_raw_fd()),
            REST,
            mio::Interest::READABLE,
        )?;

        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("sim-accept".into())
                .spawn(move || accept_loop(poll, listeners, rest, &shared))?
        };
        Ok(SimVenues {
            shared,
            ws_addrs,
            rest_addr,
            waker,
            acceptor: Some(acceptor),
        })
    }

    /// The base websocket URL carry's feed config takes for `venue` (`ws://127.0.0.1:PORT`; the
    /// venue module appends its own path, e.g. Binance `/market/stream?streams=...`). A venue
    /// that is not simulated gets a URL on port 0, which no connection can reach.
    pub fn ws_url(&self, venue: Venue) -> String {
        let port = self.ws_addrs[venue.index()].map_or(0, |a| a.port());
        format!("ws://127.0.0.1:{port}")
    }

    /// The base REST URL carry's feed config takes for `venue` (`http://127.0.0.1:PORT`; one
    /// server answers every venue's paths, which never collide: `/fapi/v1`, `/api/v3`, `/v5`,
    /// `/api/v5`, `/api/v2`, `/api/v4`).
    pub fn rest_url(&self, _venue: Venue) -> String {
        format!("http://127.0.0.1:{}", self.rest_addr.port())
    }

    /// The simulated universe (symbols, specs, intervals), as the REST side reports it.
    pub fn listing(&self) -> &Listing {
        &self.shared.listing
    }

    /// Fault: drops every open websocket connection of `venue` at the TCP level, as a network
    /// failure would (no close frame). Returns how many were dropped.
    pub fn drop_connections(&self, venue: Venue) -> usize {
        let sockets = lock(&self.shared.sockets);
        let mut n = 0;
        for r in sockets.iter().filter(|r| r.venue == Some(venue)) {
            if r.stream.shutdown(Shutdown::Both).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Fault: a stale feed. While set, `venue`'s connections stay open and keep answering
    /// heartbeats but push no data.
    pub fn set_stale(&self, venue: Venue, stale: bool) {
        self.shared.stale[venue.index()].store(stale, Ordering::Relaxed);
    }

    /// Fault: `venue`'s REST endpoints answer 503 while set.
    pub fn set_rest_down(&self, venue: Venue, down: bool) {
        self.shared.rest_down[venue.index()].store(down, Ordering::Relaxed);
    }

    /// Open websocket connections of `venue` (handshaken or handshaking).
    pub fn connections(&self, venue: Venue) -> usize {
        lock(&self.shared.sockets)
            .iter()
            .filter(|r| r.venue == Some(venue))
            .count()
    }

    /// Stops accepting, closes every connection and joins every thread. Idempotent.
    pub fn stop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        let _ = self.waker.wake();
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        for r in lock(&self.shared.sockets).iter() {
            let _ = r.stream.shutdown(Shutdown::Both);
        }
        let threads = std::mem::take(&mut *lock(&self.shared.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for SimVenues {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    mut poll: mio::Poll,
    listeners: Vec<(Venue, TcpListener)>,
    rest: TcpListener,
    shared: &Arc<Shared>,
) {
    let mut events = mio::Events::with_capacity(64);
    while !shared.is_stopping() {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        for ev in events.iter() {
            let token = ev.token();
            if token == WAKER {
                continue;
            }
            let (listener, venue) = if token == REST {
                (&rest, None)
            } else {
                match listeners.get(token.0) {
                    Some((v, l)) => (l, Some(*v)),
                    None => continue,
                }
            };
            // Edge-triggered: drain every pending connection.
            loop {
                match listener.accept() {
                    Ok((stream, _)) => spawn_connection(stream, venue, shared),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // Out of descriptors and the like: drop this one, keep serving.
                    Err(_) => break,
                }
            }
        }
    }
}

fn spawn_connection(stream: TcpStream, venue: Option<Venue>, shared: &Arc<Shared>) {
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let Ok(id) = shared.register(venue, &stream) else {
        return;
    };
    let name = match venue {
        Some(v) => format!("sim-ws-{v}-{id}"),
        None => format!("sim-rest-{id}"),
    };
    let thread_shared = Arc::clone(shared);
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        let s = &*thread_shared;
        match venue {
            Some(v) => {
                let _ = ws::serve(stream, v, id, s, protocol_for(v));
            }
            None => http::serve(stream, s),
        }
        s.unregister(id);
    });
    match spawned {
        Ok(handle) => {
            let mut threads = lock(&shared.threads);
            threads.retain(|t| !t.is_finished());
            threads.push(handle);
        }
        Err(_) => shared.unregister(id),
    }
}

fn protocol_for(venue: Venue) -> Box<dyn ws::Protocol> {
    match venue.exchange {
        Exchange::Binance => Box::new(binance::BinanceWs::new(venue)),
        Exchange::Bybit => Box::new(bybit::BybitWs::new(venue)),
        Exchange::Okx => Box::new(okx::OkxWs::new()),
        Exchange::Bitget => Box::new(bitget::BitgetWs::new()),
        Exchange::Gate => Box::new(gate::GateWs::new()),
    }
}

//! Simulated venues on loopback for `carry demo` and tests: all ten markets (five exchanges,
//! perp and spot) speaking their REAL wire formats over plain `ws://` and `http://` on
//! 127.0.0.1, fed by one seeded market model whose funding regimes open and close cross-venue
//! spreads every few seconds.
//!
//! Layout: [`listing`] (symbols, trading rules, funding intervals and the settlement grid),
//! [`market`] (the price and funding model), `ws` (websocket connections), `http` (the HTTP/1.1
//! server), and one module per exchange (`binance`, `bybit`, `okx`, `bitget`, `gate`) that knows
//! only that venue's messages; each has a `private` submodule with the venue's signed REST
//! endpoints (orders, account, ledgers) and a `stream` submodule with its private websockets
//! (account streams and websocket order entry). Those share `account` (orders, matching,
//! balances, positions, dead-man switches, funding settlement, events), `account_feed` (how a
//! private connection follows its account), `funding` (settlement arithmetic), `risk` (tiers,
//! maintenance margin, liquidation price), `rules` (tick, lot, minimums, price bands), `limits`
//! (rate limits), `auth` (HMAC primitives), `wire` (answers in the venue's field order) and
//! [`record`] (the venue's own record of every order it accepted). Each simulated venue gets its own websocket port, so URL paths are free to be
//! whatever the venue module appends; one REST port serves every venue's paths (they never
//! collide).
//!
//! The simulator is the independent check on carry's live gateways: it implements each venue's
//! protocol from the venue's documentation and never imports carry's venue code.
//!
//! ```no_run
//! use carry::sim::{SimConfig, SimVenues};
//! use carry_engine::Venue;
//! let sim = SimVenues::start(SimConfig::default()).unwrap();
//! let okx: Venue = "okx-perp".parse().unwrap();
//! println!("{} {}", sim.ws_url(okx), sim.rest_url(okx));
//! ```

mod account;
mod account_feed;
mod auth;
mod binance;
mod bitget;
mod bybit;
mod funding;
mod gate;
mod http;
mod limits;
pub mod listing;
pub mod market;
mod okx;
pub mod record;
mod risk;
mod rules;
mod wire;
mod ws;

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use carry_engine::market::venue::{Exchange, VENUE_COUNT};
use carry_engine::Venue;
use carry_feeds::transport::clock::unix_ms;
use rust_decimal::Decimal;

use account::{Account, AccountConfig};
use http::{Disposition, Reply};
use listing::Listing;
use market::{MarketModel, MarketTick, SharedMarket};

pub use account::{
    AccountEvent, AccountEventKind, BalanceRow, ChangeReason, FeeRates, OrderUpdate, PositionRow,
};
pub use limits::{RateLimit, SimRateLimits};
pub use record::{
    read_accepted_orders, record_path, AcceptedOrder, FundingPayment, RecordError, Side, Wallet,
};

/// One API key of a simulated venue. `Debug` shows the key, never the secret or passphrase.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiCredentials {
    pub api_key: String,
    pub secret: String,
    /// OKX and Bitget only; empty elsewhere.
    pub passphrase: String,
}

impl ApiCredentials {
    fn demo(exchange: &str, passphrase: bool) -> ApiCredentials {
        ApiCredentials {
            api_key: format!("sim-{exchange}-key"),
            secret: format!("sim-{exchange}-secret"),
            passphrase: if passphrase {
                format!("sim-{exchange}-passphrase")
            } else {
                String::new()
            },
        }
    }
}

impl fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiCredentials")
            .field("api_key", &self.api_key)
            .field("secret", &"<redacted>")
            .field("passphrase", &"<redacted>")
            .finish()
    }
}

/// The key each simulated exchange accepts (one account per exchange, for its perp and spot).
/// The defaults are deterministic demo keys: `sim-<exchange>-key` / `sim-<exchange>-secret`,
/// passphrase `sim-okx-passphrase` / `sim-bitget-passphrase`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimCredentials {
    pub binance: ApiCredentials,
    pub bybit: ApiCredentials,
    pub okx: ApiCredentials,
    pub bitget: ApiCredentials,
    pub gate: ApiCredentials,
}

impl Default for SimCredentials {
    fn default() -> SimCredentials {
        SimCredentials {
            binance: ApiCredentials::demo("binance", false),
            bybit: ApiCredentials::demo("bybit", false),
            okx: ApiCredentials::demo("okx", true),
            bitget: ApiCredentials::demo("bitget", true),
            gate: ApiCredentials::demo("gate", false),
        }
    }
}

impl SimCredentials {
    pub fn of(&self, exchange: Exchange) -> &ApiCredentials {
        match exchange {
            Exchange::Binance => &self.binance,
            Exchange::Bybit => &self.bybit,
            Exchange::Okx => &self.okx,
            Exchange::Bitget => &self.bitget,
            Exchange::Gate => &self.gate,
        }
    }
}

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
    /// One model step; also the cadence of book pushes and of resting-order matching. Default
    /// 50 ms.
    pub quote_interval: Duration,
    /// Funding and ticker streams push at the venue's real cadence divided by this (OKX's 30 s
    /// funding-rate push becomes 3 s at the default 10), never faster than `quote_interval`.
    pub funding_speedup: u32,
    /// How often Binance and Gate send protocol ping frames. Default 5 s.
    pub server_ping_interval: Duration,
    /// A connection whose ping stays unanswered this long is closed, as the venues do. Default
    /// 30 s.
    pub pong_timeout: Duration,
    /// The API keys the private endpoints accept.
    pub credentials: SimCredentials,
    /// Where each venue keeps its record of accepted orders (`<dir>/<venue>.orders.jsonl`),
    /// replayed at start. `None`: nothing is kept across runs.
    pub state_dir: Option<PathBuf>,
    /// What every wallet (perp, spot, margin) of every account starts with. Default 1 000 000
    /// USDT.
    pub starting_balances: Vec<(String, Decimal)>,
    /// Refuses about one order in this many as if the balance were short (0: never). Drawn from
    /// the seed, so a run repeats.
    pub reject_one_in: u32,
    /// The order rate limits each venue enforces per account.
    pub rate_limits: SimRateLimits,
    /// Dead-man switch windows elapse this many times faster than requested (tests arm OKX's
    /// 10 s minimum and see it fire in 100 ms). Default 1.
    pub dead_man_speedup: u32,
    /// The accelerated funding clock: how long one hour of every perpetual's funding schedule
    /// lasts. `Some(1 s)` settles an 8 h perpetual every 8 s and a 1 h one every second, and
    /// the next funding times the feeds publish move on that grid; the stated intervals (8 h)
    /// and the rates (per 8 h) do not change. `None` (default): the real clock, settlements on
    /// the venues' UTC grid.
    pub funding_hour: Option<Duration>,
    /// The fee rates each simulated account pays where they differ from the venue's base tier
    /// (which the public endpoints print): fills are charged at these, and the fee-rate
    /// endpoints report them.
    pub fee_rates: Vec<(Venue, FeeRates)>,
    /// How long a Binance USDⓈ-M listenKey lives without a keepalive (60 min on the venue).
    pub listen_key_validity: Duration,
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
            credentials: SimCredentials::default(),
            state_dir: None,
            starting_balances: vec![("USDT".into(), Decimal::from(1_000_000))],
            reject_one_in: 0,
            rate_limits: SimRateLimits::default(),
            dead_man_speedup: 1,
            funding_hour: None,
            fee_rates: Vec::new(),
            listen_key_validity: Duration::from_secs(3_600),
        }
    }
}

/// A fault the simulator injects into order requests (placing or cancelling).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimFault {
    /// The venue applies the request, then closes the connection without answering.
    DropAnswer,
    /// The venue applies the request, then answers with a 5xx.
    ServerError,
    /// The venue resets the connection (RST) after reading the request, before applying it.
    Reset,
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
    /// Set once the connection carries an exchange's private stream or order entry.
    private: Option<Exchange>,
    stream: TcpStream,
}

/// State shared by the acceptor, every connection thread and the REST server.
pub(crate) struct Shared {
    pub listing: Arc<Listing>,
    pub market: SharedMarket,
    pub timing: Timing,
    pub seed: u64,
    pub credentials: SimCredentials,
    pub limits: SimRateLimits,
    accounts: [Option<Mutex<Account>>; 5],
    skew_ms: [AtomicI64; 5],
    /// Hold-back fault: private pushes wait until their event is this old (ms; 0: off).
    private_hold_ms: [AtomicI64; 5],
    pub listen_key_validity: Duration,
    pub binance_keys: binance::stream::ListenKeys,
    faults: Mutex<Vec<(Venue, SimFault, u32)>>,
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

    /// The exchange's clock: the wall clock plus the skew a test set.
    pub fn venue_now_ms(&self, exchange: Exchange) -> i64 {
        unix_ms() + self.skew_ms[exchange as usize].load(Ordering::Relaxed)
    }

    /// The exchange's account, brought up to the current market and clock. `None` when none
    /// of the exchange's markets is simulated.
    pub fn desk(&self, exchange: Exchange) -> Option<Desk<'_>> {
        let account = lock(self.accounts[exchange as usize].as_ref()?);
        let tick = self.market.now();
        let now_ms = self.venue_now_ms(exchange);
        let mut desk = Desk {
            account,
            tick,
            now_ms,
        };
        desk.account.advance(&desk.tick, now_ms);
        Some(desk)
    }

    /// The last `limit` settlements of `instrument` on `venue` (a perp) before `now_ms`,
    /// oldest first: what settled where the venue remembers it, the current rate and mark for
    /// times before (the public funding-rate history endpoints render these).
    pub fn funding_history(
        &self,
        venue: Venue,
        instrument: usize,
        now_ms: i64,
        limit: usize,
    ) -> Vec<funding::Settlement> {
        let (Some(l), Some(leg)) = (
            self.listing.get(instrument, venue),
            self.market.now().leg(instrument, venue).cloned(),
        ) else {
            return Vec::new();
        };
        let Some(interval) = l.settlement_interval_ms() else {
            return Vec::new();
        };
        let next = l.next_funding_time_ms(now_ms);
        let desk = self.desk(venue.exchange);
        let empty = std::collections::VecDeque::new();
        let recorded = desk
            .as_ref()
            .and_then(|d| d.account.settlements(instrument))
            .unwrap_or(&empty);
        funding::history(
            recorded,
            interval,
            next,
            (leg.funding_rate, leg.mark),
            limit,
        )
    }

    /// `exchange`'s account events after `after_seq`, without advancing the account.
    pub fn events_after(&self, exchange: Exchange, after_seq: u64) -> Vec<AccountEvent> {
        self.accounts[exchange as usize]
            .as_ref()
            .map(|a| lock(a).events_after(after_seq))
            .unwrap_or_default()
    }

    /// The number of `exchange`'s latest account event.
    pub fn last_event_seq(&self, exchange: Exchange) -> u64 {
        self.accounts[exchange as usize]
            .as_ref()
            .map_or(0, |a| lock(a).last_seq())
    }

    pub fn private_hold_ms(&self, exchange: Exchange) -> i64 {
        self.private_hold_ms[exchange as usize].load(Ordering::Relaxed)
    }

    /// Marks connection `id` as carrying `exchange`'s private traffic.
    pub fn mark_private(&self, id: u64, exchange: Exchange) {
        if let Some(r) = lock(&self.sockets).iter_mut().find(|r| r.id == id) {
            r.private = Some(exchange);
        }
    }

    /// Takes one injected fault for `venue`, if any is pending.
    pub fn take_fault(&self, venue: Venue) -> Option<SimFault> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|(v, _, n)| *v == venue && *n > 0)?;
        let fault = faults[i].1;
        faults[i].2 -= 1;
        if faults[i].2 == 0 {
            faults.remove(i);
        }
        Some(fault)
    }

    /// Runs an order request (place or cancel) of `venue` under whatever fault is pending:
    /// a reset skips `apply`; a dropped answer or a 5xx replaces the answer `apply` gave.
    pub fn order_request(
        &self,
        venue: Venue,
        server_error: impl FnOnce() -> (u16, String),
        apply: impl FnOnce() -> Reply,
    ) -> Reply {
        let fault = self.take_fault(venue);
        if fault == Some(SimFault::Reset) {
            let mut r = Reply::new(venue, 0, String::new());
            r.disposition = Disposition::Reset;
            return r;
        }
        let mut reply = apply();
        match fault {
            Some(SimFault::DropAnswer) => reply.disposition = Disposition::DropAnswer,
            Some(SimFault::ServerError) => {
                let (status, body) = server_error();
                reply = Reply::new(venue, status, body);
            }
            _ => {}
        }
        reply
    }

    fn register(&self, venue: Option<Venue>, stream: &TcpStream) -> io::Result<u64> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let clone = stream.try_clone()?;
        lock(&self.sockets).push(Registered {
            id,
            venue,
            private: None,
            stream: clone,
        });
        Ok(id)
    }

    fn unregister(&self, id: u64) {
        lock(&self.sockets).retain(|r| r.id != id);
    }
}

/// An exchange's account locked for one request, at one market step and venue-clock time.
pub(crate) struct Desk<'a> {
    pub account: MutexGuard<'a, Account>,
    pub tick: Arc<MarketTick>,
    pub now_ms: i64,
}

/// Locks a mutex whose data stays valid even if a holder panicked (lists of sockets/threads).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running simulator. Dropping it stops every thread.
pub struct SimVenues {
    shared: Arc<Shared>,
    ws_addrs: [Option<SocketAddr>; VENUE_COUNT],
    rest_addr: SocketAddr,
    waker: Arc<mio::Waker>,
    acceptor: Option<JoinHandle<()>>,
    state_dir: Option<PathBuf>,
}

const WAKER: mio::Token = mio::Token(usize::MAX);
const REST: mio::Token = mio::Token(usize::MAX - 1);

impl SimVenues {
    /// Binds one websocket port per venue and one REST port on 127.0.0.1 (ephemeral ports),
    /// replays the venues' records from `state_dir`, and starts serving. Errors: a bad
    /// configuration (`InvalidInput`, naming what is wrong), an unreadable record
    /// (`InvalidData`, naming file and line) or a socket that could not be bound.
    pub fn start(config: SimConfig) -> io::Result<SimVenues> {
        let mut listing = Listing::new(&config.instruments, &config.venues)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if config.quote_interval.is_zero() || config.cycle.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sim: cycle and quote_interval must be non-zero",
            ));
        }
        if let Some(hour) = config.funding_hour {
            if hour.as_millis() == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "sim: funding_hour must be at least 1 ms",
                ));
            }
            listing = listing.with_funding_hour(hour.as_millis() as i64);
        }
        let ticks_per_regime =
            (config.cycle.as_nanos() / config.quote_interval.as_nanos()).max(1) as u64;
        let model = MarketModel::new(&listing, config.seed, ticks_per_regime);
        let listing = Arc::new(listing);
        let account_config = AccountConfig {
            balances: config.starting_balances.clone(),
            reject_one_in: config.reject_one_in,
            seed: config.seed,
            dead_man_speedup: config.dead_man_speedup,
            fee_rates: config.fee_rates.clone(),
        };
        let mut accounts: [Option<Mutex<Account>>; 5] = Default::default();
        for exchange in Exchange::ALL {
            if listing.venues().iter().any(|v| v.exchange == exchange) {
                accounts[exchange as usize] = Some(Mutex::new(Account::open(
                    exchange,
                    Arc::clone(&listing),
                    &account_config,
                    config.state_dir.as_deref(),
                )?));
            }
        }
        let shared = Arc::new(Shared {
            listing,
            market: SharedMarket::new(model, config.quote_interval),
            timing: Timing {
                quote_interval: config.quote_interval,
                funding_speedup: config.funding_speedup.max(1),
                server_ping_interval: config.server_ping_interval.max(Duration::from_millis(10)),
                pong_timeout: config.pong_timeout,
            },
            seed: config.seed,
            credentials: config.credentials.clone(),
            limits: config.rate_limits.clone(),
            accounts,
            skew_ms: Default::default(),
            private_hold_ms: Default::default(),
            listen_key_validity: config.listen_key_validity,
            binance_keys: Default::default(),
            faults: Mutex::new(Vec::new()),
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

        let matcher = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("sim-orders".into())
                .spawn(move || match_loop(&shared))?
        };
        lock(&shared.threads).push(matcher);
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
            state_dir: config.state_dir,
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
    /// server answers every venue's paths, which never collide: `/fapi`, `/api/v3`, `/sapi`,
    /// `/v5`, `/api/v5`, `/api/v2`, `/api/v4`).
    pub fn rest_url(&self, _venue: Venue) -> String {
        format!("http://127.0.0.1:{}", self.rest_addr.port())
    }

    /// The simulated universe (symbols, specs, intervals), as the REST side reports it.
    pub fn listing(&self) -> &Listing {
        &self.shared.listing
    }

    /// `venue`'s book at this moment for instrument `name` (`BTC-USDT`): what an order placed
    /// now meets.
    pub fn touch(&self, venue: Venue, name: &str) -> Option<market::LegTick> {
        let i = self
            .shared
            .listing
            .instruments()
            .iter()
            .position(|ins| ins.name == name)?;
        self.shared.market.now().leg(i, venue).cloned()
    }

    /// The API keys the simulated venues accept.
    pub fn credentials(&self) -> &SimCredentials {
        &self.shared.credentials
    }

    /// Where the venues keep their records, if anywhere.
    pub fn state_dir(&self) -> Option<&std::path::Path> {
        self.state_dir.as_deref()
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

    /// Fault: drops every private websocket connection of `exchange` (private streams and
    /// websocket order entry) at the TCP level, leaving its market data connections alone.
    /// Returns how many were dropped. Whatever happens in the account until the client is
    /// back is not replayed: a client finds it only by querying.
    pub fn drop_private_connections(&self, exchange: Exchange) -> usize {
        let sockets = lock(&self.shared.sockets);
        sockets
            .iter()
            .filter(|r| r.private == Some(exchange))
            .filter(|r| r.stream.shutdown(Shutdown::Both).is_ok())
            .count()
    }

    /// Open private websocket connections of `exchange`.
    pub fn private_connections(&self, exchange: Exchange) -> usize {
        lock(&self.shared.sockets)
            .iter()
            .filter(|r| r.private == Some(exchange))
            .count()
    }

    /// Fault: `exchange`'s private streams push each event only once it is `hold` old (zero
    /// lifts it), so a REST answer arrives before the stream reports the same fill.
    pub fn hold_private_events(&self, exchange: Exchange, hold: Duration) {
        self.shared.private_hold_ms[exchange as usize]
            .store(hold.as_millis() as i64, Ordering::Relaxed);
    }

    /// Every funding payment `exchange`'s account booked (this run and, with a state dir,
    /// earlier runs), oldest first.
    pub fn funding_payments(&self, exchange: Exchange) -> Vec<FundingPayment> {
        self.shared
            .desk(exchange)
            .map(|d| d.account.funding_ledger().to_vec())
            .unwrap_or_default()
    }

    /// Test hook, "behind carry's back": a transfer into (positive) or out of `exchange`'s
    /// `wallet`, recorded and pushed on the private streams like a deposit or withdrawal.
    pub fn transfer(&self, exchange: Exchange, wallet: Wallet, asset: &str, amount: Decimal) {
        if let Some(mut desk) = self.shared.desk(exchange) {
            let market = match wallet {
                Wallet::Perp => carry_engine::market::venue::Market::Perp,
                _ => carry_engine::market::venue::Market::Spot,
            };
            let now = desk.now_ms;
            desk.account
                .transfer(Venue::new(exchange, market), wallet, asset, amount, now);
        }
    }

    /// Test hook, "behind carry's back": a manual trade on `venue`'s website, `qty` (order
    /// units) of `instrument` (`BTC-USDT`) filled in full at the touch, with the venue's own
    /// client id for web orders. It shows in queries, trade lists, positions and the private
    /// streams like any order. Returns the venue's order id.
    pub fn manual_trade(
        &self,
        venue: Venue,
        instrument: &str,
        side: Side,
        qty: Decimal,
    ) -> Option<u64> {
        let i = self.instrument_position(instrument)?;
        let leg = self.shared.market.now().leg(i, venue)?.clone();
        let price = if side.is_buy() { leg.ask } else { leg.bid };
        let wallet = if venue.is_perp() {
            Wallet::Perp
        } else {
            Wallet::Spot
        };
        self.system_order(venue, "web", |_| {
            Some(system_order(venue, wallet, i, side, qty, price))
        })
    }

    /// Test hook: liquidates `venue`'s (a perp) position in `instrument` at the mark, as the
    /// venue's liquidation engine does: a reduce-only system order closes it in full (Binance's
    /// client id `autoclose-…`). Returns the quantity closed (order units), `None` when flat.
    pub fn liquidate(&self, venue: Venue, instrument: &str) -> Option<Decimal> {
        let i = self.instrument_position(instrument)?;
        let mark = self.shared.market.now().leg(i, venue)?.mark;
        let mut closed = None;
        self.system_order(venue, "liquidation", |account| {
            let held = account.perp.position(i).qty;
            if held.is_zero() || !venue.is_perp() {
                return None;
            }
            closed = Some(held.abs());
            let side = if held > Decimal::ZERO {
                Side::Sell
            } else {
                Side::Buy
            };
            let order = system_order(venue, Wallet::Perp, i, side, held.abs(), mark);
            Some(account::NewOrder {
                reduce_only: true,
                ..order
            })
        })?;
        closed
    }

    /// Places the order `build` makes from `venue`'s account (if any) as the venue's own, with
    /// the client id the venue gives orders of `kind`; returns its order id.
    fn system_order(
        &self,
        venue: Venue,
        kind: &str,
        build: impl FnOnce(&Account) -> Option<account::NewOrder>,
    ) -> Option<u64> {
        let mut desk = self.shared.desk(venue.exchange)?;
        let order = build(&desk.account)?;
        let now = desk.now_ms;
        let id = desk.account.next_order_id();
        let client_id = system_client_id(venue.exchange, kind, id, now);
        let pos = desk
            .account
            .system_order(account::NewOrder { client_id, ..order }, now);
        Some(desk.account.order(pos).rec.order_id)
    }

    fn instrument_position(&self, name: &str) -> Option<usize> {
        self.shared
            .listing
            .instruments()
            .iter()
            .position(|ins| ins.name == name)
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

    /// Fault: the next `count` order requests (place or cancel) of `venue` that pass
    /// authentication meet `fault`. Faults queue in the order injected.
    pub fn inject(&self, venue: Venue, fault: SimFault, count: u32) {
        if count > 0 {
            lock(&self.shared.faults).push((venue, fault, count));
        }
    }

    /// Sets `exchange`'s clock `ms` ahead of the wall clock (negative: behind). Its server time
    /// endpoints and its timestamp checks use the skewed clock, so a gateway signing with its
    /// own clock is refused until it resyncs.
    pub fn set_clock_skew(&self, exchange: Exchange, ms: i64) {
        self.shared.skew_ms[exchange as usize].store(ms, Ordering::Relaxed);
    }

    /// Test hook: puts `exchange`'s account into hedge (long/short) position mode, or back to
    /// one-way. The venue then refuses one-way orders with its position-mode error.
    pub fn set_hedge_mode(&self, exchange: Exchange, hedge: bool) {
        if let Some(mut desk) = self.shared.desk(exchange) {
            let perp = Venue::new(exchange, carry_engine::market::venue::Market::Perp);
            let now = desk.now_ms;
            desk.account.set_hedge(perp, hedge, now);
        }
    }

    /// Every order `venue` accepted (this run and, with a state dir, earlier runs), in
    /// acceptance order, with its fills and how it finished.
    pub fn accepted_orders(&self, venue: Venue) -> Vec<AcceptedOrder> {
        self.shared
            .desk(venue.exchange)
            .map(|d| d.account.accepted(venue))
            .unwrap_or_default()
    }

    /// Account events of `exchange` after `after_seq` (0: all kept), oldest first: order
    /// updates, fills, balance and position changes and funding payments, as the private
    /// streams push them.
    pub fn account_events(&self, exchange: Exchange, after_seq: u64) -> Vec<AccountEvent> {
        self.shared
            .desk(exchange)
            .map(|d| d.account.events_after(after_seq))
            .unwrap_or_default()
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

/// An IOC the venue places itself (see `Account::system_order`); its client id comes later.
fn system_order(
    venue: Venue,
    wallet: Wallet,
    instrument: usize,
    side: Side,
    qty: Decimal,
    price: Decimal,
) -> account::NewOrder {
    account::NewOrder {
        venue,
        wallet,
        instrument,
        side,
        qty,
        price,
        tif: record::TimeInForce::Ioc,
        reduce_only: false,
        auto_borrow: false,
        client_id: String::new(),
        stp: String::new(),
    }
}

/// The client id a venue gives an order it places itself (`kind` "web" or "liquidation"):
/// Binance `web_…` and `autoclose-…`, Gate's `web` and `liquidation` tags; the others leave
/// their client-id field empty for orders the API did not place. (Binance's and Gate's are
/// their documented system ids; the `web_` suffix is the simulator's.)
fn system_client_id(exchange: Exchange, kind: &str, order_id: u64, now_ms: i64) -> String {
    match (exchange, kind) {
        (Exchange::Binance, "liquidation") => format!("autoclose-{now_ms}"),
        (Exchange::Binance, _) => format!("web_{order_id}"),
        (Exchange::Gate, k) => k.to_string(),
        _ => String::new(),
    }
}

/// Fills resting orders and fires dead-man switches between requests, once per model step.
fn match_loop(shared: &Shared) {
    let step = shared.timing.quote_interval.min(Duration::from_millis(50));
    while !shared.is_stopping() {
        std::thread::sleep(step);
        for exchange in Exchange::ALL {
            drop(shared.desk(exchange));
        }
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

/// A connection's protocol: the venue's private stream or websocket API where the handshake
/// path names one, its market data otherwise.
fn protocol_for(venue: Venue) -> Box<dyn ws::Protocol> {
    Box::new(ws::ByPath::new(
        venue,
        market_protocol(venue),
        private_protocol,
    ))
}

fn private_protocol(venue: Venue, path: &str) -> Option<Box<dyn ws::Protocol>> {
    match venue.exchange {
        Exchange::Binance => binance::stream::protocol(venue, path),
        Exchange::Bybit => bybit::stream::protocol(venue, path),
        Exchange::Okx => okx::stream::protocol(venue, path),
        Exchange::Bitget => bitget::stream::protocol(venue, path),
        // Gate's private channels share the public connection (`gate::stream`).
        Exchange::Gate => None,
    }
}

fn market_protocol(venue: Venue) -> Box<dyn ws::Protocol> {
    match venue.exchange {
        Exchange::Binance => Box::new(binance::BinanceWs::new(venue)),
        Exchange::Bybit => Box::new(bybit::BybitWs::new(venue)),
        Exchange::Okx => Box::new(okx::OkxWs::new()),
        Exchange::Bitget => Box::new(bitget::BitgetWs::new()),
        Exchange::Gate => Box::new(gate::GateWs::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_keys_but_never_secrets_or_passphrases() {
        let text = format!("{:?}", SimConfig::default());
        assert!(text.contains("sim-okx-key"), "{text}");
        for hidden in [
            "sim-okx-secret",
            "sim-okx-passphrase",
            "sim-bitget-passphrase",
        ] {
            assert!(!text.contains(hidden), "{hidden} in {text}");
        }
        let c = SimCredentials::default();
        assert_eq!(c.of(Exchange::Bitget).passphrase, "sim-bitget-passphrase");
        assert!(c.of(Exchange::Gate).passphrase.is_empty());
    }
}

//! A live venue gateway: the [`Gateway`] trait over one exchange market's signed REST order API.
//!
//! Everything a venue has in common lives here: the keep-alive client, the venue clock and its
//! periodic sync, the order-rate budget and the backlog of intents it holds back, the rule for
//! answers that say nothing (leave the order Unknown for the engine to resolve by client order
//! id; never send it again under a new id), the follow-up query that learns an IOC order's
//! fills when the venue's place answer is only an acknowledgement, and the search of the fill
//! history when a lookup by client id is limited to a window. What is particular to a venue —
//! the request it builds and signs for each call, and what its answers mean — is an
//! [`OrderApi`], implemented in the venue's folder (`venue/<exchange>/orders.rs`).
//!
//! Quantities cross this boundary in the venue's order unit (contracts where the venue counts
//! them) and leave it in base units, converted with the intent's own ratio of `qty_base` to
//! `qty_venue`, so the gateway needs no contract table. A spot buy whose fee the venue takes in
//! the base asset is reported as the quantity actually received, with the fee converted to quote
//! at the fill price: positions are what the balance holds, and the fee still shows as a fee.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use carry_engine::execution::order::{
    ExecKind, ExecReport, IntentAction, OrderIntent, OrderStatus, RejectReason, TimeInForce,
};
use carry_engine::{InstrumentId, Venue};
use rust_decimal::Decimal;

use super::budget::{Limit, RateBudget};
use super::http::{Answer, HttpClient, HttpFailure};
use super::request::Request;
use super::venue_clock::VenueClock;
use super::Gateway;

/// Which request a venue module builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// A new order (or the same order again, with the same client order id).
    Place,
    /// Cancel by client order id.
    Cancel,
    /// The order's state by client order id.
    Query,
    /// The fills of the order with this client order id, from the trade history.
    Fills,
}

/// An order's state as a venue reports it, in the venue's order unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderState {
    /// Open (possibly partly filled), Filled, Canceled or Rejected.
    pub status: OrderStatus,
    /// Executed so far, in the venue's order unit.
    pub cum_qty: Decimal,
    /// Average price of `cum_qty` (zero while nothing executed).
    pub avg_price: Decimal,
    /// Fees charged in the quote asset so far (positive: paid).
    pub fee_quote: Decimal,
    /// Fees charged in the base asset so far (spot buys on some venues; positive: paid).
    pub fee_base: Decimal,
}

impl OrderState {
    /// Nothing executed, in `status`.
    pub const fn empty(status: OrderStatus) -> OrderState {
        OrderState {
            status,
            cum_qty: Decimal::ZERO,
            avg_price: Decimal::ZERO,
            fee_quote: Decimal::ZERO,
            fee_base: Decimal::ZERO,
        }
    }
}

/// What a venue module read from an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// The order's state.
    Order(OrderState),
    /// The venue already has an order with this client order id (a resend, or a place whose
    /// first answer was lost).
    Duplicate {
        /// The venue's code, for logs.
        code: i32,
    },
    /// The venue does not know the client order id (or no longer, outside its lookup window).
    NotFound {
        /// The venue's code, for logs.
        code: i32,
    },
    /// Refused for good: nothing was placed or cancelled.
    Rejected {
        /// The mapped reason.
        reason: RejectReason,
        /// The venue's code, for logs.
        code: i32,
    },
    /// Refused for its timestamp (or receive window): nothing happened.
    Timestamp {
        /// The venue's code, for logs.
        code: i32,
    },
    /// Throttled: nothing happened; the venue may say when to come back.
    Throttled {
        /// The venue's code, for logs.
        code: i32,
        /// The venue's `Retry-After`, where it gave one.
        retry_after_ms: Option<u64>,
    },
    /// The answer does not say whether the order exists (a 5xx, "execution status unknown").
    Unknown {
        /// The venue's code (or the HTTP status), for logs.
        code: i32,
    },
}

/// How one venue account is traded, as the config says.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The account's key, secret and passphrase.
    pub credentials: super::credentials::Credentials,
    /// The receive window sent where the venue takes one (Binance `recvWindow`, Bybit
    /// `X-BAPI-RECV-WINDOW`), in ms.
    pub recv_window_ms: u32,
    /// The venue's demo-trading switch where it is a request flag (OKX `x-simulated-trading`,
    /// Bitget `paptrading`); testnets are other base URLs.
    pub demo_trading: bool,
    /// Spot orders go through the venue's margin path (borrowing for a short spot leg).
    pub margin_spot: bool,
}

/// An account setting verified (or set) at start, before anything is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// Positions are one-way (net), not hedge mode: carry refuses to trade in hedge mode.
    OneWayMode,
    /// The symbol's perp margin mode is cross.
    CrossMargin,
    /// The symbol's perp leverage.
    Leverage(u32),
}

/// What one exchange market's order API knows: how to build and sign each call, and what its
/// answers mean. Implemented in `venue/<exchange>/orders.rs`.
pub trait OrderApi: Send {
    /// The venue market this API trades.
    fn venue(&self) -> Venue;

    /// Response headers that carry rate-limit usage, read after every answer.
    fn usage_headers(&self) -> &'static [&'static str];

    /// The venue's documented order-rate limits for one account.
    fn order_limits(&self) -> &'static [Limit];

    /// Builds and signs `call` about `order` (its symbol on this venue is `symbol`) at the
    /// venue's time `venue_ms`, into `req`.
    fn build(
        &mut self,
        call: Call,
        order: &OrderIntent,
        symbol: &str,
        venue_ms: i64,
        req: &mut Request,
    );

    /// Reads the answer to `call` about `order`.
    fn read(&mut self, call: Call, order: &OrderIntent, answer: &Answer<'_>) -> Reading;

    /// Builds the (public) server-time request.
    fn build_server_time(&self, req: &mut Request);

    /// The venue's clock in Unix milliseconds, from the server-time answer.
    fn read_server_time(&self, answer: &Answer<'_>) -> Option<i64>;

    /// Builds and signs the request that sets or checks `setup` for `symbol` (a perp), or
    /// returns `false` where the setting does not apply to this market.
    fn build_setup(&mut self, setup: Setup, symbol: &str, venue_ms: i64, req: &mut Request)
        -> bool;

    /// Reads the answer to a setup request: `Ok` when the setting is (now) as wanted, including
    /// the venue's "not modified" answers; `Err` says what the venue said, for the operator
    /// (hedge mode is an `Err` that says how to switch).
    fn read_setup(&mut self, setup: Setup, answer: &Answer<'_>) -> Result<(), String>;

    /// Builds and signs the request that (re-)arms the venue's dead-man switch for `symbol`, so
    /// that its resting orders are cancelled if carry goes quiet for `countdown_ms`. `false`:
    /// the venue has none (the default).
    fn build_dead_man_switch(
        &mut self,
        _symbol: &str,
        _countdown_ms: u64,
        _venue_ms: i64,
        _req: &mut Request,
    ) -> bool {
        false
    }

    /// Corrects the budget from an answer's usage headers (monotonic ms).
    fn observe_usage(&self, _answer: &Answer<'_>, _budget: &mut RateBudget, _now_ms: u64) {}

    /// Whether a lookup by client order id only covers a window (Gate: open orders and 60 s
    /// after they end; Bybit: the last 500 closed), so a `NotFound` must be checked against
    /// the fill history before it is believed.
    fn lookup_is_windowed(&self) -> bool {
        false
    }
}

/// Counters a live gateway publishes for the admin socket and metrics (relaxed atomics: read
/// by the admin thread, written by the gateway thread only).
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Requests that reached the network (every call).
    pub requests: AtomicU64,
    /// Orders placed (place and resend requests sent).
    pub orders_sent: AtomicU64,
    /// Requests whose outcome the answer did not tell.
    pub ambiguous: AtomicU64,
    /// Throttle answers from the venue.
    pub throttled: AtomicU64,
    /// Timestamp refusals (each triggers a clock sync).
    pub timestamp_rejects: AtomicU64,
    /// Intents waiting for the rate budget right now.
    pub backlog: AtomicU64,
    /// The last measured offset of the venue's clock from ours, in ms.
    pub clock_offset_ms: AtomicI64,
    /// Clock syncs that failed.
    pub clock_sync_failures: AtomicU64,
}

/// How a live gateway behaves around its venue.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Sync with the venue's clock this often (and before the first order).
    pub time_sync_interval_ms: u64,
    /// Send the same request again, with a fresh timestamp, after this many timestamp refusals
    /// at most (each after a clock sync).
    pub max_timestamp_retries: u32,
    /// Follow-up queries of an IOC order whose place answer was only an acknowledgement, and
    /// the wait before each (doubled each time).
    pub follow_up_queries: u32,
    /// The first follow-up's wait.
    pub follow_up_delay_ms: u64,
    /// Re-arm the dead-man switch this often while GTC orders may rest...
    pub dead_man_interval_ms: u64,
    /// ...with this countdown: resting orders are cancelled by the venue if carry is silent
    /// this long.
    pub dead_man_countdown_ms: u64,
    /// The venue's own order limits are used at this fraction (safety margin), 1..=100 %.
    pub budget_percent: u32,
}

impl Default for LiveOptions {
    fn default() -> LiveOptions {
        LiveOptions {
            time_sync_interval_ms: 60_000,
            max_timestamp_retries: 2,
            follow_up_queries: 4,
            follow_up_delay_ms: 20,
            dead_man_interval_ms: 15_000,
            dead_man_countdown_ms: 60_000,
            budget_percent: 90,
        }
    }
}

/// A query the gateway will send on its own: learning an IOC order's fills after an ack-only
/// answer.
#[derive(Clone, Copy, Debug)]
struct FollowUp {
    order: OrderIntent,
    due_ns: u64,
    left: u32,
    delay_ns: u64,
}

/// One venue market's live gateway.
pub struct LiveGateway<A: OrderApi> {
    api: A,
    name: String,
    http: HttpClient,
    clock: VenueClock,
    budget: RateBudget,
    options: LiveOptions,
    /// The venue's symbol per instrument index.
    symbols: Vec<Option<String>>,
    req: Request,
    backlog: VecDeque<OrderIntent>,
    follow_ups: Vec<FollowUp>,
    /// Instruments with a GTC order that may rest, and when their switch was last armed.
    armed: Vec<(InstrumentId, u64)>,
    stats: Arc<LiveStats>,
    wall_ms: fn() -> i64,
}

impl<A: OrderApi> LiveGateway<A> {
    /// A gateway for `api` over `http`; `symbols[i]` is instrument `i`'s symbol on this venue.
    /// `wall_ms` is the local wall clock (Unix ms) the venue clock corrects.
    pub fn new(
        api: A,
        mut http: HttpClient,
        symbols: Vec<Option<String>>,
        options: LiveOptions,
        wall_ms: fn() -> i64,
    ) -> LiveGateway<A> {
        let pct = options.budget_percent.clamp(1, 100);
        let limits: Vec<Limit> = api
            .order_limits()
            .iter()
            .map(|l| Limit {
                count: (l.count * pct / 100).max(1),
                window_ms: l.window_ms,
            })
            .collect();
        http.set_keep_headers(api.usage_headers());
        LiveGateway {
            name: api.venue().to_string(),
            clock: VenueClock::new(options.time_sync_interval_ms),
            budget: RateBudget::new(&limits),
            api,
            http,
            options,
            symbols,
            req: Request::new(),
            backlog: VecDeque::with_capacity(1024),
            follow_ups: Vec::with_capacity(64),
            armed: Vec::with_capacity(16),
            stats: Arc::new(LiveStats::default()),
            wall_ms,
        }
    }

    /// The counters this gateway publishes.
    pub fn stats(&self) -> Arc<LiveStats> {
        Arc::clone(&self.stats)
    }

    /// Opens the connection and syncs the clock (a start that cannot reach the venue fails
    /// here, before any order is due).
    pub fn warm_up(&mut self, now_ns: u64) -> Result<i64, HttpFailure> {
        self.sync_clock(now_ns)?;
        Ok(self.clock.offset_ms())
    }

    /// Sets or checks each of `setups` for every perp symbol this gateway trades. Returns what
    /// the venue refused, as `(symbol, setup, what it said)`; empty: ready to trade.
    pub fn set_up(&mut self, setups: &[Setup], now_ns: u64) -> Vec<(String, Setup, String)> {
        let mut refused = Vec::new();
        if self.clock.is_due(now_ns) {
            if let Err(e) = self.sync_clock(now_ns) {
                refused.push((String::new(), Setup::OneWayMode, e.to_string()));
                return refused;
            }
        }
        let symbols: Vec<String> = self.symbols.iter().flatten().cloned().collect();
        for &setup in setups {
            for symbol in &symbols {
                let venue_ms = self.clock.signing_ms((self.wall_ms)());
                if !self.api.build_setup(setup, symbol, venue_ms, &mut self.req) {
                    continue;
                }
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                let result = match self.http.send(&self.req) {
                    Ok(answer) => self.api.read_setup(setup, &answer),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(said) = result {
                    refused.push((symbol.clone(), setup, said));
                }
                if setup == Setup::OneWayMode {
                    // Account-wide on every venue: once is enough.
                    break;
                }
            }
        }
        refused
    }

    /// Builds and signs the request `order` would be sent as, without sending it (shadow mode,
    /// the signing benchmark).
    pub fn prepare(&mut self, call: Call, order: &OrderIntent) -> &Request {
        let venue_ms = self.clock.signing_ms((self.wall_ms)());
        let symbol = symbol_of(&self.symbols, order.instrument).unwrap_or("");
        self.api.build(call, order, symbol, venue_ms, &mut self.req);
        &self.req
    }

    fn sync_clock(&mut self, now_ns: u64) -> Result<(), HttpFailure> {
        let before = (self.wall_ms)();
        self.api.build_server_time(&mut self.req);
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let answer = self.http.send(&self.req)?;
        let after = (self.wall_ms)();
        match self.api.read_server_time(&answer) {
            Some(server) => {
                self.clock.record(before, after, server, now_ns);
                self.stats
                    .clock_offset_ms
                    .store(self.clock.offset_ms(), Ordering::Relaxed);
                Ok(())
            }
            None => {
                self.stats
                    .clock_sync_failures
                    .fetch_add(1, Ordering::Relaxed);
                Err(HttpFailure::NotSent(format!(
                    "{}: server time answer not understood (HTTP {})",
                    self.name, answer.status
                )))
            }
        }
    }

    /// Sends `call` about `order`, resyncing and sending again after timestamp refusals.
    /// Returns the reading and the send/receive stamps.
    fn exchange(&mut self, call: Call, order: &OrderIntent, now_ns: u64) -> (Reading, u64, u64) {
        if self.clock.is_due(now_ns) && self.sync_clock(now_ns).is_err() {
            // A failed sync keeps the last offset; the venue will say if it is off.
            self.clock.invalidate();
        }
        let mut tries = 0;
        loop {
            let Some(symbol) = symbol_of(&self.symbols, order.instrument) else {
                return (
                    Reading::Rejected {
                        reason: RejectReason::Other,
                        code: 0,
                    },
                    now_ns,
                    now_ns,
                );
            };
            let venue_ms = self.clock.signing_ms((self.wall_ms)());
            self.api.build(call, order, symbol, venue_ms, &mut self.req);
            let sent_ns = crate::transport::clock::mono_ns();
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            if call == Call::Place {
                self.stats.orders_sent.fetch_add(1, Ordering::Relaxed);
                self.budget.spend(sent_ns / 1_000_000);
            }
            let reading = match self.http.send(&self.req) {
                Ok(answer) => {
                    let recv_ms = crate::transport::clock::mono_ns() / 1_000_000;
                    self.api.observe_usage(&answer, &mut self.budget, recv_ms);
                    self.api.read(call, order, &answer)
                }
                Err(HttpFailure::NotSent(_)) => Reading::Rejected {
                    reason: RejectReason::VenueError,
                    code: 0,
                },
                Err(HttpFailure::Ambiguous(_)) => Reading::Unknown { code: 0 },
            };
            let recv_ns = crate::transport::clock::mono_ns();
            match reading {
                Reading::Timestamp { .. } => {
                    self.stats.timestamp_rejects.fetch_add(1, Ordering::Relaxed);
                    self.clock.invalidate();
                    if tries < self.options.max_timestamp_retries
                        && self.sync_clock(recv_ns).is_ok()
                    {
                        tries += 1;
                        continue;
                    }
                    // Still refused: nothing happened at the venue, but the engine learns
                    // nothing either; it resolves the order by client order id.
                    return (Reading::Unknown { code: 0 }, sent_ns, recv_ns);
                }
                Reading::Throttled { retry_after_ms, .. } => {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    self.budget
                        .block_for(retry_after_ms.unwrap_or(1_000), recv_ns / 1_000_000);
                }
                Reading::Unknown { .. } => {
                    self.stats.ambiguous.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            return (reading, sent_ns, recv_ns);
        }
    }

    fn report(
        &self,
        order: &OrderIntent,
        kind: ExecKind,
        state: &OrderState,
        sent_ns: u64,
        recv_ns: u64,
    ) -> ExecReport {
        let mut r = ExecReport::new(
            order.client_order_id,
            order.venue,
            order.instrument,
            kind,
            state.status,
        );
        let gross = to_base(order, state.cum_qty);
        r.cum_qty_base = (gross - state.fee_base).max(Decimal::ZERO);
        r.avg_price = state.avg_price;
        r.fee_quote = state.fee_quote + state.fee_base * state.avg_price;
        r.sent_ns = sent_ns;
        r.recv_ns = recv_ns;
        r
    }

    fn rejected(
        order: &OrderIntent,
        reason: RejectReason,
        code: i32,
        sent_ns: u64,
        recv_ns: u64,
    ) -> ExecReport {
        let mut r = ExecReport::new(
            order.client_order_id,
            order.venue,
            order.instrument,
            ExecKind::Rejected,
            OrderStatus::Rejected,
        );
        r.reject = reason;
        r.venue_code = code;
        r.sent_ns = sent_ns;
        r.recv_ns = recv_ns;
        r
    }

    fn place(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>) {
        let (reading, sent, recv) = self.exchange(Call::Place, order, now_ns);
        match reading {
            Reading::Order(state) => {
                let kind = match state.status {
                    OrderStatus::Open if state.cum_qty.is_zero() => ExecKind::Ack,
                    OrderStatus::Open => ExecKind::PartialFill,
                    OrderStatus::Filled => ExecKind::Fill,
                    OrderStatus::Canceled => ExecKind::Canceled,
                    OrderStatus::Rejected => ExecKind::Rejected,
                    OrderStatus::NotFound => ExecKind::QueryAnswer,
                };
                out.push(self.report(order, kind, &state, sent, recv));
                if state.status == OrderStatus::Open {
                    if order.tif == TimeInForce::Ioc {
                        self.follow_up(order, recv);
                    } else {
                        self.arm(order.instrument);
                    }
                }
            }
            Reading::Duplicate { .. } => {
                // The venue has the id: what it holds is the answer.
                let (reading, _, recv) = self.exchange(Call::Query, order, recv);
                if let Some(state) = self.resolve(order, reading, recv) {
                    out.push(self.report(order, ExecKind::Duplicate, &state, sent, recv));
                }
            }
            Reading::Rejected { reason, code } => {
                out.push(Self::rejected(order, reason, code, sent, recv));
            }
            Reading::Throttled { .. } => {
                // Refused before the matching engine: the same id goes again when the budget
                // allows.
                self.backlog.push_front(*order);
            }
            Reading::NotFound { code } => {
                out.push(Self::rejected(order, RejectReason::Other, code, sent, recv));
            }
            Reading::Unknown { .. } | Reading::Timestamp { .. } => {
                // Unknown: no report; the engine queries by client order id.
            }
        }
    }

    /// Turns a query's reading into a state, searching the fill history when the venue's lookup
    /// is windowed and it said "not found". `None`: nothing can be said (ambiguous).
    fn resolve(
        &mut self,
        order: &OrderIntent,
        reading: Reading,
        now_ns: u64,
    ) -> Option<OrderState> {
        match reading {
            Reading::Order(state) => Some(state),
            Reading::NotFound { .. } if self.api.lookup_is_windowed() => {
                match self.exchange(Call::Fills, order, now_ns).0 {
                    Reading::Order(mut state) if !state.cum_qty.is_zero() => {
                        // Found only in the fill history: the order has ended.
                        state.status = if state.cum_qty >= order.qty_venue {
                            OrderStatus::Filled
                        } else {
                            OrderStatus::Canceled
                        };
                        Some(state)
                    }
                    Reading::Order(_) | Reading::NotFound { .. } => {
                        Some(OrderState::empty(OrderStatus::NotFound))
                    }
                    _ => None,
                }
            }
            Reading::NotFound { .. } => Some(OrderState::empty(OrderStatus::NotFound)),
            _ => None,
        }
    }

    fn follow_up(&mut self, order: &OrderIntent, now_ns: u64) {
        if self.options.follow_up_queries == 0 {
            return;
        }
        let delay = self.options.follow_up_delay_ms * 1_000_000;
        self.follow_ups
            .retain(|f| f.order.client_order_id != order.client_order_id);
        self.follow_ups.push(FollowUp {
            order: OrderIntent {
                action: IntentAction::Query,
                ..*order
            },
            due_ns: now_ns + delay,
            left: self.options.follow_up_queries,
            delay_ns: delay,
        });
    }

    fn arm(&mut self, instrument: InstrumentId) {
        if !self.armed.iter().any(|(i, _)| *i == instrument) {
            self.armed.push((instrument, 0));
        }
    }

    fn query_into(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>) -> bool {
        let (reading, sent, recv) = self.exchange(Call::Query, order, now_ns);
        match self.resolve(order, reading, recv) {
            Some(state) => {
                let open = state.status == OrderStatus::Open;
                out.push(self.report(order, ExecKind::QueryAnswer, &state, sent, recv));
                open
            }
            None => true,
        }
    }
}

fn symbol_of(symbols: &[Option<String>], instrument: InstrumentId) -> Option<&str> {
    symbols.get(instrument.index()).and_then(|s| s.as_deref())
}

/// `qty` in the venue's order unit, in base units, by the intent's own ratio.
fn to_base(order: &OrderIntent, qty: Decimal) -> Decimal {
    if order.qty_venue.is_zero() || order.qty_venue == order.qty_base {
        return qty;
    }
    (qty * order.qty_base)
        .checked_div(order.qty_venue)
        .unwrap_or(qty)
}

impl<A: OrderApi> Gateway for LiveGateway<A> {
    fn name(&self) -> &str {
        &self.name
    }

    fn submit(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>) {
        if !self.backlog.is_empty() || self.budget.wait_ms(now_ns / 1_000_000) > 0 {
            // Journaled already: it waits here for the budget, in order.
            self.backlog.push_back(*order);
            self.stats
                .backlog
                .store(self.backlog.len() as u64, Ordering::Relaxed);
            return;
        }
        self.place(order, now_ns, out);
    }

    fn cancel(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>) {
        if let Some(pos) = self
            .backlog
            .iter()
            .position(|o| o.client_order_id == order.client_order_id)
        {
            // Never sent: cancelling it is dropping it.
            self.backlog.remove(pos);
            let state = OrderState::empty(OrderStatus::Canceled);
            out.push(self.report(order, ExecKind::Canceled, &state, now_ns, now_ns));
            return;
        }
        let (reading, sent, recv) = self.exchange(Call::Cancel, order, now_ns);
        match reading {
            Reading::Order(state) => {
                out.push(self.report(order, ExecKind::Canceled, &state, sent, recv));
            }
            // The cancel lost a race with a fill, or the order ended already: ask.
            Reading::NotFound { .. } | Reading::Rejected { .. } => {
                self.query_into(order, recv, out);
            }
            _ => {}
        }
    }

    fn query(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>) {
        self.query_into(order, now_ns, out);
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<ExecReport>) -> Option<u64> {
        // Intents held back by the budget, in order.
        while let Some(next) = self.backlog.front().copied() {
            if self.budget.wait_ms(now_ns / 1_000_000) > 0 {
                break;
            }
            self.backlog.pop_front();
            self.place(&next, now_ns, out);
        }
        self.stats
            .backlog
            .store(self.backlog.len() as u64, Ordering::Relaxed);

        // Follow-up queries of IOC orders.
        let mut i = 0;
        while i < self.follow_ups.len() {
            if self.follow_ups[i].due_ns > now_ns {
                i += 1;
                continue;
            }
            let mut f = self.follow_ups.swap_remove(i);
            let still_open = self.query_into(&f.order, now_ns, out);
            f.left -= 1;
            if still_open && f.left > 0 {
                f.delay_ns *= 2;
                f.due_ns = now_ns + f.delay_ns;
                self.follow_ups.push(f);
            }
        }

        // The dead-man switch, while resting orders may exist.
        let every = self.options.dead_man_interval_ms * 1_000_000;
        for k in 0..self.armed.len() {
            let (instrument, last) = self.armed[k];
            if last != 0 && now_ns.saturating_sub(last) < every {
                continue;
            }
            let Some(symbol) = symbol_of(&self.symbols, instrument) else {
                continue;
            };
            let venue_ms = self.clock.signing_ms((self.wall_ms)());
            if self.api.build_dead_man_switch(
                symbol,
                self.options.dead_man_countdown_ms,
                venue_ms,
                &mut self.req,
            ) {
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                // A failed renewal is retried at the next interval; the countdown is longer.
                let _ = self.http.send(&self.req);
            }
            self.armed[k].1 = now_ns.max(1);
        }

        if self.clock.is_due(now_ns) {
            let _ = self.sync_clock(now_ns);
        }

        let mut next: Option<u64> = None;
        let mut soonest = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        if !self.backlog.is_empty() {
            soonest(now_ns + self.budget.wait_ms(now_ns / 1_000_000).max(1) * 1_000_000);
        }
        for f in &self.follow_ups {
            soonest(f.due_ns);
        }
        next
    }
}

/// A live gateway as the wiring sees it, whatever its venue: the [`Gateway`] plus what is done
/// around it at start (warm-up, account setup), its counters, and the signed request it would
/// send (shadow mode). Implemented by every [`LiveGateway`].
pub trait LiveVenue: Gateway {
    /// Opens the connection and syncs the clock; returns the venue's clock offset in ms.
    fn warm_up(&mut self, now_ns: u64) -> Result<i64, HttpFailure>;

    /// Sets or checks the account settings; returns what the venue refused (empty: ready).
    fn set_up(&mut self, setups: &[Setup], now_ns: u64) -> Vec<(String, Setup, String)>;

    /// The gateway's counters.
    fn live_stats(&self) -> Arc<LiveStats>;

    /// Builds and signs the request for `call` about `order` without sending it, and writes it
    /// to `out` as one line for a log: method, path, query and body, with the signature and
    /// every header left out (they carry the key).
    fn describe_request(&mut self, call: Call, order: &OrderIntent, out: &mut String);
}

impl<A: OrderApi> LiveVenue for LiveGateway<A> {
    fn warm_up(&mut self, now_ns: u64) -> Result<i64, HttpFailure> {
        LiveGateway::warm_up(self, now_ns)
    }

    fn set_up(&mut self, setups: &[Setup], now_ns: u64) -> Vec<(String, Setup, String)> {
        LiveGateway::set_up(self, setups, now_ns)
    }

    fn live_stats(&self) -> Arc<LiveStats> {
        self.stats()
    }

    fn describe_request(&mut self, call: Call, order: &OrderIntent, out: &mut String) {
        let req = self.prepare(call, order);
        describe_redacted(req, out);
    }
}

/// One log line for `req` without anything that authenticates it: the `signature` query
/// parameter (Binance) is cut, headers are not written.
pub fn describe_redacted(req: &Request, out: &mut String) {
    out.clear();
    out.push_str(req.method().as_str());
    out.push(' ');
    out.push_str(req.path());
    let query: Vec<&str> = req
        .query_str()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("signature="))
        .collect();
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query.join("&"));
    }
    if !req.body_str().is_empty() {
        out.push(' ');
        out.push_str(req.body_str());
    }
}

/// Builds a venue market's live gateway: its [`OrderApi`] from the account's config, over
/// `http`, trading `symbols` (by instrument index). One per exchange, in its adapter row.
pub type LiveFactory = fn(
    venue: Venue,
    config: &ApiConfig,
    http: HttpClient,
    symbols: Vec<Option<String>>,
    options: LiveOptions,
    wall_ms: fn() -> i64,
) -> Box<dyn LiveVenue>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::request::Method;

    #[test]
    fn a_described_request_keeps_no_signature_and_no_header() {
        let mut req = Request::new();
        req.start(Method::Post, "/fapi/v1/order");
        req.query("symbol", "BTCUSDT");
        req.query_int("timestamp", 1);
        req.query("signature", "deadbeef");
        req.header("X-MBX-APIKEY", "the-api-key");
        let mut out = String::new();
        describe_redacted(&req, &mut out);
        assert_eq!(out, "POST /fapi/v1/order?symbol=BTCUSDT&timestamp=1");
        req.start(Method::Post, "/api/v5/trade/order");
        req.json_begin();
        req.json_str("clOrdId", "abc");
        req.json_end();
        req.header("OK-ACCESS-SIGN", "c2ln");
        describe_redacted(&req, &mut out);
        assert_eq!(out, r#"POST /api/v5/trade/order {"clOrdId":"abc"}"#);
    }

    #[test]
    fn venue_units_become_base_units_by_the_intents_own_ratio() {
        use carry_engine::execution::client_id::{ClientOrderId, InstanceId};
        use carry_engine::execution::order::{Leg, Side, Step};
        let inst = InstanceId::new("T").unwrap();
        let order = OrderIntent {
            action: IntentAction::Place,
            client_order_id: ClientOrderId::new(&inst, 1, Step::Entry, Leg::Long, 0).unwrap(),
            pair: carry_engine::PairId(0),
            cycle: 1,
            step: Step::Entry,
            leg: Leg::Long,
            attempt: 0,
            venue: "okx-perp".parse().unwrap(),
            instrument: InstrumentId(0),
            side: Side::Buy,
            tif: TimeInForce::Ioc,
            reduce_only: false,
            price: Decimal::new(100, 0),
            qty_base: Decimal::new(3, 2),  // 0.03 BTC
            qty_venue: Decimal::new(3, 0), // 3 contracts of 0.01
        };
        assert_eq!(to_base(&order, Decimal::new(2, 0)), Decimal::new(2, 2));
        let spot = OrderIntent {
            qty_venue: Decimal::new(3, 2),
            ..order
        };
        assert_eq!(to_base(&spot, Decimal::new(1, 2)), Decimal::new(1, 2));
    }
}

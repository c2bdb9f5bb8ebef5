//! One simulated exchange account, the same for all five venues: the orders it accepted, how
//! they match against the market model, what they did to its balances and positions, its
//! countdown (dead-man) switches, its funding settlements and the events its private streams
//! push. Venue modules turn
//! their requests into [`NewOrder`]s and look-ups here and render the answers in their own
//! shapes; nothing in this file knows a venue's wire format.
//!
//! Matching: the book a simulated venue shows is the model's top of book, and an order meets the
//! size shown there and nothing deeper, so an order larger than the touch fills partly. A taker
//! fills at the touch; a resting order fills at its own price, at most once per model step, when
//! the market crosses it. Fees: perps pay in the quote asset; spot buys pay in the base asset
//! they receive (so a buy receives less than it filled), sells in quote.
//!
//! Wallets: perp (one-way positions per instrument, margin from the quote balance at the symbol's
//! leverage), spot, and margin (spot that may borrow the base asset to sell short, repaying from
//! later buys). Each starts from the configured balances. Every change is written to the venue's
//! record (see `record`) before the venue answers, and replayed from it at start.
//!
//! Funding: each perpetual settles on the funding clock (see `funding`), booking `−position ×
//! contract size × mark × rate` into the perp wallet; the account keeps the payments as its
//! funding ledger and the settled rates as the venue's funding-rate history.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::path::Path;
use std::sync::Arc;

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::{Decimal, RoundingStrategy};

use super::funding::{self, due_settlements, funding_amount, Settlement};
use super::listing::Listing;
use super::market::{LegTick, MarketTick, Rng};
use super::record::{
    read_lines, record_path, AcceptedOrder, Fill, Finish, FundingPayment, Line, RecordWriter,
    Setting, Side, TimeInForce, Wallet,
};
use super::risk::{self, Tier};

/// How many times its equity a margin account may borrow to sell short.
const MARGIN_LEVERAGE: i64 = 3;
/// Leverage of a symbol nobody set.
pub(crate) const DEFAULT_LEVERAGE: u32 = 10;
/// Events kept for readers that poll (issue 16's private streams).
const EVENT_CAPACITY: usize = 10_000;
/// Bybit keeps the last 500 closed orders per category for `/v5/order/realtime`.
const RECENT_CLOSED: usize = 500;
/// Fees are charged to 8 decimals.
const FEE_DP: u32 = 8;
/// At most this many missed settlements of one perpetual are booked at once (a stalled
/// simulator does not replay a backlog).
const MAX_SETTLEMENTS_AT_ONCE: usize = 16;

/// What a request asks the account to trade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewOrder {
    pub venue: Venue,
    pub wallet: Wallet,
    pub instrument: usize,
    pub side: Side,
    /// In the venue's order unit.
    pub qty: Decimal,
    pub price: Decimal,
    pub tif: TimeInForce,
    pub reduce_only: bool,
    pub auto_borrow: bool,
    /// Empty when the client sent none (no duplicate check then).
    pub client_id: String,
    pub stp: String,
}

/// When a venue refuses a client order id it has seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Duplicates {
    /// Only while the earlier order is open (Binance, OKX).
    WhileOpen,
    /// Ever (Bybit: "always unique").
    Always,
    /// Within this many ms of the earlier order (Bitget's six-hour idempotency).
    Within(i64),
    /// Within this many ms of the earlier order, and only while it has executed nothing
    /// (Bitget's margin orders: "the idempotency time is 6 hours, only valid when orders are
    /// unfilled").
    WithinWhileUnfilled(i64),
    /// Never (Gate: `text` is a tag, the latest order wins look-ups).
    Allowed,
}

/// What a venue does with a post-only order that would take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PostOnlyCross {
    /// Refuses it with an error; nothing is recorded (Binance, Gate).
    Refuse,
    /// Accepts it and cancels it at once (Bybit, OKX, Bitget).
    Cancel,
}

/// Why the account refuses an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The client id is taken; carries the earlier order's position.
    Duplicate(usize),
    /// Not enough balance or margin (also how configured random rejects show).
    Insufficient,
    /// Reduce-only with no position to reduce.
    ReduceOnly,
    /// A post-only order that would take, at a venue that refuses those.
    PostOnlyWouldTake,
}

/// An order looked up by the venue's id or by the client's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OrderKey {
    Id(u64),
    Client(String),
}

/// Why a cancel did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelRefusal {
    NotFound,
    /// The order exists but has finished; carries its position.
    Finished(usize),
}

/// An order in the account: the record, plus what the venue computes from it.
#[derive(Clone, Debug)]
pub(crate) struct SimOrder {
    pub rec: AcceptedOrder,
    pub instrument: usize,
    /// Base units per order unit.
    pub contract_size: Decimal,
    pub base: String,
    pub quote: String,
    pub filled: Decimal,
    /// Σ fill qty × price, in order units.
    pub filled_value: Decimal,
    /// Σ fees, in `fee_asset`.
    pub fee: Decimal,
    pub fee_asset: String,
    pub updated_ms: i64,
    /// The model step of the last fill attempt: a resting order fills once per step.
    last_step: Option<u64>,
}

impl SimOrder {
    pub fn remaining(&self) -> Decimal {
        self.rec.qty - self.filled
    }

    pub fn is_open(&self) -> bool {
        self.rec.finish.is_none()
    }

    /// Average fill price, `None` before the first fill.
    pub fn avg_price(&self) -> Option<Decimal> {
        (!self.filled.is_zero()).then(|| (self.filled_value / self.filled).normalize())
    }

    /// Quote value filled so far.
    pub fn filled_quote(&self) -> Decimal {
        self.filled_value * self.contract_size
    }
}

/// A perp position: signed quantity in order units (positive long) and its entry price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Position {
    pub qty: Decimal,
    pub entry: Decimal,
    pub realized: Decimal,
}

/// The perp side of an account.
#[derive(Clone, Debug, Default)]
pub(crate) struct PerpBook {
    /// Wallet balance per settlement asset (realized PnL and fees included).
    pub balances: BTreeMap<String, Decimal>,
    pub positions: BTreeMap<usize, Position>,
    pub leverage: HashMap<usize, u32>,
    pub isolated: HashSet<usize>,
    /// Hedge (long/short) position mode. Orders in one-way form are refused while it is on.
    pub hedge: bool,
}

impl PerpBook {
    pub fn leverage(&self, instrument: usize) -> u32 {
        self.leverage
            .get(&instrument)
            .copied()
            .unwrap_or(DEFAULT_LEVERAGE)
    }

    pub fn position(&self, instrument: usize) -> Position {
        self.positions.get(&instrument).copied().unwrap_or_default()
    }
}

/// The margin side: assets held and the base assets borrowed against them.
#[derive(Clone, Debug, Default)]
pub(crate) struct MarginBook {
    pub assets: BTreeMap<String, Decimal>,
    pub borrowed: BTreeMap<String, Decimal>,
}

/// An order's state as a private stream reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderUpdate {
    pub order_id: u64,
    pub client_id: String,
    pub symbol: String,
    pub instrument: usize,
    pub wallet: Wallet,
    pub side: Side,
    pub qty: Decimal,
    pub price: Decimal,
    pub tif: TimeInForce,
    pub reduce_only: bool,
    pub filled: Decimal,
    /// Σ fill qty × price in order units (quote value is this × the contract size).
    pub filled_value: Decimal,
    pub avg_price: Option<Decimal>,
    pub fee: Decimal,
    pub fee_asset: String,
    pub finish: Option<Finish>,
    /// Venue clock, Unix ms, when the order was accepted.
    pub created_ms: i64,
    /// Self-trade prevention as the venue names it (empty: its default).
    pub stp: String,
    /// The execution this update reports, if it reports one.
    pub last_fill: Option<Fill>,
}

/// Why balances or positions changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeReason {
    Order,
    Funding,
    /// A transfer, deposit or withdrawal.
    Transfer,
}

/// One asset of one wallet after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRow {
    pub wallet: Wallet,
    pub asset: String,
    pub total: Decimal,
    /// What new orders may still commit.
    pub available: Decimal,
    /// What this change added (negative: took).
    pub change: Decimal,
}

/// One perp position after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionRow {
    pub instrument: usize,
    pub symbol: String,
    /// Signed, in the venue's order unit.
    pub qty: Decimal,
    pub entry: Decimal,
    pub realized: Decimal,
    pub leverage: u32,
    pub isolated: bool,
}

/// What happened in an account, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountEventKind {
    /// An order was accepted, filled some more (`last_fill` set), or finished.
    Order(OrderUpdate),
    /// One execution.
    Fill {
        order_id: u64,
        client_id: String,
        symbol: String,
        side: Side,
        fill: Fill,
    },
    /// Balances and positions after a change, with its reason.
    Account {
        reason: ChangeReason,
        balances: Vec<BalanceRow>,
        positions: Vec<PositionRow>,
    },
    /// A funding settlement paid or charged a position.
    Funding(FundingPayment),
}

/// One event of one account, numbered from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountEvent {
    pub seq: u64,
    pub venue: Venue,
    /// Venue clock, Unix ms.
    pub time_ms: i64,
    pub kind: AccountEventKind,
}

/// A dead-man switch: at `deadline_ms` the open orders in scope are cancelled.
#[derive(Clone, Debug)]
struct Countdown {
    venues: Vec<Venue>,
    instrument: Option<usize>,
    deadline_ms: i64,
    /// Bybit's DCP re-arms on every authenticated request instead of on an explicit call.
    renew_ms: Option<i64>,
}

/// A maker and a taker fee rate (negative: a rebate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeRates {
    pub maker: Decimal,
    pub taker: Decimal,
}

impl FeeRates {
    pub fn of(&self, maker: bool) -> Decimal {
        if maker {
            self.maker
        } else {
            self.taker
        }
    }
}

/// A perp position's margin picture at the current marks (see [`Account::position_risk`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PositionRisk {
    pub mark: Decimal,
    /// Signed, in quote units at the mark.
    pub notional: Decimal,
    pub upnl: Decimal,
    pub initial_margin: Decimal,
    pub maint_margin: Decimal,
    /// `None` when flat; zero when no price liquidates it.
    pub liq_price: Option<Decimal>,
    pub tier: Tier,
}

/// What an account starts from and how it behaves.
#[derive(Clone, Debug)]
pub(crate) struct AccountConfig {
    pub balances: Vec<(String, Decimal)>,
    pub reject_one_in: u32,
    pub seed: u64,
    pub dead_man_speedup: u32,
    /// The account's own fee rates where they differ from the venue's base tier.
    pub fee_rates: Vec<(Venue, FeeRates)>,
}

/// The funding side of an account: where each perpetual's settlement clock stands, what
/// settled, and what the account was paid.
#[derive(Clone, Debug, Default)]
struct FundingBook {
    /// Per instrument, the venue-clock time up to which settlements have been booked.
    settled_through: HashMap<usize, i64>,
    history: HashMap<usize, VecDeque<Settlement>>,
    ledger: Vec<FundingPayment>,
}

/// One exchange's account (its perp and spot markets share it, as one API key does).
pub(crate) struct Account {
    pub exchange: Exchange,
    listing: Arc<Listing>,
    orders: Vec<SimOrder>,
    by_id: HashMap<u64, usize>,
    by_client: HashMap<(Venue, String), Vec<usize>>,
    open: Vec<usize>,
    closed_this_run: [VecDeque<usize>; 2],
    pub perp: PerpBook,
    pub spot: BTreeMap<String, Decimal>,
    pub margin: MarginBook,
    next_order_id: u64,
    next_trade_id: u64,
    rng: Rng,
    reject_one_in: u32,
    speedup: i64,
    pub counters: super::limits::Counters,
    countdowns: Vec<Countdown>,
    events: VecDeque<AccountEvent>,
    next_seq: u64,
    writers: [Option<RecordWriter>; 2],
    replaying: bool,
    /// Per market (perp, spot), the fee rates this account pays.
    fees: [FeeRates; 2],
    funding: FundingBook,
    next_ledger_id: u64,
}

/// Where each exchange's ids start, so they look like the venue's and never collide.
fn id_bases(exchange: Exchange) -> (u64, u64) {
    match exchange {
        Exchange::Binance => (4_000_000_000, 300_000_000),
        Exchange::Bybit => (1_320_000_000_000_000_000, 2_200_000_000_000_000_000),
        Exchange::Okx => (600_000_000_000_000_000, 300_000_000),
        Exchange::Bitget => (1_100_000_000_000_000_000, 1_200_000_000_000_000_000),
        Exchange::Gate => (58_000_000_000, 25_000_000),
    }
}

/// The fee rate a venue's base tier charges (negative is a rebate): what its public endpoints
/// print where they print one, and what an account pays unless configured otherwise.
pub(crate) fn base_fee_rate(venue: Venue, maker: bool) -> Decimal {
    let (m, t) = match (venue.exchange, venue.market) {
        (Exchange::Binance, Market::Perp) => (Decimal::new(2, 4), Decimal::new(5, 4)),
        (Exchange::Binance, Market::Spot) => (Decimal::new(1, 3), Decimal::new(1, 3)),
        (Exchange::Bybit, Market::Perp) => (Decimal::new(2, 4), Decimal::new(55, 5)),
        (Exchange::Bybit, Market::Spot) => (Decimal::new(1, 3), Decimal::new(1, 3)),
        (Exchange::Okx, Market::Perp) => (Decimal::new(2, 4), Decimal::new(5, 4)),
        (Exchange::Okx, Market::Spot) => (Decimal::new(8, 4), Decimal::new(1, 3)),
        (Exchange::Bitget, Market::Perp) => (Decimal::new(2, 4), Decimal::new(6, 4)),
        (Exchange::Bitget, Market::Spot) => (Decimal::new(1, 3), Decimal::new(1, 3)),
        (Exchange::Gate, Market::Perp) => (Decimal::new(-25, 5), Decimal::new(75, 5)),
        (Exchange::Gate, Market::Spot) => (Decimal::new(2, 3), Decimal::new(2, 3)),
    };
    if maker {
        m
    } else {
        t
    }
}

/// Which asset of the pair a fee is charged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FeeAsset {
    Base,
    Quote,
}

/// The fee of one fill at `rate` and the asset it is charged in: spot buys pay in the base they
/// receive, everything else in quote.
pub(crate) fn fill_fee(
    rate: Decimal,
    wallet: Wallet,
    side: Side,
    base_qty: Decimal,
    price: Decimal,
) -> (Decimal, FeeAsset) {
    let round =
        |d: Decimal| d.round_dp_with_strategy(FEE_DP, RoundingStrategy::MidpointAwayFromZero);
    match (wallet, side) {
        (Wallet::Spot | Wallet::Margin, Side::Buy) => (round(base_qty * rate), FeeAsset::Base),
        _ => (round(base_qty * price * rate), FeeAsset::Quote),
    }
}

/// Moves a one-way position by `delta` order units at `price`; returns the realized PnL in
/// quote (`cs` = base units per order unit).
pub(crate) fn move_position(
    pos: &mut Position,
    delta: Decimal,
    price: Decimal,
    cs: Decimal,
) -> Decimal {
    let same_way = pos.qty.is_zero() || (pos.qty.is_sign_positive() == delta.is_sign_positive());
    if same_way {
        let held = pos.qty.abs();
        let add = delta.abs();
        pos.entry = ((pos.entry * held + price * add) / (held + add)).round_dp(10);
        pos.qty += delta;
        return Decimal::ZERO;
    }
    let closing = delta.abs().min(pos.qty.abs());
    let direction = if pos.qty.is_sign_positive() {
        Decimal::ONE
    } else {
        -Decimal::ONE
    };
    let realized = (price - pos.entry) * closing * cs * direction;
    pos.qty += delta;
    if pos.qty.is_zero() {
        pos.entry = Decimal::ZERO;
    } else if pos.qty.is_sign_positive() != direction.is_sign_positive() {
        // Flipped through zero: the remainder opened at this price.
        pos.entry = price;
    }
    pos.realized += realized;
    realized
}

/// Where a taker order meets the book: the touch's price and size, if it crosses.
fn crossing(side: Side, limit: Decimal, leg: &LegTick) -> Option<(Decimal, Decimal)> {
    match side {
        Side::Buy if leg.ask <= limit => Some((leg.ask, leg.ask_qty)),
        Side::Sell if leg.bid >= limit => Some((leg.bid, leg.bid_qty)),
        _ => None,
    }
}

impl Account {
    /// A fresh account, then whatever the record files in `state_dir` say happened to it.
    /// Errors: an unreadable record, or one naming a symbol the listing no longer has.
    pub fn open(
        exchange: Exchange,
        listing: Arc<Listing>,
        config: &AccountConfig,
        state_dir: Option<&Path>,
    ) -> io::Result<Account> {
        let (order_base, trade_base) = id_bases(exchange);
        let start: BTreeMap<String, Decimal> = config.balances.iter().cloned().collect();
        let fees = [Market::Perp, Market::Spot].map(|market| {
            let venue = Venue::new(exchange, market);
            config
                .fee_rates
                .iter()
                .rev()
                .find(|(v, _)| *v == venue)
                .map(|(_, r)| *r)
                .unwrap_or(FeeRates {
                    maker: base_fee_rate(venue, true),
                    taker: base_fee_rate(venue, false),
                })
        });
        let mut account = Account {
            exchange,
            listing,
            orders: Vec::new(),
            by_id: HashMap::new(),
            by_client: HashMap::new(),
            open: Vec::new(),
            closed_this_run: Default::default(),
            perp: PerpBook {
                balances: start.clone(),
                ..PerpBook::default()
            },
            spot: start.clone(),
            margin: MarginBook {
                assets: start,
                borrowed: BTreeMap::new(),
            },
            next_order_id: order_base,
            next_trade_id: trade_base,
            rng: Rng::new(config.seed ^ (0x5eed_0000 + exchange as u64)),
            reject_one_in: config.reject_one_in,
            speedup: i64::from(config.dead_man_speedup.max(1)),
            counters: Default::default(),
            countdowns: Vec::new(),
            events: VecDeque::new(),
            next_seq: 1,
            writers: [None, None],
            replaying: false,
            fees,
            funding: FundingBook::default(),
            next_ledger_id: trade_base * 3,
        };
        if let Some(dir) = state_dir {
            std::fs::create_dir_all(dir)?;
            for market in [Market::Perp, Market::Spot] {
                let venue = Venue::new(exchange, market);
                if !account.listing.carries(venue) {
                    continue;
                }
                let path = record_path(dir, venue);
                let lines = read_lines(&path)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                account.replaying = true;
                for (line_no, line) in lines.lines {
                    account.replay(venue, line).map_err(|why| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("sim record {}: line {line_no}: {why}", path.display()),
                        )
                    })?;
                }
                account.replaying = false;
                account.writers[market as usize] =
                    Some(RecordWriter::open(&path, lines.complete_len)?);
            }
        }
        Ok(account)
    }

    fn replay(&mut self, venue: Venue, line: Line) -> Result<(), String> {
        match line {
            Line::Accepted { order } => {
                let instrument = self
                    .listing
                    .find(venue, &order.symbol)
                    .ok_or_else(|| format!("symbol {} is not listed on {venue}", order.symbol))?;
                self.next_order_id = self.next_order_id.max(order.order_id + 1);
                let pos = self.insert(order, instrument);
                self.orders[pos].updated_ms = self.orders[pos].rec.time_ms;
            }
            Line::Fill { order_id, fill } => {
                let pos = *self
                    .by_id
                    .get(&order_id)
                    .ok_or_else(|| format!("fill of unknown order {order_id}"))?;
                self.next_trade_id = self.next_trade_id.max(fill.trade_id + 1);
                self.book_fill(pos, fill);
            }
            Line::Finished {
                order_id,
                finish,
                time_ms,
            } => {
                let pos = *self
                    .by_id
                    .get(&order_id)
                    .ok_or_else(|| format!("end of unknown order {order_id}"))?;
                self.finish(pos, finish, time_ms);
            }
            Line::Setting { setting, .. } => self.apply_setting(venue, &setting)?,
            Line::Funding { payment } => {
                self.listing
                    .find(venue, &payment.symbol)
                    .ok_or_else(|| format!("symbol {} is not listed on {venue}", payment.symbol))?;
                self.next_ledger_id = self.next_ledger_id.max(payment.id + 1);
                *self.perp.balances.entry(payment.asset.clone()).or_default() += payment.amount;
                self.funding.ledger.push(payment);
            }
            Line::Transfer {
                wallet,
                asset,
                amount,
                ..
            } => *self.wallet_mut(wallet).entry(asset).or_default() += amount,
        }
        Ok(())
    }

    fn write(&mut self, venue: Venue, line: Line) {
        if self.replaying {
            return;
        }
        if let Some(w) = self.writers[venue.market as usize].as_mut() {
            w.append(&line);
        }
    }

    fn emit(&mut self, venue: Venue, time_ms: i64, kind: AccountEventKind) {
        if self.replaying {
            return;
        }
        if self.events.len() == EVENT_CAPACITY {
            self.events.pop_front();
        }
        self.events.push_back(AccountEvent {
            seq: self.next_seq,
            venue,
            time_ms,
            kind,
        });
        self.next_seq += 1;
    }

    fn emit_order(&mut self, pos: usize, time_ms: i64, last_fill: Option<Fill>) {
        let o = &self.orders[pos];
        let update = OrderUpdate {
            order_id: o.rec.order_id,
            client_id: o.rec.client_id.clone(),
            symbol: o.rec.symbol.clone(),
            instrument: o.instrument,
            wallet: o.rec.wallet,
            side: o.rec.side,
            qty: o.rec.qty,
            price: o.rec.price,
            tif: o.rec.tif,
            reduce_only: o.rec.reduce_only,
            filled: o.filled,
            filled_value: o.filled_value,
            avg_price: o.avg_price(),
            fee: o.fee,
            fee_asset: o.fee_asset.clone(),
            finish: o.rec.finish,
            created_ms: o.rec.time_ms,
            stp: o.rec.stp.clone(),
            last_fill,
        };
        let venue = o.rec.venue;
        self.emit(venue, time_ms, AccountEventKind::Order(update));
    }

    /// The number of the latest event (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Events after `after_seq` (0 for all that are kept), oldest first.
    pub fn events_after(&self, after_seq: u64) -> Vec<AccountEvent> {
        // Numbers are consecutive, so the first one wanted is found without a scan (private
        // connections ask every few milliseconds).
        let first = self.events.front().map_or(1, |e| e.seq);
        let skip = ((after_seq + 1).saturating_sub(first) as usize).min(self.events.len());
        self.events.range(skip..).cloned().collect()
    }

    fn insert(&mut self, rec: AcceptedOrder, instrument: usize) -> usize {
        let ins = &self.listing.instruments()[instrument];
        let contract_size = ins
            .on(rec.venue)
            .and_then(|l| l.spec.contract_size)
            .unwrap_or(Decimal::ONE);
        let fee_asset = match (rec.wallet, rec.side) {
            (Wallet::Spot | Wallet::Margin, Side::Buy) => ins.base.clone(),
            _ => ins.quote.clone(),
        };
        let pos = self.orders.len();
        self.by_id.insert(rec.order_id, pos);
        if !rec.client_id.is_empty() {
            self.by_client
                .entry((rec.venue, rec.client_id.clone()))
                .or_default()
                .push(pos);
        }
        if rec.finish.is_none() {
            self.open.push(pos);
        }
        self.orders.push(SimOrder {
            updated_ms: rec.time_ms,
            rec,
            instrument,
            contract_size,
            base: ins.base.clone(),
            quote: ins.quote.clone(),
            filled: Decimal::ZERO,
            filled_value: Decimal::ZERO,
            fee: Decimal::ZERO,
            fee_asset,
            last_step: None,
        });
        pos
    }

    /// The id the next accepted order will get (venues that generate client ids derive them
    /// from it).
    pub fn next_order_id(&self) -> u64 {
        self.next_order_id
    }

    pub fn order(&self, pos: usize) -> &SimOrder {
        &self.orders[pos]
    }

    /// Every order of `venue`, in acceptance order.
    pub fn orders_of(&self, venue: Venue) -> impl Iterator<Item = &SimOrder> {
        self.orders.iter().filter(move |o| o.rec.venue == venue)
    }

    /// Open orders of `venue` trading in `wallet`, in acceptance order.
    pub fn open_orders(&self, venue: Venue, wallet: Option<Wallet>) -> Vec<&SimOrder> {
        let mut v: Vec<&SimOrder> = self
            .open
            .iter()
            .map(|&p| &self.orders[p])
            .filter(|o| o.rec.venue == venue && wallet.is_none_or(|w| o.rec.wallet == w))
            .collect();
        v.sort_by_key(|o| o.rec.order_id);
        v
    }

    /// Orders of `venue` closed since this process started, newest first, at most the last 500
    /// (Bybit's realtime window).
    pub fn recently_closed(&self, venue: Venue) -> impl Iterator<Item = &SimOrder> {
        self.closed_this_run[venue.market as usize]
            .iter()
            .rev()
            .map(|&p| &self.orders[p])
    }

    /// Every order ever accepted on `venue`, as the record has them.
    pub fn accepted(&self, venue: Venue) -> Vec<AcceptedOrder> {
        self.orders_of(venue).map(|o| o.rec.clone()).collect()
    }

    /// The order `key` names on `venue`: by client id, the latest order with that id.
    pub fn find(&self, venue: Venue, key: &OrderKey) -> Option<usize> {
        match key {
            OrderKey::Id(id) => self
                .by_id
                .get(id)
                .copied()
                .filter(|&p| self.orders[p].rec.venue == venue),
            OrderKey::Client(c) => self
                .by_client
                .get(&(venue, c.clone()))
                .and_then(|v| v.last().copied()),
        }
    }

    /// Accepts or refuses an order and matches it against `tick` at once. Returns the order's
    /// position (query it with [`Account::order`]).
    pub fn place(
        &mut self,
        new: NewOrder,
        duplicates: Duplicates,
        post_only: PostOnlyCross,
        tick: &MarketTick,
        now_ms: i64,
    ) -> Result<usize, Refusal> {
        if let Some(&earlier) = self
            .by_client
            .get(&(new.venue, new.client_id.clone()))
            .and_then(|v| v.last())
            .filter(|_| !new.client_id.is_empty())
        {
            let o = &self.orders[earlier];
            let refused = match duplicates {
                Duplicates::WhileOpen => o.is_open(),
                Duplicates::Always => true,
                Duplicates::Within(ms) => now_ms - o.rec.time_ms < ms,
                Duplicates::WithinWhileUnfilled(ms) => {
                    now_ms - o.rec.time_ms < ms && o.filled.is_zero()
                }
                Duplicates::Allowed => false,
            };
            if refused {
                return Err(Refusal::Duplicate(earlier));
            }
        }
        self.check_funds(&new)?;
        if self.reject_one_in > 0 && self.rng.below(u64::from(self.reject_one_in)) == 0 {
            return Err(Refusal::Insufficient);
        }
        let leg = tick.leg(new.instrument, new.venue).cloned();
        let takes = leg
            .as_ref()
            .and_then(|l| crossing(new.side, new.price, l))
            .is_some();
        if new.tif == TimeInForce::PostOnly && takes && post_only == PostOnlyCross::Refuse {
            return Err(Refusal::PostOnlyWouldTake);
        }

        let (tif, qty) = (new.tif, new.qty);
        let pos = self.accept(new, now_ms);
        self.orders[pos].last_step = Some(tick.tick);

        if tif == TimeInForce::PostOnly {
            if takes {
                self.finish(pos, Finish::PostOnlyCanceled, now_ms);
            }
            return Ok(pos);
        }
        if let Some(leg) = leg {
            let fillable = self.fillable(pos, &leg, false);
            let all_or_none = tif == TimeInForce::Fok;
            if fillable.is_some_and(|(q, _)| !all_or_none || q == qty) {
                if let Some((q, px)) = fillable {
                    self.execute(pos, q, px, false, now_ms);
                }
            }
        }
        if self.orders[pos].is_open() && matches!(tif, TimeInForce::Ioc | TimeInForce::Fok) {
            self.finish(pos, Finish::Expired, now_ms);
        }
        Ok(pos)
    }

    /// What `pos` could fill against `leg` now: (qty, price). A taker meets the touch; a maker
    /// fills at its own price. Reduce-only orders never fill past the position.
    fn fillable(&self, pos: usize, leg: &LegTick, maker: bool) -> Option<(Decimal, Decimal)> {
        let o = &self.orders[pos];
        let (touch_px, touch_qty) = crossing(o.rec.side, o.rec.price, leg)?;
        let mut qty = o.remaining().min(touch_qty);
        if o.rec.reduce_only && o.rec.wallet == Wallet::Perp {
            qty = qty.min(self.reducible(o.instrument, o.rec.side));
        }
        let price = if maker { o.rec.price } else { touch_px };
        (qty > Decimal::ZERO).then_some((qty, price))
    }

    /// How much of a position an order on `side` can reduce.
    fn reducible(&self, instrument: usize, side: Side) -> Decimal {
        let held = self.perp.position(instrument).qty;
        match side {
            Side::Buy if held < Decimal::ZERO => -held,
            Side::Sell if held > Decimal::ZERO => held,
            _ => Decimal::ZERO,
        }
    }

    /// Quote reserved by open orders in a spot-like wallet, and base reserved by open sells.
    fn reserved(&self, wallet: Wallet, asset: &str) -> Decimal {
        self.open
            .iter()
            .map(|&p| &self.orders[p])
            .filter(|o| o.rec.wallet == wallet)
            .map(|o| match o.rec.side {
                Side::Buy if o.quote == asset => o.remaining() * o.rec.price,
                Side::Sell if o.base == asset => o.remaining() * o.contract_size,
                _ => Decimal::ZERO,
            })
            .sum()
    }

    /// Margin the perp wallet has committed to positions and open orders, per quote asset.
    fn used_margin(&self, quote: &str) -> Decimal {
        let listing = &self.listing;
        let positions: Decimal = self
            .perp
            .positions
            .iter()
            .filter(|(&i, _)| {
                listing
                    .instruments()
                    .get(i)
                    .is_some_and(|x| x.quote == quote)
            })
            .map(|(&i, p)| {
                let cs = perp_contract_size(listing, self.exchange, i);
                p.qty.abs() * cs * p.entry / Decimal::from(self.perp.leverage(i))
            })
            .sum();
        let orders: Decimal = self
            .open
            .iter()
            .map(|&p| &self.orders[p])
            .filter(|o| o.rec.wallet == Wallet::Perp && !o.rec.reduce_only && o.quote == quote)
            .map(|o| {
                o.remaining() * o.contract_size * o.rec.price
                    / Decimal::from(self.perp.leverage(o.instrument))
            })
            .sum();
        positions + orders
    }

    /// Free balance of a perp wallet asset: what new orders may commit.
    pub fn perp_available(&self, quote: &str) -> Decimal {
        self.perp.balances.get(quote).copied().unwrap_or_default() - self.used_margin(quote)
    }

    /// Free balance of a spot or margin asset (total less what open orders reserve).
    pub fn free(&self, wallet: Wallet, asset: &str) -> Decimal {
        let total = match wallet {
            Wallet::Margin => self.margin.assets.get(asset),
            _ => self.spot.get(asset),
        }
        .copied()
        .unwrap_or_default();
        total - self.reserved(wallet, asset)
    }

    /// Reserved (locked) amount of a spot or margin asset.
    pub fn locked(&self, wallet: Wallet, asset: &str) -> Decimal {
        self.reserved(wallet, asset)
    }

    fn check_funds(&self, o: &NewOrder) -> Result<(), Refusal> {
        let ins = &self.listing.instruments()[o.instrument];
        let cs = ins
            .on(o.venue)
            .and_then(|l| l.spec.contract_size)
            .unwrap_or(Decimal::ONE);
        let notional = o.qty * cs * o.price;
        match o.wallet {
            Wallet::Perp => {
                let reducible = self.reducible(o.instrument, o.side);
                if o.reduce_only {
                    return if reducible.is_zero() {
                        Err(Refusal::ReduceOnly)
                    } else {
                        Ok(())
                    };
                }
                let excess = (o.qty - reducible).max(Decimal::ZERO);
                let need = excess * cs * o.price / Decimal::from(self.perp.leverage(o.instrument));
                if need > self.perp_available(&ins.quote) {
                    return Err(Refusal::Insufficient);
                }
            }
            Wallet::Spot | Wallet::Margin => {
                let enough = match o.side {
                    Side::Buy => notional <= self.free(o.wallet, &ins.quote),
                    Side::Sell => {
                        let free = self.free(o.wallet, &ins.base);
                        o.qty <= free
                            || (o.wallet == Wallet::Margin
                                && o.auto_borrow
                                && (o.qty - free.max(Decimal::ZERO)) * o.price
                                    <= self.borrow_capacity(&ins.base, &ins.quote, o.price))
                    }
                };
                if !enough {
                    return Err(Refusal::Insufficient);
                }
            }
        }
        Ok(())
    }

    /// Quote value the margin wallet may still borrow in `base` at `price`.
    fn borrow_capacity(&self, base: &str, quote: &str, price: Decimal) -> Decimal {
        let equity = self.margin.assets.get(quote).copied().unwrap_or_default();
        let owed = self.margin.borrowed.get(base).copied().unwrap_or_default() * price;
        Decimal::from(MARGIN_LEVERAGE) * equity - owed
    }

    /// Executes `qty` of `pos` at `price`: books it, records it, emits it, finishes the order
    /// when nothing remains.
    fn execute(&mut self, pos: usize, qty: Decimal, price: Decimal, maker: bool, now_ms: i64) {
        let o = &self.orders[pos];
        let rate = self.fee_rates(o.rec.venue).of(maker);
        let (fee, asset) = fill_fee(rate, o.rec.wallet, o.rec.side, qty * o.contract_size, price);
        let fee_asset = match asset {
            FeeAsset::Base => o.base.clone(),
            FeeAsset::Quote => o.quote.clone(),
        };
        let fill = Fill {
            trade_id: self.next_trade_id,
            qty,
            price,
            fee,
            fee_asset,
            maker,
            time_ms: now_ms,
        };
        self.next_trade_id += 1;
        let (venue, order_id) = (o.rec.venue, o.rec.order_id);
        self.write(
            venue,
            Line::Fill {
                order_id,
                fill: fill.clone(),
            },
        );
        let before = self.order_balances(pos);
        self.book_fill(pos, fill.clone());
        let o = &self.orders[pos];
        let kind = AccountEventKind::Fill {
            order_id,
            client_id: o.rec.client_id.clone(),
            symbol: o.rec.symbol.clone(),
            side: o.rec.side,
            fill: fill.clone(),
        };
        self.emit(venue, now_ms, kind);
        if self.orders[pos].remaining().is_zero() {
            self.finish_with(pos, Finish::Filled, now_ms, Some(fill));
        } else {
            self.emit_order(pos, now_ms, Some(fill));
        }
        self.emit_order_effects(pos, before, now_ms);
    }

    /// The (wallet, asset, total) rows a fill of `pos` can change, as they stand.
    fn order_balances(&self, pos: usize) -> Vec<(Wallet, String, Decimal)> {
        let o = &self.orders[pos];
        let assets: Vec<&String> = match o.rec.wallet {
            Wallet::Perp => vec![&o.quote],
            Wallet::Spot | Wallet::Margin => vec![&o.base, &o.quote],
        };
        assets
            .into_iter()
            .map(|a| (o.rec.wallet, a.clone(), self.total(o.rec.wallet, a)))
            .collect()
    }

    /// Emits the balances (and for a perp the position) a fill of `pos` changed.
    fn emit_order_effects(&mut self, pos: usize, before: Vec<(Wallet, String, Decimal)>, now: i64) {
        let o = &self.orders[pos];
        let (venue, wallet, instrument) = (o.rec.venue, o.rec.wallet, o.instrument);
        let balances = before
            .into_iter()
            .map(|(w, asset, was)| self.balance_row(w, &asset, self.total(w, &asset) - was))
            .collect();
        let positions = if wallet == Wallet::Perp {
            vec![self.position_row(venue, instrument)]
        } else {
            Vec::new()
        };
        self.emit(
            venue,
            now,
            AccountEventKind::Account {
                reason: ChangeReason::Order,
                balances,
                positions,
            },
        );
    }

    /// Total held of `asset` in `wallet`.
    pub fn total(&self, wallet: Wallet, asset: &str) -> Decimal {
        match wallet {
            Wallet::Perp => self.perp.balances.get(asset),
            Wallet::Spot => self.spot.get(asset),
            Wallet::Margin => self.margin.assets.get(asset),
        }
        .copied()
        .unwrap_or_default()
    }

    fn wallet_mut(&mut self, wallet: Wallet) -> &mut BTreeMap<String, Decimal> {
        match wallet {
            Wallet::Perp => &mut self.perp.balances,
            Wallet::Spot => &mut self.spot,
            Wallet::Margin => &mut self.margin.assets,
        }
    }

    fn balance_row(&self, wallet: Wallet, asset: &str, change: Decimal) -> BalanceRow {
        let available = match wallet {
            Wallet::Perp => self.perp_available(asset),
            w => self.free(w, asset),
        };
        BalanceRow {
            wallet,
            asset: asset.to_string(),
            total: self.total(wallet, asset),
            available,
            change,
        }
    }

    fn position_row(&self, venue: Venue, instrument: usize) -> PositionRow {
        let p = self.perp.position(instrument);
        PositionRow {
            instrument,
            symbol: self.symbol(venue, instrument),
            qty: p.qty,
            entry: p.entry,
            realized: p.realized,
            leverage: self.perp.leverage(instrument),
            isolated: self.perp.isolated.contains(&instrument),
        }
    }

    /// The fee rates this account pays on `venue`.
    pub fn fee_rates(&self, venue: Venue) -> FeeRates {
        self.fees[venue.market as usize]
    }

    /// The effects of one fill on the order and the wallet (shared by live fills and replay).
    fn book_fill(&mut self, pos: usize, fill: Fill) {
        let o = &mut self.orders[pos];
        o.filled += fill.qty;
        o.filled_value += fill.qty * fill.price;
        o.fee += fill.fee;
        o.updated_ms = fill.time_ms;
        let (wallet, side, instrument) = (o.rec.wallet, o.rec.side, o.instrument);
        let (cs, base, quote) = (o.contract_size, o.base.clone(), o.quote.clone());
        let base_qty = fill.qty * cs;
        let notional = base_qty * fill.price;
        let add = |m: &mut BTreeMap<String, Decimal>, k: &str, d: Decimal| {
            *m.entry(k.to_string()).or_default() += d;
        };
        match wallet {
            Wallet::Perp => {
                let delta = if side.is_buy() { fill.qty } else { -fill.qty };
                let p = self.perp.positions.entry(instrument).or_default();
                let realized = move_position(p, delta, fill.price, cs);
                add(&mut self.perp.balances, &quote, realized - fill.fee);
            }
            Wallet::Spot => match side {
                Side::Buy => {
                    add(&mut self.spot, &quote, -notional);
                    add(&mut self.spot, &base, base_qty - fill.fee);
                }
                Side::Sell => {
                    add(&mut self.spot, &base, -base_qty);
                    add(&mut self.spot, &quote, notional - fill.fee);
                }
            },
            Wallet::Margin => {
                let m = &mut self.margin;
                match side {
                    Side::Buy => {
                        add(&mut m.assets, &quote, -notional);
                        let received = base_qty - fill.fee;
                        let owed = m.borrowed.get(&base).copied().unwrap_or_default();
                        let repay = owed.min(received).max(Decimal::ZERO);
                        add(&mut m.borrowed, &base, -repay);
                        add(&mut m.assets, &base, received - repay);
                    }
                    Side::Sell => {
                        let held = m.assets.get(&base).copied().unwrap_or_default();
                        if held < base_qty {
                            add(&mut m.borrowed, &base, base_qty - held);
                            add(&mut m.assets, &base, base_qty - held);
                        }
                        add(&mut m.assets, &base, -base_qty);
                        add(&mut m.assets, &quote, notional - fill.fee);
                    }
                }
            }
        }
        self.orders[pos].rec.fills.push(fill);
    }

    fn finish(&mut self, pos: usize, finish: Finish, now_ms: i64) {
        self.finish_with(pos, finish, now_ms, None);
    }

    /// Finishes `pos`; `last_fill` is the execution that finished it, if one did.
    fn finish_with(&mut self, pos: usize, finish: Finish, now_ms: i64, last_fill: Option<Fill>) {
        let o = &mut self.orders[pos];
        if o.rec.finish.is_some() {
            return;
        }
        o.rec.finish = Some(finish);
        o.rec.finish_ms = Some(now_ms);
        o.updated_ms = now_ms;
        let (venue, order_id) = (o.rec.venue, o.rec.order_id);
        self.open.retain(|&p| p != pos);
        if !self.replaying {
            let recent = &mut self.closed_this_run[venue.market as usize];
            if recent.len() == RECENT_CLOSED {
                recent.pop_front();
            }
            recent.push_back(pos);
        }
        self.write(
            venue,
            Line::Finished {
                order_id,
                finish,
                time_ms: now_ms,
            },
        );
        self.emit_order(pos, now_ms, last_fill);
    }

    /// Cancels the order `key` names.
    pub fn cancel(
        &mut self,
        venue: Venue,
        key: &OrderKey,
        now_ms: i64,
    ) -> Result<usize, CancelRefusal> {
        let pos = self.find(venue, key).ok_or(CancelRefusal::NotFound)?;
        if !self.orders[pos].is_open() {
            return Err(CancelRefusal::Finished(pos));
        }
        self.finish(pos, Finish::Canceled, now_ms);
        Ok(pos)
    }

    /// Cancels every open order of `venue` on `instrument` (all instruments if `None`);
    /// returns their positions.
    pub fn cancel_all(
        &mut self,
        venue: Venue,
        instrument: Option<usize>,
        finish: Finish,
        now_ms: i64,
    ) -> Vec<usize> {
        let hit: Vec<usize> = self
            .open
            .iter()
            .copied()
            .filter(|&p| {
                let o = &self.orders[p];
                o.rec.venue == venue && instrument.is_none_or(|i| o.instrument == i)
            })
            .collect();
        for &p in &hit {
            self.finish(p, finish, now_ms);
        }
        hit
    }

    /// Moves the account to the market at `tick` and the clock at `now_ms`: fires expired
    /// countdowns, then fills resting orders the market now crosses (once per model step).
    pub fn advance(&mut self, tick: &MarketTick, now_ms: i64) {
        self.settle_funding(tick, now_ms);
        let due: Vec<Countdown> = self
            .countdowns
            .iter()
            .filter(|c| c.deadline_ms <= now_ms)
            .cloned()
            .collect();
        for c in due {
            for &v in &c.venues {
                self.cancel_all(v, c.instrument, Finish::DeadMan, now_ms);
            }
        }
        self.countdowns.retain_mut(|c| {
            if c.deadline_ms > now_ms {
                return true;
            }
            // A renewing switch waits for the next request to re-arm it; the others are spent.
            c.deadline_ms = i64::MAX;
            c.renew_ms.is_some()
        });

        let open = self.open.clone();
        for pos in open {
            let o = &self.orders[pos];
            if !o.is_open() || o.last_step == Some(tick.tick) {
                continue;
            }
            let Some(leg) = tick.leg(o.instrument, o.rec.venue).cloned() else {
                continue;
            };
            self.orders[pos].last_step = Some(tick.tick);
            let o = &self.orders[pos];
            if o.rec.reduce_only
                && o.rec.wallet == Wallet::Perp
                && self.reducible(o.instrument, o.rec.side).is_zero()
            {
                self.finish(pos, Finish::Expired, now_ms);
                continue;
            }
            if let Some((q, px)) = self.fillable(pos, &leg, true) {
                self.execute(pos, q, px, true, now_ms);
            }
        }
    }

    /// Arms (or with `window_ms` 0 disarms) a dead-man switch over `venues` and `instrument`;
    /// a renewing switch re-arms on every [`Account::renew_countdowns`]. Returns the deadline.
    pub fn set_countdown(
        &mut self,
        venues: &[Venue],
        instrument: Option<usize>,
        window_ms: i64,
        renewing: bool,
        now_ms: i64,
    ) -> Option<i64> {
        self.countdowns
            .retain(|c| !(c.venues == venues && c.instrument == instrument));
        if window_ms <= 0 {
            return None;
        }
        let deadline_ms = now_ms + window_ms / self.speedup;
        self.countdowns.push(Countdown {
            venues: venues.to_vec(),
            instrument,
            deadline_ms,
            renew_ms: renewing.then_some(window_ms),
        });
        Some(deadline_ms)
    }

    /// Re-arms every renewing switch from `now_ms` (Bybit DCP: the account showed it is alive).
    pub fn renew_countdowns(&mut self, now_ms: i64) {
        let speedup = self.speedup;
        for c in &mut self.countdowns {
            if let Some(w) = c.renew_ms {
                c.deadline_ms = now_ms + w / speedup;
            }
        }
    }

    /// The window of the renewing switch over exactly `venues`, if armed.
    pub fn renewing_window(&self, venues: &[Venue]) -> Option<i64> {
        self.countdowns
            .iter()
            .find(|c| c.venues == venues && c.renew_ms.is_some())
            .and_then(|c| c.renew_ms)
    }

    /// Sets and records the leverage of `instrument` on `venue` (a perp venue).
    pub fn set_leverage(&mut self, venue: Venue, instrument: usize, leverage: u32, now_ms: i64) {
        self.perp.leverage.insert(instrument, leverage);
        let symbol = self.symbol(venue, instrument);
        self.record_setting(venue, Setting::Leverage { symbol, leverage }, now_ms);
    }

    /// Sets and records cross (`isolated` false) or isolated margin for `instrument`.
    pub fn set_margin_mode(
        &mut self,
        venue: Venue,
        instrument: usize,
        isolated: bool,
        now_ms: i64,
    ) {
        if isolated {
            self.perp.isolated.insert(instrument);
        } else {
            self.perp.isolated.remove(&instrument);
        }
        let symbol = self.symbol(venue, instrument);
        self.record_setting(venue, Setting::MarginMode { symbol, isolated }, now_ms);
    }

    /// Sets and records hedge (long/short) or one-way position mode.
    pub fn set_hedge(&mut self, venue: Venue, hedge: bool, now_ms: i64) {
        self.perp.hedge = hedge;
        self.record_setting(venue, Setting::PositionMode { hedge }, now_ms);
    }

    fn symbol(&self, venue: Venue, instrument: usize) -> String {
        self.listing
            .get(instrument, venue)
            .map(|l| l.symbol.clone())
            .unwrap_or_default()
    }

    fn record_setting(&mut self, venue: Venue, setting: Setting, now_ms: i64) {
        self.write(
            venue,
            Line::Setting {
                setting,
                time_ms: now_ms,
            },
        );
    }

    fn apply_setting(&mut self, venue: Venue, setting: &Setting) -> Result<(), String> {
        let instrument = |symbol: &str| {
            self.listing
                .find(venue, symbol)
                .ok_or_else(|| format!("symbol {symbol} is not listed on {venue}"))
        };
        match setting {
            Setting::Leverage { symbol, leverage } => {
                let i = instrument(symbol)?;
                self.perp.leverage.insert(i, *leverage);
            }
            Setting::MarginMode { symbol, isolated } => {
                let i = instrument(symbol)?;
                if *isolated {
                    self.perp.isolated.insert(i);
                } else {
                    self.perp.isolated.remove(&i);
                }
            }
            Setting::PositionMode { hedge } => self.perp.hedge = *hedge,
        }
        Ok(())
    }

    /// True when any order (of any venue of this account) is open, or any position is held:
    /// venues refuse position-mode switches then.
    pub fn has_exposure(&self) -> bool {
        !self.open.is_empty() || self.perp.positions.values().any(|p| !p.qty.is_zero())
    }

    /// Books every settlement of every perpetual due by `now_ms` at `tick`'s rate and mark:
    /// the settled rate goes into the venue's history, and each open position is paid or
    /// charged (recorded, emitted as a funding event and a balance change).
    fn settle_funding(&mut self, tick: &MarketTick, now_ms: i64) {
        let perp = Venue::new(self.exchange, Market::Perp);
        if !self.listing.carries(perp) {
            return;
        }
        let listing = Arc::clone(&self.listing);
        for (i, ins) in listing.instruments().iter().enumerate() {
            let (Some(l), Some(leg)) = (ins.on(perp), tick.leg(i, perp)) else {
                continue;
            };
            let Some(interval) = l.settlement_interval_ms() else {
                continue;
            };
            // The clock starts when the venue does: nothing settles for the time before.
            let after = *self.funding.settled_through.entry(i).or_insert(now_ms);
            let due = due_settlements(after, now_ms, interval, MAX_SETTLEMENTS_AT_ONCE);
            self.funding.settled_through.insert(i, now_ms.max(after));
            for time_ms in due {
                let history = self.funding.history.entry(i).or_default();
                if history.len() == funding::HISTORY_KEPT {
                    history.pop_front();
                }
                history.push_back(Settlement {
                    time_ms,
                    rate: leg.funding_rate,
                    mark: leg.mark,
                });
                let position = self.perp.position(i).qty;
                if position.is_zero() {
                    continue;
                }
                let cs = l.spec.contract_size.unwrap_or(Decimal::ONE);
                let amount = funding_amount(position, cs, leg.mark, leg.funding_rate);
                let asset = ins.quote.clone();
                let before = self.total(Wallet::Perp, &asset);
                let payment = FundingPayment {
                    id: self.next_ledger_id,
                    symbol: l.symbol.clone(),
                    time_ms,
                    position,
                    mark: leg.mark,
                    rate: leg.funding_rate,
                    amount,
                    asset: asset.clone(),
                    balance: before + amount,
                };
                self.next_ledger_id += 1;
                *self.perp.balances.entry(asset.clone()).or_default() += amount;
                self.write(
                    perp,
                    Line::Funding {
                        payment: payment.clone(),
                    },
                );
                self.funding.ledger.push(payment.clone());
                self.emit(perp, now_ms, AccountEventKind::Funding(payment));
                let balances = vec![self.balance_row(Wallet::Perp, &asset, amount)];
                self.emit(
                    perp,
                    now_ms,
                    AccountEventKind::Account {
                        reason: ChangeReason::Funding,
                        balances,
                        positions: vec![self.position_row(perp, i)],
                    },
                );
            }
        }
    }

    /// The margin picture of the perp position in `instrument` at `tick`'s marks: what every
    /// venue's position rows print as margin, maintenance margin and liquidation price.
    /// `None` when the instrument has no perp listing or no mark.
    pub fn position_risk(&self, instrument: usize, tick: &MarketTick) -> Option<PositionRisk> {
        let perp = Venue::new(self.exchange, Market::Perp);
        let quote = &self.listing.instruments().get(instrument)?.quote;
        let look = |i: usize| -> Option<(Position, Decimal, Decimal)> {
            let cs = self
                .listing
                .get(i, perp)?
                .spec
                .contract_size
                .unwrap_or(Decimal::ONE);
            let mark = tick.leg(i, perp)?.mark;
            Some((self.perp.position(i), cs, mark))
        };
        let (pos, cs, mark) = look(instrument)?;
        let base = pos.qty * cs;
        let notional = base * mark;
        let upnl = (mark - pos.entry) * base;
        let leverage = Decimal::from(self.perp.leverage(instrument));
        let tier = risk::tier_of(notional);
        let isolated = self.perp.isolated.contains(&instrument);
        let backing = if isolated {
            (base * pos.entry).abs() / leverage
        } else {
            let mut b = self.perp.balances.get(quote).copied().unwrap_or_default();
            for &j in self.perp.positions.keys().filter(|&&j| j != instrument) {
                let same_quote = self
                    .listing
                    .instruments()
                    .get(j)
                    .is_some_and(|x| &x.quote == quote);
                if let (true, Some((p, cs_j, m_j))) = (same_quote, look(j)) {
                    let b_j = p.qty * cs_j;
                    b += (m_j - p.entry) * b_j - risk::maintenance_margin(b_j * m_j);
                }
            }
            b
        };
        Some(PositionRisk {
            mark,
            notional,
            upnl: upnl.round_dp(8),
            initial_margin: (notional.abs() / leverage).round_dp(8),
            maint_margin: risk::maintenance_margin(notional).round_dp(8),
            liq_price: risk::liquidation_price(base, pos.entry, backing, &tier),
            tier,
        })
    }

    /// Every funding payment booked (this run and, with a record, earlier runs), oldest first.
    pub fn funding_ledger(&self) -> &[FundingPayment] {
        &self.funding.ledger
    }

    /// The settlements of `instrument` the venue remembers, oldest first.
    pub fn settlements(&self, instrument: usize) -> Option<&VecDeque<Settlement>> {
        self.funding.history.get(&instrument)
    }

    /// Changes a balance from outside trading (a deposit, a withdrawal, a transfer elsewhere):
    /// recorded, and emitted as a balance change.
    pub fn transfer(
        &mut self,
        venue: Venue,
        wallet: Wallet,
        asset: &str,
        amount: Decimal,
        now_ms: i64,
    ) {
        *self
            .wallet_mut(wallet)
            .entry(asset.to_string())
            .or_default() += amount;
        self.write(
            venue,
            Line::Transfer {
                wallet,
                asset: asset.to_string(),
                amount,
                time_ms: now_ms,
            },
        );
        let balances = vec![self.balance_row(wallet, asset, amount)];
        self.emit(
            venue,
            now_ms,
            AccountEventKind::Account {
                reason: ChangeReason::Transfer,
                balances,
                positions: Vec::new(),
            },
        );
    }

    /// An order the venue itself places and fills in full at its price, whatever the book
    /// shows and without checking funds (a liquidation's close-out, a manual trade from the
    /// venue's website): accepted as IOC, executed, recorded and streamed like any other.
    /// Returns its position.
    pub fn system_order(&mut self, new: NewOrder, now_ms: i64) -> usize {
        let (qty, price) = (new.qty, new.price);
        let pos = self.accept(
            NewOrder {
                tif: TimeInForce::Ioc,
                ..new
            },
            now_ms,
        );
        self.execute(pos, qty, price, false, now_ms);
        pos
    }

    /// Gives `new` the next order id, records it and announces it; returns its position.
    fn accept(&mut self, new: NewOrder, now_ms: i64) -> usize {
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        let rec = AcceptedOrder {
            venue: new.venue,
            wallet: new.wallet,
            order_id,
            client_id: new.client_id,
            symbol: self.symbol(new.venue, new.instrument),
            side: new.side,
            qty: new.qty,
            price: new.price,
            tif: new.tif,
            reduce_only: new.reduce_only,
            auto_borrow: new.auto_borrow,
            stp: new.stp,
            time_ms: now_ms,
            fills: Vec::new(),
            finish: None,
            finish_ms: None,
        };
        self.write(new.venue, Line::Accepted { order: rec.clone() });
        let pos = self.insert(rec, new.instrument);
        self.emit_order(pos, now_ms, None);
        pos
    }
}

fn perp_contract_size(listing: &Listing, exchange: Exchange, instrument: usize) -> Decimal {
    listing
        .get(instrument, Venue::new(exchange, Market::Perp))
        .and_then(|l| l.spec.contract_size)
        .unwrap_or(Decimal::ONE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::market::MarketModel;

    fn v(s: &str) -> Venue {
        s.parse().unwrap()
    }

    fn listing() -> Arc<Listing> {
        Arc::new(Listing::new(&["BTC-USDT".to_string()], &Venue::ALL).unwrap())
    }

    fn config(balance: i64) -> AccountConfig {
        AccountConfig {
            balances: vec![("USDT".into(), Decimal::from(balance))],
            reject_one_in: 0,
            seed: 7,
            dead_man_speedup: 1,
            fee_rates: Vec::new(),
        }
    }

    /// An account of `exchange` and the market it trades against.
    fn setup(exchange: Exchange, balance: i64) -> (Account, Arc<MarketTick>) {
        let l = listing();
        let tick = Arc::clone(MarketModel::new(&l, 3, 100).current());
        (
            Account::open(exchange, l, &config(balance), None).unwrap(),
            tick,
        )
    }

    fn order(
        venue: &str,
        wallet: Wallet,
        side: Side,
        qty: &str,
        price: Decimal,
        tif: TimeInForce,
        id: &str,
    ) -> NewOrder {
        NewOrder {
            venue: v(venue),
            wallet,
            instrument: 0,
            side,
            qty: d(qty),
            price,
            tif,
            reduce_only: false,
            auto_borrow: false,
            client_id: id.into(),
            stp: String::new(),
        }
    }

    fn leg(tick: &MarketTick, venue: &str) -> LegTick {
        tick.leg(0, v(venue)).unwrap().clone()
    }

    #[test]
    fn an_id_kept_only_while_unfilled_is_free_again_once_its_order_traded() {
        let rule = Duplicates::WithinWhileUnfilled(6 * 3_600_000);
        let (mut a, tick) = setup(Exchange::Bitget, 1_000_000);
        let l = leg(&tick, "bitget-spot");
        let place = |a: &mut Account, price: Decimal, tif: TimeInForce, id: &str, at: i64| {
            a.place(
                order(
                    "bitget-spot",
                    Wallet::Margin,
                    Side::Buy,
                    "0.001",
                    price,
                    tif,
                    id,
                ),
                rule,
                PostOnlyCross::Cancel,
                &tick,
                at,
            )
        };
        // Unfilled (resting, or an IOC that met nothing): refused within the window.
        let rests = place(&mut a, l.bid - d("100"), TimeInForce::Gtc, "rest", 1_000).unwrap();
        assert_eq!(
            place(&mut a, l.bid - d("100"), TimeInForce::Gtc, "rest", 2_000),
            Err(Refusal::Duplicate(rests))
        );
        let missed = place(&mut a, l.bid - d("100"), TimeInForce::Ioc, "miss", 1_000).unwrap();
        assert_eq!(
            place(&mut a, l.bid - d("100"), TimeInForce::Ioc, "miss", 2_000),
            Err(Refusal::Duplicate(missed))
        );
        // Traded: the same id places a second order.
        let traded = place(&mut a, l.ask + d("100"), TimeInForce::Ioc, "took", 1_000).unwrap();
        assert!(!a.order(traded).filled.is_zero());
        let again = place(&mut a, l.ask + d("100"), TimeInForce::Ioc, "took", 2_000).unwrap();
        assert_ne!(again, traded);
    }

    #[test]
    fn duplicate_ids_follow_each_venue_rule() {
        // (rule, earlier order still open, ms since it was placed) -> refused
        let cases = [
            (Duplicates::WhileOpen, true, 0, true),
            (Duplicates::WhileOpen, false, 0, false),
            (Duplicates::Always, false, 1_000_000_000, true),
            (
                Duplicates::Within(6 * 3_600_000),
                false,
                6 * 3_600_000 - 1,
                true,
            ),
            (
                Duplicates::Within(6 * 3_600_000),
                false,
                6 * 3_600_000,
                false,
            ),
            (Duplicates::Allowed, true, 0, false),
        ];
        for (rule, open, later, refused) in cases {
            let (mut a, tick) = setup(Exchange::Bybit, 1_000_000);
            let bid = leg(&tick, "bybit-perp").bid - d("100");
            let first = a
                .place(
                    order(
                        "bybit-perp",
                        Wallet::Perp,
                        Side::Buy,
                        "0.001",
                        bid,
                        TimeInForce::Gtc,
                        "x",
                    ),
                    rule,
                    PostOnlyCross::Cancel,
                    &tick,
                    1_000,
                )
                .unwrap();
            if !open {
                a.cancel(
                    v("bybit-perp"),
                    &OrderKey::Id(a.order(first).rec.order_id),
                    1_000,
                )
                .unwrap();
            }
            let again = a.place(
                order(
                    "bybit-perp",
                    Wallet::Perp,
                    Side::Buy,
                    "0.001",
                    bid,
                    TimeInForce::Gtc,
                    "x",
                ),
                rule,
                PostOnlyCross::Cancel,
                &tick,
                1_000 + later,
            );
            assert_eq!(
                again == Err(Refusal::Duplicate(first)),
                refused,
                "{rule:?} open={open} +{later}"
            );
            // Orders without a client id are never duplicates.
            a.place(
                order(
                    "bybit-perp",
                    Wallet::Perp,
                    Side::Buy,
                    "0.001",
                    bid,
                    TimeInForce::Gtc,
                    "",
                ),
                Duplicates::Always,
                PostOnlyCross::Cancel,
                &tick,
                2_000,
            )
            .unwrap();
            a.place(
                order(
                    "bybit-perp",
                    Wallet::Perp,
                    Side::Buy,
                    "0.001",
                    bid,
                    TimeInForce::Gtc,
                    "",
                ),
                Duplicates::Always,
                PostOnlyCross::Cancel,
                &tick,
                2_000,
            )
            .unwrap();
        }
    }

    #[test]
    fn post_only_crossing_is_refused_or_cancelled_and_resting_orders_wait() {
        let (mut a, tick) = setup(Exchange::Okx, 1_000_000);
        let ask = leg(&tick, "okx-spot").ask;
        let crossing = || {
            order(
                "okx-spot",
                Wallet::Spot,
                Side::Buy,
                "0.01",
                ask,
                TimeInForce::PostOnly,
                "p",
            )
        };
        assert_eq!(
            a.place(
                crossing(),
                Duplicates::Allowed,
                PostOnlyCross::Refuse,
                &tick,
                1
            ),
            Err(Refusal::PostOnlyWouldTake)
        );
        assert!(
            a.accepted(v("okx-spot")).is_empty(),
            "a refused order is not recorded"
        );
        let pos = a
            .place(
                crossing(),
                Duplicates::Allowed,
                PostOnlyCross::Cancel,
                &tick,
                1,
            )
            .unwrap();
        assert_eq!(a.order(pos).rec.finish, Some(Finish::PostOnlyCanceled));
        assert!(a.order(pos).rec.fills.is_empty());
        // A GTC below the ask rests and reserves its quote; advancing within the same model
        // step does not fill it again.
        let pos = a
            .place(
                order(
                    "okx-spot",
                    Wallet::Spot,
                    Side::Buy,
                    "0.01",
                    ask - d("0.1"),
                    TimeInForce::Gtc,
                    "g",
                ),
                Duplicates::Allowed,
                PostOnlyCross::Cancel,
                &tick,
                1,
            )
            .unwrap();
        assert!(a.order(pos).is_open());
        assert_eq!(a.locked(Wallet::Spot, "USDT"), d("0.01") * (ask - d("0.1")));
        a.advance(&tick, 2);
        assert!(a.order(pos).is_open());
    }

    #[test]
    fn funds_and_reduce_only_are_checked_before_accepting() {
        let (mut a, tick) = setup(Exchange::Binance, 1_000);
        let l = leg(&tick, "binance-perp");
        let px = l.ask * d("1.01");
        let px = px.round_dp(1);
        // 0.2 BTC at 10x needs about 1300 USDT of margin: more than the 1000 held.
        let big = order(
            "binance-perp",
            Wallet::Perp,
            Side::Buy,
            "0.2",
            px,
            TimeInForce::Ioc,
            "a",
        );
        assert_eq!(
            a.place(big, Duplicates::WhileOpen, PostOnlyCross::Refuse, &tick, 1),
            Err(Refusal::Insufficient)
        );
        // Reduce-only with no position is refused.
        let mut ro = order(
            "binance-perp",
            Wallet::Perp,
            Side::Sell,
            "0.001",
            l.bid,
            TimeInForce::Ioc,
            "b",
        );
        ro.reduce_only = true;
        assert_eq!(
            a.place(
                ro.clone(),
                Duplicates::WhileOpen,
                PostOnlyCross::Refuse,
                &tick,
                1
            ),
            Err(Refusal::ReduceOnly)
        );
        // Buy 0.001, then a reduce-only sell of 0.005 closes only what is held.
        a.place(
            order(
                "binance-perp",
                Wallet::Perp,
                Side::Buy,
                "0.001",
                px,
                TimeInForce::Ioc,
                "c",
            ),
            Duplicates::WhileOpen,
            PostOnlyCross::Refuse,
            &tick,
            1,
        )
        .unwrap();
        assert_eq!(a.perp.position(0).qty, d("0.001"));
        ro.qty = d("0.005");
        ro.client_id = "d".into();
        let pos = a
            .place(ro, Duplicates::WhileOpen, PostOnlyCross::Refuse, &tick, 2)
            .unwrap();
        assert_eq!(a.order(pos).filled, d("0.001"));
        assert_eq!(a.order(pos).rec.finish, Some(Finish::Expired));
        assert!(a.perp.position(0).qty.is_zero());
        // Selling spot BTC the account does not hold.
        let sell = order(
            "binance-spot",
            Wallet::Spot,
            Side::Sell,
            "0.001",
            l.bid,
            TimeInForce::Ioc,
            "e",
        );
        assert_eq!(
            a.place(sell, Duplicates::WhileOpen, PostOnlyCross::Refuse, &tick, 3),
            Err(Refusal::Insufficient)
        );
    }

    #[test]
    fn margin_sells_borrow_and_later_buys_repay() {
        let (mut a, tick) = setup(Exchange::Gate, 1_000_000);
        let l = leg(&tick, "gate-spot");
        let small = |side, id: &str, borrow| {
            let mut o = order(
                "gate-spot",
                Wallet::Margin,
                side,
                "0.001",
                if side == Side::Sell { l.bid } else { l.ask },
                TimeInForce::Ioc,
                id,
            );
            o.auto_borrow = borrow;
            o
        };
        assert_eq!(
            a.place(
                small(Side::Sell, "s0", false),
                Duplicates::Allowed,
                PostOnlyCross::Refuse,
                &tick,
                1
            ),
            Err(Refusal::Insufficient)
        );
        a.place(
            small(Side::Sell, "s1", true),
            Duplicates::Allowed,
            PostOnlyCross::Refuse,
            &tick,
            1,
        )
        .unwrap();
        assert_eq!(a.margin.borrowed["BTC"], d("0.001"));
        assert!(a.margin.assets["BTC"].is_zero());
        // Gate charges 0.2 % of a buy in BTC, so buying 0.001 back repays 0.000998.
        a.place(
            small(Side::Buy, "b1", false),
            Duplicates::Allowed,
            PostOnlyCross::Refuse,
            &tick,
            2,
        )
        .unwrap();
        assert_eq!(a.margin.borrowed["BTC"], d("0.000002"));
        assert!(a.margin.assets["BTC"].is_zero());
    }

    #[test]
    fn realtime_keeps_the_last_500_orders_closed_this_run() {
        let (mut a, tick) = setup(Exchange::Bybit, 1_000_000);
        let bid = leg(&tick, "bybit-spot").bid - d("100");
        for i in 0..501 {
            let pos = a
                .place(
                    order(
                        "bybit-spot",
                        Wallet::Spot,
                        Side::Buy,
                        "0.00001",
                        bid,
                        TimeInForce::Gtc,
                        &format!("o{i}"),
                    ),
                    Duplicates::Always,
                    PostOnlyCross::Cancel,
                    &tick,
                    i,
                )
                .unwrap();
            a.cancel(v("bybit-spot"), &OrderKey::Id(a.order(pos).rec.order_id), i)
                .unwrap();
        }
        let ids: Vec<&str> = a
            .recently_closed(v("bybit-spot"))
            .map(|o| o.rec.client_id.as_str())
            .collect();
        assert_eq!(ids.len(), 500);
        assert_eq!(
            (ids[0], ids[499]),
            ("o500", "o1"),
            "newest first; o0 fell out"
        );
        assert!(a.recently_closed(v("bybit-perp")).next().is_none());
    }

    #[test]
    fn countdowns_fire_once_and_renewing_ones_wait_for_the_next_request() {
        let (mut a, tick) = setup(Exchange::Okx, 1_000_000);
        let bid = leg(&tick, "okx-perp").bid - d("100");
        let rest = |a: &mut Account, id: &str| {
            a.place(
                order(
                    "okx-perp",
                    Wallet::Perp,
                    Side::Buy,
                    "1",
                    bid,
                    TimeInForce::Gtc,
                    id,
                ),
                Duplicates::WhileOpen,
                PostOnlyCross::Cancel,
                &tick,
                0,
            )
            .unwrap()
        };
        let one = rest(&mut a, "one");
        assert_eq!(
            a.set_countdown(&[v("okx-perp")], None, 10_000, false, 0),
            Some(10_000)
        );
        a.advance(&tick, 9_999);
        assert!(a.order(one).is_open());
        a.advance(&tick, 10_000);
        assert_eq!(a.order(one).rec.finish, Some(Finish::DeadMan));
        // Spent: a later order is not cancelled.
        let two = rest(&mut a, "two");
        a.advance(&tick, 50_000);
        assert!(a.order(two).is_open());
        // A renewing switch is pushed back by every renewal.
        a.set_countdown(&[v("okx-perp")], None, 3_000, true, 50_000);
        a.renew_countdowns(52_000);
        a.advance(&tick, 54_000);
        assert!(a.order(two).is_open());
        a.advance(&tick, 55_000);
        assert_eq!(a.order(two).rec.finish, Some(Finish::DeadMan));
        assert_eq!(a.renewing_window(&[v("okx-perp")]), Some(3_000));
        // Disarming removes it.
        assert_eq!(
            a.set_countdown(&[v("okx-perp")], None, 0, true, 60_000),
            None
        );
        assert_eq!(a.renewing_window(&[v("okx-perp")]), None);
    }

    #[test]
    fn replaying_the_record_rebuilds_the_same_account() {
        let dir = tempfile::tempdir().unwrap();
        let l = listing();
        let tick = Arc::clone(MarketModel::new(&l, 3, 100).current());
        let (bid, ask) = (leg(&tick, "bitget-perp").bid, leg(&tick, "bitget-perp").ask);
        let mut a = Account::open(
            Exchange::Bitget,
            Arc::clone(&l),
            &config(1_000_000),
            Some(dir.path()),
        )
        .unwrap();
        let any = |a: &mut Account, o| {
            a.place(o, Duplicates::Allowed, PostOnlyCross::Cancel, &tick, 5)
                .unwrap()
        };
        any(
            &mut a,
            order(
                "bitget-perp",
                Wallet::Perp,
                Side::Buy,
                "10",
                ask * d("2"),
                TimeInForce::Ioc,
                "p",
            ),
        );
        any(
            &mut a,
            order(
                "bitget-perp",
                Wallet::Perp,
                Side::Sell,
                "0.5",
                bid / d("2"),
                TimeInForce::Ioc,
                "q",
            ),
        );
        any(
            &mut a,
            order(
                "bitget-spot",
                Wallet::Spot,
                Side::Buy,
                "0.5",
                ask * d("2"),
                TimeInForce::Ioc,
                "r",
            ),
        );
        any(
            &mut a,
            order(
                "bitget-spot",
                Wallet::Spot,
                Side::Buy,
                "0.1",
                bid - d("100"),
                TimeInForce::Gtc,
                "s",
            ),
        );
        a.set_leverage(v("bitget-perp"), 0, 4, 6);
        let b = Account::open(Exchange::Bitget, l, &config(1_000_000), Some(dir.path())).unwrap();
        assert_eq!(b.accepted(v("bitget-perp")), a.accepted(v("bitget-perp")));
        assert_eq!(b.accepted(v("bitget-spot")), a.accepted(v("bitget-spot")));
        assert_eq!(b.perp.positions, a.perp.positions);
        assert_eq!(b.perp.balances, a.perp.balances);
        assert_eq!(b.spot, a.spot);
        assert_eq!(b.perp.leverage(0), 4);
        assert_eq!(b.open_orders(v("bitget-spot"), None).len(), 1);
        assert_eq!(b.next_order_id(), a.next_order_id());
        assert!(b.events_after(0).is_empty(), "replay is not news");
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn funding_settles_each_grid_time_records_it_and_replays() {
        let dir = tempfile::tempdir().unwrap();
        // One funding hour is 1 s: Binance's 8 h BTC settles every 8 s.
        let l = Arc::new(listing().as_ref().clone().with_funding_hour(1_000));
        let tick = Arc::clone(MarketModel::new(&l, 3, 100).current());
        let leg = leg(&tick, "binance-perp");
        let mut a = Account::open(
            Exchange::Binance,
            Arc::clone(&l),
            &config(1_000_000),
            Some(dir.path()),
        )
        .unwrap();
        // The clock starts at 3 s: nothing settles for the time before.
        a.advance(&tick, 3_000);
        a.place(
            order(
                "binance-perp",
                Wallet::Perp,
                Side::Sell,
                "0.002",
                leg.bid,
                TimeInForce::Ioc,
                "s",
            ),
            Duplicates::WhileOpen,
            PostOnlyCross::Refuse,
            &tick,
            3_000,
        )
        .unwrap();
        let held = a.perp.position(0).qty;
        assert!(held < Decimal::ZERO);
        let before = a.perp.balances["USDT"];
        // 3 s -> 17 s passes the settlements at 8 s and 16 s.
        a.advance(&tick, 17_000);
        let paid = a.funding_ledger().to_vec();
        let times: Vec<i64> = paid.iter().map(|p| p.time_ms).collect();
        assert_eq!(times, vec![8_000, 16_000]);
        let each = funding_amount(held, Decimal::ONE, leg.mark, leg.funding_rate);
        assert!(paid.iter().all(|p| p.amount == each && p.position == held));
        assert_eq!(a.perp.balances["USDT"], before + each + each);
        assert_eq!(paid[1].balance, a.perp.balances["USDT"]);
        assert_eq!(
            a.settlements(0).map(|h| h.len()),
            Some(2),
            "the venue remembers what settled"
        );
        let kinds: Vec<bool> = a
            .events_after(0)
            .iter()
            .map(|e| matches!(e.kind, AccountEventKind::Funding(_)))
            .collect();
        assert_eq!(kinds.iter().filter(|k| **k).count(), 2);
        // The record replays the payments into the same balance.
        let b = Account::open(Exchange::Binance, l, &config(1_000_000), Some(dir.path())).unwrap();
        assert_eq!(b.perp.balances, a.perp.balances);
        assert_eq!(b.funding_ledger(), a.funding_ledger());
    }

    #[test]
    fn events_after_a_number_are_the_later_ones_even_once_old_ones_are_dropped() {
        let (mut a, _) = setup(Exchange::Gate, 1_000);
        for i in 0..(EVENT_CAPACITY as i64 + 5) {
            a.transfer(v("gate-spot"), Wallet::Spot, "USDT", Decimal::ONE, i);
        }
        let last = a.last_seq();
        assert_eq!(last, EVENT_CAPACITY as u64 + 5);
        let seqs =
            |after: u64| -> Vec<u64> { a.events_after(after).iter().map(|e| e.seq).collect() };
        assert_eq!(seqs(last - 2), vec![last - 1, last]);
        assert!(seqs(last).is_empty());
        // The first five were dropped: asking from before them gives everything kept.
        assert_eq!(seqs(0).len(), EVENT_CAPACITY);
        assert_eq!(seqs(3)[0], 6);
    }

    #[test]
    fn system_orders_fill_in_full_and_transfers_move_balances() {
        let (mut a, tick) = setup(Exchange::Okx, 1_000);
        let mark = leg(&tick, "okx-perp").mark;
        // More than the touch and than the margin would allow: a venue's own order ignores both.
        let mut o = order(
            "okx-perp",
            Wallet::Perp,
            Side::Buy,
            "100000",
            mark,
            TimeInForce::Ioc,
            "",
        );
        o.reduce_only = false;
        let pos = a.system_order(o, 5);
        assert_eq!(a.order(pos).rec.finish, Some(Finish::Filled));
        assert_eq!(a.perp.position(0).qty, d("100000"));
        a.transfer(v("okx-spot"), Wallet::Spot, "USDT", d("-250"), 6);
        assert_eq!(a.spot["USDT"], d("750"));
        let last = a.events_after(0).pop().unwrap();
        assert!(matches!(
            last.kind,
            AccountEventKind::Account {
                reason: ChangeReason::Transfer,
                ..
            }
        ));
    }

    #[test]
    fn positions_average_in_realize_out_and_flip() {
        // (start qty, entry, delta, price, contract size) -> (qty, entry, realized)
        let cases = [
            ("0", "0", "2", "100", "1", "2", "100", "0"),
            ("2", "100", "2", "110", "1", "4", "105", "0"),
            ("4", "105", "-1", "115", "1", "3", "105", "10"),
            ("3", "105", "-3", "95", "1", "0", "0", "-30"),
            ("-2", "100", "3", "90", "1", "1", "90", "20"),
            // OKX contracts of 0.01 BTC: closing 5 contracts 1000 higher is 50.
            ("10", "65000", "-5", "66000", "0.01", "5", "65000", "50"),
            ("-10", "65000", "-10", "64000", "0.01", "-20", "64500", "0"),
        ];
        for (q, e, delta, px, cs, want_q, want_e, want_r) in cases {
            let mut p = Position {
                qty: d(q),
                entry: d(e),
                realized: Decimal::ZERO,
            };
            let r = move_position(&mut p, d(delta), d(px), d(cs));
            assert_eq!(
                (p.qty, p.entry.normalize(), r),
                (d(want_q), d(want_e), d(want_r)),
                "{q}@{e} {delta}@{px}"
            );
        }
    }

    #[test]
    fn fees_follow_the_venue_and_the_side() {
        use FeeAsset::{Base, Quote};
        // (venue, wallet, side, base qty, price, maker) -> (fee, asset)
        let cases = [
            // A Binance spot buy of 0.01 BTC pays 0.1 % of the base it receives.
            (
                "binance-spot",
                Wallet::Spot,
                Side::Buy,
                "0.01",
                "65000",
                false,
                "0.00001",
                Base,
            ),
            // A sell pays in quote: 0.01 × 65000 × 0.001.
            (
                "binance-spot",
                Wallet::Spot,
                Side::Sell,
                "0.01",
                "65000",
                false,
                "0.65",
                Quote,
            ),
            // Margin buys too pay in base.
            (
                "okx-spot",
                Wallet::Margin,
                Side::Buy,
                "1",
                "100",
                true,
                "0.0008",
                Base,
            ),
            // Perp taker 0.05 % of notional, in quote, either side.
            (
                "binance-perp",
                Wallet::Perp,
                Side::Buy,
                "0.1",
                "65000",
                false,
                "3.25",
                Quote,
            ),
            // Gate futures makers earn a rebate: a negative fee.
            (
                "gate-perp",
                Wallet::Perp,
                Side::Sell,
                "0.1",
                "65000",
                true,
                "-1.625",
                Quote,
            ),
            // Rounded to 8 decimals, half away from zero: 0.000000055.
            (
                "bybit-perp",
                Wallet::Perp,
                Side::Buy,
                "0.001",
                "0.1",
                false,
                "0.00000006",
                Quote,
            ),
        ];
        for (venue, wallet, side, qty, px, maker, fee, asset) in cases {
            let venue: Venue = venue.parse().unwrap();
            assert_eq!(
                fill_fee(base_fee_rate(venue, maker), wallet, side, d(qty), d(px)),
                (d(fee), asset),
                "{venue} {side:?} maker={maker}"
            );
        }
    }
}

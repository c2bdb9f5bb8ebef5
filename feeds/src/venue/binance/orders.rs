//! Binance order entry over REST: USDⓈ-M futures (`binance-perp`, `/fapi/v1/...`), spot
//! (`binance-spot`, `/api/v3/...`) and, when the account shorts spot on margin
//! ([`ApiConfig::margin_spot`]), cross-margin spot (`/sapi/v1/margin/...`). This is the
//! [`OrderApi`] a [`LiveGateway`](crate::gateway::live::LiveGateway) drives; what every venue
//! shares (clock, budget, backlog, unknown outcomes) is there.
//!
//! **Requests.** Every parameter goes in the query string, in a fixed order, with `recvWindow`
//! and `timestamp` last and `signature` appended after them ([`super::sign`]); bodies are empty.
//! Orders are `LIMIT` with `timeInForce` `IOC` or `GTC`, `quantity` from the intent's
//! `qty_venue` and `price` from its `price` (exact decimals in plain notation), the client order
//! id in `newClientOrderId`, `selfTradePreventionMode=EXPIRE_TAKER` on every order, and
//! `reduceOnly=true` on reducing perp orders. Each order asks for the richest answer the venue
//! gives in the same round trip: futures `newOrderRespType=RESULT` (status, executed quantity,
//! average price), spot `FULL` (the fills with their commission and its asset), so an IOC
//! order's outcome is known from its place answer. Margin orders add `isIsolated=FALSE` and a
//! side effect: `AUTO_BORROW_REPAY` on sells (borrow the base asset a short sells, repay it when
//! cancelled), `AUTO_REPAY` on buys (what a buy receives repays the loan first).
//!
//! **Answers.** Statuses `NEW`/`PARTIALLY_FILLED` are open, `FILLED` filled, `CANCELED`,
//! `EXPIRED` and `EXPIRED_IN_MATCH` (self-trade prevention) ended, `REJECTED` rejected. A spot
//! buy pays its commission in the base asset (unless the account pays in BNB): the fills of a
//! `FULL` answer say how much, and the gateway reports the net quantity received. Spot query and
//! cancel answers carry no commission, so the fees of each spot order learned from a `FULL`
//! answer are kept (the last [`KNOWN_SPOT_ORDERS`] orders); a query or cancel answer showing
//! more executed than is known is not reported as it stands (it would overstate what a buy
//! received): it reads as `Unknown`, and the next query of that order asks the account's trade
//! list (`myTrades` by order id) instead, which has the commissions. The futures answers carry
//! no commission at all: perp reports say fee 0 (see the gateway report for the user stream that
//! will carry them).
//!
//! **Refusals** map to a [`Reading`] as follows (the venue's code is kept for logs; HTTP-only
//! answers keep the HTTP status as their code):
//!
//! | answer | reading |
//! |---|---|
//! | HTTP 429 (`-1003` weight, `-1015` orders), HTTP 418 (IP ban), `-1003`, `-1008` (futures overload), `-1015` | `Throttled`, `Retry-After` seconds where sent |
//! | HTTP 5xx (any body), `-1000`, `-1001`, `-1006`, `-1007` (spot "execution status unknown"), HTTP 408, a 200 that cannot be read | `Unknown` |
//! | `-1021` (timestamp outside `recvWindow` or ahead), `-5028` (futures matching-engine `recvWindow`) | `Timestamp` |
//! | `-4116` (futures), `-2010` "Duplicate order sent." (spot: only while the first is open) | `Duplicate` |
//! | `-2011` "Unknown order sent." (cancel), `-2013` (query), `-2026` (archived, no fills) | `NotFound` |
//! | `-1002`, `-1022` (signature), `-2008`, `-2014`, `-2015` (key, IP, permissions), HTTP 401 | `Rejected(Auth)` |
//! | `-2018`, `-2019`, any message with "insufficient balance" (spot `-2010`) | `Rejected(InsufficientBalance)` |
//! | `-2022`, `-4118` | `Rejected(ReduceOnly)` |
//! | `-5022` (futures GTX), `-2010` "Order would immediately match and take." | `Rejected(PostOnly)` |
//! | `-4003`, `-4004`, `-4005`, `-4023`, `-4164`, `-1013` naming `LOT_SIZE`, `MARKET_LOT_SIZE`, `MIN_NOTIONAL`, `NOTIONAL` or `MAX_POSITION` | `Rejected(InvalidQuantity)` |
//! | `-4001`, `-4002`, `-4013`, `-4014`, `-4016`, `-4024`, `-1013` naming `PRICE_FILTER` or `PERCENT_PRICE*` | `Rejected(InvalidPrice)` |
//! | any other code, another 4xx | `Rejected(Other)` |
//!
//! **Resending is not safe here.** Binance refuses a client order id as a duplicate only while
//! the first order with it is open; once that order has filled or been cancelled, the same id is
//! accepted as a new order. Resolving an unknown outcome by resending (`resolve = "resend"`)
//! could therefore trade twice, and is refused at config load for Binance: an unknown order is
//! resolved by query. A `-2013` is final for carry's orders: Binance keeps every order with a fill
//! for 90 days and an unfilled cancelled one for 3 days, so the lookup by client id is not
//! windowed the way Gate's or Bybit's is ([`OrderApi::lookup_is_windowed`] is `false`), and the
//! trade history search (`Call::Fills`) asks what a query asks.
//!
//! **Account.** At start ([`OrderApi::build_setup`], futures only): `GET
//! /fapi/v1/positionSide/dual` must say `false` (carry refuses hedge mode and says how to switch),
//! `POST /fapi/v1/marginType` `CROSSED` per symbol (`-4046` "No need to change margin type." is
//! success), `POST /fapi/v1/leverage` per symbol. Resting futures orders are covered by the
//! dead-man switch `POST /fapi/v1/countdownCancelAll`; spot has none. Order budgets are the
//! documented per-account limits (futures 300 per 10 s and 1200 per minute, spot 50 per 10 s and
//! 160 000 per day), corrected by the `X-MBX-ORDER-COUNT-*` headers; while the IP's request
//! weight (`X-MBX-USED-WEIGHT-1M`) is within 5 % of its documented limit, new orders wait.

use std::borrow::Cow;

use carry_engine::execution::client_id::ClientOrderId;
use carry_engine::execution::order::{OrderIntent, OrderStatus, RejectReason, Side, TimeInForce};
use carry_engine::{Market, Venue};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::sign;
use crate::gateway::budget::{Limit, RateBudget};
use crate::gateway::credentials::Secret;
use crate::gateway::http::Answer;
use crate::gateway::live::{ApiConfig, Call, OrderApi, OrderState, Reading, Setup};
use crate::gateway::request::{Method, Request};
use crate::gateway::signer::Signer;
use crate::venue::symbols::split_concatenated;

/// USDⓈ-M futures order limits per account: 300 per 10 s and 1200 per minute.
pub const PERP_ORDER_LIMITS: [Limit; 2] = [
    Limit {
        count: 300,
        window_ms: 10_000,
    },
    Limit {
        count: 1_200,
        window_ms: 60_000,
    },
];

/// Spot (and margin) order limits per account: 50 per 10 s and 160 000 per day.
pub const SPOT_ORDER_LIMITS: [Limit; 2] = [
    Limit {
        count: 50,
        window_ms: 10_000,
    },
    Limit {
        count: 160_000,
        window_ms: 86_400_000,
    },
];

/// The headers read after every answer; positions matter ([`USAGE`]).
static PERP_HEADERS: [&str; 4] = [
    "Retry-After",
    "X-MBX-ORDER-COUNT-10S",
    "X-MBX-ORDER-COUNT-1M",
    "X-MBX-USED-WEIGHT-1M",
];
static SPOT_HEADERS: [&str; 4] = [
    "Retry-After",
    "X-MBX-ORDER-COUNT-10S",
    "X-MBX-ORDER-COUNT-1D",
    "X-MBX-USED-WEIGHT-1M",
];

/// Where each header sits in the kept headers, and the window of each order count.
struct Usage {
    retry_after: usize,
    order_counts: [(usize, u64); 2],
    weight: usize,
}

const USAGE: [Usage; 2] = [
    // Perp.
    Usage {
        retry_after: 0,
        order_counts: [(1, 10_000), (2, 60_000)],
        weight: 3,
    },
    // Spot.
    Usage {
        retry_after: 0,
        order_counts: [(1, 10_000), (2, 86_400_000)],
        weight: 3,
    },
];

/// The documented request weight per minute per IP: 2400 on futures, 6000 on spot.
const WEIGHT_LIMIT: [u32; 2] = [2_400, 6_000];

/// New orders wait while the IP's used weight is at least this share of its limit, in %.
const WEIGHT_GUARD_PERCENT: u32 = 95;

/// How long new orders wait after an answer reported the weight near its limit.
const WEIGHT_PAUSE_MS: u64 = 1_000;

/// Spot orders whose fees carry remembers (a ring, oldest forgotten first).
pub const KNOWN_SPOT_ORDERS: usize = 256;

/// The self-trade prevention mode on every order: the incoming order expires.
const STP: &str = "EXPIRE_TAKER";

/// The endpoints of one wallet.
struct Paths {
    order: &'static str,
    trades: &'static str,
    time: &'static str,
}

const PERP_PATHS: Paths = Paths {
    order: "/fapi/v1/order",
    trades: "/fapi/v1/userTrades",
    time: "/fapi/v1/time",
};
const SPOT_PATHS: Paths = Paths {
    order: "/api/v3/order",
    trades: "/api/v3/myTrades",
    time: "/api/v3/time",
};
const MARGIN_PATHS: Paths = Paths {
    order: "/sapi/v1/margin/order",
    trades: "/sapi/v1/margin/myTrades",
    time: "/api/v3/time",
};

/// What the request built last asks for, so its answer is read as what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asked {
    Order,
    Trades,
}

/// What carry knows of one spot order's fills and fees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KnownFills {
    cid: ClientOrderId,
    order_id: u64,
    /// Executed quantity the fees below are for.
    executed: Decimal,
    fee_base: Decimal,
    fee_quote: Decimal,
    /// An answer showed more executed than `executed`: the status it gave, until the trade list
    /// has been read.
    pending: Option<OrderStatus>,
}

/// The last [`KNOWN_SPOT_ORDERS`] spot orders' fills, in a ring allocated once.
#[derive(Debug)]
struct FillBook {
    rows: Vec<KnownFills>,
    next: usize,
}

impl FillBook {
    fn new() -> FillBook {
        FillBook {
            rows: Vec::with_capacity(KNOWN_SPOT_ORDERS),
            next: 0,
        }
    }

    fn get(&self, cid: &ClientOrderId) -> Option<&KnownFills> {
        self.rows.iter().find(|r| r.cid == *cid)
    }

    fn put(&mut self, known: KnownFills) {
        if let Some(row) = self.rows.iter_mut().find(|r| r.cid == known.cid) {
            *row = known;
        } else if self.rows.len() < KNOWN_SPOT_ORDERS {
            self.rows.push(known);
        } else {
            self.rows[self.next] = known;
            self.next = (self.next + 1) % KNOWN_SPOT_ORDERS;
        }
    }
}

/// One Binance market's order API (perp, spot, or spot through the margin account).
pub struct BinanceOrders {
    venue: Venue,
    margin: bool,
    recv_window_ms: i64,
    key: Secret,
    signer: Signer,
    limits: &'static [Limit],
    /// The symbol of the request built last: tells a fee's base asset from its quote asset.
    symbol: String,
    asked: Asked,
    fills: FillBook,
}

impl std::fmt::Debug for BinanceOrders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BinanceOrders")
            .field("venue", &self.venue)
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl BinanceOrders {
    /// The order API of `venue` (`binance-perp` or `binance-spot`) for the account in `config`.
    /// Spot goes through the margin account when `config.margin_spot` is set.
    pub fn new(venue: Venue, config: &ApiConfig) -> BinanceOrders {
        debug_assert_eq!(venue.exchange, carry_engine::Exchange::Binance);
        BinanceOrders {
            venue,
            margin: config.margin_spot && !venue.is_perp(),
            recv_window_ms: i64::from(config.recv_window_ms),
            key: config.credentials.key.clone(),
            signer: Signer::sha256(&config.credentials.secret),
            limits: if venue.is_perp() {
                &PERP_ORDER_LIMITS
            } else {
                &SPOT_ORDER_LIMITS
            },
            symbol: String::with_capacity(32),
            asked: Asked::Order,
            fills: FillBook::new(),
        }
    }

    /// Replaces the documented order limits (an account with raised limits; tests that need a
    /// limit reached within a second).
    pub fn with_order_limits(mut self, limits: &'static [Limit]) -> BinanceOrders {
        self.limits = limits;
        self
    }

    fn paths(&self) -> &'static Paths {
        match (self.venue.market, self.margin) {
            (Market::Perp, _) => &PERP_PATHS,
            (Market::Spot, false) => &SPOT_PATHS,
            (Market::Spot, true) => &MARGIN_PATHS,
        }
    }

    fn market_index(&self) -> usize {
        match self.venue.market {
            Market::Perp => 0,
            Market::Spot => 1,
        }
    }

    /// `symbol`, and `isIsolated=FALSE` on the margin account.
    fn symbol_params(&self, symbol: &str, req: &mut Request) {
        req.query("symbol", symbol);
        if self.margin {
            req.query("isIsolated", "FALSE");
        }
    }

    /// Appends `recvWindow` and `timestamp`, then the signature, and sets the key header.
    fn sign(&self, venue_ms: i64, req: &mut Request) {
        req.query_int("recvWindow", self.recv_window_ms);
        req.query_int("timestamp", venue_ms);
        sign::sign(&self.signer, self.key.expose(), req);
    }

    fn read_order(&mut self, call: Call, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        let unknown = Reading::Unknown {
            code: i32::from(answer.status),
        };
        let Ok(body) = serde_json::from_slice::<OrderBody<'_>>(answer.body) else {
            return unknown;
        };
        // A spot cancel answer's `clientOrderId` names the cancel; the order is the original.
        let named = if call == Call::Cancel && !self.venue.is_perp() {
            body.orig_client_order_id.as_deref()
        } else {
            body.client_order_id.as_deref()
        };
        if named.is_some_and(|id| id != order.client_order_id.as_str()) {
            return unknown;
        }
        let status = match body.status.as_deref() {
            Some(s) => match order_status(s) {
                Some(st) => st,
                None => return unknown,
            },
            // A spot `ACK` answer: accepted, nothing known yet (the gateway follows up).
            None if call == Call::Place => OrderStatus::Open,
            None => return unknown,
        };
        let Some(executed) = opt_decimal(body.executed_qty.as_deref()) else {
            return unknown;
        };
        let avg = if executed.is_zero() {
            Decimal::ZERO
        } else {
            match average_price(&body, executed) {
                Some(p) => p,
                // Filled, but at what price the answer does not say: ask again.
                None => return unknown,
            }
        };
        let mut state = OrderState {
            status,
            cum_qty: executed,
            avg_price: avg,
            fee_quote: Decimal::ZERO,
            fee_base: Decimal::ZERO,
        };
        if self.venue.is_perp() || executed.is_zero() {
            return Reading::Order(state);
        }
        let cid = order.client_order_id;
        if let Some(fills) = &body.fills {
            let commissions = fills
                .iter()
                .map(|f| (f.commission.as_ref(), f.commission_asset.as_ref()));
            let Some((fee_base, fee_quote)) = fees(&self.symbol, commissions) else {
                return unknown;
            };
            state.fee_base = fee_base;
            state.fee_quote = fee_quote;
            self.fills.put(KnownFills {
                cid,
                order_id: body.order_id,
                executed,
                fee_base,
                fee_quote,
                pending: None,
            });
            return Reading::Order(state);
        }
        match self.fills.get(&cid) {
            Some(k) if k.executed == executed && k.pending.is_none() => {
                state.fee_base = k.fee_base;
                state.fee_quote = k.fee_quote;
                Reading::Order(state)
            }
            known => {
                // More executed than carry has fees for: the trade list says how much the
                // commission took. Until then, nothing is reported.
                let mut k = known.copied().unwrap_or(KnownFills {
                    cid,
                    order_id: body.order_id,
                    executed: Decimal::ZERO,
                    fee_base: Decimal::ZERO,
                    fee_quote: Decimal::ZERO,
                    pending: None,
                });
                k.order_id = body.order_id;
                k.pending = Some(status);
                self.fills.put(k);
                Reading::Unknown { code: 0 }
            }
        }
    }

    /// Reads a spot trade list asked for an order whose fees were not known.
    fn read_trades(&mut self, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        let unknown = Reading::Unknown {
            code: i32::from(answer.status),
        };
        let cid = order.client_order_id;
        let Some(known) = self.fills.get(&cid).copied() else {
            return unknown;
        };
        let Some(status) = known.pending else {
            return unknown;
        };
        let Ok(rows) = serde_json::from_slice::<Vec<TradeRow<'_>>>(answer.body) else {
            return unknown;
        };
        let mine = || rows.iter().filter(|r| r.order_id == known.order_id);
        let mut qty = Decimal::ZERO;
        let mut value = Decimal::ZERO;
        for row in mine() {
            let (Some(q), Some(p)) = (decimal(&row.qty), decimal(&row.price)) else {
                return unknown;
            };
            qty += q;
            value += q * p;
        }
        if qty < known.executed || qty.is_zero() {
            // The trade list is behind the order: ask again later.
            return unknown;
        }
        let commissions = mine().map(|r| (r.commission.as_ref(), r.commission_asset.as_ref()));
        let Some((fee_base, fee_quote)) = fees(&self.symbol, commissions) else {
            return unknown;
        };
        self.fills.put(KnownFills {
            executed: qty,
            fee_base,
            fee_quote,
            pending: None,
            ..known
        });
        Reading::Order(OrderState {
            status,
            cum_qty: qty,
            avg_price: value.checked_div(qty).unwrap_or_default(),
            fee_quote,
            fee_base,
        })
    }
}

/// An order answer of either market (place, cancel, query), every field optional: `ACK`
/// answers have few, and which fields futures answers keep has changed over time.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderBody<'a> {
    #[serde(default)]
    order_id: u64,
    #[serde(borrow, default)]
    client_order_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    orig_client_order_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    executed_qty: Option<Cow<'a, str>>,
    /// Futures.
    #[serde(borrow, default)]
    avg_price: Option<Cow<'a, str>>,
    /// Futures.
    #[serde(borrow, default)]
    cum_quote: Option<Cow<'a, str>>,
    /// Spot (sic).
    #[serde(borrow, default)]
    cummulative_quote_qty: Option<Cow<'a, str>>,
    /// Spot `FULL`.
    #[serde(borrow, default)]
    fills: Option<Vec<FillRow<'a>>>,
}

/// One fill of a spot `FULL` answer (its price and quantity are in the order's totals).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FillRow<'a> {
    #[serde(borrow)]
    commission: Cow<'a, str>,
    #[serde(borrow)]
    commission_asset: Cow<'a, str>,
}

/// One row of a spot trade list (`myTrades`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TradeRow<'a> {
    order_id: u64,
    #[serde(borrow)]
    price: Cow<'a, str>,
    #[serde(borrow)]
    qty: Cow<'a, str>,
    #[serde(borrow)]
    commission: Cow<'a, str>,
    #[serde(borrow)]
    commission_asset: Cow<'a, str>,
}

/// An error answer.
#[derive(Deserialize)]
struct ErrorBody<'a> {
    code: i64,
    #[serde(borrow, default)]
    msg: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerTime {
    server_time: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PositionMode {
    dual_side_position: bool,
}

#[derive(Deserialize)]
struct LeverageAnswer {
    leverage: u32,
}

fn decimal(s: &str) -> Option<Decimal> {
    s.trim().parse().ok()
}

/// A missing field is zero; a present one must parse.
fn opt_decimal(s: Option<&str>) -> Option<Decimal> {
    match s {
        None => Some(Decimal::ZERO),
        Some(s) => decimal(s),
    }
}

/// The average price of an answer with `executed > 0`: futures `avgPrice`, else the quote
/// amount over the quantity. `None` when the answer has neither.
fn average_price(body: &OrderBody<'_>, executed: Decimal) -> Option<Decimal> {
    if let Some(avg) = body.avg_price.as_deref().and_then(decimal) {
        if avg > Decimal::ZERO {
            return Some(avg);
        }
    }
    let quote = body
        .cum_quote
        .as_deref()
        .or(body.cummulative_quote_qty.as_deref())
        .and_then(decimal)?;
    // Some historical spot orders print a negative quote amount: "not available".
    if quote <= Decimal::ZERO {
        return None;
    }
    quote.checked_div(executed)
}

/// Binance's order status.
pub fn order_status(s: &str) -> Option<OrderStatus> {
    Some(match s {
        "NEW" | "PARTIALLY_FILLED" | "PENDING_NEW" | "PENDING_CANCEL" => OrderStatus::Open,
        "FILLED" => OrderStatus::Filled,
        "CANCELED" | "EXPIRED" | "EXPIRED_IN_MATCH" => OrderStatus::Canceled,
        "REJECTED" => OrderStatus::Rejected,
        _ => return None,
    })
}

/// Which side of `symbol` a commission asset is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FeeAsset {
    Base,
    Quote,
    /// Paid from another balance (BNB): neither the position nor the quote amount changes.
    Other,
}

fn fee_asset(symbol: &str, asset: &str) -> FeeAsset {
    match split_concatenated(symbol) {
        Some((base, _)) if base == asset => FeeAsset::Base,
        Some((_, quote)) if quote == asset => FeeAsset::Quote,
        Some(_) => FeeAsset::Other,
        None if !asset.is_empty() && symbol.len() > asset.len() && symbol.ends_with(asset) => {
            FeeAsset::Quote
        }
        None if !asset.is_empty() && symbol.len() > asset.len() && symbol.starts_with(asset) => {
            FeeAsset::Base
        }
        None => FeeAsset::Other,
    }
}

/// The commissions `(amount, asset)` in the base and the quote asset of `symbol`; `None` when
/// an amount does not parse.
fn fees<'x>(
    symbol: &str,
    commissions: impl Iterator<Item = (&'x str, &'x str)>,
) -> Option<(Decimal, Decimal)> {
    let (mut base, mut quote) = (Decimal::ZERO, Decimal::ZERO);
    for (amount, asset) in commissions {
        let fee = decimal(amount)?;
        match fee_asset(symbol, asset) {
            FeeAsset::Base => base += fee,
            FeeAsset::Quote => quote += fee,
            FeeAsset::Other => {}
        }
    }
    Some((base, quote))
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// What a non-200 answer means (the table in the module doc). `retry_after` is the
/// `Retry-After` header (seconds).
pub fn classify(status: u16, body: &[u8], retry_after: Option<&str>) -> Reading {
    let error = serde_json::from_slice::<ErrorBody<'_>>(body).ok();
    let code = error
        .as_ref()
        .and_then(|e| i32::try_from(e.code).ok())
        .unwrap_or(i32::from(status));
    let retry_after_ms = retry_after
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|s| s.saturating_mul(1_000));
    if status == 429 || status == 418 {
        return Reading::Throttled {
            code,
            retry_after_ms,
        };
    }
    if status >= 500 {
        return Reading::Unknown { code };
    }
    let Some(error) = error else {
        return match status {
            401 => Reading::Rejected {
                reason: RejectReason::Auth,
                code,
            },
            408 => Reading::Unknown { code },
            _ => Reading::Rejected {
                reason: RejectReason::Other,
                code,
            },
        };
    };
    let msg: &str = &error.msg;
    let rejected = |reason| Reading::Rejected { reason, code };
    match error.code {
        -1021 | -5028 => Reading::Timestamp { code },
        -1003 | -1008 | -1015 => Reading::Throttled {
            code,
            retry_after_ms,
        },
        -1000 | -1001 | -1006 | -1007 => Reading::Unknown { code },
        -4116 => Reading::Duplicate { code },
        -2010 if contains_ignore_case(msg, "duplicate order") => Reading::Duplicate { code },
        -2011 if contains_ignore_case(msg, "unknown order") => Reading::NotFound { code },
        -2013 | -2026 => Reading::NotFound { code },
        -1002 | -1022 | -2008 | -2014 | -2015 => rejected(RejectReason::Auth),
        -2018 | -2019 => rejected(RejectReason::InsufficientBalance),
        _ if contains_ignore_case(msg, "insufficient balance") => {
            rejected(RejectReason::InsufficientBalance)
        }
        -2022 | -4118 => rejected(RejectReason::ReduceOnly),
        -5022 => rejected(RejectReason::PostOnly),
        -2010 if contains_ignore_case(msg, "immediately match and take") => {
            rejected(RejectReason::PostOnly)
        }
        -4003 | -4004 | -4005 | -4023 | -4164 => rejected(RejectReason::InvalidQuantity),
        -4001 | -4002 | -4013 | -4014 | -4016 | -4024 => rejected(RejectReason::InvalidPrice),
        -1013 if contains_ignore_case(msg, "PRICE") => rejected(RejectReason::InvalidPrice),
        -1013
            if ["LOT_SIZE", "NOTIONAL", "MAX_POSITION"]
                .iter()
                .any(|f| contains_ignore_case(msg, f)) =>
        {
            rejected(RejectReason::InvalidQuantity)
        }
        _ if status == 401 => rejected(RejectReason::Auth),
        _ => rejected(RejectReason::Other),
    }
}

/// Binance's side.
const fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

const fn tif_name(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Ioc => "IOC",
        TimeInForce::Gtc => "GTC",
    }
}

/// The margin side effect: sells borrow what they lack, buys repay the loan first.
const fn side_effect(side: Side) -> &'static str {
    match side {
        Side::Sell => "AUTO_BORROW_REPAY",
        Side::Buy => "AUTO_REPAY",
    }
}

/// What carry says when the futures account is in hedge mode.
pub const HEDGE_MODE_REFUSED: &str = "binance-perp: the account is in hedge mode (dualSidePosition=true); carry trades one-way positions only. Switch it with POST /fapi/v1/positionSide/dual dualSidePosition=false (Binance allows it only with no open positions and no open orders), or in the futures preferences, then start again";

impl OrderApi for BinanceOrders {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn usage_headers(&self) -> &'static [&'static str] {
        if self.venue.is_perp() {
            &PERP_HEADERS
        } else {
            &SPOT_HEADERS
        }
    }

    fn order_limits(&self) -> &'static [Limit] {
        self.limits
    }

    fn build(
        &mut self,
        call: Call,
        order: &OrderIntent,
        symbol: &str,
        venue_ms: i64,
        req: &mut Request,
    ) {
        self.symbol.clear();
        self.symbol.push_str(symbol);
        self.asked = Asked::Order;
        let paths = self.paths();
        let cid = order.client_order_id.as_str();
        match call {
            Call::Place => {
                req.start(Method::Post, paths.order);
                self.symbol_params(symbol, req);
                req.query("side", side_name(order.side));
                req.query("type", "LIMIT");
                req.query("timeInForce", tif_name(order.tif));
                req.query_decimal("quantity", order.qty_venue);
                req.query_decimal("price", order.price);
                req.query("newClientOrderId", cid);
                if self.venue.is_perp() && order.reduce_only {
                    req.query("reduceOnly", "true");
                }
                if self.margin {
                    req.query("sideEffectType", side_effect(order.side));
                }
                req.query("selfTradePreventionMode", STP);
                req.query(
                    "newOrderRespType",
                    if self.venue.is_perp() {
                        "RESULT"
                    } else {
                        "FULL"
                    },
                );
            }
            Call::Cancel => {
                req.start(Method::Delete, paths.order);
                self.symbol_params(symbol, req);
                req.query("origClientOrderId", cid);
            }
            Call::Query | Call::Fills => {
                let pending = self
                    .fills
                    .get(&order.client_order_id)
                    .filter(|k| k.pending.is_some() && !self.venue.is_perp())
                    .map(|k| k.order_id);
                match pending {
                    Some(order_id) => {
                        self.asked = Asked::Trades;
                        req.start(Method::Get, paths.trades);
                        self.symbol_params(symbol, req);
                        req.query_int("orderId", i64::try_from(order_id).unwrap_or(i64::MAX));
                    }
                    None => {
                        req.start(Method::Get, paths.order);
                        self.symbol_params(symbol, req);
                        req.query("origClientOrderId", cid);
                    }
                }
            }
        }
        self.sign(venue_ms, req);
    }

    fn read(&mut self, call: Call, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        if answer.status != 200 {
            let retry = answer.header(USAGE[self.market_index()].retry_after);
            return classify(answer.status, answer.body, retry);
        }
        match self.asked {
            Asked::Order => self.read_order(call, order, answer),
            Asked::Trades => self.read_trades(order, answer),
        }
    }

    fn build_server_time(&self, req: &mut Request) {
        req.start(Method::Get, self.paths().time);
    }

    fn read_server_time(&self, answer: &Answer<'_>) -> Option<i64> {
        if answer.status != 200 {
            return None;
        }
        serde_json::from_slice::<ServerTime>(answer.body)
            .ok()
            .map(|t| t.server_time)
    }

    fn build_setup(
        &mut self,
        setup: Setup,
        symbol: &str,
        venue_ms: i64,
        req: &mut Request,
    ) -> bool {
        if !self.venue.is_perp() {
            return false;
        }
        match setup {
            Setup::OneWayMode => req.start(Method::Get, "/fapi/v1/positionSide/dual"),
            Setup::CrossMargin => {
                req.start(Method::Post, "/fapi/v1/marginType");
                req.query("symbol", symbol);
                req.query("marginType", "CROSSED");
            }
            Setup::Leverage(leverage) => {
                req.start(Method::Post, "/fapi/v1/leverage");
                req.query("symbol", symbol);
                req.query_int("leverage", i64::from(leverage));
            }
        }
        self.sign(venue_ms, req);
        true
    }

    fn read_setup(&mut self, setup: Setup, answer: &Answer<'_>) -> Result<(), String> {
        if answer.status != 200 {
            let said = serde_json::from_slice::<ErrorBody<'_>>(answer.body).ok();
            return match (setup, said) {
                (Setup::CrossMargin, Some(e)) if e.code == -4046 => Ok(()),
                (_, Some(e)) => Err(format!(
                    "binance-perp refused {setup:?}: HTTP {}, code {}: {}",
                    answer.status, e.code, e.msg
                )),
                (_, None) => Err(format!(
                    "binance-perp refused {setup:?}: HTTP {}: {}",
                    answer.status,
                    String::from_utf8_lossy(answer.body)
                )),
            };
        }
        match setup {
            Setup::OneWayMode => match serde_json::from_slice::<PositionMode>(answer.body) {
                Ok(PositionMode {
                    dual_side_position: false,
                }) => Ok(()),
                Ok(_) => Err(HEDGE_MODE_REFUSED.to_string()),
                Err(e) => Err(format!(
                    "binance-perp position mode answer not understood: {e}"
                )),
            },
            Setup::CrossMargin => Ok(()),
            Setup::Leverage(want) => match serde_json::from_slice::<LeverageAnswer>(answer.body) {
                Ok(a) if a.leverage == want => Ok(()),
                Ok(a) => Err(format!(
                    "binance-perp set leverage {} where {want} was asked",
                    a.leverage
                )),
                Err(e) => Err(format!("binance-perp leverage answer not understood: {e}")),
            },
        }
    }

    fn build_dead_man_switch(
        &mut self,
        symbol: &str,
        countdown_ms: u64,
        venue_ms: i64,
        req: &mut Request,
    ) -> bool {
        if !self.venue.is_perp() {
            return false;
        }
        req.start(Method::Post, "/fapi/v1/countdownCancelAll");
        req.query("symbol", symbol);
        req.query_int(
            "countdownTime",
            i64::try_from(countdown_ms).unwrap_or(i64::MAX),
        );
        self.sign(venue_ms, req);
        true
    }

    fn observe_usage(&self, answer: &Answer<'_>, budget: &mut RateBudget, now_ms: u64) {
        let market = self.market_index();
        let usage = &USAGE[market];
        let count = |i: usize| answer.header(i).and_then(|v| v.trim().parse::<u32>().ok());
        for &(header, window_ms) in &usage.order_counts {
            if let Some(used) = count(header) {
                budget.observe_used(window_ms, used, now_ms);
            }
        }
        if let Some(weight) = count(usage.weight) {
            if u64::from(weight) * 100
                >= u64::from(WEIGHT_LIMIT[market]) * u64::from(WEIGHT_GUARD_PERCENT)
            {
                budget.block_for(WEIGHT_PAUSE_MS, now_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use carry_engine::decision::target::PairId;
    use carry_engine::execution::client_id::InstanceId;
    use carry_engine::execution::order::{IntentAction, Leg, Step};
    use carry_engine::InstrumentId;

    use super::*;
    use crate::gateway::credentials::Credentials;

    const KEY: &str = "test-key-binance";
    const SECRET: &str = "test-secret-binance";
    const TS: i64 = 1_700_000_000_123;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn config(margin_spot: bool) -> ApiConfig {
        ApiConfig {
            credentials: Credentials {
                key: Secret::new(KEY),
                secret: Secret::new(SECRET),
                passphrase: None,
            },
            recv_window_ms: 5_000,
            demo_trading: false,
            margin_spot,
        }
    }

    fn api(venue: &str, margin_spot: bool) -> BinanceOrders {
        BinanceOrders::new(venue.parse().unwrap(), &config(margin_spot))
    }

    /// An intent as the engine builds one: client id `T10000007E{L|S}000`.
    fn intent(venue: &str, side: Side, tif: TimeInForce, qty: &str, price: &str) -> OrderIntent {
        let leg = if side == Side::Buy {
            Leg::Long
        } else {
            Leg::Short
        };
        OrderIntent {
            action: IntentAction::Place,
            client_order_id: ClientOrderId::new(
                &InstanceId::new("T1").unwrap(),
                7,
                Step::Entry,
                leg,
                0,
            )
            .unwrap(),
            pair: PairId(0),
            cycle: 7,
            step: Step::Entry,
            leg,
            attempt: 0,
            venue: venue.parse().unwrap(),
            instrument: InstrumentId(0),
            side,
            tif,
            reduce_only: false,
            price: d(price),
            qty_base: d(qty),
            qty_venue: d(qty),
        }
    }

    /// `intent` renamed to a client id from a documentation example.
    fn named(mut o: OrderIntent, cid: &str) -> OrderIntent {
        o.client_order_id = ClientOrderId::from_bytes(cid.as_bytes()).unwrap();
        o
    }

    fn answer<'a>(status: u16, body: &'a str, headers: &'a [Option<String>]) -> Answer<'a> {
        Answer {
            status,
            headers,
            body: body.as_bytes(),
        }
    }

    fn built(
        api: &mut BinanceOrders,
        call: Call,
        order: &OrderIntent,
        symbol: &str,
    ) -> (Method, String, String, Option<String>) {
        let mut req = Request::new();
        api.build(call, order, symbol, TS, &mut req);
        assert_eq!(req.body_str(), "", "every parameter goes in the query");
        (
            req.method(),
            req.path().to_string(),
            req.query_str().to_string(),
            req.header_value(sign::KEY_HEADER).map(str::to_string),
        )
    }

    // Signatures below were computed outside carry with python3:
    //   hmac.new(b"test-secret-binance", query.encode(), hashlib.sha256).hexdigest()
    // over the query as printed, up to (not including) `&signature=`.

    #[test]
    fn perp_place_reduce_only_ioc_exact_request() {
        let mut a = api("binance-perp", false);
        let mut o = intent(
            "binance-perp",
            Side::Buy,
            TimeInForce::Ioc,
            "0.0120",
            "65000.10",
        );
        o.reduce_only = true;
        assert_eq!(o.client_order_id.as_str(), "T10000007EL000");
        let (method, path, query, key) = built(&mut a, Call::Place, &o, "BTCUSDT");
        assert_eq!(method, Method::Post);
        assert_eq!(path, "/fapi/v1/order");
        assert_eq!(
            query,
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.012&price=65000.1\
             &newClientOrderId=T10000007EL000&reduceOnly=true&selfTradePreventionMode=EXPIRE_TAKER\
             &newOrderRespType=RESULT&recvWindow=5000&timestamp=1700000000123\
             &signature=f2c032c90d6e8a446817f1113a0519822a4abb2dac59ff36053cad41661a20ea"
        );
        assert_eq!(key.as_deref(), Some(KEY));
    }

    #[test]
    fn spot_place_gtc_exact_request_never_says_reduce_only() {
        let mut a = api("binance-spot", false);
        let mut o = intent(
            "binance-spot",
            Side::Sell,
            TimeInForce::Gtc,
            "0.50",
            "3000.00",
        );
        o.reduce_only = true; // spot has no such flag: it is not sent
        let (method, path, query, key) = built(&mut a, Call::Place, &o, "ETHUSDT");
        assert_eq!((method, path.as_str()), (Method::Post, "/api/v3/order"));
        assert_eq!(
            query,
            "symbol=ETHUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.5&price=3000\
             &newClientOrderId=T10000007ES000&selfTradePreventionMode=EXPIRE_TAKER\
             &newOrderRespType=FULL&recvWindow=5000&timestamp=1700000000123\
             &signature=8e4ec711fae5a16cb1287d5a3a279036ff96c8f2b97015a95b102b6abfac6aaf"
        );
        assert_eq!(key.as_deref(), Some(KEY));
    }

    #[test]
    fn margin_spot_sells_borrow_and_buys_repay() {
        let mut a = api("binance-spot", true);
        let o = intent("binance-spot", Side::Sell, TimeInForce::Ioc, "0.5", "3000");
        let (method, path, query, _) = built(&mut a, Call::Place, &o, "ETHUSDT");
        assert_eq!(
            (method, path.as_str()),
            (Method::Post, "/sapi/v1/margin/order")
        );
        assert_eq!(
            query,
            "symbol=ETHUSDT&isIsolated=FALSE&side=SELL&type=LIMIT&timeInForce=IOC&quantity=0.5\
             &price=3000&newClientOrderId=T10000007ES000&sideEffectType=AUTO_BORROW_REPAY\
             &selfTradePreventionMode=EXPIRE_TAKER&newOrderRespType=FULL&recvWindow=5000\
             &timestamp=1700000000123\
             &signature=a352872d7a481602bc6cb7cef75c8d678e61f7ec4d17832118767141f0122787"
        );
        let buy = intent("binance-spot", Side::Buy, TimeInForce::Ioc, "0.5", "3000");
        let (_, _, query, _) = built(&mut a, Call::Place, &buy, "ETHUSDT");
        assert!(query.contains("&sideEffectType=AUTO_REPAY&"), "{query}");
        let (method, path, query, _) = built(&mut a, Call::Cancel, &buy, "ETHUSDT");
        assert_eq!(
            (method, path.as_str()),
            (Method::Delete, "/sapi/v1/margin/order")
        );
        assert!(query.starts_with("symbol=ETHUSDT&isIsolated=FALSE&origClientOrderId=T10000007EL000&recvWindow=5000&timestamp=1700000000123&signature="));
        // The perp market ignores the margin switch.
        let mut p = api("binance-perp", true);
        let (_, path, query, _) = built(&mut p, Call::Place, &o, "ETHUSDT");
        assert_eq!(path, "/fapi/v1/order");
        assert!(!query.contains("isIsolated") && !query.contains("sideEffectType"));
    }

    #[test]
    fn cancel_and_query_by_client_id_exact_requests() {
        let mut a = api("binance-perp", false);
        let o = intent("binance-perp", Side::Buy, TimeInForce::Gtc, "1", "1");
        let (method, path, query, _) = built(&mut a, Call::Cancel, &o, "BTCUSDT");
        assert_eq!((method, path.as_str()), (Method::Delete, "/fapi/v1/order"));
        assert_eq!(
            query,
            "symbol=BTCUSDT&origClientOrderId=T10000007EL000&recvWindow=5000\
             &timestamp=1700000000123\
             &signature=289b076b18ac4a876e346236a82db280285df20acbdd24b3d8a13b44e13dec2c"
        );
        let (method, path, _, _) = built(&mut a, Call::Query, &o, "BTCUSDT");
        assert_eq!((method, path.as_str()), (Method::Get, "/fapi/v1/order"));

        let mut s = api("binance-spot", false);
        let o = intent("binance-spot", Side::Sell, TimeInForce::Ioc, "1", "1");
        let (method, path, query, _) = built(&mut s, Call::Query, &o, "ETHUSDT");
        assert_eq!((method, path.as_str()), (Method::Get, "/api/v3/order"));
        assert_eq!(
            query,
            "symbol=ETHUSDT&origClientOrderId=T10000007ES000&recvWindow=5000\
             &timestamp=1700000000123\
             &signature=548c0a2ece09a076344a84f01882392667cbf88b244bb036ff26c287a9fff7d8"
        );
        // The fill-history search asks what a query asks: Binance's lookup is not windowed.
        let (_, path, fills_query, _) = built(&mut s, Call::Fills, &o, "ETHUSDT");
        assert_eq!((path.as_str(), fills_query), ("/api/v3/order", query));
        assert!(!s.lookup_is_windowed());
    }

    #[test]
    fn setup_dead_man_switch_and_server_time_requests() {
        let mut a = api("binance-perp", false);
        let mut req = Request::new();
        assert!(a.build_setup(Setup::OneWayMode, "BTCUSDT", TS, &mut req));
        assert_eq!(
            (req.method(), req.path()),
            (Method::Get, "/fapi/v1/positionSide/dual")
        );
        assert!(req
            .query_str()
            .starts_with("recvWindow=5000&timestamp=1700000000123&signature="));
        assert!(a.build_setup(Setup::CrossMargin, "BTCUSDT", TS, &mut req));
        assert_eq!(
            (req.method(), req.path()),
            (Method::Post, "/fapi/v1/marginType")
        );
        assert!(req
            .query_str()
            .starts_with("symbol=BTCUSDT&marginType=CROSSED&recvWindow=5000&"));
        assert!(a.build_setup(Setup::Leverage(3), "BTCUSDT", TS, &mut req));
        assert_eq!(
            (req.method(), req.path()),
            (Method::Post, "/fapi/v1/leverage")
        );
        assert!(req
            .query_str()
            .starts_with("symbol=BTCUSDT&leverage=3&recvWindow=5000&"));
        assert!(a.build_dead_man_switch("BTCUSDT", 60_000, TS, &mut req));
        assert_eq!(
            (req.method(), req.path()),
            (Method::Post, "/fapi/v1/countdownCancelAll")
        );
        assert!(req
            .query_str()
            .starts_with("symbol=BTCUSDT&countdownTime=60000&recvWindow=5000&"));
        a.build_server_time(&mut req);
        assert_eq!((req.path(), req.query_str()), ("/fapi/v1/time", ""));
        assert_eq!(req.header_value(sign::KEY_HEADER), None, "public: no key");

        // Spot has neither account setup nor a dead-man switch.
        let mut s = api("binance-spot", true);
        for setup in [Setup::OneWayMode, Setup::CrossMargin, Setup::Leverage(2)] {
            assert!(!s.build_setup(setup, "BTCUSDT", TS, &mut req));
        }
        assert!(!s.build_dead_man_switch("BTCUSDT", 60_000, TS, &mut req));
        s.build_server_time(&mut req);
        assert_eq!(req.path(), "/api/v3/time");
        assert_eq!(
            s.read_server_time(&answer(200, r#"{"serverTime":1499827319559}"#, &[])),
            Some(1_499_827_319_559)
        );
        assert_eq!(s.read_server_time(&answer(503, "", &[])), None);
    }

    #[test]
    fn setup_answers() {
        let mut a = api("binance-perp", false);
        fn ok(body: &str) -> Answer<'_> {
            answer(200, body, &[])
        }
        assert_eq!(
            a.read_setup(Setup::OneWayMode, &ok(r#"{"dualSidePosition":false}"#)),
            Ok(())
        );
        let hedge = a
            .read_setup(Setup::OneWayMode, &ok(r#"{"dualSidePosition":true}"#))
            .unwrap_err();
        assert!(
            hedge.contains("POST /fapi/v1/positionSide/dual dualSidePosition=false"),
            "{hedge}"
        );
        assert_eq!(
            a.read_setup(Setup::CrossMargin, &ok(r#"{"code":200,"msg":"success"}"#)),
            Ok(())
        );
        let no_need = answer(
            400,
            r#"{"code":-4046,"msg":"No need to change margin type."}"#,
            &[],
        );
        assert_eq!(a.read_setup(Setup::CrossMargin, &no_need), Ok(()));
        let refused = answer(
            400,
            r#"{"code":-4048,"msg":"Margin type cannot be changed if there exists position."}"#,
            &[],
        );
        let said = a.read_setup(Setup::CrossMargin, &refused).unwrap_err();
        assert!(
            said.contains("-4048") && said.contains("exists position"),
            "{said}"
        );
        let lev = ok(r#"{"leverage":3,"maxNotionalValue":"1000000","symbol":"BTCUSDT"}"#);
        assert_eq!(a.read_setup(Setup::Leverage(3), &lev), Ok(()));
        assert!(a.read_setup(Setup::Leverage(5), &lev).is_err());
        let bad = answer(
            400,
            r#"{"code":-4028,"msg":"Leverage 300 is not valid"}"#,
            &[],
        );
        assert!(a.read_setup(Setup::Leverage(300), &bad).is_err());
    }

    #[test]
    fn refusals_map_to_readings() {
        use RejectReason as R;
        let rejected = |reason, code| Reading::Rejected { reason, code };
        let cases: &[(u16, &str, Option<&str>, Reading)] = &[
            (
                429,
                r#"{"code":-1015,"msg":"Too many new orders; current limit is 50 orders per TEN_SECONDS."}"#,
                Some("7"),
                Reading::Throttled {
                    code: -1015,
                    retry_after_ms: Some(7_000),
                },
            ),
            (
                429,
                r#"{"code":-1003,"msg":"Too many requests"}"#,
                None,
                Reading::Throttled {
                    code: -1003,
                    retry_after_ms: None,
                },
            ),
            (
                418,
                "",
                Some("120"),
                Reading::Throttled {
                    code: 418,
                    retry_after_ms: Some(120_000),
                },
            ),
            (
                400,
                r#"{"code":-1008,"msg":"Request throttled by system-level protection."}"#,
                None,
                Reading::Throttled {
                    code: -1008,
                    retry_after_ms: None,
                },
            ),
            (
                503,
                r#"{"code":-1000,"msg":"Unknown error, please check your request or try again later."}"#,
                None,
                Reading::Unknown { code: -1000 },
            ),
            (
                503,
                r#"{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}"#,
                None,
                Reading::Unknown { code: -1007 },
            ),
            (
                503,
                "Service Unavailable",
                None,
                Reading::Unknown { code: 503 },
            ),
            (
                502,
                "<html>bad gateway</html>",
                None,
                Reading::Unknown { code: 502 },
            ),
            (
                400,
                r#"{"code":-1007,"msg":"Timeout waiting for response from backend server."}"#,
                None,
                Reading::Unknown { code: -1007 },
            ),
            (408, "", None, Reading::Unknown { code: 408 }),
            (
                400,
                r#"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#,
                None,
                Reading::Timestamp { code: -1021 },
            ),
            (
                400,
                r#"{"code":-5028,"msg":"Timestamp for this request is outside of the ME recvWindow."}"#,
                None,
                Reading::Timestamp { code: -5028 },
            ),
            (
                400,
                r#"{"code":-4116,"msg":"ClientOrderId is duplicated."}"#,
                None,
                Reading::Duplicate { code: -4116 },
            ),
            (
                400,
                r#"{"code":-2010,"msg":"Duplicate order sent."}"#,
                None,
                Reading::Duplicate { code: -2010 },
            ),
            (
                400,
                r#"{"code":-2011,"msg":"Unknown order sent."}"#,
                None,
                Reading::NotFound { code: -2011 },
            ),
            (
                400,
                r#"{"code":-2013,"msg":"Order does not exist."}"#,
                None,
                Reading::NotFound { code: -2013 },
            ),
            (
                400,
                r#"{"code":-2026,"msg":"Order was canceled or expired with no executed qty over 90 days ago and has been archived."}"#,
                None,
                Reading::NotFound { code: -2026 },
            ),
            (
                400,
                r#"{"code":-2011,"msg":"Order was not canceled due to cancel restrictions."}"#,
                None,
                rejected(R::Other, -2011),
            ),
            (
                400,
                r#"{"code":-1022,"msg":"Signature for this request is not valid."}"#,
                None,
                rejected(R::Auth, -1022),
            ),
            (
                401,
                r#"{"code":-2014,"msg":"API-key format invalid."}"#,
                None,
                rejected(R::Auth, -2014),
            ),
            (
                401,
                r#"{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}"#,
                None,
                rejected(R::Auth, -2015),
            ),
            (401, "", None, rejected(R::Auth, 401)),
            (
                400,
                r#"{"code":-2019,"msg":"Margin is insufficient."}"#,
                None,
                rejected(R::InsufficientBalance, -2019),
            ),
            (
                400,
                r#"{"code":-2018,"msg":"Balance is insufficient."}"#,
                None,
                rejected(R::InsufficientBalance, -2018),
            ),
            (
                400,
                r#"{"code":-2010,"msg":"Account has insufficient balance for requested action."}"#,
                None,
                rejected(R::InsufficientBalance, -2010),
            ),
            (
                400,
                r#"{"code":-2022,"msg":"ReduceOnly Order is rejected."}"#,
                None,
                rejected(R::ReduceOnly, -2022),
            ),
            (
                400,
                r#"{"code":-4118,"msg":"ReduceOnly Order Failed. Please check your existing position and open orders"}"#,
                None,
                rejected(R::ReduceOnly, -4118),
            ),
            (
                400,
                r#"{"code":-5022,"msg":"Due to the order could not be executed as maker, the Post Only order will be rejected."}"#,
                None,
                rejected(R::PostOnly, -5022),
            ),
            (
                400,
                r#"{"code":-2010,"msg":"Order would immediately match and take."}"#,
                None,
                rejected(R::PostOnly, -2010),
            ),
            (
                400,
                r#"{"code":-4023,"msg":"Qty not increased by step size."}"#,
                None,
                rejected(R::InvalidQuantity, -4023),
            ),
            (
                400,
                r#"{"code":-4164,"msg":"Order's notional must be no smaller than 5 (unless you choose reduce only)."}"#,
                None,
                rejected(R::InvalidQuantity, -4164),
            ),
            (
                400,
                r#"{"code":-1013,"msg":"Filter failure: LOT_SIZE"}"#,
                None,
                rejected(R::InvalidQuantity, -1013),
            ),
            (
                400,
                r#"{"code":-1013,"msg":"Filter failure: NOTIONAL"}"#,
                None,
                rejected(R::InvalidQuantity, -1013),
            ),
            (
                400,
                r#"{"code":-1013,"msg":"Filter failure: PRICE_FILTER"}"#,
                None,
                rejected(R::InvalidPrice, -1013),
            ),
            (
                400,
                r#"{"code":-1013,"msg":"Filter failure: PERCENT_PRICE_BY_SIDE"}"#,
                None,
                rejected(R::InvalidPrice, -1013),
            ),
            (
                400,
                r#"{"code":-1013,"msg":"Filter failure: MAX_NUM_ORDERS"}"#,
                None,
                rejected(R::Other, -1013),
            ),
            (
                400,
                r#"{"code":-4014,"msg":"Price not increased by tick size."}"#,
                None,
                rejected(R::InvalidPrice, -4014),
            ),
            (
                400,
                r#"{"code":-4016,"msg":"Limit price can't be higher than 70000."}"#,
                None,
                rejected(R::InvalidPrice, -4016),
            ),
            (
                400,
                r#"{"code":-4024,"msg":"Limit price can't be lower than 60000."}"#,
                None,
                rejected(R::InvalidPrice, -4024),
            ),
            (
                400,
                r#"{"code":-1121,"msg":"Invalid symbol."}"#,
                None,
                rejected(R::Other, -1121),
            ),
            (
                400,
                r#"{"code":-4061,"msg":"Order's position side does not match user's setting."}"#,
                None,
                rejected(R::Other, -4061),
            ),
            (403, "<html>WAF</html>", None, rejected(R::Other, 403)),
        ];
        for (status, body, retry, want) in cases {
            assert_eq!(
                classify(*status, body.as_bytes(), *retry),
                *want,
                "HTTP {status} {body}"
            );
        }
        // Through `read`, the Retry-After header is the first kept header.
        let mut a = api("binance-spot", false);
        let o = intent("binance-spot", Side::Buy, TimeInForce::Ioc, "1", "1");
        let headers = [Some("3".to_string()), None, None, None];
        assert_eq!(a.usage_headers()[0], "Retry-After");
        assert_eq!(
            a.read(
                Call::Place,
                &o,
                &answer(
                    429,
                    r#"{"code":-1015,"msg":"Too many new orders."}"#,
                    &headers
                )
            ),
            Reading::Throttled {
                code: -1015,
                retry_after_ms: Some(3_000)
            }
        );
    }

    fn order_state(r: Reading) -> OrderState {
        match r {
            Reading::Order(s) => s,
            other => panic!("not an order: {other:?}"),
        }
    }

    /// `NOTES.md` §1.5 `binance_usdm_newOrder_rest_1.json` (binance-connector-js mock).
    const USDM_NEW_ORDER: &str = r#"{
  "clientOrderId": "testOrder", "cumQty": "0", "executedQty": "0", "orderId": 22542179,
  "origQty": "10", "price": "0", "reduceOnly": false, "side": "SELL", "positionSide": "SHORT",
  "status": "NEW", "stopPrice": "0", "closePosition": false, "symbol": "BTCUSDT",
  "timeInForce": "GTD", "type": "LIMIT", "origType": "LIMIT", "updateTime": 1566818724722,
  "workingType": "CONTRACT_PRICE", "priceProtect": false, "priceMatch": "NONE",
  "selfTradePreventionMode": "NONE", "goodTillDate": 1693207680000
}"#;

    /// The futures order row of binance-connector-js's `allOrders`/`queryOrder` mocks.
    const USDM_ORDER_ROW: &str = r#"{
  "avgPrice": "0.00000", "clientOrderId": "abc", "cumQuote": "0", "executedQty": "0",
  "orderId": 1917641, "origQty": "0.40", "origType": "TRAILING_STOP_MARKET", "price": "0",
  "reduceOnly": false, "side": "BUY", "positionSide": "SHORT", "status": "NEW",
  "stopPrice": "9300", "closePosition": false, "symbol": "BTCUSDT", "time": 1579276756075,
  "timeInForce": "GTC", "type": "TRAILING_STOP_MARKET", "activatePrice": "9020",
  "priceRate": "0.3", "updateTime": 1579276756075, "workingType": "CONTRACT_PRICE",
  "priceProtect": false, "priceMatch": "NONE", "selfTradePreventionMode": "NONE",
  "goodTillDate": 0
}"#;

    /// A `RESULT` answer to an IOC that partly filled, in the shape of the row above.
    const USDM_IOC_EXPIRED: &str = r#"{
  "orderId": 4010, "symbol": "BTCUSDT", "status": "EXPIRED", "clientOrderId": "T10000007EL000",
  "price": "65100", "avgPrice": "65000.50", "origQty": "0.010", "executedQty": "0.004",
  "cumQty": "0.004", "cumQuote": "260.002", "timeInForce": "IOC", "type": "LIMIT",
  "reduceOnly": false, "side": "BUY", "positionSide": "BOTH", "updateTime": 1700000000000
}"#;

    #[test]
    fn futures_answer_shapes() {
        let mut a = api("binance-perp", false);
        let base = intent("binance-perp", Side::Buy, TimeInForce::Ioc, "0.01", "65100");
        let new = a.read(
            Call::Place,
            &named(base, "testOrder"),
            &answer(200, USDM_NEW_ORDER, &[]),
        );
        assert_eq!(order_state(new), OrderState::empty(OrderStatus::Open));
        let row = a.read(
            Call::Query,
            &named(base, "abc"),
            &answer(200, USDM_ORDER_ROW, &[]),
        );
        assert_eq!(order_state(row), OrderState::empty(OrderStatus::Open));
        let ioc = a.read(Call::Place, &base, &answer(200, USDM_IOC_EXPIRED, &[]));
        assert_eq!(
            order_state(ioc),
            OrderState {
                status: OrderStatus::Canceled,
                cum_qty: d("0.004"),
                avg_price: d("65000.50"),
                fee_quote: Decimal::ZERO,
                fee_base: Decimal::ZERO,
            }
        );
        // Without avgPrice the quote amount gives the average.
        let no_avg = USDM_IOC_EXPIRED.replace(r#""avgPrice": "65000.50", "#, "");
        assert_eq!(
            order_state(a.read(Call::Place, &base, &answer(200, &no_avg, &[]))).avg_price,
            d("65000.5")
        );
        // Filled at a price the answer does not give: not reported as it stands.
        let no_price = no_avg.replace(r#""cumQuote": "260.002", "#, "");
        assert_eq!(
            a.read(Call::Place, &base, &answer(200, &no_price, &[])),
            Reading::Unknown { code: 200 }
        );
        // An answer about another order, or one that cannot be read, says nothing.
        assert_eq!(
            a.read(
                Call::Query,
                &named(base, "other"),
                &answer(200, USDM_ORDER_ROW, &[])
            ),
            Reading::Unknown { code: 200 }
        );
        assert_eq!(
            a.read(Call::Query, &base, &answer(200, "{not json", &[])),
            Reading::Unknown { code: 200 }
        );
        for (status, want) in [
            ("FILLED", OrderStatus::Filled),
            ("PARTIALLY_FILLED", OrderStatus::Open),
            ("CANCELED", OrderStatus::Canceled),
            ("EXPIRED_IN_MATCH", OrderStatus::Canceled),
            ("REJECTED", OrderStatus::Rejected),
        ] {
            assert_eq!(order_status(status), Some(want), "{status}");
        }
        assert_eq!(order_status("SOMETHING_NEW"), None);
    }

    /// The spot docs' `POST /api/v3/order` answers (rest-api.md, `//` comments stripped).
    const SPOT_ACK: &str = r#"{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"6gCrw2kRUAF9CvJDGP16IP","transactTime":1507725176595}"#;
    const SPOT_RESULT: &str = r#"{
  "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1,
  "clientOrderId": "6gCrw2kRUAF9CvJDGP16IP", "transactTime": 1507725176595,
  "price": "0.00000000", "origQty": "10.00000000", "executedQty": "10.00000000",
  "cummulativeQuoteQty": "10.00000000", "status": "FILLED", "timeInForce": "GTC",
  "type": "MARKET", "side": "SELL"
}"#;
    const SPOT_FULL: &str = r#"{
  "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1,
  "clientOrderId": "6gCrw2kRUAF9CvJDGP16IP", "transactTime": 1507725176595,
  "price": "0.00000000", "origQty": "10.00000000", "executedQty": "10.00000000",
  "cummulativeQuoteQty": "10.00000000", "status": "FILLED", "timeInForce": "GTC",
  "type": "MARKET", "side": "SELL",
  "fills": [
    {"price": "4000.00000000", "qty": "1.00000000", "commission": "4.00000000", "commissionAsset": "USDT"},
    {"price": "3999.00000000", "qty": "5.00000000", "commission": "19.99500000", "commissionAsset": "USDT"},
    {"price": "3998.00000000", "qty": "2.00000000", "commission": "7.99600000", "commissionAsset": "USDT"},
    {"price": "3997.00000000", "qty": "1.00000000", "commission": "3.99700000", "commissionAsset": "USDT"},
    {"price": "3995.00000000", "qty": "1.00000000", "commission": "3.99500000", "commissionAsset": "USDT"}
  ]
}"#;
    /// `GET /api/v3/order` and `DELETE /api/v3/order` in the same docs.
    const SPOT_QUERY: &str = r#"{
  "symbol": "LTCBTC", "orderId": 1, "orderListId": -1, "clientOrderId": "myOrder1",
  "price": "0.1", "origQty": "1.0", "executedQty": "0.0", "cummulativeQuoteQty": "0.0",
  "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "BUY", "stopPrice": "0.0",
  "icebergQty": "0.0", "time": 1499827319559, "updateTime": 1499827319559, "isWorking": true,
  "origQuoteOrderQty": "0.000000"
}"#;
    const SPOT_CANCEL: &str = r#"{
  "symbol": "LTCBTC", "origClientOrderId": "myOrder1", "orderId": 4, "orderListId": -1,
  "clientOrderId": "cancelMyOrder1", "price": "2.00000000", "origQty": "1.00000000",
  "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000", "status": "CANCELED",
  "timeInForce": "GTC", "type": "LIMIT", "side": "BUY"
}"#;
    /// `GET /api/v3/myTrades` in the same docs: a BNBBTC buy paying its commission in BNB.
    const SPOT_MY_TRADES: &str = r#"[{
  "symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1,
  "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012",
  "commission": "10.10000000", "commissionAsset": "BNB", "time": 1499865549590,
  "isBuyer": true, "isMaker": false, "isBestMatch": true
}]"#;

    /// Reads `body` as the answer to `call`, building the call first (as the gateway does).
    fn exchange(
        a: &mut BinanceOrders,
        call: Call,
        order: &OrderIntent,
        symbol: &str,
        body: &str,
    ) -> (String, Reading) {
        let mut req = Request::new();
        a.build(call, order, symbol, TS, &mut req);
        let path = req.path().to_string();
        (path, a.read(call, order, &answer(200, body, &[])))
    }

    #[test]
    fn spot_answer_shapes() {
        let mut a = api("binance-spot", false);
        let doc = named(
            intent("binance-spot", Side::Sell, TimeInForce::Gtc, "10", "1"),
            "6gCrw2kRUAF9CvJDGP16IP",
        );
        let (_, ack) = exchange(&mut a, Call::Place, &doc, "BTCUSDT", SPOT_ACK);
        assert_eq!(order_state(ack), OrderState::empty(OrderStatus::Open));
        let (_, full) = exchange(&mut a, Call::Place, &doc, "BTCUSDT", SPOT_FULL);
        assert_eq!(
            order_state(full),
            OrderState {
                status: OrderStatus::Filled,
                cum_qty: d("10"),
                avg_price: d("1"),
                fee_quote: d("39.983"),
                fee_base: Decimal::ZERO,
            }
        );
        // The RESULT answer of the same order: its fees are known from the FULL one.
        let (_, result) = exchange(&mut a, Call::Place, &doc, "BTCUSDT", SPOT_RESULT);
        assert_eq!(order_state(result).fee_quote, d("39.983"));

        let mine = named(doc, "myOrder1");
        let (_, query) = exchange(&mut a, Call::Query, &mine, "LTCBTC", SPOT_QUERY);
        assert_eq!(order_state(query), OrderState::empty(OrderStatus::Open));
        let (_, cancel) = exchange(&mut a, Call::Cancel, &mine, "LTCBTC", SPOT_CANCEL);
        assert_eq!(
            order_state(cancel),
            OrderState::empty(OrderStatus::Canceled)
        );
        // A cancel answer names the order by `origClientOrderId`, the cancel by `clientOrderId`.
        let other = named(doc, "cancelMyOrder1");
        let (_, wrong) = exchange(&mut a, Call::Cancel, &other, "LTCBTC", SPOT_CANCEL);
        assert_eq!(wrong, Reading::Unknown { code: 200 });
    }

    /// A spot buy that filled 12 BNB and paid 0.012 BNB: as the `FULL` answer says it, and as
    /// a query answer (no commission) completed from the trade list.
    #[test]
    fn spot_buy_fees_in_base_from_full_answers_and_from_the_trade_list() {
        let full = r#"{"symbol":"BNBBTC","orderId":100234,"orderListId":-1,"clientOrderId":"T10000007EL000",
            "transactTime":1499865549590,"price":"4.00000100","origQty":"12.00000000",
            "executedQty":"12.00000000","cummulativeQuoteQty":"48.00001200","status":"FILLED",
            "timeInForce":"IOC","type":"LIMIT","side":"BUY","selfTradePreventionMode":"EXPIRE_TAKER",
            "fills":[{"price":"4.00000100","qty":"12.00000000","commission":"0.01200000","commissionAsset":"BNB","tradeId":28457}]}"#;
        let query = r#"{"symbol":"BNBBTC","orderId":100234,"orderListId":-1,"clientOrderId":"T10000007EL000",
            "price":"4.00000100","origQty":"12.00000000","executedQty":"12.00000000",
            "cummulativeQuoteQty":"48.00001200","status":"FILLED","timeInForce":"IOC","type":"LIMIT",
            "side":"BUY","time":1499865549590,"updateTime":1499865549590,"isWorking":true}"#;
        let buy = intent(
            "binance-spot",
            Side::Buy,
            TimeInForce::Ioc,
            "12",
            "4.000001",
        );
        let want = |fee_base: &str| OrderState {
            status: OrderStatus::Filled,
            cum_qty: d("12"),
            avg_price: d("4.000001"),
            fee_quote: Decimal::ZERO,
            fee_base: d(fee_base),
        };

        // Placed here: the FULL answer's fees; a later query reports the same.
        let mut a = api("binance-spot", false);
        let (_, placed) = exchange(&mut a, Call::Place, &buy, "BNBBTC", full);
        assert_eq!(order_state(placed), want("0.012"));
        let (path, queried) = exchange(&mut a, Call::Query, &buy, "BNBBTC", query);
        assert_eq!(path, "/api/v3/order");
        assert_eq!(order_state(queried), want("0.012"));

        // The place answer was lost: the query alone cannot say what the buy received, so it
        // reads as unknown, and the next query asks the trade list by order id.
        let mut a = api("binance-spot", false);
        let (_, first) = exchange(&mut a, Call::Query, &buy, "BNBBTC", query);
        assert_eq!(first, Reading::Unknown { code: 0 });
        let mut req = Request::new();
        a.build(Call::Query, &buy, "BNBBTC", TS, &mut req);
        assert_eq!(
            (req.method(), req.path()),
            (Method::Get, "/api/v3/myTrades")
        );
        assert!(req
            .query_str()
            .starts_with("symbol=BNBBTC&orderId=100234&recvWindow=5000&"));
        let trades = a.read(Call::Query, &buy, &answer(200, SPOT_MY_TRADES, &[]));
        assert_eq!(order_state(trades), want("10.1"));
        // Known now: the next query is a plain one again, and agrees.
        let (path, again) = exchange(&mut a, Call::Query, &buy, "BNBBTC", query);
        assert_eq!(path, "/api/v3/order");
        assert_eq!(order_state(again), want("10.1"));

        // A trade list that does not yet hold the executed quantity says nothing.
        let mut a = api("binance-spot", false);
        exchange(&mut a, Call::Query, &buy, "BNBBTC", query);
        let (path, behind) = exchange(&mut a, Call::Query, &buy, "BNBBTC", "[]");
        assert_eq!(path, "/api/v3/myTrades");
        assert_eq!(behind, Reading::Unknown { code: 200 });

        // The margin account's trade list.
        let mut m = api("binance-spot", true);
        exchange(&mut m, Call::Query, &buy, "BNBBTC", query);
        m.build(Call::Query, &buy, "BNBBTC", TS, &mut req);
        assert_eq!(req.path(), "/sapi/v1/margin/myTrades");
        assert!(req
            .query_str()
            .starts_with("symbol=BNBBTC&isIsolated=FALSE&orderId=100234&"));
    }

    #[test]
    fn commission_assets_against_the_symbol() {
        for (symbol, asset, want) in [
            ("BTCUSDT", "BTC", FeeAsset::Base),
            ("BTCUSDT", "USDT", FeeAsset::Quote),
            ("BTCUSDT", "BNB", FeeAsset::Other),
            ("BNBBTC", "BNB", FeeAsset::Base),
            ("BNBBTC", "BTC", FeeAsset::Quote),
            ("ETHBTC", "ETH", FeeAsset::Base),
            ("FOOXYZ", "FOO", FeeAsset::Base),
            ("FOOXYZ", "XYZ", FeeAsset::Quote),
            ("FOOXYZ", "", FeeAsset::Other),
        ] {
            assert_eq!(fee_asset(symbol, asset), want, "{symbol} {asset}");
        }
    }

    #[test]
    fn the_fill_book_keeps_the_latest_orders_in_a_ring() {
        let mut book = FillBook::new();
        let instance = InstanceId::new("R").unwrap();
        let cid = |n: u32| ClientOrderId::new(&instance, n, Step::Entry, Leg::Long, 0).unwrap();
        let row = |n: u32| KnownFills {
            cid: cid(n),
            order_id: u64::from(n),
            executed: Decimal::ONE,
            fee_base: Decimal::ZERO,
            fee_quote: Decimal::ZERO,
            pending: None,
        };
        for n in 0..KNOWN_SPOT_ORDERS as u32 + 10 {
            book.put(row(n));
        }
        assert_eq!(book.rows.len(), KNOWN_SPOT_ORDERS);
        assert!(book.get(&cid(9)).is_none(), "the oldest are forgotten");
        assert!(book.get(&cid(10)).is_some());
        assert!(book.get(&cid(KNOWN_SPOT_ORDERS as u32 + 9)).is_some());
        // Putting a known id replaces it in place.
        book.put(KnownFills {
            executed: Decimal::TWO,
            ..row(10)
        });
        assert_eq!(book.get(&cid(10)).unwrap().executed, Decimal::TWO);
        assert_eq!(book.rows.len(), KNOWN_SPOT_ORDERS);
    }

    #[test]
    fn usage_headers_correct_the_budget() {
        let a = api("binance-perp", false);
        assert_eq!(
            a.usage_headers(),
            &[
                "Retry-After",
                "X-MBX-ORDER-COUNT-10S",
                "X-MBX-ORDER-COUNT-1M",
                "X-MBX-USED-WEIGHT-1M"
            ]
        );
        assert_eq!(a.order_limits(), &PERP_ORDER_LIMITS);
        // The venue counted 300 orders in its 10 s window (other clients of the account):
        // nothing more fits until carry's window ages out.
        let mut budget = RateBudget::new(a.order_limits());
        let headers = [
            None,
            Some("300".to_string()),
            Some("300".to_string()),
            Some("10".to_string()),
        ];
        a.observe_usage(&answer(200, "{}", &headers), &mut budget, 1_000);
        assert_eq!(budget.wait_ms(1_000), 10_000);
        // The IP's weight within 5 % of 2400: new orders pause for a second.
        let mut budget = RateBudget::new(a.order_limits());
        let heavy = [None, None, None, Some("2280".to_string())];
        a.observe_usage(&answer(200, "{}", &heavy), &mut budget, 1_000);
        assert_eq!(budget.wait_ms(1_000), WEIGHT_PAUSE_MS);
        let light = [None, None, None, Some("2279".to_string())];
        let mut budget = RateBudget::new(a.order_limits());
        a.observe_usage(&answer(200, "{}", &light), &mut budget, 1_000);
        assert_eq!(budget.wait_ms(1_000), 0);

        let s = api("binance-spot", false);
        assert_eq!(s.order_limits(), &SPOT_ORDER_LIMITS);
        assert_eq!(s.usage_headers()[2], "X-MBX-ORDER-COUNT-1D");
        let mut budget = RateBudget::new(s.order_limits());
        let headers = [
            None,
            Some("3".to_string()),
            Some("160000".to_string()),
            None,
        ];
        s.observe_usage(&answer(200, "{}", &headers), &mut budget, 5);
        assert_eq!(
            budget.wait_ms(5),
            86_400_000,
            "the day's orders are used up"
        );
    }

    #[test]
    fn debug_shows_no_credentials() {
        let shown = format!("{:?}", api("binance-perp", false));
        assert!(!shown.contains(KEY) && !shown.contains(SECRET), "{shown}");
    }
}

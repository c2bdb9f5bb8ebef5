//! Bybit v5 orders: the [`OrderApi`] of `bybit-perp` (`category=linear`) and `bybit-spot`
//! (`category=spot`, through the margin wallet with `isLeverage=1` when the config trades spot
//! on margin).
//!
//! | call | request |
//! |---|---|
//! | place | `POST /v5/order/create` `{category, symbol, side, orderType:"Limit", qty, price, timeInForce, orderLinkId, positionIdx:0, reduceOnly, smpType:"CancelTaker", isLeverage}` (perp: `positionIdx`, `reduceOnly`; spot: `isLeverage` on margin) |
//! | cancel | `POST /v5/order/cancel` `{category, symbol, orderLinkId}` |
//! | query | `GET /v5/order/realtime?category=&symbol=&orderLinkId=` (open orders and the last 500 closed since the venue started) |
//! | fills | `GET /v5/execution/list?category=&symbol=&orderLinkId=&limit=100` (the last 7 days) |
//! | clock | `GET /v5/market/time` (`timeNano`) |
//! | setup | one-way mode from `GET /v5/position/list` (`positionIdx` 0; there is no mode getter), cross margin from `GET /v5/account/info` (`marginMode` `REGULAR_MARGIN`, account-wide), `POST /v5/position/set-leverage` (`110043` "not modified" is fine) |
//! | dead-man | `POST /v5/order/disconnected-cancel-all` `{product: DERIVATIVES or SPOT, timeWindow: 3..300 s}` |
//!
//! Every body is written once into the request and those bytes are what is signed
//! ([`super::sign`]). Quantities are base units on both markets (`qty_venue`), prices the
//! intent's own, both from exact decimals. The client order id travels in `orderLinkId` as
//! carry issued it (at most 28 letters and digits; Bybit takes 36 of `[A-Za-z0-9_-]`, and never
//! takes the same one twice). Self-trade prevention is `CancelTaker` on every order: the
//! incoming order is the one expired.
//!
//! **Answers.** Business errors come with HTTP 200 and a non-zero `retCode`. The place answer is
//! an acknowledgement (`result.orderId`): the order is Open with nothing known executed, and the
//! gateway's follow-up query learns what an IOC order did. The cancel answer is an
//! acknowledgement too and does not say what executed before the cancel, so it is read as "ask
//! the order" ([`Reading::NotFound`] with code 0, on which the gateway queries at once): a
//! cancel reported with nothing executed would hide a fill that raced it. A crossing PostOnly
//! order is not refused: it comes back `Cancelled` with `rejectReason=EC_PostOnlyWillTakeLiquidity`.
//!
//! | `retCode` (or HTTP status) | reading |
//! |---|---|
//! | `110072`, `170141` (`orderLinkId` reused), `10014` (duplicate request), `110030` | `Duplicate` |
//! | `110001`, `170213` (no such order), `110008`, `110010`, `170139`, `170142`, `170190` (finished), `170143` | `NotFound` |
//! | `10002` | `Timestamp` |
//! | `10006`, `10018`, `170005`, `170222`; HTTP 429; HTTP 403 (IP ban: 10 minutes) | `Throttled` (retry after `X-Bapi-Limit-Reset-Timestamp`) |
//! | `10000`, `10016`, `110079`, `170001`, `170007`, `170032`, `170035`, `170146`, `170147`, `170212`, `170234`, `3400214`; HTTP 5xx; an answer that cannot be read | `Unknown` |
//! | `10003`, `10004`, `10005`, `10007`, `10008`, `10009`, `10010`, `10027`, `10028`, `10029`; HTTP 401 | `Rejected(Auth)` |
//! | `110004`, `110006`, `110007`, `110012`, `110044`, `110045`, `110051`–`110053`, `170033`, `170131`, `170207`, `170228`, `170229`, `176015` | `Rejected(InsufficientBalance)` |
//! | `110016`, `110094`, `170124`, `170135`–`170137`, `170140`, `170148`; `10001` naming the quantity | `Rejected(InvalidQuantity)` |
//! | `110003`, `170132`–`170134`, `170192`–`170194`; `10001` naming the price | `Rejected(InvalidPrice)` |
//! | `110017` | `Rejected(ReduceOnly)` |
//! | `170218` | `Rejected(PostOnly)` |
//! | anything else | `Rejected(Other)` |
//!
//! **Fees** are positive when charged. Linear fees are in the settle coin (quote). Spot fees are
//! in the coin received (base on a buy, quote on a sell, the venue's "spot fee currency
//! instruction"): `cumFeeDetail` (or the fill's `feeCurrency`) names the coin, and a base-coin fee
//! is `fee_base`. A fee paid in a third coin (a fee deduction in MNT) has no quote value here and
//! is left out rather than counted at a wrong price.
//!
//! **Rate limits** are per UID and per endpoint: create 10/s on linear and 20/s on spot. Each
//! place answer's `X-Bapi-Limit-Status` (what is left of the create endpoint's second) corrects
//! the budget; other endpoints count apart and are not read into it.
//!
//! **Dead-man switch.** Bybit's DCP cancels the product's open orders once the account's
//! private websocket has been gone for `timeWindow`; the REST call sets that window. The
//! gateway re-sends it while GTC orders rest; the window is account-wide per product, so one
//! instrument's turn re-arms it and the others' are skipped (the endpoint takes 5 requests a
//! second). On the venue, DCP acts only while a private websocket subscribed to `dcp` holds the
//! account: that connection is what it watches.

use std::borrow::Cow;
use std::collections::BTreeMap;

use carry_engine::execution::order::{OrderIntent, OrderStatus, RejectReason, Side, TimeInForce};
use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::sign;
use crate::gateway::budget::{Limit, RateBudget};
use crate::gateway::credentials::Secret;
use crate::gateway::http::Answer;
use crate::gateway::live::{ApiConfig, Call, OrderApi, OrderState, Reading, Setup};
use crate::gateway::request::{IntText, Method, Request};
use crate::gateway::signer::Signer;

/// The create endpoint's documented limit per UID on linear (rolling second).
static LINEAR_LIMITS: [Limit; 1] = [Limit {
    count: 10,
    window_ms: 1_000,
}];
/// The same on spot.
static SPOT_LIMITS: [Limit; 1] = [Limit {
    count: 20,
    window_ms: 1_000,
}];

/// The answer headers read after every call, in this order.
static USAGE_HEADERS: [&str; 3] = [
    "X-Bapi-Limit",
    "X-Bapi-Limit-Status",
    "X-Bapi-Limit-Reset-Timestamp",
];
const STATUS_HEADER: usize = 1;
const RESET_HEADER: usize = 2;

/// The usage window of the create endpoint.
const LIMIT_WINDOW_MS: u64 = 1_000;
/// An IP over Bybit's HTTP limit gets 403 and must stay away for at least 10 minutes.
const IP_BAN_MS: u64 = 600_000;
/// DCP windows Bybit accepts, in seconds.
const DCP_MIN_S: u64 = 3;
const DCP_MAX_S: u64 = 300;
/// Fills read per search (the endpoint's maximum page).
const FILLS_PAGE: i64 = 100;

/// Self-trade prevention on every order: the incoming (taker) order is cancelled.
const SMP_TYPE: &str = "CancelTaker";

/// What an operator must do when the account is in hedge mode.
const HEDGE_MODE: &str = "the Bybit account is in hedge mode (positionIdx 1/2); carry trades \
one-way positions: switch with POST /v5/position/switch-mode {\"category\":\"linear\",\
\"coin\":\"USDT\",\"mode\":0} (or in the web UI) while no position or order is open";

/// One Bybit market's order API.
#[derive(Debug)]
pub struct BybitOrders {
    venue: Venue,
    key: Secret,
    signer: Signer,
    recv_window_ms: u32,
    margin_spot: bool,
    /// The call last built, so usage headers are read only from place answers.
    last_built: Option<Call>,
    /// The symbol whose turn re-arms the account-wide DCP window, and the venue time it last
    /// did.
    dcp_owner: String,
    dcp_built_ms: Option<i64>,
}

impl BybitOrders {
    /// The order API of `venue` (a Bybit market) for the account in `config`. The signing key
    /// is prepared here, once; the key is kept only to be sent in its header.
    pub fn new(venue: Venue, config: &ApiConfig) -> BybitOrders {
        debug_assert_eq!(
            venue.exchange,
            Exchange::Bybit,
            "{venue} is not a Bybit market"
        );
        BybitOrders {
            venue,
            key: config.credentials.key.clone(),
            signer: Signer::sha256(&config.credentials.secret),
            recv_window_ms: config.recv_window_ms,
            margin_spot: config.margin_spot,
            last_built: None,
            dcp_owner: String::new(),
            dcp_built_ms: None,
        }
    }

    fn spot(&self) -> bool {
        self.venue.market == Market::Spot
    }

    fn category(&self) -> &'static str {
        match self.venue.market {
            Market::Perp => "linear",
            Market::Spot => "spot",
        }
    }

    fn sign(&self, venue_ms: i64, req: &mut Request) {
        sign::sign(
            &self.signer,
            self.key.expose(),
            venue_ms,
            self.recv_window_ms,
            req,
        );
    }

    fn build_place(&self, order: &OrderIntent, symbol: &str, req: &mut Request) {
        req.start(Method::Post, "/v5/order/create");
        req.json_begin();
        req.json_str("category", self.category());
        req.json_str("symbol", symbol);
        req.json_str(
            "side",
            match order.side {
                Side::Buy => "Buy",
                Side::Sell => "Sell",
            },
        );
        req.json_str("orderType", "Limit");
        req.json_decimal("qty", order.qty_venue);
        req.json_decimal("price", order.price);
        req.json_str(
            "timeInForce",
            match order.tif {
                TimeInForce::Ioc => "IOC",
                TimeInForce::Gtc => "GTC",
            },
        );
        req.json_str("orderLinkId", order.client_order_id.as_str());
        if self.spot() {
            if self.margin_spot {
                req.json_int("isLeverage", 1);
            }
        } else {
            req.json_int("positionIdx", 0);
            req.json_bool("reduceOnly", order.reduce_only);
        }
        req.json_str("smpType", SMP_TYPE);
        req.json_end();
    }

    fn build_by_link_id(
        &self,
        method: Method,
        path: &str,
        order: &OrderIntent,
        symbol: &str,
        req: &mut Request,
    ) {
        req.start(method, path);
        match method {
            Method::Post | Method::Put => {
                req.json_begin();
                req.json_str("category", self.category());
                req.json_str("symbol", symbol);
                req.json_str("orderLinkId", order.client_order_id.as_str());
                req.json_end();
            }
            Method::Get | Method::Delete => {
                req.query("category", self.category());
                req.query("symbol", symbol);
                req.query("orderLinkId", order.client_order_id.as_str());
            }
        }
    }

    /// The reading of an answer whose envelope says `retCode` ≠ 0.
    fn refusal(&self, answer: &Answer<'_>, code: i64, msg: &str, time: Option<i64>) -> Reading {
        let retry_after_ms = match (answer.header(RESET_HEADER), time) {
            (Some(reset), Some(now)) => reset
                .trim()
                .parse::<i64>()
                .ok()
                .map(|r| (r - now).clamp(1, 60_000) as u64),
            _ => None,
        };
        reading_of(code, msg, retry_after_ms)
    }

    /// The `result.list` of a lookup answer, or the reading of an answer without one.
    fn list<'a, T: Deserialize<'a>>(&self, answer: &'a Answer<'_>) -> Result<Vec<T>, Reading> {
        let env: Envelope<'a, ListOf<T>> = envelope(answer)?;
        if env.ret_code != 0 {
            return Err(self.refusal(answer, env.ret_code, &env.ret_msg, env.time));
        }
        Ok(env.result.map(|r| r.list).unwrap_or_default())
    }

    fn read_query(&self, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        let list: Vec<OrderRow<'_>> = match self.list(answer) {
            Ok(l) => l,
            Err(r) => return r,
        };
        let id = order.client_order_id.as_str();
        match list.iter().find(|r| r.link_id == id) {
            Some(row) => match order_state(self.venue.market, row) {
                Some(state) => Reading::Order(state),
                None => Reading::Unknown { code: 0 },
            },
            None => Reading::NotFound { code: 0 },
        }
    }

    fn read_fills(&self, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        let list: Vec<FillRow<'_>> = match self.list(answer) {
            Ok(l) => l,
            Err(r) => return r,
        };
        let id = order.client_order_id.as_str();
        let rows = list.iter().filter(|r| {
            r.link_id == id && matches!(&*r.exec_type, "" | "Trade" | "AdlTrade" | "BustTrade")
        });
        match fills_state(self.venue.market, rows) {
            Some(state) if state.cum_qty.is_zero() => Reading::NotFound { code: 0 },
            Some(state) => Reading::Order(state),
            None => Reading::Unknown { code: 0 },
        }
    }
}

impl OrderApi for BybitOrders {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn usage_headers(&self) -> &'static [&'static str] {
        &USAGE_HEADERS
    }

    fn order_limits(&self) -> &'static [Limit] {
        match self.venue.market {
            Market::Perp => &LINEAR_LIMITS,
            Market::Spot => &SPOT_LIMITS,
        }
    }

    fn build(
        &mut self,
        call: Call,
        order: &OrderIntent,
        symbol: &str,
        venue_ms: i64,
        req: &mut Request,
    ) {
        match call {
            Call::Place => self.build_place(order, symbol, req),
            Call::Cancel => {
                self.build_by_link_id(Method::Post, "/v5/order/cancel", order, symbol, req)
            }
            Call::Query => {
                self.build_by_link_id(Method::Get, "/v5/order/realtime", order, symbol, req)
            }
            Call::Fills => {
                self.build_by_link_id(Method::Get, "/v5/execution/list", order, symbol, req);
                req.query_int("limit", FILLS_PAGE);
            }
        }
        self.sign(venue_ms, req);
        self.last_built = Some(call);
    }

    fn read(&mut self, call: Call, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        match call {
            Call::Place | Call::Cancel => {
                let env: Envelope<'_, IgnoredAny> = match envelope(answer) {
                    Ok(e) => e,
                    Err(r) => return r,
                };
                match (env.ret_code, call) {
                    // Accepted: nothing is known executed yet.
                    (0, Call::Place) => Reading::Order(OrderState::empty(OrderStatus::Open)),
                    // Cancel accepted: what executed before it is only in the order; ask.
                    (0, _) => Reading::NotFound { code: 0 },
                    (code, _) => self.refusal(answer, code, &env.ret_msg, env.time),
                }
            }
            Call::Query => self.read_query(order, answer),
            Call::Fills => self.read_fills(order, answer),
        }
    }

    fn build_server_time(&self, req: &mut Request) {
        req.start(Method::Get, "/v5/market/time");
    }

    fn read_server_time(&self, answer: &Answer<'_>) -> Option<i64> {
        let env: Envelope<'_, ServerTime<'_>> = envelope(answer).ok()?;
        if env.ret_code != 0 {
            return None;
        }
        env.result
            .and_then(|t| t.time_nano.trim().parse::<i128>().ok())
            .map(|ns| (ns / 1_000_000) as i64)
            .or(env.time)
    }

    fn build_setup(
        &mut self,
        setup: Setup,
        symbol: &str,
        venue_ms: i64,
        req: &mut Request,
    ) -> bool {
        if self.spot() {
            return false;
        }
        match setup {
            Setup::OneWayMode => {
                req.start(Method::Get, "/v5/position/list");
                req.query("category", "linear");
                req.query("symbol", symbol);
            }
            Setup::CrossMargin => req.start(Method::Get, "/v5/account/info"),
            Setup::Leverage(leverage) => {
                let text = IntText::new(i64::from(leverage));
                req.start(Method::Post, "/v5/position/set-leverage");
                req.json_begin();
                req.json_str("category", "linear");
                req.json_str("symbol", symbol);
                req.json_str("buyLeverage", text.as_str());
                req.json_str("sellLeverage", text.as_str());
                req.json_end();
            }
        }
        self.sign(venue_ms, req);
        true
    }

    fn read_setup(&mut self, setup: Setup, answer: &Answer<'_>) -> Result<(), String> {
        let said = |code: i64, msg: &str| format!("Bybit retCode {code}: {msg}");
        let http = || {
            format!(
                "Bybit answered HTTP {} without a readable body",
                answer.status
            )
        };
        match setup {
            Setup::OneWayMode => {
                let env: Envelope<'_, ListOf<PositionRow>> =
                    envelope(answer).map_err(|_| http())?;
                if env.ret_code != 0 {
                    return Err(said(env.ret_code, &env.ret_msg));
                }
                let list = env.result.map(|r| r.list).unwrap_or_default();
                if list.iter().any(|p| p.position_idx != 0) {
                    return Err(HEDGE_MODE.to_string());
                }
                Ok(())
            }
            Setup::CrossMargin => {
                let env: Envelope<'_, AccountInfo<'_>> = envelope(answer).map_err(|_| http())?;
                if env.ret_code != 0 {
                    return Err(said(env.ret_code, &env.ret_msg));
                }
                let mode = env.result.map(|r| r.margin_mode).unwrap_or_default();
                if mode == "REGULAR_MARGIN" {
                    Ok(())
                } else {
                    Err(format!(
                        "the Bybit account's margin mode is {mode:?} (account-wide); carry trades \
                         cross margin: switch with POST /v5/account/set-margin-mode \
                         {{\"setMarginMode\":\"REGULAR_MARGIN\"}}"
                    ))
                }
            }
            Setup::Leverage(_) => {
                let env: Envelope<'_, IgnoredAny> = envelope(answer).map_err(|_| http())?;
                match env.ret_code {
                    // 110043: the leverage is already this.
                    0 | 110043 => Ok(()),
                    code => Err(said(code, &env.ret_msg)),
                }
            }
        }
    }

    fn build_dead_man_switch(
        &mut self,
        symbol: &str,
        countdown_ms: u64,
        venue_ms: i64,
        req: &mut Request,
    ) -> bool {
        // One window per product: one instrument's turn re-arms it; the others' turns add
        // nothing while that renewal is fresh (less than half a window old).
        let fresh = self
            .dcp_built_ms
            .is_some_and(|t| venue_ms.saturating_sub(t) < (countdown_ms / 2) as i64);
        if symbol != self.dcp_owner && fresh {
            return false;
        }
        if symbol != self.dcp_owner {
            self.dcp_owner.clear();
            self.dcp_owner.push_str(symbol);
        }
        let seconds = countdown_ms.div_ceil(1_000).clamp(DCP_MIN_S, DCP_MAX_S);
        req.start(Method::Post, "/v5/order/disconnected-cancel-all");
        req.json_begin();
        req.json_str(
            "product",
            match self.venue.market {
                Market::Perp => "DERIVATIVES",
                Market::Spot => "SPOT",
            },
        );
        req.json_int("timeWindow", seconds as i64);
        req.json_end();
        self.sign(venue_ms, req);
        self.dcp_built_ms = Some(venue_ms);
        true
    }

    fn observe_usage(&self, answer: &Answer<'_>, budget: &mut RateBudget, now_ms: u64) {
        // Bybit counts each endpoint apart: only the create endpoint's usage is the budget's.
        if self.last_built != Some(Call::Place) {
            return;
        }
        if let Some(left) = answer
            .header(STATUS_HEADER)
            .and_then(|s| s.trim().parse::<u32>().ok())
        {
            budget.observe_remaining(LIMIT_WINDOW_MS, left, now_ms);
        }
    }

    fn lookup_is_windowed(&self) -> bool {
        true
    }
}

/// What a `retCode` (or an HTTP status standing for one) means; see the module's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meaning {
    /// The `orderLinkId` is taken.
    Duplicate,
    /// No such order (or no longer working).
    NotFound,
    /// Outside the receive window.
    Timestamp,
    /// Rate limited: nothing happened.
    Throttled,
    /// The outcome is not known.
    Unknown,
    /// Refused for good.
    Rejected(RejectReason),
}

/// The meaning of Bybit's `retCode` `code` with message `msg` (the generic `10001` parameter
/// error is told apart by what its message names).
pub fn meaning(code: i64, msg: &str) -> Meaning {
    use Meaning::*;
    use RejectReason as R;
    match code {
        110072 | 170141 | 10014 | 110030 => Duplicate,
        110001 | 170213 | 110008 | 110010 | 170139 | 170142 | 170143 | 170190 => NotFound,
        10002 => Timestamp,
        10006 | 10018 | 170005 | 170222 => Throttled,
        10000 | 10016 | 110079 | 170001 | 170007 | 170032 | 170035 | 170146 | 170147 | 170212
        | 170234 | 3400214 => Unknown,
        10003 | 10004 | 10005 | 10007 | 10008 | 10009 | 10010 | 10027 | 10028 | 10029 => {
            Rejected(R::Auth)
        }
        110004
        | 110006
        | 110007
        | 110012
        | 110044
        | 110045
        | 110051..=110053
        | 170033
        | 170131
        | 170207
        | 170228
        | 170229
        | 176015 => Rejected(R::InsufficientBalance),
        110016 | 110094 | 170124 | 170135..=170137 | 170140 | 170148 => {
            Rejected(R::InvalidQuantity)
        }
        110003 | 170132..=170134 | 170192..=170194 => Rejected(R::InvalidPrice),
        110017 => Rejected(R::ReduceOnly),
        170218 => Rejected(R::PostOnly),
        10001 if names(msg, "qty") || names(msg, "quantity") || names(msg, "contracts") => {
            Rejected(R::InvalidQuantity)
        }
        10001 if names(msg, "price") => Rejected(R::InvalidPrice),
        _ => Rejected(R::Other),
    }
}

/// `code`'s reading, with the venue's wait where it gave one.
fn reading_of(code: i64, msg: &str, retry_after_ms: Option<u64>) -> Reading {
    let code32 = i32::try_from(code).unwrap_or(i32::MAX);
    match meaning(code, msg) {
        Meaning::Duplicate => Reading::Duplicate { code: code32 },
        Meaning::NotFound => Reading::NotFound { code: code32 },
        Meaning::Timestamp => Reading::Timestamp { code: code32 },
        Meaning::Throttled => Reading::Throttled {
            code: code32,
            retry_after_ms,
        },
        Meaning::Unknown => Reading::Unknown { code: code32 },
        Meaning::Rejected(reason) => Reading::Rejected {
            reason,
            code: code32,
        },
    }
}

/// Whether `msg` contains `word`, ignoring ASCII case.
fn names(msg: &str, word: &str) -> bool {
    msg.as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// Bybit's `{retCode, retMsg, result, time}`.
#[derive(Deserialize)]
struct Envelope<'a, R> {
    #[serde(rename = "retCode")]
    ret_code: i64,
    #[serde(rename = "retMsg", borrow, default)]
    ret_msg: Cow<'a, str>,
    #[serde(default = "Option::default")]
    result: Option<R>,
    #[serde(default)]
    time: Option<i64>,
}

#[derive(Deserialize)]
struct ListOf<T> {
    #[serde(default = "Vec::new")]
    list: Vec<T>,
}

#[derive(Deserialize)]
struct ServerTime<'a> {
    #[serde(rename = "timeNano", borrow, default)]
    time_nano: Cow<'a, str>,
}

#[derive(Deserialize)]
struct PositionRow {
    #[serde(rename = "positionIdx", default)]
    position_idx: i64,
}

#[derive(Deserialize)]
struct AccountInfo<'a> {
    #[serde(rename = "marginMode", borrow, default)]
    margin_mode: Cow<'a, str>,
}

/// An order as `/v5/order/realtime` lists it.
#[derive(Deserialize)]
struct OrderRow<'a> {
    #[serde(rename = "orderLinkId", borrow, default)]
    link_id: Cow<'a, str>,
    #[serde(borrow, default)]
    symbol: Cow<'a, str>,
    #[serde(borrow, default)]
    side: Cow<'a, str>,
    #[serde(rename = "orderStatus", borrow)]
    status: Cow<'a, str>,
    #[serde(rename = "cumExecQty", borrow)]
    cum_exec_qty: Cow<'a, str>,
    #[serde(rename = "cumExecValue", borrow, default)]
    cum_exec_value: Cow<'a, str>,
    #[serde(rename = "avgPrice", borrow, default)]
    avg_price: Cow<'a, str>,
    #[serde(rename = "cumExecFee", borrow, default)]
    cum_exec_fee: Cow<'a, str>,
    #[serde(rename = "cumFeeDetail", default)]
    fee_detail: Option<BTreeMap<String, String>>,
}

/// A fill as `/v5/execution/list` lists it.
#[derive(Deserialize)]
struct FillRow<'a> {
    #[serde(rename = "orderLinkId", borrow, default)]
    link_id: Cow<'a, str>,
    #[serde(borrow, default)]
    symbol: Cow<'a, str>,
    #[serde(borrow, default)]
    side: Cow<'a, str>,
    #[serde(rename = "execType", borrow, default)]
    exec_type: Cow<'a, str>,
    #[serde(rename = "execQty", borrow)]
    qty: Cow<'a, str>,
    #[serde(rename = "execPrice", borrow)]
    price: Cow<'a, str>,
    #[serde(rename = "execFee", borrow, default)]
    fee: Cow<'a, str>,
    #[serde(rename = "feeCurrency", borrow, default)]
    fee_currency: Cow<'a, str>,
}

/// The envelope of an answer, or the reading of an answer that has none: a 5xx, a throttle or
/// auth status, or a body that cannot be read (which does not say the order was refused).
fn envelope<'a, R: Deserialize<'a>>(answer: &'a Answer<'_>) -> Result<Envelope<'a, R>, Reading> {
    let status = answer.status;
    let code = i32::from(status);
    match status {
        500..=599 => return Err(Reading::Unknown { code }),
        403 => {
            return Err(Reading::Throttled {
                code,
                retry_after_ms: Some(IP_BAN_MS),
            })
        }
        429 => {
            return Err(Reading::Throttled {
                code,
                retry_after_ms: None,
            })
        }
        401 => {
            return Err(Reading::Rejected {
                reason: RejectReason::Auth,
                code,
            })
        }
        _ => {}
    }
    serde_json::from_slice(answer.body).map_err(|_| match status {
        200..=299 => Reading::Unknown { code },
        // A route or request the venue did not take (404, 400): nothing was done.
        _ => Reading::Rejected {
            reason: RejectReason::Other,
            code,
        },
    })
}

/// A decimal field; `""` reads as zero (Bybit's "none yet").
fn dec(s: &str) -> Option<Decimal> {
    let s = s.trim();
    if s.is_empty() {
        return Some(Decimal::ZERO);
    }
    s.parse().ok()
}

/// `orderStatus` as carry counts it.
fn order_status(s: &str) -> Option<OrderStatus> {
    Some(match s {
        "Created" | "New" | "PartiallyFilled" | "Untriggered" | "Triggered" => OrderStatus::Open,
        "Filled" => OrderStatus::Filled,
        // A crossing PostOnly order is `Cancelled` (rejectReason EC_PostOnlyWillTakeLiquidity).
        "Cancelled" | "PartiallyFilledCanceled" | "Deactivated" => OrderStatus::Canceled,
        "Rejected" => OrderStatus::Rejected,
        _ => return None,
    })
}

/// Where a fee paid in `coin` belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FeeCoin {
    Base,
    Quote,
    /// Another coin (an MNT deduction): no quote value without its price.
    Other,
}

/// The coin of a fee on `symbol`; an unnamed coin follows the venue's rule (linear: the settle
/// coin; spot: the coin received).
fn fee_coin(market: Market, symbol: &str, coin: &str, buy: bool) -> FeeCoin {
    let spot = market == Market::Spot;
    if coin.is_empty() {
        return if spot && buy {
            FeeCoin::Base
        } else {
            FeeCoin::Quote
        };
    }
    if spot && symbol.len() > coin.len() && symbol.starts_with(coin) {
        return FeeCoin::Base;
    }
    // USDC perpetuals are spelled `BTCPERP` and settle in USDC.
    if symbol.ends_with(coin) || (!spot && coin == "USDC" && symbol.ends_with("PERP")) {
        return FeeCoin::Quote;
    }
    FeeCoin::Other
}

fn add_fee(state: &mut OrderState, coin: FeeCoin, amount: Decimal) {
    match coin {
        FeeCoin::Base => state.fee_base += amount,
        FeeCoin::Quote => state.fee_quote += amount,
        FeeCoin::Other => {}
    }
}

/// The state of a realtime row; `None` when a field cannot be read.
fn order_state(market: Market, row: &OrderRow<'_>) -> Option<OrderState> {
    let mut state = OrderState::empty(order_status(&row.status)?);
    state.cum_qty = dec(&row.cum_exec_qty)?;
    let avg = dec(&row.avg_price)?;
    state.avg_price = if avg.is_zero() && !state.cum_qty.is_zero() {
        // Classic accounts print "0" after a partial fill that was cancelled.
        (dec(&row.cum_exec_value)? / state.cum_qty).normalize()
    } else {
        avg
    };
    let buy = row.side == "Buy";
    match row.fee_detail.as_ref().filter(|d| !d.is_empty()) {
        Some(detail) => {
            for (coin, amount) in detail {
                add_fee(
                    &mut state,
                    fee_coin(market, &row.symbol, coin, buy),
                    dec(amount)?,
                );
            }
        }
        None => {
            let fee = dec(&row.cum_exec_fee)?;
            add_fee(&mut state, fee_coin(market, &row.symbol, "", buy), fee);
        }
    }
    Some(state)
}

/// The sum of an order's fills; `None` when a field cannot be read.
fn fills_state<'r, 'a: 'r>(
    market: Market,
    rows: impl Iterator<Item = &'r FillRow<'a>>,
) -> Option<OrderState> {
    let mut state = OrderState::empty(OrderStatus::Open);
    let mut value = Decimal::ZERO;
    for r in rows {
        let qty = dec(&r.qty)?;
        let price = dec(&r.price)?;
        state.cum_qty += qty;
        value += qty * price;
        let coin = fee_coin(market, &r.symbol, &r.fee_currency, r.side == "Buy");
        add_fee(&mut state, coin, dec(&r.fee)?);
    }
    if !state.cum_qty.is_zero() {
        state.avg_price = (value / state.cum_qty).normalize();
    }
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::credentials::Credentials;
    use carry_engine::decision::target::PairId;
    use carry_engine::execution::client_id::{ClientOrderId, InstanceId};
    use carry_engine::execution::order::{IntentAction, Leg, Step};
    use carry_engine::InstrumentId;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const PERP: Venue = Venue::new(Exchange::Bybit, Market::Perp);
    const SPOT: Venue = Venue::new(Exchange::Bybit, Market::Spot);

    /// The key and secret of the hand-checked signatures below.
    fn config(margin_spot: bool) -> ApiConfig {
        ApiConfig {
            credentials: Credentials {
                key: Secret::new("carry-test-key"),
                secret: Secret::new("carry-test-secret"),
                passphrase: None,
            },
            recv_window_ms: 5_000,
            demo_trading: false,
            margin_spot,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn intent(
        venue: Venue,
        cycle: u32,
        step: Step,
        leg: Leg,
        attempt: u16,
        side: Side,
        tif: TimeInForce,
        price: &str,
        qty: &str,
    ) -> OrderIntent {
        let instance = InstanceId::new("T1").unwrap();
        OrderIntent {
            action: IntentAction::Place,
            client_order_id: ClientOrderId::new(&instance, cycle, step, leg, attempt).unwrap(),
            pair: PairId(0),
            cycle,
            step,
            leg,
            attempt,
            venue,
            instrument: InstrumentId(0),
            side,
            tif,
            reduce_only: false,
            price: d(price),
            qty_base: d(qty),
            qty_venue: d(qty),
        }
    }

    /// `T10000007EL001`: a perp IOC buy.
    fn perp_buy() -> OrderIntent {
        intent(
            PERP,
            7,
            Step::Entry,
            Leg::Long,
            1,
            Side::Buy,
            TimeInForce::Ioc,
            "65000.50",
            "0.0150",
        )
    }

    /// `T10000009HS002`: a spot GTC sell.
    fn spot_sell() -> OrderIntent {
        intent(
            SPOT,
            9,
            Step::Hedge,
            Leg::Short,
            2,
            Side::Sell,
            TimeInForce::Gtc,
            "3100.25",
            "0.25",
        )
    }

    const TS: i64 = 1_700_000_000_123;

    fn headers(req: &Request) -> Vec<(&'static str, String)> {
        req.headers().map(|(n, v)| (n, v.to_string())).collect()
    }

    fn signed_headers(sign: &str, post: bool) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("X-BAPI-API-KEY", "carry-test-key".to_string()),
            ("X-BAPI-TIMESTAMP", TS.to_string()),
            ("X-BAPI-RECV-WINDOW", "5000".to_string()),
            ("X-BAPI-SIGN", sign.to_string()),
        ];
        if post {
            h.push(("Content-Type", "application/json".to_string()));
        }
        h
    }

    // The signatures in these tests were computed outside carry, with Python's hmac module:
    // hmac.new(b"carry-test-secret", (ts + key + "5000" + payload).encode(),
    //          hashlib.sha256).hexdigest()
    // for the payload bytes asserted next to each.

    #[test]
    fn perp_place_request_is_exact_and_hand_checked() {
        let mut api = BybitOrders::new(PERP, &config(false));
        let mut req = Request::new();
        api.build(Call::Place, &perp_buy(), "BTCUSDT", TS, &mut req);
        assert_eq!(req.method(), Method::Post);
        assert_eq!(req.path(), "/v5/order/create");
        assert_eq!(req.query_str(), "");
        assert_eq!(
            req.body_str(),
            r#"{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.015","price":"65000.5","timeInForce":"IOC","orderLinkId":"T10000007EL001","positionIdx":0,"reduceOnly":false,"smpType":"CancelTaker"}"#
        );
        assert_eq!(
            headers(&req),
            signed_headers(
                "8aacf5f98742f2a1abff6665ca8fe91fe35671a3e55b5c7cbe9cbceae622ce6d",
                true
            )
        );

        let mut exit = perp_buy();
        exit.reduce_only = true;
        exit.side = Side::Sell;
        exit.tif = TimeInForce::Gtc;
        api.build(Call::Place, &exit, "BTCUSDT", TS, &mut req);
        assert!(
            req.body_str()
                .contains(r#""side":"Sell","orderType":"Limit","qty":"0.015","price":"65000.5","timeInForce":"GTC""#),
            "{}",
            req.body_str()
        );
        assert!(req
            .body_str()
            .contains(r#""positionIdx":0,"reduceOnly":true"#));
    }

    #[test]
    fn perp_query_cancel_and_fills_requests() {
        let mut api = BybitOrders::new(PERP, &config(false));
        let mut req = Request::new();
        api.build(Call::Query, &perp_buy(), "BTCUSDT", TS, &mut req);
        assert_eq!(req.method(), Method::Get);
        assert_eq!(req.path(), "/v5/order/realtime");
        assert_eq!(
            req.query_str(),
            "category=linear&symbol=BTCUSDT&orderLinkId=T10000007EL001"
        );
        assert_eq!(req.body_str(), "");
        assert_eq!(
            headers(&req),
            signed_headers(
                "f546afb6b7a4161bda06f8dbfab38b44c551036762436f1e5d5afcd403ad0a8b",
                false
            )
        );

        api.build(Call::Cancel, &perp_buy(), "BTCUSDT", TS, &mut req);
        assert_eq!(
            (req.method(), req.path(), req.body_str()),
            (
                Method::Post,
                "/v5/order/cancel",
                r#"{"category":"linear","symbol":"BTCUSDT","orderLinkId":"T10000007EL001"}"#
            )
        );

        api.build(Call::Fills, &perp_buy(), "BTCUSDT", TS, &mut req);
        assert_eq!(
            (req.method(), req.path(), req.query_str()),
            (
                Method::Get,
                "/v5/execution/list",
                "category=linear&symbol=BTCUSDT&orderLinkId=T10000007EL001&limit=100"
            )
        );
        assert_eq!(req.header_value("X-BAPI-SIGN").map(str::len), Some(64));
    }

    #[test]
    fn spot_requests_are_exact_and_hand_checked() {
        let mut api = BybitOrders::new(SPOT, &config(true));
        let mut req = Request::new();
        api.build(Call::Place, &spot_sell(), "ETHUSDT", TS, &mut req);
        assert_eq!(
            (req.method(), req.path()),
            (Method::Post, "/v5/order/create")
        );
        assert_eq!(
            req.body_str(),
            r#"{"category":"spot","symbol":"ETHUSDT","side":"Sell","orderType":"Limit","qty":"0.25","price":"3100.25","timeInForce":"GTC","orderLinkId":"T10000009HS002","isLeverage":1,"smpType":"CancelTaker"}"#
        );
        assert_eq!(
            headers(&req),
            signed_headers(
                "53416493d708fea0f2617a2d99e5d6469004d28b65cf3ca2f13a7a072096d713",
                true
            )
        );

        api.build(Call::Cancel, &spot_sell(), "ETHUSDT", TS, &mut req);
        assert_eq!(req.path(), "/v5/order/cancel");
        assert_eq!(
            req.body_str(),
            r#"{"category":"spot","symbol":"ETHUSDT","orderLinkId":"T10000009HS002"}"#
        );
        assert_eq!(
            headers(&req),
            signed_headers(
                "a22d343c82aa4b9f81c7811eabb5bd903a89ad31f613a8cedb69f9278cde2aa0",
                true
            )
        );

        api.build(Call::Query, &spot_sell(), "ETHUSDT", TS, &mut req);
        assert_eq!(
            req.query_str(),
            "category=spot&symbol=ETHUSDT&orderLinkId=T10000009HS002"
        );

        // Without margin: the plain spot wallet, no isLeverage, never reduceOnly.
        let mut cash = BybitOrders::new(SPOT, &config(false));
        cash.build(Call::Place, &spot_sell(), "ETHUSDT", TS, &mut req);
        assert!(!req.body_str().contains("isLeverage"), "{}", req.body_str());
        assert!(!req.body_str().contains("reduceOnly"), "{}", req.body_str());
        assert!(
            !req.body_str().contains("positionIdx"),
            "{}",
            req.body_str()
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let api = BybitOrders::new(PERP, &config(false));
        let shown = format!("{api:?}");
        assert!(!shown.contains("carry-test-secret"), "{shown}");
        assert!(!shown.contains("carry-test-key"), "{shown}");
    }

    #[test]
    fn every_listed_code_has_its_meaning() {
        use Meaning::*;
        use RejectReason as R;
        let cases: &[(i64, &str, Meaning)] = &[
            (110072, "OrderLinkedID is duplicate", Duplicate),
            (170141, "Duplicate clientOrderId", Duplicate),
            (10014, "Invalid duplicate request", Duplicate),
            (110001, "Order does not exist.", NotFound),
            (170213, "Order does not exist.", NotFound),
            (
                110008,
                "The order has been completed or cancelled.",
                NotFound,
            ),
            (170142, "Order has been canceled", NotFound),
            (
                10002,
                "invalid request, please check your server timestamp",
                Timestamp,
            ),
            (
                10006,
                "Too many visits. Exceeded the API Rate Limit.",
                Throttled,
            ),
            (170005, "Too many new orders", Throttled),
            (170222, "Too many requests in this time frame.", Throttled),
            (10016, "Server error.", Unknown),
            (10000, "Server Timeout", Unknown),
            (
                170007,
                "Timeout waiting for response from backend server.",
                Unknown,
            ),
            (170146, "Order creation timeout", Unknown),
            (110079, "The order is processing", Unknown),
            (10003, "API key is invalid.", Rejected(R::Auth)),
            (10004, "Error sign", Rejected(R::Auth)),
            (10005, "Permission denied", Rejected(R::Auth)),
            (10010, "Unmatched IP", Rejected(R::Auth)),
            (
                110007,
                "Insufficient available balance",
                Rejected(R::InsufficientBalance),
            ),
            (
                110004,
                "Wallet balance is insufficient",
                Rejected(R::InsufficientBalance),
            ),
            (
                110012,
                "Insufficient available balance.",
                Rejected(R::InsufficientBalance),
            ),
            (
                170131,
                "Insufficient balance.",
                Rejected(R::InsufficientBalance),
            ),
            (
                170033,
                "margin Insufficient account balance",
                Rejected(R::InsufficientBalance),
            ),
            (
                110094,
                "Order does not meet minimum order value",
                Rejected(R::InvalidQuantity),
            ),
            (
                170136,
                "Order quantity lower than the minimum.",
                Rejected(R::InvalidQuantity),
            ),
            (
                170137,
                "Order volume decimal too long",
                Rejected(R::InvalidQuantity),
            ),
            (
                170140,
                "Order value exceeded lower limit",
                Rejected(R::InvalidQuantity),
            ),
            (
                110003,
                "Order price is out of permissible range",
                Rejected(R::InvalidPrice),
            ),
            (
                170134,
                "Order price decimal too long.",
                Rejected(R::InvalidPrice),
            ),
            (
                110017,
                "Reduce-only rule not satisfied",
                Rejected(R::ReduceOnly),
            ),
            (
                170218,
                "The LIMIT-MAKER order is rejected",
                Rejected(R::PostOnly),
            ),
            (10001, "Qty invalid", Rejected(R::InvalidQuantity)),
            (
                10001,
                "The number of contracts exceeds minimum limit allowed",
                Rejected(R::InvalidQuantity),
            ),
            (10001, "Price invalid", Rejected(R::InvalidPrice)),
            (
                10001,
                "position idx not match position mode",
                Rejected(R::Other),
            ),
            (
                110020,
                "Not allowed to have more than 500 active orders.",
                Rejected(R::Other),
            ),
            (999999, "", Rejected(R::Other)),
        ];
        for &(code, msg, want) in cases {
            assert_eq!(meaning(code, msg), want, "{code} {msg}");
        }
    }

    fn answer<'a>(status: u16, headers: &'a [Option<String>], body: &'a str) -> Answer<'a> {
        Answer {
            status,
            headers,
            body: body.as_bytes(),
        }
    }

    const NO_HEADERS: [Option<String>; 3] = [None, None, None];

    fn read(
        api: &mut BybitOrders,
        call: Call,
        order: &OrderIntent,
        status: u16,
        body: &str,
    ) -> Reading {
        api.read(call, order, &answer(status, &NO_HEADERS, body))
    }

    /// `docs/v5/order/create-order.mdx`, Response Example.
    const CREATE_OK: &str = r#"{"retCode":0,"retMsg":"OK","result":{"orderId":"1321003749386327552","orderLinkId":"spot-test-postonly"},"retExtInfo":{},"time":1672211918471}"#;
    /// `docs/v5/order/cancel-order.mdx`, Response Example.
    const CANCEL_OK: &str = r#"{"retCode":0,"retMsg":"OK","result":{"orderId":"c6f055d9-7f21-4079-913d-e6523a9cfffa","orderLinkId":"linear-004"},"retExtInfo":{},"time":1672217377164}"#;

    #[test]
    fn place_and_cancel_answers_are_acknowledgements() {
        let mut api = BybitOrders::new(PERP, &config(false));
        let o = perp_buy();
        assert_eq!(
            read(&mut api, Call::Place, &o, 200, CREATE_OK),
            Reading::Order(OrderState::empty(OrderStatus::Open))
        );
        // The cancel answer says nothing of what executed: the gateway is sent to ask.
        assert_eq!(
            read(&mut api, Call::Cancel, &o, 200, CANCEL_OK),
            Reading::NotFound { code: 0 }
        );
        let dup = r#"{"retCode":110072,"retMsg":"OrderLinkedID is duplicate","result":{},"retExtInfo":{},"time":1}"#;
        assert_eq!(
            read(&mut api, Call::Place, &o, 200, dup),
            Reading::Duplicate { code: 110072 }
        );
        let gone = r#"{"retCode":110001,"retMsg":"Order does not exist.","result":{},"retExtInfo":{},"time":1}"#;
        assert_eq!(
            read(&mut api, Call::Cancel, &o, 200, gone),
            Reading::NotFound { code: 110001 }
        );
        let poor = r#"{"retCode":110007,"retMsg":"Insufficient available balance","result":{},"retExtInfo":{},"time":1}"#;
        assert_eq!(
            read(&mut api, Call::Place, &o, 200, poor),
            Reading::Rejected {
                reason: RejectReason::InsufficientBalance,
                code: 110007
            }
        );
        let skewed = r#"{"retCode":10002,"retMsg":"invalid request, please check your server timestamp or recv_window param.","result":{},"retExtInfo":{},"time":1}"#;
        assert_eq!(
            read(&mut api, Call::Place, &o, 200, skewed),
            Reading::Timestamp { code: 10002 }
        );
        // Statuses that carry no envelope.
        let html = "<html><head><title>502 Bad Gateway</title></head></html>";
        assert_eq!(
            read(&mut api, Call::Place, &o, 502, html),
            Reading::Unknown { code: 502 }
        );
        assert_eq!(
            read(&mut api, Call::Place, &o, 403, "access too frequent"),
            Reading::Throttled {
                code: 403,
                retry_after_ms: Some(600_000)
            }
        );
        assert_eq!(
            read(&mut api, Call::Place, &o, 401, ""),
            Reading::Rejected {
                reason: RejectReason::Auth,
                code: 401
            }
        );
        assert_eq!(
            read(&mut api, Call::Place, &o, 404, "Not Found"),
            Reading::Rejected {
                reason: RejectReason::Other,
                code: 404
            }
        );
        // A 200 that cannot be read does not say the order was refused.
        assert_eq!(
            read(&mut api, Call::Place, &o, 200, r#"{"retCo"#),
            Reading::Unknown { code: 200 }
        );
    }

    #[test]
    fn a_throttle_waits_until_the_venue_resets_the_window() {
        let mut api = BybitOrders::new(PERP, &config(false));
        let body = r#"{"retCode":10006,"retMsg":"Too many visits. Exceeded the API Rate Limit.","result":{},"retExtInfo":{},"time":1672738134500}"#;
        let headers = [
            Some("10".to_string()),
            Some("0".to_string()),
            Some("1672738134824".to_string()),
        ];
        assert_eq!(
            api.read(Call::Place, &perp_buy(), &answer(200, &headers, body)),
            Reading::Throttled {
                code: 10006,
                retry_after_ms: Some(324)
            }
        );
        // Spot's own codes come without the headers: the gateway's default pause applies.
        let spot = r#"{"retCode":170222,"retMsg":"Too many requests in this time frame.","result":{},"retExtInfo":{},"time":1}"#;
        assert_eq!(
            read(&mut api, Call::Place, &perp_buy(), 200, spot),
            Reading::Throttled {
                code: 170222,
                retry_after_ms: None
            }
        );
    }

    /// `docs/v5/order/open-order.mdx`, Response Example (linear, with `cumFeeDetail` in MNT),
    /// with its `orderLinkId` set to the intent's.
    const REALTIME_DOC: &str = r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"orderId":"fd4300ae-7847-404e-b947-b46980a4d140","orderLinkId":"T10000007EL001","blockTradeId":"","symbol":"ETHUSDT","price":"1600.00","qty":"0.10","side":"Buy","isLeverage":"","positionIdx":1,"orderStatus":"New","cancelType":"UNKNOWN","rejectReason":"EC_NoError","avgPrice":"0","leavesQty":"0.10","leavesValue":"160","cumExecQty":"0.00","cumExecValue":"0","cumExecFee":"0","timeInForce":"GTC","orderType":"Limit","stopOrderType":"UNKNOWN","orderIv":"","triggerPrice":"0.00","takeProfit":"2500.00","stopLoss":"1500.00","tpTriggerBy":"LastPrice","slTriggerBy":"LastPrice","triggerDirection":0,"triggerBy":"UNKNOWN","lastPriceOnCreated":"","reduceOnly":false,"closeOnTrigger":false,"smpType":"None","smpGroup":0,"smpOrderId":"","tpslMode":"Full","tpLimitPrice":"","slLimitPrice":"","placeType":"","createdTime":"1684738540559","updatedTime":"1684738540561","cumFeeDetail":{"MNT":"0.00242968"}}],"nextPageCursor":"page_args%3Dfd4300ae-7847-404e-b947-b46980a4d140%26symbol%3D6%26","category":"linear"},"retExtInfo":{},"time":1684765770483}"#;

    fn realtime_row(fields: &str) -> String {
        format!(
            r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"x","nextPageCursor":"","list":[{{"orderId":"1","orderLinkId":"{{ID}}",{fields}}}]}},"retExtInfo":{{}},"time":1}}"#
        )
    }

    #[test]
    fn realtime_rows_read_as_order_states() {
        let mut perp = BybitOrders::new(PERP, &config(false));
        let mut spot = BybitOrders::new(SPOT, &config(false));
        let o = perp_buy();
        // The documented row: open, nothing executed; its fee is in MNT and stays out.
        assert_eq!(
            read(&mut perp, Call::Query, &o, 200, REALTIME_DOC),
            Reading::Order(OrderState::empty(OrderStatus::Open))
        );
        // A row for another id, or none: not found.
        let other = REALTIME_DOC.replace("T10000007EL001", "someone-else");
        assert_eq!(
            read(&mut perp, Call::Query, &o, 200, &other),
            Reading::NotFound { code: 0 }
        );
        let empty = r#"{"retCode":0,"retMsg":"OK","result":{"list":[],"nextPageCursor":"","category":"linear"},"retExtInfo":{},"time":1}"#;
        assert_eq!(
            read(&mut perp, Call::Query, &o, 200, empty),
            Reading::NotFound { code: 0 }
        );

        let state = |api: &mut BybitOrders, o: &OrderIntent, fields: &str| {
            let body = realtime_row(fields).replace("{ID}", o.client_order_id.as_str());
            match read(api, Call::Query, o, 200, &body) {
                Reading::Order(s) => s,
                other => panic!("{fields}: {other:?}"),
            }
        };
        // Linear, partly filled, fee in the settle coin.
        let s = state(
            &mut perp,
            &o,
            r#""symbol":"BTCUSDT","side":"Buy","orderStatus":"PartiallyFilled","avgPrice":"65000.5","cumExecQty":"0.010","cumExecValue":"650.005","cumExecFee":"0.357","cumFeeDetail":{"USDT":"0.357"}"#,
        );
        assert_eq!(
            s,
            OrderState {
                status: OrderStatus::Open,
                cum_qty: d("0.010"),
                avg_price: d("65000.5"),
                fee_quote: d("0.357"),
                fee_base: Decimal::ZERO,
            }
        );
        // Linear IOC remainder cancelled; maker rebate (negative) kept as it is.
        let s = state(
            &mut perp,
            &o,
            r#""symbol":"BTCUSDT","side":"Buy","orderStatus":"Cancelled","avgPrice":"65000","cumExecQty":"0.005","cumExecValue":"325","cumExecFee":"-0.0325","cumFeeDetail":{"USDT":"-0.0325"}"#,
        );
        assert_eq!(
            (s.status, s.cum_qty, s.fee_quote),
            (OrderStatus::Canceled, d("0.005"), d("-0.0325"))
        );
        // USDC perpetuals settle in USDC.
        let s = state(
            &mut perp,
            &o,
            r#""symbol":"BTCPERP","side":"Sell","orderStatus":"Filled","avgPrice":"65000","cumExecQty":"0.015","cumExecValue":"975","cumFeeDetail":{"USDC":"0.5"}"#,
        );
        assert_eq!((s.status, s.fee_quote), (OrderStatus::Filled, d("0.5")));

        // Spot buy: fee in the base coin.
        let b = intent(
            SPOT,
            3,
            Step::Entry,
            Leg::Long,
            0,
            Side::Buy,
            TimeInForce::Ioc,
            "3100",
            "1",
        );
        let s = state(
            &mut spot,
            &b,
            r#""symbol":"ETHUSDT","side":"Buy","orderStatus":"Filled","avgPrice":"3099.5","cumExecQty":"1","cumExecValue":"3099.5","cumExecFee":"0.001","cumFeeDetail":{"ETH":"0.001"}"#,
        );
        assert_eq!(
            s,
            OrderState {
                status: OrderStatus::Filled,
                cum_qty: d("1"),
                avg_price: d("3099.5"),
                fee_quote: Decimal::ZERO,
                fee_base: d("0.001"),
            }
        );
        // Spot IOC remainder after a partial fill; no avgPrice: from the executed value.
        let s = state(
            &mut spot,
            &b,
            r#""symbol":"ETHUSDT","side":"Buy","orderStatus":"PartiallyFilledCanceled","avgPrice":"","cumExecQty":"0.4","cumExecValue":"1240","cumExecFee":"0.0004""#,
        );
        assert_eq!(
            (s.status, s.cum_qty, s.avg_price, s.fee_base),
            (OrderStatus::Canceled, d("0.4"), d("3100"), d("0.0004"))
        );
        // Spot sell: fee in quote.
        let s = state(
            &mut spot,
            &spot_sell(),
            r#""symbol":"ETHUSDT","side":"Sell","orderStatus":"Filled","avgPrice":"3100.25","cumExecQty":"0.25","cumExecValue":"775.0625","cumFeeDetail":{"USDT":"0.775"}"#,
        );
        assert_eq!((s.fee_quote, s.fee_base), (d("0.775"), Decimal::ZERO));
        // A crossing PostOnly order is cancelled, not refused.
        let s = state(
            &mut perp,
            &o,
            r#""symbol":"BTCUSDT","side":"Buy","orderStatus":"Cancelled","rejectReason":"EC_PostOnlyWillTakeLiquidity","avgPrice":"","cumExecQty":"0","cumExecValue":"0","cumExecFee":"0","cumFeeDetail":{}"#,
        );
        assert_eq!(s, OrderState::empty(OrderStatus::Canceled));
        let s = state(
            &mut perp,
            &o,
            r#""symbol":"BTCUSDT","side":"Buy","orderStatus":"Rejected","avgPrice":"","cumExecQty":"0","cumExecValue":"0","cumExecFee":"0""#,
        );
        assert_eq!(s.status, OrderStatus::Rejected);

        // A status carry does not know, or a broken number: nothing can be said.
        for fields in [
            r#""symbol":"BTCUSDT","side":"Buy","orderStatus":"Mystery","cumExecQty":"0""#,
            r#""symbol":"BTCUSDT","side":"Buy","orderStatus":"New","cumExecQty":"x""#,
            r#""symbol":"BTCUSDT","side":"Buy","orderStatus":"New""#,
        ] {
            let body = realtime_row(fields).replace("{ID}", o.client_order_id.as_str());
            let r = read(&mut perp, Call::Query, &o, 200, &body);
            assert!(matches!(r, Reading::Unknown { .. }), "{fields}: {r:?}");
        }
        // A query refused for rate: nothing said about the order.
        let limited =
            r#"{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":1}"#;
        assert!(matches!(
            read(&mut perp, Call::Query, &o, 200, limited),
            Reading::Throttled { code: 10006, .. }
        ));
    }

    /// `docs/v5/order/execution.mdx`, Response Example, with its `orderLinkId` set.
    const EXECUTIONS_DOC: &str = r#"{"retCode":0,"retMsg":"OK","result":{"nextPageCursor":"132766%3A2%2C132766%3A2","category":"linear","list":[{"symbol":"ETHPERP","orderType":"Market","underlyingPrice":"","orderLinkId":"T10000007EL001","side":"Buy","indexPrice":"","orderId":"8c065341-7b52-4ca9-ac2c-37e31ac55c94","stopOrderType":"UNKNOWN","leavesQty":"0","execTime":"1672282722429","feeCurrency":"","isMaker":false,"execFee":"0.071409","feeRate":"0.0006","execId":"e0cbe81d-0f18-5866-9415-cf319b5dab3b","tradeIv":"","blockTradeId":"","markPrice":"1183.54","execPrice":"1190.15","markIv":"","orderQty":"0.1","orderPrice":"1236.9","execValue":"119.015","execType":"Trade","execQty":"0.1","closedSize":"","extraFees":"","seq":4688002127}]},"retExtInfo":{},"time":1672283754510}"#;

    #[test]
    fn fills_are_summed_from_the_trade_history() {
        let mut perp = BybitOrders::new(PERP, &config(false));
        let o = perp_buy();
        assert_eq!(
            read(&mut perp, Call::Fills, &o, 200, EXECUTIONS_DOC),
            Reading::Order(OrderState {
                status: OrderStatus::Open,
                cum_qty: d("0.1"),
                avg_price: d("1190.15"),
                fee_quote: d("0.071409"),
                fee_base: Decimal::ZERO,
            })
        );
        // Two fills of a spot buy, fees in base; a funding row and another id are not fills.
        let mut spot = BybitOrders::new(SPOT, &config(false));
        let row = |id: &str, ty: &str, qty: &str, px: &str, fee: &str, coin: &str| {
            format!(
                r#"{{"symbol":"ETHUSDT","orderLinkId":"{id}","side":"Buy","execType":"{ty}","execQty":"{qty}","execPrice":"{px}","execFee":"{fee}","feeCurrency":"{coin}"}}"#
            )
        };
        let b = intent(
            SPOT,
            3,
            Step::Entry,
            Leg::Long,
            0,
            Side::Buy,
            TimeInForce::Ioc,
            "3100",
            "1",
        );
        let id = b.client_order_id.as_str();
        let body = format!(
            r#"{{"retCode":0,"retMsg":"OK","result":{{"category":"spot","nextPageCursor":"","list":[{},{},{},{}]}},"time":1}}"#,
            row(id, "Trade", "0.3", "3000", "0.0003", "ETH"),
            row(id, "Trade", "0.1", "3100", "0.0001", "ETH"),
            row(id, "Funding", "1", "1", "5", "USDT"),
            row("other", "Trade", "9", "1", "1", "ETH"),
        );
        assert_eq!(
            read(&mut spot, Call::Fills, &b, 200, &body),
            Reading::Order(OrderState {
                status: OrderStatus::Open,
                cum_qty: d("0.4"),
                avg_price: d("3025"),
                fee_quote: Decimal::ZERO,
                fee_base: d("0.0004"),
            })
        );
        // No fill: not found.
        let none = r#"{"retCode":0,"retMsg":"OK","result":{"category":"spot","nextPageCursor":"","list":[]},"time":1}"#;
        assert_eq!(
            read(&mut spot, Call::Fills, &b, 200, none),
            Reading::NotFound { code: 0 }
        );
    }

    #[test]
    fn server_time_is_read_in_milliseconds() {
        let api = BybitOrders::new(PERP, &config(false));
        let mut req = Request::new();
        api.build_server_time(&mut req);
        assert_eq!((req.method(), req.path()), (Method::Get, "/v5/market/time"));
        assert_eq!(req.headers().count(), 0, "public: unsigned");
        // `docs/v5/market/time.mdx`, Response Example.
        let doc = r#"{"retCode":0,"retMsg":"OK","result":{"timeSecond":"1688639403","timeNano":"1688639403423213947"},"retExtInfo":{},"time":1688639403423}"#;
        assert_eq!(
            api.read_server_time(&answer(200, &NO_HEADERS, doc)),
            Some(1_688_639_403_423)
        );
        assert_eq!(api.read_server_time(&answer(502, &NO_HEADERS, "x")), None);
        assert_eq!(
            api.read_server_time(&answer(
                200,
                &NO_HEADERS,
                r#"{"retCode":10016,"retMsg":"","result":{}}"#
            )),
            None
        );
    }

    /// `docs/v5/position/position.mdx`, Response Example (first row).
    const POSITION_DOC: &str = r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"positionIdx":0,"riskId":1,"riskLimitValue":"150","symbol":"BTCUSD","side":"Sell","size":"300","avgPrice":"27464.50441675","positionValue":"0.01092319","tradeMode":0,"positionStatus":"Normal","autoAddMargin":1,"adlRankIndicator":2,"leverage":"10","positionBalance":"0.00139186","markPrice":"28224.50","liqPrice":"","bustPrice":"999999.00","positionMM":"0.0000015","positionIM":"0.00010923","tpslMode":"Full","takeProfit":"0.00","stopLoss":"0.00","trailingStop":"0.00","unrealisedPnl":"-0.00029413","cumRealisedPnl":"-0.00096902","seq":5723621632,"isReduceOnly":false,"mmrSysUpdateTime":"","leverageSysUpdatedTime":"","createdTime":"1676538056258","updatedTime":"1697673600012"}],"nextPageCursor":"","category":"inverse"},"retExtInfo":{},"time":1697684980172}"#;
    /// `docs/v5/account/account-info.mdx`, Response Example.
    const ACCOUNT_DOC: &str = r#"{"retCode":0,"retMsg":"OK","result":{"marginMode":"REGULAR_MARGIN","updatedTime":"1697078946000","unifiedMarginStatus":4,"dcpStatus":"OFF","timeWindow":10,"smpGroup":0,"isMasterTrader":false,"spotHedgingStatus":"OFF"}}"#;

    #[test]
    fn setup_requests_and_answers() {
        let mut api = BybitOrders::new(PERP, &config(false));
        let mut req = Request::new();
        assert!(api.build_setup(Setup::OneWayMode, "BTCUSDT", TS, &mut req));
        assert_eq!(
            (req.method(), req.path(), req.query_str()),
            (
                Method::Get,
                "/v5/position/list",
                "category=linear&symbol=BTCUSDT"
            )
        );
        assert!(req.header_value("X-BAPI-SIGN").is_some());
        assert!(api.build_setup(Setup::CrossMargin, "BTCUSDT", TS, &mut req));
        assert_eq!(
            (req.method(), req.path(), req.query_str()),
            (Method::Get, "/v5/account/info", "")
        );
        assert!(api.build_setup(Setup::Leverage(5), "BTCUSDT", TS, &mut req));
        assert_eq!(
            (req.method(), req.path(), req.body_str()),
            (
                Method::Post,
                "/v5/position/set-leverage",
                r#"{"category":"linear","symbol":"BTCUSDT","buyLeverage":"5","sellLeverage":"5"}"#
            )
        );

        let ok = |api: &mut BybitOrders, setup, body: &str| {
            api.read_setup(setup, &answer(200, &NO_HEADERS, body))
        };
        assert_eq!(ok(&mut api, Setup::OneWayMode, POSITION_DOC), Ok(()));
        let hedge = POSITION_DOC.replace(r#""positionIdx":0"#, r#""positionIdx":1"#);
        let said = ok(&mut api, Setup::OneWayMode, &hedge).unwrap_err();
        assert!(said.contains("hedge mode"), "{said}");
        assert!(said.contains("/v5/position/switch-mode"), "{said}");
        assert!(said.contains("\"mode\":0"), "{said}");

        assert_eq!(ok(&mut api, Setup::CrossMargin, ACCOUNT_DOC), Ok(()));
        let isolated = ACCOUNT_DOC.replace("REGULAR_MARGIN", "ISOLATED_MARGIN");
        let said = ok(&mut api, Setup::CrossMargin, &isolated).unwrap_err();
        assert!(said.contains("ISOLATED_MARGIN"), "{said}");
        assert!(said.contains("set-margin-mode"), "{said}");

        let done =
            r#"{"retCode":0,"retMsg":"OK","result":{},"retExtInfo":{},"time":1672281607343}"#;
        let same = r#"{"retCode":110043,"retMsg":"Set leverage not modified","result":{},"retExtInfo":{},"time":1}"#;
        let bad = r#"{"retCode":10001,"retMsg":"params error: leverage invalid","result":{},"retExtInfo":{},"time":1}"#;
        assert_eq!(ok(&mut api, Setup::Leverage(5), done), Ok(()));
        assert_eq!(ok(&mut api, Setup::Leverage(5), same), Ok(()));
        let said = ok(&mut api, Setup::Leverage(500), bad).unwrap_err();
        assert!(
            said.contains("10001") && said.contains("leverage invalid"),
            "{said}"
        );
        let said = api
            .read_setup(Setup::CrossMargin, &answer(401, &NO_HEADERS, ""))
            .unwrap_err();
        assert!(said.contains("401"), "{said}");

        // Spot has no position mode, margin mode or leverage of its own.
        let mut spot = BybitOrders::new(SPOT, &config(true));
        for setup in [Setup::OneWayMode, Setup::CrossMargin, Setup::Leverage(3)] {
            assert!(!spot.build_setup(setup, "BTCUSDT", TS, &mut req));
        }
    }

    #[test]
    fn the_dead_man_switch_sets_the_products_window_once_for_all_instruments() {
        let mut perp = BybitOrders::new(PERP, &config(false));
        let mut req = Request::new();
        assert!(perp.build_dead_man_switch("BTCUSDT", 60_000, TS, &mut req));
        assert_eq!(
            (req.method(), req.path(), req.body_str()),
            (
                Method::Post,
                "/v5/order/disconnected-cancel-all",
                r#"{"product":"DERIVATIVES","timeWindow":60}"#
            )
        );
        assert!(req.header_value("X-BAPI-SIGN").is_some());
        // Another instrument's turn while the window is fresh: the product's one switch
        // covers it. The first instrument's next turn re-arms it, however soon.
        assert!(!perp.build_dead_man_switch("ETHUSDT", 60_000, TS + 5, &mut req));
        assert!(!perp.build_dead_man_switch("ETHUSDT", 60_000, TS + 29_999, &mut req));
        assert!(perp.build_dead_man_switch("BTCUSDT", 60_000, TS + 50, &mut req));
        // The first instrument went quiet for half a window: the next one takes over.
        assert!(perp.build_dead_man_switch("ETHUSDT", 60_000, TS + 30_050, &mut req));
        assert!(!perp.build_dead_man_switch("BTCUSDT", 60_000, TS + 30_060, &mut req));
        // The window is whole seconds within Bybit's 3..=300.
        for (countdown, window) in [(1_000, 3), (10_500, 11), (3_600_000, 300)] {
            let mut api = BybitOrders::new(SPOT, &config(false));
            assert!(api.build_dead_man_switch("X", countdown, TS, &mut req));
            assert_eq!(
                req.body_str(),
                format!(r#"{{"product":"SPOT","timeWindow":{window}}}"#),
                "{countdown}"
            );
        }
    }

    #[test]
    fn only_place_answers_correct_the_budget() {
        let mut api = BybitOrders::new(PERP, &config(false));
        let mut req = Request::new();
        let full = [
            Some("10".to_string()),
            Some("0".to_string()),
            Some("1".to_string()),
        ];
        let limits = [Limit {
            count: 9,
            window_ms: 1_000,
        }];
        // A query answer's usage is the query endpoint's.
        api.build(Call::Query, &perp_buy(), "BTCUSDT", TS, &mut req);
        let mut budget = RateBudget::new(&limits);
        api.observe_usage(&answer(200, &full, CREATE_OK), &mut budget, 5_000);
        assert_eq!(budget.wait_ms(5_000), 0);
        // A place answer saying the second is used up: nothing more this second.
        api.build(Call::Place, &perp_buy(), "BTCUSDT", TS, &mut req);
        api.observe_usage(&answer(200, &full, CREATE_OK), &mut budget, 5_000);
        assert_eq!(budget.wait_ms(5_000), 1_000);
        // Room left as the venue counts it: carry's own count stands.
        let mut budget = RateBudget::new(&limits);
        let roomy = [Some("10".to_string()), Some("9".to_string()), None];
        api.observe_usage(&answer(200, &roomy, CREATE_OK), &mut budget, 5_000);
        assert_eq!(budget.wait_ms(5_000), 0);
        assert_eq!(api.order_limits()[0].count, 10);
        assert_eq!(
            BybitOrders::new(SPOT, &config(false)).order_limits()[0].count,
            20
        );
        assert!(api.lookup_is_windowed());
    }
}

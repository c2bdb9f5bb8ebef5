//! OKX v5 order entry for SWAP perpetuals (`okx-perp`, sizes in contracts, `tdMode=cross`) and
//! SPOT (`okx-spot`, base units, `tdMode=cash`; with `margin_spot`, `tdMode=cross` on the spot
//! `instId` with `ccy` = the quote, which borrows what a short sale lacks): the [`OrderApi`] the
//! shared [`LiveGateway`](crate::gateway::live::LiveGateway) drives.
//!
//! | call | request |
//! |---|---|
//! | place | `POST /api/v5/trade/order` `{instId, tdMode, side, ordType: ioc \| limit, px, sz, clOrdId, reduceOnly (SWAP only, when set), stpMode: cancel_taker}` |
//! | cancel | `POST /api/v5/trade/cancel-order` `{instId, clOrdId}` |
//! | query | `GET /api/v5/trade/order?instId=&clOrdId=` |
//! | fills | `GET /api/v5/trade/fills?instId=&limit=100`, filtered here by `clOrdId` |
//! | server time | `GET /api/v5/public/time` |
//! | one-way check | `GET /api/v5/account/config`: `posMode` must be `net_mode` |
//! | leverage | `POST /api/v5/account/set-leverage` `{instId, lever, mgnMode: cross}` |
//! | dead-man switch | `POST /api/v5/trade/cancel-all-after` `{timeOut}` (10–120 s, account-wide) |
//!
//! Every request is signed by [`super::sign`]; `demo_trading` adds `x-simulated-trading: 1`.
//! `posSide` is never sent: carry trades net mode, where it may be omitted on SWAP, and OKX
//! refuses it on SPOT. `posSide`, `tgtCcy` and `banAmend` only matter to market orders or hedge
//! mode, neither of which carry uses.
//!
//! **Answers.** Place and cancel answers are acknowledgements: HTTP 200 with a top-level `code`
//! (`"1"` = "All operations failed") and the order's own result in `data[0].sCode`, which is what
//! is read. A placed order is reported open with nothing executed; the gateway learns an IOC
//! order's fills from its follow-up query. A cancel's `sCode` 0 "only means that your
//! cancellation request has been accepted" (OKX docs, cancel order), so it is read as
//! [`Reading::NotFound`] with code 0: the gateway's cancel path then asks for the order's state,
//! which is the only place the executed quantity is. Fees are negative when charged (`fee`,
//! signed, in `feeCcy`; SPOT also reports a maker `rebate` in `rebateCcy`); a fee in the base
//! asset of a buy becomes `fee_base`, so the gateway reports what was received.
//!
//! **Codes** (with the HTTP status where OKX documents one other than 200):
//!
//! | code | reading |
//! |---|---|
//! | 51016 (client order id exists, among pending orders), 50071 (`{param}` already exists) | `Duplicate` |
//! | 51400 (cancel: filled, canceled or does not exist), 51401, 51402, 51503 (amend), 51603 (query: does not exist) | `NotFound` |
//! | 50102 (HTTP 401) timestamp expired, 50112 (HTTP 401) invalid timestamp | `Timestamp` |
//! | 50011 (HTTP 200 or 429) rate limit, 50040 too frequent, 50061 account order rate limit | `Throttled` (OKX gives no `Retry-After`) |
//! | 50001 (HTTP 503), 50004 (HTTP 400) endpoint timeout "does not mean that the request was successful or failed", 50013 (HTTP 429) systems busy, 50026 (HTTP 500), 51054 (HTTP 500), 51149 (HTTP 500) order timed out, 51412 cancel timed out | `Unknown` |
//! | 50035, 50100, 50101 (key of the other environment: demo keys need `demo_trading`), 50103–50111 (headers, key, IP allow-list), 50113 signature, 50114, 50119, 50120, 50121 | `Rejected` `auth` |
//! | 51008 (and its `_10xx` sub-codes), 51127, 51131 | `Rejected` `insufficient_balance` |
//! | 50122, 51005, 51007, 51020, 51101, 51120, 51121, 51201, 51202, 51203 | `Rejected` `invalid_quantity` |
//! | 51006 (outside the price limits), 51116, 51122, 51135–51138, 51150, 51204 | `Rejected` `invalid_price` |
//! | 51133, 51139, 51148, 51169, 51170, 51205, 51206 | `Rejected` `reduce_only` |
//! | any other code | `Rejected` `other` |
//! | no code: HTTP 401/403 | `Rejected` `auth`; 429: `Throttled`; anything else (5xx, a body that does not parse): `Unknown` |
//!
//! A post-only order that would cross is not refused by OKX but accepted and cancelled
//! (`cancelSource` 31); carry sends no post-only orders, and such an order would read as
//! cancelled with nothing executed.
//!
//! **Rate limits.** OKX sends no usage headers. The budget is the documented one: 60 place
//! requests per 2 s per instrument (applied here to the whole gateway, which is stricter when it
//! trades several instruments) and the sub-account's 1 000 new orders per 2 s. carry does not
//! batch, so the 300 orders / 2 s of `batch-orders` does not apply.
//!
//! **Lookup window.** OKX keeps "incomplete orders that have been canceled" (no fills) for two
//! hours only (order history); the simulator applies that to `GET /api/v5/trade/order` too, and
//! OKX does not say that the single-order lookup keeps them longer. So a "does not exist"
//! (51603) is not taken as proof that nothing happened: [`OrderApi::lookup_is_windowed`] is
//! true, and the gateway then searches `GET /api/v5/trade/fills` (the last 3 days) for fills
//! under the client order id, at the cost of one request per "not found". The search reads one
//! page, the instrument's newest 100 fills; an order whose fills are older than that reads as
//! not found.
//!
//! **`resolve = "resend"` is not safe on OKX.** "clOrdId must be unique among all currently
//! pending (live or partially_filled) orders ... Once an order reaches a terminal state ... the
//! same clOrdId may be reused for a new order. Uniqueness is not enforced historically" (OKX
//! docs, place order): a resend is refused as a duplicate (51016) only while the first order
//! rests. An IOC order has always ended by the time carry could resend it, so the resend is a
//! second order; and the query by `clOrdId` then "returns only the latest match". Resolve
//! unknown orders by query on OKX.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use carry_engine::execution::order::{OrderIntent, OrderStatus, RejectReason, Side, TimeInForce};
use carry_engine::{Market, Venue};
use rust_decimal::Decimal;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use crate::gateway::budget::Limit;
use crate::gateway::credentials::Secret;
use crate::gateway::http::Answer;
use crate::gateway::live::{ApiConfig, Call, OrderApi, OrderState, Reading, Setup};
use crate::gateway::request::{IntText, Method, Request};
use crate::gateway::signer::Signer;
use crate::json::{parse_decimal, parse_int};

use super::sign;

/// Place requests per 2 s per instrument, and new orders per 2 s per sub-account.
static ORDER_LIMITS: [Limit; 2] = [
    Limit {
        count: 60,
        window_ms: 2_000,
    },
    Limit {
        count: 1_000,
        window_ms: 2_000,
    },
];

/// `cancel-all-after` takes 10 to 120 seconds (0 disarms, which carry never sends).
const DEAD_MAN_MIN_S: u64 = 10;
const DEAD_MAN_MAX_S: u64 = 120;
/// `cancel-all-after` allows one request per second; the switch is account-wide, so one
/// request re-arms it for every instrument.
const DEAD_MAN_MIN_GAP_MS: i64 = 1_000;
/// One page of the fill history, the most OKX returns.
const FILLS_PAGE: i64 = 100;

/// One OKX market's order API (perp or spot).
#[derive(Debug)]
pub struct OkxOrders {
    venue: Venue,
    signer: Signer,
    key: Secret,
    passphrase: Secret,
    demo_trading: bool,
    margin_spot: bool,
    /// When (venue ms) the account-wide dead-man switch was last armed from here.
    dead_man_armed_ms: Option<i64>,
}

impl OkxOrders {
    /// The order API of `venue` (`okx-perp` or `okx-spot`) with the account in `config`. The
    /// secret is kept only inside the signer; a missing passphrase is sent empty (OKX refuses
    /// it with 50104, read as an auth rejection).
    pub fn new(venue: Venue, config: &ApiConfig) -> OkxOrders {
        OkxOrders {
            venue,
            signer: Signer::sha256(&config.credentials.secret),
            key: config.credentials.key.clone(),
            passphrase: config
                .credentials
                .passphrase
                .clone()
                .unwrap_or_else(|| Secret::new("")),
            demo_trading: config.demo_trading,
            margin_spot: config.margin_spot,
            dead_man_armed_ms: None,
        }
    }

    fn is_perp(&self) -> bool {
        self.venue.market == Market::Perp
    }

    /// Spot orders through the margin account (cross), borrowing what a sale lacks.
    fn is_margin(&self) -> bool {
        self.venue.market == Market::Spot && self.margin_spot
    }

    fn td_mode(&self) -> &'static str {
        if self.is_perp() || self.is_margin() {
            "cross"
        } else {
            "cash"
        }
    }

    fn sign(&self, venue_ms: i64, req: &mut Request) {
        sign::sign(
            &self.signer,
            self.key.expose(),
            self.passphrase.expose(),
            venue_ms,
            self.demo_trading,
            req,
        );
    }

    fn build_place(&self, order: &OrderIntent, symbol: &str, req: &mut Request) {
        req.start(Method::Post, "/api/v5/trade/order");
        req.json_begin();
        req.json_str("instId", symbol);
        req.json_str("tdMode", self.td_mode());
        if self.is_margin() {
            // Cross MARGIN orders in Futures mode name their margin currency.
            req.json_str("ccy", quote_of(symbol));
        }
        req.json_str("side", side_name(order.side));
        req.json_str(
            "ordType",
            match order.tif {
                TimeInForce::Ioc => "ioc",
                TimeInForce::Gtc => "limit",
            },
        );
        req.json_decimal("px", order.price);
        req.json_decimal("sz", order.qty_venue);
        req.json_str("clOrdId", order.client_order_id.as_str());
        if order.reduce_only && self.is_perp() {
            // OKX refuses reduce-only on spot (51139).
            req.json_bool("reduceOnly", true);
        }
        // Self-trade prevention: the incoming (taker) order is the one cancelled.
        req.json_str("stpMode", "cancel_taker");
        req.json_end();
    }
}

impl crate::gateway::live::NewOrderApi for OkxOrders {
    fn new_api(venue: Venue, config: &ApiConfig) -> OkxOrders {
        OkxOrders::new(venue, config)
    }
}

impl OrderApi for OkxOrders {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn usage_headers(&self) -> &'static [&'static str] {
        &[]
    }

    fn order_limits(&self) -> &'static [Limit] {
        &ORDER_LIMITS
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
                req.start(Method::Post, "/api/v5/trade/cancel-order");
                req.json_begin();
                req.json_str("instId", symbol);
                req.json_str("clOrdId", order.client_order_id.as_str());
                req.json_end();
            }
            Call::Query => {
                req.start(Method::Get, "/api/v5/trade/order");
                req.query("instId", symbol);
                req.query("clOrdId", order.client_order_id.as_str());
            }
            Call::Fills => {
                // No `instType`: margin fills on a spot instId are `MARGIN`, not `SPOT`.
                req.start(Method::Get, "/api/v5/trade/fills");
                req.query("instId", symbol);
                req.query_int("limit", FILLS_PAGE);
            }
        }
        self.sign(venue_ms, req);
    }

    fn read(&mut self, call: Call, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        match call {
            Call::Place => match read_ack(answer) {
                Ok(()) => Reading::Order(OrderState::empty(OrderStatus::Open)),
                Err(r) => r,
            },
            // Accepted for cancellation, not yet cancelled: the state is asked for.
            Call::Cancel => match read_ack(answer) {
                Ok(()) => Reading::CancelAccepted,
                Err(r) => r,
            },
            Call::Query => read_order(answer, order.side),
            Call::Fills => read_fills(answer, order),
        }
    }

    fn build_server_time(&self, req: &mut Request) {
        req.start(Method::Get, "/api/v5/public/time");
    }

    fn read_server_time(&self, answer: &Answer<'_>) -> Option<i64> {
        #[derive(Deserialize)]
        struct Time<'a> {
            #[serde(borrow)]
            ts: &'a str,
        }
        let env: Envelope<'_, Time<'_>> = serde_json::from_slice(answer.body).ok()?;
        if env.code != "0" {
            return None;
        }
        parse_int(env.data.0?.ts)
    }

    fn build_setup(
        &mut self,
        setup: Setup,
        symbol: &str,
        venue_ms: i64,
        req: &mut Request,
    ) -> bool {
        match setup {
            // The perp's position mode; for margin spot, whether the account can borrow.
            Setup::OneWayMode if self.is_perp() || self.is_margin() => {
                req.start(Method::Get, "/api/v5/account/config");
            }
            Setup::Leverage(lever) if self.is_perp() => {
                req.start(Method::Post, "/api/v5/account/set-leverage");
                req.json_begin();
                req.json_str("instId", symbol);
                req.json_str("lever", IntText::new(i64::from(lever)).as_str());
                req.json_str("mgnMode", "cross");
                req.json_end();
            }
            // OKX has no margin-mode setting: every order says `tdMode=cross`.
            Setup::CrossMargin | Setup::OneWayMode | Setup::Leverage(_) => return false,
        }
        self.sign(venue_ms, req);
        true
    }

    fn read_setup(&mut self, setup: Setup, answer: &Answer<'_>) -> Result<(), String> {
        let said = |code: &str, msg: &str| {
            format!(
                "{}: {setup:?} refused: HTTP {}, code {code}: {msg}",
                self.venue, answer.status
            )
        };
        match setup {
            Setup::OneWayMode => {
                let env: Envelope<'_, AccountConfig<'_>> = serde_json::from_slice(answer.body)
                    .map_err(|e| said("?", &format!("answer not understood: {e}")))?;
                match env.data.0 {
                    Some(config) if env.code == "0" => {
                        account_ready(self.venue, self.is_margin(), &config)
                    }
                    _ => Err(said(&env.code, &env.msg)),
                }
            }
            Setup::Leverage(_) | Setup::CrossMargin => {
                let env: Envelope<'_, IgnoredAny> = serde_json::from_slice(answer.body)
                    .map_err(|e| said("?", &format!("answer not understood: {e}")))?;
                if env.code == "0" {
                    Ok(())
                } else {
                    Err(said(&env.code, &env.msg))
                }
            }
        }
    }

    fn build_dead_man_switch(
        &mut self,
        _symbol: &str,
        countdown_ms: u64,
        venue_ms: i64,
        req: &mut Request,
    ) -> bool {
        if self
            .dead_man_armed_ms
            .is_some_and(|t| venue_ms - t < DEAD_MAN_MIN_GAP_MS)
        {
            // Just armed for another instrument: the switch covers the whole account.
            return false;
        }
        self.dead_man_armed_ms = Some(venue_ms);
        req.start(Method::Post, "/api/v5/trade/cancel-all-after");
        req.json_begin();
        // 0 disarms; anything else is held within what OKX takes.
        let seconds = if countdown_ms == 0 {
            0
        } else {
            dead_man_seconds(countdown_ms)
        };
        req.json_str("timeOut", IntText::new(seconds as i64).as_str());
        req.json_end();
        self.sign(venue_ms, req);
        true
    }

    fn lookup_is_windowed(&self) -> bool {
        true
    }

    fn dead_man_per_symbol(&self) -> bool {
        // `cancel-all-after` covers the whole account.
        false
    }
}

/// `cancel-all-after`'s `timeOut` for a countdown: whole seconds, rounded up, within 10–120.
fn dead_man_seconds(countdown_ms: u64) -> u64 {
    countdown_ms
        .div_ceil(1_000)
        .clamp(DEAD_MAN_MIN_S, DEAD_MAN_MAX_S)
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// `BTC` of `BTC-USDT` or `BTC-USDT-SWAP`.
fn base_of(inst_id: &str) -> &str {
    inst_id.split('-').next().unwrap_or("")
}

/// `USDT` of `BTC-USDT` or `BTC-USDT-SWAP`.
fn quote_of(inst_id: &str) -> &str {
    inst_id.split('-').nth(1).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Answers

/// `{"code": "...", "msg": "...", "data": [row, ...]}`, keeping the first row only.
#[derive(Deserialize)]
#[serde(bound(deserialize = "R: Deserialize<'de>"))]
struct Envelope<'a, R> {
    #[serde(borrow, default)]
    code: Cow<'a, str>,
    #[serde(borrow, default)]
    msg: Cow<'a, str>,
    #[serde(default = "FirstRow::none")]
    data: FirstRow<R>,
}

/// The first element of a JSON array, the rest skipped (no allocation for the array).
struct FirstRow<R>(Option<R>);

impl<R> FirstRow<R> {
    fn none() -> FirstRow<R> {
        FirstRow(None)
    }
}

impl<'de, R: Deserialize<'de>> Deserialize<'de> for FirstRow<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FirstRow<R>, D::Error> {
        struct First<R>(PhantomData<R>);
        impl<'de, R: Deserialize<'de>> Visitor<'de> for First<R> {
            type Value = FirstRow<R>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstRow<R>, A::Error> {
                let first = seq.next_element::<R>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstRow(first))
            }
        }
        d.deserialize_seq(First(PhantomData))
    }
}

/// An acknowledgement row (place, cancel).
#[derive(Deserialize)]
struct AckRow<'a> {
    #[serde(rename = "sCode", borrow, default)]
    s_code: &'a str,
}

/// An order as `GET /api/v5/trade/order` shows it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderRow<'a> {
    #[serde(borrow)]
    inst_id: &'a str,
    #[serde(borrow)]
    state: &'a str,
    #[serde(borrow)]
    acc_fill_sz: &'a str,
    #[serde(borrow, default)]
    avg_px: &'a str,
    #[serde(borrow, default)]
    fee: &'a str,
    #[serde(borrow, default)]
    fee_ccy: &'a str,
    #[serde(borrow, default)]
    rebate: &'a str,
    #[serde(borrow, default)]
    rebate_ccy: &'a str,
}

/// One fill of `GET /api/v5/trade/fills`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FillRow<'a> {
    #[serde(borrow)]
    inst_id: &'a str,
    #[serde(borrow, default)]
    cl_ord_id: &'a str,
    #[serde(borrow)]
    fill_sz: &'a str,
    #[serde(borrow)]
    fill_px: &'a str,
    #[serde(borrow, default)]
    fee: &'a str,
    #[serde(borrow, default)]
    fee_ccy: &'a str,
}

/// What `GET /api/v5/account/config` says that matters to carry.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountConfig<'a> {
    #[serde(borrow, default)]
    pos_mode: Cow<'a, str>,
    #[serde(borrow, default)]
    acct_lv: Cow<'a, str>,
    #[serde(default)]
    auto_loan: bool,
}

/// Whether the account can trade as carry does: perps in net (one-way) position mode, outside
/// Spot mode; margin spot in a mode that borrows.
fn account_ready(venue: Venue, margin: bool, config: &AccountConfig<'_>) -> Result<(), String> {
    let level = config.acct_lv.as_ref();
    if level == "1" {
        return Err(format!(
            "{venue}: the OKX account is in Spot mode (acctLv 1), which trades neither perpetuals \
             nor margin: switch the account to Futures mode (Trade > Settings > Account mode)"
        ));
    }
    if venue.market == Market::Perp && config.pos_mode != "net_mode" {
        return Err(format!(
            "{venue}: the OKX account is in {} position mode; carry trades one-way (net) \
             positions: with no open positions or orders, switch with \
             POST /api/v5/account/set-position-mode {{\"posMode\":\"net_mode\"}} (Trade > \
             Settings > Position mode > One-way)",
            config.pos_mode
        ));
    }
    if margin && matches!(level, "3" | "4") && !config.auto_loan {
        return Err(format!(
            "{venue}: margin-short spot needs auto-borrow in OKX's account mode {level} \
             (autoLoan is off; orders would fail with 51008_1002): enable Auto Borrow"
        ));
    }
    Ok(())
}

/// An OKX code as text (`"51008"`, `"51008_1000"`): the number before any sub-code.
fn code_number(text: &str) -> Option<i32> {
    let main = text.split('_').next().unwrap_or(text);
    parse_int(main).and_then(|n| i32::try_from(n).ok())
}

/// The code of an answer whose order result is in `data[0].sCode`, or at the top level when
/// there is no row (authentication, rate limit, malformed request).
fn answer_code<'a>(top: &'a str, row: Option<&'a AckRow<'a>>) -> &'a str {
    match row {
        Some(r) if !r.s_code.is_empty() => r.s_code,
        _ => top,
    }
}

/// What a non-zero OKX code (or, with none, the HTTP status) means.
fn reading_of(code: Option<i32>, status: u16) -> Reading {
    let Some(code) = code else {
        return match status {
            401 | 403 => Reading::Rejected {
                reason: RejectReason::Auth,
                code: i32::from(status),
            },
            429 => Reading::Throttled {
                code: i32::from(status),
                retry_after_ms: None,
            },
            _ => Reading::Unknown {
                code: i32::from(status),
            },
        };
    };
    match code {
        51016 | 50071 => Reading::Duplicate { code },
        51400 | 51401 | 51402 | 51503 | 51603 => Reading::NotFound { code },
        50102 | 50112 => Reading::Timestamp { code },
        50011 | 50040 | 50061 => Reading::Throttled {
            code,
            retry_after_ms: None,
        },
        50001 | 50004 | 50013 | 50026 | 51054 | 51149 | 51412 => Reading::Unknown { code },
        _ => Reading::Rejected {
            reason: reject_reason(code),
            code,
        },
    }
}

/// The reason of a refusal code.
fn reject_reason(code: i32) -> RejectReason {
    match code {
        50035 | 50100 | 50101 | 50103..=50111 | 50113 | 50114 | 50119..=50121 => RejectReason::Auth,
        51008 | 51127 | 51131 => RejectReason::InsufficientBalance,
        50122 | 51005 | 51007 | 51020 | 51101 | 51120 | 51121 | 51201..=51203 => {
            RejectReason::InvalidQuantity
        }
        51006 | 51116 | 51122 | 51135..=51138 | 51150 | 51204 => RejectReason::InvalidPrice,
        51133 | 51139 | 51148 | 51169 | 51170 | 51205 | 51206 => RejectReason::ReduceOnly,
        _ => RejectReason::Other,
    }
}

/// A place or cancel answer: `Ok` when the venue took the request.
fn read_ack(answer: &Answer<'_>) -> Result<(), Reading> {
    let Ok(env) = serde_json::from_slice::<Envelope<'_, AckRow<'_>>>(answer.body) else {
        return Err(reading_of(None, answer.status));
    };
    let code = answer_code(&env.code, env.data.0.as_ref());
    match code_number(code) {
        Some(0) if env.data.0.is_some() => Ok(()),
        // Success without the order's row says nothing about the order.
        Some(0) => Err(Reading::Unknown { code: 0 }),
        n => Err(reading_of(n, answer.status)),
    }
}

/// A query answer: the order's state, or what the code says.
fn read_order(answer: &Answer<'_>, side: Side) -> Reading {
    let Ok(env) = serde_json::from_slice::<Envelope<'_, OrderRow<'_>>>(answer.body) else {
        return reading_of(None, answer.status);
    };
    match (code_number(&env.code), env.data.0) {
        (Some(0), Some(row)) => order_state(&row, side)
            .map(Reading::Order)
            .unwrap_or(Reading::Unknown { code: 0 }),
        (Some(0), None) => Reading::Unknown { code: 0 },
        (n, _) => reading_of(n, answer.status),
    }
}

/// An order row as an [`OrderState`]; `None` when a field does not read.
fn order_state(row: &OrderRow<'_>, side: Side) -> Option<OrderState> {
    let cum_qty = amount(row.acc_fill_sz)?;
    let status = match row.state {
        "live" | "partially_filled" => OrderStatus::Open,
        "filled" => OrderStatus::Filled,
        "canceled" | "mmp_canceled" => OrderStatus::Canceled,
        _ => return None,
    };
    let avg_price = amount(row.avg_px)?;
    let (fee_quote, fee_base) = fees_paid(
        side,
        base_of(row.inst_id),
        avg_price,
        &[
            (amount(row.fee)?, row.fee_ccy),
            (amount(row.rebate)?, row.rebate_ccy),
        ],
    );
    Some(OrderState {
        status,
        cum_qty,
        avg_price,
        fee_quote,
        fee_base,
        fees: crate::gateway::live::Fees::Known,
    })
}

/// The fills of `order` in one page of the fill history, summed; nothing executed when none
/// carry its client order id. The status is the gateway's to decide.
fn read_fills(answer: &Answer<'_>, order: &OrderIntent) -> Reading {
    #[derive(Deserialize)]
    struct Fills<'a> {
        #[serde(borrow, default)]
        code: Cow<'a, str>,
        // The fill search runs only after a "not found": a page of rows may allocate.
        #[serde(borrow, default)]
        data: Vec<FillRow<'a>>,
    }
    let Ok(page) = serde_json::from_slice::<Fills<'_>>(answer.body) else {
        return reading_of(None, answer.status);
    };
    match code_number(&page.code) {
        Some(0) => {}
        n => return reading_of(n, answer.status),
    }
    let id = order.client_order_id.as_str();
    let mut state = OrderState::empty(OrderStatus::Canceled);
    let mut value = Decimal::ZERO;
    let mut fees = Decimal::ZERO;
    let mut fees_base = Decimal::ZERO;
    for f in page.data.iter().filter(|f| f.cl_ord_id == id) {
        let (Some(qty), Some(px), Some(fee)) =
            (amount(f.fill_sz), amount(f.fill_px), amount(f.fee))
        else {
            return Reading::Unknown { code: 0 };
        };
        state.cum_qty += qty;
        value += qty * px;
        let (q, b) = fees_paid(order.side, base_of(f.inst_id), px, &[(fee, f.fee_ccy)]);
        fees += q;
        fees_base += b;
    }
    if !state.cum_qty.is_zero() {
        state.avg_price = value / state.cum_qty;
        state.status = if state.cum_qty >= order.qty_venue {
            OrderStatus::Filled
        } else {
            OrderStatus::Canceled
        };
    }
    state.fee_quote = fees;
    state.fee_base = fees_base;
    Reading::Order(state)
}

/// A decimal field; OKX writes "" where nothing applies (no fill yet, no rebate), read as zero.
fn amount(text: &str) -> Option<Decimal> {
    if text.is_empty() {
        Some(Decimal::ZERO)
    } else {
        parse_decimal(text)
    }
}

/// Fees paid (positive) as (quote, base) from OKX's signed amounts (negative = charged,
/// positive = rebate) and their currencies. An amount in the base asset of a buy stays in base
/// (what was received is less than what filled); on a sell it is valued in quote at `price`,
/// since the quantity sold is what filled.
fn fees_paid(
    side: Side,
    base: &str,
    price: Decimal,
    amounts: &[(Decimal, &str)],
) -> (Decimal, Decimal) {
    let (mut quote_paid, mut base_paid) = (Decimal::ZERO, Decimal::ZERO);
    for &(signed, ccy) in amounts {
        let paid = -signed;
        if !base.is_empty() && ccy == base {
            match side {
                Side::Buy => base_paid += paid,
                Side::Sell => quote_paid += paid * price,
            }
        } else {
            quote_paid += paid;
        }
    }
    (quote_paid, base_paid)
}

#[cfg(test)]
mod tests;

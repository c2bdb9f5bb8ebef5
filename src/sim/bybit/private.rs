//! Bybit v5's signed endpoints as the simulator serves them, one unified account for `linear`
//! and `spot` (`PRIVATE.md` §2, `NOTES.md` §2.5).
//!
//! Auth: headers `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP` (ms), `X-BAPI-RECV-WINDOW` (default 5000)
//! and `X-BAPI-SIGN`, the hex HMAC-SHA256 of `timestamp + key + recvWindow + payload`, where the
//! payload is the query string as sent (GET) or the raw JSON body (POST); `recvWindow` is the
//! header as sent, empty if absent. Accepted when `server − recvWindow <= timestamp < server +
//! 1000`. Errors come with HTTP 200 and `retCode` 10003 (key), 10004 (sign; the message echoes
//! the origin string), 10002 (time) — all business errors are HTTP 200 at Bybit.
//!
//! Orders: `Limit` with `GTC`/`IOC`/`FOK`/`PostOnly` (a crossing post-only order is accepted and
//! cancelled with `EC_PostOnlyWillTakeLiquidity`), `reduceOnly`, `positionIdx` (0 in one-way
//! mode, 1/2 in hedge mode), spot `isLeverage=1` for the margin wallet, `smpType`. `orderLinkId`
//! is at most 36 of `[A-Za-z0-9_-]` and "always unique": any reuse is refused (110072 linear,
//! 170141 spot). `/v5/order/realtime` shows open orders and, by id or with `openOnly=1`, the last
//! 500 orders closed since the venue (re)started; older ones only through `/v5/order/history`.
//!
//! Limits per account and endpoint: create 10/s on linear and 20/s on spot, cancel the same
//! (counted apart from create); realtime, history and execution queries 50/s each; `retCode`
//! 10006 with `X-Bapi-Limit`, `X-Bapi-Limit-Status` and `X-Bapi-Limit-Reset-Timestamp`, which
//! report the endpoint's own count.
//!
//! DCP (`/v5/order/disconnected-cancel-all`): Bybit cancels when the private websocket drops.
//! The window is re-armed by every authenticated request and, every half second, by each live
//! `/v5/private` or `/v5/trade` connection (see `stream`), so it fires once the account has
//! neither (the REST renewal is the simulator's guess).
//!
//! Funding: `GET /v5/account/transaction-log?type=SETTLEMENT` (`funding` positive when
//! received, cursor paging); fee rates: `GET /v5/account/fee-rate`.

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

use super::envelope;
use crate::sim::account::{
    CancelRefusal, Duplicates, NewOrder, OrderKey, Position, PostOnlyCross, Refusal, SimOrder,
};
use crate::sim::auth::{hmac_sha256_hex, same_signature};
use crate::sim::http::{Reply, RestRequest};
use crate::sim::limits::RateLimit;
use crate::sim::record::{Finish, Side, TimeInForce, Wallet};
use crate::sim::rules::{self, OrderRules, RuleBreak};
use crate::sim::wire::{array, Obj, Params};
use crate::sim::{Desk, Shared};

const PERP: Venue = Venue::new(Exchange::Bybit, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Bybit, Market::Spot);
const DEFAULT_RECV_WINDOW: i64 = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Create,
    Cancel,
    Realtime,
    History,
    Executions,
    Dcp,
    Positions,
    SetLeverage,
    SwitchMode,
    WalletBalance,
    AccountInfo,
    SetMarginMode,
    FeeRate,
    TransactionLog,
}

fn endpoint(method: &str, path: &str) -> Option<Kind> {
    Some(match (method, path) {
        ("POST", "/v5/order/create") => Kind::Create,
        ("POST", "/v5/order/cancel") => Kind::Cancel,
        ("GET", "/v5/order/realtime") => Kind::Realtime,
        ("GET", "/v5/order/history") => Kind::History,
        ("GET", "/v5/execution/list") => Kind::Executions,
        ("POST", "/v5/order/disconnected-cancel-all") => Kind::Dcp,
        ("GET", "/v5/position/list") => Kind::Positions,
        ("POST", "/v5/position/set-leverage") => Kind::SetLeverage,
        ("POST", "/v5/position/switch-mode") => Kind::SwitchMode,
        ("GET", "/v5/account/wallet-balance") => Kind::WalletBalance,
        ("GET", "/v5/account/info") => Kind::AccountInfo,
        ("POST", "/v5/account/set-margin-mode") => Kind::SetMarginMode,
        ("GET", "/v5/account/fee-rate") => Kind::FeeRate,
        ("GET", "/v5/account/transaction-log") => Kind::TransactionLog,
        _ => return None,
    })
}

/// The string Bybit signs.
pub(crate) fn prehash(ts: &str, key: &str, recv_window: &str, payload: &str) -> String {
    format!("{ts}{key}{recv_window}{payload}")
}

pub(crate) fn sign(secret: &str, prehash: &str) -> String {
    hmac_sha256_hex(secret, prehash.as_bytes())
}

/// A business error: HTTP 200 with a non-zero `retCode`.
fn fail(code: i64, msg: &str, now: i64) -> String {
    envelope(code, msg, "{}", now)
}

pub(crate) fn authenticate(req: &RestRequest, shared: &Shared, now: i64) -> Result<(), String> {
    let creds = shared.credentials.of(Exchange::Bybit);
    let key = req.header("x-bapi-api-key").unwrap_or("");
    if key != creds.api_key {
        return Err(fail(10003, "API key is invalid.", now));
    }
    let ts_raw = req.header("x-bapi-timestamp").unwrap_or("");
    let recv_raw = req.header("x-bapi-recv-window").unwrap_or("");
    let payload = if req.method == "GET" {
        req.raw_query.as_str()
    } else {
        req.body.as_str()
    };
    let origin = prehash(ts_raw, key, recv_raw, payload);
    let sent = req.header("x-bapi-sign").unwrap_or("");
    if !same_signature(&sign(&creds.secret, &origin), sent, false) {
        return Err(fail(
            10004,
            &format!(
                "Error sign, please check your signature generation algorithm: origin_string[***{payload}]"
            ),
            now,
        ));
    }
    let recv_window = if recv_raw.is_empty() {
        DEFAULT_RECV_WINDOW
    } else {
        recv_raw.parse().unwrap_or(-1)
    };
    let ts: i64 = ts_raw.parse().unwrap_or(i64::MIN / 2);
    if !(now - recv_window <= ts && ts < now + 1000) {
        return Err(fail(
            10002,
            &format!(
                "invalid request, please check your server timestamp or recv_window param. req_timestamp[{ts_raw}],server_timestamp[{now}],recv_window[{recv_window}]"
            ),
            now,
        ));
    }
    Ok(())
}

/// A parameter the request must carry, or Bybit's answer to its absence.
trait Required {
    fn required(&self, key: &str, now: i64) -> Result<String, String>;
}

impl Required for Params {
    fn required(&self, key: &str, now: i64) -> Result<String, String> {
        self.get(key)
            .ok_or_else(|| fail(10001, &format!("params error: {key} is required"), now))
    }
}

/// Serves Bybit's private endpoints.
pub(crate) fn rest(req: &RestRequest, shared: &Shared) -> Option<Reply> {
    let kind = endpoint(&req.method, &req.path)?;
    let carries = |v| shared.listing.carries(v);
    if !carries(PERP) && !carries(SPOT) {
        return None;
    }
    let default_venue = if carries(PERP) { PERP } else { SPOT };
    let now = shared.venue_now_ms(Exchange::Bybit);
    if let Err(body) = authenticate(req, shared, now) {
        return Some(Reply::ok(default_venue, body));
    }
    let json = if req.method == "POST" {
        match serde_json::from_str::<Value>(&req.body) {
            Ok(v) if v.is_object() => v,
            _ => {
                return Some(Reply::ok(
                    default_venue,
                    fail(
                        10001,
                        "params error: request body is not a JSON object",
                        now,
                    ),
                ))
            }
        }
    } else {
        Value::Null
    };
    serve(kind, Params::new(json, req.query.clone()), shared)
}

/// Runs one authenticated request: the DCP renewal, limits, injected faults, then the
/// endpoint. REST and the `/v5/trade` websocket share it, as they share the venue's limits.
pub(crate) fn serve(kind: Kind, params: Params, shared: &Shared) -> Option<Reply> {
    let carries = |v| shared.listing.carries(v);
    let default_venue = if carries(PERP) { PERP } else { SPOT };
    let mut desk = shared.desk(Exchange::Bybit)?;
    let now = desk.now_ms;
    desk.account.renew_countdowns(now);
    let venue = match params.get("category").as_deref() {
        Some("linear") if carries(PERP) => PERP,
        Some("spot") if carries(SPOT) => SPOT,
        _ if matches!(
            kind,
            Kind::WalletBalance
                | Kind::AccountInfo
                | Kind::SetMarginMode
                | Kind::Dcp
                | Kind::TransactionLog
        ) =>
        {
            default_venue
        }
        _ => {
            return Some(Reply::ok(
                default_venue,
                fail(10001, "params error: category is invalid", now),
            ))
        }
    };

    // Rate limits: per endpoint (and per category for create and cancel), as the headers
    // report them: "your remaining requests for current endpoint" (`rate-limit.mdx`, whose
    // table gives `/v5/order/create` and `/v5/order/cancel` a row each).
    let (limit, key): (Option<RateLimit>, String) = match kind {
        Kind::Create | Kind::Cancel => (
            Some(if venue.is_perp() {
                shared.limits.bybit_linear_trade
            } else {
                shared.limits.bybit_spot_trade
            }),
            format!("{kind:?}-{}", venue.market.as_str()),
        ),
        Kind::Realtime | Kind::History | Kind::Executions => {
            (Some(shared.limits.bybit_query), format!("{kind:?}"))
        }
        _ => (None, String::new()),
    };
    let mut headers = Vec::new();
    if let Some(limit) = limit {
        let usage = match desk.account.counters.take(&[(&key, limit)], now) {
            Ok(u) => u[0],
            Err(u) => {
                return Some(
                    Reply::ok(
                        venue,
                        fail(10006, "Too many visits. Exceeded the API Rate Limit.", now),
                    )
                    .with_headers(vec![
                        ("X-Bapi-Limit", u.limit.max.to_string()),
                        ("X-Bapi-Limit-Status", "0".to_string()),
                        ("X-Bapi-Limit-Reset-Timestamp", u.reset_ms.to_string()),
                    ]),
                )
            }
        };
        headers = vec![
            ("X-Bapi-Limit", usage.limit.max.to_string()),
            ("X-Bapi-Limit-Status", usage.remaining().to_string()),
            ("X-Bapi-Limit-Reset-Timestamp", usage.reset_ms.to_string()),
        ];
    }

    let server_error = || {
        (
            502,
            "<html><head><title>502 Bad Gateway</title></head></html>".to_string(),
        )
    };
    let body = |r: Result<String, String>| match r {
        Ok(b) | Err(b) => b,
    };
    let reply = match kind {
        Kind::Create => shared.order_request(venue, server_error, || {
            Reply::ok(venue, body(create(venue, &params, shared, &mut desk)))
        }),
        Kind::Cancel => shared.order_request(venue, server_error, || {
            Reply::ok(venue, body(cancel(venue, &params, shared, &mut desk)))
        }),
        _ => Reply::ok(
            venue,
            body(read_or_set(kind, venue, &params, shared, &mut desk)),
        ),
    };
    Some(reply.with_headers(headers))
}

/// An `orderLinkId` Bybit accepts: at most 36 of `[A-Za-z0-9_-]`.
pub(crate) fn valid_link_id(id: &str) -> bool {
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

fn instrument(venue: Venue, params: &Params, shared: &Shared, now: i64) -> Result<usize, String> {
    let s = params.required("symbol", now)?;
    shared
        .listing
        .find(venue, &s)
        .ok_or_else(|| fail(10001, "params error: symbol invalid", now))
}

fn rule_error(venue: Venue, b: RuleBreak, now: i64) -> String {
    let (code, msg) = match (venue.market, b) {
        (Market::Perp, RuleBreak::QtyNotPositive | RuleBreak::QtyOffLot) => (10001, "Qty invalid"),
        (Market::Perp, RuleBreak::QtyBelowMin) => (
            10001,
            "The number of contracts exceeds minimum limit allowed",
        ),
        (Market::Perp, RuleBreak::QtyAboveMax) => (
            10001,
            "The number of contracts exceeds maximum limit allowed",
        ),
        (Market::Perp, RuleBreak::PriceNotPositive | RuleBreak::PriceOffTick) => {
            (10001, "Price invalid")
        }
        (Market::Perp, RuleBreak::NotionalBelowMin) => {
            (110094, "Order does not meet minimum order value")
        }
        (Market::Spot, RuleBreak::QtyNotPositive | RuleBreak::QtyBelowMin) => {
            (170136, "Order quantity lower than the minimum.")
        }
        (Market::Spot, RuleBreak::QtyOffLot) => (170137, "Order volume decimal too long"),
        (Market::Spot, RuleBreak::QtyAboveMax) => (170135, "Order quantity too large."),
        (Market::Spot, RuleBreak::PriceNotPositive | RuleBreak::PriceOffTick) => {
            (170134, "Order price decimal too long.")
        }
        (Market::Spot, RuleBreak::NotionalBelowMin) => (170140, "Order value exceeded lower limit"),
        (_, RuleBreak::PriceAboveBand(_) | RuleBreak::PriceBelowBand(_)) => {
            (110003, "Order price is out of permissible range")
        }
    };
    fail(code, msg, now)
}

fn create(
    venue: Venue,
    p: &Params,
    shared: &Shared,
    desk: &mut Desk<'_>,
) -> Result<String, String> {
    let now = desk.now_ms;
    let instrument = instrument(venue, p, shared, now)?;
    let side = match p.required("side", now)?.as_str() {
        "Buy" => Side::Buy,
        "Sell" => Side::Sell,
        _ => return Err(fail(10001, "params error: side invalid", now)),
    };
    if p.required("orderType", now)? != "Limit" {
        return Err(fail(
            10001,
            "params error: the simulated venue takes Limit orders only",
            now,
        ));
    }
    let tif = match p.get("timeInForce").as_deref().unwrap_or("GTC") {
        "GTC" => TimeInForce::Gtc,
        "IOC" => TimeInForce::Ioc,
        "FOK" => TimeInForce::Fok,
        "PostOnly" => TimeInForce::PostOnly,
        _ => return Err(fail(10001, "params error: timeInForce invalid", now)),
    };
    let decimal = |key: &str| -> Result<Decimal, String> {
        p.required(key, now)?;
        p.decimal(key)
            .ok_or_else(|| fail(10001, &format!("params error: {key} invalid"), now))
    };
    let qty = decimal("qty")?;
    let price = decimal("price")?;
    let client_id = match p.get("orderLinkId") {
        Some(id) if valid_link_id(&id) => id,
        Some(_) => return Err(fail(10001, "params error: orderLinkId invalid", now)),
        None => String::new(),
    };
    let reduce_only = p.get("reduceOnly").as_deref() == Some("true");
    let wallet = match (venue.market, p.get("isLeverage").as_deref()) {
        (Market::Perp, _) => Wallet::Perp,
        (Market::Spot, Some("1")) => Wallet::Margin,
        (Market::Spot, None | Some("0")) => Wallet::Spot,
        (Market::Spot, Some(_)) => {
            return Err(fail(10001, "params error: isLeverage invalid", now))
        }
    };
    if venue.is_perp() {
        let idx = p.get("positionIdx").unwrap_or_else(|| "0".into());
        let hedge = desk.account.perp.hedge;
        let fits = if hedge {
            idx == "1" || idx == "2"
        } else {
            idx == "0"
        };
        if !fits {
            return Err(fail(10001, "position idx not match position mode", now));
        }
    }
    let stp = match p.get("smpType").as_deref() {
        None => String::new(),
        Some(m @ ("None" | "CancelMaker" | "CancelTaker" | "CancelBoth")) => m.to_string(),
        Some(_) => return Err(fail(10001, "params error: smpType invalid", now)),
    };
    let listing = shared
        .listing
        .get(instrument, venue)
        .ok_or_else(|| fail(10001, "params error: symbol invalid", now))?;
    let r = OrderRules::of(listing);
    rules::check(&r, qty, price, side.is_buy(), None).map_err(|b| rule_error(venue, b, now))?;
    let new = NewOrder {
        venue,
        wallet,
        instrument,
        side,
        qty,
        price,
        tif,
        reduce_only: reduce_only && venue.is_perp(),
        auto_borrow: wallet == Wallet::Margin,
        client_id,
        stp,
    };
    let tick = desk.tick.clone();
    let pos = desk
        .account
        .place(new, Duplicates::Always, PostOnlyCross::Cancel, &tick, now)
        .map_err(|r| {
            let (code, msg) = match (venue.market, wallet, r) {
                (Market::Perp, _, Refusal::Duplicate(_)) => (110072, "OrderLinkedID is duplicate"),
                (Market::Spot, _, Refusal::Duplicate(_)) => (170141, "Duplicate clientOrderId"),
                (Market::Perp, _, Refusal::Insufficient) => {
                    (110007, "Insufficient available balance")
                }
                (_, Wallet::Margin, Refusal::Insufficient) => {
                    (170033, "margin Insufficient account balance")
                }
                (Market::Spot, _, Refusal::Insufficient) => (170131, "Insufficient balance."),
                (_, _, Refusal::ReduceOnly) => (110017, "Reduce-only rule not satisfied"),
                // Bybit cancels crossing post-only orders instead of refusing them.
                (_, _, Refusal::PostOnlyWouldTake) => (170218, "The LIMIT-MAKER order is rejected"),
            };
            fail(code, msg, now)
        })?;
    let o = desk.account.order(pos);
    let result = Obj::new()
        .str("orderId", &o.rec.order_id.to_string())
        .str("orderLinkId", &o.rec.client_id)
        .build();
    Ok(envelope(0, "OK", &result, now))
}

fn not_found(venue: Venue, now: i64) -> String {
    match venue.market {
        Market::Perp => fail(110001, "Order does not exist.", now),
        Market::Spot => fail(170213, "Order does not exist.", now),
    }
}

fn key_of(p: &Params, now: i64) -> Result<OrderKey, String> {
    if let Some(id) = p.get("orderId") {
        return id
            .parse()
            .map(OrderKey::Id)
            .map_err(|_| fail(10001, "params error: orderId invalid", now));
    }
    p.get("orderLinkId").map(OrderKey::Client).ok_or_else(|| {
        fail(
            10001,
            "params error: orderId or orderLinkId is required",
            now,
        )
    })
}

fn cancel(
    venue: Venue,
    p: &Params,
    shared: &Shared,
    desk: &mut Desk<'_>,
) -> Result<String, String> {
    let now = desk.now_ms;
    let instrument = instrument(venue, p, shared, now)?;
    let key = key_of(p, now)?;
    let pos = desk
        .account
        .find(venue, &key)
        .filter(|&pos| desk.account.order(pos).instrument == instrument)
        .ok_or_else(|| not_found(venue, now))?;
    let id = desk.account.order(pos).rec.order_id;
    match desk.account.cancel(venue, &OrderKey::Id(id), now) {
        Ok(pos) => {
            let o = desk.account.order(pos);
            let result = Obj::new()
                .str("orderId", &o.rec.order_id.to_string())
                .str("orderLinkId", &o.rec.client_id)
                .build();
            Ok(envelope(0, "OK", &result, now))
        }
        // A cancel after an instant fill is an unknown order at Bybit (hirokisan/bybit #129).
        Err(CancelRefusal::NotFound | CancelRefusal::Finished(_)) => Err(not_found(venue, now)),
    }
}

/// Bybit's `orderStatus` (a spot IOC remainder after a partial fill is its own status).
pub(crate) fn status(venue: Venue, finish: Option<Finish>, filled: Decimal) -> &'static str {
    let partial = !filled.is_zero();
    match finish {
        None if partial => "PartiallyFilled",
        None => "New",
        Some(Finish::Filled) => "Filled",
        Some(_) if partial && venue.market == Market::Spot => "PartiallyFilledCanceled",
        Some(_) => "Cancelled",
    }
}

pub(crate) fn cancel_type(finish: Option<Finish>) -> &'static str {
    match finish {
        Some(Finish::Canceled) => "CancelByUser",
        Some(Finish::DeadMan) => "CancelByDCP",
        _ => "UNKNOWN",
    }
}

pub(crate) fn reject_reason(finish: Option<Finish>) -> &'static str {
    match finish {
        Some(Finish::PostOnlyCanceled) => "EC_PostOnlyWillTakeLiquidity",
        Some(Finish::Expired) => "EC_CancelForNoFullFill",
        Some(Finish::Canceled) => "EC_PerCancelRequest",
        _ => "EC_NoError",
    }
}

pub(crate) fn tif_name(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
        TimeInForce::PostOnly => "PostOnly",
    }
}

pub(crate) fn side_name(s: Side) -> &'static str {
    match s {
        Side::Buy => "Buy",
        Side::Sell => "Sell",
    }
}

/// An order as `/v5/order/realtime` and `/v5/order/history` list it.
fn order_row(o: &SimOrder) -> String {
    let spot = o.rec.venue.market == Market::Spot;
    let fee_detail = if o.fee.is_zero() {
        "{}".to_string()
    } else {
        Obj::new().dec(&o.fee_asset, o.fee).build()
    };
    Obj::new()
        .str("orderId", &o.rec.order_id.to_string())
        .str("orderLinkId", &o.rec.client_id)
        .str("blockTradeId", "")
        .str("symbol", &o.rec.symbol)
        .dec("price", o.rec.price)
        .dec("qty", o.rec.qty)
        .str("side", side_name(o.rec.side))
        .str(
            "isLeverage",
            match (spot, o.rec.wallet) {
                (false, _) => "",
                (true, Wallet::Margin) => "1",
                (true, _) => "0",
            },
        )
        .num("positionIdx", 0)
        .str("orderStatus", status(o.rec.venue, o.rec.finish, o.filled))
        .str("createType", "CreateByUser")
        .str("cancelType", cancel_type(o.rec.finish))
        .str("rejectReason", reject_reason(o.rec.finish))
        .str(
            "avgPrice",
            &o.avg_price().map_or(String::new(), |a| a.to_string()),
        )
        .dec(
            "leavesQty",
            if o.is_open() {
                o.remaining()
            } else {
                Decimal::ZERO
            },
        )
        .dec(
            "leavesValue",
            if o.is_open() {
                o.remaining() * o.rec.price
            } else {
                Decimal::ZERO
            },
        )
        .dec("cumExecQty", o.filled)
        .dec("cumExecValue", o.filled_quote())
        .dec("cumExecFee", o.fee)
        .raw("cumFeeDetail", &fee_detail)
        .str("timeInForce", tif_name(o.rec.tif))
        .str("orderType", "Limit")
        .str("stopOrderType", "")
        .str("orderIv", "")
        .str("marketUnit", "")
        .str("triggerPrice", "0")
        .str("takeProfit", "0")
        .str("stopLoss", "0")
        .str("tpslMode", "")
        .str("tpLimitPrice", "")
        .str("slLimitPrice", "")
        .str("tpTriggerBy", "")
        .str("slTriggerBy", "")
        .num("triggerDirection", 0)
        .str("triggerBy", "")
        .str("lastPriceOnCreated", "")
        .num("reduceOnly", o.rec.reduce_only)
        .num("closeOnTrigger", false)
        .str("placeType", "")
        .str(
            "smpType",
            if o.rec.stp.is_empty() {
                "None"
            } else {
                &o.rec.stp
            },
        )
        .num("smpGroup", 0)
        .str("smpOrderId", "")
        .str("createdTime", &o.rec.time_ms.to_string())
        .str("updatedTime", &o.updated_ms.to_string())
        .build()
}

fn list(category: &str, rows: Vec<String>, now: i64) -> String {
    let result = Obj::new()
        .str("category", category)
        .str("nextPageCursor", "")
        .raw("list", &array(rows))
        .build();
    envelope(0, "OK", &result, now)
}

fn category(venue: Venue) -> &'static str {
    if venue.is_perp() {
        "linear"
    } else {
        "spot"
    }
}

fn read_or_set(
    kind: Kind,
    venue: Venue,
    p: &Params,
    shared: &Shared,
    desk: &mut Desk<'_>,
) -> Result<String, String> {
    let now = desk.now_ms;
    let symbol = match p.get("symbol") {
        Some(s) => Some(
            shared
                .listing
                .find(venue, &s)
                .ok_or_else(|| fail(10001, "params error: symbol invalid", now))?,
        ),
        None => None,
    };
    let limit = p
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 50);
    let matches = |o: &SimOrder| {
        symbol.is_none_or(|i| o.instrument == i)
            && p.get("orderId")
                .is_none_or(|id| id == o.rec.order_id.to_string())
            && p.get("orderLinkId").is_none_or(|c| c == o.rec.client_id)
    };
    Ok(match kind {
        Kind::Realtime => {
            let by_id = p.get("orderId").is_some() || p.get("orderLinkId").is_some();
            let open_only = p.get("openOnly").unwrap_or_else(|| "0".into());
            let a = &desk.account;
            let mut rows: Vec<&SimOrder> = Vec::new();
            if open_only == "0" {
                let mut open = a.open_orders(venue, None);
                open.reverse();
                rows.extend(open.into_iter().filter(|o| matches(o)));
            }
            if open_only == "1" || by_id {
                rows.extend(a.recently_closed(venue).filter(|o| matches(o)));
            }
            rows.truncate(limit);
            list(
                category(venue),
                rows.into_iter().map(order_row).collect(),
                now,
            )
        }
        Kind::History => {
            let mut rows: Vec<String> = desk
                .account
                .orders_of(venue)
                .filter(|o| matches(o))
                .map(order_row)
                .collect();
            rows.reverse();
            rows.truncate(limit);
            list(category(venue), rows, now)
        }
        Kind::Executions => {
            let mut rows = Vec::new();
            for o in desk.account.orders_of(venue).filter(|o| matches(o)) {
                for f in &o.rec.fills {
                    rows.push(
                        Obj::new()
                            .str("symbol", &o.rec.symbol)
                            .str("orderType", "Limit")
                            .str("underlyingPrice", "")
                            .str("orderLinkId", &o.rec.client_id)
                            .str("side", side_name(o.rec.side))
                            .str("indexPrice", "")
                            .str("orderId", &o.rec.order_id.to_string())
                            .str("stopOrderType", "UNKNOWN")
                            .dec("leavesQty", o.remaining())
                            .str("execTime", &f.time_ms.to_string())
                            .str("feeCurrency", &f.fee_asset)
                            .num("isMaker", f.maker)
                            .dec("execFee", f.fee)
                            .dec("feeRate", desk.account.fee_rates(venue).of(f.maker))
                            .str("execId", &f.trade_id.to_string())
                            .str("tradeIv", "")
                            .str("blockTradeId", "")
                            .str("markPrice", "")
                            .dec("execPrice", f.price)
                            .str("markIv", "")
                            .dec("orderQty", o.rec.qty)
                            .dec("orderPrice", o.rec.price)
                            .dec("execValue", f.qty * f.price * o.contract_size)
                            .str("execType", "Trade")
                            .dec("execQty", f.qty)
                            .str("closedSize", "")
                            .num("seq", f.trade_id)
                            .build(),
                    );
                }
            }
            rows.reverse();
            let page = p
                .get("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(50)
                .clamp(1, 100);
            rows.truncate(page);
            list(category(venue), rows, now)
        }
        Kind::Dcp => {
            let window: i64 = p
                .required("timeWindow", now)?
                .parse()
                .ok()
                .filter(|w| (3..=300).contains(w))
                .ok_or_else(|| fail(10001, "params error: timeWindow must be 3 to 300", now))?;
            let venues: Vec<Venue> = match p.get("product").as_deref().unwrap_or("OPTIONS") {
                "DERIVATIVES" => vec![PERP],
                "SPOT" => vec![SPOT],
                "OPTIONS" => Vec::new(),
                _ => return Err(fail(10001, "params error: product invalid", now)),
            };
            desk.account
                .set_countdown(&venues, None, window * 1000, true, now);
            envelope(0, "success", "{}", now)
        }
        Kind::Positions => {
            if !venue.is_perp() {
                return Err(fail(
                    10001,
                    "params error: category only support linear",
                    now,
                ));
            }
            if symbol.is_none() && p.get("settleCoin").is_none() {
                return Err(fail(
                    10001,
                    "params error: symbol or settleCoin is required",
                    now,
                ));
            }
            let perp = &desk.account.perp;
            // With a symbol the venue lists it even when flat; in hedge mode as two rows
            // (positionIdx 1 buy side, 2 sell side), which is how a client learns the mode.
            let mut held: Vec<(usize, Position, u8)> = Vec::new();
            for i in 0..shared.listing.instruments().len() {
                let pos = perp.position(i);
                if symbol.is_some_and(|s| s != i) || (symbol.is_none() && pos.qty.is_zero()) {
                    continue;
                }
                if perp.hedge {
                    held.push((i, pos, 1));
                    held.push((i, Position::default(), 2));
                } else {
                    held.push((i, pos, 0));
                }
            }
            let rows: Vec<String> = held
                .into_iter()
                .filter_map(|(i, pos, idx)| {
                    let l = shared.listing.get(i, PERP)?;
                    let r = desk.account.position_risk(i, &desk.tick)?;
                    let (mark, tier) = (r.mark, r.tier);
                    let side = if pos.qty > Decimal::ZERO {
                        "Buy"
                    } else if pos.qty < Decimal::ZERO {
                        "Sell"
                    } else {
                        ""
                    };
                    let lev = perp.leverage(i);
                    let value = pos.qty.abs() * pos.entry;
                    let (mm, liq) = if pos.qty.is_zero() {
                        (Decimal::ZERO, String::new())
                    } else {
                        (
                            r.maint_margin,
                            r.liq_price.unwrap_or_default().normalize().to_string(),
                        )
                    };
                    Some(
                        Obj::new()
                            .num("positionIdx", idx)
                            .num("riskId", tier.number)
                            .dec("riskLimitValue", tier.cap)
                            .str("symbol", &l.symbol)
                            .str("side", side)
                            .dec("size", pos.qty.abs())
                            .dec("avgPrice", pos.entry)
                            .dec("positionValue", value)
                            .num("tradeMode", 0)
                            .num("autoAddMargin", 0)
                            .str("positionStatus", "Normal")
                            .str("leverage", &lev.to_string())
                            .dec("markPrice", mark)
                            .str("liqPrice", &liq)
                            .str("bustPrice", "")
                            .dec("positionIM", (value / Decimal::from(lev)).round_dp(8))
                            .dec("positionMM", mm)
                            .str("positionBalance", "0")
                            .str("tpslMode", "Full")
                            .str("takeProfit", "0")
                            .str("stopLoss", "0")
                            .str("trailingStop", "0")
                            .str("sessionAvgPrice", "")
                            .dec("unrealisedPnl", ((mark - pos.entry) * pos.qty).round_dp(8))
                            .dec("curRealisedPnl", pos.realized)
                            .dec("cumRealisedPnl", pos.realized)
                            .num("adlRankIndicator", 2)
                            .str("createdTime", "1676538056258")
                            .str("updatedTime", &now.to_string())
                            .num("seq", now)
                            .num("isReduceOnly", false)
                            .str("mmrSysUpdatedTime", "")
                            .str("leverageSysUpdatedTime", "")
                            .build(),
                    )
                })
                .collect();
            list("linear", rows, now)
        }
        Kind::SetLeverage => {
            let i = symbol.ok_or_else(|| fail(10001, "params error: symbol is required", now))?;
            let buy = p.required("buyLeverage", now)?;
            let sell = p.required("sellLeverage", now)?;
            if buy != sell {
                return Err(fail(
                    10001,
                    "buy leverage must equal sell leverage in one-way mode",
                    now,
                ));
            }
            let lev: u32 = buy
                .parse()
                .ok()
                .filter(|l| (1..=100).contains(l))
                .ok_or_else(|| fail(10001, "params error: leverage invalid", now))?;
            if desk.account.perp.leverage(i) == lev {
                return Err(fail(110043, "Set leverage not modified", now));
            }
            desk.account.set_leverage(PERP, i, lev, now);
            envelope(0, "OK", "{}", now)
        }
        Kind::SwitchMode => {
            let hedge = match p.required("mode", now)?.as_str() {
                "0" => false,
                "3" => true,
                _ => return Err(fail(10001, "params error: mode invalid", now)),
            };
            if desk.account.perp.hedge == hedge {
                return Err(fail(110025, "Position mode is not modified", now));
            }
            if desk
                .account
                .perp
                .positions
                .values()
                .any(|p| !p.qty.is_zero())
            {
                return Err(fail(
                    110024,
                    "You have an existing position, so position mode cannot be switched",
                    now,
                ));
            }
            if desk.account.has_exposure() {
                return Err(fail(
                    110028,
                    "You have existing open orders, so position mode cannot be switched",
                    now,
                ));
            }
            desk.account.set_hedge(PERP, hedge, now);
            envelope(0, "OK", "{}", now)
        }
        Kind::WalletBalance => {
            if p.get("accountType").as_deref() != Some("UNIFIED") {
                return Err(fail(10001, "accountType only support UNIFIED", now));
            }
            wallet_balance(desk, now)
        }
        Kind::AccountInfo => {
            let isolated = !desk.account.perp.isolated.is_empty();
            let dcp = desk.account.renewing_window(&[PERP]);
            let result = Obj::new()
                .num("unifiedMarginStatus", 5)
                .str(
                    "marginMode",
                    if isolated {
                        "ISOLATED_MARGIN"
                    } else {
                        "REGULAR_MARGIN"
                    },
                )
                .num("isMasterTrader", false)
                .str("spotHedgingStatus", "OFF")
                .str("updatedTime", &now.to_string())
                .str("dcpStatus", if dcp.is_some() { "ON" } else { "OFF" })
                .num("timeWindow", dcp.unwrap_or(0) / 1000)
                .num("smpGroup", 0)
                .build();
            envelope(0, "OK", &result, now)
        }
        Kind::SetMarginMode => {
            let isolated = match p.required("setMarginMode", now)?.as_str() {
                "ISOLATED_MARGIN" => true,
                "REGULAR_MARGIN" => false,
                _ => return Err(fail(10001, "params error: setMarginMode invalid", now)),
            };
            // Account-wide at Bybit: every perp symbol follows.
            for i in 0..shared.listing.instruments().len() {
                desk.account.set_margin_mode(PERP, i, isolated, now);
            }
            envelope(0, "Request accepted", "{\"reasons\":[]}", now)
        }
        Kind::FeeRate => {
            let r = desk.account.fee_rates(venue);
            let rows: Vec<String> = (0..shared.listing.instruments().len())
                .filter(|i| symbol.is_none_or(|s| s == *i))
                .filter_map(|i| shared.listing.get(i, venue))
                .map(|l| {
                    let mut o = Obj::new().str("symbol", &l.symbol);
                    if !venue.is_perp() {
                        o = o.str("baseCoin", "");
                    }
                    o.dec("takerFeeRate", r.taker)
                        .dec("makerFeeRate", r.maker)
                        .build()
                })
                .collect();
            envelope(0, "OK", &Obj::new().raw("list", &array(rows)).build(), now)
        }
        Kind::TransactionLog => transaction_log(p, desk, now)?,
        Kind::Create | Kind::Cancel => unreachable!("order requests are routed before"),
    })
}

/// `GET /v5/account/transaction-log`: the funding ledger (`type=SETTLEMENT`, or none; other
/// types have no rows here), newest first, cursor-paged (`limit` at most 50, default 20; the
/// cursor is the id to continue below). `funding` is positive when received, the opposite
/// sign to `fee`; `feeRate` is the funding rate, `tradePrice` the mark it settled at, `size`
/// the position after it; `change = cashFlow + funding − fee`.
fn transaction_log(p: &Params, desk: &Desk<'_>, now: i64) -> Result<String, String> {
    if p.get("accountType").is_some_and(|a| a != "UNIFIED") {
        return Err(fail(10001, "accountType only support UNIFIED", now));
    }
    let wanted = p.get("type").is_none_or(|t| t == "SETTLEMENT")
        && p.get("category").is_none_or(|c| c == "linear");
    let only = p.get("symbol");
    let coin = p.get("currency").or_else(|| p.get("baseCoin"));
    let time = |k: &str| p.get(k).and_then(|v| v.parse::<i64>().ok());
    let (start, end) = match (time("startTime"), time("endTime")) {
        (None, None) => (now - 86_400_000, now),
        (s, None) => (s.unwrap_or(0), s.unwrap_or(0) + 7 * 86_400_000),
        (None, e) => (e.unwrap_or(now) - 86_400_000, e.unwrap_or(now)),
        (Some(s), Some(e)) => (s, e),
    };
    let limit = p
        .get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 50);
    let below: Option<u64> = match p.get("cursor") {
        Some(c) => Some(
            c.parse()
                .map_err(|_| fail(10001, "params error: cursor invalid", now))?,
        ),
        None => None,
    };
    let mut rows: Vec<&crate::sim::record::FundingPayment> = desk
        .account
        .funding_ledger()
        .iter()
        .rev()
        .filter(|f| wanted && (start..=end).contains(&f.time_ms))
        .filter(|f| only.as_ref().is_none_or(|s| *s == f.symbol))
        .filter(|f| coin.as_ref().is_none_or(|c| *c == f.asset))
        .filter(|f| below.is_none_or(|b| f.id < b))
        .take(limit + 1)
        .collect();
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map_or(String::new(), |f| f.id.to_string())
    } else {
        String::new()
    };
    let list: Vec<String> = rows
        .iter()
        .map(|f| {
            let side = if f.position > Decimal::ZERO {
                "Buy"
            } else {
                "Sell"
            };
            Obj::new()
                .str("id", &format!("{}-{}", f.id, f.time_ms))
                .str("symbol", &f.symbol)
                .str("category", "linear")
                .str("side", side)
                .str("transactionTime", &f.time_ms.to_string())
                .str("type", "SETTLEMENT")
                .str("transSubType", "")
                .str("qty", "0")
                .dec("size", f.position.abs())
                .str("currency", &f.asset)
                .dec("tradePrice", f.mark)
                .dec("funding", f.amount)
                .str("fee", "0")
                .str("cashFlow", "0")
                .dec("change", f.amount)
                .dec("cashBalance", f.balance)
                .dec("feeRate", f.rate)
                .str("bonusChange", "")
                .str("tradeId", "")
                .str("orderId", "")
                .str("orderLinkId", "")
                .str("extraFees", "")
                .build()
        })
        .collect();
    let result = Obj::new()
        .str("nextPageCursor", &next)
        .raw("list", &array(list))
        .build();
    Ok(envelope(0, "OK", &result, now))
}

/// The unified wallet: the simulator keeps perp, spot and margin wallets apart, and Bybit's
/// one wallet reports their sum per coin.
fn wallet_balance(desk: &Desk<'_>, now: i64) -> String {
    let account = wallet_account(&desk.account);
    envelope(0, "OK", &format!("{{\"list\":[{account}]}}"), now)
}

/// The unified account as `wallet-balance` lists it and the `wallet` topic pushes it.
/// `availableToWithdraw` is what is free: the perp wallet less the margin its positions and
/// orders use, plus the spot and margin wallets less what open orders lock.
pub(crate) fn wallet_account(a: &crate::sim::account::Account) -> String {
    let mut coins: std::collections::BTreeMap<String, (Decimal, Decimal)> = Default::default();
    for (asset, v) in a
        .perp
        .balances
        .iter()
        .chain(a.spot.iter())
        .chain(a.margin.assets.iter())
    {
        coins.entry(asset.clone()).or_default().0 += *v;
    }
    for (asset, v) in &a.margin.borrowed {
        coins.entry(asset.clone()).or_default().1 += *v;
    }
    let rows: Vec<String> = coins
        .iter()
        .map(|(coin, (total, borrowed))| {
            let locked = a.locked(Wallet::Spot, coin) + a.locked(Wallet::Margin, coin);
            let perp_used = a.total(Wallet::Perp, coin) - a.perp_available(coin);
            Obj::new()
                .str("availableToBorrow", "")
                .str("bonus", "0")
                .str("accruedInterest", "0")
                .dec("availableToWithdraw", *total - locked - perp_used)
                .str("totalOrderIM", "0")
                .dec("equity", *total - *borrowed)
                .str("totalPositionMM", "0")
                .str("usdValue", "")
                .str("unrealisedPnl", "0")
                .num("collateralSwitch", true)
                .str("spotHedgingQty", "0")
                .dec("borrowAmount", *borrowed)
                .str("totalPositionIM", "0")
                .dec("walletBalance", *total)
                .str("cumRealisedPnl", "0")
                .dec("locked", locked)
                .num("marginCollateral", true)
                .str("coin", coin)
                .build()
        })
        .collect();
    Obj::new()
        .str("totalEquity", "")
        .str("accountIMRate", "0")
        .str("totalMarginBalance", "")
        .str("totalInitialMargin", "")
        .str("accountType", "UNIFIED")
        .str("totalAvailableBalance", "")
        .str("accountMMRate", "0")
        .str("totalPerpUPL", "0")
        .str("totalWalletBalance", "")
        .str("accountLTV", "0")
        .str("totalMaintenanceMargin", "")
        .raw("coin", &array(rows))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `PRIVATE.md` §6.5: the library vectors (the docs' own come without their secret).
    #[test]
    fn published_vectors() {
        let cases = [
            (
                prehash(
                    "1700000000000",
                    "test_api_key",
                    "5000",
                    "category=linear&symbol=BTCUSDT",
                ),
                "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7",
            ),
            (
                prehash(
                    "1700000000000",
                    "test_api_key",
                    "5000",
                    r#"{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"}"#,
                ),
                "2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1",
            ),
            // Y3, the websocket auth string, signed the same way.
            (
                "GET/realtime1700000000000".to_string(),
                "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925",
            ),
        ];
        for (pre, want) in cases {
            assert_eq!(sign("test_secret", &pre), want, "{pre}");
        }
        // The docs' examples: only the layout of the pre-hash can be checked.
        assert_eq!(
            prehash(
                "1658384314791",
                "XXXXXXXXXX",
                "5000",
                "category=option&symbol=BTC-29JUL22-25000-C"
            ),
            "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
        );
    }

    #[test]
    fn order_link_ids() {
        assert!(valid_link_id("carry-1_A"));
        assert!(valid_link_id(&"x".repeat(36)));
        assert!(!valid_link_id(&"x".repeat(37)));
        assert!(!valid_link_id("a.b"));
        assert!(!valid_link_id(""));
    }
}

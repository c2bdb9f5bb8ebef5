//! Binance's signed REST endpoints as the simulator serves them: USDⓈ-M futures (`/fapi`),
//! spot (`/api/v3`) and cross-margin spot (`/sapi/v1/margin`), from `PRIVATE.md` §1 and
//! `NOTES.md` §1.5.
//!
//! Auth: `X-MBX-APIKEY` names the key; `signature` is the hex HMAC-SHA256 of the query string
//! concatenated with the body (no separator), `signature` itself left out. `timestamp` is
//! accepted when `timestamp < serverTime + 1000` and `serverTime − timestamp <= recvWindow`
//! (default 5000, at most 60000), on the exchange's (possibly skewed) clock. Errors are
//! `{"code":-1022,"msg":...}` and friends with HTTP 400, 401 for keys, 429 for limits.
//!
//! Orders: `LIMIT` with `GTC`/`IOC`/`FOK`, futures `GTX` and spot `LIMIT_MAKER` post-only
//! (refused if they would take: `-5022` / `-2010`), futures `reduceOnly`, every
//! `selfTradePreventionMode` accepted and echoed. A client id is refused as a duplicate only
//! while the earlier order is open. Cancel and query take `orderId` or `origClientOrderId`
//! (unknown: `-2011` / `-2013`). Futures answer `ACK` by default (the order as accepted) and the
//! current state with `newOrderRespType=RESULT`; spot answers `FULL` by default.
//!
//! Limits per account: new orders per 10 s and per minute (futures) or day (spot), `-1015`;
//! request weight per minute (every signed request weighs 1), `-1003`; both HTTP 429, with
//! `Retry-After` except on spot's order-count refusals (the spot docs say so). Every signed
//! answer carries `X-MBX-USED-WEIGHT-1M`; order answers carry `X-MBX-ORDER-COUNT-10S` and
//! `-1M`/`-1D`.

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;

use crate::sim::account::{
    CancelRefusal, Duplicates, NewOrder, OrderKey, PostOnlyCross, Refusal, SimOrder,
};
use crate::sim::auth::{hmac_sha256_hex, same_signature};
use crate::sim::http::{Reply, RestRequest};
use crate::sim::limits::{RateLimit, Usage};
use crate::sim::record::{Finish, Side, TimeInForce, Wallet};
use crate::sim::rules::{self, Band, OrderRules, RuleBreak};
use crate::sim::wire::{array, parse_decimal, Obj};
use crate::sim::{Desk, Shared};

const PERP: Venue = Venue::new(Exchange::Binance, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Binance, Market::Spot);
const DEFAULT_RECV_WINDOW: i64 = 5_000;
const MAX_RECV_WINDOW: i64 = 60_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Place,
    Cancel,
    Query,
    OpenOrders,
    Trades,
    CountdownCancelAll,
    PositionRisk { v2: bool },
    FuturesBalance,
    SpotAccount,
    MarginAccount,
    PositionModeGet,
    PositionModeSet,
    Leverage,
    MarginType,
    Income,
    CommissionRate,
    LeverageBracket,
}

/// Which endpoint a request is: its market, the wallet it trades and what it does.
fn endpoint(method: &str, path: &str) -> Option<(Venue, Wallet, Kind)> {
    let (venue, wallet, rest) = if let Some(r) = path.strip_prefix("/fapi/") {
        (PERP, Wallet::Perp, r)
    } else if let Some(r) = path.strip_prefix("/api/v3/") {
        (SPOT, Wallet::Spot, r)
    } else if let Some(r) = path.strip_prefix("/sapi/v1/margin/") {
        (SPOT, Wallet::Margin, r)
    } else {
        return None;
    };
    let kind = match (wallet, method, rest) {
        (Wallet::Perp, "POST", "v1/order") | (_, "POST", "order") => Kind::Place,
        (Wallet::Perp, "DELETE", "v1/order") | (_, "DELETE", "order") => Kind::Cancel,
        (Wallet::Perp, "GET", "v1/order") | (_, "GET", "order") => Kind::Query,
        (Wallet::Perp, "GET", "v1/openOrders") | (_, "GET", "openOrders") => Kind::OpenOrders,
        (Wallet::Perp, "GET", "v1/userTrades") | (_, "GET", "myTrades") => Kind::Trades,
        (Wallet::Perp, "POST", "v1/countdownCancelAll") => Kind::CountdownCancelAll,
        (Wallet::Perp, "GET", "v3/positionRisk") => Kind::PositionRisk { v2: false },
        (Wallet::Perp, "GET", "v2/positionRisk") => Kind::PositionRisk { v2: true },
        (Wallet::Perp, "GET", "v3/balance" | "v2/balance") => Kind::FuturesBalance,
        (Wallet::Perp, "GET", "v1/positionSide/dual") => Kind::PositionModeGet,
        (Wallet::Perp, "POST", "v1/positionSide/dual") => Kind::PositionModeSet,
        (Wallet::Perp, "POST", "v1/leverage") => Kind::Leverage,
        (Wallet::Perp, "POST", "v1/marginType") => Kind::MarginType,
        (Wallet::Perp, "GET", "v1/income") => Kind::Income,
        (Wallet::Perp, "GET", "v1/commissionRate") => Kind::CommissionRate,
        (Wallet::Perp, "GET", "v1/leverageBracket") => Kind::LeverageBracket,
        (Wallet::Spot, "GET", "account/commission") => Kind::CommissionRate,
        (Wallet::Spot, "GET", "account") => Kind::SpotAccount,
        (Wallet::Margin, "GET", "account") => Kind::MarginAccount,
        _ => return None,
    };
    Some((venue, wallet, kind))
}

pub(crate) fn error(status: u16, code: i64, msg: &str) -> (u16, String) {
    (status, Obj::new().num("code", code).str("msg", msg).build())
}

fn reply((status, body): (u16, String), venue: Venue) -> Reply {
    Reply::new(venue, status, body)
}

/// The string Binance signs: query and body concatenated, each without its `signature`
/// parameter; and the signature sent, if any.
pub(crate) fn signed_payload(raw_query: &str, body: &str) -> (String, Option<String>) {
    let mut signature = None;
    let mut strip = |s: &str| -> String {
        s.split('&')
            .filter(|p| match p.strip_prefix("signature=") {
                Some(sig) => {
                    signature = Some(sig.to_string());
                    false
                }
                None => true,
            })
            .collect::<Vec<_>>()
            .join("&")
    };
    let q = strip(raw_query);
    let b = strip(body);
    (q + &b, signature)
}

/// The signature Binance expects over `payload`.
pub(crate) fn sign(secret: &str, payload: &str) -> String {
    hmac_sha256_hex(secret, payload.as_bytes())
}

/// Checks the API key a request names (`X-MBX-APIKEY`, or the WebSocket API's `apiKey`).
pub(crate) fn check_key(sent: Option<&str>, shared: &Shared) -> Result<(), (u16, String)> {
    let creds = shared.credentials.of(Exchange::Binance);
    match sent {
        None | Some("") => Err(error(401, -2014, "API-key format invalid.")),
        Some(k) if k != creds.api_key => Err(error(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        )),
        Some(_) => Ok(()),
    }
}

/// Checks key, signature and timestamp; returns the request's parameters (query, then body).
fn authenticate(req: &RestRequest, shared: &Shared, now_ms: i64) -> Result<Params, (u16, String)> {
    let creds = shared.credentials.of(Exchange::Binance);
    check_key(req.header("x-mbx-apikey"), shared)?;
    let mut pairs = req.query.clone();
    pairs.extend(req.form());
    let params = Params(pairs);
    let (payload, signature) = signed_payload(&req.raw_query, &req.body);
    let Some(signature) = signature.filter(|s| !s.is_empty()) else {
        return Err(mandatory("signature"));
    };
    if !same_signature(&sign(&creds.secret, &payload), &signature, true) {
        return Err(error(
            400,
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    check_time(&params, now_ms)?;
    Ok(params)
}

/// The timestamp rule, on the exchange's clock: `timestamp < serverTime + 1000` and
/// `serverTime − timestamp <= recvWindow` (default 5000, at most 60000).
pub(crate) fn check_time(params: &Params, now_ms: i64) -> Result<(), (u16, String)> {
    let Some(ts) = params.get("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return Err(mandatory("timestamp"));
    };
    // Spot also takes microseconds.
    let ts = if ts > 100_000_000_000_000 {
        ts / 1000
    } else {
        ts
    };
    let recv_window = match params.get("recvWindow") {
        None => DEFAULT_RECV_WINDOW,
        Some(w) => match parse_decimal(w) {
            Some(w) if w <= Decimal::from(MAX_RECV_WINDOW) => {
                w.trunc().try_into().unwrap_or(MAX_RECV_WINDOW)
            }
            _ => return Err(error(400, -1131, "recvWindow must be less than 60000")),
        },
    };
    if ts >= now_ms + 1000 {
        return Err(error(
            400,
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if now_ms - ts > recv_window {
        return Err(error(
            400,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(())
}

fn mandatory(name: &str) -> (u16, String) {
    error(
        400,
        -1102,
        &format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

/// A request's parameters, query and form body together (or a WebSocket API request's
/// `params`, as text).
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, key: &str) -> Result<&str, (u16, String)> {
        self.get(key).ok_or_else(|| mandatory(key))
    }

    fn decimal(&self, key: &str) -> Result<Decimal, (u16, String)> {
        let v = self.required(key)?;
        parse_decimal(v).ok_or_else(|| {
            error(
                400,
                -1100,
                &format!(
                    "Illegal characters found in parameter '{key}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."
                ),
            )
        })
    }
}

/// Window names as Binance prints them in limit messages.
fn interval_name(limit: RateLimit) -> String {
    match limit.window.as_secs() {
        10 => "TEN_SECONDS".into(),
        60 => "MINUTE".into(),
        86_400 => "DAY".into(),
        s => format!("{s} SECONDS"),
    }
}

/// `10S`, `1M`, `1D`: the suffix of a usage header for a window.
fn interval_suffix(limit: RateLimit) -> String {
    let s = limit.window.as_secs().max(1);
    if s % 86_400 == 0 {
        format!("{}D", s / 86_400)
    } else if s % 3_600 == 0 {
        format!("{}H", s / 3_600)
    } else if s % 60 == 0 {
        format!("{}M", s / 60)
    } else {
        format!("{s}S")
    }
}

fn throttled(u: &Usage, now_ms: i64, code: i64, msg: String, venue: Venue) -> Reply {
    let retry = ((u.reset_ms - now_ms).max(0) + 999) / 1000;
    reply(error(429, code, &msg), venue).with_headers(vec![("Retry-After", retry.to_string())])
}

/// Serves Binance's private endpoints; `None` for paths that are not.
pub(crate) fn rest(req: &RestRequest, shared: &Shared) -> Option<Reply> {
    let (venue, wallet, kind) = endpoint(&req.method, &req.path)?;
    if !shared.listing.carries(venue) {
        return None;
    }
    let now = shared.venue_now_ms(Exchange::Binance);
    let params = match authenticate(req, shared, now) {
        Ok(p) => p,
        Err(e) => return Some(reply(e, venue)),
    };
    serve(venue, wallet, kind, params, shared)
}

/// Runs one authenticated request: request weight, order limits, injected faults, then the
/// endpoint. REST and the WebSocket API share it, as they share the venue's limits. The
/// answer carries the usage headers the WebSocket API turns into `rateLimits`.
pub(crate) fn serve(
    venue: Venue,
    wallet: Wallet,
    kind: Kind,
    params: Params,
    shared: &Shared,
) -> Option<Reply> {
    let mut desk = shared.desk(Exchange::Binance)?;
    let weight = if venue.is_perp() {
        shared.limits.binance_perp_weight
    } else {
        shared.limits.binance_spot_weight
    };
    let weight_key = format!("weight-{}", venue.market.as_str());
    let used = match desk
        .account
        .counters
        .take(&[(&weight_key, weight)], desk.now_ms)
    {
        Ok(u) => u[0].used,
        Err(u) => {
            let msg = format!(
                "Too many requests; current limit is {} requests per minute. Please use the websocket for live updates to avoid polling the API.",
                u.limit.max
            );
            return Some(
                throttled(&u, desk.now_ms, -1003, msg, venue)
                    .with_headers(vec![("X-MBX-USED-WEIGHT-1M", u.used.to_string())]),
            );
        }
    };
    let weight_header = ("X-MBX-USED-WEIGHT-1M", used.to_string());
    let call = Call {
        venue,
        wallet,
        params,
    };
    let server_error = || {
        if venue.is_perp() {
            error(
                503,
                -1000,
                "Unknown error, please check your request or try again later.",
            )
        } else {
            error(
                503,
                -1007,
                "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
            )
        }
    };
    let r = match kind {
        Kind::Place => {
            let limits = if venue.is_perp() {
                shared.limits.binance_perp_orders
            } else {
                shared.limits.binance_spot_orders
            };
            let keys: Vec<String> = limits
                .iter()
                .map(|l| format!("orders-{}-{}", venue.market.as_str(), interval_suffix(*l)))
                .collect();
            let counters: Vec<(&str, RateLimit)> = keys
                .iter()
                .map(String::as_str)
                .zip(limits.iter().copied())
                .collect();
            let usage = match desk.account.counters.take(&counters, desk.now_ms) {
                Ok(u) => u,
                Err(u) => {
                    let msg = format!(
                        "Too many new orders; current limit is {} orders per {}.",
                        u.limit.max,
                        interval_name(u.limit)
                    );
                    // Spot: "If you have exceeded this, you will receive a 429 error without
                    // the Retry-After header" (developers.binance.com/docs/
                    // binance-spot-api-docs/rest-api/limits, "Unfilled Order Count").
                    let refused = if venue.is_perp() {
                        throttled(&u, desk.now_ms, -1015, msg, venue)
                    } else {
                        reply(error(429, -1015, &msg), venue)
                    };
                    return Some(refused.with_headers(vec![weight_header]));
                }
            };
            let counts: Vec<(&'static str, String)> = usage
                .iter()
                .map(|u| {
                    let name: &'static str = match interval_suffix(u.limit).as_str() {
                        "10S" => "X-MBX-ORDER-COUNT-10S",
                        "1M" => "X-MBX-ORDER-COUNT-1M",
                        "1D" => "X-MBX-ORDER-COUNT-1D",
                        _ => "X-MBX-ORDER-COUNT",
                    };
                    (name, u.used.to_string())
                })
                .collect();
            shared
                .order_request(venue, server_error, || {
                    reply(place(&call, shared, &mut desk), venue)
                })
                .with_headers(counts)
        }
        Kind::Cancel => shared.order_request(venue, server_error, || {
            reply(cancel(&call, shared, &mut desk), venue)
        }),
        _ => reply(read_or_set(kind, &call, shared, &mut desk), venue),
    };
    Some(r.with_headers(vec![weight_header]))
}

struct Call {
    venue: Venue,
    wallet: Wallet,
    params: Params,
}

fn symbol(call: &Call, shared: &Shared) -> Result<usize, (u16, String)> {
    let s = call.params.required("symbol")?;
    shared
        .listing
        .find(call.venue, s)
        .ok_or_else(|| error(400, -1121, "Invalid symbol."))
}

/// A client id Binance accepts: futures `^[\.A-Z\:/a-z0-9_-]{1,36}$`, spot `^[a-zA-Z0-9-_]{1,36}$`.
pub(crate) fn valid_client_id(venue: Venue, id: &str) -> bool {
    let extra: &[u8] = if venue.is_perp() { b".:/_-" } else { b"_-" };
    (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

fn rule_error(venue: Venue, b: RuleBreak, rules: &OrderRules) -> (u16, String) {
    if venue.is_perp() {
        let (code, msg) = match b {
            RuleBreak::QtyNotPositive => (-4003, "Quantity less than or equal to zero.".into()),
            RuleBreak::QtyOffLot => (-4023, "Qty not increased by step size.".into()),
            RuleBreak::QtyBelowMin => (-4004, "Quantity less than min quantity.".into()),
            RuleBreak::QtyAboveMax => (-4005, "Quantity greater than max quantity.".into()),
            RuleBreak::PriceNotPositive => (-4001, "Price less than 0.".into()),
            RuleBreak::PriceOffTick => (-4014, "Price not increased by tick size.".into()),
            RuleBreak::NotionalBelowMin => (
                -4164,
                format!(
                    "Order's notional must be no smaller than {} (unless you choose reduce only).",
                    rules.min_notional.normalize()
                ),
            ),
            RuleBreak::PriceAboveBand(p) => (
                -4016,
                format!("Limit price can't be higher than {}.", p.normalize()),
            ),
            RuleBreak::PriceBelowBand(p) => (
                -4024,
                format!("Limit price can't be lower than {}.", p.normalize()),
            ),
        };
        error(400, code, &msg)
    } else {
        let filter = match b {
            RuleBreak::QtyNotPositive
            | RuleBreak::QtyOffLot
            | RuleBreak::QtyBelowMin
            | RuleBreak::QtyAboveMax => "LOT_SIZE",
            RuleBreak::PriceNotPositive | RuleBreak::PriceOffTick => "PRICE_FILTER",
            RuleBreak::NotionalBelowMin => "NOTIONAL",
            RuleBreak::PriceAboveBand(_) | RuleBreak::PriceBelowBand(_) => "PERCENT_PRICE_BY_SIDE",
        };
        error(400, -1013, &format!("Filter failure: {filter}"))
    }
}

/// The price band: futures `PERCENT_PRICE` 0.95–1.05 of the mark; spot
/// `PERCENT_PRICE_BY_SIDE` 0.2–5 of the average price (the mid here), as `exchangeInfo` prints.
fn band(venue: Venue, desk: &Desk<'_>, instrument: usize, tick: Decimal) -> Option<Band> {
    let leg = desk.tick.leg(instrument, venue)?;
    Some(if venue.is_perp() {
        Band::around(leg.mark, Decimal::new(95, 2), Decimal::new(105, 2), tick)
    } else {
        Band::around(leg.mark, Decimal::new(2, 1), Decimal::from(5), tick)
    })
}

fn place(call: &Call, shared: &Shared, desk: &mut Desk<'_>) -> (u16, String) {
    match try_place(call, shared, desk) {
        Ok(r) | Err(r) => r,
    }
}

fn try_place(
    call: &Call,
    shared: &Shared,
    desk: &mut Desk<'_>,
) -> Result<(u16, String), (u16, String)> {
    let venue = call.venue;
    let p = &call.params;
    let instrument = symbol(call, shared)?;
    let side = match p.required("side")? {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(error(400, -1117, "Invalid side.")),
    };
    let order_type = p.required("type")?;
    let tif = match (venue.market, order_type, p.get("timeInForce")) {
        (Market::Spot, "LIMIT_MAKER", None) => TimeInForce::PostOnly,
        (_, "LIMIT", Some("GTC")) => TimeInForce::Gtc,
        (_, "LIMIT", Some("IOC")) => TimeInForce::Ioc,
        (_, "LIMIT", Some("FOK")) => TimeInForce::Fok,
        (Market::Perp, "LIMIT", Some("GTX")) => TimeInForce::PostOnly,
        (_, "LIMIT", None) => return Err(mandatory("timeInForce")),
        (_, "LIMIT" | "LIMIT_MAKER", Some(_)) => {
            return Err(error(400, -1115, "Invalid timeInForce."))
        }
        _ => return Err(error(400, -1116, "Invalid orderType.")),
    };
    let qty = p.decimal("quantity")?;
    let price = p.decimal("price")?;
    let client_id = match p.get("newClientOrderId") {
        Some(id) if valid_client_id(venue, id) => id.to_string(),
        Some(_) if venue.is_perp() => return Err(error(400, -4015, "Client order id is not valid.")),
        Some(_) => {
            return Err(error(
                400,
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
            ))
        }
        None => format!("sim{}", desk.account.next_order_id()),
    };
    let stp = match p.get("selfTradePreventionMode") {
        None => "NONE".to_string(),
        Some(m @ ("NONE" | "EXPIRE_TAKER" | "EXPIRE_MAKER" | "EXPIRE_BOTH")) => m.to_string(),
        Some(m @ "DECREMENT") if venue.market == Market::Spot => m.to_string(),
        Some(_) => {
            return Err(error(
                400,
                -1100,
                "Illegal characters found in parameter 'selfTradePreventionMode'.",
            ))
        }
    };
    let reduce_only = match (venue.market, p.get("reduceOnly")) {
        (Market::Perp, Some("true")) => true,
        (Market::Perp, Some("false") | None) | (Market::Spot, None) => false,
        (Market::Perp, Some(_)) => {
            return Err(error(
                400,
                -1100,
                "Illegal characters found in parameter 'reduceOnly'.",
            ))
        }
        (Market::Spot, Some(_)) => {
            return Err(error(
                400,
                -1104,
                "Not all sent parameters were read; read 0 parameter(s) but was sent 1.",
            ))
        }
    };
    if venue.is_perp() {
        let hedge = desk.account.perp.hedge;
        let side_param = p.get("positionSide").unwrap_or("BOTH");
        if hedge == (side_param == "BOTH") {
            return Err(error(
                400,
                -4061,
                "Order's position side does not match user's setting.",
            ));
        }
        if hedge && p.get("reduceOnly").is_some() {
            return Err(error(
                400,
                -1106,
                "Parameter 'reduceOnly' sent when not required.",
            ));
        }
    }
    let auto_borrow = call.wallet == Wallet::Margin
        && match p.get("sideEffectType") {
            None | Some("NO_SIDE_EFFECT" | "AUTO_REPAY") => false,
            Some("MARGIN_BUY" | "AUTO_BORROW_REPAY") => true,
            Some(_) => {
                return Err(error(
                    400,
                    -1100,
                    "Illegal characters found in parameter 'sideEffectType'.",
                ))
            }
        };
    if call.wallet == Wallet::Margin && p.get("isIsolated") == Some("TRUE") {
        return Err(error(
            400,
            -3052,
            "The simulated venue has no isolated margin account for this symbol.",
        ));
    }
    let listing = shared
        .listing
        .get(instrument, venue)
        .ok_or_else(|| error(400, -1121, "Invalid symbol."))?;
    let rules = OrderRules::of(listing);
    let band = band(venue, desk, instrument, rules.tick);
    rules::check(&rules, qty, price, side.is_buy(), band)
        .map_err(|b| rule_error(venue, b, &rules))?;

    let new = NewOrder {
        venue,
        wallet: call.wallet,
        instrument,
        side,
        qty,
        price,
        tif,
        reduce_only,
        auto_borrow,
        client_id,
        stp,
    };
    let post_only = PostOnlyCross::Refuse;
    let tick = desk.tick.clone();
    let now = desk.now_ms;
    let pos = desk
        .account
        .place(new, Duplicates::WhileOpen, post_only, &tick, now)
        .map_err(|r| refusal(venue, r))?;
    let o = desk.account.order(pos);
    let resp_type = p.get("newOrderRespType");
    Ok(if venue.is_perp() {
        (200, futures_order(o, resp_type != Some("RESULT"), false))
    } else {
        let full = matches!(resp_type, None | Some("FULL"));
        let ack = resp_type == Some("ACK");
        (200, spot_new_order(o, ack, full))
    })
}

fn refusal(venue: Venue, r: Refusal) -> (u16, String) {
    match (venue.market, r) {
        (Market::Perp, Refusal::Duplicate(_)) => error(400, -4116, "ClientOrderId is duplicated."),
        (Market::Spot, Refusal::Duplicate(_)) => error(400, -2010, "Duplicate order sent."),
        (Market::Perp, Refusal::Insufficient) => error(400, -2019, "Margin is insufficient."),
        (Market::Spot, Refusal::Insufficient) => error(
            400,
            -2010,
            "Account has insufficient balance for requested action.",
        ),
        (_, Refusal::ReduceOnly) => error(400, -2022, "ReduceOnly Order is rejected."),
        (Market::Perp, Refusal::PostOnlyWouldTake) => error(
            400,
            -5022,
            "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history",
        ),
        (Market::Spot, Refusal::PostOnlyWouldTake) => {
            error(400, -2010, "Order would immediately match and take.")
        }
    }
}

fn order_key(p: &Params) -> Result<OrderKey, (u16, String)> {
    if let Some(id) = p.get("orderId") {
        return id.parse().map(OrderKey::Id).map_err(|_| {
            error(
                400,
                -1100,
                "Illegal characters found in parameter 'orderId'.",
            )
        });
    }
    match p.get("origClientOrderId") {
        Some(c) => Ok(OrderKey::Client(c.to_string())),
        None => Err(error(
            400,
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )),
    }
}

/// The order `key` names on this call's market and wallet, if it is on `instrument`.
fn find(call: &Call, desk: &Desk<'_>, instrument: usize, key: &OrderKey) -> Option<usize> {
    desk.account.find(call.venue, key).filter(|&pos| {
        let o = desk.account.order(pos);
        o.instrument == instrument && o.rec.wallet == call.wallet
    })
}

fn cancel(call: &Call, shared: &Shared, desk: &mut Desk<'_>) -> (u16, String) {
    let mut run = || -> Result<(u16, String), (u16, String)> {
        let instrument = symbol(call, shared)?;
        let key = order_key(&call.params)?;
        let unknown = || error(400, -2011, "Unknown order sent.");
        let pos = find(call, desk, instrument, &key).ok_or_else(unknown)?;
        let id = desk.account.order(pos).rec.order_id;
        let now = desk.now_ms;
        match desk.account.cancel(call.venue, &OrderKey::Id(id), now) {
            Ok(pos) => {
                let o = desk.account.order(pos);
                Ok((
                    200,
                    if call.venue.is_perp() {
                        futures_order(o, false, false)
                    } else {
                        let cancel_id = call
                            .params
                            .get("newClientOrderId")
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("simcancel{id}"));
                        spot_cancel(o, &cancel_id, now)
                    },
                ))
            }
            // A cancel that loses the race to a fill is an unknown order at Binance.
            Err(CancelRefusal::NotFound | CancelRefusal::Finished(_)) => Err(unknown()),
        }
    };
    match run() {
        Ok(r) | Err(r) => r,
    }
}

fn read_or_set(kind: Kind, call: &Call, shared: &Shared, desk: &mut Desk<'_>) -> (u16, String) {
    let mut run = || -> Result<String, (u16, String)> {
        let p = &call.params;
        let now = desk.now_ms;
        Ok(match kind {
            Kind::Query => {
                let instrument = symbol(call, shared)?;
                let key = order_key(p)?;
                let pos = find(call, desk, instrument, &key)
                    .ok_or_else(|| error(400, -2013, "Order does not exist."))?;
                let o = desk.account.order(pos);
                if call.venue.is_perp() {
                    futures_order(o, false, true)
                } else {
                    spot_order(o)
                }
            }
            Kind::OpenOrders => {
                let instrument = match p.get("symbol") {
                    Some(_) => Some(symbol(call, shared)?),
                    None => None,
                };
                let rows = desk
                    .account
                    .open_orders(call.venue, Some(call.wallet))
                    .into_iter()
                    .filter(|o| instrument.is_none_or(|i| o.instrument == i))
                    .map(|o| {
                        if call.venue.is_perp() {
                            futures_order(o, false, true)
                        } else {
                            spot_order(o)
                        }
                    });
                array(rows)
            }
            Kind::Trades => {
                let instrument = symbol(call, shared)?;
                let order_id: Option<u64> = p.get("orderId").and_then(|v| v.parse().ok());
                let limit = p
                    .get("limit")
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(500)
                    .clamp(1, 1000);
                let mut rows: Vec<String> = Vec::new();
                for o in desk.account.orders_of(call.venue) {
                    if o.instrument != instrument
                        || o.rec.wallet != call.wallet
                        || order_id.is_some_and(|id| id != o.rec.order_id)
                    {
                        continue;
                    }
                    for f in &o.rec.fills {
                        rows.push(trade_row(call.venue, o, f));
                    }
                }
                let skip = rows.len().saturating_sub(limit);
                array(rows.into_iter().skip(skip))
            }
            Kind::CountdownCancelAll => {
                let instrument = symbol(call, shared)?;
                let ms: i64 = p.required("countdownTime")?.parse().map_err(|_| {
                    error(
                        400,
                        -1100,
                        "Illegal characters found in parameter 'countdownTime'.",
                    )
                })?;
                desk.account
                    .set_countdown(&[PERP], Some(instrument), ms, false, now);
                Obj::new()
                    .str("symbol", p.get("symbol").unwrap_or(""))
                    .str("countdownTime", &ms.to_string())
                    .build()
            }
            Kind::PositionRisk { v2 } => {
                let only = match p.get("symbol") {
                    Some(_) => Some(symbol(call, shared)?),
                    None => None,
                };
                position_risk(shared, desk, only, v2, now)
            }
            Kind::FuturesBalance => {
                let rows = desk.account.perp.balances.iter().map(|(asset, bal)| {
                    Obj::new()
                        .str("accountAlias", "SgsR")
                        .str("asset", asset)
                        .dec("balance", *bal)
                        .dec("crossWalletBalance", *bal)
                        .str("crossUnPnl", "0")
                        .dec("availableBalance", desk.account.perp_available(asset))
                        .dec("maxWithdrawAmount", desk.account.perp_available(asset))
                        .num("marginAvailable", true)
                        .num("updateTime", now)
                        .build()
                });
                array(rows.collect::<Vec<_>>())
            }
            Kind::SpotAccount => {
                let balances = desk.account.spot.keys().map(|asset| {
                    Obj::new()
                        .str("asset", asset)
                        .dec_dp("free", desk.account.free(Wallet::Spot, asset), 8)
                        .dec_dp("locked", desk.account.locked(Wallet::Spot, asset), 8)
                        .build()
                });
                let rates = desk.account.fee_rates(SPOT);
                let bps = |r: Decimal| (r * Decimal::from(10_000)).round().normalize();
                Obj::new()
                    .num("makerCommission", bps(rates.maker))
                    .num("takerCommission", bps(rates.taker))
                    .num("buyerCommission", 0)
                    .num("sellerCommission", 0)
                    .raw(
                        "commissionRates",
                        &Obj::new()
                            .dec_dp("maker", rates.maker, 8)
                            .dec_dp("taker", rates.taker, 8)
                            .str("buyer", "0.00000000")
                            .str("seller", "0.00000000")
                            .build(),
                    )
                    .num("canTrade", true)
                    .num("canWithdraw", true)
                    .num("canDeposit", true)
                    .num("brokered", false)
                    .num("requireSelfTradePrevention", false)
                    .num("preventSor", false)
                    .num("updateTime", now)
                    .str("accountType", "SPOT")
                    .raw("balances", &array(balances.collect::<Vec<_>>()))
                    .raw("permissions", "[\"SPOT\"]")
                    .num("uid", 354_937_868)
                    .build()
            }
            Kind::MarginAccount => {
                let m = &desk.account.margin;
                let assets: Vec<String> = m
                    .assets
                    .keys()
                    .chain(m.borrowed.keys())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|asset| {
                        let total = m.assets.get(asset).copied().unwrap_or_default();
                        let borrowed = m.borrowed.get(asset).copied().unwrap_or_default();
                        let locked = desk.account.locked(Wallet::Margin, asset);
                        Obj::new()
                            .str("asset", asset)
                            .dec_dp("borrowed", borrowed, 8)
                            .dec_dp("free", total - locked, 8)
                            .dec_dp("interest", Decimal::ZERO, 8)
                            .dec_dp("locked", locked, 8)
                            .dec_dp("netAsset", total - borrowed, 8)
                            .build()
                    })
                    .collect();
                Obj::new()
                    .num("borrowEnabled", true)
                    .str("marginLevel", "999.00000000")
                    .num("tradeEnabled", true)
                    .num("transferEnabled", true)
                    .raw("userAssets", &array(assets))
                    .build()
            }
            Kind::PositionModeGet => Obj::new()
                .num("dualSidePosition", desk.account.perp.hedge)
                .build(),
            Kind::PositionModeSet => {
                let hedge = match p.required("dualSidePosition")? {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(error(
                            400,
                            -1100,
                            "Illegal characters found in parameter 'dualSidePosition'.",
                        ))
                    }
                };
                if hedge == desk.account.perp.hedge {
                    return Err(error(400, -4059, "No need to change position side."));
                }
                if desk.account.has_exposure() {
                    return Err(error(
                        400,
                        -4068,
                        "Position side cannot be changed if there exists position.",
                    ));
                }
                desk.account.set_hedge(PERP, hedge, now);
                ok_200()
            }
            Kind::Leverage => {
                let instrument = symbol(call, shared)?;
                let lev: u32 = p
                    .required("leverage")?
                    .parse()
                    .ok()
                    .filter(|l| (1..=125).contains(l))
                    .ok_or_else(|| {
                        error(
                            400,
                            -4028,
                            &format!("Leverage {} is not valid", p.get("leverage").unwrap_or("")),
                        )
                    })?;
                let sym = shared
                    .listing
                    .get(instrument, PERP)
                    .map(|l| l.symbol.clone())
                    .unwrap_or_default();
                desk.account.set_leverage(PERP, instrument, lev, now);
                Obj::new()
                    .num("leverage", lev)
                    .str("maxNotionalValue", "1000000")
                    .str("symbol", &sym)
                    .build()
            }
            Kind::MarginType => {
                let instrument = symbol(call, shared)?;
                let isolated = match p.required("marginType")? {
                    "ISOLATED" => true,
                    "CROSSED" => false,
                    _ => return Err(error(400, -4044, "The marginType is not valid.")),
                };
                if desk.account.perp.isolated.contains(&instrument) == isolated {
                    return Err(error(400, -4046, "No need to change margin type."));
                }
                desk.account
                    .set_margin_mode(PERP, instrument, isolated, now);
                ok_200()
            }
            Kind::Income => income(call, shared, desk, now)?,
            Kind::CommissionRate => {
                let instrument = symbol(call, shared)?;
                let sym = shared
                    .listing
                    .get(instrument, call.venue)
                    .map(|l| l.symbol.clone())
                    .unwrap_or_default();
                let rates = desk.account.fee_rates(call.venue);
                if call.venue.is_perp() {
                    Obj::new()
                        .str("symbol", &sym)
                        .dec("makerCommissionRate", rates.maker)
                        .dec("takerCommissionRate", rates.taker)
                        .str("rpiCommissionRate", "0")
                        .build()
                } else {
                    let standard = Obj::new()
                        .dec_dp("maker", rates.maker, 8)
                        .dec_dp("taker", rates.taker, 8)
                        .dec_dp("buyer", Decimal::ZERO, 8)
                        .dec_dp("seller", Decimal::ZERO, 8)
                        .build();
                    let zero = Obj::new()
                        .dec_dp("maker", Decimal::ZERO, 8)
                        .dec_dp("taker", Decimal::ZERO, 8)
                        .dec_dp("buyer", Decimal::ZERO, 8)
                        .dec_dp("seller", Decimal::ZERO, 8)
                        .build();
                    Obj::new()
                        .str("symbol", &sym)
                        .raw("standardCommission", &standard)
                        .raw("specialCommission", &zero)
                        .raw("taxCommission", &zero)
                        .raw(
                            "discount",
                            &Obj::new()
                                .num("enabledForAccount", false)
                                .num("enabledForSymbol", false)
                                .str("discountAsset", "BNB")
                                .str("discount", "0.75000000")
                                .build(),
                        )
                        .build()
                }
            }
            Kind::LeverageBracket => {
                let only = match p.get("symbol") {
                    Some(_) => Some(symbol(call, shared)?),
                    None => None,
                };
                let mut rows: Vec<String> = (0..shared.listing.instruments().len())
                    .filter(|i| only.is_none_or(|o| o == *i))
                    .filter_map(|i| shared.listing.get(i, PERP))
                    .map(|l| leverage_bracket(&l.symbol))
                    .collect();
                match only {
                    // With a symbol the venue answers the one object.
                    Some(_) => rows.pop().unwrap_or_default(),
                    None => array(rows),
                }
            }
            Kind::Place | Kind::Cancel => unreachable!("order requests are routed before"),
        })
    };
    match run() {
        Ok(body) => (200, body),
        Err(e) => e,
    }
}

/// `GET /fapi/v1/income`: the funding ledger (`incomeType=FUNDING_FEE`, or none), oldest first,
/// `income` signed from the account's side (positive: received). Without `startTime` and
/// `endTime` the last 7 days; `limit` 100 by default, at most 1000.
fn income(
    call: &Call,
    shared: &Shared,
    desk: &Desk<'_>,
    now: i64,
) -> Result<String, (u16, String)> {
    let p = &call.params;
    let only = match p.get("symbol") {
        Some(_) => Some(symbol(call, shared)?),
        None => None,
    };
    let time = |k: &str| p.get(k).and_then(|v| v.parse::<i64>().ok());
    let (start, end) = match (time("startTime"), time("endTime")) {
        (None, None) => (now - 7 * 86_400_000, now),
        (s, e) => (s.unwrap_or(0), e.unwrap_or(now)),
    };
    let limit = p
        .get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let wanted = match p.get("incomeType") {
        None | Some("FUNDING_FEE") => true,
        Some(_) => false,
    };
    let symbol_of = |i: usize| shared.listing.get(i, PERP).map(|l| l.symbol.as_str());
    let rows: Vec<String> = desk
        .account
        .funding_ledger()
        .iter()
        .filter(|f| wanted && (start..=end).contains(&f.time_ms))
        .filter(|f| only.is_none_or(|i| symbol_of(i) == Some(f.symbol.as_str())))
        .take(limit)
        .map(|f| {
            Obj::new()
                .str("symbol", &f.symbol)
                .str("incomeType", "FUNDING_FEE")
                .dec_dp("income", f.amount, 8)
                .str("asset", &f.asset)
                .str("info", "FUNDING_FEE")
                .num("time", f.time_ms)
                .num("tranId", f.id)
                .str("tradeId", "")
                .build()
        })
        .collect();
    Ok(array(rows))
}

/// One symbol's leverage brackets (the simulator's risk tiers, in Binance's shape: numbers as
/// JSON numbers).
fn leverage_bracket(symbol: &str) -> String {
    let brackets: Vec<String> = crate::sim::risk::tiers()
        .iter()
        .map(|t| {
            Obj::new()
                .num("bracket", t.number)
                .num("initialLeverage", t.max_leverage)
                .num("notionalCap", t.cap.normalize())
                .num("notionalFloor", t.floor.normalize())
                .num("maintMarginRatio", t.mmr.normalize())
                .num("cum", t.cum.normalize())
                .build()
        })
        .collect();
    Obj::new()
        .str("symbol", symbol)
        .num("notionalCoef", "1.0")
        .raw("brackets", &array(brackets))
        .build()
}

fn ok_200() -> String {
    Obj::new().num("code", 200).str("msg", "success").build()
}

fn position_risk(
    shared: &Shared,
    desk: &Desk<'_>,
    only: Option<usize>,
    v2: bool,
    now: i64,
) -> String {
    let perp = &desk.account.perp;
    let rows = perp
        .positions
        .iter()
        .filter(|(&i, p)| only.is_none_or(|o| o == i) && (v2 || !p.qty.is_zero()))
        .filter_map(|(&i, p)| {
            let l = shared.listing.get(i, PERP)?;
            let r = desk.account.position_risk(i, &desk.tick)?;
            let lev = perp.leverage(i);
            let quote = &shared.listing.instruments()[i].quote;
            let isolated = perp.isolated.contains(&i);
            let (iso_margin, iso_wallet) = if isolated {
                (r.initial_margin + r.upnl, r.initial_margin)
            } else {
                (Decimal::ZERO, Decimal::ZERO)
            };
            let mut o = Obj::new()
                .str("symbol", &l.symbol)
                .str("positionSide", "BOTH")
                .dec("positionAmt", p.qty)
                .dec("entryPrice", p.entry)
                .dec("breakEvenPrice", p.entry)
                .dec("markPrice", r.mark)
                .dec("unRealizedProfit", r.upnl)
                .dec("liquidationPrice", r.liq_price.unwrap_or_default())
                .dec("isolatedMargin", iso_margin)
                .dec("notional", r.notional)
                .str("marginAsset", quote)
                .dec("isolatedWallet", iso_wallet)
                .dec("initialMargin", r.initial_margin)
                .dec("maintMargin", r.maint_margin)
                .dec("positionInitialMargin", r.initial_margin)
                .str("openOrderInitialMargin", "0")
                .num("adl", 0)
                .str("bidNotional", "0")
                .str("askNotional", "0")
                .num("updateTime", now);
            if v2 {
                o = o.str("leverage", &lev.to_string()).str(
                    "marginType",
                    if perp.isolated.contains(&i) {
                        "isolated"
                    } else {
                        "cross"
                    },
                );
            }
            Some(o.build())
        });
    array(rows.collect::<Vec<_>>())
}

fn status(o: &SimOrder, ack: bool) -> &'static str {
    if ack {
        return "NEW";
    }
    order_status(o.rec.finish, o.filled)
}

/// Binance's order status for how far an order got.
pub(crate) fn order_status(finish: Option<Finish>, filled: Decimal) -> &'static str {
    match finish {
        None if filled.is_zero() => "NEW",
        None => "PARTIALLY_FILLED",
        Some(Finish::Filled) => "FILLED",
        Some(Finish::Canceled | Finish::DeadMan) => "CANCELED",
        Some(Finish::Expired | Finish::PostOnlyCanceled) => "EXPIRED",
    }
}

fn tif_name(o: &SimOrder) -> &'static str {
    tif_of(o.rec.venue, o.rec.tif)
}

/// Binance's `timeInForce` (futures post-only is `GTX`; spot's is the `LIMIT_MAKER` type).
pub(crate) fn tif_of(venue: Venue, tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
        TimeInForce::PostOnly if venue.is_perp() => "GTX",
        TimeInForce::PostOnly => "GTC",
    }
}

pub(crate) fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// A futures order object: the place answer (`ack`: as accepted), the cancel answer, and
/// (`with_time`) the query and open-orders rows.
fn futures_order(o: &SimOrder, ack: bool, with_time: bool) -> String {
    let (filled, value) = if ack {
        (Decimal::ZERO, Decimal::ZERO)
    } else {
        (o.filled, o.filled_quote())
    };
    let avg = if ack { None } else { o.avg_price() };
    let mut obj = Obj::new()
        .num("orderId", o.rec.order_id)
        .str("symbol", &o.rec.symbol)
        .str("status", status(o, ack))
        .str("clientOrderId", &o.rec.client_id)
        .dec("price", o.rec.price)
        .str(
            "avgPrice",
            &avg.map_or("0.00".to_string(), |a| a.to_string()),
        )
        .dec("origQty", o.rec.qty)
        .dec("executedQty", filled)
        .dec("cumQty", filled)
        .dec("cumQuote", value)
        .str("timeInForce", tif_name(o))
        .str("type", "LIMIT")
        .num("reduceOnly", o.rec.reduce_only)
        .num("closePosition", false)
        .str("side", side_name(o.rec.side))
        .str("positionSide", "BOTH")
        .str("stopPrice", "0")
        .str("workingType", "CONTRACT_PRICE")
        .num("priceProtect", false)
        .str("origType", "LIMIT")
        .str("priceMatch", "NONE")
        .str("selfTradePreventionMode", &o.rec.stp)
        .num("goodTillDate", 0);
    if with_time {
        obj = obj.num("time", o.rec.time_ms);
    }
    obj.num("updateTime", if ack { o.rec.time_ms } else { o.updated_ms })
        .build()
}

fn spot_type(o: &SimOrder) -> &'static str {
    if o.rec.tif == TimeInForce::PostOnly {
        "LIMIT_MAKER"
    } else {
        "LIMIT"
    }
}

fn d8(obj: Obj, key: &str, v: Decimal) -> Obj {
    obj.dec_dp(key, v, 8)
}

fn spot_new_order(o: &SimOrder, ack: bool, full: bool) -> String {
    let head = Obj::new()
        .str("symbol", &o.rec.symbol)
        .num("orderId", o.rec.order_id)
        .num("orderListId", -1)
        .str("clientOrderId", &o.rec.client_id)
        .num("transactTime", o.rec.time_ms);
    if ack {
        return head.build();
    }
    let mut obj = d8(head, "price", o.rec.price);
    obj = d8(obj, "origQty", o.rec.qty);
    obj = d8(obj, "executedQty", o.filled);
    obj = d8(obj, "origQuoteOrderQty", Decimal::ZERO);
    obj = d8(obj, "cummulativeQuoteQty", o.filled_quote());
    obj = obj
        .str("status", status(o, false))
        .str("timeInForce", tif_name(o))
        .str("type", spot_type(o))
        .str("side", side_name(o.rec.side))
        .num("workingTime", o.rec.time_ms)
        .str("selfTradePreventionMode", &o.rec.stp);
    if o.rec.wallet == Wallet::Margin {
        obj = obj.num("isIsolated", false);
    }
    if full {
        let fills = o.rec.fills.iter().map(|f| {
            let row = d8(Obj::new(), "price", f.price);
            let row = d8(row, "qty", f.qty);
            d8(row, "commission", f.fee)
                .str("commissionAsset", &f.fee_asset)
                .num("tradeId", f.trade_id)
                .build()
        });
        obj = obj.raw("fills", &array(fills.collect::<Vec<_>>()));
    }
    obj.build()
}

fn spot_order(o: &SimOrder) -> String {
    let obj = Obj::new()
        .str("symbol", &o.rec.symbol)
        .num("orderId", o.rec.order_id)
        .num("orderListId", -1)
        .str("clientOrderId", &o.rec.client_id);
    let obj = d8(obj, "price", o.rec.price);
    let obj = d8(obj, "origQty", o.rec.qty);
    let obj = d8(obj, "executedQty", o.filled);
    let obj = d8(obj, "cummulativeQuoteQty", o.filled_quote());
    let obj = obj
        .str("status", status(o, false))
        .str("timeInForce", tif_name(o))
        .str("type", spot_type(o))
        .str("side", side_name(o.rec.side));
    let obj = d8(obj, "stopPrice", Decimal::ZERO);
    let obj = d8(obj, "icebergQty", Decimal::ZERO);
    let obj = obj
        .num("time", o.rec.time_ms)
        .num("updateTime", o.updated_ms)
        .num("isWorking", true)
        .num("workingTime", o.rec.time_ms);
    let obj = d8(obj, "origQuoteOrderQty", Decimal::ZERO);
    let mut obj = obj.str("selfTradePreventionMode", &o.rec.stp);
    if o.rec.wallet == Wallet::Margin {
        obj = obj.num("isIsolated", false);
    }
    obj.build()
}

fn spot_cancel(o: &SimOrder, cancel_id: &str, now: i64) -> String {
    let obj = Obj::new()
        .str("symbol", &o.rec.symbol)
        .str("origClientOrderId", &o.rec.client_id)
        .num("orderId", o.rec.order_id)
        .num("orderListId", -1)
        .str("clientOrderId", cancel_id)
        .num("transactTime", now);
    let obj = d8(obj, "price", o.rec.price);
    let obj = d8(obj, "origQty", o.rec.qty);
    let obj = d8(obj, "executedQty", o.filled);
    let obj = d8(obj, "cummulativeQuoteQty", o.filled_quote());
    obj.str("status", status(o, false))
        .str("timeInForce", tif_name(o))
        .str("type", spot_type(o))
        .str("side", side_name(o.rec.side))
        .str("selfTradePreventionMode", &o.rec.stp)
        .build()
}

fn trade_row(venue: Venue, o: &SimOrder, f: &crate::sim::record::Fill) -> String {
    let quote_qty = f.qty * o.contract_size * f.price;
    if venue.is_perp() {
        Obj::new()
            .num("buyer", o.rec.side.is_buy())
            .dec("commission", f.fee)
            .str("commissionAsset", &f.fee_asset)
            .num("id", f.trade_id)
            .num("maker", f.maker)
            .num("orderId", o.rec.order_id)
            .dec("price", f.price)
            .dec("qty", f.qty)
            .dec("quoteQty", quote_qty)
            .str("realizedPnl", "0")
            .str("side", side_name(o.rec.side))
            .str("positionSide", "BOTH")
            .str("symbol", &o.rec.symbol)
            .num("time", f.time_ms)
            .build()
    } else {
        let obj = Obj::new()
            .str("symbol", &o.rec.symbol)
            .num("id", f.trade_id)
            .num("orderId", o.rec.order_id)
            .num("orderListId", -1);
        let obj = d8(obj, "price", f.price);
        let obj = d8(obj, "qty", f.qty);
        let obj = d8(obj, "quoteQty", quote_qty);
        let obj = d8(obj, "commission", f.fee);
        obj.str("commissionAsset", &f.fee_asset)
            .num("time", f.time_ms)
            .num("isBuyer", o.rec.side.is_buy())
            .num("isMaker", f.maker)
            .num("isBestMatch", true)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `PRIVATE.md` §6.1 and §6.3: every published Binance REST vector.
    #[test]
    fn published_rest_vectors() {
        let spot_secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let cases = [
            (
                spot_secret,
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
                "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
            ),
            (
                spot_secret,
                "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
                "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3",
            ),
            (
                spot_secret,
                "timestamp=1578963600000",
                "d84e6641b1e328e7b418fff030caed655c266299c9355e36ce801ed14631eed4",
            ),
            (
                "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9",
                "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943",
                "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9",
            ),
            // F2 as printed, with the stray space; the doc's example 3 splits the same
            // parameters between query and body.
            (
                "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9",
                "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=9000&recvWindow=5000&timestamp= 1591702613943",
                "f9d0ae5e813ef6ccf15c2b5a434047a0181cb5a342b903b367ca6d27a66e36f2",
            ),
        ];
        for (secret, payload, want) in cases {
            assert_eq!(sign(secret, payload), want, "{payload}");
        }
    }

    /// `PRIVATE.md` §6.2: the WebSocket API signs sorted `k=v&...` with the same HMAC; the
    /// simulator has no WebSocket API yet, but the primitive must agree with every vector.
    #[test]
    fn published_websocket_api_vectors() {
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
        let cases = [
            (
                format!("apiKey={key}&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"),
                "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24",
            ),
            (
                format!("apiKey={key}&price=0.10000000&quantity=1.00000000&recvWindow=5000&side=BUY&symbol=１２３４５６&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"),
                "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd",
            ),
            (
                format!("apiKey={key}&timestamp=1649729878532"),
                "1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed",
            ),
            (
                format!("apiKey={key}&price=23416.10000000&quantity=0.00847000&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1660801715431&type=LIMIT"),
                "15af09e41c36f3cc61378c2fbe2c33719a03dd5eba8d0f9206fbda44de717c88",
            ),
            (
                format!("apiKey={key}&origClientOrderId=4d96324ff9d44481926157&symbol=BTCUSDT&timestamp=1660801715830"),
                "33d5b721f278ae17a52f004a82a6f68a70c68e7dd6776ed0be77a455ab855282",
            ),
            (
                format!("apiKey={key}&cancelOrigClientOrderId=4d96324ff9d44481926157&cancelReplaceMode=ALLOW_FAILURE&price=23416.10000000&quantity=0.00847000&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1660813156900&type=LIMIT"),
                "7028fdc187868754d25e42c37ccfa5ba2bab1d180ad55d4c3a7e2de643943dc5",
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(sign(secret, &payload), want, "{payload}");
        }
    }

    #[test]
    fn the_signed_payload_is_query_then_body_without_the_signature() {
        assert_eq!(
            signed_payload("symbol=BTCUSDT&timestamp=1&signature=ab", ""),
            (
                "symbol=BTCUSDT&timestamp=1".to_string(),
                Some("ab".to_string())
            )
        );
        // Futures example 3: part in the query, part in the body, no separator.
        assert_eq!(
            signed_payload(
                "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC",
                "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943&signature=cd"
            ),
            (
                "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=9000&recvWindow=5000&timestamp=1591702613943".to_string(),
                Some("cd".to_string())
            )
        );
        assert_eq!(
            signed_payload("timestamp=1", ""),
            ("timestamp=1".to_string(), None)
        );
    }

    #[test]
    fn client_ids_follow_each_market_rule() {
        assert!(valid_client_id(PERP, "carry.1:a/b_c-d"));
        assert!(!valid_client_id(SPOT, "carry.1"));
        assert!(valid_client_id(SPOT, "carry_1-A"));
        assert!(valid_client_id(SPOT, &"a".repeat(36)));
        assert!(!valid_client_id(SPOT, &"a".repeat(37)));
        assert!(!valid_client_id(PERP, ""));
        assert!(!valid_client_id(PERP, "a b"));
    }

    #[test]
    fn usage_header_suffixes() {
        use std::time::Duration;
        let l = |s| RateLimit::new(1, Duration::from_secs(s));
        assert_eq!(interval_suffix(l(10)), "10S");
        assert_eq!(interval_suffix(l(60)), "1M");
        assert_eq!(interval_suffix(l(86_400)), "1D");
        assert_eq!(interval_name(l(10)), "TEN_SECONDS");
        assert_eq!(interval_name(l(60)), "MINUTE");
    }
}

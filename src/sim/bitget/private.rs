//! Bitget v2's signed endpoints as the simulator serves them: USDT-FUTURES (`/api/v2/mix`),
//! spot (`/api/v2/spot`) and cross margin (`/api/v2/margin/crossed`), from `PRIVATE.md` §4 and
//! `NOTES.md` §4.5.
//!
//! Auth: `ACCESS-KEY`, `ACCESS-PASSPHRASE`, `ACCESS-TIMESTAMP` (ms) and `ACCESS-SIGN`, the
//! base64 HMAC-SHA256 of `timestamp + METHOD + path + ("?" + query, as sent) + body`, within
//! 30 s of the server either way. Errors are HTTP 400 `{"code":"40009","msg":"sign signature
//! error",...}`, 40008 (timestamp), 40012 (key or passphrase), 40001/40011/40003/40005 for
//! missing or malformed headers.
//!
//! Orders: `orderType=limit`, `force` `gtc`/`ioc`/`fok`/`post_only` (a crossing post-only order
//! is accepted and cancelled: Bitget's behaviour there is unconfirmed), futures `reduceOnly=YES`
//! in one-way mode and `tradeSide` only in hedge mode, `stpMode`; margin `loanType`. `clientOid`
//! is at most 50 printable ASCII characters; a reuse within six hours is refused (40786 futures,
//! 43118 spot, 45034 margin: Bitget's idempotency window), on margin only while the earlier
//! order has executed nothing (`margin/cross/trade/Cross-Place-Order`: "The idempotency time is
//! 6 hours, only valid when orders are unfilled"). Unknown orders are 43001. Sizes are base
//! units everywhere.
//!
//! Limits: 10 place and 10 cancel requests per second per account on each market: HTTP 429,
//! with the remaining count in `x-mbx-used-remain-limit` (Bitget's FAQ name).

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

use super::envelope;
use crate::sim::account::{
    CancelRefusal, Duplicates, NewOrder, OrderKey, PostOnlyCross, Refusal, SimOrder,
};
use crate::sim::auth::{hmac_sha256_base64, same_signature};
use crate::sim::http::{Reply, RestRequest};
use crate::sim::record::{Finish, Side, TimeInForce, Wallet};
use crate::sim::rules::{self, OrderRules, RuleBreak};
use crate::sim::wire::{array, Obj, Params};
use crate::sim::{Desk, Shared};

const PERP: Venue = Venue::new(Exchange::Bitget, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Bitget, Market::Spot);
const MAX_SKEW_MS: i64 = 30_000;
/// Bitget remembers a `clientOid` for six hours.
const CLIENT_OID_KEPT_MS: i64 = 6 * 3_600_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Place,
    Cancel,
    Detail,
    Pending,
    Fills,
    Positions,
    Accounts,
    AccountOne,
    SetLeverage,
    SetMarginMode,
    SetPositionMode,
    SpotAssets,
    MarginAssets,
    Bill,
    TradeRate,
}

fn endpoint(method: &str, path: &str) -> Option<(Venue, Wallet, Kind)> {
    use Kind::*;
    let (m, w) = (PERP, Wallet::Perp);
    let (s, sw) = (SPOT, Wallet::Spot);
    let mw = Wallet::Margin;
    Some(match (method, path) {
        ("POST", "/api/v2/mix/order/place-order") => (m, w, Place),
        ("POST", "/api/v2/mix/order/cancel-order") => (m, w, Cancel),
        ("GET", "/api/v2/mix/order/detail") => (m, w, Detail),
        ("GET", "/api/v2/mix/order/orders-pending") => (m, w, Pending),
        ("GET", "/api/v2/mix/order/fills") => (m, w, Fills),
        ("GET", "/api/v2/mix/position/all-position") => (m, w, Positions),
        ("GET", "/api/v2/mix/account/accounts") => (m, w, Accounts),
        ("GET", "/api/v2/mix/account/account") => (m, w, AccountOne),
        ("POST", "/api/v2/mix/account/set-leverage") => (m, w, SetLeverage),
        ("POST", "/api/v2/mix/account/set-margin-mode") => (m, w, SetMarginMode),
        ("POST", "/api/v2/mix/account/set-position-mode") => (m, w, SetPositionMode),
        ("GET", "/api/v2/mix/account/bill") => (m, w, Bill),
        ("GET", "/api/v2/common/trade-rate") => (m, w, TradeRate),
        ("POST", "/api/v2/spot/trade/place-order") => (s, sw, Place),
        ("POST", "/api/v2/spot/trade/cancel-order") => (s, sw, Cancel),
        ("GET", "/api/v2/spot/trade/orderInfo") => (s, sw, Detail),
        ("GET", "/api/v2/spot/trade/unfilled-orders") => (s, sw, Pending),
        ("GET", "/api/v2/spot/trade/fills") => (s, sw, Fills),
        ("GET", "/api/v2/spot/account/assets") => (s, sw, SpotAssets),
        ("POST", "/api/v2/margin/crossed/place-order") => (s, mw, Place),
        ("POST", "/api/v2/margin/crossed/cancel-order") => (s, mw, Cancel),
        ("GET", "/api/v2/margin/crossed/history-orders") => (s, mw, Detail),
        ("GET", "/api/v2/margin/crossed/open-orders") => (s, mw, Pending),
        ("GET", "/api/v2/margin/crossed/fills") => (s, mw, Fills),
        ("GET", "/api/v2/margin/crossed/account/assets") => (s, mw, MarginAssets),
        _ => return None,
    })
}

/// The string Bitget signs.
pub(crate) fn prehash(ts: &str, method: &str, path: &str, query: &str, body: &str) -> String {
    if query.is_empty() {
        format!("{ts}{method}{path}{body}")
    } else {
        format!("{ts}{method}{path}?{query}{body}")
    }
}

pub(crate) fn sign(secret: &str, prehash: &str) -> String {
    hmac_sha256_base64(secret, prehash.as_bytes())
}

/// Every Bitget error: HTTP 400 (429 for limits) with the envelope and `data: null`.
fn fail(code: &str, msg: &str, now: i64) -> (u16, String) {
    let status = if code == "429" { 429 } else { 400 };
    (status, envelope(code, msg, "null", now))
}

fn authenticate(req: &RestRequest, shared: &Shared, now: i64) -> Result<(), (u16, String)> {
    let creds = shared.credentials.of(Exchange::Bitget);
    let header = |name: &str| req.header(name).filter(|v| !v.is_empty());
    let key =
        header("access-key").ok_or_else(|| fail("40001", "ACCESS_KEY cannot be empty", now))?;
    let passphrase = header("access-passphrase")
        .ok_or_else(|| fail("40011", "ACCESS_PASSPHRASE cannot be empty", now))?;
    let sent =
        header("access-sign").ok_or_else(|| fail("40003", "Signature cannot be empty", now))?;
    let ts_raw =
        header("access-timestamp").ok_or_else(|| fail("40005", "Invalid ACCESS_TIMESTAMP", now))?;
    let ts: i64 = ts_raw
        .parse()
        .map_err(|_| fail("40005", "Invalid ACCESS_TIMESTAMP", now))?;
    if (now - ts).abs() > MAX_SKEW_MS {
        return Err(fail("40008", "Request timestamp expired", now));
    }
    if key != creds.api_key || passphrase != creds.passphrase {
        return Err(fail("40012", "apikey/password is incorrect", now));
    }
    let pre = prehash(ts_raw, &req.method, &req.path, &req.raw_query, &req.body);
    if !same_signature(&sign(&creds.secret, &pre), sent, false) {
        return Err(fail("40009", "sign signature error", now));
    }
    Ok(())
}

/// A parameter the request must carry, or Bitget's answer to its absence.
trait Required {
    fn required(&self, key: &str, now: i64) -> Result<String, (u16, String)>;
}

impl Required for Params {
    fn required(&self, key: &str, now: i64) -> Result<String, (u16, String)> {
        self.get(key)
            .ok_or_else(|| fail("40019", &format!("Parameter {key} cannot be empty"), now))
    }
}

/// Serves Bitget's private endpoints.
pub(crate) fn rest(req: &RestRequest, shared: &Shared) -> Option<Reply> {
    let (venue, wallet, kind) = endpoint(&req.method, &req.path)?;
    if !shared.listing.carries(venue) {
        return None;
    }
    let now = shared.venue_now_ms(Exchange::Bitget);
    let to_reply = |(status, body): (u16, String)| Reply::new(venue, status, body);
    if let Err(e) = authenticate(req, shared, now) {
        return Some(to_reply(e));
    }
    let json = if req.method == "POST" {
        match serde_json::from_str::<Value>(&req.body) {
            Ok(v) if v.is_object() => v,
            _ => {
                return Some(to_reply(fail(
                    "40017",
                    "Parameter verification failed",
                    now,
                )))
            }
        }
    } else {
        Value::Null
    };
    let p = Params::new(json, req.query.clone());
    if venue.is_perp()
        && !matches!(kind, Kind::Positions | Kind::Accounts | Kind::TradeRate)
        && !p
            .get("productType")
            .is_some_and(|t| t.eq_ignore_ascii_case("USDT-FUTURES"))
    {
        return Some(to_reply(fail(
            "40034",
            "Parameter productType does not exist",
            now,
        )));
    }
    let mut desk = shared.desk(Exchange::Bitget)?;
    let now = desk.now_ms;
    let mut headers = Vec::new();
    if matches!(kind, Kind::Place | Kind::Cancel) {
        let key = format!(
            "{}-{}",
            if kind == Kind::Place {
                "place"
            } else {
                "cancel"
            },
            venue.market.as_str()
        );
        match desk
            .account
            .counters
            .take(&[(&key, shared.limits.bitget_orders)], now)
        {
            Ok(u) => headers.push(("x-mbx-used-remain-limit", u[0].remaining().to_string())),
            Err(_) => {
                return Some(
                    to_reply(fail("429", "Too Many Requests", now))
                        .with_headers(vec![("x-mbx-used-remain-limit", "0".to_string())]),
                )
            }
        }
    }
    let server_error = || {
        (
            500,
            envelope(
                "40015",
                "System is abnormal, please try again later",
                "null",
                now,
            ),
        )
    };
    let flat = |r: Result<(u16, String), (u16, String)>| match r {
        Ok(x) | Err(x) => x,
    };
    let call = Call {
        venue,
        wallet,
        params: p,
    };
    let reply = match kind {
        Kind::Place => shared.order_request(venue, server_error, || {
            to_reply(flat(place(&call, shared, &mut desk)))
        }),
        Kind::Cancel => shared.order_request(venue, server_error, || {
            to_reply(flat(cancel(&call, shared, &mut desk)))
        }),
        _ => to_reply(flat(read_or_set(kind, &call, shared, &mut desk))),
    };
    Some(reply.with_headers(headers))
}

struct Call {
    venue: Venue,
    wallet: Wallet,
    params: Params,
}

/// `GET /api/v2/mix/account/bill`: the funding ledger (`businessType=contract_settle_fee`, or
/// none), newest first; `amount` signed from the account's side (the docs' example is
/// `-0.004992`, paid). Paged by `idLessThan`, `limit` 100 at most (default 20); `endId` is the
/// last row's id.
fn bill(p: &Params, desk: &Desk<'_>, now: i64) -> Result<(u16, String), (u16, String)> {
    let wanted = p
        .get("businessType")
        .is_none_or(|b| b == "contract_settle_fee");
    let below = p.get("idLessThan").and_then(|v| v.parse::<u64>().ok());
    let limit = p
        .get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let time = |k: &str| p.get(k).and_then(|v| v.parse::<i64>().ok());
    let (start, end) = (
        time("startTime").unwrap_or(now - 90 * 86_400_000),
        time("endTime").unwrap_or(now),
    );
    let rows: Vec<&crate::sim::record::FundingPayment> = desk
        .account
        .funding_ledger()
        .iter()
        .rev()
        .filter(|f| wanted && (start..=end).contains(&f.time_ms))
        .filter(|f| p.get("symbol").is_none_or(|s| s == f.symbol))
        .filter(|f| {
            p.get("coin")
                .is_none_or(|c| c.eq_ignore_ascii_case(&f.asset))
        })
        .filter(|f| below.is_none_or(|b| f.id < b))
        .take(limit)
        .collect();
    let end_id = rows.last().map_or(String::new(), |f| f.id.to_string());
    let bills: Vec<String> = rows
        .iter()
        .map(|f| {
            Obj::new()
                .str("billId", &f.id.to_string())
                .str("symbol", &f.symbol)
                .dec("amount", f.amount)
                .str("fee", "0")
                .str("feeByCoupon", "")
                .str("businessType", "contract_settle_fee")
                .str("coin", &f.asset)
                .dec("balance", f.balance)
                .str("cTime", &f.time_ms.to_string())
                .build()
        })
        .collect();
    Ok(ok(
        Obj::new()
            .raw("bills", &array(bills))
            .str("endId", &end_id)
            .build(),
        now,
    ))
}

/// A `clientOid` Bitget accepts: 1 to 50 printable ASCII characters.
pub(crate) fn valid_client_oid(id: &str) -> bool {
    (1..=50).contains(&id.len()) && id.bytes().all(|c| c.is_ascii_graphic())
}

fn instrument(call: &Call, shared: &Shared, now: i64) -> Result<usize, (u16, String)> {
    let s = call.params.required("symbol", now)?;
    shared
        .listing
        .find(call.venue, &s)
        .ok_or_else(|| fail("40034", "Parameter symbol does not exist", now))
}

fn ok(data: String, now: i64) -> (u16, String) {
    (200, envelope("00000", "success", &data, now))
}

fn ids(o: &SimOrder) -> String {
    Obj::new()
        .str("orderId", &o.rec.order_id.to_string())
        .str("clientOid", &o.rec.client_id)
        .build()
}

fn place(
    call: &Call,
    shared: &Shared,
    desk: &mut Desk<'_>,
) -> Result<(u16, String), (u16, String)> {
    let now = desk.now_ms;
    let p = &call.params;
    let venue = call.venue;
    let instrument = instrument(call, shared, now)?;
    let side = match p.required("side", now)?.as_str() {
        "buy" => Side::Buy,
        "sell" => Side::Sell,
        _ => return Err(fail("40017", "Parameter verification failed: side", now)),
    };
    if p.required("orderType", now)? != "limit" {
        return Err(fail(
            "40017",
            "Parameter verification failed: the simulated venue takes limit orders only",
            now,
        ));
    }
    let tif = match p.get("force").as_deref().unwrap_or("gtc") {
        "gtc" => TimeInForce::Gtc,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        "post_only" => TimeInForce::PostOnly,
        _ => return Err(fail("40017", "Parameter verification failed: force", now)),
    };
    let size_key = if call.wallet == Wallet::Margin {
        "baseSize"
    } else {
        "size"
    };
    let size_raw = p.required(size_key, now)?;
    let size = p.decimal(size_key).ok_or_else(|| {
        fail(
            "40017",
            &format!("Parameter verification failed: {size_key}"),
            now,
        )
    })?;
    p.required("price", now)?;
    let price = p
        .decimal("price")
        .ok_or_else(|| fail("40017", "Parameter verification failed: price", now))?;
    let client_id = match p.get("clientOid") {
        Some(id) if valid_client_oid(&id) => id,
        Some(_) => {
            return Err(fail(
                "40305",
                "Client_oid length is not greater than 50, and cannot be Martian characters",
                now,
            ))
        }
        None => String::new(),
    };
    let mut reduce_only = false;
    if venue.is_perp() {
        if !p
            .required("marginCoin", now)?
            .eq_ignore_ascii_case(&shared.listing.instruments()[instrument].quote)
        {
            return Err(fail("40034", "Parameter marginCoin does not exist", now));
        }
        match p.required("marginMode", now)?.as_str() {
            "crossed" | "isolated" => {}
            _ => {
                return Err(fail(
                    "40017",
                    "Parameter verification failed: marginMode",
                    now,
                ))
            }
        }
        let hedge = desk.account.perp.hedge;
        if hedge != p.get("tradeSide").is_some() {
            return Err(fail(
                "40774",
                "The order type for unilateral position must also be the unilateral position type.",
                now,
            ));
        }
        reduce_only = match p.get("reduceOnly").as_deref() {
            None | Some("NO") => false,
            Some("YES") => true,
            Some(_) => {
                return Err(fail(
                    "40017",
                    "Parameter verification failed: reduceOnly",
                    now,
                ))
            }
        };
    }
    let auto_borrow = call.wallet == Wallet::Margin
        && match p.get("loanType").as_deref().unwrap_or("normal") {
            "normal" | "autoRepay" => false,
            "autoLoan" | "autoLoanAndRepay" => true,
            _ => {
                return Err(fail(
                    "40017",
                    "Parameter verification failed: loanType",
                    now,
                ))
            }
        };
    let stp = match p.get("stpMode").as_deref() {
        None => String::new(),
        Some(m @ ("none" | "cancel_taker" | "cancel_maker" | "cancel_both")) => m.to_string(),
        Some(_) => return Err(fail("40017", "Parameter verification failed: stpMode", now)),
    };
    let listing = shared
        .listing
        .get(instrument, venue)
        .ok_or_else(|| fail("40034", "Parameter symbol does not exist", now))?;
    let r = OrderRules::of(listing);
    rules::check(&r, size, price, side.is_buy(), None).map_err(|b| {
        let msg = match b {
            RuleBreak::QtyNotPositive | RuleBreak::QtyOffLot => format!(
                "Parameter verification exception size checkBDScale error value={size_raw} checkScale={}",
                r.lot.normalize().scale()
            ),
            RuleBreak::QtyBelowMin => {
                return fail(
                    "45111",
                    &format!("less than the minimum order quantity {}", r.min_qty.normalize()),
                    now,
                )
            }
            RuleBreak::QtyAboveMax => {
                return fail(
                    "45112",
                    &format!("more than the maximum order quantity {}", r.max_qty.normalize()),
                    now,
                )
            }
            RuleBreak::PriceNotPositive | RuleBreak::PriceOffTick => {
                return fail("41103", "param price scale error error", now)
            }
            RuleBreak::NotionalBelowMin => {
                return fail(
                    "45110",
                    &format!("less than the minimum amount {} USDT", r.min_notional.normalize()),
                    now,
                )
            }
            RuleBreak::PriceAboveBand(_) | RuleBreak::PriceBelowBand(_) => {
                return fail("40706", "Wrong order price", now)
            }
        };
        fail("40808", &msg, now)
    })?;
    let new = NewOrder {
        venue,
        wallet: call.wallet,
        instrument,
        side,
        qty: size,
        price,
        tif,
        reduce_only,
        auto_borrow,
        client_id,
        stp,
    };
    let tick = desk.tick.clone();
    let pos = desk
        .account
        .place(
            new,
            if call.wallet == Wallet::Margin {
                Duplicates::WithinWhileUnfilled(CLIENT_OID_KEPT_MS)
            } else {
                Duplicates::Within(CLIENT_OID_KEPT_MS)
            },
            PostOnlyCross::Cancel,
            &tick,
            now,
        )
        .map_err(|r| match (call.wallet, r) {
            (Wallet::Perp, Refusal::Duplicate(_)) => fail("40786", "Duplicate clientOid", now),
            (Wallet::Spot, Refusal::Duplicate(_)) => fail("43118", "clientOrderId duplicate", now),
            (Wallet::Margin, Refusal::Duplicate(_)) => fail("45034", "clientOid duplicate", now),
            (Wallet::Perp, Refusal::Insufficient) => {
                fail("40762", "The order amount exceeds the balance", now)
            }
            (_, Refusal::Insufficient) => fail("43012", "Insufficient balance", now),
            (_, Refusal::ReduceOnly) => fail("22002", "No position to close", now),
            (_, Refusal::PostOnlyWouldTake) => fail("43013", "Post only order would take", now),
        })?;
    Ok(ok(ids(desk.account.order(pos)), now))
}

fn key_of(p: &Params, now: i64) -> Result<OrderKey, (u16, String)> {
    if let Some(id) = p.get("orderId") {
        return id
            .parse()
            .map(OrderKey::Id)
            .map_err(|_| fail("40017", "Parameter verification failed: orderId", now));
    }
    p.get("clientOid")
        .map(OrderKey::Client)
        .ok_or_else(|| fail("40913", "Either orderId or clientOid is required", now))
}

fn not_found(now: i64) -> (u16, String) {
    fail("43001", "The order does not exist", now)
}

/// The order `key` names in this call's market and wallet (and on `instrument`, if given).
fn find(call: &Call, desk: &Desk<'_>, key: &OrderKey, instrument: Option<usize>) -> Option<usize> {
    desk.account.find(call.venue, key).filter(|&pos| {
        let o = desk.account.order(pos);
        o.rec.wallet == call.wallet && instrument.is_none_or(|i| i == o.instrument)
    })
}

fn cancel(
    call: &Call,
    shared: &Shared,
    desk: &mut Desk<'_>,
) -> Result<(u16, String), (u16, String)> {
    let now = desk.now_ms;
    let instrument = instrument(call, shared, now)?;
    let key = key_of(&call.params, now)?;
    let pos = find(call, desk, &key, Some(instrument)).ok_or_else(|| not_found(now))?;
    let id = desk.account.order(pos).rec.order_id;
    match desk.account.cancel(call.venue, &OrderKey::Id(id), now) {
        Ok(pos) => Ok(ok(ids(desk.account.order(pos)), now)),
        Err(CancelRefusal::NotFound | CancelRefusal::Finished(_)) => Err(not_found(now)),
    }
}

fn state(o: &SimOrder) -> &'static str {
    order_state(o.rec.wallet, o.rec.finish, o.filled)
}

/// Bitget's order state.
pub(crate) fn order_state(wallet: Wallet, finish: Option<Finish>, filled: Decimal) -> &'static str {
    match finish {
        None if filled.is_zero() => "live",
        None => "partially_filled",
        Some(Finish::Filled) => "filled",
        // Futures spell it one way, spot and margin the other (PRIVATE.md §4.3).
        Some(_) if wallet == Wallet::Perp => "canceled",
        Some(_) => "cancelled",
    }
}

pub(crate) fn force(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Gtc => "gtc",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
        TimeInForce::PostOnly => "post_only",
    }
}

pub(crate) fn side_name(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn avg(o: &SimOrder) -> String {
    o.avg_price().map_or("0".into(), |a| a.to_string())
}

fn mix_order(o: &SimOrder, desk: &Desk<'_>) -> String {
    let perp = &desk.account.perp;
    Obj::new()
        .str("symbol", &o.rec.symbol)
        .dec("size", o.rec.qty)
        .str("orderId", &o.rec.order_id.to_string())
        .str("clientOid", &o.rec.client_id)
        .dec("baseVolume", o.filled)
        .dec("fee", -o.fee)
        .dec("price", o.rec.price)
        .str("priceAvg", &avg(o))
        .str("state", state(o))
        .str("side", side_name(o.rec.side))
        .str("force", force(o.rec.tif))
        .str("totalProfits", "0")
        .str("posSide", "net")
        .str("marginCoin", &o.quote)
        .str("presetStopSurplusPrice", "")
        .str("presetStopLossPrice", "")
        .dec("quoteVolume", o.filled_quote())
        .str("orderType", "limit")
        .str("leverage", &perp.leverage(o.instrument).to_string())
        .str(
            "marginMode",
            if perp.isolated.contains(&o.instrument) {
                "isolated"
            } else {
                "crossed"
            },
        )
        .str("reduceOnly", if o.rec.reduce_only { "YES" } else { "NO" })
        .str("enterPointSource", "API")
        .str(
            "tradeSide",
            if o.rec.side.is_buy() {
                "buy_single"
            } else {
                "sell_single"
            },
        )
        .str(
            "posMode",
            if perp.hedge {
                "hedge_mode"
            } else {
                "one_way_mode"
            },
        )
        .str("orderSource", "normal")
        .str("cancelReason", "")
        .str("cTime", &o.rec.time_ms.to_string())
        .str("uTime", &o.updated_ms.to_string())
        .build()
}

fn fee_detail(fee: Decimal, asset: &str) -> String {
    if fee.is_zero() {
        return "{}".into();
    }
    // Bitget spot sends its fee detail as a JSON string holding JSON numbers: `newFees` at the
    // top, beside the older entry keyed by the coin the fee was taken in (`spot/trade/
    // Get-Order-Info`'s example). Fees are negative when charged, in the currency received; with
    // no BGB deduction, `r` (taken from what was received) equals `t` (the whole fee).
    let fee = (-fee).normalize();
    Obj::new()
        .raw(
            asset,
            &Obj::new()
                .num("deduction", false)
                .str("feeCoinCode", asset)
                .num("totalDeductionFee", 0)
                .num("totalFee", fee)
                .build(),
        )
        .raw(
            "newFees",
            &Obj::new()
                .num("c", 0)
                .num("d", 0)
                .num("deduction", false)
                .num("r", fee)
                .num("t", fee)
                .num("totalDeductionFee", 0)
                .build(),
        )
        .build()
}

fn spot_order(o: &SimOrder) -> String {
    Obj::new()
        .str("userId", "1234567890")
        .str("symbol", &o.rec.symbol)
        .str("orderId", &o.rec.order_id.to_string())
        .str("clientOid", &o.rec.client_id)
        .dec("price", o.rec.price)
        .dec("size", o.rec.qty)
        .str("orderType", "limit")
        .str("side", side_name(o.rec.side))
        .str("status", state(o))
        .str("priceAvg", &avg(o))
        .dec("baseVolume", o.filled)
        .dec("quoteVolume", o.filled_quote())
        .str("enterPointSource", "API")
        .str("feeDetail", &fee_detail(o.fee, &o.fee_asset))
        .str("orderSource", "normal")
        .str("tpslType", "normal")
        .str("cancelReason", "")
        .str("cTime", &o.rec.time_ms.to_string())
        .str("uTime", &o.updated_ms.to_string())
        .build()
}

fn margin_order(o: &SimOrder) -> String {
    Obj::new()
        .str("symbol", &o.rec.symbol)
        .str("orderType", "limit")
        .str("enterPointSource", "API")
        .str("orderId", &o.rec.order_id.to_string())
        .str("clientOid", &o.rec.client_id)
        .str(
            "loanType",
            if o.rec.auto_borrow {
                "autoLoanAndRepay"
            } else {
                "normal"
            },
        )
        .dec("price", o.rec.price)
        .str("side", side_name(o.rec.side))
        .str("status", state(o))
        .dec("baseSize", o.rec.qty)
        .str("quoteSize", "0")
        .str("priceAvg", &avg(o))
        .dec("size", o.rec.qty)
        .dec("amount", o.filled_quote())
        .str("fillPrice", &avg(o))
        .dec("fillQuantity", o.filled)
        .dec("fillTotalAmount", o.filled_quote())
        .str("cTime", &o.rec.time_ms.to_string())
        .str("uTime", &o.updated_ms.to_string())
        .build()
}

fn order_row(call: &Call, o: &SimOrder, desk: &Desk<'_>) -> String {
    match call.wallet {
        Wallet::Perp => mix_order(o, desk),
        Wallet::Spot => spot_order(o),
        Wallet::Margin => margin_order(o),
    }
}

fn fill_fee(f: &crate::sim::record::Fill) -> String {
    Obj::new()
        .str("deduction", "no")
        .str("feeCoin", &f.fee_asset)
        .str("totalDeductionFee", "0")
        .dec("totalFee", -f.fee)
        .build()
}

fn read_or_set(
    kind: Kind,
    call: &Call,
    shared: &Shared,
    desk: &mut Desk<'_>,
) -> Result<(u16, String), (u16, String)> {
    let now = desk.now_ms;
    let p = &call.params;
    let symbol = match p.get("symbol") {
        Some(_) => Some(instrument(call, shared, now)?),
        None => None,
    };
    Ok(match kind {
        Kind::Detail => {
            if call.venue.is_perp() && symbol.is_none() {
                return Err(fail("40019", "Parameter symbol cannot be empty", now));
            }
            let key = key_of(p, now)?;
            let pos = find(call, desk, &key, symbol).ok_or_else(|| not_found(now))?;
            let o = desk.account.order(pos);
            match call.wallet {
                Wallet::Perp => ok(mix_order(o, desk), now),
                Wallet::Spot => ok(format!("[{}]", spot_order(o)), now),
                Wallet::Margin => ok(
                    Obj::new()
                        .raw("orderList", &format!("[{}]", margin_order(o)))
                        .str("maxId", &o.rec.order_id.to_string())
                        .str("minId", &o.rec.order_id.to_string())
                        .build(),
                    now,
                ),
            }
        }
        Kind::Pending => {
            let rows: Vec<String> = desk
                .account
                .open_orders(call.venue, Some(call.wallet))
                .into_iter()
                .rev()
                .filter(|o| symbol.is_none_or(|i| i == o.instrument))
                .filter(|o| p.get("clientOid").is_none_or(|c| c == o.rec.client_id))
                .filter(|o| {
                    p.get("orderId")
                        .is_none_or(|c| c == o.rec.order_id.to_string())
                })
                .map(|o| order_row(call, o, desk))
                .collect();
            match call.wallet {
                Wallet::Perp => {
                    let list = if rows.is_empty() {
                        "null".to_string()
                    } else {
                        array(rows)
                    };
                    ok(
                        Obj::new()
                            .raw("entrustedList", &list)
                            .str("endId", "")
                            .build(),
                        now,
                    )
                }
                Wallet::Spot => ok(array(rows), now),
                Wallet::Margin => ok(
                    Obj::new()
                        .raw("orderList", &array(rows))
                        .str("maxId", "")
                        .str("minId", "")
                        .build(),
                    now,
                ),
            }
        }
        Kind::Fills => {
            let order_id = p.get("orderId");
            let mut rows = Vec::new();
            for o in desk.account.orders_of(call.venue) {
                if o.rec.wallet != call.wallet
                    || symbol.is_some_and(|i| i != o.instrument)
                    || order_id
                        .as_ref()
                        .is_some_and(|id| *id != o.rec.order_id.to_string())
                {
                    continue;
                }
                for f in &o.rec.fills {
                    let scope = if f.maker { "maker" } else { "taker" };
                    let quote = f.qty * f.price * o.contract_size;
                    rows.push(match call.wallet {
                        Wallet::Perp => Obj::new()
                            .str("tradeId", &f.trade_id.to_string())
                            .str("symbol", &o.rec.symbol)
                            .str("orderId", &o.rec.order_id.to_string())
                            .dec("price", f.price)
                            .dec("baseVolume", f.qty)
                            .raw("feeDetail", &format!("[{}]", fill_fee(f)))
                            .str("side", side_name(o.rec.side))
                            .dec("quoteVolume", quote)
                            .str("profit", "0")
                            .str("enterPointSource", "API")
                            .str(
                                "tradeSide",
                                if o.rec.side.is_buy() {
                                    "buy_single"
                                } else {
                                    "sell_single"
                                },
                            )
                            .str("posMode", "one_way_mode")
                            .str("tradeScope", scope)
                            .str("cTime", &f.time_ms.to_string())
                            .build(),
                        _ => Obj::new()
                            .str("userId", "1234567890")
                            .str("symbol", &o.rec.symbol)
                            .str("orderId", &o.rec.order_id.to_string())
                            .str("tradeId", &f.trade_id.to_string())
                            .str("orderType", "limit")
                            .str("side", side_name(o.rec.side))
                            .dec("priceAvg", f.price)
                            .dec("size", f.qty)
                            .dec("amount", quote)
                            .raw("feeDetail", &fill_fee(f))
                            .str("tradeScope", scope)
                            .str("cTime", &f.time_ms.to_string())
                            .str("uTime", &f.time_ms.to_string())
                            .build(),
                    });
                }
            }
            rows.reverse();
            match call.wallet {
                Wallet::Perp => ok(
                    Obj::new()
                        .raw("fillList", &array(rows))
                        .str("endId", "")
                        .build(),
                    now,
                ),
                Wallet::Spot => ok(array(rows), now),
                Wallet::Margin => ok(
                    Obj::new()
                        .raw("fills", &array(rows))
                        .str("minId", "")
                        .str("maxId", "")
                        .build(),
                    now,
                ),
            }
        }
        Kind::Positions => {
            let perp = &desk.account.perp;
            let rows: Vec<String> = perp
                .positions
                .iter()
                .filter(|(_, pos)| !pos.qty.is_zero())
                .filter_map(|(&i, pos)| {
                    let l = shared.listing.get(i, PERP)?;
                    let r = desk.account.position_risk(i, &desk.tick)?;
                    let mark = r.mark;
                    let lev = perp.leverage(i);
                    let quote = &shared.listing.instruments()[i].quote;
                    Some(
                        Obj::new()
                            .str("marginCoin", quote)
                            .str("symbol", &l.symbol)
                            .str(
                                "holdSide",
                                if pos.qty > Decimal::ZERO {
                                    "long"
                                } else {
                                    "short"
                                },
                            )
                            .str("openDelegateSize", "0")
                            .dec(
                                "marginSize",
                                (pos.qty.abs() * pos.entry / Decimal::from(lev)).round_dp(8),
                            )
                            .dec("available", pos.qty.abs())
                            .str("locked", "0")
                            .dec("total", pos.qty.abs())
                            .str("leverage", &lev.to_string())
                            .dec("achievedProfits", pos.realized)
                            .dec("openPriceAvg", pos.entry)
                            .str(
                                "marginMode",
                                if perp.isolated.contains(&i) {
                                    "isolated"
                                } else {
                                    "crossed"
                                },
                            )
                            .str(
                                "posMode",
                                if perp.hedge {
                                    "hedge_mode"
                                } else {
                                    "one_way_mode"
                                },
                            )
                            .dec("unrealizedPL", ((mark - pos.entry) * pos.qty).round_dp(8))
                            .dec("liquidationPrice", r.liq_price.unwrap_or_default())
                            .dec("keepMarginRate", r.tier.mmr)
                            .dec("markPrice", mark)
                            .str("marginRatio", "0")
                            .dec("breakEvenPrice", pos.entry)
                            .str("totalFee", "")
                            .str("deductedFee", "0")
                            .str("cTime", &now.to_string())
                            .str("uTime", &now.to_string())
                            .build(),
                    )
                })
                .collect();
            ok(array(rows), now)
        }
        Kind::Accounts | Kind::AccountOne => {
            let a = &desk.account;
            let rows: Vec<String> = a
                .perp
                .balances
                .iter()
                .map(|(coin, bal)| {
                    let avail = a.perp_available(coin);
                    let mut o = Obj::new()
                        .str("marginCoin", coin)
                        .dec("locked", *bal - avail)
                        .dec("available", avail)
                        .dec("crossedMaxAvailable", avail)
                        .dec("isolatedMaxAvailable", avail)
                        .dec("maxTransferOut", avail)
                        .dec("accountEquity", *bal)
                        .dec("usdtEquity", *bal)
                        .str("btcEquity", "")
                        .str("crossedRiskRate", "0");
                    if let Some(i) = symbol {
                        let lev = a.perp.leverage(i).to_string();
                        o = o
                            .str("crossedMarginLeverage", &lev)
                            .str("isolatedLongLever", &lev)
                            .str("isolatedShortLever", &lev)
                            .str(
                                "marginMode",
                                if a.perp.isolated.contains(&i) {
                                    "isolated"
                                } else {
                                    "crossed"
                                },
                            )
                            .str(
                                "posMode",
                                if a.perp.hedge {
                                    "hedge_mode"
                                } else {
                                    "one_way_mode"
                                },
                            );
                    }
                    o.str("unrealizedPL", "0")
                        .str("coupon", "0")
                        .str("crossedUnrealizedPL", "0")
                        .str("isolatedUnrealizedPL", "0")
                        .str("assetMode", "single")
                        .build()
                })
                .collect();
            if kind == Kind::AccountOne {
                if symbol.is_none() {
                    return Err(fail("40019", "Parameter symbol cannot be empty", now));
                }
                let coin = p.required("marginCoin", now)?;
                let row = rows
                    .into_iter()
                    .find(|r| r.contains(&format!("\"marginCoin\":\"{}\"", coin.to_uppercase())))
                    .ok_or_else(|| fail("40034", "Parameter marginCoin does not exist", now))?;
                ok(row, now)
            } else {
                ok(array(rows), now)
            }
        }
        Kind::SetLeverage => {
            let i = symbol.ok_or_else(|| fail("40019", "Parameter symbol cannot be empty", now))?;
            let lev: u32 = p
                .required("leverage", now)?
                .parse()
                .ok()
                .filter(|l| (1..=125).contains(l))
                .ok_or_else(|| fail("40797", "Exceeded the maximum settable leverage", now))?;
            let sym = shared
                .listing
                .get(i, PERP)
                .map(|l| l.symbol.clone())
                .unwrap_or_default();
            desk.account.set_leverage(PERP, i, lev, now);
            ok(
                Obj::new()
                    .str("symbol", &sym)
                    .str("marginCoin", &p.get("marginCoin").unwrap_or_default())
                    .str("longLeverage", &lev.to_string())
                    .str("shortLeverage", &lev.to_string())
                    .str("crossMarginLeverage", &lev.to_string())
                    .str(
                        "marginMode",
                        if desk.account.perp.isolated.contains(&i) {
                            "isolated"
                        } else {
                            "crossed"
                        },
                    )
                    .build(),
                now,
            )
        }
        Kind::SetMarginMode => {
            let i = symbol.ok_or_else(|| fail("40019", "Parameter symbol cannot be empty", now))?;
            let isolated = match p.required("marginMode", now)?.as_str() {
                "isolated" => true,
                "crossed" => false,
                _ => {
                    return Err(fail(
                        "40017",
                        "Parameter verification failed: marginMode",
                        now,
                    ))
                }
            };
            let sym = shared
                .listing
                .get(i, PERP)
                .map(|l| l.symbol.clone())
                .unwrap_or_default();
            desk.account.set_margin_mode(PERP, i, isolated, now);
            let lev = desk.account.perp.leverage(i).to_string();
            ok(
                Obj::new()
                    .str("symbol", &sym)
                    .str("marginCoin", &p.get("marginCoin").unwrap_or_default())
                    .str("longLeverage", &lev)
                    .str("shortLeverage", &lev)
                    .str("marginMode", if isolated { "isolated" } else { "crossed" })
                    .build(),
                now,
            )
        }
        Kind::SetPositionMode => {
            let hedge = match p.required("posMode", now)?.as_str() {
                "hedge_mode" => true,
                "one_way_mode" => false,
                _ => return Err(fail("40017", "Parameter verification failed: posMode", now)),
            };
            if hedge != desk.account.perp.hedge && desk.account.has_exposure() {
                return Err(fail(
                    "40920",
                    "Position or order exists, the position mode cannot be switched",
                    now,
                ));
            }
            desk.account.set_hedge(PERP, hedge, now);
            ok(
                Obj::new()
                    .str("posMode", if hedge { "hedge_mode" } else { "one_way_mode" })
                    .build(),
                now,
            )
        }
        Kind::SpotAssets => {
            let a = &desk.account;
            let rows: Vec<String> = a
                .spot
                .keys()
                .filter(|c| p.get("coin").is_none_or(|x| x == **c))
                .map(|coin| {
                    Obj::new()
                        .str("coin", coin)
                        .dec("available", a.free(Wallet::Spot, coin))
                        .dec("frozen", a.locked(Wallet::Spot, coin))
                        .str("locked", "0")
                        .str("limitAvailable", "0")
                        .str("uTime", &now.to_string())
                        .build()
                })
                .collect();
            ok(array(rows), now)
        }
        Kind::MarginAssets => {
            let a = &desk.account;
            let coins: std::collections::BTreeSet<&String> = a
                .margin
                .assets
                .keys()
                .chain(a.margin.borrowed.keys())
                .collect();
            let rows: Vec<String> = coins
                .into_iter()
                .filter(|c| p.get("coin").is_none_or(|x| x == **c))
                .map(|coin| {
                    let total = a.margin.assets.get(coin).copied().unwrap_or_default();
                    let borrow = a.margin.borrowed.get(coin).copied().unwrap_or_default();
                    Obj::new()
                        .str("coin", coin)
                        .dec("totalAmount", total)
                        .dec("available", a.free(Wallet::Margin, coin))
                        .dec("frozen", a.locked(Wallet::Margin, coin))
                        .dec("borrow", borrow)
                        .str("interest", "0")
                        .dec("net", total - borrow)
                        .str("coupon", "0")
                        .str("cTime", &now.to_string())
                        .str("uTime", &now.to_string())
                        .build()
                })
                .collect();
            ok(array(rows), now)
        }
        Kind::Bill => bill(p, desk, now)?,
        Kind::TradeRate => {
            let venue = match p.get("businessType").as_deref() {
                Some("mix" | "contract") => PERP,
                Some("spot" | "margin") => SPOT,
                _ => return Err(fail("40034", "Parameter businessType does not exist", now)),
            };
            let s = p.required("symbol", now)?;
            if shared.listing.find(venue, &s).is_none() {
                return Err(fail("40034", "Parameter symbol does not exist", now));
            }
            let r = desk.account.fee_rates(venue);
            ok(
                Obj::new()
                    .dec("makerFeeRate", r.maker)
                    .dec("takerFeeRate", r.taker)
                    .build(),
                now,
            )
        }
        Kind::Place | Kind::Cancel => unreachable!("order requests are routed before"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `PRIVATE.md` §6.7: no official vector exists; these are the values computed there with
    /// the docs' example secret over the docs' own pre-hash strings.
    #[test]
    fn computed_vectors() {
        let secret = "22582BD0CFF14C41EDBF1AB98506286D";
        let cases = [
            (
                prehash(
                    "16273667805456",
                    "GET",
                    "/api/mix/v2/market/depth",
                    "limit=20&symbol=BTCUSDT",
                    "",
                ),
                "30l+qfOwyfwL90Ss/Wz2h2be1+vlW/DKH5rcFIsocEI=",
            ),
            (
                prehash(
                    "16273667805456",
                    "POST",
                    "/api/v2/mix/order/place-order",
                    "",
                    r#"{"productType":"usdt-futures","symbol":"BTCUSDT","size":"8","marginMode":"crossed","side":"buy","orderType":"limit","clientOid":"channel#123456"}"#,
                ),
                "jIRuviYIBOMtYTXX+ji2u+/QsuvmwgqRWhM6kiexTEU=",
            ),
            (
                "1538054050GET/user/verify".to_string(),
                "/4S0C3L8mGdm8894ulf8wfnQ6dqMXO8Iw95zlvMN8Zw=",
            ),
        ];
        for (pre, want) in cases {
            assert_eq!(sign(secret, &pre), want, "{pre}");
        }
    }

    /// `spot/trade/Get-Order-Info`: `feeDetail` is a JSON string whose `newFees` sits at the top
    /// (beside the older entry keyed by the fee coin), with JSON numbers, negative when charged.
    #[test]
    fn spot_fee_detail_has_the_documented_layout() {
        let detail: Value =
            serde_json::from_str(&fee_detail(Decimal::new(25, 7), "BTC")).expect("JSON");
        assert_eq!(detail["newFees"]["r"], serde_json::json!(-0.0000025));
        assert_eq!(detail["newFees"]["t"], serde_json::json!(-0.0000025));
        assert_eq!(detail["newFees"]["d"], serde_json::json!(0));
        assert_eq!(detail["BTC"]["feeCoinCode"], "BTC");
        assert_eq!(detail["BTC"]["totalFee"], serde_json::json!(-0.0000025));
        assert_eq!(fee_detail(Decimal::ZERO, "BTC"), "{}");
    }

    #[test]
    fn client_oids() {
        assert!(valid_client_oid("channel#123456"));
        assert!(valid_client_oid(&"x".repeat(50)));
        assert!(!valid_client_oid(&"x".repeat(51)));
        assert!(!valid_client_oid("a b"));
        assert!(!valid_client_oid("订单"));
    }
}

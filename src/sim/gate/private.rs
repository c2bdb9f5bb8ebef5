//! Gate API v4's signed endpoints as the simulator serves them: USDT futures in signed contract
//! `size` (`quanto_multiplier`), spot in base units, and margin through `/spot/orders` with
//! `account=margin|unified|cross_margin` (`PRIVATE.md` §5, `NOTES.md` §5.5).
//!
//! Auth: headers `KEY`, `Timestamp` (seconds) and `SIGN`, the hex HMAC-SHA512 of
//! `METHOD\n/api/v4/path\nquery\nhex(SHA512(body))\ntimestamp`, the query and timestamp exactly
//! as sent; accepted within 60 s of the server. Errors are HTTP 401 `{"label":"INVALID_KEY",..}`,
//! `INVALID_SIGNATURE`, `REQUEST_EXPIRED`, `MISSING_REQUIRED_HEADER`; other errors are 400/404
//! with Gate's labels.
//!
//! Orders: `tif` `gtc`/`ioc`/`fok`/`poc` (a crossing post-only order is refused:
//! `ORDER_POC_IMMEDIATE` / `POC_FILL_IMMEDIATELY`), futures `reduce_only`, `stp_act`. `text` is
//! `t-` plus at most 28 of `[0-9A-Za-z_.-]`; Gate documents no uniqueness for it, so a reused
//! `text` is accepted and look-ups by text find the latest order. Look-ups by text work while the
//! order is open or, on futures, up to 60 s after it finished (`CLIENT_ID_NOT_FOUND` after);
//! by id always. Placing answers HTTP 201.
//!
//! Limits: futures place 100/s; spot place 10/s per pair; cancels 200/s; everything else 200
//! per 10 s: HTTP 429 `TOO_MANY_REQUESTS`, usage in `X-Gate-RateLimit-Requests-Remain`,
//! `X-Gate-RateLimit-Limit` and `X-Gate-RateLimit-Reset-Timestamp` on every answer.

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::sim::account::{
    CancelRefusal, Duplicates, FeeRates, NewOrder, OrderKey, PostOnlyCross, Refusal, SimOrder,
};
use crate::sim::auth::{hmac_sha512_hex, same_signature, sha512_hex};
use crate::sim::http::{Reply, RestRequest};
use crate::sim::limits::RateLimit;
use crate::sim::record::{Finish, Side, TimeInForce, Wallet};
use crate::sim::rules::{self, Band, OrderRules, RuleBreak};
use crate::sim::wire::{array, Obj, Params};
use crate::sim::{Desk, Shared};

const PERP: Venue = Venue::new(Exchange::Gate, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Gate, Market::Spot);
const MAX_SKEW_S: f64 = 60.0;
/// Futures look-ups by `text` work this long after the order finished.
const TEXT_KEPT_MS: i64 = 60_000;
/// The numeric user id Gate's futures account reports.
pub(crate) const USER_ID: u64 = 10_237_545;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Place,
    Cancel,
    Query,
    List,
    OpenOrders,
    Trades,
    Countdown,
    Positions,
    FuturesAccount,
    DualMode,
    Leverage,
    CrossMode,
    SpotAccounts,
    MarginAccounts,
    AccountBook,
    WalletFee,
}

/// The endpoint of a request, and the order id or contract its path names.
fn endpoint(method: &str, path: &str) -> Option<(Venue, Kind, Option<String>)> {
    let rest = path.strip_prefix("/api/v4/")?;
    if let Some(f) = rest.strip_prefix("futures/usdt/") {
        let (kind, arg) = match (method, f) {
            ("POST", "orders") => (Kind::Place, None),
            ("GET", "orders") => (Kind::List, None),
            ("GET", "my_trades") => (Kind::Trades, None),
            ("POST", "countdown_cancel_all") => (Kind::Countdown, None),
            ("GET", "positions") => (Kind::Positions, None),
            ("GET", "accounts") => (Kind::FuturesAccount, None),
            ("POST", "dual_mode") => (Kind::DualMode, None),
            ("POST", "positions/cross_mode") => (Kind::CrossMode, None),
            ("GET", "account_book") => (Kind::AccountBook, None),
            (m, _) => {
                if let Some(id) = f.strip_prefix("orders/") {
                    match m {
                        "GET" => (Kind::Query, Some(id.to_string())),
                        "DELETE" => (Kind::Cancel, Some(id.to_string())),
                        _ => return None,
                    }
                } else if let Some(c) = f
                    .strip_prefix("positions/")
                    .and_then(|c| c.strip_suffix("/leverage"))
                    .filter(|_| m == "POST")
                {
                    (Kind::Leverage, Some(c.to_string()))
                } else {
                    return None;
                }
            }
        };
        return Some((PERP, kind, arg));
    }
    if let Some(s) = rest.strip_prefix("spot/") {
        let (kind, arg) = match (method, s) {
            ("POST", "orders") => (Kind::Place, None),
            ("GET", "orders") => (Kind::List, None),
            ("GET", "open_orders") => (Kind::OpenOrders, None),
            ("GET", "my_trades") => (Kind::Trades, None),
            ("POST", "countdown_cancel_all") => (Kind::Countdown, None),
            ("GET", "accounts") => (Kind::SpotAccounts, None),
            (m, _) => {
                let id = s.strip_prefix("orders/")?;
                match m {
                    "GET" => (Kind::Query, Some(id.to_string())),
                    "DELETE" => (Kind::Cancel, Some(id.to_string())),
                    _ => return None,
                }
            }
        };
        return Some((SPOT, kind, arg));
    }
    match (method, rest) {
        ("GET", "margin/accounts") => Some((SPOT, Kind::MarginAccounts, None)),
        ("GET", "wallet/fee") => Some((SPOT, Kind::WalletFee, None)),
        _ => None,
    }
}

/// The string Gate signs.
pub(crate) fn prehash(method: &str, path: &str, query: &str, body: &str, ts: &str) -> String {
    format!(
        "{method}\n{path}\n{query}\n{}\n{ts}",
        sha512_hex(body.as_bytes())
    )
}

pub(crate) fn sign(secret: &str, prehash: &str) -> String {
    hmac_sha512_hex(secret, prehash.as_bytes())
}

fn label(status: u16, label: &str, message: &str) -> (u16, String) {
    (
        status,
        Obj::new()
            .str("label", label)
            .str("message", message)
            .build(),
    )
}

fn authenticate(req: &RestRequest, shared: &Shared, now_ms: i64) -> Result<(), (u16, String)> {
    let creds = shared.credentials.of(Exchange::Gate);
    let header = |name: &str| req.header(name).filter(|v| !v.is_empty());
    let missing = |h: &str| {
        label(
            401,
            "MISSING_REQUIRED_HEADER",
            &format!("Missing required header: {h}"),
        )
    };
    let key = header("key").ok_or_else(|| missing("KEY"))?;
    let ts = header("timestamp").ok_or_else(|| missing("Timestamp"))?;
    let sent = header("sign").ok_or_else(|| missing("SIGN"))?;
    if key != creds.api_key {
        return Err(label(401, "INVALID_KEY", "Invalid key provided"));
    }
    let ts_s: f64 = ts
        .parse()
        .map_err(|_| label(401, "INVALID_SIGNATURE", "Signature mismatch"))?;
    let pre = prehash(&req.method, &req.path, &req.raw_query, &req.body, ts);
    if !same_signature(&sign(&creds.secret, &pre), sent, false) {
        return Err(label(401, "INVALID_SIGNATURE", "Signature mismatch"));
    }
    if (now_ms as f64 / 1000.0 - ts_s).abs() > MAX_SKEW_S {
        return Err(label(
            401,
            "REQUEST_EXPIRED",
            "gap between request Timestamp and server time exceeds 60",
        ));
    }
    Ok(())
}

/// A parameter the request must carry, or Gate's answer to its absence.
trait Required {
    fn required(&self, key: &str) -> Result<String, (u16, String)>;
}

impl Required for Params {
    fn required(&self, key: &str) -> Result<String, (u16, String)> {
        self.get(key).ok_or_else(|| {
            label(
                400,
                "MISSING_REQUIRED_PARAM",
                &format!("Missing required parameter: {key}"),
            )
        })
    }
}

fn invalid(message: &str) -> (u16, String) {
    label(400, "INVALID_PARAM_VALUE", message)
}

/// Serves Gate's private endpoints.
pub(crate) fn rest(req: &RestRequest, shared: &Shared) -> Option<Reply> {
    let (venue, kind, arg) = endpoint(&req.method, &req.path)?;
    if !shared.listing.carries(venue) {
        return None;
    }
    let now = shared.venue_now_ms(Exchange::Gate);
    let to_reply = |(status, body): (u16, String)| Reply::new(venue, status, body);
    if let Err(e) = authenticate(req, shared, now) {
        return Some(to_reply(e));
    }
    let json = if req.method == "POST" && !req.body.is_empty() {
        match serde_json::from_str::<Value>(&req.body) {
            Ok(v) if v.is_object() => v,
            _ => {
                return Some(to_reply(label(
                    400,
                    "INVALID_REQUEST_BODY",
                    "Invalid request body",
                )))
            }
        }
    } else {
        Value::Null
    };
    let p = Params::new(json, req.query.clone());
    serve(venue, kind, arg.unwrap_or_default(), p, shared)
}

/// Runs one authenticated request: limits, injected faults, then the endpoint (`arg` is the
/// order id or contract the path names). REST and the websocket API share it, as they share
/// the venue's limits.
pub(crate) fn serve(
    venue: Venue,
    kind: Kind,
    arg: String,
    p: Params,
    shared: &Shared,
) -> Option<Reply> {
    let to_reply = |(status, body): (u16, String)| Reply::new(venue, status, body);
    let mut desk = shared.desk(Exchange::Gate)?;
    let now = desk.now_ms;
    let l = &shared.limits;
    let (limit, key): (RateLimit, String) = match (kind, venue.market) {
        (Kind::Place, Market::Perp) => (l.gate_futures_orders, "place-futures".into()),
        (Kind::Place, Market::Spot) => (
            l.gate_spot_orders,
            format!("place-spot-{}", p.get("currency_pair").unwrap_or_default()),
        ),
        (Kind::Cancel, _) => (l.gate_cancels, "cancel".into()),
        _ => (l.gate_other, "other".into()),
    };
    let usage = match desk.account.counters.take(&[(&key, limit)], now) {
        Ok(u) => u[0],
        Err(u) => {
            return Some(
                to_reply(label(
                    429,
                    "TOO_MANY_REQUESTS",
                    "Request Rate limit Exceeded",
                ))
                .with_headers(vec![
                    ("X-Gate-RateLimit-Requests-Remain", "0".into()),
                    ("X-Gate-RateLimit-Limit", u.limit.max.to_string()),
                    ("X-Gate-RateLimit-Reset-Timestamp", u.reset_ms.to_string()),
                ]),
            )
        }
    };
    let headers = vec![
        (
            "X-Gate-RateLimit-Requests-Remain",
            usage.remaining().to_string(),
        ),
        ("X-Gate-RateLimit-Limit", usage.limit.max.to_string()),
        (
            "X-Gate-RateLimit-Reset-Timestamp",
            usage.reset_ms.to_string(),
        ),
    ];
    let server_error = || label(500, "SERVER_ERROR", "Internal server error");
    let flat = |r: Result<(u16, String), (u16, String)>| match r {
        Ok(x) | Err(x) => x,
    };
    let reply = match kind {
        Kind::Place => shared.order_request(venue, server_error, || {
            to_reply(flat(place(venue, &p, shared, &mut desk)))
        }),
        Kind::Cancel => shared.order_request(venue, server_error, || {
            to_reply(flat(cancel(venue, &arg, &p, shared, &mut desk)))
        }),
        _ => to_reply(flat(read_or_set(kind, venue, &arg, &p, shared, &mut desk))),
    };
    Some(reply.with_headers(headers))
}

/// A `text` Gate accepts: `t-` and 1 to 28 of `[0-9A-Za-z_.-]`.
pub(crate) fn valid_text(text: &str) -> bool {
    text.strip_prefix("t-").is_some_and(|rest| {
        (1..=28).contains(&rest.len())
            && rest
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
    })
}

fn pair(venue: Venue, name: &str, shared: &Shared) -> Result<usize, (u16, String)> {
    shared
        .listing
        .find(venue, name)
        .ok_or_else(|| match venue.market {
            Market::Perp => label(
                400,
                "CONTRACT_NOT_FOUND",
                &format!("Contract {name} not found"),
            ),
            Market::Spot => label(
                400,
                "INVALID_CURRENCY_PAIR",
                &format!("Invalid currency pair {name}"),
            ),
        })
}

fn place(
    venue: Venue,
    p: &Params,
    shared: &Shared,
    desk: &mut Desk<'_>,
) -> Result<(u16, String), (u16, String)> {
    let now = desk.now_ms;
    let (instrument, side, qty, wallet) = if venue.is_perp() {
        let i = pair(venue, &p.required("contract")?, shared)?;
        let size: i64 = p
            .required("size")?
            .parse()
            .map_err(|_| invalid("size must be an integer number of contracts"))?;
        if size == 0 {
            return Err(invalid(
                "size cannot be 0 (closing with close=true is not simulated)",
            ));
        }
        let side = if size > 0 { Side::Buy } else { Side::Sell };
        (i, side, Decimal::from(size.unsigned_abs()), Wallet::Perp)
    } else {
        let i = pair(venue, &p.required("currency_pair")?, shared)?;
        let side = match p.required("side")?.as_str() {
            "buy" => Side::Buy,
            "sell" => Side::Sell,
            _ => return Err(invalid("side must be buy or sell")),
        };
        if p.get("type").is_some_and(|t| t != "limit") {
            return Err(invalid("the simulated venue takes limit orders only"));
        }
        p.required("amount")?;
        let amount = p
            .decimal("amount")
            .ok_or_else(|| label(400, "INVALID_PRECISION", "Invalid amount"))?;
        let wallet = match p.get("account").as_deref().unwrap_or("spot") {
            "spot" => Wallet::Spot,
            "margin" | "unified" | "cross_margin" => Wallet::Margin,
            _ => {
                return Err(invalid(
                    "account must be spot, margin, unified or cross_margin",
                ))
            }
        };
        (i, side, amount, wallet)
    };
    p.required("price")?;
    let price = p
        .decimal("price")
        .filter(|px| !px.is_zero())
        .ok_or_else(|| {
            invalid("price must be a positive decimal (market orders are not simulated)")
        })?;
    let tif_key = if venue.is_perp() {
        "tif"
    } else {
        "time_in_force"
    };
    let tif = match p.get(tif_key).as_deref().unwrap_or("gtc") {
        "gtc" => TimeInForce::Gtc,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        "poc" => TimeInForce::PostOnly,
        _ => return Err(invalid(&format!("{tif_key} must be gtc, ioc, poc or fok"))),
    };
    let text = match p.get("text") {
        Some(t) if valid_text(&t) => t,
        Some(_) => {
            return Err(invalid(
                "text must start with t- and have at most 28 bytes of 0-9, A-Z, a-z, _, - or . after it",
            ))
        }
        None => "api".to_string(),
    };
    let reduce_only = venue.is_perp() && p.get("reduce_only").as_deref() == Some("true");
    if venue.is_perp() && desk.account.perp.hedge {
        return Err(label(
            400,
            "POSITION_DUAL_MODE",
            "Position in dual mode: the simulated venue trades one-way positions only",
        ));
    }
    let stp = match p.get("stp_act").as_deref() {
        None => String::new(),
        Some(a @ ("co" | "cn" | "cb" | "-")) => a.to_string(),
        Some(_) => return Err(invalid("stp_act must be co, cn, cb or -")),
    };
    let auto_borrow = wallet == Wallet::Margin && p.get("auto_borrow").as_deref() == Some("true");
    let listing = shared
        .listing
        .get(instrument, venue)
        .ok_or_else(|| invalid("not listed"))?;
    let r = OrderRules::of(listing);
    // Futures prices may deviate at most `order_price_deviate` (0.5) from the mark.
    let band = venue
        .is_perp()
        .then(|| desk.tick.leg(instrument, venue))
        .flatten()
        .map(|leg| Band::around(leg.mark, Decimal::new(5, 1), Decimal::new(15, 1), r.tick));
    rules::check(&r, qty, price, side.is_buy(), band).map_err(|b| match (venue.market, b) {
        (
            Market::Perp,
            RuleBreak::QtyNotPositive | RuleBreak::QtyBelowMin | RuleBreak::QtyOffLot,
        ) => label(
            400,
            "SIZE_TOO_SMALL",
            "Order size below the contract minimum",
        ),
        (Market::Perp, RuleBreak::QtyAboveMax) => label(
            400,
            "SIZE_TOO_LARGE",
            "Order size above the contract maximum",
        ),
        (Market::Perp, RuleBreak::PriceNotPositive | RuleBreak::PriceOffTick) => {
            invalid("price is not a multiple of order_price_round")
        }
        (_, RuleBreak::PriceAboveBand(_) | RuleBreak::PriceBelowBand(_)) => label(
            400,
            "PRICE_TOO_DEVIATED",
            "Order price deviates too much from the mark price",
        ),
        (
            Market::Spot,
            RuleBreak::QtyOffLot | RuleBreak::PriceOffTick | RuleBreak::PriceNotPositive,
        ) => label(400, "INVALID_PRECISION", "Invalid precision"),
        (
            Market::Spot,
            RuleBreak::QtyNotPositive | RuleBreak::QtyBelowMin | RuleBreak::NotionalBelowMin,
        ) => label(400, "AMOUNT_TOO_LITTLE", "Order amount too little"),
        (Market::Spot, RuleBreak::QtyAboveMax) => {
            label(400, "AMOUNT_TOO_MUCH", "Order amount too much")
        }
        (Market::Perp, RuleBreak::NotionalBelowMin) => {
            label(400, "SIZE_TOO_SMALL", "Order value below the minimum")
        }
    })?;
    let new = NewOrder {
        venue,
        wallet,
        instrument,
        side,
        qty,
        price,
        tif,
        reduce_only,
        auto_borrow,
        client_id: text,
        stp,
    };
    let tick = desk.tick.clone();
    let pos = desk
        .account
        .place(new, Duplicates::Allowed, PostOnlyCross::Refuse, &tick, now)
        .map_err(|r| match (wallet, r) {
            (_, Refusal::Duplicate(_)) => label(400, "ORDER_EXISTS", "Order exists"),
            (Wallet::Perp, Refusal::Insufficient) => label(
                400,
                "INSUFFICIENT_AVAILABLE",
                "Insufficient available balance",
            ),
            (Wallet::Margin, Refusal::Insufficient) => label(
                400,
                "MARGIN_BALANCE_NOT_ENOUGH",
                "Margin balance not enough",
            ),
            (Wallet::Spot, Refusal::Insufficient) => {
                label(400, "BALANCE_NOT_ENOUGH", "Not enough balance")
            }
            (_, Refusal::ReduceOnly) => label(
                400,
                "INCREASE_POSITION",
                "Reduce-only order would increase the position",
            ),
            (Wallet::Perp, Refusal::PostOnlyWouldTake) => label(
                400,
                "ORDER_POC_IMMEDIATE",
                "Post-only order would be filled immediately",
            ),
            (_, Refusal::PostOnlyWouldTake) => label(
                400,
                "POC_FILL_IMMEDIATELY",
                "Order would match and take immediately so its cancelled",
            ),
        })?;
    let o = desk.account.order(pos);
    Ok((
        201,
        if venue.is_perp() {
            futures_order(o, desk.account.fee_rates(PERP))
        } else {
            spot_order(o)
        },
    ))
}

/// The order a path segment names: a numeric id, or a `t-` text (latest order with it, while
/// open or, on futures, within 60 s of finishing).
fn lookup(venue: Venue, arg: &str, desk: &Desk<'_>) -> Result<usize, (u16, String)> {
    if let Ok(id) = arg.parse::<u64>() {
        return desk
            .account
            .find(venue, &OrderKey::Id(id))
            .ok_or_else(|| label(404, "ORDER_NOT_FOUND", "Order not found"));
    }
    let now = desk.now_ms;
    desk.account
        .find(venue, &OrderKey::Client(arg.to_string()))
        .filter(|&pos| {
            let o = desk.account.order(pos);
            o.is_open()
                || (venue.is_perp() && o.rec.finish_ms.is_some_and(|t| now - t <= TEXT_KEPT_MS))
        })
        .ok_or_else(|| {
            label(
                404,
                "CLIENT_ID_NOT_FOUND",
                "Order with this client id not found (open, or finished within 60 s)",
            )
        })
}

fn cancel(
    venue: Venue,
    arg: &str,
    p: &Params,
    shared: &Shared,
    desk: &mut Desk<'_>,
) -> Result<(u16, String), (u16, String)> {
    let now = desk.now_ms;
    if !venue.is_perp() {
        pair(venue, &p.required("currency_pair")?, shared)?;
    }
    let pos = lookup(venue, arg, desk)?;
    let id = desk.account.order(pos).rec.order_id;
    match desk.account.cancel(venue, &OrderKey::Id(id), now) {
        Ok(pos) => {
            let o = desk.account.order(pos);
            Ok((
                200,
                if venue.is_perp() {
                    futures_order(o, desk.account.fee_rates(PERP))
                } else {
                    spot_order(o)
                },
            ))
        }
        Err(CancelRefusal::Finished(_)) => Err(label(400, "ORDER_FINISHED", "Order finished")),
        Err(CancelRefusal::NotFound) => Err(label(404, "ORDER_NOT_FOUND", "Order not found")),
    }
}

fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn futures_finish_as(o: &SimOrder) -> &'static str {
    finish_as(o.rec.finish).unwrap_or("_new")
}

/// Gate's `finish_as` for a finished order (`None` while open).
pub(crate) fn finish_as(finish: Option<Finish>) -> Option<&'static str> {
    finish.map(|f| match f {
        Finish::Filled => "filled",
        Finish::Expired => "ioc",
        _ => "cancelled",
    })
}

pub(crate) fn tif_name(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Gtc => "gtc",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
        TimeInForce::PostOnly => "poc",
    }
}

fn signed(o: &SimOrder, q: Decimal) -> Decimal {
    signed_size(o.rec.side, q)
}

/// A futures size as Gate writes it: negative for sells.
pub(crate) fn signed_size(side: Side, q: Decimal) -> Decimal {
    if side.is_buy() {
        q
    } else {
        -q
    }
}

/// A futures order (`FuturesOrder`): sizes signed, in contracts.
fn futures_order(o: &SimOrder, rates: FeeRates) -> String {
    let mut obj = Obj::new()
        .num("id", o.rec.order_id)
        .num("user", USER_ID)
        .num("create_time", seconds(o.rec.time_ms));
    if let Some(t) = o.rec.finish_ms {
        obj = obj
            .num("finish_time", seconds(t))
            .str("finish_as", futures_finish_as(o));
    }
    // `left` is what did not execute, open or finished: the docs' cancelled order shows
    // `"size": 6024, "left": 6024, "finish_as": "cancelled"`, and a futures order has no filled
    // field, so `size - left` is how a client learns what executed.
    let left = o.remaining();
    obj.str("status", if o.is_open() { "open" } else { "finished" })
        .str("contract", &o.rec.symbol)
        .num("size", signed(o, o.rec.qty).normalize())
        .num("iceberg", 0)
        .dec("price", o.rec.price)
        .num("close", false)
        .num("is_close", false)
        .num("reduce_only", o.rec.reduce_only)
        .num("is_reduce_only", o.rec.reduce_only)
        .num("is_liq", false)
        .str("tif", tif_name(o.rec.tif))
        .num("left", signed(o, left).normalize())
        .str(
            "fill_price",
            &o.avg_price().map_or("0".to_string(), |a| a.to_string()),
        )
        .str("text", &o.rec.client_id)
        .dec("tkfr", rates.taker)
        .dec("mkfr", rates.maker)
        .num("refu", 0)
        .str("auto_size", "")
        .num("stp_id", 0)
        .str(
            "stp_act",
            if o.rec.stp.is_empty() {
                "-"
            } else {
                &o.rec.stp
            },
        )
        .str("amend_text", "-")
        .str("biz_info", "-")
        .build()
}

fn account_name(o: &SimOrder) -> &'static str {
    match o.rec.wallet {
        Wallet::Margin => "margin",
        _ => "spot",
    }
}

/// A spot order (`SpotOrder`).
fn spot_order(o: &SimOrder) -> String {
    let (status, finish_as) = match o.rec.finish {
        None => ("open", "open"),
        Some(Finish::Filled) => ("closed", "filled"),
        Some(Finish::Expired) => ("cancelled", "ioc"),
        Some(_) => ("cancelled", "cancelled"),
    };
    let avg = o.avg_price().unwrap_or_default();
    Obj::new()
        .str("id", &o.rec.order_id.to_string())
        .str("text", &o.rec.client_id)
        .str("amend_text", "-")
        .str("create_time", &(o.rec.time_ms / 1000).to_string())
        .str("update_time", &(o.updated_ms / 1000).to_string())
        .num("create_time_ms", o.rec.time_ms)
        .num("update_time_ms", o.updated_ms)
        .str("status", status)
        .str("currency_pair", &o.rec.symbol)
        .str("type", "limit")
        .str("account", account_name(o))
        .str("side", if o.rec.side.is_buy() { "buy" } else { "sell" })
        .dec("amount", o.rec.qty)
        .dec("price", o.rec.price)
        .str("time_in_force", tif_name(o.rec.tif))
        .str("iceberg", "0")
        .dec("left", o.remaining())
        .dec("filled_amount", o.filled)
        .dec("fill_price", o.filled_quote())
        .dec("filled_total", o.filled_quote())
        .dec("avg_deal_price", avg)
        .dec("fee", o.fee)
        .str("fee_currency", &o.fee_asset)
        .str("point_fee", "0")
        .str("gt_fee", "0")
        .str("gt_maker_fee", "0")
        .str("gt_taker_fee", "0")
        .num("gt_discount", false)
        .str("rebated_fee", "0")
        .str("rebated_fee_currency", &o.quote)
        .num("stp_id", 0)
        .str(
            "stp_act",
            if o.rec.stp.is_empty() {
                "-"
            } else {
                &o.rec.stp
            },
        )
        .str("finish_as", finish_as)
        .build()
}

fn read_or_set(
    kind: Kind,
    venue: Venue,
    arg: &str,
    p: &Params,
    shared: &Shared,
    desk: &mut Desk<'_>,
) -> Result<(u16, String), (u16, String)> {
    let now = desk.now_ms;
    let filter_key = if venue.is_perp() {
        "contract"
    } else {
        "currency_pair"
    };
    let only = match p.get(filter_key) {
        Some(n) => Some(pair(venue, &n, shared)?),
        None => None,
    };
    let ok = |body: String| Ok((200, body));
    match kind {
        Kind::Query => {
            if !venue.is_perp() {
                pair(venue, &p.required("currency_pair")?, shared)?;
            }
            let pos = lookup(venue, arg, desk)?;
            let o = desk.account.order(pos);
            ok(if venue.is_perp() {
                futures_order(o, desk.account.fee_rates(PERP))
            } else {
                spot_order(o)
            })
        }
        Kind::List => {
            let status = p.required("status")?;
            if !venue.is_perp() && only.is_none() {
                return Err(p
                    .required("currency_pair")
                    .err()
                    .unwrap_or_else(|| invalid("currency_pair")));
            }
            let want_open = match status.as_str() {
                "open" => true,
                "finished" => false,
                _ => return Err(invalid("status must be open or finished")),
            };
            let mut rows: Vec<String> = desk
                .account
                .orders_of(venue)
                .filter(|o| o.is_open() == want_open && only.is_none_or(|i| i == o.instrument))
                .map(|o| {
                    if venue.is_perp() {
                        futures_order(o, desk.account.fee_rates(PERP))
                    } else {
                        spot_order(o)
                    }
                })
                .collect();
            rows.reverse();
            rows.truncate(100);
            ok(array(rows))
        }
        Kind::OpenOrders => {
            let mut groups: Vec<String> = Vec::new();
            for (i, ins) in shared.listing.instruments().iter().enumerate() {
                let Some(l) = ins.on(SPOT) else { continue };
                let orders: Vec<String> = desk
                    .account
                    .open_orders(SPOT, None)
                    .into_iter()
                    .filter(|o| o.instrument == i)
                    .map(spot_order)
                    .collect();
                if orders.is_empty() {
                    continue;
                }
                groups.push(
                    Obj::new()
                        .str("currency_pair", &l.symbol)
                        .num("total", orders.len())
                        .raw("orders", &array(orders))
                        .build(),
                );
            }
            ok(array(groups))
        }
        Kind::Trades => {
            let order = p.get(if venue.is_perp() { "order" } else { "order_id" });
            if !venue.is_perp() && only.is_none() && order.is_none() {
                return Err(p
                    .required("currency_pair")
                    .err()
                    .unwrap_or_else(|| invalid("currency_pair")));
            }
            let mut rows = Vec::new();
            for o in desk.account.orders_of(venue) {
                if only.is_some_and(|i| i != o.instrument)
                    || order
                        .as_ref()
                        .is_some_and(|id| *id != o.rec.order_id.to_string())
                {
                    continue;
                }
                for f in &o.rec.fills {
                    let role = if f.maker { "maker" } else { "taker" };
                    rows.push(if venue.is_perp() {
                        Obj::new()
                            .num("id", f.trade_id)
                            .num("create_time", seconds(f.time_ms))
                            .str("contract", &o.rec.symbol)
                            .str("order_id", &o.rec.order_id.to_string())
                            .num("size", signed(o, f.qty).normalize())
                            .num("close_size", 0)
                            .dec("price", f.price)
                            .str("role", role)
                            .str("text", &o.rec.client_id)
                            .dec("fee", f.fee)
                            .str("point_fee", "0")
                            .build()
                    } else {
                        Obj::new()
                            .str("id", &f.trade_id.to_string())
                            .str("create_time", &(f.time_ms / 1000).to_string())
                            .str("create_time_ms", &f.time_ms.to_string())
                            .str("currency_pair", &o.rec.symbol)
                            .str("side", if o.rec.side.is_buy() { "buy" } else { "sell" })
                            .str("role", role)
                            .dec("amount", f.qty)
                            .dec("price", f.price)
                            .str("order_id", &o.rec.order_id.to_string())
                            .dec("fee", f.fee)
                            .str("fee_currency", &f.fee_asset)
                            .str("point_fee", "0")
                            .str("gt_fee", "0")
                            .str("amend_text", "-")
                            .num("sequence_id", f.trade_id)
                            .str("text", &o.rec.client_id)
                            .build()
                    });
                }
            }
            rows.reverse();
            rows.truncate(100);
            ok(array(rows))
        }
        Kind::Countdown => {
            let timeout: i64 = p
                .required("timeout")?
                .parse()
                .ok()
                .filter(|t| *t == 0 || *t >= 5)
                .ok_or_else(|| invalid("timeout must be 0 or at least 5 seconds"))?;
            let scope_key = if venue.is_perp() {
                "contract"
            } else {
                "currency_pair"
            };
            let instrument = match p.get(scope_key) {
                Some(n) => Some(pair(venue, &n, shared)?),
                None => None,
            };
            let deadline =
                desk.account
                    .set_countdown(&[venue], instrument, timeout * 1000, false, now);
            ok(Obj::new().num("triggerTime", deadline.unwrap_or(0)).build())
        }
        Kind::Positions => {
            let rows: Vec<String> = desk
                .account
                .perp
                .positions
                .iter()
                .filter(|(&i, pos)| !pos.qty.is_zero() && only.is_none_or(|o| o == i))
                .filter_map(|(&i, _)| position_row(shared, desk, i))
                .collect();
            ok(array(rows))
        }
        Kind::FuturesAccount => ok(futures_account(desk)),
        Kind::DualMode => {
            let hedge = match p.required("dual_mode")?.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(invalid("dual_mode must be true or false")),
            };
            if hedge != desk.account.perp.hedge && desk.account.has_exposure() {
                return Err(label(
                    400,
                    "POSITION_HOLDING",
                    "Positions or orders exist: dual mode cannot be changed",
                ));
            }
            desk.account.set_hedge(PERP, hedge, now);
            ok(futures_account(desk))
        }
        Kind::Leverage => {
            let i = pair(PERP, arg, shared)?;
            let lev: u32 = p
                .required("leverage")?
                .parse()
                .ok()
                .filter(|l| *l <= 100)
                .ok_or_else(|| label(400, "LEVERAGE_TOO_HIGH", "Leverage too high"))?;
            // Gate: leverage 0 is cross margin at `cross_leverage_limit`; N > 0 is isolated.
            let (isolated, lev) = if lev == 0 {
                let cross = p
                    .get("cross_leverage_limit")
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(desk.account.perp.leverage(i));
                (false, cross)
            } else {
                (true, lev)
            };
            desk.account.set_leverage(PERP, i, lev, now);
            desk.account.set_margin_mode(PERP, i, isolated, now);
            ok(position_row(shared, desk, i).unwrap_or_default())
        }
        Kind::CrossMode => {
            let i = pair(PERP, &p.required("contract")?, shared)?;
            let isolated = match p.required("mode")?.as_str() {
                "CROSS" => false,
                "ISOLATED" => true,
                _ => return Err(invalid("mode must be CROSS or ISOLATED")),
            };
            desk.account.set_margin_mode(PERP, i, isolated, now);
            ok(position_row(shared, desk, i).unwrap_or_default())
        }
        Kind::SpotAccounts => {
            let a = &desk.account;
            let rows: Vec<String> = a
                .spot
                .keys()
                .filter(|c| p.get("currency").is_none_or(|x| x == **c))
                .map(|c| {
                    Obj::new()
                        .str("currency", c)
                        .dec("available", a.free(Wallet::Spot, c))
                        .dec("locked", a.locked(Wallet::Spot, c))
                        .num("update_id", now)
                        .build()
                })
                .collect();
            ok(array(rows))
        }
        Kind::MarginAccounts => {
            let a = &desk.account;
            let side = |c: &str| {
                let total = a.margin.assets.get(c).copied().unwrap_or_default();
                let locked = a.locked(Wallet::Margin, c);
                Obj::new()
                    .str("currency", c)
                    .dec("available", total - locked)
                    .dec("locked", locked)
                    .dec(
                        "borrowed",
                        a.margin.borrowed.get(c).copied().unwrap_or_default(),
                    )
                    .str("interest", "0")
                    .build()
            };
            let rows: Vec<String> = shared
                .listing
                .instruments()
                .iter()
                .enumerate()
                .filter(|(i, _)| only.is_none_or(|o| o == *i))
                .filter_map(|(_, ins)| {
                    let l = ins.on(SPOT)?;
                    Some(
                        Obj::new()
                            .str("currency_pair", &l.symbol)
                            .num("locked", false)
                            .str("risk", "999")
                            .raw("base", &side(&ins.base))
                            .raw("quote", &side(&ins.quote))
                            .build(),
                    )
                })
                .collect();
            ok(array(rows))
        }
        Kind::AccountBook => ok(account_book(p, desk, now)),
        Kind::WalletFee => {
            let spot = desk.account.fee_rates(SPOT);
            let perp = desk.account.fee_rates(PERP);
            ok(Obj::new()
                .num("user_id", USER_ID)
                .dec("taker_fee", spot.taker)
                .dec("maker_fee", spot.maker)
                .num("gt_discount", false)
                .str("gt_taker_fee", "0")
                .str("gt_maker_fee", "0")
                .str("loan_fee", "0.18")
                .str("point_type", "1")
                .dec("futures_taker_fee", perp.taker)
                .dec("futures_maker_fee", perp.maker)
                .dec("delivery_taker_fee", perp.taker)
                .dec("delivery_maker_fee", perp.maker)
                .num("debit_fee", 3)
                .build())
        }
        Kind::Place | Kind::Cancel => unreachable!("order requests are routed before"),
    }
}

/// `GET /futures/usdt/account_book`: the funding ledger (`type=fund`, or none; other types
/// have no rows here), newest first; `change` signed from the account's side, `time` in
/// seconds with a fraction, `text` the contract and the entry id. `from`/`to` in seconds,
/// `limit` 100 by default, at most 1000; `offset` skips rows.
fn account_book(p: &Params, desk: &Desk<'_>, now: i64) -> String {
    let wanted = p.get("type").is_none_or(|t| t == "fund");
    let secs = |k: &str| p.get(k).and_then(|v| v.parse::<i64>().ok());
    let from = secs("from").map_or(now - 30 * 86_400_000, |s| s * 1000);
    let to = secs("to").map_or(now, |s| s * 1000 + 999);
    let limit = p
        .get("limit")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let offset = p
        .get("offset")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let rows: Vec<String> = desk
        .account
        .funding_ledger()
        .iter()
        .rev()
        .filter(|f| wanted && (from..=to).contains(&f.time_ms))
        .filter(|f| p.get("contract").is_none_or(|c| c == f.symbol))
        .skip(offset)
        .take(limit)
        .map(|f| {
            Obj::new()
                .num("time", seconds(f.time_ms))
                .dec("change", f.amount)
                .dec("balance", f.balance)
                .str("type", "fund")
                .str("text", &format!("{}:{}", f.symbol, f.id))
                .str("contract", &f.symbol)
                .str("trade_id", "")
                .str("id", &f.id.to_string())
                .build()
        })
        .collect();
    array(rows)
}

fn position_row(shared: &Shared, desk: &Desk<'_>, i: usize) -> Option<String> {
    let perp = &desk.account.perp;
    let l = shared.listing.get(i, PERP)?;
    let pos = perp.position(i);
    let cs = l.spec.contract_size.unwrap_or(Decimal::ONE);
    let r = desk.account.position_risk(i, &desk.tick)?;
    let mark = r.mark;
    let lev = perp.leverage(i);
    let isolated = perp.isolated.contains(&i);
    let value = pos.qty.abs() * cs * mark;
    Some(
        Obj::new()
            .num("user", USER_ID)
            .str("contract", &l.symbol)
            .num("size", pos.qty.normalize())
            .str(
                "leverage",
                &if isolated {
                    lev.to_string()
                } else {
                    "0".into()
                },
            )
            .dec("risk_limit", r.tier.cap)
            .str("leverage_max", &r.tier.max_leverage.to_string())
            .dec("maintenance_rate", r.tier.mmr)
            .dec("value", value.round_dp(8))
            .dec("margin", (value / Decimal::from(lev)).round_dp(8))
            .dec("entry_price", pos.entry)
            .dec("liq_price", r.liq_price.unwrap_or_default())
            .dec("maintenance_margin", r.maint_margin)
            .dec("mark_price", mark)
            .dec(
                "unrealised_pnl",
                ((mark - pos.entry) * pos.qty * cs).round_dp(8),
            )
            .dec("realised_pnl", pos.realized)
            .str("history_pnl", "0")
            .str("last_close_pnl", "0")
            .str("realised_point", "0")
            .str("history_point", "0")
            .num("adl_ranking", 5)
            .num("pending_orders", 0)
            .str("mode", "single")
            .str("cross_leverage_limit", &lev.to_string())
            .num("update_time", desk.now_ms / 1000)
            .build(),
    )
}

fn futures_account(desk: &Desk<'_>) -> String {
    let a = &desk.account;
    let total = a.perp.balances.get("USDT").copied().unwrap_or_default();
    let available = a.perp_available("USDT");
    let hedge = a.perp.hedge;
    let maintenance: Decimal = a
        .perp
        .positions
        .keys()
        .filter_map(|&i| a.position_risk(i, &desk.tick))
        .map(|r| r.maint_margin)
        .sum();
    Obj::new()
        .num("user", USER_ID)
        .dec("total", total)
        .str("unrealised_pnl", "0")
        .dec("position_margin", total - available)
        .str("order_margin", "0")
        .dec("available", available)
        .str("point", "0")
        .str("currency", "USDT")
        .num("in_dual_mode", hedge)
        .str("position_mode", if hedge { "dual" } else { "single" })
        .num("enable_credit", false)
        .str("position_initial_margin", "0")
        .dec("maintenance_margin", maintenance)
        .str("bonus", "0")
        .num("enable_evolved_classic", true)
        .str("cross_order_margin", "0")
        .str("cross_initial_margin", "0")
        .str("cross_maintenance_margin", "0")
        .str("cross_unrealised_pnl", "0")
        .str("cross_available", &available.normalize().to_string())
        .str("isolated_position_margin", "0")
        .num("enable_new_dual_mode", false)
        .str(
            "margin_mode",
            if a.perp.isolated.is_empty() {
                "cross"
            } else {
                "isolated"
            },
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `PRIVATE.md` §6.4: both published REST vectors, the empty-body hash, and the websocket
    /// auth value computed there (same HMAC over a different string).
    #[test]
    fn published_vectors() {
        let g1 = prehash(
            "GET",
            "/api/v4/futures/orders",
            "contract=BTC_USD&status=finished&limit=50",
            "",
            "1541993715",
        );
        assert_eq!(
            g1,
            "GET\n/api/v4/futures/orders\ncontract=BTC_USD&status=finished&limit=50\ncf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e\n1541993715"
        );
        assert_eq!(
            sign("secret", &g1),
            "55f84ea195d6fe57ce62464daaa7c3c02fa9d1dde954e4c898289c9a2407a3d6fb3faf24deff16790d726b66ac9f74526668b13bd01029199cc4fcc522418b8a"
        );
        let body = r#"{"contract":"BTC_USD","type":"limit","size":100,"price":6800,"time_in_force":"gtc"}"#;
        assert_eq!(
            sha512_hex(body.as_bytes()),
            "ad3c169203dc3026558f01b4df307641fa1fa361f086b2306658886d5708767b1854797c68d9e62fef2f991645aa82673622ebf417e091d0bd22bafe5d956cca"
        );
        let g2 = prehash("POST", "/api/v4/futures/orders", "", body, "1541993715");
        assert_eq!(
            sign("secret", &g2),
            "eae42da914a590ddf727473aff25fc87d50b64783941061f47a3fdb92742541fc4c2c14017581b4199a1418d54471c269c03a38d788d802e2c306c37636389f0"
        );
        assert_eq!(
            sign("secret", "channel=futures.orders&event=subscribe&time=1541993715"),
            "4cdab02f21aba635fce8684a050806325cb4aa74a93d00c39f2084da73614d2e1d25878ca7c9ebcbde9541cddfc5ae36b1ccde10982eb82fd09f7a30a6d43d84"
        );
    }

    #[test]
    fn texts_carry_the_prefix_and_fit() {
        assert!(valid_text("t-carry_1.a-b"));
        assert!(valid_text(&format!("t-{}", "x".repeat(28))));
        assert!(!valid_text(&format!("t-{}", "x".repeat(29))));
        assert!(!valid_text("carry1"));
        assert!(!valid_text("t-"));
        assert!(!valid_text("t-a b"));
    }

    #[test]
    fn paths_name_orders_and_contracts() {
        assert_eq!(
            endpoint("DELETE", "/api/v4/futures/usdt/orders/t-abc"),
            Some((PERP, Kind::Cancel, Some("t-abc".into())))
        );
        assert_eq!(
            endpoint("POST", "/api/v4/futures/usdt/positions/BTC_USDT/leverage"),
            Some((PERP, Kind::Leverage, Some("BTC_USDT".into())))
        );
        assert_eq!(
            endpoint("GET", "/api/v4/spot/orders/123"),
            Some((SPOT, Kind::Query, Some("123".into())))
        );
        assert_eq!(endpoint("GET", "/futures/usdt/orders"), None);
        assert_eq!(endpoint("GET", "/api/v4/futures/usdt/contracts"), None);
    }
}

//! Gate v4's private channels and websocket API as the simulator serves them (`PRIVATE.md`
//! §5.3). As on the venue they share the connection with the public channels (`GateWs` hands
//! every request on a private channel, and every `api` event, to [`GatePrivate`]).
//!
//! Private channels: `futures.orders`, `futures.usertrades` and `futures.balances` with
//! `payload` `["<user id>", contract | "!all"]` (`futures.balances`: the user id alone) — the
//! numeric id is the `user` field of `GET /futures/usdt/accounts`; `spot.orders` and
//! `spot.usertrades` with currency pairs or `"!all"`. Every subscribe carries
//! `"auth":{"method":"api_key","KEY":..,"SIGN":..}`, `SIGN` the hex HMAC-SHA512 of
//! `channel=<c>&event=<e>&time=<t>` with `t` the request's `time` (seconds, within 60 s of the
//! server). A missing or wrong signature is refused with `error.code` 4 (Gate's code for an
//! authentication failure; the message is the simulator's). `futures.orders` rows have no fee
//! (fees are in `futures.usertrades`); their numbers are JSON numbers, sizes signed contracts.
//! `spot.orders` rows carry `event` put / update / finish. `futures.balances` pushes `type`
//! `fund` for a funding settlement, `pnl` for a fill, `dnw` for a transfer.
//!
//! Websocket API: `{"time","channel":"futures.login"|"spot.login","event":"api","payload":
//! {api_key, signature, timestamp, req_id}}` with `signature` the hex HMAC-SHA512 of
//! `"api\n<channel>\n\n<timestamp>"`; then `*.order_place` (`req_param` the REST body),
//! `*.order_cancel` and `*.order_status` (`req_param.order_id`, spot also `currency_pair`)
//! run through the REST path (limits, `text` duplicates allowed, faults). Placing answers an
//! `ack:true` frame and then the result (`ack:false`); errors carry `header.status` and
//! `data.errs {label, message}`.

use std::time::Duration;

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

use super::private::{self, finish_as, signed_size, tif_name, Kind, USER_ID};
use crate::sim::account::{AccountEventKind, BalanceRow, ChangeReason, OrderUpdate};
use crate::sim::account_feed::{AccountFeed, POLL_EVERY};
use crate::sim::auth::{hmac_sha512_hex, same_signature};
use crate::sim::http::Disposition;
use crate::sim::record::{Side, Wallet};
use crate::sim::wire::{strings, Obj, Params};
use crate::sim::ws::{Close, Conn};
use crate::sim::Shared;

const PERP: Venue = Venue::new(Exchange::Gate, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Gate, Market::Spot);
/// A request's `time` may be this far from the server's clock.
const MAX_SKEW_S: i64 = 60;

/// One private subscription: a channel and the instruments it covers (`None`: all).
#[derive(Clone, Debug, PartialEq, Eq)]
struct PrivateSub {
    channel: String,
    symbols: Option<Vec<String>>,
}

impl PrivateSub {
    fn takes(&self, symbol: &str) -> bool {
        self.symbols
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == symbol))
    }
}

/// The private side of one Gate connection.
#[derive(Default)]
pub(crate) struct GatePrivate {
    feed: Option<AccountFeed>,
    subs: Vec<PrivateSub>,
    /// `futures.login` / `spot.login` succeeded.
    logged_in: [bool; 2],
}

fn is_private_channel(channel: &str) -> bool {
    matches!(
        channel,
        "futures.orders"
            | "futures.usertrades"
            | "futures.balances"
            | "spot.orders"
            | "spot.usertrades"
    )
}

fn header(now_ms: i64, channel: &str, event: &str) -> Obj {
    Obj::new()
        .num("time", now_ms / 1000)
        .num("time_ms", now_ms)
        .str("channel", channel)
        .str("event", event)
}

impl GatePrivate {
    /// Handles `req` if it is for a private channel or the websocket API; false otherwise.
    pub fn on_request(
        &mut self,
        req: &Value,
        channel: &str,
        event: &str,
        conn: &mut Conn<'_>,
    ) -> bool {
        if event == "api" {
            self.api(req, channel, conn);
            return true;
        }
        if !is_private_channel(channel) || !matches!(event, "subscribe" | "unsubscribe") {
            return false;
        }
        self.subscribe(req, channel, event, conn);
        true
    }

    pub fn poll_every(&self) -> Option<Duration> {
        self.feed.is_some().then_some(POLL_EVERY)
    }

    fn start(&mut self, conn: &Conn<'_>) {
        if self.feed.is_none() {
            self.feed = Some(AccountFeed::start(conn, Exchange::Gate));
        }
    }

    fn subscribe(&mut self, req: &Value, channel: &str, event: &str, conn: &mut Conn<'_>) {
        let now = conn.now_ms;
        let payload = strings(req.get("payload"));
        let payload_json = serde_json::to_string(&payload).unwrap_or_else(|_| "[]".into());
        let fail = |conn: &mut Conn<'_>, code: i64, message: &str| {
            conn.send(
                header(now, channel, event)
                    .raw("payload", &payload_json)
                    .raw(
                        "error",
                        &Obj::new().num("code", code).str("message", message).build(),
                    )
                    .raw("result", "{\"status\":\"fail\"}")
                    .build(),
            )
        };
        if let Err(why) = check_auth(req, channel, event, conn.shared) {
            return fail(conn, 4, why);
        }
        let futures = channel.starts_with("futures.");
        let venue = if futures { PERP } else { SPOT };
        let names: &[String] = if futures {
            // The numeric user id first, then contracts (none for balances).
            match payload.split_first() {
                Some((user, rest)) if *user == USER_ID.to_string() => rest,
                _ => {
                    return fail(
                        conn,
                        2,
                        "invalid argument: the first payload item must be the user id",
                    )
                }
            }
        } else {
            &payload
        };
        let symbols = if names.is_empty() || names.iter().any(|n| n == "!all") {
            None
        } else {
            if let Some(bad) = names
                .iter()
                .find(|n| conn.listing().find(venue, n).is_none())
            {
                return fail(conn, 2, &format!("invalid argument: unknown {bad}"));
            }
            Some(names.to_vec())
        };
        if channel != "futures.balances" && names.is_empty() {
            return fail(conn, 2, "invalid argument: payload is empty");
        }
        let sub = PrivateSub {
            channel: channel.to_string(),
            symbols,
        };
        if event == "subscribe" {
            if !self.subs.contains(&sub) {
                self.subs.push(sub);
            }
            self.start(conn);
        } else {
            self.subs.retain(|s| s.channel != channel);
        }
        let cid = conn.conn_id.clone();
        conn.send(
            header(now, channel, event)
                .str("conn_id", &cid)
                .raw("payload", &payload_json)
                .raw("error", "null")
                .raw("result", "{\"status\":\"success\"}")
                .build(),
        );
    }

    /// A websocket API request (`*.login`, `*.order_place`, `*.order_cancel`,
    /// `*.order_status`).
    fn api(&mut self, req: &Value, channel: &str, conn: &mut Conn<'_>) {
        let shared = conn.shared;
        let now = shared.venue_now_ms(Exchange::Gate);
        let payload = req.get("payload").cloned().unwrap_or(Value::Null);
        let req_id = payload
            .get("req_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (market, method) = channel.split_once('.').unwrap_or(("", ""));
        let slot = match market {
            "futures" => 0,
            "spot" => 1,
            _ => {
                return self.api_answer(
                    conn,
                    channel,
                    &req_id,
                    "400",
                    None,
                    Some(("INVALID_PARAM_VALUE", "unknown channel")),
                )
            }
        };
        let venue = if slot == 0 { PERP } else { SPOT };
        if method == "login" {
            return match check_login(&payload, channel, shared) {
                Ok(()) => {
                    self.logged_in[slot] = true;
                    self.start(conn);
                    let result = Obj::new()
                        .str("api_key", &shared.credentials.of(Exchange::Gate).api_key)
                        .str("uid", &USER_ID.to_string())
                        .build();
                    self.api_answer(conn, channel, &req_id, "200", Some(&result), None)
                }
                Err((label, message)) => {
                    self.api_answer(conn, channel, &req_id, "401", None, Some((label, message)))
                }
            };
        }
        if !self.logged_in[slot] {
            return self.api_answer(
                conn,
                channel,
                &req_id,
                "401",
                None,
                Some((
                    "INVALID_KEY",
                    "The connection is not logged in (send *.login first)",
                )),
            );
        }
        let param = payload.get("req_param").cloned().unwrap_or(Value::Null);
        let order_id = |p: &Value| {
            p.get("order_id")
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default()
        };
        let (kind, arg, body) = match method {
            "order_place" => (Kind::Place, String::new(), param.clone()),
            "order_cancel" => (Kind::Cancel, order_id(&param), Value::Null),
            "order_status" => (Kind::Query, order_id(&param), Value::Null),
            _ => {
                return self.api_answer(
                    conn,
                    channel,
                    &req_id,
                    "400",
                    None,
                    Some(("INVALID_PARAM_VALUE", "unknown channel")),
                )
            }
        };
        // Spot cancel and status name the pair as REST does, in the query.
        let query = match param.get("currency_pair").and_then(Value::as_str) {
            Some(p) if kind != Kind::Place => vec![("currency_pair".to_string(), p.to_string())],
            _ => Vec::new(),
        };
        if kind == Kind::Place {
            // The venue acknowledges the request before it answers it.
            let ack = Obj::new()
                .str("req_id", &req_id)
                .raw("req_header", "null")
                .raw("req_param", &param.to_string())
                .build();
            let cid = conn.conn_id.clone();
            conn.send(
                Obj::new()
                    .str("request_id", &req_id)
                    .num("ack", true)
                    .raw("header", &api_header(now, channel, "200", &cid, &[]))
                    .raw("data", &format!("{{\"result\":{ack}}}"))
                    .build(),
            );
        }
        let Some(reply) = private::serve(venue, kind, arg, Params::new(body, query), shared) else {
            return;
        };
        if reply.disposition != Disposition::Answer {
            conn.close = Some(Close::Abort);
            return;
        }
        let limits: Vec<(&str, String)> = reply
            .headers
            .iter()
            .map(|(k, v)| {
                let name = match *k {
                    "X-Gate-RateLimit-Requests-Remain" => "x_gate_ratelimit_requests_remain",
                    "X-Gate-RateLimit-Limit" => "x_gate_ratelimit_limit",
                    // Spelled so in the venue's docs.
                    _ => "x_gat_ratelimit_reset_timestamp",
                };
                (name, v.clone())
            })
            .collect();
        let status = reply.status.to_string();
        let body: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        let cid = conn.conn_id.clone();
        let data = if reply.status < 300 {
            format!("{{\"result\":{body}}}")
        } else {
            format!("{{\"errs\":{body}}}")
        };
        conn.send(
            Obj::new()
                .str("request_id", &req_id)
                .num("ack", false)
                .raw("header", &api_header(now, channel, &status, &cid, &limits))
                .raw("data", &data)
                .build(),
        );
    }

    fn api_answer(
        &self,
        conn: &mut Conn<'_>,
        channel: &str,
        req_id: &str,
        status: &str,
        result: Option<&str>,
        err: Option<(&str, &str)>,
    ) {
        let now = conn.shared.venue_now_ms(Exchange::Gate);
        let data = match (result, err) {
            (Some(r), _) => format!("{{\"result\":{r}}}"),
            (None, Some((label, message))) => format!(
                "{{\"errs\":{}}}",
                Obj::new()
                    .str("label", label)
                    .str("message", message)
                    .build()
            ),
            (None, None) => "{}".into(),
        };
        let cid = conn.conn_id.clone();
        conn.send(
            Obj::new()
                .str("request_id", req_id)
                .raw("header", &api_header(now, channel, status, &cid, &[]))
                .raw("data", &data)
                .build(),
        );
    }

    pub fn poll(&mut self, conn: &mut Conn<'_>) {
        let Some(feed) = self.feed.as_mut() else {
            return;
        };
        let events = feed.due(conn);
        if events.is_empty() || self.subs.is_empty() {
            return;
        }
        let rates = conn
            .shared
            .desk(Exchange::Gate)
            .map(|d| d.account.fee_rates(PERP));
        for e in events {
            let futures = e.venue == PERP;
            let now = e.time_ms;
            match &e.kind {
                AccountEventKind::Order(u) => {
                    let (orders, trades) = if futures {
                        ("futures.orders", "futures.usertrades")
                    } else {
                        ("spot.orders", "spot.usertrades")
                    };
                    for s in self.subs.iter().filter(|s| s.takes(&u.symbol)) {
                        let row = if s.channel == orders {
                            Some(if futures {
                                futures_order_row(u, rates, now)
                            } else {
                                spot_order_row(u, now)
                            })
                        } else if s.channel == trades && u.last_fill.is_some() {
                            Some(if futures {
                                futures_trade_row(u)
                            } else {
                                spot_trade_row(u)
                            })
                        } else {
                            None
                        };
                        if let Some(row) = row {
                            conn.send(update(now, &s.channel, &row));
                        }
                    }
                }
                AccountEventKind::Account {
                    reason, balances, ..
                } => {
                    if !self.subs.iter().any(|s| s.channel == "futures.balances") {
                        continue;
                    }
                    for b in balances.iter().filter(|b| b.wallet == Wallet::Perp) {
                        conn.send(update(
                            now,
                            "futures.balances",
                            &balance_row(*reason, b, now),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}

fn api_header(
    now: i64,
    channel: &str,
    status: &str,
    conn_id: &str,
    extra: &[(&str, String)],
) -> String {
    let mut o = Obj::new()
        .str("response_time", &now.to_string())
        .str("status", status)
        .str("channel", channel)
        .str("event", "api")
        .str("client_id", "127.0.0.1-0xc0000a6000")
        .str("conn_id", conn_id)
        .str("trace_id", &format!("{now:x}"));
    for (k, v) in extra {
        o = o.raw(k, v);
    }
    o.build()
}

fn update(now_ms: i64, channel: &str, row: &str) -> String {
    header(now_ms, channel, "update")
        .raw("result", &format!("[{row}]"))
        .build()
}

/// Checks a private subscribe's `auth`; Gate answers `error.code` 4 otherwise.
fn check_auth(
    req: &Value,
    channel: &str,
    event: &str,
    shared: &Shared,
) -> Result<(), &'static str> {
    let auth = req
        .get("auth")
        .ok_or("authentication required: auth is missing")?;
    let field = |k: &str| auth.get(k).and_then(Value::as_str).unwrap_or("");
    let creds = shared.credentials.of(Exchange::Gate);
    if field("method") != "api_key" || field("KEY") != creds.api_key {
        return Err("authentication failed: invalid key");
    }
    let time = req
        .get("time")
        .and_then(Value::as_i64)
        .ok_or("authentication failed: time is missing")?;
    let now_s = shared.venue_now_ms(Exchange::Gate) / 1000;
    if (now_s - time).abs() > MAX_SKEW_S {
        return Err("authentication failed: request time expired");
    }
    let want = hmac_sha512_hex(
        &creds.secret,
        format!("channel={channel}&event={event}&time={time}").as_bytes(),
    );
    if !same_signature(&want, field("SIGN"), false) {
        return Err("authentication failed: signature mismatch");
    }
    Ok(())
}

/// Checks a `*.login` payload; the label and message Gate answers otherwise.
fn check_login(
    payload: &Value,
    channel: &str,
    shared: &Shared,
) -> Result<(), (&'static str, &'static str)> {
    let field = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or("");
    let creds = shared.credentials.of(Exchange::Gate);
    if field("api_key") != creds.api_key {
        return Err(("INVALID_KEY", "Invalid key provided"));
    }
    let ts = field("timestamp");
    let now_s = shared.venue_now_ms(Exchange::Gate) / 1000;
    match ts.parse::<i64>() {
        Ok(t) if (now_s - t).abs() <= MAX_SKEW_S => {}
        _ => {
            return Err((
                "REQUEST_EXPIRED",
                "gap between request Timestamp and server time exceeds 60",
            ))
        }
    }
    let want = hmac_sha512_hex(&creds.secret, format!("api\n{channel}\n\n{ts}").as_bytes());
    if !same_signature(&want, field("signature"), false) {
        return Err(("INVALID_SIGNATURE", "Signature mismatch"));
    }
    Ok(())
}

/// A `futures.orders` row: no fee (that is in `futures.usertrades`), numbers as numbers.
fn futures_order_row(
    u: &OrderUpdate,
    rates: Option<crate::sim::account::FeeRates>,
    now: i64,
) -> String {
    let open = u.finish.is_none();
    let finish_as = match finish_as(u.finish) {
        Some(f) => f,
        None if u.filled.is_zero() => "_new",
        None => "_update",
    };
    // What did not execute, open or finished (as REST: `size - left` is what executed).
    let left = u.qty - u.filled;
    let (finish_time, finish_ms) = if open { (0, 0) } else { (now / 1000, now) };
    Obj::new()
        .str("contract", &u.symbol)
        .num("create_time", u.created_ms / 1000)
        .num("create_time_ms", u.created_ms)
        .num("fill_price", u.avg_price.unwrap_or_default().normalize())
        .str("finish_as", finish_as)
        .num("finish_time", finish_time)
        .num("finish_time_ms", finish_ms)
        .num("iceberg", 0)
        .num("id", u.order_id)
        .num("is_close", false)
        .num("is_liq", u.client_id == "liquidation")
        .num("is_reduce_only", u.reduce_only)
        .num("left", signed_size(u.side, left).normalize())
        .num("mkfr", rates.map_or(Decimal::ZERO, |r| r.maker).normalize())
        .num("price", u.price.normalize())
        .num("refr", 0)
        .num("refu", 0)
        .num("size", signed_size(u.side, u.qty).normalize())
        .str("status", if open { "open" } else { "finished" })
        .str("text", &u.client_id)
        .str("tif", tif_name(u.tif))
        .num("tkfr", rates.map_or(Decimal::ZERO, |r| r.taker).normalize())
        .str("user", &USER_ID.to_string())
        .num("update_id", now)
        .num("update_time", now)
        .str("stop_loss_price", "")
        .str("stop_profit_price", "")
        .str("biz_info", "-")
        .str("amend_text", "-")
        .str("stp_act", if u.stp.is_empty() { "-" } else { &u.stp })
        .str("stp_id", "0")
        .build()
}

/// A `futures.usertrades` row: the fill an update reports, `fee` positive when charged.
fn futures_trade_row(u: &OrderUpdate) -> String {
    let Some(f) = &u.last_fill else {
        return String::new();
    };
    Obj::new()
        .str("contract", &u.symbol)
        .num("create_time", f.time_ms / 1000)
        .num("create_time_ms", f.time_ms)
        .str("id", &f.trade_id.to_string())
        .str("order_id", &u.order_id.to_string())
        .dec("price", f.price)
        .num("size", signed_size(u.side, f.qty).normalize())
        .str("role", if f.maker { "maker" } else { "taker" })
        .str("text", &u.client_id)
        .num("fee", f.fee.normalize())
        .num("point_fee", 0)
        .build()
}

/// A `spot.orders` row; `event` says whether the order was put, updated or finished.
fn spot_order_row(u: &OrderUpdate, now: i64) -> String {
    let event = match (u.finish, &u.last_fill) {
        (Some(_), _) => "finish",
        (None, Some(_)) => "update",
        (None, None) => "put",
    };
    let finish_as = finish_as(u.finish).unwrap_or("open");
    let left = u.qty - u.filled;
    Obj::new()
        .str("id", &u.order_id.to_string())
        .str("text", &u.client_id)
        .str("create_time", &(u.created_ms / 1000).to_string())
        .str("update_time", &(now / 1000).to_string())
        .str("create_time_ms", &u.created_ms.to_string())
        .str("update_time_ms", &now.to_string())
        .str("event", event)
        .str("currency_pair", &u.symbol)
        .str("type", "limit")
        .str(
            "account",
            if u.wallet == Wallet::Margin {
                "margin"
            } else {
                "spot"
            },
        )
        .str("side", if u.side == Side::Buy { "buy" } else { "sell" })
        .dec("amount", u.qty)
        .dec("price", u.price)
        .str("time_in_force", tif_name(u.tif))
        .str("iceberg", "0")
        .dec("left", left)
        .dec("filled_amount", u.filled)
        .dec("filled_total", u.filled_value)
        .dec("avg_deal_price", u.avg_price.unwrap_or_default())
        .dec("fee", u.fee)
        .str("fee_currency", &u.fee_asset)
        .str("point_fee", "0")
        .str("gt_fee", "0")
        .str("rebated_fee", "0")
        .str("rebated_fee_currency", "USDT")
        .str("finish_as", finish_as)
        .num("user", USER_ID)
        .build()
}

/// A `spot.usertrades` row.
fn spot_trade_row(u: &OrderUpdate) -> String {
    let Some(f) = &u.last_fill else {
        return String::new();
    };
    Obj::new()
        .num("id", f.trade_id)
        .num("user_id", USER_ID)
        .str("order_id", &u.order_id.to_string())
        .str("currency_pair", &u.symbol)
        .num("create_time", f.time_ms / 1000)
        .str("create_time_ms", &f.time_ms.to_string())
        .str("side", if u.side == Side::Buy { "buy" } else { "sell" })
        .dec("amount", f.qty)
        .str("role", if f.maker { "maker" } else { "taker" })
        .dec("price", f.price)
        .dec("fee", f.fee)
        .str("fee_currency", &f.fee_asset)
        .str("point_fee", "0")
        .str("gt_fee", "0")
        .str("text", &u.client_id)
        .build()
}

/// A `futures.balances` row: `fund` for funding, `dnw` for a transfer, `pnl` for a fill.
fn balance_row(reason: ChangeReason, b: &BalanceRow, now: i64) -> String {
    let kind = match reason {
        ChangeReason::Funding => "fund",
        ChangeReason::Transfer => "dnw",
        ChangeReason::Order => "pnl",
    };
    Obj::new()
        .num("balance", b.total.normalize())
        .num("change", b.change.normalize())
        .str("text", "")
        .num("time", now / 1000)
        .num("time_ms", now)
        .str("type", kind)
        .str("user", &USER_ID.to_string())
        .str("currency", &b.asset)
        .build()
}

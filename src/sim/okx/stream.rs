//! OKX's private websocket as the simulator serves it (`PRIVATE.md` §3.3), at `/ws/v5/private`
//! on either OKX port (one connection serves SWAP and SPOT, as on the venue).
//!
//! Login: `{"op":"login","args":[{apiKey, passphrase, timestamp, sign}]}` with `timestamp` in
//! Unix **seconds** and `sign` the base64 HMAC-SHA256 of `timestamp + "GET" +
//! "/users/self/verify"`, valid for 30 s either way. Answers `{"event":"login","code":"0"}`, or
//! `{"event":"error","code":..}`: 60004 (timestamp not a number), 60005 (key), 60024
//! (passphrase), 60006 (expired), 60007 (signature; the docs' example failure is 60009 "Login
//! failed", which the venue's code table reserves for other failures). Text `ping` gets `pong`.
//!
//! Channels after login (before it: 60011 "Please log in"): `orders` (`instType`
//! SPOT/SWAP/ANY, optional `instId`), `positions` and `balance_and_position`. Nothing is
//! pushed at subscribe time. `orders` rows carry the order's state and, on a fill, that fill
//! (`fillSz`, `fillPx`, `tradeId`, `fillFee` negative when charged, `execType` T/M); sizes are
//! contracts on SWAP. `balance_and_position` pushes `eventType` filled / funding_fee /
//! transferred_in / transferred_out with the account-wide cash balance of each currency.
//!
//! Order entry on the same connection: `{"id","op":"order"|"cancel-order","args":[{...}]}`,
//! instruments by `instId` or `instIdCode`, through the REST path (limits, duplicate
//! `clOrdId` while pending, faults); the answer mirrors REST with the request's `id` and `op`.

use std::time::Duration;

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

use super::private::{self, finish_source, ord_type, order_state, side_name, sign, Kind, UID};
use crate::sim::account::{AccountEventKind, BalanceRow, ChangeReason, OrderUpdate, PositionRow};
use crate::sim::account_feed::{AccountFeed, POLL_EVERY};
use crate::sim::auth::same_signature;
use crate::sim::http::Disposition;
use crate::sim::market::MarketTick;
use crate::sim::record::Wallet;
use crate::sim::wire::{array, Obj, Params};
use crate::sim::ws::{json_str, Close, Conn, Handshake, Protocol, Reject, Sub};
use crate::sim::Shared;

const PERP: Venue = Venue::new(Exchange::Okx, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Okx, Market::Spot);
/// A login's timestamp may be this far from the server's clock, either way.
const LOGIN_SKEW_S: i64 = 30;

pub(crate) fn protocol(_venue: Venue, path: &str) -> Option<Box<dyn Protocol>> {
    let p = path.split('?').next().unwrap_or("");
    (p == "/ws/v5/private" || p == "/ws/v5/private/").then(|| Box::new(Private::default()) as _)
}

/// One private subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Channel {
    name: String,
    /// `orders`/`positions`: SWAP, SPOT or ANY.
    inst_type: String,
    inst_id: Option<String>,
}

impl Channel {
    fn takes(&self, venue: Venue, symbol: &str) -> bool {
        let type_ok = match self.inst_type.as_str() {
            "SWAP" => venue == PERP,
            "SPOT" => venue == SPOT,
            _ => true,
        };
        type_ok && self.inst_id.as_deref().is_none_or(|i| i == symbol)
    }

    fn arg(&self) -> String {
        let mut o = Obj::new().str("channel", &self.name);
        if !self.inst_type.is_empty() {
            o = o.str("instType", &self.inst_type);
        }
        if let Some(i) = &self.inst_id {
            o = o.str("instId", i);
        }
        o.build()
    }

    /// The `arg` of a push, which adds the account's `uid`.
    fn push_arg(&self) -> String {
        let mut o = Obj::new().str("channel", &self.name);
        if !self.inst_type.is_empty() {
            o = o.str("instType", &self.inst_type);
        }
        if let Some(i) = &self.inst_id {
            o = o.str("instId", i);
        }
        o.str("uid", UID).build()
    }
}

#[derive(Default)]
struct Private {
    feed: Option<AccountFeed>,
    channels: Vec<Channel>,
}

fn conn_id(conn: &Conn<'_>) -> String {
    conn.conn_id.chars().filter(|c| *c != '-').take(8).collect()
}

fn error(conn: &mut Conn<'_>, id: Option<&str>, code: &str, msg: &str) {
    let cid = conn_id(conn);
    let mut o = Obj::new();
    if let Some(id) = id {
        o = o.str("id", id);
    }
    conn.send(
        o.str("event", "error")
            .str("code", code)
            .str("msg", msg)
            .str("connId", &cid)
            .build(),
    );
}

/// Checks one login argument; the error code and message OKX answers otherwise.
fn check_login(arg: &Value, shared: &Shared) -> Result<(), (&'static str, &'static str)> {
    let field = |k: &str| arg.get(k).and_then(Value::as_str).unwrap_or("");
    let creds = shared.credentials.of(Exchange::Okx);
    if field("apiKey") != creds.api_key {
        return Err(("60005", "Invalid OK-ACCESS-KEY"));
    }
    let ts = field("timestamp");
    let Ok(ts_s) = ts.parse::<i64>() else {
        return Err(("60004", "Invalid timestamp"));
    };
    let now_s = shared.venue_now_ms(Exchange::Okx) / 1000;
    if (now_s - ts_s).abs() > LOGIN_SKEW_S {
        return Err(("60006", "Timestamp request expired"));
    }
    if field("passphrase") != creds.passphrase {
        return Err(("60024", "Wrong passphrase"));
    }
    let want = sign(&creds.secret, &format!("{ts}GET/users/self/verify"));
    if !same_signature(&want, field("sign"), false) {
        return Err(("60007", "Invalid sign"));
    }
    Ok(())
}

impl Private {
    fn login(&mut self, req: &Value, conn: &mut Conn<'_>) {
        let Some(arg) = req
            .get("args")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        else {
            return error(conn, None, "60013", "Invalid args");
        };
        match check_login(arg, conn.shared) {
            Ok(()) => {
                if self.feed.is_none() {
                    self.feed = Some(AccountFeed::start(conn, Exchange::Okx));
                }
                let cid = conn_id(conn);
                conn.send(
                    Obj::new()
                        .str("event", "login")
                        .str("code", "0")
                        .str("msg", "")
                        .str("connId", &cid)
                        .build(),
                );
            }
            Err((code, msg)) => error(conn, None, code, msg),
        }
    }

    fn subscribe(&mut self, req: &Value, op: &str, conn: &mut Conn<'_>) {
        let id = req.get("id").and_then(Value::as_str);
        if self.feed.is_none() {
            return error(conn, id, "60011", "Please log in");
        }
        let Some(args) = req.get("args").and_then(Value::as_array) else {
            return error(conn, id, "60013", "Invalid args");
        };
        let mut parsed = Vec::new();
        for a in args {
            let name = a.get("channel").and_then(Value::as_str).unwrap_or("");
            let inst_type = a.get("instType").and_then(Value::as_str).unwrap_or("");
            let ok = match name {
                "orders" | "positions" => {
                    matches!(inst_type, "SWAP" | "SPOT" | "ANY")
                        && (name == "orders" || inst_type != "SPOT")
                }
                "balance_and_position" => true,
                _ => false,
            };
            if !ok {
                return error(
                    conn,
                    id,
                    "60018",
                    &format!("Wrong URL or channel:{name},instType:{inst_type} doesn't exist. Please use the correct URL, channel and parameters referring to API document."),
                );
            }
            parsed.push(Channel {
                name: name.to_string(),
                inst_type: inst_type.to_string(),
                inst_id: a.get("instId").and_then(Value::as_str).map(str::to_string),
            });
        }
        let cid = conn_id(conn);
        for ch in parsed {
            if op == "subscribe" {
                if !self.channels.contains(&ch) {
                    self.channels.push(ch.clone());
                }
            } else {
                self.channels.retain(|c| *c != ch);
            }
            let mut o = Obj::new();
            if let Some(id) = id {
                o = o.str("id", id);
            }
            conn.send(
                o.str("event", op)
                    .raw("arg", &ch.arg())
                    .str("connId", &cid)
                    .build(),
            );
        }
    }

    /// `order` / `cancel-order`: the REST path, answered in the websocket's envelope.
    fn trade(&mut self, req: &Value, op: &str, conn: &mut Conn<'_>) {
        let id = req
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let answer = |conn: &mut Conn<'_>, code: &str, msg: &str, data: &str| {
            conn.send(
                Obj::new()
                    .str("id", &id)
                    .str("op", op)
                    .raw("data", data)
                    .str("code", code)
                    .str("msg", msg)
                    .build(),
            )
        };
        if self.feed.is_none() {
            return answer(conn, "60011", "Please log in", "[]");
        }
        let valid_id =
            (1..=32).contains(&id.len()) && id.bytes().all(|c| c.is_ascii_alphanumeric());
        let Some(arg) = req
            .get("args")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_object)
            .filter(|_| valid_id)
        else {
            return answer(conn, "60013", "Invalid args", "[]");
        };
        let mut arg = arg.clone();
        if let Some(code) = arg.get("instIdCode").and_then(Value::as_u64) {
            match inst_of_code(conn.shared, code as usize) {
                Some(inst) => {
                    arg.insert("instId".into(), Value::String(inst));
                }
                None => return answer(conn, "51001", "Instrument ID does not exist", "[]"),
            }
        }
        let kind = if op == "order" {
            Kind::Place
        } else {
            Kind::Cancel
        };
        let Some(reply) = private::serve(
            kind,
            Params::new(Value::Object(arg), Vec::new()),
            conn.shared,
        ) else {
            return;
        };
        match reply.disposition {
            Disposition::Answer => {
                let rest: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
                let mut o = Obj::new()
                    .str("id", &id)
                    .str("op", op)
                    .raw("data", &rest["data"].to_string())
                    .str("code", rest["code"].as_str().unwrap_or("50001"))
                    .str("msg", rest["msg"].as_str().unwrap_or(""));
                if let (Some(i), Some(o2)) = (rest["inTime"].as_str(), rest["outTime"].as_str()) {
                    o = o.str("inTime", i).str("outTime", o2);
                }
                conn.send(o.build());
            }
            Disposition::DropAnswer | Disposition::Reset => conn.close = Some(Close::Abort),
        }
    }
}

fn inst_of_code(shared: &Shared, code: usize) -> Option<String> {
    let listing = &shared.listing;
    (0..listing.instruments().len())
        .flat_map(|i| [(PERP, i), (SPOT, i)])
        .find(|&(v, i)| super::inst_id_code(v, i) == code)
        .and_then(|(v, i)| listing.get(i, v))
        .map(|l| l.symbol.clone())
}

impl Protocol for Private {
    fn on_connect(&mut self, _hs: &Handshake<'_>, _conn: &mut Conn<'_>) -> Result<(), Reject> {
        Ok(())
    }

    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) {
        if text == "ping" {
            return conn.send("pong".to_string());
        }
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            return error(
                conn,
                None,
                "60012",
                &format!("Invalid request: {}", json_str(text)),
            );
        };
        match req.get("op").and_then(Value::as_str).unwrap_or("") {
            "login" => self.login(&req, conn),
            op @ ("subscribe" | "unsubscribe") => self.subscribe(&req, op, conn),
            op @ ("order" | "cancel-order") => self.trade(&req, op, conn),
            other => error(conn, None, "60019", &format!("Invalid op: {other}")),
        }
    }

    fn render(&mut self, _sub: &Sub, _tick: &MarketTick, _conn: &mut Conn<'_>) {}

    fn poll_every(&self) -> Option<Duration> {
        self.feed.is_some().then_some(POLL_EVERY)
    }

    fn poll(&mut self, conn: &mut Conn<'_>) {
        let Some(feed) = self.feed.as_mut() else {
            return;
        };
        let events = feed.due(conn);
        if events.is_empty() || self.channels.is_empty() {
            return;
        }
        let tick = conn.shared.market.now();
        for e in events {
            match &e.kind {
                AccountEventKind::Order(u) => {
                    for ch in self.channels.iter().filter(|c| c.name == "orders") {
                        if ch.takes(e.venue, &u.symbol) {
                            let row = order_row(conn.shared, e.venue, u, e.time_ms);
                            conn.send(push(ch, &row));
                        }
                    }
                }
                AccountEventKind::Account {
                    reason,
                    balances,
                    positions,
                } => {
                    for ch in &self.channels {
                        let msg = match ch.name.as_str() {
                            "positions" if !positions.is_empty() => positions
                                .iter()
                                .filter(|p| ch.takes(PERP, &p.symbol))
                                .map(|p| position_row(conn.shared, &tick, p, e.time_ms))
                                .reduce(|a, b| format!("{a},{b}"))
                                .map(|rows| push(ch, &rows)),
                            "balance_and_position" => Some(push(
                                ch,
                                &balance_and_position(
                                    conn.shared,
                                    *reason,
                                    balances,
                                    positions,
                                    e.time_ms,
                                ),
                            )),
                            _ => None,
                        };
                        if let Some(m) = msg {
                            conn.send(m);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn push(ch: &Channel, rows: &str) -> String {
    format!("{{\"arg\":{},\"data\":[{rows}]}}", ch.push_arg())
}

/// One `orders` row (the order, and the fill this update reports).
fn order_row(shared: &Shared, venue: Venue, u: &OrderUpdate, time_ms: i64) -> String {
    let perp = venue == PERP;
    let f = u.last_fill.as_ref();
    let cs = shared
        .listing
        .get(u.instrument, venue)
        .and_then(|l| l.spec.contract_size)
        .unwrap_or(Decimal::ONE);
    let opt = |d: Option<Decimal>| d.map_or(String::new(), |d| d.normalize().to_string());
    Obj::new()
        .str("instType", if perp { "SWAP" } else { "SPOT" })
        .str("instId", &u.symbol)
        .str("tgtCcy", "")
        .str("ccy", "")
        .str("ordId", &u.order_id.to_string())
        .str("clOrdId", &u.client_id)
        .str("tag", "")
        .dec("px", u.price)
        .dec("sz", u.qty)
        .str(
            "notionalUsd",
            &(u.qty * cs * u.price).round_dp(8).normalize().to_string(),
        )
        .str("ordType", ord_type(u.tif))
        .str("side", side_name(u.side))
        .str("posSide", if perp { "net" } else { "" })
        .str(
            "tdMode",
            match u.wallet {
                Wallet::Spot => "cash",
                _ => "cross",
            },
        )
        .str("fillPx", &opt(f.map(|f| f.price)))
        .str(
            "tradeId",
            &f.map_or(String::new(), |f| f.trade_id.to_string()),
        )
        .str("fillSz", &or_zero(f.map(|f| f.qty)))
        .str("fillPnl", "0")
        .str(
            "fillTime",
            &f.map_or(String::new(), |f| f.time_ms.to_string()),
        )
        // OKX fees are negative when charged.
        .str("fillFee", &or_zero(f.map(|f| -f.fee)))
        .str("fillFeeCcy", f.map_or("", |f| f.fee_asset.as_str()))
        .str(
            "execType",
            f.map_or("", |f| if f.maker { "M" } else { "T" }),
        )
        .dec("accFillSz", u.filled)
        .str(
            "fillNotionalUsd",
            &opt(f.map(|f| (f.qty * cs * f.price).round_dp(8))),
        )
        .str("avgPx", &or_zero(u.avg_price))
        .str("state", order_state(u.finish, u.filled))
        .str("lever", "")
        .str("pnl", "0")
        .str("feeCcy", &u.fee_asset)
        .dec("fee", -u.fee)
        .str("rebateCcy", "")
        .str("rebate", "0")
        .str("category", "normal")
        .str("uTime", &time_ms.to_string())
        .str("cTime", &u.created_ms.to_string())
        .str("source", "")
        .str("reduceOnly", if u.reduce_only { "true" } else { "false" })
        .str("cancelSource", finish_source(u.finish))
        .str("quickMgnType", "")
        .str("stpId", "")
        .str("stpMode", &u.stp)
        .str("attachAlgoClOrdId", "")
        .str("amendResult", "")
        .str("reqId", "")
        .str("code", "0")
        .str("msg", "")
        .build()
}

/// A decimal, or "0" where there is none (OKX prints "0" where nothing has filled).
fn or_zero(d: Option<Decimal>) -> String {
    d.map_or("0".to_string(), |d| d.normalize().to_string())
}

/// One `positions` row, with margin, maintenance margin and liquidation price.
fn position_row(shared: &Shared, tick: &MarketTick, p: &PositionRow, time_ms: i64) -> String {
    let risk = shared
        .desk(Exchange::Okx)
        .and_then(|d| d.account.position_risk(p.instrument, tick));
    let quote = shared
        .listing
        .instruments()
        .get(p.instrument)
        .map(|i| i.quote.as_str())
        .unwrap_or("USDT");
    let (mark, imr, mmr, liq, upl) = match risk {
        Some(r) => (
            r.mark.normalize().to_string(),
            r.initial_margin.normalize().to_string(),
            r.maint_margin.normalize().to_string(),
            r.liq_price
                .filter(|l| !l.is_zero())
                .map_or(String::new(), |l| l.to_string()),
            r.upnl.normalize().to_string(),
        ),
        None => Default::default(),
    };
    Obj::new()
        .str("adl", "1")
        .dec("availPos", p.qty.abs())
        .dec("avgPx", p.entry)
        .str("cTime", &time_ms.to_string())
        .str("ccy", quote)
        .str("imr", &imr)
        .str("instId", &p.symbol)
        .str("instType", "SWAP")
        .str("lever", &p.leverage.to_string())
        .str("liqPx", &liq)
        .str("markPx", &mark)
        .str("mgnMode", if p.isolated { "isolated" } else { "cross" })
        .str("mmr", &mmr)
        .dec("pos", p.qty)
        .str("posCcy", "")
        .str("posId", &(p.instrument + 1).to_string())
        .str("posSide", "net")
        .dec("realizedPnl", p.realized)
        .str("upl", &upl)
        .str("uTime", &time_ms.to_string())
        .str("pTime", &time_ms.to_string())
        .build()
}

/// One `balance_and_position` row. OKX's account is unified: `cashBal` is the currency's
/// balance across the simulator's perp, spot and margin wallets.
fn balance_and_position(
    shared: &Shared,
    reason: ChangeReason,
    balances: &[BalanceRow],
    positions: &[PositionRow],
    time_ms: i64,
) -> String {
    let event_type = match reason {
        ChangeReason::Order => "filled",
        ChangeReason::Funding => "funding_fee",
        ChangeReason::Transfer if balances.iter().all(|b| b.change >= Decimal::ZERO) => {
            "transferred_in"
        }
        ChangeReason::Transfer => "transferred_out",
    };
    let desk = shared.desk(Exchange::Okx);
    let bal: Vec<String> = balances
        .iter()
        .map(|b| {
            let cash = desk.as_ref().map_or(b.total, |d| {
                [Wallet::Perp, Wallet::Spot, Wallet::Margin]
                    .iter()
                    .map(|w| d.account.total(*w, &b.asset))
                    .sum()
            });
            Obj::new()
                .str("ccy", &b.asset)
                .dec("cashBal", cash)
                .str("uTime", &time_ms.to_string())
                .build()
        })
        .collect();
    let pos: Vec<String> = positions
        .iter()
        .map(|p| {
            Obj::new()
                .str("posId", &(p.instrument + 1).to_string())
                .str("tradeId", "")
                .str("instId", &p.symbol)
                .str("instType", "SWAP")
                .str("mgnMode", if p.isolated { "isolated" } else { "cross" })
                .str("posSide", "net")
                .dec("pos", p.qty)
                .str("ccy", "USDT")
                .str("posCcy", "")
                .dec("avgPx", p.entry)
                .str("uTime", &time_ms.to_string())
                .build()
        })
        .collect();
    Obj::new()
        .str("pTime", &time_ms.to_string())
        .str("eventType", event_type)
        .raw("balData", &array(bal))
        .raw("posData", &array(pos))
        .raw("trades", "[]")
        .build()
}

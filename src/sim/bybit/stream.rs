//! Bybit v5's private websockets as the simulator serves them (`PRIVATE.md` §2.3), on either
//! Bybit port: `/v5/private` (account topics) and `/v5/trade` (order entry). One unified
//! account serves `linear` and `spot`.
//!
//! Auth: `{"req_id","op":"auth","args":[apiKey, expires, signature]}` with `expires` in ms (it
//! must lie in the future) and `signature` the hex HMAC-SHA256 of `"GET/realtime" + expires`;
//! `{"success":true,"ret_msg":"","op":"auth","conn_id":..}` or `success:false`. Bybit does not
//! document its failure messages; the simulator answers "error:request expired", "Invalid
//! apikey" and "Invalid sign". `{"op":"ping"}` gets the private pong
//! `{"op":"pong","args":["<ms>"]}`.
//!
//! Topics (after auth; before it every request is refused): `order`, `execution`, `position`,
//! `wallet`, or categorised `order.linear` / `order.spot` / `execution.linear` /
//! `execution.spot` / `position.linear`. Pushes are `{"id","topic","creationTime","data":[..]}`:
//! `order` rows as `/v5/order/realtime` lists them (`orderStatus`, `cumExecQty`, `avgPrice`
//! `""` before a fill, `cumFeeDetail`), `execution` rows per fill (`execType` Trade, `execFee`
//! positive when charged, `isMaker`) and per funding settlement (`execType` Funding, `execFee`
//! positive when paid, `feeRate` the rate: Bybit's execution list carries funding that way),
//! `position` rows with `positionMM` and `liqPrice`, and the whole `wallet`.
//!
//! `/v5/trade`: after auth, `{"reqId","header":{"X-BAPI-TIMESTAMP","X-BAPI-RECV-WINDOW"},
//! "op":"order.create"|"order.cancel","args":[{REST body}]}`, the header timestamp checked as
//! REST checks it (10002), run through the REST path (limits, duplicate `orderLinkId` always
//! refused, faults); answers `{"reqId","retCode","retMsg","op","data","retExtInfo","header",
//! "connId"}` with the limit headers.
//!
//! A live private or trade connection also renews the account's DCP window, as Bybit's
//! disconnect-cancel protection counts from the last private connection's heartbeat.

use std::time::{Duration, Instant};

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

use super::private::{
    self, cancel_type, reject_reason, side_name, sign, status, tif_name, wallet_account, Kind,
};
use crate::sim::account::{AccountEventKind, OrderUpdate, PositionRow};
use crate::sim::account_feed::{AccountFeed, POLL_EVERY};
use crate::sim::auth::same_signature;
use crate::sim::http::Disposition;
use crate::sim::market::MarketTick;
use crate::sim::record::{FundingPayment, Wallet};
use crate::sim::wire::{array, strings, Obj, Params};
use crate::sim::ws::{json_str, Close, Conn, Handshake, Protocol, Reject, Sub};
use crate::sim::Shared;

const PERP: Venue = Venue::new(Exchange::Bybit, Market::Perp);
const DEFAULT_RECV_WINDOW: i64 = 5_000;
/// How often a live private connection renews the DCP window.
const DCP_RENEW: Duration = Duration::from_millis(500);

pub(crate) fn protocol(_venue: Venue, path: &str) -> Option<Box<dyn Protocol>> {
    let p = path.split('?').next().unwrap_or("").trim_end_matches('/');
    let mode = match p {
        "/v5/private" => Mode::Private,
        "/v5/trade" => Mode::Trade,
        _ => return None,
    };
    Some(Box::new(BybitPrivate {
        mode,
        feed: None,
        topics: Vec::new(),
        last_renewal: Instant::now(),
    }))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Private,
    Trade,
}

struct BybitPrivate {
    mode: Mode,
    /// Set by a successful auth.
    feed: Option<AccountFeed>,
    topics: Vec<String>,
    last_renewal: Instant,
}

fn reply(conn: &Conn<'_>, success: bool, msg: &str, op: &str, req_id: Option<&str>) -> String {
    let mut o = Obj::new()
        .num("success", success)
        .str("ret_msg", msg)
        .str("op", op)
        .str("conn_id", &conn.conn_id);
    if let Some(r) = req_id {
        o = o.str("req_id", r);
    }
    o.build()
}

/// Checks `args: [apiKey, expires, signature]`; the failure message otherwise.
fn check_auth(args: &[Value], shared: &Shared) -> Result<(), &'static str> {
    let creds = shared.credentials.of(Exchange::Bybit);
    let (Some(key), Some(expires), Some(sent)) = (
        args.first().and_then(Value::as_str),
        args.get(1),
        args.get(2).and_then(Value::as_str),
    ) else {
        return Err("Params Error");
    };
    let expires_text = match expires {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let Ok(expires_ms) = expires_text.parse::<i64>() else {
        return Err("Params Error");
    };
    if key != creds.api_key {
        return Err("Invalid apikey");
    }
    if expires_ms <= shared.venue_now_ms(Exchange::Bybit) {
        return Err("error:request expired");
    }
    if !same_signature(
        &sign(&creds.secret, &format!("GET/realtime{expires_text}")),
        sent,
        false,
    ) {
        return Err("Invalid sign");
    }
    Ok(())
}

/// The topics a subscribe names, or the first one that is not a private topic.
fn private_topic(t: &str) -> bool {
    matches!(
        t,
        "order"
            | "order.linear"
            | "order.spot"
            | "execution"
            | "execution.linear"
            | "execution.spot"
            | "position"
            | "position.linear"
            | "wallet"
    )
}

impl BybitPrivate {
    fn wants(&self, base: &str, venue: Venue) -> bool {
        let cat = if venue.is_perp() { "linear" } else { "spot" };
        self.topics
            .iter()
            .any(|t| t == base || *t == format!("{base}.{cat}"))
    }

    fn push(conn: &mut Conn<'_>, topic: &str, seq: u64, time_ms: i64, rows: Vec<String>) {
        conn.send(
            Obj::new()
                .str("id", &format!("{:x}-{seq}", time_ms))
                .str("topic", topic)
                .num("creationTime", time_ms)
                .raw("data", &array(rows))
                .build(),
        );
    }

    fn trade(&mut self, req: &Value, op: &str, conn: &mut Conn<'_>) {
        let req_id = req.get("reqId").and_then(Value::as_str).unwrap_or("");
        let shared = conn.shared;
        let now = shared.venue_now_ms(Exchange::Bybit);
        let answer = |conn: &mut Conn<'_>, code: i64, msg: &str, data: &str, header: &str| {
            let cid = conn.conn_id.clone();
            conn.send(
                Obj::new()
                    .str("reqId", req_id)
                    .num("retCode", code)
                    .str("retMsg", msg)
                    .str("op", op)
                    .raw("data", data)
                    .raw("retExtInfo", "{}")
                    .raw("header", header)
                    .str("connId", &cid)
                    .build(),
            )
        };
        if self.feed.is_none() {
            return answer(conn, 10003, "Request not authorized", "{}", "{}");
        }
        // The header's timestamp follows REST's rule: server − recvWindow <= ts < server + 1 s.
        let header = |k: &str| {
            req.get("header")
                .and_then(|h| h.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let recv = header("X-BAPI-RECV-WINDOW")
            .parse::<i64>()
            .unwrap_or(DEFAULT_RECV_WINDOW);
        let ts = header("X-BAPI-TIMESTAMP")
            .parse::<i64>()
            .unwrap_or(i64::MIN / 2);
        if !(now - recv <= ts && ts < now + 1000) {
            let msg = format!(
                "invalid request, please check your server timestamp or recv_window param. req_timestamp[{ts}],server_timestamp[{now}],recv_window[{recv}]"
            );
            return answer(conn, 10002, &msg, "{}", "{}");
        }
        let Some(arg) = req
            .get("args")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .filter(|a| a.is_object())
        else {
            return answer(conn, 10001, "params error: args is empty", "{}", "{}");
        };
        let kind = if op == "order.create" {
            Kind::Create
        } else {
            Kind::Cancel
        };
        let Some(reply) = private::serve(kind, Params::new(arg.clone(), Vec::new()), shared) else {
            return;
        };
        match reply.disposition {
            Disposition::Answer => {
                let rest: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
                let mut h = Obj::new();
                for (k, v) in &reply.headers {
                    h = h.str(k, v);
                }
                let h = h
                    .str("Traceid", &format!("{:032x}", now))
                    .str("Timenow", &now.to_string())
                    .build();
                answer(
                    conn,
                    rest["retCode"].as_i64().unwrap_or(10016),
                    rest["retMsg"].as_str().unwrap_or(""),
                    &rest["result"].to_string(),
                    &h,
                );
            }
            Disposition::DropAnswer | Disposition::Reset => conn.close = Some(Close::Abort),
        }
    }
}

impl Protocol for BybitPrivate {
    fn on_connect(&mut self, _hs: &Handshake<'_>, _conn: &mut Conn<'_>) -> Result<(), Reject> {
        Ok(())
    }

    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) {
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            let r = reply(conn, false, "error:request parse failed", "", None);
            return conn.send(r);
        };
        let req_id = req.get("req_id").and_then(Value::as_str);
        let op = req.get("op").and_then(Value::as_str).unwrap_or("");
        match op {
            "ping" => {
                let mut o = Obj::new();
                if let Some(r) = req_id {
                    o = o.str("req_id", r);
                }
                let now = conn.shared.venue_now_ms(Exchange::Bybit);
                let cid = conn.conn_id.clone();
                conn.send(
                    o.str("op", "pong")
                        .raw("args", &format!("[{}]", json_str(&now.to_string())))
                        .str("conn_id", &cid)
                        .build(),
                );
            }
            "auth" => {
                let args = req
                    .get("args")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                match check_auth(&args, conn.shared) {
                    Ok(()) => {
                        if self.feed.is_none() {
                            self.feed = Some(AccountFeed::start(conn, Exchange::Bybit));
                        }
                        let r = reply(conn, true, "", "auth", req_id);
                        conn.send(r);
                    }
                    Err(msg) => {
                        let r = reply(conn, false, msg, "auth", req_id);
                        conn.send(r);
                    }
                }
            }
            "subscribe" | "unsubscribe" if self.mode == Mode::Private => {
                if self.feed.is_none() {
                    let r = reply(conn, false, "Request not authorized", op, req_id);
                    return conn.send(r);
                }
                let args = strings(req.get("args"));
                if let Some(bad) = args.iter().find(|t| !private_topic(t)) {
                    let r = reply(conn, false, &format!("Invalid topic :[{bad}]"), op, req_id);
                    return conn.send(r);
                }
                for t in args {
                    if op == "subscribe" {
                        if !self.topics.contains(&t) {
                            self.topics.push(t);
                        }
                    } else {
                        self.topics.retain(|x| *x != t);
                    }
                }
                let r = reply(conn, true, "", op, req_id);
                conn.send(r);
            }
            op @ ("order.create" | "order.cancel") if self.mode == Mode::Trade => {
                self.trade(&req, op, conn)
            }
            other => {
                let r = reply(
                    conn,
                    false,
                    &format!("error:unknown op {other:?}"),
                    other,
                    req_id,
                );
                conn.send(r);
            }
        }
    }

    fn render(&mut self, _sub: &Sub, _tick: &MarketTick, _conn: &mut Conn<'_>) {}

    fn poll_every(&self) -> Option<Duration> {
        self.feed.is_some().then_some(POLL_EVERY)
    }

    fn poll(&mut self, conn: &mut Conn<'_>) {
        let Some(mut feed) = self.feed else {
            return;
        };
        if self.last_renewal.elapsed() >= DCP_RENEW {
            self.last_renewal = Instant::now();
            if let Some(mut desk) = conn.shared.desk(Exchange::Bybit) {
                let now = desk.now_ms;
                desk.account.renew_countdowns(now);
            }
        }
        let events = feed.due(conn);
        self.feed = Some(feed);
        if self.mode != Mode::Private || self.topics.is_empty() {
            return;
        }
        let tick = conn.shared.market.now();
        for e in events {
            match &e.kind {
                AccountEventKind::Order(u) => {
                    if self.wants("order", e.venue) {
                        Self::push(conn, "order", e.seq, e.time_ms, vec![order_row(e.venue, u)]);
                    }
                    if let (true, Some(_)) = (self.wants("execution", e.venue), &u.last_fill) {
                        let rate = conn
                            .shared
                            .desk(Exchange::Bybit)
                            .map(|d| d.account.fee_rates(e.venue))
                            .map(|r| r.of(u.last_fill.as_ref().is_some_and(|f| f.maker)))
                            .unwrap_or_default();
                        let row = execution_row(conn.shared, e.venue, u, rate, &tick);
                        Self::push(conn, "execution", e.seq, e.time_ms, vec![row]);
                    }
                }
                AccountEventKind::Funding(f) if self.wants("execution", PERP) => {
                    Self::push(conn, "execution", e.seq, e.time_ms, vec![funding_row(f)]);
                }
                AccountEventKind::Account { positions, .. } => {
                    if self.wants("position", PERP) && !positions.is_empty() {
                        let rows = positions
                            .iter()
                            .map(|p| position_row(conn.shared, &tick, p, e.time_ms))
                            .collect();
                        Self::push(conn, "position", e.seq, e.time_ms, rows);
                    }
                    if self.topics.iter().any(|t| t == "wallet") {
                        if let Some(desk) = conn.shared.desk(Exchange::Bybit) {
                            let row = wallet_account(&desk.account);
                            drop(desk);
                            Self::push(conn, "wallet", e.seq, e.time_ms, vec![row]);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// An `order` topic row.
fn order_row(venue: Venue, u: &OrderUpdate) -> String {
    let spot = venue.market == Market::Spot;
    let open = u.finish.is_none();
    let leaves = if open {
        u.qty - u.filled
    } else {
        Decimal::ZERO
    };
    let fee_detail = if u.fee.is_zero() {
        "{}".to_string()
    } else {
        Obj::new().dec(&u.fee_asset, u.fee).build()
    };
    Obj::new()
        .str("category", if spot { "spot" } else { "linear" })
        .str("symbol", &u.symbol)
        .str("orderId", &u.order_id.to_string())
        .str("orderLinkId", &u.client_id)
        .str("blockTradeId", "")
        .str("side", side_name(u.side))
        .num("positionIdx", 0)
        .str("orderStatus", status(venue, u.finish, u.filled))
        .str("cancelType", cancel_type(u.finish))
        .str("rejectReason", reject_reason(u.finish))
        .str(
            "avgPrice",
            &u.avg_price.map_or(String::new(), |a| a.to_string()),
        )
        .dec("leavesQty", leaves)
        .dec("leavesValue", leaves * u.price)
        .dec("cumExecQty", u.filled)
        .dec("cumExecValue", u.filled_value)
        .dec("cumExecFee", u.fee)
        .raw("cumFeeDetail", &fee_detail)
        .str("feeCurrency", if spot { &u.fee_asset } else { "" })
        .str("timeInForce", tif_name(u.tif))
        .str("orderType", "Limit")
        .str("stopOrderType", "")
        .str("ocoTriggerBy", "")
        .str("orderIv", "")
        .str("marketUnit", "")
        .str("triggerPrice", "")
        .str("takeProfit", "")
        .str("stopLoss", "")
        .str("tpslMode", "")
        .str("tpLimitPrice", "")
        .str("slLimitPrice", "")
        .str("tpTriggerBy", "")
        .str("slTriggerBy", "")
        .num("triggerDirection", 0)
        .str("triggerBy", "")
        .str("lastPriceOnCreated", "")
        .num("reduceOnly", u.reduce_only)
        .num("closeOnTrigger", false)
        .str("placeType", "")
        .str("smpType", if u.stp.is_empty() { "None" } else { &u.stp })
        .num("smpGroup", 0)
        .str("smpOrderId", "")
        .str("createdTime", &u.created_ms.to_string())
        .str(
            "updatedTime",
            &u.last_fill
                .as_ref()
                .map_or(u.created_ms, |f| f.time_ms)
                .to_string(),
        )
        .dec("price", u.price)
        .dec("qty", u.qty)
        .str(
            "isLeverage",
            match (spot, u.wallet) {
                (false, _) => "",
                (true, Wallet::Margin) => "1",
                (true, _) => "0",
            },
        )
        .str("closedPnl", "0")
        .build()
}

/// An `execution` topic row for the fill an update reports.
fn execution_row(
    shared: &Shared,
    venue: Venue,
    u: &OrderUpdate,
    fee_rate: Decimal,
    tick: &MarketTick,
) -> String {
    let Some(f) = &u.last_fill else {
        return String::new();
    };
    let cs = shared
        .listing
        .get(u.instrument, venue)
        .and_then(|l| l.spec.contract_size)
        .unwrap_or(Decimal::ONE);
    let leg = tick.leg(u.instrument, venue);
    Obj::new()
        .str("category", if venue.is_perp() { "linear" } else { "spot" })
        .str("symbol", &u.symbol)
        .dec("execFee", f.fee)
        .str("execId", &f.trade_id.to_string())
        .dec("execPrice", f.price)
        .dec("execQty", f.qty)
        .str("execType", "Trade")
        .dec("execValue", f.qty * f.price * cs)
        .num("isMaker", f.maker)
        .dec("feeRate", fee_rate)
        .str("tradeIv", "")
        .str("markIv", "")
        .str("blockTradeId", "")
        .str(
            "markPrice",
            &leg.map_or(String::new(), |l| l.mark.to_string()),
        )
        .str(
            "indexPrice",
            &leg.map_or(String::new(), |l| l.index.to_string()),
        )
        .str("underlyingPrice", "")
        .dec(
            "leavesQty",
            if u.finish.is_none() {
                u.qty - u.filled
            } else {
                Decimal::ZERO
            },
        )
        .str("orderId", &u.order_id.to_string())
        .str("orderLinkId", &u.client_id)
        .dec("orderPrice", u.price)
        .dec("orderQty", u.qty)
        .str("orderType", "Limit")
        .str("stopOrderType", "UNKNOWN")
        .str("side", side_name(u.side))
        .str("execTime", &f.time_ms.to_string())
        .str(
            "isLeverage",
            if u.wallet == Wallet::Margin { "1" } else { "0" },
        )
        .str("closedSize", "")
        .num("seq", f.trade_id)
        .str("feeCurrency", &f.fee_asset)
        .build()
}

/// A funding settlement as an `execution` row (`execType` Funding; `execFee` positive when
/// the position paid, as fees are).
fn funding_row(f: &FundingPayment) -> String {
    Obj::new()
        .str("category", "linear")
        .str("symbol", &f.symbol)
        .dec("execFee", -f.amount)
        .str("execId", &format!("funding-{}", f.id))
        .dec("execPrice", f.mark)
        .dec("execQty", f.position.abs())
        .str("execType", "Funding")
        .dec("execValue", (f.position.abs() * f.mark).round_dp(8))
        .num("isMaker", false)
        .dec("feeRate", f.rate)
        .str("orderId", "")
        .str("orderLinkId", "")
        .str(
            "side",
            if f.position > Decimal::ZERO {
                "Buy"
            } else {
                "Sell"
            },
        )
        .str("execTime", &f.time_ms.to_string())
        .num("seq", f.id)
        .str("feeCurrency", &f.asset)
        .build()
}

/// A `position` topic row, with maintenance margin and liquidation price.
fn position_row(shared: &Shared, tick: &MarketTick, p: &PositionRow, time_ms: i64) -> String {
    let risk = shared
        .desk(Exchange::Bybit)
        .and_then(|d| d.account.position_risk(p.instrument, tick));
    let side = if p.qty > Decimal::ZERO {
        "Buy"
    } else if p.qty < Decimal::ZERO {
        "Sell"
    } else {
        ""
    };
    let value = p.qty.abs() * p.entry;
    let lev = Decimal::from(p.leverage);
    let mut o = Obj::new()
        .num("positionIdx", 0)
        .num("tradeMode", 0)
        .num("riskId", risk.map_or(1, |r| r.tier.number))
        .dec("riskLimitValue", risk.map_or(Decimal::ZERO, |r| r.tier.cap))
        .str("symbol", &p.symbol)
        .str("side", side)
        .dec("size", p.qty.abs())
        .dec("entryPrice", p.entry)
        .str("sessionAvgPrice", "")
        .str("leverage", &p.leverage.to_string())
        .dec("positionValue", value)
        .str("positionBalance", "0");
    o = match risk {
        Some(r) => o
            .dec("markPrice", r.mark)
            .dec("positionIM", (value / lev).round_dp(8))
            .dec("positionMM", r.maint_margin)
            .dec("unrealisedPnl", r.upnl)
            .str(
                "liqPrice",
                &r.liq_price.map_or(String::new(), |l| l.to_string()),
            ),
        None => o
            .str("markPrice", "")
            .str("positionIM", "0")
            .str("positionMM", "0")
            .str("unrealisedPnl", "0")
            .str("liqPrice", ""),
    };
    o.str("bustPrice", "")
        .str("takeProfit", "0")
        .str("stopLoss", "0")
        .str("trailingStop", "0")
        .dec("curRealisedPnl", p.realized)
        .dec("cumRealisedPnl", p.realized)
        .str("createdTime", &time_ms.to_string())
        .str("updatedTime", &time_ms.to_string())
        .str("tpslMode", "Full")
        .str("category", "linear")
        .str("positionStatus", "Normal")
        .num("adlRankIndicator", 2)
        .num("autoAddMargin", 0)
        .str("leverageSysUpdatedTime", "")
        .str("mmrSysUpdatedTime", "")
        .num("seq", time_ms)
        .num("isReduceOnly", false)
        .build()
}

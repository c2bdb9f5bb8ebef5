//! Bitget v2's private websocket as the simulator serves it (`PRIVATE.md` §4.3), at
//! `/v2/ws/private` on either Bitget port.
//!
//! Login: `{"op":"login","args":[{apiKey, passphrase, timestamp, sign}]}`, `sign` the base64
//! HMAC-SHA256 of `timestamp + "GET" + "/user/verify"`, within 30 s of the server. The docs'
//! text says milliseconds while their example and the official Go SDK send seconds; the
//! simulator accepts either (a value below 10^11 is seconds). Answers
//! `{"event":"login","code":0,"msg":""}`, or `{"event":"error","code":..}`: 30011 (key), 30012
//! (passphrase), 30013 (timestamp not a number), 30014 (expired), 30015 (signature). Text
//! `ping` gets `pong`; a connection silent for 2 minutes is closed.
//!
//! Channels after login (before it: 30004): `orders` (`instType` USDT-FUTURES with `instId`
//! `default` or a symbol; SPOT with a symbol or `default`), `fill` (USDT-FUTURES), `positions`
//! and `account` (`coin` `default`). Pushes are `{"action":"snapshot","arg":..,"data":[..],
//! "ts":..}`: `orders` rows with the order's state and the last fill (`fillPrice`,
//! `baseVolume`, `fillFee` negative when charged, `tradeScope` T/M, `feeDetail`), `status`
//! `canceled` on futures and `cancelled` on spot as documented; `positions` with
//! `liquidationPrice` and `keepMarginRate`; `account` with `available`.
//!
//! Bitget's websocket order entry needs the venue's approval (`op:"trade"`); the simulator does
//! not serve it.

use std::time::Duration;

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

use super::private::{force, order_state, side_name, sign};
use crate::sim::account::{AccountEventKind, BalanceRow, OrderUpdate, PositionRow};
use crate::sim::account_feed::{AccountFeed, POLL_EVERY};
use crate::sim::auth::same_signature;
use crate::sim::market::MarketTick;
use crate::sim::record::{Side, Wallet};
use crate::sim::wire::Obj;
use crate::sim::ws::{Conn, Handshake, Protocol, Reject, Sub};
use crate::sim::Shared;

const PERP: Venue = Venue::new(Exchange::Bitget, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Bitget, Market::Spot);
const LOGIN_SKEW_MS: i64 = 30_000;
const CLIENT_PING_LIMIT: Duration = Duration::from_secs(120);

pub(crate) fn protocol(_venue: Venue, path: &str) -> Option<Box<dyn Protocol>> {
    let p = path.split('?').next().unwrap_or("").trim_end_matches('/');
    (p == "/v2/ws/private").then(|| Box::new(Private::default()) as _)
}

/// One subscription as the client named it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Arg {
    inst_type: String,
    channel: String,
    /// `instId` (orders, fill, positions) or `coin` (account).
    target: String,
}

impl Arg {
    fn venue(&self) -> Venue {
        if self.inst_type.eq_ignore_ascii_case("SPOT") {
            SPOT
        } else {
            PERP
        }
    }

    fn takes(&self, venue: Venue, symbol: &str) -> bool {
        self.venue() == venue && (self.target == "default" || self.target == symbol)
    }

    fn json(&self) -> String {
        let key = if self.channel == "account" {
            "coin"
        } else {
            "instId"
        };
        Obj::new()
            .str("instType", &self.inst_type)
            .str("channel", &self.channel)
            .str(key, &self.target)
            .build()
    }
}

#[derive(Default)]
struct Private {
    feed: Option<AccountFeed>,
    args: Vec<Arg>,
}

fn error(conn: &mut Conn<'_>, code: u32, msg: &str) {
    conn.send(
        Obj::new()
            .str("event", "error")
            .num("code", code)
            .str("msg", msg)
            .build(),
    );
}

fn check_login(arg: &Value, shared: &Shared) -> Result<(), (u32, &'static str)> {
    let field = |k: &str| arg.get(k).and_then(Value::as_str).unwrap_or("");
    let creds = shared.credentials.of(Exchange::Bitget);
    if field("apiKey") != creds.api_key {
        return Err((30011, "Invalid ACCESS_KEY"));
    }
    if field("passphrase") != creds.passphrase {
        return Err((30012, "Invalid ACCESS_PASSPHRASE"));
    }
    let ts = field("timestamp");
    let Ok(n) = ts.parse::<i64>() else {
        return Err((30013, "Invalid ACCESS_TIMESTAMP"));
    };
    let ts_ms = if n < 100_000_000_000 { n * 1000 } else { n };
    if (shared.venue_now_ms(Exchange::Bitget) - ts_ms).abs() > LOGIN_SKEW_MS {
        return Err((30014, "Request timestamp expired"));
    }
    let want = sign(&creds.secret, &format!("{ts}GET/user/verify"));
    if !same_signature(&want, field("sign"), false) {
        return Err((30015, "Invalid signature"));
    }
    Ok(())
}

impl Protocol for Private {
    fn on_connect(&mut self, _hs: &Handshake<'_>, conn: &mut Conn<'_>) -> Result<(), Reject> {
        conn.client_ping_limit = Some(CLIENT_PING_LIMIT);
        Ok(())
    }

    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) {
        if text == "ping" {
            conn.client_pinged();
            return conn.send("pong".to_string());
        }
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            return error(conn, 30002, "illegal request");
        };
        let op = req.get("op").and_then(Value::as_str).unwrap_or("");
        let args = req
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match op {
            "login" => match args.first().map(|a| check_login(a, conn.shared)) {
                Some(Ok(())) => {
                    if self.feed.is_none() {
                        self.feed = Some(AccountFeed::start(conn, Exchange::Bitget));
                    }
                    conn.send(
                        Obj::new()
                            .str("event", "login")
                            .num("code", 0)
                            .str("msg", "")
                            .build(),
                    );
                }
                Some(Err((code, msg))) => error(conn, code, msg),
                None => error(conn, 30016, "param error: args is empty"),
            },
            "subscribe" | "unsubscribe" => {
                if self.feed.is_none() {
                    return error(conn, 30004, "User needs to log in");
                }
                let mut parsed = Vec::new();
                for a in &args {
                    let f = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    let arg = Arg {
                        inst_type: f("instType"),
                        channel: f("channel"),
                        target: if f("channel") == "account" {
                            f("coin")
                        } else {
                            f("instId")
                        },
                    };
                    let futures = arg.inst_type.eq_ignore_ascii_case("USDT-FUTURES");
                    let spot = arg.inst_type.eq_ignore_ascii_case("SPOT");
                    let ok = match arg.channel.as_str() {
                        "orders" | "account" => futures || spot,
                        "fill" | "positions" => futures,
                        _ => false,
                    } && !arg.target.is_empty();
                    if !ok {
                        return error(
                            conn,
                            30001,
                            &format!(
                                "instType:{},channel:{},instId:{} doesn't exist",
                                arg.inst_type, arg.channel, arg.target
                            ),
                        );
                    }
                    parsed.push(arg);
                }
                for arg in parsed {
                    let msg = Obj::new().str("event", op).raw("arg", &arg.json()).build();
                    if op == "subscribe" {
                        if !self.args.contains(&arg) {
                            self.args.push(arg);
                        }
                    } else {
                        self.args.retain(|a| *a != arg);
                    }
                    conn.send(msg);
                }
            }
            other => error(conn, 30003, &format!("invalid op {other:?}")),
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
        if events.is_empty() || self.args.is_empty() {
            return;
        }
        let tick = conn.shared.market.now();
        for e in events {
            let now = e.time_ms;
            match &e.kind {
                AccountEventKind::Order(u) => {
                    for a in &self.args {
                        let row = match a.channel.as_str() {
                            "orders" if a.takes(e.venue, &u.symbol) => Some(order_row(e.venue, u)),
                            "fill" if a.takes(e.venue, &u.symbol) && u.last_fill.is_some() => {
                                Some(fill_row(u))
                            }
                            _ => None,
                        };
                        if let Some(row) = row {
                            conn.send(push(a, &row, now));
                        }
                    }
                }
                AccountEventKind::Account {
                    balances,
                    positions,
                    ..
                } => {
                    for a in &self.args {
                        match a.channel.as_str() {
                            "positions" if !positions.is_empty() => {
                                let rows: Vec<String> = positions
                                    .iter()
                                    .filter(|p| a.takes(PERP, &p.symbol))
                                    .map(|p| position_row(conn.shared, &tick, p, now))
                                    .collect();
                                if !rows.is_empty() {
                                    conn.send(push(a, &rows.join(","), now));
                                }
                            }
                            "account" => {
                                let wallet = if a.venue() == PERP {
                                    Wallet::Perp
                                } else {
                                    Wallet::Spot
                                };
                                let rows: Vec<String> = balances
                                    .iter()
                                    .filter(|b| b.wallet == wallet)
                                    .filter(|b| {
                                        a.target == "default"
                                            || a.target.eq_ignore_ascii_case(&b.asset)
                                    })
                                    .map(|b| account_row(wallet, b, now))
                                    .collect();
                                if !rows.is_empty() {
                                    conn.send(push(a, &rows.join(","), now));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn push(a: &Arg, rows: &str, ts: i64) -> String {
    format!(
        "{{\"action\":\"snapshot\",\"arg\":{},\"data\":[{rows}],\"ts\":{ts}}}",
        a.json()
    )
}

/// `feeDetail`: Bitget fees are negative when charged.
fn fee_detail(u: &OrderUpdate) -> String {
    if u.fee.is_zero() {
        return "[]".into();
    }
    format!(
        "[{}]",
        Obj::new()
            .str("feeCoin", &u.fee_asset)
            .dec("fee", -u.fee)
            .build()
    )
}

/// An `orders` row (futures or spot), with the last fill where the update reports one.
fn order_row(venue: Venue, u: &OrderUpdate) -> String {
    let f = u.last_fill.as_ref();
    let opt = |d: Option<Decimal>| d.map_or(String::new(), |d| d.normalize().to_string());
    let common = |o: Obj| {
        o.str("fillPrice", &opt(f.map(|f| f.price)))
            .str(
                "tradeId",
                &f.map_or(String::new(), |f| f.trade_id.to_string()),
            )
            .str("baseVolume", &opt(f.map(|f| f.qty)))
            .str(
                "fillTime",
                &f.map_or(String::new(), |f| f.time_ms.to_string()),
            )
            .str("fillFee", &opt(f.map(|f| -f.fee)))
            .str("fillFeeCoin", f.map_or("", |f| f.fee_asset.as_str()))
            .str(
                "tradeScope",
                f.map_or("", |f| if f.maker { "M" } else { "T" }),
            )
            .dec("accBaseVolume", u.filled)
            .str("priceAvg", &opt(u.avg_price))
            .str("status", order_state(u.wallet, u.finish, u.filled))
            .str("cTime", &u.created_ms.to_string())
            .str("uTime", &f.map_or(u.created_ms, |f| f.time_ms).to_string())
            .str("stpMode", if u.stp.is_empty() { "none" } else { &u.stp })
            .raw("feeDetail", &fee_detail(u))
            .str("enterPointSource", "API")
    };
    if venue.is_perp() {
        common(
            Obj::new()
                .str("instId", &u.symbol)
                .str("orderId", &u.order_id.to_string())
                .str("clientOid", &u.client_id)
                .dec("price", u.price)
                .dec("size", u.qty)
                .str("notionalUsd", &(u.qty * u.price).normalize().to_string())
                .str("orderType", "limit")
                .str("force", force(u.tif))
                .str("side", side_name(u.side))
                .str("posSide", "net")
                .str("marginCoin", "USDT")
                .str("marginMode", "crossed")
                .str("posMode", "one_way_mode")
                .str(
                    "tradeSide",
                    if u.side == Side::Buy {
                        "buy_single"
                    } else {
                        "sell_single"
                    },
                )
                .str("reduceOnly", if u.reduce_only { "yes" } else { "no" })
                .str("leverage", "")
                .str("pnl", "0"),
        )
        .build()
    } else {
        common(
            Obj::new()
                .str("instId", &u.symbol)
                .str("orderId", &u.order_id.to_string())
                .str("clientOid", &u.client_id)
                .dec("price", u.price)
                .dec("size", u.qty)
                .dec("newSize", u.qty)
                .str("notional", &(u.qty * u.price).normalize().to_string())
                .str("orderType", "limit")
                .str("force", force(u.tif))
                .str("side", side_name(u.side)),
        )
        .build()
    }
}

/// A `fill` row (futures).
fn fill_row(u: &OrderUpdate) -> String {
    let Some(f) = &u.last_fill else {
        return String::new();
    };
    let detail = Obj::new()
        .str("feeCoin", &f.fee_asset)
        .str("deduction", "no")
        .str("totalDeductionFee", "0")
        .dec("totalFee", -f.fee)
        .build();
    Obj::new()
        .str("orderId", &u.order_id.to_string())
        .str("tradeId", &f.trade_id.to_string())
        .str("symbol", &u.symbol)
        .str("orderType", "limit")
        .str("side", side_name(u.side))
        .dec("price", f.price)
        .dec("baseVolume", f.qty)
        .str("profit", "0")
        .str(
            "tradeSide",
            if u.side == Side::Buy {
                "buy_single"
            } else {
                "sell_single"
            },
        )
        .str("posMode", "one_way_mode")
        .str("tradeScope", if f.maker { "maker" } else { "taker" })
        .raw("feeDetail", &format!("[{detail}]"))
        .str("cTime", &f.time_ms.to_string())
        .str("uTime", &f.time_ms.to_string())
        .build()
}

/// A `positions` row, with liquidation price and maintenance ratio.
fn position_row(shared: &Shared, tick: &MarketTick, p: &PositionRow, time_ms: i64) -> String {
    let risk = shared
        .desk(Exchange::Bitget)
        .and_then(|d| d.account.position_risk(p.instrument, tick));
    let lev = Decimal::from(p.leverage);
    Obj::new()
        .str("posId", &(p.instrument + 1).to_string())
        .str("instId", &p.symbol)
        .str("marginCoin", "USDT")
        .dec("marginSize", (p.qty.abs() * p.entry / lev).round_dp(8))
        .str(
            "marginMode",
            if p.isolated { "isolated" } else { "crossed" },
        )
        .str(
            "holdSide",
            if p.qty >= Decimal::ZERO {
                "long"
            } else {
                "short"
            },
        )
        .str("posMode", "one_way_mode")
        .dec("total", p.qty.abs())
        .dec("available", p.qty.abs())
        .str("frozen", "0")
        .dec("openPriceAvg", p.entry)
        .str("leverage", &p.leverage.to_string())
        .dec("achievedProfits", p.realized)
        .dec("unrealizedPL", risk.map_or(Decimal::ZERO, |r| r.upnl))
        .str("unrealizedPLR", "0")
        .dec(
            "liquidationPrice",
            risk.and_then(|r| r.liq_price).unwrap_or_default(),
        )
        .dec("keepMarginRate", risk.map_or(Decimal::ZERO, |r| r.tier.mmr))
        .str("marginRate", "0")
        .str("cTime", &time_ms.to_string())
        .dec("breakEvenPrice", p.entry)
        .str("totalFee", "0")
        .str("deductedFee", "0")
        .str("uTime", &time_ms.to_string())
        .build()
}

/// An `account` row: futures by margin coin, spot by coin.
fn account_row(wallet: Wallet, b: &BalanceRow, time_ms: i64) -> String {
    let frozen = b.total - b.available;
    if wallet == Wallet::Perp {
        Obj::new()
            .str("marginCoin", &b.asset)
            .dec("frozen", frozen)
            .dec("available", b.available)
            .dec("maxOpenPosAvailable", b.available)
            .dec("maxTransferOut", b.available)
            .dec("equity", b.total)
            .dec("usdtEquity", b.total)
            .str("crossedRiskRate", "0")
            .str("unrealizedPL", "0")
            .build()
    } else {
        Obj::new()
            .str("coin", &b.asset)
            .dec("available", b.available)
            .dec("frozen", frozen)
            .str("locked", "0")
            .str("limitAvailable", "0")
            .str("uTime", &time_ms.to_string())
            .build()
    }
}

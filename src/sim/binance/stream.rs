//! Binance's private websockets as the simulator serves them (`PRIVATE.md` §1.3):
//!
//! * **USDⓈ-M user data stream.** A listenKey from `POST /fapi/v1/listenKey` (API key only, no
//!   signature; an active key is returned again and extended), kept alive by `PUT` (extends it
//!   by the validity, 60 min on the venue and `SimConfig::listen_key_validity` here; an unknown
//!   or expired key is `-1125`), closed by `DELETE` (which also closes its streams). Streams are
//!   opened at `/private/ws?listenKey=<key>&events=A/B`, `/private/ws/<key>` or the legacy
//!   `/ws/<key>`; `events` filters what is pushed (without it: `ORDER_TRADE_UPDATE` and
//!   `ACCOUNT_UPDATE`; `TRADE_LITE` only when asked for). When the key expires the stream pushes
//!   `listenKeyExpired` once and then nothing, though the connection stays open. Events:
//!   `ORDER_TRADE_UPDATE` (`o.x` NEW / TRADE / CANCELED / EXPIRED with `o.er` 2 for an IOC
//!   remainder) and `ACCOUNT_UPDATE` with `a.m` ORDER, FUNDING_FEE (balance only; the position
//!   too when isolated, as documented), DEPOSIT or WITHDRAW.
//! * **Spot user data through the WebSocket API** (`/ws-api/v3`): listenKeys were withdrawn, so
//!   `POST/PUT/DELETE /api/v3/userDataStream` answer HTTP 410; `userDataStream.subscribe.signature`
//!   with `{apiKey, timestamp, signature[, recvWindow]}` subscribes the connection, and events
//!   come wrapped as `{"subscriptionId":N,"event":{...}}`: `executionReport` and
//!   `outboundAccountPosition`. Margin orders are not on this stream (the venue streams them
//!   through `userListenToken`, which the simulator does not serve).
//! * **Order entry over the WebSocket API**: spot `/ws-api/v3` and futures `/ws-fapi/v1` take
//!   `order.place`, `order.cancel` and `order.status` (plus `ping` and `time`), each request
//!   signed on its own: the hex HMAC-SHA256 of every parameter but `signature`, sorted by name,
//!   as `k=v&…` with raw values (the WebSocket API's rule, §1.1). They run through the same
//!   account, limits, duplicate rules and faults as REST; answers are
//!   `{"id","status","result"|"error","rateLimits"}`. An injected dropped answer closes the
//!   connection without answering.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

use super::private::{
    self, check_key, check_time, error, order_status, side_name, sign, tif_of, Kind, Params,
};
use crate::sim::account::{AccountEventKind, BalanceRow, ChangeReason, OrderUpdate, PositionRow};
use crate::sim::account_feed::{AccountFeed, POLL_EVERY};
use crate::sim::auth::same_signature;
use crate::sim::http::{Disposition, Reply, RestRequest};
use crate::sim::market::Rng;
use crate::sim::record::{Finish, TimeInForce, Wallet};
use crate::sim::wire::Obj;
use crate::sim::ws::{Close, Conn, Handshake, Protocol, Reject, Sub};
use crate::sim::{lock, Shared};

const PERP: Venue = Venue::new(Exchange::Binance, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Binance, Market::Spot);
/// What a user data stream opened without `events=` pushes. (Its protocol pings, every 3 min on
/// futures and 20 s on the spot WebSocket API, follow `SimConfig::server_ping_interval` here.)
const DEFAULT_EVENTS: [&str; 2] = ["ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"];

/// One listenKey.
#[derive(Clone, Debug)]
struct ListenKey {
    key: String,
    expires_ms: i64,
    /// Closed by `DELETE`: its streams end.
    closed: bool,
}

/// The account's listenKeys (one active at a time, as on the venue).
#[derive(Debug, Default)]
pub(crate) struct ListenKeys {
    keys: Mutex<Vec<ListenKey>>,
}

/// Where a listenKey stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyState {
    Active,
    Expired,
    Closed,
    Unknown,
}

impl ListenKeys {
    /// `POST`: the active key, extended; or a new one.
    fn create(&self, seed: u64, now_ms: i64, validity_ms: i64) -> String {
        let mut keys = lock(&self.keys);
        if let Some(k) = keys.iter_mut().find(|k| !k.closed && k.expires_ms > now_ms) {
            k.expires_ms = now_ms + validity_ms;
            return k.key.clone();
        }
        let key = listen_key(seed, keys.len() as u64);
        keys.push(ListenKey {
            key: key.clone(),
            expires_ms: now_ms + validity_ms,
            closed: false,
        });
        key
    }

    /// `PUT`: extends an active key.
    fn keepalive(&self, key: &str, now_ms: i64, validity_ms: i64) -> bool {
        let mut keys = lock(&self.keys);
        match keys
            .iter_mut()
            .find(|k| k.key == key && !k.closed && k.expires_ms > now_ms)
        {
            Some(k) => {
                k.expires_ms = now_ms + validity_ms;
                true
            }
            None => false,
        }
    }

    /// `DELETE`: closes a key (and its streams).
    fn close(&self, key: &str) -> bool {
        let mut keys = lock(&self.keys);
        match keys.iter_mut().find(|k| k.key == key && !k.closed) {
            Some(k) => {
                k.closed = true;
                true
            }
            None => false,
        }
    }

    fn state(&self, key: &str, now_ms: i64) -> KeyState {
        match lock(&self.keys).iter().find(|k| k.key == key) {
            None => KeyState::Unknown,
            Some(k) if k.closed => KeyState::Closed,
            Some(k) if k.expires_ms <= now_ms => KeyState::Expired,
            Some(_) => KeyState::Active,
        }
    }
}

/// A 64-character alphanumeric key, fixed by the seed and the key's number.
fn listen_key(seed: u64, n: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = Rng::new(seed ^ 0x4c15_7e4b ^ n.wrapping_mul(0x9e37_79b9));
    (0..64)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// Serves the listenKey endpoints: `/fapi/v1/listenKey` (API key only) and the withdrawn spot
/// `/api/v3/userDataStream` (HTTP 410).
pub(crate) fn rest(req: &RestRequest, shared: &Shared) -> Option<Reply> {
    let venue = match req.path.as_str() {
        "/fapi/v1/listenKey" => PERP,
        "/api/v3/userDataStream" => SPOT,
        _ => return None,
    };
    if !shared.listing.carries(venue) || !matches!(req.method.as_str(), "POST" | "PUT" | "DELETE") {
        return None;
    }
    if venue == SPOT {
        // What the venue answers since 2026-02-20 (hummingbot #8035 reports the status; the
        // body is the simulator's).
        return Some(Reply::new(
            SPOT,
            410,
            Obj::new()
                .num("code", -1099)
                .str(
                    "msg",
                    "listenKey user data streams were withdrawn on 2026-02-20; use userDataStream.subscribe.signature on the WebSocket API.",
                )
                .build(),
        ));
    }
    if let Err((status, body)) = check_key(req.header("x-mbx-apikey"), shared) {
        return Some(Reply::new(PERP, status, body));
    }
    let now = shared.venue_now_ms(Exchange::Binance);
    let validity = shared.listen_key_validity.as_millis() as i64;
    let keys = &shared.binance_keys;
    let key_param = || {
        req.param("listenKey").map(str::to_string).or_else(|| {
            req.form()
                .into_iter()
                .find(|(k, _)| k == "listenKey")
                .map(|(_, v)| v)
        })
    };
    let gone = || {
        let (status, body) = error(400, -1125, "This listenKey does not exist.");
        Reply::new(PERP, status, body)
    };
    Some(match req.method.as_str() {
        "POST" => {
            let key = keys.create(shared.seed, now, validity);
            Reply::ok(PERP, Obj::new().str("listenKey", &key).build())
        }
        "PUT" => {
            // Without a key the venue extends the account's active one.
            let key = match key_param() {
                Some(k) => k,
                None => match lock(&keys.keys)
                    .iter()
                    .find(|k| !k.closed && k.expires_ms > now)
                {
                    Some(k) => k.key.clone(),
                    None => return Some(gone()),
                },
            };
            if keys.keepalive(&key, now, validity) {
                Reply::ok(PERP, Obj::new().str("listenKey", &key).build())
            } else {
                gone()
            }
        }
        _ => {
            let key = key_param().or_else(|| {
                lock(&keys.keys)
                    .iter()
                    .find(|k| !k.closed)
                    .map(|k| k.key.clone())
            });
            match key {
                Some(k) if keys.close(&k) => Reply::ok(PERP, "{}".to_string()),
                _ => gone(),
            }
        }
    })
}

/// The private protocol a handshake path names on a Binance port, if any.
pub(crate) fn protocol(venue: Venue, path: &str) -> Option<Box<dyn Protocol>> {
    let (p, query) = path.split_once('?').unwrap_or((path, ""));
    match (venue.market, p) {
        (Market::Spot, "/ws-api/v3") => Some(Box::new(WsApi::new(SPOT))),
        (Market::Perp, "/ws-fapi/v1") => Some(Box::new(WsApi::new(PERP))),
        (Market::Perp, "/private/ws") | (Market::Perp, "/private/ws/") => {
            let key = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("listenKey="))
                .unwrap_or("")
                .to_string();
            let events = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("events="))
                .map(|e| e.split('/').map(str::to_string).collect());
            Some(Box::new(UserStream::new(key, events)))
        }
        (Market::Perp, _) => {
            // `/private/ws/<key>` and the legacy `/ws/<key>`; a `/ws/` path naming a market
            // stream is the market protocol's.
            let key = p
                .strip_prefix("/private/ws/")
                .or_else(|| p.strip_prefix("/ws/").filter(|k| looks_like_key(k)))?;
            Some(Box::new(UserStream::new(key.to_string(), None)))
        }
        _ => None,
    }
}

fn looks_like_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// A USDⓈ-M user data stream connection.
struct UserStream {
    key: String,
    events: Option<Vec<String>>,
    feed: Option<AccountFeed>,
    /// `listenKeyExpired` was pushed: nothing more will be.
    expired: bool,
}

impl UserStream {
    fn new(key: String, events: Option<Vec<String>>) -> UserStream {
        UserStream {
            key,
            events,
            feed: None,
            expired: false,
        }
    }

    fn wants(&self, event: &str) -> bool {
        match &self.events {
            Some(list) => list.iter().any(|e| e == event),
            None => DEFAULT_EVENTS.contains(&event),
        }
    }
}

impl Protocol for UserStream {
    fn on_connect(&mut self, _hs: &Handshake<'_>, conn: &mut Conn<'_>) -> Result<(), Reject> {
        let now = conn.shared.venue_now_ms(Exchange::Binance);
        match conn.shared.binance_keys.state(&self.key, now) {
            KeyState::Active => {}
            // The simulator refuses the handshake where the venue would leave a dead stream
            // open (its documented behaviour for a bad key is not published).
            _ => {
                return Err(Reject {
                    status: 400,
                    body: Obj::new()
                        .num("code", -1125)
                        .str("msg", "This listenKey does not exist.")
                        .build(),
                })
            }
        }
        conn.server_ping = Some(conn.shared.timing.server_ping_interval);
        self.feed = Some(AccountFeed::start(conn, Exchange::Binance));
        Ok(())
    }

    fn on_text(&mut self, _text: &str, _conn: &mut Conn<'_>) {
        // The user data stream takes no requests.
    }

    fn render(&mut self, _sub: &Sub, _tick: &crate::sim::market::MarketTick, _conn: &mut Conn<'_>) {
    }

    fn poll_every(&self) -> Option<Duration> {
        Some(POLL_EVERY)
    }

    fn poll(&mut self, conn: &mut Conn<'_>) {
        if self.expired {
            return;
        }
        let Some(mut feed) = self.feed else {
            return;
        };
        let now = conn.shared.venue_now_ms(Exchange::Binance);
        match conn.shared.binance_keys.state(&self.key, now) {
            KeyState::Active => {}
            KeyState::Closed | KeyState::Unknown => {
                conn.close = Some(Close::Graceful);
                return;
            }
            KeyState::Expired => {
                self.expired = true;
                conn.send(
                    Obj::new()
                        .str("e", "listenKeyExpired")
                        .str("E", &now.to_string())
                        .str("listenKey", &self.key)
                        .build(),
                );
                return;
            }
        }
        let tick = conn.shared.market.now();
        for e in feed.due(conn) {
            if e.venue != PERP {
                continue;
            }
            match &e.kind {
                AccountEventKind::Order(u) => {
                    if self.wants("ORDER_TRADE_UPDATE") {
                        conn.send(order_trade_update(u, e.time_ms));
                    }
                    if let (true, Some(_)) = (self.wants("TRADE_LITE"), &u.last_fill) {
                        conn.send(trade_lite(u, e.time_ms));
                    }
                }
                AccountEventKind::Account {
                    reason,
                    balances,
                    positions,
                } if self.wants("ACCOUNT_UPDATE") => {
                    let marks = |i: usize| tick.leg(i, PERP).map(|l| l.mark);
                    if let Some(msg) =
                        account_update(*reason, balances, positions, e.time_ms, marks)
                    {
                        conn.send(msg);
                    }
                }
                _ => {}
            }
        }
        self.feed = Some(feed);
    }
}

/// Execution type and order status of an update.
fn exec_and_status(u: &OrderUpdate) -> (&'static str, &'static str) {
    let status = order_status(u.finish, u.filled);
    let exec = if u.last_fill.is_some() {
        "TRADE"
    } else {
        match u.finish {
            Some(Finish::Canceled | Finish::DeadMan) => "CANCELED",
            Some(Finish::Expired | Finish::PostOnlyCanceled) => "EXPIRED",
            _ => "NEW",
        }
    };
    (exec, status)
}

fn stp_name(stp: &str) -> &str {
    if stp.is_empty() {
        "NONE"
    } else {
        stp
    }
}

/// `ORDER_TRADE_UPDATE` (futures).
pub(crate) fn order_trade_update(u: &OrderUpdate, time_ms: i64) -> String {
    let (exec, status) = exec_and_status(u);
    let f = u.last_fill.as_ref();
    let mut o = Obj::new()
        .str("s", &u.symbol)
        .str("c", &u.client_id)
        .str("S", side_name(u.side))
        .str("o", "LIMIT")
        .str("f", tif_of(PERP, u.tif))
        .dec("q", u.qty)
        .dec("p", u.price)
        .dec("ap", u.avg_price.unwrap_or_default())
        .str("sp", "0")
        .str("x", exec)
        .str("X", status)
        .num("i", u.order_id)
        .dec("l", f.map_or(Decimal::ZERO, |f| f.qty))
        .dec("z", u.filled)
        .dec("L", f.map_or(Decimal::ZERO, |f| f.price));
    if let Some(f) = f {
        o = o.str("N", &f.fee_asset).dec("n", f.fee);
    }
    let order = o
        .num("T", time_ms)
        .num("t", f.map_or(0, |f| f.trade_id))
        .str("b", "0")
        .str("a", "0")
        .num("m", f.is_some_and(|f| f.maker))
        .num("R", u.reduce_only)
        .str("wt", "CONTRACT_PRICE")
        .str("ot", "LIMIT")
        .str("ps", "BOTH")
        .num("cp", false)
        .str("rp", "0")
        .num("pP", false)
        .num("si", 0)
        .num("ss", 0)
        .str("V", stp_name(&u.stp))
        .str("pm", "NONE")
        .num("gtd", 0)
        .str(
            "er",
            if u.finish == Some(Finish::Expired) {
                "2"
            } else {
                "0"
            },
        )
        .build();
    format!("{{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":{time_ms},\"T\":{time_ms},\"o\":{order}}}")
}

/// `TRADE_LITE` (futures): one fill, slimmer.
fn trade_lite(u: &OrderUpdate, time_ms: i64) -> String {
    let Some(f) = &u.last_fill else {
        return String::new();
    };
    Obj::new()
        .str("e", "TRADE_LITE")
        .num("E", time_ms)
        .num("T", time_ms)
        .str("s", &u.symbol)
        .dec("q", f.qty)
        .dec("p", f.price)
        .num("m", f.maker)
        .str("c", &u.client_id)
        .str("S", side_name(u.side))
        .dec("L", f.price)
        .dec("l", f.qty)
        .num("t", f.trade_id)
        .num("i", u.order_id)
        .build()
}

/// `ACCOUNT_UPDATE` (futures) for a change of the perp wallet; `None` for other wallets.
fn account_update(
    reason: ChangeReason,
    balances: &[BalanceRow],
    positions: &[PositionRow],
    time_ms: i64,
    mark: impl Fn(usize) -> Option<Decimal>,
) -> Option<String> {
    let balances: Vec<&BalanceRow> = balances
        .iter()
        .filter(|b| b.wallet == Wallet::Perp)
        .collect();
    if balances.is_empty() && positions.is_empty() {
        return None;
    }
    let m = match reason {
        ChangeReason::Order => "ORDER",
        ChangeReason::Funding => "FUNDING_FEE",
        ChangeReason::Transfer if balances.iter().all(|b| b.change >= Decimal::ZERO) => "DEPOSIT",
        ChangeReason::Transfer => "WITHDRAW",
    };
    let b: Vec<String> = balances
        .iter()
        .map(|b| {
            // `bc`: the change other than PnL and commission.
            let bc = if reason == ChangeReason::Order {
                Decimal::ZERO
            } else {
                b.change
            };
            Obj::new()
                .str("a", &b.asset)
                .dec("wb", b.total)
                .dec("cw", b.total)
                .dec("bc", bc)
                .build()
        })
        .collect();
    // A funding fee on a cross position pushes the balance only (documented).
    let p: Vec<String> = positions
        .iter()
        .filter(|p| reason != ChangeReason::Funding || p.isolated)
        .map(|p| {
            let up = mark(p.instrument)
                .map(|m| ((m - p.entry) * p.qty).round_dp(8))
                .unwrap_or_default();
            Obj::new()
                .str("s", &p.symbol)
                .dec("pa", p.qty)
                .dec("ep", p.entry)
                .dec("bep", p.entry)
                .dec("cr", p.realized)
                .dec("up", up)
                .str("mt", if p.isolated { "isolated" } else { "cross" })
                .str("iw", "0")
                .str("ps", "BOTH")
                .build()
        })
        .collect();
    let a = Obj::new()
        .str("m", m)
        .raw("B", &crate::sim::wire::array(b))
        .raw("P", &crate::sim::wire::array(p))
        .build();
    Some(format!(
        "{{\"e\":\"ACCOUNT_UPDATE\",\"E\":{time_ms},\"T\":{time_ms},\"a\":{a}}}"
    ))
}

/// `executionReport` (spot), 8-decimal strings as the spot API prints them.
fn execution_report(u: &OrderUpdate, time_ms: i64) -> String {
    let (exec, status) = exec_and_status(u);
    let f = u.last_fill.as_ref();
    let d8 = |o: Obj, k: &str, v: Decimal| o.dec_dp(k, v, 8);
    let o = Obj::new()
        .str("e", "executionReport")
        .num("E", time_ms)
        .str("s", &u.symbol)
        .str("c", &u.client_id)
        .str("S", side_name(u.side))
        .str(
            "o",
            if u.tif == TimeInForce::PostOnly {
                "LIMIT_MAKER"
            } else {
                "LIMIT"
            },
        )
        .str("f", tif_of(SPOT, u.tif));
    let o = d8(o, "q", u.qty);
    let o = d8(o, "p", u.price);
    let o = d8(o, "P", Decimal::ZERO);
    let o = d8(o, "F", Decimal::ZERO);
    let o = o
        .num("g", -1)
        .str("C", if exec == "CANCELED" { &u.client_id } else { "" })
        .str("x", exec)
        .str("X", status)
        .str("r", "NONE")
        .num("i", u.order_id);
    let o = d8(o, "l", f.map_or(Decimal::ZERO, |f| f.qty));
    let o = d8(o, "z", u.filled);
    let o = d8(o, "L", f.map_or(Decimal::ZERO, |f| f.price));
    let o = d8(o, "n", f.map_or(Decimal::ZERO, |f| f.fee));
    let o = match f {
        Some(f) => o.str("N", &f.fee_asset),
        None => o.raw("N", "null"),
    };
    let o = o
        .num("T", time_ms)
        .num("t", f.map_or(-1, |f| f.trade_id as i64))
        .num("I", u.order_id * 2)
        .num("w", u.finish.is_none())
        .num("m", f.is_some_and(|f| f.maker))
        .num("M", false)
        .num("O", u.created_ms);
    let o = d8(o, "Z", u.filled_value);
    let o = d8(o, "Y", f.map_or(Decimal::ZERO, |f| f.qty * f.price));
    let o = d8(o, "Q", Decimal::ZERO);
    o.num("W", u.created_ms).str("V", stp_name(&u.stp)).build()
}

/// `outboundAccountPosition` (spot) for a change of the spot wallet.
fn outbound_account_position(balances: &[BalanceRow], time_ms: i64) -> Option<String> {
    let rows: Vec<String> = balances
        .iter()
        .filter(|b| b.wallet == Wallet::Spot)
        .map(|b| {
            Obj::new()
                .str("a", &b.asset)
                .dec_dp("f", b.available, 8)
                .dec_dp("l", b.total - b.available, 8)
                .build()
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(
        Obj::new()
            .str("e", "outboundAccountPosition")
            .num("E", time_ms)
            .num("u", time_ms)
            .raw("B", &crate::sim::wire::array(rows))
            .build(),
    )
}

/// A WebSocket API connection (spot `/ws-api/v3` or futures `/ws-fapi/v1`).
struct WsApi {
    venue: Venue,
    /// The spot user-data subscription: its id and feed.
    subscription: Option<(u64, AccountFeed)>,
    next_subscription: u64,
}

impl WsApi {
    fn new(venue: Venue) -> WsApi {
        WsApi {
            venue,
            subscription: None,
            next_subscription: 0,
        }
    }
}

/// A request's `params` as text, the way the WebSocket API signs them: strings as sent, numbers
/// and booleans as written.
fn param_pairs(params: &Value) -> Result<Vec<(String, String)>, (u16, String)> {
    let Some(obj) = params.as_object() else {
        return Err(error(
            400,
            -1135,
            "Invalid 'params' in JSON request; expected an object.",
        ));
    };
    Ok(obj
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect())
}

/// The WebSocket API's signature check: every param but `signature`, sorted by name, as
/// `k=v&…` with raw values, HMAC-SHA256 hex; then the key and the timestamp rule.
fn authenticate_ws(
    pairs: Vec<(String, String)>,
    shared: &Shared,
    now_ms: i64,
) -> Result<Params, (u16, String)> {
    let sorted: BTreeMap<String, String> = pairs.into_iter().collect();
    check_key(sorted.get("apiKey").map(String::as_str), shared)?;
    let Some(signature) = sorted.get("signature").filter(|s| !s.is_empty()) else {
        return Err(error(
            400,
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        ));
    };
    let payload: Vec<String> = sorted
        .iter()
        .filter(|(k, _)| *k != "signature")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let secret = &shared.credentials.of(Exchange::Binance).secret;
    if !same_signature(&sign(secret, &payload.join("&")), signature, true) {
        return Err(error(
            400,
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    let params = Params(sorted.into_iter().collect());
    check_time(&params, now_ms)?;
    Ok(params)
}

impl WsApi {
    fn answer(&self, conn: &mut Conn<'_>, id: &Value, status: u16, body: &str, limits: &str) {
        let payload: Value = serde_json::from_str(body).unwrap_or(Value::String(body.into()));
        let key = if status == 200 { "result" } else { "error" };
        let mut o = Obj::new()
            .raw("id", &id.to_string())
            .num("status", status)
            .raw(key, &payload.to_string());
        if !limits.is_empty() {
            o = o.raw("rateLimits", limits);
        }
        conn.send(o.build());
    }

    /// `rateLimits` from the usage headers an answer carries.
    fn rate_limits(&self, reply: &Reply, shared: &Shared) -> String {
        let header = |name: &str| {
            reply
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let (weight, orders) = if self.venue.is_perp() {
            (
                shared.limits.binance_perp_weight,
                shared.limits.binance_perp_orders,
            )
        } else {
            (
                shared.limits.binance_spot_weight,
                shared.limits.binance_spot_orders,
            )
        };
        let row = |kind: &str, window: Duration, limit: u32, count: String| {
            let (interval, num) = match window.as_secs() {
                s if s % 86_400 == 0 => ("DAY", s / 86_400),
                s if s % 60 == 0 => ("MINUTE", s / 60),
                s => ("SECOND", s),
            };
            Obj::new()
                .str("rateLimitType", kind)
                .str("interval", interval)
                .num("intervalNum", num)
                .num("limit", limit)
                .raw("count", &count)
                .build()
        };
        let mut rows = Vec::new();
        if let Some(w) = header("X-MBX-USED-WEIGHT-1M") {
            rows.push(row("REQUEST_WEIGHT", weight.window, weight.max, w));
        }
        for l in orders {
            let suffix = match l.window.as_secs() {
                10 => "10S",
                60 => "1M",
                86_400 => "1D",
                _ => continue,
            };
            if let Some(c) = header(&format!("X-MBX-ORDER-COUNT-{suffix}")) {
                rows.push(row("ORDERS", l.window, l.max, c));
            }
        }
        crate::sim::wire::array(rows)
    }
}

impl Protocol for WsApi {
    fn on_connect(&mut self, _hs: &Handshake<'_>, conn: &mut Conn<'_>) -> Result<(), Reject> {
        conn.server_ping = Some(conn.shared.timing.server_ping_interval);
        conn.shared.mark_private(conn.id, Exchange::Binance);
        Ok(())
    }

    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) {
        let req: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => {
                let (s, b) = error(400, -1100, "Malformed request: not JSON.");
                return self.answer(conn, &Value::Null, s, &b, "");
            }
        };
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let method = req.get("method").and_then(Value::as_str).unwrap_or("");
        let shared = conn.shared;
        let now = shared.venue_now_ms(Exchange::Binance);
        let params = req
            .get("params")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        match method {
            "ping" => return self.answer(conn, &id, 200, "{}", ""),
            "time" => {
                let body = Obj::new().num("serverTime", now).build();
                return self.answer(conn, &id, 200, &body, "");
            }
            _ => {}
        }
        let pairs = match param_pairs(&params) {
            Ok(p) => p,
            Err((s, b)) => return self.answer(conn, &id, s, &b, ""),
        };
        let kind = match (self.venue.market, method) {
            (_, "order.place") => Kind::Place,
            (_, "order.cancel") => Kind::Cancel,
            (_, "order.status") => Kind::Query,
            (Market::Spot, "userDataStream.subscribe.signature") => {
                return match authenticate_ws(pairs, shared, now) {
                    Err((s, b)) => self.answer(conn, &id, s, &b, ""),
                    Ok(_) if self.subscription.is_some() => {
                        // One subscription per account per connection.
                        let (s, b) = error(
                            400,
                            -2038,
                            "This account is already subscribed on this connection.",
                        );
                        self.answer(conn, &id, s, &b, "")
                    }
                    Ok(_) => {
                        let n = self.next_subscription;
                        self.next_subscription += 1;
                        self.subscription = Some((n, AccountFeed::start(conn, Exchange::Binance)));
                        let body = Obj::new().num("subscriptionId", n).build();
                        self.answer(conn, &id, 200, &body, "")
                    }
                };
            }
            (Market::Spot, "userDataStream.unsubscribe") => {
                self.subscription = None;
                return self.answer(conn, &id, 200, "{}", "");
            }
            _ => {
                let (s, b) = error(400, -1100, &format!("Invalid method {method:?}."));
                return self.answer(conn, &id, s, &b, "");
            }
        };
        let params = match authenticate_ws(pairs, shared, now) {
            Ok(p) => p,
            Err((s, b)) => return self.answer(conn, &id, s, &b, ""),
        };
        let wallet = if self.venue.is_perp() {
            Wallet::Perp
        } else {
            Wallet::Spot
        };
        let Some(reply) = private::serve(self.venue, wallet, kind, params, shared) else {
            return;
        };
        match reply.disposition {
            Disposition::Answer => {
                let limits = self.rate_limits(&reply, shared);
                self.answer(conn, &id, reply.status, &reply.body, &limits);
            }
            Disposition::DropAnswer | Disposition::Reset => conn.close = Some(Close::Abort),
        }
    }

    fn render(&mut self, _sub: &Sub, _tick: &crate::sim::market::MarketTick, _conn: &mut Conn<'_>) {
    }

    fn poll_every(&self) -> Option<Duration> {
        self.subscription.is_some().then_some(POLL_EVERY)
    }

    fn poll(&mut self, conn: &mut Conn<'_>) {
        let Some((n, feed)) = self.subscription.as_mut() else {
            return;
        };
        let n = *n;
        for e in feed.due(conn) {
            if e.venue != SPOT {
                continue;
            }
            let event = match &e.kind {
                AccountEventKind::Order(u) if u.wallet == Wallet::Spot => {
                    Some(execution_report(u, e.time_ms))
                }
                AccountEventKind::Account { balances, .. } => {
                    outbound_account_position(balances, e.time_ms)
                }
                _ => None,
            };
            if let Some(event) = event {
                conn.send(format!("{{\"subscriptionId\":{n},\"event\":{event}}}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_keys_live_extend_expire_and_close() {
        let keys = ListenKeys::default();
        let k = keys.create(1, 1_000, 100);
        assert!(looks_like_key(&k), "{k}");
        assert_eq!(keys.state(&k, 1_099), KeyState::Active);
        // POST again returns the active key, extended.
        assert_eq!(keys.create(1, 1_050, 100), k);
        assert_eq!(keys.state(&k, 1_149), KeyState::Active);
        assert!(keys.keepalive(&k, 1_100, 100));
        assert_eq!(keys.state(&k, 1_199), KeyState::Active);
        assert_eq!(keys.state(&k, 1_200), KeyState::Expired);
        assert!(!keys.keepalive(&k, 1_200, 100), "an expired key is gone");
        // A new POST makes a new key.
        let k2 = keys.create(1, 1_300, 100);
        assert_ne!(k2, k);
        assert!(keys.close(&k2));
        assert_eq!(keys.state(&k2, 1_301), KeyState::Closed);
        assert_eq!(keys.state("nope", 0), KeyState::Unknown);
    }

    #[test]
    fn websocket_api_signs_sorted_params() {
        // `PRIVATE.md` §6.2 W4, sent the way a client sends it (unsorted JSON).
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
        let params = serde_json::json!({
            "symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.00847000", "price": "23416.10000000", "apiKey": key,
            "timestamp": 1660801715431u64,
        });
        let sorted: BTreeMap<String, String> = param_pairs(&params).unwrap().into_iter().collect();
        let payload: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            sign(secret, &payload.join("&")),
            "15af09e41c36f3cc61378c2fbe2c33719a03dd5eba8d0f9206fbda44de717c88"
        );
    }
}

//! Gate v4 as the simulator speaks it: USDT-settled futures (`gate-perp`, contracts `BTC_USDT`)
//! and spot (`gate-spot`, currency pairs `BTC_USDT`). The channel prefix (`futures.` / `spot.`)
//! says which market a request is for.
//!
//! Websocket: `{"time":..,"channel":"futures.tickers","event":"subscribe","payload":[..]}` gets
//! `{"time":s,"time_ms":ms,"channel":..,"event":"subscribe","payload":..,"error":null,
//! "result":{"status":"success"}}`, or `error:{"code":2,"message":"unknown contract X"}` with
//! `result.status:"fail"`. `futures.ping` / `spot.ping` get `futures.pong` / `spot.pong`, and the
//! server sends protocol ping frames. Data: `futures.tickers` (result is an array; no next
//! funding time or interval, as live), `futures.book_ticker` and `spot.book_ticker` (result is an
//! object; `t` ms, `time` seconds). Futures book sizes are integer contracts, or decimal strings
//! when the client opened the socket with `X-Gate-Size-Decimal: 1`.
//!
//! REST (`/api/v4` optional prefix): futures/usdt/contracts[/{c}] (`quanto_multiplier`,
//! `order_price_round`, `order_size_min`, `funding_interval` s, `funding_next_apply` s),
//! futures/usdt/tickers, futures/usdt/funding_rate, spot/currency_pairs[/{p}], spot/tickers.
//!
//! The signed order, account and position endpoints live in [`private`]; the private channels
//! and the websocket API, which share the public connection, in [`stream`].

pub(crate) mod private;
pub(crate) mod stream;

use std::time::Duration;

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

use super::http::{Reply, RestRequest};
use super::listing::{ListedInstrument, Listing};
use super::market::{DayStats, LegTick, MarketTick};
use super::ws::{json_str, Channel, Conn, Handshake, Protocol, Reject, Sub};
use super::Shared;

const PERP: Venue = Venue::new(Exchange::Gate, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Gate, Market::Spot);

pub(crate) struct GateWs {
    /// Set by the `X-Gate-Size-Decimal: 1` handshake header.
    decimal_sizes: bool,
    /// The private channels and websocket API on this connection.
    private: stream::GatePrivate,
}

impl GateWs {
    pub fn new() -> GateWs {
        GateWs {
            decimal_sizes: false,
            private: stream::GatePrivate::default(),
        }
    }
}

fn header(now_ms: i64, channel: &str, event: &str) -> String {
    format!(
        "\"time\":{},\"time_ms\":{now_ms},\"channel\":{},\"event\":{}",
        now_ms / 1000,
        json_str(channel),
        json_str(event)
    )
}

impl Protocol for GateWs {
    fn on_connect(&mut self, hs: &Handshake<'_>, conn: &mut Conn<'_>) -> Result<(), Reject> {
        self.decimal_sizes = hs.header("X-Gate-Size-Decimal").map(str::trim) == Some("1");
        conn.server_ping = Some(conn.shared.timing.server_ping_interval);
        Ok(())
    }

    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) {
        let now = conn.now_ms;
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            return conn.send(format!(
                "{{{},\"error\":{{\"code\":1,\"message\":\"invalid argument struct\"}},\"result\":null}}",
                header(now, "", "")
            ));
        };
        let channel = req.get("channel").and_then(Value::as_str).unwrap_or("");
        let event = req.get("event").and_then(Value::as_str).unwrap_or("");
        let id = match req.get("id") {
            Some(v @ Value::Number(_)) => format!(",\"id\":{v}"),
            _ => String::new(),
        };
        if channel == "futures.ping" || channel == "spot.ping" {
            let pong = channel.replace(".ping", ".pong");
            return conn.send(format!(
                "{{{}{id},\"error\":null,\"result\":null}}",
                header(now, &pong, "")
            ));
        }
        if self.private.on_request(&req, channel, event, conn) {
            return;
        }
        let payload: Vec<&str> = req
            .get("payload")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let payload_json = serde_json::to_string(&payload).unwrap_or_else(|_| "[]".into());
        let fail = |conn: &mut Conn<'_>, code: i64, message: String| {
            conn.send(format!(
                "{{{}{id},\"payload\":{payload_json},\"error\":{{\"code\":{code},\"message\":{}}},\"result\":{{\"status\":\"fail\"}}}}",
                header(now, channel, event),
                json_str(&message)
            ))
        };
        if event != "subscribe" && event != "unsubscribe" {
            return fail(conn, 2, format!("unknown event {event:?}"));
        }
        let (ch, venue, noun) = match channel {
            "futures.tickers" => (Channel::GateFuturesTickers, PERP, "contract"),
            "futures.book_ticker" => (Channel::GateFuturesBookTicker, PERP, "contract"),
            "spot.book_ticker" => (Channel::GateSpotBookTicker, SPOT, "currency pair"),
            _ => return fail(conn, 2, format!("unknown channel {channel}")),
        };
        if payload.is_empty() {
            return fail(conn, 2, "payload is empty".into());
        }
        let mut resolved = Vec::with_capacity(payload.len());
        for name in &payload {
            match conn.listing().find(venue, name) {
                Some(i) => resolved.push((*name, i)),
                None => return fail(conn, 2, format!("unknown {noun} {name}")),
            }
        }
        for (name, i) in resolved {
            let topic = format!("{channel}:{name}");
            if event == "subscribe" {
                let period = match ch {
                    Channel::GateFuturesTickers => conn.scaled_period(Duration::from_secs(1)),
                    _ => conn.quote_period(),
                };
                conn.subscribe(ch, i, venue, &topic, period);
            } else {
                conn.unsubscribe(&topic);
            }
        }
        conn.send(format!(
            "{{{}{id},\"conn_id\":\"{}\",\"payload\":{payload_json},\"error\":null,\"result\":{{\"status\":\"success\"}}}}",
            header(now, channel, event),
            conn.conn_id
        ));
    }

    fn poll_every(&self) -> Option<Duration> {
        self.private.poll_every()
    }

    fn poll(&mut self, conn: &mut Conn<'_>) {
        self.private.poll(conn)
    }

    fn render(&mut self, sub: &Sub, tick: &MarketTick, conn: &mut Conn<'_>) {
        let Some((ins, l, leg)) = conn.subject(sub, tick) else {
            return;
        };
        let now = conn.now_ms;
        let name = &l.symbol;
        let msg = match sub.channel {
            Channel::GateFuturesTickers => format!(
                "{{{},\"result\":[{}]}}",
                header(now, "futures.tickers", "update"),
                futures_ticker(ins, leg, false)
            ),
            ch => {
                let size = |q: Decimal| {
                    if ch == Channel::GateFuturesBookTicker && !self.decimal_sizes {
                        // Integer contracts, rounded down, as the venue pushes without the header.
                        q.trunc().to_string()
                    } else {
                        format!("\"{q}\"")
                    }
                };
                let channel = if ch == Channel::GateFuturesBookTicker {
                    "futures.book_ticker"
                } else {
                    "spot.book_ticker"
                };
                format!(
                    "{{{},\"result\":{{\"t\":{now},\"u\":{},\"s\":\"{name}\",\"b\":\"{}\",\"B\":{},\"a\":\"{}\",\"A\":{}}}}}",
                    header(now, channel, "update"),
                    2_517_661_076 + leg.seq * 5,
                    leg.bid,
                    size(leg.bid_qty),
                    leg.ask,
                    size(leg.ask_qty)
                )
            }
        };
        conn.send(msg);
    }
}

fn futures_ticker(ins: &ListedInstrument, leg: &LegTick, rest_fields: bool) -> String {
    let stats = DayStats::of(ins);
    let name = ins.on(PERP).map(|l| l.symbol.as_str()).unwrap_or("");
    let contract = ins
        .on(PERP)
        .and_then(|l| l.spec.contract_size)
        .unwrap_or(Decimal::ONE);
    let total_size = (stats.volume / contract / Decimal::TWO).trunc();
    let extra = if rest_fields {
        format!(
            ",\"lowest_ask\":\"{}\",\"lowest_size\":\"{}\",\"highest_bid\":\"{}\",\"highest_size\":\"{}\"",
            leg.ask, leg.ask_qty, leg.bid, leg.bid_qty
        )
    } else {
        String::new()
    };
    format!(
        "{{\"contract\":\"{name}\",\"last\":\"{}\",\"change_percentage\":\"{}\",\"funding_rate\":\"{}\",\"funding_rate_indicative\":\"{}\",\"mark_price\":\"{}\",\"index_price\":\"{}\",\"total_size\":\"{total_size}\",\"volume_24h\":\"{}\",\"volume_24h_btc\":\"{}\",\"volume_24h_usd\":\"{}\",\"volume_24h_base\":\"{}\",\"volume_24h_quote\":\"{}\",\"volume_24h_settle\":\"{}\",\"quanto_base_rate\":\"\",\"low_24h\":\"{}\",\"high_24h\":\"{}\"{extra}}}",
        leg.mark,
        stats.change(leg.mark, 4) * Decimal::ONE_HUNDRED,
        leg.funding_rate.normalize(),
        leg.funding_rate.normalize(),
        leg.mark,
        leg.index,
        (stats.volume / contract).trunc(),
        stats.volume,
        stats.turnover,
        stats.volume,
        stats.turnover,
        stats.turnover,
        stats.low,
        stats.high,
    )
}

fn not_found(venue: Venue, label: &str, message: String) -> Reply {
    Reply::new(
        venue,
        400,
        format!(
            "{{\"label\":\"{label}\",\"message\":{}}}",
            json_str(&message)
        ),
    )
}

/// Serves `[/api/v4]/futures/usdt/*` and `[/api/v4]/spot/*`.
pub(crate) fn rest(req: &RestRequest, shared: &Shared, now: i64) -> Option<Reply> {
    let path = req.path.strip_prefix("/api/v4").unwrap_or(&req.path);
    let (venue, endpoint) = if let Some(e) = path.strip_prefix("/futures/usdt/") {
        (PERP, e)
    } else if let Some(e) = path.strip_prefix("/spot/") {
        (SPOT, e)
    } else {
        return None;
    };
    let listing = &shared.listing;
    if !listing.carries(venue) {
        return None;
    }
    let tick = shared.market.now();
    let all = || (0..listing.instruments().len()).collect::<Vec<usize>>();
    let list = |rows: Vec<String>| format!("[{}]", rows.join(","));
    let body = match (venue.market, endpoint.split_once('/')) {
        (Market::Perp, Some(("contracts", name))) => {
            let Some(i) = listing.find(venue, name) else {
                return Some(not_found(
                    venue,
                    "CONTRACT_NOT_FOUND",
                    format!("Contract {name} not found"),
                ));
            };
            contract(listing, &tick, i, now)?
        }
        (Market::Spot, Some(("currency_pairs", name))) => {
            let Some(i) = listing.find(venue, name) else {
                return Some(not_found(
                    venue,
                    "INVALID_CURRENCY_PAIR",
                    format!("Invalid currency pair {name}"),
                ));
            };
            currency_pair(listing, i)?
        }
        (Market::Perp, None) if endpoint == "contracts" => list(
            all()
                .into_iter()
                .filter_map(|i| contract(listing, &tick, i, now))
                .collect(),
        ),
        (Market::Spot, None) if endpoint == "currency_pairs" => list(
            all()
                .into_iter()
                .filter_map(|i| currency_pair(listing, i))
                .collect(),
        ),
        (Market::Perp, None) if endpoint == "tickers" => {
            let selected = match req.param("contract") {
                Some(c) => match listing.find(venue, c) {
                    Some(i) => vec![i],
                    None => {
                        return Some(not_found(
                            venue,
                            "CONTRACT_NOT_FOUND",
                            format!("Contract {c} not found"),
                        ))
                    }
                },
                None => all(),
            };
            list(
                selected
                    .into_iter()
                    .filter_map(|i| {
                        Some(futures_ticker(
                            listing.instruments().get(i)?,
                            tick.leg(i, venue)?,
                            true,
                        ))
                    })
                    .collect(),
            )
        }
        (Market::Perp, None) if endpoint == "funding_rate" => {
            let Some(c) = req.param("contract") else {
                return Some(not_found(
                    venue,
                    "MISSING_REQUIRED_PARAM",
                    "Missing required parameter: contract".into(),
                ));
            };
            let Some(i) = listing.find(venue, c) else {
                return Some(not_found(
                    venue,
                    "CONTRACT_NOT_FOUND",
                    format!("Contract {c} not found"),
                ));
            };
            let limit = req
                .param("limit")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(100)
                .clamp(1, 1000);
            // What settled, newest first (the current rate before the simulator started);
            // `t` is whole seconds, so a sub-second accelerated grid shows truncated times.
            list(
                shared
                    .funding_history(venue, i, now, limit)
                    .iter()
                    .rev()
                    .map(|s| {
                        format!(
                            "{{\"t\":{},\"r\":\"{}\"}}",
                            s.time_ms / 1000,
                            s.rate.normalize()
                        )
                    })
                    .collect(),
            )
        }
        (Market::Perp, None) if endpoint == "risk_limit_tiers" => {
            let Some(c) = req.param("contract") else {
                return Some(not_found(
                    venue,
                    "MISSING_REQUIRED_PARAM",
                    "Missing required parameter: contract".into(),
                ));
            };
            if listing.find(venue, c).is_none() {
                return Some(not_found(
                    venue,
                    "CONTRACT_NOT_FOUND",
                    format!("Contract {c} not found"),
                ));
            }
            // The simulator's tiers (`risk`) in Gate's shape: `risk_limit` is the tier's cap
            // in USDT, `deduction` its maintenance amount.
            list(
                crate::sim::risk::tiers()
                    .iter()
                    .map(|t| {
                        crate::sim::wire::Obj::new()
                            .num("tier", t.number)
                            .dec("risk_limit", t.cap)
                            .dec("initial_rate", t.imr())
                            .dec("maintenance_rate", t.mmr)
                            .str("leverage_max", &t.max_leverage.to_string())
                            .str("contract", c)
                            .dec("deduction", t.cum)
                            .build()
                    })
                    .collect(),
            )
        }
        (Market::Spot, None) if endpoint == "time" => format!("{{\"server_time\":{now}}}"),
        (Market::Spot, None) if endpoint == "tickers" => {
            let selected = match req.param("currency_pair") {
                Some(p) => match listing.find(venue, p) {
                    Some(i) => vec![i],
                    None => {
                        return Some(not_found(
                            venue,
                            "INVALID_CURRENCY_PAIR",
                            format!("Invalid currency pair {p}"),
                        ))
                    }
                },
                None => all(),
            };
            list(
                selected
                    .into_iter()
                    .filter_map(|i| {
                        let ins = listing.instruments().get(i)?;
                        let leg = tick.leg(i, venue)?;
                        let stats = DayStats::of(ins);
                        Some(format!(
                            "{{\"currency_pair\":\"{}\",\"last\":\"{}\",\"lowest_ask\":\"{}\",\"lowest_size\":\"{}\",\"highest_bid\":\"{}\",\"highest_size\":\"{}\",\"change_percentage\":\"{}\",\"base_volume\":\"{}\",\"quote_volume\":\"{}\",\"high_24h\":\"{}\",\"low_24h\":\"{}\"}}",
                            ins.on(venue)?.symbol, leg.mark, leg.ask, leg.ask_qty, leg.bid, leg.bid_qty,
                            stats.change(leg.mark, 4) * Decimal::ONE_HUNDRED, stats.volume,
                            stats.turnover, stats.high, stats.low
                        ))
                    })
                    .collect(),
            )
        }
        _ => return None,
    };
    Some(Reply::ok(venue, body))
}

fn contract(listing: &Listing, tick: &MarketTick, i: usize, now: i64) -> Option<String> {
    let ins = listing.instruments().get(i)?;
    let l = ins.on(PERP)?;
    let leg = tick.leg(i, PERP)?;
    let s = &l.spec;
    let interval_s = l.funding_interval_ms()? / 1000;
    Some(format!(
        "{{\"name\":\"{}\",\"type\":\"direct\",\"quanto_multiplier\":\"{}\",\"ref_discount_rate\":\"0\",\"order_price_deviate\":\"0.5\",\"maintenance_rate\":\"0.005\",\"mark_type\":\"index\",\"last_price\":\"{}\",\"mark_price\":\"{}\",\"index_price\":\"{}\",\"funding_rate_indicative\":\"{}\",\"mark_price_round\":\"{}\",\"funding_offset\":0,\"in_delisting\":false,\"risk_limit_base\":\"1000000\",\"interest_rate\":\"0.0003\",\"order_price_round\":\"{}\",\"order_size_min\":\"{}\",\"enable_decimal\":false,\"ref_rebate_rate\":\"0.2\",\"funding_interval\":{interval_s},\"risk_limit_step\":\"1000000\",\"leverage_min\":\"1\",\"leverage_max\":\"100\",\"risk_limit_max\":\"8000000\",\"maker_fee_rate\":\"-0.00025\",\"taker_fee_rate\":\"0.00075\",\"funding_rate\":\"{}\",\"order_size_max\":\"{max}\",\"funding_next_apply\":{},\"short_users\":977,\"config_change_time\":1609899548,\"trade_size\":\"28530850594\",\"position_size\":\"5223816\",\"long_users\":455,\"funding_impact_value\":\"60000\",\"orders_limit\":50,\"trade_id\":10851092,\"orderbook_id\":2129638396,\"enable_bonus\":true,\"enable_credit\":true,\"create_time\":1669688556,\"funding_cap_ratio\":\"0.75\",\"status\":\"trading\",\"launch_time\":1609899548,\"delisting_time\":0,\"delisted_time\":0,\"market_order_slip_ratio\":\"0.05\",\"market_order_size_max\":\"0\",\"funding_rate_limit\":\"0.003\"}}",
        l.symbol,
        s.contract_size.unwrap_or(Decimal::ONE),
        leg.mark,
        leg.mark,
        leg.index,
        leg.funding_rate.normalize(),
        s.tick_size,
        s.tick_size,
        s.min_qty,
        leg.funding_rate.normalize(),
        l.next_funding_time_ms(now) / 1000,
        max = l.max_qty.normalize(),
    ))
}

fn currency_pair(listing: &Listing, i: usize) -> Option<String> {
    let ins = listing.instruments().get(i)?;
    let l = ins.on(SPOT)?;
    let s = &l.spec;
    Some(format!(
        "{{\"id\":\"{}\",\"base\":\"{}\",\"base_name\":\"{}\",\"quote\":\"{}\",\"quote_name\":\"{}\",\"fee\":\"0.2\",\"min_base_amount\":\"{}\",\"min_quote_amount\":\"{}\",\"max_base_amount\":\"{max}\",\"max_quote_amount\":\"10000000\",\"amount_precision\":{},\"precision\":{},\"trade_status\":\"tradable\",\"sell_start\":1516378650,\"buy_start\":1516378650,\"delisting_time\":0,\"type\":\"normal\",\"trade_url\":\"\"}}",
        l.symbol,
        ins.base,
        ins.base,
        ins.quote,
        ins.quote,
        s.min_qty,
        s.min_notional,
        s.lot_size.scale(),
        s.tick_size.scale(),
        max = l.max_qty.normalize(),
    ))
}

//! Binance as the simulator speaks it: USDⓈ-M futures (`binance-perp`) and spot
//! (`binance-spot`).
//!
//! Websocket: streams come from the URL (`/ws/<stream>`, `/stream?streams=a/b`) and/or JSON
//! `SUBSCRIBE` (ack `{"result":null,"id":N}`); `/stream` wraps every event as
//! `{"stream":..,"data":..}`. The perp port enforces the 2026 route split: `/market` serves
//! `<sym>@markPrice[@1s]`, `/public` serves `<sym>@bookTicker`; the retired legacy paths and
//! misrouted streams are refused with HTTP 400/404 naming the stream (the real venue would
//! just stay silent, which hides the bug). Data: `markPriceUpdate` and `bookTicker` (futures with
//! `e/E/T`, spot without), numbers as strings. The server sends protocol pings.
//!
//! REST (`/fapi/v1/...`, `/api/v3/...`): premiumIndex, fundingInfo (only non-8 h symbols, as on
//! the real venue), exchangeInfo with PRICE_FILTER / LOT_SIZE / MIN_NOTIONAL (NOTIONAL on spot),
//! fundingRate history, ticker/bookTicker, time, ping.
//!
//! The signed order, account, position and ledger endpoints live in [`private`]; the private
//! websockets (streams and websocket order entry) in [`stream`].

pub(crate) mod private;
pub(crate) mod stream;

use std::time::Duration;

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

use super::http::{Reply, RestRequest};
use super::listing::Listing;
use super::market::MarketTick;
use super::ws::{json_str, Channel, Conn, Handshake, Protocol, Reject, Sub};
use super::Shared;

/// Where a perp stream must be requested since the URL split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Market,
    Public,
}

impl Route {
    fn path(self) -> &'static str {
        match self {
            Route::Market => "/market",
            Route::Public => "/public",
        }
    }
}

pub(crate) struct BinanceWs {
    venue: Venue,
    /// Perp connections are on one route; spot has none.
    route: Option<Route>,
    /// `/stream` connections wrap events in `{"stream":..,"data":..}`.
    combined: bool,
}

impl BinanceWs {
    pub fn new(venue: Venue) -> BinanceWs {
        BinanceWs {
            venue,
            route: None,
            combined: false,
        }
    }

    /// Resolves a stream name; the error says why it cannot be served here.
    fn resolve(&self, name: &str, listing: &Listing) -> Result<(Channel, usize, Duration), String> {
        let mut parts = name.split('@');
        let sym = parts.next().unwrap_or("");
        let kind: Vec<&str> = parts.collect();
        let (channel, real) = match kind.as_slice() {
            ["markPrice"] if self.venue.is_perp() => {
                (Channel::BinanceMarkPrice, Duration::from_secs(3))
            }
            ["markPrice", "1s"] if self.venue.is_perp() => {
                (Channel::BinanceMarkPrice, Duration::from_secs(1))
            }
            ["bookTicker"] => (Channel::BinanceBookTicker, Duration::ZERO),
            _ => return Err(format!("unknown stream {name:?} on {}", self.venue)),
        };
        if let Some(route) = self.route {
            let wanted = match channel {
                Channel::BinanceMarkPrice => Route::Market,
                _ => Route::Public,
            };
            if route != wanted {
                return Err(format!(
                    "stream {name:?} is served on {}, not on {}",
                    wanted.path(),
                    route.path()
                ));
            }
        }
        if sym.is_empty() || sym.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(format!(
                "stream {name:?}: symbols in stream names are lowercase"
            ));
        }
        let instrument = listing
            .find(self.venue, &sym.to_ascii_uppercase())
            .ok_or_else(|| format!("stream {name:?}: unknown symbol on {}", self.venue))?;
        Ok((channel, instrument, real))
    }

    fn add(&self, name: &str, conn: &mut Conn<'_>) -> Result<(), String> {
        let (channel, instrument, real) = self.resolve(name, conn.listing())?;
        let period = match channel {
            Channel::BinanceMarkPrice => conn.scaled_period(real),
            _ => conn.quote_period(),
        };
        conn.subscribe(channel, instrument, self.venue, name, period);
        Ok(())
    }

    fn reply_error(conn: &mut Conn<'_>, code: i64, msg: &str, id: &Value) {
        conn.send(format!(
            "{{\"code\":{code},\"msg\":{},\"id\":{id}}}",
            json_str(msg)
        ));
    }
}

impl Protocol for BinanceWs {
    fn on_connect(&mut self, hs: &Handshake<'_>, conn: &mut Conn<'_>) -> Result<(), Reject> {
        let (path, query) = hs.path.split_once('?').unwrap_or((hs.path, ""));
        let rest = if self.venue.is_perp() {
            if let Some(r) = path.strip_prefix("/market") {
                self.route = Some(Route::Market);
                r
            } else if let Some(r) = path.strip_prefix("/public") {
                self.route = Some(Route::Public);
                r
            } else {
                return Err(reject(
                    404,
                    &format!(
                        "{path}: legacy futures websocket URLs were retired on 2026-04-23; use /market or /public"
                    ),
                ));
            }
        } else {
            path
        };
        let streams: Vec<&str> = if rest == "/ws" || rest == "/ws/" {
            Vec::new()
        } else if let Some(s) = rest.strip_prefix("/ws/") {
            s.split('/').filter(|s| !s.is_empty()).collect()
        } else if rest == "/stream" || rest == "/stream/" {
            self.combined = true;
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix("streams="))
                .map(|s| s.split('/').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default()
        } else {
            return Err(reject(404, &format!("{path}: not a websocket path")));
        };
        for s in streams {
            self.add(s, conn).map_err(|why| reject(400, &why))?;
        }
        conn.server_ping = Some(conn.shared.timing.server_ping_interval);
        Ok(())
    }

    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) {
        let req: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return Self::reply_error(conn, 3, &format!("Invalid JSON: {e}"), &Value::Null)
            }
        };
        let id = req.get("id").cloned().unwrap_or(Value::Null);
        let method = req.get("method").and_then(Value::as_str).unwrap_or("");
        let params: Vec<&str> = match req.get("params") {
            None => Vec::new(),
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                a.iter().filter_map(Value::as_str).collect()
            }
            Some(_) => {
                return Self::reply_error(
                    conn,
                    2,
                    "Invalid request: params must be an array of strings",
                    &id,
                )
            }
        };
        match method {
            "SUBSCRIBE" => {
                let bad: Vec<String> = params
                    .iter()
                    .filter_map(|p| self.resolve(p, conn.listing()).err())
                    .collect();
                if let Some(why) = bad.first() {
                    return Self::reply_error(conn, 2, &format!("Invalid request: {why}"), &id);
                }
                for p in params {
                    let _ = self.add(p, conn);
                }
                conn.send(format!("{{\"result\":null,\"id\":{id}}}"));
            }
            "UNSUBSCRIBE" => {
                for p in params {
                    conn.unsubscribe(p);
                }
                conn.send(format!("{{\"result\":null,\"id\":{id}}}"));
            }
            "LIST_SUBSCRIPTIONS" => {
                let list: Vec<String> = conn.subs.iter().map(|s| json_str(&s.topic)).collect();
                conn.send(format!("{{\"result\":[{}],\"id\":{id}}}", list.join(",")));
            }
            other => Self::reply_error(
                conn,
                2,
                &format!("Invalid request: unknown method {other:?}"),
                &id,
            ),
        }
    }

    fn render(&mut self, sub: &Sub, tick: &MarketTick, conn: &mut Conn<'_>) {
        let Some((_, listed, leg)) = conn.subject(sub, tick) else {
            return;
        };
        let now = conn.now_ms;
        let sym = &listed.symbol;
        let payload = match (sub.channel, self.venue.market) {
            (Channel::BinanceMarkPrice, _) => format!(
                "{{\"e\":\"markPriceUpdate\",\"E\":{now},\"s\":\"{sym}\",\"p\":\"{:.8}\",\"i\":\"{:.8}\",\"P\":\"{:.8}\",\"r\":\"{:.8}\",\"ap\":\"{:.8}\",\"T\":{},\"st\":1}}",
                leg.mark,
                leg.index,
                leg.index,
                leg.funding_rate,
                leg.mark,
                listed.next_funding_time_ms(now),
            ),
            (_, Market::Perp) => format!(
                "{{\"e\":\"bookTicker\",\"u\":{},\"E\":{now},\"T\":{},\"s\":\"{sym}\",\"b\":\"{}\",\"B\":\"{}\",\"a\":\"{}\",\"A\":\"{}\",\"st\":1,\"ps\":\"{sym}\"}}",
                update_id(leg.seq, sub.instrument),
                now - 1,
                leg.bid,
                leg.bid_qty,
                leg.ask,
                leg.ask_qty,
            ),
            (_, Market::Spot) => format!(
                "{{\"u\":{},\"s\":\"{sym}\",\"b\":\"{:.8}\",\"B\":\"{:.8}\",\"a\":\"{:.8}\",\"A\":\"{:.8}\"}}",
                update_id(leg.seq, sub.instrument),
                leg.bid,
                leg.bid_qty,
                leg.ask,
                leg.ask_qty,
            ),
        };
        if self.combined {
            conn.send(format!(
                "{{\"stream\":{},\"data\":{payload}}}",
                json_str(&sub.topic)
            ));
        } else {
            conn.send(payload);
        }
    }
}

/// Book update ids: increasing per symbol, in the range real ones live in.
fn update_id(seq: u64, instrument: usize) -> u64 {
    400_900_000 + seq * 16 + instrument as u64
}

fn reject(status: u16, msg: &str) -> Reject {
    Reject {
        status,
        body: format!(
            "{{\"code\":-1,\"msg\":{}}}",
            json_str(&format!("sim: {msg}"))
        ),
    }
}

fn invalid_symbol(venue: Venue) -> Reply {
    Reply::new(
        venue,
        400,
        "{\"code\":-1121,\"msg\":\"Invalid symbol.\"}".into(),
    )
}

/// Serves `/fapi/v1/*` (perp) and `/api/v3/*` (spot).
pub(crate) fn rest(req: &RestRequest, shared: &Shared, now: i64) -> Option<Reply> {
    let (venue, endpoint) = if let Some(e) = req.path.strip_prefix("/fapi/v1/") {
        (Venue::new(Exchange::Binance, Market::Perp), e)
    } else if let Some(e) = req.path.strip_prefix("/api/v3/") {
        (Venue::new(Exchange::Binance, Market::Spot), e)
    } else {
        return None;
    };
    let listing = &shared.listing;
    if !listing.carries(venue) {
        return None;
    }
    // The instruments a request is about: one `symbol`, a spot `symbols=["A","B"]`, or all.
    let selected: Vec<usize> = match (req.param("symbol"), req.param("symbols")) {
        (Some(s), _) => match listing.find(venue, s) {
            Some(i) => vec![i],
            None => return Some(invalid_symbol(venue)),
        },
        (None, Some(list)) if venue.market == Market::Spot => {
            let names: Vec<String> = match serde_json::from_str(list) {
                Ok(n) => n,
                Err(_) => return Some(invalid_symbol(venue)),
            };
            let mut out = Vec::new();
            for n in names {
                match listing.find(venue, &n) {
                    Some(i) => out.push(i),
                    None => return Some(invalid_symbol(venue)),
                }
            }
            out
        }
        _ => (0..listing.instruments().len()).collect(),
    };
    let single = req.param("symbol").is_some();
    let tick = shared.market.now();
    let body = match (venue.market, endpoint) {
        (_, "ping") => "{}".to_string(),
        (_, "time") => format!("{{\"serverTime\":{now}}}"),
        (Market::Perp, "premiumIndex") => {
            many(single, selected.iter().filter_map(|&i| premium_index(listing, &tick, venue, i, now)))
        }
        (Market::Perp, "fundingInfo") => {
            let rows: Vec<String> = (0..listing.instruments().len())
                .filter_map(|i| {
                    let l = listing.get(i, venue)?;
                    let h = l.funding_interval_hours?;
                    (h != 8).then(|| format!(
                        "{{\"symbol\":\"{}\",\"adjustedFundingRateCap\":\"0.02000000\",\"adjustedFundingRateFloor\":\"-0.02000000\",\"fundingIntervalHours\":{h},\"disclaimer\":false}}",
                        l.symbol
                    ))
                })
                .collect();
            format!("[{}]", rows.join(","))
        }
        (Market::Perp, "fundingRate") => {
            let limit = req
                .param("limit")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(100)
                .clamp(1, 1000);
            let mut rows = Vec::new();
            for &i in &selected {
                let Some(l) = listing.get(i, venue) else {
                    continue;
                };
                // What settled, oldest first (the current rate before the simulator started).
                for s in shared.funding_history(venue, i, now, limit) {
                    rows.push(format!(
                        "{{\"symbol\":\"{}\",\"fundingRate\":\"{:.8}\",\"fundingTime\":{},\"markPrice\":\"{:.8}\",\"rateType\":\"Regular\"}}",
                        l.symbol, s.rate, s.time_ms, s.mark
                    ));
                }
            }
            format!("[{}]", rows.join(","))
        }
        (_, "exchangeInfo") => {
            let symbols: Vec<String> = selected
                .iter()
                .filter_map(|&i| exchange_info_symbol(listing, venue, i))
                .collect();
            let futures = if venue.is_perp() {
                "\"futuresType\":\"U_MARGINED\",\"assets\":[],"
            } else {
                ""
            };
            format!(
                "{{\"timezone\":\"UTC\",\"serverTime\":{now},{futures}\"rateLimits\":[],\"exchangeFilters\":[],\"symbols\":[{}]}}",
                symbols.join(",")
            )
        }
        (_, "ticker/bookTicker") => many(
            single,
            selected.iter().filter_map(|&i| {
                let l = listing.get(i, venue)?;
                let leg = tick.leg(i, venue)?;
                Some(format!(
                    "{{\"symbol\":\"{}\",\"bidPrice\":\"{:.8}\",\"bidQty\":\"{:.8}\",\"askPrice\":\"{:.8}\",\"askQty\":\"{:.8}\",\"time\":{now}}}",
                    l.symbol, leg.bid, leg.bid_qty, leg.ask, leg.ask_qty
                ))
            }),
        ),
        _ => return None,
    };
    Some(Reply::ok(venue, body))
}

/// One object when a single symbol was asked for, else an array.
fn many(single: bool, rows: impl Iterator<Item = String>) -> String {
    let rows: Vec<String> = rows.collect();
    if single && rows.len() == 1 {
        rows.into_iter().next().unwrap_or_default()
    } else {
        format!("[{}]", rows.join(","))
    }
}

fn premium_index(
    listing: &Listing,
    tick: &MarketTick,
    venue: Venue,
    i: usize,
    now: i64,
) -> Option<String> {
    let (Some(l), Some(leg)) = (listing.get(i, venue), tick.leg(i, venue)) else {
        return None;
    };
    Some(format!(
        "{{\"symbol\":\"{}\",\"markPrice\":\"{:.8}\",\"indexPrice\":\"{:.8}\",\"estimatedSettlePrice\":\"{:.8}\",\"lastFundingRate\":\"{:.8}\",\"interestRate\":\"0.00010000\",\"nextFundingTime\":{},\"time\":{now}}}",
        l.symbol,
        leg.mark,
        leg.index,
        leg.index,
        leg.funding_rate,
        l.next_funding_time_ms(now)
    ))
}

fn exchange_info_symbol(listing: &Listing, venue: Venue, i: usize) -> Option<String> {
    let ins = listing.instruments().get(i)?;
    let l = ins.on(venue)?;
    let s = &l.spec;
    Some(if venue.is_perp() {
        format!(
            "{{\"symbol\":\"{sym}\",\"pair\":\"{sym}\",\"contractType\":\"PERPETUAL\",\"deliveryDate\":4133404800000,\"onboardDate\":1569398400000,\"status\":\"TRADING\",\"baseAsset\":\"{b}\",\"quoteAsset\":\"{q}\",\"marginAsset\":\"{q}\",\"pricePrecision\":{pp},\"quantityPrecision\":{qp},\"baseAssetPrecision\":8,\"quotePrecision\":8,\"underlyingType\":\"COIN\",\"settlePlan\":0,\"triggerProtect\":\"0.0500\",\"filters\":[{{\"filterType\":\"PRICE_FILTER\",\"minPrice\":\"{tick}\",\"maxPrice\":\"4529764\",\"tickSize\":\"{tick}\"}},{{\"filterType\":\"LOT_SIZE\",\"stepSize\":\"{lot}\",\"maxQty\":\"{maxq}\",\"minQty\":\"{min}\"}},{{\"filterType\":\"MARKET_LOT_SIZE\",\"stepSize\":\"{lot}\",\"maxQty\":\"120\",\"minQty\":\"{min}\"}},{{\"filterType\":\"MAX_NUM_ORDERS\",\"limit\":200}},{{\"filterType\":\"MIN_NOTIONAL\",\"notional\":\"{mn}\"}},{{\"filterType\":\"PERCENT_PRICE\",\"multiplierUp\":\"1.0500\",\"multiplierDown\":\"0.9500\",\"multiplierDecimal\":\"4\"}}],\"orderTypes\":[\"LIMIT\",\"MARKET\"],\"timeInForce\":[\"GTC\",\"IOC\",\"FOK\",\"GTX\"]}}",
            sym = l.symbol,
            b = ins.base,
            q = ins.quote,
            pp = s.tick_size.scale(),
            qp = s.lot_size.scale(),
            tick = s.tick_size,
            lot = s.lot_size,
            min = s.min_qty,
            mn = s.min_notional,
            maxq = l.max_qty.normalize(),
        )
    } else {
        let d8 = |d: Decimal| format!("{d:.8}");
        format!(
            "{{\"symbol\":\"{sym}\",\"status\":\"TRADING\",\"baseAsset\":\"{b}\",\"baseAssetPrecision\":8,\"quoteAsset\":\"{q}\",\"quotePrecision\":8,\"quoteAssetPrecision\":8,\"orderTypes\":[\"LIMIT\",\"LIMIT_MAKER\",\"MARKET\"],\"icebergAllowed\":true,\"ocoAllowed\":true,\"isSpotTradingAllowed\":true,\"isMarginTradingAllowed\":false,\"filters\":[{{\"filterType\":\"PRICE_FILTER\",\"minPrice\":\"{tick}\",\"maxPrice\":\"1000000.00000000\",\"tickSize\":\"{tick}\"}},{{\"filterType\":\"LOT_SIZE\",\"minQty\":\"{min}\",\"maxQty\":\"{maxq}\",\"stepSize\":\"{lot}\"}},{{\"filterType\":\"PERCENT_PRICE_BY_SIDE\",\"bidMultiplierUp\":\"5\",\"bidMultiplierDown\":\"0.2\",\"askMultiplierUp\":\"5\",\"askMultiplierDown\":\"0.2\",\"avgPriceMins\":5}},{{\"filterType\":\"NOTIONAL\",\"minNotional\":\"{mn}\",\"applyMinToMarket\":true,\"maxNotional\":\"9000000.00000000\",\"applyMaxToMarket\":false,\"avgPriceMins\":5}}],\"permissions\":[],\"permissionSets\":[[\"SPOT\"]]}}",
            sym = l.symbol,
            b = ins.base,
            q = ins.quote,
            tick = d8(s.tick_size),
            lot = d8(s.lot_size),
            min = d8(s.min_qty),
            mn = d8(s.min_notional),
            maxq = d8(l.max_qty),
        )
    })
}

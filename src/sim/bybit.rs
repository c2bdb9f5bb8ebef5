//! Bybit v5 as the simulator speaks it: linear perpetuals (`bybit-perp`, the
//! `/v5/public/linear` stream) and spot (`bybit-spot`, `/v5/public/spot`); the port decides the
//! category, and a path that names the other category is refused.
//!
//! Websocket: `{"req_id":..,"op":"subscribe","args":["tickers.BTCUSDT","orderbook.1.BTCUSDT"]}`
//! with the category's ack (`ret_msg` `""` on linear, `"subscribe"` on spot) or
//! `success:false` naming the bad topic; at most 10 args per spot request. `{"op":"ping"}` gets
//! the category's pong JSON. Linear `tickers` is one snapshot then deltas carrying only the
//! fields whose value changed (so a delta often lacks `fundingRate` or one side of the book, as
//! live); spot `tickers` is snapshot-only without bid/ask; `orderbook.1` is snapshot-only.
//! All numbers are strings except `ts`/`cs`; `nextFundingTime` is a ms string.
//!
//! REST (`/v5/market/...`): tickers, instruments-info (`fundingInterval` in minutes,
//! `priceFilter.tickSize`, `lotSizeFilter`), funding/history, time.
//!
//! The signed order, account, position and ledger endpoints live in [`private`]; the private
//! websockets (streams and websocket order entry) in [`stream`].

pub(crate) mod private;
pub(crate) mod stream;

use std::time::Duration;

use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use serde_json::Value;

use super::http::{Reply, RestRequest};
use super::listing::Listing;
use super::market::{DayStats, LegTick, MarketTick};
use super::ws::{json_str, Channel, Conn, Handshake, Protocol, Reject, Sub};
use super::Shared;

/// Spot accepts at most this many topics per subscribe request.
const SPOT_MAX_ARGS: usize = 10;

pub(crate) struct BybitWs {
    venue: Venue,
    /// Cross sequence stamped on ticker pushes.
    cs: u64,
    /// Last full ticker pushed per topic, for deltas.
    last: Vec<(String, Vec<(&'static str, String)>)>,
}

impl BybitWs {
    pub fn new(venue: Venue) -> BybitWs {
        BybitWs {
            venue,
            cs: 176_530_003_895,
            last: Vec::new(),
        }
    }

    fn category(&self) -> &'static str {
        match self.venue.market {
            Market::Perp => "linear",
            Market::Spot => "spot",
        }
    }

    fn resolve(&self, topic: &str, listing: &Listing) -> Option<(Channel, usize)> {
        let (channel, sym) = if let Some(sym) = topic.strip_prefix("tickers.") {
            (Channel::BybitTickers, sym)
        } else if let Some(sym) = topic.strip_prefix("orderbook.1.") {
            (Channel::BybitOrderbook1, sym)
        } else {
            return None;
        };
        listing.find(self.venue, sym).map(|i| (channel, i))
    }

    fn command_reply(
        &self,
        conn: &Conn<'_>,
        success: bool,
        msg: &str,
        req_id: &str,
        op: &str,
    ) -> String {
        format!(
            "{{\"success\":{success},\"ret_msg\":{},\"conn_id\":\"{}\",\"req_id\":{},\"op\":{}}}",
            json_str(msg),
            conn.conn_id,
            json_str(req_id),
            json_str(op)
        )
    }
}

impl Protocol for BybitWs {
    fn on_connect(&mut self, hs: &Handshake<'_>, _conn: &mut Conn<'_>) -> Result<(), Reject> {
        let path = hs.path.split('?').next().unwrap_or("");
        if let Some(cat) = path.strip_prefix("/v5/public/") {
            if cat.trim_end_matches('/') != self.category() {
                return Err(Reject {
                    status: 404,
                    body: format!(
                        "{{\"retCode\":404,\"retMsg\":{}}}",
                        json_str(&format!(
                            "sim: {path} is not served on the {} port ({} stream)",
                            self.venue,
                            self.category()
                        ))
                    ),
                });
            }
        }
        Ok(())
    }

    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) {
        let req: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let r = self.command_reply(
                    conn,
                    false,
                    &format!("error:request parse failed: {e}"),
                    "",
                    "",
                );
                return conn.send(r);
            }
        };
        let req_id = req.get("req_id").and_then(Value::as_str).unwrap_or("");
        let op = req.get("op").and_then(Value::as_str).unwrap_or("");
        match op {
            "ping" => {
                let pong = match self.venue.market {
                    Market::Perp => self.command_reply(conn, true, "pong", req_id, "ping"),
                    Market::Spot if req_id.is_empty() => format!(
                        "{{\"success\":true,\"ret_msg\":\"pong\",\"conn_id\":\"{}\",\"op\":\"ping\"}}",
                        conn.conn_id
                    ),
                    Market::Spot => self.command_reply(conn, true, "pong", req_id, "ping"),
                };
                conn.send(pong);
            }
            "subscribe" | "unsubscribe" => {
                let args: Vec<&str> = req
                    .get("args")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if args.is_empty() {
                    let r = self.command_reply(conn, false, "error:args is empty", req_id, op);
                    return conn.send(r);
                }
                if self.venue.market == Market::Spot && args.len() > SPOT_MAX_ARGS {
                    let r = self.command_reply(
                        conn,
                        false,
                        &format!("error:args size >{SPOT_MAX_ARGS}"),
                        req_id,
                        op,
                    );
                    return conn.send(r);
                }
                let mut resolved = Vec::with_capacity(args.len());
                for topic in &args {
                    match self.resolve(topic, conn.listing()) {
                        None => {
                            let r = self.command_reply(
                                conn,
                                false,
                                &format!("Invalid topic :[{topic}]"),
                                req_id,
                                op,
                            );
                            return conn.send(r);
                        }
                        Some(_) if op == "subscribe" && conn.is_subscribed(topic) => {
                            let r = self.command_reply(
                                conn,
                                false,
                                &format!("error:already subscribed,topic:{topic}"),
                                req_id,
                                op,
                            );
                            return conn.send(r);
                        }
                        Some((channel, i)) => resolved.push((*topic, channel, i)),
                    }
                }
                for (topic, channel, i) in resolved {
                    if op == "subscribe" {
                        let period = match channel {
                            Channel::BybitTickers => conn.scaled_period(match self.venue.market {
                                Market::Perp => Duration::from_millis(100),
                                Market::Spot => Duration::from_millis(50),
                            }),
                            _ => conn.quote_period(),
                        };
                        conn.subscribe(channel, i, self.venue, topic, period);
                    } else {
                        conn.unsubscribe(topic);
                        self.last.retain(|(t, _)| t != topic);
                    }
                }
                let msg = match (self.venue.market, op) {
                    (Market::Spot, "subscribe") => "subscribe",
                    (Market::Spot, _) => "unsubscribe",
                    _ => "",
                };
                let r = self.command_reply(conn, true, msg, req_id, op);
                conn.send(r);
            }
            other => {
                let r = self.command_reply(
                    conn,
                    false,
                    &format!("error:unknown op {other:?}"),
                    req_id,
                    other,
                );
                conn.send(r);
            }
        }
    }

    fn render(&mut self, sub: &Sub, tick: &MarketTick, conn: &mut Conn<'_>) {
        let Some((ins, listed, leg)) = conn.subject(sub, tick) else {
            return;
        };
        let now = conn.now_ms;
        let sym = &listed.symbol;
        let stats = DayStats::of(ins);
        match (sub.channel, self.venue.market) {
            (Channel::BybitOrderbook1, _) => {
                let msg = format!(
                    "{{\"topic\":{},\"ts\":{now},\"type\":\"snapshot\",\"data\":{{\"s\":\"{sym}\",\"b\":[[\"{}\",\"{}\"]],\"a\":[[\"{}\",\"{}\"]],\"u\":{},\"seq\":{}}},\"cts\":{}}}",
                    json_str(&sub.topic),
                    leg.bid,
                    leg.bid_qty,
                    leg.ask,
                    leg.ask_qty,
                    leg.seq,
                    75_829_523_783 + leg.seq * 7 + sub.instrument as u64,
                    now - 3
                );
                conn.send(msg);
            }
            (_, Market::Spot) => {
                let data = format!(
                    "{{\"symbol\":\"{sym}\",\"lastPrice\":\"{}\",\"highPrice24h\":\"{}\",\"lowPrice24h\":\"{}\",\"prevPrice24h\":\"{}\",\"volume24h\":\"{}\",\"turnover24h\":\"{}\",\"price24hPcnt\":\"{}\",\"usdIndexPrice\":\"{}\"}}",
                    leg.mark,
                    stats.high,
                    stats.low,
                    stats.open,
                    stats.volume,
                    stats.turnover,
                    stats.change(leg.mark, 4),
                    leg.index
                );
                self.cs += 1;
                conn.send(format!(
                    "{{\"topic\":{},\"ts\":{now},\"type\":\"snapshot\",\"cs\":{},\"data\":{data}}}",
                    json_str(&sub.topic),
                    self.cs
                ));
            }
            (_, Market::Perp) => {
                let fields = linear_ticker_fields(listed, leg, &stats, now);
                let previous = self.last.iter_mut().find(|(t, _)| *t == sub.topic);
                let (kind, body) = match previous {
                    Some((_, prev)) => {
                        let changed: Vec<&(&str, String)> = fields
                            .iter()
                            .filter(|(k, v)| {
                                *k == "symbol"
                                    || prev.iter().find(|(pk, _)| pk == k).map(|(_, pv)| pv)
                                        != Some(v)
                            })
                            .collect();
                        if changed.len() <= 1 {
                            return;
                        }
                        let body = object(changed.into_iter());
                        *prev = fields;
                        ("delta", body)
                    }
                    None => {
                        let body = object(fields.iter());
                        self.last.push((sub.topic.clone(), fields));
                        ("snapshot", body)
                    }
                };
                self.cs += 1;
                conn.send(format!(
                    "{{\"topic\":{},\"type\":\"{kind}\",\"data\":{body},\"cs\":{},\"ts\":{now}}}",
                    json_str(&sub.topic),
                    self.cs
                ));
            }
        }
    }
}

fn object<'a>(fields: impl Iterator<Item = &'a (&'static str, String)>) -> String {
    let parts: Vec<String> = fields
        .map(|(k, v)| format!("\"{k}\":{}", json_str(v)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// Every field of a linear ticker, in the venue's order, as strings.
fn linear_ticker_fields(
    listed: &super::listing::VenueListing,
    leg: &LegTick,
    stats: &DayStats,
    now: i64,
) -> Vec<(&'static str, String)> {
    let open_interest = (stats.volume / rust_decimal::Decimal::from(2)).round_dp(3);
    vec![
        ("symbol", listed.symbol.clone()),
        (
            "tickDirection",
            if leg.mark >= leg.index {
                "PlusTick"
            } else {
                "MinusTick"
            }
            .to_string(),
        ),
        ("price24hPcnt", stats.change(leg.mark, 6).to_string()),
        ("lastPrice", leg.mark.to_string()),
        ("prevPrice24h", stats.open.to_string()),
        ("highPrice24h", stats.high.to_string()),
        ("lowPrice24h", stats.low.to_string()),
        ("prevPrice1h", stats.open.to_string()),
        ("markPrice", leg.mark.to_string()),
        ("indexPrice", leg.index.to_string()),
        ("openInterest", open_interest.to_string()),
        (
            "openInterestValue",
            (open_interest * leg.mark).round_dp(2).to_string(),
        ),
        ("turnover24h", stats.turnover.to_string()),
        ("volume24h", stats.volume.to_string()),
        (
            "nextFundingTime",
            listed.next_funding_time_ms(now).to_string(),
        ),
        ("fundingRate", leg.funding_rate.normalize().to_string()),
        ("bid1Price", leg.bid.to_string()),
        ("bid1Size", leg.bid_qty.to_string()),
        ("ask1Price", leg.ask.to_string()),
        ("ask1Size", leg.ask_qty.to_string()),
        ("deliveryTime", "0".to_string()),
        ("basisRate", String::new()),
        ("deliveryFeeRate", String::new()),
        ("predictedDeliveryPrice", String::new()),
        ("preOpenPrice", String::new()),
        ("preQty", String::new()),
        ("curPreListingPhase", String::new()),
        (
            "fundingIntervalHour",
            listed.funding_interval_hours.unwrap_or(8).to_string(),
        ),
        ("fundingCap", "0.005".to_string()),
        ("basisRateYear", String::new()),
    ]
}

fn envelope(code: i64, msg: &str, result: &str, now: i64) -> String {
    format!(
        "{{\"retCode\":{code},\"retMsg\":{},\"result\":{result},\"retExtInfo\":{{}},\"time\":{now}}}",
        json_str(msg)
    )
}

/// Serves `/v5/market/*`.
pub(crate) fn rest(req: &RestRequest, shared: &Shared, now: i64) -> Option<Reply> {
    let endpoint = req.path.strip_prefix("/v5/market/")?;
    let perp = Venue::new(Exchange::Bybit, Market::Perp);
    let spot = Venue::new(Exchange::Bybit, Market::Spot);
    if endpoint == "time" {
        let venue = if shared.listing.carries(perp) {
            perp
        } else {
            spot
        };
        if !shared.listing.carries(venue) {
            return None;
        }
        let result = format!(
            "{{\"timeSecond\":\"{}\",\"timeNano\":\"{}\"}}",
            now / 1000,
            now as i128 * 1_000_000
        );
        return Some(Reply::ok(venue, envelope(0, "OK", &result, now)));
    }
    let venue = match req.param("category") {
        Some("linear") => perp,
        Some("spot") => spot,
        _ => {
            let venue = if shared.listing.carries(perp) {
                perp
            } else {
                spot
            };
            return shared.listing.carries(venue).then(|| {
                Reply::ok(
                    venue,
                    envelope(10001, "params error: category is invalid", "{}", now),
                )
            });
        }
    };
    let listing = &shared.listing;
    if !listing.carries(venue) {
        return None;
    }
    let category = if venue.is_perp() { "linear" } else { "spot" };
    let symbol = req.param("symbol");
    let selected: Vec<usize> = match symbol {
        Some(s) => listing.find(venue, s).into_iter().collect(),
        None => (0..listing.instruments().len()).collect(),
    };
    let tick = shared.market.now();
    let result_list = |rows: Vec<String>, extra: &str| {
        format!(
            "{{\"category\":\"{category}\",\"list\":[{}]{extra}}}",
            rows.join(",")
        )
    };
    let body = match endpoint {
        "tickers" => {
            if symbol.is_some() && selected.is_empty() {
                return Some(Reply::ok(
                    venue,
                    envelope(10001, "Not supported symbols", "{}", now),
                ));
            }
            let rows = selected
                .iter()
                .filter_map(|&i| {
                    let ins = listing.instruments().get(i)?;
                    let l = ins.on(venue)?;
                    let leg = tick.leg(i, venue)?;
                    let stats = DayStats::of(ins);
                    Some(if venue.is_perp() {
                        // REST rows also carry `basis`, which the stream does not.
                        let mut fields = linear_ticker_fields(l, leg, &stats, now);
                        fields.push(("basis", String::new()));
                        object(fields.iter())
                    } else {
                        format!(
                            "{{\"symbol\":\"{}\",\"bid1Price\":\"{}\",\"bid1Size\":\"{}\",\"ask1Price\":\"{}\",\"ask1Size\":\"{}\",\"lastPrice\":\"{}\",\"prevPrice24h\":\"{}\",\"price24hPcnt\":\"{}\",\"highPrice24h\":\"{}\",\"lowPrice24h\":\"{}\",\"turnover24h\":\"{}\",\"volume24h\":\"{}\",\"usdIndexPrice\":\"{}\"}}",
                            l.symbol, leg.bid, leg.bid_qty, leg.ask, leg.ask_qty, leg.mark,
                            stats.open, stats.change(leg.mark, 4), stats.high, stats.low,
                            stats.turnover, stats.volume, leg.index
                        )
                    })
                })
                .collect();
            envelope(0, "OK", &result_list(rows, ""), now)
        }
        "instruments-info" => {
            let rows = selected
                .iter()
                .filter_map(|&i| instrument_info(listing, venue, i))
                .collect();
            let extra = if venue.is_perp() {
                ",\"nextPageCursor\":\"\""
            } else {
                ""
            };
            envelope(0, "OK", &result_list(rows, extra), now)
        }
        "risk-limit" if venue.is_perp() => {
            // The simulator's tiers (`risk`) in Bybit's shape; `mmDeduction` is the tier's
            // maintenance amount.
            let mut rows = Vec::new();
            for &i in &selected {
                let Some(l) = listing.get(i, venue) else {
                    continue;
                };
                for t in crate::sim::risk::tiers() {
                    rows.push(
                        crate::sim::wire::Obj::new()
                            .num("id", t.number)
                            .str("symbol", &l.symbol)
                            .dec("riskLimitValue", t.cap)
                            .dec("maintenanceMargin", t.mmr)
                            .dec("initialMargin", t.imr())
                            .num("isLowestRisk", u8::from(t.number == 1))
                            .str("maxLeverage", &format!("{}.00", t.max_leverage))
                            .dec("mmDeduction", t.cum)
                            .build(),
                    );
                }
            }
            envelope(0, "OK", &result_list(rows, ""), now)
        }
        "funding/history" if venue.is_perp() => {
            let Some(&i) = selected.first().filter(|_| symbol.is_some()) else {
                return Some(Reply::ok(
                    venue,
                    envelope(10001, "params error: symbol is required", "{}", now),
                ));
            };
            let limit = req
                .param("limit")
                .and_then(|l| l.parse::<i64>().ok())
                .unwrap_or(200)
                .clamp(1, 200);
            let l = listing.get(i, venue)?;
            // What settled, newest first (the current rate before the simulator started).
            let rows = shared
                .funding_history(venue, i, now, limit as usize)
                .iter()
                .rev()
                .map(|s| {
                    format!(
                        "{{\"symbol\":\"{}\",\"fundingRate\":\"{}\",\"fundingRateTimestamp\":\"{}\"}}",
                        l.symbol,
                        s.rate.normalize(),
                        s.time_ms
                    )
                })
                .collect();
            envelope(0, "OK", &result_list(rows, ""), now)
        }
        _ => return None,
    };
    Some(Reply::ok(venue, body))
}

fn instrument_info(listing: &Listing, venue: Venue, i: usize) -> Option<String> {
    let ins = listing.instruments().get(i)?;
    let l = ins.on(venue)?;
    let s = &l.spec;
    Some(if venue.is_perp() {
        format!(
            "{{\"symbol\":\"{}\",\"contractType\":\"LinearPerpetual\",\"status\":\"Trading\",\"baseCoin\":\"{}\",\"quoteCoin\":\"{}\",\"launchTime\":\"1585526400000\",\"deliveryTime\":\"0\",\"deliveryFeeRate\":\"\",\"priceScale\":\"{}\",\"leverageFilter\":{{\"minLeverage\":\"1\",\"maxLeverage\":\"100.00\",\"leverageStep\":\"0.01\"}},\"priceFilter\":{{\"minPrice\":\"{}\",\"maxPrice\":\"1999999.80\",\"tickSize\":\"{}\"}},\"lotSizeFilter\":{{\"maxOrderQty\":\"{max}\",\"minOrderQty\":\"{}\",\"qtyStep\":\"{}\",\"postOnlyMaxOrderQty\":\"{max}\",\"maxMktOrderQty\":\"500.000\",\"minNotionalValue\":\"{}\"}},\"unifiedMarginTrade\":true,\"fundingInterval\":{},\"settleCoin\":\"{}\",\"copyTrading\":\"both\",\"upperFundingRate\":\"0.00375\",\"lowerFundingRate\":\"-0.00375\",\"isPreListing\":false,\"preListingInfo\":null}}",
            l.symbol,
            ins.base,
            ins.quote,
            s.tick_size.scale(),
            s.tick_size,
            s.tick_size,
            s.min_qty,
            s.lot_size,
            s.min_notional,
            l.funding_interval_hours.unwrap_or(8) * 60,
            ins.quote,
            max = l.max_qty.normalize(),
        )
    } else {
        format!(
            "{{\"symbol\":\"{}\",\"baseCoin\":\"{}\",\"quoteCoin\":\"{}\",\"innovation\":\"0\",\"status\":\"Trading\",\"marginTrading\":\"both\",\"stTag\":\"0\",\"lotSizeFilter\":{{\"basePrecision\":\"{}\",\"quotePrecision\":\"0.00000001\",\"minOrderQty\":\"{}\",\"maxOrderQty\":\"{max}\",\"minOrderAmt\":\"{}\",\"maxOrderAmt\":\"2000000\"}},\"priceFilter\":{{\"tickSize\":\"{}\"}},\"riskParameters\":{{\"priceLimitRatioX\":\"0.05\",\"priceLimitRatioY\":\"0.05\"}}}}",
            l.symbol,
            ins.base,
            ins.quote,
            s.lot_size,
            s.min_qty,
            s.min_notional,
            s.tick_size,
            max = l.max_qty.normalize(),
        )
    })
}

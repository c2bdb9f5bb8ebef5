//! Bitget v2 as the simulator speaks it: `USDT-FUTURES` (`bitget-perp`) and `SPOT`
//! (`bitget-spot`), both plain `BTCUSDT`; as on the real `/v2/ws/public`, one connection serves
//! both and `instType` says which.
//!
//! Websocket: `{"op":"subscribe","args":[{"instType":..,"channel":..,"instId":..}]}` gets one
//! `{"event":"subscribe","arg":..}` per arg, or `{"event":"error","code":30001,"msg":"...
//! doesn't exist"}` if any arg is unknown. Text `ping` gets text `pong`; a connection that sends
//! no `ping` for 2 minutes is closed, as live. Channels: `ticker` (futures carry `fundingRate`,
//! `nextFundingTime`, mark and index; the envelope `ts` is a number while `data[].ts` is a
//! string) and `books1` (always a full snapshot).
//!
//! REST (`/api/v2/...`): mix/market/current-fund-rate (`fundingRateInterval` in hours),
//! mix/market/contracts (`pricePlace`, `priceEndStep`, `volumePlace`, `sizeMultiplier`,
//! `minTradeNum`, `minTradeUSDT`, `fundInterval`), mix/market/ticker(s),
//! mix/market/history-fund-rate, spot/public/symbols, spot/market/tickers, public/time.
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
use super::market::{DayStats, LegTick, MarketTick};
use super::ws::{json_str, Channel, Conn, Handshake, Protocol, Reject, Sub};
use super::Shared;

const PERP: Venue = Venue::new(Exchange::Bitget, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Bitget, Market::Spot);

/// The live venue closes a connection that sent no `ping` for this long.
const CLIENT_PING_LIMIT: Duration = Duration::from_secs(120);

pub(crate) struct BitgetWs;

impl BitgetWs {
    pub fn new() -> BitgetWs {
        BitgetWs
    }
}

fn inst_type_venue(inst_type: &str) -> Option<Venue> {
    if inst_type.eq_ignore_ascii_case("USDT-FUTURES") {
        Some(PERP)
    } else if inst_type.eq_ignore_ascii_case("SPOT") {
        Some(SPOT)
    } else {
        None
    }
}

fn inst_type(venue: Venue) -> &'static str {
    if venue.is_perp() {
        "USDT-FUTURES"
    } else {
        "SPOT"
    }
}

impl Protocol for BitgetWs {
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
            return conn
                .send("{\"event\":\"error\",\"code\":30002,\"msg\":\"illegal request\"}".into());
        };
        let op = req.get("op").and_then(Value::as_str).unwrap_or("");
        if op != "subscribe" && op != "unsubscribe" {
            return conn.send(format!(
                "{{\"event\":\"error\",\"code\":30003,\"msg\":{}}}",
                json_str(&format!("invalid op {op:?}"))
            ));
        }
        let args = req
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if args.is_empty() {
            return conn.send(
                "{\"event\":\"error\",\"code\":30016,\"msg\":\"param error: args is empty\"}"
                    .into(),
            );
        }
        let mut resolved = Vec::with_capacity(args.len());
        for arg in &args {
            let it = arg.get("instType").and_then(Value::as_str).unwrap_or("");
            let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
            let inst_id = arg.get("instId").and_then(Value::as_str).unwrap_or("");
            let found = inst_type_venue(it).and_then(|venue| {
                let ch = match channel {
                    "ticker" => Channel::BitgetTicker,
                    "books1" => Channel::BitgetBooks1,
                    _ => return None,
                };
                conn.listing().find(venue, inst_id).map(|i| (ch, venue, i))
            });
            match found {
                Some((ch, venue, i)) => resolved.push((channel, inst_id, ch, venue, i)),
                None => {
                    return conn.send(format!(
                        "{{\"event\":\"error\",\"code\":30001,\"msg\":{}}}",
                        json_str(&format!(
                            "instType:{it},channel:{channel},instId:{inst_id} doesn't exist"
                        ))
                    ))
                }
            }
        }
        for (channel, inst_id, ch, venue, i) in resolved {
            let topic = format!("{}:{channel}:{inst_id}", inst_type(venue));
            if op == "subscribe" {
                let period = match ch {
                    Channel::BitgetTicker => conn.scaled_period(Duration::from_secs(1)),
                    _ => conn.quote_period(),
                };
                conn.subscribe(ch, i, venue, &topic, period);
            } else {
                conn.unsubscribe(&topic);
            }
            conn.send(format!(
                "{{\"event\":\"{op}\",\"arg\":{{\"instType\":\"{}\",\"channel\":\"{channel}\",\"instId\":{}}}}}",
                inst_type(venue),
                json_str(inst_id)
            ));
        }
    }

    fn render(&mut self, sub: &Sub, tick: &MarketTick, conn: &mut Conn<'_>) {
        let Some((ins, l, leg)) = conn.subject(sub, tick) else {
            return;
        };
        let now = conn.now_ms;
        let it = inst_type(sub.venue);
        let sym = &l.symbol;
        let msg = match sub.channel {
            Channel::BitgetBooks1 => format!(
                "{{\"action\":\"snapshot\",\"arg\":{{\"instType\":\"{it}\",\"channel\":\"books1\",\"instId\":\"{sym}\"}},\"data\":[{{\"asks\":[[\"{}\",\"{}\"]],\"bids\":[[\"{}\",\"{}\"]],\"checksum\":0,\"seq\":{},\"ts\":\"{now}\"}}],\"ts\":{now}}}",
                leg.ask, leg.ask_qty, leg.bid, leg.bid_qty, leg.seq
            ),
            _ => format!(
                "{{\"action\":\"snapshot\",\"arg\":{{\"instType\":\"{it}\",\"channel\":\"ticker\",\"instId\":\"{sym}\"}},\"data\":[{}],\"ts\":{}}}",
                ticker_row(ins, sub.venue, leg, now),
                now + 1
            ),
        };
        conn.send(msg);
    }
}

fn ticker_row(
    ins: &super::listing::ListedInstrument,
    venue: Venue,
    leg: &LegTick,
    now: i64,
) -> String {
    let Some(l) = ins.on(venue) else {
        return String::new();
    };
    let stats = DayStats::of(ins);
    let sym = &l.symbol;
    if venue.is_perp() {
        format!(
            "{{\"instId\":\"{sym}\",\"lastPr\":\"{}\",\"bidPr\":\"{}\",\"askPr\":\"{}\",\"bidSz\":\"{}\",\"askSz\":\"{}\",\"open24h\":\"{}\",\"high24h\":\"{}\",\"low24h\":\"{}\",\"change24h\":\"{}\",\"fundingRate\":\"{}\",\"nextFundingTime\":\"{}\",\"markPrice\":\"{}\",\"indexPrice\":\"{}\",\"holdingAmount\":\"{}\",\"baseVolume\":\"{}\",\"quoteVolume\":\"{}\",\"openUtc\":\"{}\",\"symbolType\":\"1\",\"symbol\":\"{sym}\",\"deliveryPrice\":\"0\",\"ts\":\"{now}\"}}",
            leg.mark,
            leg.bid,
            leg.ask,
            leg.bid_qty,
            leg.ask_qty,
            stats.open,
            stats.high,
            stats.low,
            stats.change(leg.mark, 5),
            leg.funding_rate.normalize(),
            l.next_funding_time_ms(now),
            leg.mark,
            leg.index,
            (stats.volume / rust_decimal::Decimal::TWO).round_dp(3),
            stats.volume,
            stats.turnover,
            stats.open,
        )
    } else {
        format!(
            "{{\"instId\":\"{sym}\",\"lastPr\":\"{}\",\"open24h\":\"{}\",\"high24h\":\"{}\",\"low24h\":\"{}\",\"change24h\":\"{}\",\"bidPr\":\"{}\",\"askPr\":\"{}\",\"bidSz\":\"{}\",\"askSz\":\"{}\",\"baseVolume\":\"{}\",\"quoteVolume\":\"{}\",\"openUtc\":\"{}\",\"changeUtc24h\":\"{}\",\"ts\":\"{now}\"}}",
            leg.mark,
            stats.open,
            stats.high,
            stats.low,
            stats.change(leg.mark, 5),
            leg.bid,
            leg.ask,
            leg.bid_qty,
            leg.ask_qty,
            stats.volume,
            stats.turnover,
            stats.open,
            stats.change(leg.mark, 5),
        )
    }
}

fn envelope(code: &str, msg: &str, data: &str, now: i64) -> String {
    format!(
        "{{\"code\":\"{code}\",\"msg\":{},\"requestTime\":{now},\"data\":{data}}}",
        json_str(msg)
    )
}

fn param_error(venue: Venue, what: &str, now: i64) -> Reply {
    Reply::new(
        venue,
        400,
        envelope(
            "40034",
            &format!("Parameter {what} does not exist"),
            "null",
            now,
        ),
    )
}

/// Serves `/api/v2/mix/market/*`, `/api/v2/spot/*` and `/api/v2/public/time`.
pub(crate) fn rest(req: &RestRequest, shared: &Shared, now: i64) -> Option<Reply> {
    let listing = &shared.listing;
    let tick = shared.market.now();
    if req.path == "/api/v2/public/time" {
        let venue = if listing.carries(PERP) { PERP } else { SPOT };
        return listing.carries(venue).then(|| {
            Reply::ok(
                venue,
                envelope(
                    "00000",
                    "success",
                    &format!("{{\"serverTime\":\"{now}\"}}"),
                    now,
                ),
            )
        });
    }
    let (venue, endpoint) = if let Some(e) = req.path.strip_prefix("/api/v2/mix/market/") {
        (PERP, e)
    } else if let Some(e) = req.path.strip_prefix("/api/v2/spot/") {
        (SPOT, e)
    } else {
        return None;
    };
    if !listing.carries(venue) {
        return None;
    }
    if venue.is_perp()
        && !req
            .param("productType")
            .is_some_and(|p| p.eq_ignore_ascii_case("USDT-FUTURES"))
    {
        return Some(param_error(venue, "productType", now));
    }
    let symbol = req.param("symbol").filter(|s| !s.is_empty());
    let selected: Vec<usize> = match symbol {
        Some(s) => match listing.find(venue, s) {
            Some(i) => vec![i],
            None => return Some(param_error(venue, "symbol", now)),
        },
        None => (0..listing.instruments().len()).collect(),
    };
    let rows = |f: &dyn Fn(usize) -> Option<String>| -> String {
        let r: Vec<String> = selected.iter().filter_map(|&i| f(i)).collect();
        format!("[{}]", r.join(","))
    };
    let data = match (venue.market, endpoint) {
        (Market::Perp, "current-fund-rate") => rows(&|i| {
            let l = listing.get(i, venue)?;
            let leg = tick.leg(i, venue)?;
            Some(format!(
                "{{\"symbol\":\"{}\",\"fundingRate\":\"{}\",\"fundingRateInterval\":\"{}\",\"nextUpdate\":\"{}\",\"minFundingRate\":\"-0.003\",\"maxFundingRate\":\"0.003\"}}",
                l.symbol,
                leg.funding_rate.normalize(),
                l.funding_interval_hours?,
                l.next_funding_time_ms(now)
            ))
        }),
        (Market::Perp, "contracts") => rows(&|i| {
            let ins = listing.instruments().get(i)?;
            let l = ins.on(venue)?;
            let s = &l.spec;
            Some(format!(
                "{{\"symbol\":\"{}\",\"baseCoin\":\"{}\",\"quoteCoin\":\"{}\",\"buyLimitPriceRatio\":\"0.9\",\"sellLimitPriceRatio\":\"0.9\",\"feeRateUpRatio\":\"0.1\",\"makerFeeRate\":\"0.0002\",\"takerFeeRate\":\"0.0006\",\"openCostUpRatio\":\"0.1\",\"supportMarginCoins\":[\"{}\"],\"minTradeNum\":\"{}\",\"priceEndStep\":\"1\",\"volumePlace\":\"{}\",\"pricePlace\":\"{}\",\"sizeMultiplier\":\"{}\",\"symbolType\":\"perpetual\",\"minTradeUSDT\":\"{}\",\"maxSymbolOrderNum\":\"999999\",\"maxProductOrderNum\":\"999999\",\"maxPositionNum\":\"150\",\"symbolStatus\":\"normal\",\"offTime\":\"-1\",\"limitOpenTime\":\"-1\",\"deliveryTime\":\"\",\"deliveryStartTime\":\"\",\"launchTime\":\"\",\"fundInterval\":\"{}\",\"minLever\":\"1\",\"maxLever\":\"125\",\"posLimit\":\"0.05\",\"maintainTime\":\"\"}}",
                l.symbol,
                ins.base,
                ins.quote,
                ins.quote,
                s.min_qty,
                s.lot_size.scale(),
                s.tick_size.scale(),
                s.lot_size,
                s.min_notional,
                l.funding_interval_hours?,
            ))
        }),
        (Market::Perp, "ticker" | "tickers") => rows(&|i| {
            let ins = listing.instruments().get(i)?;
            let l = ins.on(venue)?;
            let leg = tick.leg(i, venue)?;
            let stats = DayStats::of(ins);
            Some(format!(
                "{{\"symbol\":\"{}\",\"lastPr\":\"{}\",\"askPr\":\"{}\",\"bidPr\":\"{}\",\"bidSz\":\"{}\",\"askSz\":\"{}\",\"high24h\":\"{}\",\"low24h\":\"{}\",\"ts\":\"{now}\",\"change24h\":\"{}\",\"baseVolume\":\"{}\",\"quoteVolume\":\"{}\",\"usdtVolume\":\"{}\",\"openUtc\":\"{}\",\"changeUtc24h\":\"{}\",\"indexPrice\":\"{}\",\"fundingRate\":\"{}\",\"holdingAmount\":\"{}\",\"deliveryStartTime\":null,\"deliveryTime\":null,\"deliveryStatus\":\"\",\"open24h\":\"{}\",\"markPrice\":\"{}\"}}",
                l.symbol, leg.mark, leg.ask, leg.bid, leg.bid_qty, leg.ask_qty, stats.high,
                stats.low, stats.change(leg.mark, 5), stats.volume, stats.turnover,
                stats.turnover, stats.open, stats.change(leg.mark, 5), leg.index,
                leg.funding_rate.normalize(), (stats.volume / rust_decimal::Decimal::TWO).round_dp(3),
                stats.open, leg.mark
            ))
        }),
        (Market::Perp, "query-position-lever") => {
            let Some(&i) = selected.first().filter(|_| symbol.is_some()) else {
                return Some(param_error(venue, "symbol", now));
            };
            let l = listing.get(i, venue)?;
            // The simulator's tiers (`risk`) in Bitget's shape, bounds in USDT.
            let r: Vec<String> = crate::sim::risk::tiers()
                .iter()
                .map(|t| {
                    crate::sim::wire::Obj::new()
                        .str("symbol", &l.symbol)
                        .str("level", &t.number.to_string())
                        .dec("startUnit", t.floor)
                        .dec("endUnit", t.cap)
                        .str("leverage", &t.max_leverage.to_string())
                        .dec("keepMarginRate", t.mmr)
                        .build()
                })
                .collect();
            format!("[{}]", r.join(","))
        }
        (Market::Perp, "history-fund-rate") => {
            let Some(&i) = selected.first().filter(|_| symbol.is_some()) else {
                return Some(param_error(venue, "symbol", now));
            };
            let l = listing.get(i, venue)?;
            let page = req
                .param("pageSize")
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(20)
                .clamp(1, 100);
            // What settled, newest first (the current rate before the simulator started).
            let r: Vec<String> = shared
                .funding_history(venue, i, now, page)
                .iter()
                .rev()
                .map(|s| {
                    format!(
                        "{{\"symbol\":\"{}\",\"fundingRate\":\"{}\",\"fundingTime\":\"{}\"}}",
                        l.symbol,
                        s.rate.normalize(),
                        s.time_ms
                    )
                })
                .collect();
            format!("[{}]", r.join(","))
        }
        (Market::Spot, "public/symbols") => rows(&|i| {
            let ins = listing.instruments().get(i)?;
            let l = ins.on(venue)?;
            let s = &l.spec;
            Some(format!(
                "{{\"symbol\":\"{}\",\"baseCoin\":\"{}\",\"quoteCoin\":\"{}\",\"minTradeAmount\":\"{}\",\"maxTradeAmount\":\"{max}\",\"takerFeeRate\":\"0.001\",\"makerFeeRate\":\"0.001\",\"pricePrecision\":\"{}\",\"quantityPrecision\":\"{}\",\"quotePrecision\":\"{}\",\"status\":\"online\",\"minTradeUSDT\":\"{}\",\"buyLimitPriceRatio\":\"0.05\",\"sellLimitPriceRatio\":\"0.05\",\"areaSymbol\":\"no\",\"orderQuantity\":\"200\",\"openTime\":\"1532454360000\",\"offTime\":\"\"}}",
                l.symbol,
                ins.base,
                ins.quote,
                s.min_qty,
                s.tick_size.scale(),
                s.lot_size.scale(),
                s.tick_size.scale() + s.lot_size.scale(),
                s.min_notional,
                max = l.max_qty.normalize(),
            ))
        }),
        (Market::Spot, "market/tickers") => rows(&|i| {
            let ins = listing.instruments().get(i)?;
            let l = ins.on(venue)?;
            let leg = tick.leg(i, venue)?;
            let stats = DayStats::of(ins);
            Some(format!(
                "{{\"symbol\":\"{}\",\"high24h\":\"{}\",\"open\":\"{}\",\"low24h\":\"{}\",\"lastPr\":\"{}\",\"quoteVolume\":\"{}\",\"baseVolume\":\"{}\",\"usdtVolume\":\"{}\",\"bidPr\":\"{}\",\"askPr\":\"{}\",\"bidSz\":\"{}\",\"askSz\":\"{}\",\"openUtc\":\"{}\",\"ts\":\"{now}\",\"changeUtc24h\":\"{}\",\"change24h\":\"{}\"}}",
                l.symbol, stats.high, stats.open, stats.low, leg.mark, stats.turnover,
                stats.volume, stats.turnover, leg.bid, leg.ask, leg.bid_qty, leg.ask_qty,
                stats.open, stats.change(leg.mark, 5), stats.change(leg.mark, 5)
            ))
        }),
        _ => return None,
    };
    Some(Reply::ok(venue, envelope("00000", "success", &data, now)))
}

//! OKX v5 as the simulator speaks it: SWAP (`okx-perp`, `BTC-USDT-SWAP`) and SPOT
//! (`okx-spot`, `BTC-USDT`). As on the real `/ws/v5/public`, one connection serves both; the
//! instrument id says which market a subscription is for.
//!
//! Websocket: `{"id":..,"op":"subscribe","args":[{"channel":"funding-rate","instId":..}]}` gets
//! one `{"event":"subscribe","arg":..,"connId":..}` per arg, or one
//! `{"event":"error","code":"60018","msg":"Wrong URL or channel:..."}` if any arg is unknown
//! (`60012` for a malformed request). Text `ping` gets text `pong`. Channels: `funding-rate`
//! (SWAP; every 30 s live, sped up here; `fundingTime` is the upcoming settlement and
//! `nextFundingTime` the one after, so their difference is the interval), `bbo-tbt` (sizes in
//! contracts on SWAP, base units on SPOT) and `tickers`. Every number and timestamp is a string
//! except `seqId`.
//!
//! REST (`/api/v5/...`): public/funding-rate (also `instId=ANY`), public/instruments (`ctVal`,
//! `lotSz`, `minSz`, `tickSz`), public/funding-rate-history, market/ticker(s), public/time.
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
use super::market::{DayStats, MarketTick};
use super::ws::{json_str, Channel, Conn, Handshake, Protocol, Reject, Sub};
use super::Shared;

const PERP: Venue = Venue::new(Exchange::Okx, Market::Perp);
const SPOT: Venue = Venue::new(Exchange::Okx, Market::Spot);

pub(crate) struct OkxWs;

impl OkxWs {
    pub fn new() -> OkxWs {
        OkxWs
    }
}

/// The market of an OKX instrument id and its instrument position, where listed.
fn resolve_inst(listing: &Listing, inst_id: &str) -> Option<(Venue, usize)> {
    let venue = if inst_id.ends_with("-SWAP") {
        PERP
    } else {
        SPOT
    };
    listing.find(venue, inst_id).map(|i| (venue, i))
}

fn conn_id_short(conn: &Conn<'_>) -> String {
    conn.conn_id.chars().take(8).collect()
}

impl Protocol for OkxWs {
    fn on_connect(&mut self, _hs: &Handshake<'_>, _conn: &mut Conn<'_>) -> Result<(), Reject> {
        Ok(())
    }

    fn on_text(&mut self, text: &str, conn: &mut Conn<'_>) {
        if text == "ping" {
            return conn.send("pong".to_string());
        }
        let cid = conn_id_short(conn);
        let invalid = |conn: &mut Conn<'_>| {
            conn.send(format!(
                "{{\"event\":\"error\",\"code\":\"60012\",\"msg\":{},\"connId\":\"{cid}\"}}",
                json_str(&format!("Invalid request: {text}"))
            ))
        };
        let Ok(req) = serde_json::from_str::<Value>(text) else {
            return invalid(conn);
        };
        let op = req.get("op").and_then(Value::as_str).unwrap_or("");
        let id_field = match req.get("id").and_then(Value::as_str) {
            Some(id) => format!("\"id\":{},", json_str(id)),
            None => String::new(),
        };
        let Some(args) = req
            .get("args")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        else {
            return invalid(conn);
        };
        if op != "subscribe" && op != "unsubscribe" {
            return invalid(conn);
        }
        let mut resolved = Vec::with_capacity(args.len());
        for arg in args {
            let channel = arg.get("channel").and_then(Value::as_str).unwrap_or("");
            let inst_id = arg.get("instId").and_then(Value::as_str).unwrap_or("");
            let found = resolve_inst(conn.listing(), inst_id).and_then(|(venue, i)| {
                let ch = match (channel, venue.market) {
                    ("funding-rate", Market::Perp) => Channel::OkxFundingRate,
                    ("bbo-tbt", _) => Channel::OkxBboTbt,
                    ("tickers", _) => Channel::OkxTickers,
                    _ => return None,
                };
                Some((ch, venue, i))
            });
            match found {
                Some((ch, venue, i)) => resolved.push((channel, inst_id, ch, venue, i)),
                None => {
                    return conn.send(format!(
                        "{{{id_field}\"event\":\"error\",\"code\":\"60018\",\"msg\":{},\"connId\":\"{cid}\"}}",
                        json_str(&format!(
                            "Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. Please use the correct URL, channel and parameters referring to API document."
                        ))
                    ));
                }
            }
        }
        for (channel, inst_id, ch, venue, i) in resolved {
            let topic = format!("{channel}:{inst_id}");
            if op == "subscribe" {
                let period = match ch {
                    Channel::OkxFundingRate => conn.scaled_period(Duration::from_secs(30)),
                    Channel::OkxTickers => conn.scaled_period(Duration::from_millis(100)),
                    _ => conn.quote_period(),
                };
                conn.subscribe(ch, i, venue, &topic, period);
            } else {
                conn.unsubscribe(&topic);
            }
            conn.send(format!(
                "{{{id_field}\"event\":\"{op}\",\"arg\":{{\"channel\":\"{channel}\",\"instId\":{}}},\"connId\":\"{cid}\"}}",
                json_str(inst_id)
            ));
        }
    }

    fn render(&mut self, sub: &Sub, tick: &MarketTick, conn: &mut Conn<'_>) {
        let Some((ins, l, leg)) = conn.subject(sub, tick) else {
            return;
        };
        let now = conn.now_ms;
        let inst = &l.symbol;
        let msg = match sub.channel {
            Channel::OkxFundingRate => {
                let iv = l.settlement_interval_ms().unwrap_or(8 * 3_600_000);
                let funding_time = l.next_funding_time_ms(now);
                format!(
                    "{{\"arg\":{{\"channel\":\"funding-rate\",\"instId\":\"{inst}\"}},\"data\":[{}]}}",
                    funding_row(inst, leg.funding_rate, leg.mark, leg.index, funding_time, iv, now)
                )
            }
            Channel::OkxBboTbt => format!(
                "{{\"arg\":{{\"channel\":\"bbo-tbt\",\"instId\":\"{inst}\"}},\"data\":[{{\"asks\":[[\"{}\",\"{}\",\"0\",\"{}\"]],\"bids\":[[\"{}\",\"{}\",\"0\",\"{}\"]],\"ts\":\"{now}\",\"seqId\":{}}}]}}",
                leg.ask,
                leg.ask_qty,
                orders_at(leg.ask_qty),
                leg.bid,
                leg.bid_qty,
                orders_at(leg.bid_qty),
                363_996_337 + leg.seq * 3
            ),
            _ => format!(
                "{{\"arg\":{{\"channel\":\"tickers\",\"instId\":\"{inst}\"}},\"data\":[{}]}}",
                ticker_row(ins, sub.venue, leg, now)
            ),
        };
        conn.send(msg);
    }
}

/// Orders resting at a level: a small count that follows the size, as real books do.
fn orders_at(qty: Decimal) -> u64 {
    1 + (qty.mantissa().unsigned_abs() % 17) as u64
}

fn funding_row(
    inst: &str,
    rate: Decimal,
    mark: Decimal,
    index: Decimal,
    funding_time: i64,
    interval_ms: i64,
    now: i64,
) -> String {
    let premium = if index.is_zero() {
        Decimal::ZERO
    } else {
        ((mark - index) / index).round_dp(16).normalize()
    };
    format!(
        "{{\"formulaType\":\"noRate\",\"fundingRate\":\"{}\",\"fundingTime\":\"{funding_time}\",\"impactValue\":\"\",\"instId\":\"{inst}\",\"instType\":\"SWAP\",\"interestRate\":\"\",\"maxFundingRate\":\"0.00375\",\"method\":\"current_period\",\"minFundingRate\":\"-0.00375\",\"nextFundingRate\":\"\",\"nextFundingTime\":\"{}\",\"premium\":\"{premium}\",\"settFundingRate\":\"{}\",\"settState\":\"settled\",\"ts\":\"{now}\"}}",
        rate.normalize(),
        funding_time + interval_ms,
        rate.normalize(),
    )
}

fn ticker_row(
    ins: &super::listing::ListedInstrument,
    venue: Venue,
    leg: &super::market::LegTick,
    now: i64,
) -> String {
    let stats = DayStats::of(ins);
    let inst = ins.on(venue).map(|l| l.symbol.as_str()).unwrap_or("");
    let inst_type = if venue.is_perp() { "SWAP" } else { "SPOT" };
    format!(
        "{{\"instType\":\"{inst_type}\",\"instId\":\"{inst}\",\"last\":\"{}\",\"lastSz\":\"1\",\"askPx\":\"{}\",\"askSz\":\"{}\",\"bidPx\":\"{}\",\"bidSz\":\"{}\",\"open24h\":\"{}\",\"high24h\":\"{}\",\"low24h\":\"{}\",\"volCcy24h\":\"{}\",\"vol24h\":\"{}\",\"sodUtc0\":\"{}\",\"sodUtc8\":\"{}\",\"ts\":\"{now}\"}}",
        leg.mark,
        leg.ask,
        leg.ask_qty,
        leg.bid,
        leg.bid_qty,
        stats.open,
        stats.high,
        stats.low,
        stats.volume,
        stats.volume,
        stats.open,
        stats.open,
    )
}

fn envelope(code: &str, msg: &str, data: &str) -> String {
    format!(
        "{{\"code\":\"{code}\",\"data\":{data},\"msg\":{}}}",
        json_str(msg)
    )
}

/// Serves `/api/v5/public/*` and `/api/v5/market/*`.
pub(crate) fn rest(req: &RestRequest, shared: &Shared, now: i64) -> Option<Reply> {
    let endpoint = req.path.strip_prefix("/api/v5/")?;
    let listing = &shared.listing;
    let default_venue = if listing.carries(PERP) { PERP } else { SPOT };
    if !listing.carries(default_venue) {
        return None;
    }
    let tick = shared.market.now();
    let empty_param = |name: &str| {
        Reply::ok(
            default_venue,
            envelope(
                "50014",
                &format!("Parameter {name} can not be empty."),
                "[]",
            ),
        )
    };
    let no_such_inst = |venue: Venue| {
        Reply::ok(
            venue,
            envelope("51001", "Instrument ID does not exist", "[]"),
        )
    };
    let inst_type_venue = |t: Option<&str>| match t {
        Some("SWAP") => Some(PERP),
        Some("SPOT") => Some(SPOT),
        _ => None,
    };
    let reply = match endpoint {
        "public/time" => Reply::ok(
            default_venue,
            envelope("0", "", &format!("[{{\"ts\":\"{now}\"}}]")),
        ),
        "public/funding-rate" => {
            let Some(inst_id) = req.param("instId") else {
                return Some(empty_param("instId"));
            };
            let selected: Vec<usize> = if inst_id == "ANY" {
                (0..listing.instruments().len()).collect()
            } else {
                match listing.find(PERP, inst_id) {
                    Some(i) => vec![i],
                    None => return Some(no_such_inst(PERP)),
                }
            };
            if !listing.carries(PERP) {
                return Some(no_such_inst(default_venue));
            }
            let rows: Vec<String> = selected
                .iter()
                .filter_map(|&i| {
                    let l = listing.get(i, PERP)?;
                    let leg = tick.leg(i, PERP)?;
                    Some(funding_row(
                        &l.symbol,
                        leg.funding_rate,
                        leg.mark,
                        leg.index,
                        l.next_funding_time_ms(now),
                        l.settlement_interval_ms()?,
                        now,
                    ))
                })
                .collect();
            Reply::ok(PERP, envelope("0", "", &format!("[{}]", rows.join(","))))
        }
        "public/position-tiers" => {
            if req.param("instType") != Some("SWAP") {
                return Some(empty_param("instType"));
            }
            if req.param("tdMode").is_none() {
                return Some(empty_param("tdMode"));
            }
            let family = req.param("instFamily").or(req.param("uly"));
            let Some(family) = family else {
                return Some(empty_param("instFamily"));
            };
            let Some(i) = listing.find(PERP, &format!("{family}-SWAP")) else {
                return Some(no_such_inst(PERP));
            };
            let rows = position_tiers(listing, i)?;
            Reply::ok(PERP, envelope("0", "", &rows))
        }
        "public/price-limit" => {
            let Some(inst_id) = req.param("instId") else {
                return Some(empty_param("instId"));
            };
            let Some((venue, i)) = resolve_inst(listing, inst_id) else {
                return Some(no_such_inst(default_venue));
            };
            let row = private::price_limit_row(shared, venue, i, now)?;
            Reply::ok(venue, envelope("0", "", &format!("[{row}]")))
        }
        "public/funding-rate-history" => {
            let Some(inst_id) = req.param("instId") else {
                return Some(empty_param("instId"));
            };
            let Some(i) = listing.find(PERP, inst_id) else {
                return Some(no_such_inst(PERP));
            };
            let l = listing.get(i, PERP)?;
            let limit = req
                .param("limit")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(100)
                .clamp(1, 400);
            // What settled, newest first (the current rate before the simulator started).
            let rows: Vec<String> = shared
                .funding_history(PERP, i, now, limit)
                .iter()
                .rev()
                .map(|s| {
                    format!(
                        "{{\"formulaType\":\"noRate\",\"fundingRate\":\"{r}\",\"fundingTime\":\"{}\",\"instId\":\"{}\",\"instType\":\"SWAP\",\"method\":\"current_period\",\"realizedRate\":\"{r}\"}}",
                        s.time_ms,
                        l.symbol,
                        r = s.rate.normalize()
                    )
                })
                .collect();
            Reply::ok(PERP, envelope("0", "", &format!("[{}]", rows.join(","))))
        }
        "public/instruments" => {
            let Some(venue) = inst_type_venue(req.param("instType")) else {
                return Some(empty_param("instType"));
            };
            if !listing.carries(venue) {
                return Some(Reply::ok(default_venue, envelope("0", "", "[]")));
            }
            let selected: Vec<usize> = match req.param("instId") {
                Some(id) => match listing.find(venue, id) {
                    Some(i) => vec![i],
                    None => return Some(no_such_inst(venue)),
                },
                None => (0..listing.instruments().len()).collect(),
            };
            let rows: Vec<String> = selected
                .iter()
                .filter_map(|&i| instrument_row(listing, venue, i))
                .collect();
            Reply::ok(venue, envelope("0", "", &format!("[{}]", rows.join(","))))
        }
        "market/ticker" => {
            let Some(inst_id) = req.param("instId") else {
                return Some(empty_param("instId"));
            };
            let Some((venue, i)) = resolve_inst(listing, inst_id) else {
                return Some(no_such_inst(default_venue));
            };
            let (Some(ins), Some(leg)) = (listing.instruments().get(i), tick.leg(i, venue)) else {
                return None;
            };
            Reply::ok(
                venue,
                envelope("0", "", &format!("[{}]", ticker_row(ins, venue, leg, now))),
            )
        }
        "market/tickers" => {
            let Some(venue) = inst_type_venue(req.param("instType")) else {
                return Some(empty_param("instType"));
            };
            let rows: Vec<String> = listing
                .instruments()
                .iter()
                .enumerate()
                .filter_map(|(i, ins)| Some(ticker_row(ins, venue, tick.leg(i, venue)?, now)))
                .collect();
            Reply::ok(venue, envelope("0", "", &format!("[{}]", rows.join(","))))
        }
        _ => return None,
    };
    Some(reply)
}

/// OKX's position tiers of a SWAP: the simulator's tiers (`risk`), their notional caps turned
/// into contracts at the instrument's starting price (OKX bounds tiers in contracts; the
/// conversion price is the simulator's choice).
fn position_tiers(listing: &Listing, i: usize) -> Option<String> {
    let ins = listing.instruments().get(i)?;
    let l = ins.on(PERP)?;
    let per_contract = l.spec.contract_size.unwrap_or(Decimal::ONE)
        * Decimal::new(ins.start_ticks, ins.price_scale);
    let family = format!("{}-{}", ins.base, ins.quote);
    let rows: Vec<String> = crate::sim::risk::tiers()
        .iter()
        .map(|t| {
            crate::sim::wire::Obj::new()
                .str("uly", &family)
                .str("instFamily", &family)
                .str("instId", "")
                .str("tier", &t.number.to_string())
                .dec("minSz", (t.floor / per_contract).floor())
                .dec("maxSz", (t.cap / per_contract).floor())
                .dec("mmr", t.mmr)
                .dec("imr", t.imr())
                .str("maxLever", &t.max_leverage.to_string())
                .str("optMgnFactor", "0")
                .str("quoteMaxLoan", "")
                .str("baseMaxLoan", "")
                .build()
        })
        .collect();
    Some(format!("[{}]", rows.join(",")))
}

/// The numeric `instIdCode` the instruments endpoint gives an instrument (websocket order
/// entry names instruments by it).
pub(crate) fn inst_id_code(venue: Venue, i: usize) -> usize {
    if venue.is_perp() {
        10_000 + i
    } else {
        20_000 + i
    }
}

fn instrument_row(listing: &Listing, venue: Venue, i: usize) -> Option<String> {
    let ins = listing.instruments().get(i)?;
    let l = ins.on(venue)?;
    let s = &l.spec;
    Some(if venue.is_perp() {
        format!(
            "{{\"alias\":\"\",\"baseCcy\":\"\",\"category\":\"1\",\"ctMult\":\"1\",\"ctType\":\"linear\",\"ctVal\":\"{}\",\"ctValCcy\":\"{}\",\"expTime\":\"\",\"instFamily\":\"{}-{}\",\"instId\":\"{}\",\"instIdCode\":{},\"instType\":\"SWAP\",\"lever\":\"100\",\"listTime\":\"1611916828000\",\"lotSz\":\"{}\",\"maxLmtSz\":\"{max}\",\"maxMktSz\":\"12000\",\"minSz\":\"{}\",\"optType\":\"\",\"quoteCcy\":\"\",\"settleCcy\":\"{}\",\"state\":\"live\",\"stk\":\"\",\"tickSz\":\"{}\",\"uly\":\"{}-{}\"}}",
            s.contract_size.unwrap_or(Decimal::ONE),
            ins.base,
            ins.base,
            ins.quote,
            l.symbol,
            inst_id_code(venue, i),
            s.lot_size,
            s.min_qty,
            ins.quote,
            s.tick_size,
            ins.base,
            ins.quote,
            max = l.max_qty.normalize(),
        )
    } else {
        format!(
            "{{\"alias\":\"\",\"baseCcy\":\"{}\",\"category\":\"1\",\"ctMult\":\"\",\"ctType\":\"\",\"ctVal\":\"\",\"ctValCcy\":\"\",\"expTime\":\"\",\"instFamily\":\"\",\"instId\":\"{}\",\"instIdCode\":{},\"instType\":\"SPOT\",\"lever\":\"10\",\"listTime\":\"1611916828000\",\"lotSz\":\"{}\",\"maxLmtSz\":\"{max}\",\"maxMktSz\":\"1000000\",\"minSz\":\"{}\",\"optType\":\"\",\"quoteCcy\":\"{}\",\"settleCcy\":\"\",\"state\":\"live\",\"stk\":\"\",\"tickSz\":\"{}\",\"uly\":\"\"}}",
            ins.base,
            l.symbol,
            inst_id_code(venue, i),
            s.lot_size,
            s.min_qty,
            ins.quote,
            s.tick_size,
            max = l.max_qty.normalize(),
        )
    })
}

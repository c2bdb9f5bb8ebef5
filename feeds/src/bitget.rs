//! Bitget v2 public channels, `USDT-FUTURES` and `SPOT`. Funding comes from the futures `ticker`
//! channel (rate, next funding time, mark, index; no interval: that comes from REST), the BBO
//! from `books1` (always a full snapshot; `books5`/`books15` read the same way). A ticker that
//! carry subscribes for funding yields no quote, so the book channel stays the only BBO source on
//! the connection; a spot ticker (not subscribed) reads as a quote. The client sends the text
//! `ping` every 30 s; the server forcibly disconnects every 24 h.
//!
//! Base URL: `wss://ws.bitget.com`; the module appends `/v2/ws/public`.

use std::time::Duration;

use carry_engine::{Funding, Market, Venue};

use crate::json::{opt_decimal, opt_level, opt_millis, Fault, Json};
use crate::session::{DropReason, Heartbeat, Inbound};
use crate::venues::{arg_envelope, book_item, chunks, for_each_item, Cx, Plan, DAY};

/// Instruments per connection: Bitget recommends fewer than 50 channels per connection, and a
/// perp takes two.
pub const SYMBOLS_PER_CONNECTION: usize = 24;

pub(crate) fn plans(venue: Venue, base: &str, symbols: &[&str]) -> Vec<Plan> {
    let inst_type = inst_type(venue);
    chunks(symbols, SYMBOLS_PER_CONNECTION)
        .map(|chunk| {
            let mut args = Vec::new();
            for symbol in chunk {
                if venue.market == Market::Perp {
                    args.push(serde_json::json!({"instType": inst_type, "channel": "ticker", "instId": symbol}));
                }
                args.push(serde_json::json!({"instType": inst_type, "channel": "books1", "instId": symbol}));
            }
            Plan {
                url: format!("{base}/v2/ws/public"),
                subscribe: vec![serde_json::json!({"op": "subscribe", "args": args}).to_string()],
                heartbeat: Some(Heartbeat {
                    every: Duration::from_secs(30),
                    text: "ping".to_string(),
                }),
                max_age: Some(DAY),
            }
        })
        .collect()
}

/// Bitget's `instType` for a venue.
pub const fn inst_type(venue: Venue) -> &'static str {
    match venue.market {
        Market::Perp => "USDT-FUTURES",
        Market::Spot => "SPOT",
    }
}

pub(crate) fn parse(root: Json<'_, '_>, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    if !root.is_object() {
        return Err(Fault::malformed("not a JSON object"));
    }
    let (mut arg, mut data, mut event, mut code, mut msg, mut ts) =
        (None, None, None, None, None, None);
    for (key, value) in root.fields() {
        match key {
            "arg" => arg = Some(value),
            "data" => data = Some(value),
            "event" => event = value.as_str(),
            "code" => code = Some(value),
            "msg" => msg = value.as_str(),
            "ts" => ts = Some(value),
            _ => {}
        }
    }
    if let Some(event) = event {
        return match event {
            "subscribe" => Ok(Inbound::SubscribeAck),
            "error" => Err(cx.subscribe_error(code, msg)),
            "unsubscribe" | "login" => Ok(Inbound::Control),
            _ => Err(Fault::new(DropReason::UnknownChannel, "event")),
        };
    }
    let (channel, arg_inst, data) = arg_envelope(arg, data)?;
    // `data[].ts` is a string, the envelope's `ts` a number; prefer the item's own.
    let frame_ts = opt_millis(ts, "ts")?;
    match channel {
        "ticker" => for_each_item(data, cx, |item, cx| ticker(item, arg_inst, frame_ts, cx)),
        "books1" | "books5" | "books15" => {
            for_each_item(data, cx, |item, cx| book_item(item, arg_inst, frame_ts, cx))
        }
        _ => Err(Fault::new(DropReason::UnknownChannel, "arg.channel")),
    }
}

fn ticker(
    item: Json<'_, '_>,
    arg_inst: Option<&str>,
    frame_ts: Option<i64>,
    cx: &mut Cx<'_>,
) -> Result<(), Fault> {
    let mut inst = arg_inst;
    let (mut rate, mut next, mut mark, mut index, mut ts) = (None, None, None, None, None);
    let (mut bid, mut bid_qty, mut ask, mut ask_qty) = (None, None, None, None);
    for (key, value) in item.fields() {
        match key {
            "instId" => inst = value.as_str().or(inst),
            "fundingRate" => rate = Some(value),
            "nextFundingTime" => next = Some(value),
            "markPrice" => mark = Some(value),
            "indexPrice" => index = Some(value),
            "bidPr" => bid = Some(value),
            "bidSz" => bid_qty = Some(value),
            "askPr" => ask = Some(value),
            "askSz" => ask_qty = Some(value),
            "ts" => ts = Some(value),
            _ => {}
        }
    }
    let id = cx.instrument(inst.ok_or(Fault::missing("instId"))?)?;
    let ts = cx.ts(opt_millis(ts, "data.ts")?.or(frame_ts));
    match cx.venue.market {
        Market::Perp => {
            let funding = Funding {
                rate: opt_decimal(rate, "fundingRate")?.ok_or(Fault::missing("fundingRate"))?,
                predicted_rate: None,
                next_funding_time_ms: opt_millis(next, "nextFundingTime")?.unwrap_or(0),
                interval_ms: None,
                mark_price: opt_decimal(mark, "markPrice")?,
                index_price: opt_decimal(index, "indexPrice")?,
            };
            cx.funding(id, ts, funding)
        }
        Market::Spot => {
            let bid = opt_level(bid, bid_qty, "bidPr", "bidSz")?;
            let ask = opt_level(ask, ask_qty, "askPr", "askSz")?;
            cx.quote_top(id, ts, bid, ask)
        }
    }
}

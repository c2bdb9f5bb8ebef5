//! OKX v5 public channels, SWAP and SPOT. Funding comes from `funding-rate` (pushed every 30 to
//! 90 s; all values strings; the interval is `nextFundingTime − fundingTime`), the BBO from
//! `bbo-tbt` (a full one-level snapshot every 10 ms when it changes; SWAP sizes are contracts,
//! converted with `ctVal`). The `tickers` channel, which carry does not subscribe, also reads as
//! a quote. The client sends the text `ping` (the server answers `pong`) before 30 s of silence;
//! `event:"notice"` announces a service upgrade 60 s ahead and asks for a reconnect.
//!
//! Base URL: `wss://ws.okx.com:8443`; the module appends `/ws/v5/public`.

use std::time::Duration;

use carry_engine::interval::interval_from_schedule;
use carry_engine::{Funding, Market, Venue};

use crate::json::{opt_decimal, opt_level, opt_millis, Fault, Json};
use crate::session::{DropReason, Heartbeat, Inbound};
use crate::venues::{arg_envelope, book_item, chunks, for_each_item, Cx, Plan};

/// Instruments per connection: OKX asks for fewer than 30 depth channels per connection.
pub const SYMBOLS_PER_CONNECTION: usize = 25;

pub(crate) fn plans(venue: Venue, base: &str, symbols: &[&str]) -> Vec<Plan> {
    chunks(symbols, SYMBOLS_PER_CONNECTION)
        .enumerate()
        .map(|(n, chunk)| {
            let mut args = Vec::new();
            for symbol in chunk {
                if venue.market == Market::Perp {
                    args.push(serde_json::json!({"channel": "funding-rate", "instId": symbol}));
                }
                args.push(serde_json::json!({"channel": "bbo-tbt", "instId": symbol}));
            }
            let request = serde_json::json!({"id": format!("carry{}", n + 1), "op": "subscribe", "args": args});
            Plan {
                url: format!("{base}/ws/v5/public"),
                subscribe: vec![request.to_string()],
                heartbeat: Some(Heartbeat {
                    every: Duration::from_secs(20),
                    text: "ping".to_string(),
                }),
                max_age: None,
            }
        })
        .collect()
}

pub(crate) fn parse(root: Json<'_, '_>, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    if !root.is_object() {
        return Err(Fault::malformed("not a JSON object"));
    }
    let (mut arg, mut data, mut event, mut code, mut msg) = (None, None, None, None, None);
    for (key, value) in root.fields() {
        match key {
            "arg" => arg = Some(value),
            "data" => data = Some(value),
            "event" => event = value.as_str(),
            "code" => code = Some(value),
            "msg" => msg = value.as_str(),
            _ => {}
        }
    }
    if let Some(event) = event {
        return match event {
            "subscribe" => Ok(Inbound::SubscribeAck),
            "error" => Err(cx.subscribe_error(code, msg)),
            "notice" => Ok(cx.notice(msg)),
            "unsubscribe" | "channel-conn-count" | "channel-conn-count-error" | "login" => {
                Ok(Inbound::Control)
            }
            _ => Err(Fault::new(DropReason::UnknownChannel, "event")),
        };
    }
    let (channel, arg_inst, data) = arg_envelope(arg, data)?;
    match channel {
        "funding-rate" => for_each_item(data, cx, |item, cx| funding(item, arg_inst, cx)),
        // Levels are `[price, size, "0", orders]`.
        "bbo-tbt" | "books5" => {
            for_each_item(data, cx, |item, cx| book_item(item, arg_inst, None, cx))
        }
        "tickers" => for_each_item(data, cx, |item, cx| ticker(item, arg_inst, cx)),
        _ => Err(Fault::new(DropReason::UnknownChannel, "arg.channel")),
    }
}

fn funding(item: Json<'_, '_>, arg_inst: Option<&str>, cx: &mut Cx<'_>) -> Result<(), Fault> {
    let mut inst = arg_inst;
    let (mut rate, mut predicted, mut time, mut next, mut ts) = (None, None, None, None, None);
    for (key, value) in item.fields() {
        match key {
            "instId" => inst = value.as_str().or(inst),
            "fundingRate" => rate = Some(value),
            "nextFundingRate" => predicted = Some(value),
            "fundingTime" => time = Some(value),
            "nextFundingTime" => next = Some(value),
            "ts" => ts = Some(value),
            _ => {}
        }
    }
    let id = cx.instrument(inst.ok_or(Fault::missing("instId"))?)?;
    // `fundingTime` is the upcoming settlement, `nextFundingTime` the one after it.
    let settles = opt_millis(time, "fundingTime")?;
    let after = opt_millis(next, "nextFundingTime")?;
    let interval_ms = settles
        .zip(after)
        .and_then(|(a, b)| interval_from_schedule(a, b));
    let funding = Funding {
        rate: opt_decimal(rate, "fundingRate")?.ok_or(Fault::missing("fundingRate"))?,
        // `""` under method=current_period, which is all instruments now.
        predicted_rate: opt_decimal(predicted, "nextFundingRate")?,
        next_funding_time_ms: settles.unwrap_or(0),
        interval_ms,
        mark_price: None,
        index_price: None,
    };
    let ts = cx.ts(opt_millis(ts, "ts")?);
    cx.funding(id, ts, funding)
}

fn ticker(item: Json<'_, '_>, arg_inst: Option<&str>, cx: &mut Cx<'_>) -> Result<(), Fault> {
    let mut inst = arg_inst;
    let (mut bid, mut bid_qty, mut ask, mut ask_qty, mut ts) = (None, None, None, None, None);
    for (key, value) in item.fields() {
        match key {
            "instId" => inst = value.as_str().or(inst),
            "bidPx" => bid = Some(value),
            "bidSz" => bid_qty = Some(value),
            "askPx" => ask = Some(value),
            "askSz" => ask_qty = Some(value),
            "ts" => ts = Some(value),
            _ => {}
        }
    }
    let id = cx.instrument(inst.ok_or(Fault::missing("instId"))?)?;
    let bid = opt_level(bid, bid_qty, "bidPx", "bidSz")?;
    let ask = opt_level(ask, ask_qty, "askPx", "askSz")?;
    let ts = cx.ts(opt_millis(ts, "ts")?);
    cx.quote_top(id, ts, bid, ask)
}

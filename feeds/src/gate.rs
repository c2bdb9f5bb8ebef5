//! Gate v4, USDT-settled futures and spot. Funding comes from `futures.tickers` (rate, mark,
//! index; neither next funding time nor interval, so both come from the REST contract and the
//! next settlement is rolled forward by the interval as it passes), the BBO from
//! `futures.book_ticker` (sizes in contracts, integers unless the connection asked for decimal
//! sizes, converted with `quanto_multiplier`) and `spot.book_ticker` (base units). Envelope
//! `time` is in seconds, `time_ms` and `result.t` in ms. The server pings with protocol frames;
//! the optional `futures.ping`/`spot.ping` is sent as well, every 30 s. A `service_upgrade`
//! notice asks for a reconnect.
//!
//! Base URLs: `wss://fx-ws.gateio.ws` (perp; the module appends `/v4/ws/usdt`) and
//! `wss://api.gateio.ws` (spot; appends `/ws/v4/`).

use std::time::Duration;

use carry_engine::{Funding, Market, Quote, Venue};

use crate::clock;
use crate::json::{decimal, opt_decimal, opt_millis, Fault, Json};
use crate::session::{DropReason, Heartbeat, Inbound};
use crate::venues::{chunks, for_each_item, Cx, Plan};

/// Contracts per connection: Gate documents no limit; this keeps reconnects cheap.
pub const SYMBOLS_PER_CONNECTION: usize = 100;

pub(crate) fn plans(venue: Venue, base: &str, symbols: &[&str]) -> Vec<Plan> {
    // Gate wants a `time` (Unix seconds) in every request; it is informational.
    let now = clock::unix_ms() / 1000;
    let (path, prefix, channels): (&str, &str, &[&str]) = match venue.market {
        Market::Perp => (
            "/v4/ws/usdt",
            "futures",
            &["futures.tickers", "futures.book_ticker"],
        ),
        Market::Spot => ("/ws/v4/", "spot", &["spot.book_ticker"]),
    };
    chunks(symbols, SYMBOLS_PER_CONNECTION)
        .map(|chunk| Plan {
            url: format!("{base}{path}"),
            subscribe: channels
                .iter()
                .map(|channel| {
                    serde_json::json!({"time": now, "channel": channel, "event": "subscribe", "payload": chunk})
                        .to_string()
                })
                .collect(),
            heartbeat: Some(Heartbeat {
                every: Duration::from_secs(30),
                text: serde_json::json!({"time": now, "channel": format!("{prefix}.ping")}).to_string(),
            }),
            max_age: None,
        })
        .collect()
}

pub(crate) fn parse(root: Json<'_, '_>, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    if !root.is_object() {
        return Err(Fault::malformed("not a JSON object"));
    }
    let (mut time, mut time_ms, mut channel, mut event, mut error, mut result) =
        (None, None, None, None, None, None);
    let (mut kind, mut msg) = (None, None);
    for (key, value) in root.fields() {
        match key {
            "time" => time = value.as_i64(),
            "time_ms" => time_ms = Some(value),
            "channel" => channel = value.as_str(),
            "event" => event = value.as_str(),
            "error" => error = Some(value),
            "result" => result = Some(value),
            "type" => kind = value.as_str(),
            "msg" => msg = value.as_str(),
            _ => {}
        }
    }
    if matches!(kind, Some("service_upgrade" | "upgrade")) {
        return Ok(cx.notice(msg));
    }
    let channel = channel.ok_or(Fault::malformed("no channel"))?;
    if channel.ends_with(".pong") || channel.ends_with(".ping") {
        return Ok(Inbound::Control);
    }
    if let Some(error) = error.filter(|e| !e.is_null()) {
        let message = error.get("message").and_then(|m| m.as_str());
        return Err(cx.subscribe_error(error.get("code"), message));
    }
    match event {
        Some("subscribe") => return Ok(Inbound::SubscribeAck),
        Some("unsubscribe") => return Ok(Inbound::Control),
        Some("update" | "all") => {}
        _ => return Err(Fault::new(DropReason::UnknownChannel, "event")),
    }
    let frame_ms = match opt_millis(time_ms, "time_ms")? {
        Some(ms) => Some(ms),
        None => time.map(|s| s.saturating_mul(1000)),
    };
    let result = result.ok_or(Fault::missing("result"))?;
    match channel {
        "futures.tickers" if result.is_array() => {
            for_each_item(result, cx, |item, cx| ticker(item, frame_ms, cx))
        }
        "futures.tickers" => ticker(result, frame_ms, cx).map(|()| cx.data()),
        "futures.book_ticker" | "spot.book_ticker" => {
            book_ticker(result, frame_ms, cx).map(|()| cx.data())
        }
        _ => Err(Fault::new(DropReason::UnknownChannel, "channel")),
    }
}

fn ticker(item: Json<'_, '_>, frame_ms: Option<i64>, cx: &mut Cx<'_>) -> Result<(), Fault> {
    let (mut contract, mut rate, mut mark, mut index) = (None, None, None, None);
    for (key, value) in item.fields() {
        match key {
            "contract" => contract = value.as_str(),
            "funding_rate" => rate = Some(value),
            "mark_price" => mark = Some(value),
            "index_price" => index = Some(value),
            _ => {}
        }
    }
    let id = cx.instrument(contract.ok_or(Fault::missing("contract"))?)?;
    let ts = cx.ts(frame_ms);
    let (next_funding_time_ms, interval_ms) = match cx.meta(id) {
        Some(meta) => {
            if let Some(interval) = meta.interval_ms.and_then(|i| i64::try_from(i).ok()) {
                if meta.next_funding_ms > 0 && interval > 0 && meta.next_funding_ms <= ts {
                    let passed = (ts - meta.next_funding_ms) / interval + 1;
                    meta.next_funding_ms = meta
                        .next_funding_ms
                        .saturating_add(passed.saturating_mul(interval));
                }
            }
            (meta.next_funding_ms, meta.interval_ms)
        }
        None => (0, None),
    };
    let funding = Funding {
        // `funding_rate_indicative` is deprecated ("use funding_rate"), so no predicted rate.
        rate: opt_decimal(rate, "funding_rate")?.ok_or(Fault::missing("funding_rate"))?,
        predicted_rate: None,
        next_funding_time_ms,
        interval_ms,
        mark_price: opt_decimal(mark, "mark_price")?,
        index_price: opt_decimal(index, "index_price")?,
    };
    cx.funding(id, ts, funding)
}

fn book_ticker(result: Json<'_, '_>, frame_ms: Option<i64>, cx: &mut Cx<'_>) -> Result<(), Fault> {
    let (mut t, mut symbol, mut bid, mut bid_qty, mut ask, mut ask_qty) =
        (None, None, None, None, None, None);
    for (key, value) in result.fields() {
        match key {
            "t" => t = Some(value),
            "s" => symbol = value.as_str(),
            "b" => bid = Some(value),
            "B" => bid_qty = Some(value),
            "a" => ask = Some(value),
            "A" => ask_qty = Some(value),
            _ => {}
        }
    }
    let id = cx.instrument(symbol.ok_or(Fault::missing("s"))?)?;
    // A side with no orders has price "" (and size 0): nothing to quote.
    let (Some(bid), Some(ask)) = (opt_decimal(bid, "b")?, opt_decimal(ask, "a")?) else {
        return Ok(());
    };
    let quote = Quote {
        bid,
        bid_qty: decimal(bid_qty.ok_or(Fault::missing("B"))?, "B")?,
        ask,
        ask_qty: decimal(ask_qty.ok_or(Fault::missing("A"))?, "A")?,
    };
    let ts = cx.ts(opt_millis(t, "t")?.or(frame_ms));
    cx.quote(id, ts, quote)
}

//! Binance USDⓈ-M perpetuals and spot. Funding comes from `<symbol>@markPrice` (every 3 s: rate,
//! next funding time, mark and index price) on the `/market` route, the BBO from
//! `<symbol>@bookTicker` on the `/public` route; since 2026-04-23 each stream only works on its
//! own route, so a perp venue needs two connections. Spot BBO is `<symbol>@bookTicker` on the
//! spot host. Streams are named in the URL (`/stream?streams=a/b`, combined mode, which wraps
//! each event as `{"stream":..,"data":..}`), so nothing is sent after the handshake; the server
//! pings with protocol frames (answered by the transport) and closes connections after 24 h.
//!
//! Base URLs: `wss://fstream.binance.com` (perp), `wss://stream.binance.com:9443` (spot).

use carry_engine::{Funding, Market, Quote, Venue};

use crate::json::{decimal, millis, opt_decimal, opt_millis, Fault, Json};
use crate::session::{DropReason, Inbound};
use crate::venues::{chunks, for_each_item, Cx, Plan, DAY};

/// Streams per connection. The docs allow 1024; 200 is the practical cap production clients
/// (nautilus_trader) use, and it keeps the URL short.
pub const STREAMS_PER_CONNECTION: usize = 200;

pub(crate) fn plans(venue: Venue, base: &str, symbols: &[&str]) -> Vec<Plan> {
    let url = |route: &str, chunk: &[&str], stream: &str| {
        let streams: Vec<String> = chunk
            .iter()
            .map(|s| format!("{}@{stream}", s.to_ascii_lowercase()))
            .collect();
        format!("{base}{route}/stream?streams={}", streams.join("/"))
    };
    let plan = |url: String| Plan {
        url,
        subscribe: Vec::new(),
        heartbeat: None,
        max_age: Some(DAY),
    };
    let mut plans = Vec::new();
    for chunk in chunks(symbols, STREAMS_PER_CONNECTION) {
        match venue.market {
            Market::Perp => {
                plans.push(plan(url("/market", chunk, "markPrice")));
                plans.push(plan(url("/public", chunk, "bookTicker")));
            }
            Market::Spot => plans.push(plan(url("", chunk, "bookTicker"))),
        }
    }
    plans
}

pub(crate) fn parse(root: Json<'_, '_>, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    if root.is_array() {
        // Raw-mode all-market stream (`!markPrice@arr`).
        return for_each_item(root, cx, |item, cx| event(item, cx).map(|_| ()));
    }
    if !root.is_object() {
        return Err(Fault::malformed("not a JSON object"));
    }
    // One pass over the root reads both the envelope (combined-stream `data`, replies to
    // requests) and a raw-mode event's own fields.
    let f = read_fields(root);
    if let Some(data) = f.data {
        if data.is_array() {
            return for_each_item(data, cx, |item, cx| event(item, cx).map(|_| ()));
        }
        return event(data, cx);
    }
    if let Some(error) = f.error.filter(|e| !e.is_null()) {
        let msg = error.get("msg").and_then(|m| m.as_str());
        return Err(cx.subscribe_error(error.get("code"), msg));
    }
    if f.code.is_some() && f.msg.is_some() {
        return Err(cx.subscribe_error(f.code, f.msg));
    }
    if f.id {
        // `{"result":null,"id":1}` answers SUBSCRIBE; other requests with an id answer with data
        // in `result` and need nothing either.
        return Ok(Inbound::SubscribeAck);
    }
    dispatch(&f, cx)
}

/// One stream event: markPriceUpdate, bookTicker (the spot one has no `e`), serverShutdown.
fn event(obj: Json<'_, '_>, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    dispatch(&read_fields(obj), cx)
}

fn read_fields<'t, 'i>(obj: Json<'t, 'i>) -> Fields<'t, 'i> {
    let mut f = Fields::default();
    for (key, value) in obj.fields() {
        match key {
            "e" => f.e = value.as_str(),
            "E" => f.event_time = Some(value),
            "T" => f.t = Some(value),
            "s" => f.s = value.as_str(),
            "p" => f.p = Some(value),
            "i" => f.i = Some(value),
            "r" => f.r = Some(value),
            "b" => f.b = Some(value),
            "B" => f.bq = Some(value),
            "a" => f.a = Some(value),
            "A" => f.aq = Some(value),
            "msg" => f.msg = value.as_str(),
            "data" => f.data = Some(value),
            "id" => f.id = true,
            "error" => f.error = Some(value),
            "code" => f.code = Some(value),
            _ => {}
        }
    }
    f
}

fn dispatch(f: &Fields<'_, '_>, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    match f.e {
        Some("markPriceUpdate") => mark_price(f, cx),
        Some("bookTicker") => book_ticker(f, cx),
        None if f.b.is_some() && f.a.is_some() => book_ticker(f, cx),
        Some("serverShutdown") => Ok(cx.notice(f.msg.or(Some("serverShutdown")))),
        Some(_) => Err(Fault::new(DropReason::UnknownChannel, "e (event type)")),
        None => Err(Fault::malformed("no event type `e`")),
    }
}

#[derive(Default)]
struct Fields<'t, 'i> {
    e: Option<&'i str>,
    event_time: Option<Json<'t, 'i>>,
    t: Option<Json<'t, 'i>>,
    s: Option<&'i str>,
    p: Option<Json<'t, 'i>>,
    i: Option<Json<'t, 'i>>,
    r: Option<Json<'t, 'i>>,
    b: Option<Json<'t, 'i>>,
    bq: Option<Json<'t, 'i>>,
    a: Option<Json<'t, 'i>>,
    aq: Option<Json<'t, 'i>>,
    msg: Option<&'i str>,
    data: Option<Json<'t, 'i>>,
    id: bool,
    error: Option<Json<'t, 'i>>,
    code: Option<Json<'t, 'i>>,
}

fn mark_price(f: &Fields<'_, '_>, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    let id = cx.instrument(f.s.ok_or(Fault::missing("s"))?)?;
    let rate = opt_decimal(f.r, "r")?.ok_or(Fault::missing("r"))?;
    let funding = Funding {
        rate,
        predicted_rate: None,
        next_funding_time_ms: opt_millis(f.t, "T")?.unwrap_or(0),
        interval_ms: None,
        mark_price: opt_decimal(f.p, "p")?,
        index_price: opt_decimal(f.i, "i")?,
    };
    let ts = cx.ts(opt_millis(f.event_time, "E")?);
    cx.funding(id, ts, funding)?;
    Ok(cx.data())
}

fn book_ticker(f: &Fields<'_, '_>, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    let id = cx.instrument(f.s.ok_or(Fault::missing("s"))?)?;
    let quote = Quote {
        bid: decimal(f.b.ok_or(Fault::missing("b"))?, "b")?,
        bid_qty: decimal(f.bq.ok_or(Fault::missing("B"))?, "B")?,
        ask: decimal(f.a.ok_or(Fault::missing("a"))?, "a")?,
        ask_qty: decimal(f.aq.ok_or(Fault::missing("A"))?, "A")?,
    };
    // Spot bookTicker carries no time (some captures do: use it when there).
    let venue_time = match f.event_time {
        Some(v) => Some(millis(v, "E")?),
        None => opt_millis(f.t, "T")?,
    };
    let ts = cx.ts(venue_time);
    cx.quote(id, ts, quote)?;
    Ok(cx.data())
}

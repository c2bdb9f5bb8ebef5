//! Gate v4, USDT-settled futures and spot. Funding comes from `futures.tickers` (rate, mark,
//! index; neither next funding time nor interval, so both come from the REST contract and the
//! next settlement is rolled forward by the interval as it passes), the BBO from
//! `futures.book_ticker` (sizes in contracts, integers unless the connection asked for decimal
//! sizes, converted with `quanto_multiplier`) and `spot.book_ticker` (base units). Envelope
//! `time` is in seconds, `time_ms` and `result.t` in ms. The server pings with protocol frames;
//! the optional `futures.ping`/`spot.ping` is sent as well, every 30 s. A `service_upgrade`
//! notice asks for a reconnect.
//!
//! Paths appended to the base URL: `/v4/ws/usdt` (perp) and `/ws/v4/` (spot).

use std::time::Duration;

use carry_engine::{Funding, Market, Quote, Venue};

use crate::json::cursor::{Code, Cursor, Dec, Int, Scanner, Slot};
use crate::json::strict::Strict;
use crate::json::Fault;
use crate::transport::clock;
use crate::transport::session::{DropReason, Heartbeat, Inbound};
use crate::venue::market_ws::{
    chunks, each_read, read_error, Cx, ExchangeReader, Plan, Reader, Saved, Sym, SymbolText,
};

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

/// The elements of the push being read, reused frame after frame.
pub(crate) struct State {
    items: Vec<Item>,
}

impl ExchangeReader for State {
    fn new(_instruments: usize) -> State {
        State {
            items: Vec::with_capacity(4),
        }
    }

    #[inline]
    fn read(
        &mut self,
        scanner: &mut Scanner,
        frame: &mut [u8],
        cx: &mut Cx<'_>,
    ) -> Result<Inbound, Fault> {
        parse(scanner, frame, cx, &mut self.items)
    }
}

fn parse(
    scanner: &mut Scanner,
    frame: &mut [u8],
    cx: &mut Cx<'_>,
    items: &mut Vec<Item>,
) -> Result<Inbound, Fault> {
    if let Some(top) = cx.attempt(Reader::InOrder, |cx| book_in_order(frame, items, cx)) {
        return act(top, items, cx);
    }
    if let Some(top) = cx.attempt(Reader::Keyed, |cx| fast(frame, items, cx)) {
        return act(top, items, cx);
    }
    let mut top = Top::default();
    let mut cur = scanner.scan(frame)?;
    cur.root_object()?;
    while let Some(key) = cur.next_key() {
        if let Some(slot) = top.slot(key) {
            cur.read(slot);
            continue;
        }
        match key {
            b"error" => {
                let (rest, read) = read_error(cur, cx, b"message");
                cur = rest;
                top.error = read;
            }
            b"result" => {
                // One loop for both shapes, so that an element is read at one place.
                items.clear();
                let many = cur.array();
                loop {
                    if many && !cur.next_item() {
                        break;
                    }
                    items.push(Item::default());
                    let item = items.last_mut().ok_or(Fault::malformed("result"))?;
                    if cur.object() {
                        read_item(&mut cur, cx, item);
                    } else {
                        cur.skip();
                    }
                    if !many {
                        break;
                    }
                }
                top.result = if many { Result_::Many } else { Result_::One };
            }
            _ => cur.skip(),
        }
    }
    cur.end()?;
    act(top, items, cx)
}

/// The fast path (see [`Strict`]): a frame whose `result` is an object or an array of objects,
/// read (its elements into `items`) as the general path would read it. `None` for anything else
/// (an `error`, a `result` of another type, a frame that is not compact plain JSON); run it
/// through [`Cx::attempt`].
#[inline(always)]
fn fast<'a>(frame: &'a [u8], items: &mut Vec<Item>, cx: &mut Cx<'_>) -> Option<Top<'a>> {
    let mut top = Top::default();
    let mut s = Strict::new(frame)?;
    s.object()?;
    while let Some(key) = s.next_key()? {
        if let Some(slot) = top.slot(key) {
            s.read(slot)?;
            continue;
        }
        match key {
            b"error" => return None,
            b"result" => {
                items.clear();
                let mut item = |s: &mut Strict<'a>| {
                    s.object()?;
                    // Read in place: an item is too big to move cheaply.
                    items.push(Item::default());
                    let item = items.last_mut()?;
                    let mut text = SymbolText::default();
                    while let Some(key) = s.next_key()? {
                        s.read(item.slot(key, &mut text))?;
                    }
                    item.finish(&text, cx);
                    Some(())
                };
                top.result = if s.eat(b"[") {
                    s.items(&mut item)?;
                    Result_::Many
                } else {
                    item(&mut s)?;
                    Result_::One
                };
            }
            _ => s.skip()?,
        }
    }
    s.end()?;
    Some(top)
}

/// A book ticker (`futures.book_ticker`, `spot.book_ticker`) with its fields in the order Gate
/// sends them, each key checked by one compare together with the punctuation around it, the
/// fields after them (in `result` and after it) read by key. Read as [`fast`] reads it; `None`
/// for anything else.
#[inline(always)]
fn book_in_order<'a>(frame: &'a [u8], items: &mut Vec<Item>, cx: &mut Cx<'_>) -> Option<Top<'a>> {
    let mut s = Strict::in_order(frame);
    let mut top = Top::default();
    s.expect(b"{\"time\":")?;
    s.read(Slot::Int(&mut top.time))?;
    s.expect(b",\"time_ms\":")?;
    s.read(Slot::Int(&mut top.time_ms))?;
    let channel: &'static [u8] = if s.eat(b",\"channel\":\"futures.book_ticker\"") {
        b"futures.book_ticker"
    } else {
        s.expect(b",\"channel\":\"spot.book_ticker\"")?;
        b"spot.book_ticker"
    };
    top.channel = Some(channel);
    s.expect(b",\"event\":\"update\",\"result\":{\"t\":")?;
    top.event = Some(b"update");
    items.clear();
    items.push(Item::default());
    let item = items.last_mut()?;
    let mut text = SymbolText::default();
    s.read(Slot::Int(&mut item.t))?;
    s.expect(b",\"u\":")?;
    s.skip()?;
    s.expect(b",\"s\":")?;
    s.read(Slot::Str(&mut text.book))?;
    s.expect(b",\"b\":")?;
    s.read(Slot::Dec(&mut item.bid))?;
    s.expect(b",\"B\":")?;
    s.read(Slot::Dec(&mut item.bid_qty))?;
    s.expect(b",\"a\":")?;
    s.read(Slot::Dec(&mut item.ask))?;
    s.expect(b",\"A\":")?;
    s.read(Slot::Dec(&mut item.ask_qty))?;
    // Most frames end here; fields after these are read by key.
    if !s.eat(b"}}") {
        while let Some(key) = s.next_key()? {
            s.read(item.slot(key, &mut text))?;
        }
        while let Some(key) = s.next_key()? {
            match top.slot(key) {
                Some(slot) => s.read(slot)?,
                // An error, or a second result (which replaces the first): for the keyed
                // reader.
                None if matches!(key, b"error" | b"result") => return None,
                None => s.skip()?,
            }
        }
    }
    s.end()?;
    item.finish(&text, cx);
    top.result = Result_::One;
    Some(top)
}

/// A frame's top-level fields, as read.
#[derive(Default)]
struct Top<'a> {
    time: Int,
    time_ms: Int,
    channel: Option<&'a [u8]>,
    event: Option<&'a [u8]>,
    kind: Option<&'a [u8]>,
    msg: Option<&'a [u8]>,
    error: Option<(Code<'a>, Option<Saved>)>,
    // `result` is read whatever the channel (which may come after it): a ticker's and a book
    // ticker's fields have different names, so one set of fields holds either.
    result: Result_,
}

impl<'a> Top<'a> {
    /// Where the value of `key` goes if it is a plain top-level field.
    #[inline(always)]
    fn slot(&mut self, key: &[u8]) -> Option<Slot<'_, 'a>> {
        Some(match key {
            b"time" => Slot::Int(&mut self.time),
            b"time_ms" => Slot::Int(&mut self.time_ms),
            b"channel" => Slot::Str(&mut self.channel),
            b"event" => Slot::Str(&mut self.event),
            b"type" => Slot::Str(&mut self.kind),
            b"msg" => Slot::Str(&mut self.msg),
            _ => return None,
        })
    }
}

/// What a frame said, once read in full.
fn act(top: Top<'_>, items: &[Item], cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    let msg = top.msg.map(|m| cx.save(m));
    if matches!(top.kind, Some(b"service_upgrade" | b"upgrade")) {
        return Ok(cx.reconnect_notice(msg, "(no message)"));
    }
    let channel = top.channel.ok_or(Fault::malformed("no channel"))?;
    if channel.ends_with(b".pong") || channel.ends_with(b".ping") {
        return Ok(Inbound::Control);
    }
    if let Some((code, message)) = top.error {
        return Err(cx.refused(code, message));
    }
    match top.event {
        Some(b"subscribe") => return Ok(Inbound::SubscribeAck),
        Some(b"unsubscribe") => return Ok(Inbound::Control),
        Some(b"update" | b"all") => {}
        _ => return Err(Fault::new(DropReason::UnknownChannel, "event")),
    }
    let frame_ms = match top.time_ms.opt_millis("time_ms")? {
        Some(ms) => Some(ms),
        None => match top.time {
            Int::Num(s) => Some(s.saturating_mul(1000)),
            _ => None,
        },
    };
    match (channel, top.result) {
        (_, Result_::Absent) => Err(Fault::missing("result")),
        (b"futures.tickers", Result_::Many) => {
            each_read(items, cx, |item, cx| ticker(item, frame_ms, cx))
        }
        (b"futures.tickers", Result_::One) => {
            let item = items.first().unwrap_or(&Item::EMPTY);
            ticker(item, frame_ms, cx).map(|()| cx.data())
        }
        (b"futures.book_ticker" | b"spot.book_ticker", result) => {
            // An array has none of a book ticker's fields.
            let item = match result {
                Result_::One => items.first().unwrap_or(&Item::EMPTY),
                _ => &Item::EMPTY,
            };
            book_ticker(item, frame_ms, cx).map(|()| cx.data())
        }
        _ => Err(Fault::new(DropReason::UnknownChannel, "channel")),
    }
}

/// What a message's `result` held (its elements are in the parser's reused items).
#[derive(Clone, Copy, Default)]
enum Result_ {
    #[default]
    Absent,
    /// An object (or a value that is not an array: no fields): one item.
    One,
    Many,
}

/// A `futures.tickers` element (`contract`, funding, mark, index) or a book ticker (`t`, `s`,
/// `b`, `B`, `a`, `A`), as read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Item {
    contract: Sym,
    rate: Dec,
    mark: Dec,
    index: Dec,
    t: Int,
    symbol: Sym,
    bid: Dec,
    bid_qty: Dec,
    ask: Dec,
    ask_qty: Dec,
}

impl Item {
    const EMPTY: Item = Item {
        contract: Sym::Absent,
        rate: Dec::Absent,
        mark: Dec::Absent,
        index: Dec::Absent,
        t: Int::Absent,
        symbol: Sym::Absent,
        bid: Dec::Absent,
        bid_qty: Dec::Absent,
        ask: Dec::Absent,
        ask_qty: Dec::Absent,
    };
}

impl Item {
    /// Where the value of `key` goes.
    #[inline(always)]
    fn slot<'s, 'a>(&'s mut self, key: &[u8], text: &'s mut SymbolText<'a>) -> Slot<'s, 'a> {
        match key {
            b"contract" => Slot::Str(&mut text.ticker),
            b"funding_rate" => Slot::Dec(&mut self.rate),
            b"mark_price" => Slot::Dec(&mut self.mark),
            b"index_price" => Slot::Dec(&mut self.index),
            [b't'] => Slot::Int(&mut self.t),
            [b's'] => Slot::Str(&mut text.book),
            [b'b'] => Slot::Dec(&mut self.bid),
            [b'B'] => Slot::Dec(&mut self.bid_qty),
            [b'a'] => Slot::Dec(&mut self.ask),
            [b'A'] => Slot::Dec(&mut self.ask_qty),
            _ => Slot::Skip,
        }
    }

    /// Takes the item's strings once it has been read.
    #[inline(always)]
    fn finish(&mut self, text: &SymbolText<'_>, cx: &mut Cx<'_>) {
        (self.contract, self.symbol) = text.resolve(cx);
    }
}

/// Reads the rest of the object just entered as an [`Item`].
#[inline(always)]
fn read_item<'a>(cur: &mut Cursor<'a>, cx: &mut Cx<'_>, item: &mut Item) {
    let mut text = SymbolText::default();
    while let Some(key) = cur.next_key() {
        cur.read(item.slot(key, &mut text));
    }
    item.finish(&text, cx);
}

fn ticker(item: &Item, frame_ms: Option<i64>, cx: &mut Cx<'_>) -> Result<(), Fault> {
    let id = cx.resolve(item.contract, "contract")?;
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
        rate: item
            .rate
            .optional("funding_rate")?
            .ok_or(Fault::missing("funding_rate"))?,
        predicted_rate: None,
        next_funding_time_ms,
        interval_ms,
        mark_price: item.mark.optional("mark_price")?,
        index_price: item.index.optional("index_price")?,
    };
    cx.funding(id, ts, funding)
}

fn book_ticker(item: &Item, frame_ms: Option<i64>, cx: &mut Cx<'_>) -> Result<(), Fault> {
    let id = cx.resolve(item.symbol, "s")?;
    // A side with no orders has price "" (and size 0): nothing to quote.
    let (Some(bid), Some(ask)) = (item.bid.optional("b")?, item.ask.optional("a")?) else {
        return Ok(());
    };
    let quote = Quote {
        bid,
        bid_qty: item.bid_qty.required("B")?,
        ask,
        ask_qty: item.ask_qty.required("A")?,
    };
    let ts = cx.ts(item.t.opt_millis("t")?.or(frame_ms));
    cx.quote(id, ts, quote)
}

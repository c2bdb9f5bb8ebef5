//! Binance USDⓈ-M perpetuals and spot. Funding comes from `<symbol>@markPrice` (every 3 s: rate,
//! next funding time, mark and index price) on the `/market` route, the BBO from
//! `<symbol>@bookTicker` on the `/public` route; since 2026-04-23 each stream only works on its
//! own route, so a perp venue needs two connections. Spot BBO is `<symbol>@bookTicker` on the
//! spot host. Streams are named in the URL (`/stream?streams=a/b`, combined mode, which wraps
//! each event as `{"stream":..,"data":..}`), so nothing is sent after the handshake; the server
//! pings with protocol frames (answered by the transport) and closes connections after 24 h.
//!
//! Paths appended to the base URL: `/market/stream?streams=<s>@markPrice/..` and
//! `/public/stream?streams=<s>@bookTicker/..` (perp, two connections), `/stream?streams=<s>@bookTicker/..`
//! (spot).

use carry_engine::{Funding, Market, Quote, Venue};

use crate::json::cursor::{Cursor, Dec, Int, Scanner, Slot};
use crate::json::strict::Strict;
use crate::json::Fault;
use crate::transport::session::{DropReason, Inbound};
use crate::venue::market_ws::{
    chunks, each_read, read_error, Cx, ExchangeReader, Plan, Reader, Saved, Sym, DAY,
};

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

/// Buffers reused frame after frame.
#[derive(Default)]
pub(crate) struct State {
    /// The events of an array frame (all-market streams), read before any is acted on.
    events: Vec<Event>,
}

impl ExchangeReader for State {
    fn new(_instruments: usize) -> State {
        State::default()
    }

    #[inline]
    fn read(
        &mut self,
        scanner: &mut Scanner,
        frame: &mut [u8],
        cx: &mut Cx<'_>,
    ) -> Result<Inbound, Fault> {
        parse(scanner, frame, cx, self)
    }
}

fn parse(
    scanner: &mut Scanner,
    frame: &mut [u8],
    cx: &mut Cx<'_>,
    state: &mut State,
) -> Result<Inbound, Fault> {
    let mut ev = Event::default();
    let mut text = EventText::default();
    let fast_read = cx
        .attempt(Reader::InOrder, |_| in_order(frame, &mut ev, &mut text))
        .is_some()
        || {
            // A declined in-order read may have filled some fields. The keyed read would set
            // each again from the same key, but starting clean does not lean on that, and only
            // frames off the venues' order pay for it.
            (ev, text) = (Event::default(), EventText::default());
            cx.attempt(Reader::Keyed, |_| fast(frame, &mut ev, &mut text))
                .is_some()
        };
    if fast_read {
        ev.finish(&text, cx);
        return dispatch(&ev, cx);
    }
    let mut cur = scanner.scan(frame)?;
    let events = &mut state.events;
    if cur.array() {
        // Raw-mode all-market stream (`!markPrice@arr`).
        read_events(cur, cx, events).end()?;
        return each_read(events, cx, |ev, cx| dispatch(ev, cx).map(drop));
    }
    cur.root_object()?;
    // One pass over the root reads both the envelope (combined-stream `data`, replies to
    // requests) and a raw-mode event's own fields.
    let mut root = Event::default();
    let mut root_text = EventText::default();
    let mut data = Data::Absent;
    let (mut id, mut error, mut code) = (false, None, None);
    while let Some(key) = cur.next_key() {
        if let Some(slot) = root.slot(key, &mut root_text) {
            cur.read(slot);
            continue;
        }
        match key {
            b"data" => {
                data = if cur.object() {
                    let mut ev = Event::default();
                    ev.read_rest(&mut cur, cx);
                    Data::Event(ev)
                } else if cur.array() {
                    cur = read_events(cur, cx, events);
                    Data::Array
                } else {
                    cur.skip();
                    Data::Other
                }
            }
            b"id" => {
                id = true;
                cur.skip();
            }
            b"error" => {
                let (rest, read) = read_error(cur, cx, b"msg");
                cur = rest;
                error = read;
            }
            b"code" => code = Some(cur.code()),
            _ => cur.skip(),
        }
    }
    cur.end()?;
    root.finish(&root_text, cx);
    match data {
        Data::Event(ev) => return dispatch(&ev, cx),
        Data::Array => return each_read(events, cx, |ev, cx| dispatch(ev, cx).map(drop)),
        // Not an event: no event type.
        Data::Other => return dispatch(&Event::default(), cx),
        Data::Absent => {}
    }
    if let Some((code, msg)) = error {
        return Err(cx.refused(code, msg));
    }
    if let (Some(code), Some(msg)) = (code, root.msg) {
        return Err(cx.refused(code, Some(msg)));
    }
    if id {
        // `{"result":null,"id":1}` answers SUBSCRIBE; other requests with an id answer with data
        // in `result` and need nothing either.
        return Ok(Inbound::SubscribeAck);
    }
    dispatch(&root, cx)
}

/// The fast path (see [`Strict`]): one event, raw or in the combined-stream envelope
/// `{"stream":..,"data":{..}}`, read into `ev` as the general path would read it. `None` for
/// anything else: an envelope with other keys, an event with the keys of a reply (`id`,
/// `error`, `code`) or of an envelope, an array, or a frame that is not compact plain JSON.
/// Run it through [`Cx::attempt`].
#[inline(always)]
fn fast<'a>(frame: &'a [u8], ev: &mut Event, text: &mut EventText<'a>) -> Option<()> {
    let mut s = Strict::new(frame)?;
    let envelope = enter_envelope(&mut s)?;
    s.object()?;
    read_by_key(&mut s, envelope, ev, text)
}

/// An event of the streams carry subscribes to with its first fields in the order Binance
/// sends them (markPriceUpdate: `e`, `E`, `s`, `p`; bookTicker: `e`, `u`, `E`, `T`, `s`, `b`,
/// `B`, `a`, `A` from futures, `u`, `s`, `b`, `B`, `a`, `A` from spot), each key checked by one
/// compare together with the punctuation around it, the fields after them read by key. Read as
/// [`fast`] reads it; `None` for anything else.
#[inline(always)]
fn in_order<'a>(frame: &'a [u8], ev: &mut Event, text: &mut EventText<'a>) -> Option<()> {
    let mut s = Strict::in_order(frame);
    let envelope = enter_envelope(&mut s)?;
    if s.eat(br#"{"e":"markPriceUpdate","E":"#) {
        text.e = Some(b"markPriceUpdate");
        s.read(Slot::Int(&mut ev.event_time))?;
        s.expect(br#","s":"#)?;
        s.read(Slot::Str(&mut text.s))?;
        s.expect(br#","p":"#)?;
        s.read(Slot::Dec(&mut ev.p))?;
        return read_by_key(&mut s, envelope, ev, text);
    }
    if s.eat(br#"{"e":"bookTicker","u":"#) {
        text.e = Some(b"bookTicker");
        s.skip()?;
        s.expect(br#","E":"#)?;
        s.read(Slot::Int(&mut ev.event_time))?;
        s.expect(br#","T":"#)?;
        s.read(Slot::Int(&mut ev.t))?;
    } else {
        s.expect(br#"{"u":"#)?;
        s.skip()?;
    }
    s.expect(br#","s":"#)?;
    s.read(Slot::Str(&mut text.s))?;
    s.expect(br#","b":"#)?;
    s.read(Slot::Dec(&mut ev.b))?;
    s.expect(br#","B":"#)?;
    s.read(Slot::Dec(&mut ev.bq))?;
    s.expect(br#","a":"#)?;
    s.read(Slot::Dec(&mut ev.a))?;
    s.expect(br#","A":"#)?;
    s.read(Slot::Dec(&mut ev.aq))?;
    read_by_key(&mut s, envelope, ev, text)
}

/// Consumes the combined-stream envelope up to its `data` if the frame starts with one, leaving
/// the reader at the event; whether it did.
#[inline(always)]
fn enter_envelope(s: &mut Strict<'_>) -> Option<bool> {
    if !s.eat(br#"{"stream":""#) {
        return Some(false);
    }
    s.skip_string_rest()?;
    s.expect(br#","data":"#)?;
    Some(true)
}

/// Reads the rest of the event by key, then closes the envelope and ends the frame.
#[inline(always)]
fn read_by_key<'a>(
    s: &mut Strict<'a>,
    envelope: bool,
    ev: &mut Event,
    text: &mut EventText<'a>,
) -> Option<()> {
    while let Some(key) = s.next_key()? {
        if let Some(slot) = ev.slot(key, text) {
            s.read(slot)?;
            continue;
        }
        match key {
            b"data" | b"id" | b"error" | b"code" if !envelope => return None,
            _ => s.skip()?,
        }
    }
    if envelope {
        s.expect(b"}")?;
    }
    s.end()
}

/// What a combined-stream envelope's `data` held.
enum Data {
    Absent,
    Event(Event),
    /// An all-market array, read into [`State::events`].
    Array,
    Other,
}

/// The elements of the array just entered, each read as an event. Out of line, on a copy of
/// the cursor (see [`Cursor`]), as all-market arrays are not what carry subscribes to.
#[inline(never)]
fn read_events<'a>(mut cur: Cursor<'a>, cx: &mut Cx<'_>, events: &mut Vec<Event>) -> Cursor<'a> {
    events.clear();
    while cur.next_item() {
        let mut ev = Event::default();
        if cur.object() {
            ev.read_rest(&mut cur, cx);
        } else {
            cur.skip();
        }
        events.push(ev);
    }
    cur
}

/// The event types carry reads (`e`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Absent,
    MarkPrice,
    BookTicker,
    Shutdown,
    Other,
}

/// One stream event as read: markPriceUpdate, bookTicker (the spot one has no `e`),
/// serverShutdown. Fields are kept as sent until the event type is known.
#[derive(Clone, Copy, Debug, Default)]
struct Event {
    kind: Kind,
    symbol: Sym,
    event_time: Int,
    t: Int,
    p: Dec,
    i: Dec,
    r: Dec,
    b: Dec,
    bq: Dec,
    a: Dec,
    aq: Dec,
    msg: Option<Saved>,
}

/// The strings of an event kept as slices of the frame while it is read.
#[derive(Default)]
struct EventText<'a> {
    e: Option<&'a [u8]>,
    s: Option<&'a [u8]>,
    msg: Option<&'a [u8]>,
}

impl Event {
    /// Where the value of `key` goes if it is an event field.
    #[inline(always)]
    fn slot<'s, 'a>(&'s mut self, key: &[u8], text: &'s mut EventText<'a>) -> Option<Slot<'s, 'a>> {
        // One-letter keys (all but `msg`) dispatch on their byte.
        Some(match key {
            [b'e'] => Slot::Str(&mut text.e),
            [b'E'] => Slot::Int(&mut self.event_time),
            [b'T'] => Slot::Int(&mut self.t),
            [b's'] => Slot::Str(&mut text.s),
            [b'p'] => Slot::Dec(&mut self.p),
            [b'i'] => Slot::Dec(&mut self.i),
            [b'r'] => Slot::Dec(&mut self.r),
            [b'b'] => Slot::Dec(&mut self.b),
            [b'B'] => Slot::Dec(&mut self.bq),
            [b'a'] => Slot::Dec(&mut self.a),
            [b'A'] => Slot::Dec(&mut self.aq),
            b"msg" => Slot::Str(&mut text.msg),
            _ => return None,
        })
    }

    /// Takes the event's strings once it has been read.
    #[inline(always)]
    fn finish(&mut self, text: &EventText<'_>, cx: &mut Cx<'_>) {
        self.kind = match text.e {
            Some(b"markPriceUpdate") => Kind::MarkPrice,
            Some(b"bookTicker") => Kind::BookTicker,
            Some(b"serverShutdown") => Kind::Shutdown,
            Some(_) => Kind::Other,
            None => Kind::Absent,
        };
        self.symbol = text.s.map_or(Sym::Absent, |s| cx.symbol(s));
        self.msg = text.msg.map(|m| cx.save(m));
    }

    /// Reads the rest of the object just entered as an event.
    #[inline(always)]
    fn read_rest(&mut self, cur: &mut Cursor<'_>, cx: &mut Cx<'_>) {
        let mut text = EventText::default();
        while let Some(key) = cur.next_key() {
            let slot = self.slot(key, &mut text).unwrap_or(Slot::Skip);
            cur.read(slot);
        }
        self.finish(&text, cx);
    }
}

fn dispatch(ev: &Event, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    match ev.kind {
        Kind::MarkPrice => mark_price(ev, cx),
        Kind::BookTicker => book_ticker(ev, cx),
        Kind::Absent if ev.b.is_present() && ev.a.is_present() => book_ticker(ev, cx),
        Kind::Shutdown => Ok(cx.reconnect_notice(ev.msg, "serverShutdown")),
        Kind::Other => Err(Fault::new(DropReason::UnknownChannel, "e (event type)")),
        Kind::Absent => Err(Fault::malformed("no event type `e`")),
    }
}

fn mark_price(ev: &Event, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    let id = cx.resolve(ev.symbol, "s")?;
    let rate = ev.r.optional("r")?.ok_or(Fault::missing("r"))?;
    let funding = Funding {
        rate,
        predicted_rate: None,
        next_funding_time_ms: ev.t.opt_millis("T")?.unwrap_or(0),
        interval_ms: None,
        mark_price: ev.p.optional("p")?,
        index_price: ev.i.optional("i")?,
    };
    let ts = cx.ts(ev.event_time.opt_millis("E")?);
    cx.funding(id, ts, funding)?;
    Ok(cx.data())
}

fn book_ticker(ev: &Event, cx: &mut Cx<'_>) -> Result<Inbound, Fault> {
    let id = cx.resolve(ev.symbol, "s")?;
    let quote = Quote {
        bid: ev.b.required("b")?,
        bid_qty: ev.bq.required("B")?,
        ask: ev.a.required("a")?,
        ask_qty: ev.aq.required("A")?,
    };
    // Spot bookTicker carries no time (some captures do: use it when there).
    let venue_time = if ev.event_time.is_present() {
        Some(ev.event_time.millis("E")?)
    } else {
        ev.t.opt_millis("T")?
    };
    let ts = cx.ts(venue_time);
    cx.quote(id, ts, quote)?;
    Ok(cx.data())
}

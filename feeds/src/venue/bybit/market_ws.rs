//! Bybit v5 public streams, linear perpetuals and spot. Funding comes from `tickers.<SYM>` on the
//! linear endpoint: a snapshot, then deltas that carry only what changed (often no funding rate,
//! no next funding time, one side of the book), merged here into full per-symbol state; a delta
//! before any snapshot is dropped. The BBO comes from `orderbook.1.<SYM>` on both markets (spot
//! tickers carry no bid/ask). The client must send `{"op":"ping"}` about every 20 s.
//!
//! Paths appended to the base URL: `/v5/public/linear` (perp) or `/v5/public/spot`.

use std::time::Duration;

use carry_engine::{Funding, InstrumentId, Market, Venue};
use rust_decimal::Decimal;

use crate::json::cursor::{Code, Cursor, Dec, Int, Level, Scanner, Slot};
use crate::json::strict::Strict;
use crate::json::Fault;
use crate::transport::session::{DropReason, Heartbeat, Inbound};
use crate::venue::market_ws::{chunks, Cx, ExchangeReader, Plan, Reader, Sym, SymbolText};

/// Symbols per connection: two topics each, far below the 21,000-character args limit.
pub const SYMBOLS_PER_CONNECTION: usize = 100;
/// Spot refuses more than 10 args in one subscribe request; linear uses the same batches.
pub const ARGS_PER_REQUEST: usize = 10;
/// The ping Bybit wants every 20 s.
pub const PING: &str = r#"{"req_id":"carry-ping","op":"ping"}"#;

pub(crate) fn plans(venue: Venue, base: &str, symbols: &[&str]) -> Vec<Plan> {
    let path = match venue.market {
        Market::Perp => "/v5/public/linear",
        Market::Spot => "/v5/public/spot",
    };
    chunks(symbols, SYMBOLS_PER_CONNECTION)
        .map(|chunk| {
            let mut topics = Vec::new();
            for symbol in chunk {
                if venue.market == Market::Perp {
                    topics.push(format!("tickers.{symbol}"));
                }
                topics.push(format!("orderbook.1.{symbol}"));
            }
            let subscribe = topics
                .chunks(ARGS_PER_REQUEST)
                .enumerate()
                .map(|(n, args)| {
                    serde_json::json!({"req_id": format!("carry-{}", n + 1), "op": "subscribe", "args": args})
                        .to_string()
                })
                .collect();
            Plan {
                url: format!("{base}{path}"),
                subscribe,
                heartbeat: Some(Heartbeat {
                    every: Duration::from_secs(20),
                    text: PING.to_string(),
                }),
                max_age: None,
            }
        })
        .collect()
}

/// Merged ticker state of one linear symbol.
#[derive(Clone, Copy, Debug, Default)]
struct TickerState {
    live: bool,
    rate: Option<Decimal>,
    next_funding_ms: Option<i64>,
    interval_ms: Option<u64>,
    mark: Option<Decimal>,
    index: Option<Decimal>,
}

/// Level-1 book of one symbol.
#[derive(Clone, Copy, Debug, Default)]
struct BookState {
    live: bool,
    bid: Option<(Decimal, Decimal)>,
    ask: Option<(Decimal, Decimal)>,
}

/// Per-symbol state, indexed by instrument id.
pub(crate) struct State {
    tickers: Vec<TickerState>,
    books: Vec<BookState>,
}

impl ExchangeReader for State {
    fn new(instruments: usize) -> State {
        State {
            tickers: vec![TickerState::default(); instruments],
            books: vec![BookState::default(); instruments],
        }
    }

    fn resize(&mut self, instruments: usize) {
        let n = instruments.max(self.tickers.len());
        self.tickers.resize(n, TickerState::default());
        self.books.resize(n, BookState::default());
    }

    /// A new connection must start again from snapshots.
    fn reset(&mut self) {
        self.tickers.fill(TickerState::default());
        self.books.fill(BookState::default());
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
    if let Some(top) = cx.attempt(Reader::InOrder, |cx| book_in_order(frame, cx)) {
        return act(&top, cx, state);
    }
    // Bybit has no keyed fast path: its frames' many long keys make the per-string chain cost
    // more than the cursor's quote-marking pass (measured).
    let mut cur = scanner.scan(frame)?;
    cur.root_object()?;
    let mut top = Top::default();
    while let Some(key) = cur.next_key() {
        match top.slot(key) {
            Some(slot) => cur.read(slot),
            None if key == b"data" => top.data = read_data(&mut cur, cx),
            None => cur.skip(),
        }
    }
    cur.end()?;
    act(&top, cx, state)
}

/// An `orderbook.1` message with its fields in the order Bybit sends them, each key checked by
/// one compare together with the punctuation around it, the fields after the book's sides read
/// by key (see `strict.rs`). Read as the cursor reads it; `None` for anything else.
#[inline(always)]
fn book_in_order<'a>(frame: &'a [u8], cx: &mut Cx<'_>) -> Option<Top<'a>> {
    let mut s = Strict::in_order(frame);
    let mut top = Top::default();
    s.expect(br#"{"topic":"#)?;
    // Other topics (tickers) decline before anything is read.
    if !s.at(br#""orderbook."#) {
        return None;
    }
    s.read(Slot::Str(&mut top.topic))?;
    s.expect(br#","ts":"#)?;
    s.read(Slot::Int(&mut top.ts))?;
    s.expect(br#","type":"#)?;
    s.read(Slot::Str(&mut top.kind))?;
    s.expect(br#","data":{"s":"#)?;
    let mut f = Fields::default();
    let mut text = SymbolText::default();
    s.read(Slot::Str(&mut text.book))?;
    s.expect(br#","b":"#)?;
    s.read(Slot::Level(&mut f.bid))?;
    s.expect(br#","a":"#)?;
    s.read(Slot::Level(&mut f.ask))?;
    while let Some(key) = s.next_key()? {
        s.read(f.slot(key, &mut text))?;
    }
    (f.symbol, f.book_symbol) = text.resolve(cx);
    top.data = Data::Fields(f);
    while let Some(key) = s.next_key()? {
        match top.slot(key) {
            Some(slot) => s.read(slot)?,
            // A second `data` replaces the first: for the cursor.
            None if key == b"data" => return None,
            None => s.skip()?,
        }
    }
    s.end()?;
    Some(top)
}

/// A frame's top-level fields, as read. `data` is read whatever the topic (which may come
/// after it): a ticker's and a book's fields have different names, so one set of fields holds
/// either.
#[derive(Default)]
struct Top<'a> {
    topic: Option<&'a [u8]>,
    kind: Option<&'a [u8]>,
    ts: Int,
    cts: Int,
    op: Option<&'a [u8]>,
    success: Option<bool>,
    ret_msg: Option<&'a [u8]>,
    data: Data,
}

impl<'a> Top<'a> {
    /// Where the value of `key` goes if it is a plain top-level field.
    #[inline(always)]
    fn slot(&mut self, key: &[u8]) -> Option<Slot<'_, 'a>> {
        Some(match key {
            b"topic" => Slot::Str(&mut self.topic),
            b"type" => Slot::Str(&mut self.kind),
            b"ts" => Slot::Int(&mut self.ts),
            b"cts" => Slot::Int(&mut self.cts),
            b"op" => Slot::Str(&mut self.op),
            b"success" => Slot::Bool(&mut self.success),
            b"ret_msg" => Slot::Str(&mut self.ret_msg),
            _ => return None,
        })
    }
}

/// What a frame said, once read in full.
fn act(top: &Top<'_>, cx: &mut Cx<'_>, state: &mut State) -> Result<Inbound, Fault> {
    let Top {
        topic,
        kind,
        ts,
        cts,
        op,
        success,
        ret_msg,
        data,
    } = top;
    let ret_msg = ret_msg.map(|m| cx.save(m));
    if let Some(topic) = topic {
        if matches!(data, Data::Absent) {
            return Err(Fault::missing("data"));
        }
        let snapshot = match kind {
            Some(b"snapshot") => true,
            Some(b"delta") => false,
            _ => return Err(Fault::missing("type")),
        };
        let ts = cx.ts(match ts.opt_millis("ts")? {
            Some(t) => Some(t),
            None => cts.opt_millis("cts")?,
        });
        let Data::Fields(data) = data else {
            return Err(Fault::missing("data[0]"));
        };
        return if topic.starts_with(b"tickers.") {
            ticker(data, snapshot, ts, cx, state)
        } else if topic.starts_with(b"orderbook.1.") {
            book(data, snapshot, ts, cx, state)
        } else {
            Err(Fault::new(DropReason::UnknownChannel, "topic"))
        };
    }
    // Command replies: subscribe acks differ by category (`ret_msg` "" or "subscribe"; options
    // use `type: COMMAND_RESP`), so key on `success` and `op` only.
    match (op, success) {
        (Some(b"subscribe"), Some(true)) => Ok(Inbound::SubscribeAck),
        (Some(b"subscribe"), _) => Err(cx.refused(Code::None, ret_msg)),
        (Some(b"ping" | b"pong" | b"unsubscribe"), _) => Ok(Inbound::Control),
        (Some(_), Some(false)) => Err(cx.refused(Code::None, ret_msg)),
        (Some(_), _) => Ok(Inbound::Control),
        (None, _) => Err(Fault::malformed("neither topic nor op")),
    }
}

/// What a message's `data` held: an object (or an array, whose first element counts), read as
/// a ticker's and a book's fields at once.
#[derive(Default)]
enum Data {
    #[default]
    Absent,
    /// An empty array.
    NoFirst,
    Fields(Fields),
}

/// The fields of a ticker (`symbol`, funding, mark, index) and of a level-1 book (`s`, `b`,
/// `a`), as read.
#[derive(Clone, Copy, Debug, Default)]
struct Fields {
    symbol: Sym,
    rate: Dec,
    next: Int,
    interval: Int,
    mark: Dec,
    index: Dec,
    book_symbol: Sym,
    bid: Level,
    ask: Level,
}

#[inline(always)]
fn read_data(cur: &mut Cursor<'_>, cx: &mut Cx<'_>) -> Data {
    let mut f = Fields::default();
    // An array counts by its first element; one place reads the fields either way.
    let array = cur.array();
    if array && !cur.next_item() {
        return Data::NoFirst;
    }
    if cur.object() {
        read_fields(cur, cx, &mut f);
    } else {
        // Neither an object nor an array of one: no fields at all.
        cur.skip();
    }
    if array {
        cur.skip_rest(false);
    }
    Data::Fields(f)
}

#[inline(always)]
fn read_fields(cur: &mut Cursor<'_>, cx: &mut Cx<'_>, f: &mut Fields) {
    let mut text = SymbolText::default();
    while let Some(key) = cur.next_key() {
        cur.read(f.slot(key, &mut text));
    }
    (f.symbol, f.book_symbol) = text.resolve(cx);
}

impl Fields {
    /// Where the value of `key` goes.
    #[inline(always)]
    fn slot<'s, 'a>(&'s mut self, key: &[u8], text: &'s mut SymbolText<'a>) -> Slot<'s, 'a> {
        match key {
            b"symbol" => Slot::Str(&mut text.ticker),
            b"fundingRate" => Slot::Dec(&mut self.rate),
            b"nextFundingTime" => Slot::Int(&mut self.next),
            b"fundingIntervalHour" => Slot::Int(&mut self.interval),
            b"markPrice" => Slot::Dec(&mut self.mark),
            b"indexPrice" => Slot::Dec(&mut self.index),
            [b's'] => Slot::Str(&mut text.book),
            [b'b'] => Slot::Level(&mut self.bid),
            [b'a'] => Slot::Level(&mut self.ask),
            _ => Slot::Skip,
        }
    }
}

fn ticker(
    data: &Fields,
    snapshot: bool,
    ts: i64,
    cx: &mut Cx<'_>,
    state: &mut State,
) -> Result<Inbound, Fault> {
    if cx.venue.market == Market::Spot {
        // Spot tickers carry neither funding nor a book; the BBO comes from orderbook.1.
        return Ok(cx.data());
    }
    let id = cx.resolve(data.symbol, "symbol")?;
    let slot = slot(&mut state.tickers, id)?;
    if !snapshot && !slot.live {
        return Err(Fault::new(
            DropReason::DeltaWithoutSnapshot,
            "tickers delta",
        ));
    }
    // Read everything before touching the state, so a bad field leaves it as it was. The outer
    // Option is "present in this message", the inner one "has a value" (`""` has none).
    let rate = present(data.rate.is_present(), || data.rate.optional("fundingRate"))?;
    let next = present(data.next.is_present(), || {
        data.next.opt_millis("nextFundingTime")
    })?;
    let interval = present(data.interval.is_present(), || hours_ms(data.interval))?;
    let mark = present(data.mark.is_present(), || data.mark.optional("markPrice"))?;
    let index = present(data.index.is_present(), || {
        data.index.optional("indexPrice")
    })?;
    let changed =
        rate.is_some() || next.is_some() || interval.is_some() || mark.is_some() || index.is_some();
    if snapshot {
        *slot = TickerState {
            live: true,
            ..TickerState::default()
        };
    }
    if let Some(v) = rate {
        slot.rate = v;
    }
    if let Some(v) = next {
        slot.next_funding_ms = v;
    }
    if let Some(v) = interval {
        slot.interval_ms = v;
    }
    if let Some(v) = mark {
        slot.mark = v;
    }
    if let Some(v) = index {
        slot.index = v;
    }
    if !snapshot && !changed {
        return Ok(cx.data());
    }
    let merged = *slot;
    let funding = Funding {
        rate: merged.rate.ok_or(Fault::missing("fundingRate"))?,
        predicted_rate: None,
        next_funding_time_ms: merged.next_funding_ms.unwrap_or(0),
        interval_ms: merged.interval_ms,
        mark_price: merged.mark,
        index_price: merged.index,
    };
    cx.funding(id, ts, funding)?;
    Ok(cx.data())
}

/// `Some(read())` for a field present in the message.
fn present<T>(
    is_present: bool,
    read: impl FnOnce() -> Result<T, Fault>,
) -> Result<Option<T>, Fault> {
    is_present.then(read).transpose()
}

/// `fundingIntervalHour`: whole hours as a string (or number); `""` means not applicable.
fn hours_ms(value: Int) -> Result<Option<u64>, Fault> {
    match value {
        Int::Empty => Ok(None),
        Int::Num(h) | Int::Text(h) if h > 0 => Ok(Some(h as u64 * 3_600_000)),
        _ => Err(Fault::bad_number("fundingIntervalHour")),
    }
}

fn book(
    data: &Fields,
    snapshot: bool,
    ts: i64,
    cx: &mut Cx<'_>,
    state: &mut State,
) -> Result<Inbound, Fault> {
    let id = cx.resolve(data.book_symbol, "s")?;
    let bid = top_level(data.bid, "b")?;
    let ask = top_level(data.ask, "a")?;
    let slot = slot(&mut state.books, id)?;
    if snapshot {
        *slot = BookState {
            live: true,
            bid: bid.flatten(),
            ask: ask.flatten(),
        };
    } else {
        // Level-1 deltas exist in older captures: an empty side is unchanged, size 0 removes.
        if !slot.live {
            return Err(Fault::new(
                DropReason::DeltaWithoutSnapshot,
                "orderbook.1 delta",
            ));
        }
        if let Some(level) = bid {
            slot.bid = level;
        }
        if let Some(level) = ask {
            slot.ask = level;
        }
    }
    cx.quote_top(id, ts, slot.bid, slot.ask)?;
    Ok(cx.data())
}

/// The first level of a side: `None` when the list is empty (side unchanged), `Some(None)` when
/// its size is 0 (level removed).
#[allow(clippy::type_complexity)]
fn top_level(
    side: Level,
    field: &'static str,
) -> Result<Option<Option<(Decimal, Decimal)>>, Fault> {
    Ok(side
        .required(field)?
        .map(|(price, size)| (!size.is_zero()).then_some((price, size))))
}

fn slot<T>(slots: &mut [T], id: InstrumentId) -> Result<&mut T, Fault> {
    slots.get_mut(id.index()).ok_or(Fault::new(
        DropReason::UnknownSymbol,
        "instrument outside the universe",
    ))
}

//! Bybit v5 public streams, linear perpetuals and spot. Funding comes from `tickers.<SYM>` on the
//! linear endpoint: a snapshot, then deltas that carry only what changed (often no funding rate,
//! no next funding time, one side of the book), merged here into full per-symbol state; a delta
//! before any snapshot is dropped. The BBO comes from `orderbook.1.<SYM>` on both markets (spot
//! tickers carry no bid/ask). The client must send `{"op":"ping"}` about every 20 s.
//!
//! Base URL: `wss://stream.bybit.com`; the module appends `/v5/public/linear` or
//! `/v5/public/spot`.

use std::time::Duration;

use carry_engine::{Funding, InstrumentId, Market, Venue};
use rust_decimal::Decimal;

use crate::json::{first_level, opt_decimal, opt_millis, parse_int, Fault, Json};
use crate::session::{DropReason, Heartbeat, Inbound};
use crate::venues::{chunks, Cx, Plan};

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

impl State {
    pub fn new(instruments: usize) -> State {
        State {
            tickers: vec![TickerState::default(); instruments],
            books: vec![BookState::default(); instruments],
        }
    }

    pub fn resize(&mut self, instruments: usize) {
        let n = instruments.max(self.tickers.len());
        self.tickers.resize(n, TickerState::default());
        self.books.resize(n, BookState::default());
    }

    /// A new connection must start again from snapshots.
    pub fn reset(&mut self) {
        self.tickers.fill(TickerState::default());
        self.books.fill(BookState::default());
    }
}

pub(crate) fn parse(
    root: Json<'_, '_>,
    cx: &mut Cx<'_>,
    state: &mut State,
) -> Result<Inbound, Fault> {
    if !root.is_object() {
        return Err(Fault::malformed("not a JSON object"));
    }
    let (mut topic, mut kind, mut ts, mut data, mut cts) = (None, None, None, None, None);
    let (mut op, mut success, mut ret_msg) = (None, None, None);
    for (key, value) in root.fields() {
        match key {
            "topic" => topic = value.as_str(),
            "type" => kind = value.as_str(),
            "ts" => ts = Some(value),
            "cts" => cts = Some(value),
            "data" => data = Some(value),
            "op" => op = value.as_str(),
            "success" => success = value.as_bool(),
            "ret_msg" => ret_msg = value.as_str(),
            _ => {}
        }
    }
    if let Some(topic) = topic {
        let data = data.ok_or(Fault::missing("data"))?;
        let snapshot = match kind {
            Some("snapshot") => true,
            Some("delta") => false,
            _ => return Err(Fault::missing("type")),
        };
        let ts = cx.ts(match opt_millis(ts, "ts")? {
            Some(t) => Some(t),
            None => opt_millis(cts, "cts")?,
        });
        let data = if data.is_array() {
            data.first().ok_or(Fault::missing("data[0]"))?
        } else {
            data
        };
        return if topic.starts_with("tickers.") {
            ticker(data, snapshot, ts, cx, state)
        } else if topic.starts_with("orderbook.1.") {
            book(data, snapshot, ts, cx, state)
        } else {
            Err(Fault::new(DropReason::UnknownChannel, "topic"))
        };
    }
    // Command replies: subscribe acks differ by category (`ret_msg` "" or "subscribe"; options
    // use `type: COMMAND_RESP`), so key on `success` and `op` only.
    match (op, success) {
        (Some("subscribe"), Some(true)) => Ok(Inbound::SubscribeAck),
        (Some("subscribe"), _) => Err(cx.subscribe_error(None, ret_msg)),
        (Some("ping" | "pong" | "unsubscribe"), _) => Ok(Inbound::Control),
        (Some(_), Some(false)) => Err(cx.subscribe_error(None, ret_msg)),
        (Some(_), _) => Ok(Inbound::Control),
        (None, _) => Err(Fault::malformed("neither topic nor op")),
    }
}

fn ticker(
    data: Json<'_, '_>,
    snapshot: bool,
    ts: i64,
    cx: &mut Cx<'_>,
    state: &mut State,
) -> Result<Inbound, Fault> {
    if cx.venue.market == Market::Spot {
        // Spot tickers carry neither funding nor a book; the BBO comes from orderbook.1.
        return Ok(cx.data());
    }
    let mut symbol = None;
    let (mut rate, mut next, mut interval, mut mark, mut index) = (None, None, None, None, None);
    for (key, value) in data.fields() {
        match key {
            "symbol" => symbol = value.as_str(),
            "fundingRate" => rate = Some(value),
            "nextFundingTime" => next = Some(value),
            "fundingIntervalHour" => interval = Some(value),
            "markPrice" => mark = Some(value),
            "indexPrice" => index = Some(value),
            _ => {}
        }
    }
    let id = cx.instrument(symbol.ok_or(Fault::missing("symbol"))?)?;
    let slot = slot(&mut state.tickers, id)?;
    if !snapshot && !slot.live {
        return Err(Fault::new(
            DropReason::DeltaWithoutSnapshot,
            "tickers delta",
        ));
    }
    // Read everything before touching the state, so a bad field leaves it as it was. The outer
    // Option is "present in this message", the inner one "has a value" (`""` has none).
    let rate = rate
        .map(|v| opt_decimal(Some(v), "fundingRate"))
        .transpose()?;
    let next = next
        .map(|v| opt_millis(Some(v), "nextFundingTime"))
        .transpose()?;
    let interval = interval.map(hours_ms).transpose()?;
    let mark = mark
        .map(|v| opt_decimal(Some(v), "markPrice"))
        .transpose()?;
    let index = index
        .map(|v| opt_decimal(Some(v), "indexPrice"))
        .transpose()?;
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

/// `fundingIntervalHour`: whole hours as a string (or number); `""` means not applicable.
fn hours_ms(value: Json<'_, '_>) -> Result<Option<u64>, Fault> {
    let hours = match value.as_str() {
        Some("") => return Ok(None),
        Some(text) => parse_int(text),
        None => value.as_i64(),
    };
    match hours {
        Some(h) if h > 0 => Ok(Some(h as u64 * 3_600_000)),
        _ => Err(Fault::bad_number("fundingIntervalHour")),
    }
}

fn book(
    data: Json<'_, '_>,
    snapshot: bool,
    ts: i64,
    cx: &mut Cx<'_>,
    state: &mut State,
) -> Result<Inbound, Fault> {
    let (mut symbol, mut bids, mut asks) = (None, None, None);
    for (key, value) in data.fields() {
        match key {
            "s" => symbol = value.as_str(),
            "b" => bids = Some(value),
            "a" => asks = Some(value),
            _ => {}
        }
    }
    let id = cx.instrument(symbol.ok_or(Fault::missing("s"))?)?;
    let bid = top_level(bids.ok_or(Fault::missing("b"))?, "b")?;
    let ask = top_level(asks.ok_or(Fault::missing("a"))?, "a")?;
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
    side: Json<'_, '_>,
    field: &'static str,
) -> Result<Option<Option<(Decimal, Decimal)>>, Fault> {
    Ok(first_level(side, field)?.map(|(price, size)| (!size.is_zero()).then_some((price, size))))
}

fn slot<T>(slots: &mut [T], id: InstrumentId) -> Result<&mut T, Fault> {
    slots.get_mut(id.index()).ok_or(Fault::new(
        DropReason::UnknownSymbol,
        "instrument outside the universe",
    ))
}

//! Bitget v2 public channels, `USDT-FUTURES` and `SPOT`. Funding comes from the futures `ticker`
//! channel (rate, next funding time, mark, index; no interval: that comes from REST), the BBO
//! from `books1` (always a full snapshot; `books5`/`books15` read the same way). A ticker that
//! carry subscribes for funding yields no quote, so the book channel stays the only BBO source on
//! the connection; a spot ticker (not subscribed) reads as a quote. The client sends the text
//! `ping` every 30 s; the server forcibly disconnects every 24 h.
//!
//! Path appended to the base URL: `/v2/ws/public`.

use std::time::Duration;

use carry_engine::{Funding, Market, Venue};

use crate::json::cursor::{Scanner, Slot};
use crate::json::Fault;
use crate::transport::session::{DropReason, Heartbeat, Inbound};
use crate::venue::arg_data::{book_read, Item, Push};
use crate::venue::market_ws::{chunks, each_read, level, Cx, ExchangeReader, Plan, Sym, DAY};

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
    let push = match Push::fast_readers(frame, cx, items, slot) {
        Some(push) => push,
        None => Push::read(scanner.scan(frame)?, cx, items, slot)?,
    };
    if let Some(event) = push.event {
        return match event {
            b"subscribe" => Ok(Inbound::SubscribeAck),
            b"error" => Err(cx.refused(push.code, push.msg)),
            b"unsubscribe" | b"login" => Ok(Inbound::Control),
            _ => Err(Fault::new(DropReason::UnknownChannel, "event")),
        };
    }
    let (channel, arg_inst) = push.channel(cx)?;
    // `data[].ts` is a string, the envelope's `ts` a number; prefer the item's own.
    let frame_ts = push.ts.opt_millis("ts")?;
    match channel {
        b"ticker" => each_read(items, cx, |item, cx| ticker(item, arg_inst, frame_ts, cx)),
        b"books1" | b"books5" | b"books15" => each_read(items, cx, |item, cx| {
            book_read(item, arg_inst, frame_ts, cx)
        }),
        _ => Err(Fault::new(DropReason::UnknownChannel, "arg.channel")),
    }
}

/// Where a field of an element of `data` goes, any channel.
#[inline(always)]
fn slot<'s, 'a>(key: &[u8], item: &'s mut Item, inst: &'s mut Option<&'a [u8]>) -> Slot<'s, 'a> {
    match key {
        b"instId" => Slot::Str(inst),
        b"fundingRate" => Slot::Dec(&mut item.rate),
        b"nextFundingTime" => Slot::Int(&mut item.next_funding),
        b"markPrice" => Slot::Dec(&mut item.mark),
        b"indexPrice" => Slot::Dec(&mut item.index),
        b"bidPr" => Slot::Dec(&mut item.bid),
        b"bidSz" => Slot::Dec(&mut item.bid_qty),
        b"askPr" => Slot::Dec(&mut item.ask),
        b"askSz" => Slot::Dec(&mut item.ask_qty),
        b"ts" => Slot::Int(&mut item.ts),
        b"asks" => Slot::Level(&mut item.asks),
        b"bids" => Slot::Level(&mut item.bids),
        _ => Slot::Skip,
    }
}

fn ticker(item: &Item, arg_inst: Sym, frame_ts: Option<i64>, cx: &mut Cx<'_>) -> Result<(), Fault> {
    let id = cx.resolve(item.inst.or(arg_inst), "instId")?;
    let ts = cx.ts(item.ts.opt_millis("data.ts")?.or(frame_ts));
    match cx.venue.market {
        Market::Perp => {
            let funding = Funding {
                rate: item
                    .rate
                    .optional("fundingRate")?
                    .ok_or(Fault::missing("fundingRate"))?,
                predicted_rate: None,
                next_funding_time_ms: item
                    .next_funding
                    .opt_millis("nextFundingTime")?
                    .unwrap_or(0),
                interval_ms: None,
                mark_price: item.mark.optional("markPrice")?,
                index_price: item.index.optional("indexPrice")?,
            };
            cx.funding(id, ts, funding)
        }
        Market::Spot => {
            let bid = level(item.bid, item.bid_qty, "bidPr", "bidSz")?;
            let ask = level(item.ask, item.ask_qty, "askPr", "askSz")?;
            cx.quote_top(id, ts, bid, ask)
        }
    }
}

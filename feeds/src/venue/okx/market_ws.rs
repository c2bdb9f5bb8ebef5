//! OKX v5 public channels, SWAP and SPOT. Funding comes from `funding-rate` (pushed every 30 to
//! 90 s; all values strings; the interval is `nextFundingTime − fundingTime`), the BBO from
//! `bbo-tbt` (a full one-level snapshot every 10 ms when it changes; SWAP sizes are contracts,
//! converted with `ctVal`). The `tickers` channel, which carry does not subscribe, also reads as
//! a quote. The client sends the text `ping` (the server answers `pong`) before 30 s of silence;
//! `event:"notice"` announces a service upgrade 60 s ahead and asks for a reconnect.
//!
//! Path appended to the base URL: `/ws/v5/public`.

use std::time::Duration;

use carry_engine::market::interval::interval_from_schedule;
use carry_engine::{Funding, Market, Venue};

use crate::json::cursor::{Scanner, Slot};
use crate::json::Fault;
use crate::transport::session::{DropReason, Heartbeat, Inbound};
use crate::venue::arg_data::{book_read, Item, Push};
use crate::venue::market_ws::{chunks, each_read, level, Cx, ExchangeReader, Plan, Sym};

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
            b"notice" => Ok(cx.reconnect_notice(push.msg, "(no message)")),
            b"unsubscribe" | b"channel-conn-count" | b"channel-conn-count-error" | b"login" => {
                Ok(Inbound::Control)
            }
            _ => Err(Fault::new(DropReason::UnknownChannel, "event")),
        };
    }
    let (channel, arg_inst) = push.channel(cx)?;
    match channel {
        b"funding-rate" => each_read(items, cx, |item, cx| funding(item, arg_inst, cx)),
        // Levels are `[price, size, "0", orders]`.
        b"bbo-tbt" | b"books5" => {
            each_read(items, cx, |item, cx| book_read(item, arg_inst, None, cx))
        }
        b"tickers" => each_read(items, cx, |item, cx| ticker(item, arg_inst, cx)),
        _ => Err(Fault::new(DropReason::UnknownChannel, "arg.channel")),
    }
}

/// Where a field of an element of `data` goes, any channel.
#[inline(always)]
fn slot<'s, 'a>(key: &[u8], item: &'s mut Item, inst: &'s mut Option<&'a [u8]>) -> Slot<'s, 'a> {
    match key {
        b"instId" => Slot::Str(inst),
        b"fundingRate" => Slot::Dec(&mut item.rate),
        b"nextFundingRate" => Slot::Dec(&mut item.predicted),
        b"fundingTime" => Slot::Int(&mut item.funding_time),
        b"nextFundingTime" => Slot::Int(&mut item.next_funding),
        b"ts" => Slot::Int(&mut item.ts),
        b"asks" => Slot::Level(&mut item.asks),
        b"bids" => Slot::Level(&mut item.bids),
        b"bidPx" => Slot::Dec(&mut item.bid),
        b"bidSz" => Slot::Dec(&mut item.bid_qty),
        b"askPx" => Slot::Dec(&mut item.ask),
        b"askSz" => Slot::Dec(&mut item.ask_qty),
        _ => Slot::Skip,
    }
}

fn funding(item: &Item, arg_inst: Sym, cx: &mut Cx<'_>) -> Result<(), Fault> {
    let id = cx.resolve(item.inst.or(arg_inst), "instId")?;
    // `fundingTime` is the upcoming settlement, `nextFundingTime` the one after it.
    let settles = item.funding_time.opt_millis("fundingTime")?;
    let after = item.next_funding.opt_millis("nextFundingTime")?;
    let interval_ms = settles
        .zip(after)
        .and_then(|(a, b)| interval_from_schedule(a, b));
    let funding = Funding {
        rate: item
            .rate
            .optional("fundingRate")?
            .ok_or(Fault::missing("fundingRate"))?,
        // `""` under method=current_period, which is all instruments now.
        predicted_rate: item.predicted.optional("nextFundingRate")?,
        next_funding_time_ms: settles.unwrap_or(0),
        interval_ms,
        mark_price: None,
        index_price: None,
    };
    let ts = cx.ts(item.ts.opt_millis("ts")?);
    cx.funding(id, ts, funding)
}

fn ticker(item: &Item, arg_inst: Sym, cx: &mut Cx<'_>) -> Result<(), Fault> {
    let id = cx.resolve(item.inst.or(arg_inst), "instId")?;
    let bid = level(item.bid, item.bid_qty, "bidPx", "bidSz")?;
    let ask = level(item.ask, item.ask_qty, "askPx", "askSz")?;
    let ts = cx.ts(item.ts.opt_millis("ts")?);
    cx.quote_top(id, ts, bid, ask)
}

//! MARKET (kind 2): a market event the engine acted on, one of three shapes: a top of book, a
//! funding update, or a feed reset (no data: the feed reconnected and what it said before may be
//! stale).
//!
//! Payload after `now`: venue (u8), event kind (u8: 1 funding, 2 quote, 3 feed reset),
//! instrument (u16), ts_ms (i64), recv_ns (u64), then for a quote bid, bid qty, ask, ask qty;
//! for funding the rate, the predicted rate (optional), the next funding time (i64 ms), the
//! interval (presence byte, u64 ms), mark and index price (optional); nothing for a reset.

use serde_json::{json, Value};

use super::codec::{dec_json, merge, opt_dec_json, Dec, Enc, DEC_LEN, OPT_DEC_LEN};
use super::RecordError;
use crate::market::event::{Funding, MarketEvent, MarketEventKind, Quote};
use crate::market::instrument::InstrumentId;

const HEAD_LEN: usize = 1 + 1 + 2 + 8 + 8;
const QUOTE_LEN: usize = 4 * DEC_LEN;
const FUNDING_LEN: usize = DEC_LEN + OPT_DEC_LEN + 8 + 9 + 2 * OPT_DEC_LEN;
/// The longest market payload (a funding update).
pub(super) const MAX_LEN: usize = HEAD_LEN + FUNDING_LEN;

pub(super) fn len(event: &MarketEvent) -> usize {
    HEAD_LEN
        + match event.kind {
            MarketEventKind::Quote(_) => QUOTE_LEN,
            MarketEventKind::Funding(_) => FUNDING_LEN,
            MarketEventKind::FeedReset => 0,
        }
}

pub(super) fn encode(event: &MarketEvent, e: &mut Enc<'_>) {
    e.venue(event.venue);
    e.u8(match event.kind {
        MarketEventKind::Funding(_) => 1,
        MarketEventKind::Quote(_) => 2,
        MarketEventKind::FeedReset => 3,
    });
    e.u16(event.instrument.0);
    e.i64(event.ts_ms);
    e.u64(event.recv_ns);
    match event.kind {
        MarketEventKind::Quote(q) => {
            e.dec(q.bid);
            e.dec(q.bid_qty);
            e.dec(q.ask);
            e.dec(q.ask_qty);
        }
        MarketEventKind::Funding(f) => {
            e.dec(f.rate);
            e.opt_dec(f.predicted_rate);
            e.i64(f.next_funding_time_ms);
            e.u8(f.interval_ms.is_some() as u8);
            e.u64(f.interval_ms.unwrap_or(0));
            e.opt_dec(f.mark_price);
            e.opt_dec(f.index_price);
        }
        MarketEventKind::FeedReset => {}
    }
}

pub(super) fn decode(d: &mut Dec<'_>) -> Result<MarketEvent, RecordError> {
    let venue = d.venue("venue")?;
    let ev_kind = d.u8("event_kind")?;
    let instrument = InstrumentId(d.u16("instrument")?);
    let ts_ms = d.i64("ts_ms")?;
    let recv_ns = d.u64("recv_ns")?;
    let kind = match ev_kind {
        1 => {
            let rate = d.dec("rate")?;
            let predicted_rate = d.opt_dec("predicted_rate")?;
            let next_funding_time_ms = d.i64("next_funding_time_ms")?;
            let has_interval = d.flag("interval_present")?;
            let interval = d.u64("interval_ms")?;
            MarketEventKind::Funding(Funding {
                rate,
                predicted_rate,
                next_funding_time_ms,
                interval_ms: has_interval.then_some(interval),
                mark_price: d.opt_dec("mark_price")?,
                index_price: d.opt_dec("index_price")?,
            })
        }
        2 => MarketEventKind::Quote(Quote {
            bid: d.dec("bid")?,
            bid_qty: d.dec("bid_qty")?,
            ask: d.dec("ask")?,
            ask_qty: d.dec("ask_qty")?,
        }),
        3 => MarketEventKind::FeedReset,
        other => return Err(d.invalid("event_kind", other.to_string())),
    };
    Ok(MarketEvent {
        venue,
        instrument,
        ts_ms,
        recv_ns,
        kind,
    })
}

pub(super) fn json(event: &MarketEvent) -> Value {
    let mut m = json!({
        "venue": event.venue.as_str(),
        "instrument": event.instrument.0,
        "ts_ms": event.ts_ms,
        "recv_ns": event.recv_ns,
    });
    let extra = match event.kind {
        MarketEventKind::Quote(q) => json!({
            "event": "quote",
            "bid": dec_json(q.bid), "bid_qty": dec_json(q.bid_qty),
            "ask": dec_json(q.ask), "ask_qty": dec_json(q.ask_qty),
        }),
        MarketEventKind::Funding(f) => json!({
            "event": "funding",
            "rate": dec_json(f.rate),
            "predicted_rate": opt_dec_json(f.predicted_rate),
            "next_funding_time_ms": f.next_funding_time_ms,
            "interval_ms": f.interval_ms,
            "mark_price": opt_dec_json(f.mark_price),
            "index_price": opt_dec_json(f.index_price),
        }),
        MarketEventKind::FeedReset => json!({ "event": "feed_reset" }),
    };
    merge(&mut m, extra);
    m
}

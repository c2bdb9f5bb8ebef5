//! INTENT (kind 6): an order intent (place, resend, cancel, query), journaled before any gateway
//! sees it. Replay compares these byte for byte with what a fresh engine decides.
//!
//! Payload after `now`: action (u8), client order id, pair (u16), cycle (u32), step (u8), leg
//! (u8), attempt (u16), venue (u8), instrument (u16), side (u8), time in force (u8), reduce-only
//! (u8), price, base quantity, quantity in the venue's unit.

use serde_json::{json, Value};

use super::codec::{dec_json, Dec, Enc, CID_LEN, DEC_LEN};
use super::RecordError;
use crate::decision::target::PairId;
use crate::execution::order::{OrderIntent, Step};
use crate::market::instrument::InstrumentId;

pub(super) const LEN: usize = 1 + CID_LEN + 2 + 4 + 1 + 1 + 2 + 1 + 2 + 1 + 1 + 1 + 3 * DEC_LEN;

pub(super) fn encode(i: &OrderIntent, e: &mut Enc<'_>) {
    e.action(i.action);
    e.cid(&i.client_order_id);
    e.u16(i.pair.0);
    e.u32(i.cycle);
    e.u8(i.step.code());
    e.u8(i.leg.code());
    e.u16(i.attempt);
    e.venue(i.venue);
    e.u16(i.instrument.0);
    e.side(i.side);
    e.tif(i.tif);
    e.flag(i.reduce_only);
    e.dec(i.price);
    e.dec(i.qty_base);
    e.dec(i.qty_venue);
}

pub(super) fn decode(d: &mut Dec<'_>) -> Result<OrderIntent, RecordError> {
    let action = d.action("action")?;
    let client_order_id = d.cid("client_order_id")?;
    let pair = PairId(d.u16("pair")?);
    let cycle = d.u32("cycle")?;
    let c = d.u8("step")?;
    let step = Step::from_code(c).ok_or_else(|| d.invalid("step", c.to_string()))?;
    Ok(OrderIntent {
        action,
        client_order_id,
        pair,
        cycle,
        step,
        leg: d.leg("leg")?,
        attempt: d.u16("attempt")?,
        venue: d.venue("venue")?,
        instrument: InstrumentId(d.u16("instrument")?),
        side: d.side("side")?,
        tif: d.tif("tif")?,
        reduce_only: d.flag("reduce_only")?,
        price: d.dec("price")?,
        qty_base: d.dec("qty_base")?,
        qty_venue: d.dec("qty_venue")?,
    })
}

pub(super) fn json(i: &OrderIntent) -> Value {
    json!({
        "action": i.action.as_str(),
        "client_order_id": i.client_order_id.as_str(),
        "pair": i.pair.0,
        "cycle": i.cycle,
        "step": i.step.as_str(),
        "leg": i.leg.as_str(),
        "attempt": i.attempt,
        "venue": i.venue.as_str(),
        "instrument": i.instrument.0,
        "side": i.side.as_str(),
        "tif": i.tif.as_str(),
        "reduce_only": i.reduce_only,
        "price": dec_json(i.price),
        "qty_base": dec_json(i.qty_base),
        "qty_venue": dec_json(i.qty_venue),
    })
}

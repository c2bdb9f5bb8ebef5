//! CYCLE (kind 7): a pair's trade cycle changed state (or was re-armed, or had an exit
//! deferred), with the reason.
//!
//! Payload after `now`: pair (u16), instrument (u16), cycle (u32), from and to state (u8 each),
//! reason (u8), first leg (u8), base quantity, long and short venue (u8 each).

use serde_json::{json, Value};

use super::codec::{dec_json, Dec, Enc, DEC_LEN};
use super::RecordError;
use crate::decision::target::PairId;
use crate::execution::cycle::{target_reason_str, CycleChange, CycleReason};
use crate::market::instrument::InstrumentId;

pub(super) const LEN: usize = 2 + 2 + 4 + 1 + 1 + 1 + 1 + DEC_LEN + 2;

pub(super) fn encode(c: &CycleChange, e: &mut Enc<'_>) {
    e.u16(c.pair.0);
    e.u16(c.instrument.0);
    e.u32(c.cycle);
    e.u8(c.from.code());
    e.u8(c.to.code());
    e.u8(c.reason.code());
    e.u8(c.first.code());
    e.dec(c.qty_base);
    e.venue(c.venues[0]);
    e.venue(c.venues[1]);
}

pub(super) fn decode(d: &mut Dec<'_>) -> Result<CycleChange, RecordError> {
    let pair = PairId(d.u16("pair")?);
    let instrument = InstrumentId(d.u16("instrument")?);
    let cycle = d.u32("cycle")?;
    let from = d.state("from")?;
    let to = d.state("to")?;
    let c = d.u8("reason")?;
    let reason = CycleReason::from_code(c).ok_or_else(|| d.invalid("reason", c.to_string()))?;
    Ok(CycleChange {
        pair,
        instrument,
        cycle,
        from,
        to,
        reason,
        first: d.leg("first")?,
        qty_base: d.dec("qty_base")?,
        venues: [d.venue("long_venue")?, d.venue("short_venue")?],
    })
}

pub(super) fn json(c: &CycleChange) -> Value {
    json!({
        "pair": c.pair.0,
        "instrument": c.instrument.0,
        "cycle": c.cycle,
        "from": c.from.as_str(),
        "to": c.to.as_str(),
        "reason": c.reason.as_str(),
        "target_reason": c.reason.target_reason().map(target_reason_str),
        "first": c.first.as_str(),
        "qty_base": dec_json(c.qty_base),
        "long_venue": c.venues[0].as_str(),
        "short_venue": c.venues[1].as_str(),
    })
}

//! SPEC (kind 10): the trading rules the engine sizes orders with, for one venue and
//! instrument, journaled whenever they change so that replay sizes orders the same way.
//!
//! Payload after `now`: venue (u8), instrument (u16), tick size, lot size, minimum quantity,
//! minimum notional, contract size (optional).

use serde_json::{json, Value};

use super::codec::{dec_json, opt_dec_json, Dec, Enc, DEC_LEN, OPT_DEC_LEN};
use super::RecordError;
use crate::market::instrument::InstrumentId;
use crate::market::spec::InstrumentSpec;
use crate::market::venue::Venue;

pub(super) const LEN: usize = 1 + 2 + 4 * DEC_LEN + OPT_DEC_LEN;

pub(super) fn encode(
    venue: Venue,
    instrument: InstrumentId,
    spec: &InstrumentSpec,
    e: &mut Enc<'_>,
) {
    e.venue(venue);
    e.u16(instrument.0);
    e.dec(spec.tick_size);
    e.dec(spec.lot_size);
    e.dec(spec.min_qty);
    e.dec(spec.min_notional);
    e.opt_dec(spec.contract_size);
}

pub(super) fn decode(
    d: &mut Dec<'_>,
) -> Result<(Venue, InstrumentId, InstrumentSpec), RecordError> {
    Ok((
        d.venue("venue")?,
        InstrumentId(d.u16("instrument")?),
        InstrumentSpec {
            tick_size: d.dec("tick_size")?,
            lot_size: d.dec("lot_size")?,
            min_qty: d.dec("min_qty")?,
            min_notional: d.dec("min_notional")?,
            contract_size: d.opt_dec("contract_size")?,
        },
    ))
}

pub(super) fn json(venue: Venue, instrument: InstrumentId, spec: &InstrumentSpec) -> Value {
    json!({
        "venue": venue.as_str(),
        "instrument": instrument.0,
        "tick_size": dec_json(spec.tick_size),
        "lot_size": dec_json(spec.lot_size),
        "min_qty": dec_json(spec.min_qty),
        "min_notional": dec_json(spec.min_notional),
        "contract_size": opt_dec_json(spec.contract_size),
    })
}

//! EXEC (kind 3): an execution report from a gateway, as the engine received it.
//!
//! Payload after `now`: client order id, venue (u8), instrument (u16), report kind (u8), order
//! status (u8), cumulative executed base quantity, average price, fee in quote units, reject
//! reason (u8), the venue's own code (i32), sent and received ns (u64 each).

use serde_json::{json, Value};

use super::codec::{dec_json, Dec, Enc, CID_LEN, DEC_LEN};
use super::RecordError;
use crate::execution::order::ExecReport;
use crate::market::instrument::InstrumentId;

pub(super) const LEN: usize = CID_LEN + 1 + 2 + 1 + 1 + 3 * DEC_LEN + 1 + 4 + 8 + 8;

pub(super) fn encode(r: &ExecReport, e: &mut Enc<'_>) {
    e.cid(&r.client_order_id);
    e.venue(r.venue);
    e.u16(r.instrument.0);
    e.exec_kind(r.kind);
    e.status(r.status);
    e.dec(r.cum_qty_base);
    e.dec(r.avg_price);
    e.dec(r.fee_quote);
    e.reject(r.reject);
    e.i32(r.venue_code);
    e.u64(r.sent_ns);
    e.u64(r.recv_ns);
}

pub(super) fn decode(d: &mut Dec<'_>) -> Result<ExecReport, RecordError> {
    Ok(ExecReport {
        client_order_id: d.cid("client_order_id")?,
        venue: d.venue("venue")?,
        instrument: InstrumentId(d.u16("instrument")?),
        kind: d.exec_kind("exec_kind")?,
        status: d.status("status")?,
        cum_qty_base: d.dec("cum_qty_base")?,
        avg_price: d.dec("avg_price")?,
        fee_quote: d.dec("fee_quote")?,
        reject: d.reject("reject")?,
        venue_code: d.i32("venue_code")?,
        sent_ns: d.u64("sent_ns")?,
        recv_ns: d.u64("recv_ns")?,
    })
}

pub(super) fn json(r: &ExecReport) -> Value {
    json!({
        "client_order_id": r.client_order_id.as_str(),
        "venue": r.venue.as_str(),
        "instrument": r.instrument.0,
        "exec": r.kind.as_str(),
        "status": r.status.as_str(),
        "cum_qty_base": dec_json(r.cum_qty_base),
        "avg_price": dec_json(r.avg_price),
        "fee_quote": dec_json(r.fee_quote),
        "reject": r.reject.as_str(),
        "venue_code": r.venue_code,
        "sent_ns": r.sent_ns,
        "recv_ns": r.recv_ns,
    })
}

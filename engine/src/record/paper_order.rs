//! PAPER_ORDER (kind 32): the paper venue's state of one order, appended to the paper venue's
//! own journal whenever the order changes, so that a restarted paper venue answers queries about
//! orders it took before. The engine defines the payload (it is built from the engine's order
//! vocabulary) but never reads it.
//!
//! Payload after `now`: client order id, venue (u8), instrument (u16), side (u8), time in force
//! (u8), reduce-only (u8), price, base quantity, status (u8), cumulative executed base quantity,
//! average price, fee in quote units, reject reason (u8).

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::codec::{dec_json, Dec, Enc, CID_LEN, DEC_LEN};
use super::RecordError;
use crate::execution::client_id::ClientOrderId;
use crate::execution::order::{OrderStatus, RejectReason, Side, TimeInForce};
use crate::market::instrument::InstrumentId;
use crate::market::venue::Venue;

/// The paper venue's view of one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaperOrder {
    /// The engine's id of the order.
    pub client_order_id: ClientOrderId,
    /// The venue the order was sent to.
    pub venue: Venue,
    /// What it trades.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// IOC or GTC.
    pub tif: TimeInForce,
    /// Whether it may only reduce the venue's position.
    pub reduce_only: bool,
    /// Limit price.
    pub price: Decimal,
    /// Ordered base quantity.
    pub qty_base: Decimal,
    /// Where the order stands.
    pub status: OrderStatus,
    /// Executed base quantity so far.
    pub cum_qty_base: Decimal,
    /// Average price of what executed.
    pub avg_price: Decimal,
    /// Fees paid so far, in quote units.
    pub fee_quote: Decimal,
    /// Why it was rejected (`None` unless it was).
    pub reject: RejectReason,
}

pub(super) const LEN: usize = CID_LEN + 1 + 2 + 1 + 1 + 1 + 2 * DEC_LEN + 1 + 3 * DEC_LEN + 1;

pub(super) fn encode(o: &PaperOrder, e: &mut Enc<'_>) {
    e.cid(&o.client_order_id);
    e.venue(o.venue);
    e.u16(o.instrument.0);
    e.side(o.side);
    e.tif(o.tif);
    e.flag(o.reduce_only);
    e.dec(o.price);
    e.dec(o.qty_base);
    e.status(o.status);
    e.dec(o.cum_qty_base);
    e.dec(o.avg_price);
    e.dec(o.fee_quote);
    e.reject(o.reject);
}

pub(super) fn decode(d: &mut Dec<'_>) -> Result<PaperOrder, RecordError> {
    Ok(PaperOrder {
        client_order_id: d.cid("client_order_id")?,
        venue: d.venue("venue")?,
        instrument: InstrumentId(d.u16("instrument")?),
        side: d.side("side")?,
        tif: d.tif("tif")?,
        reduce_only: d.flag("reduce_only")?,
        price: d.dec("price")?,
        qty_base: d.dec("qty_base")?,
        status: d.status("status")?,
        cum_qty_base: d.dec("cum_qty_base")?,
        avg_price: d.dec("avg_price")?,
        fee_quote: d.dec("fee_quote")?,
        reject: d.reject("reject")?,
    })
}

pub(super) fn json(o: &PaperOrder) -> Value {
    json!({
        "client_order_id": o.client_order_id.as_str(),
        "venue": o.venue.as_str(),
        "instrument": o.instrument.0,
        "side": o.side.as_str(),
        "tif": o.tif.as_str(),
        "reduce_only": o.reduce_only,
        "price": dec_json(o.price),
        "qty_base": dec_json(o.qty_base),
        "status": o.status.as_str(),
        "cum_qty_base": dec_json(o.cum_qty_base),
        "avg_price": dec_json(o.avg_price),
        "fee_quote": dec_json(o.fee_quote),
        "reject": o.reject.as_str(),
    })
}

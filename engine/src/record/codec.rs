//! The field encodings every payload is built from: little-endian integers, decimals as
//! rust_decimal's 16-byte serialization (an optional one behind a presence byte), client order
//! ids as a length byte plus 28 bytes, venues by index, and the one-byte codes of the order
//! vocabulary, which are never renumbered. [`Enc`] writes them into the slice the journal hands
//! out; [`Dec`] reads them back, checking every field and naming the one that is wrong. The JSON
//! helpers at the end keep decimals exact in `carry journal dump`.

use rust_decimal::Decimal;
use serde_json::Value;

use super::RecordError;
use crate::clock::Now;
use crate::execution::client_id::{ClientOrderId, CLIENT_ID_MAX_LEN};
use crate::execution::cycle::CycleState;
use crate::execution::order::{
    ExecKind, IntentAction, Leg, OrderStatus, RejectReason, Side, TimeInForce,
};
use crate::market::venue::Venue;

/// Bytes of a [`Now`]: monotonic ns, then Unix ms.
pub(super) const NOW_LEN: usize = 16;
/// Bytes of a decimal.
pub(super) const DEC_LEN: usize = 16;
/// Bytes of an optional decimal: a presence byte, then the decimal (zero when absent).
pub(super) const OPT_DEC_LEN: usize = 17;
/// Bytes of a client order id: its length, then the id padded with zeros.
pub(super) const CID_LEN: usize = 1 + CLIENT_ID_MAX_LEN;

/// Writes fields into a payload slice of exactly the right length.
pub(super) struct Enc<'a> {
    pub(super) buf: &'a mut [u8],
    pub(super) pos: usize,
}

impl Enc<'_> {
    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
    pub(super) fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    pub(super) fn flag(&mut self, v: bool) {
        self.u8(v as u8);
    }
    pub(super) fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    pub(super) fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    pub(super) fn i32(&mut self, v: i32) {
        self.bytes(&v.to_le_bytes());
    }
    pub(super) fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    pub(super) fn dec(&mut self, d: Decimal) {
        self.bytes(&d.serialize());
    }
    pub(super) fn opt_dec(&mut self, d: Option<Decimal>) {
        self.u8(d.is_some() as u8);
        self.dec(d.unwrap_or(Decimal::ZERO));
    }
    pub(super) fn now(&mut self, now: Now) {
        self.u64(now.mono_ns);
        self.i64(now.unix_ms);
    }
    pub(super) fn venue(&mut self, v: Venue) {
        self.u8(v.index() as u8);
    }
    pub(super) fn cid(&mut self, id: &ClientOrderId) {
        let raw = id.as_bytes();
        self.u8(raw.len() as u8);
        let mut padded = [0u8; CLIENT_ID_MAX_LEN];
        padded[..raw.len()].copy_from_slice(raw);
        self.bytes(&padded);
    }
    pub(super) fn side(&mut self, s: Side) {
        self.u8(side_code(s));
    }
    pub(super) fn tif(&mut self, t: TimeInForce) {
        self.u8(tif_code(t));
    }
    pub(super) fn action(&mut self, a: IntentAction) {
        self.u8(action_code(a));
    }
    pub(super) fn exec_kind(&mut self, k: ExecKind) {
        self.u8(exec_kind_code(k));
    }
    pub(super) fn status(&mut self, s: OrderStatus) {
        self.u8(status_code(s));
    }
    pub(super) fn reject(&mut self, r: RejectReason) {
        self.u8(reject_code(r));
    }
}

/// Reads fields from a payload, naming the record kind and field in every error.
pub(super) struct Dec<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
    pub(super) kind: u16,
    pub(super) name: &'static str,
}

impl<'a> Dec<'a> {
    pub(super) fn invalid(&self, field: &'static str, value: String) -> RecordError {
        RecordError::Invalid {
            kind: self.kind,
            name: self.name,
            field,
            value,
        }
    }
    pub(super) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let Some(end) = end else {
            return Err(RecordError::Truncated {
                kind: self.kind,
                name: self.name,
                len: self.buf.len(),
                field,
            });
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }
    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, RecordError> {
        Ok(self.array::<1>(field)?[0])
    }
    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16, RecordError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, RecordError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    pub(super) fn u64(&mut self, field: &'static str) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    pub(super) fn i32(&mut self, field: &'static str) -> Result<i32, RecordError> {
        Ok(i32::from_le_bytes(self.array(field)?))
    }
    pub(super) fn i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }
    pub(super) fn flag(&mut self, field: &'static str) -> Result<bool, RecordError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.invalid(field, other.to_string())),
        }
    }
    pub(super) fn dec(&mut self, field: &'static str) -> Result<Decimal, RecordError> {
        let raw: [u8; 16] = self.array(field)?;
        let d = Decimal::deserialize(raw);
        // rust_decimal masks bad flag bits and clamps scales; a lossless round trip is the proof
        // that the bytes were a decimal to begin with.
        if d.serialize() != raw {
            return Err(self.invalid(field, "not a decimal".to_string()));
        }
        Ok(d)
    }
    pub(super) fn opt_dec(&mut self, field: &'static str) -> Result<Option<Decimal>, RecordError> {
        let present = self.flag(field)?;
        let d = self.dec(field)?;
        if !present && !d.is_zero() {
            return Err(self.invalid(field, "absent but non-zero".to_string()));
        }
        Ok(present.then_some(d))
    }
    pub(super) fn now(&mut self) -> Result<Now, RecordError> {
        Ok(Now {
            mono_ns: self.u64("now_mono_ns")?,
            unix_ms: self.i64("now_unix_ms")?,
        })
    }
    pub(super) fn venue(&mut self, field: &'static str) -> Result<Venue, RecordError> {
        let i = self.u8(field)?;
        Venue::from_index(i as usize).ok_or_else(|| self.invalid(field, i.to_string()))
    }
    pub(super) fn leg(&mut self, field: &'static str) -> Result<Leg, RecordError> {
        let c = self.u8(field)?;
        Leg::from_code(c).ok_or_else(|| self.invalid(field, c.to_string()))
    }
    pub(super) fn side(&mut self, field: &'static str) -> Result<Side, RecordError> {
        match self.u8(field)? {
            1 => Ok(Side::Buy),
            2 => Ok(Side::Sell),
            c => Err(self.invalid(field, c.to_string())),
        }
    }
    pub(super) fn state(&mut self, field: &'static str) -> Result<CycleState, RecordError> {
        let c = self.u8(field)?;
        CycleState::from_code(c).ok_or_else(|| self.invalid(field, c.to_string()))
    }
    pub(super) fn tif(&mut self, field: &'static str) -> Result<TimeInForce, RecordError> {
        let c = self.u8(field)?;
        tif_from(c).ok_or_else(|| self.invalid(field, c.to_string()))
    }
    pub(super) fn action(&mut self, field: &'static str) -> Result<IntentAction, RecordError> {
        let c = self.u8(field)?;
        action_from(c).ok_or_else(|| self.invalid(field, c.to_string()))
    }
    pub(super) fn exec_kind(&mut self, field: &'static str) -> Result<ExecKind, RecordError> {
        let c = self.u8(field)?;
        exec_kind_from(c).ok_or_else(|| self.invalid(field, c.to_string()))
    }
    pub(super) fn status(&mut self, field: &'static str) -> Result<OrderStatus, RecordError> {
        let c = self.u8(field)?;
        status_from(c).ok_or_else(|| self.invalid(field, c.to_string()))
    }
    pub(super) fn reject(&mut self, field: &'static str) -> Result<RejectReason, RecordError> {
        let c = self.u8(field)?;
        reject_from(c).ok_or_else(|| self.invalid(field, c.to_string()))
    }
    pub(super) fn cid(&mut self, field: &'static str) -> Result<ClientOrderId, RecordError> {
        let len = self.u8(field)? as usize;
        let raw: [u8; CLIENT_ID_MAX_LEN] = self.array(field)?;
        if len > CLIENT_ID_MAX_LEN || raw[len..].iter().any(|b| *b != 0) {
            return Err(self.invalid(field, format!("length {len}")));
        }
        ClientOrderId::from_bytes(&raw[..len])
            .ok_or_else(|| self.invalid(field, String::from_utf8_lossy(&raw[..len]).into_owned()))
    }
}

/// A decimal as JSON: its exact text.
pub(super) fn dec_json(d: Decimal) -> Value {
    Value::String(d.to_string())
}

/// An optional decimal as JSON: its exact text, or null.
pub(super) fn opt_dec_json(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, dec_json)
}

/// Adds the fields of the object `from` to the object `into`.
pub(super) fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

const fn exec_kind_code(k: ExecKind) -> u8 {
    match k {
        ExecKind::Ack => 1,
        ExecKind::PartialFill => 2,
        ExecKind::Fill => 3,
        ExecKind::Canceled => 4,
        ExecKind::Rejected => 5,
        ExecKind::Duplicate => 6,
        ExecKind::QueryAnswer => 7,
    }
}

pub(super) const fn exec_kind_from(c: u8) -> Option<ExecKind> {
    Some(match c {
        1 => ExecKind::Ack,
        2 => ExecKind::PartialFill,
        3 => ExecKind::Fill,
        4 => ExecKind::Canceled,
        5 => ExecKind::Rejected,
        6 => ExecKind::Duplicate,
        7 => ExecKind::QueryAnswer,
        _ => return None,
    })
}

const fn status_code(s: OrderStatus) -> u8 {
    match s {
        OrderStatus::Open => 1,
        OrderStatus::Filled => 2,
        OrderStatus::Canceled => 3,
        OrderStatus::Rejected => 4,
        OrderStatus::NotFound => 5,
    }
}

pub(super) const fn status_from(c: u8) -> Option<OrderStatus> {
    Some(match c {
        1 => OrderStatus::Open,
        2 => OrderStatus::Filled,
        3 => OrderStatus::Canceled,
        4 => OrderStatus::Rejected,
        5 => OrderStatus::NotFound,
        _ => return None,
    })
}

const fn reject_code(r: RejectReason) -> u8 {
    match r {
        RejectReason::None => 0,
        RejectReason::InsufficientBalance => 1,
        RejectReason::InvalidQuantity => 2,
        RejectReason::InvalidPrice => 3,
        RejectReason::ReduceOnly => 4,
        RejectReason::RateLimited => 5,
        RejectReason::VenueError => 6,
        RejectReason::Other => 7,
        RejectReason::Auth => 8,
        RejectReason::PostOnly => 9,
    }
}

const fn reject_from(c: u8) -> Option<RejectReason> {
    Some(match c {
        0 => RejectReason::None,
        1 => RejectReason::InsufficientBalance,
        2 => RejectReason::InvalidQuantity,
        3 => RejectReason::InvalidPrice,
        4 => RejectReason::ReduceOnly,
        5 => RejectReason::RateLimited,
        6 => RejectReason::VenueError,
        7 => RejectReason::Other,
        8 => RejectReason::Auth,
        9 => RejectReason::PostOnly,
        _ => return None,
    })
}

const fn action_code(a: IntentAction) -> u8 {
    match a {
        IntentAction::Place => 1,
        IntentAction::Resend => 2,
        IntentAction::Cancel => 3,
        IntentAction::Query => 4,
    }
}

pub(super) const fn action_from(c: u8) -> Option<IntentAction> {
    Some(match c {
        1 => IntentAction::Place,
        2 => IntentAction::Resend,
        3 => IntentAction::Cancel,
        4 => IntentAction::Query,
        _ => return None,
    })
}

const fn side_code(s: Side) -> u8 {
    match s {
        Side::Buy => 1,
        Side::Sell => 2,
    }
}

const fn tif_code(t: TimeInForce) -> u8 {
    match t {
        TimeInForce::Ioc => 1,
        TimeInForce::Gtc => 2,
    }
}

const fn tif_from(c: u8) -> Option<TimeInForce> {
    match c {
        1 => Some(TimeInForce::Ioc),
        2 => Some(TimeInForce::Gtc),
        _ => None,
    }
}

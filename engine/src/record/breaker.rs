//! BREAKER (kind 8): a circuit breaker tripped or cleared, for which scope, and when the
//! decider saw the condition (which can be earlier than the record's `now`).
//!
//! Payload after `now`: breaker kind (u8), scope tag (u8: 0 global, 1 venue, 2 stream, 3 pair),
//! scope venue (u8, 0 where the scope has none), scope id (u16: the instrument of a stream, the
//! pair of a pair, else 0), tripped (u8), then the time of the change as a second `now`.

use serde_json::{json, Value};

use super::codec::{Dec, Enc, NOW_LEN};
use super::RecordError;
use crate::decision::breaker::{BreakerChange, BreakerKind, Scope};
use crate::decision::target::PairId;
use crate::market::instrument::InstrumentId;

pub(super) const LEN: usize = 1 + 1 + 1 + 2 + 1 + NOW_LEN;

pub(super) fn encode(change: &BreakerChange, e: &mut Enc<'_>) {
    e.u8(change.kind.index() as u8);
    let (tag, venue, id) = match change.scope {
        Scope::Global => (0, 0, 0),
        Scope::Venue(v) => (1, v.index() as u8, 0),
        Scope::Stream { venue, instrument } => (2, venue.index() as u8, instrument.0),
        Scope::Pair(p) => (3, 0, p.0),
    };
    e.u8(tag);
    e.u8(venue);
    e.u16(id);
    e.flag(change.tripped);
    e.now(change.at);
}

pub(super) fn decode(d: &mut Dec<'_>) -> Result<BreakerChange, RecordError> {
    let c = d.u8("breaker")?;
    let kind =
        BreakerKind::from_index(c as usize).ok_or_else(|| d.invalid("breaker", c.to_string()))?;
    let tag = d.u8("scope")?;
    let venue = d.venue("scope_venue")?;
    let id = d.u16("scope_id")?;
    let scope = match tag {
        0 => Scope::Global,
        1 => Scope::Venue(venue),
        2 => Scope::Stream {
            venue,
            instrument: InstrumentId(id),
        },
        3 => Scope::Pair(PairId(id)),
        other => return Err(d.invalid("scope", other.to_string())),
    };
    Ok(BreakerChange {
        kind,
        scope,
        tripped: d.flag("tripped")?,
        at: d.now()?,
    })
}

pub(super) fn json(change: &BreakerChange) -> Value {
    let (scope, venue, id) = match change.scope {
        Scope::Global => ("global", None, None),
        Scope::Venue(v) => ("venue", Some(v.as_str()), None),
        Scope::Stream { venue, instrument } => ("stream", Some(venue.as_str()), Some(instrument.0)),
        Scope::Pair(p) => ("pair", None, Some(p.0)),
    };
    json!({
        "breaker": change.kind.as_str(),
        "effect": change.kind.effect().as_str(),
        "scope": scope,
        "scope_venue": venue,
        "scope_id": id,
        "tripped": change.tripped,
        "at_mono_ns": change.at.mono_ns,
    })
}

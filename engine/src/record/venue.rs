//! VENUE (kind 11): a live venue's condition as its gateway side reported it (not ready: setup
//! or credentials refused; backlog: more intents held than the rate limit lets out), holding or
//! cleared. An input like a command: the engine acts on it through the venue's breakers.
//!
//! Payload after `now`: venue (u8), condition code (u8), on (u8: 0 or 1).

use serde_json::{json, Value};

use super::codec::{Dec, Enc};
use super::RecordError;
use crate::decision::breaker::VenueCondition;
use crate::market::venue::Venue;

pub(super) const LEN: usize = 3;

pub(super) fn encode(venue: Venue, condition: VenueCondition, on: bool, e: &mut Enc<'_>) {
    e.venue(venue);
    e.u8(condition.code());
    e.u8(u8::from(on));
}

pub(super) fn decode(d: &mut Dec<'_>) -> Result<(Venue, VenueCondition, bool), RecordError> {
    let venue = d.venue("venue")?;
    let c = d.u8("condition")?;
    let condition =
        VenueCondition::from_code(c).ok_or_else(|| d.invalid("condition", c.to_string()))?;
    let on = match d.u8("on")? {
        0 => false,
        1 => true,
        other => return Err(d.invalid("on", other.to_string())),
    };
    Ok((venue, condition, on))
}

pub(super) fn json(venue: Venue, condition: VenueCondition, on: bool) -> Value {
    json!({ "venue": venue.to_string(), "condition": condition.as_str(), "on": on })
}

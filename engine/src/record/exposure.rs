//! EXPOSURE (kind 9): position a cycle could not close or balance (its attempts ran out, what is
//! left is below the venue's minimum, or a fill arrived for an order it had written off).
//!
//! Payload after `now`: pair (u16), instrument (u16), cycle (u32), long and short venue (u8
//! each), long and short position (signed base units), reason (u8).

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::codec::{dec_json, Dec, Enc, DEC_LEN};
use super::RecordError;
use crate::decision::target::PairId;
use crate::market::instrument::InstrumentId;
use crate::market::venue::Venue;

/// Exposure left after a cycle ran out of attempts, or found by a late fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExposureRecord {
    /// The pair whose cycle holds it.
    pub pair: PairId,
    /// The pair's instrument.
    pub instrument: InstrumentId,
    /// The cycle number.
    pub cycle: u32,
    /// The long and the short leg's venue.
    pub venues: [Venue; 2],
    /// Signed base units still held on the long and the short leg.
    pub position: [Decimal; 2],
    /// Why it was left over.
    pub reason: ExposureReason,
}

/// Why exposure was left over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExposureReason {
    /// Exit orders ran out of attempts.
    ExitExhausted,
    /// Unwind (compensation) orders ran out of attempts.
    UnwindExhausted,
    /// What is left is below the venue's minimum order size.
    Dust,
    /// A fill arrived for an order the cycle had already written off.
    LateFill,
}

impl ExposureReason {
    /// The reason's one-byte code in the record; never renumbered.
    pub const fn code(self) -> u8 {
        match self {
            ExposureReason::ExitExhausted => 1,
            ExposureReason::UnwindExhausted => 2,
            ExposureReason::Dust => 3,
            ExposureReason::LateFill => 4,
        }
    }

    /// The reason with this code, if any.
    pub const fn from_code(c: u8) -> Option<ExposureReason> {
        match c {
            1 => Some(ExposureReason::ExitExhausted),
            2 => Some(ExposureReason::UnwindExhausted),
            3 => Some(ExposureReason::Dust),
            4 => Some(ExposureReason::LateFill),
            _ => None,
        }
    }

    /// The reason's name in dumps and views (`exit_exhausted`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ExposureReason::ExitExhausted => "exit_exhausted",
            ExposureReason::UnwindExhausted => "unwind_exhausted",
            ExposureReason::Dust => "dust",
            ExposureReason::LateFill => "late_fill",
        }
    }
}

pub(super) const LEN: usize = 2 + 2 + 4 + 2 + 2 * DEC_LEN + 1;

pub(super) fn encode(x: &ExposureRecord, e: &mut Enc<'_>) {
    e.u16(x.pair.0);
    e.u16(x.instrument.0);
    e.u32(x.cycle);
    e.venue(x.venues[0]);
    e.venue(x.venues[1]);
    e.dec(x.position[0]);
    e.dec(x.position[1]);
    e.u8(x.reason.code());
}

pub(super) fn decode(d: &mut Dec<'_>) -> Result<ExposureRecord, RecordError> {
    let pair = PairId(d.u16("pair")?);
    let instrument = InstrumentId(d.u16("instrument")?);
    let cycle = d.u32("cycle")?;
    let venues = [d.venue("long_venue")?, d.venue("short_venue")?];
    let position = [d.dec("long_position")?, d.dec("short_position")?];
    let c = d.u8("reason")?;
    let reason = ExposureReason::from_code(c).ok_or_else(|| d.invalid("reason", c.to_string()))?;
    Ok(ExposureRecord {
        pair,
        instrument,
        cycle,
        venues,
        position,
        reason,
    })
}

pub(super) fn json(x: &ExposureRecord) -> Value {
    json!({
        "pair": x.pair.0,
        "instrument": x.instrument.0,
        "cycle": x.cycle,
        "long_venue": x.venues[0].as_str(),
        "short_venue": x.venues[1].as_str(),
        "long_position": dec_json(x.position[0]),
        "short_position": dec_json(x.position[1]),
        "reason": x.reason.as_str(),
    })
}

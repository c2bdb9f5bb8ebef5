//! Journal records: the kinds the engine writes, their binary payloads, and their JSON form for
//! `carry journal dump`. Each payload kind has a file of its own (`start.rs`, `market.rs`, ...
//! `paper_order.rs`) holding its layout, its encoding, its decoding and its JSON side by side;
//! `codec.rs` holds the field encodings they share; this module numbers the kinds and
//! dispatches on them.
//!
//! Payloads are fixed-layout little-endian with no padding: decimals as rust_decimal's 16-byte
//! serialization, client order ids as a length byte plus 28 bytes, enums as one-byte codes that
//! are never renumbered. Every record starts with the engine's full [`Now`] (monotonic ns and
//! Unix ms), because timeouts run on the monotonic clock and replay must see the same values; the
//! journal's own timestamp field holds `now.unix_ms × 10⁶` (wall time, ms resolution) so that
//! `carry journal dump` shows readable times. Encoding writes straight into the slice the journal
//! hands out (`append_with`), so recording an input costs no allocation.
//!
//! # Kind numbers
//!
//! Kind numbers are stable (a journal outlives the binary that wrote it) and reserved in ranges,
//! so that a part of carry other than the engine can journal records of its own without the
//! engine knowing their payloads:
//!
//! | kinds | owner | who reads them |
//! |---|---|---|
//! | 0 | nobody | the journal's "nothing written here"; never a record |
//! | 1..=31 | the engine's inputs and decisions ([`kind::START`] ... [`kind::SPEC`]) | the engine (recovery), replay, dump |
//! | 32..=63 | records the engine defines for other parts of carry ([`kind::PAPER_ORDER`]) | their writer, dump; the engine applies nothing |
//! | 64..=127 ([`kind::GATEWAY`]) | gateways, each its own kinds and payloads | the gateway; the engine journals them as given ([`Engine::journal_gateway_record`]) and skips them on recovery and replay; dump prints the number and the payload in hex |
//! | 128..=65535 | reserved | dump prints the number and the payload in hex |
//!
//! [`Engine::journal_gateway_record`]: crate::engine::Engine::journal_gateway_record

mod breaker;
mod codec;
mod command;
mod cycle;
mod exec;
mod exposure;
mod intent;
mod market;
mod paper_order;
mod spec;
mod start;
#[cfg(test)]
mod tests;
mod venue;

use serde_json::{json, Value};

use crate::clock::Now;
use crate::decision::breaker::{BreakerChange, VenueCondition};
use crate::decision::command::OperatorCommand;
use crate::execution::cycle::CycleChange;
use crate::execution::order::{ExecReport, OrderIntent};
use crate::market::event::MarketEvent;
use crate::market::instrument::InstrumentId;
use crate::market::spec::InstrumentSpec;
use crate::market::venue::Venue;
use codec::{merge, Dec, Enc, NOW_LEN};

pub use exposure::{ExposureReason, ExposureRecord};
pub use paper_order::PaperOrder;
pub use start::StartRecord;

/// Record kind numbers and the ranges they are reserved in (see the [module docs](self)).
pub mod kind {
    use std::ops::RangeInclusive;

    /// Kinds the engine defines and decodes.
    pub const ENGINE: RangeInclusive<u16> = 1..=63;
    /// Kinds gateways own: the engine journals their payloads as given and never decodes them.
    pub const GATEWAY: RangeInclusive<u16> = 64..=127;

    /// The engine opened this journal (first start or restart).
    pub const START: u16 = 1;
    /// A market event the engine acted on.
    pub const MARKET: u16 = 2;
    /// An execution report from a gateway.
    pub const EXEC: u16 = 3;
    /// An operator command.
    pub const COMMAND: u16 = 4;
    /// A timer tick.
    pub const TICK: u16 = 5;
    /// An order intent (place, resend, cancel, query); journaled before any gateway sees it.
    pub const INTENT: u16 = 6;
    /// A cycle state change.
    pub const CYCLE: u16 = 7;
    /// A circuit breaker changed state.
    pub const BREAKER: u16 = 8;
    /// Exposure a cycle could not close or balance.
    pub const EXPOSURE: u16 = 9;
    /// The trading rules the engine sizes orders with, for one venue and instrument.
    pub const SPEC: u16 = 10;
    /// A live venue's condition (not ready, backlog) as its gateway side reported it.
    pub const VENUE: u16 = 11;
    /// The paper venue's state of one order, appended whenever it changes (paper journal).
    pub const PAPER_ORDER: u16 = 32;
}

/// Format of the START record's payload; bumped when any payload layout changes.
pub const FORMAT_VERSION: u16 = 1;

/// Why a decode failed: which record kind, which field, what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The payload ends before a field.
    #[error("record kind {kind} ({name}): payload is {len} bytes, field {field} needs more")]
    Truncated {
        /// The record kind.
        kind: u16,
        /// Its name.
        name: &'static str,
        /// The payload's length.
        len: usize,
        /// The field that did not fit.
        field: &'static str,
    },
    /// A field holds a value no encoder writes.
    #[error("record kind {kind} ({name}): field {field}: invalid value {value}")]
    Invalid {
        /// The record kind.
        kind: u16,
        /// Its name.
        name: &'static str,
        /// The field.
        field: &'static str,
        /// What it held.
        value: String,
    },
    /// Bytes follow the last field.
    #[error("record kind {kind} ({name}): {extra} bytes after the last field")]
    Trailing {
        /// The record kind.
        kind: u16,
        /// Its name.
        name: &'static str,
        /// How many bytes follow.
        extra: usize,
    },
    /// A kind this build of the engine does not define (a gateway's, or a reserved number).
    #[error("record kind {0} is not one carry writes")]
    UnknownKind(u16),
}

/// One journal record, decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// [`kind::START`]
    Start {
        /// When the engine opened.
        now: Now,
        /// What it opened with.
        start: StartRecord,
    },
    /// [`kind::MARKET`]
    Market {
        /// When the engine took the event.
        now: Now,
        /// The event.
        event: MarketEvent,
    },
    /// [`kind::EXEC`]
    Exec {
        /// When the engine took the report.
        now: Now,
        /// The report.
        report: ExecReport,
    },
    /// [`kind::COMMAND`]
    Command {
        /// When the engine took the command.
        now: Now,
        /// The command.
        command: OperatorCommand,
    },
    /// [`kind::TICK`]: no payload beyond its time.
    Tick {
        /// When the tick ran.
        now: Now,
    },
    /// [`kind::INTENT`]
    Intent {
        /// When the engine decided it.
        now: Now,
        /// The intent.
        intent: OrderIntent,
    },
    /// [`kind::CYCLE`]
    Cycle {
        /// When the engine decided it.
        now: Now,
        /// The change.
        change: CycleChange,
    },
    /// [`kind::BREAKER`]
    Breaker {
        /// When the engine journaled it.
        now: Now,
        /// The change.
        change: BreakerChange,
    },
    /// [`kind::EXPOSURE`]
    Exposure {
        /// When the engine found it.
        now: Now,
        /// What is left, where.
        exposure: ExposureRecord,
    },
    /// [`kind::SPEC`]
    Spec {
        /// When the rules reached the engine.
        now: Now,
        /// The venue they are for.
        venue: Venue,
        /// The instrument they are for.
        instrument: InstrumentId,
        /// The rules.
        spec: InstrumentSpec,
    },
    /// [`kind::VENUE`]
    Venue {
        /// When the engine took it.
        now: Now,
        /// The venue.
        venue: Venue,
        /// Which condition.
        condition: VenueCondition,
        /// Holding (`true`) or cleared.
        on: bool,
    },
    /// [`kind::PAPER_ORDER`]
    PaperOrder {
        /// When the paper venue changed the order.
        now: Now,
        /// The order as it now stands.
        order: PaperOrder,
    },
}

/// Longest payload of any record but START (whose config text is variable).
pub const MAX_FIXED_LEN: usize = NOW_LEN + {
    let lens = [
        market::MAX_LEN,
        exec::LEN,
        intent::LEN,
        cycle::LEN,
        breaker::LEN,
        exposure::LEN,
        spec::LEN,
        paper_order::LEN,
    ];
    let mut max = 0;
    let mut i = 0;
    while i < lens.len() {
        if lens[i] > max {
            max = lens[i];
        }
        i += 1;
    }
    max
};

impl Record {
    /// The record's kind number.
    pub fn kind(&self) -> u16 {
        match self {
            Record::Start { .. } => kind::START,
            Record::Market { .. } => kind::MARKET,
            Record::Exec { .. } => kind::EXEC,
            Record::Command { .. } => kind::COMMAND,
            Record::Tick { .. } => kind::TICK,
            Record::Intent { .. } => kind::INTENT,
            Record::Cycle { .. } => kind::CYCLE,
            Record::Breaker { .. } => kind::BREAKER,
            Record::Exposure { .. } => kind::EXPOSURE,
            Record::Spec { .. } => kind::SPEC,
            Record::Venue { .. } => kind::VENUE,
            Record::PaperOrder { .. } => kind::PAPER_ORDER,
        }
    }

    /// The engine's time when the record was written.
    pub fn now(&self) -> Now {
        match self {
            Record::Start { now, .. }
            | Record::Market { now, .. }
            | Record::Exec { now, .. }
            | Record::Command { now, .. }
            | Record::Tick { now }
            | Record::Intent { now, .. }
            | Record::Cycle { now, .. }
            | Record::Breaker { now, .. }
            | Record::Exposure { now, .. }
            | Record::Spec { now, .. }
            | Record::Venue { now, .. }
            | Record::PaperOrder { now, .. } => *now,
        }
    }

    /// The journal timestamp for this record: wall time in ns at ms resolution.
    pub fn ts_ns(&self) -> u64 {
        ts_ns(self.now())
    }

    /// The payload's length in bytes.
    pub fn encoded_len(&self) -> usize {
        NOW_LEN
            + match self {
                Record::Start { start, .. } => start::len(start),
                Record::Market { event, .. } => market::len(event),
                Record::Exec { .. } => exec::LEN,
                Record::Command { .. } => command::LEN,
                Record::Tick { .. } => 0,
                Record::Intent { .. } => intent::LEN,
                Record::Cycle { .. } => cycle::LEN,
                Record::Breaker { .. } => breaker::LEN,
                Record::Exposure { .. } => exposure::LEN,
                Record::Spec { .. } => spec::LEN,
                Record::Venue { .. } => venue::LEN,
                Record::PaperOrder { .. } => paper_order::LEN,
            }
    }

    /// Writes the payload into `buf`, which must be exactly [`Record::encoded_len`] long.
    pub fn encode(&self, buf: &mut [u8]) {
        let mut e = Enc { buf, pos: 0 };
        e.now(self.now());
        match self {
            Record::Start { start, .. } => start::encode(start, &mut e),
            Record::Market { event, .. } => market::encode(event, &mut e),
            Record::Exec { report, .. } => exec::encode(report, &mut e),
            Record::Command { command, .. } => command::encode(*command, &mut e),
            Record::Tick { .. } => {}
            Record::Intent { intent, .. } => intent::encode(intent, &mut e),
            Record::Cycle { change, .. } => cycle::encode(change, &mut e),
            Record::Breaker { change, .. } => breaker::encode(change, &mut e),
            Record::Exposure { exposure, .. } => exposure::encode(exposure, &mut e),
            Record::Spec {
                venue,
                instrument,
                spec,
                ..
            } => spec::encode(*venue, *instrument, spec, &mut e),
            Record::Venue {
                venue,
                condition,
                on,
                ..
            } => venue::encode(*venue, *condition, *on, &mut e),
            Record::PaperOrder { order, .. } => paper_order::encode(order, &mut e),
        }
        debug_assert_eq!(e.pos, e.buf.len(), "encoded_len disagrees with encode");
    }

    /// Encodes into a fresh vector (tests and tools; the engine encodes into the journal).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.encoded_len()];
        self.encode(&mut buf);
        buf
    }

    /// Decodes a payload of the given kind; every field is checked, nothing is trusted.
    pub fn decode(kind: u16, payload: &[u8]) -> Result<Record, RecordError> {
        let name = kind_name(kind).ok_or(RecordError::UnknownKind(kind))?;
        let mut d = Dec {
            buf: payload,
            pos: 0,
            kind,
            name,
        };
        let now = d.now()?;
        let d = &mut d;
        let record = match kind {
            kind::START => Record::Start {
                now,
                start: start::decode(d)?,
            },
            kind::MARKET => Record::Market {
                now,
                event: market::decode(d)?,
            },
            kind::EXEC => Record::Exec {
                now,
                report: exec::decode(d)?,
            },
            kind::COMMAND => Record::Command {
                now,
                command: command::decode(d)?,
            },
            kind::TICK => Record::Tick { now },
            kind::INTENT => Record::Intent {
                now,
                intent: intent::decode(d)?,
            },
            kind::CYCLE => Record::Cycle {
                now,
                change: cycle::decode(d)?,
            },
            kind::BREAKER => Record::Breaker {
                now,
                change: breaker::decode(d)?,
            },
            kind::EXPOSURE => Record::Exposure {
                now,
                exposure: exposure::decode(d)?,
            },
            kind::SPEC => {
                let (venue, instrument, spec) = spec::decode(d)?;
                Record::Spec {
                    now,
                    venue,
                    instrument,
                    spec,
                }
            }
            kind::VENUE => {
                let (venue, condition, on) = venue::decode(d)?;
                Record::Venue {
                    now,
                    venue,
                    condition,
                    on,
                }
            }
            kind::PAPER_ORDER => Record::PaperOrder {
                now,
                order: paper_order::decode(d)?,
            },
            other => return Err(RecordError::UnknownKind(other)),
        };
        if d.pos != payload.len() {
            return Err(RecordError::Trailing {
                kind,
                name,
                extra: payload.len() - d.pos,
            });
        }
        Ok(record)
    }
}

/// The journal timestamp of `now`: Unix ms as ns (0 before 1970).
pub fn ts_ns(now: Now) -> u64 {
    u64::try_from(now.unix_ms)
        .unwrap_or(0)
        .saturating_mul(1_000_000)
}

/// The name `carry journal dump` shows for a kind the engine defines.
pub fn kind_name(kind: u16) -> Option<&'static str> {
    Some(match kind {
        kind::START => "start",
        kind::MARKET => "market",
        kind::EXEC => "exec",
        kind::COMMAND => "command",
        kind::TICK => "tick",
        kind::INTENT => "intent",
        kind::CYCLE => "cycle",
        kind::BREAKER => "breaker",
        kind::EXPOSURE => "exposure",
        kind::SPEC => "spec",
        kind::VENUE => "venue",
        kind::PAPER_ORDER => "paper_order",
        _ => return None,
    })
}

/// The kind number of a name `kind_name` returns.
pub fn kind_by_name(name: &str) -> Option<u16> {
    kind::ENGINE
        .into_iter()
        .find(|k| kind_name(*k) == Some(name))
}

/// Names a record kind and decodes its payload into named fields, for `carry journal dump`.
/// `None` for kinds the engine does not define (dump prints those as hex). A payload that does
/// not decode is shown with an `error` field naming what was wrong.
pub fn describe(kind: u16, payload: &[u8]) -> Option<(&'static str, Value)> {
    let name = kind_name(kind)?;
    let record = match Record::decode(kind, payload) {
        Ok(r) => r,
        Err(e) => return Some((name, json!({ "error": e.to_string() }))),
    };
    Some((name, record_json(&record)))
}

/// The JSON form of a record: named fields, decimals as exact strings.
pub fn record_json(record: &Record) -> Value {
    let now = record.now();
    let mut v = match record {
        Record::Start { start, .. } => start::json(start),
        Record::Market { event, .. } => market::json(event),
        Record::Exec { report, .. } => exec::json(report),
        Record::Command { command, .. } => command::json(*command),
        Record::Tick { .. } => json!({}),
        Record::Intent { intent, .. } => intent::json(intent),
        Record::Cycle { change, .. } => cycle::json(change),
        Record::Breaker { change, .. } => breaker::json(change),
        Record::Exposure { exposure, .. } => exposure::json(exposure),
        Record::Spec {
            venue,
            instrument,
            spec,
            ..
        } => spec::json(*venue, *instrument, spec),
        Record::Venue {
            venue,
            condition,
            on,
            ..
        } => venue::json(*venue, *condition, *on),
        Record::PaperOrder { order, .. } => paper_order::json(order),
    };
    merge(
        &mut v,
        json!({ "now_mono_ns": now.mono_ns, "now_unix_ms": now.unix_ms }),
    );
    v
}

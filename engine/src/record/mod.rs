//! Journal record kinds the engine writes, their binary payloads, and their JSON form for
//! `carry journal dump`.
//!
//! Payloads are fixed-layout little-endian with no padding: decimals as rust_decimal's 16-byte
//! serialization, client order ids as a length byte plus 28 bytes, enums as one-byte codes that
//! are never renumbered. Every input record carries the engine's full [`Now`] (monotonic ns and
//! Unix ms), because timeouts run on the monotonic clock and replay must see the same values; the
//! journal's own timestamp field holds `now.unix_ms × 10⁶` (wall time, ms resolution) so that
//! `carry journal dump` shows readable times. Encoding writes straight into the slice the journal
//! hands out (`append_with`), so recording an input costs no allocation.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::clock::Now;
use crate::decision::breaker::{BreakerChange, BreakerKind, Scope};
use crate::decision::command::OperatorCommand;
use crate::decision::target::PairId;
use crate::execution::client_id::{ClientOrderId, InstanceId, CLIENT_ID_MAX_LEN};
use crate::execution::cycle::{target_reason_str, CycleChange, CycleReason, CycleState};
use crate::execution::order::{
    ExecKind, ExecReport, IntentAction, Leg, OrderIntent, OrderStatus, RejectReason, Side, Step,
    TimeInForce,
};
use crate::market::event::{Funding, MarketEvent, MarketEventKind, Quote};
use crate::market::instrument::InstrumentId;
use crate::market::spec::InstrumentSpec;
use crate::market::venue::Venue;

/// Record kind numbers. Stable: a journal outlives the binary that wrote it.
pub mod kind {
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
    /// The paper venue's state of one order, appended whenever it changes (paper journal).
    pub const PAPER_ORDER: u16 = 32;
}

/// Format of the START record's payload; bumped when any payload layout changes.
pub const FORMAT_VERSION: u16 = 1;

/// Why a decode failed: which record kind, which field, what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record kind {kind} ({name}): payload is {len} bytes, field {field} needs more")]
    Truncated {
        kind: u16,
        name: &'static str,
        len: usize,
        field: &'static str,
    },
    #[error("record kind {kind} ({name}): field {field}: invalid value {value}")]
    Invalid {
        kind: u16,
        name: &'static str,
        field: &'static str,
        value: String,
    },
    #[error("record kind {kind} ({name}): {extra} bytes after the last field")]
    Trailing {
        kind: u16,
        name: &'static str,
        extra: usize,
    },
    #[error("record kind {0} is not one carry writes")]
    UnknownKind(u16),
}

/// Exposure left after a cycle ran out of attempts, or found by a late fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExposureRecord {
    pub pair: PairId,
    pub instrument: InstrumentId,
    pub cycle: u32,
    pub venues: [Venue; 2],
    /// Signed base units still held on the long and the short leg.
    pub position: [Decimal; 2],
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
    pub const fn code(self) -> u8 {
        match self {
            ExposureReason::ExitExhausted => 1,
            ExposureReason::UnwindExhausted => 2,
            ExposureReason::Dust => 3,
            ExposureReason::LateFill => 4,
        }
    }

    pub const fn from_code(c: u8) -> Option<ExposureReason> {
        match c {
            1 => Some(ExposureReason::ExitExhausted),
            2 => Some(ExposureReason::UnwindExhausted),
            3 => Some(ExposureReason::Dust),
            4 => Some(ExposureReason::LateFill),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ExposureReason::ExitExhausted => "exit_exhausted",
            ExposureReason::UnwindExhausted => "unwind_exhausted",
            ExposureReason::Dust => "dust",
            ExposureReason::LateFill => "late_fill",
        }
    }
}

/// The paper venue's view of one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaperOrder {
    pub client_order_id: ClientOrderId,
    pub venue: Venue,
    pub instrument: InstrumentId,
    pub side: Side,
    pub tif: TimeInForce,
    pub reduce_only: bool,
    pub price: Decimal,
    pub qty_base: Decimal,
    pub status: OrderStatus,
    pub cum_qty_base: Decimal,
    pub avg_price: Decimal,
    pub fee_quote: Decimal,
    pub reject: RejectReason,
}

/// What the engine's START record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartRecord {
    pub format: u16,
    pub instance: InstanceId,
    /// The configuration text the engine was started with (opaque to the engine; replay hands
    /// it back to whoever builds engines from it).
    pub config_text: String,
}

/// One journal record, decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Start {
        now: Now,
        start: StartRecord,
    },
    Market {
        now: Now,
        event: MarketEvent,
    },
    Exec {
        now: Now,
        report: ExecReport,
    },
    Command {
        now: Now,
        command: OperatorCommand,
    },
    Tick {
        now: Now,
    },
    Intent {
        now: Now,
        intent: OrderIntent,
    },
    Cycle {
        now: Now,
        change: CycleChange,
    },
    Breaker {
        now: Now,
        change: BreakerChange,
    },
    Exposure {
        now: Now,
        exposure: ExposureRecord,
    },
    Spec {
        now: Now,
        venue: Venue,
        instrument: InstrumentId,
        spec: InstrumentSpec,
    },
    PaperOrder {
        now: Now,
        order: PaperOrder,
    },
}

const NOW_LEN: usize = 16;
const DEC_LEN: usize = 16;
const OPT_DEC_LEN: usize = 17;
const CID_LEN: usize = 1 + CLIENT_ID_MAX_LEN;
const MARKET_HEAD_LEN: usize = NOW_LEN + 1 + 1 + 2 + 8 + 8;
const QUOTE_LEN: usize = 4 * DEC_LEN;
const FUNDING_LEN: usize = DEC_LEN + OPT_DEC_LEN + 8 + 9 + 2 * OPT_DEC_LEN;
const EXEC_LEN: usize = NOW_LEN + CID_LEN + 1 + 2 + 1 + 1 + 3 * DEC_LEN + 1 + 4 + 8 + 8;
const INTENT_LEN: usize =
    NOW_LEN + 1 + CID_LEN + 2 + 4 + 1 + 1 + 2 + 1 + 2 + 1 + 1 + 1 + 3 * DEC_LEN;
const CYCLE_LEN: usize = NOW_LEN + 2 + 2 + 4 + 1 + 1 + 1 + 1 + DEC_LEN + 2;
const BREAKER_LEN: usize = NOW_LEN + 1 + 1 + 1 + 2 + 1 + NOW_LEN;
const EXPOSURE_LEN: usize = NOW_LEN + 2 + 2 + 4 + 2 + 2 * DEC_LEN + 1;
const SPEC_LEN: usize = NOW_LEN + 1 + 2 + 4 * DEC_LEN + OPT_DEC_LEN;
const PAPER_LEN: usize = NOW_LEN + CID_LEN + 1 + 2 + 1 + 1 + 1 + 2 * DEC_LEN + 1 + 3 * DEC_LEN + 1;
/// Longest payload of any record but START (whose config text is variable).
pub const MAX_FIXED_LEN: usize = {
    let lens = [
        MARKET_HEAD_LEN + FUNDING_LEN,
        EXEC_LEN,
        INTENT_LEN,
        CYCLE_LEN,
        BREAKER_LEN,
        EXPOSURE_LEN,
        SPEC_LEN,
        PAPER_LEN,
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
            Record::PaperOrder { .. } => kind::PAPER_ORDER,
        }
    }

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
            | Record::PaperOrder { now, .. } => *now,
        }
    }

    /// The journal timestamp for this record: wall time in ns at ms resolution.
    pub fn ts_ns(&self) -> u64 {
        ts_ns(self.now())
    }

    pub fn encoded_len(&self) -> usize {
        match self {
            Record::Start { start, .. } => NOW_LEN + 2 + 1 + 16 + 4 + start.config_text.len(),
            Record::Market { event, .. } => {
                MARKET_HEAD_LEN
                    + match event.kind {
                        MarketEventKind::Quote(_) => QUOTE_LEN,
                        MarketEventKind::Funding(_) => FUNDING_LEN,
                        MarketEventKind::FeedReset => 0,
                    }
            }
            Record::Exec { .. } => EXEC_LEN,
            Record::Command { .. } => NOW_LEN + 1,
            Record::Tick { .. } => NOW_LEN,
            Record::Intent { .. } => INTENT_LEN,
            Record::Cycle { .. } => CYCLE_LEN,
            Record::Breaker { .. } => BREAKER_LEN,
            Record::Exposure { .. } => EXPOSURE_LEN,
            Record::Spec { .. } => SPEC_LEN,
            Record::PaperOrder { .. } => PAPER_LEN,
        }
    }

    /// Writes the payload into `buf`, which must be exactly [`Record::encoded_len`] long.
    pub fn encode(&self, buf: &mut [u8]) {
        let mut e = Enc { buf, pos: 0 };
        e.now(self.now());
        match self {
            Record::Start { start, .. } => {
                e.u16(start.format);
                let name = start.instance.as_str().as_bytes();
                e.u8(name.len() as u8);
                let mut padded = [0u8; 16];
                padded[..name.len()].copy_from_slice(name);
                e.bytes(&padded);
                e.u32(start.config_text.len() as u32);
                e.bytes(start.config_text.as_bytes());
            }
            Record::Market { event, .. } => {
                e.venue(event.venue);
                e.u8(match event.kind {
                    MarketEventKind::Funding(_) => 1,
                    MarketEventKind::Quote(_) => 2,
                    MarketEventKind::FeedReset => 3,
                });
                e.u16(event.instrument.0);
                e.i64(event.ts_ms);
                e.u64(event.recv_ns);
                match event.kind {
                    MarketEventKind::Quote(q) => {
                        e.dec(q.bid);
                        e.dec(q.bid_qty);
                        e.dec(q.ask);
                        e.dec(q.ask_qty);
                    }
                    MarketEventKind::Funding(f) => {
                        e.dec(f.rate);
                        e.opt_dec(f.predicted_rate);
                        e.i64(f.next_funding_time_ms);
                        e.u8(f.interval_ms.is_some() as u8);
                        e.u64(f.interval_ms.unwrap_or(0));
                        e.opt_dec(f.mark_price);
                        e.opt_dec(f.index_price);
                    }
                    MarketEventKind::FeedReset => {}
                }
            }
            Record::Exec { report: r, .. } => {
                e.cid(&r.client_order_id);
                e.venue(r.venue);
                e.u16(r.instrument.0);
                e.u8(exec_kind_code(r.kind));
                e.u8(status_code(r.status));
                e.dec(r.cum_qty_base);
                e.dec(r.avg_price);
                e.dec(r.fee_quote);
                e.u8(reject_code(r.reject));
                e.i32(r.venue_code);
                e.u64(r.sent_ns);
                e.u64(r.recv_ns);
            }
            Record::Command { command, .. } => e.u8(command.code()),
            Record::Tick { .. } => {}
            Record::Intent { intent: i, .. } => {
                e.u8(action_code(i.action));
                e.cid(&i.client_order_id);
                e.u16(i.pair.0);
                e.u32(i.cycle);
                e.u8(i.step.code());
                e.u8(i.leg.code());
                e.u16(i.attempt);
                e.venue(i.venue);
                e.u16(i.instrument.0);
                e.u8(side_code(i.side));
                e.u8(tif_code(i.tif));
                e.u8(i.reduce_only as u8);
                e.dec(i.price);
                e.dec(i.qty_base);
                e.dec(i.qty_venue);
            }
            Record::Cycle { change: c, .. } => {
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
            Record::Breaker { change, .. } => {
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
                e.u8(change.tripped as u8);
                e.now(change.at);
            }
            Record::Exposure { exposure: x, .. } => {
                e.u16(x.pair.0);
                e.u16(x.instrument.0);
                e.u32(x.cycle);
                e.venue(x.venues[0]);
                e.venue(x.venues[1]);
                e.dec(x.position[0]);
                e.dec(x.position[1]);
                e.u8(x.reason.code());
            }
            Record::Spec {
                venue,
                instrument,
                spec,
                ..
            } => {
                e.venue(*venue);
                e.u16(instrument.0);
                e.dec(spec.tick_size);
                e.dec(spec.lot_size);
                e.dec(spec.min_qty);
                e.dec(spec.min_notional);
                e.opt_dec(spec.contract_size);
            }
            Record::PaperOrder { order: o, .. } => {
                e.cid(&o.client_order_id);
                e.venue(o.venue);
                e.u16(o.instrument.0);
                e.u8(side_code(o.side));
                e.u8(tif_code(o.tif));
                e.u8(o.reduce_only as u8);
                e.dec(o.price);
                e.dec(o.qty_base);
                e.u8(status_code(o.status));
                e.dec(o.cum_qty_base);
                e.dec(o.avg_price);
                e.dec(o.fee_quote);
                e.u8(reject_code(o.reject));
            }
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
        let record = match kind {
            kind::START => {
                let format = d.u16("format")?;
                let len = d.u8("instance_len")? as usize;
                let raw = d.take(16, "instance")?;
                let instance = raw
                    .get(..len)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|s| InstanceId::new(s).ok())
                    .ok_or_else(|| d.invalid("instance", format!("{len} bytes {raw:?}")))?;
                let text_len = d.u32("config_len")? as usize;
                let text = d.take(text_len, "config_text")?;
                let config_text = String::from_utf8(text.to_vec())
                    .map_err(|_| d.invalid("config_text", "not UTF-8".to_string()))?;
                Record::Start {
                    now,
                    start: StartRecord {
                        format,
                        instance,
                        config_text,
                    },
                }
            }
            kind::MARKET => {
                let venue = d.venue("venue")?;
                let ev_kind = d.u8("event_kind")?;
                let instrument = InstrumentId(d.u16("instrument")?);
                let ts_ms = d.i64("ts_ms")?;
                let recv_ns = d.u64("recv_ns")?;
                let kind = match ev_kind {
                    1 => {
                        let rate = d.dec("rate")?;
                        let predicted_rate = d.opt_dec("predicted_rate")?;
                        let next_funding_time_ms = d.i64("next_funding_time_ms")?;
                        let has_interval = d.flag("interval_present")?;
                        let interval = d.u64("interval_ms")?;
                        MarketEventKind::Funding(Funding {
                            rate,
                            predicted_rate,
                            next_funding_time_ms,
                            interval_ms: has_interval.then_some(interval),
                            mark_price: d.opt_dec("mark_price")?,
                            index_price: d.opt_dec("index_price")?,
                        })
                    }
                    2 => MarketEventKind::Quote(Quote {
                        bid: d.dec("bid")?,
                        bid_qty: d.dec("bid_qty")?,
                        ask: d.dec("ask")?,
                        ask_qty: d.dec("ask_qty")?,
                    }),
                    3 => MarketEventKind::FeedReset,
                    other => return Err(d.invalid("event_kind", other.to_string())),
                };
                Record::Market {
                    now,
                    event: MarketEvent {
                        venue,
                        instrument,
                        ts_ms,
                        recv_ns,
                        kind,
                    },
                }
            }
            kind::EXEC => {
                let client_order_id = d.cid("client_order_id")?;
                let venue = d.venue("venue")?;
                let instrument = InstrumentId(d.u16("instrument")?);
                let c = d.u8("exec_kind")?;
                let kind =
                    exec_kind_from(c).ok_or_else(|| d.invalid("exec_kind", c.to_string()))?;
                let c = d.u8("status")?;
                let status = status_from(c).ok_or_else(|| d.invalid("status", c.to_string()))?;
                let cum_qty_base = d.dec("cum_qty_base")?;
                let avg_price = d.dec("avg_price")?;
                let fee_quote = d.dec("fee_quote")?;
                let c = d.u8("reject")?;
                let reject = reject_from(c).ok_or_else(|| d.invalid("reject", c.to_string()))?;
                Record::Exec {
                    now,
                    report: ExecReport {
                        client_order_id,
                        venue,
                        instrument,
                        kind,
                        status,
                        cum_qty_base,
                        avg_price,
                        fee_quote,
                        reject,
                        venue_code: d.i32("venue_code")?,
                        sent_ns: d.u64("sent_ns")?,
                        recv_ns: d.u64("recv_ns")?,
                    },
                }
            }
            kind::COMMAND => {
                let c = d.u8("command")?;
                let command = OperatorCommand::from_code(c)
                    .ok_or_else(|| d.invalid("command", c.to_string()))?;
                Record::Command { now, command }
            }
            kind::TICK => Record::Tick { now },
            kind::INTENT => {
                let c = d.u8("action")?;
                let action = action_from(c).ok_or_else(|| d.invalid("action", c.to_string()))?;
                let client_order_id = d.cid("client_order_id")?;
                let pair = PairId(d.u16("pair")?);
                let cycle = d.u32("cycle")?;
                let c = d.u8("step")?;
                let step = Step::from_code(c).ok_or_else(|| d.invalid("step", c.to_string()))?;
                let leg = d.leg("leg")?;
                let attempt = d.u16("attempt")?;
                let venue = d.venue("venue")?;
                let instrument = InstrumentId(d.u16("instrument")?);
                let side = d.side("side")?;
                let c = d.u8("tif")?;
                let tif = tif_from(c).ok_or_else(|| d.invalid("tif", c.to_string()))?;
                Record::Intent {
                    now,
                    intent: OrderIntent {
                        action,
                        client_order_id,
                        pair,
                        cycle,
                        step,
                        leg,
                        attempt,
                        venue,
                        instrument,
                        side,
                        tif,
                        reduce_only: d.flag("reduce_only")?,
                        price: d.dec("price")?,
                        qty_base: d.dec("qty_base")?,
                        qty_venue: d.dec("qty_venue")?,
                    },
                }
            }
            kind::CYCLE => {
                let pair = PairId(d.u16("pair")?);
                let instrument = InstrumentId(d.u16("instrument")?);
                let cycle = d.u32("cycle")?;
                let from = d.state("from")?;
                let to = d.state("to")?;
                let c = d.u8("reason")?;
                let reason =
                    CycleReason::from_code(c).ok_or_else(|| d.invalid("reason", c.to_string()))?;
                let first = d.leg("first")?;
                let qty_base = d.dec("qty_base")?;
                let venues = [d.venue("long_venue")?, d.venue("short_venue")?];
                Record::Cycle {
                    now,
                    change: CycleChange {
                        pair,
                        instrument,
                        cycle,
                        from,
                        to,
                        reason,
                        first,
                        qty_base,
                        venues,
                    },
                }
            }
            kind::BREAKER => {
                let c = d.u8("breaker")?;
                let kind = BreakerKind::from_index(c as usize)
                    .ok_or_else(|| d.invalid("breaker", c.to_string()))?;
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
                let tripped = d.flag("tripped")?;
                let at = d.now()?;
                Record::Breaker {
                    now,
                    change: BreakerChange {
                        kind,
                        scope,
                        tripped,
                        at,
                    },
                }
            }
            kind::EXPOSURE => {
                let pair = PairId(d.u16("pair")?);
                let instrument = InstrumentId(d.u16("instrument")?);
                let cycle = d.u32("cycle")?;
                let venues = [d.venue("long_venue")?, d.venue("short_venue")?];
                let position = [d.dec("long_position")?, d.dec("short_position")?];
                let c = d.u8("reason")?;
                let reason = ExposureReason::from_code(c)
                    .ok_or_else(|| d.invalid("reason", c.to_string()))?;
                Record::Exposure {
                    now,
                    exposure: ExposureRecord {
                        pair,
                        instrument,
                        cycle,
                        venues,
                        position,
                        reason,
                    },
                }
            }
            kind::SPEC => Record::Spec {
                now,
                venue: d.venue("venue")?,
                instrument: InstrumentId(d.u16("instrument")?),
                spec: InstrumentSpec {
                    tick_size: d.dec("tick_size")?,
                    lot_size: d.dec("lot_size")?,
                    min_qty: d.dec("min_qty")?,
                    min_notional: d.dec("min_notional")?,
                    contract_size: d.opt_dec("contract_size")?,
                },
            },
            kind::PAPER_ORDER => {
                let client_order_id = d.cid("client_order_id")?;
                let venue = d.venue("venue")?;
                let instrument = InstrumentId(d.u16("instrument")?);
                let side = d.side("side")?;
                let c = d.u8("tif")?;
                let tif = tif_from(c).ok_or_else(|| d.invalid("tif", c.to_string()))?;
                let reduce_only = d.flag("reduce_only")?;
                let price = d.dec("price")?;
                let qty_base = d.dec("qty_base")?;
                let c = d.u8("status")?;
                let status = status_from(c).ok_or_else(|| d.invalid("status", c.to_string()))?;
                let cum_qty_base = d.dec("cum_qty_base")?;
                let avg_price = d.dec("avg_price")?;
                let fee_quote = d.dec("fee_quote")?;
                let c = d.u8("reject")?;
                let reject = reject_from(c).ok_or_else(|| d.invalid("reject", c.to_string()))?;
                Record::PaperOrder {
                    now,
                    order: PaperOrder {
                        client_order_id,
                        venue,
                        instrument,
                        side,
                        tif,
                        reduce_only,
                        price,
                        qty_base,
                        status,
                        cum_qty_base,
                        avg_price,
                        fee_quote,
                        reject,
                    },
                }
            }
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

/// The name `carry journal dump` shows for a kind carry defines.
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
        kind::PAPER_ORDER => "paper_order",
        _ => return None,
    })
}

/// The kind number of a name `kind_name` returns.
pub fn kind_by_name(name: &str) -> Option<u16> {
    (1..=kind::PAPER_ORDER).find(|k| kind_name(*k) == Some(name))
}

/// Names a record kind and decodes its payload into named fields, for `carry journal dump`.
/// `None` for kinds carry does not define (dump prints those as hex). A payload that does not
/// decode is shown with an `error` field naming what was wrong.
pub fn describe(kind: u16, payload: &[u8]) -> Option<(&'static str, serde_json::Value)> {
    let name = kind_name(kind)?;
    let record = match Record::decode(kind, payload) {
        Ok(r) => r,
        Err(e) => return Some((name, json!({ "error": e.to_string() }))),
    };
    Some((name, record_json(&record)))
}

fn dec_json(d: Decimal) -> Value {
    Value::String(d.to_string())
}

fn opt_dec_json(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, dec_json)
}

/// The JSON form of a record: named fields, decimals as exact strings.
pub fn record_json(record: &Record) -> Value {
    let now = record.now();
    let mut v = match record {
        Record::Start { start, .. } => json!({
            "format": start.format,
            "instance": start.instance.as_str(),
            "config_len": start.config_text.len(),
        }),
        Record::Market { event, .. } => {
            let mut m = json!({
                "venue": event.venue.as_str(),
                "instrument": event.instrument.0,
                "ts_ms": event.ts_ms,
                "recv_ns": event.recv_ns,
            });
            let extra = match event.kind {
                MarketEventKind::Quote(q) => json!({
                    "event": "quote",
                    "bid": dec_json(q.bid), "bid_qty": dec_json(q.bid_qty),
                    "ask": dec_json(q.ask), "ask_qty": dec_json(q.ask_qty),
                }),
                MarketEventKind::Funding(f) => json!({
                    "event": "funding",
                    "rate": dec_json(f.rate),
                    "predicted_rate": opt_dec_json(f.predicted_rate),
                    "next_funding_time_ms": f.next_funding_time_ms,
                    "interval_ms": f.interval_ms,
                    "mark_price": opt_dec_json(f.mark_price),
                    "index_price": opt_dec_json(f.index_price),
                }),
                MarketEventKind::FeedReset => json!({ "event": "feed_reset" }),
            };
            merge(&mut m, extra);
            m
        }
        Record::Exec { report: r, .. } => json!({
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
        }),
        Record::Command { command, .. } => json!({ "command": command.as_str() }),
        Record::Tick { .. } => json!({}),
        Record::Intent { intent: i, .. } => json!({
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
        }),
        Record::Cycle { change: c, .. } => json!({
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
        }),
        Record::Breaker { change, .. } => {
            let (scope, venue, id) = match change.scope {
                Scope::Global => ("global", None, None),
                Scope::Venue(v) => ("venue", Some(v.as_str()), None),
                Scope::Stream { venue, instrument } => {
                    ("stream", Some(venue.as_str()), Some(instrument.0))
                }
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
        Record::Exposure { exposure: x, .. } => json!({
            "pair": x.pair.0,
            "instrument": x.instrument.0,
            "cycle": x.cycle,
            "long_venue": x.venues[0].as_str(),
            "short_venue": x.venues[1].as_str(),
            "long_position": dec_json(x.position[0]),
            "short_position": dec_json(x.position[1]),
            "reason": x.reason.as_str(),
        }),
        Record::Spec {
            venue,
            instrument,
            spec,
            ..
        } => json!({
            "venue": venue.as_str(),
            "instrument": instrument.0,
            "tick_size": dec_json(spec.tick_size),
            "lot_size": dec_json(spec.lot_size),
            "min_qty": dec_json(spec.min_qty),
            "min_notional": dec_json(spec.min_notional),
            "contract_size": opt_dec_json(spec.contract_size),
        }),
        Record::PaperOrder { order: o, .. } => json!({
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
        }),
    };
    merge(
        &mut v,
        json!({ "now_mono_ns": now.mono_ns, "now_unix_ms": now.unix_ms }),
    );
    v
}

fn merge(into: &mut Value, from: Value) {
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

const fn exec_kind_from(c: u8) -> Option<ExecKind> {
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

const fn status_from(c: u8) -> Option<OrderStatus> {
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

const fn action_from(c: u8) -> Option<IntentAction> {
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

struct Enc<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Enc<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.bytes(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    fn dec(&mut self, d: Decimal) {
        self.bytes(&d.serialize());
    }
    fn opt_dec(&mut self, d: Option<Decimal>) {
        self.u8(d.is_some() as u8);
        self.dec(d.unwrap_or(Decimal::ZERO));
    }
    fn now(&mut self, now: Now) {
        self.u64(now.mono_ns);
        self.i64(now.unix_ms);
    }
    fn venue(&mut self, v: Venue) {
        self.u8(v.index() as u8);
    }
    fn cid(&mut self, id: &ClientOrderId) {
        let raw = id.as_bytes();
        self.u8(raw.len() as u8);
        let mut padded = [0u8; CLIENT_ID_MAX_LEN];
        padded[..raw.len()].copy_from_slice(raw);
        self.bytes(&padded);
    }
}

struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    kind: u16,
    name: &'static str,
}

impl<'a> Dec<'a> {
    fn invalid(&self, field: &'static str, value: String) -> RecordError {
        RecordError::Invalid {
            kind: self.kind,
            name: self.name,
            field,
            value,
        }
    }
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordError> {
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
    fn u8(&mut self, field: &'static str) -> Result<u8, RecordError> {
        Ok(self.array::<1>(field)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, RecordError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, RecordError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    fn i32(&mut self, field: &'static str) -> Result<i32, RecordError> {
        Ok(i32::from_le_bytes(self.array(field)?))
    }
    fn i64(&mut self, field: &'static str) -> Result<i64, RecordError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }
    fn flag(&mut self, field: &'static str) -> Result<bool, RecordError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.invalid(field, other.to_string())),
        }
    }
    fn dec(&mut self, field: &'static str) -> Result<Decimal, RecordError> {
        let raw: [u8; 16] = self.array(field)?;
        let d = Decimal::deserialize(raw);
        // rust_decimal masks bad flag bits and clamps scales; a lossless round trip is the proof
        // that the bytes were a decimal to begin with.
        if d.serialize() != raw {
            return Err(self.invalid(field, "not a decimal".to_string()));
        }
        Ok(d)
    }
    fn opt_dec(&mut self, field: &'static str) -> Result<Option<Decimal>, RecordError> {
        let present = self.flag(field)?;
        let d = self.dec(field)?;
        if !present && !d.is_zero() {
            return Err(self.invalid(field, "absent but non-zero".to_string()));
        }
        Ok(present.then_some(d))
    }
    fn now(&mut self) -> Result<Now, RecordError> {
        Ok(Now {
            mono_ns: self.u64("now_mono_ns")?,
            unix_ms: self.i64("now_unix_ms")?,
        })
    }
    fn venue(&mut self, field: &'static str) -> Result<Venue, RecordError> {
        let i = self.u8(field)?;
        Venue::from_index(i as usize).ok_or_else(|| self.invalid(field, i.to_string()))
    }
    fn leg(&mut self, field: &'static str) -> Result<Leg, RecordError> {
        let c = self.u8(field)?;
        Leg::from_code(c).ok_or_else(|| self.invalid(field, c.to_string()))
    }
    fn side(&mut self, field: &'static str) -> Result<Side, RecordError> {
        match self.u8(field)? {
            1 => Ok(Side::Buy),
            2 => Ok(Side::Sell),
            c => Err(self.invalid(field, c.to_string())),
        }
    }
    fn state(&mut self, field: &'static str) -> Result<CycleState, RecordError> {
        let c = self.u8(field)?;
        CycleState::from_code(c).ok_or_else(|| self.invalid(field, c.to_string()))
    }
    fn cid(&mut self, field: &'static str) -> Result<ClientOrderId, RecordError> {
        let len = self.u8(field)? as usize;
        let raw: [u8; CLIENT_ID_MAX_LEN] = self.array(field)?;
        if len > CLIENT_ID_MAX_LEN || raw[len..].iter().any(|b| *b != 0) {
            return Err(self.invalid(field, format!("length {len}")));
        }
        ClientOrderId::from_bytes(&raw[..len])
            .ok_or_else(|| self.invalid(field, String::from_utf8_lossy(&raw[..len]).into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..=18).prop_map(|(m, s)| Decimal::new(m, s))
    }
    fn opt_dec() -> impl Strategy<Value = Option<Decimal>> {
        prop::option::of(dec())
    }
    fn now() -> impl Strategy<Value = Now> {
        (any::<u64>(), any::<i64>()).prop_map(|(m, u)| Now::new(m, u))
    }
    fn venue() -> impl Strategy<Value = Venue> {
        prop::sample::select(Venue::ALL.to_vec())
    }
    fn cid() -> impl Strategy<Value = ClientOrderId> {
        "[A-Za-z0-9]{1,28}".prop_map(|s| ClientOrderId::from_bytes(s.as_bytes()).unwrap())
    }
    fn leg() -> impl Strategy<Value = Leg> {
        prop::sample::select(Leg::BOTH.to_vec())
    }
    fn side() -> impl Strategy<Value = Side> {
        prop::sample::select(vec![Side::Buy, Side::Sell])
    }
    fn tif() -> impl Strategy<Value = TimeInForce> {
        prop::sample::select(vec![TimeInForce::Ioc, TimeInForce::Gtc])
    }
    fn status() -> impl Strategy<Value = OrderStatus> {
        (1u8..=5).prop_map(|c| status_from(c).unwrap())
    }
    fn reject() -> impl Strategy<Value = RejectReason> {
        prop::sample::select(RejectReason::ALL.to_vec())
    }
    fn state() -> impl Strategy<Value = CycleState> {
        prop::sample::select(CycleState::ALL.to_vec())
    }

    fn market() -> impl Strategy<Value = Record> {
        let quote = (dec(), dec(), dec(), dec()).prop_map(|(bid, bid_qty, ask, ask_qty)| {
            MarketEventKind::Quote(Quote {
                bid,
                bid_qty,
                ask,
                ask_qty,
            })
        });
        let funding = (
            dec(),
            opt_dec(),
            any::<i64>(),
            prop::option::of(any::<u64>()),
            opt_dec(),
            opt_dec(),
        )
            .prop_map(
                |(rate, predicted_rate, next, interval_ms, mark_price, index_price)| {
                    MarketEventKind::Funding(Funding {
                        rate,
                        predicted_rate,
                        next_funding_time_ms: next,
                        interval_ms,
                        mark_price,
                        index_price,
                    })
                },
            );
        let kind = prop_oneof![quote, funding, Just(MarketEventKind::FeedReset)];
        (
            now(),
            venue(),
            any::<u16>(),
            any::<i64>(),
            any::<u64>(),
            kind,
        )
            .prop_map(|(now, venue, ins, ts_ms, recv_ns, kind)| Record::Market {
                now,
                event: MarketEvent {
                    venue,
                    instrument: InstrumentId(ins),
                    ts_ms,
                    recv_ns,
                    kind,
                },
            })
    }

    fn exec() -> impl Strategy<Value = Record> {
        (
            now(),
            cid(),
            venue(),
            any::<u16>(),
            (1u8..=7).prop_map(|c| exec_kind_from(c).unwrap()),
            status(),
            (dec(), dec(), dec()),
            reject(),
            any::<i32>(),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(
                |(now, cid, venue, ins, kind, status, (cum, avg, fee), reject, code, s, r)| {
                    Record::Exec {
                        now,
                        report: ExecReport {
                            client_order_id: cid,
                            venue,
                            instrument: InstrumentId(ins),
                            kind,
                            status,
                            cum_qty_base: cum,
                            avg_price: avg,
                            fee_quote: fee,
                            reject,
                            venue_code: code,
                            sent_ns: s,
                            recv_ns: r,
                        },
                    }
                },
            )
    }

    fn intent() -> impl Strategy<Value = Record> {
        (
            now(),
            (1u8..=4).prop_map(|c| action_from(c).unwrap()),
            cid(),
            (
                any::<u16>(),
                any::<u32>(),
                prop::sample::select(Step::ALL.to_vec()),
                leg(),
                any::<u16>(),
            ),
            (venue(), any::<u16>(), side(), tif(), any::<bool>()),
            (dec(), dec(), dec()),
        )
            .prop_map(
                |(
                    now,
                    action,
                    cid,
                    (pair, cycle, step, leg, attempt),
                    (venue, ins, side, tif, ro),
                    (p, qb, qv),
                )| {
                    Record::Intent {
                        now,
                        intent: OrderIntent {
                            action,
                            client_order_id: cid,
                            pair: PairId(pair),
                            cycle,
                            step,
                            leg,
                            attempt,
                            venue,
                            instrument: InstrumentId(ins),
                            side,
                            tif,
                            reduce_only: ro,
                            price: p,
                            qty_base: qb,
                            qty_venue: qv,
                        },
                    }
                },
            )
    }

    fn cycle() -> impl Strategy<Value = Record> {
        let reason = (1u8..=35).prop_filter_map("defined", CycleReason::from_code);
        (
            now(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            state(),
            state(),
            reason,
            leg(),
            dec(),
            venue(),
            venue(),
        )
            .prop_map(
                |(now, pair, ins, cycle, from, to, reason, first, qty, a, b)| Record::Cycle {
                    now,
                    change: CycleChange {
                        pair: PairId(pair),
                        instrument: InstrumentId(ins),
                        cycle,
                        from,
                        to,
                        reason,
                        first,
                        qty_base: qty,
                        venues: [a, b],
                    },
                },
            )
    }

    fn others() -> impl Strategy<Value = Record> {
        let start = (now(), any::<u16>(), "[A-Za-z0-9]{1,16}", ".{0,200}").prop_map(
            |(now, format, inst, text)| Record::Start {
                now,
                start: StartRecord {
                    format,
                    instance: InstanceId::new(&inst).unwrap(),
                    config_text: text,
                },
            },
        );
        let command = (now(), prop::sample::select(OperatorCommand::ALL.to_vec()))
            .prop_map(|(now, command)| Record::Command { now, command });
        let tick = now().prop_map(|now| Record::Tick { now });
        let scope = prop_oneof![
            Just(Scope::Global),
            venue().prop_map(Scope::Venue),
            (venue(), any::<u16>()).prop_map(|(venue, i)| Scope::Stream {
                venue,
                instrument: InstrumentId(i)
            }),
            any::<u16>().prop_map(|p| Scope::Pair(PairId(p))),
        ];
        let breaker = (
            now(),
            prop::sample::select(BreakerKind::ALL.to_vec()),
            scope,
            any::<bool>(),
            now(),
        )
            .prop_map(|(now, kind, scope, tripped, at)| Record::Breaker {
                now,
                change: BreakerChange {
                    kind,
                    scope,
                    tripped,
                    at,
                },
            });
        let exposure = (
            now(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            venue(),
            venue(),
            dec(),
            dec(),
            1u8..=4,
        )
            .prop_map(
                |(now, pair, ins, cycle, a, b, p0, p1, r)| Record::Exposure {
                    now,
                    exposure: ExposureRecord {
                        pair: PairId(pair),
                        instrument: InstrumentId(ins),
                        cycle,
                        venues: [a, b],
                        position: [p0, p1],
                        reason: ExposureReason::from_code(r).unwrap(),
                    },
                },
            );
        let spec = (
            now(),
            venue(),
            any::<u16>(),
            dec(),
            dec(),
            dec(),
            dec(),
            opt_dec(),
        )
            .prop_map(
                |(now, venue, ins, tick, lot, min, notional, cs)| Record::Spec {
                    now,
                    venue,
                    instrument: InstrumentId(ins),
                    spec: InstrumentSpec {
                        tick_size: tick,
                        lot_size: lot,
                        min_qty: min,
                        min_notional: notional,
                        contract_size: cs,
                    },
                },
            );
        let paper = (
            now(),
            cid(),
            venue(),
            any::<u16>(),
            side(),
            tif(),
            any::<bool>(),
            (dec(), dec(), dec(), dec(), dec()),
            status(),
            reject(),
        )
            .prop_map(
                |(now, cid, venue, ins, side, tif, ro, (p, q, c, a, f), status, reject)| {
                    Record::PaperOrder {
                        now,
                        order: PaperOrder {
                            client_order_id: cid,
                            venue,
                            instrument: InstrumentId(ins),
                            side,
                            tif,
                            reduce_only: ro,
                            price: p,
                            qty_base: q,
                            status,
                            cum_qty_base: c,
                            avg_price: a,
                            fee_quote: f,
                            reject,
                        },
                    }
                },
            );
        prop_oneof![start, command, tick, breaker, exposure, spec, paper]
    }

    fn any_record() -> impl Strategy<Value = Record> {
        prop_oneof![market(), exec(), intent(), cycle(), others()]
    }

    proptest! {
        #[test]
        fn every_kind_round_trips(r in any_record()) {
            let bytes = r.to_bytes();
            prop_assert_eq!(bytes.len(), r.encoded_len());
            prop_assert!(bytes.len() <= MAX_FIXED_LEN || r.kind() == kind::START);
            let back = Record::decode(r.kind(), &bytes).unwrap();
            prop_assert_eq!(&back, &r);
            // Byte-identical re-encoding is what replay compares.
            prop_assert_eq!(back.to_bytes(), bytes);
            let (name, _) = describe(r.kind(), &r.to_bytes()).unwrap();
            prop_assert_eq!(kind_by_name(name), Some(r.kind()));
        }

        #[test]
        fn truncated_or_padded_payloads_are_errors(r in any_record(), cut in 1usize..8) {
            let bytes = r.to_bytes();
            let short = &bytes[..bytes.len().saturating_sub(cut)];
            prop_assert!(Record::decode(r.kind(), short).is_err());
            let mut long = bytes.clone();
            long.push(0);
            let is_trailing = matches!(Record::decode(r.kind(), &long), Err(RecordError::Trailing { .. }));
            prop_assert!(is_trailing);
        }

        #[test]
        fn garbage_never_panics(kind in 0u16..40, bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = Record::decode(kind, &bytes);
            let _ = describe(kind, &bytes);
        }
    }

    #[test]
    fn describe_shows_intents_by_client_order_id_and_action() {
        let cid = ClientOrderId::from_bytes(b"t10000001HS002").unwrap();
        let r = Record::Intent {
            now: Now::new(5, 1_700_000_000_000),
            intent: OrderIntent {
                action: IntentAction::Place,
                client_order_id: cid,
                pair: PairId(1),
                cycle: 1,
                step: Step::Hedge,
                leg: Leg::Short,
                attempt: 2,
                venue: "bybit-perp".parse().unwrap(),
                instrument: InstrumentId(0),
                side: Side::Sell,
                tif: TimeInForce::Ioc,
                reduce_only: false,
                price: "25339.5".parse().unwrap(),
                qty_base: "0.6".parse().unwrap(),
                qty_venue: "0.6".parse().unwrap(),
            },
        };
        assert_eq!(r.ts_ns(), 1_700_000_000_000_000_000);
        let (name, v) = describe(kind::INTENT, &r.to_bytes()).unwrap();
        assert_eq!(name, "intent");
        assert_eq!(v["client_order_id"], "t10000001HS002");
        assert_eq!(v["action"], "place");
        assert_eq!(v["venue"], "bybit-perp");
        assert_eq!(v["qty_base"], "0.6");
        assert_eq!(v["step"], "hedge");
        assert_eq!(describe(999, &[1, 2]), None);
        let (_, bad) = describe(kind::INTENT, &[0u8; 3]).unwrap();
        assert!(bad["error"].as_str().unwrap().contains("intent"), "{bad}");
    }

    #[test]
    fn bad_fields_are_named() {
        let r = Record::Tick {
            now: Now::new(1, 2),
        };
        let mut bytes = r.to_bytes();
        bytes.push(9);
        let e = Record::decode(kind::COMMAND, &bytes)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("command") && e.contains("invalid value 9"),
            "{e}"
        );
        assert!(matches!(
            Record::decode(0, &[]),
            Err(RecordError::UnknownKind(0))
        ));
    }
}

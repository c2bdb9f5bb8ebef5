//! `carry replay`: re-runs the engine on a journal's recorded inputs and checks that it decides
//! exactly what was journaled, intent by intent, byte for byte.
//!
//! A journal is a sequence of runs, each opened by a START record. At each START, replay does
//! what the engine did when it opened: it builds an engine from the configuration text in the
//! START record (the caller's `build` turns that text into an engine configuration, universe and
//! decision half, as `carry run` did) and recovers it from every record before the START. Then
//! every input (market event, execution report, command, tick) is fed to it with its journaled
//! `now`, and the intents it returns are compared with the INTENT records that follow that input
//! in the journal. Intents a run produced but never journaled because the process died (or the
//! journal failed) right after the input are not a divergence: they were never sent; they are
//! counted as `cut_by_crash`.

use std::path::Path;

use carry_journal::JournalReader;

use crate::config::EngineConfig;
use crate::engine::{Decide, Engine, EngineError, Input};
use crate::execution::order::OrderIntent;
use crate::market::instrument::Universe;
use crate::record::{record_json, Record, RecordError, StartRecord};
use crate::sink::MemorySink;

/// What a replay that matched found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Intents produced and journaled identically.
    pub identical: usize,
    /// Inputs fed to the engine.
    pub inputs: usize,
    /// Runs (START records).
    pub runs: usize,
    /// Intents the engine produces for an input after which the original run died before
    /// journaling them (never sent, so not a divergence).
    pub cut_by_crash: usize,
}

/// The first place where the re-run engine decided differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Sequence number of the journal record where the difference shows: the journaled intent
    /// that differs or is missing from the re-run, or the next input when the re-run produced an
    /// intent the journal does not have.
    pub seq: u64,
    /// The journaled intent as JSON, or a description when there is none.
    pub expected: String,
    /// The re-run's intent as JSON, or a description when there is none.
    pub got: String,
}

/// Replay's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// Every journaled intent was decided again, byte for byte.
    Identical(ReplayStats),
    /// The first intent that differs, or is missing, or is new.
    Diverged(Divergence),
}

/// Why a replay could not run to a verdict.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The journal could not be read. Its own message names the journal file; wrapping it would
    /// print it twice wherever the error chain is followed.
    #[error(transparent)]
    Journal(#[from] carry_journal::JournalError),
    /// A record of an engine kind does not decode.
    #[error("journal record {seq}: {source}")]
    Record {
        /// The record's sequence number.
        seq: u64,
        /// What is wrong with it.
        source: RecordError,
    },
    /// An input comes before the first START record.
    #[error(
        "journal record {seq}: an input before any START record; not a journal the engine wrote"
    )]
    NoStart {
        /// The input's sequence number.
        seq: u64,
    },
    /// The caller could not build an engine from a START record's configuration.
    #[error(
        "journal record {seq} (START): cannot build an engine from its configuration: {reason}"
    )]
    Build {
        /// The START record's sequence number.
        seq: u64,
        /// The caller's reason.
        reason: String,
    },
    /// The engine built for a START record refused to open on the journal before it.
    #[error("journal record {seq} (START): {source}")]
    Engine {
        /// The START record's sequence number.
        seq: u64,
        /// Why the engine refused.
        source: EngineError,
    },
}

/// Replays the journal in `dir`. `build` makes the engine's parts from a START record (its
/// `config_text` is the configuration the run was started with).
pub fn replay<D, F>(dir: &Path, build: F) -> Result<ReplayOutcome, ReplayError>
where
    D: Decide,
    F: FnMut(&StartRecord) -> Result<(EngineConfig, Universe, D), String>,
{
    let reader = JournalReader::open(dir)?;
    run(
        |from| {
            // To the end as it stands: a hole in the data fails the replay, never shortens it.
            reader.iter_to_end(from).map(|r| {
                r.map(|r| (r.seq, r.kind, r.payload))
                    .map_err(ReplayError::from)
            })
        },
        build,
    )
}

/// Replays records held in memory as (seq, kind, payload), e.g. a `MemorySink`'s.
pub fn replay_records<D, F>(
    records: &[(u64, u16, Vec<u8>)],
    build: F,
) -> Result<ReplayOutcome, ReplayError>
where
    D: Decide,
    F: FnMut(&StartRecord) -> Result<(EngineConfig, Universe, D), String>,
{
    run(
        |from| {
            records
                .iter()
                .filter(move |(seq, _, _)| *seq >= from)
                .map(|(seq, kind, payload)| Ok((*seq, *kind, payload.as_slice())))
        },
        build,
    )
}

fn describe_intent(intent: &OrderIntent, now: crate::clock::Now) -> String {
    record_json(&Record::Intent {
        now,
        intent: *intent,
    })
    .to_string()
}

fn run<'a, D, F, G, I>(open_from: G, mut build: F) -> Result<ReplayOutcome, ReplayError>
where
    D: Decide,
    F: FnMut(&StartRecord) -> Result<(EngineConfig, Universe, D), String>,
    G: Fn(u64) -> I,
    I: Iterator<Item = Result<(u64, u16, &'a [u8]), ReplayError>>,
{
    let mut stats = ReplayStats::default();
    let mut engine: Option<Engine<D, MemorySink>> = None;
    let mut produced: Vec<OrderIntent> = Vec::new();
    let mut produced_now = crate::clock::Now::default();
    let mut matched = 0usize;
    let mut out = Vec::new();
    for item in open_from(1) {
        let (seq, kind, payload) = item?;
        let record = match Record::decode(kind, payload) {
            Ok(r) => r,
            Err(RecordError::UnknownKind(_)) => continue,
            Err(source) => return Err(ReplayError::Record { seq, source }),
        };
        match &record {
            Record::Start { start, .. } => {
                stats.cut_by_crash += produced.len() - matched;
                produced.clear();
                matched = 0;
                let (cfg, universe, decider) =
                    build(start).map_err(|reason| ReplayError::Build { seq, reason })?;
                let mut e = Engine::new(cfg, &universe, decider, MemorySink::new())
                    .map_err(|source| ReplayError::Engine { seq, source })?;
                let mut failure = None;
                let prefix = open_from(1).map_while(|r| match r {
                    Ok(t) if t.0 < seq => Some(Ok(t)),
                    Ok(_) => None,
                    Err(e) => {
                        failure = Some(e);
                        None
                    }
                });
                e.recover(prefix)
                    .map_err(|source| ReplayError::Engine { seq, source })?;
                if let Some(e) = failure {
                    return Err(e);
                }
                e.apply(&record);
                engine = Some(e);
                stats.runs += 1;
            }
            Record::Market { .. }
            | Record::Exec { .. }
            | Record::Command { .. }
            | Record::Venue { .. }
            | Record::Tick { .. } => {
                let e = engine.as_mut().ok_or(ReplayError::NoStart { seq })?;
                if matched < produced.len() {
                    return Ok(ReplayOutcome::Diverged(Divergence {
                        seq,
                        expected: "no further intent before this input".to_string(),
                        got: describe_intent(&produced[matched], produced_now),
                    }));
                }
                let input = match record {
                    Record::Market { event, .. } => Input::Market(event),
                    Record::Exec { report, .. } => Input::Exec(report),
                    Record::Command { command, .. } => Input::Command(command),
                    Record::Venue {
                        venue,
                        condition,
                        on,
                        ..
                    } => Input::Venue {
                        venue,
                        condition,
                        on,
                    },
                    _ => Input::Tick,
                };
                let now = record.now();
                out.clear();
                e.on_event(&input, now, &mut out);
                e.sink_mut().records.clear();
                produced.clear();
                produced.extend_from_slice(&out);
                produced_now = now;
                matched = 0;
                stats.inputs += 1;
            }
            Record::Intent { now, intent } => {
                let Some(got) = produced.get(matched) else {
                    return Ok(ReplayOutcome::Diverged(Divergence {
                        seq,
                        expected: describe_intent(intent, *now),
                        got: "no intent".to_string(),
                    }));
                };
                let got_bytes = Record::Intent {
                    now: *now,
                    intent: *got,
                }
                .to_bytes();
                if got_bytes != payload {
                    return Ok(ReplayOutcome::Diverged(Divergence {
                        seq,
                        expected: describe_intent(intent, *now),
                        got: describe_intent(got, *now),
                    }));
                }
                matched += 1;
                stats.identical += 1;
            }
            Record::Spec { .. } => {
                engine
                    .as_mut()
                    .ok_or(ReplayError::NoStart { seq })?
                    .apply(&record);
            }
            Record::Cycle { .. }
            | Record::Breaker { .. }
            | Record::Exposure { .. }
            | Record::PaperOrder { .. } => {}
        }
    }
    stats.cut_by_crash += produced.len() - matched;
    Ok(ReplayOutcome::Identical(stats))
}

//! carry's deterministic core. Market events, execution reports and operator commands go in with
//! the time at which they happened; target positions, order intents and journal records come out.
//! Nothing here reads a clock, touches the network or spawns a thread, so the same inputs always
//! yield the same outputs: that is what makes `carry replay` an exact re-run.
//!
//! # Layout
//!
//! - [`market`]: the market model: venues, instruments, market events, trading rules, and the
//!   funding monitor (latest funding, top of book and funding interval of every stream).
//! - [`decision`]: from market state to target positions: the [`Decider`], the pair table, the
//!   strategy and its money math, risk, circuit breakers, operator commands.
//! - [`execution`]: from targets to orders and back: trade cycles, the reconciler, order
//!   intents and execution reports, client order ids, rounding, positions.
//! - [`engine`]: the [`engine::Engine`] that drives both halves, journaling every input and
//!   decision before it takes effect; [`config`] is everything it is started with.
//! - [`record`]: the journal record kinds, one file per payload, and the kind-number ranges;
//!   [`sink`]: where records go (the journal, or memory); [`replay`]: `carry replay`.
//!
//! The types most users need are re-exported here.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod config;
pub mod decision;
pub mod engine;
pub mod execution;
pub mod market;
pub mod record;
pub mod replay;
pub mod sink;

pub use clock::Now;
pub use config::{DeciderConfig, VenueParams};
pub use decision::command::OperatorCommand;
pub use decision::decider::Decider;
pub use decision::target::{LegTarget, PairId, PairTarget, TargetReason};
pub use execution::position::{Position, Positions};
pub use market::event::{Funding, MarketEvent, MarketEventKind, Quote};
pub use market::instrument::{Instrument, InstrumentId, Universe};
pub use market::spec::InstrumentSpec;
pub use market::venue::{Exchange, Market, Venue};

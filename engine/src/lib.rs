//! carry's deterministic core. Market events, execution reports and operator commands go in with
//! the time at which they happened; target positions, order intents and journal records come out.
//! Nothing here reads a clock, touches the network or spawns a thread, so the same inputs always
//! yield the same outputs: that is what makes `carry replay` an exact re-run.

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

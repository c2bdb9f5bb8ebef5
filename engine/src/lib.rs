//! carry's deterministic core. Market events, execution reports and operator commands go in with
//! the time at which they happened; target positions, order intents and journal records come out.
//! Nothing here reads a clock, touches the network or spawns a thread, so the same inputs always
//! yield the same outputs: that is what makes `carry replay` an exact re-run.

pub mod breaker;
pub mod client_id;
pub mod clock;
pub mod command;
pub mod config;
pub mod cycle;
pub mod decider;
pub mod engine;
pub mod event;
pub mod fixed;
pub mod funding;
pub mod instrument;
pub mod interval;
pub mod metrics;
pub mod money;
pub mod order;
pub mod pair;
pub mod position;
pub mod reconciler;
pub mod record;
pub mod replay;
pub mod risk;
pub mod rounding;
pub mod spec;
pub mod strategy;
pub mod target;
pub mod venue;

pub use clock::Now;
pub use command::OperatorCommand;
pub use config::{DeciderConfig, VenueParams};
pub use decider::Decider;
pub use event::{Funding, MarketEvent, MarketEventKind, Quote};
pub use instrument::{Instrument, InstrumentId, Universe};
pub use position::{Position, Positions};
pub use spec::InstrumentSpec;
pub use target::{LegTarget, PairId, PairTarget, TargetReason};
pub use venue::{Exchange, Market, Venue};

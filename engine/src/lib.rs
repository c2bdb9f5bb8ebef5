//! carry's deterministic core. Market events, execution reports and operator commands go in with
//! the time at which they happened; target positions, order intents and journal records come out.
//! Nothing here reads a clock, touches the network or spawns a thread, so the same inputs always
//! yield the same outputs: that is what makes `carry replay` an exact re-run.

pub mod clock;
pub mod config;
pub mod decision;
pub mod engine;
pub mod execution;
pub mod market;
pub mod record;
pub mod replay;

// The flat paths the crate had before its modules moved into folders; dropped once every user
// names the folder.
pub use decision::{
    breaker, command, decider, fixed, metrics, money, pair, risk, strategy, target,
};
pub use execution::{client_id, cycle, order, position, reconciler, rounding};
pub use market::{event, funding, instrument, interval, spec, venue};

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

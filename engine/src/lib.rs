//! carry's deterministic core. Market events, execution reports and operator commands go in with
//! the time at which they happened; target positions, order intents and journal records come out.
//! Nothing here reads a clock, touches the network or spawns a thread, so the same inputs always
//! yield the same outputs: that is what makes `carry replay` an exact re-run.

pub mod clock;
pub mod event;
pub mod instrument;
pub mod position;
pub mod record;
pub mod spec;
pub mod target;
pub mod venue;

pub use clock::Now;
pub use event::{Funding, MarketEvent, MarketEventKind, Quote};
pub use instrument::{Instrument, InstrumentId, Universe};
pub use position::{Position, Positions};
pub use spec::InstrumentSpec;
pub use target::{LegTarget, PairId, PairTarget, TargetReason};
pub use venue::{Exchange, Market, Venue};

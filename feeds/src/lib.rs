//! Venue market data: everything venue-specific about turning websocket bytes into
//! [`carry_engine::MarketEvent`]s. One module per venue, one for the shared transport.

pub mod session;

pub use session::{
    DropReason, Heartbeat, Inbound, InstrumentSnapshot, RecvStamp, VenueSession, VenueSnapshot,
};

//! Venue market data: everything venue-specific about turning websocket bytes into
//! [`carry_engine::MarketEvent`]s. One module per venue, one for the shared transport.

pub mod feed;
pub mod gateway;
pub mod json;
pub mod transport;
pub mod venue;

pub use json::strict::MAX_LEN as FAST_PATH_MAX_LEN;

pub use feed::session::VenueSession;
pub use feed::snapshot::{InstrumentSnapshot, VenueSnapshot};
pub use transport::session::{DropReason, Heartbeat, Inbound, RecvStamp, WsSession};

//! carry's side of the venues: market data in (websocket and REST bytes to
//! [`carry_engine::MarketEvent`]s on a queue to the engine) and, through [`gateway`], orders out.
//!
//! - [`venue`]: one folder per exchange, holding everything carry knows about it, with its row
//!   of the adapter table; beside them, what every venue shares.
//! - [`transport`]: the websocket machinery any stream runs on, market data or private: the
//!   connection (TLS, framing, heartbeats, timers), the session contract, connections kept up
//!   with reconnects and backoff, the clocks, the counters.
//! - [`json`]: the allocation-free JSON readers venue frames are read with.
//! - [`feed`]: market data feed groups (thread, REST snapshots, queue to the engine).
//! - [`gateway`]: the order gateway interface and the threads that run gateways.

#![deny(missing_docs)]

pub mod feed;
pub mod gateway;
pub mod json;
pub mod transport;
pub mod venue;

pub use json::strict::MAX_LEN as FAST_PATH_MAX_LEN;

pub use feed::session::VenueSession;
pub use feed::snapshot::{InstrumentSnapshot, VenueSnapshot};
pub use transport::session::{DropReason, Heartbeat, Inbound, RecvStamp, WsSession};

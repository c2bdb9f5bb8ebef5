//! Venue market data: everything venue-specific about turning websocket bytes into
//! [`carry_engine::MarketEvent`]s. One module per venue, one for the shared transport.

pub mod backoff;
pub mod binance;
pub mod bitget;
pub mod bybit;
pub mod clock;
pub mod cursor;
pub mod feed;
pub mod gate;
pub mod json;
pub mod okx;
pub mod queue;
pub mod rest;
pub mod session;
pub mod stats;
mod strict;

pub use strict::MAX_LEN as FAST_PATH_MAX_LEN;
pub mod symbols;
pub mod tls;
pub mod transport;
pub mod venues;

pub use session::{
    DropReason, Heartbeat, Inbound, InstrumentSnapshot, RecvStamp, VenueSession, VenueSnapshot,
};

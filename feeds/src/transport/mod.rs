//! The websocket machinery every stream shares, market data or private: [`connection`] (one
//! socket: TCP, TLS in [`tls`], the upgrade, frames (`frame.rs`), pings, heartbeats, timers),
//! [`session`] (what a stream's logic provides: first messages at connect time, a reader of
//! frames into its own output type), [`streams`] (connections kept up on one thread,
//! reconnecting with [`backoff`], with a reset signal on every drop), [`clock`] (the stamps every
//! thread takes) and [`stats`] (per connection counters). Nothing here knows a venue's JSON.

pub mod backoff;
pub mod clock;
pub mod connection;
mod frame;
pub mod session;
pub mod stats;
pub mod streams;
pub mod tls;

//! gate.

pub mod market_ws;

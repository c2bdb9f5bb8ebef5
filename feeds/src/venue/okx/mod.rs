//! okx.

pub mod market_ws;

//! bitget.

pub mod market_ws;

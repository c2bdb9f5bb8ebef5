//! bybit.

pub mod market_ws;

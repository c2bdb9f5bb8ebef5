//! binance.

pub mod market_ws;

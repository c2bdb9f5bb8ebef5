//! The venues: one folder per exchange.

pub mod binance;
pub mod bitget;
pub mod bybit;
pub mod gate;
pub mod market_rest;
pub mod market_ws;
pub mod okx;
pub mod symbols;

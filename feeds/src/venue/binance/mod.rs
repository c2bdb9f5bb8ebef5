//! Binance: USDⓈ-M perpetuals (`fstream.binance.com`, REST `fapi.binance.com`) and spot
//! (`stream.binance.com:9443`, REST `api.binance.com`). Symbols are base and quote run together
//! (`BTCUSDT`) on both markets; sizes are base units on both.
//!
//! The public market streams are read in [`market_ws`], the REST snapshot in [`market_rest`];
//! requests are signed in [`sign`], and orders are placed, cancelled and queried in [`orders`].

pub mod market_rest;
pub mod market_ws;
pub mod orders;
pub mod sign;

use crate::venue::market_ws::MarketWs;
use crate::venue::symbols::{concatenated, split_concatenated_on};
use crate::venue::{Adapter, PerMarket};

/// Binance's row of the adapter table.
pub(crate) static ADAPTER: Adapter = Adapter {
    exchange: carry_engine::Exchange::Binance,
    ws_url: PerMarket {
        perp: "wss://fstream.binance.com",
        spot: "wss://stream.binance.com:9443",
    },
    rest_url: PerMarket {
        perp: "https://fapi.binance.com",
        spot: "https://api.binance.com",
    },
    testnet_ws_url: PerMarket {
        perp: "wss://fstream.binancefuture.com",
        spot: "wss://stream.testnet.binance.vision",
    },
    testnet_rest_url: PerMarket {
        perp: "https://testnet.binancefuture.com",
        spot: "https://testnet.binance.vision",
    },
    needs_passphrase: false,
    demo_trading_flag: false,
    resend_is_safe: PerMarket {
        perp: false,
        spot: false,
    },
    live: None,
    sizes_in_contracts: PerMarket {
        perp: false,
        spot: false,
    },
    symbol: concatenated,
    canonical: split_concatenated_on,
    market_ws: MarketWs::new::<market_ws::State>(market_ws::plans),
    market_rest: market_rest::snapshot,
};

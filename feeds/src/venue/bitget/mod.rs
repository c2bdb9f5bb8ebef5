//! Bitget v2: `USDT-FUTURES` (perpetuals) and `SPOT`, both on `ws.bitget.com` (REST
//! `api.bitget.com`). Symbols are base and quote run together (`BTCUSDT`); sizes are base units.
//!
//! The public market channels are read in [`market_ws`] (the `{arg, data}` envelope in
//! `venue/arg_data.rs`, shared with OKX), the REST snapshot in [`market_rest`].

pub mod market_rest;
pub mod market_ws;
pub mod sign;

use crate::venue::market_ws::MarketWs;
use crate::venue::symbols::{concatenated, split_concatenated_on};
use crate::venue::{Adapter, PerMarket};

/// Bitget's row of the adapter table.
pub(crate) static ADAPTER: Adapter = Adapter {
    exchange: carry_engine::Exchange::Bitget,
    ws_url: PerMarket {
        perp: "wss://ws.bitget.com",
        spot: "wss://ws.bitget.com",
    },
    rest_url: PerMarket {
        perp: "https://api.bitget.com",
        spot: "https://api.bitget.com",
    },
    testnet_ws_url: PerMarket {
        perp: "wss://wspap.bitget.com",
        spot: "wss://wspap.bitget.com",
    },
    testnet_rest_url: PerMarket {
        perp: "https://api.bitget.com",
        spot: "https://api.bitget.com",
    },
    needs_passphrase: true,
    demo_trading_flag: true,
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

//! Bybit v5: linear perpetuals and spot, both on `stream.bybit.com` (REST `api.bybit.com`).
//! Symbols are base and quote run together (`BTCUSDT`); USDC-settled perpetuals are spelled
//! `BTCPERP`. Sizes are base units.
//!
//! The public market streams are read in [`market_ws`], the REST snapshot in [`market_rest`];
//! orders go through [`orders`], signed by [`sign`].

pub mod market_rest;
pub mod market_ws;
pub mod orders;
pub mod sign;

use carry_engine::Market;

use crate::venue::market_ws::MarketWs;
use crate::venue::symbols::{concatenated, split_concatenated};
use crate::venue::{Adapter, PerMarket};

/// Bybit's row of the adapter table.
pub(crate) static ADAPTER: Adapter = Adapter {
    exchange: carry_engine::Exchange::Bybit,
    ws_url: PerMarket {
        perp: "wss://stream.bybit.com",
        spot: "wss://stream.bybit.com",
    },
    rest_url: PerMarket {
        perp: "https://api.bybit.com",
        spot: "https://api.bybit.com",
    },
    testnet_ws_url: PerMarket {
        perp: "wss://stream-testnet.bybit.com",
        spot: "wss://stream-testnet.bybit.com",
    },
    testnet_rest_url: PerMarket {
        perp: "https://api-testnet.bybit.com",
        spot: "https://api-testnet.bybit.com",
    },
    needs_passphrase: false,
    demo_trading_flag: false,
    resend_is_safe: PerMarket {
        perp: true,
        spot: true,
    },
    live: None,
    sizes_in_contracts: PerMarket {
        perp: false,
        spot: false,
    },
    symbol: concatenated,
    canonical,
    market_ws: MarketWs::new::<market_ws::State>(market_ws::plans),
    market_rest: market_rest::snapshot,
};

/// `BTCUSDT` → (`BTC`, `USDT`); `BTCPERP` → (`BTC`, `USDC`).
fn canonical(_: Market, symbol: &str) -> Option<(&str, &str)> {
    match symbol.strip_suffix("PERP").filter(|b| !b.is_empty()) {
        Some(base) => Some((base, "USDC")),
        None => split_concatenated(symbol),
    }
}

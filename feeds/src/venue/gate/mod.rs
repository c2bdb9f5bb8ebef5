//! Gate v4: USDT-settled futures (`fx-ws.gateio.ws`) and spot (`api.gateio.ws`), REST
//! `api.gateio.ws` for both. Symbols are `BTC_USDT` on both markets. Futures books are sized in
//! contracts of `quanto_multiplier` base units (from REST).
//!
//! The public market channels are read in [`market_ws`], the REST snapshot in [`market_rest`].

pub mod market_rest;
pub mod market_ws;
pub mod sign;

use carry_engine::Market;

use crate::venue::market_ws::MarketWs;
use crate::venue::{Adapter, PerMarket};

/// Gate's row of the adapter table.
pub(crate) static ADAPTER: Adapter = Adapter {
    exchange: carry_engine::Exchange::Gate,
    ws_url: PerMarket {
        perp: "wss://fx-ws.gateio.ws",
        spot: "wss://api.gateio.ws",
    },
    rest_url: PerMarket {
        perp: "https://api.gateio.ws",
        spot: "https://api.gateio.ws",
    },
    testnet_ws_url: PerMarket {
        perp: "wss://fx-ws-testnet.gateio.ws",
        spot: "wss://api-testnet.gateapi.io",
    },
    testnet_rest_url: PerMarket {
        perp: "https://fx-api-testnet.gateio.ws",
        spot: "https://api-testnet.gateapi.io",
    },
    needs_passphrase: false,
    demo_trading_flag: false,
    resend_is_safe: PerMarket {
        perp: false,
        spot: false,
    },
    live: None,
    sizes_in_contracts: PerMarket {
        perp: true,
        spot: false,
    },
    symbol,
    canonical,
    market_ws: MarketWs::new::<market_ws::State>(market_ws::plans),
    market_rest: market_rest::snapshot,
};

/// `BTC_USDT`.
fn symbol(_: Market, base: &str, quote: &str) -> String {
    format!("{base}_{quote}")
}

/// `BTC_USDT` → (`BTC`, `USDT`).
fn canonical(_: Market, symbol: &str) -> Option<(&str, &str)> {
    symbol.split_once('_')
}

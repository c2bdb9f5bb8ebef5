//! OKX v5: SWAP (USDT-margined perpetuals) and SPOT, both on `ws.okx.com:8443` (REST
//! `www.okx.com`). Symbols are `BTC-USDT-SWAP` and `BTC-USDT`. SWAP books are sized in contracts
//! of `ctVal × ctMult` base units (from REST).
//!
//! The public market channels are read in [`market_ws`] (the `{arg, data}` envelope in
//! `venue/arg_data.rs`, shared with Bitget), the REST snapshot in [`market_rest`]. Orders go
//! through [`orders`] (the live gateway's REST order API), signed by [`sign`].

pub mod market_rest;
pub mod market_ws;
pub mod orders;
pub mod sign;

use carry_engine::Market;

use crate::venue::market_ws::MarketWs;
use crate::venue::{Adapter, PerMarket};

/// OKX's row of the adapter table.
pub(crate) static ADAPTER: Adapter = Adapter {
    exchange: carry_engine::Exchange::Okx,
    ws_url: PerMarket {
        perp: "wss://ws.okx.com:8443",
        spot: "wss://ws.okx.com:8443",
    },
    rest_url: PerMarket {
        perp: "https://www.okx.com",
        spot: "https://www.okx.com",
    },
    testnet_ws_url: PerMarket {
        perp: "wss://wspap.okx.com:8443",
        spot: "wss://wspap.okx.com:8443",
    },
    testnet_rest_url: PerMarket {
        perp: "https://www.okx.com",
        spot: "https://www.okx.com",
    },
    needs_passphrase: true,
    demo_trading_flag: true,
    resend_is_safe: PerMarket {
        perp: false,
        spot: false,
    },
    live: Some(crate::gateway::live::live_gateway::<orders::OkxOrders>),
    sizes_in_contracts: PerMarket {
        perp: true,
        spot: false,
    },
    symbol,
    canonical,
    market_ws: MarketWs::new::<market_ws::State>(market_ws::plans),
    market_rest: market_rest::snapshot,
};

/// `BTC-USDT-SWAP` (perp), `BTC-USDT` (spot).
fn symbol(market: Market, base: &str, quote: &str) -> String {
    match market {
        Market::Perp => format!("{base}-{quote}-SWAP"),
        Market::Spot => format!("{base}-{quote}"),
    }
}

/// `BTC-USDT-SWAP` or `BTC-USDT` → (`BTC`, `USDT`); a dated future (`BTC-USDT-250328`) is not
/// a pair.
fn canonical(_: Market, symbol: &str) -> Option<(&str, &str)> {
    symbol
        .strip_suffix("-SWAP")
        .unwrap_or(symbol)
        .split_once('-')
}

//! The venues: one folder per exchange (`binance/`, `bybit/`, `okx/`, `bitget/`, `gate/`), each
//! holding everything carry knows about it: its URLs and limits, how it spells symbols and sizes
//! contracts, its public websocket session and parsers (`market_ws.rs`), its REST snapshots
//! (`market_rest.rs`), and its row of the adapter table ([`Adapter`], in the folder's `mod.rs`).
//! Signing, orders and the private stream will join them as `sign.rs`, `orders.rs` and
//! `user_ws.rs`, with their entries in the same row.
//!
//! The modules beside the folders belong to no one exchange: [`market_ws`] (the frame reading
//! every exchange's reader plugs into, the market session, [`market_ws::sessions`]),
//! [`market_rest`] (fetching a snapshot, the REST field readers, [`market_rest::fetch_snapshot`]),
//! [`symbols`] (canonical instrument names) and `arg_data.rs` (the `{arg, data}` push envelope
//! OKX and Bitget both use). They ask [`adapter`] for what differs per exchange, so adding a
//! venue means a folder and one row there.

pub(crate) mod arg_data;
pub mod binance;
pub mod bitget;
pub mod bybit;
pub mod gate;
pub mod market_rest;
pub mod market_ws;
pub mod okx;
pub mod symbols;

use carry_engine::{Exchange, InstrumentId, Market, Venue};

use crate::venue::market_rest::{Client, RestError, Row};
use crate::venue::market_ws::MarketWs;

/// Everything carry does differently on one exchange, as one row of the adapter table: what is
/// data is a field, what is code is a function of the exchange's folder. Look a row up with
/// [`adapter`].
pub struct Adapter {
    /// The exchange this row describes.
    pub exchange: Exchange,
    /// Public websocket base URL per market (scheme, host and port; the session appends paths).
    pub ws_url: PerMarket<&'static str>,
    /// REST base URL per market (scheme, host and port; the snapshot appends paths).
    pub rest_url: PerMarket<&'static str>,
    /// The test environment's websocket base URL per market (`testnet = true`).
    pub testnet_ws_url: PerMarket<&'static str>,
    /// The test environment's REST base URL per market.
    pub testnet_rest_url: PerMarket<&'static str>,
    /// Whether the venue's API keys come with a passphrase (OKX, Bitget).
    pub needs_passphrase: bool,
    /// Whether the test environment is the production REST host plus a request flag (OKX
    /// `x-simulated-trading`, Bitget `paptrading` demo trading) rather than a host of its own.
    pub demo_trading_flag: bool,
    /// Whether resending an order under the same client order id is safe, because the venue
    /// refuses a duplicate id for good (not only while the first order is open, as Binance and
    /// OKX do, or never, as Gate): `[execution] resolve = "resend"` is refused for live venues
    /// where it is not.
    pub resend_is_safe: PerMarket<bool>,
    /// The live order gateway of a market of this exchange (signed REST orders), where carry
    /// has one.
    pub live: Option<crate::gateway::live::LiveFactory>,
    /// Whether book sizes are quoted in contracts rather than base units, per market.
    pub sizes_in_contracts: PerMarket<bool>,
    /// The exchange's own symbol for an upper-case base and quote on a market.
    pub symbol: fn(Market, &str, &str) -> String,
    /// The base and quote of an upper-case symbol of this exchange, or `None` when it is not a
    /// spot pair or linear perpetual the exchange module can read.
    pub canonical: for<'s> fn(Market, &'s str) -> Option<(&'s str, &'s str)>,
    /// The public market data websocket: connection plans, the frame reader, the session.
    pub(crate) market_ws: MarketWs,
    /// The REST snapshot: funding and trading rules of the given symbols.
    pub(crate) market_rest: MarketRest,
}

/// How an exchange fetches a REST snapshot of its symbols (`client` knows the venue and base URL).
pub(crate) type MarketRest =
    fn(&Client<'_>, &[(InstrumentId, &str)]) -> Result<Vec<(InstrumentId, Row)>, RestError>;

/// One value for perpetuals and one for spot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerMarket<T> {
    /// The perpetual (USDT-margined linear swap) market's.
    pub perp: T,
    /// The spot market's.
    pub spot: T,
}

impl<T: Copy> PerMarket<T> {
    /// The value for `market`.
    pub const fn get(&self, market: Market) -> T {
        match market {
            Market::Perp => self.perp,
            Market::Spot => self.spot,
        }
    }
}

/// The adapter of `exchange`: the one row per exchange.
pub fn adapter(exchange: Exchange) -> &'static Adapter {
    match exchange {
        Exchange::Binance => &binance::ADAPTER,
        Exchange::Bybit => &bybit::ADAPTER,
        Exchange::Okx => &okx::ADAPTER,
        Exchange::Bitget => &bitget::ADAPTER,
        Exchange::Gate => &gate::ADAPTER,
    }
}

/// The public websocket base URL of `venue` (what [`market_ws::sessions`] expects as `ws_url`).
pub fn default_ws_url(venue: Venue) -> &'static str {
    adapter(venue.exchange).ws_url.get(venue.market)
}

/// The REST base URL of `venue` (what [`market_rest::fetch_snapshot`] expects as `rest_url`).
pub fn default_rest_url(venue: Venue) -> &'static str {
    adapter(venue.exchange).rest_url.get(venue.market)
}

/// Whether `venue` quotes book sizes in contracts rather than base units (OKX SWAP `ctVal`, Gate
/// futures `quanto_multiplier`).
pub fn sizes_in_contracts(venue: Venue) -> bool {
    adapter(venue.exchange).sizes_in_contracts.get(venue.market)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_describes_the_exchange_it_is_looked_up_by() {
        for exchange in Exchange::ALL {
            assert_eq!(adapter(exchange).exchange, exchange);
        }
    }

    #[test]
    fn contract_sized_venues_are_okx_and_gate_perps() {
        let sized: Vec<&str> = Venue::ALL
            .iter()
            .filter(|v| sizes_in_contracts(**v))
            .map(|v| v.as_str())
            .collect();
        assert_eq!(sized, ["okx-perp", "gate-perp"]);
    }

    #[test]
    fn default_urls_per_venue() {
        let urls: Vec<(&str, &str, &str)> = Venue::ALL
            .iter()
            .map(|v| (v.as_str(), default_ws_url(*v), default_rest_url(*v)))
            .collect();
        assert_eq!(
            urls,
            [
                (
                    "binance-perp",
                    "wss://fstream.binance.com",
                    "https://fapi.binance.com"
                ),
                (
                    "binance-spot",
                    "wss://stream.binance.com:9443",
                    "https://api.binance.com"
                ),
                (
                    "bybit-perp",
                    "wss://stream.bybit.com",
                    "https://api.bybit.com"
                ),
                (
                    "bybit-spot",
                    "wss://stream.bybit.com",
                    "https://api.bybit.com"
                ),
                ("okx-perp", "wss://ws.okx.com:8443", "https://www.okx.com"),
                ("okx-spot", "wss://ws.okx.com:8443", "https://www.okx.com"),
                (
                    "bitget-perp",
                    "wss://ws.bitget.com",
                    "https://api.bitget.com"
                ),
                (
                    "bitget-spot",
                    "wss://ws.bitget.com",
                    "https://api.bitget.com"
                ),
                (
                    "gate-perp",
                    "wss://fx-ws.gateio.ws",
                    "https://api.gateio.ws"
                ),
                ("gate-spot", "wss://api.gateio.ws", "https://api.gateio.ws"),
            ]
        );
    }
}

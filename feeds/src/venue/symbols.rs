//! Venue symbols and canonical instruments. carry names an instrument `BASE-QUOTE` (`BTC-USDT`);
//! each venue has its own spelling (`BTCUSDT`, `BTC-USDT-SWAP`, `BTC-USDT`, `BTC_USDT`), which
//! its adapter row gives ([`crate::venue::Adapter::symbol`] and `canonical`). The
//! forward mapping is the default the config loader uses when an instrument has no explicit
//! per-venue symbol; multiplier tickers (`1000PEPEUSDT` perp vs `PEPEUSDT` spot) need that
//! explicit symbol, because no string rule can know them. The reverse mapping is for tools such
//! as `carry decode` that meet symbols they were not configured with.

use carry_engine::{Market, Venue};

use crate::venue::adapter;

/// Quote currencies recognised at the end of a concatenated symbol (`BTCUSDT`), longest or most
/// specific first so that `FDUSD` and `TUSD` win over `USD`.
pub const QUOTE_CURRENCIES: [&str; 15] = [
    "FDUSD", "USDT", "USDC", "USDE", "TUSD", "BUSD", "USD", "DAI", "EUR", "TRY", "BRL", "BTC",
    "ETH", "BNB", "SOL",
];

/// The venue's own symbol for `base`/`quote` (upper-cased): `BTCUSDT` on Binance, Bybit and
/// Bitget, `BTC-USDT-SWAP` / `BTC-USDT` on OKX perp / spot, `BTC_USDT` on Gate.
///
/// ```
/// use carry_engine::Venue;
/// use carry_feeds::venue::symbols::venue_symbol;
/// let okx_perp: Venue = "okx-perp".parse().unwrap();
/// assert_eq!(venue_symbol(okx_perp, "btc", "usdt"), "BTC-USDT-SWAP");
/// assert_eq!(venue_symbol("gate-spot".parse().unwrap(), "ETH", "USDT"), "ETH_USDT");
/// ```
pub fn venue_symbol(venue: Venue, base: &str, quote: &str) -> String {
    let base = base.trim().to_ascii_uppercase();
    let quote = quote.trim().to_ascii_uppercase();
    (adapter(venue.exchange).symbol)(venue.market, &base, &quote)
}

/// The canonical `BASE-QUOTE` of a venue symbol, or `None` when the symbol is not a spot pair or
/// linear perpetual this module can read (an OKX dated future, a concatenated symbol with an
/// unknown quote currency).
///
/// ```
/// use carry_feeds::venue::symbols::canonical;
/// assert_eq!(canonical("binance-perp".parse().unwrap(), "BTCUSDT").as_deref(), Some("BTC-USDT"));
/// assert_eq!(canonical("okx-perp".parse().unwrap(), "ETH-USDT-SWAP").as_deref(), Some("ETH-USDT"));
/// assert_eq!(canonical("gate-perp".parse().unwrap(), "BTC_USDT").as_deref(), Some("BTC-USDT"));
/// assert_eq!(canonical("bybit-perp".parse().unwrap(), "FOOBAR"), None);
/// ```
pub fn canonical(venue: Venue, symbol: &str) -> Option<String> {
    let symbol = symbol.trim().to_ascii_uppercase();
    let (base, quote) = (adapter(venue.exchange).canonical)(venue.market, &symbol)?;
    checked(base, quote)
}

fn checked(base: &str, quote: &str) -> Option<String> {
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric());
    (ok(base) && ok(quote)).then(|| format!("{base}-{quote}"))
}

/// Base and quote run together, `BTCUSDT` (Binance, Bybit, Bitget).
pub(crate) fn concatenated(_: Market, base: &str, quote: &str) -> String {
    format!("{base}{quote}")
}

/// [`split_concatenated`] as an adapter's `canonical`: the same on every market.
pub(crate) fn split_concatenated_on(_: Market, symbol: &str) -> Option<(&str, &str)> {
    split_concatenated(symbol)
}

/// Splits `BTCUSDT` into `("BTC", "USDT")` on the first known quote currency it ends with.
pub fn split_concatenated(symbol: &str) -> Option<(&str, &str)> {
    QUOTE_CURRENCIES.iter().find_map(|quote| {
        symbol
            .strip_suffix(quote)
            .filter(|base| !base.is_empty())
            .map(|base| (base, *quote))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Venue {
        s.parse().unwrap()
    }

    #[test]
    fn forward_mapping_per_venue() {
        let cases = [
            ("binance-perp", "BTCUSDT"),
            ("binance-spot", "BTCUSDT"),
            ("bybit-perp", "BTCUSDT"),
            ("bybit-spot", "BTCUSDT"),
            ("okx-perp", "BTC-USDT-SWAP"),
            ("okx-spot", "BTC-USDT"),
            ("bitget-perp", "BTCUSDT"),
            ("bitget-spot", "BTCUSDT"),
            ("gate-perp", "BTC_USDT"),
            ("gate-spot", "BTC_USDT"),
        ];
        for (venue, want) in cases {
            assert_eq!(venue_symbol(v(venue), "BTC", "USDT"), want, "{venue}");
            assert_eq!(
                canonical(v(venue), want).as_deref(),
                Some("BTC-USDT"),
                "{venue}"
            );
        }
    }

    #[test]
    fn reverse_mapping_edge_cases() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("binance-spot", "ETHBTC", Some("ETH-BTC")),
            ("binance-spot", "BTCFDUSD", Some("BTC-FDUSD")),
            ("binance-spot", "BTCTUSD", Some("BTC-TUSD")),
            ("binance-perp", "1000PEPEUSDT", Some("1000PEPE-USDT")),
            ("binance-perp", "USDT", None),
            ("bybit-perp", "BTCPERP", Some("BTC-USDC")),
            ("bitget-spot", "btcusdc", Some("BTC-USDC")),
            ("okx-perp", "BTC-USD-SWAP", Some("BTC-USD")),
            ("okx-perp", "BTC-USDT-250328", None),
            ("okx-spot", "BTC", None),
            ("gate-perp", "BTC_USD", Some("BTC-USD")),
            ("gate-spot", "BTCUSDT", None),
        ];
        for (venue, symbol, want) in cases {
            assert_eq!(
                canonical(v(venue), symbol).as_deref(),
                *want,
                "{venue} {symbol}"
            );
        }
    }
}

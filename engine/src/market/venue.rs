//! The ten markets carry trades on: five exchanges, each with a USDT-margined perpetual market
//! and a spot market. A [`Venue`] is one of those markets; it is `Copy`, one byte, and doubles
//! as a small array index so that per-venue state never needs a map on the hot path.

use std::fmt;
use std::str::FromStr;

/// An exchange, independent of market.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Exchange {
    /// Binance (USDⓈ-M futures and spot).
    Binance,
    /// Bybit (linear and spot).
    Bybit,
    /// OKX (SWAP and SPOT).
    Okx,
    /// Bitget (USDT-FUTURES and SPOT).
    Bitget,
    /// Gate (USDT futures and spot).
    Gate,
}

impl Exchange {
    /// Every exchange, in index order.
    pub const ALL: [Exchange; 5] = [
        Exchange::Binance,
        Exchange::Bybit,
        Exchange::Okx,
        Exchange::Bitget,
        Exchange::Gate,
    ];

    /// The exchange's name in venue ids (`binance`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Exchange::Binance => "binance",
            Exchange::Bybit => "bybit",
            Exchange::Okx => "okx",
            Exchange::Bitget => "bitget",
            Exchange::Gate => "gate",
        }
    }
}

/// Perpetual (USDT-margined linear swap) or spot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Market {
    /// The USDT-margined perpetual market.
    Perp,
    /// The spot market.
    Spot,
}

impl Market {
    /// The market's name in venue ids (`perp`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Market::Perp => "perp",
            Market::Spot => "spot",
        }
    }
}

/// One market on one exchange, e.g. `binance-perp`.
///
/// ```
/// use carry_engine::market::venue::{Venue, Exchange, Market};
/// let v: Venue = "okx-spot".parse().unwrap();
/// assert_eq!(v, Venue::new(Exchange::Okx, Market::Spot));
/// assert_eq!(v.to_string(), "okx-spot");
/// assert_eq!(Venue::from_index(v.index()), Some(v));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Venue {
    /// The exchange.
    pub exchange: Exchange,
    /// Its perp or spot market.
    pub market: Market,
}

/// Number of distinct venues; the length of per-venue arrays.
pub const VENUE_COUNT: usize = 10;

impl Venue {
    /// The venue of an exchange's market.
    pub const fn new(exchange: Exchange, market: Market) -> Venue {
        Venue { exchange, market }
    }

    /// Every venue, in index order.
    pub const ALL: [Venue; VENUE_COUNT] = {
        let mut all = [Venue::new(Exchange::Binance, Market::Perp); VENUE_COUNT];
        let mut i = 0;
        while i < VENUE_COUNT {
            all[i] = Venue::new(
                Exchange::ALL[i / 2],
                if i % 2 == 0 {
                    Market::Perp
                } else {
                    Market::Spot
                },
            );
            i += 1;
        }
        all
    };

    /// Dense index in `0..VENUE_COUNT`, for per-venue arrays.
    pub const fn index(self) -> usize {
        (self.exchange as usize) * 2 + (self.market as usize)
    }

    /// The venue with this index, if any.
    pub const fn from_index(i: usize) -> Option<Venue> {
        if i < VENUE_COUNT {
            Some(Venue::ALL[i])
        } else {
            None
        }
    }

    /// Whether this is a perpetual market (which has funding and margin).
    pub const fn is_perp(self) -> bool {
        matches!(self.market, Market::Perp)
    }

    /// The venue id used in config, CLI and metrics: `binance-perp`, `gate-spot`, ...
    pub const fn as_str(self) -> &'static str {
        const NAMES: [&str; VENUE_COUNT] = [
            "binance-perp",
            "binance-spot",
            "bybit-perp",
            "bybit-spot",
            "okx-perp",
            "okx-spot",
            "bitget-perp",
            "bitget-spot",
            "gate-perp",
            "gate-spot",
        ];
        NAMES[self.index()]
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A venue id that is not one of the ten known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown venue {0:?} (expected one of binance-perp, binance-spot, bybit-perp, bybit-spot, okx-perp, okx-spot, bitget-perp, bitget-spot, gate-perp, gate-spot)")]
pub struct UnknownVenue(pub String);

impl FromStr for Venue {
    type Err = UnknownVenue;
    fn from_str(s: &str) -> Result<Venue, UnknownVenue> {
        Venue::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVenue(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trips_and_names_are_unique() {
        for (i, v) in Venue::ALL.iter().enumerate() {
            assert_eq!(v.index(), i);
            assert_eq!(v.as_str().parse::<Venue>().unwrap(), *v);
            assert!(v.as_str().starts_with(v.exchange.as_str()));
            assert!(v.as_str().ends_with(v.market.as_str()));
        }
        assert!("binance".parse::<Venue>().is_err());
    }
}

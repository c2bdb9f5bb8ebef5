//! Instruments and the universe: the configured canonical instruments (`BTC-USDT`), each given a
//! small [`InstrumentId`] at start, and the venue symbol of each on each venue it trades on.
//! Resolution from a venue symbol to an id is a short linear scan over a per-venue index that
//! compares two words (length, first eight bytes) before any byte: no hashing, no allocation,
//! which is what a feed thread needs per message.

use crate::market::venue::{Venue, VENUE_COUNT};

/// Index of a configured instrument; dense from 0 in configuration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstrumentId(pub u16);

impl InstrumentId {
    /// The instrument's position in the universe, for per-instrument arrays.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A canonical instrument, `BASE-QUOTE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instrument {
    /// The base asset (`BTC`).
    pub base: String,
    /// The quote asset (`USDT`).
    pub quote: String,
    /// `BASE-QUOTE`, kept so views never format on demand.
    pub name: String,
    /// The venue's own symbol on each venue where this instrument is subscribed.
    pub symbols: [Option<String>; VENUE_COUNT],
}

/// The instruments of one running instance.
#[derive(Clone, Debug, Default)]
pub struct Universe {
    instruments: Vec<Instrument>,
    /// Per venue, the symbols it carries, for [`Universe::lookup`].
    by_symbol: [Vec<SymbolKey>; VENUE_COUNT],
}

/// A venue symbol as [`Universe::lookup`] compares it first: its length and first eight bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SymbolKey {
    len: usize,
    head: u64,
    id: InstrumentId,
}

/// The first eight bytes of `symbol` as a word, zero-padded.
#[inline]
fn head(symbol: &[u8]) -> u64 {
    if let Some(word) = symbol.first_chunk::<8>() {
        return u64::from_le_bytes(*word);
    }
    // Four to seven bytes (most symbols): two overlapping four-byte loads, no loop.
    if let (Some(lo), Some(hi)) = (symbol.first_chunk::<4>(), symbol.last_chunk::<4>()) {
        let shift = 8 * (symbol.len() - 4);
        return u64::from(u32::from_le_bytes(*lo)) | u64::from(u32::from_le_bytes(*hi)) << shift;
    }
    symbol
        .iter()
        .rev()
        .fold(0u64, |word, &c| (word << 8) | u64::from(c))
}

/// Why an instrument could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UniverseError {
    /// The name is not `BASE-QUOTE`.
    #[error("instrument {0:?} is not of the form BASE-QUOTE (e.g. BTC-USDT)")]
    BadName(String),
    /// The same instrument is configured twice.
    #[error("instrument {0:?} is configured twice")]
    Duplicate(String),
    /// More instruments than an id can number.
    #[error("more than {max} instruments configured", max = u16::MAX)]
    TooMany,
}

impl Universe {
    /// An empty universe.
    pub fn new() -> Universe {
        Universe::default()
    }

    /// Adds `BASE-QUOTE` (upper-cased) and returns its id.
    pub fn add(&mut self, canonical: &str) -> Result<InstrumentId, UniverseError> {
        let upper = canonical.trim().to_ascii_uppercase();
        let (base, quote) = upper
            .split_once('-')
            .filter(|(b, q)| {
                !b.is_empty()
                    && !q.is_empty()
                    && b.bytes()
                        .chain(q.bytes())
                        .all(|c| c.is_ascii_alphanumeric())
            })
            .ok_or_else(|| UniverseError::BadName(canonical.to_string()))?;
        if self.find(&upper).is_some() {
            return Err(UniverseError::Duplicate(upper));
        }
        let id = u16::try_from(self.instruments.len()).map_err(|_| UniverseError::TooMany)?;
        self.instruments.push(Instrument {
            base: base.to_string(),
            quote: quote.to_string(),
            name: upper.clone(),
            symbols: Default::default(),
        });
        Ok(InstrumentId(id))
    }

    /// Records the venue's own symbol for an instrument (the venue then carries it).
    pub fn set_symbol(&mut self, id: InstrumentId, venue: Venue, symbol: &str) {
        self.instruments[id.index()].symbols[venue.index()] = Some(symbol.to_string());
        let keys = &mut self.by_symbol[venue.index()];
        keys.retain(|k| k.id != id);
        keys.push(SymbolKey {
            len: symbol.len(),
            head: head(symbol.as_bytes()),
            id,
        });
    }

    /// How many instruments it holds.
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// The instrument with this id (which the universe gave out).
    pub fn get(&self, id: InstrumentId) -> &Instrument {
        &self.instruments[id.index()]
    }

    /// Every instrument with its id, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (InstrumentId, &Instrument)> {
        self.instruments
            .iter()
            .enumerate()
            .map(|(i, ins)| (InstrumentId(i as u16), ins))
    }

    /// The id of a canonical name (`BTC-USDT`), case-sensitive on the upper-cased form.
    pub fn find(&self, canonical: &str) -> Option<InstrumentId> {
        self.instruments
            .iter()
            .position(|i| i.name == canonical)
            .map(|i| InstrumentId(i as u16))
    }

    /// The venue symbol of an instrument, where that venue carries it.
    pub fn symbol(&self, id: InstrumentId, venue: Venue) -> Option<&str> {
        self.instruments[id.index()].symbols[venue.index()].as_deref()
    }

    /// Resolves a venue's symbol (exact bytes) to an instrument id, without allocating.
    pub fn lookup(&self, venue: Venue, symbol: &[u8]) -> Option<InstrumentId> {
        let (len, head) = (symbol.len(), head(symbol));
        let keys = self.by_symbol.get(venue.index())?;
        keys.iter()
            .filter(|k| k.len == len && k.head == head)
            // Eight bytes or fewer are the whole symbol; longer ones are compared in full.
            .find(|k| {
                len <= 8
                    || self
                        .instruments
                        .get(k.id.index())
                        .and_then(|i| i.symbols.get(venue.index())?.as_deref())
                        .map(str::as_bytes)
                        == Some(symbol)
            })
            .map(|k| k.id)
    }

    /// Venues on which at least one instrument is configured.
    pub fn venues(&self) -> impl Iterator<Item = Venue> + '_ {
        Venue::ALL.into_iter().filter(|v| {
            self.instruments
                .iter()
                .any(|i| i.symbols[v.index()].is_some())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::venue::{Exchange, Market};

    #[test]
    fn add_lookup_and_reject_bad_names() {
        let mut u = Universe::new();
        let btc = u.add("btc-usdt").unwrap();
        let eth = u.add("ETH-USDT").unwrap();
        assert_eq!((btc, eth), (InstrumentId(0), InstrumentId(1)));
        assert_eq!(
            u.add("BTC-USDT"),
            Err(UniverseError::Duplicate("BTC-USDT".into()))
        );
        assert!(matches!(u.add("BTCUSDT"), Err(UniverseError::BadName(_))));
        assert!(matches!(u.add("BTC-"), Err(UniverseError::BadName(_))));
        let okx = Venue::new(Exchange::Okx, Market::Perp);
        u.set_symbol(eth, okx, "ETH-USDT-SWAP");
        assert_eq!(u.lookup(okx, b"ETH-USDT-SWAP"), Some(eth));
        assert_eq!(u.lookup(okx, b"BTC-USDT-SWAP"), None);
        assert_eq!(
            u.lookup(Venue::new(Exchange::Okx, Market::Spot), b"ETH-USDT-SWAP"),
            None
        );
        assert_eq!(u.venues().collect::<Vec<_>>(), vec![okx]);
        assert_eq!(u.get(eth).base, "ETH");
        // Symbols that share their first eight bytes, short ones, and a symbol replaced.
        u.set_symbol(btc, okx, "ETH-USDT-SWAP2");
        assert_eq!(u.lookup(okx, b"ETH-USDT-SWAP"), Some(eth));
        assert_eq!(u.lookup(okx, b"ETH-USDT-SWAP2"), Some(btc));
        assert_eq!(u.lookup(okx, b"ETH-USDT-SWAP3"), None);
        let bin = Venue::new(Exchange::Binance, Market::Perp);
        u.set_symbol(btc, bin, "BTCUSDT");
        u.set_symbol(eth, bin, "ETH");
        assert_eq!(u.lookup(bin, b"BTCUSDT"), Some(btc));
        assert_eq!(u.lookup(bin, b"ETH"), Some(eth));
        assert_eq!(u.lookup(bin, b"ETH\0"), None);
        assert_eq!(u.lookup(bin, b"BTCUSD"), None);
        assert_eq!(u.lookup(bin, b""), None);
        u.set_symbol(btc, bin, "XBTUSDT");
        assert_eq!(u.lookup(bin, b"BTCUSDT"), None);
        assert_eq!(u.lookup(bin, b"XBTUSDT"), Some(btc));
        assert_eq!(u.symbol(btc, bin), Some("XBTUSDT"));
    }

    #[test]
    fn head_is_the_first_eight_bytes_zero_padded() {
        let text = b"BTC-USDT-SWAP";
        for len in 0..=text.len() {
            let mut word = [0u8; 8];
            for (slot, &c) in word.iter_mut().zip(&text[..len]) {
                *slot = c;
            }
            assert_eq!(head(&text[..len]), u64::from_le_bytes(word), "{len} bytes");
        }
    }
}

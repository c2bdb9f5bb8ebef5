//! What the simulated venues list: for each configured instrument, its symbol on each simulated
//! venue, the trading rules that venue's REST reports (tick, lot, minimums, contract size) and,
//! for perpetuals, its funding interval. Everything the websocket and REST sides render about an
//! instrument's static properties comes from here, so the two always agree (an OKX `bbo-tbt`
//! size in contracts is consistent with the `ctVal` the instruments endpoint reports).

use carry_engine::market::instrument::UniverseError;
use carry_engine::market::venue::{Exchange, Market, Venue, VENUE_COUNT};
use carry_engine::{InstrumentSpec, Universe};
use rust_decimal::Decimal;

/// One instrument on one simulated venue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueListing {
    /// The venue's own symbol (`BTCUSDT`, `BTC-USDT-SWAP`, `BTC_USDT`).
    pub symbol: String,
    /// What the venue's REST reports; quantities in the venue's order unit.
    pub spec: InstrumentSpec,
    /// Generated book sizes are whole multiples of `10^-qty_scale` order units.
    pub qty_scale: u32,
    /// The largest limit order the venue accepts, in order units (what its REST reports as the
    /// maximum order quantity).
    pub max_qty: Decimal,
    /// Funding interval in hours (perpetuals only): what the venue states, and what its rate is
    /// per.
    pub funding_interval_hours: Option<u32>,
    /// How long one hour of the funding schedule lasts, in ms: 3 600 000 on the real clock,
    /// less on the simulator's accelerated funding clock (`SimConfig::funding_hour`).
    pub funding_hour_ms: i64,
}

impl VenueListing {
    /// The stated funding interval, in ms (8 h is 28 800 000 whatever the funding clock).
    pub fn funding_interval_ms(&self) -> Option<i64> {
        self.funding_interval_hours
            .map(|h| i64::from(h) * 3_600_000)
    }

    /// Time between two settlements on the simulator's funding clock: the stated interval on
    /// the real clock, `hours × funding_hour` on an accelerated one.
    pub fn settlement_interval_ms(&self) -> Option<i64> {
        self.funding_interval_hours
            .map(|h| (i64::from(h) * self.funding_hour_ms).max(1))
    }

    /// Unix ms of the first settlement strictly after `now_ms`, on the settlement grid (the
    /// interval's UTC grid on the real clock).
    pub fn next_funding_time_ms(&self, now_ms: i64) -> i64 {
        match self.settlement_interval_ms() {
            Some(iv) => (now_ms.div_euclid(iv) + 1) * iv,
            None => 0,
        }
    }
}

/// A configured instrument and where it is listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedInstrument {
    /// Canonical `BASE-QUOTE`.
    pub name: String,
    pub base: String,
    pub quote: String,
    /// Prices are whole multiples of `10^-price_scale` (the tick) on every venue.
    pub price_scale: u32,
    /// Where the random walk starts, in ticks.
    pub start_ticks: i64,
    /// Per venue (indexed by `Venue::index`), the listing where that venue is simulated.
    pub on: [Option<VenueListing>; VENUE_COUNT],
}

impl ListedInstrument {
    pub fn on(&self, venue: Venue) -> Option<&VenueListing> {
        self.on[venue.index()].as_ref()
    }
}

/// Why a simulator configuration cannot be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    /// A name carry's own universe refuses (not `BASE-QUOTE`, or twice).
    #[error("sim: {0}")]
    Instrument(#[from] UniverseError),
    #[error("sim: no instruments configured")]
    NoInstruments,
    #[error("sim: no venues configured")]
    NoVenues,
}

/// The whole simulated universe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    instruments: Vec<ListedInstrument>,
    venues: Vec<Venue>,
}

/// Funding intervals (hours) handed out round-robin by exchange and instrument position, so that
/// even a one-instrument demo has a 4 h and a 1 h symbol next to 8 h ones.
const INTERVAL_ROTATION: [u32; 5] = [8, 4, 8, 1, 8];

impl Listing {
    /// Lists every instrument on every venue. Venues are deduplicated and kept in index order.
    pub fn new(instruments: &[String], venues: &[Venue]) -> Result<Listing, ListingError> {
        if instruments.is_empty() {
            return Err(ListingError::NoInstruments);
        }
        let mut vs: Vec<Venue> = venues.to_vec();
        vs.sort();
        vs.dedup();
        if vs.is_empty() {
            return Err(ListingError::NoVenues);
        }
        // Names are read as carry reads them: the demo lists exactly what the config trades.
        let mut universe = Universe::new();
        let mut listed: Vec<ListedInstrument> = Vec::with_capacity(instruments.len());
        for (position, raw) in instruments.iter().enumerate() {
            let id = universe.add(raw)?;
            let ins = universe.get(id);
            let (base, quote) = (ins.base.as_str(), ins.quote.as_str());
            let params = InstrumentParams::for_base(base);
            let mut on: [Option<VenueListing>; VENUE_COUNT] = Default::default();
            for &venue in &vs {
                on[venue.index()] = Some(venue_listing(venue, base, quote, &params, position));
            }
            listed.push(ListedInstrument {
                name: ins.name.clone(),
                base: base.to_string(),
                quote: quote.to_string(),
                price_scale: params.price_scale,
                start_ticks: params.start_ticks,
                on,
            });
        }
        Ok(Listing {
            instruments: listed,
            venues: vs,
        })
    }

    pub fn instruments(&self) -> &[ListedInstrument] {
        &self.instruments
    }

    pub fn venues(&self) -> &[Venue] {
        &self.venues
    }

    /// The same listing with settlements every `hours × funding_hour_ms` instead of on the real
    /// clock (the accelerated funding clock); stated intervals and rates do not change.
    pub fn with_funding_hour(mut self, funding_hour_ms: i64) -> Listing {
        let hour = funding_hour_ms.max(1);
        for ins in &mut self.instruments {
            for l in ins.on.iter_mut().flatten() {
                l.funding_hour_ms = hour;
            }
        }
        self
    }

    pub fn carries(&self, venue: Venue) -> bool {
        self.venues.contains(&venue)
    }

    /// The instrument position of a venue symbol (exact, case-sensitive as the venue spells it).
    pub fn find(&self, venue: Venue, symbol: &str) -> Option<usize> {
        self.instruments
            .iter()
            .position(|i| i.on(venue).is_some_and(|l| l.symbol == symbol))
    }

    /// The venue symbol and listing of an instrument position.
    pub fn get(&self, instrument: usize, venue: Venue) -> Option<&VenueListing> {
        self.instruments.get(instrument).and_then(|i| i.on(venue))
    }
}

/// The venue's own spelling of `BASE-QUOTE`.
///
/// This deliberately repeats `carry_feeds::venue::symbols::venue_symbol` instead of calling it: the
/// simulator is an independent oracle for carry's symbol mapping, so a mistake there must show
/// up as carry failing to subscribe here, not be copied into both sides. Keep the two apart.
pub fn venue_symbol(venue: Venue, base: &str, quote: &str) -> String {
    match (venue.exchange, venue.market) {
        (Exchange::Binance | Exchange::Bybit | Exchange::Bitget, _) => format!("{base}{quote}"),
        (Exchange::Okx, Market::Perp) => format!("{base}-{quote}-SWAP"),
        (Exchange::Okx, Market::Spot) => format!("{base}-{quote}"),
        (Exchange::Gate, _) => format!("{base}_{quote}"),
    }
}

/// Price level and granularity of an instrument, shared by all venues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InstrumentParams {
    price_scale: u32,
    start_ticks: i64,
    /// Base-unit lot scale of a typical perp (`10^-qty_scale` base units).
    qty_scale: u32,
    /// OKX `ctVal` and Gate `quanto_multiplier`, as (mantissa, scale).
    okx_ct_val: Decimal,
    gate_multiplier: Decimal,
}

impl InstrumentParams {
    fn for_base(base: &str) -> InstrumentParams {
        let known = |price: i64, price_scale: u32, qty_scale: u32, okx: Decimal, gate: Decimal| {
            InstrumentParams {
                price_scale,
                start_ticks: price * 10i64.pow(price_scale),
                qty_scale,
                okx_ct_val: okx,
                gate_multiplier: gate,
            }
        };
        match base {
            "BTC" => known(65_000, 1, 3, Decimal::new(1, 2), Decimal::new(1, 4)),
            "ETH" => known(3_400, 2, 3, Decimal::new(1, 1), Decimal::new(1, 2)),
            "SOL" => known(150, 2, 1, Decimal::ONE, Decimal::ONE),
            "BNB" => known(600, 2, 2, Decimal::new(1, 2), Decimal::new(1, 3)),
            _ => {
                // An unknown base still gets a stable, plausible price: from a hash of its name,
                // between 1 and 1000, quoted with about six significant digits.
                let h = base.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                let price = 1 + (h % 999) as i64;
                let digits = price.to_string().len() as u32;
                let price_scale = 6 - digits;
                let qty_scale = digits.saturating_sub(2);
                InstrumentParams {
                    price_scale,
                    start_ticks: price * 10i64.pow(price_scale),
                    qty_scale,
                    okx_ct_val: Decimal::new(1, qty_scale.saturating_sub(1)),
                    gate_multiplier: Decimal::new(1, qty_scale),
                }
            }
        }
    }
}

fn pow10_neg(scale: u32) -> Decimal {
    Decimal::new(1, scale)
}

fn venue_listing(
    venue: Venue,
    base: &str,
    quote: &str,
    p: &InstrumentParams,
    position: usize,
) -> VenueListing {
    let tick = pow10_neg(p.price_scale);
    let q = p.qty_scale;
    let spec = |lot_scale: u32, min: Decimal, min_notional: i64, contract: Option<Decimal>| {
        InstrumentSpec {
            tick_size: tick,
            lot_size: pow10_neg(lot_scale),
            min_qty: min,
            min_notional: Decimal::from(min_notional),
            contract_size: contract,
        }
    };
    // (spec, generated-size scale) per venue; contract venues quote whole contracts.
    let (spec, qty_scale) = match (venue.exchange, venue.market) {
        (Exchange::Binance, Market::Perp) => (spec(q, pow10_neg(q), 5, None), q),
        (Exchange::Binance, Market::Spot) => (spec(q + 2, pow10_neg(q + 2), 5, None), q + 2),
        (Exchange::Bybit, Market::Perp) => (spec(q, pow10_neg(q), 5, None), q),
        (Exchange::Bybit, Market::Spot) => (spec(q + 3, pow10_neg(q + 2), 1, None), q + 3),
        (Exchange::Okx, Market::Perp) => (
            InstrumentSpec {
                tick_size: tick,
                lot_size: Decimal::new(1, 2),
                min_qty: Decimal::new(1, 2),
                min_notional: Decimal::ZERO,
                contract_size: Some(p.okx_ct_val),
            },
            0,
        ),
        (Exchange::Okx, Market::Spot) => (spec(8, pow10_neg(q + 2), 0, None), q + 2),
        (Exchange::Bitget, Market::Perp) => (spec(q, pow10_neg(q), 5, None), q),
        (Exchange::Bitget, Market::Spot) => (spec(q + 1, Decimal::ZERO, 1, None), q + 1),
        (Exchange::Gate, Market::Perp) => (
            InstrumentSpec {
                tick_size: tick,
                lot_size: Decimal::ONE,
                min_qty: Decimal::ONE,
                min_notional: Decimal::ZERO,
                contract_size: Some(p.gate_multiplier),
            },
            0,
        ),
        (Exchange::Gate, Market::Spot) => (spec(q + 1, pow10_neg(q + 1), 1, None), q + 1),
    };
    // The maxima the public endpoints print; the private side refuses orders above them.
    let max_qty = match (venue.exchange, venue.market) {
        (Exchange::Binance, Market::Perp) => Decimal::from(1_000),
        (Exchange::Binance, Market::Spot) => Decimal::from(9_000),
        (Exchange::Bybit, Market::Perp) => Decimal::from(1_190),
        (Exchange::Bybit, Market::Spot) => Decimal::new(7_173_956_243, 8),
        (Exchange::Okx, Market::Perp) => Decimal::from(100_000_000),
        (Exchange::Okx, Market::Spot) => Decimal::from(10_000),
        (Exchange::Bitget, Market::Perp) => Decimal::from(1_000_000),
        (Exchange::Bitget, Market::Spot) => Decimal::from(10_000_000_000i64),
        (Exchange::Gate, Market::Perp) => Decimal::from(1_000_000),
        (Exchange::Gate, Market::Spot) => Decimal::from(10_000),
    };
    let funding_interval_hours = venue
        .is_perp()
        .then(|| INTERVAL_ROTATION[(venue.exchange as usize + position) % INTERVAL_ROTATION.len()]);
    VenueListing {
        symbol: venue_symbol(venue, base, quote),
        spec,
        qty_scale,
        max_qty,
        funding_interval_hours,
        funding_hour_ms: REAL_HOUR_MS,
    }
}

/// One hour on the real clock.
const REAL_HOUR_MS: i64 = 3_600_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Venue {
        s.parse().unwrap()
    }

    /// The same table as carry-feeds' own symbol test, kept separately on purpose (see
    /// [`venue_symbol`]): the venues' documented spellings, written down twice.
    #[test]
    fn symbols_follow_each_venue_spelling() {
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
        for (venue, symbol) in cases {
            assert_eq!(venue_symbol(v(venue), "BTC", "USDT"), symbol, "{venue}");
        }
    }

    #[test]
    fn listing_has_4h_and_1h_symbols_and_contract_sizes() {
        let l = Listing::new(&["btc-usdt".to_string()], &Venue::ALL).unwrap();
        let btc = &l.instruments()[0];
        assert_eq!(btc.name, "BTC-USDT");
        let hours: Vec<u32> = Venue::ALL
            .iter()
            .filter_map(|&v| btc.on(v).and_then(|x| x.funding_interval_hours))
            .collect();
        assert_eq!(hours, vec![8, 4, 8, 1, 8]);
        assert_eq!(
            btc.on(v("okx-perp")).unwrap().spec.contract_size,
            Some(Decimal::new(1, 2))
        );
        assert_eq!(
            btc.on(v("gate-perp")).unwrap().spec.contract_size,
            Some(Decimal::new(1, 4))
        );
        assert_eq!(
            btc.on(v("binance-spot")).unwrap().funding_interval_hours,
            None
        );
        assert_eq!(l.find(v("okx-perp"), "BTC-USDT-SWAP"), Some(0));
        assert_eq!(l.find(v("okx-spot"), "BTC-USDT-SWAP"), None);
    }

    #[test]
    fn next_funding_time_is_on_the_interval_grid() {
        let l = Listing::new(&["BTC-USDT".to_string()], &[v("bitget-perp")]).unwrap();
        let one_hour = l.get(0, v("bitget-perp")).unwrap();
        assert_eq!(one_hour.funding_interval_hours, Some(1));
        // 2024-01-01T00:30:00Z -> 01:00:00Z; exactly on a boundary -> the next one.
        assert_eq!(
            one_hour.next_funding_time_ms(1_704_069_000_000),
            1_704_070_800_000
        );
        assert_eq!(
            one_hour.next_funding_time_ms(1_704_070_800_000),
            1_704_074_400_000
        );
    }

    #[test]
    fn an_accelerated_funding_clock_compresses_the_schedule_but_not_the_stated_interval() {
        // One funding hour lasts 1 s: BTC's 8 h Binance leg settles every 8 s, its 1 h Bitget
        // leg every second; the venues still state 8 h and 1 h.
        let l = Listing::new(&["BTC-USDT".to_string()], &Venue::ALL)
            .unwrap()
            .with_funding_hour(1_000);
        let binance = l.get(0, v("binance-perp")).unwrap();
        let bitget = l.get(0, v("bitget-perp")).unwrap();
        assert_eq!(binance.funding_interval_ms(), Some(8 * 3_600_000));
        assert_eq!(binance.settlement_interval_ms(), Some(8_000));
        assert_eq!(bitget.settlement_interval_ms(), Some(1_000));
        assert_eq!(
            binance.next_funding_time_ms(1_700_000_003_500),
            1_700_000_008_000
        );
        assert_eq!(
            bitget.next_funding_time_ms(1_700_000_003_500),
            1_700_000_004_000
        );
        assert_eq!(
            l.get(0, v("binance-spot"))
                .unwrap()
                .settlement_interval_ms(),
            None
        );
    }

    #[test]
    fn bad_configs_are_named() {
        assert_eq!(
            Listing::new(&["BTCUSDT".into()], &Venue::ALL),
            Err(ListingError::Instrument(UniverseError::BadName(
                "BTCUSDT".into()
            )))
        );
        assert_eq!(
            Listing::new(&["BTC-USDT".into(), "btc-usdt".into()], &Venue::ALL),
            Err(ListingError::Instrument(UniverseError::Duplicate(
                "BTC-USDT".into()
            )))
        );
        assert_eq!(
            Listing::new(&["BTCUSDT".into()], &Venue::ALL)
                .unwrap_err()
                .to_string(),
            "sim: instrument \"BTCUSDT\" is not of the form BASE-QUOTE (e.g. BTC-USDT)"
        );
        assert_eq!(
            Listing::new(&[], &Venue::ALL),
            Err(ListingError::NoInstruments)
        );
        assert_eq!(
            Listing::new(&["BTC-USDT".into()], &[]),
            Err(ListingError::NoVenues)
        );
    }

    #[test]
    fn unknown_bases_get_a_stable_price() {
        let a = Listing::new(&["PEPE-USDT".into()], &Venue::ALL).unwrap();
        let b = Listing::new(&["PEPE-USDT".into()], &Venue::ALL).unwrap();
        assert_eq!(a, b);
        let i = &a.instruments()[0];
        assert!(i.start_ticks > 0);
        let price = Decimal::new(i.start_ticks, i.price_scale);
        assert!(
            price >= Decimal::ONE && price < Decimal::from(1000),
            "{price}"
        );
    }
}

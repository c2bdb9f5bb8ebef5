//! The pair table: every configured `[[pairs]]` entry resolved once, at start, into small indices
//! (instrument id, venues, the orientations it may trade), so the hot path never touches a string.
//!
//! An *orientation* is one concrete (long venue, short venue) choice. A fixed pair has one; a
//! spot–perp pair that allows a margin-short spot leg also has the reverse; an `auto` leg expands
//! to every candidate venue. Orientations always have at least one perp leg (two spot legs earn
//! no funding) and never short spot unless the pair allows it.
//!
//! Two pairs may not share a (venue, instrument): positions are kept per (venue, instrument), so
//! a shared leg would make it impossible to tell whose position is whose.

use rust_decimal::Decimal;

use crate::config::{max_order_qty, min_order_qty, ConfigError, DeciderConfig, PairConfig, Span};
use crate::instrument::{InstrumentId, Universe};
use crate::target::PairId;
use crate::venue::{Venue, VENUE_COUNT};

/// Longest pair label kept (it labels metrics).
const MAX_NAME_LEN: usize = 64;

/// One leg of a pair as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegChoice {
    Fixed(Venue),
    /// Picked among the pair's candidate venues when the pair is flat.
    Auto,
}

/// A concrete choice of legs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Orientation {
    pub long: Venue,
    pub short: Venue,
}

/// One resolved pair.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub id: PairId,
    /// Configured `name`, else `INSTRUMENT:LONG/SHORT`.
    pub name: String,
    pub instrument: InstrumentId,
    pub long: LegChoice,
    pub short: LegChoice,
    /// Every orientation this pair may trade, in a fixed order (configuration order).
    pub orientations: Vec<Orientation>,
    /// Venues any orientation uses.
    pub venues: Vec<Venue>,
    /// Base units per entry, if configured.
    pub order_qty: Option<Decimal>,
    /// Quote units per leg: the smaller of the pair's `max_notional` and
    /// `risk.max_notional_per_pair`.
    pub max_notional: Decimal,
    pub allow_margin_short_spot: bool,
}

impl Pair {
    /// Whether `venue` is one of this pair's legs or leg candidates.
    pub fn uses(&self, venue: Venue) -> bool {
        self.venues.contains(&venue)
    }
}

/// All configured pairs, indexed by [`PairId`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PairTable {
    pairs: Vec<Pair>,
}

fn parse_leg(key: &str, value: &str) -> Result<LegChoice, ConfigError> {
    if value == "auto" {
        return Ok(LegChoice::Auto);
    }
    value
        .parse::<Venue>()
        .map(LegChoice::Fixed)
        .map_err(|_| ConfigError::UnknownVenue {
            key: key.to_string(),
            value: value.to_string(),
            allows_auto: true,
        })
}

impl PairTable {
    /// Resolves and validates `cfg.pairs` against the universe (instruments and the venues each
    /// is listed on) and the margin model of every perp venue a pair may use.
    pub fn build(cfg: &DeciderConfig, universe: &Universe) -> Result<PairTable, ConfigError> {
        if cfg.pairs.is_empty() {
            return Err(ConfigError::invalid("pairs", "no pair is configured"));
        }
        if cfg.pairs.len() > u16::MAX as usize {
            return Err(ConfigError::invalid("pairs", "too many pairs"));
        }
        let mut pairs: Vec<Pair> = Vec::with_capacity(cfg.pairs.len());
        for (i, pc) in cfg.pairs.iter().enumerate() {
            let pair = resolve(i, pc, cfg, universe)?;
            for other in &pairs {
                if other.instrument != pair.instrument {
                    continue;
                }
                if let Some(shared) = pair.venues.iter().find(|v| other.uses(**v)) {
                    return Err(ConfigError::invalid(
                        format!("pairs[{i}]"),
                        format!(
                            "shares {} on {shared} with pairs[{}]: positions are kept per venue and instrument, so two pairs cannot share a leg",
                            universe.get(pair.instrument).name,
                            other.id.index()
                        ),
                    ));
                }
            }
            if let Some(other) = pairs.iter().find(|p| p.name == pair.name) {
                return Err(ConfigError::invalid(
                    format!("pairs[{i}].name"),
                    format!(
                        "{:?} is already the name of pairs[{}]",
                        pair.name,
                        other.id.index()
                    ),
                ));
            }
            pairs.push(pair);
        }
        Ok(PairTable { pairs })
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The pair with this id; ids come from this table, so an unknown one is a caller bug.
    pub fn get(&self, id: PairId) -> Option<&Pair> {
        self.pairs.get(id.index())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Pair> {
        self.pairs.iter()
    }

    /// The pair with this name.
    pub fn find(&self, name: &str) -> Option<PairId> {
        self.pairs.iter().find(|p| p.name == name).map(|p| p.id)
    }
}

fn resolve(
    i: usize,
    pc: &PairConfig,
    cfg: &DeciderConfig,
    universe: &Universe,
) -> Result<Pair, ConfigError> {
    let key = |field: &str| format!("pairs[{i}].{field}");
    let canonical = pc.instrument.trim().to_ascii_uppercase();
    let instrument = universe
        .find(&canonical)
        .ok_or_else(|| ConfigError::UnknownInstrument {
            key: key("instrument"),
            value: pc.instrument.clone(),
        })?;
    let long = parse_leg(&key("long"), &pc.long)?;
    let short = parse_leg(&key("short"), &pc.short)?;

    let mut candidates: Vec<Venue> = Vec::new();
    for (j, name) in pc.venues.iter().enumerate() {
        let v = name
            .parse::<Venue>()
            .map_err(|_| ConfigError::UnknownVenue {
                key: format!("pairs[{i}].venues[{j}]"),
                value: name.clone(),
                allows_auto: false,
            })?;
        if candidates.contains(&v) {
            return Err(ConfigError::invalid(
                format!("pairs[{i}].venues[{j}]"),
                format!("{v} is listed twice"),
            ));
        }
        candidates.push(v);
    }
    let any_auto = long == LegChoice::Auto || short == LegChoice::Auto;
    if any_auto && candidates.is_empty() {
        return Err(ConfigError::invalid(
            key("venues"),
            "an \"auto\" leg needs candidate venues, e.g. venues = [\"binance-perp\", \"bybit-perp\"]",
        ));
    }
    if !any_auto && !candidates.is_empty() {
        return Err(ConfigError::invalid(
            key("venues"),
            "only used with an \"auto\" leg; both legs are fixed",
        ));
    }

    // Each fixed leg: listed for the instrument; spot shorts only where allowed.
    let listed = |field: &str, v: Venue| {
        if universe.symbol(instrument, v).is_none() {
            return Err(ConfigError::invalid(
                key(field),
                format!("{canonical} has no symbol on {v} (not configured there)"),
            ));
        }
        Ok(())
    };
    if let LegChoice::Fixed(v) = long {
        listed("long", v)?;
    }
    if let LegChoice::Fixed(v) = short {
        listed("short", v)?;
        if !v.is_perp() && !pc.allow_margin_short_spot {
            return Err(ConfigError::invalid(
                key("short"),
                format!("{v} is a spot market; a short spot leg is a margin short and needs allow_margin_short_spot = true"),
            ));
        }
    }
    for (j, v) in candidates.iter().enumerate() {
        if universe.symbol(instrument, *v).is_none() {
            return Err(ConfigError::invalid(
                format!("pairs[{i}].venues[{j}]"),
                format!("{canonical} has no symbol on {v} (not configured there)"),
            ));
        }
    }
    if let (LegChoice::Fixed(l), LegChoice::Fixed(s)) = (long, short) {
        if l == s {
            return Err(ConfigError::invalid(
                key("short"),
                format!(
                    "the same venue as the long leg ({l}); the legs must be on different markets"
                ),
            ));
        }
        if !l.is_perp() && !s.is_perp() {
            return Err(ConfigError::invalid(
                format!("pairs[{i}]"),
                "both legs are spot, which earns no funding; one leg must be a perp",
            ));
        }
    }

    let longs: Vec<Venue> = match long {
        LegChoice::Fixed(v) => vec![v],
        LegChoice::Auto => candidates.clone(),
    };
    let shorts: Vec<Venue> = match short {
        LegChoice::Fixed(v) => vec![v],
        LegChoice::Auto => candidates.clone(),
    };
    let mut orientations = Vec::new();
    let admissible = |o: Orientation| {
        o.long != o.short
            && (o.long.is_perp() || o.short.is_perp())
            && (o.short.is_perp() || pc.allow_margin_short_spot)
    };
    for &l in &longs {
        for &s in &shorts {
            let o = Orientation { long: l, short: s };
            if admissible(o) {
                orientations.push(o);
            }
        }
    }
    // A fixed spot–perp pair may run reversed (perp long, spot margin-short) when allowed.
    if let (LegChoice::Fixed(l), LegChoice::Fixed(s)) = (long, short) {
        let reverse = Orientation { long: s, short: l };
        if !l.is_perp() && s.is_perp() && pc.allow_margin_short_spot {
            orientations.push(reverse);
        }
    }
    if orientations.is_empty() {
        return Err(ConfigError::invalid(
            key("venues"),
            "no admissible pair of legs: auto legs need two different venues, one of them a perp (and a spot short needs allow_margin_short_spot = true)",
        ));
    }
    let mut venues: Vec<Venue> = Vec::new();
    for o in &orientations {
        for v in [o.long, o.short] {
            if !venues.contains(&v) {
                venues.push(v);
            }
        }
    }
    for v in &venues {
        if v.is_perp() {
            cfg.validate_margin_model(*v)?;
        }
    }

    if let Some(q) = pc.order_qty {
        Span::closed(min_order_qty(), max_order_qty()).check(
            &key("order_qty"),
            q,
            " (base units; sizes are cut to 8 decimals)",
        )?;
    }
    if let Some(n) = pc.max_notional {
        if n <= Decimal::ZERO {
            return Err(ConfigError::invalid(
                key("max_notional"),
                format!("must be above 0 (quote units), got {n}"),
            ));
        }
        if n > cfg.risk.max_notional_per_pair {
            return Err(ConfigError::invalid(
                key("max_notional"),
                format!(
                    "{n} is above risk.max_notional_per_pair ({})",
                    cfg.risk.max_notional_per_pair
                ),
            ));
        }
    }
    if pc.order_qty.is_none() && pc.max_notional.is_none() {
        return Err(ConfigError::invalid(
            format!("pairs[{i}]"),
            "set order_qty (base units per entry) or max_notional (quote units), or both",
        ));
    }
    let max_notional = pc
        .max_notional
        .unwrap_or(cfg.risk.max_notional_per_pair)
        .min(cfg.risk.max_notional_per_pair);

    let leg_name = |c: LegChoice| match c {
        LegChoice::Fixed(v) => v.as_str(),
        LegChoice::Auto => "auto",
    };
    let name = match &pc.name {
        Some(n) => {
            let n = n.trim();
            if n.is_empty()
                || n.len() > MAX_NAME_LEN
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_:/.".contains(&b))
            {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("must be 1 to {MAX_NAME_LEN} ASCII letters, digits or - _ : / . (it labels metrics), got {n:?}"),
                ));
            }
            n.to_string()
        }
        None => format!("{canonical}:{}/{}", leg_name(long), leg_name(short)),
    };
    debug_assert!(venues.len() <= VENUE_COUNT);
    Ok(Pair {
        id: PairId(i as u16),
        name,
        instrument,
        long,
        short,
        orientations,
        venues,
        order_qty: pc.order_qty,
        max_notional,
        allow_margin_short_spot: pc.allow_margin_short_spot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BreakerConfig, RiskConfig, StrategyConfig, VenueParams};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn v(s: &str) -> Venue {
        s.parse().unwrap()
    }

    fn universe() -> Universe {
        let mut u = Universe::new();
        let btc = u.add("BTC-USDT").unwrap();
        let eth = u.add("ETH-USDT").unwrap();
        for venue in Venue::ALL {
            u.set_symbol(btc, venue, "BTCUSDT");
        }
        for venue in ["binance-perp", "bybit-perp", "okx-perp", "binance-spot"] {
            u.set_symbol(eth, v(venue), "ETHUSDT");
        }
        u
    }

    fn pair(instrument: &str, long: &str, short: &str, venues: &[&str]) -> PairConfig {
        PairConfig {
            name: None,
            instrument: instrument.into(),
            long: long.into(),
            short: short.into(),
            venues: venues.iter().map(|s| s.to_string()).collect(),
            order_qty: Some(d("0.01")),
            max_notional: None,
            allow_margin_short_spot: false,
        }
    }

    fn config(pairs: Vec<PairConfig>) -> DeciderConfig {
        DeciderConfig {
            pairs,
            strategy: StrategyConfig {
                entry_apr: d("0.1"),
                exit_apr: d("0.02"),
                use_predicted_rate: false,
                expected_holding_hours: d("72"),
                fallback_interval_hours: 8,
                fee: Default::default(),
                crossing: Default::default(),
                spot_borrow_apr: Some(d("0.05")),
            },
            risk: RiskConfig {
                max_notional_per_pair: d("10000"),
                max_total_notional: d("50000"),
                min_liquidation_distance: d("0.15"),
                max_margin_ratio: d("0.5"),
                default_maintenance_margin_rate: d("0.005"),
                default_leverage: d("2"),
            },
            breakers: BreakerConfig::default(),
            venues: [VenueParams::default(); VENUE_COUNT],
        }
    }

    #[test]
    fn orientations_of_fixed_reversible_and_auto_pairs() {
        let mut reversible = pair("BTC-USDT", "binance-spot", "binance-perp", &[]);
        reversible.allow_margin_short_spot = true;
        let cfg = config(vec![
            pair("BTC-USDT", "bybit-spot", "bybit-perp", &[]),
            reversible,
            pair(
                "ETH-USDT",
                "auto",
                "auto",
                &["binance-perp", "bybit-perp", "binance-spot"],
            ),
            pair("BTC-USDT", "okx-spot", "auto", &["okx-perp", "gate-perp"]),
        ]);
        let t = PairTable::build(&cfg, &universe()).unwrap();
        let o = |l: &str, s: &str| Orientation {
            long: v(l),
            short: v(s),
        };
        let p = |i: u16| t.get(PairId(i)).unwrap();
        assert_eq!(p(0).orientations, vec![o("bybit-spot", "bybit-perp")]);
        assert_eq!(p(0).name, "BTC-USDT:bybit-spot/bybit-perp");
        assert_eq!(
            p(1).orientations,
            vec![
                o("binance-spot", "binance-perp"),
                o("binance-perp", "binance-spot")
            ]
        );
        // Auto: every ordered pair of different candidates, no spot short (not allowed).
        assert_eq!(
            p(2).orientations,
            vec![
                o("binance-perp", "bybit-perp"),
                o("bybit-perp", "binance-perp"),
                o("binance-spot", "binance-perp"),
                o("binance-spot", "bybit-perp"),
            ]
        );
        assert_eq!(p(2).name, "ETH-USDT:auto/auto");
        assert_eq!(
            p(3).orientations,
            vec![o("okx-spot", "okx-perp"), o("okx-spot", "gate-perp")]
        );
        assert_eq!(p(3).max_notional, d("10000"));
        assert_eq!(t.find("ETH-USDT:auto/auto"), Some(PairId(2)));
    }

    #[test]
    fn errors_name_the_key() {
        let cases: Vec<(PairConfig, &str, &str)> = vec![
            (
                pair("BTC-USDT", "binanse-perp", "bybit-perp", &[]),
                "pairs[0].long",
                "unknown venue \"binanse-perp\"",
            ),
            (
                pair("BTC-USDC", "binance-spot", "bybit-perp", &[]),
                "pairs[0].instrument",
                "unknown instrument \"BTC-USDC\"",
            ),
            (
                pair("ETH-USDT", "gate-spot", "bybit-perp", &[]),
                "pairs[0].long",
                "ETH-USDT has no symbol on gate-spot",
            ),
            (
                pair("BTC-USDT", "bybit-perp", "binance-spot", &[]),
                "pairs[0].short",
                "allow_margin_short_spot",
            ),
            (
                pair("BTC-USDT", "bybit-perp", "bybit-perp", &[]),
                "pairs[0].short",
                "same venue",
            ),
            (
                pair("BTC-USDT", "bybit-spot", "auto", &[]),
                "pairs[0].venues",
                "needs candidate venues",
            ),
            (
                pair("BTC-USDT", "auto", "auto", &["bybit-perp", "okx-prep"]),
                "pairs[0].venues[1]",
                "unknown venue \"okx-prep\"",
            ),
            (
                pair("BTC-USDT", "auto", "auto", &["bybit-perp", "bybit-perp"]),
                "pairs[0].venues[1]",
                "listed twice",
            ),
            (
                pair("BTC-USDT", "auto", "auto", &["bybit-spot", "okx-spot"]),
                "pairs[0].venues",
                "no admissible pair of legs",
            ),
            (
                pair("BTC-USDT", "binance-spot", "bybit-perp", &["okx-perp"]),
                "pairs[0].venues",
                "only used with an \"auto\" leg",
            ),
        ];
        for (pc, key, reason) in cases {
            let err = PairTable::build(&config(vec![pc]), &universe()).unwrap_err();
            assert_eq!(err.key(), key, "{err}");
            assert!(err.to_string().contains(reason), "{err}");
        }
        let mut both_spot = pair("BTC-USDT", "binance-spot", "bybit-spot", &[]);
        both_spot.allow_margin_short_spot = true;
        let err = PairTable::build(&config(vec![both_spot]), &universe()).unwrap_err();
        assert_eq!(err.key(), "pairs[0]");
        let mut no_size = pair("BTC-USDT", "binance-spot", "bybit-perp", &[]);
        no_size.order_qty = None;
        let err = PairTable::build(&config(vec![no_size]), &universe()).unwrap_err();
        assert!(err.to_string().contains("order_qty"), "{err}");
        let mut big = pair("BTC-USDT", "binance-spot", "bybit-perp", &[]);
        big.max_notional = Some(d("20000"));
        let err = PairTable::build(&config(vec![big]), &universe()).unwrap_err();
        assert_eq!(err.key(), "pairs[0].max_notional");
        let mut bad_name = pair("BTC-USDT", "binance-spot", "bybit-perp", &[]);
        bad_name.name = Some("btc carry \"main\"".into());
        let err = PairTable::build(&config(vec![bad_name]), &universe()).unwrap_err();
        assert_eq!(err.key(), "pairs[0].name");
    }

    #[test]
    fn pairs_may_not_share_a_leg_and_margin_model_is_checked() {
        let cfg = config(vec![
            pair("BTC-USDT", "binance-spot", "binance-perp", &[]),
            pair("BTC-USDT", "auto", "auto", &["bybit-perp", "binance-perp"]),
        ]);
        let err = PairTable::build(&cfg, &universe()).unwrap_err();
        assert_eq!(err.key(), "pairs[1]");
        assert!(
            err.to_string().contains("binance-perp with pairs[0]"),
            "{err}"
        );
        // Same venues, different instruments: fine.
        let cfg = config(vec![
            pair("BTC-USDT", "binance-spot", "binance-perp", &[]),
            pair("ETH-USDT", "binance-spot", "binance-perp", &[]),
        ]);
        assert_eq!(PairTable::build(&cfg, &universe()).unwrap().len(), 2);
        // 20x on a venue a pair uses cannot stay 15 % from liquidation.
        let mut cfg = config(vec![pair("BTC-USDT", "binance-spot", "binance-perp", &[])]);
        cfg.venues[v("binance-perp").index()].leverage = Some(d("20"));
        let err = PairTable::build(&cfg, &universe()).unwrap_err();
        assert_eq!(err.key(), "risk.min_liquidation_distance", "{err}");
        assert!(err.to_string().contains("binance-perp"), "{err}");
        assert_eq!(
            PairTable::build(&config(vec![]), &universe())
                .unwrap_err()
                .key(),
            "pairs"
        );
    }
}

//! The engine's configuration, checked once at start: the decision half's `[[pairs]]`,
//! `[strategy]`, `[risk]` and `[breakers]` tables of the top-level TOML, plus the per-venue
//! [`VenueParams`] the binary hands over from its `[venues.<venue-id>]` sections; the execution
//! half's `[execution]` table ([`ExecConfig`]); and what the engine is opened with
//! ([`EngineConfig`]). [`DeciderConfig::validate`], the pair table and [`ExecConfig::validate`]
//! check every value; every error names the key it is about
//! (`strategy.exit_apr: must be below entry_apr (0.1), got 0.2`).
//!
//! Money and rates are `rust_decimal::Decimal`. In TOML they may be written as strings
//! (`"0.0004"`, exact, recommended), integers (`50000`) or floats (`0.0004`): a TOML float is
//! read through its shortest round-trip text, so `0.0004` becomes exactly `0.0004`, but a float
//! literal with more than 15 significant digits may not survive; use a string for those.
//! Rates and fees are plain fractions (0.0005 = 5 bp), APRs are fractions per year (0.1 = 10 %).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::execution::reconciler::{FirstLeg, ReconcileParams};
use crate::market::venue::{Venue, VENUE_COUNT};

/// A configuration error, always naming the key (dotted path, with `pairs[i]` indices).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A venue id that names no venue.
    #[error("{key}: unknown venue {value:?} (expected one of binance-perp, binance-spot, bybit-perp, bybit-spot, okx-perp, okx-spot, bitget-perp, bitget-spot, gate-perp, gate-spot{auto})", auto = if *allows_auto { " or \"auto\"" } else { "" })]
    UnknownVenue {
        /// The key.
        key: String,
        /// What it said.
        value: String,
        /// Whether the key also takes `auto`.
        allows_auto: bool,
    },
    /// An instrument the universe does not hold.
    #[error("{key}: unknown instrument {value:?} (not in the configured universe)")]
    UnknownInstrument {
        /// The key.
        key: String,
        /// What it said.
        value: String,
    },
    /// Any other value out of its range or inconsistent with another.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// What is wrong, with the value.
        reason: String,
    },
}

impl ConfigError {
    /// The key the error is about, e.g. `pairs[1].long`.
    pub fn key(&self) -> &str {
        match self {
            ConfigError::UnknownVenue { key, .. }
            | ConfigError::UnknownInstrument { key, .. }
            | ConfigError::Invalid { key, .. } => key,
        }
    }

    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// The values a decimal setting may take. Checked at load and stated in the refusal
/// (`strategy.entry_apr: must be above 0 and at most 10 (1000 % a year), got 12`), so that no
/// later multiplication of settings can overflow and the README's ranges and the errors agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// The lower bound.
    pub lo: Decimal,
    /// `lo` itself is allowed.
    pub lo_inclusive: bool,
    /// The upper bound.
    pub hi: Decimal,
    /// `hi` itself is allowed.
    pub hi_inclusive: bool,
}

impl Span {
    /// `lo ≤ v ≤ hi`.
    pub fn closed(lo: Decimal, hi: Decimal) -> Span {
        Span {
            lo,
            lo_inclusive: true,
            hi,
            hi_inclusive: true,
        }
    }

    /// `lo < v < hi`.
    pub fn open(lo: Decimal, hi: Decimal) -> Span {
        Span {
            lo,
            lo_inclusive: false,
            hi,
            hi_inclusive: false,
        }
    }

    /// `lo < v ≤ hi`.
    pub fn above(lo: Decimal, hi: Decimal) -> Span {
        Span {
            lo,
            lo_inclusive: false,
            hi,
            hi_inclusive: true,
        }
    }

    /// `lo ≤ v < hi`.
    pub fn below(lo: Decimal, hi: Decimal) -> Span {
        Span {
            lo,
            lo_inclusive: true,
            hi,
            hi_inclusive: false,
        }
    }

    /// Whether `v` is inside.
    pub fn contains(&self, v: Decimal) -> bool {
        let lo_ok = if self.lo_inclusive {
            v >= self.lo
        } else {
            v > self.lo
        };
        let hi_ok = if self.hi_inclusive {
            v <= self.hi
        } else {
            v < self.hi
        };
        lo_ok && hi_ok
    }

    /// `Ok` when `v` is inside; else an error naming `key`, the span and `note` (a unit or an
    /// example, e.g. ` (quote units)`).
    pub fn check(&self, key: &str, v: Decimal, note: &str) -> Result<(), ConfigError> {
        if self.contains(v) {
            Ok(())
        } else {
            Err(ConfigError::invalid(
                key,
                format!("must be {self}{note}, got {v}"),
            ))
        }
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lo = if self.lo_inclusive {
            "at least"
        } else {
            "above"
        };
        let hi = if self.hi_inclusive {
            "at most"
        } else {
            "below"
        };
        write!(f, "{lo} {} and {hi} {}", self.lo, self.hi)
    }
}

/// `Ok` when `lo ≤ v ≤ hi`; else an error naming `key`: `must be 1..=24, got 0`.
pub fn check_count(key: &str, v: u64, lo: u64, hi: u64, unit: &str) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            format!("must be {lo}..={hi}{unit}, got {v}"),
        ))
    }
}

/// Largest notional any limit may name, in quote units: a trillion, far above any account, and
/// small enough that a notional times a price or a rate stays far inside `Decimal`.
pub fn max_notional() -> Decimal {
    Decimal::from(1_000_000_000_000u64)
}

/// Largest `order_qty`, base units.
pub fn max_order_qty() -> Decimal {
    Decimal::from(1_000_000_000u64)
}

/// Smallest `order_qty`: entry sizes are cut to 8 decimals, so anything less is always zero.
pub fn min_order_qty() -> Decimal {
    Decimal::new(1, 8)
}

/// Longest staleness or reject window a breaker may be given: a day.
pub const MAX_WINDOW_MS: u64 = 86_400_000;

/// Fee rates (per fill) a venue may be configured with: a small rebate up to 1 %.
pub fn fee_span() -> Span {
    Span::open(Decimal::new(-1, 2), Decimal::new(1, 2))
}

/// Leverage a perp may run at.
pub fn leverage_span() -> Span {
    Span::closed(Decimal::ONE, Decimal::from(125))
}

/// One `[[pairs]]` entry: an instrument traded delta-neutral across two legs.
///
/// `long` and `short` are venue ids (`binance-spot`, `bybit-perp`, ...) or `"auto"`; an auto leg
/// is chosen among `venues` when the pair is flat, as the best-paying combination, and never
/// changes while a position is open. Size with `order_qty` (base units per entry) and/or
/// `max_notional` (quote units); when both are set the smaller wins.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairConfig {
    /// Label for metrics and views; defaults to `INSTRUMENT:LONG/SHORT`.
    #[serde(default)]
    pub name: Option<String>,
    /// Canonical instrument, `BASE-QUOTE`.
    pub instrument: String,
    /// The long leg: a venue id, or `auto`.
    pub long: String,
    /// The short leg: a venue id, or `auto`.
    pub short: String,
    /// Candidate venues for `auto` legs.
    #[serde(default)]
    pub venues: Vec<String>,
    /// Base units per entry.
    #[serde(default)]
    pub order_qty: Option<Decimal>,
    /// Quote units: the most this pair may hold on either leg.
    #[serde(default)]
    pub max_notional: Option<Decimal>,
    /// Permit a short spot leg (a margin short, which pays borrow interest). Off by default:
    /// without it a spot leg is only ever long.
    #[serde(default)]
    pub allow_margin_short_spot: bool,
}

/// Which fee the edge calculation charges per fill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeeKind {
    /// Entries and exits cross the book (the default, and what execution's IOC orders do).
    #[default]
    Taker,
    /// Charge the maker fee (for orders that rest on the book).
    Maker,
}

/// How much of the bid-ask spread one crossing costs, relative to mid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Crossing {
    /// Taking liquidity pays mid → touch, half the spread (the default).
    #[default]
    HalfSpread,
    /// Charge the whole spread per crossing: conservative for books that move away between the
    /// decision and the fill.
    FullSpread,
}

/// `[strategy]`: when to enter and exit.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// Enter when the net APR (after round-trip costs) reaches this.
    pub entry_apr: Decimal,
    /// Exit when the held pair's gross APR falls below this (or below zero: a sign flip always
    /// exits). Must be below `entry_apr`: the gap is the hysteresis band.
    pub exit_apr: Decimal,
    /// Use the venue's predicted rate for the next interval where it publishes one.
    #[serde(default)]
    pub use_predicted_rate: bool,
    /// Holding time over which round-trip costs are annualized.
    #[serde(default = "default_holding_hours")]
    pub expected_holding_hours: Decimal,
    /// Funding interval assumed until the venue states one or two settlements are observed.
    #[serde(default = "default_fallback_interval_hours")]
    pub fallback_interval_hours: u32,
    /// Which fee an entry and an exit pay per fill.
    #[serde(default)]
    pub fee: FeeKind,
    /// How much of the spread one crossing of a book costs.
    #[serde(default)]
    pub crossing: Crossing,
    /// Borrow cost of a margin-short spot leg, per year. Required when any pair allows one.
    #[serde(default)]
    pub spot_borrow_apr: Option<Decimal>,
}

fn default_holding_hours() -> Decimal {
    Decimal::from(72)
}
fn default_fallback_interval_hours() -> u32 {
    8
}

/// `[risk]`: exposure limits and the margin model.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// Quote units, per pair, on either leg.
    pub max_notional_per_pair: Decimal,
    /// Quote units, summed over pairs (a pair counts its larger leg).
    pub max_total_notional: Decimal,
    /// Force-exit a pair when any perp leg's `|mark − liq| / mark` falls below this.
    #[serde(default = "default_min_liquidation_distance")]
    pub min_liquidation_distance: Decimal,
    /// Force-exit a pair when any perp leg's maintenance margin / equity rises above this.
    #[serde(default = "default_max_margin_ratio")]
    pub max_margin_ratio: Decimal,
    /// Used where a venue has no `maintenance_margin_rate`.
    #[serde(default = "default_mmr")]
    pub default_maintenance_margin_rate: Decimal,
    /// Used where a venue has no `leverage`.
    #[serde(default = "default_leverage")]
    pub default_leverage: Decimal,
}

fn default_min_liquidation_distance() -> Decimal {
    Decimal::new(15, 2)
}
fn default_max_margin_ratio() -> Decimal {
    Decimal::new(5, 1)
}
fn default_mmr() -> Decimal {
    Decimal::new(5, 3)
}
fn default_leverage() -> Decimal {
    Decimal::TWO
}

/// `[breakers]`: when feeds count as stale and rejects as too many.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// A perp's funding is stale this long after its last update. OKX pushes funding only every
    /// 30 to 90 s, hence the generous default.
    #[serde(default = "default_funding_ttl_ms")]
    pub funding_ttl_ms: u64,
    /// A top of book is stale this long after its last update.
    #[serde(default = "default_quote_ttl_ms")]
    pub quote_ttl_ms: u64,
    /// The window, in ms, over which rejects and retries are counted per venue.
    #[serde(default = "default_reject_window_ms")]
    pub reject_window_ms: u64,
    /// Entries on a venue pause when more rejects (or retries) than this arrive in one window.
    #[serde(default = "default_max_rejects")]
    pub max_rejects_per_window: u32,
}

fn default_funding_ttl_ms() -> u64 {
    180_000
}
fn default_quote_ttl_ms() -> u64 {
    10_000
}
fn default_reject_window_ms() -> u64 {
    60_000
}
fn default_max_rejects() -> u32 {
    5
}

impl Default for BreakerConfig {
    fn default() -> BreakerConfig {
        BreakerConfig {
            funding_ttl_ms: default_funding_ttl_ms(),
            quote_ttl_ms: default_quote_ttl_ms(),
            reject_window_ms: default_reject_window_ms(),
            max_rejects_per_window: default_max_rejects(),
        }
    }
}

/// What the engine needs to know about one venue; the binary fills it from
/// `[venues.<venue-id>]` (`taker_fee`, `maker_fee`, `maintenance_margin_rate`, `leverage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueParams {
    /// Fraction of notional per taker fill (0.0005 = 5 bp).
    pub taker_fee: Decimal,
    /// Fraction of notional per maker fill; negative for a rebate.
    pub maker_fee: Decimal,
    /// Perps only; `[risk] default_maintenance_margin_rate` where absent.
    #[serde(default)]
    pub maintenance_margin_rate: Option<Decimal>,
    /// Leverage perps run at on this venue; `[risk] default_leverage` where absent.
    #[serde(default)]
    pub leverage: Option<Decimal>,
}

impl Default for VenueParams {
    /// A deliberately expensive placeholder (10 bp either way) for venues nobody configured, so a
    /// forgotten fee overstates costs instead of inventing edge.
    fn default() -> VenueParams {
        VenueParams {
            taker_fee: Decimal::new(1, 3),
            maker_fee: Decimal::new(1, 3),
            maintenance_margin_rate: None,
            leverage: None,
        }
    }
}

/// Everything [`crate::decision::decider::Decider::new`] needs besides the universe.
#[derive(Clone, Debug, PartialEq)]
pub struct DeciderConfig {
    /// The `[[pairs]]` entries.
    pub pairs: Vec<PairConfig>,
    /// `[strategy]`.
    pub strategy: StrategyConfig,
    /// `[risk]`.
    pub risk: RiskConfig,
    /// `[breakers]`.
    pub breakers: BreakerConfig,
    /// Indexed by [`Venue::index`].
    pub venues: [VenueParams; VENUE_COUNT],
}

impl VenueParams {
    /// The fee the strategy charges per fill on this venue.
    pub fn fee(&self, kind: FeeKind) -> Decimal {
        match kind {
            FeeKind::Taker => self.taker_fee,
            FeeKind::Maker => self.maker_fee,
        }
    }
}

impl DeciderConfig {
    /// Maintenance margin rate on `venue`, falling back to the risk default.
    pub fn maintenance_margin_rate(&self, venue: Venue) -> Decimal {
        self.venues[venue.index()]
            .maintenance_margin_rate
            .unwrap_or(self.risk.default_maintenance_margin_rate)
    }

    /// Leverage on `venue`, falling back to the risk default.
    pub fn leverage(&self, venue: Venue) -> Decimal {
        self.venues[venue.index()]
            .leverage
            .unwrap_or(self.risk.default_leverage)
    }

    /// Checks the strategy, risk and breaker tables and the margin model of every perp venue a
    /// pair may use. Pair entries themselves are checked against the universe when the pair
    /// table is built.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.strategy;
        let ten = Decimal::from(10);
        Span::above(Decimal::ZERO, ten).check(
            "strategy.entry_apr",
            s.entry_apr,
            " (1000 % a year)",
        )?;
        if s.exit_apr >= s.entry_apr {
            return Err(ConfigError::invalid(
                "strategy.exit_apr",
                format!(
                    "must be below entry_apr ({}), got {}",
                    s.entry_apr, s.exit_apr
                ),
            ));
        }
        // A sign flip always exits, so a threshold below zero would never be the one that acts.
        Span::below(Decimal::ZERO, s.entry_apr).check(
            "strategy.exit_apr",
            s.exit_apr,
            " (entry_apr; a sign flip always exits)",
        )?;
        Span::closed(
            Decimal::ONE,
            Decimal::from(crate::decision::money::HOURS_PER_YEAR),
        )
        .check(
            "strategy.expected_holding_hours",
            s.expected_holding_hours,
            " (an hour to a year)",
        )?;
        check_count(
            "strategy.fallback_interval_hours",
            s.fallback_interval_hours.into(),
            1,
            24,
            "",
        )?;
        if let Some(b) = s.spot_borrow_apr {
            Span::closed(Decimal::ZERO, ten).check("strategy.spot_borrow_apr", b, "")?;
        }
        if s.spot_borrow_apr.is_none() {
            if let Some(i) = self.pairs.iter().position(|p| p.allow_margin_short_spot) {
                return Err(ConfigError::invalid(
                    "strategy.spot_borrow_apr",
                    format!("required because pairs[{i}].allow_margin_short_spot = true (a margin short pays borrow interest)"),
                ));
            }
        }

        let r = &self.risk;
        let notional = Span::above(Decimal::ZERO, max_notional());
        notional.check(
            "risk.max_notional_per_pair",
            r.max_notional_per_pair,
            " (quote units)",
        )?;
        notional.check(
            "risk.max_total_notional",
            r.max_total_notional,
            " (quote units)",
        )?;
        if r.max_total_notional < r.max_notional_per_pair {
            return Err(ConfigError::invalid(
                "risk.max_total_notional",
                format!(
                    "must be at least max_notional_per_pair ({}), got {}",
                    r.max_notional_per_pair, r.max_total_notional
                ),
            ));
        }
        let unit = Span::open(Decimal::ZERO, Decimal::ONE);
        unit.check(
            "risk.min_liquidation_distance",
            r.min_liquidation_distance,
            "",
        )?;
        unit.check(
            "risk.default_maintenance_margin_rate",
            r.default_maintenance_margin_rate,
            "",
        )?;
        Span::above(Decimal::ZERO, Decimal::ONE).check(
            "risk.max_margin_ratio",
            r.max_margin_ratio,
            "",
        )?;
        leverage_span().check("risk.default_leverage", r.default_leverage, "")?;

        let b = &self.breakers;
        for (key, v) in [
            ("breakers.funding_ttl_ms", b.funding_ttl_ms),
            ("breakers.quote_ttl_ms", b.quote_ttl_ms),
            ("breakers.reject_window_ms", b.reject_window_ms),
        ] {
            check_count(key, v, 1, MAX_WINDOW_MS, " ms (a day)")?;
        }
        check_count(
            "breakers.max_rejects_per_window",
            b.max_rejects_per_window.into(),
            1,
            10_000,
            "",
        )?;

        for v in Venue::ALL {
            let p = &self.venues[v.index()];
            for (field, fee) in [("taker_fee", p.taker_fee), ("maker_fee", p.maker_fee)] {
                fee_span().check(
                    &format!("venues.{v}.{field}"),
                    fee,
                    " (a fee rate: 0.0005 = 5 bp)",
                )?;
            }
            if let Some(l) = p.leverage {
                leverage_span().check(&format!("venues.{v}.leverage"), l, "")?;
            }
            if let Some(m) = p.maintenance_margin_rate {
                unit.check(&format!("venues.{v}.maintenance_margin_rate"), m, "")?;
            }
        }
        Ok(())
    }

    /// Checks that a perp position on `venue` opens safely inside the risk thresholds; called for
    /// every perp venue a pair may use. Errors name the setting to blame.
    pub(crate) fn validate_margin_model(&self, venue: Venue) -> Result<(), ConfigError> {
        let lev = self.leverage(venue);
        let mmr = self.maintenance_margin_rate(venue);
        let mmr_key = if self.venues[venue.index()].maintenance_margin_rate.is_some() {
            format!("venues.{venue}.maintenance_margin_rate")
        } else {
            "risk.default_maintenance_margin_rate".to_string()
        };
        let initial = Decimal::ONE / lev;
        if mmr >= initial {
            return Err(ConfigError::invalid(
                mmr_key,
                format!("{mmr} is not below 1/leverage ({}) on {venue}: positions would open at their liquidation price", initial.round_dp(6)),
            ));
        }
        // A short is the tighter side: its distance at entry is (1/L − m) / (1 + m).
        let entry_distance = crate::decision::risk::entry_liquidation_distance(lev, mmr);
        if self.risk.min_liquidation_distance >= entry_distance {
            return Err(ConfigError::invalid(
                "risk.min_liquidation_distance",
                format!(
                    "{} is not below the liquidation distance a new position has on {venue} ({} at leverage {lev}, maintenance margin {mmr}): every entry would be force-exited",
                    self.risk.min_liquidation_distance,
                    entry_distance.round_dp(4)
                ),
            ));
        }
        let entry_ratio = mmr * lev;
        if self.risk.max_margin_ratio <= entry_ratio {
            return Err(ConfigError::invalid(
                "risk.max_margin_ratio",
                format!(
                    "{} is not above the margin ratio a new position has on {venue} ({entry_ratio}): every entry would be force-exited",
                    self.risk.max_margin_ratio
                ),
            ));
        }
        Ok(())
    }
}

/// How an order of unknown fate is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveMode {
    /// Ask the venue for the order by client order id (safe on every venue).
    Query,
    /// Send the same order again with the same id; the venue's duplicate answer tells its fate.
    /// Only for venues that reject duplicate ids for good (the paper venue does).
    Resend,
}

/// Where a venue's orders go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    /// The embedded paper venue fills orders against the feeds' quotes; nothing leaves carry.
    #[default]
    Paper,
    /// Signed requests to the venue: real money.
    Live,
    /// Everything up to the signed request, logged instead of sent; the paper venue answers.
    Shadow,
}

impl ExecutionMode {
    /// The mode's name in config and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecutionMode::Paper => "paper",
            ExecutionMode::Live => "live",
            ExecutionMode::Shadow => "shadow",
        }
    }
}

/// `[execution]`: how targets become orders.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExecConfig {
    /// `less_liquid` (default), `long` or `short`: which leg of an entry goes first.
    pub first_leg: FirstLeg,
    /// How far past the touch the first leg's IOC may trade, in basis points.
    pub entry_slippage_bps: Decimal,
    /// The same for hedges and unwinds.
    pub hedge_slippage_bps: Decimal,
    /// The same for exits.
    pub exit_slippage_bps: Decimal,
    /// Hedge orders that may end short (rejected, partly filled, not found) before the first
    /// leg is unwound.
    pub max_hedge_attempts: u16,
    /// Unwind orders that may end short before the cycle reports the exposure and stalls.
    pub max_unwind_attempts: u16,
    /// Per leg, per exit.
    pub max_exit_attempts: u16,
    /// An order with no answer after this long is queried (or resent).
    pub ack_timeout_ms: u64,
    /// Time between two queries of the same order.
    pub probe_interval_ms: u64,
    /// An acknowledged order still working after this long is cancelled.
    pub order_timeout_ms: u64,
    /// Wait before the next attempt after one that executed nothing, doubled for each further
    /// one (rejects in a row, a venue not ready after a restart); 0 retries at once.
    pub retry_backoff_ms: u64,
    /// Longest such wait.
    pub max_retry_backoff_ms: u64,
    /// How an order of unknown fate is resolved: `query` (default) or `resend`.
    pub resolve: ResolveMode,
    /// `paper` (default), `live` or `shadow`: where orders go, for every venue whose section does
    /// not say otherwise. Read by the gateway wiring; the engine decides alike in every mode.
    pub mode: ExecutionMode,
    /// A live gateway holding more intents than this for its venue's rate limit trips
    /// `order_backlog` on the venue (entries pause; exits still go).
    pub backlog_threshold: u32,
    /// Live gateways re-sync with the venue's server time this often.
    pub time_sync_interval_ms: u64,
}

impl Default for ExecConfig {
    fn default() -> ExecConfig {
        ExecConfig {
            first_leg: FirstLeg::LessLiquid,
            entry_slippage_bps: Decimal::from(5),
            hedge_slippage_bps: Decimal::from(20),
            exit_slippage_bps: Decimal::from(20),
            max_hedge_attempts: 5,
            max_unwind_attempts: 5,
            max_exit_attempts: 5,
            ack_timeout_ms: 2_000,
            probe_interval_ms: 1_000,
            order_timeout_ms: 5_000,
            retry_backoff_ms: 250,
            max_retry_backoff_ms: 5_000,
            resolve: ResolveMode::Query,
            mode: ExecutionMode::Paper,
            backlog_threshold: 20,
            time_sync_interval_ms: 60_000,
        }
    }
}

impl ExecConfig {
    /// Checks ranges; errors name the key (`execution.max_hedge_attempts: ...`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bps_max = Decimal::from(1_000);
        for (key, v) in [
            ("execution.entry_slippage_bps", self.entry_slippage_bps),
            ("execution.hedge_slippage_bps", self.hedge_slippage_bps),
            ("execution.exit_slippage_bps", self.exit_slippage_bps),
        ] {
            if v < Decimal::ZERO || v >= bps_max {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be 0 to below 1000 basis points, got {v}"),
                ));
            }
        }
        for (key, v) in [
            ("execution.max_hedge_attempts", self.max_hedge_attempts),
            ("execution.max_unwind_attempts", self.max_unwind_attempts),
            ("execution.max_exit_attempts", self.max_exit_attempts),
        ] {
            if v == 0 || v > 1_000 {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be 1..=1000, got {v}"),
                ));
            }
        }
        for (key, v) in [
            ("execution.ack_timeout_ms", self.ack_timeout_ms),
            ("execution.probe_interval_ms", self.probe_interval_ms),
            ("execution.order_timeout_ms", self.order_timeout_ms),
        ] {
            if v == 0 || v > 3_600_000 {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be 1..=3600000 ms, got {v}"),
                ));
            }
        }
        check_count(
            "execution.retry_backoff_ms",
            self.retry_backoff_ms,
            0,
            60_000,
            " ms",
        )?;
        check_count(
            "execution.max_retry_backoff_ms",
            self.max_retry_backoff_ms,
            0,
            600_000,
            " ms",
        )?;
        check_count(
            "execution.backlog_threshold",
            u64::from(self.backlog_threshold),
            1,
            10_000,
            "",
        )?;
        check_count(
            "execution.time_sync_interval_ms",
            self.time_sync_interval_ms,
            1_000,
            3_600_000,
            " ms",
        )
    }

    /// The reconciler's view of these settings, in nanoseconds.
    pub(crate) fn params(&self) -> ReconcileParams {
        ReconcileParams {
            hedge_slippage_bps: self.hedge_slippage_bps,
            exit_slippage_bps: self.exit_slippage_bps,
            max_hedge_attempts: self.max_hedge_attempts,
            max_unwind_attempts: self.max_unwind_attempts,
            max_exit_attempts: self.max_exit_attempts,
            ack_timeout_ns: self.ack_timeout_ms.saturating_mul(1_000_000),
            probe_interval_ns: self.probe_interval_ms.saturating_mul(1_000_000),
            order_timeout_ns: self.order_timeout_ms.saturating_mul(1_000_000),
            retry_backoff_ns: self.retry_backoff_ms.saturating_mul(1_000_000),
            max_retry_backoff_ns: self.max_retry_backoff_ms.saturating_mul(1_000_000),
            resolve_by_resend: self.resolve == ResolveMode::Resend,
        }
    }
}

/// What the engine is started with besides the decider and the journal.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// The instance name that prefixes every client order id.
    pub instance: String,
    /// `[execution]`: how targets become orders.
    pub execution: ExecConfig,
    /// The configuration text this engine was built from; journaled in the START record so that
    /// `carry replay` can rebuild the same engine. Opaque to the engine.
    pub config_text: String,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const TOML: &str = r#"
[strategy]
entry_apr = "0.15"
exit_apr = 0.03
use_predicted_rate = true

[risk]
max_notional_per_pair = 10000
max_total_notional = "50000"

[breakers]
quote_ttl_ms = 5000

[[pairs]]
instrument = "BTC-USDT"
long = "binance-spot"
short = "binance-perp"
order_qty = 0.0004

[[pairs]]
instrument = "ETH-USDT"
long = "auto"
short = "auto"
venues = ["bybit-perp", "okx-perp"]
max_notional = "2500.50"
"#;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Top {
        strategy: StrategyConfig,
        risk: RiskConfig,
        breakers: BreakerConfig,
        pairs: Vec<PairConfig>,
    }

    pub(crate) fn sample() -> DeciderConfig {
        let top: Top = toml::from_str(TOML).unwrap();
        DeciderConfig {
            pairs: top.pairs,
            strategy: top.strategy,
            risk: top.risk,
            breakers: top.breakers,
            venues: [VenueParams {
                taker_fee: d("0.0005"),
                maker_fee: d("0.0002"),
                maintenance_margin_rate: None,
                leverage: None,
            }; VENUE_COUNT],
        }
    }

    #[test]
    fn toml_strings_integers_and_floats_become_exact_decimals() {
        let c = sample();
        assert_eq!(c.strategy.entry_apr, d("0.15"));
        assert_eq!(c.strategy.exit_apr, d("0.03"), "TOML float");
        assert_eq!(c.pairs[0].order_qty, Some(d("0.0004")), "TOML float");
        assert_eq!(c.risk.max_notional_per_pair, d("10000"), "TOML integer");
        assert_eq!(c.pairs[1].max_notional, Some(d("2500.50")));
        assert_eq!(c.pairs[1].venues, vec!["bybit-perp", "okx-perp"]);
        // Defaults a trader expects.
        assert_eq!(c.strategy.fallback_interval_hours, 8);
        assert_eq!(c.strategy.expected_holding_hours, d("72"));
        assert_eq!(c.strategy.fee, FeeKind::Taker);
        assert_eq!(c.strategy.crossing, Crossing::HalfSpread);
        assert_eq!(c.risk.default_leverage, d("2"));
        assert_eq!(c.breakers.quote_ttl_ms, 5000);
        assert_eq!(c.breakers.funding_ttl_ms, 180_000);
        assert!(!c.pairs[0].allow_margin_short_spot);
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<StrategyConfig>("entry_apr = 1\nexit_apr = 0\nentry_bps = 3\n")
            .unwrap_err();
        assert!(err.to_string().contains("entry_bps"), "{err}");
        let err = toml::from_str::<PairConfig>(
            "instrument = \"BTC-USDT\"\nlong = \"auto\"\nshort = \"auto\"\nqty = 1\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("qty"), "{err}");
    }

    #[test]
    fn validation_names_the_key() {
        type Mutation = Box<dyn Fn(&mut DeciderConfig)>;
        let cases: Vec<(Mutation, &str, &str)> = vec![
            (
                Box::new(|c| c.strategy.exit_apr = d("0.2")),
                "strategy.exit_apr",
                "must be below entry_apr (0.15)",
            ),
            (
                Box::new(|c| c.strategy.expected_holding_hours = Decimal::ZERO),
                "strategy.expected_holding_hours",
                "must be at least 1 and at most 8760 (an hour to a year), got 0",
            ),
            // 8760 / 10⁻²⁵ overflowed a decimal and aborted the load.
            (
                Box::new(|c| c.strategy.expected_holding_hours = d("0.0000000000000000000000001")),
                "strategy.expected_holding_hours",
                "at most 8760",
            ),
            // Accepted, then the engine thread aborted multiplying it by entry_apr.
            (
                Box::new(|c| {
                    c.strategy.expected_holding_hours = d("79228162514264337593543950335")
                }),
                "strategy.expected_holding_hours",
                "at most 8760",
            ),
            (
                Box::new(|c| c.strategy.exit_apr = d("-1000000")),
                "strategy.exit_apr",
                "must be at least 0 and below 0.15",
            ),
            (
                Box::new(|c| c.strategy.entry_apr = d("79228162514264337593543950335")),
                "strategy.entry_apr",
                "must be above 0 and at most 10 (1000 % a year)",
            ),
            (
                Box::new(|c| c.strategy.spot_borrow_apr = Some(d("-0.1"))),
                "strategy.spot_borrow_apr",
                "at least 0 and at most 10",
            ),
            (
                Box::new(|c| c.strategy.fallback_interval_hours = 0),
                "strategy.fallback_interval_hours",
                "1..=24",
            ),
            (
                Box::new(|c| c.pairs[1].allow_margin_short_spot = true),
                "strategy.spot_borrow_apr",
                "pairs[1].allow_margin_short_spot",
            ),
            (
                Box::new(|c| c.risk.max_total_notional = d("100")),
                "risk.max_total_notional",
                "at least max_notional_per_pair",
            ),
            (
                Box::new(|c| c.risk.max_notional_per_pair = d("-1")),
                "risk.max_notional_per_pair",
                "above 0",
            ),
            (
                Box::new(|c| c.risk.max_total_notional = d("1000000000001")),
                "risk.max_total_notional",
                "above 0 and at most 1000000000000 (quote units)",
            ),
            (
                Box::new(|c| c.risk.min_liquidation_distance = d("1.5")),
                "risk.min_liquidation_distance",
                "above 0 and below 1",
            ),
            (
                Box::new(|c| c.risk.default_leverage = d("0.5")),
                "risk.default_leverage",
                "at least 1 and at most 125",
            ),
            (
                Box::new(|c| c.breakers.quote_ttl_ms = 0),
                "breakers.quote_ttl_ms",
                "1..=86400000 ms",
            ),
            (
                Box::new(|c| c.breakers.funding_ttl_ms = u64::MAX),
                "breakers.funding_ttl_ms",
                "1..=86400000 ms",
            ),
            (
                Box::new(|c| c.breakers.max_rejects_per_window = 0),
                "breakers.max_rejects_per_window",
                "1..=10000",
            ),
            (
                Box::new(|c| c.venues[4].taker_fee = d("0.05")),
                "venues.okx-perp.taker_fee",
                "above -0.01 and below 0.01 (a fee rate",
            ),
        ];
        for (mutate, key, reason) in cases {
            let mut c = sample();
            mutate(&mut c);
            let err = c.validate().unwrap_err();
            assert_eq!(err.key(), key, "{err}");
            assert!(err.to_string().contains(reason), "{err}");
            assert!(err.to_string().starts_with(key), "{err}");
        }
    }

    #[test]
    fn margin_model_must_leave_room_before_the_thresholds() {
        let bybit = "bybit-perp".parse::<Venue>().unwrap();
        let mut c = sample();
        c.validate_margin_model(bybit).unwrap();
        // 10x with 0.5 % maintenance opens 9.45 % from liquidation: inside a 15 % threshold.
        c.venues[bybit.index()].leverage = Some(d("10"));
        let err = c.validate_margin_model(bybit).unwrap_err();
        assert_eq!(err.key(), "risk.min_liquidation_distance", "{err}");
        assert!(err.to_string().contains("0.0945"), "{err}");
        // Maintenance margin at or above the initial margin: liquidated at once.
        c.venues[bybit.index()].leverage = Some(d("4"));
        c.venues[bybit.index()].maintenance_margin_rate = Some(d("0.25"));
        let err = c.validate_margin_model(bybit).unwrap_err();
        assert_eq!(err.key(), "venues.bybit-perp.maintenance_margin_rate");
        // A margin-ratio ceiling below the ratio at entry (0.005 × 2 = 0.01).
        let mut c = sample();
        c.risk.max_margin_ratio = d("0.01");
        let err = c.validate_margin_model(bybit).unwrap_err();
        assert_eq!(err.key(), "risk.max_margin_ratio");
    }

    #[test]
    fn execution_table_parses_with_defaults_and_names_bad_keys() {
        let cfg: ExecConfig = toml::from_str(
            r#"
first_leg = "short"
entry_slippage_bps = "7.5"
hedge_slippage_bps = 30
max_exit_attempts = 9
resolve = "resend"
"#,
        )
        .unwrap();
        assert_eq!(cfg.first_leg, FirstLeg::Short);
        assert_eq!(cfg.entry_slippage_bps, Decimal::new(75, 1));
        assert_eq!(cfg.hedge_slippage_bps, Decimal::from(30));
        assert_eq!((cfg.max_exit_attempts, cfg.max_hedge_attempts), (9, 5));
        assert_eq!(cfg.resolve, ResolveMode::Resend);
        assert!(cfg.validate().is_ok());
        assert_eq!(
            ExecConfig::default(),
            toml::from_str::<ExecConfig>("").unwrap()
        );

        assert!(toml::from_str::<ExecConfig>("max_hedge_atempts = 3").is_err());
        let bad = ExecConfig {
            max_hedge_attempts: 0,
            ..ExecConfig::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.starts_with("execution.max_hedge_attempts: "), "{e}");
        let bad = ExecConfig {
            exit_slippage_bps: Decimal::from(-1),
            ..ExecConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("execution.exit_slippage_bps"));
        // Each backoff refusal names its own key (both used to name retry_backoff_ms).
        let bad = ExecConfig {
            max_retry_backoff_ms: 600_001,
            ..ExecConfig::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert_eq!(
            e,
            "execution.max_retry_backoff_ms: must be 0..=600000 ms, got 600001"
        );
    }
}

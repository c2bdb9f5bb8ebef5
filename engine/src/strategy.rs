//! The strategy: from the funding monitor's state to the edge of each way a pair can be held, the
//! size of an entry, and the check every target passes before it leaves the decider.
//!
//! Entry and exit use different measures, on purpose (this is the hysteresis):
//! - **enter** when the best orientation's *net* APR (gross spread APR less round-trip costs
//!   annualized over the expected holding time, less borrow for a spot short) reaches
//!   `entry_apr`;
//! - **exit** when the held orientation's *gross* APR falls below `exit_apr`, or below zero (the
//!   spread flipped sign: the pair now pays). Entry costs are sunk once in, and the exit cost is
//!   paid whether the pair leaves now or later, so holding is worth its gross carry.
//!
//! The entry decision is made exactly, without division: [`EdgeInputs::entry_margin`] is
//! `(net APR − entry_apr) × holding_hours × price`, whose sign is the decision; an `auto` pair
//! picks the orientation with the largest margin (the net-APR ranking, up to the basis between
//! its long legs' prices). Each stream's terms are cached in a [`LegCache`] when it updates.
//!
//! Sizes are base units; limits are quote units. An entry's size is the smallest of the pair's
//! `order_qty`, its notional limit and the total headroom (each divided by the dearer leg's
//! touch price), and the size shown at the touch on each leg, so the crossing cost the edge
//! charged is the one actually paid. Sizes are cut (towards zero) to 8 decimals; execution rounds
//! to each venue's lot.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::config::{ConfigError, Crossing, DeciderConfig, FeeKind};
use crate::event::Quote;
use crate::fixed::{self, Fx, Fx2};
use crate::funding::{FundingMonitor, FundingState, LegProblem};
use crate::instrument::InstrumentId;
use crate::money;
use crate::pair::{Orientation, Pair};
use crate::target::{PairTarget, TargetReason};
use crate::venue::{Venue, VENUE_COUNT};

/// Decimal places an entry size is cut to.
pub const QTY_DP: u32 = 8;

/// The strategy's settings, with per-venue fees and the cost annualization factor computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrategyParams {
    pub entry_apr: Decimal,
    pub exit_apr: Decimal,
    pub use_predicted_rate: bool,
    pub crossing: Crossing,
    /// Fee per fill on each venue (taker or maker, as configured).
    pub fees: [Decimal; VENUE_COUNT],
    /// `8760 / expected_holding_hours`: turns a one-off cost into a yearly rate (views only).
    pub cost_per_year: Decimal,
    pub holding_hours: Decimal,
    /// `entry_apr × holding_hours`, for the division-free entry decision.
    pub entry_apr_hours: Decimal,
    /// `spot_borrow_apr × holding_hours`.
    pub borrow_hours: Decimal,
    /// `(fee(long) + fee(short)) × 2 × 8760` per (long venue, short venue).
    pub fee_hours: [[Decimal; VENUE_COUNT]; VENUE_COUNT],
    /// Borrow APR charged when the short leg is spot.
    pub spot_borrow_apr: Decimal,
    /// The decision's terms above in fixed point, when every one fits ([`crate::fixed`]).
    fx: Option<ParamsFx>,
}

/// [`StrategyParams`]' terms of the entry margin in 10⁻¹² units.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ParamsFx {
    entry_apr_hours: Fx,
    borrow_hours: Fx,
    fee_hours: [[Fx; VENUE_COUNT]; VENUE_COUNT],
}

impl ParamsFx {
    fn new(
        entry_apr_hours: Decimal,
        borrow_hours: Decimal,
        fee_hours: &[[Decimal; VENUE_COUNT]; VENUE_COUNT],
    ) -> Option<ParamsFx> {
        let mut fx = [[0; VENUE_COUNT]; VENUE_COUNT];
        for (row, fees) in fx.iter_mut().zip(fee_hours) {
            for (slot, fee) in row.iter_mut().zip(fees) {
                *slot = fixed::to_fx(*fee)?;
            }
        }
        Some(ParamsFx {
            entry_apr_hours: fixed::to_fx(entry_apr_hours)?,
            borrow_hours: fixed::to_fx(borrow_hours)?,
            fee_hours: fx,
        })
    }
}

impl StrategyParams {
    /// The products of the settings the decision uses, each computed with checked arithmetic:
    /// a setting the load-time ranges let through but that overflows here is an error naming
    /// its key, never an abort.
    pub fn new(cfg: &DeciderConfig) -> Result<StrategyParams, ConfigError> {
        let s = &cfg.strategy;
        let overflow = |key: &str, what: &str| {
            ConfigError::invalid(key, format!("too large: {what} does not fit a decimal"))
        };
        let mut fees = [Decimal::ZERO; VENUE_COUNT];
        for v in Venue::ALL {
            fees[v.index()] = cfg.venues[v.index()].fee(s.fee);
        }
        let fee_key = match s.fee {
            FeeKind::Taker => "taker_fee",
            FeeKind::Maker => "maker_fee",
        };
        let mut fee_hours = [[Decimal::ZERO; VENUE_COUNT]; VENUE_COUNT];
        for l in Venue::ALL {
            for t in Venue::ALL {
                fee_hours[l.index()][t.index()] = fees[l.index()]
                    .checked_add(fees[t.index()])
                    .and_then(|f| f.checked_mul(FEE_HOURS))
                    .ok_or_else(|| overflow(&format!("venues.{l}.{fee_key}"), "fees × 17520"))?;
            }
        }
        let hours = s.expected_holding_hours;
        let borrow = s.spot_borrow_apr.unwrap_or(Decimal::ZERO);
        let entry_apr_hours = s.entry_apr.checked_mul(hours).ok_or_else(|| {
            overflow(
                "strategy.expected_holding_hours",
                "entry_apr × expected_holding_hours",
            )
        })?;
        let borrow_hours = borrow.checked_mul(hours).ok_or_else(|| {
            overflow(
                "strategy.expected_holding_hours",
                "spot_borrow_apr × expected_holding_hours",
            )
        })?;
        let cost_per_year = HOURS_PER_YEAR.checked_div(hours).ok_or_else(|| {
            ConfigError::invalid(
                "strategy.expected_holding_hours",
                format!("{hours} leaves no finite cost per year (8760 / hours)"),
            )
        })?;
        Ok(StrategyParams {
            entry_apr: s.entry_apr,
            exit_apr: s.exit_apr,
            use_predicted_rate: s.use_predicted_rate,
            crossing: s.crossing,
            fees,
            cost_per_year,
            holding_hours: hours,
            entry_apr_hours,
            borrow_hours,
            fx: ParamsFx::new(entry_apr_hours, borrow_hours, &fee_hours),
            fee_hours,
            spot_borrow_apr: borrow,
        })
    }

    /// Recomputes the fixed-point terms after a change to the decimal ones (tests set fields).
    pub fn refresh_fx(&mut self) {
        self.fx = ParamsFx::new(self.entry_apr_hours, self.borrow_hours, &self.fee_hours);
    }

    /// Fee term of an orientation in [`entry_margin`].
    pub fn fee_hours(&self, o: Orientation) -> Decimal {
        self.fee_hours[o.long.index()][o.short.index()]
    }
}

/// What one orientation of a pair earns and costs now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub orientation: Orientation,
    /// Per-interval rates used for each leg (0 for spot; predicted where configured).
    pub long_rate: Decimal,
    pub short_rate: Decimal,
    /// `short_rate − long_rate`: comparable across legs only when they share an interval.
    pub spread: Decimal,
    /// Each leg annualized on its own interval, `short − long`.
    pub gross_apr: Decimal,
    /// Round-trip costs annualized over the holding time, plus borrow for a spot short.
    pub cost_apr: Decimal,
    pub net_apr: Decimal,
}

/// What the strategy needs from one stream, derived once when the stream updates (so a decision
/// combines cached values instead of recomputing every leg of every orientation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegCache {
    /// Per-interval rate used: 0 for spot, the predicted rate where configured and published.
    pub rate: Decimal,
    /// `rate` annualized on the stream's own interval.
    pub apr: Decimal,
    pub mid: Decimal,
    /// One crossing of the book, quote units per base unit ([`money::crossing_width`]).
    pub width: Decimal,
    /// A perp's mark where the venue sends one, else the mid: the basis is perp mark against
    /// the other leg's mid (or mark).
    pub reference: Decimal,
    mark: Option<Decimal>,
    /// `apr × holding_hours`: the leg's term of [`EdgeInputs::entry_margin`], so a decision
    /// multiplies only what spans both legs.
    pub apr_hours: Decimal,
    /// `apr × holding_hours` did not fit a decimal (`apr_hours` is then 0): no entry margin can be
    /// computed with this leg.
    apr_hours_overflow: bool,
    /// The same terms in fixed point ([`crate::fixed`]): `apr_hours` (0 until a funding update,
    /// as for spot) unless it did not fit, and the book's, `None` until a quote or if unfit.
    fx_apr_hours: Fx,
    fx_apr_unfit: bool,
    fx_quote: Option<QuoteFx>,
}

/// A stream's book terms of the entry margin in fixed point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct QuoteFx {
    mid: Fx,
    width: Fx,
    /// `reference` where it is the mid; replaced by the mark's when one is known.
    reference: Fx,
}

impl LegCache {
    /// Takes in a new top of book (already validated by the monitor).
    pub fn on_quote(&mut self, q: &Quote, params: &StrategyParams) {
        if let Some(w) = money::crossing_width(q, params.crossing) {
            self.width = w;
            self.mid = money::mid(q);
            if self.mark.is_none() {
                self.reference = self.mid;
            }
            self.fx_quote = self.quote_fx();
        }
    }

    /// Recomputes the fixed-point terms after a change to the decimal ones (tests set fields).
    pub fn refresh_fx(&mut self) {
        self.set_fx_apr_hours();
        self.fx_quote = self.quote_fx();
    }

    fn set_fx_apr_hours(&mut self) {
        let fx = fixed::to_fx(self.apr_hours).filter(|_| !self.apr_hours_overflow);
        self.fx_apr_hours = fx.unwrap_or(0);
        self.fx_apr_unfit = fx.is_none();
    }

    fn quote_fx(&self) -> Option<QuoteFx> {
        Some(QuoteFx {
            mid: fixed::to_fx(self.mid)?,
            width: fixed::to_fx(self.width)?,
            reference: fixed::to_fx(self.reference)?,
        })
    }

    /// Takes in a new funding state.
    pub fn on_funding(&mut self, f: &FundingState, params: &StrategyParams) {
        self.rate = if params.use_predicted_rate {
            f.funding.predicted_rate.unwrap_or(f.funding.rate)
        } else {
            f.funding.rate
        };
        self.apr = self.rate * f.periods_per_year;
        let apr_hours = self.apr.checked_mul(params.holding_hours);
        self.apr_hours_overflow = apr_hours.is_none();
        self.apr_hours = apr_hours.unwrap_or(Decimal::ZERO);
        self.mark = f.funding.mark_price.filter(|m| *m > Decimal::ZERO);
        self.reference = self.mark.unwrap_or(self.mid);
        self.set_fx_apr_hours();
        self.fx_quote = self.quote_fx();
    }

    /// The cache as it would be after every update the monitor holds (for views and tests).
    pub fn from_monitor(
        monitor: &FundingMonitor,
        params: &StrategyParams,
        venue: Venue,
        instrument: InstrumentId,
    ) -> LegCache {
        let mut c = LegCache::default();
        if let Some(q) = monitor.quote(venue, instrument) {
            c.on_quote(&q.quote, params);
        }
        if let Some(f) = monitor.funding(venue, instrument) {
            c.on_funding(f, params);
        }
        c
    }
}

/// `2 × 8760`: fees and crossings are paid twice per leg (in and out), annualized over the
/// holding time.
const FEE_HOURS: Decimal = Decimal::from_parts(17_520, 0, 0, false, 0);
const HOURS_PER_YEAR: Decimal = Decimal::from_parts(money::HOURS_PER_YEAR, 0, 0, false, 0);

/// What one orientation earns and costs, in the exact terms the decision uses; [`Edge`] is the
/// same thing expressed as APRs (one division), for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeInputs {
    pub orientation: Orientation,
    pub long_rate: Decimal,
    pub short_rate: Decimal,
    /// Each leg annualized on its own interval, `short − long`.
    pub gross_apr: Decimal,
    /// Quote units per base unit lost on a round trip besides fees: two crossings of each book
    /// and the adverse basis (`long − short` reference prices, when positive).
    pub quote_cost: Decimal,
    /// The long leg's mid: the price notional is measured at.
    pub reference: Decimal,
}

impl EdgeInputs {
    /// Combines the cached legs of `o`. Both must be fresh (the caller checks).
    pub fn combine(o: Orientation, long: &LegCache, short: &LegCache) -> EdgeInputs {
        let mut quote_cost = (long.width + short.width) * Decimal::TWO;
        if long.reference > short.reference {
            quote_cost += long.reference - short.reference;
        }
        EdgeInputs {
            orientation: o,
            long_rate: long.rate,
            short_rate: short.rate,
            gross_apr: short.apr - long.apr,
            quote_cost,
            reference: long.mid,
        }
    }

    /// `(net APR − entry_apr) × holding_hours × reference`, computed without division:
    /// `[(gross − borrow)·H − entry·H − 2·8760·fees]·R − 8760·quote_cost`. Its sign is exactly
    /// the entry decision; across orientations it ranks like net APR up to the small differences
    /// of the long legs' prices.
    pub fn entry_margin(&self, p: &StrategyParams) -> Decimal {
        let o = self.orientation;
        let mut carry = self.gross_apr;
        if !o.short.is_perp() {
            carry -= p.spot_borrow_apr;
        }
        let fees = p.fees[o.long.index()] + p.fees[o.short.index()];
        (carry * p.holding_hours - p.entry_apr_hours - fees * FEE_HOURS) * self.reference
            - self.quote_cost * HOURS_PER_YEAR
    }

    /// The same quantities as APRs: round-trip cost `2·fees + quote_cost / reference`, spread
    /// over the holding time, plus borrow for a spot short.
    pub fn edge(&self, p: &StrategyParams) -> Edge {
        let o = self.orientation;
        let fees = p.fees[o.long.index()] + p.fees[o.short.index()];
        let crossing_and_basis = if self.reference > Decimal::ZERO {
            self.quote_cost / self.reference
        } else {
            Decimal::ZERO
        };
        let mut cost_apr = (Decimal::TWO * fees + crossing_and_basis) * p.cost_per_year;
        if !o.short.is_perp() {
            cost_apr += p.spot_borrow_apr;
        }
        Edge {
            orientation: o,
            long_rate: self.long_rate,
            short_rate: self.short_rate,
            spread: self.short_rate - self.long_rate,
            gross_apr: self.gross_apr,
            cost_apr,
            net_apr: self.gross_apr - cost_apr,
        }
    }
}

/// [`entry_margin`] in fixed point ([`crate::fixed`]): one exact `i64 × i64` product and a few
/// additions, in 10⁻²⁴ units. `None` when a term did not fit, and the caller uses
/// [`entry_margin`]; the two agree to within 10⁻⁵ (see the property test).
#[inline]
pub fn entry_margin_fx(
    o: Orientation,
    long: &LegCache,
    short: &LegCache,
    p: &StrategyParams,
) -> Option<Fx2> {
    let pf = p.fx.as_ref()?;
    if long.fx_apr_unfit || short.fx_apr_unfit {
        return None;
    }
    let (lq, sq) = (long.fx_quote?, short.fx_quote?);
    let fee = pf.fee_hours[o.long.index()][o.short.index()];
    let mut x = i128::from(short.fx_apr_hours)
        - i128::from(long.fx_apr_hours)
        - i128::from(pf.entry_apr_hours)
        - i128::from(fee);
    if !o.short.is_perp() {
        x -= i128::from(pf.borrow_hours);
    }
    let x = Fx::try_from(x).ok()?;
    // |x·mid| < 2¹²⁶ and each other term < 2¹¹⁹: no sum below can overflow.
    let mut margin =
        fixed::mul(x, lq.mid) - (i128::from(lq.width) + i128::from(sq.width)) * FEE_HOURS_FX2;
    if lq.reference > sq.reference {
        margin -= (i128::from(lq.reference) - i128::from(sq.reference)) * HOURS_PER_YEAR_FX2;
    }
    Some(margin)
}

/// `2 × 8760` and `8760` as multipliers taking an [`Fx`] to 10⁻²⁴ units.
const FEE_HOURS_FX2: Fx2 = 17_520 * fixed::FX_ONE as i128;
const HOURS_PER_YEAR_FX2: Fx2 = money::HOURS_PER_YEAR as i128 * fixed::FX_ONE as i128;

/// [`EdgeInputs::entry_margin`] from the legs' cached hour-scaled terms: the same number with
/// three multiplications instead of five. The exact fallback of [`entry_margin_fx`]. `None` when
/// a term does not fit a decimal (an APR no venue allows, times the holding hours): no entry.
pub fn entry_margin(
    o: Orientation,
    long: &LegCache,
    short: &LegCache,
    p: &StrategyParams,
) -> Option<Decimal> {
    if long.apr_hours_overflow || short.apr_hours_overflow {
        return None;
    }
    let mut x = short
        .apr_hours
        .checked_sub(long.apr_hours)?
        .checked_sub(p.entry_apr_hours)?
        .checked_sub(p.fee_hours(o))?;
    if !o.short.is_perp() {
        x = x.checked_sub(p.borrow_hours)?;
    }
    let crossings = (long.width + short.width).checked_mul(FEE_HOURS)?;
    let mut margin = x.checked_mul(long.mid)?.checked_sub(crossings)?;
    if long.reference > short.reference {
        let basis = (long.reference - short.reference).checked_mul(HOURS_PER_YEAR)?;
        margin = margin.checked_sub(basis)?;
    }
    Some(margin)
}

/// The edge inputs of holding `o` now, or why there are none: a leg missing, reset or stale
/// means no spread at all (never a guess from old data). Reads the monitor directly; the decider
/// does the same from its per-stream caches.
pub fn edge_inputs(
    monitor: &FundingMonitor,
    params: &StrategyParams,
    instrument: InstrumentId,
    o: Orientation,
    now: crate::clock::Now,
) -> Result<EdgeInputs, LegProblem> {
    if let Some(p) = monitor.leg_problem(o.long, instrument, now) {
        return Err(p);
    }
    if let Some(p) = monitor.leg_problem(o.short, instrument, now) {
        return Err(p);
    }
    let long = LegCache::from_monitor(monitor, params, o.long, instrument);
    let short = LegCache::from_monitor(monitor, params, o.short, instrument);
    Ok(EdgeInputs::combine(o, &long, &short))
}

/// [`edge_inputs`] as APRs.
pub fn edge(
    monitor: &FundingMonitor,
    params: &StrategyParams,
    instrument: InstrumentId,
    o: Orientation,
    now: crate::clock::Now,
) -> Result<Edge, LegProblem> {
    edge_inputs(monitor, params, instrument, o, now).map(|i| i.edge(params))
}

/// Whether a held orientation should be exited at this gross APR: below `exit_apr`, or negative
/// (sign flip), whichever threshold is higher.
pub fn should_exit(gross_apr: Decimal, params: &StrategyParams) -> bool {
    gross_apr < params.exit_apr || gross_apr < Decimal::ZERO
}

/// Whether a flat pair should enter on this edge (the decider decides on
/// [`EdgeInputs::entry_margin`], which agrees up to the rounding of `net_apr`).
pub fn should_enter(e: &Edge, params: &StrategyParams) -> bool {
    e.net_apr >= params.entry_apr
}

/// The price a leg's notional is measured at for an entry: the dearer touch of the two legs
/// (the long leg's ask, the short leg's bid), so neither leg can exceed a limit.
pub fn entry_price(long: &Quote, short: &Quote) -> Decimal {
    long.ask.max(short.bid)
}

/// Base units to enter: the smallest of `order_qty`, `max_notional / price`,
/// `headroom / price` and the touch sizes, cut to [`QTY_DP`] places. Zero when nothing fits.
pub fn entry_qty(pair: &Pair, long: &Quote, short: &Quote, headroom: Decimal) -> Decimal {
    let price = entry_price(long, short);
    if price <= Decimal::ZERO || headroom <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    // A price so small that the limit buys more than a decimal holds leaves the limit unbinding.
    let mut qty = pair
        .max_notional
        .min(headroom)
        .checked_div(price)
        .unwrap_or(Decimal::MAX);
    if let Some(q) = pair.order_qty {
        qty = qty.min(q);
    }
    qty = qty.min(long.ask_qty).min(short.bid_qty);
    qty.round_dp_with_strategy(QTY_DP, RoundingStrategy::ToZero)
}

/// Why a target was refused before leaving the decider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// An entry with a zero or negative size (nothing fits the limits or the book).
    NonPositiveQty,
    /// Long and short sizes differ: an entry must be delta-neutral.
    Unbalanced,
    /// A long leg with a negative size or a short leg with a positive one, or an exit that is
    /// not flat.
    WrongSign,
    SameVenue,
    /// The legs are not an orientation of this pair (or the pair/instrument do not match).
    NotConfigured,
    /// A spot short on a pair that does not allow margin shorts.
    SpotShortNotAllowed,
    /// A leg is stale or its venue's entries are paused.
    NotTradable,
    OverPairLimit,
    OverTotalLimit,
}

/// Number of reject reasons; the length of per-reason counters.
pub const REJECT_REASON_COUNT: usize = 9;

impl RejectReason {
    pub const ALL: [RejectReason; REJECT_REASON_COUNT] = [
        RejectReason::NonPositiveQty,
        RejectReason::Unbalanced,
        RejectReason::WrongSign,
        RejectReason::SameVenue,
        RejectReason::NotConfigured,
        RejectReason::SpotShortNotAllowed,
        RejectReason::NotTradable,
        RejectReason::OverPairLimit,
        RejectReason::OverTotalLimit,
    ];

    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::NonPositiveQty => "non_positive_qty",
            RejectReason::Unbalanced => "unbalanced",
            RejectReason::WrongSign => "wrong_sign",
            RejectReason::SameVenue => "same_venue",
            RejectReason::NotConfigured => "not_configured",
            RejectReason::SpotShortNotAllowed => "spot_short_not_allowed",
            RejectReason::NotTradable => "not_tradable",
            RejectReason::OverPairLimit => "over_pair_limit",
            RejectReason::OverTotalLimit => "over_total_limit",
        }
    }
}

/// What a target is checked against.
#[derive(Clone, Copy, Debug)]
pub struct TargetContext {
    /// Prices the legs' notionals are measured at (entries only).
    pub price: Decimal,
    /// Notional already open in other pairs (quote units).
    pub open_notional: Decimal,
    pub max_total_notional: Decimal,
    /// Both legs fresh and their venues not paused (entries only).
    pub tradable: bool,
}

/// Checks a target before it is emitted. Entries must be positive, balanced, tradable and within
/// the pair and total limits; exits must be flat. Both must name an orientation of the pair.
pub fn validate(t: &PairTarget, pair: &Pair, ctx: &TargetContext) -> Result<(), RejectReason> {
    if t.pair != pair.id || t.instrument != pair.instrument {
        return Err(RejectReason::NotConfigured);
    }
    if t.long.venue == t.short.venue {
        return Err(RejectReason::SameVenue);
    }
    if !t.short.venue.is_perp() && !pair.allow_margin_short_spot {
        return Err(RejectReason::SpotShortNotAllowed);
    }
    let o = Orientation {
        long: t.long.venue,
        short: t.short.venue,
    };
    if t.long.qty.is_sign_negative() && !t.long.qty.is_zero()
        || t.short.qty.is_sign_positive() && !t.short.qty.is_zero()
    {
        return Err(RejectReason::WrongSign);
    }
    match t.reason {
        TargetReason::Enter => {
            if !pair.orientations.contains(&o) {
                return Err(RejectReason::NotConfigured);
            }
            if t.long.qty <= Decimal::ZERO || t.short.qty >= Decimal::ZERO {
                return Err(RejectReason::NonPositiveQty);
            }
            if t.long.qty != -t.short.qty {
                return Err(RejectReason::Unbalanced);
            }
            if !ctx.tradable {
                return Err(RejectReason::NotTradable);
            }
            // A product too large for a decimal is above any limit.
            let notional = t
                .long
                .qty
                .checked_mul(ctx.price)
                .filter(|n| *n <= pair.max_notional)
                .ok_or(RejectReason::OverPairLimit)?;
            let total = ctx.open_notional.checked_add(notional);
            if total.is_none_or(|t| t > ctx.max_total_notional) {
                return Err(RejectReason::OverTotalLimit);
            }
        }
        TargetReason::Exit | TargetReason::ForceExit | TargetReason::Flatten => {
            // An exit may name legs of any orientation the pair could hold.
            if !pair.uses(t.long.venue) || !pair.uses(t.short.venue) {
                return Err(RejectReason::NotConfigured);
            }
            if !t.long.qty.is_zero() || !t.short.qty.is_zero() {
                return Err(RejectReason::WrongSign);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Now;
    use crate::event::{Funding, MarketEvent, MarketEventKind};
    use crate::funding::Ttls;
    use crate::pair::LegChoice;
    use crate::target::{LegTarget, PairId};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }
    fn v(s: &str) -> Venue {
        s.parse().unwrap()
    }

    fn quote(bid: &str, ask: &str, size: &str) -> Quote {
        Quote {
            bid: d(bid),
            bid_qty: d(size),
            ask: d(ask),
            ask_qty: d(size),
        }
    }

    fn pair(order_qty: Option<&str>, max_notional: &str) -> Pair {
        let o = Orientation {
            long: v("binance-spot"),
            short: v("bybit-perp"),
        };
        Pair {
            id: PairId(0),
            name: "p".into(),
            instrument: InstrumentId(0),
            long: LegChoice::Fixed(o.long),
            short: LegChoice::Fixed(o.short),
            orientations: vec![o],
            venues: vec![o.long, o.short],
            order_qty: order_qty.map(d),
            max_notional: d(max_notional),
            allow_margin_short_spot: false,
        }
    }

    fn params() -> StrategyParams {
        let mut fees = [Decimal::ZERO; VENUE_COUNT];
        fees[v("binance-spot").index()] = d("0.001");
        fees[v("bybit-perp").index()] = d("0.00055");
        StrategyParams {
            entry_apr: d("0.1"),
            exit_apr: d("0.02"),
            use_predicted_rate: false,
            crossing: Crossing::HalfSpread,
            fees,
            cost_per_year: d("8760") / d("72"),
            holding_hours: d("72"),
            entry_apr_hours: d("7.2"),
            borrow_hours: Decimal::ZERO,
            fee_hours: {
                let mut t = [[Decimal::ZERO; VENUE_COUNT]; VENUE_COUNT];
                for l in 0..VENUE_COUNT {
                    for s in 0..VENUE_COUNT {
                        t[l][s] = (fees[l] + fees[s]) * d("17520");
                    }
                }
                t
            },
            spot_borrow_apr: Decimal::ZERO,
            fx: None,
        }
        .with_fx()
    }

    impl StrategyParams {
        fn with_fx(mut self) -> StrategyParams {
            self.refresh_fx();
            self
        }
    }

    fn funding_state(rate: Decimal, mark: Option<Decimal>, interval_ms: u64) -> FundingState {
        FundingState {
            funding: Funding {
                rate,
                predicted_rate: None,
                next_funding_time_ms: 0,
                interval_ms: Some(interval_ms),
                mark_price: mark,
                index_price: None,
            },
            ts_ms: 0,
            recv_ns: 0,
            interval_ms,
            interval_source: crate::interval::IntervalSource::Venue,
            periods_per_year: money::periods_per_year(interval_ms),
        }
    }

    proptest::proptest! {
        /// Fixed point decides as exact decimals do: over prices from 10⁻¹² to 5·10⁶, rates past
        /// any venue's cap, odd intervals and fees, the two margins differ by under 10⁻⁵ quote
        /// units × hours, so their signs agree wherever the margin is not within that of zero.
        #[test]
        fn fixed_point_margin_agrees_with_exact_decimals(
            price_units in 1i64..5_000_000_000_000,
            price_dp in 6u32..=12,
            spread_ticks in 0i64..1_000,
            basis_ticks in -1_000i64..1_000,
            long_rate in -300_000i64..300_000,
            short_rate in -300_000i64..300_000,
            rate_dp in 5u32..=12,
            interval_h in 1u64..=24,
            fee_bp in 0i64..20,
            holding_h in 1i64..2_000,
            long_perp in proptest::bool::ANY,
            short_perp in proptest::bool::ANY,
            has_mark in proptest::bool::ANY,
        ) {
            let price = Decimal::new(price_units, price_dp);
            let tick = Decimal::new(1, price_dp);
            let mut p = params();
            p.holding_hours = Decimal::from(holding_h);
            p.entry_apr_hours = p.entry_apr * p.holding_hours;
            p.borrow_hours = d("0.05") * p.holding_hours;
            p.spot_borrow_apr = d("0.05");
            for row in p.fee_hours.iter_mut() {
                for f in row.iter_mut() {
                    *f = Decimal::new(fee_bp, 4) * d("17520");
                }
            }
            p.refresh_fx();
            let leg = |perp: bool, rate: i64, shift: i64| {
                let mut c = LegCache::default();
                let mid = price + tick * Decimal::from(shift);
                if mid <= Decimal::ZERO {
                    return None;
                }
                let q = Quote {
                    bid: mid,
                    bid_qty: Decimal::ONE,
                    ask: mid + tick * Decimal::from(spread_ticks),
                    ask_qty: Decimal::ONE,
                };
                c.on_quote(&q, &p);
                if perp {
                    let mark = has_mark.then_some(mid);
                    c.on_funding(
                        &funding_state(Decimal::new(rate, rate_dp), mark, interval_h * 3_600_000),
                        &p,
                    );
                }
                Some(c)
            };
            let (Some(l), Some(s)) = (leg(long_perp, long_rate, 0), leg(short_perp, short_rate, basis_ticks)) else {
                return Ok(());
            };
            let o = Orientation {
                long: if long_perp { v("binance-perp") } else { v("binance-spot") },
                short: if short_perp { v("bybit-perp") } else { v("bybit-spot") },
            };
            let exact = entry_margin(o, &l, &s, &p).expect("terms fit a decimal");
            let fx = entry_margin_fx(o, &l, &s, &p);
            // Below 9.2·10⁶ every term fits; past it (a rate × hours no venue allows) the
            // decider falls back to `exact`.
            let limit = d("9223372");
            let x = s.apr_hours - l.apr_hours - p.entry_apr_hours - p.fee_hours(o)
                - if o.short.is_perp() { Decimal::ZERO } else { p.borrow_hours };
            if l.apr_hours.abs() > limit || s.apr_hours.abs() > limit || x.abs() > limit {
                proptest::prop_assert!(fx.is_none());
                return Ok(());
            }
            proptest::prop_assert!(fx.is_some(), "price {price}");
            let fx = fixed::fx2_to_decimal(fx.unwrap_or_default()).unwrap_or(Decimal::MAX);
            let bound = d("0.00001");
            proptest::prop_assert!((fx - exact).abs() <= bound, "fx {fx} exact {exact}");
            if exact.abs() > bound {
                proptest::prop_assert_eq!(fx < Decimal::ZERO, exact < Decimal::ZERO);
            }
        }
    }

    #[test]
    fn a_term_that_does_not_fit_leaves_the_decision_to_exact_decimals() {
        let p = params();
        let mut dear = LegCache::default();
        dear.on_quote(&quote("20000000", "20000001", "1"), &p);
        let mut cheap = LegCache::default();
        cheap.on_quote(&quote("100", "100.1", "1"), &p);
        let o = Orientation {
            long: v("binance-spot"),
            short: v("bybit-perp"),
        };
        assert_eq!(entry_margin_fx(o, &dear, &cheap, &p), None);
        assert!(entry_margin_fx(o, &cheap, &cheap, &p).is_some());
    }

    #[test]
    fn entry_size_table() {
        // (order_qty, pair max notional, headroom, long ask size, short bid size, qty)
        // Prices: long ask 100, short bid 100.5: notional measured at 100.5.
        let cases = [
            (Some("2"), "1000", "5000", "10", "10", "2"), // order_qty binds
            (None, "1005", "5000", "10", "10", "10"),     // 1005 / 100.5
            (None, "1000", "5000", "10", "10", "9.95024875"), // cut, never rounded up
            (Some("20"), "10050", "502.5", "10", "10", "5"), // total headroom binds
            (Some("20"), "10050", "5000", "3", "10", "3"), // long touch size binds
            (Some("20"), "10050", "5000", "10", "0.5", "0.5"), // short touch size binds
            (Some("20"), "10050", "0", "10", "10", "0"),  // no headroom
        ];
        for (oq, maxn, headroom, ask_size, bid_size, want) in cases {
            let p = pair(oq, maxn);
            let long = quote("99.9", "100", ask_size);
            let short = quote("100.5", "100.6", bid_size);
            let qty = entry_qty(&p, &long, &short, d(headroom));
            assert_eq!(
                qty,
                d(want),
                "{oq:?} {maxn} {headroom} {ask_size} {bid_size}"
            );
            assert!(qty * entry_price(&long, &short) <= p.max_notional);
        }
    }

    #[test]
    fn settings_whose_products_overflow_are_refused_not_aborted() {
        // 8760 / 10⁻²⁵ aborted the load; entry_apr 2 × 7.9·10²⁸ would abort it too.
        for (entry_apr, hours) in [
            ("0.15", "0.0000000000000000000000001"),
            ("2", "79228162514264337593543950335"),
        ] {
            let mut cfg = crate::config::tests::sample();
            cfg.strategy.entry_apr = d(entry_apr);
            cfg.strategy.expected_holding_hours = d(hours);
            let err = StrategyParams::new(&cfg).unwrap_err();
            assert_eq!(err.key(), "strategy.expected_holding_hours", "{err}");
        }
        let p = StrategyParams::new(&crate::config::tests::sample()).unwrap();
        assert_eq!(p.entry_apr_hours, d("10.8"), "0.15 × 72");
        assert_eq!(
            p.cost_per_year,
            d("121.66666666666666666666666667"),
            "8760 / 72"
        );
    }

    #[test]
    fn a_leg_whose_apr_times_the_holding_hours_overflows_yields_no_entry_margin() {
        // 0.15 a year held for 7.9·10²⁸ hours was accepted at load; the engine thread then
        // aborted multiplying a leg's APR by it.
        let mut p = params();
        p.holding_hours = d("79228162514264337593543950335");
        let mut perp = LegCache::default();
        perp.on_quote(&quote("100", "100.1", "1"), &p);
        perp.on_funding(&funding_state(d("0.0001"), None, 8 * 3_600_000), &p);
        let mut spot = LegCache::default();
        spot.on_quote(&quote("100", "100.1", "1"), &p);
        let o = Orientation {
            long: v("binance-spot"),
            short: v("bybit-perp"),
        };
        assert_eq!(entry_margin_fx(o, &spot, &perp, &p), None);
        assert_eq!(entry_margin(o, &spot, &perp, &p), None);
        // The same leg at the default holding time values fine.
        let p = params();
        perp.on_funding(&funding_state(d("0.0001"), None, 8 * 3_600_000), &p);
        assert!(entry_margin(o, &spot, &perp, &p).is_some());
    }

    #[test]
    fn limits_hold_against_prices_a_decimal_cannot_multiply() {
        // 10¹² quote units at a price of 10⁻²⁷ is more base units than a decimal holds: the
        // notional limit does not bind, the order size and the book do.
        let p = pair(Some("3"), "1000000000000");
        let tiny = quote(
            "0.000000000000000000000000001",
            "0.000000000000000000000000001",
            "5",
        );
        assert_eq!(entry_qty(&p, &tiny, &tiny, d("1000000000000")), d("3"));
        // A size times a price past the decimal range is over any limit, not an abort.
        let ctx = TargetContext {
            price: d("79228162514264337593543950335"),
            open_notional: Decimal::ZERO,
            max_total_notional: d("1000000000000"),
            tradable: true,
        };
        let t = target(
            ("binance-spot", "2"),
            ("bybit-perp", "-2"),
            TargetReason::Enter,
        );
        assert_eq!(validate(&t, &p, &ctx), Err(RejectReason::OverPairLimit));
        let ctx = TargetContext {
            price: d("1"),
            open_notional: d("79228162514264337593543950335"),
            ..ctx
        };
        assert_eq!(validate(&t, &p, &ctx), Err(RejectReason::OverTotalLimit));
    }

    fn target(long: (&str, &str), short: (&str, &str), reason: TargetReason) -> PairTarget {
        PairTarget {
            pair: PairId(0),
            instrument: InstrumentId(0),
            long: LegTarget {
                venue: v(long.0),
                qty: d(long.1),
            },
            short: LegTarget {
                venue: v(short.0),
                qty: d(short.1),
            },
            reason,
        }
    }

    #[test]
    fn validation_table() {
        use TargetReason::*;
        let p = pair(None, "1000");
        let ctx = TargetContext {
            price: d("100"),
            open_notional: d("4500"),
            max_total_notional: d("5000"),
            tradable: true,
        };
        let (s, b) = ("binance-spot", "bybit-perp");
        let cases: Vec<(PairTarget, TargetContext, Result<(), RejectReason>)> = vec![
            (target((s, "1"), (b, "-1"), Enter), ctx, Ok(())),
            (
                target((s, "0"), (b, "0"), Enter),
                ctx,
                Err(RejectReason::NonPositiveQty),
            ),
            (
                target((s, "1"), (b, "-0.9"), Enter),
                ctx,
                Err(RejectReason::Unbalanced),
            ),
            (
                target((s, "-1"), (b, "1"), Enter),
                ctx,
                Err(RejectReason::WrongSign),
            ),
            (
                target((b, "1"), (b, "-1"), Enter),
                ctx,
                Err(RejectReason::SameVenue),
            ),
            (
                target(("okx-perp", "1"), (b, "-1"), Enter),
                ctx,
                Err(RejectReason::NotConfigured),
            ),
            (
                target((b, "1"), (s, "-1"), Enter),
                ctx,
                Err(RejectReason::SpotShortNotAllowed),
            ),
            (
                target((s, "1"), (b, "-1"), Enter),
                TargetContext {
                    tradable: false,
                    ..ctx
                },
                Err(RejectReason::NotTradable),
            ),
            (
                target((s, "10.01"), (b, "-10.01"), Enter),
                ctx,
                Err(RejectReason::OverPairLimit),
            ),
            (
                target((s, "5.01"), (b, "-5.01"), Enter),
                ctx,
                Err(RejectReason::OverTotalLimit),
            ),
            (target((s, "5"), (b, "-5"), Enter), ctx, Ok(())),
            // Exits: flat, on the pair's venues, and never subject to limits or staleness.
            (
                target((s, "0"), (b, "0"), Exit),
                TargetContext {
                    tradable: false,
                    open_notional: d("1000000"),
                    ..ctx
                },
                Ok(()),
            ),
            (target((s, "0"), (b, "0"), ForceExit), ctx, Ok(())),
            (
                target((s, "1"), (b, "0"), Flatten),
                ctx,
                Err(RejectReason::WrongSign),
            ),
            (
                target(("okx-spot", "0"), (b, "0"), Exit),
                ctx,
                Err(RejectReason::NotConfigured),
            ),
        ];
        for (i, (t, c, want)) in cases.iter().enumerate() {
            assert_eq!(validate(t, &p, c), *want, "case {i}: {t:?}");
        }
        let mut wrong_pair = target((s, "1"), (b, "-1"), Enter);
        wrong_pair.pair = PairId(3);
        assert_eq!(
            validate(&wrong_pair, &p, &ctx),
            Err(RejectReason::NotConfigured)
        );
    }

    fn ev(venue: &str, kind: MarketEventKind) -> MarketEvent {
        MarketEvent {
            venue: v(venue),
            instrument: InstrumentId(0),
            ts_ms: 1,
            recv_ns: 1,
            kind,
        }
    }

    #[test]
    fn edge_of_a_spot_perp_pair_by_hand() {
        let o = Orientation {
            long: v("binance-spot"),
            short: v("bybit-perp"),
        };
        let mut m = FundingMonitor::new(
            1,
            Ttls::from_ms(60_000, 60_000),
            8 * 3_600_000,
            &[
                (o.long, InstrumentId(0), PairId(0)),
                (o.short, InstrumentId(0), PairId(0)),
            ],
        );
        let now = Now::new(1, 1);
        // Spot 99.99/100.01 (half-spread 0.01), perp 100.00/100.02, mark 100.01.
        m.apply(
            &ev(
                "binance-spot",
                MarketEventKind::Quote(quote("99.99", "100.01", "5")),
            ),
            now,
        );
        m.apply(
            &ev(
                "bybit-perp",
                MarketEventKind::Quote(quote("100.00", "100.02", "5")),
            ),
            now,
        );
        m.apply(
            &ev(
                "bybit-perp",
                MarketEventKind::Funding(Funding {
                    rate: d("0.0003"),
                    predicted_rate: Some(d("0.0001")),
                    next_funding_time_ms: 0,
                    interval_ms: Some(4 * 3_600_000),
                    mark_price: Some(d("100.01")),
                    index_price: None,
                }),
            ),
            now,
        );
        let p = params();
        let e = edge(&m, &p, InstrumentId(0), o, now).unwrap();
        // 3 bp per 4 h = 3 × 2190 bp = 65.7 %.
        assert_eq!(e.gross_apr, d("0.657"));
        assert_eq!(e.spread, d("0.0003"));
        // Round trip: fees 2 × (10 + 5.5) bp = 31 bp; crossing 2 × (0.01 + 0.01) / 100 = 4 bp;
        // basis: spot mid 100 vs perp mark 100.01, favourable, 0. Total 35 bp over 72 h:
        // 0.0035 × 8760 / 72 = 0.42583...
        assert_eq!(e.cost_apr, d("0.0035") * d("8760") / d("72"));
        assert_eq!(e.net_apr, e.gross_apr - e.cost_apr);
        assert!(should_enter(&e, &p));
        assert!(!should_exit(e.gross_apr, &p));
        // The same round trip through money's reference formula.
        let trip = money::RoundTrip {
            fees: d("0.00155"),
            width_long: d("0.01"),
            width_short: d("0.01"),
            long_price: d("100"),
            short_price: d("100.01"),
            reference: d("100"),
        };
        assert_eq!(e.cost_apr, trip.cost() * p.cost_per_year);
        let inputs = edge_inputs(&m, &p, InstrumentId(0), o, now).unwrap();
        assert!(inputs.entry_margin(&p) >= Decimal::ZERO);
        // The predicted rate, where asked for: 1 bp per 4 h = 21.9 %.
        let predicted = StrategyParams {
            use_predicted_rate: true,
            ..params()
        };
        let e = edge(&m, &predicted, InstrumentId(0), o, now).unwrap();
        assert_eq!(e.gross_apr, d("0.219"));
        assert!(!should_enter(&e, &predicted), "21.9 % gross − 42.6 % cost");
        let inputs = edge_inputs(&m, &predicted, InstrumentId(0), o, now).unwrap();
        assert!(inputs.entry_margin(&predicted) < Decimal::ZERO);
        // The cached-factor path equals the reference formula.
        assert_eq!(
            e.gross_apr,
            money::spread_apr(
                money::LegRate::SPOT,
                money::LegRate {
                    rate: d("0.0001"),
                    interval_ms: 4 * 3_600_000
                }
            )
        );
        // Stale leg: no edge at all.
        assert_eq!(
            edge(&m, &p, InstrumentId(0), o, Now::new(61_000_000_001, 0)),
            Err(LegProblem::Stale)
        );
    }

    /// The division-free entry margin and the reported net APR agree on every decision of a
    /// grid of rates, books, bases and borrow, both orientations of a reversible pair included.
    #[test]
    fn entry_margin_agrees_with_net_apr() {
        let mut p = params();
        p.spot_borrow_apr = d("0.07");
        p.borrow_hours = d("0.07") * p.holding_hours;
        p.refresh_fx();
        let mut spot = LegCache {
            mid: d("100"),
            width: d("0.01"),
            reference: d("100"),
            ..LegCache::default()
        };
        spot.refresh_fx();
        let mut decisions = [0usize; 2];
        for rate in -120i64..=120 {
            for width in ["0", "0.005", "0.05", "0.4"] {
                for mark in ["99.5", "100", "100.3"] {
                    let apr = Decimal::new(rate, 5) * d("1095");
                    let mut perp = LegCache {
                        rate: Decimal::new(rate, 5),
                        apr,
                        mid: d("100.01"),
                        width: d(width),
                        reference: d(mark),
                        mark: Some(d(mark)),
                        apr_hours: apr * p.holding_hours,
                        ..LegCache::default()
                    };
                    perp.refresh_fx();
                    for o in [
                        Orientation {
                            long: v("binance-spot"),
                            short: v("bybit-perp"),
                        },
                        Orientation {
                            long: v("bybit-perp"),
                            short: v("binance-spot"),
                        },
                    ] {
                        let (l, s) = if o.long.is_perp() {
                            (&perp, &spot)
                        } else {
                            (&spot, &perp)
                        };
                        let inputs = EdgeInputs::combine(o, l, s);
                        let margin = inputs.entry_margin(&p);
                        assert_eq!(entry_margin(o, l, s, &p), Some(margin), "cached terms");
                        // These terms all have at most 12 places: fixed point is exact.
                        let fx = entry_margin_fx(o, l, s, &p).expect("terms fit");
                        assert_eq!(fixed::fx2_to_decimal(fx), Some(margin.normalize()));
                        let by_margin = margin >= Decimal::ZERO;
                        let by_apr = should_enter(&inputs.edge(&p), &p);
                        assert_eq!(
                            by_margin, by_apr,
                            "{o:?} rate {rate} width {width} mark {mark}"
                        );
                        decisions[by_margin as usize] += 1;
                    }
                }
            }
        }
        assert!(decisions[0] > 0 && decisions[1] > 0, "{decisions:?}");
    }

    #[test]
    fn exit_rule_table() {
        let p = params(); // exit_apr 2 %
        let e = |gross: &str| Edge {
            orientation: Orientation {
                long: v("binance-spot"),
                short: v("bybit-perp"),
            },
            long_rate: Decimal::ZERO,
            short_rate: Decimal::ZERO,
            spread: Decimal::ZERO,
            gross_apr: d(gross),
            cost_apr: d("0.5"),
            net_apr: d(gross) - d("0.5"),
        };
        // Holding is judged on gross carry: a position earning 5 % stays although its net entry
        // edge is negative; one earning 1 % or paying leaves.
        assert!(!should_exit(e("0.05").gross_apr, &p));
        assert!(!should_exit(e("0.02").gross_apr, &p));
        assert!(should_exit(e("0.0199").gross_apr, &p));
        assert!(should_exit(e("-0.01").gross_apr, &p));
        let negative_exit = StrategyParams {
            exit_apr: d("-0.05"),
            ..params()
        };
        assert!(
            should_exit(e("-0.01").gross_apr, &negative_exit),
            "a sign flip always exits"
        );
        assert!(!should_exit(e("0").gross_apr, &negative_exit));
    }
}

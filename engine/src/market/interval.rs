//! The funding interval of one perpetual, which venues change per symbol (8 h, 4 h, 2 h, 1 h) and
//! which decides how a rate annualizes. Sources, strongest first, per update:
//! 1. the venue says so in the update (`Funding::interval_ms`);
//! 2. the schedule moved: `next_funding_time` advanced since the previous update, and the step
//!    is the interval that just began (this is how a change from 8 h to 4 h is seen on venues
//!    that never state it);
//! 3. whatever was known before;
//! 4. the configured fallback (8 h by default).
//!
//! After a feed reset the previous `next_funding_time` is forgotten, so a gap in the data that
//! spans several settlements is never mistaken for one long interval.

use crate::decision::money::periods_per_year;
use rust_decimal::Decimal;

/// Shortest and longest intervals believed from a schedule step; anything else is a data error
/// (a missed settlement that no reset announced, a clock glitch) and is ignored.
const MIN_INTERVAL_MS: u64 = 60_000;
const MAX_INTERVAL_MS: u64 = 24 * 3_600_000;

/// Where the current interval came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntervalSource {
    /// The venue stated it in the update.
    Venue,
    /// The step between two announced settlement times.
    Schedule,
    /// Neither yet: the configured fallback.
    Fallback,
}

impl IntervalSource {
    /// The source's name in metrics (`venue`, `schedule`, `fallback`).
    pub const fn as_str(self) -> &'static str {
        match self {
            IntervalSource::Venue => "venue",
            IntervalSource::Schedule => "schedule",
            IntervalSource::Fallback => "fallback",
        }
    }
}

/// The interval one schedule step implies: `next − previous` when both are known, `next` moved
/// forward, and the step is a plausible interval.
///
/// ```
/// use carry_engine::market::interval::interval_from_schedule;
/// let h: i64 = 3_600_000;
/// assert_eq!(interval_from_schedule(8 * h, 12 * h), Some(4 * 3_600_000));
/// assert_eq!(interval_from_schedule(8 * h, 8 * h), None); // same settlement, no step
/// assert_eq!(interval_from_schedule(0, 8 * h), None);     // nothing known before
/// ```
pub fn interval_from_schedule(previous_next_ms: i64, next_ms: i64) -> Option<u64> {
    if previous_next_ms <= 0 || next_ms <= previous_next_ms {
        return None;
    }
    let step = (next_ms - previous_next_ms) as u64;
    (MIN_INTERVAL_MS..=MAX_INTERVAL_MS)
        .contains(&step)
        .then_some(step)
}

/// Tracks one perpetual's interval across updates, and caches its periods per year so the hot
/// path annualizes with one multiplication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntervalTracker {
    interval_ms: u64,
    source: IntervalSource,
    last_next_funding_ms: i64,
    periods_per_year: Decimal,
}

impl IntervalTracker {
    /// A tracker that starts on the fallback interval.
    pub fn new(fallback_ms: u64) -> IntervalTracker {
        let fallback_ms = fallback_ms.max(MIN_INTERVAL_MS);
        IntervalTracker {
            interval_ms: fallback_ms,
            source: IntervalSource::Fallback,
            last_next_funding_ms: 0,
            periods_per_year: periods_per_year(fallback_ms),
        }
    }

    /// Takes in one funding update's interval evidence.
    pub fn observe(&mut self, stated_ms: Option<u64>, next_funding_time_ms: i64) {
        let from_schedule = interval_from_schedule(self.last_next_funding_ms, next_funding_time_ms);
        if next_funding_time_ms > 0 {
            self.last_next_funding_ms = next_funding_time_ms;
        }
        let (ms, source) = match (stated_ms.filter(|&ms| ms > 0), from_schedule) {
            (Some(ms), _) => (ms, IntervalSource::Venue),
            (None, Some(ms)) => (ms, IntervalSource::Schedule),
            (None, None) => return,
        };
        self.source = source;
        if ms != self.interval_ms {
            self.interval_ms = ms;
            self.periods_per_year = periods_per_year(ms);
        }
    }

    /// Forgets the schedule position after a feed gap; the interval itself is kept.
    pub fn reset(&mut self) {
        self.last_next_funding_ms = 0;
    }

    /// The current interval, in ms.
    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    /// Where the current interval came from.
    pub fn source(&self) -> IntervalSource {
        self.source
    }

    /// Settlements per 365-day year on the current interval.
    pub fn periods_per_year(&self) -> Decimal {
        self.periods_per_year
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;
    const T0: i64 = 1_715_760_000_000; // a settlement boundary

    fn h(n: i64) -> i64 {
        T0 + n * H as i64
    }

    /// Each row is one symbol: its updates as (stated interval, next funding time), and the
    /// interval and source expected after each update.
    #[test]
    fn interval_table() {
        type Step = (Option<u64>, i64, u64, IntervalSource);
        use IntervalSource::*;
        let table: &[(&str, &[Step])] = &[
            (
                "1 h symbol, stated (Bybit fundingIntervalHour, Gate funding_interval)",
                &[(Some(H), h(1), H, Venue), (Some(H), h(1), H, Venue)],
            ),
            ("4 h symbol, stated", &[(Some(4 * H), h(4), 4 * H, Venue)]),
            (
                "8 h symbol, never stated: fallback until the schedule steps",
                &[
                    (None, h(8), 8 * H, Fallback),
                    (None, h(8), 8 * H, Fallback),
                    (None, h(16), 8 * H, Schedule),
                ],
            ),
            (
                "4 h symbol, never stated (Binance markPrice): learned at the first settlement",
                &[
                    (None, h(4), 8 * H, Fallback),
                    (None, h(8), 4 * H, Schedule),
                    (None, h(8), 4 * H, Schedule),
                    (None, h(12), 4 * H, Schedule),
                ],
            ),
            (
                "1 h symbol, never stated",
                &[(None, h(1), 8 * H, Fallback), (None, h(2), H, Schedule)],
            ),
            (
                "interval changes 8 h → 4 h, seen in the schedule",
                &[
                    (None, h(8), 8 * H, Fallback),
                    (None, h(16), 8 * H, Schedule),
                    (None, h(20), 4 * H, Schedule),
                ],
            ),
            (
                "interval changes 8 h → 1 h, stated by the venue",
                &[(Some(8 * H), h(8), 8 * H, Venue), (Some(H), h(9), H, Venue)],
            ),
            (
                "a stated interval wins over the schedule step of the same update",
                &[
                    (None, h(8), 8 * H, Fallback),
                    (Some(4 * H), h(16), 4 * H, Venue),
                ],
            ),
            (
                "an implausible step (two days) is ignored",
                &[
                    (None, h(8), 8 * H, Fallback),
                    (None, h(56), 8 * H, Fallback),
                ],
            ),
            (
                "unknown next funding time (0) teaches nothing",
                &[(None, 0, 8 * H, Fallback), (None, h(8), 8 * H, Fallback)],
            ),
            (
                "a stated 0 is no statement",
                &[(Some(0), h(8), 8 * H, Fallback)],
            ),
        ];
        for (name, steps) in table {
            let mut t = IntervalTracker::new(8 * H);
            for (i, (stated, next, want_ms, want_source)) in steps.iter().enumerate() {
                t.observe(*stated, *next);
                assert_eq!(
                    (t.interval_ms(), t.source()),
                    (*want_ms, *want_source),
                    "{name}, update {i}"
                );
                assert_eq!(t.periods_per_year(), periods_per_year(*want_ms), "{name}");
            }
        }
    }

    #[test]
    fn reset_forgets_the_schedule_so_a_gap_is_not_an_interval() {
        let mut t = IntervalTracker::new(8 * H);
        t.observe(None, h(4));
        t.observe(None, h(8));
        assert_eq!(t.interval_ms(), 4 * H);
        t.reset();
        // Feed down for two settlements: next jumps by 8 h, which must not read as 8 h interval.
        t.observe(None, h(16));
        assert_eq!(t.interval_ms(), 4 * H);
        t.observe(None, h(20));
        assert_eq!(
            (t.interval_ms(), t.source()),
            (4 * H, IntervalSource::Schedule)
        );
    }
}

//! Request rate limits as the simulated venues enforce them: per account, counted in fixed
//! windows aligned to the venue's clock (Binance's `X-MBX-ORDER-COUNT-10S` counts the current
//! ten-second interval, Gate reports when its window resets), so the usage headers a venue
//! returns are exact. A refused request is not counted.
//!
//! [`SimRateLimits`] holds each venue's documented order limits (`PRIVATE.md` §1.4, §2.2, §3.2,
//! §4.2, §5.2) as the defaults; a test lowers them to hit a limit in a few requests.

use std::collections::HashMap;
use std::time::Duration;

/// At most `max` requests per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

impl RateLimit {
    pub const fn new(max: u32, window: Duration) -> RateLimit {
        RateLimit { max, window }
    }

    fn window_ms(&self) -> i64 {
        (self.window.as_millis() as i64).max(1)
    }
}

/// The limits each simulated venue enforces per account. Defaults are the documented ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRateLimits {
    /// Binance USDⓈ-M new orders: 300 per 10 s and 1200 per minute (`-1015`).
    pub binance_perp_orders: [RateLimit; 2],
    /// Binance spot (and margin) new orders: 50 per 10 s and 160 000 per day (`-1015`).
    pub binance_spot_orders: [RateLimit; 2],
    /// Binance request weight per minute, every signed request weighing 1: 2400 on futures,
    /// 6000 on spot (`-1003`).
    pub binance_perp_weight: RateLimit,
    pub binance_spot_weight: RateLimit,
    /// Bybit create per second: 10 on linear, 20 on spot (`10006`); cancel has the same
    /// limit, counted apart (Bybit limits each endpoint).
    pub bybit_linear_trade: RateLimit,
    pub bybit_spot_trade: RateLimit,
    /// Bybit order and execution queries: 50 per second, each endpoint apart.
    pub bybit_query: RateLimit,
    /// OKX: 60 requests per 2 s per instrument, for each of place, cancel and query (`50011`).
    pub okx_per_instrument: RateLimit,
    /// Bitget: 10 orders per second per account on each market (HTTP 429).
    pub bitget_orders: RateLimit,
    /// Gate: futures place 100/s, spot place 10/s per market, cancels 200/s, everything else
    /// 200 per 10 s (`TOO_MANY_REQUESTS`).
    pub gate_futures_orders: RateLimit,
    pub gate_spot_orders: RateLimit,
    pub gate_cancels: RateLimit,
    pub gate_other: RateLimit,
}

impl Default for SimRateLimits {
    fn default() -> SimRateLimits {
        let s = Duration::from_secs;
        SimRateLimits {
            binance_perp_orders: [RateLimit::new(300, s(10)), RateLimit::new(1_200, s(60))],
            binance_spot_orders: [
                RateLimit::new(50, s(10)),
                RateLimit::new(160_000, s(86_400)),
            ],
            binance_perp_weight: RateLimit::new(2_400, s(60)),
            binance_spot_weight: RateLimit::new(6_000, s(60)),
            bybit_linear_trade: RateLimit::new(10, s(1)),
            bybit_spot_trade: RateLimit::new(20, s(1)),
            bybit_query: RateLimit::new(50, s(1)),
            okx_per_instrument: RateLimit::new(60, s(2)),
            bitget_orders: RateLimit::new(10, s(1)),
            gate_futures_orders: RateLimit::new(100, s(1)),
            gate_spot_orders: RateLimit::new(10, s(1)),
            gate_cancels: RateLimit::new(200, s(1)),
            gate_other: RateLimit::new(200, s(10)),
        }
    }
}

/// One counter: how much of `limit` the current window has used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Usage {
    pub limit: RateLimit,
    pub used: u32,
    /// Venue-clock ms at which the current window ends.
    pub reset_ms: i64,
}

impl Usage {
    pub fn remaining(&self) -> u32 {
        self.limit.max.saturating_sub(self.used)
    }
}

#[derive(Clone, Copy, Debug)]
struct Window {
    index: i64,
    used: u32,
}

/// Every counter of one account, keyed by what is counted (`"order-10s"`, an OKX instrument's
/// place counter, ...).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    windows: HashMap<String, Window>,
}

impl Counters {
    /// The usage of `key` at `now_ms` without counting anything.
    pub fn peek(&self, key: &str, limit: RateLimit, now_ms: i64) -> Usage {
        let index = now_ms.div_euclid(limit.window_ms());
        let used = match self.windows.get(key) {
            Some(w) if w.index == index => w.used,
            _ => 0,
        };
        Usage {
            limit,
            used,
            reset_ms: (index + 1) * limit.window_ms(),
        }
    }

    /// Counts one request against every `(key, limit)` pair, all or none: `Err` carries the
    /// first counter that is full (and nothing is counted); `Ok` the usage after counting.
    pub fn take(
        &mut self,
        counters: &[(&str, RateLimit)],
        now_ms: i64,
    ) -> Result<Vec<Usage>, Usage> {
        for &(key, limit) in counters {
            let u = self.peek(key, limit, now_ms);
            if u.used >= limit.max {
                return Err(u);
            }
        }
        Ok(counters
            .iter()
            .map(|&(key, limit)| {
                let index = now_ms.div_euclid(limit.window_ms());
                let w = self
                    .windows
                    .entry(key.to_string())
                    .or_insert(Window { index, used: 0 });
                if w.index != index {
                    *w = Window { index, used: 0 };
                }
                w.used += 1;
                Usage {
                    limit,
                    used: w.used,
                    reset_ms: (index + 1) * limit.window_ms(),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_fill_refuse_and_reset_on_the_clock_grid() {
        let ten_s = RateLimit::new(2, Duration::from_secs(10));
        let minute = RateLimit::new(3, Duration::from_secs(60));
        let mut c = Counters::default();
        let both = [("10s", ten_s), ("1m", minute)];
        let t0 = 1_700_000_001_000; // 1 s into a 10 s window
        let u = c.take(&both, t0).unwrap();
        assert_eq!((u[0].used, u[1].used), (1, 1));
        assert_eq!(u[0].reset_ms, 1_700_000_010_000);
        assert_eq!(u[0].remaining(), 1);
        c.take(&both, t0 + 100).unwrap();
        // The 10 s window is full: refused, and the minute counter is not charged either.
        let full = c.take(&both, t0 + 200).unwrap_err();
        assert_eq!((full.used, full.limit), (2, ten_s));
        assert_eq!(c.peek("1m", minute, t0 + 200).used, 2);
        // The next 10 s window opens; the minute window still remembers.
        let u = c.take(&both, 1_700_000_010_000).unwrap();
        assert_eq!((u[0].used, u[1].used), (1, 3));
        let full = c.take(&both, 1_700_000_010_001).unwrap_err();
        assert_eq!(full.limit, minute);
        assert_eq!(c.peek("other", minute, t0).used, 0);
    }
}

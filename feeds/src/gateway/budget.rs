//! A gateway's order-rate budget: the venue's documented order limits as sliding windows,
//! corrected by the usage the venue reports back, so carry throttles itself before the venue
//! does.
//!
//! A sliding window is at least as strict as the fixed or rolling windows venues count in, so
//! staying inside it stays inside theirs. When the venue's own count (a usage header) is higher
//! than carry's — other clients on the same account, requests carry made before a restart — the
//! difference is added as if sent now. A throttle answer blocks every send until the venue's
//! `Retry-After` (or a default pause) has passed.

/// One documented limit: at most `count` orders in any `window_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Orders allowed in a window.
    pub count: u32,
    /// The window, in milliseconds.
    pub window_ms: u64,
}

/// Send times within one window, in a ring of `count` slots allocated once.
#[derive(Clone, Debug)]
struct Window {
    limit: Limit,
    stamps: Vec<u64>,
    head: usize,
    len: usize,
}

impl Window {
    fn new(limit: Limit) -> Window {
        Window {
            limit,
            stamps: vec![0; limit.count.max(1) as usize],
            head: 0,
            len: 0,
        }
    }

    fn expire(&mut self, now_ms: u64) {
        while self.len > 0 {
            let oldest = self.stamps[self.head];
            if now_ms.saturating_sub(oldest) < self.limit.window_ms {
                break;
            }
            self.head = (self.head + 1) % self.stamps.len();
            self.len -= 1;
        }
    }

    /// Milliseconds until one more send fits (0: now).
    fn wait_ms(&self, now_ms: u64) -> u64 {
        if self.len < self.limit.count as usize {
            return 0;
        }
        let oldest = self.stamps[self.head];
        (oldest + self.limit.window_ms).saturating_sub(now_ms)
    }

    fn push(&mut self, now_ms: u64) {
        let cap = self.stamps.len();
        if self.len == cap {
            // Full (only through reported usage): the oldest gives way, keeping the window full.
            self.head = (self.head + 1) % cap;
            self.len -= 1;
        }
        self.stamps[(self.head + self.len) % cap] = now_ms;
        self.len += 1;
    }
}

/// The budget of one gateway.
#[derive(Clone, Debug)]
pub struct RateBudget {
    windows: Vec<Window>,
    blocked_until_ms: u64,
}

impl RateBudget {
    /// A budget of the given limits (monotonic milliseconds throughout).
    pub fn new(limits: &[Limit]) -> RateBudget {
        RateBudget {
            windows: limits.iter().map(|&l| Window::new(l)).collect(),
            blocked_until_ms: 0,
        }
    }

    /// Milliseconds until one more order may be sent (0: now).
    pub fn wait_ms(&mut self, now_ms: u64) -> u64 {
        let mut wait = self.blocked_until_ms.saturating_sub(now_ms);
        for w in &mut self.windows {
            w.expire(now_ms);
            wait = wait.max(w.wait_ms(now_ms));
        }
        wait
    }

    /// Records one order sent at `now_ms`.
    pub fn spend(&mut self, now_ms: u64) {
        for w in &mut self.windows {
            w.expire(now_ms);
            w.push(now_ms);
        }
    }

    /// The venue reports `used` orders in the window of `window_ms`: the window is taken to hold
    /// that many (or carry's own count, if higher) all sent now. Venues count in fixed windows
    /// whose start carry does not know, so an order carry dated earlier may still be in the
    /// venue's current window; dating every counted order now means none of them frees room
    /// before the venue's window has surely turned.
    pub fn observe_used(&mut self, window_ms: u64, used: u32, now_ms: u64) {
        for w in self
            .windows
            .iter_mut()
            .filter(|w| w.limit.window_ms == window_ms)
        {
            w.expire(now_ms);
            let held = (used as usize).max(w.len).min(w.stamps.len());
            w.head = 0;
            w.len = 0;
            while w.len < held {
                w.push(now_ms);
            }
        }
    }

    /// The venue reports `remaining` orders left in the window of `window_ms`.
    pub fn observe_remaining(&mut self, window_ms: u64, remaining: u32, now_ms: u64) {
        if let Some(count) = self
            .windows
            .iter()
            .find(|w| w.limit.window_ms == window_ms)
            .map(|w| w.limit.count)
        {
            self.observe_used(window_ms, count.saturating_sub(remaining), now_ms);
        }
    }

    /// The venue throttled us without saying for how long: its shortest window counts as full
    /// from now, so the next order waits for that window to pass.
    pub fn fill_shortest(&mut self, now_ms: u64) {
        if let Some(w) = self.windows.iter_mut().min_by_key(|w| w.limit.window_ms) {
            w.expire(now_ms);
            while w.len < w.stamps.len() {
                w.push(now_ms);
            }
        } else {
            self.block_for(1_000, now_ms);
        }
    }

    /// The venue throttled us: nothing is sent for `pause_ms`.
    pub fn block_for(&mut self, pause_ms: u64, now_ms: u64) {
        self.blocked_until_ms = self.blocked_until_ms.max(now_ms.saturating_add(pause_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_window_waits_for_its_oldest_send_to_age_out() {
        let mut b = RateBudget::new(&[Limit {
            count: 3,
            window_ms: 1_000,
        }]);
        for t in [0, 100, 200] {
            assert_eq!(b.wait_ms(t), 0);
            b.spend(t);
        }
        assert_eq!(b.wait_ms(300), 700);
        assert_eq!(b.wait_ms(999), 1);
        assert_eq!(b.wait_ms(1_000), 0);
        b.spend(1_000);
        assert_eq!(b.wait_ms(1_000), 100);
    }

    #[test]
    fn the_strictest_of_several_windows_rules() {
        let mut b = RateBudget::new(&[
            Limit {
                count: 2,
                window_ms: 100,
            },
            Limit {
                count: 3,
                window_ms: 10_000,
            },
        ]);
        b.spend(0);
        b.spend(10);
        assert_eq!(b.wait_ms(20), 80);
        b.spend(100);
        assert_eq!(b.wait_ms(200), 9_800);
    }

    #[test]
    fn reported_usage_above_carrys_count_is_spent_now() {
        let mut b = RateBudget::new(&[Limit {
            count: 10,
            window_ms: 1_000,
        }]);
        b.spend(0);
        b.observe_used(1_000, 10, 500);
        assert_eq!(
            b.wait_ms(500),
            1_000,
            "the send at 0 may be in the venue's window that started later: all count from 500"
        );
        b.observe_used(1_000, 3, 600); // lower than counted: carry's own count stands, from now
        assert_eq!(b.wait_ms(600), 1_000);
        let mut b = RateBudget::new(&[Limit {
            count: 10,
            window_ms: 1_000,
        }]);
        b.observe_remaining(1_000, 0, 50);
        assert_eq!(b.wait_ms(50), 1_000);
        b.observe_used(60_000, 99, 50); // no such window: ignored
        assert_eq!(b.wait_ms(1_050), 0);
    }

    #[test]
    fn a_venue_counting_in_fixed_windows_is_never_overrun() {
        // carry's documented 18/s; the venue's account allows 4 per fixed second, counts an
        // order when it arrives (15 ms after carry sends it) and says how many remain in the
        // answer (5 ms later). carry sends whenever its budget lets it, in 10 ms steps, from
        // several starting phases: the venue must never see a fifth order in one of its
        // seconds, and carry must keep trading (dating what the venue counted at the answer is
        // cautious: the second after an exhausted one may see none).
        for start in (900..1_000).step_by(5) {
            let mut b = RateBudget::new(&[Limit {
                count: 18,
                window_ms: 1_000,
            }]);
            let mut per_second = std::collections::BTreeMap::<u64, u32>::new();
            let mut t = start;
            while t < 6_000 {
                if b.wait_ms(t) > 0 {
                    t += 10;
                    continue;
                }
                b.spend(t);
                let arrived = t + 15;
                let used = per_second.entry(arrived / 1_000).or_default();
                *used += 1;
                assert!(
                    *used <= 4,
                    "start {start}: the venue's second {} saw {used} orders",
                    arrived / 1_000
                );
                let answered = arrived + 5;
                b.observe_remaining(1_000, 4 - *used, answered);
                t = answered;
            }
            // At least half the venue's rate over five seconds.
            assert!(
                per_second.values().sum::<u32>() >= 10,
                "start {start}: {per_second:?}"
            );
        }
    }

    #[test]
    fn a_throttle_without_a_time_fills_the_shortest_window() {
        let mut b = RateBudget::new(&[
            Limit {
                count: 5,
                window_ms: 10_000,
            },
            Limit {
                count: 100,
                window_ms: 60_000,
            },
        ]);
        b.spend(0);
        b.fill_shortest(2_000);
        // The 10 s window is full from 2 s: the next send waits for its oldest stamp (0 s) to
        // age out.
        assert_eq!(b.wait_ms(2_000), 8_000);
        assert_eq!(b.wait_ms(9_999), 1);
        assert_eq!(b.wait_ms(10_000), 0);
        let mut none = RateBudget::new(&[]);
        none.fill_shortest(0);
        assert_eq!(none.wait_ms(0), 1_000, "no window: a one-second pause");
    }

    #[test]
    fn a_throttle_answer_blocks_every_send_until_it_passes() {
        let mut b = RateBudget::new(&[]);
        b.block_for(2_000, 1_000);
        assert_eq!(b.wait_ms(1_500), 1_500);
        b.block_for(100, 1_500); // a shorter pause never shortens the block
        assert_eq!(b.wait_ms(2_999), 1);
        assert_eq!(b.wait_ms(3_000), 0);
    }
}

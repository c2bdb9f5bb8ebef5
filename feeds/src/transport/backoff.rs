//! Reconnect pacing: exponential backoff with a cap and seeded jitter. Each connection has its
//! own [`Backoff`] seeded from its identity and the process ([`seed_from`]), so a venue outage
//! makes neither the connections of one process nor two carry processes retry in lockstep; a
//! test seeds [`Backoff::new`] itself and can predict the exact sequence.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How reconnect delays grow.
///
/// The `n`th consecutive failure (from 0) waits `min(initial × multiplier^n, max)` minus a random
/// part of at most `jitter_percent` % of it: the delay is always within
/// `[base × (1 − jitter), base]`, so it never exceeds `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Cap on any delay.
    pub max: Duration,
    /// Growth factor per consecutive failure (1 = constant delay).
    pub multiplier: u32,
    /// Largest share of a delay taken off at random, 0..=100.
    pub jitter_percent: u8,
    /// A connection that stayed up at least this long counts as healthy: the next failure starts
    /// again from `initial`. Shorter lives keep growing the delay, so a venue that accepts and
    /// immediately drops connections is not hammered.
    pub stable_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            multiplier: 2,
            jitter_percent: 20,
            stable_after: Duration::from_secs(60),
        }
    }
}

impl BackoffConfig {
    /// The delay before retry number `attempt` (0-based) without jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use carry_feeds::transport::backoff::BackoffConfig;
    /// let c = BackoffConfig { initial: Duration::from_millis(100), max: Duration::from_secs(1),
    ///                         multiplier: 2, jitter_percent: 0, stable_after: Duration::ZERO };
    /// let ms: Vec<u128> = (0..6).map(|n| c.base_delay(n).as_millis()).collect();
    /// assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
    /// ```
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let max = self.max.as_nanos().min(u64::MAX as u128) as u64;
        let mut d = (self.initial.as_nanos().min(u64::MAX as u128) as u64).min(max);
        for _ in 0..attempt {
            if d >= max {
                break;
            }
            d = d.saturating_mul(u64::from(self.multiplier.max(1))).min(max);
        }
        Duration::from_nanos(d)
    }
}

/// One connection's retry state.
#[derive(Clone, Debug)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    rng: XorShift64,
}

impl Backoff {
    /// `seed` picks the jitter sequence; use something that differs per connection
    /// (see [`seed_from`]).
    pub fn new(config: BackoffConfig, seed: u64) -> Backoff {
        Backoff {
            config,
            attempt: 0,
            rng: XorShift64::new(seed),
        }
    }

    /// The pacing this backoff follows.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// Consecutive failures so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next retry; counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.config.base_delay(self.attempt).as_nanos() as u64;
        self.attempt = self.attempt.saturating_add(1);
        let span = base / 100 * u64::from(self.config.jitter_percent.min(100))
            + base % 100 * u64::from(self.config.jitter_percent.min(100)) / 100;
        let cut = if span == 0 {
            0
        } else {
            self.rng.next_u64() % (span + 1)
        };
        Duration::from_nanos(base - cut)
    }

    /// A connection ended after living `lived`: a healthy one resets the sequence.
    pub fn connection_ended(&mut self, lived: Duration) {
        if lived >= self.config.stable_after {
            self.attempt = 0;
        }
    }

    /// Starts again from `initial`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A seed for [`Backoff::new`] and websocket masks derived from a connection's identity and
/// [`process_seed`], so the jitter differs between connections and between processes, and stays
/// the same for one connection within a process.
pub fn seed_from(name: &str, index: usize) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ index as u64 ^ process_seed();
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(h ^ (index as u64).rotate_left(32))
}

/// A value that differs between processes: the pid, the wall clock and where this thread's stack
/// lies (randomized per process by ASLR), mixed. Computed once per process.
pub fn process_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let marker = 0u8;
        let stack = std::ptr::addr_of!(marker) as usize as u64;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        splitmix64(u64::from(std::process::id()) ^ nanos.rotate_left(21) ^ stack.rotate_left(42))
    })
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Marsaglia's xorshift64: tiny, fast, good enough for jitter and websocket masking keys (which
/// exist to defeat proxy cache poisoning by scripts, not to keep secrets).
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator seeded from `seed` (mixed, and never 0).
    pub fn new(seed: u64) -> XorShift64 {
        // Zero is xorshift's one fixed point.
        XorShift64(splitmix64(seed) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(initial_ms: u64, max_ms: u64, mult: u32, jitter: u8) -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_millis(max_ms),
            multiplier: mult,
            jitter_percent: jitter,
            stable_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn delay_sequence_table() {
        // (config, expected delays in ms for attempts 0..8) with no jitter.
        let cases: [(BackoffConfig, [u64; 8]); 4] = [
            (
                cfg(250, 30_000, 2, 0),
                [250, 500, 1000, 2000, 4000, 8000, 16_000, 30_000],
            ),
            (
                cfg(100, 1_000, 3, 0),
                [100, 300, 900, 1000, 1000, 1000, 1000, 1000],
            ),
            (cfg(500, 500, 2, 0), [500; 8]),
            // An initial above the cap is capped too.
            (cfg(2_000, 1_000, 2, 0), [1000; 8]),
        ];
        for (c, expected) in cases {
            let mut b = Backoff::new(c, 7);
            let got: Vec<u64> = (0..8).map(|_| b.next_delay().as_millis() as u64).collect();
            assert_eq!(got, expected, "{c:?}");
        }
        // Very long runs saturate at the cap instead of overflowing.
        let c = cfg(250, 30_000, 2, 0);
        assert_eq!(c.base_delay(10_000), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let c = cfg(1000, 8000, 2, 25);
        let mut b = Backoff::new(c, seed_from("group", 3));
        let mut distinct = std::collections::BTreeSet::new();
        for round in 0..2000u32 {
            let n = b.attempt();
            let base = c.base_delay(n);
            let d = b.next_delay();
            assert!(d <= base, "round {round}: {d:?} > {base:?}");
            assert!(d >= base * 3 / 4, "round {round}: {d:?} < 75% of {base:?}");
            assert!(d <= c.max);
            distinct.insert(d);
            if round % 10 == 9 {
                b.reset();
            }
        }
        assert!(
            distinct.len() > 100,
            "jitter produced {} values",
            distinct.len()
        );
    }

    #[test]
    fn same_seed_same_sequence_and_seeds_differ_per_connection() {
        let c = cfg(1000, 8000, 2, 50);
        let run = |seed| {
            let mut b = Backoff::new(c, seed);
            (0..6).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(seed_from("binance", 0)), run(seed_from("binance", 0)));
        assert_ne!(run(seed_from("binance", 0)), run(seed_from("binance", 1)));
        assert_ne!(seed_from("okx", 0), seed_from("bybit", 0));
    }

    /// Two processes get different jitter for the same connection. The test runs itself as two
    /// child processes, each printing the seed its `binance-perp` connection 0 would get.
    #[test]
    fn jitter_differs_between_processes() {
        const CHILD: &str = "CARRY_BACKOFF_PRINT_SEED";
        if std::env::var_os(CHILD).is_some() {
            println!("seed={}", seed_from("binance-perp", 0));
            return;
        }
        // The harness names tests by module path without the crate.
        let name = format!("{}::jitter_differs_between_processes", module_path!());
        let name = name.split_once("::").map_or(name.as_str(), |(_, n)| n);
        let child_seed = || {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([name, "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD, "1")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            stdout
                .lines()
                .find_map(|l| l.split_once("seed=").map(|(_, n)| n))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("child printed no seed: {stdout}"))
        };
        let (a, b) = (child_seed(), child_seed());
        let own = seed_from("binance-perp", 0);
        assert!(a != b && a != own && b != own, "{a} {b} {own}");
        let c = cfg(1000, 8000, 2, 50);
        let run = |seed| {
            let mut backoff = Backoff::new(c, seed);
            (0..6).map(|_| backoff.next_delay()).collect::<Vec<_>>()
        };
        assert_ne!(run(a), run(b));
        // Within a process a connection keeps its seed.
        assert_eq!(own, seed_from("binance-perp", 0));
    }

    #[test]
    fn only_a_stable_connection_resets_the_sequence() {
        let c = cfg(100, 10_000, 2, 0);
        let mut b = Backoff::new(c, 1);
        b.next_delay();
        b.next_delay();
        b.connection_ended(Duration::from_secs(5));
        assert_eq!(b.next_delay(), Duration::from_millis(400));
        b.connection_ended(Duration::from_secs(60));
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}

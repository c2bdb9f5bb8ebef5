//! Time as the engine sees it: passed in with every input, never read. The driver stamps both
//! clocks once per input; replay feeds the journaled stamps back, so decisions repeat exactly.

/// The moment an input is processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Now {
    /// Monotonic nanoseconds (same clock as `MarketEvent::recv_ns`): staleness, timeouts, latency.
    pub mono_ns: u64,
    /// Unix milliseconds UTC: funding settlement times, venue timestamps.
    pub unix_ms: i64,
}

impl Now {
    /// A time from its two clocks.
    pub const fn new(mono_ns: u64, unix_ms: i64) -> Now {
        Now { mono_ns, unix_ms }
    }
}

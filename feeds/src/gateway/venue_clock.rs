//! The venue's clock as a gateway signs with it: the local wall clock corrected by the offset
//! last measured against the venue's server-time endpoint.
//!
//! Venues refuse a request whose timestamp is ahead of their clock (Binance and Bybit by more
//! than 1 s) or behind it by more than the receive window. A sync measures the offset from the
//! midpoint of the request's round trip; the signing time is then held back by half that round
//! trip (the offset's uncertainty), since being late by a few milliseconds costs nothing within
//! the window while being early is refused.

/// Offset tracking for one venue.
#[derive(Clone, Debug)]
pub struct VenueClock {
    offset_ms: i64,
    guard_ms: i64,
    synced_at_ns: Option<u64>,
    resync_every_ns: u64,
}

impl VenueClock {
    /// A clock that has not synced yet (offset 0) and wants a sync every `resync_every_ms`.
    pub fn new(resync_every_ms: u64) -> VenueClock {
        VenueClock {
            offset_ms: 0,
            guard_ms: 0,
            synced_at_ns: None,
            resync_every_ns: resync_every_ms.saturating_mul(1_000_000),
        }
    }

    /// Records a sync: the local wall clock read just before the request and just after the
    /// answer, the server's time from the answer, and the monotonic time of the answer.
    pub fn record(&mut self, before_ms: i64, after_ms: i64, server_ms: i64, mono_ns: u64) {
        let rtt = after_ms.saturating_sub(before_ms).max(0);
        let midpoint = before_ms + rtt / 2;
        self.offset_ms = server_ms.saturating_sub(midpoint);
        self.guard_ms = (rtt + 1) / 2;
        self.synced_at_ns = Some(mono_ns);
    }

    /// The timestamp to sign with, for a local wall clock reading `local_ms`.
    pub fn signing_ms(&self, local_ms: i64) -> i64 {
        local_ms + self.offset_ms - self.guard_ms
    }

    /// The measured offset (venue minus local), for logs and the admin view.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// Whether a sync is due: never synced, marked stale, or older than the interval.
    pub fn is_due(&self, mono_ns: u64) -> bool {
        match self.synced_at_ns {
            None => true,
            Some(t) => mono_ns.saturating_sub(t) >= self.resync_every_ns,
        }
    }

    /// Marks the offset stale (the venue refused a timestamp): the next send syncs first.
    pub fn invalidate(&mut self) {
        self.synced_at_ns = None;
    }

    /// Whether any sync has succeeded since the last invalidation.
    pub fn is_synced(&self) -> bool {
        self.synced_at_ns.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_is_taken_at_the_midpoint_and_signing_stays_behind() {
        // Cases a reader can check: (before, after, server) -> (offset, signing time at 10_000).
        for (before, after, server, offset, signing) in [
            (1_000, 1_000, 1_000, 0, 10_000),
            (1_000, 1_020, 1_010, 0, 9_990),
            (1_000, 1_020, 4_010, 3_000, 12_990),
            (1_000, 1_021, 500, -510, 9_479),
            (5_000, 4_990, 5_000, 0, 10_000), // a clock step backwards: round trip taken as 0
        ] {
            let mut c = VenueClock::new(60_000);
            c.record(before, after, server, 1);
            assert_eq!(c.offset_ms(), offset, "{before} {after} {server}");
            assert_eq!(c.signing_ms(10_000), signing, "{before} {after} {server}");
        }
    }

    #[test]
    fn due_before_the_first_sync_after_the_interval_and_after_invalidation() {
        let mut c = VenueClock::new(1_000);
        assert!(c.is_due(0));
        c.record(0, 0, 0, 5_000_000_000);
        assert!(!c.is_due(5_500_000_000));
        assert!(c.is_due(6_000_000_000));
        c.record(0, 0, 0, 6_000_000_000);
        c.invalidate();
        assert!(c.is_due(6_000_000_001));
        assert!(!c.is_synced());
    }
}

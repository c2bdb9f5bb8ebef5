//! The two clocks every thread stamps with: monotonic nanoseconds for latency, staleness and
//! timers, and Unix milliseconds for times that travel in events. Both read the kernel clocks
//! through `clock_gettime`, which on Linux is served by the vDSO without a system call, so they are
//! cheap enough to call per event. `mono_ns` is `CLOCK_MONOTONIC` itself (nanoseconds since boot),
//! not an offset from process start, so stamps taken in different processes (the demo's simulated
//! venues, a replay tool) compare directly.

use crate::transport::session::RecvStamp;

/// Monotonic nanoseconds (`CLOCK_MONOTONIC`). Never goes backwards; never 0 on a running system.
///
/// ```
/// let a = carry_feeds::transport::clock::mono_ns();
/// let b = carry_feeds::transport::clock::mono_ns();
/// assert!(b >= a && a > 0);
/// ```
#[inline]
pub fn mono_ns() -> u64 {
    imp::mono_ns()
}

/// Wall-clock Unix milliseconds UTC (`CLOCK_REALTIME`).
///
/// ```
/// assert!(carry_feeds::transport::clock::unix_ms() > 1_600_000_000_000);
/// ```
#[inline]
pub fn unix_ms() -> i64 {
    imp::unix_ms()
}

/// Both clocks at once, as a feed stamps a socket read.
#[inline]
pub fn recv_stamp() -> RecvStamp {
    RecvStamp {
        mono_ns: mono_ns(),
        unix_ms: unix_ms(),
    }
}

#[cfg(unix)]
mod imp {
    #[inline]
    fn read(clock: libc::clockid_t) -> libc::timespec {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec, and both clock ids used here exist on every
        // unix carry supports, so clock_gettime only writes into `ts`.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts
    }

    // time_t and c_long are i64 here but narrower on 32-bit targets; `from` widens losslessly.
    #[allow(clippy::useless_conversion)]
    #[inline]
    pub fn mono_ns() -> u64 {
        let ts = read(libc::CLOCK_MONOTONIC);
        (i64::from(ts.tv_sec) as u64) * 1_000_000_000 + i64::from(ts.tv_nsec) as u64
    }

    #[allow(clippy::useless_conversion)]
    #[inline]
    pub fn unix_ms() -> i64 {
        let ts = read(libc::CLOCK_REALTIME);
        i64::from(ts.tv_sec) * 1000 + i64::from(ts.tv_nsec) / 1_000_000
    }
}

#[cfg(not(unix))]
mod imp {
    use std::sync::OnceLock;
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    // Off unix there is no shared monotonic origin; a process-wide epoch keeps the values
    // monotonic and non-zero, which is all one process needs.
    static EPOCH: OnceLock<Instant> = OnceLock::new();

    pub fn mono_ns() -> u64 {
        let epoch = *EPOCH.get_or_init(Instant::now);
        1 + epoch.elapsed().as_nanos() as u64
    }

    pub fn unix_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_agree_with_std() {
        let std_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!((unix_ms() - std_ms).abs() < 5_000);

        // `a` before `start`: both read CLOCK_MONOTONIC, so b - a >= b - start >= 2 ms exactly.
        let a = mono_ns();
        let start = std::time::Instant::now();
        let mut spins = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(2) {
            spins += 1;
        }
        let b = mono_ns();
        assert!(spins > 0);
        assert!(b - a >= 2_000_000, "monotonic clock advanced {} ns", b - a);
        let s = recv_stamp();
        assert!(s.mono_ns >= b && s.unix_ms > 0);
    }
}

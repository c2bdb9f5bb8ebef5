//! Connection counters the admin socket exposes: per websocket connection, connects,
//! disconnects by [`DisconnectReason`], frames, bytes, items produced, drops by
//! [`DropReason`], pings and heartbeats; and the single-writer [`Counter`] they are made of.
//!
//! Every counter has exactly one writer, the thread that owns the connection, which updates it
//! with a Relaxed load and store (no read-modify-write, so no locked instruction on the hot
//! path). Any thread may read at any time; each value is exact on its own, but a snapshot is not
//! an atomic cut across counters. Each connection's block is cache-padded so readers and the
//! threads of other connections never share its cache lines (128-byte alignment, as
//! crossbeam's `CachePadded`).

use std::sync::atomic::{AtomicU64, Ordering};

use carry_engine::Venue;

use crate::transport::session::DropReason;

/// Why a connection ended. Low-cardinality: it labels a counter per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisconnectReason {
    /// The venue sent a close frame, or closed TCP/TLS.
    ClosedByVenue,
    /// A socket error (reset, broken pipe, ...).
    IoError,
    /// TLS failed: certificate, alert, protocol.
    TlsError,
    /// The HTTP upgrade to websocket was refused or malformed.
    HandshakeError,
    /// The venue broke the websocket protocol (bad frame, oversized message, ...).
    ProtocolError,
    /// DNS resolution or TCP connect failed.
    ConnectFailed,
    /// TCP connect, TLS or the upgrade took longer than allowed.
    Timeout,
    /// Nothing was received for longer than the silence limit.
    Watchdog,
    /// Planned reconnect before the venue's maximum connection age.
    MaxAge,
    /// The venue announced a shutdown or upgrade of this connection.
    VenueNotice,
    /// The feed group was stopped.
    Shutdown,
}

impl DisconnectReason {
    /// How many reasons there are.
    pub const COUNT: usize = 11;

    /// Every reason, in counter order.
    pub const ALL: [DisconnectReason; DisconnectReason::COUNT] = [
        DisconnectReason::ClosedByVenue,
        DisconnectReason::IoError,
        DisconnectReason::TlsError,
        DisconnectReason::HandshakeError,
        DisconnectReason::ProtocolError,
        DisconnectReason::ConnectFailed,
        DisconnectReason::Timeout,
        DisconnectReason::Watchdog,
        DisconnectReason::MaxAge,
        DisconnectReason::VenueNotice,
        DisconnectReason::Shutdown,
    ];

    /// The reason's label in metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ClosedByVenue => "closed_by_venue",
            DisconnectReason::IoError => "io_error",
            DisconnectReason::TlsError => "tls_error",
            DisconnectReason::HandshakeError => "handshake_error",
            DisconnectReason::ProtocolError => "protocol_error",
            DisconnectReason::ConnectFailed => "connect_failed",
            DisconnectReason::Timeout => "timeout",
            DisconnectReason::Watchdog => "watchdog",
            DisconnectReason::MaxAge => "max_age",
            DisconnectReason::VenueNotice => "venue_notice",
            DisconnectReason::Shutdown => "shutdown",
        }
    }

    /// Planned reconnects do not back off: the connection was healthy.
    pub const fn is_planned(self) -> bool {
        matches!(
            self,
            DisconnectReason::MaxAge | DisconnectReason::VenueNotice | DisconnectReason::Shutdown
        )
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A counter with one writer. `incr`/`add` are a Relaxed load and store, which is only correct
/// because a single thread writes; readers see every value eventually and never a torn one.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn incr(&self) {
        self.add(1);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Sets the value (for gauges).
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// The value now.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one websocket connection (one session), kept across reconnects.
/// Aligned like crossbeam's `CachePadded` so no two connections share a cache line.
#[derive(Debug)]
#[repr(align(128))]
pub struct ConnectionStats {
    /// The venue at the other end.
    pub venue: Venue,
    /// The URL the connection opens.
    pub url: String,
    /// TCP connects started.
    pub connect_attempts: Counter,
    /// Connections that completed the websocket upgrade.
    pub connects: Counter,
    disconnects: [Counter; DisconnectReason::COUNT],
    /// Websocket frames received (data and control).
    pub frames: Counter,
    /// Text messages handed to the venue session (after reassembling fragments).
    pub messages: Counter,
    /// Binary messages (no venue of carry sends them; counted and ignored).
    pub binary_messages: Counter,
    /// Decrypted bytes received.
    pub bytes: Counter,
    /// Items the session produced (market events, for a market data session).
    pub events: Counter,
    drops: [Counter; DropReason::ALL.len()],
    /// Protocol pings received (each is answered with a pong of the same payload).
    pub pings: Counter,
    /// Application heartbeats sent.
    pub heartbeats_sent: Counter,
    /// Subscription acknowledgements seen.
    pub subscribe_acks: Counter,
    /// 1 while the websocket is open, else 0.
    pub up: Counter,
    /// Monotonic ns of the last byte received (0 = never).
    pub last_recv_mono_ns: Counter,
    /// Unix ms at which the current connection opened (0 = down).
    pub up_since_unix_ms: Counter,
}

impl ConnectionStats {
    /// Zeroed counters for a connection of `venue` to `url`.
    pub fn new(venue: Venue, url: &str) -> ConnectionStats {
        ConnectionStats {
            venue,
            url: url.to_string(),
            connect_attempts: Counter::default(),
            connects: Counter::default(),
            disconnects: Default::default(),
            frames: Counter::default(),
            messages: Counter::default(),
            binary_messages: Counter::default(),
            bytes: Counter::default(),
            events: Counter::default(),
            drops: Default::default(),
            pings: Counter::default(),
            heartbeats_sent: Counter::default(),
            subscribe_acks: Counter::default(),
            up: Counter::default(),
            last_recv_mono_ns: Counter::default(),
            up_since_unix_ms: Counter::default(),
        }
    }

    /// The counter of disconnects for `reason`.
    #[inline]
    pub fn disconnect(&self, reason: DisconnectReason) -> &Counter {
        &self.disconnects[reason.index()]
    }

    /// The counter of frames dropped for `reason`.
    #[inline]
    pub fn drops(&self, reason: DropReason) -> &Counter {
        &self.drops[drop_index(reason)]
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> ConnectionSnapshot {
        ConnectionSnapshot {
            venue: self.venue,
            url: self.url.clone(),
            connect_attempts: self.connect_attempts.get(),
            connects: self.connects.get(),
            disconnects: DisconnectReason::ALL.map(|r| (r, self.disconnect(r).get())),
            frames: self.frames.get(),
            messages: self.messages.get(),
            binary_messages: self.binary_messages.get(),
            bytes: self.bytes.get(),
            events: self.events.get(),
            drops: DropReason::ALL.map(|r| (r, self.drops(r).get())),
            pings: self.pings.get(),
            heartbeats_sent: self.heartbeats_sent.get(),
            subscribe_acks: self.subscribe_acks.get(),
            up: self.up.get() != 0,
            last_recv_mono_ns: self.last_recv_mono_ns.get(),
            up_since_unix_ms: self.up_since_unix_ms.get() as i64,
        }
    }
}

fn drop_index(reason: DropReason) -> usize {
    match reason {
        DropReason::Malformed => 0,
        DropReason::MissingField => 1,
        DropReason::BadNumber => 2,
        DropReason::UnknownSymbol => 3,
        DropReason::UnknownChannel => 4,
        DropReason::SubscribeError => 5,
        DropReason::DeltaWithoutSnapshot => 6,
    }
}

/// A copy of one connection's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSnapshot {
    /// The venue at the other end.
    pub venue: Venue,
    /// The URL the connection opens.
    pub url: String,
    /// TCP connects started.
    pub connect_attempts: u64,
    /// Websocket opens.
    pub connects: u64,
    /// Disconnects by reason.
    pub disconnects: [(DisconnectReason, u64); DisconnectReason::COUNT],
    /// Websocket frames received.
    pub frames: u64,
    /// Text messages handed to the session.
    pub messages: u64,
    /// Binary messages (counted and ignored).
    pub binary_messages: u64,
    /// Decrypted bytes received.
    pub bytes: u64,
    /// Items the session produced.
    pub events: u64,
    /// Frames dropped, by reason.
    pub drops: [(DropReason, u64); DropReason::ALL.len()],
    /// Protocol pings received.
    pub pings: u64,
    /// Application heartbeats sent.
    pub heartbeats_sent: u64,
    /// Subscription acknowledgements seen.
    pub subscribe_acks: u64,
    /// Whether the websocket is open.
    pub up: bool,
    /// Monotonic ns of the last byte received (0 = never).
    pub last_recv_mono_ns: u64,
    /// Unix ms at which the current connection opened (0 = down).
    pub up_since_unix_ms: i64,
}

impl ConnectionSnapshot {
    /// Disconnects for `reason`.
    pub fn disconnects_for(&self, reason: DisconnectReason) -> u64 {
        self.disconnects
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// Frames dropped for `reason`.
    pub fn drops_for(&self, reason: DropReason) -> u64 {
        self.drops
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// Disconnects for any reason.
    pub fn total_disconnects(&self) -> u64 {
        self.disconnects.iter().map(|(_, n)| n).sum()
    }

    /// Frames dropped for any reason.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(|(_, n)| n).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_their_own_slot() {
        for (i, r) in DisconnectReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(drop_index(*r), i);
        }
        let names: std::collections::BTreeSet<_> =
            DisconnectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), DisconnectReason::COUNT);
    }
}

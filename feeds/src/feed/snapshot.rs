//! REST snapshots as the feed group takes them: what a venue's REST API says about its
//! instruments ([`VenueSnapshot`]), and where a group gets one ([`SnapshotSource`]: the venue's
//! REST API, or fixed snapshots for tests and runs without REST).

use std::collections::HashMap;
use std::time::Duration;

use carry_engine::{MarketEvent, Universe, Venue};

use crate::transport::session::RecvStamp;
use crate::venue::market_rest::{fetch_snapshot, RestError};

/// What a venue's REST API says at start and after each reconnect: the current funding of each
/// perpetual, the funding interval of each symbol and its trading rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VenueSnapshot {
    /// The venue it describes (`None`: applies to any).
    pub venue: Option<Venue>,
    /// One entry per instrument the venue lists for the universe.
    pub instruments: Vec<InstrumentSnapshot>,
}

/// One instrument's part of a [`VenueSnapshot`]. `funding` is a ready-to-queue event (perps only).
#[derive(Clone, Debug, PartialEq)]
pub struct InstrumentSnapshot {
    /// The instrument.
    pub instrument: carry_engine::InstrumentId,
    /// Its current funding, ready to queue (perps only).
    pub funding: Option<MarketEvent>,
    /// Its funding interval, where the venue states one.
    pub interval_ms: Option<u64>,
    /// Its trading rules.
    pub spec: Option<carry_engine::InstrumentSpec>,
}

/// Why a venue's snapshot could not be had; every variant names the venue.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The venue's REST API failed; the error names the request path and what went wrong.
    #[error(transparent)]
    Rest(#[from] RestError),
    /// A [`StaticSnapshots`] source holds none for this venue.
    #[error("no static snapshot for {venue} ({rest_url})")]
    NoStaticSnapshot {
        /// The venue asked for.
        venue: Venue,
        /// The base URL it was asked at.
        rest_url: String,
    },
    /// The thread fetching it panicked.
    #[error("{venue}: the REST snapshot thread panicked")]
    Panicked {
        /// The venue being fetched.
        venue: Venue,
    },
}

/// Where a group gets a venue's REST snapshot. Runs on a helper thread, may block.
pub trait SnapshotSource: Send + Sync {
    /// The snapshot of `venue` for every instrument `universe` carries there, from `rest_url`
    /// (its base URL); `recv` stamps its funding events.
    fn fetch(
        &self,
        venue: Venue,
        rest_url: &str,
        universe: &Universe,
        recv: RecvStamp,
    ) -> Result<VenueSnapshot, SnapshotError>;
}

/// The real [`SnapshotSource`]: the venue's REST API through [`fetch_snapshot`]
/// (blocking ureq, on the group's helper thread).
pub struct RestSnapshots {
    agent: ureq::Agent,
}

impl RestSnapshots {
    /// Uses `agent` (configure its timeouts and TLS roots as the deployment needs).
    pub fn new(agent: ureq::Agent) -> RestSnapshots {
        RestSnapshots { agent }
    }

    /// An agent with a global per-request timeout and ureq's default TLS (webpki roots).
    pub fn with_timeout(timeout: Duration) -> RestSnapshots {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .build();
        RestSnapshots::new(ureq::Agent::new_with_config(config))
    }
}

impl SnapshotSource for RestSnapshots {
    fn fetch(
        &self,
        venue: Venue,
        rest_url: &str,
        universe: &Universe,
        recv: RecvStamp,
    ) -> Result<VenueSnapshot, SnapshotError> {
        Ok(fetch_snapshot(
            &self.agent,
            venue,
            rest_url,
            universe,
            recv,
        )?)
    }
}

/// A [`SnapshotSource`] that serves fixed snapshots per venue (or an error for venues it does
/// not know): for tests, and for runs without REST (e.g. replaying recorded feeds).
#[derive(Default)]
pub struct StaticSnapshots {
    snapshots: HashMap<Venue, VenueSnapshot>,
}

impl StaticSnapshots {
    /// No snapshots: every venue is an error until [`StaticSnapshots::with`] adds it.
    pub fn new() -> StaticSnapshots {
        StaticSnapshots::default()
    }

    /// Serves `snapshot` for `venue`.
    pub fn with(mut self, venue: Venue, snapshot: VenueSnapshot) -> StaticSnapshots {
        self.snapshots.insert(venue, snapshot);
        self
    }
}

impl SnapshotSource for StaticSnapshots {
    fn fetch(
        &self,
        venue: Venue,
        rest_url: &str,
        _universe: &Universe,
        _recv: RecvStamp,
    ) -> Result<VenueSnapshot, SnapshotError> {
        self.snapshots
            .get(&venue)
            .cloned()
            .ok_or_else(|| SnapshotError::NoStaticSnapshot {
                venue,
                rest_url: rest_url.to_string(),
            })
    }
}

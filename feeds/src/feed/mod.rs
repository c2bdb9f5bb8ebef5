//! Market data feeds: the [`session`] a market data connection runs, the REST [`snapshot`]s its
//! venue is read with at start and after reconnects, the feed [`group`] thread that runs both,
//! its [`queue`] to the engine thread, and the group's counters ([`stats`]).

pub mod group;
pub mod queue;
pub mod session;
pub mod snapshot;
pub mod stats;

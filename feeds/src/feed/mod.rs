//! Market data feeds: feed group threads, their queues to the engine and their counters.

pub mod group;
pub mod queue;
pub mod session;
pub mod snapshot;
pub mod stats;

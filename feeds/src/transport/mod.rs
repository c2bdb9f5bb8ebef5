//! The websocket machinery every stream shares.

pub mod backoff;
pub mod clock;
pub mod connection;
pub mod session;
pub mod stats;
pub mod streams;
pub mod tls;

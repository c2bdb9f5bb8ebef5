//! The gateways carry runs itself: the embedded paper venue and the quote board it fills
//! against. The [`carry_feeds::gateway::Gateway`] trait they implement, and the threads that run
//! gateways, live in `carry-feeds`, beside the venue adapters.

pub mod paper;
pub mod quote_board;
pub mod shadow;
pub mod wiring;

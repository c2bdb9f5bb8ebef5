//! placeholder
use crate::sim::ws::Protocol;
use carry_engine::Venue;
pub(crate) fn protocol(_venue: Venue, _path: &str) -> Option<Box<dyn Protocol>> {
    None
}

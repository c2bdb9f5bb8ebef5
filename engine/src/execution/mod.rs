//! The execution half: from a pair's target to orders, and from the venues' answers back to
//! confirmed positions. A pair's trade cycle (Flat → Entering → Open → Exiting → Flat, with
//! Unwinding to rebalance the legs) owns the orders it sent; the reconciler names the one next
//! thing a cycle needs (place, cancel, query, move on, report exposure); order sizes and prices
//! are rounded onto each venue's rules; client order ids are a pure function of the cycle, so a
//! restart never issues one twice; positions are built from fills alone.

pub mod client_id;
pub mod cycle;
pub mod order;
pub mod position;
pub mod reconciler;
pub mod rounding;

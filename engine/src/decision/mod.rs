//! The decision half: from the market state to the position each pair wants. The [`Decider`]
//! is its facade, which the engine drives: the pair table resolves the configured pairs into
//! orientations, the strategy turns funding into each orientation's edge (money math in exact
//! decimals, the per-event margin sum in fixed point), risk watches every perp leg's margin, and
//! the circuit breakers (tripped by feeds, rejects, risk, the journal or an operator command)
//! say when entries stop, positions are forced closed, or everything halts. The output is a
//! [`target::PairTarget`] per pair: a state to reach, not an order.
//!
//! [`Decider`]: decider::Decider

pub mod breaker;
pub mod command;
pub mod decider;
pub mod fixed;
pub mod metrics;
pub mod money;
pub mod pair;
pub mod risk;
pub mod strategy;
pub mod target;

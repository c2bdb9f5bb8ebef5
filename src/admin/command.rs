//! Operator commands the admin socket forwards to the engine thread: the engine's own
//! [`carry_engine::decision::command::OperatorCommand`] (`pause`, `resume`, `flatten`), re-exported so the
//! admin side and the engine agree on one type and one set of words.

pub use carry_engine::decision::command::OperatorCommand;

//! The `carry` program as a library: configuration, thread wiring, gateways, the admin socket,
//! the demo venue simulator and the operator tools. `main.rs` is only the command line.

pub mod admin;
pub mod decode;
pub mod gateway;
pub mod journal_cmd;
pub mod sim;

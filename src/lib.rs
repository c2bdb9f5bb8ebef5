//! The `carry` program as a library: configuration, thread wiring, gateways, the admin socket,
//! the demo venue simulator and the operator tools. `main.rs` is only the command line.

pub mod admin;
pub mod app;
pub mod config;
pub mod cores;
pub mod decode;
pub mod demo;
pub mod engine_thread;
pub mod gateway;
pub mod journal_cmd;
pub mod latency;
pub mod metrics;
pub mod replay_cmd;
pub mod signals;
pub mod sim;

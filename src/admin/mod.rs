//! Operator window into a running carry: the engine publishes [`Snapshot`]s and polls operator
//! commands through lock-free queues ([`snapshot`]), the admin thread serves them on a Unix socket
//! ([`server`], answers in [`reply`], the socket's path and file in [`socket_file`]), and
//! `carry admin` is the client ([`client`]).
//!
//! Wiring, for the binary:
//!
//! ```no_run
//! use carry::admin::{command_channel, snapshot_channel, AdminServer, AdminSources};
//! use carry::latency::{LatencyCollector, LatencyConfig, Stage};
//!
//! let (mut publisher, snapshots) = snapshot_channel(3);
//! let (commands, command_rx) = command_channel(64);
//! let mut latency = LatencyCollector::new(LatencyConfig::default()).unwrap();
//! let mut engine_latency = latency
//!     .new_recorder("engine", &[Stage::Parse, Stage::Queue, Stage::Decide, Stage::Journal, Stage::WireToIntent])
//!     .unwrap();
//! let admin = AdminServer::spawn("carry-admin.sock", AdminSources { snapshots, latency, commands }).unwrap();
//! // engine thread: engine_latency.record(..); engine_latency.maybe_publish(now_ns);
//! //                publisher.publish_with(|s| { s.status.events = 1; });
//! //                while let Some(cmd) = command_rx.poll() { /* engine.on_command(cmd) */ }
//! let sources = admin.shutdown().unwrap();
//! ```

pub mod client;
pub mod command;
pub mod reply;
pub mod server;
pub mod snapshot;
pub mod socket_file;

pub use client::{AdminArgs, AdminClient};
pub use command::OperatorCommand;
pub use reply::Reply;
pub use server::{AdminHandle, AdminOptions, AdminServer, AdminSources};
pub use snapshot::{
    command_channel, snapshot_channel, CommandReceiver, CommandSender, Snapshot, SnapshotPublisher,
    SnapshotReader,
};

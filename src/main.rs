//! The `carry` command line. Each subcommand lives in its own module of the `carry` library;
//! this file only parses arguments and maps outcomes to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// carry: funding-rate arbitrage for crypto perpetual futures.
///
/// Watches funding rates and top-of-book quotes on Binance, Bybit, OKX, Bitget and Gate (perp and
/// spot), computes cross-venue funding spreads and their APR, and runs delta-neutral positions
/// through entry, hedge, hold and exit. Every decision is journaled before any order is sent, so
/// a crash or restart never sends an order twice.
#[derive(Parser)]
#[command(name = "carry", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine against the venues in a config file.
    Run {
        /// TOML configuration (see config/default.toml).
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the engine against simulated venues on loopback, with paper execution. Offline.
    Demo(carry::demo::DemoArgs),
    /// Turn raw venue messages into normalized events (one JSON object per line).
    Decode(carry::decode::DecodeArgs),
    /// Send one command to a running engine's admin socket and print the reply.
    Admin(carry::admin::AdminArgs),
    /// Inspect a journal directory: verify, dump, stats (read-only, safe beside a running engine).
    #[command(subcommand)]
    Journal(carry::journal_cmd::JournalCommand),
    /// Re-run a fresh engine on a journal's recorded inputs and compare the intents it produces.
    Replay {
        /// The journal directory to replay.
        #[arg(long, value_name = "DIR")]
        journal: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run { config } => carry::app::run_from_file(&config),
        Command::Demo(args) => carry::demo::run(args),
        Command::Decode(args) => carry::decode::run(args),
        Command::Admin(args) => carry::admin::client::run(args),
        Command::Journal(cmd) => carry::journal_cmd::run(cmd),
        Command::Replay { journal } => carry::replay_cmd::run(&journal),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("carry: {e:#}");
            ExitCode::FAILURE
        }
    }
}

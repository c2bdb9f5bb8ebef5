//! `carry replay --journal DIR`: re-runs a fresh engine on a journal's recorded inputs and
//! compares the intents it produces with the journaled ones. The engine is rebuilt from the
//! configuration text each START record carries, so the journal alone is enough.

use std::path::Path;
use std::process::ExitCode;

use carry_engine::replay::{replay, ReplayOutcome};

use crate::config::Config;

/// Prints `identical: N intents` and exits 0, or the first divergence and exits 1.
pub fn run(journal: &Path) -> anyhow::Result<ExitCode> {
    let outcome = replay(journal, |start| {
        let config = Config::parse(&start.config_text, "journaled configuration")
            .map_err(|e| e.to_string())?;
        let (mut engine, universe, decider) = config
            .engine_parts()
            .map_err(|(key, reason)| format!("{key}: {reason}"))?;
        engine.config_text = start.config_text.clone();
        Ok((engine, universe, decider))
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}", journal.display()))?;
    match outcome {
        ReplayOutcome::Identical(stats) => {
            println!(
                "identical: {} intents ({} inputs, {} runs{})",
                stats.identical,
                stats.inputs,
                stats.runs,
                if stats.cut_by_crash > 0 {
                    format!(
                        ", {} intents never journaled: their run died first",
                        stats.cut_by_crash
                    )
                } else {
                    String::new()
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        ReplayOutcome::Diverged(d) => {
            println!("diverged at seq {}", d.seq);
            println!("expected: {}", d.expected);
            println!("got:      {}", d.got);
            Ok(ExitCode::FAILURE)
        }
    }
}

//! Operator commands: what a person at the admin socket can tell the engine to do. They arrive on
//! the engine thread like any other input (so they are journaled and replayed in order) and act
//! through the circuit breakers: `pause` stops new entries, `flatten` exits every pair and keeps
//! entries stopped, `resume` lifts both (but never a journal-failure halt).

use std::fmt;
use std::str::FromStr;

/// One operator command. `Copy` and one byte, so it crosses the admin queue by value.
///
/// ```
/// use carry_engine::decision::command::OperatorCommand;
/// let c: OperatorCommand = "flatten".parse().unwrap();
/// assert_eq!(c, OperatorCommand::Flatten);
/// assert_eq!(OperatorCommand::from_code(c.code()), Some(c));
/// assert!("halt".parse::<OperatorCommand>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OperatorCommand {
    /// Stop opening positions; open positions stay and may still exit on their own signals.
    Pause,
    /// Lift `Pause` and `Flatten` (and per-pair leftover-exposure pauses).
    Resume,
    /// Exit every open pair now and stop opening new ones until `Resume`.
    Flatten,
}

impl OperatorCommand {
    /// Every command, in code order.
    pub const ALL: [OperatorCommand; 3] = [
        OperatorCommand::Pause,
        OperatorCommand::Resume,
        OperatorCommand::Flatten,
    ];

    /// The command word on the admin socket and its metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            OperatorCommand::Pause => "pause",
            OperatorCommand::Resume => "resume",
            OperatorCommand::Flatten => "flatten",
        }
    }

    /// Stable one-byte code for journal records; never renumber.
    pub const fn code(self) -> u8 {
        match self {
            OperatorCommand::Pause => 1,
            OperatorCommand::Resume => 2,
            OperatorCommand::Flatten => 3,
        }
    }

    /// The command with this journal code, if any.
    pub const fn from_code(code: u8) -> Option<OperatorCommand> {
        match code {
            1 => Some(OperatorCommand::Pause),
            2 => Some(OperatorCommand::Resume),
            3 => Some(OperatorCommand::Flatten),
            _ => None,
        }
    }

    /// Dense index in `0..ALL.len()`, for per-command counters.
    pub const fn index(self) -> usize {
        self.code() as usize - 1
    }
}

impl fmt::Display for OperatorCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not an operator command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operator command {0:?} (expected pause, resume or flatten)")]
pub struct UnknownCommand(pub String);

impl FromStr for OperatorCommand {
    type Err = UnknownCommand;
    fn from_str(s: &str) -> Result<OperatorCommand, UnknownCommand> {
        OperatorCommand::ALL
            .into_iter()
            .find(|c| c.as_str() == s.trim())
            .ok_or_else(|| UnknownCommand(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_codes_and_indices_round_trip() {
        for (i, c) in OperatorCommand::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(c.as_str().parse::<OperatorCommand>(), Ok(c));
            assert_eq!(OperatorCommand::from_code(c.code()), Some(c));
        }
        assert_eq!(OperatorCommand::from_code(0), None);
        assert_eq!(OperatorCommand::from_code(4), None);
        assert_eq!(
            "Pause".parse::<OperatorCommand>(),
            Err(UnknownCommand("Pause".into()))
        );
    }
}

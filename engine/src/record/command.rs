//! COMMAND (kind 4): an operator command (pause, resume, flatten), in the order the engine took
//! it among the other inputs.
//!
//! Payload after `now`: the command's code (u8).

use serde_json::{json, Value};

use super::codec::{Dec, Enc};
use super::RecordError;
use crate::decision::command::OperatorCommand;

pub(super) const LEN: usize = 1;

pub(super) fn encode(command: OperatorCommand, e: &mut Enc<'_>) {
    e.u8(command.code());
}

pub(super) fn decode(d: &mut Dec<'_>) -> Result<OperatorCommand, RecordError> {
    let c = d.u8("command")?;
    OperatorCommand::from_code(c).ok_or_else(|| d.invalid("command", c.to_string()))
}

pub(super) fn json(command: OperatorCommand) -> Value {
    json!({ "command": command.as_str() })
}

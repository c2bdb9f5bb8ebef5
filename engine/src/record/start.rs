//! START (kind 1): the engine opened the journal, on a first start or a restart. It names the
//! payload format and the instance (so that a journal is never continued by an engine whose
//! client order ids would not continue), and keeps the configuration text, so that `carry
//! replay` can rebuild the same engine.
//!
//! Payload after `now`: format (u16), instance length (u8), instance padded to 16 bytes, config
//! text length (u32), config text (UTF-8).

use serde_json::{json, Value};

use super::codec::{Dec, Enc};
use super::RecordError;
use crate::execution::client_id::InstanceId;

/// Longest instance name, the width of its padded field.
const INSTANCE_LEN: usize = 16;

/// What the engine's START record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartRecord {
    /// The record format the journal was written with ([`super::FORMAT_VERSION`]).
    pub format: u16,
    /// The instance whose client order ids this journal holds.
    pub instance: InstanceId,
    /// The configuration text the engine was started with (opaque to the engine; replay hands
    /// it back to whoever builds engines from it).
    pub config_text: String,
}

pub(super) fn len(start: &StartRecord) -> usize {
    2 + 1 + INSTANCE_LEN + 4 + start.config_text.len()
}

pub(super) fn encode(start: &StartRecord, e: &mut Enc<'_>) {
    e.u16(start.format);
    let name = start.instance.as_str().as_bytes();
    e.u8(name.len() as u8);
    let mut padded = [0u8; INSTANCE_LEN];
    padded[..name.len()].copy_from_slice(name);
    e.bytes(&padded);
    e.u32(start.config_text.len() as u32);
    e.bytes(start.config_text.as_bytes());
}

pub(super) fn decode(d: &mut Dec<'_>) -> Result<StartRecord, RecordError> {
    let format = d.u16("format")?;
    let len = d.u8("instance_len")? as usize;
    let raw = d.take(INSTANCE_LEN, "instance")?;
    let instance = raw
        .get(..len)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| InstanceId::new(s).ok())
        .ok_or_else(|| d.invalid("instance", format!("{len} bytes {raw:?}")))?;
    let text_len = d.u32("config_len")? as usize;
    let text = d.take(text_len, "config_text")?;
    let config_text = String::from_utf8(text.to_vec())
        .map_err(|_| d.invalid("config_text", "not UTF-8".to_string()))?;
    Ok(StartRecord {
        format,
        instance,
        config_text,
    })
}

/// The configuration text is left out: dump shows its length, replay reads the text itself.
pub(super) fn json(start: &StartRecord) -> Value {
    json!({
        "format": start.format,
        "instance": start.instance.as_str(),
        "config_len": start.config_text.len(),
    })
}

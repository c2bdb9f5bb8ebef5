//! Journal record kinds the engine writes, their binary payloads, and their JSON form for
//! `carry journal dump`.

/// Names a record kind and decodes its payload into named fields, for `carry journal dump`.
/// `None` for kinds carry does not define (dump prints those as hex).
pub fn describe(_kind: u16, _payload: &[u8]) -> Option<(&'static str, serde_json::Value)> {
    None
}

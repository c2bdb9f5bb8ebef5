//! Client order ids: a pure function of (instance, cycle, step, leg, attempt), so that a restart
//! rebuilds exactly the ids it issued before and never issues one twice.
//!
//! Layout: `{instance}{cycle:7}{step:1}{leg:1}{attempt:3}`, where cycle and attempt are fixed-width
//! upper-case base 36 and step/leg are single letters (`E`ntry `H`edge `U`nwind e`X`it; `L`ong
//! `S`hort). The 12-character tail has a fixed width, so two different tuples of one instance
//! never share an id, and ids of instances with different names never collide either (they
//! differ in length or in the prefix). ASCII letters and digits only, at most 28 characters: that
//! fits Binance (36, `[A-Za-z0-9_-]`), Bybit (36), OKX (32 alphanumeric), Bitget and Gate (28 after
//! the `t-` prefix its gateway adds) at once.
//!
//! ```
//! use carry_engine::execution::client_id::{ClientOrderId, InstanceId};
//! use carry_engine::execution::order::{Leg, Step};
//! let instance = InstanceId::new("prod1").unwrap();
//! let id = ClientOrderId::new(&instance, 42, Step::Hedge, Leg::Short, 3).unwrap();
//! assert_eq!(id.as_str(), "prod10000016HS003");
//! assert_eq!(id.parts(), Some((42, Step::Hedge, Leg::Short, 3)));
//! ```

use std::fmt;

use crate::execution::order::{Leg, Step};

/// Longest client order id carry issues.
pub const CLIENT_ID_MAX_LEN: usize = 28;
/// Characters after the instance name: cycle (7), step (1), leg (1), attempt (3).
const TAIL_LEN: usize = 12;
const CYCLE_DIGITS: usize = 7;
const ATTEMPT_DIGITS: usize = 3;
const _: () = assert!(CYCLE_DIGITS + 2 + ATTEMPT_DIGITS == TAIL_LEN);
/// Longest instance name that keeps every id within [`CLIENT_ID_MAX_LEN`].
pub const MAX_INSTANCE_LEN: usize = CLIENT_ID_MAX_LEN - TAIL_LEN;
/// Largest attempt number an id can carry (`ZZZ` in base 36).
pub const MAX_ATTEMPT: u16 = 36 * 36 * 36 - 1;

const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Why an id or an instance name is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdError {
    /// The instance name is empty, too long or not alphanumeric.
    #[error("instance {0:?}: must be 1 to {MAX_INSTANCE_LEN} ASCII letters or digits (it prefixes every client order id)")]
    BadInstance(String),
    /// The attempt number is beyond what an id can spell.
    #[error("attempt {0} does not fit a client order id (at most {MAX_ATTEMPT})")]
    AttemptTooLarge(u32),
}

/// The configured instance name, validated so that every id built from it fits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceId {
    len: u8,
    bytes: [u8; MAX_INSTANCE_LEN],
}

impl InstanceId {
    /// Checks an instance name.
    pub fn new(name: &str) -> Result<InstanceId, ClientIdError> {
        let raw = name.as_bytes();
        if raw.is_empty()
            || raw.len() > MAX_INSTANCE_LEN
            || !raw.iter().all(u8::is_ascii_alphanumeric)
        {
            return Err(ClientIdError::BadInstance(name.to_string()));
        }
        let mut bytes = [0u8; MAX_INSTANCE_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(InstanceId {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumerics are ever stored.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({:?})", self.as_str())
    }
}

/// A client order id: fixed size, `Copy`, no heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientOrderId {
    len: u8,
    bytes: [u8; CLIENT_ID_MAX_LEN],
}

impl ClientOrderId {
    /// The id of one order of one cycle.
    pub fn new(
        instance: &InstanceId,
        cycle: u32,
        step: Step,
        leg: Leg,
        attempt: u16,
    ) -> Result<ClientOrderId, ClientIdError> {
        if attempt > MAX_ATTEMPT {
            return Err(ClientIdError::AttemptTooLarge(attempt.into()));
        }
        let mut bytes = [0u8; CLIENT_ID_MAX_LEN];
        let prefix = instance.len as usize;
        bytes[..prefix].copy_from_slice(&instance.bytes[..prefix]);
        let tail = &mut bytes[prefix..prefix + TAIL_LEN];
        write_base36(&mut tail[..CYCLE_DIGITS], u64::from(cycle));
        tail[CYCLE_DIGITS] = step.code();
        tail[CYCLE_DIGITS + 1] = leg.code();
        write_base36(&mut tail[CYCLE_DIGITS + 2..], u64::from(attempt));
        Ok(ClientOrderId {
            len: (prefix + TAIL_LEN) as u8,
            bytes,
        })
    }

    /// Takes an id from the wire (or a journal), if it is one carry could have issued in shape:
    /// 1 to 28 ASCII letters and digits.
    pub fn from_bytes(raw: &[u8]) -> Option<ClientOrderId> {
        if raw.is_empty()
            || raw.len() > CLIENT_ID_MAX_LEN
            || !raw.iter().all(u8::is_ascii_alphanumeric)
        {
            return None;
        }
        let mut bytes = [0u8; CLIENT_ID_MAX_LEN];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(ClientOrderId {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The id's bytes, as sent to the venue.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Construction admits ASCII alphanumerics only.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Never true for a built id; here because `len` is.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decodes (cycle, step, leg, attempt) from the tail; `None` if this is not carry's shape.
    pub fn parts(&self) -> Option<(u32, Step, Leg, u16)> {
        let all = self.as_bytes();
        if all.len() <= TAIL_LEN {
            return None;
        }
        let tail = &all[all.len() - TAIL_LEN..];
        let cycle = u32::try_from(read_base36(&tail[..CYCLE_DIGITS])?).ok()?;
        let step = Step::from_code(tail[CYCLE_DIGITS])?;
        let leg = Leg::from_code(tail[CYCLE_DIGITS + 1])?;
        let attempt = u16::try_from(read_base36(&tail[CYCLE_DIGITS + 2..])?).ok()?;
        Some((cycle, step, leg, attempt))
    }

    /// The instance name this id starts with, if it has carry's shape.
    pub fn instance(&self) -> Option<&str> {
        let all = self.as_str();
        all.len()
            .checked_sub(TAIL_LEN)
            .filter(|n| *n > 0)
            .map(|n| &all[..n])
    }
}

impl fmt::Debug for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientOrderId({})", self.as_str())
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes `value` as fixed-width base 36 into `out`; callers guarantee it fits.
fn write_base36(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(value % 36) as usize];
        value /= 36;
    }
}

fn read_base36(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'Z' => c - b'A' + 10,
            _ => return None,
        };
        Some(acc * 36 + u64::from(d))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn instance_names_are_validated() {
        assert!(InstanceId::new("a").is_ok());
        assert!(InstanceId::new("abcdefgh12345678").is_ok());
        assert!(InstanceId::new("abcdefgh123456789").is_err());
        assert!(InstanceId::new("").is_err());
        assert!(InstanceId::new("a-b").is_err());
        assert!(InstanceId::new("é").is_err());
        let e = InstanceId::new("has space").unwrap_err().to_string();
        assert!(e.contains("\"has space\""), "{e}");
    }

    #[test]
    fn extremes_fit() {
        let longest = InstanceId::new("abcdefgh12345678").unwrap();
        let id =
            ClientOrderId::new(&longest, u32::MAX, Step::Exit, Leg::Long, MAX_ATTEMPT).unwrap();
        assert_eq!(id.len(), CLIENT_ID_MAX_LEN);
        assert_eq!(id.as_str(), "abcdefgh123456781Z141Z3XLZZZ");
        assert_eq!(
            id.parts(),
            Some((u32::MAX, Step::Exit, Leg::Long, MAX_ATTEMPT))
        );
        assert_eq!(id.instance(), Some("abcdefgh12345678"));
        assert_eq!(
            ClientOrderId::new(&longest, 0, Step::Exit, Leg::Long, MAX_ATTEMPT + 1),
            Err(ClientIdError::AttemptTooLarge(u32::from(MAX_ATTEMPT) + 1))
        );
    }

    #[test]
    fn wire_ids_are_checked() {
        assert!(ClientOrderId::from_bytes(b"abc123").is_some());
        assert!(ClientOrderId::from_bytes(b"").is_none());
        assert!(ClientOrderId::from_bytes(b"t-abc").is_none());
        assert!(ClientOrderId::from_bytes(&[b'a'; 29]).is_none());
        assert_eq!(ClientOrderId::from_bytes(b"abc").unwrap().parts(), None);
    }

    fn step() -> impl Strategy<Value = Step> {
        prop::sample::select(Step::ALL.to_vec())
    }
    fn leg() -> impl Strategy<Value = Leg> {
        prop::sample::select(Leg::BOTH.to_vec())
    }

    proptest! {
        #[test]
        fn ids_fit_every_venue(
            instance in "[A-Za-z0-9]{1,16}",
            cycle in any::<u32>(),
            step in step(),
            leg in leg(),
            attempt in 0..=MAX_ATTEMPT,
        ) {
            let inst = InstanceId::new(&instance).unwrap();
            let id = ClientOrderId::new(&inst, cycle, step, leg, attempt).unwrap();
            prop_assert!(id.len() <= CLIENT_ID_MAX_LEN);
            prop_assert!(id.as_bytes().iter().all(u8::is_ascii_alphanumeric));
            prop_assert_eq!(id.parts(), Some((cycle, step, leg, attempt)));
            prop_assert_eq!(id.instance(), Some(instance.as_str()));
            prop_assert_eq!(ClientOrderId::from_bytes(id.as_bytes()), Some(id));
        }

        #[test]
        fn ids_are_unique_over_sampled_tuples(
            tuples in prop::collection::vec(
                (prop::sample::select(vec!["a", "b", "ab", "prod1", "A"]),
                 any::<u32>(), step(), leg(), 0..=MAX_ATTEMPT),
                1..400,
            )
        ) {
            let distinct: HashSet<_> = tuples.iter().cloned().collect();
            let ids: HashSet<ClientOrderId> = distinct
                .iter()
                .map(|(inst, c, s, l, a)| {
                    ClientOrderId::new(&InstanceId::new(inst).unwrap(), *c, *s, *l, *a).unwrap()
                })
                .collect();
            prop_assert_eq!(ids.len(), distinct.len());
        }
    }

    #[test]
    fn dense_neighbourhood_is_unique() {
        // Neighbouring cycles and attempts are where an encoding bug would collide first.
        let a = InstanceId::new("a").unwrap();
        let b = InstanceId::new("a0").unwrap();
        let mut seen = HashSet::new();
        for inst in [a, b] {
            for cycle in 0..40u32 {
                for s in Step::ALL {
                    for l in Leg::BOTH {
                        for attempt in 0..40u16 {
                            let id = ClientOrderId::new(&inst, cycle, s, l, attempt).unwrap();
                            assert!(seen.insert(id), "collision at {id}");
                        }
                    }
                }
            }
        }
        assert_eq!(seen.len(), 2 * 40 * 4 * 2 * 40);
    }
}

//! How a journal is opened for writing: segment size and durability.

use std::time::Duration;

use crate::error::JournalError;
use crate::format::{RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};

/// Smallest segment accepted: room for the header and a few records.
pub const MIN_SEGMENT_SIZE: u64 = 4096;
/// Largest segment accepted: frame lengths are 32-bit and a segment must map on any host.
pub const MAX_SEGMENT_SIZE: u64 = 1 << 30;
/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

/// When appended records reach stable storage. See the crate documentation for exactly what
/// each choice survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Page cache only: survives a crash of the process, not of the machine.
    None,
    /// A background thread msyncs what was appended at most every `interval`; `append` never
    /// waits for the disk.
    Batch {
        /// Time between msyncs; must be non-zero.
        interval: Duration,
    },
    /// `append` msyncs the record before it returns.
    Sync,
}

/// Options for [`Journal::open`](crate::Journal::open).
///
/// ```
/// use std::time::Duration;
/// use carry_journal::{Durability, JournalOptions};
///
/// let opts = JournalOptions::default()
///     .segment_size(16 << 20)
///     .durability(Durability::Batch { interval: Duration::from_millis(10) });
/// assert_eq!(opts.segment_size, 16 << 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalOptions {
    /// Size of each pre-allocated segment file in bytes: a multiple of 8 between
    /// [`MIN_SEGMENT_SIZE`] and [`MAX_SEGMENT_SIZE`]. Existing segments keep the size they were
    /// created with; this applies to new ones.
    pub segment_size: u64,
    /// When records reach stable storage.
    pub durability: Durability,
    /// Run the background thread that faults pages in ahead of the writer and keeps a spare
    /// segment file ready, so appends and roll-overs do not pay for page faults and file
    /// creation (see the crate documentation). On by default.
    pub prefault: bool,
}

impl Default for JournalOptions {
    /// 64 MiB segments, [`Durability::None`], prefaulting on.
    fn default() -> Self {
        JournalOptions {
            segment_size: DEFAULT_SEGMENT_SIZE,
            durability: Durability::None,
            prefault: true,
        }
    }
}

impl JournalOptions {
    /// Sets [`segment_size`](Self::segment_size).
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// Sets [`durability`](Self::durability).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets [`prefault`](Self::prefault).
    pub fn prefault(mut self, on: bool) -> Self {
        self.prefault = on;
        self
    }

    /// Largest payload a record can have in segments of this size: the segment less its
    /// header, the record's frame header, and the room always kept for the end-of-segment seal.
    pub fn max_payload_len(&self) -> usize {
        (self.segment_size as usize).saturating_sub(SEGMENT_HEADER_LEN + 2 * RECORD_HEADER_LEN)
    }

    pub(crate) fn validate(&self) -> Result<(), JournalError> {
        let s = self.segment_size;
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&s) || s % 8 != 0 {
            return Err(JournalError::InvalidOptions(format!(
                "segment_size {s}: must be a multiple of 8 between {MIN_SEGMENT_SIZE} and \
                 {MAX_SEGMENT_SIZE} bytes"
            )));
        }
        if let Durability::Batch { interval } = self.durability {
            if interval.is_zero() {
                return Err(JournalError::InvalidOptions(
                    "durability batch: interval must be greater than zero".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_unusable_sizes_and_intervals() {
        let ok = JournalOptions::default();
        assert!(ok.validate().is_ok());
        for bad in [0, 4095, 4100, MAX_SEGMENT_SIZE + 8] {
            let err = ok.segment_size(bad).validate().unwrap_err().to_string();
            assert!(err.contains(&format!("segment_size {bad}")), "{err}");
        }
        let zero = ok.durability(Durability::Batch {
            interval: Duration::ZERO,
        });
        assert!(zero
            .validate()
            .unwrap_err()
            .to_string()
            .contains("interval"));
    }

    #[test]
    fn max_payload_leaves_room_for_both_headers() {
        assert_eq!(
            JournalOptions::default()
                .segment_size(4096)
                .max_payload_len(),
            3968
        );
    }
}

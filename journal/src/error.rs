//! The one error type of the journal. Every variant names the directory or segment file involved
//! and, for damaged data, the byte offset, so an operator can go straight to the spot.
//!
//! Each message is complete on its own, the operating system's error included, and no variant
//! also hands that error out as its `source()`: printers that follow the chain (`anyhow`'s
//! `{:#}`) would otherwise print it twice.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong opening, writing, reading or verifying a journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file-system operation failed.
    #[error("{}: {op}: {error}", path.display())]
    Io {
        /// The file or directory operated on.
        path: PathBuf,
        /// What was being done, e.g. "create segment" or "msync".
        op: &'static str,
        /// The operating system's error (part of the message, not a `source()`).
        error: io::Error,
    },

    /// Another writer (this process or another one) holds the journal's `LOCK` file.
    #[error(
        "journal {} is already open for writing ({}: {holder}); only one writer may append",
        dir.display(),
        lock.display()
    )]
    Locked {
        /// The journal directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// What the lock file says about its holder (e.g. "held by pid 4242").
        holder: String,
    },

    /// A segment was written by a journal format version this build does not read.
    #[error(
        "{}: journal format version {found}, but this build of carry reads versions {oldest} to {newest} only",
        path.display()
    )]
    VersionMismatch {
        /// The segment file.
        path: PathBuf,
        /// Version found in the segment header.
        found: u32,
        /// The oldest version this build reads.
        oldest: u32,
        /// The version this build writes, the newest it reads.
        newest: u32,
    },

    /// A file named like a segment is not one (not a regular file, wrong magic, too short,
    /// header checksum wrong), or is blank where a blank segment cannot be explained by a crash.
    #[error("{}: not a carry journal segment: {reason}", path.display())]
    NotASegment {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Damaged data that a crash cannot explain: a bad record with valid records after it, a
    /// sequence gap, segments from another journal. Nothing after this point is trusted.
    #[error("{} at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset in that file of the damaged record or header.
        offset: u64,
        /// What is wrong.
        reason: String,
    },

    /// The directory holds no segment files.
    #[error("{}: no journal segments (files named <20 digits>.seg)", dir.display())]
    NoSegments {
        /// The directory searched.
        dir: PathBuf,
    },

    /// The directory held a journal (its `LOCK` file says a writer used it) but no segment file
    /// is left. A new journal is never started in place of a lost one.
    #[error(
        "{}: the journal's segment files are missing (its LOCK file shows that a journal was \
         written here); refusing to start a new journal in its place: restore the segments, or \
         remove the directory to start afresh",
        dir.display()
    )]
    SegmentsMissing {
        /// The journal directory.
        dir: PathBuf,
    },

    /// A record does not fit in a segment even when it is empty.
    #[error(
        "record of {len} payload bytes is too large: at most {max} bytes fit in a segment of \
         {segment_size} bytes"
    )]
    RecordTooLarge {
        /// Requested payload length.
        len: usize,
        /// Largest payload a segment of this journal can hold.
        max: usize,
        /// Configured segment size.
        segment_size: u64,
    },

    /// Record kind 0 is reserved: it marks "no record" in the on-disk format.
    #[error("record kind 0 is reserved and cannot be appended")]
    ReservedKind,

    /// `JournalOptions` that cannot work.
    #[error("invalid journal options: {0}")]
    InvalidOptions(String),

    /// `Durability::Sync`: the record was appended (it has sequence `seq` and readers can see it)
    /// but msync failed, so it may not survive power loss.
    #[error("{}: record {seq} appended but msync failed, so it is not durable: {error}", path.display())]
    SyncFailed {
        /// The segment file.
        path: PathBuf,
        /// Sequence number of the record that was appended.
        seq: u64,
        /// The operating system's error (part of the message, not a `source()`).
        error: io::Error,
    },

    /// `Durability::Batch`: the background flusher failed earlier, so durability can no longer
    /// be promised and the journal refuses further appends.
    #[error("{}: background flush failed ({message}); the journal refuses further appends", path.display())]
    FlushFailed {
        /// The file whose flush failed.
        path: PathBuf,
        /// The operating system's error, as text.
        message: String,
    },
}

impl JournalError {
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, error: io::Error) -> Self {
        JournalError::Io {
            path: path.into(),
            op,
            error,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: usize,
        reason: impl Into<String>,
    ) -> Self {
        JournalError::Corrupt {
            path: path.into(),
            offset: offset as u64,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// The message and every `source()` after it, joined as `anyhow` prints `{:#}`.
    fn chain(e: &JournalError) -> String {
        let mut out = e.to_string();
        let mut next = e.source();
        while let Some(s) = next {
            out += &format!(": {s}");
            next = s.source();
        }
        out
    }

    #[test]
    fn the_os_error_is_printed_once_whether_or_not_the_chain_is_followed() {
        let io = |code| io::Error::from_raw_os_error(code);
        let os = io(libc::ENOTDIR).to_string();
        let errors = [
            JournalError::io("/j/x", "create journal directory", io(libc::ENOTDIR)),
            JournalError::SyncFailed {
                path: "/j/1.seg".into(),
                seq: 7,
                error: io(libc::ENOTDIR),
            },
        ];
        for e in &errors {
            for text in [e.to_string(), chain(e)] {
                assert_eq!(text.matches(&os).count(), 1, "{text}");
                assert!(text.contains("/j/"), "{text}");
            }
        }
    }
}

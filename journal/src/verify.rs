//! `verify`: a read-only check of a whole journal, by the same rules the recovering writer
//! applies, with the figures `carry journal verify` and `stats` print.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::scan::{scan_journal, TornTail};

/// Records and payload bytes of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindStats {
    /// Number of records.
    pub records: u64,
    /// Sum of their payload lengths.
    pub payload_bytes: u64,
}

/// What [`verify`] found in a journal that is not corrupt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// The journal's instance id.
    pub instance_id: u64,
    /// Segment files (not counting a blank trailing one).
    pub segments: usize,
    /// Valid records.
    pub records: u64,
    /// Sequence number of the first record, if any.
    pub first_seq: Option<u64>,
    /// Sequence number of the last record, if any.
    pub last_seq: Option<u64>,
    /// Bytes holding segment headers and records (padding included).
    pub bytes_used: u64,
    /// Sum of the segment file sizes.
    pub bytes_allocated: u64,
    /// Bytes after the last record that a crash left (a writer would cut them). With a writer
    /// running, its record in progress can show here too.
    pub torn_tail: Option<TornTail>,
    /// A trailing segment whose header never reached the disk (a writer would remove it).
    pub blank_segment: Option<PathBuf>,
    /// Records per kind.
    pub kinds: BTreeMap<u16, KindStats>,
}

/// Checks every segment and record of the journal in `dir` without changing anything (no lock
/// taken; a writer may be running). A torn tail is reported in the result, not as an error;
/// corruption is an error naming the segment file and byte offset.
///
/// ```
/// use carry_journal::{verify, Journal, JournalOptions};
///
/// let dir = tempfile::tempdir()?;
/// let (mut journal, _) = Journal::open(dir.path(), JournalOptions::default())?;
/// journal.append(1, 0, b"a")?;
/// journal.append(2, 0, b"bc")?;
/// let report = verify(dir.path())?;
/// assert_eq!((report.records, report.first_seq, report.last_seq), (2, Some(1), Some(2)));
/// assert_eq!(report.kinds[&2].payload_bytes, 2);
/// assert!(report.torn_tail.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify(dir: impl AsRef<Path>) -> Result<VerifyReport, JournalError> {
    let dir = dir.as_ref();
    let mut kinds: BTreeMap<u16, KindStats> = BTreeMap::new();
    let mut first_seq = None;
    let scan = scan_journal(dir, &mut |rec| {
        first_seq.get_or_insert(rec.seq);
        let k = kinds.entry(rec.kind).or_default();
        k.records += 1;
        k.payload_bytes += rec.payload.len() as u64;
    })?;
    let instance_id = scan.instance_id.ok_or_else(|| JournalError::NoSegments {
        dir: dir.to_path_buf(),
    })?;
    Ok(VerifyReport {
        instance_id,
        segments: scan.segments.len(),
        records: scan.records,
        first_seq,
        last_seq: (scan.records > 0).then(|| scan.next_seq - 1),
        bytes_used: scan.segments.iter().map(|s| s.scan.end as u64).sum(),
        bytes_allocated: scan.segments.iter().map(|s| s.size).sum(),
        torn_tail: scan.torn_tail(),
        blank_segment: scan.blank_last.clone(),
        kinds,
    })
}

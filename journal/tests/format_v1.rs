//! Journals written by format version 1 (`tests/fixtures/v1-journal`, see its README) stay
//! readable, verifiable and writable: a build never strands the journal a previous one wrote.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use carry_journal::{verify, Journal, JournalOptions};
use common::*;

/// Payloads of the fixture are `payload_for(seq, MAX)`.
const MAX: usize = 200;
const RECORDS: u64 = 70;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1-journal")
}

/// A writable copy of the fixture's segments.
fn copy_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for seg in segment_files(&fixture()) {
        fs::copy(&seg, dir.path().join(seg.file_name().unwrap())).unwrap();
    }
    dir
}

fn format_version(segment: &Path) -> u32 {
    let bytes = fs::read(segment).unwrap();
    u32::from_le_bytes(bytes[8..12].try_into().unwrap())
}

#[test]
fn a_format_1_journal_reads_verifies_and_continues() {
    let dir = copy_fixture();
    let old = segment_files(dir.path());
    assert_eq!(old.len(), 3);
    assert!(old.iter().all(|s| format_version(s) == 1));

    let report = verify(dir.path()).unwrap();
    assert_eq!((report.records, report.segments), (RECORDS, 3));
    assert!(report.torn_tail.is_none());
    assert_records(dir.path(), RECORDS, MAX);

    let opts = JournalOptions::default().segment_size(4096);
    let (mut journal, recovery) = Journal::open(dir.path(), opts).unwrap();
    assert_eq!(
        (recovery.records, recovery.next_seq),
        (RECORDS, RECORDS + 1)
    );
    // Enough to fill the open format-1 segment and roll into new ones.
    for seq in RECORDS + 1..=RECORDS + 60 {
        let got = journal
            .append(kind_for(seq), seq * 1000, &payload_for(seq, MAX))
            .unwrap();
        assert_eq!(got, seq);
    }
    drop(journal);
    let all = segment_files(dir.path());
    assert!(all.len() > 3, "{} segments", all.len());
    assert_eq!(&all[..3], &old[..], "old segments are kept, not rewritten");
    assert!(old.iter().all(|s| format_version(s) == 1));
    assert!(all[3..].iter().all(|s| format_version(s) == 2));
    assert_records(dir.path(), RECORDS + 60, MAX);
    assert_eq!(verify(dir.path()).unwrap().records, RECORDS + 60);
}

#[test]
fn a_format_1_seal_without_its_successor_still_ends_the_journal() {
    // Format 1 sealed a segment before creating the next one, so a crash could leave a sealed
    // last segment: still read as the end (format 2 refuses it: its seals follow successors).
    let dir = copy_fixture();
    let last = segment_files(dir.path()).pop().unwrap();
    fs::remove_file(&last).unwrap();
    let kept = RECORDS - 11;
    assert_eq!(verify(dir.path()).unwrap().records, kept);
    assert_records(dir.path(), kept, MAX);

    let opts = JournalOptions::default().segment_size(4096);
    let (mut journal, recovery) = Journal::open(dir.path(), opts).unwrap();
    assert_eq!(recovery.next_seq, kept + 1);
    let seq = kept + 1;
    journal
        .append(kind_for(seq), seq * 1000, &payload_for(seq, MAX))
        .unwrap();
    drop(journal);
    assert_eq!(format_version(&last), 2, "the successor is made now");
    assert_records(dir.path(), kept + 1, MAX);
}

#[test]
fn a_format_1_segment_cut_to_a_length_no_writer_made_is_refused() {
    // Format 1 did not record the length; what every writer made is still required.
    for len in [100, 4000, 4095] {
        let dir = copy_fixture();
        let last = segment_files(dir.path()).pop().unwrap();
        fs::OpenOptions::new()
            .write(true)
            .open(&last)
            .unwrap()
            .set_len(len)
            .unwrap();
        let msg = verify(dir.path()).unwrap_err().to_string();
        assert!(
            msg.contains("00000000000000000060.seg") && msg.contains(&format!("{len} bytes")),
            "{msg}"
        );
    }
}

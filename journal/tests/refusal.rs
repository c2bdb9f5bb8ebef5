//! Damage a crash cannot leave is refused, by the writer, by `verify` and by readers, naming the
//! file (and offset) involved: carry starts on a journal only if every record up to a torn tail at
//! the very end of the last segment is intact and every segment the seals name is present.

mod common;

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use carry_journal::{
    verify, Journal, JournalError, JournalOptions, JournalReader, LOCK_FILE, RECORD_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
use common::*;

const SEG: u64 = 4096;
const MAX: usize = 300;

fn small() -> JournalOptions {
    JournalOptions::default().segment_size(SEG)
}

/// A journal of `n` numbered records in 4 KiB segments.
fn journal_of(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
    append_numbered(&mut journal, n, MAX);
    dir
}

/// Runs `f` on its own thread and fails the test if it has not returned within 20 s: some of
/// the damage below once made every reader loop forever.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} did not return within 20 s"))
}

/// Reads every record with `iter_from` (live) or `iter_to_end` (checked), failing on an error.
fn read(dir: &Path, to_end: bool) -> Result<u64, JournalError> {
    let reader = JournalReader::open(dir)?;
    let mut n = 0;
    let records = match to_end {
        true => reader.iter_to_end(1),
        false => reader.iter_from(1),
    };
    for r in records {
        r?;
        n += 1;
    }
    Ok(n)
}

/// What opening for writing, `verify`, a live reader and a checked reader say about `dir`, each
/// within the time limit. The writer goes last: it must refuse without changing anything.
fn every_reading(dir: &Path) -> Vec<(&'static str, Result<u64, JournalError>)> {
    let d = dir.to_path_buf();
    let mut out = Vec::new();
    let p = d.clone();
    out.push((
        "verify",
        within("verify", move || verify(&p).map(|r| r.records)),
    ));
    let p = d.clone();
    out.push((
        "live reader",
        within("live reader", move || read(&p, false)),
    ));
    let p = d.clone();
    out.push((
        "checked reader",
        within("checked reader", move || read(&p, true)),
    ));
    let p = d.clone();
    out.push((
        "writer",
        within("writer", move || {
            Journal::open(&p, small()).map(|(j, _)| j.next_seq() - 1)
        }),
    ));
    out
}

/// Asserts that every way of reading `dir` refuses it with an error that mentions each of `want`.
fn assert_refused(dir: &Path, case: &str, want: &[&str]) {
    for (who, result) in every_reading(dir) {
        match result {
            Ok(n) => panic!("{case}: {who} accepted the journal ({n} records)"),
            Err(e) => {
                let msg = e.to_string();
                for w in want {
                    assert!(msg.contains(w), "{case}: {who}: {w:?} not in {msg:?}");
                }
            }
        }
    }
}

fn name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

fn set_len(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn a_segment_file_cut_to_a_header_or_little_more_is_refused_naming_it() {
    for len in [40, 64, 72, 88, 95, 100, 1000] {
        let dir = journal_of(5);
        let seg = segment_files(dir.path())[0].clone();
        set_len(&seg, len);
        assert_refused(dir.path(), &format!("{len} bytes"), &[name(&seg)]);
        assert_eq!(fs::metadata(&seg).unwrap().len(), len, "left as it was");
    }
}

#[test]
fn a_pre_allocated_segment_cut_short_or_grown_is_refused() {
    // Records end well before the cut: the old reading took the missing end for unwritten space.
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions::default().segment_size(1 << 16);
    let (mut journal, _) = Journal::open(dir.path(), opts).unwrap();
    for seq in 1..=6u64 {
        journal.append(1, seq, &[seq as u8; 100]).unwrap();
    }
    drop(journal);
    let seg = segment_files(dir.path())[0].clone();
    for len in [31_101, 31_104, (1 << 16) + 8] {
        set_len(&seg, len);
        assert_refused(
            dir.path(),
            &format!("{len} bytes"),
            &[name(&seg), &len.to_string(), "65536"],
        );
    }
    // Back at its length, it is whole again.
    set_len(&seg, 1 << 16);
    assert_eq!(verify(dir.path()).unwrap().records, 6);
}

#[test]
fn a_first_segment_that_is_empty_zeroed_or_not_a_file_is_refused_not_taken_for_a_new_journal() {
    for case in ["empty", "zeroed", "/dev/zero"] {
        let dir = tempfile::tempdir().unwrap();
        let seg = dir.path().join("00000000000000000001.seg");
        match case {
            "empty" => fs::write(&seg, b"").unwrap(),
            "zeroed" => fs::write(&seg, vec![0u8; SEG as usize]).unwrap(),
            _ => std::os::unix::fs::symlink("/dev/zero", &seg).unwrap(),
        }
        assert_refused(dir.path(), case, &[name(&seg)]);
        assert!(
            fs::symlink_metadata(&seg).is_ok(),
            "{case}: the segment is still there"
        );
        assert_eq!(segment_files(dir.path()), vec![seg.clone()], "{case}");
    }
}

/// Where the seal of the segment before the last one sits, and that segment.
fn last_seal(dir: &Path) -> (PathBuf, usize) {
    let files = segment_files(dir);
    let prev = files[files.len() - 2].clone();
    let bytes = fs::read(&prev).unwrap();
    let mut off = SEGMENT_HEADER_LEN;
    loop {
        let len = u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
        if len == u32::MAX {
            return (prev, off);
        }
        assert!(len != 0, "no seal in {}", prev.display());
        off += (len as usize + 7) & !7;
    }
}

#[test]
fn a_segment_that_a_seal_names_must_be_present_and_intact() {
    for damage in ["deleted", "emptied", "zeroed"] {
        let dir = journal_of(80);
        let files = segment_files(dir.path());
        assert!(files.len() >= 3, "{} segments", files.len());
        let last = files.last().unwrap().clone();
        match damage {
            "deleted" => fs::remove_file(&last).unwrap(),
            "emptied" => fs::write(&last, b"").unwrap(),
            _ => fs::write(&last, vec![0u8; SEG as usize]).unwrap(),
        }
        assert_refused(dir.path(), damage, &[name(&last)]);
    }
}

#[test]
fn a_successor_created_before_its_seal_was_written_is_continued() {
    // The writer puts the next segment in place, then seals the one before: a crash between the
    // two leaves an unsealed segment followed by an empty one.
    let dir = journal_of(80);
    let (prev, seal_at) = last_seal(dir.path());
    let last = segment_files(dir.path()).last().unwrap().clone();
    let kept = first_seq_of(&last) - 1;
    patch(&prev, seal_at, &[0u8; RECORD_HEADER_LEN]);
    let mut bytes = fs::read(&last).unwrap();
    bytes[SEGMENT_HEADER_LEN..].fill(0);
    fs::write(&last, bytes).unwrap();

    assert_eq!(verify(dir.path()).unwrap().records, kept);
    assert_eq!(read(dir.path(), true).unwrap(), kept);
    let (mut journal, recovery) = Journal::open(dir.path(), small()).unwrap();
    assert_eq!(
        (recovery.records, recovery.repaired_seals),
        (kept, 1),
        "{recovery:?}"
    );
    append_numbered(&mut journal, 5, MAX);
    drop(journal);
    assert_records(dir.path(), kept + 5, MAX);
}

#[test]
fn a_hole_in_the_data_ends_a_checked_read_with_corruption() {
    // A zeroed length word: record 3 of 10 looks unwritten although records follow.
    let dir = journal_of(10);
    let seg = segment_files(dir.path())[0].clone();
    let lens: Vec<usize> = (1..=10).map(|s| payload_for(s, MAX).len()).collect();
    let third = layout(&lens, SEG as usize)[2].1;
    patch(&seg, third, &[0u8; 4]);
    // A live reader cannot tell a hole from the end of what was written so far.
    assert_eq!(read(dir.path(), false).unwrap(), 2);
    let at = format!("byte {third}");
    for result in [
        read(dir.path(), true),
        verify(dir.path()).map(|r| r.records),
    ] {
        let msg = result.unwrap_err().to_string();
        assert!(msg.contains(name(&seg)) && msg.contains(&at), "{msg}");
    }

    // A zeroed 4 KiB page: 64-byte payloads make 96-byte frames, so record 43 starts the page.
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) =
        Journal::open(dir.path(), JournalOptions::default().segment_size(1 << 16)).unwrap();
    for seq in 1..=200u64 {
        journal.append(1, seq, &[seq as u8; 64]).unwrap();
    }
    drop(journal);
    let seg = segment_files(dir.path())[0].clone();
    patch(&seg, 4096, &[0u8; 4096]);
    assert_eq!(read(dir.path(), false).unwrap(), 42);
    let msg = read(dir.path(), true).unwrap_err().to_string();
    assert!(
        msg.contains(name(&seg)) && msg.contains("byte 4096"),
        "{msg}"
    );
}

/// A valid seal at the start of a segment that names the segment itself.
#[test]
fn a_segment_sealed_before_its_first_record_is_corruption() {
    let dir = journal_of(3);
    let seg = segment_files(dir.path())[0].clone();
    let mut seal = [0u8; RECORD_HEADER_LEN];
    seal[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    seal[8..16].copy_from_slice(&1u64.to_le_bytes());
    let crc = crc32c::crc32c(&seal[0..28]);
    seal[28..32].copy_from_slice(&crc.to_le_bytes());
    patch(&seg, SEGMENT_HEADER_LEN, &seal);
    assert_refused(dir.path(), "sealed empty", &[name(&seg)]);
}

#[test]
fn a_directory_whose_segments_were_deleted_does_not_get_a_new_journal() {
    let dir = journal_of(3);
    for seg in segment_files(dir.path()) {
        fs::remove_file(seg).unwrap();
    }
    let err = Journal::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(&err, JournalError::SegmentsMissing { dir: d } if d == dir.path()),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(dir.path().to_str().unwrap()), "{msg}");
    assert!(segment_files(dir.path()).is_empty(), "nothing created");
}

#[test]
fn a_journal_whose_creation_was_cut_short_is_created_afresh() {
    // The writer notes "creating" in the lock file until the first segment is in place; a lock
    // file that was never written to is the same moment, a moment earlier.
    for note in ["", "creating a new journal (pid 4242)\n"] {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOCK_FILE), note).unwrap();
        let (mut journal, recovery) = Journal::open(dir.path(), small()).unwrap();
        assert!(recovery.created, "{note:?}");
        append_numbered(&mut journal, 2, MAX);
        drop(journal);
        assert_records(dir.path(), 2, MAX);
        // Once created, it is a journal like any other: losing its segments is refused.
        for seg in segment_files(dir.path()) {
            fs::remove_file(seg).unwrap();
        }
        assert!(Journal::open(dir.path(), small()).is_err(), "{note:?}");
    }
}

fn first_seq_of(segment: &Path) -> u64 {
    name(segment).trim_end_matches(".seg").parse().unwrap()
}

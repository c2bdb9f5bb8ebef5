//! Behaviour of the journal through its public API: roll-over, readers beside a writer, the
//! writer lock, version checks, recovery from torn tails, and refusal of corrupt journals.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use carry_journal::{
    verify, Durability, Journal, JournalError, JournalOptions, JournalReader, RECORD_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
use common::*;

const SEG: u64 = 4096;
const MAX: usize = 300;

fn small() -> JournalOptions {
    JournalOptions::default().segment_size(SEG)
}

#[test]
fn roll_over_keeps_sequence_gapless_across_segments_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, rec) = Journal::open(dir.path(), small()).unwrap();
    assert!(rec.created);
    let id = journal.instance_id();
    append_numbered(&mut journal, 300, MAX);
    drop(journal);

    let files = segment_files(dir.path());
    assert!(
        files.len() >= 10,
        "300 records of up to 332 bytes need many 4 KiB segments, got {}",
        files.len()
    );
    // Every file is pre-allocated to the segment size, and named by its first sequence number.
    for f in &files {
        assert_eq!(fs::metadata(f).unwrap().len(), SEG);
    }
    assert_eq!(files[0].file_name().unwrap(), "00000000000000000001.seg");
    assert_records(dir.path(), 300, MAX);

    let (mut journal, rec) = Journal::open(dir.path(), small()).unwrap();
    assert_eq!(
        (rec.created, rec.records, rec.next_seq, rec.torn_bytes()),
        (false, 300, 301, 0)
    );
    assert_eq!(journal.instance_id(), id, "instance id survives a restart");
    append_numbered(&mut journal, 100, MAX);
    drop(journal);
    assert_records(dir.path(), 400, MAX);

    let report = verify(dir.path()).unwrap();
    assert_eq!(
        (report.records, report.first_seq, report.last_seq),
        (400, Some(1), Some(400))
    );
    assert_eq!(report.segments, segment_files(dir.path()).len());
    assert_eq!(report.instance_id, id);
    assert_eq!(report.kinds.values().map(|k| k.records).sum::<u64>(), 400);
}

#[test]
fn a_record_that_fills_a_whole_segment_fits_and_a_larger_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
    let max = journal.max_payload_len();
    // The segment less its header, the record's frame header and the room kept for the seal.
    assert_eq!(
        max,
        SEG as usize - SEGMENT_HEADER_LEN - 2 * RECORD_HEADER_LEN
    );
    journal.append(1, 0, b"small").unwrap();
    assert_eq!(journal.append(2, 0, &vec![0xAB; max]).unwrap(), 2);
    let err = journal.append(3, 0, &vec![0; max + 1]).unwrap_err();
    assert!(
        matches!(err, JournalError::RecordTooLarge { len, max: m, .. } if len == max + 1 && m == max)
    );
    assert!(
        err.to_string().contains(&format!("at most {max} bytes")),
        "{err}"
    );
    assert!(matches!(
        journal.append(0, 0, b"x"),
        Err(JournalError::ReservedKind)
    ));
    // The refused appends consumed nothing.
    assert_eq!(journal.append(4, 0, b"after").unwrap(), 3);
    drop(journal);
    let all = read_all(dir.path());
    assert_eq!(
        all.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![(1, 1), (2, 2), (3, 4)]
    );
    assert_eq!(all[1].3, vec![0xAB; max]);
    // The full-segment record sits alone in its own segment.
    assert_eq!(segment_files(dir.path()).len(), 3);
}

#[test]
fn reader_thread_sees_every_record_in_order_while_the_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
    const N: u64 = 5_000;
    let path = dir.path().to_path_buf();
    let reader = std::thread::spawn(move || {
        let reader = JournalReader::open(&path).unwrap();
        let mut records = reader.iter_from(1);
        let mut expected = 1u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        while expected <= N {
            match records.next() {
                Some(Ok(r)) => {
                    assert_eq!(r.seq, expected, "reader saw records out of order");
                    assert_eq!(
                        r.payload,
                        &payload_for(expected, MAX)[..],
                        "payload of {expected}"
                    );
                    assert_eq!((r.kind, r.ts_ns), (kind_for(expected), expected * 1000));
                    expected += 1;
                }
                Some(Err(e)) => panic!("reader error at {expected}: {e}"),
                None => {
                    assert!(
                        Instant::now() < deadline,
                        "reader stuck before record {expected}"
                    );
                    std::thread::yield_now();
                }
            }
        }
        assert!(
            records.next().is_none(),
            "no record beyond what the writer appended"
        );
        expected - 1
    });
    append_numbered(&mut journal, N, MAX);
    assert_eq!(reader.join().unwrap(), N);
    assert!(
        segment_files(dir.path()).len() > 100,
        "the reader crossed many segments"
    );
}

#[test]
fn iter_from_starts_at_any_sequence_number_and_waits_beyond_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
    append_numbered(&mut journal, 250, MAX);
    let reader = JournalReader::open(dir.path()).unwrap();
    for from in [0u64, 1, 2, 77, 249, 250] {
        let seqs: Vec<u64> = reader.iter_from(from).map(|r| r.unwrap().seq).collect();
        let first = from.max(1);
        assert_eq!(seqs, (first..=250).collect::<Vec<_>>(), "from {from}");
    }
    let mut beyond = reader.iter_from(253);
    assert!(beyond.next().is_none());
    append_numbered(&mut journal, 5, MAX);
    let seqs: Vec<u64> = beyond.map(|r| r.unwrap().seq).collect();
    assert_eq!(seqs, vec![253, 254, 255]);
}

#[test]
fn a_second_writer_is_refused_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = Journal::open(dir.path(), small()).unwrap();
    let err = Journal::open(dir.path(), small()).unwrap_err();
    assert!(matches!(err, JournalError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("already open for writing"), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    // Readers are not writers: they may open beside it.
    JournalReader::open(dir.path()).unwrap();
    drop(first);
    let (mut again, _) = Journal::open(dir.path(), small()).unwrap();
    assert_eq!(again.append(1, 0, b"ok").unwrap(), 1);
}

#[test]
fn a_journal_of_another_format_version_is_refused_naming_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
    append_numbered(&mut journal, 3, MAX);
    drop(journal);
    let seg = &segment_files(dir.path())[0];
    patch(seg, 8, &7u32.to_le_bytes());

    let err = Journal::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(
            err,
            JournalError::VersionMismatch {
                found: 7,
                oldest: 1,
                newest: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("format version 7") && msg.contains("versions 1 to 2"),
        "{msg}"
    );
    assert!(msg.contains("00000000000000000001.seg"), "{msg}");
    assert!(matches!(
        JournalReader::open(dir.path()),
        Err(JournalError::VersionMismatch { found: 7, .. })
    ));
    assert!(matches!(
        verify(dir.path()),
        Err(JournalError::VersionMismatch { found: 7, .. })
    ));
}

/// Offset just past the last record of the only segment, for hand-made crash damage.
fn end_of_data(n: u64) -> usize {
    let lens: Vec<usize> = (1..=n).map(|s| payload_for(s, MAX).len()).collect();
    let l = layout(&lens, SEG as usize);
    let (seg, off, frame) = *l.last().unwrap();
    assert_eq!(seg, 0, "test expects one segment");
    off + ((frame + 7) & !7)
}

#[test]
fn a_torn_tail_is_cut_reported_and_written_over() {
    for damage in ["half a record", "bad crc at the end", "unpublished bytes"] {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        append_numbered(&mut journal, 10, MAX);
        drop(journal);
        let seg = segment_files(dir.path())[0].clone();
        let end = end_of_data(10);
        let mut frame = [0u8; 80];
        frame[0..4].copy_from_slice(&80u32.to_le_bytes());
        frame[4..6].copy_from_slice(&1u16.to_le_bytes());
        frame[8..16].copy_from_slice(&11u64.to_le_bytes());
        frame[32..].fill(0x5A);
        let torn = match damage {
            // Length word says 80, but only the first 40 bytes made it.
            "half a record" => &frame[..40],
            // A whole frame whose CRC (left zero) does not match.
            "bad crc at the end" => &frame[..],
            // A record being written when the process died: everything but the length word.
            _ => {
                frame[0..4].fill(0);
                &frame[..]
            }
        };
        patch(&seg, end, torn);
        let expected_bytes = torn.iter().rposition(|&b| b != 0).unwrap() as u64 + 1;

        // A reader stops at the torn tail without error and says where it is.
        let reader = JournalReader::open(dir.path()).unwrap();
        let mut records = reader.iter_from(1);
        assert_eq!(
            records.by_ref().map(|r| r.unwrap().seq).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>(),
            "{damage}"
        );
        if damage != "unpublished bytes" {
            let t = records.torn_tail().expect("torn tail seen by reader");
            assert_eq!(
                (t.offset, t.bytes),
                (end as u64, expected_bytes),
                "{damage}"
            );
        }
        // verify reports it and changes nothing.
        let report = verify(dir.path()).unwrap();
        assert_eq!(report.records, 10);
        let t = report.torn_tail.expect("torn tail in verify report");
        assert_eq!(
            (t.segment.clone(), t.offset, t.bytes),
            (seg.clone(), end as u64, expected_bytes),
            "{damage}"
        );
        assert_eq!(verify(dir.path()).unwrap().torn_tail, Some(t));

        let (mut journal, rec) = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        assert_eq!(
            (rec.records, rec.next_seq, rec.torn_bytes()),
            (10, 11, expected_bytes),
            "{damage}"
        );
        assert_eq!(rec.torn_tail.as_ref().unwrap().offset, end as u64);
        append_numbered(&mut journal, 5, MAX);
        // The same reader continues over the cut tail into the new records.
        assert_eq!(
            records.map(|r| r.unwrap().seq).collect::<Vec<_>>(),
            vec![11, 12, 13, 14, 15]
        );
        drop(journal);
        assert_records(dir.path(), 15, MAX);
        assert!(
            verify(dir.path()).unwrap().torn_tail.is_none(),
            "{damage}: tail was zeroed"
        );
    }
}

fn expect_corrupt(dir: &Path, path: &Path, offset: u64) {
    match Journal::open(dir, small()) {
        Err(JournalError::Corrupt {
            path: p,
            offset: o,
            reason,
        }) => {
            assert_eq!((p.as_path(), o), (path, offset), "{reason}");
        }
        other => panic!(
            "expected corruption at {} byte {offset}, got {other:?}",
            path.display()
        ),
    }
    match verify(dir) {
        Err(JournalError::Corrupt {
            path: p, offset: o, ..
        }) => assert_eq!((p.as_path(), o), (path, offset)),
        other => panic!("verify: expected corruption, got {other:?}"),
    }
}

#[test]
fn a_bad_record_with_valid_records_after_it_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
    append_numbered(&mut journal, 40, MAX);
    drop(journal);
    let lens: Vec<usize> = (1..=40).map(|s| payload_for(s, MAX).len()).collect();
    let l = layout(&lens, SEG as usize);
    let files = segment_files(dir.path());

    // Record 3: in the first segment, which later segments follow.
    let (s3, off3, _) = l[2];
    let original = fs::read(&files[s3]).unwrap()[off3 + 12];
    patch(&files[s3], off3 + 12, &[original ^ 0xEE]);
    expect_corrupt(dir.path(), &files[s3], off3 as u64);
    let err = Journal::open(dir.path(), small()).unwrap_err().to_string();
    assert!(
        err.contains("00000000000000000001.seg") && err.contains(&format!("byte {off3}")),
        "{err}"
    );
    // A reader yields what precedes the damage, then the error, then nothing.
    let reader = JournalReader::open(dir.path()).unwrap();
    let results: Vec<_> = reader.iter_from(1).collect();
    assert_eq!(results.len(), 3);
    assert!(results[..2].iter().all(|r| r.is_ok()));
    assert!(
        matches!(&results[2], Err(JournalError::Corrupt { offset, .. }) if *offset == off3 as u64)
    );
    patch(&files[s3], off3 + 12, &[original]);
    Journal::open(dir.path(), small()).expect("repaired byte makes it whole again");

    // Second to last record, in the last segment: the last record still follows it.
    let (s39, off39, _) = l[38];
    assert_eq!(s39, files.len() - 1);
    patch(&files[s39], off39 + RECORD_HEADER_LEN, &[0xFF]);
    expect_corrupt(dir.path(), &files[s39], off39 as u64);
}

#[test]
fn segments_from_another_journal_are_refused() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (mut ja, _) = Journal::open(a.path(), small()).unwrap();
    let (mut jb, _) = Journal::open(b.path(), small()).unwrap();
    assert_ne!(ja.instance_id(), jb.instance_id());
    append_numbered(&mut ja, 30, MAX);
    append_numbered(&mut jb, 30, MAX);
    drop((ja, jb));
    let second = segment_files(a.path())[1].clone();
    fs::copy(&segment_files(b.path())[1], &second).unwrap();
    let err = Journal::open(a.path(), small()).unwrap_err();
    assert!(
        matches!(&err, JournalError::Corrupt { path, offset: 16, .. } if *path == second),
        "{err:?}"
    );
    assert!(err.to_string().contains("instance"), "{err}");
}

#[test]
fn a_missing_seal_is_restored_and_a_blank_trailing_segment_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
    append_numbered(&mut journal, 80, MAX);
    drop(journal);
    let lens: Vec<usize> = (1..=80).map(|s| payload_for(s, MAX).len()).collect();
    let l = layout(&lens, SEG as usize);
    let files = segment_files(dir.path());
    // A seal sits right after the last record of a segment that has room for one; power loss
    // dropped it in the first such segment.
    let (sealed, seal_at) = (0..files.len() - 1)
        .map(|s| {
            let last = l.iter().rfind(|r| r.0 == s).unwrap();
            (s, last.1 + ((last.2 + 7) & !7))
        })
        .find(|&(_, at)| at + RECORD_HEADER_LEN <= SEG as usize)
        .expect("a segment with a seal");
    patch(&files[sealed], seal_at, &[0u8; RECORD_HEADER_LEN]);
    // A segment whose creation reached the directory but not the disk.
    let blank = dir.path().join("00000000000000000081.seg");
    fs::write(&blank, vec![0u8; SEG as usize]).unwrap();

    assert_records(dir.path(), 80, MAX); // readers already cope
    let report = verify(dir.path()).unwrap();
    assert_eq!(
        (report.records, report.blank_segment.as_deref()),
        (80, Some(blank.as_path()))
    );

    let (mut journal, rec) = Journal::open(dir.path(), small()).unwrap();
    assert_eq!((rec.records, rec.repaired_seals), (80, 1));
    assert_eq!(rec.removed_blank_segment.as_deref(), Some(blank.as_path()));
    let seal = fs::read(&files[sealed]).unwrap();
    assert_eq!(
        &seal[seal_at..seal_at + 4],
        &u32::MAX.to_le_bytes(),
        "seal rewritten"
    );
    append_numbered(&mut journal, 5, MAX);
    drop(journal);
    assert_records(dir.path(), 85, MAX);
}

#[test]
fn an_encoder_that_panics_appends_nothing_and_leaves_no_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
    append_numbered(&mut journal, 2, MAX);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        journal.append_with(1, 0, 200, |buf| {
            buf.fill(0x77);
            panic!("encoder failed");
        })
    }));
    assert!(caught.is_err());
    assert_eq!(journal.next_seq(), 3);
    append_numbered(&mut journal, 2, MAX);
    drop(journal);
    assert_records(dir.path(), 4, MAX);
    let report = verify(dir.path()).unwrap();
    assert!(report.torn_tail.is_none(), "{:?}", report.torn_tail);
}

#[test]
fn every_durability_mode_appends_flushes_and_recovers() {
    for durability in [
        Durability::None,
        Durability::Batch {
            interval: Duration::from_millis(1),
        },
        Durability::Sync,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let opts = small().durability(durability);
        let (mut journal, _) = Journal::open(dir.path(), opts).unwrap();
        append_numbered(&mut journal, 120, MAX);
        journal.flush().unwrap();
        append_numbered(&mut journal, 30, MAX);
        drop(journal);
        assert_records(dir.path(), 150, MAX);
        let (journal, rec) = Journal::open(dir.path(), opts).unwrap();
        assert_eq!((rec.records, rec.torn_bytes()), (150, 0), "{durability:?}");
        assert_eq!(journal.next_seq(), 151);
    }
}

#[test]
fn a_reader_needs_segments_and_names_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = JournalReader::open(dir.path()).unwrap_err();
    assert!(matches!(err, JournalError::NoSegments { .. }));
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    let missing = dir.path().join("nope");
    let err = JournalReader::open(&missing).unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn invalid_options_are_refused_before_touching_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("j");
    let err = Journal::open(&target, JournalOptions::default().segment_size(1000)).unwrap_err();
    assert!(matches!(err, JournalError::InvalidOptions(_)));
    assert!(!target.exists());
}

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn roll_over_uses_the_prepared_spare_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
    // The preparation thread makes a spare soon after open. Its file appears before the spare is
    // pre-allocated, mapped and handed over, so a roll-over right then creates its own segment;
    // roll over until one takes the spare (its file renamed: same inode, not a fresh file).
    let deadline = Instant::now() + Duration::from_secs(60);
    let taken = loop {
        while temp_files(dir.path()).is_empty() {
            assert!(Instant::now() < deadline, "no spare segment was prepared");
            std::thread::yield_now();
        }
        let spare = temp_files(dir.path()).remove(0);
        assert!(spare.starts_with("spare-"), "{spare}");
        let spare_ino = ino(&dir.path().join(&spare));
        let segments = segment_files(dir.path()).len();
        while segment_files(dir.path()).len() == segments {
            append_numbered(&mut journal, 1, MAX);
        }
        let newest = segment_files(dir.path()).pop().unwrap();
        if ino(&newest) == spare_ino {
            break newest;
        }
        assert!(
            Instant::now() < deadline,
            "roll-over never used the prepared spare"
        );
    };
    assert_eq!(fs::metadata(&taken).unwrap().len(), SEG);
    append_numbered(&mut journal, 200, MAX);
    drop(journal);
    assert!(
        temp_files(dir.path()).is_empty(),
        "{:?}",
        temp_files(dir.path())
    );
    let n = read_all(dir.path()).len() as u64;
    assert_records(dir.path(), n, MAX);
}

#[test]
fn without_prefaulting_roll_over_creates_segments_itself() {
    let dir = tempfile::tempdir().unwrap();
    let opts = small().prefault(false);
    let (mut journal, _) = Journal::open(dir.path(), opts).unwrap();
    append_numbered(&mut journal, 300, MAX);
    assert!(temp_files(dir.path()).is_empty());
    drop(journal);
    assert!(segment_files(dir.path()).len() >= 10);
    assert_records(dir.path(), 300, MAX);
}

#[test]
fn verify_beside_a_live_writer_never_reports_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
    append_numbered(&mut journal, 1, MAX);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            append_numbered(&mut journal, 20_000, MAX);
            done.store(true, std::sync::atomic::Ordering::Release);
        })
    };
    let mut last = 0;
    let mut runs = 0;
    while !done.load(std::sync::atomic::Ordering::Acquire) || runs == 0 {
        let report = verify(dir.path()).unwrap_or_else(|e| panic!("verify beside a writer: {e}"));
        assert!(report.records >= last, "records went backwards");
        last = report.records;
        runs += 1;
    }
    writer.join().unwrap();
    assert_eq!(verify(dir.path()).unwrap().records, 20_001);
}

#[test]
fn a_missing_or_blank_middle_segment_is_corruption_for_writers_verify_and_readers() {
    for damage in ["missing", "blank"] {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), small()).unwrap();
        append_numbered(&mut journal, 80, MAX);
        drop(journal);
        let files = segment_files(dir.path());
        assert!(files.len() >= 4, "{} segments", files.len());
        let in_first = read_all(dir.path())
            .iter()
            .take_while(|r| r.0 < first_seq_of(&files[1]))
            .count();
        match damage {
            "missing" => fs::remove_file(&files[1]).unwrap(),
            _ => fs::write(&files[1], vec![0u8; SEG as usize]).unwrap(),
        }
        // The first segment's seal names the second: the error is there, naming the lost one.
        let lost = files[1].file_name().unwrap().to_str().unwrap();
        let state = if damage == "missing" {
            "missing"
        } else {
            "blank"
        };
        let check = |err: JournalError| match err {
            JournalError::Corrupt { path, reason, .. } => {
                assert_eq!(path, files[0], "{damage}: {reason}");
                assert!(
                    reason.contains(lost) && reason.contains(state),
                    "{damage}: {reason}"
                );
            }
            other => panic!("{damage}: {other:?}"),
        };
        check(Journal::open(dir.path(), small()).unwrap_err());
        check(verify(dir.path()).unwrap_err());
        // A reader (what `carry journal dump` uses) hands out the first segment's records, then
        // the same error: it does not take the gap for the end of the journal.
        let reader = JournalReader::open(dir.path()).unwrap();
        let mut results: Vec<_> = reader.iter_from(1).collect();
        assert_eq!(results.len(), in_first + 1, "{damage}");
        check(results.pop().unwrap().unwrap_err());
        assert!(results.iter().all(|r| r.is_ok()));
    }
}

fn first_seq_of(segment: &Path) -> u64 {
    let name = segment.file_name().unwrap().to_str().unwrap();
    name.trim_end_matches(".seg").parse().unwrap()
}

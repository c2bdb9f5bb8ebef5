//! Property tests of recovery. A journal of random record sizes is "crashed" at a random byte:
//! everything from that byte on is lost (zeroed, as in a pre-allocated file) or scribbled over
//! with garbage (what out-of-order writeback can leave), and later segments never existed, except
//! that a seal the crash left intact proves its successor was in place (the writer creates it
//! first), empty.
//! Recovery must yield exactly the records whose frames lie wholly before that byte, never a
//! partial one. Separately, one flipped byte inside any record that other records follow must be
//! reported as corruption at that record's segment file and offset.

mod common;

use std::fs;

use carry_journal::{verify, Journal, JournalError, JournalOptions, JournalReader};
use common::*;
use proptest::prelude::*;

const SEG: usize = 4096;

fn opts() -> JournalOptions {
    JournalOptions::default().segment_size(SEG as u64)
}

/// Payload of record `seq` with length `len`, every byte tied to `seq`.
fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as u8) ^ (i as u8).wrapping_mul(7) ^ 0xA5)
        .collect()
}

fn write_journal(dir: &std::path::Path, lens: &[usize]) {
    let (mut journal, _) = Journal::open(dir, opts()).unwrap();
    for (i, &len) in lens.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(
            journal
                .append(kind_for(seq), seq, &payload(seq, len))
                .unwrap(),
            seq
        );
    }
}

#[derive(Debug, Clone)]
enum Damage {
    /// Everything from the crash byte on is zero.
    Truncate,
    /// `len` garbage bytes from the crash byte, zero after.
    Scribble { len: usize, seed: u64 },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        Just(Damage::Truncate),
        (1usize..400, any::<u64>()).prop_map(|(len, seed)| Damage::Scribble {
            len,
            seed: seed | 1
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn recovery_keeps_exactly_the_records_written_before_the_crash(
        lens in prop::collection::vec(0usize..700, 1..60),
        crash_pick in any::<u64>(),
        damage in damage(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        write_journal(dir.path(), &lens);
        let files = segment_files(dir.path());
        let layout = layout(&lens, SEG);
        prop_assert_eq!(files.len(), layout.last().unwrap().0 + 1, "writer and documented layout agree");

        // The crash happens at a byte of some segment (its header was complete before the
        // segment got its name, so the byte is past the header).
        let crash_seg = (crash_pick % files.len() as u64) as usize;
        let crash_at = 64 + ((crash_pick >> 16) % (SEG as u64 - 64)) as usize;
        let original = fs::read(&files[crash_seg]).unwrap();
        let mut data = original.clone();
        data[crash_at..].fill(0);
        if let Damage::Scribble { len, seed } = damage {
            let mut rng = XorShift(seed);
            let end = (crash_at + len).min(SEG);
            for b in &mut data[crash_at..end] {
                *b = rng.next() as u8;
            }
        }
        fs::write(&files[crash_seg], &data).unwrap();

        // A record survives if the crash left its bytes as they were: it ended before the
        // crash, or what the crash wrote over its end happens to be what was there (zeros over
        // the zero high bytes of an empty record's header, say).
        let survivors = layout
            .iter()
            .take_while(|&&(s, off, frame)| {
                s < crash_seg
                    || (s == crash_seg
                        && (off + frame <= crash_at
                            || data[off..off + frame] == original[off..off + frame]))
            })
            .count();
        // Where the last survivor's padded frame ends, the torn tail (if any) begins.
        let tail_start = layout[..survivors]
            .iter()
            .rev()
            .find(|r| r.0 == crash_seg)
            .map_or(64, |&(_, off, frame)| off + ((frame + 7) & !7));
        let nonzero_end = data[tail_start..].iter().rposition(|&b| b != 0).map_or(tail_start, |i| tail_start + i + 1);
        // An intact seal after the survivors is not a tail: the segment was done, and nothing
        // after a seal is ever read.
        let sealed = SEG - tail_start >= 32
            && original[tail_start..tail_start + 4] == [0xFF; 4]
            && data[tail_start..tail_start + 32] == original[tail_start..tail_start + 32];
        prop_assert!(SEG - tail_start >= 32, "the writer always leaves room for the seal");
        for (i, later) in files.iter().enumerate().skip(crash_seg + 1) {
            if sealed && i == crash_seg + 1 {
                let mut empty = fs::read(later).unwrap();
                empty[64..].fill(0);
                fs::write(later, empty).unwrap();
            } else {
                fs::remove_file(later).unwrap();
            }
        }
        let expected_torn = if sealed { 0 } else { (nonzero_end - tail_start) as u64 };

        let report = verify(dir.path()).unwrap();
        prop_assert_eq!(report.records, survivors as u64);
        prop_assert_eq!(report.torn_tail.as_ref().map_or(0, |t| t.bytes), expected_torn);

        let (mut journal, recovery) = Journal::open(dir.path(), opts()).unwrap();
        prop_assert_eq!(recovery.records, survivors as u64);
        prop_assert_eq!(recovery.next_seq, survivors as u64 + 1);
        prop_assert_eq!(recovery.torn_bytes(), expected_torn);
        if expected_torn > 0 {
            let t = recovery.torn_tail.as_ref().unwrap();
            prop_assert_eq!(&t.segment, &files[crash_seg]);
            prop_assert_eq!(t.offset, tail_start as u64);
        }
        // Writing goes on after the cut, and the journal reads back whole.
        let next = survivors as u64 + 1;
        prop_assert_eq!(journal.append(kind_for(next), next, &payload(next, 50)).unwrap(), next);
        drop(journal);
        let reader = JournalReader::open(dir.path()).unwrap();
        let mut count = 0u64;
        for r in reader.iter_from(1) {
            let r = r.unwrap();
            count += 1;
            prop_assert_eq!(r.seq, count);
            let len = if r.seq == next { 50 } else { lens[r.seq as usize - 1] };
            prop_assert_eq!(r.payload, &payload(r.seq, len)[..]);
            prop_assert_eq!((r.kind, r.ts_ns), (kind_for(r.seq), r.seq));
        }
        prop_assert_eq!(count, next);
        let after = verify(dir.path()).unwrap();
        prop_assert!(after.torn_tail.is_none());
    }

    #[test]
    fn a_flipped_byte_inside_a_record_that_others_follow_is_corruption(
        lens in prop::collection::vec(0usize..700, 2..60),
        pick in any::<u64>(),
        mask in 1u8..=255,
    ) {
        let dir = tempfile::tempdir().unwrap();
        write_journal(dir.path(), &lens);
        let files = segment_files(dir.path());
        let layout = layout(&lens, SEG);
        let victim = (pick % (lens.len() as u64 - 1)) as usize;
        let (seg, off, frame) = layout[victim];
        let at = off + ((pick >> 20) % frame as u64) as usize;
        let mut data = fs::read(&files[seg]).unwrap();
        data[at] ^= mask;
        fs::write(&files[seg], &data).unwrap();

        let check = |e: JournalError| -> Result<(), TestCaseError> {
            match e {
                JournalError::Corrupt { path, offset, .. } => {
                    prop_assert_eq!(&path, &files[seg]);
                    prop_assert_eq!(offset, off as u64);
                    Ok(())
                }
                other => Err(TestCaseError::fail(format!("expected corruption, got {other}"))),
            }
        };
        check(Journal::open(dir.path(), opts()).unwrap_err())?;
        check(verify(dir.path()).unwrap_err())?;
        // A reader hands out every record before the damage, then the error.
        let reader = JournalReader::open(dir.path()).unwrap();
        let results: Vec<_> = reader.iter_from(1).collect();
        prop_assert_eq!(results.len(), victim + 1);
        for (i, r) in results[..victim].iter().enumerate() {
            prop_assert_eq!(r.as_ref().unwrap().seq, i as u64 + 1);
        }
        prop_assert!(results[victim].is_err());
    }
}

//! Helpers shared by the journal's integration tests: deterministic payloads that let a test
//! check every byte of every record, and raw access to segment files for simulating crashes.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use carry_journal::{Journal, JournalReader, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};

/// Payload of the record with sequence number `seq`: its length varies with `seq` (0..=max) and
/// every byte depends on `seq`, so a misplaced, truncated or mixed-up payload cannot pass.
pub fn payload_for(seq: u64, max: usize) -> Vec<u8> {
    let len = (seq.wrapping_mul(2_654_435_761) % (max as u64 + 1)) as usize;
    (0..len)
        .map(|i| {
            (seq as u8)
                .wrapping_mul(31)
                .wrapping_add(i as u8)
                .wrapping_add((seq >> 8) as u8)
        })
        .collect()
}

/// Kind of record `seq`: any non-zero u16.
pub fn kind_for(seq: u64) -> u16 {
    (seq % 7 + 1) as u16
}

/// Appends the next `n` numbered records: kind `kind_for(seq)`, timestamp `seq * 1000`, payload
/// `payload_for(seq, max)` (what `assert_records` expects).
pub fn append_numbered(journal: &mut Journal, n: u64, max: usize) {
    for _ in 0..n {
        let seq = journal.next_seq();
        let got = journal
            .append(kind_for(seq), seq * 1000, &payload_for(seq, max))
            .expect("append");
        assert_eq!(got, seq);
    }
}

/// Every record of the journal as owned data, failing the test on any error.
pub fn read_all(dir: &Path) -> Vec<(u64, u16, u64, Vec<u8>)> {
    let reader = JournalReader::open(dir).expect("open reader");
    reader
        .iter_from(1)
        .map(|r| {
            let r = r.expect("record");
            (r.seq, r.kind, r.ts_ns, r.payload.to_vec())
        })
        .collect()
}

/// Asserts the journal holds exactly records 1..=n, each with `payload_for(seq, max)`.
pub fn assert_records(dir: &Path, n: u64, max: usize) {
    let all = read_all(dir);
    assert_eq!(all.len() as u64, n, "record count");
    for (i, (seq, kind, ts, payload)) in all.iter().enumerate() {
        let want = i as u64 + 1;
        assert_eq!(*seq, want, "sequence gap");
        assert_eq!(*kind, kind_for(want), "kind of record {want}");
        assert_eq!(*ts, want * 1000, "timestamp of record {want}");
        assert_eq!(payload, &payload_for(want, max), "payload of record {want}");
    }
}

/// Segment files of `dir`, sorted by name.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// Where each record lands, computed independently of the writer from the documented layout
/// (records on 8-byte boundaries after the header, room for a seal always left after the last):
/// `(segment index, offset, frame length)` for records 1..=n of payload lengths `lens`.
pub fn layout(lens: &[usize], segment_size: usize) -> Vec<(usize, usize, usize)> {
    let mut seg = 0;
    let mut off = SEGMENT_HEADER_LEN;
    let mut out = Vec::with_capacity(lens.len());
    for &len in lens {
        let frame = RECORD_HEADER_LEN + len;
        let padded = (frame + 7) & !7;
        if padded + RECORD_HEADER_LEN > segment_size - off {
            seg += 1;
            off = SEGMENT_HEADER_LEN;
        }
        out.push((seg, off, frame));
        off += padded;
    }
    out
}

/// Overwrites bytes of a file in place.
pub fn patch(path: &Path, at: usize, bytes: &[u8]) {
    let mut data = fs::read(path).expect("read segment");
    data[at..at + bytes.len()].copy_from_slice(bytes);
    fs::write(path, data).expect("write segment");
}

/// Small xorshift generator for tests that want randomness without a dependency; the seed is
/// printed by the caller so a failure can be replayed.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A seed from the clock and the pid.
pub fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    (t ^ (u64::from(std::process::id()) << 32)) | 1
}

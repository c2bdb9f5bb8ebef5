//! Where the engine writes its records: the [`RecordSink`] trait, which the journal implements,
//! and [`MemorySink`], which keeps records in memory for replay's scratch engine and for tests.
//! The engine encodes each record straight into the slice a sink hands out, so a journal append
//! costs no allocation.

use crate::record::Record;

/// Where the engine writes its records: the journal, or (for replay and tests) memory.
pub trait RecordSink {
    /// Appends a record of `kind` and `len` payload bytes, which `encode` writes in place;
    /// returns its sequence number.
    fn append_with<F: FnOnce(&mut [u8])>(
        &mut self,
        kind: u16,
        ts_ns: u64,
        len: usize,
        encode: F,
    ) -> Result<u64, carry_journal::JournalError>;
}

impl RecordSink for carry_journal::Journal {
    fn append_with<F: FnOnce(&mut [u8])>(
        &mut self,
        kind: u16,
        ts_ns: u64,
        len: usize,
        encode: F,
    ) -> Result<u64, carry_journal::JournalError> {
        carry_journal::Journal::append_with(self, kind, ts_ns, len, encode)
    }
}

/// Records kept in memory: replay's scratch journal, and tests (optionally failing after a
/// number of appends, to exercise the journal-failure path).
#[derive(Debug, Default)]
pub struct MemorySink {
    /// (kind, payload) of every record appended, in order.
    pub records: Vec<(u16, Vec<u8>)>,
    /// Appends fail once this many have succeeded.
    pub fail_after: Option<usize>,
    appended: usize,
}

impl MemorySink {
    /// An empty sink that never fails.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// A sink whose appends fail once `n` have succeeded.
    pub fn failing_after(n: usize) -> MemorySink {
        MemorySink {
            fail_after: Some(n),
            ..MemorySink::default()
        }
    }

    /// Decoded records of one kind, in order.
    pub fn decoded(&self, of_kind: u16) -> Vec<Record> {
        self.records
            .iter()
            .filter(|(k, _)| *k == of_kind)
            .filter_map(|(k, p)| Record::decode(*k, p).ok())
            .collect()
    }
}

impl RecordSink for MemorySink {
    fn append_with<F: FnOnce(&mut [u8])>(
        &mut self,
        kind: u16,
        _ts_ns: u64,
        len: usize,
        encode: F,
    ) -> Result<u64, carry_journal::JournalError> {
        if self.fail_after.is_some_and(|n| self.appended >= n) {
            return Err(carry_journal::JournalError::Io {
                path: "memory".into(),
                op: "append",
                error: std::io::Error::other("injected append failure"),
            });
        }
        let mut buf = vec![0u8; len];
        encode(&mut buf);
        self.records.push((kind, buf));
        self.appended += 1;
        Ok(self.appended as u64)
    }
}

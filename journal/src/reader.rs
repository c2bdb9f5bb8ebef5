//! Readers: iterate records from any sequence number, borrowing payloads straight from the
//! mapped segments, while a writer (in this or another process) keeps appending. A reader takes
//! no lock, maps files read-only and never changes them.
//!
//! An iterator from [`JournalReader::iter_from`] that has caught up returns `None`; calling
//! `next` again later yields what was appended since, following the writer into new segments. A
//! torn tail (what a crashed writer leaves) also ends iteration without an error: the next writer
//! cuts it and appends there, and the same iterator then continues.
//!
//! Where the written data ends, a live iterator cannot tell the end from a hole (a length word
//! zeroed in the middle of a segment) without looking at everything after it, which it cannot
//! afford on every poll. [`JournalReader::iter_to_end`] does look, once, when it reaches the end:
//! for tools that read a journal as it stands (`carry journal dump`, `carry replay`), it applies
//! the rules of [`verify`](crate::verify) and ends with the corruption instead of stopping early.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use memmap2::MmapRaw;

use crate::error::JournalError;
use crate::format::{Frame, Record, SegPtr, SegmentHeader, SEGMENT_HEADER_LEN};
use crate::scan::{
    blank_before_later, blank_first, check_segment_end, hole, judge_end, later_segment,
    missing_segment, seal_names_lost, DataEnd, SegmentEnd, TornTail,
};
use crate::segment::{list_segments, open_segment, segment_file_name, SegmentFile, SegmentOpen};

#[derive(Debug)]
struct ReaderSegment {
    file: SegmentFile,
    /// Mapped (with its header checked) on first use; never unmapped while the reader lives.
    mapped: Option<Mapped>,
}

#[derive(Debug)]
struct Mapped {
    map: MmapRaw,
    header: SegmentHeader,
}

/// A segment as an iterator holds it.
#[derive(Clone, Copy, Debug)]
struct SegView {
    ptr: SegPtr,
    header: SegmentHeader,
}

/// A read-only view of a journal directory.
///
/// ```
/// use carry_journal::{Journal, JournalOptions, JournalReader};
///
/// let dir = tempfile::tempdir()?;
/// let (mut journal, _) = Journal::open(dir.path(), JournalOptions::default())?;
/// let reader = JournalReader::open(dir.path())?;
/// let mut records = reader.iter_from(1);
/// assert!(records.next().is_none()); // caught up
///
/// journal.append(3, 10, b"later")?;
/// let rec = records.next().unwrap()?; // the same iterator sees the new record
/// assert_eq!((rec.seq, rec.kind, rec.payload), (1, 3, &b"later"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    instance_id: u64,
    /// Known segments, sorted by first sequence number. Entries are only ever added; payload
    /// slices point into the mappings, which stay put when the vector moves its entries.
    segments: Mutex<Vec<ReaderSegment>>,
}

impl JournalReader {
    /// Opens the journal in `dir` for reading. Fails if `dir` has no segments or its first
    /// segment is not a readable segment of a format version this build reads.
    pub fn open(dir: impl AsRef<Path>) -> Result<JournalReader, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let files = list_segments(&dir)?;
        let first = files
            .first()
            .ok_or_else(|| JournalError::NoSegments { dir: dir.clone() })?;
        let first = match open_segment(&first.path, first.first_seq)? {
            SegmentOpen::Segment { header, map } => Mapped { map, header },
            SegmentOpen::Blank => return Err(blank_first(first.path.clone())),
        };
        let instance_id = first.header.instance_id;
        let mut first = Some(first);
        let segments = files
            .into_iter()
            .map(|file| ReaderSegment {
                file,
                mapped: first.take(),
            })
            .collect();
        Ok(JournalReader {
            dir,
            instance_id,
            segments: Mutex::new(segments),
        })
    }

    /// The journal's instance id.
    pub fn instance_id(&self) -> u64 {
        self.instance_id
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Iterates records with sequence number `from` and later (from 1 if `from` is 0), following
    /// a live writer: `None` means "nothing more for now".
    pub fn iter_from(&self, from: u64) -> Records<'_> {
        self.iter(from, false)
    }

    /// Iterates records with sequence number `from` and later (from 1 if `from` is 0) to the end
    /// of the journal as it stands, judged as [`verify`](crate::verify) judges it: where the
    /// written data ends, the iterator checks that nothing valid follows (in that segment or a
    /// later one) and otherwise yields the corruption, naming the segment file and offset, rather
    /// than ending. A torn tail at the very end ends it without an error, as with `iter_from`.
    ///
    /// ```
    /// use carry_journal::{Journal, JournalOptions, JournalReader};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let (mut journal, _) = Journal::open(dir.path(), JournalOptions::default())?;
    /// for i in 0..3u8 {
    ///     journal.append(1, 0, &[i; 24])?;
    /// }
    /// drop(journal);
    /// // Zero the length word of record 2 (records 1 and 2 sit at bytes 64 and 120).
    /// let seg = dir.path().join("00000000000000000001.seg");
    /// let mut bytes = std::fs::read(&seg)?;
    /// bytes[120..124].fill(0);
    /// std::fs::write(&seg, bytes)?;
    ///
    /// let reader = JournalReader::open(dir.path())?;
    /// assert_eq!(reader.iter_from(1).count(), 1); // a live reader sees the end of the data
    /// let checked: Vec<_> = reader.iter_to_end(1).collect();
    /// let err = checked[1].as_ref().unwrap_err().to_string();
    /// assert!(err.contains("byte 120") && err.contains("records are missing"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter_to_end(&self, from: u64) -> Records<'_> {
        self.iter(from, true)
    }

    fn iter(&self, from: u64, to_end: bool) -> Records<'_> {
        let segments = self.segments();
        // Start in the last known segment that begins at or before `from`: skipping whole
        // segments by name keeps a seek cheap however long the journal is.
        let start = segments
            .iter()
            .rev()
            .find(|s| s.file.first_seq <= from)
            .or(segments.first())
            .map_or(1, |s| s.file.first_seq);
        Records {
            reader: self,
            seg: None,
            seg_first: start,
            off: SEGMENT_HEADER_LEN,
            next_seq: start,
            from,
            to_end,
            failed: false,
            torn: None,
        }
    }

    fn segments(&self) -> MutexGuard<'_, Vec<ReaderSegment>> {
        // Entries are only added, whole; a panic elsewhere cannot leave one half made.
        self.segments.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The segment whose first record is `first_seq`, mapped and with its header checked; `None`
    /// if it does not exist (yet) or is blank. Looked up by name, not by listing the directory: a
    /// listing taken while the writer renames a segment into place may miss it.
    fn segment(&self, first_seq: u64) -> Result<Option<SegView>, JournalError> {
        let mut segments = self.segments();
        let idx = match segments.binary_search_by_key(&first_seq, |s| s.file.first_seq) {
            Ok(idx) => idx,
            Err(idx) => {
                let path = self.dir.join(segment_file_name(first_seq));
                if !path.exists() {
                    return Ok(None);
                }
                let file = SegmentFile { first_seq, path };
                segments.insert(idx, ReaderSegment { file, mapped: None });
                idx
            }
        };
        let entry = &mut segments[idx];
        if entry.mapped.is_none() {
            match open_segment(&entry.file.path, first_seq)? {
                SegmentOpen::Segment { header, .. } if header.instance_id != self.instance_id => {
                    return Err(JournalError::corrupt(
                        &entry.file.path,
                        16,
                        format!(
                            "segment belongs to journal instance {:016x}, not {:016x}",
                            header.instance_id, self.instance_id
                        ),
                    ))
                }
                SegmentOpen::Segment { header, map } => entry.mapped = Some(Mapped { map, header }),
                // A segment is renamed into place only once its header is written: a blank one
                // is what power loss left, and the caller judges whether that may end the data.
                SegmentOpen::Blank => return Ok(None),
            }
        }
        let mapped = entry.mapped.as_ref().expect("mapped above");
        // SAFETY: the mapping lives in `self.segments`, which never drops an entry, until `self`
        // drops; `Records` borrows `self`, so every pointer it holds outlives its use.
        let ptr = unsafe { SegPtr::new(mapped.map.as_ptr(), mapped.map.len()) };
        Ok(Some(SegView {
            ptr,
            header: mapped.header,
        }))
    }

    /// Whether a segment after the one starting at `first_seq` is already known (no system
    /// call: this is asked on every poll of a caught-up iterator).
    fn knows_segment_after(&self, first_seq: u64) -> bool {
        self.segments()
            .last()
            .is_some_and(|s| s.file.first_seq > first_seq)
    }

    fn path_of(&self, first_seq: u64) -> PathBuf {
        self.dir.join(segment_file_name(first_seq))
    }
}

/// Iterator over records, from [`JournalReader::iter_from`] or [`JournalReader::iter_to_end`].
/// Yields `Err` once, on corruption, then ends for good.
#[derive(Debug)]
pub struct Records<'r> {
    reader: &'r JournalReader,
    /// The mapped segment starting at `seg_first`, once it exists.
    seg: Option<SegView>,
    seg_first: u64,
    off: usize,
    /// Sequence number expected at `off`.
    next_seq: u64,
    from: u64,
    /// Judge the end of the data before ending (`iter_to_end`).
    to_end: bool,
    failed: bool,
    torn: Option<TornTail>,
}

impl<'r> Records<'r> {
    /// If iteration stopped at a torn tail (bytes a crashed writer left, not yet cut by a new
    /// writer), where it is. Cleared once records appear there.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    fn fail(&mut self, e: JournalError) -> Option<Result<Record<'r>, JournalError>> {
        self.failed = true;
        Some(Err(e))
    }

    /// Moves to the segment that starts with `next_seq`, if it exists yet, after the current one
    /// ended with `end`. A segment beyond it while it is missing (or its header blank) means
    /// damage, as `verify` and recovery judge it: a writer creates segments in order, header
    /// first; and so does a seal (format 2 on) that names a segment that is not there.
    fn advance(&mut self, end: SegmentEnd) -> Result<bool, JournalError> {
        let path = self.reader.path_of(self.seg_first);
        if let Some(seg) = &self.seg {
            let records = self.next_seq - self.seg_first;
            check_segment_end(&path, &seg.header, end, records, self.off)?;
        }
        let mut next = self.reader.segment(self.next_seq)?;
        if next.is_none() {
            let (first, next_seq) = (self.seg_first, self.next_seq);
            let sealed = end == SegmentEnd::Sealed
                && self.seg.is_some_and(|s| s.header.seal_follows_successor());
            if sealed {
                return Err(seal_names_lost(
                    &path,
                    self.off,
                    &self.reader.path_of(next_seq),
                ));
            }
            let beyond = list_segments(&self.reader.dir)?
                .into_iter()
                .find(|s| s.first_seq > first && s.first_seq != next_seq);
            if let Some(stray) = beyond {
                // Looked for again: a live writer may have renamed it in meanwhile.
                next = self.reader.segment(next_seq)?;
                if next.is_none() {
                    let path = self.reader.path_of(next_seq);
                    return Err(match path.exists() {
                        true => blank_before_later(path),
                        false => missing_segment(&stray, next_seq),
                    });
                }
            }
        }
        let Some(next) = next else {
            return Ok(false);
        };
        self.seg = Some(next);
        self.seg_first = self.next_seq;
        self.off = SEGMENT_HEADER_LEN;
        Ok(true)
    }

    /// Moves on after the current segment ended with `end`: `Some` is what `next` returns.
    fn after_end(&mut self, end: SegmentEnd) -> Option<Option<Result<Record<'r>, JournalError>>> {
        match self.advance(end) {
            Ok(true) => None,
            Ok(false) => Some(None),
            Err(e) => Some(self.fail(e)),
        }
    }
}

impl<'r> Iterator for Records<'r> {
    type Item = Result<Record<'r>, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let seg = match self.seg {
                Some(seg) => seg.ptr,
                None => match self.reader.segment(self.seg_first) {
                    Ok(Some(seg)) => {
                        self.seg = Some(seg);
                        seg.ptr
                    }
                    Ok(None) => return None,
                    Err(e) => return self.fail(e),
                },
            };
            // SAFETY: `seg` points into a mapping owned by `self.reader`, which outlives 'r.
            let frame: Frame<'r> = unsafe { seg.frame(self.off) };
            match frame {
                Frame::Record { record, next } => {
                    if record.seq != self.next_seq {
                        let reason = format!(
                            "record has sequence {} where {} was expected",
                            record.seq, self.next_seq
                        );
                        let path = self.reader.path_of(self.seg_first);
                        return self.fail(JournalError::corrupt(path, self.off, reason));
                    }
                    self.off += next;
                    self.next_seq += 1;
                    self.torn = None;
                    if record.seq >= self.from {
                        return Some(Ok(record));
                    }
                }
                Frame::Seal { next_seq } if next_seq != self.next_seq => {
                    let reason = format!(
                        "seal says the next segment starts at {next_seq}, but the next record is {}",
                        self.next_seq
                    );
                    let path = self.reader.path_of(self.seg_first);
                    return self.fail(JournalError::corrupt(path, self.off, reason));
                }
                Frame::Seal { .. } => {
                    if let Some(out) = self.after_end(SegmentEnd::Sealed) {
                        return out;
                    }
                }
                Frame::Full => {
                    if let Some(out) = self.after_end(SegmentEnd::Full) {
                        return out;
                    }
                }
                Frame::Empty => {
                    // Usually: caught up. But if a later segment is known, the writer moved on
                    // and this segment's seal is not written (yet, or lost to power loss):
                    // continue if the next segment is where the sequence says.
                    if self.reader.knows_segment_after(self.seg_first) {
                        if let Some(out) = self.after_end(SegmentEnd::LostSeal) {
                            return out;
                        }
                        continue;
                    }
                    if !self.to_end {
                        return None;
                    }
                    let (dir, first) = (self.reader.dir.as_path(), self.seg_first);
                    let mut later = || Ok(later_segment(dir, first)?.is_some());
                    match judge_end(seg, self.off, &mut later) {
                        Ok(DataEnd::PublishedMeanwhile) => {}
                        Ok(DataEnd::ValidAfter(valid)) => {
                            let path = self.reader.path_of(self.seg_first);
                            return self.fail(hole(&path, self.off, valid));
                        }
                        Ok(DataEnd::LaterSegment) => {
                            if let Some(out) = self.after_end(SegmentEnd::LostSeal) {
                                return out;
                            }
                        }
                        Ok(DataEnd::Last { nonzero_end }) => {
                            self.torn = (nonzero_end > self.off).then(|| TornTail {
                                segment: self.reader.path_of(self.seg_first),
                                offset: self.off as u64,
                                bytes: (nonzero_end - self.off) as u64,
                            });
                            return None;
                        }
                        Err(e) => return self.fail(e),
                    }
                }
                Frame::Bad(bad) => {
                    let (dir, first) = (self.reader.dir.as_path(), self.seg_first);
                    let mut later = || Ok(later_segment(dir, first)?.is_some());
                    let reason = match judge_end(seg, self.off, &mut later) {
                        // A new writer cut the torn tail and appended meanwhile.
                        Ok(DataEnd::PublishedMeanwhile) => continue,
                        Ok(DataEnd::ValidAfter(valid)) => {
                            format!("{bad}, and a valid record follows at byte {valid}")
                        }
                        Ok(DataEnd::LaterSegment) => {
                            format!("{bad}, in a segment that later segments follow")
                        }
                        Ok(DataEnd::Last { nonzero_end }) => {
                            self.torn = Some(TornTail {
                                segment: self.reader.path_of(self.seg_first),
                                offset: self.off as u64,
                                bytes: (nonzero_end - self.off) as u64,
                            });
                            return None;
                        }
                        Err(e) => return self.fail(e),
                    };
                    let path = self.reader.path_of(self.seg_first);
                    return self.fail(JournalError::corrupt(path, self.off, reason));
                }
            }
        }
    }
}

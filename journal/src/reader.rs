//! Readers: iterate records from any sequence number, borrowing payloads straight from the
//! mapped segments, while a writer (in this or another process) keeps appending. A reader takes
//! no lock, maps files read-only and never changes them.
//!
//! An iterator that has caught up returns `None`; calling `next` again later yields what was
//! appended since, following the writer into new segments. A torn tail (what a crashed writer
//! leaves) also ends iteration without an error: the next writer cuts it and appends there, and
//! the same iterator then continues.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use memmap2::MmapRaw;

use crate::error::JournalError;
use crate::format::{Frame, Record, SegPtr, SEGMENT_HEADER_LEN};
use crate::scan::{
    blank_before_later, judge_end, later_segment, map_read_only, missing_segment, DataEnd, TornTail,
};
use crate::segment::{
    decode_header, list_segments, read_header, segment_file_name, HeaderRead, SegmentFile,
};

#[derive(Debug)]
struct ReaderSegment {
    file: SegmentFile,
    /// Mapped on first use; never unmapped while the reader lives.
    map: Option<MmapRaw>,
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
    /// segment is not a readable segment of this format version.
    pub fn open(dir: impl AsRef<Path>) -> Result<JournalReader, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let files = list_segments(&dir)?;
        let first = files
            .first()
            .ok_or_else(|| JournalError::NoSegments { dir: dir.clone() })?;
        let instance_id = match read_header(&first.path, first.first_seq)? {
            HeaderRead::Ok(h) => h.instance_id,
            HeaderRead::Blank => return Err(JournalError::NoSegments { dir }),
        };
        let segments = files
            .into_iter()
            .map(|file| ReaderSegment { file, map: None })
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

    /// Iterates records with sequence number `from` and later (from 1 if `from` is 0).
    pub fn iter_from(&self, from: u64) -> Records<'_> {
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
            failed: false,
            torn: None,
        }
    }

    fn segments(&self) -> MutexGuard<'_, Vec<ReaderSegment>> {
        // Entries are only added, whole; a panic elsewhere cannot leave one half made.
        self.segments.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The segment whose first record is `first_seq`, mapped and with its header checked; `None`
    /// if it does not exist (yet). Looked up by name, not by listing the directory: a listing
    /// taken while the writer renames a segment into place may miss it.
    fn segment(&self, first_seq: u64) -> Result<Option<SegPtr>, JournalError> {
        let mut segments = self.segments();
        let idx = match segments.binary_search_by_key(&first_seq, |s| s.file.first_seq) {
            Ok(idx) => idx,
            Err(idx) => {
                let path = self.dir.join(segment_file_name(first_seq));
                if !path.exists() {
                    return Ok(None);
                }
                let file = SegmentFile { first_seq, path };
                segments.insert(idx, ReaderSegment { file, map: None });
                idx
            }
        };
        let entry = &mut segments[idx];
        if entry.map.is_none() {
            let map = map_read_only(&entry.file.path)?;
            let mut h = [0u8; SEGMENT_HEADER_LEN];
            let available = map.len().min(SEGMENT_HEADER_LEN);
            // SAFETY: the header is written before the segment gets its name and never changes.
            h[..available]
                .copy_from_slice(unsafe { std::slice::from_raw_parts(map.as_ptr(), available) });
            match decode_header(&entry.file.path, &h, available, first_seq)? {
                HeaderRead::Ok(header) if header.instance_id != self.instance_id => {
                    return Err(JournalError::corrupt(
                        &entry.file.path,
                        16,
                        format!(
                            "segment belongs to journal instance {:016x}, not {:016x}",
                            header.instance_id, self.instance_id
                        ),
                    ))
                }
                HeaderRead::Ok(_) => entry.map = Some(map),
                // Its header has not reached the disk: treat it as not there yet.
                HeaderRead::Blank => return Ok(None),
            }
        }
        let map = entry.map.as_ref().expect("mapped above");
        // SAFETY: the mapping lives in `self.segments`, which never drops an entry, until `self`
        // drops; `Records` borrows `self`, so every pointer it holds outlives its use.
        Ok(Some(unsafe { SegPtr::new(map.as_ptr(), map.len()) }))
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

/// Iterator over records, from [`JournalReader::iter_from`]. Yields `Err` once, on corruption,
/// then ends for good; `None` only means "nothing more for now".
#[derive(Debug)]
pub struct Records<'r> {
    reader: &'r JournalReader,
    /// The mapped segment starting at `seg_first`, once it exists.
    seg: Option<SegPtr>,
    seg_first: u64,
    off: usize,
    /// Sequence number expected at `off`.
    next_seq: u64,
    from: u64,
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

    /// Moves to the segment that starts with `next_seq`, if it exists yet. A segment beyond it
    /// while it is missing (or its header blank) means damage, as `verify` and recovery judge
    /// it: a writer creates segments in order, header first.
    fn advance(&mut self) -> Result<bool, JournalError> {
        let mut seg = self.reader.segment(self.next_seq)?;
        if seg.is_none() {
            let (first, next) = (self.seg_first, self.next_seq);
            let beyond = list_segments(&self.reader.dir)?
                .into_iter()
                .find(|s| s.first_seq > first && s.first_seq != next);
            if let Some(stray) = beyond {
                // Looked for again: a live writer may have renamed it in meanwhile.
                seg = self.reader.segment(next)?;
                if seg.is_none() {
                    let path = self.reader.path_of(next);
                    return Err(match path.exists() {
                        true => blank_before_later(path),
                        false => missing_segment(&stray, next),
                    });
                }
            }
        }
        let Some(seg) = seg else {
            return Ok(false);
        };
        self.seg = Some(seg);
        self.seg_first = self.next_seq;
        self.off = SEGMENT_HEADER_LEN;
        Ok(true)
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
                Some(seg) => seg,
                None => match self.reader.segment(self.seg_first) {
                    Ok(Some(seg)) => {
                        self.seg = Some(seg);
                        seg
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
                Frame::Seal { .. } | Frame::Full => match self.advance() {
                    Ok(true) => {}
                    Ok(false) => return None,
                    Err(e) => return self.fail(e),
                },
                Frame::Empty => {
                    // Usually: caught up. But if a later segment is known, the writer moved on
                    // and power loss dropped this segment's seal: continue if the next segment
                    // is where the sequence says.
                    if !self.reader.knows_segment_after(self.seg_first) {
                        return None;
                    }
                    match self.advance() {
                        Ok(true) => {}
                        Ok(false) => return None,
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

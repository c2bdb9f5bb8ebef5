//! Walking a whole journal and deciding, for every byte written, whether it is a record, the end
//! of data, a torn tail a crash left behind, or corruption. Shared by the recovering writer and
//! by `verify`, so both apply exactly the same rules:
//!
//! - A segment header must be intact, of this format version, of the same journal instance, and
//!   start where the previous segment ended. The first segment starts at sequence 1.
//! - Records must pass their checks and carry consecutive sequence numbers.
//! - In the last segment, a bad frame or leftover bytes after the last record, with nothing valid
//!   after them, are a torn tail: what a crash leaves. Anything valid after them is corruption.
//! - In any other segment, a bad frame is corruption. A missing seal is tolerated when the next
//!   segment continues the sequence (power loss can drop the seal write but not the data).
//! - A last segment whose header is blank is a segment whose creation never reached the disk.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::JournalError;
use crate::format::{Frame, Record, SegPtr, SEGMENT_HEADER_LEN};
use crate::segment::{list_segments, read_header, HeaderRead, SegmentFile};

/// Bytes at the end of a journal that a crash left and recovery cuts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset in that file where the torn data begins (just after the last valid record).
    pub offset: u64,
    /// Number of bytes from `offset` to the last non-zero byte.
    pub bytes: u64,
}

/// How a segment's written data ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SegmentEnd {
    /// The writer sealed it and moved on.
    Sealed,
    /// No room for another frame header.
    Full,
    /// Length word 0 after the last record: open for appends (or, in a non-last segment, a
    /// lost seal).
    Open,
    /// A bad frame after the last record (last segment only).
    Torn,
}

#[derive(Debug)]
pub(crate) struct SegmentScan {
    pub records: u64,
    pub next_seq: u64,
    /// Offset just after the last record: where the next frame goes.
    pub end: usize,
    pub end_kind: SegmentEnd,
    /// `(offset, bytes)` of leftovers after `end` (last segment only).
    pub tail: Option<(usize, usize)>,
}

/// Scans one mapped segment whose first record must be `first_seq`.
pub(crate) fn scan_segment(
    seg: SegPtr,
    path: &Path,
    first_seq: u64,
    is_last: bool,
    on_record: &mut dyn FnMut(&Record<'_>),
) -> Result<SegmentScan, JournalError> {
    let mut off = SEGMENT_HEADER_LEN;
    let mut next_seq = first_seq;
    let mut records = 0u64;
    let done = |end: usize, end_kind, next_seq, records, tail| {
        Ok(SegmentScan {
            records,
            next_seq,
            end,
            end_kind,
            tail,
        })
    };
    loop {
        // SAFETY: the record is used only inside this loop, while the caller's mapping lives.
        match unsafe { seg.frame(off) } {
            Frame::Record { record, next } => {
                if record.seq != next_seq {
                    return Err(JournalError::corrupt(
                        path,
                        off,
                        format!("record has sequence {} where {next_seq} was expected", record.seq),
                    ));
                }
                on_record(&record);
                records += 1;
                next_seq += 1;
                off += next;
            }
            Frame::Full => return done(off, SegmentEnd::Full, next_seq, records, None),
            Frame::Seal { next_seq: sealed } => {
                if sealed != next_seq {
                    return Err(JournalError::corrupt(
                        path,
                        off,
                        format!(
                            "seal says the next segment starts at {sealed}, but the next record \
                             after this segment is {next_seq}"
                        ),
                    ));
                }
                return done(off, SegmentEnd::Sealed, next_seq, records, None);
            }
            Frame::Empty => {
                // In the last segment this is the end of data; in another one, a lost seal.
                // Either way nothing valid may follow.
                let survey = seg.survey_tail(off);
                if let Some(valid) = survey.valid_frame_at {
                    return Err(JournalError::corrupt(
                        path,
                        off,
                        format!(
                            "no record here but a valid record follows at byte {valid}: \
                             records are missing"
                        ),
                    ));
                }
                let tail = (is_last && survey.nonzero_end > off).then(|| (off, survey.nonzero_end - off));
                return done(off, SegmentEnd::Open, next_seq, records, tail);
            }
            Frame::Bad(bad) => {
                if !is_last {
                    return Err(JournalError::corrupt(
                        path,
                        off,
                        format!("{bad}, in a segment that later segments follow"),
                    ));
                }
                let survey = seg.survey_tail(off);
                if let Some(valid) = survey.valid_frame_at {
                    return Err(JournalError::corrupt(
                        path,
                        off,
                        format!("{bad}, and a valid record follows at byte {valid}"),
                    ));
                }
                // The length word at `off` is non-zero, so the survey ends past `off`.
                let tail = Some((off, survey.nonzero_end - off));
                return done(off, SegmentEnd::Torn, next_seq, records, tail);
            }
        }
    }
}

/// A segment after scanning.
#[derive(Debug)]
pub(crate) struct ScannedSegment {
    pub file: SegmentFile,
    /// File length in bytes.
    pub size: u64,
    pub scan: SegmentScan,
}

/// The whole journal after scanning.
#[derive(Debug, Default)]
pub(crate) struct JournalScan {
    /// Instance id shared by all segments (None when there are none).
    pub instance_id: Option<u64>,
    pub segments: Vec<ScannedSegment>,
    /// A trailing segment whose header never reached the disk; not in `segments`.
    pub blank_last: Option<PathBuf>,
    pub records: u64,
    /// Sequence number the next appended record gets.
    pub next_seq: u64,
}

impl JournalScan {
    /// The torn tail of the last segment, if any.
    pub fn torn_tail(&self) -> Option<TornTail> {
        let last = self.segments.last()?;
        let (offset, bytes) = last.scan.tail?;
        Some(TornTail {
            segment: last.file.path.clone(),
            offset: offset as u64,
            bytes: bytes as u64,
        })
    }
}

/// Maps a segment read-only. The map never outlives the scan of that segment.
pub(crate) fn map_read_only(path: &Path) -> Result<MmapRaw, JournalError> {
    let file = File::open(path).map_err(|e| JournalError::io(path, "open segment", e))?;
    MmapOptions::new()
        .map_raw_read_only(&file)
        .map_err(|e| JournalError::io(path, "map segment", e))
}

/// Scans every segment of `dir` read-only, applying the rules in the module documentation.
pub(crate) fn scan_journal(
    dir: &Path,
    on_record: &mut dyn FnMut(&Record<'_>),
) -> Result<JournalScan, JournalError> {
    let mut files = list_segments(dir)?;
    let mut out = JournalScan {
        next_seq: 1,
        ..JournalScan::default()
    };
    let mut headers = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        match read_header(&file.path, file.first_seq)? {
            HeaderRead::Ok(h) => headers.push(h),
            HeaderRead::Blank if i + 1 == files.len() => out.blank_last = Some(file.path.clone()),
            HeaderRead::Blank => {
                return Err(JournalError::NotASegment {
                    path: file.path.clone(),
                    reason: "blank header, yet later segments exist".into(),
                })
            }
        }
    }
    if out.blank_last.is_some() {
        files.pop();
    }
    let count = files.len();
    for (i, (file, header)) in files.into_iter().zip(headers).enumerate() {
        let instance_id = *out.instance_id.get_or_insert(header.instance_id);
        if header.instance_id != instance_id {
            return Err(JournalError::corrupt(
                &file.path,
                16,
                format!(
                    "segment belongs to journal instance {:016x}, the first segment to {instance_id:016x}",
                    header.instance_id
                ),
            ));
        }
        if header.first_seq != out.next_seq {
            let reason = if i == 0 {
                format!("the first segment starts at record {}, not 1: earlier segments are missing", header.first_seq)
            } else {
                format!(
                    "segment starts at record {} but the previous segment ends before record {}",
                    header.first_seq, out.next_seq
                )
            };
            return Err(JournalError::corrupt(&file.path, 24, reason));
        }
        let map = map_read_only(&file.path)?;
        // SAFETY: `map` is a live mapping of `map.len()` bytes and outlives `seg`'s use below.
        let seg = unsafe { SegPtr::new(map.as_ptr(), map.len()) };
        let scan = scan_segment(seg, &file.path, header.first_seq, i + 1 == count, on_record)?;
        out.records += scan.records;
        out.next_seq = scan.next_seq;
        out.segments.push(ScannedSegment {
            size: map.len() as u64,
            file,
            scan,
        });
    }
    Ok(out)
}

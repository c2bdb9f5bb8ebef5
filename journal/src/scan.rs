//! Walking a whole journal and deciding, for every byte written, whether it is a record, the end
//! of data, a torn tail a crash left behind, or corruption. Shared by the recovering writer and
//! by `verify`, so both apply exactly the same rules:
//!
//! - A segment file must be a regular file, its header intact, of a format version this build
//!   reads, of the same journal instance, and start where the previous segment ended (segments
//!   are followed by name, never by trusting a directory listing, which can miss entries renamed
//!   in meanwhile). The first segment starts at sequence 1.
//! - A segment is exactly as long as its header says it was pre-allocated (format 1: a multiple
//!   of 8, at least the smallest segment size): a crash never shortens a segment, so a short one
//!   is damage, not a torn tail.
//! - Records must pass their checks and carry consecutive sequence numbers.
//! - In the last segment, a bad frame or leftover bytes after the last record, with nothing valid
//!   after them, are a torn tail: what a crash leaves. Anything valid after them is corruption.
//! - In any other segment, a bad frame is corruption. A missing seal is tolerated when the next
//!   segment continues the sequence (the writer puts the next segment in place before it writes
//!   the seal, so a crash can fall between the two, and power loss can drop the seal write).
//! - A seal names the next segment, which must be present and not blank (format 2 on: the writer
//!   writes the seal only once its successor is in place). A format-2 segment always ends with
//!   its seal or with room for it; one that is full without a seal is damage.
//! - A blank segment (empty, or zeros only) is a segment whose creation never reached the disk,
//!   which power loss can leave: tolerated (and removed by the writer) only as the last segment,
//!   after a segment whose seal does not name it. A blank first segment is refused: it cannot be
//!   told from a journal whose records were lost.
//! - The bytes after a full format-1 segment's last frame (fewer than a frame header) and the
//!   padding after each frame are never written or read: whatever they hold is ignored.

use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::format::{Frame, Record, SegPtr, SegmentHeader, SEGMENT_HEADER_LEN};
use crate::segment::{list_segments, open_segment, segment_file_name, SegmentFile, SegmentOpen};

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
    /// Length word 0 after the last record, and no later segment: open for appends.
    Open,
    /// Length word 0 after the last record although later segments exist: power loss dropped
    /// the seal.
    LostSeal,
    /// A bad frame after the last record, and no later segment: a torn tail.
    Torn,
}

#[derive(Debug)]
pub(crate) struct SegmentScan {
    pub records: u64,
    pub next_seq: u64,
    /// Offset just after the last record: where the next frame goes.
    pub end: usize,
    pub end_kind: SegmentEnd,
    /// `(offset, bytes)` of leftovers after `end` when this is the last segment.
    pub tail: Option<(usize, usize)>,
}

/// What the end of the data at `off` (a zero length word or a bad frame) turns out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataEnd {
    /// A live writer published a frame at `off` while we looked: decode it again.
    PublishedMeanwhile,
    /// A valid frame follows at this offset: records are missing.
    ValidAfter(usize),
    /// Nothing valid follows in this segment, but a later segment exists.
    LaterSegment,
    /// Nothing valid follows and no later segment exists; bytes from `off` up to `nonzero_end`
    /// are leftovers.
    Last { nonzero_end: usize },
}

/// Judges the end of the data at `off` of `seg`. `later` says whether any segment after this
/// one exists. A writer appending meanwhile (one that cut a torn tail and wrote over it, or
/// that published the frame at `off` and more after it) is told apart from real damage by
/// looking at `off` again after each finding. Shared by the scan and by live readers so that
/// both apply the same rules.
pub(crate) fn judge_end(
    seg: SegPtr,
    off: usize,
    later: &mut dyn FnMut() -> Result<bool, JournalError>,
) -> Result<DataEnd, JournalError> {
    let survey = seg.survey_tail(off);
    if let Some(valid) = survey.valid_frame_at {
        return Ok(match seg.published_meanwhile(off) {
            true => DataEnd::PublishedMeanwhile,
            false => DataEnd::ValidAfter(valid),
        });
    }
    if later()? {
        return Ok(match seg.published_meanwhile(off) {
            true => DataEnd::PublishedMeanwhile,
            false => DataEnd::LaterSegment,
        });
    }
    Ok(DataEnd::Last {
        nonzero_end: survey.nonzero_end,
    })
}

/// Scans one mapped segment whose first record must be `first_seq`. `later` says whether any
/// segment after this one exists; it is asked only where the answer matters (at the end of the
/// data), so a writer appending meanwhile is seen as it is at that moment.
pub(crate) fn scan_segment(
    seg: SegPtr,
    path: &Path,
    first_seq: u64,
    later: &mut dyn FnMut() -> Result<bool, JournalError>,
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
                        format!(
                            "record has sequence {} where {next_seq} was expected",
                            record.seq
                        ),
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
                // The end of the data. Nothing valid may follow it; a live writer may have
                // published more meanwhile.
                match judge_end(seg, off, later)? {
                    DataEnd::PublishedMeanwhile => continue,
                    DataEnd::ValidAfter(valid) => return Err(hole(path, off, valid)),
                    DataEnd::LaterSegment => {
                        return done(off, SegmentEnd::LostSeal, next_seq, records, None)
                    }
                    DataEnd::Last { nonzero_end } => {
                        let tail = (nonzero_end > off).then(|| (off, nonzero_end - off));
                        return done(off, SegmentEnd::Open, next_seq, records, tail);
                    }
                }
            }
            Frame::Bad(bad) => match judge_end(seg, off, later)? {
                DataEnd::PublishedMeanwhile => continue,
                DataEnd::ValidAfter(valid) => {
                    return Err(JournalError::corrupt(
                        path,
                        off,
                        format!("{bad}, and a valid record follows at byte {valid}"),
                    ))
                }
                DataEnd::LaterSegment => {
                    return Err(JournalError::corrupt(
                        path,
                        off,
                        format!("{bad}, in a segment that later segments follow"),
                    ))
                }
                DataEnd::Last { nonzero_end } => {
                    // The length word at `off` is non-zero, so the survey ends past `off`.
                    let tail = Some((off, nonzero_end - off));
                    return done(off, SegmentEnd::Torn, next_seq, records, tail);
                }
            },
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

/// Whether `dir` holds a segment starting after `first_seq` (a fresh listing).
pub(crate) fn later_segment(
    dir: &Path,
    first_seq: u64,
) -> Result<Option<SegmentFile>, JournalError> {
    Ok(list_segments(dir)?
        .into_iter()
        .find(|s| s.first_seq > first_seq))
}

/// The error for segment file `path` whose header is blank although later segments exist: its
/// creation never reached the disk, yet the writer went on.
pub(crate) fn blank_before_later(path: PathBuf) -> JournalError {
    JournalError::NotASegment {
        path,
        reason: "blank header, yet later segments exist".into(),
    }
}

/// The error for a blank first segment: nothing tells it from a journal whose records were lost,
/// so it is not taken for a new journal.
pub(crate) fn blank_first(path: PathBuf) -> JournalError {
    JournalError::NotASegment {
        path,
        reason: "the journal's first segment is blank (empty, or zeros only): refused rather \
                 than taken for a new journal; remove the directory to start afresh"
            .into(),
    }
}

/// The error for the data of `path` ending at `off` although a valid record follows at `valid`.
pub(crate) fn hole(path: &Path, off: usize, valid: usize) -> JournalError {
    JournalError::corrupt(
        path,
        off,
        format!("no record here but a valid record follows at byte {valid}: records are missing"),
    )
}

/// The error for the seal at `seal_at` of `sealed` naming a next segment, `next`, that is
/// missing or blank.
pub(crate) fn seal_names_lost(sealed: &Path, seal_at: usize, next: &Path) -> JournalError {
    let name = next.file_name().unwrap_or_default().to_string_lossy();
    let state = match next.exists() {
        true => "blank (empty, or zeros only)",
        false => "missing",
    };
    JournalError::corrupt(
        sealed,
        seal_at,
        format!("the seal names the next segment {name}, which is {state}"),
    )
}

/// Checks how a segment ended: a segment followed by another never ends before its first record
/// (its successor would start where it does), and a format-2 segment is never full without its
/// seal.
pub(crate) fn check_segment_end(
    path: &Path,
    header: &SegmentHeader,
    end_kind: SegmentEnd,
    records: u64,
    end: usize,
) -> Result<(), JournalError> {
    let ended = matches!(
        end_kind,
        SegmentEnd::Sealed | SegmentEnd::Full | SegmentEnd::LostSeal
    );
    if ended && records == 0 {
        return Err(JournalError::corrupt(
            path,
            end,
            "the segment ends before its first record, so the next one would start where it does",
        ));
    }
    if end_kind == SegmentEnd::Full && header.seal_follows_successor() {
        return Err(JournalError::corrupt(
            path,
            end,
            "no room is left for the end-of-segment seal, which a format-2 writer always keeps",
        ));
    }
    Ok(())
}

/// The error for segment `stray` found where the segment starting with record `next_seq`
/// should be: the records in between are missing.
pub(crate) fn missing_segment(stray: &SegmentFile, next_seq: u64) -> JournalError {
    JournalError::corrupt(
        &stray.path,
        24,
        format!(
            "segment starts at record {} but the previous segment ends before record {next_seq}",
            stray.first_seq
        ),
    )
}

/// Scans every segment of `dir` read-only, applying the rules in the module documentation.
///
/// Segments are followed by name: after a segment ends, the next one must be named after the
/// next sequence number. A directory listing is used only to find the first segment and to ask
/// whether anything follows, because a listing taken while a writer renames segments into place
/// may miss entries.
pub(crate) fn scan_journal(
    dir: &Path,
    on_record: &mut dyn FnMut(&Record<'_>),
) -> Result<JournalScan, JournalError> {
    let mut out = JournalScan {
        next_seq: 1,
        ..JournalScan::default()
    };
    let Some(first) = list_segments(dir)?.into_iter().next() else {
        return Ok(out);
    };
    if first.first_seq != 1 {
        return Err(JournalError::corrupt(
            &first.path,
            24,
            format!(
                "the first segment starts at record {}, not 1: earlier segments are missing",
                first.first_seq
            ),
        ));
    }
    let mut file = first;
    // The segment whose seal names `file`, and where that seal is.
    let mut named_by: Option<(PathBuf, usize)> = None;
    loop {
        let (header, map) = match open_segment(&file.path, file.first_seq)? {
            SegmentOpen::Segment { header, map } => (header, map),
            SegmentOpen::Blank => {
                if let Some((sealed, at)) = &named_by {
                    return Err(seal_names_lost(sealed, *at, &file.path));
                }
                if out.segments.is_empty() {
                    return Err(blank_first(file.path));
                }
                if later_segment(dir, file.first_seq)?.is_some() {
                    return Err(blank_before_later(file.path));
                }
                out.blank_last = Some(file.path);
                return Ok(out);
            }
        };
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
        // SAFETY: `map` is a live mapping of `map.len()` bytes and outlives `seg`'s use below.
        let seg = unsafe { SegPtr::new(map.as_ptr(), map.len()) };
        let mut later = || Ok(later_segment(dir, file.first_seq)?.is_some());
        let scan = scan_segment(seg, &file.path, file.first_seq, &mut later, on_record)?;
        check_segment_end(&file.path, &header, scan.end_kind, scan.records, scan.end)?;
        out.records += scan.records;
        out.next_seq = scan.next_seq;
        let end_kind = scan.end_kind;
        let this_first = file.first_seq;
        let this_path = file.path.clone();
        let seal_at =
            (end_kind == SegmentEnd::Sealed && header.seal_follows_successor()).then_some(scan.end);
        out.segments.push(ScannedSegment {
            size: map.len() as u64,
            file,
            scan,
        });
        if matches!(end_kind, SegmentEnd::Open | SegmentEnd::Torn) {
            return Ok(out);
        }
        let next = SegmentFile {
            first_seq: out.next_seq,
            path: dir.join(segment_file_name(out.next_seq)),
        };
        if !next.path.exists() {
            if let Some(at) = seal_at {
                return Err(seal_names_lost(&this_path, at, &next.path));
            }
            // Full, or sealed by format 1 (which sealed before creating the successor), and
            // nothing under the next name: the journal ends here, unless a segment further on
            // exists. A live writer creates segments in order, so then the next one exists too
            // (looked for again), or records are missing.
            match later_segment(dir, this_first)? {
                None => return Ok(out),
                Some(stray) if !next.path.exists() => {
                    return Err(missing_segment(&stray, out.next_seq))
                }
                Some(_) => {}
            }
        }
        named_by = seal_at.map(|at| (this_path, at));
        file = next;
    }
}

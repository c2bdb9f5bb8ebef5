//! The single writer: opening (with locking and crash recovery), appending without allocating,
//! rolling over to a new segment when one is full, and making records durable as configured.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use memmap2::MmapOptions;

use crate::error::JournalError;
use crate::flusher::{Flusher, WriteSegment};
use crate::format::SegmentHeader;
use crate::format::{align8, frame_prefix, RECORD_HEADER_LEN, SEAL, SEGMENT_HEADER_LEN};
use crate::lock::DirLock;
use crate::options::{Durability, JournalOptions};
use crate::prefault::{populate_ahead, Prefaulter, Spare};
use crate::reader::JournalReader;
use crate::scan::{scan_journal, SegmentEnd, TornTail};
use crate::segment::{
    create_segment, list_segments, new_segment_path, random_instance_id, sync_dir,
};

/// What [`Journal::open`] found and repaired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The journal was created by this open (there were no segments).
    pub created: bool,
    /// Valid records found.
    pub records: u64,
    /// Sequence number the next append gets.
    pub next_seq: u64,
    /// Segment files after recovery.
    pub segments: usize,
    /// Torn tail that was cut (zeroed): what a crash left behind.
    pub torn_tail: Option<TornTail>,
    /// A trailing segment whose header never reached the disk, removed.
    pub removed_blank_segment: Option<PathBuf>,
    /// Segments whose end-of-segment seal was missing (lost to power loss) and was rewritten.
    pub repaired_seals: usize,
}

impl Recovery {
    /// Bytes of torn tail cut by recovery (0 after a clean shutdown).
    pub fn torn_bytes(&self) -> u64 {
        self.torn_tail.as_ref().map_or(0, |t| t.bytes)
    }
}

/// The journal's one writer. See the [crate documentation](crate) for the format and for what
/// each [`Durability`] survives.
///
/// ```
/// use carry_journal::{Journal, JournalOptions, JournalReader};
///
/// let dir = tempfile::tempdir()?;
/// let (mut journal, recovery) = Journal::open(dir.path(), JournalOptions::default())?;
/// assert!(recovery.created);
/// assert_eq!(journal.append(7, 1_000, b"first")?, 1);
/// // Encode straight into the mapped segment:
/// let seq = journal.append_with(7, 2_000, 8, |buf| buf.copy_from_slice(&42u64.to_le_bytes()))?;
/// assert_eq!(seq, 2);
/// journal.flush()?;
///
/// let reader = JournalReader::open(dir.path())?;
/// let payloads: Vec<Vec<u8>> = reader
///     .iter_from(1)
///     .map(|r| r.map(|rec| rec.payload.to_vec()))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(payloads, vec![b"first".to_vec(), 42u64.to_le_bytes().to_vec()]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Journal {
    dir: PathBuf,
    options: JournalOptions,
    instance_id: u64,
    seg: Arc<WriteSegment>,
    /// Start of `seg`'s mapping, cached so `append` writes the frame without going through the
    /// Arc (it touches the Arc once per record, to publish the new end for the helper threads).
    base: *mut u8,
    /// Where records must end in `seg`: its length less room for the seal, which is always kept.
    record_end: usize,
    /// Where the next frame goes in `seg`.
    off: usize,
    next_seq: u64,
    /// `seg` is sealed (or full): the next append must roll over first.
    sealed: bool,
    max_payload: usize,
    flusher: Option<Flusher>,
    prefaulter: Option<Prefaulter>,
    /// `Durability::None`: segments rolled away from since the last `flush`, to fsync there.
    unflushed: Vec<PathBuf>,
    _lock: DirLock,
}

// SAFETY: `base` points into the mapping owned by `seg` (kept alive by the Arc in `self`); the
// writer is used from one thread at a time (`&mut self` for every write), and the mapping is
// shared memory meant to be read and written from any thread.
unsafe impl Send for Journal {}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("instance_id", &format_args!("{:016x}", self.instance_id))
            .field("segment", &self.seg.path)
            .field("offset", &self.off)
            .field("next_seq", &self.next_seq)
            .field("options", &self.options)
            .finish()
    }
}

/// Zeroes a payload area if the caller's encoder panics, so the bytes after the end of written
/// data stay zero (what recovery and readers rely on).
struct ZeroOnUnwind {
    ptr: *mut u8,
    len: usize,
}

impl Drop for ZeroOnUnwind {
    fn drop(&mut self) {
        // SAFETY: the payload area handed to the encoder: in bounds and unpublished.
        unsafe { std::ptr::write_bytes(self.ptr, 0, self.len) };
    }
}

/// Maps `file` (the segment at `path`) for writing.
fn map_write_segment(
    path: PathBuf,
    file: File,
    needs_fsync: bool,
    published: usize,
) -> Result<Arc<WriteSegment>, JournalError> {
    let map = MmapOptions::new()
        .map_raw(&file)
        .map_err(|e| JournalError::io(&path, "map segment for writing", e))?;
    Ok(WriteSegment::new(path, file, map, needs_fsync, published))
}

/// Where records must end in `seg`: room for a seal is kept after the last one.
fn record_end(seg: &WriteSegment) -> usize {
    (seg.map.len() & !7) - RECORD_HEADER_LEN
}

/// Opens and maps an existing segment for writing.
fn open_write_segment(path: PathBuf, published: usize) -> Result<Arc<WriteSegment>, JournalError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| JournalError::io(&path, "open segment for writing", e))?;
    map_write_segment(path, file, false, published)
}

/// Writes a seal frame at `off` of a mapped segment: "the next record is `next_seq`, in the next
/// segment". Idempotent.
///
/// # Safety
/// `base` must be a writable mapping with at least `off + RECORD_HEADER_LEN` bytes, and the
/// frame at `off` unpublished (length word 0) or this same seal.
unsafe fn write_seal(base: *mut u8, off: usize, next_seq: u64) {
    let prefix = frame_prefix(SEAL, 0, next_seq, 0);
    let crc = crc32c::crc32c(&prefix);
    std::ptr::copy_nonoverlapping(prefix[4..].as_ptr(), base.add(off + 4), 24);
    std::ptr::copy_nonoverlapping(crc.to_le_bytes().as_ptr(), base.add(off + 28), 4);
    AtomicU32::from_ptr(base.add(off) as *mut u32).store(SEAL.to_le(), Ordering::Release);
}

impl Journal {
    /// Opens the journal in `dir` for writing, creating the directory and the first segment if
    /// needed, after locking it against other writers and recovering from any crash: a torn tail
    /// is cut (reported in [`Recovery`]), corruption fails the open with the segment file and
    /// byte offset, a segment of a format version this build does not read is refused.
    ///
    /// A new journal is created only in a directory that never held one: if the `LOCK` file
    /// shows that a journal was written here but no segment is left, the open fails with
    /// [`JournalError::SegmentsMissing`] rather than start afresh over lost records.
    pub fn open(
        dir: impl AsRef<Path>,
        options: JournalOptions,
    ) -> Result<(Journal, Recovery), JournalError> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let durable = options.durability != Durability::None;
        if !dir.is_dir() {
            fs::create_dir_all(&dir)
                .map_err(|e| JournalError::io(&dir, "create journal directory", e))?;
            if durable {
                if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                    sync_dir(parent)?;
                }
            }
        }
        let mut lock = DirLock::acquire(&dir)?;
        crate::segment::remove_temp_segments(&dir)?;
        let fresh = list_segments(&dir)?.is_empty();
        if fresh && lock.journal_was_here() {
            return Err(JournalError::SegmentsMissing { dir });
        }
        match fresh {
            true => lock.note_creating()?,
            false => lock.note_held()?,
        }

        let scan = scan_journal(&dir, &mut |_| {})?;
        let mut recovery = Recovery {
            created: scan.segments.is_empty(),
            records: scan.records,
            next_seq: scan.next_seq,
            segments: scan.segments.len(),
            torn_tail: scan.torn_tail(),
            removed_blank_segment: scan.blank_last.clone(),
            repaired_seals: 0,
        };
        if let Some(blank) = &scan.blank_last {
            fs::remove_file(blank)
                .map_err(|e| JournalError::io(blank, "remove blank segment", e))?;
            if durable {
                sync_dir(&dir)?;
            }
        }

        // A non-last segment without its seal: rewrite the seal so live readers move on.
        let older = scan.segments.len().saturating_sub(1);
        for s in scan.segments.iter().take(older) {
            if s.scan.end_kind == SegmentEnd::LostSeal {
                let seg = open_write_segment(s.file.path.clone(), s.scan.end)?;
                // SAFETY: `LostSeal` means a zero length word at `end` with a frame header's room.
                unsafe { write_seal(seg.map.as_mut_ptr(), s.scan.end, s.scan.next_seq) };
                if durable {
                    seg.map
                        .flush_range(s.scan.end, RECORD_HEADER_LEN)
                        .map_err(|e| JournalError::io(&s.file.path, "msync repaired seal", e))?;
                }
                recovery.repaired_seals += 1;
            }
        }

        let (instance_id, seg, off, sealed) = match scan.segments.last() {
            None => {
                let instance_id = random_instance_id(&dir)?;
                let (path, file) =
                    create_segment(&dir, instance_id, 1, options.segment_size, durable)?;
                recovery.segments = 1;
                let seg = map_write_segment(path, file, false, SEGMENT_HEADER_LEN)?;
                lock.note_held()?;
                (instance_id, seg, SEGMENT_HEADER_LEN, false)
            }
            Some(last) => {
                let instance_id = scan.instance_id.unwrap_or_default();
                let seg = open_write_segment(last.file.path.clone(), last.scan.end)?;
                if let Some((at, bytes)) = last.scan.tail {
                    // SAFETY: the torn range lies inside the mapping (found by scanning it) and
                    // after the last valid record; we hold the lock, so no one else writes here.
                    unsafe { std::ptr::write_bytes(seg.map.as_mut_ptr().add(at), 0, bytes) };
                    if durable {
                        seg.map.flush_range(at, bytes).map_err(|e| {
                            JournalError::io(&last.file.path, "msync cut torn tail", e)
                        })?;
                    }
                }
                let sealed = matches!(last.scan.end_kind, SegmentEnd::Sealed | SegmentEnd::Full);
                (instance_id, seg, last.scan.end, sealed)
            }
        };

        let flusher = match options.durability {
            Durability::Batch { interval } => {
                Some(Flusher::start(&dir, interval, Arc::clone(&seg))?)
            }
            _ => None,
        };
        if options.prefault {
            // Ready before the first append, not soon after.
            populate_ahead(&seg.map, off);
        }
        let prefaulter = match options.prefault {
            true => Some(Prefaulter::start(
                &dir,
                options.segment_size,
                options.durability == Durability::Sync,
                Arc::clone(&seg),
            )?),
            false => None,
        };
        let mut journal = Journal {
            dir,
            max_payload: options.max_payload_len(),
            options,
            instance_id,
            base: seg.map.as_mut_ptr(),
            record_end: record_end(&seg),
            seg,
            off,
            next_seq: scan.next_seq,
            sealed: false,
            flusher,
            prefaulter,
            unflushed: Vec::new(),
            _lock: lock,
        };
        if sealed {
            // Sealed by a writer that stopped right after, or full: start the next segment now.
            journal.sealed = true;
            journal.seg.sealed.store(true, Ordering::Release);
            journal.roll()?;
            recovery.segments += 1;
        }
        Ok((journal, recovery))
    }

    /// Appends a record and returns its sequence number. Does not allocate (except when the
    /// segment is full and a new one is created) and, unless the durability is
    /// [`Durability::Sync`], makes no system call.
    pub fn append(&mut self, kind: u16, ts_ns: u64, payload: &[u8]) -> Result<u64, JournalError> {
        self.append_with(kind, ts_ns, payload.len(), |buf| {
            buf.copy_from_slice(payload)
        })
    }

    /// Appends a record of `len` payload bytes that `encode` writes straight into the mapped
    /// segment (the buffer it gets is zeroed). Readers see the record only once `encode` has
    /// returned and the frame is complete; if `encode` panics, nothing is appended.
    pub fn append_with<F: FnOnce(&mut [u8])>(
        &mut self,
        kind: u16,
        ts_ns: u64,
        len: usize,
        encode: F,
    ) -> Result<u64, JournalError> {
        if kind == 0 {
            return Err(JournalError::ReservedKind);
        }
        if len > self.max_payload {
            return Err(JournalError::RecordTooLarge {
                len,
                max: self.max_payload,
                segment_size: self.options.segment_size,
            });
        }
        if let Some(flusher) = &self.flusher {
            if flusher.shared.failed.load(Ordering::Relaxed) {
                return Err(flusher.shared.failure());
            }
        }
        let frame_len = RECORD_HEADER_LEN + len;
        let padded = align8(frame_len);
        if self.sealed || padded > self.record_end - self.off {
            if !self.sealed && self.off == SEGMENT_HEADER_LEN {
                // Only in a segment made smaller by an earlier run: rolling from an empty segment
                // would name its successor after itself.
                return Err(JournalError::RecordTooLarge {
                    len,
                    max: self.record_end - SEGMENT_HEADER_LEN - RECORD_HEADER_LEN,
                    segment_size: self.seg.map.len() as u64,
                });
            }
            self.roll()?;
        }
        let off = self.off;
        let seq = self.next_seq;
        // SAFETY: `off + padded <= record_end` (checked above, or a fresh segment holds the
        // largest frame), so the payload area is inside the mapping; it is past the published
        // data, so no reader forms a reference to it, and it is zero (the file is pre-zeroed,
        // recovery zeroes torn tails, a panicking encoder's bytes are zeroed by the guard).
        let payload =
            unsafe { std::slice::from_raw_parts_mut(self.base.add(off + RECORD_HEADER_LEN), len) };
        let guard = ZeroOnUnwind {
            ptr: payload.as_mut_ptr(),
            len,
        };
        encode(payload);
        std::mem::forget(guard);

        let prefix = frame_prefix(frame_len as u32, kind, seq, ts_ns);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&prefix), payload);
        // SAFETY: the header area is inside the mapping (see above) and unpublished. The length
        // word goes last, with Release, so a reader that sees it non-zero sees the whole frame.
        unsafe {
            let at = self.base.add(off);
            std::ptr::copy_nonoverlapping(prefix[4..].as_ptr(), at.add(4), 24);
            std::ptr::copy_nonoverlapping(crc.to_le_bytes().as_ptr(), at.add(28), 4);
            AtomicU32::from_ptr(at as *mut u32)
                .store((frame_len as u32).to_le(), Ordering::Release);
        }
        self.off = off + padded;
        self.next_seq = seq + 1;
        self.seg.published.store(self.off, Ordering::Release);
        if self.options.durability == Durability::Sync {
            self.seg
                .map
                .flush_range(off, padded)
                .map_err(|error| JournalError::SyncFailed {
                    path: self.seg.path.clone(),
                    seq,
                    error,
                })?;
        }
        Ok(seq)
    }

    /// Continues in a new segment that starts with `next_seq`, and seals the current one. The new
    /// segment is in place before the seal that names it is written, so a seal proves its
    /// successor exists (a crash between the two leaves an unsealed segment and an empty
    /// successor, which recovery seals). If creating the segment fails, nothing has changed and
    /// the next append tries again.
    fn roll(&mut self) -> Result<(), JournalError> {
        let sync = self.options.durability == Durability::Sync;
        let batch = matches!(self.options.durability, Durability::Batch { .. });
        let next = match self.prefaulter.as_ref().and_then(Prefaulter::take_spare) {
            Some(spare) => self.install_spare(spare, sync, batch)?,
            None => {
                let (path, file) = create_segment(
                    &self.dir,
                    self.instance_id,
                    self.next_seq,
                    self.options.segment_size,
                    sync,
                )?;
                map_write_segment(path, file, batch, SEGMENT_HEADER_LEN)?
            }
        };
        if let Some(prefaulter) = &self.prefaulter {
            prefaulter.set_current(Arc::clone(&next));
        }
        match &self.flusher {
            Some(flusher) => flusher.add(Arc::clone(&next)),
            None if !sync => self.unflushed.push(self.seg.path.clone()),
            None => {}
        }
        let (old, old_off) = (std::mem::replace(&mut self.seg, next), self.off);
        let old_sealed = std::mem::replace(&mut self.sealed, false);
        self.base = self.seg.map.as_mut_ptr();
        self.record_end = record_end(&self.seg);
        self.off = SEGMENT_HEADER_LEN;

        if old_sealed {
            return Ok(());
        }
        // Always room, except in a format-1 segment that ended full.
        let room = (old.map.len() & !7) - old_off >= RECORD_HEADER_LEN;
        if room {
            // SAFETY: room for a frame header at `old_off`, which is unpublished; nothing else
            // writes to the old segment.
            unsafe { write_seal(old.map.as_mut_ptr(), old_off, self.next_seq) };
            old.published
                .store(old_off + RECORD_HEADER_LEN, Ordering::Release);
        }
        old.sealed.store(true, Ordering::Release);
        if sync && room {
            old.map
                .flush_range(old_off, RECORD_HEADER_LEN)
                .map_err(|e| JournalError::io(&old.path, "msync seal", e))?;
        }
        Ok(())
    }

    /// Turns the spare segment file into the segment that starts with `next_seq`: header, then
    /// the rename that makes it visible to readers.
    fn install_spare(
        &self,
        spare: Spare,
        sync: bool,
        batch: bool,
    ) -> Result<Arc<WriteSegment>, JournalError> {
        let path = new_segment_path(&self.dir, self.next_seq)?;
        let header =
            SegmentHeader::new(self.instance_id, self.next_seq, spare.map.len() as u64).encode();
        // SAFETY: the spare's mapping is at least a segment long and nobody else can see it yet.
        unsafe {
            std::ptr::copy_nonoverlapping(header.as_ptr(), spare.map.as_mut_ptr(), header.len())
        };
        if sync {
            spare
                .map
                .flush_range(0, header.len())
                .map_err(|e| JournalError::io(&spare.path, "msync segment header", e))?;
        }
        fs::rename(&spare.path, &path)
            .map_err(|e| JournalError::io(&path, "rename spare segment into place", e))?;
        if sync {
            sync_dir(&self.dir)?;
        }
        Ok(WriteSegment::new(
            path,
            spare.file,
            spare.map,
            batch,
            SEGMENT_HEADER_LEN,
        ))
    }

    /// Makes everything appended so far durable (msync of the written data, fsync of segments
    /// rolled away from), whatever the durability setting. Call it at clean shutdown. With
    /// [`Durability::Batch`], a background flush that failed earlier fails this too.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        if let Some(flusher) = &self.flusher {
            flusher.shared.sync_all()?;
            // An msync that succeeds after one failed proves nothing: the kernel may have dropped
            // the pages whose write-back failed.
            if flusher.shared.failed.load(Ordering::Acquire) {
                return Err(flusher.shared.failure());
            }
            return Ok(());
        }
        for path in &self.unflushed {
            OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.sync_data())
                .map_err(|e| JournalError::io(path, "fsync segment", e))?;
        }
        if !self.unflushed.is_empty() {
            sync_dir(&self.dir)?;
        }
        self.unflushed.clear();
        self.seg
            .map
            .flush_range(0, self.off)
            .map_err(|e| JournalError::io(&self.seg.path, "msync", e))?;
        Ok(())
    }

    /// Sequence number the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The journal's instance id: random at creation, the same in every segment, unchanged
    /// across restarts.
    pub fn instance_id(&self) -> u64 {
        self.instance_id
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Largest payload `append` accepts.
    pub fn max_payload_len(&self) -> usize {
        self.max_payload
    }

    /// Opens a reader on this journal (readers take no lock and may run beside the writer).
    pub fn reader(&self) -> Result<JournalReader, JournalError> {
        JournalReader::open(&self.dir)
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Stop the flusher (it flushes once more) and the preparation thread (it removes the
        // spare) before the lock is released with the fields.
        self.flusher.take();
        self.prefaulter.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The msync failure itself cannot be provoked on a healthy disk; what follows from one is
    /// tested by recording it as the flusher thread does.
    #[test]
    fn after_a_failed_background_flush_appends_and_flush_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let opts = JournalOptions::default()
            .segment_size(1 << 16)
            .durability(Durability::Batch {
                interval: Duration::from_millis(1),
            });
        let (mut journal, _) = Journal::open(dir.path(), opts).unwrap();
        assert_eq!(journal.append(1, 0, b"before").unwrap(), 1);
        journal.flush().unwrap();

        let shared = Arc::clone(&journal.flusher.as_ref().unwrap().shared);
        let path = journal.seg.path.clone();
        let eio = JournalError::io(&path, "msync", std::io::Error::from_raw_os_error(libc::EIO));
        shared.record_failure(&path, &eio);

        for _ in 0..2 {
            let err = journal.append(1, 0, b"after").unwrap_err();
            assert!(matches!(err, JournalError::FlushFailed { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("refuses further appends"), "{msg}");
        }
        assert_eq!(
            journal.next_seq(),
            2,
            "refused appends consume no sequence number"
        );
        let err = journal.flush().unwrap_err();
        assert!(matches!(err, JournalError::FlushFailed { .. }), "{err:?}");
    }
}

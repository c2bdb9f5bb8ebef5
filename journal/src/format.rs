//! The on-disk format: the segment header, the record frame, and the one function that decides
//! what the bytes at an offset are (a record, the end of written data, a seal, or damage).
//!
//! Segment file (all integers little-endian):
//!
//! ```text
//! 0..8    magic "CARRYJNL"
//! 8..12   format version (u32): 2 (1 is still read, see below)
//! 12..16  header length (u32, 64)
//! 16..24  journal instance id (u64), the same in every segment of one journal
//! 24..32  sequence number of the first record in this segment (u64)
//! 32..40  length of the file in bytes, as pre-allocated (u64)
//! 40..60  zero
//! 60..64  CRC32C of bytes 0..60
//! 64..    records, each starting on an 8-byte boundary; the rest of the file is zero
//! ```
//!
//! The recorded length lets a reader tell a segment cut short (which no crash does: the file is
//! pre-allocated before it gets its name) from one whose end was never written. A format-2
//! writer also keeps room for the seal after the last record of every segment, and puts the
//! next segment in place before it writes the seal that names it, so a seal proves that its
//! successor existed.
//!
//! Format 1 is the same without the length (bytes 32..60 zero). Its segments are read and
//! appended to as they are, without those two guarantees: a format-1 segment may end full
//! without a seal, and its seal may have been written before its successor was created.
//!
//! Record frame:
//!
//! ```text
//! 0..4    frame length = 32 + payload length (u32); 0 = nothing written here yet;
//!         u32::MAX = seal: the writer moved on to the next segment
//! 4..6    kind (u16, never 0)
//! 6..8    zero
//! 8..16   sequence number (u64)
//! 16..24  timestamp, nanoseconds (u64)
//! 24..28  zero
//! 28..32  CRC32C of bytes 0..28 followed by the payload
//! 32..    payload, then zero padding to the next 8-byte boundary
//! ```
//!
//! The writer stores everything but the length word first and the length word last, with
//! Release ordering; readers load it with Acquire. A non-zero length therefore means the rest of
//! the frame is in place (in this process, in another process sharing the page cache, and after
//! a process crash). Only storage that loses writes out of order (power loss before msync) can
//! leave a non-zero length over a damaged frame, and the CRC catches that.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Identifies a carry journal segment.
pub const MAGIC: [u8; 8] = *b"CARRYJNL";
/// The format version this build writes. It also reads [`OLDEST_FORMAT_VERSION`] and every
/// version in between.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this build reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;
/// Bytes before the first record of a segment.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes of a record frame before its payload.
pub const RECORD_HEADER_LEN: usize = 32;
/// Frame length value of a seal.
pub(crate) const SEAL: u32 = u32::MAX;

/// Rounds a frame length up to the 8-byte record alignment.
pub(crate) const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// The decoded header of a segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub version: u32,
    pub instance_id: u64,
    pub first_seq: u64,
    /// File length as pre-allocated; `None` in format 1, which did not record it.
    pub size: Option<u64>,
}

/// Why 64 bytes are not a segment header this build can use.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Every byte is zero: the file was created but its header never reached the disk.
    Blank,
    BadMagic,
    Version(u32),
    BadCrc,
    BadLength(u32),
}

impl SegmentHeader {
    /// A header of the current format for a segment of `size` bytes.
    pub fn new(instance_id: u64, first_seq: u64, size: u64) -> SegmentHeader {
        SegmentHeader {
            version: FORMAT_VERSION,
            instance_id,
            first_seq,
            size: Some(size),
        }
    }

    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut h = [0u8; SEGMENT_HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&self.version.to_le_bytes());
        h[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.instance_id.to_le_bytes());
        h[24..32].copy_from_slice(&self.first_seq.to_le_bytes());
        h[32..40].copy_from_slice(&self.size.unwrap_or(0).to_le_bytes());
        let crc = crc32c::crc32c(&h[0..60]);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Checks magic, then version (so a future layout is reported as a version mismatch rather
    /// than as damage), then the checksum.
    pub fn decode(h: &[u8; SEGMENT_HEADER_LEN]) -> Result<SegmentHeader, HeaderError> {
        if h.iter().all(|&b| b == 0) {
            return Err(HeaderError::Blank);
        }
        if h[0..8] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let version = le_u32(&h[8..12]);
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(HeaderError::Version(version));
        }
        if crc32c::crc32c(&h[0..60]) != le_u32(&h[60..64]) {
            return Err(HeaderError::BadCrc);
        }
        let header_len = le_u32(&h[12..16]);
        if header_len as usize != SEGMENT_HEADER_LEN {
            return Err(HeaderError::BadLength(header_len));
        }
        Ok(SegmentHeader {
            version,
            instance_id: le_u64(&h[16..24]),
            first_seq: le_u64(&h[24..32]),
            size: (version >= 2).then(|| le_u64(&h[32..40])),
        })
    }

    /// Whether this segment's seal proves that its successor was in place (format 2 on).
    pub fn seal_follows_successor(&self) -> bool {
        self.version >= 2
    }
}

pub(crate) fn le_u16(b: &[u8]) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[..2]);
    u16::from_le_bytes(a)
}

pub(crate) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

pub(crate) fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// The first 28 bytes of a frame header, as covered by its CRC.
pub(crate) fn frame_prefix(frame_len: u32, kind: u16, seq: u64, ts_ns: u64) -> [u8; 28] {
    let mut h = [0u8; 28];
    h[0..4].copy_from_slice(&frame_len.to_le_bytes());
    h[4..6].copy_from_slice(&kind.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&ts_ns.to_le_bytes());
    h
}

/// One record as stored in the journal, borrowing its payload from the memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Sequence number: 1 for the first record of a journal, then gapless.
    pub seq: u64,
    /// What the payload is; defined by the application, never 0.
    pub kind: u16,
    /// Timestamp given to `append`, in nanoseconds.
    pub ts_ns: u64,
    /// The payload bytes, straight from the mapped segment.
    pub payload: &'a [u8],
}

/// What is wrong with the frame at some offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadFrame {
    ShortLength(u32),
    PastEnd(u32),
    ReservedBits,
    ZeroKind,
    Crc,
    DamagedSeal,
}

impl std::fmt::Display for BadFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadFrame::ShortLength(n) => {
                write!(f, "frame length {n} is shorter than a record header")
            }
            BadFrame::PastEnd(n) => write!(f, "frame length {n} runs past the end of the segment"),
            BadFrame::ReservedBits => f.write_str("reserved header bytes are not zero"),
            BadFrame::ZeroKind => f.write_str("record kind is 0 (reserved)"),
            BadFrame::Crc => f.write_str("CRC32C mismatch"),
            BadFrame::DamagedSeal => f.write_str("damaged end-of-segment seal"),
        }
    }
}

/// What the bytes at an offset are.
#[derive(Debug)]
pub(crate) enum Frame<'a> {
    /// A complete record; the next frame starts `next` bytes later.
    Record { record: Record<'a>, next: usize },
    /// Length word 0: nothing published here (yet).
    Empty,
    /// The writer sealed this segment; the next segment starts with `next_seq`.
    Seal { next_seq: u64 },
    /// Too little room left for a frame header: the segment is full.
    Full,
    /// A frame that fails its checks.
    Bad(BadFrame),
}

/// A mapped segment as a raw pointer and length. Slices are formed only over published frames,
/// which the writer never changes again; everything else is read through atomics, because the
/// writer (in this or another process) may be storing to it at the same time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegPtr {
    ptr: *const u8,
    len: usize,
}

impl SegPtr {
    /// # Safety
    /// `ptr` must be the page-aligned start of a mapping of at least `len` bytes that stays
    /// mapped for as long as this value or any `Record` read through it is used.
    pub unsafe fn new(ptr: *const u8, len: usize) -> SegPtr {
        SegPtr { ptr, len: len & !7 }
    }

    fn atomic_u32(&self, off: usize) -> &AtomicU32 {
        assert!(off % 8 == 0 && off + 4 <= self.len);
        // SAFETY: in bounds (checked above), 4-byte aligned because the mapping is page aligned
        // and `off` is a multiple of 8, and the mapping outlives `self` (constructor contract).
        unsafe { AtomicU32::from_ptr(self.ptr.add(off) as *mut u32) }
    }

    /// Loads the length word at `off` with Acquire: if non-zero, the frame behind it is complete.
    pub fn load_len(&self, off: usize) -> u32 {
        u32::from_le(self.atomic_u32(off).load(Ordering::Acquire))
    }

    /// Loads the 8 bytes at `off` (a multiple of 8) without forming a reference to bytes that
    /// may be changing.
    pub fn load_word(&self, off: usize) -> u64 {
        assert!(off % 8 == 0 && off + 8 <= self.len);
        // SAFETY: as in `atomic_u32`, with 8-byte alignment.
        let w = unsafe { AtomicU64::from_ptr(self.ptr.add(off) as *mut u64) };
        u64::from_le(w.load(Ordering::Relaxed))
    }

    /// # Safety
    /// The range must be in bounds and published (not being written by anyone), and `'a` must
    /// not outlive the mapping.
    unsafe fn slice<'a>(&self, off: usize, len: usize) -> &'a [u8] {
        debug_assert!(off + len <= self.len);
        std::slice::from_raw_parts(self.ptr.add(off), len)
    }

    /// Decodes the frame at `off` (a multiple of 8, at least `SEGMENT_HEADER_LEN`).
    ///
    /// # Safety
    /// `'a` must not outlive the mapping. A returned `Record` borrows published bytes, which no
    /// writer changes again.
    pub unsafe fn frame<'a>(&self, off: usize) -> Frame<'a> {
        if self.len - off < RECORD_HEADER_LEN {
            return Frame::Full;
        }
        let len = self.load_len(off);
        if len == 0 {
            return Frame::Empty;
        }
        if len == SEAL {
            // SAFETY: a non-zero length word was published with Release after the frame.
            let h = self.slice(off, RECORD_HEADER_LEN);
            let crc = crc32c::crc32c(&h[0..28]);
            let ok = le_u16(&h[4..6]) == 0
                && le_u16(&h[6..8]) == 0
                && le_u64(&h[16..24]) == 0
                && le_u32(&h[24..28]) == 0
                && crc == le_u32(&h[28..32]);
            return if ok {
                Frame::Seal {
                    next_seq: le_u64(&h[8..16]),
                }
            } else {
                Frame::Bad(BadFrame::DamagedSeal)
            };
        }
        if (len as usize) < RECORD_HEADER_LEN {
            return Frame::Bad(BadFrame::ShortLength(len));
        }
        if len as usize > self.len - off {
            return Frame::Bad(BadFrame::PastEnd(len));
        }
        // SAFETY: published frame, in bounds (checked above).
        let whole = self.slice(off, len as usize);
        let (h, payload) = whole.split_at(RECORD_HEADER_LEN);
        if le_u16(&h[6..8]) != 0 || le_u32(&h[24..28]) != 0 {
            return Frame::Bad(BadFrame::ReservedBits);
        }
        let crc = crc32c::crc32c_append(crc32c::crc32c(&h[0..28]), payload);
        if crc != le_u32(&h[28..32]) {
            return Frame::Bad(BadFrame::Crc);
        }
        let kind = le_u16(&h[4..6]);
        if kind == 0 {
            return Frame::Bad(BadFrame::ZeroKind);
        }
        Frame::Record {
            record: Record {
                seq: le_u64(&h[8..16]),
                kind,
                ts_ns: le_u64(&h[16..24]),
                payload,
            },
            next: align8(len as usize),
        }
    }

    /// Copies `out.len()` bytes from `off` (a multiple of 8) through atomic word loads: for
    /// looking at bytes nobody vouches for (a torn tail that a new writer may be zeroing).
    pub fn copy_racy(&self, off: usize, out: &mut [u8]) {
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            let w = self.load_word(off + i * 8).to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }

    /// Whether a valid record or seal frame sits at `off`, read without trusting anything.
    fn valid_frame_at_racy(&self, off: usize) -> bool {
        if self.len - off < RECORD_HEADER_LEN {
            return false;
        }
        let mut h = [0u8; RECORD_HEADER_LEN];
        self.copy_racy(off, &mut h);
        let len = le_u32(&h[0..4]);
        let expected = le_u32(&h[28..32]);
        if len == SEAL {
            return le_u16(&h[4..6]) == 0 && crc32c::crc32c(&h[0..28]) == expected;
        }
        if (len as usize) < RECORD_HEADER_LEN
            || len as usize > self.len - off
            || le_u16(&h[4..6]) == 0
            || le_u16(&h[6..8]) != 0
            || le_u32(&h[24..28]) != 0
        {
            return false;
        }
        let mut crc = crc32c::crc32c(&h[0..28]);
        let mut buf = [0u8; 256];
        let mut at = off + RECORD_HEADER_LEN;
        let end = off + len as usize;
        while at < end {
            let n = (end - at).min(buf.len());
            self.copy_racy(at, &mut buf[..n]);
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            at += n;
        }
        crc == expected
    }

    /// Looks at everything from `from` to the end of the segment: where the last non-zero byte
    /// ends (so a torn tail can be measured and zeroed) and where the first valid frame is (if
    /// any, the damage at `from` is corruption, not a torn tail).
    pub fn survey_tail(&self, from: usize) -> TailSurvey {
        let mut survey = TailSurvey {
            nonzero_end: from,
            valid_frame_at: None,
        };
        let mut off = from;
        while off + 8 <= self.len {
            let w = self.load_word(off);
            if w != 0 {
                survey.nonzero_end = off + 8 - (w.leading_zeros() / 8) as usize;
                if survey.valid_frame_at.is_none()
                    && off > from
                    && (w as u32) != 0
                    && self.valid_frame_at_racy(off)
                {
                    survey.valid_frame_at = Some(off);
                }
            }
            off += 8;
        }
        survey
    }
}

impl SegPtr {
    /// After a survey found a valid frame past `off`: whether `off` now holds a record or a seal.
    /// If so, a live writer published both while we looked, and the survey proves nothing.
    pub fn published_meanwhile(&self, off: usize) -> bool {
        // Pairs with the writer's Release store of the frame the survey saw: everything the
        // writer published before it, including the frame at `off`, is visible now.
        std::sync::atomic::fence(Ordering::Acquire);
        // SAFETY: only the variant is looked at; no record escapes.
        matches!(
            unsafe { self.frame(off) },
            Frame::Record { .. } | Frame::Seal { .. }
        )
    }
}

/// Result of [`SegPtr::survey_tail`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TailSurvey {
    /// One past the last non-zero byte at or after the surveyed offset (equal to it if all zero).
    pub nonzero_end: usize,
    /// First offset after the surveyed one holding a frame that passes all checks.
    pub valid_frame_at: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let h = SegmentHeader::new(0xDEAD_BEEF_0123_4567, 42, 1 << 20);
        let bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        assert_eq!(&bytes[32..40], &(1u64 << 20).to_le_bytes());

        let mut v3 = bytes;
        v3[8] = 3;
        assert_eq!(SegmentHeader::decode(&v3), Err(HeaderError::Version(3)));

        // Format 1 did not record the length: whatever bytes 32..40 hold is not read as one.
        let v1 = SegmentHeader {
            version: 1,
            size: None,
            ..h
        };
        let v1_bytes = v1.encode();
        assert_eq!(&v1_bytes[32..40], &[0u8; 8]);
        assert_eq!(SegmentHeader::decode(&v1_bytes), Ok(v1));

        let mut flipped = bytes;
        flipped[20] ^= 1;
        assert_eq!(SegmentHeader::decode(&flipped), Err(HeaderError::BadCrc));

        let mut magic = bytes;
        magic[0] = b'X';
        assert_eq!(SegmentHeader::decode(&magic), Err(HeaderError::BadMagic));

        assert_eq!(
            SegmentHeader::decode(&[0u8; SEGMENT_HEADER_LEN]),
            Err(HeaderError::Blank)
        );
    }

    #[test]
    fn align8_rounds_up_to_record_alignment() {
        assert_eq!(align8(32), 32);
        assert_eq!(align8(33), 40);
        assert_eq!(align8(39), 40);
        assert_eq!(align8(40), 40);
    }

    /// A frame written by hand into an aligned buffer decodes; each damage is named.
    #[test]
    fn frame_decoding_names_each_kind_of_damage() {
        let mut buf = vec![0u64; 64];
        let bytes: &mut [u8] = bytemuck_bytes(&mut buf);
        let payload = b"hello";
        let frame_len = (RECORD_HEADER_LEN + payload.len()) as u32;
        let prefix = frame_prefix(frame_len, 7, 1, 99);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&prefix), payload);
        let at = SEGMENT_HEADER_LEN;
        bytes[at..at + 28].copy_from_slice(&prefix);
        bytes[at + 28..at + 32].copy_from_slice(&crc.to_le_bytes());
        bytes[at + 32..at + 37].copy_from_slice(payload);

        let decode = |bytes: &[u8]| {
            // SAFETY: `bytes` is 8-aligned (backed by u64s) and outlives the decoded frame.
            let seg = unsafe { SegPtr::new(bytes.as_ptr(), bytes.len()) };
            match unsafe { seg.frame(at) } {
                Frame::Record { record, next } => Ok((
                    record.seq,
                    record.kind,
                    record.ts_ns,
                    record.payload.to_vec(),
                    next,
                )),
                Frame::Bad(b) => Err(Some(b)),
                _ => Err(None),
            }
        };
        assert_eq!(decode(bytes), Ok((1, 7, 99, payload.to_vec(), 40)));

        bytes[at + 33] ^= 0x40;
        assert_eq!(decode(bytes), Err(Some(BadFrame::Crc)));
        bytes[at + 33] ^= 0x40;

        bytes[at..at + 4].copy_from_slice(&20u32.to_le_bytes());
        assert_eq!(decode(bytes), Err(Some(BadFrame::ShortLength(20))));
        bytes[at..at + 4].copy_from_slice(&100_000u32.to_le_bytes());
        assert_eq!(decode(bytes), Err(Some(BadFrame::PastEnd(100_000))));
    }

    fn bytemuck_bytes(words: &mut [u64]) -> &mut [u8] {
        // SAFETY: u64 has no padding and any byte pattern is valid; the length is exact.
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, words.len() * 8) }
    }
}

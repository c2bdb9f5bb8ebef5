//! Segment files on disk: names, listing, reading headers, and creating a new pre-allocated,
//! pre-zeroed segment so that it appears under its final name only once complete.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::JournalError;
use crate::format::{
    HeaderError, SegPtr, SegmentHeader, FORMAT_VERSION, OLDEST_FORMAT_VERSION, SEGMENT_HEADER_LEN,
};
use crate::options::MIN_SEGMENT_SIZE;

/// File name suffix of a segment.
const SEGMENT_EXT: &str = ".seg";
/// Suffix of a segment still being created; never read, removed by the next writer.
const TEMP_EXT: &str = ".seg.tmp";

/// File name of the segment whose first record has sequence `first_seq`: 20 digits, so that
/// lexical order is sequence order.
pub(crate) fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_EXT}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_EXT)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment file found in a journal directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    /// First sequence number, from the file name.
    pub first_seq: u64,
    pub path: PathBuf,
}

/// Segment files of `dir`, in sequence order.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>, JournalError> {
    let entries =
        fs::read_dir(dir).map_err(|e| JournalError::io(dir, "list journal directory", e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, "list journal directory", e))?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(parse_segment_name) {
            out.push(SegmentFile {
                first_seq,
                path: entry.path(),
            });
        }
    }
    out.sort_by_key(|s| s.first_seq);
    Ok(out)
}

/// Whether `dir` holds any segment file; a directory that does not exist holds none. For
/// callers that must tell a journal that was never created from one that was lost, before
/// [`Journal::open`](crate::Journal::open) would create one.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// assert!(!carry_journal::has_segments(dir.path().join("j"))?);
/// carry_journal::Journal::open(dir.path().join("j"), Default::default())?;
/// assert!(carry_journal::has_segments(dir.path().join("j"))?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn has_segments(dir: impl AsRef<Path>) -> Result<bool, JournalError> {
    let dir = dir.as_ref();
    let exists = dir
        .try_exists()
        .map_err(|e| JournalError::io(dir, "look for journal directory", e))?;
    Ok(exists && !list_segments(dir)?.is_empty())
}

/// Removes segments whose creation never finished (their name ends in `.seg.tmp`).
pub(crate) fn remove_temp_segments(dir: &Path) -> Result<(), JournalError> {
    let entries =
        fs::read_dir(dir).map_err(|e| JournalError::io(dir, "list journal directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(dir, "list journal directory", e))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(TEMP_EXT))
        {
            let path = entry.path();
            fs::remove_file(&path)
                .map_err(|e| JournalError::io(&path, "remove unfinished segment", e))?;
        }
    }
    Ok(())
}

/// A segment file opened for reading.
pub(crate) enum SegmentOpen {
    /// Its header, checked, and a read-only map of the whole file.
    Segment { header: SegmentHeader, map: MmapRaw },
    /// Nothing but zero bytes, or no bytes at all: a file whose creation never reached the disk
    /// (or that was emptied; whether that is acceptable depends on where it is).
    Blank,
}

/// Opens the segment file `path`, which its name says starts with record `expected_first_seq`:
/// checks that it is a regular file, its header, and that its length is one a writer gave it.
pub(crate) fn open_segment(
    path: &Path,
    expected_first_seq: u64,
) -> Result<SegmentOpen, JournalError> {
    let not_segment = |reason: String| JournalError::NotASegment {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = File::open(path).map_err(|e| JournalError::io(path, "open segment", e))?;
    let meta = file
        .metadata()
        .map_err(|e| JournalError::io(path, "read segment metadata", e))?;
    if !meta.is_file() {
        return Err(not_segment(format!(
            "not a regular file ({})",
            describe_file_type(&meta.file_type())
        )));
    }
    let len = meta.len();
    if len < SEGMENT_HEADER_LEN as u64 {
        let mut bytes = Vec::with_capacity(SEGMENT_HEADER_LEN);
        file.read_to_end(&mut bytes)
            .map_err(|e| JournalError::io(path, "read segment header", e))?;
        return match bytes.iter().all(|&b| b == 0) {
            true => Ok(SegmentOpen::Blank),
            false => Err(not_segment(format!(
                "file is {} bytes, shorter than a segment header",
                bytes.len()
            ))),
        };
    }
    let map = MmapOptions::new()
        .map_raw_read_only(&file)
        .map_err(|e| JournalError::io(path, "map segment", e))?;
    // SAFETY: the map is live for the rest of this function and at least a header long; a
    // segment's header is written before the file gets its name and never changes after.
    let seg = unsafe { SegPtr::new(map.as_ptr(), map.len()) };
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    seg.copy_racy(0, &mut h);
    let header = match SegmentHeader::decode(&h) {
        Ok(header) => header,
        Err(HeaderError::Blank)
            if seg.survey_tail(SEGMENT_HEADER_LEN).nonzero_end == SEGMENT_HEADER_LEN =>
        {
            return Ok(SegmentOpen::Blank)
        }
        Err(HeaderError::Blank) => {
            return Err(not_segment(
                "the header is all zero, but the file holds data after it".into(),
            ))
        }
        Err(HeaderError::BadMagic) => return Err(not_segment("wrong magic bytes".into())),
        Err(HeaderError::Version(found)) => {
            return Err(JournalError::VersionMismatch {
                path: path.to_path_buf(),
                found,
                oldest: OLDEST_FORMAT_VERSION,
                newest: FORMAT_VERSION,
            })
        }
        Err(HeaderError::BadCrc) => return Err(not_segment("header CRC32C mismatch".into())),
        Err(HeaderError::BadLength(n)) => {
            return Err(not_segment(format!(
                "header length {n}, expected {SEGMENT_HEADER_LEN}"
            )))
        }
    };
    if header.first_seq != expected_first_seq {
        return Err(JournalError::corrupt(
            path,
            24,
            format!(
                "header says the first record is {}, the file name says {expected_first_seq}",
                header.first_seq
            ),
        ));
    }
    check_length(path, &header, len)?;
    Ok(SegmentOpen::Segment { header, map })
}

/// A segment's file is exactly as long as it was pre-allocated: a crash never changes that, so
/// any other length is damage (a segment cut short would otherwise pass for one whose end was
/// never written). Format 1 did not record the length; its segments are held to what every
/// writer made, a multiple of 8 bytes no shorter than [`MIN_SEGMENT_SIZE`].
fn check_length(path: &Path, header: &SegmentHeader, len: u64) -> Result<(), JournalError> {
    if let Some(size) = header.size {
        if len != size {
            let what = match len < size {
                true => "cut short (a crash never shortens a pre-allocated segment)",
                false => "grown after it was made",
            };
            return Err(JournalError::corrupt(
                path,
                len.min(size) as usize,
                format!("the file is {len} bytes, but its header says it was pre-allocated with {size}: {what}"),
            ));
        }
    }
    if len < MIN_SEGMENT_SIZE || len % 8 != 0 {
        return Err(JournalError::corrupt(
            path,
            len as usize,
            format!(
                "the file is {len} bytes, a length no writer gives a segment (a multiple of 8, at \
                 least {MIN_SEGMENT_SIZE}): cut short"
            ),
        ));
    }
    Ok(())
}

fn describe_file_type(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a plain file"
    }
}

/// Fsyncs a directory so that entries created or renamed in it survive power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io(dir, "fsync directory", e))
}

/// Reserves `size` bytes of zeros for `file`, so that writing through the map can never hit a
/// full disk (which would be SIGBUS, not an error).
pub(crate) fn preallocate(file: &File, path: &Path, size: u64) -> Result<(), JournalError> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: plain system call on an open descriptor.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size as libc::off_t) };
        match rc {
            0 => return Ok(()),
            // The file system cannot reserve space; fall back to a sparse, zero-filled file.
            libc::EOPNOTSUPP | libc::EINVAL => {}
            errno => {
                return Err(JournalError::io(
                    path,
                    "pre-allocate segment",
                    std::io::Error::from_raw_os_error(errno),
                ))
            }
        }
    }
    file.set_len(size)
        .map_err(|e| JournalError::io(path, "pre-allocate segment", e))
}

/// Path of the segment that starts at `first_seq`, which must not exist yet: renaming a new
/// segment onto it would replace records the scan never saw.
pub(crate) fn new_segment_path(dir: &Path, first_seq: u64) -> Result<PathBuf, JournalError> {
    let path = dir.join(segment_file_name(first_seq));
    if path.exists() {
        return Err(JournalError::corrupt(
            &path,
            0,
            "a segment for the next record already exists, but the journal did not contain it",
        ));
    }
    Ok(path)
}

/// Creates the segment whose first record will be `first_seq`: written as a temporary file,
/// pre-allocated, given its header, optionally fsynced, then renamed into place (and the
/// directory fsynced when `durable`), so a reader or a recovering writer never sees a half-made
/// segment under a segment name.
pub(crate) fn create_segment(
    dir: &Path,
    instance_id: u64,
    first_seq: u64,
    size: u64,
    durable: bool,
) -> Result<(PathBuf, File), JournalError> {
    let path = new_segment_path(dir, first_seq)?;
    let tmp = dir.join(format!("{first_seq:020}{TEMP_EXT}"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| JournalError::io(&tmp, "create segment", e))?;
    let result = (|| {
        preallocate(&file, &tmp, size)?;
        let header = SegmentHeader::new(instance_id, first_seq, size);
        file.write_all(&header.encode())
            .map_err(|e| JournalError::io(&tmp, "write segment header", e))?;
        if durable {
            file.sync_all()
                .map_err(|e| JournalError::io(&tmp, "fsync new segment", e))?;
        }
        fs::rename(&tmp, &path)
            .map_err(|e| JournalError::io(&path, "rename new segment into place", e))?;
        if durable {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok((path, file))
}

/// A random, non-zero journal instance id.
pub(crate) fn random_instance_id(dir: &Path) -> Result<u64, JournalError> {
    let mut b = [0u8; 8];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| JournalError::io(dir, "read /dev/urandom for the journal instance id", e))?;
    Ok(u64::from_le_bytes(b).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_sequence_order_and_parse_back() {
        let a = segment_file_name(9);
        let b = segment_file_name(10);
        let c = segment_file_name(u64::MAX);
        assert_eq!(a, "00000000000000000009.seg");
        assert!(a < b && b < c);
        assert_eq!(parse_segment_name(&c), Some(u64::MAX));
        assert_eq!(parse_segment_name("00000000000000000009.seg.tmp"), None);
        assert_eq!(parse_segment_name("9.seg"), None);
        assert_eq!(parse_segment_name("LOCK"), None);
    }
}

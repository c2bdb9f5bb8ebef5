//! Segment files on disk: names, listing, reading headers, and creating a new pre-allocated,
//! pre-zeroed segment so that it appears under its final name only once complete.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::JournalError;
use crate::format::{HeaderError, SegmentHeader, FORMAT_VERSION, SEGMENT_HEADER_LEN};

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

/// What the first bytes of a segment file say.
pub(crate) enum HeaderRead {
    Ok(SegmentHeader),
    /// Shorter than a header or all zero: created but its header never reached the disk.
    Blank,
}

/// Reads and checks the header of `path`, expecting the first sequence its name promises.
pub(crate) fn read_header(
    path: &Path,
    expected_first_seq: u64,
) -> Result<HeaderRead, JournalError> {
    let mut file = File::open(path).map_err(|e| JournalError::io(path, "open segment", e))?;
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    let mut got = 0;
    while got < h.len() {
        match file.read(&mut h[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(JournalError::io(path, "read segment header", e)),
        }
    }
    decode_header(path, &h, got, expected_first_seq)
}

pub(crate) fn decode_header(
    path: &Path,
    h: &[u8; SEGMENT_HEADER_LEN],
    available: usize,
    expected_first_seq: u64,
) -> Result<HeaderRead, JournalError> {
    let not_segment = |reason: String| JournalError::NotASegment {
        path: path.to_path_buf(),
        reason,
    };
    if available < SEGMENT_HEADER_LEN {
        return if h[..available].iter().all(|&b| b == 0) {
            Ok(HeaderRead::Blank)
        } else {
            Err(not_segment(format!(
                "file is {available} bytes, shorter than a segment header"
            )))
        };
    }
    let header = match SegmentHeader::decode(h) {
        Ok(header) => header,
        Err(HeaderError::Blank) => return Ok(HeaderRead::Blank),
        Err(HeaderError::BadMagic) => return Err(not_segment("wrong magic bytes".into())),
        Err(HeaderError::Version(found)) => {
            return Err(JournalError::VersionMismatch {
                path: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
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
    Ok(HeaderRead::Ok(header))
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
        let header = SegmentHeader {
            instance_id,
            first_seq,
        };
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

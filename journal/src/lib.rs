//! carry's journal: an append-only, memory-mapped, crash-safe record log. The engine appends
//! every input it acts on and every order intent here before any gateway sends anything, so a
//! restart can rebuild exactly what was decided and never send an order twice. The crate knows
//! nothing about trading: a record is a kind (`u16`), a timestamp and bytes.
//!
//! # Layout
//!
//! A journal is a directory of segment files named `<first sequence number, 20 digits>.seg`
//! (lexical order is sequence order), each pre-allocated (default 64 MiB) and pre-zeroed, plus a
//! `LOCK` file. Each segment starts with a header (magic, format version, journal instance id,
//! first sequence number, the length the file was pre-allocated with); records follow on 8-byte
//! boundaries, each framed with its length, kind, sequence number (gapless from 1 across
//! segments and restarts), timestamp and a CRC32C of header and payload. A zero length word marks
//! the end of written data. When a record does not fit, the writer creates the next segment and
//! then seals this one (room for the seal is always kept), so a seal proves that the segment it
//! names was in place. The byte layout is in the source of the `format` module. Format 1
//! journals (written before segment headers recorded their length) are read and continued.
//!
//! # Writers, readers, recovery
//!
//! One [`Journal`] writes; a second `Journal::open` of the same directory, from any process, is
//! refused ([`JournalError::Locked`]). [`Journal::append`] and the zero-copy
//! [`Journal::append_with`] do not allocate. Any number of [`JournalReader`]s iterate records
//! from any sequence number, borrowing payloads from the map, while the writer appends, in the
//! same process or another; they take no lock and never modify files.
//!
//! A background thread (`journal-prep`, unless [`JournalOptions::prefault`] is off) keeps the
//! pages ahead of the writer faulted in and one spare pre-allocated segment ready
//! (`spare-N.seg.tmp`), so that neither page faults nor file creation land on the appending
//! thread; with [`Durability::Batch`] a second thread (`journal-flush`) does the msyncs.
//!
//! Opening for writing scans the whole journal. Bytes after the last valid record that nothing
//! valid follows (a record cut short, a bad checksum at the very end) are a *torn tail*, what a
//! crash leaves: they are zeroed and reported in [`Recovery`]. Everything else that is not
//! intact is *corruption*, and the open fails naming the segment file (and byte offset); nothing
//! is skipped silently:
//!
//! - a bad record that valid records follow (a hole: a zeroed length word or page);
//! - a segment file shorter or longer than it was pre-allocated (a crash never shortens one), or
//!   one that is not a regular file;
//! - a segment that a seal names but that is missing or blank (empty, or zeros only), and a
//!   blank first segment, which cannot be told from a journal that lost its records;
//! - a directory whose `LOCK` file shows it held a journal, but with no segment left
//!   ([`JournalError::SegmentsMissing`]): a new journal is created only where none was.
//!
//! The one blank segment tolerated is a last segment that no seal names, which power loss can
//! leave while the writer creates it; the writer removes it. [`verify`] applies the same rules
//! without changing anything, and so does a reader from [`JournalReader::iter_to_end`].
//!
//! # Durability
//!
//! The writer publishes each record by storing its length word last, so at every instant the
//! journal in memory holds complete records only; what differs between the modes below is when
//! those records reach the disk.
//!
//! - [`Durability::None`]: records live in the OS page cache once `append` returns. They survive
//!   a crash or `kill -9` of the carry process, but not a kernel crash or power loss: the kernel
//!   writes dirty pages back on its own schedule (typically within 30 s), so the records of that
//!   window may be lost, and because pages may reach the disk out of order, the journal may then
//!   show a hole (or a seal naming a segment that did not reach the disk) that the next open
//!   reports as corruption rather than silently skipping.
//!   [`Journal::flush`] (called at clean shutdown) makes everything durable.
//! - [`Durability::Batch`] `{ interval }`: as `None` for a process crash; a background thread
//!   msyncs the new records at most every `interval`, never the appending thread. After a
//!   kernel crash or power loss, at most the records appended in the last `interval` (plus the
//!   duration of one msync) are lost; as with `None`, pages of that window written out of order
//!   can show as corruption, which the operator inspects with `carry journal verify`. A failed
//!   background msync makes every later `append` fail, so the engine halts instead of trading on
//!   a journal that cannot be made durable.
//! - [`Durability::Sync`]: `append` msyncs the record before returning, and segment creation
//!   fsyncs the file and the directory. Every record whose `append` returned `Ok` survives power
//!   loss (given storage that honours flushes); a record being appended at the moment of the
//!   crash is either complete or cut as a torn tail at the next open. Costs one msync per append.
//!
//! In every mode a record whose `append` returned `Ok` survives the death of the process, and a
//! record whose `append` did not return is either entirely present or entirely absent after
//! recovery: never partial, never out of sequence.
//!
//! # Example
//!
//! ```
//! use carry_journal::{verify, Durability, Journal, JournalOptions, JournalReader};
//!
//! let dir = tempfile::tempdir()?;
//! let opts = JournalOptions::default().durability(Durability::Sync);
//! {
//!     let (mut journal, _) = Journal::open(dir.path(), opts)?;
//!     for i in 0..3u64 {
//!         journal.append(1, i, &i.to_le_bytes())?;
//!     }
//! }
//! let (journal, recovery) = Journal::open(dir.path(), opts)?;
//! assert_eq!((recovery.records, recovery.torn_bytes()), (3, 0));
//! assert_eq!(journal.next_seq(), 4);
//!
//! let reader = JournalReader::open(dir.path())?;
//! let seqs: Vec<u64> = reader.iter_from(2).map(|r| r.map(|rec| rec.seq)).collect::<Result<_, _>>()?;
//! assert_eq!(seqs, vec![2, 3]);
//! assert_eq!(verify(dir.path())?.records, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod error;
mod flusher;
mod format;
mod lock;
mod options;
mod prefault;
mod reader;
mod scan;
mod segment;
mod verify;
mod writer;

pub use error::JournalError;
pub use format::{
    Record, FORMAT_VERSION, OLDEST_FORMAT_VERSION, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
pub use lock::LOCK_FILE;
pub use options::{
    Durability, JournalOptions, DEFAULT_SEGMENT_SIZE, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
};
pub use reader::{JournalReader, Records};
pub use scan::TornTail;
pub use segment::has_segments;
pub use verify::{verify, KindStats, VerifyReport};
pub use writer::{Journal, Recovery};

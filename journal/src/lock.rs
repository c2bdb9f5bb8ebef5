//! The single-writer lock: an exclusive `flock` on `LOCK` in the journal directory. flock locks
//! belong to an open file description, so a second `Journal::open` is refused whether it comes
//! from another process or from this one, and the kernel drops the lock when the holder exits,
//! however it exits.
//!
//! The file also holds a one-line note: `held by pid N` while a writer has the journal open
//! (shown to a second would-be writer), `creating a new journal (pid N)` while a writer creates
//! the first segment. The note outlives the writer, so a directory whose lock file says anything
//! but "creating" once held a journal: if no segment is left, they were lost, and the writer
//! refuses to start a new journal there.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::JournalError;

/// Name of the lock file inside a journal directory.
pub const LOCK_FILE: &str = "LOCK";

/// Start of the note a writer leaves while it creates a journal's first segment.
const CREATING: &str = "creating a new journal";

/// Held for as long as a writer is open; closing the file releases the lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
    path: std::path::PathBuf,
    /// The note the previous writer left (empty if the file is new).
    previous: String,
}

impl DirLock {
    /// Takes the lock and reads the previous note; writes none yet (the caller decides which).
    pub fn acquire(dir: &Path) -> Result<DirLock, JournalError> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| JournalError::io(&path, "open lock file", e))?;
        // SAFETY: plain system call on an open descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(JournalError::Locked {
                    dir: dir.to_path_buf(),
                    holder: describe_holder(&mut file),
                    lock: path,
                });
            }
            return Err(JournalError::io(&path, "flock", err));
        }
        let mut previous = String::new();
        file.read_to_string(&mut previous)
            .map_err(|e| JournalError::io(&path, "read lock file", e))?;
        Ok(DirLock {
            file,
            path,
            previous,
        })
    }

    /// Whether the previous note shows that a journal was written here: any note but the one
    /// left while creating a journal (an empty file is a creation cut short before its note).
    pub fn journal_was_here(&self) -> bool {
        let note = self.previous.trim();
        !note.is_empty() && !note.starts_with(CREATING)
    }

    /// Notes that this writer holds the journal.
    pub fn note_held(&mut self) -> Result<(), JournalError> {
        self.note(&format!("held by pid {}\n", std::process::id()))
    }

    /// Notes that this writer is creating the journal's first segment.
    pub fn note_creating(&mut self) -> Result<(), JournalError> {
        self.note(&format!("{CREATING} (pid {})\n", std::process::id()))
    }

    fn note(&mut self, text: &str) -> Result<(), JournalError> {
        self.file
            .set_len(0)
            .and_then(|_| self.file.seek(SeekFrom::Start(0)))
            .and_then(|_| self.file.write_all(text.as_bytes()))
            .map_err(|e| JournalError::io(&self.path, "write lock file", e))
    }
}

fn describe_holder(file: &mut File) -> String {
    let mut s = String::new();
    match file.read_to_string(&mut s) {
        Ok(_) if !s.trim().is_empty() => s.trim().to_string(),
        _ => "holder unknown".to_string(),
    }
}

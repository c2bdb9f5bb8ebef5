//! The single-writer lock: an exclusive `flock` on `LOCK` in the journal directory. flock locks
//! belong to an open file description, so a second `Journal::open` is refused whether it comes
//! from another process or from this one, and the kernel drops the lock when the holder exits,
//! however it exits.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::JournalError;

/// Name of the lock file inside a journal directory.
pub const LOCK_FILE: &str = "LOCK";

/// Held for as long as a writer is open; closing the file releases the lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
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
        // Diagnostics only: tells the next would-be writer who holds the lock.
        let note = format!("held by pid {}\n", std::process::id());
        file.set_len(0)
            .and_then(|_| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(note.as_bytes()))
            .map_err(|e| JournalError::io(&path, "write lock file", e))?;
        Ok(DirLock { _file: file })
    }
}

fn describe_holder(file: &mut File) -> String {
    let mut s = String::new();
    match file.read_to_string(&mut s) {
        Ok(_) if !s.trim().is_empty() => s.trim().to_string(),
        _ => "holder unknown".to_string(),
    }
}

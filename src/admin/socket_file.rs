//! The admin socket's file: who may take a path, and how it is bound without a moment at which
//! anyone but its owner could connect.
//!
//! A path is taken with an exclusive `flock` on a lock file beside it (`admin.sock.lock` for
//! `admin.sock`), held for as long as the server runs. Two instances started at the same moment
//! on one path therefore cannot both run: the second is refused before it touches the socket,
//! and the first to stop can only ever remove its own socket. The lock file is removed with the
//! socket, while the lock is still held; whoever takes the lock checks afterwards that the file
//! it locked is still the one at the path, so a removal racing a start cannot let two holders in.
//!
//! The socket is never reachable with a wider mode than 0600: it is bound inside a fresh 0700
//! directory next to the target path, chmod'ed to 0600 there, then renamed onto the target path.
//! An existing file at the path is replaced only if it is a socket nobody answers on (a stale
//! socket from a crash); a live one, or anything that is not a socket, is an error naming the
//! path.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Longest admin socket path, in bytes: a Unix socket address holds 108 on Linux, one of them the
/// terminating NUL. A longer path would still bind (through the short private path) and be
/// renamed into place, but nobody could ever connect to it.
pub const MAX_SOCKET_PATH: usize = 107;

/// Length of the private bind directory's name: `.c`, six hex digits of the pid, four of a
/// sequence number.
const PRIVATE_DIR_NAME_LEN: usize = 12;

/// Checks that `path` can be served and reached: it names a file, fits a socket address, and
/// leaves room beside it for the private directory it is bound in. The reason names the limit
/// it breaks.
pub fn check_path(path: &Path) -> Result<(), String> {
    if path.file_name().is_none() {
        return Err("names no file".into());
    }
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(format!(
            "{len} bytes is longer than a Unix socket address holds ({MAX_SOCKET_PATH} bytes): nobody could connect to it"
        ));
    }
    let bind_len = private_bind_path(&parent(path), 0).as_os_str().len();
    if bind_len > MAX_SOCKET_PATH {
        let room = MAX_SOCKET_PATH - (bind_len - parent(path).as_os_str().len());
        return Err(format!(
            "its directory is too long to bind the socket in privately: keep the directory at most {room} bytes"
        ));
    }
    Ok(())
}

/// The lock file that guards `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn private_bind_path(dir: &Path, seq: u32) -> PathBuf {
    let name = format!(
        ".c{:06x}{:04x}",
        std::process::id() & 0xff_ffff,
        seq & 0xffff
    );
    debug_assert_eq!(name.len(), PRIVATE_DIR_NAME_LEN);
    dir.join(name).join("s")
}

fn with_path(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {what}: {e}", path.display()))
}

/// An admin socket path taken by this process: the lock is held until it is dropped, which also
/// removes the socket (if this process bound it) and the lock file.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    lock_path: PathBuf,
    bound: bool,
    _lock: File,
}

impl SocketFile {
    /// Takes `path`, or refuses: an invalid path, or another process holding it (the error names
    /// the path, the lock file and the holder's pid).
    pub fn claim(path: &Path) -> io::Result<SocketFile> {
        check_path(path).map_err(|reason| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: admin socket path {reason}", path.display()),
            )
        })?;
        let lock_path = lock_path(path);
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&lock_path)
                .map_err(|e| with_path(&lock_path, "cannot open the admin socket's lock", e))?;
            // SAFETY: plain system call on a descriptor we own.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc != 0 {
                let err = io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = match holder.trim() {
                        "" => "holder unknown".to_string(),
                        h => h.to_string(),
                    };
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "{}: another carry is serving this admin socket or starting on it ({} {holder})",
                            path.display(),
                            lock_path.display()
                        ),
                    ));
                }
                return Err(with_path(&lock_path, "flock", err));
            }
            // The previous holder removes the file before it lets go: if it did so after we
            // opened it, we hold a lock on a file nobody else will ever open. Start over.
            let ours = file
                .metadata()
                .map_err(|e| with_path(&lock_path, "stat", e))?;
            match std::fs::metadata(&lock_path) {
                Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => {}
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(with_path(&lock_path, "stat", e)),
            }
            // Diagnostics only: tells the next would-be server who holds the path.
            let note = format!("held by pid {}\n", std::process::id());
            file.set_len(0)
                .and_then(|_| file.seek(SeekFrom::Start(0)))
                .and_then(|_| file.write_all(note.as_bytes()))
                .map_err(|e| with_path(&lock_path, "cannot write", e))?;
            return Ok(SocketFile {
                path: path.to_path_buf(),
                lock_path,
                bound: false,
                _lock: file,
            });
        }
    }

    /// Binds the socket at the claimed path with mode 0600 and no moment at which anyone else
    /// could connect (see the module doc); a stale socket there is replaced.
    pub fn bind(&mut self) -> io::Result<std::os::unix::net::UnixListener> {
        clear_stale(&self.path)?;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let tmp = private_bind_path(&parent(&self.path), SEQ.fetch_add(1, Ordering::Relaxed));
        let private = tmp.parent().unwrap_or(Path::new(".")).to_path_buf();
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&private)
            .map_err(|e| {
                with_path(
                    &private,
                    "cannot create private directory for the socket",
                    e,
                )
            })?;
        let bound = (|| {
            let listener = std::os::unix::net::UnixListener::bind(&tmp)
                .map_err(|e| with_path(&tmp, "cannot bind", e))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| with_path(&tmp, "cannot chmod 0600", e))?;
            std::fs::rename(&tmp, &self.path)
                .map_err(|e| with_path(&self.path, "cannot move socket into place", e))?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        })();
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_dir(&private);
        self.bound = bound.is_ok();
        bound
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if self.bound {
            let _ = std::fs::remove_file(&self.path);
        }
        // Removed while still locked; the lock goes with the descriptor, after this.
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

/// Removes a stale socket at `path`; refuses to touch a live one or a non-socket.
fn clear_stale(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(with_path(path, "cannot inspect", e)),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{}: exists and is not a socket; refusing to replace it",
                path.display()
            ),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{}: another process is serving this admin socket",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(|e| with_path(path, "cannot remove stale socket", e))
        }
        Err(e) => Err(with_path(path, "cannot probe existing socket", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_limits_table() {
        let long_name = |n: usize| format!("/tmp/{}", "a".repeat(n - 5));
        // (path, refused because)
        let cases: Vec<(String, Option<&str>)> = vec![
            ("/run/carry/admin.sock".into(), None),
            (long_name(MAX_SOCKET_PATH), None),
            (
                format!("{}/admin.sock", "d".repeat(80)),
                None, // directory of 80 bytes: the bind path is 80 + 15
            ),
            (
                format!("{}/admin-{}.sock", "d".repeat(92), "x".repeat(3)),
                None, // 107 bytes with a 92-byte directory: both fit exactly
            ),
            (
                format!("{}/a.sock", "d".repeat(93)),
                Some("keep the directory at most 92 bytes"),
            ),
            (long_name(MAX_SOCKET_PATH + 1), Some("108 bytes is longer")),
            ("/".into(), Some("names no file")),
        ];
        for (path, want) in cases {
            let got = check_path(Path::new(&path));
            match want {
                None => assert_eq!(got, Ok(()), "{path}"),
                Some(w) => {
                    let e = got.unwrap_err();
                    assert!(e.contains(w), "{path}: {e}");
                }
            }
        }
        assert_eq!(
            lock_path(Path::new("/run/a.sock")),
            Path::new("/run/a.sock.lock")
        );
    }
}

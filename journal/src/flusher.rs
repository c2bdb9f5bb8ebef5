//! `Durability::Batch`: a background thread that msyncs what the writer published, at most once
//! per interval, so that `append` never waits for the disk. The writer shares each segment with
//! it through an `Arc` and tells it how far it wrote through an atomic; the only lock is taken
//! by the writer when it adds a segment (once per roll-over), never per append.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use memmap2::MmapRaw;

use crate::error::JournalError;
use crate::segment::sync_dir;

/// A segment open for writing, shared between the writer and the flusher.
#[derive(Debug)]
pub(crate) struct WriteSegment {
    pub map: MmapRaw,
    pub path: PathBuf,
    pub file: File,
    /// End offset of the frames published so far.
    pub published: AtomicUsize,
    /// End offset known to be on stable storage: kept by the flusher, the only reader.
    pub synced: AtomicUsize,
    /// The writer sealed it: once synced up to `published`, the flusher can let it go.
    pub sealed: AtomicBool,
    /// Created without fsync (to keep roll-over off the disk): the flusher fsyncs the file and
    /// the directory before it counts anything in it as durable.
    pub needs_fsync: AtomicBool,
}

impl WriteSegment {
    pub fn new(
        path: PathBuf,
        file: File,
        map: MmapRaw,
        needs_fsync: bool,
        published: usize,
    ) -> Arc<WriteSegment> {
        Arc::new(WriteSegment {
            map,
            path,
            file,
            published: AtomicUsize::new(published),
            synced: AtomicUsize::new(0),
            sealed: AtomicBool::new(false),
            needs_fsync: AtomicBool::new(needs_fsync),
        })
    }

    /// Msyncs everything published and not yet synced.
    pub fn sync(&self, dir: &Path) -> Result<(), JournalError> {
        if self.needs_fsync.load(Ordering::Acquire) {
            self.file
                .sync_all()
                .map_err(|e| JournalError::io(&self.path, "fsync new segment", e))?;
            sync_dir(dir)?;
            self.needs_fsync.store(false, Ordering::Release);
        }
        let published = self.published.load(Ordering::Acquire);
        let synced = self.synced.load(Ordering::Acquire);
        if published > synced {
            self.map
                .flush_range(synced, published - synced)
                .map_err(|e| JournalError::io(&self.path, "msync", e))?;
            self.synced.fetch_max(published, Ordering::AcqRel);
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
            && self.synced.load(Ordering::Acquire) >= self.published.load(Ordering::Acquire)
            && !self.needs_fsync.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    dir: PathBuf,
    segments: Mutex<Vec<Arc<WriteSegment>>>,
    /// Set when the handle is dropped: flush once more and exit.
    stop: Mutex<bool>,
    wake: Condvar,
    /// Set once a flush failed; `append` checks it (one relaxed load) and refuses to go on.
    pub failed: AtomicBool,
    failure: Mutex<Option<(PathBuf, String)>>,
}

impl Shared {
    fn segments(&self) -> MutexGuard<'_, Vec<Arc<WriteSegment>>> {
        // A panic while holding this lock leaves only a list of Arcs behind: still usable.
        self.segments.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Msyncs every segment with unsynced data and forgets sealed segments that are done.
    pub fn sync_all(&self) -> Result<(), JournalError> {
        let snapshot: Vec<Arc<WriteSegment>> = self.segments().clone();
        for seg in &snapshot {
            if let Err(e) = seg.sync(&self.dir) {
                self.record_failure(&seg.path, &e);
                return Err(e);
            }
        }
        self.segments().retain(|s| !s.is_done());
        Ok(())
    }

    pub(crate) fn record_failure(&self, path: &Path, e: &JournalError) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if failure.is_none() {
            *failure = Some((path.to_path_buf(), e.to_string()));
        }
        self.failed.store(true, Ordering::Release);
    }

    /// The error `append` returns once a background flush has failed.
    pub fn failure(&self) -> JournalError {
        let failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        let (path, message) = failure
            .clone()
            .unwrap_or_else(|| (self.dir.clone(), "unknown error".into()));
        JournalError::FlushFailed { path, message }
    }
}

/// Handle to the flusher thread; dropping it stops the thread after a last flush.
#[derive(Debug)]
pub(crate) struct Flusher {
    pub shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    pub fn start(
        dir: &Path,
        interval: Duration,
        first: Arc<WriteSegment>,
    ) -> Result<Flusher, JournalError> {
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            segments: Mutex::new(vec![first]),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("journal-flush".into())
            .spawn(move || run(&worker, interval))
            .map_err(|e| JournalError::io(dir, "spawn journal flusher thread", e))?;
        Ok(Flusher {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands a new segment to the flusher (at roll-over).
    pub fn add(&self, seg: Arc<WriteSegment>) {
        self.shared.segments().push(seg);
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(shared: &Shared, interval: Duration) {
    loop {
        let stop = {
            let stop = shared.stop.lock().unwrap_or_else(|p| p.into_inner());
            let (stop, _) = shared
                .wake
                .wait_timeout_while(stop, interval, |stop| !*stop)
                .unwrap_or_else(|p| p.into_inner());
            *stop
        };
        // Errors are recorded in `shared` for the writer; keep trying, the disk may come back,
        // but the writer stays refused because durability was already broken once.
        let _ = shared.sync_all();
        if stop {
            return;
        }
    }
}

//! Keeping page faults and file creation off the appending thread. The first write to each page
//! of a fresh mapped file costs a page fault of a few microseconds, which spread over the ~40
//! records a 4 KiB page holds would more than double the cost of an append; creating a
//! pre-allocated segment at roll-over costs a file creation and an fallocate. A background thread
//! ("journal-prep") therefore
//!
//! - keeps a window of pages ahead of the writer's position faulted in writable
//!   (`MADV_POPULATE_WRITE`, which touches no data, so it never races with the writer), and
//!   refreshes it periodically because writeback makes clean pages fault again; and
//! - keeps one spare segment file ready (`spare-N.seg.tmp`: created, pre-allocated, fsynced when
//!   durability asks for it, mapped) that the writer turns into the next segment by writing its
//!   header and renaming it.
//!
//! The writer never waits for this thread: it reads nothing the thread writes on the append path,
//! and at roll-over it takes the spare if one is ready or creates a segment itself.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::JournalError;
use crate::flusher::WriteSegment;
use crate::segment::preallocate;

/// Bytes kept faulted in ahead of the writer.
const WINDOW: usize = 16 << 20;
const PAGE: usize = 4096;
/// How often the thread looks at the writer's position.
const POLL: Duration = Duration::from_millis(1);
/// How often the whole window is faulted in again (writeback write-protects clean pages).
const REFRESH: Duration = Duration::from_millis(100);

/// A pre-allocated, mapped segment file without a header, waiting to become the next segment.
#[derive(Debug)]
pub(crate) struct Spare {
    pub path: PathBuf,
    pub file: File,
    pub map: MmapRaw,
}

#[derive(Debug)]
struct State {
    stop: bool,
    current: Arc<WriteSegment>,
    spare: Option<Spare>,
    /// The last spare could not be made: the thread stops trying until the writer rolls (and
    /// creates the segment itself, where any error reaches the caller of `append`).
    spare_failed: bool,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    segment_size: u64,
    /// fsync the spare after pre-allocating it (so its size is durable before it is named).
    durable: bool,
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Plain data behind this lock; still consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Handle to the background thread; dropping it stops the thread and removes the spare.
#[derive(Debug)]
pub(crate) struct Prefaulter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Prefaulter {
    pub fn start(
        dir: &Path,
        segment_size: u64,
        durable: bool,
        current: Arc<WriteSegment>,
    ) -> Result<Prefaulter, JournalError> {
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            segment_size,
            durable,
            state: Mutex::new(State {
                stop: false,
                current,
                spare: None,
                spare_failed: false,
            }),
            wake: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("journal-prep".into())
            .spawn(move || run(&worker))
            .map_err(|e| JournalError::io(dir, "spawn journal preparation thread", e))?;
        Ok(Prefaulter {
            shared,
            thread: Some(thread),
        })
    }

    /// Takes the spare segment if one is ready.
    pub fn take_spare(&self) -> Option<Spare> {
        let mut state = self.shared.state();
        state.spare_failed = false;
        state.spare.take()
    }

    /// Points the thread at the segment the writer now appends to.
    pub fn set_current(&self, seg: Arc<WriteSegment>) {
        self.shared.state().current = seg;
    }
}

impl Drop for Prefaulter {
    fn drop(&mut self) {
        self.shared.state().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(spare) = self.shared.state().spare.take() {
            drop(spare.map);
            let _ = fs::remove_file(&spare.path);
        }
    }
}

/// Creates spare number `n`. Every spare gets its own name: the writer renames a spare after
/// taking it, and by then the next one may already be in the making.
fn make_spare(dir: &Path, n: u64, size: u64, durable: bool) -> Result<Spare, JournalError> {
    let path = dir.join(format!("spare-{n}.seg.tmp"));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| JournalError::io(&path, "create spare segment", e))?;
    preallocate(&file, &path, size)?;
    if durable {
        file.sync_all()
            .map_err(|e| JournalError::io(&path, "fsync spare segment", e))?;
    }
    let map = MmapOptions::new()
        .map_raw(&file)
        .map_err(|e| JournalError::io(&path, "map spare segment", e))?;
    // Not with durable spares: the fsync at roll-over would then write the faulted-in zeros.
    if !durable {
        populate_ahead(&map, 0);
    }
    Ok(Spare { path, file, map })
}

/// Faults `[from, to)` of `map` in writable (clamped to the map); `false` if the kernel does
/// not support it.
pub(crate) fn populate(map: &MmapRaw, from: usize, to: usize) -> bool {
    let from = from / PAGE * PAGE;
    let to = to.min(map.len());
    if from >= to {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        match map.advise_range(memmap2::Advice::PopulateWrite, from, to - from) {
            Ok(()) => true,
            // Kernels before 5.14 do not know MADV_POPULATE_WRITE.
            Err(e) => e.raw_os_error() != Some(libc::EINVAL),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// Faults in the first window of a segment the writer is about to use.
pub(crate) fn populate_ahead(map: &MmapRaw, from: usize) {
    populate(map, from, from + WINDOW);
}

fn run(shared: &Shared) {
    let mut seen: Option<Arc<WriteSegment>> = None;
    let mut populated_to = 0usize;
    let mut last_refresh = Instant::now();
    let mut can_populate = true;
    let mut spares = 0u64;
    loop {
        let (current, want_spare) = {
            let state = shared.state();
            let (state, _) = shared
                .wake
                .wait_timeout_while(state, POLL, |s| !s.stop)
                .unwrap_or_else(|p| p.into_inner());
            if state.stop {
                return;
            }
            (
                Arc::clone(&state.current),
                state.spare.is_none() && !state.spare_failed,
            )
        };
        if !seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &current)) {
            seen = Some(Arc::clone(&current));
            populated_to = 0;
        }
        if can_populate {
            let pos = current.published.load(Ordering::Acquire) / PAGE * PAGE;
            let to = (pos + WINDOW).min(current.map.len());
            let refresh = last_refresh.elapsed() >= REFRESH;
            let from = if refresh { pos } else { pos.max(populated_to) };
            if from < to {
                can_populate = populate(&current.map, from, to);
                populated_to = to;
            }
            if refresh {
                last_refresh = Instant::now();
            }
        }
        if want_spare {
            spares += 1;
            let made = make_spare(&shared.dir, spares, shared.segment_size, shared.durable);
            let mut state = shared.state();
            match made {
                Ok(spare) if !state.stop => state.spare = Some(spare),
                Ok(spare) => {
                    drop(spare.map);
                    let _ = fs::remove_file(&spare.path);
                }
                Err(_) => state.spare_failed = true,
            }
        }
    }
}

//! `append` and `append_with` must not allocate once the journal is open: the engine calls them
//! on its hot path. A counting global allocator counts this thread's allocations around a burst
//! of appends in every durability mode.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use carry_journal::{Durability, Journal, JournalOptions};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; the counter is a const-initialized thread-local
// without destructor, so touching it never allocates or re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(|c| c.get())
}

#[test]
fn append_does_not_allocate_after_warm_up() {
    for durability in [
        Durability::None,
        Durability::Batch {
            interval: Duration::from_millis(1),
        },
        Durability::Sync,
    ] {
        let dir = tempfile::tempdir().unwrap();
        // Big enough that the burst below never rolls over (a roll-over creates a file and may
        // allocate; it happens once per segment, not per append).
        let opts = JournalOptions::default()
            .segment_size(8 << 20)
            .durability(durability);
        let (mut journal, _) = Journal::open(dir.path(), opts).unwrap();
        let payload = [0x5Au8; 256];
        for i in 0..100u64 {
            journal.append(1, i, &payload[..64]).unwrap();
        }

        // Sync mode waits for the disk on every append: fewer of them keep the test short.
        let n = if durability == Durability::Sync {
            1_000
        } else {
            10_000
        };
        let before = allocations();
        let mut last = 0;
        for i in 0..n {
            let len = 1 + (i % 256) as usize;
            last = if i % 2 == 0 {
                journal.append(2, i, &payload[..len]).unwrap()
            } else {
                journal
                    .append_with(3, i, len, |buf| buf.copy_from_slice(&payload[..len]))
                    .unwrap()
            };
        }
        let during = allocations() - before;

        assert_eq!(last, 100 + n, "{durability:?}: all appends happened");
        assert_eq!(
            during, 0,
            "{durability:?}: {during} allocations in {n} appends"
        );
        // The counter works: an allocation on this thread is seen.
        let probe = allocations();
        drop(std::hint::black_box(vec![1u8; 16]));
        assert!(allocations() > probe, "allocation counter is live");
    }
}

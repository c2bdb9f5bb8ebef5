//! The bounded lock-free queue from one feed thread to the engine thread: a single-producer,
//! single-consumer ring of [`FeedItem`]s with cache-padded indices, each side caching the other's
//! index so that a push or pop touches a shared cache line only when its cached view says the
//! ring is full (producer) or empty (consumer).
//!
//! # Overload policy
//!
//! When the ring is full the producer does not drop blindly:
//! - a **quote** goes to a pending slot keyed by (venue, instrument); a later quote for the same
//!   key replaces it (counted as *conflated*): only stale top-of-book is lost, never the latest;
//! - a **funding update** or **feed reset** is never dropped: the producer waits for space
//!   (counted as a *backpressure wait*), which in turn slows the feed's socket reads.
//!
//! Pending quotes are flushed, in the order they were first held back, before anything new enters
//! the ring, on every push and on [`Producer::flush_pending`] (the feed thread calls it every loop).
//!
//! # Ordering guarantees
//!
//! 1. Items leave the queue in the order they were pushed, except as allowed by 3.
//! 2. Funding updates and feed resets are delivered exactly once. Everything pushed before one of
//!    them (including pending quotes) is delivered before it, everything pushed after it is
//!    delivered after it.
//! 3. Under overload, a quote may be replaced by a later quote of the same (venue, instrument),
//!    which then takes the earlier one's place. So per (venue, instrument) order always holds and
//!    the last quote before any funding/reset item is always delivered before that item; only
//!    quotes of *different* instruments pushed between two funding/reset items may come out in a
//!    different order than they went in.
//!
//! ```
//! use carry_feeds::feed::queue::{bounded, FeedItem};
//! use carry_engine::{MarketEvent, MarketEventKind, Venue, InstrumentId};
//! let (mut tx, mut rx) = bounded(1024);
//! let reset = MarketEvent { venue: "okx-perp".parse().unwrap(), instrument: InstrumentId(0),
//!                           ts_ms: 1, recv_ns: 1, kind: MarketEventKind::FeedReset };
//! tx.push(FeedItem::new(reset, 5)).unwrap();
//! let item = rx.pop().unwrap();
//! assert_eq!(item.event, reset);
//! assert!(item.enqueued_ns >= item.parsed_ns);
//! ```

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use carry_engine::{InstrumentId, MarketEvent, MarketEventKind, Venue};
use crossbeam::utils::CachePadded;

use crate::transport::clock;
use crate::transport::stats::Counter;

/// One market event on its way to the engine, with the feed thread's stamps. The receive stamp
/// is `event.recv_ns`; `parsed_ns` is when the session handed the event over and `enqueued_ns` is
/// when it entered the ring (after any wait), all monotonic ns, so the engine can split latency
/// into parse and queue time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeedItem {
    /// The event.
    pub event: MarketEvent,
    /// Monotonic ns at which the session handed the event over.
    pub parsed_ns: u64,
    /// Set by the queue itself when the item is written into the ring.
    pub enqueued_ns: u64,
}

impl FeedItem {
    /// An item parsed at `parsed_ns`, not yet enqueued.
    pub fn new(event: MarketEvent, parsed_ns: u64) -> FeedItem {
        FeedItem {
            event,
            parsed_ns,
            enqueued_ns: 0,
        }
    }

    fn is_conflatable(&self) -> bool {
        matches!(self.event.kind, MarketEventKind::Quote(_))
    }

    fn key(&self) -> (Venue, InstrumentId) {
        (self.event.venue, self.event.instrument)
    }
}

/// How a push went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Written into the ring.
    Queued,
    /// A quote held in the pending slots because the ring was full (it will be flushed, or
    /// replaced by a later quote of the same instrument).
    Held,
    /// A quote that replaced a pending quote of the same instrument (the older one is lost).
    Conflated,
    /// A funding update or reset that had to wait for the consumer.
    Waited,
}

/// Why a push gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The consumer (engine thread) is gone.
    #[error("feed queue: the consumer (engine thread) is gone")]
    Disconnected,
    /// Shutdown was asked for while the push waited for space.
    #[error("feed queue: push aborted by shutdown while waiting for space")]
    Aborted,
}

/// Overload counters of one queue (single writer: the producer).
#[derive(Debug, Default)]
pub struct QueueCounters {
    /// Items written into the ring.
    pub enqueued: Counter,
    /// Quotes held back in a pending slot because the ring was full.
    pub held: Counter,
    /// Pending quotes replaced by a newer quote of the same instrument (lost updates).
    pub conflated: Counter,
    /// Funding updates / resets that had to wait for space.
    pub backpressure_waits: Counter,
    /// The most quotes ever pending at once.
    pub max_pending: Counter,
}

impl QueueCounters {
    /// A copy of the counters.
    pub fn snapshot(&self) -> QueueSnapshot {
        QueueSnapshot {
            enqueued: self.enqueued.get(),
            held: self.held.get(),
            conflated: self.conflated.get(),
            backpressure_waits: self.backpressure_waits.get(),
            max_pending: self.max_pending.get(),
        }
    }
}

/// A copy of [`QueueCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// Items written into the ring.
    pub enqueued: u64,
    /// Quotes held back because the ring was full.
    pub held: u64,
    /// Held quotes replaced by a newer quote of the same instrument.
    pub conflated: u64,
    /// Funding updates and resets that had to wait for space.
    pub backpressure_waits: u64,
    /// The most quotes ever pending at once.
    pub max_pending: u64,
}

struct Ring {
    /// Next index the consumer reads; written by the consumer only.
    head: CachePadded<AtomicUsize>,
    /// Next index the producer writes; written by the producer only.
    tail: CachePadded<AtomicUsize>,
    consumer_gone: AtomicBool,
    producer_gone: AtomicBool,
    mask: usize,
    slots: Box<[UnsafeCell<MaybeUninit<FeedItem>>]>,
}

// SAFETY: a slot is written only by the producer while it is outside [head, tail) and read only by
// the consumer while it is inside; the Release store of `tail` after a write and the Acquire load
// of it before a read (and the same pair on `head` for reuse) order those accesses. `FeedItem` is
// `Copy` and `Send`, so moving its bytes between threads is sound.
unsafe impl Sync for Ring {}
unsafe impl Send for Ring {}

/// Creates a queue holding at least `capacity` items (rounded up to a power of two, at least 2).
pub fn bounded(capacity: usize) -> (Producer, Consumer) {
    let cap = capacity.max(2).next_power_of_two();
    let slots = (0..cap)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect::<Vec<_>>()
        .into_boxed_slice();
    let ring = Arc::new(Ring {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        consumer_gone: AtomicBool::new(false),
        producer_gone: AtomicBool::new(false),
        mask: cap - 1,
        slots,
    });
    let producer = Producer {
        ring: ring.clone(),
        tail: 0,
        head_cache: 0,
        pending: Vec::with_capacity(64),
        counters: Arc::new(QueueCounters::default()),
        abort: None,
    };
    let consumer = Consumer {
        ring,
        head: 0,
        tail_cache: 0,
    };
    (producer, consumer)
}

/// The feed thread's end.
pub struct Producer {
    ring: Arc<Ring>,
    tail: usize,
    head_cache: usize,
    pending: Vec<FeedItem>,
    counters: Arc<QueueCounters>,
    abort: Option<Arc<AtomicBool>>,
}

impl Producer {
    /// Ring capacity in items.
    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// The counters, for the stats readers.
    pub fn counters(&self) -> Arc<QueueCounters> {
        self.counters.clone()
    }

    /// A flag that, once true, makes a push waiting for space give up with
    /// [`PushError::Aborted`] (the feed group installs its shutdown flag here).
    pub fn set_abort_flag(&mut self, flag: Arc<AtomicBool>) {
        self.abort = Some(flag);
    }

    /// Quotes currently held back.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether quotes are held back, waiting for room in the ring.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the engine dropped its end.
    pub fn is_disconnected(&self) -> bool {
        self.ring.consumer_gone.load(Ordering::Relaxed)
    }

    /// Pushes one item under the overload policy in the module doc. Only funding updates and
    /// resets can block, and only while the ring is full.
    pub fn push(&mut self, item: FeedItem) -> Result<Pushed, PushError> {
        if !self.pending.is_empty() {
            self.flush_pending();
        }
        if self.pending.is_empty() && self.try_write(item) {
            return Ok(Pushed::Queued);
        }
        if self.ring.consumer_gone.load(Ordering::Relaxed) {
            return Err(PushError::Disconnected);
        }
        if item.is_conflatable() {
            return Ok(self.hold(item));
        }
        self.counters.backpressure_waits.incr();
        let mut spins = 0u32;
        loop {
            self.flush_pending();
            if self.pending.is_empty() && self.try_write(item) {
                return Ok(Pushed::Waited);
            }
            if self.ring.consumer_gone.load(Ordering::Relaxed) {
                return Err(PushError::Disconnected);
            }
            if self
                .abort
                .as_ref()
                .is_some_and(|f| f.load(Ordering::Relaxed))
            {
                return Err(PushError::Aborted);
            }
            spins = spins.saturating_add(1);
            if spins < 128 {
                std::hint::spin_loop();
            } else {
                // A consumer this far behind is not busy-polling; let it have the core.
                std::thread::yield_now();
            }
        }
    }

    /// Moves pending quotes into the ring while there is room. Returns whether none is left.
    pub fn flush_pending(&mut self) -> bool {
        let mut moved = 0;
        while moved < self.pending.len() {
            if !self.try_write(self.pending[moved]) {
                break;
            }
            moved += 1;
        }
        if moved > 0 {
            self.pending.drain(..moved);
        }
        self.pending.is_empty()
    }

    fn hold(&mut self, item: FeedItem) -> Pushed {
        let key = item.key();
        if let Some(slot) = self.pending.iter_mut().find(|p| p.key() == key) {
            *slot = item;
            self.counters.conflated.incr();
            return Pushed::Conflated;
        }
        self.pending.push(item);
        self.counters.held.incr();
        if self.pending.len() as u64 > self.counters.max_pending.get() {
            self.counters.max_pending.set(self.pending.len() as u64);
        }
        Pushed::Held
    }

    /// Writes into the ring if there is room, stamping `enqueued_ns`. Returns whether it did.
    #[inline]
    fn try_write(&mut self, mut item: FeedItem) -> bool {
        let cap = self.ring.mask + 1;
        if self.tail.wrapping_sub(self.head_cache) >= cap {
            self.head_cache = self.ring.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head_cache) >= cap {
                return false;
            }
        }
        item.enqueued_ns = clock::mono_ns();
        let slot = &self.ring.slots[self.tail & self.ring.mask];
        // SAFETY: `tail - head < cap`, so this slot is not in [head, tail): the consumer is not
        // reading it and will not until the Release store below publishes it.
        unsafe { (*slot.get()).write(item) };
        self.tail = self.tail.wrapping_add(1);
        self.ring.tail.store(self.tail, Ordering::Release);
        self.counters.enqueued.incr();
        true
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // Held quotes are lost with the producer; everything in the ring stays readable.
        self.ring.producer_gone.store(true, Ordering::Release);
    }
}

/// The engine thread's end.
pub struct Consumer {
    ring: Arc<Ring>,
    head: usize,
    tail_cache: usize,
}

impl Consumer {
    /// How many items the ring holds.
    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// Takes the oldest item, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<FeedItem> {
        if self.head == self.tail_cache {
            self.tail_cache = self.ring.tail.load(Ordering::Acquire);
            if self.head == self.tail_cache {
                return None;
            }
        }
        let item = self.read_slot(self.head);
        self.head = self.head.wrapping_add(1);
        self.ring.head.store(self.head, Ordering::Release);
        Some(item)
    }

    /// Hands up to `max` items to `f` in order, publishing the freed space once at the end.
    /// Returns how many were taken.
    #[inline]
    pub fn drain(&mut self, max: usize, mut f: impl FnMut(FeedItem)) -> usize {
        self.tail_cache = self.ring.tail.load(Ordering::Acquire);
        let n = self.tail_cache.wrapping_sub(self.head).min(max);
        for i in 0..n {
            f(self.read_slot(self.head.wrapping_add(i)));
        }
        if n > 0 {
            self.head = self.head.wrapping_add(n);
            self.ring.head.store(self.head, Ordering::Release);
        }
        n
    }

    #[inline]
    fn read_slot(&self, index: usize) -> FeedItem {
        let slot = &self.ring.slots[index & self.ring.mask];
        // SAFETY: `index` is in [head, tail) as of the Acquire load of `tail`, so the producer
        // finished writing this slot and will not touch it until `head` moves past it.
        unsafe { (*slot.get()).assume_init_read() }
    }

    /// Items ready to pop (a snapshot).
    pub fn len(&self) -> usize {
        self.ring
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    /// Whether the ring holds nothing right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the feed thread dropped its end (nothing more will arrive after what is queued).
    pub fn is_abandoned(&self) -> bool {
        self.ring.producer_gone.load(Ordering::Acquire)
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.ring.consumer_gone.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carry_engine::{Exchange, Funding, Market, Quote};
    use rust_decimal::Decimal;

    fn venue() -> Venue {
        Venue::new(Exchange::Bybit, Market::Perp)
    }

    fn quote(ins: u16, seq: i64) -> FeedItem {
        FeedItem::new(
            MarketEvent {
                venue: venue(),
                instrument: InstrumentId(ins),
                ts_ms: seq,
                recv_ns: seq as u64,
                kind: MarketEventKind::Quote(Quote {
                    bid: Decimal::from(seq),
                    bid_qty: Decimal::ONE,
                    ask: Decimal::from(seq + 1),
                    ask_qty: Decimal::ONE,
                }),
            },
            seq as u64,
        )
    }

    fn funding(ins: u16, seq: i64) -> FeedItem {
        FeedItem::new(
            MarketEvent {
                venue: venue(),
                instrument: InstrumentId(ins),
                ts_ms: seq,
                recv_ns: seq as u64,
                kind: MarketEventKind::Funding(Funding {
                    rate: Decimal::new(seq, 6),
                    predicted_rate: None,
                    next_funding_time_ms: 0,
                    interval_ms: None,
                    mark_price: None,
                    index_price: None,
                }),
            },
            seq as u64,
        )
    }

    fn seqs(rx: &mut Consumer) -> Vec<(u16, i64, bool)> {
        let mut out = Vec::new();
        while let Some(i) = rx.pop() {
            let is_quote = matches!(i.event.kind, MarketEventKind::Quote(_));
            out.push((i.event.instrument.0, i.event.ts_ms, is_quote));
        }
        out
    }

    #[test]
    fn capacity_rounds_up_and_order_is_kept() {
        let (mut tx, mut rx) = bounded(5);
        assert_eq!(tx.capacity(), 8);
        assert_eq!(rx.capacity(), 8);
        for round in 0..10 {
            for i in 0..8 {
                assert_eq!(tx.push(quote(i, round * 8 + i as i64)), Ok(Pushed::Queued));
            }
            assert_eq!(rx.len(), 8);
            let got = seqs(&mut rx);
            let want: Vec<_> = (0..8).map(|i| (i, round * 8 + i as i64, true)).collect();
            assert_eq!(got, want);
        }
        assert!(rx.is_empty());
        assert_eq!(tx.counters().snapshot().enqueued, 80);
    }

    #[test]
    fn full_ring_conflates_quotes_per_instrument_only() {
        let (mut tx, mut rx) = bounded(2);
        assert_eq!(tx.push(quote(0, 1)), Ok(Pushed::Queued));
        assert_eq!(tx.push(quote(1, 2)), Ok(Pushed::Queued));
        assert_eq!(tx.push(quote(0, 3)), Ok(Pushed::Held));
        assert_eq!(tx.push(quote(1, 4)), Ok(Pushed::Held));
        assert_eq!(tx.push(quote(0, 5)), Ok(Pushed::Conflated));
        assert_eq!(tx.push(quote(0, 6)), Ok(Pushed::Conflated));
        assert_eq!(tx.pending(), 2);
        let s = tx.counters().snapshot();
        assert_eq!((s.held, s.conflated, s.max_pending), (2, 2, 2));

        assert_eq!(seqs(&mut rx), vec![(0, 1, true), (1, 2, true)]);
        assert!(tx.flush_pending());
        // The latest quote of instrument 0 took the place of the first one held back.
        assert_eq!(seqs(&mut rx), vec![(0, 6, true), (1, 4, true)]);
    }

    #[test]
    fn funding_waits_and_comes_after_pending_quotes() {
        let (mut tx, mut rx) = bounded(2);
        tx.push(quote(0, 1)).unwrap();
        tx.push(quote(0, 2)).unwrap();
        assert_eq!(tx.push(quote(0, 3)), Ok(Pushed::Held));
        let counters = tx.counters();
        let consumer = std::thread::spawn(move || {
            // Start draining only once the producer is stuck waiting.
            while counters.backpressure_waits.get() == 0 {
                std::hint::spin_loop();
            }
            let mut got = Vec::new();
            while got.len() < 4 {
                if let Some(i) = rx.pop() {
                    got.push((
                        i.event.ts_ms,
                        matches!(i.event.kind, MarketEventKind::Funding(_)),
                    ));
                } else {
                    std::hint::spin_loop();
                }
            }
            got
        });
        assert_eq!(tx.push(funding(0, 4)), Ok(Pushed::Waited));
        let got = consumer.join().unwrap();
        assert_eq!(got, vec![(1, false), (2, false), (3, false), (4, true)]);
        assert_eq!(tx.counters().snapshot().backpressure_waits, 1);
    }

    #[test]
    fn waiting_push_gives_up_on_abort_or_disconnect() {
        let (mut tx, rx) = bounded(2);
        tx.push(funding(0, 1)).unwrap();
        tx.push(funding(0, 2)).unwrap();
        let abort = Arc::new(AtomicBool::new(true));
        tx.set_abort_flag(abort.clone());
        assert_eq!(tx.push(funding(0, 3)), Err(PushError::Aborted));
        abort.store(false, Ordering::Relaxed);
        drop(rx);
        assert!(tx.is_disconnected());
        assert_eq!(tx.push(funding(0, 3)), Err(PushError::Disconnected));
    }

    #[test]
    fn drain_takes_in_order_and_frees_space() {
        let (mut tx, mut rx) = bounded(4);
        for i in 0..4 {
            tx.push(funding(0, i)).unwrap();
        }
        let mut got = Vec::new();
        assert_eq!(rx.drain(3, |i| got.push(i.event.ts_ms)), 3);
        assert_eq!(got, vec![0, 1, 2]);
        for i in 4..7 {
            assert_eq!(tx.push(funding(0, i)), Ok(Pushed::Queued));
        }
        got.clear();
        assert_eq!(rx.drain(usize::MAX, |i| got.push(i.event.ts_ms)), 4);
        assert_eq!(got, vec![3, 4, 5, 6]);
        drop(tx);
        assert!(rx.is_abandoned());
    }
}

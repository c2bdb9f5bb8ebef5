//! The quote board: the latest top of book per (venue, instrument), written by the engine thread
//! and read by the paper venue on the gateway thread, without a lock either side waits on.
//!
//! Each slot is a sequence lock built from atomics only (no `unsafe`): the writer makes the
//! sequence odd, stores the quote's words, and makes it even again with `Release`; a reader loads
//! the sequence with `Acquire`, copies the words, and retries if the sequence moved or was odd.
//! The single writer never waits; a reader retries only while a write of that very slot is in
//! progress (a few nanoseconds). One writer per board: the engine thread, which sees every quote.

use std::sync::atomic::{fence, AtomicU64, Ordering};

use carry_engine::market::venue::VENUE_COUNT;
use carry_engine::{InstrumentId, MarketEvent, MarketEventKind, Quote, Venue};
use rust_decimal::Decimal;

/// Nine words: four decimals (two words each) and the quote's monotonic receive time.
const WORDS: usize = 9;

#[repr(align(128))]
struct Slot {
    seq: AtomicU64,
    words: [AtomicU64; WORDS],
}

impl Slot {
    fn new() -> Slot {
        Slot {
            seq: AtomicU64::new(0),
            words: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A quote as the board holds it, with the monotonic time it was received.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoardQuote {
    pub quote: Quote,
    pub recv_ns: u64,
}

/// Latest top of book of every (venue, instrument).
pub struct QuoteBoard {
    slots: Box<[Slot]>,
}

impl QuoteBoard {
    /// A board for `instruments` instruments on every venue.
    pub fn new(instruments: usize) -> QuoteBoard {
        QuoteBoard {
            slots: (0..instruments.max(1) * VENUE_COUNT)
                .map(|_| Slot::new())
                .collect(),
        }
    }

    fn slot(&self, venue: Venue, instrument: InstrumentId) -> Option<&Slot> {
        self.slots
            .get(instrument.index() * VENUE_COUNT + venue.index())
    }

    /// Publishes the event if it is a quote (call it for every market event the engine takes).
    /// Only one thread may publish to a board.
    pub fn observe(&self, ev: &MarketEvent) {
        if let MarketEventKind::Quote(q) = ev.kind {
            self.publish(ev.venue, ev.instrument, &q, ev.recv_ns);
        }
    }

    /// Stores a quote. Only one thread may publish to a board.
    pub fn publish(&self, venue: Venue, instrument: InstrumentId, q: &Quote, recv_ns: u64) {
        let Some(slot) = self.slot(venue, instrument) else {
            return;
        };
        let seq = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Readers that see the odd sequence, or any of the words below, must also see it odd.
        fence(Ordering::Release);
        let mut words = [0u64; WORDS];
        for (i, d) in [q.bid, q.bid_qty, q.ask, q.ask_qty].iter().enumerate() {
            let b = d.serialize();
            words[2 * i] = u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
            words[2 * i + 1] = u64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
        }
        words[8] = recv_ns;
        for (slot_word, w) in slot.words.iter().zip(words) {
            slot_word.store(w, Ordering::Relaxed);
        }
        slot.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// The latest quote of (venue, instrument), if one was ever published.
    pub fn read(&self, venue: Venue, instrument: InstrumentId) -> Option<BoardQuote> {
        let slot = self.slot(venue, instrument)?;
        loop {
            let before = slot.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut words = [0u64; WORDS];
            for (w, slot_word) in words.iter_mut().zip(slot.words.iter()) {
                *w = slot_word.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) != before {
                continue;
            }
            let dec = |i: usize| {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&words[2 * i].to_le_bytes());
                b[8..].copy_from_slice(&words[2 * i + 1].to_le_bytes());
                Decimal::deserialize(b)
            };
            return Some(BoardQuote {
                quote: Quote {
                    bid: dec(0),
                    bid_qty: dec(1),
                    ask: dec(2),
                    ask_qty: dec(3),
                },
                recv_ns: words[8],
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    fn q(n: i64) -> Quote {
        // Every field derives from n, so a torn read shows as fields that disagree.
        Quote {
            bid: Decimal::new(n * 100, 2),
            bid_qty: Decimal::new(n, 3),
            ask: Decimal::new(n * 100 + 1, 2),
            ask_qty: Decimal::new(n * 7, 4),
        }
    }

    #[test]
    fn empty_slots_read_none_and_others_round_trip() {
        let board = QuoteBoard::new(2);
        let v: Venue = "gate-perp".parse().unwrap();
        assert_eq!(board.read(v, InstrumentId(1)), None);
        board.publish(v, InstrumentId(1), &q(5), 77);
        assert_eq!(
            board.read(v, InstrumentId(1)),
            Some(BoardQuote {
                quote: q(5),
                recv_ns: 77
            })
        );
        assert_eq!(board.read(v, InstrumentId(0)), None);
        assert_eq!(
            board.read(v, InstrumentId(9)),
            None,
            "out of range is none, not a panic"
        );
    }

    #[test]
    fn a_reader_never_sees_a_torn_quote() {
        let board = Arc::new(QuoteBoard::new(1));
        let v = Venue::ALL[0];
        board.publish(v, InstrumentId(0), &q(1), 1);
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (board, stop) = (board.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    let got = board.read(v, InstrumentId(0)).unwrap();
                    let n = got.recv_ns as i64;
                    assert_eq!(got.quote, q(n), "torn read");
                    assert!(n >= last, "went back in time");
                    last = n;
                    reads += 1;
                }
                reads
            })
        };
        for n in 2..200_000i64 {
            board.publish(v, InstrumentId(0), &q(n), n as u64);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(board.read(v, InstrumentId(0)).unwrap().recv_ns, 199_999);
    }
}

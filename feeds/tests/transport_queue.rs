//! The feed queue under a real producer/consumer thread pair and a small ring, so that it is full
//! most of the time: every funding update and reset arrives exactly once and in order, quotes of
//! each instrument stay in order, the last quote of each instrument is always delivered, and
//! nothing but quotes is ever conflated.

use carry_engine::{
    Exchange, Funding, InstrumentId, Market, MarketEvent, MarketEventKind, Quote, Venue,
};
use carry_feeds::feed::queue::{bounded, FeedItem, Pushed};
use rust_decimal::Decimal;

const INSTRUMENTS: u16 = 5;

fn event(seq: u64, kind_pick: u64) -> MarketEvent {
    let instrument = InstrumentId((seq % u64::from(INSTRUMENTS)) as u16);
    let kind = match kind_pick {
        0 => MarketEventKind::Funding(Funding {
            rate: Decimal::new(seq as i64, 8),
            predicted_rate: None,
            next_funding_time_ms: 0,
            interval_ms: None,
            mark_price: None,
            index_price: None,
        }),
        1 => MarketEventKind::FeedReset,
        _ => MarketEventKind::Quote(Quote {
            bid: Decimal::from(seq),
            bid_qty: Decimal::ONE,
            ask: Decimal::from(seq + 1),
            ask_qty: Decimal::ONE,
        }),
    };
    MarketEvent {
        venue: Venue::new(Exchange::Gate, Market::Perp),
        instrument,
        ts_ms: seq as i64,
        recv_ns: seq,
        kind,
    }
}

#[test]
fn thread_pair_keeps_every_funding_once_in_order() {
    const N: u64 = 200_000;
    let (mut tx, mut rx) = bounded(16);
    let counters = tx.counters();

    let producer = std::thread::spawn(move || {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut must_arrive = Vec::new();
        let mut last_quote = [None; INSTRUMENTS as usize];
        for seq in 0..N {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // ~1 in 16 funding, ~1 in 256 reset, the rest quotes.
            let pick = match rng % 256 {
                0 => 1,
                n if n % 16 == 1 => 0,
                _ => 2,
            };
            let ev = event(seq, pick);
            if pick == 2 {
                last_quote[ev.instrument.index()] = Some(seq);
            } else {
                must_arrive.push(seq);
            }
            let pushed = tx.push(FeedItem::new(ev, seq)).expect("consumer alive");
            if pick != 2 {
                assert!(matches!(pushed, Pushed::Queued | Pushed::Waited));
            }
        }
        while !tx.flush_pending() {
            std::hint::spin_loop();
        }
        (must_arrive, last_quote)
    });

    let mut got_important = Vec::new();
    let mut last_seen_per_instrument = [None::<u64>; INSTRUMENTS as usize];
    let mut last_quote_seen = [None::<u64>; INSTRUMENTS as usize];
    let mut last_enqueued = 0u64;
    let mut idle_after_done = 0u32;
    loop {
        let mut got_any = false;
        while let Some(item) = rx.pop() {
            got_any = true;
            let seq = item.event.ts_ms as u64;
            let ins = item.event.instrument.index();
            // Per instrument, sequence numbers only go up.
            if let Some(prev) = last_seen_per_instrument[ins] {
                assert!(seq > prev, "instrument {ins}: {seq} after {prev}");
            }
            last_seen_per_instrument[ins] = Some(seq);
            assert!(item.enqueued_ns >= last_enqueued, "enqueue stamps go back");
            last_enqueued = item.enqueued_ns;
            match item.event.kind {
                MarketEventKind::Quote(_) => last_quote_seen[ins] = Some(seq),
                _ => got_important.push(seq),
            }
        }
        if !got_any {
            if producer.is_finished() {
                idle_after_done += 1;
                if idle_after_done > 2 {
                    break;
                }
            } else {
                std::hint::spin_loop();
            }
        }
    }
    let (must_arrive, last_quote) = producer.join().unwrap();
    assert_eq!(
        got_important, must_arrive,
        "funding/reset lost, duplicated or reordered"
    );
    assert_eq!(
        last_quote_seen, last_quote,
        "the latest quote of an instrument was lost"
    );
    let s = counters.snapshot();
    assert!(s.enqueued > 0 && s.enqueued <= N);
    // Everything pushed is either in the ring at some point or conflated away.
    assert_eq!(s.enqueued + s.conflated, N);
    assert!(!must_arrive.is_empty());
}

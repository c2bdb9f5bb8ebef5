//! After warm-up, parsing market data allocates nothing: every market-data fixture (and the
//! control frames, and frames dropped for an unknown symbol or a refused subscription) goes
//! through the real sessions from `venue::market_ws::sessions` many times while a counting global
//! allocator watches this thread.

mod venues_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use carry_engine::{InstrumentSpec, Universe, Venue};
use carry_feeds::venue::market_ws::sessions;
use carry_feeds::{InstrumentSnapshot, VenueSession, VenueSnapshot};
use rust_decimal::Decimal;
use venues_support::{compact, fixture, universe, venue, MARKET_DATA, RECV};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

fn watched() -> bool {
    WATCHED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if watched() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if watched() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Frames that are dropped or are control messages: their paths must not allocate either.
const OTHER_FRAMES: &[(&str, &str)] = &[
    (
        "binance-perp",
        r#"{"e":"markPriceUpdate","E":1,"s":"NOTCONFIGURED","r":"0.1","T":2}"#,
    ),
    ("okx-perp", "pong"),
    (
        "bybit-perp",
        r#"{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}"#,
    ),
    (
        "bitget-perp",
        r#"{"event":"error","code":30001,"msg":"instId:NOPE doesn't exist"}"#,
    ),
    (
        "gate-perp",
        r#"{"type":"service_upgrade","msg":"reconnect please"}"#,
    ),
];

#[test]
fn parsing_allocates_nothing_after_warm_up() {
    // One session per venue, built by the factory over the fixtures' symbols, with the contract
    // sizes REST would supply so that OKX and Gate quotes take the conversion path.
    let mut per_venue: Vec<(Venue, Box<dyn VenueSession>, Arc<Universe>)> = Vec::new();
    for v in Venue::ALL {
        let syms: Vec<&str> = MARKET_DATA
            .iter()
            .filter(|(_, name, _)| venue(name) == v)
            .map(|(_, _, s)| *s)
            .collect();
        let u = Arc::new(universe(v, &syms));
        let mut session = sessions(v, "wss://h", Arc::clone(&u)).remove(0);
        let snapshot = VenueSnapshot {
            venue: Some(v),
            instruments: u
                .iter()
                .map(|(id, _)| InstrumentSnapshot {
                    instrument: id,
                    funding: None,
                    interval_ms: Some(28_800_000),
                    spec: Some(InstrumentSpec {
                        tick_size: Decimal::new(1, 2),
                        lot_size: Decimal::ONE,
                        min_qty: Decimal::ONE,
                        min_notional: Decimal::ZERO,
                        contract_size: Some(Decimal::new(1, 4)),
                    }),
                })
                .collect(),
        };
        session.apply_snapshot(&snapshot);
        per_venue.push((v, session, u));
    }
    // Compact frames (as venues send them) and the pretty-printed originals: the tokenizer
    // reads the two on different paths.
    let frames: Vec<(usize, Vec<u8>)> = MARKET_DATA
        .iter()
        .flat_map(|(f, v, _)| {
            let text = fixture(f);
            [(venue(v).index(), compact(&text)), (venue(v).index(), text)]
        })
        .chain(
            OTHER_FRAMES
                .iter()
                .map(|(v, t)| (venue(v).index(), t.as_bytes().to_vec())),
        )
        .collect();
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut run = |rounds: usize| {
        let mut events = 0usize;
        for _ in 0..rounds {
            for (venue_index, frame) in &frames {
                buf.clear();
                buf.extend_from_slice(frame);
                let session = &mut per_venue[*venue_index].1;
                let _ = session.on_text(&mut buf, RECV, &mut |_| events += 1);
            }
        }
        events
    };
    let warm = run(3);
    assert!(
        warm >= 3 * 15,
        "the fixtures produced events while warming up: {warm}"
    );

    // The counter sees this thread's allocations (else the zero below would prove nothing).
    WATCHED.with(|w| w.set(true));
    let probe = std::hint::black_box(vec![0u8; 16]);
    WATCHED.with(|w| w.set(false));
    drop(probe);
    assert_eq!(ALLOCATIONS.swap(0, Ordering::Relaxed), 1);
    BYTES.store(0, Ordering::Relaxed);

    WATCHED.with(|w| w.set(true));
    let watched_events = run(200);
    WATCHED.with(|w| w.set(false));

    assert_eq!(watched_events, 200 * warm / 3, "same events every round");
    assert_eq!(
        (
            ALLOCATIONS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed)
        ),
        (0, 0),
        "allocations (count, bytes) while parsing after warm-up"
    );
}

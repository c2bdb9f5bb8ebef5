//! Building and signing Bybit order requests allocates nothing once the request's buffers have
//! grown: place (perp and spot, margin), cancel, query, the fill search and the DCP renewal, many
//! times over, while a counting global allocator watches this thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use carry_engine::decision::target::PairId;
use carry_engine::execution::client_id::{ClientOrderId, InstanceId};
use carry_engine::execution::order::{IntentAction, Leg, OrderIntent, Side, Step, TimeInForce};
use carry_engine::market::venue::{Exchange, Market};
use carry_engine::{InstrumentId, Venue};
use carry_feeds::gateway::credentials::{Credentials, Secret};
use carry_feeds::gateway::live::{ApiConfig, Call, OrderApi};
use carry_feeds::gateway::request::Request;
use carry_feeds::venue::bybit::orders::BybitOrders;

struct Counting;

thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // try_with: the allocator may run while thread-locals are being torn down.
    if WATCHED.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn watching<T>(f: impl FnOnce() -> T) -> (T, u64) {
    ALLOCATIONS.with(|a| a.set(0));
    WATCHED.with(|w| w.set(true));
    let out = f();
    WATCHED.with(|w| w.set(false));
    (out, ALLOCATIONS.with(Cell::get))
}

fn intent(
    venue: Venue,
    cycle: u32,
    side: Side,
    tif: TimeInForce,
    price: &str,
    qty: &str,
) -> OrderIntent {
    let instance = InstanceId::new("prod1").unwrap();
    OrderIntent {
        action: IntentAction::Place,
        client_order_id: ClientOrderId::new(&instance, cycle, Step::Hedge, Leg::Short, 7).unwrap(),
        pair: PairId(0),
        cycle,
        step: Step::Hedge,
        leg: Leg::Short,
        attempt: 7,
        venue,
        instrument: InstrumentId(0),
        side,
        tif,
        reduce_only: true,
        price: price.parse().unwrap(),
        qty_base: qty.parse().unwrap(),
        qty_venue: qty.parse().unwrap(),
    }
}

#[test]
fn building_and_signing_allocates_nothing_after_warm_up() {
    let config = |margin_spot| ApiConfig {
        credentials: Credentials {
            key: Secret::new("k".repeat(18)),
            secret: Secret::new("s".repeat(36)),
            passphrase: None,
        },
        recv_window_ms: 5_000,
        demo_trading: false,
        margin_spot,
    };
    let perp = Venue::new(Exchange::Bybit, Market::Perp);
    let spot = Venue::new(Exchange::Bybit, Market::Spot);
    let mut apis = [
        BybitOrders::new(perp, &config(false)),
        BybitOrders::new(spot, &config(true)),
    ];
    let orders = [
        intent(perp, 1, Side::Sell, TimeInForce::Ioc, "65000.10", "0.015"),
        intent(
            spot,
            2,
            Side::Buy,
            TimeInForce::Gtc,
            "0.000012345",
            "1234567.8",
        ),
    ];
    let mut req = Request::new();
    let mut run = |rounds: i64| {
        let mut bytes = 0usize;
        for round in 0..rounds {
            for (api, order) in apis.iter_mut().zip(&orders) {
                for call in [Call::Place, Call::Cancel, Call::Query, Call::Fills] {
                    api.build(call, order, "BTCUSDT", 1_700_000_000_000 + round, &mut req);
                    bytes += req.body_str().len() + req.query_str().len();
                }
                // Spaced a window apart, so each one is built.
                api.build_dead_man_switch(
                    "BTCUSDT",
                    60_000,
                    1_700_000_000_000 + round * 60_000,
                    &mut req,
                );
            }
        }
        bytes
    };
    let warm = run(3);
    assert!(warm > 0);

    // The counter sees this thread's allocations (else the zero below would prove nothing).
    let (_, probe) = watching(|| std::hint::black_box(vec![0u8; 16]));
    assert_eq!(probe, 1);

    let (bytes, allocations) = watching(|| run(500));
    assert_eq!(bytes, 500 * (warm / 3), "the same requests were built");
    assert_eq!(allocations, 0, "allocations while building and signing");
}

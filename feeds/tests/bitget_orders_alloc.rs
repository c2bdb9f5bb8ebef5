//! The hot-path rule of DESIGN.md for Bitget's order entry, measured: once the reused request's
//! buffers have grown, building and signing a place, cancel or query (futures, spot and cross
//! margin) allocates nothing, and neither does reading a place answer (an acknowledgement).
//! A counting global allocator counts on the test thread while a flag is up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use carry_engine::decision::target::PairId;
use carry_engine::execution::client_id::{ClientOrderId, InstanceId};
use carry_engine::execution::order::{
    IntentAction, Leg, OrderIntent, OrderStatus, Side, Step, TimeInForce,
};
use carry_engine::InstrumentId;
use carry_feeds::gateway::credentials::{Credentials, Secret};
use carry_feeds::gateway::http::Answer;
use carry_feeds::gateway::live::{ApiConfig, Call, OrderApi, OrderState, Reading};

use carry_feeds::gateway::request::Request;
use carry_feeds::venue::bitget::orders::BitgetOrders;
use rust_decimal::Decimal;

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
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn intent(venue: &str, cycle: u32, price: Decimal, qty: Decimal) -> OrderIntent {
    let instance = InstanceId::new("prod1").unwrap();
    OrderIntent {
        action: IntentAction::Place,
        client_order_id: ClientOrderId::new(&instance, cycle, Step::Hedge, Leg::Short, 3).unwrap(),
        pair: PairId(0),
        cycle,
        step: Step::Hedge,
        leg: Leg::Short,
        attempt: 3,
        venue: venue.parse().unwrap(),
        instrument: InstrumentId(0),
        side: Side::Sell,
        tif: TimeInForce::Ioc,
        reduce_only: true,
        price,
        qty_base: qty,
        qty_venue: qty,
    }
}

#[test]
fn building_signing_and_reading_an_acknowledgement_allocate_nothing_after_warm_up() {
    let config = |margin_spot| ApiConfig {
        credentials: Credentials {
            key: Secret::new("bg-key-0123456789abcdef"),
            secret: Secret::new("bg-secret-0123456789abcdef"),
            passphrase: Some(Secret::new("bg-pass")),
        },
        recv_window_ms: 5_000,
        demo_trading: true,
        margin_spot,
    };
    let mut apis = [
        BitgetOrders::new("bitget-perp".parse().unwrap(), &config(false)),
        BitgetOrders::new("bitget-spot".parse().unwrap(), &config(false)),
        BitgetOrders::new("bitget-spot".parse().unwrap(), &config(true)),
    ];
    let ack = br#"{"code":"00000","msg":"success","requestTime":1695806875837,"data":{"clientOid":"prod10000016HS003","orderId":"121211212122"}}"#;
    let headers = [Some("9".to_string()), None];
    let mut req = Request::new();
    let round = |apis: &mut [BitgetOrders; 3], req: &mut Request, n: u32| {
        for (api, venue) in apis
            .iter_mut()
            .zip(["bitget-perp", "bitget-spot", "bitget-spot"])
        {
            let order = intent(
                venue,
                1_000 + n,
                Decimal::new(6_500_012_345 + i64::from(n), 5),
                Decimal::new(123_456 + i64::from(n), 6),
            );
            for call in [Call::Place, Call::Cancel, Call::Query, Call::Fills] {
                api.build(
                    call,
                    &order,
                    "BTCUSDT",
                    1_700_000_000_000 + i64::from(n),
                    req,
                );
                assert!(!req.header_value("ACCESS-SIGN").unwrap_or("").is_empty());
            }
            api.build(Call::Place, &order, "BTCUSDT", 1, req);
            let answer = Answer {
                status: 200,
                headers: &headers,
                body: ack,
            };
            assert_eq!(
                api.read(Call::Place, &order, &answer),
                Reading::Order(OrderState::empty(OrderStatus::Open))
            );
        }
    };
    round(&mut apis, &mut req, 0);
    WATCHED.with(|w| w.set(true));
    for n in 1..200 {
        round(&mut apis, &mut req, n);
    }
    WATCHED.with(|w| w.set(false));
    assert_eq!(ALLOCATIONS.with(Cell::get), 0);
}

//! After warm-up, building and signing a Binance order request allocates nothing: place (perp,
//! spot, margin spot; IOC and GTC; reduce-only), cancel and query go through
//! `BinanceOrders::build` into one reused `Request` many times while a counting global allocator
//! watches this thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use carry_engine::decision::target::PairId;
use carry_engine::execution::client_id::{ClientOrderId, InstanceId};
use carry_engine::execution::order::{IntentAction, Leg, OrderIntent, Side, Step, TimeInForce};
use carry_engine::{InstrumentId, Venue};
use carry_feeds::gateway::credentials::{Credentials, Secret};
use carry_feeds::gateway::live::{ApiConfig, Call, OrderApi};
use carry_feeds::gateway::request::Request;
use carry_feeds::venue::binance::orders::BinanceOrders;
use rust_decimal::Decimal;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

fn watched() -> bool {
    WATCHED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if watched() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if watched() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn intent(
    venue: Venue,
    cycle: u32,
    side: Side,
    tif: TimeInForce,
    reduce_only: bool,
) -> OrderIntent {
    let leg = if side == Side::Buy {
        Leg::Long
    } else {
        Leg::Short
    };
    OrderIntent {
        action: IntentAction::Place,
        client_order_id: ClientOrderId::new(
            &InstanceId::new("prod1").unwrap(),
            cycle,
            Step::Hedge,
            leg,
            3,
        )
        .unwrap(),
        pair: PairId(0),
        cycle,
        step: Step::Hedge,
        leg,
        attempt: 3,
        venue,
        instrument: InstrumentId(0),
        side,
        tif,
        reduce_only,
        price: Decimal::new(6_512_345, 1) + Decimal::from(cycle),
        qty_base: Decimal::new(1_234, 5),
        qty_venue: Decimal::new(1_234, 5),
    }
}

#[test]
fn building_and_signing_allocates_nothing_after_warm_up() {
    let config = |margin_spot| ApiConfig {
        credentials: Credentials {
            key: Secret::new("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"),
            secret: Secret::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"),
            passphrase: None,
        },
        recv_window_ms: 5_000,
        demo_trading: false,
        margin_spot,
    };
    let perp: Venue = "binance-perp".parse().unwrap();
    let spot: Venue = "binance-spot".parse().unwrap();
    let mut apis = [
        BinanceOrders::new(perp, &config(false)),
        BinanceOrders::new(spot, &config(false)),
        BinanceOrders::new(spot, &config(true)),
    ];
    let mut req = Request::new();
    let mut round = |watch: bool| {
        for api in &mut apis {
            let venue = api.venue();
            for cycle in 0..50u32 {
                let side = if cycle % 2 == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let tif = if cycle % 3 == 0 {
                    TimeInForce::Gtc
                } else {
                    TimeInForce::Ioc
                };
                let order = intent(venue, cycle, side, tif, cycle % 5 == 0);
                let ms = 1_700_000_000_000 + i64::from(cycle);
                WATCHED.with(|w| w.set(watch));
                for call in [Call::Place, Call::Cancel, Call::Query] {
                    api.build(call, &order, "BTCUSDT", ms, &mut req);
                }
                WATCHED.with(|w| w.set(false));
                assert!(req.query_str().contains("&signature="));
            }
        }
    };
    round(false);
    ALLOCATIONS.store(0, Ordering::Relaxed);
    round(true);
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations while building"
    );
}

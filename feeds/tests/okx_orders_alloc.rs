//! After warm-up, OKX's order API builds and signs every order request, and reads the answers
//! of the order path, without allocating: a counting global allocator watches this thread
//! while perp and spot requests are built and answers read many times.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use carry_engine::decision::target::PairId;
use carry_engine::execution::client_id::ClientOrderId;
use carry_engine::execution::order::{
    IntentAction, Leg, OrderIntent, OrderStatus, Side, Step, TimeInForce,
};
use carry_engine::{Exchange, InstrumentId, Market, Venue};
use carry_feeds::gateway::credentials::{Credentials, Secret};
use carry_feeds::gateway::http::Answer;
use carry_feeds::gateway::live::{ApiConfig, Call, OrderApi, Reading};
use carry_feeds::gateway::request::Request;
use carry_feeds::venue::okx::orders::OkxOrders;
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

const PLACE_ACK: &str = r#"{"code":"0","msg":"","data":[{"clOrdId":"T1c7EL1","ordId":"312269865356374016","tag":"","ts":"1695190491421","sCode":"0","sMsg":"","subCode":""}],"inTime":"1695190491421339","outTime":"1695190491423240"}"#;
const DUPLICATE: &str = r#"{"code":"1","msg":"All operations failed","data":[{"clOrdId":"T1c7EL1","ordId":"","tag":"","ts":"1695190491421","sCode":"51016","sMsg":"Duplicated clOrdId","subCode":""}]}"#;
const QUERY: &str = r#"{"code":"0","msg":"","data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","ordId":"1","clOrdId":"T1c7EL1","px":"65000.1","sz":"2","ordType":"ioc","side":"buy","posSide":"net","tdMode":"cross","accFillSz":"1","fillPx":"65000","fillSz":"1","avgPx":"65000","state":"canceled","feeCcy":"USDT","fee":"-0.325","rebateCcy":"USDT","rebate":"0","reduceOnly":"false","cancelSource":"14","uTime":"1","cTime":"1"}]}"#;

fn intent(venue: Venue, n: u16) -> OrderIntent {
    OrderIntent {
        action: IntentAction::Place,
        client_order_id: ClientOrderId::from_bytes(format!("T1c7EL{n}").as_bytes()).unwrap(),
        pair: PairId(0),
        cycle: 7,
        step: Step::Entry,
        leg: Leg::Long,
        attempt: n,
        venue,
        instrument: InstrumentId(0),
        side: Side::Buy,
        tif: TimeInForce::Ioc,
        reduce_only: venue.is_perp(),
        price: Decimal::new(650_001 + i64::from(n), 1),
        qty_base: Decimal::new(2 + i64::from(n), 2),
        qty_venue: Decimal::new(2 + i64::from(n), 0),
    }
}

#[test]
fn building_signing_and_reading_allocate_nothing_after_warm_up() {
    let config = ApiConfig {
        credentials: Credentials {
            key: Secret::new("okx-key"),
            secret: Secret::new("22582BD0CFF14C41EDBF1AB98506286D"),
            passphrase: Some(Secret::new("pass-1")),
        },
        recv_window_ms: 5_000,
        demo_trading: true,
        margin_spot: true,
    };
    let markets = [(Market::Perp, "BTC-USDT-SWAP"), (Market::Spot, "BTC-USDT")];
    let mut apis: Vec<(OkxOrders, &str, Vec<OrderIntent>)> = markets
        .iter()
        .map(|&(m, symbol)| {
            let venue = Venue::new(Exchange::Okx, m);
            let intents = (0..8).map(|n| intent(venue, n)).collect();
            (OkxOrders::new(venue, &config), symbol, intents)
        })
        .collect();
    let mut req = Request::new();
    let answer = |body: &'static str| Answer {
        status: 200,
        headers: &[],
        body: body.as_bytes(),
    };
    let round = |apis: &mut Vec<(OkxOrders, &str, Vec<OrderIntent>)>, req: &mut Request| {
        let mut checks = 0;
        for (api, symbol, intents) in apis.iter_mut() {
            for (i, order) in intents.iter().enumerate() {
                for call in [Call::Place, Call::Cancel, Call::Query, Call::Fills] {
                    api.build(call, order, symbol, 1_607_418_537_715 + i as i64, req);
                    checks += req.body_str().len() + req.query_str().len();
                }
                let read = api.read(Call::Place, order, &answer(PLACE_ACK));
                assert!(matches!(read, Reading::Order(_)));
                let read = api.read(Call::Place, order, &answer(DUPLICATE));
                assert_eq!(read, Reading::Duplicate { code: 51016 });
                let read = api.read(Call::Query, order, &answer(QUERY));
                assert!(
                    matches!(read, Reading::Order(s) if s.status == OrderStatus::Canceled),
                    "{read:?}"
                );
            }
        }
        checks
    };
    // Warm-up: the request's buffers grow to their working size.
    round(&mut apis, &mut req);

    WATCHED.with(|w| w.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut checks = 0;
    for _ in 0..50 {
        checks += round(&mut apis, &mut req);
    }
    let allocated = ALLOCATIONS.load(Ordering::Relaxed) - before;
    WATCHED.with(|w| w.set(false));
    assert!(checks > 0);
    assert_eq!(allocated, 0, "allocations while building and reading");
}

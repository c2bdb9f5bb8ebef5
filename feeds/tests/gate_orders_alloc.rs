//! After warm-up, Gate's order API builds and signs every order request, and reads every order
//! answer, without allocating: a counting global allocator watches this thread while intents
//! for both markets go through `build` and answers of every shape through `read`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use carry_engine::decision::target::PairId;
use carry_engine::execution::client_id::ClientOrderId;
use carry_engine::execution::order::{IntentAction, Leg, OrderIntent, Side, Step, TimeInForce};
use carry_engine::{InstrumentId, Venue};
use carry_feeds::gateway::credentials::{Credentials, Secret};
use carry_feeds::gateway::http::Answer;
use carry_feeds::gateway::live::{ApiConfig, Call, OrderApi, Reading};
use carry_feeds::gateway::request::Request;
use carry_feeds::venue::gate::orders::GateOrders;
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

fn intent(venue: Venue, side: Side, tif: TimeInForce, action: IntentAction) -> OrderIntent {
    OrderIntent {
        action,
        client_order_id: ClientOrderId::from_bytes(b"T1abc123").unwrap(),
        pair: PairId(0),
        cycle: 1,
        step: Step::Entry,
        leg: Leg::Long,
        attempt: 0,
        venue,
        instrument: InstrumentId(0),
        side,
        tif,
        reduce_only: side == Side::Sell,
        price: Decimal::new(650_001, 1),
        qty_base: Decimal::new(3, 4),
        qty_venue: if venue.is_perp() {
            Decimal::new(3, 0)
        } else {
            Decimal::new(3, 4)
        },
    }
}

const PERP_FILLED: &str = r#"{"id":2,"status":"finished","finish_as":"filled","contract":"BTC_USDT","size":-3,"left":0,"price":"65000.1","fill_price":"65000.1","text":"t-T1abc123","tkfr":"0.00075","mkfr":"-0.00025","tif":"ioc"}"#;
const SPOT_FILLED: &str = r#"{"id":"7","text":"t-T1abc123","status":"closed","currency_pair":"BTC_USDT","side":"buy","amount":"0.0003","left":"0","filled_amount":"0.0003","filled_total":"19.5","avg_deal_price":"65000","fee":"0.0000006","fee_currency":"BTC","finish_as":"filled"}"#;
const TRADES: &str = r#"[{"id":1,"size":-3,"amount":"0.0003","price":"65000.1","text":"t-T1abc123","fee":"0.01","fee_currency":"USDT"},{"id":2,"size":1,"price":"1","text":"t-other","fee":"0"}]"#;
const REFUSED: &str =
    r#"{"label":"INSUFFICIENT_AVAILABLE","message":"Insufficient available balance"}"#;
const NOT_FOUND: &str = r#"{"label":"CLIENT_ID_NOT_FOUND","message":"not found"}"#;

#[test]
fn building_signing_and_reading_allocate_nothing_after_warm_up() {
    let config = ApiConfig {
        credentials: Credentials {
            key: Secret::new("a-gate-api-key-of-the-usual-length-00000000"),
            secret: Secret::new("a-gate-api-secret-of-the-usual-length-000000000000000000000000"),
            passphrase: None,
        },
        recv_window_ms: 5_000,
        demo_trading: false,
        margin_spot: true,
    };
    let mut apis: Vec<(GateOrders, &str, &str)> = ["gate-perp", "gate-spot"]
        .iter()
        .map(|v| {
            let venue: Venue = v.parse().unwrap();
            let filled = if venue.is_perp() {
                PERP_FILLED
            } else {
                SPOT_FILLED
            };
            (GateOrders::new(venue, &config), filled, *v)
        })
        .collect();
    let mut req = Request::new();
    let headers = [
        Some("98".to_string()),
        Some("100".to_string()),
        Some("1700000001000".to_string()),
    ];
    let answer = |status: u16, body: &'static str| Answer {
        status,
        headers: &headers,
        body: body.as_bytes(),
    };
    let mut run = |rounds: usize| {
        let mut readings = 0usize;
        for round in 0..rounds {
            for (api, filled, _) in apis.iter_mut() {
                let venue = api.venue();
                let now = 1_700_000_000_000 + round as i64;
                for (side, tif) in [
                    (Side::Buy, TimeInForce::Ioc),
                    (Side::Sell, TimeInForce::Gtc),
                ] {
                    let o = intent(venue, side, tif, IntentAction::Place);
                    for (call, status, body) in [
                        (Call::Place, 201, *filled),
                        (Call::Place, 400, REFUSED),
                        (Call::Cancel, 200, *filled),
                        (Call::Query, 404, NOT_FOUND),
                        (Call::Fills, 200, TRADES),
                    ] {
                        api.build(call, &o, "BTC_USDT", now, &mut req);
                        let reading = api.read(call, &o, &answer(status, body));
                        readings += usize::from(!matches!(reading, Reading::Unknown { .. }));
                    }
                    // A resend's three steps.
                    let resend = intent(venue, side, tif, IntentAction::Resend);
                    for (status, body) in [(404, NOT_FOUND), (200, "[]"), (201, *filled)] {
                        api.build(Call::Place, &resend, "BTC_USDT", now, &mut req);
                        api.read(Call::Place, &resend, &answer(status, body));
                    }
                }
                api.build_dead_man_switch("BTC_USDT", 60_000, now, &mut req);
            }
        }
        readings
    };
    let warm = run(3);
    assert_eq!(
        warm,
        3 * 2 * 2 * 5,
        "every answer above reads as something definite"
    );
    WATCHED.with(|w| w.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    run(100);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    WATCHED.with(|w| w.set(false));
    assert_eq!(allocations, 0, "allocations after warm-up");
}

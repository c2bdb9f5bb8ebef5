//! carry's Binance gateways (`carry_feeds::venue::binance::orders` under a `LiveGateway`)
//! against the simulated Binance, which checks every signature, timestamp, client id, lot and
//! band as Binance documents them. Each case runs on the USDⓈ-M perp and on spot; what the
//! venue accepted is read from its own record, never from carry's reports.

mod live_support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use carry::sim::record::Finish;
use carry::sim::{RateLimit, SimConfig, SimFault, SimRateLimits, Wallet};
use carry_engine::execution::order::{
    ExecKind, ExecReport, OrderIntent, OrderStatus, RejectReason, Side, TimeInForce,
};
use carry_engine::{Exchange, Venue};
use carry_feeds::gateway::budget::Limit;
use carry_feeds::gateway::credentials::Secret;
use carry_feeds::gateway::http::{HttpClient, HttpTimeouts};
use carry_feeds::gateway::live::{Call, LiveGateway, LiveOptions, OrderApi, Reading, Setup};
use carry_feeds::gateway::request::Request;
use carry_feeds::gateway::Gateway;
use carry_feeds::transport::clock::{mono_ns, unix_ms};
use carry_feeds::venue::binance::orders::BinanceOrders;
use live_support::*;
use rust_decimal::Decimal;

const BTC: &str = "BTC-USDT";
const PATIENCE: Duration = Duration::from_secs(15);

fn perp() -> Venue {
    v("binance-perp")
}

fn spot() -> Venue {
    v("binance-spot")
}

fn rig() -> LiveRig {
    rig_with(|c| c)
}

fn rig_with(change: impl FnOnce(SimConfig) -> SimConfig) -> LiveRig {
    LiveRig::start(change(SimConfig {
        instruments: vec![BTC.into()],
        venues: vec![perp(), spot()],
        ..fast_config(&[BTC])
    }))
}

fn api(rig: &LiveRig, venue: Venue) -> BinanceOrders {
    BinanceOrders::new(venue, &rig.api_config(venue))
}

fn gateway(rig: &LiveRig, venue: Venue) -> LiveGateway<BinanceOrders> {
    rig.gateway(api(rig, venue))
}

/// `px` moved by `pct` percent, on the simulated BTC tick (0.1).
fn away(px: Decimal, pct: i64) -> Decimal {
    (px * (Decimal::ONE_HUNDRED + Decimal::from(pct)) / Decimal::ONE_HUNDRED).round_dp(1)
}

/// An IOC through the touch on `side` (it takes what the book shows).
fn taking(rig: &LiveRig, venue: Venue, side: Side, qty: &str, cycle: u32) -> OrderIntent {
    let t = rig.touch(venue, BTC);
    let price = match side {
        Side::Buy => away(t.ask, 1),
        Side::Sell => away(t.bid, -1),
    };
    rig.intent(venue, BTC, side, TimeInForce::Ioc, price, d(qty), cycle, 0)
}

/// A GTC buy 2 % under the bid: it rests.
fn resting(rig: &LiveRig, venue: Venue, cycle: u32) -> OrderIntent {
    let bid = rig.touch(venue, BTC).bid;
    rig.intent(
        venue,
        BTC,
        Side::Buy,
        TimeInForce::Gtc,
        away(bid, -2),
        d("0.002"),
        cycle,
        0,
    )
}

/// An IOC through the touch ended trading: filled, or filled in part and expired (the touch
/// shows between one lot and 200 000 USDT).
fn ended_trading(r: &ExecReport) -> bool {
    r.cum_qty_base > Decimal::ZERO
        && matches!(
            (r.kind, r.status),
            (ExecKind::Fill, OrderStatus::Filled) | (ExecKind::Canceled, OrderStatus::Canceled)
        )
}

fn one(reports: Vec<ExecReport>, what: &str) -> ExecReport {
    assert_eq!(reports.len(), 1, "{what}: {reports:?}");
    reports[0]
}

/// Queries `intent` until the gateway reports on it (the engine probes the same way). A spot
/// order whose fees are not known takes two queries: the order, then its trades.
fn resolve(gw: &mut dyn Gateway, intent: &OrderIntent) -> ExecReport {
    for _ in 0..3 {
        let out = call(gw, &as_query(intent));
        if let Some(r) = out.first() {
            assert_eq!(out.len(), 1, "{out:?}");
            assert_eq!(r.kind, ExecKind::QueryAnswer, "{r:?}");
            return *r;
        }
    }
    panic!("{} never resolved", intent.client_order_id.as_str());
}

/// Waits (bounded) for a condition the simulator reaches on its own clock.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ioc_orders_fill_and_fill_partly_and_queries_agree_with_the_venue() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let who = venue.as_str();

        let small = taking(&rig, venue, Side::Buy, "0.001", 1);
        let r = one(call(&mut gw, &small), who);
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::Fill, OrderStatus::Filled),
            "{who}: {r:?}"
        );
        assert!(
            r.avg_price > Decimal::ZERO && r.avg_price <= small.price,
            "{who}: {r:?}"
        );

        // 10 BTC is more than the touch ever shows: part fills, the remainder expires.
        let big = taking(&rig, venue, Side::Buy, "10", 2);
        let r = one(call(&mut gw, &big), who);
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::Canceled, OrderStatus::Canceled),
            "{who}"
        );
        assert!(
            r.cum_qty_base > Decimal::ZERO && r.cum_qty_base < d("10"),
            "{who}: {r:?}"
        );
        let q = resolve(&mut gw, &big);
        assert_eq!(
            (q.status, q.cum_qty_base),
            (r.status, r.cum_qty_base),
            "{who}"
        );

        let record = rig.accepted(venue);
        let big_rec = record
            .iter()
            .find(|o| o.client_id == big.client_order_id.as_str())
            .expect("the venue has it");
        let venue_filled: Decimal = big_rec.fills.iter().map(|f| f.qty).sum();
        let fee_base: Decimal = if venue.is_perp() {
            Decimal::ZERO
        } else {
            big_rec.fills.iter().map(|f| f.fee).sum()
        };
        assert_eq!(r.cum_qty_base, venue_filled - fee_base, "{who}");
        assert_eq!(
            big_rec.stp, "EXPIRE_TAKER",
            "{who}: self-trade prevention on every order"
        );
        for o in [&small, &big] {
            assert_eq!(rig.accepted_count(venue, &o.client_order_id), 1, "{who}");
        }
    }
}

#[test]
fn perp_reduce_only_sells_close_what_is_held_and_nothing_more() {
    let rig = rig();
    let mut gw = gateway(&rig, perp());
    let open = taking(&rig, perp(), Side::Buy, "0.003", 1);
    let held = one(call(&mut gw, &open), "open").cum_qty_base;
    assert!(held > Decimal::ZERO);
    // Reduce-only sells of more than is held: together they sell exactly what was held, then
    // the venue refuses the next one.
    let mut sold = Decimal::ZERO;
    for cycle in 2..20 {
        let mut close = taking(&rig, perp(), Side::Sell, "0.01", cycle);
        close.reduce_only = true;
        let r = one(call(&mut gw, &close), "close");
        if r.kind == ExecKind::Rejected {
            assert_eq!(
                (r.reject, r.venue_code),
                (RejectReason::ReduceOnly, -2022),
                "{r:?}"
            );
            assert_eq!(sold, held);
            let rec = rig.accepted(perp());
            assert!(rec.iter().skip(1).all(|o| o.reduce_only), "{rec:?}");
            return;
        }
        assert!(r.cum_qty_base > Decimal::ZERO, "{r:?}");
        sold += r.cum_qty_base;
    }
    panic!("reduce-only sells never stopped: sold {sold} of {held}");
}

#[test]
fn gtc_orders_rest_answer_queries_and_cancel() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let who = venue.as_str();
        let o = resting(&rig, venue, 1);
        let r = one(call(&mut gw, &o), who);
        assert_eq!(
            (r.kind, r.status, r.cum_qty_base),
            (ExecKind::Ack, OrderStatus::Open, Decimal::ZERO),
            "{who}"
        );
        let q = resolve(&mut gw, &o);
        assert_eq!(q.status, OrderStatus::Open, "{who}");

        let c = one(call(&mut gw, &as_cancel(&o)), who);
        assert_eq!(
            (c.kind, c.status),
            (ExecKind::Canceled, OrderStatus::Canceled),
            "{who}"
        );
        assert_eq!(resolve(&mut gw, &o).status, OrderStatus::Canceled, "{who}");
        let rec = rig.accepted(venue);
        assert_eq!(rec.len(), 1, "{who}");
        assert_eq!(rec[0].finish, Some(Finish::Canceled), "{who}");
        assert_eq!(rec[0].qty, d("0.002"));
        assert_eq!(rec[0].price, o.price);
    }
}

#[test]
fn a_resent_id_is_answered_as_a_duplicate_describing_the_order() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let who = venue.as_str();
        let o = resting(&rig, venue, 1);
        one(call(&mut gw, &o), who);
        let r = one(call(&mut gw, &as_resend(&o)), who);
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::Duplicate, OrderStatus::Open),
            "{who}: {r:?}"
        );
        assert_eq!(rig.accepted_count(venue, &o.client_order_id), 1, "{who}");

        // Binance refuses the id only while that order is open: once it is cancelled, the same
        // id is a new order. This is why `resolve = "resend"` is refused for Binance.
        one(call(&mut gw, &as_cancel(&o)), who);
        let r = one(call(&mut gw, &as_resend(&o)), who);
        assert_eq!(r.kind, ExecKind::Ack, "{who}: {r:?}");
        assert_eq!(rig.accepted_count(venue, &o.client_order_id), 2, "{who}");
        one(call(&mut gw, &as_cancel(&o)), who);
    }
}

#[test]
fn an_unknown_id_is_not_found_by_query_or_cancel() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let who = venue.as_str();
        let never = resting(&rig, venue, 9);
        let q = one(call(&mut gw, &as_query(&never)), who);
        assert_eq!(
            (q.kind, q.status),
            (ExecKind::QueryAnswer, OrderStatus::NotFound),
            "{who}"
        );
        // The cancel is refused as unknown (-2011), and the query that follows says not found.
        let c = one(call(&mut gw, &as_cancel(&never)), who);
        assert_eq!(
            (c.kind, c.status),
            (ExecKind::QueryAnswer, OrderStatus::NotFound),
            "{who}"
        );
        assert!(rig.accepted(venue).is_empty());
    }
}

#[test]
fn a_wrong_secret_or_key_is_refused_as_auth() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let who = venue.as_str();
        let mut config = rig.api_config(venue);
        config.credentials.secret = Secret::new("not-the-secret");
        let mut gw = rig.gateway(BinanceOrders::new(venue, &config));
        let r = one(
            call(&mut gw, &taking(&rig, venue, Side::Buy, "0.001", 1)),
            who,
        );
        assert_eq!(
            (r.kind, r.reject, r.venue_code),
            (ExecKind::Rejected, RejectReason::Auth, -1022),
            "{who}"
        );

        let mut config = rig.api_config(venue);
        config.credentials.key = Secret::new("not-the-key");
        let mut gw = rig.gateway(BinanceOrders::new(venue, &config));
        let r = one(
            call(&mut gw, &taking(&rig, venue, Side::Buy, "0.001", 2)),
            who,
        );
        assert_eq!(
            (r.reject, r.venue_code),
            (RejectReason::Auth, -2015),
            "{who}"
        );
        assert!(rig.accepted(venue).is_empty(), "{who}");
    }
}

#[test]
fn a_skewed_clock_is_refused_once_then_the_same_id_goes_through_after_a_resync() {
    let rig = rig();
    // Behind: the venue is 30 s ahead, carry's timestamps fall outside recvWindow. Ahead: the
    // venue is 5 s behind, carry's timestamps are more than 1 s in its future.
    for (venue, skew) in [
        (perp(), 30_000),
        (spot(), -5_000),
        (perp(), -5_000),
        (spot(), 30_000),
    ] {
        rig.sim.set_clock_skew(Exchange::Binance, 0);
        let mut gw = gateway(&rig, venue);
        gw.warm_up(mono_ns()).expect("the venue answers");
        rig.sim.set_clock_skew(Exchange::Binance, skew);
        let cycle = if skew > 0 { 1 } else { 2 };
        let o = taking(&rig, venue, Side::Buy, "0.001", cycle);
        let r = one(call(&mut gw, &o), venue.as_str());
        assert_eq!(r.status, OrderStatus::Filled, "{venue} {skew}: {r:?}");
        let stats = gw.stats();
        assert_eq!(stats.timestamp_rejects.load(Ordering::Relaxed), 1);
        assert!((stats.clock_offset_ms.load(Ordering::Relaxed) - skew).abs() < 1_000);
        assert_eq!(
            rig.accepted_count(venue, &o.client_order_id),
            1,
            "{venue} {skew}"
        );
    }
    rig.sim.set_clock_skew(Exchange::Binance, 0);
}

/// Submits `orders` at once, then polls until each has a report (or the patience runs out).
fn burst(gw: &mut LiveGateway<BinanceOrders>, orders: &[OrderIntent]) -> Vec<ExecReport> {
    let mut reports = Vec::new();
    for o in orders {
        reports.extend(call(gw, o));
    }
    let first = reports.len();
    reports.extend(poll_until(gw, PATIENCE, |r| {
        r.len() + first >= orders.len()
    }));
    reports
}

static ONE_SECOND_LIMIT: [Limit; 1] = [Limit {
    count: 5,
    window_ms: 1_000,
}];

/// A simulator whose two markets each allow `orders` new orders per `window`.
fn rig_limited(orders: u32, window: Duration) -> LiveRig {
    let limit = RateLimit::new(orders, window);
    let lots = RateLimit::new(10_000, Duration::from_secs(60));
    rig_with(|c| SimConfig {
        rate_limits: SimRateLimits {
            binance_perp_orders: [limit, lots],
            binance_spot_orders: [limit, lots],
            ..SimRateLimits::default()
        },
        ..c
    })
}

#[test]
fn a_burst_past_the_order_limit_waits_in_the_backlog_and_every_order_goes_once() {
    // The venue allows 5 orders a second; carry's budget knows it (at 90 %: 4).
    let rig = rig_limited(5, Duration::from_secs(1));
    for venue in [perp(), spot()] {
        let who = venue.as_str();
        let mut gw = rig.gateway(api(&rig, venue).with_order_limits(&ONE_SECOND_LIMIT));
        let orders: Vec<OrderIntent> = (1..=9)
            .map(|cycle| taking(&rig, venue, Side::Buy, "0.001", cycle))
            .collect();
        let reports = burst(&mut gw, &orders);
        let stats = gw.stats();
        assert!(reports.iter().all(ended_trading), "{who}: {reports:?}");
        assert_eq!(reports.len(), orders.len(), "{who}");
        assert_eq!(
            stats.throttled.load(Ordering::Relaxed),
            0,
            "{who}: the budget held them, the venue never had to"
        );
        for o in &orders {
            assert_eq!(rig.accepted_count(venue, &o.client_order_id), 1, "{who}");
            assert_eq!(
                reports
                    .iter()
                    .filter(|r| r.client_order_id == o.client_order_id)
                    .count(),
                1
            );
        }
    }
}

#[test]
fn a_venue_throttle_holds_intents_and_none_is_refused() {
    // The venue allows 3 a second; carry only knows the documented limits, so the venue
    // refuses with -1015 (futures with Retry-After, spot without), and the refused intent goes
    // again under the same id once the pause has passed.
    let rig = rig_limited(3, Duration::from_secs(1));
    for venue in [perp(), spot()] {
        let who = venue.as_str();
        let mut gw = gateway(&rig, venue);
        let orders: Vec<OrderIntent> = (1..=6)
            .map(|cycle| taking(&rig, venue, Side::Buy, "0.001", cycle))
            .collect();
        let reports = burst(&mut gw, &orders);
        assert!(reports.iter().all(ended_trading), "{who}: {reports:?}");
        assert_eq!(reports.len(), orders.len(), "{who}");
        assert!(gw.stats().throttled.load(Ordering::Relaxed) >= 1, "{who}");
        for o in &orders {
            assert_eq!(rig.accepted_count(venue, &o.client_order_id), 1, "{who}");
        }
    }
}

#[test]
fn an_order_count_refusal_says_when_to_come_back_on_futures_only() {
    let rig = rig_limited(1, Duration::from_secs(60));
    for venue in [perp(), spot()] {
        let mut api = api(&rig, venue);
        let mut http = HttpClient::new(
            HttpClient::agent(HttpTimeouts::default()),
            &rig.sim.rest_url(venue),
            api.usage_headers(),
        );
        let mut req = Request::new();
        for cycle in 1..=2 {
            let o = taking(&rig, venue, Side::Buy, "0.001", cycle);
            api.build(Call::Place, &o, "BTCUSDT", unix_ms(), &mut req);
            let answer = http.send(&req).expect("answered");
            let reading = api.read(Call::Place, &o, &answer);
            if cycle == 1 {
                assert!(matches!(reading, Reading::Order(_)), "{venue}: {reading:?}");
                continue;
            }
            match reading {
                Reading::Throttled {
                    code: -1015,
                    retry_after_ms: Some(ms),
                } if venue.is_perp() => assert!((1_000..=60_000).contains(&ms), "{ms}"),
                Reading::Throttled {
                    code: -1015,
                    retry_after_ms: None,
                } if !venue.is_perp() => {}
                other => panic!("{venue}: {other:?}"),
            }
        }
    }
}

#[test]
fn each_injected_fault_leaves_the_order_unknown_until_a_query_resolves_it() {
    let rig = rig();
    let mut cycle = 0;
    for venue in [perp(), spot()] {
        for fault in [SimFault::DropAnswer, SimFault::ServerError, SimFault::Reset] {
            let who = format!("{venue} {fault:?}");
            let mut gw = gateway(&rig, venue);
            cycle += 1;
            let o = taking(&rig, venue, Side::Buy, "0.001", cycle);
            rig.sim.inject(venue, fault, 1);
            let out = call(&mut gw, &o);
            assert!(
                out.is_empty(),
                "{who}: an ambiguous answer reports nothing: {out:?}"
            );
            let r = resolve(&mut gw, &o);
            let count = rig.accepted_count(venue, &o.client_order_id);
            if fault == SimFault::Reset {
                // Reset before the venue applied it: the order never existed.
                assert_eq!(r.status, OrderStatus::NotFound, "{who}: {r:?}");
                assert_eq!(count, 0, "{who}");
            } else {
                assert!(
                    matches!(r.status, OrderStatus::Filled | OrderStatus::Canceled)
                        && r.cum_qty_base > Decimal::ZERO,
                    "{who}: {r:?}"
                );
                assert_eq!(count, 1, "{who}");
                // The query's answer is the order's, net of a spot buy's fee in BTC, as the
                // place answer would have said it.
                let rec = rig.accepted(venue);
                let rec = rec
                    .iter()
                    .find(|x| x.client_id == o.client_order_id.as_str())
                    .unwrap();
                let filled: Decimal = rec.fills.iter().map(|f| f.qty).sum();
                let fee: Decimal = rec.fills.iter().map(|f| f.fee).sum();
                let net = if venue.is_perp() {
                    filled
                } else {
                    filled - fee
                };
                assert_eq!(r.cum_qty_base, net, "{who}");
            }
        }
    }
}

#[test]
fn setup_accepts_one_way_mode_and_refuses_hedge_mode_saying_how_to_switch() {
    let rig = rig();
    let mut gw = gateway(&rig, perp());
    let setups = [Setup::OneWayMode, Setup::CrossMargin, Setup::Leverage(3)];
    assert_eq!(gw.set_up(&setups, mono_ns()), vec![]);
    // Spot has nothing to set.
    assert_eq!(gateway(&rig, spot()).set_up(&setups, mono_ns()), vec![]);

    rig.sim.set_hedge_mode(Exchange::Binance, true);
    let refused = gw.set_up(&setups, mono_ns());
    assert_eq!(refused.len(), 1, "{refused:?}");
    let (_, setup, said) = &refused[0];
    assert_eq!(*setup, Setup::OneWayMode);
    assert!(
        said.contains("POST /fapi/v1/positionSide/dual dualSidePosition=false"),
        "{said}"
    );
    rig.sim.set_hedge_mode(Exchange::Binance, false);
}

#[test]
fn the_dead_man_switch_is_renewed_while_polled_and_cancels_when_renewal_stops() {
    // The venue counts a countdown 20 times faster: 10 s arms 500 ms.
    let rig = rig_with(|c| SimConfig {
        dead_man_speedup: 20,
        ..c
    });
    let options = LiveOptions {
        dead_man_interval_ms: 100,
        dead_man_countdown_ms: 10_000,
        ..LiveOptions::default()
    };
    let mut gw = rig.gateway_with(api(&rig, perp()), options);
    let o = resting(&rig, perp(), 1);
    assert_eq!(one(call(&mut gw, &o), "rest").status, OrderStatus::Open);
    let stats = gw.stats();
    let requests = || stats.requests.load(Ordering::Relaxed);
    let before = requests();
    // Ten renewals span a second: twice the countdown.
    poll_until(&mut gw, PATIENCE, |_| requests() >= before + 10);
    assert_eq!(
        resolve(&mut gw, &o).status,
        OrderStatus::Open,
        "renewed, still resting"
    );

    // Nobody polls now: the venue cancels the order itself.
    eventually("the countdown cancels the order", || {
        rig.accepted(perp())[0].finish == Some(Finish::DeadMan)
    });
    assert_eq!(resolve(&mut gw, &o).status, OrderStatus::Canceled);
}

#[test]
fn a_spot_buy_reports_what_it_received_net_of_its_fee_in_base() {
    let rig = rig();
    let mut gw = gateway(&rig, spot());
    let o = taking(&rig, spot(), Side::Buy, "0.01", 1);
    let r = one(call(&mut gw, &o), "buy");
    assert!(ended_trading(&r), "{r:?}");
    let rec = rig.accepted(spot());
    let fills = &rec[0].fills;
    assert!(fills.iter().all(|f| f.fee_asset == "BTC"), "{fills:?}");
    let filled: Decimal = fills.iter().map(|f| f.qty).sum();
    let fee: Decimal = fills.iter().map(|f| f.fee).sum();
    assert!(fee > Decimal::ZERO);
    assert_eq!(r.cum_qty_base, filled - fee);
    assert_eq!(
        r.fee_quote,
        fee * r.avg_price,
        "the fee still shows, in quote"
    );
    // A later query says the same (the fees of the place answer are remembered).
    let q = resolve(&mut gw, &o);
    assert_eq!((q.cum_qty_base, q.fee_quote), (r.cum_qty_base, r.fee_quote));
}

#[test]
fn margin_spot_sells_short_by_borrowing() {
    let rig = rig();
    let mut config = rig.api_config(spot());
    config.margin_spot = true;
    let mut gw = rig.gateway(BinanceOrders::new(spot(), &config));
    let o = taking(&rig, spot(), Side::Sell, "0.001", 1);
    let r = one(call(&mut gw, &o), "short");
    assert!(ended_trading(&r), "{r:?}");
    let rec = rig.accepted(spot());
    let sold: Decimal = rec[0].fills.iter().map(|f| f.qty).sum();
    assert_eq!(
        r.cum_qty_base, sold,
        "a sell's fee is in quote, not taken from the quantity"
    );
    assert!(r.fee_quote > Decimal::ZERO);
    assert_eq!((rec[0].wallet, rec[0].auto_borrow), (Wallet::Margin, true));
    assert_eq!(resolve(&mut gw, &o).cum_qty_base, sold);
    // The buy back repays the loan through the same path.
    let back = taking(&rig, spot(), Side::Buy, "0.001", 2);
    assert!(ended_trading(&one(call(&mut gw, &back), "cover")));
    let rec = rig.accepted(spot());
    assert_eq!((rec[1].wallet, rec[1].auto_borrow), (Wallet::Margin, false));
}

//! Bybit's live gateways (`bybit-perp`, `bybit-spot`) against the simulated Bybit, which checks
//! every signature, timestamp and `orderLinkId` as the venue documents them: fills, partial
//! fills, resting orders and their cancels, lookups, duplicate ids, a wrong secret, a skewed
//! clock, the rate limit, injected faults, account setup, the DCP dead-man switch, lookups
//! outside the realtime window and a spot buy whose fee is taken in the base coin. What the
//! venue accepted is read from its own record, never from carry's reports.

mod live_support;

use std::time::{Duration, Instant};

use carry::sim::record::Finish;
use carry::sim::{AcceptedOrder, RateLimit, SimConfig, SimFault, SimRateLimits};
use carry_engine::execution::order::{
    ExecKind, ExecReport, OrderIntent, OrderStatus, RejectReason, Side, Step, TimeInForce,
};
use carry_engine::market::venue::Exchange;
use carry_engine::Venue;
use carry_feeds::gateway::credentials::Secret;
use carry_feeds::gateway::live::{LiveGateway, LiveOptions, Setup};
use carry_feeds::transport::clock::mono_ns;
use carry_feeds::venue::bybit::orders::BybitOrders;
use live_support::*;
use rust_decimal::Decimal;

const BTC: &str = "BTC-USDT";

fn perp() -> Venue {
    v("bybit-perp")
}

fn spot() -> Venue {
    v("bybit-spot")
}

fn config() -> SimConfig {
    SimConfig {
        venues: vec![perp(), spot()],
        ..fast_config(&[BTC])
    }
}

/// Short follow-ups and a dead-man renewal well inside the sim's accelerated windows.
fn options() -> LiveOptions {
    LiveOptions {
        follow_up_queries: 6,
        follow_up_delay_ms: 5,
        dead_man_interval_ms: 30,
        dead_man_countdown_ms: 3_000,
        ..LiveOptions::default()
    }
}

fn gateway(rig: &LiveRig, venue: Venue) -> LiveGateway<BybitOrders> {
    rig.gateway_with(BybitOrders::new(venue, &rig.api_config(venue)), options())
}

/// The venue's tick for BTC.
fn tick(rig: &LiveRig, venue: Venue) -> Decimal {
    rig.sim.listing().instruments()[0]
        .on(venue)
        .expect("listed")
        .spec
        .tick_size
}

/// `px` moved by `pct` percent, on the tick.
fn moved(rig: &LiveRig, venue: Venue, px: Decimal, pct: i64) -> Decimal {
    let t = tick(rig, venue);
    ((px * Decimal::from(100 + pct) / Decimal::ONE_HUNDRED) / t).floor() * t
}

/// A buy that crosses the ask by 1 %: it fills what the touch shows.
fn crossing_buy(rig: &LiveRig, venue: Venue, qty: &str, cycle: u32) -> OrderIntent {
    let ask = rig.touch(venue, BTC).ask;
    rig.intent(
        venue,
        BTC,
        Side::Buy,
        TimeInForce::Ioc,
        moved(rig, venue, ask, 1),
        d(qty),
        cycle,
        0,
    )
}

/// A GTC buy 5 % under the bid: it rests.
fn resting_buy(rig: &LiveRig, venue: Venue, cycle: u32, attempt: u16) -> OrderIntent {
    let bid = rig.touch(venue, BTC).bid;
    rig.intent(
        venue,
        BTC,
        Side::Buy,
        TimeInForce::Gtc,
        moved(rig, venue, bid, -5),
        d("0.001"),
        cycle,
        attempt,
    )
}

/// Polls until the gateway reports `intent`'s order finished.
fn settle(gw: &mut LiveGateway<BybitOrders>, intent: &OrderIntent) -> Vec<ExecReport> {
    let cid = intent.client_order_id;
    poll_until(gw, Duration::from_secs(3), |out| {
        out.iter()
            .any(|r| r.client_order_id == cid && r.status.is_terminal())
    })
}

fn last_of(reports: &[ExecReport], intent: &OrderIntent) -> ExecReport {
    *reports
        .iter()
        .rev()
        .find(|r| r.client_order_id == intent.client_order_id)
        .unwrap_or_else(|| panic!("no report for {}: {reports:?}", intent.client_order_id))
}

/// The venue's record of `intent`'s order: there must be exactly one.
fn the_order(rig: &LiveRig, intent: &OrderIntent) -> AcceptedOrder {
    let all: Vec<AcceptedOrder> = rig
        .accepted(intent.venue)
        .into_iter()
        .filter(|o| o.client_id == intent.client_order_id.as_str())
        .collect();
    assert_eq!(all.len(), 1, "{}: {all:?}", intent.client_order_id);
    all.into_iter().next().unwrap()
}

/// What the account received for the order, in base units: what filled, less a base-coin fee.
fn received(o: &AcceptedOrder) -> Decimal {
    o.fills
        .iter()
        .map(|f| {
            if f.fee_asset == "BTC" {
                f.qty - f.fee
            } else {
                f.qty
            }
        })
        .sum()
}

fn base_fee(o: &AcceptedOrder) -> Decimal {
    o.fills
        .iter()
        .filter(|f| f.fee_asset == "BTC")
        .map(|f| f.fee)
        .sum()
}

fn quote_fee(o: &AcceptedOrder) -> Decimal {
    o.fills
        .iter()
        .filter(|f| f.fee_asset == "USDT")
        .map(|f| f.fee)
        .sum()
}

/// Waits (bounded) for a condition on the venue's side, without sending it anything.
fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

#[test]
fn fills_partial_fills_resting_orders_cancels_and_queries() {
    let rig = LiveRig::start(config());
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);

        // A small IOC that crosses: acknowledged, then the follow-up query finds it filled.
        let small = crossing_buy(&rig, venue, "0.001", 1);
        let first = call(&mut gw, &small);
        assert_eq!(first.len(), 1, "{venue}: {first:?}");
        assert_eq!(first[0].kind, ExecKind::Ack, "{venue}: {first:?}");
        let later = settle(&mut gw, &small);
        let r = last_of(&later, &small);
        let o = the_order(&rig, &small);
        assert_eq!(o.finish, Some(Finish::Filled), "{venue}: {o:?}");
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::QueryAnswer, OrderStatus::Filled)
        );
        // A spot buy pays its fee in BTC: the position is what the balance received.
        assert_eq!(r.cum_qty_base, received(&o), "{venue}");
        if venue == spot() {
            assert!(base_fee(&o) > Decimal::ZERO, "{o:?}");
            assert!(r.cum_qty_base < d("0.001"), "{r:?}");
            assert_eq!(r.fee_quote, base_fee(&o) * r.avg_price, "{venue}");
        } else {
            assert_eq!(r.cum_qty_base, d("0.001"));
            assert_eq!(r.fee_quote, quote_fee(&o), "{venue}");
        }
        assert_eq!(r.avg_price, o.fills[0].price, "{venue}");
        assert_eq!(
            o.stp, "CancelTaker",
            "{venue}: every order carries the STP mode"
        );

        // Far larger than the touch: part fills, the rest is cancelled by the venue.
        let big = crossing_buy(&rig, venue, "10", 2);
        call(&mut gw, &big);
        let r = last_of(&settle(&mut gw, &big), &big);
        let o = the_order(&rig, &big);
        assert_eq!(r.status, OrderStatus::Canceled, "{venue}: {r:?}");
        assert!(
            o.filled() > Decimal::ZERO && o.filled() < d("10"),
            "{venue}: {o:?}"
        );
        assert_eq!(r.cum_qty_base, received(&o), "{venue}");

        // A GTC under the bid rests; a query sees it open; a cancel ends it.
        let rest = resting_buy(&rig, venue, 3, 0);
        let r = call(&mut gw, &rest);
        assert_eq!(
            (r[0].kind, r[0].status),
            (ExecKind::Ack, OrderStatus::Open),
            "{venue}"
        );
        let q = call(&mut gw, &as_query(&rest));
        assert_eq!(
            (q[0].kind, q[0].status, q[0].cum_qty_base),
            (ExecKind::QueryAnswer, OrderStatus::Open, Decimal::ZERO),
            "{venue}"
        );
        let c = call(&mut gw, &as_cancel(&rest));
        assert_eq!(c.len(), 1, "{venue}: {c:?}");
        assert_eq!(c[0].status, OrderStatus::Canceled, "{venue}: {c:?}");
        assert_eq!(c[0].cum_qty_base, Decimal::ZERO);
        assert_eq!(the_order(&rig, &rest).finish, Some(Finish::Canceled));

        // A GTC that crosses fills part at once and rests the rest: its cancel reports what
        // executed before it (Bybit's cancel answer does not say; the order does).
        let ask = rig.touch(venue, BTC).ask;
        let crossing = rig.intent(
            venue,
            BTC,
            Side::Buy,
            TimeInForce::Gtc,
            moved(&rig, venue, ask, 1),
            d("5"),
            4,
            0,
        );
        let r = call(&mut gw, &crossing);
        assert_eq!(r[0].kind, ExecKind::Ack, "{venue}: {r:?}");
        let c = call(&mut gw, &as_cancel(&crossing));
        let o = the_order(&rig, &crossing);
        assert_eq!(o.finish, Some(Finish::Canceled), "{venue}: {o:?}");
        assert!(o.filled() > Decimal::ZERO, "{venue}: {o:?}");
        assert_eq!(c.len(), 1, "{venue}: {c:?}");
        assert_eq!(
            (c[0].status, c[0].cum_qty_base),
            (OrderStatus::Canceled, received(&o)),
            "{venue}"
        );
    }
}

#[test]
fn a_resend_is_a_duplicate_describing_the_order_and_unknown_ids_are_not_found() {
    let rig = LiveRig::start(config());
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let rest = resting_buy(&rig, venue, 1, 0);
        assert_eq!(call(&mut gw, &rest)[0].kind, ExecKind::Ack);
        let again = call(&mut gw, &as_resend(&rest));
        assert_eq!(again.len(), 1, "{venue}: {again:?}");
        assert_eq!(
            (again[0].kind, again[0].status),
            (ExecKind::Duplicate, OrderStatus::Open),
            "{venue}"
        );
        // A filled order sent again: the duplicate tells what it did.
        let filled = crossing_buy(&rig, venue, "0.001", 2);
        call(&mut gw, &filled);
        settle(&mut gw, &filled);
        let again = call(&mut gw, &as_resend(&filled));
        let o = the_order(&rig, &filled);
        assert_eq!(
            (again[0].kind, again[0].status, again[0].cum_qty_base),
            (ExecKind::Duplicate, OrderStatus::Filled, received(&o)),
            "{venue}"
        );
        the_order(&rig, &rest);

        // Never placed: a query and a cancel both come back not found.
        let never = resting_buy(&rig, venue, 9, 0);
        for intent in [as_query(&never), as_cancel(&never)] {
            let r = call(&mut gw, &intent);
            assert_eq!(r.len(), 1, "{venue}: {r:?}");
            assert_eq!(
                (r[0].kind, r[0].status),
                (ExecKind::QueryAnswer, OrderStatus::NotFound),
                "{venue}: {:?}",
                intent.action
            );
        }
        assert_eq!(rig.accepted_count(venue, &never.client_order_id), 0);
    }
}

#[test]
fn a_wrong_secret_is_refused_as_auth() {
    let rig = LiveRig::start(config());
    for venue in [perp(), spot()] {
        let mut api_config = rig.api_config(venue);
        api_config.credentials.secret = Secret::new("not-the-secret");
        let mut gw = rig.gateway_with(BybitOrders::new(venue, &api_config), options());
        let intent = resting_buy(&rig, venue, 1, 0);
        let r = call(&mut gw, &intent);
        assert_eq!(r.len(), 1, "{venue}: {r:?}");
        assert_eq!(
            (r[0].kind, r[0].reject, r[0].venue_code),
            (ExecKind::Rejected, RejectReason::Auth, 10004),
            "{venue}"
        );
        assert!(rig.accepted(venue).is_empty(), "{venue}");
    }
}

#[test]
fn a_skewed_clock_is_resynced_and_the_same_id_accepted_once() {
    let rig = LiveRig::start(config());
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        gw.warm_up(mono_ns()).expect("the venue's clock");
        // Ten seconds ahead: carry's timestamps fall outside the 5 s receive window.
        rig.sim.set_clock_skew(Exchange::Bybit, 10_000);
        let intent = resting_buy(&rig, venue, 1, 0);
        let r = call(&mut gw, &intent);
        assert_eq!(r.len(), 1, "{venue}: {r:?}");
        assert_eq!(r[0].kind, ExecKind::Ack, "{venue}: {r:?}");
        let stats = gw.stats();
        assert_eq!(
            stats
                .timestamp_rejects
                .load(std::sync::atomic::Ordering::Relaxed),
            1,
            "{venue}: the first attempt was refused"
        );
        let offset = stats
            .clock_offset_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!((9_000..11_000).contains(&offset), "{venue}: {offset}");
        the_order(&rig, &intent);
        rig.sim.set_clock_skew(Exchange::Bybit, 0);
    }
}

/// Places `n` resting orders in one burst and polls until each is acknowledged; returns the
/// intents and the reports.
fn burst(
    rig: &LiveRig,
    gw: &mut LiveGateway<BybitOrders>,
    venue: Venue,
    n: u16,
) -> (Vec<OrderIntent>, Vec<ExecReport>) {
    let intents: Vec<OrderIntent> = (0..n).map(|i| resting_buy(rig, venue, 1, i)).collect();
    let mut reports = Vec::new();
    for i in &intents {
        reports.extend(call(gw, i));
    }
    let n = usize::from(n);
    reports.extend(poll_until(gw, Duration::from_secs(10), |out| {
        reports.len() + out.len() >= n
    }));
    (intents, reports)
}

#[test]
fn a_burst_past_the_limit_waits_in_the_backlog_and_every_order_goes_once() {
    // Linear at its documented 10/s; spot lowered to 4/s, which only the usage headers tell.
    let rig = LiveRig::start(SimConfig {
        rate_limits: SimRateLimits {
            bybit_spot_trade: RateLimit::new(4, Duration::from_secs(1)),
            ..SimRateLimits::default()
        },
        ..config()
    });
    for (venue, n) in [(perp(), 25), (spot(), 12)] {
        let mut gw = gateway(&rig, venue);
        let start = Instant::now();
        let (intents, reports) = burst(&rig, &mut gw, venue, n);
        assert_eq!(reports.len(), usize::from(n), "{venue}: {reports:?}");
        assert!(
            reports.iter().all(|r| r.kind == ExecKind::Ack),
            "{venue}: {reports:?}"
        );
        for i in &intents {
            assert_eq!(rig.accepted_count(venue, &i.client_order_id), 1, "{venue}");
        }
        let throttled = gw
            .stats()
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(throttled, 0, "{venue}: carry kept inside the venue's limit");
        // More than a second's worth: some waited.
        assert!(start.elapsed() >= Duration::from_millis(900), "{venue}");
    }
}

#[test]
fn injected_faults_end_resolved_by_query_with_at_most_one_order() {
    let rig = LiveRig::start(config());
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        gw.warm_up(mono_ns()).expect("the venue's clock");
        for (k, fault) in [SimFault::DropAnswer, SimFault::ServerError, SimFault::Reset]
            .into_iter()
            .enumerate()
        {
            let intent = resting_buy(&rig, venue, 10 + k as u32, 0);
            rig.sim.inject(venue, fault, 1);
            let r = call(&mut gw, &intent);
            assert!(
                r.is_empty(),
                "{venue} {fault:?}: no answer, no report: {r:?}"
            );
            let q = call(&mut gw, &as_query(&intent));
            assert_eq!(q.len(), 1, "{venue} {fault:?}: {q:?}");
            let count = rig.accepted_count(venue, &intent.client_order_id);
            match fault {
                // Applied before the answer was lost.
                SimFault::DropAnswer | SimFault::ServerError => {
                    assert_eq!(count, 1, "{venue} {fault:?}");
                    assert_eq!(q[0].status, OrderStatus::Open, "{venue} {fault:?}");
                }
                // Reset before it was applied: the venue never saw it.
                _ => {
                    assert_eq!(count, 0, "{venue} {fault:?}");
                    assert_eq!(q[0].status, OrderStatus::NotFound, "{venue} {fault:?}");
                }
            }
        }
    }
}

#[test]
fn setup_checks_one_way_mode_cross_margin_and_sets_leverage() {
    let rig = LiveRig::start(config());
    let mut gw = gateway(&rig, perp());
    let setups = [Setup::OneWayMode, Setup::CrossMargin, Setup::Leverage(3)];
    assert_eq!(gw.set_up(&setups, mono_ns()), vec![]);
    // The same leverage again: "not modified" is fine.
    assert_eq!(gw.set_up(&setups, mono_ns()), vec![]);
    let mut spot_gw = gateway(&rig, spot());
    assert_eq!(spot_gw.set_up(&setups, mono_ns()), vec![]);

    rig.sim.set_hedge_mode(Exchange::Bybit, true);
    let refused = gw.set_up(&setups, mono_ns());
    assert_eq!(refused.len(), 1, "{refused:?}");
    let (symbol, setup, said) = &refused[0];
    assert_eq!((symbol.as_str(), *setup), ("BTCUSDT", Setup::OneWayMode));
    assert!(
        said.contains("hedge mode") && said.contains("/v5/position/switch-mode"),
        "{said}"
    );
    // Orders in hedge mode are refused by the venue (positionIdx 0 does not fit).
    let r = call(&mut gw, &resting_buy(&rig, perp(), 1, 0));
    assert_eq!(r[0].kind, ExecKind::Rejected, "{r:?}");
    assert_eq!(r[0].venue_code, 10001, "{r:?}");
}

#[test]
fn the_dead_man_switch_is_renewed_while_orders_rest_and_fires_when_carry_goes_quiet() {
    // DCP windows pass 20 times faster: carry's 3 s window lasts 150 ms.
    let rig = LiveRig::start(SimConfig {
        dead_man_speedup: 20,
        ..config()
    });
    let mut perp_gw = gateway(&rig, perp());
    let mut spot_gw = gateway(&rig, spot());
    let on_perp = resting_buy(&rig, perp(), 1, 0);
    let on_spot = resting_buy(&rig, spot(), 1, 0);
    assert_eq!(call(&mut perp_gw, &on_perp)[0].kind, ExecKind::Ack);
    assert_eq!(call(&mut spot_gw, &on_spot)[0].kind, ExecKind::Ack);
    // Alive for four windows: the gateways re-arm the switch, nothing is cancelled.
    let until = Instant::now() + Duration::from_millis(600);
    while Instant::now() < until {
        poll_until(&mut perp_gw, Duration::from_millis(10), |_| false);
        poll_until(&mut spot_gw, Duration::from_millis(10), |_| false);
    }
    assert_eq!(the_order(&rig, &on_perp).finish, None);
    assert_eq!(the_order(&rig, &on_spot).finish, None);
    // Quiet: the venue cancels both products' resting orders.
    let fired = eventually(Duration::from_secs(2), || {
        the_order(&rig, &on_perp).finish.is_some() && the_order(&rig, &on_spot).finish.is_some()
    });
    assert!(fired, "{:?}", rig.accepted(perp()));
    assert_eq!(the_order(&rig, &on_perp).finish, Some(Finish::DeadMan));
    assert_eq!(the_order(&rig, &on_spot).finish, Some(Finish::DeadMan));
}

#[test]
fn orders_closed_before_a_venue_restart_are_found_in_the_trade_history() {
    // Bybit's realtime lookup keeps the last 500 closed orders since the venue started: after
    // a restart the same query misses them, and only the fills can say what they did.
    let dir = tempfile::tempdir().unwrap();
    let with_dir = || SimConfig {
        state_dir: Some(dir.path().to_path_buf()),
        ..config()
    };
    let mut done = Vec::new();
    {
        let rig = LiveRig::start(with_dir());
        for venue in [perp(), spot()] {
            let mut gw = gateway(&rig, venue);
            let filled = crossing_buy(&rig, venue, "0.001", 1);
            call(&mut gw, &filled);
            settle(&mut gw, &filled);
            let partial = crossing_buy(&rig, venue, "10", 2);
            call(&mut gw, &partial);
            settle(&mut gw, &partial);
            let unfilled = resting_buy(&rig, venue, 3, 0);
            call(&mut gw, &unfilled);
            call(&mut gw, &as_cancel(&unfilled));
            for intent in [filled, partial, unfilled] {
                done.push((intent, the_order(&rig, &intent)));
            }
        }
    }
    let rig = LiveRig::start(with_dir());
    for (intent, before) in &done {
        let venue = intent.venue;
        let mut gw = gateway(&rig, venue);
        let r = call(&mut gw, &as_query(intent));
        assert_eq!(r.len(), 1, "{venue}: {r:?}");
        let want = match before.finish {
            Some(Finish::Filled) => OrderStatus::Filled,
            _ if before.filled() > Decimal::ZERO => OrderStatus::Canceled,
            // Cancelled with nothing filled leaves no trace in the fills.
            _ => OrderStatus::NotFound,
        };
        assert_eq!(r[0].status, want, "{venue}: {before:?}");
        assert_eq!(r[0].cum_qty_base, received(before), "{venue}: {before:?}");
    }
    assert!(
        done.iter()
            .any(|(i, o)| i.venue == spot() && base_fee(o) > Decimal::ZERO),
        "the spot buys paid their fee in BTC"
    );
}

#[test]
fn reduce_only_orders_only_reduce_the_perp_position() {
    let rig = LiveRig::start(config());
    let mut gw = gateway(&rig, perp());
    let open = crossing_buy(&rig, perp(), "0.002", 1);
    call(&mut gw, &open);
    assert_eq!(
        last_of(&settle(&mut gw, &open), &open).status,
        OrderStatus::Filled
    );

    let bid = rig.touch(perp(), BTC).bid;
    let mut close = rig.intent(
        perp(),
        BTC,
        Side::Sell,
        TimeInForce::Ioc,
        moved(&rig, perp(), bid, -1),
        d("0.002"),
        2,
        0,
    );
    close.step = Step::Exit;
    close.reduce_only = true;
    call(&mut gw, &close);
    let r = last_of(&settle(&mut gw, &close), &close);
    let o = the_order(&rig, &close);
    assert!(o.reduce_only, "{o:?}");
    assert_eq!(
        (r.status, r.cum_qty_base),
        (OrderStatus::Filled, d("0.002"))
    );

    // Nothing left to reduce: the venue refuses it.
    let mut again = close;
    again.attempt = 1;
    again.client_order_id = rig
        .intent(
            perp(),
            BTC,
            Side::Sell,
            TimeInForce::Ioc,
            bid,
            d("0.002"),
            2,
            1,
        )
        .client_order_id;
    let r = call(&mut gw, &again);
    assert_eq!(
        (r[0].kind, r[0].reject, r[0].venue_code),
        (ExecKind::Rejected, RejectReason::ReduceOnly, 110017),
        "{r:?}"
    );
}

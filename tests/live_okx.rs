//! carry's OKX gateway (`venue/okx/orders.rs` under the shared live gateway) against the
//! simulated OKX, perp and spot: every request signed and checked as OKX does, every outcome
//! read back from the venue's own record of what it accepted.

mod live_support;

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use carry::sim::record::Finish;
use carry::sim::{SimConfig, SimFault, SimRateLimits, Wallet};
use carry_engine::execution::order::{
    ExecKind, ExecReport, OrderIntent, OrderStatus, RejectReason, Side, TimeInForce,
};
use carry_engine::{Exchange, Venue};
use carry_feeds::gateway::credentials::Secret;
use carry_feeds::gateway::live::{LiveGateway, LiveOptions, Setup};
use carry_feeds::gateway::Gateway;
use carry_feeds::transport::clock::{mono_ns, unix_ms};
use carry_feeds::venue::okx::orders::OkxOrders;
use live_support::*;
use rust_decimal::Decimal;

const BTC: &str = "BTC-USDT";
/// Long enough for anything these tests wait for; never reached when things work.
const PATIENCE: Duration = Duration::from_secs(10);

fn perp() -> Venue {
    v("okx-perp")
}

fn spot() -> Venue {
    v("okx-spot")
}

/// A small order and one larger than the book's touch ever shows, in each market's unit.
fn sizes(venue: Venue) -> (Decimal, Decimal) {
    if venue.is_perp() {
        (d("1"), d("1000"))
    } else {
        (d("0.001"), d("10"))
    }
}

fn start() -> LiveRig {
    LiveRig::start(fast_config(&[BTC]))
}

fn okx(rig: &LiveRig, venue: Venue) -> OkxOrders {
    OkxOrders::new(venue, &rig.api_config(venue))
}

/// A warmed-up gateway (connection open, clock synced).
fn gateway(rig: &LiveRig, venue: Venue) -> LiveGateway<OkxOrders> {
    gateway_with(rig, okx(rig, venue), LiveOptions::default())
}

fn gateway_with(rig: &LiveRig, api: OkxOrders, options: LiveOptions) -> LiveGateway<OkxOrders> {
    let mut gw = rig.gateway_with(api, options);
    gw.warm_up(mono_ns()).expect("the simulated venue answers");
    gw
}

fn tick(rig: &LiveRig, venue: Venue) -> Decimal {
    rig.sim
        .listing()
        .instruments()
        .iter()
        .find(|i| i.name == BTC)
        .and_then(|i| i.on(venue))
        .expect("listed")
        .spec
        .tick_size
}

/// A buy price that rests: 1 % under the bid (inside OKX's price limits), on the tick.
fn resting_buy(rig: &LiveRig, venue: Venue) -> Decimal {
    let t = tick(rig, venue);
    (rig.touch(venue, BTC).bid * d("0.99") / t).floor() * t
}

/// A buy price that takes: five ticks through the ask.
fn taking_buy(rig: &LiveRig, venue: Venue) -> Decimal {
    rig.touch(venue, BTC).ask + tick(rig, venue) * d("5")
}

/// A sell price that takes: five ticks through the bid.
fn taking_sell(rig: &LiveRig, venue: Venue) -> Decimal {
    rig.touch(venue, BTC).bid - tick(rig, venue) * d("5")
}

fn buy(
    rig: &LiveRig,
    venue: Venue,
    tif: TimeInForce,
    price: Decimal,
    qty: Decimal,
    cycle: u32,
) -> OrderIntent {
    rig.intent(venue, BTC, Side::Buy, tif, price, qty, cycle, 0)
}

/// A GTC buy of `qty` that rests under the bid.
fn rest(rig: &LiveRig, venue: Venue, qty: Decimal, cycle: u32) -> OrderIntent {
    buy(
        rig,
        venue,
        TimeInForce::Gtc,
        resting_buy(rig, venue),
        qty,
        cycle,
    )
}

/// An IOC buy of `qty` through the ask.
fn take(rig: &LiveRig, venue: Venue, qty: Decimal, cycle: u32) -> OrderIntent {
    buy(
        rig,
        venue,
        TimeInForce::Ioc,
        taking_buy(rig, venue),
        qty,
        cycle,
    )
}

fn one(reports: &[ExecReport]) -> ExecReport {
    assert_eq!(reports.len(), 1, "{reports:#?}");
    reports[0]
}

/// The reports of an IOC order's follow-up queries, until one says it ended.
fn until_ended(gw: &mut LiveGateway<OkxOrders>) -> ExecReport {
    let reports = poll_until(gw, PATIENCE, |r| r.iter().any(|x| x.status.is_terminal()));
    *reports
        .iter()
        .find(|x| x.status.is_terminal())
        .unwrap_or_else(|| panic!("the follow-up queries never saw it end: {reports:#?}"))
}

/// What the venue filled of the order with this id (in its order unit) and the fees it
/// charged, from its own record.
fn venue_fills(rig: &LiveRig, venue: Venue, intent: &OrderIntent) -> (Decimal, Decimal) {
    let accepted = rig.accepted(venue);
    let order = accepted
        .iter()
        .find(|o| o.client_id == intent.client_order_id.as_str())
        .expect("the venue has the order");
    order
        .fills
        .iter()
        .fold((Decimal::ZERO, Decimal::ZERO), |(q, f), x| {
            (q + x.qty, f + x.fee)
        })
}

#[test]
fn an_ioc_order_is_acknowledged_and_its_fill_learned_by_the_follow_up_query() {
    let rig = start();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let (small, _) = sizes(venue);
        let order = take(&rig, venue, small, 1);
        let ack = one(&call(&mut gw, &order));
        assert_eq!(
            (ack.kind, ack.status, ack.cum_qty_base),
            (ExecKind::Ack, OrderStatus::Open, Decimal::ZERO),
            "{venue}: OKX's place answer is an acknowledgement"
        );
        let done = until_ended(&mut gw);
        assert_eq!(
            (done.kind, done.status),
            (ExecKind::QueryAnswer, OrderStatus::Filled),
            "{venue}"
        );
        let (filled, fee) = venue_fills(&rig, venue, &order);
        assert_eq!(filled, small, "{venue}");
        assert!(done.avg_price > Decimal::ZERO && done.avg_price <= order.price);
        assert!(done.fee_quote > Decimal::ZERO, "{venue}: fees are paid");
        if venue.is_perp() {
            // 1 contract of 0.01 BTC; the fee in USDT as charged.
            assert_eq!(done.cum_qty_base, d("0.01"));
            assert_eq!(done.fee_quote, fee);
        }
        assert_eq!(rig.accepted_count(venue, &order.client_order_id), 1);
    }
}

#[test]
fn a_spot_buy_whose_fee_is_taken_in_btc_reports_what_was_received() {
    let rig = start();
    let venue = spot();
    let mut gw = gateway(&rig, venue);
    let order = take(&rig, venue, d("0.01"), 1);
    one(&call(&mut gw, &order));
    let done = until_ended(&mut gw);
    let accepted = rig.accepted(venue);
    let fills = &accepted[0].fills;
    assert!(fills.iter().all(|f| f.fee_asset == "BTC"), "{fills:?}");
    let (filled, fee_btc) = venue_fills(&rig, venue, &order);
    assert_eq!(filled, d("0.01"));
    assert!(fee_btc > Decimal::ZERO);
    assert_eq!(done.status, OrderStatus::Filled);
    assert_eq!(
        done.cum_qty_base,
        filled - fee_btc,
        "the net quantity received"
    );
    assert_eq!(
        done.fee_quote,
        fee_btc * done.avg_price,
        "the fee, in quote"
    );
}

#[test]
fn an_ioc_order_larger_than_the_touch_fills_partly_and_ends() {
    let rig = start();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let (_, big) = sizes(venue);
        let order = take(&rig, venue, big, 2);
        one(&call(&mut gw, &order));
        let done = until_ended(&mut gw);
        assert_eq!(
            done.status,
            OrderStatus::Canceled,
            "{venue}: the rest expired"
        );
        let (filled, _) = venue_fills(&rig, venue, &order);
        assert!(filled > Decimal::ZERO && filled < big, "{venue}: {filled}");
        let net = if venue.is_perp() {
            filled * rig.contract_size(venue, BTC)
        } else {
            // Spot buys receive the fill less the fee in BTC.
            filled - venue_fills(&rig, venue, &order).1
        };
        assert_eq!(done.cum_qty_base, net, "{venue}");
    }
}

#[test]
fn a_gtc_order_rests_is_found_by_query_and_cancelled() {
    let rig = start();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let (small, _) = sizes(venue);
        let order = rest(&rig, venue, small, 3);
        let ack = one(&call(&mut gw, &order));
        assert_eq!((ack.kind, ack.status), (ExecKind::Ack, OrderStatus::Open));

        let q = one(&call(&mut gw, &as_query(&order)));
        assert_eq!(
            (q.kind, q.status, q.cum_qty_base),
            (ExecKind::QueryAnswer, OrderStatus::Open, Decimal::ZERO),
            "{venue}"
        );

        // OKX acknowledges the cancel request; the state that follows comes from a query.
        let c = one(&call(&mut gw, &as_cancel(&order)));
        assert_eq!(
            (c.kind, c.status, c.cum_qty_base),
            (ExecKind::QueryAnswer, OrderStatus::Canceled, Decimal::ZERO),
            "{venue}"
        );
        let accepted = rig.accepted(venue);
        assert_eq!(accepted.len(), 1, "{venue}");
        assert_eq!(accepted[0].finish, Some(Finish::Canceled), "{venue}");
        assert_eq!(
            accepted[0].stp, "cancel_taker",
            "{venue}: self-trade prevention"
        );
        assert_eq!(accepted[0].price, order.price);
        assert_eq!(accepted[0].qty, small);

        // Cancelling again: the venue no longer has it open; the query says how it ended.
        let again = one(&call(&mut gw, &as_cancel(&order)));
        assert_eq!(again.status, OrderStatus::Canceled, "{venue}");
    }
}

#[test]
fn a_resend_of_a_resting_order_is_a_duplicate_but_okx_takes_the_id_again_once_it_ended() {
    let rig = start();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let (small, _) = sizes(venue);
        let order = rest(&rig, venue, small, 4);
        one(&call(&mut gw, &order));
        let dup = one(&call(&mut gw, &as_resend(&order)));
        assert_eq!(
            (dup.kind, dup.status, dup.cum_qty_base),
            (ExecKind::Duplicate, OrderStatus::Open, Decimal::ZERO),
            "{venue}: the existing order, described"
        );
        assert_eq!(
            rig.accepted_count(venue, &order.client_order_id),
            1,
            "{venue}"
        );

        // Why `resolve = "resend"` is unsafe on OKX: uniqueness holds among pending orders
        // only, so once the first has ended the same id places a second order.
        one(&call(&mut gw, &as_cancel(&order)));
        let again = one(&call(&mut gw, &as_resend(&order)));
        assert_eq!(again.kind, ExecKind::Ack, "{venue}");
        assert_eq!(
            rig.accepted_count(venue, &order.client_order_id),
            2,
            "{venue}"
        );
        one(&call(&mut gw, &as_cancel(&order)));
    }
}

#[test]
fn an_id_the_venue_never_saw_is_not_found() {
    let rig = start();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let (small, _) = sizes(venue);
        let never = rest(&rig, venue, small, 5);
        let q = one(&call(&mut gw, &as_query(&never)));
        assert_eq!(
            (q.kind, q.status, q.cum_qty_base),
            (ExecKind::QueryAnswer, OrderStatus::NotFound, Decimal::ZERO),
            "{venue}"
        );
        let c = one(&call(&mut gw, &as_cancel(&never)));
        assert_eq!(c.status, OrderStatus::NotFound, "{venue}");
        assert!(rig.accepted(venue).is_empty());
    }
}

#[test]
fn reduce_only_closes_a_perp_position_and_is_refused_when_there_is_none() {
    let rig = start();
    let venue = perp();
    let mut gw = gateway(&rig, venue);
    let close = |cycle| OrderIntent {
        reduce_only: true,
        ..rig.intent(
            venue,
            BTC,
            Side::Sell,
            TimeInForce::Ioc,
            taking_sell(&rig, venue),
            d("1"),
            cycle,
            0,
        )
    };
    let refused = one(&call(&mut gw, &close(6)));
    assert_eq!(
        (refused.kind, refused.reject, refused.venue_code),
        (ExecKind::Rejected, RejectReason::ReduceOnly, 51148)
    );

    let open = take(&rig, venue, d("1"), 7);
    one(&call(&mut gw, &open));
    assert_eq!(until_ended(&mut gw).status, OrderStatus::Filled);
    one(&call(&mut gw, &close(8)));
    let closed = until_ended(&mut gw);
    assert_eq!(
        (closed.status, closed.cum_qty_base),
        (OrderStatus::Filled, d("0.01"))
    );
    let accepted = rig.accepted(venue);
    assert_eq!(accepted.len(), 2, "the refused order was not taken");
    assert!(accepted[1].reduce_only, "{accepted:?}");
}

#[test]
fn a_margin_spot_sell_borrows_through_the_cross_margin_path() {
    let rig = start();
    let venue = spot();
    let mut config = rig.api_config(venue);
    config.margin_spot = true;
    let mut gw = gateway_with(&rig, OkxOrders::new(venue, &config), LiveOptions::default());
    assert!(
        gw.set_up(&[Setup::OneWayMode], mono_ns()).is_empty(),
        "the account can borrow"
    );
    // The spot wallet holds no BTC: only a borrow can sell it.
    let short = rig.intent(
        venue,
        BTC,
        Side::Sell,
        TimeInForce::Ioc,
        taking_sell(&rig, venue),
        d("0.01"),
        8,
        0,
    );
    one(&call(&mut gw, &short));
    let done = until_ended(&mut gw);
    assert_eq!(
        (done.status, done.cum_qty_base),
        (OrderStatus::Filled, d("0.01"))
    );
    let accepted = rig.accepted(venue);
    assert_eq!(
        (accepted[0].wallet, accepted[0].auto_borrow),
        (Wallet::Margin, true)
    );
}

#[test]
fn a_wrong_secret_is_refused_by_the_venue_as_an_auth_failure() {
    let rig = start();
    for venue in [perp(), spot()] {
        let mut config = rig.api_config(venue);
        config.credentials.secret = Secret::new("not-the-secret");
        let mut gw = gateway_with(&rig, OkxOrders::new(venue, &config), LiveOptions::default());
        let (small, _) = sizes(venue);
        let order = rest(&rig, venue, small, 9);
        let r = one(&call(&mut gw, &order));
        assert_eq!(
            (r.kind, r.reject, r.venue_code),
            (ExecKind::Rejected, RejectReason::Auth, 50113),
            "{venue}"
        );
        let mut config = rig.api_config(venue);
        config.credentials.passphrase = Some(Secret::new("not-the-passphrase"));
        let mut gw = gateway_with(&rig, OkxOrders::new(venue, &config), LiveOptions::default());
        let r = one(&call(&mut gw, &order));
        assert_eq!(
            (r.reject, r.venue_code),
            (RejectReason::Auth, 50105),
            "{venue}"
        );
        assert!(rig.accepted(venue).is_empty(), "{venue}");
    }
}

#[test]
fn a_skewed_clock_is_refused_once_resynced_and_the_same_id_accepted_once() {
    let rig = start();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        // OKX refuses timestamps more than 30 s off.
        rig.sim.set_clock_skew(Exchange::Okx, 45_000);
        let (small, _) = sizes(venue);
        let order = rest(&rig, venue, small, 10);
        let ack = one(&call(&mut gw, &order));
        assert_eq!(ack.kind, ExecKind::Ack, "{venue}");
        let stats = gw.stats();
        assert_eq!(
            stats.timestamp_rejects.load(Relaxed),
            1,
            "{venue}: refused once, then accepted after the resync"
        );
        assert_eq!(rig.accepted_count(venue, &order.client_order_id), 1);
        rig.sim.set_clock_skew(Exchange::Okx, 0);
        one(&call(&mut gw, &as_cancel(&order)));
    }
}

/// Sends `count` resting perp buys at once, then polls until each has its report; asserts
/// each was acknowledged (none refused) and taken by the venue once. Returns how many were
/// answered at once, before the backlog.
fn burst(rig: &LiveRig, gw: &mut LiveGateway<OkxOrders>, count: u32, first_cycle: u32) -> usize {
    let venue = perp();
    let price = resting_buy(rig, venue);
    let orders: Vec<OrderIntent> = (first_cycle..first_cycle + count)
        .map(|cycle| buy(rig, venue, TimeInForce::Gtc, price, d("1"), cycle))
        .collect();
    let mut reports = Vec::new();
    for order in &orders {
        reports.extend(call(gw, order));
    }
    let at_once = reports.len();
    reports.extend(poll_until(gw, PATIENCE, |r| {
        r.len() + at_once >= orders.len()
    }));
    assert_eq!(reports.len(), orders.len(), "{reports:#?}");
    assert!(
        reports
            .iter()
            .all(|r| r.kind == ExecKind::Ack && r.reject == RejectReason::None),
        "none refused: {reports:#?}"
    );
    for order in &orders {
        assert_eq!(rig.accepted_count(venue, &order.client_order_id), 1);
    }
    at_once
}

#[test]
fn a_burst_past_the_order_limit_waits_in_the_backlog_and_every_order_goes_once() {
    let rig = start();
    let mut gw = gateway(&rig, perp());
    // OKX takes 60 orders per 2 s per instrument; carry budgets 90 % of that.
    let at_once = burst(&rig, &mut gw, 70, 100);
    assert!(
        (50..70).contains(&at_once),
        "the budget held some back: {at_once}"
    );
    assert_eq!(
        gw.stats().throttled.load(Relaxed),
        0,
        "the venue never had to throttle"
    );
}

#[test]
fn a_venue_throttle_sends_the_intent_back_to_the_backlog_under_the_same_id() {
    // A venue whose limit is below carry's budget (another client on the account): its
    // 50011 answers hold intents back, and each still goes exactly once.
    let rig = LiveRig::start(SimConfig {
        rate_limits: SimRateLimits {
            okx_per_instrument: carry::sim::RateLimit::new(3, Duration::from_secs(1)),
            ..SimRateLimits::default()
        },
        ..fast_config(&[BTC])
    });
    // The venue counts in windows on its clock's grid: put it 100 ms into a second, so that
    // the first five requests meet one window.
    rig.sim
        .set_clock_skew(Exchange::Okx, (1_100 - unix_ms().rem_euclid(1_000)) % 1_000);
    let mut gw = gateway(&rig, perp());
    let at_once = burst(&rig, &mut gw, 5, 200);
    assert_eq!(at_once, 3, "the venue took three in its second");
    assert!(gw.stats().throttled.load(Relaxed) > 0);
}

#[test]
fn every_injected_fault_is_resolved_by_query_with_the_id_at_the_venue_at_most_once() {
    let rig = start();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let (small, _) = sizes(venue);
        for (n, (fault, applied)) in [
            (SimFault::DropAnswer, true),
            (SimFault::ServerError, true),
            (SimFault::Reset, false),
        ]
        .into_iter()
        .enumerate()
        {
            let order = rest(&rig, venue, small, 300 + n as u32);
            rig.sim.inject(venue, fault, 1);
            let reports = call(&mut gw, &order);
            assert!(
                reports.is_empty(),
                "{venue} {fault:?}: the outcome is unknown: {reports:#?}"
            );
            let q = one(&call(&mut gw, &as_query(&order)));
            let want = if applied {
                OrderStatus::Open
            } else {
                OrderStatus::NotFound
            };
            assert_eq!(
                (q.kind, q.status),
                (ExecKind::QueryAnswer, want),
                "{venue} {fault:?}"
            );
            assert_eq!(
                rig.accepted_count(venue, &order.client_order_id),
                usize::from(applied),
                "{venue} {fault:?}"
            );
            if applied {
                one(&call(&mut gw, &as_cancel(&order)));
            }
        }
        let stats = gw.stats();
        assert_eq!(stats.ambiguous.load(Relaxed), 3, "{venue}");
    }
}

#[test]
fn setup_passes_in_one_way_mode_and_hedge_mode_is_refused_with_how_to_switch() {
    let rig = start();
    let mut gw = gateway(&rig, perp());
    let setups = [Setup::OneWayMode, Setup::CrossMargin, Setup::Leverage(5)];
    assert_eq!(gw.set_up(&setups, mono_ns()), vec![]);
    // Leverage goes to the venue, which checks it.
    let refused = gw.set_up(&[Setup::Leverage(500)], mono_ns());
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, "BTC-USDT-SWAP");
    assert!(refused[0].2.contains("51000"), "{refused:?}");
    // Spot (cash) has nothing to set.
    let mut spot_gw = gateway(&rig, spot());
    assert_eq!(spot_gw.set_up(&setups, mono_ns()), vec![]);

    rig.sim.set_hedge_mode(Exchange::Okx, true);
    let refused = gw.set_up(&setups, mono_ns());
    assert_eq!(refused.len(), 1, "{refused:?}");
    let (_, setup, said) = &refused[0];
    assert_eq!(*setup, Setup::OneWayMode);
    assert!(
        said.contains("long_short_mode")
            && said.contains("POST /api/v5/account/set-position-mode")
            && said.contains("net_mode"),
        "{said}"
    );
}

#[test]
fn the_dead_man_switch_armed_for_a_resting_order_cancels_it_when_renewals_stop() {
    // OKX's 10 s minimum countdown elapses in 100 ms here.
    let rig = LiveRig::start(SimConfig {
        dead_man_speedup: 100,
        ..fast_config(&[BTC])
    });
    let venue = perp();
    let options = LiveOptions {
        dead_man_countdown_ms: 10_000,
        // No renewal within the test: the first arming is the last.
        dead_man_interval_ms: 600_000,
        ..LiveOptions::default()
    };
    let mut gw = gateway_with(&rig, okx(&rig, venue), options);
    let order = rest(&rig, venue, d("1"), 11);
    one(&call(&mut gw, &order));
    let requests = gw.stats();
    let before = requests.requests.load(Relaxed);
    let mut out = Vec::new();
    gw.poll(mono_ns(), &mut out);
    assert_eq!(
        requests.requests.load(Relaxed),
        before + 1,
        "a resting GTC order arms the switch"
    );
    poll_until(&mut gw, PATIENCE, |_| {
        rig.accepted(venue)[0].finish.is_some()
    });
    assert_eq!(rig.accepted(venue)[0].finish, Some(Finish::DeadMan));
    let q = one(&call(&mut gw, &as_query(&order)));
    assert_eq!(q.status, OrderStatus::Canceled);
}

#[test]
fn the_lookup_forgets_unfilled_cancels_after_two_hours_and_the_fill_search_confirms() {
    let rig = start();
    let venue = perp();
    let mut gw = gateway(&rig, venue);
    let rested = rest(&rig, venue, d("1"), 12);
    one(&call(&mut gw, &rested));
    one(&call(&mut gw, &as_cancel(&rested)));
    let partial = take(&rig, venue, d("1000"), 13);
    one(&call(&mut gw, &partial));
    let ended = until_ended(&mut gw);
    assert!(ended.cum_qty_base > Decimal::ZERO);

    // Two hours and a minute later on the venue's clock.
    rig.sim
        .set_clock_skew(Exchange::Okx, 2 * 3_600_000 + 60_000);
    let requests = gw.stats();
    let before = requests.requests.load(Relaxed);
    let q = one(&call(&mut gw, &as_query(&rested)));
    assert_eq!(
        (q.status, q.cum_qty_base),
        (OrderStatus::NotFound, Decimal::ZERO),
        "forgotten, and no fill under its id"
    );
    // Refused for its timestamp, resync, query again (51603), then the fill history.
    assert_eq!(
        requests.requests.load(Relaxed),
        before + 4,
        "the not-found answer was checked against the fill history"
    );
    // An order with fills is kept: its query still says what executed.
    let q = one(&call(&mut gw, &as_query(&partial)));
    assert_eq!(
        (q.status, q.cum_qty_base),
        (OrderStatus::Canceled, ended.cum_qty_base)
    );
    assert_eq!(rig.accepted(venue).len(), 2);
}

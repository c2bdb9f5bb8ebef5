//! carry's Gate gateways (`gate-perp`, `gate-spot`) against the simulated Gate, which checks
//! every signature, timestamp, `text` and lot as Gate documents them. What the venue accepted is
//! read from the simulator's own record, never from carry's reports.

mod live_support;

use std::time::{Duration, Instant};

use carry::sim::record::Finish;
use carry::sim::{AcceptedOrder, SimConfig, SimFault, Wallet};
use carry_engine::execution::order::{
    ExecKind, ExecReport, OrderIntent, OrderStatus, RejectReason, Side, TimeInForce,
};
use carry_engine::market::venue::Exchange;
use carry_engine::Venue;
use carry_feeds::gateway::credentials::Secret;
use carry_feeds::gateway::live::{LiveGateway, LiveOptions, Setup};
use carry_feeds::venue::gate::orders::GateOrders;
use live_support::*;
use rust_decimal::Decimal;

const BTC: &str = "BTC-USDT";

fn perp() -> Venue {
    v("gate-perp")
}

fn spot() -> Venue {
    v("gate-spot")
}

fn rig() -> LiveRig {
    LiveRig::start(fast_config(&[BTC]))
}

fn gateway(rig: &LiveRig, venue: Venue) -> LiveGateway<GateOrders> {
    rig.gateway(GateOrders::new(venue, &rig.api_config(venue)))
}

/// (small, larger than any touch) in the venue's order unit.
fn sizes(venue: Venue) -> (Decimal, Decimal) {
    if venue.is_perp() {
        (d("1"), d("100000"))
    } else {
        (d("0.001"), d("10"))
    }
}

fn tick(rig: &LiveRig, venue: Venue) -> Decimal {
    let ins = rig
        .sim
        .listing()
        .instruments()
        .iter()
        .find(|i| i.name == BTC);
    ins.and_then(|i| i.on(venue))
        .expect("listed")
        .spec
        .tick_size
}

/// `px` moved by `pct` percent, on the venue's tick.
fn away(rig: &LiveRig, venue: Venue, px: Decimal, pct: i64) -> Decimal {
    let t = tick(rig, venue);
    let moved = px * (Decimal::ONE_HUNDRED + Decimal::from(pct)) / Decimal::ONE_HUNDRED;
    (moved / t).round() * t
}

#[allow(clippy::too_many_arguments)]
fn order(
    rig: &LiveRig,
    venue: Venue,
    side: Side,
    tif: TimeInForce,
    price: Decimal,
    qty: Decimal,
    cycle: u32,
) -> OrderIntent {
    rig.intent(venue, BTC, side, tif, price, qty, cycle, 0)
}

/// A buy IOC 1 % through the ask: it takes what the touch shows.
fn taking(rig: &LiveRig, venue: Venue, qty: Decimal, cycle: u32) -> OrderIntent {
    let ask = rig.touch(venue, BTC).ask;
    let px = away(rig, venue, ask, 1);
    order(rig, venue, Side::Buy, TimeInForce::Ioc, px, qty, cycle)
}

/// A buy GTC 2 % under the bid: it rests.
fn resting(rig: &LiveRig, venue: Venue, qty: Decimal, cycle: u32) -> OrderIntent {
    let bid = rig.touch(venue, BTC).bid;
    let px = away(rig, venue, bid, -2);
    order(rig, venue, Side::Buy, TimeInForce::Gtc, px, qty, cycle)
}

fn one(reports: Vec<ExecReport>, what: &str) -> ExecReport {
    assert_eq!(reports.len(), 1, "{what}: {reports:?}");
    reports[0]
}

/// The venue's record of the order with `intent`'s id (exactly one).
fn record(rig: &LiveRig, intent: &OrderIntent) -> AcceptedOrder {
    let text = format!("t-{}", intent.client_order_id.as_str());
    let mut found: Vec<AcceptedOrder> = rig
        .accepted(intent.venue)
        .into_iter()
        .filter(|o| o.client_id == text)
        .collect();
    assert_eq!(found.len(), 1, "{text}: {found:?}");
    found.remove(0)
}

/// What an order put in the account, in base units: contracts × size on perps; on spot, a
/// buy's fills less the fee taken from them in the base asset.
fn received(rig: &LiveRig, o: &AcceptedOrder) -> Decimal {
    if o.venue.is_perp() {
        return o.filled() * rig.contract_size(o.venue, BTC);
    }
    let base_fees: Decimal = o
        .fills
        .iter()
        .filter(|f| f.fee_asset == "BTC")
        .map(|f| f.fee)
        .sum();
    o.filled() - base_fees
}

fn fees(o: &AcceptedOrder) -> Decimal {
    o.fills.iter().map(|f| f.fee).sum()
}

fn avg(o: &AcceptedOrder) -> Decimal {
    let value: Decimal = o.fills.iter().map(|f| f.qty * f.price).sum();
    (value / o.filled()).normalize()
}

/// Waits (bounded) for the venue's record of `intent` to satisfy `done`.
fn wait_for_record(
    rig: &LiveRig,
    intent: &OrderIntent,
    timeout: Duration,
    done: impl Fn(&AcceptedOrder) -> bool,
) -> AcceptedOrder {
    let start = Instant::now();
    loop {
        let o = record(rig, intent);
        if done(&o) || start.elapsed() > timeout {
            return o;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn each_market_fills_partly_fills_rests_answers_queries_and_cancels() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let cs = rig.contract_size(venue, BTC);
        let (small, big) = sizes(venue);

        // Fill: a small IOC through the ask, known from the place answer alone.
        let fill = taking(&rig, venue, small, 1);
        let r = one(call(&mut gw, &fill), "fill");
        let rec = record(&rig, &fill);
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::Fill, OrderStatus::Filled),
            "{venue}"
        );
        assert_eq!(rec.filled(), small, "{venue}");
        assert_eq!(r.avg_price, avg(&rec), "{venue}");
        if venue.is_perp() {
            assert_eq!(r.cum_qty_base, small * cs);
            // The fee is the notional at the order's taker rate; the venue rounds each fill's.
            let gap = (r.fee_quote - fees(&rec)).abs();
            assert!(
                gap <= d("0.00000001") * Decimal::from(rec.fills.len()),
                "{r:?} {rec:?}"
            );
        }

        // Partial: an IOC far larger than the touch; the rest expires.
        let partial = taking(&rig, venue, big, 2);
        let r = one(call(&mut gw, &partial), "partial");
        let rec = record(&rig, &partial);
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::Canceled, OrderStatus::Canceled),
            "{venue}"
        );
        assert!(
            rec.filled() > Decimal::ZERO && rec.filled() < big,
            "{rec:?}"
        );
        if venue.is_perp() {
            assert_eq!(r.cum_qty_base, rec.filled() * cs, "{venue}");
        }

        // Rest: a GTC under the bid is acknowledged, found by a query, cancelled.
        let rest = resting(&rig, venue, small, 3);
        let r = one(call(&mut gw, &rest), "rest");
        assert_eq!(
            (r.kind, r.status, r.cum_qty_base),
            (ExecKind::Ack, OrderStatus::Open, Decimal::ZERO)
        );
        let r = one(call(&mut gw, &as_query(&rest)), "query open");
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::QueryAnswer, OrderStatus::Open),
            "{venue}"
        );
        let r = one(call(&mut gw, &as_cancel(&rest)), "cancel");
        assert_eq!(
            (r.kind, r.status, r.cum_qty_base),
            (ExecKind::Canceled, OrderStatus::Canceled, Decimal::ZERO)
        );
        assert_eq!(record(&rig, &rest).finish, Some(Finish::Canceled));
        // After it ended, a futures order is still found by its text (60 s); a spot order only
        // while open, and an order that never filled leaves no trace in the fills: not found.
        let r = one(call(&mut gw, &as_query(&rest)), "query cancelled");
        let want = if venue.is_perp() {
            OrderStatus::Canceled
        } else {
            OrderStatus::NotFound
        };
        assert_eq!(r.status, want, "{venue}");
        // Cancelling it again: the venue says it ended; the gateway asks and reports that.
        let r = call(&mut gw, &as_cancel(&rest));
        assert!(
            r.iter()
                .all(|r| r.kind == ExecKind::QueryAnswer && r.status == want),
            "{r:?}"
        );

        // A GTC larger than the touch, at the touch: partly filled, resting, then cancelled.
        let t = rig.touch(venue, BTC);
        let gtc = order(&rig, venue, Side::Buy, TimeInForce::Gtc, t.ask, big, 4);
        let r = one(call(&mut gw, &gtc), "gtc partial");
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::PartialFill, OrderStatus::Open),
            "{venue}"
        );
        assert!(r.cum_qty_base > Decimal::ZERO);
        let first = r.cum_qty_base;
        let r = one(call(&mut gw, &as_cancel(&gtc)), "gtc cancel");
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::Canceled, OrderStatus::Canceled),
            "{venue}"
        );
        assert!(
            r.cum_qty_base >= first && r.cum_qty_base < big * cs,
            "{r:?}"
        );

        // An id the venue never saw.
        let never = order(&rig, venue, Side::Buy, TimeInForce::Ioc, t.ask, small, 5);
        let r = one(call(&mut gw, &as_query(&never)), "unknown id");
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::QueryAnswer, OrderStatus::NotFound)
        );

        // The venue's own view: every order once, with carry's id behind `t-`.
        for o in [&fill, &partial, &rest, &gtc] {
            assert_eq!(rig.accepted_count(venue, &o.client_order_id), 1, "{venue}");
            assert_eq!(
                record(&rig, o).stp,
                "cn",
                "self-trade prevention on every order"
            );
        }
        assert_eq!(rig.accepted_count(venue, &never.client_order_id), 0);
    }
}

#[test]
fn a_reduce_only_order_that_would_open_a_position_is_refused_as_reduce_only() {
    let rig = rig();
    let mut gw = gateway(&rig, perp());
    let t = rig.touch(perp(), BTC);
    let o = OrderIntent {
        reduce_only: true,
        ..order(
            &rig,
            perp(),
            Side::Sell,
            TimeInForce::Ioc,
            away(&rig, perp(), t.bid, -1),
            d("1"),
            1,
        )
    };
    let r = one(call(&mut gw, &o), "reduce only");
    assert_eq!(
        (r.kind, r.reject, r.venue_code),
        (ExecKind::Rejected, RejectReason::ReduceOnly, 521)
    );
    assert_eq!(rig.accepted_count(perp(), &o.client_order_id), 0);
}

#[test]
fn a_spot_buy_charged_in_base_reports_what_it_received_and_margin_sells_borrow() {
    let rig = rig();
    let mut gw = gateway(&rig, spot());
    let t = rig.touch(spot(), BTC);
    let buy = order(
        &rig,
        spot(),
        Side::Buy,
        TimeInForce::Ioc,
        away(&rig, spot(), t.ask, 1),
        d("0.01"),
        1,
    );
    let r = one(call(&mut gw, &buy), "buy");
    let rec = record(&rig, &buy);
    let fee = fees(&rec);
    assert_eq!(rec.fills[0].fee_asset, "BTC");
    assert!(fee > Decimal::ZERO);
    assert_eq!(r.status, OrderStatus::Filled);
    assert_eq!(
        r.cum_qty_base,
        d("0.01") - fee,
        "the position is what the balance received"
    );
    assert_eq!(
        r.fee_quote,
        fee * r.avg_price,
        "the fee still shows, in quote"
    );

    // Margin: a short sell borrows the base it lacks, through the margin account.
    let mut config = rig.api_config(spot());
    config.margin_spot = true;
    let mut margin = rig.gateway(GateOrders::new(spot(), &config));
    let sell = order(
        &rig,
        spot(),
        Side::Sell,
        TimeInForce::Ioc,
        away(&rig, spot(), t.bid, -1),
        d("0.002"),
        2,
    );
    let r = one(call(&mut margin, &sell), "margin sell");
    assert_eq!(
        (r.status, r.cum_qty_base),
        (OrderStatus::Filled, d("0.002"))
    );
    let rec = record(&rig, &sell);
    assert_eq!((rec.wallet, rec.auto_borrow), (Wallet::Margin, true));
    assert_eq!(rec.fills[0].fee_asset, "USDT", "a sell pays in quote");
    assert_eq!(r.fee_quote, fees(&rec));
}

#[test]
fn a_resend_of_an_order_the_venue_has_answers_duplicate_and_places_nothing() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let (small, _) = sizes(venue);

        // Resting: found by its text at once.
        let rest = resting(&rig, venue, small, 1);
        one(call(&mut gw, &rest), "rest");
        let r = one(call(&mut gw, &as_resend(&rest)), "resend");
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::Duplicate, OrderStatus::Open),
            "{venue}"
        );
        assert_eq!(
            rig.accepted_count(venue, &rest.client_order_id),
            1,
            "{venue}"
        );

        // Filled: a futures order is still found by its text; a spot order only in the fills,
        // which the second attempt searches.
        let fill = taking(&rig, venue, small, 2);
        one(call(&mut gw, &fill), "fill");
        let mut r = call(&mut gw, &as_resend(&fill));
        if !venue.is_perp() {
            assert!(
                r.is_empty(),
                "not open: the next attempt looks further: {r:?}"
            );
            r = call(&mut gw, &as_resend(&fill));
        }
        let r = one(r, "resend filled");
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::Duplicate, OrderStatus::Filled),
            "{venue}"
        );
        assert_eq!(
            r.cum_qty_base,
            received(&rig, &record(&rig, &fill)),
            "{venue}"
        );
        assert_eq!(
            rig.accepted_count(venue, &fill.client_order_id),
            1,
            "{venue}"
        );
    }
}

#[test]
fn a_resend_of_an_order_the_venue_never_saw_places_it_once_after_looking() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let (small, _) = sizes(venue);
        let o = taking(&rig, venue, small, 1);
        rig.sim.inject(venue, SimFault::Reset, 1);
        assert!(call(&mut gw, &o).is_empty(), "connection reset: unknown");
        assert_eq!(rig.accepted_count(venue, &o.client_order_id), 0);
        // Looks by text, then in the fills; only the third attempt places.
        assert!(call(&mut gw, &as_resend(&o)).is_empty());
        assert!(call(&mut gw, &as_resend(&o)).is_empty());
        assert_eq!(rig.accepted_count(venue, &o.client_order_id), 0);
        let r = one(call(&mut gw, &as_resend(&o)), "placed");
        assert_eq!(
            (r.kind, r.status),
            (ExecKind::Fill, OrderStatus::Filled),
            "{venue}"
        );
        assert_eq!(rig.accepted_count(venue, &o.client_order_id), 1, "{venue}");
    }
}

#[test]
fn a_wrong_secret_is_refused_by_the_venue_as_auth() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut config = rig.api_config(venue);
        config.credentials.secret = Secret::new("not-the-secret");
        let mut gw = rig.gateway(GateOrders::new(venue, &config));
        let (small, _) = sizes(venue);
        let t = rig.touch(venue, BTC);
        let o = order(&rig, venue, Side::Buy, TimeInForce::Ioc, t.ask, small, 1);
        let r = one(call(&mut gw, &o), "wrong secret");
        assert_eq!(
            (r.kind, r.reject, r.venue_code),
            (ExecKind::Rejected, RejectReason::Auth, 102)
        );
        assert_eq!(rig.accepted_count(venue, &o.client_order_id), 0);
    }
}

#[test]
fn a_skewed_clock_is_refused_once_then_the_same_text_is_accepted_after_a_resync() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        gw.warm_up(carry_feeds::transport::clock::mono_ns())
            .expect("warm up");
        // Gate allows 60 s.
        rig.sim.set_clock_skew(Exchange::Gate, 90_000);
        let (small, _) = sizes(venue);
        let o = taking(&rig, venue, small, 1);
        let r = one(call(&mut gw, &o), "after resync");
        assert_eq!(r.status, OrderStatus::Filled, "{venue}");
        let stats = gw.stats();
        assert_eq!(
            stats
                .timestamp_rejects
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        assert!(
            stats
                .clock_offset_ms
                .load(std::sync::atomic::Ordering::Relaxed)
                > 89_000
        );
        assert_eq!(rig.accepted_count(venue, &o.client_order_id), 1, "{venue}");
        rig.sim.set_clock_skew(Exchange::Gate, 0);
    }
}

#[test]
fn a_burst_past_the_limit_waits_in_the_backlog_and_every_order_is_accepted_once() {
    let rig = rig();
    // Spot: 10 orders a second per pair; futures: 100. carry keeps to 90 % of each.
    for (venue, burst) in [(spot(), 15u32), (perp(), 100)] {
        let mut gw = gateway(&rig, venue);
        let (small, _) = sizes(venue);
        let t = rig.touch(venue, BTC);
        let px = away(&rig, venue, t.bid, -5);
        let intents: Vec<OrderIntent> = (0..burst)
            .map(|i| order(&rig, venue, Side::Buy, TimeInForce::Gtc, px, small, 100 + i))
            .collect();
        let mut reports = Vec::new();
        for o in &intents {
            reports.extend(call(&mut gw, o));
        }
        let stats = gw.stats();
        let waiting = stats.backlog.load(std::sync::atomic::Ordering::Relaxed);
        assert!(waiting > 0, "{venue}: some wait for the budget");
        assert_eq!(reports.len() as u64 + waiting, u64::from(burst));
        reports.extend(poll_until(&mut gw, Duration::from_secs(5), |r| {
            r.len() + reports.len() >= burst as usize
        }));
        assert_eq!(reports.len(), burst as usize, "{venue}");
        assert!(
            reports.iter().all(|r| r.kind == ExecKind::Ack),
            "{reports:?}"
        );
        assert_eq!(
            stats.throttled.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "never refused for rate"
        );
        for o in &intents {
            assert_eq!(rig.accepted_count(venue, &o.client_order_id), 1, "{venue}");
        }
    }
}

#[test]
fn each_fault_leaves_the_order_unknown_until_a_query_resolves_it() {
    let rig = rig();
    let mut cycle = 0;
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let (small, _) = sizes(venue);
        for fault in [SimFault::DropAnswer, SimFault::ServerError, SimFault::Reset] {
            cycle += 1;
            let o = taking(&rig, venue, small, cycle);
            rig.sim.inject(venue, fault, 1);
            assert!(call(&mut gw, &o).is_empty(), "{venue} {fault:?}: no report");
            let r = one(call(&mut gw, &as_query(&o)), "query");
            let applied = fault != SimFault::Reset;
            let want = if applied {
                OrderStatus::Filled
            } else {
                OrderStatus::NotFound
            };
            assert_eq!(
                (r.kind, r.status),
                (ExecKind::QueryAnswer, want),
                "{venue} {fault:?}"
            );
            if applied {
                assert_eq!(
                    r.cum_qty_base,
                    received(&rig, &record(&rig, &o)),
                    "{venue} {fault:?}"
                );
            }
            assert_eq!(
                rig.accepted_count(venue, &o.client_order_id),
                usize::from(applied),
                "{venue} {fault:?}"
            );
        }
    }
}

#[test]
fn a_lookup_past_gates_window_is_resolved_from_the_fill_history() {
    let rig = rig();
    let venue = perp();
    let mut gw = gateway(&rig, venue);
    let (small, big) = sizes(venue);
    let fill = taking(&rig, venue, small, 1);
    let partial = taking(&rig, venue, big, 2);
    let rest = resting(&rig, venue, small, 3);
    let placed: Vec<ExecReport> = [&fill, &partial, &rest]
        .iter()
        .map(|o| one(call(&mut gw, o), "place"))
        .collect();
    one(call(&mut gw, &as_cancel(&rest)), "cancel");
    // 61 s later by the venue's clock, the texts are no longer found.
    rig.sim.set_clock_skew(Exchange::Gate, 61_000);
    let r = one(call(&mut gw, &as_query(&fill)), "filled");
    assert_eq!(
        (r.status, r.cum_qty_base),
        (OrderStatus::Filled, placed[0].cum_qty_base)
    );
    assert_eq!(r.avg_price, placed[0].avg_price);
    let r = one(call(&mut gw, &as_query(&partial)), "partial");
    assert_eq!(
        (r.status, r.cum_qty_base),
        (OrderStatus::Canceled, placed[1].cum_qty_base)
    );
    // A cancelled order that never filled is gone without a trace.
    let r = one(call(&mut gw, &as_query(&rest)), "never filled");
    assert_eq!(r.status, OrderStatus::NotFound);
}

#[test]
fn setup_takes_one_way_mode_cross_margin_and_leverage_and_refuses_hedge_mode() {
    let rig = rig();
    let mut gw = gateway(&rig, perp());
    let now = carry_feeds::transport::clock::mono_ns;
    let wanted = [Setup::OneWayMode, Setup::CrossMargin, Setup::Leverage(5)];
    assert_eq!(gw.set_up(&wanted, now()), vec![]);
    // Nothing applies to spot.
    assert_eq!(gateway(&rig, spot()).set_up(&wanted, now()), vec![]);

    rig.sim.set_hedge_mode(Exchange::Gate, true);
    let refused = gw.set_up(&[Setup::OneWayMode], now());
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].1, Setup::OneWayMode);
    assert!(refused[0].2.contains("dual_mode=false"), "{}", refused[0].2);
    rig.sim.set_hedge_mode(Exchange::Gate, false);
    assert_eq!(gw.set_up(&[Setup::OneWayMode], now()), vec![]);
}

#[test]
fn the_dead_man_switch_covers_a_resting_order_and_cancels_it_once_renewals_stop() {
    let rig = LiveRig::start(SimConfig {
        dead_man_speedup: 100,
        ..fast_config(&[BTC])
    });
    for venue in [perp(), spot()] {
        // A 5 s countdown (Gate's shortest) runs 50 ms at the simulator's speed-up; carry
        // renews it every 10 ms while it polls.
        let options = LiveOptions {
            dead_man_interval_ms: 10,
            dead_man_countdown_ms: 5_000,
            ..LiveOptions::default()
        };
        let mut gw = rig.gateway_with(GateOrders::new(venue, &rig.api_config(venue)), options);
        let (small, _) = sizes(venue);
        let rest = resting(&rig, venue, small, 1);
        one(call(&mut gw, &rest), "rest");
        // Renewed for 300 ms, six countdowns long: still open.
        poll_until(&mut gw, Duration::from_millis(300), |_| false);
        assert_eq!(
            record(&rig, &rest).finish,
            None,
            "{venue}: renewed, still resting"
        );
        // carry goes quiet: the venue cancels it.
        let rec = wait_for_record(&rig, &rest, Duration::from_secs(2), |o| o.finish.is_some());
        assert_eq!(rec.finish, Some(Finish::DeadMan), "{venue}");
    }
}

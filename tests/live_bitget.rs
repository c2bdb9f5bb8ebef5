//! carry's Bitget gateways (`feeds/src/venue/bitget/orders.rs` under the shared
//! `LiveGateway`) against the simulated Bitget, which checks every signature, timestamp, id,
//! lot and limit as Bitget documents them. What the venue accepted is read from its own record.
//!
//! Bitget's place answer is an acknowledgement only, so every IOC below is first reported as an
//! `Ack` and its outcome arrives from the gateway's follow-up queries by `clientOid`.

#[path = "live_support/mod.rs"]
mod live_support;

use std::collections::HashSet;
use std::time::Duration;

use carry::sim::record::Finish;
use carry::sim::{RateLimit, SimConfig, SimFault, SimRateLimits, Wallet};
use carry_engine::execution::order::{
    ExecKind, ExecReport, OrderIntent, OrderStatus, RejectReason, Side, TimeInForce,
};
use carry_engine::market::venue::Exchange;
use carry_engine::Venue;
use carry_feeds::gateway::credentials::Secret;
use carry_feeds::gateway::http::{HttpClient, HttpTimeouts};
use carry_feeds::gateway::live::{
    ApiConfig, Call, LiveGateway, LiveOptions, LiveVenue, OrderApi, Setup,
};
use carry_feeds::gateway::Gateway;
use carry_feeds::transport::clock::{mono_ns, unix_ms};
use carry_feeds::venue::bitget::orders::BitgetOrders;
use live_support::*;
use rust_decimal::Decimal;

const BTC: &str = "BTC-USDT";
const WAIT: Duration = Duration::from_secs(5);

fn perp() -> Venue {
    v("bitget-perp")
}

fn spot() -> Venue {
    v("bitget-spot")
}

fn rig() -> LiveRig {
    LiveRig::start(SimConfig {
        dead_man_speedup: 100,
        ..fast_config(&[BTC])
    })
}

fn api(rig: &LiveRig, venue: Venue) -> BitgetOrders {
    BitgetOrders::new(venue, &rig.api_config(venue))
}

fn gateway(rig: &LiveRig, venue: Venue) -> LiveGateway<BitgetOrders> {
    rig.gateway(api(rig, venue))
}

/// `pct` percent through `px`, on BTC's 0.1 tick.
fn through(px: Decimal, pct: i64) -> Decimal {
    (px * Decimal::from(100 + pct) / Decimal::ONE_HUNDRED).round_dp(1)
}

/// An IOC that takes the touch at once.
fn taking(rig: &LiveRig, venue: Venue, side: Side, qty: &str, cycle: u32) -> OrderIntent {
    let t = rig.touch(venue, BTC);
    let price = match side {
        Side::Buy => through(t.ask, 1),
        Side::Sell => through(t.bid, -1),
    };
    rig.intent(venue, BTC, side, TimeInForce::Ioc, price, d(qty), cycle, 0)
}

/// A GTC buy that rests below the touch (inside the venue's price band).
fn resting(rig: &LiveRig, venue: Venue, cycle: u32) -> OrderIntent {
    let bid = rig.touch(venue, BTC).bid;
    rig.intent(
        venue,
        BTC,
        Side::Buy,
        TimeInForce::Gtc,
        through(bid, -2),
        d("0.001"),
        cycle,
        0,
    )
}

fn kinds(reports: &[ExecReport]) -> Vec<ExecKind> {
    reports.iter().map(|r| r.kind).collect()
}

/// Places `intent` and polls until its outcome is known; returns every report, the last one
/// terminal.
fn place_and_settle(gw: &mut dyn Gateway, intent: &OrderIntent) -> Vec<ExecReport> {
    let mut reports = call(gw, intent);
    if !reports.iter().any(|r| r.status.is_terminal()) {
        reports.extend(poll_until(gw, WAIT, |r| {
            r.iter().any(|x| x.status.is_terminal())
        }));
    }
    let last = reports.last().expect("a report");
    assert!(last.status.is_terminal(), "{reports:?}");
    reports
}

/// The single order the venue accepted under `intent`'s id.
fn venue_order(rig: &LiveRig, intent: &OrderIntent) -> carry::sim::AcceptedOrder {
    let found: Vec<_> = rig
        .accepted(intent.venue)
        .into_iter()
        .filter(|o| o.client_id == intent.client_order_id.as_str())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn iocs_fill_or_fill_partly_and_are_learned_from_the_follow_up_queries() {
    let rig = rig();
    for (i, venue) in [perp(), spot()].into_iter().enumerate() {
        let mut gw = gateway(&rig, venue);
        let cycle = 10 * i as u32;

        // Fill: a small IOC through the ask.
        let fill = taking(&rig, venue, Side::Buy, "0.001", cycle + 1);
        let reports = place_and_settle(&mut gw, &fill);
        assert_eq!(reports[0].kind, ExecKind::Ack, "{venue}: {reports:?}");
        let last = reports.last().unwrap();
        let at_venue = venue_order(&rig, &fill);
        assert_eq!(
            (last.kind, last.status, at_venue.finish),
            (
                ExecKind::QueryAnswer,
                OrderStatus::Filled,
                Some(Finish::Filled)
            ),
            "{venue}: {reports:?}"
        );
        assert_eq!(at_venue.filled(), d("0.001"));
        assert_eq!(last.avg_price, at_venue.fills[0].price, "{venue}");
        assert!(last.avg_price <= fill.price && last.fee_quote > Decimal::ZERO);
        // The stp field travels on every order.
        assert_eq!(at_venue.stp, "cancel_taker");

        // Partial fill: larger than the touch, the rest expires.
        let big = taking(&rig, venue, Side::Buy, "10", cycle + 2);
        let reports = place_and_settle(&mut gw, &big);
        let last = reports.last().unwrap();
        let at_venue = venue_order(&rig, &big);
        assert_eq!(
            (last.status, at_venue.finish),
            (OrderStatus::Canceled, Some(Finish::Expired)),
            "{venue}: {reports:?}"
        );
        let net = at_venue.filled()
            - at_venue
                .fills
                .iter()
                .filter(|f| f.fee_asset == "BTC")
                .map(|f| f.fee)
                .sum::<Decimal>();
        assert!(at_venue.filled() > Decimal::ZERO && at_venue.filled() < d("10"));
        assert_eq!(last.cum_qty_base, net, "{venue}: {reports:?}");
    }
}

#[test]
fn a_spot_buy_reports_the_base_received_net_of_the_fee_taken_in_base() {
    let rig = rig();
    let mut gw = gateway(&rig, spot());
    let buy = taking(&rig, spot(), Side::Buy, "0.01", 1);
    let reports = place_and_settle(&mut gw, &buy);
    let last = reports.last().unwrap();
    let at_venue = venue_order(&rig, &buy);
    let fee: Decimal = at_venue.fills.iter().map(|f| f.fee).sum();
    assert!(
        fee > Decimal::ZERO && at_venue.fills.iter().all(|f| f.fee_asset == "BTC"),
        "{at_venue:?}"
    );
    assert_eq!(last.status, OrderStatus::Filled);
    assert_eq!(last.cum_qty_base, d("0.01") - fee, "{reports:?}");
    assert_eq!(
        last.fee_quote,
        fee * last.avg_price,
        "the fee still shows, in quote"
    );
}

#[test]
fn a_resting_gtc_is_acknowledged_and_its_cancel_is_learned_by_query() {
    let rig = rig();
    for (i, venue) in [perp(), spot()].into_iter().enumerate() {
        let mut gw = gateway(&rig, venue);
        let gtc = resting(&rig, venue, 1 + i as u32);
        let reports = call(&mut gw, &gtc);
        assert_eq!(kinds(&reports), [ExecKind::Ack], "{venue}");
        assert_eq!(reports[0].status, OrderStatus::Open);
        let open = call(&mut gw, &as_query(&gtc));
        assert_eq!(
            (open[0].kind, open[0].status, open[0].cum_qty_base),
            (ExecKind::QueryAnswer, OrderStatus::Open, Decimal::ZERO),
            "{venue}"
        );

        // Bitget's cancel answer says nothing of what executed first: the gateway asks at once,
        // and the query's answer is the report.
        let after = call(&mut gw, &as_cancel(&gtc));
        assert_eq!(venue_order(&rig, &gtc).finish, Some(Finish::Canceled));
        assert_eq!(after.len(), 1, "{venue}: {after:?}");
        assert_eq!(after[0].kind, ExecKind::QueryAnswer, "{venue}");
        assert_eq!(
            (after[0].status, after[0].cum_qty_base),
            (OrderStatus::Canceled, Decimal::ZERO),
            "{venue}"
        );

        // A cancel of an order that ended already is answered by a query.
        let done = taking(&rig, venue, Side::Buy, "0.001", 5 + i as u32);
        place_and_settle(&mut gw, &done);
        let late = call(&mut gw, &as_cancel(&done));
        assert_eq!(
            (late.len(), late[0].kind, late[0].status),
            (1, ExecKind::QueryAnswer, OrderStatus::Filled),
            "{venue}: {late:?}"
        );
    }
}

#[test]
fn a_resend_gets_the_duplicate_answer_describing_the_existing_order() {
    let rig = rig();
    for (i, venue) in [perp(), spot()].into_iter().enumerate() {
        let mut gw = gateway(&rig, venue);
        let ioc = taking(&rig, venue, Side::Buy, "0.001", 1 + i as u32);
        let first = place_and_settle(&mut gw, &ioc);
        let again = call(&mut gw, &as_resend(&ioc));
        assert_eq!(again.len(), 1, "{venue}: {again:?}");
        let dup = &again[0];
        let filled = first.last().unwrap();
        assert_eq!(
            (dup.kind, dup.status, dup.cum_qty_base, dup.avg_price),
            (
                ExecKind::Duplicate,
                OrderStatus::Filled,
                filled.cum_qty_base,
                filled.avg_price
            ),
            "{venue}"
        );
        let gtc = resting(&rig, venue, 5 + i as u32);
        call(&mut gw, &gtc);
        let dup = call(&mut gw, &as_resend(&gtc));
        assert_eq!(
            (dup[0].kind, dup[0].status),
            (ExecKind::Duplicate, OrderStatus::Open)
        );
        for intent in [ioc, gtc] {
            assert_eq!(rig.accepted_count(venue, &intent.client_order_id), 1);
        }
    }
}

#[test]
fn an_id_the_venue_never_saw_is_not_found() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut gw = gateway(&rig, venue);
        let never = taking(&rig, venue, Side::Buy, "0.001", 99);
        let r = call(&mut gw, &as_query(&never));
        assert_eq!(
            (r.len(), r[0].kind, r[0].status),
            (1, ExecKind::QueryAnswer, OrderStatus::NotFound),
            "{venue}"
        );
    }
}

#[test]
fn a_wrong_secret_or_passphrase_is_refused_as_auth() {
    let rig = rig();
    for venue in [perp(), spot()] {
        let mut wrong_secret = rig.api_config(venue);
        wrong_secret.credentials.secret = Secret::new("not-the-secret");
        let mut wrong_passphrase = rig.api_config(venue);
        wrong_passphrase.credentials.passphrase = Some(Secret::new("not-the-passphrase"));
        for (config, code) in [(wrong_secret, 40009), (wrong_passphrase, 40012)] {
            let mut gw = rig.gateway(BitgetOrders::new(venue, &config));
            let intent = taking(&rig, venue, Side::Buy, "0.001", 1);
            let r = call(&mut gw, &intent);
            assert_eq!(
                (r.len(), r[0].kind, r[0].reject, r[0].venue_code),
                (1, ExecKind::Rejected, RejectReason::Auth, code),
                "{venue}"
            );
        }
        assert!(rig.accepted(venue).is_empty());
    }
}

#[test]
fn a_skewed_clock_is_resynced_and_the_same_id_accepted_once() {
    let rig = rig();
    for (i, venue) in [perp(), spot()].into_iter().enumerate() {
        rig.sim.set_clock_skew(Exchange::Bitget, 0);
        let mut gw = gateway(&rig, venue);
        gw.warm_up(mono_ns()).expect("server time");
        // Bitget allows 30 s either way.
        rig.sim.set_clock_skew(Exchange::Bitget, 45_000);
        let intent = taking(&rig, venue, Side::Buy, "0.001", 1 + i as u32);
        let reports = place_and_settle(&mut gw, &intent);
        assert_eq!(reports[0].kind, ExecKind::Ack, "{venue}: {reports:?}");
        let stats = gw.stats();
        assert_eq!(
            stats
                .timestamp_rejects
                .load(std::sync::atomic::Ordering::Relaxed),
            1,
            "{venue}"
        );
        assert_eq!(rig.accepted_count(venue, &intent.client_order_id), 1);
    }
}

/// Ids of the orders `reports` says have ended.
fn ended(reports: &[ExecReport]) -> HashSet<String> {
    reports
        .iter()
        .filter(|r| r.status.is_terminal())
        .map(|r| r.client_order_id.as_str().to_string())
        .collect()
}

#[test]
fn a_burst_past_the_limit_waits_in_the_backlog_and_every_order_is_accepted_once() {
    let rig = rig();
    let mut gw = gateway(&rig, perp());
    // Bitget: 10 places a second; carry keeps to 90 % of it.
    let intents: Vec<OrderIntent> = (1..=12)
        .map(|c| taking(&rig, perp(), Side::Buy, "0.001", c))
        .collect();
    let mut reports = Vec::new();
    for intent in &intents {
        reports.extend(call(&mut gw, intent));
    }
    let acked = reports.iter().filter(|r| r.kind == ExecKind::Ack).count();
    assert!(
        acked < intents.len(),
        "some waited: {acked} acknowledged at once"
    );
    let already = ended(&reports);
    let more = poll_until(&mut gw, WAIT, |r| {
        already.union(&ended(r)).count() >= intents.len()
    });
    reports.extend(more);
    assert_eq!(ended(&reports).len(), intents.len(), "{reports:?}");
    assert!(
        reports.iter().all(|r| r.kind != ExecKind::Rejected),
        "{reports:?}"
    );
    for intent in &intents {
        assert_eq!(rig.accepted_count(perp(), &intent.client_order_id), 1);
    }
}

#[test]
fn another_client_using_the_budget_gets_carry_a_429_and_the_order_goes_later() {
    // Two places a second on the venue; carry's budget (9) does not know that, and another
    // client of the account spends them just before carry sends.
    let rig = LiveRig::start(SimConfig {
        rate_limits: SimRateLimits {
            bitget_orders: RateLimit::new(2, Duration::from_secs(1)),
            ..SimRateLimits::default()
        },
        ..fast_config(&[BTC])
    });
    let mut placed = Vec::new();
    let mut throttled = None;
    // A window boundary may fall between the other client's sends and carry's: then try again,
    // each round with fresh gateways (fresh budgets).
    for round in 0..3u32 {
        let mut other = gateway(&rig, perp());
        for k in 0..2 {
            let o = resting(&rig, perp(), 100 + 10 * round + k);
            call(&mut other, &o);
            placed.push(o);
        }
        let mut gw = gateway(&rig, perp());
        let mine = resting(&rig, perp(), 200 + round);
        placed.push(mine);
        if call(&mut gw, &mine).is_empty() {
            throttled = Some((gw, mine));
            break;
        }
    }
    let (mut gw, mine) = throttled.expect("the venue throttled carry in one of the rounds");
    let stats = gw.stats();
    assert_eq!(
        stats.throttled.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "a 429, not carry's own budget"
    );
    let later = poll_until(&mut gw, WAIT, |r| !r.is_empty());
    assert_eq!(
        (later.len(), later[0].kind, later[0].client_order_id),
        (1, ExecKind::Ack, mine.client_order_id),
        "{later:?}"
    );
    assert_eq!(rig.accepted_count(perp(), &mine.client_order_id), 1);
    for o in &placed {
        assert!(rig.accepted_count(perp(), &o.client_order_id) <= 1);
    }
}

#[test]
fn lost_answers_leave_the_order_unknown_until_a_query_resolves_it() {
    let rig = rig();
    for (i, venue) in [perp(), spot()].into_iter().enumerate() {
        let mut gw = gateway(&rig, venue);
        let base = 10 * i as u32;
        for (k, fault) in [SimFault::DropAnswer, SimFault::ServerError, SimFault::Reset]
            .into_iter()
            .enumerate()
        {
            let intent = taking(&rig, venue, Side::Buy, "0.001", base + k as u32 + 1);
            rig.sim.inject(venue, fault, 1);
            assert!(
                call(&mut gw, &intent).is_empty(),
                "{venue} {fault:?}: no report"
            );
            let r = call(&mut gw, &as_query(&intent));
            let (want, count) = match fault {
                // Reset before the venue applied it: nothing there.
                SimFault::Reset => (OrderStatus::NotFound, 0),
                _ => (OrderStatus::Filled, 1),
            };
            assert_eq!(r[0].status, want, "{venue} {fault:?}: {r:?}");
            assert_eq!(
                rig.accepted_count(venue, &intent.client_order_id),
                count,
                "{venue} {fault:?}"
            );
        }
        // A cancel whose answer is a 5xx: no report, the query tells.
        let gtc = resting(&rig, venue, base + 9);
        call(&mut gw, &gtc);
        rig.sim.inject(venue, SimFault::ServerError, 1);
        assert!(call(&mut gw, &as_cancel(&gtc)).is_empty());
        assert_eq!(
            call(&mut gw, &as_query(&gtc))[0].status,
            OrderStatus::Canceled
        );
        let stats = gw.stats();
        assert!(stats.ambiguous.load(std::sync::atomic::Ordering::Relaxed) >= 4);
    }
}

#[test]
fn setup_passes_in_one_way_mode_and_hedge_mode_is_refused_with_how_to_switch() {
    let rig = rig();
    let mut gw = gateway(&rig, perp());
    let wanted = [Setup::OneWayMode, Setup::CrossMargin, Setup::Leverage(3)];
    assert_eq!(gw.set_up(&wanted, mono_ns()), Vec::new());
    // Spot has none of these settings: nothing is asked.
    let mut spot_gw = gateway(&rig, spot());
    assert_eq!(spot_gw.set_up(&wanted, mono_ns()), Vec::new());

    rig.sim.set_hedge_mode(Exchange::Bitget, true);
    let refused = gw.set_up(&[Setup::OneWayMode], mono_ns());
    assert_eq!(refused.len(), 1, "{refused:?}");
    let (symbol, setup, said) = &refused[0];
    assert_eq!((symbol.as_str(), *setup), ("BTCUSDT", Setup::OneWayMode));
    assert!(
        said.contains("hedge") && said.contains("set-position-mode"),
        "{said}"
    );
    // An order in hedge mode is refused by the venue, not sent twice.
    let r = call(&mut gw, &taking(&rig, perp(), Side::Buy, "0.001", 1));
    assert_eq!(
        (r[0].kind, r[0].reject, r[0].venue_code),
        (ExecKind::Rejected, RejectReason::Other, 40774)
    );
}

#[test]
fn bitget_has_no_dead_man_switch_so_a_resting_order_stays_and_nothing_is_sent_for_one() {
    let rig = rig();
    let mut gw = rig.gateway_with(
        api(&rig, perp()),
        LiveOptions {
            dead_man_interval_ms: 1,
            dead_man_countdown_ms: 10,
            time_sync_interval_ms: 3_600_000,
            ..LiveOptions::default()
        },
    );
    let gtc = resting(&rig, perp(), 1);
    assert_eq!(kinds(&call(&mut gw, &gtc)), [ExecKind::Ack]);
    let stats = gw.stats();
    let requests = || stats.requests.load(std::sync::atomic::Ordering::Relaxed);
    let before = requests();
    // A minute later by the gateway's clock: a venue with a switch would be renewed now.
    let mut out = Vec::new();
    gw.poll(mono_ns() + 60_000_000_000, &mut out);
    assert_eq!(requests(), before, "no request for a switch Bitget lacks");
    assert!(out.is_empty());
    assert_eq!(venue_order(&rig, &gtc).finish, None, "still resting");
}

#[test]
fn margin_spot_sells_short_through_the_cross_margin_path() {
    let rig = rig();
    let config = ApiConfig {
        margin_spot: true,
        ..rig.api_config(spot())
    };
    let mut gw = rig.gateway(BitgetOrders::new(spot(), &config));
    // The account holds no BTC: only a borrowing order can sell it.
    let short = taking(&rig, spot(), Side::Sell, "0.01", 1);
    let reports = place_and_settle(&mut gw, &short);
    let last = reports.last().unwrap();
    let at_venue = venue_order(&rig, &short);
    assert_eq!(
        (at_venue.wallet, at_venue.auto_borrow, at_venue.finish),
        (Wallet::Margin, true, Some(Finish::Filled))
    );
    assert_eq!(
        (last.status, last.cum_qty_base, last.avg_price),
        (OrderStatus::Filled, d("0.01"), at_venue.fills[0].price),
        "{reports:?}"
    );
    // Bitget's lookup by clientOid is not documented as windowed.
    assert!(!BitgetOrders::new(spot(), &config).lookup_is_windowed());
}

/// Why `resolve = "resend"` must stay off on Bitget: the margin docs keep a `clientOid` only
/// while its order is unfilled, and carry's IOCs fill.
#[test]
fn a_margin_resend_is_a_duplicate_only_while_unfilled() {
    let rig = rig();
    let config = ApiConfig {
        margin_spot: true,
        ..rig.api_config(spot())
    };
    let mut gw = rig.gateway(BitgetOrders::new(spot(), &config));
    let gtc = resting(&rig, spot(), 1);
    assert_eq!(kinds(&call(&mut gw, &gtc)), [ExecKind::Ack]);
    let dup = call(&mut gw, &as_resend(&gtc));
    assert_eq!(
        (dup[0].kind, dup[0].status),
        (ExecKind::Duplicate, OrderStatus::Open)
    );
    assert_eq!(rig.accepted_count(spot(), &gtc.client_order_id), 1);

    let ioc = taking(&rig, spot(), Side::Buy, "0.001", 2);
    place_and_settle(&mut gw, &ioc);
    let again = call(&mut gw, &as_resend(&ioc));
    assert_eq!(kinds(&again), [ExecKind::Ack], "taken as a new order");
    assert_eq!(rig.accepted_count(spot(), &ioc.client_order_id), 2);
}

/// What `mode = "live"` builds for a Bitget venue: the adapter row's factory.
#[test]
fn the_adapter_row_builds_the_live_gateway_the_wiring_runs() {
    let rig = rig();
    let factory = carry_feeds::venue::adapter(Exchange::Bitget)
        .live
        .expect("Bitget has a live gateway");
    for venue in [perp(), spot()] {
        // As the wiring opens it: no usage headers named; the gateway asks for its own.
        let http = HttpClient::new(
            HttpClient::agent(HttpTimeouts::default()),
            &rig.sim.rest_url(venue),
            &[],
        );
        let symbols = rig
            .universe
            .iter()
            .map(|(id, _)| rig.universe.symbol(id, venue).map(str::to_string))
            .collect();
        let mut gw: Box<dyn LiveVenue> = factory(
            venue,
            &rig.api_config(venue),
            http,
            symbols,
            LiveOptions::default(),
            unix_ms,
        );
        gw.warm_up(mono_ns()).expect("server time");
        assert_eq!(
            gw.set_up(&[Setup::OneWayMode, Setup::CrossMargin], mono_ns()),
            Vec::new()
        );
        let intent = taking(&rig, venue, Side::Buy, "0.001", 1);
        // Shadow mode's line: the request without what authenticates it.
        let mut line = String::new();
        gw.describe_request(Call::Place, &intent, &mut line);
        let key = rig.credentials(venue).key;
        assert!(
            line.starts_with("POST /api/v2/") && line.contains(intent.client_order_id.as_str()),
            "{line}"
        );
        assert!(!line.contains(key.expose()), "{line}");
        let reports = place_and_settle(gw.as_mut(), &intent);
        assert_eq!(
            reports.last().unwrap().status,
            OrderStatus::Filled,
            "{venue}"
        );
        assert_eq!(rig.accepted_count(venue, &intent.client_order_id), 1);
    }
}

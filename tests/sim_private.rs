//! The simulated venues' private APIs, driven the way a live gateway drives them: over one
//! keep-alive HTTP agent, every request signed by a tiny signer written here from each venue's
//! documented formula (never carry's venue code). Per venue: place, partial fill, fill, cancel,
//! query, duplicate client id, a wrong secret refused, a skewed clock refused and then accepted
//! on the venue's server time, a rate limit hit, each injected fault, and the venue's record
//! surviving a restart.

mod sim_clients;
mod sim_support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use carry::sim::{
    read_accepted_orders, record_path, RateLimit, SimConfig, SimFault, SimRateLimits, SimVenues,
};
use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use sim_clients::*;
use sim_support::fast_config;

// ---------------------------------------------------------------------------------------------
// Harness

fn v(s: &str) -> Venue {
    s.parse().unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn config() -> SimConfig {
    SimConfig {
        instruments: vec!["BTC-USDT".into()],
        dead_man_speedup: 100,
        ..fast_config(&["BTC-USDT"])
    }
}

// ---------------------------------------------------------------------------------------------
// Binance: HMAC-SHA256 hex of query + body, `signature` last, `X-MBX-APIKEY`.

struct Binance {
    http: Http,
    key: String,
    secret: String,
    /// Added to the local clock when signing (a gateway's correction).
    offset_ms: i64,
}

impl Binance {
    fn new(sim: &SimVenues, venue: &str) -> Binance {
        let c = &sim.credentials().binance;
        Binance {
            http: Http::new(sim, v(venue)),
            key: c.api_key.clone(),
            secret: c.secret.clone(),
            offset_ms: 0,
        }
    }

    /// Signs `params` (plus timestamp) into the query for GET/DELETE, the body for POST.
    fn call(&self, method: &str, path: &str, params: &str) -> Result<Answer, ureq::Error> {
        let ts = now_ms() + self.offset_ms;
        let mut payload = String::from(params);
        if !payload.is_empty() {
            payload.push('&');
        }
        payload.push_str(&format!("recvWindow=5000&timestamp={ts}"));
        let sig = hex(&hmac_sha256(&self.secret, payload.as_bytes()));
        let signed = format!("{payload}&signature={sig}");
        let headers = [("X-MBX-APIKEY", self.key.clone())];
        if method == "POST" {
            let mut h = headers.to_vec();
            h.push((
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            ));
            self.http.send(method, path, &h, Some(&signed))
        } else {
            self.http
                .send(method, &format!("{path}?{signed}"), &headers, None)
        }
    }

    fn ok(&self, method: &str, path: &str, params: &str) -> Answer {
        let a = self.call(method, path, params).unwrap();
        assert_eq!(a.status, 200, "{method} {path} {params}: {}", a.json);
        a
    }
}

fn binance_limit(side: &str, qty: &str, px: Decimal, tif: &str, id: &str) -> String {
    format!(
        "symbol=BTCUSDT&side={side}&type=LIMIT&timeInForce={tif}&quantity={qty}&price={px}&newClientOrderId={id}&newOrderRespType=RESULT"
    )
}

#[test]
fn binance_perp_orders_fill_partly_fill_cancel_and_refuse_duplicates_while_open() {
    let sim = SimVenues::start(config()).unwrap();
    let b = Binance::new(&sim, "binance-perp");
    let (bid, ask) = touch(&sim, v("binance-perp"));

    // Fill: a small IOC through the ask takes at the touch.
    let a = b.ok(
        "POST",
        "/fapi/v1/order",
        &binance_limit("BUY", "0.001", away(ask, 1), "IOC", "fill1"),
    );
    assert_eq!(a.json["status"], "FILLED", "{}", a.json);
    assert_eq!(a.json["executedQty"], "0.001");
    assert!(json_num(&a.json["avgPrice"]) <= away(ask, 1));
    assert!(a.header("X-MBX-ORDER-COUNT-10S").is_some());
    assert!(a.header("X-MBX-USED-WEIGHT-1M").is_some());

    // Partial fill: 10 BTC is more than the touch ever shows; the IOC remainder expires.
    let a = b.ok(
        "POST",
        "/fapi/v1/order",
        &binance_limit("BUY", "10", away(ask, 1), "IOC", "part1"),
    );
    assert_eq!(a.json["status"], "EXPIRED", "{}", a.json);
    let filled = json_num(&a.json["executedQty"]);
    assert!(filled > Decimal::ZERO && filled < d("10"), "{}", a.json);
    let q = b.ok(
        "GET",
        "/fapi/v1/order",
        "symbol=BTCUSDT&origClientOrderId=part1",
    );
    assert_eq!(json_num(&q.json["executedQty"]), filled);
    assert!(json_num(&q.json["cumQuote"]) > Decimal::ZERO);
    let trades = b.ok(
        "GET",
        "/fapi/v1/userTrades",
        &format!("symbol=BTCUSDT&orderId={}", q.json["orderId"]),
    );
    let traded: Decimal = trades
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json_num(&t["qty"]))
        .sum();
    assert_eq!(traded, filled);

    // Place GTC away from the market: it rests; ACK by default says NEW.
    let gtc = format!(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.002&price={}&newClientOrderId=rest1",
        away(bid, -3)
    );
    let a = b.ok("POST", "/fapi/v1/order", &gtc);
    assert_eq!(a.json["status"], "NEW");
    assert_eq!(a.json["clientOrderId"], "rest1");
    // Duplicate while open: refused with -4116.
    let dup = b.call("POST", "/fapi/v1/order", &gtc).unwrap();
    assert_eq!(
        (dup.status, dup.json["code"].as_i64()),
        (400, Some(-4116)),
        "{}",
        dup.json
    );
    let open = b.ok("GET", "/fapi/v1/openOrders", "symbol=BTCUSDT");
    assert_eq!(open.json.as_array().unwrap().len(), 1);
    // Cancel by client id, then query.
    let c = b.ok(
        "DELETE",
        "/fapi/v1/order",
        "symbol=BTCUSDT&origClientOrderId=rest1",
    );
    assert_eq!(c.json["status"], "CANCELED");
    let q = b.ok(
        "GET",
        "/fapi/v1/order",
        "symbol=BTCUSDT&origClientOrderId=rest1",
    );
    assert_eq!(q.json["status"], "CANCELED");
    // Cancelling again is an unknown order; an id never sent does not exist.
    let again = b
        .call(
            "DELETE",
            "/fapi/v1/order",
            "symbol=BTCUSDT&origClientOrderId=rest1",
        )
        .unwrap();
    assert_eq!(again.json["code"], -2011);
    let none = b
        .call(
            "GET",
            "/fapi/v1/order",
            "symbol=BTCUSDT&origClientOrderId=never",
        )
        .unwrap();
    assert_eq!(none.json["code"], -2013);
    // Once the first is closed, Binance accepts the id again.
    b.ok("POST", "/fapi/v1/order", &gtc);

    // The position is what filled; the venue's own record has every accepted order.
    let pos = b.ok("GET", "/fapi/v3/positionRisk", "symbol=BTCUSDT");
    assert_eq!(json_num(&pos.json[0]["positionAmt"]), d("0.001") + filled);
    let ids: Vec<String> = sim
        .accepted_orders(v("binance-perp"))
        .iter()
        .map(|o| o.client_id.clone())
        .collect();
    assert_eq!(ids, ["fill1", "part1", "rest1", "rest1"]);
}

#[test]
fn binance_refuses_a_wrong_secret_and_a_skewed_clock_until_resynced() {
    let sim = SimVenues::start(config()).unwrap();
    let mut b = Binance::new(&sim, "binance-spot");
    b.ok("GET", "/api/v3/account", "");
    let mut wrong = Binance::new(&sim, "binance-spot");
    wrong.secret = "not-the-secret".into();
    let a = wrong.call("GET", "/api/v3/account", "").unwrap();
    assert_eq!(
        (a.status, a.json["code"].as_i64()),
        (400, Some(-1022)),
        "{}",
        a.json
    );
    wrong.key = "not-the-key".into();
    let a = wrong.call("GET", "/api/v3/account", "").unwrap();
    assert_eq!((a.status, a.json["code"].as_i64()), (401, Some(-2015)));

    // The venue's clock runs 20 s ahead: a request signed on the local clock is too old.
    sim.set_clock_skew(Exchange::Binance, 20_000);
    let a = b.call("GET", "/api/v3/account", "").unwrap();
    assert_eq!(
        (a.status, a.json["code"].as_i64()),
        (400, Some(-1021)),
        "{}",
        a.json
    );
    // And 20 s behind: a request is more than 1 s ahead of the server.
    sim.set_clock_skew(Exchange::Binance, -20_000);
    let a = b.call("GET", "/api/v3/account", "").unwrap();
    assert_eq!(a.json["code"], -1021, "{}", a.json);
    assert!(a.json["msg"].as_str().unwrap().contains("ahead"));
    // Resync on the server time, as a gateway does, and sign with the corrected clock.
    let t = b.http.send("GET", "/api/v3/time", &[], None).unwrap();
    let server = t.json["serverTime"].as_i64().unwrap();
    b.offset_ms = server - now_ms();
    b.ok("GET", "/api/v3/account", "");
}

#[test]
fn binance_spot_buy_receives_less_than_it_filled_and_margin_sells_short() {
    let sim = SimVenues::start(config()).unwrap();
    let b = Binance::new(&sim, "binance-spot");
    let (bid, ask) = touch(&sim, v("binance-spot"));
    // FULL (spot's default) lists the fills with their commission, charged in BTC on a buy.
    let a = b.ok(
        "POST",
        "/api/v3/order",
        &format!("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=0.01&price={}&newClientOrderId=s1", away(ask, 1)),
    );
    assert_eq!(a.json["status"], "FILLED", "{}", a.json);
    let fills = a.json["fills"].as_array().unwrap();
    assert_eq!(fills[0]["commissionAsset"], "BTC");
    let fee: Decimal = fills.iter().map(|f| json_num(&f["commission"])).sum();
    assert_eq!(fee, d("0.00001"));
    let acct = b.ok("GET", "/api/v3/account", "");
    let btc = acct.json["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["asset"] == "BTC")
        .unwrap()
        .clone();
    assert_eq!(json_num(&btc["free"]), d("0.01") - fee);
    // Post-only that would take is refused and never recorded.
    let a = b
        .call(
            "POST",
            "/api/v3/order",
            &format!("symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&quantity=0.01&price={}&newClientOrderId=pm", away(ask, 1)),
        )
        .unwrap();
    assert_eq!(a.json["code"], -2010, "{}", a.json);
    assert_eq!(a.json["msg"], "Order would immediately match and take.");
    // Selling BTC the spot wallet does not hold: insufficient balance.
    let sell = |path: &str, extra: &str, id: &str| {
        b.call(
            "POST",
            path,
            &format!("symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=IOC&quantity=0.5&price={}&newClientOrderId={id}{extra}", away(bid, -1)),
        )
        .unwrap()
    };
    let a = sell("/api/v3/order", "", "s2");
    assert_eq!(a.json["code"], -2010, "{}", a.json);
    // The margin account borrows it with AUTO_BORROW_REPAY.
    let a = sell("/sapi/v1/margin/order", "", "m1");
    assert_eq!(
        a.json["code"], -2010,
        "no borrowing without a side effect: {}",
        a.json
    );
    let a = sell(
        "/sapi/v1/margin/order",
        "&sideEffectType=AUTO_BORROW_REPAY",
        "m2",
    );
    assert_eq!(a.status, 200, "{}", a.json);
    let sold = json_num(&a.json["executedQty"]);
    assert!(sold > Decimal::ZERO);
    let m = b.ok("GET", "/sapi/v1/margin/account", "");
    let btc = m.json["userAssets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["asset"] == "BTC")
        .unwrap()
        .clone();
    assert_eq!(json_num(&btc["borrowed"]), sold);
    assert_eq!(json_num(&btc["netAsset"]), -sold);
    let q = b.ok(
        "GET",
        "/sapi/v1/margin/order",
        "symbol=BTCUSDT&origClientOrderId=m2",
    );
    assert_eq!(q.json["isIsolated"], false);
    assert_eq!(sim.accepted_orders(v("binance-spot")).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// One interface over the five venues (`sim_clients`), so each scenario runs the same way
// everywhere.

#[test]
fn iso_timestamps_for_the_okx_signer() {
    assert_eq!(iso(1_607_418_537_715), "2020-12-08T09:08:57.715Z");
    assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
}

/// What each venue market trades in a scenario and how it answers.
struct Case {
    venue: &'static str,
    /// A quantity that fills at once, and one far larger than the touch ever shows.
    small: &'static str,
    big: &'static str,
    /// The code of a reused client id while the first order is open (`"0"`: accepted).
    duplicate: &'static str,
    /// The code of cancelling an order that has already finished.
    finished_cancel: &'static str,
    wrong_secret: &'static str,
    skewed: &'static str,
    throttled: &'static str,
    /// The answer header that reports rate-limit usage.
    usage_header: &'static str,
}

const CASES: [Case; 10] = [
    Case {
        venue: "binance-perp",
        small: "0.001",
        big: "10",
        duplicate: "-4116",
        finished_cancel: "-2011",
        wrong_secret: "-1022",
        skewed: "-1021",
        throttled: "-1015",
        usage_header: "X-MBX-ORDER-COUNT-1M",
    },
    Case {
        venue: "binance-spot",
        small: "0.001",
        big: "10",
        duplicate: "-2010",
        finished_cancel: "-2011",
        wrong_secret: "-1022",
        skewed: "-1021",
        throttled: "-1015",
        usage_header: "X-MBX-ORDER-COUNT-1M",
    },
    Case {
        venue: "bybit-perp",
        small: "0.001",
        big: "10",
        duplicate: "110072",
        finished_cancel: "110001",
        wrong_secret: "10004",
        skewed: "10002",
        throttled: "10006",
        usage_header: "X-Bapi-Limit-Status",
    },
    Case {
        venue: "bybit-spot",
        small: "0.001",
        big: "10",
        duplicate: "170141",
        finished_cancel: "170213",
        wrong_secret: "10004",
        skewed: "10002",
        throttled: "10006",
        usage_header: "X-Bapi-Limit-Status",
    },
    Case {
        venue: "okx-perp",
        small: "1",
        big: "1000",
        duplicate: "51016",
        finished_cancel: "51400",
        wrong_secret: "50113",
        skewed: "50102",
        throttled: "50011",
        usage_header: "",
    },
    Case {
        venue: "okx-spot",
        small: "0.001",
        big: "10",
        duplicate: "51016",
        finished_cancel: "51400",
        wrong_secret: "50113",
        skewed: "50102",
        throttled: "50011",
        usage_header: "",
    },
    Case {
        venue: "bitget-perp",
        small: "0.001",
        big: "10",
        duplicate: "40786",
        finished_cancel: "43001",
        wrong_secret: "40009",
        skewed: "40008",
        throttled: "429",
        usage_header: "x-mbx-used-remain-limit",
    },
    Case {
        venue: "bitget-spot",
        small: "0.001",
        big: "10",
        duplicate: "43118",
        finished_cancel: "43001",
        wrong_secret: "40009",
        skewed: "40008",
        throttled: "429",
        usage_header: "x-mbx-used-remain-limit",
    },
    Case {
        venue: "gate-perp",
        small: "1",
        big: "100000",
        duplicate: "0",
        finished_cancel: "ORDER_FINISHED",
        wrong_secret: "INVALID_SIGNATURE",
        skewed: "REQUEST_EXPIRED",
        throttled: "TOO_MANY_REQUESTS",
        usage_header: "X-Gate-RateLimit-Requests-Remain",
    },
    Case {
        venue: "gate-spot",
        small: "0.001",
        big: "10",
        duplicate: "0",
        finished_cancel: "ORDER_FINISHED",
        wrong_secret: "INVALID_SIGNATURE",
        skewed: "REQUEST_EXPIRED",
        throttled: "TOO_MANY_REQUESTS",
        usage_header: "X-Gate-RateLimit-Requests-Remain",
    },
];

fn placed(api: &dyn Api, a: Result<Answer, ureq::Error>, what: &str) -> Answer {
    let a = a.unwrap_or_else(|e| panic!("{} {what}: {e}", api.venue()));
    assert_eq!(
        api.code(&a),
        "0",
        "{} {what}: {} {}",
        api.venue(),
        a.status,
        a.json
    );
    a
}

#[test]
fn every_venue_fills_partly_fills_rests_cancels_and_answers_queries_by_client_id() {
    let sim = SimVenues::start(config()).unwrap();
    for case in &CASES {
        let venue = v(case.venue);
        let api = api(&sim, venue);
        let api = api.as_ref();
        let (bid, ask) = touch(&sim, venue);
        let who = case.venue;

        // Fill: a small IOC through the ask.
        placed(
            api,
            api.place("f1", true, case.small, away(ask, 1), Tif::Ioc),
            "fill",
        );
        assert_eq!(
            api.state(&api.query("f1")),
            (St::Filled, d(case.small)),
            "{who}"
        );

        // Partial fill: far more than the touch; the IOC remainder is cancelled.
        placed(
            api,
            api.place("p1", true, case.big, away(ask, 1), Tif::Ioc),
            "partial",
        );
        let (st, filled) = api.state(&api.query("p1"));
        assert_eq!(st, St::PartlyFilled, "{who}");
        assert!(
            filled > Decimal::ZERO && filled < d(case.big),
            "{who}: {filled}"
        );

        // Place a GTC below the market: it rests.
        placed(
            api,
            api.place("r1", true, case.small, away(bid, -1), Tif::Gtc),
            "rest",
        );
        assert_eq!(
            api.state(&api.query("r1")),
            (St::Open, Decimal::ZERO),
            "{who}"
        );

        // The same client id while the first is open.
        let dup = api
            .place("r1", true, case.small, away(bid, -1), Tif::Gtc)
            .unwrap();
        assert_eq!(api.code(&dup), case.duplicate, "{who}: {}", dup.json);

        // Cancel by client id; query says cancelled; a second cancel finds nothing to cancel.
        let c = api.cancel("r1");
        assert_eq!(api.code(&c), "0", "{who}: {}", c.json);
        assert_eq!(api.state(&api.query("r1")).0, St::Canceled, "{who}");
        let again = api.cancel("r1");
        assert_eq!(
            api.code(&again),
            case.finished_cancel,
            "{who}: {}",
            again.json
        );

        // The venue's own record: every order it accepted, once each (Gate took the duplicate).
        let ids: Vec<String> = sim
            .accepted_orders(venue)
            .iter()
            .map(|o| o.client_id.clone())
            .collect();
        let mut want: Vec<String> = ["f1", "p1", "r1"]
            .iter()
            .map(|i| api.stored_id(i))
            .collect();
        if case.duplicate == "0" {
            want.push(api.stored_id("r1"));
        }
        assert_eq!(ids, want, "{who}");
        let rec = &sim.accepted_orders(venue)[1];
        assert_eq!(rec.filled(), filled, "{who}");
    }
}

#[test]
fn every_venue_refuses_a_wrong_secret_and_a_skewed_clock_until_it_resyncs() {
    let sim = SimVenues::start(config()).unwrap();
    for case in &CASES {
        let venue = v(case.venue);
        let mut api = api(&sim, venue);
        let who = case.venue;
        let (bid, _) = touch(&sim, venue);
        api.set_secret("not-the-secret");
        let a = api
            .place("w1", true, case.small, away(bid, -1), Tif::Gtc)
            .unwrap();
        assert_eq!(
            api.code(&a),
            case.wrong_secret,
            "{who}: {} {}",
            a.status,
            a.json
        );
        let secret = sim.credentials().of(venue.exchange).secret.clone();
        api.set_secret(&secret);

        // 90 s ahead is outside every venue's window (Gate allows 60 s).
        sim.set_clock_skew(venue.exchange, 90_000);
        let a = api
            .place("s1", true, case.small, away(bid, -1), Tif::Gtc)
            .unwrap();
        assert_eq!(api.code(&a), case.skewed, "{who}: {} {}", a.status, a.json);
        assert!(sim.accepted_orders(venue).is_empty(), "{who}");
        let server = api.server_time();
        assert!(
            server - now_ms() > 80_000,
            "{who}: the time endpoint runs on the skewed clock"
        );
        api.set_offset(server - now_ms());
        placed(
            api.as_ref(),
            api.place("s1", true, case.small, away(bid, -1), Tif::Gtc),
            "after resync",
        );
        sim.set_clock_skew(venue.exchange, 0);
    }
}

fn tight_limits() -> SimRateLimits {
    let two = RateLimit::new(2, Duration::from_secs(60));
    SimRateLimits {
        binance_perp_orders: [two, RateLimit::new(100, Duration::from_secs(86_400))],
        binance_spot_orders: [two, RateLimit::new(100, Duration::from_secs(86_400))],
        bybit_linear_trade: two,
        bybit_spot_trade: two,
        okx_per_instrument: two,
        bitget_orders: two,
        gate_futures_orders: two,
        gate_spot_orders: two,
        ..SimRateLimits::default()
    }
}

#[test]
fn every_venue_throttles_orders_past_its_limit_with_its_own_answer() {
    let sim = SimVenues::start(SimConfig {
        rate_limits: tight_limits(),
        ..config()
    })
    .unwrap();
    for case in &CASES {
        let venue = v(case.venue);
        let mut api = api(&sim, venue);
        let who = case.venue;
        let (bid, _) = touch(&sim, venue);
        // Windows are aligned to the venue's clock: put it 1 s into a minute, so the three
        // orders below share one window (the signer follows the venue's clock).
        let skew = (61_000 - now_ms().rem_euclid(60_000)).rem_euclid(60_000);
        sim.set_clock_skew(venue.exchange, skew);
        api.set_offset(skew);
        for id in ["l1", "l2"] {
            let a = placed(
                api.as_ref(),
                api.place(id, true, case.small, away(bid, -1), Tif::Gtc),
                id,
            );
            if !case.usage_header.is_empty() {
                assert!(
                    a.header(case.usage_header).is_some(),
                    "{who}: {:?}",
                    a.headers
                );
            }
        }
        let a = api
            .place("l3", true, case.small, away(bid, -1), Tif::Gtc)
            .unwrap();
        assert_eq!(
            api.code(&a),
            case.throttled,
            "{who}: {} {}",
            a.status,
            a.json
        );
        assert!(
            a.status == 429 || venue.exchange == Exchange::Bybit,
            "{who}: HTTP {}",
            a.status
        );
        assert_eq!(
            sim.accepted_orders(venue).len(),
            2,
            "{who}: a throttled order is not taken"
        );
    }
}

#[test]
fn injected_faults_leave_orders_the_venue_knows_or_never_saw() {
    let sim = SimVenues::start(config()).unwrap();
    for case in &CASES {
        let venue = v(case.venue);
        let api = api(&sim, venue);
        let who = case.venue;
        let (bid, _) = touch(&sim, venue);

        // Accepted, then the connection closes without an answer.
        sim.inject(venue, SimFault::DropAnswer, 1);
        assert!(
            api.place("x1", true, case.small, away(bid, -1), Tif::Gtc)
                .is_err(),
            "{who}"
        );
        // Accepted, then a 5xx.
        sim.inject(venue, SimFault::ServerError, 1);
        let a = api
            .place("x2", true, case.small, away(bid, -1), Tif::Gtc)
            .unwrap();
        assert!((500..600).contains(&a.status), "{who}: {}", a.status);
        // Reset before the venue applies anything.
        sim.inject(venue, SimFault::Reset, 1);
        let e = api.place("x3", true, case.small, away(bid, -1), Tif::Gtc);
        assert!(e.is_err(), "{who}: a reset is not an answer");

        // Resolved by query: the first two exist (once each), the third does not.
        assert_eq!(api.state(&api.query("x1")).0, St::Open, "{who}");
        assert_eq!(api.state(&api.query("x2")).0, St::Open, "{who}");
        let q = api.query("x3");
        assert!(!api.found(&q), "{who}: {}", q.json);
        let ids: Vec<String> = sim
            .accepted_orders(venue)
            .iter()
            .map(|o| o.client_id.clone())
            .collect();
        assert_eq!(ids, [api.stored_id("x1"), api.stored_id("x2")], "{who}");
        // The fault was spent: the next request is answered normally.
        placed(
            api.as_ref(),
            api.place("x4", true, case.small, away(bid, -1), Tif::Gtc),
            "after faults",
        );
    }
}

/// Polls `check` until it holds or the patience runs out; false if it never held.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + sim_support::PATIENCE;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn a_restarted_venue_remembers_every_order_and_refuses_ids_as_it_documents() {
    let dir = tempfile::tempdir().unwrap();
    let with_dir = || SimConfig {
        state_dir: Some(dir.path().to_path_buf()),
        ..config()
    };
    let mut before = HashMap::new();
    {
        let sim = SimVenues::start(with_dir()).unwrap();
        for case in &CASES {
            let venue = v(case.venue);
            let api = api(&sim, venue);
            let (bid, ask) = touch(&sim, venue);
            placed(
                api.as_ref(),
                api.place("done1", true, case.small, away(ask, 1), Tif::Ioc),
                "done",
            );
            placed(
                api.as_ref(),
                api.place("keep1", true, case.small, away(bid, -1), Tif::Gtc),
                "keep",
            );
            before.insert(case.venue, sim.accepted_orders(venue));
        }
        let b = BinanceApi::new(&sim, Market::Perp);
        let pos = b
            .signed("GET", "/fapi/v3/positionRisk", "symbol=BTCUSDT", "")
            .unwrap();
        assert_eq!(json_num(&pos.json[0]["positionAmt"]), d("0.001"));
    }
    // The process is gone; the files say what each venue accepted.
    for case in &CASES {
        let venue = v(case.venue);
        let from_file = read_accepted_orders(&record_path(dir.path(), venue)).unwrap();
        assert_eq!(from_file, before[case.venue], "{}", case.venue);
        assert_eq!(from_file[0].filled(), d(case.small), "{}", case.venue);
        assert!(
            from_file[1].finish.is_none(),
            "{}: still resting",
            case.venue
        );
    }

    let sim = SimVenues::start(with_dir()).unwrap();
    for case in &CASES {
        let venue = v(case.venue);
        let api = api(&sim, venue);
        let who = case.venue;
        assert_eq!(sim.accepted_orders(venue), before[case.venue], "{who}");
        let (bid, _) = touch(&sim, venue);
        // Still open after the restart: refused wherever a duplicate is refused while open.
        let a = api
            .place("keep1", true, case.small, away(bid, -1), Tif::Gtc)
            .unwrap();
        assert_eq!(api.code(&a), case.duplicate, "{who}: {}", a.json);
        // Finished before the restart: Binance and OKX take the id again, Bybit never does,
        // Bitget not within six hours, Gate always.
        let a = api
            .place("done1", true, case.small, away(bid, -1), Tif::Gtc)
            .unwrap();
        let want = match venue.exchange {
            Exchange::Binance | Exchange::Okx | Exchange::Gate => "0",
            _ => case.duplicate,
        };
        assert_eq!(api.code(&a), want, "{who}: {}", a.json);
    }
    // Balances and positions came back too.
    let b = BinanceApi::new(&sim, Market::Perp);
    let pos = b
        .signed("GET", "/fapi/v3/positionRisk", "symbol=BTCUSDT", "")
        .unwrap();
    assert_eq!(json_num(&pos.json[0]["positionAmt"]), d("0.001"));
    // Bybit's realtime view lost the orders closed before the restart; history has them.
    let y = BybitApi::new(&sim, Market::Perp);
    assert!(!y.found(&y.query("done1")));
    let h = y
        .signed(
            "GET",
            "/v5/order/history",
            "category=linear&orderLinkId=done1",
            "",
        )
        .unwrap();
    assert_eq!(
        h.json["result"]["list"][0]["orderStatus"], "Filled",
        "{}",
        h.json
    );
}

#[test]
fn dead_man_switches_cancel_resting_orders_when_they_expire() {
    // Windows elapse 100 times faster here: OKX's 10 s minimum fires in 100 ms.
    let sim = SimVenues::start(config()).unwrap();
    let rest = |api: &dyn Api, id: &str, qty: &str| {
        let (bid, _) = touch(&sim, api.venue());
        placed(api, api.place(id, true, qty, away(bid, -1), Tif::Gtc), id);
    };
    // Watch the account's events rather than poll over HTTP: a request would re-arm Bybit's
    // DCP, and polling would run into the venues' query limits.
    let canceled = |api: &dyn Api, id: &str| {
        let stored = api.stored_id(id);
        let fired = eventually(|| {
            sim.account_events(api.venue().exchange, 0).iter().any(|e| {
                matches!(&e.kind, carry::sim::AccountEventKind::Order(u)
                    if u.client_id == stored && u.finish == Some(carry::sim::record::Finish::DeadMan))
            })
        });
        fired && api.state(&api.query(id)).0 == St::Canceled
    };

    let b = BinanceApi::new(&sim, Market::Perp);
    rest(&b, "dm1", "0.001");
    let a = b
        .signed(
            "POST",
            "/fapi/v1/countdownCancelAll",
            "",
            "symbol=BTCUSDT&countdownTime=2000",
        )
        .unwrap();
    assert_eq!(a.json["countdownTime"], "2000", "{}", a.json);
    assert!(canceled(&b, "dm1"));

    let o = OkxApi::new(&sim, Market::Spot);
    rest(&o, "dm2", "0.001");
    let a = o
        .signed(
            "POST",
            "/api/v5/trade/cancel-all-after",
            "",
            r#"{"timeOut":"10"}"#,
        )
        .unwrap();
    assert_eq!(a.json["code"], "0", "{}", a.json);
    assert!(canceled(&o, "dm2"));
    assert_eq!(o.query("dm2").json["data"][0]["cancelSource"], "20");

    let g = GateApi::new(&sim, Market::Perp);
    rest(&g, "dm3", "1");
    let a = g
        .signed(
            "POST",
            "/api/v4/futures/usdt/countdown_cancel_all",
            "",
            r#"{"timeout":5,"contract":"BTC_USDT"}"#,
        )
        .unwrap();
    assert!(a.json["triggerTime"].as_i64().unwrap() > 0, "{}", a.json);
    assert!(canceled(&g, "dm3"));

    // Bybit DCP: re-armed by every request, it fires once the account goes quiet.
    let y = BybitApi::new(&sim, Market::Perp);
    rest(&y, "dm4", "0.001");
    let a = y
        .signed(
            "POST",
            "/v5/order/disconnected-cancel-all",
            "",
            r#"{"product":"DERIVATIVES","timeWindow":10}"#,
        )
        .unwrap();
    assert_eq!(a.json["retCode"], 0, "{}", a.json);
    let info = y.signed("GET", "/v5/account/info", "", "").unwrap();
    assert_eq!(info.json["result"]["dcpStatus"], "ON");
    assert!(canceled(&y, "dm4"));
    let q = y.query("dm4");
    assert_eq!(q.json["result"]["list"][0]["cancelType"], "CancelByDCP");

    // Disarmed (0) switches cancel nothing.
    rest(&b, "dm5", "0.001");
    b.signed(
        "POST",
        "/fapi/v1/countdownCancelAll",
        "",
        "symbol=BTCUSDT&countdownTime=2000",
    )
    .unwrap();
    b.signed(
        "POST",
        "/fapi/v1/countdownCancelAll",
        "",
        "symbol=BTCUSDT&countdownTime=0",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(b.state(&b.query("dm5")).0, St::Open);
}

#[test]
fn a_resting_order_fills_as_maker_when_the_market_crosses_it() {
    let sim = SimVenues::start(config()).unwrap();
    let o = OkxApi::new(&sim, Market::Perp);
    let (_, ask) = touch(&sim, o.venue());
    // One tick under the ask: the next downtick of the random walk crosses it.
    placed(
        &o,
        o.place("mk1", true, "1", ask - d("0.1"), Tif::Gtc),
        "maker",
    );
    assert!(eventually(|| o.state(&o.query("mk1")).0 == St::Filled));
    let fills = o
        .signed("GET", "/api/v5/trade/fills", "instType=SWAP", "")
        .unwrap();
    let f = &fills.json["data"][0];
    assert_eq!(f["execType"], "M", "{}", fills.json);
    assert_eq!(json_num(&f["fillPx"]), ask - d("0.1"));
    // Maker fee: 0.02 % of 1 contract × 0.01 BTC × price, negative when charged.
    assert_eq!(
        json_num(&f["fee"]),
        -(ask - d("0.1")) * d("0.01") * d("0.0002")
    );
    // The account's events say so, in order: accepted, filled (the fill, the order update
    // carrying it, then the balance and position it changed).
    let events = sim.account_events(Exchange::Okx, 0);
    use carry::sim::AccountEventKind as K;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match &e.kind {
            K::Order(u) if u.finish.is_none() => "open",
            K::Order(u) if u.last_fill.is_some() => "filled",
            K::Order(_) => "finished",
            K::Fill { .. } => "fill",
            K::Account { .. } => "account",
            K::Funding(_) => "funding",
        })
        .collect();
    assert_eq!(kinds, ["open", "fill", "filled", "account"]);
    assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert!(sim.account_events(Exchange::Okx, events[3].seq).is_empty());
}

#[test]
fn hedge_mode_refuses_one_way_orders_with_each_venues_code() {
    let sim = SimVenues::start(config()).unwrap();
    let want = [
        (Exchange::Binance, "-4061"),
        (Exchange::Bybit, "10001"),
        (Exchange::Okx, "51000"),
        (Exchange::Bitget, "40774"),
        (Exchange::Gate, "POSITION_DUAL_MODE"),
    ];
    for (exchange, code) in want {
        sim.set_hedge_mode(exchange, true);
        let venue = Venue::new(exchange, Market::Perp);
        let api = api(&sim, venue);
        let (bid, _) = touch(&sim, venue);
        let qty = if exchange == Exchange::Okx || exchange == Exchange::Gate {
            "1"
        } else {
            "0.001"
        };
        let a = api.place("h1", true, qty, away(bid, -1), Tif::Gtc).unwrap();
        assert_eq!(api.code(&a), code, "{venue}: {}", a.json);
    }
    // The mode reads back where the venue has a getter.
    let b = BinanceApi::new(&sim, Market::Perp);
    let a = b
        .signed("GET", "/fapi/v1/positionSide/dual", "", "")
        .unwrap();
    assert_eq!(a.json["dualSidePosition"], true);
    let o = OkxApi::new(&sim, Market::Perp);
    let a = o.signed("GET", "/api/v5/account/config", "", "").unwrap();
    assert_eq!(a.json["data"][0]["posMode"], "long_short_mode");
    // And back to one-way through the venue's own endpoint.
    let a = b
        .signed(
            "POST",
            "/fapi/v1/positionSide/dual",
            "",
            "dualSidePosition=false",
        )
        .unwrap();
    assert_eq!(a.json["code"], 200, "{}", a.json);
    let (bid, _) = touch(&sim, b.venue());
    placed(
        &b,
        b.place("h2", true, "0.001", away(bid, -1), Tif::Gtc),
        "one-way again",
    );
}

#[test]
fn leverage_positions_and_balances_read_back_for_reconciliation() {
    let sim = SimVenues::start(config()).unwrap();
    for case in CASES.iter().filter(|c| c.venue.ends_with("perp")) {
        let venue = v(case.venue);
        let api = api(&sim, venue);
        let (_, ask) = touch(&sim, venue);
        placed(
            api.as_ref(),
            api.place("pp1", true, case.small, away(ask, 1), Tif::Ioc),
            "buy",
        );
    }
    let b = BinanceApi::new(&sim, Market::Perp);
    let a = b
        .signed("POST", "/fapi/v1/leverage", "", "symbol=BTCUSDT&leverage=3")
        .unwrap();
    assert_eq!(a.json["leverage"], 3, "{}", a.json);
    let a = b
        .signed("GET", "/fapi/v2/positionRisk", "symbol=BTCUSDT", "")
        .unwrap();
    assert_eq!(
        (
            a.json[0]["leverage"].as_str(),
            json_num(&a.json[0]["positionAmt"])
        ),
        (Some("3"), d("0.001"))
    );
    let a = b
        .signed(
            "POST",
            "/fapi/v1/marginType",
            "",
            "symbol=BTCUSDT&marginType=CROSSED",
        )
        .unwrap();
    assert_eq!(a.json["code"], -4046, "already cross: {}", a.json);
    let a = b.signed("GET", "/fapi/v3/balance", "", "").unwrap();
    assert!(
        json_num(&a.json[0]["balance"]) < d("1000000"),
        "fees were charged: {}",
        a.json
    );

    let y = BybitApi::new(&sim, Market::Perp);
    let a = y
        .signed(
            "POST",
            "/v5/position/set-leverage",
            "",
            r#"{"category":"linear","symbol":"BTCUSDT","buyLeverage":"5","sellLeverage":"5"}"#,
        )
        .unwrap();
    assert_eq!(a.json["retCode"], 0, "{}", a.json);
    let a = y
        .signed(
            "POST",
            "/v5/position/set-leverage",
            "",
            r#"{"category":"linear","symbol":"BTCUSDT","buyLeverage":"5","sellLeverage":"5"}"#,
        )
        .unwrap();
    assert_eq!(a.json["retCode"], 110043, "not modified: {}", a.json);
    let a = y
        .signed(
            "GET",
            "/v5/position/list",
            "category=linear&symbol=BTCUSDT",
            "",
        )
        .unwrap();
    let p = &a.json["result"]["list"][0];
    assert_eq!(
        (
            p["side"].as_str(),
            p["size"].as_str(),
            p["leverage"].as_str()
        ),
        (Some("Buy"), Some("0.001"), Some("5"))
    );

    let o = OkxApi::new(&sim, Market::Perp);
    let a = o
        .signed(
            "POST",
            "/api/v5/account/set-leverage",
            "",
            r#"{"instId":"BTC-USDT-SWAP","lever":"7","mgnMode":"cross"}"#,
        )
        .unwrap();
    assert_eq!(a.json["code"], "0", "{}", a.json);
    let a = o
        .signed("GET", "/api/v5/account/positions", "instType=SWAP", "")
        .unwrap();
    let p = &a.json["data"][0];
    assert_eq!(
        (p["pos"].as_str(), p["lever"].as_str()),
        (Some("1"), Some("7")),
        "{}",
        a.json
    );

    let g = GateApi::new(&sim, Market::Perp);
    let a = g
        .signed(
            "POST",
            "/api/v4/futures/usdt/positions/BTC_USDT/leverage",
            "leverage=0&cross_leverage_limit=4",
            "",
        )
        .unwrap();
    assert_eq!(
        (
            a.json["leverage"].as_str(),
            a.json["cross_leverage_limit"].as_str()
        ),
        (Some("0"), Some("4")),
        "{}",
        a.json
    );
    let a = g
        .signed("GET", "/api/v4/futures/usdt/positions", "", "")
        .unwrap();
    assert_eq!(a.json[0]["size"], 1, "{}", a.json);
    let a = g
        .signed("GET", "/api/v4/futures/usdt/accounts", "", "")
        .unwrap();
    assert_eq!(
        (a.json["in_dual_mode"].as_bool(), a.json["user"].is_u64()),
        (Some(false), true)
    );

    let t = BitgetApi::new(&sim, Market::Perp);
    let a = t.signed("POST", "/api/v2/mix/account/set-leverage", "", r#"{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginCoin":"USDT","leverage":"6"}"#).unwrap();
    assert_eq!(a.json["data"]["longLeverage"], "6", "{}", a.json);
    let a = t
        .signed(
            "GET",
            "/api/v2/mix/position/all-position",
            "marginCoin=USDT&productType=USDT-FUTURES",
            "",
        )
        .unwrap();
    let p = &a.json["data"][0];
    assert_eq!(
        (
            p["holdSide"].as_str(),
            p["total"].as_str(),
            p["leverage"].as_str()
        ),
        (Some("long"), Some("0.001"), Some("6")),
        "{}",
        a.json
    );
    let a = t
        .signed(
            "GET",
            "/api/v2/mix/account/account",
            "marginCoin=USDT&productType=USDT-FUTURES&symbol=BTCUSDT",
            "",
        )
        .unwrap();
    assert_eq!(a.json["data"]["posMode"], "one_way_mode", "{}", a.json);
}

#[test]
fn every_venue_sells_spot_short_through_its_margin_path() {
    let sim = SimVenues::start(config()).unwrap();
    let (bid, _) = touch(&sim, v("bybit-spot"));
    let y = BybitApi::new(&sim, Market::Spot);
    let sell = |leverage: u8| {
        y.signed("POST", "/v5/order/create", "", &format!(
            r#"{{"category":"spot","symbol":"BTCUSDT","side":"Sell","orderType":"Limit","qty":"0.5","price":"{}","timeInForce":"IOC","orderLinkId":"ms{leverage}","isLeverage":{leverage}}}"#,
            away(bid, -1)
        )).unwrap()
    };
    assert_eq!(sell(0).json["retCode"], 170131, "no BTC in the spot wallet");
    assert_eq!(sell(1).json["retCode"], 0, "isLeverage=1 borrows");
    let w = y
        .signed(
            "GET",
            "/v5/account/wallet-balance",
            "accountType=UNIFIED",
            "",
        )
        .unwrap();
    let btc = w.json["result"]["list"][0]["coin"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["coin"] == "BTC")
        .unwrap()
        .clone();
    assert!(json_num(&btc["borrowAmount"]) > Decimal::ZERO, "{}", w.json);

    let o = OkxApi::new(&sim, Market::Spot);
    let (bid, _) = touch(&sim, o.venue());
    let body = |td: &str, id: &str| {
        format!(
            r#"{{"instId":"BTC-USDT","tdMode":"{td}","side":"sell","ordType":"ioc","sz":"0.5","px":"{}","clOrdId":"{id}"}}"#,
            away(bid, -1)
        )
    };
    let a = o
        .signed("POST", "/api/v5/trade/order", "", &body("cash", "oc1"))
        .unwrap();
    assert_eq!(o.code(&a), "51008", "{}", a.json);
    let a = o
        .signed("POST", "/api/v5/trade/order", "", &body("cross", "oc2"))
        .unwrap();
    assert_eq!(o.code(&a), "0", "{}", a.json);
    let bal = o
        .signed("GET", "/api/v5/account/balance", "ccy=BTC", "")
        .unwrap();
    assert!(
        json_num(&bal.json["data"][0]["details"][0]["liab"]) > Decimal::ZERO,
        "{}",
        bal.json
    );

    let t = BitgetApi::new(&sim, Market::Spot);
    let (bid, _) = touch(&sim, t.venue());
    let a = t.signed("POST", "/api/v2/margin/crossed/place-order", "", &format!(
        r#"{{"symbol":"BTCUSDT","side":"sell","orderType":"limit","loanType":"autoLoan","force":"ioc","price":"{}","baseSize":"0.5","clientOid":"bm1"}}"#,
        away(bid, -1)
    )).unwrap();
    assert_eq!(a.json["code"], "00000", "{}", a.json);
    let assets = t
        .signed(
            "GET",
            "/api/v2/margin/crossed/account/assets",
            "coin=BTC",
            "",
        )
        .unwrap();
    assert!(
        json_num(&assets.json["data"][0]["borrow"]) > Decimal::ZERO,
        "{}",
        assets.json
    );

    let g = GateApi::new(&sim, Market::Spot);
    let (bid, _) = touch(&sim, g.venue());
    let body = |account: &str, id: &str| {
        format!(
            r#"{{"text":"t-{id}","currency_pair":"BTC_USDT","type":"limit","account":"{account}","side":"sell","amount":"0.5","price":"{}","time_in_force":"ioc","auto_borrow":true}}"#,
            away(bid, -1)
        )
    };
    let a = g
        .signed("POST", "/api/v4/spot/orders", "", &body("spot", "gm1"))
        .unwrap();
    assert_eq!(a.json["label"], "BALANCE_NOT_ENOUGH", "{}", a.json);
    let a = g
        .signed("POST", "/api/v4/spot/orders", "", &body("margin", "gm2"))
        .unwrap();
    assert_eq!(
        (a.status, a.json["account"].as_str()),
        (201, Some("margin")),
        "{}",
        a.json
    );
    let m = g
        .signed(
            "GET",
            "/api/v4/margin/accounts",
            "currency_pair=BTC_USDT",
            "",
        )
        .unwrap();
    assert!(
        json_num(&m.json[0]["base"]["borrowed"]) > Decimal::ZERO,
        "{}",
        m.json
    );
}

#[test]
fn price_bands_lots_and_minimums_are_refused_with_the_venues_codes() {
    let sim = SimVenues::start(config()).unwrap();
    let b = BinanceApi::new(&sim, Market::Perp);
    let (bid, ask) = touch(&sim, b.venue());
    let code = |a: Result<Answer, ureq::Error>| b.code(&a.unwrap());
    assert_eq!(
        code(b.place("b1", true, "0.001", away(ask, 8), Tif::Ioc)),
        "-4016"
    );
    assert_eq!(
        code(b.place("b2", false, "0.001", away(bid, -8), Tif::Ioc)),
        "-4024"
    );
    assert_eq!(
        code(b.place("b3", true, "0.0015", away(bid, -1), Tif::Gtc)),
        "-4023"
    );
    assert_eq!(
        code(b.place("b4", true, "0.001", away(bid, -1) + d("0.05"), Tif::Gtc)),
        "-4014"
    );
    assert_eq!(
        code(b.place("b5", true, "1001", away(bid, -1), Tif::Gtc)),
        "-4005"
    );
    let a = b
        .signed(
            "POST",
            "/fapi/v1/order",
            "",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1e-3&price=1",
        )
        .unwrap();
    assert_eq!(b.code(&a), "-1100", "{}", a.json);
    let a = b.signed("POST", "/fapi/v1/order", "", &format!("symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price={}&newClientOrderId=has%20space", away(bid, -1))).unwrap();
    assert_eq!(b.code(&a), "-4015", "{}", a.json);

    let o = OkxApi::new(&sim, Market::Perp);
    let lim =
        o.0.http
            .send(
                "GET",
                "/api/v5/public/price-limit?instId=BTC-USDT-SWAP",
                &[],
                None,
            )
            .unwrap();
    let buy_lmt = json_num(&lim.json["data"][0]["buyLmt"]);
    let a = o
        .place("o1", true, "1", buy_lmt + d("0.1"), Tif::Ioc)
        .unwrap();
    assert_eq!(o.code(&a), "51006", "{}", a.json);
    placed(
        &o,
        o.place("o2", true, "1", buy_lmt, Tif::Ioc),
        "at the limit",
    );
    assert_eq!(
        o.code(
            &o.place("o3", true, "1.005", away(bid, -1), Tif::Gtc)
                .unwrap()
        ),
        "51121"
    );
    let a = o
        .place("has-hyphen", true, "1", away(bid, -1), Tif::Gtc)
        .unwrap();
    assert_eq!(
        (a.status, o.code(&a)),
        (400, "51000".to_string()),
        "{}",
        a.json
    );

    let g = GateApi::new(&sim, Market::Spot);
    let a = g
        .place("g1", true, "0.00001", away(bid, -1), Tif::Gtc)
        .unwrap();
    assert_eq!(g.code(&a), "INVALID_PRECISION", "{}", a.json);
    let a = g.signed("POST", "/api/v4/spot/orders", "", r#"{"text":"no-prefix","currency_pair":"BTC_USDT","side":"buy","amount":"0.001","price":"1"}"#).unwrap();
    assert_eq!(g.code(&a), "INVALID_PARAM_VALUE", "{}", a.json);
}

#[test]
fn gate_finds_an_order_by_text_only_while_open_or_just_finished() {
    let sim = SimVenues::start(config()).unwrap();
    let g = GateApi::new(&sim, Market::Perp);
    let (bid, _) = touch(&sim, g.venue());
    placed(
        &g,
        g.place("gt1", true, "1", away(bid, -1), Tif::Gtc),
        "rest",
    );
    let by_text = || {
        g.signed("GET", "/api/v4/futures/usdt/orders/t-gt1", "", "")
            .unwrap()
    };
    assert_eq!(by_text().json["status"], "open");
    g.cancel("gt1");
    // Within 60 s of finishing, the text still works; past it only the id does.
    assert_eq!(by_text().json["finish_as"], "cancelled");
    sim.set_clock_skew(Exchange::Gate, 61_000);
    let mut g = g;
    g.set_offset(61_000);
    let a = g
        .signed("GET", "/api/v4/futures/usdt/orders/t-gt1", "", "")
        .unwrap();
    assert_eq!(
        (a.status, g.code(&a)),
        (404, "CLIENT_ID_NOT_FOUND".to_string()),
        "{}",
        a.json
    );
    assert_eq!(
        g.query("gt1").json["finish_as"],
        "cancelled",
        "by id it is still there"
    );
}

#[test]
fn configured_rejects_answer_as_insufficient_balance() {
    let sim = SimVenues::start(SimConfig {
        reject_one_in: 1,
        ..config()
    })
    .unwrap();
    let y = BybitApi::new(&sim, Market::Perp);
    let (bid, _) = touch(&sim, y.venue());
    let a = y
        .place("rj1", true, "0.001", away(bid, -1), Tif::Gtc)
        .unwrap();
    assert_eq!(
        (a.status, y.code(&a)),
        (200, "110007".to_string()),
        "HTTP 200 business error"
    );
    assert!(sim.accepted_orders(y.venue()).is_empty());
}

// ---------------------------------------------------------------------------------------------
// The HTTP server itself.

fn raw(sim: &SimVenues, request: &[u8]) -> String {
    let addr = sim
        .rest_url(v("binance-perp"))
        .trim_start_matches("http://")
        .to_string();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn one_connection_carries_several_requests_and_closes_when_asked() {
    let sim = SimVenues::start(config()).unwrap();
    // Two requests in one write, the second asking to close: two answers, then EOF.
    let out = raw(
        &sim,
        b"GET /fapi/v1/time HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v5/public/time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    assert!(
        out.contains("Connection: keep-alive") && out.contains("Connection: close"),
        "{out}"
    );
    assert!(
        out.contains("serverTime") && out.contains("\"ts\""),
        "{out}"
    );
    // A POST body is read by its Content-Length; an unknown path is a JSON 404.
    let out = raw(
        &sim,
        b"POST /nowhere HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert!(
        out.starts_with("HTTP/1.1 404") && out.contains("\"method\":\"POST\""),
        "{out}"
    );
    // Oversized heads and bodies are refused.
    let mut big = b"GET /x HTTP/1.1\r\nX-Pad: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 20_000));
    big.extend(b"\r\n\r\n");
    let out = raw(&sim, &big);
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    let out = raw(&sim, b"POST /x HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    // One agent, many signed requests, several threads at once.
    std::thread::scope(|s| {
        for t in 0..4 {
            let sim = &sim;
            s.spawn(move || {
                let api = BybitApi::new(sim, Market::Perp);
                for i in 0..5 {
                    let q = api.query(&format!("none{t}x{i}"));
                    assert_eq!(api.code(&q), "0", "{}", q.json);
                }
            });
        }
    });
}

#[test]
fn bybit_counts_create_and_cancel_apart() {
    // `rate-limit.mdx`: each endpoint has its own limit and its own `X-Bapi-Limit-Status`.
    let sim = SimVenues::start(SimConfig {
        rate_limits: tight_limits(),
        ..config()
    })
    .unwrap();
    let y = BybitApi::new(&sim, Market::Perp);
    let (bid, _) = touch(&sim, y.venue());
    for id in ["c1", "c2"] {
        placed(&y, y.place(id, true, "0.001", away(bid, -1), Tif::Gtc), id);
    }
    // The create endpoint's minute is used up; the cancel endpoint's is not.
    let c = y.cancel("c1");
    assert_eq!(y.code(&c), "0", "{}", c.json);
    assert_eq!(
        c.header("X-Bapi-Limit-Status"),
        Some("1"),
        "{:?}",
        c.headers
    );
    let a = y
        .place("c3", true, "0.001", away(bid, -1), Tif::Gtc)
        .unwrap();
    assert_eq!(y.code(&a), "10006", "{}", a.json);
}

//! The simulated venues' private APIs, driven the way a live gateway drives them: over one
//! keep-alive HTTP agent, every request signed by a tiny signer written here from each venue's
//! documented formula (never carry's venue code). Per venue: place, partial fill, fill, cancel,
//! query, duplicate client id, a wrong secret refused, a skewed clock refused and then accepted
//! on the venue's server time, a rate limit hit, each injected fault, and the venue's record
//! surviving a restart.

mod sim_support;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use carry::sim::{read_accepted_orders, record_path, RateLimit, SimConfig, SimFault, SimVenues};
use carry_engine::venue::Exchange;
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;
use sim_support::fast_config;

// ---------------------------------------------------------------------------------------------
// Harness

fn v(s: &str) -> Venue {
    s.parse().unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn config() -> SimConfig {
    SimConfig {
        instruments: vec!["BTC-USDT".into()],
        dead_man_speedup: 100,
        ..fast_config(&["BTC-USDT"])
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    json: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive agent, as a gateway holds per venue.
struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    fn new(sim: &SimVenues, venue: Venue) -> Http {
        Http {
            agent: ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build(),
            ),
            base: sim.rest_url(venue),
        }
    }

    /// Sends a request; `Err` when the connection failed (dropped, reset).
    fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, String)],
        body: Option<&str>,
    ) -> Result<Answer, ureq::Error> {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{target}", self.base));
        for (k, val) in headers {
            b = b.header(*k, val);
        }
        let mut resp = match body {
            Some(body) => self.agent.run(b.body(body.to_string()).unwrap())?,
            None => self.agent.run(b.body(()).unwrap())?,
        };
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = resp.body_mut().read_to_string()?;
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{target}: {e}: {text}"));
        Ok(Answer {
            status,
            headers,
            json,
        })
    }
}

/// A price `pct` percent away from `px`, on the 0.1 tick of the simulated BTC.
fn away(px: Decimal, pct: i64) -> Decimal {
    (px * (Decimal::ONE_HUNDRED + Decimal::from(pct)) / Decimal::ONE_HUNDRED).round_dp(1)
}

/// (bid, ask) of BTC on `venue` now.
fn touch(sim: &SimVenues, venue: Venue) -> (Decimal, Decimal) {
    let leg = sim.touch(venue, "BTC-USDT").unwrap();
    (leg.bid, leg.ask)
}

fn hmac_sha256(secret: &str, data: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, KeyInit, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn json_num(v: &Value) -> Decimal {
    match v {
        Value::String(s) => d(s),
        other => d(&other.to_string()),
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
    let a = b.ok("POST", "/fapi/v1/order", &binance_limit("BUY", "0.001", away(ask, 1), "IOC", "fill1"));
    assert_eq!(a.json["status"], "FILLED", "{}", a.json);
    assert_eq!(a.json["executedQty"], "0.001");
    assert!(json_num(&a.json["avgPrice"]) <= away(ask, 1));
    assert!(a.header("X-MBX-ORDER-COUNT-10S").is_some());
    assert!(a.header("X-MBX-USED-WEIGHT-1M").is_some());

    // Partial fill: 10 BTC is more than the touch ever shows; the IOC remainder expires.
    let a = b.ok("POST", "/fapi/v1/order", &binance_limit("BUY", "10", away(ask, 1), "IOC", "part1"));
    assert_eq!(a.json["status"], "EXPIRED", "{}", a.json);
    let filled = json_num(&a.json["executedQty"]);
    assert!(filled > Decimal::ZERO && filled < d("10"), "{}", a.json);
    let q = b.ok("GET", "/fapi/v1/order", "symbol=BTCUSDT&origClientOrderId=part1");
    assert_eq!(json_num(&q.json["executedQty"]), filled);
    assert!(json_num(&q.json["cumQuote"]) > Decimal::ZERO);
    let trades = b.ok(
        "GET",
        "/fapi/v1/userTrades",
        &format!("symbol=BTCUSDT&orderId={}", q.json["orderId"]),
    );
    let traded: Decimal = trades.json.as_array().unwrap().iter().map(|t| json_num(&t["qty"])).sum();
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
    assert_eq!((dup.status, dup.json["code"].as_i64()), (400, Some(-4116)), "{}", dup.json);
    let open = b.ok("GET", "/fapi/v1/openOrders", "symbol=BTCUSDT");
    assert_eq!(open.json.as_array().unwrap().len(), 1);
    // Cancel by client id, then query.
    let c = b.ok("DELETE", "/fapi/v1/order", "symbol=BTCUSDT&origClientOrderId=rest1");
    assert_eq!(c.json["status"], "CANCELED");
    let q = b.ok("GET", "/fapi/v1/order", "symbol=BTCUSDT&origClientOrderId=rest1");
    assert_eq!(q.json["status"], "CANCELED");
    // Cancelling again is an unknown order; an id never sent does not exist.
    let again = b.call("DELETE", "/fapi/v1/order", "symbol=BTCUSDT&origClientOrderId=rest1").unwrap();
    assert_eq!(again.json["code"], -2011);
    let none = b.call("GET", "/fapi/v1/order", "symbol=BTCUSDT&origClientOrderId=never").unwrap();
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
    assert_eq!((a.status, a.json["code"].as_i64()), (400, Some(-1022)), "{}", a.json);
    wrong.key = "not-the-key".into();
    let a = wrong.call("GET", "/api/v3/account", "").unwrap();
    assert_eq!((a.status, a.json["code"].as_i64()), (401, Some(-2015)));

    // The venue's clock runs 20 s ahead: a request signed on the local clock is too old.
    sim.set_clock_skew(Exchange::Binance, 20_000);
    let a = b.call("GET", "/api/v3/account", "").unwrap();
    assert_eq!((a.status, a.json["code"].as_i64()), (400, Some(-1021)), "{}", a.json);
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
    assert_eq!(a.json["code"], -2010, "no borrowing without a side effect: {}", a.json);
    let a = sell("/sapi/v1/margin/order", "&sideEffectType=AUTO_BORROW_REPAY", "m2");
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
    let q = b.ok("GET", "/sapi/v1/margin/order", "symbol=BTCUSDT&origClientOrderId=m2");
    assert_eq!(q.json["isIsolated"], false);
    assert_eq!(sim.accepted_orders(v("binance-spot")).len(), 2);
}

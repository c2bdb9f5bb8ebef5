//! The simulated venues' account side, driven as carry's live gateways will drive it: each
//! venue's private websocket authenticated with a signature computed here from the venue's
//! documented formula (and a wrong one refused), order and fill events pushed as REST orders
//! fill, a dropped stream whose gap is found only by a query, Binance's listenKey lifecycle,
//! funding settled on the accelerated funding clock and read back from each venue's funding
//! ledger, the account's fee rates and risk tiers, and order entry over websocket with the same
//! duplicate rules as REST. Nothing here uses carry's venue code.

mod sim_clients;
mod sim_support;

use std::time::{Duration, Instant};

use carry::sim::{FeeRates, SimConfig, SimVenues};
use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;
use sim_clients::*;
use sim_support::{fast_config, Client, PATIENCE};

// ---------------------------------------------------------------------------------------------
// Harness

fn v(s: &str) -> Venue {
    s.parse().unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn config() -> SimConfig {
    fast_config(&["BTC-USDT"])
}

/// One funding hour lasts 100 ms: BTC settles every 800 ms on its 8 h venues, every 400 ms on
/// Bybit (4 h) and every 100 ms on Bitget (1 h).
fn funding_config() -> SimConfig {
    SimConfig {
        funding_hour: Some(Duration::from_millis(100)),
        ..config()
    }
}

/// A private websocket, read as JSON.
struct Ws(Client);

impl Ws {
    fn connect(url: &str) -> Ws {
        Ws(Client::connect(url))
    }

    fn send(&mut self, v: &Value) {
        self.0.send(&v.to_string());
    }

    /// The next JSON message that `pick` accepts (others are skipped), within `PATIENCE`.
    fn expect(&mut self, what: &str, mut pick: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        while let Some(text) = self.0.next_text(deadline) {
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if pick(&v) {
                return v;
            }
        }
        panic!("no {what} within {PATIENCE:?}");
    }

    /// True when nothing `pick` accepts arrives for `quiet`.
    fn silent(&mut self, quiet: Duration, pick: impl Fn(&Value) -> bool) -> bool {
        let deadline = Instant::now() + quiet;
        while let Some(text) = self.0.next_text(deadline) {
            if serde_json::from_str::<Value>(&text).is_ok_and(|v| pick(&v)) {
                return false;
            }
        }
        true
    }
}

fn ws_url(sim: &SimVenues, venue: Venue, path: &str) -> String {
    format!("{}{path}", sim.ws_url(venue))
}

/// Retries `check` until it gives a value, within `PATIENCE` (for state that lands on the
/// simulator's own clock, like a funding settlement).
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(t) = check() {
            return t;
        }
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A fee as the venues charge it: to 8 decimals, half away from zero.
fn fee8(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(8, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// The funding a position pays or receives at one settlement, written from the rule every venue
/// documents (positive rate: longs pay shorts): `−qty × contract size × mark × rate`, to 8
/// decimals.
fn expected_funding(qty: Decimal, contract_size: Decimal, mark: Decimal, rate: Decimal) -> Decimal {
    (-(qty * contract_size * mark * rate))
        .round_dp_with_strategy(8, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

// ---------------------------------------------------------------------------------------------
// Binance

const BPERP: Venue = Venue::new(Exchange::Binance, Market::Perp);
const BSPOT: Venue = Venue::new(Exchange::Binance, Market::Spot);

fn listen_key(sim: &SimVenues) -> String {
    let http = Http::new(sim, BPERP);
    let key = sim.credentials().binance.api_key.clone();
    let a = http
        .send("POST", "/fapi/v1/listenKey", &[("X-MBX-APIKEY", key)], None)
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.json);
    a.json["listenKey"].as_str().unwrap().to_string()
}

fn binance_order_update<'a>(v: &'a Value, client_id: &str, exec: &str) -> Option<&'a Value> {
    (v["e"] == "ORDER_TRADE_UPDATE" && v["o"]["c"] == client_id && v["o"]["x"] == exec)
        .then(|| &v["o"])
}

#[test]
fn binance_futures_user_stream_pushes_order_trade_and_account_updates() {
    let sim = SimVenues::start(config()).unwrap();
    let http = Http::new(&sim, BPERP);
    let no_key = http.send("POST", "/fapi/v1/listenKey", &[], None).unwrap();
    assert_eq!(
        (no_key.status, no_key.json["code"].as_i64()),
        (401, Some(-2014))
    );
    let key = listen_key(&sim);
    assert_eq!(key.len(), 64);
    assert_eq!(listen_key(&sim), key, "an active key is returned again");
    // A key the venue never issued is refused.
    let bad = format!(
        "{}/private/ws?listenKey={}",
        sim.ws_url(BPERP),
        "x".repeat(64)
    );
    assert!(tungstenite::connect(bad).is_err());

    let mut ws = Ws::connect(&ws_url(
        &sim,
        BPERP,
        &format!("/private/ws?listenKey={key}&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE"),
    ));
    let api = BinanceApi::new(&sim, Market::Perp);
    let (_, ask) = touch(&sim, BPERP);
    let placed = api
        .place("s1", true, "0.001", away(ask, 1), Tif::Ioc)
        .unwrap();
    assert_eq!(placed.status, 200, "{}", placed.json);
    let q = api.query("s1");

    let new = ws.expect("NEW", |v| binance_order_update(v, "s1", "NEW").is_some());
    assert_eq!(new["o"]["X"], "NEW");
    assert_eq!(new["o"]["i"], q.json["orderId"]);
    assert_eq!(new["o"]["f"], "IOC");
    let trade = ws.expect("TRADE", |v| {
        binance_order_update(v, "s1", "TRADE").is_some()
    });
    let o = &trade["o"];
    assert_eq!(o["X"], "FILLED", "{trade}");
    assert_eq!(json_num(&o["l"]), d("0.001"));
    assert_eq!(json_num(&o["z"]), d("0.001"));
    let px = json_num(&o["L"]);
    assert_eq!(px, json_num(&q.json["avgPrice"]));
    // Taker fee on the base tier: 0.05 % of the notional, in USDT.
    assert_eq!(o["N"], "USDT");
    assert_eq!(json_num(&o["n"]), fee8(d("0.001") * px * d("0.0005")));
    assert!(o["t"].as_u64().unwrap() > 0 && trade["E"].as_i64().unwrap() > 0);
    let account = ws.expect("ACCOUNT_UPDATE", |v| v["e"] == "ACCOUNT_UPDATE");
    assert_eq!(account["a"]["m"], "ORDER");
    assert_eq!(account["a"]["P"][0]["s"], "BTCUSDT");
    assert_eq!(json_num(&account["a"]["P"][0]["pa"]), d("0.001"));
    assert_eq!(account["a"]["B"][0]["a"], "USDT");

    // DELETE closes the key and its stream.
    let creds = sim.credentials().binance.api_key.clone();
    let del = http
        .send(
            "DELETE",
            &format!("/fapi/v1/listenKey?listenKey={key}"),
            &[("X-MBX-APIKEY", creds)],
            None,
        )
        .unwrap();
    assert_eq!(del.status, 200, "{}", del.json);
    assert!(ws.0.ends_before(Instant::now() + PATIENCE));
}

#[test]
fn binance_listen_key_keepalive_extends_it_and_expiry_pushes_one_event_then_silence() {
    let validity = Duration::from_millis(1_500);
    let sim = SimVenues::start(SimConfig {
        listen_key_validity: validity,
        ..config()
    })
    .unwrap();
    let http = Http::new(&sim, BPERP);
    let api_key = sim.credentials().binance.api_key.clone();
    let created = Instant::now();
    let key = listen_key(&sim);
    let mut ws = Ws::connect(&ws_url(&sim, BPERP, &format!("/ws/{key}")));
    let api = BinanceApi::new(&sim, Market::Perp);
    let (_, ask) = touch(&sim, BPERP);

    // Keepalive at about half the validity moves the expiry to about 2.25 s after creation.
    std::thread::sleep(validity / 2);
    let put = http
        .send(
            "PUT",
            &format!("/fapi/v1/listenKey?listenKey={key}"),
            &[("X-MBX-APIKEY", api_key.clone())],
            None,
        )
        .unwrap();
    assert_eq!(
        (put.status, put.json["listenKey"].as_str()),
        (200, Some(key.as_str()))
    );
    // Past the first expiry the stream still pushes.
    std::thread::sleep(
        (created + validity + Duration::from_millis(200)).saturating_duration_since(Instant::now()),
    );
    api.place("k1", true, "0.001", away(ask, 1), Tif::Ioc)
        .unwrap();
    ws.expect("k1 after the first expiry", |v| {
        binance_order_update(v, "k1", "TRADE").is_some()
    });

    // Then it expires: one `listenKeyExpired`, then nothing, though the socket stays open.
    let expired = ws.expect("listenKeyExpired", |v| v["e"] == "listenKeyExpired");
    assert_eq!(expired["listenKey"], key.as_str());
    assert!(
        expired["E"].as_str().unwrap().parse::<i64>().is_ok(),
        "{expired}"
    );
    api.place("k2", true, "0.001", away(ask, 1), Tif::Ioc)
        .unwrap();
    assert!(
        ws.silent(Duration::from_millis(500), |_| true),
        "silence after expiry"
    );
    let late = http
        .send(
            "PUT",
            &format!("/fapi/v1/listenKey?listenKey={key}"),
            &[("X-MBX-APIKEY", api_key)],
            None,
        )
        .unwrap();
    assert_eq!(late.json["code"], -1125, "{}", late.json);
    assert_ne!(listen_key(&sim), key, "a new POST issues a new key");
}

/// A signed WebSocket API request: every param but `signature`, sorted, `k=v&…`, raw values.
fn ws_api_request(sim: &SimVenues, id: &str, method: &str, params: &[(&str, String)]) -> Value {
    let c = &sim.credentials().binance;
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    all.push(("apiKey".into(), c.api_key.clone()));
    all.push(("timestamp".into(), now_ms().to_string()));
    all.sort();
    let payload: Vec<String> = all.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let sig = hex(&hmac_sha256(&c.secret, payload.join("&").as_bytes()));
    let mut obj = serde_json::Map::new();
    for (k, val) in all {
        let value = if k == "timestamp" {
            Value::from(val.parse::<i64>().unwrap())
        } else {
            Value::String(val)
        };
        obj.insert(k, value);
    }
    obj.insert("signature".into(), Value::String(sig));
    serde_json::json!({"id": id, "method": method, "params": obj})
}

#[test]
fn binance_spot_user_data_comes_through_the_websocket_api_subscription() {
    let sim = SimVenues::start(config()).unwrap();
    let http = Http::new(&sim, BSPOT);
    let key = sim.credentials().binance.api_key.clone();
    let gone = http
        .send(
            "POST",
            "/api/v3/userDataStream",
            &[("X-MBX-APIKEY", key)],
            None,
        )
        .unwrap();
    assert_eq!(gone.status, 410, "spot listenKeys are withdrawn");

    let mut ws = Ws::connect(&ws_url(&sim, BSPOT, "/ws-api/v3"));
    let mut forged = ws_api_request(&sim, "a", "userDataStream.subscribe.signature", &[]);
    forged["params"]["signature"] = Value::String("00".repeat(32));
    ws.send(&forged);
    let refused = ws.expect("refusal", |v| v["id"] == "a");
    assert_eq!(
        (
            refused["status"].as_u64(),
            refused["error"]["code"].as_i64()
        ),
        (Some(400), Some(-1022))
    );
    ws.send(&ws_api_request(
        &sim,
        "b",
        "userDataStream.subscribe.signature",
        &[],
    ));
    let ok = ws.expect("subscription", |v| v["id"] == "b");
    assert_eq!(ok["status"], 200, "{ok}");
    let sub = ok["result"]["subscriptionId"].clone();

    let api = BinanceApi::new(&sim, Market::Spot);
    let (_, ask) = touch(&sim, BSPOT);
    api.place("sp1", true, "0.001", away(ask, 1), Tif::Ioc)
        .unwrap();
    let report = ws.expect("executionReport TRADE", |v| {
        v["event"]["e"] == "executionReport" && v["event"]["x"] == "TRADE"
    });
    assert_eq!(report["subscriptionId"], sub);
    let e = &report["event"];
    assert_eq!(
        (e["c"].as_str(), e["X"].as_str()),
        (Some("sp1"), Some("FILLED"))
    );
    assert_eq!(e["l"], "0.00100000");
    // A spot buy pays its fee in the base it receives: 0.1 % of 0.001 BTC.
    assert_eq!(
        (e["N"].as_str(), json_num(&e["n"])),
        (Some("BTC"), d("0.000001"))
    );
    // Cumulative quote over cumulative quantity is the average price.
    assert_eq!(json_num(&e["Z"]) / json_num(&e["z"]), json_num(&e["L"]));
    let balances = ws.expect("outboundAccountPosition", |v| {
        v["event"]["e"] == "outboundAccountPosition"
    });
    let btc = balances["event"]["B"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["a"] == "BTC")
        .unwrap()
        .clone();
    assert_eq!(json_num(&btc["f"]), d("0.000999"));
}

#[test]
fn binance_a_fill_while_the_stream_is_down_is_not_replayed_but_a_query_finds_it() {
    let sim = SimVenues::start(config()).unwrap();
    let key = listen_key(&sim);
    let url = ws_url(&sim, BPERP, &format!("/private/ws/{key}"));
    let mut ws = Ws::connect(&url);
    let api = BinanceApi::new(&sim, Market::Perp);
    let (_, ask) = touch(&sim, BPERP);
    api.place("before", true, "0.001", away(ask, 1), Tif::Ioc)
        .unwrap();
    ws.expect("before", |v| {
        binance_order_update(v, "before", "TRADE").is_some()
    });

    assert_eq!(sim.drop_private_connections(Exchange::Binance), 1);
    assert!(
        ws.0.ends_before(Instant::now() + PATIENCE),
        "the client sees the drop"
    );
    api.place("gap", true, "0.001", away(ask, 1), Tif::Ioc)
        .unwrap();
    let mut ws = Ws::connect(&url);
    api.place("after", true, "0.001", away(ask, 1), Tif::Ioc)
        .unwrap();
    let mut saw_gap = false;
    let after = ws.expect("after", |v| {
        saw_gap |= v["o"]["c"] == "gap";
        binance_order_update(v, "after", "TRADE").is_some()
    });
    let _ = after;
    assert!(!saw_gap, "events from the gap are not replayed");
    let q = api.query("gap");
    assert_eq!(q.json["status"], "FILLED", "the query finds it: {}", q.json);
}

#[test]
fn binance_held_back_events_arrive_after_the_rest_answer() {
    let sim = SimVenues::start(config()).unwrap();
    let key = listen_key(&sim);
    let mut ws = Ws::connect(&ws_url(&sim, BPERP, &format!("/private/ws/{key}")));
    sim.hold_private_events(Exchange::Binance, Duration::from_millis(600));
    let api = BinanceApi::new(&sim, Market::Perp);
    let (_, ask) = touch(&sim, BPERP);
    let a = api
        .place("held", true, "0.001", away(ask, 1), Tif::Ioc)
        .unwrap();
    assert_eq!(a.status, 200);
    assert!(
        ws.silent(Duration::from_millis(200), |v| v["o"]["c"] == "held"),
        "the answer came first"
    );
    ws.expect("the held event", |v| {
        binance_order_update(v, "held", "TRADE").is_some()
    });
}

#[test]
fn binance_funding_settles_on_the_accelerated_clock_into_the_income_ledger() {
    let sim = SimVenues::start(funding_config()).unwrap();
    let key = listen_key(&sim);
    let mut ws = Ws::connect(&ws_url(&sim, BPERP, &format!("/private/ws/{key}")));
    let api = BinanceApi::new(&sim, Market::Perp);
    // The public schedule moves on the accelerated grid: BTC's 8 h settles every 800 ms.
    let premium = api
        .0
        .http
        .send("GET", "/fapi/v1/premiumIndex?symbol=BTCUSDT", &[], None)
        .unwrap();
    let next = premium.json["nextFundingTime"].as_i64().unwrap();
    assert_eq!(next % 800, 0, "{}", premium.json);
    assert!(next > premium.json["time"].as_i64().unwrap_or(0) - 1_000 && next - now_ms() <= 800);

    let (bid, _) = touch(&sim, BPERP);
    // Short 0.01: positive rates pay it, negative ones charge it.
    api.place("f1", false, "0.01", away(bid, -1), Tif::Ioc)
        .unwrap();
    // (The touch may be thinner than 0.01: the position is what filled.)
    let risk = api
        .signed("GET", "/fapi/v3/positionRisk", "symbol=BTCUSDT", "")
        .unwrap();
    let position = json_num(&risk.json[0]["positionAmt"]);
    assert!(position < Decimal::ZERO);
    let rows = eventually("a FUNDING_FEE row", || {
        let a = api
            .signed(
                "GET",
                "/fapi/v1/income",
                "incomeType=FUNDING_FEE&symbol=BTCUSDT",
                "",
            )
            .unwrap();
        a.json.as_array().filter(|r| !r.is_empty()).cloned()
    });
    let row = &rows[0];
    assert_eq!(
        (row["incomeType"].as_str(), row["asset"].as_str()),
        (Some("FUNDING_FEE"), Some("USDT"))
    );
    let time = row["time"].as_i64().unwrap();
    assert_eq!(time % 800, 0, "settled on the grid: {row}");
    // The rate and mark that settled are the venue's public funding history at that time.
    let history = api
        .0
        .http
        .send(
            "GET",
            "/fapi/v1/fundingRate?symbol=BTCUSDT&limit=50",
            &[],
            None,
        )
        .unwrap();
    let settled = history
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["fundingTime"].as_i64() == Some(time))
        .unwrap_or_else(|| panic!("no history row at {time}: {}", history.json))
        .clone();
    let (rate, mark) = (
        json_num(&settled["fundingRate"]),
        json_num(&settled["markPrice"]),
    );
    let income = json_num(&row["income"]);
    assert_eq!(
        income,
        expected_funding(position, Decimal::ONE, mark, rate),
        "{row} {settled}"
    );
    assert!(!income.is_zero());
    // The venue's own record agrees, and the stream pushed the balance change.
    let paid = sim.funding_payments(Exchange::Binance);
    assert_eq!((paid[0].time_ms, paid[0].amount), (time, income));
    let update = ws.expect("FUNDING_FEE", |v| v["a"]["m"] == "FUNDING_FEE");
    assert_eq!(json_num(&update["a"]["B"][0]["bc"]), income);
    assert_eq!(
        update["a"]["P"],
        serde_json::json!([]),
        "cross: balance only"
    );
}

#[test]
fn binance_fee_rates_brackets_and_margin_come_from_the_account() {
    let rates = FeeRates {
        maker: d("0.0001"),
        taker: d("0.0003"),
    };
    let sim = SimVenues::start(SimConfig {
        fee_rates: vec![(BPERP, rates)],
        starting_balances: vec![("USDT".into(), d("1000"))],
        ..config()
    })
    .unwrap();
    let api = BinanceApi::new(&sim, Market::Perp);
    let c = api
        .signed("GET", "/fapi/v1/commissionRate", "symbol=BTCUSDT", "")
        .unwrap();
    assert_eq!(
        (
            c.json["makerCommissionRate"].as_str(),
            c.json["takerCommissionRate"].as_str()
        ),
        (Some("0.0001"), Some("0.0003")),
        "{}",
        c.json
    );
    let (_, ask) = touch(&sim, BPERP);
    api.place("fee1", true, "0.1", away(ask, 1), Tif::Ioc)
        .unwrap();
    let trades = api
        .signed("GET", "/fapi/v1/userTrades", "symbol=BTCUSDT", "")
        .unwrap();
    let t = &trades.json[0];
    let qty = json_num(&t["qty"]);
    assert_eq!(
        json_num(&t["commission"]),
        fee8(qty * json_num(&t["price"]) * d("0.0003"))
    );

    let b = api
        .signed("GET", "/fapi/v1/leverageBracket", "symbol=BTCUSDT", "")
        .unwrap();
    let first = &b.json["brackets"][0];
    assert_eq!(
        (
            first["initialLeverage"].as_u64(),
            first["notionalCap"].as_u64(),
            first["cum"].as_u64()
        ),
        (Some(125), Some(50_000), Some(0)),
        "{}",
        b.json
    );
    assert_eq!(b.json["brackets"][1]["cum"], 50);
    assert_eq!(json_num(&first["maintMarginRatio"]), d("0.004"));

    // Cross margin on a 1000 USDT wallet: maintenance 0.4 % of the notional; liquidation where
    // the wallet plus the position's PnL meets it: (Q·entry − wallet) / (Q·(1 − 0.004)).
    let p = api
        .signed("GET", "/fapi/v3/positionRisk", "symbol=BTCUSDT", "")
        .unwrap();
    let p = &p.json[0];
    let bal = api.signed("GET", "/fapi/v3/balance", "", "").unwrap();
    let wallet = json_num(&bal.json[0]["balance"]);
    let (pos, entry, notional) = (
        json_num(&p["positionAmt"]),
        json_num(&p["entryPrice"]),
        json_num(&p["notional"]),
    );
    assert_eq!(
        json_num(&p["maintMargin"]),
        (notional * d("0.004")).round_dp(8).normalize()
    );
    let liq = ((pos * entry - wallet) / (pos * d("0.996")))
        .round_dp(8)
        .normalize();
    assert_eq!(json_num(&p["liquidationPrice"]), liq, "{p}");
    assert!(liq > Decimal::ZERO && liq < entry);
}

#[test]
fn binance_websocket_api_orders_share_the_rest_account_and_duplicate_rule() {
    let sim = SimVenues::start(config()).unwrap();
    let mut ws = Ws::connect(&ws_url(&sim, BPERP, "/ws-fapi/v1"));
    let (bid, _) = touch(&sim, BPERP);
    let px = away(bid, -3).to_string();
    let order = |id: &str| {
        vec![
            ("symbol", "BTCUSDT".to_string()),
            ("side", "BUY".to_string()),
            ("type", "LIMIT".to_string()),
            ("timeInForce", "GTC".to_string()),
            ("quantity", "0.002".to_string()),
            ("price", px.clone()),
            ("newClientOrderId", id.to_string()),
        ]
    };
    let mut forged = ws_api_request(&sim, "0", "order.place", &order("w1"));
    forged["params"]["signature"] = Value::String("ab".repeat(32));
    ws.send(&forged);
    assert_eq!(
        ws.expect("refusal", |v| v["id"] == "0")["error"]["code"],
        -1022
    );

    ws.send(&ws_api_request(&sim, "1", "order.place", &order("w1")));
    let placed = ws.expect("placed", |v| v["id"] == "1");
    assert_eq!(
        (
            placed["status"].as_u64(),
            placed["result"]["status"].as_str()
        ),
        (Some(200), Some("NEW")),
        "{placed}"
    );
    assert!(placed["rateLimits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["rateLimitType"] == "ORDERS"));
    // The same id while the first is open: -4116, as over REST.
    ws.send(&ws_api_request(&sim, "2", "order.place", &order("w1")));
    assert_eq!(
        ws.expect("duplicate", |v| v["id"] == "2")["error"]["code"],
        -4116
    );
    let rest = BinanceApi::new(&sim, Market::Perp);
    assert_eq!(
        rest.query("w1").json["status"],
        "NEW",
        "REST sees the websocket order"
    );
    let dup = rest
        .place("w1", true, "0.002", away(bid, -3), Tif::Gtc)
        .unwrap();
    assert_eq!(dup.json["code"], -4116);

    let lookup = [
        ("symbol", "BTCUSDT".to_string()),
        ("origClientOrderId", "w1".to_string()),
    ];
    ws.send(&ws_api_request(&sim, "3", "order.status", &lookup));
    assert_eq!(
        ws.expect("status", |v| v["id"] == "3")["result"]["clientOrderId"],
        "w1"
    );
    ws.send(&ws_api_request(&sim, "4", "order.cancel", &lookup));
    assert_eq!(
        ws.expect("cancel", |v| v["id"] == "4")["result"]["status"],
        "CANCELED"
    );
    // Closed: the id is free again, as Binance documents.
    ws.send(&ws_api_request(&sim, "5", "order.place", &order("w1")));
    assert_eq!(ws.expect("again", |v| v["id"] == "5")["status"], 200);
    assert_eq!(sim.accepted_orders(BPERP).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Every venue: one private stream client per venue, written from its documented auth.

/// A quantity (order units) an IOC at the touch fills at once on `venue`.
fn small(venue: Venue) -> &'static str {
    match (venue.exchange, venue.market) {
        (Exchange::Okx, Market::Perp) | (Exchange::Gate, Market::Perp) => "1",
        _ => "0.001",
    }
}

/// The numeric user id Gate's futures channels need: the `user` of its futures account.
fn gate_user_id(sim: &SimVenues) -> String {
    let api = GateApi::new(sim, Market::Perp);
    let a = api
        .signed("GET", "/api/v4/futures/usdt/accounts", "", "")
        .unwrap();
    a.json["user"].to_string()
}

fn okx_login(sim: &SimVenues, secret: &str) -> Value {
    let c = &sim.credentials().okx;
    let ts = (now_ms() / 1000).to_string();
    let sign = b64(&hmac_sha256(
        secret,
        format!("{ts}GET/users/self/verify").as_bytes(),
    ));
    serde_json::json!({"op": "login", "args": [{
        "apiKey": c.api_key, "passphrase": c.passphrase, "timestamp": ts, "sign": sign}]})
}

fn bitget_login(sim: &SimVenues, secret: &str) -> Value {
    let c = &sim.credentials().bitget;
    let ts = (now_ms() / 1000).to_string();
    let sign = b64(&hmac_sha256(
        secret,
        format!("{ts}GET/user/verify").as_bytes(),
    ));
    serde_json::json!({"op": "login", "args": [{
        "apiKey": c.api_key, "passphrase": c.passphrase, "timestamp": ts, "sign": sign}]})
}

fn bybit_auth(sim: &SimVenues, secret: &str) -> Value {
    let c = &sim.credentials().bybit;
    let expires = now_ms() + 10_000;
    let sig = hex(&hmac_sha256(
        secret,
        format!("GET/realtime{expires}").as_bytes(),
    ));
    serde_json::json!({"req_id": "auth", "op": "auth", "args": [c.api_key, expires, sig]})
}

/// A Gate private subscribe with its `auth`.
fn gate_subscribe(sim: &SimVenues, channel: &str, payload: Vec<String>, secret: &str) -> Value {
    let t = now_ms() / 1000;
    let sign = hmac_sha512_hex(
        secret,
        format!("channel={channel}&event=subscribe&time={t}").as_bytes(),
    );
    serde_json::json!({"time": t, "channel": channel, "event": "subscribe", "payload": payload,
        "auth": {"method": "api_key", "KEY": sim.credentials().gate.api_key, "SIGN": sign}})
}

/// `venue`'s private stream, authenticated and subscribed to its order (and, where they are
/// separate, fill) channels.
fn order_stream(sim: &SimVenues, venue: Venue) -> Ws {
    match venue.exchange {
        Exchange::Binance if venue.is_perp() => {
            let key = listen_key(sim);
            Ws::connect(&ws_url(sim, venue, &format!("/private/ws?listenKey={key}")))
        }
        Exchange::Binance => {
            let mut ws = Ws::connect(&ws_url(sim, venue, "/ws-api/v3"));
            ws.send(&ws_api_request(
                sim,
                "s",
                "userDataStream.subscribe.signature",
                &[],
            ));
            assert_eq!(ws.expect("subscribed", |v| v["id"] == "s")["status"], 200);
            ws
        }
        Exchange::Bybit => {
            let mut ws = Ws::connect(&ws_url(sim, venue, "/v5/private"));
            ws.send(&bybit_auth(sim, &sim.credentials().bybit.secret));
            assert_eq!(ws.expect("auth", |v| v["op"] == "auth")["success"], true);
            ws.send(&serde_json::json!({"op": "subscribe", "args": ["order", "execution", "position", "wallet"]}));
            assert_eq!(
                ws.expect("subscribed", |v| v["op"] == "subscribe")["success"],
                true
            );
            ws
        }
        Exchange::Okx => {
            let mut ws = Ws::connect(&ws_url(sim, venue, "/ws/v5/private"));
            ws.send(&okx_login(sim, &sim.credentials().okx.secret));
            assert_eq!(ws.expect("login", |v| v["event"] == "login")["code"], "0");
            ws.send(&serde_json::json!({"op": "subscribe", "args": [
                {"channel": "orders", "instType": "ANY"},
                {"channel": "positions", "instType": "ANY"},
                {"channel": "balance_and_position"}]}));
            ws.expect("subscribed", |v| {
                v["event"] == "subscribe" && v["arg"]["channel"] == "balance_and_position"
            });
            ws
        }
        Exchange::Bitget => {
            let mut ws = Ws::connect(&ws_url(sim, venue, "/v2/ws/private"));
            ws.send(&bitget_login(sim, &sim.credentials().bitget.secret));
            assert_eq!(ws.expect("login", |v| v["event"] == "login")["code"], 0);
            let it = if venue.is_perp() {
                "USDT-FUTURES"
            } else {
                "SPOT"
            };
            ws.send(&serde_json::json!({"op": "subscribe", "args": [
                {"instType": it, "channel": "orders", "instId": "default"},
                {"instType": "USDT-FUTURES", "channel": "positions", "instId": "default"},
                {"instType": "USDT-FUTURES", "channel": "account", "coin": "default"}]}));
            ws.expect("subscribed", |v| {
                v["event"] == "subscribe" && v["arg"]["channel"] == "account"
            });
            ws
        }
        Exchange::Gate => {
            let mut ws = Ws::connect(&sim.ws_url(venue));
            let secret = sim.credentials().gate.secret.clone();
            let subs = if venue.is_perp() {
                let user = gate_user_id(sim);
                vec![
                    gate_subscribe(
                        sim,
                        "futures.orders",
                        vec![user.clone(), "!all".into()],
                        &secret,
                    ),
                    gate_subscribe(
                        sim,
                        "futures.usertrades",
                        vec![user.clone(), "!all".into()],
                        &secret,
                    ),
                    gate_subscribe(sim, "futures.balances", vec![user], &secret),
                ]
            } else {
                vec![
                    gate_subscribe(sim, "spot.orders", vec!["!all".into()], &secret),
                    gate_subscribe(sim, "spot.usertrades", vec!["!all".into()], &secret),
                ]
            };
            for s in subs {
                let channel = s["channel"].clone();
                ws.send(&s);
                let ok = ws.expect("subscribed", |v| {
                    v["channel"] == channel && v["event"] == "subscribe"
                });
                assert_eq!(ok["result"]["status"], "success", "{ok}");
            }
            ws
        }
    }
}

/// Whether `msg` on `venue`'s stream reports a fill of the order with client id `id`, in the
/// venue's own fields.
fn reports_fill(venue: Venue, msg: &Value, id: &str) -> bool {
    let any = |list: &Value, f: &dyn Fn(&Value) -> bool| {
        list.as_array().is_some_and(|rows| rows.iter().any(f))
    };
    let nonzero = |v: &Value| {
        let s = str_of(v);
        !s.is_empty() && s.parse::<Decimal>().is_ok_and(|d| !d.is_zero())
    };
    match (venue.exchange, venue.market) {
        (Exchange::Binance, Market::Perp) => binance_order_update(msg, id, "TRADE").is_some(),
        (Exchange::Binance, Market::Spot) => {
            msg["event"]["e"] == "executionReport"
                && msg["event"]["c"] == id
                && msg["event"]["x"] == "TRADE"
        }
        (Exchange::Bybit, _) => {
            msg["topic"] == "order"
                && any(&msg["data"], &|r| {
                    r["orderLinkId"] == id && nonzero(&r["cumExecQty"])
                })
        }
        (Exchange::Okx, _) => {
            msg["arg"]["channel"] == "orders"
                && any(&msg["data"], &|r| {
                    r["clOrdId"] == id && nonzero(&r["fillSz"])
                })
        }
        (Exchange::Bitget, _) => {
            msg["arg"]["channel"] == "orders"
                && any(&msg["data"], &|r| {
                    r["clientOid"] == id && nonzero(&r["baseVolume"])
                })
        }
        (Exchange::Gate, Market::Perp) => {
            msg["channel"] == "futures.usertrades"
                && any(&msg["result"], &|r| r["text"] == format!("t-{id}"))
        }
        (Exchange::Gate, Market::Spot) => {
            msg["channel"] == "spot.orders"
                && any(&msg["result"], &|r| {
                    r["text"] == format!("t-{id}") && nonzero(&r["filled_amount"])
                })
        }
    }
}

/// Places an IOC through the touch over REST; the answer must be an acceptance.
fn fill_now(sim: &SimVenues, api: &dyn Api, id: &str, buy: bool) {
    let venue = api.venue();
    let (bid, ask) = touch(sim, venue);
    let px = if buy { away(ask, 1) } else { away(bid, -1) };
    let a = api.place(id, buy, small(venue), px, Tif::Ioc).unwrap();
    assert_eq!(api.code(&a), "0", "{venue} {id}: {}", a.json);
}

#[test]
fn every_venue_streams_a_rest_order_and_its_fill() {
    let sim = SimVenues::start(config()).unwrap();
    for &venue in &Venue::ALL {
        let mut ws = order_stream(&sim, venue);
        let api = api(&sim, venue);
        fill_now(&sim, api.as_ref(), "ev1", true);
        ws.expect(&format!("{venue}: the fill of ev1"), |v| {
            reports_fill(venue, v, "ev1")
        });
    }
}

#[test]
fn every_venue_misses_a_fill_while_its_stream_is_down_and_a_query_finds_it() {
    let sim = SimVenues::start(config()).unwrap();
    for &venue in &Venue::ALL {
        let ws = order_stream(&sim, venue);
        let mut ws = ws;
        assert!(sim.drop_private_connections(venue.exchange) >= 1, "{venue}");
        assert!(
            ws.0.ends_before(Instant::now() + PATIENCE),
            "{venue}: the drop is seen"
        );
        let api = api(&sim, venue);
        fill_now(&sim, api.as_ref(), "gap1", true);
        let mut ws = order_stream(&sim, venue);
        fill_now(&sim, api.as_ref(), "after1", true);
        let mut saw_gap = false;
        ws.expect(&format!("{venue}: after1"), |v| {
            saw_gap |= reports_fill(venue, v, "gap1");
            reports_fill(venue, v, "after1")
        });
        assert!(!saw_gap, "{venue}: the gap is not replayed");
        let (st, filled) = api.state(&api.query("gap1"));
        assert!(
            matches!(st, St::Filled | St::PartlyFilled) && filled > Decimal::ZERO,
            "{venue}: the query finds the fill"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bybit, OKX, Bitget, Gate: auth refused when wrong, and the fields of their pushes.

#[test]
fn bybit_private_stream_refuses_a_bad_signature_and_pushes_orders_executions_positions() {
    let sim = SimVenues::start(config()).unwrap();
    let venue = v("bybit-perp");
    let mut ws = Ws::connect(&ws_url(&sim, venue, "/v5/private"));
    ws.send(&serde_json::json!({"op": "subscribe", "args": ["order"]}));
    assert_eq!(
        ws.expect("refusal", |v| v["op"] == "subscribe")["success"],
        false
    );
    ws.send(&bybit_auth(&sim, "wrong-secret"));
    let refused = ws.expect("auth refusal", |v| v["op"] == "auth");
    assert_eq!(refused["success"], false, "{refused}");
    ws.send(&bybit_auth(&sim, &sim.credentials().bybit.secret));
    assert_eq!(ws.expect("auth", |v| v["op"] == "auth")["success"], true);
    ws.send(&serde_json::json!({"req_id": "p", "op": "ping"}));
    let pong = ws.expect("pong", |v| v["op"] == "pong");
    assert!(
        pong["args"][0].as_str().unwrap().parse::<i64>().is_ok(),
        "{pong}"
    );
    ws.send(&serde_json::json!({"op": "subscribe", "args": ["order", "execution", "position"]}));
    ws.expect("subscribed", |v| v["op"] == "subscribe");

    let api = BybitApi::new(&sim, Market::Perp);
    fill_now(&sim, &api, "by1", true);
    let order = ws.expect("order", |v| reports_fill(venue, v, "by1"));
    let row = &order["data"][0];
    assert_eq!(
        (row["category"].as_str(), row["orderStatus"].as_str()),
        (Some("linear"), Some("Filled")),
        "{row}"
    );
    let exec = ws.expect("execution", |v| v["topic"] == "execution");
    let e = &exec["data"][0];
    assert_eq!(
        (e["execType"].as_str(), e["orderLinkId"].as_str()),
        (Some("Trade"), Some("by1"))
    );
    // Bybit's execFee is positive when charged: 0.055 % taker on linear.
    let fee = fee8(json_num(&e["execQty"]) * json_num(&e["execPrice"]) * d("0.00055"));
    assert_eq!(json_num(&e["execFee"]), fee);
    assert_eq!(json_num(&row["avgPrice"]), json_num(&e["execPrice"]));
    let pos = ws.expect("position", |v| v["topic"] == "position");
    let p = &pos["data"][0];
    assert_eq!(
        (p["side"].as_str(), json_num(&p["size"])),
        (Some("Buy"), d("0.001"))
    );
    assert!(json_num(&p["positionMM"]) > Decimal::ZERO, "{p}");
}

#[test]
fn okx_private_stream_refuses_a_bad_login_and_pushes_orders_positions_and_balances() {
    let sim = SimVenues::start(config()).unwrap();
    let venue = v("okx-perp");
    let mut ws = Ws::connect(&ws_url(&sim, venue, "/ws/v5/private"));
    ws.send(
        &serde_json::json!({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}),
    );
    assert_eq!(
        ws.expect("not logged in", |v| v["event"] == "error")["code"],
        "60011"
    );
    ws.send(&okx_login(&sim, "wrong-secret"));
    let refused = ws.expect("login refusal", |v| v["event"] == "error");
    assert_eq!(refused["code"], "60007", "{refused}");
    drop(ws);
    let mut ws = order_stream(&sim, venue);
    let api = OkxApi::new(&sim, Market::Perp);
    fill_now(&sim, &api, "ok1", true);
    let push = ws.expect("orders", |v| reports_fill(venue, v, "ok1"));
    let row = &push["data"][0];
    assert_eq!(
        push["arg"]["uid"].as_str().map(str::len),
        Some(17),
        "{push}"
    );
    assert_eq!(
        (row["instId"].as_str(), row["state"].as_str()),
        (Some("BTC-USDT-SWAP"), Some("filled"))
    );
    // One contract is 0.01 BTC; OKX fees are negative when charged (taker 0.05 %).
    let px = json_num(&row["fillPx"]);
    assert_eq!(
        json_num(&row["fillFee"]),
        -fee8(d("1") * d("0.01") * px * d("0.0005"))
    );
    assert_eq!(
        (row["execType"].as_str(), json_num(&row["accFillSz"])),
        (Some("T"), d("1"))
    );
    let pos = ws.expect("positions", |v| v["arg"]["channel"] == "positions");
    assert_eq!(json_num(&pos["data"][0]["pos"]), d("1"));
    // Maintenance 0.4 % of 1 contract's notional at the mark; a million USDT behind one
    // contract is never liquidated, which OKX prints as an empty `liqPx`.
    let p = &pos["data"][0];
    assert_eq!(
        json_num(&p["mmr"]),
        fee8(d("0.01") * json_num(&p["markPx"]) * d("0.004"))
    );
    assert_eq!(p["liqPx"], "", "{pos}");
    let bal = ws.expect("balance_and_position", |v| {
        v["arg"]["channel"] == "balance_and_position"
    });
    let b = &bal["data"][0];
    assert_eq!(
        (b["eventType"].as_str(), b["posData"][0]["pos"].as_str()),
        (Some("filled"), Some("1")),
        "{bal}"
    );
}

#[test]
fn bitget_private_stream_refuses_a_bad_login_and_pushes_orders_positions_account() {
    let sim = SimVenues::start(config()).unwrap();
    let venue = v("bitget-perp");
    let mut ws = Ws::connect(&ws_url(&sim, venue, "/v2/ws/private"));
    ws.send(&bitget_login(&sim, "wrong-secret"));
    assert_eq!(
        ws.expect("refusal", |v| v["event"] == "error")["code"],
        30015
    );
    ws.send(&serde_json::json!({"op": "subscribe", "args": [
        {"instType": "USDT-FUTURES", "channel": "orders", "instId": "default"}]}));
    assert_eq!(
        ws.expect("not logged in", |v| v["event"] == "error")["code"],
        30004
    );
    drop(ws);
    let mut ws = order_stream(&sim, venue);
    let api = BitgetApi::new(&sim, Market::Perp);
    fill_now(&sim, &api, "bg1", true);
    let push = ws.expect("orders", |v| reports_fill(venue, v, "bg1"));
    let row = &push["data"][0];
    assert_eq!(push["action"], "snapshot");
    assert_eq!(
        (row["status"].as_str(), row["tradeScope"].as_str()),
        (Some("filled"), Some("T")),
        "{row}"
    );
    // Bitget fees are negative when charged (taker 0.06 %).
    let fee = fee8(json_num(&row["baseVolume"]) * json_num(&row["fillPrice"]) * d("0.0006"));
    assert_eq!(json_num(&row["fillFee"]), -fee);
    assert_eq!(json_num(&row["feeDetail"][0]["fee"]), -fee);
    let pos = ws.expect("positions", |v| v["arg"]["channel"] == "positions");
    assert_eq!(
        (
            pos["data"][0]["holdSide"].as_str(),
            json_num(&pos["data"][0]["total"])
        ),
        (Some("long"), d("0.001"))
    );
    let acct = ws.expect("account", |v| v["arg"]["channel"] == "account");
    assert_eq!(acct["data"][0]["marginCoin"], "USDT");
    // A spot cancel is spelled `cancelled`, a futures one `canceled`.
    let spot = BitgetApi::new(&sim, Market::Spot);
    let mut ws_spot = order_stream(&sim, v("bitget-spot"));
    let (bid, _) = touch(&sim, v("bitget-spot"));
    spot.place("bgs", true, "0.001", away(bid, -3), Tif::Gtc)
        .unwrap();
    spot.cancel("bgs");
    let c = ws_spot.expect("spot cancel", |v| {
        v["data"][0]["clientOid"] == "bgs" && v["data"][0]["status"] != "live"
    });
    assert_eq!(c["data"][0]["status"], "cancelled");
}

#[test]
fn gate_private_channels_need_the_signed_auth_and_the_user_id() {
    let sim = SimVenues::start(config()).unwrap();
    let venue = v("gate-perp");
    let user = gate_user_id(&sim);
    assert!(user.parse::<u64>().is_ok(), "{user}");
    let mut ws = Ws::connect(&sim.ws_url(venue));
    ws.send(&gate_subscribe(
        &sim,
        "futures.orders",
        vec![user.clone(), "!all".into()],
        "wrong",
    ));
    let refused = ws.expect("refusal", |v| v["channel"] == "futures.orders");
    assert_eq!(
        (
            refused["error"]["code"].as_i64(),
            refused["result"]["status"].as_str()
        ),
        (Some(4), Some("fail"))
    );
    let secret = sim.credentials().gate.secret.clone();
    ws.send(&gate_subscribe(
        &sim,
        "futures.orders",
        vec!["1".into(), "!all".into()],
        &secret,
    ));
    assert_eq!(
        ws.expect("wrong user", |v| v["channel"] == "futures.orders")["error"]["code"],
        2
    );
    drop(ws);
    let mut ws = order_stream(&sim, venue);
    let api = GateApi::new(&sim, Market::Perp);
    fill_now(&sim, &api, "gt1", false);
    let order = ws.expect("futures.orders", |v| {
        v["channel"] == "futures.orders"
            && v["result"][0]["text"] == "t-gt1"
            && v["result"][0]["status"] == "finished"
    });
    let o = &order["result"][0];
    // Sizes are signed contracts; numbers are JSON numbers; no fee on the order.
    assert_eq!(
        (
            o["size"].as_i64(),
            o["left"].as_i64(),
            o["finish_as"].as_str()
        ),
        (Some(-1), Some(0), Some("filled")),
        "{o}"
    );
    assert!(o["fill_price"].is_number() && o.get("fee").is_none());
    assert_eq!(o["user"], user.as_str());
    let trade = ws.expect("futures.usertrades", |v| reports_fill(venue, v, "gt1"));
    let t = &trade["result"][0];
    // Taker 0.075 % of 1 contract × 0.0001 BTC × price, positive when charged.
    let fee = fee8(d("0.0001") * json_num(&t["price"]) * d("0.00075"));
    assert_eq!(
        (t["role"].as_str(), json_num(&t["fee"])),
        (Some("taker"), fee)
    );
    let bal = ws.expect("futures.balances", |v| v["channel"] == "futures.balances");
    assert_eq!(bal["result"][0]["type"], "pnl");
}

// ---------------------------------------------------------------------------------------------
// Funding on every perp, fee rates, risk tiers, position mode.

/// One funding ledger row as a venue reports it, the amount turned to the account's side
/// (positive: received) by the venue's documented sign convention.
#[derive(Debug)]
struct LedgerRow {
    time_ms: i64,
    received: Decimal,
    /// The mark the venue says it settled at, where its row carries one.
    mark: Option<Decimal>,
}

/// `venue`'s funding ledger, read from its documented endpoint.
fn funding_ledger(api: &dyn Api) -> Vec<LedgerRow> {
    let get = |path: &str, query: &str| api.signed("GET", path, query, "").unwrap().json;
    let rows = |v: &Value| v.as_array().cloned().unwrap_or_default();
    match api.venue().exchange {
        Exchange::Binance => rows(&get("/fapi/v1/income", "incomeType=FUNDING_FEE"))
            .iter()
            .map(|r| LedgerRow {
                time_ms: r["time"].as_i64().unwrap(),
                received: json_num(&r["income"]),
                mark: None,
            })
            .collect(),
        Exchange::Bybit => rows(
            &get(
                "/v5/account/transaction-log",
                "accountType=UNIFIED&category=linear&type=SETTLEMENT",
            )["result"]["list"],
        )
        .iter()
        .map(|r| {
            // `funding` is positive when received; `change` = cashFlow + funding − fee.
            assert_eq!(json_num(&r["change"]), json_num(&r["funding"]), "{r}");
            LedgerRow {
                time_ms: str_of(&r["transactionTime"]).parse().unwrap(),
                received: json_num(&r["funding"]),
                mark: Some(json_num(&r["tradePrice"])),
            }
        })
        .collect(),
        Exchange::Okx => rows(&get("/api/v5/account/bills", "instType=SWAP&type=8")["data"])
            .iter()
            .map(|r| {
                let pnl = json_num(&r["pnl"]);
                // Sub-type 173 is a funding expense, 174 income.
                let sub = if pnl < Decimal::ZERO { "173" } else { "174" };
                assert_eq!(
                    (r["subType"].as_str(), json_num(&r["balChg"])),
                    (Some(sub), pnl),
                    "{r}"
                );
                LedgerRow {
                    time_ms: str_of(&r["ts"]).parse().unwrap(),
                    received: pnl,
                    mark: Some(json_num(&r["px"])),
                }
            })
            .collect(),
        Exchange::Bitget => rows(
            &get(
                "/api/v2/mix/account/bill",
                "productType=USDT-FUTURES&businessType=contract_settle_fee",
            )["data"]["bills"],
        )
        .iter()
        .map(|r| LedgerRow {
            time_ms: str_of(&r["cTime"]).parse().unwrap(),
            received: json_num(&r["amount"]),
            mark: None,
        })
        .collect(),
        Exchange::Gate => rows(&get("/api/v4/futures/usdt/account_book", "type=fund"))
            .iter()
            .map(|r| {
                // `time` is seconds with a fraction.
                let secs = json_num(&r["time"]);
                LedgerRow {
                    time_ms: (secs * Decimal::from(1000)).round().try_into().unwrap(),
                    received: json_num(&r["change"]),
                    mark: None,
                }
            })
            .collect(),
    }
}

/// The rate `venue`'s public funding history says settled at `time_ms` (and the mark where the
/// history carries one).
fn settled_rate(http: &Http, venue: Venue, time_ms: i64) -> (Decimal, Option<Decimal>) {
    let get = |target: &str| http.send("GET", target, &[], None).unwrap().json;
    let find = |rows: &Value, key: &str, want: &str| {
        rows.as_array()
            .and_then(|r| r.iter().find(|x| str_of(&x[key]) == want).cloned())
            .unwrap_or_else(|| panic!("{venue}: no history row {key}={want} in {rows}"))
    };
    let t = time_ms.to_string();
    match venue.exchange {
        Exchange::Binance => {
            let r = find(
                &get("/fapi/v1/fundingRate?symbol=BTCUSDT&limit=100"),
                "fundingTime",
                &t,
            );
            (json_num(&r["fundingRate"]), Some(json_num(&r["markPrice"])))
        }
        Exchange::Bybit => {
            let h = get("/v5/market/funding/history?category=linear&symbol=BTCUSDT&limit=200");
            let r = find(&h["result"]["list"], "fundingRateTimestamp", &t);
            (json_num(&r["fundingRate"]), None)
        }
        Exchange::Okx => {
            let h = get("/api/v5/public/funding-rate-history?instId=BTC-USDT-SWAP&limit=100");
            let r = find(&h["data"], "fundingTime", &t);
            (json_num(&r["realizedRate"]), None)
        }
        Exchange::Bitget => {
            let h = get("/api/v2/mix/market/history-fund-rate?symbol=BTCUSDT&productType=USDT-FUTURES&pageSize=100");
            let r = find(&h["data"], "fundingTime", &t);
            (json_num(&r["fundingRate"]), None)
        }
        Exchange::Gate => {
            let h = get("/api/v4/futures/usdt/funding_rate?contract=BTC_USDT&limit=100");
            let r = find(&h, "t", &(time_ms / 1000).to_string());
            (json_num(&r["r"]), None)
        }
    }
}

#[test]
fn every_perp_settles_funding_on_the_accelerated_clock_into_its_ledger() {
    // One funding hour lasts 125 ms: 8 h venues settle every second (whole seconds, so Gate's
    // second-resolution history is exact), Bybit's 4 h BTC every 500 ms, Bitget's 1 h every
    // 125 ms.
    let sim = SimVenues::start(SimConfig {
        funding_hour: Some(Duration::from_millis(125)),
        ..config()
    })
    .unwrap();
    for exchange in Exchange::ALL {
        let venue = Venue::new(exchange, Market::Perp);
        let mut ws = order_stream(&sim, venue);
        let api = api(&sim, venue);
        let listed = sim.listing().get(0, venue).unwrap();
        let interval = i64::from(listed.funding_interval_hours.unwrap()) * 125;
        // Short: a positive rate pays it.
        fill_now(&sim, api.as_ref(), "fund1", false);
        let (_, filled) = api.state(&api.query("fund1"));
        let position = -filled;
        let cs = listed.spec.contract_size.unwrap_or(Decimal::ONE);
        let rows = eventually(&format!("{venue}: a funding row"), || {
            let rows = funding_ledger(api.as_ref());
            (!rows.is_empty()).then_some(rows)
        });
        let row = &rows[0];
        assert_eq!(
            row.time_ms % interval,
            0,
            "{venue}: on the settlement grid: {row:?}"
        );
        let (rate, public_mark) = settled_rate(&api.signer().http, venue, row.time_ms);
        let paid = sim.funding_payments(exchange);
        let record = paid.iter().find(|p| p.time_ms == row.time_ms).unwrap();
        let mark = public_mark.or(row.mark).unwrap_or(record.mark);
        assert_eq!(
            mark, record.mark,
            "{venue}: the mark the venue reports is the one it settled at"
        );
        assert_eq!(
            record.rate, rate,
            "{venue}: the public history shows the settled rate"
        );
        assert_eq!(
            row.received,
            expected_funding(position, cs, mark, rate),
            "{venue}: −{position} × {cs} × {mark} × {rate}"
        );
        assert!(!row.received.is_zero(), "{venue}");
        // Where the venue pushes funding on its private stream, the stream says so too.
        let pushed = |v: &Value| -> Option<Decimal> {
            match exchange {
                Exchange::Binance => {
                    (v["a"]["m"] == "FUNDING_FEE").then(|| json_num(&v["a"]["B"][0]["bc"]))
                }
                // Bybit: an execution of type Funding, `execFee` positive when paid.
                Exchange::Bybit => (v["topic"] == "execution"
                    && v["data"][0]["execType"] == "Funding")
                    .then(|| -json_num(&v["data"][0]["execFee"])),
                Exchange::Okx => (v["data"][0]["eventType"] == "funding_fee")
                    .then(|| json_num(&v["data"][0]["balData"][0]["cashBal"])),
                Exchange::Gate => (v["channel"] == "futures.balances"
                    && v["result"][0]["type"] == "fund")
                    .then(|| json_num(&v["result"][0]["change"])),
                Exchange::Bitget => None,
            }
        };
        if exchange != Exchange::Bitget {
            let event = ws.expect(&format!("{venue}: a funding push"), |v| pushed(v).is_some());
            let amount = pushed(&event).unwrap();
            if exchange == Exchange::Okx {
                assert!(amount > Decimal::ZERO, "{venue}: the cash balance after it");
            } else {
                assert!(
                    paid.iter()
                        .chain(&sim.funding_payments(exchange))
                        .any(|p| p.amount == amount),
                    "{venue}: {amount} is a payment the venue booked"
                );
            }
        }
    }
}

#[test]
fn every_venue_reports_the_accounts_own_fee_rates_and_its_risk_tiers() {
    let rates = FeeRates {
        maker: d("0.0001"),
        taker: d("0.0003"),
    };
    let sim = SimVenues::start(SimConfig {
        fee_rates: Exchange::ALL
            .iter()
            .map(|&e| (Venue::new(e, Market::Perp), rates))
            .collect(),
        ..config()
    })
    .unwrap();
    let get = |venue: &str, path: &str, query: &str| {
        api(&sim, v(venue))
            .signed("GET", path, query, "")
            .unwrap()
            .json
    };
    let b = get("binance-perp", "/fapi/v1/commissionRate", "symbol=BTCUSDT");
    assert_eq!(
        (
            json_num(&b["makerCommissionRate"]),
            json_num(&b["takerCommissionRate"])
        ),
        (rates.maker, rates.taker)
    );
    let y = get(
        "bybit-perp",
        "/v5/account/fee-rate",
        "category=linear&symbol=BTCUSDT",
    );
    let y = &y["result"]["list"][0];
    assert_eq!(
        (json_num(&y["makerFeeRate"]), json_num(&y["takerFeeRate"])),
        (rates.maker, rates.taker)
    );
    // OKX prints rates negative when charged; USDT-margined swaps read makerU/takerU.
    let o = get(
        "okx-perp",
        "/api/v5/account/trade-fee",
        "instType=SWAP&instFamily=BTC-USDT",
    );
    let o = &o["data"][0];
    assert_eq!(
        (json_num(&o["makerU"]), json_num(&o["takerU"])),
        (-rates.maker, -rates.taker)
    );
    let g = get(
        "bitget-perp",
        "/api/v2/common/trade-rate",
        "symbol=BTCUSDT&businessType=mix",
    );
    assert_eq!(
        (
            json_num(&g["data"]["makerFeeRate"]),
            json_num(&g["data"]["takerFeeRate"])
        ),
        (rates.maker, rates.taker)
    );
    let t = get("gate-perp", "/api/v4/wallet/fee", "settle=usdt");
    assert_eq!(
        (
            json_num(&t["futures_maker_fee"]),
            json_num(&t["futures_taker_fee"])
        ),
        (rates.maker, rates.taker)
    );
    // The spot side keeps the base tier: Binance spot 0.1 %.
    let s = get(
        "binance-spot",
        "/api/v3/account/commission",
        "symbol=BTCUSDT",
    );
    assert_eq!(json_num(&s["standardCommission"]["taker"]), d("0.001"));

    // Risk tiers: the same table in each venue's shape. Tier 1: up to 50 000 USDT, 125x,
    // maintenance 0.4 %; tier 2's maintenance amount is 50 000 × (0.5 % − 0.4 %) = 50.
    let public = |venue: &str, target: &str| {
        Http::new(&sim, v(venue))
            .send("GET", target, &[], None)
            .unwrap()
            .json
    };
    let y = public(
        "bybit-perp",
        "/v5/market/risk-limit?category=linear&symbol=BTCUSDT",
    );
    let y = &y["result"]["list"];
    assert_eq!(
        (
            json_num(&y[0]["riskLimitValue"]),
            json_num(&y[0]["maintenanceMargin"])
        ),
        (d("50000"), d("0.004"))
    );
    assert_eq!(
        (json_num(&y[1]["mmDeduction"]), y[0]["maxLeverage"].as_str()),
        (d("50"), Some("125.00"))
    );
    let o = public(
        "okx-perp",
        "/api/v5/public/position-tiers?instType=SWAP&tdMode=cross&instFamily=BTC-USDT",
    );
    let o = &o["data"][0];
    // OKX bounds tiers in contracts: 50 000 USDT at the starting 65 000 is 76 contracts of 0.01.
    assert_eq!(
        (
            json_num(&o["maxSz"]),
            json_num(&o["mmr"]),
            o["maxLever"].as_str()
        ),
        (d("76"), d("0.004"), Some("125"))
    );
    let g = public(
        "bitget-perp",
        "/api/v2/mix/market/query-position-lever?symbol=BTCUSDT&productType=USDT-FUTURES",
    );
    assert_eq!(
        (
            json_num(&g["data"][1]["startUnit"]),
            json_num(&g["data"][1]["keepMarginRate"])
        ),
        (d("50000"), d("0.005"))
    );
    let t = public(
        "gate-perp",
        "/api/v4/futures/usdt/risk_limit_tiers?contract=BTC_USDT",
    );
    assert_eq!(
        (json_num(&t[1]["risk_limit"]), json_num(&t[1]["deduction"])),
        (d("250000"), d("50"))
    );
}

#[test]
fn every_venue_says_when_the_account_is_in_hedge_mode() {
    let sim = SimVenues::start(config()).unwrap();
    for exchange in Exchange::ALL {
        sim.set_hedge_mode(exchange, true);
    }
    let get = |venue: &str, path: &str, query: &str| {
        api(&sim, v(venue))
            .signed("GET", path, query, "")
            .unwrap()
            .json
    };
    assert_eq!(
        get("binance-perp", "/fapi/v1/positionSide/dual", "")["dualSidePosition"],
        true
    );
    assert_eq!(
        get("okx-perp", "/api/v5/account/config", "")["data"][0]["posMode"],
        "long_short_mode"
    );
    let b = get(
        "bitget-perp",
        "/api/v2/mix/account/account",
        "symbol=BTCUSDT&productType=USDT-FUTURES&marginCoin=USDT",
    );
    assert_eq!(b["data"]["posMode"], "hedge_mode");
    assert_eq!(
        get("gate-perp", "/api/v4/futures/usdt/accounts", "")["in_dual_mode"],
        true
    );
    // Bybit has no GET: the mode shows as positionIdx 1 and 2 on a queried symbol.
    let y = get(
        "bybit-perp",
        "/v5/position/list",
        "category=linear&symbol=BTCUSDT",
    );
    let idx: Vec<i64> = y["result"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["positionIdx"].as_i64().unwrap())
        .collect();
    assert_eq!(idx, [1, 2]);
    sim.set_hedge_mode(Exchange::Bybit, false);
    let y = get(
        "bybit-perp",
        "/v5/position/list",
        "category=linear&symbol=BTCUSDT",
    );
    assert_eq!(y["result"]["list"][0]["positionIdx"], 0);
}

#[test]
fn trades_liquidations_and_transfers_behind_the_clients_back_show_on_the_stream() {
    let sim = SimVenues::start(config()).unwrap();
    let mut ws = order_stream(&sim, BPERP);
    let api = BinanceApi::new(&sim, Market::Perp);
    // A manual trade on the website: an order the client never sent.
    let id = sim
        .manual_trade(BPERP, "BTC-USDT", carry::sim::Side::Buy, d("0.002"))
        .unwrap();
    let web = ws.expect("the web order", |v| {
        v["o"]["i"] == id && v["o"]["x"] == "TRADE"
    });
    assert!(web["o"]["c"].as_str().unwrap().starts_with("web_"), "{web}");
    let risk = api
        .signed("GET", "/fapi/v3/positionRisk", "symbol=BTCUSDT", "")
        .unwrap();
    assert_eq!(json_num(&risk.json[0]["positionAmt"]), d("0.002"));
    // A liquidation closes it at the mark with the venue's system client id.
    assert_eq!(sim.liquidate(BPERP, "BTC-USDT"), Some(d("0.002")));
    let liq = ws.expect("the liquidation", |v| {
        v["o"]["c"]
            .as_str()
            .is_some_and(|c| c.starts_with("autoclose-"))
            && v["o"]["x"] == "TRADE"
    });
    assert_eq!(
        (liq["o"]["S"].as_str(), liq["o"]["R"].as_bool()),
        (Some("SELL"), Some(true))
    );
    let risk = api
        .signed("GET", "/fapi/v3/positionRisk", "symbol=BTCUSDT", "")
        .unwrap();
    assert!(
        risk.json.as_array().unwrap().is_empty(),
        "flat: {}",
        risk.json
    );
    assert_eq!(
        sim.liquidate(BPERP, "BTC-USDT"),
        None,
        "nothing left to liquidate"
    );
    // A withdrawal.
    sim.transfer(
        Exchange::Binance,
        carry::sim::Wallet::Perp,
        "USDT",
        d("-100"),
    );
    let w = ws.expect("the withdrawal", |v| v["a"]["m"] == "WITHDRAW");
    assert_eq!(json_num(&w["a"]["B"][0]["bc"]), d("-100"));
}

// ---------------------------------------------------------------------------------------------
// Websocket order entry: the same account and duplicate rules as REST.

#[test]
fn bybit_trade_websocket_places_and_cancels_and_always_refuses_a_reused_link_id() {
    let sim = SimVenues::start(config()).unwrap();
    let venue = v("bybit-perp");
    let mut ws = Ws::connect(&ws_url(&sim, venue, "/v5/trade"));
    let (bid, _) = touch(&sim, venue);
    let create = |req_id: &str, link: &str, ts: i64| {
        serde_json::json!({"reqId": req_id,
            "header": {"X-BAPI-TIMESTAMP": ts.to_string(), "X-BAPI-RECV-WINDOW": "5000"},
            "op": "order.create",
            "args": [{"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
                "qty": "0.001", "price": away(bid, -3).to_string(), "timeInForce": "GTC",
                "orderLinkId": link, "positionIdx": 0}]})
    };
    ws.send(&create("r0", "wt1", now_ms()));
    assert_eq!(
        ws.expect("unauthorized", |v| v["reqId"] == "r0")["retCode"],
        10003
    );
    ws.send(&bybit_auth(&sim, &sim.credentials().bybit.secret));
    assert_eq!(ws.expect("auth", |v| v["op"] == "auth")["success"], true);
    ws.send(&create("r1", "wt1", now_ms()));
    let placed = ws.expect("placed", |v| v["reqId"] == "r1");
    assert_eq!(
        (
            placed["retCode"].as_i64(),
            placed["data"]["orderLinkId"].as_str()
        ),
        (Some(0), Some("wt1")),
        "{placed}"
    );
    assert!(
        placed["header"]["X-Bapi-Limit-Status"].is_string(),
        "{placed}"
    );
    // A stale header timestamp is refused as REST refuses it.
    ws.send(&create("r2", "wt2", now_ms() - 60_000));
    assert_eq!(ws.expect("stale", |v| v["reqId"] == "r2")["retCode"], 10002);
    ws.send(&serde_json::json!({"reqId": "r3",
        "header": {"X-BAPI-TIMESTAMP": now_ms().to_string()},
        "op": "order.cancel", "args": [{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "wt1"}]}));
    assert_eq!(ws.expect("cancelled", |v| v["reqId"] == "r3")["retCode"], 0);
    // Bybit refuses a reused orderLinkId even after the first order closed, over REST too.
    ws.send(&create("r4", "wt1", now_ms()));
    assert_eq!(
        ws.expect("duplicate", |v| v["reqId"] == "r4")["retCode"],
        110072
    );
    let rest = BybitApi::new(&sim, Market::Perp);
    let dup = rest
        .place("wt1", true, "0.001", away(bid, -3), Tif::Gtc)
        .unwrap();
    assert_eq!(rest.code(&dup), "110072");
    let (st, _) = rest.state(&rest.query("wt1"));
    assert_eq!(st, St::Canceled, "REST sees the websocket order");
}

#[test]
fn okx_websocket_orders_share_the_rest_account_and_refuse_a_pending_cl_ord_id() {
    let sim = SimVenues::start(config()).unwrap();
    let venue = v("okx-perp");
    let mut ws = Ws::connect(&ws_url(&sim, venue, "/ws/v5/private"));
    let (bid, _) = touch(&sim, venue);
    let order = |id: &str, cl: &str| {
        // By instIdCode, as the venue's websocket orders name instruments now.
        let code = Http::new(&sim, venue)
            .send(
                "GET",
                "/api/v5/public/instruments?instType=SWAP&instId=BTC-USDT-SWAP",
                &[],
                None,
            )
            .unwrap()
            .json["data"][0]["instIdCode"]
            .clone();
        serde_json::json!({"id": id, "op": "order", "args": [{"instIdCode": code, "tdMode": "cross",
            "side": "buy", "ordType": "limit", "sz": "1", "px": away(bid, -1).to_string(), "clOrdId": cl}]})
    };
    ws.send(&order("a1", "wso1"));
    assert_eq!(
        ws.expect("not logged in", |v| v["id"] == "a1")["code"],
        "60011"
    );
    ws.send(&okx_login(&sim, &sim.credentials().okx.secret));
    ws.expect("login", |v| v["event"] == "login");
    ws.send(&order("a2", "wso1"));
    let placed = ws.expect("placed", |v| v["id"] == "a2");
    assert_eq!(
        (
            placed["op"].as_str(),
            placed["code"].as_str(),
            placed["data"][0]["sCode"].as_str()
        ),
        (Some("order"), Some("0"), Some("0")),
        "{placed}"
    );
    ws.send(&order("a3", "wso1"));
    let dup = ws.expect("duplicate", |v| v["id"] == "a3");
    assert_eq!(
        (dup["code"].as_str(), dup["data"][0]["sCode"].as_str()),
        (Some("1"), Some("51016")),
        "{dup}"
    );
    let rest = OkxApi::new(&sim, Market::Perp);
    assert_eq!(rest.state(&rest.query("wso1")).0, St::Open);
    ws.send(&serde_json::json!({"id": "a4", "op": "cancel-order", "args": [{"instId": "BTC-USDT-SWAP", "clOrdId": "wso1"}]}));
    assert_eq!(
        ws.expect("cancelled", |v| v["id"] == "a4")["data"][0]["sCode"],
        "0"
    );
    // Pending no more: OKX takes the id again.
    ws.send(&order("a5", "wso1"));
    assert_eq!(ws.expect("again", |v| v["id"] == "a5")["code"], "0");
}

fn gate_api(channel: &str, req_id: &str, param: Value) -> Value {
    serde_json::json!({"time": now_ms() / 1000, "channel": channel, "event": "api",
        "payload": {"req_id": req_id, "req_param": param}})
}

fn gate_login(sim: &SimVenues, channel: &str, secret: &str) -> Value {
    let ts = (now_ms() / 1000).to_string();
    let signature = hmac_sha512_hex(secret, format!("api\n{channel}\n\n{ts}").as_bytes());
    serde_json::json!({"time": now_ms() / 1000, "channel": channel, "event": "api",
        "payload": {"api_key": sim.credentials().gate.api_key, "signature": signature,
            "timestamp": ts, "req_id": "login"}})
}

#[test]
fn gate_websocket_api_logs_in_places_and_accepts_a_reused_text_as_rest_does() {
    let sim = SimVenues::start(config()).unwrap();
    let venue = v("gate-perp");
    let mut ws = Ws::connect(&sim.ws_url(venue));
    let (bid, _) = touch(&sim, venue);
    let place = |req_id: &str| {
        gate_api(
            "futures.order_place",
            req_id,
            serde_json::json!({"contract": "BTC_USDT",
            "size": 1, "price": away(bid, -3).to_string(), "tif": "gtc", "text": "t-ws1"}),
        )
    };
    ws.send(&place("p0"));
    let refused = ws.expect("not logged in", |v| v["request_id"] == "p0");
    assert_eq!(refused["header"]["status"], "401", "{refused}");
    ws.send(&gate_login(&sim, "futures.login", "wrong"));
    let bad = ws.expect("bad login", |v| v["request_id"] == "login");
    assert_eq!(bad["data"]["errs"]["label"], "INVALID_SIGNATURE", "{bad}");
    ws.send(&gate_login(
        &sim,
        "futures.login",
        &sim.credentials().gate.secret,
    ));
    let ok = ws.expect("login", |v| v["request_id"] == "login");
    assert_eq!(ok["header"]["status"], "200", "{ok}");
    assert_eq!(ok["data"]["result"]["uid"], gate_user_id(&sim).as_str());

    ws.send(&place("p1"));
    let ack = ws.expect("ack", |v| v["request_id"] == "p1");
    assert_eq!(ack["ack"], true, "the ack comes first: {ack}");
    let placed = ws.expect("placed", |v| v["request_id"] == "p1" && v["ack"] == false);
    assert_eq!(
        (
            placed["header"]["status"].as_str(),
            placed["data"]["result"]["text"].as_str()
        ),
        (Some("201"), Some("t-ws1")),
        "{placed}"
    );
    assert!(placed["header"]["x_gate_ratelimit_requests_remain"].is_number());
    let first = placed["data"]["result"]["id"].clone();
    // Gate documents no uniqueness for `text`: a reuse is a second order, as over REST.
    ws.send(&place("p2"));
    let second = ws.expect("placed again", |v| {
        v["request_id"] == "p2" && v["ack"] == false
    });
    assert_eq!(second["header"]["status"], "201");
    assert_ne!(second["data"]["result"]["id"], first);
    ws.send(&gate_api(
        "futures.order_status",
        "p3",
        serde_json::json!({"order_id": first.to_string()}),
    ));
    assert_eq!(
        ws.expect("status", |v| v["request_id"] == "p3")["data"]["result"]["status"],
        "open"
    );
    ws.send(&gate_api(
        "futures.order_cancel",
        "p4",
        serde_json::json!({"order_id": first.to_string()}),
    ));
    let c = ws.expect("cancel", |v| v["request_id"] == "p4");
    assert_eq!(c["data"]["result"]["finish_as"], "cancelled", "{c}");
    assert_eq!(sim.accepted_orders(venue).len(), 2);
}

#[test]
fn a_dropped_websocket_answer_leaves_an_order_a_query_finds() {
    let sim = SimVenues::start(config()).unwrap();
    let mut ws = Ws::connect(&ws_url(&sim, BPERP, "/ws-fapi/v1"));
    sim.inject(BPERP, carry::sim::SimFault::DropAnswer, 1);
    let (bid, _) = touch(&sim, BPERP);
    let params = [
        ("symbol", "BTCUSDT".to_string()),
        ("side", "BUY".to_string()),
        ("type", "LIMIT".to_string()),
        ("timeInForce", "GTC".to_string()),
        ("quantity", "0.001".to_string()),
        ("price", away(bid, -3).to_string()),
        ("newClientOrderId", "lost1".to_string()),
    ];
    ws.send(&ws_api_request(&sim, "1", "order.place", &params));
    assert!(
        ws.0.ends_before(Instant::now() + PATIENCE),
        "the connection goes, unanswered"
    );
    let rest = BinanceApi::new(&sim, Market::Perp);
    assert_eq!(
        rest.query("lost1").json["status"],
        "NEW",
        "but the venue has the order"
    );
}

#[test]
fn every_perp_publishes_next_funding_times_on_the_accelerated_grid() {
    let sim = SimVenues::start(SimConfig {
        funding_hour: Some(Duration::from_millis(125)),
        ..config()
    })
    .unwrap();
    for exchange in Exchange::ALL {
        let venue = Venue::new(exchange, Market::Perp);
        let listed = sim.listing().get(0, venue).unwrap();
        let interval = i64::from(listed.funding_interval_hours.unwrap()) * 125;
        let http = Http::new(&sim, venue);
        let get = |target: &str| http.send("GET", target, &[], None).unwrap().json;
        let before = now_ms();
        let next: i64 = match exchange {
            Exchange::Binance => get("/fapi/v1/premiumIndex?symbol=BTCUSDT")["nextFundingTime"]
                .as_i64()
                .unwrap(),
            Exchange::Bybit => str_of(
                &get("/v5/market/tickers?category=linear&symbol=BTCUSDT")["result"]["list"][0]
                    ["nextFundingTime"],
            )
            .parse()
            .unwrap(),
            Exchange::Okx => {
                let r = get("/api/v5/public/funding-rate?instId=BTC-USDT-SWAP");
                let r = &r["data"][0];
                let (this, then): (i64, i64) = (
                    str_of(&r["fundingTime"]).parse().unwrap(),
                    str_of(&r["nextFundingTime"]).parse().unwrap(),
                );
                assert_eq!(then - this, interval, "OKX's next-next settlement: {r}");
                this
            }
            Exchange::Bitget => str_of(
                &get(
                    "/api/v2/mix/market/current-fund-rate?symbol=BTCUSDT&productType=USDT-FUTURES",
                )["data"][0]["nextUpdate"],
            )
            .parse()
            .unwrap(),
            Exchange::Gate => {
                get("/api/v4/futures/usdt/contracts/BTC_USDT")["funding_next_apply"]
                    .as_i64()
                    .unwrap()
                    * 1000
            }
        };
        let after = now_ms();
        assert_eq!(
            next % interval,
            0,
            "{venue}: {next} on the {interval} ms grid"
        );
        // The first grid time after the request (Gate's seconds can only say which second).
        let slack = if exchange == Exchange::Gate { 999 } else { 0 };
        assert!(
            next > before - slack && next <= after + interval,
            "{venue}: {next} is the next settlement after {before}"
        );
    }
}

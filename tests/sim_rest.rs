//! The simulator's REST side: every venue's endpoints answer in the venue's documented shape
//! with values that agree with the listing (intervals, contract sizes, trading rules), errors
//! come in the venue's own shape, unknown paths are a JSON 404 and a REST fault a 503.

mod sim_support;

use carry::sim::SimVenues;
use carry_engine::Venue;
use serde_json::Value;
use sim_support::*;

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
}

fn get(sim: &SimVenues, venue: &str, path: &str) -> (u16, Value) {
    let venue: Venue = venue.parse().unwrap();
    let url = format!("{}{path}", sim.rest_url(venue));
    let mut resp = agent()
        .get(&url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap();
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"));
    (status, json)
}

fn sim() -> SimVenues {
    SimVenues::start(fast_config(&["BTC-USDT", "ETH-USDT"])).unwrap()
}

#[test]
fn binance_funding_intervals_and_rules() {
    let sim = sim();
    let (s, idx) = get(&sim, "binance-perp", "/fapi/v1/premiumIndex?symbol=BTCUSDT");
    assert_eq!(s, 200);
    assert_eq!(idx["symbol"], "BTCUSDT");
    let rate: f64 = idx["lastFundingRate"].as_str().unwrap().parse().unwrap();
    assert!(rate.abs() < 0.01);
    assert!(idx["nextFundingTime"].as_i64().unwrap() > idx["time"].as_i64().unwrap());
    let (_, all) = get(&sim, "binance-perp", "/fapi/v1/premiumIndex");
    assert_eq!(all.as_array().unwrap().len(), 2);
    // Only adjusted (non-8 h) symbols are listed: BTC is 8 h on Binance, ETH 4 h.
    let (_, info) = get(&sim, "binance-perp", "/fapi/v1/fundingInfo");
    assert_eq!(info.as_array().unwrap().len(), 1, "{info}");
    assert_eq!(info[0]["symbol"], "ETHUSDT");
    assert_eq!(info[0]["fundingIntervalHours"], 4);
    let (_, ex) = get(&sim, "binance-perp", "/fapi/v1/exchangeInfo");
    let btc = &ex["symbols"][0];
    assert_eq!(btc["contractType"], "PERPETUAL");
    let filter = |t: &str| {
        btc["filters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["filterType"] == t)
            .cloned()
            .unwrap()
    };
    assert_eq!(filter("PRICE_FILTER")["tickSize"], "0.1");
    assert_eq!(filter("LOT_SIZE")["stepSize"], "0.001");
    assert_eq!(filter("MIN_NOTIONAL")["notional"], "5");
    let (_, spot) = get(
        &sim,
        "binance-spot",
        "/api/v3/exchangeInfo?symbols=%5B%22ETHUSDT%22%5D",
    );
    assert_eq!(spot["symbols"].as_array().unwrap().len(), 1);
    assert_eq!(spot["symbols"][0]["filters"][0]["tickSize"], "0.01000000");
    let (s, err) = get(&sim, "binance-spot", "/api/v3/exchangeInfo?symbol=FOOUSDT");
    assert_eq!((s, err["code"].as_i64()), (400, Some(-1121)));
}

#[test]
fn bybit_instruments_tickers_and_errors() {
    let sim = sim();
    let (_, info) = get(
        &sim,
        "bybit-perp",
        "/v5/market/instruments-info?category=linear",
    );
    assert_eq!(info["retCode"], 0);
    let list = info["result"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    // Bybit is the 4 h venue for BTC and 8 h for ETH; the field is in minutes.
    assert_eq!(list[0]["fundingInterval"], 240);
    assert_eq!(list[1]["fundingInterval"], 480);
    assert_eq!(list[0]["lotSizeFilter"]["qtyStep"], "0.001");
    assert_eq!(info["result"]["nextPageCursor"], "");
    let (_, t) = get(
        &sim,
        "bybit-perp",
        "/v5/market/tickers?category=linear&symbol=BTCUSDT",
    );
    let row = &t["result"]["list"][0];
    assert_eq!(row["fundingIntervalHour"], "4");
    assert!(
        row["nextFundingTime"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    let (_, spot) = get(
        &sim,
        "bybit-spot",
        "/v5/market/instruments-info?category=spot&symbol=ETHUSDT",
    );
    assert_eq!(spot["result"]["list"][0]["priceFilter"]["tickSize"], "0.01");
    let (s, bad) = get(
        &sim,
        "bybit-perp",
        "/v5/market/tickers?category=linear&symbol=FOOUSDT",
    );
    assert_eq!((s, bad["retCode"].as_i64()), (200, Some(10001)));
}

#[test]
fn okx_funding_interval_from_times_and_contract_values() {
    let sim = sim();
    let (_, f) = get(
        &sim,
        "okx-perp",
        "/api/v5/public/funding-rate?instId=BTC-USDT-SWAP",
    );
    assert_eq!(f["code"], "0");
    let row = &f["data"][0];
    let ft: i64 = row["fundingTime"].as_str().unwrap().parse().unwrap();
    let nft: i64 = row["nextFundingTime"].as_str().unwrap().parse().unwrap();
    assert_eq!(nft - ft, 8 * 3_600_000);
    let (_, any) = get(&sim, "okx-perp", "/api/v5/public/funding-rate?instId=ANY");
    assert_eq!(any["data"].as_array().unwrap().len(), 2);
    let (_, ins) = get(&sim, "okx-perp", "/api/v5/public/instruments?instType=SWAP");
    assert_eq!(ins["data"][0]["ctVal"], "0.01");
    assert_eq!(ins["data"][1]["ctVal"], "0.1");
    assert_eq!(ins["data"][0]["tickSz"], "0.1");
    let (_, spot) = get(
        &sim,
        "okx-spot",
        "/api/v5/public/instruments?instType=SPOT&instId=BTC-USDT",
    );
    assert_eq!(spot["data"][0]["baseCcy"], "BTC");
    let (_, bad) = get(
        &sim,
        "okx-perp",
        "/api/v5/public/funding-rate?instId=FOO-USDT-SWAP",
    );
    assert_eq!(bad["code"], "51001");
}

#[test]
fn bitget_funding_interval_and_contracts() {
    let sim = sim();
    let (_, f) = get(
        &sim,
        "bitget-perp",
        "/api/v2/mix/market/current-fund-rate?symbol=BTCUSDT&productType=USDT-FUTURES",
    );
    assert_eq!(f["code"], "00000");
    // Bitget is the 1 h venue for BTC.
    assert_eq!(f["data"][0]["fundingRateInterval"], "1");
    let (_, c) = get(
        &sim,
        "bitget-perp",
        "/api/v2/mix/market/contracts?productType=USDT-FUTURES",
    );
    let btc = &c["data"][0];
    assert_eq!(
        (btc["pricePlace"].as_str(), btc["priceEndStep"].as_str()),
        (Some("1"), Some("1"))
    );
    assert_eq!(btc["sizeMultiplier"], "0.001");
    assert_eq!(btc["fundInterval"], "1");
    let (_, spot) = get(
        &sim,
        "bitget-spot",
        "/api/v2/spot/public/symbols?symbol=ETHUSDT",
    );
    assert_eq!(spot["data"][0]["pricePrecision"], "2");
    let (s, bad) = get(
        &sim,
        "bitget-perp",
        "/api/v2/mix/market/contracts?productType=COIN-FUTURES",
    );
    assert_eq!((s, bad["code"].as_str()), (400, Some("40034")));
}

#[test]
fn gate_contracts_in_seconds_and_multipliers() {
    let sim = sim();
    for prefix in ["", "/api/v4"] {
        let (_, c) = get(
            &sim,
            "gate-perp",
            &format!("{prefix}/futures/usdt/contracts/BTC_USDT"),
        );
        assert_eq!(c["name"], "BTC_USDT");
        assert_eq!(c["quanto_multiplier"], "0.0001");
        assert_eq!(c["funding_interval"], 28_800);
        let next = c["funding_next_apply"].as_i64().unwrap();
        assert_eq!(next % 28_800, 0, "seconds on the 8 h grid");
    }
    let (_, all) = get(&sim, "gate-perp", "/api/v4/futures/usdt/contracts");
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, pair) = get(&sim, "gate-spot", "/api/v4/spot/currency_pairs/ETH_USDT");
    assert_eq!(
        (pair["base"].as_str(), pair["precision"].as_i64()),
        (Some("ETH"), Some(2))
    );
    let (s, bad) = get(&sim, "gate-perp", "/api/v4/futures/usdt/contracts/FOO_USDT");
    assert_eq!(
        (s, bad["label"].as_str()),
        (400, Some("CONTRACT_NOT_FOUND"))
    );
}

#[test]
fn unknown_paths_404_and_faults_503() {
    let sim = sim();
    let (s, body) = get(&sim, "okx-perp", "/api/v9/nothing");
    assert_eq!(s, 404);
    assert_eq!(body["path"], "/api/v9/nothing");
    let okx: Venue = "okx-perp".parse().unwrap();
    sim.set_rest_down(okx, true);
    let (s, body) = get(
        &sim,
        "okx-perp",
        "/api/v5/public/funding-rate?instId=BTC-USDT-SWAP",
    );
    assert_eq!(s, 503);
    assert!(body["error"].as_str().unwrap().contains("okx-perp"));
    // Other venues are unaffected, and lifting the fault restores it.
    assert_eq!(get(&sim, "gate-perp", "/futures/usdt/contracts").0, 200);
    sim.set_rest_down(okx, false);
    assert_eq!(
        get(
            &sim,
            "okx-perp",
            "/api/v5/public/funding-rate?instId=BTC-USDT-SWAP"
        )
        .0,
        200
    );
}

#[test]
fn carrys_fetch_snapshot_succeeds_for_every_venue_with_intervals_and_specs() {
    let sim = sim();
    let u = universe(&sim);
    let agent = agent();
    let now = stamp();
    for venue in Venue::ALL {
        let snap = carry_feeds::venue::market_rest::fetch_snapshot(
            &agent,
            venue,
            &sim.rest_url(venue),
            &u,
            now,
        )
        .unwrap_or_else(|e| panic!("{venue}: {e}"));
        assert_eq!(snap.venue, Some(venue));
        assert_eq!(snap.instruments.len(), 2, "{venue}: {snap:?}");
        for ins in &snap.instruments {
            let name = &u.get(ins.instrument).name;
            let i = sim
                .listing()
                .instruments()
                .iter()
                .position(|l| &l.name == name)
                .unwrap();
            let listed = sim.listing().get(i, venue).unwrap();
            // The rules carry reads are exactly the ones the simulator trades by.
            assert_eq!(ins.spec, Some(listed.spec), "{venue} {name}");
            if venue.is_perp() {
                let interval = listed.funding_interval_ms().unwrap() as u64;
                assert_eq!(ins.interval_ms, Some(interval), "{venue} {name}");
                let f = match ins.funding.map(|e| e.kind) {
                    Some(carry_engine::MarketEventKind::Funding(f)) => f,
                    other => panic!("{venue} {name}: no funding in snapshot: {other:?}"),
                };
                assert_eq!(f.interval_ms, Some(interval), "{venue} {name}");
                assert_eq!(
                    f.next_funding_time_ms,
                    listed.next_funding_time_ms(now.unix_ms),
                    "{venue} {name}"
                );
                assert!(
                    f.rate.abs() < rust_decimal::Decimal::new(1, 2),
                    "{venue}: {f:?}"
                );
            } else {
                assert_eq!(ins.funding, None, "{venue}");
            }
        }
    }
}

#[test]
fn fetch_snapshot_reports_a_venue_under_rest_fault() {
    let sim = sim();
    let u = universe(&sim);
    let gate: Venue = "gate-perp".parse().unwrap();
    sim.set_rest_down(gate, true);
    let err = carry_feeds::venue::market_rest::fetch_snapshot(
        &agent(),
        gate,
        &sim.rest_url(gate),
        &u,
        stamp(),
    )
    .expect_err("REST is down");
    let text = err.to_string();
    assert!(text.contains("gate-perp") && text.contains("503"), "{text}");
}

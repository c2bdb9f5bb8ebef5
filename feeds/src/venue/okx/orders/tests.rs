//! The OKX order API's requests byte for byte, its code table and the documented answer shapes.

use carry_engine::decision::target::PairId;
use carry_engine::execution::client_id::ClientOrderId;
use carry_engine::execution::order::{IntentAction, Leg, Step};
use carry_engine::{Exchange, InstrumentId};

use super::*;
use crate::gateway::credentials::Credentials;

/// 2020-12-08T09:08:57.715Z, the OKX docs' example time.
const TS: i64 = 1_607_418_537_715;
/// The OKX docs' example secret (PRIVATE.md §6.6).
const SECRET: &str = "22582BD0CFF14C41EDBF1AB98506286D";

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn venue(market: Market) -> Venue {
    Venue::new(Exchange::Okx, market)
}

fn config(demo_trading: bool, margin_spot: bool) -> ApiConfig {
    ApiConfig {
        credentials: Credentials {
            key: Secret::new("okx-key"),
            secret: Secret::new(SECRET),
            passphrase: Some(Secret::new("pass-1")),
        },
        recv_window_ms: 5_000,
        demo_trading,
        margin_spot,
    }
}

fn api(market: Market) -> OkxOrders {
    OkxOrders::new(venue(market), &config(false, false))
}

#[allow(clippy::too_many_arguments)]
fn intent(
    market: Market,
    id: &str,
    side: Side,
    tif: TimeInForce,
    reduce_only: bool,
    price: &str,
    qty_venue: &str,
    qty_base: &str,
) -> OrderIntent {
    OrderIntent {
        action: IntentAction::Place,
        client_order_id: ClientOrderId::from_bytes(id.as_bytes()).unwrap(),
        pair: PairId(0),
        cycle: 7,
        step: Step::Entry,
        leg: Leg::Long,
        attempt: 1,
        venue: venue(market),
        instrument: InstrumentId(0),
        side,
        tif,
        reduce_only,
        price: d(price),
        qty_base: d(qty_base),
        qty_venue: d(qty_venue),
    }
}

/// A perp IOC buy of 2 contracts (0.02 BTC), reduce-only.
fn perp_ioc() -> OrderIntent {
    intent(
        Market::Perp,
        "T1c7EL1",
        Side::Buy,
        TimeInForce::Ioc,
        true,
        "65000.10",
        "2",
        "0.02",
    )
}

/// A spot GTC sell of 0.015 BTC, flagged reduce-only (which spot never sends).
fn spot_gtc() -> OrderIntent {
    intent(
        Market::Spot,
        "T1c7SL2",
        Side::Sell,
        TimeInForce::Gtc,
        true,
        "64999.9",
        "0.015",
        "0.015",
    )
}

/// A spot IOC buy of `qty` BTC at 52000.
fn spot_buy(id: &str, qty: &str) -> OrderIntent {
    intent(
        Market::Spot,
        id,
        Side::Buy,
        TimeInForce::Ioc,
        false,
        "52000",
        qty,
        qty,
    )
}

fn built(api: &mut OkxOrders, call: Call, order: &OrderIntent, symbol: &str) -> Request {
    let mut req = Request::new();
    api.build(call, order, symbol, TS, &mut req);
    req
}

fn headers(req: &Request) -> Vec<(&'static str, String)> {
    req.headers().map(|(n, v)| (n, v.to_string())).collect()
}

/// The headers of a request signed at [`TS`] with `sign` (the value computed outside carry).
fn signed_headers(sign: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OK-ACCESS-KEY", "okx-key".to_string()),
        ("OK-ACCESS-SIGN", sign.to_string()),
        (
            "OK-ACCESS-TIMESTAMP",
            "2020-12-08T09:08:57.715Z".to_string(),
        ),
        ("OK-ACCESS-PASSPHRASE", "pass-1".to_string()),
        ("Content-Type", "application/json".to_string()),
    ]
}

// The signatures below were computed outside carry, with Python 3's standard library:
//   base64.b64encode(hmac.new(b"22582BD0CFF14C41EDBF1AB98506286D",
//       (ts + method + path + ("?" + query if query else "") + body).encode(),
//       hashlib.sha256).digest())
// with ts = "2020-12-08T09:08:57.715Z" and the method, path, query and body each test asserts.

#[test]
fn perp_place_is_a_signed_json_order_in_contracts() {
    let req = built(
        &mut api(Market::Perp),
        Call::Place,
        &perp_ioc(),
        "BTC-USDT-SWAP",
    );
    assert_eq!(req.method(), Method::Post);
    assert_eq!(req.path(), "/api/v5/trade/order");
    assert_eq!(req.query_str(), "");
    assert_eq!(
        req.body_str(),
        r#"{"instId":"BTC-USDT-SWAP","tdMode":"cross","side":"buy","ordType":"ioc","px":"65000.1","sz":"2","clOrdId":"T1c7EL1","reduceOnly":true,"stpMode":"cancel_taker"}"#
    );
    assert_eq!(
        headers(&req),
        signed_headers("SqEieTSfDO7Bv3uEgvYxWeS98BHzspF323AhPl7p1Nw=")
    );
}

#[test]
fn spot_place_is_cash_in_base_units_without_reduce_only() {
    let req = built(&mut api(Market::Spot), Call::Place, &spot_gtc(), "BTC-USDT");
    assert_eq!(req.method(), Method::Post);
    assert_eq!(req.path(), "/api/v5/trade/order");
    assert_eq!(
        req.body_str(),
        r#"{"instId":"BTC-USDT","tdMode":"cash","side":"sell","ordType":"limit","px":"64999.9","sz":"0.015","clOrdId":"T1c7SL2","stpMode":"cancel_taker"}"#
    );
    assert_eq!(
        headers(&req),
        signed_headers("ZZ6VG9TbFD9EOxkKPUj98G3fOQOj6FNSb1pRnH91uVM=")
    );
}

#[test]
fn margin_spot_orders_are_cross_with_the_quote_as_margin_currency() {
    let mut margin = OkxOrders::new(venue(Market::Spot), &config(false, true));
    let req = built(&mut margin, Call::Place, &spot_gtc(), "BTC-USDT");
    assert_eq!(
        req.body_str(),
        r#"{"instId":"BTC-USDT","tdMode":"cross","ccy":"USDT","side":"sell","ordType":"limit","px":"64999.9","sz":"0.015","clOrdId":"T1c7SL2","stpMode":"cancel_taker"}"#
    );
}

#[test]
fn query_puts_the_instrument_and_client_id_in_the_signed_path() {
    let req = built(
        &mut api(Market::Perp),
        Call::Query,
        &perp_ioc(),
        "BTC-USDT-SWAP",
    );
    assert_eq!(req.method(), Method::Get);
    assert_eq!(req.path(), "/api/v5/trade/order");
    assert_eq!(req.query_str(), "instId=BTC-USDT-SWAP&clOrdId=T1c7EL1");
    assert_eq!(req.body_str(), "");
    assert_eq!(
        headers(&req),
        signed_headers("L7IFhhBkebuwd5O3J7bWlHv1JjHmztvZMIxz8d/WOGQ=")
    );
}

#[test]
fn cancel_names_the_order_by_client_id() {
    let req = built(
        &mut api(Market::Spot),
        Call::Cancel,
        &spot_gtc(),
        "BTC-USDT",
    );
    assert_eq!(req.method(), Method::Post);
    assert_eq!(req.path(), "/api/v5/trade/cancel-order");
    assert_eq!(
        req.body_str(),
        r#"{"instId":"BTC-USDT","clOrdId":"T1c7SL2"}"#
    );
    assert_eq!(
        headers(&req),
        signed_headers("cQUuHEUgvSby964sWprz1FOzOkZiFGjH1o/53wy7U2E=")
    );
}

#[test]
fn fills_ask_for_one_page_of_the_instrument_without_an_instrument_type() {
    let req = built(&mut api(Market::Spot), Call::Fills, &spot_gtc(), "BTC-USDT");
    assert_eq!(req.method(), Method::Get);
    assert_eq!(req.path(), "/api/v5/trade/fills");
    assert_eq!(req.query_str(), "instId=BTC-USDT&limit=100");
}

#[test]
fn demo_trading_adds_the_simulated_trading_header() {
    let mut demo = OkxOrders::new(venue(Market::Perp), &config(true, false));
    let req = built(&mut demo, Call::Place, &perp_ioc(), "BTC-USDT-SWAP");
    assert_eq!(req.header_value("x-simulated-trading"), Some("1"));
    let req = built(
        &mut api(Market::Perp),
        Call::Place,
        &perp_ioc(),
        "BTC-USDT-SWAP",
    );
    assert_eq!(req.header_value("x-simulated-trading"), None);
}

#[test]
fn debug_shows_no_credential() {
    let shown = format!("{:?}", api(Market::Perp));
    for secret in [SECRET, "okx-key", "pass-1"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn setup_checks_the_account_config_and_sets_cross_leverage_on_perps_only() {
    let mut perp = api(Market::Perp);
    let mut req = Request::new();
    assert!(perp.build_setup(Setup::OneWayMode, "BTC-USDT-SWAP", TS, &mut req));
    assert_eq!(
        (req.method(), req.path(), req.query_str()),
        (Method::Get, "/api/v5/account/config", "")
    );
    assert!(req.header_value("OK-ACCESS-SIGN").is_some());
    assert!(perp.build_setup(Setup::Leverage(3), "BTC-USDT-SWAP", TS, &mut req));
    assert_eq!(
        (req.method(), req.path(), req.body_str()),
        (
            Method::Post,
            "/api/v5/account/set-leverage",
            r#"{"instId":"BTC-USDT-SWAP","lever":"3","mgnMode":"cross"}"#
        )
    );
    // Margin mode is per order (`tdMode`): nothing to set.
    assert!(!perp.build_setup(Setup::CrossMargin, "BTC-USDT-SWAP", TS, &mut req));

    let mut spot = api(Market::Spot);
    for setup in [Setup::OneWayMode, Setup::CrossMargin, Setup::Leverage(3)] {
        assert!(
            !spot.build_setup(setup, "BTC-USDT", TS, &mut req),
            "{setup:?}"
        );
    }
    let mut margin = OkxOrders::new(venue(Market::Spot), &config(false, true));
    assert!(margin.build_setup(Setup::OneWayMode, "BTC-USDT", TS, &mut req));
    assert_eq!(req.path(), "/api/v5/account/config");
    assert!(!margin.build_setup(Setup::Leverage(3), "BTC-USDT", TS, &mut req));
}

#[test]
fn the_dead_man_switch_is_armed_once_a_second_for_the_whole_account() {
    let mut perp = api(Market::Perp);
    let mut req = Request::new();
    assert!(perp.build_dead_man_switch("BTC-USDT-SWAP", 60_000, TS, &mut req));
    assert_eq!(
        (req.method(), req.path(), req.body_str()),
        (
            Method::Post,
            "/api/v5/trade/cancel-all-after",
            r#"{"timeOut":"60"}"#
        )
    );
    assert!(req.header_value("OK-ACCESS-SIGN").is_some());
    // Another instrument within the second: already covered.
    assert!(!perp.build_dead_man_switch("ETH-USDT-SWAP", 60_000, TS + 999, &mut req));
    assert!(perp.build_dead_man_switch("ETH-USDT-SWAP", 60_000, TS + 1_000, &mut req));
}

#[test]
fn dead_man_seconds_round_up_within_okx_bounds() {
    for (ms, s) in [
        (0, 10),
        (9_999, 10),
        (10_000, 10),
        (10_001, 11),
        (60_000, 60),
        (120_000, 120),
        (600_000, 120),
    ] {
        assert_eq!(dead_man_seconds(ms), s, "{ms}");
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

fn answer(status: u16, body: &str) -> Answer<'_> {
    Answer {
        status,
        headers: &[],
        body: body.as_bytes(),
    }
}

fn read(market: Market, call: Call, order: &OrderIntent, status: u16, body: &str) -> Reading {
    api(market).read(call, order, &answer(status, body))
}

/// OKX docs, "POST / Place order" response example (= `tests/fixtures/venues/
/// okx_place_order_rest_1.json`).
const PLACE_ACK: &str = r#"{
  "code": "0",
  "msg": "",
  "data": [
    {
      "clOrdId": "oktswap6",
      "ordId": "312269865356374016",
      "tag": "",
      "ts":"1695190491421",
      "sCode": "0",
      "sMsg": "",
      "subCode": ""
    }
  ],
  "inTime": "1695190491421339",
  "outTime": "1695190491423240"
}"#;

/// The place answer's shape with the duplicate result NOTES.md §3.5 gives (`code` "1",
/// `sCode` 51016).
const PLACE_DUPLICATE: &str = r#"{"code":"1","msg":"All operations failed","data":[{"clOrdId":"T1c7EL1","ordId":"","tag":"","ts":"1695190491421","sCode":"51016","sMsg":"Duplicated clOrdId","subCode":""}],"inTime":"1695190491421339","outTime":"1695190491423240"}"#;

/// OKX docs, "POST / Cancel order" response example.
const CANCEL_ACK: &str = r#"{
    "code":"0",
    "msg":"",
    "data":[
        {
            "clOrdId":"oktswap6",
            "ordId":"12345689",
            "ts":"1695190491421",
            "sCode":"0",
            "sMsg":""
        }
    ],
    "inTime": "1695190491421339",
    "outTime": "1695190491423240"
}"#;

/// OKX docs, "GET / Order details" response example: a spot market buy, filled, its fee
/// charged in BTC.
const ORDER_SPOT_FILLED: &str = r#"{
    "code": "0",
    "data": [
        {
            "accFillSz": "0.00192834",
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [],
            "avgPx": "51858",
            "cTime": "1708587373361",
            "cancelSource": "",
            "cancelSourceReason": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": "",
            "fee": "-0.00000192834",
            "feeCcy": "BTC",
            "fillPx": "51858",
            "fillSz": "0.00192834",
            "fillTime": "1708587373361",
            "instId": "BTC-USDT",
            "instType": "SPOT",
            "isTpLimit": "false",
            "lever": "",
            "linkedAlgoOrd": {
                "algoId": ""
            },
            "ordId": "680800019749904384",
            "ordType": "market",
            "pnl": "0",
            "posSide": "net",
            "px": "",
            "pxType": "",
            "pxUsd": "",
            "pxVol": "",
            "quickMgnType": "",
            "rebate": "0",
            "rebateCcy": "USDT",
            "reduceOnly": "false",
            "side": "buy",
            "slOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "",
            "source": "",
            "state": "filled",
            "stpId": "",
            "stpMode": "",
            "sz": "100",
            "tag": "",
            "tdMode": "cash",
            "tgtCcy": "quote_ccy",
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "",
            "tradeId": "744876980",
            "tradeQuoteCcy": "USDT",
            "uTime": "1708587373362"
        }
    ],
    "msg": ""
}"#;

/// The order-details shape for a SWAP order, `state` and amounts as the docs' field table
/// describes them (no SWAP example is published).
fn swap_order(state: &str, acc_fill_sz: &str, avg_px: &str, fee: &str) -> String {
    format!(
        r#"{{"code":"0","msg":"","data":[{{"instType":"SWAP","instId":"BTC-USDT-SWAP","ordId":"1","clOrdId":"T1c7EL1","px":"65000.1","sz":"2","ordType":"ioc","side":"buy","posSide":"net","tdMode":"cross","accFillSz":"{acc_fill_sz}","fillPx":"","fillSz":"0","avgPx":"{avg_px}","state":"{state}","feeCcy":"USDT","fee":"{fee}","rebateCcy":"USDT","rebate":"0","reduceOnly":"true","cancelSource":"","uTime":"1","cTime":"1"}}]}}"#
    )
}

/// OKX docs, "GET / Transaction details (last 3 days)" response example (a spot buy with
/// no client id), followed by two fills of carry's order: the same shape, other values.
const FILLS: &str = r#"{
    "code": "0",
    "data": [
        {
            "side": "buy",
            "fillSz": "0.00192834",
            "fillPx": "51858",
            "fillPxVol": "",
            "fillFwdPx": "",
            "fee": "-0.00000192834",
            "fillPnl": "0",
            "ordId": "680800019749904384",
            "feeRate": "-0.001",
            "instType": "SPOT",
            "fillPxUsd": "",
            "instId": "BTC-USDT",
            "clOrdId": "",
            "posSide": "net",
            "billId": "680800019754098688",
            "subType": "1",
            "fillMarkVol": "",
            "tag": "",
            "fillTime": "1708587373361",
            "execType": "T",
            "fillIdxPx": "",
            "tradeId": "744876980",
            "fillMarkPx": "",
            "feeCcy": "BTC",
            "ts": "1708587373362",
            "tradeQuoteCcy": "USDT"
        },
        {"side":"buy","fillSz":"0.004","fillPx":"50000","fee":"-0.000004","ordId":"9","instType":"SPOT","instId":"BTC-USDT","clOrdId":"T1c7BL3","billId":"2","subType":"1","execType":"T","tradeId":"2","feeCcy":"BTC","ts":"2","fillTime":"2"},
        {"side":"buy","fillSz":"0.006","fillPx":"50100","fee":"-0.000006","ordId":"9","instType":"SPOT","instId":"BTC-USDT","clOrdId":"T1c7BL3","billId":"3","subType":"1","execType":"M","tradeId":"3","feeCcy":"BTC","ts":"3","fillTime":"3"}
    ],
    "msg": ""
}"#;

fn open() -> Reading {
    Reading::Order(OrderState::empty(OrderStatus::Open))
}

#[test]
fn place_answers_are_acknowledgements_read_from_their_scode() {
    let o = perp_ioc();
    for (status, body, want) in [
        (200, PLACE_ACK, open()),
        (200, PLACE_DUPLICATE, Reading::Duplicate { code: 51016 }),
        (
            200,
            r#"{"code":"1","msg":"All operations failed","data":[{"clOrdId":"a","ordId":"","sCode":"51008","sMsg":"Order failed. Insufficient USDT balance in account.","subCode":"1000"}]}"#,
            Reading::Rejected {
                reason: RejectReason::InsufficientBalance,
                code: 51008,
            },
        ),
        (
            200,
            r#"{"code":"1","msg":"","data":[{"clOrdId":"a","ordId":"","sCode":"51008_1002","sMsg":"Auto Borrow is not enabled"}]}"#,
            Reading::Rejected {
                reason: RejectReason::InsufficientBalance,
                code: 51008,
            },
        ),
        (
            200,
            r#"{"code":"1","msg":"","data":[{"clOrdId":"a","ordId":"","sCode":"51006","sMsg":"Order price is not within the price limit"}]}"#,
            Reading::Rejected {
                reason: RejectReason::InvalidPrice,
                code: 51006,
            },
        ),
        // A business error in `sCode` under a top-level "0" is still the order's result.
        (
            200,
            r#"{"code":"0","msg":"","data":[{"clOrdId":"a","ordId":"","sCode":"51121","sMsg":"lot"}]}"#,
            Reading::Rejected {
                reason: RejectReason::InvalidQuantity,
                code: 51121,
            },
        ),
        // Errors before the order: top-level code, no row.
        (
            401,
            r#"{"msg":"Invalid Sign","code":"50113"}"#,
            Reading::Rejected {
                reason: RejectReason::Auth,
                code: 50113,
            },
        ),
        (
            401,
            r#"{"msg":"Timestamp request expired","code":"50102"}"#,
            Reading::Timestamp { code: 50102 },
        ),
        (
            429,
            r#"{"msg":"Too Many Requests","code":"50011"}"#,
            Reading::Throttled {
                code: 50011,
                retry_after_ms: None,
            },
        ),
        (
            200,
            r#"{"code":"50011","msg":"Rate limit reached.","data":[]}"#,
            Reading::Throttled {
                code: 50011,
                retry_after_ms: None,
            },
        ),
        (
            400,
            r#"{"code":"51000","msg":"Parameter clOrdId error","data":[]}"#,
            Reading::Rejected {
                reason: RejectReason::Other,
                code: 51000,
            },
        ),
        (
            503,
            r#"{"code":"50001","msg":"Service temporarily unavailable. Please try again later.","data":[]}"#,
            Reading::Unknown { code: 50001 },
        ),
        (
            400,
            r#"{"code":"50004","msg":"API endpoint request timeout","data":[]}"#,
            Reading::Unknown { code: 50004 },
        ),
        // Nothing readable: the status decides, and only a refusal status refuses.
        (
            502,
            "<html>Bad Gateway</html>",
            Reading::Unknown { code: 502 },
        ),
        (200, "", Reading::Unknown { code: 200 }),
        (
            200,
            r#"{"code":"0","msg":"","data":[]}"#,
            Reading::Unknown { code: 0 },
        ),
        (
            401,
            "",
            Reading::Rejected {
                reason: RejectReason::Auth,
                code: 401,
            },
        ),
        (
            429,
            "",
            Reading::Throttled {
                code: 429,
                retry_after_ms: None,
            },
        ),
    ] {
        assert_eq!(
            read(Market::Perp, Call::Place, &o, status, body),
            want,
            "{body}"
        );
    }
}

#[test]
fn a_cancel_ack_asks_for_the_state_and_a_finished_order_is_not_found() {
    let o = spot_gtc();
    assert_eq!(
        read(Market::Spot, Call::Cancel, &o, 200, CANCEL_ACK),
        Reading::CancelAccepted,
        "accepted for cancellation says nothing of what executed"
    );
    assert_eq!(
        read(
            Market::Spot,
            Call::Cancel,
            &o,
            200,
            r#"{"code":"1","msg":"","data":[{"clOrdId":"T1c7SL2","ordId":"","sCode":"51400","sMsg":"Order cancellation failed as the order has been filled, canceled or does not exist"}]}"#
        ),
        Reading::NotFound { code: 51400 }
    );
    assert_eq!(
        read(
            Market::Spot,
            Call::Cancel,
            &o,
            200,
            r#"{"code":"1","msg":"","data":[{"clOrdId":"T1c7SL2","ordId":"","sCode":"51412","sMsg":"Cancellation timed out, please try again later."}]}"#
        ),
        Reading::Unknown { code: 51412 }
    );
}

#[test]
fn a_spot_buy_with_its_fee_in_base_reads_the_fee_as_base() {
    let buy = spot_buy("T1c7BL3", "0.002");
    assert_eq!(
        read(Market::Spot, Call::Query, &buy, 200, ORDER_SPOT_FILLED),
        Reading::Order(OrderState {
            status: OrderStatus::Filled,
            cum_qty: d("0.00192834"),
            avg_price: d("51858"),
            fee_quote: Decimal::ZERO,
            fee_base: d("0.00000192834"),
            fees: crate::gateway::live::Fees::Known,
        })
    );
}

#[test]
fn swap_order_states_read_as_carrys() {
    let o = perp_ioc();
    for (state, acc, avg, fee, status) in [
        ("live", "0", "", "0", OrderStatus::Open),
        (
            "partially_filled",
            "1",
            "65000",
            "-0.325",
            OrderStatus::Open,
        ),
        ("filled", "2", "64999.5", "-0.649995", OrderStatus::Filled),
        ("canceled", "1", "65000", "-0.325", OrderStatus::Canceled),
        ("canceled", "0", "", "0", OrderStatus::Canceled),
        ("mmp_canceled", "0", "", "0", OrderStatus::Canceled),
    ] {
        let body = swap_order(state, acc, avg, fee);
        assert_eq!(
            read(Market::Perp, Call::Query, &o, 200, &body),
            Reading::Order(OrderState {
                status,
                cum_qty: d(acc),
                avg_price: if avg.is_empty() {
                    Decimal::ZERO
                } else {
                    d(avg)
                },
                fee_quote: -d(fee),
                fee_base: Decimal::ZERO,
                fees: crate::gateway::live::Fees::Known,
            }),
            "{state}"
        );
    }
    // A maker rebate (positive fee) is a negative fee paid.
    let body = swap_order("filled", "2", "65000", "0.13");
    let Reading::Order(s) = read(Market::Perp, Call::Query, &o, 200, &body) else {
        panic!("{body}");
    };
    assert_eq!(s.fee_quote, d("-0.13"));
    // A state OKX may add later, or a number that does not read: nothing can be said.
    for body in [
        swap_order("partially_canceled", "1", "65000", "0"),
        swap_order("filled", "two", "65000", "0"),
    ] {
        assert_eq!(
            read(Market::Perp, Call::Query, &o, 200, &body),
            Reading::Unknown { code: 0 },
            "{body}"
        );
    }
}

#[test]
fn a_query_for_an_unknown_id_is_not_found() {
    assert_eq!(
        read(
            Market::Perp,
            Call::Query,
            &perp_ioc(),
            200,
            r#"{"code":"51603","msg":"Order does not exist","data":[]}"#
        ),
        Reading::NotFound { code: 51603 }
    );
}

#[test]
fn the_fill_search_sums_the_orders_own_fills_only() {
    let buy = spot_buy("T1c7BL3", "0.02");
    // 0.004 @ 50000 + 0.006 @ 50100 = 0.01 for 500.6; fees 0.00001 BTC.
    assert_eq!(
        read(Market::Spot, Call::Fills, &buy, 200, FILLS),
        Reading::Order(OrderState {
            status: OrderStatus::Canceled,
            cum_qty: d("0.01"),
            avg_price: d("50060"),
            fee_quote: Decimal::ZERO,
            fee_base: d("0.00001"),
            fees: crate::gateway::live::Fees::Known,
        })
    );
    let other = spot_buy("T1c7BL4", "0.02");
    assert_eq!(
        read(Market::Spot, Call::Fills, &other, 200, FILLS),
        Reading::Order(OrderState::empty(OrderStatus::Canceled))
    );
    assert_eq!(
        read(
            Market::Spot,
            Call::Fills,
            &other,
            429,
            r#"{"msg":"Too Many Requests","code":"50011"}"#
        ),
        Reading::Throttled {
            code: 50011,
            retry_after_ms: None
        }
    );
}

#[test]
fn codes_map_to_named_readings() {
    use RejectReason as R;
    let rejected = |reason, code| Reading::Rejected { reason, code };
    for (code, want) in [
        (51016, Reading::Duplicate { code: 51016 }),
        (50071, Reading::Duplicate { code: 50071 }),
        (51400, Reading::NotFound { code: 51400 }),
        (51603, Reading::NotFound { code: 51603 }),
        (50102, Reading::Timestamp { code: 50102 }),
        (50112, Reading::Timestamp { code: 50112 }),
        (
            50061,
            Reading::Throttled {
                code: 50061,
                retry_after_ms: None,
            },
        ),
        (
            50040,
            Reading::Throttled {
                code: 50040,
                retry_after_ms: None,
            },
        ),
        (50013, Reading::Unknown { code: 50013 }),
        (50026, Reading::Unknown { code: 50026 }),
        (51149, Reading::Unknown { code: 51149 }),
        (50101, rejected(R::Auth, 50101)),
        (50104, rejected(R::Auth, 50104)),
        (50105, rejected(R::Auth, 50105)),
        (50110, rejected(R::Auth, 50110)),
        (50111, rejected(R::Auth, 50111)),
        (50113, rejected(R::Auth, 50113)),
        (50120, rejected(R::Auth, 50120)),
        (51008, rejected(R::InsufficientBalance, 51008)),
        (51127, rejected(R::InsufficientBalance, 51127)),
        (51131, rejected(R::InsufficientBalance, 51131)),
        (51020, rejected(R::InvalidQuantity, 51020)),
        (51121, rejected(R::InvalidQuantity, 51121)),
        (51203, rejected(R::InvalidQuantity, 51203)),
        (51006, rejected(R::InvalidPrice, 51006)),
        (51137, rejected(R::InvalidPrice, 51137)),
        (51150, rejected(R::InvalidPrice, 51150)),
        (51148, rejected(R::ReduceOnly, 51148)),
        (51169, rejected(R::ReduceOnly, 51169)),
        (51139, rejected(R::ReduceOnly, 51139)),
        (51000, rejected(R::Other, 51000)),
        (51001, rejected(R::Other, 51001)),
        (59000, rejected(R::Other, 59000)),
    ] {
        assert_eq!(reading_of(Some(code), 200), want, "{code}");
    }
    assert_eq!(code_number("51008_1000"), Some(51008));
    assert_eq!(code_number("0"), Some(0));
    assert_eq!(code_number(""), None);
    assert_eq!(code_number("abc"), None);
}

#[test]
fn fees_are_paid_in_quote_except_a_buys_base_fee() {
    let btc = d("50000");
    for (side, amounts, want) in [
        // Swap taker fee in USDT: charged is negative.
        (Side::Buy, vec![(d("-0.5"), "USDT")], (d("0.5"), d("0"))),
        // Spot buy: fee in the base asset, and no rebate.
        (
            Side::Buy,
            vec![(d("-0.00001"), "BTC"), (d("0"), "USDT")],
            (d("0"), d("0.00001")),
        ),
        // Spot sell: fee in quote.
        (Side::Sell, vec![(d("-0.5"), "USDT")], (d("0.5"), d("0"))),
        // Spot maker sell: fee in quote and a rebate in base, valued at the fill price.
        (
            Side::Sell,
            vec![(d("-0.5"), "USDT"), (d("0.00001"), "BTC")],
            (d("0"), d("0")),
        ),
        // A maker rebate on a buy in quote: a negative fee.
        (
            Side::Buy,
            vec![(d("-0.00001"), "BTC"), (d("0.2"), "USDT")],
            (d("-0.2"), d("0.00001")),
        ),
    ] {
        assert_eq!(
            fees_paid(side, "BTC", btc, &amounts),
            want,
            "{side:?} {amounts:?}"
        );
    }
}

#[test]
fn server_time_is_read_from_the_public_time_answer() {
    let okx = api(Market::Perp);
    let mut req = Request::new();
    okx.build_server_time(&mut req);
    assert_eq!(
        (req.method(), req.path(), req.headers().count()),
        (Method::Get, "/api/v5/public/time", 0)
    );
    // OKX docs, "Get system time" response example.
    let a = answer(
        200,
        r#"{"code":"0","msg":"","data":[{"ts":"1597026383085"}]}"#,
    );
    assert_eq!(okx.read_server_time(&a), Some(1_597_026_383_085));
    assert_eq!(okx.read_server_time(&answer(503, "")), None);
    assert_eq!(
        okx.read_server_time(&answer(200, r#"{"code":"50001","msg":"","data":[]}"#)),
        None
    );
}

/// `GET /api/v5/account/config`'s data row with the fields carry reads.
fn account(pos_mode: &str, acct_lv: &str, auto_loan: bool) -> String {
    format!(
        r#"{{"code":"0","msg":"","data":[{{"uid":"44705892343619584","acctLv":"{acct_lv}","posMode":"{pos_mode}","autoLoan":{auto_loan},"greeksType":"PA","level":"Lv1","ctIsoMode":"automatic","mgnIsoMode":"automatic","perm":"read_only,trade"}}]}}"#
    )
}

#[test]
fn the_account_must_be_one_way_and_able_to_trade_what_carry_trades() {
    let mut perp = api(Market::Perp);
    let mut margin = OkxOrders::new(venue(Market::Spot), &config(false, true));
    let one_way = Setup::OneWayMode;
    assert_eq!(
        perp.read_setup(one_way, &answer(200, &account("net_mode", "2", false))),
        Ok(())
    );
    let hedge = perp
        .read_setup(
            one_way,
            &answer(200, &account("long_short_mode", "2", false)),
        )
        .unwrap_err();
    for said in [
        "okx-perp",
        "long_short_mode",
        "POST /api/v5/account/set-position-mode",
        r#"{"posMode":"net_mode"}"#,
    ] {
        assert!(hedge.contains(said), "{hedge}");
    }
    let spot_mode = perp
        .read_setup(one_way, &answer(200, &account("net_mode", "1", false)))
        .unwrap_err();
    assert!(spot_mode.contains("Spot mode"), "{spot_mode}");
    // Margin spot: borrowing needs auto-borrow in the multi-currency and portfolio modes.
    assert_eq!(
        margin.read_setup(
            one_way,
            &answer(200, &account("long_short_mode", "2", false))
        ),
        Ok(())
    );
    assert_eq!(
        margin.read_setup(one_way, &answer(200, &account("net_mode", "3", true))),
        Ok(())
    );
    let no_borrow = margin
        .read_setup(one_way, &answer(200, &account("net_mode", "3", false)))
        .unwrap_err();
    assert!(no_borrow.contains("Auto Borrow"), "{no_borrow}");
    let refused = perp
        .read_setup(
            one_way,
            &answer(401, r#"{"msg":"Invalid OK-ACCESS-KEY","code":"50111"}"#),
        )
        .unwrap_err();
    assert!(
        refused.contains("50111") && refused.contains("Invalid OK-ACCESS-KEY"),
        "{refused}"
    );
}

#[test]
fn leverage_is_set_or_the_refusal_is_said() {
    let mut perp = api(Market::Perp);
    // OKX docs, "Set leverage" response example.
    let ok = r#"{"code":"0","msg":"","data":[{"lever":"30","mgnMode":"isolated","instId":"BTC-USDT-SWAP","posSide":"long"}]}"#;
    assert_eq!(
        perp.read_setup(Setup::Leverage(30), &answer(200, ok)),
        Ok(())
    );
    let refused = perp
        .read_setup(
            Setup::Leverage(200),
            &answer(
                400,
                r#"{"code":"51000","msg":"Parameter lever error","data":[]}"#,
            ),
        )
        .unwrap_err();
    assert!(
        refused.contains("51000") && refused.contains("Parameter lever error"),
        "{refused}"
    );
}

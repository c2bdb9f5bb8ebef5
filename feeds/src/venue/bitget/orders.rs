//! Bitget v2 order entry: the [`OrderApi`] of `bitget-perp` (USDT-M futures, `/api/v2/mix`) and
//! `bitget-spot` (`/api/v2/spot/trade`, or cross margin `/api/v2/margin/crossed` when
//! `margin_spot` is set, so that a short spot leg borrows its base coin).
//!
//! | call | perp | spot | spot, margin |
//! |---|---|---|---|
//! | place | `POST /api/v2/mix/order/place-order` | `POST /api/v2/spot/trade/place-order` | `POST /api/v2/margin/crossed/place-order` |
//! | cancel | `POST /api/v2/mix/order/cancel-order` | `POST /api/v2/spot/trade/cancel-order` | `POST /api/v2/margin/crossed/cancel-order` |
//! | query (and fills) | `GET /api/v2/mix/order/detail` | `GET /api/v2/spot/trade/orderInfo` | `GET /api/v2/margin/crossed/history-orders` |
//!
//! Every order is `orderType=limit` with `force` `ioc` or `gtc`, its price and size written from
//! exact decimals (sizes are base coin on both markets: `qty_venue` is `qty_base`), the client
//! order id in `clientOid`, and `stpMode=cancel_taker` (Bitget's "expire the taker"). Perps add
//! `productType=USDT-FUTURES`, `marginMode=crossed`, `marginCoin=USDT` and `reduceOnly=YES|NO`
//! (one-way mode; hedge mode would need `tradeSide`, and carry refuses it at setup). Margin
//! orders add `loanType=autoLoanAndRepay` and name their size `baseSize`. GET parameters are
//! added in name order, because Bitget signs them sorted and unencoded (`sign.rs`).
//!
//! **Answers.** A place answer is only an acknowledgement (`orderId`, `clientOid`; a reduce-only
//! answer may even lack the `orderId`), so a placed order reads as open with nothing executed
//! and the gateway learns an IOC's outcome from its follow-up queries by `clientOid`. A cancel
//! answer is an acknowledgement too: it says the request was taken, not how much executed before
//! it, so it reads as [`Reading::CancelAccepted`] (no `Canceled` report with no quantity, which
//! would hide a fill that came first): the gateway queries the order at once.
//! Errors come as HTTP 400 (or 200) with a business `code` (`"00000"` is success) and are read
//! by that code whatever the status; HTTP 429 is the rate limit, a 5xx says nothing about the
//! order. The codes, as [`reading_of_code`] maps them (the venue's code is kept in the reading):
//!
//! | codes | reading |
//! |---|---|
//! | 40786 (futures), 43118 (spot), 45034 (margin) | `Duplicate` |
//! | 43001, 31007, 40109, 40768 | `NotFound` |
//! | 40004, 40005, 40008, 40078, 40079 (receive window) | `Timestamp` |
//! | 429, 1001, 50009; HTTP 429 (with `Retry-After` if sent) | `Throttled` |
//! | 40015, 40200, 40604, 40725, 45001, 50008; any HTTP 5xx | `Unknown` (system busy or upgrading: the order may exist) |
//! | 40001, 40002, 40003, 40006, 40009, 40010, 40011, 40012, 40014, 40018, 40037 | `Rejected`, `Auth` |
//! | 40711, 40712, 40754, 40762, 40798, 43012 | `Rejected`, `InsufficientBalance` |
//! | 40108, 40808, 45110, 45111, 45112 | `Rejected`, `InvalidQuantity` |
//! | 40706, 41103 | `Rejected`, `InvalidPrice` |
//! | 22002, 40757, 45006 | `Rejected`, `ReduceOnly` |
//! | anything else (40774 hedge-mode order, 40305 bad `clientOid`, ...) | `Rejected`, `Other` |
//!
//! Order states: `live` and `partially_filled` (margin: `partially_fill`) are open, `filled`,
//! `canceled` (futures) or `cancelled` (spot, margin), margin `reject`. Fees are negative when
//! charged: futures `fee` is in USDT. Spot `feeDetail` is a JSON string whose `newFees.r` is what
//! was taken from the coin received (the base coin on a buy: the position is what arrived, the
//! gateway reports the net quantity), in JSON numbers read through their shortest round-trip text
//! (exact for the fifteen significant digits a fee has); what BGB deduction paid (`newFees.d`) is
//! not in carry's fee, having no quote value here. The margin order list carries no fee.
//!
//! **Limits.** Place 10 requests/s per UID on each of futures, spot and margin (cancels have
//! their own 10/s). The answer's `x-mbx-used-remain-limit` (Bitget's FAQ) is read after place
//! answers only, since a cancel's answer counts cancels.
//!
//! **Setup** (perps): `GET /api/v2/mix/account/account` must say `posMode=one_way_mode` (hedge
//! mode is refused with how to switch), then `set-margin-mode` `crossed` and `set-leverage`.
//!
//! **No dead-man switch.** Bitget's REST API has no cancel-after countdown (Binance, OKX, Bybit
//! and Gate have one): a resting GTC order stays until carry cancels it.
//!
//! **`resolve = "resend"` is not safe on Bitget.** A resend within six hours does get the
//! duplicate code on futures and spot as the simulator reads the docs, but the docs promise
//! less: the margin and plan-order pages say the `clientOid` idempotency lasts six hours *only
//! while the order is unfilled* (the simulator's margin book follows that: a filled IOC's id
//! places a second order), the v3 docs call the six hours "not fully guaranteed", and the
//! futures and spot pages say nothing. carry's orders are mostly IOCs that fill at once, exactly
//! the case the docs leave open, and an order resolved after six hours (a long outage, a
//! restart) would be placed again. Unknown outcomes must be resolved by query on Bitget, as on
//! Binance and Gate. A lookup by `clientOid` is not documented as windowed (order history is
//! kept 90 days), so the fill-history search is not needed.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use carry_engine::execution::order::{OrderIntent, OrderStatus, RejectReason, Side, TimeInForce};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::sign;
use crate::gateway::budget::{Limit, RateBudget};
use crate::gateway::credentials::Secret;
use crate::gateway::http::Answer;
use crate::gateway::live::{ApiConfig, Call, Fees, OrderApi, OrderState, Reading, Setup};
use crate::gateway::request::{IntText, Method, Request};
use crate::gateway::signer::Signer;
use crate::json::{parse_decimal, Note};

/// Which of Bitget's order books an API trades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Product {
    /// `USDT-FUTURES`, `/api/v2/mix`.
    UsdtFutures,
    /// Spot, `/api/v2/spot/trade`.
    Spot,
    /// Spot through the cross margin account, `/api/v2/margin/crossed`.
    CrossMargin,
}

impl Product {
    fn place_path(self) -> &'static str {
        match self {
            Product::UsdtFutures => "/api/v2/mix/order/place-order",
            Product::Spot => "/api/v2/spot/trade/place-order",
            Product::CrossMargin => "/api/v2/margin/crossed/place-order",
        }
    }

    fn cancel_path(self) -> &'static str {
        match self {
            Product::UsdtFutures => "/api/v2/mix/order/cancel-order",
            Product::Spot => "/api/v2/spot/trade/cancel-order",
            Product::CrossMargin => "/api/v2/margin/crossed/cancel-order",
        }
    }

    fn query_path(self) -> &'static str {
        match self {
            Product::UsdtFutures => "/api/v2/mix/order/detail",
            Product::Spot => "/api/v2/spot/trade/orderInfo",
            Product::CrossMargin => "/api/v2/margin/crossed/history-orders",
        }
    }
}

const PRODUCT_TYPE: &str = "USDT-FUTURES";
const MARGIN_COIN: &str = "USDT";
/// Bitget's "expire the taker": the incoming order is cancelled rather than trade with carry's
/// own resting order.
const STP_MODE: &str = "cancel_taker";
/// Margin orders borrow what a sell lacks and repay from what a buy brings.
const LOAN_TYPE: &str = "autoLoanAndRepay";
/// The margin order list needs a `startTime`; the docs allow 90 days back.
const MARGIN_LOOKBACK_MS: i64 = 89 * 86_400_000;
/// Place: 10 requests per second per UID (futures, spot and margin alike).
const PLACE_LIMITS: [Limit; 1] = [Limit {
    count: 10,
    window_ms: 1_000,
}];
/// The window `x-mbx-used-remain-limit` counts in.
const USAGE_WINDOW_MS: u64 = 1_000;
/// Kept from every answer: the remaining place budget, and a throttle's pause if one is sent.
const USAGE_HEADERS: &[&str] = &["x-mbx-used-remain-limit", "retry-after"];

/// One Bitget market's order API.
pub struct BitgetOrders {
    venue: Venue,
    product: Product,
    signer: Signer,
    key: Secret,
    passphrase: Secret,
    demo: bool,
}

impl fmt::Debug for BitgetOrders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BitgetOrders")
            .field("venue", &self.venue)
            .field("product", &self.product)
            .field("demo", &self.demo)
            .finish_non_exhaustive()
    }
}

impl BitgetOrders {
    /// The order API of `venue` (`bitget-perp` or `bitget-spot`) for the account in `config`.
    /// A missing passphrase is sent empty, and Bitget refuses it (40011, read as `Auth`).
    pub fn new(venue: Venue, config: &ApiConfig) -> BitgetOrders {
        let product = if venue.is_perp() {
            Product::UsdtFutures
        } else if config.margin_spot {
            Product::CrossMargin
        } else {
            Product::Spot
        };
        let credentials = &config.credentials;
        BitgetOrders {
            venue,
            product,
            signer: Signer::sha256(&credentials.secret),
            key: credentials.key.clone(),
            passphrase: credentials
                .passphrase
                .clone()
                .unwrap_or_else(|| Secret::new("")),
            demo: config.demo_trading,
        }
    }

    fn sign(&self, venue_ms: i64, req: &mut Request) {
        sign::sign(
            &self.signer,
            self.key.expose(),
            self.passphrase.expose(),
            venue_ms,
            self.demo,
            req,
        );
    }

    fn build_place(&self, order: &OrderIntent, symbol: &str, req: &mut Request) {
        req.start(Method::Post, self.product.place_path());
        req.json_begin();
        req.json_str("symbol", symbol);
        if self.product == Product::UsdtFutures {
            req.json_str("productType", PRODUCT_TYPE);
            req.json_str("marginMode", "crossed");
            req.json_str("marginCoin", MARGIN_COIN);
            req.json_decimal("size", order.qty_venue);
            req.json_decimal("price", order.price);
        }
        req.json_str("side", side_name(order.side));
        req.json_str("orderType", "limit");
        if self.product == Product::CrossMargin {
            req.json_str("loanType", LOAN_TYPE);
        }
        req.json_str("force", force_name(order.tif));
        match self.product {
            Product::UsdtFutures => {}
            Product::Spot => {
                req.json_decimal("price", order.price);
                req.json_decimal("size", order.qty_venue);
            }
            Product::CrossMargin => {
                req.json_decimal("price", order.price);
                req.json_decimal("baseSize", order.qty_venue);
            }
        }
        req.json_str("clientOid", order.client_order_id.as_str());
        if self.product == Product::UsdtFutures {
            req.json_str("reduceOnly", if order.reduce_only { "YES" } else { "NO" });
        }
        req.json_str("stpMode", STP_MODE);
        req.json_end();
    }

    fn build_cancel(&self, order: &OrderIntent, symbol: &str, req: &mut Request) {
        req.start(Method::Post, self.product.cancel_path());
        req.json_begin();
        req.json_str("symbol", symbol);
        if self.product == Product::UsdtFutures {
            req.json_str("productType", PRODUCT_TYPE);
            req.json_str("marginCoin", MARGIN_COIN);
        }
        req.json_str("clientOid", order.client_order_id.as_str());
        req.json_end();
    }

    /// Parameters in name order: Bitget signs the query sorted.
    fn build_query(&self, order: &OrderIntent, symbol: &str, venue_ms: i64, req: &mut Request) {
        req.start(Method::Get, self.product.query_path());
        req.query("clientOid", order.client_order_id.as_str());
        match self.product {
            Product::UsdtFutures => {
                req.query("productType", PRODUCT_TYPE);
                req.query("symbol", symbol);
            }
            // `orderInfo` takes the id alone.
            Product::Spot => {}
            Product::CrossMargin => {
                req.query_int("startTime", venue_ms - MARGIN_LOOKBACK_MS);
                req.query("symbol", symbol);
            }
        }
    }

    /// The order `answer` describes, for a query of `order`.
    fn read_order(&self, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        let row = match self.product {
            Product::UsdtFutures => match data::<OrderRow<'_>>(answer.body) {
                Some(row) => Some(row),
                None => return Reading::Unknown { code: 0 },
            },
            Product::Spot => match data::<Vec<OrderRow<'_>>>(answer.body) {
                Some(rows) => pick(rows, order),
                None => return Reading::Unknown { code: 0 },
            },
            Product::CrossMargin => match data::<MarginOrders<'_>>(answer.body) {
                Some(list) => pick(list.order_list, order),
                None => return Reading::Unknown { code: 0 },
            },
        };
        let Some(row) = row else {
            return Reading::NotFound { code: 0 };
        };
        match order_state(self.product, &row) {
            Some(state) => Reading::Order(state),
            None => Reading::Unknown { code: 0 },
        }
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn force_name(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Ioc => "ioc",
        TimeInForce::Gtc => "gtc",
    }
}

impl crate::gateway::live::NewOrderApi for BitgetOrders {
    fn new_api(venue: Venue, config: &ApiConfig) -> BitgetOrders {
        BitgetOrders::new(venue, config)
    }
}

impl OrderApi for BitgetOrders {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn usage_headers(&self) -> &'static [&'static str] {
        USAGE_HEADERS
    }

    fn order_limits(&self) -> &'static [Limit] {
        &PLACE_LIMITS
    }

    fn build(
        &mut self,
        call: Call,
        order: &OrderIntent,
        symbol: &str,
        venue_ms: i64,
        req: &mut Request,
    ) {
        match call {
            Call::Place => self.build_place(order, symbol, req),
            Call::Cancel => self.build_cancel(order, symbol, req),
            // The order detail carries the cumulative fills: it answers both.
            Call::Query | Call::Fills => self.build_query(order, symbol, venue_ms, req),
        }
        self.sign(venue_ms, req);
    }

    fn read(&mut self, call: Call, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        if let Err(reading) = outcome(answer) {
            return reading;
        }
        match call {
            // Acknowledgements: see the module doc.
            Call::Place => Reading::Order(OrderState::empty(OrderStatus::Open)),
            Call::Cancel => Reading::CancelAccepted,
            Call::Query | Call::Fills => self.read_order(order, answer),
        }
    }

    fn build_server_time(&self, req: &mut Request) {
        req.start(Method::Get, "/api/v2/public/time");
    }

    fn read_server_time(&self, answer: &Answer<'_>) -> Option<i64> {
        outcome(answer).ok()?;
        data::<ServerTime<'_>>(answer.body)?.server_time.int()
    }

    fn build_setup(
        &mut self,
        setup: Setup,
        symbol: &str,
        venue_ms: i64,
        req: &mut Request,
    ) -> bool {
        if self.product != Product::UsdtFutures {
            return false;
        }
        match setup {
            Setup::OneWayMode => {
                req.start(Method::Get, "/api/v2/mix/account/account");
                req.query("marginCoin", MARGIN_COIN);
                req.query("productType", PRODUCT_TYPE);
                req.query("symbol", symbol);
            }
            Setup::CrossMargin => {
                req.start(Method::Post, "/api/v2/mix/account/set-margin-mode");
                req.json_begin();
                req.json_str("symbol", symbol);
                req.json_str("productType", PRODUCT_TYPE);
                req.json_str("marginCoin", MARGIN_COIN);
                req.json_str("marginMode", "crossed");
                req.json_end();
            }
            Setup::Leverage(leverage) => {
                req.start(Method::Post, "/api/v2/mix/account/set-leverage");
                req.json_begin();
                req.json_str("symbol", symbol);
                req.json_str("productType", PRODUCT_TYPE);
                req.json_str("marginCoin", MARGIN_COIN);
                req.json_str("leverage", IntText::new(i64::from(leverage)).as_str());
                req.json_end();
            }
        }
        self.sign(venue_ms, req);
        true
    }

    fn read_setup(&mut self, setup: Setup, answer: &Answer<'_>) -> Result<(), String> {
        if outcome(answer).is_err() {
            return Err(format!(
                "Bitget refused {}: {}",
                setup_name(setup),
                said(answer)
            ));
        }
        let account = data::<AccountRow<'_>>(answer.body);
        let text = |s: &Option<Scalar<'_>>| s.as_ref().and_then(Scalar::text).map(str::to_string);
        match setup {
            Setup::OneWayMode => match account.as_ref().and_then(|a| text(&a.pos_mode)) {
                Some(mode) if mode == "one_way_mode" => Ok(()),
                Some(mode) if mode == "hedge_mode" => Err(
                    "Bitget futures account is in hedge mode (posMode=hedge_mode); carry trades \
                     one-way only: switch with POST /api/v2/mix/account/set-position-mode \
                     {\"productType\":\"USDT-FUTURES\",\"posMode\":\"one_way_mode\"} (Bitget \
                     refuses while positions or orders are open)"
                        .to_string(),
                ),
                other => Err(format!(
                    "Bitget account answer has no known posMode ({other:?}): {}",
                    said(answer)
                )),
            },
            // `data` repeats the mode where it is given; its absence is not a refusal.
            Setup::CrossMargin => match account.as_ref().and_then(|a| text(&a.margin_mode)) {
                Some(mode) if mode != "crossed" => Err(format!(
                    "Bitget kept margin mode {mode:?} where crossed was asked: {}",
                    said(answer)
                )),
                _ => Ok(()),
            },
            Setup::Leverage(_) => Ok(()),
        }
    }

    fn observe_usage(&self, call: Call, answer: &Answer<'_>, budget: &mut RateBudget, now_ms: u64) {
        if call != Call::Place {
            return;
        }
        if let Some(remaining) = answer.header(0).and_then(|h| h.trim().parse::<u32>().ok()) {
            budget.observe_remaining(USAGE_WINDOW_MS, remaining, now_ms);
        }
    }
}

fn setup_name(setup: Setup) -> String {
    match setup {
        Setup::OneWayMode => "the position mode check".to_string(),
        Setup::CrossMargin => "cross margin mode".to_string(),
        Setup::Leverage(l) => format!("leverage {l}"),
    }
}

/// What the venue said, for an operator: its code and message, or the HTTP status.
fn said(answer: &Answer<'_>) -> String {
    match serde_json::from_slice::<Head<'_>>(answer.body) {
        Ok(head) => format!(
            "code {} {:?} (HTTP {})",
            head.code.as_ref().and_then(Scalar::text).unwrap_or("?"),
            head.msg.as_ref().and_then(Scalar::text).unwrap_or(""),
            answer.status
        ),
        Err(_) => format!("HTTP {} without a Bitget envelope", answer.status),
    }
}

/// `Ok` when the answer is a success envelope (`code` `"00000"`); otherwise what it means.
fn outcome(answer: &Answer<'_>) -> Result<(), Reading> {
    let head = serde_json::from_slice::<Head<'_>>(answer.body).ok();
    let code = head.as_ref().and_then(|h| h.code.as_ref());
    let success = code.is_some_and(|c| c.text() == Some("00000") || c.int() == Some(0));
    let numeric = code
        .and_then(Scalar::int)
        .and_then(|c| i32::try_from(c).ok());
    let status = i32::from(answer.status);
    if answer.status == 429 {
        let retry_after_ms = answer
            .header(1)
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(|secs| secs.saturating_mul(1_000));
        return Err(Reading::Throttled {
            code: numeric.unwrap_or(status),
            retry_after_ms,
        });
    }
    if answer.status >= 500 {
        return Err(Reading::Unknown {
            code: numeric.unwrap_or(status),
        });
    }
    if success {
        return Ok(());
    }
    Err(match (numeric, head.is_some()) {
        (Some(code), _) => reading_of_code(code),
        // An envelope whose code is not a number: refused, reason unknown.
        (None, true) => Reading::Rejected {
            reason: RejectReason::Other,
            code: status,
        },
        // No envelope at all: a proxy or load balancer answered.
        (None, false) => match answer.status {
            200..=299 => Reading::Unknown { code: status },
            401 | 403 => Reading::Rejected {
                reason: RejectReason::Auth,
                code: status,
            },
            _ => Reading::Rejected {
                reason: RejectReason::Other,
                code: status,
            },
        },
    })
}

/// What a Bitget error code means for the request that got it (the module doc's table).
pub fn reading_of_code(code: i32) -> Reading {
    let rejected = |reason| Reading::Rejected { reason, code };
    match code {
        40786 | 43118 | 45034 => Reading::Duplicate { code },
        43001 | 31007 | 40109 | 40768 => Reading::NotFound { code },
        40004 | 40005 | 40008 | 40078 | 40079 => Reading::Timestamp { code },
        429 | 1001 | 50009 => Reading::Throttled {
            code,
            retry_after_ms: None,
        },
        40015 | 40200 | 40604 | 40725 | 45001 | 50008 => Reading::Unknown { code },
        40001 | 40002 | 40003 | 40006 | 40009 | 40010 | 40011 | 40012 | 40014 | 40018 | 40037 => {
            rejected(RejectReason::Auth)
        }
        40711 | 40712 | 40754 | 40762 | 40798 | 43012 => {
            rejected(RejectReason::InsufficientBalance)
        }
        40108 | 40808 | 45110 | 45111 | 45112 => rejected(RejectReason::InvalidQuantity),
        40706 | 41103 => rejected(RejectReason::InvalidPrice),
        22002 | 40757 | 45006 => rejected(RejectReason::ReduceOnly),
        _ => rejected(RejectReason::Other),
    }
}

/// A state Bitget names, `None` when it names none carry knows.
fn status_of(state: &str) -> Option<OrderStatus> {
    Some(match state {
        "live" | "new" | "init" | "partially_filled" | "partially_fill" | "partial_fill" => {
            OrderStatus::Open
        }
        "filled" | "full_fill" => OrderStatus::Filled,
        "canceled" | "cancelled" => OrderStatus::Canceled,
        "reject" | "rejected" => OrderStatus::Rejected,
        _ => return None,
    })
}

/// An order row as a state; `None` when its state or quantities cannot be read.
fn order_state(product: Product, row: &OrderRow<'_>) -> Option<OrderState> {
    let state = row
        .state
        .as_ref()
        .or(row.status.as_ref())
        .and_then(Scalar::text)?;
    let status = status_of(state)?;
    let decimal = |s: &Option<Scalar<'_>>| s.as_ref().and_then(Scalar::decimal);
    let (cum_qty, avg) = match product {
        Product::UsdtFutures | Product::Spot => (decimal(&row.base_volume)?, &row.price_avg),
        Product::CrossMargin => {
            // The margin list names its fills differently from page to page; a filled order
            // executed its whole size, a live one nothing.
            let cum = decimal(&row.fill_quantity)
                .or_else(|| decimal(&row.base_volume))
                .or_else(|| match status {
                    OrderStatus::Filled => decimal(&row.base_size).or_else(|| decimal(&row.size)),
                    _ if state == "live" => Some(Decimal::ZERO),
                    _ => None,
                })?;
            let avg = if row.fill_price.is_some() {
                &row.fill_price
            } else {
                &row.price_avg
            };
            (cum, avg)
        }
    };
    let avg_price = if cum_qty.is_zero() {
        Decimal::ZERO
    } else {
        decimal(avg).unwrap_or(Decimal::ZERO)
    };
    let (fee_quote, fee_base) = match product {
        // Negative when charged, in the margin coin.
        Product::UsdtFutures => (-decimal(&row.fee).unwrap_or(Decimal::ZERO), Decimal::ZERO),
        Product::Spot => spot_fees(row),
        Product::CrossMargin => (Decimal::ZERO, Decimal::ZERO),
    };
    Some(OrderState {
        status,
        cum_qty,
        avg_price,
        fee_quote,
        fee_base,
        fees: Fees::Known,
    })
}

/// A spot order's fees as (quote, base), positive when paid: what was taken from the coin the
/// order received (the base coin on a buy, the quote coin on a sell).
fn spot_fees(row: &OrderRow<'_>) -> (Decimal, Decimal) {
    let Some(detail) = row.fee_detail.as_ref().and_then(Scalar::text) else {
        return (Decimal::ZERO, Decimal::ZERO);
    };
    let Ok(entries) = serde_json::from_str::<BTreeMap<Cow<'_, str>, FeeEntry<'_>>>(detail) else {
        return (Decimal::ZERO, Decimal::ZERO);
    };
    let buy = row.side.as_ref().and_then(Scalar::text) == Some("buy");
    let symbol = row.symbol.as_ref().and_then(Scalar::text).unwrap_or("");
    let taken = match entries.get("newFees") {
        Some(new) => new.r.as_ref().and_then(Scalar::decimal).unwrap_or_default(),
        // Older orders: one entry per coin the fee was taken in; a BGB entry is neither coin.
        None => entries
            .iter()
            .filter(|(coin, _)| {
                if buy {
                    symbol.starts_with(coin.as_ref())
                } else {
                    symbol.ends_with(coin.as_ref())
                }
            })
            .filter_map(|(_, e)| e.total_fee.as_ref().and_then(Scalar::decimal))
            .sum(),
    };
    let paid = -taken;
    if buy {
        (Decimal::ZERO, paid)
    } else {
        (paid, Decimal::ZERO)
    }
}

/// Of a list of orders, the one with this client order id (a row without one is taken as it).
fn pick<'a>(rows: Vec<OrderRow<'a>>, order: &OrderIntent) -> Option<OrderRow<'a>> {
    let id = order.client_order_id.as_str();
    rows.into_iter()
        .find(|r| r.client_oid.as_ref().is_none_or(|c| c.text() == Some(id)))
}

/// The `data` of a success envelope, if it has the expected shape.
fn data<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Option<T> {
    serde_json::from_slice::<Body<T>>(body).ok()?.data
}

/// The envelope every Bitget answer has: `{"code","msg","requestTime","data"}`.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow, default)]
    code: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    msg: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
struct Body<T> {
    data: Option<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerTime<'a> {
    #[serde(borrow)]
    server_time: Scalar<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountRow<'a> {
    #[serde(borrow, default)]
    pos_mode: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    margin_mode: Option<Scalar<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MarginOrders<'a> {
    #[serde(borrow, default)]
    order_list: Vec<OrderRow<'a>>,
}

/// An order as any of the three query answers gives it (each uses some of the fields).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OrderRow<'a> {
    #[serde(borrow, default)]
    client_oid: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    symbol: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    side: Option<Scalar<'a>>,
    /// Futures (the docs' example; their table says `status`).
    #[serde(borrow, default)]
    state: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    status: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    size: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    base_size: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    base_volume: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    fill_quantity: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    price_avg: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    fill_price: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    fee: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    fee_detail: Option<Scalar<'a>>,
}

/// One entry of a spot `feeDetail`: `newFees` (`r` taken from the coin received) or an older
/// per-coin entry (`totalFee`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeeEntry<'a> {
    #[serde(borrow, default)]
    r: Option<Scalar<'a>>,
    #[serde(borrow, default)]
    total_fee: Option<Scalar<'a>>,
}

/// A JSON string or number: Bitget sends either for the same field (codes, times, the numbers
/// inside `feeDetail`).
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    Text(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Other,
}

impl Scalar<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Scalar::Text(t) => Some(t),
            _ => None,
        }
    }

    fn int(&self) -> Option<i64> {
        match self {
            Scalar::Text(t) => t.trim().parse().ok(),
            Scalar::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The exact decimal; an empty string (Bitget's "none yet") is zero.
    fn decimal(&self) -> Option<Decimal> {
        match self {
            Scalar::Text(t) if t.trim().is_empty() => Some(Decimal::ZERO),
            Scalar::Text(t) => parse_decimal(t.trim()),
            Scalar::Int(i) => Some(Decimal::from(*i)),
            Scalar::Float(f) => decimal_of_f64(*f),
            Scalar::Other => None,
        }
    }
}

/// A JSON number read as a float, as the decimal it was written as: Rust prints a float's
/// shortest digits that read back to it (here in exponent form, so any magnitude fits the
/// buffer), which are the written digits for any number of up to fifteen significant digits.
fn decimal_of_f64(value: f64) -> Option<Decimal> {
    let mut text = Note::default();
    text.set(format_args!("{value:e}"));
    parse_decimal(text.as_str())
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scalar<'a>, D::Error> {
        struct ScalarVisitor;

        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(v.to_string())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Text(Cow::Owned(v)))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Float(v))
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Other)
            }

            fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<Scalar<'de>, M::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }

            fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<Scalar<'de>, S::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}

#[cfg(test)]
mod tests {
    use carry_engine::decision::target::PairId;
    use carry_engine::execution::client_id::{ClientOrderId, InstanceId};
    use carry_engine::execution::order::{IntentAction, Leg, Step};
    use carry_engine::InstrumentId;

    use super::*;
    use crate::gateway::credentials::Credentials;

    const TS: i64 = 1_700_000_000_000;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn config(margin_spot: bool) -> ApiConfig {
        ApiConfig {
            credentials: Credentials {
                key: Secret::new("bg-key"),
                secret: Secret::new("bg-secret"),
                passphrase: Some(Secret::new("bg-pass")),
            },
            recv_window_ms: 5_000,
            demo_trading: false,
            margin_spot,
        }
    }

    fn api(venue: &str, margin_spot: bool) -> BitgetOrders {
        BitgetOrders::new(venue.parse().unwrap(), &config(margin_spot))
    }

    fn intent(venue: &str, side: Side, tif: TimeInForce, price: &str, qty: &str) -> OrderIntent {
        let (leg, attempt) = match side {
            Side::Buy => (Leg::Long, 1),
            Side::Sell => (Leg::Short, 2),
        };
        OrderIntent {
            action: IntentAction::Place,
            client_order_id: ClientOrderId::new(
                &InstanceId::new("T1").unwrap(),
                7,
                Step::Entry,
                leg,
                attempt,
            )
            .unwrap(),
            pair: PairId(0),
            cycle: 7,
            step: Step::Entry,
            leg,
            attempt,
            venue: venue.parse().unwrap(),
            instrument: InstrumentId(0),
            side,
            tif,
            reduce_only: false,
            price: d(price),
            qty_base: d(qty),
            qty_venue: d(qty),
        }
    }

    fn perp_buy() -> OrderIntent {
        intent(
            "bitget-perp",
            Side::Buy,
            TimeInForce::Ioc,
            "65000.10",
            "0.0120",
        )
    }

    fn spot_sell() -> OrderIntent {
        intent(
            "bitget-spot",
            Side::Sell,
            TimeInForce::Gtc,
            "64000.00",
            "0.5000",
        )
    }

    fn built(api: &mut BitgetOrders, call: Call, order: &OrderIntent) -> Request {
        let mut req = Request::new();
        api.build(call, order, "BTCUSDT", TS, &mut req);
        req
    }

    fn headers(req: &Request) -> Vec<(&'static str, String)> {
        req.headers().map(|(n, v)| (n, v.to_string())).collect()
    }

    fn signed_headers(sign: &str) -> Vec<(&'static str, String)> {
        [
            ("ACCESS-KEY", "bg-key"),
            ("ACCESS-SIGN", sign),
            ("ACCESS-TIMESTAMP", "1700000000000"),
            ("ACCESS-PASSPHRASE", "bg-pass"),
            ("Content-Type", "application/json"),
            ("locale", "en-US"),
        ]
        .into_iter()
        .map(|(n, v)| (n, v.to_string()))
        .collect()
    }

    /// The signatures below were computed outside carry, with python3:
    /// `base64.b64encode(hmac.new(b"bg-secret", (ts + method + path + ["?" + query] + body)
    /// .encode(), hashlib.sha256).digest())` over the exact bytes asserted.
    #[test]
    fn perp_place_and_query_are_the_documented_requests_signed_as_computed_outside_carry() {
        let mut api = api("bitget-perp", false);
        let order = perp_buy();
        assert_eq!(order.client_order_id.as_str(), "T10000007EL001");
        let req = built(&mut api, Call::Place, &order);
        assert_eq!(
            (req.method(), req.path(), req.query_str()),
            (Method::Post, "/api/v2/mix/order/place-order", "")
        );
        assert_eq!(
            req.body_str(),
            r#"{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginMode":"crossed","marginCoin":"USDT","size":"0.012","price":"65000.1","side":"buy","orderType":"limit","force":"ioc","clientOid":"T10000007EL001","reduceOnly":"NO","stpMode":"cancel_taker"}"#
        );
        assert_eq!(
            headers(&req),
            signed_headers("Vy9QNotMdt4WDX9IQyheH8fH34M/ncp3zaEXUrSWTl4=")
        );

        let req = built(&mut api, Call::Query, &order);
        assert_eq!(
            (req.method(), req.path(), req.query_str(), req.body_str()),
            (
                Method::Get,
                "/api/v2/mix/order/detail",
                "clientOid=T10000007EL001&productType=USDT-FUTURES&symbol=BTCUSDT",
                ""
            )
        );
        assert_eq!(
            headers(&req),
            signed_headers("P/dAhAdHNNJU3cywTsktbW80XSwlMwTmXfizvDFRnT8=")
        );
        // Fills are read from the same detail.
        assert_eq!(
            built(&mut api, Call::Fills, &order).query_str(),
            req.query_str()
        );

        let req = built(&mut api, Call::Cancel, &order);
        assert_eq!(
            (req.method(), req.path(), req.body_str()),
            (
                Method::Post,
                "/api/v2/mix/order/cancel-order",
                r#"{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginCoin":"USDT","clientOid":"T10000007EL001"}"#
            )
        );

        let reduce = OrderIntent {
            reduce_only: true,
            side: Side::Sell,
            tif: TimeInForce::Gtc,
            ..order
        };
        let body = built(&mut api, Call::Place, &reduce).body_str().to_string();
        assert!(
            body.contains(r#""side":"sell","orderType":"limit","force":"gtc","#)
                && body.contains(r#""reduceOnly":"YES""#),
            "{body}"
        );
    }

    #[test]
    fn spot_place_and_query_are_the_documented_requests_signed_as_computed_outside_carry() {
        let mut api = api("bitget-spot", false);
        let order = spot_sell();
        let req = built(&mut api, Call::Place, &order);
        assert_eq!(
            (req.method(), req.path(), req.body_str()),
            (
                Method::Post,
                "/api/v2/spot/trade/place-order",
                r#"{"symbol":"BTCUSDT","side":"sell","orderType":"limit","force":"gtc","price":"64000","size":"0.5","clientOid":"T10000007ES002","stpMode":"cancel_taker"}"#
            )
        );
        assert_eq!(
            headers(&req),
            signed_headers("33aZdMaCBuunMFBUyArDCDXqIsaqOifLrhKfzf7AvT4=")
        );

        let req = built(&mut api, Call::Query, &order);
        assert_eq!(
            (req.method(), req.path(), req.query_str()),
            (
                Method::Get,
                "/api/v2/spot/trade/orderInfo",
                "clientOid=T10000007ES002"
            )
        );
        assert_eq!(
            headers(&req),
            signed_headers("/ujNBTdD5jkezs7KxFhQqXW3jMPFFeSrS2QVuBBRE6o=")
        );

        let req = built(&mut api, Call::Cancel, &order);
        assert_eq!(
            (req.method(), req.path(), req.body_str()),
            (
                Method::Post,
                "/api/v2/spot/trade/cancel-order",
                r#"{"symbol":"BTCUSDT","clientOid":"T10000007ES002"}"#
            )
        );
    }

    #[test]
    fn margin_spot_goes_through_the_cross_margin_path_and_borrows() {
        let mut api = api("bitget-spot", true);
        let order = spot_sell();
        let req = built(&mut api, Call::Place, &order);
        assert_eq!(
            (req.path(), req.body_str()),
            (
                "/api/v2/margin/crossed/place-order",
                r#"{"symbol":"BTCUSDT","side":"sell","orderType":"limit","loanType":"autoLoanAndRepay","force":"gtc","price":"64000","baseSize":"0.5","clientOid":"T10000007ES002","stpMode":"cancel_taker"}"#
            )
        );
        let req = built(&mut api, Call::Query, &order);
        assert_eq!(
            (req.path(), req.query_str()),
            (
                "/api/v2/margin/crossed/history-orders",
                "clientOid=T10000007ES002&startTime=1692310400000&symbol=BTCUSDT"
            )
        );
        assert_eq!(
            built(&mut api, Call::Cancel, &order).path(),
            "/api/v2/margin/crossed/cancel-order"
        );
    }

    #[test]
    fn demo_trading_adds_paptrading_and_a_missing_passphrase_is_sent_empty() {
        let mut c = config(false);
        c.demo_trading = true;
        c.credentials.passphrase = None;
        let mut api = BitgetOrders::new("bitget-perp".parse().unwrap(), &c);
        let req = built(&mut api, Call::Place, &perp_buy());
        assert_eq!(req.header_value("paptrading"), Some("1"));
        assert_eq!(req.header_value("ACCESS-PASSPHRASE"), Some(""));
        assert!(!format!("{api:?}").contains("bg-secret"));
    }

    #[test]
    fn setup_checks_one_way_mode_and_sets_cross_margin_and_leverage_on_perps_only() {
        let mut api = api("bitget-perp", false);
        let mut req = Request::new();
        assert!(api.build_setup(Setup::OneWayMode, "BTCUSDT", TS, &mut req));
        assert_eq!(
            (req.method(), req.path(), req.query_str()),
            (
                Method::Get,
                "/api/v2/mix/account/account",
                "marginCoin=USDT&productType=USDT-FUTURES&symbol=BTCUSDT"
            )
        );
        assert!(req.header_value("ACCESS-SIGN").is_some());
        assert!(api.build_setup(Setup::CrossMargin, "BTCUSDT", TS, &mut req));
        assert_eq!(
            (req.path(), req.body_str()),
            (
                "/api/v2/mix/account/set-margin-mode",
                r#"{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginCoin":"USDT","marginMode":"crossed"}"#
            )
        );
        assert!(api.build_setup(Setup::Leverage(3), "BTCUSDT", TS, &mut req));
        assert_eq!(
            (req.path(), req.body_str()),
            (
                "/api/v2/mix/account/set-leverage",
                r#"{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginCoin":"USDT","leverage":"3"}"#
            )
        );
        for margin in [false, true] {
            let mut spot = api_for_spot(margin);
            assert!(!spot.build_setup(Setup::OneWayMode, "BTCUSDT", TS, &mut req));
        }
        // No dead-man switch over REST.
        assert!(!api.build_dead_man_switch("BTCUSDT", 60_000, TS, &mut req));
    }

    fn api_for_spot(margin: bool) -> BitgetOrders {
        api("bitget-spot", margin)
    }

    fn answer(status: u16, body: &str) -> (u16, Vec<Option<String>>, Vec<u8>) {
        (status, vec![None, None], body.as_bytes().to_vec())
    }

    fn read(
        api: &mut BitgetOrders,
        call: Call,
        order: &OrderIntent,
        status: u16,
        body: &str,
    ) -> Reading {
        let (status, headers, body) = answer(status, body);
        api.read(
            call,
            order,
            &Answer {
                status,
                headers: &headers,
                body: &body,
            },
        )
    }

    fn rejected(reason: RejectReason, code: i32) -> Reading {
        Reading::Rejected { reason, code }
    }

    #[test]
    fn every_listed_code_has_its_reading() {
        use RejectReason as R;
        let table: &[(&[i32], Reading)] = &[
            (&[40786, 43118, 45034], Reading::Duplicate { code: 0 }),
            (&[43001, 31007, 40109, 40768], Reading::NotFound { code: 0 }),
            (
                &[40004, 40005, 40008, 40078, 40079],
                Reading::Timestamp { code: 0 },
            ),
            (
                &[429, 1001, 50009],
                Reading::Throttled {
                    code: 0,
                    retry_after_ms: None,
                },
            ),
            (
                &[40015, 40200, 40604, 40725, 45001, 50008],
                Reading::Unknown { code: 0 },
            ),
            (
                &[
                    40001, 40002, 40003, 40006, 40009, 40010, 40011, 40012, 40014, 40018, 40037,
                ],
                rejected(R::Auth, 0),
            ),
            (
                &[40711, 40712, 40754, 40762, 40798, 43012],
                rejected(R::InsufficientBalance, 0),
            ),
            (
                &[40108, 40808, 45110, 45111, 45112],
                rejected(R::InvalidQuantity, 0),
            ),
            (&[40706, 41103], rejected(R::InvalidPrice, 0)),
            (&[22002, 40757, 45006], rejected(R::ReduceOnly, 0)),
            (&[40774, 40305, 40017, 40034, 12345], rejected(R::Other, 0)),
        ];
        let with_code = |r: Reading, code: i32| match r {
            Reading::Duplicate { .. } => Reading::Duplicate { code },
            Reading::NotFound { .. } => Reading::NotFound { code },
            Reading::Timestamp { .. } => Reading::Timestamp { code },
            Reading::Throttled { retry_after_ms, .. } => Reading::Throttled {
                code,
                retry_after_ms,
            },
            Reading::Unknown { .. } => Reading::Unknown { code },
            Reading::Rejected { reason, .. } => Reading::Rejected { reason, code },
            other => other,
        };
        let mut api = api("bitget-perp", false);
        for (codes, want) in table {
            for &code in *codes {
                assert_eq!(reading_of_code(code), with_code(*want, code), "{code}");
                // As Bitget sends them: HTTP 400 (or 200) with the code as a string.
                for status in [200, 400] {
                    let body =
                        format!(r#"{{"code":"{code}","msg":"m","requestTime":1,"data":null}}"#);
                    assert_eq!(
                        read(&mut api, Call::Place, &perp_buy(), status, &body),
                        with_code(*want, code),
                        "{code} HTTP {status}"
                    );
                }
            }
        }
    }

    #[test]
    fn http_statuses_without_a_code_are_read_for_what_they_say() {
        let mut api = api("bitget-perp", false);
        let order = perp_buy();
        let cases = [
            // 429: throttled, with the pause the venue asks for.
            (
                429,
                "Too Many Requests",
                Some("2"),
                Reading::Throttled {
                    code: 429,
                    retry_after_ms: Some(2_000),
                },
            ),
            (
                429,
                r#"{"code":"429","msg":"Too Many Requests","data":null}"#,
                None,
                Reading::Throttled {
                    code: 429,
                    retry_after_ms: None,
                },
            ),
            // 5xx: the order may exist, whatever the body says.
            (
                500,
                r#"{"code":"40015","msg":"System is abnormal, please try again later","data":null}"#,
                None,
                Reading::Unknown { code: 40015 },
            ),
            (
                502,
                "<html>Bad Gateway</html>",
                None,
                Reading::Unknown { code: 502 },
            ),
            (
                503,
                r#"{"code":"43001","msg":"x","data":null}"#,
                None,
                Reading::Unknown { code: 43001 },
            ),
            // A 200 that is not Bitget's envelope says nothing either.
            (200, "<html>ok</html>", None, Reading::Unknown { code: 200 }),
            // A proxy's refusal: not placed.
            (
                403,
                "<html>Forbidden</html>",
                None,
                rejected(RejectReason::Auth, 403),
            ),
            (404, "Not Found", None, rejected(RejectReason::Other, 404)),
        ];
        for (status, body, retry_after, want) in cases {
            let headers = vec![None, retry_after.map(str::to_string)];
            let got = api.read(
                Call::Place,
                &order,
                &Answer {
                    status,
                    headers: &headers,
                    body: body.as_bytes(),
                },
            );
            assert_eq!(got, want, "HTTP {status} {body}");
        }
    }

    /// `contract/trade/Place-Order` and `Cancel-Order`: acknowledgements only (a reduce-only
    /// order's may lack the `orderId`).
    #[test]
    fn place_and_cancel_answers_are_acknowledgements() {
        let mut api = api("bitget-perp", false);
        let order = perp_buy();
        for body in [
            r#"{"code":"00000","msg":"success","requestTime":1695806875837,"data":{"clientOid":"121211212122","orderId":"121211212122"}}"#,
            r#"{"code":"00000","msg":"success","requestTime":1695806875837,"data":{"clientOid":"121211212122"}}"#,
            r#"{"code":"00000","msg":"success","requestTime":1695806875837,"data":{"clientOid":"121211212122","orderId":null}}"#,
        ] {
            assert_eq!(
                read(&mut api, Call::Place, &order, 200, body),
                Reading::Order(OrderState::empty(OrderStatus::Open)),
                "{body}"
            );
        }
        assert_eq!(
            read(
                &mut api,
                Call::Cancel,
                &order,
                200,
                r#"{"code":"00000","data":{"orderId":"123","clientOid":""},"msg":"success","requestTime":1627293504612}"#
            ),
            Reading::CancelAccepted,
            "a cancel's answer does not tell what executed before it"
        );
    }

    /// `contract/trade/Get-Order-Details`'s example (its `fee` empty: nothing charged yet).
    const MIX_DETAIL_DOC: &str = r#"{"code":"00000","msg":"success","requestTime":1695823012595,"data":{"symbol":"ethusdt","size":"2","orderId":"123456","clientOid":"77777","baseVolume":"2","priceAvg":"1900","fee":"","price":"1900","state":"filled","side":"buy","force":"gtc","totalProfits":"2112","posSide":"long","marginCoin":"usdt","presetStopSurplusPrice":"1910","presetStopSurplusType":"fill_price","presetStopSurplusExecutePrice":"1911","presetStopLossPrice":"1890","presetStopLossType":"fill_price","presetStopLossExecutePrice":"1989","quoteVolume":"1900","orderType":"limit","leverage":"20","marginMode":"cross","reduceOnly":"yes","enterPointSource":"api","tradeSide":"","posMode":"one_way_mode","orderSource":"normal","cancelReason":"","cTime":"1627300098776","uTime":"1627300098776"}}"#;

    /// `spot/trade/Get-Order-Info`'s example: `feeDetail` a JSON string of numbers, the older
    /// BGB entry beside `newFees`.
    const SPOT_INFO_DOC: &str = r#"{"code":"00000","msg":"success","requestTime":1695865476577,"data":[{"userId":"**********","symbol":"BTCUSDT","orderId":"121211212122","clientOid":"121211212122","price":"0","size":"10.0000000000000000","orderType":"market","side":"buy","status":"filled","priceAvg":"13000.0000000000000000","baseVolume":"0.0007000000000000","quoteVolume":"9.1000000000000000","enterPointSource":"API","feeDetail":"{\"BGB\":{\"deduction\":true,\"feeCoinCode\":\"BGB\",\"totalDeductionFee\":-0.0041,\"totalFee\":-0.0041},\"newFees\":{\"c\":0,\"d\":0,\"deduction\":false,\"r\":-0.000000700,\"t\":-0.000000700,\"totalDeductionFee\":0}}","orderSource":"market","cancelReason":"","cTime":"1695865232127","uTime":"1695865233051"}]}"#;

    /// `margin/cross/trade/Get-Cross-Order-History`'s example (no fill quantity field: a
    /// filled order executed its `baseSize`).
    const MARGIN_HISTORY_DOC: &str = r#"{"code":"00000","msg":"success","requestTime":1695636829522,"data":{"orderList":[{"orderId":"121211212122","symbol":"BTCUSDT","orderType":"limit","enterPointSource":"API","clientOid":"myClientOid001","loanType":"normal","price":"32111","side":"buy","status":"filled","baseSize":"0.01","quoteSize":"1000","priceAvg":"32111","size":"0.01","amount":"1000","force":"gtc","cTime":"1695629859821","uTime":"1695629890839"}],"maxId":"121211212122","minId":"121211212122"}}"#;

    fn state(
        status: OrderStatus,
        cum: &str,
        avg: &str,
        fee_quote: &str,
        fee_base: &str,
    ) -> Reading {
        Reading::Order(OrderState {
            status,
            cum_qty: d(cum),
            avg_price: d(avg),
            fee_quote: d(fee_quote),
            fee_base: d(fee_base),
            fees: Fees::Known,
        })
    }

    #[test]
    fn documented_query_answers_read_as_order_states() {
        let order = perp_buy();
        assert_eq!(
            read(
                &mut api("bitget-perp", false),
                Call::Query,
                &order,
                200,
                MIX_DETAIL_DOC
            ),
            state(OrderStatus::Filled, "2", "1900", "0", "0")
        );
        // The list answers are searched for the order's own id: the examples' ids become it.
        // The spot example's fee was changed to a size that fits its fill (the docs print an
        // unrelated -0.112079256); the shape is theirs.
        let spot = spot_sell();
        let id = format!(r#""clientOid":"{}""#, spot.client_order_id.as_str());
        let info = SPOT_INFO_DOC.replace(r#""clientOid":"121211212122""#, &id);
        assert_eq!(
            read(
                &mut api("bitget-spot", false),
                Call::Query,
                &spot,
                200,
                &info
            ),
            state(OrderStatus::Filled, "0.0007", "13000", "0", "0.0000007")
        );
        let history = MARGIN_HISTORY_DOC.replace(r#""clientOid":"myClientOid001""#, &id);
        assert_eq!(
            read(
                &mut api("bitget-spot", true),
                Call::Query,
                &spot,
                200,
                &history
            ),
            state(OrderStatus::Filled, "0.01", "32111", "0", "0")
        );
    }

    #[test]
    fn order_states_and_fees_in_every_shape() {
        let perp = perp_buy();
        let spot = spot_sell();
        let id = spot.client_order_id.as_str();
        let (p, s, m) = (
            ("bitget-perp", false),
            ("bitget-spot", false),
            ("bitget-spot", true),
        );
        let mix = |st: &str, vol: &str, fee: &str| {
            format!(
                r#"{{"code":"00000","data":{{"clientOid":"x","state":"{st}","baseVolume":"{vol}","priceAvg":"65000.5","fee":"{fee}"}}}}"#
            )
        };
        let spot_row = |st: &str, side: &str, vol: &str, detail: &str| {
            format!(
                r#"{{"code":"00000","data":[{{"symbol":"BTCUSDT","clientOid":"{id}","status":"{st}","side":"{side}","baseVolume":"{vol}","priceAvg":"64000","feeDetail":{detail}}}]}}"#
            )
        };
        let margin_row = |fields: &str| {
            format!(
                r#"{{"code":"00000","data":{{"orderList":[{{"clientOid":"{id}",{fields}}}],"maxId":"1","minId":"1"}}}}"#
            )
        };
        let cases: Vec<((&str, bool), &OrderIntent, String, Reading)> = vec![
            (p, &perp, mix("live", "0", ""), state(OrderStatus::Open, "0", "0", "0", "0")),
            (p, &perp, mix("partially_filled", "0.004", "-0.156"), state(OrderStatus::Open, "0.004", "65000.5", "0.156", "0")),
            (p, &perp, mix("canceled", "0.004", "-0.156"), state(OrderStatus::Canceled, "0.004", "65000.5", "0.156", "0")),
            (p, &perp, mix("filled", "0.012", "-0.468"), state(OrderStatus::Filled, "0.012", "65000.5", "0.468", "0")),
            // A rebate (positive fee) lowers what was paid.
            (p, &perp, mix("filled", "0.012", "0.01"), state(OrderStatus::Filled, "0.012", "65000.5", "-0.01", "0")),
            (p, &perp, mix("expired_somehow", "0.012", "0"), Reading::Unknown { code: 0 }),
            // Success without the order: it does not say the order is absent.
            (p, &perp, r#"{"code":"00000","data":null}"#.to_string(), Reading::Unknown { code: 0 }),
            (p, &perp, r#"{"code":"43001","msg":"The order does not exist","data":null}"#.to_string(), Reading::NotFound { code: 43001 }),
            // Spot buy: the fee is taken from the base coin received.
            (s, &spot, spot_row("filled", "buy", "0.5", r#""{\"newFees\":{\"c\":0,\"d\":0,\"deduction\":false,\"r\":-0.0005,\"t\":-0.0005,\"totalDeductionFee\":0}}""#), state(OrderStatus::Filled, "0.5", "64000", "0", "0.0005")),
            // Spot sell: from the quote coin; strings are read as well as numbers.
            (s, &spot, spot_row("cancelled", "sell", "0.2", r#""{\"newFees\":{\"r\":\"-12.8\",\"t\":\"-12.8\"}}""#), state(OrderStatus::Canceled, "0.2", "64000", "12.8", "0")),
            // BGB paid it all: nothing taken from what was received.
            (s, &spot, spot_row("filled", "buy", "0.5", r#""{\"BGB\":{\"totalFee\":-0.01},\"newFees\":{\"c\":0,\"d\":0.01,\"r\":0,\"t\":-0.0005}}""#), state(OrderStatus::Filled, "0.5", "64000", "0", "0")),
            // Older orders: per-coin entries only.
            (s, &spot, spot_row("filled", "buy", "0.5", r#""{\"BTC\":{\"deduction\":false,\"feeCoinCode\":\"BTC\",\"totalFee\":-0.0005}}""#), state(OrderStatus::Filled, "0.5", "64000", "0", "0.0005")),
            (s, &spot, spot_row("filled", "sell", "0.5", r#""{\"BGB\":{\"totalFee\":-0.01}}""#), state(OrderStatus::Filled, "0.5", "64000", "0", "0")),
            (s, &spot, spot_row("live", "buy", "0", r#""{}""#), state(OrderStatus::Open, "0", "0", "0", "0")),
            (s, &spot, r#"{"code":"00000","data":[]}"#.to_string(), Reading::NotFound { code: 0 }),
            // Another id's order is not this one.
            (s, &spot, r#"{"code":"00000","data":[{"clientOid":"other","status":"filled","baseVolume":"1"}]}"#.to_string(), Reading::NotFound { code: 0 }),
            (m, &spot, margin_row(r#""status":"partially_fill","baseSize":"0.5","size":"0.5","fillQuantity":"0.2","fillPrice":"64000.5","priceAvg":"64000.5""#), state(OrderStatus::Open, "0.2", "64000.5", "0", "0")),
            (m, &spot, margin_row(r#""status":"live","baseSize":"0.5","size":"0.5""#), state(OrderStatus::Open, "0", "0", "0", "0")),
            (m, &spot, margin_row(r#""status":"reject","baseSize":"0.5","fillQuantity":"0""#), state(OrderStatus::Rejected, "0", "0", "0", "0")),
            // Cancelled with no fill quantity given: how much executed is not known.
            (m, &spot, margin_row(r#""status":"cancelled","baseSize":"0.5","size":"0.5""#), Reading::Unknown { code: 0 }),
        ];
        for ((venue, margin), order, body, want) in cases {
            let mut api = api(venue, margin);
            assert_eq!(
                read(&mut api, Call::Query, order, 200, &body),
                want,
                "{body}"
            );
        }
    }

    #[test]
    fn server_time_and_setup_answers() {
        let mut api = api("bitget-perp", false);
        let (status, headers, body) = answer(
            200,
            r#"{"code":"00000","msg":"success","requestTime":1688008631614,"data":{"serverTime":"1688008631614"}}"#,
        );
        let a = Answer {
            status,
            headers: &headers,
            body: &body,
        };
        assert_eq!(api.read_server_time(&a), Some(1_688_008_631_614));
        let (status, headers, body) = answer(200, "<html/>");
        let bad = Answer {
            status,
            headers: &headers,
            body: &body,
        };
        assert_eq!(api.read_server_time(&bad), None);

        let setup = |api: &mut BitgetOrders, setup: Setup, status: u16, body: &str| {
            let (status, headers, body) = answer(status, body);
            api.read_setup(
                setup,
                &Answer {
                    status,
                    headers: &headers,
                    body: &body,
                },
            )
        };
        let account = |mode: &str| {
            format!(
                r#"{{"code":"00000","data":{{"marginCoin":"USDT","marginMode":"crossed","posMode":"{mode}","crossedMarginLeverage":"3"}}}}"#
            )
        };
        assert_eq!(
            setup(&mut api, Setup::OneWayMode, 200, &account("one_way_mode")),
            Ok(())
        );
        let hedge = setup(&mut api, Setup::OneWayMode, 200, &account("hedge_mode")).unwrap_err();
        assert!(
            hedge.contains("hedge mode")
                && hedge.contains("POST /api/v2/mix/account/set-position-mode")
                && hedge.contains("one_way_mode"),
            "{hedge}"
        );
        assert_eq!(
            setup(
                &mut api,
                Setup::CrossMargin,
                200,
                r#"{"code":"00000","data":{"symbol":"BTCUSDT","marginMode":"crossed"}}"#
            ),
            Ok(())
        );
        assert!(setup(
            &mut api,
            Setup::CrossMargin,
            200,
            r#"{"code":"00000","data":{"marginMode":"isolated"}}"#
        )
        .is_err());
        assert_eq!(
            setup(
                &mut api,
                Setup::Leverage(3),
                200,
                r#"{"code":"00000","data":{"longLeverage":"3"}}"#
            ),
            Ok(())
        );
        let refused = setup(
            &mut api,
            Setup::Leverage(200),
            400,
            r#"{"code":"40797","msg":"Exceeded the maximum settable leverage","data":null}"#,
        )
        .unwrap_err();
        assert!(
            refused.contains("leverage 200")
                && refused.contains("40797")
                && refused.contains("Exceeded"),
            "{refused}"
        );
    }

    #[test]
    fn usage_headers_correct_the_budget_after_place_answers_only() {
        let api = api("bitget-perp", false);
        let headers = vec![Some("0".to_string()), None];
        let a = Answer {
            status: 200,
            headers: &headers,
            body: b"{}",
        };
        let mut budget = RateBudget::new(&PLACE_LIMITS);
        api.observe_usage(Call::Cancel, &a, &mut budget, 5_000);
        assert_eq!(
            budget.wait_ms(5_000),
            0,
            "a cancel's remaining count is about cancels"
        );
        api.observe_usage(Call::Place, &a, &mut budget, 5_000);
        assert_eq!(budget.wait_ms(5_000), 1_000, "none left in this second");
        assert_eq!(api.usage_headers()[0], "x-mbx-used-remain-limit");
        assert_eq!(
            api.order_limits(),
            &[Limit {
                count: 10,
                window_ms: 1_000
            }]
        );
    }

    #[test]
    fn json_numbers_are_read_as_the_decimals_written() {
        for text in [
            "-0.112079256",
            "-0.0041",
            "0.0000025",
            "0",
            "123456.789012345",
            "-1e-7",
            "65000.1",
        ] {
            let v: f64 = text.parse().unwrap();
            let want = Decimal::from_scientific(text).unwrap_or_else(|_| d(text));
            assert_eq!(decimal_of_f64(v), Some(want), "{text}");
        }
        // Beyond what a decimal holds: nothing, rather than a cut or rounded number.
        assert_eq!(decimal_of_f64(1e300), None);
        assert_eq!(decimal_of_f64(-1.5e-30), None);
        let fee: Scalar<'_> = serde_json::from_str("-0.000000700").unwrap();
        assert_eq!(fee.decimal(), Some(d("-0.0000007")));
        let text: Scalar<'_> = serde_json::from_str(r#""-0.000000700""#).unwrap();
        assert_eq!(text.decimal(), Some(d("-0.0000007")));
        let empty: Scalar<'_> = serde_json::from_str(r#""""#).unwrap();
        assert_eq!(empty.decimal(), Some(Decimal::ZERO));
    }
}

//! Gate v4 order entry for a [`LiveGateway`](crate::gateway::live::LiveGateway): USDT-settled
//! futures (`gate-perp`, `/api/v4/futures/usdt/...`) and spot (`gate-spot`, `/api/v4/spot/...`),
//! each request built and signed into the gateway's reused [`Request`] ([`super::sign`]: seconds
//! timestamp, hex HMAC-SHA512 over the SHA-512 of the body).
//!
//! # Orders
//!
//! Futures: `POST /futures/usdt/orders` with `{"contract","size","price","tif","text",
//! "reduce_only","stp_act"}`. `size` is a signed JSON integer of contracts of the contract's
//! `quanto_multiplier` (the intent's `qty_venue`; negative sells), `tif` is `ioc` or `gtc`.
//! Spot: `POST /spot/orders` with `{"currency_pair","type":"limit","account","side","amount",
//! "price","time_in_force","text","stp_act","action_mode":"FULL"}`, `amount` in the base
//! asset. With
//! `ApiConfig::margin_spot` the spot leg trades through the margin account (`"account":"margin"`)
//! and a sell borrows what it lacks (`"auto_borrow":true`): a margin account cannot repay
//! automatically per order, so the loan stays until repaid. Prices and quantities are written
//! from the intent's exact decimals.
//!
//! The client order id travels as `text` = `t-` + carry's id (Gate's rule: `t-` and at most 28
//! of `[0-9A-Za-z_.-]`; carry's ids are at most 28 letters and digits), and the prefix is
//! stripped when an answer is read.
//!
//! Self-trade prevention: every order carries `stp_act=cn` (cancel newest, i.e. the incoming
//! taker). Gate applies it only between accounts of one STP group, and documents that passing
//! `stp_act` from an account in no STP group is an error: an account that trades live must join
//! (or create) an STP group first, or every order is refused.
//!
//! # Answers
//!
//! Placing answers with the whole order (HTTP 201), so an IOC order's outcome is known from the
//! place answer. Futures: `status` `open|finished`, `size` and `left` signed contracts (numbers,
//! or strings in the newer docs), `fill_price` the average; what executed is `|size| - |left|`
//! (a futures order has no filled field). The order carries its fee rates (`tkfr`, `mkfr`) but
//! not its fee: an IOC order only ever takes, so its fee is its executed notional at `tkfr`; a
//! GTC order's fills may be either side, so its fee is not reported from the order (the fill
//! history has it). Spot: `status` `open|closed|cancelled`, `filled_amount`, `avg_deal_price`,
//! `fee` in `fee_currency`: the base asset (spot buys) is reported as `fee_base`, the quote
//! asset as `fee_quote`; fees paid in GT points are not counted.
//!
//! Errors are `{"label","message"}` with an HTTP status. Gate has no numeric codes, so each
//! label carries a stable number of carry's for the logs and reports (the `LABELS` table):
//!
//! | code | labels | reading |
//! |---|---|---|
//! | 101-108 | `INVALID_KEY`, `INVALID_SIGNATURE`, `INVALID_CREDENTIALS`, `IP_FORBIDDEN`, `READ_ONLY`, `MISSING_REQUIRED_HEADER`, `ACCOUNT_LOCKED`, `FORBIDDEN` | rejected: auth |
//! | 120 | `REQUEST_EXPIRED` | timestamp (resync, same `text`) |
//! | 130 | `TOO_MANY_REQUESTS` | throttled, until `X-Gate-RateLimit-Reset-Timestamp` |
//! | 201-202 | `ORDER_NOT_FOUND`, `CLIENT_ID_NOT_FOUND` | not found |
//! | 203-206 | `ORDER_FINISHED`, `ORDER_CLOSED`, `ORDER_CANCELLED`, `ORDER_NOT_OWNED` | rejected: other (a cancel of an order that ended; the gateway then queries) |
//! | 210-211 | `ORDER_EXISTS`, `DUPLICATE_REQUEST` | duplicate |
//! | 301-309 | `BALANCE_NOT_ENOUGH`, `INSUFFICIENT_AVAILABLE`, `MARGIN_BALANCE_NOT_ENOUGH`, `FUTURES_BALANCE_NOT_ENOUGH`, `AUTO_BORROW_TOO_MUCH`, `INITIAL_MARGIN_TOO_LOW`, `RISK_LIMIT_EXCEEDED`, `LIQUIDATE_IMMEDIATELY`, `TRADE_RESTRICTED` | rejected: insufficient balance |
//! | 401-406 | `SIZE_TOO_SMALL`, `SIZE_TOO_LARGE`, `AMOUNT_TOO_LITTLE`, `AMOUNT_TOO_MUCH`, `INVALID_PRECISION`, `QUANTITY_NOT_ENOUGH` | rejected: invalid quantity |
//! | 501-503 | `PRICE_TOO_DEVIATED`, `PRICE_OVER_LIQUIDATION`, `PRICE_OVER_BANKRUPT` | rejected: invalid price |
//! | 521-523 | `INCREASE_POSITION`, `REDUCE_EXCEEDED`, `POSITION_EMPTY` | rejected: reduce only |
//! | 531-532 | `ORDER_POC_IMMEDIATE` (futures), `POC_FILL_IMMEDIATELY` (spot) | rejected: post only |
//! | 601-633 | request, contract, account, position and leverage labels (`INVALID_PARAM_VALUE`, `CONTRACT_NOT_FOUND`, `POSITION_DUAL_MODE`, `MARGIN_NOT_SUPPORTED`, `LEVERAGE_TOO_HIGH`, `NO_CHANGE`, ...) | rejected: other |
//! | 901-903 | `INTERNAL`, `SERVER_ERROR`, `TOO_BUSY` | unknown (the order may exist) |
//! | 990 | a label not in the table | rejected: other (4xx) or unknown (5xx) |
//! | 991-996 | carry's own: see [`code`] | |
//! | HTTP status | an error answer without a label (a proxy's page) | unknown |
//!
//! # Looking an order up, and why a resend looks first
//!
//! Query and cancel name the order by its text in the path (`/futures/usdt/orders/t-…`,
//! `/spot/orders/t-…?currency_pair=`). Gate finds a futures order by text only while it is
//! open or up to 60 s after it ended, a spot order only while it is open ("zero-fill order
//! cannot be retrieved for 10 minutes after cancellation" from the order lists either), so
//! [`OrderApi::lookup_is_windowed`] is true: a "not found" is checked against the fill history
//! (`GET /futures/usdt/my_trades?contract=`, `GET /spot/my_trades?currency_pair=`, the last
//! 1000 trades, whose rows carry `text`) before it is believed.
//!
//! Gate does not refuse a second order with a `text` it has seen: it takes it as a new order
//! (a maintainer: "the latter one will override"). A place therefore never learns of a
//! duplicate from the venue, and sending an order again under the same id is **not** safe:
//! `resolve = "resend"` must not be used with Gate (the config refuses it at load). A `Resend`
//! intent that reaches this module anyway never places blindly; it goes through three steps,
//! one request per attempt (the engine sends the resend again while the order stays unknown):
//!
//! 1. look the text up: found (open, or ended within Gate's window) → `Duplicate`;
//! 2. search the fill history for the text: any fill → `Duplicate`;
//! 3. only then place it.
//!
//! Steps 1 and 2 answer `Unknown` when they find nothing, so that the next attempt takes the
//! next step; a step more than 60 s after the one before starts over. What the venue may still
//! hold after both found nothing is an order that ended without a fill (and not an open one):
//! placing the order then cannot double a position. The place step forgets the checks before
//! it is sent, so an attempt whose answer is lost starts over from step 1.
//!
//! # Account setup, dead-man switch, limits
//!
//! One-way mode is checked (`GET /futures/usdt/accounts`, `in_dual_mode` must be false; a
//! hedge-mode account is refused with how to switch). Cross margin is set with
//! `POST /futures/usdt/positions/cross_mode` `{"mode":"CROSS","contract"}`; a leverage is set as
//! cross margin with that leverage, `POST /futures/usdt/positions/{contract}/leverage?leverage=0
//! &cross_leverage_limit=N` (Gate: leverage 0 is cross; N > 0 would switch to isolated).
//! Resting orders are covered by `POST /futures/usdt/countdown_cancel_all` `{"timeout",
//! "contract"}` (spot: `/spot/countdown_cancel_all` with `currency_pair`), in whole seconds, at
//! least 5. Documented order limits: futures place 100 r/s, spot place 10 r/s per pair (here
//! for the whole spot gateway, which is stricter); every answer's
//! `X-Gate-RateLimit-Requests-Remain` / `-Limit` correct the budget when they report the place
//! limit. The server time is `GET /api/v4/spot/time` (ms).

use carry_engine::execution::client_id::ClientOrderId;
use carry_engine::execution::order::{
    IntentAction, OrderIntent, OrderStatus, RejectReason, Side, TimeInForce,
};
use carry_engine::market::venue::Exchange;
use carry_engine::Venue;
use rust_decimal::Decimal;

use crate::gateway::budget::{Limit, RateBudget};
use crate::gateway::credentials::Secret;
use crate::gateway::http::Answer;
use crate::gateway::live::{ApiConfig, Call, OrderApi, OrderState, Reading, Setup};
use crate::gateway::request::{Method, Request};
use crate::gateway::signer::Signer;
use crate::json::cursor::{Cursor, Dec, Int, Scanner};
use crate::transport::clock;

use super::sign;

const FUTURES_ORDERS: &str = "/api/v4/futures/usdt/orders";
const FUTURES_TRADES: &str = "/api/v4/futures/usdt/my_trades";
const FUTURES_ACCOUNTS: &str = "/api/v4/futures/usdt/accounts";
const FUTURES_POSITIONS: &str = "/api/v4/futures/usdt/positions";
const FUTURES_CROSS_MODE: &str = "/api/v4/futures/usdt/positions/cross_mode";
const FUTURES_COUNTDOWN: &str = "/api/v4/futures/usdt/countdown_cancel_all";
const SPOT_ORDERS: &str = "/api/v4/spot/orders";
const SPOT_TRADES: &str = "/api/v4/spot/my_trades";
const SPOT_COUNTDOWN: &str = "/api/v4/spot/countdown_cancel_all";
const SERVER_TIME: &str = "/api/v4/spot/time";

/// Self-trade prevention on every order: cancel newest (the incoming order).
const STP_ACT: &str = "cn";
/// Fill-history rows asked for (Gate's maximum page).
const TRADES_LIMIT: i64 = 1_000;
/// Gate's shortest dead-man countdown, in seconds.
const MIN_COUNTDOWN_S: i64 = 5;

/// Documented per-account order limits.
const FUTURES_LIMITS: [Limit; 1] = [Limit {
    count: 100,
    window_ms: 1_000,
}];
const SPOT_LIMITS: [Limit; 1] = [Limit {
    count: 10,
    window_ms: 1_000,
}];

/// The usage headers, in the order [`Answer::header`] indexes them.
const USAGE_HEADERS: [&str; 3] = [
    "X-Gate-RateLimit-Requests-Remain",
    "X-Gate-RateLimit-Limit",
    "X-Gate-RateLimit-Reset-Timestamp",
];
const REMAIN: usize = 0;
const LIMIT: usize = 1;
const RESET: usize = 2;

/// A resend's steps are one request each; a step this long after the one before starts over
/// (Gate's text lookup covers 60 s after an order ends).
const RESEND_FRESH_MS: i64 = 60_000;
/// Resends being checked at once (more drop the oldest check, which then starts over).
const MAX_RESEND_CHECKS: usize = 64;

/// carry's own codes, where the answer carried no label of Gate's.
pub mod code {
    /// A label that is not in the module's table of labels.
    pub const UNLISTED_LABEL: i32 = 990;
    /// A resend found the order under its text (by lookup or in the fill history).
    pub const RESEND_FOUND: i32 = 991;
    /// A resend's lookup found nothing: the next attempt searches the fill history.
    pub const RESEND_NOT_OPEN: i32 = 992;
    /// A resend found no fill either: the next attempt places the order.
    pub const RESEND_NO_FILLS: i32 = 993;
    /// The fill history holds no trade with this text.
    pub const NO_FILLS: i32 = 994;
    /// A success answer that carry cannot read.
    pub const UNREADABLE: i32 = 995;
    /// An order answer whose `text` is another order's.
    pub const OTHER_TEXT: i32 = 996;
}

/// What a label means for the request it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meaning {
    Reject(RejectReason),
    NotFound,
    Duplicate,
    Timestamp,
    Throttled,
    Unknown,
}

use Meaning::{Duplicate, NotFound, Reject, Throttled, Timestamp, Unknown};
use RejectReason::{
    Auth, InsufficientBalance, InvalidPrice, InvalidQuantity, Other, PostOnly, ReduceOnly,
};

/// Every label Gate documents for these endpoints (and the simulator uses), the stable number
/// carry reports for it, and what it means.
const LABELS: [(&str, i32, Meaning); 77] = [
    ("INVALID_KEY", 101, Reject(Auth)),
    ("INVALID_SIGNATURE", 102, Reject(Auth)),
    ("INVALID_CREDENTIALS", 103, Reject(Auth)),
    ("IP_FORBIDDEN", 104, Reject(Auth)),
    ("READ_ONLY", 105, Reject(Auth)),
    ("MISSING_REQUIRED_HEADER", 106, Reject(Auth)),
    ("ACCOUNT_LOCKED", 107, Reject(Auth)),
    ("FORBIDDEN", 108, Reject(Auth)),
    ("REQUEST_EXPIRED", 120, Timestamp),
    ("TOO_MANY_REQUESTS", 130, Throttled),
    ("ORDER_NOT_FOUND", 201, NotFound),
    ("CLIENT_ID_NOT_FOUND", 202, NotFound),
    ("ORDER_FINISHED", 203, Reject(Other)),
    ("ORDER_CLOSED", 204, Reject(Other)),
    ("ORDER_CANCELLED", 205, Reject(Other)),
    ("ORDER_NOT_OWNED", 206, Reject(Other)),
    ("ORDER_EXISTS", 210, Duplicate),
    ("DUPLICATE_REQUEST", 211, Duplicate),
    ("BALANCE_NOT_ENOUGH", 301, Reject(InsufficientBalance)),
    ("INSUFFICIENT_AVAILABLE", 302, Reject(InsufficientBalance)),
    (
        "MARGIN_BALANCE_NOT_ENOUGH",
        303,
        Reject(InsufficientBalance),
    ),
    (
        "FUTURES_BALANCE_NOT_ENOUGH",
        304,
        Reject(InsufficientBalance),
    ),
    ("AUTO_BORROW_TOO_MUCH", 305, Reject(InsufficientBalance)),
    ("INITIAL_MARGIN_TOO_LOW", 306, Reject(InsufficientBalance)),
    ("RISK_LIMIT_EXCEEDED", 307, Reject(InsufficientBalance)),
    ("LIQUIDATE_IMMEDIATELY", 308, Reject(InsufficientBalance)),
    ("TRADE_RESTRICTED", 309, Reject(InsufficientBalance)),
    ("SIZE_TOO_SMALL", 401, Reject(InvalidQuantity)),
    ("SIZE_TOO_LARGE", 402, Reject(InvalidQuantity)),
    ("AMOUNT_TOO_LITTLE", 403, Reject(InvalidQuantity)),
    ("AMOUNT_TOO_MUCH", 404, Reject(InvalidQuantity)),
    ("INVALID_PRECISION", 405, Reject(InvalidQuantity)),
    ("QUANTITY_NOT_ENOUGH", 406, Reject(InvalidQuantity)),
    ("PRICE_TOO_DEVIATED", 501, Reject(InvalidPrice)),
    ("PRICE_OVER_LIQUIDATION", 502, Reject(InvalidPrice)),
    ("PRICE_OVER_BANKRUPT", 503, Reject(InvalidPrice)),
    ("INCREASE_POSITION", 521, Reject(ReduceOnly)),
    ("REDUCE_EXCEEDED", 522, Reject(ReduceOnly)),
    ("POSITION_EMPTY", 523, Reject(ReduceOnly)),
    ("ORDER_POC_IMMEDIATE", 531, Reject(PostOnly)),
    ("POC_FILL_IMMEDIATELY", 532, Reject(PostOnly)),
    ("INVALID_PARAM_VALUE", 601, Reject(Other)),
    ("INVALID_PROTOCOL", 602, Reject(Other)),
    ("INVALID_ARGUMENT", 603, Reject(Other)),
    ("INVALID_REQUEST_BODY", 604, Reject(Other)),
    ("MISSING_REQUIRED_PARAM", 605, Reject(Other)),
    ("BAD_REQUEST", 606, Reject(Other)),
    ("INVALID_CONTENT_TYPE", 607, Reject(Other)),
    ("NOT_ACCEPTABLE", 608, Reject(Other)),
    ("METHOD_NOT_ALLOWED", 609, Reject(Other)),
    ("NOT_FOUND", 610, Reject(Other)),
    ("CONTRACT_NOT_FOUND", 611, Reject(Other)),
    ("INVALID_CURRENCY_PAIR", 612, Reject(Other)),
    ("INVALID_CURRENCY", 613, Reject(Other)),
    ("CONTRACT_IN_DELISTING", 614, Reject(Other)),
    ("CONTRACT_NO_COUNTER", 615, Reject(Other)),
    ("POSITION_DUAL_MODE", 616, Reject(Other)),
    ("MARGIN_NOT_SUPPORTED", 617, Reject(Other)),
    ("FOK_NOT_FILL", 618, Reject(Other)),
    ("ORDER_FOK", 619, Reject(Other)),
    ("ORDER_BOOK_NOT_FOUND", 620, Reject(Other)),
    ("TOO_MANY_ORDERS", 621, Reject(Other)),
    ("USER_NOT_FOUND", 622, Reject(Other)),
    ("LEVERAGE_TOO_HIGH", 623, Reject(Other)),
    ("LEVERAGE_TOO_LOW", 624, Reject(Other)),
    ("POSITION_HOLDING", 625, Reject(Other)),
    ("POSITION_CROSS_MARGIN", 626, Reject(Other)),
    ("POSITION_IN_LIQUIDATION", 627, Reject(Other)),
    ("POSITION_IN_CLOSE", 628, Reject(Other)),
    ("ORDER_PENDING", 629, Reject(Other)),
    ("NO_CHANGE", 630, Reject(Other)),
    ("INVALID_CLIENT_ORDER_ID", 631, Reject(Other)),
    ("ACCOUNT_EXCEPTION", 632, Reject(Other)),
    ("MARGIN_BALANCE_EXCEPTION", 633, Reject(Other)),
    ("INTERNAL", 901, Unknown),
    ("SERVER_ERROR", 902, Unknown),
    ("TOO_BUSY", 903, Unknown),
];

/// The number and meaning of `label`; an unlisted label is a refusal when the status says
/// the request was wrong (4xx), unknown otherwise.
fn meaning(label: &[u8], status: u16) -> (i32, Meaning) {
    match LABELS.iter().find(|(l, _, _)| l.as_bytes() == label) {
        Some(&(_, code, m)) => (code, m),
        None if (400..500).contains(&status) => (code::UNLISTED_LABEL, Reject(Other)),
        None => (code::UNLISTED_LABEL, Unknown),
    }
}

/// Short ASCII text on the stack: an order's `text`, a symbol.
#[derive(Clone, Copy)]
struct Short {
    buf: [u8; 32],
    len: usize,
}

impl Short {
    const fn new() -> Short {
        Short {
            buf: [0; 32],
            len: 0,
        }
    }

    /// The concatenation of `parts`, cut at 32 bytes (never reached: Gate's texts are at most
    /// 30, its symbols shorter).
    fn set(&mut self, parts: &[&[u8]]) {
        self.len = 0;
        for p in parts {
            let n = p.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&p[..n]);
            self.len += n;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// Where a resend of one client order id stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResendStep {
    /// Look the text up.
    Look,
    /// Search the fill history.
    History,
    /// Place the order.
    Place,
}

#[derive(Clone, Copy, Debug)]
struct ResendCheck {
    cid: ClientOrderId,
    step: ResendStep,
    /// Venue time of the step that led here.
    since_ms: i64,
}

/// One Gate market's order API (`gate-perp` or `gate-spot`).
pub struct GateOrders {
    venue: Venue,
    signer: Signer,
    key: Secret,
    margin_spot: bool,
    /// `t-` + the client order id of the request being built.
    text: Short,
    /// The symbol of the request being built (a spot answer's fee currency is read against it).
    symbol: Short,
    /// The resend step the last request built was for (`None`: not a resend).
    resend_sent: Option<ResendStep>,
    /// Venue time of the last request built.
    built_ms: i64,
    resends: Vec<ResendCheck>,
    answers: AnswerReader,
}

impl std::fmt::Debug for GateOrders {
    // The key and the signer stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateOrders")
            .field("venue", &self.venue)
            .field("margin_spot", &self.margin_spot)
            .finish_non_exhaustive()
    }
}

impl GateOrders {
    /// The order API of `venue` (`gate-perp` or `gate-spot`) for the account in `config`.
    pub fn new(venue: Venue, config: &ApiConfig) -> GateOrders {
        debug_assert_eq!(venue.exchange, Exchange::Gate, "{venue} is not Gate");
        GateOrders {
            venue,
            signer: Signer::sha512(&config.credentials.secret),
            key: config.credentials.key.clone(),
            margin_spot: config.margin_spot && !venue.is_perp(),
            text: Short::new(),
            symbol: Short::new(),
            resend_sent: None,
            built_ms: 0,
            resends: Vec::with_capacity(MAX_RESEND_CHECKS),
            answers: AnswerReader::new(),
        }
    }

    fn perp(&self) -> bool {
        self.venue.is_perp()
    }

    fn sign(&self, venue_ms: i64, req: &mut Request) {
        sign::sign(
            &self.signer,
            self.key.expose(),
            venue_ms.div_euclid(1000),
            req,
        );
    }

    fn build_place(&mut self, order: &OrderIntent, req: &mut Request) {
        let buy = order.side == Side::Buy;
        let tif = match order.tif {
            TimeInForce::Ioc => "ioc",
            TimeInForce::Gtc => "gtc",
        };
        if self.perp() {
            req.start(Method::Post, FUTURES_ORDERS);
            req.json_begin();
            req.json_str("contract", self.symbol.as_str());
            let size = if buy {
                order.qty_venue
            } else {
                -order.qty_venue
            };
            req.json_number("size", size);
            req.json_decimal("price", order.price);
            req.json_str("tif", tif);
            req.json_str("text", self.text.as_str());
            req.json_bool("reduce_only", order.reduce_only);
            req.json_str("stp_act", STP_ACT);
            req.json_end();
        } else {
            req.start(Method::Post, SPOT_ORDERS);
            req.json_begin();
            req.json_str("currency_pair", self.symbol.as_str());
            req.json_str("type", "limit");
            req.json_str("account", if self.margin_spot { "margin" } else { "spot" });
            req.json_str("side", if buy { "buy" } else { "sell" });
            req.json_decimal("amount", order.qty_venue);
            req.json_decimal("price", order.price);
            req.json_str("time_in_force", tif);
            req.json_str("text", self.text.as_str());
            req.json_str("stp_act", STP_ACT);
            // The whole order in the answer (Gate's default, asked for all the same).
            req.json_str("action_mode", "FULL");
            if self.margin_spot && !buy {
                req.json_bool("auto_borrow", true);
            }
            req.json_end();
        }
    }

    /// Query (`GET`) or cancel (`DELETE`) by text.
    fn build_by_text(&mut self, method: Method, req: &mut Request) {
        req.start(
            method,
            if self.perp() {
                FUTURES_ORDERS
            } else {
                SPOT_ORDERS
            },
        );
        req.path_segment(self.text.as_str());
        if !self.perp() {
            req.query("currency_pair", self.symbol.as_str());
        }
    }

    fn build_fills(&mut self, req: &mut Request) {
        if self.perp() {
            req.start(Method::Get, FUTURES_TRADES);
            req.query("contract", self.symbol.as_str());
        } else {
            req.start(Method::Get, SPOT_TRADES);
            req.query("currency_pair", self.symbol.as_str());
            if self.margin_spot {
                req.query("account", "margin");
            }
        }
        req.query_int("limit", TRADES_LIMIT);
    }

    /// The step a resend of `cid` is at, at venue time `now_ms`.
    fn resend_step(&mut self, cid: &ClientOrderId, now_ms: i64) -> ResendStep {
        match self.resends.iter().position(|r| r.cid == *cid) {
            Some(i) if now_ms.saturating_sub(self.resends[i].since_ms) <= RESEND_FRESH_MS => {
                self.resends[i].step
            }
            Some(i) => {
                self.resends.swap_remove(i);
                ResendStep::Look
            }
            None => ResendStep::Look,
        }
    }

    fn set_resend_step(&mut self, cid: &ClientOrderId, step: ResendStep) {
        let since_ms = self.built_ms;
        match self.resends.iter_mut().find(|r| r.cid == *cid) {
            Some(r) => {
                r.step = step;
                r.since_ms = since_ms;
            }
            None => {
                if self.resends.len() == MAX_RESEND_CHECKS {
                    self.resends.remove(0);
                }
                self.resends.push(ResendCheck {
                    cid: *cid,
                    step,
                    since_ms,
                });
            }
        }
    }

    fn forget_resend(&mut self, cid: &ClientOrderId) {
        self.resends.retain(|r| r.cid != *cid);
    }

    /// Reads an answer as `call` (a resend's steps read theirs as the call they made).
    fn read_as(&mut self, call: Call, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        if !(200..300).contains(&answer.status) {
            return self.answers.error(answer);
        }
        let perp = self.perp();
        if call == Call::Fills {
            return match self
                .answers
                .fills(answer.body, self.text.as_bytes(), perp, &self.symbol)
            {
                Some(sum) if sum.rows > 0 => Reading::Order(sum.state(order)),
                Some(_) => Reading::NotFound {
                    code: code::NO_FILLS,
                },
                None => Reading::Unknown {
                    code: code::UNREADABLE,
                },
            };
        }
        self.answers
            .order(answer.body, order, perp, &self.text, &self.symbol)
    }

    fn read_resend(
        &mut self,
        step: ResendStep,
        order: &OrderIntent,
        answer: &Answer<'_>,
    ) -> Reading {
        let cid = order.client_order_id;
        match step {
            ResendStep::Look => match self.read_as(Call::Query, order, answer) {
                Reading::Order(_) => {
                    self.forget_resend(&cid);
                    Reading::Duplicate {
                        code: code::RESEND_FOUND,
                    }
                }
                Reading::NotFound { .. } => {
                    self.set_resend_step(&cid, ResendStep::History);
                    Reading::Unknown {
                        code: code::RESEND_NOT_OPEN,
                    }
                }
                r => passed_on(r),
            },
            ResendStep::History => match self.read_as(Call::Fills, order, answer) {
                Reading::Order(state) if !state.cum_qty.is_zero() => {
                    self.forget_resend(&cid);
                    Reading::Duplicate {
                        code: code::RESEND_FOUND,
                    }
                }
                Reading::Order(_) | Reading::NotFound { .. } => {
                    self.set_resend_step(&cid, ResendStep::Place);
                    Reading::Unknown {
                        code: code::RESEND_NO_FILLS,
                    }
                }
                r => passed_on(r),
            },
            ResendStep::Place => self.read_as(Call::Place, order, answer),
        }
    }

    fn setup_said(&mut self, setup: Setup, answer: &Answer<'_>) -> Result<(), String> {
        let f = match self.answers.object(answer.body) {
            Some(f) => f,
            None if (200..300).contains(&answer.status) => {
                return Err(format!(
                    "HTTP {}: an answer carry cannot read",
                    answer.status
                ))
            }
            None => return Err(format!("HTTP {} without a label", answer.status)),
        };
        if let Some(label) = f.label {
            if label == b"NO_CHANGE" {
                return Ok(());
            }
            return Err(format!(
                "{}: {}",
                String::from_utf8_lossy(label),
                String::from_utf8_lossy(f.message.unwrap_or_default())
            ));
        }
        match setup {
            Setup::OneWayMode => match f.in_dual_mode {
                Some(false) => Ok(()),
                Some(true) => Err(
                    "the futures account is in dual (hedge) position mode; carry \
                     trades one-way positions: switch with POST \
                     /api/v4/futures/usdt/dual_mode?dual_mode=false (Gate allows it only while \
                     no position or order is open)"
                        .to_string(),
                ),
                None => Err("the futures account answer has no in_dual_mode".to_string()),
            },
            Setup::CrossMargin => {
                // The answer is the position: `pos_margin_mode` where Gate sends it, else
                // leverage 0 (Gate's cross).
                let leverage = value(f.leverage);
                let cross = match f.pos_margin_mode {
                    Some(mode) => mode == b"cross",
                    None => leverage.is_none_or(|l| l.is_zero()),
                };
                if cross {
                    return Ok(());
                }
                Err(format!(
                    "still isolated after switching to cross (pos_margin_mode {:?}, leverage {:?})",
                    f.pos_margin_mode.map(String::from_utf8_lossy),
                    leverage
                ))
            }
            Setup::Leverage(n) => {
                let leverage = value(f.leverage);
                let limit = value(f.cross_leverage_limit);
                let cross = leverage.is_none_or(|l| l.is_zero());
                if cross && limit.is_none_or(|l| l == Decimal::from(n)) {
                    return Ok(());
                }
                Err(format!(
                    "asked for cross margin at leverage {n}; the position says leverage \
                     {leverage:?}, cross_leverage_limit {limit:?}"
                ))
            }
        }
    }
}

/// What a resend step passes on from a reading that is neither found nor not found: timestamp
/// and throttle answers (nothing happened; the gateway deals with them), and for the rest
/// `Unknown`: a failed lookup says nothing about the order.
fn passed_on(r: Reading) -> Reading {
    match r {
        Reading::Timestamp { .. } | Reading::Throttled { .. } | Reading::Unknown { .. } => r,
        Reading::Rejected { code, .. }
        | Reading::Duplicate { code }
        | Reading::NotFound { code } => Reading::Unknown { code },
        Reading::Order(_) | Reading::CancelAccepted => Reading::Unknown {
            code: code::UNREADABLE,
        },
    }
}

/// A decimal that is there.
fn value(d: Dec) -> Option<Decimal> {
    match d {
        Dec::Val(v) => Some(v),
        _ => None,
    }
}

impl crate::gateway::live::NewOrderApi for GateOrders {
    fn new_api(venue: Venue, config: &ApiConfig) -> GateOrders {
        GateOrders::new(venue, config)
    }
}

impl OrderApi for GateOrders {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn usage_headers(&self) -> &'static [&'static str] {
        &USAGE_HEADERS
    }

    fn order_limits(&self) -> &'static [Limit] {
        if self.perp() {
            &FUTURES_LIMITS
        } else {
            &SPOT_LIMITS
        }
    }

    fn build(
        &mut self,
        call: Call,
        order: &OrderIntent,
        symbol: &str,
        venue_ms: i64,
        req: &mut Request,
    ) {
        self.text.set(&[b"t-", order.client_order_id.as_bytes()]);
        self.symbol.set(&[symbol.as_bytes()]);
        self.built_ms = venue_ms;
        self.resend_sent = None;
        match call {
            Call::Place if order.action == IntentAction::Resend => {
                let step = self.resend_step(&order.client_order_id, venue_ms);
                self.resend_sent = Some(step);
                match step {
                    ResendStep::Look => self.build_by_text(Method::Get, req),
                    ResendStep::History => self.build_fills(req),
                    ResendStep::Place => {
                        // Forgotten before it is sent: if its answer is lost, the next resend
                        // looks again rather than place a second order.
                        self.forget_resend(&order.client_order_id);
                        self.build_place(order, req);
                    }
                }
            }
            Call::Place => self.build_place(order, req),
            Call::Cancel => self.build_by_text(Method::Delete, req),
            Call::Query => self.build_by_text(Method::Get, req),
            Call::Fills => self.build_fills(req),
        }
        self.sign(venue_ms, req);
    }

    fn read(&mut self, call: Call, order: &OrderIntent, answer: &Answer<'_>) -> Reading {
        self.text.set(&[b"t-", order.client_order_id.as_bytes()]);
        match self.resend_sent.take() {
            Some(step) if call == Call::Place => self.read_resend(step, order, answer),
            _ => self.read_as(call, order, answer),
        }
    }

    fn build_server_time(&self, req: &mut Request) {
        req.start(Method::Get, SERVER_TIME);
    }

    fn read_server_time(&self, answer: &Answer<'_>) -> Option<i64> {
        if answer.status != 200 {
            return None;
        }
        server_time(answer.body)
    }

    fn build_setup(
        &mut self,
        setup: Setup,
        symbol: &str,
        venue_ms: i64,
        req: &mut Request,
    ) -> bool {
        if !self.perp() {
            return false;
        }
        match setup {
            Setup::OneWayMode => req.start(Method::Get, FUTURES_ACCOUNTS),
            Setup::CrossMargin => {
                req.start(Method::Post, FUTURES_CROSS_MODE);
                req.json_begin();
                req.json_str("mode", "CROSS");
                req.json_str("contract", symbol);
                req.json_end();
            }
            Setup::Leverage(n) => {
                req.start(Method::Post, FUTURES_POSITIONS);
                req.path_segment(symbol);
                req.path_segment("leverage");
                req.query_int("leverage", 0);
                req.query_int("cross_leverage_limit", i64::from(n));
            }
        }
        self.sign(venue_ms, req);
        true
    }

    fn read_setup(&mut self, setup: Setup, answer: &Answer<'_>) -> Result<(), String> {
        self.setup_said(setup, answer)
    }

    fn build_dead_man_switch(
        &mut self,
        symbol: &str,
        countdown_ms: u64,
        venue_ms: i64,
        req: &mut Request,
    ) -> bool {
        let seconds = i64::try_from(countdown_ms.div_ceil(1000))
            .unwrap_or(i64::MAX)
            .max(MIN_COUNTDOWN_S);
        if self.perp() {
            req.start(Method::Post, FUTURES_COUNTDOWN);
            req.json_begin();
            req.json_int("timeout", seconds);
            req.json_str("contract", symbol);
        } else {
            req.start(Method::Post, SPOT_COUNTDOWN);
            req.json_begin();
            req.json_int("timeout", seconds);
            req.json_str("currency_pair", symbol);
        }
        req.json_end();
        self.sign(venue_ms, req);
        true
    }

    fn observe_usage(
        &self,
        _call: Call,
        answer: &Answer<'_>,
        budget: &mut RateBudget,
        now_ms: u64,
    ) {
        let header = |i: usize| answer.header(i).and_then(|v| v.trim().parse::<u32>().ok());
        let (Some(remain), Some(limit)) = (header(REMAIN), header(LIMIT)) else {
            return;
        };
        // Only the place limit's usage says anything about the budget, which counts orders.
        let place = self.order_limits()[0];
        if limit == place.count {
            budget.observe_used(place.window_ms, limit.saturating_sub(remain), now_ms);
        }
    }

    fn lookup_is_windowed(&self) -> bool {
        true
    }
}

/// The fields carry reads from Gate's answers (orders, trades, errors, account and position),
/// borrowed from the answer.
#[derive(Default)]
struct Fields<'a> {
    label: Option<&'a [u8]>,
    message: Option<&'a [u8]>,
    status: Option<&'a [u8]>,
    text: Option<&'a [u8]>,
    /// Futures: signed contracts (orders and trades).
    size: Dec,
    /// Futures: signed contracts not executed; spot: base not executed.
    left: Dec,
    /// Futures: the average fill price.
    fill_price: Dec,
    tkfr: Dec,
    /// Spot: the order's or the trade's base amount.
    amount: Dec,
    filled_amount: Dec,
    filled_total: Dec,
    avg_deal_price: Dec,
    fee: Dec,
    fee_currency: Option<&'a [u8]>,
    currency_pair: Option<&'a [u8]>,
    /// Trades.
    price: Dec,
    in_dual_mode: Option<bool>,
    leverage: Dec,
    cross_leverage_limit: Dec,
    pos_margin_mode: Option<&'a [u8]>,
}

impl<'a> Fields<'a> {
    /// Reads the object the cursor just entered.
    fn read(c: &mut Cursor<'a>) -> Fields<'a> {
        let mut f = Fields::default();
        while let Some(key) = c.next_key() {
            match key {
                b"label" => f.label = c.str(),
                b"message" => f.message = c.str(),
                b"status" => f.status = c.str(),
                b"text" => f.text = c.str(),
                b"size" => f.size = c.decimal(),
                b"left" => f.left = c.decimal(),
                b"fill_price" => f.fill_price = c.decimal(),
                b"tkfr" => f.tkfr = c.decimal(),
                b"amount" => f.amount = c.decimal(),
                b"filled_amount" => f.filled_amount = c.decimal(),
                b"filled_total" => f.filled_total = c.decimal(),
                b"avg_deal_price" => f.avg_deal_price = c.decimal(),
                b"fee" => f.fee = c.decimal(),
                b"fee_currency" => f.fee_currency = c.str(),
                b"currency_pair" => f.currency_pair = c.str(),
                b"price" => f.price = c.decimal(),
                b"in_dual_mode" => f.in_dual_mode = c.bool(),
                b"leverage" => f.leverage = c.decimal(),
                b"cross_leverage_limit" => f.cross_leverage_limit = c.decimal(),
                b"pos_margin_mode" => f.pos_margin_mode = c.str(),
                _ => c.skip(),
            }
        }
        f
    }
}

/// Which asset of the pair `currency` is: the pair the answer names, else the one asked about
/// (`BTC_USDT`).
fn fee_asset(f: &Fields<'_>, asked: &Short) -> Option<FeeAsset> {
    let currency = f.fee_currency;
    let pair = f.currency_pair.unwrap_or(asked.as_bytes());
    let split = pair.iter().position(|&b| b == b'_')?;
    match currency? {
        c if c == &pair[..split] => Some(FeeAsset::Base),
        c if c == &pair[split + 1..] => Some(FeeAsset::Quote),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FeeAsset {
    Base,
    Quote,
}

/// Fills of one order summed from the trade history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FillSum {
    rows: usize,
    /// In the venue's order unit.
    qty: Decimal,
    /// Σ qty × price.
    value: Decimal,
    fee_quote: Decimal,
    fee_base: Decimal,
}

impl FillSum {
    fn state(&self, order: &OrderIntent) -> OrderState {
        OrderState {
            status: if self.qty >= order.qty_venue {
                OrderStatus::Filled
            } else {
                OrderStatus::Canceled
            },
            cum_qty: self.qty,
            avg_price: self
                .value
                .checked_div(self.qty)
                .unwrap_or_default()
                .normalize(),
            fee_quote: self.fee_quote,
            fee_base: self.fee_base,
            fees: crate::gateway::live::Fees::Known,
        }
    }
}

/// Reads answers with the feeds' exact JSON cursor, from a copy of the body in a buffer that
/// lives as long as the API.
struct AnswerReader {
    scanner: Scanner,
    frame: Vec<u8>,
}

impl AnswerReader {
    fn new() -> AnswerReader {
        AnswerReader {
            scanner: Scanner::new(),
            frame: Vec::with_capacity(4096),
        }
    }

    /// The root object of `body`, read in full; `None` when it is not one valid JSON object.
    fn object(&mut self, body: &[u8]) -> Option<Fields<'_>> {
        self.frame.clear();
        self.frame.extend_from_slice(body);
        let mut c = self.scanner.scan(&mut self.frame).ok()?;
        if !c.object() {
            return None;
        }
        let f = Fields::read(&mut c);
        c.end().ok()?;
        Some(f)
    }

    /// What an error answer (status not 2xx) means.
    fn error(&mut self, answer: &Answer<'_>) -> Reading {
        let status = answer.status;
        let label = self.object(answer.body).and_then(|f| f.label);
        let Some(label) = label else {
            // No label: not Gate's own refusal (a proxy, a gateway page). Nothing says the
            // request was refused.
            return Reading::Unknown {
                code: i32::from(status),
            };
        };
        let (code, m) = meaning(label, status);
        match m {
            Reject(reason) => Reading::Rejected { reason, code },
            NotFound => Reading::NotFound { code },
            Duplicate => Reading::Duplicate { code },
            Timestamp => Reading::Timestamp { code },
            Throttled => Reading::Throttled {
                code,
                retry_after_ms: answer.header(RESET).and_then(retry_after_ms),
            },
            Unknown => Reading::Unknown { code },
        }
    }

    /// An order answer (place, query, cancel) as the order's state.
    fn order(
        &mut self,
        body: &[u8],
        order: &OrderIntent,
        perp: bool,
        text: &Short,
        pair: &Short,
    ) -> Reading {
        let unreadable = Reading::Unknown {
            code: code::UNREADABLE,
        };
        let Some(f) = self.object(body) else {
            return unreadable;
        };
        if f.text.is_some_and(|t| t != text.as_bytes()) {
            return Reading::Unknown {
                code: code::OTHER_TEXT,
            };
        }
        let state = if perp {
            futures_state(&f, order)
        } else {
            spot_state(&f, pair)
        };
        state.map_or(unreadable, Reading::Order)
    }

    /// The fills with `text` among the trade rows of `body`.
    fn fills(&mut self, body: &[u8], text: &[u8], perp: bool, pair: &Short) -> Option<FillSum> {
        self.frame.clear();
        self.frame.extend_from_slice(body);
        let mut c = self.scanner.scan(&mut self.frame).ok()?;
        if !c.array() {
            return None;
        }
        let mut sum = FillSum::default();
        while c.next_item() {
            if !c.object() {
                c.skip();
                continue;
            }
            let f = Fields::read(&mut c);
            if f.text != Some(text) {
                continue;
            }
            let qty = value(if perp { f.size } else { f.amount })?.abs();
            let price = value(f.price)?;
            let fee = value(f.fee).unwrap_or_default();
            sum.rows += 1;
            sum.qty += qty;
            sum.value += qty * price;
            match (perp, fee_asset(&f, pair)) {
                // Futures fees are in the settlement asset, the quote.
                (true, _) | (false, Some(FeeAsset::Quote)) => sum.fee_quote += fee,
                (false, Some(FeeAsset::Base)) => sum.fee_base += fee,
                (false, None) => {}
            }
        }
        c.end().ok()?;
        Some(sum)
    }
}

/// A futures order: `|size| - |left|` executed at `fill_price`; an IOC order's fee at `tkfr`.
fn futures_state(f: &Fields<'_>, order: &OrderIntent) -> Option<OrderState> {
    let size = value(f.size)?.abs();
    let left = value(f.left)?.abs();
    let cum = (size - left).max(Decimal::ZERO);
    let status = match f.status? {
        b"open" => OrderStatus::Open,
        b"finished" if left.is_zero() && !size.is_zero() => OrderStatus::Filled,
        b"finished" => OrderStatus::Canceled,
        _ => return None,
    };
    let avg = if cum.is_zero() {
        Decimal::ZERO
    } else {
        value(f.fill_price)?
    };
    let fee_quote = match (order.tif, value(f.tkfr)) {
        (TimeInForce::Ioc, Some(rate)) => crate::gateway::live::to_base(order, cum) * avg * rate,
        _ => Decimal::ZERO,
    };
    Some(OrderState {
        status,
        cum_qty: cum,
        avg_price: avg,
        fee_quote: fee_quote.normalize(),
        fee_base: Decimal::ZERO,
        fees: crate::gateway::live::Fees::Known,
    })
}

/// A spot order: `filled_amount` at `avg_deal_price`, the fee in base or quote.
fn spot_state(f: &Fields<'_>, pair: &Short) -> Option<OrderState> {
    let amount = value(f.amount)?;
    let cum = match value(f.filled_amount) {
        Some(filled) => filled,
        None => amount - value(f.left)?,
    };
    let status = match f.status? {
        b"open" => OrderStatus::Open,
        b"closed" | b"cancelled" if cum >= amount => OrderStatus::Filled,
        b"closed" | b"cancelled" => OrderStatus::Canceled,
        _ => return None,
    };
    let avg = match value(f.avg_deal_price) {
        _ if cum.is_zero() => Decimal::ZERO,
        Some(avg) if !avg.is_zero() => avg,
        _ => value(f.filled_total)?
            .checked_div(cum)
            .unwrap_or_default()
            .normalize(),
    };
    let fee = value(f.fee).unwrap_or_default();
    let (fee_quote, fee_base) = match fee_asset(f, pair) {
        Some(FeeAsset::Base) => (Decimal::ZERO, fee),
        Some(FeeAsset::Quote) => (fee, Decimal::ZERO),
        None => (Decimal::ZERO, Decimal::ZERO),
    };
    Some(OrderState {
        status,
        cum_qty: cum,
        avg_price: avg,
        fee_quote,
        fee_base,
        fees: crate::gateway::live::Fees::Known,
    })
}

/// `GET /spot/time`: `{"server_time": <ms>}`.
fn server_time(body: &[u8]) -> Option<i64> {
    let mut frame = body.to_vec();
    let mut scanner = Scanner::new();
    let mut c = scanner.scan(&mut frame).ok()?;
    if !c.object() {
        return None;
    }
    let mut t = Int::Absent;
    while let Some(key) = c.next_key() {
        match key {
            b"server_time" => t = c.int(),
            _ => c.skip(),
        }
    }
    c.end().ok()?;
    t.value()
}

/// How long until the window Gate names in `X-Gate-RateLimit-Reset-Timestamp` (ms; seconds
/// are read as such) resets, by the local clock, within 1 ms to 10 s.
fn retry_after_ms(reset: &str) -> Option<u64> {
    let mut reset: i64 = reset.trim().parse().ok()?;
    if reset < 100_000_000_000 {
        reset = reset.saturating_mul(1000);
    }
    let wait = reset.saturating_sub(clock::unix_ms()).clamp(1, 10_000);
    u64::try_from(wait).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::credentials::Credentials;
    use carry_engine::decision::target::PairId;
    use carry_engine::execution::order::{Leg, Step};
    use carry_engine::market::venue::Market;
    use carry_engine::InstrumentId;

    const PERP: Venue = Venue::new(Exchange::Gate, Market::Perp);
    const SPOT: Venue = Venue::new(Exchange::Gate, Market::Spot);
    /// 1 700 000 000 s and 999 ms: Gate signs whole seconds.
    const T: i64 = 1_700_000_000_999;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn config(margin_spot: bool) -> ApiConfig {
        ApiConfig {
            credentials: Credentials {
                key: Secret::new("gk"),
                secret: Secret::new("gate-secret"),
                passphrase: None,
            },
            recv_window_ms: 5_000,
            demo_trading: false,
            margin_spot,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn intent(
        venue: Venue,
        id: &str,
        side: Side,
        tif: TimeInForce,
        price: &str,
        qty_venue: &str,
        qty_base: &str,
    ) -> OrderIntent {
        OrderIntent {
            action: IntentAction::Place,
            client_order_id: ClientOrderId::from_bytes(id.as_bytes()).unwrap(),
            pair: PairId(0),
            cycle: 1,
            step: Step::Entry,
            leg: Leg::Long,
            attempt: 0,
            venue,
            instrument: InstrumentId(0),
            side,
            tif,
            reduce_only: false,
            price: d(price),
            qty_base: d(qty_base),
            qty_venue: d(qty_venue),
        }
    }

    /// A perp sell of 3 contracts of 0.0001 BTC.
    fn perp_sell() -> OrderIntent {
        OrderIntent {
            reduce_only: true,
            ..intent(
                PERP,
                "T1abc123",
                Side::Sell,
                TimeInForce::Ioc,
                "65000.10",
                "3",
                "0.0003",
            )
        }
    }

    fn spot_buy() -> OrderIntent {
        intent(
            SPOT,
            "T1abc124",
            Side::Buy,
            TimeInForce::Gtc,
            "64999.5",
            "0.0015",
            "0.0015",
        )
    }

    fn built(api: &mut GateOrders, call: Call, order: &OrderIntent) -> Request {
        let mut req = Request::new();
        api.build(call, order, "BTC_USDT", T, &mut req);
        req
    }

    fn headers(req: &Request) -> Vec<(&'static str, String)> {
        req.headers().map(|(n, v)| (n, v.to_string())).collect()
    }

    fn signed_headers(sign: &str) -> Vec<(&'static str, String)> {
        vec![
            ("KEY", "gk".into()),
            ("Timestamp", "1700000000".into()),
            ("SIGN", sign.into()),
            ("Content-Type", "application/json".into()),
            ("Accept", "application/json".into()),
        ]
    }

    fn answer<'a>(status: u16, headers: &'a [Option<String>], body: &'a str) -> Answer<'a> {
        Answer {
            status,
            headers,
            body: body.as_bytes(),
        }
    }

    const NO_HEADERS: [Option<String>; 3] = [None, None, None];

    // The signatures below were computed outside carry with python3:
    //   h = hashlib.sha512(body.encode()).hexdigest()
    //   s = f"{method}\n{path}\n{query}\n{h}\n1700000000"
    //   hmac.new(b"gate-secret", s.encode(), hashlib.sha512).hexdigest()

    #[test]
    fn a_perp_order_is_a_signed_integer_size_with_text_reduce_only_and_stp() {
        let mut api = GateOrders::new(PERP, &config(false));
        let req = built(&mut api, Call::Place, &perp_sell());
        assert_eq!(req.method(), Method::Post);
        assert_eq!(req.path(), "/api/v4/futures/usdt/orders");
        assert_eq!(req.query_str(), "");
        assert_eq!(
            req.body_str(),
            r#"{"contract":"BTC_USDT","size":-3,"price":"65000.1","tif":"ioc","text":"t-T1abc123","reduce_only":true,"stp_act":"cn"}"#
        );
        assert_eq!(
            headers(&req),
            signed_headers("10a4c0bbbbe105a3b7cfdafaa5761b9db2ca47dbce97b530368ed405417be4075ee917f32282e6cfa4cee845ca8ee9148006c1940b6589585dfd66b1704e5ee6")
        );
        // A GTC buy: positive size, gtc, not reduce-only.
        let buy = OrderIntent {
            side: Side::Buy,
            tif: TimeInForce::Gtc,
            reduce_only: false,
            ..perp_sell()
        };
        assert_eq!(
            built(&mut api, Call::Place, &buy).body_str(),
            r#"{"contract":"BTC_USDT","size":3,"price":"65000.1","tif":"gtc","text":"t-T1abc123","reduce_only":false,"stp_act":"cn"}"#
        );
    }

    #[test]
    fn a_spot_order_is_an_amount_in_base_and_margin_sells_borrow() {
        let mut api = GateOrders::new(SPOT, &config(false));
        let req = built(&mut api, Call::Place, &spot_buy());
        assert_eq!(
            (req.method(), req.path(), req.query_str()),
            (Method::Post, "/api/v4/spot/orders", "")
        );
        assert_eq!(
            req.body_str(),
            r#"{"currency_pair":"BTC_USDT","type":"limit","account":"spot","side":"buy","amount":"0.0015","price":"64999.5","time_in_force":"gtc","text":"t-T1abc124","stp_act":"cn","action_mode":"FULL"}"#
        );
        assert_eq!(
            headers(&req),
            signed_headers("6d0414276c8cc192ceda46c3a96908ea0eb2ce34c5c9d60b0ec05e18a5ddaca23225d164ded91f8a88a66eb08028d2a8e2aeb4d68e53432969165eee43ec3642")
        );
        let mut margin = GateOrders::new(SPOT, &config(true));
        let sell = OrderIntent {
            side: Side::Sell,
            tif: TimeInForce::Ioc,
            ..spot_buy()
        };
        assert_eq!(
            built(&mut margin, Call::Place, &sell).body_str(),
            r#"{"currency_pair":"BTC_USDT","type":"limit","account":"margin","side":"sell","amount":"0.0015","price":"64999.5","time_in_force":"ioc","text":"t-T1abc124","stp_act":"cn","action_mode":"FULL","auto_borrow":true}"#
        );
        // Buying back borrows nothing.
        assert!(!built(&mut margin, Call::Place, &spot_buy())
            .body_str()
            .contains("auto_borrow"));
        // The margin flag means nothing to the perp market.
        let mut perp = GateOrders::new(PERP, &config(true));
        assert!(!built(&mut perp, Call::Place, &perp_sell())
            .body_str()
            .contains("account"));
    }

    #[test]
    fn cancel_query_and_fills_name_the_order_by_its_text() {
        let mut perp = GateOrders::new(PERP, &config(false));
        let o = perp_sell();
        let req = built(&mut perp, Call::Cancel, &o);
        assert_eq!(
            (req.method(), req.path(), req.query_str(), req.body_str()),
            (
                Method::Delete,
                "/api/v4/futures/usdt/orders/t-T1abc123",
                "",
                ""
            )
        );
        assert_eq!(
            headers(&req),
            signed_headers("de66420b20d70d0d8124eac5e90ef3b627912401100162905f562ac042bd1822b3d4a30db9d4823d2f1c0158ee9015a0d92d12ed6fe08e3e643883830c4edfaa")
        );
        let req = built(&mut perp, Call::Query, &o);
        assert_eq!(
            (req.method(), req.path(), req.query_str()),
            (Method::Get, "/api/v4/futures/usdt/orders/t-T1abc123", "")
        );
        let req = built(&mut perp, Call::Fills, &o);
        assert_eq!(
            (req.method(), req.path(), req.query_str()),
            (
                Method::Get,
                "/api/v4/futures/usdt/my_trades",
                "contract=BTC_USDT&limit=1000"
            )
        );

        let mut spot = GateOrders::new(SPOT, &config(false));
        let o = spot_buy();
        let req = built(&mut spot, Call::Query, &o);
        assert_eq!(
            (req.method(), req.path(), req.query_str(), req.body_str()),
            (
                Method::Get,
                "/api/v4/spot/orders/t-T1abc124",
                "currency_pair=BTC_USDT",
                ""
            )
        );
        assert_eq!(
            headers(&req),
            signed_headers("770928d9c0186c2f677419dcbef07c94031599597aec84ff845c0351f4f9c87a46b782512269aff260d8bca89f6178f2ac1cb1e42341ee5e0305bb1fa367428a")
        );
        let req = built(&mut spot, Call::Cancel, &o);
        assert_eq!(
            (req.method(), req.path(), req.query_str()),
            (
                Method::Delete,
                "/api/v4/spot/orders/t-T1abc124",
                "currency_pair=BTC_USDT"
            )
        );
        let mut margin = GateOrders::new(SPOT, &config(true));
        assert_eq!(
            built(&mut margin, Call::Fills, &o).query_str(),
            "currency_pair=BTC_USDT&account=margin&limit=1000"
        );
    }

    #[test]
    fn setup_checks_one_way_and_sets_cross_margin_with_the_leverage() {
        let mut api = GateOrders::new(PERP, &config(false));
        let mut req = Request::new();
        assert!(api.build_setup(Setup::OneWayMode, "BTC_USDT", T, &mut req));
        assert_eq!(
            (req.method(), req.path(), req.query_str(), req.body_str()),
            (Method::Get, "/api/v4/futures/usdt/accounts", "", "")
        );
        assert!(api.build_setup(Setup::CrossMargin, "BTC_USDT", T, &mut req));
        assert_eq!(
            (req.method(), req.path(), req.body_str()),
            (
                Method::Post,
                "/api/v4/futures/usdt/positions/cross_mode",
                r#"{"mode":"CROSS","contract":"BTC_USDT"}"#
            )
        );
        assert!(api.build_setup(Setup::Leverage(5), "BTC_USDT", T, &mut req));
        assert_eq!(
            (req.method(), req.path(), req.query_str(), req.body_str()),
            (
                Method::Post,
                "/api/v4/futures/usdt/positions/BTC_USDT/leverage",
                "leverage=0&cross_leverage_limit=5",
                ""
            )
        );
        assert_eq!(req.header_value("Timestamp"), Some("1700000000"));
        let mut spot = GateOrders::new(SPOT, &config(false));
        for setup in [Setup::OneWayMode, Setup::CrossMargin, Setup::Leverage(3)] {
            assert!(
                !spot.build_setup(setup, "BTC_USDT", T, &mut req),
                "{setup:?}"
            );
        }
    }

    #[test]
    fn setup_answers_say_what_is_wrong_and_how_to_switch_out_of_hedge_mode() {
        let mut api = GateOrders::new(PERP, &config(false));
        let h = NO_HEADERS;
        let one_way = answer(200, &h, r#"{"user":1,"total":"10","in_dual_mode":false}"#);
        assert_eq!(api.read_setup(Setup::OneWayMode, &one_way), Ok(()));
        let hedge = answer(200, &h, r#"{"user":1,"in_dual_mode":true}"#);
        let said = api.read_setup(Setup::OneWayMode, &hedge).unwrap_err();
        assert!(
            said.contains("POST /api/v4/futures/usdt/dual_mode?dual_mode=false"),
            "{said}"
        );
        let cross5 = answer(
            200,
            &h,
            r#"{"contract":"BTC_USDT","size":0,"leverage":"0","cross_leverage_limit":"5"}"#,
        );
        assert_eq!(api.read_setup(Setup::Leverage(5), &cross5), Ok(()));
        assert_eq!(api.read_setup(Setup::CrossMargin, &cross5), Ok(()));
        assert!(api.read_setup(Setup::Leverage(10), &cross5).is_err());
        let isolated = answer(200, &h, r#"{"leverage":"10","cross_leverage_limit":"10"}"#);
        assert!(api.read_setup(Setup::Leverage(10), &isolated).is_err());
        assert!(api.read_setup(Setup::CrossMargin, &isolated).is_err());
        let said_cross = answer(200, &h, r#"{"leverage":"10","pos_margin_mode":"cross"}"#);
        assert_eq!(api.read_setup(Setup::CrossMargin, &said_cross), Ok(()));
        let unchanged = answer(400, &h, r#"{"label":"NO_CHANGE","message":"No change"}"#);
        assert_eq!(api.read_setup(Setup::Leverage(5), &unchanged), Ok(()));
        let refused = answer(
            401,
            &h,
            r#"{"label":"INVALID_KEY","message":"Invalid key"}"#,
        );
        assert_eq!(
            api.read_setup(Setup::OneWayMode, &refused),
            Err("INVALID_KEY: Invalid key".into())
        );
        assert_eq!(
            api.read_setup(Setup::OneWayMode, &answer(502, &h, "<html>")),
            Err("HTTP 502 without a label".into())
        );
    }

    #[test]
    fn the_dead_man_switch_counts_whole_seconds_of_at_least_five() {
        let mut req = Request::new();
        let mut perp = GateOrders::new(PERP, &config(false));
        assert!(perp.build_dead_man_switch("BTC_USDT", 60_000, T, &mut req));
        assert_eq!(
            (req.method(), req.path(), req.body_str()),
            (
                Method::Post,
                "/api/v4/futures/usdt/countdown_cancel_all",
                r#"{"timeout":60,"contract":"BTC_USDT"}"#
            )
        );
        assert!(req.header_value("SIGN").is_some());
        let mut spot = GateOrders::new(SPOT, &config(false));
        for (ms, want) in [(1_000, 5), (5_001, 6), (30_000, 30)] {
            assert!(spot.build_dead_man_switch("ETH_USDT", ms, T, &mut req));
            assert_eq!(req.path(), "/api/v4/spot/countdown_cancel_all");
            assert_eq!(
                req.body_str(),
                format!(r#"{{"timeout":{want},"currency_pair":"ETH_USDT"}}"#),
                "{ms}"
            );
        }
    }

    #[test]
    fn every_label_has_its_own_code() {
        let mut codes: Vec<i32> = LABELS.iter().map(|l| l.1).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), LABELS.len());
        let mut labels: Vec<&str> = LABELS.iter().map(|l| l.0).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), LABELS.len());
        let own = [
            code::UNLISTED_LABEL,
            code::RESEND_FOUND,
            code::RESEND_NOT_OPEN,
            code::RESEND_NO_FILLS,
            code::NO_FILLS,
            code::UNREADABLE,
            code::OTHER_TEXT,
        ];
        assert!(own.iter().all(|c| !codes.contains(c) && *c >= 990));
    }

    #[test]
    fn error_answers_read_as_named_readings() {
        use RejectReason as R;
        let mut api = GateOrders::new(PERP, &config(false));
        let o = perp_sell();
        let err = |label: &str| format!(r#"{{"label":"{label}","message":"m"}}"#);
        // (status, body) -> reading
        let cases: Vec<(u16, String, Reading)> = vec![
            (
                401,
                err("INVALID_SIGNATURE"),
                Reading::Rejected {
                    reason: R::Auth,
                    code: 102,
                },
            ),
            (
                401,
                err("INVALID_KEY"),
                Reading::Rejected {
                    reason: R::Auth,
                    code: 101,
                },
            ),
            (
                403,
                err("IP_FORBIDDEN"),
                Reading::Rejected {
                    reason: R::Auth,
                    code: 104,
                },
            ),
            (
                403,
                err("READ_ONLY"),
                Reading::Rejected {
                    reason: R::Auth,
                    code: 105,
                },
            ),
            (
                401,
                err("REQUEST_EXPIRED"),
                Reading::Timestamp { code: 120 },
            ),
            (404, err("ORDER_NOT_FOUND"), Reading::NotFound { code: 201 }),
            (
                404,
                err("CLIENT_ID_NOT_FOUND"),
                Reading::NotFound { code: 202 },
            ),
            (
                400,
                err("ORDER_FINISHED"),
                Reading::Rejected {
                    reason: R::Other,
                    code: 203,
                },
            ),
            (
                400,
                err("ORDER_CLOSED"),
                Reading::Rejected {
                    reason: R::Other,
                    code: 204,
                },
            ),
            (400, err("ORDER_EXISTS"), Reading::Duplicate { code: 210 }),
            (
                400,
                err("BALANCE_NOT_ENOUGH"),
                Reading::Rejected {
                    reason: R::InsufficientBalance,
                    code: 301,
                },
            ),
            (
                400,
                err("INSUFFICIENT_AVAILABLE"),
                Reading::Rejected {
                    reason: R::InsufficientBalance,
                    code: 302,
                },
            ),
            (
                400,
                err("MARGIN_BALANCE_NOT_ENOUGH"),
                Reading::Rejected {
                    reason: R::InsufficientBalance,
                    code: 303,
                },
            ),
            (
                400,
                err("SIZE_TOO_SMALL"),
                Reading::Rejected {
                    reason: R::InvalidQuantity,
                    code: 401,
                },
            ),
            (
                400,
                err("AMOUNT_TOO_LITTLE"),
                Reading::Rejected {
                    reason: R::InvalidQuantity,
                    code: 403,
                },
            ),
            (
                400,
                err("INVALID_PRECISION"),
                Reading::Rejected {
                    reason: R::InvalidQuantity,
                    code: 405,
                },
            ),
            (
                400,
                err("PRICE_TOO_DEVIATED"),
                Reading::Rejected {
                    reason: R::InvalidPrice,
                    code: 501,
                },
            ),
            (
                400,
                err("INCREASE_POSITION"),
                Reading::Rejected {
                    reason: R::ReduceOnly,
                    code: 521,
                },
            ),
            (
                400,
                err("ORDER_POC_IMMEDIATE"),
                Reading::Rejected {
                    reason: R::PostOnly,
                    code: 531,
                },
            ),
            (
                400,
                err("POC_FILL_IMMEDIATELY"),
                Reading::Rejected {
                    reason: R::PostOnly,
                    code: 532,
                },
            ),
            (
                400,
                err("INVALID_PARAM_VALUE"),
                Reading::Rejected {
                    reason: R::Other,
                    code: 601,
                },
            ),
            (
                400,
                err("POSITION_DUAL_MODE"),
                Reading::Rejected {
                    reason: R::Other,
                    code: 616,
                },
            ),
            (500, err("SERVER_ERROR"), Reading::Unknown { code: 902 }),
            (503, err("TOO_BUSY"), Reading::Unknown { code: 903 }),
            (
                400,
                err("SOMETHING_NEW"),
                Reading::Rejected {
                    reason: R::Other,
                    code: 990,
                },
            ),
            (500, err("SOMETHING_NEW"), Reading::Unknown { code: 990 }),
            (
                502,
                "<html>bad gateway</html>".into(),
                Reading::Unknown { code: 502 },
            ),
            (
                400,
                r#"{"message":"no label"}"#.into(),
                Reading::Unknown { code: 400 },
            ),
        ];
        for (status, body, want) in cases {
            for call in [Call::Place, Call::Cancel, Call::Query] {
                let got = api.read(call, &o, &answer(status, &NO_HEADERS, &body));
                assert_eq!(got, want, "{call:?} {status} {body}");
            }
        }
        // Throttled until the window Gate names resets (by the local clock), at most 10 s.
        let reset = (clock::unix_ms() + 400).to_string();
        let h = [Some("0".to_string()), Some("100".to_string()), Some(reset)];
        match api.read(Call::Place, &o, &answer(429, &h, &err("TOO_MANY_REQUESTS"))) {
            Reading::Throttled {
                code: 130,
                retry_after_ms: Some(ms),
            } => assert!((1..=400).contains(&ms), "{ms}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            api.read(
                Call::Place,
                &o,
                &answer(429, &NO_HEADERS, &err("TOO_MANY_REQUESTS"))
            ),
            Reading::Throttled {
                code: 130,
                retry_after_ms: None
            }
        );
    }

    fn state(status: OrderStatus, cum: &str, avg: &str, fee_q: &str, fee_b: &str) -> Reading {
        Reading::Order(OrderState {
            status,
            cum_qty: d(cum),
            avg_price: d(avg),
            fee_quote: d(fee_q),
            fee_base: d(fee_b),
            fees: crate::gateway::live::Fees::Known,
        })
    }

    #[test]
    fn futures_order_answers_executed_is_size_minus_left() {
        let mut api = GateOrders::new(PERP, &config(false));
        let gtc = OrderIntent {
            client_order_id: ClientOrderId::from_bytes(b"mycustomid").unwrap(),
            tif: TimeInForce::Gtc,
            ..perp_sell()
        };
        // The docs' cancel answer (FuturesOrder), with its `text` made this order's.
        let docs = r#"{"id":15675394,"user":100000,"contract":"BTC_USDT","create_time":1546569968,"size":6024,"iceberg":0,"left":6024,"price":"3765","fill_price":"0","mkfr":"-0.00025","tkfr":"0.00075","tif":"gtc","refu":0,"is_reduce_only":false,"is_close":false,"is_liq":false,"text":"t-mycustomid","status":"finished","finish_time":1514764900,"finish_as":"cancelled","stp_id":0,"stp_act":"-","amend_text":"-"}"#;
        // The newer docs' shape: sizes as strings.
        let newer = r#"{"id":15675394,"user":100000,"contract":"BTC_USDT","create_time":1546569968,"size":"6024","iceberg":"0","left":"6024","price":"3765","fill_price":"0","mkfr":"-0.00025","tkfr":"0.00075","tif":"gtc","refu":0,"is_reduce_only":false,"is_close":false,"is_liq":false,"text":"t-mycustomid","status":"finished","finish_time":1514764900,"finish_as":"cancelled","stp_id":0,"stp_act":"-","amend_text":"-","order_value":"64112.2099000000005","trade_value":"64112.2099000000005","market_order_slip_ratio":"0.03","pos_margin_mode":"isolated"}"#;
        for body in [docs, newer] {
            assert_eq!(
                api.read(Call::Cancel, &gtc, &answer(200, &NO_HEADERS, body)),
                state(OrderStatus::Canceled, "0", "0", "0", "0")
            );
        }
        // Open, partly filled; a GTC's fee is not on the order.
        let open = r#"{"id":1,"status":"open","contract":"BTC_USDT","size":-10,"left":-4,"price":"65000","fill_price":"65000.5","text":"t-mycustomid","tkfr":"0.00075","mkfr":"-0.00025","finish_as":"_update"}"#;
        assert_eq!(
            api.read(Call::Query, &gtc, &answer(200, &NO_HEADERS, open)),
            state(OrderStatus::Open, "6", "65000.5", "0", "0")
        );
        // An IOC sell of 3 contracts (0.0001 BTC each): 2 executed, the rest expired. Its fee
        // is the executed notional at tkfr: 2 × 0.0001 × 65000.1 × 0.00075 = 0.009750015.
        let ioc = r#"{"id":2,"status":"finished","finish_as":"ioc","contract":"BTC_USDT","size":-3,"left":-1,"price":"65000.1","fill_price":"65000.1","text":"t-T1abc123","tkfr":"0.00075","mkfr":"-0.00025","tif":"ioc"}"#;
        assert_eq!(
            api.read(Call::Place, &perp_sell(), &answer(201, &NO_HEADERS, ioc)),
            state(OrderStatus::Canceled, "2", "65000.1", "0.009750015", "0")
        );
        let filled = r#"{"id":3,"status":"finished","finish_as":"filled","size":-3,"left":0,"fill_price":"65000.2","text":"t-T1abc123","tkfr":"0.0005"}"#;
        assert_eq!(
            api.read(Call::Place, &perp_sell(), &answer(201, &NO_HEADERS, filled)),
            state(OrderStatus::Filled, "3", "65000.2", "0.00975003", "0")
        );
        // Another order's text, a body that is not an order, a truncated body: unknown.
        let other =
            r#"{"id":3,"status":"open","size":1,"left":1,"fill_price":"0","text":"t-someoneelse"}"#;
        for (body, code) in [
            (other, code::OTHER_TEXT),
            (r#"{"id":3}"#, code::UNREADABLE),
            (r#"{"id":3,"status":"open","size":1,"#, code::UNREADABLE),
            (r#"[]"#, code::UNREADABLE),
        ] {
            assert_eq!(
                api.read(Call::Place, &perp_sell(), &answer(201, &NO_HEADERS, body)),
                Reading::Unknown { code },
                "{body}"
            );
        }
    }

    #[test]
    fn spot_order_answers_report_the_fee_in_the_asset_it_was_taken_in() {
        let mut api = GateOrders::new(SPOT, &config(false));
        let o = OrderIntent {
            client_order_id: ClientOrderId::from_bytes(b"abc123").unwrap(),
            ..spot_buy()
        };
        // The docs' order (`GET /spot/orders` example): a buy filled, fee in BTC.
        let docs = r#"{"id":"1852454420","text":"t-abc123","amend_text":"-","create_time":"1710488334","update_time":"1710488334","create_time_ms":1710488334073,"update_time_ms":1710488334074,"status":"closed","currency_pair":"BTC_USDT","type":"limit","account":"unified","side":"buy","amount":"0.001","price":"65000","time_in_force":"gtc","iceberg":"0","left":"0","filled_amount":"0.001","fill_price":"63.4693","filled_total":"63.4693","avg_deal_price":"63469.3","fee":"0.00000022","fee_currency":"BTC","point_fee":"0","gt_fee":"0","gt_maker_fee":"0","gt_taker_fee":"0","gt_discount":false,"rebated_fee":"0","rebated_fee_currency":"USDT","finish_as":"filled"}"#;
        assert_eq!(
            api.read(Call::Query, &o, &answer(200, &NO_HEADERS, docs)),
            state(OrderStatus::Filled, "0.001", "63469.3", "0", "0.00000022")
        );
        // An IOC sell partly filled, fee in USDT; no avg_deal_price: filled_total / filled.
        let sell = r#"{"id":"7","text":"t-abc123","status":"cancelled","currency_pair":"BTC_USDT","side":"sell","amount":"0.01","left":"0.004","filled_amount":"0.006","filled_total":"390","fee":"0.78","fee_currency":"USDT","finish_as":"ioc"}"#;
        assert_eq!(
            api.read(Call::Place, &o, &answer(201, &NO_HEADERS, sell)),
            state(OrderStatus::Canceled, "0.006", "65000", "0.78", "0")
        );
        // Open; a fee in GT points is not counted.
        let open = r#"{"id":"8","text":"t-abc123","status":"open","amount":"0.01","left":"0.01","filled_amount":"0","avg_deal_price":"0","fee":"0.1","fee_currency":"GT","finish_as":"open"}"#;
        assert_eq!(
            api.read(Call::Place, &o, &answer(201, &NO_HEADERS, open)),
            state(OrderStatus::Open, "0", "0", "0", "0")
        );
    }

    #[test]
    fn the_fill_history_sums_the_trades_carrying_the_text() {
        let mut perp = GateOrders::new(PERP, &config(false));
        let o = OrderIntent {
            client_order_id: ClientOrderId::from_bytes(b"123456").unwrap(),
            qty_venue: d("300"),
            ..perp_sell()
        };
        // The docs' futures trade, another of the same order, and someone else's.
        let trades = r#"[{"id":121234231,"create_time":1514764800.123,"contract":"BTC_USDT","order_id":"21893289839","size":100,"price":"100.123","text":"t-123456","fee":"0.01","point_fee":"0","role":"taker","close_size":0},{"id":121234232,"create_time":1514764800.2,"contract":"BTC_USDT","order_id":"21893289839","size":"100","price":"100.323","text":"t-123456","fee":"0.02","role":"taker"},{"id":9,"size":-5,"price":"1","text":"t-other","fee":"1"}]"#;
        let filled = perp.read(Call::Fills, &o, &answer(200, &NO_HEADERS, trades));
        assert_eq!(
            filled,
            state(OrderStatus::Canceled, "200", "100.223", "0.03", "0")
        );
        assert_eq!(
            perp.read(Call::Fills, &o, &answer(200, &NO_HEADERS, "[]")),
            Reading::NotFound {
                code: code::NO_FILLS
            }
        );
        assert_eq!(
            perp.read(Call::Fills, &o, &answer(200, &NO_HEADERS, "{}")),
            Reading::Unknown {
                code: code::UNREADABLE
            }
        );

        // The docs' spot trade (an ETH_BTC buy, fee in ETH: the base).
        let mut spot = GateOrders::new(SPOT, &config(false));
        let o = OrderIntent {
            client_order_id: ClientOrderId::from_bytes(b"test").unwrap(),
            qty_venue: d("0.15"),
            ..spot_buy()
        };
        let trades = r#"[{"id":"1232893232","create_time":"1548000000","create_time_ms":"1548000000123.456","order_id":"4128442423","side":"buy","role":"maker","amount":"0.15","price":"0.03","fee":"0.0005","fee_currency":"ETH","point_fee":"0","gt_fee":"0","sequence_id":"588018","text":"t-test"}]"#;
        let mut req = Request::new();
        spot.build(Call::Fills, &o, "ETH_BTC", T, &mut req);
        assert_eq!(
            spot.read(Call::Fills, &o, &answer(200, &NO_HEADERS, trades)),
            state(OrderStatus::Filled, "0.15", "0.03", "0", "0.0005")
        );
    }

    #[test]
    fn the_server_time_is_read_in_ms() {
        let api = GateOrders::new(SPOT, &config(false));
        let mut req = Request::new();
        api.build_server_time(&mut req);
        assert_eq!(
            (req.method(), req.path(), req.headers().count()),
            (Method::Get, "/api/v4/spot/time", 0)
        );
        let a = answer(200, &NO_HEADERS, r#"{"server_time":1597026383085}"#);
        assert_eq!(api.read_server_time(&a), Some(1_597_026_383_085));
        for (status, body) in [(200, "{}"), (200, "[1]"), (500, r#"{"server_time":1}"#)] {
            assert_eq!(
                api.read_server_time(&answer(status, &NO_HEADERS, body)),
                None
            );
        }
    }

    #[test]
    fn a_resend_looks_then_searches_the_fills_then_places() {
        let mut api = GateOrders::new(PERP, &config(false));
        let resend = OrderIntent {
            action: IntentAction::Resend,
            ..perp_sell()
        };
        let not_found =
            r#"{"label":"CLIENT_ID_NOT_FOUND","message":"Order with this client id not found"}"#;
        let placed = r#"{"id":2,"status":"finished","size":-3,"left":0,"fill_price":"65000","text":"t-T1abc123","tkfr":"0"}"#;

        // 1. A lookup; nothing open: unknown, for the next attempt to go on.
        let req = built(&mut api, Call::Place, &resend);
        assert_eq!(
            (req.method(), req.path()),
            (Method::Get, "/api/v4/futures/usdt/orders/t-T1abc123")
        );
        assert_eq!(
            api.read(Call::Place, &resend, &answer(404, &NO_HEADERS, not_found)),
            Reading::Unknown {
                code: code::RESEND_NOT_OPEN
            }
        );
        // 2. The fill history; nothing there either.
        let req = built(&mut api, Call::Place, &resend);
        assert_eq!(req.path(), "/api/v4/futures/usdt/my_trades");
        let other = r#"[{"id":1,"size":1,"price":"1","text":"t-other","fee":"0"}]"#;
        assert_eq!(
            api.read(Call::Place, &resend, &answer(200, &NO_HEADERS, other)),
            Reading::Unknown {
                code: code::RESEND_NO_FILLS
            }
        );
        // 3. Only now the order.
        let req = built(&mut api, Call::Place, &resend);
        assert_eq!(
            (req.method(), req.path()),
            (Method::Post, "/api/v4/futures/usdt/orders")
        );
        assert!(req.body_str().contains(r#""text":"t-T1abc123""#));
        assert_eq!(
            api.read(Call::Place, &resend, &answer(201, &NO_HEADERS, placed)),
            state(OrderStatus::Filled, "3", "65000", "0", "0")
        );
        // The next resend of the same id looks first again.
        assert_eq!(built(&mut api, Call::Place, &resend).method(), Method::Get);
    }

    #[test]
    fn a_resend_that_finds_the_order_or_its_fills_is_a_duplicate() {
        let mut api = GateOrders::new(PERP, &config(false));
        let resend = OrderIntent {
            action: IntentAction::Resend,
            ..perp_sell()
        };
        let open =
            r#"{"id":2,"status":"open","size":-3,"left":-3,"fill_price":"0","text":"t-T1abc123"}"#;
        built(&mut api, Call::Place, &resend);
        assert_eq!(
            api.read(Call::Place, &resend, &answer(200, &NO_HEADERS, open)),
            Reading::Duplicate {
                code: code::RESEND_FOUND
            }
        );
        // Outside the lookup window, found in the fills.
        let not_found = r#"{"label":"CLIENT_ID_NOT_FOUND","message":"m"}"#;
        built(&mut api, Call::Place, &resend);
        api.read(Call::Place, &resend, &answer(404, &NO_HEADERS, not_found));
        let req = built(&mut api, Call::Place, &resend);
        assert_eq!(req.path(), "/api/v4/futures/usdt/my_trades");
        let fills = r#"[{"id":1,"size":-1,"price":"65000","text":"t-T1abc123","fee":"0.01"}]"#;
        assert_eq!(
            api.read(Call::Place, &resend, &answer(200, &NO_HEADERS, fills)),
            Reading::Duplicate {
                code: code::RESEND_FOUND
            }
        );
        assert_eq!(built(&mut api, Call::Place, &resend).method(), Method::Get);
    }

    #[test]
    fn a_resend_never_places_twice_when_an_answer_is_lost_or_a_step_is_stale() {
        let mut api = GateOrders::new(PERP, &config(false));
        let resend = OrderIntent {
            action: IntentAction::Resend,
            ..perp_sell()
        };
        let not_found = r#"{"label":"CLIENT_ID_NOT_FOUND","message":"m"}"#;
        let mut req = Request::new();
        let mut step = |api: &mut GateOrders, at: i64, body: Option<(u16, &str)>| {
            api.build(Call::Place, &resend, "BTC_USDT", at, &mut req);
            let sent = (req.method(), req.path().to_string());
            if let Some((status, body)) = body {
                api.read(Call::Place, &resend, &answer(status, &NO_HEADERS, body));
            }
            sent
        };
        let look = (
            Method::Get,
            "/api/v4/futures/usdt/orders/t-T1abc123".to_string(),
        );
        let history = (Method::Get, "/api/v4/futures/usdt/my_trades".to_string());
        let place = (Method::Post, "/api/v4/futures/usdt/orders".to_string());
        assert_eq!(step(&mut api, T, Some((404, not_found))), look);
        assert_eq!(step(&mut api, T + 1_000, Some((200, "[]"))), history);
        // The place's answer is lost (the gateway reads nothing): the next resend looks again.
        assert_eq!(step(&mut api, T + 2_000, None), place);
        assert_eq!(step(&mut api, T + 3_000, Some((404, not_found))), look);
        // A throttled or timestamp-refused lookup leaves the step as it was.
        let throttled = r#"{"label":"TOO_MANY_REQUESTS","message":"m"}"#;
        assert_eq!(step(&mut api, T + 4_000, Some((429, throttled))), history);
        assert_eq!(step(&mut api, T + 5_000, Some((200, "[]"))), history);
        // More than 60 s after the last step: from the start.
        assert_eq!(step(&mut api, T + 70_000, None), look);
        // A lookup that fails for another reason says nothing: unknown, step unchanged.
        let mut api = GateOrders::new(PERP, &config(false));
        api.build(Call::Place, &resend, "BTC_USDT", T, &mut Request::new());
        let refused = r#"{"label":"INVALID_SIGNATURE","message":"m"}"#;
        assert_eq!(
            api.read(Call::Place, &resend, &answer(401, &NO_HEADERS, refused)),
            Reading::Unknown { code: 102 }
        );
        let mut req = Request::new();
        api.build(Call::Place, &resend, "BTC_USDT", T, &mut req);
        assert_eq!(req.method(), Method::Get);
        assert_eq!(req.path(), look.1);
    }

    #[test]
    fn place_usage_headers_correct_the_budget() {
        let api = GateOrders::new(PERP, &config(false));
        let mut budget = RateBudget::new(&FUTURES_LIMITS);
        let h =
            |remain: &str, limit: &str| [Some(remain.to_string()), Some(limit.to_string()), None];
        // Another endpoint's limit (200 per 10 s): nothing to do with orders.
        let other = h("0", "200");
        api.observe_usage(Call::Place, &answer(200, &other, "{}"), &mut budget, 5_000);
        assert_eq!(budget.wait_ms(5_000), 0);
        // The place limit used up by someone else: carry waits for the window.
        let place = h("0", "100");
        api.observe_usage(Call::Place, &answer(201, &place, "{}"), &mut budget, 5_000);
        assert_eq!(budget.wait_ms(5_000), 1_000);
        let spot = GateOrders::new(SPOT, &config(false));
        let mut budget = RateBudget::new(&SPOT_LIMITS);
        spot.observe_usage(
            Call::Place,
            &answer(201, &h("4", "10"), "{}"),
            &mut budget,
            0,
        );
        for _ in 0..4 {
            assert_eq!(budget.wait_ms(0), 0);
            budget.spend(0);
        }
        assert_eq!(budget.wait_ms(0), 1_000);
        assert_eq!(spot.order_limits(), &SPOT_LIMITS);
        assert_eq!(api.order_limits(), &FUTURES_LIMITS);
        assert!(api.lookup_is_windowed());
    }

    #[test]
    fn debug_shows_neither_key_nor_secret() {
        let api = GateOrders::new(PERP, &config(false));
        let shown = format!("{api:?}");
        assert!(
            !shown.contains("gk") && !shown.contains("gate-secret"),
            "{shown}"
        );
    }
}

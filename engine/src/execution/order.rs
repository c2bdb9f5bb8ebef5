//! The execution vocabulary shared by the engine and the gateways: what the engine asks a venue
//! to do ([`OrderIntent`]) and what the venue answered ([`ExecReport`]).
//!
//! Both are small, `Copy` and heap-free, so they cross thread queues by value and encode into
//! fixed-size journal records. Quantities are named by their unit: `qty_base` is always in base
//! units (BTC for BTC-USDT), `qty_venue` is in the venue's own order unit (contracts where the
//! venue counts contracts, else base units). Execution reports always speak base units: a gateway
//! converts contracts back before it reports.

use rust_decimal::Decimal;

use crate::decision::target::PairId;
use crate::execution::client_id::ClientOrderId;
use crate::market::instrument::InstrumentId;
use crate::market::venue::Venue;

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// Buy (take the ask).
    Buy,
    /// Sell (take the bid).
    Sell,
}

impl Side {
    /// `+1` for buys, `-1` for sells: multiplies an unsigned quantity into a position change.
    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }

    /// The other side.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// The side that moves a signed position by `delta` (positive: buy).
    pub fn for_delta(delta: Decimal) -> Side {
        if delta.is_sign_negative() {
            Side::Sell
        } else {
            Side::Buy
        }
    }

    /// The side's name in dumps and views (`buy`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// One of a pair's two legs. The long leg is opened by buying, the short leg by selling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leg {
    /// The leg opened by buying.
    Long,
    /// The leg opened by selling.
    Short,
}

impl Leg {
    /// Both legs, long first.
    pub const BOTH: [Leg; 2] = [Leg::Long, Leg::Short];

    /// 0 for long, 1 for short: index of per-leg arrays.
    pub const fn index(self) -> usize {
        match self {
            Leg::Long => 0,
            Leg::Short => 1,
        }
    }

    /// The other leg.
    pub const fn other(self) -> Leg {
        match self {
            Leg::Long => Leg::Short,
            Leg::Short => Leg::Long,
        }
    }

    /// The side that opens (increases) this leg.
    pub const fn opening_side(self) -> Side {
        match self {
            Leg::Long => Side::Buy,
            Leg::Short => Side::Sell,
        }
    }

    /// `+1` for the long leg, `-1` for the short: turns an unsigned leg size into a position.
    pub fn sign(self) -> Decimal {
        self.opening_side().sign()
    }

    /// The character this leg takes in a client order id.
    pub const fn code(self) -> u8 {
        match self {
            Leg::Long => b'L',
            Leg::Short => b'S',
        }
    }

    /// The leg with this id character, if any.
    pub const fn from_code(c: u8) -> Option<Leg> {
        match c {
            b'L' => Some(Leg::Long),
            b'S' => Some(Leg::Short),
            _ => None,
        }
    }

    /// The leg's name in dumps and views (`long`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Leg::Long => "long",
            Leg::Short => "short",
        }
    }
}

/// Which part of a cycle an order belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// The first leg of an entry.
    Entry,
    /// The hedge leg of an entry, following the first leg's fills.
    Hedge,
    /// Compensation: the first leg reduced back to what the hedge matched.
    Unwind,
    /// Closing a leg at the end of a cycle.
    Exit,
}

impl Step {
    /// Every step, in index order.
    pub const ALL: [Step; 4] = [Step::Entry, Step::Hedge, Step::Unwind, Step::Exit];

    /// The step's position in per-step arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The character this step takes in a client order id.
    pub const fn code(self) -> u8 {
        match self {
            Step::Entry => b'E',
            Step::Hedge => b'H',
            Step::Unwind => b'U',
            Step::Exit => b'X',
        }
    }

    /// The step with this id character, if any.
    pub const fn from_code(c: u8) -> Option<Step> {
        match c {
            b'E' => Some(Step::Entry),
            b'H' => Some(Step::Hedge),
            b'U' => Some(Step::Unwind),
            b'X' => Some(Step::Exit),
            _ => None,
        }
    }

    /// The step's name in dumps and views (`hedge`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Step::Entry => "entry",
            Step::Hedge => "hedge",
            Step::Unwind => "unwind",
            Step::Exit => "exit",
        }
    }
}

/// What an intent asks the gateway to do with the order named by its client order id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntentAction {
    /// Send a new order.
    Place,
    /// Send the same order again with the same client order id, to learn its fate from the
    /// venue's duplicate answer (or place it, if it never arrived).
    Resend,
    /// Cancel a working order.
    Cancel,
    /// Ask the venue for the order's state by client order id.
    Query,
}

impl IntentAction {
    /// The action's name in dumps and views (`place`).
    pub const fn as_str(self) -> &'static str {
        match self {
            IntentAction::Place => "place",
            IntentAction::Resend => "resend",
            IntentAction::Cancel => "cancel",
            IntentAction::Query => "query",
        }
    }
}

/// How long an order may rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    /// Immediate or cancel: whatever does not fill at once is cancelled by the venue.
    Ioc,
    /// Good till cancelled.
    Gtc,
}

impl TimeInForce {
    /// The time in force's name in dumps and views (`ioc`).
    pub const fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Ioc => "ioc",
            TimeInForce::Gtc => "gtc",
        }
    }
}

/// An instruction for a gateway, journaled before any gateway sees it.
///
/// Cancel and query intents repeat the order's fields so a gateway never needs the engine's
/// state to route them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderIntent {
    /// What to do with the order.
    pub action: IntentAction,
    /// The order's id at the venue.
    pub client_order_id: ClientOrderId,
    /// The pair whose cycle sent it.
    pub pair: PairId,
    /// The cycle number.
    pub cycle: u32,
    /// What the order is for.
    pub step: Step,
    /// The leg it trades.
    pub leg: Leg,
    /// Which attempt of (leg, step) it is.
    pub attempt: u16,
    /// The venue it goes to.
    pub venue: Venue,
    /// What it trades.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// How long it may rest.
    pub tif: TimeInForce,
    /// Sent where the venue supports it (perpetuals): the order may only shrink a position.
    pub reduce_only: bool,
    /// Limit price in quote units, on the venue's tick.
    pub price: Decimal,
    /// Quantity in base units, on the venue's step.
    pub qty_base: Decimal,
    /// The same quantity in the venue's order unit (contracts where the venue counts them).
    pub qty_venue: Decimal,
}

/// What happened, as reported by a gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExecKind {
    /// The venue accepted the order; nothing executed yet.
    Ack,
    /// Some quantity executed; the order is still working.
    PartialFill,
    /// The order executed completely.
    Fill,
    /// The order ended without executing completely (cancelled, or an IOC remainder expired).
    Canceled,
    /// The venue refused the order.
    Rejected,
    /// The venue already knew this client order id; `status` and the quantities describe the
    /// existing order. Never an error: it resolves a resend.
    Duplicate,
    /// The answer to a query by client order id.
    QueryAnswer,
}

impl ExecKind {
    /// The kind's name in dumps and views (`partial_fill`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ExecKind::Ack => "ack",
            ExecKind::PartialFill => "partial_fill",
            ExecKind::Fill => "fill",
            ExecKind::Canceled => "canceled",
            ExecKind::Rejected => "rejected",
            ExecKind::Duplicate => "duplicate",
            ExecKind::QueryAnswer => "query_answer",
        }
    }
}

/// The order's state after a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Accepted and still working (possibly partly executed).
    Open,
    /// Completely executed.
    Filled,
    /// Ended with `cum_qty_base` executed (possibly zero).
    Canceled,
    /// Refused; nothing executed.
    Rejected,
    /// The venue does not know this client order id.
    NotFound,
}

impl OrderStatus {
    /// The order will not change any more.
    pub const fn is_terminal(self) -> bool {
        !matches!(self, OrderStatus::Open | OrderStatus::NotFound)
    }

    /// The status's name in dumps and views (`not_found`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::Filled => "filled",
            OrderStatus::Canceled => "canceled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::NotFound => "not_found",
        }
    }
}

/// Why a venue refused an order; low-cardinality, for counters and breakers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Not rejected.
    None,
    /// Not enough balance or margin.
    InsufficientBalance,
    /// Quantity off the venue's step or limits.
    InvalidQuantity,
    /// Price off the venue's tick or band.
    InvalidPrice,
    /// A reduce-only order would have increased the position.
    ReduceOnly,
    /// Too many requests.
    RateLimited,
    /// The venue or the connection failed; the order did not reach the book.
    VenueError,
    /// Any other reason the venue gave.
    Other,
    /// The venue refused the credentials: key, signature, passphrase, permissions or IP. Nothing
    /// on this venue will go through until an operator fixes the key.
    Auth,
    /// A post-only order would have taken liquidity.
    PostOnly,
}

impl RejectReason {
    /// Every reason, in code order.
    pub const ALL: [RejectReason; 10] = [
        RejectReason::None,
        RejectReason::InsufficientBalance,
        RejectReason::InvalidQuantity,
        RejectReason::InvalidPrice,
        RejectReason::ReduceOnly,
        RejectReason::RateLimited,
        RejectReason::VenueError,
        RejectReason::Other,
        RejectReason::Auth,
        RejectReason::PostOnly,
    ];

    /// The reason's metric label (`rate_limited`).
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::None => "none",
            RejectReason::InsufficientBalance => "insufficient_balance",
            RejectReason::InvalidQuantity => "invalid_quantity",
            RejectReason::InvalidPrice => "invalid_price",
            RejectReason::ReduceOnly => "reduce_only",
            RejectReason::RateLimited => "rate_limited",
            RejectReason::VenueError => "venue_error",
            RejectReason::Other => "other",
            RejectReason::Auth => "auth",
            RejectReason::PostOnly => "post_only",
        }
    }
}

/// A gateway's report about one order. Quantities are cumulative, so a repeated or reordered
/// report can never count a fill twice: the engine applies only the increase over what it knew.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecReport {
    /// The order's id.
    pub client_order_id: ClientOrderId,
    /// The venue that answered.
    pub venue: Venue,
    /// What the order trades.
    pub instrument: InstrumentId,
    /// What happened.
    pub kind: ExecKind,
    /// Where the order stands now.
    pub status: OrderStatus,
    /// Executed so far, in base units.
    pub cum_qty_base: Decimal,
    /// Average price of `cum_qty_base`; zero while nothing executed.
    pub avg_price: Decimal,
    /// Fees paid so far, in quote units.
    pub fee_quote: Decimal,
    /// Why it was rejected (`None` unless it was).
    pub reject: RejectReason,
    /// The venue's own error code where it gave one (0 otherwise); for logs, never for logic.
    pub venue_code: i32,
    /// Gateway monotonic ns when the request that this report answers left for the venue.
    pub sent_ns: u64,
    /// Gateway monotonic ns when this answer arrived.
    pub recv_ns: u64,
}

impl ExecReport {
    /// A report with nothing executed, for `kind`/`status`; callers set the rest.
    pub fn new(
        client_order_id: ClientOrderId,
        venue: Venue,
        instrument: InstrumentId,
        kind: ExecKind,
        status: OrderStatus,
    ) -> ExecReport {
        ExecReport {
            client_order_id,
            venue,
            instrument,
            kind,
            status,
            cum_qty_base: Decimal::ZERO,
            avg_price: Decimal::ZERO,
            fee_quote: Decimal::ZERO,
            reject: RejectReason::None,
            venue_code: 0,
            sent_ns: 0,
            recv_ns: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_differ() {
        for s in Step::ALL {
            assert_eq!(Step::from_code(s.code()), Some(s));
        }
        for l in Leg::BOTH {
            assert_eq!(Leg::from_code(l.code()), Some(l));
            assert_eq!(l.other().other(), l);
        }
        let mut codes: Vec<u8> = Step::ALL.iter().map(|s| s.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), 4);
        assert_eq!(Step::from_code(b'Z'), None);
    }

    #[test]
    fn signs_follow_the_leg() {
        assert_eq!(Leg::Long.sign(), Decimal::ONE);
        assert_eq!(Leg::Short.opening_side(), Side::Sell);
        assert_eq!(Side::for_delta(Decimal::new(-5, 1)), Side::Sell);
        assert_eq!(Side::for_delta(Decimal::new(5, 1)), Side::Buy);
        assert_eq!(Side::Buy.opposite(), Side::Sell);
    }

    #[test]
    fn terminal_statuses() {
        assert!(!OrderStatus::Open.is_terminal());
        assert!(!OrderStatus::NotFound.is_terminal());
        assert!(OrderStatus::Filled.is_terminal());
        assert!(OrderStatus::Canceled.is_terminal());
        assert!(OrderStatus::Rejected.is_terminal());
    }
}

//! What a live venue says about the account, read over its signed REST API: positions, balances,
//! open orders, the account's fee rates, its funding ledger, the position mode. Reconciliation
//! compares this with what the journal says; the funding ledger confirms or corrects the
//! funding the engine booked at each settlement.
//!
//! Each venue implements [`AccountApi`] in its folder (`venue/<exchange>/account.rs`): how to
//! build and sign each read, and how to read its answer into the types here. Quantities leave
//! the venue module in base units (contracts converted with the symbol's contract size) and
//! signed where a direction exists (a short position is negative); money is exact.

use rust_decimal::Decimal;

use super::http::Answer;
use super::live::Reading;
use super::request::Request;

/// One perp position as the venue reports it (one-way mode: one row per symbol).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenuePosition {
    /// The venue's symbol.
    pub symbol: String,
    /// Signed base units: positive long, negative short.
    pub qty: Decimal,
    /// Average entry price.
    pub entry_price: Decimal,
    /// The venue's mark price, where it gives one.
    pub mark_price: Option<Decimal>,
    /// The venue's liquidation price, where it gives one (zero or absent: none).
    pub liquidation_price: Option<Decimal>,
    /// Margin held for the position, in quote units, where given.
    pub margin: Option<Decimal>,
    /// Maintenance margin, in quote units, where given.
    pub maintenance_margin: Option<Decimal>,
    /// The position's leverage, where given.
    pub leverage: Option<Decimal>,
}

/// One asset's balance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueBalance {
    /// The asset (`USDT`, `BTC`).
    pub asset: String,
    /// Everything held (free and locked; for a margin account, net of what is borrowed).
    pub total: Decimal,
    /// What new orders may use.
    pub available: Decimal,
    /// Borrowed (margin accounts), zero elsewhere.
    pub borrowed: Decimal,
}

/// An order still open at the venue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueOpenOrder {
    /// The venue's symbol.
    pub symbol: String,
    /// The client order id as carry sent it (Gate's `t-` removed); empty for an order without.
    pub client_order_id: String,
    /// Signed base units left to execute (positive: buy).
    pub remaining: Decimal,
    /// Limit price.
    pub price: Decimal,
}

/// The account's own fee rates on one market (fractions; negative is a rebate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeRates {
    /// Maker fee rate.
    pub maker: Decimal,
    /// Taker fee rate.
    pub taker: Decimal,
}

/// One funding payment from the venue's ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FundingPayment {
    /// The venue's symbol.
    pub symbol: String,
    /// Unix ms of the settlement (seconds-precision venues: a multiple of 1000).
    pub time_ms: i64,
    /// Quote units, signed: positive received, negative paid.
    pub amount: Decimal,
    /// The venue's id of the ledger row, to count each once.
    pub id: String,
}

/// How the account holds positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PositionMode {
    /// One net position per symbol: what carry trades.
    OneWay,
    /// Separate long and short positions per symbol: carry refuses to trade.
    Hedge,
}

/// A read of the account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccountRead {
    /// Perp positions.
    Positions,
    /// Balances (spot, margin or the futures wallet, as the market holds them).
    Balances,
    /// Open orders.
    OpenOrders,
    /// The account's fee rates for a symbol.
    FeeRates,
    /// The funding ledger since a time.
    Funding,
    /// The position mode.
    PositionMode,
}

/// What an [`AccountApi`] read from an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountAnswer {
    /// Positions (every non-flat one).
    Positions(Vec<VenuePosition>),
    /// Balances (every non-zero asset).
    Balances(Vec<VenueBalance>),
    /// Open orders.
    OpenOrders(Vec<VenueOpenOrder>),
    /// Fee rates.
    FeeRates(FeeRates),
    /// Funding payments, oldest first, and the cursor of the next page if there is one.
    Funding(Vec<FundingPayment>, Option<String>),
    /// The position mode.
    PositionMode(PositionMode),
    /// The venue refused or failed the read.
    Failed(Reading),
}

/// What one exchange market's account endpoints are. Implemented in
/// `venue/<exchange>/account.rs`, beside its [`super::live::OrderApi`].
pub trait AccountApi: Send {
    /// Builds and signs `read` at the venue's time `venue_ms`. `symbol`: the symbol a per-symbol
    /// read is about (fee rates), else empty. `since_ms` and `cursor`: the funding ledger's
    /// window start and page cursor. `false`: the read does not apply to this market (spot has
    /// no positions, no position mode, no funding).
    #[allow(clippy::too_many_arguments)]
    fn build_read(
        &mut self,
        read: AccountRead,
        symbol: &str,
        since_ms: i64,
        cursor: Option<&str>,
        venue_ms: i64,
        req: &mut Request,
    ) -> bool;

    /// Reads the answer to `read`. `contract_size(symbol)` converts contracts to base units where
    /// the venue counts contracts.
    fn read_account(
        &mut self,
        read: AccountRead,
        answer: &Answer<'_>,
        contract_size: &dyn Fn(&str) -> Option<Decimal>,
    ) -> AccountAnswer;
}

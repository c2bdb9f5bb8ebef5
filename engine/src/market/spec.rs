//! What a venue says about how an instrument trades: price tick, quantity step, minimums, and the
//! contract size where the venue counts orders in contracts (OKX `ctVal`, Gate
//! `quanto_multiplier`). Feeds fetch these over REST at start; the reconciler rounds with them.

use rust_decimal::Decimal;

/// Trading rules of one instrument on one venue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Smallest price increment.
    pub tick_size: Decimal,
    /// Smallest quantity increment, in the venue's order unit (contracts where `contract_size`
    /// is set, else base units).
    pub lot_size: Decimal,
    /// Smallest order quantity, in the venue's order unit.
    pub min_qty: Decimal,
    /// Smallest order notional in quote units, where the venue has one (0 = none).
    pub min_notional: Decimal,
    /// Base units per contract, where orders are sized in contracts.
    pub contract_size: Option<Decimal>,
}

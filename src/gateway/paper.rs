//! The paper venue: an embedded exchange that fills intents against the latest top of book from
//! the feeds, for `carry demo` and for running carry without money at risk.
//!
//! It sees quotes through the [`QuoteBoard`] the engine thread publishes to (a sequence lock per
//! instrument: neither thread ever waits on the other). A marketable order fills at the touch,
//! up to the size shown there, rounded to the venue's step; IOC remainders are cancelled, GTC
//! remainders rest and fill when the touch crosses them. Answers are released after a configured
//! latency. Rejections and partial fills happen at configured ratios, decided by a generator
//! seeded with `seed` and the client order id, so a given order meets the same fate in every run
//! (fill prices still depend on the quotes of the moment). Fees are charged at the taker rate.
//!
//! Like a real venue it remembers every client order id it ever accepted: each order's state is
//! appended to its own journal (a directory of the engine journal's format, see [`state_dir`])
//! before any answer leaves, and rebuilt from it on start. A resend of a known id, even after a
//! kill -9, gets a `Duplicate` answer with the existing order's state; a query of an unknown id
//! gets "not found". Reduce-only orders never increase the paper position of their venue.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use carry_engine::execution::client_id::ClientOrderId;
use carry_engine::execution::order::{
    ExecKind, ExecReport, IntentAction, OrderIntent, OrderStatus, RejectReason, Side, TimeInForce,
};
use carry_engine::execution::rounding::{base_step, round_to_step};
use carry_engine::market::spec::SpecTable;
use carry_engine::market::venue::VENUE_COUNT;
use carry_engine::record::{kind, PaperOrder, Record};
use carry_engine::{InstrumentId, InstrumentSpec, Now, Venue};
use carry_journal::{Journal, JournalError, JournalReader};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Deserialize;

use super::quote_board::{BoardQuote, QuoteBoard};
use carry_feeds::gateway::Gateway;

/// `[paper]`: how the paper venue behaves.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaperConfig {
    /// Seeds the fate (reject, partial fill) of each order, together with its client order id.
    pub seed: u64,
    /// Delay between a request and its answer.
    pub latency_ms: u64,
    /// Probability (0 to 1) that an order fills only part of what the touch offers.
    pub partial_fill_ratio: Decimal,
    /// Probability (0 to 1) that an order is rejected outright.
    pub reject_ratio: Decimal,
    /// Fee per fill as a fraction of notional (0.0005 = 5 bp), unless set per venue.
    pub taker_fee: Decimal,
    /// Quotes older than this count as no market (0: any age will do).
    pub max_quote_age_ms: u64,
}

impl Default for PaperConfig {
    fn default() -> PaperConfig {
        PaperConfig {
            seed: 1,
            latency_ms: 5,
            partial_fill_ratio: Decimal::new(2, 1),
            reject_ratio: Decimal::new(2, 2),
            taker_fee: Decimal::new(5, 4),
            max_quote_age_ms: 0,
        }
    }
}

impl PaperConfig {
    /// Checks ranges; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("paper.partial_fill_ratio", self.partial_fill_ratio),
            ("paper.reject_ratio", self.reject_ratio),
        ] {
            if v < Decimal::ZERO || v > Decimal::ONE {
                return Err(format!("{key}: must be between 0 and 1, got {v}"));
            }
        }
        carry_engine::config::fee_span()
            .check(
                "paper.taker_fee",
                self.taker_fee,
                " (a fee rate: 0.0005 = 5 bp)",
            )
            .map_err(|e| e.to_string())?;
        for (key, v, max) in [
            ("paper.latency_ms", self.latency_ms, 60_000),
            ("paper.max_quote_age_ms", self.max_quote_age_ms, 3_600_000),
        ] {
            if v > max {
                return Err(format!("{key}: must be 0..={max} ms, got {v}"));
            }
        }
        Ok(())
    }
}

/// Why the paper venue could not open.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    /// `[paper]` holds a value out of range; the text names the key (`paper.reject_ratio: ..`).
    #[error("{0}")]
    Config(String),
    /// Its own journal, which it rebuilds every order it accepted from, could not be read.
    #[error("paper venue state {}: {source}", dir.display())]
    State {
        /// The paper venue's journal directory.
        dir: PathBuf,
        /// What reading it failed on.
        source: JournalError,
    },
}

/// Where the paper venue keeps its state for an engine journal in `journal_dir`: a `paper`
/// directory inside it (the engine's journal ignores it).
pub fn state_dir(journal_dir: &Path) -> PathBuf {
    journal_dir.join("paper")
}

/// What the paper venue has done, for tests and the demo summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaperCounters {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub fills: u64,
    pub queries: u64,
    pub cancels: u64,
    pub not_found: u64,
    pub journal_errors: u64,
    pub recovered_orders: u64,
}

/// The embedded paper venue.
pub struct PaperVenue {
    cfg: PaperConfig,
    reject_ppm: u64,
    partial_ppm: u64,
    board: Arc<QuoteBoard>,
    specs: SpecTable,
    fees: [Decimal; VENUE_COUNT],
    orders: HashMap<ClientOrderId, PaperOrder>,
    /// Signed base units per (instrument, venue) slot, from every fill.
    positions: Vec<Decimal>,
    /// Resting orders, with the receive time of the last quote each traded against: a quote's
    /// size is taken once, not again on every poll.
    resting: Vec<(ClientOrderId, u64)>,
    /// Answers waiting for their release time, in release order (the latency is constant).
    pending: VecDeque<(u64, ExecReport)>,
    journal: Option<Journal>,
    counters: PaperCounters,
}

impl PaperVenue {
    /// A paper venue reading quotes from `board`. With a journal, every order it ever accepted
    /// is rebuilt from it first, and every change is appended to it before it is answered.
    pub fn open(
        cfg: PaperConfig,
        board: Arc<QuoteBoard>,
        instruments: usize,
        journal: Option<Journal>,
    ) -> Result<PaperVenue, PaperError> {
        cfg.validate().map_err(PaperError::Config)?;
        let ppm = |d: Decimal| (d * Decimal::from(1_000_000)).trunc().to_u64().unwrap_or(0);
        let mut venue = PaperVenue {
            reject_ppm: ppm(cfg.reject_ratio),
            partial_ppm: ppm(cfg.partial_fill_ratio),
            fees: [cfg.taker_fee; VENUE_COUNT],
            cfg,
            board,
            specs: SpecTable::new(instruments),
            orders: HashMap::new(),
            positions: vec![Decimal::ZERO; instruments.max(1) * VENUE_COUNT],
            resting: Vec::new(),
            pending: VecDeque::new(),
            journal: None,
            counters: PaperCounters::default(),
        };
        if let Some(j) = journal {
            venue.recover(&j).map_err(|source| PaperError::State {
                dir: j.dir().to_path_buf(),
                source,
            })?;
            venue.journal = Some(j);
        }
        Ok(venue)
    }

    fn recover(&mut self, journal: &Journal) -> Result<(), JournalError> {
        let reader: JournalReader = journal.reader()?;
        for r in reader.iter_from(1) {
            let r = r?;
            if r.kind != kind::PAPER_ORDER {
                continue;
            }
            if let Ok(Record::PaperOrder { order, .. }) = Record::decode(r.kind, r.payload) {
                self.orders.insert(order.client_order_id, order);
            }
        }
        for o in self.orders.values() {
            if let Some(p) = self.positions.get_mut(slot(o.venue, o.instrument)) {
                *p += o.side.sign() * o.cum_qty_base;
            }
            if o.status == OrderStatus::Open {
                self.resting.push((o.client_order_id, 0));
            }
        }
        self.resting.sort_by_key(|(id, _)| *id);
        self.counters.recovered_orders = self.orders.len() as u64;
        Ok(())
    }

    /// Trading rules used to round fills onto the venue's step.
    pub fn set_spec(&mut self, venue: Venue, instrument: InstrumentId, spec: InstrumentSpec) {
        self.specs.set(venue, instrument, spec);
    }

    /// The fee rate charged on one venue.
    pub fn set_fee(&mut self, venue: Venue, fee: Decimal) {
        self.fees[venue.index()] = fee;
    }

    pub fn counters(&self) -> PaperCounters {
        self.counters
    }

    /// The paper position of (venue, instrument), from every fill.
    pub fn position(&self, venue: Venue, instrument: InstrumentId) -> Decimal {
        self.positions
            .get(slot(venue, instrument))
            .copied()
            .unwrap_or_default()
    }

    /// The venue's record of an order.
    pub fn order(&self, id: &ClientOrderId) -> Option<&PaperOrder> {
        self.orders.get(id)
    }

    fn quote(&self, venue: Venue, instrument: InstrumentId, now_ns: u64) -> Option<BoardQuote> {
        let q = self.board.read(venue, instrument)?;
        let max_age = self.cfg.max_quote_age_ms.saturating_mul(1_000_000);
        if max_age > 0 && now_ns.saturating_sub(q.recv_ns) > max_age {
            return None;
        }
        Some(q)
    }

    /// Appends the order's state; the venue answers only what it has recorded.
    fn record(&mut self, order: &PaperOrder, now_ns: u64) -> bool {
        let Some(j) = self.journal.as_mut() else {
            return true;
        };
        let r = Record::PaperOrder {
            now: Now::new(now_ns, carry_feeds::transport::clock::unix_ms()),
            order: *order,
        };
        let ok = j
            .append_with(r.kind(), r.ts_ns(), r.encoded_len(), |buf| r.encode(buf))
            .is_ok();
        if !ok {
            self.counters.journal_errors += 1;
        }
        ok
    }

    fn answer(&mut self, order: &PaperOrder, kind: ExecKind, status: OrderStatus, sent_ns: u64) {
        let mut r = ExecReport::new(
            order.client_order_id,
            order.venue,
            order.instrument,
            kind,
            status,
        );
        r.cum_qty_base = order.cum_qty_base;
        r.avg_price = order.avg_price;
        r.fee_quote = order.fee_quote;
        r.reject = order.reject;
        r.sent_ns = sent_ns;
        let due = sent_ns.saturating_add(self.cfg.latency_ms.saturating_mul(1_000_000));
        self.pending.push_back((due, r));
    }

    fn not_found(&mut self, intent: &OrderIntent, now_ns: u64) {
        self.counters.not_found += 1;
        let mut r = ExecReport::new(
            intent.client_order_id,
            intent.venue,
            intent.instrument,
            ExecKind::QueryAnswer,
            OrderStatus::NotFound,
        );
        r.sent_ns = now_ns;
        let due = now_ns.saturating_add(self.cfg.latency_ms.saturating_mul(1_000_000));
        self.pending.push_back((due, r));
    }

    /// What `order` would trade now at the touch, up to `qty_base`: (base quantity, price).
    fn touch_fill(
        &self,
        order: &PaperOrder,
        qty_base: Decimal,
        quote: &BoardQuote,
    ) -> Option<(Decimal, Decimal)> {
        let (touch, available) = match order.side {
            Side::Buy => (quote.quote.ask, quote.quote.ask_qty),
            Side::Sell => (quote.quote.bid, quote.quote.bid_qty),
        };
        let crosses = touch > Decimal::ZERO
            && match order.side {
                Side::Buy => touch <= order.price,
                Side::Sell => touch >= order.price,
            };
        if !crosses {
            return None;
        }
        let mut qty = qty_base.min(available);
        if order.reduce_only {
            qty = qty.min(self.reducible(order));
        }
        if let Some(spec) = self.specs.get(order.venue, order.instrument) {
            qty = round_to_step(qty, base_step(&spec));
        }
        (qty > Decimal::ZERO).then_some((qty, touch))
    }

    /// Adds a fill to the order's record (not yet to positions: that waits for the journal).
    fn add_fill(&self, order: &mut PaperOrder, qty: Decimal, price: Decimal) {
        let new_cum = order.cum_qty_base + qty;
        order.avg_price =
            ((order.avg_price * order.cum_qty_base + price * qty) / new_cum).normalize();
        order.cum_qty_base = new_cum.normalize();
        order.fee_quote =
            (order.fee_quote + qty * price * self.fees[order.venue.index()]).normalize();
    }

    /// A recorded fill moves the venue's position.
    fn book_fill(&mut self, order: &PaperOrder, qty: Decimal) {
        if let Some(p) = self.positions.get_mut(slot(order.venue, order.instrument)) {
            *p += order.side.sign() * qty;
        }
        self.counters.fills += 1;
    }

    /// How much a reduce-only order may still trade: the position against its side.
    fn reducible(&self, order: &PaperOrder) -> Decimal {
        let pos = self.position(order.venue, order.instrument);
        match order.side {
            Side::Buy if pos < Decimal::ZERO => -pos,
            Side::Sell if pos > Decimal::ZERO => pos,
            _ => Decimal::ZERO,
        }
    }

    fn place(&mut self, intent: &OrderIntent, now_ns: u64) {
        let mut order = PaperOrder {
            client_order_id: intent.client_order_id,
            venue: intent.venue,
            instrument: intent.instrument,
            side: intent.side,
            tif: intent.tif,
            reduce_only: intent.reduce_only,
            price: intent.price,
            qty_base: intent.qty_base,
            status: OrderStatus::Open,
            cum_qty_base: Decimal::ZERO,
            avg_price: Decimal::ZERO,
            fee_quote: Decimal::ZERO,
            reject: RejectReason::None,
        };
        let mut fate = Fate::new(self.cfg.seed, &intent.client_order_id);
        let quote = self.quote(intent.venue, intent.instrument, now_ns);
        let reject = if fate.chance(self.reject_ppm) {
            Some(RejectReason::InsufficientBalance)
        } else if quote.is_none() {
            Some(RejectReason::VenueError)
        } else if intent.qty_base <= Decimal::ZERO || intent.price <= Decimal::ZERO {
            Some(RejectReason::InvalidQuantity)
        } else if intent.reduce_only && self.reducible(&order).is_zero() {
            Some(RejectReason::ReduceOnly)
        } else {
            None
        };
        if let Some(reason) = reject {
            order.status = OrderStatus::Rejected;
            order.reject = reason;
            if !self.record(&order, now_ns) {
                return self.venue_error(intent, now_ns);
            }
            self.orders.insert(order.client_order_id, order);
            self.counters.rejected += 1;
            return self.answer(&order, ExecKind::Rejected, OrderStatus::Rejected, now_ns);
        }
        let mut want = intent.qty_base;
        if fate.chance(self.partial_ppm) {
            // 20 % to 90 % of the order, in whole percent.
            want = intent.qty_base * Decimal::new(20 + fate.below(71) as i64, 2);
        }
        let fill = quote.and_then(|q| self.touch_fill(&order, want, &q));
        if let Some((qty, price)) = fill {
            self.add_fill(&mut order, qty, price);
        }
        let filled = order.cum_qty_base;
        order.status = if filled >= order.qty_base {
            OrderStatus::Filled
        } else if order.tif == TimeInForce::Ioc {
            OrderStatus::Canceled
        } else {
            OrderStatus::Open
        };
        if !self.record(&order, now_ns) {
            // Not recorded: as if the order never arrived.
            return self.venue_error(intent, now_ns);
        }
        if let Some((qty, _)) = fill {
            self.book_fill(&order, qty);
        }
        self.orders.insert(order.client_order_id, order);
        self.counters.accepted += 1;
        match order.status {
            OrderStatus::Filled => self.answer(&order, ExecKind::Fill, OrderStatus::Filled, now_ns),
            OrderStatus::Canceled => {
                if filled > Decimal::ZERO {
                    self.answer(&order, ExecKind::PartialFill, OrderStatus::Open, now_ns);
                }
                self.answer(&order, ExecKind::Canceled, OrderStatus::Canceled, now_ns);
            }
            _ => {
                let seen = quote.map_or(0, |q| q.recv_ns);
                self.resting.push((order.client_order_id, seen));
                let kind = if filled > Decimal::ZERO {
                    ExecKind::PartialFill
                } else {
                    ExecKind::Ack
                };
                self.answer(&order, kind, OrderStatus::Open, now_ns);
            }
        }
    }

    /// The venue could not record the order: it never existed there.
    fn venue_error(&mut self, intent: &OrderIntent, now_ns: u64) {
        let mut r = ExecReport::new(
            intent.client_order_id,
            intent.venue,
            intent.instrument,
            ExecKind::Rejected,
            OrderStatus::Rejected,
        );
        r.reject = RejectReason::VenueError;
        r.sent_ns = now_ns;
        self.pending.push_back((now_ns, r));
    }

    /// Resting orders trade when the touch reaches them.
    fn match_resting(&mut self, now_ns: u64) {
        let mut i = 0;
        while i < self.resting.len() {
            let (id, seen) = self.resting[i];
            let Some(mut order) = self.orders.get(&id).copied() else {
                self.resting.swap_remove(i);
                continue;
            };
            let Some(q) = self
                .quote(order.venue, order.instrument, now_ns)
                .filter(|q| q.recv_ns > seen)
            else {
                i += 1;
                continue;
            };
            self.resting[i].1 = q.recv_ns;
            let Some((qty, price)) =
                self.touch_fill(&order, order.qty_base - order.cum_qty_base, &q)
            else {
                i += 1;
                continue;
            };
            self.add_fill(&mut order, qty, price);
            if order.cum_qty_base >= order.qty_base {
                order.status = OrderStatus::Filled;
            }
            if !self.record(&order, now_ns) {
                i += 1;
                continue;
            }
            self.book_fill(&order, qty);
            self.orders.insert(id, order);
            if order.status == OrderStatus::Filled {
                self.resting.swap_remove(i);
                self.answer(&order, ExecKind::Fill, OrderStatus::Filled, now_ns);
            } else {
                self.answer(&order, ExecKind::PartialFill, OrderStatus::Open, now_ns);
                i += 1;
            }
        }
    }
}

fn slot(venue: Venue, instrument: InstrumentId) -> usize {
    instrument.index() * VENUE_COUNT + venue.index()
}

impl Gateway for PaperVenue {
    fn name(&self) -> &str {
        "paper"
    }

    fn submit(&mut self, intent: &OrderIntent, now_ns: u64, _out: &mut Vec<ExecReport>) {
        if let Some(existing) = self.orders.get(&intent.client_order_id).copied() {
            // The id is taken: describe the order that has it, never place a second one.
            self.counters.duplicates += 1;
            return self.answer(&existing, ExecKind::Duplicate, existing.status, now_ns);
        }
        debug_assert!(matches!(
            intent.action,
            IntentAction::Place | IntentAction::Resend
        ));
        self.place(intent, now_ns);
    }

    fn cancel(&mut self, intent: &OrderIntent, now_ns: u64, _out: &mut Vec<ExecReport>) {
        self.counters.cancels += 1;
        let Some(mut order) = self.orders.get(&intent.client_order_id).copied() else {
            return self.not_found(intent, now_ns);
        };
        if order.status != OrderStatus::Open {
            return self.answer(&order, ExecKind::QueryAnswer, order.status, now_ns);
        }
        order.status = OrderStatus::Canceled;
        if !self.record(&order, now_ns) {
            return self.answer(&order, ExecKind::QueryAnswer, OrderStatus::Open, now_ns);
        }
        self.orders.insert(order.client_order_id, order);
        self.resting.retain(|(id, _)| *id != order.client_order_id);
        self.answer(&order, ExecKind::Canceled, OrderStatus::Canceled, now_ns);
    }

    fn query(&mut self, intent: &OrderIntent, now_ns: u64, _out: &mut Vec<ExecReport>) {
        self.counters.queries += 1;
        match self.orders.get(&intent.client_order_id).copied() {
            Some(order) => self.answer(&order, ExecKind::QueryAnswer, order.status, now_ns),
            None => self.not_found(intent, now_ns),
        }
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<ExecReport>) -> Option<u64> {
        if !self.resting.is_empty() {
            self.match_resting(now_ns);
        }
        while let Some((due, _)) = self.pending.front() {
            if *due > now_ns {
                break;
            }
            if let Some((_, mut r)) = self.pending.pop_front() {
                r.recv_ns = now_ns;
                out.push(r);
            }
        }
        self.pending.front().map(|(due, _)| *due)
    }
}

/// A deterministic generator per order: splitmix64 seeded with the venue seed and the id.
struct Fate(u64);

impl Fate {
    fn new(seed: u64, id: &ClientOrderId) -> Fate {
        // FNV-1a over the id, mixed with the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in id.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Fate(h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `ppm` per million.
    fn chance(&mut self, ppm: u64) -> bool {
        self.next() % 1_000_000 < ppm
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carry_engine::execution::client_id::InstanceId;
    use carry_engine::execution::order::{Leg, Step};
    use carry_engine::{PairId, Quote};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn perp() -> Venue {
        "bybit-perp".parse().unwrap()
    }

    fn intent(cycle: u32, side: Side, qty: &str, price: &str, reduce_only: bool) -> OrderIntent {
        let cid = ClientOrderId::new(
            &InstanceId::new("p").unwrap(),
            cycle,
            Step::Entry,
            Leg::Long,
            0,
        )
        .unwrap();
        OrderIntent {
            action: IntentAction::Place,
            client_order_id: cid,
            pair: PairId(0),
            cycle,
            step: Step::Entry,
            leg: Leg::Long,
            attempt: 0,
            venue: perp(),
            instrument: InstrumentId(0),
            side,
            tif: TimeInForce::Ioc,
            reduce_only,
            price: d(price),
            qty_base: d(qty),
            qty_venue: d(qty),
        }
    }

    fn board() -> Arc<QuoteBoard> {
        let board = Arc::new(QuoteBoard::new(1));
        board.publish(
            perp(),
            InstrumentId(0),
            &Quote {
                bid: d("100"),
                bid_qty: d("2"),
                ask: d("101"),
                ask_qty: d("0.5"),
            },
            1,
        );
        board
    }

    fn venue(cfg: PaperConfig) -> PaperVenue {
        venue_on(cfg, None)
    }

    fn venue_on(cfg: PaperConfig, journal: Option<Journal>) -> PaperVenue {
        let mut v = PaperVenue::open(cfg, board(), 1, journal).unwrap();
        v.set_spec(
            perp(),
            InstrumentId(0),
            InstrumentSpec {
                tick_size: d("0.1"),
                lot_size: d("0.001"),
                min_qty: d("0.001"),
                min_notional: d("0"),
                contract_size: None,
            },
        );
        v
    }

    fn certain() -> PaperConfig {
        PaperConfig {
            partial_fill_ratio: Decimal::ZERO,
            reject_ratio: Decimal::ZERO,
            latency_ms: 1,
            ..PaperConfig::default()
        }
    }

    fn run(v: &mut PaperVenue, i: &OrderIntent) -> Vec<ExecReport> {
        run_at(v, i, 0)
    }

    fn run_at(v: &mut PaperVenue, i: &OrderIntent, now: u64) -> Vec<ExecReport> {
        let mut out = Vec::new();
        carry_feeds::gateway::dispatch(v, i, now, &mut out);
        assert_eq!(
            v.poll(now + 999_999, &mut out),
            Some(now + 1_000_000),
            "answers wait for the latency"
        );
        assert!(out.is_empty());
        assert_eq!(v.poll(now + 1_000_000, &mut out), None);
        out
    }

    #[test]
    fn ioc_fills_at_the_touch_up_to_its_size_and_cancels_the_rest() {
        let mut v = venue(certain());
        let r = run(&mut v, &intent(1, Side::Buy, "0.8", "101.5", false));
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].kind, r[0].cum_qty_base, r[0].avg_price),
            (ExecKind::PartialFill, d("0.5"), d("101"))
        );
        assert_eq!(
            (r[1].kind, r[1].status),
            (ExecKind::Canceled, OrderStatus::Canceled)
        );
        assert_eq!(r[1].fee_quote, d("0.02525"), "0.5 × 101 × 5 bp");
        assert_eq!((r[1].sent_ns, r[1].recv_ns), (0, 1_000_000));
        assert_eq!(v.position(perp(), InstrumentId(0)), d("0.5"));
        // A limit below the ask does not trade.
        let r = run(&mut v, &intent(2, Side::Buy, "0.1", "100.9", false));
        assert_eq!(
            (r.len(), r[0].kind, r[0].cum_qty_base),
            (1, ExecKind::Canceled, d("0"))
        );
    }

    #[test]
    fn known_ids_get_duplicate_answers_and_unknown_ones_not_found() {
        let mut v = venue(certain());
        let i = intent(1, Side::Sell, "1", "99", false);
        let first = run(&mut v, &i);
        assert_eq!(
            (first[0].kind, first[0].cum_qty_base, first[0].avg_price),
            (ExecKind::Fill, d("1"), d("100"))
        );
        let again = run(
            &mut v,
            &OrderIntent {
                action: IntentAction::Resend,
                ..i
            },
        );
        assert_eq!(
            (again.len(), again[0].kind, again[0].status),
            (1, ExecKind::Duplicate, OrderStatus::Filled)
        );
        assert_eq!(again[0].cum_qty_base, d("1"));
        assert_eq!(
            v.position(perp(), InstrumentId(0)),
            d("-1"),
            "the resend traded nothing"
        );
        let q = run(
            &mut v,
            &OrderIntent {
                action: IntentAction::Query,
                ..intent(9, Side::Buy, "1", "1", false)
            },
        );
        assert_eq!(
            (q[0].kind, q[0].status),
            (ExecKind::QueryAnswer, OrderStatus::NotFound)
        );
    }

    #[test]
    fn reduce_only_never_grows_a_position() {
        let mut v = venue(certain());
        let r = run(&mut v, &intent(1, Side::Sell, "0.3", "99", true));
        assert_eq!(
            (r[0].kind, r[0].reject),
            (ExecKind::Rejected, RejectReason::ReduceOnly)
        );
        run(&mut v, &intent(2, Side::Sell, "0.3", "99", false));
        let r = run(&mut v, &intent(3, Side::Buy, "0.5", "102", true));
        assert_eq!(
            r.last().unwrap().cum_qty_base,
            d("0.3"),
            "capped at the short position"
        );
        assert_eq!(v.position(perp(), InstrumentId(0)), Decimal::ZERO);
    }

    #[test]
    fn fates_are_deterministic_per_seed_and_id_and_follow_the_ratios() {
        let cfg = PaperConfig {
            reject_ratio: d("0.25"),
            partial_fill_ratio: d("0.5"),
            latency_ms: 1,
            ..PaperConfig::default()
        };
        let outcome = |seed: u64| {
            let mut v = venue(PaperConfig {
                seed,
                ..cfg.clone()
            });
            (1..=400u32)
                .map(|c| {
                    let r = run(&mut v, &intent(c, Side::Sell, "0.01", "99", false));
                    let last = r.last().unwrap();
                    (last.status, last.cum_qty_base)
                })
                .collect::<Vec<_>>()
        };
        let a = outcome(7);
        assert_eq!(a, outcome(7));
        assert_ne!(a, outcome(8));
        let rejected = a
            .iter()
            .filter(|(s, _)| *s == OrderStatus::Rejected)
            .count();
        let partial = a
            .iter()
            .filter(|(s, q)| *s == OrderStatus::Canceled && *q < d("0.01"))
            .count();
        assert!(
            (60..=140).contains(&rejected),
            "about a quarter rejected: {rejected}"
        );
        assert!(
            (100..=200).contains(&partial),
            "about half of the rest partial: {partial}"
        );
    }

    #[test]
    fn state_survives_a_restart_through_its_journal() {
        let dir = tempfile::tempdir().unwrap();
        let opts = carry_journal::JournalOptions::default().segment_size(1 << 20);
        let i = intent(1, Side::Buy, "0.2", "102", false);
        {
            let (j, _) = Journal::open(dir.path(), opts).unwrap();
            let mut v = venue_on(certain(), Some(j));
            let r = run(&mut v, &i);
            assert_eq!(r[0].kind, ExecKind::Fill);
            // Killed here: nothing else happens.
        }
        let (j, _) = Journal::open(dir.path(), opts).unwrap();
        let mut v = venue_on(certain(), Some(j));
        assert_eq!(v.counters().recovered_orders, 1);
        assert_eq!(v.position(perp(), InstrumentId(0)), d("0.2"));
        let r = run(
            &mut v,
            &OrderIntent {
                action: IntentAction::Resend,
                ..i
            },
        );
        assert_eq!(
            (r[0].kind, r[0].status, r[0].cum_qty_base),
            (ExecKind::Duplicate, OrderStatus::Filled, d("0.2"))
        );
        assert_eq!(v.position(perp(), InstrumentId(0)), d("0.2"));
    }

    #[test]
    fn resting_orders_fill_when_the_touch_reaches_them_and_can_be_cancelled() {
        let mut v = venue(certain());
        let gtc = OrderIntent {
            tif: TimeInForce::Gtc,
            ..intent(1, Side::Buy, "0.4", "100.5", false)
        };
        let r = run(&mut v, &gtc);
        assert_eq!((r[0].kind, r[0].status), (ExecKind::Ack, OrderStatus::Open));
        v.board.publish(
            perp(),
            InstrumentId(0),
            &Quote {
                bid: d("99"),
                bid_qty: d("1"),
                ask: d("100.4"),
                ask_qty: d("0.1"),
            },
            2,
        );
        let mut out = Vec::new();
        v.poll(2_000_000, &mut out);
        v.poll(3_000_000, &mut out);
        assert_eq!(
            (out[0].kind, out[0].cum_qty_base, out[0].avg_price),
            (ExecKind::PartialFill, d("0.1"), d("100.4"))
        );
        let c = run_at(
            &mut v,
            &OrderIntent {
                action: IntentAction::Cancel,
                ..gtc
            },
            3_000_000,
        );
        assert_eq!(
            (c[0].kind, c[0].cum_qty_base),
            (ExecKind::Canceled, d("0.1"))
        );
        let c = run_at(
            &mut v,
            &OrderIntent {
                action: IntentAction::Cancel,
                ..gtc
            },
            4_000_000,
        );
        assert_eq!(
            (c[0].kind, c[0].status),
            (ExecKind::QueryAnswer, OrderStatus::Canceled)
        );
    }

    #[test]
    fn open_refuses_a_bad_config_naming_the_key() {
        let cfg = PaperConfig {
            reject_ratio: d("1.5"),
            ..PaperConfig::default()
        };
        match PaperVenue::open(cfg, board(), 1, None) {
            Err(PaperError::Config(reason)) => {
                assert!(reason.starts_with("paper.reject_ratio: "), "{reason}")
            }
            other => panic!("expected a config error, got {:?}", other.err()),
        }
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn paper_table_parses_and_checks_ranges() {
        let cfg: PaperConfig =
            toml::from_str("seed = 9\nlatency_ms = 3\nreject_ratio = \"0.1\"").unwrap();
        assert_eq!(
            (cfg.seed, cfg.latency_ms, cfg.reject_ratio),
            (9, 3, Decimal::new(1, 1))
        );
        assert_eq!(
            cfg.partial_fill_ratio,
            PaperConfig::default().partial_fill_ratio
        );
        assert!(toml::from_str::<PaperConfig>("sed = 9").is_err());
        let bad = PaperConfig {
            reject_ratio: Decimal::new(15, 1),
            ..PaperConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .starts_with("paper.reject_ratio: "));
        assert_eq!(state_dir(Path::new("/j")), PathBuf::from("/j/paper"));
    }
}

//! Scripted event sequences through the `Decider`, the way execution's engine drives it: market
//! events in, `evaluate` per pair, positions changed only by fills. Each scenario is a story a
//! trader would tell (funding widens, a leg goes stale, the spread flips, margin runs out, the
//! operator steps in) with the targets and breaker changes it must produce.

use carry_engine::config::{BreakerConfig, PairConfig, RiskConfig, StrategyConfig};
use carry_engine::decision::breaker::{BreakerChange, BreakerKind, Scope};
use carry_engine::decision::metrics::SkipReason;
use carry_engine::decision::strategy::RejectReason;
use carry_engine::{
    Decider, DeciderConfig, Funding, InstrumentId, MarketEvent, MarketEventKind, Now,
    OperatorCommand, PairId, PairTarget, Positions, Quote, TargetReason, Universe, Venue,
    VenueParams,
};
use rust_decimal::Decimal;
use serde::Deserialize;

const MS: u64 = 1_000_000;
const HOUR_MS: i64 = 3_600_000;
/// A settlement boundary (2024-05-15 08:00 UTC).
const T0: i64 = 1_715_760_000_000;
const BTC: InstrumentId = InstrumentId(0);
const ETH: InstrumentId = InstrumentId(1);
const SPOT_PERP: PairId = PairId(0);
const AUTO: PairId = PairId(1);

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn v(s: &str) -> Venue {
    s.parse().unwrap()
}

/// The `[strategy]`, `[risk]`, `[breakers]` and `[[pairs]]` tables as an operator writes them.
const CONFIG: &str = r#"
[strategy]
entry_apr = "0.10"
exit_apr = "0.02"
expected_holding_hours = 720

[risk]
max_notional_per_pair = 10000
max_total_notional = 15000
min_liquidation_distance = "0.15"
max_margin_ratio = "0.5"
default_maintenance_margin_rate = "0.005"
default_leverage = 2

[breakers]
funding_ttl_ms = 60000
quote_ttl_ms = 5000
reject_window_ms = 10000
max_rejects_per_window = 3

[[pairs]]
instrument = "BTC-USDT"
long = "binance-spot"
short = "binance-perp"
order_qty = "0.5"

[[pairs]]
instrument = "ETH-USDT"
long = "auto"
short = "auto"
venues = ["binance-perp", "bybit-perp", "okx-perp"]
max_notional = "8000"
"#;

#[derive(Deserialize)]
struct Tables {
    strategy: StrategyConfig,
    risk: RiskConfig,
    breakers: BreakerConfig,
    pairs: Vec<PairConfig>,
}

fn universe() -> Universe {
    let mut u = Universe::new();
    let btc = u.add("BTC-USDT").unwrap();
    let eth = u.add("ETH-USDT").unwrap();
    u.set_symbol(btc, v("binance-spot"), "BTCUSDT");
    u.set_symbol(btc, v("binance-perp"), "BTCUSDT");
    u.set_symbol(eth, v("binance-perp"), "ETHUSDT");
    u.set_symbol(eth, v("bybit-perp"), "ETHUSDT");
    u.set_symbol(eth, v("okx-perp"), "ETH-USDT-SWAP");
    u
}

fn config() -> DeciderConfig {
    let t: Tables = toml::from_str(CONFIG).unwrap();
    let mut venues = [VenueParams {
        taker_fee: d("0.0005"),
        maker_fee: d("0.0002"),
        maintenance_margin_rate: None,
        leverage: None,
    }; 10];
    venues[v("binance-spot").index()].taker_fee = d("0.001");
    DeciderConfig {
        pairs: t.pairs,
        strategy: t.strategy,
        risk: t.risk,
        breakers: t.breakers,
        venues,
    }
}

/// The decider, the confirmed positions execution would keep, and a clock the script advances.
struct World {
    decider: Decider,
    positions: Positions,
    ms: u64,
}

impl World {
    fn new() -> World {
        World::with(|_| {})
    }

    fn with(change: impl FnOnce(&mut DeciderConfig)) -> World {
        let mut cfg = config();
        change(&mut cfg);
        World {
            decider: Decider::new(cfg, &universe()).unwrap(),
            positions: Positions::new(2),
            ms: 1_000,
        }
    }

    fn now(&self) -> Now {
        Now::new(self.ms * MS, T0 + self.ms as i64)
    }

    fn at(&mut self, ms: u64) -> &mut World {
        self.ms = ms;
        self
    }

    fn send(&mut self, venue: &str, instrument: InstrumentId, kind: MarketEventKind) {
        let ev = MarketEvent {
            venue: v(venue),
            instrument,
            ts_ms: T0 + self.ms as i64,
            recv_ns: self.ms * MS,
            kind,
        };
        let now = self.now();
        self.decider.on_market(&ev, now);
    }

    fn quote(&mut self, venue: &str, instrument: InstrumentId, bid: &str, ask: &str) {
        let q = Quote {
            bid: d(bid),
            bid_qty: d("100"),
            ask: d(ask),
            ask_qty: d("100"),
        };
        self.send(venue, instrument, MarketEventKind::Quote(q));
    }

    /// A funding update on an 8 h schedule, stated by the venue.
    fn funding(&mut self, venue: &str, instrument: InstrumentId, rate: &str, mark: &str) {
        self.funding_full(
            venue,
            instrument,
            rate,
            mark,
            T0 + 8 * HOUR_MS,
            Some(8 * HOUR_MS as u64),
        );
    }

    fn funding_full(
        &mut self,
        venue: &str,
        instrument: InstrumentId,
        rate: &str,
        mark: &str,
        next_funding_time_ms: i64,
        interval_ms: Option<u64>,
    ) {
        let f = Funding {
            rate: d(rate),
            predicted_rate: None,
            next_funding_time_ms,
            interval_ms,
            mark_price: Some(d(mark)),
            index_price: None,
        };
        self.send(venue, instrument, MarketEventKind::Funding(f));
    }

    fn reset(&mut self, venue: &str) {
        self.send(venue, BTC, MarketEventKind::FeedReset);
    }

    fn evaluate(&mut self, pair: PairId) -> Option<PairTarget> {
        self.evaluate_in_flight(pair, false)
    }

    fn evaluate_in_flight(&mut self, pair: PairId, in_flight: bool) -> Option<PairTarget> {
        let now = self.now();
        self.decider.evaluate(pair, &self.positions, in_flight, now)
    }

    fn fill(&mut self, venue: &str, instrument: InstrumentId, qty: &str, price: &str) {
        self.positions
            .apply_fill(v(venue), instrument, d(qty), d(price));
    }

    /// Fills a target completely at `price` on both legs, as a perfect execution would.
    fn fill_target(&mut self, t: &PairTarget, price: &str) {
        for leg in [t.long, t.short] {
            let have = self.positions.get(leg.venue, t.instrument).qty;
            self.positions
                .apply_fill(leg.venue, t.instrument, leg.qty - have, d(price));
        }
    }

    fn changes(&mut self) -> Vec<(BreakerKind, Scope, bool)> {
        self.decider
            .breaker_changes()
            .map(|c: BreakerChange| (c.kind, c.scope, c.tripped))
            .collect()
    }

    fn skips(&self, r: SkipReason) -> u64 {
        self.decider.metrics().counters.skips[r.index()]
    }

    /// BTC spot–perp books at 100 with 1 bp half-spreads.
    fn btc_books(&mut self) {
        self.quote("binance-spot", BTC, "99.99", "100.01");
        self.quote("binance-perp", BTC, "99.99", "100.01");
    }

    /// BTC books, and perp funding of 3 bp per 8 h (32.85 % gross): above the entry threshold.
    fn btc_paying(&mut self) {
        self.btc_books();
        self.funding("binance-perp", BTC, "0.0003", "100");
    }

    /// The BTC pair entered on [`World::btc_paying`] and filled at 100; returns the entry.
    fn open_btc(&mut self) -> PairTarget {
        self.btc_paying();
        let entry = self.evaluate(SPOT_PERP).expect("an entry");
        assert_eq!(entry.reason, TargetReason::Enter);
        self.fill_target(&entry, "100");
        entry
    }
}

fn stream(venue: &str, instrument: InstrumentId) -> Scope {
    Scope::Stream {
        venue: v(venue),
        instrument,
    }
}

/// Round trip on the BTC pair: fees 2 × (10 + 5) bp + crossing 2 × (1 + 1) bp = 34 bp, over
/// 720 h: 34 bp × 8760 / 720 = 4.1367 % a year. Entry needs gross ≥ 14.1367 %, i.e. more than
/// 1.29 bp per 8 h on the perp.
#[test]
fn funding_widens_into_an_entry_target() {
    let mut w = World::new();
    w.btc_books();
    w.funding("binance-perp", BTC, "0.0001", "100"); // 10.95 % gross, 6.8 % net
    assert_eq!(w.evaluate(SPOT_PERP), None);
    assert_eq!(w.skips(SkipReason::BelowEntry), 1);
    let e = w.decider.edge(SPOT_PERP).unwrap();
    assert_eq!(e.gross_apr, d("0.1095"));
    assert_eq!(e.cost_apr, d("0.0034") * d("8760") / d("720"));

    w.at(2_000).funding("binance-perp", BTC, "0.0003", "100"); // 32.85 % gross
    let t = w.evaluate(SPOT_PERP).expect("entry");
    assert_eq!(t.reason, TargetReason::Enter);
    assert_eq!((t.long.venue, t.long.qty), (v("binance-spot"), d("0.5")));
    assert_eq!((t.short.venue, t.short.qty), (v("binance-perp"), d("-0.5")));
    assert_eq!(t.instrument, BTC);
    assert_eq!(w.decider.metrics().counters.decisions[0], 1);

    // Execution starts a cycle: while it is in flight, nothing new.
    assert_eq!(w.evaluate_in_flight(SPOT_PERP, true), None);
    // Filled: open, and the carry still pays, so hold.
    w.fill_target(&t, "100");
    assert_eq!(w.evaluate(SPOT_PERP), None);
    assert_eq!(w.skips(SkipReason::Holding), 1);
}

#[test]
fn an_entry_that_did_not_fill_is_asked_for_again() {
    let mut w = World::new();
    w.btc_paying();
    let first = w.evaluate(SPOT_PERP).unwrap();
    assert_eq!(w.evaluate_in_flight(SPOT_PERP, true), None);
    // The cycle ended with nothing filled (IOC missed): flat and idle, so the target returns.
    assert_eq!(w.evaluate(SPOT_PERP), Some(first));
}

#[test]
fn one_stale_leg_means_no_entry_and_the_breaker_says_which() {
    let mut w = World::new();
    w.btc_paying();
    // 6 s later only the perp has quoted: the spot book is older than its 5 s TTL.
    w.at(7_000).quote("binance-perp", BTC, "99.99", "100.01");
    assert_eq!(w.evaluate(SPOT_PERP), None);
    assert_eq!(w.skips(SkipReason::NoSpread), 1);
    assert!(
        w.decider.edge(SPOT_PERP).is_none(),
        "no spread from stale data"
    );
    assert_eq!(
        w.changes(),
        vec![(BreakerKind::StaleFeed, stream("binance-spot", BTC), true)]
    );
    // The spot book quotes again: the breaker clears at once and the entry goes out.
    w.at(7_500).quote("binance-spot", BTC, "99.99", "100.01");
    assert_eq!(
        w.changes(),
        vec![(BreakerKind::StaleFeed, stream("binance-spot", BTC), false)]
    );
    assert_eq!(w.evaluate(SPOT_PERP).unwrap().reason, TargetReason::Enter);
}

#[test]
fn stale_funding_on_the_perp_also_stops_entries_and_ticks_report_it() {
    let mut w = World::new();
    w.btc_paying();
    // Books keep quoting, funding stops (TTL 60 s).
    for s in 1..=62u64 {
        w.at(1_000 + s * 1_000).btc_books();
    }
    let now = w.now();
    w.decider.on_tick(now);
    assert_eq!(
        w.changes(),
        vec![(BreakerKind::StaleFeed, stream("binance-perp", BTC), true)]
    );
    assert_eq!(w.evaluate(SPOT_PERP), None);
    w.funding("binance-perp", BTC, "0.0003", "100");
    assert_eq!(
        w.changes(),
        vec![(BreakerKind::StaleFeed, stream("binance-perp", BTC), false)]
    );
    assert!(w.evaluate(SPOT_PERP).is_some());
}

/// The Go system waited for funding on the spot leg after a reconnect, which never comes.
#[test]
fn a_reset_spot_leg_recovers_as_soon_as_its_quotes_resume() {
    let mut w = World::new();
    w.btc_paying();
    w.at(2_000).reset("binance-spot");
    assert_eq!(
        w.changes(),
        vec![(BreakerKind::FeedReset, stream("binance-spot", BTC), true)]
    );
    assert_eq!(w.decider.pairs_on_venue(v("binance-spot")), &[SPOT_PERP]);
    assert_eq!(w.evaluate(SPOT_PERP), None, "no entry on a reset leg");
    // Perp data keeps flowing; that does not revive the spot leg.
    w.at(2_100).funding("binance-perp", BTC, "0.0003", "100");
    w.quote("binance-perp", BTC, "99.99", "100.01");
    assert_eq!(w.evaluate(SPOT_PERP), None);
    // One spot quote, no spot funding ever: fresh again.
    w.at(2_200).quote("binance-spot", BTC, "99.99", "100.01");
    assert_eq!(
        w.changes(),
        vec![(BreakerKind::FeedReset, stream("binance-spot", BTC), false)]
    );
    assert_eq!(w.evaluate(SPOT_PERP).unwrap().reason, TargetReason::Enter);
}

#[test]
fn the_spread_flipping_sign_exits_and_hysteresis_holds_in_between() {
    let mut w = World::new();
    w.open_btc();

    // 10.95 % gross: below the entry threshold, above the 2 % exit threshold: hold.
    w.at(2_000).funding("binance-perp", BTC, "0.0001", "100");
    assert_eq!(w.evaluate(SPOT_PERP), None);
    // The perp's funding turns negative: the short now pays. Exit both legs.
    w.at(3_000).funding("binance-perp", BTC, "-0.00005", "100");
    let t = w.evaluate(SPOT_PERP).expect("exit on sign flip");
    assert_eq!(t.reason, TargetReason::Exit);
    assert_eq!(
        (t.long.venue, t.long.qty),
        (v("binance-spot"), Decimal::ZERO)
    );
    assert_eq!(
        (t.short.venue, t.short.qty),
        (v("binance-perp"), Decimal::ZERO)
    );
    // Half the exit filled, cycle over: still open, still paying, so exit again.
    w.fill("binance-spot", BTC, "-0.25", "100");
    w.fill("binance-perp", BTC, "0.25", "100");
    assert_eq!(w.evaluate(SPOT_PERP), Some(t));
    w.fill_target(&t, "100");
    // Flat, and no longer worth entering.
    assert_eq!(w.evaluate(SPOT_PERP), None);
    assert_eq!(w.skips(SkipReason::BelowEntry), 1);
}

#[test]
fn carry_fading_below_the_exit_threshold_exits() {
    let mut w = World::new();
    w.open_btc();
    // 0.1 bp per 8 h = 1.095 %: positive but below exit_apr 2 %.
    w.at(2_000).funding("binance-perp", BTC, "0.00001", "100");
    assert_eq!(w.evaluate(SPOT_PERP).unwrap().reason, TargetReason::Exit);
}

/// Short 0.5 BTC perp at 100, 2x, 0.5 % maintenance: liquidation at 100 × 1.5 / 1.005 =
/// 149.25. Distance falls below 15 % once the mark is above 149.25 / 1.15 = 129.78.
#[test]
fn shrinking_liquidation_distance_forces_an_exit_while_entries_are_paused() {
    let mut w = World::new();
    w.open_btc();
    let now = w.now();
    w.decider.on_command(OperatorCommand::Pause, now);

    w.at(2_000).funding("binance-perp", BTC, "0.0003", "125");
    assert_eq!(w.evaluate(SPOT_PERP), None, "20 % from liquidation: fine");
    let risk = w
        .decider
        .leg_risk(v("binance-perp"), BTC, &w.positions)
        .unwrap();
    assert_eq!(risk.liquidation_price.round_dp(2), d("149.25"));

    w.at(3_000).funding("binance-perp", BTC, "0.0003", "131");
    let t = w
        .evaluate(SPOT_PERP)
        .expect("forced exit despite the pause");
    assert_eq!(t.reason, TargetReason::ForceExit);
    assert_eq!((t.long.qty, t.short.qty), (Decimal::ZERO, Decimal::ZERO));
    let changes = w.changes();
    assert!(changes.contains(&(BreakerKind::OperatorPause, Scope::Global, true)));
    assert!(changes.contains(&(
        BreakerKind::LiquidationDistance,
        Scope::Pair(SPOT_PERP),
        true
    )));

    // The exit cycle is in flight: once is enough.
    assert_eq!(w.evaluate_in_flight(SPOT_PERP, true), None);
    // Even if the mark comes back, a tripped force exit stays until the pair is flat.
    w.at(4_000).funding("binance-perp", BTC, "0.0003", "100");
    assert_eq!(
        w.evaluate(SPOT_PERP).unwrap().reason,
        TargetReason::ForceExit
    );
    w.fill_target(&t, "131");
    assert_eq!(w.evaluate(SPOT_PERP), None);
    assert_eq!(
        w.changes(),
        vec![(
            BreakerKind::LiquidationDistance,
            Scope::Pair(SPOT_PERP),
            false
        )]
    );
    assert_eq!(
        w.skips(SkipReason::EntriesPaused),
        1,
        "still paused: no re-entry"
    );
}

/// With a 2 % margin-ratio ceiling, the short (0.5 @ 100, 2x, 0.5 % maintenance) breaches at a
/// mark above 120: maintenance 0.0025·P against equity 75 − 0.5·P.
#[test]
fn a_margin_ratio_past_its_ceiling_forces_an_exit_during_an_entry_cycle() {
    let mut w = World::with(|c| c.risk.max_margin_ratio = d("0.02"));
    w.btc_paying();
    let entry = w.evaluate(SPOT_PERP).unwrap();
    // Only the perp leg has filled so far; the cycle is still in flight.
    w.fill("binance-perp", BTC, "-0.5", "100");
    // Mark 110: ratio 0.275 / 20 = 1.375 %: fine, and in flight, so nothing.
    w.at(2_000).funding("binance-perp", BTC, "0.0003", "110");
    assert_eq!(w.evaluate_in_flight(SPOT_PERP, true), None);
    // Mark 125: ratio 0.3125 / 12.5 = 2.5 %, while the distance (16.2 %) is still fine.
    w.at(3_000).funding("binance-perp", BTC, "0.0003", "125");
    let t = w.evaluate_in_flight(SPOT_PERP, true).unwrap();
    assert_eq!(t.reason, TargetReason::ForceExit);
    assert_eq!(
        (t.long.venue, t.short.venue),
        (entry.long.venue, entry.short.venue)
    );
    assert_eq!(
        w.evaluate_in_flight(SPOT_PERP, true),
        None,
        "once per cycle"
    );
    assert!(w
        .changes()
        .contains(&(BreakerKind::MarginRatio, Scope::Pair(SPOT_PERP), true)));
    // The entry cycle ends with the perp leg still open: the forced exit is asked for again.
    assert_eq!(
        w.evaluate(SPOT_PERP).unwrap().reason,
        TargetReason::ForceExit
    );
}

#[test]
fn pause_resume_and_flatten() {
    let mut w = World::new();
    w.btc_paying();
    let now = w.now();
    w.decider.on_command(OperatorCommand::Pause, now);
    assert_eq!(w.evaluate(SPOT_PERP), None);
    assert_eq!(w.skips(SkipReason::EntriesPaused), 1);
    w.decider.on_command(OperatorCommand::Resume, now);
    let entry = w.evaluate(SPOT_PERP).expect("entries back after resume");
    w.fill_target(&entry, "100");

    w.at(2_000);
    let now = w.now();
    w.decider.on_command(OperatorCommand::Flatten, now);
    let t = w.evaluate(SPOT_PERP).unwrap();
    assert_eq!(t.reason, TargetReason::Flatten);
    assert_eq!((t.long.qty, t.short.qty), (Decimal::ZERO, Decimal::ZERO));
    w.fill_target(&t, "100");
    assert_eq!(w.evaluate(SPOT_PERP), None, "flattened stays flat");
    assert_eq!(w.skips(SkipReason::EntriesPaused), 2);
    w.decider.on_command(OperatorCommand::Resume, now);
    assert_eq!(w.evaluate(SPOT_PERP).unwrap().reason, TargetReason::Enter);
    assert_eq!(
        w.changes(),
        vec![
            (BreakerKind::OperatorPause, Scope::Global, true),
            (BreakerKind::OperatorPause, Scope::Global, false),
            (BreakerKind::OperatorFlatten, Scope::Global, true),
            (BreakerKind::OperatorFlatten, Scope::Global, false),
        ]
    );
    assert_eq!(w.decider.metrics().counters.commands, [1, 2, 1]);
}

#[test]
fn venue_rejects_pause_entries_there_but_never_block_an_exit() {
    let mut w = World::new();
    let entry = w.open_btc();
    let now = w.now();
    for _ in 0..4 {
        w.decider.on_reject(v("binance-perp"), now);
    }
    assert_eq!(
        w.changes(),
        vec![(
            BreakerKind::RejectRate,
            Scope::Venue(v("binance-perp")),
            true
        )]
    );
    w.at(2_000).funding("binance-perp", BTC, "-0.0001", "100");
    assert_eq!(w.evaluate(SPOT_PERP).unwrap().reason, TargetReason::Exit);
    w.fill_target(&entry.clone_flat(), "100");
    w.at(3_000).funding("binance-perp", BTC, "0.0003", "100");
    w.btc_books();
    assert_eq!(
        w.evaluate(SPOT_PERP),
        None,
        "entries on binance-perp paused"
    );
    assert_eq!(w.skips(SkipReason::EntriesPaused), 1);
    // The window (10 s) passes.
    w.at(12_000).funding("binance-perp", BTC, "0.0003", "100");
    w.btc_books();
    assert_eq!(w.evaluate(SPOT_PERP).unwrap().reason, TargetReason::Enter);
    assert_eq!(
        w.changes(),
        vec![(
            BreakerKind::RejectRate,
            Scope::Venue(v("binance-perp")),
            false
        )]
    );
}

trait Flat {
    fn clone_flat(&self) -> PairTarget;
}

impl Flat for PairTarget {
    fn clone_flat(&self) -> PairTarget {
        let mut t = *self;
        t.long.qty = Decimal::ZERO;
        t.short.qty = Decimal::ZERO;
        t
    }
}

#[test]
fn leftover_exposure_pauses_the_pair_until_resume_and_exits_continue() {
    let mut w = World::new();
    w.open_btc();
    w.at(2_000).funding("binance-perp", BTC, "-0.0001", "100");
    assert_eq!(w.evaluate(SPOT_PERP).unwrap().reason, TargetReason::Exit);
    // The exit closed the spot leg only; execution gave up on the perp.
    w.fill("binance-spot", BTC, "-0.5", "100");
    let now = w.now();
    w.decider.on_leftover_exposure(SPOT_PERP, now);
    let again = w
        .evaluate(SPOT_PERP)
        .expect("the open perp leg is still exited");
    assert_eq!(again.reason, TargetReason::Exit);
    assert_eq!(again.short.venue, v("binance-perp"));
    w.fill("binance-perp", BTC, "0.5", "100");
    w.at(3_000).funding("binance-perp", BTC, "0.0003", "100");
    assert_eq!(
        w.evaluate(SPOT_PERP),
        None,
        "no entry until the operator resumes"
    );
    w.decider.on_command(OperatorCommand::Resume, now);
    assert!(w.evaluate(SPOT_PERP).is_some());
}

#[test]
fn a_journal_failure_halts_even_forced_exits() {
    let mut w = World::new();
    w.open_btc();
    let now = w.now();
    w.decider.on_journal_failure(now);
    w.decider.on_command(OperatorCommand::Flatten, now);
    w.decider.on_command(OperatorCommand::Resume, now);
    assert_eq!(w.evaluate(SPOT_PERP), None);
    assert!(w.decider.is_halted());
    assert_eq!(w.skips(SkipReason::Halted), 1);
    assert_eq!(
        w.changes()[0],
        (BreakerKind::JournalFailure, Scope::Global, true)
    );
}

fn eth_books(w: &mut World) {
    for venue in ["binance-perp", "bybit-perp", "okx-perp"] {
        w.quote(venue, ETH, "2999.9", "3000.1");
    }
}

#[test]
fn an_auto_pair_picks_the_best_paying_venues_and_keeps_them_while_open() {
    let mut w = World::new();
    eth_books(&mut w);
    w.funding("binance-perp", ETH, "0.0001", "3000");
    w.funding("bybit-perp", ETH, "0.0005", "3000");
    w.funding("okx-perp", ETH, "-0.0002", "3000");
    assert_eq!(w.decider.pairs_for(v("okx-perp"), ETH), &[AUTO]);
    // Best: long okx (receives 2 bp), short bybit (receives 5 bp): 7 bp per 8 h.
    let t = w.evaluate(AUTO).unwrap();
    assert_eq!(
        (t.long.venue, t.short.venue),
        (v("okx-perp"), v("bybit-perp"))
    );
    assert_eq!(w.decider.edge(AUTO).unwrap().spread, d("0.0007"));
    // 8000 quote units at the dearer touch (3000.1): 2.66657778 ETH, cut, never rounded up.
    assert_eq!(t.long.qty, d("2.66657778"));
    assert_eq!(t.short.qty, -t.long.qty);
    w.fill_target(&t, "3000");

    // Rates move: binance now pays most. The open pair keeps okx/bybit and judges exit on them.
    w.at(2_000).funding("binance-perp", ETH, "0.0010", "3000");
    w.funding("bybit-perp", ETH, "0.0001", "3000");
    assert_eq!(w.evaluate(AUTO), None, "okx −2 / bybit +1: still 3 bp");
    w.funding("bybit-perp", ETH, "-0.0003", "3000");
    let exit = w.evaluate(AUTO).unwrap();
    assert_eq!(exit.reason, TargetReason::Exit);
    assert_eq!(
        (exit.long.venue, exit.short.venue),
        (v("okx-perp"), v("bybit-perp"))
    );
    w.fill_target(&exit, "3000");
    // Flat again: free to choose. Long bybit (−3) and short binance (+10).
    let t = w.evaluate(AUTO).unwrap();
    assert_eq!(
        (t.long.venue, t.short.venue),
        (v("bybit-perp"), v("binance-perp"))
    );
}

#[test]
fn a_stale_candidate_is_skipped_by_an_auto_pair() {
    let mut w = World::new();
    eth_books(&mut w);
    w.funding("binance-perp", ETH, "0.0001", "3000");
    w.funding("bybit-perp", ETH, "0.0005", "3000");
    w.funding("okx-perp", ETH, "-0.0002", "3000");
    w.at(1_500)
        .send("okx-perp", BTC, MarketEventKind::FeedReset);
    let t = w.evaluate(AUTO).unwrap();
    assert_eq!(
        (t.long.venue, t.short.venue),
        (v("binance-perp"), v("bybit-perp"))
    );
}

/// The Go system assumed 8 h everywhere. A 1 h symbol's 1 bp is 87.6 % a year, not 10.95 %.
#[test]
fn the_interval_learned_from_the_schedule_changes_the_decision() {
    let mut w = World::new();
    w.btc_books();
    // Binance's markPrice stream states no interval: 8 h fallback, 10.95 % gross, no entry.
    w.funding_full("binance-perp", BTC, "0.0001", "100", T0 + HOUR_MS, None);
    assert_eq!(w.evaluate(SPOT_PERP), None);
    assert_eq!(w.decider.edge(SPOT_PERP).unwrap().gross_apr, d("0.1095"));
    // The settlement passes and the next one is an hour later: it is a 1 h symbol.
    w.at(2_000)
        .funding_full("binance-perp", BTC, "0.0001", "100", T0 + 2 * HOUR_MS, None);
    let t = w.evaluate(SPOT_PERP).expect("87.6 % gross");
    assert_eq!(t.reason, TargetReason::Enter);
    assert_eq!(w.decider.edge(SPOT_PERP).unwrap().gross_apr, d("0.876"));
}

#[test]
fn a_target_that_breaks_a_limit_is_rejected_and_counted() {
    let mut w = World::new();
    // Fill the book to the total limit (15000) through the ETH pair: 5 ETH at 3000.
    w.fill("bybit-perp", ETH, "5", "3000");
    w.fill("okx-perp", ETH, "-5", "3000");
    w.btc_paying();
    assert_eq!(w.evaluate(SPOT_PERP), None, "no headroom left");
    assert_eq!(
        w.decider.metrics().counters.rejections[RejectReason::NonPositiveQty.index()],
        1
    );
    assert_eq!(w.decider.metrics().counters.decisions, [0, 0, 0, 0]);
}

#[test]
fn an_entry_is_sized_to_the_headroom_other_pairs_leave_and_gets_it_back_when_they_close() {
    let mut w = World::new();
    // 14970 of the 15000 total held through the ETH pair (4.99 ETH at 3000 on each leg).
    w.fill("bybit-perp", ETH, "4.99", "3000");
    w.fill("okx-perp", ETH, "-4.99", "3000");
    w.btc_paying();
    // 30 of headroom at the dearer touch (the long leg's ask, 100.01), cut to 8 places.
    let t = w.evaluate(SPOT_PERP).expect("an entry within the headroom");
    assert_eq!(
        (t.long.qty, t.short.qty),
        (d("0.29997000"), d("-0.29997000"))
    );
    // The ETH pair closes: the BTC pair is back to its own order_qty.
    w.fill("bybit-perp", ETH, "-4.99", "3000");
    w.fill("okx-perp", ETH, "4.99", "3000");
    let t = w.evaluate(SPOT_PERP).expect("a full entry");
    assert_eq!(t.long.qty, d("0.5"));
}

/// Prices of 10⁷ and up do not fit the fixed point the entry decision uses: it decides with
/// exact decimals instead, and decides the same way.
#[test]
fn an_entry_at_a_price_past_fixed_point_is_decided_exactly() {
    let mut w = World::new();
    w.quote("binance-spot", BTC, "19999990", "20000010");
    w.quote("binance-perp", BTC, "19999990", "20000010");
    w.funding("binance-perp", BTC, "0.0003", "20000000");
    let t = w
        .evaluate(SPOT_PERP)
        .expect("32.85 % gross pays at any price");
    assert_eq!(t.reason, TargetReason::Enter);
    // 10000 of pair notional at the long leg's ask, cut to 8 places.
    assert_eq!(t.long.qty, d("0.00049999"));
    // Below the threshold it stays flat, exactly as at ordinary prices.
    let mut w = World::new();
    w.quote("binance-spot", BTC, "19999990", "20000010");
    w.quote("binance-perp", BTC, "19999990", "20000010");
    w.funding("binance-perp", BTC, "0.00005", "20000000");
    assert_eq!(w.evaluate(SPOT_PERP), None);
}

#[test]
fn metrics_show_spreads_staleness_exposure_and_margin() {
    let mut w = World::new();
    w.open_btc();
    w.at(3_000).funding("binance-perp", BTC, "0.0003", "110");
    let now = w.now();
    w.decider.refresh_metrics(&w.positions, now);
    let m = w.decider.metrics();
    let p = &m.pairs[0];
    assert_eq!(p.name, "BTC-USDT:binance-spot/binance-perp");
    assert!(p.open);
    assert!((p.spread.unwrap() - 0.0003).abs() < 1e-12);
    assert!((p.gross_apr.unwrap() - 0.3285).abs() < 1e-12);
    assert!(p.net_apr.unwrap() < 0.3285);
    assert_eq!(m.pairs[1].gross_apr, None, "no ETH data yet");
    let spot = m
        .streams
        .iter()
        .find(|s| s.venue == v("binance-spot") && s.instrument == BTC)
        .unwrap();
    assert_eq!(spot.quote_age_ms, Some(2_000));
    assert_eq!(spot.funding_age_ms, None);
    assert_eq!(spot.problem, None);
    assert_eq!(m.streams.len(), 5, "2 BTC streams + 3 ETH candidates");
    assert_eq!(m.exposures.len(), 1);
    assert_eq!(m.exposures[0].net_delta, 0.0);
    assert_eq!(m.exposures[0].spot_qty, 0.5);
    assert_eq!(m.legs.len(), 1, "one perp leg");
    let leg = &m.legs[0];
    assert_eq!(leg.mark_price, 110.0);
    // Short 0.5 @ 100, mark 110: distance (149.25 − 110) / 110 ≈ 35.7 %; margin ratio
    // 0.5 × 110 × 0.005 / (25 − 5) = 1.375 %.
    assert!(
        (leg.liquidation_distance - 0.3568).abs() < 1e-3,
        "{}",
        leg.liquidation_distance
    );
    assert!((leg.margin_ratio.unwrap() - 0.01375).abs() < 1e-9);
    // Spot leg 0.5 at mid 100 = 50; perp leg 0.5 at mark 110 = 55: the larger side counts.
    assert_eq!(m.total_notional, 55.0);
    assert_eq!(m.counters.decisions[0], 1);
}

/// The same inputs give the same targets, which `carry replay` relies on.
#[test]
fn decisions_are_deterministic() {
    fn run() -> Vec<Option<PairTarget>> {
        let mut w = World::new();
        let mut out = Vec::new();
        for step in 0..200u64 {
            w.at(1_000 + step * 700);
            let bp = (step % 13) as i64 - 4;
            w.btc_books();
            eth_books(&mut w);
            w.funding(
                "binance-perp",
                BTC,
                &format!("{}", Decimal::new(bp, 4)),
                "100",
            );
            w.funding(
                "bybit-perp",
                ETH,
                &format!("{}", Decimal::new(bp * 2, 4)),
                "3000",
            );
            w.funding("okx-perp", ETH, "0.0001", "3000");
            w.funding("binance-perp", ETH, "-0.0001", "3000");
            if step % 31 == 0 {
                w.reset("binance-spot");
            }
            for pair in [SPOT_PERP, AUTO] {
                let t = w.evaluate(pair);
                if let Some(t) = &t {
                    w.fill_target(t, "100");
                }
                out.push(t);
            }
        }
        out
    }
    let a = run();
    assert_eq!(a, run());
    assert!(
        a.iter().filter(|t| t.is_some()).count() > 4,
        "the script trades"
    );
}

#[test]
fn configuration_errors_name_the_key() {
    let mut cfg = config();
    cfg.pairs[1].long = "binanse-perp".into();
    let err = Decider::new(cfg, &universe()).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("pairs[1].long: unknown venue \"binanse-perp\""),
        "{err}"
    );
    let mut cfg = config();
    cfg.strategy.exit_apr = d("0.5");
    let err = Decider::new(cfg, &universe()).err().unwrap();
    assert!(
        err.to_string()
            .starts_with("strategy.exit_apr: must be below entry_apr"),
        "{err}"
    );
}

/// Counts heap allocations per thread, so the test below sees only its own (tests run on
/// parallel threads).
mod allocations {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub struct Counting;

    fn bump() {
        // try_with: the counter may already be gone while a thread is being torn down.
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: every call forwards to the system allocator with the caller's own arguments; the
    // only addition is a thread-local counter, which does not allocate (const-initialized).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            bump();
            // SAFETY: same contract as the caller's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from `System` through `alloc`/`realloc` above.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            bump();
            // SAFETY: `ptr` came from `System` through this allocator.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    pub fn count() -> u64 {
        COUNT.with(|c| c.get())
    }
}

#[global_allocator]
static ALLOCATOR: allocations::Counting = allocations::Counting;

#[derive(Clone, Copy)]
enum Step {
    Quote(&'static str, InstrumentId, &'static str, &'static str),
    Funding(&'static str, InstrumentId, &'static str, &'static str),
    Reset(&'static str),
    Tick,
    Evaluate(PairId, bool),
    Reject(&'static str),
    Command(OperatorCommand),
}

/// One lap of a day in the life: entries, holds, exits, a stale leg, a feed reset, rejects, a
/// forced exit, pause/flatten/resume; it ends flat, so laps repeat the same paths.
fn day() -> Vec<(u64, Step)> {
    use Step::*;
    let btc = |ms, s| (ms, s);
    let mut s = vec![
        btc(0, Quote("binance-spot", BTC, "99.99", "100.01")),
        btc(0, Quote("binance-perp", BTC, "99.99", "100.01")),
        btc(0, Funding("binance-perp", BTC, "0.0001", "100")),
        btc(0, Evaluate(SPOT_PERP, false)), // below entry
        btc(100, Funding("binance-perp", BTC, "0.0003", "100")),
        btc(100, Evaluate(SPOT_PERP, false)), // enter (filled by the runner)
        btc(200, Evaluate(SPOT_PERP, false)), // hold
        btc(7_000, Quote("binance-perp", BTC, "99.99", "100.01")),
        btc(7_000, Tick), // spot stale
        btc(7_000, Evaluate(SPOT_PERP, false)),
        btc(7_100, Quote("binance-spot", BTC, "99.99", "100.01")),
        btc(7_200, Reset("binance-perp")),
        btc(7_200, Evaluate(SPOT_PERP, false)),
        btc(7_300, Quote("binance-perp", BTC, "99.99", "100.01")),
        btc(7_300, Funding("binance-perp", BTC, "0.0003", "131")), // liquidation distance
        btc(7_300, Evaluate(SPOT_PERP, true)),                     // forced, in flight
        btc(7_300, Evaluate(SPOT_PERP, true)),                     // once
        btc(7_400, Evaluate(SPOT_PERP, false)),                    // forced again, filled flat
        btc(7_500, Funding("binance-perp", BTC, "0.0003", "100")),
        btc(7_500, Command(OperatorCommand::Pause)),
        btc(7_500, Evaluate(SPOT_PERP, false)),
        btc(7_600, Command(OperatorCommand::Resume)),
        btc(7_600, Evaluate(SPOT_PERP, false)), // enter again
        btc(7_700, Command(OperatorCommand::Flatten)),
        btc(7_700, Evaluate(SPOT_PERP, false)), // flatten, filled
        btc(7_800, Command(OperatorCommand::Resume)),
        btc(7_800, Reject("binance-perp")),
        btc(7_800, Reject("binance-perp")),
        btc(7_800, Reject("binance-perp")),
        btc(7_800, Reject("binance-perp")),
        btc(7_900, Evaluate(SPOT_PERP, false)), // venue paused
        btc(18_000, Quote("binance-spot", BTC, "99.99", "100.01")),
        btc(18_000, Quote("binance-perp", BTC, "99.99", "100.01")),
        btc(18_000, Funding("binance-perp", BTC, "0.0003", "100")),
        btc(18_000, Tick),
        btc(18_000, Evaluate(SPOT_PERP, false)), // enter
        btc(18_100, Funding("binance-perp", BTC, "-0.0001", "100")),
        btc(18_100, Evaluate(SPOT_PERP, false)), // exit on the flip, filled
    ];
    for venue in ["binance-perp", "bybit-perp", "okx-perp"] {
        s.push((18_200, Quote(venue, ETH, "2999.9", "3000.1")));
    }
    s.push((18_200, Funding("okx-perp", ETH, "-0.0002", "3000")));
    s.push((18_200, Funding("bybit-perp", ETH, "0.0005", "3000")));
    s.push((18_200, Funding("binance-perp", ETH, "0.0001", "3000")));
    s.push((18_200, Evaluate(AUTO, false))); // enter okx/bybit
    s.push((18_300, Funding("bybit-perp", ETH, "-0.0003", "3000")));
    s.push((18_300, Evaluate(AUTO, false))); // exit
    s.push((18_400, Evaluate(AUTO, false))); // enter bybit/binance
    s.push((18_500, Command(OperatorCommand::Flatten)));
    s.push((18_500, Evaluate(AUTO, false))); // flatten
    s.push((18_600, Command(OperatorCommand::Resume)));
    s
}

fn run_day(w: &mut World, day: &[(u64, Step)], base_ms: u64) -> (usize, usize) {
    let (mut targets, mut changes) = (0, 0);
    for &(ms, step) in day {
        w.at(base_ms + ms);
        let now = w.now();
        match step {
            Step::Quote(venue, i, bid, ask) => w.quote(venue, i, bid, ask),
            Step::Funding(venue, i, rate, mark) => w.funding(venue, i, rate, mark),
            Step::Reset(venue) => w.reset(venue),
            Step::Tick => w.decider.on_tick(now),
            Step::Reject(venue) => w.decider.on_reject(v(venue), now),
            Step::Command(c) => w.decider.on_command(c, now),
            Step::Evaluate(pair, in_flight) => {
                if let Some(t) = w.evaluate_in_flight(pair, in_flight) {
                    w.fill_target(&t, "100");
                    targets += 1;
                }
            }
        }
        changes += w.decider.breaker_changes().count();
    }
    (targets, changes)
}

#[test]
fn no_allocation_per_event_after_warm_up() {
    let day = day();
    let mut w = World::new();
    let warm = run_day(&mut w, &day, 0);
    assert!(
        warm.0 >= 9 && warm.1 >= 12,
        "the day exercises the paths: {warm:?}"
    );
    let before = allocations::count();
    let again = run_day(&mut w, &day, 100_000);
    let allocated = allocations::count() - before;
    // Same decisions; more breaker changes, since the ETH streams (never received on the first
    // day) now go stale over the night and recover in the morning.
    assert_eq!(again.0, warm.0, "the second day takes the same decisions");
    assert!(again.1 >= warm.1);
    assert_eq!(
        allocated, 0,
        "allocations on the decision path after warm-up"
    );
    // The gauges refresh without allocating too, once their vectors have grown.
    let now = w.now();
    w.decider.refresh_metrics(&w.positions, now);
    let before = allocations::count();
    w.decider.refresh_metrics(&w.positions, now);
    assert_eq!(
        allocations::count() - before,
        0,
        "refresh_metrics allocated"
    );
}

//! A wired carry node for tests: the real engine with the real decision half on a real journal,
//! the paper venue on its own gateway thread (with its own journal), the quote board between
//! them, and a scripted market in place of the feeds: quotes every few milliseconds and a
//! funding regime that turns entries on and off, so cycles start, hedge and exit on their own.
//! The loop is what the engine thread of `carry demo` does, minus sockets.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use carry::gateway::paper::{state_dir, PaperConfig, PaperVenue};
use carry::gateway::quote_board::QuoteBoard;
use carry_engine::config::{
    BreakerConfig, EngineConfig, ExecConfig, PairConfig, ResolveMode, RiskConfig, StrategyConfig,
};
use carry_engine::engine::{Engine, Input};
use carry_engine::execution::order::OrderIntent;
use carry_engine::{
    Decider, DeciderConfig, Funding, InstrumentId, InstrumentSpec, MarketEvent, MarketEventKind,
    Now, OperatorCommand, Quote, Universe, Venue, VenueParams,
};
use carry_feeds::gateway::{self, GatewayOptions, Gateways, ReportReceiver};
use carry_feeds::transport::clock::{mono_ns, unix_ms};
use carry_journal::{Journal, JournalOptions};
use rust_decimal::Decimal;
use serde::Deserialize;

pub const BTC: InstrumentId = InstrumentId(0);
/// The entry size of the one pair: no venue position may ever exceed it.
pub const ORDER_QTY: &str = "0.5";

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn spot() -> Venue {
    "binance-spot".parse().unwrap()
}

pub fn perp() -> Venue {
    "bybit-perp".parse().unwrap()
}

const TABLES: &str = r#"
[strategy]
entry_apr = "0.10"
exit_apr = "0.02"
expected_holding_hours = 720

[risk]
max_notional_per_pair = 10000
max_total_notional = 15000

[breakers]
funding_ttl_ms = 60000
quote_ttl_ms = 5000
reject_window_ms = 1000
max_rejects_per_window = 50

[[pairs]]
instrument = "BTC-USDT"
long = "binance-spot"
short = "bybit-perp"
order_qty = "0.5"
"#;

#[derive(Deserialize)]
struct Tables {
    strategy: StrategyConfig,
    risk: RiskConfig,
    breakers: BreakerConfig,
    pairs: Vec<PairConfig>,
}

pub fn universe() -> Universe {
    let mut u = Universe::new();
    let btc = u.add("BTC-USDT").unwrap();
    u.set_symbol(btc, spot(), "BTCUSDT");
    u.set_symbol(btc, perp(), "BTCUSDT");
    u
}

pub fn decider() -> Decider {
    let t: Tables = toml::from_str(TABLES).unwrap();
    let venues = [VenueParams {
        taker_fee: d("0.0005"),
        maker_fee: d("0.0002"),
        maintenance_margin_rate: None,
        leverage: None,
    }; 10];
    let cfg = DeciderConfig {
        pairs: t.pairs,
        strategy: t.strategy,
        risk: t.risk,
        breakers: t.breakers,
        venues,
    };
    Decider::new(cfg, &universe()).unwrap()
}

pub fn specs() -> Vec<(Venue, InstrumentId, InstrumentSpec)> {
    let spec = InstrumentSpec {
        tick_size: d("0.01"),
        lot_size: d("0.001"),
        min_qty: d("0.001"),
        min_notional: d("0"),
        contract_size: None,
    };
    vec![(spot(), BTC, spec), (perp(), BTC, spec)]
}

pub fn engine_config() -> EngineConfig {
    EngineConfig {
        instance: "chaos".into(),
        execution: ExecConfig {
            ack_timeout_ms: 200,
            probe_interval_ms: 100,
            order_timeout_ms: 1_000,
            resolve: ResolveMode::Resend,
            ..ExecConfig::default()
        },
        config_text: TABLES.into(),
    }
}

pub fn paper_config(seed: u64) -> PaperConfig {
    PaperConfig {
        seed,
        latency_ms: 2,
        partial_fill_ratio: d("0.3"),
        reject_ratio: d("0.05"),
        ..PaperConfig::default()
    }
}

fn journal_options() -> JournalOptions {
    JournalOptions::default().segment_size(4 << 20)
}

fn now() -> Now {
    Now::new(mono_ns(), unix_ms())
}

/// Quotes and funding as a feed would deliver them, generated from a seed and the clock:
/// a random-walk mid, thin and changing touch sizes (so entries fill partly), and perp funding
/// that alternates between paying (entry) and flipped (exit) every `regime` of time.
pub struct MarketScript {
    rng: u64,
    mid_cents: i64,
    next_quote_ns: u64,
    next_funding_ns: u64,
    next_tick_ns: u64,
    start_ns: u64,
    regime_ns: u64,
    quote_every_ns: u64,
    turn: usize,
}

impl MarketScript {
    pub fn new(seed: u64, regime: Duration) -> MarketScript {
        let t = mono_ns();
        MarketScript {
            rng: seed | 1,
            mid_cents: 10_000,
            next_quote_ns: t,
            next_funding_ns: t,
            next_tick_ns: t,
            start_ns: t,
            regime_ns: regime.as_nanos() as u64,
            quote_every_ns: 2_000_000,
            turn: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// The next input due at `t`, if any.
    pub fn due(&mut self, t: u64) -> Option<Input> {
        if t >= self.next_tick_ns {
            self.next_tick_ns = t + 10_000_000;
            return Some(Input::Tick);
        }
        if t >= self.next_funding_ns {
            self.next_funding_ns = t + 50_000_000;
            let paying = ((t - self.start_ns) / self.regime_ns) % 2 == 0;
            let rate = if paying { d("0.0004") } else { d("-0.0002") };
            let mark = Decimal::new(self.mid_cents, 2);
            let now_ms = unix_ms();
            let interval = 8 * 3_600_000i64;
            return Some(Input::Market(MarketEvent {
                venue: perp(),
                instrument: BTC,
                ts_ms: now_ms,
                recv_ns: t,
                kind: MarketEventKind::Funding(Funding {
                    rate,
                    predicted_rate: None,
                    next_funding_time_ms: (now_ms / interval + 1) * interval,
                    interval_ms: Some(interval as u64),
                    mark_price: Some(mark),
                    index_price: None,
                }),
            }));
        }
        if t >= self.next_quote_ns {
            self.next_quote_ns = t + self.quote_every_ns;
            self.mid_cents += (self.next() % 5) as i64 - 2;
            self.turn += 1;
            let venue = if self.turn % 2 == 0 { spot() } else { perp() };
            let size = |r: u64| Decimal::new(100 + (r % 1_900) as i64, 3); // 0.1 .. 2.0
            let (bq, aq) = (size(self.next()), size(self.next()));
            return Some(Input::Market(MarketEvent {
                venue,
                instrument: BTC,
                ts_ms: unix_ms(),
                recv_ns: t,
                kind: MarketEventKind::Quote(Quote {
                    bid: Decimal::new(self.mid_cents - 1, 2),
                    bid_qty: bq,
                    ask: Decimal::new(self.mid_cents + 1, 2),
                    ask_qty: aq,
                }),
            }));
        }
        None
    }
}

/// The wired node.
pub struct Node {
    pub engine: Engine<Decider, Journal>,
    pub board: Arc<QuoteBoard>,
    gateways: Option<Gateways>,
    reports: ReportReceiver,
    backlog: Vec<OrderIntent>,
    out: Vec<OrderIntent>,
    pub script: MarketScript,
    pub intents_sent: u64,
}

impl Node {
    /// Opens (or recovers) a node whose engine journal is `dir` and paper venue state is
    /// `state_dir(dir)`.
    pub fn open(dir: &Path, seed: u64, regime: Duration) -> Node {
        let (journal, _) = Journal::open(dir, journal_options()).expect("engine journal");
        let engine = Engine::open(
            engine_config(),
            &universe(),
            decider(),
            &specs(),
            journal,
            now(),
        )
        .expect("engine opens");
        let board = Arc::new(QuoteBoard::new(1));
        let (paper_journal, _) =
            Journal::open(state_dir(dir), journal_options()).expect("paper journal");
        let mut paper = PaperVenue::open(paper_config(seed), board.clone(), 1, Some(paper_journal))
            .expect("paper venue opens");
        for (v, i, s) in specs() {
            paper.set_spec(v, i, s);
        }
        let (tx, reports) = gateway::report_queue(4096);
        let handle = gateway::spawn(
            Box::new(paper),
            tx,
            GatewayOptions {
                thread_name: "paper".into(),
                idle_wait: Duration::from_millis(1),
                ..GatewayOptions::default()
            },
        )
        .expect("gateway thread");
        let mut gateways = Gateways::new();
        gateways.add(handle, &[spot(), perp()]);
        Node {
            engine,
            board,
            gateways: Some(gateways),
            reports,
            backlog: Vec::new(),
            out: Vec::new(),
            script: MarketScript::new(seed, regime),
            intents_sent: 0,
        }
    }

    fn input(&mut self, input: &Input) {
        if let Input::Market(ev) = input {
            self.board.observe(ev);
        }
        self.out.clear();
        self.engine.on_event(input, now(), &mut self.out);
        self.backlog.extend_from_slice(&self.out);
    }

    fn forward(&mut self) {
        let Some(gateways) = &self.gateways else {
            return;
        };
        let mut kept = 0;
        for i in 0..self.backlog.len() {
            let intent = self.backlog[i];
            match gateways.send(intent) {
                Ok(()) => self.intents_sent += 1,
                Err(back) => {
                    self.backlog[kept] = back;
                    kept += 1;
                }
            }
        }
        self.backlog.truncate(kept);
    }

    /// One turn of the engine loop: reports first (never conflated), then market and timers,
    /// then hand the journaled intents to the gateway.
    pub fn turn(&mut self) {
        while let Ok(r) = self.reports.try_recv() {
            self.input(&Input::Exec(r));
        }
        let t = mono_ns();
        while let Some(input) = self.script.due(t) {
            self.input(&input);
        }
        self.forward();
        // Idle until the gateway answers or the next scripted input is due (~1 ms).
        if let Ok(r) = self.reports.recv_timeout(Duration::from_micros(500)) {
            self.input(&Input::Exec(r));
        }
    }

    pub fn command(&mut self, cmd: OperatorCommand) {
        self.input(&Input::Command(cmd));
        self.forward();
    }

    /// Runs until `until` says stop (checked every turn) or `limit` passes; true if `until` did.
    pub fn run_until(&mut self, limit: Duration, mut until: impl FnMut(&Node) -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            self.turn();
            if until(self) {
                return true;
            }
        }
        false
    }

    /// No cycle in flight and no order of unknown or pending fate.
    pub fn quiescent(&self) -> bool {
        self.backlog.is_empty()
            && self
                .engine
                .pairs()
                .all(|p| !p.state.in_flight() && p.working_orders == 0 && p.unknown_orders == 0)
    }

    /// Stops the gateway thread and flushes both journals.
    pub fn close(mut self) {
        if let Some(g) = self.gateways.take() {
            g.shutdown();
        }
        let mut journal = self.engine.into_sink();
        journal.flush().expect("flush");
    }
}

/// A (venue, instrument index) position key.
pub type Slot = (Venue, u16);

/// What the journals alone say about a run.
#[derive(Debug, Default)]
pub struct Audit {
    /// Place intents per client order id (must be 1 each; resends are counted apart).
    pub places: std::collections::HashMap<String, usize>,
    pub resends: usize,
    pub queries: usize,
    /// Runs of the engine (START records).
    pub starts: usize,
    /// Signed position per (venue, instrument) from the engine's execution reports.
    pub engine_positions: std::collections::BTreeMap<Slot, Decimal>,
    /// Largest |position| each (venue, instrument) reached while the reports were applied in
    /// journal order.
    pub max_abs_position: std::collections::BTreeMap<Slot, Decimal>,
    /// Largest entry size the engine ever chose per instrument: the most a leg may hold.
    pub entry_limit: std::collections::BTreeMap<u16, Decimal>,
    /// Signed position per (venue, instrument) from the paper venue's own order records.
    pub paper_positions: std::collections::BTreeMap<Slot, Decimal>,
    /// Client order ids the paper venue accepted.
    pub paper_ids: std::collections::HashSet<String>,
    /// Transitions that declared a cycle's legs matched (`Hedged`, `Unwound`).
    pub matched_transitions: usize,
    /// Those at which the cycle's long and short fills, summed from the journaled execution
    /// reports, did not cancel out: (pair, cycle, long leg, short leg) in base units.
    pub unmatched_legs: Vec<(u16, u32, Decimal, Decimal)>,
}

impl Audit {
    /// Ids the engine journaled as placed more than once.
    pub fn placed_twice(&self) -> Vec<(&String, &usize)> {
        self.places.iter().filter(|(_, n)| **n > 1).collect()
    }

    /// Ids the venue knows that the engine never journaled.
    pub fn unknown_to_engine(&self) -> Vec<&String> {
        self.paper_ids
            .iter()
            .filter(|id| !self.places.contains_key(*id))
            .collect()
    }

    /// (venue, instrument) positions that went past the entry size of their instrument.
    pub fn over_limit(&self) -> Vec<(Slot, Decimal)> {
        self.max_abs_position
            .iter()
            .filter(|((_, ins), q)| **q > self.entry_limit.get(ins).copied().unwrap_or_default())
            .map(|(k, q)| (*k, *q))
            .collect()
    }
}

/// Reads the engine journal in `dir` and the paper venue's journal beside it.
pub fn audit(dir: &Path) -> Audit {
    use carry_engine::execution::cycle::CycleReason;
    use carry_engine::execution::order::{IntentAction, Leg, Side};
    use carry_engine::record::{kind, Record};
    use std::collections::HashMap;

    let mut a = Audit::default();
    let mut placed: HashMap<String, (Slot, Side)> = HashMap::new();
    let mut cum: HashMap<String, Decimal> = HashMap::new();
    // Per client order id its (pair, cycle, leg); per (pair, cycle) the signed fills of each leg.
    let mut cycle_of: HashMap<String, ((u16, u32), Leg)> = HashMap::new();
    let mut legs: HashMap<(u16, u32), [Decimal; 2]> = HashMap::new();
    let reader = carry_journal::JournalReader::open(dir).unwrap();
    for r in reader.iter_from(1) {
        let r = r.unwrap();
        let rec = match Record::decode(r.kind, r.payload) {
            Ok(rec) => rec,
            Err(e) => panic!("record {} does not decode: {e}", r.seq),
        };
        match rec {
            Record::Start { .. } => a.starts += 1,
            Record::Cycle { change, .. } if change.reason == CycleReason::Enter => {
                let limit = a.entry_limit.entry(change.instrument.0).or_default();
                *limit = (*limit).max(change.qty_base);
            }
            Record::Cycle { change, .. }
                if matches!(change.reason, CycleReason::Hedged | CycleReason::Unwound) =>
            {
                a.matched_transitions += 1;
                let key = (change.pair.0, change.cycle);
                let [long, short] = legs.get(&key).copied().unwrap_or_default();
                if long + short != Decimal::ZERO {
                    a.unmatched_legs.push((key.0, key.1, long, short));
                }
            }
            Record::Intent { intent, .. } => {
                let id = intent.client_order_id.to_string();
                match intent.action {
                    IntentAction::Place => {
                        *a.places.entry(id.clone()).or_default() += 1;
                        cycle_of.insert(id.clone(), ((intent.pair.0, intent.cycle), intent.leg));
                        placed.insert(id, ((intent.venue, intent.instrument.0), intent.side));
                    }
                    IntentAction::Resend => a.resends += 1,
                    IntentAction::Query => a.queries += 1,
                    IntentAction::Cancel => {}
                }
            }
            Record::Exec { report, .. } => {
                let id = report.client_order_id.to_string();
                let Some((slot, side)) = placed.get(&id).copied() else {
                    continue;
                };
                let known = cum.entry(id.clone()).or_default();
                if report.cum_qty_base > *known {
                    let delta = report.cum_qty_base - *known;
                    *known = report.cum_qty_base;
                    if let Some((key, leg)) = cycle_of.get(&id) {
                        legs.entry(*key).or_default()[leg.index()] += side.sign() * delta;
                    }
                    let p = a.engine_positions.entry(slot).or_default();
                    *p += side.sign() * delta;
                    let m = a.max_abs_position.entry(slot).or_default();
                    *m = (*m).max(p.abs());
                }
            }
            _ => {}
        }
    }
    let mut latest: HashMap<String, carry_engine::record::PaperOrder> = HashMap::new();
    let paper = carry_journal::JournalReader::open(state_dir(dir)).unwrap();
    for r in paper.iter_from(1) {
        let r = r.unwrap();
        if r.kind != kind::PAPER_ORDER {
            continue;
        }
        if let Ok(Record::PaperOrder { order, .. }) = Record::decode(r.kind, r.payload) {
            latest.insert(order.client_order_id.to_string(), order);
        }
    }
    for (id, o) in latest {
        *a.paper_positions
            .entry((o.venue, o.instrument.0))
            .or_default() += o.side.sign() * o.cum_qty_base;
        a.paper_ids.insert(id);
    }
    a.engine_positions.retain(|_, q| !q.is_zero());
    a.paper_positions.retain(|_, q| !q.is_zero());
    a
}

/// What must hold after any run that ended flat: every id placed once, the venue never saw an
/// id the engine had not journaled, no position past its entry size, every cycle that called
/// its legs matched had hedged exactly what its first leg executed, the engine's fills agree
/// with the venue's books, and nothing is held.
pub fn assert_consistent_and_flat(a: &Audit) {
    assert!(
        a.placed_twice().is_empty(),
        "ids placed more than once: {:?}",
        a.placed_twice()
    );
    assert!(
        a.unknown_to_engine().is_empty(),
        "the venue saw ids the engine never journaled: {:?}",
        a.unknown_to_engine()
    );
    assert!(
        a.over_limit().is_empty(),
        "positions past the entry size: {:?}",
        a.over_limit()
    );
    assert!(
        a.unmatched_legs.is_empty(),
        "legs declared matched that were not (pair, cycle, long, short): {:?}",
        a.unmatched_legs
    );
    assert_eq!(
        a.engine_positions, a.paper_positions,
        "engine fills disagree with the venue's books"
    );
    assert!(
        a.engine_positions.is_empty(),
        "not flat: {:?}",
        a.engine_positions
    );
}

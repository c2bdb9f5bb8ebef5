//! Benchmark groups `hop` and `pipeline`: how long an event takes to move between threads, and
//! from the wire to a journaled intent.
//!
//! - `hop/ping_pong_floor`: one-way latency of a raw cache-line ping-pong between two pinned
//!   threads (the physical floor for any cross-core handoff on this machine).
//! - `hop/feed_queue`: one-way latency of a `FeedItem` through carry's feed queue (capacity 8192,
//!   as `carry run` sizes it) between the same two threads, measured the same way (round trip
//!   over two queues / 2). After the group, both are run again in alternation, so that load from
//!   other processes hits them alike, and their ratio is printed, with the queue on a small
//!   cache-resident ring and the cost of the clock read each push makes, which explain the gap.
//! - `pipeline/wire_to_intent`: websocket frames on loopback through the real feed thread
//!   (`FeedGroup` with the real Binance perp and spot sessions, plain `ws://`), the real feed
//!   queue, and an engine thread running the real `Engine::on_event` (real `Decider`, real
//!   journal in a temporary directory, durability `none`). Each measured iteration writes one
//!   `markPrice` frame with a high funding rate for the next flat instrument, and the engine
//!   returns an entry intent for it. The figure is the event's `recv_ns` (socket read, stamped
//!   by the feed) to the moment `on_event` returned the journaled intent. Median, p99 and max of
//!   those samples, of server write → intent and of each stage are printed once at the end, over
//!   at least [`MIN_SAMPLES`] intents, with the load average and how often the scheduler
//!   preempted the pinned threads (this machine is shared; that is where the tail comes from).
//!
//! Threads: the criterion thread and the feed thread share core 0 (the criterion thread sleeps
//! while a frame is in flight), the engine thread busy-polls alone on core 1. The feed thread
//! sleeps in `epoll_wait` rather than spinning, because on two cores a third spinning thread
//! would starve the one writing the frames: its wake-up is inside server write → intent, not
//! inside socket read → intent.
//!
//! With `iter_custom`, criterion sizes its runs by the time returned, not the wall time: one
//! `wire_to_intent` iteration takes several times its measured latency (the frame's trip
//! through the kernel, waking the criterion thread, and a rebuild of the engine every
//! [`INSTRUMENTS`] intents), so a default (non `--quick`) run of that benchmark takes a
//! corresponding multiple of its warm-up and measurement times; its group therefore defaults to
//! 1 s of warm-up and 2 s of measurement (`--warm-up-time` / `--measurement-time` override).

use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use carry_engine::config::{
    BreakerConfig, Crossing, EngineConfig, ExecConfig, FeeKind, PairConfig, RiskConfig,
    StrategyConfig,
};
use carry_engine::engine::{Engine, Input};
use carry_engine::execution::order::OrderIntent;
use carry_engine::{
    Decider, DeciderConfig, InstrumentId, InstrumentSpec, MarketEvent, MarketEventKind, Now, Quote,
    Universe, Venue, VenueParams,
};
use carry_feeds::feed::group::{FeedGroup, FeedGroupConfig, FeedHandle};
use carry_feeds::feed::queue::{self, Consumer, FeedItem};
use carry_feeds::feed::snapshot::StaticSnapshots;
use carry_feeds::transport::clock::{mono_ns, unix_ms};
use carry_feeds::transport::tls;
use carry_feeds::venue::market_ws;
use carry_journal::{Durability, Journal, JournalOptions};
use criterion::{criterion_group, criterion_main, Criterion};
use hdrhistogram::Histogram;
use rust_decimal::Decimal;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::{Message, WebSocket};

/// A value alone on its cache line, so the two threads share nothing else.
#[repr(align(128))]
struct Padded(AtomicU64);

/// The cores this process may use, read once before any thread is pinned: `get_core_ids` lists
/// the calling thread's own affinity mask, and a thread spawned by a pinned thread inherits that
/// one core, so asking again later would put both threads of a hop on the same core.
fn core_ids() -> &'static [core_affinity::CoreId] {
    static IDS: OnceLock<Vec<core_affinity::CoreId>> = OnceLock::new();
    IDS.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default())
}

/// The id of the `n`th usable core (wrapping on machines with fewer cores).
fn core(n: usize) -> Option<core_affinity::CoreId> {
    let ids = core_ids();
    (!ids.is_empty()).then(|| ids[n % ids.len()])
}

fn pin(n: usize) {
    if let Some(id) = core(n) {
        core_affinity::set_for_current(id);
    }
}

/// Runs `iters` round trips between the caller and a pinned echo thread, returning the total
/// time divided by two: the one-way figure.
fn ping_pong(iters: u64) -> Duration {
    let ping = Arc::new(Padded(AtomicU64::new(0)));
    let pong = Arc::new(Padded(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let (ping, pong, stop) = (ping.clone(), pong.clone(), stop.clone());
        thread::spawn(move || {
            pin(1);
            let mut last = 0;
            while !stop.load(Ordering::Relaxed) {
                let v = ping.0.load(Ordering::Acquire);
                if v != last {
                    last = v;
                    pong.0.store(v, Ordering::Release);
                } else {
                    std::hint::spin_loop();
                }
            }
        })
    };
    pin(0);
    let start = Instant::now();
    for i in 1..=iters {
        ping.0.store(i, Ordering::Release);
        while pong.0.load(Ordering::Acquire) != i {
            std::hint::spin_loop();
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    echo.join().expect("echo thread");
    elapsed / 2
}

/// The capacity `carry run` gives each feed queue (`[feeds] queue_capacity` default).
const QUEUE_CAPACITY: usize = 8192;

/// A top-of-book event as a feed pushes it (quotes are most of the traffic).
fn sample_item() -> FeedItem {
    let event = MarketEvent {
        venue: "binance-perp".parse().expect("venue id"),
        instrument: InstrumentId(7),
        ts_ms: 1_715_760_000_000,
        recv_ns: 1,
        kind: MarketEventKind::Quote(Quote {
            bid: Decimal::new(6_499_990, 2),
            bid_qty: Decimal::new(1_250, 3),
            ask: Decimal::new(6_500_000, 2),
            ask_qty: Decimal::new(925, 3),
        }),
    };
    FeedItem::new(event, 2)
}

/// [`ping_pong`] with the atomic replaced by carry's feed queue: the caller pushes a `FeedItem`
/// into one queue, the pinned echo thread pops it and pushes it into a second queue, the caller
/// pops it back. Total time / 2 is the one-way figure, comparable with [`ping_pong`].
fn feed_queue_round_trips(iters: u64, capacity: usize) -> Duration {
    let (mut out_tx, mut out_rx) = queue::bounded(capacity);
    let (mut back_tx, mut back_rx) = queue::bounded(capacity);
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let stop = stop.clone();
        thread::spawn(move || {
            pin(1);
            while !stop.load(Ordering::Relaxed) {
                match out_rx.pop() {
                    Some(item) => {
                        if back_tx.push(item).is_err() {
                            return;
                        }
                    }
                    None => std::hint::spin_loop(),
                }
            }
        })
    };
    pin(0);
    let item = sample_item();
    let start = Instant::now();
    for i in 1..=iters {
        let mut item = item;
        item.event.ts_ms = i as i64;
        // One item in flight: the push always finds room.
        if out_tx.push(item).is_err() {
            panic!("feed_queue: the echo thread dropped its queue");
        }
        loop {
            if let Some(back) = back_rx.pop() {
                black_box(back);
                break;
            }
            std::hint::spin_loop();
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    echo.join().expect("echo thread");
    elapsed / 2
}

/// A ring small enough that its slots stay in the two cores' caches (64 slots of a 144-byte
/// item: 9 KiB), to separate the queue's own handoff from the cost of writing into cold slots.
const SMALL_RING: usize = 64;
/// Rounds and round trips of the side-by-side comparison printed after the `hop` group: runs
/// long enough that starting the echo thread and faulting in a fresh ring cost a few ns per hop.
const COMPARE_ROUNDS: usize = 7;
const COMPARE_TRIPS: u64 = 100_000;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs the floor and the queue back to back, round after round, and prints the median one-way
/// figures and the median of each round's ratio: the cross-core latency of this virtual machine
/// drifts by several times from one minute to the next (vCPU placement, other tenants), so only
/// figures taken side by side compare. Also prints the queue on a small, cache-resident ring and
/// what a push spends reading the clock (it stamps `enqueued_ns`), which show where the distance
/// to the floor comes from.
fn compare_hops() {
    let one_way = |d: Duration| d.as_nanos() as f64 / COMPARE_TRIPS as f64;
    let (mut floor, mut queue, mut small) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ratio, mut small_ratio) = (Vec::new(), Vec::new());
    for _ in 0..COMPARE_ROUNDS {
        let f = one_way(ping_pong(COMPARE_TRIPS));
        let q = one_way(feed_queue_round_trips(COMPARE_TRIPS, QUEUE_CAPACITY));
        let s = one_way(feed_queue_round_trips(COMPARE_TRIPS, SMALL_RING));
        floor.push(f);
        queue.push(q);
        small.push(s);
        ratio.push(q / f);
        small_ratio.push(s / f);
    }
    let reads = 1_000_000u32;
    let start = Instant::now();
    for _ in 0..reads {
        black_box(mono_ns());
    }
    let clock_ns = start.elapsed().as_nanos() as f64 / f64::from(reads);
    println!(
        "hop: one way, medians of {COMPARE_ROUNDS} rounds run back to back: ping_pong_floor {:.0} \
         ns, feed_queue {:.0} ns: {:.2}x the floor (capacity {QUEUE_CAPACITY}; on a \
         {SMALL_RING}-slot ring {:.0} ns: {:.2}x)",
        median(&mut floor),
        median(&mut queue),
        median(&mut ratio),
        median(&mut small),
        median(&mut small_ratio),
    );
    println!(
        "hop: FeedItem {} bytes; mono_ns() {clock_ns:.1} ns per read (every push reads it once)",
        std::mem::size_of::<FeedItem>(),
    );
}

fn hop(c: &mut Criterion) {
    core_ids();
    let (mut floor_ran, mut queue_ran) = (false, false);
    let mut group = c.benchmark_group("hop");
    group.bench_function("ping_pong_floor", |b| {
        floor_ran = true;
        b.iter_custom(|iters| black_box(ping_pong(iters)))
    });
    group.bench_function("feed_queue", |b| {
        queue_ran = true;
        b.iter_custom(|iters| black_box(feed_queue_round_trips(iters, QUEUE_CAPACITY)))
    });
    group.finish();
    // Only when both were selected (a filtered run may skip one).
    if floor_ran && queue_ran && !test_mode() {
        compare_hops();
    }
}

// ---------------------------------------------------------------------------------------------
// wire_to_intent

/// Synthetic instruments `C0-USDT` .. : each one is a spot-perp pair that enters once, so one
/// engine serves this many measured intents before it is rebuilt. More instruments means fewer
/// rebuilds but a longer linear symbol lookup in the feed parser (`Universe::lookup`).
const INSTRUMENTS: usize = 256;
const FEED_CORE: usize = 0;
const ENGINE_CORE: usize = 1;
/// Funding per 8 h interval: warm-up (well below the entry threshold) and measured (far above).
const LOW_RATE: &str = "0.00001000";
const HIGH_RATE: &str = "0.00200000";
/// Longest any step of the rig may take before the benchmark gives up with a diagnosis. A
/// healthy run never comes close: it only bounds a broken one.
const WAIT: Duration = Duration::from_secs(30);

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal literal")
}

fn spot() -> Venue {
    "binance-spot".parse().expect("venue id")
}

fn perp() -> Venue {
    "binance-perp".parse().expect("venue id")
}

fn universe() -> Universe {
    let mut u = Universe::new();
    for n in 0..INSTRUMENTS {
        let id = u.add(&format!("C{n}-USDT")).expect("synthetic instrument");
        let symbol = format!("C{n}USDT");
        u.set_symbol(id, spot(), &symbol);
        u.set_symbol(id, perp(), &symbol);
    }
    u
}

/// Long spot, short perp on every instrument; limits far above what the run can reach, a low
/// entry threshold, staleness windows longer than the run.
fn decider_config() -> DeciderConfig {
    let pairs = (0..INSTRUMENTS)
        .map(|n| PairConfig {
            name: None,
            instrument: format!("C{n}-USDT"),
            long: "binance-spot".into(),
            short: "binance-perp".into(),
            venues: Vec::new(),
            order_qty: Some(d("1")),
            max_notional: None,
            allow_margin_short_spot: false,
        })
        .collect();
    DeciderConfig {
        pairs,
        strategy: StrategyConfig {
            entry_apr: d("0.2"),
            exit_apr: d("0.05"),
            use_predicted_rate: false,
            expected_holding_hours: d("720"),
            fallback_interval_hours: 8,
            fee: FeeKind::Taker,
            crossing: Crossing::HalfSpread,
            spot_borrow_apr: None,
        },
        risk: RiskConfig {
            max_notional_per_pair: d("1000000"),
            max_total_notional: d("1000000000"),
            min_liquidation_distance: d("0.15"),
            max_margin_ratio: d("0.5"),
            default_maintenance_margin_rate: d("0.005"),
            default_leverage: d("2"),
        },
        breakers: BreakerConfig {
            funding_ttl_ms: 3_600_000,
            quote_ttl_ms: 3_600_000,
            ..BreakerConfig::default()
        },
        venues: [VenueParams {
            taker_fee: d("0.0004"),
            maker_fee: d("0.0002"),
            maintenance_margin_rate: None,
            leverage: None,
        }; 10],
    }
}

fn specs(universe: &Universe) -> Vec<(Venue, InstrumentId, InstrumentSpec)> {
    let spec = InstrumentSpec {
        tick_size: d("0.01"),
        lot_size: d("0.001"),
        min_qty: d("0.001"),
        min_notional: d("5"),
        contract_size: None,
    };
    universe
        .iter()
        .flat_map(|(id, _)| [(spot(), id, spec), (perp(), id, spec)])
        .collect()
}

/// A fresh engine on a fresh journal in `dir`, as `carry run` opens it (recover, then START and
/// the trading rules).
fn open_engine(universe: &Universe, dir: &Path) -> Engine {
    let decider = Decider::new(decider_config(), universe).expect("bench decider config");
    let options = JournalOptions::default()
        .segment_size(4 << 20)
        .durability(Durability::None);
    let (journal, _) = Journal::open(dir, options).expect("journal in a temporary directory");
    let cfg = EngineConfig {
        instance: "bench".into(),
        execution: ExecConfig::default(),
        config_text: String::new(),
    };
    Engine::open(
        cfg,
        universe,
        decider,
        &specs(universe),
        journal,
        Now::new(mono_ns(), unix_ms()),
    )
    .expect("engine on a fresh journal")
}

/// The stamps of one event that made the engine return intents.
#[derive(Clone, Copy, Debug)]
struct Stamps {
    recv_ns: u64,
    parsed_ns: u64,
    enqueued_ns: u64,
    dequeued_ns: u64,
    returned_ns: u64,
    intents: usize,
}

enum Control {
    Swap(Box<Engine>),
    Stop,
}

enum Note {
    Intent(Stamps),
    Swapped,
}

/// Counters the engine thread publishes (single writer).
#[derive(Default)]
struct EngineShared {
    market_events: AtomicU64,
    feed_resets: AtomicU64,
    /// Events that arrived while no engine was installed.
    orphans: AtomicU64,
    halted: AtomicBool,
}

/// The engine thread: busy-polls the feed queue, stamps `Now` once per input as carry's engine
/// thread does, and reports every input that returned intents. Control messages are only looked
/// at while the queue is empty, so they never delay an event.
fn engine_thread(
    mut feed: Consumer,
    control: Receiver<Control>,
    notes: SyncSender<Note>,
    shared: Arc<EngineShared>,
) {
    pin(ENGINE_CORE);
    let mut engine: Option<Box<Engine>> = None;
    let mut out: Vec<OrderIntent> = Vec::with_capacity(64);
    let mut events = 0u64;
    loop {
        if let Some(item) = feed.pop() {
            let dequeued_ns = mono_ns();
            let ev = item.event;
            let Some(engine) = engine.as_mut() else {
                shared.orphans.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            engine.on_event(
                &Input::Market(ev),
                Now::new(dequeued_ns, unix_ms()),
                &mut out,
            );
            let returned_ns = mono_ns();
            events += 1;
            shared.market_events.store(events, Ordering::Release);
            if matches!(ev.kind, MarketEventKind::FeedReset) {
                shared.feed_resets.fetch_add(1, Ordering::Relaxed);
            }
            if engine.is_halted() {
                shared.halted.store(true, Ordering::Release);
            }
            if !out.is_empty() {
                let stamps = Stamps {
                    recv_ns: ev.recv_ns,
                    parsed_ns: item.parsed_ns,
                    enqueued_ns: item.enqueued_ns,
                    dequeued_ns,
                    returned_ns,
                    intents: out.len(),
                };
                out.clear();
                if notes.send(Note::Intent(stamps)).is_err() {
                    return;
                }
            }
            continue;
        }
        match control.try_recv() {
            Ok(Control::Swap(next)) => {
                drop(engine.replace(next));
                if notes.send(Note::Swapped).is_err() {
                    return;
                }
            }
            Ok(Control::Stop) | Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
        }
    }
}

/// Which server-side connection carries which stream of each instrument.
struct Routes {
    mark_price: Vec<usize>,
    perp_book: Vec<usize>,
    spot_book: Vec<usize>,
}

/// The venue side: the accepted websocket connections, written to by the criterion thread.
struct VenueServer {
    conns: Vec<WebSocket<TcpStream>>,
    routes: Routes,
}

impl VenueServer {
    /// Accepts `expected` websocket connections on `listener` (on a helper thread, since the
    /// feed thread connects concurrently) and maps every stream in their URLs to its connection.
    fn accept(listener: TcpListener, expected: usize) -> VenueServer {
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("bench-venue-accept".into())
            .spawn(move || {
                for _ in 0..expected {
                    let Ok((tcp, _)) = listener.accept() else {
                        return;
                    };
                    let _ = tcp.set_nodelay(true);
                    let mut path = String::new();
                    // tungstenite's callback error type is large; nothing to be done about it.
                    #[allow(clippy::result_large_err)]
                    let ws = tungstenite::accept_hdr(tcp, |req: &Request, resp: Response| {
                        path = req
                            .uri()
                            .path_and_query()
                            .map(|p| p.as_str().to_string())
                            .unwrap_or_default();
                        Ok(resp)
                    });
                    match ws {
                        Ok(ws) => {
                            if tx.send((ws, path)).is_err() {
                                return;
                            }
                        }
                        Err(e) => eprintln!("pipeline bench: websocket upgrade failed: {e}"),
                    }
                }
            })
            .expect("accept thread");
        let mut conns = Vec::with_capacity(expected);
        let mut routes = Routes {
            mark_price: vec![usize::MAX; INSTRUMENTS],
            perp_book: vec![usize::MAX; INSTRUMENTS],
            spot_book: vec![usize::MAX; INSTRUMENTS],
        };
        for _ in 0..expected {
            let (ws, path) = rx
                .recv_timeout(WAIT)
                .expect("the feed did not open all its websocket connections in time");
            let (route, streams) = path
                .split_once("?streams=")
                .unwrap_or_else(|| panic!("unexpected websocket path {path:?}"));
            let table = match route {
                "/market/stream" => &mut routes.mark_price,
                "/public/stream" => &mut routes.perp_book,
                "/stream" => &mut routes.spot_book,
                other => panic!("unexpected websocket route {other:?} in {path:?}"),
            };
            for stream in streams.split('/') {
                let n: usize = stream
                    .strip_prefix('c')
                    .and_then(|s| s.split_once("usdt@"))
                    .and_then(|(n, _)| n.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected stream {stream:?} in {path:?}"));
                table[n] = conns.len();
            }
            conns.push(ws);
        }
        for (name, table) in [
            ("markPrice", &routes.mark_price),
            ("perp bookTicker", &routes.perp_book),
            ("spot bookTicker", &routes.spot_book),
        ] {
            if let Some(n) = table.iter().position(|c| *c == usize::MAX) {
                panic!("no connection subscribed the {name} stream of C{n}USDT");
            }
        }
        VenueServer { conns, routes }
    }

    fn send(&mut self, conn: usize, frame: String) {
        self.conns[conn]
            .send(Message::text(frame))
            .expect("writing a frame to the feed's websocket");
    }
}

/// The Binance frames of one instrument, combined-stream form (`{"stream":..,"data":..}`), as
/// the real venue sends them on the routes the real sessions subscribe.
fn mark_price_frame(n: usize, rate: &str, now_ms: i64, next_funding_ms: i64) -> String {
    format!(
        "{{\"stream\":\"c{n}usdt@markPrice\",\"data\":{{\"e\":\"markPriceUpdate\",\"E\":{now_ms},\
         \"s\":\"C{n}USDT\",\"p\":\"100.00000000\",\"i\":\"100.01000000\",\"P\":\"100.00500000\",\
         \"r\":\"{rate}\",\"T\":{next_funding_ms},\"st\":1}}}}"
    )
}

fn perp_book_frame(n: usize, update: u64, now_ms: i64) -> String {
    format!(
        "{{\"stream\":\"c{n}usdt@bookTicker\",\"data\":{{\"e\":\"bookTicker\",\"u\":{update},\
         \"E\":{now_ms},\"T\":{now_ms},\"s\":\"C{n}USDT\",\"b\":\"99.99\",\"B\":\"40\",\
         \"a\":\"100.01\",\"A\":\"60\"}}}}"
    )
}

fn spot_book_frame(n: usize, update: u64) -> String {
    format!(
        "{{\"stream\":\"c{n}usdt@bookTicker\",\"data\":{{\"u\":{update},\"s\":\"C{n}USDT\",\
         \"b\":\"99.99000000\",\"B\":\"40.00000000\",\"a\":\"100.01000000\",\"A\":\"60.00000000\"}}}}"
    )
}

/// Latency distributions of the measured intents, in ns.
struct Figures {
    wire_to_intent: Histogram<u64>,
    server_to_intent: Histogram<u64>,
    parse: Histogram<u64>,
    push: Histogram<u64>,
    queue_wait: Histogram<u64>,
    on_event: Histogram<u64>,
    intents_per_frame: Histogram<u64>,
}

impl Figures {
    fn new() -> Figures {
        let h = || Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
        Figures {
            wire_to_intent: h(),
            server_to_intent: h(),
            parse: h(),
            push: h(),
            queue_wait: h(),
            on_event: h(),
            intents_per_frame: h(),
        }
    }

    fn record(&mut self, written_ns: u64, s: &Stamps) {
        let span = |a: u64, b: u64| b.saturating_sub(a).max(1);
        // saturating_record: a value past the bounds is clamped rather than lost.
        self.wire_to_intent
            .saturating_record(span(s.recv_ns, s.returned_ns));
        self.server_to_intent
            .saturating_record(span(written_ns, s.returned_ns));
        self.parse.saturating_record(span(s.recv_ns, s.parsed_ns));
        self.push
            .saturating_record(span(s.parsed_ns, s.enqueued_ns));
        self.queue_wait
            .saturating_record(span(s.enqueued_ns, s.dequeued_ns));
        self.on_event
            .saturating_record(span(s.dequeued_ns, s.returned_ns));
        self.intents_per_frame.saturating_record(s.intents as u64);
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

/// Involuntary context switches so far of this process's threads whose name starts with
/// `prefix` (Linux `/proc`; `None` elsewhere): how often the scheduler took a core from them, the
/// usual cause of tail latency on a machine shared with other work.
fn preemptions(prefix: &str) -> Option<u64> {
    let mut total = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let n = status
            .lines()
            .find_map(|l| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(n) = n {
            total = Some(total.unwrap_or(0) + n);
        }
    }
    total
}

/// Thread names (`comm` holds at most 15 bytes).
const ENGINE_THREAD: &str = "bench-engine";
const FEED_GROUP: &str = "bench-binance";
const FEED_THREAD: &str = "feed-bench-bina";

/// Everything `wire_to_intent` runs on: the venue server, the feed thread, the engine thread.
struct Rig {
    universe: Arc<Universe>,
    server: VenueServer,
    feed: Option<FeedHandle>,
    feed_stop: Arc<AtomicBool>,
    engine: Option<JoinHandle<()>>,
    control: SyncSender<Control>,
    notes: Receiver<Note>,
    shared: Arc<EngineShared>,
    journal_dir: Option<tempfile::TempDir>,
    /// The next instrument that is flat in the current engine.
    next: usize,
    next_funding_ms: i64,
    update_id: u64,
    builds: u64,
    /// Wall time spent in [`Rig::rebuild`] (outside every measurement).
    rebuild_ns: u64,
    /// Wall time of the measured iterations themselves (frame out, intent back).
    iteration_ns: u64,
    /// [`preemptions`] of the engine and feed threads when the rig was up.
    preempted_at_start: (Option<u64>, Option<u64>),
    figures: Figures,
}

impl Rig {
    fn start() -> Rig {
        pin(FEED_CORE);
        let universe = Arc::new(universe());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let base = format!("ws://{}", listener.local_addr().expect("listener address"));
        let mut sessions = market_ws::sessions(perp(), &base, universe.clone());
        sessions.extend(market_ws::sessions(spot(), &base, universe.clone()));
        let expected = sessions.len();
        let tls = tls::client_config(None).expect("TLS client config (unused on ws://)");
        let mut config = FeedGroupConfig::new(
            FEED_GROUP,
            sessions,
            universe.clone(),
            tls,
            Arc::new(StaticSnapshots::new()),
        );
        config.core = core(FEED_CORE);
        // The quote connections are quiet between rebuilds: no watchdog reconnect mid-run.
        config.connection.silence_timeout = Duration::from_secs(24 * 3600);
        let (producer, consumer) = queue::bounded(QUEUE_CAPACITY);
        let feed_stop = Arc::new(AtomicBool::new(false));
        let feed = FeedGroup::spawn(config, producer, feed_stop.clone()).expect("feed thread");
        let server = VenueServer::accept(listener, expected);
        let stats = feed.stats();
        let deadline = Instant::now() + WAIT;
        while stats.connections.iter().any(|c| c.up.get() == 0) {
            assert!(
                Instant::now() < deadline,
                "the feed's websocket connections did not open: {:?}",
                stats.snapshot()
            );
            thread::sleep(Duration::from_millis(1));
        }

        let shared = Arc::new(EngineShared::default());
        let (control, control_rx) = mpsc::sync_channel(1);
        let (notes_tx, notes) = mpsc::sync_channel(1024);
        let engine = {
            let shared = shared.clone();
            thread::Builder::new()
                .name(ENGINE_THREAD.into())
                .spawn(move || engine_thread(consumer, control_rx, notes_tx, shared))
                .expect("engine thread")
        };
        let mut rig = Rig {
            universe,
            server,
            feed: Some(feed),
            feed_stop,
            engine: Some(engine),
            control,
            notes,
            shared,
            journal_dir: None,
            next: 0,
            // Fixed for the run: a changing settlement time would read as a funding interval.
            next_funding_ms: unix_ms() + 4 * 3_600_000,
            update_id: 0,
            builds: 0,
            rebuild_ns: 0,
            iteration_ns: 0,
            preempted_at_start: (None, None),
            figures: Figures::new(),
        };
        rig.rebuild();
        rig.preempted_at_start = (preemptions(ENGINE_THREAD), preemptions(FEED_THREAD));
        rig
    }

    fn diagnosis(&self) -> String {
        let feed = self.feed.as_ref().map(|f| f.stats().snapshot());
        format!(
            "engine saw {} market events, {} feed resets, {} events before any engine, halted: {}; feed: {feed:?}",
            self.shared.market_events.load(Ordering::Acquire),
            self.shared.feed_resets.load(Ordering::Relaxed),
            self.shared.orphans.load(Ordering::Relaxed),
            self.shared.halted.load(Ordering::Acquire),
        )
    }

    /// A fresh engine on a fresh journal, then every instrument warmed up: quotes on both
    /// venues and a funding rate below the entry threshold, so every pair is flat and ready.
    fn rebuild(&mut self) {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("carry-bench-pipeline-")
            .tempdir()
            .expect("temporary journal directory");
        let engine = open_engine(&self.universe, dir.path());
        if self.control.send(Control::Swap(Box::new(engine))).is_err() {
            panic!("the engine thread is gone: {}", self.diagnosis());
        }
        match self.notes.recv_timeout(WAIT) {
            Ok(Note::Swapped) => {}
            Ok(Note::Intent(s)) => panic!("an intent outside a measured frame: {s:?}"),
            Err(e) => panic!(
                "the engine thread did not take the new engine ({e}): {}",
                self.diagnosis()
            ),
        }
        // The old engine (and its journal) is dropped: its directory can go.
        self.journal_dir = Some(dir);

        let before = self.shared.market_events.load(Ordering::Acquire);
        let now_ms = unix_ms();
        for n in 0..INSTRUMENTS {
            self.update_id += 1;
            let (routes, u) = (&self.server.routes, self.update_id);
            let (p, s, m) = (
                routes.perp_book[n],
                routes.spot_book[n],
                routes.mark_price[n],
            );
            self.server.send(p, perp_book_frame(n, u, now_ms));
            self.server.send(s, spot_book_frame(n, u));
            self.server.send(
                m,
                mark_price_frame(n, LOW_RATE, now_ms, self.next_funding_ms),
            );
        }
        let target = before + 3 * INSTRUMENTS as u64;
        let deadline = Instant::now() + WAIT;
        while self.shared.market_events.load(Ordering::Acquire) < target {
            assert!(
                Instant::now() < deadline,
                "warm-up: expected {target} market events: {}",
                self.diagnosis()
            );
            thread::sleep(Duration::from_micros(200));
        }
        if let Ok(Note::Intent(s)) = self.notes.try_recv() {
            panic!("warm-up (funding below the entry threshold) produced an intent: {s:?}");
        }
        self.next = 0;
        self.builds += 1;
        self.rebuild_ns += started.elapsed().as_nanos() as u64;
    }

    /// One measured frame: a high funding rate for the next flat instrument. Returns socket read
    /// → intent returned.
    fn one_intent(&mut self) -> u64 {
        if self.next == INSTRUMENTS {
            self.rebuild();
        }
        let started = Instant::now();
        let n = self.next;
        self.next += 1;
        let frame = mark_price_frame(n, HIGH_RATE, unix_ms(), self.next_funding_ms);
        let conn = self.server.routes.mark_price[n];
        let written_ns = mono_ns();
        self.server.send(conn, frame);
        let stamps = match self.notes.recv_timeout(WAIT) {
            Ok(Note::Intent(s)) => s,
            Ok(Note::Swapped) => panic!("unexpected engine swap"),
            Err(RecvTimeoutError::Timeout) => panic!(
                "no intent for C{n}-USDT within {WAIT:?}: {}",
                self.diagnosis()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the engine thread is gone: {}", self.diagnosis())
            }
        };
        self.figures.record(written_ns, &stamps);
        self.iteration_ns += started.elapsed().as_nanos() as u64;
        stamps.returned_ns.saturating_sub(stamps.recv_ns)
    }

    fn print_figures(&self) {
        let f = &self.figures;
        let line = |name: &str, h: &Histogram<u64>| {
            println!(
                "pipeline: {name:<32} median {:>8.2} us   p99 {:>8.2} us   max {:>9.2} us",
                us(h.value_at_quantile(0.5)),
                us(h.value_at_quantile(0.99)),
                us(h.max()),
            );
        };
        let intents = f.wire_to_intent.len().max(1);
        println!(
            "pipeline: wire_to_intent: {} intents, {}..{} per measured frame; wall {:.1} us per \
             iteration; {} engine builds of {INSTRUMENTS} spot-perp pairs, {:.1} ms each",
            f.wire_to_intent.len(),
            f.intents_per_frame.min(),
            f.intents_per_frame.max(),
            us(self.iteration_ns / intents),
            self.builds,
            self.rebuild_ns as f64 / 1e6 / self.builds.max(1) as f64,
        );
        line("socket read -> intent returned", &f.wire_to_intent);
        line("server write -> intent returned", &f.server_to_intent);
        line("  read -> parsed (feed)", &f.parse);
        line("  parsed -> in queue (feed)", &f.push);
        line("  in queue -> dequeued (engine)", &f.queue_wait);
        line("  on_event incl. journal (engine)", &f.on_event);
        let since = |start: Option<u64>, now: Option<u64>| match (start, now) {
            (Some(a), Some(b)) => (b - a).to_string(),
            _ => "?".into(),
        };
        println!(
            "pipeline: involuntary context switches while measuring: engine thread {}, feed \
             thread {} (pinned, not isolated: other processes on their cores preempt them)",
            since(self.preempted_at_start.0, preemptions(ENGINE_THREAD)),
            since(self.preempted_at_start.1, preemptions(FEED_THREAD)),
        );
    }

    fn stop(mut self) {
        self.feed_stop.store(true, Ordering::Release);
        if let Some(feed) = self.feed.take() {
            feed.wake();
            if let Err(e) = feed.join() {
                eprintln!("pipeline bench: feed thread: {e}");
            }
        }
        let _ = self.control.send(Control::Stop);
        if let Some(engine) = self.engine.take() {
            if engine.join().is_err() {
                eprintln!("pipeline bench: the engine thread panicked");
            }
        }
    }
}

/// The printed median and p99 rest on at least this many intents: when criterion's own runs
/// (`--quick` stops as soon as its estimate settles) measured fewer, more are measured the same
/// way after the group, outside criterion, and the printout says how many.
const MIN_SAMPLES: u64 = 10_000;

/// The 1-minute load average: on a shared machine the tail figures depend on it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn pipeline(c: &mut Criterion) {
    core_ids();
    let load_before = load_average();
    // Started on first use, so that a run filtered to other benchmarks does not pay for it.
    let mut rig: Option<Rig> = None;
    let mut group = c.benchmark_group("pipeline");
    group.bench_function("wire_to_intent", |b| {
        let rig = rig.get_or_insert_with(Rig::start);
        b.iter_custom(|iters| {
            let mut total = 0u64;
            for _ in 0..iters {
                total += rig.one_intent();
            }
            Duration::from_nanos(total)
        })
    });
    group.finish();
    let Some(mut rig) = rig else {
        return;
    };
    let by_criterion = rig.figures.wire_to_intent.len();
    if !test_mode() {
        while rig.figures.wire_to_intent.len() < MIN_SAMPLES {
            rig.one_intent();
        }
    }
    println!(
        "pipeline: {by_criterion} intents timed by criterion, {} more to reach {MIN_SAMPLES}; \
         load average {load_before} before, {} after",
        rig.figures.wire_to_intent.len() - by_criterion,
        load_average()
    );
    rig.print_figures();
    rig.stop();
}

/// `--test`: criterion runs each benchmark once to see that it works; nothing to print.
fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

criterion_group!(hops, hop);
// Shorter defaults than criterion's 3 s + 5 s (the command line still overrides them): a
// wire_to_intent iteration takes several times the latency it returns, see the module doc.
criterion_group! {
    name = wire;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = pipeline
}
criterion_main!(hops, wire);

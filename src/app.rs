//! `carry run`: loads the config and wires the threads.
//!
//! Start order: config (refused with exit 2 before anything starts) → core plan → universe and
//! decider → REST snapshots (trading rules per venue) → journal (recovered) → engine (replays
//! the journal) → the paper venue's journal → START journaled → paper venue and gateway thread
//! → admin socket → feed threads → engine thread. A damaged journal, or an engine journal and a
//! paper journal of which one was lost, is refused before anything is journaled or sent.
//! Stop order (SIGINT/SIGTERM or a deadline): feeds stop producing → the engine thread drains
//! every queue and flushes the journal → gateways stop → admin stops. Exit 0.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use carry_engine::{InstrumentId, InstrumentSpec, Now, Universe, Venue};
use carry_feeds::feed::group::{FeedGroup, FeedGroupConfig, FeedHandle};
use carry_feeds::feed::queue;
use carry_feeds::feed::snapshot::{RestSnapshots, SnapshotError, SnapshotSource};
use carry_feeds::transport::clock::{mono_ns, recv_stamp, unix_ms};
use carry_feeds::transport::tls;
use carry_feeds::venue::market_ws;
use carry_journal::{Durability, Journal, JournalOptions};

use crate::admin::snapshot::{Mode, COMMAND_QUEUE_CAPACITY};
use crate::admin::{command_channel, snapshot_channel, AdminOptions, AdminServer, AdminSources};
use crate::config::{Config, DurabilityMode};
use crate::cores::CorePlan;
use crate::engine_thread::{EngineLoop, LoopOptions, LoopOutcome, TimedJournal};
use crate::gateway::paper::{self, PaperVenue};
use crate::gateway::quote_board::QuoteBoard;
use crate::gateway::wiring::{self, CredentialSource};
use crate::latency::{LatencyCollector, LatencyConfig, LatencyReport, Stage};
use carry_feeds::gateway as gw;

/// Exit status for a configuration refused at start.
pub const EXIT_CONFIG: u8 = 2;

/// How long `carry run` waits for each venue's first REST snapshot before starting without it
/// (the feed threads keep retrying; pairs on a venue without trading rules do not trade).
const REST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a caller may change about a run beyond the config file.
#[derive(Clone)]
pub struct RunOptions {
    pub mode: Mode,
    /// Stop after this long; `None`: until SIGINT/SIGTERM.
    pub stop_after: Option<Duration>,
    /// Called once a second on the main thread while running (the demo's status table).
    pub every_second: Option<fn(&Path)>,
    /// Live venues' credentials from somewhere other than the environment (the demo's simulated
    /// venues); `None`: each venue's section names its variables.
    pub credentials: Option<Arc<CredentialSource>>,
    /// The config file's name, for errors found at start.
    pub config_file: String,
}

/// What a finished run reports.
#[derive(Debug)]
pub struct RunReport {
    pub outcome: LoopOutcome,
    pub latency: LatencyReport,
    pub paper_fills: u64,
}

/// `carry run --config FILE`.
pub fn run_from_file(path: &Path) -> anyhow::Result<ExitCode> {
    let (config, text) = match Config::load_with_text(path) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("carry: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    crate::signals::install().context("installing signal handlers")?;
    let report = match run(
        &config,
        &text,
        RunOptions {
            mode: Mode::Run,
            stop_after: None,
            every_second: None,
            credentials: None,
            config_file: path.display().to_string(),
        },
    ) {
        Ok(report) => report,
        Err(e) => return refused_at_start(e),
    };
    print_exit_line(&report);
    Ok(if report.outcome.halted {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A run that failed to start: a config problem found at start (a key variable not set) is
/// exit 2 like any other config error; anything else goes up as an error.
pub fn refused_at_start(e: anyhow::Error) -> anyhow::Result<ExitCode> {
    match e.downcast::<wiring::WiringError>() {
        Ok(wiring::WiringError::Config(c)) => {
            eprintln!("carry: {c}");
            Ok(ExitCode::from(EXIT_CONFIG))
        }
        Ok(other) => Err(other.into()),
        Err(e) => Err(e),
    }
}

/// One line on exit: what the run did.
pub fn print_exit_line(report: &RunReport) {
    let c = &report.outcome.counters;
    let unsent = match report.outcome.unsent_intents {
        0 => String::new(),
        n => format!("; {n} journaled intents not sent, resolved on the next start"),
    };
    eprintln!(
        "carry: stopped: {} market events, {} intents, {} fills, {} cycles completed, journal at seq {}{unsent}{}",
        report.outcome.market_events,
        c.intents,
        c.fills,
        c.cycles_completed,
        report.outcome.journal_next_seq.saturating_sub(1),
        if report.outcome.halted { " (HALTED: journal failure)" } else { "" }
    );
}

/// Runs the wired system on `config` until a signal or `options.stop_after`. `config_text` is
/// journaled in the START record (as [`crate::config::secrets::journaled_text`]) so `carry
/// replay` can rebuild the same engine.
pub fn run(config: &Config, config_text: &str, options: RunOptions) -> anyhow::Result<RunReport> {
    let file_key = |(key, reason): (String, String)| anyhow::anyhow!("{key}: {reason}");
    let cores = CorePlan::detect(&config.threads)?;
    let (mut engine_cfg, universe, decider) = config.engine_parts().map_err(file_key)?;
    // Without comments or *_env keys: nothing pasted into the file reaches the journal.
    engine_cfg.config_text = crate::config::secrets::journaled_text(config_text)
        .map_err(|e| anyhow::anyhow!("journaling the configuration: {e}"))?;
    let universe = Arc::new(universe);
    let venues: Vec<Venue> = universe.venues().collect();

    let tls = tls::client_config(config.feeds.extra_root_cert.as_deref())
        .context("feeds.extra_root_cert")?;
    let rest_direct: Arc<dyn SnapshotSource> = Arc::new(RestSnapshots::with_timeout(REST_TIMEOUT));
    let specs = initial_specs(config, &venues, &universe, &*rest_direct);
    // Snapshots the feed threads fetch later (after reconnects, or once a venue that was down at
    // start answers) carry trading rules the engine needs too.
    let (spec_tx, spec_rx) = crossbeam::channel::bounded(4096);
    let rest: Arc<dyn SnapshotSource> = Arc::new(SpecForwarder {
        inner: rest_direct,
        tx: spec_tx,
    });

    let journal_dir = config.journal.dir.clone();
    let paper_dir = paper::state_dir(&journal_dir);
    let paper_existed = paper_journal_before_open(&journal_dir, &paper_dir)?;
    let (journal, recovery) = Journal::open(&journal_dir, journal_options(config))
        .with_context(|| format!("journal {}", journal_dir.display()))?;
    if recovery.torn_bytes() > 0 {
        eprintln!(
            "carry: journal {}: recovered {} records, cut a torn tail of {} bytes (what a crash leaves)",
            journal_dir.display(),
            recovery.records,
            recovery.torn_bytes()
        );
    }
    let (mut engine, intents) = recover_engine(engine_cfg, &universe, decider, journal)?;
    paper_journal_after_recovery(&journal_dir, &paper_dir, paper_existed, intents)?;
    // Paper venue: fills against the feeds' latest top of book, its own journal beside ours,
    // opened before this run's START is journaled.
    let (paper_journal, _) = Journal::open(&paper_dir, journal_options(config))
        .with_context(|| format!("paper venue journal {}", paper_dir.display()))?;
    engine.start(&specs, Now::new(mono_ns(), unix_ms()))?;
    let pending = engine.pending_resolutions().count();
    if pending > 0 {
        eprintln!("carry: {pending} orders of unknown outcome from the last run: resolving them before anything new is sent on their pairs");
    }

    let board = Arc::new(QuoteBoard::new(universe.len()));
    let mut paper = PaperVenue::open(
        config.paper.clone(),
        board.clone(),
        universe.len(),
        Some(paper_journal),
    )?;
    for &(venue, instrument, spec) in &specs {
        paper.set_spec(venue, instrument, spec);
    }
    for (venue, section) in config.venue_sections() {
        if !section.taker_fee.is_zero() {
            paper.set_fee(venue, section.taker_fee);
        }
    }
    let (report_tx, report_rx) = gw::report_queue(8192);
    let wired = wiring::wire(
        config,
        &options.config_file,
        &universe,
        paper,
        &report_tx,
        &cores,
        options.credentials.as_deref(),
    )?;
    eprintln!("carry: orders: {}", wired.summary());
    let (condition_tx, condition_rx) = crossbeam::channel::unbounded();
    for c in &wired.conditions {
        let _ = condition_tx.send(*c);
    }
    let gateways = wired.gateways;

    // Admin: latency collector, snapshots, commands.
    let mut collector =
        LatencyCollector::new(LatencyConfig::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let recorder = collector
        .new_recorder("engine", &Stage::ALL)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (publisher, reader) = snapshot_channel(4);
    let (command_tx, command_rx) = command_channel(COMMAND_QUEUE_CAPACITY);
    let admin = AdminServer::spawn_with(
        &config.admin.socket,
        AdminSources {
            snapshots: reader,
            latency: collector,
            commands: command_tx,
        },
        AdminOptions {
            http_metrics: config.admin.http_metrics,
            ..AdminOptions::default()
        },
    )
    .with_context(|| format!("admin.socket {}", config.admin.socket.display()))?;

    // Feeds: one group (thread, queue) per venue.
    let feed_stop = Arc::new(AtomicBool::new(false));
    let mut feeds: Vec<FeedHandle> = Vec::new();
    let mut consumers = Vec::new();
    for (n, venue) in venues.iter().copied().enumerate() {
        let section = &config.venues[venue.as_str()];
        let sessions = market_ws::sessions(venue, &section.ws_url, universe.clone());
        let mut group = FeedGroupConfig::new(
            venue.as_str(),
            sessions,
            universe.clone(),
            tls.clone(),
            rest.clone(),
        );
        group.rest = vec![(venue, section.rest_url.clone())];
        group.core = cores.feed(n);
        group.busy_poll = config.threads.busy_poll && group.core.is_some();
        let (producer, consumer) = queue::bounded(config.feeds.queue_capacity);
        let handle = FeedGroup::spawn(group, producer, feed_stop.clone())
            .with_context(|| format!("starting the {venue} feed"))?;
        feeds.push(handle);
        consumers.push(consumer);
    }
    let feed_stats = feeds.iter().map(FeedHandle::stats).collect();

    let engine_stop = Arc::new(AtomicBool::new(false));
    let engine_loop = EngineLoop {
        engine,
        universe: universe.clone(),
        feeds: consumers,
        feed_stats,
        specs: spec_rx,
        reports: report_rx,
        commands: command_rx,
        gateways,
        venue_conditions: condition_rx,
        backlogs: wired.backlogs,
        board,
        latency: recorder,
        snapshots: publisher,
        stop: engine_stop.clone(),
        options: LoopOptions {
            core: cores.engine,
            busy_poll: config.threads.busy_poll,
            tick_every: Duration::from_millis(100),
            publish_every: Duration::from_millis(250),
            mode: options.mode,
            instance: config.instance.clone(),
        },
    };
    let engine_thread = thread::Builder::new()
        .name("carry-engine".into())
        .spawn(move || engine_loop.run())
        .context("starting the engine thread")?;

    eprintln!(
        "carry: running instance {} on {} venues, {} pairs; admin socket {}",
        config.instance,
        venues.len(),
        config.pairs.len(),
        config.admin.socket.display()
    );
    wait_for_stop(&options, &config.admin.socket, &engine_thread);

    // Orderly stop: no new market data, then let the engine drain and flush.
    feed_stop.store(true, Ordering::Release);
    for f in &feeds {
        f.wake();
    }
    for f in feeds {
        let name = f.name().to_string();
        if let Err(e) = f.join() {
            eprintln!("carry: feed {name}: {e}");
        }
    }
    engine_stop.store(true, Ordering::Release);
    let outcome = engine_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the engine thread panicked"))?;
    let sources = admin.shutdown().context("stopping the admin socket")?;
    let mut latency = sources.latency;
    latency.collect(mono_ns());
    Ok(RunReport {
        outcome,
        latency: latency.report(),
        paper_fills: outcome.counters.fills,
    })
}

fn wait_for_stop(options: &RunOptions, socket: &Path, engine: &thread::JoinHandle<LoopOutcome>) {
    let started = Instant::now();
    let mut next_second = started + Duration::from_secs(1);
    loop {
        if crate::signals::stop_requested() || engine.is_finished() {
            return;
        }
        if options.stop_after.is_some_and(|d| started.elapsed() >= d) {
            return;
        }
        if Instant::now() >= next_second {
            next_second += Duration::from_secs(1);
            if let Some(f) = options.every_second {
                f(socket);
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn journal_options(config: &Config) -> JournalOptions {
    let durability = match config.journal.durability {
        DurabilityMode::None => Durability::None,
        DurabilityMode::Batch => Durability::Batch {
            interval: Duration::from_millis(config.journal.batch_interval_ms),
        },
        DurabilityMode::Sync => Durability::Sync,
    };
    JournalOptions::default()
        .segment_size(config.journal.segment_mib << 20)
        .durability(durability)
}

/// Opens the engine on the timed journal and recovers it from every record (START is journaled
/// by the caller). Returns the engine and how many intents the journal holds.
fn recover_engine(
    cfg: carry_engine::config::EngineConfig,
    universe: &Universe,
    decider: carry_engine::decision::decider::Decider,
    journal: Journal,
) -> anyhow::Result<(crate::engine_thread::LiveEngine, u64)> {
    let reader = journal.reader().context("reading the journal back")?;
    let mut engine =
        carry_engine::engine::Engine::new(cfg, universe, decider, TimedJournal::new(journal))?;
    let mut intents = 0u64;
    engine.recover(reader.iter_from(1).map(|r| {
        r.map(|r| {
            intents += u64::from(r.kind == carry_engine::record::kind::INTENT);
            (r.seq, r.kind, r.payload)
        })
        .map_err(Into::into)
    }))?;
    Ok((engine, intents))
}

// The engine's journal and the paper venue's beside it are one history: the paper venue's holds
// the orders and fills of the intents the engine's holds. A fresh start is a fresh start of both;
// one without the other means a journal was lost, and carry refuses to trade on half a history
// (the journal crate refuses damage inside each).

/// Before either journal is opened: the engine's journal is always created first, so a paper
/// journal without one beside it means the engine's was lost. Returns whether the paper journal
/// exists.
fn paper_journal_before_open(journal_dir: &Path, paper_dir: &Path) -> anyhow::Result<bool> {
    let paper = carry_journal::has_segments(paper_dir)
        .with_context(|| format!("paper venue journal {}", paper_dir.display()))?;
    let engine = carry_journal::has_segments(journal_dir)
        .with_context(|| format!("journal {}", journal_dir.display()))?;
    if paper && !engine {
        anyhow::bail!(
            "journal {}: no journal segments, but the paper venue's journal {} exists: the \
             engine's journal is missing. Refusing to start a new one beside the paper venue's \
             orders and fills; restore it, or remove {} to start afresh",
            journal_dir.display(),
            paper_dir.display(),
            journal_dir.display()
        );
    }
    Ok(paper)
}

/// After the engine recovered `intents` intents: the paper journal is opened at every start
/// before anything trades, so intents without a paper journal mean the paper venue's orders and
/// fills were lost.
fn paper_journal_after_recovery(
    journal_dir: &Path,
    paper_dir: &Path,
    paper_existed: bool,
    intents: u64,
) -> anyhow::Result<()> {
    if intents > 0 && !paper_existed {
        anyhow::bail!(
            "paper venue journal {}: missing, but the journal {} holds {intents} intents sent to \
             it: its orders and fills are lost. Refusing to start; restore it, or remove {} to \
             start afresh",
            paper_dir.display(),
            journal_dir.display(),
            journal_dir.display()
        );
    }
    Ok(())
}

/// Fetches every venue's REST snapshot in parallel for its trading rules. A venue that does not
/// answer is reported; its pairs wait (the engine blocks entries without a spec).
fn initial_specs(
    config: &Config,
    venues: &[Venue],
    universe: &Arc<Universe>,
    rest: &dyn SnapshotSource,
) -> Vec<(Venue, InstrumentId, InstrumentSpec)> {
    let results: Vec<(Venue, Result<carry_feeds::VenueSnapshot, SnapshotError>)> =
        thread::scope(|s| {
            let handles: Vec<_> = venues
                .iter()
                .map(|&venue| {
                    let url = config.venues[venue.as_str()].rest_url.clone();
                    let universe = universe.clone();
                    (
                        venue,
                        s.spawn(move || rest.fetch(venue, &url, &universe, recv_stamp())),
                    )
                })
                .collect();
            handles
                .into_iter()
                .map(|(v, h)| {
                    (
                        v,
                        h.join()
                            .unwrap_or(Err(SnapshotError::Panicked { venue: v })),
                    )
                })
                .collect()
        });
    let mut specs = Vec::new();
    for (venue, result) in results {
        match result {
            Ok(snapshot) => specs.extend(
                snapshot
                    .instruments
                    .iter()
                    .filter_map(|i| i.spec.map(|spec| (venue, i.instrument, spec))),
            ),
            Err(e) => eprintln!("carry: {venue}: no trading rules yet ({e}); its pairs will not enter until they arrive"),
        }
    }
    specs
}

/// A snapshot source that also hands every instrument spec it fetched to the engine thread.
pub struct SpecForwarder {
    pub inner: Arc<dyn SnapshotSource>,
    pub tx: crossbeam::channel::Sender<(Venue, InstrumentId, InstrumentSpec)>,
}

impl SnapshotSource for SpecForwarder {
    fn fetch(
        &self,
        venue: Venue,
        rest_url: &str,
        universe: &Universe,
        recv: carry_feeds::RecvStamp,
    ) -> Result<carry_feeds::VenueSnapshot, SnapshotError> {
        let snapshot = self.inner.fetch(venue, rest_url, universe, recv)?;
        for i in &snapshot.instruments {
            if let Some(spec) = i.spec {
                // A full channel drops the update: the next snapshot sends it again, and the
                // engine journals a spec only when it changed.
                let _ = self.tx.try_send((venue, i.instrument, spec));
            }
        }
        Ok(snapshot)
    }
}

/// The journal directory `carry demo` uses when none is given: fresh per run.
pub fn temp_dir(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), unix_ms()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use carry_feeds::feed::snapshot::StaticSnapshots;
    use carry_feeds::{InstrumentSnapshot, VenueSnapshot};
    use rust_decimal::Decimal;

    /// What `main` prints for an error (`{:#}`: the message and every source after it).
    #[test]
    fn a_journal_io_error_shows_the_os_error_once_where_main_prints_it() {
        let os = std::io::Error::from_raw_os_error(libc::EIO).to_string();
        let journal = carry_journal::JournalError::Io {
            path: "/j/00000000000000000001.seg".into(),
            op: "msync",
            error: std::io::Error::from_raw_os_error(libc::EIO),
        };
        let engine = carry_engine::engine::EngineError::from(journal);
        let printed = format!("{:#}", anyhow::Error::from(engine).context("journal /j"));
        assert_eq!(printed.matches(&os).count(), 1, "{printed}");
        assert_eq!(
            printed.matches("00000000000000000001.seg").count(),
            1,
            "{printed}"
        );
    }

    #[test]
    fn a_paper_journal_and_an_engine_journal_are_lost_or_kept_together() {
        let dir = tempfile::tempdir().unwrap();
        let (engine, paper) = (dir.path().join("j"), dir.path().join("j/paper"));
        let opts = JournalOptions::default().segment_size(1 << 16);
        // Neither: a fresh start.
        assert!(!paper_journal_before_open(&engine, &paper).unwrap());
        paper_journal_after_recovery(&engine, &paper, false, 0).unwrap();
        // A paper journal alone: the engine's was lost.
        drop(Journal::open(&paper, opts).unwrap());
        let err = paper_journal_before_open(&engine, &paper)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("journal {}:", engine.display())),
            "{err}"
        );
        assert!(err.contains("engine's journal is missing"), "{err}");
        // Both: carry on.
        drop(Journal::open(&engine, opts).unwrap());
        assert!(paper_journal_before_open(&engine, &paper).unwrap());
        paper_journal_after_recovery(&engine, &paper, true, 3).unwrap();
        // Intents journaled, but no paper journal: its orders and fills were lost.
        let err = paper_journal_after_recovery(&engine, &paper, false, 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&paper.display().to_string()), "{err}");
        assert!(err.contains("holds 3 intents"), "{err}");
    }

    #[test]
    fn later_snapshots_forward_their_specs_to_the_engine() {
        let venue: Venue = "gate-perp".parse().unwrap();
        let mut universe = Universe::new();
        let btc = universe.add("BTC-USDT").unwrap();
        let spec = InstrumentSpec {
            tick_size: Decimal::new(1, 1),
            lot_size: Decimal::ONE,
            min_qty: Decimal::ONE,
            min_notional: Decimal::ZERO,
            contract_size: Some(Decimal::new(1, 4)),
        };
        let snapshot = VenueSnapshot {
            venue: Some(venue),
            instruments: vec![InstrumentSnapshot {
                instrument: btc,
                funding: None,
                interval_ms: None,
                spec: Some(spec),
            }],
        };
        let (tx, rx) = crossbeam::channel::bounded(4);
        let forwarder = SpecForwarder {
            inner: Arc::new(StaticSnapshots::new().with(venue, snapshot.clone())),
            tx,
        };
        let got = forwarder
            .fetch(venue, "http://x", &universe, recv_stamp())
            .unwrap();
        assert_eq!(got, snapshot);
        assert_eq!(rx.try_recv().unwrap(), (venue, btc, spec));
        assert!(rx.try_recv().is_err());
        // A failing venue forwards nothing and reports the failure.
        assert!(forwarder
            .fetch(
                "okx-perp".parse().unwrap(),
                "http://x",
                &universe,
                recv_stamp()
            )
            .is_err());
        assert!(rx.try_recv().is_err());
    }
}

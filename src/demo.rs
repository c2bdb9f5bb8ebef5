//! `carry demo`: simulated venues on loopback that speak the real wire formats, plus the same
//! wiring as `carry run` (feeds, engine, journal, paper venue, admin socket) pointed at them.
//! Offline, no API keys: the first thing a newcomer runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use carry_engine::Venue;
use serde_json::{json, Value};

use crate::admin::snapshot::Mode;
use crate::admin::{AdminClient, Reply};
use crate::app::{self, RunOptions, RunReport, EXIT_CONFIG};
use crate::config::{Config, Credentials, Secret};
use crate::gateway::wiring::CredentialSource;
use crate::sim::{SimConfig, SimVenues};
use carry_engine::config::ExecutionMode;

/// The built-in demo configuration (`config/demo.toml`), so `carry demo` works from any
/// directory.
pub const DEMO_TOML: &str = include_str!("../config/demo.toml");

/// Arguments of `carry demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Config to use instead of the built-in config/demo.toml (its venue URLs are replaced by the
    /// simulated venues').
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub seconds: Option<u64>,
    /// Journal directory; an existing journal is recovered and continued, so a killed demo
    /// restarts where it was (default: a fresh directory under the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub journal: Option<PathBuf>,
    /// Admin socket path (default: beside the journal).
    #[arg(long, value_name = "PATH")]
    pub admin_socket: Option<PathBuf>,
    /// On exit, write a JSON summary here: events, intents, fills, cycles completed and latency
    /// per stage.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Seed of the simulated market (the same seed replays the same prices and funding).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Do not print the status table every second.
    #[arg(long)]
    pub quiet: bool,
    /// Trade every venue on the embedded paper venue instead of the live gateways (which the
    /// demo otherwise runs against the simulated venues' private APIs).
    #[arg(long)]
    pub paper: bool,
}

/// Runs the demo; exit 0 after `--seconds` or Ctrl-C, 2 for a bad `--config`.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let (file, loaded) = match &args.config {
        Some(path) => (path.display().to_string(), Config::load_with_text(path)),
        None => {
            let file = "config/demo.toml (built in)";
            let parsed = Config::parse(DEMO_TOML, file).map(|c| (c, DEMO_TOML.to_string()));
            (file.to_string(), parsed)
        }
    };
    let (mut config, text) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("carry: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let journal_dir = args
        .journal
        .clone()
        .unwrap_or_else(|| app::temp_dir("carry-demo"));
    config.journal.dir = journal_dir.clone();
    config.admin.socket = match &args.admin_socket {
        Some(p) => p.clone(),
        None => journal_dir.join("admin.sock"),
    };

    let universe = config
        .universe()
        .map_err(|(k, r)| anyhow::anyhow!("{file}: {k}: {r}"))?;
    if args.paper {
        config.execution.mode = ExecutionMode::Paper;
        for section in config.venues.values_mut() {
            section.mode = None;
        }
    }
    // The simulated venues keep their record of accepted orders beside the journal, so a demo
    // killed and restarted on the same journal meets venues that remember every order, as real
    // ones do.
    let sim = SimVenues::start(SimConfig {
        instruments: universe.iter().map(|(_, i)| i.name.clone()).collect(),
        venues: universe.venues().collect(),
        seed: args.seed,
        state_dir: Some(journal_dir.join("sim")),
        ..SimConfig::default()
    })
    .context("starting the simulated venues")?;
    // Live venues sign with the keys the simulated venues accept (never the environment's).
    let keys = sim.credentials().clone();
    let credentials: Arc<CredentialSource> = Arc::new(move |venue: Venue| {
        let c = keys.of(venue.exchange);
        Some(Credentials {
            key: Secret::new(c.api_key.clone()),
            secret: Secret::new(c.secret.clone()),
            passphrase: (!c.passphrase.is_empty()).then(|| Secret::new(c.passphrase.clone())),
        })
    });
    for (name, section) in config.venues.iter_mut() {
        if let Ok(venue) = name.parse::<Venue>() {
            section.ws_url = sim.ws_url(venue);
            section.rest_url = sim.rest_url(venue);
        }
    }
    eprintln!(
        "carry demo: simulated venues on 127.0.0.1 ({}); journal {}; admin socket {}",
        universe
            .venues()
            .map(Venue::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        journal_dir.display(),
        config.admin.socket.display()
    );
    eprintln!(
        "carry demo: try `carry admin --socket {} status` in another terminal; Ctrl-C stops",
        config.admin.socket.display()
    );

    crate::signals::install().context("installing signal handlers")?;
    let report = match app::run(
        &config,
        &text,
        RunOptions {
            mode: Mode::Demo,
            stop_after: args.seconds.map(Duration::from_secs),
            every_second: if args.quiet { None } else { Some(print_status) },
            credentials: Some(credentials),
            config_file: file.clone(),
        },
    ) {
        Ok(report) => report,
        Err(e) => return app::refused_at_start(e),
    };
    drop(sim);
    app::print_exit_line(&report);
    if let Some(path) = &args.summary {
        std::fs::write(path, summary(&report).to_string() + "\n")
            .with_context(|| format!("writing the summary to {}", path.display()))?;
    }
    Ok(if report.outcome.halted {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `{"events":N,"intents":N,"fills":N,"cycles_completed":N,"latency_ns":{STAGE:{..}}}`
pub fn summary(report: &RunReport) -> Value {
    let c = &report.outcome.counters;
    json!({
        "events": report.outcome.market_events,
        "intents": c.intents,
        "fills": c.fills,
        "cycles_completed": c.cycles_completed,
        "latency_ns": report.latency.summary_json(),
    })
}

/// One status table, read over the admin socket like any operator would.
fn print_status(socket: &Path) {
    let snapshot = AdminClient::connect(socket).and_then(|mut c| c.request("snapshot"));
    match snapshot {
        Ok(Reply::Ok(body)) => match serde_json::from_str::<Value>(&body) {
            Ok(v) => println!("{}", render_status(&v)),
            Err(e) => eprintln!("carry demo: unreadable snapshot: {e}"),
        },
        Ok(Reply::Err(e)) => eprintln!("carry demo: {e}"),
        Err(e) => eprintln!("carry demo: admin socket {}: {e}", socket.display()),
    }
}

/// The demo's status table from a `snapshot` document.
pub fn render_status(v: &Value) -> String {
    let status = &v["status"];
    // Cumulative: intents are rare, so a one-second window is usually empty.
    let wire = v["latency"]["cumulative"].as_array().and_then(|rows| {
        rows.iter()
            .find(|r| r["stage"] == "wire_to_intent" && r["venue"] == "all")
    });
    let micros = |r: Option<&Value>, k: &str| {
        r.and_then(|r| r[k].as_u64())
            .map_or("-".to_string(), |ns| format!("{:.1}µs", ns as f64 / 1000.0))
    };
    let mut out = format!(
        "── carry demo · up {}s · {:.0} events/s · events {} · intents {} · fills {} · cycles {} · wire→intent p50 {} p99 {}\n",
        status["uptime_s"],
        status["events_per_s"].as_f64().unwrap_or(0.0),
        status["events"],
        status["intents"],
        status["fills"],
        status["cycles_completed"],
        micros(wire, "p50"),
        micros(wire, "p99"),
    );
    let cycles = v["cycles"].as_array().cloned().unwrap_or_default();
    let positions = v["positions"].as_array().cloned().unwrap_or_default();
    out += &format!(
        "{:<30} {:<13} {:<13} {:>9} {:>9}  {:<10} {}\n",
        "pair", "long", "short", "APR", "net APR", "cycle", "positions"
    );
    for row in v["spreads"].as_array().into_iter().flatten() {
        let pair = row["pair"].as_str().unwrap_or("?");
        let pct = |k: &str| {
            row[k]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .map_or("-".to_string(), |x| format!("{:.1}%", x * 100.0))
        };
        let stale = |k: &str, venue: &str| {
            if row[k].as_bool() == Some(true) {
                format!("{venue}*")
            } else {
                venue.to_string()
            }
        };
        let cycle = cycles
            .iter()
            .find(|c| c["pair"] == pair)
            .and_then(|c| c["state"].as_str())
            .unwrap_or("-");
        let instrument = row["instrument"].as_str().unwrap_or("");
        let held: Vec<String> = positions
            .iter()
            .filter(|p| {
                p["instrument"] == instrument
                    && (p["venue"] == row["long_venue"] || p["venue"] == row["short_venue"])
            })
            .map(|p| {
                format!(
                    "{} {}",
                    p["venue"].as_str().unwrap_or("?"),
                    p["qty"].as_str().unwrap_or("?")
                )
            })
            .collect();
        out += &format!(
            "{:<30} {:<13} {:<13} {:>9} {:>9}  {:<10} {}\n",
            pair,
            stale("long_stale", row["long_venue"].as_str().unwrap_or("?")),
            stale("short_stale", row["short_venue"].as_str().unwrap_or("?")),
            pct("apr"),
            pct("net_apr"),
            cycle,
            held.join(", ")
        );
    }
    let breakers: Vec<String> = v["breakers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            format!(
                "{}({})",
                b["name"].as_str().unwrap_or("?"),
                b["scope"].as_str().unwrap_or("?")
            )
        })
        .collect();
    out += &format!(
        "breakers: {}",
        if breakers.is_empty() {
            "none".to_string()
        } else {
            breakers.join(" ")
        }
    );
    out
}

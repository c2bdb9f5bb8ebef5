//! Which gateway serves each venue, as the config says: the embedded paper venue (`paper`), the
//! paper venue with the live request signed and logged (`shadow`), or the venue's live gateway
//! on a thread of its own (`live`).
//!
//! A live venue is made ready before anything is sent: its credentials are read from the
//! variables its section names (a variable that is not set refuses the start, exit 2, naming
//! it), its connection is opened and its clock synced, and its account is checked and set:
//! one-way positions, cross margin and the configured leverage on every perp symbol carry
//! trades there. A venue that refuses any of it is reported line by line and starts with
//! `venue_not_ready` tripped, so its pairs stay paused; one that passes starts with it cleared.

use std::sync::Arc;

use carry_engine::config::ExecutionMode;
use carry_engine::decision::breaker::VenueCondition;
use carry_engine::market::venue::VENUE_COUNT;
use carry_engine::{Market, Universe, Venue};
use carry_feeds::gateway::credentials::Credentials;
use carry_feeds::gateway::http::{HttpClient, HttpTimeouts};
use carry_feeds::gateway::live::{ApiConfig, LiveOptions, LiveVenue, Setup};
use carry_feeds::gateway::{self as gw, GatewayOptions, Gateways, ReportSender};
use carry_feeds::transport::clock::{mono_ns, unix_ms};
use rust_decimal::prelude::ToPrimitive;

use super::paper::PaperVenue;
use super::shadow::ShadowDesk;
use crate::config::{Config, ConfigError};
use crate::cores::CorePlan;
use crate::engine_thread::BacklogWatch;

/// Credentials a caller hands over instead of reading the environment (the demo's simulated
/// venues): `None` for a venue falls back to its section's variables.
pub type CredentialSource = dyn Fn(Venue) -> Option<Credentials> + Send + Sync;

/// Why the gateways could not be built.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// A config problem found at start (a key variable not set): exit 2.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A gateway thread could not be started.
    #[error("starting the {venue} gateway thread: {source}")]
    Thread {
        /// The venue.
        venue: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The gateways a run uses, and what the engine thread must learn about them.
pub struct Wired {
    /// Intents are routed here.
    pub gateways: Gateways,
    /// Live gateways' backlogs, for the engine thread to watch.
    pub backlogs: Vec<BacklogWatch>,
    /// Each live venue's readiness, to hand the engine as its first inputs.
    pub conditions: Vec<(Venue, VenueCondition, bool)>,
    /// Per mode, the venues in it (for the start-up line).
    pub by_mode: Vec<(ExecutionMode, Vec<Venue>)>,
}

impl Wired {
    /// `live: binance-perp, okx-perp; paper: ...`
    pub fn summary(&self) -> String {
        self.by_mode
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(m, v)| {
                let names: Vec<&str> = v.iter().map(|v| v.as_str()).collect();
                format!("{}: {}", m.as_str(), names.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Builds every gateway `config` asks for over `universe`'s venues. `paper` serves the paper and
/// shadow venues; `file` names the config in errors.
pub fn wire(
    config: &Config,
    file: &str,
    universe: &Arc<Universe>,
    paper: PaperVenue,
    reports: &ReportSender,
    cores: &CorePlan,
    credentials: Option<&CredentialSource>,
) -> Result<Wired, WiringError> {
    let venues: Vec<Venue> = universe.venues().collect();
    let mut by_mode = vec![
        (ExecutionMode::Live, Vec::new()),
        (ExecutionMode::Shadow, Vec::new()),
        (ExecutionMode::Paper, Vec::new()),
    ];
    let mut wired = Wired {
        gateways: Gateways::new(),
        backlogs: Vec::new(),
        conditions: Vec::new(),
        by_mode: Vec::new(),
    };
    let mut signers: Vec<Option<Box<dyn LiveVenue>>> = (0..VENUE_COUNT).map(|_| None).collect();
    let mut paper_venues = Vec::new();
    let options = LiveOptions {
        time_sync_interval_ms: config.execution.time_sync_interval_ms,
        ..LiveOptions::default()
    };
    for venue in venues {
        let mode = config.mode_of(venue);
        for (m, list) in by_mode.iter_mut() {
            if *m == mode {
                list.push(venue);
            }
        }
        if mode == ExecutionMode::Paper {
            paper_venues.push(venue);
            continue;
        }
        let mut gateway = build_live(config, file, universe, venue, credentials, &options)?;
        let now = mono_ns();
        if let Err(e) = gateway.warm_up(now) {
            eprintln!(
                "carry: {venue}: cannot reach the venue's REST API ({e}); its pairs stay paused"
            );
            wired
                .conditions
                .push((venue, VenueCondition::NotReady, true));
            if mode == ExecutionMode::Shadow {
                signers[venue.index()] = Some(gateway);
                paper_venues.push(venue);
            }
            continue;
        }
        if mode == ExecutionMode::Shadow {
            // Shadow never writes to the account: no setup, the paper venue answers.
            signers[venue.index()] = Some(gateway);
            paper_venues.push(venue);
            continue;
        }
        let refused = gateway.set_up(&setups(config, venue), now);
        for (symbol, setup, said) in &refused {
            eprintln!("carry: {venue}: {symbol} {setup:?} refused: {said}");
        }
        if !refused.is_empty() {
            eprintln!("carry: {venue}: the account is not as carry needs it; its pairs stay paused until a start whose setup passes");
        }
        wired
            .conditions
            .push((venue, VenueCondition::NotReady, !refused.is_empty()));
        wired.backlogs.push(BacklogWatch {
            venue,
            stats: gateway.live_stats(),
            threshold: u64::from(config.execution.backlog_threshold),
            tripped: false,
        });
        let handle = gw::spawn(
            gateway,
            reports.clone(),
            GatewayOptions {
                thread_name: format!("carry-{venue}"),
                core: cores.gateway.map(|c| c.id),
                ..GatewayOptions::default()
            },
        )
        .map_err(|source| WiringError::Thread {
            venue: venue.to_string(),
            source,
        })?;
        wired.gateways.add(handle, &[venue]);
    }
    let desk = ShadowDesk::new(paper, signers, Box::new(std::io::stderr()));
    let handle = gw::spawn(
        Box::new(desk),
        reports.clone(),
        GatewayOptions {
            thread_name: "carry-paper".into(),
            core: cores.gateway.map(|c| c.id),
            ..GatewayOptions::default()
        },
    )
    .map_err(|source| WiringError::Thread {
        venue: "paper".into(),
        source,
    })?;
    wired.gateways.add(handle, &paper_venues);
    wired.by_mode = by_mode;
    Ok(wired)
}

/// What a live venue's account must be: one-way, cross margin, the configured leverage (perps).
fn setups(config: &Config, venue: Venue) -> Vec<Setup> {
    if venue.market != Market::Perp {
        return Vec::new();
    }
    let leverage = config.venues[venue.as_str()]
        .leverage
        .unwrap_or(config.risk.default_leverage)
        .round()
        .to_u32()
        .unwrap_or(1)
        .max(1);
    vec![
        Setup::OneWayMode,
        Setup::CrossMargin,
        Setup::Leverage(leverage),
    ]
}

fn build_live(
    config: &Config,
    file: &str,
    universe: &Universe,
    venue: Venue,
    credentials: Option<&CredentialSource>,
    options: &LiveOptions,
) -> Result<Box<dyn LiveVenue>, WiringError> {
    let section = &config.venues[venue.as_str()];
    let invalid = |key: String, reason: String| ConfigError::Invalid {
        file: file.to_string(),
        key,
        reason,
    };
    let creds = match credentials.and_then(|f| f(venue)) {
        Some(c) => c,
        None => match section.credentials(venue) {
            Ok(Some(c)) => c,
            Ok(None) => return Err(invalid(
                format!("venues.{venue}.api_key_env"),
                "required to sign orders: the name of the environment variable that holds the key"
                    .into(),
            )
            .into()),
            Err(reason) => {
                let reason = reason
                    .strip_prefix(&format!("venues.{venue}: "))
                    .unwrap_or(&reason)
                    .to_string();
                return Err(invalid(format!("venues.{venue}"), reason).into());
            }
        },
    };
    let row = carry_feeds::venue::adapter(venue.exchange);
    if row.needs_passphrase && creds.passphrase.is_none() {
        return Err(invalid(
            format!("venues.{venue}.api_passphrase_env"),
            format!("required to sign orders on {venue}: the name of the environment variable that holds the API passphrase"),
        )
        .into());
    }
    let Some(factory) = row.live else {
        return Err(invalid(
            format!("venues.{venue}.mode"),
            format!("carry has no live gateway for {venue} yet; use paper"),
        )
        .into());
    };
    let api = ApiConfig {
        credentials: creds,
        recv_window_ms: section.recv_window_ms,
        demo_trading: section.testnet && row.demo_trading_flag,
        margin_spot: venue.market == Market::Spot
            && config.pairs.iter().any(|p| p.allow_margin_short_spot),
    };
    let symbols = universe
        .iter()
        .map(|(id, _)| universe.symbol(id, venue).map(str::to_string))
        .collect();
    let http = HttpClient::new(
        HttpClient::agent(HttpTimeouts::default()),
        &section.rest_url,
        &[],
    );
    Ok(factory(
        venue,
        &api,
        http,
        symbols,
        options.clone(),
        unix_ms,
    ))
}

//! The TOML configuration of `carry run` and `carry demo`: parsed strictly (unknown keys are
//! refused), validated before anything starts, and every error names the file, the key and the
//! reason, e.g. `config/demo.toml: venues.okx-perp.ws_url: not a websocket URL (ws:// or wss://)`.
//!
//! Every numeric key has a range, checked here or by the engine's and the paper venue's own
//! validation, and stated in the refusal; the README's configuration table lists them all.
//!
//! Secrets never live in the file: a venue section names the environment variables that hold its
//! API credentials ([`secrets`]: a value that looks like a key is refused without being shown),
//! and [`Secret`] keeps their values out of `Debug`, logs and the journal.

mod base_url;
pub mod secrets;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use carry_engine::config::{
    check_count, BreakerConfig, DeciderConfig, EngineConfig, ExecConfig, PairConfig, RiskConfig,
    StrategyConfig, VenueParams,
};
use carry_engine::config::{ExecutionMode, ResolveMode};
use carry_engine::decision::decider::Decider;
use carry_engine::market::venue::VENUE_COUNT;
use carry_engine::{Universe, Venue};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::gateway::paper::PaperConfig;

/// A configuration error: which file, which key (dotted path, empty for syntax errors) and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {}{reason}", if key.is_empty() { String::new() } else { format!("{key}: ") })]
    Invalid {
        file: String,
        key: String,
        reason: String,
    },
}

/// The whole configuration, as written in the file (after defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Short alphanumeric name of this instance; part of every client order id.
    pub instance: String,
    pub journal: JournalSection,
    #[serde(default)]
    pub admin: AdminSection,
    #[serde(default)]
    pub threads: ThreadsSection,
    #[serde(default)]
    pub feeds: FeedsSection,
    /// Per venue id (`binance-perp`, ...): endpoints, credentials' env var names, fees, margin.
    pub venues: BTreeMap<String, VenueSection>,
    /// `[[pairs]]`: what to trade.
    #[serde(default)]
    pub pairs: Vec<PairConfig>,
    /// `[strategy]`: entry and exit thresholds.
    pub strategy: StrategyConfig,
    /// `[risk]`: exposure limits and the margin model.
    pub risk: RiskConfig,
    /// `[breakers]`: staleness and reject-rate limits.
    #[serde(default)]
    pub breakers: BreakerConfig,
    /// `[execution]`: how targets become orders.
    #[serde(default)]
    pub execution: ExecConfig,
    /// `[paper]`: the paper venue's latency, fills, rejects and fees.
    #[serde(default)]
    pub paper: PaperConfig,
}

/// `[journal]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSection {
    /// Directory of segment files; created if missing. Relative paths are relative to the
    /// working directory.
    pub dir: PathBuf,
    /// `none`, `batch` or `sync`; see the README's durability section.
    #[serde(default = "default_durability")]
    pub durability: DurabilityMode,
    /// With `batch`: msync at most this often, from a background thread.
    #[serde(default = "default_batch_interval_ms")]
    pub batch_interval_ms: u64,
    /// Size of each pre-allocated segment file.
    #[serde(default = "default_segment_mib")]
    pub segment_mib: u64,
}

/// How hard the journal works to survive a crash; see the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityMode {
    None,
    Batch,
    Sync,
}

fn default_durability() -> DurabilityMode {
    DurabilityMode::Batch
}
fn default_batch_interval_ms() -> u64 {
    10
}
fn default_segment_mib() -> u64 {
    64
}

/// `[admin]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Unix socket the admin thread serves (created with mode 0600).
    #[serde(default = "default_admin_socket")]
    pub socket: PathBuf,
    /// Optional loopback address for a Prometheus `/metrics` listener; off when absent.
    #[serde(default)]
    pub http_metrics: Option<SocketAddr>,
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            socket: default_admin_socket(),
            http_metrics: None,
        }
    }
}

fn default_admin_socket() -> PathBuf {
    PathBuf::from(crate::admin::client::DEFAULT_SOCKET)
}

/// `[threads]`: core ids to pin threads to; unpinned where absent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadsSection {
    #[serde(default)]
    pub engine_core: Option<usize>,
    #[serde(default)]
    pub gateway_core: Option<usize>,
    /// Cores for feed threads, used in turn by the feed groups (one group per venue).
    #[serde(default)]
    pub feed_cores: Vec<usize>,
    /// Busy-poll when idle: the engine thread spins (and pinned feed threads poll with a zero
    /// timeout) for the lowest latency at the cost of a full core each. Turn off on shared
    /// machines; the engine then naps 200 µs after a run of empty polls.
    #[serde(default = "default_true")]
    pub busy_poll: bool,
}

fn default_true() -> bool {
    true
}

impl Default for ThreadsSection {
    fn default() -> Self {
        ThreadsSection {
            engine_core: None,
            gateway_core: None,
            feed_cores: Vec::new(),
            busy_poll: true,
        }
    }
}

/// `[feeds]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedsSection {
    /// Capacity of each feed thread's queue to the engine (events).
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// An extra trusted root certificate (PEM) for venues behind a private CA.
    #[serde(default)]
    pub extra_root_cert: Option<PathBuf>,
}

impl Default for FeedsSection {
    fn default() -> Self {
        FeedsSection {
            queue_capacity: default_queue_capacity(),
            extra_root_cert: None,
        }
    }
}

fn default_queue_capacity() -> usize {
    8192
}

/// `[venues.<venue-id>]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSection {
    /// Base websocket URL (the venue module appends its routes). Absent: the venue's own (or
    /// its test environment's, with `testnet`).
    #[serde(default)]
    pub ws_url: String,
    /// Base REST URL, for funding snapshots, instrument rules and (live) orders. Absent: as
    /// `ws_url`.
    #[serde(default)]
    pub rest_url: String,
    /// Trade on the venue's test environment (Binance futures and spot testnets, Bybit testnet,
    /// OKX and Bitget demo trading, Gate testnet): its URLs replace the defaults.
    #[serde(default)]
    pub testnet: bool,
    /// Where this venue's orders go, overriding `[execution] mode`.
    #[serde(default)]
    pub mode: Option<ExecutionMode>,
    /// The receive window signed requests carry where the venue takes one, in ms (1..=60000).
    #[serde(default = "default_recv_window_ms")]
    pub recv_window_ms: u32,
    /// Name of the environment variable holding the API key (live trading).
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub api_secret_env: Option<String>,
    /// OKX and Bitget also need a passphrase.
    #[serde(default)]
    pub api_passphrase_env: Option<String>,
    /// Taker fee rate (0.0005 = 5 bp).
    #[serde(default)]
    pub taker_fee: Decimal,
    #[serde(default)]
    pub maker_fee: Decimal,
    /// Maintenance margin rate of perps on this venue; the risk default applies where absent.
    #[serde(default)]
    pub maintenance_margin_rate: Option<Decimal>,
    /// Leverage used for perps on this venue; the risk default applies where absent.
    #[serde(default)]
    pub leverage: Option<Decimal>,
}

fn default_recv_window_ms() -> u32 {
    5_000
}

pub use carry_feeds::gateway::credentials::{Credentials, Secret};

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_text(path).map(|(config, _)| config)
    }

    /// [`Config::load`], also returning the file's text (the START record journals it, through
    /// [`secrets::journaled_text`], so that `carry replay` can rebuild the same engine).
    pub fn load_with_text(path: &Path) -> Result<(Config, String), ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let config = Config::parse(&text, &file)?;
        // Cores are a fact of this machine, not of the text, so they are checked here, where a
        // file is about to run, rather than in `parse` (which replay also uses, anywhere).
        crate::cores::CorePlan::detect(&config.threads).map_err(|e| ConfigError::Invalid {
            file,
            key: e.key().to_string(),
            reason: e.reason(),
        })?;
        Ok((config, text))
    }

    /// Parses and validates config text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        // Reasons quote what was in the file (parser messages, refused values): never a key.
        let invalid = |key: String, reason: String| ConfigError::Invalid {
            file: file.to_string(),
            key: secrets::redact(&key),
            reason: secrets::redact(&reason),
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| invalid(String::new(), toml_reason(&e, text)))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            invalid(key, toml_reason(e.inner(), text))
        })?;
        let mut config = config;
        config
            .resolve_endpoints()
            .map_err(|(key, reason)| invalid(key, reason))?;
        config
            .validate()
            .map_err(|(key, reason)| invalid(key, reason))?;
        Ok(config)
    }

    /// Fills in each venue's URLs from its adapter row where the section leaves them out: the
    /// production ones, or the test environment's with `testnet = true` (where naming URLs too
    /// would leave it unclear which environment is meant, so that is refused).
    fn resolve_endpoints(&mut self) -> Result<(), (String, String)> {
        for (name, v) in self.venues.iter_mut() {
            let Ok(venue) = name.parse::<Venue>() else {
                continue; // validate names it
            };
            let row = carry_feeds::venue::adapter(venue.exchange);
            if v.testnet {
                for (field, url) in [("ws_url", &v.ws_url), ("rest_url", &v.rest_url)] {
                    if !url.is_empty() {
                        return Err((
                            format!("venues.{name}.{field}"),
                            "give either testnet = true or the URLs, not both (testnet picks the venue's test environment URLs)".into(),
                        ));
                    }
                }
                v.ws_url = row.testnet_ws_url.get(venue.market).to_string();
                v.rest_url = row.testnet_rest_url.get(venue.market).to_string();
            } else {
                if v.ws_url.is_empty() {
                    v.ws_url = row.ws_url.get(venue.market).to_string();
                }
                if v.rest_url.is_empty() {
                    v.rest_url = row.rest_url.get(venue.market).to_string();
                }
            }
        }
        Ok(())
    }

    /// Where `venue`'s orders go: its section's `mode`, else `[execution] mode`.
    pub fn mode_of(&self, venue: Venue) -> ExecutionMode {
        self.venues
            .get(venue.as_str())
            .and_then(|s| s.mode)
            .unwrap_or(self.execution.mode)
    }

    /// The venues section resolved to venue ids (validated already, so this cannot fail).
    pub fn venue_sections(&self) -> impl Iterator<Item = (Venue, &VenueSection)> {
        self.venues
            .iter()
            .filter_map(|(name, section)| name.parse::<Venue>().ok().map(|v| (v, section)))
    }

    /// Checks what serde cannot: value ranges, URLs, names. Returns (key, reason).
    fn validate(&self) -> Result<(), (String, String)> {
        if self.instance.is_empty()
            || self.instance.len() > MAX_INSTANCE_LEN
            || !self.instance.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err((
                "instance".into(),
                format!(
                    "must be 1 to {MAX_INSTANCE_LEN} ASCII letters or digits (it is part of every client order id), got {:?}",
                    self.instance
                ),
            ));
        }
        if self.journal.dir.as_os_str().is_empty() {
            return Err(("journal.dir".into(), "must not be empty".into()));
        }
        check_count(
            "journal.segment_mib",
            self.journal.segment_mib,
            1,
            4096,
            " MiB",
        )
        .map_err(split_engine_error)?;
        check_count(
            "journal.batch_interval_ms",
            self.journal.batch_interval_ms,
            1,
            10_000,
            " ms",
        )
        .map_err(split_engine_error)?;
        crate::admin::socket_file::check_path(&self.admin.socket)
            .map_err(|reason| ("admin.socket".to_string(), reason))?;
        if let Some(addr) = self.admin.http_metrics {
            if !addr.ip().is_loopback() {
                return Err((
                    "admin.http_metrics".into(),
                    format!(
                        "{addr} is not a loopback address; metrics are served on loopback only"
                    ),
                ));
            }
        }
        check_count(
            "feeds.queue_capacity",
            self.feeds.queue_capacity as u64,
            16,
            1 << 20,
            " events",
        )
        .map_err(split_engine_error)?;
        if self.venues.is_empty() {
            return Err((
                "venues".into(),
                "at least one venue must be configured".into(),
            ));
        }
        for (name, v) in &self.venues {
            let key = |field: &str| format!("venues.{name}.{field}");
            name.parse::<Venue>()
                .map_err(|e| (format!("venues.{name}"), e.to_string()))?;
            base_url::check_base_url(&v.ws_url, &["ws://", "wss://"], "websocket")
                .map_err(|r| (key("ws_url"), r))?;
            base_url::check_base_url(&v.rest_url, &["http://", "https://"], "HTTP")
                .map_err(|r| (key("rest_url"), r))?;
            for (field, env) in [
                ("api_key_env", &v.api_key_env),
                ("api_secret_env", &v.api_secret_env),
                ("api_passphrase_env", &v.api_passphrase_env),
            ] {
                if let Some(env) = env {
                    secrets::check_env_name(env).map_err(|r| (key(field), r))?;
                }
            }
            if v.recv_window_ms == 0 || v.recv_window_ms > 60_000 {
                return Err((
                    key("recv_window_ms"),
                    format!("must be 1..=60000 ms, got {}", v.recv_window_ms),
                ));
            }
            let venue: Venue =
                name.parse()
                    .map_err(|e: carry_engine::market::venue::UnknownVenue| {
                        (format!("venues.{name}"), e.to_string())
                    })?;
            if self.mode_of(venue) == ExecutionMode::Live {
                if self.execution.resolve == ResolveMode::Resend
                    && !carry_feeds::venue::adapter(venue.exchange)
                        .resend_is_safe
                        .get(venue.market)
                {
                    return Err((
                        "execution.resolve".into(),
                        format!("\"resend\" is not safe on {venue}, which trades live: it does not refuse a repeated client order id for good, so a resend could place the order twice; use \"query\""),
                    ));
                }
                // The key variables are checked where they are read, at start: a replayed
                // journal's config keeps no *_env keys, and needs none.
            }
            // Fees, margin and leverage are checked with the engine's settings (their ranges
            // live there), by `engine_parts` below.
        }
        if self.pairs.is_empty() {
            return Err((
                "pairs".into(),
                "at least one [[pairs]] entry is needed".into(),
            ));
        }
        // Names are labels in metrics and the journal: no place for a pasted key either.
        for (i, pair) in self.pairs.iter().enumerate() {
            if pair.name.as_deref().is_some_and(secrets::looks_like_secret) {
                return Err((
                    format!("pairs[{i}].name"),
                    "looks like a pasted secret (the value is not shown); a name is a label for metrics, e.g. \"btc-okx-bybit\"".into(),
                ));
            }
        }
        self.execution.validate().map_err(split_engine_error)?;
        self.paper
            .validate()
            .map_err(|e| match e.split_once(": ") {
                Some((k, r)) => (k.to_string(), r.to_string()),
                None => ("paper".to_string(), e),
            })?;
        self.engine_parts().map(|_| ())
    }

    /// The universe, decider and engine configuration this config describes. A pure function of
    /// the config text, which is what lets `carry replay` rebuild the same engine from the
    /// journal's START record.
    pub fn engine_parts(&self) -> Result<(EngineConfig, Universe, Decider), (String, String)> {
        let universe = self.universe()?;
        let decider = Decider::new(self.decider_config(), &universe).map_err(split_engine_error)?;
        let engine = EngineConfig {
            instance: self.instance.clone(),
            execution: self.execution.clone(),
            config_text: String::new(),
        };
        Ok((engine, universe, decider))
    }

    /// Instruments in `[[pairs]]` order, each with its symbol on every venue a pair may use.
    pub fn universe(&self) -> Result<Universe, (String, String)> {
        let mut universe = Universe::new();
        for (i, pair) in self.pairs.iter().enumerate() {
            let id = match universe.find(&pair.instrument.trim().to_ascii_uppercase()) {
                Some(id) => id,
                None => universe
                    .add(&pair.instrument)
                    .map_err(|e| (format!("pairs[{i}].instrument"), e.to_string()))?,
            };
            let named = [("long", &pair.long), ("short", &pair.short)];
            let legs = named
                .iter()
                .filter(|(_, v)| v.as_str() != "auto")
                .map(|(field, v)| (format!("pairs[{i}].{field}"), v.as_str()))
                .chain(
                    pair.venues
                        .iter()
                        .enumerate()
                        .map(|(j, v)| (format!("pairs[{i}].venues[{j}]"), v.as_str())),
                );
            for (key, name) in legs {
                let venue: Venue =
                    name.parse()
                        .map_err(|e: carry_engine::market::venue::UnknownVenue| {
                            (key.clone(), e.to_string())
                        })?;
                if !self.venues.contains_key(venue.as_str()) {
                    return Err((
                        key,
                        format!("venue {venue} has no [venues.{venue}] section"),
                    ));
                }
                let ins = universe.get(id);
                let symbol =
                    carry_feeds::venue::symbols::venue_symbol(venue, &ins.base, &ins.quote);
                universe.set_symbol(id, venue, &symbol);
            }
        }
        Ok(universe)
    }

    /// The decision half's configuration, with each venue's fees and margin from `[venues]`.
    pub fn decider_config(&self) -> DeciderConfig {
        let mut venues = [VenueParams::default(); VENUE_COUNT];
        for (venue, section) in self.venue_sections() {
            venues[venue.index()] = VenueParams {
                taker_fee: section.taker_fee,
                maker_fee: section.maker_fee,
                maintenance_margin_rate: section.maintenance_margin_rate,
                leverage: section.leverage,
            };
        }
        DeciderConfig {
            pairs: self.pairs.clone(),
            strategy: self.strategy.clone(),
            risk: self.risk.clone(),
            breakers: self.breakers.clone(),
            venues,
        }
    }
}

/// An engine config error as (key, reason): its message starts with the key.
fn split_engine_error(e: carry_engine::config::ConfigError) -> (String, String) {
    let key = e.key().to_string();
    let text = e.to_string();
    let reason = text
        .strip_prefix(&format!("{key}: "))
        .unwrap_or(&text)
        .to_string();
    (key, reason)
}

/// Longest instance name, so that every client order id fits 28 characters.
pub const MAX_INSTANCE_LEN: usize = 8;

impl VenueSection {
    /// Reads the credentials this section names from the environment. `Ok(None)` when the
    /// section names none (paper trading needs none).
    pub fn credentials(&self, venue: Venue) -> Result<Option<Credentials>, String> {
        let (Some(key_env), Some(secret_env)) = (&self.api_key_env, &self.api_secret_env) else {
            return Ok(None);
        };
        let read = |env: &str| {
            std::env::var(env)
                .map(Secret::new)
                .map_err(|_| format!("venues.{venue}: environment variable {env} is not set"))
        };
        Ok(Some(Credentials {
            key: read(key_env)?,
            secret: read(secret_env)?,
            passphrase: self.api_passphrase_env.as_deref().map(read).transpose()?,
        }))
    }
}

/// A toml error's message with its line number, without the multi-line snippet.
fn toml_reason(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{message} (line {line})")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
instance = "t1"
[journal]
dir = "/tmp/j"
[strategy]
entry_apr = "0.2"
exit_apr = "0.05"
[risk]
max_notional_per_pair = 10000
max_total_notional = 50000
[[pairs]]
instrument = "BTC-USDT"
long = "binance-spot"
short = "binance-perp"
order_qty = "0.01"
[venues.binance-spot]
ws_url = "wss://stream.binance.com:9443"
rest_url = "https://api.binance.com"
[venues.binance-perp]
ws_url = "wss://fstream.binance.com"
rest_url = "https://fapi.binance.com"
taker_fee = "0.0005"
"#;

    fn err(text: &str) -> String {
        Config::parse(text, "x.toml").unwrap_err().to_string()
    }

    #[test]
    fn minimal_config_parses_with_defaults() {
        let c = Config::parse(MINIMAL, "x.toml").unwrap();
        assert_eq!(c.journal.durability, DurabilityMode::Batch);
        assert_eq!(c.feeds.queue_capacity, 8192);
        let (venue, section) = c.venue_sections().find(|(v, _)| v.is_perp()).unwrap();
        assert_eq!(venue.as_str(), "binance-perp");
        assert_eq!(section.taker_fee, Decimal::new(5, 4));
        let universe = c.universe().unwrap();
        let btc = universe.find("BTC-USDT").unwrap();
        assert_eq!(universe.symbol(btc, venue), Some("BTCUSDT"));
        // A plain number where a decimal string is expected reads as the same exact value.
        let plain = MINIMAL.replace("taker_fee = \"0.0005\"", "taker_fee = 0.0005");
        assert_ne!(plain, MINIMAL);
        let c = Config::parse(&plain, "x.toml").unwrap();
        assert_eq!(c.venues["binance-perp"].taker_fee, Decimal::new(5, 4));
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let cases: &[(&str, &str)] = &[
            (
                &format!("bogus = 1\n{MINIMAL}"),
                "x.toml: bogus: unknown field `bogus`",
            ),
            (
                &MINIMAL.replace("exit_apr = \"0.05\"", "exit_apr = \"0.3\""),
                "x.toml: strategy.exit_apr: must be below entry_apr",
            ),
            (
                &MINIMAL.replace("long = \"binance-spot\"", "long = \"okx-spot\""),
                "x.toml: pairs[0].long: venue okx-spot has no [venues.okx-spot] section",
            ),
            (
                &MINIMAL.replace("long = \"binance-spot\"", "long = \"binanse-spot\""),
                "x.toml: pairs[0].long: unknown venue \"binanse-spot\"",
            ),
            (
                &MINIMAL.replace("[risk]", "[risk]\nmax_leverage = 3"),
                "x.toml: risk.max_leverage: unknown field `max_leverage`",
            ),
            (
                &MINIMAL.replace("wss://fstream.binance.com", "fstream.binance.com"),
                "x.toml: venues.binance-perp.ws_url: not a websocket URL",
            ),
            (
                &format!("{MINIMAL}[venues.binanse-perp]\nws_url = \"wss://a\"\nrest_url = \"https://a\"\n"),
                "x.toml: venues.binanse-perp: unknown venue \"binanse-perp\"",
            ),
            (
                &MINIMAL.replace("taker_fee = \"0.0005\"", "taker_fee = \"abc\""),
                "x.toml: venues.binance-perp.taker_fee:",
            ),
            (
                &MINIMAL.replace("instance = \"t1\"", "instance = \"has-dash\""),
                "x.toml: instance: must be 1 to 8 ASCII letters or digits",
            ),
            (
                &format!("{MINIMAL}api_key_env = \"abc123secretvalue\"\n"),
                "x.toml: venues.binance-perp.api_key_env: looks like a pasted secret",
            ),
            (
                &format!("{MINIMAL}api_key_env = \"carry_key\"\n"),
                "x.toml: venues.binance-perp.api_key_env: not an environment variable name",
            ),
            (
                &MINIMAL.replace("[journal]", "[journal]\ndurability = \"fsync\""),
                "x.toml: journal.durability: unknown variant `fsync`",
            ),
            ("instance = \n", "x.toml: "),
        ];
        for (text, want) in cases {
            let got = err(text);
            assert!(got.starts_with(want), "want prefix {want:?}\n got {got:?}");
        }
    }

    #[test]
    fn every_numeric_key_has_a_range() {
        // (mutation of MINIMAL, expected error prefix)
        let cases: &[(&str, &str, &str)] = &[
            (
                "exit_apr = \"0.05\"",
                "exit_apr = \"-1000000\"",
                "x.toml: strategy.exit_apr: must be at least 0 and below 0.2",
            ),
            (
                "exit_apr = \"0.05\"",
                "exit_apr = \"0.05\"\nexpected_holding_hours = \"0.0000000000000000000000001\"",
                "x.toml: strategy.expected_holding_hours: must be at least 1 and at most 8760",
            ),
            (
                "max_notional_per_pair = 10000",
                "max_notional_per_pair = \"79228162514264337593543950335\"",
                "x.toml: risk.max_notional_per_pair: must be above 0 and at most 1000000000000",
            ),
            (
                "order_qty = \"0.01\"",
                "order_qty = \"0.000000001\"",
                "x.toml: pairs[0].order_qty: must be at least 0.00000001 and at most 1000000000",
            ),
            (
                "dir = \"/tmp/j\"",
                "dir = \"/tmp/j\"\nbatch_interval_ms = 3600000",
                "x.toml: journal.batch_interval_ms: must be 1..=10000 ms",
            ),
            (
                "dir = \"/tmp/j\"",
                "dir = \"/tmp/j\"\nsegment_mib = 0",
                "x.toml: journal.segment_mib: must be 1..=4096 MiB",
            ),
            (
                "[risk]",
                "[paper]\nmax_quote_age_ms = 18446744073709551615\n[risk]",
                "x.toml: paper.max_quote_age_ms: must be 0..=3600000 ms",
            ),
            (
                "[risk]",
                "[breakers]\nreject_window_ms = 18446744073709551615\n[risk]",
                "x.toml: breakers.reject_window_ms: must be 1..=86400000 ms",
            ),
            (
                "taker_fee = \"0.0005\"",
                "taker_fee = \"-0.5\"",
                "x.toml: venues.binance-perp.taker_fee: must be above -0.01 and below 0.01",
            ),
            (
                "[journal]",
                "[admin]\nsocket = \"/run/carry/a-socket-name-long-enough-that-the-whole-path-is-more-than-a-unix-socket-address-can-hold.sock.xy\"\n[journal]",
                "x.toml: admin.socket: 108 bytes is longer than a Unix socket address holds (107 bytes)",
            ),
        ];
        for (from, to, want) in cases {
            let text = MINIMAL.replacen(from, to, 1);
            assert_ne!(text, MINIMAL, "{from}");
            let got = err(&text);
            assert!(got.starts_with(want), "want prefix {want:?}\n got {got:?}");
        }
    }

    #[test]
    fn urls_are_refused_where_a_connection_would_misread_them() {
        for (from, to, want) in [
            (
                "wss://fstream.binance.com",
                "wss://fstream.binance.com:99999",
                "x.toml: venues.binance-perp.ws_url: port \"99999\" is not 1..=65535",
            ),
            (
                "https://fapi.binance.com",
                "https://fapi.binance.com:abc",
                "x.toml: venues.binance-perp.rest_url: port \"abc\" is not 1..=65535",
            ),
            (
                "https://fapi.binance.com",
                "https://fapi.binance.com/?key=1",
                "x.toml: venues.binance-perp.rest_url: a base URL takes no query",
            ),
        ] {
            let got = err(&MINIMAL.replacen(from, to, 1));
            assert!(got.starts_with(want), "want prefix {want:?}\n got {got:?}");
        }
    }

    #[test]
    fn no_refusal_shows_a_secret_looking_value() {
        let key = "A1B2C3D4E5F60718293A4B5C6D7E8F90";
        for text in [
            // As a variable name, as an unknown key, in a wrong-typed value, as the instance.
            format!("{MINIMAL}api_secret_env = \"{key}\"\n"),
            format!("{MINIMAL}{key} = 1\n"),
            MINIMAL.replacen(
                "taker_fee = \"0.0005\"",
                &format!("taker_fee = \"{key}\""),
                1,
            ),
            MINIMAL.replacen("instance = \"t1\"", &format!("instance = \"{key}\""), 1),
            MINIMAL.replacen(
                "order_qty = \"0.01\"",
                &format!("order_qty = \"0.01\"\nname = \"{key}\""),
                1,
            ),
            MINIMAL.replacen(
                "wss://fstream.binance.com",
                &format!("wss://u:{key}@fstream.binance.com"),
                1,
            ),
        ] {
            let got = err(&text);
            assert!(!got.contains(key), "{got}");
        }
    }

    #[test]
    fn the_journaled_text_builds_the_same_engine() {
        for (file, text) in [
            ("demo.toml", include_str!("../config/demo.toml").to_string()),
            (
                "default.toml",
                include_str!("../config/default.toml").to_string(),
            ),
            (
                "x.toml",
                MINIMAL.replace(
                    "taker_fee = \"0.0005\"",
                    "taker_fee = 0.0005\napi_key_env = \"CARRY_K\"\napi_secret_env = \"CARRY_S\"",
                ),
            ),
        ] {
            let config = Config::parse(&text, file).unwrap();
            let journaled = secrets::journaled_text(&text).unwrap();
            let back = Config::parse(&journaled, "journaled").unwrap();
            assert_eq!(back.decider_config(), config.decider_config(), "{file}");
            assert_eq!(back.execution, config.execution, "{file}");
            assert_eq!(back.instance, config.instance, "{file}");
            assert!(!journaled.contains("_env ="), "{journaled}");
        }
    }

    #[test]
    fn syntax_errors_carry_a_line_number() {
        let got = err("instance = \"a\"\n[journal\n");
        assert!(got.contains("(line 2)"), "{got}");
    }

    /// MINIMAL with the binance-perp section replaced by `perp` (its URLs gone).
    fn with_perp(perp: &str, execution: &str) -> String {
        let base = MINIMAL.replace(
            "[venues.binance-perp]\nws_url = \"wss://fstream.binance.com\"\nrest_url = \"https://fapi.binance.com\"",
            &format!("[venues.binance-perp]\n{perp}"),
        );
        assert_ne!(base, MINIMAL, "MINIMAL's binance-perp section moved");
        format!("{base}\n[execution]\n{execution}\n")
    }

    #[test]
    fn urls_default_to_the_venue_and_testnet_picks_its_test_environment() {
        let c = Config::parse(&with_perp("", ""), "x.toml").unwrap();
        let s = &c.venues["binance-perp"];
        assert_eq!(
            (s.ws_url.as_str(), s.rest_url.as_str()),
            ("wss://fstream.binance.com", "https://fapi.binance.com")
        );
        let c = Config::parse(&with_perp("testnet = true", ""), "x.toml").unwrap();
        let s = &c.venues["binance-perp"];
        assert_eq!(
            (s.ws_url.as_str(), s.rest_url.as_str()),
            (
                "wss://fstream.binancefuture.com",
                "https://testnet.binancefuture.com"
            )
        );
        let e = err(&with_perp(
            "testnet = true\nrest_url = \"https://fapi.binance.com\"",
            "",
        ));
        assert!(
            e.starts_with("x.toml: venues.binance-perp.rest_url: give either testnet"),
            "{e}"
        );
    }

    #[test]
    fn live_needs_a_safe_resolve_and_a_sane_receive_window_and_a_venue_mode_wins() {
        let keys = "api_key_env = \"CARRY_BN_KEY\"\napi_secret_env = \"CARRY_BN_SECRET\"";
        // Key variables are read (and refused when missing) at start, not at load: a replayed
        // journal's config keeps none.
        let c = Config::parse(&with_perp("mode = \"live\"", ""), "x.toml").unwrap();
        assert_eq!(
            c.mode_of("binance-perp".parse().unwrap()),
            ExecutionMode::Live
        );
        assert_eq!(
            c.mode_of("binance-spot".parse().unwrap()),
            ExecutionMode::Paper
        );
        // A venue's mode overrides [execution]'s.
        let c =
            Config::parse(&with_perp("mode = \"shadow\"", "mode = \"live\""), "x.toml").unwrap();
        assert_eq!(
            c.mode_of("binance-perp".parse().unwrap()),
            ExecutionMode::Shadow
        );
        assert_eq!(
            c.mode_of("binance-spot".parse().unwrap()),
            ExecutionMode::Live
        );
        // Binance refuses a repeated id only while the first order is open: no resend.
        let e = err(&with_perp(
            &format!("mode = \"live\"\n{keys}"),
            "resolve = \"resend\"",
        ));
        assert!(
            e.starts_with("x.toml: execution.resolve: \"resend\" is not safe on binance-perp"),
            "{e}"
        );
        // In paper the paper venue refuses duplicates for good: resend stays allowed.
        assert!(Config::parse(&with_perp("", "resolve = \"resend\""), "x.toml").is_ok());
        for bad in ["0", "60001"] {
            let e = err(&with_perp(&format!("recv_window_ms = {bad}"), ""));
            assert!(
                e.starts_with("x.toml: venues.binance-perp.recv_window_ms: must be 1..=60000"),
                "{e}"
            );
        }
        let e = err(&with_perp("", "backlog_threshold = 0"));
        assert!(
            e.contains("execution.backlog_threshold: must be 1..=10000"),
            "{e}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        let creds = Credentials {
            key: s.clone(),
            secret: s,
            passphrase: None,
        };
        let shown = format!("{creds:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn credentials_come_from_the_named_variables() {
        let mut c = Config::parse(MINIMAL, "x.toml").unwrap();
        let section = c.venues.get_mut("binance-perp").unwrap();
        assert!(section.credentials(Venue::ALL[0]).unwrap().is_none());
        section.api_key_env = Some("CARRY_TEST_KEY_UNSET_1".into());
        section.api_secret_env = Some("CARRY_TEST_SECRET_UNSET_1".into());
        let e = section.credentials(Venue::ALL[0]).unwrap_err();
        assert!(e.contains("CARRY_TEST_KEY_UNSET_1 is not set"), "{e}");
    }
}

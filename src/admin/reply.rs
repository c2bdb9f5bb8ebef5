//! The answer to one admin command line: what `status`, `latency`, `metrics`, `spreads`,
//! `positions`, `breakers`, `cycles`, `snapshot`, `pause`, `resume`, `flatten` and `help` say,
//! computed on the admin thread from the newest engine snapshot and the merged latency view.
//! The socket framing is the server's business; this module only turns a line into text.

use std::fmt::Write as _;

use rust_decimal::Decimal;
use serde::Serialize;

use super::command::OperatorCommand;
use super::snapshot::{CommandSender, MetricSample, MetricValue, Snapshot, SnapshotReader};
use crate::latency::{LatencyCollector, LatencyReport};

/// The answer to one command: a body for `ok`, a one-line message for `err`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Ok(String),
    Err(String),
}

/// Commands the socket understands, with their one-line help.
pub const COMMANDS: &[(&str, &str)] = &[
    ("help", "this list"),
    (
        "status",
        "instance, mode, uptime, counters, journal seq (JSON)",
    ),
    (
        "latency [--json]",
        "per-stage latency percentiles, cumulative and last interval",
    ),
    ("metrics", "Prometheus text exposition (format 0.0.4)"),
    (
        "spreads [--json]",
        "funding spread, APR and net APR per configured pair",
    ),
    (
        "positions [--json]",
        "positions with mark, liquidation distance, margin ratio",
    ),
    ("breakers [--json]", "circuit breakers and their state"),
    ("cycles [--json]", "cycle state per pair"),
    ("snapshot", "everything above as one JSON document"),
    ("pause", "stop opening new cycles"),
    ("resume", "allow new cycles again"),
    ("flatten", "exit every open pair and keep entries paused"),
];

/// Why a command failed: low-cardinality, for the `carry_admin_errors_total` counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    EmptyCommand,
    UnknownCommand,
    BadArgument,
    NoSnapshot,
    CommandQueueFull,
    LineTooLong,
    TooManyClients,
    OutputOverflow,
    /// A client closed for sending nothing within the idle timeout.
    IdleTimeout,
    /// A socket client closed to admit a newer one when every slot was taken.
    Evicted,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::EmptyCommand,
        ErrorKind::UnknownCommand,
        ErrorKind::BadArgument,
        ErrorKind::NoSnapshot,
        ErrorKind::CommandQueueFull,
        ErrorKind::LineTooLong,
        ErrorKind::TooManyClients,
        ErrorKind::OutputOverflow,
        ErrorKind::IdleTimeout,
        ErrorKind::Evicted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::EmptyCommand => "empty_command",
            ErrorKind::UnknownCommand => "unknown_command",
            ErrorKind::BadArgument => "bad_argument",
            ErrorKind::NoSnapshot => "no_snapshot",
            ErrorKind::CommandQueueFull => "command_queue_full",
            ErrorKind::LineTooLong => "line_too_long",
            ErrorKind::TooManyClients => "too_many_clients",
            ErrorKind::OutputOverflow => "output_overflow",
            ErrorKind::IdleTimeout => "idle_timeout",
            ErrorKind::Evicted => "evicted",
        }
    }
}

/// Command words counted per name in `carry_admin_commands_total` (anything else is `unknown`).
const COUNTED: [&str; 12] = [
    "help",
    "status",
    "latency",
    "metrics",
    "spreads",
    "positions",
    "breakers",
    "cycles",
    "snapshot",
    "pause",
    "resume",
    "flatten",
];

/// The admin thread's own tallies.
#[derive(Clone, Debug, Default)]
pub struct AdminCounters {
    pub connections: u64,
    pub clients: u64,
    commands: [u64; COUNTED.len() + 1],
    errors: [u64; ErrorKind::ALL.len()],
}

impl AdminCounters {
    pub fn error(&mut self, kind: ErrorKind) {
        self.errors[kind as usize] += 1;
    }

    pub fn errors(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize]
    }

    fn command(&mut self, word: &str) {
        let i = COUNTED
            .iter()
            .position(|c| *c == word)
            .unwrap_or(COUNTED.len());
        self.commands[i] += 1;
    }

    fn samples(&self, snapshots: (u64, u64)) -> Vec<MetricSample> {
        let mut out = Vec::new();
        let mut push = |name, help, value, label: Option<(&'static str, &str)>| {
            let mut s = MetricSample::default();
            s.set(name, help, value);
            if let Some((k, v)) = label {
                s.label(k, v);
            }
            out.push(s);
        };
        push(
            "admin_connections_total",
            "Admin socket connections accepted.",
            MetricValue::Counter(self.connections),
            None,
        );
        push(
            "admin_clients",
            "Admin socket clients connected now.",
            MetricValue::Gauge(self.clients as f64),
            None,
        );
        for (i, n) in self.commands.iter().enumerate() {
            push(
                "admin_commands_total",
                "Admin commands received, by command word.",
                MetricValue::Counter(*n),
                Some(("command", COUNTED.get(i).copied().unwrap_or("unknown"))),
            );
        }
        for k in ErrorKind::ALL {
            push(
                "admin_errors_total",
                "Admin error replies, by reason.",
                MetricValue::Counter(self.errors(k)),
                Some(("reason", k.as_str())),
            );
        }
        push(
            "snapshots_published_total",
            "Snapshots the engine published.",
            MetricValue::Counter(snapshots.0),
            None,
        );
        push(
            "snapshots_skipped_total",
            "Snapshots the engine could not publish (no buffer free).",
            MetricValue::Counter(snapshots.1),
            None,
        );
        out
    }
}

/// What the admin thread answers from.
pub struct Responder {
    pub snapshots: SnapshotReader,
    pub latency: LatencyCollector,
    pub commands: CommandSender,
    pub counters: AdminCounters,
}

fn json<T: Serialize + ?Sized>(v: &T) -> String {
    // Serializing plain data to a String cannot fail: no maps with non-string keys, no I/O.
    let mut s =
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// Keeps an echoed word printable and short, so an error line stays one readable line.
fn echo(word: &str) -> String {
    word.chars().filter(|c| !c.is_control()).take(64).collect()
}

impl Responder {
    pub fn new(
        snapshots: SnapshotReader,
        latency: LatencyCollector,
        commands: CommandSender,
    ) -> Responder {
        Responder {
            snapshots,
            latency,
            commands,
            counters: AdminCounters::default(),
        }
    }

    /// Merges published latency sets and returns superseded snapshots to the engine's pool.
    /// The server calls it on its timer and before answering anything that shows latency.
    /// Stamps with the recorders' clock (`mono_ns`), as the final collection at shutdown does.
    pub fn tick(&mut self) {
        self.latency
            .collect(carry_feeds::transport::clock::mono_ns());
        let _ = self.snapshots.latest();
    }

    /// Answers one command line (without its newline).
    pub fn answer(&mut self, line: &str) -> Reply {
        let mut words = line.split_whitespace();
        let Some(word) = words.next() else {
            self.counters.error(ErrorKind::EmptyCommand);
            return Reply::Err("empty command (try help)".into());
        };
        let args: Vec<&str> = words.collect();
        self.counters.command(word);
        if matches!(word, "latency" | "metrics" | "snapshot") {
            self.tick();
        }
        self.dispatch(word, &args)
    }

    fn fail(&mut self, kind: ErrorKind, msg: String) -> Reply {
        self.counters.error(kind);
        Reply::Err(msg)
    }

    fn dispatch(&mut self, word: &str, args: &[&str]) -> Reply {
        let takes_json = matches!(
            word,
            "latency" | "spreads" | "positions" | "breakers" | "cycles"
        );
        let json_flag = match args {
            [] => false,
            ["--json"] if takes_json => true,
            _ if COUNTED.contains(&word) => {
                return self.fail(
                    ErrorKind::BadArgument,
                    format!("{word}: unexpected argument {:?}", echo(&args.join(" "))),
                );
            }
            _ => false,
        };
        match word {
            "help" => {
                let mut out = String::new();
                for (cmd, help) in COMMANDS {
                    let _ = writeln!(out, "{cmd:<20} {help}");
                }
                Reply::Ok(out)
            }
            "latency" => {
                let rep = self.latency.report();
                if json_flag {
                    Reply::Ok(json(&rep.summary_json()))
                } else {
                    Reply::Ok(rep.table())
                }
            }
            "metrics" => {
                let counts = self.snapshots.counts();
                let admin = self.counters.samples(counts);
                let rep = self.latency.report();
                Reply::Ok(crate::metrics::render_prometheus(
                    self.snapshots.latest(),
                    &rep,
                    &admin,
                ))
            }
            "status" | "spreads" | "positions" | "breakers" | "cycles" | "snapshot" => {
                let rep = if word == "snapshot" {
                    Some(self.latency.report())
                } else {
                    None
                };
                match self.snapshots.latest() {
                    Some(s) => Reply::Ok(view(word, s, json_flag, rep)),
                    None => self.fail(
                        ErrorKind::NoSnapshot,
                        "the engine has not published a snapshot yet (starting up?)".into(),
                    ),
                }
            }
            "pause" | "resume" | "flatten" => {
                let Ok(cmd) = word.parse::<OperatorCommand>() else {
                    return self.fail(
                        ErrorKind::UnknownCommand,
                        format!("unknown command {:?} (try help)", echo(word)),
                    );
                };
                match self.commands.send(cmd) {
                    Ok(()) => Reply::Ok(format!("{} queued for the engine\n", cmd.as_str())),
                    Err(_) => self.fail(
                        ErrorKind::CommandQueueFull,
                        format!(
                            "{}: command queue full (engine not draining it?); not queued",
                            cmd.as_str()
                        ),
                    ),
                }
            }
            other => self.fail(
                ErrorKind::UnknownCommand,
                format!("unknown command {:?} (try help)", echo(other)),
            ),
        }
    }
}

#[derive(Serialize)]
struct FullSnapshot<'a> {
    #[serde(flatten)]
    snapshot: &'a Snapshot,
    latency: Option<LatencyReport>,
}

fn view(word: &str, s: &Snapshot, as_json: bool, latency: Option<LatencyReport>) -> String {
    match (word, as_json) {
        ("status", _) => json(&s.status),
        ("snapshot", _) => json(&FullSnapshot {
            snapshot: s,
            latency,
        }),
        ("spreads", true) => json(&s.spreads),
        ("positions", true) => json(&s.positions),
        ("breakers", true) => json(&s.breakers),
        ("cycles", true) => json(&s.cycles),
        ("spreads", false) => spreads_table(s),
        ("positions", false) => positions_table(s),
        ("breakers", false) => breakers_table(s),
        _ => cycles_table(s),
    }
}

fn dec(d: Option<Decimal>) -> String {
    d.map_or_else(|| "-".to_string(), |d| d.normalize().to_string())
}

fn pct(d: Option<Decimal>) -> String {
    d.map_or_else(
        || "-".to_string(),
        |d| format!("{}%", (d * Decimal::ONE_HUNDRED).round_dp(2)),
    )
}

/// Left-aligned columns sized to their widest cell.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let _ = write!(l, "{c:<w$}", w = widths[i]);
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

fn spreads_table(s: &Snapshot) -> String {
    let rows: Vec<Vec<String>> = s
        .spreads
        .iter()
        .map(|r| {
            let stale = match (r.long_stale, r.short_stale) {
                (false, false) => "-",
                (true, false) => "long",
                (false, true) => "short",
                (true, true) => "both",
            };
            vec![
                r.pair.clone(),
                r.instrument.clone(),
                r.long_venue.to_string(),
                r.short_venue.to_string(),
                dec(r.long_rate),
                dec(r.short_rate),
                dec(r.spread),
                pct(r.apr),
                pct(r.net_apr),
                stale.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "pair",
            "instrument",
            "long",
            "short",
            "long_rate",
            "short_rate",
            "spread",
            "apr",
            "net_apr",
            "stale",
        ],
        &rows,
    )
}

fn positions_table(s: &Snapshot) -> String {
    let rows: Vec<Vec<String>> = s
        .positions
        .iter()
        .map(|p| {
            vec![
                p.venue.to_string(),
                p.instrument.clone(),
                dec(Some(p.qty)),
                dec(Some(p.entry)),
                dec(p.mark),
                dec(p.liq_price),
                pct(p.liq_distance),
                dec(p.margin_ratio),
            ]
        })
        .collect();
    table(
        &[
            "venue",
            "instrument",
            "qty",
            "entry",
            "mark",
            "liq_price",
            "liq_dist",
            "margin_ratio",
        ],
        &rows,
    )
}

fn breakers_table(s: &Snapshot) -> String {
    let rows: Vec<Vec<String>> = s
        .breakers
        .iter()
        .map(|b| {
            vec![
                b.name.to_string(),
                b.scope.clone(),
                b.state.to_string(),
                b.since_unix_ms.to_string(),
            ]
        })
        .collect();
    table(&["breaker", "scope", "state", "since_unix_ms"], &rows)
}

fn cycles_table(s: &Snapshot) -> String {
    let rows: Vec<Vec<String>> = s
        .cycles
        .iter()
        .map(|c| {
            vec![
                c.pair.clone(),
                c.state.to_string(),
                c.cycle.to_string(),
                c.since_unix_ms.to_string(),
            ]
        })
        .collect();
    table(&["pair", "state", "cycle", "since_unix_ms"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_show_missing_values_as_dashes() {
        let t = table(
            &["a", "bb"],
            &[vec!["xxx".into(), "y".into()], vec!["z".into(), "-".into()]],
        );
        assert_eq!(t, "a    bb\nxxx  y\nz    -\n");
        assert_eq!(dec(None), "-");
        assert_eq!(dec(Some(Decimal::new(100, 6))), "0.0001");
        assert_eq!(pct(Some(Decimal::new(23456, 5))), "23.46%");
    }

    #[test]
    fn echo_keeps_error_lines_single_and_short() {
        assert_eq!(echo("a\nb\tc"), "abc");
        assert_eq!(echo(&"x".repeat(100)).len(), 64);
    }
}

//! The admin socket end to end: a real server thread on a temporary socket path, spoken to
//! through the framing the module documents, with a snapshot published the way the engine will.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use carry::admin::client::{run, AdminArgs};
use carry::admin::snapshot::{set_str, MetricValue, Mode};
use carry::admin::{
    command_channel, snapshot_channel, AdminClient, AdminHandle, AdminOptions, AdminServer,
    AdminSources, CommandReceiver, OperatorCommand, Reply, SnapshotPublisher,
};
use carry::latency::{LatencyCollector, LatencyConfig, LatencyRecorder, Stage};
use carry_engine::venue::{Exchange, Market, Venue};
use rust_decimal::Decimal;

const OKX: Venue = Venue::new(Exchange::Okx, Market::Perp);
const BINANCE: Venue = Venue::new(Exchange::Binance, Market::Perp);
const PAIRS: [&str; 2] = ["btc-okx-binance", "eth-okx-binance"];

/// A directory of its own per test, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "carry-admin-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Rig {
    dir: TempDir,
    admin: Option<AdminHandle>,
    publisher: SnapshotPublisher,
    commands: CommandReceiver,
    recorder: LatencyRecorder,
}

impl Rig {
    fn socket(&self) -> PathBuf {
        self.admin.as_ref().unwrap().path().to_path_buf()
    }

    fn client(&self) -> AdminClient {
        AdminClient::connect(self.socket()).unwrap()
    }
}

fn rig(tag: &str, options: AdminOptions, publish: bool) -> Rig {
    let dir = TempDir::new(tag);
    let (mut publisher, snapshots) = snapshot_channel(3);
    let (commands, command_rx) = command_channel(8);
    let mut latency = LatencyCollector::new(LatencyConfig {
        interval_ns: 1_000_000,
        pool: 3,
    })
    .unwrap();
    let recorder = latency
        .new_recorder(
            "engine",
            &[Stage::Parse, Stage::Decide, Stage::WireToIntent],
        )
        .unwrap();
    if publish {
        assert!(publisher.publish_with(fill));
    }
    let admin = AdminServer::spawn_with(
        dir.path("admin.sock"),
        AdminSources {
            snapshots,
            latency,
            commands,
        },
        options,
    )
    .unwrap();
    Rig {
        dir,
        admin: Some(admin),
        publisher,
        commands: command_rx,
        recorder,
    }
}

/// What the engine thread would publish: two pairs, one position, a breaker, feed counters.
fn fill(s: &mut carry::admin::Snapshot) {
    set_str(&mut s.status.instance, "test1");
    s.status.mode = Mode::Demo;
    s.status.uptime_s = 42;
    s.status.events = 1234;
    s.status.intents = 6;
    s.status.fills = 5;
    s.status.cycles_completed = 2;
    s.status.events_per_s = 99.5;
    s.status.journal_seq = 777;
    for (i, pair) in PAIRS.iter().enumerate() {
        let r = s.spreads.push_slot();
        set_str(&mut r.pair, pair);
        set_str(
            &mut r.instrument,
            if i == 0 { "BTC-USDT" } else { "ETH-USDT" },
        );
        r.long_venue = BINANCE;
        r.short_venue = OKX;
        r.long_rate = Some(Decimal::new(1, 4));
        r.short_rate = if i == 0 {
            Some(Decimal::new(5, 4))
        } else {
            None
        };
        r.spread = r.short_rate.map(|s| s - Decimal::new(1, 4));
        r.apr = r.spread.map(|s| s * Decimal::from(1095));
        r.net_apr = r.apr.map(|a| a - Decimal::new(5, 2));
        r.long_stale = false;
        r.short_stale = i == 1;
    }
    let p = s.positions.push_slot();
    p.venue = OKX;
    set_str(&mut p.instrument, "BTC-USDT");
    p.qty = Decimal::new(-15, 2);
    p.entry = Decimal::new(65000, 0);
    p.mark = Some(Decimal::new(65100, 0));
    p.liq_price = Some(Decimal::new(90000, 0));
    p.liq_distance = Some(Decimal::new(38, 2));
    p.margin_ratio = Some(Decimal::new(12, 2));
    let b = s.breakers.push_slot();
    b.name = "stale_feed";
    set_str(&mut b.scope, "okx-perp");
    b.state = "tripped";
    b.tripped = true;
    b.since_unix_ms = 1_700_000_000_000;
    let c = s.cycles.push_slot();
    set_str(&mut c.pair, PAIRS[0]);
    c.state = "open";
    c.cycle = 3;
    c.since_unix_ms = 1_700_000_000_000;
    for (reason, n) in [("io_error", 2), ("watchdog", 1)] {
        s.metrics
            .push_slot()
            .set(
                "feed_disconnects_total",
                "Feed disconnects by venue and reason.",
                MetricValue::Counter(n),
            )
            .label("venue", "okx-perp")
            .label("reason", reason);
    }
    s.metrics
        .push_slot()
        .set(
            "engine_rejections_total",
            "Entries rejected, by reason.",
            MetricValue::Counter(4),
        )
        .label("reason", "cycle_in_flight");
}

fn ok(reply: Reply) -> String {
    match reply {
        Reply::Ok(body) => body,
        Reply::Err(e) => panic!("expected ok, got err {e}"),
    }
}

fn err(reply: Reply) -> String {
    match reply {
        Reply::Err(e) => e,
        Reply::Ok(body) => panic!("expected err, got ok {body}"),
    }
}

#[test]
fn every_command_answers() {
    let r = rig("all", AdminOptions::default(), true);
    let mut c = r.client();
    for cmd in [
        "help",
        "status",
        "latency",
        "latency --json",
        "metrics",
        "spreads",
        "spreads --json",
        "positions",
        "positions --json",
        "breakers",
        "breakers --json",
        "cycles",
        "cycles --json",
        "snapshot",
        "pause",
        "resume",
        "flatten",
    ] {
        let body = ok(c.request(cmd).unwrap());
        assert!(!body.is_empty(), "{cmd}: empty body");
        assert!(
            body.ends_with('\n'),
            "{cmd}: body does not end in a newline"
        );
    }
    let help = ok(c.request("help").unwrap());
    for word in [
        "status",
        "latency",
        "metrics",
        "spreads",
        "positions",
        "breakers",
        "pause",
        "resume",
        "flatten",
    ] {
        assert!(help.contains(word), "help does not mention {word}: {help}");
    }
    let spreads = ok(c.request("spreads").unwrap());
    assert!(spreads.contains("btc-okx-binance"), "{spreads}");
    assert!(
        spreads.contains("38.80%"),
        "APR 0.0004 x 1095 = 43.80%, net 38.80%: {spreads}"
    );
    let positions = ok(c.request("positions").unwrap());
    assert!(
        positions.contains("okx-perp") && positions.contains("-0.15"),
        "{positions}"
    );
    let breakers = ok(c.request("breakers").unwrap());
    assert!(
        breakers.contains("stale_feed") && breakers.contains("tripped"),
        "{breakers}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(c.request("positions --json").unwrap())).unwrap();
    assert_eq!(json[0]["qty"], "-0.15");
    let snap: serde_json::Value =
        serde_json::from_str(&ok(c.request("snapshot").unwrap())).unwrap();
    assert_eq!(snap["status"]["journal_seq"], 777);
    assert_eq!(snap["spreads"].as_array().unwrap().len(), 2);
    assert!(snap["latency"].is_object());
}

#[test]
fn status_is_valid_json() {
    let r = rig("status", AdminOptions::default(), true);
    let body = ok(r.client().request("status").unwrap());
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["instance"], "test1");
    assert_eq!(v["mode"], "demo");
    assert_eq!(v["events"], 1234);
    assert_eq!(v["intents"], 6);
    assert_eq!(v["fills"], 5);
    assert_eq!(v["cycles_completed"], 2);
    assert_eq!(v["journal_seq"], 777);
    assert_eq!(v["uptime_s"], 42);
    assert_eq!(v["paused"], false);
}

#[test]
fn status_before_the_first_snapshot_is_an_error_not_a_hang() {
    let mut r = rig("nosnap", AdminOptions::default(), false);
    let mut c = r.client();
    let e = err(c.request("status").unwrap());
    assert!(e.contains("not published"), "{e}");
    // Metrics still answer, saying no snapshot is there.
    let m = ok(c.request("metrics").unwrap());
    assert!(m.contains("carry_snapshot_available 0"), "{m}");
    assert!(r.publisher.publish_with(fill));
    let v: serde_json::Value = serde_json::from_str(&ok(c.request("status").unwrap())).unwrap();
    assert_eq!(v["events"], 1234);
}

#[test]
fn a_newer_snapshot_replaces_the_older_one() {
    let mut r = rig("newer", AdminOptions::default(), true);
    let mut c = r.client();
    for events in 1..=10u64 {
        assert!(r.publisher.publish_with(|s| {
            fill(s);
            s.status.events = events;
        }));
        let v: serde_json::Value = serde_json::from_str(&ok(c.request("status").unwrap())).unwrap();
        assert_eq!(v["events"], events);
        // Row lists were cleared between publishes, not appended to.
        let spreads: serde_json::Value =
            serde_json::from_str(&ok(c.request("spreads --json").unwrap())).unwrap();
        assert_eq!(spreads.as_array().unwrap().len(), 2);
    }
}

/// A minimal parser of the text exposition format, checking what Prometheus would reject.
fn check_prometheus(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut helped = BTreeSet::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let name_ok = |n: &str| {
        n.strip_prefix("carry_").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
    };
    let mut samples = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(name_ok(name), "bad metric name {name:?}");
            assert!(helped.insert(name.to_string()), "HELP twice for {name}");
            assert!(!typed.contains_key(name), "TYPE before HELP for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            assert!(helped.contains(name), "TYPE without HELP for {name}");
            assert!(
                ["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind),
                "bad type {kind} for {name}"
            );
            assert!(typed.insert(name.to_string(), kind.to_string()).is_none());
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        samples += 1;
        let name_end = line.find(['{', ' ']).unwrap();
        let name = &line[..name_end];
        assert!(name_ok(name), "bad sample name {name:?}");
        let family = if typed.contains_key(name) {
            name.to_string()
        } else {
            let base = name
                .strip_suffix("_sum")
                .or_else(|| name.strip_suffix("_count"))
                .unwrap_or_else(|| panic!("sample {name} precedes its HELP/TYPE"));
            assert_eq!(
                typed.get(base).map(String::as_str),
                Some("summary"),
                "{name}"
            );
            base.to_string()
        };
        assert!(
            !finished.contains(&family),
            "family {family} is not contiguous"
        );
        if current.as_deref() != Some(family.as_str()) {
            if let Some(prev) = current.replace(family.clone()) {
                finished.insert(prev);
            }
        }
        let mut rest = &line[name_end..];
        if let Some(body) = rest.strip_prefix('{') {
            let close = body.find("} ").expect("label set not closed");
            let mut set = &body[..close];
            rest = &body[close + 1..];
            while !set.is_empty() {
                let eq = set.find("=\"").expect("label without =\"");
                let key = &set[..eq];
                assert!(
                    key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "bad label key {key}"
                );
                let mut value = String::new();
                let mut chars = set[eq + 2..].char_indices();
                let end = loop {
                    match chars.next().expect("label value not closed") {
                        (_, '\\') => match chars.next().unwrap().1 {
                            'n' => value.push('\n'),
                            c => value.push(c),
                        },
                        (i, '"') => break eq + 2 + i + 1,
                        (_, c) => value.push(c),
                    }
                };
                labels.entry(key.to_string()).or_default().insert(value);
                set = set[end..].strip_prefix(',').unwrap_or(&set[end..]);
            }
        }
        let value = rest.trim_start();
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value {value:?} in {line:?}"
        );
    }
    assert!(samples > 10, "only {samples} samples");
    labels
}

#[test]
fn metrics_parse_as_prometheus_text_with_bounded_labels() {
    let mut r = rig("metrics", AdminOptions::default(), true);
    // Some latency so the summaries appear.
    for i in 1..=100 {
        r.recorder.record(Stage::Parse, OKX, i * 1000);
        r.recorder.record(Stage::WireToIntent, BINANCE, i * 5000);
    }
    r.recorder.maybe_publish(1);
    assert!(r.recorder.publish(2));
    let mut c = r.client();
    // Error text must never reach a label.
    err(c.request("bogus-Command!").unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = ok(c.request("metrics").unwrap());
        if text.contains("carry_latency_seconds_count{stage=\"parse\"") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "latency never reached the metrics page:\n{text}"
        );
        std::thread::yield_now();
    };
    let labels = check_prometheus(&text);
    let venues: BTreeSet<String> = Venue::ALL
        .iter()
        .map(|v| v.to_string())
        .chain(["all".to_string()])
        .collect();
    let stages: BTreeSet<String> = Stage::ALL.iter().map(|s| s.as_str().to_string()).collect();
    let allowed: BTreeMap<&str, BTreeSet<String>> = [
        ("venue", venues),
        ("stage", stages),
        ("pair", PAIRS.iter().map(|p| p.to_string()).collect()),
        (
            "quantile",
            ["0.5", "0.9", "0.99", "0.999"].map(String::from).into(),
        ),
        ("leg", ["long", "short"].map(String::from).into()),
        ("instrument", ["BTC-USDT"].map(String::from).into()),
        ("instance", ["test1"].map(String::from).into()),
        ("mode", ["demo"].map(String::from).into()),
        ("breaker", ["stale_feed"].map(String::from).into()),
        ("scope", ["okx-perp"].map(String::from).into()),
        ("state", ["tripped", "open"].map(String::from).into()),
        (
            "reason",
            [
                "io_error",
                "watchdog",
                "cycle_in_flight",
                "empty_command",
                "unknown_command",
                "bad_argument",
                "no_snapshot",
                "command_queue_full",
                "line_too_long",
                "too_many_clients",
                "output_overflow",
                "idle_timeout",
                "evicted",
            ]
            .map(String::from)
            .into(),
        ),
        (
            "command",
            [
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
                "unknown",
            ]
            .map(String::from)
            .into(),
        ),
    ]
    .into_iter()
    .collect();
    for (key, values) in &labels {
        let ok_values = allowed
            .get(key.as_str())
            .unwrap_or_else(|| panic!("unexpected label key {key}"));
        for v in values {
            assert!(
                ok_values.contains(v),
                "label {key}={v:?} is not from a bounded set"
            );
        }
    }
    for needle in [
        "carry_events_total 1234",
        "carry_spread_net_apr{pair=\"btc-okx-binance\"} 0.388\n",
        "carry_feed_disconnects_total{venue=\"okx-perp\",reason=\"io_error\"} 2",
        "carry_latency_seconds_count{stage=\"parse\",venue=\"okx-perp\"} 100",
        "carry_latency_seconds_count{stage=\"wire_to_intent\",venue=\"all\"} 100",
        "carry_breaker_tripped{breaker=\"stale_feed\",scope=\"okx-perp\",state=\"tripped\"} 1",
        "carry_admin_errors_total{reason=\"unknown_command\"} 1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn unknown_command_gets_an_error_and_the_connection_stays_usable() {
    let r = rig("unknown", AdminOptions::default(), true);
    let mut c = r.client();
    let e = err(c.request("frobnicate now").unwrap());
    assert!(e.contains("frobnicate") && e.contains("help"), "{e}");
    let e = err(c.request("status --verbose").unwrap());
    assert!(e.contains("unexpected argument"), "{e}");
    let e = err(c.request("").unwrap());
    assert!(e.contains("empty"), "{e}");
    ok(c.request("help").unwrap());
    let v: serde_json::Value = serde_json::from_str(&ok(c.request("status").unwrap())).unwrap();
    assert_eq!(v["instance"], "test1");
}

#[test]
fn an_overlong_line_gets_an_error_and_the_connection_is_closed() {
    let r = rig("long", AdminOptions::default(), true);
    for with_newline in [true, false] {
        let mut s = UnixStream::connect(r.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut line = vec![b'x'; 5 * 1024];
        if with_newline {
            line.push(b'\n');
        }
        s.write_all(&line).unwrap();
        let mut got = Vec::new();
        // The server closes after the error: read_to_end returns at EOF.
        s.read_to_end(&mut got).unwrap();
        let got = String::from_utf8(got).unwrap();
        assert!(
            got.starts_with("err line longer than 4096 bytes"),
            "{got:?}"
        );
        assert_eq!(got.lines().count(), 1, "{got:?}");
    }
    // A line of exactly 4096 bytes is still a command (an unknown one).
    let mut c = r.client();
    let e = err(c.request(&"y".repeat(4096)).unwrap());
    assert!(e.contains("unknown command"), "{e}");
}

#[test]
fn the_socket_has_mode_0600() {
    let r = rig("mode", AdminOptions::default(), true);
    let mode = std::fs::metadata(r.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    // No private bind directory is left behind; the lock beside the socket is private too.
    let mut leftovers: Vec<_> = std::fs::read_dir(&r.dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    leftovers.sort();
    assert_eq!(leftovers, ["admin.sock", "admin.sock.lock"]);
    let mode = std::fs::metadata(r.dir.path("admin.sock.lock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "lock mode {mode:o}");
}

#[test]
fn operator_commands_reach_the_engine_queue_in_order() {
    let r = rig("cmds", AdminOptions::default(), true);
    let mut c = r.client();
    for cmd in ["pause", "resume", "flatten", "pause"] {
        let body = ok(c.request(cmd).unwrap());
        assert!(body.contains("queued"), "{body}");
    }
    let got: Vec<OperatorCommand> = std::iter::from_fn(|| r.commands.poll()).collect();
    assert_eq!(
        got,
        [
            OperatorCommand::Pause,
            OperatorCommand::Resume,
            OperatorCommand::Flatten,
            OperatorCommand::Pause
        ]
    );
    // The queue holds 8: the ninth undrained command is refused, not dropped silently.
    for _ in 0..8 {
        ok(c.request("pause").unwrap());
    }
    let e = err(c.request("resume").unwrap());
    assert!(e.contains("queue full"), "{e}");
    assert_eq!(std::iter::from_fn(|| r.commands.poll()).count(), 8);
}

#[test]
fn two_clients_are_served_at_once() {
    let r = rig("two", AdminOptions::default(), true);
    let mut a = r.client();
    let mut b = r.client();
    // A is mid-line; B must not wait for it.
    a.stream().write_all(b"sta").unwrap();
    assert!(ok(b.request("help").unwrap()).contains("status"));
    a.stream().write_all(b"tus\n").unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(a.read_reply().unwrap())).unwrap();
    assert_eq!(v["events"], 1234);
    // Pipelined requests are answered in order.
    b.stream().write_all(b"pause\nbogus\nresume\n").unwrap();
    assert!(ok(b.read_reply().unwrap()).starts_with("pause"));
    err(b.read_reply().unwrap());
    assert!(ok(b.read_reply().unwrap()).starts_with("resume"));
}

#[test]
fn a_full_socket_still_admits_its_owner_by_closing_the_longest_idle_client() {
    let r = rig(
        "limit",
        AdminOptions {
            max_clients: 1,
            ..AdminOptions::default()
        },
        true,
    );
    let mut first = r.client();
    ok(first.request("help").unwrap());
    // Every slot is taken, but only the socket's owner can connect: the newcomer is served...
    let mut second = r.client();
    ok(second.request("pause").unwrap());
    // ...and the client idle longest was closed to make room.
    let mut buf = [0u8; 16];
    assert_eq!(
        first.stream().read(&mut buf).unwrap(),
        0,
        "first still open"
    );
    let metrics = ok(second.request("metrics").unwrap());
    assert!(
        metrics.contains("carry_admin_errors_total{reason=\"evicted\"} 1"),
        "{metrics}"
    );
}

/// A rig with the HTTP metrics port on.
fn http_rig(tag: &str, options: AdminOptions) -> (Rig, std::net::SocketAddr) {
    let r = rig(
        tag,
        AdminOptions {
            http_metrics: Some("127.0.0.1:0".parse().unwrap()),
            ..options
        },
        true,
    );
    let addr = r.admin.as_ref().unwrap().http_addr().unwrap();
    (r, addr)
}

/// One HTTP request for `target` and the whole response.
fn http_get(addr: std::net::SocketAddr, target: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn idle_metrics_connections_cannot_lock_the_operator_out() {
    // Any local user can open the loopback port: 70 idle connections used to take every one of
    // the 64 slots the socket shared with it, and root could no longer `pause`.
    let (r, addr) = http_rig("lockout", AdminOptions::default());
    let idle: Vec<_> = (0..70)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    // The listener accepts in order: once this one is answered, all 70 have been taken in.
    let mut refused = std::net::TcpStream::connect(addr).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut resp = String::new();
    refused.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    let mut c = r.client();
    assert!(ok(c.request("pause").unwrap()).contains("queued"));
    assert_eq!(r.commands.poll(), Some(OperatorCommand::Pause));
    let metrics = ok(c.request("metrics").unwrap());
    // 16 held (the HTTP budget) plus this socket client.
    assert!(metrics.contains("carry_admin_clients 17\n"), "{metrics}");
    drop(idle);
}

#[test]
fn idle_clients_are_closed_after_the_idle_timeout() {
    let timeout = Duration::from_millis(300);
    let (r, addr) = http_rig(
        "idle",
        AdminOptions {
            idle_timeout: timeout,
            ..AdminOptions::default()
        },
    );
    let mut unix = UnixStream::connect(r.socket()).unwrap();
    unix.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // An HTTP request that never ends.
    tcp.write_all(b"GET /metr").unwrap();
    // A client that keeps talking is never idle, however long it stays.
    let mut busy = r.client();
    let start = Instant::now();
    while start.elapsed() < timeout * 3 {
        ok(busy.request("help").unwrap());
    }
    for (what, stream) in [
        ("unix", &mut unix as &mut dyn Read),
        ("http", &mut tcp as &mut dyn Read),
    ] {
        let mut got = Vec::new();
        // The server closes it: read_to_end returns at EOF, nothing having been answered.
        stream.read_to_end(&mut got).unwrap();
        assert!(got.is_empty(), "{what}: {got:?}");
    }
    let metrics = ok(busy.request("metrics").unwrap());
    assert!(
        metrics.contains("carry_admin_errors_total{reason=\"idle_timeout\"} 2"),
        "{metrics}"
    );
    assert!(http_get(addr, "/metrics").starts_with("HTTP/1.1 200 OK"));
}
#[test]
fn a_stale_socket_is_replaced_but_a_live_one_or_a_file_is_not() {
    let dir = TempDir::new("stale");
    let path = dir.path("admin.sock");
    let spawn = |p: &Path| {
        let (_, snapshots) = snapshot_channel(3);
        let (commands, _) = command_channel(4);
        AdminServer::spawn(
            p,
            AdminSources {
                snapshots,
                latency: LatencyCollector::new(LatencyConfig::default()).unwrap(),
                commands,
            },
        )
    };
    // A socket file left by a dead process: nobody answers on it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let live = spawn(&path).unwrap();
    ok(AdminClient::connect(&path)
        .unwrap()
        .request("help")
        .unwrap());
    // A second instance on the same path is refused, naming the path.
    let e = spawn(&path).err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    ok(AdminClient::connect(&path)
        .unwrap()
        .request("help")
        .unwrap());
    // Shutdown removes the socket and its lock and hands the sources back.
    let sources = live.shutdown().unwrap();
    assert!(!path.exists());
    assert!(!dir.path("admin.sock.lock").exists());
    assert!(sources.latency.recorder_names().is_empty());
    // A regular file is never replaced.
    std::fs::write(&path, b"not a socket").unwrap();
    let e = spawn(&path).err().unwrap();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
}

fn spawn_on(path: &Path) -> std::io::Result<AdminHandle> {
    let (_, snapshots) = snapshot_channel(3);
    let (commands, _) = command_channel(4);
    AdminServer::spawn(
        path,
        AdminSources {
            snapshots,
            latency: LatencyCollector::new(LatencyConfig::default()).unwrap(),
            commands,
        },
    )
}

#[test]
fn a_second_instance_starting_on_the_same_path_is_refused() {
    let dir = TempDir::new("twice");
    let path = dir.path("admin.sock");
    // Another instance has taken the path but not bound its socket yet: the moment in which
    // two instances started together both used to run (the second renamed its socket over the
    // first's, and the first to stop removed the other's socket).
    let lock = std::fs::File::create(dir.path("admin.sock.lock")).unwrap();
    // SAFETY: plain system call on a descriptor we own.
    let rc = unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&lock),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    assert_eq!(rc, 0);
    let e = spawn_on(&path).err().expect("spawned beside a held lock");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    assert!(
        e.to_string().contains(&path.display().to_string())
            && e.to_string().contains("another carry"),
        "{e}"
    );
    assert!(!path.exists(), "the refused instance created the socket");
    drop(lock);

    // Started at the same moment, again and again: exactly one runs each time, and it keeps
    // its socket until it stops.
    for round in 0..16 {
        let barrier = std::sync::Barrier::new(2);
        let (a, b) = std::thread::scope(|s| {
            let start = || {
                barrier.wait();
                spawn_on(&path)
            };
            let a = s.spawn(start);
            let b = s.spawn(start);
            (a.join().unwrap(), b.join().unwrap())
        });
        let (winner, loser) = match (a, b) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            (Ok(_), Ok(_)) => panic!("round {round}: both instances run"),
            (Err(a), Err(b)) => panic!("round {round}: neither runs: {a}; {b}"),
        };
        assert_eq!(loser.kind(), std::io::ErrorKind::AddrInUse, "{loser}");
        ok(AdminClient::connect(&path)
            .unwrap()
            .request("help")
            .unwrap());
        winner.shutdown().unwrap();
        assert!(!path.exists() && !dir.path("admin.sock.lock").exists());
    }
}

#[test]
fn a_socket_path_nobody_could_connect_to_is_refused() {
    let dir = TempDir::new("longpath");
    // Binding goes through a short private path, so this used to start, and every `carry
    // admin` then failed: a socket address holds 107 bytes.
    let path = dir.path(&"s".repeat(120));
    let e = spawn_on(&path)
        .err()
        .expect("started on an unreachable path");
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("107 bytes"), "{e}");
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0, "left files");
}

/// A server that answers the first request line with `reply`, then closes.
fn fake_server(dir: &TempDir, reply: Vec<u8>) -> (PathBuf, std::thread::JoinHandle<()>) {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = dir.path(&format!("fake-{}.sock", N.fetch_add(1, Ordering::Relaxed)));
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let thread = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut line = [0u8; 64];
        let _ = s.read(&mut line).unwrap();
        let _ = s.write_all(&reply);
    });
    (path, thread)
}

#[test]
fn the_client_refuses_reply_headers_it_cannot_hold() {
    let dir = TempDir::new("headers");
    let endless = vec![b'x'; 70 << 10];
    let cases: [(&[u8], &str); 5] = [
        // Used to abort `carry admin` allocating the announced body.
        (
            b"ok 18446744073709551615\n",
            "announces a body of 18446744073709551615 bytes, more than any reply carries (8388608)",
        ),
        (b"ok 8388609\n", "announces a body of 8388609 bytes"),
        (b"ok 99999999999999999999999\n", "bad reply header"),
        (b"ok 12\nshort", "reply body cut short: got 5 of 12 bytes"),
        (&endless, "bad reply header: longer than 65536 bytes"),
    ];
    for (reply, want) in cases {
        let (path, server) = fake_server(&dir, reply.to_vec());
        let e = AdminClient::connect(&path)
            .unwrap()
            .request("status")
            .expect_err("accepted a bad reply");
        assert!(e.to_string().contains(want), "want {want:?}: {e}");
        server.join().unwrap();
    }
    // `carry admin` itself reports the same, as an error naming the socket.
    let (path, server) = fake_server(&dir, b"ok 18446744073709551615\n".to_vec());
    let e = run(AdminArgs {
        socket: Some(path.clone()),
        config: None,
        command: vec!["status".into()],
    })
    .expect_err("accepted a bad reply");
    let e = format!("{e:#}");
    assert!(
        e.contains(&path.display().to_string()) && e.contains("more than any reply"),
        "{e}"
    );
    server.join().unwrap();
}

#[test]
fn latency_recorded_on_the_engine_side_shows_up_on_the_socket() {
    let mut r = rig("latency", AdminOptions::default(), true);
    for i in 1..=1000u64 {
        r.recorder.record(Stage::Decide, OKX, 100 + i);
    }
    r.recorder.maybe_publish(1);
    assert!(r.recorder.publish(2));
    let mut c = r.client();
    let deadline = Instant::now() + Duration::from_secs(20);
    let json = loop {
        let v: serde_json::Value =
            serde_json::from_str(&ok(c.request("latency --json").unwrap())).unwrap();
        if v["decide"]["count"] == 1000 {
            break v;
        }
        assert!(Instant::now() < deadline, "latency never arrived: {v}");
        std::thread::yield_now();
    };
    let p50 = json["decide"]["p50"].as_u64().unwrap();
    assert!(p50.abs_diff(600) <= 1, "p50 {p50}");
    assert_eq!(json["decide"]["max"].as_u64().unwrap(), 1100);
    let table = ok(c.request("latency").unwrap());
    assert!(
        table.contains("decide") && table.contains("1000"),
        "{table}"
    );
    // The final report survives shutdown, for the demo's --summary.
    let sources = r.admin.take().unwrap().shutdown().unwrap();
    let summary = sources.latency.report().summary_json();
    assert_eq!(summary["decide"]["count"], 1000);
}

#[test]
fn http_metrics_serves_loopback_only() {
    let (_r, addr) = http_rig("http", AdminOptions::default());
    let get = |target: &str| http_get(addr, target);
    let resp = get("/metrics");
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("text/plain; version=0.0.4"), "{resp}");
    let body = resp.split("\r\n\r\n").nth(1).unwrap();
    check_prometheus(body);
    assert!(get("/other").starts_with("HTTP/1.1 404"));

    let dir = TempDir::new("http-refused");
    let (_, snapshots) = snapshot_channel(3);
    let (commands, _) = command_channel(4);
    let e = AdminServer::spawn_with(
        dir.path("a.sock"),
        AdminSources {
            snapshots,
            latency: LatencyCollector::new(LatencyConfig::default()).unwrap(),
            commands,
        },
        AdminOptions {
            http_metrics: Some("0.0.0.0:0".parse().unwrap()),
            ..AdminOptions::default()
        },
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("not a loopback address"), "{e}");
    assert!(!dir.path("a.sock").exists());
}

#[test]
fn the_cli_client_exits_by_reply_and_names_the_socket_on_failure() {
    let r = rig("cli", AdminOptions::default(), true);
    let args = |cmd: &[&str], socket: PathBuf| AdminArgs {
        socket: Some(socket),
        config: None,
        command: cmd.iter().map(|s| s.to_string()).collect(),
    };
    assert_eq!(
        run(args(&["status"], r.socket())).unwrap(),
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(args(&["latency", "--json"], r.socket())).unwrap(),
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(args(&["nonsense"], r.socket())).unwrap(),
        ExitCode::FAILURE
    );
    let missing = r.dir.path("missing.sock");
    let e = run(args(&["status"], missing.clone())).err().unwrap();
    assert!(
        format!("{e:#}").contains(&missing.display().to_string()),
        "{e:#}"
    );
}

//! The binary as a user runs it: `carry run` refusing bad configs, `carry demo` trading against
//! the simulated venues, restarting on its journal, stopping cleanly on SIGTERM, answering the
//! admin socket, and `carry replay` agreeing with what the demo journaled.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn carry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_carry"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("carry-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// Runs `carry ARGS PATH`, asserts it succeeded (showing what it printed if not) and returns its
/// standard output.
fn carry_ok(args: &[&str], path: &Path) -> String {
    let out = carry().args(args).arg(path).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "carry {args:?}: {stdout}{}",
        text(&out.stderr)
    );
    stdout
}

fn demo(journal: &Path, seconds: u64, summary: &Path) -> Output {
    carry()
        .args(["demo", "--quiet", "--seconds", &seconds.to_string()])
        .arg("--journal")
        .arg(journal)
        .arg("--summary")
        .arg(summary)
        .output()
        .unwrap()
}

/// Runs `cmd` and returns its exit code and standard error.
fn code_and_stderr(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    (out.status.code(), text(&out.stderr))
}

/// Writes `toml` to `file` and runs `carry demo` on it for at most 5 s: `carry demo` refuses a
/// config exactly as `carry run` does, but stays offline if one slips through. Returns the exit
/// code and standard error.
fn demo_on_config(toml: &str, file: &Path) -> (Option<i32>, String) {
    std::fs::write(file, toml).unwrap();
    code_and_stderr(
        carry()
            .args(["demo", "--quiet", "--seconds", "5", "--config"])
            .arg(file)
            .arg("--journal")
            .arg(file.with_extension("journal")),
    )
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn run_refuses_a_bad_config_with_file_key_and_reason_and_exit_2() {
    let dir = scratch("badconfig");
    let demo_toml = include_str!("../config/demo.toml");
    let cases = [
        (
            demo_toml.replace(
                "entry_apr = \"0.10\"",
                "entry_apr = \"0.10\"\nentry_aprr = 1",
            ),
            "strategy.entry_aprr: unknown field",
        ),
        (
            demo_toml.replacen(
                "ws_url = \"wss://fstream.binance.com\"",
                "ws_url = \"fstream.binance.com\"",
                1,
            ),
            "venues.binance-perp.ws_url: not a websocket URL",
        ),
        (
            demo_toml.replacen("long = \"binance-spot\"", "long = \"binanse-spot\"", 1),
            "pairs[1].long: unknown venue \"binanse-spot\"",
        ),
        (
            demo_toml.replacen("exit_apr = \"0.02\"", "exit_apr = \"0.5\"", 1),
            "strategy.exit_apr: must be below entry_apr",
        ),
        (
            demo_toml.replacen(
                "busy_poll = false",
                "busy_poll = false\nengine_core = 9999",
                1,
            ),
            "threads.engine_core: core 9999 does not exist here",
        ),
    ];
    for (i, (toml, want)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad{i}.toml"));
        std::fs::write(&file, toml).unwrap();
        let out = carry()
            .args(["run", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        assert!(
            stderr.contains(&format!("{}: {want}", file.display())),
            "case {i}: want {want:?} in {stderr}"
        );
    }
    let out = carry()
        .args(["run", "--config"])
        .arg(dir.join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("missing.toml: cannot read"),
        "{}",
        text(&out.stderr)
    );
}

/// A config the engine could not have run, or would have run wrongly: refused at load with the
/// file, key and reason, exit 2.
#[test]
fn configs_that_aborted_or_misled_are_refused_with_exit_2() {
    let dir = scratch("badconfig2");
    let demo_toml = include_str!("../config/demo.toml");
    let holding = |hours: &str| {
        demo_toml.replacen(
            "expected_holding_hours = \"72\"",
            &format!("expected_holding_hours = \"{hours}\""),
            1,
        )
    };
    let mut cases = vec![
        // 8760 / 10⁻²⁵ overflowed and aborted the load.
        (
            holding("0.0000000000000000000000001"),
            "strategy.expected_holding_hours: must be at least 1 and at most 8760".to_string(),
        ),
        // Accepted; the engine thread then aborted on a multiply, and so did every restart.
        (
            holding("79228162514264337593543950335"),
            "strategy.expected_holding_hours: must be at least 1 and at most 8760".to_string(),
        ),
        (
            demo_toml.replacen("exit_apr = \"0.02\"", "exit_apr = \"-1000000\"", 1),
            "strategy.exit_apr: must be at least 0 and below 0.10".to_string(),
        ),
        (
            demo_toml.replacen(
                "[journal]",
                &format!(
                    "[admin]\nsocket = \"/tmp/{}\"\n\n[journal]",
                    "s".repeat(120)
                ),
                1,
            ),
            "admin.socket: 125 bytes is longer than a Unix socket address holds".to_string(),
        ),
        (
            demo_toml.replacen(
                "rest_url = \"https://fapi.binance.com\"",
                "rest_url = \"https://fapi.binance.com:70000\"",
                1,
            ),
            "venues.binance-perp.rest_url: port \"70000\" is not 1..=65535".to_string(),
        ),
    ];
    // Ports that passed and connected to port 80.
    for port in ["99999", "70000", "-1", "abc"] {
        cases.push((
            demo_toml.replacen(
                "ws_url = \"wss://fstream.binance.com\"",
                &format!("ws_url = \"ws://127.0.0.1:{port}\""),
                1,
            ),
            format!("venues.binance-perp.ws_url: port \"{port}\" is not 1..=65535"),
        ));
    }
    for (i, (toml, want)) in cases.iter().enumerate() {
        let file = dir.join(format!("bad{i}.toml"));
        let (code, stderr) = demo_on_config(toml, &file);
        assert_eq!(code, Some(2), "case {i}: {stderr}");
        assert!(
            stderr.contains(&format!("{}: {want}", file.display())),
            "case {i}: want {want:?} in {stderr}"
        );
    }
}

/// A key pasted where the name of its variable belongs: refused, and never shown.
#[test]
fn a_pasted_key_is_refused_without_being_printed() {
    let dir = scratch("pasted");
    let key = "A1B2C3D4E5F60718293A4B5C6D7E8F90";
    let toml = include_str!("../config/demo.toml").replacen(
        "rest_url = \"https://fapi.binance.com\"",
        &format!("rest_url = \"https://fapi.binance.com\"\napi_key_env = \"{key}\""),
        1,
    );
    let (code, stderr) = demo_on_config(&toml, &dir.join("pasted.toml"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("venues.binance-perp.api_key_env: looks like a pasted secret"),
        "{stderr}"
    );
    assert!(!stderr.contains(key), "printed the key: {stderr}");
}

/// What reaches the journal: the configuration without comments or credential variables, so
/// nothing pasted into the file ends up on disk twice. Replay still rebuilds the same engine.
#[test]
fn the_journal_holds_nothing_pasted_into_the_config() {
    let dir = scratch("journal-secrets");
    let in_comment = "Q9w8E7r6T5y4U3i2O1p0A9s8D7f6G5h4";
    let in_env = [
        "k7J6h5G4f3D2s1A0k7J6h5G4",
        "s1A0k7J6h5G4f3D2s1A0k7J6h5G4f3D2",
    ];
    let toml = include_str!("../config/demo.toml")
        .replacen(
            "instance = \"demo\"",
            &format!("# okx key {in_comment}: move to the environment\ninstance = \"demo\""),
            1,
        )
        .replacen(
            "rest_url = \"https://www.okx.com\"",
            "rest_url = \"https://www.okx.com\"\napi_key_env = \"CARRY_TEST_OKX_KEY\"\napi_secret_env = \"CARRY_TEST_OKX_SECRET\"",
            1,
        );
    assert!(toml.contains(in_comment) && toml.contains("CARRY_TEST_OKX_SECRET"));
    let file = dir.join("with-secrets.toml");
    std::fs::write(&file, toml).unwrap();
    let journal = dir.join("journal");
    let out = carry()
        .args(["demo", "--quiet", "--seconds", "3", "--config"])
        .arg(&file)
        .arg("--journal")
        .arg(&journal)
        .env("CARRY_TEST_OKX_KEY", in_env[0])
        .env("CARRY_TEST_OKX_SECRET", in_env[1])
        .output()
        .unwrap();
    assert!(out.status.success(), "demo failed: {}", text(&out.stderr));
    let mut files = vec![journal.clone()];
    let mut bytes = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            bytes.extend(std::fs::read(&path).unwrap());
        }
    }
    let start = bytes
        .windows(b"entry_apr".len())
        .position(|w| w == b"entry_apr");
    assert!(start.is_some(), "no configuration in the journal");
    for needle in [in_comment, in_env[0], in_env[1], "CARRY_TEST_OKX"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} is in the journal"
        );
    }
    let stdout = carry_ok(&["replay", "--journal"], &journal);
    assert!(stdout.starts_with("identical: "), "{stdout}");
}

/// A journal started (by an older carry) with a configuration that cannot run: replay reports
/// it with the key, exit 1, instead of aborting.
#[test]
fn replay_refuses_a_journaled_configuration_that_cannot_run() {
    use carry_engine::client_id::InstanceId;
    use carry_engine::record::{Record, StartRecord, FORMAT_VERSION};
    use carry_engine::Now;

    let dir = scratch("replay-bad-start");
    let journal = dir.join("journal");
    let config = include_str!("../config/demo.toml").replacen(
        "expected_holding_hours = \"72\"",
        "expected_holding_hours = \"0.0000000000000000000000001\"",
        1,
    );
    let start = Record::Start {
        now: Now::new(1, 1_700_000_000_000),
        start: StartRecord {
            format: FORMAT_VERSION,
            instance: InstanceId::new("demo").unwrap(),
            config_text: config,
        },
    };
    let mut buf = vec![0u8; start.encoded_len()];
    start.encode(&mut buf);
    let (mut j, _) = carry_journal::Journal::open(
        &journal,
        carry_journal::JournalOptions::default().segment_size(1 << 20),
    )
    .unwrap();
    j.append(start.kind(), start.ts_ns(), &buf).unwrap();
    drop(j);
    let (code, stderr) = code_and_stderr(carry().args(["replay", "--journal"]).arg(&journal));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("strategy.expected_holding_hours: must be at least 1 and at most 8760"),
        "{stderr}"
    );
}

#[test]
fn demo_trades_restarts_on_its_journal_and_replays_identically() {
    let dir = scratch("demo");
    let journal = dir.join("journal");
    let first = dir.join("first.json");
    let out = demo(&journal, 14, &first);
    assert!(out.status.success(), "demo failed: {}", text(&out.stderr));
    let s = read_json(&first);
    for key in ["events", "intents", "fills", "cycles_completed"] {
        assert!(s[key].is_u64(), "summary lacks {key}: {s}");
    }
    assert!(s["events"].as_u64().unwrap() > 1000, "{s}");
    // The simulator opens a wide spread in its second 8 s regime: the engine must trade on it.
    assert!(
        s["intents"].as_u64().unwrap() > 0,
        "no intents in 14 s: {s}"
    );
    assert!(s["fills"].as_u64().unwrap() > 0, "no fills in 14 s: {s}");
    for stage in ["parse", "queue", "decide", "journal", "wire_to_intent"] {
        let st = &s["latency_ns"][stage];
        assert!(
            st["count"].as_u64().unwrap() > 0,
            "stage {stage} empty: {s}"
        );
        assert!(
            st["p50"].as_u64().unwrap() <= st["p99"].as_u64().unwrap(),
            "{stage}: {st}"
        );
        assert!(
            st["p99"].as_u64().unwrap() <= st["max"].as_u64().unwrap(),
            "{stage}: {st}"
        );
    }

    // A second run recovers and continues the same journal.
    let second = dir.join("second.json");
    let out = demo(&journal, 4, &second);
    assert!(
        out.status.success(),
        "restarted demo failed: {}",
        text(&out.stderr)
    );

    let stdout = carry_ok(&["replay", "--journal"], &journal);
    assert!(stdout.starts_with("identical: "), "{stdout}");
    assert!(stdout.contains(", 2 runs"), "{stdout}");
    let intents: u64 = stdout["identical: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(intents >= s["intents"].as_u64().unwrap(), "{stdout} vs {s}");

    let verified = carry_ok(&["journal", "verify"], &journal);
    assert!(verified.starts_with("ok: "), "{verified}");

    // Every journaled intent dumps with its client order id and action; ids are never reused.
    let dump = carry_ok(&["journal", "dump", "--kind", "intent"], &journal);
    let mut ids = std::collections::HashSet::new();
    let mut places = 0;
    for line in dump.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["kind"], "intent", "{line}");
        let id = v["client_order_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no client_order_id: {line}"));
        assert!(
            id.len() <= 28 && id.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{id}"
        );
        if v["action"] == "place" {
            places += 1;
            assert!(
                ids.insert(id.to_string()),
                "client order id {id} placed twice"
            );
        }
    }
    assert_eq!(places as u64, ids.len() as u64);
    assert!(places > 0, "no place intents dumped");
}

#[test]
fn replay_reports_a_missing_journal() {
    let dir = scratch("replay-missing");
    let out = carry()
        .args(["replay", "--journal"])
        .arg(dir.join("nothing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nothing"),
        "{}",
        text(&out.stderr)
    );
}

/// Polls `f` until it returns Some, for at most `limit`.
fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn admin(socket: &Path, command: &str) -> Output {
    carry()
        .args(["admin", "--socket"])
        .arg(socket)
        .arg(command)
        .output()
        .unwrap()
}

#[test]
fn demo_answers_the_admin_socket_and_stops_cleanly_on_sigterm() {
    let dir = scratch("sigterm");
    let journal = dir.join("journal");
    let socket = dir.join("admin.sock");
    let mut child = carry()
        .args(["demo", "--quiet", "--journal"])
        .arg(&journal)
        .arg("--admin-socket")
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let status = wait_for(Duration::from_secs(60), || {
        let out = admin(&socket, "status");
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["events"].as_u64()? > 100).then_some(v)
    })
    .expect("the demo never reported events over the admin socket");
    assert_eq!(status["instance"], "demo");
    assert_eq!(status["mode"], "demo");

    let out = admin(&socket, "pause");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let paused = wait_for(Duration::from_secs(10), || {
        let out = admin(&socket, "status");
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["paused"] == true).then_some(())
    });
    assert!(paused.is_some(), "pause did not show in status");
    let metrics = text(&admin(&socket, "metrics").stdout);
    assert!(
        metrics.contains("# TYPE carry_engine_market_events_total counter"),
        "{metrics}"
    );
    assert!(
        metrics.contains("carry_feed_connects_total{venue=\"okx-perp\"}"),
        "{metrics}"
    );
    // Prometheus refuses duplicate series: one sample per name and label set, even for venues
    // that take several connections (binance-perp: /market and /public).
    let mut series = std::collections::HashSet::new();
    for line in metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let key = line.rsplit_once(' ').map_or(line, |(k, _)| k);
        assert!(series.insert(key.to_string()), "duplicate series {key}");
    }
    // Both of binance-perp's connections count in its one gauge (once both are up).
    let both_up = wait_for(Duration::from_secs(20), || {
        let m = text(&admin(&socket, "metrics").stdout);
        m.contains("carry_feed_connections_up{venue=\"binance-perp\"} 2")
            .then_some(())
    });
    assert!(
        both_up.is_some(),
        "binance-perp never showed 2 connections up"
    );

    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let exit = wait_for(Duration::from_secs(30), || child.try_wait().unwrap())
        .expect("demo did not exit after SIGTERM");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(exit.success(), "exit {exit:?}: {stderr}");
    assert!(stderr.contains("carry: stopped: "), "{stderr}");
    assert!(!socket.exists(), "admin socket left behind");

    carry_ok(&["replay", "--journal"], &journal);
}

//! `carry decode`: raw venue messages in, one JSON object per event out, failures on stderr with
//! their line or file, exit status 1 when any message failed. Most cases go through the library
//! (`carry::decode`, arguments parsed by clap as the command line parses them, outputs captured
//! in memory); the `binary` module drives the `carry` executable itself.

use std::io::Cursor;
use std::path::PathBuf;

use carry::decode::{decode_to, DecodeArgs};
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    decode: DecodeArgs,
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/venues")
        .join(name)
}

fn fixture_line(name: &str) -> String {
    // One message per line on stdin: the pretty-printed docs examples are joined up.
    let text = std::fs::read_to_string(fixture_path(name)).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(value.is_object());
    text.lines().map(str::trim).collect::<Vec<_>>().join("")
}

/// Runs decode with `argv` (after `carry decode`) over `stdin`: (all ok, stdout lines, stderr).
fn run(argv: &[&str], stdin: &str) -> (bool, Vec<String>, String) {
    let cli = Cli::try_parse_from(std::iter::once("decode").chain(argv.iter().copied()))
        .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let ok = decode_to(
        &cli.decode,
        &mut Cursor::new(stdin.as_bytes()),
        &mut out,
        &mut err,
    )
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    (
        ok,
        out.lines().map(str::to_string).collect(),
        String::from_utf8(err).unwrap(),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn stdin_lines_become_events_and_control_messages_print_nothing() {
    let input = [
        fixture_line("binance_usdm_markPrice_1.json"),
        String::new(),
        fixture_line("binance_ws_subscribe_ack_1.json"),
        fixture_line("binance_usdm_bookTicker_1.json"),
    ]
    .join("\n");
    let (ok, out, err) = run(&["--venue", "binance-perp"], &input);
    assert!(ok, "{err}");
    assert_eq!(err, "");
    assert_eq!(
        out,
        [
            r#"{"venue":"binance-perp","symbol":"BTCUSDT","instrument":"BTC-USDT","kind":"funding","rate":"0.00038167","predicted_rate":null,"next_funding_time":1562306400000,"interval_ms":null,"mark_price":"11794.15000000","index_price":"11784.62659091","timestamp":1562305380000}"#,
            r#"{"venue":"binance-perp","symbol":"BNBUSDT","instrument":"BNB-USDT","kind":"quote","bid":"25.35190000","bid_qty":"31.21000000","ask":"25.36520000","ask_qty":"40.66000000","timestamp":1568014460893}"#,
        ]
    );
}

#[test]
fn a_message_without_time_is_stamped_with_the_read_time() {
    let before = now_ms();
    let (ok, out, _) = run(
        &["--venue", "binance-spot"],
        &fixture_line("binance_spot_bookTicker_1.json"),
    );
    let after = now_ms();
    assert!(ok);
    let (head, ts) = out[0].rsplit_once(r#","timestamp":"#).unwrap();
    assert_eq!(
        head,
        r#"{"venue":"binance-spot","symbol":"BNBUSDT","instrument":"BNB-USDT","kind":"quote","bid":"25.35190000","bid_qty":"31.21000000","ask":"25.36520000","ask_qty":"40.66000000""#
    );
    let ts: i64 = ts.trim_end_matches('}').parse().unwrap();
    assert!(
        (before..=after).contains(&ts),
        "{ts} not in {before}..={after}"
    );
}

#[test]
fn bybit_state_carries_across_lines() {
    let input = format!(
        "{}\n{}\n{}\n",
        fixture_line("bybit_linear_tickers_delta_1.json"),
        fixture_line("bybit_linear_tickers_snapshot_1.json"),
        fixture_line("bybit_linear_tickers_delta_1.json"),
    );
    let (ok, out, err) = run(&["--venue", "bybit-perp"], &input);
    assert!(!ok, "the first delta has no snapshot");
    assert_eq!(err.lines().count(), 1);
    assert!(err.starts_with("line 1: "), "{err}");
    assert!(err.contains("delta"), "{err}");
    assert_eq!(out.len(), 2);
    assert!(out[1].contains(r#""rate":"0.00008055""#), "{}", out[1]);
    assert!(
        out[1].contains(r#""next_funding_time":1715760000000"#),
        "{}",
        out[1]
    );
    assert!(
        out[1].contains(
            r#""mark_price":"61875.06","index_price":"61903.59","timestamp":1715748763063"#
        ),
        "{}",
        out[1]
    );
}

#[test]
fn files_hold_one_message_each_and_contract_sizes_convert_on_request() {
    let file = fixture_path("okx_bbo_tbt_push_1.json");
    let f = file.to_str().unwrap();
    let (ok, out, _) = run(&["--venue", "okx-perp", f], "");
    assert!(ok);
    assert_eq!(
        out,
        [
            r#"{"venue":"okx-perp","symbol":"BCH-USDT-SWAP","instrument":"BCH-USDT","kind":"quote","bid":"111.05","bid_qty":"57745","ask":"111.06","ask_qty":"55154","timestamp":1670324386802}"#
        ]
    );
    let (ok, out, _) = run(&["--venue", "okx-perp", "--contract-size", "0.1", f], "");
    assert!(ok);
    assert!(
        out[0].contains(r#""bid_qty":"5774.5","ask":"111.06","ask_qty":"5515.4""#),
        "{}",
        out[0]
    );

    let missing = fixture_path("no_such_file.json");
    let gate = fixture_path("gate_futures_tickers_push_1.json");
    let (ok, out, err) = run(
        &[
            "--venue",
            "gate-perp",
            missing.to_str().unwrap(),
            gate.to_str().unwrap(),
        ],
        "",
    );
    assert!(!ok);
    assert!(
        err.starts_with(&format!("{}: cannot read", missing.display())),
        "{err}"
    );
    assert_eq!(
        out,
        [
            r#"{"venue":"gate-perp","symbol":"BTC_USD","instrument":"BTC-USD","kind":"funding","rate":"-0.000114","predicted_rate":null,"next_funding_time":0,"interval_ms":null,"mark_price":"118.35","index_price":"118.36","timestamp":1541659086123}"#
        ]
    );
}

#[test]
fn the_universe_grows_with_every_symbol_of_a_message() {
    let two = r#"{"time":1541659086,"time_ms":1541659086123,"channel":"futures.tickers","event":"update","result":[{"contract":"BTC_USDT","funding_rate":"0.0001","mark_price":"1","index_price":"1"},{"contract":"ETH_USDT","funding_rate":"-0.0002","mark_price":"2","index_price":"2"}]}"#;
    let (ok, out, err) = run(&["--venue", "gate-perp"], &format!("{two}\n{two}\n"));
    assert!(ok, "{err}");
    assert_eq!(out.len(), 4, "each event once per message: {out:?}");
    assert!(out[0].contains(r#""symbol":"BTC_USDT","instrument":"BTC-USDT""#));
    assert!(out[1].contains(r#""symbol":"ETH_USDT","instrument":"ETH-USDT""#));
    assert_eq!(out[0], out[2]);
}

#[test]
fn failures_name_the_line_and_the_reason() {
    let input = [
        "not json",
        r#"{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","r":"0.0x1","T":2}"#,
        r#"{"e":"markPriceUpdate","E":1,"s":"FOOBAR","r":"0.1","T":2}"#,
        r#"{"code":0,"msg":"Unknown property","id":1}"#,
    ]
    .join("\n");
    let (ok, out, err) = run(&["--venue", "binance-perp"], &input);
    assert!(!ok);
    assert!(out.is_empty());
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines[0].starts_with("line 1: ") && lines[0].contains("not JSON"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("line 2: ") && lines[1].contains("not an exact number: r"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("line 3: ") && lines[2].contains("FOOBAR"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("line 4: ") && lines[3].contains("Unknown property"),
        "{}",
        lines[3]
    );
}

#[test]
fn arguments_are_checked() {
    assert!(Cli::try_parse_from(["decode", "--venue", "kraken-perp"]).is_err());
    assert!(
        Cli::try_parse_from(["decode", "--venue", "okx-perp", "--contract-size", "x"]).is_err()
    );
    assert!(
        Cli::try_parse_from(["decode"]).is_err(),
        "--venue is required"
    );
    let (ok, _, err) = run(&["--venue", "binance-spot", "--contract-size", "0.1"], "");
    assert!(ok);
    assert!(err.contains("--contract-size ignored"), "{err}");
}

/// The `carry` binary itself: arguments, stdin, exit status.
mod binary {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use super::{fixture_line, fixture_path};

    fn carry(args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_carry"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn carry");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("carry exits");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    #[test]
    fn decodes_files_and_exits_zero() {
        let file = fixture_path("binance_usdm_markPrice_1.json");
        let (code, out, err) = carry(
            &["decode", "--venue", "binance-perp", file.to_str().unwrap()],
            "",
        );
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(
            out,
            "{\"venue\":\"binance-perp\",\"symbol\":\"BTCUSDT\",\"instrument\":\"BTC-USDT\",\"kind\":\"funding\",\"rate\":\"0.00038167\",\"predicted_rate\":null,\"next_funding_time\":1562306400000,\"interval_ms\":null,\"mark_price\":\"11794.15000000\",\"index_price\":\"11784.62659091\",\"timestamp\":1562305380000}\n"
        );
    }

    #[test]
    fn a_bad_line_is_reported_and_the_exit_status_is_one() {
        let input = format!(
            "{}\n{{\"topic\":\"tickers.BTCUSDT\"\n{}\n",
            fixture_line("bybit_linear_tickers_snapshot_1.json"),
            fixture_line("bybit_linear_tickers_delta_1.json")
        );
        let (code, out, err) = carry(&["decode", "--venue", "bybit-perp"], &input);
        assert_eq!(code, 1);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(err.starts_with("line 2: "), "{err}");
    }

    #[test]
    fn help_says_what_contract_sized_venues_print() {
        let (code, out, _) = carry(&["decode", "--help"], "");
        assert_eq!(code, 0);
        assert!(out.contains("--contract-size"), "{out}");
        assert!(out.contains("contracts"), "{out}");
        let (code, _, err) = carry(&["decode", "--venue", "nowhere"], "");
        assert_eq!(code, 2, "clap's usage error");
        assert!(err.contains("unknown venue"), "{err}");
    }
}

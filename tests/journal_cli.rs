//! `carry journal verify|dump|stats` and `carry replay`, driven through the built binary on
//! journals written with carry-journal: output format, exit codes, and how a torn tail and
//! corruption are reported.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

mod cli_support;

use carry_engine::record::{kind, kind_name};
use carry_journal::{Journal, JournalOptions, SEGMENT_HEADER_LEN};
use cli_support::{output_within, segment_files, set_len};

fn carry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carry"))
        .args(args)
        .output()
        .expect("run carry")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Five records: kinds 900 (unknown to carry) and TICK alternating, 16-byte payloads, so each
/// frame is 48 bytes and record `n` starts at `64 + 48 * (n - 1)`.
fn five_records(dir: &Path) -> PathBuf {
    let (mut j, _) = Journal::open(dir, JournalOptions::default().segment_size(1 << 16)).unwrap();
    for seq in 1..=5u64 {
        let k = if seq % 2 == 1 { 900 } else { kind::TICK };
        j.append(k, seq * 1_000_000, &[seq as u8; 16]).unwrap();
    }
    drop(j);
    dir.join("00000000000000000001.seg")
}

fn record_offset(n: usize) -> usize {
    SEGMENT_HEADER_LEN + 48 * (n - 1)
}

fn patch(path: &Path, at: usize, bytes: &[u8]) {
    let mut data = fs::read(path).unwrap();
    data[at..at + bytes.len()].copy_from_slice(bytes);
    fs::write(path, data).unwrap();
}

#[test]
fn verify_prints_one_ok_line_and_reports_a_torn_tail_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let seg = five_records(dir.path());
    let d = dir.path().to_str().unwrap();

    let out = carry(&["journal", "verify", d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok: 5 records, seq 1..5, 1 segments\n");

    // A crash mid-append: a length word over bytes that never arrived.
    patch(&seg, record_offset(6), &[40, 0, 0, 0, 1, 0]);
    let out = carry(&["journal", "verify", d]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "ok: 5 records, seq 1..5, 1 segments, torn tail: 5 bytes\n"
    );
}

#[test]
fn verify_exits_1_on_corruption_naming_the_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let seg = five_records(dir.path());
    let at = record_offset(2);
    patch(&seg, at + 40, &[0xFF]);
    let out = carry(&["journal", "verify", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("00000000000000000001.seg"), "{err}");
    assert!(err.contains(&format!("byte {at}")), "{err}");
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn dump_prints_json_lines_from_a_sequence_number_and_filters_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    five_records(dir.path());
    let d = dir.path().to_str().unwrap();
    let parse = |out: &Output| -> Vec<serde_json::Value> {
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is a JSON object"))
            .collect()
    };

    let all = parse(&carry(&["journal", "dump", d]));
    assert_eq!(all.len(), 5);
    for (i, rec) in all.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!(rec["seq"], seq);
        assert_eq!(rec["ts"], seq * 1_000_000);
        assert_eq!(rec["len"], 16);
    }
    assert_eq!(all[0]["kind"], 900);
    assert_eq!(all[0]["payload_hex"], "01".repeat(16));
    assert_eq!(all[1]["kind"], kind_name(kind::TICK).unwrap());

    let from = parse(&carry(&["journal", "dump", d, "--from", "4"]));
    assert_eq!(
        from.iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![4, 5]
    );

    let by_number = parse(&carry(&["journal", "dump", d, "--kind", "900"]));
    assert_eq!(
        by_number
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 3, 5]
    );
    let name = kind_name(kind::TICK).unwrap();
    let by_name = parse(&carry(&["journal", "dump", d, "--kind", name]));
    assert_eq!(
        by_name
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 4]
    );

    let bad = carry(&["journal", "dump", d, "--kind", "no-such-kind"]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(
        text(&bad.stderr).contains("no-such-kind"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn stats_counts_segments_records_per_kind_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    five_records(dir.path());
    let out = carry(&["journal", "stats", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("segments:   1 (65536 bytes allocated)"), "{s}");
    assert!(s.contains("records:    5, seq 1..5"), "{s}");
    assert!(
        s.contains(&format!("bytes used: {}", record_offset(6))),
        "{s}"
    );
    let row = |k: u16, name: &str, n: u64| format!("{k:>6}  {name:<14}{n:>12}{:>16}", n * 16);
    assert!(s.contains(&row(900, "-", 3)), "{s}");
    assert!(
        s.contains(&row(kind::TICK, kind_name(kind::TICK).unwrap(), 2)),
        "{s}"
    );
}

#[test]
fn a_missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-a-journal");
    for sub in ["verify", "dump", "stats"] {
        let out = carry(&["journal", sub, missing.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{sub}");
        assert!(
            text(&out.stderr).contains("not-a-journal"),
            "{sub}: {}",
            text(&out.stderr)
        );
    }
}

/// Runs carry, failing the test if it has not exited within 20 s.
fn carry_within(args: &[&str]) -> Output {
    output_within(
        Command::new(env!("CARGO_BIN_EXE_carry")).args(args),
        Duration::from_secs(20),
    )
}

/// Asserts that `carry journal verify|dump|stats DIR` and `carry replay --journal DIR` each
/// exit 1 with a message on stderr containing every one of `want`.
fn every_command_fails(dir: &Path, case: &str, want: &[&str]) {
    let d = dir.to_str().unwrap();
    let commands: [&[&str]; 4] = [
        &["journal", "verify", d],
        &["journal", "dump", d],
        &["journal", "stats", d],
        &["replay", "--journal", d],
    ];
    for args in commands {
        let out = carry_within(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{case}: {args:?}: {err}");
        for w in want {
            assert!(err.contains(w), "{case}: {args:?}: {w:?} not in {err}");
        }
    }
}

#[test]
fn a_segment_cut_to_64_to_95_bytes_fails_every_command_naming_it() {
    for len in [64, 80, 95] {
        let dir = tempfile::tempdir().unwrap();
        let seg = five_records(dir.path());
        set_len(&seg, len);
        every_command_fails(
            dir.path(),
            &format!("{len} bytes"),
            &["00000000000000000001.seg", &format!("{len} bytes")],
        );
    }
}

#[test]
fn a_segment_cut_short_or_a_lost_segment_a_seal_names_fails_every_command() {
    // Cut past its records: once read as a segment whose end was never written.
    let dir = tempfile::tempdir().unwrap();
    let seg = five_records(dir.path());
    set_len(&seg, 31_101);
    every_command_fails(
        dir.path(),
        "cut short",
        &[
            "00000000000000000001.seg",
            "31101 bytes",
            "65536",
            "cut short",
        ],
    );

    // The last of several segments deleted: the previous segment's seal names it.
    let dir = tempfile::tempdir().unwrap();
    let (mut j, _) =
        Journal::open(dir.path(), JournalOptions::default().segment_size(4096)).unwrap();
    for seq in 1..=200u64 {
        j.append(900, seq, &[seq as u8; 64]).unwrap();
    }
    drop(j);
    let mut segs = segment_files(dir.path());
    assert!(segs.len() >= 3, "{segs:?}");
    let last = segs.pop().unwrap();
    fs::remove_file(&last).unwrap();
    let name = last.file_name().unwrap().to_str().unwrap();
    every_command_fails(dir.path(), "deleted last segment", &[name, "missing"]);
}

/// Records of kind 900 (unknown to carry, so `replay` skips them) with 64-byte payloads: 96-byte
/// frames, record `n` at `64 + 96 * (n - 1)`; record 43 starts the second 4 KiB page.
fn unknown_records(dir: &Path, n: u64) -> PathBuf {
    let (mut j, _) = Journal::open(dir, JournalOptions::default().segment_size(1 << 16)).unwrap();
    for seq in 1..=n {
        j.append(900, seq, &[seq as u8; 64]).unwrap();
    }
    drop(j);
    dir.join("00000000000000000001.seg")
}

#[test]
fn dump_and_replay_exit_1_on_a_hole_in_the_data_after_printing_what_precedes_it() {
    for (case, at, len) in [
        ("zeroed length word", 64 + 96 * 9, 4),
        ("zeroed page", 4096, 4096),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let seg = unknown_records(dir.path(), 200);
        let d = dir.path().to_str().unwrap();
        let before = carry_within(&["replay", "--journal", d]);
        assert_eq!(before.status.code(), Some(0), "{}", text(&before.stderr));
        patch(&seg, at, &vec![0u8; len]);
        let want = ["00000000000000000001.seg".to_string(), format!("byte {at}")];
        every_command_fails(dir.path(), case, &[&want[0], &want[1]]);

        let dump = carry_within(&["journal", "dump", d]);
        let printed = text(&dump.stdout);
        assert_eq!(printed.lines().count(), (at - 64) / 96, "{case}");
        assert!(text(&dump.stderr).starts_with("corrupt: "), "{case}");
        let replay = carry_within(&["replay", "--journal", d]);
        assert!(
            text(&replay.stdout).is_empty(),
            "{case}: {}",
            text(&replay.stdout)
        );
    }
}

//! `carry demo --journal DIR` refuses to start on a damaged journal, or on an engine journal and a
//! paper venue journal of which one was lost, naming what is missing; it never starts a new
//! journal over a lost one. (`carry run` opens its journals the same way; the demo needs no
//! venue.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

mod cli_support;

use carry_engine::client_id::{ClientOrderId, InstanceId};
use carry_engine::order::{IntentAction, Leg, OrderIntent, Side, Step, TimeInForce};
use carry_engine::record::Record;
use carry_engine::{InstrumentId, Now, PairId};
use carry_journal::{Journal, JournalOptions, LOCK_FILE};
use cli_support::{output_within, segment_files, set_len};

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// `carry demo --quiet --seconds 3 --journal DIR`, failing the test if it has not exited within
/// 30 s (a damaged segment once made the demo spin at full CPU, ignoring `--seconds`).
fn demo(journal: &Path) -> Output {
    output_within(
        Command::new(env!("CARGO_BIN_EXE_carry"))
            .args(["demo", "--quiet", "--seconds", "3", "--journal"])
            .arg(journal),
        Duration::from_secs(30),
    )
}

/// Asserts the demo refused to start (exit 1) with a message containing each of `want`.
fn assert_refused(journal: &Path, case: &str, want: &[&str]) {
    let out = demo(journal);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{case}: {err}");
    assert!(
        !err.contains("carry: stopped"),
        "{case}: the demo ran: {err}"
    );
    for w in want {
        assert!(err.contains(w), "{case}: {w:?} not in {err}");
    }
}

fn opts() -> JournalOptions {
    JournalOptions::default().segment_size(1 << 16)
}

/// A place intent of the demo's instance, as the engine journals it.
fn intent_record(cycle: u32) -> Record {
    let instance = InstanceId::new("demo").unwrap();
    let cid = ClientOrderId::new(&instance, cycle, Step::Entry, Leg::Long, 0).unwrap();
    Record::Intent {
        now: Now::new(1_000, 1_700_000_000_000),
        intent: OrderIntent {
            action: IntentAction::Place,
            client_order_id: cid,
            pair: PairId(0),
            cycle,
            step: Step::Entry,
            leg: Leg::Long,
            attempt: 0,
            venue: "binance-perp".parse().unwrap(),
            instrument: InstrumentId(0),
            side: Side::Buy,
            tif: TimeInForce::Ioc,
            reduce_only: false,
            price: "100".parse().unwrap(),
            qty_base: "0.01".parse().unwrap(),
            qty_venue: "0.01".parse().unwrap(),
        },
    }
}

fn append(journal: &mut Journal, record: &Record) {
    let mut payload = vec![0u8; record.encoded_len()];
    record.encode(&mut payload);
    journal
        .append(record.kind(), record.ts_ns(), &payload)
        .unwrap();
}

/// An engine journal holding `intents` intents in `dir`.
fn engine_journal(dir: &Path, intents: u32) {
    let (mut j, _) = Journal::open(dir, opts()).unwrap();
    for cycle in 1..=intents {
        append(&mut j, &intent_record(cycle));
    }
}

/// An engine journal holding one intent in `ROOT/j`, and its paper venue journal beside it.
fn both_journals() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("j");
    engine_journal(&dir, 1);
    let paper = paper_journal(&dir);
    (root, dir, paper)
}

/// A paper venue journal (`DIR/paper`) holding one record.
fn paper_journal(dir: &Path) -> PathBuf {
    let paper = dir.join("paper");
    let (mut j, _) = Journal::open(&paper, opts()).unwrap();
    j.append(900, 1, b"an order the paper venue holds").unwrap();
    paper
}

fn first_segment(dir: &Path) -> PathBuf {
    dir.join("00000000000000000001.seg")
}

#[test]
fn a_first_segment_of_64_to_95_bytes_is_refused_without_spinning() {
    for len in [64, 95] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("j");
        engine_journal(&dir, 1);
        let seg = first_segment(&dir);
        set_len(&seg, len);
        assert_refused(
            &dir,
            &format!("{len} bytes"),
            &["00000000000000000001.seg", &format!("{len} bytes")],
        );
    }
}

#[test]
fn an_empty_or_dev_zero_only_segment_is_refused_while_the_paper_venue_holds_fills() {
    for case in ["empty", "/dev/zero"] {
        let (_root, dir, paper) = both_journals();
        let seg = first_segment(&dir);
        fs::remove_file(&seg).unwrap();
        match case {
            "empty" => fs::write(&seg, b"").unwrap(),
            _ => std::os::unix::fs::symlink("/dev/zero", &seg).unwrap(),
        }
        assert_refused(&dir, case, &["00000000000000000001.seg"]);
        assert_eq!(
            segment_files(&dir),
            vec![seg.clone()],
            "{case}: no new journal"
        );
        assert!(carry_journal::has_segments(&paper).unwrap());
    }
}

#[test]
fn a_deleted_last_segment_that_a_seal_names_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("j");
    let (mut j, _) = Journal::open(&dir, JournalOptions::default().segment_size(4096)).unwrap();
    for cycle in 1..=60 {
        append(&mut j, &intent_record(cycle));
    }
    drop(j);
    paper_journal(&dir);
    let mut segs = segment_files(&dir);
    assert!(segs.len() >= 2, "{segs:?}");
    let last = segs.pop().unwrap();
    fs::remove_file(&last).unwrap();
    let name = last.file_name().unwrap().to_str().unwrap();
    assert_refused(&dir, "deleted last segment", &[name, "missing"]);
}

#[test]
fn a_paper_journal_without_the_engine_journal_is_refused() {
    // The engine journal's segments deleted (LOCK and all): only the paper venue's is left.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("j");
    paper_journal(&dir);
    assert_refused(
        &dir,
        "engine journal missing",
        &[&dir.display().to_string(), "engine's journal is missing"],
    );
    assert!(
        !carry_journal::has_segments(&dir).unwrap(),
        "nothing created"
    );
}

#[test]
fn engine_segments_deleted_beside_their_lock_file_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("j");
    engine_journal(&dir, 0);
    fs::remove_file(first_segment(&dir)).unwrap();
    assert!(dir.join(LOCK_FILE).exists());
    assert_refused(&dir, "segments deleted", &["segment files are missing"]);
}

#[test]
fn intents_without_a_paper_journal_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("j");
    engine_journal(&dir, 2);
    assert_refused(
        &dir,
        "paper journal deleted",
        &[&dir.join("paper").display().to_string(), "holds 2 intents"],
    );
    assert!(!dir.join("paper").exists(), "no paper journal created");
}

#[test]
fn a_zeroed_or_emptied_paper_journal_is_refused() {
    for case in ["zeroed", "segments deleted"] {
        let (_root, dir, paper) = both_journals();
        let seg = first_segment(&paper);
        match case {
            "zeroed" => fs::write(&seg, vec![0u8; 1 << 16]).unwrap(),
            _ => fs::remove_file(&seg).unwrap(),
        }
        let want = match case {
            "zeroed" => seg.display().to_string(),
            _ => paper.display().to_string(),
        };
        assert_refused(&dir, case, &[&want]);
    }
}

#[test]
fn a_journal_io_error_shows_the_os_error_once() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("a-file");
    fs::write(&file, b"not a directory").unwrap();
    let out = demo(&file.join("j"));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let os = std::io::Error::from_raw_os_error(libc::ENOTDIR).to_string();
    assert_eq!(err.matches(&os).count(), 1, "{err}");
}

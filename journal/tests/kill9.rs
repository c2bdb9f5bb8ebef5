//! Crashes for real: a child process (this test binary, re-executed with an environment
//! variable) appends numbered records in a loop and reports each one on stdout once `append`
//! returned; the test kills it with SIGKILL at random moments, reopens the journal after each
//! kill and checks that the sequence is gapless, every payload intact and every reported record
//! present. A reader in this process follows the child's appends live, across all the kills.
//! The lock test uses the same mechanism: a child holds the writer lock until it is killed.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use carry_journal::{Journal, JournalError, JournalOptions, JournalReader};
use common::*;

const CHILD_ENV: &str = "CARRY_JOURNAL_TEST_CHILD";
const DIR_ENV: &str = "CARRY_JOURNAL_TEST_DIR";
const MAX: usize = 500;
/// Small segments so that kills also land during roll-over.
const SEG: u64 = 64 << 10;

fn opts() -> JournalOptions {
    JournalOptions::default().segment_size(SEG)
}

/// Runs in the child: append forever (until killed), reporting each appended sequence number.
fn child_append_loop(dir: &Path) -> ! {
    use std::io::Write;
    let (mut journal, _) = Journal::open(dir, opts()).expect("child: open journal");
    let mut out = std::io::stdout().lock();
    loop {
        let seq = journal.next_seq();
        let got = journal
            .append(kind_for(seq), seq * 1000, &payload_for(seq, MAX))
            .expect("child: append");
        assert_eq!(got, seq);
        writeln!(out, "appended {seq}").expect("child: report");
        out.flush().expect("child: report");
    }
}

/// Runs in the child: hold the writer lock until killed.
fn child_hold_lock(dir: &Path) -> ! {
    let (_journal, _) = Journal::open(dir, opts()).expect("child: open journal");
    println!("locked");
    loop {
        std::thread::park();
    }
}

/// A child process that is killed and reaped when dropped, so a failing assertion in the test
/// does not leave it running.
struct ChildGuard(Child);

impl ChildGuard {
    fn kill_and_reap(&mut self) {
        self.0.kill().expect("SIGKILL child");
        self.0.wait().expect("reap child");
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_child(test_name: &str, mode: &str, dir: &Path) -> (ChildGuard, BufReader<ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env(DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (ChildGuard(child), stdout)
}

/// Reads the child's lines until one satisfies `f`; fails if the child exits first.
fn read_until(out: &mut BufReader<ChildStdout>, mut f: impl FnMut(&str) -> bool) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).expect("read child stdout");
        assert!(n > 0, "child exited before reporting progress");
        if f(line.trim_end()) {
            return line.trim_end().to_string();
        }
    }
}

/// The sequence number in an "appended N" report. libtest may print the test's name on the
/// same line first, so the report is looked for anywhere in the line.
fn reported_seq(line: &str) -> Option<u64> {
    let at = line.find("appended ")?;
    line[at + "appended ".len()..].parse().ok()
}

#[test]
fn kill_9_at_random_moments_never_loses_or_tears_a_record() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        let dir = std::env::var(DIR_ENV).unwrap();
        match mode.as_str() {
            "append" => child_append_loop(Path::new(&dir)),
            other => panic!("unknown child mode {other}"),
        }
    }
    let seed = seed();
    println!("seed {seed}");
    let mut rng = XorShift(seed);
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open(dir.path(), opts()).unwrap());
    let reader = JournalReader::open(dir.path()).unwrap();
    let mut live = reader.iter_from(1);
    let mut live_seen = 0u64;
    let mut check_live = |live: &mut carry_journal::Records<'_>| {
        for r in live.by_ref() {
            let r = r.expect("live reader: record");
            live_seen += 1;
            assert_eq!(r.seq, live_seen, "live reader: gap");
            assert_eq!(
                r.payload,
                &payload_for(r.seq, MAX)[..],
                "live reader: payload of {}",
                r.seq
            );
        }
        live_seen
    };

    const KILLS: usize = 25;
    let mut torn_seen = 0;
    for round in 0..KILLS {
        let (mut child, mut out) = spawn_child(
            "kill_9_at_random_moments_never_loses_or_tears_a_record",
            "append",
            dir.path(),
        );
        // Wait for real progress, let it run a random while longer, then kill it mid-stride.
        let mut reports = 1 + rng.below(2_000);
        read_until(&mut out, |l| {
            if reported_seq(l).is_some() {
                reports -= 1;
            }
            reports == 0
        });
        // The child keeps appending while this process reads along.
        check_live(&mut live);
        std::thread::sleep(Duration::from_micros(rng.below(5_000)));
        child.kill_and_reap();
        let mut last_reported = 0;
        let mut line = String::new();
        while out.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(seq) = reported_seq(line.trim_end()) {
                last_reported = seq;
            }
            line.clear();
        }

        let (journal, recovery) = Journal::open(dir.path(), opts()).unwrap();
        let n = journal.next_seq() - 1;
        assert!(
            n >= last_reported,
            "round {round}: record {last_reported} was reported appended but the journal ends at {n}"
        );
        assert_eq!(recovery.records, n);
        if recovery.torn_bytes() > 0 {
            torn_seen += 1;
        }
        drop(journal);
        assert_records(dir.path(), n, MAX);
        assert_eq!(
            check_live(&mut live),
            n,
            "round {round}: live reader saw every record"
        );
    }
    println!("{KILLS} kills, {live_seen} records, {torn_seen} torn tails cut");
    assert!(live_seen > KILLS as u64);
}

#[test]
fn a_writer_in_another_process_holds_the_lock_until_it_dies() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        let dir = std::env::var(DIR_ENV).unwrap();
        match mode.as_str() {
            "hold" => child_hold_lock(Path::new(&dir)),
            other => panic!("unknown child mode {other}"),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, mut out) = spawn_child(
        "a_writer_in_another_process_holds_the_lock_until_it_dies",
        "hold",
        dir.path(),
    );
    read_until(&mut out, |l| l.ends_with("locked"));
    let err = Journal::open(dir.path(), opts()).unwrap_err();
    assert!(matches!(err, JournalError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("held by pid {}", child.0.id())),
        "{err}"
    );
    child.kill_and_reap();
    let (mut journal, _) =
        Journal::open(dir.path(), opts()).expect("lock released by the dead process");
    assert_eq!(journal.append(1, 0, b"mine now").unwrap(), 1);
}

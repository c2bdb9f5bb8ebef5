//! kill -9 at random moments: a wired node is SIGKILLed over and over, each time restarted on
//! the same journal directory. Afterwards, from the journals alone: no client order id was
//! placed twice, the paper venue only ever saw ids the engine had journaled, no venue position
//! ever exceeded the pair's entry size, every cycle that declared its legs matched had hedged
//! exactly what its first leg executed, the engine's fills agree with the venue's books, and a
//! replay of all runs is identical.
//!
//! Two nodes are killed. The first is this test binary itself, re-executed with
//! `CARRY_CHAOS_DIR` set: the real engine, decision half, journals and paper venue on its gateway
//! thread, driven by a scripted market in process (see `paper_support`), which keeps it fast and
//! seedable. It reports progress on stdout (`chaos: ...` lines); the parent waits for a random
//! amount of progress, then kills it. The second is `carry demo` itself (simulated venues,
//! feeds, engine thread), killed when its journal shows a random amount of trading.

mod paper_support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use carry_engine::execution::cycle::CycleState;
use carry_engine::replay::{replay, ReplayOutcome};
use carry_engine::{OperatorCommand, PairId};
use paper_support::*;

const CHILD_ENV: &str = "CARRY_CHAOS_DIR";
const TEST_NAME: &str = "kill_nine_at_random_moments_never_places_an_id_twice";
const KILLS: usize = 24;
const REGIME: Duration = Duration::from_millis(300);
const SEED: u64 = 20_240_515;

/// Writes a progress line straight to the pipe (the test harness captures `println!`). A
/// failed write means the parent is gone: the child then ends itself.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// The child: a node that trades until it is killed (or, as a safety net, for two minutes).
fn child(dir: &Path) -> ! {
    let mut node = Node::open(dir, SEED, REGIME);
    say("chaos: ready");
    let started = Instant::now();
    let mut reported = 0;
    let mut heartbeat = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        node.turn();
        if node.intents_sent != reported {
            reported = node.intents_sent;
            say(&format!("chaos: sent {reported}"));
        }
        if heartbeat.elapsed() > Duration::from_millis(100) {
            heartbeat = Instant::now();
            say("chaos: alive");
        }
    }
    std::process::exit(3);
}

/// Kills the child if the parent's checks panic, so no node outlives the test.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn kill_nine_at_random_moments_never_places_an_id_twice() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    // CARRY_CHAOS_KEEP=PATH runs in PATH (emptied first) and leaves the journals there.
    let kept = std::env::var_os("CARRY_CHAOS_KEEP").map(std::path::PathBuf::from);
    if let Some(k) = &kept {
        let _ = std::fs::remove_dir_all(k);
        std::fs::create_dir_all(k).unwrap();
    }
    let dir_path = kept.clone().unwrap_or_else(|| dir.path().to_path_buf());
    let seed = std::env::var("CARRY_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    eprintln!("chaos seed {seed} (set CARRY_CHAOS_SEED to repeat)");
    let mut rng = Rng(seed | 1);
    let exe = std::env::current_exe().unwrap();
    let mut kills_with_orders = 0;
    for round in 0..KILLS {
        let mut child = Reaper(
            Command::new(&exe)
                .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, dir_path.as_path())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let stdout = child.0.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for a random amount of trading: none (kill right after recovery) up to a few
        // dozen intents handed to the gateway; then a random sub-millisecond-to-20 ms extra.
        let want = if round % 5 == 0 { 0 } else { 1 + rng.below(40) };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut ready = false;
        let mut sent = 0u64;
        while Instant::now() < deadline {
            let line = match lines.recv_timeout(Duration::from_secs(1)) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            // The harness may have printed "test ... " on the same line before ours.
            let Some(at) = line.find("chaos: ") else {
                continue;
            };
            let said = &line[at..];
            if said == "chaos: ready" {
                ready = true;
            } else if let Some(n) = said.strip_prefix("chaos: sent ") {
                sent = n.parse().unwrap_or(0);
            }
            if ready && sent >= want {
                break;
            }
        }
        assert!(ready, "round {round}: the child never came up");
        let extra = rng.below(20_000);
        std::thread::sleep(Duration::from_micros(extra));
        drop(child);
        if sent > 0 {
            kills_with_orders += 1;
        }
    }
    assert!(
        kills_with_orders >= KILLS / 2,
        "most kills landed while trading: {kills_with_orders}"
    );

    // One last run, in this process: resolve whatever the last kill left, flatten, stop cleanly.
    let mut node = Node::open(dir_path.as_path(), SEED, REGIME);
    let pending = node.engine.pending_resolutions().count();
    node.command(OperatorCommand::Flatten);
    let flat = node.run_until(Duration::from_secs(60), |n| {
        n.quiescent() && n.engine.state(PairId(0)) == CycleState::Flat
    });
    assert!(
        flat,
        "flat after flatten: {:?}",
        node.engine.pairs().collect::<Vec<_>>()
    );
    let counters = *node.engine.counters();
    node.close();
    eprintln!("after {KILLS} kills: {pending} orders to resolve at the last start; {counters:?}");

    let a = audit(dir_path.as_path());
    assert_eq!(a.starts, KILLS + 1);
    assert_consistent_and_flat(&a);
    assert!(
        a.places.len() >= 20,
        "the runs traded: {} ids placed",
        a.places.len()
    );
    assert!(
        a.entry_limit.values().all(|q| *q <= d(ORDER_QTY)),
        "{:?}",
        a.entry_limit
    );
    assert_eq!(counters.reused_ids, 0);
    assert_eq!(counters.unmatched_fills, 0);

    match replay(dir_path.as_path(), |_start| {
        Ok((engine_config(), universe(), decider()))
    })
    .unwrap()
    {
        ReplayOutcome::Identical(stats) => {
            assert_eq!(stats.runs, KILLS + 1);
            assert!(stats.identical >= a.places.len(), "{stats:?}");
        }
        ReplayOutcome::Diverged(div) => panic!("replay diverged: {div:?}"),
    }
}

const DEMO_KILLS: usize = 20;

/// (START records so far, intents journaled since the last START) in the journal at `dir`.
fn progress(dir: &Path) -> (usize, usize) {
    use carry_engine::record::kind;
    let Ok(reader) = carry_journal::JournalReader::open(dir) else {
        return (0, 0);
    };
    let (mut starts, mut intents) = (0, 0);
    for r in reader.iter_from(1).filter_map(Result::ok) {
        match r.kind {
            kind::START => {
                starts += 1;
                intents = 0;
            }
            kind::INTENT => intents += 1,
            _ => {}
        }
    }
    (starts, intents)
}

fn starts(dir: &Path) -> usize {
    progress(dir).0
}

fn spawn_demo(journal: &Path, socket: &Path, log: &Path) -> Reaper {
    let log = std::fs::File::create(log).unwrap();
    Reaper(
        Command::new(env!("CARGO_BIN_EXE_carry"))
            .arg("demo")
            .arg("--journal")
            .arg(journal)
            .arg("--admin-socket")
            .arg(socket)
            .args(["--quiet", "--seconds", "600", "--seed", "3"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// Waits (polling, bounded) until the run that `child` is has journaled its START record.
fn wait_for_start(child: &mut Reaper, journal: &Path, want: usize, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while starts(journal) < want {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "carry demo exited ({status}) before starting: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "carry demo never journaled its start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn admin(socket: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_carry"))
        .arg("admin")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn carry_demo_killed_at_random_moments_never_places_an_id_twice() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let socket = dir.path().join("admin.sock");
    let seed = std::env::var("CARRY_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xdead_beef_u64);
    eprintln!("demo chaos seed {seed} (set CARRY_CHAOS_SEED to repeat)");
    let mut rng = Rng(seed | 1);
    for round in 0..DEMO_KILLS {
        let log = dir.path().join(format!("run-{round}.log"));
        let mut child = spawn_demo(&journal, &socket, &log);
        wait_for_start(&mut child, &journal, round + 1, &log);
        // Let it trade: wait for a random number of intents of this run (none on every fifth
        // round: killed right after recovery), bounded in time since the simulated funding
        // regime only turns every few seconds; then SIGKILL it a random moment later.
        let want = if round % 5 == 0 {
            0
        } else {
            1 + rng.below(8) as usize
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while progress(&journal).1 < want && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Every third round dies the moment its intents show in the journal, while their
        // answers are most likely still on the way.
        if round % 3 != 1 {
            std::thread::sleep(Duration::from_micros(rng.below(1_500_000)));
        }
        drop(child);
    }

    // The last run recovers, flattens on the operator's word, and stops cleanly.
    let log = dir.path().join("final.log");
    let mut child = spawn_demo(&journal, &socket, &log);
    wait_for_start(&mut child, &journal, DEMO_KILLS + 1, &log);
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin(&socket, &["flatten"]).is_none() {
        assert!(Instant::now() < deadline, "the admin socket never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut cycles = String::new();
    loop {
        if let Some(c) = admin(&socket, &["cycles", "--json"]) {
            cycles = c;
            let rows: serde_json::Value = serde_json::from_str(&cycles).unwrap();
            if rows
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["state"] == "flat")
            {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not flat after flatten: {cycles}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: signalling a child process we spawned and have not reaped.
    unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "carry demo did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let a = audit(&journal);
    eprintln!(
        "carry demo after {DEMO_KILLS} kills: {} ids placed, {} queries, {} resends",
        a.places.len(),
        a.queries,
        a.resends
    );
    assert_eq!(a.starts, DEMO_KILLS + 1);
    assert!(!a.places.is_empty(), "the runs traded");
    assert_consistent_and_flat(&a);

    let replayed = Command::new(env!("CARGO_BIN_EXE_carry"))
        .arg("replay")
        .arg("--journal")
        .arg(&journal)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&replayed.stdout);
    assert!(
        replayed.status.success() && said.starts_with("identical:"),
        "carry replay: {said}"
    );
}

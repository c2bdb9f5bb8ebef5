//! The hot-thread side of the admin exchange allocates nothing after warm-up: latency
//! `record`/`maybe_publish`, snapshot `publish_with` and command `poll`; and `carry admin`
//! allocates no more than a reply can hold, whatever a reply header announces. A counting global
//! allocator counts allocations (and their largest size) made by the measuring thread only,
//! while a flag is up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};

use carry::admin::snapshot::{set_str, MetricValue};
use carry::admin::{command_channel, snapshot_channel, AdminClient, OperatorCommand, Snapshot};
use carry::latency::{LatencyCollector, LatencyConfig, Stage, HIGHEST_NS};
use carry_engine::venue::Venue;
use rust_decimal::Decimal;

struct Counting;

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // try_with: the allocator may run while thread-locals are being torn down.
    let _ = MEASURING.try_with(|m| {
        if m.get() {
            let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

// SAFETY: defers every operation to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|a| a.set(0));
    MEASURING.with(|m| m.set(true));
    f();
    MEASURING.with(|m| m.set(false));
    ALLOCATIONS.with(|a| a.get())
}

/// The largest single allocation `f` makes on this thread, in bytes.
fn largest_allocation_in(f: impl FnOnce()) -> usize {
    LARGEST.with(|l| l.set(0));
    allocations_in(f);
    LARGEST.with(|l| l.get())
}

#[test]
fn the_counter_sees_an_allocation() {
    // Guards the guard: a broken counter would make the tests below pass vacuously.
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert_eq!(n, 1);
    let largest = largest_allocation_in(|| drop(std::hint::black_box(vec![1u8; 5000])));
    assert_eq!(largest, 5000);
}

#[test]
fn the_admin_client_allocates_what_arrives_not_what_a_header_announces() {
    let dir = std::env::temp_dir().join(format!("carry-admin-alloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // (reply, what the client says): a gigabyte announced, or the most a reply may hold with
    // ten bytes of it sent. Both used to be allocated in full before reading a byte.
    let cases: [(&[u8], &str); 2] = [
        (b"ok 1073741824\n", "more than any reply carries"),
        (b"ok 8388608\n0123456789", "got 10 of 8388608 bytes"),
    ];
    for (i, (reply, want)) in cases.into_iter().enumerate() {
        let path = dir.join(format!("fake-{i}.sock"));
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut line = [0u8; 64];
            let _ = s.read(&mut line).unwrap();
            let _ = s.write_all(reply);
        });
        let mut client = AdminClient::connect(&path).unwrap();
        let mut outcome = None;
        let largest = largest_allocation_in(|| outcome = Some(client.request("status")));
        let e = outcome.unwrap().expect_err("accepted a bad reply");
        assert!(e.to_string().contains(want), "{want}: {e}");
        assert!(
            largest < 1 << 20,
            "case {i}: allocated {largest} bytes at once"
        );
        server.join().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn latency_record_and_publish_do_not_allocate_after_warm_up() {
    const SEC: u64 = 1_000_000_000;
    let mut collector = LatencyCollector::new(LatencyConfig {
        interval_ns: SEC,
        pool: 2,
    })
    .unwrap();
    let mut rec = collector
        .new_recorder(
            "engine",
            &[
                Stage::Parse,
                Stage::Queue,
                Stage::Decide,
                Stage::Journal,
                Stage::WireToIntent,
            ],
        )
        .unwrap();
    let mut now = SEC;
    let round = |rec: &mut carry::latency::LatencyRecorder, now: &mut u64| {
        for i in 0..2_000u64 {
            let venue = Venue::ALL[(i % 10) as usize];
            rec.record(Stage::Parse, venue, 300 + i);
            rec.record(Stage::Queue, venue, 50 + i % 7);
            rec.record(Stage::Decide, venue, 120);
            rec.record(Stage::Journal, venue, 800);
            rec.record_span(Stage::WireToIntent, venue, *now, *now + 2_000 + i);
            rec.record(Stage::Ack, venue, 5); // undeclared: counted, not recorded
        }
        rec.record(Stage::Decide, Venue::ALL[0], HIGHEST_NS * 2); // saturates
        *now += SEC;
        rec.maybe_publish(*now)
    };
    // Warm-up: the whole pool goes round once.
    for _ in 0..3 {
        round(&mut rec, &mut now);
        collector.collect(now);
    }
    let mut published = 0;
    let mut deferred = 0;
    let n = allocations_in(|| {
        for k in 0..20 {
            if round(&mut rec, &mut now) {
                published += 1;
            } else {
                deferred += 1;
            }
            // Also between publishes: the recorder must not allocate on a plain tick.
            rec.maybe_publish(now + 1);
            // Every other round the collector (another thread in production) lags behind, so
            // the deferral path is measured too.
            MEASURING.with(|m| m.set(false));
            if k % 2 == 1 {
                collector.collect(now);
            }
            MEASURING.with(|m| m.set(true));
        }
    });
    assert_eq!(n, 0, "recorder allocated {n} times after warm-up");
    assert!(
        published > 0 && deferred > 0,
        "published {published}, deferred {deferred}"
    );
    collector.collect(now);
    rec.publish(now + 2);
    collector.collect(now + 3);
    let rep = collector.report();
    let parse = rep
        .cumulative
        .iter()
        .find(|s| s.stage == "parse" && s.venue == "all")
        .unwrap();
    assert_eq!(parse.count, 23 * 2_000, "no interval was lost");
    assert_eq!(rep.saturated, vec![("decide", 23)]);
    assert_eq!(rep.undeclared_records, 23 * 2_000);
}

fn fill(s: &mut Snapshot, events: u64) {
    set_str(&mut s.status.instance, "inst1");
    s.status.events = events;
    for pair in ["btc-okx-binance", "eth-bybit-gate", "sol-okx-bitget"] {
        let r = s.spreads.push_slot();
        set_str(&mut r.pair, pair);
        set_str(&mut r.instrument, "BTC-USDT");
        r.long_venue = Venue::ALL[1];
        r.short_venue = Venue::ALL[4];
        r.spread = Some(Decimal::new(events as i64, 6));
        r.long_rate = Some(Decimal::new(1, 4));
        r.short_rate = None;
    }
    let p = s.positions.push_slot();
    p.venue = Venue::ALL[4];
    set_str(&mut p.instrument, "BTC-USDT");
    p.qty = Decimal::new(-15, 2);
    for venue in Venue::ALL {
        s.metrics
            .push_slot()
            .set(
                "feed_connects_total",
                "Feed connects.",
                MetricValue::Counter(events),
            )
            .label("venue", venue.as_str());
    }
}

#[test]
fn snapshot_publish_and_command_poll_do_not_allocate_after_warm_up() {
    let (mut publisher, mut reader) = snapshot_channel(3);
    let (sender, receiver) = command_channel(16);
    // Warm-up: every pooled snapshot gets filled once.
    for i in 0..6 {
        assert!(publisher.publish_with(|s| fill(s, i)));
        if i % 2 == 0 {
            reader.latest();
        }
    }
    let mut published = 0;
    let mut seen = Vec::with_capacity(16);
    let n = allocations_in(|| {
        for i in 100..200u64 {
            if publisher.publish_with(|s| fill(s, i)) {
                published += 1;
            }
            // The reader runs on the admin thread; here it is interleaved, unmeasured.
            if i % 3 == 0 {
                MEASURING.with(|m| m.set(false));
                let _ = sender.send(OperatorCommand::Pause);
                let latest = reader.latest().map(|s| s.status.events);
                assert_eq!(latest, Some(i));
                MEASURING.with(|m| m.set(true));
            }
            while let Some(cmd) = receiver.poll() {
                if seen.len() < seen.capacity() {
                    seen.push(cmd);
                }
            }
        }
    });
    assert_eq!(n, 0, "publisher allocated {n} times after warm-up");
    assert_eq!(published, 100, "every publish succeeded");
    assert_eq!(seen.len(), 16);
    let s = reader.latest().unwrap();
    assert_eq!(s.status.events, 199);
    assert_eq!(s.spreads.len(), 3);
    assert_eq!(s.metrics.len(), 10);
}

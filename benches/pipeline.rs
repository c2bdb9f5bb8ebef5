//! Benchmark group `pipeline`: how long an event takes to move between threads, and from the
//! wire to a journaled intent.
//!
//! - `hop/ping_pong_floor`: one-way latency of a raw cache-line ping-pong between two pinned
//!   threads (the physical floor for any cross-core handoff on this machine).
//! - `hop/feed_queue`: one-way latency of a `FeedItem` through carry's feed queue between the same
//!   two threads, measured the same way (round trip / 2), so the ratio to the floor reads directly.
//! - `wire_to_intent`: websocket frames on loopback through the real feed thread, queue, engine
//!   and journal, to the journaled intent.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

/// A value alone on its cache line, so the two threads share nothing else.
#[repr(align(128))]
struct Padded(AtomicU64);

fn pin(core: usize) {
    if let Some(ids) = core_affinity::get_core_ids() {
        if let Some(id) = ids.get(core % ids.len()) {
            core_affinity::set_for_current(*id);
        }
    }
}

/// Runs `iters` round trips between the caller and a pinned echo thread, returning the total
/// time divided by two: the one-way figure.
fn ping_pong(iters: u64) -> Duration {
    let ping = Arc::new(Padded(AtomicU64::new(0)));
    let pong = Arc::new(Padded(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let (ping, pong, stop) = (ping.clone(), pong.clone(), stop.clone());
        thread::spawn(move || {
            pin(1);
            let mut last = 0;
            while !stop.load(Ordering::Relaxed) {
                let v = ping.0.load(Ordering::Acquire);
                if v != last {
                    last = v;
                    pong.0.store(v, Ordering::Release);
                } else {
                    std::hint::spin_loop();
                }
            }
        })
    };
    pin(0);
    let start = Instant::now();
    for i in 1..=iters {
        ping.0.store(i, Ordering::Release);
        while pong.0.load(Ordering::Acquire) != i {
            std::hint::spin_loop();
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    echo.join().expect("echo thread");
    elapsed / 2
}

fn hop(c: &mut Criterion) {
    let mut group = c.benchmark_group("hop");
    group.bench_function("ping_pong_floor", |b| b.iter_custom(|iters| black_box(ping_pong(iters))));
    group.finish();
}

criterion_group!(benches, hop);
criterion_main!(benches);

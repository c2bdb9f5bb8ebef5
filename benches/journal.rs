//! Benchmark `journal`: what the engine pays to journal a record, and what a restart pays to
//! recover a journal.
//!
//! - `append/64`, `append/256`: `Journal::append` of 64 B and 256 B payloads with
//!   `Durability::None` and the default 64 MiB segments, page faults and roll-overs included
//!   (a fresh journal every million records keeps the disk footprint bounded; creating it is
//!   not timed).
//! - `bufwriter/64`, `bufwriter/256`: the same framed bytes (header, CRC32C, padding) written
//!   through a `BufWriter<File>`: the obvious alternative, in the same run.
//! - `recover/1M`: `Journal::open` of a journal of 1,000,000 records of 64 B (two segments):
//!   lock, scan, CRC of every record, survey of the tail.
//!
//! Short run for CI: `cargo bench --bench journal -- --quick --warm-up-time 0.3 --measurement-time 1`.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use carry_journal::{Durability, Journal, JournalOptions};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Records per fresh journal (or baseline file) inside one measurement.
const PER_JOURNAL: u64 = 1_000_000;

fn options() -> JournalOptions {
    JournalOptions::default().durability(Durability::None)
}

/// Times `iters` appends of `payload`, opening a fresh journal every `PER_JOURNAL` records.
fn time_appends(root: &Path, payload: &[u8], iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(PER_JOURNAL);
        let dir = tempfile::tempdir_in(root).expect("bench dir");
        let (mut journal, _) = Journal::open(dir.path(), options()).expect("open journal");
        let start = Instant::now();
        for i in 0..n {
            black_box(journal.append(7, i, black_box(payload)).expect("append"));
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

/// The same frame as the journal writes: 32-byte header with CRC32C, payload, zero padding.
fn write_frame(out: &mut BufWriter<File>, seq: u64, payload: &[u8]) {
    let frame = 32 + payload.len();
    let mut h = [0u8; 32];
    h[0..4].copy_from_slice(&(frame as u32).to_le_bytes());
    h[4..6].copy_from_slice(&7u16.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h[0..28]), payload);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    out.write_all(&h).expect("write");
    out.write_all(payload).expect("write");
    let pad = ((frame + 7) & !7) - frame;
    out.write_all(&[0u8; 8][..pad]).expect("write");
}

fn time_bufwriter(root: &Path, payload: &[u8], iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(PER_JOURNAL);
        let dir = tempfile::tempdir_in(root).expect("bench dir");
        let mut out = BufWriter::new(File::create(dir.path().join("log")).expect("create"));
        let start = Instant::now();
        for i in 0..n {
            write_frame(&mut out, i, black_box(payload));
        }
        out.flush().expect("flush");
        total += start.elapsed();
        left -= n;
    }
    total
}

fn bench_append(c: &mut Criterion) {
    let root = tempfile::tempdir().expect("bench root");
    let mut group = c.benchmark_group("journal");
    group.throughput(Throughput::Elements(1));
    for size in [64usize, 256] {
        let payload = vec![0xA5u8; size];
        group.bench_with_input(BenchmarkId::new("append", size), &payload, |b, p| {
            b.iter_custom(|iters| time_appends(root.path(), p, iters))
        });
        group.bench_with_input(BenchmarkId::new("bufwriter", size), &payload, |b, p| {
            b.iter_custom(|iters| time_bufwriter(root.path(), p, iters))
        });
    }
    group.finish();
}

fn bench_recover(c: &mut Criterion) {
    const RECORDS: u64 = 1_000_000;
    let dir = tempfile::tempdir().expect("bench dir");
    {
        let (mut journal, _) = Journal::open(dir.path(), options()).expect("open journal");
        let payload = [0x5Au8; 64];
        for i in 0..RECORDS {
            journal.append(7, i, &payload).expect("append");
        }
    }
    let mut group = c.benchmark_group("journal");
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_function(BenchmarkId::new("recover", "1M"), |b| {
        b.iter(|| {
            let (journal, recovery) = Journal::open(dir.path(), options()).expect("recover");
            assert_eq!(recovery.records, RECORDS);
            black_box(journal.next_seq())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_append, bench_recover);
criterion_main!(benches);

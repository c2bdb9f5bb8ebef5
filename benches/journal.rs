//! Benchmark `journal`: being written.
fn main() {}

//! Benchmark `pipeline`: being written.
fn main() {}

//! Benchmark `parse`: being written.
fn main() {}

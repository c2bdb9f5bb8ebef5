//! The `carry` binary.
fn main() {}

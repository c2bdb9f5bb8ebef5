//! Simulated venues on loopback speaking the real wire formats, for `carry demo` and tests.

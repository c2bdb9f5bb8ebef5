//! carry's journal: an append-only, memory-mapped, crash-safe record log.

//! The market model: what carry trades and what the venues say about it. The ten venues and the
//! configured instruments, each given a small index at start; the normalized market events the
//! feeds produce; each venue's trading rules per instrument; and the funding monitor, which keeps
//! the latest funding, top of book and funding interval of every subscribed stream and says how
//! fresh each is. The decision half reads all of this; nothing here decides anything.

pub mod event;
pub mod funding;
pub mod instrument;
pub mod interval;
pub mod spec;
pub mod venue;

//! Mutated real payloads (byte flips, truncations, splices of two payloads, inserted bytes) fed
//! to every venue's parser: `on_text` answers `Ok` or `Err` and never panics, and what it says
//! matches what it did (the event count it reports is the number of events it emitted, and no
//! event carries a zero timestamp). Each frame is also read with a space after it, which the
//! venue modules' fast path always declines: both must give the same outcome, events and logged
//! problem, so a mutated frame the fast path reads is read as the general cursor reads it.

mod venues_support;

use std::sync::Arc;

use carry_engine::Venue;
use carry_feeds::venue::market_ws::Parser;
use carry_feeds::Inbound;
use proptest::prelude::*;
use venues_support::{compact, fixture, universe, venue, MARKET_DATA, RECV};

/// Control payloads join the market data: their shapes are mutated too.
const CONTROL: &[(&str, &str)] = &[
    ("binance_ws_subscribe_ack_1.json", "binance-spot"),
    ("bybit_ws_subscribe_ack_linear_1.json", "bybit-perp"),
    ("bybit_ws_pong_linear_1.json", "bybit-perp"),
    ("bybit_linear_orderbook50_delta_1.json", "bybit-perp"),
    ("okx_ws_subscribe_error_1.json", "okx-perp"),
    ("okx_ws_subscribe_ack_1.json", "okx-perp"),
    ("bitget_ws_subscribe_ack_1.json", "bitget-perp"),
    ("gate_futures_subscribe_ack_1.json", "gate-perp"),
    ("gate_futures_pong_1.json", "gate-perp"),
];

/// Every payload twice: as published (pretty-printed) and compact as on the wire, since the
/// tokenizer reads the two on different paths.
fn corpus() -> Vec<(Venue, Vec<u8>)> {
    MARKET_DATA
        .iter()
        .map(|(f, v, _)| (venue(v), fixture(f)))
        .chain(CONTROL.iter().map(|(f, v)| (venue(v), fixture(f))))
        .flat_map(|(v, text)| [(v, compact(&text)), (v, text)])
        .collect()
}

/// A parser per venue (both contract-size modes alternate) over every fixture symbol.
fn parsers(require_contract_size: bool) -> Vec<Parser> {
    Venue::ALL
        .iter()
        .map(|v| {
            let syms: Vec<&str> = MARKET_DATA
                .iter()
                .filter(|(_, name, _)| venue(name) == *v)
                .map(|(_, _, s)| *s)
                .collect();
            Parser::new(*v, Arc::new(universe(*v, &syms)), require_contract_size)
        })
        .collect()
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        at: usize,
        bits: u8,
    },
    Truncate {
        at: usize,
    },
    Splice {
        other: usize,
        from: usize,
        at: usize,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(other, from, at)| Mutation::Splice { other, from, at }),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![
                    Just(b'"'),
                    Just(b'{'),
                    Just(b'}'),
                    Just(b'['),
                    Just(b']'),
                    Just(b','),
                    Just(b':'),
                    Just(b'-'),
                    Just(b'.'),
                    Just(b'e'),
                    Just(b'0'),
                    Just(b'9'),
                    any::<u8>()
                ],
                1..8
            )
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

fn apply(frame: &mut Vec<u8>, m: &Mutation, corpus: &[(Venue, Vec<u8>)]) {
    let len = frame.len().max(1);
    match m {
        Mutation::Flip { at, bits } => {
            if let Some(b) = frame.get_mut(at % len) {
                *b ^= bits;
            }
        }
        Mutation::Truncate { at } => frame.truncate(at % len),
        Mutation::Splice { other, from, at } => {
            let donor = &corpus[other % corpus.len()].1;
            let from = from % donor.len().max(1);
            frame.truncate(at % len);
            frame.extend_from_slice(&donor[from..]);
        }
        Mutation::Insert { at, bytes } => {
            let at = (at % len).min(frame.len());
            frame.splice(at..at, bytes.iter().copied());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    #[test]
    fn mutated_payloads_never_panic(
        picks in prop::collection::vec((any::<usize>(), prop::collection::vec(mutation(), 0..4)), 1..6),
        strict in any::<bool>(),
    ) {
        let corpus = corpus();
        let mut twins = parsers(strict);
        let mut parsers = parsers(strict);
        // Several frames in a row, so state (Bybit snapshots) is exercised by mutated deltas.
        for (pick, mutations) in picks {
            let (v, original) = &corpus[pick % corpus.len()];
            let mut frame = original.clone();
            for m in &mutations {
                apply(&mut frame, m, &corpus);
            }
            // The same frame with a space after it: the same JSON, always read by the general
            // cursor (the venue modules' fast path declines whitespace), so that a frame the
            // fast path reads is checked against the general path.
            let mut padded = frame.clone();
            padded.push(b' ');
            let parser = &mut parsers[v.index()];
            let mut events = Vec::new();
            let out = parser.parse(&mut frame, RECV, &mut |e| events.push(e));
            prop_assert!(events.iter().all(|e| e.ts_ms != 0));
            match out {
                Ok(Inbound::Data(n)) => prop_assert_eq!(n, events.len()),
                Ok(_) => prop_assert_eq!(events.len(), 0),
                Err(_) => prop_assert!(parser.last_problem().is_some()),
            }
            let twin = &mut twins[v.index()];
            let mut twin_events = Vec::new();
            let twin_out = twin.parse(&mut padded, RECV, &mut |e| twin_events.push(e));
            prop_assert_eq!(format!("{out:?}"), format!("{twin_out:?}"));
            prop_assert_eq!(events, twin_events);
            prop_assert_eq!(parser.last_problem(), twin.last_problem());
        }
    }
}

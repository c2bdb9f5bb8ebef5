//! Round trips of every record kind (property tests), and the errors bad payloads give.

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::codec::{action_from, exec_kind_from, status_from};
use super::*;
use crate::decision::breaker::{BreakerKind, Scope, VenueCondition};
use crate::decision::target::PairId;
use crate::execution::client_id::{ClientOrderId, InstanceId};
use crate::execution::cycle::{CycleReason, CycleState};
use crate::execution::order::{
    IntentAction, Leg, OrderStatus, RejectReason, Side, Step, TimeInForce,
};
use crate::market::event::{Funding, MarketEventKind, Quote};

fn dec() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..=18).prop_map(|(m, s)| Decimal::new(m, s))
}
fn opt_dec() -> impl Strategy<Value = Option<Decimal>> {
    prop::option::of(dec())
}
fn now() -> impl Strategy<Value = Now> {
    (any::<u64>(), any::<i64>()).prop_map(|(m, u)| Now::new(m, u))
}
fn venue() -> impl Strategy<Value = Venue> {
    prop::sample::select(Venue::ALL.to_vec())
}
fn cid() -> impl Strategy<Value = ClientOrderId> {
    "[A-Za-z0-9]{1,28}".prop_map(|s| ClientOrderId::from_bytes(s.as_bytes()).unwrap())
}
fn leg() -> impl Strategy<Value = Leg> {
    prop::sample::select(Leg::BOTH.to_vec())
}
fn side() -> impl Strategy<Value = Side> {
    prop::sample::select(vec![Side::Buy, Side::Sell])
}
fn tif() -> impl Strategy<Value = TimeInForce> {
    prop::sample::select(vec![TimeInForce::Ioc, TimeInForce::Gtc])
}
fn status() -> impl Strategy<Value = OrderStatus> {
    (1u8..=5).prop_map(|c| status_from(c).unwrap())
}
fn reject() -> impl Strategy<Value = RejectReason> {
    prop::sample::select(RejectReason::ALL.to_vec())
}
fn state() -> impl Strategy<Value = CycleState> {
    prop::sample::select(CycleState::ALL.to_vec())
}

fn market() -> impl Strategy<Value = Record> {
    let quote = (dec(), dec(), dec(), dec()).prop_map(|(bid, bid_qty, ask, ask_qty)| {
        MarketEventKind::Quote(Quote {
            bid,
            bid_qty,
            ask,
            ask_qty,
        })
    });
    let funding = (
        dec(),
        opt_dec(),
        any::<i64>(),
        prop::option::of(any::<u64>()),
        opt_dec(),
        opt_dec(),
    )
        .prop_map(
            |(rate, predicted_rate, next, interval_ms, mark_price, index_price)| {
                MarketEventKind::Funding(Funding {
                    rate,
                    predicted_rate,
                    next_funding_time_ms: next,
                    interval_ms,
                    mark_price,
                    index_price,
                })
            },
        );
    let kind = prop_oneof![quote, funding, Just(MarketEventKind::FeedReset)];
    (
        now(),
        venue(),
        any::<u16>(),
        any::<i64>(),
        any::<u64>(),
        kind,
    )
        .prop_map(|(now, venue, ins, ts_ms, recv_ns, kind)| Record::Market {
            now,
            event: MarketEvent {
                venue,
                instrument: InstrumentId(ins),
                ts_ms,
                recv_ns,
                kind,
            },
        })
}

fn exec() -> impl Strategy<Value = Record> {
    (
        now(),
        cid(),
        venue(),
        any::<u16>(),
        (1u8..=7).prop_map(|c| exec_kind_from(c).unwrap()),
        status(),
        (dec(), dec(), dec()),
        reject(),
        any::<i32>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(now, cid, venue, ins, kind, status, (cum, avg, fee), reject, code, s, r)| {
                Record::Exec {
                    now,
                    report: ExecReport {
                        client_order_id: cid,
                        venue,
                        instrument: InstrumentId(ins),
                        kind,
                        status,
                        cum_qty_base: cum,
                        avg_price: avg,
                        fee_quote: fee,
                        reject,
                        venue_code: code,
                        sent_ns: s,
                        recv_ns: r,
                    },
                }
            },
        )
}

fn intent() -> impl Strategy<Value = Record> {
    (
        now(),
        (1u8..=4).prop_map(|c| action_from(c).unwrap()),
        cid(),
        (
            any::<u16>(),
            any::<u32>(),
            prop::sample::select(Step::ALL.to_vec()),
            leg(),
            any::<u16>(),
        ),
        (venue(), any::<u16>(), side(), tif(), any::<bool>()),
        (dec(), dec(), dec()),
    )
        .prop_map(
            |(
                now,
                action,
                cid,
                (pair, cycle, step, leg, attempt),
                (venue, ins, side, tif, ro),
                (p, qb, qv),
            )| {
                Record::Intent {
                    now,
                    intent: OrderIntent {
                        action,
                        client_order_id: cid,
                        pair: PairId(pair),
                        cycle,
                        step,
                        leg,
                        attempt,
                        venue,
                        instrument: InstrumentId(ins),
                        side,
                        tif,
                        reduce_only: ro,
                        price: p,
                        qty_base: qb,
                        qty_venue: qv,
                    },
                }
            },
        )
}

fn cycle() -> impl Strategy<Value = Record> {
    let reason = (1u8..=35).prop_filter_map("defined", CycleReason::from_code);
    (
        now(),
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        state(),
        state(),
        reason,
        leg(),
        dec(),
        venue(),
        venue(),
    )
        .prop_map(
            |(now, pair, ins, cycle, from, to, reason, first, qty, a, b)| Record::Cycle {
                now,
                change: CycleChange {
                    pair: PairId(pair),
                    instrument: InstrumentId(ins),
                    cycle,
                    from,
                    to,
                    reason,
                    first,
                    qty_base: qty,
                    venues: [a, b],
                },
            },
        )
}

fn others() -> impl Strategy<Value = Record> {
    let start = (now(), any::<u16>(), "[A-Za-z0-9]{1,16}", ".{0,200}").prop_map(
        |(now, format, inst, text)| Record::Start {
            now,
            start: StartRecord {
                format,
                instance: InstanceId::new(&inst).unwrap(),
                config_text: text,
            },
        },
    );
    let command = (now(), prop::sample::select(OperatorCommand::ALL.to_vec()))
        .prop_map(|(now, command)| Record::Command { now, command });
    let tick = now().prop_map(|now| Record::Tick { now });
    let scope = prop_oneof![
        Just(Scope::Global),
        venue().prop_map(Scope::Venue),
        (venue(), any::<u16>()).prop_map(|(venue, i)| Scope::Stream {
            venue,
            instrument: InstrumentId(i)
        }),
        any::<u16>().prop_map(|p| Scope::Pair(PairId(p))),
    ];
    let breaker = (
        now(),
        prop::sample::select(BreakerKind::ALL.to_vec()),
        scope,
        any::<bool>(),
        now(),
    )
        .prop_map(|(now, kind, scope, tripped, at)| Record::Breaker {
            now,
            change: BreakerChange {
                kind,
                scope,
                tripped,
                at,
            },
        });
    let exposure = (
        now(),
        any::<u16>(),
        any::<u16>(),
        any::<u32>(),
        venue(),
        venue(),
        dec(),
        dec(),
        1u8..=4,
    )
        .prop_map(
            |(now, pair, ins, cycle, a, b, p0, p1, r)| Record::Exposure {
                now,
                exposure: ExposureRecord {
                    pair: PairId(pair),
                    instrument: InstrumentId(ins),
                    cycle,
                    venues: [a, b],
                    position: [p0, p1],
                    reason: ExposureReason::from_code(r).unwrap(),
                },
            },
        );
    let spec = (
        now(),
        venue(),
        any::<u16>(),
        dec(),
        dec(),
        dec(),
        dec(),
        opt_dec(),
    )
        .prop_map(
            |(now, venue, ins, tick, lot, min, notional, cs)| Record::Spec {
                now,
                venue,
                instrument: InstrumentId(ins),
                spec: InstrumentSpec {
                    tick_size: tick,
                    lot_size: lot,
                    min_qty: min,
                    min_notional: notional,
                    contract_size: cs,
                },
            },
        );
    let paper = (
        now(),
        cid(),
        venue(),
        any::<u16>(),
        side(),
        tif(),
        any::<bool>(),
        (dec(), dec(), dec(), dec(), dec()),
        status(),
        reject(),
    )
        .prop_map(
            |(now, cid, venue, ins, side, tif, ro, (p, q, c, a, f), status, reject)| {
                Record::PaperOrder {
                    now,
                    order: PaperOrder {
                        client_order_id: cid,
                        venue,
                        instrument: InstrumentId(ins),
                        side,
                        tif,
                        reduce_only: ro,
                        price: p,
                        qty_base: q,
                        status,
                        cum_qty_base: c,
                        avg_price: a,
                        fee_quote: f,
                        reject,
                    },
                }
            },
        );
    let venue_condition = (
        now(),
        venue(),
        prop::sample::select(VenueCondition::ALL.to_vec()),
        any::<bool>(),
    )
        .prop_map(|(now, venue, condition, on)| Record::Venue {
            now,
            venue,
            condition,
            on,
        });
    prop_oneof![
        start,
        command,
        tick,
        breaker,
        exposure,
        spec,
        paper,
        venue_condition
    ]
}

fn any_record() -> impl Strategy<Value = Record> {
    prop_oneof![market(), exec(), intent(), cycle(), others()]
}

proptest! {
    #[test]
    fn every_kind_round_trips(r in any_record()) {
        let bytes = r.to_bytes();
        prop_assert_eq!(bytes.len(), r.encoded_len());
        prop_assert!(bytes.len() <= MAX_FIXED_LEN || r.kind() == kind::START);
        let back = Record::decode(r.kind(), &bytes).unwrap();
        prop_assert_eq!(&back, &r);
        // Byte-identical re-encoding is what replay compares.
        prop_assert_eq!(back.to_bytes(), bytes);
        let (name, _) = describe(r.kind(), &r.to_bytes()).unwrap();
        prop_assert_eq!(kind_by_name(name), Some(r.kind()));
    }

    #[test]
    fn truncated_or_padded_payloads_are_errors(r in any_record(), cut in 1usize..8) {
        let bytes = r.to_bytes();
        let short = &bytes[..bytes.len().saturating_sub(cut)];
        prop_assert!(Record::decode(r.kind(), short).is_err());
        let mut long = bytes.clone();
        long.push(0);
        let is_trailing = matches!(Record::decode(r.kind(), &long), Err(RecordError::Trailing { .. }));
        prop_assert!(is_trailing);
    }

    #[test]
    fn garbage_never_panics(kind in 0u16..40, bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Record::decode(kind, &bytes);
        let _ = describe(kind, &bytes);
    }
}

#[test]
fn describe_shows_intents_by_client_order_id_and_action() {
    let cid = ClientOrderId::from_bytes(b"t10000001HS002").unwrap();
    let r = Record::Intent {
        now: Now::new(5, 1_700_000_000_000),
        intent: OrderIntent {
            action: IntentAction::Place,
            client_order_id: cid,
            pair: PairId(1),
            cycle: 1,
            step: Step::Hedge,
            leg: Leg::Short,
            attempt: 2,
            venue: "bybit-perp".parse().unwrap(),
            instrument: InstrumentId(0),
            side: Side::Sell,
            tif: TimeInForce::Ioc,
            reduce_only: false,
            price: "25339.5".parse().unwrap(),
            qty_base: "0.6".parse().unwrap(),
            qty_venue: "0.6".parse().unwrap(),
        },
    };
    assert_eq!(r.ts_ns(), 1_700_000_000_000_000_000);
    let (name, v) = describe(kind::INTENT, &r.to_bytes()).unwrap();
    assert_eq!(name, "intent");
    assert_eq!(v["client_order_id"], "t10000001HS002");
    assert_eq!(v["action"], "place");
    assert_eq!(v["venue"], "bybit-perp");
    assert_eq!(v["qty_base"], "0.6");
    assert_eq!(v["step"], "hedge");
    assert_eq!(describe(999, &[1, 2]), None);
    let (_, bad) = describe(kind::INTENT, &[0u8; 3]).unwrap();
    assert!(bad["error"].as_str().unwrap().contains("intent"), "{bad}");
}

#[test]
fn bad_fields_are_named() {
    let r = Record::Tick {
        now: Now::new(1, 2),
    };
    let mut bytes = r.to_bytes();
    bytes.push(9);
    let e = Record::decode(kind::COMMAND, &bytes)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("command") && e.contains("invalid value 9"),
        "{e}"
    );
    assert!(matches!(
        Record::decode(0, &[]),
        Err(RecordError::UnknownKind(0))
    ));
}

#[test]
fn engine_kinds_stay_in_their_range_and_gateway_kinds_are_never_decoded() {
    assert!(kind::ENGINE.end() < kind::GATEWAY.start());
    for k in 0..=u16::MAX {
        if kind_name(k).is_some() {
            assert!(
                kind::ENGINE.contains(&k),
                "kind {k} is outside the engine's range"
            );
        }
    }
    for k in kind::GATEWAY {
        assert_eq!(describe(k, b"payload"), None);
        assert_eq!(
            Record::decode(k, b"payload"),
            Err(RecordError::UnknownKind(k))
        );
    }
}

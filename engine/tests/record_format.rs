//! The journal record format is a promise to every journal already on disk: the same record must
//! encode to the same bytes, and `carry journal dump` must show it the same way, whatever the
//! code around it becomes. `fixtures/records.jsonl` holds, for one sample of every record kind
//! (every market event kind, every breaker scope), the payload bytes and the JSON that the
//! engine produced when the fixture was written; these tests compare today's code with it.

use carry_engine::decision::breaker::{BreakerChange, BreakerKind, Scope};
use carry_engine::execution::client_id::{ClientOrderId, InstanceId};
use carry_engine::execution::cycle::{CycleChange, CycleReason, CycleState};
use carry_engine::execution::order::{
    ExecKind, ExecReport, IntentAction, Leg, OrderIntent, OrderStatus, RejectReason, Side, Step,
    TimeInForce,
};
use carry_engine::record::{
    describe, ExposureReason, ExposureRecord, PaperOrder, Record, StartRecord,
};
use carry_engine::{
    Funding, InstrumentId, InstrumentSpec, MarketEvent, MarketEventKind, Now, OperatorCommand,
    PairId, Quote, TargetReason, Venue,
};
use rust_decimal::Decimal;
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/records.jsonl");

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal literal")
}

fn v(s: &str) -> Venue {
    s.parse().expect("venue id")
}

fn cid(s: &str) -> ClientOrderId {
    ClientOrderId::from_bytes(s.as_bytes()).expect("client order id")
}

/// One record of every kind, with values a reader can spot in the bytes (distinct, non-zero).
fn samples() -> Vec<Record> {
    let now = Now::new(1_234_567_890, 1_715_760_000_123);
    let ev = |venue: &str, kind| MarketEvent {
        venue: v(venue),
        instrument: InstrumentId(3),
        ts_ms: 1_715_760_000_100,
        recv_ns: 987_654_321,
        kind,
    };
    let breaker = |kind, scope, tripped| Record::Breaker {
        now,
        change: BreakerChange {
            kind,
            scope,
            tripped,
            at: Now::new(1_000, 1_715_759_999_000),
        },
    };
    vec![
        Record::Start {
            now,
            start: StartRecord {
                format: 1,
                instance: InstanceId::new("t1").unwrap(),
                config_text: "instance = \"t1\"\n".to_string(),
            },
        },
        Record::Market {
            now,
            event: ev(
                "binance-perp",
                MarketEventKind::Quote(Quote {
                    bid: d("65000.1"),
                    bid_qty: d("1.25"),
                    ask: d("65000.2"),
                    ask_qty: d("0.5"),
                }),
            ),
        },
        Record::Market {
            now,
            event: ev(
                "okx-perp",
                MarketEventKind::Funding(Funding {
                    rate: d("0.0001"),
                    predicted_rate: Some(d("-0.00025")),
                    next_funding_time_ms: 1_715_788_800_000,
                    interval_ms: Some(28_800_000),
                    mark_price: Some(d("65001.5")),
                    index_price: None,
                }),
            ),
        },
        Record::Market {
            now,
            event: ev("gate-spot", MarketEventKind::FeedReset),
        },
        Record::Exec {
            now,
            report: ExecReport {
                client_order_id: cid("t10000001HS002"),
                venue: v("bybit-perp"),
                instrument: InstrumentId(3),
                kind: ExecKind::PartialFill,
                status: OrderStatus::Open,
                cum_qty_base: d("0.3"),
                avg_price: d("65000.15"),
                fee_quote: d("0.0195"),
                reject: RejectReason::None,
                venue_code: -2019,
                sent_ns: 111_111,
                recv_ns: 222_222,
            },
        },
        Record::Command {
            now,
            command: OperatorCommand::Flatten,
        },
        Record::Tick { now },
        Record::Intent {
            now,
            intent: OrderIntent {
                action: IntentAction::Resend,
                client_order_id: cid("t10000001HS002"),
                pair: PairId(2),
                cycle: 1,
                step: Step::Hedge,
                leg: Leg::Short,
                attempt: 2,
                venue: v("bybit-perp"),
                instrument: InstrumentId(3),
                side: Side::Sell,
                tif: TimeInForce::Ioc,
                reduce_only: true,
                price: d("25339.5"),
                qty_base: d("0.6"),
                qty_venue: d("60"),
            },
        },
        Record::Cycle {
            now,
            change: CycleChange {
                pair: PairId(2),
                instrument: InstrumentId(3),
                cycle: 7,
                from: CycleState::Open,
                to: CycleState::Exiting,
                reason: CycleReason::Exit(TargetReason::ForceExit),
                first: Leg::Long,
                qty_base: d("0.6"),
                venues: [v("binance-spot"), v("okx-perp")],
            },
        },
        breaker(BreakerKind::OperatorPause, Scope::Global, true),
        breaker(
            BreakerKind::RejectRate,
            Scope::Venue(v("bitget-perp")),
            true,
        ),
        breaker(
            BreakerKind::StaleFeed,
            Scope::Stream {
                venue: v("okx-spot"),
                instrument: InstrumentId(3),
            },
            false,
        ),
        breaker(BreakerKind::LeftoverExposure, Scope::Pair(PairId(2)), true),
        Record::Exposure {
            now,
            exposure: ExposureRecord {
                pair: PairId(2),
                instrument: InstrumentId(3),
                cycle: 7,
                venues: [v("binance-spot"), v("okx-perp")],
                position: [d("0.001"), d("-0.002")],
                reason: ExposureReason::Dust,
            },
        },
        Record::Spec {
            now,
            venue: v("okx-perp"),
            instrument: InstrumentId(3),
            spec: InstrumentSpec {
                tick_size: d("0.1"),
                lot_size: d("0.01"),
                min_qty: d("0.01"),
                min_notional: d("5"),
                contract_size: Some(d("0.01")),
            },
        },
        Record::PaperOrder {
            now,
            order: PaperOrder {
                client_order_id: cid("t10000001EL000"),
                venue: v("gate-perp"),
                instrument: InstrumentId(3),
                side: Side::Buy,
                tif: TimeInForce::Gtc,
                reduce_only: false,
                price: d("65010"),
                qty_base: d("0.6"),
                status: OrderStatus::Rejected,
                cum_qty_base: d("0"),
                avg_price: d("0"),
                fee_quote: d("0"),
                reject: RejectReason::InsufficientBalance,
            },
        },
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// (kind, payload hex, dump JSON) per fixture line, in order.
fn fixture() -> Vec<(u16, String, Value)> {
    FIXTURE
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("fixture line is JSON");
            let kind = v["kind"].as_u64().expect("kind") as u16;
            let payload = v["payload_hex"].as_str().expect("payload_hex").to_string();
            (kind, payload, v["dump"].clone())
        })
        .collect()
}

#[test]
fn every_kind_encodes_to_the_bytes_journals_already_hold() {
    let fixture = fixture();
    let samples = samples();
    assert_eq!(fixture.len(), samples.len(), "one fixture line per sample");
    for (r, (kind, payload, _)) in samples.iter().zip(&fixture) {
        assert_eq!(r.kind(), *kind, "{r:?}");
        assert_eq!(hex(&r.to_bytes()), *payload, "kind {kind}: {r:?}");
    }
}

#[test]
fn journaled_bytes_decode_to_the_same_records_and_dump_the_same_json() {
    for (r, (kind, payload, dump)) in samples().iter().zip(fixture()) {
        let bytes: Vec<u8> = (0..payload.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&payload[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(&Record::decode(kind, &bytes).unwrap(), r);
        let (name, json) = describe(kind, &bytes).expect("an engine kind");
        assert_eq!(name, dump["name"], "kind {kind}");
        assert_eq!(json, dump["fields"], "kind {kind}");
    }
}

//! The paper venue on its gateway thread, alone and wired to the real engine: reports come back
//! through the queue with the gateway's stamps, a full intent queue hands the intent back, and a
//! node trading against a scripted market completes cycles whose fills agree with the paper
//! venue's own books and replay identically.

mod paper_support;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use carry::gateway::paper::{PaperConfig, PaperVenue};
use carry::gateway::quote_board::QuoteBoard;
use carry_engine::execution::client_id::{ClientOrderId, InstanceId};
use carry_engine::execution::cycle::CycleState;
use carry_engine::execution::order::{
    ExecKind, ExecReport, IntentAction, Leg, OrderIntent, OrderStatus, Side, Step, TimeInForce,
};
use carry_engine::replay::{replay, ReplayOutcome};
use carry_engine::{OperatorCommand, PairId, Quote};
use carry_feeds::gateway::{self, Gateway, GatewayOptions};
use paper_support::*;
use rust_decimal::Decimal;

fn intent(cycle: u32, side: Side, qty: &str, price: &str) -> OrderIntent {
    OrderIntent {
        action: IntentAction::Place,
        client_order_id: ClientOrderId::new(
            &InstanceId::new("gw").unwrap(),
            cycle,
            Step::Entry,
            Leg::Long,
            0,
        )
        .unwrap(),
        pair: PairId(0),
        cycle,
        step: Step::Entry,
        leg: Leg::Long,
        attempt: 0,
        venue: perp(),
        instrument: BTC,
        side,
        tif: TimeInForce::Ioc,
        reduce_only: false,
        price: d(price),
        qty_base: d(qty),
        qty_venue: d(qty),
    }
}

#[test]
fn paper_gateway_thread_answers_through_the_report_queue_with_its_stamps() {
    let board = Arc::new(QuoteBoard::new(1));
    board.publish(
        perp(),
        BTC,
        &Quote {
            bid: d("100"),
            bid_qty: d("1"),
            ask: d("100.02"),
            ask_qty: d("1"),
        },
        1,
    );
    let cfg = PaperConfig {
        latency_ms: 3,
        reject_ratio: Decimal::ZERO,
        partial_fill_ratio: Decimal::ZERO,
        ..PaperConfig::default()
    };
    let paper = PaperVenue::open(cfg, board, 1, None).unwrap();
    let (tx, rx) = gateway::report_queue(16);
    let handle = gateway::spawn(Box::new(paper), tx, GatewayOptions::default()).unwrap();
    let buy = intent(1, Side::Buy, "0.4", "100.05");
    handle.send(buy).unwrap();
    let fill = rx.recv_timeout(Duration::from_secs(10)).expect("a report");
    assert_eq!(
        (fill.client_order_id, fill.kind, fill.status),
        (buy.client_order_id, ExecKind::Fill, OrderStatus::Filled)
    );
    assert_eq!((fill.cum_qty_base, fill.avg_price), (d("0.4"), d("100.02")));
    assert!(
        fill.recv_ns >= fill.sent_ns + 3_000_000,
        "the answer waited for the latency: {fill:?}"
    );
    // The same id again is a duplicate describing the order, never a second fill.
    handle
        .send(OrderIntent {
            action: IntentAction::Resend,
            ..buy
        })
        .unwrap();
    let dup = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (dup.kind, dup.status, dup.cum_qty_base),
        (ExecKind::Duplicate, OrderStatus::Filled, d("0.4"))
    );
    handle
        .send(OrderIntent {
            action: IntentAction::Query,
            ..intent(2, Side::Buy, "1", "1")
        })
        .unwrap();
    let nf = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (nf.kind, nf.status),
        (ExecKind::QueryAnswer, OrderStatus::NotFound)
    );
    handle.shutdown();
}

/// A gateway that holds its thread inside `submit` until told to go on.
struct Stuck {
    entered: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
}

impl Gateway for Stuck {
    fn name(&self) -> &str {
        "stuck"
    }
    fn submit(&mut self, o: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>) {
        let _ = self.entered.send(());
        let _ = self.release.recv();
        let mut r = ExecReport::new(
            o.client_order_id,
            o.venue,
            o.instrument,
            ExecKind::Ack,
            OrderStatus::Open,
        );
        r.sent_ns = now_ns;
        out.push(r);
    }
    fn cancel(&mut self, _o: &OrderIntent, _now_ns: u64, _out: &mut Vec<ExecReport>) {}
    fn query(&mut self, _o: &OrderIntent, _now_ns: u64, _out: &mut Vec<ExecReport>) {}
    fn poll(&mut self, _now_ns: u64, _out: &mut Vec<ExecReport>) -> Option<u64> {
        None
    }
}

#[test]
fn a_full_intent_queue_hands_the_intent_back_instead_of_blocking() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let (tx, rx) = gateway::report_queue(16);
    let opts = GatewayOptions {
        intent_capacity: 1,
        ..GatewayOptions::default()
    };
    let handle = gateway::spawn(
        Box::new(Stuck {
            entered: entered_tx,
            release: release_rx,
        }),
        tx,
        opts,
    )
    .unwrap();
    let (a, b, c) = (
        intent(1, Side::Buy, "1", "1"),
        intent(2, Side::Buy, "1", "1"),
        intent(3, Side::Buy, "1", "1"),
    );
    handle.send(a).unwrap();
    entered
        .recv_timeout(Duration::from_secs(10))
        .expect("the gateway took the first intent");
    handle.send(b).unwrap();
    assert_eq!(
        handle.send(c),
        Err(c),
        "the queue of one is full: the intent comes back"
    );
    for _ in 0..3 {
        let _ = release.send(());
    }
    let acks: Vec<ExecReport> = (0..2)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(
        acks.iter().map(|r| r.client_order_id).collect::<Vec<_>>(),
        vec![a.client_order_id, b.client_order_id]
    );
    drop(release);
    handle.shutdown();
}

#[test]
fn wired_node_trades_cycles_that_match_the_paper_venue_and_replay_identically() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::open(dir.path(), 11, Duration::from_millis(400));
    let done = node.run_until(Duration::from_secs(60), |n| {
        n.engine.counters().cycles_completed >= 2
    });
    assert!(done, "two cycles completed: {:?}", node.engine.counters());
    node.command(OperatorCommand::Flatten);
    let flat = node.run_until(Duration::from_secs(30), |n| {
        n.quiescent() && n.engine.state(PairId(0)) == CycleState::Flat
    });
    assert!(
        flat,
        "flatten leaves the pair flat: {:?}",
        node.engine.pairs().collect::<Vec<_>>()
    );
    let counters = *node.engine.counters();
    assert_eq!(counters.reused_ids, 0);
    assert_eq!(counters.unmatched_fills, 0);
    node.close();

    let a = audit(dir.path());
    assert_consistent_and_flat(&a);
    assert!(
        a.matched_transitions >= 2,
        "the completed cycles were hedged: {}",
        a.matched_transitions
    );
    assert!(
        a.entry_limit.values().all(|q| *q <= d(ORDER_QTY)),
        "{:?}",
        a.entry_limit
    );

    let outcome = replay(dir.path(), |_start| {
        Ok((engine_config(), universe(), decider()))
    })
    .unwrap();
    match outcome {
        ReplayOutcome::Identical(stats) => {
            assert!(stats.identical as u64 >= counters.places, "{stats:?}");
            assert_eq!(stats.runs, 1);
        }
        ReplayOutcome::Diverged(div) => panic!("replay diverged: {div:?}"),
    }
}

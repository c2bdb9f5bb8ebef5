//! The transport carries a stream that is not market data. A session shaped like a venue's
//! private order stream (its output is execution reports, its first message a login built from
//! the clock at connect time) runs on `transport::Streams` against the local websocket server:
//! its reports reach the gateway report queue in order, the drop of an open connection is
//! signalled, and the reconnect logs in again with the time of the new connect, not the old one.

mod transport_support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use carry_engine::execution::client_id::ClientOrderId;
use carry_engine::execution::order::{ExecKind, ExecReport, OrderStatus};
use carry_engine::{Exchange, InstrumentId, Market, Venue};
use carry_feeds::gateway::{report_queue, ReportReceiver, ReportSender};
use carry_feeds::transport::backoff::BackoffConfig;
use carry_feeds::transport::clock::unix_ms;
use carry_feeds::transport::connection::ConnectionOptions;
use carry_feeds::transport::stats::DisconnectReason;
use carry_feeds::transport::streams::{StreamHandler, Streams, StreamsConfig};
use carry_feeds::transport::tls;
use carry_feeds::{DropReason, Heartbeat, Inbound, RecvStamp, WsSession};
use rust_decimal::Decimal;
use transport_support::{WsServer, WAIT};

fn venue() -> Venue {
    Venue::new(Exchange::Okx, Market::Perp)
}

/// Logs in with `login <unix ms>` at every connect; the venue answers `ok`, then pushes
/// `fill <client order id> <quantity>`, each one execution report.
struct LoginSession {
    url: String,
}

impl WsSession for LoginSession {
    type Output = ExecReport;

    fn venue(&self) -> Venue {
        venue()
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn on_connect(&mut self, now_unix_ms: i64) -> Vec<String> {
        vec![format!("login {now_unix_ms}")]
    }

    fn heartbeat(&self) -> Option<Heartbeat> {
        None
    }

    fn max_connection_age(&self) -> Option<Duration> {
        None
    }

    fn on_text(
        &mut self,
        frame: &mut [u8],
        recv: RecvStamp,
        sink: &mut dyn FnMut(ExecReport),
    ) -> Result<Inbound, DropReason> {
        let text = std::str::from_utf8(frame).map_err(|_| DropReason::Malformed)?;
        match text.split(' ').collect::<Vec<_>>().as_slice() {
            ["ok"] => Ok(Inbound::SubscribeAck),
            ["fill", id, qty] => {
                let id = ClientOrderId::from_bytes(id.as_bytes()).ok_or(DropReason::Malformed)?;
                let mut report = ExecReport::new(
                    id,
                    venue(),
                    InstrumentId(0),
                    ExecKind::Fill,
                    OrderStatus::Filled,
                );
                report.cum_qty_base = qty.parse().map_err(|_| DropReason::BadNumber)?;
                report.recv_ns = recv.mono_ns;
                sink(report);
                Ok(Inbound::Data(1))
            }
            _ => Err(DropReason::Malformed),
        }
    }

    fn reset(&mut self) {}
}

/// What a private stream's owner does: reports into the gateway report queue; opens and drops
/// noted.
struct ToReportQueue {
    reports: ReportSender,
    /// `dropped_ns` of each open.
    opened: Vec<u64>,
    dropped: usize,
}

impl StreamHandler<ExecReport> for ToReportQueue {
    fn output(&mut self, report: ExecReport) {
        self.reports.send(report).unwrap();
    }

    fn opened(&mut self, conn: usize, venue: Venue, dropped_ns: u64) {
        assert_eq!((conn, venue), (0, self::venue()));
        self.opened.push(dropped_ns);
    }

    fn dropped(&mut self, conn: usize, venue: Venue, _now_ns: u64) {
        assert_eq!((conn, venue), (0, self::venue()));
        self.dropped += 1;
    }
}

/// Runs the streams until `n` more reports are in the queue.
fn pump(
    streams: &mut Streams<LoginSession>,
    handler: &mut ToReportQueue,
    queue: &ReportReceiver,
    got: &mut Vec<(String, Decimal)>,
    n: usize,
) {
    let target = got.len() + n;
    let deadline = Instant::now() + WAIT;
    while got.len() < target {
        assert!(Instant::now() < deadline, "reports did not arrive");
        streams
            .turn(Duration::from_millis(20), handler)
            .expect("poll");
        got.extend(
            queue
                .try_iter()
                .map(|r| (r.client_order_id.as_str().to_string(), r.cum_qty_base)),
        );
    }
}

/// The time in a `login <ms>` message.
fn login_time(message: &str) -> i64 {
    message
        .strip_prefix("login ")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not a login: {message:?}"))
}

#[test]
fn a_private_stream_logs_in_at_each_connect_and_reports_into_the_gateway_queue() {
    let server = WsServer::start(None);
    let config = StreamsConfig {
        name: "private".into(),
        tls: tls::client_config(None).unwrap(),
        connection: ConnectionOptions::default(),
        backoff: BackoffConfig {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
            ..BackoffConfig::default()
        },
    };
    let session = LoginSession {
        url: server.url(false, "/private"),
    };
    let mut streams = Streams::new(config, vec![Box::new(session)]).unwrap();
    let (reports, queue) = report_queue(16);
    let mut handler = ToReportQueue {
        reports,
        opened: Vec::new(),
        dropped: 0,
    };

    let (go_tx, go_rx) = mpsc::channel::<()>();
    let started_ms = unix_ms();
    let venue = std::thread::spawn(move || {
        let mut conn = server.accept();
        let first = conn.recv_text();
        let first_seen_ms = unix_ms();
        conn.send_text("ok");
        conn.send_text("fill C1 0.5");
        conn.send_text("bad frame");
        conn.send_text("fill C2 1.5");
        // The drop comes once the client has both reports.
        go_rx.recv_timeout(WAIT).unwrap();
        let dropped_ms = unix_ms();
        conn.drop_tcp();
        let mut conn = server.accept();
        let second = conn.recv_text();
        let second_seen_ms = unix_ms();
        conn.send_text("fill C3 2");
        go_rx.recv_timeout(WAIT).unwrap();
        (first, first_seen_ms, dropped_ms, second, second_seen_ms)
    });

    let mut got = Vec::new();
    pump(&mut streams, &mut handler, &queue, &mut got, 2);
    go_tx.send(()).unwrap();
    pump(&mut streams, &mut handler, &queue, &mut got, 1);
    go_tx.send(()).unwrap();
    let (first, first_seen_ms, dropped_ms, second, second_seen_ms) = venue.join().unwrap();

    let d = |s: &str| s.parse::<Decimal>().unwrap();
    assert_eq!(
        got,
        [
            ("C1".to_string(), d("0.5")),
            ("C2".to_string(), d("1.5")),
            ("C3".to_string(), d("2")),
        ]
    );
    // Each login carries the clock of its own connect.
    let (t1, t2) = (login_time(&first), login_time(&second));
    assert!(
        (started_ms..=first_seen_ms).contains(&t1),
        "{t1} not in {started_ms}..={first_seen_ms}"
    );
    assert!(
        (dropped_ms..=second_seen_ms).contains(&t2),
        "{t2} not in {dropped_ms}..={second_seen_ms}"
    );
    // One drop signalled; the second open knows when the first connection dropped.
    assert_eq!(handler.dropped, 1);
    assert_eq!(handler.opened.len(), 2);
    assert_eq!(handler.opened[0], 0);
    assert!(handler.opened[1] > 0);
    let stats = &streams.stats()[0];
    assert_eq!(stats.connects.get(), 2);
    assert_eq!(stats.disconnect(DisconnectReason::ClosedByVenue).get(), 1);
    assert_eq!(stats.events.get(), 3);
    assert_eq!(stats.drops(DropReason::Malformed).get(), 1);
    assert_eq!(stats.subscribe_acks.get(), 1);
    streams.close_all();
}

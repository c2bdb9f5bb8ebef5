//! The hot-path rule of DESIGN.md, measured: after warm-up, taking frames that are already in
//! the socket to events in the queue allocates nothing on `ws://` (poll → read → frame parse →
//! session → queue push, including pongs, fragmented and split frames). On `wss://` the only
//! allocations left are rustls's, one per TLS record (it copies each decrypted record into a new
//! `Vec`), which the second test bounds.
//!
//! A counting global allocator counts only on the test thread while a flag is set; the venue
//! server runs on other threads and is not counted.

mod transport_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use carry_engine::{
    Exchange, Funding, InstrumentId, Market, MarketEvent, MarketEventKind, Quote, Venue,
};
use carry_feeds::feed::queue::{bounded, Consumer, FeedItem, Producer};
use carry_feeds::transport::connection::{Connection, ConnectionOptions};
use carry_feeds::transport::stats::ConnectionStats;
use carry_feeds::{
    DropReason, Heartbeat, Inbound, RecvStamp, VenueSession, VenueSnapshot, WsSession,
};
use mio::{Events, Poll, Token};
use rust_decimal::Decimal;
use transport_support::{test_pki, ServerConn, WsServer, WAIT};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

fn note_alloc() {
    if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; counting has no side effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts allocations made by `f` on this thread.
fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let r = f();
    COUNTING.with(|c| c.set(false));
    (r, ALLOCS.load(Ordering::Relaxed) - before)
}

fn venue() -> Venue {
    Venue::new(Exchange::Binance, Market::Perp)
}

/// `Q <seq>` → quote, `F <seq>` → funding; parsed from the bytes without allocating.
struct BytesSession {
    url: String,
}

impl WsSession for BytesSession {
    type Output = MarketEvent;

    fn venue(&self) -> Venue {
        venue()
    }
    fn url(&self) -> &str {
        &self.url
    }
    fn on_connect(&mut self, _now_unix_ms: i64) -> Vec<String> {
        vec!["subscribe".to_string()]
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
        sink: &mut dyn FnMut(MarketEvent),
    ) -> Result<Inbound, DropReason> {
        let (kind, digits) = match frame {
            [k @ (b'Q' | b'F'), b' ', rest @ ..] if !rest.is_empty() => (*k, rest),
            _ => return Err(DropReason::Malformed),
        };
        let mut seq: i64 = 0;
        for d in digits.iter() {
            if !d.is_ascii_digit() {
                return Err(DropReason::BadNumber);
            }
            seq = seq * 10 + i64::from(d - b'0');
        }
        let kind = if kind == b'Q' {
            MarketEventKind::Quote(Quote {
                bid: Decimal::from(seq),
                bid_qty: Decimal::ONE,
                ask: Decimal::from(seq + 1),
                ask_qty: Decimal::ONE,
            })
        } else {
            MarketEventKind::Funding(Funding {
                rate: Decimal::new(seq, 8),
                predicted_rate: None,
                next_funding_time_ms: 0,
                interval_ms: None,
                mark_price: None,
                index_price: None,
            })
        };
        sink(MarketEvent {
            venue: venue(),
            instrument: InstrumentId(0),
            ts_ms: seq,
            recv_ns: recv.mono_ns,
            kind,
        });
        Ok(Inbound::Data(1))
    }
    fn reset(&mut self) {}
}

impl VenueSession for BytesSession {
    fn apply_snapshot(&mut self, _: &VenueSnapshot) {}
}

/// The client side, driven on the test thread.
struct Client {
    poll: Poll,
    events: Events,
    conn: Connection<BytesSession>,
    producer: Producer,
    consumer: Consumer,
    received: Vec<i64>,
}

impl Client {
    fn connect(url: String, tls: Arc<rustls::ClientConfig>, port: u16) -> Client {
        let poll = Poll::new().unwrap();
        let stats = Arc::new(ConnectionStats::new(venue(), &url));
        let mut conn = Connection::new(
            Box::new(BytesSession { url }),
            tls,
            ConnectionOptions::default(),
            stats,
            1,
        )
        .unwrap();
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        conn.connect(
            addr,
            poll.registry(),
            Token(0),
            carry_feeds::transport::clock::mono_ns(),
        )
        .unwrap();
        let (producer, consumer) = bounded(4096);
        Client {
            poll,
            events: Events::with_capacity(64),
            conn,
            producer,
            consumer,
            received: Vec::with_capacity(100_000),
        }
    }

    /// Polls until the websocket is open (subscription sent).
    fn pump_open(&mut self) {
        let deadline = Instant::now() + WAIT;
        while !self.conn.is_open() {
            assert!(Instant::now() < deadline, "the connection did not open");
            self.poll
                .poll(&mut self.events, Some(Duration::from_millis(20)))
                .unwrap();
            self.conn.on_ready(&mut |_| {}).unwrap();
        }
    }

    /// Polls until `n` more events are in the queue (popped into `received`).
    fn pump_until(&mut self, n: usize) {
        let target = self.received.len() + n;
        let deadline = Instant::now() + WAIT;
        let mut more = false;
        while self.received.len() < target {
            assert!(Instant::now() < deadline, "events did not arrive");
            let timeout = if more {
                Duration::ZERO
            } else {
                Duration::from_millis(20)
            };
            self.poll.poll(&mut self.events, Some(timeout)).unwrap();
            let producer = &mut self.producer;
            let mut sink = |e: MarketEvent| {
                producer
                    .push(FeedItem::new(e, carry_feeds::transport::clock::mono_ns()))
                    .unwrap();
            };
            more = self.conn.on_ready(&mut sink).unwrap();
            let received = &mut self.received;
            self.consumer
                .drain(usize::MAX, |item| received.push(item.event.ts_ms));
        }
    }
}

/// The venue's half: everything it sends in one burst, flushed before the client reads.
fn burst(conn: &mut ServerConn, from: i64, count: i64) -> usize {
    let mut messages = 0;
    for seq in from..from + count {
        match seq % 50 {
            7 => {
                // Protocol ping in the middle of the data; the pong is checked at the end.
                conn.ws
                    .send(tungstenite::Message::Ping(tungstenite::Bytes::from_static(
                        b"hot-path-ping",
                    )))
                    .unwrap();
                messages += 1;
                conn.send_text(&format!("Q {seq}"));
            }
            13 => conn.send_fragmented(&["F", " ", &seq.to_string()]),
            29 => conn.send_text_split(&format!("Q {seq}"), 3),
            _ => conn.send_text(&format!("{} {seq}", if seq % 10 == 0 { 'F' } else { 'Q' })),
        }
        messages += match seq % 50 {
            13 => 3,
            29 => 3,
            _ => 1,
        };
    }
    messages
}

/// Runs warm-up and a measured burst; returns (allocations, server writes in the burst).
fn measure(secure: bool) -> (usize, usize) {
    let pki = test_pki(if secure { "alloc-tls" } else { "alloc-plain" });
    let server = WsServer::start(secure.then(|| pki.server.clone()));
    let tls = carry_feeds::transport::tls::client_config(Some(&pki.root_pem)).unwrap();
    let mut client = Client::connect(server.url(secure, "/ws"), tls, server.port);

    let (go_tx, go_rx) = mpsc::channel::<(i64, i64)>();
    let (done_tx, done_rx) = mpsc::channel::<usize>();
    let venue = std::thread::spawn(move || {
        let mut conn = server.accept();
        assert_eq!(conn.recv_text(), "subscribe");
        while let Ok((from, count)) = go_rx.recv() {
            let writes = burst(&mut conn, from, count);
            done_tx.send(writes).unwrap();
        }
        // Every ping of every burst was answered with its own payload.
        let mut pongs = 0;
        while let Ok(msg) = conn.ws.read() {
            match msg {
                tungstenite::Message::Pong(p) => {
                    assert_eq!(&p[..], b"hot-path-ping");
                    pongs += 1;
                }
                tungstenite::Message::Close(_) => break,
                _ => {}
            }
        }
        pongs
    });

    client.pump_open();
    // Warm-up: buffers reach their working sizes (bursts as large as the measured one, twice).
    for round in 0..2 {
        go_tx.send((round * 2000, 2000)).unwrap();
        done_rx.recv_timeout(WAIT).unwrap();
        client.pump_until(2000);
    }
    // Measured: the burst is written and flushed before the client looks at its socket.
    go_tx.send((4000, 2000)).unwrap();
    let writes = done_rx.recv_timeout(WAIT).unwrap();
    let ((), allocs) = count_allocs(|| client.pump_until(2000));

    let expected: Vec<i64> = (0..6000).collect();
    assert_eq!(client.received, expected, "events lost or out of order");
    drop(go_tx);
    client.conn.close(
        client.poll.registry(),
        carry_feeds::transport::stats::DisconnectReason::Shutdown,
    );
    let pongs = venue.join().unwrap();
    assert_eq!(pongs, 6000 / 50, "every ping answered");
    (allocs, writes)
}

#[test]
fn plain_ws_read_path_allocates_nothing_after_warm_up() {
    let (allocs, _) = measure(false);
    assert_eq!(
        allocs, 0,
        "allocations on the ws:// read path after warm-up"
    );
}

#[test]
fn tls_read_path_allocates_at_most_one_buffer_per_tls_record() {
    let (allocs, writes) = measure(true);
    // Each server write is one TLS record, and rustls 0.23 copies each decrypted record into a
    // new Vec (measured: one allocation of the record's plaintext size per record). The slack
    // covers rustls growing its record queue the first time more records than ever before
    // arrive in one read; anything of ours allocating per frame would blow through it.
    println!("wss://: {allocs} allocations for {writes} TLS records");
    assert!(
        allocs <= writes + 16,
        "{allocs} allocations for {writes} TLS records"
    );
}

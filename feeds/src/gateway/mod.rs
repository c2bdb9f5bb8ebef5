//! Order gateways: the interface the engine hands journaled intents to, and the threads that run
//! them.
//!
//! A [`Gateway`] turns intents into venue requests (place, cancel, query by client order id) and
//! venue answers into [`ExecReport`]s. Each gateway runs on its own thread ([`spawn`]), which owns
//! all of its blocking I/O: the engine thread only ever does a non-blocking `try_send` of an
//! intent (a full queue hands the intent back, for the caller to keep and retry) and a
//! non-blocking drain of reports. Reports flow back through one bounded queue shared by every
//! gateway; a gateway thread blocks when that queue is full rather than drop a report, because
//! execution reports are never conflated or lost. Each report carries the gateway's monotonic
//! send and receive stamps so the engine thread can record send and ack latency.
//!
//! Implementations: the embedded paper venue (`carry::gateway::paper::PaperVenue`, the
//! default). Live signed REST gateways plug in through the same trait, from their venue's folder.
//!
//! Live venue gateways share the parts in this folder: [`credentials`], [`signer`] (the keyed
//! HMAC and its text forms), [`request`] (a request built and signed into reused buffers),
//! [`venue_clock`], [`budget`] (order-rate limits), [`http`] (the keep-alive client) and
//! [`live`] (the [`Gateway`] over a venue's [`live::OrderApi`]). What is particular to each
//! venue (what it signs, its fields and codes) lives in its folder under `venue/`.

pub mod budget;
pub mod credentials;
pub mod http;
pub mod live;
pub mod request;
pub mod signer;
pub mod venue_clock;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use carry_engine::execution::order::{ExecReport, IntentAction, OrderIntent};
use carry_engine::market::venue::VENUE_COUNT;
use carry_engine::Venue;
use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender, TrySendError};

/// A venue (or a paper venue) that executes intents.
///
/// Methods run on the gateway's own thread and may block on I/O. Reports go to `out` as they
/// become known; `now_ns` is the gateway thread's monotonic clock when the call started.
pub trait Gateway: Send {
    /// Short name for logs and metrics: `paper`, `binance-perp`, ...
    fn name(&self) -> &str;

    /// Places an order (`Place`), or sends it again with the same client order id (`Resend`):
    /// a venue that already has the id answers with a `Duplicate` report describing it.
    fn submit(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>);

    /// Cancels the order with the intent's client order id.
    fn cancel(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>);

    /// Asks for the order with the intent's client order id; answers with a `QueryAnswer`.
    fn query(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>);

    /// Lets the gateway deliver what became due (delayed answers, resting orders that traded).
    /// Returns when it next wants to be polled (monotonic ns), if at a specific time.
    fn poll(&mut self, now_ns: u64, out: &mut Vec<ExecReport>) -> Option<u64>;
}

/// Dispatches one intent to the matching gateway method.
pub fn dispatch(
    gw: &mut dyn Gateway,
    intent: &OrderIntent,
    now_ns: u64,
    out: &mut Vec<ExecReport>,
) {
    match intent.action {
        IntentAction::Place | IntentAction::Resend => gw.submit(intent, now_ns, out),
        IntentAction::Cancel => gw.cancel(intent, now_ns, out),
        IntentAction::Query => gw.query(intent, now_ns, out),
    }
}

/// The engine's side of the report queue.
pub type ReportReceiver = Receiver<ExecReport>;
/// A gateway thread's side of the report queue.
pub type ReportSender = Sender<ExecReport>;

/// The queue every gateway thread reports into and the engine thread drains.
pub fn report_queue(capacity: usize) -> (ReportSender, ReportReceiver) {
    channel::bounded(capacity.max(1))
}

/// How a gateway thread is run.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Thread name (shows in `top -H`).
    pub thread_name: String,
    /// Core to pin the thread to.
    pub core: Option<usize>,
    /// Intents that may wait for the gateway before `send` hands them back.
    pub intent_capacity: usize,
    /// Longest sleep when the gateway has nothing scheduled.
    pub idle_wait: Duration,
    /// The monotonic clock (ns) the thread stamps reports with; the same clock as the feeds'.
    pub clock: fn() -> u64,
}

impl Default for GatewayOptions {
    fn default() -> GatewayOptions {
        GatewayOptions {
            thread_name: "carry-gateway".into(),
            core: None,
            intent_capacity: 4096,
            idle_wait: Duration::from_millis(20),
            clock: crate::transport::clock::mono_ns,
        }
    }
}

/// The engine's handle on one running gateway thread.
pub struct GatewayHandle {
    intents: Sender<OrderIntent>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    name: String,
}

impl GatewayHandle {
    /// Hands an intent to the gateway without blocking. A full queue hands it back: the caller
    /// keeps it (it is journaled already) and tries again on its next loop.
    pub fn send(&self, intent: OrderIntent) -> Result<(), OrderIntent> {
        self.intents.try_send(intent).map_err(|e| match e {
            TrySendError::Full(i) | TrySendError::Disconnected(i) => i,
        })
    }

    /// The gateway's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops the thread (after the intents already queued) and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shutdown.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a gateway on its own thread, reporting into `reports`.
pub fn spawn(
    mut gateway: Box<dyn Gateway>,
    reports: ReportSender,
    opts: GatewayOptions,
) -> io::Result<GatewayHandle> {
    let (tx, rx) = channel::bounded::<OrderIntent>(opts.intent_capacity.max(1));
    let shutdown = Arc::new(AtomicBool::new(false));
    let stop = shutdown.clone();
    let name = gateway.name().to_string();
    let thread = std::thread::Builder::new()
        .name(opts.thread_name.clone())
        .spawn(move || {
            if let Some(core) = opts.core {
                core_affinity::set_for_current(core_affinity::CoreId { id: core });
            }
            run(gateway.as_mut(), &rx, &reports, &stop, &opts);
        })?;
    Ok(GatewayHandle {
        intents: tx,
        shutdown,
        thread: Some(thread),
        name,
    })
}

fn run(
    gw: &mut dyn Gateway,
    intents: &Receiver<OrderIntent>,
    reports: &ReportSender,
    stop: &AtomicBool,
    opts: &GatewayOptions,
) {
    let mut out = Vec::with_capacity(64);
    loop {
        let now = (opts.clock)();
        let next = gw.poll(now, &mut out);
        if !deliver(&mut out, reports) {
            return;
        }
        if stop.load(Ordering::Acquire) && intents.is_empty() {
            return;
        }
        let wait = next
            .map(|t| Duration::from_nanos(t.saturating_sub(now)))
            .unwrap_or(opts.idle_wait)
            .min(opts.idle_wait);
        match intents.recv_timeout(wait) {
            Ok(intent) => {
                dispatch(gw, &intent, (opts.clock)(), &mut out);
                // Take whatever else is queued before polling again.
                while let Ok(intent) = intents.try_recv() {
                    dispatch(gw, &intent, (opts.clock)(), &mut out);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let _ = gw.poll((opts.clock)(), &mut out);
                deliver(&mut out, reports);
                return;
            }
        }
        if !deliver(&mut out, reports) {
            return;
        }
    }
}

/// Sends every report, blocking while the queue is full; `false` once the engine side is gone.
fn deliver(out: &mut Vec<ExecReport>, reports: &ReportSender) -> bool {
    for r in out.drain(..) {
        if reports.send(r).is_err() {
            return false;
        }
    }
    true
}

/// Routes intents to the gateway that serves their venue.
#[derive(Default)]
pub struct Gateways {
    handles: Vec<GatewayHandle>,
    route: [Option<usize>; VENUE_COUNT],
}

impl Gateways {
    /// No gateways: every venue is unserved until [`Gateways::add`].
    pub fn new() -> Gateways {
        Gateways::default()
    }

    /// Adds a gateway serving `venues`; a venue served before moves to this one.
    pub fn add(&mut self, handle: GatewayHandle, venues: &[Venue]) {
        let idx = self.handles.len();
        self.handles.push(handle);
        for v in venues {
            self.route[v.index()] = Some(idx);
        }
    }

    /// Hands an intent to its venue's gateway. `Err` gives it back: the queue is full, or no
    /// gateway serves the venue (`Err` with the intent either way; see [`Gateways::serves`]).
    pub fn send(&self, intent: OrderIntent) -> Result<(), OrderIntent> {
        match self.route[intent.venue.index()] {
            Some(i) => self.handles[i].send(intent),
            None => Err(intent),
        }
    }

    /// Whether a gateway serves `venue`.
    pub fn serves(&self, venue: Venue) -> bool {
        self.route[venue.index()].is_some()
    }

    /// Stops every gateway thread.
    pub fn shutdown(self) {
        for h in self.handles {
            h.shutdown();
        }
    }
}

//! Shared rig of the live gateway tests: a simulated venue set, carry's universe over it, and
//! a [`LiveGateway`] built from carry's venue code pointed at it, with the credentials the
//! simulator accepts. Intents are built the way the engine builds them (client order ids from
//! `ClientOrderId::new`, quantities on the venue's lot, contracts where the venue counts them).
//!
//! The simulator checks every signature, timestamp and id as the venue documents; what it
//! accepted is read back from its own record (`accepted`), never from carry's view.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use carry::sim::{AcceptedOrder, SimConfig, SimVenues};
use carry_engine::decision::target::PairId;
use carry_engine::execution::client_id::{ClientOrderId, InstanceId};
use carry_engine::execution::order::{
    ExecReport, IntentAction, Leg, OrderIntent, Side, Step, TimeInForce,
};
use carry_engine::{Universe, Venue};
use carry_feeds::gateway::credentials::{Credentials, Secret};
use carry_feeds::gateway::http::{HttpClient, HttpTimeouts};
use carry_feeds::gateway::live::{ApiConfig, LiveGateway, LiveOptions, OrderApi};
use carry_feeds::gateway::Gateway;
use carry_feeds::transport::clock::{mono_ns, unix_ms};
use rust_decimal::Decimal;

#[path = "../sim_support/mod.rs"]
mod sim_support;

pub use sim_support::fast_config;

/// A simulator and carry's universe over it.
pub struct LiveRig {
    pub sim: SimVenues,
    pub universe: Arc<Universe>,
    pub instance: InstanceId,
}

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn v(s: &str) -> Venue {
    s.parse().unwrap()
}

impl LiveRig {
    /// Starts the simulator with `config` (see [`fast_config`]).
    pub fn start(config: SimConfig) -> LiveRig {
        let sim = SimVenues::start(config).expect("simulator starts");
        let universe = sim_support::universe(&sim);
        LiveRig {
            sim,
            universe,
            instance: InstanceId::new("T1").unwrap(),
        }
    }

    /// The credentials the simulated exchange of `venue` accepts.
    pub fn credentials(&self, venue: Venue) -> Credentials {
        let c = self.sim.credentials().of(venue.exchange);
        Credentials {
            key: Secret::new(c.api_key.clone()),
            secret: Secret::new(c.secret.clone()),
            passphrase: (!c.passphrase.is_empty()).then(|| Secret::new(c.passphrase.clone())),
        }
    }

    /// An [`ApiConfig`] with the simulator's credentials.
    pub fn api_config(&self, venue: Venue) -> ApiConfig {
        ApiConfig {
            credentials: self.credentials(venue),
            recv_window_ms: 5_000,
            demo_trading: false,
            margin_spot: false,
        }
    }

    /// A gateway for `api`, with its keep-alive client on the simulator's REST port.
    pub fn gateway<A: OrderApi>(&self, api: A) -> LiveGateway<A> {
        self.gateway_with(api, LiveOptions::default())
    }

    /// [`LiveRig::gateway`] with options.
    pub fn gateway_with<A: OrderApi>(&self, api: A, options: LiveOptions) -> LiveGateway<A> {
        let venue = api.venue();
        let http = HttpClient::new(
            HttpClient::agent(HttpTimeouts {
                connect: Duration::from_secs(2),
                request: Duration::from_secs(3),
            }),
            &self.sim.rest_url(venue),
            api.usage_headers(),
        );
        let symbols = self
            .universe
            .iter()
            .map(|(id, _)| self.universe.symbol(id, venue).map(str::to_string))
            .collect();
        LiveGateway::new(api, http, symbols, options, unix_ms)
    }

    /// The venue's touch for `instrument` (prices; sizes in the venue's order unit).
    pub fn touch(&self, venue: Venue, instrument: &str) -> carry::sim::market::LegTick {
        self.sim.touch(venue, instrument).expect("listed")
    }

    /// Base units per order unit on `venue` (the contract size, or 1).
    pub fn contract_size(&self, venue: Venue, instrument: &str) -> Decimal {
        let ins = self
            .sim
            .listing()
            .instruments()
            .iter()
            .find(|i| i.name == instrument)
            .expect("listed");
        ins.on(venue)
            .and_then(|l| l.spec.contract_size)
            .unwrap_or(Decimal::ONE)
    }

    /// An intent to place `qty_venue` (order units) of `instrument` on `venue` at `price`,
    /// with the client order id of (cycle, step, leg, attempt).
    #[allow(clippy::too_many_arguments)]
    pub fn intent(
        &self,
        venue: Venue,
        instrument: &str,
        side: Side,
        tif: TimeInForce,
        price: Decimal,
        qty_venue: Decimal,
        cycle: u32,
        attempt: u16,
    ) -> OrderIntent {
        let id = self.universe.find(instrument).expect("in the universe");
        let leg = if side == Side::Buy {
            Leg::Long
        } else {
            Leg::Short
        };
        OrderIntent {
            action: IntentAction::Place,
            client_order_id: ClientOrderId::new(&self.instance, cycle, Step::Entry, leg, attempt)
                .unwrap(),
            pair: PairId(0),
            cycle,
            step: Step::Entry,
            leg,
            attempt,
            venue,
            instrument: id,
            side,
            tif,
            reduce_only: false,
            price,
            qty_base: qty_venue * self.contract_size(venue, instrument),
            qty_venue,
        }
    }

    /// What the simulated venue accepted, from its own record.
    pub fn accepted(&self, venue: Venue) -> Vec<AcceptedOrder> {
        self.sim.accepted_orders(venue)
    }

    /// How many orders the venue accepted under `cid` (as the venue stores it: Gate adds `t-`).
    pub fn accepted_count(&self, venue: Venue, cid: &ClientOrderId) -> usize {
        self.accepted(venue)
            .iter()
            .filter(|o| o.client_id.trim_start_matches("t-") == cid.as_str())
            .count()
    }
}

/// Runs one gateway call and returns its reports.
pub fn call(gw: &mut dyn Gateway, intent: &OrderIntent) -> Vec<ExecReport> {
    let mut out = Vec::new();
    carry_feeds::gateway::dispatch(gw, intent, mono_ns(), &mut out);
    out
}

/// `intent` as a query.
pub fn as_query(intent: &OrderIntent) -> OrderIntent {
    OrderIntent {
        action: IntentAction::Query,
        ..*intent
    }
}

/// `intent` as a cancel.
pub fn as_cancel(intent: &OrderIntent) -> OrderIntent {
    OrderIntent {
        action: IntentAction::Cancel,
        ..*intent
    }
}

/// `intent` sent again under the same client order id.
pub fn as_resend(intent: &OrderIntent) -> OrderIntent {
    OrderIntent {
        action: IntentAction::Resend,
        ..*intent
    }
}

/// Polls `gw` until `done` holds for the reports collected so far (or `timeout` passes), and
/// returns them. Polling sleeps until the gateway's next due time, capped at 20 ms.
pub fn poll_until(
    gw: &mut dyn Gateway,
    timeout: Duration,
    mut done: impl FnMut(&[ExecReport]) -> bool,
) -> Vec<ExecReport> {
    let start = Instant::now();
    let mut out = Vec::new();
    while !done(&out) && start.elapsed() < timeout {
        let now = mono_ns();
        let next = gw.poll(now, &mut out);
        let wait = next
            .map(|t| Duration::from_nanos(t.saturating_sub(now)))
            .unwrap_or(Duration::from_millis(20))
            .min(Duration::from_millis(20));
        std::thread::sleep(wait);
    }
    out
}

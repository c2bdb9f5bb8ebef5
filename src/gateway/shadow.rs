//! Shadow mode: for the venues set to `shadow`, every order goes through the live gateway's
//! request building and signing (the venue's exact method, path, query and body, signed with
//! the real key at the venue's corrected clock) and is logged instead of sent; the paper venue
//! answers, so the engine trades on as it would in paper mode. A first day in production: the
//! operator sees what carry would have sent, without money at risk.
//!
//! The log line leaves out the signature and every header (the key travels in one). Venues not
//! in shadow mode pass straight to the paper venue.

use std::io::Write;

use carry_engine::execution::order::{ExecReport, IntentAction, OrderIntent};
use carry_engine::market::venue::VENUE_COUNT;
use carry_feeds::gateway::live::{Call, LiveVenue};
use carry_feeds::gateway::Gateway;

/// The paper venue, with live request signing logged for the venues in shadow mode.
pub struct ShadowDesk<G: Gateway> {
    paper: G,
    signers: Vec<Option<Box<dyn LiveVenue>>>,
    log: Box<dyn Write + Send>,
    line: String,
    logged: u64,
}

impl<G: Gateway> ShadowDesk<G> {
    /// `paper` answers every order; `signers[venue.index()]`, where present, builds and signs
    /// what would have been sent, written to `log` one line per request.
    pub fn new(
        paper: G,
        signers: Vec<Option<Box<dyn LiveVenue>>>,
        log: Box<dyn Write + Send>,
    ) -> Self {
        let mut signers = signers;
        signers.resize_with(VENUE_COUNT, || None);
        ShadowDesk {
            paper,
            signers,
            log,
            line: String::with_capacity(512),
            logged: 0,
        }
    }

    /// Requests logged so far.
    pub fn logged(&self) -> u64 {
        self.logged
    }

    fn shadow(&mut self, order: &OrderIntent) {
        let Some(signer) = self.signers[order.venue.index()].as_mut() else {
            return;
        };
        let call = match order.action {
            IntentAction::Place | IntentAction::Resend => Call::Place,
            IntentAction::Cancel => Call::Cancel,
            IntentAction::Query => Call::Query,
        };
        signer.describe_request(call, order, &mut self.line);
        self.logged += 1;
        let _ = writeln!(
            self.log,
            "carry: shadow {} {} {}: {}",
            order.venue,
            order.action.as_str(),
            order.client_order_id.as_str(),
            self.line
        );
    }
}

impl<G: Gateway> Gateway for ShadowDesk<G> {
    fn name(&self) -> &str {
        self.paper.name()
    }

    fn submit(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>) {
        self.shadow(order);
        self.paper.submit(order, now_ns, out);
    }

    fn cancel(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>) {
        self.shadow(order);
        self.paper.cancel(order, now_ns, out);
    }

    fn query(&mut self, order: &OrderIntent, now_ns: u64, out: &mut Vec<ExecReport>) {
        self.shadow(order);
        self.paper.query(order, now_ns, out);
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<ExecReport>) -> Option<u64> {
        self.paper.poll(now_ns, out)
    }
}

//! The venue side of market data, venue-independent part: a [`Parser`] that turns one venue's
//! frames into [`MarketEvent`]s (used by live sessions and by `carry decode`), the [`Session`]
//! that wraps it for the transport, and [`sessions`], the factory that builds the connections one
//! venue needs for every instrument the universe carries on it.
//!
//! Base URLs the factory expects (scheme, host and port only; the venue module appends the path):
//!
//! | venue | `ws_url` | paths appended |
//! |---|---|---|
//! | binance-perp | `wss://fstream.binance.com` | `/market/stream?streams=<s>@markPrice/..` and `/public/stream?streams=<s>@bookTicker/..` (two connections) |
//! | binance-spot | `wss://stream.binance.com:9443` | `/stream?streams=<s>@bookTicker/..` |
//! | bybit-perp / bybit-spot | `wss://stream.bybit.com` | `/v5/public/linear` / `/v5/public/spot` |
//! | okx-perp / okx-spot | `wss://ws.okx.com:8443` | `/ws/v5/public` |
//! | bitget-perp / bitget-spot | `wss://ws.bitget.com` | `/v2/ws/public` |
//! | gate-perp | `wss://fx-ws.gateio.ws` | `/v4/ws/usdt` |
//! | gate-spot | `wss://api.gateio.ws` | `/ws/v4/` |

use std::sync::Arc;
use std::time::Duration;

use carry_engine::{
    Exchange, Funding, InstrumentId, Market, MarketEvent, MarketEventKind, Quote, Universe, Venue,
};
use rust_decimal::Decimal;

use crate::json::{first_level, opt_millis, Fault, Json, Note, TapeParser};
use crate::session::{DropReason, Heartbeat, Inbound, RecvStamp, VenueSession, VenueSnapshot};
use crate::{binance, bitget, bybit, gate, okx};

/// The public websocket base URL of each venue (what [`sessions`] expects as `ws_url`).
pub const fn default_ws_url(venue: Venue) -> &'static str {
    match (venue.exchange, venue.market) {
        (Exchange::Binance, Market::Perp) => "wss://fstream.binance.com",
        (Exchange::Binance, Market::Spot) => "wss://stream.binance.com:9443",
        (Exchange::Bybit, _) => "wss://stream.bybit.com",
        (Exchange::Okx, _) => "wss://ws.okx.com:8443",
        (Exchange::Bitget, _) => "wss://ws.bitget.com",
        (Exchange::Gate, Market::Perp) => "wss://fx-ws.gateio.ws",
        (Exchange::Gate, Market::Spot) => "wss://api.gateio.ws",
    }
}

/// The REST base URL of each venue (what [`crate::rest::fetch_snapshot`] expects as `rest_url`).
pub const fn default_rest_url(venue: Venue) -> &'static str {
    match (venue.exchange, venue.market) {
        (Exchange::Binance, Market::Perp) => "https://fapi.binance.com",
        (Exchange::Binance, Market::Spot) => "https://api.binance.com",
        (Exchange::Bybit, _) => "https://api.bybit.com",
        (Exchange::Okx, _) => "https://www.okx.com",
        (Exchange::Bitget, _) => "https://api.bitget.com",
        (Exchange::Gate, _) => "https://api.gateio.ws",
    }
}

/// Whether the venue quotes book sizes in contracts rather than base units (OKX SWAP `ctVal`,
/// Gate futures `quanto_multiplier`).
pub const fn sizes_in_contracts(venue: Venue) -> bool {
    matches!(
        (venue.exchange, venue.market),
        (Exchange::Okx, Market::Perp) | (Exchange::Gate, Market::Perp)
    )
}

/// Builds the websocket sessions for `venue` covering every instrument `universe` has a symbol
/// for there, split over several connections where the venue limits streams per connection.
/// `ws_url` is the base URL from the table in this module's doc (a trailing `/` is ignored).
/// Quotes from venues that size in contracts are held back until [`VenueSession::apply_snapshot`]
/// has supplied the contract size: a quote in the wrong unit is worse than none.
pub fn sessions(venue: Venue, ws_url: &str, universe: Arc<Universe>) -> Vec<Box<dyn VenueSession>> {
    let symbols: Vec<&str> = universe
        .iter()
        .filter_map(|(id, _)| universe.symbol(id, venue))
        .collect();
    if symbols.is_empty() {
        return Vec::new();
    }
    let base = ws_url.trim().trim_end_matches('/');
    let plans = match venue.exchange {
        Exchange::Binance => binance::plans(venue, base, &symbols),
        Exchange::Bybit => bybit::plans(venue, base, &symbols),
        Exchange::Okx => okx::plans(venue, base, &symbols),
        Exchange::Bitget => bitget::plans(venue, base, &symbols),
        Exchange::Gate => gate::plans(venue, base, &symbols),
    };
    plans
        .into_iter()
        .map(|plan| {
            Box::new(Session {
                venue,
                url: plan.url,
                subscribe: plan.subscribe,
                heartbeat: plan.heartbeat,
                max_age: plan.max_age,
                parser: Parser::new(venue, Arc::clone(&universe), true),
            }) as Box<dyn VenueSession>
        })
        .collect()
}

/// One connection as a venue module lays it out.
pub(crate) struct Plan {
    pub url: String,
    pub subscribe: Vec<String>,
    pub heartbeat: Option<Heartbeat>,
    pub max_age: Option<Duration>,
}

/// A day: Binance and Bitget close every connection after 24 h.
pub(crate) const DAY: Duration = Duration::from_secs(24 * 3600);

/// One websocket connection to one venue: what to send, and the [`Parser`] for what comes back.
pub struct Session {
    venue: Venue,
    url: String,
    subscribe: Vec<String>,
    heartbeat: Option<Heartbeat>,
    max_age: Option<Duration>,
    parser: Parser,
}

impl VenueSession for Session {
    fn venue(&self) -> Venue {
        self.venue
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn subscribe_messages(&self) -> Vec<String> {
        self.subscribe.clone()
    }

    fn heartbeat(&self) -> Option<Heartbeat> {
        self.heartbeat.clone()
    }

    fn max_connection_age(&self) -> Option<Duration> {
        self.max_age
    }

    fn on_text(
        &mut self,
        frame: &mut [u8],
        recv: RecvStamp,
        sink: &mut dyn FnMut(MarketEvent),
    ) -> Result<Inbound, DropReason> {
        self.parser.parse(frame, recv, sink)
    }

    fn reset(&mut self) {
        self.parser.reset();
    }

    fn apply_snapshot(&mut self, snapshot: &VenueSnapshot) {
        self.parser.apply_snapshot(snapshot);
    }

    fn last_problem(&self) -> Option<&str> {
        self.parser.last_problem()
    }
}

/// What REST (or the operator) said about one instrument, applied to later messages.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct InstrumentMeta {
    pub interval_ms: Option<u64>,
    pub contract_size: Option<Decimal>,
    /// Next settlement from REST, for venues whose stream does not carry it (Gate); rolled
    /// forward by the interval as settlements pass.
    pub next_funding_ms: i64,
}

/// Per-venue state that must survive between frames.
pub(crate) enum VenueState {
    Binance,
    Bybit(bybit::State),
    Okx,
    Bitget,
    Gate,
}

/// Turns one venue's text frames into normalized events. Reuses its token buffer and keeps
/// per-instrument state in vectors indexed by [`InstrumentId`], so after warm-up a frame costs no
/// allocation. Symbols resolve through [`Universe::lookup`].
pub struct Parser {
    venue: Venue,
    universe: Arc<Universe>,
    json: TapeParser,
    meta: Vec<InstrumentMeta>,
    state: VenueState,
    require_contract_size: bool,
    problem: Note,
    unknown_symbol: Note,
}

impl Parser {
    /// A parser for `venue`. With `require_contract_size`, quotes of contract-sized venues are
    /// withheld until the instrument's contract size is known; without it they carry the venue's
    /// own number (what `carry decode` prints when it has no metadata).
    pub fn new(venue: Venue, universe: Arc<Universe>, require_contract_size: bool) -> Parser {
        let n = universe.len();
        let state = match venue.exchange {
            Exchange::Binance => VenueState::Binance,
            Exchange::Bybit => VenueState::Bybit(bybit::State::new(n)),
            Exchange::Okx => VenueState::Okx,
            Exchange::Bitget => VenueState::Bitget,
            Exchange::Gate => VenueState::Gate,
        };
        Parser {
            venue,
            universe,
            json: TapeParser::new(),
            meta: vec![InstrumentMeta::default(); n],
            state,
            require_contract_size,
            problem: Note::default(),
            unknown_symbol: Note::default(),
        }
    }

    pub fn venue(&self) -> Venue {
        self.venue
    }

    pub fn universe(&self) -> &Arc<Universe> {
        &self.universe
    }

    /// Swaps in a universe that extends the current one (ids already handed out must keep their
    /// meaning; `carry decode` appends instruments as it meets them).
    pub fn set_universe(&mut self, universe: Arc<Universe>) {
        let n = universe.len();
        self.meta
            .resize(n.max(self.meta.len()), InstrumentMeta::default());
        if let VenueState::Bybit(state) = &mut self.state {
            state.resize(n);
        }
        self.universe = universe;
    }

    /// Base units per contract for an instrument of a contract-sized venue.
    pub fn set_contract_size(&mut self, id: InstrumentId, size: Option<Decimal>) {
        if let Some(meta) = self.meta.get_mut(id.index()) {
            meta.contract_size = size;
        }
    }

    /// Takes intervals, contract sizes and (for Gate) the next settlement time from REST.
    pub fn apply_snapshot(&mut self, snapshot: &VenueSnapshot) {
        if snapshot.venue.is_some_and(|v| v != self.venue) {
            return;
        }
        for ins in &snapshot.instruments {
            let Some(meta) = self.meta.get_mut(ins.instrument.index()) else {
                continue;
            };
            if ins.interval_ms.is_some() {
                meta.interval_ms = ins.interval_ms;
            }
            if let Some(size) = ins.spec.and_then(|s| s.contract_size) {
                meta.contract_size = Some(size);
            }
            if let Some(MarketEventKind::Funding(f)) = ins.funding.map(|e| e.kind) {
                if f.next_funding_time_ms > 0 {
                    meta.next_funding_ms = f.next_funding_time_ms;
                }
            }
        }
    }

    /// Forgets what the previous connection said (Bybit snapshots); REST metadata stays.
    pub fn reset(&mut self) {
        if let VenueState::Bybit(state) = &mut self.state {
            state.reset();
        }
    }

    /// Why the last frame was dropped, in words (for the connection's log): the venue's own
    /// message for a refused subscription, the symbol for an unknown one, else the field.
    pub fn last_problem(&self) -> Option<&str> {
        (!self.problem.is_empty()).then(|| self.problem.as_str())
    }

    /// The symbol of the last frame dropped as [`DropReason::UnknownSymbol`].
    pub fn unknown_symbol(&self) -> Option<&str> {
        (!self.unknown_symbol.is_empty()).then(|| self.unknown_symbol.as_str())
    }

    /// Parses one text frame in place; events go to `sink` in message order.
    pub fn parse(
        &mut self,
        frame: &mut [u8],
        recv: RecvStamp,
        sink: &mut dyn FnMut(MarketEvent),
    ) -> Result<Inbound, DropReason> {
        self.problem.clear();
        self.unknown_symbol.clear();
        let text = frame.trim_ascii();
        if text.is_empty() {
            self.problem.set(format_args!("empty frame"));
            return Err(DropReason::Malformed);
        }
        // OKX and Bitget answer the text `ping` with a bare `pong`, which is not JSON.
        if text == b"pong" {
            return Ok(Inbound::Control);
        }
        let Parser {
            venue,
            universe,
            json,
            meta,
            state,
            require_contract_size,
            problem,
            unknown_symbol,
        } = self;
        let mut cx = Cx {
            venue: *venue,
            universe,
            meta,
            recv,
            sink,
            problem,
            unknown_symbol,
            require_contract_size: *require_contract_size,
            emitted: 0,
        };
        let result = json
            .parse(frame, |root| match state {
                VenueState::Binance => binance::parse(root, &mut cx),
                VenueState::Bybit(s) => bybit::parse(root, &mut cx, s),
                VenueState::Okx => okx::parse(root, &mut cx),
                VenueState::Bitget => bitget::parse(root, &mut cx),
                VenueState::Gate => gate::parse(root, &mut cx),
            })
            .and_then(|r| r);
        result.map_err(|fault| {
            if self.problem.is_empty() {
                self.problem.set(format_args!("{} {fault}", self.venue));
            }
            fault.reason
        })
    }
}

/// What a venue module's parse function works with for one frame.
pub(crate) struct Cx<'a> {
    pub venue: Venue,
    universe: &'a Universe,
    meta: &'a mut [InstrumentMeta],
    pub recv: RecvStamp,
    sink: &'a mut dyn FnMut(MarketEvent),
    problem: &'a mut Note,
    unknown_symbol: &'a mut Note,
    require_contract_size: bool,
    /// Events handed to the sink so far in this frame.
    pub emitted: usize,
}

impl Cx<'_> {
    /// The instrument of a venue symbol on this venue.
    pub fn instrument(&mut self, symbol: &str) -> Result<InstrumentId, Fault> {
        self.universe
            .lookup(self.venue, symbol.as_bytes())
            .ok_or_else(|| {
                self.unknown_symbol.set(format_args!("{symbol}"));
                self.problem
                    .set(format_args!("{} unknown symbol {symbol:?}", self.venue));
                Fault::new(DropReason::UnknownSymbol, "symbol")
            })
    }

    /// The event time: the venue's, else the receive time.
    pub fn ts(&self, venue_ms: Option<i64>) -> i64 {
        venue_ms.filter(|t| *t > 0).unwrap_or(self.recv.unix_ms)
    }

    /// Records a subscription the venue refused, with its own words, and returns the fault.
    pub fn subscribe_error(&mut self, code: Option<Json<'_, '_>>, msg: Option<&str>) -> Fault {
        let msg = msg.unwrap_or("(no message)");
        match code {
            Some(c) if c.as_str().is_some() => self.problem.set(format_args!(
                "{} subscription refused: code {} {msg}",
                self.venue,
                c.as_str().unwrap_or_default()
            )),
            Some(c) if c.as_i64().is_some() => self.problem.set(format_args!(
                "{} subscription refused: code {} {msg}",
                self.venue,
                c.as_i64().unwrap_or_default()
            )),
            _ => self
                .problem
                .set(format_args!("{} subscription refused: {msg}", self.venue)),
        }
        Fault::new(DropReason::SubscribeError, "subscription")
    }

    /// Records a venue notice that asks clients to reconnect.
    pub fn notice(&mut self, msg: Option<&str>) -> Inbound {
        self.problem.set(format_args!(
            "{} asks to reconnect: {}",
            self.venue,
            msg.unwrap_or("(no message)")
        ));
        Inbound::ReconnectRequested
    }

    pub fn meta(&mut self, id: InstrumentId) -> Option<&mut InstrumentMeta> {
        self.meta.get_mut(id.index())
    }

    /// Emits a funding event, filling the interval from REST where the message has none.
    pub fn funding(
        &mut self,
        id: InstrumentId,
        ts_ms: i64,
        mut funding: Funding,
    ) -> Result<(), Fault> {
        if !self.venue.is_perp() {
            return Err(Fault::new(
                DropReason::UnknownChannel,
                "funding on a spot market",
            ));
        }
        if funding.interval_ms.is_none() {
            funding.interval_ms = self.meta.get(id.index()).and_then(|m| m.interval_ms);
        }
        self.emit(id, ts_ms, MarketEventKind::Funding(funding));
        Ok(())
    }

    /// Emits a quote, converting contract sizes to base units where the venue quotes contracts.
    /// Without a known contract size (and `require_contract_size`), the quote is withheld.
    pub fn quote(&mut self, id: InstrumentId, ts_ms: i64, mut quote: Quote) -> Result<(), Fault> {
        if sizes_in_contracts(self.venue) {
            match self.meta.get(id.index()).and_then(|m| m.contract_size) {
                Some(size) => {
                    quote.bid_qty = quote
                        .bid_qty
                        .checked_mul(size)
                        .ok_or(Fault::bad_number("bid size"))?;
                    quote.ask_qty = quote
                        .ask_qty
                        .checked_mul(size)
                        .ok_or(Fault::bad_number("ask size"))?;
                }
                None if self.require_contract_size => return Ok(()),
                None => {}
            }
        }
        self.emit(id, ts_ms, MarketEventKind::Quote(quote));
        Ok(())
    }

    /// Emits the quote of a top of book whose sides may each be missing (an empty book side, a
    /// ticker without a BBO): nothing to quote unless both are there.
    pub fn quote_top(
        &mut self,
        id: InstrumentId,
        ts_ms: i64,
        bid: Option<(Decimal, Decimal)>,
        ask: Option<(Decimal, Decimal)>,
    ) -> Result<(), Fault> {
        let (Some((bid, bid_qty)), Some((ask, ask_qty))) = (bid, ask) else {
            return Ok(());
        };
        self.quote(
            id,
            ts_ms,
            Quote {
                bid,
                bid_qty,
                ask,
                ask_qty,
            },
        )
    }

    fn emit(&mut self, instrument: InstrumentId, ts_ms: i64, kind: MarketEventKind) {
        (self.sink)(MarketEvent {
            venue: self.venue,
            instrument,
            ts_ms,
            recv_ns: self.recv.mono_ns,
            kind,
        });
        self.emitted += 1;
    }

    /// The outcome of a data frame.
    pub fn data(&self) -> Inbound {
        Inbound::Data(self.emitted)
    }
}

/// Runs `each` over the elements of a venue's data array. An element with an unknown symbol does
/// not stop the others (all-market arrays carry symbols nobody subscribed); the frame still
/// reports [`DropReason::UnknownSymbol`] afterwards so that it is counted and `carry decode` can
/// learn the symbol. Any other fault stops the frame.
pub(crate) fn for_each_item<'t, 'i>(
    array: Json<'t, 'i>,
    cx: &mut Cx<'_>,
    mut each: impl FnMut(Json<'t, 'i>, &mut Cx<'_>) -> Result<(), Fault>,
) -> Result<Inbound, Fault> {
    let mut unknown = None;
    for item in array.items() {
        match each(item, cx) {
            Ok(()) => {}
            Err(f) if f.reason == DropReason::UnknownSymbol => unknown = unknown.or(Some(f)),
            Err(f) => return Err(f),
        }
    }
    match unknown {
        Some(f) => Err(f),
        None => Ok(cx.data()),
    }
}

/// The push envelope OKX v5 and Bitget v2 share, `{"arg": {"channel", "instId", ..}, "data":
/// [..]}`: the channel, the envelope's `instId` (items may name their own) and the data array.
pub(crate) fn arg_envelope<'t, 'i>(
    arg: Option<Json<'t, 'i>>,
    data: Option<Json<'t, 'i>>,
) -> Result<(&'i str, Option<&'i str>, Json<'t, 'i>), Fault> {
    let arg = arg.ok_or(Fault::malformed("neither event nor arg"))?;
    let (mut channel, mut inst) = (None, None);
    for (key, value) in arg.fields() {
        match key {
            "channel" => channel = value.as_str(),
            "instId" => inst = value.as_str(),
            _ => {}
        }
    }
    let data = data.ok_or(Fault::missing("data"))?;
    if !data.is_array() {
        return Err(Fault::malformed("data is not an array"));
    }
    Ok((channel.ok_or(Fault::missing("arg.channel"))?, inst, data))
}

/// One element of an OKX (`bbo-tbt`, `books5`) or Bitget (`books1`/`5`/`15`) book channel; the
/// two venues send the same shape: `{"instId", "bids": [[price, size, ..], ..], "asks": [..],
/// "ts"}`, the symbol falling back to the envelope's `arg.instId` and the time to `frame_ts`. An
/// empty side (OKX sends empty books as keep-alives) quotes nothing.
pub(crate) fn book_item(
    item: Json<'_, '_>,
    arg_inst: Option<&str>,
    frame_ts: Option<i64>,
    cx: &mut Cx<'_>,
) -> Result<(), Fault> {
    let mut inst = arg_inst;
    let (mut asks, mut bids, mut ts) = (None, None, None);
    for (key, value) in item.fields() {
        match key {
            "instId" => inst = value.as_str().or(inst),
            "asks" => asks = Some(value),
            "bids" => bids = Some(value),
            "ts" => ts = Some(value),
            _ => {}
        }
    }
    let id = cx.instrument(inst.ok_or(Fault::missing("instId"))?)?;
    let bid = first_level(bids.ok_or(Fault::missing("bids"))?, "bids")?;
    let ask = first_level(asks.ok_or(Fault::missing("asks"))?, "asks")?;
    let ts = cx.ts(opt_millis(ts, "ts")?.or(frame_ts));
    cx.quote_top(id, ts, bid, ask)
}

/// Splits `items` into chunks of at most `n` (at least one per chunk).
pub(crate) fn chunks<'a, 'b>(items: &'a [&'b str], n: usize) -> std::slice::Chunks<'a, &'b str> {
    items.chunks(n.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_sized_venues_are_okx_and_gate_perps() {
        let sized: Vec<&str> = Venue::ALL
            .iter()
            .filter(|v| sizes_in_contracts(**v))
            .map(|v| v.as_str())
            .collect();
        assert_eq!(sized, ["okx-perp", "gate-perp"]);
    }

    #[test]
    fn no_sessions_for_a_venue_without_instruments() {
        let mut u = Universe::new();
        let id = u.add("BTC-USDT").unwrap();
        let okx: Venue = "okx-perp".parse().unwrap();
        u.set_symbol(id, okx, "BTC-USDT-SWAP");
        let u = Arc::new(u);
        assert!(sessions("okx-spot".parse().unwrap(), "wss://x", Arc::clone(&u)).is_empty());
        assert_eq!(sessions(okx, "wss://x", u).len(), 1);
    }
}

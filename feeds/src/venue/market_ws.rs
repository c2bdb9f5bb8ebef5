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

use crate::feed::session::VenueSession;
use crate::feed::snapshot::VenueSnapshot;
use crate::json::cursor::{Code, Cursor, Dec, Int, Level, Scanner, Slot};
use crate::json::strict::Strict;
use crate::json::{Fault, Note};
use crate::transport::session::{DropReason, Heartbeat, Inbound, RecvStamp, WsSession};
use crate::venue::{
    binance::market_ws as binance, bitget::market_ws as bitget, bybit::market_ws as bybit,
    gate::market_ws as gate, okx::market_ws as okx,
};

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

/// The REST base URL of each venue (what [`crate::venue::market_rest::fetch_snapshot`] expects as `rest_url`).
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

impl WsSession for Session {
    type Output = MarketEvent;

    fn venue(&self) -> Venue {
        self.venue
    }

    fn url(&self) -> &str {
        &self.url
    }

    /// The plan's subscriptions: public market channels need no time or signature.
    fn on_connect(&mut self, _now_unix_ms: i64) -> Vec<String> {
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

    fn last_problem(&self) -> Option<&str> {
        self.parser.last_problem()
    }
}

impl VenueSession for Session {
    fn apply_snapshot(&mut self, snapshot: &VenueSnapshot) {
        self.parser.apply_snapshot(snapshot);
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

/// Per-venue state that must survive between frames (and buffers reused frame after frame).
pub(crate) enum VenueState {
    Binance(binance::State),
    Bybit(bybit::State),
    /// The elements of the push being read.
    Okx(Vec<Item>),
    Bitget(Vec<Item>),
    Gate(Vec<gate::Item>),
}

/// Turns one venue's text frames into normalized events: the frame is read in full with a
/// [`crate::json::cursor::Cursor`] (so a frame that is not JSON is dropped before anything is acted
/// on), then the venue module turns what it read into events. Reuses its quote bitmask, element
/// vectors and scratch text, and keeps per-instrument state in vectors indexed by
/// [`InstrumentId`], so after warm-up a frame costs no allocation. Symbols resolve through
/// [`Universe::lookup`].
pub struct Parser {
    venue: Venue,
    universe: Arc<Universe>,
    scanner: Scanner,
    meta: Vec<InstrumentMeta>,
    state: VenueState,
    require_contract_size: bool,
    problem: Note,
    unknown_symbol: Note,
    /// Text kept from the frame being read until it is acted on (see [`Saved`]).
    scratch: Vec<u8>,
    /// Frames read by each reader, by [`Reader`] order.
    read_by: [u64; 3],
}

/// Which of a venue module's readers read a frame. The fast paths read the compact frames
/// venues send and decline anything else, which the next reader then reads (see `strict.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// A high-rate stream's frame with its fields in the order the venue sends them, each
    /// key checked by one compare.
    InOrder,
    /// A compact frame of a known shape, whatever the order of its keys.
    Keyed,
    /// The general cursor: any JSON.
    General,
}

impl Parser {
    /// A parser for `venue`. With `require_contract_size`, quotes of contract-sized venues are
    /// withheld until the instrument's contract size is known; without it they carry the venue's
    /// own number (what `carry decode` prints when it has no metadata).
    pub fn new(venue: Venue, universe: Arc<Universe>, require_contract_size: bool) -> Parser {
        let n = universe.len();
        let state = match venue.exchange {
            Exchange::Binance => VenueState::Binance(binance::State::default()),
            Exchange::Bybit => VenueState::Bybit(bybit::State::new(n)),
            Exchange::Okx => VenueState::Okx(Vec::with_capacity(4)),
            Exchange::Bitget => VenueState::Bitget(Vec::with_capacity(4)),
            Exchange::Gate => VenueState::Gate(Vec::with_capacity(4)),
        };
        Parser {
            venue,
            universe,
            scanner: Scanner::new(),
            meta: vec![InstrumentMeta::default(); n],
            state,
            require_contract_size,
            problem: Note::default(),
            unknown_symbol: Note::default(),
            scratch: Vec::with_capacity(256),
            read_by: [0; 3],
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

    /// How many frames `reader` has read, of all parsed. The fast readers take the compact
    /// frames venues send on the streams carry subscribes to and decline anything else
    /// (whitespace, escapes, replies, shapes they do not know, keyed frames longer than
    /// [`crate::FAST_PATH_MAX_LEN`]), which the general cursor then reads.
    pub fn frames_read_by(&self, reader: Reader) -> u64 {
        self.read_by[reader as usize]
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
            scanner,
            meta,
            state,
            require_contract_size,
            problem,
            unknown_symbol,
            scratch,
            read_by,
        } = self;
        scratch.clear();
        let mut cx = Cx {
            venue: *venue,
            universe,
            meta,
            recv,
            sink,
            problem,
            unknown_symbol,
            scratch,
            require_contract_size: *require_contract_size,
            emitted: 0,
            read_by: Reader::General,
        };
        let result = match state {
            VenueState::Binance(s) => binance::parse(scanner, frame, &mut cx, s),
            VenueState::Bybit(s) => bybit::parse(scanner, frame, &mut cx, s),
            VenueState::Okx(items) => okx::parse(scanner, frame, &mut cx, items),
            VenueState::Bitget(items) => bitget::parse(scanner, frame, &mut cx, items),
            VenueState::Gate(items) => gate::parse(scanner, frame, &mut cx, items),
        };
        read_by[cx.read_by as usize] += 1;
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
    scratch: &'a mut Vec<u8>,
    require_contract_size: bool,
    /// Events handed to the sink so far in this frame.
    pub emitted: usize,
    /// Which reader read the frame ([`Cx::attempt`]).
    read_by: Reader,
}

/// Text copied out of the frame being read, to be used once it has been read in full (the
/// symbol of an unknown instrument for the log, a venue's message): a range of the parser's
/// scratch buffer, so that what a venue module keeps per element borrows nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Saved {
    start: u32,
    len: u32,
}

/// A symbol as read: resolved while reading (the lookup has no side effect), reported only if
/// the message turns out to need it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Sym {
    #[default]
    Absent,
    Known(InstrumentId),
    Unknown(Saved),
}

impl Sym {
    pub fn is_absent(self) -> bool {
        self == Sym::Absent
    }

    /// This symbol, else `fallback`.
    pub fn or(self, fallback: Sym) -> Sym {
        if self.is_absent() {
            fallback
        } else {
            self
        }
    }
}

impl Cx<'_> {
    /// Resolves a venue symbol read from the frame.
    #[inline]
    pub fn symbol(&mut self, text: &[u8]) -> Sym {
        match self.universe.lookup(self.venue, text) {
            Some(id) => Sym::Known(id),
            None => Sym::Unknown(self.save(text)),
        }
    }

    /// Runs one of a venue module's fast paths (see `strict.rs`) over the frame: what it
    /// read, noted as read by `reader`; `None` when it declined, with the text it kept for the
    /// log dropped, so that the next reader starts from the `Cx` the frame started with.
    #[inline(always)]
    pub fn attempt<T>(
        &mut self,
        reader: Reader,
        fast: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<T> {
        let kept = self.scratch.len();
        let read = fast(self);
        match read {
            Some(_) => self.read_by = reader,
            None => self.scratch.truncate(kept),
        }
        read
    }

    /// Keeps `text` until the frame has been read.
    pub fn save(&mut self, text: &[u8]) -> Saved {
        let start = self.scratch.len();
        self.scratch.extend_from_slice(text);
        // Frames are far below 4 GiB; a range that does not fit reads back as "".
        Saved {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(text.len()).unwrap_or(0),
        }
    }

    /// The instrument of a symbol read from the frame; an unknown one is named in the log.
    pub fn resolve(&mut self, sym: Sym, field: &'static str) -> Result<InstrumentId, Fault> {
        match sym {
            Sym::Known(id) => Ok(id),
            Sym::Absent => Err(Fault::missing(field)),
            Sym::Unknown(saved) => {
                let symbol = saved_text(self.scratch, saved);
                self.unknown_symbol.set(format_args!("{symbol}"));
                self.problem
                    .set(format_args!("{} unknown symbol {symbol:?}", self.venue));
                Err(Fault::new(DropReason::UnknownSymbol, "symbol"))
            }
        }
    }

    /// Drops what [`Cx::resolve`] noted about unknown symbols in this frame.
    fn forget_unknown_symbols(&mut self) {
        self.unknown_symbol.clear();
        self.problem.clear();
    }

    /// Records a subscription the venue refused, with its code and message (kept with
    /// [`Cx::save`]), and returns the fault.
    pub fn refused(&mut self, code: Code<'_>, msg: Option<Saved>) -> Fault {
        let msg = msg.map_or("(no message)", |m| saved_text(self.scratch, m));
        match code {
            Code::Text(c) => self.problem.set(format_args!(
                "{} subscription refused: code {} {msg}",
                self.venue,
                text(c)
            )),
            Code::Num(c) => self.problem.set(format_args!(
                "{} subscription refused: code {c} {msg}",
                self.venue
            )),
            Code::None => self
                .problem
                .set(format_args!("{} subscription refused: {msg}", self.venue)),
        }
        Fault::new(DropReason::SubscribeError, "subscription")
    }

    /// Records a venue notice that asks clients to reconnect, in the venue's words (kept with
    /// [`Cx::save`]) or else `default`.
    pub fn reconnect_notice(&mut self, msg: Option<Saved>, default: &str) -> Inbound {
        let msg = msg.map_or(default, |m| saved_text(self.scratch, m));
        self.problem
            .set(format_args!("{} asks to reconnect: {msg}", self.venue));
        Inbound::ReconnectRequested
    }

    /// The event time: the venue's, else the receive time.
    pub fn ts(&self, venue_ms: Option<i64>) -> i64 {
        venue_ms.filter(|t| *t > 0).unwrap_or(self.recv.unix_ms)
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
                    quote.bid_qty =
                        mul_exact(quote.bid_qty, size).ok_or(Fault::bad_number("bid size"))?;
                    quote.ask_qty =
                        mul_exact(quote.ask_qty, size).ok_or(Fault::bad_number("ask size"))?;
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

/// `a × b`, exactly what [`Decimal::checked_mul`] gives (value and scale), without its general
/// multiply when both mantissas fit 64 bits and the product needs no rounding: a size in
/// contracts times a contract size, on every quote of a contract-sized venue.
#[inline]
pub(crate) fn mul_exact(a: Decimal, b: Decimal) -> Option<Decimal> {
    let (x, y) = (a.unpack(), b.unpack());
    if x.hi == 0 && y.hi == 0 {
        let (mx, my) = (
            u64::from(x.mid) << 32 | u64::from(x.lo),
            u64::from(y.mid) << 32 | u64::from(y.lo),
        );
        if mx == 0 || my == 0 {
            // What the general multiply returns for any zero: zero at scale 0.
            return Some(Decimal::ZERO);
        }
        let (product, scale) = (u128::from(mx) * u128::from(my), x.scale + y.scale);
        if scale <= 28 && product >> 96 == 0 {
            return Some(Decimal::from_parts(
                product as u32,
                (product >> 32) as u32,
                (product >> 64) as u32,
                x.negative != y.negative,
                scale,
            ));
        }
    }
    a.checked_mul(b)
}

/// A request's `error`, unless absent or `null`: `{"code": .., MESSAGE_KEY: ..}` (Binance names
/// the message `msg`, Gate `message`). Out of line, on a copy of the cursor that it returns (see
/// [`Cursor`]).
#[allow(clippy::type_complexity)]
#[inline(never)]
pub(crate) fn read_error<'a>(
    mut cur: Cursor<'a>,
    cx: &mut Cx<'_>,
    message_key: &[u8],
) -> (Cursor<'a>, Option<(Code<'a>, Option<Saved>)>) {
    if cur.peek() == Some(b'n') {
        cur.skip();
        return (cur, None);
    }
    let (mut code, mut message) = (Code::None, None);
    if cur.object() {
        while let Some(key) = cur.next_key() {
            if key == b"code" {
                code = cur.code();
            } else if key == message_key {
                message = cur.str().map(|m| cx.save(m));
            } else {
                cur.skip();
            }
        }
    } else {
        cur.skip();
    }
    (cur, Some((code, message)))
}

/// A string read from a frame as `&str` (the cursor checked it is UTF-8).
pub(crate) fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

fn saved_text(scratch: &[u8], saved: Saved) -> &str {
    let start = saved.start as usize;
    text(
        scratch
            .get(start..start + saved.len as usize)
            .unwrap_or_default(),
    )
}

/// Runs `each` over the elements a venue module read from a data array. An element with an
/// unknown symbol does not stop the others (all-market arrays carry symbols nobody subscribed);
/// the frame still reports [`DropReason::UnknownSymbol`] afterwards so that it is counted and
/// `carry decode` can learn the symbol. Any other fault stops the frame.
pub(crate) fn each_read<T>(
    items: &[T],
    cx: &mut Cx<'_>,
    mut each: impl FnMut(&T, &mut Cx<'_>) -> Result<(), Fault>,
) -> Result<Inbound, Fault> {
    let mut unknown = None;
    for item in items {
        match each(item, cx) {
            Ok(()) => {}
            Err(f) if f.reason == DropReason::UnknownSymbol => unknown = unknown.or(Some(f)),
            Err(f) => {
                // The frame is dropped for this fault, so the log names it, not a symbol an
                // earlier element did not know.
                cx.forget_unknown_symbols();
                return Err(f);
            }
        }
    }
    match unknown {
        Some(f) => Err(f),
        None => Ok(cx.data()),
    }
}

/// One element of an OKX or Bitget push's `data` array as read: the fields any of their
/// channels carries (funding, a ticker's BBO, a book's sides), kept as sent until the channel is
/// known.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Item {
    pub inst: Sym,
    pub rate: Dec,
    pub predicted: Dec,
    pub funding_time: Int,
    pub next_funding: Int,
    pub mark: Dec,
    pub index: Dec,
    pub bid: Dec,
    pub bid_qty: Dec,
    pub ask: Dec,
    pub ask_qty: Dec,
    pub bids: Level,
    pub asks: Level,
    pub ts: Int,
}

/// A push's `arg`: the channel and the envelope's `instId` (items may name their own).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Arg<'a> {
    pub channel: Option<&'a [u8]>,
    pub inst: Option<&'a [u8]>,
}

impl<'a> Arg<'a> {
    #[inline(always)]
    fn slot(&mut self, key: &[u8]) -> Slot<'_, 'a> {
        match key {
            b"channel" => Slot::Str(&mut self.channel),
            b"instId" => Slot::Str(&mut self.inst),
            _ => Slot::Skip,
        }
    }
}

/// The symbols of an element that holds either a ticker or a book (Bybit `data`, Gate
/// `result`), kept as slices of the frame while it is read: each is resolved once the element
/// has been read.
#[derive(Default)]
pub(crate) struct SymbolText<'a> {
    /// The ticker's symbol field (Bybit `symbol`, Gate `contract`).
    pub ticker: Option<&'a [u8]>,
    /// The book's (`s`).
    pub book: Option<&'a [u8]>,
}

impl SymbolText<'_> {
    /// The ticker's symbol and the book's, resolved.
    #[inline(always)]
    pub fn resolve(&self, cx: &mut Cx<'_>) -> (Sym, Sym) {
        let mut resolve = |text: Option<&[u8]>| text.map_or(Sym::Absent, |s| cx.symbol(s));
        (resolve(self.ticker), resolve(self.book))
    }
}

/// The push envelope OKX v5 and Bitget v2 share, `{"arg": {"channel", "instId", ..}, "data":
/// [..]}`, with the fields of their control messages, as read. The elements of `data` go to a
/// reused vector.
#[derive(Default)]
pub(crate) struct Push<'a> {
    pub arg: Option<Arg<'a>>,
    /// `None` when absent, `Some(false)` when not an array.
    pub data: Option<bool>,
    pub event: Option<&'a [u8]>,
    pub code: Code<'a>,
    pub msg: Option<Saved>,
    /// The envelope's time (Bitget).
    pub ts: Int,
}

impl<'a> Push<'a> {
    /// Reads a whole push frame; `slot` says where a field of a data element goes (the
    /// element's `instId` text goes to the second place).
    #[inline(always)]
    pub fn read(
        mut cur: Cursor<'a>,
        cx: &mut Cx<'_>,
        items: &mut Vec<Item>,
        slot: impl for<'s> Fn(&[u8], &'s mut Item, &'s mut Option<&'a [u8]>) -> Slot<'s, 'a>,
    ) -> Result<Push<'a>, Fault> {
        items.clear();
        cur.root_object()?;
        let mut push = Push::default();
        let mut msg = None;
        while let Some(key) = cur.next_key() {
            if let Some(root) = push.slot(key, &mut msg) {
                cur.read(root);
                continue;
            }
            match key {
                b"arg" => {
                    let mut arg = Arg::default();
                    if cur.object() {
                        while let Some(key) = cur.next_key() {
                            cur.read(arg.slot(key));
                        }
                    } else {
                        cur.skip();
                    }
                    push.arg = Some(arg);
                }
                b"data" => {
                    let array = cur.array();
                    if array {
                        items.clear();
                        while cur.next_item() {
                            items.push(Item::default());
                            let item = items.last_mut().ok_or(Fault::malformed("data"))?;
                            let mut inst = None;
                            if cur.object() {
                                while let Some(key) = cur.next_key() {
                                    cur.read(slot(key, item, &mut inst));
                                }
                            } else {
                                cur.skip();
                            }
                            item.inst = inst.map_or(Sym::Absent, |s| cx.symbol(s));
                        }
                    } else {
                        cur.skip();
                    }
                    push.data = Some(array);
                }
                _ => cur.skip(),
            }
        }
        cur.end()?;
        push.msg = msg.map(|m| cx.save(m));
        Ok(push)
    }

    /// The fast path of [`Push::read`] (see [`Strict`]): a push whose `arg` is an object and
    /// whose `data` is an array of objects, read as [`Push::read`] reads it. `None` for
    /// anything else; run it through [`Cx::attempt`].
    #[inline(always)]
    pub fn fast(
        frame: &'a [u8],
        cx: &mut Cx<'_>,
        items: &mut Vec<Item>,
        slot: impl for<'s> Fn(&[u8], &'s mut Item, &'s mut Option<&'a [u8]>) -> Slot<'s, 'a>,
    ) -> Option<Push<'a>> {
        items.clear();
        let mut s = Strict::new(frame)?;
        let mut push = Push::default();
        let mut msg = None;
        s.object()?;
        while let Some(key) = s.next_key()? {
            if let Some(root) = push.slot(key, &mut msg) {
                s.read(root)?;
                continue;
            }
            match key {
                b"arg" => {
                    let mut arg = Arg::default();
                    s.object()?;
                    while let Some(key) = s.next_key()? {
                        s.read(arg.slot(key))?;
                    }
                    push.arg = Some(arg);
                }
                b"data" => {
                    s.expect(b"[")?;
                    items.clear();
                    s.items(|s| {
                        s.object()?;
                        items.push(Item::default());
                        let item = items.last_mut()?;
                        let mut inst = None;
                        while let Some(key) = s.next_key()? {
                            s.read(slot(key, item, &mut inst))?;
                        }
                        item.inst = inst.map_or(Sym::Absent, |s| cx.symbol(s));
                        Some(())
                    })?;
                    push.data = Some(true);
                }
                _ => s.skip()?,
            }
        }
        s.end()?;
        push.msg = msg.map(|m| cx.save(m));
        Some(push)
    }

    /// A push read by the first fast reader that takes it, [`Push::book_in_order`] then
    /// [`Push::fast`]; `None` when both decline, and the caller reads the frame with
    /// [`Push::read`] (which needs the frame mutable, so it cannot be called from here while
    /// a declined reader's borrow of the frame is live).
    #[inline(always)]
    pub fn fast_readers(
        frame: &'a [u8],
        cx: &mut Cx<'_>,
        items: &mut Vec<Item>,
        slot: impl for<'s> Fn(&[u8], &'s mut Item, &'s mut Option<&'a [u8]>) -> Slot<'s, 'a> + Copy,
    ) -> Option<Push<'a>> {
        cx.attempt(Reader::InOrder, |cx| {
            Push::book_in_order(frame, cx, items, slot)
        })
        .or_else(|| cx.attempt(Reader::Keyed, |cx| Push::fast(frame, cx, items, slot)))
    }

    /// A book push (OKX `bbo-tbt`, Bitget `books1`) with its fields in the order the venues
    /// send them, each key checked by one compare together with the punctuation around it:
    /// `{["action":..,]"arg":{["instType":..,]"channel":..,"instId":..},"data":[{"asks":[..],
    /// "bids":[..],..}],..}`, the element's other fields and the envelope's last ones read by
    /// key. Read as [`Push::read`] reads it; `None` for anything else.
    #[inline(always)]
    pub fn book_in_order(
        frame: &'a [u8],
        cx: &mut Cx<'_>,
        items: &mut Vec<Item>,
        slot: impl for<'s> Fn(&[u8], &'s mut Item, &'s mut Option<&'a [u8]>) -> Slot<'s, 'a>,
    ) -> Option<Push<'a>> {
        let mut s = Strict::in_order(frame);
        s.expect(b"{\"")?;
        if s.eat(b"action\":") {
            s.skip()?;
            s.expect(b",\"")?;
        }
        s.expect(b"arg\":{\"")?;
        if s.eat(b"instType\":") {
            s.skip()?;
            s.expect(b",\"")?;
        }
        let mut arg = Arg::default();
        s.expect(b"channel\":")?;
        s.read(Slot::Str(&mut arg.channel))?;
        s.expect(b",\"instId\":")?;
        s.read(Slot::Str(&mut arg.inst))?;
        s.expect(b"},\"data\":[{\"asks\":")?;
        items.clear();
        items.push(Item::default());
        let item = items.last_mut()?;
        s.read(Slot::Level(&mut item.asks))?;
        s.expect(b",\"bids\":")?;
        s.read(Slot::Level(&mut item.bids))?;
        let mut inst = None;
        while let Some(key) = s.next_key()? {
            s.read(slot(key, item, &mut inst))?;
        }
        item.inst = inst.map_or(Sym::Absent, |s| cx.symbol(s));
        s.expect(b"]")?;
        let mut push = Push {
            arg: Some(arg),
            data: Some(true),
            ..Push::default()
        };
        let mut msg = None;
        while let Some(key) = s.next_key()? {
            match push.slot(key, &mut msg) {
                Some(root) => s.read(root)?,
                // A second `arg` or `data` replaces the first: for the keyed readers.
                None if matches!(key, b"arg" | b"data") => return None,
                None => s.skip()?,
            }
        }
        s.end()?;
        push.msg = msg.map(|m| cx.save(m));
        Some(push)
    }

    /// Where a top-level key's value goes if it is a plain field.
    #[inline(always)]
    fn slot<'s>(&'s mut self, key: &[u8], msg: &'s mut Option<&'a [u8]>) -> Option<Slot<'s, 'a>> {
        Some(match key {
            b"event" => Slot::Str(&mut self.event),
            b"code" => Slot::Code(&mut self.code),
            b"msg" => Slot::Str(msg),
            b"ts" => Slot::Int(&mut self.ts),
            _ => return None,
        })
    }

    /// The channel and the envelope's symbol of a data push.
    pub fn channel(&self, cx: &mut Cx<'_>) -> Result<(&'a [u8], Sym), Fault> {
        let arg = self.arg.ok_or(Fault::malformed("neither event nor arg"))?;
        match self.data {
            None => return Err(Fault::missing("data")),
            Some(false) => return Err(Fault::malformed("data is not an array")),
            Some(true) => {}
        }
        let channel = arg.channel.ok_or(Fault::missing("arg.channel"))?;
        Ok((channel, arg.inst.map_or(Sym::Absent, |s| cx.symbol(s))))
    }
}

/// One element of an OKX (`bbo-tbt`, `books5`) or Bitget (`books1`/`5`/`15`) book channel; the
/// two venues send the same shape: `{"instId", "bids": [[price, size, ..], ..], "asks": [..],
/// "ts"}`, the symbol falling back to the envelope's `arg.instId` and the time to `frame_ts`. An
/// empty side (OKX sends empty books as keep-alives) quotes nothing.
pub(crate) fn book_read(
    item: &Item,
    arg_inst: Sym,
    frame_ts: Option<i64>,
    cx: &mut Cx<'_>,
) -> Result<(), Fault> {
    let id = cx.resolve(item.inst.or(arg_inst), "instId")?;
    let bid = item.bids.required("bids")?;
    let ask = item.asks.required("asks")?;
    let ts = cx.ts(item.ts.opt_millis("ts")?.or(frame_ts));
    cx.quote_top(id, ts, bid, ask)
}

/// A `(price, size)` level from two fields that may each be absent, `null` or `""` (a ticker's
/// best bid or ask); `None` unless both have a value. Both are read, so a bad number in either is
/// a fault.
pub(crate) fn level(
    price: Dec,
    size: Dec,
    price_field: &'static str,
    size_field: &'static str,
) -> Result<Option<(Decimal, Decimal)>, Fault> {
    Ok(price.optional(price_field)?.zip(size.optional(size_field)?))
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

    /// Same value and same scale as `checked_mul`, and `None` where it is `None`.
    fn agrees_with_checked_mul(a: Decimal, b: Decimal) {
        let (fast, general) = (mul_exact(a, b), a.checked_mul(b));
        assert_eq!(fast, general, "{a} × {b}");
        if let (Some(f), Some(g)) = (fast, general) {
            assert_eq!(f.scale(), g.scale(), "{a} × {b}");
            assert_eq!(f.to_string(), g.to_string(), "{a} × {b}");
        }
    }

    #[test]
    fn exact_multiply_edges() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        for (a, b) in [
            ("37000", "0.0001"),
            ("47061", "0.01"),
            ("0.5", "10"),
            ("0", "0.001"),
            ("-3", "0.000"),
            ("-3", "0.25"),
            ("123.456", "1.000"),
            // Scales past 28: rounded by the general multiply.
            ("0.00000000000001", "0.000000000000001"),
            // Products past 96 bits, and mantissas past 64 bits.
            ("9223372036854775807", "9223372036854775807"),
            ("79228162514264337593543950335", "1"),
            ("79228162514264337593543950335", "2"),
        ] {
            agrees_with_checked_mul(d(a), d(b));
        }
    }

    proptest::proptest! {
        #[test]
        fn exact_multiply_is_checked_mul(
            ma in proptest::prelude::any::<i64>(), sa in 0u32..=28,
            mb in proptest::prelude::any::<i64>(), sb in 0u32..=28,
            wide in proptest::prelude::any::<u32>(),
        ) {
            agrees_with_checked_mul(Decimal::new(ma, sa), Decimal::new(mb, sb));
            // A mantissa past 64 bits takes the general multiply.
            let big = Decimal::from_parts(ma as u32, mb as u32, wide, ma < 0, sa);
            agrees_with_checked_mul(big, Decimal::new(mb, sb));
            agrees_with_checked_mul(Decimal::new(ma, sa), big);
        }
    }
}

//! The market data side of every venue, venue-independent part: [`sessions`], which builds the
//! connections one venue needs for every instrument the universe carries on it; the market
//! session each connection runs; a [`Parser`] that turns one venue's frames into
//! [`MarketEvent`]s outside a session (`carry decode`, tests, benches); and `Cx`, what an
//! exchange's frame reader works with while it reads one frame.
//!
//! What differs per exchange comes from its folder through the adapter table
//! ([`crate::venue::adapter`]): the connection plans (URLs, subscriptions, heartbeats, limits)
//! and the `ExchangeReader` that reads its frames. A session holds its exchange's reader by
//! type, so a frame costs the one dynamic call the transport makes into the session and no more.

use std::sync::Arc;
use std::time::Duration;

use carry_engine::{Funding, InstrumentId, MarketEvent, MarketEventKind, Quote, Universe, Venue};
use rust_decimal::Decimal;

use crate::feed::session::VenueSession;
use crate::feed::snapshot::VenueSnapshot;
use crate::json::cursor::{Code, Cursor, Dec, Scanner};
use crate::json::{Fault, Note};
use crate::transport::session::{DropReason, Heartbeat, Inbound, RecvStamp, WsSession};
use crate::venue::{adapter, sizes_in_contracts};

/// Builds the websocket sessions for `venue` covering every instrument `universe` has a symbol
/// for there, split over several connections where the venue limits streams per connection.
/// `ws_url` is the venue's base URL, scheme, host and port ([`crate::venue::default_ws_url`]
/// gives the real one; a trailing `/` is ignored); the exchange's plans append the paths.
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
    let market_ws = &adapter(venue.exchange).market_ws;
    (market_ws.plans)(venue, base, &symbols)
        .into_iter()
        .map(|plan| {
            let state = ParseState::new(venue, Arc::clone(&universe), true);
            (market_ws.session)(venue, plan, state)
        })
        .collect()
}

/// One connection as an exchange's plans lay it out.
pub(crate) struct Plan {
    pub url: String,
    pub subscribe: Vec<String>,
    pub heartbeat: Option<Heartbeat>,
    pub max_age: Option<Duration>,
}

/// A day: Binance and Bitget close every connection after 24 h.
pub(crate) const DAY: Duration = Duration::from_secs(24 * 3600);

/// One exchange's reader of its public market frames: the state it keeps between frames (Bybit's
/// merged tickers, buffers reused frame after frame) and how it reads one frame into events
/// through [`Cx`].
pub(crate) trait ExchangeReader: Send + 'static {
    /// A reader for a universe of `instruments`.
    fn new(instruments: usize) -> Self
    where
        Self: Sized;

    /// The universe grew to `instruments` (ids already handed out keep their meaning).
    fn resize(&mut self, _instruments: usize) {}

    /// Forgets what the previous connection said; REST metadata (kept by [`ParseState`]) stays.
    fn reset(&mut self) {}

    /// Reads one frame in full, then acts on it through `cx`.
    fn read(
        &mut self,
        scanner: &mut Scanner,
        frame: &mut [u8],
        cx: &mut Cx<'_>,
    ) -> Result<Inbound, Fault>;
}

/// An exchange's public market data websocket, as its adapter row gives it: how it lays out
/// connections, and its reader, by type (for sessions) and boxed (for [`Parser`]).
pub(crate) struct MarketWs {
    /// The connections for `symbols` of a venue, from its base URL.
    pub plans: fn(Venue, &str, &[&str]) -> Vec<Plan>,
    /// The exchange's reader for a universe of the given size, boxed.
    pub reader: fn(usize) -> Box<dyn ExchangeReader>,
    /// A session for one planned connection, holding the exchange's reader by type.
    pub session: fn(Venue, Plan, ParseState) -> Box<dyn VenueSession>,
}

impl MarketWs {
    /// The row of an exchange whose plans are `plans` and whose reader is `R`.
    pub const fn new<R: ExchangeReader>(plans: fn(Venue, &str, &[&str]) -> Vec<Plan>) -> MarketWs {
        MarketWs {
            plans,
            reader: boxed_reader::<R>,
            session: boxed_session::<R>,
        }
    }
}

fn boxed_reader<R: ExchangeReader>(instruments: usize) -> Box<dyn ExchangeReader> {
    Box::new(R::new(instruments))
}

fn boxed_session<R: ExchangeReader>(
    venue: Venue,
    plan: Plan,
    state: ParseState,
) -> Box<dyn VenueSession> {
    let reader = R::new(state.universe.len());
    Box::new(Session {
        venue,
        url: plan.url,
        subscribe: plan.subscribe,
        heartbeat: plan.heartbeat,
        max_age: plan.max_age,
        state,
        reader,
    })
}

/// One websocket connection to one venue: what to send, and the reader for what comes back.
struct Session<R> {
    venue: Venue,
    url: String,
    subscribe: Vec<String>,
    heartbeat: Option<Heartbeat>,
    max_age: Option<Duration>,
    state: ParseState,
    reader: R,
}

impl<R: ExchangeReader> WsSession for Session<R> {
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
        self.state.parse(&mut self.reader, frame, recv, sink)
    }

    fn reset(&mut self) {
        self.reader.reset();
    }

    fn last_problem(&self) -> Option<&str> {
        self.state.last_problem()
    }
}

impl<R: ExchangeReader> VenueSession for Session<R> {
    fn apply_snapshot(&mut self, snapshot: &VenueSnapshot) {
        self.state.apply_snapshot(snapshot);
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

/// What reading a venue's frames needs whatever the exchange: the cursor's quote bitmask, what
/// REST said per instrument (in a vector indexed by [`InstrumentId`]), scratch text, and the
/// last problem for the log. The exchange's [`ExchangeReader`] keeps the rest. Reused frame
/// after frame, so after warm-up a frame costs no allocation.
pub(crate) struct ParseState {
    venue: Venue,
    universe: Arc<Universe>,
    scanner: Scanner,
    meta: Vec<InstrumentMeta>,
    sizes_in_contracts: bool,
    require_contract_size: bool,
    problem: Note,
    unknown_symbol: Note,
    /// Text kept from the frame being read until it is acted on (see [`Saved`]).
    scratch: Vec<u8>,
    /// Frames read by each reader, by [`Reader`] order.
    read_by: [u64; 3],
}

impl ParseState {
    /// See [`Parser::new`].
    fn new(venue: Venue, universe: Arc<Universe>, require_contract_size: bool) -> ParseState {
        let n = universe.len();
        ParseState {
            venue,
            universe,
            scanner: Scanner::new(),
            meta: vec![InstrumentMeta::default(); n],
            sizes_in_contracts: sizes_in_contracts(venue),
            require_contract_size,
            problem: Note::default(),
            unknown_symbol: Note::default(),
            scratch: Vec::with_capacity(256),
            read_by: [0; 3],
        }
    }

    /// Takes intervals, contract sizes and (for Gate) the next settlement time from REST.
    fn apply_snapshot(&mut self, snapshot: &VenueSnapshot) {
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

    fn last_problem(&self) -> Option<&str> {
        (!self.problem.is_empty()).then(|| self.problem.as_str())
    }

    /// Parses one text frame in place with `reader`; events go to `sink` in message order.
    #[inline]
    fn parse<R: ExchangeReader + ?Sized>(
        &mut self,
        reader: &mut R,
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
        let ParseState {
            venue,
            universe,
            scanner,
            meta,
            sizes_in_contracts,
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
            sizes_in_contracts: *sizes_in_contracts,
            require_contract_size: *require_contract_size,
            emitted: 0,
            read_by: Reader::General,
        };
        let result = reader.read(scanner, frame, &mut cx);
        read_by[cx.read_by as usize] += 1;
        result.map_err(|fault| {
            if self.problem.is_empty() {
                self.problem.set(format_args!("{} {fault}", self.venue));
            }
            fault.reason
        })
    }
}

/// Turns one venue's text frames into normalized events: the frame is read in full with a
/// [`crate::json::cursor::Cursor`] (so a frame that is not JSON is dropped before anything is
/// acted on), then the exchange's reader turns what it read into events. Reuses its quote
/// bitmask, element vectors and scratch text, and keeps per-instrument state in vectors indexed
/// by [`InstrumentId`], so after warm-up a frame costs no allocation. Symbols resolve through
/// [`Universe::lookup`]. A live connection runs the same reading inside its session.
pub struct Parser {
    state: ParseState,
    reader: Box<dyn ExchangeReader>,
}

/// Which of an exchange's readers read a frame. The fast paths read the compact frames
/// venues send and decline anything else, which the next reader then reads (see
/// `json/strict.rs`).
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
        let reader = (adapter(venue.exchange).market_ws.reader)(universe.len());
        Parser {
            state: ParseState::new(venue, universe, require_contract_size),
            reader,
        }
    }

    /// The venue whose frames this parser reads.
    pub fn venue(&self) -> Venue {
        self.state.venue
    }

    /// The instruments symbols resolve to.
    pub fn universe(&self) -> &Arc<Universe> {
        &self.state.universe
    }

    /// Swaps in a universe that extends the current one (ids already handed out must keep their
    /// meaning; `carry decode` appends instruments as it meets them).
    pub fn set_universe(&mut self, universe: Arc<Universe>) {
        let n = universe.len();
        let meta = &mut self.state.meta;
        meta.resize(n.max(meta.len()), InstrumentMeta::default());
        self.reader.resize(n);
        self.state.universe = universe;
    }

    /// Base units per contract for an instrument of a contract-sized venue.
    pub fn set_contract_size(&mut self, id: InstrumentId, size: Option<Decimal>) {
        if let Some(meta) = self.state.meta.get_mut(id.index()) {
            meta.contract_size = size;
        }
    }

    /// Takes intervals, contract sizes and (for Gate) the next settlement time from REST.
    pub fn apply_snapshot(&mut self, snapshot: &VenueSnapshot) {
        self.state.apply_snapshot(snapshot);
    }

    /// Forgets what the previous connection said (Bybit snapshots); REST metadata stays.
    pub fn reset(&mut self) {
        self.reader.reset();
    }

    /// How many frames `reader` has read, of all parsed. The fast readers take the compact
    /// frames venues send on the streams carry subscribes to and decline anything else
    /// (whitespace, escapes, replies, shapes they do not know, keyed frames longer than
    /// [`crate::FAST_PATH_MAX_LEN`]), which the general cursor then reads.
    pub fn frames_read_by(&self, reader: Reader) -> u64 {
        self.state.read_by[reader as usize]
    }

    /// Why the last frame was dropped, in words (for the connection's log): the venue's own
    /// message for a refused subscription, the symbol for an unknown one, else the field.
    pub fn last_problem(&self) -> Option<&str> {
        self.state.last_problem()
    }

    /// The symbol of the last frame dropped as [`DropReason::UnknownSymbol`].
    pub fn unknown_symbol(&self) -> Option<&str> {
        let unknown = &self.state.unknown_symbol;
        (!unknown.is_empty()).then(|| unknown.as_str())
    }

    /// Parses one text frame in place; events go to `sink` in message order.
    pub fn parse(
        &mut self,
        frame: &mut [u8],
        recv: RecvStamp,
        sink: &mut dyn FnMut(MarketEvent),
    ) -> Result<Inbound, DropReason> {
        self.state.parse(&mut *self.reader, frame, recv, sink)
    }
}

/// What an exchange's reader works with while it reads one frame: the venue and what REST said
/// about its instruments, the sink for events, and the text kept for the log.
pub(crate) struct Cx<'a> {
    pub venue: Venue,
    universe: &'a Universe,
    meta: &'a mut [InstrumentMeta],
    pub recv: RecvStamp,
    sink: &'a mut dyn FnMut(MarketEvent),
    problem: &'a mut Note,
    unknown_symbol: &'a mut Note,
    scratch: &'a mut Vec<u8>,
    sizes_in_contracts: bool,
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
        if self.sizes_in_contracts {
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

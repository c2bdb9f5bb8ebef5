//! REST snapshots of a venue, fetched at start and after each reconnect (blocking, off the feed
//! thread): the current funding of each perpetual as a ready [`MarketEvent`], the funding
//! interval of each symbol, and each instrument's trading rules ([`InstrumentSpec`]).
//!
//! `rest_url` is scheme, host and port (`https://fapi.binance.com`); these paths are appended,
//! exactly as the venues (and carry's simulated venues) serve them:
//!
//! | venue | requests |
//! |---|---|
//! | binance-perp | `/fapi/v1/premiumIndex` (all symbols: rate, next time, mark, index), `/fapi/v1/fundingInfo` (only symbols with an adjusted interval; the rest are 8 h), `/fapi/v1/exchangeInfo` (filters) |
//! | binance-spot | `/api/v3/exchangeInfo?symbols=[..]` (filters) |
//! | bybit-perp | `/v5/market/tickers?category=linear`, `/v5/market/instruments-info?category=linear&limit=1000` (paged with `cursor`; `fundingInterval` in minutes) |
//! | bybit-spot | `/v5/market/instruments-info?category=spot` |
//! | okx-perp | `/api/v5/public/funding-rate?instId=<id>` per instrument (interval = `nextFundingTime − fundingTime`), `/api/v5/public/instruments?instType=SWAP` (`ctVal`×`ctMult`) |
//! | okx-spot | `/api/v5/public/instruments?instType=SPOT` |
//! | bitget-perp | `/api/v2/mix/market/current-fund-rate?symbol=<s>&productType=USDT-FUTURES` per symbol (`fundingRateInterval` hours), `/api/v2/mix/market/contracts?productType=USDT-FUTURES` |
//! | bitget-spot | `/api/v2/spot/public/symbols` |
//! | gate-perp | `/api/v4/futures/usdt/contracts/<contract>` per contract (`funding_interval` and `funding_next_apply` in seconds, `quanto_multiplier`) |
//! | gate-spot | `/api/v4/spot/currency_pairs/<pair>` per pair |
//!
//! Bodies are parsed with serde_json (this is not the hot path). A configured instrument the
//! venue does not list is an error: trading it without its rules is not possible.

use std::fmt::Write as _;

use carry_engine::interval::interval_from_schedule;
use carry_engine::{
    Exchange, Funding, InstrumentId, InstrumentSpec, Market, MarketEvent, MarketEventKind,
    Universe, Venue,
};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::feed::snapshot::{InstrumentSnapshot, VenueSnapshot};
use crate::json::{epoch_ms, parse_decimal, parse_int};
use crate::transport::session::RecvStamp;

/// The funding interval Binance applies to symbols `fundingInfo` does not list.
pub const BINANCE_DEFAULT_INTERVAL_MS: u64 = 8 * 3_600_000;
/// Largest body accepted (Binance's futures exchangeInfo is a few MB).
const BODY_LIMIT: u64 = 64 << 20;
/// Bybit instruments-info pages followed at most (1000 rows each).
const MAX_PAGES: usize = 20;

/// Why a snapshot could not be taken; every variant names the venue and the request path.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("{venue} GET {path}: {reason}")]
    Transport {
        venue: Venue,
        path: String,
        reason: String,
    },
    #[error("{venue} GET {path}: HTTP {status}: {body}")]
    Status {
        venue: Venue,
        path: String,
        status: u16,
        body: String,
    },
    #[error("{venue} GET {path}: venue error {code}: {msg}")]
    Venue {
        venue: Venue,
        path: String,
        code: String,
        msg: String,
    },
    #[error("{venue} GET {path}: unexpected response: {reason}")]
    Body {
        venue: Venue,
        path: String,
        reason: String,
    },
    #[error("{venue} GET {path}: the venue does not list {symbol}")]
    MissingInstrument {
        venue: Venue,
        path: String,
        symbol: String,
    },
}

/// Fetches the snapshot of `venue` for every instrument `universe` carries there.
///
/// `recv` stamps the funding events (`recv_ns`, and `ts_ms` where the response carries no
/// time). Blocking: call it from a helper thread, never from a feed thread.
pub fn fetch_snapshot(
    agent: &ureq::Agent,
    venue: Venue,
    rest_url: &str,
    universe: &Universe,
    recv: RecvStamp,
) -> Result<VenueSnapshot, RestError> {
    let symbols: Vec<(InstrumentId, &str)> = universe
        .iter()
        .filter_map(|(id, _)| universe.symbol(id, venue).map(|s| (id, s)))
        .collect();
    let mut snapshot = VenueSnapshot {
        venue: Some(venue),
        instruments: Vec::new(),
    };
    if symbols.is_empty() {
        return Ok(snapshot);
    }
    let client = Client {
        agent,
        venue,
        base: rest_url.trim().trim_end_matches('/'),
    };
    let rows = match (venue.exchange, venue.market) {
        (Exchange::Binance, Market::Perp) => binance_perp(&client, &symbols)?,
        (Exchange::Binance, Market::Spot) => binance_spot(&client, &symbols)?,
        (Exchange::Bybit, _) => bybit(&client, &symbols)?,
        (Exchange::Okx, _) => okx(&client, &symbols)?,
        (Exchange::Bitget, _) => bitget(&client, &symbols)?,
        (Exchange::Gate, _) => gate(&client, &symbols)?,
    };
    for (id, row) in rows {
        let funding = row.funding.map(|f| MarketEvent {
            venue,
            instrument: id,
            ts_ms: f.ts_ms.filter(|t| *t > 0).unwrap_or(recv.unix_ms),
            recv_ns: recv.mono_ns,
            kind: MarketEventKind::Funding(Funding {
                rate: f.rate,
                predicted_rate: f.predicted_rate,
                next_funding_time_ms: f.next_funding_ms,
                interval_ms: row.interval_ms,
                mark_price: f.mark,
                index_price: f.index,
            }),
        });
        snapshot.instruments.push(InstrumentSnapshot {
            instrument: id,
            funding,
            interval_ms: row.interval_ms,
            spec: Some(row.spec),
        });
    }
    Ok(snapshot)
}

/// Funding as one REST response states it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FundingRow {
    pub rate: Decimal,
    pub predicted_rate: Option<Decimal>,
    pub next_funding_ms: i64,
    /// Interval the venue states for the symbol, if any (Binance's comes from `fundingInfo`).
    pub interval_ms: Option<u64>,
    pub mark: Option<Decimal>,
    pub index: Option<Decimal>,
    pub ts_ms: Option<i64>,
}

/// Trading rules as one response states them, with the interval where it is there too.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecRow {
    pub spec: InstrumentSpec,
    pub interval_ms: Option<u64>,
}

/// What the snapshot holds for one instrument before it becomes an [`InstrumentSnapshot`].
struct Row {
    funding: Option<FundingRow>,
    interval_ms: Option<u64>,
    spec: InstrumentSpec,
}

struct Client<'a> {
    agent: &'a ureq::Agent,
    venue: Venue,
    base: &'a str,
}

impl Client<'_> {
    /// GETs `path` (with its query) and parses the body as JSON.
    fn get(&self, path: &str) -> Result<Value, RestError> {
        let url = format!("{}{path}", self.base);
        let transport = |reason: String| RestError::Transport {
            venue: self.venue,
            path: path.to_string(),
            reason,
        };
        let mut response = self
            .agent
            .get(&url)
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_string()
            .map_err(|e| transport(format!("reading the body: {e}")))?;
        if !(200..300).contains(&status) {
            return Err(RestError::Status {
                venue: self.venue,
                path: path.to_string(),
                status,
                body: excerpt(&body),
            });
        }
        serde_json::from_str(&body).map_err(|e| self.body_error(path, format!("not JSON: {e}")))
    }

    fn body_error(&self, path: &str, reason: String) -> RestError {
        RestError::Body {
            venue: self.venue,
            path: path.to_string(),
            reason,
        }
    }

    fn missing(&self, path: &str, symbol: &str) -> RestError {
        RestError::MissingInstrument {
            venue: self.venue,
            path: path.to_string(),
            symbol: symbol.to_string(),
        }
    }

    /// Parses a response with `parse`, naming the path in any failure.
    fn read<T>(
        &self,
        path: &str,
        value: &Value,
        parse: impl FnOnce(&Value) -> Result<T, Failure>,
    ) -> Result<T, RestError> {
        parse(value).map_err(|f| match f {
            Failure::Venue { code, msg } => RestError::Venue {
                venue: self.venue,
                path: path.to_string(),
                code,
                msg,
            },
            Failure::Shape(reason) => self.body_error(path, reason),
        })
    }
}

/// The first 300 characters of an error body, for the message.
fn excerpt(body: &str) -> String {
    let mut out: String = body.chars().take(300).collect();
    if out.len() < body.len() {
        out.push('…');
    }
    out
}

/// What was wrong with a response body.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// The venue answered with its own error envelope.
    Venue { code: String, msg: String },
    /// The body is not in the documented shape.
    Shape(String),
}

fn shape(reason: impl Into<String>) -> Failure {
    Failure::Shape(reason.into())
}

/// The venue's own error envelope: `code`, and the text under `msg_key` (empty when absent).
fn venue_error(code: String, v: &Value, msg_key: &str) -> Failure {
    Failure::Venue {
        code,
        msg: v
            .get(msg_key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

// --- JSON field readers (REST numbers come as strings, integers or, at Gate, floats) ---

fn field<'v>(obj: &'v Value, key: &str) -> Option<&'v Value> {
    obj.get(key)
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
}

fn text<'v>(obj: &'v Value, key: &str) -> Result<&'v str, Failure> {
    field(obj, key)
        .and_then(Value::as_str)
        .ok_or_else(|| shape(format!("missing string `{key}`")))
}

fn opt_dec(obj: &Value, key: &str) -> Result<Option<Decimal>, Failure> {
    let Some(v) = field(obj, key) else {
        return Ok(None);
    };
    let parsed = match v {
        Value::String(s) => parse_decimal(s),
        // serde_json prints the shortest text that reads back as the same number.
        Value::Number(n) => parse_decimal(&n.to_string()),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| shape(format!("`{key}` is not a decimal: {v}")))
}

fn dec(obj: &Value, key: &str) -> Result<Decimal, Failure> {
    opt_dec(obj, key)?.ok_or_else(|| shape(format!("missing decimal `{key}`")))
}

fn opt_int(obj: &Value, key: &str) -> Result<Option<i64>, Failure> {
    let Some(v) = field(obj, key) else {
        return Ok(None);
    };
    let parsed = match v {
        Value::String(s) => parse_int(s),
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| shape(format!("`{key}` is not an integer: {v}")))
}

fn opt_ms(obj: &Value, key: &str) -> Result<Option<i64>, Failure> {
    Ok(opt_int(obj, key)?.map(epoch_ms))
}

fn positive_ms(n: i64, unit_ms: i64) -> Option<u64> {
    u64::try_from(n.checked_mul(unit_ms)?)
        .ok()
        .filter(|v| *v > 0)
}

fn array<'v>(v: &'v Value, what: &str) -> Result<&'v Vec<Value>, Failure> {
    v.as_array()
        .ok_or_else(|| shape(format!("{what} is not an array")))
}

/// 10^-places, the step of a venue that states precision in decimal places.
fn step(places: i64) -> Result<Decimal, Failure> {
    u32::try_from(places)
        .ok()
        .filter(|p| *p <= Decimal::MAX_SCALE)
        .map(|p| Decimal::new(1, p))
        .ok_or_else(|| shape(format!("precision {places} out of range")))
}

/// Finds each configured symbol in `rows` (keyed by symbol) or names the missing one.
fn pick<T: Clone>(
    client: &Client<'_>,
    path: &str,
    symbols: &[(InstrumentId, &str)],
    rows: &[(String, T)],
) -> Result<Vec<(InstrumentId, T)>, RestError> {
    symbols
        .iter()
        .map(|(id, sym)| {
            rows.iter()
                .find(|(s, _)| s == sym)
                .map(|(_, t)| (*id, t.clone()))
                .ok_or_else(|| client.missing(path, sym))
        })
        .collect()
}

fn join_rows(
    funding: Vec<(InstrumentId, FundingRow)>,
    specs: Vec<(InstrumentId, SpecRow)>,
    interval: impl Fn(&FundingRow, &SpecRow) -> Option<u64>,
) -> Vec<(InstrumentId, Row)> {
    funding
        .into_iter()
        .zip(specs)
        .map(|((id, f), (_, s))| {
            let interval_ms = interval(&f, &s);
            (
                id,
                Row {
                    funding: Some(f),
                    interval_ms,
                    spec: s.spec,
                },
            )
        })
        .collect()
}

fn spec_only(specs: Vec<(InstrumentId, SpecRow)>) -> Vec<(InstrumentId, Row)> {
    specs
        .into_iter()
        .map(|(id, s)| {
            (
                id,
                Row {
                    funding: None,
                    interval_ms: s.interval_ms,
                    spec: s.spec,
                },
            )
        })
        .collect()
}

// --- Binance ---

fn binance_perp(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    const PREMIUM: &str = "/fapi/v1/premiumIndex";
    const INFO: &str = "/fapi/v1/fundingInfo";
    const EXCHANGE: &str = "/fapi/v1/exchangeInfo";
    let premium = client.read(PREMIUM, &client.get(PREMIUM)?, binance::premium_index)?;
    let intervals = client.read(INFO, &client.get(INFO)?, binance::funding_info)?;
    let specs = client.read(EXCHANGE, &client.get(EXCHANGE)?, binance::exchange_info)?;
    let mut funding = pick(client, PREMIUM, symbols, &premium)?;
    // `pick` keeps the order of `symbols`.
    for ((_, symbol), (_, row)) in symbols.iter().zip(&mut funding) {
        let adjusted = intervals.iter().find(|(s, _)| s == symbol);
        row.interval_ms = Some(adjusted.map_or(BINANCE_DEFAULT_INTERVAL_MS, |(_, ms)| *ms));
    }
    let specs = pick(client, EXCHANGE, symbols, &specs)?;
    Ok(join_rows(funding, specs, |f, _| f.interval_ms))
}

fn binance_spot(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    let list: Vec<String> = symbols.iter().map(|(_, s)| format!("\"{s}\"")).collect();
    let path = format!(
        "/api/v3/exchangeInfo?symbols={}",
        percent_encode(&format!("[{}]", list.join(",")))
    );
    let specs = client.read(&path, &client.get(&path)?, binance::exchange_info)?;
    Ok(spec_only(pick(client, &path, symbols, &specs)?))
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Response parsers for Binance (public so tests and tools can read recorded bodies).
pub mod binance {
    use super::*;

    /// `GET /fapi/v1/premiumIndex`: an array without `symbol`, one object with it.
    pub fn premium_index(v: &Value) -> Result<Vec<(String, FundingRow)>, Failure> {
        let one = |row: &Value| -> Result<(String, FundingRow), Failure> {
            Ok((
                text(row, "symbol")?.to_string(),
                FundingRow {
                    // Despite its name, the estimate for the upcoming settlement.
                    rate: dec(row, "lastFundingRate")?,
                    predicted_rate: None,
                    next_funding_ms: opt_ms(row, "nextFundingTime")?.unwrap_or(0),
                    interval_ms: None,
                    mark: opt_dec(row, "markPrice")?,
                    index: opt_dec(row, "indexPrice")?,
                    ts_ms: opt_ms(row, "time")?,
                },
            ))
        };
        match v {
            Value::Array(rows) => rows
                .iter()
                // Delivery contracts have an empty rate; they are not perpetuals.
                .filter(|r| field(r, "lastFundingRate").is_some())
                .map(one)
                .collect(),
            Value::Object(_) => Ok(vec![one(v)?]),
            _ => Err(shape("premiumIndex is neither an array nor an object")),
        }
    }

    /// `GET /fapi/v1/fundingInfo`: the symbols whose interval was adjusted, in ms.
    pub fn funding_info(v: &Value) -> Result<Vec<(String, u64)>, Failure> {
        array(v, "fundingInfo")?
            .iter()
            .map(|row| {
                let hours = opt_int(row, "fundingIntervalHours")?
                    .and_then(|h| positive_ms(h, 3_600_000))
                    .ok_or_else(|| shape("missing `fundingIntervalHours`"))?;
                Ok((text(row, "symbol")?.to_string(), hours))
            })
            .collect()
    }

    /// `GET /fapi/v1/exchangeInfo` or `/api/v3/exchangeInfo`: each symbol's filters.
    pub fn exchange_info(v: &Value) -> Result<Vec<(String, SpecRow)>, Failure> {
        let rows = array(
            v.get("symbols").ok_or_else(|| shape("missing `symbols`"))?,
            "symbols",
        )?;
        rows.iter()
            .map(|row| {
                let (mut tick, mut lot, mut min_qty, mut min_notional) =
                    (None, None, None, Decimal::ZERO);
                for filter in row
                    .get("filters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match filter.get("filterType").and_then(Value::as_str) {
                        Some("PRICE_FILTER") => tick = opt_dec(filter, "tickSize")?,
                        Some("LOT_SIZE") => {
                            lot = opt_dec(filter, "stepSize")?;
                            min_qty = opt_dec(filter, "minQty")?;
                        }
                        // Futures: MIN_NOTIONAL.notional; spot: NOTIONAL or MIN_NOTIONAL
                        // with minNotional.
                        Some("MIN_NOTIONAL" | "NOTIONAL") => {
                            if let Some(n) =
                                opt_dec(filter, "notional")?.or(opt_dec(filter, "minNotional")?)
                            {
                                min_notional = n;
                            }
                        }
                        _ => {}
                    }
                }
                let symbol = text(row, "symbol")?;
                let need = |d: Option<Decimal>, what: &str| {
                    d.ok_or_else(|| shape(format!("{symbol}: no {what} filter")))
                };
                Ok((
                    symbol.to_string(),
                    SpecRow {
                        spec: InstrumentSpec {
                            tick_size: need(tick, "PRICE_FILTER tickSize")?,
                            lot_size: need(lot, "LOT_SIZE stepSize")?,
                            min_qty: need(min_qty, "LOT_SIZE minQty")?,
                            min_notional,
                            contract_size: None,
                        },
                        interval_ms: None,
                    },
                ))
            })
            .collect()
    }
}

// --- Bybit ---

fn bybit(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    let category = match client.venue.market {
        Market::Perp => "linear",
        Market::Spot => "spot",
    };
    // Instruments: linear has more than one page; follow the cursor until every configured
    // symbol is found or the pages end.
    let mut specs: Vec<(String, SpecRow)> = Vec::new();
    let mut cursor = String::new();
    let first_path = format!("/v5/market/instruments-info?category={category}&limit=1000");
    for _ in 0..MAX_PAGES {
        let path = if cursor.is_empty() {
            first_path.clone()
        } else {
            format!("{first_path}&cursor={}", percent_encode(&cursor))
        };
        let (page, next) = client.read(&path, &client.get(&path)?, bybit::instruments_info)?;
        specs.extend(page);
        let complete = symbols
            .iter()
            .all(|(_, sym)| specs.iter().any(|(s, _)| s == sym));
        if complete || next.is_empty() || next == cursor {
            break;
        }
        cursor = next;
    }
    let specs = pick(client, &first_path, symbols, &specs)?;
    if client.venue.market == Market::Spot {
        return Ok(spec_only(specs));
    }
    let path = "/v5/market/tickers?category=linear";
    let tickers = client.read(path, &client.get(path)?, bybit::tickers)?;
    let funding = pick(client, path, symbols, &tickers)?;
    // instruments-info `fundingInterval` (minutes) is the reference; the ticker's
    // `fundingIntervalHour` is the fallback.
    Ok(join_rows(funding, specs, |f, s| {
        s.interval_ms.or(f.interval_ms)
    }))
}

/// Response parsers for Bybit v5.
pub mod bybit {
    use super::*;

    /// The `result` of a v5 response, after checking `retCode`.
    fn result(v: &Value) -> Result<&Value, Failure> {
        match v.get("retCode").and_then(Value::as_i64) {
            Some(0) => v.get("result").ok_or_else(|| shape("missing `result`")),
            Some(code) => Err(venue_error(code.to_string(), v, "retMsg")),
            None => Err(shape("missing `retCode`")),
        }
    }

    /// `GET /v5/market/tickers`: funding per symbol (derivatives categories).
    pub fn tickers(v: &Value) -> Result<Vec<(String, FundingRow)>, Failure> {
        let time = opt_ms(v, "time")?;
        let list = array(
            result(v)?
                .get("list")
                .ok_or_else(|| shape("missing `result.list`"))?,
            "result.list",
        )?;
        list.iter()
            // Dated futures send `"fundingRate":""`; they are not perpetuals.
            .filter(|row| field(row, "fundingRate").is_some())
            .map(|row| {
                Ok((
                    text(row, "symbol")?.to_string(),
                    FundingRow {
                        rate: dec(row, "fundingRate")?,
                        predicted_rate: None,
                        next_funding_ms: opt_ms(row, "nextFundingTime")?.unwrap_or(0),
                        interval_ms: opt_int(row, "fundingIntervalHour")?
                            .and_then(|h| positive_ms(h, 3_600_000)),
                        mark: opt_dec(row, "markPrice")?,
                        index: opt_dec(row, "indexPrice")?,
                        ts_ms: time,
                    },
                ))
            })
            .collect()
    }

    /// `GET /v5/market/instruments-info`: rules per symbol, and the next page's cursor (`""`
    /// when none).
    #[allow(clippy::type_complexity)]
    pub fn instruments_info(v: &Value) -> Result<(Vec<(String, SpecRow)>, String), Failure> {
        let result = result(v)?;
        let list = array(
            result
                .get("list")
                .ok_or_else(|| shape("missing `result.list`"))?,
            "result.list",
        )?;
        let rows = list
            .iter()
            .map(|row| {
                let price = row.get("priceFilter").unwrap_or(&Value::Null);
                let lot = row.get("lotSizeFilter").unwrap_or(&Value::Null);
                // Linear: qtyStep and minNotionalValue; spot: basePrecision and minOrderAmt.
                let qty_step = match opt_dec(lot, "qtyStep")? {
                    Some(s) => s,
                    None => dec(lot, "basePrecision")?,
                };
                let min_notional = match opt_dec(lot, "minNotionalValue")? {
                    Some(n) => n,
                    None => opt_dec(lot, "minOrderAmt")?.unwrap_or(Decimal::ZERO),
                };
                Ok((
                    text(row, "symbol")?.to_string(),
                    SpecRow {
                        spec: InstrumentSpec {
                            tick_size: dec(price, "tickSize")?,
                            lot_size: qty_step,
                            min_qty: dec(lot, "minOrderQty")?,
                            min_notional,
                            contract_size: None,
                        },
                        interval_ms: opt_int(row, "fundingInterval")?
                            .and_then(|m| positive_ms(m, 60_000)),
                    },
                ))
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        let next = result
            .get("nextPageCursor")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok((rows, next))
    }
}

// --- OKX ---

fn okx(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    let inst_type = match client.venue.market {
        Market::Perp => "SWAP",
        Market::Spot => "SPOT",
    };
    let path = format!("/api/v5/public/instruments?instType={inst_type}");
    let specs = client.read(&path, &client.get(&path)?, okx::instruments)?;
    let specs = pick(client, &path, symbols, &specs)?;
    if client.venue.market == Market::Spot {
        return Ok(spec_only(specs));
    }
    let mut funding = Vec::with_capacity(symbols.len());
    for (id, sym) in symbols {
        let path = format!("/api/v5/public/funding-rate?instId={}", percent_encode(sym));
        let rows = client.read(&path, &client.get(&path)?, okx::funding_rate)?;
        funding.extend(pick(client, &path, &[(*id, *sym)], &rows)?);
    }
    Ok(join_rows(funding, specs, |f, _| f.interval_ms))
}

/// Response parsers for OKX v5.
pub mod okx {
    use super::*;

    /// `data` of a v5 response, after checking `code`.
    fn data(v: &Value) -> Result<&Vec<Value>, Failure> {
        match v.get("code").and_then(Value::as_str) {
            Some("0") => array(
                v.get("data").ok_or_else(|| shape("missing `data`"))?,
                "data",
            ),
            Some(code) => Err(venue_error(code.to_string(), v, "msg")),
            None => Err(shape("missing `code`")),
        }
    }

    /// `GET /api/v5/public/funding-rate`.
    pub fn funding_rate(v: &Value) -> Result<Vec<(String, FundingRow)>, Failure> {
        data(v)?
            .iter()
            .map(|row| {
                let settles = opt_ms(row, "fundingTime")?;
                let after = opt_ms(row, "nextFundingTime")?;
                Ok((
                    text(row, "instId")?.to_string(),
                    FundingRow {
                        rate: dec(row, "fundingRate")?,
                        predicted_rate: opt_dec(row, "nextFundingRate")?,
                        next_funding_ms: settles.unwrap_or(0),
                        interval_ms: settles
                            .zip(after)
                            .and_then(|(a, b)| interval_from_schedule(a, b)),
                        mark: None,
                        index: None,
                        ts_ms: opt_ms(row, "ts")?,
                    },
                ))
            })
            .collect()
    }

    /// `GET /api/v5/public/instruments`: SWAP sizes are contracts of `ctVal × ctMult`.
    pub fn instruments(v: &Value) -> Result<Vec<(String, SpecRow)>, Failure> {
        data(v)?
            .iter()
            .map(|row| {
                let contract_size = match opt_dec(row, "ctVal")? {
                    Some(val) => Some(
                        val.checked_mul(opt_dec(row, "ctMult")?.unwrap_or(Decimal::ONE))
                            .ok_or_else(|| shape("ctVal × ctMult overflows"))?,
                    ),
                    None => None,
                };
                Ok((
                    text(row, "instId")?.to_string(),
                    SpecRow {
                        spec: InstrumentSpec {
                            tick_size: dec(row, "tickSz")?,
                            lot_size: dec(row, "lotSz")?,
                            min_qty: dec(row, "minSz")?,
                            min_notional: Decimal::ZERO,
                            contract_size,
                        },
                        interval_ms: None,
                    },
                ))
            })
            .collect()
    }
}

// --- Bitget ---

fn bitget(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    if client.venue.market == Market::Spot {
        let path = "/api/v2/spot/public/symbols";
        let specs = client.read(path, &client.get(path)?, bitget::spot_symbols)?;
        return Ok(spec_only(pick(client, path, symbols, &specs)?));
    }
    let path = "/api/v2/mix/market/contracts?productType=USDT-FUTURES";
    let specs = client.read(path, &client.get(path)?, bitget::contracts)?;
    let specs = pick(client, path, symbols, &specs)?;
    let mut funding = Vec::with_capacity(symbols.len());
    for (id, sym) in symbols {
        let path = format!(
            "/api/v2/mix/market/current-fund-rate?symbol={}&productType=USDT-FUTURES",
            percent_encode(sym)
        );
        let rows = client.read(&path, &client.get(&path)?, bitget::current_fund_rate)?;
        funding.extend(pick(client, &path, &[(*id, *sym)], &rows)?);
    }
    Ok(join_rows(funding, specs, |f, s| {
        f.interval_ms.or(s.interval_ms)
    }))
}

/// Response parsers for Bitget v2.
pub mod bitget {
    use super::*;

    /// `data` of a v2 response, after checking `code` (`"00000"` is success).
    fn data(v: &Value) -> Result<&Vec<Value>, Failure> {
        let code = match v.get("code") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(shape("missing `code`")),
        };
        if code != "00000" {
            return Err(venue_error(code, v, "msg"));
        }
        array(
            v.get("data").ok_or_else(|| shape("missing `data`"))?,
            "data",
        )
    }

    /// `GET /api/v2/mix/market/current-fund-rate`.
    pub fn current_fund_rate(v: &Value) -> Result<Vec<(String, FundingRow)>, Failure> {
        let time = opt_ms(v, "requestTime")?;
        data(v)?
            .iter()
            .map(|row| {
                Ok((
                    text(row, "symbol")?.to_string(),
                    FundingRow {
                        rate: dec(row, "fundingRate")?,
                        predicted_rate: None,
                        next_funding_ms: opt_ms(row, "nextUpdate")?.unwrap_or(0),
                        interval_ms: opt_int(row, "fundingRateInterval")?
                            .and_then(|h| positive_ms(h, 3_600_000)),
                        mark: None,
                        index: None,
                        ts_ms: time,
                    },
                ))
            })
            .collect()
    }

    /// `GET /api/v2/mix/market/contracts`: tick = `priceEndStep × 10^-pricePlace`, quantity step
    /// `sizeMultiplier`, interval `fundInterval` hours.
    pub fn contracts(v: &Value) -> Result<Vec<(String, SpecRow)>, Failure> {
        data(v)?
            .iter()
            .map(|row| {
                let places =
                    opt_int(row, "pricePlace")?.ok_or_else(|| shape("missing `pricePlace`"))?;
                let end_step = opt_dec(row, "priceEndStep")?.unwrap_or(Decimal::ONE);
                Ok((
                    text(row, "symbol")?.to_string(),
                    SpecRow {
                        spec: InstrumentSpec {
                            tick_size: step(places)? * end_step,
                            lot_size: dec(row, "sizeMultiplier")?,
                            min_qty: dec(row, "minTradeNum")?,
                            min_notional: opt_dec(row, "minTradeUSDT")?.unwrap_or(Decimal::ZERO),
                            contract_size: None,
                        },
                        interval_ms: opt_int(row, "fundInterval")?
                            .and_then(|h| positive_ms(h, 3_600_000)),
                    },
                ))
            })
            .collect()
    }

    /// `GET /api/v2/spot/public/symbols`: steps from `pricePrecision` / `quantityPrecision`.
    pub fn spot_symbols(v: &Value) -> Result<Vec<(String, SpecRow)>, Failure> {
        data(v)?
            .iter()
            .map(|row| {
                let places =
                    |key: &str| opt_int(row, key)?.ok_or_else(|| shape(format!("missing `{key}`")));
                Ok((
                    text(row, "symbol")?.to_string(),
                    SpecRow {
                        spec: InstrumentSpec {
                            tick_size: step(places("pricePrecision")?)?,
                            lot_size: step(places("quantityPrecision")?)?,
                            min_qty: opt_dec(row, "minTradeAmount")?.unwrap_or(Decimal::ZERO),
                            min_notional: opt_dec(row, "minTradeUSDT")?.unwrap_or(Decimal::ZERO),
                            contract_size: None,
                        },
                        interval_ms: None,
                    },
                ))
            })
            .collect()
    }
}

// --- Gate ---

fn gate(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    let mut rows = Vec::with_capacity(symbols.len());
    for (id, sym) in symbols {
        let row = match client.venue.market {
            Market::Perp => {
                let path = format!("/api/v4/futures/usdt/contracts/{}", percent_encode(sym));
                let (name, funding, spec) =
                    client.read(&path, &client.get(&path)?, gate::contract)?;
                if name != *sym {
                    return Err(client.missing(&path, sym));
                }
                Row {
                    interval_ms: spec.interval_ms,
                    funding: Some(funding),
                    spec: spec.spec,
                }
            }
            Market::Spot => {
                let path = format!("/api/v4/spot/currency_pairs/{}", percent_encode(sym));
                let (name, spec) = client.read(&path, &client.get(&path)?, gate::currency_pair)?;
                if name != *sym {
                    return Err(client.missing(&path, sym));
                }
                Row {
                    interval_ms: None,
                    funding: None,
                    spec: spec.spec,
                }
            }
        };
        rows.push((*id, row));
    }
    Ok(rows)
}

/// Response parsers for Gate v4.
pub mod gate {
    use super::*;

    /// Gate's error body is `{"label": .., "message": ..}` (with a 4xx status).
    fn check(v: &Value) -> Result<(), Failure> {
        match v.get("label").and_then(Value::as_str) {
            Some(label) => Err(venue_error(label.to_string(), v, "message")),
            None => Ok(()),
        }
    }

    /// `GET /api/v4/futures/usdt/contracts/{contract}`: times in seconds, sizes in contracts of
    /// `quanto_multiplier` base units; `order_size_min` may be an integer or a string.
    pub fn contract(v: &Value) -> Result<(String, FundingRow, SpecRow), Failure> {
        check(v)?;
        let interval_ms = opt_int(v, "funding_interval")?.and_then(|s| positive_ms(s, 1000));
        let next_s = opt_int(v, "funding_next_apply")?;
        let funding = FundingRow {
            rate: dec(v, "funding_rate")?,
            predicted_rate: None,
            next_funding_ms: next_s.and_then(|s| s.checked_mul(1000)).unwrap_or(0),
            interval_ms,
            mark: opt_dec(v, "mark_price")?,
            index: opt_dec(v, "index_price")?,
            ts_ms: None,
        };
        let spec = SpecRow {
            spec: InstrumentSpec {
                tick_size: dec(v, "order_price_round")?,
                // Whole contracts, unless the contract takes decimal sizes (then its minimum
                // is also its step).
                lot_size: if v.get("enable_decimal").and_then(Value::as_bool) == Some(true) {
                    dec(v, "order_size_min")?
                } else {
                    Decimal::ONE
                },
                min_qty: opt_dec(v, "order_size_min")?.unwrap_or(Decimal::ONE),
                min_notional: Decimal::ZERO,
                contract_size: Some(dec(v, "quanto_multiplier")?),
            },
            interval_ms,
        };
        Ok((text(v, "name")?.to_string(), funding, spec))
    }

    /// `GET /api/v4/spot/currency_pairs/{pair}`: steps from `precision` / `amount_precision`.
    pub fn currency_pair(v: &Value) -> Result<(String, SpecRow), Failure> {
        check(v)?;
        let places = |key: &str| opt_int(v, key)?.ok_or_else(|| shape(format!("missing `{key}`")));
        let spec = SpecRow {
            spec: InstrumentSpec {
                tick_size: step(places("precision")?)?,
                lot_size: step(places("amount_precision")?)?,
                min_qty: opt_dec(v, "min_base_amount")?.unwrap_or(Decimal::ZERO),
                min_notional: opt_dec(v, "min_quote_amount")?.unwrap_or(Decimal::ZERO),
                contract_size: None,
            },
            interval_ms: None,
        };
        Ok((text(v, "id")?.to_string(), spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            serde_json::from_str::<Value>(include_str!(concat!(
                "../../../tests/fixtures/venues/",
                $name
            )))
            .unwrap()
        };
    }

    fn d(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    fn spec(
        tick: &str,
        lot: &str,
        min: &str,
        notional: &str,
        contract: Option<&str>,
    ) -> InstrumentSpec {
        InstrumentSpec {
            tick_size: d(tick),
            lot_size: d(lot),
            min_qty: d(min),
            min_notional: d(notional),
            contract_size: contract.map(d),
        }
    }

    #[test]
    fn binance_responses() {
        let rows =
            binance::premium_index(&fixture!("binance_usdm_premiumIndex_rest_1.json")).unwrap();
        assert_eq!(
            rows,
            [(
                "BTCUSDT".to_string(),
                FundingRow {
                    rate: d("0.00038246"),
                    predicted_rate: None,
                    next_funding_ms: 1_597_392_000_000,
                    interval_ms: None,
                    mark: Some(d("11793.63104562")),
                    index: Some(d("11781.80495970")),
                    ts_ms: Some(1_597_370_495_002),
                }
            )]
        );
        let as_array = Value::Array(vec![fixture!("binance_usdm_premiumIndex_rest_1.json")]);
        assert_eq!(binance::premium_index(&as_array).unwrap(), rows);

        let info =
            binance::funding_info(&fixture!("binance_usdm_fundingInfo_rest_1.json")).unwrap();
        assert_eq!(info, [("BLZUSDT".to_string(), 8 * 3_600_000)]);
        // The live excerpt quoted in NOTES.md §1.4: a 4-hour symbol.
        let live: Value = serde_json::from_str(r#"[{"symbol":"BLZUSDT","adjustedFundingRateCap":"0.03000000","adjustedFundingRateFloor":"-0.03000000","fundingIntervalHours":4,"disclaimer":false}]"#).unwrap();
        assert_eq!(
            binance::funding_info(&live).unwrap(),
            [("BLZUSDT".to_string(), 4 * 3_600_000)]
        );

        let perp =
            binance::exchange_info(&fixture!("binance_usdm_exchangeInfo_rest_shape.json")).unwrap();
        assert_eq!(perp[0].0, "BTCUSDT");
        assert_eq!(perp[0].1.spec, spec("0.10", "0.001", "0.001", "100", None));
        assert_eq!(perp[1].1.spec, spec("0.00001", "1", "1", "5", None));
        let spot =
            binance::exchange_info(&fixture!("binance_spot_exchangeInfo_rest_shape.json")).unwrap();
        assert_eq!(spot[0].0, "BNBUSDT");
        assert_eq!(spot[0].1.spec, spec("0.01", "0.001", "0.001", "5", None));
    }

    #[test]
    fn bybit_responses() {
        let inverse = bybit::tickers(&fixture!("bybit_tickers_rest_inverse_1.json")).unwrap();
        assert_eq!(
            inverse,
            [(
                "BTCUSD".to_string(),
                FundingRow {
                    rate: d("0.0001"),
                    predicted_rate: None,
                    next_funding_ms: 1_760_371_200_000,
                    interval_ms: Some(8 * 3_600_000),
                    mark: Some(d("114898.43")),
                    index: Some(d("114890.92")),
                    ts_ms: Some(1_760_352_369_814),
                }
            )]
        );
        let linear = bybit::tickers(&fixture!("bybit_linear_tickers_rest_shape.json")).unwrap();
        assert_eq!(
            linear.len(),
            1,
            "the dated future (empty fundingRate) is left out"
        );
        assert_eq!(linear[0].1.rate, d("-0.001034"));
        assert_eq!(linear[0].1.interval_ms, Some(4 * 3_600_000));

        let (page, cursor) =
            bybit::instruments_info(&fixture!("bybit_linear_instruments_rest_shape_page1.json"))
                .unwrap();
        assert_eq!(page[0].0, "ETHUSDT");
        assert_eq!(cursor, "first%3D1000000%26last%3D1000000");
        let (page, cursor) =
            bybit::instruments_info(&fixture!("bybit_linear_instruments_rest_shape_page2.json"))
                .unwrap();
        assert_eq!(cursor, "");
        assert_eq!(page[0].1.spec, spec("0.10", "0.001", "0.001", "5", None));
        assert_eq!(
            page[0].1.interval_ms,
            Some(4 * 3_600_000),
            "fundingInterval 240 minutes"
        );
        let (spot, _) =
            bybit::instruments_info(&fixture!("bybit_spot_instruments_rest_shape.json")).unwrap();
        assert_eq!(
            spot[0].1.spec,
            spec("0.01", "0.000001", "0.000048", "1", None)
        );
        assert_eq!(spot[0].1.interval_ms, None);

        let refused: Value = serde_json::from_str(
            r#"{"retCode":10001,"retMsg":"params error: symbol invalid","result":{},"time":1}"#,
        )
        .unwrap();
        assert_eq!(
            bybit::tickers(&refused),
            Err(Failure::Venue {
                code: "10001".into(),
                msg: "params error: symbol invalid".into()
            })
        );
    }

    #[test]
    fn okx_responses() {
        let rows = okx::funding_rate(&fixture!("okx_funding_rate_rest_1.json")).unwrap();
        assert_eq!(
            rows,
            [(
                "BTC-USDT-SWAP".to_string(),
                FundingRow {
                    rate: d("0.0000182221218054"),
                    predicted_rate: None,
                    next_funding_ms: 1_743_609_600_000,
                    interval_ms: Some(1_743_638_400_000 - 1_743_609_600_000),
                    mark: None,
                    index: None,
                    ts_ms: Some(1_743_588_686_291),
                }
            )]
        );
        let swap = okx::instruments(&fixture!("okx_swap_instruments_rest_shape.json")).unwrap();
        assert_eq!(
            swap[0].1.spec,
            spec("0.1", "0.01", "0.01", "0", Some("0.01"))
        );
        let spot = okx::instruments(&fixture!("okx_spot_instruments_rest_shape.json")).unwrap();
        assert_eq!(
            spot[0].1.spec,
            spec("0.1", "0.00000001", "0.00001", "0", None)
        );
        let refused: Value = serde_json::from_str(
            r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#,
        )
        .unwrap();
        assert!(
            matches!(okx::funding_rate(&refused), Err(Failure::Venue { code, .. }) if code == "51001")
        );
    }

    #[test]
    fn bitget_responses() {
        let rows =
            bitget::current_fund_rate(&fixture!("bitget_current_fund_rate_rest_1.json")).unwrap();
        assert_eq!(
            rows,
            [(
                "BTCUSDT".to_string(),
                FundingRow {
                    rate: d("0.000068"),
                    predicted_rate: None,
                    next_funding_ms: 1_743_062_400_000,
                    interval_ms: Some(8 * 3_600_000),
                    mark: None,
                    index: None,
                    ts_ms: Some(1_743_054_548_546),
                }
            )]
        );
        let contracts = bitget::contracts(&fixture!("bitget_contracts_rest_shape.json")).unwrap();
        assert_eq!(contracts[0].1.spec, spec("0.1", "0.01", "0.01", "5", None));
        assert_eq!(contracts[0].1.interval_ms, Some(8 * 3_600_000));
        let spot = bitget::spot_symbols(&fixture!("bitget_spot_symbols_rest_shape.json")).unwrap();
        assert_eq!(spot[0].1.spec, spec("0.01", "0.000001", "0", "5", None));
        let refused: Value = serde_json::from_str(
            r#"{"code":"40034","msg":"Parameter does not exist","requestTime":1,"data":null}"#,
        )
        .unwrap();
        assert!(
            matches!(bitget::current_fund_rate(&refused), Err(Failure::Venue { code, .. }) if code == "40034")
        );
    }

    #[test]
    fn gate_responses() {
        let (name, funding, rules) =
            gate::contract(&fixture!("gate_futures_contract_rest_1.json")).unwrap();
        assert_eq!(name, "BTC_USDT");
        assert_eq!(
            funding,
            FundingRow {
                rate: d("0.002053"),
                predicted_rate: None,
                next_funding_ms: 1_610_035_200_000,
                interval_ms: Some(28_800_000),
                mark: Some(d("37985.6")),
                index: Some(d("37954.92")),
                ts_ms: None,
            }
        );
        assert_eq!(rules.spec, spec("0.1", "1", "1", "0", Some("0.0001")));
        // Older docs and live captures: integer sizes, float next-apply time.
        let mut older = fixture!("gate_futures_contract_rest_1.json");
        older["order_size_min"] = serde_json::json!(1);
        older["funding_next_apply"] = serde_json::json!(1610035200.0);
        let (_, funding, rules) = gate::contract(&older).unwrap();
        assert_eq!(rules.spec.min_qty, Decimal::ONE);
        assert_eq!(funding.next_funding_ms, 1_610_035_200_000);
        let (id, pair) =
            gate::currency_pair(&fixture!("gate_spot_currency_pair_rest_shape.json")).unwrap();
        assert_eq!(id, "BTC_USDT");
        assert_eq!(pair.spec, spec("0.1", "0.0001", "0.0001", "1", None));
        let refused: Value = serde_json::from_str(
            r#"{"label":"CONTRACT_NOT_FOUND","message":"Contract not found"}"#,
        )
        .unwrap();
        assert!(
            matches!(gate::contract(&refused), Err(Failure::Venue { code, .. }) if code == "CONTRACT_NOT_FOUND")
        );
    }

    #[test]
    fn malformed_bodies_name_the_field() {
        let no_rate: Value =
            serde_json::from_str(r#"{"symbol":"BTCUSDT","nextFundingTime":1}"#).unwrap();
        assert_eq!(
            binance::premium_index(&no_rate),
            Err(Failure::Shape("missing decimal `lastFundingRate`".into()))
        );
        let bad: Value =
            serde_json::from_str(r#"[{"symbol":"X","fundingIntervalHours":"x"}]"#).unwrap();
        assert!(
            matches!(binance::funding_info(&bad), Err(Failure::Shape(r)) if r.contains("fundingIntervalHours"))
        );
        assert_eq!(
            percent_encode("[\"BTCUSDT\",\"ETH-USDT\"]"),
            "%5B%22BTCUSDT%22%2C%22ETH-USDT%22%5D"
        );
    }
}

//! REST snapshots of a venue, fetched at start and after each reconnect (blocking, off the feed
//! thread): the current funding of each perpetual as a ready [`MarketEvent`], the funding
//! interval of each symbol, and each instrument's trading rules ([`InstrumentSpec`]).
//!
//! `rest_url` is scheme, host and port (`https://fapi.binance.com`); each exchange's
//! `market_rest.rs` appends the paths of its requests, exactly as the venue (and carry's
//! simulated venues) serve them, and reads the responses with the field readers here. This
//! module fetches, names failures and turns what the exchange read into a [`VenueSnapshot`].
//!
//! Bodies are parsed with serde_json (this is not the hot path). A configured instrument the
//! venue does not list is an error: trading it without its rules is not possible.

use std::fmt::Write as _;

use carry_engine::{
    Funding, InstrumentId, InstrumentSpec, MarketEvent, MarketEventKind, Universe, Venue,
};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::feed::snapshot::{InstrumentSnapshot, VenueSnapshot};
use crate::json::{epoch_ms, parse_decimal, parse_int};
use crate::transport::session::RecvStamp;
use crate::venue::adapter;

/// Largest body accepted (Binance's futures exchangeInfo is a few MB).
const BODY_LIMIT: u64 = 64 << 20;

/// Why a snapshot could not be taken; every variant names the venue and the request path.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The request did not complete (DNS, connect, TLS, timeout, reading the body).
    #[error("{venue} GET {path}: {reason}")]
    Transport {
        /// The venue asked.
        venue: Venue,
        /// The request path, with its query.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The venue answered with an HTTP status other than 2xx.
    #[error("{venue} GET {path}: HTTP {status}: {body}")]
    Status {
        /// The venue asked.
        venue: Venue,
        /// The request path, with its query.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The venue answered with its own error envelope.
    #[error("{venue} GET {path}: venue error {code}: {msg}")]
    Venue {
        /// The venue asked.
        venue: Venue,
        /// The request path, with its query.
        path: String,
        /// The venue's error code.
        code: String,
        /// The venue's message.
        msg: String,
    },
    /// The body is not in the shape the venue documents.
    #[error("{venue} GET {path}: unexpected response: {reason}")]
    Body {
        /// The venue asked.
        venue: Venue,
        /// The request path, with its query.
        path: String,
        /// What is wrong with it (the field, or that it is not JSON).
        reason: String,
    },
    /// A configured instrument the venue does not list.
    #[error("{venue} GET {path}: the venue does not list {symbol}")]
    MissingInstrument {
        /// The venue asked.
        venue: Venue,
        /// The request path, with its query.
        path: String,
        /// The venue's symbol carry asked for.
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
    let rows = (adapter(venue.exchange).market_rest)(&client, &symbols)?;
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
    /// The rate of the current interval.
    pub rate: Decimal,
    /// The venue's prediction for the next interval, where it publishes one.
    pub predicted_rate: Option<Decimal>,
    /// Unix ms of the next settlement (0 when not stated).
    pub next_funding_ms: i64,
    /// Interval the venue states for the symbol, if any (Binance's comes from `fundingInfo`).
    pub interval_ms: Option<u64>,
    /// Mark price.
    pub mark: Option<Decimal>,
    /// Index price.
    pub index: Option<Decimal>,
    /// The response's time, Unix ms.
    pub ts_ms: Option<i64>,
}

/// Trading rules as one response states them, with the interval where it is there too.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecRow {
    /// The instrument's trading rules.
    pub spec: InstrumentSpec,
    /// Its funding interval, where this response states it.
    pub interval_ms: Option<u64>,
}

/// What the snapshot holds for one instrument before it becomes an [`InstrumentSnapshot`].
pub(crate) struct Row {
    pub funding: Option<FundingRow>,
    pub interval_ms: Option<u64>,
    pub spec: InstrumentSpec,
}

/// GETs of one venue's REST API, each failure named with the venue and the path.
pub(crate) struct Client<'a> {
    agent: &'a ureq::Agent,
    pub venue: Venue,
    base: &'a str,
}

impl Client<'_> {
    /// GETs `path` (with its query) and parses the body as JSON.
    pub(crate) fn get(&self, path: &str) -> Result<Value, RestError> {
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

    pub(crate) fn body_error(&self, path: &str, reason: String) -> RestError {
        RestError::Body {
            venue: self.venue,
            path: path.to_string(),
            reason,
        }
    }

    pub(crate) fn missing(&self, path: &str, symbol: &str) -> RestError {
        RestError::MissingInstrument {
            venue: self.venue,
            path: path.to_string(),
            symbol: symbol.to_string(),
        }
    }

    /// Parses a response with `parse`, naming the path in any failure.
    pub(crate) fn read<T>(
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
    Venue {
        /// The venue's error code.
        code: String,
        /// The venue's message.
        msg: String,
    },
    /// The body is not in the documented shape.
    Shape(String),
}

pub(crate) fn shape(reason: impl Into<String>) -> Failure {
    Failure::Shape(reason.into())
}

/// The venue's own error envelope: `code`, and the text under `msg_key` (empty when absent).
pub(crate) fn venue_error(code: String, v: &Value, msg_key: &str) -> Failure {
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

pub(crate) fn field<'v>(obj: &'v Value, key: &str) -> Option<&'v Value> {
    obj.get(key)
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
}

pub(crate) fn text<'v>(obj: &'v Value, key: &str) -> Result<&'v str, Failure> {
    field(obj, key)
        .and_then(Value::as_str)
        .ok_or_else(|| shape(format!("missing string `{key}`")))
}

pub(crate) fn opt_dec(obj: &Value, key: &str) -> Result<Option<Decimal>, Failure> {
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

pub(crate) fn dec(obj: &Value, key: &str) -> Result<Decimal, Failure> {
    opt_dec(obj, key)?.ok_or_else(|| shape(format!("missing decimal `{key}`")))
}

pub(crate) fn opt_int(obj: &Value, key: &str) -> Result<Option<i64>, Failure> {
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

pub(crate) fn opt_ms(obj: &Value, key: &str) -> Result<Option<i64>, Failure> {
    Ok(opt_int(obj, key)?.map(epoch_ms))
}

pub(crate) fn positive_ms(n: i64, unit_ms: i64) -> Option<u64> {
    u64::try_from(n.checked_mul(unit_ms)?)
        .ok()
        .filter(|v| *v > 0)
}

pub(crate) fn array<'v>(v: &'v Value, what: &str) -> Result<&'v Vec<Value>, Failure> {
    v.as_array()
        .ok_or_else(|| shape(format!("{what} is not an array")))
}

/// 10^-places, the step of a venue that states precision in decimal places.
pub(crate) fn step(places: i64) -> Result<Decimal, Failure> {
    u32::try_from(places)
        .ok()
        .filter(|p| *p <= Decimal::MAX_SCALE)
        .map(|p| Decimal::new(1, p))
        .ok_or_else(|| shape(format!("precision {places} out of range")))
}

/// Finds each configured symbol in `rows` (keyed by symbol) or names the missing one.
pub(crate) fn pick<T: Clone>(
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

pub(crate) fn join_rows(
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

pub(crate) fn spec_only(specs: Vec<(InstrumentId, SpecRow)>) -> Vec<(InstrumentId, Row)> {
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

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(crate) fn percent_encode(s: &str) -> String {
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

/// What the exchanges' response tests share: recorded bodies and the values they compare with.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::Path;

    use carry_engine::InstrumentSpec;
    use rust_decimal::Decimal;
    use serde_json::Value;

    use crate::json::parse_decimal;

    /// A recorded body from the repository's `tests/fixtures/venues/`.
    pub fn fixture(name: &str) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/venues")
            .join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn d(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    pub fn spec(
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(
            percent_encode("[\"BTCUSDT\",\"ETH-USDT\"]"),
            "%5B%22BTCUSDT%22%2C%22ETH-USDT%22%5D"
        );
    }
}

//! Bybit v5 REST snapshots, appended to the REST base URL:
//!
//! | venue | requests |
//! |---|---|
//! | bybit-perp | `/v5/market/tickers?category=linear`, `/v5/market/instruments-info?category=linear&limit=1000` (paged with `cursor`; `fundingInterval` in minutes) |
//! | bybit-spot | `/v5/market/instruments-info?category=spot` |
//!
//! The response parsers are public so tests and tools can read recorded bodies.

use carry_engine::{InstrumentId, InstrumentSpec, Market};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::venue::market_rest::{
    array, dec, field, join_rows, opt_dec, opt_int, opt_ms, percent_encode, pick, positive_ms,
    shape, spec_only, text, venue_error, Client, Failure, FundingRow, RestError, Row, SpecRow,
};

/// instruments-info pages followed at most (1000 rows each).
const MAX_PAGES: usize = 20;

/// The snapshot of a Bybit venue's `symbols`.
pub(crate) fn snapshot(
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
        let (page, next) = client.read(&path, &client.get(&path)?, instruments_info)?;
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
    let tickers = client.read(path, &client.get(path)?, tickers)?;
    let funding = pick(client, path, symbols, &tickers)?;
    // instruments-info `fundingInterval` (minutes) is the reference; the ticker's
    // `fundingIntervalHour` is the fallback.
    Ok(join_rows(funding, specs, |f, s| {
        s.interval_ms.or(f.interval_ms)
    }))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::market_rest::test_support::{d, fixture, spec};

    #[test]
    fn bybit_responses() {
        let inverse = tickers(&fixture("bybit_tickers_rest_inverse_1.json")).unwrap();
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
        let linear = tickers(&fixture("bybit_linear_tickers_rest_shape.json")).unwrap();
        assert_eq!(
            linear.len(),
            1,
            "the dated future (empty fundingRate) is left out"
        );
        assert_eq!(linear[0].1.rate, d("-0.001034"));
        assert_eq!(linear[0].1.interval_ms, Some(4 * 3_600_000));

        let (page, cursor) =
            instruments_info(&fixture("bybit_linear_instruments_rest_shape_page1.json")).unwrap();
        assert_eq!(page[0].0, "ETHUSDT");
        assert_eq!(cursor, "first%3D1000000%26last%3D1000000");
        let (page, cursor) =
            instruments_info(&fixture("bybit_linear_instruments_rest_shape_page2.json")).unwrap();
        assert_eq!(cursor, "");
        assert_eq!(page[0].1.spec, spec("0.10", "0.001", "0.001", "5", None));
        assert_eq!(
            page[0].1.interval_ms,
            Some(4 * 3_600_000),
            "fundingInterval 240 minutes"
        );
        let (spot, _) =
            instruments_info(&fixture("bybit_spot_instruments_rest_shape.json")).unwrap();
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
            tickers(&refused),
            Err(Failure::Venue {
                code: "10001".into(),
                msg: "params error: symbol invalid".into()
            })
        );
    }
}

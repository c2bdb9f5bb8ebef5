//! Binance REST snapshots, appended to the REST base URL:
//!
//! | venue | requests |
//! |---|---|
//! | binance-perp | `/fapi/v1/premiumIndex` (all symbols: rate, next time, mark, index), `/fapi/v1/fundingInfo` (only symbols with an adjusted interval; the rest are 8 h), `/fapi/v1/exchangeInfo` (filters) |
//! | binance-spot | `/api/v3/exchangeInfo?symbols=[..]` (filters) |
//!
//! The response parsers are public so tests and tools can read recorded bodies.

use carry_engine::{InstrumentId, InstrumentSpec, Market};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::venue::market_rest::{
    array, dec, field, join_rows, opt_dec, opt_int, opt_ms, percent_encode, pick, positive_ms,
    shape, spec_only, text, Client, Failure, FundingRow, RestError, Row, SpecRow,
};

/// The funding interval Binance applies to symbols `fundingInfo` does not list.
pub const DEFAULT_INTERVAL_MS: u64 = 8 * 3_600_000;

/// The snapshot of a Binance venue's `symbols`.
pub(crate) fn snapshot(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    match client.venue.market {
        Market::Perp => perp(client, symbols),
        Market::Spot => spot(client, symbols),
    }
}

fn perp(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    const PREMIUM: &str = "/fapi/v1/premiumIndex";
    const INFO: &str = "/fapi/v1/fundingInfo";
    const EXCHANGE: &str = "/fapi/v1/exchangeInfo";
    let premium = client.read(PREMIUM, &client.get(PREMIUM)?, premium_index)?;
    let intervals = client.read(INFO, &client.get(INFO)?, funding_info)?;
    let specs = client.read(EXCHANGE, &client.get(EXCHANGE)?, exchange_info)?;
    let mut funding = pick(client, PREMIUM, symbols, &premium)?;
    // `pick` keeps the order of `symbols`.
    for ((_, symbol), (_, row)) in symbols.iter().zip(&mut funding) {
        let adjusted = intervals.iter().find(|(s, _)| s == symbol);
        row.interval_ms = Some(adjusted.map_or(DEFAULT_INTERVAL_MS, |(_, ms)| *ms));
    }
    let specs = pick(client, EXCHANGE, symbols, &specs)?;
    Ok(join_rows(funding, specs, |f, _| f.interval_ms))
}

fn spot(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    let list: Vec<String> = symbols.iter().map(|(_, s)| format!("\"{s}\"")).collect();
    let path = format!(
        "/api/v3/exchangeInfo?symbols={}",
        percent_encode(&format!("[{}]", list.join(",")))
    );
    let specs = client.read(&path, &client.get(&path)?, exchange_info)?;
    Ok(spec_only(pick(client, &path, symbols, &specs)?))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::market_rest::test_support::{d, fixture, spec};

    #[test]
    fn binance_responses() {
        let rows = premium_index(&fixture("binance_usdm_premiumIndex_rest_1.json")).unwrap();
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
        let as_array = Value::Array(vec![fixture("binance_usdm_premiumIndex_rest_1.json")]);
        assert_eq!(premium_index(&as_array).unwrap(), rows);

        let info = funding_info(&fixture("binance_usdm_fundingInfo_rest_1.json")).unwrap();
        assert_eq!(info, [("BLZUSDT".to_string(), 8 * 3_600_000)]);
        // The live excerpt quoted in NOTES.md §1.4: a 4-hour symbol.
        let live: Value = serde_json::from_str(r#"[{"symbol":"BLZUSDT","adjustedFundingRateCap":"0.03000000","adjustedFundingRateFloor":"-0.03000000","fundingIntervalHours":4,"disclaimer":false}]"#).unwrap();
        assert_eq!(
            funding_info(&live).unwrap(),
            [("BLZUSDT".to_string(), 4 * 3_600_000)]
        );

        let perp = exchange_info(&fixture("binance_usdm_exchangeInfo_rest_shape.json")).unwrap();
        assert_eq!(perp[0].0, "BTCUSDT");
        assert_eq!(perp[0].1.spec, spec("0.10", "0.001", "0.001", "100", None));
        assert_eq!(perp[1].1.spec, spec("0.00001", "1", "1", "5", None));
        let spot = exchange_info(&fixture("binance_spot_exchangeInfo_rest_shape.json")).unwrap();
        assert_eq!(spot[0].0, "BNBUSDT");
        assert_eq!(spot[0].1.spec, spec("0.01", "0.001", "0.001", "5", None));
    }

    #[test]
    fn malformed_bodies_name_the_field() {
        let no_rate: Value =
            serde_json::from_str(r#"{"symbol":"BTCUSDT","nextFundingTime":1}"#).unwrap();
        assert_eq!(
            premium_index(&no_rate),
            Err(Failure::Shape("missing decimal `lastFundingRate`".into()))
        );
        let bad: Value =
            serde_json::from_str(r#"[{"symbol":"X","fundingIntervalHours":"x"}]"#).unwrap();
        assert!(
            matches!(funding_info(&bad), Err(Failure::Shape(r)) if r.contains("fundingIntervalHours"))
        );
    }
}

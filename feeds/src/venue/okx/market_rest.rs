//! OKX v5 REST snapshots, appended to the REST base URL:
//!
//! | venue | requests |
//! |---|---|
//! | okx-perp | `/api/v5/public/funding-rate?instId=<id>` per instrument (interval = `nextFundingTime − fundingTime`), `/api/v5/public/instruments?instType=SWAP` (`ctVal`×`ctMult`) |
//! | okx-spot | `/api/v5/public/instruments?instType=SPOT` |
//!
//! The response parsers are public so tests and tools can read recorded bodies.

use carry_engine::market::interval::interval_from_schedule;
use carry_engine::{InstrumentId, InstrumentSpec, Market};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::venue::market_rest::{
    array, dec, join_rows, opt_dec, opt_ms, percent_encode, pick, shape, spec_only, text,
    venue_error, Client, Failure, FundingRow, RestError, Row, SpecRow,
};

/// The snapshot of a OKX venue's `symbols`.
pub(crate) fn snapshot(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    let inst_type = match client.venue.market {
        Market::Perp => "SWAP",
        Market::Spot => "SPOT",
    };
    let path = format!("/api/v5/public/instruments?instType={inst_type}");
    let specs = client.read(&path, &client.get(&path)?, instruments)?;
    let specs = pick(client, &path, symbols, &specs)?;
    if client.venue.market == Market::Spot {
        return Ok(spec_only(specs));
    }
    let mut funding = Vec::with_capacity(symbols.len());
    for (id, sym) in symbols {
        let path = format!("/api/v5/public/funding-rate?instId={}", percent_encode(sym));
        let rows = client.read(&path, &client.get(&path)?, funding_rate)?;
        funding.extend(pick(client, &path, &[(*id, *sym)], &rows)?);
    }
    Ok(join_rows(funding, specs, |f, _| f.interval_ms))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::market_rest::test_support::{d, fixture, spec};

    #[test]
    fn okx_responses() {
        let rows = funding_rate(&fixture("okx_funding_rate_rest_1.json")).unwrap();
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
        let swap = instruments(&fixture("okx_swap_instruments_rest_shape.json")).unwrap();
        assert_eq!(
            swap[0].1.spec,
            spec("0.1", "0.01", "0.01", "0", Some("0.01"))
        );
        let spot = instruments(&fixture("okx_spot_instruments_rest_shape.json")).unwrap();
        assert_eq!(
            spot[0].1.spec,
            spec("0.1", "0.00000001", "0.00001", "0", None)
        );
        let refused: Value = serde_json::from_str(
            r#"{"code":"51001","msg":"Instrument ID does not exist","data":[]}"#,
        )
        .unwrap();
        assert!(
            matches!(funding_rate(&refused), Err(Failure::Venue { code, .. }) if code == "51001")
        );
    }
}

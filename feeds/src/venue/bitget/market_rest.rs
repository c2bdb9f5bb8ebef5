//! Bitget v2 REST snapshots, appended to the REST base URL:
//!
//! | venue | requests |
//! |---|---|
//! | bitget-perp | `/api/v2/mix/market/current-fund-rate?symbol=<s>&productType=USDT-FUTURES` per symbol (`fundingRateInterval` hours), `/api/v2/mix/market/contracts?productType=USDT-FUTURES` |
//! | bitget-spot | `/api/v2/spot/public/symbols` |
//!
//! The response parsers are public so tests and tools can read recorded bodies.

use carry_engine::{InstrumentId, InstrumentSpec, Market};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::venue::market_rest::{
    array, dec, join_rows, opt_dec, opt_int, opt_ms, percent_encode, pick, positive_ms, shape,
    spec_only, step, text, venue_error, Client, Failure, FundingRow, RestError, Row, SpecRow,
};

/// The snapshot of a Bitget venue's `symbols`.
pub(crate) fn snapshot(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    if client.venue.market == Market::Spot {
        let path = "/api/v2/spot/public/symbols";
        let specs = client.read(path, &client.get(path)?, spot_symbols)?;
        return Ok(spec_only(pick(client, path, symbols, &specs)?));
    }
    let path = "/api/v2/mix/market/contracts?productType=USDT-FUTURES";
    let specs = client.read(path, &client.get(path)?, contracts)?;
    let specs = pick(client, path, symbols, &specs)?;
    let mut funding = Vec::with_capacity(symbols.len());
    for (id, sym) in symbols {
        let path = format!(
            "/api/v2/mix/market/current-fund-rate?symbol={}&productType=USDT-FUTURES",
            percent_encode(sym)
        );
        let rows = client.read(&path, &client.get(&path)?, current_fund_rate)?;
        funding.extend(pick(client, &path, &[(*id, *sym)], &rows)?);
    }
    Ok(join_rows(funding, specs, |f, s| {
        f.interval_ms.or(s.interval_ms)
    }))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::market_rest::test_support::{d, fixture, spec};

    #[test]
    fn bitget_responses() {
        let rows = current_fund_rate(&fixture("bitget_current_fund_rate_rest_1.json")).unwrap();
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
        let contracts = contracts(&fixture("bitget_contracts_rest_shape.json")).unwrap();
        assert_eq!(contracts[0].1.spec, spec("0.1", "0.01", "0.01", "5", None));
        assert_eq!(contracts[0].1.interval_ms, Some(8 * 3_600_000));
        let spot = spot_symbols(&fixture("bitget_spot_symbols_rest_shape.json")).unwrap();
        assert_eq!(spot[0].1.spec, spec("0.01", "0.000001", "0", "5", None));
        let refused: Value = serde_json::from_str(
            r#"{"code":"40034","msg":"Parameter does not exist","requestTime":1,"data":null}"#,
        )
        .unwrap();
        assert!(
            matches!(current_fund_rate(&refused), Err(Failure::Venue { code, .. }) if code == "40034")
        );
    }
}

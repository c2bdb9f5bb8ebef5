//! Gate v4 REST snapshots, appended to the REST base URL:
//!
//! | venue | requests |
//! |---|---|
//! | gate-perp | `/api/v4/futures/usdt/contracts/<contract>` per contract (`funding_interval` and `funding_next_apply` in seconds, `quanto_multiplier`) |
//! | gate-spot | `/api/v4/spot/currency_pairs/<pair>` per pair |
//!
//! The response parsers are public so tests and tools can read recorded bodies.

use carry_engine::{InstrumentId, InstrumentSpec, Market};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::venue::market_rest::{
    dec, opt_dec, opt_int, percent_encode, positive_ms, shape, step, text, venue_error, Client,
    Failure, FundingRow, RestError, Row, SpecRow,
};

/// The snapshot of a Gate venue's `symbols`.
pub(crate) fn snapshot(
    client: &Client<'_>,
    symbols: &[(InstrumentId, &str)],
) -> Result<Vec<(InstrumentId, Row)>, RestError> {
    let mut rows = Vec::with_capacity(symbols.len());
    for (id, sym) in symbols {
        let row = match client.venue.market {
            Market::Perp => {
                let path = format!("/api/v4/futures/usdt/contracts/{}", percent_encode(sym));
                let (name, funding, spec) = client.read(&path, &client.get(&path)?, contract)?;
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
                let (name, spec) = client.read(&path, &client.get(&path)?, currency_pair)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::market_rest::test_support::{d, fixture, spec};

    #[test]
    fn gate_responses() {
        let (name, funding, rules) =
            contract(&fixture("gate_futures_contract_rest_1.json")).unwrap();
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
        let mut older = fixture("gate_futures_contract_rest_1.json");
        older["order_size_min"] = serde_json::json!(1);
        older["funding_next_apply"] = serde_json::json!(1610035200.0);
        let (_, funding, rules) = contract(&older).unwrap();
        assert_eq!(rules.spec.min_qty, Decimal::ONE);
        assert_eq!(funding.next_funding_ms, 1_610_035_200_000);
        let (id, pair) =
            currency_pair(&fixture("gate_spot_currency_pair_rest_shape.json")).unwrap();
        assert_eq!(id, "BTC_USDT");
        assert_eq!(pair.spec, spec("0.1", "0.0001", "0.0001", "1", None));
        let refused: Value = serde_json::from_str(
            r#"{"label":"CONTRACT_NOT_FOUND","message":"Contract not found"}"#,
        )
        .unwrap();
        assert!(
            matches!(contract(&refused), Err(Failure::Venue { code, .. }) if code == "CONTRACT_NOT_FOUND")
        );
    }
}

//! What the private endpoints put on and take off the wire: JSON objects written field by field
//! in the order the venue sends them (a keyed parser does not care, an in-order reader does), and
//! decimals read strictly, as the venues read them: plain digits with at most one point, never an
//! exponent or a float artefact (Binance answers `-1100` to `1e-3`).

use std::fmt::Display;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::ws::json_str;

/// A JSON object under construction; fields come out in the order they were added.
#[derive(Clone, Debug, Default)]
pub(crate) struct Obj {
    out: String,
}

impl Obj {
    pub fn new() -> Obj {
        Obj {
            out: String::from("{"),
        }
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out.push_str(&json_str(key));
        self.out.push(':');
    }

    /// A string field (escaped).
    pub fn str(mut self, key: &str, value: &str) -> Obj {
        self.key(key);
        self.out.push_str(&json_str(value));
        self
    }

    /// A number, boolean or anything whose `Display` is already JSON.
    pub fn num(mut self, key: &str, value: impl Display) -> Obj {
        self.key(key);
        self.out.push_str(&value.to_string());
        self
    }

    /// A decimal as a JSON string, the way every venue here sends prices and quantities.
    pub fn dec(self, key: &str, value: Decimal) -> Obj {
        self.str(key, &value.normalize().to_string())
    }

    /// A decimal as a JSON string with exactly `dp` decimals (Binance spot prints 8).
    pub fn dec_dp(self, key: &str, value: Decimal, dp: u32) -> Obj {
        let value = value.round_dp(dp);
        self.str(key, &format!("{value:.prec$}", prec = dp as usize))
    }

    /// Already-rendered JSON (an array, an object, `null`).
    pub fn raw(mut self, key: &str, json: &str) -> Obj {
        self.key(key);
        self.out.push_str(json);
        self
    }

    pub fn build(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// A JSON array of already-rendered values.
pub(crate) fn array(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    format!("[{}]", items.join(","))
}

/// The strings of a JSON array (a request's `args` or `payload`); anything else is skipped, and
/// a missing or non-array value is empty.
pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A non-negative decimal written as venues accept it: digits, optionally one point followed by
/// digits. `None` for anything else (signs, exponents, spaces, `.5`, `5.`).
pub(crate) fn parse_decimal(s: &str) -> Option<Decimal> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    Decimal::from_str(s).ok()
}

/// A request's parameters as the JSON-bodied venues read them: a field of the body (POST), else
/// a query parameter. Empty values count as absent.
pub(crate) struct Params {
    json: Value,
    query: Vec<(String, String)>,
}

impl Params {
    pub fn new(json: Value, query: Vec<(String, String)>) -> Params {
        Params { json, query }
    }

    /// A parameter as text: a JSON string, or a number or boolean as written.
    pub fn get(&self, key: &str) -> Option<String> {
        match self.json.get(key) {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => self.string(key),
        }
    }

    /// A decimal parameter: a JSON string (or query value) holding a plain decimal; a JSON
    /// number does not count (a decimal sent as a JSON number has been through a float).
    pub fn decimal(&self, key: &str) -> Option<Decimal> {
        self.string(key).and_then(|s| parse_decimal(&s))
    }

    /// A parameter the venue documents as a string: a JSON number does not count.
    pub fn string(&self, key: &str) -> Option<String> {
        if let Some(v) = self.json.get(key) {
            return v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        }
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_field_order_and_escape() {
        let o = Obj::new()
            .str("symbol", "BTC\"USDT")
            .num("orderId", 28)
            .dec("price", Decimal::new(1000, 2))
            .dec_dp("qty", Decimal::new(1, 3), 8)
            .num("reduceOnly", false)
            .raw("fills", "[]")
            .build();
        assert_eq!(
            o,
            r#"{"symbol":"BTC\"USDT","orderId":28,"price":"10","qty":"0.00100000","reduceOnly":false,"fills":[]}"#
        );
        assert_eq!(Obj::new().build(), "{}");
        assert_eq!(array(["1".to_string(), "{}".to_string()]), "[1,{}]");
        assert_eq!(array(Vec::<String>::new()), "[]");
    }

    #[test]
    fn params_come_from_the_body_or_the_query() {
        let p = Params::new(
            serde_json::json!({"sz": "1.5", "n": 2, "flag": true, "empty": "", "num_sz": 1.5}),
            vec![("q".into(), "x".into())],
        );
        assert_eq!(p.get("sz").as_deref(), Some("1.5"));
        assert_eq!(p.get("n").as_deref(), Some("2"));
        assert_eq!(p.get("flag").as_deref(), Some("true"));
        assert_eq!(p.get("empty"), None);
        assert_eq!(p.get("q").as_deref(), Some("x"));
        assert_eq!(p.string("num_sz"), None, "a decimal must come as a string");
        assert_eq!(p.string("sz").as_deref(), Some("1.5"));
        assert_eq!(p.decimal("sz"), Some(Decimal::new(15, 1)));
        assert_eq!(p.decimal("num_sz"), None);
        assert_eq!(p.get("missing"), None);
    }

    #[test]
    fn decimals_are_read_strictly() {
        let cases = [
            ("1", Some(Decimal::ONE)),
            ("0.001", Some(Decimal::new(1, 3))),
            ("65000.10", Some(Decimal::new(6_500_010, 2))),
            ("", None),
            ("-1", None),
            ("+1", None),
            ("1e-3", None),
            (".5", None),
            ("5.", None),
            ("1.2.3", None),
            (" 1", None),
            ("0x10", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_decimal(s), want, "{s:?}");
        }
    }
}

//! A venue request built into buffers that live as long as the gateway: method, path, query,
//! body and headers, written field by field and signed in place, so that turning an intent into
//! signed bytes allocates nothing once the buffers have grown to their working size.
//!
//! Values are written as the venue must receive them and as they are signed: decimals in plain
//! notation from exact [`Decimal`]s (never through a float, never in scientific notation, no
//! trailing zeros), query values percent-encoded where they are not unreserved characters, JSON
//! strings escaped.
//!
//! ```
//! use carry_feeds::gateway::request::{Method, Request};
//! use rust_decimal::Decimal;
//! let mut r = Request::new();
//! r.start(Method::Post, "/fapi/v1/order");
//! r.query("symbol", "BTCUSDT");
//! r.query_decimal("price", Decimal::new(650001, 1));
//! assert_eq!(r.query_str(), "symbol=BTCUSDT&price=65000.1");
//! r.json_begin();
//! r.json_str("clOrdId", "abc1");
//! r.json_decimal("sz", Decimal::new(2000, 3));
//! r.json_bool("reduceOnly", true);
//! r.json_end();
//! assert_eq!(r.body_str(), r#"{"clOrdId":"abc1","sz":"2","reduceOnly":true}"#);
//! ```

use std::fmt::Write as _;

use rust_decimal::Decimal;

/// An HTTP method a venue's private API uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
    /// `PUT`
    Put,
}

impl Method {
    /// The method as it is written on the wire and in signature strings.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Put => "PUT",
        }
    }
}

/// The most headers a venue request carries (OKX: key, sign, timestamp, passphrase, content
/// type, simulated trading).
pub const MAX_HEADERS: usize = 8;

/// One request, reused from one order to the next.
pub struct Request {
    method: Method,
    path: String,
    query: String,
    body: String,
    /// Header names, and the end of each value in `header_text`.
    headers: [(&'static str, usize); MAX_HEADERS],
    header_count: usize,
    header_text: String,
    json_fields: usize,
}

impl Default for Request {
    fn default() -> Request {
        Request::new()
    }
}

impl std::fmt::Debug for Request {
    // Header values hold the API key: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// Empty buffers with room for any order request, so the first orders do not grow them.
    pub fn new() -> Request {
        Request {
            method: Method::Get,
            path: String::with_capacity(128),
            query: String::with_capacity(512),
            body: String::with_capacity(512),
            headers: [("", 0); MAX_HEADERS],
            header_count: 0,
            header_text: String::with_capacity(512),
            json_fields: 0,
        }
    }

    /// Clears everything and starts a request for `path` (which starts with `/`).
    pub fn start(&mut self, method: Method, path: &str) {
        self.method = method;
        self.path.clear();
        self.path.push_str(path);
        self.query.clear();
        self.body.clear();
        self.header_count = 0;
        self.header_text.clear();
        self.json_fields = 0;
    }

    /// Appends to the path (Gate puts the order's id or text in it).
    pub fn path_segment(&mut self, segment: &str) {
        self.path.push('/');
        percent_encode_into(&mut self.path, segment);
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The path, without query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string without `?` (empty when there is none).
    pub fn query_str(&self) -> &str {
        &self.query
    }

    /// The body (empty when there is none).
    pub fn body_str(&self) -> &str {
        &self.body
    }

    /// Appends `key=value` to the query, percent-encoding the value where needed.
    pub fn query(&mut self, key: &str, value: &str) {
        self.query_key(key);
        percent_encode_into(&mut self.query, value);
    }

    /// Appends `key=<decimal>` in plain notation without trailing zeros.
    pub fn query_decimal(&mut self, key: &str, value: Decimal) {
        self.query_key(key);
        write_decimal(&mut self.query, value);
    }

    /// Appends `key=<integer>`.
    pub fn query_int(&mut self, key: &str, value: i64) {
        self.query_key(key);
        let _ = write!(self.query, "{value}");
    }

    fn query_key(&mut self, key: &str) {
        if !self.query.is_empty() {
            self.query.push('&');
        }
        self.query.push_str(key);
        self.query.push('=');
    }

    /// Direct access to the query, for a venue that appends its signature itself.
    pub fn query_mut(&mut self) -> &mut String {
        &mut self.query
    }

    /// Direct access to the body, for form bodies.
    pub fn body_mut(&mut self) -> &mut String {
        &mut self.body
    }

    /// Opens a JSON object body.
    pub fn json_begin(&mut self) {
        self.body.push('{');
        self.json_fields = 0;
    }

    fn json_key(&mut self, key: &str) {
        if self.json_fields > 0 {
            self.body.push(',');
        }
        self.json_fields += 1;
        json_string_into(&mut self.body, key);
        self.body.push(':');
    }

    /// `"key":"value"`, escaped.
    pub fn json_str(&mut self, key: &str, value: &str) {
        self.json_key(key);
        json_string_into(&mut self.body, value);
    }

    /// `"key":"<decimal>"`: venues take decimals as strings, so no JSON number rounding applies.
    pub fn json_decimal(&mut self, key: &str, value: Decimal) {
        self.json_key(key);
        self.body.push('"');
        write_decimal(&mut self.body, value);
        self.body.push('"');
    }

    /// `"key":<decimal>` as a bare JSON number (Gate's futures `size` is an integer number).
    pub fn json_number(&mut self, key: &str, value: Decimal) {
        self.json_key(key);
        write_decimal(&mut self.body, value);
    }

    /// `"key":<integer>`.
    pub fn json_int(&mut self, key: &str, value: i64) {
        self.json_key(key);
        let _ = write!(self.body, "{value}");
    }

    /// `"key":true|false`.
    pub fn json_bool(&mut self, key: &str, value: bool) {
        self.json_key(key);
        self.body.push_str(if value { "true" } else { "false" });
    }

    /// Closes the JSON object body.
    pub fn json_end(&mut self) {
        self.body.push('}');
    }

    /// Adds a header. At most [`MAX_HEADERS`]; more is a bug in a venue module and is ignored
    /// in release builds.
    pub fn header(&mut self, name: &'static str, value: &str) {
        debug_assert!(self.header_count < MAX_HEADERS, "too many headers");
        if self.header_count == MAX_HEADERS {
            return;
        }
        self.header_text.push_str(value);
        self.headers[self.header_count] = (name, self.header_text.len());
        self.header_count += 1;
    }

    /// The headers, in the order they were added.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let mut start = 0;
        self.headers[..self.header_count]
            .iter()
            .map(move |&(name, end)| {
                let value = &self.header_text[start..end];
                start = end;
                (name, value)
            })
    }

    /// The value of one header, if set (tests, the shadow log's redaction).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Writes `base` + path + `?query` into `url` (cleared first).
    pub fn url_into(&self, base: &str, url: &mut String) {
        url.clear();
        url.push_str(base.trim_end_matches('/'));
        url.push_str(&self.path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&self.query);
        }
    }
}

/// An integer as text on the stack, for timestamps in headers and signature strings.
#[derive(Clone, Copy)]
pub struct IntText {
    buf: [u8; 20],
    len: usize,
}

impl IntText {
    /// `value` in decimal.
    pub fn new(value: i64) -> IntText {
        let mut buf = [0u8; 20];
        let mut n = value.unsigned_abs();
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if value < 0 {
            i -= 1;
            buf[i] = b'-';
        }
        let len = buf.len() - i;
        buf.copy_within(i.., 0);
        IntText { buf, len }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// Writes `value` in plain notation, without trailing zeros (`1.50` → `1.5`, `2.000` → `2`).
pub fn write_decimal(out: &mut String, value: Decimal) {
    // Decimal's Display formats into a stack buffer: nothing is allocated here when `out` has
    // room.
    let _ = write!(out, "{}", value.normalize());
}

/// Unreserved characters (RFC 3986) pass; everything else is `%XX`.
fn percent_encode_into(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xf) as usize] as char);
        }
    }
}

fn json_string_into(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn decimals_are_plain_and_trimmed() {
        for (input, want) in [
            ("1.50", "1.5"),
            ("2.000", "2"),
            ("0.00001000", "0.00001"),
            ("65000.10", "65000.1"),
            ("-3.20", "-3.2"),
            ("0", "0"),
            ("0.0000000001", "0.0000000001"),
            ("123456789012.5", "123456789012.5"),
        ] {
            let mut s = String::new();
            write_decimal(&mut s, d(input));
            assert_eq!(s, want, "{input}");
        }
    }

    #[test]
    fn integers_as_text() {
        for v in [0i64, 7, -7, 1499827319559, i64::MAX, i64::MIN] {
            assert_eq!(IntText::new(v).as_str(), v.to_string());
        }
    }

    #[test]
    fn query_values_are_percent_encoded_and_keys_joined() {
        let mut r = Request::new();
        r.start(Method::Get, "/x");
        r.query("symbol", "１２");
        r.query("a", "b c&d=e");
        r.query_int("timestamp", 1499827319559);
        assert_eq!(
            r.query_str(),
            "symbol=%EF%BC%91%EF%BC%92&a=b%20c%26d%3De&timestamp=1499827319559"
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut r = Request::new();
        r.start(Method::Post, "/x");
        r.json_begin();
        r.json_str("k", "a\"b\\c\n");
        r.json_number("size", d("-10"));
        r.json_int("n", 7);
        r.json_end();
        assert_eq!(r.body_str(), r#"{"k":"a\"b\\c\u000a","size":-10,"n":7}"#);
    }

    #[test]
    fn headers_keep_their_order_and_values() {
        let mut r = Request::new();
        r.start(Method::Get, "/x");
        r.header("KEY", "k1");
        r.header("SIGN", "abcdef");
        r.header("Timestamp", "");
        let h: Vec<_> = r.headers().collect();
        assert_eq!(
            h,
            vec![("KEY", "k1"), ("SIGN", "abcdef"), ("Timestamp", "")]
        );
        assert_eq!(r.header_value("sign"), Some("abcdef"));
        r.start(Method::Get, "/y");
        assert_eq!(r.headers().count(), 0);
    }

    #[test]
    fn url_joins_base_path_and_query() {
        let mut r = Request::new();
        r.start(Method::Delete, "/api/v4/futures/usdt/orders");
        r.path_segment("t-abc");
        let mut url = String::new();
        r.url_into("http://127.0.0.1:8080/", &mut url);
        assert_eq!(
            url,
            "http://127.0.0.1:8080/api/v4/futures/usdt/orders/t-abc"
        );
        r.query("currency_pair", "BTC_USDT");
        r.url_into("http://h", &mut url);
        assert_eq!(
            url,
            "http://h/api/v4/futures/usdt/orders/t-abc?currency_pair=BTC_USDT"
        );
    }
}

//! Bybit v5 request signing: HMAC-SHA256 in lowercase hex of `timestamp + apiKey + recvWindow +
//! payload`, where the payload is the query string of a GET and the exact JSON body of a POST
//! (the bytes sent, once serialized). Timestamp, key, window and signature travel in the
//! `X-BAPI-*` headers. The websocket login signs `GET/realtime{expires}`.

use crate::gateway::request::{IntText, Method, Request};
use crate::gateway::signer::{SigText, Signer};

/// Signs `req` at `timestamp_ms` with a receive window of `recv_window_ms`: sets the four
/// `X-BAPI-*` headers (and the JSON content type on a POST).
pub fn sign(
    signer: &Signer,
    api_key: &str,
    timestamp_ms: i64,
    recv_window_ms: u32,
    req: &mut Request,
) {
    let ts = IntText::new(timestamp_ms);
    let ts = ts.as_str();
    let window = IntText::new(i64::from(recv_window_ms));
    let window = window.as_str();
    let payload = match req.method() {
        Method::Get | Method::Delete => req.query_str(),
        Method::Post | Method::Put => req.body_str(),
    };
    let mut sig = SigText::new();
    sig.hex(&signer.sign(&[
        ts.as_bytes(),
        api_key.as_bytes(),
        window.as_bytes(),
        payload.as_bytes(),
    ]));
    req.header("X-BAPI-API-KEY", api_key);
    req.header("X-BAPI-TIMESTAMP", ts);
    req.header("X-BAPI-RECV-WINDOW", window);
    req.header("X-BAPI-SIGN", sig.as_str());
    if matches!(req.method(), Method::Post | Method::Put) {
        req.header("Content-Type", "application/json");
    }
}

/// The websocket `auth` signature for an expiry (ms).
pub fn ws_auth_signature(signer: &Signer, expires_ms: i64, out: &mut SigText) {
    let e = IntText::new(expires_ms);
    out.hex(&signer.sign(&[b"GET/realtime", e.as_str().as_bytes()]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::credentials::Secret;

    // NautilusTrader's vectors (PRIVATE.md §6.5): key test_api_key, secret test_secret.
    fn signer() -> Signer {
        Signer::sha256(&Secret::new("test_secret"))
    }

    #[test]
    fn get_signs_the_query_y1() {
        let mut req = Request::new();
        req.start(Method::Get, "/v5/order/realtime");
        req.query("category", "linear");
        req.query("symbol", "BTCUSDT");
        sign(&signer(), "test_api_key", 1700000000000, 5000, &mut req);
        assert_eq!(
            req.header_value("X-BAPI-SIGN"),
            Some("fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7")
        );
        assert_eq!(req.header_value("X-BAPI-TIMESTAMP"), Some("1700000000000"));
        assert_eq!(req.header_value("X-BAPI-RECV-WINDOW"), Some("5000"));
        assert_eq!(req.header_value("X-BAPI-API-KEY"), Some("test_api_key"));
        assert_eq!(req.header_value("Content-Type"), None);
    }

    #[test]
    fn post_signs_the_body_as_sent_y2() {
        let mut req = Request::new();
        req.start(Method::Post, "/v5/order/create");
        // The vector's body has spaces: the exact bytes are what is signed.
        req.body_mut().push_str(
            r#"{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"}"#,
        );
        sign(&signer(), "test_api_key", 1700000000000, 5000, &mut req);
        assert_eq!(
            req.header_value("X-BAPI-SIGN"),
            Some("2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1")
        );
        assert_eq!(req.header_value("Content-Type"), Some("application/json"));
    }

    #[test]
    fn websocket_auth_y3() {
        let mut out = SigText::new();
        ws_auth_signature(&signer(), 1700000000000, &mut out);
        assert_eq!(
            out.as_str(),
            "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
        );
    }

    /// The docs' layout (their secret is not published), with a secret of our own; the value
    /// was computed with Python's hmac module, not with this code.
    #[test]
    fn hand_checked_layout() {
        let signer = Signer::sha256(&Secret::new("carry-test-secret"));
        let mut req = Request::new();
        req.start(Method::Get, "/v5/order/realtime");
        req.query("category", "option");
        req.query("symbol", "BTC-29JUL22-25000-C");
        sign(&signer, "XXXXXXXXXX", 1658384314791, 5000, &mut req);
        assert_eq!(
            req.header_value("X-BAPI-SIGN"),
            Some("0aa3cc7302eb4ee47769b81fad61449d3d00c2d79568d9777fbd457ee42cc080")
        );
    }
}

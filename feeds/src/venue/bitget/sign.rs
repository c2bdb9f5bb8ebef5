//! Bitget v2 request signing: base64 HMAC-SHA256 of `timestamp + METHOD + requestPath +
//! ("?" + query) + body`, with the timestamp in milliseconds. The query is signed as sent;
//! Bitget's own sample sorts parameters by name and does not percent-encode them, so carry's
//! Bitget requests add their query parameters in name order and use values that need no
//! encoding. Key, signature, timestamp and passphrase travel in `ACCESS-*` headers. The
//! websocket login signs `{timestamp}GET/user/verify`.

use crate::gateway::request::{IntText, Request};
use crate::gateway::signer::{SigText, Signer};

/// Signs `req` at `timestamp_ms` and sets the `ACCESS-*` headers, the JSON content type and
/// the English locale (error messages in English). `demo` adds `paptrading: 1` (demo trading).
pub fn sign(
    signer: &Signer,
    api_key: &str,
    passphrase: &str,
    timestamp_ms: i64,
    demo: bool,
    req: &mut Request,
) {
    let ts = IntText::new(timestamp_ms);
    let query = req.query_str();
    let mut sig = SigText::new();
    sig.base64(&signer.sign(&[
        ts.as_str().as_bytes(),
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        if query.is_empty() { b"" } else { b"?" },
        query.as_bytes(),
        req.body_str().as_bytes(),
    ]));
    req.header("ACCESS-KEY", api_key);
    req.header("ACCESS-SIGN", sig.as_str());
    req.header("ACCESS-TIMESTAMP", ts.as_str());
    req.header("ACCESS-PASSPHRASE", passphrase);
    req.header("Content-Type", "application/json");
    req.header("locale", "en-US");
    if demo {
        req.header("paptrading", "1");
    }
}

/// The websocket login signature for a timestamp (Bitget's samples use seconds).
pub fn ws_login_signature(signer: &Signer, timestamp: i64, out: &mut SigText) {
    let ts = IntText::new(timestamp);
    out.base64(&signer.sign(&[ts.as_str().as_bytes(), b"GET/user/verify"]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::credentials::Secret;
    use crate::gateway::request::Method;

    /// Computed with the docs' example secret over the docs' own pre-hash strings (PRIVATE.md
    /// §6.7; Bitget publishes no output for them).
    #[test]
    fn docs_prehash_strings() {
        let signer = Signer::sha256(&Secret::new("22582BD0CFF14C41EDBF1AB98506286D"));
        let mut req = Request::new();
        // The docs' timestamp has 14 digits and its path says mix/v2: signed as printed.
        req.start(Method::Get, "/api/mix/v2/market/depth");
        req.query("limit", "20");
        req.query("symbol", "BTCUSDT");
        sign(&signer, "k", "p", 16273667805456, false, &mut req);
        assert_eq!(
            req.header_value("ACCESS-SIGN"),
            Some("30l+qfOwyfwL90Ss/Wz2h2be1+vlW/DKH5rcFIsocEI=")
        );
        assert_eq!(req.header_value("ACCESS-TIMESTAMP"), Some("16273667805456"));

        req.start(Method::Post, "/api/v2/mix/order/place-order");
        req.json_begin();
        for (k, v) in [
            ("productType", "usdt-futures"),
            ("symbol", "BTCUSDT"),
            ("size", "8"),
            ("marginMode", "crossed"),
            ("side", "buy"),
            ("orderType", "limit"),
            ("clientOid", "channel#123456"),
        ] {
            req.json_str(k, v);
        }
        req.json_end();
        sign(&signer, "k", "p", 16273667805456, true, &mut req);
        assert_eq!(
            req.header_value("ACCESS-SIGN"),
            Some("jIRuviYIBOMtYTXX+ji2u+/QsuvmwgqRWhM6kiexTEU=")
        );
        assert_eq!(req.header_value("ACCESS-PASSPHRASE"), Some("p"));
        assert_eq!(req.header_value("paptrading"), Some("1"));

        let mut out = SigText::new();
        ws_login_signature(&signer, 1538054050, &mut out);
        assert_eq!(out.as_str(), "/4S0C3L8mGdm8894ulf8wfnQ6dqMXO8Iw95zlvMN8Zw=");
    }
}

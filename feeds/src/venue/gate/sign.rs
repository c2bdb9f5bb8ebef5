//! Gate v4 request signing: hex HMAC-SHA512 of
//! `METHOD\n/api/v4/path\nquery\nhex(SHA512(body))\ntimestamp`, with the query as sent (not
//! re-encoded) and the timestamp in whole seconds. Key, timestamp and signature travel in the
//! `KEY`, `Timestamp` and `SIGN` headers. Private websocket channels sign
//! `channel=<c>&event=<e>&time=<t>`.

use crate::gateway::request::{IntText, Request};
use crate::gateway::signer::{SigText, Signer};

/// Signs `req` at `timestamp_s` (seconds) and sets the headers and the JSON content type.
pub fn sign(signer: &Signer, api_key: &str, timestamp_s: i64, req: &mut Request) {
    let ts = IntText::new(timestamp_s);
    let mut body_hash = SigText::new();
    body_hash.sha512_hex(req.body_str().as_bytes());
    let mut sig = SigText::new();
    sig.hex(&signer.sign(&[
        req.method().as_str().as_bytes(),
        b"\n",
        req.path().as_bytes(),
        b"\n",
        req.query_str().as_bytes(),
        b"\n",
        body_hash.as_str().as_bytes(),
        b"\n",
        ts.as_str().as_bytes(),
    ]));
    req.header("KEY", api_key);
    req.header("Timestamp", ts.as_str());
    req.header("SIGN", sig.as_str());
    req.header("Content-Type", "application/json");
    req.header("Accept", "application/json");
}

/// The `auth.SIGN` of a private websocket subscription.
pub fn ws_channel_signature(
    signer: &Signer,
    channel: &str,
    event: &str,
    time_s: i64,
    out: &mut SigText,
) {
    let t = IntText::new(time_s);
    out.hex(&signer.sign(&[
        b"channel=",
        channel.as_bytes(),
        b"&event=",
        event.as_bytes(),
        b"&time=",
        t.as_str().as_bytes(),
    ]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::credentials::Secret;
    use crate::gateway::request::Method;

    /// The docs' "API Signature string generation" examples (PRIVATE.md §6.4, G1-G3).
    #[test]
    fn docs_examples_g1_g2_g3() {
        let signer = Signer::sha512(&Secret::new("secret"));
        let mut req = Request::new();
        req.start(Method::Get, "/api/v4/futures/orders");
        req.query("contract", "BTC_USD");
        req.query("status", "finished");
        req.query_int("limit", 50);
        sign(&signer, "key", 1541993715, &mut req);
        assert_eq!(
            req.header_value("SIGN"),
            Some("55f84ea195d6fe57ce62464daaa7c3c02fa9d1dde954e4c898289c9a2407a3d6fb3faf24deff16790d726b66ac9f74526668b13bd01029199cc4fcc522418b8a")
        );
        assert_eq!(req.header_value("Timestamp"), Some("1541993715"));
        assert_eq!(req.header_value("KEY"), Some("key"));

        req.start(Method::Post, "/api/v4/futures/orders");
        req.body_mut().push_str(
            r#"{"contract":"BTC_USD","type":"limit","size":100,"price":6800,"time_in_force":"gtc"}"#,
        );
        sign(&signer, "key", 1541993715, &mut req);
        assert_eq!(
            req.header_value("SIGN"),
            Some("eae42da914a590ddf727473aff25fc87d50b64783941061f47a3fdb92742541fc4c2c14017581b4199a1418d54471c269c03a38d788d802e2c306c37636389f0")
        );

        let mut out = SigText::new();
        ws_channel_signature(&signer, "futures.orders", "subscribe", 1541993715, &mut out);
        assert_eq!(
            out.as_str(),
            "4cdab02f21aba635fce8684a050806325cb4aa74a93d00c39f2084da73614d2e1d25878ca7c9ebcbde9541cddfc5ae36b1ccde10982eb82fd09f7a30a6d43d84"
        );
    }
}

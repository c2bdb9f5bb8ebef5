//! Binance request signing (spot and USDⓈ-M alike): HMAC-SHA256 over the query string followed
//! directly by the body (no separator), in lowercase hex, appended as the last query parameter
//! `signature`; the key goes in `X-MBX-APIKEY`. What is signed is exactly what is sent: values
//! are percent-encoded before signing (non-ASCII symbols included), and nothing is reordered
//! after.

use crate::gateway::request::Request;
use crate::gateway::signer::{SigText, Signer};

/// The header that carries the API key.
pub const KEY_HEADER: &str = "X-MBX-APIKEY";

/// Signs `req` (whose query already ends with `timestamp` and `recvWindow`): appends
/// `&signature=<hex>` to the query and sets the key header.
pub fn sign(signer: &Signer, api_key: &str, req: &mut Request) {
    let mut sig = SigText::new();
    sig.hex(&signer.sign(&[req.query_str().as_bytes(), req.body_str().as_bytes()]));
    req.query("signature", sig.as_str());
    req.header(KEY_HEADER, api_key);
}

/// The WebSocket API's signature: every parameter but `signature`, sorted by name, as
/// `k=v&...` with raw UTF-8 values, in lowercase hex. `payload` is that string.
pub fn ws_signature(signer: &Signer, payload: &str, out: &mut SigText) {
    out.hex(&signer.sign(&[payload.as_bytes()]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::credentials::Secret;
    use crate::gateway::request::Method;

    const SPOT_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SPOT_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn order(req: &mut Request, symbol: &str) {
        req.start(Method::Post, "/api/v3/order");
        req.query("symbol", symbol);
        req.query("side", "BUY");
        req.query("type", "LIMIT");
        req.query("timeInForce", "GTC");
        req.query("quantity", "1");
        req.query("price", "0.1");
        req.query_int("recvWindow", 5000);
        req.query_int("timestamp", 1499827319559);
    }

    /// The spot docs' "SIGNED Endpoint Examples for POST /api/v3/order – HMAC Keys".
    #[test]
    fn spot_rest_examples_b1_b2() {
        let signer = Signer::sha256(&Secret::new(SPOT_SECRET));
        let mut req = Request::new();
        order(&mut req, "LTCBTC");
        sign(&signer, SPOT_KEY, &mut req);
        assert_eq!(
            req.query_str(),
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        assert_eq!(req.header_value(KEY_HEADER), Some(SPOT_KEY));

        // B2: a non-ASCII symbol is percent-encoded before it is signed.
        order(&mut req, "１２３４５６");
        sign(&signer, SPOT_KEY, &mut req);
        assert!(req
            .query_str()
            .starts_with("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY"));
        assert!(req.query_str().ends_with(
            "&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        ));
    }

    /// B3 (NautilusTrader's test, same secret): a bare timestamp.
    #[test]
    fn spot_rest_example_b3() {
        let signer = Signer::sha256(&Secret::new(SPOT_SECRET));
        let mut req = Request::new();
        req.start(Method::Get, "/api/v3/account");
        req.query_int("timestamp", 1578963600000);
        sign(&signer, SPOT_KEY, &mut req);
        assert_eq!(
            req.query_str(),
            "timestamp=1578963600000&signature=d84e6641b1e328e7b418fff030caed655c266299c9355e36ce801ed14631eed4"
        );
    }

    /// The USDⓈ-M docs' examples 1 and 2 (F1): query only, and query split from a body give
    /// the same signature, since the two are concatenated without a separator.
    #[test]
    fn futures_rest_example_f1_in_query_and_split_into_a_body() {
        let signer = Signer::sha256(&Secret::new(
            "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9",
        ));
        let want = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9";
        let mut req = Request::new();
        req.start(Method::Post, "/fapi/v1/order");
        for (k, v) in [
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("quantity", "1"),
            ("price", "9000"),
            ("timeInForce", "GTC"),
            ("recvWindow", "5000"),
            ("timestamp", "1591702613943"),
        ] {
            req.query(k, v);
        }
        sign(&signer, "k", &mut req);
        assert!(req.query_str().ends_with(&format!("&signature={want}")));

        // Example 2's split: part in the query, the rest in the body.
        req.start(Method::Post, "/fapi/v1/order");
        req.query("symbol", "BTCUSDT");
        req.query("side", "BUY");
        req.query("type", "LIMIT");
        req.body_mut().push_str(
            "&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943",
        );
        let mut sig = SigText::new();
        sig.hex(&signer.sign(&[req.query_str().as_bytes(), req.body_str().as_bytes()]));
        assert_eq!(sig.as_str(), want);
    }

    /// The WebSocket API examples W1-W6 (sorted parameters, raw UTF-8).
    #[test]
    fn websocket_api_examples_w1_to_w6() {
        let signer = Signer::sha256(&Secret::new(SPOT_SECRET));
        let k = SPOT_KEY;
        for (payload, want) in [
            (format!("apiKey={k}&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"), "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"),
            (format!("apiKey={k}&price=0.10000000&quantity=1.00000000&recvWindow=5000&side=BUY&symbol=１２３４５６&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"), "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"),
            (format!("apiKey={k}&timestamp=1649729878532"), "1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed"),
            (format!("apiKey={k}&price=23416.10000000&quantity=0.00847000&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1660801715431&type=LIMIT"), "15af09e41c36f3cc61378c2fbe2c33719a03dd5eba8d0f9206fbda44de717c88"),
            (format!("apiKey={k}&origClientOrderId=4d96324ff9d44481926157&symbol=BTCUSDT&timestamp=1660801715830"), "33d5b721f278ae17a52f004a82a6f68a70c68e7dd6776ed0be77a455ab855282"),
            (format!("apiKey={k}&cancelOrigClientOrderId=4d96324ff9d44481926157&cancelReplaceMode=ALLOW_FAILURE&price=23416.10000000&quantity=0.00847000&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1660813156900&type=LIMIT"), "7028fdc187868754d25e42c37ccfa5ba2bab1d180ad55d4c3a7e2de643943dc5"),
        ] {
            let mut out = SigText::new();
            ws_signature(&signer, &payload, &mut out);
            assert_eq!(out.as_str(), want, "{payload}");
        }
    }
}

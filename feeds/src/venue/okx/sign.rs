//! OKX v5 request signing: base64 HMAC-SHA256 of `timestamp + METHOD + requestPath + body`,
//! where the timestamp is ISO 8601 UTC with milliseconds (`2020-12-08T09:08:57.715Z`) and the
//! request path of a GET includes its `?query`. Key, signature, timestamp and passphrase travel
//! in `OK-ACCESS-*` headers; demo trading adds `x-simulated-trading: 1`. The websocket login
//! signs `{unix seconds}GET/users/self/verify`.

use crate::gateway::request::{IntText, Request};
use crate::gateway::signer::{SigText, Signer};

/// Signs `req` at `timestamp_ms` and sets the `OK-ACCESS-*` headers and the JSON content type.
pub fn sign(
    signer: &Signer,
    api_key: &str,
    passphrase: &str,
    timestamp_ms: i64,
    simulated: bool,
    req: &mut Request,
) {
    let mut ts = [0u8; 24];
    let ts = iso8601_ms(timestamp_ms, &mut ts);
    let query = req.query_str();
    let mut sig = SigText::new();
    sig.base64(&signer.sign(&[
        ts.as_bytes(),
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        if query.is_empty() { b"" } else { b"?" },
        query.as_bytes(),
        req.body_str().as_bytes(),
    ]));
    req.header("OK-ACCESS-KEY", api_key);
    req.header("OK-ACCESS-SIGN", sig.as_str());
    req.header("OK-ACCESS-TIMESTAMP", ts);
    req.header("OK-ACCESS-PASSPHRASE", passphrase);
    req.header("Content-Type", "application/json");
    if simulated {
        req.header("x-simulated-trading", "1");
    }
}

/// The websocket login signature for a timestamp in unix seconds.
pub fn ws_login_signature(signer: &Signer, timestamp_s: i64, out: &mut SigText) {
    let ts = IntText::new(timestamp_s);
    out.base64(&signer.sign(&[ts.as_str().as_bytes(), b"GET/users/self/verify"]));
}

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`, written into `out`.
pub fn iso8601_ms(ms: i64, out: &mut [u8; 24]) -> &str {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss, mmm) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    let y = y.clamp(0, 9999);
    let mut put = |at: usize, v: i64, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y, 4);
    put(5, m, 2);
    put(8, d, 2);
    put(11, hh, 2);
    put(14, mm, 2);
    put(17, ss, 2);
    put(20, mmm, 3);
    out[4] = b'-';
    out[7] = b'-';
    out[10] = b'T';
    out[13] = b':';
    out[16] = b':';
    out[19] = b'.';
    out[23] = b'Z';
    std::str::from_utf8(&out[..]).unwrap_or("")
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::credentials::Secret;
    use crate::gateway::request::Method;

    /// 2020-12-08T09:08:57.715Z, the docs' example time.
    const TS: i64 = 1_607_418_537_715;

    #[test]
    fn iso_timestamps() {
        let mut b = [0u8; 24];
        for (ms, want) in [
            (TS, "2020-12-08T09:08:57.715Z"),
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
            (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
        ] {
            assert_eq!(iso8601_ms(ms, &mut b), want, "{ms}");
        }
    }

    /// NautilusTrader's vector (PRIVATE.md §6.6), and the same secret with a query.
    #[test]
    fn get_balance_with_and_without_query() {
        let signer = Signer::sha256(&Secret::new(
            "chNOOS4KvNXR_Xq4k4c9qsfoKWvnDecLATCRlcBwyKDYnWgO",
        ));
        let mut req = Request::new();
        req.start(Method::Get, "/api/v5/account/balance");
        sign(&signer, "k", "p", TS, false, &mut req);
        assert_eq!(
            req.header_value("OK-ACCESS-SIGN"),
            Some("PJ61e1nb2F2Qd7D8SPiaIcx2gjdELc+o0ygzre9z33k=")
        );
        assert_eq!(
            req.header_value("OK-ACCESS-TIMESTAMP"),
            Some("2020-12-08T09:08:57.715Z")
        );
        req.start(Method::Get, "/api/v5/account/balance");
        req.query("ccy", "BTC");
        sign(&signer, "k", "p", TS, false, &mut req);
        assert_eq!(
            req.header_value("OK-ACCESS-SIGN"),
            Some("ebNz0sDoc3LoFm1hqjP8LDT0fnRlDERj5C+I4ZqB4Cw=")
        );
    }

    /// Computed with the docs' example secret (PRIVATE.md §6.6; no official output exists).
    #[test]
    fn docs_secret_cases_get_post_and_login() {
        let signer = Signer::sha256(&Secret::new("22582BD0CFF14C41EDBF1AB98506286D"));
        let mut req = Request::new();
        req.start(Method::Get, "/api/v5/account/balance");
        req.query("ccy", "BTC");
        sign(&signer, "key", "pass", TS, true, &mut req);
        assert_eq!(
            req.header_value("OK-ACCESS-SIGN"),
            Some("HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY=")
        );
        assert_eq!(req.header_value("OK-ACCESS-PASSPHRASE"), Some("pass"));
        assert_eq!(req.header_value("x-simulated-trading"), Some("1"));

        req.start(Method::Post, "/api/v5/account/set-leverage");
        req.json_begin();
        req.json_str("instId", "BTC-USDT");
        req.json_str("lever", "5");
        req.json_str("mgnMode", "isolated");
        req.json_end();
        sign(&signer, "key", "pass", TS, false, &mut req);
        assert_eq!(
            req.header_value("OK-ACCESS-SIGN"),
            Some("eCnnCgWLjlQ9XnpUkrcny3qNq3WW/81KNrDr/XR6Xv8=")
        );
        assert_eq!(req.header_value("x-simulated-trading"), None);

        let mut out = SigText::new();
        ws_login_signature(&signer, 1538054050, &mut out);
        assert_eq!(out.as_str(), "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M=");
    }
}

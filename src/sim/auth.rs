//! The primitives the simulated venues check signatures with: HMAC-SHA256 and HMAC-SHA512 in hex
//! or base64, SHA-512 of a body, a comparison that does not stop at the first differing byte, and
//! the ISO-8601 timestamps OKX signs. Which bytes each venue signs, and which clock rule it
//! applies, lives in that venue's module (`binance::private`, ...): this file knows no venue.
//!
//! The simulator never borrows carry's own signing code (`carry_feeds` venue modules): a mistake
//! there has to show up as the simulated venue refusing the request.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

fn hmac_sha256(secret: &str, payload: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(payload);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex of HMAC-SHA256 (Binance, Bybit).
pub(crate) fn hmac_sha256_hex(secret: &str, payload: &[u8]) -> String {
    hex(&hmac_sha256(secret, payload))
}

/// Base64 (standard alphabet, padded) of HMAC-SHA256 (OKX, Bitget).
pub(crate) fn hmac_sha256_base64(secret: &str, payload: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, payload))
}

/// Lowercase hex of HMAC-SHA512 (Gate).
pub(crate) fn hmac_sha512_hex(secret: &str, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(payload);
    hex(&mac.finalize().into_bytes())
}

/// Lowercase hex of SHA-512 (Gate hashes the body into its string to sign).
pub(crate) fn sha512_hex(data: &[u8]) -> String {
    hex(&Sha512::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// True when `a` and `b` are equal, looking at every byte whatever the first difference (a
/// venue does not leak where a forged signature goes wrong). `ignore_case` is for hex
/// signatures, which Binance documents as case-insensitive.
pub(crate) fn same_signature(a: &str, b: &str, ignore_case: bool) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.bytes().zip(b.bytes()) {
        let (x, y) = if ignore_case {
            (x.to_ascii_lowercase(), y.to_ascii_lowercase())
        } else {
            (x, y)
        };
        diff |= x ^ y;
    }
    diff == 0
}

/// Unix milliseconds of an ISO-8601 UTC timestamp with milliseconds, exactly as OKX signs it:
/// `2020-12-08T09:08:57.715Z`. Anything else is `None` (OKX answers 50112 then).
pub(crate) fn parse_iso_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = &s[from..to];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second, milli) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + milli)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_of_known_inputs() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hmac_sha512_hex("Jefe", b"what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        // The empty body Gate hashes into every GET's string to sign.
        assert!(sha512_hex(b"").starts_with("cf83e1357eefb8bdf1542850d66d8007"));
    }

    #[test]
    fn signatures_compare_whole() {
        assert!(same_signature("abcd", "abcd", false));
        assert!(!same_signature("abcd", "abce", false));
        assert!(!same_signature("abcd", "abc", false));
        assert!(same_signature("ABcd", "abCD", true));
        assert!(!same_signature("ABcd", "abCD", false));
    }

    #[test]
    fn iso_timestamps_as_okx_signs_them() {
        assert_eq!(parse_iso_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_iso_ms("2020-12-08T09:08:57.715Z"),
            Some(1_607_418_537_715)
        );
        assert_eq!(
            parse_iso_ms("2024-02-29T23:59:59.999Z"),
            Some(1_709_251_199_999)
        );
        for bad in [
            "2020-12-08T09:08:57Z",
            "2020-12-08 09:08:57.715Z",
            "2020-13-08T09:08:57.715Z",
            "1607418537715",
            "2020-12-08T09:08:57.715+00:00",
        ] {
            assert_eq!(parse_iso_ms(bad), None, "{bad}");
        }
    }
}

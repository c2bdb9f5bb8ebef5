//! Keeping credentials out of the config file, the refusals and the journal.
//!
//! A venue section names the environment variables that hold its keys (`api_key_env =
//! "CARRY_OKX_KEY"`). A name is `[A-Z][A-Z0-9_]*`, at most [`MAX_ENV_NAME_LEN`] characters, and a
//! value that looks like a key rather than a name ([`looks_like_secret`]) is refused as a pasted
//! secret. No refusal ever shows such a value: the `*_env` refusals name the key only, and every
//! other reason passes through [`redact`]. The journal's START record gets
//! [`journaled_text`], which holds neither comments nor the `*_env` keys.

/// Longest environment variable name accepted.
pub const MAX_ENV_NAME_LEN: usize = 64;

/// Shortest value treated as a possible credential: venue keys are 18 (Bybit) to 64 (Binance)
/// characters, passphrases are chosen by people and can be anything.
pub const SECRET_MIN_LEN: usize = 16;

/// Whether `s` looks like an API key, secret or token rather than a name: at least
/// [`SECRET_MIN_LEN`] characters, and either letters mixed with digits and nothing else (no `_`,
/// which names have), or hex (a UUID's dashes allowed), or base64 (mixed case, digits, and `+`,
/// `/` or `=` padding; a path, which starts with `/`, is not base64 here).
pub fn looks_like_secret(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < SECRET_MIN_LEN {
        return false;
    }
    let letters = b.iter().any(u8::is_ascii_alphabetic);
    let digits = b.iter().any(u8::is_ascii_digit);
    let key = b.iter().all(u8::is_ascii_alphanumeric) && letters && digits;
    let hex = letters && b.iter().all(|c| c.is_ascii_hexdigit() || *c == b'-');
    let base64 = b[0] != b'/'
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
        && digits
        && b.iter().any(|c| matches!(c, b'+' | b'/' | b'='))
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='));
    key || hex || base64
}

/// Checks the value of a `*_env` key. The reason never contains the value: what is refused
/// there may be a key.
pub fn check_env_name(name: &str) -> Result<(), String> {
    if looks_like_secret(name) {
        return Err(format!(
            "looks like a pasted secret, not the name of an environment variable (the value is not shown): put the name of the variable that holds it here, e.g. CARRY_OKX_KEY ([A-Z][A-Z0-9_]*, at most {MAX_ENV_NAME_LEN} characters)"
        ));
    }
    let b = name.as_bytes();
    let ok = b.len() <= MAX_ENV_NAME_LEN
        && b.first().is_some_and(u8::is_ascii_uppercase)
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "not an environment variable name ([A-Z][A-Z0-9_]*, at most {MAX_ENV_NAME_LEN} characters; the value is not shown): put the variable's name here, never the key itself"
        ))
    }
}

/// `text` with every word that [`looks_like_secret`] replaced by `<redacted>`, for messages
/// that quote what was in the file (parser errors, values echoed in a refusal). A word is a run
/// of letters, digits, `+ / _ -` with any `=` padding; where the whole word does not look like a
/// secret, its parts between `-` and `_` are checked too (`key-A1B2...`).
pub fn redact(text: &str) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '_' | '-');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(word) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let mut len = tail.find(|c| !word(c)).unwrap_or(tail.len());
        len += tail[len..].len() - tail[len..].trim_start_matches('=').len();
        let w = &tail[..len];
        if looks_like_secret(w) {
            out.push_str("<redacted>");
        } else {
            for part in w.split_inclusive(['-', '_']) {
                let sep = part.strip_suffix(['-', '_']).map(|p| (p, &part[p.len()..]));
                let (body, sep) = sep.unwrap_or((part, ""));
                out.push_str(if looks_like_secret(body) {
                    "<redacted>"
                } else {
                    body
                });
                out.push_str(sep);
            }
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

/// Keys of a venue section that name credentials' variables.
const ENV_KEYS: [&str; 3] = ["api_key_env", "api_secret_env", "api_passphrase_env"];

/// The configuration as the journal's START record keeps it: `text` (already accepted by
/// [`super::Config::parse`]) parsed and written out again, so no comment survives, without the
/// `*_env` keys (replay does not need credentials). It parses to the same engine.
pub fn journaled_text(text: &str) -> Result<String, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| redact(e.message()))?;
    if let Some(toml::Value::Table(venues)) = table.get_mut("venues") {
        for (_, section) in venues.iter_mut() {
            if let toml::Value::Table(section) = section {
                section.retain(|key, _| !ENV_KEYS.contains(&key));
            }
        }
    }
    let body = toml::to_string(&table).map_err(|e| e.to_string())?;
    Ok(format!(
        "# carry: the configuration this run started with, without comments and *_env keys\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_values_table() {
        // (value, looks like a secret)
        let cases = [
            ("A1B2C3D4E5F60718293A4B5C6D7E8F90", true), // the issue's upper-case key
            ("abc123secretvalue", true),                // letters and digits, 17
            (
                "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
                true,
            ), // Binance
            ("XXXXXXXXXXXXXXXXX1", true),               // Bybit's 18 characters
            ("0123456789ABCDEF0123456789ABCDEF", true), // OKX secret: hex
            ("deadbeefcafebabedeadbeef", true),         // hex without a digit
            ("a1b2c3d4-e5f6-4789-9abc-def012345678", true), // OKX key: a UUID
            ("aGVsbG8gd29ybGQgdGhpcyBpcyBhIGtleQ==", true), // base64
            ("Zm9vYmFyYmF6cXV4/2Fbc+Q", true),
            ("CARRY_OKX_API_KEY", false), // a name: `_` separates words
            ("CARRY_OKX_KEY_20240101", false),
            ("OKXKEY1", false),                       // short
            ("ABCDEFGHIJKLMNOPQRST", false),          // letters only, not hex
            ("79228162514264337593543950335", false), // a number
            ("/home/user1/carry/Journal", false),     // a path
            ("eth-perp-okx/bybit", false),
            ("max_notional_per_pair", false),
            ("", false),
        ];
        for (value, secret) in cases {
            assert_eq!(looks_like_secret(value), secret, "{value}");
        }
    }

    #[test]
    fn env_names_are_checked_without_showing_the_value() {
        let longest = format!("CARRY_{}", "X".repeat(MAX_ENV_NAME_LEN - 6));
        for name in ["CARRY_OKX_KEY", "K", "A_1", &longest] {
            assert_eq!(check_env_name(name), Ok(()), "{name}");
        }
        for (name, why) in [
            ("A1B2C3D4E5F60718293A4B5C6D7E8F90", "pasted secret"),
            ("hunter2", "not an environment variable name"),
            ("carry_okx_key", "not an environment variable name"),
            ("1CARRY", "not an environment variable name"),
            ("_CARRY", "not an environment variable name"),
            ("CARRY-KEY", "not an environment variable name"),
            ("", "not an environment variable name"),
            (&format!("{longest}X"), "at most 64"),
        ] {
            let e = check_env_name(name).unwrap_err();
            assert!(e.contains(why), "{name}: {e}");
            assert!(name.is_empty() || !e.contains(name), "{name} shown in {e}");
        }
    }

    #[test]
    fn redact_replaces_only_secret_looking_words() {
        assert_eq!(
            redact("unknown field `A1B2C3D4E5F60718293A4B5C6D7E8F90`, expected `ws_url`"),
            "unknown field `<redacted>`, expected `ws_url`"
        );
        let plain = "venues.okx-perp.taker_fee: must be above -0.01 and below 0.01, got 79228162514264337593543950335";
        assert_eq!(redact(plain), plain);
        assert_eq!(redact(""), "");
        assert_eq!(redact("x=abc123secretvalue."), "x=<redacted>.");
        assert_eq!(
            redact("key-A1B2C3D4E5F60718293A4B5C6D7E8F90_x a1b2c3d4-e5f6-4789-9abc-def012345678"),
            "key-<redacted>_x <redacted>"
        );
        assert_eq!(
            redact("pad aGVsbG8gd29ybGQgdGhpcyBpcyBhIGtleQ== end"),
            "pad <redacted> end"
        );
    }

    #[test]
    fn the_journaled_text_has_no_comments_and_no_env_keys() {
        let text = r#"
# okx key A1B2C3D4E5F60718293A4B5C6D7E8F90, remove before committing
instance = "t1"   # trailing comment
[venues.okx-perp]
ws_url = "wss://ws.okx.com:8443"
api_key_env = "CARRY_OKX_KEY"
api_secret_env = "CARRY_OKX_SECRET"
api_passphrase_env = "CARRY_OKX_PASS"
taker_fee = 0.0005
[[pairs]]
instrument = "BTC-USDT"
"#;
        let out = journaled_text(text).unwrap();
        for gone in ["A1B2C3D4", "trailing", "api_", "CARRY_OKX"] {
            assert!(!out.contains(gone), "{gone} in\n{out}");
        }
        let table: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(table["instance"].as_str(), Some("t1"));
        assert_eq!(
            table["venues"]["okx-perp"]["taker_fee"].as_float(),
            Some(0.0005)
        );
        assert_eq!(table["pairs"][0]["instrument"].as_str(), Some("BTC-USDT"));
    }
}

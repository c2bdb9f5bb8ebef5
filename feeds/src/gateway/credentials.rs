//! API credentials of one venue account, read from the environment variables a config names.
//!
//! A [`Secret`] has no `Display` and a redacted `Debug`, so a key or secret cannot reach a log
//! line, an error message or the journal by accident; the one place that needs the bytes (the
//! signer, at start) calls [`Secret::expose`].

use std::fmt;

/// A credential value. Its `Debug` prints `<redacted>`; it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from the environment (or handed over by the demo's simulated venues).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the places that sign requests or send the key header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The key, secret and (OKX, Bitget) passphrase of one venue account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The API key, sent in a header (or, on Gate's websocket, in the payload).
    pub key: Secret,
    /// The signing secret; never sent.
    pub secret: Secret,
    /// OKX and Bitget: the passphrase chosen when the key was created.
    pub passphrase: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_value() {
        let c = Credentials {
            key: Secret::new("AKEY1234567890"),
            secret: Secret::new("s3cr3t-value"),
            passphrase: Some(Secret::new("pass-phrase")),
        };
        let shown = format!("{c:?} {:#?}", c);
        for value in ["AKEY1234567890", "s3cr3t-value", "pass-phrase"] {
            assert!(!shown.contains(value), "{shown}");
        }
        assert!(shown.contains("<redacted>"));
    }
}

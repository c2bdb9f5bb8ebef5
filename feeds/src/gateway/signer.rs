//! Request signing shared by every venue: an HMAC key prepared once at start, and the two text
//! forms venues want a signature in (lowercase hex, standard base64), written into a fixed
//! buffer so signing allocates nothing.
//!
//! Each venue decides *what* it signs (its `sign.rs`); this module only does the keyed hash.
//! The HMAC is ring's (the TLS stack's own crypto), so carry's signing shares no code with the
//! simulated venues' verifier, which uses the RustCrypto crates: a mistake in one is caught by
//! the other.
//!
//! ```
//! use carry_feeds::gateway::credentials::Secret;
//! use carry_feeds::gateway::signer::{Signer, SigText};
//! let signer = Signer::sha256(&Secret::new("key"));
//! let mut text = SigText::new();
//! text.hex(&signer.sign(&[b"The quick brown fox jumps over the lazy dog"]));
//! assert_eq!(text.as_str(), "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
//! ```

use ring::{digest, hmac};

use super::credentials::Secret;

/// A keyed HMAC, prepared once; each signature starts from its precomputed state.
pub struct Signer {
    key: hmac::Key,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

impl Signer {
    /// HMAC-SHA256 (Binance, Bybit, OKX, Bitget).
    pub fn sha256(secret: &Secret) -> Signer {
        Signer {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes()),
        }
    }

    /// HMAC-SHA512 (Gate).
    pub fn sha512(secret: &Secret) -> Signer {
        Signer {
            key: hmac::Key::new(hmac::HMAC_SHA512, secret.expose().as_bytes()),
        }
    }

    /// The HMAC of the concatenation of `parts`, without building the concatenation.
    pub fn sign(&self, parts: &[&[u8]]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.key);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign()
    }
}

/// A signature or digest in text form, in a fixed buffer (SHA-512 hex is the longest: 128).
#[derive(Clone, Copy)]
pub struct SigText {
    buf: [u8; 128],
    len: usize,
}

impl Default for SigText {
    fn default() -> SigText {
        SigText::new()
    }
}

impl std::fmt::Debug for SigText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SigText").field(&self.as_str()).finish()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl SigText {
    /// Empty.
    pub const fn new() -> SigText {
        SigText {
            buf: [0; 128],
            len: 0,
        }
    }

    /// Lowercase hex of `bytes` (at most 64 bytes).
    pub fn hex(&mut self, bytes: &impl AsRef<[u8]>) -> &str {
        let bytes = bytes.as_ref();
        debug_assert!(bytes.len() * 2 <= self.buf.len());
        let n = bytes.len().min(self.buf.len() / 2);
        for (i, b) in bytes[..n].iter().enumerate() {
            self.buf[2 * i] = HEX[(b >> 4) as usize];
            self.buf[2 * i + 1] = HEX[(b & 0xf) as usize];
        }
        self.len = 2 * n;
        self.as_str()
    }

    /// Standard base64 with padding of `bytes` (at most 96 bytes).
    pub fn base64(&mut self, bytes: &impl AsRef<[u8]>) -> &str {
        let bytes = bytes.as_ref();
        let mut o = 0;
        for chunk in bytes.chunks(3) {
            if o + 4 > self.buf.len() {
                break;
            }
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            self.buf[o] = B64[(n >> 18) as usize & 63];
            self.buf[o + 1] = B64[(n >> 12) as usize & 63];
            self.buf[o + 2] = if chunk.len() > 1 {
                B64[(n >> 6) as usize & 63]
            } else {
                b'='
            };
            self.buf[o + 3] = if chunk.len() > 2 {
                B64[n as usize & 63]
            } else {
                b'='
            };
            o += 4;
        }
        self.len = o;
        self.as_str()
    }

    /// Lowercase hex SHA-512 of `data` (Gate signs the body's hash, not the body).
    pub fn sha512_hex(&mut self, data: &[u8]) -> &str {
        let d = digest::digest(&digest::SHA512, data);
        self.hex(&d)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex and base64 digits are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2_in_both_digests() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let key = Secret::new("Jefe");
        let mut t = SigText::new();
        assert_eq!(
            t.hex(&Signer::sha256(&key).sign(&[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            t.hex(&Signer::sha512(&key).sign(&[b"what do ya want for nothing?"])),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let mut t = SigText::new();
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(t.base64(&input), want, "{input:?}");
        }
    }

    #[test]
    fn sha512_of_nothing_is_the_known_constant() {
        // Gate's docs print this as the hash of an empty body.
        let mut t = SigText::new();
        assert_eq!(
            t.sha512_hex(b""),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        );
    }
}

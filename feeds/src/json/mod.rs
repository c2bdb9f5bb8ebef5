//! The JSON readers venue frames are read with, allocation-free: [`cursor`], a pull parser that
//! reads any JSON; `strict.rs`, the fast path for the compact frames venues send; and here, what
//! both share: the [`Fault`] a frame is dropped for, exact parsing of the decimals, integers and
//! timestamps venues send as strings or numbers (the general paths behind the cursor's fast
//! ones, and what REST uses), and [`Note`], text kept without allocating. Nothing here panics on
//! any input.

pub mod cursor;
pub(crate) mod strict;

use std::fmt;

use rust_decimal::Decimal;

use crate::transport::session::DropReason;

/// Why a frame was not turned into events, and which field (or channel) was at fault. The field
/// name is static so building a fault never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Why the frame was dropped (labels the drop counter).
    pub reason: DropReason,
    /// The field or channel at fault.
    pub field: &'static str,
}

impl Fault {
    /// A fault of `field` for `reason`.
    pub const fn new(reason: DropReason, field: &'static str) -> Fault {
        Fault { reason, field }
    }
    /// A required field is missing.
    pub const fn missing(field: &'static str) -> Fault {
        Fault::new(DropReason::MissingField, field)
    }
    /// A number, decimal or time that does not parse.
    pub const fn bad_number(field: &'static str) -> Fault {
        Fault::new(DropReason::BadNumber, field)
    }
    /// The frame is not the JSON shape expected at `field`.
    pub const fn malformed(field: &'static str) -> Fault {
        Fault::new(DropReason::Malformed, field)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.reason {
            DropReason::Malformed => "malformed message",
            DropReason::MissingField => "missing field",
            DropReason::BadNumber => "not an exact number",
            DropReason::UnknownSymbol => "unknown symbol",
            DropReason::UnknownChannel => "channel not handled",
            DropReason::SubscribeError => "subscription refused",
            DropReason::DeltaWithoutSnapshot => "delta before any snapshot",
        };
        write!(f, "{what}: {}", self.field)
    }
}

/// Nesting deeper than this is refused (venue messages are three or four levels deep); it also
/// bounds the cursor's recursion when it skips a value.
pub const MAX_DEPTH: u32 = 32;

/// Parses a plain decimal string exactly (`-12.5000`, `0.00038167`, `1e-5`), keeping the scale
/// as written so that `Display` gives the venue's text back. `None` when the text is not a
/// decimal or cannot be held exactly (more than 28 fractional digits or 96 bits of mantissa).
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    parse_decimal_bytes(text.as_bytes())
}

/// [`parse_decimal`] over bytes.
pub fn parse_decimal_bytes(bytes: &[u8]) -> Option<Decimal> {
    let (negative, body) = match bytes.first()? {
        b'-' => (true, bytes.get(1..)?),
        b'+' => (false, bytes.get(1..)?),
        _ => (false, bytes),
    };
    // What venues send: at most 19 characters of digits and a point, no exponent (19 digits
    // fit a u64, so no overflow check). One tight loop; anything else takes the general path.
    if body.len() <= 19 {
        let mut mantissa: u64 = 0;
        let mut point = None;
        let mut plain = true;
        for (i, &c) in body.iter().enumerate() {
            let d = c.wrapping_sub(b'0');
            if d < 10 {
                mantissa = mantissa * 10 + u64::from(d);
            } else if c == b'.' && point.is_none() {
                point = Some(i);
            } else {
                plain = false;
                break;
            }
        }
        let digits = body.len() - usize::from(point.is_some());
        if plain && digits > 0 {
            let scale = point.map_or(0, |p| body.len() - p - 1) as u32;
            return Some(Decimal::from_parts(
                mantissa as u32,
                (mantissa >> 32) as u32,
                0,
                negative && mantissa != 0,
                scale,
            ));
        }
    }
    parse_decimal_general(negative, body)
}

/// Any decimal text: more than 19 digits (up to 96 bits of mantissa), or an exponent.
fn parse_decimal_general(negative: bool, body: &[u8]) -> Option<Decimal> {
    const MAX_MANTISSA: u128 = (1u128 << 96) - 1;
    // Up to 19 digits fit a u64 (the usual case); beyond that, u128 up to 96 bits.
    let mut small: u64 = 0;
    let mut mantissa: u128 = 0;
    let mut wide = false;
    let mut scale: i64 = 0;
    let mut digits = 0usize;
    let mut seen_dot = false;
    let mut exponent_at = None;
    for (i, &c) in body.iter().enumerate() {
        match c {
            b'0'..=b'9' => {
                let d = c - b'0';
                if !wide && digits < 19 {
                    small = small * 10 + u64::from(d);
                } else {
                    if !wide {
                        mantissa = u128::from(small);
                        wide = true;
                    }
                    mantissa = mantissa * 10 + u128::from(d);
                    if mantissa > MAX_MANTISSA {
                        return None;
                    }
                }
                digits += 1;
                scale += i64::from(seen_dot);
            }
            b'.' if !seen_dot => seen_dot = true,
            b'e' | b'E' => {
                exponent_at = Some(i);
                break;
            }
            _ => return None,
        }
    }
    if digits == 0 {
        return None;
    }
    if !wide {
        mantissa = u128::from(small);
    }
    if let Some(i) = exponent_at {
        scale -= parse_small_int(body.get(i + 1..)?)?;
    }
    while scale < 0 {
        mantissa = mantissa.checked_mul(10).filter(|m| *m <= MAX_MANTISSA)?;
        scale += 1;
    }
    let scale = u32::try_from(scale)
        .ok()
        .filter(|s| *s <= Decimal::MAX_SCALE)?;
    Some(Decimal::from_parts(
        mantissa as u32,
        (mantissa >> 32) as u32,
        (mantissa >> 64) as u32,
        negative && mantissa != 0,
        scale,
    ))
}

/// A signed exponent of at most three digits (a leading `+` allowed).
fn parse_small_int(bytes: &[u8]) -> Option<i64> {
    match bytes {
        [b'-', digits @ ..] => digits_value(digits, 3).map(|n| -n),
        [b'+', digits @ ..] => digits_value(digits, 3),
        digits => digits_value(digits, 3),
    }
}

/// Parses a base-10 integer (optional leading `-`), as venues send ids and times in strings.
pub fn parse_int(text: &str) -> Option<i64> {
    parse_int_bytes(text.as_bytes())
}

/// [`parse_int`] over bytes.
pub fn parse_int_bytes(bytes: &[u8]) -> Option<i64> {
    match bytes {
        [b'-', digits @ ..] => digits_value(digits, 18).map(|n| -n),
        digits => digits_value(digits, 18),
    }
}

/// The value of 1 to `max` ASCII digits (`max` ≤ 18, so it cannot overflow an i64).
#[inline]
fn digits_value(digits: &[u8], max: usize) -> Option<i64> {
    if digits.is_empty() || digits.len() > max {
        return None;
    }
    let mut n: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

/// Unix milliseconds from an epoch count whose unit is ms, µs or ns. Venue times are ms unless a
/// connection was opened with a finer unit (Binance `timeUnit=MICROSECOND`, OKX `inTime`), and
/// the magnitudes cannot collide: 10^14 ms is the year 5138.
pub const fn epoch_ms(raw: i64) -> i64 {
    if raw >= 100_000_000_000_000_000 {
        raw / 1_000_000
    } else if raw >= 100_000_000_000_000 {
        raw / 1_000
    } else {
        raw
    }
}

/// A short text kept without allocating (the reason for the last dropped frame, a venue's
/// subscription error message): writes past the capacity are cut at a character boundary.
#[derive(Clone)]
pub struct Note {
    buf: [u8; 256],
    len: usize,
}

impl Default for Note {
    fn default() -> Self {
        Note {
            buf: [0; 256],
            len: 0,
        }
    }
}

impl Note {
    /// Forgets the text.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Whether there is no text.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The text kept.
    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in, so this cannot fail; fall back to "" rather
        // than panic should that ever change.
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }

    /// Replaces the text.
    pub fn set(&mut self, args: fmt::Arguments<'_>) {
        self.len = 0;
        let _ = fmt::Write::write_fmt(self, args);
    }
}

impl fmt::Write for Note {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + take),
            s.as_bytes().get(..take),
        ) {
            dst.copy_from_slice(src);
            self.len += take;
        }
        Ok(())
    }
}

impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn decimals_parse_exactly_and_print_back_as_sent() {
        for text in [
            "11794.15000000",
            "0.00038167",
            "-0.000114",
            "0.0001875391284828",
            "61874.00",
            "20575",
            "0",
            "0.0",
            "79228162514264337593543950335",
        ] {
            let d = parse_decimal(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(d.to_string(), text);
            assert_eq!(d, Decimal::from_str_exact(text).unwrap(), "{text}");
        }
    }

    #[test]
    fn decimal_forms_and_rejects() {
        let cases: &[(&str, Option<&str>)] = &[
            ("+1.5", Some("1.5")),
            ("1e-5", Some("0.00001")),
            ("1.25E2", Some("125")),
            ("2.5e+1", Some("25")),
            (".5", Some("0.5")),
            ("5.", Some("5")),
            ("-0", Some("0")),
            ("", None),
            ("-", None),
            (".", None),
            ("1.2.3", None),
            ("1,5", None),
            (" 1", None),
            ("abc", None),
            ("1e", None),
            ("1e1000", None),
            ("NaN", None),
            ("79228162514264337593543950336", None),
            ("0.00000000000000000000000000001", None),
        ];
        for (text, want) in cases {
            let got = parse_decimal(text);
            assert_eq!(got, want.map(|w| Decimal::from_str(w).unwrap()), "{text:?}");
        }
    }

    #[test]
    fn ints_and_epochs() {
        assert_eq!(parse_int("1715760000000"), Some(1_715_760_000_000));
        assert_eq!(parse_int("-12"), Some(-12));
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("12a"), None);
        assert_eq!(parse_int("1234567890123456789"), None);
        for bad in ["-", "+5", "--5", "-+5", " 5"] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
        assert_eq!(parse_small_int(b"+12"), Some(12));
        assert_eq!(parse_small_int(b"-123"), Some(-123));
        for bad in [&b"1234"[..], b"+-1", b"-+1", b"+", b""] {
            assert_eq!(parse_small_int(bad), None, "{bad:?}");
        }
        assert_eq!(epoch_ms(1_715_760_000_000), 1_715_760_000_000);
        assert_eq!(epoch_ms(1_695_190_491_421_339), 1_695_190_491_421);
        assert_eq!(epoch_ms(1_695_190_491_421_339_000), 1_695_190_491_421);
    }
    proptest::proptest! {
        #[test]
        fn decimals_match_rust_decimal_exact_parsing(text in "-?[0-9]{1,31}(\\.[0-9]{1,31})?") {
            let ours = parse_decimal(&text);
            let theirs = Decimal::from_str_exact(&text).ok();
            proptest::prop_assert_eq!(ours, theirs);
            if let (Some(a), Some(b)) = (ours, theirs) {
                proptest::prop_assert_eq!(a.to_string(), b.to_string());
            }
        }
    }

    #[test]
    fn note_truncates_on_char_boundaries() {
        let mut n = Note::default();
        n.set(format_args!("{}", "é".repeat(200)));
        assert_eq!(n.as_str().len(), 256);
        assert!(n.as_str().chars().all(|c| c == 'é'));
        n.set(format_args!("code {} {}", 60012, "Invalid request"));
        assert_eq!(n.as_str(), "code 60012 Invalid request");
    }
}

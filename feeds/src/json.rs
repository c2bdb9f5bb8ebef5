//! Allocation-free JSON reading for the feed hot path: simd-json's tape parsed into buffers that
//! are reused frame after frame, a small checked view over that tape, and exact parsing of the
//! decimals and timestamps venues send as strings or integers. Nothing here panics on any input:
//! every access is bounds-checked and a bad value is a [`Fault`], which becomes a
//! [`DropReason`] at the session.

use std::fmt;

use rust_decimal::Decimal;
use simd_json::{Buffers, Node, StaticNode, Tape};

use crate::session::DropReason;

/// Why a frame was not turned into events, and which field (or channel) was at fault. The field
/// name is static so building a fault never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    pub reason: DropReason,
    pub field: &'static str,
}

impl Fault {
    pub const fn new(reason: DropReason, field: &'static str) -> Fault {
        Fault { reason, field }
    }
    pub const fn missing(field: &'static str) -> Fault {
        Fault::new(DropReason::MissingField, field)
    }
    pub const fn bad_number(field: &'static str) -> Fault {
        Fault::new(DropReason::BadNumber, field)
    }
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

/// simd-json's parse state, kept across frames so that after the first few frames parsing
/// allocates nothing: the stage-1/2 buffers and the tape vector only ever grow.
pub struct TapeParser {
    buffers: Buffers,
    tape: Tape<'static>,
}

impl Default for TapeParser {
    fn default() -> Self {
        TapeParser::new()
    }
}

impl TapeParser {
    pub fn new() -> TapeParser {
        TapeParser {
            buffers: Buffers::new(4096),
            tape: Tape(Vec::with_capacity(256)),
        }
    }

    /// Parses `frame` in place (simd-json unescapes strings inside it) and hands the root value
    /// to `read`. Returns `Err` when the frame is not valid JSON.
    pub fn parse<'i, R>(
        &mut self,
        frame: &'i mut [u8],
        read: impl for<'t> FnOnce(Json<'t, 'i>) -> R,
    ) -> Result<R, Fault> {
        // The tape's allocation is reused under the frame's lifetime and handed back emptied;
        // `Tape::reset` is simd-json's sanctioned way to do that without unsafe code here.
        let mut tape: Tape<'i> = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let out = match simd_json::fill_tape(frame, &mut self.buffers, &mut tape) {
            Ok(()) => Ok(read(Json(&tape.0))),
            Err(_) => Err(Fault::malformed("not JSON")),
        };
        self.tape = tape.reset();
        out
    }
}

/// A checked view of one value on a simd-json tape.
#[derive(Clone, Copy)]
pub struct Json<'t, 'i>(&'t [Node<'i>]);

/// Number of tape nodes a value spans, itself included.
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count.saturating_add(1),
        _ => 1,
    }
}

impl<'t, 'i> Json<'t, 'i> {
    fn node(self) -> Option<Node<'i>> {
        self.0.first().copied()
    }

    pub fn as_str(self) -> Option<&'i str> {
        match self.node()? {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// An integer JSON number (floats are not integers here).
    pub fn as_i64(self) -> Option<i64> {
        match self.node()? {
            Node::Static(StaticNode::I64(n)) => Some(n),
            Node::Static(StaticNode::U64(n)) => i64::try_from(n).ok(),
            _ => None,
        }
    }

    pub fn as_bool(self) -> Option<bool> {
        match self.node()? {
            Node::Static(StaticNode::Bool(b)) => Some(b),
            _ => None,
        }
    }

    pub fn is_null(self) -> bool {
        matches!(self.node(), Some(Node::Static(StaticNode::Null)))
    }

    pub fn is_object(self) -> bool {
        matches!(self.node(), Some(Node::Object { .. }))
    }

    pub fn is_array(self) -> bool {
        matches!(self.node(), Some(Node::Array { .. }))
    }

    /// The key/value pairs of an object; empty for anything else.
    pub fn fields(self) -> Fields<'t, 'i> {
        match self.node() {
            Some(Node::Object { len, .. }) => Fields {
                rest: self.0.get(1..).unwrap_or(&[]),
                left: len,
            },
            _ => Fields { rest: &[], left: 0 },
        }
    }

    /// The elements of an array; empty for anything else.
    pub fn items(self) -> Items<'t, 'i> {
        match self.node() {
            Some(Node::Array { len, .. }) => Items {
                rest: self.0.get(1..).unwrap_or(&[]),
                left: len,
            },
            _ => Items { rest: &[], left: 0 },
        }
    }

    /// Number of elements of an array (0 for anything else).
    pub fn len(self) -> usize {
        match self.node() {
            Some(Node::Array { len, .. }) => len,
            _ => 0,
        }
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The value under `key` of an object (a linear scan: venue objects are small).
    pub fn get(self, key: &str) -> Option<Json<'t, 'i>> {
        self.fields().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The first element of an array.
    pub fn first(self) -> Option<Json<'t, 'i>> {
        self.items().next()
    }
}

/// Iterator over an object's fields.
pub struct Fields<'t, 'i> {
    rest: &'t [Node<'i>],
    left: usize,
}

impl<'t, 'i> Iterator for Fields<'t, 'i> {
    type Item = (&'i str, Json<'t, 'i>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let key = match self.rest.first()? {
            Node::String(s) => *s,
            _ => return None,
        };
        let n = span(self.rest.get(1)?);
        let value = self.rest.get(1..1 + n)?;
        self.rest = self.rest.get(1 + n..)?;
        Some((key, Json(value)))
    }
}

/// Iterator over an array's elements.
pub struct Items<'t, 'i> {
    rest: &'t [Node<'i>],
    left: usize,
}

impl<'t, 'i> Iterator for Items<'t, 'i> {
    type Item = Json<'t, 'i>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let n = span(self.rest.first()?);
        let value = self.rest.get(..n)?;
        self.rest = self.rest.get(n..)?;
        Some(Json(value))
    }
}

/// Parses a plain decimal string exactly (`-12.5000`, `0.00038167`, `1e-5`), keeping the scale
/// as written so that `Display` gives the venue's text back. `None` when the text is not a
/// decimal or cannot be held exactly (more than 28 fractional digits or 96 bits of mantissa).
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    const MAX_MANTISSA: u128 = (1u128 << 96) - 1;
    let bytes = text.as_bytes();
    let (negative, body) = match bytes.first()? {
        b'-' => (true, bytes.get(1..)?),
        b'+' => (false, bytes.get(1..)?),
        _ => (false, bytes),
    };
    let mut mantissa: u128 = 0;
    let mut scale: i64 = 0;
    let mut digits = 0usize;
    let mut seen_dot = false;
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u128::from(c - b'0');
                if mantissa > MAX_MANTISSA {
                    return None;
                }
                digits += 1;
                if seen_dot {
                    scale += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i < body.len() {
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

/// A signed exponent of at most three digits.
fn parse_small_int(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.first()? {
        b'-' => (true, bytes.get(1..)?),
        b'+' => (false, bytes.get(1..)?),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 3 {
        return None;
    }
    let mut n: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(if negative { -n } else { n })
}

/// Parses a base-10 integer (optional leading `-`), as venues send ids and times in strings.
pub fn parse_int(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let (negative, digits) = match bytes.first()? {
        b'-' => (true, bytes.get(1..)?),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(if negative { -n } else { n })
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

/// An exact decimal from a JSON string or integer. Floats are refused: their text is gone by
/// the time simd-json hands them over, so they cannot be reproduced exactly.
pub fn decimal(value: Json<'_, '_>, field: &'static str) -> Result<Decimal, Fault> {
    if let Some(text) = value.as_str() {
        return parse_decimal(text).ok_or(Fault::bad_number(field));
    }
    if let Some(n) = value.as_i64() {
        return Ok(Decimal::from(n));
    }
    match value.node() {
        Some(Node::Static(StaticNode::U64(n))) => Ok(Decimal::from(n)),
        _ => Err(Fault::bad_number(field)),
    }
}

/// Like [`decimal`], for a field that may be absent, `null` or `""` (venues send empty strings
/// for values that do not apply).
pub fn opt_decimal(
    value: Option<Json<'_, '_>>,
    field: &'static str,
) -> Result<Option<Decimal>, Fault> {
    match value {
        None => Ok(None),
        Some(v) if v.is_null() || v.as_str() == Some("") => Ok(None),
        Some(v) => decimal(v, field).map(Some),
    }
}

/// A Unix time in ms from a JSON integer or integer string (ms, µs or ns; see [`epoch_ms`]).
pub fn millis(value: Json<'_, '_>, field: &'static str) -> Result<i64, Fault> {
    let raw = match value.as_str() {
        Some(text) => parse_int(text),
        None => value.as_i64(),
    };
    raw.map(epoch_ms).ok_or(Fault::bad_number(field))
}

/// Like [`millis`] for a field that may be absent, `null` or `""`.
pub fn opt_millis(value: Option<Json<'_, '_>>, field: &'static str) -> Result<Option<i64>, Fault> {
    match value {
        None => Ok(None),
        Some(v) if v.is_null() || v.as_str() == Some("") => Ok(None),
        Some(v) => millis(v, field).map(Some),
    }
}

/// The first `[price, size, ..]` level of a book side (an array of levels); `None` for an empty
/// side.
pub fn first_level(
    side: Json<'_, '_>,
    field: &'static str,
) -> Result<Option<(Decimal, Decimal)>, Fault> {
    if !side.is_array() {
        return Err(Fault::malformed(field));
    }
    let Some(level) = side.first() else {
        return Ok(None);
    };
    let mut parts = level.items();
    let price = decimal(parts.next().ok_or(Fault::malformed(field))?, field)?;
    let size = decimal(parts.next().ok_or(Fault::malformed(field))?, field)?;
    Ok(Some((price, size)))
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
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

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
        assert_eq!(epoch_ms(1_715_760_000_000), 1_715_760_000_000);
        assert_eq!(epoch_ms(1_695_190_491_421_339), 1_695_190_491_421);
        assert_eq!(epoch_ms(1_695_190_491_421_339_000), 1_695_190_491_421);
    }

    #[test]
    fn tape_view_reads_nested_values() {
        let mut p = TapeParser::new();
        let mut frame =
            br#"{"a":{"b":[1,"x",{"c":null}],"d":"2.50"},"e":-3,"f":true,"g":1.5}"#.to_vec();
        let out = p
            .parse(&mut frame, |root| {
                let a = root.get("a").unwrap();
                let b = a.get("b").unwrap();
                assert_eq!(b.len(), 3);
                let items: Vec<_> = b.items().collect();
                assert_eq!(items[0].as_i64(), Some(1));
                assert_eq!(items[1].as_str(), Some("x"));
                assert!(items[2].get("c").unwrap().is_null());
                assert_eq!(
                    decimal(a.get("d").unwrap(), "d").unwrap().to_string(),
                    "2.50"
                );
                assert_eq!(root.get("e").unwrap().as_i64(), Some(-3));
                assert_eq!(root.get("f").unwrap().as_bool(), Some(true));
                assert_eq!(
                    decimal(root.get("g").unwrap(), "g"),
                    Err(Fault::bad_number("g"))
                );
                assert!(root.get("zz").is_none());
                root.fields().count()
            })
            .unwrap();
        assert_eq!(out, 4);
        let mut bad = b"{\"a\":".to_vec();
        assert!(p.parse(&mut bad, |_| ()).is_err());
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

//! The fast path for the frames venues actually send on the streams carry subscribes to:
//! compact JSON (no whitespace), strings of plain ASCII with no escape, and the shape the venue
//! module expects. [`Strict`] reads such a frame front to back in one pass, finding each
//! string's end with one 16-byte compare, with no quote-marking pass and none of the general
//! cursor's bookkeeping for whitespace, escapes and arbitrary nesting. Anything else makes it
//! decline (`None`) having acted on nothing, and the venue module reads the frame again with
//! the general [`Cursor`](crate::json::cursor::Cursor), which reads every valid JSON frame and
//! reports every invalid one.
//!
//! Two readers use it. The keyed one reads the keys in any order, finding each key's end and
//! mapping it to its field. The in-order one, for the book streams (the highest-rate frames)
//! and Binance markPrice, expects the fields in the order the venue sends them and checks each
//! key together with the punctuation around it by one compare (`s.expect(br#","b":"#)`),
//! reading by key only what follows the fields carry needs; a frame in another order declines
//! at the first compare that differs, and the keyed reader takes it.
//!
//! A value is decoded by the same functions as the cursor's, and a venue module maps keys to
//! [`Slot`]s with the same code on every path, so a frame a fast path accepts gives the same
//! events as the cursor would: `feeds/tests/venue_fast_path.rs` compares them on every
//! fixture and every one-byte edit of them, `venue_fuzz.rs` on mutated frames.

use crate::json::cursor::{
    dec_number, dec_quoted, dec_text, int_number, int_text, number_len, plain_int, scan16,
};
use crate::json::cursor::{Code, Dec, Int, Level, Slot};
use crate::json::parse_int_bytes;

/// The longest frame the fast path reads. Each string's end is found from where the previous
/// token ended, so the compares form a chain; the general cursor's quote-marking pass has no
/// such chain and costs less on long frames with many strings (measured, time per parse paired
/// with serde_json's: OKX funding-rate, 483 bytes and 38 strings, 0.35 of serde's time through
/// the cursor and 0.51 through the fast path; Binance spot bookTicker, 101 bytes, 0.45 and 0.37).
pub const MAX_LEN: usize = 256;

/// Reads one compact frame front to back; the slices it returns borrow the frame.
#[derive(Clone, Copy)]
pub(crate) struct Strict<'a> {
    b: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// Just entered an object: its first key needs no comma.
    fresh: bool,
}

impl<'a> Strict<'a> {
    /// A reader for `b`, or `None` for a frame longer than [`MAX_LEN`].
    pub fn new(b: &'a [u8]) -> Option<Strict<'a>> {
        (b.len() <= MAX_LEN).then_some(Strict {
            b,
            pos: 0,
            fresh: false,
        })
    }

    /// A reader for `b` at any length, for a reader that expects each key at its place: it
    /// finds the end of no key, so the chain that bounds [`Strict::new`] is short.
    pub fn in_order(b: &'a [u8]) -> Strict<'a> {
        Strict {
            b,
            pos: 0,
            fresh: false,
        }
    }

    /// Whether the frame goes on with `lit` (not consumed).
    #[inline(always)]
    pub fn at(&self, lit: &[u8]) -> bool {
        self.b.get(self.pos..self.pos + lit.len()) == Some(lit)
    }

    /// Consumes `lit` if the frame goes on with it.
    #[inline(always)]
    pub fn eat(&mut self, lit: &[u8]) -> bool {
        let end = self.pos + lit.len();
        if self.b.get(self.pos..end) == Some(lit) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    /// Consumes `lit`, or declines.
    #[inline(always)]
    pub fn expect(&mut self, lit: &[u8]) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// The next byte, not consumed.
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Declines unless the whole frame has been read: call it before acting on anything read.
    #[inline(always)]
    pub fn end(&self) -> Option<()> {
        (self.pos == self.b.len()).then_some(())
    }

    /// Enters the object that starts here, or declines.
    #[inline(always)]
    pub fn object(&mut self) -> Option<()> {
        self.expect(b"{")?;
        self.fresh = true;
        Some(())
    }

    /// The next key of the object being read, leaving the reader at its value (which the caller
    /// must read); `None` inside once the object is closed.
    #[inline(always)]
    pub fn next_key(&mut self) -> Option<Option<&'a [u8]>> {
        let fresh = std::mem::replace(&mut self.fresh, false);
        match self.peek()? {
            b'"' if fresh => self.pos += 1,
            b',' if !fresh => self.expect(b",\"")?,
            b'}' => {
                self.pos += 1;
                return Some(None);
            }
            _ => return None,
        }
        // One-letter keys (most of those in quote frames) need no search for their end.
        let at = self.pos;
        if let (Some(&c), Some(b"\":")) = (self.b.get(at), self.b.get(at + 1..at + 3)) {
            if (0x20..0x80).contains(&c) && c != b'"' && c != b'\\' {
                self.pos = at + 3;
                return Some(self.b.get(at..at + 1));
            }
        }
        let key = self.string_rest()?;
        self.expect(b":")?;
        Some(Some(key))
    }

    /// Reads the elements of the array just entered up to its closing bracket: `item` reads
    /// each, or declines.
    #[inline(always)]
    pub fn items(&mut self, mut item: impl FnMut(&mut Strict<'a>) -> Option<()>) -> Option<()> {
        if self.eat(b"]") {
            return Some(());
        }
        item(self)?;
        self.rest_of(item)
    }

    /// Reads the value here into `slot`, as [`Cursor::read`](crate::json::cursor::Cursor::read)
    /// would.
    #[inline(always)]
    pub fn read(&mut self, slot: Slot<'_, 'a>) -> Option<()> {
        match slot {
            Slot::Dec(d) => *d = self.decimal()?,
            Slot::Int(i) => *i = self.int()?,
            Slot::Str(s) => *s = self.str()?,
            Slot::Level(l) => *l = self.first_level()?,
            // Only Bybit's replies have one, and Bybit has no fast path.
            Slot::Bool(_) => return None,
            Slot::Code(c) => *c = self.code()?,
            Slot::Skip => self.skip()?,
        }
        Some(())
    }

    /// Skips the rest of the string whose opening quote has just been consumed.
    #[inline(always)]
    pub fn skip_string_rest(&mut self) -> Option<()> {
        self.string_bounds().map(drop)
    }

    /// The content of the string whose opening quote has just been consumed.
    #[inline(always)]
    fn string_rest(&mut self) -> Option<&'a [u8]> {
        let (start, end) = self.string_bounds()?;
        self.b.get(start..end)
    }

    /// Where the content of the string whose opening quote has just been consumed starts and
    /// ends; the cursor moves past its closing quote.
    #[inline(always)]
    fn string_bounds(&mut self) -> Option<(usize, usize)> {
        let start = self.pos;
        let end = plain_end(self.b, start)?;
        self.pos = end + 1;
        Some((start, end))
    }

    /// The length of the JSON number here.
    #[inline(always)]
    fn number_len(&self) -> Option<usize> {
        number_len(self.b.get(self.pos..)?)
    }

    /// A string value; `None` inside (the value skipped) for a scalar of another type.
    #[inline(always)]
    fn str(&mut self) -> Option<Option<&'a [u8]>> {
        if self.eat(b"\"") {
            return self.string_rest().map(Some);
        }
        self.skip_scalar()?;
        Some(None)
    }

    /// As [`Cursor::decimal`](crate::json::cursor::Cursor::decimal).
    #[inline(always)]
    fn decimal(&mut self) -> Option<Dec> {
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                if let Some((d, end)) = dec_quoted(self.b, self.pos) {
                    self.pos = end + 1;
                    return Some(d);
                }
                let (start, end) = self.string_bounds()?;
                Some(dec_text(self.b, start, end))
            }
            b'-' | b'0'..=b'9' => {
                let (d, used) = dec_number(self.b.get(self.pos..)?)?;
                self.pos += used;
                Some(d)
            }
            b'n' => {
                self.expect(b"null")?;
                Some(Dec::Null)
            }
            _ => {
                self.skip_scalar()?;
                Some(Dec::Bad)
            }
        }
    }

    /// As [`Cursor::int`](crate::json::cursor::Cursor::int).
    #[inline(always)]
    fn int(&mut self) -> Option<Int> {
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                let (start, end) = self.string_bounds()?;
                Some(int_text(self.b, start, end))
            }
            b'-' | b'0'..=b'9' => {
                let (i, used) = int_number(self.b.get(self.pos..)?)?;
                self.pos += used;
                Some(i)
            }
            b'n' => {
                self.expect(b"null")?;
                Some(Int::Null)
            }
            _ => {
                self.skip_scalar()?;
                Some(Int::Bad)
            }
        }
    }

    /// As [`Cursor::code`](crate::json::cursor::Cursor::code).
    fn code(&mut self) -> Option<Code<'a>> {
        match self.peek()? {
            b'"' => Some(self.str()?.map_or(Code::None, Code::Text)),
            b'-' | b'0'..=b'9' => {
                let n = self.number_len()?;
                let text = self.b.get(self.pos..self.pos + n)?;
                self.pos += n;
                Some(parse_int_bytes(text).map_or(Code::None, Code::Num))
            }
            _ => {
                self.skip_scalar()?;
                Some(Code::None)
            }
        }
    }

    /// As [`Cursor::first_level`](crate::json::cursor::Cursor::first_level), for a side whose levels
    /// are arrays of scalars.
    #[inline(always)]
    fn first_level(&mut self) -> Option<Level> {
        if !self.eat(b"[") {
            self.skip_scalar()?;
            return Some(Level::NotArray);
        }
        if self.eat(b"]") {
            return Some(Level::Empty);
        }
        let level = if self.eat(b"[") {
            if self.eat(b"]") {
                Level::BadShape
            } else {
                let price = self.decimal()?;
                if self.eat(b",") {
                    let size = self.decimal()?;
                    self.rest_of_scalars()?;
                    Level::Val(price, size)
                } else {
                    self.expect(b"]")?;
                    Level::BadShape
                }
            }
        } else {
            self.skip_scalar()?;
            Level::BadShape
        };
        // The other levels.
        self.rest_of_flat()?;
        Some(level)
    }

    /// After an element of an array: `true` if another follows (the comma consumed), `false`
    /// at the array's end (the bracket consumed).
    #[inline(always)]
    fn another(&mut self) -> Option<bool> {
        let more = match self.peek()? {
            b',' => true,
            b']' => false,
            _ => return None,
        };
        self.pos += 1;
        Some(more)
    }

    /// The rest of an array after one of its elements, each element read by `item`.
    #[inline(always)]
    fn rest_of(&mut self, mut item: impl FnMut(&mut Strict<'a>) -> Option<()>) -> Option<()> {
        while self.another()? {
            item(self)?;
        }
        Some(())
    }

    // The skips below call their skip in their own loop rather than pass it to `rest_of`: a
    // method passed as a closure was compiled out of line, with the reader in memory
    // (measured: an eighth of the time of an OKX bbo-tbt frame).

    /// The rest of an array of scalars after one of its elements.
    #[inline(always)]
    fn rest_of_scalars(&mut self) -> Option<()> {
        while self.another()? {
            self.skip_scalar()?;
        }
        Some(())
    }

    /// The rest of an array of scalars and arrays of scalars after one of its elements.
    #[inline(always)]
    fn rest_of_flat(&mut self) -> Option<()> {
        while self.another()? {
            self.skip_flat()?;
        }
        Some(())
    }

    /// Skips the value here: a scalar, or an array of scalars or of arrays of scalars (what
    /// venues send beside the fields carry reads). An object declines.
    #[inline(always)]
    pub fn skip(&mut self) -> Option<()> {
        if !self.eat(b"[") {
            return self.skip_scalar();
        }
        if self.eat(b"]") {
            return Some(());
        }
        self.skip_flat()?;
        self.rest_of_flat()
    }

    /// Skips a scalar or an array of scalars (a book level).
    #[inline(always)]
    fn skip_flat(&mut self) -> Option<()> {
        if !self.eat(b"[") {
            return self.skip_scalar();
        }
        if self.eat(b"]") {
            return Some(());
        }
        self.skip_scalar()?;
        self.rest_of_scalars()
    }

    /// Skips the string, number, `true`, `false` or `null` here, checking its grammar.
    #[inline(always)]
    fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                self.string_bounds().map(drop)
            }
            b'-' | b'0'..=b'9' => {
                let rest = self.b.get(self.pos..)?;
                self.pos += match plain_int(rest) {
                    Some((_, used)) => used,
                    None => number_len(rest)?,
                };
                Some(())
            }
            b't' => self.expect(b"true"),
            b'f' => self.expect(b"false"),
            b'n' => self.expect(b"null"),
            _ => None,
        }
    }
}

/// The index of the quote that closes the string whose content starts at `start`, if every
/// byte before it is plain ASCII (no control character, no backslash); `None` otherwise, or if
/// the frame ends first. Sixteen bytes per compare.
#[inline(always)]
fn plain_end(b: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    loop {
        let Some(chunk) = b.get(at..).and_then(<[u8]>::first_chunk::<16>) else {
            return plain_end_tail(b, at);
        };
        let (quotes, odd) = scan16(chunk);
        let stop = quotes | odd;
        if stop != 0 {
            let k = stop.trailing_zeros();
            // A quote is never odd: the first stop is the end only if it is a quote.
            return (odd & (1 << k) == 0).then_some(at + k as usize);
        }
        at += 16;
    }
}

/// [`plain_end`] in the frame's last sixteen bytes: they are compared again, keeping the bits
/// of those from `at` on.
#[inline(never)]
fn plain_end_tail(b: &[u8], at: usize) -> Option<usize> {
    let have = b.len().checked_sub(at).filter(|&n| n > 0)?;
    let Some(last) = b.last_chunk::<16>() else {
        // A frame shorter than sixteen bytes.
        let rest = b.get(at..)?;
        let k = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c))?;
        return (rest.get(k) == Some(&b'"')).then_some(at + k);
    };
    let (quotes, odd) = scan16(last);
    let shift = 16 - have;
    let (quotes, odd) = (quotes >> shift, odd >> shift);
    let stop = quotes | odd;
    if stop == 0 {
        return None;
    }
    let k = stop.trailing_zeros();
    (odd & (1 << k) == 0).then_some(at + k as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the string at `start` ends at by a byte loop.
    fn by_bytes(b: &[u8], start: usize) -> Option<usize> {
        for (k, &c) in b.get(start..)?.iter().enumerate() {
            if c == b'"' {
                return Some(start + k);
            }
            if c == b'\\' || !(0x20..0x80).contains(&c) {
                return None;
            }
        }
        None
    }

    #[test]
    fn plain_end_agrees_with_a_byte_loop_wherever_the_string_lies() {
        // Every start, every length, every place of the stop byte, frames long and short.
        for len in 1..50usize {
            for quote_at in 0..len {
                for stop in [b'"', b'\\', 0x1f, 0x80, 0xff] {
                    let mut frame = vec![b'a'; len];
                    frame[quote_at] = stop;
                    for start in 0..=len {
                        assert_eq!(
                            plain_end(&frame, start),
                            by_bytes(&frame, start),
                            "len {len}, stop {stop:#x} at {quote_at}, start {start}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn plain_end_finds_the_first_quote_and_refuses_what_comes_before_it() {
        let b = br#"{"s":"BTCUSDT","x":"a\"b"}"#;
        assert_eq!(plain_end(b, 2), Some(3));
        assert_eq!(plain_end(b, 6), Some(13));
        // An escape before the closing quote: not plain.
        assert_eq!(plain_end(b, 20), None);
        // No closing quote at all.
        assert_eq!(plain_end(b"\"abc", 1), None);
    }

    #[test]
    fn skip_takes_scalars_and_arrays_of_them_and_declines_objects() {
        for (text, ok) in [
            (&br#""x""#[..], true),
            (b"-12.5e3", true),
            (b"true", true),
            (b"null", true),
            (br#"[["1","2"],["3","4",5]]"#, true),
            (b"[]", true),
            (b"[[]]", true),
            (br#"{"a":1}"#, false),
            (b"[[[1]]]", false),
            (b"01", false),
            (b"nul", false),
            (b"[1,]", false),
            (br#"[["1"],]"#, false),
            (b"[,1]", false),
            (b"[1,,2]", false),
            (b"[1 ,2]", false),
        ] {
            let mut s = Strict::new(text).unwrap();
            let read = s.skip().and_then(|()| s.end());
            assert_eq!(read.is_some(), ok, "{}", String::from_utf8_lossy(text));
        }
    }
}

//! A pull parser over one JSON frame, for the feed hot path. A venue module walks the frame once:
//! it enters an object, matches each key as bytes and reads the value right there (a decimal or
//! an integer from its digits, a symbol as a slice of the frame), and skips what it does not need
//! with a skip that still checks the grammar. No token tape is built and nothing is allocated
//! once the [`Scanner`]'s buffer has grown to the largest frame. A frame is read in full before
//! the venue module acts on it ([`Cursor::end`]), so a frame that is not exactly one valid JSON
//! value is dropped as malformed, whatever its fields say. Reading returns plain values, never
//! an error midway: the first error stops the cursor (every loop over keys or items then ends)
//! and [`Cursor::end`] reports it, which keeps error plumbing out of the venue modules' loops.
//!
//! Why a quote bitmask first: finding each string's end by scanning from its start makes every
//! token wait for the one before it (measured: a validating walk of a 230-byte Binance frame
//! took 95-130 ns that way). The [`Scanner`] instead marks every quote of the frame in one SSE2
//! pass with no such chain (the frame is plain ASCII with no escapes: what venues send), and the
//! cursor then takes string bounds from those bits, consumed in order in a register; what lies
//! between strings (punctuation, numbers, literals) is checked byte by byte. A frame with
//! escapes, control characters or non-ASCII bytes takes a byte-by-byte scan instead, which checks
//! every string (escapes, UTF-8, no raw control character), unescapes it in place and moves its
//! closing quote up to the decoded end (the freed bytes become spaces, outside the string), so
//! the cursor reads both kinds of frame the same way. The grammar accepted is exactly
//! serde_json's (tested against it), nested at most [`MAX_DEPTH`] deep.

use rust_decimal::Decimal;

use crate::json::{epoch_ms, parse_decimal_bytes, parse_int_bytes, Fault, MAX_DEPTH};

/// Marks the quotes of a frame (see the module doc); its buffer is reused frame after frame.
#[derive(Default)]
pub struct Scanner {
    /// One bit per frame byte, set where a string opens or closes.
    quotes: Vec<u64>,
}

impl Scanner {
    /// A scanner with an empty buffer (it grows to the largest frame, once).
    pub fn new() -> Scanner {
        Scanner {
            quotes: Vec::with_capacity(64),
        }
    }

    /// Checks the strings of `frame` (unescaping them in place where needed) and returns a
    /// cursor at its start. `Err` when a string is not valid JSON. Inline, so that the cursor is
    /// built where it is used: a cursor handed over as an argument lives in memory (measured).
    #[inline(always)]
    pub fn scan<'a>(&'a mut self, frame: &'a mut [u8]) -> Result<Cursor<'a>, Fault> {
        self.mark(frame)?;
        let b: &'a [u8] = frame;
        Ok(Cursor {
            b,
            quotes: &self.quotes,
            pos: 0,
            depth: 0,
            fresh: false,
            value: None,
            bits: self.quotes.first().copied().unwrap_or(0),
            base: 0,
            error: None,
        })
    }

    #[inline(never)]
    fn mark(&mut self, frame: &mut [u8]) -> Result<(), Fault> {
        if !quote_mask(frame, &mut self.quotes) {
            mark_strings(frame, &mut self.quotes)?;
        }
        Ok(())
    }
}

/// Reads one scanned frame front to back; the slices it returns borrow the frame.
///
/// Its methods are inlined into the venue module's loop so that its state stays in registers;
/// what is rare runs out of line on a copy (`Copy`, by value), since a cursor whose address
/// reaches a function that is not inlined would live in memory for the whole loop (measured:
/// about a third more instructions per field).
#[derive(Clone, Copy)]
pub struct Cursor<'a> {
    b: &'a [u8],
    quotes: &'a [u64],
    /// The next byte to read.
    pos: usize,
    /// Containers entered and not yet closed.
    depth: u32,
    /// Just entered a container: its first key or item needs no comma.
    fresh: bool,
    /// The bounds of the string value of the key just read, already consumed: [`Cursor::next_key`]
    /// takes a string value with its key (most values are strings), and the value readers
    /// start from it.
    value: Option<(usize, usize)>,
    /// The quote bits not consumed yet of the 64 bytes from `base`: every quote before `pos` is
    /// consumed.
    bits: u64,
    base: usize,
    /// Why the frame is not valid JSON, once reading found out (the cursor then stops).
    error: Option<&'static str>,
}

/// A decimal field as read: kept as what it was, so that the venue module decides whether an
/// absent, `null`, `""` or unparsable value matters for the message it turns out to be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dec {
    /// The key was not there.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// `""`: venues send empty strings for values that do not apply.
    Empty,
    /// A decimal.
    Val(Decimal),
    /// Not a decimal (or not exactly representable), or not a string or number at all.
    Bad,
}

impl Dec {
    /// A value that must be there.
    pub fn required(self, field: &'static str) -> Result<Decimal, Fault> {
        match self {
            Dec::Val(d) => Ok(d),
            Dec::Absent => Err(Fault::missing(field)),
            _ => Err(Fault::bad_number(field)),
        }
    }

    /// A value that may be absent, `null` or `""`.
    pub fn optional(self, field: &'static str) -> Result<Option<Decimal>, Fault> {
        match self {
            Dec::Val(d) => Ok(Some(d)),
            Dec::Absent | Dec::Null | Dec::Empty => Ok(None),
            Dec::Bad => Err(Fault::bad_number(field)),
        }
    }

    /// Whether the key was there at all.
    pub fn is_present(self) -> bool {
        self != Dec::Absent
    }
}

/// An integer field as read, saying whether it was a JSON number or a string of digits (venues
/// send times both ways; a few fields are only read as numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Int {
    /// The key was not there.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// `""`.
    Empty,
    /// A JSON number.
    Num(i64),
    /// A string of digits.
    Text(i64),
    /// Neither, or out of range.
    Bad,
}

impl Int {
    /// The integer, from a number or a string.
    pub fn value(self) -> Option<i64> {
        match self {
            Int::Num(n) | Int::Text(n) => Some(n),
            _ => None,
        }
    }

    /// A Unix time in ms (sent in ms, µs or ns) that must be there.
    pub fn millis(self, field: &'static str) -> Result<i64, Fault> {
        match self {
            Int::Num(n) | Int::Text(n) => Ok(epoch_ms(n)),
            Int::Absent => Err(Fault::missing(field)),
            _ => Err(Fault::bad_number(field)),
        }
    }

    /// A Unix time in ms that may be absent, `null` or `""`.
    pub fn opt_millis(self, field: &'static str) -> Result<Option<i64>, Fault> {
        match self {
            Int::Num(n) | Int::Text(n) => Ok(Some(epoch_ms(n))),
            Int::Absent | Int::Null | Int::Empty => Ok(None),
            Int::Bad => Err(Fault::bad_number(field)),
        }
    }

    /// Whether the key was there at all.
    pub fn is_present(self) -> bool {
        self != Int::Absent
    }
}

/// Where the value of a key goes: a venue module maps each key it knows to a slot and hands the
/// slot to [`Cursor::read`], so that each kind of value is read at one place in its loop (the
/// readers are inlined; one copy of each keeps the loop small, and its state in registers).
pub enum Slot<'s, 'a> {
    /// A decimal, from a string or a number.
    Dec(&'s mut Dec),
    /// An integer, from a number or a string of digits.
    Int(&'s mut Int),
    /// A string, as a slice of the frame (checked UTF-8).
    Str(&'s mut Option<&'a [u8]>),
    /// A book side's first level.
    Level(&'s mut Level),
    /// `true` or `false`.
    Bool(&'s mut Option<bool>),
    /// An error code, string or integer.
    Code(&'s mut Code<'a>),
    /// A value to skip (still checked).
    Skip,
}

/// An error code as venues send it: a string or an integer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Code<'a> {
    /// No code.
    #[default]
    None,
    /// A string code.
    Text(&'a [u8]),
    /// An integer code.
    Num(i64),
}

/// A book side's first level, `[[price, size, ..], ..]`, as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Level {
    /// The key was not there.
    #[default]
    Absent,
    /// The side is not an array.
    NotArray,
    /// `[]`: nothing on this side.
    Empty,
    /// The first level is not an array of at least a price and a size.
    BadShape,
    /// The first level's price and size.
    Val(Dec, Dec),
}

impl Level {
    /// The first level of a side that must be there; `None` for an empty side.
    pub fn required(self, field: &'static str) -> Result<Option<(Decimal, Decimal)>, Fault> {
        match self {
            Level::Absent => Err(Fault::missing(field)),
            Level::NotArray | Level::BadShape => Err(Fault::malformed(field)),
            Level::Empty => Ok(None),
            Level::Val(price, size) => Ok(Some((price.required(field)?, size.required(field)?))),
        }
    }
}

const fn malformed(what: &'static str) -> Fault {
    Fault::malformed(what)
}

impl<'a> Cursor<'a> {
    /// Records that the frame is not valid JSON (the first reason stands) and stops the cursor:
    /// from here on there is nothing to read, so every loop over keys or items ends. Inlined
    /// although rare: a call that takes the cursor's address would keep it in memory for the
    /// whole loop (measured).
    #[inline(always)]
    fn fail(&mut self, what: &'static str) {
        if self.error.is_none() {
            self.error = Some(what);
        }
        self.pos = self.b.len();
        self.bits = 0;
        self.base = usize::MAX / 2;
        self.value = None;
        self.fresh = false;
    }

    /// Whether reading has failed (the frame will be dropped as malformed by [`Cursor::end`]).
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// The position of the next quote not consumed yet, consuming it.
    #[inline(always)]
    fn next_quote(&mut self) -> Option<usize> {
        if self.bits == 0 {
            return self.next_quote_block();
        }
        let at = self.base + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(at)
    }

    /// [`Cursor::next_quote`] when this block's quotes are used up.
    #[inline(always)]
    fn next_quote_block(&mut self) -> Option<usize> {
        let (bits, base) = next_block(self.quotes, self.base)?;
        let at = base + bits.trailing_zeros() as usize;
        self.bits = bits & (bits - 1);
        self.base = base;
        Some(at)
    }

    /// The first byte of the next value, after whitespace.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        if self.value.is_some() {
            return Some(b'"');
        }
        self.look()
    }

    /// The next byte that is not whitespace.
    #[inline(always)]
    fn look(&mut self) -> Option<u8> {
        match self.b.get(self.pos) {
            Some(&c) if c > b' ' => Some(c),
            _ => self.look_after_ws(),
        }
    }

    #[inline(always)]
    fn look_after_ws(&mut self) -> Option<u8> {
        self.pos = skip_ws(self.b, self.pos);
        self.b.get(self.pos).copied()
    }

    /// Checks that the frame was read without error and that nothing but whitespace follows the
    /// root value: call it once the root value has been read, before acting on what it said.
    pub fn end(mut self) -> Result<(), Fault> {
        if let Some(what) = self.error {
            return Err(malformed(what));
        }
        match (self.depth, self.look()) {
            (0, None) => Ok(()),
            (0, Some(_)) => Err(malformed("not JSON: data after the value")),
            _ => Err(malformed("not JSON: unexpected end")),
        }
    }

    #[inline(always)]
    fn open(&mut self) {
        if self.depth >= MAX_DEPTH {
            return self.fail("not JSON: nested too deep");
        }
        self.depth += 1;
        self.fresh = true;
        self.pos += 1;
    }

    #[inline(always)]
    fn close(&mut self) {
        self.depth -= 1;
        self.fresh = false;
        self.pos += 1;
    }

    /// Enters the object that starts here; `false`, with nothing read, if the next value is not
    /// an object.
    #[inline(always)]
    pub fn object(&mut self) -> bool {
        if self.peek() != Some(b'{') {
            return false;
        }
        self.open();
        !self.failed()
    }

    /// Enters the frame's root object. A frame whose root is something else is read to its end
    /// first, so that one that is not JSON at all is dropped as such, then refused.
    #[inline(always)]
    pub fn root_object(&mut self) -> Result<(), Fault> {
        if self.object() {
            return Ok(());
        }
        self.skip();
        self.end()?;
        Err(malformed("not a JSON object"))
    }

    /// Enters the array that starts here; `false`, with nothing read, if the next value is not
    /// an array.
    #[inline(always)]
    pub fn array(&mut self) -> bool {
        if self.peek() != Some(b'[') {
            return false;
        }
        self.open();
        !self.failed()
    }

    /// The next key of the object being read, leaving the cursor at its value (which the caller
    /// must read or skip); `None` once the object is closed (or the frame failed).
    #[inline(always)]
    pub fn next_key(&mut self) -> Option<&'a [u8]> {
        self.value = None;
        // A compact frame: `,"key":` (or `"key":` first), checked without the general steps:
        // the key's opening quote is the next quote bit.
        let lead = usize::from(!self.fresh);
        let at = self.pos + lead;
        if self.bits != 0
            && self.base + self.bits.trailing_zeros() as usize == at
            && (self.fresh || self.b.get(self.pos) == Some(&b','))
        {
            self.bits &= self.bits - 1;
            self.fresh = false;
            let Some(end) = self.next_quote() else {
                self.fail("not JSON: unterminated string");
                return None;
            };
            if self.b.get(end + 1) == Some(&b':') {
                self.pos = end + 2;
                // A string value right after the colon: take it now.
                if self.bits != 0 && self.base + self.bits.trailing_zeros() as usize == end + 2 {
                    self.bits &= self.bits - 1;
                    match self.next_quote() {
                        Some(close) => {
                            self.value = Some((end + 3, close));
                            self.pos = close + 1;
                        }
                        None => {
                            self.fail("not JSON: unterminated string");
                            return None;
                        }
                    }
                }
            } else {
                self.pos = end + 1;
                if self.look() != Some(b':') {
                    self.fail("not JSON: expected `:`");
                    return None;
                }
                self.pos += 1;
            }
            return self.b.get(at + 1..end);
        }
        self.next_key_slow()
    }

    /// [`Cursor::next_key`] with whitespace or at the end of the object.
    #[inline(always)]
    fn next_key_slow(&mut self) -> Option<&'a [u8]> {
        let c = self.look();
        let fresh = std::mem::replace(&mut self.fresh, false);
        match c {
            Some(b'}') if !self.failed() => {
                self.close();
                return None;
            }
            Some(b'"') if fresh => {}
            Some(b',') if !fresh => {
                self.pos += 1;
                if self.look() != Some(b'"') {
                    self.fail("not JSON: expected a key");
                    return None;
                }
            }
            _ if fresh => {
                self.fail("not JSON: expected a key");
                return None;
            }
            _ => {
                self.fail("not JSON: expected `,` or `}`");
                return None;
            }
        }
        let key = self.string()?;
        if self.look() != Some(b':') {
            self.fail("not JSON: expected `:`");
            return None;
        }
        self.pos += 1;
        Some(key)
    }

    /// Moves to the next element of the array being read (which the caller must read or skip);
    /// `false` once the array is closed (or the frame failed).
    #[inline(always)]
    pub fn next_item(&mut self) -> bool {
        let c = self.look();
        if std::mem::replace(&mut self.fresh, false) {
            if c == Some(b']') {
                self.close();
                return false;
            }
            return !self.failed();
        }
        match c {
            Some(b',') => {
                self.pos += 1;
                true
            }
            Some(b']') if !self.failed() => {
                self.close();
                false
            }
            _ => {
                self.fail("not JSON: expected `,` or `]`");
                false
            }
        }
    }

    /// Skips the value here, checking that it is valid JSON.
    #[inline(always)]
    pub fn skip(&mut self) {
        if self.value.take().is_some() {
            return;
        }
        match self.look() {
            Some(b'"') => {
                self.string();
            }
            Some(b'-' | b'0'..=b'9') => {
                self.number();
            }
            Some(b'{' | b'[') => *self = self.skip_container(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(_) => self.fail("not JSON: unexpected character"),
            None => self.fail("not JSON: unexpected end"),
        }
    }

    /// Skips the object or array here, on a copy (see the type's doc).
    #[inline(never)]
    fn skip_container(mut self) -> Self {
        let object = self.look() == Some(b'{');
        self.open();
        self.skip_rest_slow(object)
    }

    /// Skips the rest of the object or array being read (after its opening bracket, or after a
    /// value inside it). Inline when only the closing bracket is left (a book level read up to
    /// its size, a side of one level); anything more runs out of line on a copy.
    #[inline(always)]
    pub fn skip_rest(&mut self, object: bool) {
        let close = if object { b'}' } else { b']' };
        if self.value.is_none() && self.look() == Some(close) && !self.failed() {
            self.close();
            return;
        }
        *self = self.skip_rest_slow(object);
    }

    #[inline(never)]
    fn skip_rest_slow(mut self, object: bool) -> Self {
        if object {
            while self.next_key().is_some() {
                self.skip();
            }
        } else {
            while self.next_item() {
                self.skip();
            }
        }
        self
    }

    #[inline(always)]
    fn literal(&mut self, word: &'static [u8]) {
        if self.b.get(self.pos..self.pos + word.len()) != Some(word) {
            return self.fail("not JSON: unexpected character");
        }
        self.pos += word.len();
    }

    /// Reads the value here into `slot`.
    #[inline(always)]
    pub fn read(&mut self, slot: Slot<'_, 'a>) {
        match slot {
            Slot::Dec(d) => *d = self.decimal(),
            Slot::Int(i) => *i = self.int(),
            Slot::Str(s) => *s = self.str(),
            Slot::Level(l) => *l = self.first_level(),
            Slot::Bool(b) => *b = self.bool(),
            Slot::Code(c) => *c = self.code(),
            Slot::Skip => self.skip(),
        }
    }

    /// A string value; `None` (the value skipped) for anything else.
    #[inline(always)]
    pub fn str(&mut self) -> Option<&'a [u8]> {
        if let Some((start, end)) = self.value.take() {
            return self.b.get(start..end);
        }
        if self.look() == Some(b'"') {
            return self.string();
        }
        self.skip();
        None
    }

    /// A boolean value; `None` (the value skipped) for anything else.
    #[inline(always)]
    pub fn bool(&mut self) -> Option<bool> {
        match self.peek() {
            Some(b't') => {
                self.literal(b"true");
                Some(true)
            }
            Some(b'f') => {
                self.literal(b"false");
                Some(false)
            }
            _ => {
                self.skip();
                None
            }
        }
    }

    /// An error code: a string or an integer (anything else reads as no code).
    #[inline(always)]
    pub fn code(&mut self) -> Code<'a> {
        match self.peek() {
            Some(b'"') => self.str().map_or(Code::None, Code::Text),
            Some(b'-' | b'0'..=b'9') => self
                .number()
                .and_then(parse_int_bytes)
                .map_or(Code::None, Code::Num),
            _ => {
                self.skip();
                Code::None
            }
        }
    }

    /// An exact decimal from a string or a number (a number is read from its text, so `0.1`
    /// stays exactly 0.1), keeping the scale as written.
    #[inline(always)]
    pub fn decimal(&mut self) -> Dec {
        match self.peek() {
            Some(b'"') => {
                let Some((start, end)) = self.string_value() else {
                    return Dec::Bad;
                };
                self.decimal_at(start, end)
            }
            Some(b'-' | b'0'..=b'9') => {
                let rest = self.b.get(self.pos..).unwrap_or_default();
                match dec_number(rest) {
                    Some((d, used)) => {
                        self.pos += used;
                        d
                    }
                    None => {
                        self.fail("not JSON: bad number");
                        Dec::Bad
                    }
                }
            }
            Some(b'n') => {
                self.literal(b"null");
                Dec::Null
            }
            _ => {
                self.skip();
                Dec::Bad
            }
        }
    }

    /// A base-10 integer (optional `-`, at most 18 digits) from a number or a string of digits.
    #[inline(always)]
    pub fn int(&mut self) -> Int {
        match self.peek() {
            Some(b'"') => match self.string_value() {
                Some((start, end)) => int_text(self.b, start, end),
                None => Int::Bad,
            },
            Some(b'-' | b'0'..=b'9') => {
                let rest = self.b.get(self.pos..).unwrap_or_default();
                match int_number(rest) {
                    Some((i, used)) => {
                        self.pos += used;
                        i
                    }
                    None => {
                        self.fail("not JSON: bad number");
                        Int::Bad
                    }
                }
            }
            Some(b'n') => {
                self.literal(b"null");
                Int::Null
            }
            _ => {
                self.skip();
                Int::Bad
            }
        }
    }

    /// The first level of a book side, `[[price, size, ..], ..]`; the other levels are skipped.
    #[inline(always)]
    pub fn first_level(&mut self) -> Level {
        if let Some(level) = self.compact_level() {
            return level;
        }
        if !self.array() {
            self.skip();
            return Level::NotArray;
        }
        if !self.next_item() {
            return Level::Empty;
        }
        let level = if self.array() {
            let price = if self.next_item() {
                self.decimal()
            } else {
                Dec::Absent
            };
            let size = if price.is_present() && self.next_item() {
                self.decimal()
            } else {
                Dec::Absent
            };
            if size.is_present() {
                self.skip_rest(false);
                Level::Val(price, size)
            } else {
                // An array closes after its last item; nothing left to skip.
                Level::BadShape
            }
        } else {
            self.skip();
            Level::BadShape
        };
        self.skip_rest(false);
        level
    }

    /// [`Cursor::first_level`] for a compact side that starts `[["price","size"`, taken from
    /// the quote bits in one go; `None`, with nothing read, for anything else.
    #[inline(always)]
    fn compact_level(&mut self) -> Option<Level> {
        let at = self.pos;
        if self.value.is_some()
            || self.depth + 2 > MAX_DEPTH
            || self.b.get(at..at + 2) != Some(b"[[")
            || self.bits == 0
            || self.base + self.bits.trailing_zeros() as usize != at + 2
        {
            return None;
        }
        // Quotes are consumed from a copy that is kept only if the shape holds.
        let mut next = *self;
        next.bits &= next.bits - 1;
        let price_end = next.next_quote()?;
        if next.b.get(price_end + 1) != Some(&b',') || next.next_quote()? != price_end + 2 {
            return None;
        }
        let size_end = next.next_quote()?;
        let price = next.decimal_at(at + 3, price_end);
        let size = next.decimal_at(price_end + 3, size_end);
        next.pos = size_end + 1;
        // Inside the level, then the side: the rest of each is skipped as usual.
        next.depth += 2;
        next.fresh = false;
        next.skip_rest(false);
        next.skip_rest(false);
        *self = next;
        Some(Level::Val(price, size))
    }

    /// The decimal string `b[start..end]`.
    #[inline(always)]
    fn decimal_at(&self, start: usize, end: usize) -> Dec {
        dec_text(self.b, start, end)
    }

    /// The string whose opening quote is at the cursor.
    #[inline(always)]
    fn string(&mut self) -> Option<&'a [u8]> {
        let (start, end) = self.string_bounds()?;
        self.b.get(start..end)
    }

    /// The bounds of the string value here (taken with its key, or read now).
    #[inline(always)]
    fn string_value(&mut self) -> Option<(usize, usize)> {
        match self.value.take() {
            Some(bounds) => Some(bounds),
            None => self.string_bounds(),
        }
    }

    /// Where the content of the string at the cursor starts and ends: its quotes are the next
    /// two quote bits.
    #[inline(always)]
    fn string_bounds(&mut self) -> Option<(usize, usize)> {
        let open = self.next_quote();
        let close = self.next_quote();
        match (open, close) {
            (Some(open), Some(close)) if open == self.pos => {
                self.pos = close + 1;
                Some((open + 1, close))
            }
            _ => {
                self.fail("not JSON: unterminated string");
                None
            }
        }
    }

    /// Checks the number here against the JSON grammar and returns its text.
    #[inline(always)]
    fn number(&mut self) -> Option<&'a [u8]> {
        let rest = self.b.get(self.pos..).unwrap_or_default();
        // The usual number, an integer (no leading zero, nothing after it that continues it),
        // inline; anything else through the whole grammar.
        let negative = usize::from(rest.first() == Some(&b'-'));
        let n = digit_count(rest, negative);
        let len = if n > 0
            && (n == 1 || rest.get(negative) != Some(&b'0'))
            && !matches!(rest.get(negative + n), Some(b'.' | b'e' | b'E'))
        {
            Some(negative + n)
        } else {
            number_len(rest)
        };
        match len {
            Some(n) => {
                self.pos += n;
                rest.get(..n)
            }
            None => {
                self.fail("not JSON: bad number");
                None
            }
        }
    }
}

/// The decimal string `b[start..end]`, as [`Cursor::decimal`] reads it.
#[inline(always)]
pub(crate) fn dec_text(b: &[u8], start: usize, end: usize) -> Dec {
    match digits16(b, start, end) {
        Some(d) => Dec::Val(d.decimal()),
        None => dec_text_slow(b, start, end),
    }
}

/// A decimal string [`digits16`] does not read: empty, long, an exponent, or not one.
#[inline(never)]
fn dec_text_slow(b: &[u8], start: usize, end: usize) -> Dec {
    match b.get(start..end) {
        Some([]) => Dec::Empty,
        Some(text) => parse_decimal_bytes(text).map_or(Dec::Bad, Dec::Val),
        None => Dec::Bad,
    }
}

/// The decimal of the JSON number at the start of `rest`, and its length; `None` if `rest` does
/// not start with a number by the grammar.
#[inline(always)]
pub(crate) fn dec_number(rest: &[u8]) -> Option<(Dec, usize)> {
    // Sizes sent as integers (Gate futures) need no text parsing.
    if let Some((n, used)) = plain_int(rest) {
        return Some((Dec::Val(Decimal::from(n)), used));
    }
    let n = number_len(rest)?;
    let d = rest.get(..n).and_then(parse_decimal_bytes);
    Some((d.map_or(Dec::Bad, Dec::Val), n))
}

/// The integer string `b[start..end]`, as [`Cursor::int`] reads it.
#[inline(always)]
pub(crate) fn int_text(b: &[u8], start: usize, end: usize) -> Int {
    match digits16(b, start, end) {
        Some(d) if d.is_int() => Int::Text(d.int()),
        _ => match b.get(start..end) {
            Some([]) => Int::Empty,
            Some(text) => parse_int_bytes(text).map_or(Int::Bad, Int::Text),
            None => Int::Bad,
        },
    }
}

/// The integer of the JSON number at the start of `rest`, and its length; `None` if `rest` does
/// not start with a number by the grammar.
#[inline(always)]
pub(crate) fn int_number(rest: &[u8]) -> Option<(Int, usize)> {
    if let Some((n, used)) = plain_int(rest) {
        return Some((Int::Num(n), used));
    }
    let n = number_len(rest)?;
    let i = rest.get(..n).and_then(parse_int_bytes);
    Some((i.map_or(Int::Bad, Int::Num), n))
}

/// The first position from `i` on that is not whitespace.
#[inline(never)]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// The next block of quote bits after the one at `base` that has any, and its base.
#[inline(never)]
fn next_block(quotes: &[u64], mut base: usize) -> Option<(u64, usize)> {
    loop {
        base += 64;
        let bits = *quotes.get(base / 64)?;
        if bits != 0 {
            return Some((bits, base));
        }
    }
}

/// Marks the strings of any frame byte by byte (the slow path of [`Scanner::scan`]): checks each
/// one, unescapes it in place, moves its closing quote up to the decoded end and blanks the
/// bytes freed. Bytes outside strings are left to the cursor.
#[inline(never)]
fn mark_strings(b: &mut [u8], quotes: &mut Vec<u64>) -> Result<(), Fault> {
    quotes.clear();
    quotes.resize(b.len().div_ceil(64), 0);
    let mark = |quotes: &mut Vec<u64>, at: usize| {
        if let Some(word) = quotes.get_mut(at / 64) {
            *word |= 1 << (at % 64);
        }
    };
    let mut i = 0;
    while i < b.len() {
        if b.get(i) != Some(&b'"') {
            i += 1;
            continue;
        }
        mark(quotes, i);
        let (closer, decoded_end) = unescape_string(b, i + 1)?;
        if decoded_end < closer {
            // Outside the string now: whitespace, which the cursor steps over.
            if let Some(freed) = b.get_mut(decoded_end..=closer) {
                freed.fill(b' ');
            }
            if let Some(q) = b.get_mut(decoded_end) {
                *q = b'"';
            }
        }
        mark(quotes, decoded_end);
        i = closer + 1;
    }
    Ok(())
}

/// Checks and unescapes in place the string whose content starts at `start`: returns the index
/// of its closing quote and the end of the decoded content (an escape is never shorter than what
/// it stands for, so writing never overtakes reading).
fn unescape_string(b: &mut [u8], start: usize) -> Result<(usize, usize), Fault> {
    let (mut read, mut write, mut high) = (start, start, 0u8);
    loop {
        match b.get(read) {
            Some(b'"') => break,
            Some(b'\\') => {
                let (bytes, n, used) = unescape(b, read + 1)?;
                for (k, byte) in bytes.iter().take(n).enumerate() {
                    high |= byte;
                    if let Some(slot) = b.get_mut(write + k) {
                        *slot = *byte;
                    }
                }
                write += n;
                read += 1 + used;
            }
            Some(&c) if c < 0x20 => {
                return Err(malformed("not JSON: control character in a string"))
            }
            Some(&c) => {
                high |= c;
                if let Some(slot) = b.get_mut(write) {
                    *slot = c;
                }
                write += 1;
                read += 1;
            }
            None => return Err(malformed("not JSON: unterminated string")),
        }
    }
    // ASCII needs no check; anything else is checked once here so that readers never need to.
    if high >= 0x80 && std::str::from_utf8(b.get(start..write).unwrap_or_default()).is_err() {
        return Err(malformed("not JSON: string is not UTF-8"));
    }
    Ok((read, write))
}

/// The length of `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` at the start of `b`.
pub(crate) fn number_len(b: &[u8]) -> Option<usize> {
    let negative = usize::from(b.first() == Some(&b'-'));
    let n = digit_count(b, negative);
    // The usual number: an integer, no leading zero, nothing after it that continues it.
    if n > 0 && (n == 1 || b.get(negative) != Some(&b'0')) {
        match b.get(negative + n) {
            Some(b'.' | b'e' | b'E') => {}
            _ => return Some(negative + n),
        }
    }
    let digits = |i: usize| {
        let n = digit_count(b, i);
        (i + n, n)
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    let (after, n) = digits(i);
    if n == 0 || (n > 1 && b.get(i) == Some(&b'0')) {
        return None;
    }
    i = after;
    if b.get(i) == Some(&b'.') {
        let (after, n) = digits(i + 1);
        if n == 0 {
            return None;
        }
        i = after;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let (after, n) = digits(i);
        if n == 0 {
            return None;
        }
        i = after;
    }
    Some(i)
}

/// Decodes the escape after a backslash at `i`: the UTF-8 bytes, how many, and how many input
/// bytes the escape used (after the backslash).
fn unescape(b: &[u8], i: usize) -> Result<([u8; 4], usize, usize), Fault> {
    let simple = |c: u8| Ok(([c, 0, 0, 0], 1, 1));
    match b.get(i) {
        Some(b'"') => simple(b'"'),
        Some(b'\\') => simple(b'\\'),
        Some(b'/') => simple(b'/'),
        Some(b'b') => simple(0x08),
        Some(b'f') => simple(0x0c),
        Some(b'n') => simple(b'\n'),
        Some(b'r') => simple(b'\r'),
        Some(b't') => simple(b'\t'),
        Some(b'u') => {
            let lone = malformed("not JSON: lone surrogate in a \\u escape");
            let hi = hex4(b, i + 1)?;
            let (code, used) = if (0xD800..0xDC00).contains(&hi) {
                // A surrogate pair: `\uD83D\uDE00`.
                if b.get(i + 5) != Some(&b'\\') || b.get(i + 6) != Some(&b'u') {
                    return Err(lone);
                }
                let lo = hex4(b, i + 7)?;
                if !(0xDC00..0xE000).contains(&lo) {
                    return Err(lone);
                }
                (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), 11)
            } else {
                (hi, 5)
            };
            let c = char::from_u32(code).ok_or(lone)?;
            let mut bytes = [0u8; 4];
            let n = c.encode_utf8(&mut bytes).len();
            Ok((bytes, n, used))
        }
        _ => Err(malformed("not JSON: bad escape")),
    }
}

fn hex4(b: &[u8], i: usize) -> Result<u32, Fault> {
    let digits = b
        .get(i..i + 4)
        .ok_or(malformed("not JSON: short \\u escape"))?;
    digits.iter().try_fold(0u32, |acc, &c| {
        let d = (c as char)
            .to_digit(16)
            .ok_or(malformed("not JSON: bad \\u escape"))?;
        Ok(acc * 16 + d)
    })
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Eight bytes from `i` as a little-endian word, zero-padded past the end of `b`.
#[inline(always)]
fn load8(b: &[u8], i: usize) -> u64 {
    if let Some(word) = b.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        return u64::from_le_bytes(*word);
    }
    load8_tail(b, i)
}

/// [`load8`] near the end: the frame's last eight bytes, shifted so that `i` comes first.
#[inline(never)]
fn load8_tail(b: &[u8], i: usize) -> u64 {
    let have = b.len().saturating_sub(i);
    match b.last_chunk::<8>() {
        Some(last) if have > 0 => u64::from_le_bytes(*last) >> (8 * (8 - have)),
        _ => {
            let mut word = [0u8; 8];
            for (slot, &c) in word.iter_mut().zip(b.get(i..).unwrap_or_default()) {
                *slot = c;
            }
            u64::from_le_bytes(word)
        }
    }
}

/// A decimal string as venues send them, read by [`digits16`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Digits {
    mantissa: u64,
    scale: u32,
    negative: bool,
    /// Written with a point or a sign other than `-` (so not an integer as `parse_int` reads).
    not_int: bool,
}

impl Digits {
    #[inline(always)]
    fn decimal(self) -> Decimal {
        let m = self.mantissa;
        Decimal::from_parts(
            m as u32,
            (m >> 32) as u32,
            0,
            self.negative && m != 0,
            self.scale,
        )
    }

    #[inline(always)]
    fn is_int(self) -> bool {
        !self.not_int
    }

    /// At most 16 digits: fits an i64.
    #[inline(always)]
    fn int(self) -> i64 {
        let n = self.mantissa as i64;
        if self.negative {
            -n
        } else {
            n
        }
    }
}

/// The digits of `frame[start..end]` when it reads `[-+]?digits[.digits]` with at most 16
/// characters after the sign, sixteen bytes at once with no loop. `None` for anything else (more
/// characters, an exponent, no digit), which the general parsers then read. The loads may run
/// past `end` (never past the frame).
#[inline(always)]
fn digits16(frame: &[u8], start: usize, end: usize) -> Option<Digits> {
    let first = frame.get(start).copied();
    let signed = matches!(first, Some(b'-' | b'+'));
    let at = start + usize::from(signed);
    let len = end.checked_sub(at)?;
    if len == 0 || len > 16 {
        return None;
    }
    // After the XOR, digits are bytes 0-9: a byte is not one when it or it plus 0x76 has its top
    // bit set (a carry only leaves a byte that is already flagged, so flags are never missed).
    let flag = digit_flags;
    let lo = load8(frame, at) ^ (ONES * 0x30);
    let (digits, lo, hi, scale) = if len <= 8 {
        // One word: what most prices and sizes take.
        let flo = flag(lo) & keep_low(len);
        if flo == 0 {
            (len, lo, 0, 0)
        } else {
            let dot = (flo.trailing_zeros() / 8) as usize;
            if flo & (flo - 1) != 0 || frame.get(at + dot) != Some(&b'.') {
                return None;
            }
            let keep = keep_low(dot);
            let lo = (lo & keep) | ((lo >> 8) & !keep);
            (len - 1, lo, 0, (len - 1 - dot) as u32)
        }
    } else {
        let flo = flag(lo);
        // The point in the first word and at most eight digits after it (prices and sizes with
        // many decimals): the two parts are read apart, with no shuffling around the point.
        if flo != 0 {
            let dot = (flo.trailing_zeros() / 8) as usize;
            let frac_len = len - 1 - dot;
            if frac_len <= 8 && flo & (flo - 1) == 0 && frame.get(at + dot) == Some(&b'.') {
                let frac = load8(frame, at + dot + 1) ^ (ONES * 0x30);
                if flag(frac) & keep_low(frac_len) == 0 {
                    let int = eight_digits(shift_out(lo, 8 - dot));
                    let frac = eight_digits(shift_out(frac, 8 - frac_len));
                    return Some(Digits {
                        mantissa: int * POW10[frac_len] + frac,
                        scale: frac_len as u32,
                        negative: first == Some(b'-'),
                        not_int: true,
                    });
                }
            }
        }
        let hi = load8(frame, at + 8) ^ (ONES * 0x30);
        let fhi = flag(hi) & keep_low(len - 8);
        if flo | fhi == 0 {
            (len, lo, hi, 0)
        } else {
            // One byte that is not a digit, and it is the point: it goes, the digits after it
            // move down a byte. (`count_ones` is no instruction on baseline x86-64: clear the
            // lowest flag instead.)
            let rest = if flo != 0 {
                (flo & (flo - 1)) | fhi
            } else {
                fhi & (fhi - 1)
            };
            if rest != 0 {
                return None;
            }
            let dot = if flo != 0 {
                (flo.trailing_zeros() / 8) as usize
            } else {
                8 + (fhi.trailing_zeros() / 8) as usize
            };
            if frame.get(at + dot) != Some(&b'.') {
                return None;
            }
            let (lo, hi) = if dot < 8 {
                let keep = keep_low(dot);
                ((lo & keep) | ((lo >> 8) & !keep) | (hi << 56), hi >> 8)
            } else {
                let keep = keep_low(dot - 8);
                (lo, (hi & keep) | ((hi >> 8) & !keep))
            };
            (len - 1, lo, hi, (len - 1 - dot) as u32)
        }
    };
    if digits == 0 {
        return None;
    }
    // The digits move to the top bytes; the zero bytes shifted in are leading zeros.
    let mantissa = if digits <= 8 {
        eight_digits(shift_out(lo, 8 - digits))
    } else {
        eight_digits(lo) * POW10[digits - 8] + eight_digits(shift_out(hi, 16 - digits))
    };
    Some(Digits {
        mantissa,
        scale,
        negative: first == Some(b'-'),
        not_int: scale != 0 || digits != len || first == Some(b'+'),
    })
}

/// A decimal string in the shape venues send most, `-?D{1,8}(.D{1,8})?` with at most sixteen
/// characters after the sign, read from `start` (just after its opening quote) without finding
/// the closing quote first: the digits end where the quote is. The decimal (as [`dec_text`]
/// reads it) and the index of the closing quote; `None` for anything else.
#[inline(always)]
pub(crate) fn dec_quoted(b: &[u8], start: usize) -> Option<(Dec, usize)> {
    let negative = b.get(start) == Some(&b'-');
    let at = start + usize::from(negative);
    let lo = load8(b, at) ^ (ONES * 0x30);
    let n_int = (digit_flags(lo).trailing_zeros() / 8) as usize;
    if n_int == 0 {
        return None;
    }
    let int = eight_digits(shift_out(lo, 8 - n_int));
    let (mantissa, scale, end) = match b.get(at + n_int) {
        Some(b'"') => (int, 0, at + n_int),
        Some(b'.') => {
            let frac = load8(b, at + n_int + 1) ^ (ONES * 0x30);
            let n_frac = (digit_flags(frac).trailing_zeros() / 8) as usize;
            let end = at + n_int + 1 + n_frac;
            if n_frac == 0 || n_int + n_frac > 15 || b.get(end) != Some(&b'"') {
                return None;
            }
            let frac = eight_digits(shift_out(frac, 8 - n_frac));
            (int * POW10[n_frac] + frac, n_frac as u32, end)
        }
        _ => return None,
    };
    let digits = Digits {
        mantissa,
        scale,
        negative,
        not_int: true,
    };
    Some((Dec::Val(digits.decimal()), end))
}

/// The number of ASCII digits from `i` on, eight bytes at a time.
#[inline(always)]
fn digit_count(b: &[u8], mut i: usize) -> usize {
    let start = i;
    loop {
        let n = (digit_flags(load8(b, i) ^ (ONES * 0x30)).trailing_zeros() / 8) as usize;
        i += n;
        if n < 8 {
            return i - start;
        }
    }
}

/// Per byte of `d` (bytes XOR `'0'`, so digits are 0-9), the top bit set where the byte was not
/// a digit: it or it plus 0x76 has its top bit set. A carry only leaves a byte that is already
/// flagged, so the lowest flag is exact.
#[inline(always)]
fn digit_flags(d: u64) -> u64 {
    (d | d.wrapping_add(ONES * 0x76)) & (ONES * 0x80)
}

/// A mask of the low `n` bytes (0 to 8).
#[inline(always)]
fn keep_low(n: usize) -> u64 {
    u64::MAX.checked_shr(64 - 8 * n as u32).unwrap_or(0)
}

/// `d` shifted up by `n` bytes (0 to 8): the low bytes become leading zero digits, the high
/// ones (past the digits) fall off.
#[inline(always)]
fn shift_out(d: u64, n: usize) -> u64 {
    d.checked_shl(8 * n as u32).unwrap_or(0)
}

/// Fills `out` with one bit per byte of `b`, set at each quote, and says whether the frame is
/// plain: ASCII with no backslash and no control character (so no whitespace but spaces), where
/// every quote opens or closes a string. Sixty-four bytes per step, each word built in registers
/// (or-ing into memory chunk by chunk made every chunk wait for the previous store: measured).
#[inline(always)]
fn quote_mask(b: &[u8], out: &mut Vec<u64>) -> bool {
    out.clear();
    let mut odd = 0u64;
    let blocks = b.chunks_exact(64);
    let rest = blocks.remainder();
    // One reservation for all the words (an exact-size iterator), no check per word.
    out.extend(blocks.map(|block| {
        let (quotes, o) = block.first_chunk::<64>().map_or((0, !0), scan64);
        odd |= o;
        quotes
    }));
    if !rest.is_empty() {
        // The last bytes: whole chunks of sixteen, then the last sixteen bytes of the frame
        // again keeping the bits of those not scanned yet (a frame shorter than sixteen bytes
        // is padded with spaces, neither quotes nor odd).
        let (mut quotes, mut o) = (0u64, 0u64);
        let mut chunks = rest.chunks_exact(16);
        for (k, chunk) in chunks.by_ref().enumerate() {
            let (q, c) = chunk.first_chunk::<16>().map_or((0, !0), scan16);
            quotes |= u64::from(q) << (16 * k);
            o |= u64::from(c) << (16 * k);
        }
        let tail = rest.len() % 16;
        if tail != 0 {
            let k = rest.len() / 16;
            let (q, c) = match b.last_chunk::<16>() {
                Some(last) => {
                    let (q, c) = scan16(last);
                    (q >> (16 - tail), c >> (16 - tail))
                }
                None => {
                    let mut last = [b' '; 16];
                    for (slot, &c) in last.iter_mut().zip(b) {
                        *slot = c;
                    }
                    scan16(&last)
                }
            };
            quotes |= u64::from(q) << (16 * k);
            o |= u64::from(c) << (16 * k);
        }
        odd |= o;
        out.push(quotes);
    }
    odd == 0
}

/// [`scan16`] over 64 bytes: quote bits and odd bits.
#[inline(always)]
fn scan64(block: &[u8; 64]) -> (u64, u64) {
    let (a, rest) = block.split_first_chunk::<16>().unwrap_or((&[0; 16], &[]));
    let (b, rest) = rest.split_first_chunk::<16>().unwrap_or((&[0; 16], &[]));
    let (c, rest) = rest.split_first_chunk::<16>().unwrap_or((&[0; 16], &[]));
    let d = rest.first_chunk::<16>().unwrap_or(&[0; 16]);
    let (qa, oa) = scan16(a);
    let (qb, ob) = scan16(b);
    let (qc, oc) = scan16(c);
    let (qd, od) = scan16(d);
    let word = |a: u16, b: u16, c: u16, d: u16| {
        u64::from(a) | u64::from(b) << 16 | u64::from(c) << 32 | u64::from(d) << 48
    };
    (word(qa, qb, qc, qd), word(oa, ob, oc, od))
}

/// Quote bits of 16 bytes, and the bits of those that are a backslash, a control character or
/// a non-ASCII byte. SSE2 (every x86-64 CPU has it); a signed compare with 0x20 catches control
/// characters and non-ASCII bytes (negative as `i8`) at once.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn scan16(chunk: &[u8; 16]) -> (u16, u16) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86-64 baseline, so every CPU this is compiled for has these
    // instructions; the unaligned load reads the 16 bytes of `chunk`. Measured: this pass is
    // most of what makes string bounds cheap for the cursor.
    let (q, o) = unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let q = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8)));
        let o = _mm_movemask_epi8(_mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
            _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
        ));
        (q, o)
    };
    (q as u16, o as u16)
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn scan16(chunk: &[u8; 16]) -> (u16, u16) {
    scan16_words(chunk)
}

/// [`scan16`] with word arithmetic, for other CPUs: `zero(v)` has 0x80 exactly in the bytes of
/// `v` that are 0 (no carry crosses bytes), and a multiply gathers those eight flags into one
/// byte.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn scan16_words(chunk: &[u8; 16]) -> (u16, u16) {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const GATHER: u64 = 0x0102_0408_1020_4080;
    let zero = |v: u64| !(((v & LOW7) + LOW7) | v | LOW7);
    let (mut quotes, mut odd) = (0u16, 0u16);
    let gather = |flags: u64| (((flags >> 7).wrapping_mul(GATHER)) >> 56) as u16;
    for k in 0..2 {
        let x = load8(chunk, 8 * k);
        let o = zero(x ^ (ONES * u64::from(b'\\'))) | zero(x & (ONES * 0xe0)) | (x & HIGH);
        odd |= gather(o) << (8 * k);
        quotes |= gather(zero(x ^ (ONES * u64::from(b'"')))) << (8 * k);
    }
    (quotes, odd)
}

const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut k = 1;
    while k < 20 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// The value of eight digit values (0-9, one per byte, the first digit in the lowest byte).
#[inline(always)]
fn eight_digits(v: u64) -> u64 {
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_ffff_0000_ffff;
    (v.wrapping_mul(10_000) + (v >> 32)) & 0xffff_ffff
}

/// A JSON integer, `-?(0|[1-9][0-9]*)` of at most 16 digits and not followed by a fraction or
/// an exponent: the value and its length, two words at most and no loop. Anything else takes
/// the general number path.
#[inline(always)]
pub(crate) fn plain_int(b: &[u8]) -> Option<(i64, usize)> {
    let negative = b.first() == Some(&b'-');
    let start = usize::from(negative);
    let x0 = load8(b, start) ^ (ONES * 0x30);
    let n0 = (digit_flags(x0).trailing_zeros() / 8) as usize;
    let (value, n) = if n0 < 8 {
        (eight_digits(shift_out(x0, 8 - n0)), n0)
    } else {
        let x1 = load8(b, start + 8) ^ (ONES * 0x30);
        let n1 = (digit_flags(x1).trailing_zeros() / 8) as usize;
        if n1 == 8 && b.get(start + 16).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let high = eight_digits(x0) * POW10[n1];
        (high + eight_digits(shift_out(x1, 8 - n1)), 8 + n1)
    };
    if n == 0 || (n > 1 && b.get(start) == Some(&b'0')) {
        return None;
    }
    if let Some(b'.' | b'e' | b'E') = b.get(start + n) {
        return None;
    }
    let value = value as i64;
    Some((if negative { -value } else { value }, start + n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// The cursor's reading of `text` as a serde_json value, to compare with serde_json's own.
    /// A number serde_json cannot hold (`1e999`: valid JSON, out of f64 range) makes the whole
    /// read `None`, as serde_json refuses such a document.
    fn via_cursor(text: &[u8]) -> Option<serde_json::Value> {
        // Reads on after a number serde_json cannot hold (so the grammar is still checked),
        // noting it in `unholdable`.
        fn value(cur: &mut Cursor<'_>, unholdable: &mut bool) -> serde_json::Value {
            use serde_json::Value as V;
            match cur.peek() {
                Some(b'{') => {
                    cur.object();
                    let mut map = serde_json::Map::new();
                    while let Some(key) = cur.next_key() {
                        let key = String::from_utf8(key.to_vec()).expect("keys are UTF-8");
                        let v = value(cur, unholdable);
                        map.insert(key, v);
                    }
                    V::Object(map)
                }
                Some(b'[') => {
                    cur.array();
                    let mut items = Vec::new();
                    while cur.next_item() {
                        items.push(value(cur, unholdable));
                    }
                    V::Array(items)
                }
                Some(b'"') => {
                    let s = cur.str().unwrap_or_default();
                    V::String(String::from_utf8(s.to_vec()).expect("strings are UTF-8"))
                }
                Some(b'-' | b'0'..=b'9') => {
                    let text = cur.number().unwrap_or_default();
                    serde_json::from_slice(text).unwrap_or_else(|_| {
                        *unholdable = true;
                        V::Null
                    })
                }
                Some(b't' | b'f') => V::Bool(cur.bool().unwrap_or_default()),
                _ => {
                    cur.literal(b"null");
                    V::Null
                }
            }
        }
        let mut frame = text.to_vec();
        let mut scanner = Scanner::new();
        let mut cur = scanner.scan(&mut frame).ok()?;
        let mut unholdable = false;
        let v = value(&mut cur, &mut unholdable);
        cur.end().ok()?;
        (!unholdable).then_some(v)
    }

    /// Whether the cursor's validating skip accepts `text` as one JSON value.
    fn skips(text: &[u8]) -> bool {
        let mut frame = text.to_vec();
        let mut scanner = Scanner::new();
        let Ok(mut cur) = scanner.scan(&mut frame) else {
            return false;
        };
        cur.skip();
        cur.end().is_ok()
    }

    /// Whether serde_json accepts `text` (a number out of f64 range counts as accepted: valid
    /// JSON that serde_json only refuses to hold).
    fn serde_accepts(text: &[u8]) -> bool {
        match serde_json::from_slice::<serde_json::Value>(text) {
            Ok(_) => true,
            Err(e) => e.to_string().starts_with("number out of range"),
        }
    }

    #[test]
    fn cursor_agrees_with_serde_json_on_edge_cases() {
        let cases: &[&[u8]] = &[
            br#"{"a":"x\"y\\z\/\b\f\n\r\t"}"#,
            br#"{"k\u0041":"\u00e9\u4e2d\ud83d\ude00"}"#,
            "{\"raw\":\"é中😀\"}".as_bytes(),
            br#"[1,-0,0.5,-12.25e+3,1E-2,true,false,null,{},[],""]"#,
            b"  {\"a\" :\t[ 1 , 2 ]\r\n}  ",
            br#""top""#,
            b"42",
            b"[1e999]",
            // Invalid, each for one reason.
            b"",
            b" ",
            b"{",
            b"[",
            b"{\"a\":1,}",
            b"{,\"a\":1}",
            b"[1,]",
            b"[,1]",
            b"[1 2]",
            b"{\"a\" 1}",
            b"{\"a\":}",
            b"{a:1}",
            b"{\"a\":1 \"b\":2}",
            b"01",
            b"-01",
            b"1.",
            b".5",
            b"-",
            b"1e",
            b"1e+",
            b"+1",
            b"tru",
            b"nul",
            b"True",
            b"\"abc",
            b"\"a\x01b\"",
            b"\"a\tb\"",
            br#""\x""#,
            br#""\u12""#,
            br#""\u12G4""#,
            br#""\ud800""#,
            br#""\ud800\u0041""#,
            br#""\udc00""#,
            b"\"\xff\"",
            b"\"\xc3\"",
            b"\"\xc3(\"",
            b"\"\xed\xa0\x80\"",
            b"{} {}",
            b"{}x",
            b"[]]",
            b"\xef\xbb\xbf{}",
        ];
        for text in cases {
            let theirs = serde_json::from_slice::<serde_json::Value>(text).ok();
            let label = String::from_utf8_lossy(text);
            assert_eq!(via_cursor(text), theirs, "{label}");
            assert_eq!(skips(text), serde_accepts(text), "skip: {label}");
        }
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert!(!skips(deep.as_bytes()), "deeper than MAX_DEPTH");
        assert_eq!(via_cursor(deep.as_bytes()), None);
        let ok_depth = format!("{}{}", "[".repeat(32), "]".repeat(32));
        assert!(skips(ok_depth.as_bytes()));
        assert!(via_cursor(ok_depth.as_bytes()).is_some());
        let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(33), "}".repeat(33));
        assert!(!skips(deep_objects.as_bytes()));
    }

    #[test]
    fn keys_and_values_unescape_in_place() {
        let mut frame = br#"{"\u0073":"BTC\u0055SDT","s\"q":"a\\b","n":"\u00e9"}"#.to_vec();
        let mut scanner = Scanner::new();
        let mut cur = scanner.scan(&mut frame).unwrap();
        assert!(cur.object());
        let mut seen = Vec::new();
        while let Some(key) = cur.next_key() {
            seen.push((key, cur.str().unwrap()));
        }
        cur.end().unwrap();
        assert_eq!(
            seen,
            [
                (&b"s"[..], &b"BTCUSDT"[..]),
                (b"s\"q", b"a\\b"),
                (b"n", "é".as_bytes())
            ]
        );
    }

    #[test]
    fn typed_values_and_what_they_are_when_wrong() {
        let text = br#"{"a":"1.50","b":2.5e1,"c":"","d":null,"e":"x","f":[1],"g":"1715760000000","h":1715760000000,"i":1.0,"j":"-","k":true,"l":"\u0031.5","m":"007"}"#;
        // Every value read both ways, each from its own copy of the frame.
        let read = |as_int: bool| {
            let mut frame = text.to_vec();
            let mut scanner = Scanner::new();
            let mut cur = scanner.scan(&mut frame).unwrap();
            assert!(cur.object());
            let (mut decimals, mut ints) = (Vec::new(), Vec::new());
            while cur.next_key().is_some() {
                if as_int {
                    ints.push(cur.int());
                } else {
                    decimals.push(cur.decimal());
                }
            }
            cur.end().unwrap();
            (decimals, ints)
        };
        let (decimals, _) = read(false);
        let (_, ints) = read(true);
        let dec = |s: &str| Dec::Val(Decimal::from_str(s).unwrap());
        let want_dec = [
            dec("1.50"),
            dec("25"),
            Dec::Empty,
            Dec::Null,
            Dec::Bad,
            Dec::Bad,
            dec("1715760000000"),
            dec("1715760000000"),
            dec("1.0"),
            Dec::Bad,
            Dec::Bad,
            dec("1.5"),
            dec("7"),
        ];
        assert_eq!(decimals, want_dec);
        assert_eq!(decimals[0].required("a").unwrap().to_string(), "1.50");
        let want_int = [
            Int::Bad,
            Int::Bad,
            Int::Empty,
            Int::Null,
            Int::Bad,
            Int::Bad,
            Int::Text(1_715_760_000_000),
            Int::Num(1_715_760_000_000),
            Int::Bad,
            Int::Bad,
            Int::Bad,
            Int::Bad,
            Int::Text(7),
        ];
        assert_eq!(ints, want_int);
    }

    #[test]
    fn first_level_of_a_book_side() {
        let cases: &[(&str, Level)] = &[
            (
                r#"[["1.5","2"],["1.4","3"]]"#,
                Level::Val(Dec::Val(Decimal::new(15, 1)), Dec::Val(Decimal::TWO)),
            ),
            (
                r#"[["111.05","57745","0","2"]]"#,
                Level::Val(
                    Dec::Val(Decimal::new(11105, 2)),
                    Dec::Val(Decimal::new(57745, 0)),
                ),
            ),
            ("[]", Level::Empty),
            (r#"[["1"]]"#, Level::BadShape),
            ("[[]]", Level::BadShape),
            (r#"["1","2"]"#, Level::BadShape),
            (r#""x""#, Level::NotArray),
            (
                r#"[["x","2"]]"#,
                Level::Val(Dec::Bad, Dec::Val(Decimal::TWO)),
            ),
        ];
        for (compact, want) in cases {
            // As sent (the compact path) and spaced out (the general one).
            let spaced = compact.replace(',', " , ").replace('[', "[ ");
            for text in [compact.to_string(), spaced] {
                let mut frame = text.as_bytes().to_vec();
                let mut scanner = Scanner::new();
                let mut cur = scanner.scan(&mut frame).unwrap();
                assert_eq!(cur.first_level(), *want, "{text}");
                cur.end().unwrap();
            }
        }
        for bad in [r#"[["1","2"],]"#, r#"[["1","2",]]"#, r#"[["1" "2"]]"#] {
            let mut frame = bad.as_bytes().to_vec();
            let mut scanner = Scanner::new();
            let mut cur = scanner.scan(&mut frame).unwrap();
            cur.first_level();
            assert!(cur.end().is_err(), "{bad}");
        }
    }

    #[test]
    fn eight_digits_at_a_time() {
        for text in ["00000000", "12345678", "99999999", "10000001", "00000009"] {
            let d = u64::from_le_bytes(text.as_bytes().try_into().unwrap()) ^ (ONES * 0x30);
            assert_eq!(eight_digits(d), text.parse::<u64>().unwrap(), "{text}");
        }
        assert_eq!(
            plain_int(b"12345678901234567,"),
            None,
            "more than 16 digits"
        );
        assert_eq!(
            plain_int(b"1234567890123456,"),
            Some((1_234_567_890_123_456, 16))
        );
        assert_eq!(plain_int(b"-42]"), Some((-42, 3)));
        assert_eq!(plain_int(b"0"), Some((0, 1)));
        assert_eq!(plain_int(b"9/:0"), Some((9, 1)));
        assert_eq!(plain_int(b"012"), None);
        assert_eq!(plain_int(b"12.5"), None);
        assert_eq!(plain_int(b"x"), None);
        assert_eq!(digit_count(b"12345678901234567890x", 0), 20);
        assert_eq!(digit_count(b"x", 0), 0);
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value as V;
        let leaf = prop_oneof![
            Just(V::Null),
            any::<bool>().prop_map(V::Bool),
            // Integers only: serde_json's own float text does not always read back to the
            // same f64, which would fail the comparison for reasons that are not ours.
            any::<i64>().prop_map(V::from),
            ".{0,12}".prop_map(V::String),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(V::Array),
                prop::collection::vec((".{0,8}", inner), 0..6)
                    .prop_map(|kv| V::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn cursor_reads_what_serde_json_writes(v in arb_json(), pretty in proptest::bool::ANY) {
            let text = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) }.unwrap();
            proptest::prop_assert_eq!(via_cursor(&text), Some(v));
            proptest::prop_assert!(skips(&text));
        }

        #[test]
        fn cursor_accepts_exactly_what_serde_json_accepts(
            v in arb_json(),
            at in proptest::num::usize::ANY,
            byte in proptest::prop_oneof![
                proptest::strategy::Just(b'"'), proptest::strategy::Just(b'\\'),
                proptest::strategy::Just(b','), proptest::strategy::Just(b'}'),
                proptest::strategy::Just(b']'), proptest::strategy::Just(b':'),
                proptest::strategy::Just(b'e'), proptest::strategy::Just(b'.'),
                proptest::strategy::Just(b'u'), proptest::strategy::Just(b'0'),
                proptest::num::u8::ANY
            ],
        ) {
            let mut text = serde_json::to_vec(&v).unwrap();
            let at = at % (text.len() + 1);
            text.insert(at, byte);
            let theirs = serde_json::from_slice::<serde_json::Value>(&text).ok();
            // serde_json nests up to 128 levels, we up to 32; the generator stays below both.
            proptest::prop_assert_eq!(via_cursor(&text), theirs);
            proptest::prop_assert_eq!(skips(&text), serde_accepts(&text));
        }

        /// The sixteen-byte fast path gives exactly what the general parsers give.
        #[test]
        fn digits16_matches_the_general_parsers(
            text in "[-+]?[0-9]{0,18}(\\.[0-9]{0,18})?[.x]?[0-9]{0,3}",
            pad in 0usize..20,
        ) {
            // The text inside a frame, followed by `pad` bytes the load may run into.
            let frame = format!("\"{text}\"{}", "9".repeat(pad));
            let inner = &frame.as_bytes()[1..1 + text.len()];
            match digits16(frame.as_bytes(), 1, 1 + text.len()) {
                Some(d) => {
                    let general = parse_decimal_bytes(inner);
                    proptest::prop_assert_eq!(Some(d.decimal()), general);
                    proptest::prop_assert_eq!(d.decimal().to_string(), general.unwrap().to_string());
                    let int = parse_int_bytes(inner);
                    proptest::prop_assert_eq!(d.is_int(), int.is_some());
                    if d.is_int() {
                        proptest::prop_assert_eq!(Some(d.int()), int);
                    }
                }
                // Only what the fast path does not cover falls through.
                None => {
                    let body = text.get(usize::from(text.starts_with(['-', '+']))..).unwrap_or("");
                    proptest::prop_assert!(
                        body.len() > 16 || parse_decimal_bytes(inner).is_none(),
                        "{text}"
                    );
                }
            }
        }

        #[test]
        fn quote_mask_agrees_with_a_byte_loop(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                8 => proptest::strategy::Just(b'a'), 2 => proptest::strategy::Just(b'"'),
                1 => proptest::strategy::Just(b'\\'), 1 => proptest::num::u8::ANY
            ], 0..200),
        ) {
            let mut want = vec![0u64; bytes.len().div_ceil(64)];
            for (i, &c) in bytes.iter().enumerate() {
                want[i / 64] |= u64::from(c == b'"') << (i % 64);
            }
            let plain = bytes.iter().all(|&c| c != b'\\' && (0x20..0x80).contains(&c));
            let mut got = Vec::new();
            proptest::prop_assert_eq!(quote_mask(&bytes, &mut got), plain);
            proptest::prop_assert_eq!(got, want);
        }

        /// Read through the cursor (fast path or not), a decimal or integer string is what the
        /// general parsers make of its text; the string may be escaped or not plain.
        #[test]
        fn cursor_numbers_are_the_general_parsers(
            text in "[-+]?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][-+]?[0-9]{1,3})?[.x ]?",
            escape in proptest::bool::ANY,
            pad in "[,}\\]]{0,20}",
        ) {
            // The text as a JSON string, its first character escaped as `\u00XX` if asked.
            let json = match (escape, text.chars().next()) {
                (true, Some(c)) => format!("\\u{:04x}{}", c as u32, &text[1..]),
                _ => text.clone(),
            };
            let frame = format!("[\"{json}\"]{pad}");
            let dec = |frame: &str| {
                let mut bytes = frame.as_bytes().to_vec();
                let mut scanner = Scanner::new();
                let mut cur = scanner.scan(&mut bytes).unwrap();
                cur.array();
                cur.next_item();
                let mut twin = cur;
                (twin.decimal(), cur.int())
            };
            let (d, i) = dec(&frame);
            let want_d = if text.is_empty() {
                Dec::Empty
            } else {
                parse_decimal_bytes(text.as_bytes()).map_or(Dec::Bad, Dec::Val)
            };
            let want_i = if text.is_empty() {
                Int::Empty
            } else {
                parse_int_bytes(text.as_bytes()).map_or(Int::Bad, Int::Text)
            };
            proptest::prop_assert_eq!(d, want_d);
            proptest::prop_assert_eq!(i, want_i);
            if let (Dec::Val(a), Dec::Val(b)) = (d, want_d) {
                proptest::prop_assert_eq!(a.to_string(), b.to_string());
            }
        }

        #[test]
        fn scan16_agrees_with_a_byte_loop(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b'"'), proptest::strategy::Just(b'\\'),
                proptest::strategy::Just(b'a'), proptest::strategy::Just(b' '),
                proptest::strategy::Just(0x1fu8), proptest::strategy::Just(0x80u8),
                proptest::strategy::Just(0x7fu8), proptest::num::u8::ANY
            ], 16),
        ) {
            let mut quotes = 0u16;
            let mut odd = 0u16;
            for (k, &c) in bytes.iter().enumerate() {
                quotes |= u16::from(c == b'"') << k;
                odd |= u16::from(c == b'\\' || !(0x20..0x80).contains(&c)) << k;
            }
            let chunk: &[u8; 16] = bytes.as_slice().try_into().unwrap();
            proptest::prop_assert_eq!(scan16(chunk), (quotes, odd));
            proptest::prop_assert_eq!(scan16_words(chunk), (quotes, odd));
        }

        #[test]
        fn plain_ints_match_the_number_grammar(text in "-?[0-9]{0,21}[.eE,}x]?[0-9]?") {
            let b = text.as_bytes();
            if let Some((n, used)) = plain_int(b) {
                let len = number_len(b).unwrap();
                proptest::prop_assert_eq!(used, len);
                proptest::prop_assert_eq!(Some(n), parse_int_bytes(&b[..len]));
            }
            let mut bytes = b.to_vec();
            let mut scanner = Scanner::new();
            let mut cur = scanner.scan(&mut bytes).unwrap();
            let want =
                number_len(b).map(|len| parse_int_bytes(&b[..len]).map_or(Int::Bad, Int::Num));
            let got = cur.int();
            proptest::prop_assert_eq!((!cur.failed()).then_some(got), want);
        }

        /// The quoted-decimal shortcut reads what the string reader reads, scale included, and
        /// stops at the closing quote; it may decline anything.
        #[test]
        fn quoted_decimals_read_as_decimal_strings_do(
            text in "-?[0-9]{0,10}[.]?[0-9]{0,10}[\"x.]?[0-9\"]?"
        ) {
            let b = text.as_bytes();
            if let Some((got, end)) = dec_quoted(b, 0) {
                proptest::prop_assert_eq!(b.get(end), Some(&b'"'));
                proptest::prop_assert!(!b[..end].contains(&b'"'));
                let want = dec_text(b, 0, end);
                let shown = |d: Dec| match d {
                    Dec::Val(v) => v.to_string(),
                    other => format!("{other:?}"),
                };
                proptest::prop_assert_eq!(shown(got), shown(want));
            }
        }
    }

    #[test]
    fn quoted_decimals_take_the_shapes_venues_send() {
        for (text, want) in [
            (&b"25.35190000\""[..], Some("25.35190000")),
            (b"-0.00038167\"", Some("-0.00038167")),
            (b"-0.0\"", Some("0.0")),
            (b"37000\"", Some("37000")),
            (b"12345678.1234567\"", Some("12345678.1234567")),
            // Past sixteen characters, no digit before or after the point, an exponent, a plus
            // sign, no closing quote: the general reader's.
            (b"12345678.12345678\"", None),
            (b".5\"", None),
            (b"5.\"", None),
            (b"1e5\"", None),
            (b"+1\"", None),
            (b"1.5", None),
        ] {
            let got = dec_quoted(text, 0).map(|(d, _)| match d {
                Dec::Val(v) => v.to_string(),
                other => format!("{other:?}"),
            });
            assert_eq!(got.as_deref(), want, "{}", String::from_utf8_lossy(text));
        }
    }
}

//! The push envelope OKX v5 and Bitget v2 share, `{"arg": {"channel", "instId", ..}, "data":
//! [..]}`, with the fields of their control messages (`event`, `code`, `msg`): [`Push`] reads it
//! with the three readers (in order for the book channels, keyed, the general cursor), and
//! [`book_read`] turns an element of a book channel (OKX `bbo-tbt`, Bitget `books1`, the same
//! shape on both) into a quote. Each exchange's module says where the fields of its channels go.

use crate::json::cursor::{Code, Cursor, Dec, Int, Level, Slot};
use crate::json::strict::Strict;
use crate::json::Fault;
use crate::venue::market_ws::{Cx, Reader, Saved, Sym};

/// One element of an OKX or Bitget push's `data` array as read: the fields any of their
/// channels carries (funding, a ticker's BBO, a book's sides), kept as sent until the channel is
/// known.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Item {
    pub inst: Sym,
    pub rate: Dec,
    pub predicted: Dec,
    pub funding_time: Int,
    pub next_funding: Int,
    pub mark: Dec,
    pub index: Dec,
    pub bid: Dec,
    pub bid_qty: Dec,
    pub ask: Dec,
    pub ask_qty: Dec,
    pub bids: Level,
    pub asks: Level,
    pub ts: Int,
}

/// A push's `arg`: the channel and the envelope's `instId` (items may name their own).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Arg<'a> {
    pub channel: Option<&'a [u8]>,
    pub inst: Option<&'a [u8]>,
}

impl<'a> Arg<'a> {
    #[inline(always)]
    fn slot(&mut self, key: &[u8]) -> Slot<'_, 'a> {
        match key {
            b"channel" => Slot::Str(&mut self.channel),
            b"instId" => Slot::Str(&mut self.inst),
            _ => Slot::Skip,
        }
    }
}

/// The push envelope OKX v5 and Bitget v2 share, `{"arg": {"channel", "instId", ..}, "data":
/// [..]}`, with the fields of their control messages, as read. The elements of `data` go to a
/// reused vector.
#[derive(Default)]
pub(crate) struct Push<'a> {
    pub arg: Option<Arg<'a>>,
    /// `None` when absent, `Some(false)` when not an array.
    pub data: Option<bool>,
    pub event: Option<&'a [u8]>,
    pub code: Code<'a>,
    pub msg: Option<Saved>,
    /// The envelope's time (Bitget).
    pub ts: Int,
}

impl<'a> Push<'a> {
    /// Reads a whole push frame; `slot` says where a field of a data element goes (the
    /// element's `instId` text goes to the second place).
    #[inline(always)]
    pub fn read(
        mut cur: Cursor<'a>,
        cx: &mut Cx<'_>,
        items: &mut Vec<Item>,
        slot: impl for<'s> Fn(&[u8], &'s mut Item, &'s mut Option<&'a [u8]>) -> Slot<'s, 'a>,
    ) -> Result<Push<'a>, Fault> {
        items.clear();
        cur.root_object()?;
        let mut push = Push::default();
        let mut msg = None;
        while let Some(key) = cur.next_key() {
            if let Some(root) = push.slot(key, &mut msg) {
                cur.read(root);
                continue;
            }
            match key {
                b"arg" => {
                    let mut arg = Arg::default();
                    if cur.object() {
                        while let Some(key) = cur.next_key() {
                            cur.read(arg.slot(key));
                        }
                    } else {
                        cur.skip();
                    }
                    push.arg = Some(arg);
                }
                b"data" => {
                    let array = cur.array();
                    if array {
                        items.clear();
                        while cur.next_item() {
                            items.push(Item::default());
                            let item = items.last_mut().ok_or(Fault::malformed("data"))?;
                            let mut inst = None;
                            if cur.object() {
                                while let Some(key) = cur.next_key() {
                                    cur.read(slot(key, item, &mut inst));
                                }
                            } else {
                                cur.skip();
                            }
                            item.inst = inst.map_or(Sym::Absent, |s| cx.symbol(s));
                        }
                    } else {
                        cur.skip();
                    }
                    push.data = Some(array);
                }
                _ => cur.skip(),
            }
        }
        cur.end()?;
        push.msg = msg.map(|m| cx.save(m));
        Ok(push)
    }

    /// The fast path of [`Push::read`] (see [`Strict`]): a push whose `arg` is an object and
    /// whose `data` is an array of objects, read as [`Push::read`] reads it. `None` for
    /// anything else; run it through [`Cx::attempt`].
    #[inline(always)]
    pub fn fast(
        frame: &'a [u8],
        cx: &mut Cx<'_>,
        items: &mut Vec<Item>,
        slot: impl for<'s> Fn(&[u8], &'s mut Item, &'s mut Option<&'a [u8]>) -> Slot<'s, 'a>,
    ) -> Option<Push<'a>> {
        items.clear();
        let mut s = Strict::new(frame)?;
        let mut push = Push::default();
        let mut msg = None;
        s.object()?;
        while let Some(key) = s.next_key()? {
            if let Some(root) = push.slot(key, &mut msg) {
                s.read(root)?;
                continue;
            }
            match key {
                b"arg" => {
                    let mut arg = Arg::default();
                    s.object()?;
                    while let Some(key) = s.next_key()? {
                        s.read(arg.slot(key))?;
                    }
                    push.arg = Some(arg);
                }
                b"data" => {
                    s.expect(b"[")?;
                    items.clear();
                    s.items(|s| {
                        s.object()?;
                        items.push(Item::default());
                        let item = items.last_mut()?;
                        let mut inst = None;
                        while let Some(key) = s.next_key()? {
                            s.read(slot(key, item, &mut inst))?;
                        }
                        item.inst = inst.map_or(Sym::Absent, |s| cx.symbol(s));
                        Some(())
                    })?;
                    push.data = Some(true);
                }
                _ => s.skip()?,
            }
        }
        s.end()?;
        push.msg = msg.map(|m| cx.save(m));
        Some(push)
    }

    /// A push read by the first fast reader that takes it, [`Push::book_in_order`] then
    /// [`Push::fast`]; `None` when both decline, and the caller reads the frame with
    /// [`Push::read`] (which needs the frame mutable, so it cannot be called from here while
    /// a declined reader's borrow of the frame is live).
    #[inline(always)]
    pub fn fast_readers(
        frame: &'a [u8],
        cx: &mut Cx<'_>,
        items: &mut Vec<Item>,
        slot: impl for<'s> Fn(&[u8], &'s mut Item, &'s mut Option<&'a [u8]>) -> Slot<'s, 'a> + Copy,
    ) -> Option<Push<'a>> {
        cx.attempt(Reader::InOrder, |cx| {
            Push::book_in_order(frame, cx, items, slot)
        })
        .or_else(|| cx.attempt(Reader::Keyed, |cx| Push::fast(frame, cx, items, slot)))
    }

    /// A book push (OKX `bbo-tbt`, Bitget `books1`) with its fields in the order the venues
    /// send them, each key checked by one compare together with the punctuation around it:
    /// `{["action":..,]"arg":{["instType":..,]"channel":..,"instId":..},"data":[{"asks":[..],
    /// "bids":[..],..}],..}`, the element's other fields and the envelope's last ones read by
    /// key. Read as [`Push::read`] reads it; `None` for anything else.
    #[inline(always)]
    pub fn book_in_order(
        frame: &'a [u8],
        cx: &mut Cx<'_>,
        items: &mut Vec<Item>,
        slot: impl for<'s> Fn(&[u8], &'s mut Item, &'s mut Option<&'a [u8]>) -> Slot<'s, 'a>,
    ) -> Option<Push<'a>> {
        let mut s = Strict::in_order(frame);
        s.expect(b"{\"")?;
        if s.eat(b"action\":") {
            s.skip()?;
            s.expect(b",\"")?;
        }
        s.expect(b"arg\":{\"")?;
        if s.eat(b"instType\":") {
            s.skip()?;
            s.expect(b",\"")?;
        }
        let mut arg = Arg::default();
        s.expect(b"channel\":")?;
        s.read(Slot::Str(&mut arg.channel))?;
        s.expect(b",\"instId\":")?;
        s.read(Slot::Str(&mut arg.inst))?;
        s.expect(b"},\"data\":[{\"asks\":")?;
        items.clear();
        items.push(Item::default());
        let item = items.last_mut()?;
        s.read(Slot::Level(&mut item.asks))?;
        s.expect(b",\"bids\":")?;
        s.read(Slot::Level(&mut item.bids))?;
        let mut inst = None;
        while let Some(key) = s.next_key()? {
            s.read(slot(key, item, &mut inst))?;
        }
        item.inst = inst.map_or(Sym::Absent, |s| cx.symbol(s));
        s.expect(b"]")?;
        let mut push = Push {
            arg: Some(arg),
            data: Some(true),
            ..Push::default()
        };
        let mut msg = None;
        while let Some(key) = s.next_key()? {
            match push.slot(key, &mut msg) {
                Some(root) => s.read(root)?,
                // A second `arg` or `data` replaces the first: for the keyed readers.
                None if matches!(key, b"arg" | b"data") => return None,
                None => s.skip()?,
            }
        }
        s.end()?;
        push.msg = msg.map(|m| cx.save(m));
        Some(push)
    }

    /// Where a top-level key's value goes if it is a plain field.
    #[inline(always)]
    fn slot<'s>(&'s mut self, key: &[u8], msg: &'s mut Option<&'a [u8]>) -> Option<Slot<'s, 'a>> {
        Some(match key {
            b"event" => Slot::Str(&mut self.event),
            b"code" => Slot::Code(&mut self.code),
            b"msg" => Slot::Str(msg),
            b"ts" => Slot::Int(&mut self.ts),
            _ => return None,
        })
    }

    /// The channel and the envelope's symbol of a data push.
    pub fn channel(&self, cx: &mut Cx<'_>) -> Result<(&'a [u8], Sym), Fault> {
        let arg = self.arg.ok_or(Fault::malformed("neither event nor arg"))?;
        match self.data {
            None => return Err(Fault::missing("data")),
            Some(false) => return Err(Fault::malformed("data is not an array")),
            Some(true) => {}
        }
        let channel = arg.channel.ok_or(Fault::missing("arg.channel"))?;
        Ok((channel, arg.inst.map_or(Sym::Absent, |s| cx.symbol(s))))
    }
}

/// One element of an OKX (`bbo-tbt`, `books5`) or Bitget (`books1`/`5`/`15`) book channel; the
/// two venues send the same shape: `{"instId", "bids": [[price, size, ..], ..], "asks": [..],
/// "ts"}`, the symbol falling back to the envelope's `arg.instId` and the time to `frame_ts`. An
/// empty side (OKX sends empty books as keep-alives) quotes nothing.
pub(crate) fn book_read(
    item: &Item,
    arg_inst: Sym,
    frame_ts: Option<i64>,
    cx: &mut Cx<'_>,
) -> Result<(), Fault> {
    let id = cx.resolve(item.inst.or(arg_inst), "instId")?;
    let bid = item.bids.required("bids")?;
    let ask = item.asks.required("asks")?;
    let ts = cx.ts(item.ts.opt_millis("ts")?.or(frame_ts));
    cx.quote_top(id, ts, bid, ask)
}

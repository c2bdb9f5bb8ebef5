//! The venue modules' fast paths (`feeds/src/json/strict.rs`: in order for book streams, keyed for
//! the rest) read the compact frames venues send and give exactly what the general cursor
//! gives. A frame with a space after it is the same JSON but is always declined by the fast
//! paths (they read compact frames only), so the paths are compared frame for frame. Mutated frames are compared the same way in
//! `venue_fuzz.rs`; frames with keys reordered or unknown keys added, in `venue_reorder.rs`.

mod venues_support;

use carry_feeds::venue::market_ws::Reader;
use carry_feeds::FAST_PATH_MAX_LEN;
use venues_support::{compact, feed, fixture, parser, MARKET_DATA};

/// The fixtures of the book streams and of Binance's markPrice, which the in-order readers read
/// at any length.
const IN_ORDER: &[&str] = &[
    "binance_usdm_markPrice_1.json",
    "binance_usdm_bookTicker_1.json",
    "binance_spot_bookTicker_1.json",
    "bybit_spot_orderbook1_snapshot_1.json",
    "okx_bbo_tbt_push_1.json",
    "bitget_spot_books5_push_1.json",
    "gate_futures_book_ticker_push_1.json",
    "gate_spot_book_ticker_push_1.json",
];

/// The reader a venue module reads the compact fixture `file` with: the in-order one for book
/// streams; else the keyed one, but Bybit has none (its frames' many long keys make the
/// per-string chain cost more than the cursor's quote-marking pass) and frames longer than the
/// bound go to the cursor.
fn reader_for(file: &str, venue: &str, frame: &[u8]) -> Reader {
    if IN_ORDER.contains(&file) {
        Reader::InOrder
    } else if !venue.starts_with("bybit") && frame.len() <= FAST_PATH_MAX_LEN {
        Reader::Keyed
    } else {
        Reader::General
    }
}

/// The outcome, events and logged problem of `frame` read by a fresh parser (Bybit deltas after
/// their snapshot), and which reader read it.
fn read_by(file: &str, venue: &str, symbol: &str, frame: &[u8]) -> (String, Reader) {
    let mut p = parser(venue, &[symbol]);
    if file.contains("delta") {
        let snapshot = compact(&fixture(&file.replace("delta", "snapshot")));
        assert!(feed(&mut p, &snapshot).0.is_ok(), "{file}: snapshot");
    }
    let readers = [Reader::InOrder, Reader::Keyed, Reader::General];
    let before = readers.map(|r| p.frames_read_by(r));
    let (out, events) = feed(&mut p, frame);
    let read: Vec<Reader> = readers
        .into_iter()
        .zip(before)
        .filter(|&(r, n)| p.frames_read_by(r) > n)
        .map(|(r, _)| r)
        .collect();
    assert_eq!(read.len(), 1, "one frame counts once: {read:?}");
    let said = format!("{out:?} {events:?} {:?}", p.last_problem());
    (said, read[0])
}

/// [`read_by`], and whether a fast path read the frame.
fn read(file: &str, venue: &str, symbol: &str, frame: &[u8]) -> (String, bool) {
    let (said, reader) = read_by(file, venue, symbol, frame);
    (said, reader != Reader::General)
}

#[test]
fn compact_market_data_takes_the_fast_path_and_reads_as_the_general_path_does() {
    for (file, venue, symbol) in MARKET_DATA {
        let frame = compact(&fixture(file));
        let (fast_said, reader) = read_by(file, venue, symbol, &frame);
        assert!(fast_said.starts_with("Ok(Data"), "{file}: {fast_said}");
        assert_eq!(reader, reader_for(file, venue, &frame), "{file}: reader");

        let mut padded = frame.clone();
        padded.push(b' ');
        let (general_said, fast) = read(file, venue, symbol, &padded);
        assert!(!fast, "{file}: whitespace is for the general path");
        assert_eq!(fast_said, general_said, "{file}");
    }
}

#[test]
fn the_fast_path_declines_what_it_does_not_read() {
    for (frame, why) in [
        (
            &br#"{"u":1, "s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1"}"#[..],
            "whitespace",
        ),
        (
            br#"{"u":1,"s":"BNB\u0055SDT","b":"1","B":"1","a":"2","A":"1"}"#,
            "an escape",
        ),
        (
            br#"{"stream":"bnbusdt@bookTicker","data":{"u":1,"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1"},"x":1}"#,
            "an envelope with another key",
        ),
        (br#"{"result":null,"id":1}"#, "a reply"),
        (br#"[{"e":"markPriceUpdate"}]"#, "an array"),
        (
            br#"{"u":1,"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1","x":{"y":1}}"#,
            "an object it does not need",
        ),
    ] {
        let text = String::from_utf8_lossy(frame);
        let (said, fast) = read("", "binance-spot", "BNBUSDT", frame);
        assert!(!fast, "{why}: {text} read by the fast path");
        let mut padded = frame.to_vec();
        padded.push(b' ');
        assert_eq!(read("", "binance-spot", "BNBUSDT", &padded).0, said, "{why}");
    }
    // And the same frame without what made it decline is read by it.
    let plain = br#"{"u":1,"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1"}"#;
    assert!(read("", "binance-spot", "BNBUSDT", plain).1);
}

/// Bytes that matter to JSON and to the fast path's checks, and some that do not.
const EDITS: &[u8] = b"\"\\,:{}[]-+.eE019ntfx \x1f\x7f\x80\xff";

#[test]
fn every_one_byte_edit_of_a_fast_frame_reads_as_the_general_path_reads_it() {
    let (mut fast_read, mut in_order_read) = (0, 0);
    for (file, venue, symbol) in MARKET_DATA {
        let frame = compact(&fixture(file));
        if reader_for(file, venue, &frame) == Reader::General {
            continue;
        }
        let mut edited = Vec::new();
        for at in 0..=frame.len() {
            for &c in EDITS {
                // Insert `c` before `at`, and put it in place of the byte at `at`.
                let mut insert = frame.clone();
                insert.insert(at, c);
                edited.push(insert);
                if at < frame.len() {
                    let mut replace = frame.clone();
                    replace[at] = c;
                    edited.push(replace);
                }
            }
            if at < frame.len() {
                let mut delete = frame.clone();
                delete.remove(at);
                edited.push(delete);
            }
        }
        for edit in edited {
            let (said, reader) = read_by(file, venue, symbol, &edit);
            let mut padded = edit.clone();
            padded.push(b' ');
            let text = String::from_utf8_lossy(&edit);
            assert_eq!(said, read(file, venue, symbol, &padded).0, "{file}: {text}");
            fast_read += usize::from(reader != Reader::General);
            in_order_read += usize::from(reader == Reader::InOrder);
        }
    }
    // The edits that keep a frame compact and plain are many: the fast paths read them (edits
    // of values mostly keep the order of the keys).
    assert!(
        fast_read > 1000 && in_order_read > 500,
        "{fast_read} edited frames read by a fast path, {in_order_read} in order"
    );
}

#[test]
fn book_frames_in_the_venues_order_are_read_in_order_and_reordered_ones_by_key() {
    let cases: [(&str, &str, &[u8], Reader); 7] = [
        (
            "binance-spot",
            "BNBUSDT",
            br#"{"stream":"bnbusdt@bookTicker","data":{"u":1,"s":"BNBUSDT","b":"1","B":"1","a":"2","A":"1"}}"#,
            Reader::InOrder,
        ),
        (
            "binance-spot",
            "BNBUSDT",
            br#"{"stream":"bnbusdt@bookTicker","data":{"s":"BNBUSDT","u":1,"b":"1","B":"1","a":"2","A":"1"}}"#,
            Reader::Keyed,
        ),
        (
            "okx-perp",
            "BTC-USDT-SWAP",
            br#"{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"},"data":[{"asks":[["2","1","0","1"]],"bids":[["1","1","0","1"]],"ts":"1670324386802","seqId":1}]}"#,
            Reader::InOrder,
        ),
        (
            "okx-perp",
            "BTC-USDT-SWAP",
            br#"{"arg":{"channel":"bbo-tbt","instId":"BTC-USDT-SWAP"},"data":[{"bids":[["1","1","0","1"]],"asks":[["2","1","0","1"]],"ts":"1670324386802","seqId":1}]}"#,
            Reader::Keyed,
        ),
        (
            "gate-spot",
            "BTC_USDT",
            br#"{"time":1606292218,"time_ms":1606292218231,"channel":"spot.book_ticker","event":"update","result":{"t":1606292218213,"u":48733182,"s":"BTC_USDT","b":"19177.79","B":"0.0003341504","a":"19179.38","A":"0.09"}}"#,
            Reader::InOrder,
        ),
        // Fields the reader does not know, after the ones it reads in order: still in order.
        (
            "gate-spot",
            "BTC_USDT",
            br#"{"time":1606292218,"time_ms":1606292218231,"channel":"spot.book_ticker","event":"update","result":{"t":1606292218213,"u":48733182,"s":"BTC_USDT","b":"19177.79","B":"0.0003341504","a":"19179.38","A":"0.09","x":[1]},"y":"z"}"#,
            Reader::InOrder,
        ),
        (
            "gate-spot",
            "BTC_USDT",
            br#"{"time_ms":1606292218231,"time":1606292218,"channel":"spot.book_ticker","event":"update","result":{"t":1606292218213,"u":48733182,"s":"BTC_USDT","b":"19177.79","B":"0.0003341504","a":"19179.38","A":"0.09"}}"#,
            Reader::Keyed,
        ),
    ];
    for (venue, symbol, frame, reader) in cases {
        let text = String::from_utf8_lossy(frame);
        let (said, by) = read_by("", venue, symbol, frame);
        assert_eq!(by, reader, "{text}");
        assert!(said.starts_with("Ok(Data"), "{text}: {said}");
        let mut padded = frame.to_vec();
        padded.push(b' ');
        assert_eq!(read("", venue, symbol, &padded).0, said, "{text}");
    }
}

//! Keys in any order and unknown keys anywhere: every market-data payload, with the keys of
//! every object reversed, shuffled, or joined by keys no venue sends (holding strings, numbers,
//! nested objects and arrays, `null`, booleans), decodes to exactly the events and outcome of the
//! payload as published. Arrays keep their order (a book's first level is its best).

mod venues_support;

use proptest::prelude::*;
use venues_support::{compact, feed, fixture, parser, MARKET_DATA};

/// A JSON value with its objects' keys in document order and scalars as written.
#[derive(Clone, Debug)]
enum Node {
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    /// A string, number or literal, exactly as in the document (quotes and escapes included).
    Raw(String),
}

/// Reads the compact, valid JSON of a fixture (the test's own reader, independent of carry's).
fn read(text: &str) -> Node {
    fn value(b: &[u8], i: &mut usize) -> Node {
        match b[*i] {
            b'{' => {
                *i += 1;
                let mut fields = Vec::new();
                while b[*i] != b'}' {
                    if b[*i] == b',' {
                        *i += 1;
                    }
                    let Node::Raw(key) = value(b, i) else {
                        panic!("key is not a string")
                    };
                    assert_eq!(b[*i], b':');
                    *i += 1;
                    fields.push((key, value(b, i)));
                }
                *i += 1;
                Node::Object(fields)
            }
            b'[' => {
                *i += 1;
                let mut items = Vec::new();
                while b[*i] != b']' {
                    if b[*i] == b',' {
                        *i += 1;
                    }
                    items.push(value(b, i));
                }
                *i += 1;
                Node::Array(items)
            }
            b'"' => {
                let start = *i;
                *i += 1;
                while b[*i] != b'"' {
                    *i += if b[*i] == b'\\' { 2 } else { 1 };
                }
                *i += 1;
                Node::Raw(String::from_utf8(b[start..*i].to_vec()).unwrap())
            }
            _ => {
                let start = *i;
                while *i < b.len() && !matches!(b[*i], b',' | b'}' | b']') {
                    *i += 1;
                }
                Node::Raw(String::from_utf8(b[start..*i].to_vec()).unwrap())
            }
        }
    }
    let mut i = 0;
    let node = value(text.as_bytes(), &mut i);
    assert_eq!(i, text.len());
    node
}

fn write(node: &Node, out: &mut String) {
    match node {
        Node::Raw(text) => out.push_str(text),
        Node::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Node::Object(fields) => {
            out.push('{');
            for (k, (key, value)) in fields.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                out.push_str(key);
                out.push(':');
                write(value, out);
            }
            out.push('}');
        }
    }
}

/// Values a venue never sends under the keys added, of every JSON kind.
const STRANGERS: &[&str] = &[
    r#""x""#,
    "12.5e3",
    "-7",
    "null",
    "true",
    "false",
    r#"{"s":"ETHUSDT","b":"1","data":[1,{"a":null}]}"#,
    r#"[["1","2"],{"instId":"X"},[]]"#,
    r#""\u0041\n\"""#,
];

/// Applies `edit` to every object, innermost first.
fn every_object(node: &mut Node, edit: &mut impl FnMut(&mut Vec<(String, Node)>)) {
    match node {
        Node::Object(fields) => {
            for (_, value) in fields.iter_mut() {
                every_object(value, edit);
            }
            edit(fields);
        }
        Node::Array(items) => {
            for item in items {
                every_object(item, edit);
            }
        }
        Node::Raw(_) => {}
    }
}

/// The outcome and events of `frame` read by a fresh parser (Bybit deltas after their snapshot).
fn decode(file: &str, venue: &str, symbol: &str, frame: &[u8]) -> String {
    let mut p = parser(venue, &[symbol]);
    if file.contains("delta") {
        let snapshot = compact(&fixture(&file.replace("delta", "snapshot")));
        assert!(feed(&mut p, &snapshot).0.is_ok(), "{file}: snapshot");
    }
    let (out, events) = feed(&mut p, frame);
    format!("{out:?} {events:?}")
}

#[test]
fn reversed_keys_and_strangers_at_every_level_change_nothing() {
    for (file, venue, symbol) in MARKET_DATA {
        let text = String::from_utf8(compact(&fixture(file))).unwrap();
        let want = decode(file, venue, symbol, text.as_bytes());
        assert!(want.starts_with("Ok(Data"), "{file}: {want}");

        let mut reversed = read(&text);
        every_object(&mut reversed, &mut |fields| fields.reverse());
        let mut out = String::new();
        write(&reversed, &mut out);
        assert_eq!(
            decode(file, venue, symbol, out.as_bytes()),
            want,
            "{file} reversed: {out}"
        );

        for (n, stranger) in STRANGERS.iter().enumerate() {
            let mut joined = read(&text);
            every_object(&mut joined, &mut |fields| {
                let at = n % (fields.len() + 1);
                fields.insert(at, (format!("\"zz{n}\""), read(stranger)));
                fields.push(("\"unknownKey\"".to_string(), read(stranger)));
            });
            let mut out = String::new();
            write(&joined, &mut out);
            assert_eq!(
                decode(file, venue, symbol, out.as_bytes()),
                want,
                "{file}: {out}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Any order of the keys of every object, as seeded shuffles.
    #[test]
    fn shuffled_keys_change_nothing(pick in 0usize..MARKET_DATA.len(), seed in any::<u64>()) {
        let (file, venue, symbol) = MARKET_DATA[pick];
        let text = String::from_utf8(compact(&fixture(file))).unwrap();
        let want = decode(file, venue, symbol, text.as_bytes());
        let mut node = read(&text);
        let mut state = seed | 1;
        every_object(&mut node, &mut |fields| {
            // Fisher-Yates with a xorshift: any permutation can come out.
            for k in (1..fields.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                fields.swap(k, (state % (k as u64 + 1)) as usize);
            }
        });
        let mut out = String::new();
        write(&node, &mut out);
        prop_assert_eq!(decode(file, venue, symbol, out.as_bytes()), want, "{}", out);
    }
}

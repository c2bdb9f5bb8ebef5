//! The simulated venues' own record of what they accepted: one JSON line per event in
//! `<state_dir>/<venue>.orders.jsonl` (`binance-perp.orders.jsonl`, ...), written before the
//! venue answers. A line says an order was accepted, filled (one line per fill), finished, that
//! an account setting changed, that a funding settlement paid or charged a position, or that a
//! balance was changed from outside (a transfer). The simulator replays the files at start, so a `carry demo` killed
//! and restarted still knows every client order id it accepted, as a real venue would; a chaos
//! test reads them with [`read_accepted_orders`] after the process is gone, to check the venue's
//! view rather than carry's.
//!
//! A line is written with one `write` call; a process killed mid-write can at worst leave the
//! last line without its newline. That line was never answered, so the venue forgets it: the
//! reader skips it and the simulator cuts it off before appending. Any other unreadable line is
//! an error naming the file and line.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use carry_engine::Venue;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn is_buy(self) -> bool {
        self == Side::Buy
    }
}

/// How long an order may rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    Gtc,
    Ioc,
    Fok,
    /// Maker only: refused or cancelled (per venue) if it would take.
    PostOnly,
}

/// The part of an account an order trades in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wallet {
    Perp,
    Spot,
    /// Spot traded on margin (borrowing to sell short).
    Margin,
}

/// How an order ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    Filled,
    /// Cancelled on request.
    Canceled,
    /// IOC/FOK remainder, or a reduce-only order with nothing left to reduce.
    Expired,
    /// A post-only order that would have taken, cancelled by a venue that cancels rather than
    /// refuses (Bybit, OKX, Bitget).
    PostOnlyCanceled,
    /// Cancelled by the account's dead-man switch.
    DeadMan,
}

/// One execution of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    pub trade_id: u64,
    /// In the venue's order unit (contracts on OKX swaps and Gate futures).
    pub qty: Decimal,
    pub price: Decimal,
    /// Positive when charged, in `fee_asset`.
    pub fee: Decimal,
    pub fee_asset: String,
    pub maker: bool,
    pub time_ms: i64,
}

/// An order as the venue accepted it, with what happened to it since.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedOrder {
    #[serde(with = "venue_name")]
    pub venue: Venue,
    pub wallet: Wallet,
    pub order_id: u64,
    /// The client order id as the venue stores it (Gate's `text` includes `t-`).
    pub client_id: String,
    pub symbol: String,
    pub side: Side,
    /// In the venue's order unit.
    pub qty: Decimal,
    pub price: Decimal,
    pub tif: TimeInForce,
    pub reduce_only: bool,
    /// Margin orders only: borrow what a sell lacks.
    #[serde(default)]
    pub auto_borrow: bool,
    /// The self-trade-prevention mode as the venue names it (empty: the venue's default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stp: String,
    /// Venue clock, Unix ms.
    pub time_ms: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fills: Vec<Fill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<Finish>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_ms: Option<i64>,
}

impl AcceptedOrder {
    /// Quantity filled so far, in order units.
    pub fn filled(&self) -> Decimal {
        self.fills.iter().map(|f| f.qty).sum()
    }
}

/// An account setting the venue remembers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "setting", rename_all = "snake_case")]
pub enum Setting {
    Leverage {
        symbol: String,
        leverage: u32,
    },
    /// `isolated` false is cross margin.
    MarginMode {
        symbol: String,
        isolated: bool,
    },
    /// Hedge (long/short) position mode on or off.
    PositionMode {
        hedge: bool,
    },
}

/// One funding settlement booked on one position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingPayment {
    /// The venue's id of the ledger entry (Binance `tranId`, OKX `billId`, ...).
    pub id: u64,
    pub symbol: String,
    /// Settlement time on the venue's clock, Unix ms.
    pub time_ms: i64,
    /// The signed position it was paid on, in the venue's order unit.
    pub position: Decimal,
    pub mark: Decimal,
    pub rate: Decimal,
    /// Signed from the account's side: positive received, negative paid.
    pub amount: Decimal,
    pub asset: String,
    /// The perp wallet's balance of `asset` after it.
    pub balance: Decimal,
}

/// One line of a record file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Line {
    Accepted {
        order: AcceptedOrder,
    },
    Fill {
        order_id: u64,
        fill: Fill,
    },
    Finished {
        order_id: u64,
        finish: Finish,
        time_ms: i64,
    },
    Setting {
        #[serde(flatten)]
        setting: Setting,
        time_ms: i64,
    },
    Funding {
        payment: FundingPayment,
    },
    /// A balance changed from outside trading (deposit, withdrawal, transfer).
    Transfer {
        wallet: Wallet,
        asset: String,
        amount: Decimal,
        time_ms: i64,
    },
}

/// Why a record file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("sim record {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("sim record {path}: line {line}: {reason}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// The record file of `venue` in `dir`.
pub fn record_path(dir: &Path, venue: Venue) -> PathBuf {
    dir.join(format!("{venue}.orders.jsonl"))
}

/// Every order a record file says the venue accepted, in acceptance order, with its fills and
/// how it finished. A missing file is an empty record.
pub fn read_accepted_orders(path: &Path) -> Result<Vec<AcceptedOrder>, RecordError> {
    let mut orders: Vec<AcceptedOrder> = Vec::new();
    for (line_no, line) in read_lines(path)?.lines {
        let corrupt = |reason: String| RecordError::Corrupt {
            path: path.to_path_buf(),
            line: line_no,
            reason,
        };
        match line {
            Line::Accepted { order } => orders.push(order),
            Line::Fill { order_id, fill } => orders
                .iter_mut()
                .rev()
                .find(|o| o.order_id == order_id)
                .ok_or_else(|| corrupt(format!("fill of unknown order {order_id}")))?
                .fills
                .push(fill),
            Line::Finished {
                order_id,
                finish,
                time_ms,
            } => {
                let o = orders
                    .iter_mut()
                    .rev()
                    .find(|o| o.order_id == order_id)
                    .ok_or_else(|| corrupt(format!("end of unknown order {order_id}")))?;
                o.finish = Some(finish);
                o.finish_ms = Some(time_ms);
            }
            Line::Setting { .. } | Line::Funding { .. } | Line::Transfer { .. } => {}
        }
    }
    Ok(orders)
}

/// A record file's readable lines (numbered from 1) and where its complete part ends.
pub(crate) struct Lines {
    pub lines: Vec<(usize, Line)>,
    /// Byte length of the complete lines; anything after is an unanswered torn write.
    pub complete_len: u64,
}

pub(crate) fn read_lines(path: &Path) -> Result<Lines, RecordError> {
    let io_err = |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Lines {
                lines: Vec::new(),
                complete_len: 0,
            })
        }
        Err(e) => return Err(io_err(e)),
    };
    let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let mut lines = Vec::new();
    for (i, raw) in bytes[..complete_len].split(|&b| b == b'\n').enumerate() {
        if raw.is_empty() {
            continue;
        }
        let line: Line = serde_json::from_slice(raw).map_err(|e| RecordError::Corrupt {
            path: path.to_path_buf(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        lines.push((i + 1, line));
    }
    Ok(Lines {
        lines,
        complete_len: complete_len as u64,
    })
}

/// Appends lines to one venue's record file.
#[derive(Debug)]
pub(crate) struct RecordWriter {
    path: PathBuf,
    file: File,
}

impl RecordWriter {
    /// Opens `path` for appending, first cutting off a torn last line (`complete_len` from
    /// [`read_lines`]).
    pub fn open(path: &Path, complete_len: u64) -> io::Result<RecordWriter> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        if file.metadata()?.len() > complete_len {
            file.set_len(complete_len)?;
        }
        Ok(RecordWriter {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Writes one line in one call. A failure is reported on stderr and otherwise ignored: the
    /// simulated venue keeps trading, like a venue whose audit log is degraded.
    pub fn append(&mut self, line: &Line) {
        let mut text = match serde_json::to_string(line) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "sim record {}: cannot encode a line: {e}",
                    self.path.display()
                );
                return;
            }
        };
        text.push('\n');
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            eprintln!("sim record {}: {e}", self.path.display());
        }
    }
}

mod venue_name {
    use carry_engine::Venue;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Venue, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Venue, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: u64, client: &str) -> AcceptedOrder {
        AcceptedOrder {
            venue: "okx-perp".parse().unwrap(),
            wallet: Wallet::Perp,
            order_id: id,
            client_id: client.into(),
            symbol: "BTC-USDT-SWAP".into(),
            side: Side::Sell,
            qty: Decimal::new(3, 0),
            price: Decimal::new(650_001, 1),
            tif: TimeInForce::Ioc,
            reduce_only: true,
            auto_borrow: false,
            stp: String::new(),
            time_ms: 1_700_000_000_000,
            fills: Vec::new(),
            finish: None,
            finish_ms: None,
        }
    }

    fn fill(trade_id: u64) -> Fill {
        Fill {
            trade_id,
            qty: Decimal::ONE,
            price: Decimal::new(650_002, 1),
            fee: Decimal::new(325, 5),
            fee_asset: "USDT".into(),
            maker: false,
            time_ms: 1_700_000_000_001,
        }
    }

    #[test]
    fn lines_round_trip_and_rebuild_orders() {
        let dir = tempfile::tempdir().unwrap();
        let path = record_path(dir.path(), "okx-perp".parse().unwrap());
        assert!(path.ends_with("okx-perp.orders.jsonl"));
        let mut w = RecordWriter::open(&path, 0).unwrap();
        let lines = [
            Line::Accepted {
                order: order(7, "a1"),
            },
            Line::Setting {
                setting: Setting::Leverage {
                    symbol: "BTC-USDT-SWAP".into(),
                    leverage: 5,
                },
                time_ms: 3,
            },
            Line::Fill {
                order_id: 7,
                fill: fill(70),
            },
            Line::Accepted {
                order: order(8, "a2"),
            },
            Line::Finished {
                order_id: 7,
                finish: Finish::Expired,
                time_ms: 9,
            },
            Line::Funding {
                payment: FundingPayment {
                    id: 1,
                    symbol: "BTC-USDT-SWAP".into(),
                    time_ms: 10,
                    position: Decimal::new(-2, 0),
                    mark: Decimal::new(65_000, 0),
                    rate: Decimal::new(1, 4),
                    amount: Decimal::new(13, 2),
                    asset: "USDT".into(),
                    balance: Decimal::new(100_013, 2),
                },
            },
            Line::Transfer {
                wallet: Wallet::Spot,
                asset: "USDT".into(),
                amount: Decimal::new(-5, 0),
                time_ms: 11,
            },
        ];
        for l in &lines {
            w.append(l);
        }
        let back = read_lines(&path).unwrap();
        assert_eq!(
            back.lines.into_iter().map(|(_, l)| l).collect::<Vec<_>>(),
            lines.to_vec()
        );
        let orders = read_accepted_orders(&path).unwrap();
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[0].fills, vec![fill(70)]);
        assert_eq!(orders[0].filled(), Decimal::ONE);
        assert_eq!(orders[0].finish, Some(Finish::Expired));
        assert_eq!(orders[0].finish_ms, Some(9));
        assert_eq!(orders[1].finish, None);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(r#"{"kind":"accepted","order":{"venue":"okx-perp","wallet":"perp","order_id":7,"client_id":"a1""#),
            "{text}"
        );
    }

    #[test]
    fn a_torn_last_line_is_forgotten_and_cut_off_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.orders.jsonl");
        let mut w = RecordWriter::open(&path, 0).unwrap();
        w.append(&Line::Accepted {
            order: order(1, "a"),
        });
        drop(w);
        let whole = std::fs::metadata(&path).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"kind":"accepted","order":{"ven"#).unwrap();
        drop(f);
        assert_eq!(read_accepted_orders(&path).unwrap().len(), 1);
        let lines = read_lines(&path).unwrap();
        assert_eq!(lines.complete_len, whole);
        let mut w = RecordWriter::open(&path, lines.complete_len).unwrap();
        w.append(&Line::Accepted {
            order: order(2, "b"),
        });
        let ids: Vec<u64> = read_accepted_orders(&path)
            .unwrap()
            .iter()
            .map(|o| o.order_id)
            .collect();
        assert_eq!(ids, vec![1, 2]);
    }

    #[test]
    fn a_corrupt_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.orders.jsonl");
        std::fs::write(&path, "{\"kind\":\"nope\"}\n").unwrap();
        let e = read_accepted_orders(&path).unwrap_err();
        assert!(matches!(e, RecordError::Corrupt { line: 1, .. }), "{e}");
        assert!(e.to_string().contains("x.orders.jsonl: line 1"), "{e}");
        std::fs::write(
            &path,
            "{\"kind\":\"fill\",\"order_id\":5,\"fill\":{\"trade_id\":1,\"qty\":\"1\",\"price\":\"1\",\"fee\":\"0\",\"fee_asset\":\"USDT\",\"maker\":true,\"time_ms\":1}}\n",
        )
        .unwrap();
        let e = read_accepted_orders(&path).unwrap_err();
        assert!(e.to_string().contains("fill of unknown order 5"), "{e}");
        assert!(read_accepted_orders(&dir.path().join("missing.jsonl"))
            .unwrap()
            .is_empty());
    }
}

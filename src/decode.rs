//! `carry decode`: raw venue messages in, normalized events out, one JSON object per line, through
//! the same parsers the live feeds use. State carries across messages as it would on one live
//! connection (a Bybit delta merges into the snapshot before it), and the instrument universe
//! grows as unknown symbols appear, so any captured stream can be replayed without a config.

use std::fs;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use carry_engine::{MarketEvent, MarketEventKind, Universe, Venue};
use carry_feeds::transport::clock;
use carry_feeds::venue::market_ws::Parser;
use carry_feeds::venue::sizes_in_contracts;
use carry_feeds::venue::symbols;
use carry_feeds::{DropReason, RecvStamp};
use rust_decimal::Decimal;

/// Decode raw venue websocket messages into carry's normalized events.
///
/// Each FILE holds one message (any whitespace); with no FILE, stdin is read as one message per
/// line. One JSON object is printed per event: `kind` is `funding` (rate, predicted_rate,
/// next_funding_time, interval_ms, mark_price, index_price) or `quote` (bid, bid_qty, ask,
/// ask_qty); decimals are strings exactly as the venue sent them; `timestamp` is the venue's
/// event time in Unix ms, or the time the message was read when it carries none. Acks, pongs
/// and other control messages print nothing. A message that cannot be decoded is reported on
/// stderr with its file or line number, and the exit status is then 1.
///
/// OKX perpetual and Gate futures quote sizes in contracts. Without `--contract-size` their
/// `bid_qty`/`ask_qty` are the venue's own numbers (contracts); with it they are converted to
/// base units (the live feed takes the contract size from the venue's REST metadata).
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "OKX perp and Gate perp sizes are contracts unless --contract-size is given."
)]
pub struct DecodeArgs {
    /// The venue the messages come from: binance-perp, binance-spot, bybit-perp, bybit-spot,
    /// okx-perp, okx-spot, bitget-perp, bitget-spot, gate-perp, gate-spot.
    #[arg(long, value_name = "VENUE")]
    pub venue: Venue,
    /// Base units per contract (OKX `ctVal`, Gate `quanto_multiplier`) for every symbol, to print
    /// okx-perp and gate-perp sizes in base units; without it those venues' sizes are printed as
    /// sent, in contracts.
    #[arg(long, value_name = "DECIMAL")]
    pub contract_size: Option<Decimal>,
    /// Files of one message each; stdin (one message per line) when none.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Runs `carry decode` on stdin/stdout/stderr. Exit status 1 when any message failed.
pub fn run(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let stderr = io::stderr();
    let all_ok = decode_to(
        &args,
        &mut stdin.lock(),
        &mut io::BufWriter::new(stdout.lock()),
        &mut stderr.lock(),
    )?;
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Decodes `args.files`, or `input` line by line when there are none, writing events to `out`
/// and failures to `err`. Returns whether every message decoded; `Err` only when writing fails.
pub fn decode_to(
    args: &DecodeArgs,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    if args.contract_size.is_some() && !sizes_in_contracts(args.venue) {
        writeln!(
            err,
            "carry decode: --contract-size ignored: {} quotes sizes in base units",
            args.venue
        )?;
    }
    let mut decoder = Decoder::new(args.venue, args.contract_size);
    let mut all_ok = true;
    let mut report = |what: &str,
                      outcome: Result<Vec<MarketEvent>, String>,
                      decoder: &Decoder,
                      out: &mut dyn Write,
                      err: &mut dyn Write|
     -> anyhow::Result<()> {
        match outcome {
            Ok(events) => {
                for event in &events {
                    writeln!(out, "{}", decoder.render(event))?;
                }
            }
            Err(reason) => {
                all_ok = false;
                writeln!(err, "{what}: {reason}")?;
            }
        }
        Ok(())
    };
    if args.files.is_empty() {
        let mut line = Vec::new();
        let mut number = 0usize;
        loop {
            line.clear();
            let n = input
                .read_until(b'\n', &mut line)
                .context("reading stdin")?;
            if n == 0 {
                break;
            }
            number += 1;
            if line.trim_ascii().is_empty() {
                continue;
            }
            let outcome = decoder.decode(&line);
            report(&format!("line {number}"), outcome, &decoder, out, err)?;
        }
    } else {
        for path in &args.files {
            let outcome = match fs::read(path) {
                Ok(bytes) if bytes.trim_ascii().is_empty() => Err("empty file".to_string()),
                Ok(bytes) => decoder.decode(&bytes),
                Err(e) => Err(format!("cannot read: {e}")),
            };
            report(&path.display().to_string(), outcome, &decoder, out, err)?;
        }
    }
    out.flush()?;
    Ok(all_ok)
}

/// One venue's parser plus the universe it grows.
struct Decoder {
    venue: Venue,
    universe: Universe,
    parser: Parser,
    contract_size: Option<Decimal>,
}

impl Decoder {
    fn new(venue: Venue, contract_size: Option<Decimal>) -> Decoder {
        let universe = Universe::new();
        let parser = Parser::new(venue, Arc::new(universe.clone()), false);
        Decoder {
            venue,
            universe,
            parser,
            contract_size,
        }
    }

    /// Decodes one message; learns each unknown symbol and tries again (events of a failed try
    /// are discarded, so none is printed twice).
    fn decode(&mut self, message: &[u8]) -> Result<Vec<MarketEvent>, String> {
        let recv = RecvStamp {
            mono_ns: 0,
            unix_ms: clock::unix_ms(),
        };
        let mut learned = Vec::new();
        loop {
            let mut frame = message.to_vec();
            let mut events = Vec::new();
            match self.parser.parse(&mut frame, recv, &mut |e| events.push(e)) {
                Ok(_) => return Ok(events),
                Err(DropReason::UnknownSymbol) => {
                    let symbol = self.parser.unknown_symbol().unwrap_or_default().to_string();
                    if learned.contains(&symbol) {
                        return Err(format!("symbol {symbol:?} could not be added"));
                    }
                    self.learn(&symbol)?;
                    learned.push(symbol);
                }
                Err(reason) => {
                    return Err(self
                        .parser
                        .last_problem()
                        .map_or_else(|| reason.as_str().to_string(), str::to_string))
                }
            }
        }
    }

    /// Adds `symbol` to the universe under its canonical `BASE-QUOTE`.
    fn learn(&mut self, symbol: &str) -> Result<(), String> {
        let name = symbols::canonical(self.venue, symbol).ok_or_else(|| {
            format!(
                "unknown symbol {symbol:?}: cannot tell its base and quote (quote currencies known: {})",
                symbols::QUOTE_CURRENCIES.join(", ")
            )
        })?;
        let id = match self.universe.find(&name) {
            Some(id) if self.universe.symbol(id, self.venue).is_some() => {
                return Err(format!(
                    "symbol {symbol:?} maps to {name}, which {} already spells {:?}",
                    self.venue,
                    self.universe.symbol(id, self.venue).unwrap_or_default()
                ))
            }
            Some(id) => id,
            None => self
                .universe
                .add(&name)
                .map_err(|e| format!("symbol {symbol:?}: {e}"))?,
        };
        self.universe.set_symbol(id, self.venue, symbol);
        self.parser.set_universe(Arc::new(self.universe.clone()));
        if self.contract_size.is_some() {
            self.parser.set_contract_size(id, self.contract_size);
        }
        Ok(())
    }

    /// One event as a JSON object, fields in a fixed order.
    fn render(&self, event: &MarketEvent) -> String {
        let symbol = self
            .universe
            .symbol(event.instrument, event.venue)
            .unwrap_or_default();
        let instrument = &self.universe.get(event.instrument).name;
        let head = format!(
            r#"{{"venue":"{}","symbol":{},"instrument":{}"#,
            event.venue,
            json_string(symbol),
            json_string(instrument)
        );
        match event.kind {
            MarketEventKind::Funding(f) => format!(
                r#"{head},"kind":"funding","rate":"{}","predicted_rate":{},"next_funding_time":{},"interval_ms":{},"mark_price":{},"index_price":{},"timestamp":{}}}"#,
                f.rate,
                opt_decimal(f.predicted_rate),
                f.next_funding_time_ms,
                f.interval_ms
                    .map_or_else(|| "null".to_string(), |i| i.to_string()),
                opt_decimal(f.mark_price),
                opt_decimal(f.index_price),
                event.ts_ms
            ),
            MarketEventKind::Quote(q) => format!(
                r#"{head},"kind":"quote","bid":"{}","bid_qty":"{}","ask":"{}","ask_qty":"{}","timestamp":{}}}"#,
                q.bid, q.bid_qty, q.ask, q.ask_qty, event.ts_ms
            ),
            MarketEventKind::FeedReset => {
                format!(
                    r#"{head},"kind":"feed_reset","timestamp":{}}}"#,
                    event.ts_ms
                )
            }
        }
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// A decimal as a JSON string (its `Display` keeps the scale the venue sent), or `null`.
fn opt_decimal(d: Option<Decimal>) -> String {
    d.map_or_else(|| "null".to_string(), |d| format!("\"{d}\""))
}

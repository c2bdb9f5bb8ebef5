//! `carry journal verify|dump|stats`: inspect a journal directory. All three are read-only and
//! take no lock, so they are safe to run beside a live engine. `verify` checks every record and
//! exits 1 on corruption; `dump` prints records as JSON lines, decoded by the engine's record
//! definitions, and exits 1 on corruption after the records before it; `stats` summarizes
//! segments, records per kind and space. All three judge a journal by the same rules as a
//! restart.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use carry_engine::record::{describe, kind_by_name, kind_name};
use carry_journal::{verify, JournalError, JournalReader, Record, VerifyReport};

/// `carry journal ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum JournalCommand {
    /// Check every segment and record.
    ///
    /// Prints `ok: N records, seq A..B, S segments` (plus the size of a torn tail, which a crash
    /// leaves and the next writer cuts) and exits 0; exits 1 on corruption, naming the segment
    /// file and byte offset.
    Verify {
        /// The journal directory.
        dir: PathBuf,
    },
    /// Print records as JSON lines.
    ///
    /// Each line has seq, ts (ns), kind, len and the decoded payload fields, or `payload_hex`
    /// for kinds carry does not define. Exits 1 on corruption (after printing the records
    /// before it), naming the segment file and byte offset.
    Dump {
        /// The journal directory.
        dir: PathBuf,
        /// First sequence number to print.
        #[arg(long, value_name = "SEQ", default_value_t = 1)]
        from: u64,
        /// Only records of this kind: a number or a name such as `intent`.
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
    },
    /// Segments, records and payload bytes per kind, and space used.
    Stats {
        /// The journal directory.
        dir: PathBuf,
    },
}

/// Runs a `carry journal` subcommand, printing to stdout and stderr.
pub fn run(cmd: JournalCommand) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut err = io::stderr();
    match run_to(cmd, &mut out, &mut err).and_then(|code| {
        out.flush().context("write to stdout")?;
        Ok(code)
    }) {
        // The reader of our output went away (`carry journal dump DIR | head`): not an error.
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

/// Runs a subcommand with explicit output streams (what `run` does with stdout and stderr).
pub fn run_to(
    cmd: JournalCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    match cmd {
        JournalCommand::Verify { dir } => verify_cmd(&dir, out, err),
        JournalCommand::Dump { dir, from, kind } => dump_cmd(&dir, from, kind.as_deref(), out, err),
        JournalCommand::Stats { dir } => stats_cmd(&dir, out, err),
    }
}

/// Reports a journal error on stderr; exit status 1.
fn fail(err: &mut dyn Write, e: &JournalError) -> anyhow::Result<ExitCode> {
    let label = match e {
        JournalError::Corrupt { .. } => "corrupt",
        _ => "error",
    };
    writeln!(err, "{label}: {e}").context("write to stderr")?;
    Ok(ExitCode::from(1))
}

fn seq_range(r: &VerifyReport) -> String {
    match (r.first_seq, r.last_seq) {
        (Some(a), Some(b)) => format!("{a}..{b}"),
        _ => "none".to_string(),
    }
}

fn verify_cmd(dir: &Path, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let report = match verify(dir) {
        Ok(r) => r,
        Err(e) => return fail(err, &e),
    };
    let mut line = format!(
        "ok: {} records, seq {}, {} segments",
        report.records,
        seq_range(&report),
        report.segments
    );
    if let Some(t) = &report.torn_tail {
        let _ = write!(line, ", torn tail: {} bytes", t.bytes);
    }
    writeln!(out, "{line}").context("write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// Turns `--kind` into a kind number: a number as is, a name through the engine's table.
fn parse_kind(s: &str) -> anyhow::Result<u16> {
    if let Ok(n) = s.parse::<u16>() {
        return Ok(n);
    }
    kind_by_name(s).with_context(|| {
        let known: Vec<&str> = (1..=u16::MAX).filter_map(kind_name).collect();
        format!(
            "--kind {s}: not a record kind number or name (names: {})",
            known.join(", ")
        )
    })
}

fn dump_cmd(
    dir: &Path,
    from: u64,
    kind: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let only = kind.map(parse_kind).transpose()?;
    let reader = match JournalReader::open(dir) {
        Ok(r) => r,
        Err(e) => return fail(err, &e),
    };
    // To the end as it stands: a hole in the data is corruption (exit 1), as `verify` says.
    let mut records = reader.iter_to_end(from);
    let mut line = String::with_capacity(256);
    for rec in records.by_ref() {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) => return fail(err, &e),
        };
        if only.is_some_and(|k| k != rec.kind) {
            continue;
        }
        line.clear();
        dump_line(&rec, &mut line);
        writeln!(out, "{line}").context("write to stdout")?;
    }
    if let Some(t) = records.torn_tail() {
        writeln!(
            err,
            "note: torn tail of {} bytes at {} byte {} (what a crash leaves; the next writer cuts it)",
            t.bytes,
            t.segment.display(),
            t.offset
        )
        .context("write to stderr")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Frame fields take these keys; a payload field of the same name is shown as `payload_<name>`.
const FRAME_KEYS: [&str; 4] = ["seq", "ts", "kind", "len"];

/// One record as a JSON object: frame fields first, then the decoded payload.
fn dump_line(rec: &Record<'_>, line: &mut String) {
    let described = describe(rec.kind, rec.payload);
    let kind = match &described {
        Some((name, _)) => json_string(name),
        None => rec.kind.to_string(),
    };
    let _ = write!(
        line,
        "{{\"seq\":{},\"ts\":{},\"kind\":{kind},\"len\":{}",
        rec.seq,
        rec.ts_ns,
        rec.payload.len()
    );
    match described {
        Some((_, serde_json::Value::Object(fields))) => {
            for (key, value) in &fields {
                let key = if FRAME_KEYS.contains(&key.as_str()) {
                    format!("payload_{key}")
                } else {
                    key.clone()
                };
                let _ = write!(line, ",{}:{}", json_string(&key), value);
            }
        }
        Some((_, serde_json::Value::Null)) => {}
        Some((_, value)) => {
            let _ = write!(line, ",\"fields\":{value}");
        }
        None => {
            line.push_str(",\"payload_hex\":\"");
            for b in rec.payload {
                let _ = write!(line, "{b:02x}");
            }
            line.push('"');
        }
    }
    line.push('}');
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn stats_cmd(dir: &Path, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let report = match verify(dir) {
        Ok(r) => r,
        Err(e) => return fail(err, &e),
    };
    let mut text = String::new();
    let _ = writeln!(text, "journal:    {}", dir.display());
    let _ = writeln!(text, "instance:   {:016x}", report.instance_id);
    let _ = writeln!(
        text,
        "segments:   {} ({} bytes allocated)",
        report.segments, report.bytes_allocated
    );
    let _ = writeln!(
        text,
        "records:    {}, seq {}",
        report.records,
        seq_range(&report)
    );
    let pct = if report.bytes_allocated > 0 {
        report.bytes_used as f64 * 100.0 / report.bytes_allocated as f64
    } else {
        0.0
    };
    let _ = writeln!(
        text,
        "bytes used: {} ({pct:.1}% of allocated)",
        report.bytes_used
    );
    match &report.torn_tail {
        Some(t) => {
            let _ = writeln!(
                text,
                "torn tail:  {} bytes at {} byte {}",
                t.bytes,
                t.segment.display(),
                t.offset
            );
        }
        None => text.push_str("torn tail:  none\n"),
    }
    if !report.kinds.is_empty() {
        let _ = writeln!(
            text,
            "{:>6}  {:<14}{:>12}{:>16}",
            "kind", "name", "records", "payload bytes"
        );
        for (kind, k) in &report.kinds {
            let name = kind_name(*kind).unwrap_or("-");
            let _ = writeln!(
                text,
                "{kind:>6}  {name:<14}{:>12}{:>16}",
                k.records, k.payload_bytes
            );
        }
    }
    out.write_all(text.as_bytes()).context("write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use carry_engine::record::{kind, Record as EngineRecord};
    use carry_engine::{Now, OperatorCommand};
    use carry_journal::{Journal, JournalOptions};

    fn run_capture(cmd: JournalCommand) -> (ExitCode, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_to(cmd, &mut out, &mut err).expect("run");
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn dump_names_known_kinds_and_hex_encodes_unknown_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) =
            Journal::open(dir.path(), JournalOptions::default().segment_size(1 << 16)).unwrap();
        j.append(900, 5, &[0xde, 0xad]).unwrap();
        j.append(kind::TICK, 6, b"garbage").unwrap();
        let command = EngineRecord::Command {
            now: Now::new(11, 1_700_000_000_123),
            command: OperatorCommand::Flatten,
        };
        let mut payload = vec![0u8; command.encoded_len()];
        command.encode(&mut payload);
        j.append(command.kind(), command.ts_ns(), &payload).unwrap();
        drop(j);
        let (code, out, _) = run_capture(JournalCommand::Dump {
            dir: dir.path().into(),
            from: 1,
            kind: None,
        });
        assert_eq!(code, ExitCode::SUCCESS);
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["kind"], 900);
        assert_eq!(lines[0]["payload_hex"], "dead");
        assert_eq!(
            (
                lines[0]["seq"].as_u64(),
                lines[0]["ts"].as_u64(),
                lines[0]["len"].as_u64()
            ),
            (Some(1), Some(5), Some(2))
        );
        assert_eq!(lines[1]["kind"], kind_name(kind::TICK).unwrap());
        assert_eq!(lines[1]["len"], 7);
        // A payload that decodes: its fields sit beside the frame's.
        assert_eq!(lines[2]["kind"], kind_name(kind::COMMAND).unwrap());
        assert_eq!(lines[2]["command"], OperatorCommand::Flatten.as_str());
        assert_eq!(lines[2]["now_unix_ms"], 1_700_000_000_123i64);
        assert_eq!(lines[2]["ts"], command.ts_ns());
        assert_eq!(lines[2]["len"], payload.len());

        let (_, only, _) = run_capture(JournalCommand::Dump {
            dir: dir.path().into(),
            from: 1,
            kind: Some(kind_name(kind::TICK).unwrap().into()),
        });
        assert_eq!(only.lines().count(), 1);
        assert!(only.contains("\"seq\":2"), "{only}");
        assert!(parse_kind("no-such-kind")
            .unwrap_err()
            .to_string()
            .contains("no-such-kind"));
    }

    #[test]
    fn an_empty_record_of_an_unknown_kind_dumps_as_an_empty_hex_string() {
        let mut line = String::new();
        let rec = Record {
            seq: 3,
            kind: 4242,
            ts_ns: 9,
            payload: b"",
        };
        dump_line(&rec, &mut line);
        assert_eq!(
            line,
            r#"{"seq":3,"ts":9,"kind":4242,"len":0,"payload_hex":""}"#
        );
    }
}

//! `carry admin`: sends one command to a running carry's admin socket and prints the reply.
//! Also the [`AdminClient`] that tests and scripts use to speak the framing described in
//! [`super::server`].

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use super::reply::Reply;
use super::server::MAX_REPLY;

/// Socket used when neither `--socket` nor `--config` says otherwise: the default of the
/// `admin.socket` config key.
pub const DEFAULT_SOCKET: &str = "carry-admin.sock";

/// Longest reply header line the client reads (an `err` line included).
pub const MAX_HEADER: usize = 64 << 10;

/// How long the client waits for a reply before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `carry admin`.
#[derive(clap::Args, Debug, Clone)]
pub struct AdminArgs {
    /// Admin socket of the running instance [default: the config's admin.socket, else
    /// carry-admin.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Read the socket path from this config's admin.socket.
    #[arg(long, short, value_name = "FILE", conflicts_with = "socket")]
    pub config: Option<PathBuf>,
    /// The command and its arguments: help, status, latency [--json], metrics, spreads,
    /// positions, breakers, cycles, snapshot, pause, resume, flatten.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// One connection to an admin socket.
pub struct AdminClient {
    path: PathBuf,
    reader: BufReader<UnixStream>,
}

impl AdminClient {
    /// Connects to the socket at `path`; errors name the path.
    pub fn connect(path: impl AsRef<Path>) -> io::Result<AdminClient> {
        let path = path.as_ref().to_path_buf();
        let stream = UnixStream::connect(&path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{}: cannot connect to the admin socket: {e}",
                    path.display()
                ),
            )
        })?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(AdminClient {
            path,
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command line and reads its reply.
    pub fn request(&mut self, command: &str) -> io::Result<Reply> {
        let mut line = command.replace(['\n', '\r'], " ");
        line.push('\n');
        self.reader
            .get_mut()
            .write_all(line.as_bytes())
            .map_err(|e| self.error("cannot send the command", e))?;
        self.read_reply()
    }

    /// Reads one framed reply. What it allocates is bounded whatever the server sends: a header
    /// line of at most [`MAX_HEADER`] bytes, a body of at most [`MAX_REPLY`] bytes (a header
    /// announcing more is an error), and the body only as it arrives.
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        let mut header = String::new();
        let n = (&mut self.reader)
            .take(MAX_HEADER as u64)
            .read_line(&mut header)
            .map_err(|e| self.error("cannot read the reply", e))?;
        if n == 0 {
            return Err(self.error(
                "cannot read the reply",
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed by the server",
                ),
            ));
        }
        if !header.ends_with('\n') && n == MAX_HEADER {
            return Err(self.error(
                "bad reply header",
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("longer than {MAX_HEADER} bytes"),
                ),
            ));
        }
        let header = header.trim_end_matches(['\n', '\r']);
        if let Some(msg) = header.strip_prefix("err ") {
            return Ok(Reply::Err(msg.to_string()));
        }
        let bad_header = |reason: String| {
            self.error(
                "bad reply header",
                io::Error::new(io::ErrorKind::InvalidData, reason),
            )
        };
        let len: u64 = header
            .strip_prefix("ok ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                bad_header(format!("{:?}", header.chars().take(80).collect::<String>()))
            })?;
        if len > MAX_REPLY as u64 {
            return Err(bad_header(format!(
                "announces a body of {len} bytes, more than any reply carries ({MAX_REPLY})"
            )));
        }
        let mut body = Vec::new();
        (&mut self.reader)
            .take(len)
            .read_to_end(&mut body)
            .map_err(|e| self.error("cannot read the reply body", e))?;
        if body.len() as u64 != len {
            return Err(self.error(
                "reply body cut short",
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("got {} of {len} bytes", body.len()),
                ),
            ));
        }
        let body = String::from_utf8(body).map_err(|e| {
            self.error(
                "reply body is not UTF-8",
                io::Error::new(io::ErrorKind::InvalidData, e),
            )
        })?;
        Ok(Reply::Ok(body))
    }

    /// The underlying stream, for raw writes.
    pub fn stream(&mut self) -> &mut UnixStream {
        self.reader.get_mut()
    }

    fn error(&self, what: &str, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("{}: {what}: {e}", self.path.display()))
    }
}

/// The socket `args` designate: `--socket`, else the config's `admin.socket`, else the default.
pub fn socket_path(args: &AdminArgs) -> anyhow::Result<PathBuf> {
    if let Some(p) = &args.socket {
        return Ok(p.clone());
    }
    if let Some(file) = &args.config {
        let cfg = crate::config::Config::load(file)?;
        return Ok(cfg.admin.socket);
    }
    Ok(PathBuf::from(DEFAULT_SOCKET))
}

/// Runs `carry admin`: prints the body of an `ok` reply to stdout and exits 0; prints an `err`
/// reply to stderr and exits 1. A connection failure is an error naming the socket path.
pub fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let path = socket_path(&args)?;
    let command = args.command.join(" ");
    let mut client = AdminClient::connect(&path)?;
    let reply = client
        .request(&command)
        .with_context(|| format!("admin command {command:?}"))?;
    match reply {
        Reply::Ok(body) => {
            let mut out = io::stdout().lock();
            out.write_all(body.as_bytes())?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Reply::Err(msg) => {
            eprintln!("carry admin: {}: {msg}", path.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        admin: AdminArgs,
    }

    fn parse(args: &[&str]) -> Result<AdminArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("admin").chain(args.iter().copied())).map(|c| c.admin)
    }

    #[test]
    fn command_words_and_their_flags_are_passed_through() {
        let a = parse(&["--socket", "/tmp/x.sock", "latency", "--json"]).unwrap();
        assert_eq!(a.socket, Some(PathBuf::from("/tmp/x.sock")));
        assert_eq!(a.command, ["latency", "--json"]);
        assert_eq!(socket_path(&a).unwrap(), PathBuf::from("/tmp/x.sock"));
        let a = parse(&["status"]).unwrap();
        assert_eq!(socket_path(&a).unwrap(), PathBuf::from(DEFAULT_SOCKET));
        assert!(parse(&[]).is_err(), "a command is required");
        assert!(parse(&["--socket", "a", "--config", "b", "status"]).is_err());
    }
}

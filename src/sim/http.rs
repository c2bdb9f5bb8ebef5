//! The REST side of the simulator: a small HTTP/1.1 server. One thread per connection reads
//! requests (GET, POST, PUT, DELETE; headers; `Content-Length` or chunked bodies) and answers each before
//! reading the next, keeping the connection open until the client closes it, asks to close, or
//! stays idle past [`IDLE_TIMEOUT`], so a keep-alive client (ureq's agent) sends many requests
//! on one connection and several connections at once. A request head over 16 KiB or a body over
//! 64 KiB is refused (431/413) and the connection closed.
//!
//! Routing asks each exchange's private module first (`binance::private`, ...), then the public
//! handlers, by path; anything unrecognised is a JSON 404 naming method and path, and a venue
//! under a REST fault answers 503. A venue module may also ask for an injected fault on an
//! order request: close without answering, or reset the connection.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use carry_engine::market::venue::Exchange;
use carry_engine::Venue;

use super::{binance, bitget, bybit, gate, okx, Shared};

/// A parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RestRequest {
    pub method: String,
    /// The path as sent (no percent-decoding: signatures cover the bytes sent).
    pub path: String,
    /// The query string exactly as sent, without the `?`.
    pub raw_query: String,
    /// The query, percent-decoded.
    pub query: Vec<(String, String)>,
    /// Header names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RestRequest {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A header by name, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses a request target: `/path?a=1&b=%5B%22X%22%5D` (a GET without headers or body).
    #[cfg(test)]
    pub fn from_target(target: &str) -> RestRequest {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        RestRequest {
            method: "GET".into(),
            path: path.to_string(),
            raw_query: query.to_string(),
            query: parse_form(query),
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// The body's `application/x-www-form-urlencoded` parameters (Binance POSTs).
    pub fn form(&self) -> Vec<(String, String)> {
        parse_form(&self.body)
    }

    fn wants_close(&self, http10: bool) -> bool {
        match self.header("connection") {
            Some(c) if c.eq_ignore_ascii_case("close") => true,
            Some(c) if c.eq_ignore_ascii_case("keep-alive") => false,
            _ => http10,
        }
    }
}

/// Splits `a=1&b=2` into decoded pairs.
pub(crate) fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// What the connection does after a venue handled a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disposition {
    Answer,
    /// Injected fault: close the connection without answering.
    DropAnswer,
    /// Injected fault: reset the connection (RST), the request not applied.
    Reset,
}

/// A venue's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub venue: Venue,
    pub status: u16,
    pub body: String,
    /// Extra headers (rate-limit usage, ...).
    pub headers: Vec<(&'static str, String)>,
    pub disposition: Disposition,
}

impl Reply {
    pub fn new(venue: Venue, status: u16, body: String) -> Reply {
        Reply {
            venue,
            status,
            body,
            headers: Vec::new(),
            disposition: Disposition::Answer,
        }
    }

    pub fn ok(venue: Venue, body: String) -> Reply {
        Reply::new(venue, 200, body)
    }

    pub fn with_headers(mut self, headers: Vec<(&'static str, String)>) -> Reply {
        self.headers.extend(headers);
        self
    }
}

/// A connection idle this long is closed (ureq drops idle pooled connections after 15 s, so
/// it never reuses one the simulator has closed).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;

/// Why a request cannot be read: answered with `status` and the connection closed.
struct BadRequest {
    status: u16,
    why: String,
}

/// Serves requests on `stream` until the client closes or a request asks to.
pub(crate) fn serve(mut stream: TcpStream, shared: &Shared) {
    if stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let (req, http10) = match read_request(&mut stream, &mut buf) {
            Ok(Some(r)) => r,
            // A client that went away (or stayed idle too long) gets nothing.
            Ok(None) => return,
            Err(bad) => {
                let body = format!(
                    "{{\"error\":{}}}",
                    super::ws::json_str(&format!("sim: {}", bad.why))
                );
                let _ = write_response(&mut stream, bad.status, &body, &[], true);
                let _ = stream.shutdown(std::net::Shutdown::Write);
                linger(&mut stream);
                return;
            }
        };
        let close = req.wants_close(http10);
        if shared.is_stopping() {
            return;
        }
        let reply = route(&req, shared);
        match reply.disposition {
            Disposition::Answer => {
                if write_response(
                    &mut stream,
                    reply.status,
                    &reply.body,
                    &reply.headers,
                    close,
                )
                .is_err()
                {
                    return;
                }
                if close {
                    let _ = stream.shutdown(std::net::Shutdown::Write);
                    return;
                }
            }
            Disposition::DropAnswer => {
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
            Disposition::Reset => {
                reset_on_close(&stream);
                return;
            }
        }
    }
}

/// After refusing a request, reads and drops what the client is still sending for a moment, so
/// closing does not reset the connection before the client has read the refusal.
fn linger(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    let mut left = 4 * MAX_BODY;
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Makes the socket's final close send RST instead of FIN (SO_LINGER with a zero timeout).
fn reset_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is a live socket owned by `stream`, and `linger` is a valid,
    // correctly sized option value that setsockopt only reads.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

fn write_response(
    stream: &mut TcpStream,
    status: u16,
    body: &str,
    headers: &[(&'static str, String)],
    close: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {}\r\n",
        reason(status),
        body.len(),
        if close { "close" } else { "keep-alive" }
    );
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.push_str(body);
    stream.write_all(head.as_bytes())?;
    stream.flush()
}

/// Routes a request to the exchange that serves its path: private endpoints first.
pub(crate) fn route(req: &RestRequest, shared: &Shared) -> Reply {
    let now = |e: Exchange| shared.venue_now_ms(e);
    let reply = binance::stream::rest(req, shared)
        .or_else(|| binance::private::rest(req, shared))
        .or_else(|| bybit::private::rest(req, shared))
        .or_else(|| okx::private::rest(req, shared))
        .or_else(|| bitget::private::rest(req, shared))
        .or_else(|| gate::private::rest(req, shared))
        .or_else(|| {
            (req.method == "GET")
                .then(|| {
                    binance::rest(req, shared, now(Exchange::Binance))
                        .or_else(|| bybit::rest(req, shared, now(Exchange::Bybit)))
                        .or_else(|| okx::rest(req, shared, now(Exchange::Okx)))
                        .or_else(|| bitget::rest(req, shared, now(Exchange::Bitget)))
                        .or_else(|| gate::rest(req, shared, now(Exchange::Gate)))
                })
                .flatten()
        });
    match reply {
        Some(r) if shared.is_rest_down(r.venue) => Reply::new(
            r.venue,
            503,
            format!(
                "{{\"error\":\"sim: {} REST is down (injected fault)\",\"path\":{}}}",
                r.venue,
                super::ws::json_str(&req.path)
            ),
        ),
        Some(r) => r,
        None => Reply::new(
            Venue::ALL[0],
            404,
            format!(
                "{{\"error\":\"sim: no simulated endpoint\",\"method\":{},\"path\":{}}}",
                super::ws::json_str(&req.method),
                super::ws::json_str(&req.path)
            ),
        ),
    }
}

/// Reads the next request from `stream`, keeping bytes past it in `buf` for the next call.
/// `Ok(None)` on a clean EOF (or idle timeout) before a request starts.
fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<Option<(RestRequest, bool)>, BadRequest> {
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if end > MAX_HEAD {
                return Err(BadRequest {
                    status: 431,
                    why: format!("request head over {MAX_HEAD} bytes"),
                });
            }
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(BadRequest {
                status: 431,
                why: format!("request head over {MAX_HEAD} bytes"),
            });
        }
        if !fill(stream, buf)? {
            return Ok(None);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) if !m.is_empty() && v.starts_with("HTTP/1.") => (m, t, v),
        _ => {
            return Err(BadRequest {
                status: 400,
                why: format!("bad request line {line:?}"),
            })
        }
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let too_big = |n: usize| BadRequest {
        status: 413,
        why: format!("body of {n} bytes is over {MAX_BODY}"),
    };
    let body_start = head_end + 4;
    let (body, consumed) = match header("transfer-encoding") {
        Some(te) if te.eq_ignore_ascii_case("chunked") => {
            match read_chunked(stream, buf, body_start)? {
                Some(x) => x,
                None => return Ok(None),
            }
        }
        Some(te) => {
            return Err(BadRequest {
                status: 501,
                why: format!("Transfer-Encoding {te:?} is not supported"),
            })
        }
        None => {
            let length = match header("content-length") {
                None => 0,
                Some(v) => v.parse::<usize>().map_err(|_| BadRequest {
                    status: 400,
                    why: format!("bad Content-Length {v:?}"),
                })?,
            };
            if length > MAX_BODY {
                return Err(too_big(length));
            }
            while buf.len() < body_start + length {
                if !fill(stream, buf)? {
                    return Ok(None);
                }
            }
            (
                buf[body_start..body_start + length].to_vec(),
                body_start + length,
            )
        }
    };
    let body = String::from_utf8(body).map_err(|_| BadRequest {
        status: 400,
        why: "body is not UTF-8".into(),
    })?;
    let (path, raw_query) = target.split_once('?').unwrap_or((target, ""));
    let req = RestRequest {
        method: method.to_string(),
        path: path.to_string(),
        raw_query: raw_query.to_string(),
        query: parse_form(raw_query),
        headers,
        body,
    };
    buf.drain(..consumed);
    Ok(Some((req, version == "HTTP/1.0")))
}

/// Reads a chunked body starting at `start` in `buf`: the body, and where the request ends.
/// `Ok(None)` when the client went away mid-body.
fn read_chunked(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    start: usize,
) -> Result<Option<(Vec<u8>, usize)>, BadRequest> {
    let bad = |why: &str| BadRequest {
        status: 400,
        why: format!("bad chunked body: {why}"),
    };
    let mut body = Vec::new();
    let mut at = start;
    loop {
        // The size line.
        let line_end = loop {
            if let Some(p) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                break at + p;
            }
            if buf.len() - at > 1024 {
                return Err(bad("size line too long"));
            }
            if !fill(stream, buf)? {
                return Ok(None);
            }
        };
        let line = String::from_utf8_lossy(&buf[at..line_end]).into_owned();
        let hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| bad("size is not hex"))?;
        at = line_end + 2;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                if let Some(p) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                    let empty = p == 0;
                    at += p + 2;
                    if empty {
                        return Ok(Some((body, at)));
                    }
                    continue;
                }
                if buf.len() - at > MAX_HEAD {
                    return Err(bad("trailers too long"));
                }
                if !fill(stream, buf)? {
                    return Ok(None);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(BadRequest {
                status: 413,
                why: format!("body over {MAX_BODY} bytes"),
            });
        }
        while buf.len() < at + size + 2 {
            if !fill(stream, buf)? {
                return Ok(None);
            }
        }
        body.extend_from_slice(&buf[at..at + size]);
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err(bad("chunk not followed by CRLF"));
        }
        at += size + 2;
    }
}

/// Reads more bytes into `buf`; false on EOF or timeout.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<bool, BadRequest> {
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Ok(false),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        501 => "Not Implemented",
        413 => "Payload Too Large",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_with_percent_decoding() {
        let r = RestRequest::from_target(
            "/api/v3/exchangeInfo?symbols=%5B%22BTCUSDT%22,%22ETHUSDT%22%5D&x=a+b&flag",
        );
        assert_eq!(r.path, "/api/v3/exchangeInfo");
        assert_eq!(r.param("symbols"), Some("[\"BTCUSDT\",\"ETHUSDT\"]"));
        assert_eq!(r.param("x"), Some("a b"));
        assert_eq!(r.param("flag"), Some(""));
        assert_eq!(r.param("nope"), None);
        assert_eq!(
            r.raw_query,
            "symbols=%5B%22BTCUSDT%22,%22ETHUSDT%22%5D&x=a+b&flag"
        );
        assert_eq!(
            RestRequest::from_target("/p?bad=%zz%").param("bad"),
            Some("%zz%")
        );
    }

    #[test]
    fn connection_header_decides_keep_alive() {
        let mut r = RestRequest::from_target("/x");
        assert!(!r.wants_close(false));
        assert!(r.wants_close(true));
        r.headers.push(("connection".into(), "Close".into()));
        assert!(r.wants_close(false));
        r.headers[0].1 = "keep-alive".into();
        assert!(!r.wants_close(true));
        assert_eq!(r.header("CONNECTION"), Some("keep-alive"));
    }
}

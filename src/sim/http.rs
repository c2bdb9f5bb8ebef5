//! The REST side of the simulator: a minimal HTTP/1.1 server (GET only, one request per
//! connection, `Connection: close`) that parses the request and hands it to each exchange
//! module in turn; the first that recognises the path answers. Anything unrecognised is a 404
//! with a JSON body naming the path, and a venue under a REST fault answers 503.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use carry_engine::Venue;
use carry_feeds::transport::clock::unix_ms;

use super::{binance, bitget, bybit, gate, okx, Shared};

/// A parsed GET request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RestRequest {
    pub path: String,
    pub query: Vec<(String, String)>,
}

impl RestRequest {
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Parses a request target: `/path?a=1&b=%5B%22X%22%5D`.
    pub fn from_target(target: &str) -> RestRequest {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        RestRequest {
            path: path.to_string(),
            query,
        }
    }
}

/// A venue's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub venue: Venue,
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn ok(venue: Venue, body: String) -> Reply {
        Reply {
            venue,
            status: 200,
            body,
        }
    }
}

const READ_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_REQUEST: usize = 16 * 1024;

/// Answers one request on `stream`, then closes it.
pub(crate) fn serve(mut stream: TcpStream, shared: &Shared) {
    if stream.set_read_timeout(Some(READ_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(READ_TIMEOUT)).is_err()
    {
        return;
    }
    let (status, body) = match read_request(&mut stream) {
        Ok(Some((method, target))) if method == "GET" => {
            let req = RestRequest::from_target(&target);
            route(&req, shared)
        }
        Ok(Some((method, _))) => (
            405,
            format!(
                "{{\"error\":\"sim: method {} not allowed (GET only)\"}}",
                json_escape(&method)
            ),
        ),
        // A client that went away or sent garbage gets nothing.
        Ok(None) | Err(_) => return,
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .and_then(|()| stream.flush());
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Routes a request to the exchange that serves its path.
pub(crate) fn route(req: &RestRequest, shared: &Shared) -> (u16, String) {
    let now_ms = unix_ms();
    let reply = binance::rest(req, shared, now_ms)
        .or_else(|| bybit::rest(req, shared, now_ms))
        .or_else(|| okx::rest(req, shared, now_ms))
        .or_else(|| bitget::rest(req, shared, now_ms))
        .or_else(|| gate::rest(req, shared, now_ms));
    match reply {
        Some(r) if shared.is_rest_down(r.venue) => (
            503,
            format!(
                "{{\"error\":\"sim: {} REST is down (injected fault)\",\"path\":{}}}",
                r.venue,
                super::ws::json_str(&req.path)
            ),
        ),
        Some(r) => (r.status, r.body),
        None => (
            404,
            format!(
                "{{\"error\":\"sim: no simulated endpoint\",\"path\":{}}}",
                super::ws::json_str(&req.path)
            ),
        ),
    }
}

/// Reads the request head; returns (method, target), or None on a clean EOF before a request.
fn read_request(stream: &mut TcpStream) -> io::Result<Option<(String, String)>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(end);
            break;
        }
        if buf.len() > MAX_REQUEST {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some(method), Some(target)) if !method.is_empty() => {
            Ok(Some((method.to_string(), target.to_string())))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        )),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
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

fn json_escape(s: &str) -> String {
    let quoted = super::ws::json_str(s);
    quoted[1..quoted.len() - 1].to_string()
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
            RestRequest::from_target("/p?bad=%zz%").param("bad"),
            Some("%zz%")
        );
    }
}

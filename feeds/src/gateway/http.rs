//! The HTTP side of a live gateway: one keep-alive ureq agent per venue, opened and warmed at
//! start, sending a signed [`Request`] and reading the answer into a buffer the gateway keeps.
//!
//! The one distinction that matters for money is whether a failed request may have reached the
//! venue. A request that never left (the connection could not be opened, the URL is bad) is
//! [`HttpFailure::NotSent`]: the order certainly does not exist. Anything after the first byte
//! was written (a timeout waiting for the answer, a reset, a broken answer) is
//! [`HttpFailure::Ambiguous`]: the order may exist, and only a query by client order id can say.
//! A 5xx answer is a status like any other here; the venue module decides what it means.
//!
//! What ureq allocates inside a send (its request and header maps, the response's header map)
//! is accepted: the request's text is built and signed into reused buffers before ureq sees it.

use std::io::Read;
use std::time::Duration;

use super::request::Request;

/// The longest answer carry reads (an order or a page of fills is a few KiB).
pub const MAX_ANSWER: usize = 1 << 20;

/// Timeouts of a gateway's agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// Opening a connection (TCP and TLS).
    pub connect: Duration,
    /// The whole exchange of one request, once connected.
    pub request: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> HttpTimeouts {
        HttpTimeouts {
            connect: Duration::from_secs(2),
            request: Duration::from_secs(5),
        }
    }
}

/// Why a request produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpFailure {
    /// The request certainly did not reach the venue.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The request may have reached the venue; its outcome is unknown.
    #[error("no answer: {0}")]
    Ambiguous(String),
}

/// An answer: status, the headers the venue module asked for, and the body.
#[derive(Debug)]
pub struct Answer<'a> {
    /// HTTP status.
    pub status: u16,
    /// Values of the headers named in [`HttpClient::new`]'s `keep_headers`, in that order.
    pub headers: &'a [Option<String>],
    /// The body.
    pub body: &'a [u8],
}

impl Answer<'_> {
    /// The value of a kept header by its position in `keep_headers`.
    pub fn header(&self, index: usize) -> Option<&str> {
        self.headers.get(index).and_then(|h| h.as_deref())
    }
}

/// One venue's keep-alive HTTP client.
pub struct HttpClient {
    agent: ureq::Agent,
    base: String,
    keep_headers: &'static [&'static str],
    url: String,
    body: Vec<u8>,
    headers: Vec<Option<String>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client for the venue at `base` (`https://fapi.binance.com`), keeping the values of
    /// `keep_headers` (rate-limit usage) from each answer. `agent` carries the TLS roots;
    /// [`HttpClient::agent`] builds the usual one.
    pub fn new(
        agent: ureq::Agent,
        base: &str,
        keep_headers: &'static [&'static str],
    ) -> HttpClient {
        HttpClient {
            agent,
            base: base.trim_end_matches('/').to_string(),
            keep_headers,
            url: String::with_capacity(1024),
            body: Vec::with_capacity(16 * 1024),
            headers: vec![None; keep_headers.len()],
        }
    }

    /// A keep-alive agent with these timeouts, statuses as answers (not errors), no redirects
    /// (a venue never redirects an order; following one could send it twice), and ureq's
    /// default TLS roots.
    pub fn agent(timeouts: HttpTimeouts) -> ureq::Agent {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(timeouts.connect))
            .timeout_global(Some(timeouts.request + timeouts.connect))
            .max_idle_connections_per_host(4)
            .max_idle_age(Duration::from_secs(300))
            .user_agent("carry")
            .build();
        ureq::Agent::new_with_config(config)
    }

    /// Keeps the values of `headers` from each answer from now on (a venue's usage headers).
    pub fn set_keep_headers(&mut self, headers: &'static [&'static str]) {
        self.keep_headers = headers;
        self.headers = vec![None; headers.len()];
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `req` and reads the answer.
    pub fn send(&mut self, req: &Request) -> Result<Answer<'_>, HttpFailure> {
        req.url_into(&self.base, &mut self.url);
        let mut builder = ureq::http::Request::builder()
            .method(req.method().as_str())
            .uri(self.url.as_str());
        for (name, value) in req.headers() {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(req.body_str().as_bytes())
            .map_err(|e| HttpFailure::NotSent(format!("building the request: {e}")))?;
        let mut response = self.agent.run(request).map_err(classify)?;
        let status = response.status().as_u16();
        for (slot, name) in self.headers.iter_mut().zip(self.keep_headers) {
            *slot = response
                .headers()
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
        self.body.clear();
        response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER as u64)
            .reader()
            .read_to_end(&mut self.body)
            .map_err(|e| HttpFailure::Ambiguous(format!("reading the answer: {e}")))?;
        Ok(Answer {
            status,
            headers: &self.headers,
            body: &self.body,
        })
    }
}

/// Sorts a ureq error by whether the request can have reached the venue.
fn classify(e: ureq::Error) -> HttpFailure {
    use ureq::Error as E;
    match e {
        E::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve)
        | E::HostNotFound
        | E::ConnectionFailed
        | E::BadUri(_)
        | E::Http(_)
        | E::Tls(_) => HttpFailure::NotSent(e.to_string()),
        E::Io(ref io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            HttpFailure::NotSent(e.to_string())
        }
        other => HttpFailure::Ambiguous(other.to_string()),
    }
}

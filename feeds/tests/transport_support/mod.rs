//! A local websocket venue for transport tests: a blocking server on 127.0.0.1 (plain or TLS with
//! a throwaway rcgen root CA and a leaf for 127.0.0.1/localhost) that hands each accepted,
//! upgraded connection to the test, which then plays the venue: reads what the client sends,
//! serves frames (whole, split across writes, fragmented), pings, closes or drops.
//! Every wait is bounded by a deadline so a broken client fails the test instead of hanging it.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use carry_feeds::feed::queue::{Consumer, FeedItem};
use tungstenite::handshake::server::{Request, Response};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::{Bytes, Message, WebSocket};

/// Generous: the machine is shared and slow; a passing run never waits this long.
pub const WAIT: Duration = Duration::from_secs(20);

pub trait Stream: Read + Write + Send {
    fn tcp(&self) -> &TcpStream;
}

impl Stream for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Stream for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

/// A root CA and a server configuration whose leaf it signed.
pub struct TestPki {
    /// The root certificate, PEM, in a temp file (what `tls::client_config` takes).
    pub root_pem: PathBuf,
    pub server: Arc<rustls::ServerConfig>,
}

pub fn test_pki(tag: &str) -> TestPki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "carry test root");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let dir = std::env::temp_dir().join(format!("carry-transport-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root_pem = dir.join("root.pem");
    std::fs::write(&root_pem, ca_cert.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)
        .unwrap();
    TestPki {
        root_pem,
        server: Arc::new(server),
    }
}

/// The listening venue. Each accepted connection is upgraded on the accept thread and queued.
pub struct WsServer {
    pub port: u16,
    accepted: Receiver<ServerConn>,
}

impl WsServer {
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>) -> WsServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, accepted) = mpsc::channel();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                tcp.set_read_timeout(Some(WAIT)).unwrap();
                tcp.set_nodelay(true).unwrap();
                let stream: Box<dyn Stream> = match &tls {
                    Some(config) => Box::new(rustls::StreamOwned::new(
                        rustls::ServerConnection::new(config.clone()).unwrap(),
                        tcp,
                    )),
                    None => Box::new(tcp),
                };
                let mut path = String::new();
                // The callback's error type is tungstenite's, large or not.
                #[allow(clippy::result_large_err)]
                let ws = tungstenite::accept_hdr(stream, |req: &Request, resp: Response| {
                    path = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default();
                    Ok(resp)
                });
                let Ok(ws) = ws else { continue };
                if tx.send(ServerConn { ws, path }).is_err() {
                    return;
                }
            }
        });
        WsServer { port, accepted }
    }

    pub fn url(&self, secure: bool, path: &str) -> String {
        format!(
            "{}://127.0.0.1:{}{path}",
            if secure { "wss" } else { "ws" },
            self.port
        )
    }

    /// The next upgraded connection.
    pub fn accept(&self) -> ServerConn {
        self.accepted
            .recv_timeout(WAIT)
            .expect("the client did not connect (and upgrade) in time")
    }
}

/// One accepted websocket connection, server side.
pub struct ServerConn {
    pub ws: WebSocket<Box<dyn Stream>>,
    /// Path and query of the upgrade request.
    pub path: String,
}

impl ServerConn {
    /// The next text message from the client (pongs are skipped).
    pub fn recv_text(&mut self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no text message from the client");
            match self.ws.read().expect("client connection broke") {
                Message::Text(t) => return t.as_str().to_string(),
                Message::Pong(_) | Message::Ping(_) => continue,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    pub fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).unwrap();
    }

    /// Sends a protocol ping and returns the payload of the pong that answers it.
    pub fn ping(&mut self, payload: &[u8]) -> Vec<u8> {
        self.ws
            .send(Message::Ping(Bytes::copy_from_slice(payload)))
            .unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no pong from the client");
            match self.ws.read().expect("client connection broke") {
                Message::Pong(p) => return p.to_vec(),
                Message::Text(_) => continue,
                other => panic!("expected a pong, got {other:?}"),
            }
        }
    }

    /// Sends a text message as `parts.len()` fragments (first text frame, then continuations).
    pub fn send_fragmented(&mut self, parts: &[&str]) {
        for (i, part) in parts.iter().enumerate() {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            let frame = Frame::message(
                Bytes::copy_from_slice(part.as_bytes()),
                opcode,
                i + 1 == parts.len(),
            );
            self.ws.send(Message::Frame(frame)).unwrap();
        }
    }

    /// Writes a text frame in pieces of `piece` bytes with a flush after each, so the client sees
    /// the frame split across reads.
    pub fn send_text_split(&mut self, text: &str, piece: usize) {
        let mut raw = Vec::new();
        Frame::message(
            Bytes::copy_from_slice(text.as_bytes()),
            OpCode::Data(Data::Text),
            true,
        )
        .format(&mut raw)
        .unwrap();
        self.ws.flush().unwrap();
        let stream = self.ws.get_mut();
        for chunk in raw.chunks(piece) {
            stream.write_all(chunk).unwrap();
            stream.flush().unwrap();
        }
    }

    /// A close frame with a status code, then waits for the client's echo.
    pub fn close(mut self, code: u16) -> Option<u16> {
        self.ws
            .close(Some(tungstenite::protocol::CloseFrame {
                code: code.into(),
                reason: "test close".into(),
            }))
            .unwrap();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Close(Some(frame))) => return Some(frame.code.into()),
                Ok(Message::Close(None)) => return None,
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    }

    /// Drops TCP without any websocket or TLS goodbye.
    pub fn drop_tcp(self) {
        let _ = self.ws.get_ref().tcp().shutdown(std::net::Shutdown::Both);
    }

    /// Waits until the client closes (read returns an error or a close frame); returns the close
    /// code if the client sent one.
    pub fn expect_client_close(mut self) -> Option<u16> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| f.code.into()),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        panic!("the client did not close the connection");
    }
}

/// Pops the next item, waiting (bounded) for it.
pub fn next_item(rx: &mut Consumer) -> FeedItem {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(item) = rx.pop() {
            return item;
        }
        assert!(Instant::now() < deadline, "no event arrived in the queue");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits (bounded) until `cond` holds.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

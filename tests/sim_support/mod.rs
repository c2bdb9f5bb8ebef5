//! Shared helpers of the simulator tests: the carry universe matching a simulator, a plain
//! tungstenite client with bounded reads, and carry's real sessions for a venue.

#![allow(dead_code)]

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use carry::sim::{SimConfig, SimVenues};
use carry_engine::{Universe, Venue};
use carry_feeds::{RecvStamp, VenueSession};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// A fast simulator: short cadences so every stream shows up within a few hundred ms.
pub fn fast_config(instruments: &[&str]) -> SimConfig {
    SimConfig {
        instruments: instruments.iter().map(|s| s.to_string()).collect(),
        venues: Venue::ALL.to_vec(),
        seed: 42,
        cycle: Duration::from_secs(2),
        quote_interval: Duration::from_millis(20),
        funding_speedup: 100,
        server_ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_secs(5),
        ..SimConfig::default()
    }
}

/// carry's universe for the simulator's instruments, with every venue's symbol from carry's
/// own mapping (so a disagreement with the simulator's symbols shows up as unknown symbols).
pub fn universe(sim: &SimVenues) -> Arc<Universe> {
    let mut u = Universe::new();
    for ins in sim.listing().instruments() {
        let id = u
            .add(&ins.name)
            .expect("simulator instrument names are canonical");
        for &v in sim.listing().venues() {
            u.set_symbol(
                id,
                v,
                &carry_feeds::venue::symbols::venue_symbol(v, &ins.base, &ins.quote),
            );
        }
    }
    Arc::new(u)
}

/// carry's real sessions for one venue, pointed at the simulator.
pub fn sessions(sim: &SimVenues, venue: Venue, u: &Arc<Universe>) -> Vec<Box<dyn VenueSession>> {
    carry_feeds::venue::market_ws::sessions(venue, &sim.ws_url(venue), Arc::clone(u))
}

pub fn stamp() -> RecvStamp {
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    RecvStamp {
        mono_ns: 1,
        unix_ms,
    }
}

pub struct Client {
    pub ws: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub fn connect(url: &str) -> Client {
        let (ws, _) = tungstenite::connect(url).unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Client { ws }
    }

    pub fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text.to_string())).expect("send");
    }

    /// The next message within `wait`, or None when nothing arrived in time. Panics on a
    /// closed connection.
    pub fn next(&mut self, wait: Duration) -> Option<Message> {
        if let MaybeTlsStream::Plain(s) = self.ws.get_mut() {
            s.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
                .expect("set timeout");
        }
        match self.ws.read() {
            Ok(m) => Some(m),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("websocket read: {e}"),
        }
    }

    /// The next text frame before `deadline` (other frames are skipped; pings are answered by
    /// tungstenite).
    pub fn next_text(&mut self, deadline: Instant) -> Option<String> {
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.next(left)? {
                Message::Text(t) => return Some(t.to_string()),
                _ => continue,
            }
        }
    }

    /// Reads until the connection ends or `deadline` passes; true if it ended.
    pub fn ends_before(&mut self, deadline: Instant) -> bool {
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            if let MaybeTlsStream::Plain(s) = self.ws.get_mut() {
                let _ = s.set_read_timeout(Some(left.max(Duration::from_millis(1))));
            }
            match self.ws.read() {
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }
}

/// Generous bound for anything the tests wait for (never reached when things work).
pub const PATIENCE: Duration = Duration::from_secs(15);

//! Tiny REST clients for the five simulated venues, shared by the simulator tests: each signs
//! with a formula written here from the venue's documentation (`PRIVATE.md`), never with
//! carry's venue code, over one keep-alive HTTP agent as a gateway holds per venue. [`Api`] is
//! one interface over all five, so a scenario runs the same way everywhere.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use carry::sim::SimVenues;
use carry_engine::market::venue::{Exchange, Market};
use carry_engine::Venue;
use rust_decimal::Decimal;
use serde_json::Value;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub json: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive agent, as a gateway holds per venue.
pub struct Http {
    agent: ureq::Agent,
    pub base: String,
}

impl Http {
    pub fn new(sim: &SimVenues, venue: Venue) -> Http {
        Http {
            agent: ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build(),
            ),
            base: sim.rest_url(venue),
        }
    }

    /// Sends a request; `Err` when the connection failed (dropped, reset).
    pub fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, String)],
        body: Option<&str>,
    ) -> Result<Answer, ureq::Error> {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{target}", self.base));
        for (k, val) in headers {
            b = b.header(*k, val);
        }
        let mut resp = match body {
            Some(body) => self.agent.run(b.body(body.to_string()).unwrap())?,
            None => self.agent.run(b.body(()).unwrap())?,
        };
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = resp.body_mut().read_to_string()?;
        // A venue's 5xx may come from its proxy as HTML.
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            headers,
            json,
        })
    }
}

/// A price `pct` percent away from `px`, on the 0.1 tick of the simulated BTC.
pub fn away(px: Decimal, pct: i64) -> Decimal {
    (px * (Decimal::ONE_HUNDRED + Decimal::from(pct)) / Decimal::ONE_HUNDRED).round_dp(1)
}

/// (bid, ask) of BTC on `venue` now.
pub fn touch(sim: &SimVenues, venue: Venue) -> (Decimal, Decimal) {
    let leg = sim.touch(venue, "BTC-USDT").unwrap();
    (leg.bid, leg.ask)
}

pub fn hmac_sha256(secret: &str, data: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, KeyInit, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn json_num(v: &Value) -> Decimal {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.parse()
        .unwrap_or_else(|e| panic!("not a decimal: {v}: {e}"))
}

pub fn hmac_sha512_hex(secret: &str, data: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut m = Hmac::<sha2::Sha512>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(data);
    hex(&m.finalize().into_bytes())
}

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// `2020-12-08T09:08:57.715Z` for Unix ms (days to civil date, Howard Hinnant's algorithm).
pub fn iso(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum St {
    Open,
    Canceled,
    Filled,
    /// Closed with a partial fill (IOC remainder).
    PartlyFilled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tif {
    Gtc,
    Ioc,
}

/// What a gateway does with one venue market, signed with a signer written from the venue's
/// documented formula.
pub trait Api {
    fn signer(&self) -> &Signer;
    fn signer_mut(&mut self) -> &mut Signer;
    fn venue(&self) -> Venue {
        self.signer().venue
    }
    /// Sends a signed request with the raw query and body given.
    fn signed(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &str,
    ) -> Result<Answer, ureq::Error>;
    fn place(
        &self,
        id: &str,
        buy: bool,
        qty: &str,
        px: Decimal,
        tif: Tif,
    ) -> Result<Answer, ureq::Error>;
    fn query(&self, id: &str) -> Answer;
    fn cancel(&self, id: &str) -> Answer;
    /// The venue's clock, from its documented server-time endpoint.
    fn server_time(&self) -> i64;
    /// Signs with the local clock plus `ms` (a gateway's correction after reading the venue's
    /// time).
    fn set_offset(&mut self, ms: i64) {
        self.signer_mut().offset_ms = ms;
    }
    fn set_secret(&mut self, secret: &str) {
        self.signer_mut().secret = secret.into();
    }
    /// "0" for success, else the venue's code or label.
    fn code(&self, a: &Answer) -> String;
    fn state(&self, q: &Answer) -> (St, Decimal);
    /// Whether a query answer found an order (Bybit answers an unknown id with an empty list).
    fn found(&self, q: &Answer) -> bool {
        self.code(q) == "0"
    }
    /// The client id as the venue stores it.
    fn stored_id(&self, id: &str) -> String {
        id.to_string()
    }
}

pub fn st_of(open: bool, filled: Decimal, qty_done: bool) -> St {
    match (open, filled.is_zero(), qty_done) {
        (true, _, _) => St::Open,
        (false, _, true) => St::Filled,
        (false, true, false) => St::Canceled,
        (false, false, false) => St::PartlyFilled,
    }
}

pub struct Signer {
    pub http: Http,
    pub venue: Venue,
    pub key: String,
    pub secret: String,
    pub passphrase: String,
    pub offset_ms: i64,
}

impl Signer {
    pub fn new(sim: &SimVenues, venue: Venue) -> Signer {
        let c = sim.credentials().of(venue.exchange).clone();
        Signer {
            http: Http::new(sim, venue),
            venue,
            key: c.api_key,
            secret: c.secret,
            passphrase: c.passphrase,
            offset_ms: 0,
        }
    }

    pub fn ts(&self) -> i64 {
        now_ms() + self.offset_ms
    }

    pub fn target(path: &str, query: &str) -> String {
        if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        }
    }

    pub fn body(body: &str) -> Option<&str> {
        (!body.is_empty()).then_some(body)
    }
}

// Binance through the generic interface.
pub struct BinanceApi(pub Signer);

impl BinanceApi {
    pub fn new(sim: &SimVenues, market: Market) -> BinanceApi {
        BinanceApi(Signer::new(sim, Venue::new(Exchange::Binance, market)))
    }
    fn base(&self) -> &'static str {
        if self.0.venue.is_perp() {
            "/fapi/v1"
        } else {
            "/api/v3"
        }
    }
}

impl Api for BinanceApi {
    fn signer(&self) -> &Signer {
        &self.0
    }
    fn signer_mut(&mut self) -> &mut Signer {
        &mut self.0
    }
    fn signed(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &str,
    ) -> Result<Answer, ureq::Error> {
        let s = &self.0;
        let stamp = format!("timestamp={}", s.ts());
        let (query, body) = if method == "POST" {
            let b = if body.is_empty() {
                stamp
            } else {
                format!("{body}&{stamp}")
            };
            (query.to_string(), b)
        } else {
            let q = if query.is_empty() {
                stamp
            } else {
                format!("{query}&{stamp}")
            };
            (q, body.to_string())
        };
        let sig = hex(&hmac_sha256(&s.secret, format!("{query}{body}").as_bytes()));
        let (query, body) = if method == "POST" {
            (query, format!("{body}&signature={sig}"))
        } else {
            (format!("{query}&signature={sig}"), body)
        };
        let h = [
            ("X-MBX-APIKEY", s.key.clone()),
            (
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            ),
        ];
        s.http.send(
            method,
            &Signer::target(path, &query),
            &h,
            Signer::body(&body),
        )
    }
    fn place(
        &self,
        id: &str,
        buy: bool,
        qty: &str,
        px: Decimal,
        tif: Tif,
    ) -> Result<Answer, ureq::Error> {
        let side = if buy { "BUY" } else { "SELL" };
        let tif = if tif == Tif::Gtc { "GTC" } else { "IOC" };
        let body = format!("symbol=BTCUSDT&side={side}&type=LIMIT&timeInForce={tif}&quantity={qty}&price={px}&newClientOrderId={id}");
        self.signed("POST", &format!("{}/order", self.base()), "", &body)
    }
    fn query(&self, id: &str) -> Answer {
        self.signed(
            "GET",
            &format!("{}/order", self.base()),
            &format!("symbol=BTCUSDT&origClientOrderId={id}"),
            "",
        )
        .unwrap()
    }
    fn cancel(&self, id: &str) -> Answer {
        self.signed(
            "DELETE",
            &format!("{}/order", self.base()),
            &format!("symbol=BTCUSDT&origClientOrderId={id}"),
            "",
        )
        .unwrap()
    }
    fn server_time(&self) -> i64 {
        self.0
            .http
            .send("GET", &format!("{}/time", self.base()), &[], None)
            .unwrap()
            .json["serverTime"]
            .as_i64()
            .unwrap()
    }
    fn code(&self, a: &Answer) -> String {
        a.json["code"]
            .as_i64()
            .map_or("0".into(), |c| c.to_string())
    }
    fn state(&self, q: &Answer) -> (St, Decimal) {
        let filled = json_num(&q.json["executedQty"]);
        let status = q.json["status"].as_str().unwrap_or("");
        (
            st_of(
                matches!(status, "NEW" | "PARTIALLY_FILLED"),
                filled,
                status == "FILLED",
            ),
            filled,
        )
    }
}

// Bybit: hex HMAC-SHA256 of timestamp + key + recvWindow + (query | body), X-BAPI-* headers.
pub struct BybitApi(pub Signer);

impl BybitApi {
    pub fn new(sim: &SimVenues, market: Market) -> BybitApi {
        BybitApi(Signer::new(sim, Venue::new(Exchange::Bybit, market)))
    }
    fn category(&self) -> &'static str {
        if self.0.venue.is_perp() {
            "linear"
        } else {
            "spot"
        }
    }
}

impl Api for BybitApi {
    fn signer(&self) -> &Signer {
        &self.0
    }
    fn signer_mut(&mut self) -> &mut Signer {
        &mut self.0
    }
    fn signed(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &str,
    ) -> Result<Answer, ureq::Error> {
        let s = &self.0;
        let ts = s.ts().to_string();
        let payload = if method == "GET" { query } else { body };
        let sig = hex(&hmac_sha256(
            &s.secret,
            format!("{ts}{}5000{payload}", s.key).as_bytes(),
        ));
        let h = [
            ("X-BAPI-API-KEY", s.key.clone()),
            ("X-BAPI-TIMESTAMP", ts),
            ("X-BAPI-RECV-WINDOW", "5000".to_string()),
            ("X-BAPI-SIGN", sig),
            ("Content-Type", "application/json".to_string()),
        ];
        s.http
            .send(method, &Signer::target(path, query), &h, Signer::body(body))
    }
    fn place(
        &self,
        id: &str,
        buy: bool,
        qty: &str,
        px: Decimal,
        tif: Tif,
    ) -> Result<Answer, ureq::Error> {
        let side = if buy { "Buy" } else { "Sell" };
        let tif = if tif == Tif::Gtc { "GTC" } else { "IOC" };
        let idx = if self.0.venue.is_perp() {
            ",\"positionIdx\":0"
        } else {
            ""
        };
        let body = format!(
            r#"{{"category":"{}","symbol":"BTCUSDT","side":"{side}","orderType":"Limit","qty":"{qty}","price":"{px}","timeInForce":"{tif}","orderLinkId":"{id}"{idx}}}"#,
            self.category()
        );
        self.signed("POST", "/v5/order/create", "", &body)
    }
    fn query(&self, id: &str) -> Answer {
        self.signed(
            "GET",
            "/v5/order/realtime",
            &format!(
                "category={}&symbol=BTCUSDT&orderLinkId={id}",
                self.category()
            ),
            "",
        )
        .unwrap()
    }
    fn cancel(&self, id: &str) -> Answer {
        let body = format!(
            r#"{{"category":"{}","symbol":"BTCUSDT","orderLinkId":"{id}"}}"#,
            self.category()
        );
        self.signed("POST", "/v5/order/cancel", "", &body).unwrap()
    }
    fn server_time(&self) -> i64 {
        self.0
            .http
            .send("GET", "/v5/market/time", &[], None)
            .unwrap()
            .json["time"]
            .as_i64()
            .unwrap()
    }
    fn code(&self, a: &Answer) -> String {
        a.json["retCode"].to_string()
    }
    fn found(&self, q: &Answer) -> bool {
        self.code(q) == "0"
            && q.json["result"]["list"]
                .as_array()
                .is_some_and(|l| !l.is_empty())
    }
    fn state(&self, q: &Answer) -> (St, Decimal) {
        let o = &q.json["result"]["list"][0];
        let filled = json_num(&o["cumExecQty"]);
        let status = o["orderStatus"].as_str().unwrap_or("");
        (
            st_of(
                matches!(status, "New" | "PartiallyFilled"),
                filled,
                status == "Filled",
            ),
            filled,
        )
    }
}

// OKX: base64 HMAC-SHA256 of isoTs + METHOD + path?query + body, passphrase.
pub struct OkxApi(pub Signer);

impl OkxApi {
    pub fn new(sim: &SimVenues, market: Market) -> OkxApi {
        OkxApi(Signer::new(sim, Venue::new(Exchange::Okx, market)))
    }
    fn inst(&self) -> &'static str {
        if self.0.venue.is_perp() {
            "BTC-USDT-SWAP"
        } else {
            "BTC-USDT"
        }
    }
}

impl Api for OkxApi {
    fn signer(&self) -> &Signer {
        &self.0
    }
    fn signer_mut(&mut self) -> &mut Signer {
        &mut self.0
    }
    fn signed(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &str,
    ) -> Result<Answer, ureq::Error> {
        let s = &self.0;
        let ts = iso(s.ts());
        let target = Signer::target(path, query);
        let sig = b64(&hmac_sha256(
            &s.secret,
            format!("{ts}{method}{target}{body}").as_bytes(),
        ));
        let h = [
            ("OK-ACCESS-KEY", s.key.clone()),
            ("OK-ACCESS-SIGN", sig),
            ("OK-ACCESS-TIMESTAMP", ts),
            ("OK-ACCESS-PASSPHRASE", s.passphrase.clone()),
            ("Content-Type", "application/json".to_string()),
        ];
        s.http.send(method, &target, &h, Signer::body(body))
    }
    fn place(
        &self,
        id: &str,
        buy: bool,
        qty: &str,
        px: Decimal,
        tif: Tif,
    ) -> Result<Answer, ureq::Error> {
        let side = if buy { "buy" } else { "sell" };
        let ord = if tif == Tif::Gtc { "limit" } else { "ioc" };
        let td = if self.0.venue.is_perp() {
            "cross"
        } else {
            "cash"
        };
        let body = format!(
            r#"{{"instId":"{}","tdMode":"{td}","side":"{side}","ordType":"{ord}","sz":"{qty}","px":"{px}","clOrdId":"{id}"}}"#,
            self.inst()
        );
        self.signed("POST", "/api/v5/trade/order", "", &body)
    }
    fn query(&self, id: &str) -> Answer {
        self.signed(
            "GET",
            "/api/v5/trade/order",
            &format!("instId={}&clOrdId={id}", self.inst()),
            "",
        )
        .unwrap()
    }
    fn cancel(&self, id: &str) -> Answer {
        let body = format!(r#"{{"instId":"{}","clOrdId":"{id}"}}"#, self.inst());
        self.signed("POST", "/api/v5/trade/cancel-order", "", &body)
            .unwrap()
    }
    fn server_time(&self) -> i64 {
        let a = self
            .0
            .http
            .send("GET", "/api/v5/public/time", &[], None)
            .unwrap();
        a.json["data"][0]["ts"].as_str().unwrap().parse().unwrap()
    }
    fn code(&self, a: &Answer) -> String {
        match a.json["code"].as_str() {
            Some("1") => a.json["data"][0]["sCode"]
                .as_str()
                .unwrap_or("?")
                .to_string(),
            Some(c) => c.to_string(),
            None => "?".into(),
        }
    }
    fn state(&self, q: &Answer) -> (St, Decimal) {
        let o = &q.json["data"][0];
        let filled = json_num(&o["accFillSz"]);
        let state = o["state"].as_str().unwrap_or("");
        (
            st_of(
                matches!(state, "live" | "partially_filled"),
                filled,
                state == "filled",
            ),
            filled,
        )
    }
}

// Bitget: base64 HMAC-SHA256 of msTs + METHOD + path?query + body, passphrase.
pub struct BitgetApi(pub Signer);

impl BitgetApi {
    pub fn new(sim: &SimVenues, market: Market) -> BitgetApi {
        BitgetApi(Signer::new(sim, Venue::new(Exchange::Bitget, market)))
    }
}

impl Api for BitgetApi {
    fn signer(&self) -> &Signer {
        &self.0
    }
    fn signer_mut(&mut self) -> &mut Signer {
        &mut self.0
    }
    fn signed(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &str,
    ) -> Result<Answer, ureq::Error> {
        let s = &self.0;
        let ts = s.ts().to_string();
        let target = Signer::target(path, query);
        let sig = b64(&hmac_sha256(
            &s.secret,
            format!("{ts}{method}{target}{body}").as_bytes(),
        ));
        let h = [
            ("ACCESS-KEY", s.key.clone()),
            ("ACCESS-SIGN", sig),
            ("ACCESS-TIMESTAMP", ts),
            ("ACCESS-PASSPHRASE", s.passphrase.clone()),
            ("Content-Type", "application/json".to_string()),
            ("locale", "en-US".to_string()),
        ];
        s.http.send(method, &target, &h, Signer::body(body))
    }
    fn place(
        &self,
        id: &str,
        buy: bool,
        qty: &str,
        px: Decimal,
        tif: Tif,
    ) -> Result<Answer, ureq::Error> {
        let side = if buy { "buy" } else { "sell" };
        let force = if tif == Tif::Gtc { "gtc" } else { "ioc" };
        if self.0.venue.is_perp() {
            let body = format!(
                r#"{{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginMode":"crossed","marginCoin":"USDT","size":"{qty}","price":"{px}","side":"{side}","orderType":"limit","force":"{force}","clientOid":"{id}"}}"#
            );
            self.signed("POST", "/api/v2/mix/order/place-order", "", &body)
        } else {
            let body = format!(
                r#"{{"symbol":"BTCUSDT","side":"{side}","orderType":"limit","force":"{force}","price":"{px}","size":"{qty}","clientOid":"{id}"}}"#
            );
            self.signed("POST", "/api/v2/spot/trade/place-order", "", &body)
        }
    }
    fn query(&self, id: &str) -> Answer {
        if self.0.venue.is_perp() {
            self.signed(
                "GET",
                "/api/v2/mix/order/detail",
                &format!("clientOid={id}&productType=USDT-FUTURES&symbol=BTCUSDT"),
                "",
            )
            .unwrap()
        } else {
            self.signed(
                "GET",
                "/api/v2/spot/trade/orderInfo",
                &format!("clientOid={id}"),
                "",
            )
            .unwrap()
        }
    }
    fn cancel(&self, id: &str) -> Answer {
        if self.0.venue.is_perp() {
            let body = format!(
                r#"{{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginCoin":"USDT","clientOid":"{id}"}}"#
            );
            self.signed("POST", "/api/v2/mix/order/cancel-order", "", &body)
                .unwrap()
        } else {
            let body = format!(r#"{{"symbol":"BTCUSDT","clientOid":"{id}"}}"#);
            self.signed("POST", "/api/v2/spot/trade/cancel-order", "", &body)
                .unwrap()
        }
    }
    fn server_time(&self) -> i64 {
        let a = self
            .0
            .http
            .send("GET", "/api/v2/public/time", &[], None)
            .unwrap();
        a.json["data"]["serverTime"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }
    fn code(&self, a: &Answer) -> String {
        match a.json["code"].as_str() {
            Some("00000") => "0".into(),
            Some(c) => c.to_string(),
            None => "?".into(),
        }
    }
    fn state(&self, q: &Answer) -> (St, Decimal) {
        let (o, key) = if self.0.venue.is_perp() {
            (&q.json["data"], "state")
        } else {
            (&q.json["data"][0], "status")
        };
        let filled = json_num(&o["baseVolume"]);
        let s = o[key].as_str().unwrap_or("");
        (
            st_of(
                matches!(s, "live" | "partially_filled"),
                filled,
                s == "filled",
            ),
            filled,
        )
    }
}

// Gate: hex HMAC-SHA512 of METHOD\n/api/v4/path\nquery\nhex(SHA512(body))\nts, seconds.
pub struct GateApi {
    pub s: Signer,
    /// Venue order ids by text, from place answers: spot look-ups by text only work while open.
    ids: RefCell<HashMap<String, String>>,
}

impl GateApi {
    pub fn new(sim: &SimVenues, market: Market) -> GateApi {
        GateApi {
            s: Signer::new(sim, Venue::new(Exchange::Gate, market)),
            ids: RefCell::new(HashMap::new()),
        }
    }
    fn order_path(&self, id: &str) -> (String, String) {
        let key = self
            .ids
            .borrow()
            .get(id)
            .cloned()
            .unwrap_or(format!("t-{id}"));
        if self.s.venue.is_perp() {
            (format!("/api/v4/futures/usdt/orders/{key}"), String::new())
        } else {
            (
                format!("/api/v4/spot/orders/{key}"),
                "currency_pair=BTC_USDT".into(),
            )
        }
    }
}

impl Api for GateApi {
    fn signer(&self) -> &Signer {
        &self.s
    }
    fn signer_mut(&mut self) -> &mut Signer {
        &mut self.s
    }
    fn signed(
        &self,
        method: &str,
        path: &str,
        query: &str,
        body: &str,
    ) -> Result<Answer, ureq::Error> {
        let ts = (self.s.ts() / 1000).to_string();
        let pre = format!(
            "{method}\n{path}\n{query}\n{}\n{ts}",
            hex(&{
                use sha2::Digest;
                sha2::Sha512::digest(body.as_bytes()).to_vec()
            })
        );
        let h = [
            ("KEY", self.s.key.clone()),
            ("Timestamp", ts),
            ("SIGN", hmac_sha512_hex(&self.s.secret, pre.as_bytes())),
            ("Content-Type", "application/json".to_string()),
        ];
        self.s
            .http
            .send(method, &Signer::target(path, query), &h, Signer::body(body))
    }
    fn place(
        &self,
        id: &str,
        buy: bool,
        qty: &str,
        px: Decimal,
        tif: Tif,
    ) -> Result<Answer, ureq::Error> {
        let t = if tif == Tif::Gtc { "gtc" } else { "ioc" };
        let a = if self.s.venue.is_perp() {
            let size = if buy {
                qty.to_string()
            } else {
                format!("-{qty}")
            };
            let body = format!(
                r#"{{"contract":"BTC_USDT","size":{size},"price":"{px}","tif":"{t}","text":"t-{id}"}}"#
            );
            self.signed("POST", "/api/v4/futures/usdt/orders", "", &body)
        } else {
            let side = if buy { "buy" } else { "sell" };
            let body = format!(
                r#"{{"text":"t-{id}","currency_pair":"BTC_USDT","type":"limit","account":"spot","side":"{side}","amount":"{qty}","price":"{px}","time_in_force":"{t}"}}"#
            );
            self.signed("POST", "/api/v4/spot/orders", "", &body)
        }?;
        if a.status == 201 {
            self.ids.borrow_mut().insert(
                id.to_string(),
                a.json["id"].to_string().trim_matches('"').to_string(),
            );
        }
        Ok(a)
    }
    fn query(&self, id: &str) -> Answer {
        let (path, q) = self.order_path(id);
        self.signed("GET", &path, &q, "").unwrap()
    }
    fn cancel(&self, id: &str) -> Answer {
        let (path, q) = self.order_path(id);
        self.signed("DELETE", &path, &q, "").unwrap()
    }
    fn server_time(&self) -> i64 {
        self.s
            .http
            .send("GET", "/api/v4/spot/time", &[], None)
            .unwrap()
            .json["server_time"]
            .as_i64()
            .unwrap()
    }
    fn code(&self, a: &Answer) -> String {
        a.json["label"].as_str().unwrap_or("0").to_string()
    }
    fn state(&self, q: &Answer) -> (St, Decimal) {
        let j = &q.json;
        if self.s.venue.is_perp() {
            let size = json_num(&j["size"]).abs();
            let left = json_num(&j["left"]).abs();
            let open = j["status"] == "open";
            // `left` is what did not execute, open or finished (a futures order has no filled
            // field).
            let filled = size - left;
            (st_of(open, filled, j["finish_as"] == "filled"), filled)
        } else {
            let filled = json_num(&j["filled_amount"]);
            (
                st_of(j["status"] == "open", filled, j["finish_as"] == "filled"),
                filled,
            )
        }
    }
    fn stored_id(&self, id: &str) -> String {
        format!("t-{id}")
    }
}

pub fn api(sim: &SimVenues, venue: Venue) -> Box<dyn Api> {
    match venue.exchange {
        Exchange::Binance => Box::new(BinanceApi::new(sim, venue.market)),
        Exchange::Bybit => Box::new(BybitApi::new(sim, venue.market)),
        Exchange::Okx => Box::new(OkxApi::new(sim, venue.market)),
        Exchange::Bitget => Box::new(BitgetApi::new(sim, venue.market)),
        Exchange::Gate => Box::new(GateApi::new(sim, venue.market)),
    }
}

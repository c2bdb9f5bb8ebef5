//! The base URLs of `[venues.*]` (`ws_url`, `rest_url`). The venue modules append their routes
//! to them and the transport connects to their host and port, so whatever a connection would
//! misread is refused at load: a port that is not 1..=65535 (the URI parser drops such a port
//! and connects to the scheme's default instead), a query or fragment (the appended route would
//! land inside it), credentials, a host that is not one.

use std::net::Ipv6Addr;

use super::secrets::looks_like_secret;

/// Checks `url` as a base URL with one of `schemes` (`ws://`, ...); `what` names the kind in the
/// refusal ("websocket"). The reason shows the URL unless it may hold a credential.
pub fn check_base_url(url: &str, schemes: &[&str], what: &str) -> Result<(), String> {
    let Some(rest) = schemes.iter().find_map(|s| url.strip_prefix(s)) else {
        return Err(format!(
            "not a {what} URL ({}): {url:?}",
            schemes.join(" or ")
        ));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err(
            "credentials do not belong in a URL (the value is not shown): keys come from the variables the *_env keys name".into(),
        );
    }
    if path.split('/').any(looks_like_secret) {
        return Err(
            "a part of the path looks like a pasted secret (the value is not shown): keys come from the variables the *_env keys name".into(),
        );
    }
    if let Some(c) = url
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '?' | '#' | '\\'))
    {
        let why = match c {
            '?' | '#' => {
                "a base URL takes no query or fragment (the venue's routes are appended to it)"
            }
            _ => "a URL holds printable ASCII only, no spaces or backslashes",
        };
        return Err(format!("{why}: {url:?}"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("unclosed [ in the host of {url:?}"))?;
            addr.parse::<Ipv6Addr>()
                .map_err(|_| format!("{addr:?} is not an IPv6 address in {url:?}"))?;
            match after {
                "" => (addr, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (addr, Some(port)),
                    None => return Err(format!("junk after the host in {url:?}")),
                },
            }
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            check_host(host).map_err(|why| format!("{why} in {url:?}"))?;
            (host, port)
        }
    };
    if host.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && (1..=65535).contains(&port.parse::<u32>().unwrap_or(0));
        if !valid {
            return Err(format!("port {port:?} is not 1..=65535 in {url:?}"));
        }
    }
    Ok(())
}

/// A DNS name or an IPv4 address: dot-separated labels of letters, digits, `-` and `_`.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("no host".into());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!("{host:?} is not a host name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &[&str] = &["ws://", "wss://"];

    #[test]
    fn base_urls_table() {
        // (url, refused because); None: accepted.
        let cases = [
            ("wss://fstream.binance.com", None),
            ("wss://stream.binance.com:9443", None),
            ("ws://127.0.0.1:9001/", None),
            ("ws://127.0.0.1:9001/base/path", None),
            ("ws://[::1]:9001", None),
            ("ws://[::1]", None),
            ("ws://127.0.0.1:65535", None),
            ("ws://my_host.internal:1", None),
            // These passed and connected to port 80.
            (
                "ws://127.0.0.1:99999",
                Some("port \"99999\" is not 1..=65535"),
            ),
            (
                "ws://127.0.0.1:70000",
                Some("port \"70000\" is not 1..=65535"),
            ),
            ("ws://127.0.0.1:-1", Some("port \"-1\" is not 1..=65535")),
            ("ws://127.0.0.1:abc", Some("port \"abc\" is not 1..=65535")),
            ("ws://127.0.0.1:0", Some("port \"0\" is not 1..=65535")),
            ("ws://127.0.0.1:", Some("port \"\" is not 1..=65535")),
            ("ws://127.0.0.1:000443", Some("is not 1..=65535")),
            ("ws://[::1]:99999", Some("is not 1..=65535")),
            ("ws://[::1", Some("unclosed [")),
            ("ws://[nothost]:1", Some("is not an IPv6 address")),
            ("ws://[::1]x", Some("junk after the host")),
            ("ws://a:1:2", Some("is not 1..=65535")),
            ("https://x", Some("not a websocket URL (ws:// or wss://)")),
            ("fstream.binance.com", Some("not a websocket URL")),
            ("wss://", Some("no host")),
            ("wss:///path", Some("no host")),
            ("wss://a..b", Some("\"a..b\" is not a host name")),
            ("wss://a b", Some("printable ASCII only")),
            ("wss://host/ws?listenKey=1", Some("no query or fragment")),
            ("wss://host/#frag", Some("no query or fragment")),
            ("wss://user:hunter2@host", Some("credentials do not belong")),
            (
                "wss://host/A1B2C3D4E5F60718293A4B5C6D7E8F90",
                Some("pasted secret"),
            ),
        ];
        for (url, want) in cases {
            let got = check_base_url(url, WS, "websocket");
            match want {
                None => assert_eq!(got, Ok(()), "{url}"),
                Some(w) => {
                    let e = got.unwrap_err();
                    assert!(e.contains(w), "{url}: {e}");
                }
            }
        }
        let e = check_base_url("wss://user:hunter2@host", WS, "websocket").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}

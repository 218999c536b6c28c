//! Header rewriting for proxied requests and responses (RFC 9110 §7.6.1).
//!
//! Hop-by-hop headers describe one connection, so they are dropped in both
//! directions; hyper writes its own framing headers for the upstream connection and the
//! front server (Granian) does the same towards the client.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Connection-scoped headers every proxy removes, besides `Proxy-*` and those listed
/// in `Connection`.
const HOP_BY_HOP: [HeaderName; 5] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Removes hop-by-hop headers: the fixed list, every `Proxy-*` header, `Keep-Alive`,
/// and every header named in a `Connection` header.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Names listed in Connection first, before Connection itself is removed.
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(&KEEP_ALIVE);
    if headers.keys().any(|k| k.as_str().starts_with("proxy-")) {
        let proxy: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("proxy-"))
            .cloned()
            .collect();
        for name in proxy {
            headers.remove(name);
        }
    }
}

/// What the forwarder adds about the original client.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardedFor<'a> {
    /// The client's address, appended to `X-Forwarded-For`.
    pub client_ip: Option<&'a str>,
    /// Overrides `X-Request-ID`; without it an incoming one is kept or one is generated.
    pub request_id: Option<&'a str>,
}

/// Prepares client request headers for the upstream.
///
/// `Host` is replaced by the backend's authority (hyper writes it; the original goes to
/// `X-Forwarded-Host`), `Content-Length` is dropped for in-memory bodies (hyper writes
/// the exact length) and `Expect` is dropped (the front server already answered it).
/// Returns the request id that was sent.
pub fn prepare_request_headers(
    headers: &mut HeaderMap,
    fwd: ForwardedFor<'_>,
    body_in_memory: bool,
) -> Result<HeaderValue, String> {
    strip_hop_by_hop(headers);
    headers.remove(header::EXPECT);
    if body_in_memory {
        headers.remove(header::CONTENT_LENGTH);
    }
    if let Some(host) = headers.remove(header::HOST) {
        if !headers.contains_key(&X_FORWARDED_HOST) {
            headers.insert(X_FORWARDED_HOST.clone(), host);
        }
    }
    if let Some(ip) = fwd.client_ip {
        append_forwarded_for(headers, ip)?;
    }
    let request_id = match fwd.request_id {
        Some(id) => HeaderValue::from_str(id).map_err(|_| format!("invalid request_id {id:?}"))?,
        None => match headers.get(&X_REQUEST_ID) {
            Some(existing) => existing.clone(),
            None => generate_request_id(),
        },
    };
    headers.insert(X_REQUEST_ID.clone(), request_id.clone());
    Ok(request_id)
}

/// `X-Forwarded-For: <existing>, <ip>` (every existing line folded into one).
fn append_forwarded_for(headers: &mut HeaderMap, ip: &str) -> Result<(), String> {
    let mut value = String::new();
    for v in headers.get_all(&X_FORWARDED_FOR) {
        if let Ok(s) = v.to_str() {
            if !value.is_empty() {
                value.push_str(", ");
            }
            value.push_str(s.trim());
        }
    }
    if !value.is_empty() {
        value.push_str(", ");
    }
    value.push_str(ip.trim());
    let v = HeaderValue::from_str(&value).map_err(|_| format!("invalid client_ip {ip:?}"))?;
    headers.insert(X_FORWARDED_FOR.clone(), v);
    Ok(())
}

/// 128 random bits as 32 hex digits (not a secret: correlation only).
fn generate_request_id() -> HeaderValue {
    let id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    HeaderValue::from_str(&id).expect("hex is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Custom-Hop"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic x"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-custom-hop", "1"),
            ("authorization", "Bearer keep-me"),
            ("content-type", "application/json"),
        ]);
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["authorization", "content-type"]);
    }

    #[test]
    fn forwarded_for_is_appended_and_request_id_set() {
        let mut h = map(&[
            ("host", "gateway.example"),
            ("x-forwarded-for", "203.0.113.1"),
            ("x-forwarded-for", "198.51.100.2"),
            ("content-length", "12"),
            ("expect", "100-continue"),
        ]);
        let fwd = ForwardedFor {
            client_ip: Some("192.0.2.7"),
            request_id: Some("req-1"),
        };
        let id = prepare_request_headers(&mut h, fwd, true).unwrap();
        assert_eq!(id, "req-1");
        assert_eq!(h["x-forwarded-for"], "203.0.113.1, 198.51.100.2, 192.0.2.7");
        assert_eq!(h["x-forwarded-host"], "gateway.example");
        assert_eq!(h["x-request-id"], "req-1");
        assert!(
            !h.contains_key("host")
                && !h.contains_key("content-length")
                && !h.contains_key("expect")
        );
    }

    #[test]
    fn request_id_is_kept_or_generated() {
        let mut kept = map(&[("x-request-id", "abc")]);
        assert_eq!(
            prepare_request_headers(&mut kept, ForwardedFor::default(), false).unwrap(),
            "abc"
        );
        let mut fresh = HeaderMap::new();
        let id = prepare_request_headers(&mut fresh, ForwardedFor::default(), false).unwrap();
        assert_eq!(id.len(), 32);
        assert!(!fresh.contains_key("x-forwarded-for"));
    }

    #[test]
    fn invalid_client_ip_is_rejected() {
        let mut h = HeaderMap::new();
        let fwd = ForwardedFor {
            client_ip: Some("bad\nip"),
            request_id: None,
        };
        assert!(prepare_request_headers(&mut h, fwd, true).is_err());
    }
}

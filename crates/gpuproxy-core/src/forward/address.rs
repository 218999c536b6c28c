//! Backend addresses: `host:port`, `http://host:port[/base]`, `h2c://host:port[/base]` or
//! `https://host[:port][/base]`.
//!
//! The scheme picks the wire protocol per backend (so one pool can mix HTTP/1.1, h2c and
//! TLS workers); without one, the forwarder's default protocol applies. `https` speaks TLS
//! (certificate checked against the host name) with HTTP/2 or HTTP/1.1 by ALPN. An optional
//! base path is prefixed to every forwarded path.

use http::Uri;

use super::config::Protocol;
use super::error::ForwardError;

/// A parsed backend address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    /// `None` when the address has no scheme (use the default protocol).
    pub protocol: Option<Protocol>,
    /// `https://`: TLS (the protocol is then chosen by ALPN).
    pub tls: bool,
    /// `host:port`.
    pub authority: &'a str,
    /// Prefix for forwarded paths, without a trailing `/` ("" for none).
    pub base_path: &'a str,
}

impl<'a> Target<'a> {
    pub fn parse(address: &'a str) -> Result<Self, ForwardError> {
        let (protocol, tls, rest) = if let Some(rest) = address.strip_prefix("http://") {
            (Some(Protocol::Http1), false, rest)
        } else if let Some(rest) = address.strip_prefix("https://") {
            (None, true, rest)
        } else if let Some(rest) = address.strip_prefix("h2c://") {
            (Some(Protocol::H2c), false, rest)
        } else if address.contains("://") {
            return Err(ForwardError::InvalidRequest(format!(
                "backend address {address:?}: scheme must be http://, https:// or h2c://"
            )));
        } else {
            (None, false, address)
        };
        let (authority, base_path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains(['?', '#', '@']) {
            return Err(ForwardError::InvalidRequest(format!(
                "backend address {address:?} has no valid host:port"
            )));
        }
        Ok(Self {
            protocol,
            tls,
            authority,
            base_path,
        })
    }

    /// The absolute URI hyper needs: `http://authority/base/path?query`.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, ForwardError> {
        if !path_and_query.starts_with('/') {
            return Err(ForwardError::InvalidRequest(format!(
                "path {path_and_query:?} must start with '/'"
            )));
        }
        let mut s = String::with_capacity(
            8 + self.authority.len() + self.base_path.len() + path_and_query.len(),
        );
        s.push_str(if self.tls { "https://" } else { "http://" });
        s.push_str(self.authority);
        s.push_str(self.base_path);
        s.push_str(path_and_query);
        Uri::try_from(s)
            .map_err(|e| ForwardError::InvalidRequest(format!("invalid upstream URI: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        let t = Target::parse("127.0.0.1:8000").unwrap();
        assert_eq!(
            (t.protocol, t.authority, t.base_path),
            (None, "127.0.0.1:8000", "")
        );
        let t = Target::parse("h2c://gpu-1:9000/").unwrap();
        assert_eq!(
            (t.protocol, t.authority, t.base_path),
            (Some(Protocol::H2c), "gpu-1:9000", "")
        );
        let t = Target::parse("http://[::1]:80/api/").unwrap();
        assert_eq!(
            (t.protocol, t.authority, t.base_path),
            (Some(Protocol::Http1), "[::1]:80", "/api")
        );
        assert_eq!(
            t.uri("/v1/models?x=1").unwrap().to_string(),
            "http://[::1]:80/api/v1/models?x=1"
        );
    }

    #[test]
    fn rejects_bad_addresses_and_paths() {
        assert!(Target::parse("ftp://x:1").is_err());
        let t = Target::parse("https://gpu.example/v1/").unwrap();
        assert!(t.tls);
        assert_eq!(
            t.uri("/chat").unwrap().to_string(),
            "https://gpu.example/v1/chat"
        );
        assert!(Target::parse("http:///x").is_err());
        assert!(Target::parse("user@host:1").is_err());
        assert!(Target::parse("h:1").unwrap().uri("no-slash").is_err());
    }
}

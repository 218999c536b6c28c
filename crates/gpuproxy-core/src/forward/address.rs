//! Backend addresses: `host:port`, `http://host:port[/base]` or `h2c://host:port[/base]`.
//!
//! The scheme picks the wire protocol per backend (so one pool can mix HTTP/1.1 and
//! h2c workers); without one, the forwarder's default protocol applies. An optional
//! base path is prefixed to every forwarded path.

use http::Uri;

use super::config::Protocol;
use super::error::ForwardError;

/// A parsed backend address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    /// `None` when the address has no scheme (use the default protocol).
    pub protocol: Option<Protocol>,
    /// `host:port`.
    pub authority: &'a str,
    /// Prefix for forwarded paths, without a trailing `/` ("" for none).
    pub base_path: &'a str,
}

impl<'a> Target<'a> {
    pub fn parse(address: &'a str) -> Result<Self, ForwardError> {
        let (protocol, rest) = if let Some(rest) = address.strip_prefix("http://") {
            (Some(Protocol::Http1), rest)
        } else if let Some(rest) = address.strip_prefix("h2c://") {
            (Some(Protocol::H2c), rest)
        } else if address.contains("://") {
            return Err(ForwardError::InvalidRequest(format!(
                "backend address {address:?}: scheme must be http:// or h2c:// (TLS upstreams are not supported)"
            )));
        } else {
            (None, address)
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
            7 + self.authority.len() + self.base_path.len() + path_and_query.len(),
        );
        s.push_str("http://");
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
        assert!(Target::parse("https://x:1").is_err());
        assert!(Target::parse("http:///x").is_err());
        assert!(Target::parse("user@host:1").is_err());
        assert!(Target::parse("h:1").unwrap().uri("no-slash").is_err());
    }
}

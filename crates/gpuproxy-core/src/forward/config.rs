//! Forwarder settings: timeouts, body limits, connection pooling, wire protocol.

use std::time::Duration;

/// The wire protocol spoken to a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// HTTP/1.1 with keep-alive (one request per connection at a time).
    #[default]
    Http1,
    /// HTTP/2 over cleartext with prior knowledge (h2c): many requests share one connection.
    H2c,
}

impl Protocol {
    /// The names accepted by [`Protocol::parse`] (and by the Python binding).
    pub const NAMES: [&'static str; 2] = ["http1", "h2c"];

    /// Parses `"http1"` or `"h2c"`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "http1" => Some(Self::Http1),
            "h2c" => Some(Self::H2c),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Http1 => "http1",
            Self::H2c => "h2c",
        }
    }
}

/// How the forwarder talks to backends. Every limit applies per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardConfig {
    /// TCP connect timeout (a timed-out connect counts as "no byte sent": retried).
    pub connect_timeout: Duration,
    /// From the start of the request until the response head arrives.
    pub first_byte_timeout: Duration,
    /// From the start of the request until the last body byte; `None` = unlimited
    /// (long SSE streams). Applies across the retry too.
    pub total_timeout: Option<Duration>,
    /// Largest request body forwarded (bytes); a larger one fails with `body_too_large`.
    pub max_request_body: u64,
    /// Largest response body passed through (bytes); the stream fails past it.
    pub max_response_body: u64,
    /// Protocol for addresses without an explicit `http://` / `h2c://` scheme.
    pub default_protocol: Protocol,
    /// Idle keep-alive connections are closed after this long.
    pub pool_idle_timeout: Duration,
    /// Idle keep-alive connections kept per backend.
    pub pool_max_idle_per_backend: usize,
    /// Response bytes read ahead of the consumer before the upstream read pauses
    /// (backpressure towards the backend instead of unbounded buffering).
    pub response_buffer_bytes: usize,
    /// Trust anchors for `https://` backends besides Mozilla's (DER; see
    /// [`super::tls::parse_pem_roots`]): a private CA that signed the workers' certificates.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            // LLM prefill of a long prompt on a busy GPU can take minutes before the
            // first byte; gateways override this per route.
            first_byte_timeout: Duration::from_secs(300),
            total_timeout: None,
            max_request_body: 32 * 1024 * 1024,
            max_response_body: 256 * 1024 * 1024,
            default_protocol: Protocol::Http1,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_backend: 512,
            response_buffer_bytes: 256 * 1024,
            extra_roots: Vec::new(),
        }
    }
}

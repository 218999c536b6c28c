//! Typed forwarding errors and their classification.
//!
//! Every failure of a forwarded request becomes a [`ForwardError`]. Upstream failures
//! carry a [`UpstreamKind`] (`connect`, `timeout`, `reset`, `protocol`,
//! `body_too_large`: the `kind` of Python's `UpstreamError`) and whether any byte of the
//! request had been sent, which decides the one automatic retry on another backend.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use crate::balancer::SelectError;

/// What went wrong talking to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamKind {
    /// The TCP connection could not be opened (refused, unreachable, DNS).
    Connect,
    /// A connect, first-byte or total timeout elapsed.
    Timeout,
    /// The backend closed or reset the connection mid-exchange.
    Reset,
    /// The backend spoke invalid HTTP (or something else unexpected failed).
    Protocol,
    /// A request or response body exceeded its configured maximum.
    BodyTooLarge,
}

impl UpstreamKind {
    /// Every kind's name, as Python's `UpstreamError.kind` carries it.
    pub const NAMES: [&'static str; 5] =
        ["connect", "timeout", "reset", "protocol", "body_too_large"];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Reset => "reset",
            Self::Protocol => "protocol",
            Self::BodyTooLarge => "body_too_large",
        }
    }

    /// The status a gateway answers: 504 for timeouts, 502 otherwise.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::Timeout => 504,
            _ => 502,
        }
    }
}

/// Where in the exchange a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Opening the connection: nothing was sent.
    Connect,
    /// Request sent (or being sent), waiting for the response head.
    Head,
    /// Streaming the response body (the head was already given to the caller).
    Body,
}

/// A forwarding failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardError {
    /// The backend failed; see [`UpstreamKind`].
    Upstream {
        kind: UpstreamKind,
        phase: Phase,
        /// The request body was larger than allowed (the caller's fault: 413, not 502).
        request_side: bool,
        message: String,
    },
    /// No backend of the pool can take the request; `Saturated` means "wait for a slot".
    NoBackend(SelectError),
    /// The request itself is malformed (method, header, address): the caller's fault.
    InvalidRequest(String),
}

impl fmt::Display for ForwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Upstream { message, .. } | Self::InvalidRequest(message) => f.write_str(message),
            Self::NoBackend(e) => write!(f, "{e}"),
        }
    }
}

impl StdError for ForwardError {}

impl ForwardError {
    pub fn upstream(kind: UpstreamKind, phase: Phase, message: impl Into<String>) -> Self {
        Self::Upstream {
            kind,
            phase,
            request_side: false,
            message: message.into(),
        }
    }

    pub fn request_too_large(limit: u64) -> Self {
        Self::Upstream {
            kind: UpstreamKind::BodyTooLarge,
            phase: Phase::Head,
            request_side: true,
            message: format!("request body exceeds the {limit}-byte limit"),
        }
    }

    /// The upstream kind, if this is an upstream failure.
    pub fn kind(&self) -> Option<UpstreamKind> {
        match self {
            Self::Upstream { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// True when no byte of the request reached the backend, so sending it to another
    /// backend cannot duplicate work (the forwarder's automatic retry criterion).
    pub fn nothing_sent(&self) -> bool {
        matches!(
            self,
            Self::Upstream {
                phase: Phase::Connect,
                ..
            }
        )
    }

    /// Transient failures (connect, timeout, reset) may succeed if tried again later;
    /// protocol errors and size limits will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Upstream { kind, .. } => {
                matches!(
                    kind,
                    UpstreamKind::Connect | UpstreamKind::Timeout | UpstreamKind::Reset
                )
            }
            Self::NoBackend(e) => e.is_saturated(),
            Self::InvalidRequest(_) => false,
        }
    }

    /// The HTTP status a gateway should answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Upstream {
                request_side: true, ..
            } => 413,
            Self::Upstream { kind, .. } => kind.http_status(),
            Self::NoBackend(_) => 503,
            Self::InvalidRequest(_) => 400,
        }
    }
}

impl From<SelectError> for ForwardError {
    fn from(e: SelectError) -> Self {
        Self::NoBackend(e)
    }
}

/// Marker error put into a body stream when a size limit is hit, so the classification
/// can recognise it after hyper wrapped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimitExceeded {
    pub limit: u64,
}

impl fmt::Display for BodyLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "body exceeds the {}-byte limit", self.limit)
    }
}

impl StdError for BodyLimitExceeded {}

/// Marker error of a streamed request body whose producer gave up (client went away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UploadAborted;

impl fmt::Display for UploadAborted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request body stream aborted by the client")
    }
}

impl StdError for UploadAborted {}

/// Classifies an error from the hyper-util client (head phase).
pub(crate) fn classify_client_error(
    err: &hyper_util::client::legacy::Error,
    address: &str,
) -> ForwardError {
    if err.is_connect() {
        let timed_out = find_io(err).is_some_and(|e| e.kind() == io::ErrorKind::TimedOut)
            || chain_mentions(err, "timed out");
        let kind = if timed_out {
            UpstreamKind::Timeout
        } else {
            UpstreamKind::Connect
        };
        return ForwardError::upstream(
            kind,
            Phase::Connect,
            format!("connect to {address} failed: {}", describe(err)),
        );
    }
    classify_error(err, Phase::Head, address)
}

/// Classifies any error of an exchange (hyper, io, our body markers).
pub(crate) fn classify_error(
    err: &(dyn StdError + 'static),
    phase: Phase,
    address: &str,
) -> ForwardError {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(limit) = e.downcast_ref::<BodyLimitExceeded>() {
            // A request body limit trips while sending (head phase), a response one while
            // streaming the body.
            return if phase == Phase::Body {
                ForwardError::upstream(
                    UpstreamKind::BodyTooLarge,
                    phase,
                    format!(
                        "response body from {address} exceeds the {}-byte limit",
                        limit.limit
                    ),
                )
            } else {
                ForwardError::request_too_large(limit.limit)
            };
        }
        if e.downcast_ref::<UploadAborted>().is_some() {
            return ForwardError::upstream(UpstreamKind::Reset, phase, UploadAborted.to_string());
        }
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_timeout() {
                return ForwardError::upstream(
                    UpstreamKind::Timeout,
                    phase,
                    format!("{address}: {h}"),
                );
            }
            if h.is_parse() || h.is_parse_status() {
                return ForwardError::upstream(
                    UpstreamKind::Protocol,
                    phase,
                    format!("invalid HTTP from {address}: {}", describe(err)),
                );
            }
            if h.is_incomplete_message()
                || h.is_canceled()
                || h.is_closed()
                || h.is_body_write_aborted()
            {
                return ForwardError::upstream(
                    UpstreamKind::Reset,
                    phase,
                    format!("{address} closed the connection: {}", describe(err)),
                );
            }
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            let kind = match io.kind() {
                io::ErrorKind::TimedOut => UpstreamKind::Timeout,
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof => UpstreamKind::Reset,
                _ => UpstreamKind::Protocol,
            };
            return ForwardError::upstream(kind, phase, format!("{address}: {}", describe(err)));
        }
        cur = e.source();
    }
    // h2 stream resets and anything unrecognised: the connection state is unknown.
    let text = describe(err);
    let kind = if text.contains("reset") || text.contains("GOAWAY") || text.contains("closed") {
        UpstreamKind::Reset
    } else {
        UpstreamKind::Protocol
    };
    ForwardError::upstream(kind, phase, format!("{address}: {text}"))
}

fn find_io<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io);
        }
        cur = e.source();
    }
    None
}

fn chain_mentions(err: &(dyn StdError + 'static), needle: &str) -> bool {
    describe(err).contains(needle)
}

/// The whole source chain in one line ("a: b: c"), for messages and logs.
pub(crate) fn describe(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

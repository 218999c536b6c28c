//! Forwarding: a hyper 1.x client that streams requests to backends and responses back.
//!
//! - One pooled keep-alive client per wire protocol (HTTP/1.1, h2c), chosen per backend
//!   by its address scheme ([`address`]) or the configured default.
//! - Timeouts: connect, first byte (response head) and total; body size limits both ways.
//! - Bodies stream frame by frame in both directions ([`RequestBody::Stream`],
//!   [`ResponseBody`]); nothing is buffered whole.
//! - Hop-by-hop headers are removed both ways; `X-Forwarded-For` and `X-Request-ID` set.
//! - Failures are typed ([`ForwardError`], [`UpstreamKind`]); a connect failure (nothing
//!   sent) is retried once on another backend of the pool ([`Forwarder::forward`]).
//! - The balancer's connection guard lives in the response body and is completed when
//!   the body ends (or released when it is dropped).

pub mod address;
mod balanced;
mod client;
pub mod config;
pub mod error;
pub mod headers;
mod request_body;
mod response_body;
pub mod runtime;
pub mod tls;

pub use client::{ForwardRequest, ForwardResponse, Forwarder};
pub use config::{ForwardConfig, Protocol};
pub use error::{ForwardError, Phase, UpstreamKind};
pub use request_body::{upload_channel, BodyStream, RequestBody, SendError, UploadSender};
pub use response_body::{Lease, ResponseBody};

//! The hyper client: one pooled keep-alive client per wire protocol, one attempt per
//! backend, timeouts and limits applied around it.

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, CONTENT_LENGTH};
use http::{Method, Request, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

use super::address::Target;
use super::config::{ForwardConfig, Protocol};
use super::error::{classify_client_error, ForwardError, Phase, UpstreamKind};
use super::headers::{prepare_request_headers, strip_hop_by_hop, ForwardedFor};
use super::request_body::{RequestBody, UpstreamBody};
use super::response_body::{BodyParts, Lease, ResponseBody};
use super::tls;

/// A request to forward. `path_and_query` starts with `/`.
#[derive(Debug)]
pub struct ForwardRequest {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: RequestBody,
    /// Appended to `X-Forwarded-For`.
    pub client_ip: Option<String>,
    /// Sent as `X-Request-ID` (else an incoming one is kept, or one is generated).
    pub request_id: Option<String>,
}

impl ForwardRequest {
    pub fn new(method: Method, path_and_query: impl Into<String>) -> Self {
        Self {
            method,
            path_and_query: path_and_query.into(),
            headers: HeaderMap::new(),
            body: RequestBody::Empty,
            client_ip: None,
            request_id: None,
        }
    }
}

/// A response head plus its streaming body.
#[derive(Debug)]
pub struct ForwardResponse {
    pub status: StatusCode,
    /// Hop-by-hop headers already removed.
    pub headers: HeaderMap,
    pub body: ResponseBody,
    /// The backend that answered (`None` for [`Forwarder::forward_to`]).
    pub backend_id: Option<String>,
    /// The `X-Request-ID` sent upstream.
    pub request_id: HeaderValue,
    /// 1, or 2 when the first backend refused the connection.
    pub attempts: u32,
}

type HttpClient = Client<HttpConnector, UpstreamBody>;
type HttpsClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

/// Forwards requests to backends. Cheap to clone (clients share their pools).
///
/// Must be used from inside a tokio runtime (the connection tasks are spawned on it).
#[derive(Debug, Clone)]
pub struct Forwarder {
    http1: HttpClient,
    h2c: HttpClient,
    https: HttpsClient,
    config: Arc<ForwardConfig>,
}

/// A request after header preparation, reusable for a retry.
pub(crate) struct Prepared {
    pub method: Method,
    pub path_and_query: String,
    pub body: RequestBody,
    pub request_id: HeaderValue,
    pub deadline: Option<Instant>,
}

impl Forwarder {
    pub fn new(config: ForwardConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let builder = |h2_only: bool| {
            let mut b = Client::builder(TokioExecutor::new());
            b.pool_idle_timeout(config.pool_idle_timeout)
                .pool_max_idle_per_host(config.pool_max_idle_per_backend)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .http2_adaptive_window(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .http2_keep_alive_while_idle(false);
            if h2_only {
                b.http2_only(true);
            }
            b
        };
        let mut tls_tcp = connector.clone();
        tls_tcp.enforce_http(false); // the TLS layer above it owns the https scheme
        let https = tls::https_connector(tls_tcp, &config.extra_roots);
        Self {
            http1: builder(false).build(connector.clone()),
            h2c: builder(true).build(connector),
            https: builder(false).build(https),
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &ForwardConfig {
        &self.config
    }

    /// Forwards to one address, without a pool (no retry: there is no other backend).
    pub async fn forward_to(
        &self,
        address: &str,
        req: ForwardRequest,
    ) -> Result<ForwardResponse, ForwardError> {
        let (prepared, headers) = self.prepare(req)?;
        let body = prepared
            .body
            .attempt(self.config.max_request_body)
            .expect("an unsent body is always available");
        self.attempt(address, &prepared, headers, body, None).await
    }

    /// Validates and rewrites the request once, before any backend is contacted.
    pub(crate) fn prepare(
        &self,
        req: ForwardRequest,
    ) -> Result<(Prepared, HeaderMap), ForwardError> {
        if let Some(len) = req.body.known_len() {
            if len > self.config.max_request_body {
                return Err(ForwardError::request_too_large(
                    self.config.max_request_body,
                ));
            }
        }
        let mut headers = req.headers;
        let fwd = ForwardedFor {
            client_ip: req.client_ip.as_deref(),
            request_id: req.request_id.as_deref(),
        };
        let in_memory = req.body.known_len().is_some();
        let request_id = prepare_request_headers(&mut headers, fwd, in_memory)
            .map_err(ForwardError::InvalidRequest)?;
        let started = Instant::now();
        let prepared = Prepared {
            method: req.method,
            path_and_query: req.path_and_query,
            body: req.body,
            request_id,
            deadline: self.config.total_timeout.map(|t| started + t),
        };
        Ok((prepared, headers))
    }

    /// One exchange with one backend. On failure the lease is completed as failed.
    pub(crate) async fn attempt(
        &self,
        address: &str,
        prepared: &Prepared,
        headers: HeaderMap,
        body: UpstreamBody,
        lease: Option<Box<dyn Lease>>,
    ) -> Result<ForwardResponse, ForwardError> {
        let attempt_start = Instant::now();
        let fail = |lease: Option<Box<dyn Lease>>, err: ForwardError| {
            if let Some(l) = lease {
                l.complete(false, attempt_start.elapsed());
            }
            Err(err)
        };
        let target = match Target::parse(address) {
            Ok(t) => t,
            Err(e) => return fail(lease, e),
        };
        let uri = match target.uri(&prepared.path_and_query) {
            Ok(u) => u,
            Err(e) => return fail(lease, e),
        };
        let mut request = Request::new(body);
        *request.method_mut() = prepared.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;

        // First byte: this attempt's own budget, capped by what is left of the total.
        let mut wait = self.config.first_byte_timeout;
        let mut total_bound = false;
        if let Some(deadline) = prepared.deadline {
            let left = deadline.saturating_duration_since(attempt_start);
            if left < wait {
                wait = left;
                total_bound = true;
            }
        }
        let sending = if target.tls {
            self.https.request(request)
        } else {
            match target.protocol.unwrap_or(self.config.default_protocol) {
                Protocol::Http1 => self.http1.request(request),
                Protocol::H2c => self.h2c.request(request),
            }
        };
        let response = match tokio::time::timeout(wait, sending).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return fail(lease, classify_client_error(&e, address)),
            Err(_) => {
                let which = if total_bound { "total" } else { "first-byte" };
                let msg =
                    format!("{address}: no response head within the {which} timeout ({wait:?})");
                return fail(
                    lease,
                    ForwardError::upstream(UpstreamKind::Timeout, Phase::Head, msg),
                );
            }
        };
        let head_latency = attempt_start.elapsed();
        let (mut parts, incoming) = response.into_parts();
        let limit = self.config.max_response_body;
        if let Some(len) = declared_len(&parts.headers) {
            if len > limit {
                let msg = format!(
                    "response from {address} declares {len} bytes, over the {limit}-byte limit"
                );
                return fail(
                    lease,
                    ForwardError::upstream(UpstreamKind::BodyTooLarge, Phase::Head, msg),
                );
            }
        }
        strip_hop_by_hop(&mut parts.headers);
        let body = ResponseBody::new(
            incoming,
            BodyParts {
                limit,
                deadline: prepared
                    .deadline
                    .map(|d| Box::pin(tokio::time::sleep_until(d))),
                lease,
                head_latency,
                status_ok: !parts.status.is_server_error(),
                address: Arc::from(address),
            },
        );
        Ok(ForwardResponse {
            status: parts.status,
            headers: parts.headers,
            body,
            backend_id: None,
            request_id: prepared.request_id.clone(),
            attempts: 1,
        })
    }
}

fn declared_len(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

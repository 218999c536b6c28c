//! One request through the listener: a hot route served here phase by phase
//! (early -> filter -> upstream -> body filter -> settle), anything else proxied to the
//! control plane.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::body_filter::MeteredBody;
use super::early::{self, HotRoute};
use super::filter::{self, Stop};
use super::models;
use super::respond::{json_response, ApiError, OutBody};
use super::settle::{Outcome, Settlement};
use super::state::DataPlane;
use super::upstream;

type Extra = Vec<(&'static str, String)>;

pub async fn handle(
    dp: Arc<DataPlane>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<OutBody> {
    let Some(route) = early::classify(req.method(), req.uri().path()) else {
        dp.metrics.fallback_requests.fetch_add(1, Relaxed);
        return match &dp.fallback {
            Some(f) => f.proxy(req, peer).await,
            None => ApiError::new(404, "not found")
                .code("not_found")
                .into_response(),
        };
    };
    let request_id = early::request_id(req.headers());
    let mut extra = Extra::new();
    let mut resp = match serve_hot(&dp, req, peer, route, &request_id, &mut extra).await {
        Ok(r) => r,
        Err(stop) => stop.into_response(),
    };
    let headers = resp.headers_mut();
    for (k, v) in extra {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.append(k, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", v);
    }
    resp
}

async fn serve_hot(
    dp: &Arc<DataPlane>,
    req: Request<Incoming>,
    peer: SocketAddr,
    route: HotRoute,
    request_id: &str,
    extra: &mut Extra,
) -> Result<Response<OutBody>, Stop> {
    let started = Instant::now();
    dp.metrics.requests.fetch_add(1, Relaxed);
    let (parts, body) = req.into_parts();
    // Authentication and the rate limit first (as the middleware did), then the method.
    let principal = match filter::authenticate(dp, &parts.headers, peer.ip()).await {
        Ok(p) => {
            *extra = filter::rate_limit(dp, &p).await?;
            Some(p)
        }
        Err(Stop::Api(e)) if e.status == 401 => None,
        Err(other) => return Err(other),
    };
    let endpoint = match &route {
        HotRoute::Inference(ep) if parts.method != Method::POST => {
            return Err(ApiError::new(405, format!("use POST for {}", ep.upstream_path())).into())
        }
        // Model-list routes are only GET/HEAD here: early.rs hands other methods on.
        HotRoute::Inference(ep) => Some(*ep),
        _ => None,
    };
    let Some(principal) = principal else {
        return Err(ApiError::new(
            401,
            "Incorrect or missing API key: send Authorization: Bearer <key> or X-API-Key",
        )
        .code("invalid_api_key")
        .into());
    };
    if !principal.can_infer {
        return Err(
            ApiError::new(403, "this API key lacks the 'inference' scope")
                .code("missing_scope")
                .into(),
        );
    }
    let Some(endpoint) = endpoint else {
        let body = match route {
            HotRoute::GetModel(id) => models::get(dp, &principal.user_id, &id)?,
            _ => models::list(dp, &principal.user_id),
        };
        return Ok(json_response(200, body));
    };
    serve_inference(
        dp,
        &parts.headers,
        body,
        principal,
        endpoint,
        request_id,
        peer,
        started,
    )
    .await
}

/// The filter phase's body steps, the spend hold, then upstream and the metered answer.
#[allow(clippy::too_many_arguments)] // the request's parts, passed on once
async fn serve_inference(
    dp: &Arc<DataPlane>,
    headers: &http::HeaderMap,
    body: Incoming,
    principal: Arc<super::principal::Principal>,
    endpoint: super::openai_request::Endpoint,
    request_id: &str,
    peer: SocketAddr,
    started: Instant,
) -> Result<Response<OutBody>, Stop> {
    let parsed = filter::read_request(dp, body, endpoint).await?;
    let limit = upstream::time_limit(dp, headers)?;
    let table = dp.routes.snapshot();
    let Some(route) = table.route(&principal.user_id, &parsed.model) else {
        return Err(ApiError::new(
            404,
            format!(
                "The model `{}` does not exist or you do not have access to it.",
                parsed.model
            ),
        )
        .param("model")
        .code("model_not_found")
        .into());
    };
    let price = table.price(&parsed.model);
    drop(table);
    let Some(ring_slot) = dp.ring.reserve() else {
        return Err(
            ApiError::new(503, "usage records are backed up; retry shortly")
                .code("usage_backlog")
                .header("retry-after", "1")
                .into(),
        );
    };
    let mut settlement = Settlement::new(
        Arc::clone(dp),
        started,
        request_id.to_owned(),
        Arc::clone(&principal),
        parsed.model.clone(),
        endpoint,
        parsed.stream,
        parsed.prompt_tokens,
        ring_slot,
    )
    .with_traceparent(super::early::traceparent(headers));
    // The worst case: the prompt estimate plus n x the completion cap, at the model's price.
    let worst = if route.maybe_billable {
        price.cost(
            parsed.prompt_tokens,
            parsed.n.saturating_mul(parsed.completion_cap),
        )
    } else {
        0
    };
    settlement.hold = filter::hold_money(dp, &principal.user_id, worst)
        .await
        .inspect_err(|stop| settlement.status = stop.status())?;
    let session = headers.get("x-session-id").map(HeaderValue::as_bytes);
    let affinity: &[u8] = session.unwrap_or(principal.user_id.as_bytes());
    let slot = upstream::take_slot(
        dp,
        &route,
        (&principal.user_id, &parsed.model),
        principal.priority,
        Some(affinity),
        limit,
    )
    .await
    .inspect_err(|stop| settlement.status = stop.status())?;
    settlement.slot_taken = true;
    settlement.queue_us = started.elapsed().as_micros() as u64;
    settlement.backend_id = Some(slot.guard.backend_id().to_owned());
    settlement.pool_scope = Some(Arc::clone(&slot.pool.scope));
    if slot.pool.shared && *slot.pool.owner_id != *principal.user_id {
        settlement.price = Some(price);
    }
    let head_started = Instant::now();
    let sent = upstream::forward(
        dp,
        slot,
        Some(affinity),
        endpoint.upstream_path(),
        parsed.body,
        parsed.stream,
        request_id,
        peer.ip().to_string(),
    )
    .await;
    dp.metrics
        .upstream
        .observe_us(head_started.elapsed().as_micros() as u64);
    let upstream_resp = match sent {
        Ok(r) => r,
        Err(e) => return Err(upstream_failure(settlement, &e)),
    };
    Ok(metered_response(
        dp,
        upstream_resp,
        settlement,
        parsed.strip_usage,
    ))
}

/// The upstream's head (minus what the gateway sets itself) and its body, metered.
fn metered_response(
    dp: &DataPlane,
    upstream_resp: crate::forward::ForwardResponse,
    mut settlement: Settlement,
    strip_usage: bool,
) -> Response<OutBody> {
    let status = upstream_resp.status.as_u16();
    settlement.status = status;
    let mut headers = upstream_resp.headers;
    for name in ["server", "date", "x-request-id"] {
        headers.remove(name);
    }
    let sse = headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if sse {
        headers.remove(CONTENT_LENGTH);
    }
    let strip = strip_usage && status < 400;
    let body = MeteredBody::new(
        upstream_resp.body,
        sse,
        strip,
        settlement,
        dp.config.stall_timeout,
    );
    let mut resp = Response::new(body.boxed_unsync());
    *resp.status_mut() = upstream_resp.status;
    *resp.headers_mut() = headers;
    resp
}

/// The forward failed before a response head: settle, and answer 502/504 naming why.
fn upstream_failure(mut settlement: Settlement, e: &crate::forward::ForwardError) -> Stop {
    let status = e.http_status();
    settlement.status = status;
    settlement.finish(None, Outcome::UpstreamError);
    let mut err = ApiError::new(status, format!("the worker failed: {e}"));
    err.code = Some(upstream_code(
        e.kind().map_or("unavailable", |k| k.as_str()),
    ));
    err.into()
}

fn upstream_code(kind: &str) -> &'static str {
    match kind {
        "connect" => "upstream_connect",
        "timeout" => "upstream_timeout",
        "reset" => "upstream_reset",
        "protocol" => "upstream_protocol",
        "body_too_large" => "upstream_body_too_large",
        _ => "upstream_unavailable",
    }
}

//! Phase 3 (upstream): a backend slot on the caller's route (waiting in the admission
//! queue when every backend is busy), then the forward with one retry on connect failure.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, Method};

use crate::balancer::SelectError;
use crate::forward::{ForwardError, ForwardRequest, ForwardResponse, RequestBody};
use crate::tracker::ConnectionGuard;

use super::admission::Rejected;
use super::filter::Stop;
use super::respond::ApiError;
use super::routes::{PoolRoute, Route};
use super::state::DataPlane;

/// A taken slot and the pool it belongs to.
#[derive(Debug)]
pub struct Slot {
    pub pool: Arc<PoolRoute>,
    pub guard: ConnectionGuard,
}

fn no_backend() -> ApiError {
    ApiError::new(503, "no healthy worker serves this model right now")
        .code("no_healthy_worker")
        .header("retry-after", "1")
}

/// A slot now: `Ok(None)` when every pool is saturated, `Err` when none has a backend.
fn try_take(route: &Route, affinity: Option<&[u8]>) -> Result<Option<Slot>, ApiError> {
    let mut saturated = false;
    for pool in &route.pools {
        match pool.pool.select(affinity) {
            Ok(guard) => {
                return Ok(Some(Slot {
                    pool: Arc::clone(pool),
                    guard,
                }))
            }
            Err(SelectError::Saturated) => saturated = true,
            Err(_) => {}
        }
    }
    if saturated {
        Ok(None)
    } else {
        Err(no_backend())
    }
}

/// The identities of a route's pools (what the admission queue orders waiters over).
fn pool_ids(route: &Route) -> Vec<usize> {
    route
        .pools
        .iter()
        .map(|p| Arc::as_ptr(&p.pool) as usize)
        .collect()
}

/// `X-Timelimit` (seconds, capped), or the default wait.
pub fn time_limit(dp: &DataPlane, headers: &HeaderMap) -> Result<Duration, ApiError> {
    let Some(raw) = headers.get("x-timelimit") else {
        return Ok(dp.config.queue_timeout);
    };
    let value: f64 = raw
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(-1.0);
    if value.is_nan() || value <= 0.0 {
        return Err(
            ApiError::new(400, "X-Timelimit: expected a positive number of seconds")
                .param("X-Timelimit"),
        );
    }
    Ok(
        Duration::try_from_secs_f64(value).map_or(dp.config.queue_max_timeout, |d| {
            d.min(dp.config.queue_max_timeout)
        }),
    )
}

/// A slot on `route`, waiting in the admission queue (labelled `user`/`model` for
/// monitoring) when every backend is busy.
pub async fn take_slot(
    dp: &DataPlane,
    route: &Route,
    (user, model): (&str, &str),
    priority: i32,
    affinity: Option<&[u8]>,
    limit: Duration,
) -> Result<Slot, Stop> {
    if let Some(slot) = try_take(route, affinity)? {
        return Ok(slot);
    }
    // Only a request that has to wait pays for its label.
    let label: Arc<str> = format!("{user}\u{0}{model}").into();
    match dp
        .admission
        .wait(&label, pool_ids(route), priority, limit, || {
            try_take(route, affinity)
        })
        .await
    {
        Ok(Ok(slot)) => Ok(slot),
        Ok(Err(Rejected::Full)) => Err(ApiError::new(503, "the admission queue is full")
            .code("queue_full")
            .header("retry-after", "1")
            .into()),
        Ok(Err(Rejected::Timeout)) => Err(ApiError::new(
            503,
            format!(
                "no worker slot became free within {:.1} s",
                limit.as_secs_f64()
            ),
        )
        .code("queue_timeout")
        .header("retry-after", limit.as_secs().clamp(1, 60).to_string())
        .into()),
        Err(e) => Err(e.into()),
    }
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
pub async fn forward(
    dp: &DataPlane,
    slot: Slot,
    affinity: Option<&[u8]>,
    path: &'static str,
    body: Bytes,
    stream: bool,
    request_id: &str,
    client_ip: String,
) -> Result<ForwardResponse, ForwardError> {
    let mut req = ForwardRequest::new(Method::POST, path);
    req.headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    req.headers.insert(
        ACCEPT,
        HeaderValue::from_static(if stream {
            "text/event-stream"
        } else {
            "application/json"
        }),
    );
    req.body = RequestBody::Full(body);
    req.client_ip = Some(client_ip);
    req.request_id = Some(request_id.to_owned());
    let Slot { pool, guard } = slot;
    dp.forwarder
        .forward_guarded(&pool.pool, guard, affinity, req)
        .await
}

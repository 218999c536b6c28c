//! Forwarding through a balancer [`Pool`]: select, forward, and on a connection failure
//! before any byte was sent, retry once on another backend chosen by the same strategy.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::balancer::{BackendEntry, Pool};
use crate::tracker::ConnectionGuard;

use super::client::{ForwardRequest, ForwardResponse, Forwarder};
use super::error::ForwardError;

impl Forwarder {
    /// Selects a backend of `pool` (consistent-hash strategies use `affinity_key`) and
    /// forwards to it. The connection guard rides in the response body until it ends.
    pub async fn forward(
        &self,
        pool: &Pool,
        affinity_key: Option<&[u8]>,
        req: ForwardRequest,
    ) -> Result<ForwardResponse, ForwardError> {
        let guard = pool.select(affinity_key)?;
        self.forward_guarded(pool, guard, affinity_key, req).await
    }

    /// Forwards on an already selected backend (callers that select synchronously, or
    /// after waiting in an admission queue). `pool` is used for the one retry.
    pub async fn forward_guarded(
        &self,
        pool: &Pool,
        guard: ConnectionGuard,
        affinity_key: Option<&[u8]>,
        req: ForwardRequest,
    ) -> Result<ForwardResponse, ForwardError> {
        let (prepared, headers) = self.prepare(req)?;
        let limit = self.config().max_request_body;
        let first = Arc::clone(guard.backend());
        let body = prepared
            .body
            .attempt(limit)
            .expect("an unsent body is always available");
        let err = match self
            .attempt(
                first.address(),
                &prepared,
                for_backend(headers.clone(), &first),
                body,
                Some(Box::new(guard)),
            )
            .await
        {
            Ok(mut resp) => {
                resp.backend_id = Some(first.id().to_owned());
                return Ok(resp);
            }
            Err(e) => e,
        };
        // Only a failure with nothing sent can be replayed without duplicating work
        // (LLM generations are not idempotent), and only if the body is still unread.
        if !err.nothing_sent() {
            return Err(err);
        }
        let Some(body) = prepared.body.attempt(limit) else {
            return Err(err);
        };
        let Ok(second) = pool.select_excluding(affinity_key, first.id()) else {
            // Nobody else can take it: the connect failure is the informative error.
            return Err(err);
        };
        let entry = Arc::clone(second.backend());
        let mut resp = self
            .attempt(
                entry.address(),
                &prepared,
                for_backend(headers, &entry),
                body,
                Some(Box::new(second)),
            )
            .await?;
        resp.backend_id = Some(entry.id().to_owned());
        resp.attempts = 2;
        Ok(resp)
    }
}

/// The request headers for one backend: a backend with a credential of its own (a
/// registered worker) gets it in place of whatever the caller sent, so a worker answers
/// the gateway only. (The hot path never forwards the client's credential.)
fn for_backend(mut headers: HeaderMap, backend: &BackendEntry) -> HeaderMap {
    if let Some(value) = backend.authorization() {
        headers.insert(AUTHORIZATION, value.clone());
    }
    headers
}

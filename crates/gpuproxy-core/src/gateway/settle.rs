//! Settlement: what one admitted request took is given back, and what it used is charged
//! and recorded, exactly once, on every exit (success, upstream error, client disconnect,
//! panic). RAII: a `Settlement` dropped unfinished settles as cancelled/rejected.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::allowance::Hold;
use super::meter::Usage;
use super::openai_request::Endpoint;
use super::principal::Principal;
use super::routes::Price;
use super::state::DataPlane;
use super::usage::{RingSlot, UsageEvent, UsageRow};

/// How a request ended (the usage row's `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Cancelled,
    Rejected,
    UpstreamError,
    ClientError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
            Self::UpstreamError => "upstream_error",
            Self::ClientError => "client_error",
        }
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug)]
pub struct Settlement {
    dp: Arc<DataPlane>,
    pub started: Instant,
    created_ms: u64,
    pub request_id: String,
    principal: Arc<Principal>,
    model: String,
    endpoint: Endpoint,
    stream: bool,
    prompt_estimate: u64,
    /// The model's price when the serving pool bills this caller.
    pub price: Option<Price>,
    pub hold: Option<Hold>,
    slot: Option<RingSlot>,
    pub queue_us: u64,
    pub backend_id: Option<String>,
    pub pool_scope: Option<Arc<str>>,
    pub status: u16,
    pub ttft_us: Option<u64>,
    pub slot_taken: bool,
    pub traceparent: Option<String>,
    done: bool,
}

impl Settlement {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dp: Arc<DataPlane>,
        started: Instant,
        request_id: String,
        principal: Arc<Principal>,
        model: String,
        endpoint: Endpoint,
        stream: bool,
        prompt_estimate: u64,
        slot: RingSlot,
    ) -> Self {
        dp.metrics.in_flight.fetch_add(1, Relaxed);
        Self {
            dp,
            started,
            created_ms: unix_ms(),
            request_id,
            principal,
            model,
            endpoint,
            stream,
            prompt_estimate,
            price: None,
            hold: None,
            slot: Some(slot),
            queue_us: 0,
            backend_id: None,
            pool_scope: None,
            status: 0,
            ttft_us: None,
            slot_taken: false,
            traceparent: None,
            done: false,
        }
    }

    /// Keeps the client's trace context for the usage row (tracing).
    #[must_use]
    pub fn with_traceparent(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }

    pub fn mark_first_token(&mut self) {
        if self.ttft_us.is_none() {
            self.ttft_us = Some(self.started.elapsed().as_micros() as u64);
        }
    }

    /// Charges `usage` (when something was delivered) and records the request.
    pub fn finish(&mut self, usage: Option<Usage>, outcome: Outcome) {
        if self.done {
            return;
        }
        self.done = true;
        let outcome = match outcome {
            Outcome::Ok if self.status >= 500 => Outcome::UpstreamError,
            Outcome::Ok if self.status >= 400 => Outcome::ClientError,
            other => other,
        };
        let dp = &self.dp;
        let delivered = usage.filter(|_| self.status != 0 && self.status < 400);
        let (mut prompt, completion, estimated) = delivered.map_or((0, 0, false), |u| {
            (u.prompt_tokens, u.completion_tokens, u.estimated)
        });
        if outcome == Outcome::UpstreamError && estimated && completion == 0 {
            prompt = 0; // failed before any token: nothing was delivered
        }
        let cost = match self.price {
            Some(p) if prompt > 0 || completion > 0 => p.cost(prompt, completion),
            _ => 0,
        };
        let lease_id = self.hold.as_ref().map_or(0, Hold::lease_id);
        let latency_us = self.started.elapsed().as_micros() as u64;
        let generation_us = latency_us.saturating_sub(self.ttft_us.unwrap_or(0));
        let tokens_per_s = (completion > 0 && generation_us > 0)
            .then(|| ((completion as f64) * 1e6 / generation_us as f64 * 1000.0).round() / 1000.0);
        let m = &dp.metrics;
        m.in_flight.fetch_sub(1, Relaxed);
        match outcome {
            Outcome::Ok => &m.ok,
            Outcome::Cancelled => &m.cancelled,
            Outcome::Rejected => &m.rejected,
            Outcome::UpstreamError => &m.upstream_errors,
            Outcome::ClientError => &m.client_errors,
        }
        .fetch_add(1, Relaxed);
        m.prompt_tokens.fetch_add(prompt, Relaxed);
        m.completion_tokens.fetch_add(completion, Relaxed);
        m.cost_micros.fetch_add(cost, Relaxed);
        m.latency.observe_us(latency_us);
        if let Some(t) = self.ttft_us {
            m.ttft.observe_us(t);
        }
        if let Some(slot) = self.slot.take() {
            slot.push(UsageEvent::Row(Box::new(UsageRow {
                request_id: std::mem::take(&mut self.request_id),
                created_ms: self.created_ms,
                user_id: Arc::clone(&self.principal.user_id),
                api_key_id: self.principal.api_key_id.clone(),
                model: std::mem::take(&mut self.model),
                endpoint: self.endpoint.name(),
                backend_id: self.backend_id.take(),
                pool_scope: self.pool_scope.take(),
                stream: self.stream,
                status: if self.status == 0 { 499 } else { self.status },
                outcome: outcome.as_str(),
                prompt_tokens: prompt,
                completion_tokens: completion,
                estimated,
                cost_micros: cost,
                queue_us: self.queue_us,
                ttft_us: self.ttft_us,
                latency_us,
                tokens_per_s,
                lease_id,
                traceparent: self.traceparent.take(),
            })));
        }
        // After the row: the allowance may close now, and Python must see this request's
        // charge before the closing that includes it (one ring, in order).
        if let Some(hold) = self.hold.take() {
            hold.settle(cost);
        }
        if self.slot_taken {
            // The backend slot was freed before this (the body owning it is gone).
            dp.admission.notify();
        }
    }

    pub fn prompt_estimate(&self) -> u64 {
        self.prompt_estimate
    }
}

impl Drop for Settlement {
    fn drop(&mut self) {
        let outcome = if self.slot_taken {
            Outcome::Cancelled
        } else {
            Outcome::Rejected
        };
        self.finish(None, outcome);
    }
}

//! `DataPlane`: everything the hot path reads, shared by every connection of a process.

use std::sync::Arc;

use parking_lot::RwLock;
use std::time::Instant;

use crate::forward::Forwarder;
use crate::limits::{Quota, RateLimiter};

use super::admission::Admission;
use super::allowance::Allowances;
use super::config::GatewayConfig;
use super::control::ControlPlane;
use super::fallback::Fallback;
use super::jwt::JwtVerifier;
use super::metrics::Metrics;
use super::principal::KeyCache;
use super::routes::Routes;
use super::shared_limits::SharedLimiter;
use super::usage::UsageRing;

#[derive(Debug)]
pub struct DataPlane {
    pub config: GatewayConfig,
    pub keys: KeyCache,
    /// Verifies access tokens once the control plane pushed its key (None: every JWT is
    /// a callback the first time, cached by digest).
    pub jwt: RwLock<Option<Arc<JwtVerifier>>>,
    pub routes: Routes,
    /// The per-key / per-user limiter Python's middleware uses too (one bucket each).
    pub limiter: Arc<RateLimiter>,
    /// Failed authentications per client IP.
    pub auth_failures: RateLimiter,
    pub allowances: Allowances,
    pub ring: Arc<UsageRing>,
    pub control: ControlPlane,
    pub admission: Admission,
    pub forwarder: Forwarder,
    pub fallback: Option<Fallback>,
    /// Per-key / per-user limits counted in Redis (several processes or instances).
    pub shared_limits: Option<SharedLimiter>,
    pub metrics: Metrics,
    /// Unix seconds at start (`created` of /v1/models objects).
    pub started_unix: u64,
    pub started: Instant,
}

impl DataPlane {
    pub fn new(
        config: GatewayConfig,
        limiter: Arc<RateLimiter>,
        fallback: Option<Fallback>,
    ) -> std::io::Result<Arc<Self>> {
        let ring = UsageRing::new(config.usage_ring);
        let shared_limits = match &config.shared_rate_limits {
            Some((url, lua)) => Some(SharedLimiter::new(url, lua).map_err(std::io::Error::other)?),
            None => None,
        };
        let per_minute = config.auth_failures_per_minute.max(1);
        let auth_quota = Quota::new(f64::from(per_minute) / 60.0, per_minute)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Arc::new(Self {
            keys: KeyCache::new(config.key_cache_entries),
            jwt: RwLock::new(None),
            routes: Routes::default(),
            limiter,
            auth_failures: RateLimiter::new(auth_quota, 100_000),
            allowances: Allowances::new(Arc::clone(&ring)),
            ring,
            control: ControlPlane::new(config.callback_queue, config.callback_timeout)?,
            admission: Admission::new(config.queue_max_depth),
            forwarder: Forwarder::new(config.forward.clone()),
            fallback,
            shared_limits,
            metrics: Metrics::default(),
            started_unix: super::settle::unix_ms() / 1000,
            started: Instant::now(),
            config,
        }))
    }
}

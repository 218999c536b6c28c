//! Rate limits shared by every process and instance through Redis, checked from Rust.
//!
//! With Redis configured the control plane counts each request with one GCRA script
//! (`gpuproxy.accounts.ratelimit.gcra`: Redis' own clock, one EVALSHA); the data plane runs
//! that same script (its text is handed over by Python, one source) on its own connection,
//! so the limit is one count across processes and instances, never N times the limit, and
//! no GIL is taken. If Redis fails, requests are limited by the local limiter for a few
//! seconds (each process then allows the full limit on its own, as the control plane does
//! and documents) and Redis is tried again.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use crate::limits::RateLimiter;

use super::principal::RateLimit;
use super::ratelimit::{self, RateDecision};

/// Limits are per minute.
const PERIOD_US: u64 = 60_000_000;
const RETRY_AFTER: Duration = Duration::from_secs(5);
const CALL_TIMEOUT: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub struct SharedLimiter {
    client: redis::Client,
    script: redis::Script,
    conn: Mutex<Option<MultiplexedConnection>>,
    started: Instant,
    /// Milliseconds since `started` before which Redis is not tried (it failed).
    down_until_ms: AtomicU64,
    /// Checks answered locally because Redis failed.
    pub fallbacks: AtomicU64,
}

impl SharedLimiter {
    pub fn new(url: &str, lua: &str) -> redis::RedisResult<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            script: redis::Script::new(lua),
            conn: Mutex::new(None),
            started: Instant::now(),
            down_until_ms: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = self.client.get_multiplexed_tokio_connection().await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    async fn run(&self, limit: &RateLimit) -> redis::RedisResult<RateDecision> {
        let mut conn = self.connection().await?;
        let per_minute = limit.per_minute.max(1);
        let (allowed, remaining, retry_us, reset_us): (i64, i64, i64, i64) = self
            .script
            .key(format!("gpx:rl:{}", limit.bucket))
            .arg(per_minute)
            .arg(per_minute)
            .arg(PERIOD_US)
            .invoke_async(&mut conn)
            .await?;
        Ok(RateDecision {
            allowed: allowed == 1,
            limit: per_minute,
            remaining: remaining.max(0) as u64,
            retry_after_ms: (retry_us.max(0) as u64).div_ceil(1000),
            reset_after_ms: (reset_us.max(0) as u64).div_ceil(1000),
        })
    }

    /// One request of `limit`: counted in Redis, or locally while Redis is failing.
    pub async fn check(&self, local: &Arc<RateLimiter>, limit: &RateLimit) -> RateDecision {
        if self.now_ms() >= self.down_until_ms.load(Relaxed) {
            if let Ok(Ok(decision)) = tokio::time::timeout(CALL_TIMEOUT, self.run(limit)).await {
                return decision;
            }
            *self.conn.lock().await = None;
            let until = self.now_ms() + RETRY_AFTER.as_millis() as u64;
            self.down_until_ms.store(until, Relaxed);
        }
        self.fallbacks.fetch_add(1, Relaxed);
        ratelimit::check(local, limit)
    }
}

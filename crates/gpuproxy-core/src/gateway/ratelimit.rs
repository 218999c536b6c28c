//! Per-key / per-user GCRA on the hot path, with the X-RateLimit-* figures the Python
//! middleware gives (`gpuproxy.accounts.ratelimit.local.CoreGcraLimiter`: same limiter
//! object, same arithmetic, so both paths count in one bucket).

use crate::limits::{LimitsError, Quota, RateLimiter};

use super::principal::RateLimit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u64,
    pub retry_after_ms: u64,
    pub reset_after_ms: u64,
}

impl RateDecision {
    /// Whole seconds to wait, rounded up.
    pub fn retry_after_s(&self) -> u64 {
        self.retry_after_ms.div_ceil(1000).max(1)
    }

    /// X-RateLimit-Limit/Remaining/Reset (+ Retry-After when refused).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            (
                "x-ratelimit-reset",
                self.reset_after_ms.div_ceil(1000).to_string(),
            ),
        ];
        if !self.allowed {
            h.push(("retry-after", self.retry_after_s().to_string()));
        }
        h
    }
}

/// Counts one request of `limit` (burst = the per-minute limit, as Python does).
pub fn check(limiter: &RateLimiter, limit: &RateLimit) -> RateDecision {
    let per_minute = limit.per_minute.max(1);
    let rate = f64::from(per_minute) / 60.0;
    let interval_ms = 60_000.0 / f64::from(per_minute);
    let allowed_all = RateDecision {
        allowed: true,
        limit: per_minute,
        remaining: 0,
        retry_after_ms: 0,
        reset_after_ms: 0,
    };
    let Ok(quota) = Quota::new(rate, per_minute) else {
        return allowed_all;
    };
    if let Err(LimitsError::RateLimited { retry_after_ms }) =
        limiter.check_with(&limit.bucket, quota, 1)
    {
        return RateDecision {
            allowed: false,
            limit: per_minute,
            remaining: 0,
            retry_after_ms,
            reset_after_ms: (retry_after_ms as f64 + f64::from(per_minute - 1) * interval_ms).ceil()
                as u64,
        };
    }
    // A free probe (cost 0, burst 1) tells how far the bucket is ahead of now.
    let probe =
        Quota::new(rate, 1)
            .ok()
            .map_or(0, |q| match limiter.check_with(&limit.bucket, q, 0) {
                Err(LimitsError::RateLimited { retry_after_ms }) => retry_after_ms,
                _ => 0,
            });
    let ahead_ms = if probe > 0 {
        probe as f64 + interval_ms
    } else {
        interval_ms
    };
    RateDecision {
        allowed: true,
        limit: per_minute,
        remaining: (f64::from(per_minute) - ahead_ms / interval_ms + 1e-9)
            .floor()
            .max(0.0) as u64,
        retry_after_ms: 0,
        reset_after_ms: ahead_ms.ceil() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_down_then_refuses_with_retry_after() {
        let limiter = RateLimiter::new(Quota::new(1.0, 1).unwrap(), 1000);
        let limit = RateLimit {
            bucket: Arc::from("k:1"),
            per_minute: 3,
        };
        let d: Vec<RateDecision> = (0..4).map(|_| check(&limiter, &limit)).collect();
        assert_eq!(
            d.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            vec![2, 1, 0, 0]
        );
        assert!(d[..3].iter().all(|d| d.allowed));
        assert!(!d[3].allowed);
        assert_eq!(d[3].headers().last().unwrap().0, "retry-after");
        assert!(d[3].retry_after_s() >= 19);
    }
}

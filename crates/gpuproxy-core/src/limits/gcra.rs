//! GCRA (generic cell rate algorithm) rate limiting per key.
//!
//! Each key stores one number, its theoretical arrival time (TAT). A request of cost
//! `c` is allowed when `max(TAT, now) + c x T - now <= burst x T` (T = 1 / rate), and
//! then moves the TAT forward by `c x T`. A key whose TAT is in the past is identical
//! to a key never seen, so expiring it changes no answer: idle keys are dropped
//! exactly. Memory is bounded by `max_keys`: when a shard is full even after dropping
//! expired keys, the half closest to expiry is forgotten (those keys may then burst
//! early, by at most their remaining delay; the alternative, refusing new keys, would
//! let one client lock everybody out).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use parking_lot::Mutex;

use super::error::LimitsError;
use crate::clock::{system_clock, Clock};

const SHARDS: usize = 32;

/// A rate (emission interval) and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    emission_nanos: u64,
    burst: u32,
}

impl Quota {
    /// `rate` requests (cost units) per second on average, up to `burst` at once.
    pub fn new(rate_per_second: f64, burst: u32) -> Result<Self, LimitsError> {
        if !(rate_per_second.is_finite() && rate_per_second > 0.0) {
            return Err(LimitsError::invalid("rate", "must be a positive number"));
        }
        if burst == 0 {
            return Err(LimitsError::invalid("burst", "must be at least 1"));
        }
        let emission = (1e9 / rate_per_second).round();
        if !(1.0..=1e18).contains(&emission) {
            return Err(LimitsError::invalid("rate", "out of range"));
        }
        Ok(Self {
            emission_nanos: emission as u64,
            burst,
        })
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    pub fn rate_per_second(&self) -> f64 {
        1e9 / self.emission_nanos as f64
    }

    fn tolerance(&self) -> u64 {
        self.emission_nanos.saturating_mul(u64::from(self.burst))
    }
}

#[derive(Debug, Default)]
struct Shard {
    tats: HashMap<Box<str>, u64>,
}

/// GCRA limiter over string keys. `Send + Sync`.
#[derive(Debug)]
pub struct RateLimiter {
    quota: Quota,
    shards: Box<[Mutex<Shard>]>,
    hasher: std::collections::hash_map::RandomState,
    max_per_shard: usize,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    /// `max_keys` bounds memory (about 60 bytes + key length per key).
    pub fn new(quota: Quota, max_keys: usize) -> Self {
        Self::with_clock(quota, max_keys, system_clock())
    }

    pub fn with_clock(quota: Quota, max_keys: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            quota,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            max_per_shard: max_keys.div_ceil(SHARDS).max(1),
            clock,
        }
    }

    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// Checks and, if allowed, consumes `cost` under the default quota.
    #[inline]
    pub fn check(&self, key: &str, cost: u32) -> Result<(), LimitsError> {
        self.check_with(key, self.quota, cost)
    }

    /// Like [`RateLimiter::check`] with a per-call quota (per-plan limits). A key
    /// should always be checked with the same quota.
    pub fn check_with(&self, key: &str, quota: Quota, cost: u32) -> Result<(), LimitsError> {
        if cost > quota.burst {
            return Err(LimitsError::CostExceedsBurst {
                cost,
                burst: quota.burst,
            });
        }
        let now = self.clock.now_nanos();
        let increment = quota.emission_nanos * u64::from(cost);
        let tolerance = quota.tolerance();
        let mut shard = self.shard(key).lock();
        let tat = shard.tats.get(key).copied().unwrap_or(now).max(now);
        let new_tat = tat.saturating_add(increment);
        let ahead = new_tat - now;
        if ahead > tolerance {
            let wait = ahead - tolerance;
            return Err(LimitsError::RateLimited {
                retry_after_ms: wait.div_ceil(1_000_000).max(1),
            });
        }
        if let Some(t) = shard.tats.get_mut(key) {
            *t = new_tat;
        } else if increment > 0 {
            if shard.tats.len() >= self.max_per_shard {
                Self::make_room(&mut shard, now, self.max_per_shard);
            }
            shard.tats.insert(Box::from(key), new_tat);
        }
        Ok(())
    }

    /// Whether `cost` would be allowed now under the default quota, consuming nothing.
    pub fn would_allow(&self, key: &str, cost: u32) -> bool {
        let quota = self.quota;
        if cost > quota.burst {
            return false;
        }
        let now = self.clock.now_nanos();
        let increment = quota.emission_nanos * u64::from(cost);
        let shard = self.shard(key).lock();
        let tat = shard.tats.get(key).copied().unwrap_or(now).max(now);
        tat.saturating_add(increment) - now <= quota.tolerance()
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    #[cold]
    fn make_room(shard: &mut Shard, now: u64, max: usize) {
        shard.tats.retain(|_, &mut tat| tat > now);
        let n = shard.tats.len();
        if n < max {
            return;
        }
        // Still full of live keys: forget the half closest to expiry.
        let mut tats: Vec<u64> = shard.tats.values().copied().collect();
        let (_, &mut median, _) = tats.select_nth_unstable(n / 2);
        shard.tats.retain(|_, &mut tat| tat > median);
    }

    /// Drops every key whose state is indistinguishable from a fresh key.
    pub fn purge_expired(&self) -> usize {
        let now = self.clock.now_nanos();
        self.shards
            .iter()
            .map(|s| {
                let mut s = s.lock();
                let before = s.tats.len();
                s.tats.retain(|_, &mut tat| tat > now);
                before - s.tats.len()
            })
            .sum()
    }

    /// Keys currently held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().tats.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

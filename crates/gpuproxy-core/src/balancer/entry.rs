//! A backend's runtime state inside a pool: immutable identity plus atomics.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

use super::backend::{Backend, BackendLabels};
use crate::tracker::{BackendSnapshot, BackendStats, EwmaParams};

/// Shared by the pool and every guard on this backend (behind `Arc`); a removed backend
/// lives until its last guard is gone.
#[derive(Debug)]
pub struct BackendEntry {
    id: Box<str>,
    address: Box<str>,
    /// Marked sensitive so it never shows in debug output.
    authorization: Option<http::HeaderValue>,
    max_concurrency: u32,
    labels: BackendLabels,
    explicit_weight: AtomicU32,
    derived_weight: u32,
    healthy: AtomicBool,
    draining: AtomicBool,
    /// Smooth-WRR running weight; only touched under the WRR strategy's lock.
    pub(crate) wrr_current: AtomicI64,
    stats: BackendStats,
}

impl BackendEntry {
    pub(crate) fn new(b: Backend, params: &EwmaParams, now: u64) -> Self {
        let derived_weight = super::gpu_weights::default_weight(&b.labels);
        Self {
            id: b.id.into_boxed_str(),
            address: b.address.into_boxed_str(),
            // Validated by `Backend::validate` before an entry is made.
            authorization: b.authorization.and_then(|a| {
                let mut v = http::HeaderValue::from_str(&a).ok()?;
                v.set_sensitive(true);
                Some(v)
            }),
            max_concurrency: b.max_concurrency.unwrap_or(u32::MAX),
            labels: b.labels,
            explicit_weight: AtomicU32::new(b.weight.unwrap_or(0)),
            derived_weight,
            healthy: AtomicBool::new(true),
            draining: AtomicBool::new(false),
            wrr_current: AtomicI64::new(0),
            stats: BackendStats::new(params, now),
        }
    }

    #[inline]
    pub fn id(&self) -> &str {
        &self.id
    }

    #[inline]
    pub fn address(&self) -> &str {
        &self.address
    }

    /// What the gateway sends as `Authorization` to this backend, when set.
    #[inline]
    pub fn authorization(&self) -> Option<&http::HeaderValue> {
        self.authorization.as_ref()
    }

    pub fn labels(&self) -> &BackendLabels {
        &self.labels
    }

    #[inline]
    pub fn stats(&self) -> &BackendStats {
        &self.stats
    }

    /// `u32::MAX` when unlimited.
    #[inline]
    pub fn max_concurrency(&self) -> u32 {
        self.max_concurrency
    }

    #[inline]
    pub fn weight(&self) -> u32 {
        match self.explicit_weight.load(Ordering::Relaxed) {
            0 => self.derived_weight,
            w => w,
        }
    }

    /// `None` restores the weight derived from the labels.
    pub(crate) fn set_weight(&self, weight: Option<u32>) {
        self.explicit_weight
            .store(weight.unwrap_or(0), Ordering::Relaxed);
    }

    #[inline]
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Healthy and not draining: may receive new requests when below max concurrency.
    #[inline]
    pub fn is_routable(&self) -> bool {
        self.is_healthy() && !self.is_draining()
    }

    /// Routable and a slot is free right now (may race; the slot CAS decides).
    #[inline]
    pub fn has_capacity(&self) -> bool {
        self.is_routable() && self.stats.in_flight() < self.max_concurrency
    }

    /// Returns the previous value.
    pub(crate) fn swap_healthy(&self, v: bool) -> bool {
        self.healthy.swap(v, Ordering::AcqRel)
    }

    pub(crate) fn swap_draining(&self, v: bool) -> bool {
        self.draining.swap(v, Ordering::AcqRel)
    }

    pub fn snapshot(&self, now: u64, params: &EwmaParams) -> BackendSnapshot {
        let s = &self.stats;
        BackendSnapshot {
            id: self.id.to_string(),
            address: self.address.to_string(),
            healthy: self.is_healthy(),
            draining: self.is_draining(),
            weight: self.weight(),
            max_concurrency: (self.max_concurrency != u32::MAX).then_some(self.max_concurrency),
            in_flight: s.in_flight(),
            total: s.total(),
            ok: s.ok(),
            errors: s.errors(),
            cancelled: s.cancelled(),
            ewma_latency_nanos: s.ewma_nanos(now, params) as u64,
            mean_latency_nanos: s.mean_latency_nanos(),
            gpu_model: self.labels.gpu_model.clone(),
            gpu_count: self.labels.gpu_count.max(1),
            vram_gb: self.labels.vram_gb,
            price_per_hour_micros: self.labels.price_per_hour_micros,
            provider: self.labels.provider.clone(),
            region: self.labels.region.clone(),
        }
    }
}

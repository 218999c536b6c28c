//! A set of backends plus the strategy that picks among them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};

use super::backend::Backend;
use super::entry::BackendEntry;
use super::error::{BalancerError, SelectError};
use super::ring::Ring;
use super::strategy::{Strategy, StrategyKind};
use super::view::PickView;
use crate::clock::{system_clock, Clock};
use crate::tracker::{BackendSnapshot, ConnectionGuard, EwmaParams, PoolSnapshot, PoolStats};

/// How often the pool re-asks the strategy when another thread took the picked slot
/// first, before falling back to a scan for any free backend.
const PICK_ATTEMPTS: usize = 3;

/// Construction options of a [`Pool`].
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub strategy: StrategyKind,
    pub clock: Arc<dyn Clock>,
    pub ewma: EwmaParams,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            strategy: StrategyKind::default(),
            clock: system_clock(),
            ewma: EwmaParams::default(),
        }
    }
}

/// State shared by the pool and its guards (guards outlive removals and the pool).
#[derive(Debug)]
pub struct PoolShared {
    pub(crate) stats: PoolStats,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ewma: EwmaParams,
    /// Healthy and not draining, kept exact under `flags`.
    routable: AtomicUsize,
    /// Serialises health/drain flips so `routable` counts each flip once.
    flags: Mutex<()>,
    /// Rotation for tie-breaking scans.
    rotation: AtomicUsize,
}

#[derive(Debug)]
struct Members {
    backends: Vec<Arc<BackendEntry>>,
    index: HashMap<Box<str>, usize>,
    ring: OnceLock<Ring>,
    strategy: Arc<dyn Strategy>,
    kind: StrategyKind,
}

impl Members {
    fn rebuild_index(&mut self) {
        self.index = self
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| (Box::from(b.id()), i))
            .collect();
        self.ring = OnceLock::new();
    }

    fn get(&self, id: &str) -> Result<&Arc<BackendEntry>, BalancerError> {
        self.index
            .get(id)
            .map(|&i| &self.backends[i])
            .ok_or_else(|| BalancerError::BackendNotFound(id.to_owned()))
    }
}

/// A pool of backends. `Send + Sync`; share it as `Arc<Pool>`.
///
/// Selections take a read lock for the duration of one pick (tens of nanoseconds);
/// membership changes take the write lock; health, drain and weight changes only flip
/// atomics.
#[derive(Debug)]
pub struct Pool {
    members: RwLock<Members>,
    shared: Arc<PoolShared>,
}

impl Default for Pool {
    fn default() -> Self {
        Self::with_options(PoolOptions::default())
    }
}

impl Pool {
    pub fn new(strategy: StrategyKind) -> Self {
        Self::with_options(PoolOptions {
            strategy,
            ..PoolOptions::default()
        })
    }

    pub fn with_options(opts: PoolOptions) -> Self {
        Self {
            members: RwLock::new(Members {
                backends: Vec::new(),
                index: HashMap::new(),
                ring: OnceLock::new(),
                strategy: opts.strategy.build(),
                kind: opts.strategy,
            }),
            shared: Arc::new(PoolShared {
                stats: PoolStats::default(),
                clock: opts.clock,
                ewma: opts.ewma,
                routable: AtomicUsize::new(0),
                flags: Mutex::new(()),
                rotation: AtomicUsize::new(0),
            }),
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    pub fn strategy(&self) -> StrategyKind {
        self.members.read().kind
    }

    /// Switches strategy; backend statistics (in-flight, totals, EWMAs) are kept.
    pub fn set_strategy(&self, kind: StrategyKind) {
        let mut m = self.members.write();
        if m.kind != kind {
            m.strategy = kind.build();
            m.kind = kind;
        }
    }

    /// Adds a backend (healthy, not draining).
    pub fn add(&self, backend: Backend) -> Result<(), BalancerError> {
        backend.validate()?;
        let entry = Arc::new(BackendEntry::new(
            backend,
            &self.shared.ewma,
            self.shared.clock.now_nanos(),
        ));
        let mut m = self.members.write();
        if m.index.contains_key(entry.id()) {
            return Err(BalancerError::DuplicateBackend(entry.id().to_owned()));
        }
        let _flags = self.shared.flags.lock();
        let at = m.backends.len();
        m.index.insert(Box::from(entry.id()), at);
        m.backends.push(entry);
        m.ring = OnceLock::new();
        self.shared.routable.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Removes a backend. Requests in flight on it finish normally (their guards keep
    /// the entry alive); the returned entry lets the caller watch them drain.
    pub fn remove(&self, id: &str) -> Result<Arc<BackendEntry>, BalancerError> {
        let mut m = self.members.write();
        let i = *m
            .index
            .get(id)
            .ok_or_else(|| BalancerError::BackendNotFound(id.to_owned()))?;
        let _flags = self.shared.flags.lock();
        let entry = m.backends.remove(i);
        if entry.is_routable() {
            self.shared.routable.fetch_sub(1, Ordering::AcqRel);
        }
        m.rebuild_index();
        Ok(entry)
    }

    /// Marks a backend healthy or not (health checks call this).
    pub fn set_healthy(&self, id: &str, healthy: bool) -> Result<(), BalancerError> {
        let m = self.members.read();
        let b = m.get(id)?;
        let _flags = self.shared.flags.lock();
        if b.swap_healthy(healthy) != healthy && !b.is_draining() {
            self.adjust_routable(healthy);
        }
        Ok(())
    }

    /// Stops new requests to a backend; in-flight ones finish. Watch
    /// `backend(id).stats().in_flight()` reach 0 before removing it.
    pub fn drain(&self, id: &str) -> Result<(), BalancerError> {
        self.set_draining(id, true)
    }

    /// Undoes [`Pool::drain`].
    pub fn undrain(&self, id: &str) -> Result<(), BalancerError> {
        self.set_draining(id, false)
    }

    fn set_draining(&self, id: &str, draining: bool) -> Result<(), BalancerError> {
        let m = self.members.read();
        let b = m.get(id)?;
        let _flags = self.shared.flags.lock();
        if b.swap_draining(draining) != draining && b.is_healthy() {
            self.adjust_routable(!draining);
        }
        Ok(())
    }

    fn adjust_routable(&self, up: bool) {
        if up {
            self.shared.routable.fetch_add(1, Ordering::AcqRel);
        } else {
            self.shared.routable.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Overrides a backend's weight; `None` restores the GPU-derived default.
    pub fn set_weight(&self, id: &str, weight: Option<u32>) -> Result<(), BalancerError> {
        if weight == Some(0) {
            return Err(BalancerError::invalid("weight", "must be at least 1"));
        }
        self.members.read().get(id)?.set_weight(weight);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<Arc<BackendEntry>> {
        self.members.read().get(id).ok().cloned()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.members.read().index.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.members.read().backends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Backend ids in pool order.
    pub fn ids(&self) -> Vec<String> {
        self.members
            .read()
            .backends
            .iter()
            .map(|b| b.id().to_owned())
            .collect()
    }

    /// Picks a backend and takes a slot on it. `affinity_key` is used by
    /// `consistent_hash` (and ignored by the other strategies).
    #[inline]
    pub fn select(&self, affinity_key: Option<&[u8]>) -> Result<ConnectionGuard, SelectError> {
        self.select_inner(affinity_key, None)
    }

    /// Like [`Pool::select`] but never returns `exclude_backend_id` (retry on another
    /// backend after a connection failure).
    pub fn select_excluding(
        &self,
        affinity_key: Option<&[u8]>,
        exclude_backend_id: &str,
    ) -> Result<ConnectionGuard, SelectError> {
        self.select_inner(affinity_key, Some(exclude_backend_id))
    }

    fn select_inner(
        &self,
        key: Option<&[u8]>,
        exclude: Option<&str>,
    ) -> Result<ConnectionGuard, SelectError> {
        let now = self.shared.clock.now_nanos();
        let m = self.members.read();
        let view = PickView {
            backends: &m.backends,
            ring: &m.ring,
            exclude,
            key,
            now,
            ewma: &self.shared.ewma,
            rotation: &self.shared.rotation,
            pool_in_flight: self.shared.stats.in_flight(),
            routable: self.shared.routable.load(Ordering::Acquire),
        };
        for _ in 0..PICK_ATTEMPTS {
            let Some(i) = m.strategy.pick(&view) else {
                break;
            };
            let b = &m.backends[i];
            if b.stats().try_acquire(b.max_concurrency()) {
                return Ok(ConnectionGuard::new(b.clone(), self.shared.clone(), now));
            }
        }
        // Lost every race (or the strategy found nothing): any free backend will do.
        let n = m.backends.len();
        let start = if n == 0 { 0 } else { fastrand::usize(..n) };
        for k in 0..n {
            let i = (start + k) % n;
            let b = &m.backends[i];
            if view.eligible(i) && b.stats().try_acquire(b.max_concurrency()) {
                return Ok(ConnectionGuard::new(b.clone(), self.shared.clone(), now));
            }
        }
        let any_routable = m
            .backends
            .iter()
            .any(|b| b.is_routable() && exclude != Some(b.id()));
        if any_routable {
            self.shared.stats.on_saturated();
            Err(SelectError::Saturated)
        } else {
            self.shared.stats.on_unavailable();
            Err(SelectError::NoHealthyBackend)
        }
    }

    pub fn snapshot(&self) -> PoolSnapshot {
        let m = self.members.read();
        let s = &self.shared.stats;
        PoolSnapshot {
            strategy: m.kind.name(),
            backends: m.backends.len(),
            routable: self.shared.routable.load(Ordering::Acquire),
            in_flight: s.in_flight(),
            total: m.backends.iter().map(|b| b.stats().total()).sum(),
            saturated: s.saturated(),
            unavailable: s.unavailable(),
        }
    }

    pub fn backend_snapshot(&self, id: &str) -> Result<BackendSnapshot, BalancerError> {
        let now = self.shared.clock.now_nanos();
        let m = self.members.read();
        Ok(m.get(id)?.snapshot(now, &self.shared.ewma))
    }

    pub fn backend_snapshots(&self) -> Vec<BackendSnapshot> {
        let now = self.shared.clock.now_nanos();
        let m = self.members.read();
        m.backends
            .iter()
            .map(|b| b.snapshot(now, &self.shared.ewma))
            .collect()
    }
}

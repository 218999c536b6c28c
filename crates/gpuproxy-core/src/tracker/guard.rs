//! The RAII slot a selection hands out.

use std::sync::Arc;
use std::time::Duration;

use crate::balancer::{BackendEntry, PoolShared};

/// How a request ended, as recorded by [`ConnectionGuard::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
}

/// Holds one concurrency slot on one backend.
///
/// Complete it with [`ConnectionGuard::complete`] (outcome and latency update the
/// backend's counters and EWMA). Dropping it without completing (client disconnect,
/// task cancellation, panic unwinding) still releases the slot and counts the request
/// as cancelled, so the in-flight count can never leak.
#[derive(Debug)]
pub struct ConnectionGuard {
    entry: Arc<BackendEntry>,
    pool: Arc<PoolShared>,
    started_nanos: u64,
    done: bool,
}

impl ConnectionGuard {
    /// Only the pool creates guards, after it has taken the slot.
    pub(crate) fn new(entry: Arc<BackendEntry>, pool: Arc<PoolShared>, now: u64) -> Self {
        pool.stats.on_acquire();
        Self {
            entry,
            pool,
            started_nanos: now,
            done: false,
        }
    }

    #[inline]
    pub fn backend_id(&self) -> &str {
        self.entry.id()
    }

    #[inline]
    pub fn address(&self) -> &str {
        self.entry.address()
    }

    /// The backend's shared state (labels, counters); cheap to clone.
    pub fn backend(&self) -> &Arc<BackendEntry> {
        &self.entry
    }

    /// When the slot was taken, in the pool clock's nanoseconds.
    pub fn started_nanos(&self) -> u64 {
        self.started_nanos
    }

    /// Time since selection according to the pool's clock.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(
            self.pool
                .clock
                .now_nanos()
                .saturating_sub(self.started_nanos),
        )
    }

    /// Records the outcome with an explicit latency and releases the slot.
    ///
    /// The completion time is taken as selection time + `latency`, which saves a clock
    /// read (tens of nanoseconds on virtual machines) on the hot path.
    pub fn complete(mut self, ok: bool, latency: Duration) {
        let latency = latency.as_nanos() as u64;
        self.finish_inner(ok, latency, self.started_nanos.saturating_add(latency));
    }

    /// Records the outcome with the latency measured since selection.
    pub fn finish(mut self, outcome: Outcome) {
        let now = self.pool.clock.now_nanos();
        let latency = now.saturating_sub(self.started_nanos);
        self.finish_inner(outcome == Outcome::Ok, latency, now);
    }

    /// Releases the slot without recording latency (counted as cancelled).
    pub fn release(self) {
        drop(self);
    }

    fn finish_inner(&mut self, ok: bool, latency_nanos: u64, now: u64) {
        if self.done {
            return;
        }
        self.done = true;
        self.entry
            .stats()
            .record(ok, latency_nanos, now, &self.pool.ewma);
        self.entry.stats().release();
        self.pool.stats.on_release();
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            self.entry.stats().record_cancelled();
            self.entry.stats().release();
            self.pool.stats.on_release();
        }
    }
}

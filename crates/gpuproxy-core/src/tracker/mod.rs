//! Connection tracking: per-backend atomics (in-flight, totals, errors, peak-EWMA
//! latency), the RAII [`ConnectionGuard`] that a selection returns, and cheap
//! read-only snapshots.
//!
//! Every counter is a relaxed atomic: readers (metrics, load endpoints) see values
//! that are individually exact and collectively "a moment ago", which is all a load
//! balancer needs. Nothing here takes a lock.

mod ewma;
mod guard;
mod snapshot;
mod stats;

pub use ewma::EwmaParams;
pub use guard::{ConnectionGuard, Outcome};
pub use snapshot::{BackendSnapshot, PoolSnapshot};
pub use stats::{BackendStats, PoolStats};

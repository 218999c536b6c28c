//! Load balancing: a [`Pool`] of backends, a [`Strategy`] trait and one file per
//! strategy.
//!
//! # API used by `forward/` (stable)
//!
//! ```text
//! Pool: Send + Sync, shared as Arc<Pool> across threads and tokio tasks.
//! Pool::new(StrategyKind) / Pool::with_options(PoolOptions { strategy, clock, ewma })
//! Pool::add(Backend) -> Result<(), BalancerError>          Backend::new(id, address)
//! Pool::remove(&str) / drain(&str) / undrain(&str) / set_healthy(&str, bool)
//! Pool::select(&self, affinity_key: Option<&[u8]>) -> Result<ConnectionGuard, SelectError>
//! Pool::select_excluding(&self, affinity_key: Option<&[u8]>, exclude_backend_id: &str)
//!     -> Result<ConnectionGuard, SelectError>              (retry on another backend)
//! SelectError::Saturated        all eligible backends at max concurrency: queue/wait,
//!                               not a failure (SelectError::is_saturated)
//! SelectError::NoHealthyBackend nothing can serve it (empty, unhealthy, drained, excluded)
//! ConnectionGuard: Send + Sync, 'static (owns Arcs); holds one concurrency slot.
//!   backend_id(&self) -> &str, address(&self) -> &str, elapsed(&self) -> Duration
//!   complete(self, ok: bool, latency: Duration)   records outcome + latency, frees slot
//!   finish(self, Outcome)                         same, latency measured since select
//!   release(self) / drop                          frees slot, counted as cancelled
//! ```
//!
//! Strategy names: [`STRATEGY_NAMES`]; `p2c_ewma` is the default.

mod backend;
mod consistent_hash;
mod entry;
mod equal_weighted;
mod error;
pub mod gpu_weights;
mod least_connections;
mod least_response_time;
mod p2c_ewma;
mod pool;
mod ring;
mod round_robin;
mod strategy;
mod view;
mod weighted_round_robin;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use backend::{Backend, BackendLabels};
pub use consistent_hash::load_cap;
pub use entry::BackendEntry;
pub use error::{BalancerError, SelectError};
pub use pool::{Pool, PoolOptions, PoolShared};
pub use ring::{stable_hash, Ring, VNODES_PER_BACKEND};
pub use strategy::{Strategy, StrategyKind, DEFAULT_STRATEGY, STRATEGY_NAMES};
pub use view::PickView;

//! Pure-Rust hot path of aiserve-gpuproxy.
//!
//! No Python here: `gpuproxy-py` wraps these types for the `gpuproxy._core` module.

pub mod balancer;
pub mod clock;
pub mod forward;
pub mod gateway;
pub mod limits;
pub mod tracker;

/// The crate version, exposed to Python as `gpuproxy._core.__version__`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

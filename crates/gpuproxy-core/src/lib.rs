//! Pure-Rust hot path of aiserve-gpuproxy.
//!
//! No Python here: `gpuproxy-py` wraps these types for the `gpuproxy._core` module.

/// The crate version, exposed to Python as `gpuproxy._core.__version__`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

//! Classification shared by every error enum of the core crate.
//!
//! Each area (balancer, limits, forward, ...) has its own error enum; all of them
//! implement [`Classify`] so callers (the binding, metrics, the HTTP layer) can decide
//! on retries and status codes without matching every variant.

/// Who is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorSide {
    /// A backend / third party failed (maps to 502/503/504).
    Upstream,
    /// The caller asked for something invalid or over a limit (maps to 4xx).
    Downstream,
    /// A bug or broken invariant in this process (maps to 500).
    Internal,
}

/// An error's classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorClass {
    pub side: ErrorSide,
    /// Whether retrying the same operation later can succeed without changing input.
    pub retryable: bool,
}

impl ErrorClass {
    pub const fn new(side: ErrorSide, retryable: bool) -> Self {
        Self { side, retryable }
    }
}

/// Implemented by every core error enum.
pub trait Classify {
    fn class(&self) -> ErrorClass;
}

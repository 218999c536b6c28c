//! Errors of the balancer area.

/// Why a pool operation (add/remove/configure) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalancerError {
    #[error("backend {0:?} is already in the pool")]
    DuplicateBackend(String),
    #[error("backend {0:?} is not in the pool")]
    BackendNotFound(String),
    #[error("unknown strategy {name:?}; expected one of: {expected}")]
    UnknownStrategy { name: String, expected: String },
    #[error("invalid backend {field}: {reason}")]
    InvalidBackend {
        field: &'static str,
        reason: &'static str,
    },
}

impl BalancerError {
    pub(crate) fn invalid(field: &'static str, reason: &'static str) -> Self {
        Self::InvalidBackend { field, reason }
    }
}

/// Why [`super::Pool::select`] returned no guard.
///
/// `Saturated` is the admission-queue signal, not a failure: every eligible backend is
/// at its `max_concurrency` and a slot will free up. `NoHealthyBackend` means nothing
/// could serve the request however long it waited (empty pool, all unhealthy or
/// draining, or the only candidate was excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("every eligible backend is at its maximum concurrency")]
    Saturated,
    #[error("no healthy backend in the pool")]
    NoHealthyBackend,
}

impl SelectError {
    /// True for the "wait and retry" case.
    pub fn is_saturated(self) -> bool {
        self == Self::Saturated
    }
}

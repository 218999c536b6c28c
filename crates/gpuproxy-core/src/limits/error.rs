//! Errors of the limits area (spend windows, rate limiting).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// A reservation would take these windows past their limits; nothing was reserved.
    #[error("spend limit exceeded in window(s) {}", windows.join(", "))]
    SpendLimitExceeded { windows: Vec<&'static str> },
    #[error("unknown spend window {name:?}; expected one of: {expected}")]
    UnknownWindow { name: String, expected: String },
    /// The rate limiter refused; retrying after `retry_after_ms` will succeed (if
    /// nothing else is spent on the key meanwhile).
    #[error("rate limited; retry after {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    /// A request costs more than the burst allows, so it can never be admitted.
    #[error("cost {cost} exceeds the burst of {burst}")]
    CostExceedsBurst { cost: u32, burst: u32 },
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
    /// The reservation was already committed or released.
    #[error("reservation already settled")]
    AlreadySettled,
}

impl LimitsError {
    pub(crate) fn invalid(field: &'static str, reason: &'static str) -> Self {
        Self::Invalid { field, reason }
    }
}

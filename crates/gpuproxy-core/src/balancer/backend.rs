//! A backend's configuration: where it is, how much it can take, what GPU it runs.

use super::error::BalancerError;
use super::gpu_weights::default_weight;

/// Descriptive labels; `gpu_model`, `gpu_count`, `vram_gb` and `price_per_hour_micros`
/// feed the default weight of `weighted_round_robin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendLabels {
    pub gpu_model: Option<String>,
    /// GPUs behind this address (0 is read as 1).
    pub gpu_count: u32,
    pub vram_gb: u32,
    /// Rental price, micro-dollars per hour.
    pub price_per_hour_micros: u64,
    pub provider: Option<String>,
    pub region: Option<String>,
}

/// What a caller passes to [`super::Pool::add`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub id: String,
    /// `host:port` or a URL; the forwarder interprets it, the balancer does not.
    pub address: String,
    /// Explicit weight (>= 1); `None` derives one from the labels.
    pub weight: Option<u32>,
    /// Maximum in-flight requests (>= 1); `None` = unlimited.
    pub max_concurrency: Option<u32>,
    pub labels: BackendLabels,
    /// The `Authorization` value the gateway sends to this backend (a worker's
    /// per-instance secret); it replaces whatever the client sent. Never in snapshots.
    pub authorization: Option<String>,
}

impl Backend {
    pub fn new(id: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            address: address.into(),
            weight: None,
            max_concurrency: None,
            labels: BackendLabels::default(),
            authorization: None,
        }
    }

    #[must_use]
    pub fn with_authorization(mut self, value: impl Into<String>) -> Self {
        self.authorization = Some(value.into());
        self
    }

    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = Some(weight);
        self
    }

    #[must_use]
    pub fn with_max_concurrency(mut self, max: u32) -> Self {
        self.max_concurrency = Some(max);
        self
    }

    #[must_use]
    pub fn with_labels(mut self, labels: BackendLabels) -> Self {
        self.labels = labels;
        self
    }

    /// The explicit weight, or one derived from the GPU labels.
    pub fn effective_weight(&self) -> u32 {
        self.weight.unwrap_or_else(|| default_weight(&self.labels))
    }

    pub(crate) fn validate(&self) -> Result<(), BalancerError> {
        if self.id.is_empty() {
            return Err(BalancerError::invalid("id", "must not be empty"));
        }
        if self.address.is_empty() {
            return Err(BalancerError::invalid("address", "must not be empty"));
        }
        if let Some(auth) = &self.authorization {
            if auth.is_empty() || http::HeaderValue::from_str(auth).is_err() {
                return Err(BalancerError::invalid(
                    "authorization",
                    "must be a non-empty header value (visible ASCII)",
                ));
            }
        }
        if self.weight == Some(0) {
            return Err(BalancerError::invalid("weight", "must be at least 1"));
        }
        if self.max_concurrency == Some(0) {
            return Err(BalancerError::invalid(
                "max_concurrency",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

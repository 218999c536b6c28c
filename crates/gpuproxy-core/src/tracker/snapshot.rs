//! Read-only copies of the counters, for load endpoints and metrics.

/// One backend at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendSnapshot {
    pub id: String,
    pub address: String,
    pub healthy: bool,
    pub draining: bool,
    /// Weight in effect (explicit or derived from the GPU labels).
    pub weight: u32,
    /// `None` = unlimited.
    pub max_concurrency: Option<u32>,
    pub in_flight: u32,
    pub total: u64,
    pub ok: u64,
    pub errors: u64,
    pub cancelled: u64,
    /// Peak-EWMA latency now, nanoseconds.
    pub ewma_latency_nanos: u64,
    /// Mean latency of completed requests, nanoseconds.
    pub mean_latency_nanos: u64,
    pub gpu_model: Option<String>,
    pub gpu_count: u32,
    pub vram_gb: u32,
    pub price_per_hour_micros: u64,
    pub provider: Option<String>,
    pub region: Option<String>,
}

/// A whole pool at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSnapshot {
    pub strategy: &'static str,
    pub backends: usize,
    /// Healthy and not draining.
    pub routable: usize,
    pub in_flight: u64,
    /// Requests handed to the backends currently in the pool.
    pub total: u64,
    pub saturated: u64,
    pub unavailable: u64,
}

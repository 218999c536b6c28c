//! What the control plane configures the data plane with (from GATEWAY_* settings).

use std::time::Duration;

use crate::forward::ForwardConfig;

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest request body accepted (413 past it).
    pub max_request_bytes: usize,
    /// The completion cap held (and forwarded) when a request sends no max_tokens.
    pub default_max_tokens: u64,
    /// Admission queue: default and largest wait (X-Timelimit), and depth.
    pub queue_timeout: Duration,
    pub queue_max_timeout: Duration,
    pub queue_max_depth: usize,
    /// Longest silence between two chunks of a streamed answer.
    pub stall_timeout: Duration,
    /// How long a request waits for Python's answer to a callback (then 503).
    pub callback_timeout: Duration,
    pub callback_queue: usize,
    /// Settlements buffered for Python (503 for new requests when full).
    pub usage_ring: usize,
    /// Money is governed (a billing service runs): requests need an allowance.
    pub billing: bool,
    /// Failed authentications allowed per client IP per minute (then 429).
    pub auth_failures_per_minute: u32,
    /// Credentials remembered.
    pub key_cache_entries: usize,
    /// Rate limits shared through Redis: (URL, the GCRA script's Lua text).
    pub shared_rate_limits: Option<(String, String)>,
    pub forward: ForwardConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: 4 * 1024 * 1024,
            default_max_tokens: 4096,
            queue_timeout: Duration::from_secs(30),
            queue_max_timeout: Duration::from_secs(300),
            queue_max_depth: 1000,
            stall_timeout: Duration::from_secs(120),
            callback_timeout: Duration::from_secs(10),
            callback_queue: 4096,
            usage_ring: 65_536,
            billing: true,
            auth_failures_per_minute: 60,
            key_cache_entries: 100_000,
            shared_rate_limits: None,
            forward: ForwardConfig::default(),
        }
    }
}

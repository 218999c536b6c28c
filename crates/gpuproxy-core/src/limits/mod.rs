//! Spending guard rails and rate limiting.
//!
//! * [`SpendWindows`]: per-account spending over the 17 windows ([`SPEND_WINDOW_NAMES`]),
//!   true sliding windows bucketed at <= 1/60 of each window (see `cascade`), with
//!   all-or-nothing reservations ([`Reservation`], RAII).
//! * [`RateLimiter`]: GCRA per key with bounded memory.
//!
//! Time comes from an injected [`crate::clock::Clock`] so tests are deterministic.
//!
//! # Memory per account
//!
//! Measured by `memory_per_account_matches_the_docs` (64-bit):
//!
//! * idle account (no spend in the last 72 h, no overrides, nothing reserved): about
//!   80 bytes plus its id (map slot, `Arc<Mutex<_>>`, a 24-byte state): ~10,000 per MB;
//! * account with spending inside the last 72 h: + 3,872 bytes of history (446 `u64`
//!   buckets and tier bookkeeping): ~250 per MB;
//! * limit overrides: + 144 bytes.
//!
//! The history block is the price of the stated accuracy (each window bucketed at
//! <= 1/60 of its length). The cascade shares buckets between windows (446 instead of
//! 17 x 60 = 1,020), allocates the block on the first spend, frees it once the last
//! spend ages out of 72 h, and `purge_idle` drops idle accounts altogether.

mod account;
mod cascade;
mod error;
mod gcra;
mod spend;
mod windows;

#[cfg(test)]
mod tests;

pub use account::{WindowStatus, UNLIMITED};
pub use error::LimitsError;
pub use gcra::{Quota, RateLimiter};
pub use spend::{Reservation, SpendWindows};
pub use windows::{
    window_index, window_millis, GRANULARITY_MILLIS, SPEND_WINDOW_NAMES, TOTAL_SLOTS, WINDOW_COUNT,
    WINDOW_MINUTES,
};

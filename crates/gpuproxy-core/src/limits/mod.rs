//! Spending guard rails and rate limiting.
//!
//! * [`SpendWindows`]: per-account spending over the 17 windows ([`SPEND_WINDOW_NAMES`]),
//!   true sliding windows bucketed at <= 1/60 of each window, stored sparsely (see
//!   `cascade`), with
//!   all-or-nothing reservations ([`Reservation`], RAII).
//! * [`RateLimiter`]: GCRA per key with bounded memory.
//!
//! Time comes from an injected [`crate::clock::Clock`] so tests are deterministic.
//!
//! # Memory per account
//!
//! Measured by `memory_per_account_matches_the_docs` (64-bit, whole account: map slot,
//! `Arc<Mutex<_>>`, state, a 9-byte id; a realistic LLM cost per spend):
//!
//! | account | bytes | per MB |
//! |---|---|---|
//! | idle (no spend in 72 h, no overrides, nothing reserved) | 82 | ~12,000 |
//! | one spend in the last 72 h | 330 | ~3,000 |
//! | one spend per minute for 1 h | 802 | ~1,250 |
//! | one spend per minute for 24 h | 2,498 | ~400 |
//! | one spend per minute for 72 h | 3,074 | ~330 |
//! | worst case: a spend every 5 s for 72 h | 3,802 | ~260 |
//!
//! Limit overrides add 144 bytes. The history is sparse (`cascade`): a 216-byte header
//! (per-tier sums and boundaries) plus 8 bytes per non-empty bucket, allocated on the
//! first spend and freed once the last spend ages out of 72 h; `purge_idle` drops idle
//! accounts altogether. Before (dense rings of all 446 buckets) every account with any
//! spend in 72 h cost 3,954 bytes. Steady spending cannot get much below the table:
//! to stay within one bucket of <= 1/60 of each window as time moves on, a history must
//! keep one amount per occupied bucket of the tier each spend still has to leave
//! (~317 buckets for one spend per minute over 72 h, whatever the layout).

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

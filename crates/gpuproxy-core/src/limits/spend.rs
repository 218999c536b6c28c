//! Per-account spend windows with reserve / commit / release.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::account::{Account, WindowStatus, UNLIMITED};
use super::error::LimitsError;
use super::windows::{window_index, SPEND_WINDOW_NAMES, WINDOW_COUNT};
use crate::clock::{system_clock, Clock};

const SHARDS: usize = 32;

type Cell = Arc<Mutex<Account>>;
type Shard = RwLock<HashMap<Box<str>, Cell>>;

/// Spend windows of many accounts. `Send + Sync`; share it as `Arc<SpendWindows>`.
///
/// Each account has its own mutex: a reservation checks all 17 windows and books the
/// amount under it, so concurrent reservations can never take a window past its limit.
/// Accounts live in sharded maps (read-locked on the hot path).
#[derive(Debug)]
pub struct SpendWindows {
    shards: Box<[Shard]>,
    hasher: std::collections::hash_map::RandomState,
    defaults: [AtomicU64; WINDOW_COUNT],
    clock: Arc<dyn Clock>,
}

impl Default for SpendWindows {
    fn default() -> Self {
        Self::new(system_clock())
    }
}

impl SpendWindows {
    /// No default limits (every window unlimited until set).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            defaults: std::array::from_fn(|_| AtomicU64::new(UNLIMITED)),
            clock,
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Parses a window name (`"5min"` ... `"1440min"`, `"48h"`, `"72h"`).
    pub fn window(name: &str) -> Result<usize, LimitsError> {
        window_index(name).ok_or_else(|| LimitsError::UnknownWindow {
            name: name.to_owned(),
            expected: SPEND_WINDOW_NAMES.join(", "),
        })
    }

    /// Sets the limit of window `k` for accounts without an override (`None` = none).
    pub fn set_default_limit(&self, k: usize, limit: Option<u64>) {
        self.defaults[k].store(limit.unwrap_or(UNLIMITED), Ordering::Relaxed);
    }

    pub fn default_limits(&self) -> [Option<u64>; WINDOW_COUNT] {
        std::array::from_fn(|k| {
            let v = self.defaults[k].load(Ordering::Relaxed);
            (v != UNLIMITED).then_some(v)
        })
    }

    fn defaults(&self) -> [u64; WINDOW_COUNT] {
        std::array::from_fn(|k| self.defaults[k].load(Ordering::Relaxed))
    }

    fn shard(&self, account: &str) -> &Shard {
        &self.shards[(self.hasher.hash_one(account) as usize) % SHARDS]
    }

    fn cell(&self, account: &str) -> Cell {
        let shard = self.shard(account);
        if let Some(c) = shard.read().get(account) {
            return c.clone();
        }
        shard.write().entry(Box::from(account)).or_default().clone()
    }

    fn existing(&self, account: &str) -> Option<Cell> {
        self.shard(account).read().get(account).cloned()
    }

    /// Overrides window limits for one account (`None` = no limit in that window).
    pub fn set_limits(&self, account: &str, limits: &[(usize, Option<u64>)]) {
        let cell = self.cell(account);
        let mut a = cell.lock();
        for &(k, l) in limits {
            a.set_limit(k, l.unwrap_or(UNLIMITED));
        }
    }

    /// Drops an account's overrides: it follows the defaults again.
    pub fn clear_limits(&self, account: &str) {
        if let Some(c) = self.existing(account) {
            c.lock().clear_limits();
        }
    }

    /// Forgets an account's committed spending (outstanding reservations stay).
    pub fn reset_spent(&self, account: &str) {
        if let Some(c) = self.existing(account) {
            c.lock().reset_spent();
        }
    }

    /// Reserves `amount` micro-dollars against every window at once, or none: on
    /// failure the error names every window that would be exceeded.
    pub fn reserve(&self, account: &str, amount: u64) -> Result<Reservation, LimitsError> {
        let cell = self.cell(account);
        let defaults = self.defaults();
        let now = self.clock.now_millis();
        {
            let mut a = cell.lock();
            if !a.fits(now, amount, &defaults) {
                return Err(LimitsError::SpendLimitExceeded {
                    windows: a.would_exceed(now, amount, &defaults),
                });
            }
            a.reserved += amount;
        }
        Ok(Reservation {
            cell,
            clock: self.clock.clone(),
            amount,
            settled: false,
        })
    }

    /// Windows that `amount` more would exceed (empty = it fits); reserves nothing.
    pub fn check(&self, account: &str, amount: u64) -> Vec<&'static str> {
        let defaults = self.defaults();
        let now = self.clock.now_millis();
        match self.existing(account) {
            Some(c) => c.lock().would_exceed(now, amount, &defaults),
            None => Account::default().would_exceed(now, amount, &defaults),
        }
    }

    /// Records spending that needs no admission (reconciliation, rental bills).
    pub fn record(&self, account: &str, amount: u64) {
        let now = self.clock.now_millis();
        self.cell(account).lock().add(now, amount);
    }

    /// Spent / limit / remaining / exceeded per window, shortest first.
    pub fn status(&self, account: &str) -> [WindowStatus; WINDOW_COUNT] {
        let defaults = self.defaults();
        let now = self.clock.now_millis();
        match self.existing(account) {
            Some(c) => c.lock().status(now, &defaults),
            None => Account::default().status(now, &defaults),
        }
    }

    /// Number of accounts held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops accounts with nothing to remember (no spend within 72 h, no overrides, no
    /// outstanding reservation); returns how many. Call it periodically.
    pub fn purge_idle(&self) -> usize {
        let now = self.clock.now_millis();
        let mut removed = 0;
        for shard in &*self.shards {
            let mut map = shard.write();
            let before = map.len();
            // strong_count == 1: no reservation or concurrent call holds the cell (new
            // holders need this shard's lock, which we hold).
            map.retain(|_, c| Arc::strong_count(c) > 1 || !c.lock().is_idle(now));
            removed += before - map.len();
        }
        removed
    }

    /// Approximate bytes held: per-account state plus map entries.
    pub fn memory_bytes(&self) -> usize {
        // Map slot + control byte, the Arc allocation (two counters + the mutex), the id.
        let entry = std::mem::size_of::<(Box<str>, Cell)>()
            + 1
            + 16
            + std::mem::size_of::<Mutex<Account>>()
            - std::mem::size_of::<Account>();
        self.shards
            .iter()
            .map(|s| {
                s.read()
                    .iter()
                    .map(|(k, c)| entry + k.len() + c.lock().heap_bytes())
                    .sum::<usize>()
            })
            .sum()
    }
}

/// An amount held against every window of one account until committed or released.
/// Dropping it releases it (RAII), so a cancelled request frees its budget.
#[derive(Debug)]
pub struct Reservation {
    cell: Cell,
    clock: Arc<dyn Clock>,
    amount: u64,
    settled: bool,
}

impl Reservation {
    pub fn amount(&self) -> u64 {
        self.amount
    }

    /// Books the actual cost (which may be more or less than reserved) at the current
    /// time and frees the reservation.
    pub fn commit(mut self, actual: u64) {
        let now = self.clock.now_millis();
        let mut a = self.cell.lock();
        a.reserved -= self.amount;
        a.add(now, actual);
        self.settled = true;
    }

    /// Frees the reservation without spending anything.
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            self.cell.lock().reserved -= self.amount;
        }
    }
}

//! One account's spend state: outstanding reservations, limit overrides, history.

use super::cascade::Cascade;
use super::windows::{SPEND_WINDOW_NAMES, WINDOW_COUNT};

/// `u64::MAX` as a limit means "no limit".
pub const UNLIMITED: u64 = u64::MAX;

/// Per-account limit overrides; allocated only for accounts that have any.
#[derive(Debug, Clone)]
struct Overrides {
    /// Bit k set: window k uses `limits[k]` instead of the default.
    mask: u32,
    limits: [u64; WINDOW_COUNT],
}

/// The state behind one account's mutex. An idle account (nothing spent in 72 h, no
/// overrides) is three words; history and overrides are boxed on demand.
#[derive(Debug, Default)]
pub(crate) struct Account {
    /// Sum of outstanding reservations; counts against every window.
    pub(crate) reserved: u64,
    overrides: Option<Box<Overrides>>,
    history: Option<Box<Cascade>>,
}

/// One window's figures, as returned by `SpendWindows::status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowStatus {
    pub name: &'static str,
    /// Committed spend inside the window (micro-dollars).
    pub spent: u64,
    /// Outstanding reservations (the same for every window).
    pub reserved: u64,
    /// `None` = no limit.
    pub limit: Option<u64>,
    /// `limit - spent - reserved`, floored at 0; `None` without a limit.
    pub remaining: Option<u64>,
    /// `spent` is above the limit (possible when actual costs exceed estimates).
    pub exceeded: bool,
}

impl Account {
    pub(crate) fn limits(&self, defaults: &[u64; WINDOW_COUNT]) -> [u64; WINDOW_COUNT] {
        match &self.overrides {
            None => *defaults,
            Some(o) => std::array::from_fn(|k| {
                if o.mask & (1 << k) != 0 {
                    o.limits[k]
                } else {
                    defaults[k]
                }
            }),
        }
    }

    pub(crate) fn set_limit(&mut self, k: usize, limit: u64) {
        let o = self.overrides.get_or_insert_with(|| {
            Box::new(Overrides {
                mask: 0,
                limits: [UNLIMITED; WINDOW_COUNT],
            })
        });
        o.mask |= 1 << k;
        o.limits[k] = limit;
    }

    pub(crate) fn clear_limits(&mut self) {
        self.overrides = None;
    }

    /// Spend per window as of `now`; frees the history once everything aged out.
    #[inline]
    pub(crate) fn spent(&mut self, now: u64) -> [u64; WINDOW_COUNT] {
        match self.history.as_deref_mut() {
            None => [0; WINDOW_COUNT],
            Some(h) => {
                h.advance(now);
                if h.is_empty() {
                    self.history = None;
                    [0; WINDOW_COUNT]
                } else {
                    h.window_sums()
                }
            }
        }
    }

    #[inline]
    pub(crate) fn add(&mut self, now: u64, amount: u64) {
        if amount > 0 {
            self.history
                .get_or_insert_with(|| Box::new(Cascade::new(now)))
                .add(now, amount);
        }
    }

    /// Names of the windows where `amount` more would pass the limit.
    pub(crate) fn would_exceed(
        &mut self,
        now: u64,
        amount: u64,
        defaults: &[u64; WINDOW_COUNT],
    ) -> Vec<&'static str> {
        let spent = self.spent(now);
        let limits = self.limits(defaults);
        let extra = u128::from(self.reserved) + u128::from(amount);
        (0..WINDOW_COUNT)
            .filter(|&k| {
                limits[k] != UNLIMITED && u128::from(spent[k]) + extra > u128::from(limits[k])
            })
            .map(|k| SPEND_WINDOW_NAMES[k])
            .collect()
    }

    /// Whether `amount` fits every window; the allocation-free fast path of reserve.
    #[inline]
    pub(crate) fn fits(&mut self, now: u64, amount: u64, defaults: &[u64; WINDOW_COUNT]) -> bool {
        let spent = self.spent(now);
        let limits = self.limits(defaults);
        let extra = u128::from(self.reserved) + u128::from(amount);
        (0..WINDOW_COUNT).all(|k| u128::from(spent[k]) + extra <= u128::from(limits[k]))
    }

    pub(crate) fn status(
        &mut self,
        now: u64,
        defaults: &[u64; WINDOW_COUNT],
    ) -> [WindowStatus; WINDOW_COUNT] {
        let spent = self.spent(now);
        let limits = self.limits(defaults);
        let reserved = self.reserved;
        std::array::from_fn(|k| {
            let limit = (limits[k] != UNLIMITED).then_some(limits[k]);
            WindowStatus {
                name: SPEND_WINDOW_NAMES[k],
                spent: spent[k],
                reserved,
                limit,
                remaining: limit.map(|l| l.saturating_sub(spent[k].saturating_add(reserved))),
                exceeded: limit.is_some_and(|l| spent[k] > l),
            }
        })
    }

    pub(crate) fn reset_spent(&mut self) {
        self.history = None;
    }

    /// Nothing worth keeping: the account can be dropped from the map.
    pub(crate) fn is_idle(&mut self, now: u64) -> bool {
        self.reserved == 0 && self.overrides.is_none() && {
            self.spent(now);
            self.history.is_none()
        }
    }

    /// Bytes held by this account's state (excluding the map entry).
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .overrides
                .as_ref()
                .map_or(0, |_| std::mem::size_of::<Overrides>())
            + self.history.as_ref().map_or(0, |h| h.bytes())
    }
}

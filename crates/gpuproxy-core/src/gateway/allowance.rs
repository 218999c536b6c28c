//! Spend allowances: money the control plane has already reserved for a user, spent by
//! the hot path without asking again.
//!
//! Python owns the money counters (17 spend windows shared through Redis, the credit gate,
//! quotas). Asking it for every request would put the GIL back on the hot path, so it
//! reserves an *allowance* at once through the same `BillingService.reserve` every other
//! spender uses: max(the request's worst case, GATEWAY_ALLOWANCE_MICROS), valid for
//! GATEWAY_ALLOWANCE_TTL_MS. Requests then take holds from it with one atomic step and give
//! back what they did not spend. When it runs short or expires, the next request asks for
//! a new one (single-flight per user) and the old one is retired: once its last request
//! has settled, `LeaseClosed { spent }` goes to Python, which commits `spent` to the
//! windows and releases the rest.
//!
//! Why it is safe: every micro-dollar a request can spend was reserved in the shared
//! windows before the request was admitted, so the cross-instance overspend bound is the
//! one the windows already state. What it costs: up to one allowance per user per process
//! is held but unspent, which another process cannot use until it expires (TTL) - the
//! allowance falls back to the request's own worst case when a larger one is refused.
//! A user with a request quota gets single-use allowances (each request is counted).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::usage::{UsageEvent, UsageRing};

#[derive(Debug)]
pub struct Lease {
    pub id: u64,
    pub user_id: Arc<str>,
    remaining: AtomicI64,
    spent: AtomicU64,
    inflight: AtomicU32,
    retired: AtomicBool,
    closed: AtomicBool,
    expires_at: Instant,
    hard_expires_at: Instant,
    /// From here on (the last quarter of its life) a request asks for the next allowance
    /// in the background, so no request waits for the control plane at the expiry.
    renew_at: Instant,
    renewing: AtomicBool,
    single_use: bool,
    ring: Arc<UsageRing>,
}

impl Lease {
    fn retire(&self) {
        self.retired.store(true, SeqCst);
        if self.inflight.load(SeqCst) == 0 {
            self.try_close();
        }
    }

    fn try_close(&self) {
        if !self.closed.swap(true, SeqCst) {
            self.ring.push_always(UsageEvent::LeaseClosed {
                lease_id: self.id,
                spent: self.spent.load(SeqCst),
            });
        }
    }

    fn leave(&self) {
        if self.inflight.fetch_sub(1, SeqCst) == 1 && self.retired.load(SeqCst) {
            self.try_close();
        }
    }

    pub fn remaining(&self) -> i64 {
        self.remaining.load(SeqCst)
    }

    /// True once per allowance, for the first request past `renew_at`.
    pub fn claim_renewal(&self, now: Instant) -> bool {
        !self.single_use
            && now >= self.renew_at
            && !self.retired.load(SeqCst)
            && !self.renewing.swap(true, SeqCst)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(SeqCst)
    }

    /// Past its expiry an allowance still serves while its renewal is on the way (the
    /// money stays reserved until it closes, so this is safe), up to a second lifetime: a
    /// busy control plane then delays the renewal, not the requests.
    fn expired(&self, now: Instant) -> bool {
        now >= self.hard_expires_at || (now >= self.expires_at && !self.renewing.load(SeqCst))
    }

    fn take(self: &Arc<Self>, amount: u64, now: Instant) -> Option<Hold> {
        if self.expired(now) {
            return None;
        }
        self.inflight.fetch_add(1, SeqCst);
        if self.retired.load(SeqCst) {
            self.leave();
            return None;
        }
        let amount_i = i64::try_from(amount).unwrap_or(i64::MAX);
        let mut cur = self.remaining.load(SeqCst);
        loop {
            if cur < amount_i {
                self.leave();
                return None;
            }
            match self
                .remaining
                .compare_exchange_weak(cur, cur - amount_i, SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(now_val) => cur = now_val,
            }
        }
        if self.single_use {
            self.retire();
        }
        Some(Hold {
            lease: Arc::clone(self),
            amount,
            settled: false,
        })
    }
}

/// Part of an allowance held by one request. Settle it with the actual cost; dropping it
/// unsettled (panic, cancellation before settlement) charges nothing.
#[derive(Debug)]
pub struct Hold {
    lease: Arc<Lease>,
    amount: u64,
    settled: bool,
}

impl Hold {
    pub fn amount(&self) -> u64 {
        self.amount
    }

    pub fn lease_id(&self) -> u64 {
        self.lease.id
    }

    /// The allowance this hold was taken from.
    pub fn lease(&self) -> &Arc<Lease> {
        &self.lease
    }

    /// Charges `actual` (may exceed the hold: the allowance absorbs it) and gives back the rest.
    pub fn settle(mut self, actual: u64) {
        self.finish(actual);
    }

    fn finish(&mut self, actual: u64) {
        if self.settled {
            return;
        }
        self.settled = true;
        let back = i64::try_from(self.amount).unwrap_or(i64::MAX)
            - i64::try_from(actual).unwrap_or(i64::MAX);
        self.lease.remaining.fetch_add(back, SeqCst);
        self.lease.spent.fetch_add(actual, SeqCst);
        self.lease.leave();
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.finish(0);
    }
}

/// The live allowance of each user of this process.
#[derive(Debug)]
pub struct Allowances {
    live: Mutex<HashMap<Arc<str>, Arc<Lease>>>,
    ring: Arc<UsageRing>,
}

impl Allowances {
    pub fn new(ring: Arc<UsageRing>) -> Self {
        Self {
            live: Mutex::new(HashMap::new()),
            ring,
        }
    }

    /// A hold of `amount` from the user's live allowance, or `None` (ask for a new one).
    pub fn try_hold(&self, user_id: &str, amount: u64, now: Instant) -> Option<Hold> {
        let lease = self.live.lock().get(user_id).cloned()?;
        lease.take(amount, now)
    }

    /// Installs a granted allowance (retiring the user's previous one) and takes `amount`
    /// from it for the request that asked. `None` if even that does not fit (the grant
    /// was smaller than asked: a bug on the other side, answered as a refusal).
    pub fn install(
        &self,
        user_id: &Arc<str>,
        lease_id: u64,
        granted: u64,
        ttl: Duration,
        single_use: bool,
    ) -> Arc<Lease> {
        let lease = Arc::new(Lease {
            id: lease_id,
            user_id: Arc::clone(user_id),
            remaining: AtomicI64::new(i64::try_from(granted).unwrap_or(i64::MAX)),
            spent: AtomicU64::new(0),
            inflight: AtomicU32::new(0),
            retired: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            expires_at: Instant::now() + ttl,
            hard_expires_at: Instant::now() + ttl * 2,
            renew_at: Instant::now() + ttl * 3 / 4,
            renewing: AtomicBool::new(false),
            single_use,
            ring: Arc::clone(&self.ring),
        });
        let old = self
            .live
            .lock()
            .insert(Arc::clone(user_id), Arc::clone(&lease));
        if let Some(old) = old {
            old.retire();
        }
        lease
    }

    /// Takes `amount` from a specific allowance (the one just granted to this request).
    pub fn hold_from(lease: &Arc<Lease>, amount: u64) -> Option<Hold> {
        lease.take(amount, Instant::now())
    }

    /// Retires allowances past their expiry (their money goes back once settled).
    pub fn sweep(&self, now: Instant) -> usize {
        let expired: Vec<Arc<Lease>> = {
            let mut live = self.live.lock();
            let gone: Vec<Arc<str>> = live
                .iter()
                .filter(|(_, l)| l.expired(now) || l.retired.load(SeqCst))
                .map(|(u, _)| Arc::clone(u))
                .collect();
            gone.iter().filter_map(|u| live.remove(u)).collect()
        };
        for lease in &expired {
            lease.retire();
        }
        expired.len()
    }

    /// Retires one user's allowance (limits or credits changed), or all with `None`.
    pub fn retire(&self, user_id: Option<&str>) {
        let gone: Vec<Arc<Lease>> = {
            let mut live = self.live.lock();
            match user_id {
                Some(u) => live.remove(u).into_iter().collect(),
                None => live.drain().map(|(_, l)| l).collect(),
            }
        };
        for lease in gone {
            lease.retire();
        }
    }

    pub fn live(&self) -> usize {
        self.live.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Arc<UsageRing>, Allowances, Arc<str>) {
        let ring = UsageRing::new(100);
        let a = Allowances::new(Arc::clone(&ring));
        (ring, a, Arc::from("u"))
    }

    #[test]
    fn holds_settle_and_close_reports_the_total() {
        let (ring, a, u) = setup();
        let lease = a.install(&u, 7, 100, Duration::from_secs(60), false);
        let h1 = Allowances::hold_from(&lease, 40).unwrap();
        let h2 = a.try_hold("u", 50, Instant::now()).unwrap();
        assert!(
            a.try_hold("u", 20, Instant::now()).is_none(),
            "only 10 left"
        );
        h1.settle(30);
        assert_eq!(lease.remaining(), 20);
        a.retire(Some("u"));
        assert!(ring.drain(10).is_empty(), "h2 still in flight");
        drop(h2); // cancelled before settlement: charges nothing
        assert_eq!(
            ring.drain(10),
            vec![UsageEvent::LeaseClosed {
                lease_id: 7,
                spent: 30
            }]
        );
    }

    #[test]
    fn new_grant_retires_the_old_and_expiry_sweeps() {
        let (ring, a, u) = setup();
        let l1 = a.install(&u, 1, 10, Duration::from_millis(0), false);
        assert!(Allowances::hold_from(&l1, 1).is_none(), "expired at once");
        a.install(&u, 2, 10, Duration::from_secs(60), false);
        assert_eq!(
            ring.drain(10),
            vec![UsageEvent::LeaseClosed {
                lease_id: 1,
                spent: 0
            }]
        );
        assert_eq!(a.sweep(Instant::now() + Duration::from_secs(61)), 1);
        assert_eq!(
            ring.drain(10),
            vec![UsageEvent::LeaseClosed {
                lease_id: 2,
                spent: 0
            }]
        );
    }

    #[test]
    fn renewal_is_claimed_once_in_the_last_quarter() {
        let (_ring, a, u) = setup();
        let lease = a.install(&u, 4, 100, Duration::from_secs(4), false);
        let now = Instant::now();
        assert!(!lease.claim_renewal(now));
        let late = now + Duration::from_millis(3100);
        assert!(lease.claim_renewal(late));
        assert!(!lease.claim_renewal(late), "one renewal per allowance");
        let single = a.install(&u, 5, 100, Duration::from_secs(4), true);
        assert!(
            !single.claim_renewal(late),
            "single-use allowances are asked per request"
        );
        // Past its expiry a renewing allowance still serves, up to a second lifetime.
        let after = now + Duration::from_millis(4500);
        let fresh = a.install(&u, 6, 100, Duration::from_secs(4), false);
        assert!(
            a.try_hold("u", 1, after).is_none(),
            "expired, no renewal on the way"
        );
        assert!(fresh.claim_renewal(late));
        assert!(
            a.try_hold("u", 1, after).is_some(),
            "renewal on the way: still serving"
        );
        assert!(
            a.try_hold("u", 1, now + Duration::from_secs(9)).is_none(),
            "hard expiry"
        );
    }

    #[test]
    fn single_use_admits_one_request() {
        let (ring, a, u) = setup();
        let lease = a.install(&u, 3, 1000, Duration::from_secs(60), true);
        let h = Allowances::hold_from(&lease, 5).unwrap();
        assert!(a.try_hold("u", 0, Instant::now()).is_none());
        h.settle(5);
        assert_eq!(
            ring.drain(10),
            vec![UsageEvent::LeaseClosed {
                lease_id: 3,
                spent: 5
            }]
        );
    }

    #[test]
    fn concurrent_holds_admit_exactly_floor_of_allowance_over_cost() {
        let (_ring, a, u) = setup();
        let a = Arc::new(a);
        a.install(&u, 9, 1000, Duration::from_secs(60), false);
        let admitted = Arc::new(AtomicU32::new(0));
        let holds = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (a, admitted, holds) =
                    (Arc::clone(&a), Arc::clone(&admitted), Arc::clone(&holds));
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        if let Some(h) = a.try_hold("u", 7, Instant::now()) {
                            admitted.fetch_add(1, SeqCst);
                            holds.lock().push(h);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(admitted.load(SeqCst), 1000 / 7);
    }
}

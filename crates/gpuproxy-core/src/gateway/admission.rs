//! The admission queue: requests wait here when every backend of their route is busy.
//!
//! One global order: highest priority first, then arrival. A waiter may try to take a slot
//! only when no waiter ahead of it needs any of the same pools (its route's pools, by
//! identity), so a low-priority request never jumps a high-priority one for the same
//! backends, while requests for other backends are not held up. Every freed slot wakes the
//! waiters, and a waiter that leaves (served, timed out) wakes the rest. Bounded: past
//! `max_depth` waiters a request is refused at once (503 queue_full), and a waiter gives up
//! after its time limit (503 queue_timeout, X-Timelimit).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// (priority, highest first; arrival)
type Key = (std::cmp::Reverse<i32>, u64);

#[derive(Debug)]
struct Waiter {
    notify: Arc<Notify>,
    since: Instant,
    route: Arc<str>,
    /// Identities of the pools this waiter can be served by.
    pools: Vec<usize>,
}

#[derive(Debug, Default)]
struct Inner {
    seq: u64,
    waiting: BTreeMap<Key, Waiter>,
}

impl Inner {
    fn wake_all(&self) {
        for w in self.waiting.values() {
            w.notify.notify_one();
        }
    }
}

#[derive(Debug)]
pub struct Admission {
    inner: Mutex<Inner>,
    depth: AtomicUsize,
    max_depth: usize,
    /// Requests that got a slot after waiting / gave up at their time limit / found the
    /// queue full.
    pub admitted_after_wait: AtomicU64,
    pub timed_out: AtomicU64,
    pub rejected_full: AtomicU64,
}

/// One waiting request, for monitoring: (route, priority, waited so far).
pub type Waiting = (Arc<str>, i32, Duration);

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    Full,
    Timeout,
}

/// A place in the queue; leaving (drop) wakes the others.
#[derive(Debug)]
pub struct Ticket<'a> {
    queue: &'a Admission,
    key: Key,
    notify: Arc<Notify>,
}

impl Admission {
    pub fn new(max_depth: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            depth: AtomicUsize::new(0),
            max_depth,
            admitted_after_wait: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            rejected_full: AtomicU64::new(0),
        }
    }

    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// A slot may have been freed (or routes changed): wake the waiters.
    pub fn notify(&self) {
        if self.depth.load(Ordering::Acquire) == 0 {
            return;
        }
        self.inner.lock().wake_all();
    }

    /// The waiting requests, in queue order.
    pub fn snapshot(&self) -> Vec<Waiting> {
        let now = Instant::now();
        self.inner
            .lock()
            .waiting
            .iter()
            .map(|(k, w)| (Arc::clone(&w.route), k.0 .0, now.duration_since(w.since)))
            .collect()
    }

    /// Waits until `try_take` gives a slot (`Some`), up to `limit`. `pools` are the
    /// identities of the pools `try_take` draws from; `route` labels the waiter.
    /// `try_take` returning `Err` ends the wait with that error (no backend at all).
    pub async fn wait<T, E>(
        &self,
        route: &Arc<str>,
        pools: Vec<usize>,
        priority: i32,
        limit: Duration,
        mut try_take: impl FnMut() -> Result<Option<T>, E>,
    ) -> Result<Result<T, Rejected>, E> {
        let ticket = {
            let mut inner = self.inner.lock();
            if self.depth.load(Ordering::Acquire) >= self.max_depth {
                self.rejected_full.fetch_add(1, Ordering::Relaxed);
                return Ok(Err(Rejected::Full));
            }
            inner.seq += 1;
            let key = (std::cmp::Reverse(priority), inner.seq);
            let notify = Arc::new(Notify::new());
            let waiter = Waiter {
                notify: Arc::clone(&notify),
                since: Instant::now(),
                route: Arc::clone(route),
                pools,
            };
            inner.waiting.insert(key, waiter);
            self.depth.fetch_add(1, Ordering::AcqRel);
            Ticket {
                queue: self,
                key,
                notify,
            }
        };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if ticket.may_try() {
                if let Some(slot) = try_take()? {
                    self.admitted_after_wait.fetch_add(1, Ordering::Relaxed);
                    return Ok(Ok(slot));
                }
            }
            if tokio::time::timeout_at(deadline, ticket.notify.notified())
                .await
                .is_err()
            {
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                return Ok(Err(Rejected::Timeout));
            }
        }
    }
}

impl Ticket<'_> {
    /// No waiter ahead of this one shares a pool with it.
    fn may_try(&self) -> bool {
        let inner = self.queue.inner.lock();
        let Some(me) = inner.waiting.get(&self.key) else {
            return false;
        };
        !inner
            .waiting
            .range(..self.key)
            .any(|(_, ahead)| ahead.pools.iter().any(|p| me.pools.contains(p)))
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut inner = self.queue.inner.lock();
        inner.waiting.remove(&self.key);
        self.queue.depth.fetch_sub(1, Ordering::AcqRel);
        // Whoever this one held back may try now.
        inner.wake_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[tokio::test]
    async fn full_queue_and_timeout() {
        let q = Admission::new(0);
        let r: Result<Result<(), _>, ()> = q
            .wait(
                &Arc::from("r"),
                vec![1],
                0,
                Duration::from_millis(5),
                || Ok(None),
            )
            .await;
        assert_eq!(r.unwrap(), Err(Rejected::Full));
        let q = Admission::new(4);
        let r: Result<Result<(), _>, ()> = q
            .wait(
                &Arc::from("r"),
                vec![1],
                0,
                Duration::from_millis(5),
                || Ok(None),
            )
            .await;
        assert_eq!(r.unwrap(), Err(Rejected::Timeout));
        assert_eq!(q.depth(), 0);
    }

    #[tokio::test]
    async fn higher_priority_is_served_first() {
        let q = Arc::new(Admission::new(10));
        let free = Arc::new(AtomicU32::new(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, prio) in [(0, 1), (1, 5), (2, 3)] {
            let (q, free, order) = (Arc::clone(&q), Arc::clone(&free), Arc::clone(&order));
            tasks.push(tokio::spawn(async move {
                let r: Result<Result<(), _>, ()> = q
                    .wait(
                        &Arc::from(format!("r{i}")),
                        vec![1],
                        prio,
                        Duration::from_secs(5),
                        || {
                            let f = free.load(Ordering::SeqCst);
                            if f > 0
                                && free
                                    .compare_exchange(f, f - 1, Ordering::SeqCst, Ordering::SeqCst)
                                    .is_ok()
                            {
                                order.lock().push(i);
                                return Ok(Some(()));
                            }
                            Ok(None)
                        },
                    )
                    .await;
                r.unwrap().unwrap();
            }));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for _ in 0..3 {
            free.fetch_add(1, Ordering::SeqCst);
            q.notify();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock(), vec![1, 2, 0]);
    }

    #[tokio::test]
    async fn a_waiter_for_other_pools_is_not_held_up() {
        let q = Arc::new(Admission::new(10));
        let stuck = {
            let q = Arc::clone(&q);
            tokio::spawn(async move {
                let r: Result<Result<(), _>, ()> = q
                    .wait(
                        &Arc::from("a"),
                        vec![1],
                        9,
                        Duration::from_millis(300),
                        || Ok(None),
                    )
                    .await;
                r.unwrap()
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let served: Result<Result<(), _>, ()> = q
            .wait(&Arc::from("b"), vec![2], 0, Duration::from_secs(1), || {
                Ok(Some(()))
            })
            .await;
        assert_eq!(served.unwrap(), Ok(()));
        assert_eq!(stuck.await.unwrap(), Err(Rejected::Timeout));
    }
}

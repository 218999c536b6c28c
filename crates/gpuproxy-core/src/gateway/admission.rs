//! The admission queue: requests wait here when every backend of their route is busy.
//!
//! Per route (user, model), the highest priority waits at the head (then arrival order);
//! only the head of a route tries to take a slot, so a low-priority request never jumps
//! a high-priority one for the same backends. Every freed slot wakes the waiting heads.
//! Bounded: past `max_depth` waiters a request is refused at once (503 queue_full), and a
//! waiter gives up after its time limit (503 queue_timeout, X-Timelimit).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

type Key = (Arc<str>, std::cmp::Reverse<i32>, u64);

#[derive(Debug, Default)]
struct Inner {
    seq: u64,
    waiting: BTreeMap<Key, (Arc<Notify>, Instant)>,
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

/// A place in the queue; leaving (drop) wakes the next head.
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
        for (n, _) in self.inner.lock().waiting.values() {
            n.notify_one();
        }
    }

    /// The waiting requests, oldest first within a route.
    pub fn snapshot(&self) -> Vec<Waiting> {
        let now = Instant::now();
        self.inner
            .lock()
            .waiting
            .iter()
            .map(|(k, (_, since))| (Arc::clone(&k.0), k.1 .0, now.duration_since(*since)))
            .collect()
    }

    /// Waits until `try_take` gives a slot (`Some`), up to `limit`.
    /// `try_take` returning `Err` ends the wait with that error (no backend at all).
    pub async fn wait<T, E>(
        &self,
        route: &Arc<str>,
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
            let key = (Arc::clone(route), std::cmp::Reverse(priority), inner.seq);
            let notify = Arc::new(Notify::new());
            inner
                .waiting
                .insert(key.clone(), (Arc::clone(&notify), Instant::now()));
            self.depth.fetch_add(1, Ordering::AcqRel);
            Ticket {
                queue: self,
                key,
                notify,
            }
        };
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if ticket.is_head() {
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
    fn is_head(&self) -> bool {
        let inner = self.queue.inner.lock();
        let first_of_route = (Arc::clone(&self.key.0), std::cmp::Reverse(i32::MAX), 0);
        inner
            .waiting
            .range(first_of_route..)
            .next()
            .is_some_and(|(k, _)| *k == self.key)
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut inner = self.queue.inner.lock();
        inner.waiting.remove(&self.key);
        self.queue.depth.fetch_sub(1, Ordering::AcqRel);
        // The next of this route becomes head: let it try.
        if let Some((_, n)) = inner
            .waiting
            .range((Arc::clone(&self.key.0), std::cmp::Reverse(i32::MAX), 0)..)
            .next()
            .filter(|(k, _)| k.0 == self.key.0)
        {
            n.0.notify_one();
        }
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
            .wait(&Arc::from("r"), 0, Duration::from_millis(5), || Ok(None))
            .await;
        assert_eq!(r.unwrap(), Err(Rejected::Full));
        let q = Admission::new(4);
        let r: Result<Result<(), _>, ()> = q
            .wait(&Arc::from("r"), 0, Duration::from_millis(5), || Ok(None))
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
                    .wait(&Arc::from("r"), prio, Duration::from_secs(5), || {
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
                    })
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
}

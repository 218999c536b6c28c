//! The rare questions the hot path asks the Python control plane, and their answers.
//!
//! Two kinds: an unknown credential (authenticate it once) and a user without a usable
//! spend allowance (reserve one). Both are single-flight (concurrent requests for the same
//! credential or user share one question), go through a bounded queue, and wake Python
//! with one byte on a socket its event loop watches (`notify_fd`). A full queue, or no
//! answer within the timeout (Python stalled), is a 503 for the request: never a guess.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::allowance::Lease;
use super::principal::{Digest, Principal};

/// A question for Python.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    Auth { digest: Digest, credential: Bytes },
    Allowance { user_id: Arc<str>, need: u64 },
}

/// Why the control plane could not decide (503 with this message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

#[derive(Debug, Clone)]
pub enum AuthAnswer {
    Known(Arc<Principal>),
    Denied,
}

/// A refusal Python composed (402 guard rails / credits, 429 quota): sent as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub body: Bytes,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum AllowanceAnswer {
    Granted(Arc<Lease>),
    Refused(Arc<Refusal>),
}

type Reply<T> = Result<T, Unavailable>;

#[derive(Debug)]
struct Flight<T> {
    since: Instant,
    waiters: Vec<oneshot::Sender<Reply<T>>>,
}

#[derive(Debug)]
struct Flights<K, T> {
    map: Mutex<HashMap<K, Flight<T>>>,
}

impl<K: Hash + Eq + Clone, T: Clone> Flights<K, T> {
    fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Joins the flight for `key`; true when the caller must ask (new or stale flight).
    fn join(&self, key: &K, timeout: Duration) -> (oneshot::Receiver<Reply<T>>, bool) {
        let (tx, rx) = oneshot::channel();
        let mut map = self.map.lock();
        let now = Instant::now();
        let flight = map.entry(key.clone()).or_insert_with(|| Flight {
            since: now,
            waiters: Vec::new(),
        });
        let ask = flight.waiters.is_empty() || now.duration_since(flight.since) >= timeout;
        if ask {
            flight.since = now;
        }
        flight.waiters.retain(|w| !w.is_closed());
        flight.waiters.push(tx);
        (rx, ask)
    }

    fn answer(&self, key: &K, reply: &Reply<T>) -> usize {
        let Some(flight) = self.map.lock().remove(key) else {
            return 0;
        };
        let n = flight.waiters.len();
        for w in flight.waiters {
            let _ = w.send(reply.clone());
        }
        n
    }

    fn len(&self) -> usize {
        self.map.lock().len()
    }
}

/// The channel between the hot path and Python.
#[derive(Debug)]
pub struct ControlPlane {
    queue: Mutex<VecDeque<Callback>>,
    capacity: usize,
    timeout: Duration,
    auth: Flights<Digest, AuthAnswer>,
    allowance: Flights<Arc<str>, AllowanceAnswer>,
    tx: UnixStream,
    rx: UnixStream,
    /// Questions asked / refused because the queue was full / timed out.
    pub asked: AtomicU64,
    pub overflowed: AtomicU64,
    pub timed_out: AtomicU64,
}

impl ControlPlane {
    pub fn new(capacity: usize, timeout: Duration) -> std::io::Result<Self> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Self {
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            timeout,
            auth: Flights::new(),
            allowance: Flights::new(),
            tx,
            rx,
            asked: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        })
    }

    /// The socket Python's loop watches for readability.
    pub fn notify_socket(&self) -> &UnixStream {
        &self.rx
    }

    fn enqueue(&self, cb: Callback) -> bool {
        let first = {
            let mut q = self.queue.lock();
            if q.len() >= self.capacity {
                return false;
            }
            q.push_back(cb);
            q.len() == 1
        };
        self.asked.fetch_add(1, Ordering::Relaxed);
        if first {
            // A full socket buffer means a wake is already pending.
            let _ = (&self.tx).write(&[1]);
        }
        true
    }

    async fn wait<T>(&self, rx: oneshot::Receiver<Reply<T>>) -> Reply<T> {
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(Unavailable("the control plane dropped the question".into())),
            Err(_) => {
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                Err(Unavailable(
                    "the control plane did not answer in time".into(),
                ))
            }
        }
    }

    fn busy(&self) -> Unavailable {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        Unavailable("the control plane is busy".into())
    }

    pub async fn authenticate(&self, digest: Digest, credential: &[u8]) -> Reply<AuthAnswer> {
        let (rx, ask) = self.auth.join(&digest, self.timeout);
        if ask
            && !self.enqueue(Callback::Auth {
                digest,
                credential: Bytes::copy_from_slice(credential),
            })
        {
            let err = self.busy();
            self.auth.answer(&digest, &Err(err.clone()));
            return Err(err);
        }
        self.wait(rx).await
    }

    pub async fn allowance(&self, user_id: &Arc<str>, need: u64) -> Reply<AllowanceAnswer> {
        let (rx, ask) = self.allowance.join(user_id, self.timeout);
        if ask
            && !self.enqueue(Callback::Allowance {
                user_id: Arc::clone(user_id),
                need,
            })
        {
            let err = self.busy();
            self.allowance.answer(user_id, &Err(err.clone()));
            return Err(err);
        }
        self.wait(rx).await
    }

    /// Python: the questions asked since the last call (and the wake bytes consumed).
    pub fn take(&self, max: usize) -> Vec<Callback> {
        let mut buf = [0u8; 256];
        while matches!((&self.rx).read(&mut buf), Ok(n) if n > 0) {}
        let mut q = self.queue.lock();
        let n = q.len().min(max);
        let out: Vec<Callback> = q.drain(..n).collect();
        if !q.is_empty() {
            // More than one batch: keep the loop coming back.
            let _ = (&self.tx).write(&[1]);
        }
        out
    }

    pub fn answer_auth(&self, digest: &Digest, reply: &Reply<AuthAnswer>) -> usize {
        self.auth.answer(digest, reply)
    }

    pub fn answer_allowance(&self, user_id: &Arc<str>, reply: &Reply<AllowanceAnswer>) -> usize {
        self.allowance.answer(user_id, reply)
    }

    /// Questions waiting for Python (queued, not yet taken).
    pub fn queued(&self) -> usize {
        self.queue.lock().len()
    }

    /// Questions asked and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.auth.len() + self.allowance.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn single_flight_auth_and_answer() {
        let cp = Arc::new(ControlPlane::new(4, Duration::from_secs(5)).unwrap());
        let d = [1u8; 32];
        let (c1, c2) = (Arc::clone(&cp), Arc::clone(&cp));
        let t1 = tokio::spawn(async move { c1.authenticate(d, b"k").await });
        let t2 = tokio::spawn(async move { c2.authenticate(d, b"k").await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let asked = cp.take(10);
        assert_eq!(asked.len(), 1, "two requests, one question");
        assert_eq!(cp.answer_auth(&d, &Ok(AuthAnswer::Denied)), 2);
        assert!(matches!(t1.await.unwrap(), Ok(AuthAnswer::Denied)));
        assert!(matches!(t2.await.unwrap(), Ok(AuthAnswer::Denied)));
    }

    #[tokio::test]
    async fn stalled_python_times_out_and_full_queue_is_busy() {
        let cp = ControlPlane::new(1, Duration::from_millis(30)).unwrap();
        let r = cp.authenticate([2u8; 32], b"a").await;
        assert_eq!(r.unwrap_err().0, "the control plane did not answer in time");
        // the first question still sits in the queue (Python never took it): full
        let r = cp.authenticate([3u8; 32], b"b").await;
        assert_eq!(r.unwrap_err().0, "the control plane is busy");
        assert_eq!(cp.overflowed.load(Ordering::Relaxed), 1);
    }
}

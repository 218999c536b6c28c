//! The bounded ring of settlements that Python drains in batches.
//!
//! Every admitted request reserves its slot in the ring before anything is forwarded, so
//! its settlement can always be recorded: when the ring is full (Python stalled, the
//! database down for long) new requests get 503 instead of free, unrecorded service.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

/// One served (or refused after admission) request, in the usage table's column order.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub request_id: String,
    pub created_ms: u64,
    pub user_id: Arc<str>,
    pub api_key_id: Option<Arc<str>>,
    pub model: String,
    pub endpoint: &'static str,
    pub backend_id: Option<String>,
    pub pool_scope: Option<Arc<str>>,
    pub stream: bool,
    pub status: u16,
    pub outcome: &'static str,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub estimated: bool,
    pub cost_micros: u64,
    pub queue_us: u64,
    pub ttft_us: Option<u64>,
    pub latency_us: u64,
    pub tokens_per_s: Option<f64>,
    /// The spend allowance the cost was charged to (0: none).
    pub lease_id: u64,
    /// The client's W3C trace context, when it sent a well-formed one (for tracing).
    pub traceparent: Option<String>,
}

/// What the ring carries.
#[derive(Debug, Clone, PartialEq)]
pub enum UsageEvent {
    Row(Box<UsageRow>),
    /// An allowance retired with every request on it settled: `spent` in total.
    LeaseClosed {
        lease_id: u64,
        spent: u64,
    },
}

#[derive(Debug)]
pub struct UsageRing {
    queue: Mutex<VecDeque<UsageEvent>>,
    /// Slots promised to requests in flight plus events queued.
    taken: AtomicUsize,
    capacity: usize,
}

/// A promised slot: push into it exactly once, or drop it to give it back.
#[derive(Debug)]
pub struct RingSlot {
    ring: Arc<UsageRing>,
    used: bool,
}

impl UsageRing {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            queue: Mutex::new(VecDeque::new()),
            taken: AtomicUsize::new(0),
            capacity: capacity.max(1),
        })
    }

    /// Reserves a slot, or `None` when the ring is full.
    pub fn reserve(self: &Arc<Self>) -> Option<RingSlot> {
        let mut cur = self.taken.load(Ordering::Relaxed);
        loop {
            if cur >= self.capacity {
                return None;
            }
            match self.taken.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(RingSlot {
                        ring: Arc::clone(self),
                        used: false,
                    })
                }
                Err(now) => cur = now,
            }
        }
    }

    /// Events that must never be lost (allowance closings) bypass the capacity check:
    /// at most one per allowance, and allowances are bounded by the users in flight.
    pub fn push_always(&self, event: UsageEvent) {
        self.taken.fetch_add(1, Ordering::AcqRel);
        self.queue.lock().push_back(event);
    }

    /// Takes up to `max` queued events (Python's batch).
    pub fn drain(&self, max: usize) -> Vec<UsageEvent> {
        let out: Vec<UsageEvent> = {
            let mut q = self.queue.lock();
            let n = q.len().min(max);
            q.drain(..n).collect()
        };
        self.taken.fetch_sub(out.len(), Ordering::AcqRel);
        out
    }

    pub fn queued(&self) -> usize {
        self.queue.lock().len()
    }

    /// Slots in use (queued + promised).
    pub fn taken(&self) -> usize {
        self.taken.load(Ordering::Acquire)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl RingSlot {
    pub fn push(mut self, event: UsageEvent) {
        self.used = true;
        self.ring.queue.lock().push_back(event);
    }
}

impl Drop for RingSlot {
    fn drop(&mut self) {
        if !self.used {
            self.ring.taken.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(id: u64) -> UsageEvent {
        UsageEvent::LeaseClosed {
            lease_id: id,
            spent: 0,
        }
    }

    #[test]
    fn full_ring_refuses_and_slots_come_back() {
        let ring = UsageRing::new(2);
        let a = ring.reserve().unwrap();
        let b = ring.reserve().unwrap();
        assert!(
            ring.reserve().is_none(),
            "full: a third request must be refused"
        );
        drop(b); // not used: given back
        let c = ring.reserve().unwrap();
        a.push(closed(1));
        c.push(closed(2));
        assert!(
            ring.reserve().is_none(),
            "queued events still take their slots"
        );
        assert_eq!(ring.drain(10), vec![closed(1), closed(2)]);
        assert_eq!(ring.taken(), 0);
        assert!(ring.reserve().is_some());
    }
}

//! `round_robin`: strict rotation over the backends that can take a request.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::strategy::Strategy;
use super::view::PickView;

/// The cursor holds the index after the last pick; a pick takes the first eligible
/// backend at or after it and moves the cursor past it with a compare-and-swap, so
/// ineligible backends are skipped without giving their turn to their neighbour twice.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

/// CAS retries under contention before accepting a slightly out-of-turn pick.
const CAS_ATTEMPTS: usize = 16;

impl Strategy for RoundRobin {
    fn name(&self) -> &'static str {
        "round_robin"
    }

    fn pick(&self, view: &PickView<'_>) -> Option<usize> {
        let n = view.len();
        if n == 0 {
            return None;
        }
        let mut found = None;
        for _ in 0..CAS_ATTEMPTS {
            let start = self.next.load(Ordering::Acquire);
            let i = (0..n)
                .map(|k| (start + k) % n)
                .find(|&i| view.eligible(i))?;
            found = Some(i);
            if self
                .next
                .compare_exchange(start, (i + 1) % n, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                break;
            }
        }
        found
    }
}

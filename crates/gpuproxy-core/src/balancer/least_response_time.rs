//! `least_response_time`: the lowest peak-EWMA latency weighted by load
//! (latency x (in-flight + 1)) over all eligible backends; ties rotate. O(n).
//! `p2c_ewma` uses the same score on two random candidates, which is O(1) and avoids
//! the herd effect of every selector choosing the same "best" backend at once.

use super::strategy::Strategy;
use super::view::PickView;

#[derive(Debug, Default)]
pub struct LeastResponseTime;

impl Strategy for LeastResponseTime {
    fn name(&self) -> &'static str {
        "least_response_time"
    }

    fn pick(&self, view: &PickView<'_>) -> Option<usize> {
        view.min_by_score(|i| view.cost(i))
    }
}

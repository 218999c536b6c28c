//! `least_connections`: fewest requests in flight; ties rotate. O(n).

use super::strategy::Strategy;
use super::view::PickView;

#[derive(Debug, Default)]
pub struct LeastConnections;

impl Strategy for LeastConnections {
    fn name(&self) -> &'static str {
        "least_connections"
    }

    fn pick(&self, view: &PickView<'_>) -> Option<usize> {
        let b = view.backends();
        view.min_by_score(|i| b[i].stats().in_flight())
    }
}

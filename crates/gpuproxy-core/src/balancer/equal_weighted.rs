//! `equal_weighted`: the backend that has served the fewest requests in total, so that
//! totals even out (a backend added later catches up). Ties rotate. O(n).

use super::strategy::Strategy;
use super::view::PickView;

#[derive(Debug, Default)]
pub struct EqualWeighted;

impl Strategy for EqualWeighted {
    fn name(&self) -> &'static str {
        "equal_weighted"
    }

    fn pick(&self, view: &PickView<'_>) -> Option<usize> {
        let b = view.backends();
        view.min_by_score(|i| b[i].stats().total())
    }
}

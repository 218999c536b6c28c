//! `p2c_ewma` (the default): power of two choices over peak-EWMA latency x
//! (in-flight + 1). Two distinct random backends are compared and the cheaper one wins:
//! O(1) whatever the pool size, and close to the best choice without herding.

use super::strategy::Strategy;
use super::view::PickView;

/// Random pairs tried before falling back to a full scan (when most backends are
/// ineligible, a scan is cheaper than more dice).
const DRAWS: usize = 3;

#[derive(Debug, Default)]
pub struct P2cEwma;

impl Strategy for P2cEwma {
    fn name(&self) -> &'static str {
        "p2c_ewma"
    }

    fn pick(&self, view: &PickView<'_>) -> Option<usize> {
        let n = view.len();
        match n {
            0 => return None,
            1 => return view.eligible(0).then_some(0),
            _ => {}
        }
        for _ in 0..DRAWS {
            let a = fastrand::usize(..n);
            let mut b = fastrand::usize(..n - 1);
            if b >= a {
                b += 1;
            }
            match (view.eligible(a), view.eligible(b)) {
                (true, true) => return Some(if view.cost(b) < view.cost(a) { b } else { a }),
                (true, false) => return Some(a),
                (false, true) => return Some(b),
                (false, false) => {}
            }
        }
        view.min_by_score(|i| view.cost(i))
    }
}

//! The selection trait and the list of strategy names.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::error::BalancerError;
use super::view::PickView;

/// A selection policy. Implementations keep only policy state (cursors, locks);
/// per-backend statistics live on the backends, so switching strategy loses nothing.
pub trait Strategy: Send + Sync + fmt::Debug {
    fn name(&self) -> &'static str;

    /// The index (into `view.backends()`) of a backend that `view.eligible` accepts,
    /// or `None` when the strategy finds none. The pool then takes the slot with a
    /// compare-and-swap, and asks again if another thread took it first.
    fn pick(&self, view: &PickView<'_>) -> Option<usize>;
}

/// The built-in strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StrategyKind {
    RoundRobin,
    EqualWeighted,
    WeightedRoundRobin,
    LeastConnections,
    LeastResponseTime,
    #[default]
    P2cEwma,
    ConsistentHash,
}

/// Every strategy name, in documentation order; the API validates input against it.
pub const STRATEGY_NAMES: [&str; 7] = [
    "round_robin",
    "equal_weighted",
    "weighted_round_robin",
    "least_connections",
    "least_response_time",
    "p2c_ewma",
    "consistent_hash",
];

/// The strategy a pool uses unless told otherwise.
pub const DEFAULT_STRATEGY: &str = "p2c_ewma";

impl StrategyKind {
    pub const ALL: [StrategyKind; 7] = [
        Self::RoundRobin,
        Self::EqualWeighted,
        Self::WeightedRoundRobin,
        Self::LeastConnections,
        Self::LeastResponseTime,
        Self::P2cEwma,
        Self::ConsistentHash,
    ];

    pub fn name(self) -> &'static str {
        STRATEGY_NAMES[self as usize]
    }

    /// A fresh instance of this strategy.
    pub fn build(self) -> Arc<dyn Strategy> {
        use super::{
            consistent_hash::ConsistentHash, equal_weighted::EqualWeighted,
            least_connections::LeastConnections, least_response_time::LeastResponseTime,
            p2c_ewma::P2cEwma, round_robin::RoundRobin, weighted_round_robin::WeightedRoundRobin,
        };
        match self {
            Self::RoundRobin => Arc::new(RoundRobin::default()),
            Self::EqualWeighted => Arc::new(EqualWeighted),
            Self::WeightedRoundRobin => Arc::new(WeightedRoundRobin::default()),
            Self::LeastConnections => Arc::new(LeastConnections),
            Self::LeastResponseTime => Arc::new(LeastResponseTime),
            Self::P2cEwma => Arc::new(P2cEwma),
            Self::ConsistentHash => Arc::new(ConsistentHash),
        }
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StrategyKind {
    type Err = BalancerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        STRATEGY_NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| BalancerError::UnknownStrategy {
                name: s.to_owned(),
                expected: STRATEGY_NAMES.join(", "),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in StrategyKind::ALL {
            assert_eq!(k.name().parse::<StrategyKind>().unwrap(), k);
            assert_eq!(k.build().name(), k.name());
        }
        assert!("fastest".parse::<StrategyKind>().is_err());
        assert_eq!(StrategyKind::default().name(), DEFAULT_STRATEGY);
    }
}

//! Model -> pools a caller may use, and per-model token prices, as pushed by Python.
//!
//! Mirrors `gpuproxy.gateway.pools.ModelPools.route`: the caller's own pool for the model
//! first (own GPUs, not billed per token), then the shared pools serving the model (billed
//! at the model's price). Python rebuilds and pushes the whole table when membership,
//! sharing or prices change; a request reads one `Arc` snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::balancer::Pool;

/// One balancer pool and what it is.
#[derive(Debug)]
pub struct PoolRoute {
    /// `own:<user>` or `shared:<name>` (usage rows record it).
    pub scope: Arc<str>,
    pub owner_id: Arc<str>,
    pub shared: bool,
    pub pool: Arc<Pool>,
}

/// Integer micro-dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Price {
    pub input_per_mtok: u64,
    pub output_per_mtok: u64,
}

impl Price {
    /// Micro-dollars, rounded up (a request never costs less than its tokens).
    pub fn cost(self, prompt_tokens: u64, completion_tokens: u64) -> u64 {
        let n = u128::from(self.input_per_mtok) * u128::from(prompt_tokens)
            + u128::from(self.output_per_mtok) * u128::from(completion_tokens);
        n.div_ceil(1_000_000).min(u128::from(u64::MAX)) as u64
    }
}

/// One immutable snapshot of the routing and price tables.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// owner -> model -> own pool (two lookups by `&str`, no allocation per request)
    own: HashMap<Arc<str>, HashMap<Arc<str>, Arc<PoolRoute>>>,
    /// model -> shared pools
    shared: HashMap<Arc<str>, Vec<Arc<PoolRoute>>>,
    prices: HashMap<Arc<str>, Price>,
    default_price: Price,
}

/// A caller's pools for one model, in preference order.
#[derive(Debug, Clone)]
pub struct Route {
    pub pools: Vec<Arc<PoolRoute>>,
    /// Some pool is owned by someone else: tokens may be billed.
    pub maybe_billable: bool,
}

impl RouteTable {
    pub fn new(default_price: Price) -> Self {
        Self {
            default_price,
            ..Self::default()
        }
    }

    pub fn add_own(&mut self, owner: &str, model: &str, route: PoolRoute) {
        self.own
            .entry(owner.into())
            .or_default()
            .insert(model.into(), Arc::new(route));
    }

    pub fn add_shared(&mut self, model: &str, route: PoolRoute) {
        self.shared
            .entry(model.into())
            .or_default()
            .push(Arc::new(route));
    }

    pub fn set_price(&mut self, model: &str, price: Price) {
        self.prices.insert(model.into(), price);
    }

    pub fn price(&self, model: &str) -> Price {
        self.prices
            .get(model)
            .copied()
            .unwrap_or(self.default_price)
    }

    pub fn route(&self, user_id: &str, model: &str) -> Option<Route> {
        let own = self.own.get(user_id).and_then(|m| m.get(model)).cloned();
        let shared = self.shared.get(model);
        if own.is_none() && shared.is_none_or(Vec::is_empty) {
            return None;
        }
        let mut pools = Vec::with_capacity(1 + shared.map_or(0, Vec::len));
        pools.extend(own);
        if let Some(s) = shared {
            pools.extend(s.iter().cloned());
        }
        let maybe_billable = pools.iter().any(|p| p.shared && &*p.owner_id != user_id);
        Some(Route {
            pools,
            maybe_billable,
        })
    }

    /// Models `user_id` can reach with at least one routable backend (for `/v1/models`).
    pub fn models_for(&self, user_id: &str) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = self
            .own
            .get(user_id)
            .into_iter()
            .flatten()
            .filter(|(_, r)| r.pool.snapshot().routable > 0)
            .map(|(m, _)| Arc::clone(m))
            .chain(
                self.shared
                    .iter()
                    .filter(|(_, rs)| rs.iter().any(|r| r.pool.snapshot().routable > 0))
                    .map(|(m, _)| Arc::clone(m)),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// The current table; replaced whole by the control plane.
#[derive(Debug, Default)]
pub struct Routes {
    current: RwLock<Arc<RouteTable>>,
}

impl Routes {
    pub fn snapshot(&self) -> Arc<RouteTable> {
        Arc::clone(&self.current.read())
    }

    pub fn replace(&self, table: RouteTable) {
        *self.current.write() = Arc::new(table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::StrategyKind;

    fn pool(scope: &str, owner: &str, shared: bool) -> PoolRoute {
        PoolRoute {
            scope: scope.into(),
            owner_id: owner.into(),
            shared,
            pool: Arc::new(Pool::new(StrategyKind::RoundRobin)),
        }
    }

    #[test]
    fn own_first_then_shared_and_billing_flag() {
        let mut t = RouteTable::new(Price::default());
        t.add_own("alice", "m", pool("own:alice", "alice", false));
        t.add_shared("m", pool("shared:s", "bob", true));
        let r = t.route("alice", "m").unwrap();
        assert_eq!(&*r.pools[0].scope, "own:alice");
        assert_eq!(r.pools.len(), 2);
        assert!(r.maybe_billable);
        let r = t.route("carol", "m").unwrap();
        assert_eq!(r.pools.len(), 1);
        let r = t.route("bob", "m").unwrap();
        assert!(
            !r.maybe_billable,
            "bob's own shared workers cost him nothing"
        );
        assert!(t.route("alice", "other").is_none());
    }

    #[test]
    fn price_rounds_up() {
        let p = Price {
            input_per_mtok: 150_000,
            output_per_mtok: 600_000,
        };
        assert_eq!(p.cost(1, 0), 1);
        assert_eq!(p.cost(0, 0), 0);
        assert_eq!(p.cost(1_000_000, 1_000_000), 750_000);
    }
}

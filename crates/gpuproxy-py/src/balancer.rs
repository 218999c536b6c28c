//! `Pool` and `ConnectionGuard`: the load balancer for Python.

use std::sync::Arc;
use std::time::Duration;

use gpuproxy_core::balancer::{
    Backend, BackendEntry, BackendLabels, Pool as CorePool, PoolOptions, SelectError, StrategyKind,
};
use gpuproxy_core::tracker::{ConnectionGuard as CoreGuard, EwmaParams};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::clock::{clock_or_system, PyManualClock};
use crate::errors::{invalid, IntoPyErr};
use crate::tracker::{PyBackendSnapshot, PyPoolSnapshot};

/// A pool of backends and its strategy. Safe to share between threads.
#[pyclass(frozen, module = "gpuproxy._core", name = "Pool")]
#[derive(Debug)]
pub struct PyPool {
    inner: Arc<CorePool>,
}

impl PyPool {
    /// The core pool, for the forwarding binding (it selects and holds guards itself).
    pub(crate) fn core(&self) -> &Arc<CorePool> {
        &self.inner
    }
}

fn parse_strategy(name: &str) -> PyResult<StrategyKind> {
    name.parse().map_err(IntoPyErr::into_py_err)
}

fn positive_ms(field: &str, ms: f64) -> PyResult<f64> {
    if ms.is_finite() && ms > 0.0 {
        Ok(ms * 1e6)
    } else {
        Err(invalid(field, "must be a positive number of milliseconds"))
    }
}

/// Reads an affinity key (`str` or `bytes`) without copying it.
fn with_key<R>(key: Option<&Bound<'_, PyAny>>, f: impl FnOnce(Option<&[u8]>) -> R) -> PyResult<R> {
    match key {
        None => Ok(f(None)),
        Some(k) if k.is_none() => Ok(f(None)),
        Some(k) => {
            if let Ok(b) = k.cast::<PyBytes>() {
                Ok(f(Some(b.as_bytes())))
            } else if let Ok(s) = k.cast::<PyString>() {
                Ok(f(Some(s.to_str()?.as_bytes())))
            } else {
                Err(invalid("affinity_key", "must be str, bytes or None"))
            }
        }
    }
}

#[pymethods]
impl PyPool {
    #[new]
    #[pyo3(signature = (strategy = "p2c_ewma", *, clock = None, ewma_tau_ms = 10_000.0, default_rtt_ms = 50.0))]
    fn new(
        strategy: &str,
        clock: Option<&Bound<'_, PyManualClock>>,
        ewma_tau_ms: f64,
        default_rtt_ms: f64,
    ) -> PyResult<Self> {
        let opts = PoolOptions {
            strategy: parse_strategy(strategy)?,
            clock: clock_or_system(clock.map(Bound::get)),
            ewma: EwmaParams {
                tau_nanos: positive_ms("ewma_tau_ms", ewma_tau_ms)?,
                default_rtt_nanos: positive_ms("default_rtt_ms", default_rtt_ms)?,
            },
        };
        Ok(Self {
            inner: Arc::new(CorePool::with_options(opts)),
        })
    }

    /// The strategy name; assigning switches strategy and keeps all statistics.
    #[getter]
    fn strategy(&self) -> &'static str {
        self.inner.strategy().name()
    }

    #[setter]
    fn set_strategy(&self, name: &str) -> PyResult<()> {
        self.inner.set_strategy(parse_strategy(name)?);
        Ok(())
    }

    #[pyo3(signature = (
        id, address, *, weight = None, max_concurrency = None, gpu_model = None,
        gpu_count = 1, vram_gb = 0, price_per_hour_micros = 0, provider = None, region = None,
        authorization = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn add_backend(
        &self,
        id: String,
        address: String,
        weight: Option<u32>,
        max_concurrency: Option<u32>,
        gpu_model: Option<String>,
        gpu_count: u32,
        vram_gb: u32,
        price_per_hour_micros: i64,
        provider: Option<String>,
        region: Option<String>,
        authorization: Option<String>,
    ) -> PyResult<()> {
        let backend = Backend {
            authorization,
            id,
            address,
            weight,
            max_concurrency,
            labels: BackendLabels {
                gpu_model,
                gpu_count,
                vram_gb,
                price_per_hour_micros: crate::errors::micros(
                    "price_per_hour_micros",
                    price_per_hour_micros,
                )?,
                provider,
                region,
            },
        };
        self.inner.add(backend).map_err(IntoPyErr::into_py_err)
    }

    /// Removes a backend; its in-flight requests finish normally.
    fn remove_backend(&self, id: &str) -> PyResult<()> {
        self.inner
            .remove(id)
            .map(drop)
            .map_err(IntoPyErr::into_py_err)
    }

    /// No new requests to this backend; in-flight ones finish.
    fn drain(&self, id: &str) -> PyResult<()> {
        self.inner.drain(id).map_err(IntoPyErr::into_py_err)
    }

    fn undrain(&self, id: &str) -> PyResult<()> {
        self.inner.undrain(id).map_err(IntoPyErr::into_py_err)
    }

    fn set_healthy(&self, id: &str, healthy: bool) -> PyResult<()> {
        self.inner
            .set_healthy(id, healthy)
            .map_err(IntoPyErr::into_py_err)
    }

    /// Overrides the weight; `None` restores the one derived from the GPU labels.
    fn set_weight(&self, id: &str, weight: Option<u32>) -> PyResult<()> {
        self.inner
            .set_weight(id, weight)
            .map_err(IntoPyErr::into_py_err)
    }

    /// Picks a backend and takes a slot on it.
    ///
    /// Returns `None` when every eligible backend is at its max concurrency (queue and
    /// retry); raises `NoBackendAvailable` when no healthy backend could ever take it.
    #[pyo3(signature = (affinity_key = None, *, exclude = None))]
    fn select(
        &self,
        affinity_key: Option<&Bound<'_, PyAny>>,
        exclude: Option<&str>,
    ) -> PyResult<Option<PyConnectionGuard>> {
        let picked = with_key(affinity_key, |key| match exclude {
            None => self.inner.select(key),
            Some(x) => self.inner.select_excluding(key, x),
        })?;
        match picked {
            Ok(g) => Ok(Some(PyConnectionGuard::from_core(g))),
            Err(SelectError::Saturated) => Ok(None),
            Err(e) => Err(e.into_py_err()),
        }
    }

    fn backend(&self, id: &str) -> PyResult<PyBackendSnapshot> {
        self.inner
            .backend_snapshot(id)
            .map(PyBackendSnapshot::from)
            .map_err(IntoPyErr::into_py_err)
    }

    fn backends(&self) -> Vec<PyBackendSnapshot> {
        self.inner
            .backend_snapshots()
            .into_iter()
            .map(PyBackendSnapshot::from)
            .collect()
    }

    fn snapshot(&self) -> PyPoolSnapshot {
        self.inner.snapshot().into()
    }

    fn ids(&self) -> Vec<String> {
        self.inner.ids()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, id: &Bound<'_, PyAny>) -> bool {
        id.extract::<&str>().is_ok_and(|id| self.inner.contains(id))
    }

    fn __repr__(&self) -> String {
        format!(
            "Pool(strategy={:?}, backends={})",
            self.inner.strategy().name(),
            self.inner.len()
        )
    }
}

/// One concurrency slot on one backend. Complete it with `complete()`, or use it as
/// a context manager; a guard that is dropped or garbage-collected without completing
/// still frees its slot (counted as cancelled).
#[pyclass(frozen, module = "gpuproxy._core", name = "ConnectionGuard")]
#[derive(Debug)]
pub struct PyConnectionGuard {
    entry: Arc<BackendEntry>,
    guard: Mutex<Option<CoreGuard>>,
}

impl PyConnectionGuard {
    /// Wraps a guard taken by Rust code (the forwarding binding).
    pub(crate) fn from_core(guard: CoreGuard) -> Self {
        Self {
            entry: guard.backend().clone(),
            guard: Mutex::new(Some(guard)),
        }
    }

    /// Takes the guard back out (the forwarding binding owns it from then on).
    #[allow(dead_code)]
    pub(crate) fn take(&self) -> Option<CoreGuard> {
        self.guard.lock().take()
    }
}

#[pymethods]
impl PyConnectionGuard {
    #[getter]
    fn backend_id(&self) -> &str {
        self.entry.id()
    }

    #[getter]
    fn address(&self) -> &str {
        self.entry.address()
    }

    /// True once completed or released.
    #[getter]
    fn done(&self) -> bool {
        self.guard.lock().is_none()
    }

    /// Milliseconds since selection (0.0 once done).
    #[getter]
    fn elapsed_ms(&self) -> f64 {
        self.guard
            .lock()
            .as_ref()
            .map_or(0.0, |g| g.elapsed().as_secs_f64() * 1e3)
    }

    /// Records the outcome and frees the slot. `latency_ms` defaults to the time since
    /// selection. A second call does nothing.
    #[pyo3(signature = (ok = true, latency_ms = None))]
    fn complete(&self, ok: bool, latency_ms: Option<f64>) -> PyResult<()> {
        let latency = match latency_ms {
            None => None,
            Some(ms) if ms.is_finite() && ms >= 0.0 => Some(Duration::from_secs_f64(ms / 1e3)),
            Some(_) => return Err(invalid("latency_ms", "must be a number >= 0")),
        };
        if let Some(g) = self.guard.lock().take() {
            let latency = latency.unwrap_or_else(|| g.elapsed());
            g.complete(ok, latency);
        }
        Ok(())
    }

    /// Frees the slot without recording an outcome (counted as cancelled).
    fn release(&self) {
        drop(self.guard.lock().take());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Completes with `ok = (no exception)` unless already completed.
    #[pyo3(signature = (*args))]
    fn __exit__(&self, args: &Bound<'_, PyTuple>) {
        let ok = args.get_item(0).is_ok_and(|t| t.is_none());
        if let Some(g) = self.guard.lock().take() {
            let latency = g.elapsed();
            g.complete(ok, latency);
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "ConnectionGuard(backend_id={:?}, address={:?}, done={})",
            self.entry.id(),
            self.entry.address(),
            if self.done() { "True" } else { "False" }
        )
    }
}

//! `BackendSnapshot` and `PoolSnapshot`: the tracker's read-only views (backend, pool) for
//! load endpoints and metrics.

use gpuproxy_core::tracker::{BackendSnapshot, PoolSnapshot};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::repr::py_bool;

/// One backend's state at one moment.
#[pyclass(frozen, get_all, module = "gpuproxy._core", name = "BackendSnapshot")]
#[derive(Debug)]
pub struct PyBackendSnapshot {
    id: String,
    address: String,
    healthy: bool,
    draining: bool,
    weight: u32,
    max_concurrency: Option<u32>,
    in_flight: u32,
    total: u64,
    ok: u64,
    errors: u64,
    cancelled: u64,
    ewma_latency_ms: f64,
    mean_latency_ms: f64,
    gpu_model: Option<String>,
    gpu_count: u32,
    vram_gb: u32,
    price_per_hour_micros: u64,
    provider: Option<String>,
    region: Option<String>,
}

impl From<BackendSnapshot> for PyBackendSnapshot {
    fn from(s: BackendSnapshot) -> Self {
        Self {
            id: s.id,
            address: s.address,
            healthy: s.healthy,
            draining: s.draining,
            weight: s.weight,
            max_concurrency: s.max_concurrency,
            in_flight: s.in_flight,
            total: s.total,
            ok: s.ok,
            errors: s.errors,
            cancelled: s.cancelled,
            ewma_latency_ms: s.ewma_latency_nanos as f64 / 1e6,
            mean_latency_ms: s.mean_latency_nanos as f64 / 1e6,
            gpu_model: s.gpu_model,
            gpu_count: s.gpu_count,
            vram_gb: s.vram_gb,
            price_per_hour_micros: s.price_per_hour_micros,
            provider: s.provider,
            region: s.region,
        }
    }
}

#[pymethods]
impl PyBackendSnapshot {
    /// The fields as a plain dict (JSON-ready).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("id", &self.id)?;
        d.set_item("address", &self.address)?;
        d.set_item("healthy", self.healthy)?;
        d.set_item("draining", self.draining)?;
        d.set_item("weight", self.weight)?;
        d.set_item("max_concurrency", self.max_concurrency)?;
        d.set_item("in_flight", self.in_flight)?;
        d.set_item("total", self.total)?;
        d.set_item("ok", self.ok)?;
        d.set_item("errors", self.errors)?;
        d.set_item("cancelled", self.cancelled)?;
        d.set_item("ewma_latency_ms", self.ewma_latency_ms)?;
        d.set_item("mean_latency_ms", self.mean_latency_ms)?;
        d.set_item("gpu_model", &self.gpu_model)?;
        d.set_item("gpu_count", self.gpu_count)?;
        d.set_item("vram_gb", self.vram_gb)?;
        d.set_item("price_per_hour_micros", self.price_per_hour_micros)?;
        d.set_item("provider", &self.provider)?;
        d.set_item("region", &self.region)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "BackendSnapshot(id={:?}, in_flight={}, total={}, healthy={}, draining={})",
            self.id,
            self.in_flight,
            self.total,
            py_bool(self.healthy),
            py_bool(self.draining)
        )
    }
}

/// A pool's totals at one moment.
#[pyclass(frozen, get_all, module = "gpuproxy._core", name = "PoolSnapshot")]
#[derive(Debug)]
pub struct PyPoolSnapshot {
    strategy: &'static str,
    backends: usize,
    routable: usize,
    in_flight: u64,
    total: u64,
    saturated: u64,
    unavailable: u64,
}

impl From<PoolSnapshot> for PyPoolSnapshot {
    fn from(s: PoolSnapshot) -> Self {
        Self {
            strategy: s.strategy,
            backends: s.backends,
            routable: s.routable,
            in_flight: s.in_flight,
            total: s.total,
            saturated: s.saturated,
            unavailable: s.unavailable,
        }
    }
}

#[pymethods]
impl PyPoolSnapshot {
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("strategy", self.strategy)?;
        d.set_item("backends", self.backends)?;
        d.set_item("routable", self.routable)?;
        d.set_item("in_flight", self.in_flight)?;
        d.set_item("total", self.total)?;
        d.set_item("saturated", self.saturated)?;
        d.set_item("unavailable", self.unavailable)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "PoolSnapshot(strategy={:?}, backends={}, routable={}, in_flight={})",
            self.strategy, self.backends, self.routable, self.in_flight
        )
    }
}

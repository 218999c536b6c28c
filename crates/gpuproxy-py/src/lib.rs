//! `gpuproxy._core`: thin `PyO3` wrappers over `gpuproxy-core`.
//!
//! Each binding module is named after the core module it wraps (`balancer`, `clock`,
//! `forward`, `gateway`, `limits`, `tracker`); everything the extension exports is
//! listed in [`_core`] below, the same list as `python/gpuproxy/_core.pyi`.

mod balancer;
mod clock;
mod errors;
mod forward;
mod gateway;
mod limits;
mod repr;
mod tracker;

/// The Python module `gpuproxy._core`.
#[pyo3::pymodule]
mod _core {
    use gpuproxy_core::balancer::{DEFAULT_STRATEGY, STRATEGY_NAMES};
    use gpuproxy_core::forward::{Protocol, UpstreamKind};
    use gpuproxy_core::gateway::respond::ERROR_TYPES;
    use gpuproxy_core::limits::{SPEND_WINDOW_NAMES, WINDOW_MINUTES};
    use pyo3::prelude::*;
    use pyo3::types::PyTuple;

    #[pymodule_export]
    use crate::balancer::{PyConnectionGuard, PyPool};
    #[pymodule_export]
    use crate::clock::PyManualClock;
    #[pymodule_export]
    use crate::forward::{
        BodyRead, Completed, Forwarder, PendingResponse, SendWait, UploadSink, UpstreamResponse,
    };
    #[pymodule_export]
    use crate::gateway::PyDataPlane;
    #[pymodule_export]
    use crate::limits::{PyRateLimiter, PyReservation, PySpendWindows, PyWindowStatus};
    #[pymodule_export]
    use crate::tracker::{PyBackendSnapshot, PyPoolSnapshot};

    /// The constants (tuples of the names the core accepts, and the version).
    #[pymodule_init]
    fn constants(m: &Bound<'_, PyModule>) -> PyResult<()> {
        let py = m.py();
        m.add("__version__", gpuproxy_core::VERSION)?;
        m.add("STRATEGIES", PyTuple::new(py, STRATEGY_NAMES)?)?;
        m.add("DEFAULT_STRATEGY", DEFAULT_STRATEGY)?;
        m.add("SPEND_WINDOWS", PyTuple::new(py, SPEND_WINDOW_NAMES)?)?;
        m.add("SPEND_WINDOW_MINUTES", PyTuple::new(py, WINDOW_MINUTES)?)?;
        m.add(
            "UPSTREAM_ERROR_KINDS",
            PyTuple::new(py, UpstreamKind::NAMES)?,
        )?;
        m.add("FORWARD_PROTOCOLS", PyTuple::new(py, Protocol::NAMES)?)?;
        // The data plane's error vocabulary, so the control plane answers the same `type`.
        m.add("ERROR_TYPES", PyTuple::new(py, ERROR_TYPES)?)?;
        Ok(())
    }
}

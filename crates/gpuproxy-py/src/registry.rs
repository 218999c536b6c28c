//! Registers the balancer and limits classes and constants on `gpuproxy._core`.

use gpuproxy_core::balancer::{DEFAULT_STRATEGY, STRATEGY_NAMES};
use gpuproxy_core::limits::SPEND_WINDOW_NAMES;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("STRATEGIES", PyTuple::new(py, STRATEGY_NAMES)?)?;
    m.add("DEFAULT_STRATEGY", DEFAULT_STRATEGY)?;
    m.add("SPEND_WINDOWS", PyTuple::new(py, SPEND_WINDOW_NAMES)?)?;
    m.add_class::<crate::clock::PyManualClock>()?;
    m.add_class::<crate::pool::PyPool>()?;
    m.add_class::<crate::pool::PyConnectionGuard>()?;
    m.add_class::<crate::snapshots::PyBackendSnapshot>()?;
    m.add_class::<crate::snapshots::PyPoolSnapshot>()?;
    m.add_class::<crate::limits::PySpendWindows>()?;
    m.add_class::<crate::limits::PyReservation>()?;
    m.add_class::<crate::limits::PyWindowStatus>()?;
    m.add_class::<crate::limits::PyRateLimiter>()?;
    Ok(())
}

//! `ManualClock`: a controllable time source for deterministic tests and simulations.

use std::sync::Arc;

use gpuproxy_core::clock::{system_clock, Clock, ManualClock as CoreClock};
use pyo3::prelude::*;

use crate::errors::invalid;

/// Pass it as `clock=` to `Pool`, `SpendWindows` or `RateLimiter`; time then moves
/// only when told to.
#[pyclass(frozen, module = "gpuproxy._core", name = "ManualClock")]
#[derive(Debug)]
pub struct PyManualClock {
    inner: Arc<CoreClock>,
}

#[pymethods]
impl PyManualClock {
    #[new]
    #[pyo3(signature = (start_ms = 0))]
    fn new(start_ms: i64) -> PyResult<Self> {
        let ms = u64::try_from(start_ms).map_err(|_| invalid("start_ms", "must be >= 0"))?;
        Ok(Self {
            inner: Arc::new(CoreClock::new(ms.saturating_mul(1_000_000))),
        })
    }

    /// Milliseconds since the clock's epoch.
    fn now_ms(&self) -> u64 {
        self.inner.now_millis()
    }

    fn advance_ms(&self, ms: i64) -> PyResult<()> {
        let ms = u64::try_from(ms).map_err(|_| invalid("ms", "must be >= 0"))?;
        self.inner.advance_millis(ms);
        Ok(())
    }

    /// Moves the clock to `ms`; earlier values are ignored (the clock is monotonic).
    fn set_ms(&self, ms: i64) -> PyResult<()> {
        let ms = u64::try_from(ms).map_err(|_| invalid("ms", "must be >= 0"))?;
        self.inner.set_nanos(ms.saturating_mul(1_000_000));
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("ManualClock(now_ms={})", self.inner.now_millis())
    }
}

/// The clock a constructor should use: the given manual clock or the system clock.
pub(crate) fn clock_or_system(clock: Option<&PyManualClock>) -> Arc<dyn Clock> {
    match clock {
        Some(c) => c.inner.clone(),
        None => system_clock(),
    }
}

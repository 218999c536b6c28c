//! `SpendWindows`, `Reservation`, `WindowStatus` and `RateLimiter` for Python.

use std::sync::Arc;

use gpuproxy_core::limits::{
    LimitsError, Quota, RateLimiter, Reservation, SpendWindows, WindowStatus,
};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::clock::{clock_or_system, PyManualClock};
use crate::errors::{invalid, micros, IntoPyErr};
use crate::repr::{py_bool, py_opt};

/// `{window name: limit or None}` from any mapping (`.items()`).
fn parse_limits(limits: &Bound<'_, PyAny>) -> PyResult<Vec<(usize, Option<u64>)>> {
    let mut out = Vec::new();
    for item in limits.call_method0("items")?.try_iter()? {
        let (name, limit): (String, Option<i64>) = item?.extract()?;
        let k = SpendWindows::window(&name).map_err(IntoPyErr::into_py_err)?;
        let limit = limit
            .map(|l| micros(&format!("limits[{name:?}]"), l))
            .transpose()?;
        out.push((k, limit));
    }
    Ok(out)
}

/// Per-account spending over the 17 windows (`SPEND_WINDOWS`), in micro-dollars.
#[pyclass(frozen, module = "gpuproxy._core", name = "SpendWindows")]
#[derive(Debug)]
pub struct PySpendWindows {
    inner: Arc<SpendWindows>,
}

impl PySpendWindows {
    #[allow(dead_code)]
    pub(crate) fn core(&self) -> &Arc<SpendWindows> {
        &self.inner
    }
}

#[pymethods]
impl PySpendWindows {
    #[new]
    #[pyo3(signature = (default_limits = None, *, clock = None))]
    fn new(
        default_limits: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyManualClock>>,
    ) -> PyResult<Self> {
        let w = SpendWindows::new(clock_or_system(clock.map(Bound::get)));
        if let Some(d) = default_limits {
            for (k, l) in parse_limits(d)? {
                w.set_default_limit(k, l);
            }
        }
        Ok(Self { inner: Arc::new(w) })
    }

    /// Changes default limits (accounts without an override); `None` removes one.
    fn set_default_limits(&self, limits: &Bound<'_, PyAny>) -> PyResult<()> {
        for (k, l) in parse_limits(limits)? {
            self.inner.set_default_limit(k, l);
        }
        Ok(())
    }

    fn default_limits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, l) in gpuproxy_core::limits::SPEND_WINDOW_NAMES
            .iter()
            .zip(self.inner.default_limits())
        {
            d.set_item(name, l)?;
        }
        Ok(d)
    }

    /// Overrides limits for one account (`None` = no limit in that window).
    fn set_limits(&self, account: &str, limits: &Bound<'_, PyAny>) -> PyResult<()> {
        let parsed = parse_limits(limits)?;
        self.inner.set_limits(account, &parsed);
        Ok(())
    }

    /// The account follows the default limits again.
    fn clear_limits(&self, account: &str) {
        self.inner.clear_limits(account);
    }

    /// Forgets the account's committed spending (outstanding reservations stay).
    fn reset_spent(&self, account: &str) {
        self.inner.reset_spent(account);
    }

    /// Reserves `amount_micros` against every window, or raises `SpendLimitExceeded`
    /// naming the windows that would be exceeded (nothing is reserved then).
    fn reserve(&self, account: &str, amount_micros: i64) -> PyResult<PyReservation> {
        let amount = micros("amount_micros", amount_micros)?;
        let r = self
            .inner
            .reserve(account, amount)
            .map_err(IntoPyErr::into_py_err)?;
        Ok(PyReservation {
            account: account.to_owned(),
            amount,
            inner: Mutex::new(Some(r)),
        })
    }

    /// The windows that `amount_micros` more would exceed (empty: it fits).
    fn check(&self, account: &str, amount_micros: i64) -> PyResult<Vec<&'static str>> {
        Ok(self
            .inner
            .check(account, micros("amount_micros", amount_micros)?))
    }

    /// Books spending that needs no admission (reconciliation, rental charges).
    fn record(&self, account: &str, amount_micros: i64) -> PyResult<()> {
        self.inner
            .record(account, micros("amount_micros", amount_micros)?);
        Ok(())
    }

    /// Spent / reserved / limit / remaining / exceeded per window, shortest first.
    fn status(&self, account: &str) -> Vec<PyWindowStatus> {
        self.inner
            .status(account)
            .into_iter()
            .map(PyWindowStatus)
            .collect()
    }

    /// Drops accounts with nothing to remember; returns how many.
    fn purge_idle(&self) -> usize {
        self.inner.purge_idle()
    }

    /// Approximate bytes held by all accounts.
    fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// Budget held against an account until `commit(actual)` or `release()`. As a context
/// manager it releases on exit unless committed; garbage collection releases it too.
#[pyclass(frozen, module = "gpuproxy._core", name = "Reservation")]
#[derive(Debug)]
pub struct PyReservation {
    account: String,
    amount: u64,
    inner: Mutex<Option<Reservation>>,
}

#[pymethods]
impl PyReservation {
    #[getter]
    fn account(&self) -> &str {
        &self.account
    }

    #[getter]
    fn amount_micros(&self) -> u64 {
        self.amount
    }

    /// True once committed or released.
    #[getter]
    fn settled(&self) -> bool {
        self.inner.lock().is_none()
    }

    /// Books the actual cost (may differ from the reservation) and frees the rest.
    /// Raises `RuntimeError` if already settled.
    fn commit(&self, actual_micros: i64) -> PyResult<()> {
        let actual = micros("actual_micros", actual_micros)?;
        let r = self
            .inner
            .lock()
            .take()
            .ok_or_else(|| LimitsError::AlreadySettled.into_py_err())?;
        r.commit(actual);
        Ok(())
    }

    /// Frees the reservation without spending; does nothing if already settled.
    fn release(&self) {
        drop(self.inner.lock().take());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*args))]
    fn __exit__(&self, args: &Bound<'_, PyTuple>) {
        let _ = args;
        self.release();
    }

    fn __repr__(&self) -> String {
        format!(
            "Reservation(account={:?}, amount_micros={}, settled={})",
            self.account,
            self.amount,
            py_bool(self.settled())
        )
    }
}

/// One window of `SpendWindows.status()`.
#[pyclass(frozen, module = "gpuproxy._core", name = "WindowStatus")]
#[derive(Debug)]
pub struct PyWindowStatus(WindowStatus);

#[pymethods]
impl PyWindowStatus {
    #[getter]
    fn window(&self) -> &'static str {
        self.0.name
    }

    #[getter]
    fn spent(&self) -> u64 {
        self.0.spent
    }

    #[getter]
    fn reserved(&self) -> u64 {
        self.0.reserved
    }

    #[getter]
    fn limit(&self) -> Option<u64> {
        self.0.limit
    }

    #[getter]
    fn remaining(&self) -> Option<u64> {
        self.0.remaining
    }

    #[getter]
    fn exceeded(&self) -> bool {
        self.0.exceeded
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("window", self.0.name)?;
        d.set_item("spent", self.0.spent)?;
        d.set_item("reserved", self.0.reserved)?;
        d.set_item("limit", self.0.limit)?;
        d.set_item("remaining", self.0.remaining)?;
        d.set_item("exceeded", self.0.exceeded)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "WindowStatus(window={:?}, spent={}, limit={}, remaining={}, exceeded={})",
            self.0.name,
            self.0.spent,
            py_opt(self.0.limit),
            py_opt(self.0.remaining),
            py_bool(self.0.exceeded)
        )
    }
}

/// GCRA rate limiter per key. `check` answers 0 (allowed, consumed) or the
/// milliseconds to wait; `acquire` raises `RateLimited` instead.
#[pyclass(frozen, module = "gpuproxy._core", name = "RateLimiter")]
#[derive(Debug)]
pub struct PyRateLimiter {
    inner: Arc<RateLimiter>,
}

impl PyRateLimiter {
    /// The core limiter, shared with the data plane (one bucket per key for both paths).
    pub(crate) fn core(&self) -> &Arc<RateLimiter> {
        &self.inner
    }
}

impl PyRateLimiter {
    fn quota(&self, rate: Option<f64>, burst: Option<u32>) -> PyResult<Quota> {
        let q = self.inner.quota();
        if rate.is_none() && burst.is_none() {
            return Ok(q);
        }
        Quota::new(
            rate.unwrap_or_else(|| q.rate_per_second()),
            burst.unwrap_or(q.burst()),
        )
        .map_err(IntoPyErr::into_py_err)
    }

    fn run(
        &self,
        key: &str,
        cost: u32,
        rate: Option<f64>,
        burst: Option<u32>,
    ) -> PyResult<Result<(), LimitsError>> {
        let quota = self.quota(rate, burst)?;
        Ok(self.inner.check_with(key, quota, cost))
    }
}

#[pymethods]
impl PyRateLimiter {
    #[new]
    #[pyo3(signature = (rate_per_second, burst, *, max_keys = 1_000_000, clock = None))]
    fn new(
        rate_per_second: f64,
        burst: u32,
        max_keys: usize,
        clock: Option<&Bound<'_, PyManualClock>>,
    ) -> PyResult<Self> {
        if max_keys == 0 {
            return Err(invalid("max_keys", "must be at least 1"));
        }
        let quota = Quota::new(rate_per_second, burst).map_err(IntoPyErr::into_py_err)?;
        Ok(Self {
            inner: Arc::new(RateLimiter::with_clock(
                quota,
                max_keys,
                clock_or_system(clock.map(Bound::get)),
            )),
        })
    }

    #[getter]
    fn rate_per_second(&self) -> f64 {
        self.inner.quota().rate_per_second()
    }

    #[getter]
    fn burst(&self) -> u32 {
        self.inner.quota().burst()
    }

    /// 0 if allowed (and consumed), else milliseconds until it would be allowed.
    /// `rate_per_second` / `burst` override the limiter's quota for this key's plan.
    #[pyo3(signature = (key, cost = 1, *, rate_per_second = None, burst = None))]
    fn check(
        &self,
        key: &str,
        cost: u32,
        rate_per_second: Option<f64>,
        burst: Option<u32>,
    ) -> PyResult<u64> {
        match self.run(key, cost, rate_per_second, burst)? {
            Ok(()) => Ok(0),
            Err(LimitsError::RateLimited { retry_after_ms }) => Ok(retry_after_ms),
            Err(e) => Err(e.into_py_err()),
        }
    }

    /// Like `check` but raises `RateLimited(retry_after_ms)` when refused.
    #[pyo3(signature = (key, cost = 1, *, rate_per_second = None, burst = None))]
    fn acquire(
        &self,
        key: &str,
        cost: u32,
        rate_per_second: Option<f64>,
        burst: Option<u32>,
    ) -> PyResult<()> {
        self.run(key, cost, rate_per_second, burst)?
            .map_err(IntoPyErr::into_py_err)
    }

    /// Drops keys whose state equals a fresh key's; returns how many.
    fn purge_expired(&self) -> usize {
        self.inner.purge_expired()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

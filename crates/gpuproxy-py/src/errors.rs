//! The binding's one error adapter: every core error enum (balancer, limits, forward) as
//! the `gpuproxy.exceptions` classes Python callers catch.
//!
//! (The orphan rule forbids `impl From<CoreError> for PyErr` here, so each error type
//! gets an [`IntoPyErr`] impl; `?` call sites use `.map_err(IntoPyErr::into_py_err)`.)

use gpuproxy_core::balancer::{BalancerError, SelectError};
use gpuproxy_core::forward::ForwardError;
use gpuproxy_core::limits::LimitsError;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::PyErr;

pyo3::import_exception!(gpuproxy.exceptions, BackendNotFound);
pyo3::import_exception!(gpuproxy.exceptions, NoBackendAvailable);
pyo3::import_exception!(gpuproxy.exceptions, RateLimited);
pyo3::import_exception!(gpuproxy.exceptions, SpendLimitExceeded);
pyo3::import_exception!(gpuproxy.exceptions, UpstreamError);

/// Converts a core error into the Python exception callers expect.
pub(crate) trait IntoPyErr {
    fn into_py_err(self) -> PyErr;
}

impl IntoPyErr for BalancerError {
    fn into_py_err(self) -> PyErr {
        match self {
            // KeyError subclass: `except KeyError` works as for a dict.
            Self::BackendNotFound(id) => BackendNotFound::new_err(id),
            other => PyValueError::new_err(other.to_string()),
        }
    }
}

impl IntoPyErr for SelectError {
    fn into_py_err(self) -> PyErr {
        NoBackendAvailable::new_err(self.to_string())
    }
}

impl IntoPyErr for LimitsError {
    fn into_py_err(self) -> PyErr {
        let message = self.to_string();
        match self {
            Self::SpendLimitExceeded { windows } => SpendLimitExceeded::new_err((message, windows)),
            Self::RateLimited { retry_after_ms } => RateLimited::new_err((message, retry_after_ms)),
            Self::AlreadySettled => PyRuntimeError::new_err(message),
            Self::UnknownWindow { .. } | Self::CostExceedsBurst { .. } | Self::Invalid { .. } => {
                PyValueError::new_err(message)
            }
        }
    }
}

/// `UpstreamError(message, kind, status)` for backend failures (status 502/504, or 413
/// for a request body over the limit, as the core classifies it), `NoBackendAvailable`
/// when the pool cannot take the request, `ValueError` for a malformed request.
impl IntoPyErr for ForwardError {
    fn into_py_err(self) -> PyErr {
        let status = self.http_status();
        match self {
            Self::Upstream { kind, message, .. } => {
                UpstreamError::new_err((message, kind.as_str(), status))
            }
            Self::NoBackend(e) => e.into_py_err(),
            Self::InvalidRequest(message) => PyValueError::new_err(message),
        }
    }
}

/// `ValueError` naming the argument, for input the core would reject.
pub(crate) fn invalid(field: &str, reason: &str) -> PyErr {
    PyValueError::new_err(format!("{field}: {reason}"))
}

/// A non-negative micro-dollar amount from a Python int.
pub(crate) fn micros(field: &str, value: i64) -> Result<u64, PyErr> {
    u64::try_from(value).map_err(|_| invalid(field, "must be >= 0 (integer micro-dollars)"))
}

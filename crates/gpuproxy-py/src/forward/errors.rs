//! Forwarding errors as `gpuproxy.exceptions` classes.

use gpuproxy_core::forward::ForwardError;
use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

pyo3::import_exception!(gpuproxy.exceptions, UpstreamError);
pyo3::import_exception!(gpuproxy.exceptions, NoBackendAvailable);

/// `UpstreamError(message, kind, status)` for backend failures (status 502/504, or 413
/// for a request body over the limit, as the core classifies it), `NoBackendAvailable`
/// when the pool cannot take the request, `ValueError` for a malformed request.
pub(crate) fn to_py_err(err: ForwardError) -> PyErr {
    let status = err.http_status();
    match err {
        ForwardError::Upstream { kind, message, .. } => {
            UpstreamError::new_err((message, kind.as_str(), status))
        }
        ForwardError::NoBackend(e) => NoBackendAvailable::new_err(e.to_string()),
        ForwardError::InvalidRequest(message) => PyValueError::new_err(message),
    }
}

//! Forwarding errors as `gpuproxy.exceptions` classes.

use gpuproxy_core::forward::ForwardError;
use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

pyo3::import_exception!(gpuproxy.exceptions, UpstreamError);
pyo3::import_exception!(gpuproxy.exceptions, NoBackendAvailable);

/// `UpstreamError(message, kind)` for backend failures (its `http_status` gives 502/504;
/// a request body over the limit also has kind `body_too_large`, the message says
/// "request body"), `NoBackendAvailable` when the pool cannot take the request,
/// `ValueError` for a malformed request.
pub(crate) fn to_py_err(err: ForwardError) -> PyErr {
    match err {
        ForwardError::Upstream { kind, message, .. } => {
            UpstreamError::new_err((message, kind.as_str()))
        }
        ForwardError::NoBackend(e) => NoBackendAvailable::new_err(e.to_string()),
        ForwardError::InvalidRequest(message) => PyValueError::new_err(message),
    }
}

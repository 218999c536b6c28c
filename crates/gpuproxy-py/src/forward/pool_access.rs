//! Reaching the balancer binding's `Pool` and `ConnectionGuard` pyclasses.

use std::sync::Arc;

use gpuproxy_core::balancer::Pool;
use gpuproxy_core::tracker::ConnectionGuard;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;

use crate::balancer::{PyConnectionGuard, PyPool};

/// The `Arc<Pool>` behind a Python `Pool`.
pub(crate) fn pool(obj: &Bound<'_, PyAny>) -> PyResult<Arc<Pool>> {
    let pool = obj.cast::<PyPool>().map_err(|_| {
        PyTypeError::new_err(format!(
            "pool must be a gpuproxy._core.Pool, got {}",
            type_name(obj)
        ))
    })?;
    Ok(Arc::clone(pool.get().core()))
}

/// Takes the slot out of a Python `ConnectionGuard`; the forward owns it from then on
/// (the Python object becomes an empty shell whose `complete()` does nothing).
pub(crate) fn take_guard(obj: &Bound<'_, PyAny>) -> PyResult<ConnectionGuard> {
    let guard = obj.cast::<PyConnectionGuard>().map_err(|_| {
        PyTypeError::new_err(format!(
            "guard must be a gpuproxy._core.ConnectionGuard, got {}",
            type_name(obj)
        ))
    })?;
    guard
        .get()
        .take()
        .ok_or_else(|| PyRuntimeError::new_err("the guard was already completed or used"))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

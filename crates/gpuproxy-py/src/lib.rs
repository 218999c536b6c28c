//! `gpuproxy._core`: thin `PyO3` wrappers over `gpuproxy-core`.

use pyo3::prelude::*;

mod clock;
mod data_plane;
mod errors;
mod forward;
mod limits;
mod pool;
mod registry;
mod snapshots;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", gpuproxy_core::VERSION)?;
    registry::register(m)?;
    forward::register(m)?;
    data_plane::register(m)?;
    Ok(())
}

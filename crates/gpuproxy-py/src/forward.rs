//! `gpuproxy._core.Forwarder`: the Rust forwarder as an awaitable API for asyncio.
//!
//! ```python
//! fwd = Forwarder(first_byte_timeout=60.0)
//! resp = await fwd.forward(pool, "POST", "/v1/chat/completions", headers, body,
//!                          client_ip=ip, request_id=rid)      # or forward_to(address, ...)
//! resp.status, resp.headers, resp.backend_id
//! async for chunk in resp: ...                                 # or: await resp.read()
//! ```
//!
//! Each call spawns one task on the forwarder's own tokio runtime and returns at once.
//! Bridging back to asyncio: the head costs exactly one cross-thread wake; body chunks
//! that are already buffered when Python asks are returned without any (small responses
//! usually arrive with their head), and a chunk Python has to wait for costs one wake.
//! Wakes never take the GIL on tokio threads and are batched per loop iteration (see
//! `forward/loop_waker.rs` for why this beats `pyo3-async-runtimes` or
//! `call_soon_threadsafe` here). Cancelling the awaiting task, `aclose()`, or dropping
//! the response aborts the upstream request and releases the balancer slot (RAII in
//! Rust: the slot is owned by the task that is aborted).

mod awaitables;
mod exchange;
mod loop_waker;
mod pool_access;
mod request;
mod upload;

use std::sync::Arc;
use std::time::Duration;

use gpuproxy_core::forward::runtime::build_runtime;
use gpuproxy_core::forward::{
    upload_channel, ForwardConfig, ForwardRequest, Forwarder as CoreForwarder, Protocol,
    RequestBody,
};
use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;

pub use awaitables::{BodyRead, Completed, PendingResponse, UpstreamResponse};
use exchange::{pump, Exchange};
pub use upload::{SendWait, UploadSink};

use crate::errors::IntoPyErr;

/// Chunks of a streamed upload queued ahead of the upstream.
const UPLOAD_QUEUE_CHUNKS: usize = 8;

/// `gpuproxy._upload.pump_upload`, imported on first streamed upload.
static PUMP_UPLOAD: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

/// The forwarder: pooled HTTP/1.1 and h2c clients on a private tokio runtime.
#[pyclass(frozen, module = "gpuproxy._core")]
#[derive(Debug)]
pub struct Forwarder {
    /// One `Arc` clone per request instead of cloning both hyper clients.
    inner: Arc<CoreForwarder>,
    handle: tokio::runtime::Handle,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    runtime_threads: usize,
}

/// A positive duration from Python seconds, or ValueError naming `name`.
pub(crate) fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{name} must be a positive number of seconds, got {value}"
            ))
        })
}

impl Forwarder {
    fn spawn(
        &self,
        py: Python<'_>,
        body: Option<&Bound<'_, PyAny>>,
        build: impl FnOnce(RequestBody) -> PyResult<ForwardRequest>,
        run: impl FnOnce(Arc<CoreForwarder>, ForwardRequest) -> PyResult<exchange::BoxedForward>,
    ) -> PyResult<PendingResponse> {
        if self.runtime.lock().is_none() {
            return Err(PyRuntimeError::new_err("the forwarder is closed"));
        }
        let (event_loop, waker) = loop_waker::current(py)?;
        let upload = match body {
            Some(b) if request::is_async_iterable(b)? => Some(b),
            _ => None,
        };
        let (req_body, sink) = match upload {
            Some(_) => {
                let (tx, stream) = upload_channel(UPLOAD_QUEUE_CHUNKS);
                (RequestBody::Stream(stream), Some(tx))
            }
            None => (request::body(body)?, None),
        };
        // Validate the request, then select (a bad request never takes a backend slot),
        // and only then start anything that would need undoing.
        let req = build(req_body)?;
        let fut = run(Arc::clone(&self.inner), req)?;
        let buffer = self.inner.config().response_buffer_bytes;
        let ex = Exchange::new(event_loop.clone_ref(py), Arc::clone(&waker), buffer);
        if let (Some(source), Some(tx)) = (upload, sink) {
            let sink = UploadSink::new(tx, self.handle.clone(), waker, event_loop.clone_ref(py));
            let pump_upload = PUMP_UPLOAD.import(py, "gpuproxy._upload", "pump_upload")?;
            let coro = pump_upload.call1((source, sink))?;
            let task = event_loop
                .bind(py)
                .call_method1(intern!(py, "create_task"), (coro,))?;
            ex.set_upload_task(task.unbind());
        }
        let task = self.handle.spawn(pump(Arc::clone(&ex), fut));
        ex.set_task(task.abort_handle());
        Ok(PendingResponse::new(ex))
    }
}

#[pymethods]
impl Forwarder {
    #[new]
    #[pyo3(signature = (
        *,
        connect_timeout = 5.0,
        first_byte_timeout = 300.0,
        total_timeout = None,
        max_request_body = 33_554_432,
        max_response_body = 268_435_456,
        protocol = "http1",
        pool_idle_timeout = 90.0,
        pool_max_idle_per_backend = 512,
        response_buffer_bytes = 262_144,
        runtime_threads = 1,
        upstream_ca_pem = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        connect_timeout: f64,
        first_byte_timeout: f64,
        total_timeout: Option<f64>,
        max_request_body: u64,
        max_response_body: u64,
        protocol: &str,
        pool_idle_timeout: f64,
        pool_max_idle_per_backend: usize,
        response_buffer_bytes: usize,
        runtime_threads: usize,
        upstream_ca_pem: Option<&str>,
    ) -> PyResult<Self> {
        let default_protocol = Protocol::parse(protocol).ok_or_else(|| {
            PyValueError::new_err(format!(
                "protocol must be one of {:?}, got {protocol:?}",
                Protocol::NAMES
            ))
        })?;
        if !(1..=64).contains(&runtime_threads) {
            return Err(PyValueError::new_err(format!(
                "runtime_threads must be 1..=64, got {runtime_threads}"
            )));
        }
        let config = ForwardConfig {
            connect_timeout: seconds("connect_timeout", connect_timeout)?,
            first_byte_timeout: seconds("first_byte_timeout", first_byte_timeout)?,
            total_timeout: total_timeout
                .map(|t| seconds("total_timeout", t))
                .transpose()?,
            max_request_body,
            max_response_body,
            default_protocol,
            pool_idle_timeout: seconds("pool_idle_timeout", pool_idle_timeout)?,
            pool_max_idle_per_backend,
            response_buffer_bytes: response_buffer_bytes.max(1),
            extra_roots: extra_roots(upstream_ca_pem)?,
        };
        let runtime = build_runtime(runtime_threads)?;
        let inner = {
            // The clients' pool timers bind to the runtime they are built in.
            let _enter = runtime.enter();
            Arc::new(CoreForwarder::new(config))
        };
        Ok(Self {
            inner,
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            runtime_threads,
        })
    }

    /// Forwards through `pool`: selects a backend now (raising `NoBackendAvailable` at
    /// once if none can take it), or uses `guard`, a slot the caller already selected.
    /// A connect failure is retried once on another backend of the pool.
    #[pyo3(signature = (
        pool, method, path_and_query, headers, body = None, *,
        affinity_key = None, client_ip = None, request_id = None, guard = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &self,
        py: Python<'_>,
        pool: &Bound<'_, PyAny>,
        method: &str,
        path_and_query: &str,
        headers: &Bound<'_, PyAny>,
        body: Option<&Bound<'_, PyAny>>,
        affinity_key: Option<&Bound<'_, PyAny>>,
        client_ip: Option<&str>,
        request_id: Option<&str>,
        guard: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PendingResponse> {
        let pool = pool_access::pool(pool)?;
        let key = affinity_key.map(request::affinity_key).transpose()?;
        self.spawn(
            py,
            body,
            |b| request::build(method, path_and_query, headers, b, client_ip, request_id),
            move |fwd, req| {
                let guard = match guard {
                    Some(g) => pool_access::take_guard(g)?,
                    None => pool
                        .select(key.as_deref())
                        .map_err(IntoPyErr::into_py_err)?,
                };
                Ok(Box::pin(async move {
                    fwd.forward_guarded(&pool, guard, key.as_deref(), req).await
                }))
            },
        )
    }

    /// Forwards to one address (`host:port`, `http://host:port[/base]`,
    /// `h2c://host:port[/base]`), without a pool or retry.
    #[pyo3(signature = (address, method, path_and_query, headers, body = None, *, client_ip = None, request_id = None))]
    #[allow(clippy::too_many_arguments)]
    fn forward_to(
        &self,
        py: Python<'_>,
        address: String,
        method: &str,
        path_and_query: &str,
        headers: &Bound<'_, PyAny>,
        body: Option<&Bound<'_, PyAny>>,
        client_ip: Option<&str>,
        request_id: Option<&str>,
    ) -> PyResult<PendingResponse> {
        gpuproxy_core::forward::address::Target::parse(&address).map_err(IntoPyErr::into_py_err)?;
        self.spawn(
            py,
            body,
            |b| request::build(method, path_and_query, headers, b, client_ip, request_id),
            move |fwd, req| Ok(Box::pin(async move { fwd.forward_to(&address, req).await })),
        )
    }

    /// Stops the runtime: in-flight requests fail, their slots are released.
    fn close(&self, py: Python<'_>) {
        let runtime = self.runtime.lock().take();
        if let Some(rt) = runtime {
            py.detach(move || rt.shutdown_timeout(Duration::from_secs(1)));
        }
    }

    #[getter]
    fn closed(&self) -> bool {
        self.runtime.lock().is_none()
    }

    #[getter]
    fn runtime_threads(&self) -> usize {
        self.runtime_threads
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "Forwarder(protocol={:?}, connect_timeout={:?}, first_byte_timeout={:?}, total_timeout={:?}, runtime_threads={})",
            c.default_protocol.as_str(),
            c.connect_timeout,
            c.first_byte_timeout,
            c.total_timeout,
            self.runtime_threads
        )
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.lock().take() {
            rt.shutdown_background();
        }
    }
}

/// The trust anchors of an `upstream_ca_pem` bundle (ValueError naming what is wrong).
pub(crate) fn extra_roots(pem: Option<&str>) -> PyResult<Vec<Vec<u8>>> {
    pem.map_or(Ok(Vec::new()), |pem| {
        gpuproxy_core::forward::tls::parse_pem_roots(pem)
            .map_err(|e| PyValueError::new_err(format!("upstream_ca_pem: {e}")))
    })
}

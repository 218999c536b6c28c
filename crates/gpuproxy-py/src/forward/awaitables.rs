//! The awaitables Python gets: the response head, body chunks, the whole body.
//!
//! Each is its own iterator for `await` (the `__await__` protocol, like a C-implemented
//! future): `__next__` returns the value through `StopIteration` when the exchange has
//! it already (no thread crossing at all), or yields an asyncio future that the
//! [`super::loop_waker`] resolves when the tokio side makes progress; the task then
//! calls `__next__` again. Cancelling the awaiting task throws into `throw`, which
//! aborts the exchange before re-raising: upstream request cancelled, guard released.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::{PyStopAsyncIteration, PyStopIteration};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::exchange::{ChunkPoll, Exchange, Head, HeadPoll};
use super::loop_waker::Waiter;
use crate::errors::IntoPyErr;

/// Registers the exchange's waiter with a fresh future and returns it for the task to
/// wait on (`_asyncio_future_blocking` is what `Future.__await__` sets before yielding).
pub(crate) fn block(
    py: Python<'_>,
    event_loop: &Py<PyAny>,
    waiter: &Waiter,
) -> PyResult<Py<PyAny>> {
    let fut = event_loop
        .bind(py)
        .call_method0(intern!(py, "create_future"))?;
    fut.setattr(intern!(py, "_asyncio_future_blocking"), true)?;
    waiter.set(fut.clone().unbind());
    Ok(fut.unbind())
}

pub(crate) fn done<T>(value: Bound<'_, PyAny>) -> PyResult<T> {
    Err(PyStopIteration::new_err((value.unbind(),)))
}

/// Re-raises what `throw` was given (an instance, or a type with an optional value).
pub(crate) fn rethrow(typ: &Bound<'_, PyAny>, val: Option<&Bound<'_, PyAny>>) -> PyErr {
    match val {
        Some(v) if !v.is_none() => PyErr::from_value(v.clone()),
        _ => PyErr::from_value(typ.clone()),
    }
}

/// The `__await__` protocol shared by every awaitable here (`await`, `yield from`, the
/// task's `send`/`throw`), written once over the type's own `poll(py)` (advance) and
/// `on_throw(py)` (what cancelling the awaiting task must undo before the exception is
/// re-raised). Extra Python methods of the type go in the braces (`PyO3` takes one
/// `#[pymethods]` block per type).
macro_rules! awaitable_protocol {
    ($ty:ty { $($extra:tt)* }) => {
        #[pyo3::pymethods]
        impl $ty {
            fn __await__(slf: pyo3::Py<Self>) -> pyo3::Py<Self> {
                slf
            }

            /// `yield from` (e.g. `asyncio.wait_for` wrapping the awaitable) wants an iterable.
            fn __iter__(slf: pyo3::Py<Self>) -> pyo3::Py<Self> {
                slf
            }

            fn __next__(
                &self,
                py: pyo3::Python<'_>,
            ) -> pyo3::PyResult<pyo3::Py<pyo3::PyAny>> {
                self.poll(py)
            }

            /// Generator protocol: resumed by the task after the future it waited on is done.
            fn send(
                &self,
                py: pyo3::Python<'_>,
                value: &pyo3::Bound<'_, pyo3::PyAny>,
            ) -> pyo3::PyResult<pyo3::Py<pyo3::PyAny>> {
                let _ = value;
                self.poll(py)
            }

            #[pyo3(signature = (typ, val=None, tb=None))]
            fn throw(
                &self,
                py: pyo3::Python<'_>,
                typ: &pyo3::Bound<'_, pyo3::PyAny>,
                val: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
                tb: Option<&pyo3::Bound<'_, pyo3::PyAny>>,
            ) -> pyo3::PyResult<pyo3::Py<pyo3::PyAny>> {
                let _ = tb;
                self.on_throw(py);
                Err($crate::forward::awaitables::rethrow(typ, val))
            }

            $($extra)*
        }
    };
}
pub(crate) use awaitable_protocol;

/// `await forwarder.forward(...)`: resolves to an [`UpstreamResponse`].
#[pyclass(frozen, module = "gpuproxy._core")]
#[derive(Debug)]
pub struct PendingResponse {
    ex: Arc<Exchange>,
}

impl PendingResponse {
    fn on_throw(&self, py: Python<'_>) {
        self.ex.abort(py);
    }

    pub(crate) fn new(ex: Arc<Exchange>) -> Self {
        Self { ex }
    }

    fn poll(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.ex.poll_head() {
            HeadPoll::Ready(head) => {
                let resp = Bound::new(py, UpstreamResponse::new(py, Arc::clone(&self.ex), *head))?;
                done(resp.into_any())
            }
            HeadPoll::Failed(e) => Err(e.into_py_err()),
            HeadPoll::Pending => block(py, &self.ex.event_loop, &self.ex.waiter),
        }
    }
}

awaitable_protocol!(PendingResponse {
    /// Abandons the request if the head was not taken yet.
    fn close(&self, py: Python<'_>) {
        if !self.ex.head_taken() {
            self.ex.abort(py);
        }
    }
});

impl Drop for PendingResponse {
    fn drop(&mut self) {
        // Never awaited, or dropped while waiting: nobody will read this response.
        if !self.ex.head_taken() {
            Python::attach(|py| self.ex.abort(py));
        }
    }
}

/// A forwarded response: status and headers now, the body as an async iterator.
#[pyclass(frozen, module = "gpuproxy._core")]
#[derive(Debug)]
pub struct UpstreamResponse {
    ex: Arc<Exchange>,
    #[pyo3(get)]
    status: u16,
    headers: Py<PyList>,
    #[pyo3(get)]
    backend_id: Option<String>,
    #[pyo3(get)]
    request_id: String,
    #[pyo3(get)]
    attempts: u32,
}

impl UpstreamResponse {
    fn new(py: Python<'_>, ex: Arc<Exchange>, head: Head) -> Self {
        let headers = PyList::empty(py);
        for (k, v) in &head.headers {
            let pair = PyTuple::new(
                py,
                [
                    PyBytes::new(py, k.as_str().as_bytes()),
                    PyBytes::new(py, v.as_bytes()),
                ],
            )
            .expect("a 2-tuple");
            headers.append(pair).expect("list append");
        }
        let headers = headers.unbind();
        Self {
            ex,
            status: head.status.as_u16(),
            headers,
            backend_id: head.backend_id,
            request_id: String::from_utf8_lossy(head.request_id.as_bytes()).into_owned(),
            attempts: head.attempts,
        }
    }
}

#[pymethods]
impl UpstreamResponse {
    /// Response headers as ASGI wants them: lower-case name and value bytes, hop-by-hop
    /// headers removed.
    #[getter]
    fn headers(&self, py: Python<'_>) -> Py<PyList> {
        self.headers.clone_ref(py)
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__(&self) -> BodyRead {
        BodyRead {
            ex: Arc::clone(&self.ex),
            all: None,
        }
    }

    /// The whole remaining body (bounded by `max_response_body`).
    fn read(&self) -> BodyRead {
        BodyRead {
            ex: Arc::clone(&self.ex),
            all: Some(Mutex::new(Vec::new())),
        }
    }

    /// Stops the body: aborts the upstream request and releases the backend slot.
    fn aclose(&self, py: Python<'_>) -> Completed {
        self.ex.abort(py);
        Completed
    }

    /// Synchronous [`UpstreamResponse::aclose`].
    fn close(&self, py: Python<'_>) {
        self.ex.abort(py);
    }

    /// True while body data or an error may still come.
    #[getter]
    fn is_open(&self) -> bool {
        self.ex.is_open()
    }

    fn __repr__(&self) -> String {
        format!(
            "<UpstreamResponse status={} backend_id={:?} attempts={}>",
            self.status, self.backend_id, self.attempts
        )
    }
}

impl Drop for UpstreamResponse {
    fn drop(&mut self) {
        // No-op after the body ended; otherwise nobody can read the rest: cancel it.
        if self.ex.is_open() {
            Python::attach(|py| self.ex.abort(py));
        }
    }
}

/// One body chunk (`__anext__`) or, with `all`, the whole rest of the body (`read()`).
#[pyclass(frozen, module = "gpuproxy._core")]
#[derive(Debug)]
pub struct BodyRead {
    ex: Arc<Exchange>,
    all: Option<Mutex<Vec<u8>>>,
}

impl BodyRead {
    /// A cancelled read cancels the stream: nobody is left to read the rest.
    fn on_throw(&self, py: Python<'_>) {
        self.ex.abort(py);
    }

    fn poll(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        loop {
            match (self.ex.poll_chunk(), &self.all) {
                (ChunkPoll::Chunk(c), None) => return done(PyBytes::new(py, &c).into_any()),
                (ChunkPoll::Chunk(c), Some(buf)) => buf.lock().extend_from_slice(&c),
                (ChunkPoll::End, None) => return Err(PyStopAsyncIteration::new_err(())),
                (ChunkPoll::End, Some(buf)) => {
                    let bytes = std::mem::take(&mut *buf.lock());
                    return done(PyBytes::new(py, &bytes).into_any());
                }
                (ChunkPoll::Failed(e), _) => return Err(e.into_py_err()),
                (ChunkPoll::Pending, _) => return block(py, &self.ex.event_loop, &self.ex.waiter),
            }
        }
    }
}

awaitable_protocol!(BodyRead {});

/// An awaitable that is already done (resolves to `None`).
#[pyclass(frozen, module = "gpuproxy._core")]
#[derive(Debug)]
pub struct Completed;

#[pymethods]
impl Completed {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// `yield from` (e.g. `asyncio.wait_for` wrapping the awaitable) wants an iterable.
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[allow(clippy::unused_self)] // the protocol method needs a receiver
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        done(py.None().into_bound(py))
    }
}

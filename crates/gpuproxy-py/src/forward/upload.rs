//! Streamed request bodies from a Python async iterator.
//!
//! `forward(..., body=<async iterable>)` starts a small asyncio task
//! (`gpuproxy._upload.pump_upload`) that moves chunks into an [`UploadSink`]. A chunk is
//! queued synchronously while the bounded channel has room (`try_send`, the common
//! case); only when the upstream reads slower than the client sends does the task await
//! `send`, which waits on the tokio side and wakes the loop through the loop waker.

use std::sync::Arc;

use bytes::Bytes;
use gpuproxy_core::forward::{SendError, UploadSender};
use parking_lot::Mutex;
use pyo3::exceptions::PyBrokenPipeError;
use pyo3::prelude::*;

use super::awaitables::{awaitable_protocol, block, done};
use super::loop_waker::{LoopWaker, Waiter};

fn closed() -> PyErr {
    PyBrokenPipeError::new_err("the forwarded request is over; stop sending")
}

/// The producing end of a streamed request body.
#[pyclass(frozen, module = "gpuproxy._core")]
#[derive(Debug)]
pub struct UploadSink {
    sender: Mutex<Option<UploadSender>>,
    handle: tokio::runtime::Handle,
    waker: Arc<LoopWaker>,
    event_loop: Py<PyAny>,
}

impl UploadSink {
    pub(crate) fn new(
        sender: UploadSender,
        handle: tokio::runtime::Handle,
        waker: Arc<LoopWaker>,
        event_loop: Py<PyAny>,
    ) -> Self {
        Self {
            sender: Mutex::new(Some(sender)),
            handle,
            waker,
            event_loop,
        }
    }
}

#[pymethods]
impl UploadSink {
    /// Queues `chunk` if there is room: `False` when full (then `await send(chunk)`).
    /// Raises `BrokenPipeError` once the request is over.
    fn try_send(&self, chunk: &[u8]) -> PyResult<bool> {
        let guard = self.sender.lock();
        let Some(sender) = guard.as_ref() else {
            return Err(closed());
        };
        match sender.try_send(Bytes::copy_from_slice(chunk)) {
            Ok(()) => Ok(true),
            Err(SendError::Full(_)) => Ok(false),
            Err(SendError::Closed) => Err(closed()),
        }
    }

    /// Queues `chunk`, waiting for room.
    fn send(&self, py: Python<'_>, chunk: &[u8]) -> PyResult<SendWait> {
        let Some(sender) = self.sender.lock().clone() else {
            return Err(closed());
        };
        let op = Arc::new(SendOp {
            state: Mutex::new(SendState {
                result: None,
                waiting: false,
            }),
            waiter: Arc::new(Waiter::default()),
            waker: Arc::clone(&self.waker),
        });
        let chunk = Bytes::copy_from_slice(chunk);
        let task_op = Arc::clone(&op);
        self.handle.spawn(async move {
            let ok = sender.send(chunk).await.is_ok();
            task_op.complete(ok);
        });
        Ok(SendWait {
            op,
            event_loop: self.event_loop.clone_ref(py),
        })
    }

    /// Ends the body after the queued chunks.
    fn finish(&self) {
        if let Some(sender) = self.sender.lock().take() {
            sender.finish();
        }
    }

    /// Abandons the body: the upstream request fails rather than see a short body.
    fn abort(&self) {
        drop(self.sender.lock().take());
    }
}

#[derive(Debug)]
struct SendState {
    result: Option<bool>,
    waiting: bool,
}

#[derive(Debug)]
struct SendOp {
    state: Mutex<SendState>,
    waiter: Arc<Waiter>,
    waker: Arc<LoopWaker>,
}

impl SendOp {
    fn complete(&self, ok: bool) {
        let wake = {
            let mut s = self.state.lock();
            s.result = Some(ok);
            std::mem::take(&mut s.waiting)
        };
        if wake {
            self.waker.wake(Arc::clone(&self.waiter));
        }
    }
}

/// `await sink.send(chunk)`.
#[pyclass(frozen, module = "gpuproxy._core")]
#[derive(Debug)]
pub struct SendWait {
    op: Arc<SendOp>,
    event_loop: Py<PyAny>,
}

impl SendWait {
    fn on_throw(&self, _py: Python<'_>) {
        drop(self.op.waiter.clear());
    }

    fn poll(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let result = {
            let mut s = self.op.state.lock();
            if s.result.is_none() {
                s.waiting = true;
            }
            s.result
        };
        match result {
            Some(true) => done(py.None().into_bound(py)),
            Some(false) => Err(closed()),
            None => block(py, &self.event_loop, &self.op.waiter),
        }
    }
}

awaitable_protocol!(SendWait {});

//! One forwarded request's state shared between its tokio task and Python.
//!
//! The tokio task ([`pump`]) runs the forward, stores the response head, then reads
//! the body ahead into a bounded queue (`response_buffer_bytes`; past it the task waits,
//! which backpressures the backend instead of buffering a whole stream). Python takes
//! the head and chunks from this state synchronously when they are there, and only
//! registers a [`Waiter`] (one cross-thread wake) when they are not.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use gpuproxy_core::forward::{ForwardError, ForwardResponse, Phase, ResponseBody, UpstreamKind};
use http::{HeaderMap, HeaderValue, StatusCode};
use parking_lot::Mutex;
use pyo3::prelude::*;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::loop_waker::{LoopWaker, Waiter};

/// The forward a pump drives (to one address, or through a pool).
pub(crate) type BoxedForward =
    Pin<Box<dyn Future<Output = Result<ForwardResponse, ForwardError>> + Send>>;

/// The response head, handed to Python once.
#[derive(Debug)]
pub(crate) struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub backend_id: Option<String>,
    pub request_id: HeaderValue,
    pub attempts: u32,
}

#[derive(Debug)]
enum HeadState {
    Pending,
    Ready(Box<Head>),
    Failed(ForwardError),
    Taken,
}

#[derive(Debug)]
enum End {
    Open,
    Done,
    Failed(ForwardError),
    /// Cancelled from Python: the task was aborted, the guard released.
    Aborted,
}

#[derive(Debug)]
struct State {
    head: HeadState,
    chunks: VecDeque<Bytes>,
    buffered: usize,
    end: End,
    /// Python registered a future in `waiter` and no wake was sent since.
    waiting: bool,
    task: Option<AbortHandle>,
    /// The asyncio task pumping a streamed request body, cancelled on abort.
    upload_task: Option<Py<PyAny>>,
}

/// What Python gets when it polls for the head.
pub(crate) enum HeadPoll {
    Ready(Box<Head>),
    Failed(ForwardError),
    Pending,
}

/// What Python gets when it polls for a body chunk.
pub(crate) enum ChunkPoll {
    Chunk(Bytes),
    End,
    Failed(ForwardError),
    Pending,
}

#[derive(Debug)]
pub(crate) struct Exchange {
    state: Mutex<State>,
    pub(crate) waiter: Arc<Waiter>,
    waker: Arc<LoopWaker>,
    /// The loop the request was made from (futures are created on it).
    pub(crate) event_loop: Py<PyAny>,
    space: Notify,
    buffer_limit: usize,
}

impl Exchange {
    pub(crate) fn new(
        event_loop: Py<PyAny>,
        waker: Arc<LoopWaker>,
        buffer_limit: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                head: HeadState::Pending,
                chunks: VecDeque::new(),
                buffered: 0,
                end: End::Open,
                waiting: false,
                task: None,
                upload_task: None,
            }),
            waiter: Arc::new(Waiter::default()),
            waker,
            event_loop,
            space: Notify::new(),
            buffer_limit: buffer_limit.max(1),
        })
    }

    pub(crate) fn set_task(&self, handle: AbortHandle) {
        let mut s = self.state.lock();
        if matches!(s.end, End::Aborted) {
            handle.abort();
        } else {
            s.task = Some(handle);
        }
    }

    pub(crate) fn set_upload_task(&self, task: Py<PyAny>) {
        self.state.lock().upload_task = Some(task);
    }

    // ---- tokio side ----

    /// Updates the state and wakes Python if it is waiting.
    fn update(&self, f: impl FnOnce(&mut State)) {
        let wake = {
            let mut s = self.state.lock();
            f(&mut s);
            std::mem::take(&mut s.waiting)
        };
        if wake {
            self.waker.wake(Arc::clone(&self.waiter));
        }
    }

    fn buffered(&self) -> usize {
        self.state.lock().buffered
    }

    // ---- Python side (loop thread) ----

    /// Takes the head if it arrived; otherwise marks Python as waiting (the caller then
    /// stores a future in `waiter`).
    pub(crate) fn poll_head(&self) -> HeadPoll {
        let mut s = self.state.lock();
        match std::mem::replace(&mut s.head, HeadState::Taken) {
            HeadState::Ready(h) => HeadPoll::Ready(h),
            HeadState::Failed(e) => HeadPoll::Failed(e),
            HeadState::Pending => {
                s.head = HeadState::Pending;
                if matches!(s.end, End::Aborted) {
                    return HeadPoll::Failed(aborted());
                }
                s.waiting = true;
                HeadPoll::Pending
            }
            HeadState::Taken => HeadPoll::Failed(ForwardError::InvalidRequest(
                "the response head was already taken".into(),
            )),
        }
    }

    /// Takes the next chunk, or the end, or marks Python as waiting.
    pub(crate) fn poll_chunk(&self) -> ChunkPoll {
        let (poll, notify) = {
            let mut s = self.state.lock();
            if let Some(chunk) = s.chunks.pop_front() {
                let was_full = s.buffered >= self.buffer_limit;
                s.buffered -= chunk.len();
                (
                    ChunkPoll::Chunk(chunk),
                    was_full && s.buffered < self.buffer_limit,
                )
            } else {
                match &s.end {
                    End::Open => {
                        s.waiting = true;
                        (ChunkPoll::Pending, false)
                    }
                    End::Done | End::Aborted => (ChunkPoll::End, false),
                    End::Failed(e) => (ChunkPoll::Failed(e.clone()), false),
                }
            }
        };
        if notify {
            self.space.notify_one();
        }
        poll
    }

    /// True once the head was taken (the response object owns the exchange from then).
    pub(crate) fn head_taken(&self) -> bool {
        matches!(self.state.lock().head, HeadState::Taken)
    }

    /// True while the body may still produce data or an error.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.state.lock().end, End::Open)
    }

    /// Cancels the request: aborts the tokio task (dropping the hyper request or body,
    /// which closes the upstream connection and releases the balancer guard), cancels the
    /// upload task, drops buffered data. Idempotent; no-op after a normal end.
    pub(crate) fn abort(&self, py: Python<'_>) {
        let (task, upload) = {
            let mut s = self.state.lock();
            if matches!(s.end, End::Open) {
                s.end = End::Aborted;
                s.chunks.clear();
                s.buffered = 0;
                s.waiting = false;
                (s.task.take(), s.upload_task.take())
            } else {
                (None, s.upload_task.take())
            }
        };
        if let Some(t) = task {
            t.abort();
        }
        if let Some(upload) = upload {
            let _ = upload.bind(py).call_method0(pyo3::intern!(py, "cancel"));
        }
        drop(self.waiter.clear());
    }
}

fn aborted() -> ForwardError {
    ForwardError::upstream(
        UpstreamKind::Reset,
        Phase::Head,
        "the request was cancelled",
    )
}

/// Fails the exchange if the pump is dropped before it finished (runtime shut down
/// while the request ran), so Python is never left waiting forever. After a Python
/// abort or a normal end it changes nothing.
struct PumpGuard(Arc<Exchange>);

impl Drop for PumpGuard {
    fn drop(&mut self) {
        self.0.update(|s| {
            if matches!(s.head, HeadState::Pending) {
                s.head = HeadState::Failed(shut_down());
            }
            if matches!(s.end, End::Open) {
                s.end = End::Failed(shut_down());
            }
        });
    }
}

fn shut_down() -> ForwardError {
    ForwardError::upstream(
        UpstreamKind::Reset,
        Phase::Body,
        "the forwarder was closed while the request ran",
    )
}

/// Drives one forward: resolves the head, then reads the body ahead of Python.
pub(crate) async fn pump(ex: Arc<Exchange>, forward: BoxedForward) {
    let _guard = PumpGuard(Arc::clone(&ex));
    let mut body: ResponseBody = match forward.await {
        Err(e) => {
            ex.update(|s| {
                s.head = HeadState::Failed(e);
                s.end = End::Done;
            });
            return;
        }
        Ok(resp) => {
            let head = Head {
                status: resp.status,
                headers: resp.headers,
                backend_id: resp.backend_id,
                request_id: resp.request_id,
                attempts: resp.attempts,
            };
            ex.update(|s| s.head = HeadState::Ready(Box::new(head)));
            resp.body
        }
    };
    loop {
        // Backpressure: wait while Python is `buffer_limit` bytes behind.
        while ex.buffered() >= ex.buffer_limit {
            ex.space.notified().await;
        }
        match body.chunk().await {
            Some(Ok(chunk)) => ex.update(|s| {
                if matches!(s.end, End::Open) {
                    s.buffered += chunk.len();
                    s.chunks.push_back(chunk);
                }
            }),
            Some(Err(e)) => {
                ex.update(|s| {
                    if matches!(s.end, End::Open) {
                        s.end = End::Failed(e);
                    }
                });
                return;
            }
            None => {
                ex.update(|s| {
                    if matches!(s.end, End::Open) {
                        s.end = End::Done;
                    }
                });
                return;
            }
        }
    }
}

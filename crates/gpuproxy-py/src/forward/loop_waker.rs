//! Waking asyncio futures from tokio threads without taking the GIL there.
//!
//! Each event loop (one per thread that forwards) gets a [`LoopWaker`]: a non-blocking
//! socket pair whose read end is registered with `loop.add_reader`, plus a list of
//! [`Waiter`]s that became ready. A tokio thread appends a waiter and, only when the
//! list was empty, writes one byte; the loop then runs [`Drain`], which resolves every
//! listed future with `None`. Awaitables re-check their own state when resumed, so the
//! wake carries no payload.
//!
//! Why not `pyo3-async-runtimes` / `loop.call_soon_threadsafe` from the tokio side: both
//! need the tokio thread to acquire the GIL for every wake. While the asyncio thread is
//! busy (the normal state under load) that acquisition waits up to the interpreter's
//! switch interval (5 ms) and stalls the whole tokio worker, i.e. every other stream.
//! Here tokio threads never touch Python: a wake is a mutex push and at most one
//! `write(2)` per batch, and one loop iteration resolves the whole batch.

use std::cell::RefCell;
use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::intern;
use pyo3::prelude::*;

/// The asyncio future a blocked awaitable is waiting on (set by the loop thread).
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    fut: Mutex<Option<Py<PyAny>>>,
}

impl Waiter {
    /// Stores the future to resolve on the next wake (loop thread only).
    pub(crate) fn set(&self, fut: Py<PyAny>) {
        *self.fut.lock() = Some(fut);
    }

    /// Forgets the future (the awaitable was cancelled or abandoned).
    pub(crate) fn clear(&self) -> Option<Py<PyAny>> {
        self.fut.lock().take()
    }
}

/// One event loop's wake channel.
#[derive(Debug)]
pub(crate) struct LoopWaker {
    tx: UnixStream,
    rx: UnixStream,
    ready: Mutex<Vec<Arc<Waiter>>>,
}

impl LoopWaker {
    fn new() -> std::io::Result<Self> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Self {
            tx,
            rx,
            ready: Mutex::new(Vec::new()),
        })
    }

    /// Schedules `waiter`'s future to be resolved on its loop. Any thread, no GIL.
    pub(crate) fn wake(&self, waiter: Arc<Waiter>) {
        let first = {
            let mut ready = self.ready.lock();
            ready.push(waiter);
            ready.len() == 1
        };
        if first {
            // A full socket buffer means a wake is already pending: nothing to do.
            let _ = (&self.tx).write(&[1]);
        }
    }

    /// Loop thread: empties the socket, then resolves every listed future. Reading
    /// before taking the list guarantees that a waiter pushed after the take has its own
    /// byte still pending in the socket.
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        let mut buf = [0u8; 256];
        while matches!((&self.rx).read(&mut buf), Ok(n) if n > 0) {}
        let ready = std::mem::take(&mut *self.ready.lock());
        for waiter in ready {
            let Some(fut) = waiter.clear() else { continue };
            let fut = fut.bind(py);
            if !fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                fut.call_method1(intern!(py, "set_result"), (py.None(),))?;
            }
        }
        Ok(())
    }
}

/// The `add_reader` callback of one loop.
#[pyclass(frozen, module = "gpuproxy._core")]
#[derive(Debug)]
pub(crate) struct Drain {
    waker: Arc<LoopWaker>,
}

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        self.waker.drain(py)
    }
}

thread_local! {
    /// The loops this thread has forwarded from, with their wakers. Usually one entry;
    /// closed loops are dropped when a new loop shows up.
    static WAKERS: RefCell<Vec<(Py<PyAny>, Arc<LoopWaker>)>> = const { RefCell::new(Vec::new()) };
}

/// The running loop of this thread and its waker (registered on first use).
pub(crate) fn current(py: Python<'_>) -> PyResult<(Py<PyAny>, Arc<LoopWaker>)> {
    static GET_RUNNING_LOOP: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let get = GET_RUNNING_LOOP.import(py, "asyncio", "get_running_loop")?;
    let event_loop = get.call0()?;
    let found = WAKERS.with_borrow(|list| {
        list.iter()
            .find(|(l, _)| l.is(&event_loop))
            .map(|(l, w)| (l.clone_ref(py), Arc::clone(w)))
    });
    if let Some(hit) = found {
        return Ok(hit);
    }
    let waker = Arc::new(LoopWaker::new()?);
    let drain = Py::new(
        py,
        Drain {
            waker: Arc::clone(&waker),
        },
    )?;
    event_loop.call_method1(intern!(py, "add_reader"), (waker.rx.as_raw_fd(), drain))?;
    let closed: Vec<(Py<PyAny>, Arc<LoopWaker>)> = WAKERS.with_borrow_mut(|list| {
        let (keep, closed): (Vec<_>, Vec<_>) =
            std::mem::take(list).into_iter().partition(|(l, _)| {
                !l.bind(py)
                    .call_method0(intern!(py, "is_closed"))
                    .and_then(|c| c.is_truthy())
                    .unwrap_or(true)
            });
        *list = keep;
        list.push((event_loop.clone().unbind(), Arc::clone(&waker)));
        closed
    });
    drop(closed);
    Ok((event_loop.unbind(), waker))
}

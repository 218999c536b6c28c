//! The small tokio runtime a forwarder runs on.
//!
//! The process's real work is in Python and Granian; forwarding is I/O multiplexing, so
//! one or two worker threads carry thousands of streams. The runtime is owned by the
//! caller (the Python `Forwarder`), never global, so tests and several forwarders with
//! different settings do not share threads.

use std::io;

/// Builds a multi-thread runtime with `worker_threads` workers (at least 1).
pub fn build_runtime(worker_threads: usize) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads.max(1))
        .thread_name("gpuproxy-forward")
        .enable_io()
        .enable_time()
        .build()
}

//! Request bodies: in memory (bytes) or streamed from a producer (uploads).
//!
//! A streamed body is a bounded channel fed through an [`UploadSender`]. The receiving
//! end is only taken when hyper first polls the body, so after a connect failure
//! (nothing sent) the same, still untouched stream can be sent to another backend.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::error::{BodyLimitExceeded, UploadAborted};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a request to forward.
#[derive(Debug, Default)]
pub enum RequestBody {
    #[default]
    Empty,
    Full(Bytes),
    Stream(BodyStream),
}

impl RequestBody {
    /// In-memory length, `None` for a stream.
    pub fn known_len(&self) -> Option<u64> {
        match self {
            Self::Empty => Some(0),
            Self::Full(b) => Some(b.len() as u64),
            Self::Stream(_) => None,
        }
    }

    /// A fresh hyper body for one attempt; `None` once a stream has been consumed.
    pub(crate) fn attempt(&self, limit: u64) -> Option<UpstreamBody> {
        let kind = match self {
            Self::Empty => Kind::Full(None),
            Self::Full(b) => Kind::Full((!b.is_empty()).then(|| b.clone())),
            Self::Stream(s) => {
                if s.shared.lock().is_none() {
                    return None;
                }
                Kind::Stream {
                    shared: Arc::clone(&s.shared),
                    rx: None,
                    finished: Arc::clone(&s.finished),
                }
            }
        };
        Some(UpstreamBody {
            kind,
            sent: 0,
            limit,
        })
    }
}

/// The receiving half of a streamed upload.
#[derive(Debug)]
pub struct BodyStream {
    shared: Arc<Mutex<Option<mpsc::Receiver<Bytes>>>>,
    finished: Arc<AtomicBool>,
}

/// The producing half of a streamed upload. Call [`UploadSender::finish`] after the
/// last chunk; dropping it without `finish` aborts the upload (the upstream request
/// fails instead of receiving a truncated body as if complete).
#[derive(Debug, Clone)]
pub struct UploadSender {
    tx: mpsc::Sender<Bytes>,
    finished: Arc<AtomicBool>,
}

/// A streamed upload channel holding at most `capacity` chunks in flight.
pub fn upload_channel(capacity: usize) -> (UploadSender, BodyStream) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let finished = Arc::new(AtomicBool::new(false));
    (
        UploadSender {
            tx,
            finished: Arc::clone(&finished),
        },
        BodyStream {
            shared: Arc::new(Mutex::new(Some(rx))),
            finished,
        },
    )
}

/// Why a chunk could not be queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The channel is full: retry with [`UploadSender::send`] (async).
    Full(Bytes),
    /// The request is over (finished, failed or cancelled); stop producing.
    Closed,
}

impl UploadSender {
    /// Queues a chunk without waiting.
    pub fn try_send(&self, chunk: Bytes) -> Result<(), SendError> {
        self.tx.try_send(chunk).map_err(|e| match e {
            mpsc::error::TrySendError::Full(b) => SendError::Full(b),
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Queues a chunk, waiting for room.
    pub async fn send(&self, chunk: Bytes) -> Result<(), SendError> {
        self.tx.send(chunk).await.map_err(|_| SendError::Closed)
    }

    /// Marks the body complete; the upstream sees its end once the queue drains.
    pub fn finish(self) {
        self.finished.store(true, Ordering::Release);
    }
}

enum Kind {
    Full(Option<Bytes>),
    Stream {
        shared: Arc<Mutex<Option<mpsc::Receiver<Bytes>>>>,
        rx: Option<mpsc::Receiver<Bytes>>,
        finished: Arc<AtomicBool>,
    },
}

/// The hyper body of one attempt, enforcing the request size limit.
pub(crate) struct UpstreamBody {
    kind: Kind,
    sent: u64,
    limit: u64,
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("sent", &self.sent)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream {
                shared,
                rx,
                finished,
            } => {
                if rx.is_none() {
                    *rx = shared.lock().take();
                }
                let Some(recv) = rx.as_mut() else {
                    return Poll::Ready(Some(Err(Box::new(UploadAborted))));
                };
                match recv.poll_recv(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Some(chunk)) => {
                        this.sent += chunk.len() as u64;
                        if this.sent > this.limit {
                            return Poll::Ready(Some(Err(Box::new(BodyLimitExceeded {
                                limit: this.limit,
                            }))));
                        }
                        Poll::Ready(Some(Ok(Frame::data(chunk))))
                    }
                    Poll::Ready(None) if finished.load(Ordering::Acquire) => Poll::Ready(None),
                    Poll::Ready(None) => Poll::Ready(Some(Err(Box::new(UploadAborted)))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream { .. } => SizeHint::default(),
        }
    }
}

/// Reads a whole [`UpstreamBody`]; for tests.
#[cfg(test)]
pub(crate) async fn collect(body: UpstreamBody) -> Result<Bytes, BoxError> {
    use http_body_util::BodyExt as _;
    Ok(body.collect().await?.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_body_replays_and_stream_only_until_taken() {
        let full = RequestBody::Full(Bytes::from_static(b"abc"));
        assert_eq!(collect(full.attempt(10).unwrap()).await.unwrap(), "abc");
        assert_eq!(collect(full.attempt(10).unwrap()).await.unwrap(), "abc");

        let (tx, stream) = upload_channel(4);
        let body = RequestBody::Stream(stream);
        let first = body.attempt(10).unwrap();
        // Not polled yet: a retry could still take it.
        assert!(body.attempt(10).is_some());
        tx.try_send(Bytes::from_static(b"ab")).unwrap();
        tx.try_send(Bytes::from_static(b"cd")).unwrap();
        tx.finish();
        assert_eq!(collect(first).await.unwrap(), "abcd");
        assert!(body.attempt(10).is_none());
    }

    #[tokio::test]
    async fn stream_limit_and_abort_are_errors() {
        let (tx, stream) = upload_channel(4);
        let body = RequestBody::Stream(stream).attempt(3).unwrap();
        tx.try_send(Bytes::from_static(b"abcd")).unwrap();
        let err = collect(body).await.unwrap_err();
        assert!(err.downcast_ref::<BodyLimitExceeded>().is_some());

        let (tx, stream) = upload_channel(4);
        let body = RequestBody::Stream(stream).attempt(100).unwrap();
        tx.try_send(Bytes::from_static(b"ab")).unwrap();
        drop(tx);
        let err = collect(body).await.unwrap_err();
        assert!(err.downcast_ref::<UploadAborted>().is_some());
    }
}

//! The streamed response body: size limit, total deadline, and the backend slot.
//!
//! The body owns the balancer's [`Lease`] (the connection guard) so the slot stays
//! taken exactly as long as bytes can still flow: it is completed (outcome + latency
//! recorded) when the body ends or fails, and released without a record when the body is
//! dropped early (client cancel), which also closes the upstream connection.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::future::Future as _;

use tokio::time::Sleep;

use super::error::{classify_error, ForwardError, Phase, UpstreamKind};

/// A backend slot held for the duration of one exchange.
pub trait Lease: Send + 'static {
    /// Records how the exchange went and frees the slot.
    fn complete(self: Box<Self>, ok: bool, latency: Duration);
}

impl Lease for crate::tracker::ConnectionGuard {
    fn complete(self: Box<Self>, ok: bool, latency: Duration) {
        crate::tracker::ConnectionGuard::complete(*self, ok, latency);
    }
}

/// The body of a forwarded response. Streams frame by frame as hyper reads them.
pub struct ResponseBody {
    inner: Incoming,
    received: u64,
    limit: u64,
    deadline: Option<Pin<Box<Sleep>>>,
    lease: Option<Box<dyn Lease>>,
    /// Reported to the balancer at completion: time to the response head, which tracks a
    /// backend's queueing and prefill (total time mostly tracks output length).
    head_latency: Duration,
    /// A 5xx from the backend counts as a failed exchange for its statistics.
    status_ok: bool,
    address: Arc<str>,
    done: bool,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("received", &self.received)
            .field("limit", &self.limit)
            .field("address", &self.address)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

pub(crate) struct BodyParts {
    pub limit: u64,
    pub deadline: Option<Pin<Box<Sleep>>>,
    pub lease: Option<Box<dyn Lease>>,
    pub head_latency: Duration,
    pub status_ok: bool,
    pub address: Arc<str>,
}

impl ResponseBody {
    pub(crate) fn new(inner: Incoming, parts: BodyParts) -> Self {
        let done = inner.is_end_stream();
        let mut body = Self {
            inner,
            received: 0,
            limit: parts.limit,
            deadline: parts.deadline,
            lease: parts.lease,
            head_latency: parts.head_latency,
            status_ok: parts.status_ok,
            address: parts.address,
            done: false,
        };
        if done {
            body.finish(true);
        }
        body
    }

    /// Bytes of body received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Reads the next non-empty data chunk (trailers are skipped); `None` at the end.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, ForwardError>> {
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_frame(cx)).await?;
            match frame {
                Ok(f) => {
                    // Trailers and empty data frames (h2 END_STREAM) carry nothing to pass on.
                    if let Ok(data) = f.into_data() {
                        if !data.is_empty() {
                            return Some(Ok(data));
                        }
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }

    fn finish(&mut self, transport_ok: bool) {
        self.done = true;
        self.deadline = None;
        if let Some(lease) = self.lease.take() {
            lease.complete(transport_ok && self.status_ok, self.head_latency);
        }
    }

    fn fail(&mut self, err: ForwardError) -> Poll<Option<Result<Frame<Bytes>, ForwardError>>> {
        self.finish(false);
        Poll::Ready(Some(Err(err)))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = ForwardError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ForwardError>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(deadline) = this.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                let msg = format!(
                    "{}: total timeout elapsed while streaming the response",
                    this.address
                );
                return this.fail(ForwardError::upstream(
                    UpstreamKind::Timeout,
                    Phase::Body,
                    msg,
                ));
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                let err = classify_error(&e, Phase::Body, &this.address);
                this.fail(err)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    if this.received > this.limit {
                        let msg = format!(
                            "response body from {} exceeds the {}-byte limit",
                            this.address, this.limit
                        );
                        return this.fail(ForwardError::upstream(
                            UpstreamKind::BodyTooLarge,
                            Phase::Body,
                            msg,
                        ));
                    }
                }
                if this.inner.is_end_stream() {
                    // Complete the slot now rather than on the next poll, so the balancer
                    // sees the backend free as soon as its last byte arrived.
                    this.finish(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}

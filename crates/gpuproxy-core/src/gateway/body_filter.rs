//! The response body as it passes: metered (usage, first token, delivered text), the
//! injected usage chunk removed, a stall timeout between chunks, and settlement when it
//! ends, fails, or is dropped because the client went away.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::time::Sleep;

use crate::forward::ResponseBody;

use super::meter::ResponseMeter;
use super::respond::BoxError;
use super::settle::{Outcome, Settlement};

#[derive(Debug)]
pub struct MeteredBody {
    upstream: Option<ResponseBody>,
    meter: ResponseMeter,
    settlement: Settlement,
    stall: Pin<Box<Sleep>>,
    stall_timeout: Duration,
    sse: bool,
    finished: bool,
}

fn error_event(code: &str, message: &str) -> Bytes {
    Bytes::from(format!(
        "data: {{\"error\": {{\"message\": \"{message}\", \"type\": \"upstream_error\", \"param\": null, \"code\": \"{code}\"}}}}\n\n"
    ))
}

impl MeteredBody {
    pub fn new(
        upstream: ResponseBody,
        sse: bool,
        strip_usage: bool,
        settlement: Settlement,
        stall_timeout: Duration,
    ) -> Self {
        Self {
            upstream: Some(upstream),
            meter: ResponseMeter::new(sse, strip_usage),
            settlement,
            stall: Box::pin(tokio::time::sleep(stall_timeout)),
            stall_timeout,
            sse,
            finished: false,
        }
    }

    fn end(&mut self, outcome: Outcome) {
        self.finished = true;
        self.upstream = None; // frees the backend slot before waiters are woken
        let usage = self.meter.result(self.settlement.prompt_estimate());
        self.settlement.finish(Some(usage), outcome);
    }

    fn fail(&mut self, code: &str, message: &str) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.end(Outcome::UpstreamError);
        if self.sse {
            // The head is out: end the stream with an SSE error event the SDKs surface.
            Poll::Ready(Some(Ok(Frame::data(error_event(code, message)))))
        } else {
            Poll::Ready(Some(Err(message.to_owned().into())))
        }
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            if this.finished {
                return Poll::Ready(None);
            }
            let Some(up) = this.upstream.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(up).poll_frame(cx) {
                Poll::Pending => {
                    if this.stall.as_mut().poll(cx).is_ready() {
                        return this.fail("upstream_timeout", "the worker stalled mid-stream");
                    }
                    return Poll::Pending;
                }
                Poll::Ready(None) => {
                    let tail = this.meter.finish();
                    this.end(Outcome::Ok);
                    if tail.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(tail))));
                }
                Poll::Ready(Some(Err(e))) => {
                    let code = format!("upstream_{}", e.kind().map_or("protocol", |k| k.as_str()));
                    return this.fail(&code, "the worker failed mid-stream");
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    let deadline = tokio::time::Instant::now() + this.stall_timeout;
                    this.stall.as_mut().reset(deadline);
                    let mut out = this.meter.feed(data);
                    // Time to first token is a stream's figure (a JSON answer arrives whole).
                    if this.sse && this.meter.first_token_seen() {
                        this.settlement.mark_first_token();
                    }
                    if this.upstream.as_ref().is_some_and(Body::is_end_stream) {
                        // The last bytes: settle now. A body with a length is not polled
                        // again once they are written, so waiting for the next poll would
                        // see the body dropped, as if the client had gone.
                        let tail = this.meter.finish();
                        if !tail.is_empty() {
                            out = [out, tail].concat().into();
                        }
                        this.end(Outcome::Ok);
                    }
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        if !self.finished {
            // The client went away (or hyper gave up on the connection): bill what was
            // delivered, abort the upstream, free the slot.
            self.end(Outcome::Cancelled);
        }
    }
}

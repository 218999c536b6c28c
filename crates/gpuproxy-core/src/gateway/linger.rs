//! A client's request body passed to the control plane, with a lingering end.
//!
//! The control plane may answer before it has read the body (401 before an upload, 413 on
//! its length). Closing the client's connection with unread bytes in its receive queue
//! makes the kernel send a reset, and a reset can destroy the answer before the client has
//! read it. So the body is pumped by its own task: frames go to the control plane while it
//! reads them; once it stops (answered, closed), the rest is read and discarded, at most
//! [`LINGER_BYTES`] within [`LINGER_TIME`], as nginx's lingering close does.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::sync::mpsc;

use super::respond::BoxError;

/// The most of an abandoned body read and thrown away before the connection is dropped.
pub const LINGER_BYTES: usize = 64 * 1024 * 1024;
/// How long an abandoned body is read at the most.
pub const LINGER_TIME: Duration = Duration::from_secs(5);

type Item = Result<Frame<Bytes>, BoxError>;

/// The body the control plane reads: frames pumped from the client's body.
#[derive(Debug)]
pub struct PumpedBody {
    rx: mpsc::Receiver<Item>,
    hint: SizeHint,
}

impl Body for PumpedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        self.rx.poll_recv(cx)
    }

    fn size_hint(&self) -> SizeHint {
        // Content-Length is forwarded as the client sent it.
        self.hint
    }
}

/// Starts pumping `body` on its own task; the returned body yields its frames.
pub fn pump(body: Incoming) -> PumpedBody {
    let hint = body.size_hint();
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(run(body, tx));
    PumpedBody { rx, hint }
}

async fn run(mut body: Incoming, tx: mpsc::Sender<Item>) {
    loop {
        match body.frame().await {
            None => return,
            Some(Ok(frame)) => {
                if tx.send(Ok(frame)).await.is_err() {
                    break; // the control plane stopped reading: linger below
                }
            }
            Some(Err(e)) => {
                let _ = tx.send(Err(e.into())).await;
                return;
            }
        }
    }
    let deadline = tokio::time::Instant::now() + LINGER_TIME;
    let mut discarded = 0usize;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
        discarded += frame.data_ref().map_or(0, Bytes::len);
        if discarded > LINGER_BYTES {
            return;
        }
    }
}

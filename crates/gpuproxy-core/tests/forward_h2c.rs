//! h2c (HTTP/2 prior knowledge) backends: selected by the `h2c://` address scheme or
//! the default protocol, many requests multiplexed on one connection, streaming kept.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gpuproxy_core::forward::{ForwardConfig, ForwardRequest, Forwarder, Protocol, RequestBody};
use http::{Method, Request, Response};
use http_body_util::{BodyExt as _, Either, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A response body fed by a channel (one frame per message).
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// An h2c server echoing version and body; `/sse` sends an event, then the next only
/// when the test releases it.
async fn h2c_backend(
    connections: Arc<AtomicUsize>,
    release: Arc<tokio::sync::Notify>,
) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            connections.fetch_add(1, Ordering::SeqCst);
            let release = Arc::clone(&release);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let release = Arc::clone(&release);
                    async move {
                        if req.uri().path() == "/sse" {
                            let (tx, rx) = mpsc::channel(1);
                            tokio::spawn(async move {
                                let _ = tx.send(Bytes::from_static(b"data: 1\n\n")).await;
                                release.notified().await;
                                let _ = tx.send(Bytes::from_static(b"data: 2\n\n")).await;
                            });
                            return Ok::<_, Infallible>(Response::new(Either::Left(ChannelBody(
                                rx,
                            ))));
                        }
                        let version = format!("{:?}", req.version());
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let out = format!("{version}:{}", String::from_utf8_lossy(&body));
                        Ok(Response::new(Either::Right(Full::new(Bytes::from(out)))))
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn h2c_requests_share_one_connection() {
    let connections = Arc::new(AtomicUsize::new(0));
    let addr = h2c_backend(Arc::clone(&connections), Arc::default()).await;
    let fwd = Forwarder::new(ForwardConfig::default());
    // Warm the connection so the concurrent requests below find it in the pool.
    let mut first = fwd
        .forward_to(
            &format!("h2c://{addr}"),
            ForwardRequest::new(Method::GET, "/"),
        )
        .await
        .unwrap();
    while first.body.chunk().await.is_some() {}
    let mut tasks = Vec::new();
    for i in 0..8 {
        let fwd = fwd.clone();
        tasks.push(tokio::spawn(async move {
            let mut req = ForwardRequest::new(Method::POST, "/echo");
            req.body = RequestBody::Full(Bytes::from(format!("req-{i}")));
            let mut resp = fwd.forward_to(&format!("h2c://{addr}"), req).await.unwrap();
            let mut out = Vec::new();
            while let Some(c) = resp.body.chunk().await {
                out.extend_from_slice(&c.unwrap());
            }
            assert_eq!(String::from_utf8(out).unwrap(), format!("HTTP/2.0:req-{i}"));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn h2c_default_protocol_streams_chunk_by_chunk() {
    let release = Arc::new(tokio::sync::Notify::new());
    let addr = h2c_backend(Arc::default(), Arc::clone(&release)).await;
    let fwd = Forwarder::new(ForwardConfig {
        default_protocol: Protocol::H2c,
        ..ForwardConfig::default()
    });
    let mut resp = fwd
        .forward_to(&addr.to_string(), ForwardRequest::new(Method::GET, "/sse"))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), resp.body.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, "data: 1\n\n");
    release.notify_one();
    assert_eq!(resp.body.chunk().await.unwrap().unwrap(), "data: 2\n\n");
    let end = resp.body.chunk().await;
    assert!(end.is_none(), "{end:?}");
}

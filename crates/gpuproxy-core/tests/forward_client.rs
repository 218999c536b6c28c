//! The forwarder against loopback backends: plain, streamed (SSE chunk by chunk),
//! timeouts, size limits, hop-by-hop headers, uploads, h2c, cancellation.

mod forward_support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use forward_support::{ok_response, read_request, refused_address, serve, write, RawRequest};
use gpuproxy_core::forward::{
    upload_channel, ForwardConfig, ForwardError, ForwardRequest, Forwarder, Phase, RequestBody,
    UpstreamKind,
};
use http::header::{HeaderName, HeaderValue};
use http::Method;
use tokio::io::BufReader;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Mutex};

fn forwarder(f: impl FnOnce(&mut ForwardConfig)) -> Forwarder {
    let mut config = ForwardConfig::default();
    f(&mut config);
    Forwarder::new(config)
}

fn post(path: &str, body: &'static [u8], headers: &[(&str, &str)]) -> ForwardRequest {
    let mut req = ForwardRequest::new(Method::POST, path);
    for (k, v) in headers {
        req.headers.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    req.body = RequestBody::Full(Bytes::from_static(body));
    req
}

async fn read_all(
    resp: &mut gpuproxy_core::forward::ForwardResponse,
) -> Result<Vec<u8>, ForwardError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.body.chunk().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Spawns a backend that records each request and answers with `response`.
async fn recording_backend(
    response: Vec<u8>,
) -> (std::net::SocketAddr, mpsc::UnboundedReceiver<RawRequest>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let response = Arc::new(response);
    let addr = serve(move |req, w| {
        let tx = tx.clone();
        let response = Arc::clone(&response);
        async move {
            let _ = tx.send(req);
            write(&w, &response).await;
            true
        }
    })
    .await;
    (addr, rx)
}

#[tokio::test]
async fn plain_request_round_trips_with_headers_rewritten() {
    let (addr, mut seen) = recording_backend(ok_response(
        r#"{"ok":true}"#,
        "keep-alive: timeout=5\r\nx-upstream: yes\r\n",
    ))
    .await;
    let fwd = forwarder(|_| {});
    let mut req = post(
        "/v1/chat/completions?x=1",
        b"{\"model\":\"m\"}",
        &[
            ("host", "gateway.example"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "secret-hop"),
            ("proxy-authorization", "Basic abc"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("authorization", "Bearer sk-test"),
            ("content-length", "999"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
    );
    req.client_ip = Some("192.0.2.1".into());
    req.request_id = Some("rid-42".into());
    let mut resp = fwd.forward_to(&addr.to_string(), req).await.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers["x-upstream"], "yes");
    assert!(!resp.headers.contains_key("keep-alive"));
    assert_eq!(read_all(&mut resp).await.unwrap(), br#"{"ok":true}"#);

    let got = seen.recv().await.unwrap();
    assert_eq!(
        (got.method.as_str(), got.target.as_str()),
        ("POST", "/v1/chat/completions?x=1")
    );
    assert_eq!(got.body, b"{\"model\":\"m\"}");
    assert_eq!(got.header("host"), Some(addr.to_string().as_str()));
    assert_eq!(got.header("x-forwarded-host"), Some("gateway.example"));
    assert_eq!(
        got.header("x-forwarded-for"),
        Some("203.0.113.9, 192.0.2.1")
    );
    assert_eq!(got.header("x-request-id"), Some("rid-42"));
    assert_eq!(got.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(got.header("content-length"), Some("13"));
    for hop in [
        "connection",
        "x-hop",
        "proxy-authorization",
        "te",
        "upgrade",
        "keep-alive",
    ] {
        assert_eq!(got.header(hop), None, "{hop} was forwarded");
    }
}

#[tokio::test]
async fn keep_alive_connections_are_reused() {
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let (r, w) = s.into_split();
                let mut r = BufReader::new(r);
                let w = Arc::new(Mutex::new(w));
                while read_request(&mut r).await.is_some() {
                    write(&w, &ok_response("x", "")).await;
                }
            });
        }
    });
    let fwd = forwarder(|_| {});
    for _ in 0..5 {
        let mut resp = fwd
            .forward_to(&addr.to_string(), post("/", b"", &[]))
            .await
            .unwrap();
        read_all(&mut resp).await.unwrap();
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sse_chunks_arrive_one_by_one() {
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let addr = serve(move |_req, w| {
        let release_rx = Arc::clone(&release_rx);
        async move {
            write(&w, b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n").await;
            write(&w, b"d\r\ndata: first\n\n\r\n").await;
            // The second event is only sent after the test saw the first.
            let rx = release_rx.lock().await.take().unwrap();
            rx.await.unwrap();
            write(&w, b"e\r\ndata: second\n\n\r\n0\r\n\r\n").await;
            true
        }
    })
    .await;
    let fwd = forwarder(|_| {});
    let mut resp = fwd
        .forward_to(&addr.to_string(), post("/v1/chat/completions", b"{}", &[]))
        .await
        .unwrap();
    assert_eq!(resp.headers["content-type"], "text/event-stream");
    assert!(!resp.headers.contains_key("transfer-encoding"));
    let first = tokio::time::timeout(Duration::from_secs(5), resp.body.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first, "data: first\n\n");
    release_tx.send(()).unwrap();
    let second = resp.body.chunk().await.unwrap().unwrap();
    assert_eq!(second, "data: second\n\n");
    assert!(resp.body.chunk().await.is_none());
}

#[tokio::test]
async fn slow_upstream_hits_first_byte_timeout() {
    let addr = serve(|_req, _w| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        false
    })
    .await;
    let fwd = forwarder(|c| c.first_byte_timeout = Duration::from_millis(200));
    let started = std::time::Instant::now();
    let err = fwd
        .forward_to(&addr.to_string(), post("/", b"x", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(UpstreamKind::Timeout));
    assert_eq!(err.http_status(), 504);
    assert!(
        !err.nothing_sent(),
        "the request was sent: not safe to retry"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn total_timeout_cuts_a_stalled_stream() {
    let addr = serve(|_req, w| async move {
        write(
            &w,
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n",
        )
        .await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        false
    })
    .await;
    let fwd = forwarder(|c| c.total_timeout = Some(Duration::from_millis(300)));
    let mut resp = fwd
        .forward_to(&addr.to_string(), post("/", b"x", &[]))
        .await
        .unwrap();
    assert_eq!(resp.body.chunk().await.unwrap().unwrap(), "abc");
    let err = resp.body.chunk().await.unwrap().unwrap_err();
    assert_eq!(
        (err.kind(), err.http_status()),
        (Some(UpstreamKind::Timeout), 504)
    );
    assert!(matches!(
        err,
        ForwardError::Upstream {
            phase: Phase::Body,
            ..
        }
    ));
}

#[tokio::test]
async fn refused_connection_is_a_retryable_connect_error() {
    let addr = refused_address().await;
    let fwd = forwarder(|_| {});
    let err = fwd
        .forward_to(&addr.to_string(), post("/", b"x", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(UpstreamKind::Connect));
    assert!(err.nothing_sent() && err.is_retryable());
    assert_eq!(err.http_status(), 502);
}

#[tokio::test]
async fn body_limits_apply_both_ways() {
    // Request: rejected before any connection (413, not an upstream failure).
    let fwd = forwarder(|c| {
        c.max_request_body = 4;
        c.max_response_body = 8;
    });
    let addr = refused_address().await;
    let err = fwd
        .forward_to(&addr.to_string(), post("/", b"12345", &[]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.http_status()),
        (Some(UpstreamKind::BodyTooLarge), 413)
    );

    // Response with a declared length over the limit: refused at the head.
    let (big, _) = recording_backend(ok_response("0123456789", "")).await;
    let err = fwd
        .forward_to(&big.to_string(), post("/", b"", &[]))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.http_status()),
        (Some(UpstreamKind::BodyTooLarge), 502)
    );

    // Chunked response growing past the limit: the stream fails mid-way.
    let (chunked, _) =
        recording_backend(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n".to_vec())
            .await;
    let mut resp = fwd
        .forward_to(&chunked.to_string(), post("/", b"", &[]))
        .await
        .unwrap();
    assert_eq!(resp.body.chunk().await.unwrap().unwrap(), "01234");
    let err = resp.body.chunk().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), Some(UpstreamKind::BodyTooLarge));

    // Streamed upload growing past the limit.
    let (ok, _) = recording_backend(ok_response("x", "")).await;
    let (tx, stream) = upload_channel(4);
    let mut req = ForwardRequest::new(Method::POST, "/");
    req.body = RequestBody::Stream(stream);
    tx.try_send(Bytes::from_static(b"123")).unwrap();
    tx.try_send(Bytes::from_static(b"456")).unwrap();
    tx.finish();
    let err = fwd.forward_to(&ok.to_string(), req).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.http_status()),
        (Some(UpstreamKind::BodyTooLarge), 413)
    );
}

#[tokio::test]
async fn streamed_upload_reaches_the_backend_chunked() {
    let (addr, mut seen) = recording_backend(ok_response("done", "")).await;
    let fwd = forwarder(|_| {});
    let (tx, stream) = upload_channel(2);
    let mut req = ForwardRequest::new(Method::PUT, "/upload");
    req.headers.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    req.body = RequestBody::Stream(stream);
    let producer = tokio::spawn(async move {
        for i in 0..10u8 {
            tx.send(Bytes::from(vec![b'a' + i; 1000])).await.unwrap();
        }
        tx.finish();
    });
    let mut resp = fwd.forward_to(&addr.to_string(), req).await.unwrap();
    assert_eq!(read_all(&mut resp).await.unwrap(), b"done");
    producer.await.unwrap();
    let got = seen.recv().await.unwrap();
    assert_eq!(got.header("transfer-encoding"), Some("chunked"));
    assert_eq!(got.body.len(), 10_000);
    assert_eq!(&got.body[9_000..9_003], b"jjj");
}

#[tokio::test]
async fn aborted_upload_fails_instead_of_truncating() {
    let (addr, mut seen) = recording_backend(ok_response("x", "")).await;
    let fwd = forwarder(|_| {});
    let (tx, stream) = upload_channel(2);
    let mut req = ForwardRequest::new(Method::POST, "/");
    req.body = RequestBody::Stream(stream);
    tx.try_send(Bytes::from_static(b"partial")).unwrap();
    drop(tx); // no finish(): the client went away
    let err = fwd.forward_to(&addr.to_string(), req).await.unwrap_err();
    assert!(matches!(err.kind(), Some(UpstreamKind::Reset)), "{err:?}");
    // The backend never saw a complete request.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), seen.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn dropping_the_body_closes_the_upstream_connection() {
    let (closed_tx, closed_rx) = oneshot::channel::<()>();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let (r, w) = s.into_split();
        let mut r = BufReader::new(r);
        let w = Arc::new(Mutex::new(w));
        read_request(&mut r).await.unwrap();
        write(
            &w,
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n",
        )
        .await;
        // The next read returns EOF once the forwarder drops the connection.
        assert!(read_request(&mut r).await.is_none());
        closed_tx.send(()).unwrap();
    });
    let fwd = forwarder(|_| {});
    let mut resp = fwd
        .forward_to(&addr.to_string(), post("/", b"x", &[]))
        .await
        .unwrap();
    assert_eq!(resp.body.chunk().await.unwrap().unwrap(), "abc");
    drop(resp);
    tokio::time::timeout(Duration::from_secs(5), closed_rx)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn invalid_http_is_a_protocol_error() {
    let (addr, _) = recording_backend(b"SPDY/9 nonsense\r\n\r\n".to_vec()).await;
    let fwd = forwarder(|_| {});
    let err = fwd
        .forward_to(&addr.to_string(), post("/", b"", &[]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(UpstreamKind::Protocol), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn upstream_closing_mid_body_is_a_reset() {
    // The handler returns false: the backend closes after 5 of 100 promised bytes.
    let addr = serve(|_req, w| async move {
        write(&w, b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort").await;
        false
    })
    .await;
    let fwd = forwarder(|_| {});
    let mut resp = fwd
        .forward_to(&addr.to_string(), post("/", b"", &[]))
        .await
        .unwrap();
    let err = read_all(&mut resp).await.unwrap_err();
    assert_eq!(err.kind(), Some(UpstreamKind::Reset), "{err:?}");
}

//! Forwarding through a balancer pool: retry on another backend after a refused
//! connection, guard lifetime tied to the response body, outcome recording.

mod forward_support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use forward_support::{ok_response, refused_address, serve, write};
use gpuproxy_core::balancer::{Backend, Pool, SelectError, StrategyKind};
use gpuproxy_core::forward::{
    upload_channel, ForwardConfig, ForwardError, ForwardRequest, Forwarder, RequestBody,
    UpstreamKind,
};
use http::Method;

fn post(body: &'static [u8]) -> ForwardRequest {
    let mut req = ForwardRequest::new(Method::POST, "/v1/completions");
    req.body = RequestBody::Full(Bytes::from_static(body));
    req
}

async fn ok_backend() -> std::net::SocketAddr {
    serve(|_req, w| async move {
        write(&w, &ok_response("{\"ok\":1}", "")).await;
        true
    })
    .await
}

fn snapshot(pool: &Pool, id: &str) -> gpuproxy_core::tracker::BackendSnapshot {
    pool.backend_snapshot(id).unwrap()
}

#[tokio::test]
async fn refused_connection_retries_once_on_another_backend() {
    let dead = refused_address().await;
    let live = ok_backend().await;
    let pool = Pool::new(StrategyKind::RoundRobin);
    pool.add(Backend::new("dead", dead.to_string())).unwrap();
    pool.add(Backend::new("live", format!("http://{live}")))
        .unwrap();
    let fwd = Forwarder::new(ForwardConfig::default());
    let mut retried = 0;
    for _ in 0..4 {
        let mut resp = fwd.forward(&pool, None, post(b"{}")).await.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.backend_id.as_deref(), Some("live"));
        if resp.attempts == 2 {
            retried += 1;
        }
        while let Some(c) = resp.body.chunk().await {
            c.unwrap();
        }
    }
    // Round robin sends at least every other first attempt to the dead backend (the
    // retry's pick advances the rotation too), and every one of them was retried.
    assert!(retried >= 2);
    let (d, l) = (snapshot(&pool, "dead"), snapshot(&pool, "live"));
    assert_eq!((d.in_flight, d.errors, d.ok), (0, retried, 0));
    assert_eq!((l.in_flight, l.ok, l.errors), (0, 4, 0));
    assert_eq!(pool.snapshot().in_flight, 0);
}

#[tokio::test]
async fn streamed_upload_is_retried_when_nothing_was_read() {
    let dead = refused_address().await;
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let live = serve(move |req, w| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(req.body);
            write(&w, &ok_response("ok", "")).await;
            true
        }
    })
    .await;
    let pool = Pool::new(StrategyKind::RoundRobin);
    pool.add(Backend::new("dead", dead.to_string())).unwrap();
    pool.add(Backend::new("live", live.to_string())).unwrap();
    let fwd = Forwarder::new(ForwardConfig::default());
    // The dead backend is picked first: the first pick of a fresh round-robin pool.
    let first = pool.select(None).unwrap();
    assert_eq!(first.backend_id(), "dead");
    let (sender, stream) = upload_channel(4);
    sender.try_send(Bytes::from_static(b"chunk-1;")).unwrap();
    sender.try_send(Bytes::from_static(b"chunk-2")).unwrap();
    sender.finish();
    let mut req = ForwardRequest::new(Method::POST, "/");
    req.body = RequestBody::Stream(stream);
    let resp = fwd.forward_guarded(&pool, first, None, req).await.unwrap();
    assert_eq!(
        (resp.attempts, resp.backend_id.as_deref()),
        (2, Some("live"))
    );
    assert_eq!(seen.recv().await.unwrap(), b"chunk-1;chunk-2");
}

#[tokio::test]
async fn no_retry_when_no_other_backend_and_errors_are_typed() {
    let dead = refused_address().await;
    let pool = Pool::new(StrategyKind::P2cEwma);
    pool.add(Backend::new("dead", dead.to_string())).unwrap();
    let fwd = Forwarder::new(ForwardConfig::default());
    let err = fwd.forward(&pool, None, post(b"{}")).await.unwrap_err();
    assert_eq!(err.kind(), Some(UpstreamKind::Connect));
    assert_eq!(pool.snapshot().in_flight, 0);

    let empty = Pool::new(StrategyKind::P2cEwma);
    let err = fwd.forward(&empty, None, post(b"{}")).await.unwrap_err();
    assert_eq!(err, ForwardError::NoBackend(SelectError::NoHealthyBackend));
    assert_eq!(err.http_status(), 503);
}

#[tokio::test]
async fn guard_lives_until_the_body_ends_or_is_dropped() {
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let release_rx = Arc::new(tokio::sync::Mutex::new(Some(release_rx)));
    let addr = serve(move |_req, w| {
        let release_rx = Arc::clone(&release_rx);
        async move {
            write(
                &w,
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n",
            )
            .await;
            if let Some(rx) = release_rx.lock().await.take() {
                let _ = rx.await;
            }
            write(&w, b"0\r\n\r\n").await;
            true
        }
    })
    .await;
    let pool = Pool::new(StrategyKind::LeastConnections);
    pool.add(Backend::new("a", addr.to_string()).with_max_concurrency(1))
        .unwrap();
    let fwd = Forwarder::new(ForwardConfig::default());

    let mut resp = fwd.forward(&pool, None, post(b"x")).await.unwrap();
    assert_eq!(resp.body.chunk().await.unwrap().unwrap(), "hi");
    // Head received, body still open: the slot is taken, the backend is full.
    assert_eq!(snapshot(&pool, "a").in_flight, 1);
    assert_eq!(pool.select(None).unwrap_err(), SelectError::Saturated);
    release_tx.send(()).unwrap();
    assert!(resp.body.chunk().await.is_none());
    let s = snapshot(&pool, "a");
    assert_eq!((s.in_flight, s.ok), (0, 1));
    assert!(s.mean_latency_nanos > 0);

    // Client cancel: dropping the body mid-stream frees the slot (counted as cancelled).
    let mut resp = fwd.forward(&pool, None, post(b"x")).await.unwrap();
    assert_eq!(resp.body.chunk().await.unwrap().unwrap(), "hi");
    assert_eq!(snapshot(&pool, "a").in_flight, 1);
    drop(resp);
    let s = snapshot(&pool, "a");
    assert_eq!((s.in_flight, s.cancelled), (0, 1));
}

#[tokio::test]
async fn server_errors_and_timeouts_count_against_the_backend() {
    let five = serve(|_req, w| async move {
        write(
            &w,
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        true
    })
    .await;
    let slow = serve(|_req, _w| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        false
    })
    .await;
    let pool = Pool::new(StrategyKind::RoundRobin);
    pool.add(Backend::new("five", five.to_string())).unwrap();
    let fwd = Forwarder::new(ForwardConfig {
        first_byte_timeout: Duration::from_millis(150),
        ..ForwardConfig::default()
    });
    let resp = fwd.forward(&pool, None, post(b"x")).await.unwrap();
    assert_eq!(resp.status, 503);
    drop(resp); // empty body: completed at the head already
    assert_eq!(snapshot(&pool, "five").errors, 1);

    let pool = Pool::new(StrategyKind::RoundRobin);
    pool.add(Backend::new("slow", slow.to_string())).unwrap();
    let err = fwd.forward(&pool, None, post(b"x")).await.unwrap_err();
    assert_eq!(err.kind(), Some(UpstreamKind::Timeout));
    let s = snapshot(&pool, "slow");
    assert_eq!((s.in_flight, s.errors), (0, 1));
}

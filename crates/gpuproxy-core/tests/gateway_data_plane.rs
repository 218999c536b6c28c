//! The data plane end to end on loopback: a real hyper client, the listener, a raw
//! backend. A "Python" task answers the callbacks the way the control plane does.

mod forward_support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use forward_support::{ok_response, serve, write};
use gpuproxy_core::balancer::{Backend, Pool, StrategyKind};
use gpuproxy_core::gateway::config::GatewayConfig;
use gpuproxy_core::gateway::control::{AllowanceAnswer, AuthAnswer, Callback};
use gpuproxy_core::gateway::listener::{bind, serve as serve_listener};
use gpuproxy_core::gateway::principal::{digest, Principal};
use gpuproxy_core::gateway::routes::{PoolRoute, Price, RouteTable};
use gpuproxy_core::gateway::state::DataPlane;
use gpuproxy_core::gateway::usage::UsageEvent;
use gpuproxy_core::limits::{Quota, RateLimiter};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const KEY: &str = "gpx_test_key";
const PRICE: Price = Price {
    input_per_mtok: 0,
    output_per_mtok: 1_000_000,
}; // 1 micro per token

fn principal() -> Arc<Principal> {
    Arc::new(Principal {
        user_id: "alice".into(),
        api_key_id: Some("k1".into()),
        session_id: None,
        can_infer: true,
        priority: 0,
        rate_limits: Vec::new(),
        expires_at_ms: None,
    })
}

struct Harness {
    dp: Arc<DataPlane>,
    addr: SocketAddr,
    pool: Arc<Pool>,
    _stop: tokio::sync::watch::Sender<Option<Duration>>,
}

fn start(config: GatewayConfig, backend: SocketAddr) -> Harness {
    let limiter = Arc::new(RateLimiter::new(Quota::new(1.0, 1).unwrap(), 1000));
    let dp = DataPlane::new(config, limiter, None).unwrap();
    let pool = Arc::new(Pool::new(StrategyKind::RoundRobin));
    pool.add(Backend::new("w1", backend.to_string()).with_max_concurrency(8))
        .unwrap();
    let mut table = RouteTable::new(PRICE);
    table.add_shared(
        "m",
        PoolRoute {
            scope: "shared:s".into(),
            owner_id: "bob".into(),
            shared: true,
            pool: Arc::clone(&pool),
        },
    );
    dp.routes.replace(table);
    let listener = bind("127.0.0.1:0".parse().unwrap(), 128).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::watch::channel(None);
    tokio::spawn(serve_listener(Arc::clone(&dp), listener, rx));
    Harness {
        dp,
        addr,
        pool,
        _stop: stop,
    }
}

/// Answers callbacks like the Python control plane: KEY is alice, anything else refused;
/// allowances of `allowance` micro-dollars.
fn python(dp: &Arc<DataPlane>, allowance: u64) -> tokio::task::JoinHandle<()> {
    let dp = Arc::clone(dp);
    tokio::spawn(async move {
        let mut lease_id = 0;
        loop {
            for cb in dp.control.take(64) {
                match cb {
                    Callback::Auth {
                        digest: d,
                        credential,
                    } => {
                        let p = (&credential[..] == KEY.as_bytes()).then(principal);
                        dp.keys.insert(d, p.clone(), Duration::from_secs(60));
                        let a = p.map_or(AuthAnswer::Denied, AuthAnswer::Known);
                        dp.control.answer_auth(&d, &Ok(a));
                    }
                    Callback::Allowance { user_id, need } => {
                        lease_id += 1;
                        let lease = dp.allowances.install(
                            &user_id,
                            lease_id,
                            allowance.max(need),
                            Duration::from_secs(60),
                            false,
                        );
                        dp.control
                            .answer_allowance(&user_id, &Ok(AllowanceAnswer::Granted(lease)));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
}

fn chat_body(stream: bool, max_tokens: u32) -> String {
    format!(
        r#"{{"model":"m","stream":{stream},"max_tokens":{max_tokens},"messages":[{{"role":"user","content":"hi"}}]}}"#
    )
}

async fn post(addr: SocketAddr, key: &str, body: String) -> (u16, http::HeaderMap, Bytes) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::post(format!("http://{addr}/v1/chat/completions"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (
        parts.status.as_u16(),
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

async fn json_backend() -> SocketAddr {
    serve(|_req, w| async move {
        let body = r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"}}],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}"#;
        write(&w, &ok_response(body, "")).await;
        true
    })
    .await
}

fn rows(dp: &DataPlane) -> Vec<UsageEvent> {
    dp.ring.drain(1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_asks_once_then_serves_from_the_cache() {
    let h = start(GatewayConfig::default(), json_backend().await);
    let _py = python(&h.dp, 1_000_000);
    let (status, headers, body) = post(h.addr, KEY, chat_body(false, 10)).await;
    assert_eq!(status, 200, "{body:?}");
    assert!(headers.contains_key("x-request-id"));
    let asked = h.dp.control.asked.load(Relaxed);
    assert_eq!(asked, 2, "one auth + one allowance question");
    for _ in 0..5 {
        assert_eq!(post(h.addr, KEY, chat_body(false, 10)).await.0, 200);
    }
    assert_eq!(
        h.dp.control.asked.load(Relaxed),
        asked,
        "cached key, live allowance: no more questions"
    );
    let (status, _, body) = post(h.addr, "wrong", chat_body(false, 10)).await;
    assert_eq!(status, 401);
    assert!(String::from_utf8_lossy(&body).contains("invalid_api_key"));
    let charged: Vec<u64> = rows(&h.dp)
        .into_iter()
        .filter_map(|e| match e {
            UsageEvent::Row(r) => Some(r.cost_micros),
            UsageEvent::LeaseClosed { .. } => None,
        })
        .collect();
    assert_eq!(
        charged,
        vec![5; 6],
        "5 completion tokens at 1 micro each, per request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_unknown_keys_is_throttled_before_python_is_asked() {
    let config = GatewayConfig {
        auth_failures_per_minute: 5,
        ..GatewayConfig::default()
    };
    let h = start(config, json_backend().await);
    let _py = python(&h.dp, 1_000_000);
    let mut statuses = Vec::new();
    for i in 0..20 {
        statuses.push(
            post(h.addr, &format!("made-up-{i}"), chat_body(false, 10))
                .await
                .0,
        );
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(statuses[5..].iter().all(|&s| s == 429), "{statuses:?}");
    assert_eq!(
        h.dp.control.asked.load(Relaxed),
        5,
        "throttled misses never reach Python"
    );
    // A known key from the same address is still served from the cache.
    h.dp.keys.insert(
        digest(KEY.as_bytes()),
        Some(principal()),
        Duration::from_secs(60),
    );
    assert_eq!(post(h.addr, KEY, chat_body(false, 10)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_python_gives_503_not_a_guess() {
    let config = GatewayConfig {
        callback_timeout: Duration::from_millis(100),
        ..GatewayConfig::default()
    };
    let h = start(config, json_backend().await);
    let (status, headers, body) = post(h.addr, KEY, chat_body(false, 10)).await;
    assert_eq!(status, 503, "{body:?}");
    assert_eq!(headers["retry-after"], "1");
    assert!(String::from_utf8_lossy(&body).contains("did not answer in time"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_usage_ring_refuses_instead_of_serving_unrecorded() {
    let config = GatewayConfig {
        usage_ring: 2,
        ..GatewayConfig::default()
    };
    let h = start(config, json_backend().await);
    let _py = python(&h.dp, 1_000_000);
    assert_eq!(post(h.addr, KEY, chat_body(false, 10)).await.0, 200);
    assert_eq!(post(h.addr, KEY, chat_body(false, 10)).await.0, 200);
    let (status, _, body) = post(h.addr, KEY, chat_body(false, 10)).await;
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("usage_backlog"));
    assert_eq!(rows(&h.dp).len(), 2, "Python drains...");
    assert_eq!(
        post(h.addr, KEY, chat_body(false, 10)).await.0,
        200,
        "...and service resumes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_at_a_budget_admit_exactly_what_fits() {
    let h = start(GatewayConfig::default(), json_backend().await);
    // One allowance of 50 micro-dollars and no more: each request holds 10 (max_tokens 10).
    let dp = Arc::clone(&h.dp);
    let user: Arc<str> = "alice".into();
    dp.keys.insert(
        digest(KEY.as_bytes()),
        Some(principal()),
        Duration::from_secs(60),
    );
    dp.allowances
        .install(&user, 1, 50, Duration::from_secs(60), false);
    let refuser = tokio::spawn(async move {
        loop {
            for cb in dp.control.take(64) {
                if let Callback::Allowance { user_id, .. } = cb {
                    let r = gpuproxy_core::gateway::control::Refusal {
                        status: 402,
                        body: Bytes::from_static(b"{}"),
                        headers: vec![],
                    };
                    dp.control
                        .answer_allowance(&user_id, &Ok(AllowanceAnswer::Refused(Arc::new(r))));
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let slow = serve(|_req, w| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let body = r#"{"choices":[],"usage":{"prompt_tokens":0,"completion_tokens":10}}"#;
        write(&w, &ok_response(body, "")).await;
        true
    })
    .await;
    h.pool
        .add(Backend::new("w2", slow.to_string()).with_max_concurrency(64))
        .unwrap();
    h.pool.remove("w1").unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|_| tokio::spawn(post(h.addr, KEY, chat_body(false, 10))))
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap().0 {
            200 => ok += 1,
            402 => {}
            other => panic!("unexpected {other}"),
        }
    }
    refuser.abort();
    assert_eq!(ok, 5, "floor(50 / 10) admitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gone_mid_stream_leaves_every_guard_and_hold_at_zero() {
    let backend = serve(|_req, w| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        write(&w, head.as_bytes()).await;
        let event = "data: {\"choices\":[{\"delta\":{\"content\":\"abcd\"}}]}\n\n";
        for _ in 0..200 {
            let chunk = format!("{:x}\r\n{event}\r\n", event.len());
            write(&w, chunk.as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    })
    .await;
    let h = start(GatewayConfig::default(), backend);
    let _py = python(&h.dp, 10_000);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::post(format!("http://{}/v1/chat/completions", h.addr))
        .header("x-api-key", KEY)
        .body(Full::new(Bytes::from(chat_body(true, 100))))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(first.starts_with(b"data: "));
    assert_eq!(h.pool.snapshot().in_flight, 1);
    drop(body); // the client goes away mid-stream
    drop(client);
    let mut settled = false;
    for _ in 0..100 {
        if h.dp.metrics.in_flight.load(Relaxed) == 0 && h.pool.snapshot().in_flight == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(settled, "guard and in-flight count released");
    assert_eq!(h.dp.metrics.cancelled.load(Relaxed), 1);
    let events = rows(&h.dp);
    let UsageEvent::Row(row) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(row.outcome, "cancelled");
    assert!(
        row.estimated && row.completion_tokens >= 1,
        "billed for what was delivered: {row:?}"
    );
    // The allowance got everything back but the delivered tokens.
    h.dp.allowances.retire(None);
    let closed: Vec<_> = rows(&h.dp);
    assert_eq!(
        closed,
        vec![UsageEvent::LeaseClosed {
            lease_id: 1,
            spent: row.cost_micros
        }]
    );
}

/// The control plane's GCRA script, read from its one source (the Python module).
fn gcra_lua() -> String {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../python/gpuproxy/accounts/ratelimit/gcra.py"
    ))
    .unwrap();
    let start = source.find("_GCRA_LUA = \"\"\"").unwrap() + "_GCRA_LUA = \"\"\"".len();
    let end = start + source[start..].find("\"\"\"").unwrap();
    source[start..end].to_owned()
}

/// Redis for tests: GPUPROXY_TEST_REDIS_URL (CI sets it and a missing server fails there).
async fn test_redis() -> Option<String> {
    let url = std::env::var("GPUPROXY_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/15".into());
    let reachable = tokio::time::timeout(Duration::from_secs(2), async {
        redis::Client::open(url.as_str())
            .ok()?
            .get_multiplexed_tokio_connection()
            .await
            .ok()
    })
    .await
    .ok()
    .flatten()
    .is_some();
    if !reachable {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but Redis is not reachable at {url}"
        );
        eprintln!("skipped: Redis not reachable at {url}");
        return None;
    }
    Some(url)
}

fn limited(key_id: &str, user_bucket: &str, key_limit: u32, user_limit: u32) -> Arc<Principal> {
    use gpuproxy_core::gateway::principal::RateLimit;
    let mut p = (*principal()).clone();
    p.api_key_id = Some(key_id.into());
    p.rate_limits = vec![
        RateLimit {
            bucket: format!("k:{key_id}-{user_bucket}").into(),
            per_minute: key_limit,
        },
        RateLimit {
            bucket: user_bucket.into(),
            per_minute: user_limit,
        },
    ];
    Arc::new(p)
}

/// Two processes, two keys of one user: each key's own limit (3/min) and the user's
/// (4/min, shared by all the user's keys) are counted in Redis, so neither a second key
/// nor a second process multiplies the user's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_data_planes_count_one_shared_rate_limit_in_redis() {
    const KEY2: &str = "gpx_test_key_two";
    let Some(url) = test_redis().await else {
        return;
    };
    let backend = json_backend().await;
    let bucket = format!("u:test-{}", fastrand::u64(..));
    let mut planes = Vec::new();
    for _ in 0..2 {
        let config = GatewayConfig {
            shared_rate_limits: Some((url.clone(), gcra_lua())),
            ..GatewayConfig::default()
        };
        let h = start(config, backend);
        for (key, id) in [(KEY, "k1"), (KEY2, "k2")] {
            h.dp.keys.insert(
                digest(key.as_bytes()),
                Some(limited(id, &bucket, 3, 4)),
                Duration::from_secs(60),
            );
        }
        h.dp.allowances.install(
            &"alice".into(),
            1,
            1_000_000,
            Duration::from_secs(60),
            false,
        );
        planes.push(h);
    }
    let mut statuses = Vec::new();
    let mut remaining = Vec::new();
    for (i, key) in [KEY, KEY, KEY, KEY, KEY2, KEY2].into_iter().enumerate() {
        let (status, headers, _) = post(planes[i % 2].addr, key, chat_body(false, 10)).await;
        statuses.push(status);
        remaining.push(
            headers
                .get("x-ratelimit-remaining")
                .map(|v| v.to_str().unwrap().to_owned()),
        );
    }
    assert_eq!(
        statuses,
        vec![200, 200, 200, 429, 200, 429],
        "3 per key, 4 per user, across both processes"
    );
    assert_eq!(
        remaining[0].as_deref(),
        Some("2"),
        "the tighter limit's figures"
    );
    assert_eq!(
        remaining[4].as_deref(),
        Some("0"),
        "the user's last request"
    );
    let fallbacks: u64 = planes
        .iter()
        .map(|h| h.dp.shared_limits.as_ref().unwrap().fallbacks.load(Relaxed))
        .sum();
    assert_eq!(fallbacks, 0, "every check went to Redis");
}

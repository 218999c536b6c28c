//! `gpuproxy._core.DataPlane`: the Rust listener that serves the OpenAI hot path, as the
//! control plane sees it. Python configures it, pushes keys, routes, prices and spend
//! allowances in, answers its questions (`take_callbacks`, woken through `notify_fd`) and
//! drains its settlements (`drain_usage`). No method here is called per request.

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gpuproxy_core::forward::runtime::build_runtime;
use gpuproxy_core::forward::ForwardConfig;
use gpuproxy_core::gateway::config::GatewayConfig;
use gpuproxy_core::gateway::control::{
    AllowanceAnswer, AuthAnswer, Callback, Refusal, Unavailable,
};
use gpuproxy_core::gateway::fallback::Fallback;
use gpuproxy_core::gateway::listener::{bind, serve};
use gpuproxy_core::gateway::metrics::{Histogram, LATENCY_BUCKETS_S};
use gpuproxy_core::gateway::principal::{Digest, Principal, RateLimit};
use gpuproxy_core::gateway::routes::{PoolRoute, Price, RouteTable};
use gpuproxy_core::gateway::state::DataPlane as CoreDataPlane;
use gpuproxy_core::gateway::usage::UsageEvent;
use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::balancer::PyPool;
use crate::forward::seconds;
use crate::limits::PyRateLimiter;

type PrincipalTuple<'py> = (
    String,
    Option<String>,
    Option<String>,
    bool,
    i32,
    Vec<(String, u32)>,
    Option<u64>,
);

struct Running {
    /// `Some(drain)`: stop accepting, let open exchanges finish for up to `drain`.
    stop: tokio::sync::watch::Sender<Option<Duration>>,
    thread: std::thread::JoinHandle<()>,
}

/// One thread: a current-thread runtime (no work stealing, no cross-thread wakes: the
/// cheapest per request on a core of its own). More: a multi-thread runtime.
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
    } else {
        build_runtime(threads)
    }
}

/// The data plane of one process.
#[pyclass(frozen, module = "gpuproxy._core", name = "DataPlane")]
pub struct PyDataPlane {
    core: Arc<CoreDataPlane>,
    running: Mutex<Option<Running>>,
    address: SocketAddr,
    threads: usize,
    backlog: i32,
    bound: Mutex<Option<SocketAddr>>,
    /// Usage row ids: a per-process random prefix and a sequence (unique without a uuid).
    row_prefix: String,
    row_seq: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for PyDataPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataPlane")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

fn digest_of(b: &[u8]) -> PyResult<Digest> {
    b.try_into()
        .map_err(|_| PyValueError::new_err("digest must be 32 bytes"))
}

fn principal(t: PrincipalTuple<'_>) -> Principal {
    let (user_id, api_key_id, session_id, can_infer, priority, rate_limits, expires_at_ms) = t;
    Principal {
        user_id: user_id.into(),
        api_key_id: api_key_id.map(Into::into),
        session_id: session_id.map(Into::into),
        can_infer,
        priority,
        rate_limits: rate_limits
            .into_iter()
            .filter(|(_, per_minute)| *per_minute > 0)
            .map(|(bucket, per_minute)| RateLimit {
                bucket: bucket.into(),
                per_minute,
            })
            .collect(),
        expires_at_ms,
    }
}

fn histogram<'py>(py: Python<'py>, h: &Histogram) -> PyResult<Bound<'py, PyTuple>> {
    let (counts, sum) = h.snapshot();
    (counts, sum).into_pyobject(py)
}

#[pymethods]
impl PyDataPlane {
    #[new]
    #[pyo3(signature = (
        host, port, *, limiter, fallback_uds = None, threads = 1, backlog = 4096,
        max_request_bytes = 4 * 1024 * 1024, default_max_tokens = 4096,
        queue_timeout_s = 30.0, queue_max_timeout_s = 300.0, queue_max_depth = 1000,
        stall_timeout_s = 120.0, callback_timeout_s = 10.0, callback_queue = 4096,
        usage_ring = 65_536, billing = true, auth_failures_per_minute = 60,
        connect_timeout_s = 5.0, first_byte_timeout_s = 300.0, total_timeout_s = None,
        redis_url = None, rate_script = None, upstream_ca_pem = None
    ))]
    #[allow(clippy::too_many_arguments)] // keyword-only settings, each documented in the stub
    fn new(
        host: &str,
        port: u16,
        limiter: &Bound<'_, PyRateLimiter>,
        fallback_uds: Option<String>,
        threads: usize,
        backlog: i32,
        max_request_bytes: usize,
        default_max_tokens: u64,
        queue_timeout_s: f64,
        queue_max_timeout_s: f64,
        queue_max_depth: usize,
        stall_timeout_s: f64,
        callback_timeout_s: f64,
        callback_queue: usize,
        usage_ring: usize,
        billing: bool,
        auth_failures_per_minute: u32,
        connect_timeout_s: f64,
        first_byte_timeout_s: f64,
        total_timeout_s: Option<f64>,
        redis_url: Option<String>,
        rate_script: Option<String>,
        upstream_ca_pem: Option<&str>,
    ) -> PyResult<Self> {
        let address = (host, port)
            .to_socket_addrs()
            .map_err(|e| PyValueError::new_err(format!("host: {e}")))?
            .next()
            .ok_or_else(|| PyValueError::new_err("host: no address"))?;
        let forward = ForwardConfig {
            connect_timeout: seconds("connect_timeout_s", connect_timeout_s)?,
            first_byte_timeout: seconds("first_byte_timeout_s", first_byte_timeout_s)?,
            total_timeout: total_timeout_s
                .map(|t| seconds("total_timeout_s", t))
                .transpose()?,
            max_request_body: max_request_bytes as u64 + 4096,
            extra_roots: crate::forward::extra_roots(upstream_ca_pem)?,
            ..ForwardConfig::default()
        };
        let config = GatewayConfig {
            max_request_bytes,
            default_max_tokens,
            queue_timeout: seconds("queue_timeout_s", queue_timeout_s)?,
            queue_max_timeout: seconds("queue_max_timeout_s", queue_max_timeout_s)?,
            queue_max_depth,
            stall_timeout: seconds("stall_timeout_s", stall_timeout_s)?,
            callback_timeout: seconds("callback_timeout_s", callback_timeout_s)?,
            callback_queue,
            usage_ring,
            billing,
            auth_failures_per_minute,
            key_cache_entries: 100_000,
            shared_rate_limits: redis_url.zip(rate_script),
            forward,
        };
        let core = CoreDataPlane::new(
            config,
            Arc::clone(limiter.get().core()),
            fallback_uds.map(Fallback::new),
        )
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
        Ok(Self {
            core,
            running: Mutex::new(None),
            address,
            threads: threads.max(1),
            backlog,
            bound: Mutex::new(None),
            row_prefix: format!("{:012x}", fastrand::u64(..) >> 16),
            row_seq: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Binds the port (SO_REUSEPORT) and starts serving on the data plane's own threads.
    fn start(&self) -> PyResult<()> {
        let mut running = self.running.lock();
        if running.is_some() {
            return Err(PyRuntimeError::new_err("the data plane is already running"));
        }
        let runtime = runtime(self.threads).map_err(|e| PyOSError::new_err(e.to_string()))?;
        let listener = bind(self.address, self.backlog)
            .map_err(|e| PyOSError::new_err(format!("cannot listen on {}: {e}", self.address)))?;
        *self.bound.lock() = listener.local_addr().ok();
        let (stop, stop_rx) = tokio::sync::watch::channel(None);
        let core = Arc::clone(&self.core);
        let thread = std::thread::Builder::new()
            .name("gpuproxy-data-plane".into())
            .spawn(move || {
                let _ = runtime.block_on(serve(core, listener, stop_rx));
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| PyOSError::new_err(e.to_string()))?;
        *running = Some(Running { stop, thread });
        Ok(())
    }

    /// Stops accepting, lets open exchanges finish for up to `drain_s`, retires every spend
    /// allowance (their closings are then in `drain_usage`). Releases the GIL meanwhile.
    #[pyo3(signature = (drain_s = 10.0))]
    fn stop(&self, py: Python<'_>, drain_s: f64) {
        let Some(running) = self.running.lock().take() else {
            return;
        };
        let drain = Duration::try_from_secs_f64(drain_s.max(0.0)).unwrap_or_default();
        let _ = running.stop.send(Some(drain));
        py.detach(|| {
            let _ = running.thread.join();
        });
        self.core.allowances.retire(None);
    }

    /// The bound port (after `start`; useful with port 0).
    #[getter]
    fn port(&self) -> Option<u16> {
        self.bound.lock().map(|a| a.port())
    }

    /// The descriptor that becomes readable when `take_callbacks` has something.
    fn notify_fd(&self) -> i32 {
        self.core.control.notify_socket().as_raw_fd()
    }

    /// Questions for Python: `("auth", digest, credential)` or `("allowance", user_id, need)`.
    #[pyo3(signature = (max = 256))]
    fn take_callbacks<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for cb in self.core.control.take(max) {
            match cb {
                Callback::Auth { digest, credential } => {
                    out.append((
                        "auth",
                        PyBytes::new(py, &digest),
                        PyBytes::new(py, &credential),
                    ))?;
                }
                Callback::Allowance { user_id, need } => {
                    out.append(("allowance", &*user_id, need))?;
                }
            }
        }
        Ok(out)
    }

    /// Caches `principal` (None: refused) for `ttl_s` and answers the waiting requests.
    fn answer_auth(
        &self,
        digest: &[u8],
        principal_fields: Option<PrincipalTuple<'_>>,
        ttl_s: f64,
    ) -> PyResult<usize> {
        let d = digest_of(digest)?;
        let p = principal_fields.map(|t| Arc::new(principal(t)));
        self.core
            .keys
            .insert(d, p.clone(), seconds("ttl_s", ttl_s)?);
        let answer = match p {
            Some(p) => AuthAnswer::Known(p),
            None => AuthAnswer::Denied,
        };
        Ok(self.core.control.answer_auth(&d, &Ok(answer)))
    }

    /// The credential could not be checked now (503 for the waiting requests, not cached).
    fn auth_unavailable(&self, digest: &[u8], message: String) -> PyResult<usize> {
        Ok(self
            .core
            .control
            .answer_auth(&digest_of(digest)?, &Err(Unavailable(message))))
    }

    /// A reserved spend allowance for `user_id` (see allowance.rs).
    fn grant_allowance(
        &self,
        user_id: &str,
        lease_id: u64,
        amount: u64,
        ttl_s: f64,
        single_use: bool,
    ) -> PyResult<usize> {
        let user: Arc<str> = user_id.into();
        let lease = self.core.allowances.install(
            &user,
            lease_id,
            amount,
            seconds("ttl_s", ttl_s)?,
            single_use,
        );
        Ok(self
            .core
            .control
            .answer_allowance(&user, &Ok(AllowanceAnswer::Granted(lease))))
    }

    /// Billing refused (402/429): the waiting requests get this answer as is.
    fn refuse_allowance(
        &self,
        user_id: &str,
        status: u16,
        body: Vec<u8>,
        headers: Vec<(String, String)>,
    ) -> usize {
        let refusal = Arc::new(Refusal {
            status,
            body: Bytes::from(body),
            headers,
        });
        self.core
            .control
            .answer_allowance(&user_id.into(), &Ok(AllowanceAnswer::Refused(refusal)))
    }

    fn allowance_unavailable(&self, user_id: &str, message: String) -> usize {
        self.core
            .control
            .answer_allowance(&user_id.into(), &Err(Unavailable(message)))
    }

    /// Retires `user_id`'s allowance (limits, credits or quotas changed), or all with None.
    #[pyo3(signature = (user_id = None))]
    fn retire_allowances(&self, user_id: Option<&str>) {
        self.core.allowances.retire(user_id);
    }

    /// Replaces the route and price tables. `own`: (owner, model, scope, pool);
    /// `shared`: (model, scope, owner, pool); `prices`: (model, input, output) per 1M tokens.
    #[pyo3(signature = (own, shared, prices, default_price = (0, 0)))]
    fn set_routes(
        &self,
        own: Vec<(String, String, String, Bound<'_, PyPool>)>,
        shared: Vec<(String, String, String, Bound<'_, PyPool>)>,
        prices: Vec<(String, u64, u64)>,
        default_price: (u64, u64),
    ) {
        let mut table = RouteTable::new(Price {
            input_per_mtok: default_price.0,
            output_per_mtok: default_price.1,
        });
        for (owner, model, scope, pool) in own {
            let route = PoolRoute {
                scope: scope.into(),
                owner_id: owner.as_str().into(),
                shared: false,
                pool: Arc::clone(pool.get().core()),
            };
            table.add_own(&owner, &model, route);
        }
        for (model, scope, owner, pool) in shared {
            let route = PoolRoute {
                scope: scope.into(),
                owner_id: owner.into(),
                shared: true,
                pool: Arc::clone(pool.get().core()),
            };
            table.add_shared(&model, route);
        }
        for (model, input, output) in prices {
            table.set_price(
                &model,
                Price {
                    input_per_mtok: input,
                    output_per_mtok: output,
                },
            );
        }
        self.core.routes.replace(table);
        self.core.admission.notify();
    }

    /// The access-token key: from now on JWTs are verified here (signature, issuer, expiry)
    /// and cached per login session. `key`: the HS256 secret, or the RS256 / EdDSA public
    /// key in PEM.
    fn set_jwt(&self, algorithm: &str, key: &[u8], issuer: &str, leeway_s: u64) -> PyResult<()> {
        let verifier =
            gpuproxy_core::gateway::jwt::JwtVerifier::new(algorithm, key, issuer, leeway_s)
                .map_err(PyValueError::new_err)?;
        *self.core.jwt.write() = Some(Arc::new(verifier));
        Ok(())
    }

    /// Drops cached credentials: kind `key` (key id), `sess` (session id), `user`, `all`.
    fn invalidate(&self, kind: &str, ident: &str) -> usize {
        self.core.keys.invalidate(kind, ident)
    }

    /// Settled requests and closed allowances, oldest first (see usage.rs): `(rows,
    /// closings)`. A row is the usage table's columns in its INSERT order (id, request_id,
    /// created_ms, user_id, api_key_id, model, endpoint, worker_id, pool, stream, status,
    /// outcome, prompt, completion, estimated, cost, queue_us, ttft_us, latency_us,
    /// tokens_per_s) followed by the allowance id it was charged to and the client's
    /// traceparent (or None); a closing is
    /// `(allowance id, spent)`.
    #[pyo3(signature = (max = 4096))]
    fn drain_usage<'py>(
        &self,
        py: Python<'py>,
        max: usize,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        use std::sync::atomic::Ordering::Relaxed;
        let rows = PyList::empty(py);
        let closings = PyList::empty(py);
        for ev in self.core.ring.drain(max) {
            match ev {
                UsageEvent::Row(r) => {
                    let id = format!(
                        "{}{:012x}",
                        self.row_prefix,
                        self.row_seq.fetch_add(1, Relaxed) + 1
                    );
                    let head = (
                        id,
                        r.request_id,
                        r.created_ms,
                        &*r.user_id,
                        r.api_key_id.as_deref(),
                        r.model,
                        r.endpoint,
                        r.backend_id,
                        r.pool_scope.as_deref().unwrap_or(""),
                        u8::from(r.stream),
                    );
                    let tail = (
                        r.status,
                        r.outcome,
                        r.prompt_tokens,
                        r.completion_tokens,
                        u8::from(r.estimated),
                        r.cost_micros,
                        r.queue_us,
                        r.ttft_us,
                        r.latency_us,
                        r.tokens_per_s,
                        r.lease_id,
                        r.traceparent,
                    );
                    rows.append(head.into_pyobject(py)?.add(tail.into_pyobject(py)?)?)?;
                }
                UsageEvent::LeaseClosed { lease_id, spent } => {
                    closings.append((lease_id, spent))?;
                }
            }
        }
        Ok((rows, closings))
    }

    /// Requests waiting in the admission queue: (user, model, priority, waited ms).
    fn queue_snapshot(&self) -> Vec<(String, String, i32, f64)> {
        self.core
            .admission
            .snapshot()
            .into_iter()
            .map(|(route, priority, waited)| {
                let (user, model) = route.split_once('\u{0}').unwrap_or((&route, ""));
                (
                    user.to_owned(),
                    model.to_owned(),
                    priority,
                    waited.as_secs_f64() * 1000.0,
                )
            })
            .collect()
    }

    /// Counters and histograms (bucket counts incl. +Inf, sum in seconds).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.core.metrics;
        let d = PyDict::new(py);
        for (k, v) in [
            ("requests", &m.requests),
            ("ok", &m.ok),
            ("client_errors", &m.client_errors),
            ("upstream_errors", &m.upstream_errors),
            ("cancelled", &m.cancelled),
            ("rejected", &m.rejected),
            ("in_flight", &m.in_flight),
            ("prompt_tokens", &m.prompt_tokens),
            ("completion_tokens", &m.completion_tokens),
            ("cost_micros", &m.cost_micros),
            ("fallback_requests", &m.fallback_requests),
            (
                "queue_admitted_after_wait",
                &self.core.admission.admitted_after_wait,
            ),
            ("queue_timed_out", &self.core.admission.timed_out),
            ("queue_rejected_full", &self.core.admission.rejected_full),
            ("callbacks_asked", &self.core.control.asked),
            ("callbacks_overflowed", &self.core.control.overflowed),
            ("callbacks_timed_out", &self.core.control.timed_out),
        ] {
            d.set_item(k, v.load(Relaxed))?;
        }
        let fallbacks = self
            .core
            .shared_limits
            .as_ref()
            .map_or(0, |s| s.fallbacks.load(Relaxed));
        d.set_item("rate_limit_local_fallbacks", fallbacks)?;
        d.set_item("callbacks_queued", self.core.control.queued())?;
        d.set_item("callbacks_in_flight", self.core.control.in_flight())?;
        d.set_item("usage_queued", self.core.ring.queued())?;
        d.set_item("usage_taken", self.core.ring.taken())?;
        d.set_item("usage_capacity", self.core.ring.capacity())?;
        d.set_item("allowances_live", self.core.allowances.live())?;
        d.set_item("keys_cached", self.core.keys.len())?;
        d.set_item("queue_depth", self.core.admission.depth())?;
        d.set_item("buckets", PyTuple::new(py, LATENCY_BUCKETS_S)?)?;
        d.set_item("latency", histogram(py, &m.latency)?)?;
        d.set_item("ttft", histogram(py, &m.ttft)?)?;
        d.set_item("upstream", histogram(py, &m.upstream)?)?;
        Ok(d)
    }
}

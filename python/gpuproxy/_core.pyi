"""Typed stub of the Rust extension `gpuproxy._core` (checked by `mypy.stubtest`)."""

from collections.abc import AsyncIterable, Generator, Iterable, Mapping, Sequence
from typing import Any, Literal, Self, TypeAlias, final

__all__ = [
    "DEFAULT_STRATEGY",
    "ERROR_TYPES",
    "FORWARD_PROTOCOLS",
    "SPEND_WINDOWS",
    "SPEND_WINDOW_MINUTES",
    "STRATEGIES",
    "UPSTREAM_ERROR_KINDS",
    "BackendSnapshot",
    "BodyRead",
    "Completed",
    "ConnectionGuard",
    "DataPlane",
    "Forwarder",
    "ManualClock",
    "PendingResponse",
    "Pool",
    "PoolSnapshot",
    "RateLimiter",
    "Reservation",
    "SendWait",
    "SpendWindows",
    "UploadSink",
    "UpstreamResponse",
    "WindowStatus",
    "__version__",
]

__version__: str

# --- balancer, tracker, limits (crates/gpuproxy-py/src/{pool,snapshots,limits,clock}.rs) ---

STRATEGIES: tuple[str, ...]
"""Load-balancing strategy names, in documentation order."""
DEFAULT_STRATEGY: str
SPEND_WINDOWS: tuple[str, ...]
#: The length of each of SPEND_WINDOWS in minutes, in the same order.
SPEND_WINDOW_MINUTES: tuple[int, ...]
"""Spend window names, shortest first: "5min" ... "1440min", "48h", "72h"."""

@final
class ManualClock:
    """A time source that moves only when told to (tests, simulations)."""

    def __new__(cls, start_ms: int = 0) -> Self: ...
    def now_ms(self) -> int: ...
    def advance_ms(self, ms: int) -> None: ...
    def set_ms(self, ms: int) -> None: ...

@final
class BackendSnapshot:
    @property
    def id(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def healthy(self) -> bool: ...
    @property
    def draining(self) -> bool: ...
    @property
    def weight(self) -> int: ...
    @property
    def max_concurrency(self) -> int | None: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def ok(self) -> int: ...
    @property
    def errors(self) -> int: ...
    @property
    def cancelled(self) -> int: ...
    @property
    def ewma_latency_ms(self) -> float: ...
    @property
    def mean_latency_ms(self) -> float: ...
    @property
    def gpu_model(self) -> str | None: ...
    @property
    def gpu_count(self) -> int: ...
    @property
    def vram_gb(self) -> int: ...
    @property
    def price_per_hour_micros(self) -> int: ...
    @property
    def provider(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    def to_dict(self) -> dict[str, str | int | float | bool | None]: ...

@final
class PoolSnapshot:
    @property
    def strategy(self) -> str: ...
    @property
    def backends(self) -> int: ...
    @property
    def routable(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def saturated(self) -> int: ...
    @property
    def unavailable(self) -> int: ...
    def to_dict(self) -> dict[str, str | int]: ...

@final
class ConnectionGuard:
    """One concurrency slot; completing, releasing or garbage collection frees it."""

    @property
    def backend_id(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def done(self) -> bool: ...
    @property
    def elapsed_ms(self) -> float: ...
    def complete(self, ok: bool = True, latency_ms: float | None = None) -> None: ...
    def release(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *args: object) -> None: ...

@final
class Pool:
    """Backends plus a strategy; safe to share between threads."""

    def __new__(
        cls,
        strategy: str = "p2c_ewma",
        *,
        clock: ManualClock | None = None,
        ewma_tau_ms: float = 10000.0,
        default_rtt_ms: float = 50.0,
    ) -> Self: ...
    @property
    def strategy(self) -> str: ...
    @strategy.setter
    def strategy(self, name: str) -> None: ...
    def add_backend(
        self,
        id: str,
        address: str,
        *,
        weight: int | None = None,
        max_concurrency: int | None = None,
        gpu_model: str | None = None,
        gpu_count: int = 1,
        vram_gb: int = 0,
        price_per_hour_micros: int = 0,
        provider: str | None = None,
        region: str | None = None,
        authorization: str | None = None,
    ) -> None: ...
    def remove_backend(self, id: str) -> None: ...
    def drain(self, id: str) -> None: ...
    def undrain(self, id: str) -> None: ...
    def set_healthy(self, id: str, healthy: bool) -> None: ...
    def set_weight(self, id: str, weight: int | None) -> None: ...
    def select(
        self, affinity_key: str | bytes | None = None, *, exclude: str | None = None
    ) -> ConnectionGuard | None:
        """A guard, or None when saturated; raises NoBackendAvailable if none is healthy."""
    def backend(self, id: str) -> BackendSnapshot: ...
    def backends(self) -> list[BackendSnapshot]: ...
    def snapshot(self) -> PoolSnapshot: ...
    def ids(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: object, /) -> bool: ...

@final
class WindowStatus:
    @property
    def window(self) -> str: ...
    @property
    def spent(self) -> int: ...
    @property
    def reserved(self) -> int: ...
    @property
    def limit(self) -> int | None: ...
    @property
    def remaining(self) -> int | None: ...
    @property
    def exceeded(self) -> bool: ...
    def to_dict(self) -> dict[str, str | int | bool | None]: ...

@final
class Reservation:
    """Budget held until commit() or release(); released on context exit and on GC."""

    @property
    def account(self) -> str: ...
    @property
    def amount_micros(self) -> int: ...
    @property
    def settled(self) -> bool: ...
    def commit(self, actual_micros: int) -> None: ...
    def release(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *args: object) -> None: ...

@final
class SpendWindows:
    """Per-account spending over SPEND_WINDOWS, integer micro-dollars."""

    def __new__(
        cls,
        default_limits: Mapping[str, int | None] | None = None,
        *,
        clock: ManualClock | None = None,
    ) -> Self: ...
    def set_default_limits(self, limits: Mapping[str, int | None]) -> None: ...
    def default_limits(self) -> dict[str, int | None]: ...
    def set_limits(self, account: str, limits: Mapping[str, int | None]) -> None: ...
    def clear_limits(self, account: str) -> None: ...
    def reset_spent(self, account: str) -> None: ...
    def reserve(self, account: str, amount_micros: int) -> Reservation: ...
    def check(self, account: str, amount_micros: int) -> list[str]: ...
    def record(self, account: str, amount_micros: int) -> None: ...
    def status(self, account: str) -> list[WindowStatus]: ...
    def purge_idle(self) -> int: ...
    def memory_bytes(self) -> int: ...
    def __len__(self) -> int: ...

@final
class RateLimiter:
    """GCRA per key: check() -> 0 (allowed) or milliseconds to wait."""

    def __new__(
        cls,
        rate_per_second: float,
        burst: int,
        *,
        max_keys: int = 1000000,
        clock: ManualClock | None = None,
    ) -> Self: ...
    @property
    def rate_per_second(self) -> float: ...
    @property
    def burst(self) -> int: ...
    def check(
        self,
        key: str,
        cost: int = 1,
        *,
        rate_per_second: float | None = None,
        burst: int | None = None,
    ) -> int: ...
    def acquire(
        self,
        key: str,
        cost: int = 1,
        *,
        rate_per_second: float | None = None,
        burst: int | None = None,
    ) -> None: ...
    def purge_expired(self) -> int: ...
    def __len__(self) -> int: ...

# --- end balancer, tracker, limits ---

# --- forwarding (crates/gpuproxy-py/src/forward.rs, forward/) ---

UPSTREAM_ERROR_KINDS: tuple[str, ...]
"""`UpstreamError.kind` values: connect, timeout, reset, protocol, body_too_large."""
FORWARD_PROTOCOLS: tuple[str, ...]
"""Wire protocols to backends: "http1", "h2c"."""

_HeaderPart: TypeAlias = bytes | str
_Headers: TypeAlias = Iterable[tuple[_HeaderPart, _HeaderPart] | Sequence[_HeaderPart]]
_Body: TypeAlias = bytes | bytearray | memoryview | AsyncIterable[bytes] | None

@final
class Forwarder:
    """Pooled HTTP/1.1 and h2c clients on a private tokio runtime.

    `forward`/`forward_to` return at once with an awaitable; cancelling the awaiting task,
    `UpstreamResponse.aclose()` or dropping the response aborts the upstream request and
    releases the backend slot. Failures raise `UpstreamError` (`kind`), `NoBackendAvailable`,
    or `ValueError` for a malformed request.
    """

    def __new__(
        cls,
        *,
        connect_timeout: float = 5.0,
        first_byte_timeout: float = 300.0,
        total_timeout: float | None = None,
        max_request_body: int = 33554432,
        max_response_body: int = 268435456,
        protocol: str = "http1",
        pool_idle_timeout: float = 90.0,
        pool_max_idle_per_backend: int = 512,
        response_buffer_bytes: int = 262144,
        runtime_threads: int = 1,
        upstream_ca_pem: str | None = None,
    ) -> Self: ...
    def forward(
        self,
        pool: Pool,
        method: str,
        path_and_query: str,
        headers: _Headers,
        body: _Body = None,
        *,
        affinity_key: bytes | str | None = None,
        client_ip: str | None = None,
        request_id: str | None = None,
        guard: ConnectionGuard | None = None,
    ) -> PendingResponse:
        """Selects a backend of `pool` now (or uses `guard`, which it consumes) and
        forwards; a connect failure is retried once on another backend. Raises
        `NoBackendAvailable` immediately when the pool cannot take the request."""
    def forward_to(
        self,
        address: str,
        method: str,
        path_and_query: str,
        headers: _Headers,
        body: _Body = None,
        *,
        client_ip: str | None = None,
        request_id: str | None = None,
    ) -> PendingResponse:
        """Forwards to `host:port`, `http://host:port[/base]` or `h2c://host:port[/base]`."""
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def runtime_threads(self) -> int: ...

@final
class PendingResponse:
    """`await` it for the `UpstreamResponse` (status and headers; the body streams)."""

    def __await__(self) -> Generator[Any, None, UpstreamResponse]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...
    def send(self, value: object) -> Any: ...
    def throw(self, typ: object, val: object = None, tb: object = None) -> Any: ...
    def close(self) -> None: ...

@final
class UpstreamResponse:
    """A forwarded response; iterate it (`async for`) for the body chunks."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """Lower-case names and values as bytes (ASGI style), hop-by-hop headers removed."""
    @property
    def backend_id(self) -> str | None: ...
    @property
    def request_id(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def is_open(self) -> bool: ...
    def __aiter__(self) -> Self: ...
    def __anext__(self) -> BodyRead: ...
    def read(self) -> BodyRead:
        """The rest of the body in one `bytes` (bounded by `max_response_body`)."""
    def aclose(self) -> Completed: ...
    def close(self) -> None: ...

@final
class BodyRead:
    """Awaitable for one body chunk, or for the whole rest of the body (`read()`)."""

    def __await__(self) -> Generator[Any, None, bytes]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...
    def send(self, value: object) -> Any: ...
    def throw(self, typ: object, val: object = None, tb: object = None) -> Any: ...

@final
class Completed:
    """An awaitable that is already done."""

    def __await__(self) -> Generator[Any]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...

@final
class UploadSink:
    """The producing end of a streamed request body (used by `gpuproxy._upload`)."""

    def try_send(self, chunk: bytes) -> bool: ...
    def send(self, chunk: bytes) -> SendWait: ...
    def finish(self) -> None: ...
    def abort(self) -> None: ...

@final
class SendWait:
    def __await__(self) -> Generator[Any]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Any: ...
    def send(self, value: object) -> Any: ...
    def throw(self, typ: object, val: object = None, tb: object = None) -> Any: ...

# --- end forwarding ---

ERROR_TYPES: tuple[tuple[int, str], ...]
"""(status, OpenAI error `type`) of every listed error status (gateway/respond.rs); read
through `gpuproxy.error_types`."""

_Principal = tuple[str, str | None, str | None, bool, int, list[tuple[str, int]], int | None]
_Callback = tuple[Literal["auth"], bytes, bytes] | tuple[Literal["allowance"], str, int]

@final
class DataPlane:
    """The Rust listener serving the OpenAI hot path (see gpuproxy.gateway.data_plane).

    Principal tuples: (user_id, api_key_id, session_id, can_infer, priority,
    [(rate-limit bucket, per minute)] counted in order, key expiry unix ms or None).
    """

    def __new__(
        cls,
        host: str,
        port: int,
        *,
        limiter: RateLimiter,
        fallback_uds: str | None = None,
        threads: int = 1,
        backlog: int = 4096,
        max_request_bytes: int = ...,
        default_max_tokens: int = 4096,
        queue_timeout_s: float = 30.0,
        queue_max_timeout_s: float = 300.0,
        queue_max_depth: int = 1000,
        stall_timeout_s: float = 120.0,
        callback_timeout_s: float = 10.0,
        callback_queue: int = 4096,
        usage_ring: int = 65536,
        billing: bool = True,
        auth_failures_per_minute: int = 60,
        connect_timeout_s: float = 5.0,
        first_byte_timeout_s: float = 300.0,
        total_timeout_s: float | None = None,
        redis_url: str | None = None,
        rate_script: str | None = None,
        upstream_ca_pem: str | None = None,
    ) -> Self: ...
    def start(self) -> None: ...
    def stop(self, drain_s: float = 10.0) -> None: ...
    @property
    def port(self) -> int | None: ...
    def notify_fd(self) -> int: ...
    def take_callbacks(self, max: int = 256) -> list[_Callback]: ...
    def answer_auth(
        self, digest: bytes, principal_fields: _Principal | None, ttl_s: float
    ) -> int: ...
    def auth_unavailable(self, digest: bytes, message: str) -> int: ...
    def grant_allowance(
        self, user_id: str, lease_id: int, amount: int, ttl_s: float, single_use: bool
    ) -> int: ...
    def refuse_allowance(
        self, user_id: str, status: int, body: bytes, headers: list[tuple[str, str]]
    ) -> int: ...
    def allowance_unavailable(self, user_id: str, message: str) -> int: ...
    def retire_allowances(self, user_id: str | None = None) -> None: ...
    def set_jwt(self, algorithm: str, key: bytes, issuer: str, leeway_s: int) -> None: ...
    def set_routes(
        self,
        own: list[tuple[str, str, str, Pool]],
        shared: list[tuple[str, str, str, Pool]],
        prices: list[tuple[str, int, int]],
        default_price: tuple[int, int] = ...,
    ) -> None: ...
    def invalidate(self, kind: str, ident: str) -> int: ...
    def drain_usage(
        self, max: int = 4096
    ) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]: ...
    def queue_snapshot(self) -> list[tuple[str, str, int, float]]: ...
    def stats(self) -> dict[str, Any]: ...

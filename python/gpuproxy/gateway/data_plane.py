"""The Rust data plane's control side: what Python pushes into `_core.DataPlane`, the
questions it answers, and the settlements it drains.

`aiserve-gpuproxyd` starts one `_core.DataPlane` per worker process on the public port
(SO_REUSEPORT) and serves the Litestar app on a private Unix socket behind it. The data
plane serves `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/models[/id]`
and their `/api/v1` twins itself, without the GIL; this module

- pushes the route and price tables whenever pools, sharing or prices change;
- answers the rare callbacks: an unknown credential (authenticated once through the
  accounts service, then cached in Rust for the auth cache TTL) and a user without a spend
  allowance (reserved through billing, see `gpuproxy.billing.allowances`);
- forwards revocations (key, session, user) to the Rust credential cache at once;
- drains the usage ring in batches: usage rows to the usage writer, metrics, per-request
  ledger charges, and allowance closings (only as many rows as the writer has room for,
  so a stalled database fills the ring and new requests get 503, never free service).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from typing import TYPE_CHECKING, Any

from gpuproxy import _core
from gpuproxy.accounts.errors import AuthUnavailable
from gpuproxy.accounts.ratelimit.gcra import GCRA_SCRIPT
from gpuproxy.accounts.tokens import ISSUER
from gpuproxy.exceptions import ApiError
from gpuproxy.gateway.errors import error_json
from gpuproxy.gateway.tracing import RequestTracer, otlp_provider
from gpuproxy.logs import REQUEST_ID

if TYPE_CHECKING:
    from gpuproxy.accounts.service import AccountsService
    from gpuproxy.gateway.billing_port import SpendAllowances
    from gpuproxy.gateway.service import Gateway
    from gpuproxy.services import Services

__all__ = ["LISTEN_ENV", "UDS_ENV", "DataPlaneBridge", "start_data_plane"]

log = logging.getLogger(__name__)
access_log = logging.getLogger("gpuproxy.access")

#: host:port the data plane listens on (set by aiserve-gpuproxyd for its workers).
LISTEN_ENV = "GPUPROXY_DATA_PLANE_LISTEN"
#: the Unix socket Granian serves the control plane on, behind the data plane.
UDS_ENV = "GPUPROXY_CONTROL_UDS"
#: How often the usage ring is drained.
DRAIN_INTERVAL_S = 0.02


#: The data plane's own thread (named in `gpuproxy-py`'s gateway.rs); /proc shows 15 chars.
_DATA_PLANE_THREAD = "gpuproxy-data-p"


def lower_priority_of_other_threads(nice: int) -> int:
    """Every thread of this process but the data plane's gets `nice` (Linux: per thread).

    The control plane's work (draining settlements, writing rows, admin requests) comes in
    bursts of a few milliseconds; on a core shared with the data plane, a burst made every
    request waiting behind it late (the latency tail). With a lower priority the scheduler
    lets the data plane preempt it; the control plane still gets the CPU the data plane
    leaves. Threads created later inherit it from their creator. Raising nice needs no
    privilege. Returns how many threads were changed.
    """
    if nice <= 0 or not os.path.isdir("/proc/self/task"):
        return 0
    changed = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as comm:
                if comm.read().strip() == _DATA_PLANE_THREAD:
                    continue
            os.setpriority(os.PRIO_PROCESS, int(tid), nice)
            changed += 1
        except OSError:
            continue  # the thread ended meanwhile
    return changed


def _split_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class DataPlaneBridge:
    def __init__(
        self, services: Services, gateway: Gateway, host: str, port: int, uds: str | None
    ) -> None:
        settings = gateway.settings
        self.services = services
        self.gateway = gateway
        accounts = services.accounts
        if accounts is None:
            raise RuntimeError("the data plane needs the accounts service (start it first)")
        self.accounts: AccountsService = accounts
        billing = gateway.billing
        self.allowances: SpendAllowances | None = (
            billing.allowance_book(settings.gateway_allowance_micros) if billing else None
        )
        self.allowance_ttl_s = settings.gateway_allowance_ttl_ms / 1000
        rates = accounts.limiter
        limiter = getattr(rates.local, "core", None)
        if limiter is None:  # (not `or`: an empty limiter has len() 0 and is falsy)
            limiter = _core.RateLimiter(1.0, 1)
        # Shared limits: the data plane runs the control plane's own GCRA script on Redis.
        shared = rates.shared and bool(settings.redis_url)
        self.core = _core.DataPlane(
            host,
            port,
            limiter=limiter,
            fallback_uds=uds,
            threads=settings.gateway_data_plane_threads,
            max_request_bytes=settings.gateway_max_request_bytes,
            default_max_tokens=settings.gateway_default_max_tokens,
            queue_timeout_s=max(settings.gateway_queue_timeout_s, 0.001),
            queue_max_timeout_s=max(settings.gateway_queue_max_timeout_s, 0.001),
            queue_max_depth=settings.gateway_queue_max_depth,
            stall_timeout_s=settings.gateway_stall_timeout_s,
            usage_ring=settings.gateway_usage_ring,
            billing=billing is not None,
            connect_timeout_s=settings.gateway_connect_timeout_s,
            first_byte_timeout_s=settings.gateway_first_byte_timeout_s,
            total_timeout_s=settings.gateway_total_timeout_s,
            upstream_ca_pem=settings.gateway_upstream_ca_pem or None,
            redis_url=settings.redis_url if shared else None,
            rate_script=GCRA_SCRIPT.lua if shared else None,
        )
        #: spans of settled requests (GATEWAY_OTEL_TRACES; None = off)
        self.tracer: RequestTracer | None = (
            RequestTracer(otlp_provider()) if settings.gateway_otel_traces else None
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._fd = -1

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self.push_routes()
        codec = self.accounts.authenticator.jwt
        self.core.set_jwt(codec.algorithm, codec.verifying_key_bytes(), ISSUER, codec.leeway_s)
        self.core.start()
        loop = asyncio.get_running_loop()
        self._fd = self.core.notify_fd()
        loop.add_reader(self._fd, self._on_wake)
        self.gateway.pools.on_change.append(self.push_routes)
        self.gateway.prices.on_change.append(self.push_routes)
        self.accounts.invalidation_listeners.append(self._invalidate)
        self._tasks.add(self.gateway.services.supervise("data-plane-drain", self._drain_loop))
        lowered = lower_priority_of_other_threads(self.gateway.settings.gateway_control_plane_nice)
        if lowered:
            log.info("control-plane threads run at nice +%d (%d threads)",
                     self.gateway.settings.gateway_control_plane_nice, lowered)  # fmt: skip
        log.info("data plane listening on port %s", self.core.port)

    async def close(self) -> None:
        """Stop accepting, let open exchanges finish, then settle everything drained."""
        if self._fd >= 0:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._fd = -1
        await asyncio.to_thread(self.core.stop, 10.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.drain(limit=None)
        if self.allowances is not None:
            self.allowances.close_all()
        if self.tracer is not None:
            self.tracer.close()  # exports what is batched

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- pushed state -------------------------------------------------------------------------

    def push_routes(self) -> None:
        own: list[tuple[str, str, str, Any]] = []
        shared: list[tuple[str, str, str, Any]] = []
        for entry in self.gateway.pools.entries():
            if entry.shared:
                shared.append((entry.model, entry.scope, entry.owner_id, entry.pool))
            else:
                own.append((entry.owner_id, entry.model, entry.scope, entry.pool))
        book = self.gateway.prices
        prices = [(p.model, p.input_micros_per_mtok, p.output_micros_per_mtok) for p in book.all()]
        default = (book.default.input_micros_per_mtok, book.default.output_micros_per_mtok)
        self.core.set_routes(own, shared, prices, default)

    def _invalidate(self, kind: str, ident: str) -> None:
        self.core.invalidate(kind, ident)
        if kind == "user" or kind == "all":
            self.core.retire_allowances(ident or None)

    # -- callbacks ----------------------------------------------------------------------------

    def _on_wake(self) -> None:
        for question in self.core.take_callbacks():
            if question[0] == "auth":
                self._spawn(self._answer_auth(question[1], question[2]), "data-plane-auth")
            else:
                self._spawn(self._answer_allowance(question[1], question[2]), "data-plane-money")

    async def _answer_auth(self, digest: bytes, raw: bytes) -> None:
        authenticator = self.accounts.authenticator
        credential = raw.decode("latin-1")
        try:
            principal = await authenticator.authenticate_credential(credential)
        except AuthUnavailable as exc:
            self.core.auth_unavailable(digest, str(exc))
            return
        except Exception:
            log.exception("authenticating for the data plane failed")
            self.core.auth_unavailable(digest, "authentication failed; retry")
            return
        ttl = max(authenticator.cache_ttl_s(), 0.05)
        if principal is None:
            self.core.answer_auth(digest, None, ttl)
            return
        # The data plane verified a token itself and asks about its login session (keyed
        # by the session, not the token): the entry must outlive this token's expiry.
        session_keyed = hashlib.sha256(raw).digest() != digest
        fields = (
            principal.user_id,
            principal.api_key_id,
            principal.session_id,
            principal.has_scope("inference"),
            principal.priority,
            self.accounts.limiter.buckets(principal),
            None if session_keyed else authenticator.expires_at_ms(credential),
        )
        self.core.answer_auth(digest, fields, ttl)

    async def _answer_allowance(self, user_id: str, need: int) -> None:
        book = self.allowances
        if book is None:
            self.core.allowance_unavailable(user_id, "billing is not running")
            return
        try:
            allowance_id, amount, single_use = await book.grant(user_id, need)
        except ApiError as exc:
            body = error_json(exc)
            self.core.refuse_allowance(user_id, exc.http_status, body, list(exc.headers().items()))
            return
        except Exception:
            log.exception("reserving a spend allowance failed")
            self.core.allowance_unavailable(user_id, "billing is unavailable; retry")
            return
        self.core.grant_allowance(user_id, allowance_id, amount, self.allowance_ttl_s, single_use)

    # -- settlements --------------------------------------------------------------------------

    async def _drain_loop(self) -> None:
        while True:
            await asyncio.sleep(DRAIN_INTERVAL_S)
            try:
                self.drain()
            except Exception:
                log.exception("draining the data plane's usage ring failed")

    def drain(self, limit: int | None = 8192) -> int:
        usage = self.gateway.usage
        room = max(0, usage.max_buffered - usage.pending)
        rows, closings = self.core.drain_usage(1 << 30 if limit is None else min(room, limit))
        if rows:
            self._account(rows)
        book = self.allowances
        if book is not None:
            # After the rows: a closing's total includes every row charged to it.
            for allowance_id, spent in closings:
                book.close(allowance_id, spent)
        return len(rows) + len(closings)

    def _account(self, rows: list[tuple[Any, ...]]) -> None:
        """Usage rows to the writer, samples to the metrics, costs to the allowances (one
        pass; the data plane settles thousands of requests a second)."""
        record_row = self.gateway.usage.record_row
        touch = self.accounts.usage.touch
        book = self.allowances
        tracer = self.tracer
        samples = []
        for row in rows:
            record_row(row[:20])
            (_, request_id, _, user_id, key_id, model, _, _, _, _, _, outcome,
             prompt, completion, _, cost, _, ttft_us, latency_us, tokens_per_s,
             allowance_id, traceparent) = row  # fmt: skip
            ok = outcome == "ok" or outcome == "cancelled"
            ttft = None if ttft_us is None else ttft_us / 1e6
            samples.append(
                (
                    model,
                    user_id,
                    (ok, latency_us / 1e6, ttft, prompt, completion, cost, tokens_per_s),
                )
            )
            if key_id:
                touch(key_id)
            if cost and allowance_id and book is not None:
                book.charge(allowance_id, cost, request_id)
            if tracer is not None:
                tracer.record(row, traceparent)
        self.gateway.metrics.record_many(samples)
        if access_log.isEnabledFor(logging.DEBUG):
            self._access_lines(rows)

    @staticmethod
    def _access_lines(rows: list[tuple[Any, ...]]) -> None:
        """Debug mode (`-dm`): one access line per request the data plane served, handed to
        Python logging in the drained batch (as the control plane logs its own requests:
        endpoint and status only, never headers or bodies)."""
        for row in rows:
            token = REQUEST_ID.set(row[1])
            try:
                access_log.debug(
                    "POST %s -> %s (%s) in %.1f ms",
                    row[6],
                    row[10],
                    row[11],
                    row[18] / 1000,
                )
            finally:
                REQUEST_ID.reset(token)

    def stats(self) -> dict[str, Any]:
        return dict(self.core.stats())

    def queue_report(self) -> dict[str, Any]:
        """`GET /api/monitoring/queue` from the data plane's admission queue."""
        routes: dict[str, dict[str, Any]] = {}
        for user_id, model, priority, waited_ms in self.core.queue_snapshot():
            route = routes.setdefault(
                f"{user_id}/{model}",
                {"route": f"{user_id}/{model}", "depth": 0, "oldest_wait_ms": 0.0,
                 "by_priority": {}},
            )  # fmt: skip
            route["depth"] += 1
            route["oldest_wait_ms"] = max(route["oldest_wait_ms"], round(waited_ms, 3))
            by_priority = route["by_priority"]
            by_priority[str(priority)] = by_priority.get(str(priority), 0) + 1
        stats = self.core.stats()
        settings = self.gateway.settings
        return {
            "depth": stats["queue_depth"],
            "max_depth": settings.gateway_queue_max_depth,
            "default_timeout_s": settings.gateway_queue_timeout_s,
            "queues": list(routes.values()),
            "counters": {
                "admitted_after_wait": stats["queue_admitted_after_wait"],
                "timed_out": stats["queue_timed_out"],
                "rejected_full": stats["queue_rejected_full"],
            },
        }

    def settle_now(self) -> int:
        """Retire every allowance and drain what the ring holds: billing and usage then show
        everything served so far (tests, operators' consistent reads, shutdown)."""
        self.core.retire_allowances(None)
        return self.drain(limit=None)


async def start_data_plane(services: Services) -> None:
    """STARTUP_HOOKS entry: serve the hot routes in Rust when the daemon asked for it."""
    listen = os.environ.get(LISTEN_ENV)
    gateway = services.gateway
    if not listen or gateway is None:
        return
    host, port = _split_listen(listen)
    bridge = DataPlaneBridge(services, gateway, host, port, os.environ.get(UDS_ENV) or None)
    bridge.start()
    gateway.data_plane = bridge
    # Hooks run last-in first: serving stops before the services it settles into close.
    services.shutdown_hooks.append(bridge.close)

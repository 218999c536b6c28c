"""The proxy's registry of worker agents (see `gpuproxy.worker.protocol`).

- `issue_token(owner_id, instance_id)` makes a one-time registration token (the rent flow
  passes it to the instance as GPUPROXY_WORKER_TOKEN). Tokens live in the key-value store
  when one is given (Redis in production, so any proxy process can accept the worker),
  otherwise in memory; only their SHA-256 is stored.
- `register` checks the worker's address (`gpuproxy.gateway.worker_address`: the instance's
  own address, never metadata), consumes the token (or checks a resume token) and returns
  the `registered` answer; `heartbeat`, `disconnect`, `deregister` follow the connection.
- Each worker registered with a token serves only requests carrying the secret derived
  from that token (`gpuproxy.worker.serve_auth`); `authorization(worker_id)` gives the
  header value the gateway sends. It is kept here only, never in `WorkerInfo`.
- Health: a worker is unhealthy after `missed_heartbeats_allowed` (3) heartbeat intervals
  without one, when it reports itself unhealthy, or when its connection drops; it is
  healthy again with the next good heartbeat (or a resume). A dropped worker that does not
  resume within `resume_grace_s` is removed.
- Every change is an event (`registered`, `healthy`, `unhealthy`, `removed`) delivered
  synchronously to subscribers, so the gateway can add and remove the worker from its pools.

Live connections are per process: a worker is connected to one proxy process, and that
process's gateway routes to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import msgspec

from gpuproxy.gateway.worker_address import AddressRefused, WorkerAddressPolicy
from gpuproxy.worker.protocol import (
    GpuInfo,
    GpuMetrics,
    HeartbeatMsg,
    RegisteredMsg,
    RegisterMsg,
)
from gpuproxy.worker.serve_auth import authorization_for_token

if TYPE_CHECKING:
    from gpuproxy.storage.kv import KeyValueStore

__all__ = [
    "RegistrationError",
    "WorkerEvent",
    "WorkerEventKind",
    "WorkerInfo",
    "WorkerRegistry",
]

log = logging.getLogger(__name__)

WorkerEventKind = Literal["registered", "healthy", "unhealthy", "removed"]
_TOKEN_PREFIX = "gpuproxy:worker-token:"  # noqa: S105 - a key prefix, not a secret


class RegistrationError(Exception):
    """A refused registration or frame; `code` goes into the protocol's error message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class WorkerInfo(msgspec.Struct, kw_only=True):
    worker_id: str
    owner_id: str
    instance_id: str | None
    address: str
    models: list[str]
    gpus: list[GpuInfo]
    backend: str
    version: str
    heartbeat_interval_s: float
    registered_at: float  # Unix time
    last_heartbeat_at: float  # Unix time
    #: The addresses `address` was checked at when it registered; connections go there.
    pinned_ips: list[str] = msgspec.field(default_factory=list)
    healthy: bool = True
    connected: bool = True
    reported_healthy: bool = True
    in_flight: int = 0
    heartbeats: int = 0
    metrics: list[GpuMetrics] = msgspec.field(default_factory=list)
    unhealthy_reason: str = ""


class WorkerEvent(msgspec.Struct, frozen=True, kw_only=True):
    kind: WorkerEventKind
    worker: WorkerInfo  # a snapshot taken when the event happened


class _Grant(msgspec.Struct, frozen=True):
    owner_id: str
    instance_id: str | None


class _Entry:
    """Registry-private state next to the public WorkerInfo."""

    __slots__ = ("authorization", "disconnected_at", "info", "last_beat", "resume_hash")

    def __init__(self, info: WorkerInfo, resume_hash: str, authorization: str, now: float) -> None:
        self.info = info
        self.resume_hash = resume_hash
        self.authorization = authorization
        self.last_beat = now
        self.disconnected_at: float | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_register(message: RegisterMsg) -> None:
    parts = urlsplit(message.address)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(message.address) > 512:
        raise RegistrationError("protocol_error", "address must be an http(s) URL")
    if len(message.models) > 64 or any(not 0 < len(m) <= 256 for m in message.models):
        raise RegistrationError("protocol_error", "at most 64 model names of 1-256 characters")
    if len(message.gpus) > 64:
        raise RegistrationError("protocol_error", "at most 64 GPUs")


class WorkerRegistry:
    def __init__(
        self,
        *,
        kv: KeyValueStore | None = None,
        default_interval_s: float = 5.0,
        min_interval_s: float = 1.0,
        max_interval_s: float = 60.0,
        missed_heartbeats_allowed: int = 3,
        resume_grace_s: float = 60.0,
        token_ttl_s: float = 3600.0,
        address_policy: WorkerAddressPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kv = kv
        #: Without one: public addresses only, and no instance can be verified.
        self.address_policy = address_policy or WorkerAddressPolicy()
        self.default_interval_s = default_interval_s
        self.min_interval_s = min_interval_s
        self.max_interval_s = max_interval_s
        self.missed_heartbeats_allowed = missed_heartbeats_allowed
        self.resume_grace_s = resume_grace_s
        self.token_ttl_s = token_ttl_s
        self._clock = clock
        self._tokens: dict[str, tuple[_Grant, float]] = {}  # used without a kv store
        self._workers: dict[str, _Entry] = {}
        self._subscribers: list[Callable[[WorkerEvent], None]] = []
        self._monitor: asyncio.Task[None] | None = None

    # ---- tokens ------------------------------------------------------------------

    async def issue_token(
        self, owner_id: str, instance_id: str | None = None, ttl_s: float | None = None
    ) -> str:
        """A one-time registration token bound to `owner_id` (and an instance, if given)."""
        token = "gpw_" + secrets.token_urlsafe(32)
        ttl = ttl_s or self.token_ttl_s
        grant = _Grant(owner_id, instance_id)
        if self._kv is not None:
            await self._kv.set(_TOKEN_PREFIX + _hash(token), msgspec.json.encode(grant), ttl=ttl)
        else:
            self._tokens[_hash(token)] = (grant, self._clock() + ttl)
        return token

    async def revoke_token(self, token: str) -> None:
        if self._kv is not None:
            await self._kv.delete(_TOKEN_PREFIX + _hash(token))
        self._tokens.pop(_hash(token), None)

    async def _peek(self, token: str) -> _Grant | None:
        """The grant of a live token, without using it up."""
        key = _hash(token)
        if self._kv is not None:
            raw = await self._kv.get(_TOKEN_PREFIX + key)
            return None if raw is None else msgspec.json.decode(raw, type=_Grant)
        entry = self._tokens.get(key)
        return None if entry is None or entry[1] < self._clock() else entry[0]

    async def _consume(self, token: str) -> _Grant | None:
        key = _hash(token)
        if self._kv is not None:
            raw = await self._kv.get(_TOKEN_PREFIX + key)
            # Whoever deletes the key consumed it: two racing registrations cannot both win.
            if raw is None or not await self._kv.delete(_TOKEN_PREFIX + key):
                return None
            return msgspec.json.decode(raw, type=_Grant)
        entry = self._tokens.pop(key, None)
        if entry is None or entry[1] < self._clock():
            return None
        return entry[0]

    # ---- connection lifecycle ----------------------------------------------------------

    async def register(self, message: RegisterMsg) -> tuple[WorkerInfo, RegisteredMsg]:
        """Accept a `register` frame; raises RegistrationError with the protocol's code."""
        _check_register(message)
        if message.worker_id and message.resume_token:
            return await self._resume(message)
        if not message.token:
            raise RegistrationError("invalid_token", "a registration token is required")
        grant = await self._peek(message.token)
        if grant is None:
            raise RegistrationError("invalid_token", "unknown, used or expired token")
        # Checked before the token is used up, so a worker told to retry (its instance's
        # address is not known yet) can come back with the same token.
        pinned = await self._verify_address(grant.instance_id, message.address)
        grant = await self._consume(message.token)
        if grant is None:
            raise RegistrationError("invalid_token", "unknown, used or expired token")
        now = self._clock()
        interval = min(self.max_interval_s, max(self.min_interval_s, message.heartbeat_interval_s))
        resume_token = "gpr_" + secrets.token_urlsafe(32)
        info = WorkerInfo(
            worker_id="wrk_" + secrets.token_hex(8),
            owner_id=grant.owner_id,
            instance_id=grant.instance_id,
            address=message.address.rstrip("/"),
            models=list(message.models),
            gpus=list(message.gpus),
            backend=message.backend,
            version=message.version,
            heartbeat_interval_s=interval,
            registered_at=time.time(),
            last_heartbeat_at=time.time(),
            pinned_ips=pinned,
        )
        entry = _Entry(info, _hash(resume_token), authorization_for_token(message.token), now)
        self._workers[info.worker_id] = entry
        self._emit("registered", info)
        return self._snapshot(info), self._registered(info, resume_token)

    async def _verify_address(self, instance_id: str | None, address: str) -> list[str]:
        try:
            return await self.address_policy.verify(instance_id, address)
        except AddressRefused as exc:
            raise RegistrationError(exc.code, str(exc)) from exc

    async def _resume(self, message: RegisterMsg) -> tuple[WorkerInfo, RegisteredMsg]:
        entry = self._workers.get(message.worker_id or "")
        if entry is None or not secrets.compare_digest(
            entry.resume_hash, _hash(message.resume_token or "")
        ):
            raise RegistrationError("unknown_worker", "no such worker to resume")
        info = entry.info
        address = message.address.rstrip("/")
        if address != info.address:
            info.pinned_ips = await self._verify_address(info.instance_id, address)
        info.connected = True
        info.address = address
        info.models = list(message.models)
        entry.disconnected_at = None
        self._beat(entry, healthy=True)
        return self._snapshot(info), self._registered(info, message.resume_token or "")

    def _registered(self, info: WorkerInfo, resume_token: str) -> RegisteredMsg:
        return RegisteredMsg(
            worker_id=info.worker_id,
            resume_token=resume_token,
            heartbeat_interval_s=info.heartbeat_interval_s,
            missed_heartbeats_allowed=self.missed_heartbeats_allowed,
        )

    def heartbeat(self, worker_id: str, message: HeartbeatMsg) -> None:
        entry = self._workers.get(worker_id)
        if entry is None:
            raise RegistrationError("unknown_worker", "heartbeat from an unknown worker")
        info = entry.info
        info.in_flight = max(0, message.in_flight)
        info.metrics = list(message.gpus[:64])
        info.heartbeats += 1
        if message.models is not None:
            info.models = [m for m in message.models[:64] if 0 < len(m) <= 256]
        self._beat(entry, healthy=message.healthy)

    def _beat(self, entry: _Entry, *, healthy: bool) -> None:
        info = entry.info
        entry.last_beat = self._clock()
        info.last_heartbeat_at = time.time()
        info.reported_healthy = healthy
        if healthy and info.connected and not info.healthy:
            info.healthy, info.unhealthy_reason = True, ""
            self._emit("healthy", info)
        elif not healthy and info.healthy:
            self._mark_unhealthy(entry, "the worker reports itself unhealthy")

    def disconnect(self, worker_id: str) -> None:
        """The connection closed without a deregister: unhealthy now, removed after grace."""
        entry = self._workers.get(worker_id)
        if entry is None:
            return
        entry.info.connected = False
        entry.disconnected_at = self._clock()
        if entry.info.healthy:
            self._mark_unhealthy(entry, "connection closed")

    def deregister(self, worker_id: str) -> None:
        entry = self._workers.pop(worker_id, None)
        if entry is not None:
            entry.info.healthy = False
            entry.info.connected = False
            self._emit("removed", entry.info)

    def _mark_unhealthy(self, entry: _Entry, reason: str) -> None:
        entry.info.healthy = False
        entry.info.unhealthy_reason = reason
        self._emit("unhealthy", entry.info)

    # ---- health sweep --------------------------------------------------------------

    def sweep(self) -> None:
        """Mark workers past their heartbeat deadline unhealthy; remove expired ones."""
        now = self._clock()
        for worker_id, entry in list(self._workers.items()):
            info = entry.info
            if entry.disconnected_at is not None:
                if now - entry.disconnected_at >= self.resume_grace_s:
                    self.deregister(worker_id)
                continue
            allowed = self.missed_heartbeats_allowed * info.heartbeat_interval_s
            # A quarter interval of slack absorbs scheduling jitter on either side.
            if info.healthy and now - entry.last_beat > allowed + info.heartbeat_interval_s / 4:
                missed = int((now - entry.last_beat) / info.heartbeat_interval_s)
                self._mark_unhealthy(entry, f"{missed} heartbeats missed")
        if self._kv is None:
            for key, (_, expires) in list(self._tokens.items()):
                if expires < now:
                    del self._tokens[key]

    def sweep_period_s(self) -> float:
        intervals = [e.info.heartbeat_interval_s for e in self._workers.values()]
        return min(1.0, max(0.01, min(intervals, default=self.default_interval_s) / 4))

    def start(self) -> None:
        """Run `sweep` in the background (idempotent); call from the running loop."""
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.get_running_loop().create_task(self._run(), name="workers")

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None

    async def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception:  # a failing subscriber must not stop health tracking
                log.exception("worker health sweep failed")
            await asyncio.sleep(self.sweep_period_s())

    # ---- queries and events ------------------------------------------------------------

    def subscribe(self, callback: Callable[[WorkerEvent], None]) -> Callable[[], None]:
        """Call `callback(event)` on every change; returns a function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, kind: WorkerEventKind, info: WorkerInfo) -> None:
        event = WorkerEvent(kind=kind, worker=self._snapshot(info))
        log.info("worker %s (%s): %s", info.worker_id, info.address, kind)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("worker event subscriber failed")

    @staticmethod
    def _snapshot(info: WorkerInfo) -> WorkerInfo:
        return msgspec.structs.replace(info, models=list(info.models), metrics=list(info.metrics))

    def authorization(self, worker_id: str) -> str | None:
        """The `Authorization` value the worker accepts (None: unknown worker)."""
        entry = self._workers.get(worker_id)
        return None if entry is None else entry.authorization

    def get(self, worker_id: str) -> WorkerInfo | None:
        entry = self._workers.get(worker_id)
        return None if entry is None else self._snapshot(entry.info)

    def workers(
        self, *, owner_id: str | None = None, model: str | None = None, healthy_only: bool = False
    ) -> list[WorkerInfo]:
        """Workers, optionally of one owner, serving one model, and/or healthy only."""
        found = []
        for entry in self._workers.values():
            info = entry.info
            if owner_id is not None and info.owner_id != owner_id:
                continue
            if model is not None and model not in info.models:
                continue
            if healthy_only and not info.healthy:
                continue
            found.append(self._snapshot(info))
        return sorted(found, key=lambda w: w.registered_at)

    def by_model(self, owner_id: str | None = None) -> dict[str, list[WorkerInfo]]:
        """Healthy workers grouped by the models they serve."""
        groups: dict[str, list[WorkerInfo]] = {}
        for info in self.workers(owner_id=owner_id, healthy_only=True):
            for model in info.models:
                groups.setdefault(model, []).append(info)
        return groups

"""Model -> pool of healthy workers, kept in step with the worker registry.

Every worker serving a model sits in exactly one Rust `Pool` per model:
- its owner's own pool (`own:<owner>`, model), reachable only by that owner, or
- a shared pool (`shared:<name>`, model) when an admin shared that owner's workers (for
  all or some models, see `SharedPoolConfig`); shared pools are reachable by every user.

The data plane routes a caller's request for a model to its own pool first, then to the
shared pools serving the model (`crates/gpuproxy-core/src/gateway/routes.rs`, fed by
`gateway.data_plane.DataPlaneBridge.push_routes` from `entries()`): own rented GPUs are used
before spilling over to shared capacity (and own traffic costs nothing per token). A
worker in one pool per model means its concurrency limit counts per model it serves
(workers normally serve one model).

Membership follows registry events (registered / healthy / unhealthy / removed) and a
periodic `sync` that also picks up changes without events (models changed by a
heartbeat, an address changed on resume).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from gpuproxy import _core
from gpuproxy.gateway.worker_address import connect_address
from gpuproxy.gateway.workers import WorkerEvent, WorkerInfo

__all__ = ["ModelPools", "PoolEntry", "SharedPoolConfig"]

log = logging.getLogger(__name__)


class SharedPoolConfig(msgspec.Struct, frozen=True, kw_only=True):
    """An admin's decision: `owner_id`'s workers serve everyone (only `models`, if set)."""

    name: str
    owner_id: str
    models: tuple[str, ...] = ()

    def covers(self, owner_id: str, model: str) -> bool:
        return owner_id == self.owner_id and (not self.models or model in self.models)


@dataclass(eq=False, slots=True)
class PoolEntry:
    """One Rust pool and what it is: `scope` is `own:<user>` or `shared:<name>`."""

    scope: str
    model: str
    owner_id: str
    shared: bool
    pool: _core.Pool
    members: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return f"{self.scope}/{self.model}"


def _gpu_labels(info: WorkerInfo) -> tuple[str | None, int, int]:
    """(GPU model, count, VRAM GB) for the balancer's default weights."""
    if not info.gpus:
        return None, 1, 0
    first = info.gpus[0]
    return first.name, len(info.gpus), max(0, first.memory_total_mb // 1024)


class ModelPools:
    def __init__(
        self,
        *,
        strategy: str,
        max_concurrency: int | None,
        shared: Iterable[SharedPoolConfig] = (),
        authorization_of: Callable[[str], str | None] | None = None,
    ) -> None:
        #: worker id -> the `Authorization` value its worker requires (registry secrets)
        self._authorization_of = authorization_of or (lambda _worker_id: None)
        self._strategy = strategy
        self.max_concurrency = max_concurrency
        self._shared: list[SharedPoolConfig] = list(shared)
        self._pools: dict[tuple[str, str], PoolEntry] = {}
        #: model -> shared pool entries serving it
        self._shared_by_model: dict[str, list[PoolEntry]] = {}
        #: worker id -> (address, healthy, models, labels) as applied
        self._applied: dict[str, tuple[str, bool, tuple[str, ...], str]] = {}
        #: worker id -> owner id (routes bill by the serving pool's owner)
        self._owners: dict[str, str] = {}
        #: called when a slot may have become free or routes changed (admission notify)
        self.on_change: list[Callable[[], None]] = []
        #: called with each Rust pool created / dropped (the load endpoints list them)
        self.on_pool_created: list[Callable[[PoolEntry], None]] = []
        self.on_pool_removed: list[Callable[[PoolEntry], None]] = []

    # -- what the data plane routes over ----------------------------------------------------

    def entries(self) -> list[PoolEntry]:
        return list(self._pools.values())

    def owner_of(self, worker_id: str) -> str | None:
        return self._owners.get(worker_id)

    # -- configuration -----------------------------------------------------------------------

    @property
    def strategy(self) -> str:
        return self._strategy

    @strategy.setter
    def strategy(self, name: str) -> None:
        if name not in _core.STRATEGIES:
            raise ValueError(f"unknown strategy {name!r}: expected one of {_core.STRATEGIES}")
        if name == self._strategy:
            return
        self._strategy = name
        for entry in self._pools.values():
            if entry.pool.strategy != name:
                entry.pool.strategy = name

    def set_strategy(self, name: str) -> None:
        self.strategy = name

    def set_shared(self, shared: Iterable[SharedPoolConfig], workers: Iterable[WorkerInfo]) -> None:
        """New shared-pool configuration: every worker is placed again."""
        self._shared = list(shared)
        for worker_id in list(self._applied):
            self._remove(worker_id)
        self.sync(workers)

    @property
    def shared(self) -> list[SharedPoolConfig]:
        return list(self._shared)

    # -- membership -----------------------------------------------------------------------

    def apply(self, event: WorkerEvent) -> None:
        """A registry event (subscribe this method)."""
        if event.kind == "removed":
            self._remove(event.worker.worker_id)
        else:
            self._place(event.worker)

    def sync(self, workers: Iterable[WorkerInfo]) -> None:
        """Make the pools match the registry's current list of workers."""
        seen = set()
        for info in workers:
            seen.add(info.worker_id)
            self._place(info)
        for worker_id in [w for w in self._applied if w not in seen]:
            self._remove(worker_id)

    def _scope_for(self, owner_id: str, model: str) -> tuple[str, bool, str]:
        for config in self._shared:
            if config.covers(owner_id, model):
                return f"shared:{config.name}", True, config.owner_id
        return f"own:{owner_id}", False, owner_id

    def _place(self, info: WorkerInfo) -> None:
        models = tuple(sorted(set(info.models)))
        labels = repr(_gpu_labels(info))
        state = (info.address, info.healthy, models, labels)
        previous = self._applied.get(info.worker_id)
        if previous == state:
            return
        if previous is not None and (previous[0], previous[2], previous[3]) == (
            state[0],
            state[2],
            state[3],
        ):
            # Only health changed: flip it in place (statistics are kept).
            for model in models:
                entry = self._pools.get(self._key_of(info.owner_id, model))
                if entry is not None and info.worker_id in entry.members:
                    entry.pool.set_healthy(info.worker_id, info.healthy)
            self._applied[info.worker_id] = state
            self._changed()
            return
        if previous is not None:
            self._remove(info.worker_id, notify=False)
        for model in models:
            entry = self._entry(info.owner_id, model)
            gpu_model, gpu_count, vram_gb = _gpu_labels(info)
            try:
                entry.pool.add_backend(
                    info.worker_id,
                    connect_address(info.address, info.pinned_ips),
                    max_concurrency=self.max_concurrency,
                    authorization=self._authorization_of(info.worker_id),
                    gpu_model=gpu_model,
                    gpu_count=gpu_count,
                    vram_gb=vram_gb,
                )
            except Exception:
                log.exception("could not add worker %s to %s", info.worker_id, entry.label)
                continue
            entry.members.add(info.worker_id)
            if not info.healthy:
                entry.pool.set_healthy(info.worker_id, False)
        self._applied[info.worker_id] = state
        self._owners[info.worker_id] = info.owner_id
        self._changed()

    def _key_of(self, owner_id: str, model: str) -> tuple[str, str]:
        return (self._scope_for(owner_id, model)[0], model)

    def _entry(self, owner_id: str, model: str) -> PoolEntry:
        scope, shared, pool_owner = self._scope_for(owner_id, model)
        entry = self._pools.get((scope, model))
        if entry is None:
            entry = PoolEntry(scope, model, pool_owner, shared, _core.Pool(self.strategy))
            self._pools[(scope, model)] = entry
            if shared:
                self._shared_by_model.setdefault(model, []).append(entry)
            for callback in self.on_pool_created:
                callback(entry)
        return entry

    def _remove(self, worker_id: str, *, notify: bool = True) -> None:
        if self._applied.pop(worker_id, None) is None:
            return
        self._owners.pop(worker_id, None)
        for key, entry in list(self._pools.items()):
            if worker_id not in entry.members:
                continue
            entry.members.discard(worker_id)
            # In-flight requests keep their guard (and the backend entry) until they end.
            entry.pool.remove_backend(worker_id)
            if not entry.members:
                del self._pools[key]
                for callback in self.on_pool_removed:
                    callback(entry)
                if entry.shared:
                    siblings = self._shared_by_model.get(entry.model, [])
                    if entry in siblings:
                        siblings.remove(entry)
                    if not siblings:
                        self._shared_by_model.pop(entry.model, None)
        if notify:
            self._changed()

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

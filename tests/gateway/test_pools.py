"""Model pools fed by worker-registry events: own vs shared pools, health, routes."""

from __future__ import annotations

import time

import pytest

from gpuproxy.exceptions import NoBackendAvailable
from gpuproxy.gateway.pools import ModelPools, SharedPoolConfig
from gpuproxy.gateway.workers import WorkerEvent, WorkerInfo
from gpuproxy.worker.protocol import GpuInfo


def worker(wid: str, owner: str, models: list[str], *, healthy: bool = True) -> WorkerInfo:
    now = time.time()
    return WorkerInfo(
        worker_id=wid, owner_id=owner, instance_id=None, address=f"http://127.0.0.1:1{wid[-1]}",
        models=models, gpus=[GpuInfo(index=0, name="H100 80GB", memory_total_mb=81920)],
        backend="simulate", version="1", heartbeat_interval_s=5, registered_at=now,
        last_heartbeat_at=now, healthy=healthy,
    )  # fmt: skip


def event(kind: str, info: WorkerInfo) -> WorkerEvent:
    return WorkerEvent(kind=kind, worker=info)  # type: ignore[arg-type]


def test_own_workers_are_private_to_their_owner() -> None:
    pools = ModelPools(strategy="round_robin", max_concurrency=2)
    pools.apply(event("registered", worker("w1", "alice", ["llama", "mistral"])))
    assert pools.models_for("alice") == ["llama", "mistral"]
    assert pools.models_for("bob") == []
    assert pools.route("bob", "llama") is None
    route = pools.route("alice", "llama")
    assert route is not None
    slot = route.try_acquire()
    assert slot is not None
    assert slot.guard.backend_id == "w1"
    assert not slot.entry.shared
    slot.release()


def test_shared_pool_serves_everyone_and_own_pool_comes_first() -> None:
    shared = [SharedPoolConfig(name="public", owner_id="platform", models=("llama",))]
    pools = ModelPools(strategy="round_robin", max_concurrency=1, shared=shared)
    pools.apply(event("registered", worker("w1", "platform", ["llama", "secret"])))
    pools.apply(event("registered", worker("w2", "alice", ["llama"])))
    assert pools.models_for("bob") == ["llama"]
    assert pools.models_for("platform") == ["llama", "secret"]
    route = pools.route("alice", "llama")
    assert route is not None
    first = route.try_acquire()
    assert first is not None
    assert first.guard.backend_id == "w2"  # own worker first
    second = route.try_acquire()
    assert second is not None
    assert (second.guard.backend_id, second.entry.shared) == ("w1", True)
    assert route.try_acquire() is None  # both at max concurrency: wait, not an error
    first.release()
    again = route.try_acquire()
    assert again is not None
    assert again.guard.backend_id == "w2"


def test_unhealthy_and_removed_workers_leave_the_route() -> None:
    pools = ModelPools(strategy="round_robin", max_concurrency=None)
    info = worker("w1", "alice", ["llama"])
    pools.apply(event("registered", info))
    pools.apply(event("unhealthy", worker("w1", "alice", ["llama"], healthy=False)))
    assert pools.models_for("alice") == []
    route = pools.route("alice", "llama")
    assert route is not None
    with pytest.raises(NoBackendAvailable):
        route.try_acquire()
    pools.apply(event("healthy", info))
    assert pools.models_for("alice") == ["llama"]
    pools.apply(event("removed", info))
    assert pools.route("alice", "llama") is None
    assert pools.entries() == []


def test_sync_picks_up_model_changes_and_vanished_workers() -> None:
    pools = ModelPools(strategy="p2c_ewma", max_concurrency=None)
    pools.sync([worker("w1", "alice", ["a"]), worker("w2", "alice", ["a"])])
    assert sorted(e.label for e in pools.entries()) == ["own:alice/a"]
    pools.sync([worker("w1", "alice", ["b"])])
    assert sorted(e.label for e in pools.entries()) == ["own:alice/b"]
    assert pools.entries()[0].members == {"w1"}


def test_strategy_switch_applies_to_every_pool() -> None:
    pools = ModelPools(strategy="round_robin", max_concurrency=None)
    pools.sync([worker("w1", "alice", ["a"]), worker("w2", "bob", ["b"])])
    pools.set_strategy("least_connections")
    assert {e.pool.strategy for e in pools.entries()} == {"least_connections"}
    with pytest.raises(ValueError, match="unknown strategy"):
        pools.set_strategy("fastest")


def test_changing_shared_configuration_moves_workers() -> None:
    pools = ModelPools(strategy="round_robin", max_concurrency=None)
    workers = [worker("w1", "platform", ["llama"])]
    pools.sync(workers)
    assert pools.models_for("bob") == []
    pools.set_shared([SharedPoolConfig(name="public", owner_id="platform")], workers)
    assert pools.models_for("bob") == ["llama"]
    assert [e.label for e in pools.entries()] == ["shared:public/llama"]
    notified: list[int] = []
    pools.on_change.append(lambda: notified.append(1))
    pools.set_shared([], workers)
    assert pools.models_for("bob") == []
    assert notified

"""Model pools fed by worker-registry events: own vs shared pools, health, membership
(what the data plane routes over)."""

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


def _placed(pools: ModelPools) -> dict[str, tuple[set[str], bool, str, int]]:
    """label -> (members, shared, pool owner, routable backends): what the data plane gets."""
    return {
        e.label: (e.members, e.shared, e.owner_id, e.pool.snapshot().routable)
        for e in pools.entries()
    }


def test_own_workers_are_private_to_their_owner() -> None:
    pools = ModelPools(strategy="round_robin", max_concurrency=2)
    pools.apply(event("registered", worker("w1", "alice", ["llama", "mistral"])))
    assert _placed(pools) == {
        "own:alice/llama": ({"w1"}, False, "alice", 1),
        "own:alice/mistral": ({"w1"}, False, "alice", 1),
    }
    (entry, *_) = pools.entries()
    guards = [entry.pool.select(None), entry.pool.select(None)]
    assert all(g is not None for g in guards)
    assert entry.pool.select(None) is None  # max_concurrency 2 per worker and model


def test_shared_pool_serves_everyone_for_its_models_only() -> None:
    shared = [SharedPoolConfig(name="public", owner_id="platform", models=("llama",))]
    pools = ModelPools(strategy="round_robin", max_concurrency=1, shared=shared)
    pools.apply(event("registered", worker("w1", "platform", ["llama", "secret"])))
    pools.apply(event("registered", worker("w2", "alice", ["llama"])))
    assert _placed(pools) == {
        "shared:public/llama": ({"w1"}, True, "platform", 1),
        "own:platform/secret": ({"w1"}, False, "platform", 1),
        "own:alice/llama": ({"w2"}, False, "alice", 1),
    }
    assert pools.owner_of("w2") == "alice"


def test_unhealthy_and_removed_workers_leave_the_pools() -> None:
    pools = ModelPools(strategy="round_robin", max_concurrency=None)
    info = worker("w1", "alice", ["llama"])
    pools.apply(event("registered", info))
    pools.apply(event("unhealthy", worker("w1", "alice", ["llama"], healthy=False)))
    assert _placed(pools) == {"own:alice/llama": ({"w1"}, False, "alice", 0)}
    (entry,) = pools.entries()
    with pytest.raises(NoBackendAvailable):
        entry.pool.select(None)
    pools.apply(event("healthy", info))
    assert _placed(pools)["own:alice/llama"][3] == 1
    pools.apply(event("removed", info))
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
    assert [e.label for e in pools.entries()] == ["own:platform/llama"]
    pools.set_shared([SharedPoolConfig(name="public", owner_id="platform")], workers)
    assert [(e.label, e.shared) for e in pools.entries()] == [("shared:public/llama", True)]
    notified: list[int] = []
    pools.on_change.append(lambda: notified.append(1))
    pools.set_shared([], workers)
    assert [e.label for e in pools.entries()] == ["own:platform/llama"]
    assert notified

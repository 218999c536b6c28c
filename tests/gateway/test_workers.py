"""WorkerRegistry: tokens, registration, heartbeats, health transitions and events."""

from __future__ import annotations

import pytest

from gpuproxy.gateway.worker_address import WorkerAddressPolicy
from gpuproxy.gateway.workers import RegistrationError, WorkerEvent, WorkerRegistry
from gpuproxy.storage._kv_memory import MemoryStore
from gpuproxy.worker.protocol import GpuInfo, HeartbeatMsg, RegisterMsg


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _register(token: str | None = None, **kwargs: object) -> RegisterMsg:
    fields: dict[str, object] = {
        "address": "http://127.0.0.1:9001",
        "token": token,
        "models": ["llama"],
        "gpus": [GpuInfo(index=0, name="A100", memory_total_mb=81920)],
        "heartbeat_interval_s": 2.0,
    }
    fields.update(kwargs)
    return RegisterMsg(**fields)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


#: Where the providers say the test instances run (the workers register there).
_ENDPOINTS = {"local-abc": "http://127.0.0.1:9001", "vast-1": "http://127.0.0.1:9001"}


async def _endpoint(instance_id: str) -> str | None:
    return _ENDPOINTS.get(instance_id)


def _policy() -> WorkerAddressPolicy:
    return WorkerAddressPolicy(allowed_networks=["127.0.0.0/8"], instance_endpoint=_endpoint)


@pytest.fixture
def registry(clock: Clock) -> WorkerRegistry:
    return WorkerRegistry(
        clock=clock, min_interval_s=0.5, resume_grace_s=30, address_policy=_policy()
    )


def _kinds(events: list[WorkerEvent]) -> list[str]:
    return [e.kind for e in events]


async def test_token_is_one_time_and_bound_to_owner(registry: WorkerRegistry) -> None:
    token = await registry.issue_token("user-1", instance_id="local-abc")
    info, answer = await registry.register(_register(token))
    assert info.owner_id == "user-1"
    assert info.instance_id == "local-abc"
    assert answer.worker_id == info.worker_id
    assert answer.heartbeat_interval_s == 2.0
    assert answer.missed_heartbeats_allowed == 3
    with pytest.raises(RegistrationError) as reused:
        await registry.register(_register(token))
    assert reused.value.code == "invalid_token"
    with pytest.raises(RegistrationError):
        await registry.register(_register("gpw_made-up"))
    with pytest.raises(RegistrationError):
        await registry.register(_register(None))


async def test_expired_token_and_bad_frames(registry: WorkerRegistry, clock: Clock) -> None:
    token = await registry.issue_token("u", ttl_s=10)
    clock.now += 11
    with pytest.raises(RegistrationError):
        await registry.register(_register(token))
    fresh = await registry.issue_token("u")
    with pytest.raises(RegistrationError) as bad:
        await registry.register(_register(fresh, address="file:///etc/passwd"))
    assert bad.value.code == "protocol_error"
    # A refused frame does not consume the token.
    assert (await registry.register(_register(fresh)))[0].owner_id == "u"


async def test_missed_heartbeats_then_recovery(registry: WorkerRegistry, clock: Clock) -> None:
    events: list[WorkerEvent] = []
    registry.subscribe(events.append)
    info, _ = await registry.register(_register(await registry.issue_token("u")))
    worker = info.worker_id
    for seq in range(1, 4):  # on time: stays healthy
        clock.now += 2.0
        registry.heartbeat(worker, HeartbeatMsg(seq=seq, in_flight=seq))
        registry.sweep()
    assert _kinds(events) == ["registered"]
    assert registry.get(worker).in_flight == 3  # type: ignore[union-attr]

    clock.now += 2.0 * 2.5  # only two and a half intervals: not yet
    registry.sweep()
    assert registry.get(worker).healthy  # type: ignore[union-attr]
    clock.now += 2.0 * 1.0  # three and a half intervals since the last heartbeat
    registry.sweep()
    assert _kinds(events) == ["registered", "unhealthy"]
    assert "3 heartbeats missed" in events[-1].worker.unhealthy_reason
    assert registry.workers(healthy_only=True) == []

    registry.heartbeat(worker, HeartbeatMsg(seq=9))
    assert _kinds(events)[-1] == "healthy"
    assert [w.worker_id for w in registry.workers(healthy_only=True)] == [worker]


async def test_reported_unhealthy_and_model_updates(registry: WorkerRegistry) -> None:
    events: list[WorkerEvent] = []
    registry.subscribe(events.append)
    info, _ = await registry.register(_register(await registry.issue_token("u")))
    registry.heartbeat(info.worker_id, HeartbeatMsg(seq=1, healthy=False))
    assert _kinds(events) == ["registered", "unhealthy"]
    registry.heartbeat(info.worker_id, HeartbeatMsg(seq=2, models=["llama", "mistral"]))
    assert _kinds(events)[-1] == "healthy"
    assert set(registry.by_model()) == {"llama", "mistral"}
    with pytest.raises(RegistrationError):
        registry.heartbeat("wrk_unknown", HeartbeatMsg(seq=1))


async def test_disconnect_resume_and_grace(registry: WorkerRegistry, clock: Clock) -> None:
    events: list[WorkerEvent] = []
    registry.subscribe(events.append)
    info, answer = await registry.register(_register(await registry.issue_token("u")))
    registry.disconnect(info.worker_id)
    assert _kinds(events) == ["registered", "unhealthy"]
    with pytest.raises(RegistrationError) as wrong:
        await registry.register(
            _register(worker_id=info.worker_id, resume_token="gpr_wrong", token=None)
        )
    assert wrong.value.code == "unknown_worker"
    resumed, _ = await registry.register(
        _register(worker_id=info.worker_id, resume_token=answer.resume_token)
    )
    assert resumed.worker_id == info.worker_id
    assert resumed.connected
    assert _kinds(events)[-1] == "healthy"

    registry.disconnect(info.worker_id)
    clock.now += 31
    registry.sweep()
    assert _kinds(events)[-2:] == ["unhealthy", "removed"]
    assert registry.get(info.worker_id) is None


async def test_listing_per_owner_and_model_and_deregister(registry: WorkerRegistry) -> None:
    a, _ = await registry.register(_register(await registry.issue_token("alice")))
    b, _ = await registry.register(_register(await registry.issue_token("bob"), models=["mistral"]))
    assert [w.worker_id for w in registry.workers(owner_id="alice")] == [a.worker_id]
    assert [w.worker_id for w in registry.workers(model="mistral")] == [b.worker_id]
    assert registry.workers(owner_id="alice", model="mistral") == []
    events: list[WorkerEvent] = []
    unsubscribe = registry.subscribe(events.append)
    registry.deregister(a.worker_id)
    unsubscribe()
    registry.deregister(b.worker_id)
    assert _kinds(events) == ["removed"]


async def test_interval_is_clamped(registry: WorkerRegistry) -> None:
    _, fast = await registry.register(
        _register(await registry.issue_token("u"), heartbeat_interval_s=0.001)
    )
    assert fast.heartbeat_interval_s == 0.5


async def test_tokens_in_the_key_value_store() -> None:
    kv = MemoryStore()
    issuer = WorkerRegistry(kv=kv, address_policy=_policy())
    acceptor = WorkerRegistry(kv=kv, address_policy=_policy())  # another proxy process
    token = await issuer.issue_token("carol", instance_id="vast-1")
    info, _ = await acceptor.register(_register(token))
    assert info.owner_id == "carol"
    assert info.instance_id == "vast-1"
    with pytest.raises(RegistrationError):
        await issuer.register(_register(token))
    await kv.close()


async def test_failing_subscriber_does_not_break_events(registry: WorkerRegistry) -> None:
    seen: list[str] = []

    def broken(event: WorkerEvent) -> None:
        raise RuntimeError("boom")

    registry.subscribe(broken)
    registry.subscribe(lambda e: seen.append(e.kind))
    await registry.register(_register(await registry.issue_token("u")))
    assert seen == ["registered"]

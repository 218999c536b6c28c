"""The registry's SQL on SQLite and PostgreSQL: versions per owner and name, quotas (count
and bytes) checked with the insert, lookups by id and by name, visibility."""

from __future__ import annotations

import pytest

from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.formats import TensorSpec
from gpuproxy.serving.registry import ModelRecord, ModelRegistry, Quota
from gpuproxy.storage.database import Database
from gpuproxy.storage.migrations import apply_migrations

QUOTA = Quota(max_models=3, max_bytes=250)


def record(model_id: str, owner: str, name: str, size: int = 100, **kw: str) -> ModelRecord:
    return ModelRecord(
        id=model_id,
        owner_id=owner,
        name=name,
        version=0,
        source_format="onnx",
        visibility=kw.get("visibility", "private"),
        size_bytes=size,
        sha256="0" * 64,
        inputs=[TensorSpec("x", "FP32", [-1, 3])],
        outputs=[TensorSpec("y", "FP32", [-1, 2])],
        price_per_call_micros=5,
        created_at=1,
    )


async def test_versions_quotas_and_lookups(any_db: Database) -> None:
    await apply_migrations(any_db)
    registry = ModelRegistry(any_db)
    first = await registry.insert(record("m1", "alice", "net"), QUOTA)
    second = await registry.insert(record("m2", "alice", "net", 10, visibility="public"), QUOTA)
    assert (first.version, second.version) == (1, 2)
    other = await registry.insert(record("m3", "bob", "net", 10), QUOTA)
    assert other.version == 1  # versions count per owner

    with pytest.raises(ModelError) as too_big:
        await registry.insert(record("m4", "alice", "big", 200), QUOTA)
    assert too_big.value.http_status == 403
    await registry.insert(record("m5", "alice", "small", 10), QUOTA)
    with pytest.raises(ModelError):
        await registry.insert(record("m6", "alice", "fourth", 1), QUOTA)
    assert await registry.get("m4") is None

    latest = await registry.resolve("alice", "net")
    assert latest is not None
    assert latest.id == "m2"
    pinned = await registry.resolve("alice", "net", 1)
    assert pinned is not None
    assert pinned.id == "m1"
    assert pinned.inputs == [TensorSpec("x", "FP32", [-1, 3])]
    assert pinned.price_per_call_micros == 5
    # Bob's "net" is private, so for Carol the name means Alice's public version.
    carol = await registry.resolve("carol", "net")
    assert carol is not None
    assert carol.id == "m2"
    assert await registry.resolve("carol", "m1") is None
    assert await registry.resolve("carol", "m1", admin=True) is not None
    assert [r.id for r in await registry.visible("bob")] == ["m3", "m2"]  # by name, version
    assert await registry.versions(second, all_of_them=True) == [1, 2]
    assert await registry.versions(second, all_of_them=False) == [2]
    assert await registry.delete("m1")
    assert not await registry.delete("m1")

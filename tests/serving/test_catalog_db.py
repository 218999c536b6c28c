"""The catalog's SQL on SQLite and PostgreSQL: versions per owner and name, quotas (count
and bytes) checked with the insert, lookups by id and by name, visibility."""

from __future__ import annotations

import pytest

from gpuproxy.serving.catalog import ModelCatalog, ModelRecord, Quota
from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.formats import TensorSpec
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
    catalog = ModelCatalog(any_db)
    first = await catalog.insert(record("m1", "alice", "net"), QUOTA)
    second = await catalog.insert(record("m2", "alice", "net", 10, visibility="public"), QUOTA)
    assert (first.version, second.version) == (1, 2)
    other = await catalog.insert(record("m3", "bob", "net", 10), QUOTA)
    assert other.version == 1  # versions count per owner

    with pytest.raises(ModelError) as too_big:
        await catalog.insert(record("m4", "alice", "big", 200), QUOTA)
    assert too_big.value.http_status == 403
    await catalog.insert(record("m5", "alice", "small", 10), QUOTA)
    with pytest.raises(ModelError):
        await catalog.insert(record("m6", "alice", "fourth", 1), QUOTA)
    assert await catalog.get("m4") is None

    latest = await catalog.resolve("alice", "net")
    assert latest is not None
    assert latest.id == "m2"
    pinned = await catalog.resolve("alice", "net", 1)
    assert pinned is not None
    assert pinned.id == "m1"
    assert pinned.inputs == [TensorSpec("x", "FP32", [-1, 3])]
    assert pinned.price_per_call_micros == 5
    # Bob's "net" is private, so for Carol the name means Alice's public version.
    carol = await catalog.resolve("carol", "net")
    assert carol is not None
    assert carol.id == "m2"
    assert await catalog.resolve("carol", "m1") is None
    assert await catalog.resolve("carol", "m1", admin=True) is not None
    assert [r.id for r in await catalog.visible("bob")] == ["m3", "m2"]  # by name, version
    assert await catalog.versions(second, all_of_them=True) == [1, 2]
    assert await catalog.versions(second, all_of_them=False) == [2]
    assert await catalog.delete("m1")
    assert not await catalog.delete("m1")

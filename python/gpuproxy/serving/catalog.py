"""The `served_models` table: records of uploaded models, versions, visibility, quotas.

A name belongs to its owner; each upload under the same name is the next version. A
caller sees their own models and public ones; a model is addressed by id, or by name
(the caller's own first, then a public model of that name when exactly one owner has one).
"""

from __future__ import annotations

from typing import Any

import msgspec

from gpuproxy.clock import now_ms
from gpuproxy.money import micros_to_dollars
from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.formats import TensorSpec
from gpuproxy.storage.database import Database, Executor, Row

__all__ = ["ModelCatalog", "ModelRecord", "Quota"]

# Statements below splice this constant column list (never a value) into their text.
_COLUMNS = (
    "id, owner_id, name, version, source_format, visibility, size_bytes, sha256, inputs, "
    "outputs, price_per_call_micros, created_at"
)
_specs = msgspec.json.Decoder(list[TensorSpec])
_encode = msgspec.json.Encoder().encode


class ModelRecord(msgspec.Struct, kw_only=True):
    id: str
    owner_id: str
    name: str
    version: int
    source_format: str
    visibility: str
    size_bytes: int
    sha256: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    price_per_call_micros: int
    created_at: int

    @classmethod
    def from_row(cls, row: Row) -> ModelRecord:
        return cls(
            id=row["id"],
            owner_id=row["owner_id"],
            name=row["name"],
            version=int(row["version"]),
            source_format=row["source_format"],
            visibility=row["visibility"],
            size_bytes=int(row["size_bytes"]),
            sha256=row["sha256"],
            inputs=_specs.decode(row["inputs"]),
            outputs=_specs.decode(row["outputs"]),
            price_per_call_micros=int(row["price_per_call_micros"]),
            created_at=int(row["created_at"]),
        )

    def view(self, viewer_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "format": "onnx",
            "source_format": self.source_format,
            "visibility": self.visibility,
            "owned_by": "you" if self.owner_id == viewer_id else self.owner_id,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "inputs": msgspec.to_builtins(self.inputs),
            "outputs": msgspec.to_builtins(self.outputs),
            "price_per_call": micros_to_dollars(self.price_per_call_micros),
            "created_at": self.created_at,
        }


class Quota(msgspec.Struct, frozen=True):
    max_models: int
    max_bytes: int


class ModelCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, record: ModelRecord, quota: Quota) -> ModelRecord:
        """Store `record` as the next version of its name, within the owner's quota (403)."""

        async def body(tx: Executor) -> ModelRecord:
            used = await tx.fetchrow(
                "SELECT COUNT(*) AS n, COALESCE(SUM(size_bytes), 0) AS b FROM served_models "
                "WHERE owner_id = $1",
                record.owner_id,
            )
            count, size = (int(used["n"]), int(used["b"])) if used else (0, 0)
            if count + 1 > quota.max_models:
                raise ModelError(
                    403,
                    f"model quota reached: {count} of {quota.max_models} models",
                    code="model_quota_exceeded",
                )
            if size + record.size_bytes > quota.max_bytes:
                raise ModelError(
                    403,
                    f"model storage quota reached: {size} + {record.size_bytes} bytes is more "
                    f"than {quota.max_bytes}",
                    code="model_quota_exceeded",
                )
            latest = await tx.fetchval(
                "SELECT MAX(version) FROM served_models WHERE owner_id = $1 AND name = $2",
                record.owner_id,
                record.name,
            )
            record.version = int(latest or 0) + 1
            await tx.execute(
                f"INSERT INTO served_models ({_COLUMNS}) "  # noqa: S608
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                record.id,
                record.owner_id,
                record.name,
                record.version,
                record.source_format,
                record.visibility,
                record.size_bytes,
                record.sha256,
                _encode(record.inputs).decode(),
                _encode(record.outputs).decode(),
                record.price_per_call_micros,
                record.created_at or now_ms(),
            )
            return record

        return await self._db.atomic(body)

    async def get(self, model_id: str) -> ModelRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM served_models WHERE id = $1",  # noqa: S608
            model_id,
        )
        return ModelRecord.from_row(row) if row else None

    async def visible(self, user_id: str) -> list[ModelRecord]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM served_models "  # noqa: S608
            "WHERE owner_id = $1 OR visibility = 'public' "
            "ORDER BY name, version",
            user_id,
        )
        return [ModelRecord.from_row(r) for r in rows]

    async def resolve(
        self, user_id: str, ref: str, version: int | None = None, *, admin: bool = False
    ) -> ModelRecord | None:
        """The model `ref` (an id or a name) names for this caller; None when unknown/hidden."""
        record = await self.get(ref)
        if record is not None:
            visible = admin or record.owner_id == user_id or record.visibility == "public"
            if visible and (version is None or record.version == version):
                return record
            return None
        own = await self._by_name(ref, version, user_id)
        if own:
            return own[0]
        public = await self._by_name(ref, version, None)
        owners = {r.owner_id for r in public}
        return public[0] if len(owners) == 1 else None

    async def _by_name(
        self, name: str, version: int | None, owner: str | None
    ) -> list[ModelRecord]:
        """Latest version first (`version`, when given, picks one; 0 in SQL means any); the
        owner's models, or the public ones when `owner` is None."""
        sql = (
            f"SELECT {_COLUMNS} FROM served_models WHERE name = $1 "  # noqa: S608
            "AND ($2 = 0 OR version = $2) AND "
        )
        if owner is None:
            rows = await self._db.fetch(
                sql + "visibility = 'public' ORDER BY version DESC", name, version or 0
            )
        else:
            rows = await self._db.fetch(
                sql + "owner_id = $3 ORDER BY version DESC", name, version or 0, owner
            )
        return [ModelRecord.from_row(r) for r in rows]

    async def versions(self, record: ModelRecord, *, all_of_them: bool) -> list[int]:
        """The versions of `record`'s name by its owner: every one, or the public ones."""
        sql = "SELECT version FROM served_models WHERE owner_id = $1 AND name = $2"
        if not all_of_them:
            sql += " AND visibility = 'public'"
        rows = await self._db.fetch(sql + " ORDER BY version", record.owner_id, record.name)
        return [int(r["version"]) for r in rows]

    async def delete(self, model_id: str) -> bool:
        return await self._db.execute("DELETE FROM served_models WHERE id = $1", model_id) > 0

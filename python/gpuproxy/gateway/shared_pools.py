"""Shared-pool configuration in the database (`shared_pools`), edited by admins.

Changes are published on the key-value store so every proxy process reloads them.
"""

from __future__ import annotations

import re

import msgspec

from gpuproxy.clock import now_ms
from gpuproxy.gateway.errors import GatewayError
from gpuproxy.gateway.pools import SharedPoolConfig
from gpuproxy.storage.database import Database

__all__ = ["SHARED_POOLS_CHANNEL", "SharedPoolStore", "validate_pool_name"]

SHARED_POOLS_CHANNEL = "gpuproxy:gateway:shared-pools"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def validate_pool_name(name: str) -> str:
    if not _NAME.match(name):
        raise GatewayError(
            400,
            "name: 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
            param="name",
        )
    return name


class SharedPoolStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self) -> list[SharedPoolConfig]:
        rows = await self._db.fetch("SELECT name, owner_id, models FROM shared_pools ORDER BY name")
        return [
            SharedPoolConfig(
                name=row["name"],
                owner_id=row["owner_id"],
                models=tuple(msgspec.json.decode(row["models"], type=list[str])),
            )
            for row in rows
        ]

    async def put(self, config: SharedPoolConfig, by: str) -> None:
        await self._db.execute(
            "INSERT INTO shared_pools (name, owner_id, models, created_by, updated_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET "
            "owner_id = excluded.owner_id, models = excluded.models, "
            "updated_at = excluded.updated_at",
            config.name,
            config.owner_id,
            msgspec.json.encode(list(config.models)).decode(),
            by,
            now_ms(),
        )

    async def delete(self, name: str) -> bool:
        return await self._db.execute("DELETE FROM shared_pools WHERE name = $1", name) > 0

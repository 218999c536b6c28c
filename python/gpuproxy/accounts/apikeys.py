"""API keys: the `api_keys` table. Lookups are by key id; secrets exist only as bcrypt hashes."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Executor, Row

__all__ = ["ApiKey", "ApiKeyRepository", "KeyAuthRow"]

_COLUMNS = (
    "id, user_id, name, scopes, rate_limit_per_minute, priority, expires_at, last_used_at, "
    "request_count, revoked_at, created_at"
)
_decode_scopes = msgspec.json.Decoder(list[str])


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A key as its owner sees it (never the secret)."""

    id: str
    user_id: str
    name: str
    scopes: tuple[str, ...]
    rate_limit_per_minute: int | None
    priority: int
    expires_at: int | None
    last_used_at: int | None
    request_count: int
    revoked_at: int | None
    created_at: int

    @classmethod
    def from_row(cls, row: Row) -> ApiKey:
        return cls(
            id=row["id"],
            user_id=row["user_id"],
            name=row["name"],
            scopes=tuple(_decode_scopes.decode(row["scopes"])),
            rate_limit_per_minute=row["rate_limit_per_minute"],
            priority=int(row["priority"]),
            expires_at=_opt_int(row["expires_at"]),
            last_used_at=_opt_int(row["last_used_at"]),
            request_count=int(row["request_count"]),
            revoked_at=_opt_int(row["revoked_at"]),
            created_at=int(row["created_at"]),
        )


class KeyAuthRow(msgspec.Struct, frozen=True, kw_only=True):
    """What authenticating a key needs: the key, its hash and its owner's state."""

    key: ApiKey
    secret_hash: str
    email: str
    is_admin: bool
    user_active: bool
    user_rate_limit_per_minute: int | None

    def usable(self, at_ms: int) -> bool:
        return (
            self.user_active
            and self.key.revoked_at is None
            and (self.key.expires_at is None or self.key.expires_at > at_ms)
        )


def _opt_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


class ApiKeyRepository:
    def __init__(self, db: Executor) -> None:
        self.db = db

    async def insert(
        self,
        *,
        key_id: str,
        user_id: str,
        name: str,
        secret_hash: str,
        scopes: Sequence[str],
        rate_limit_per_minute: int | None,
        expires_at: int | None,
        priority: int = 0,
    ) -> ApiKey:
        created = now_ms()
        ordered = tuple(sorted(set(scopes)))
        await self.db.execute(
            "INSERT INTO api_keys (id, user_id, name, secret_hash, scopes, rate_limit_per_minute, "
            "priority, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            key_id,
            user_id,
            name,
            secret_hash,
            msgspec.json.encode(list(ordered)).decode(),
            rate_limit_per_minute,
            priority,
            expires_at,
            created,
        )
        return ApiKey(
            id=key_id,
            user_id=user_id,
            name=name,
            scopes=ordered,
            rate_limit_per_minute=rate_limit_per_minute,
            priority=priority,
            expires_at=expires_at,
            last_used_at=None,
            request_count=0,
            revoked_at=None,
            created_at=created,
        )

    async def get(self, key_id: str, *, user_id: str | None = None) -> ApiKey | None:
        """A key by id; with `user_id`, only when that user owns it (tenant isolation)."""
        if user_id is None:
            row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1", key_id)  # noqa: S608
        else:
            row = await self.db.fetchrow(
                f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1 AND user_id = $2",  # noqa: S608
                key_id,
                user_id,
            )
        return None if row is None else ApiKey.from_row(row)

    async def list_for_user(self, user_id: str, *, include_revoked: bool = True) -> list[ApiKey]:
        where = "user_id = $1" if include_revoked else "user_id = $1 AND revoked_at IS NULL"
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM api_keys WHERE {where} ORDER BY created_at, id",  # noqa: S608
            user_id,
        )
        return [ApiKey.from_row(r) for r in rows]

    async def revoke(self, key_id: str, *, user_id: str | None = None) -> ApiKey | None:
        """Revoke (idempotent); None when the key does not exist (or is not `user_id`'s)."""
        key = await self.get(key_id, user_id=user_id)
        if key is None:
            return None
        if key.revoked_at is None:
            at = now_ms()
            await self.db.execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                key_id,
                at,
            )
            key = msgspec.structs.replace(key, revoked_at=at)
        return key

    async def update(
        self, key_id: str, *, priority: int, rate_limit_per_minute: int | None
    ) -> ApiKey | None:
        """Set a key's admission priority and own rate limit; None when it does not exist."""
        await self.db.execute(
            "UPDATE api_keys SET priority = $2, rate_limit_per_minute = $3 WHERE id = $1",
            key_id,
            priority,
            rate_limit_per_minute,
        )
        return await self.get(key_id)

    async def for_auth(self, key_id: str) -> KeyAuthRow | None:
        row = await self.db.fetchrow(
            "SELECT k.id, k.user_id, k.name, k.scopes, k.rate_limit_per_minute, k.priority, "
            "k.expires_at, k.last_used_at, k.request_count, k.revoked_at, k.created_at, "
            "k.secret_hash, u.email, u.is_admin, u.is_active, "
            "u.rate_limit_per_minute AS user_rate_limit "
            "FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.id = $1",
            key_id,
        )
        if row is None:
            return None
        return KeyAuthRow(
            key=ApiKey.from_row(row),
            secret_hash=row["secret_hash"],
            email=row["email"],
            is_admin=bool(row["is_admin"]),
            user_active=bool(row["is_active"]),
            user_rate_limit_per_minute=row["user_rate_limit"],
        )

    async def add_usage(self, counts: Sequence[tuple[str, int]], at_ms: int) -> None:
        """Batched usage: `request_count += n` and `last_used_at` for each (key id, n)."""
        if not counts:
            return
        await self.db.executemany(
            "UPDATE api_keys SET request_count = request_count + $2, "
            "last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $3 THEN $3 "
            "ELSE last_used_at END WHERE id = $1",
            [(key_id, n, at_ms) for key_id, n in counts],
        )

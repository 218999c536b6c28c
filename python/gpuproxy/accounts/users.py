"""Users: the `users` table (no ORM; `$n` SQL through the shared Database)."""

from __future__ import annotations

from typing import Any

import msgspec

from gpuproxy.accounts._ids import new_id
from gpuproxy.accounts.errors import EmailTaken
from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Executor, Row

__all__ = ["User", "UserRepository"]

_COLUMNS = (
    "id, email, name, password_hash, is_admin, is_active, rate_limit_per_minute, "
    "created_at, updated_at, last_login_at"
)


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    email: str
    name: str
    password_hash: str
    is_admin: bool
    is_active: bool
    rate_limit_per_minute: int | None
    created_at: int
    updated_at: int
    last_login_at: int | None = None

    @classmethod
    def from_row(cls, row: Row) -> User:
        return cls(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            password_hash=row["password_hash"],
            is_admin=bool(row["is_admin"]),
            is_active=bool(row["is_active"]),
            rate_limit_per_minute=row["rate_limit_per_minute"],
            created_at=int(row["created_at"]),
            updated_at=int(row["updated_at"]),
            last_login_at=None if row["last_login_at"] is None else int(row["last_login_at"]),
        )


class UserRepository:
    def __init__(self, db: Executor) -> None:
        self.db = db

    async def create(
        self,
        *,
        email: str,
        name: str,
        password_hash: str,
        is_admin: bool = False,
        rate_limit_per_minute: int | None = None,
    ) -> User:
        """Insert a user; EmailTaken when the (normalised) email exists already."""
        now = now_ms()
        user_id = new_id()
        # ON CONFLICT DO NOTHING + rowcount works alike on SQLite and PostgreSQL and leaves
        # a PostgreSQL transaction usable (a unique violation would abort it).
        inserted = await self.db.execute(
            "INSERT INTO users (id, email, name, password_hash, is_admin, is_active, "
            "rate_limit_per_minute, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, "
            "$7, $7) ON CONFLICT (email) DO NOTHING",
            user_id,
            email,
            name,
            password_hash,
            int(is_admin),
            rate_limit_per_minute,
            now,
        )
        if inserted != 1:
            raise EmailTaken()
        return User(
            id=user_id,
            email=email,
            name=name,
            password_hash=password_hash,
            is_admin=is_admin,
            is_active=True,
            rate_limit_per_minute=rate_limit_per_minute,
            created_at=now,
            updated_at=now,
        )

    async def get(self, user_id: str) -> User | None:
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE id = $1", user_id)  # noqa: S608
        return None if row is None else User.from_row(row)

    async def get_by_email(self, email: str) -> User | None:
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE email = $1", email)  # noqa: S608
        return None if row is None else User.from_row(row)

    async def exists(self, user_id: str) -> bool:
        return bool(await self.db.fetchval("SELECT 1 FROM users WHERE id = $1", user_id))

    async def id_by_email(self, email: str) -> str | None:
        found = await self.db.fetchval("SELECT id FROM users WHERE email = $1", email)
        return None if found is None else str(found)

    async def count(self) -> int:
        return int(await self.db.fetchval("SELECT COUNT(*) FROM users") or 0)

    async def list(self, *, limit: int = 100, offset: int = 0, search: str = "") -> list[User]:
        if search:
            # LIKE wildcards in the search text are matched literally.
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = await self.db.fetch(
                f"SELECT {_COLUMNS} FROM users WHERE email LIKE $1 ESCAPE '\\' "  # noqa: S608
                "ORDER BY created_at, id LIMIT $2 OFFSET $3",
                pattern + "%",
                limit,
                offset,
            )
        else:
            rows = await self.db.fetch(
                f"SELECT {_COLUMNS} FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2",  # noqa: S608
                limit,
                offset,
            )
        return [User.from_row(r) for r in rows]

    async def update(self, user_id: str, **fields: Any) -> User | None:
        """Set the given columns (name, is_admin, is_active, rate_limit_per_minute,
        password_hash); returns the updated user, None when it does not exist."""
        allowed = {"name", "is_admin", "is_active", "rate_limit_per_minute", "password_hash"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if fields:
            names = sorted(fields)
            values = [int(v) if isinstance(v, bool) else v for v in (fields[n] for n in names)]
            assignments = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=3))
            await self.db.execute(
                f"UPDATE users SET updated_at = $2, {assignments} WHERE id = $1",  # noqa: S608
                user_id,
                now_ms(),
                *values,
            )
        return await self.get(user_id)

    async def record_login(self, user_id: str) -> None:
        await self.db.execute(
            "UPDATE users SET last_login_at = $2 WHERE id = $1", user_id, now_ms()
        )

"""Migration runner: numbered SQL files applied in order, each inside a transaction.

Files live in the top-level `migrations/` folder (a link to the package's `_migrations/`,
so that wheels carry them) as `NNNN_name.sql`, or as
`NNNN_name.sqlite.sql` / `NNNN_name.postgres.sql` where the dialects differ. Applied
versions are recorded in `schema_migrations`. A failing file rolls back entirely and the
error names the file and the statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gpuproxy.clock import now_ms
from gpuproxy.exceptions import GpuProxyError
from gpuproxy.storage.database import Database, Executor

__all__ = [
    "Migration",
    "MigrationError",
    "apply_migrations",
    "default_migrations_dir",
    "discover_migrations",
    "split_statements",
]

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(sqlite|postgres))?\.sql$")


class MigrationError(GpuProxyError):
    """A migration failed; the database is as it was before that file."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    path: Path


def default_migrations_dir() -> Path:
    """`gpuproxy/_migrations`, shipped inside the package (the repository's `migrations/`)."""
    directory = Path(__file__).resolve().parent.parent / "_migrations"
    if not directory.is_dir():
        raise MigrationError(f"migrations folder {directory} is missing")
    return directory


def discover_migrations(directory: Path, dialect: str) -> list[Migration]:
    """The files for `dialect`, ordered by version; a dialect file replaces the common one."""
    chosen: dict[str, Migration] = {}
    for path in sorted(directory.iterdir()):
        match = _FILE.match(path.name)
        if not match:
            continue
        version, name, only = match.groups()
        if only is not None and only != dialect:
            continue
        existing = chosen.get(version)
        if existing is not None and existing.name != name:
            raise MigrationError(f"two migrations share version {version}: {existing.path.name}")
        if existing is None or only is not None:
            chosen[version] = Migration(version, name, path)
    return [chosen[v] for v in sorted(chosen)]


def split_statements(sql: str) -> list[str]:
    """Split a script at top-level semicolons (outside quotes, comments and $$ bodies)."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    quote: str | None = None
    while i < n:
        ch = sql[i]
        if quote is not None:
            current.append(ch)
            if sql.startswith(quote, i):
                current.append(sql[i + 1 : i + len(quote)])
                i += len(quote)
                quote = None
                continue
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end
            continue
        elif ch == "'":
            quote = "'"
            current.append(ch)
        elif ch == "$" and sql.startswith("$$", i):
            quote = "$$"
            current.append("$$")
            i += 2
            continue
        elif ch == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append(statement)
            current = []
        else:
            current.append(ch)
        i += 1
    tail = "".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


_SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)
"""


#: pg_advisory_xact_lock key serialising migration runners on one PostgreSQL database
_PG_LOCK = 0x67707870_6D696772  # "gpxpmigr"


async def _serialise(tx: Executor, dialect: str) -> None:
    """Hold the database's migration lock until `tx` ends. Several workers or instances
    start at once on a new database: one applies each file, the others then see it done.
    (SQLite: the runner's transactions are BEGIN IMMEDIATE, which already serialises.)"""
    if dialect == "postgres":
        await tx.execute("SELECT pg_advisory_xact_lock($1)", _PG_LOCK)


async def apply_migrations(db: Database, directory: Path | None = None) -> list[str]:
    """Apply every pending migration in order; returns the file names applied.

    Safe to run from several processes at once: each file is applied under the migration
    lock after checking, inside the same transaction, that nobody applied it meanwhile."""
    directory = directory or default_migrations_dir()
    async with db.transaction() as tx:
        await _serialise(tx, db.dialect)
        await tx.execute(_SCHEMA_TABLE)
    done = {r["version"] for r in await db.fetch("SELECT version FROM schema_migrations")}
    applied: list[str] = []
    for migration in discover_migrations(directory, db.dialect):
        if migration.version in done:
            continue
        statements = split_statements(migration.path.read_text(encoding="utf-8"))
        async with db.transaction() as tx:
            await _serialise(tx, db.dialect)
            if await tx.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            ):
                continue  # another process applied it while this one waited
            for index, statement in enumerate(statements, start=1):
                try:
                    await tx.execute(statement)
                except Exception as exc:
                    first_line = statement.splitlines()[0][:120]
                    raise MigrationError(
                        f"migration {migration.path.name} failed at statement {index} "
                        f"({first_line!r}): {exc}"
                    ) from exc
            await tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                now_ms(),
            )
        applied.append(migration.path.name)
    return applied

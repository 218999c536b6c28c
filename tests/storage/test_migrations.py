from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gpuproxy.config import Settings
from gpuproxy.storage.database import Database, open_database
from gpuproxy.storage.migrations import (
    MigrationError,
    apply_migrations,
    default_migrations_dir,
    discover_migrations,
    split_statements,
)


def test_split_respects_quotes_comments_and_dollar_bodies() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE a (x TEXT DEFAULT 'semi;colon');
    CREATE FUNCTION f() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql;
    INSERT INTO a VALUES ('it''s; fine')
    """
    statements = split_statements(sql)
    assert len(statements) == 3
    assert "'semi;colon'" in statements[0]
    assert statements[1].endswith("LANGUAGE plpgsql")
    assert statements[2] == "INSERT INTO a VALUES ('it''s; fine')"


def test_dialect_files_replace_common_ones(tmp_path: Path) -> None:
    (tmp_path / "0001_base.sql").write_text("SELECT 1;")
    (tmp_path / "0002_idx.sql").write_text("SELECT 2;")
    (tmp_path / "0002_idx.postgres.sql").write_text("SELECT 3;")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [m.path.name for m in discover_migrations(tmp_path, "sqlite")] == [
        "0001_base.sql",
        "0002_idx.sql",
    ]
    assert [m.path.name for m in discover_migrations(tmp_path, "postgres")] == [
        "0001_base.sql",
        "0002_idx.postgres.sql",
    ]


async def test_project_migrations_apply_once(any_db: Database) -> None:
    applied = await apply_migrations(any_db)
    assert applied[0] == "0001_accounts.sql"
    assert applied == [
        m.path.name for m in discover_migrations(default_migrations_dir(), any_db.dialect)
    ]
    assert await apply_migrations(any_db) == []
    for table in ("users", "api_keys", "sessions"):
        assert await any_db.fetchval(f"SELECT COUNT(*) FROM {table}") == 0  # noqa: S608


async def test_failed_migration_rolls_back_and_names_file_and_statement(
    any_db: Database, tmp_path: Path
) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id TEXT PRIMARY KEY);")
    (tmp_path / "0002_bad.sql").write_text(
        "CREATE TABLE half (id TEXT PRIMARY KEY);\nINSERT INTO missing_table VALUES (1);\n"
    )
    with pytest.raises(MigrationError) as info:
        await apply_migrations(any_db, tmp_path)
    message = str(info.value)
    assert "0002_bad.sql" in message
    assert "statement 2" in message
    assert "INSERT INTO missing_table" in message
    # 0001 stays applied, nothing of 0002 remains, and it is not recorded.
    versions = [r["version"] for r in await any_db.fetch("SELECT version FROM schema_migrations")]
    assert versions == ["0001"]
    with pytest.raises(Exception):  # noqa: B017, PT011 - the dialects raise different classes
        await any_db.fetchval("SELECT COUNT(*) FROM half")
    # Fixing the file lets it apply.
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id TEXT PRIMARY KEY);")
    assert await apply_migrations(any_db, tmp_path) == ["0002_bad.sql"]


@pytest.fixture(params=["settings", pytest.param("postgres_settings", marks=pytest.mark.postgres)])
def fresh_db_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings of a new, empty SQLite file or PostgreSQL database."""
    settings: Settings = request.getfixturevalue(request.param)
    return settings


async def test_concurrent_runners_apply_each_file_once(fresh_db_settings: Settings) -> None:
    # Granian workers (or several instances) start together on a new database.
    settings = fresh_db_settings
    handles = [await open_database(settings) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(db) for db in handles))
        expected = [
            m.path.name for m in discover_migrations(default_migrations_dir(), handles[0].dialect)
        ]
        applied = sorted(name for names in results for name in names)
        assert applied == sorted(expected)  # every file once, by whichever runner got it
        rows = await handles[0].fetchval("SELECT COUNT(*) FROM schema_migrations")
        assert rows == len(expected)
    finally:
        for db in handles:
            await db.close()

"""aiserve-gpuproxy-admin account commands and aiserve-gpuproxy-seed, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpuproxy.accounts.invalidation import InvalidationBus
from gpuproxy.cli import admin, seed
from gpuproxy.config import Settings

from .support import PASSWORD


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data))
    monkeypatch.setenv("JWT_SECRET", "cli-test-secret-0123456789-abcdefghijklmnop")
    monkeypatch.setenv("BCRYPT_ROUNDS", "4")
    monkeypatch.chdir(tmp_path)  # no stray .env
    return data


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    capsys.readouterr()
    assert admin.main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_user_and_key_lifecycle(capsys: pytest.CaptureFixture[str]) -> None:
    created = run_json(capsys, "create-user", "Ops@Example.com", PASSWORD, "Ops Person")
    assert isinstance(created, dict)
    assert created["email"] == "ops@example.com"
    assert created["admin"] is False

    assert admin.main(["create-user", "ops@example.com", PASSWORD, "Again"]) == 1
    assert "exists already" in capsys.readouterr().err

    promoted = run_json(capsys, "make-admin", "ops@example.com")
    assert isinstance(promoted, dict)
    assert promoted["admin"] is True

    key = run_json(
        capsys, "create-apikey", "ops@example.com", "deploy", "--scopes", "inference,gpu"
    )
    assert isinstance(key, dict)
    assert key["key"].startswith("gpx_" + key["id"] + "_")
    assert key["scopes"] == ["gpu", "inference"]

    users = run_json(capsys, "users")
    assert isinstance(users, list)
    assert [u["email"] for u in users] == ["ops@example.com"]

    usage = run_json(capsys, "usage", "ops@example.com")
    assert isinstance(usage, dict)
    assert usage["api_keys"] == 1
    assert usage["keys"][0]["state"] == "active"

    revoked = run_json(capsys, "revoke-apikey", key["id"])
    assert isinstance(revoked, dict)
    assert revoked["id"] == key["id"]
    usage = run_json(capsys, "usage", "ops@example.com")
    assert isinstance(usage, dict)
    assert usage["keys"][0]["state"] == "revoked"

    stats = run_json(capsys, "stats")
    assert isinstance(stats, dict)
    assert stats["users"] == 1
    assert stats["admins"] == 1
    assert stats["active_api_keys"] == 0

    events = run_json(capsys, "audit")
    assert isinstance(events, list)
    actions = [e["action"] for e in events]
    assert actions[:4] == ["apikey.revoke", "apikey.create", "user.update", "user.create"]


def test_tables_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert admin.main(["create-user", "t@example.com", PASSWORD, "T"]) == 0
    capsys.readouterr()
    assert admin.main(["users"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["ID", "EMAIL", "NAME"]
    assert "t@example.com" in out[1]


def test_refusals_exit_1_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert admin.main(["make-admin", "nobody@example.com"]) == 1
    assert "no user" in capsys.readouterr().err
    assert admin.main(["create-user", "x@example.com", "short", "X"]) == 1
    assert "password" in capsys.readouterr().err
    assert admin.main(["revoke-apikey", "doesnotexist"]) == 1
    assert admin.main(["create-user", "k@example.com", PASSWORD, "K"]) == 0
    assert admin.main(["create-apikey", "k@example.com", "x", "--scopes", "admin"]) == 1
    assert "admin" in capsys.readouterr().err


def test_apikey_priority_and_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    told: list[tuple[str, str]] = []
    publish = InvalidationBus.publish

    async def recording(bus: InvalidationBus, kind: str, ident: str) -> None:
        told.append((kind, ident))
        await publish(bus, kind, ident)

    monkeypatch.setattr(InvalidationBus, "publish", recording)
    assert admin.main(["create-user", "p@example.com", PASSWORD, "P"]) == 0
    key = run_json(capsys, "create-apikey", "p@example.com", "batch", "--priority", "5")
    assert isinstance(key, dict)
    assert key["priority"] == 5
    changed = run_json(capsys, "update-apikey", key["id"], "--priority", "200")
    assert isinstance(changed, dict)
    assert changed["priority"] == 200
    assert ("key", key["id"]) in told  # running servers drop their cached copy
    limited = run_json(capsys, "update-apikey", key["id"], "--rate-limit", "60")
    assert isinstance(limited, dict)
    assert (limited["priority"], limited["rate_limit"]) == (200, 60)

    for argv, message in (
        (["update-apikey", key["id"], "--priority", "256"], "priority"),
        (["update-apikey", key["id"]], "--priority"),
        (["update-apikey", "doesnotexist", "--priority", "1"], "not found"),
        # The server default (600 a minute) is this user's limit: a key cannot exceed it.
        (["update-apikey", key["id"], "--rate-limit", "601"], "rate_limit_per_minute"),
        (["create-apikey", "p@example.com", "x", "--rate-limit", "601"], "rate_limit_per_minute"),
        (["create-apikey", "p@example.com", "x", "--priority", "-1"], "priority"),
    ):
        assert admin.main(argv) == 1, argv
        assert message in capsys.readouterr().err, argv


@pytest.mark.postgres
def test_works_on_postgres(
    capsys: pytest.CaptureFixture[str],
    postgres_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "DB_TYPE": "postgres",
        "DB_HOST": postgres_settings.db_host,
        "DB_PORT": str(postgres_settings.db_port),
        "DB_USER": postgres_settings.db_user,
        "DB_NAME": postgres_settings.db_name,
    }.items():
        monkeypatch.setenv(name, value)
    run_json(capsys, "create-user", "pg@example.com", PASSWORD, "PG")
    users = run_json(capsys, "users")
    assert isinstance(users, list)
    assert users[0]["email"] == "pg@example.com"


SEED = """
# demo accounts
[admins]
alice = alice-password-1
[clients]
acme = acme-password-22
beta.co = beta-password-333
"""


def test_seed_is_idempotent_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "seed.ini"
    path.write_text(SEED)
    assert seed.main([str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[dry run] alice@admin.local: created admin" in out
    assert "would create 3 of 3 users" in out
    assert run_json(capsys, "users") == []

    assert seed.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "acme@client.local: created" in out
    assert "created 3 of 3 users" in out
    users = run_json(capsys, "users")
    assert isinstance(users, list)
    assert {u["email"]: u["admin"] for u in users} == {
        "alice@admin.local": True,
        "acme@client.local": False,
        "beta.co@client.local": False,
    }

    assert seed.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "alice@admin.local: exists, unchanged" in out
    assert "created 0 of 3 users" in out

    # An existing non-admin account listed under [admins] is promoted; nothing else changes.
    assert admin.main(["create-user", "carol@admin.local", PASSWORD, "Carol"]) == 0
    path.write_text("[admins]\ncarol = carol-password-1\n")
    assert seed.main([str(path)]) == 0
    assert "carol@admin.local: exists, made admin" in capsys.readouterr().out
    users = run_json(capsys, "users", "--search", "carol")
    assert isinstance(users, list)
    assert users[0]["admin"] is True


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[admins]\nBad Name = long-enough-password\n", "lowercase"),
        ("[admins]\nbob = short\n", "at least 10"),
        ("[users]\nbob = long-enough-password\n", "unknown section"),
        ("not an ini file\n", "not a valid INI"),
        ("[admins]\n", "no users"),
    ],
)
def test_seed_refuses_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "seed.ini"
    path.write_text(content)
    assert seed.main([str(path)]) == 1
    assert message in capsys.readouterr().err


def test_seed_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert seed.main([str(tmp_path / "nope.ini")]) == 1
    assert "cannot read" in capsys.readouterr().err

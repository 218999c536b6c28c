"""The embedded default's first admin: random password in a 0600 file, never in a log line."""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable

import pytest

from gpuproxy.accounts.bootstrap import DEFAULT_ADMIN_EMAIL, PASSWORD_FILE
from gpuproxy.config import Settings

from .support import accounts_of, app_client, bearer, in_app, login


async def test_first_start_creates_one_admin(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(BCRYPT_ROUNDS="4")
    with caplog.at_level(logging.WARNING, logger="gpuproxy.accounts.bootstrap"):
        async with app_client(settings) as client:
            path = settings.data_dir / PASSWORD_FILE
            password = path.read_text().strip()
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            assert len(password) >= 20
            assert password != "admin123"
            tokens = await login(client, DEFAULT_ADMIN_EMAIL, password)
            me = await client.get("/api/v1/auth/me", headers=bearer(tokens["token"]))
            assert me.json()["is_admin"] is True
            assert in_app(client, accounts_of(client).users.count) == 1
    logged = [r.getMessage() for r in caplog.records if DEFAULT_ADMIN_EMAIL in r.getMessage()]
    assert len(logged) == 1
    assert password not in logged[0]
    assert str(path) in logged[0]

    caplog.clear()
    async with app_client(settings) as client:  # second start: nothing new
        assert in_app(client, accounts_of(client).users.count) == 1
    assert path.read_text().strip() == password
    assert not [r for r in caplog.records if DEFAULT_ADMIN_EMAIL in r.getMessage()]


async def test_no_bootstrap_when_disabled(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(BCRYPT_ROUNDS="4", BOOTSTRAP_ADMIN="false")
    async with app_client(settings) as client:
        assert in_app(client, accounts_of(client).users.count) == 0
    assert not (settings.data_dir / PASSWORD_FILE).exists()

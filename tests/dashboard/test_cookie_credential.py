"""Which requests the dashboard's session cookie authenticates (pure functions, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from gpuproxy.dashboard.session import (
    SESSION_COOKIE,
    csrf_for,
    csrf_matches,
    dashboard_credential_headers,
)

_JWT = "eyJhbGciOiJIUzI1NiJ9.e30.sig"


def _scope(path: str, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"path": path, "headers": list(headers)}


def _cookie(value: str) -> tuple[bytes, bytes]:
    return (b"cookie", f"other=1; {SESSION_COOKIE}={value}".encode())


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/keys", "/dashboard/overview.json"])
def test_dashboard_paths_take_the_cookie_as_a_bearer_token(path: str) -> None:
    headers = dashboard_credential_headers(_scope(path, _cookie(_JWT)))
    assert (b"authorization", b"Bearer " + _JWT.encode()) in headers


@pytest.mark.parametrize("path", ["/api/v1/auth/me", "/v1/models", "/dashboards", "/"])
def test_other_paths_ignore_the_cookie(path: str) -> None:
    headers = dashboard_credential_headers(_scope(path, _cookie(_JWT)))
    assert all(name != b"authorization" for name, _ in headers)


def test_a_credential_header_wins_over_the_cookie() -> None:
    own = (b"x-api-key", b"gpx_abc_def")
    assert dashboard_credential_headers(_scope("/dashboard/keys", own, _cookie(_JWT))) == [
        own,
        _cookie(_JWT),
    ]


def test_an_api_key_in_the_cookie_is_ignored() -> None:
    headers = dashboard_credential_headers(_scope("/dashboard/keys", _cookie("gpx_abc_def")))
    assert all(name != b"authorization" for name, _ in headers)


def test_csrf_token_is_bound_to_its_secret() -> None:
    token = csrf_for("session-a")
    assert csrf_matches("session-a", token)
    assert not csrf_matches("session-b", token)
    assert not csrf_matches(None, token)
    assert not csrf_matches("session-a", None)
    assert not csrf_matches("session-a", "")

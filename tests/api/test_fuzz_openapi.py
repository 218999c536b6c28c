"""Fuzz the HTTP API from its own OpenAPI schema (schemathesis).

Every operation in `/schema/openapi.json` gets generated requests, valid and invalid, sent
with a regular user's API key (an admin's on admin routes). Each answer must be no 5xx,
carry a documented status and content type, and match the documented body: the schema is
what clients and SDK generators are told, so it has to be true to the code.

The app runs in-process (schemathesis' ASGI transport, lifespan included) against the fake
vast.ai and io.net servers. The OpenAI hot routes are served by the Rust data plane, which
this app does not run; they are documented only and left out here (tests/e2e and
tests/gateway exercise them over a real server).

`make test` runs a bounded number of examples per operation; `make fuzz` runs many
(`GPUPROXY_FUZZ_EXAMPLES`).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi
from tests.api.conftest import BASE_ENV
from tests.fakes._thread import serving_in_thread
from tests.fakes.ionet import FakeIoNet
from tests.fakes.vastai import FakeVastAi
from tests.helpers import TEST_JWT_SECRET

from gpuproxy.accounts.principal import Principal
from gpuproxy.accounts.startup import start_accounts
from gpuproxy.app import create_app
from gpuproxy.config import Settings, load_settings
from gpuproxy.services import start_services

EXAMPLES = int(os.environ.get("GPUPROXY_FUZZ_EXAMPLES", "8"))
#: The bounded run in `make test` is reproducible; a long `make fuzz` run explores anew.
REPRODUCIBLE = "GPUPROXY_FUZZ_EXAMPLES" not in os.environ
#: Served by the Rust data plane, which this in-process app does not run: the hot routes
#: (documented only; here they answer 503 `data_plane_required`) and its queue report.
NEEDS_DATA_PLANE = (
    r"^/(api/)?v1/(chat/completions|completions|embeddings|models)|^/api/monitoring/queue$"
)
#: Admin-only routes outside an `/admin/` path.
ADMIN_ROUTES = {("GET", "/api/monitoring"), ("PUT", "/api/v1/loadbalancer/strategy")}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
PASSWORD = "correct horse battery staple"

pytestmark = [pytest.mark.slow]


@dataclass
class FuzzTarget:
    app: Any
    user: dict[str, str]
    admin: dict[str, str]

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        admin_only = "/admin/" in path or any(
            method == m and path.startswith(prefix) for m, prefix in ADMIN_ROUTES
        )
        return self.admin if admin_only else self.user


async def _seed_admin(settings: Settings) -> str:
    """An admin and their API key, written before the app starts (no route makes admins)."""
    services = await start_services(settings)
    try:
        await start_accounts(services)
        accounts: Any = services.accounts
        email = f"fuzz-admin-{uuid.uuid4().hex[:8]}@example.com"
        created = await accounts.register(email=email, password=PASSWORD, is_admin=True)
        principal = Principal(user_id=created.id, email=email, is_admin=True)
        scopes = ["inference", "gpu", "billing", "admin"]
        _, secret = await accounts.create_api_key(principal, name="fuzz", scopes=scopes)
        return str(secret)
    finally:
        await services.close()


def _user_key(http: asgi.ASGIClient) -> str:
    """Register and log in a user through the API; their new API key."""
    credentials = {"email": f"fuzz-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD}
    assert http.post("/api/v1/auth/register", json=credentials).status_code == 201
    login = http.post("/api/v1/auth/login", json=credentials)
    assert login.status_code == 200, login.text
    created = http.post(
        "/api/v1/auth/apikey",
        json={"name": "fuzz", "scopes": ["inference", "gpu", "billing"]},
        headers={"Authorization": f"Bearer {login.json()['token']}"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["api_key"])


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    vast, ionet = FakeVastAi(), FakeIoNet()
    with serving_in_thread(vast.server) as vast_url, serving_in_thread(ionet.server) as ionet_url:
        data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"
        env = {
            **BASE_ENV,
            "DATA_DIR": str(data_dir),
            "JWT_SECRET": TEST_JWT_SECRET,
            "VASTAI_API_KEY": vast.api_key,
            "VASTAI_URL": vast_url,
            "IONET_API_KEY": ionet.api_key,
            "IONET_URL": ionet_url,
        }
        settings = load_settings(env=env, env_file=None)
        admin_key = asyncio.run(_seed_admin(settings))
        app = create_app(settings)
        try:
            with asgi.get_client(app) as http:  # starts the app's lifespan
                user_key = _user_key(http)
            yield FuzzTarget(app, {"X-API-Key": user_key}, {"X-API-Key": admin_key})
        finally:
            asgi.shutdown_lifespans()


def _documented_schema() -> dict[str, Any]:
    """The app's OpenAPI schema, read at import: pytest parametrizes the test with one case
    per operation while collecting (schemathesis' lazy `from_fixture` loader does not work
    with pytest 9.2, it sets a node attribute pytest dropped). Routes do not depend on
    settings, so any settings give the schema the running app serves."""
    settings = load_settings(
        env={"DATA_DIR": "/nonexistent/fuzz", "JWT_SECRET": TEST_JWT_SECRET}, env_file=None
    )
    return create_app(settings).openapi_schema.to_schema()


schema = schemathesis.openapi.from_dict(_documented_schema()).exclude(path_regex=NEEDS_DATA_PLANE)


@pytest.mark.timeout(max(60, EXAMPLES * 10))
# Schemathesis' date strategies call `random`, which Hypothesis deprecates inside strategies.
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=REPRODUCIBLE,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_answers_as_documented(case: Any, fuzz_target: FuzzTarget) -> None:
    headers = fuzz_target.headers_for(case.method.upper(), case.path)
    case.call_and_validate(app=fuzz_target.app, headers=headers, checks=CHECKS)

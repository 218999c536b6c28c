"""The `gpuproxy` peer: aiserve-gpuproxyd with the OpenAI-compatible /v1 routes.

The stub is a static upstream (`GATEWAY_UPSTREAMS=bench-model=http://...`), shared with
every user and billed at model prices. A user registers, logs in and creates an API key
with the `inference` scope over the HTTP API (the way a customer would); requests carry
`Authorization: Bearer gpx_...`.

Governance ON: API-key auth; per-user rate limit (RATE_LIMIT_PER_MINUTE at its maximum,
10,000,000/min: checked on every request, never tripped); spend guard rails on all 17
windows (GUARDRAILS_ENABLED, limits far above what the run can spend); the credit gate
(CREDITS_ENFORCED, each new account holds 1,000,000 USD of credit); non-zero token
prices, so each request reserves its estimated cost and commits the actual one; metering
and batched usage rows. OFF: rate limit unlimited (0), guard rails and credit gate
disabled, zero prices.
API-key auth and metering have no switch in this build and stay on in both.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _procs import free_port, wait_http

if TYPE_CHECKING:
    from _peers import Ctx, PeerHandle

__all__ = ["NotAvailable", "governance_env", "open_gpuproxy"]

_PASSWORD = "bench-password-0123456789"  # noqa: S105 - a throwaway local account


class NotAvailable(Exception):
    """The peer cannot run here; the message says why (recorded in the results)."""


def _missing() -> str | None:
    if importlib.util.find_spec("gpuproxy") is None:
        return "the gpuproxy package is not installed in this Python"
    if importlib.util.find_spec("gpuproxy.api.gateway.openai_routes") is None:
        return (
            "the gateway's /v1 routes (gpuproxy.api.gateway.openai_routes) are not in this tree yet"
        )
    return None


def _redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def governance_env(on: bool) -> dict[str, str]:
    env = {
        "RATE_LIMIT_PER_MINUTE": "10000000" if on else "0",
        "GUARDRAILS_ENABLED": "true" if on else "false",
        "GATEWAY_DEFAULT_INPUT_PRICE": "0.5" if on else "0",
        "GATEWAY_DEFAULT_OUTPUT_PRICE": "1.5" if on else "0",
        # ON: the credit gate is checked on every request too (each new account starts
        # with far more credit than a run spends).
        "CREDITS_ENFORCED": "true" if on else "false",
        "NEW_USER_CREDIT_USD": "1000000",
    }
    if on:
        # Every window limited, far above what a benchmark spends ($ per window).
        for window in ("5MIN", "15MIN", "30MIN", "60MIN", "90MIN", "120MIN", "240MIN",
                       "300MIN", "360MIN", "400MIN", "460MIN", "520MIN", "640MIN",
                       "700MIN", "1440MIN", "48H", "72H"):  # fmt: skip
            env[f"GUARDRAILS_MAX_{window}_RATE"] = "1000000"
    return env


def _call(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - loopback only
        return dict(json.loads(resp.read()))


def _api_key(base: str) -> str:
    email = "bench@example.com"
    _call(f"{base}/api/v1/auth/register", {"email": email, "password": _PASSWORD})
    login = _call(f"{base}/api/v1/auth/login", {"email": email, "password": _PASSWORD})
    created = _call(f"{base}/api/v1/auth/apikeys",
                    {"name": "bench", "scopes": ["inference"]}, login["access_token"])  # fmt: skip
    return str(created["key"])


def _probe(url: str, key: str) -> None:
    """One chat completion must succeed before the peer counts as running."""
    body = {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 4}  # fmt: skip
    try:
        answer = _call(url, body, key)
    except OSError as exc:
        detail = exc.read().decode(errors="replace")[:300] if hasattr(exc, "read") else ""
        raise NotAvailable(f"/v1/chat/completions through gpuproxy failed: {exc} {detail}") from exc
    if not answer.get("choices"):
        raise NotAvailable(f"/v1/chat/completions answered without choices: {answer}")


@contextlib.contextmanager
def open_gpuproxy(ctx: Ctx, *, governance: bool) -> Iterator[PeerHandle]:
    from _peers import PeerHandle

    reason = _missing()
    if reason is not None:
        raise NotAvailable(reason)
    name = "gpuproxy" if governance else "gpuproxy-off"
    data = ctx.group.workdir / f"{name}-data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    port = free_port()
    workers = ctx.worker_count
    upstreams = ",".join(f"bench-model={u}" for u in ctx.upstream.base_urls)
    env = {
        "DATA_DIR": str(data), "DB_TYPE": "sqlite", "HOST": "127.0.0.1", "PORT": str(port),
        # Several workers share limits and spend windows through Redis (the daemon refuses
        # --workers > 1 without it); one worker runs on the embedded defaults.
        "REDIS_URL": _redis_url() if workers > 1 else "", "LOG_LEVEL": "warning",
        "GATEWAY_UPSTREAMS": upstreams,
        "GATEWAY_WORKER_MAX_CONCURRENCY": "0",  # no admission cap: the stub is never busy
        "GATEWAY_QUEUE_TIMEOUT_SECONDS": "30",
        **governance_env(governance),
    }  # fmt: skip
    daemon = Path(sys.executable).parent / "aiserve-gpuproxyd"
    # Without the installed script (source tree on PYTHONPATH), run the module itself.
    command = [str(daemon)] if daemon.exists() else [sys.executable, "-m", "gpuproxy.server"]
    argv = [*command, "--workers", str(workers), "--backlog", str(ctx.backlog)]
    if ctx.backpressure:
        argv += ["--backpressure", str(ctx.backpressure)]
    proc = ctx.group.start(name, argv, cpus=ctx.layout.sut, env=env, cwd=data)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", 90, proc)
        key = _api_key(base)
        _probe(f"{base}/v1/chat/completions", key)
        shown = {k: v for k, v in env.items() if k not in ("DATA_DIR",)}
        yield PeerHandle(name, base, key, proc, {
            "server": f"aiserve-gpuproxyd --workers {workers} (Rust data plane on the port, "
            "Litestar on Granian behind it for the control plane)",
            "env": shown,
            "governance": {
                "api_key_auth": "ON (cached key lookup on every request)",
                "rate_limit": "ON, 10M/min per user" if governance else "OFF (0 = unlimited)",
                "guard_rails": "ON, 17 windows, $1M limits" if governance else "OFF",
                "prices": "$0.50/$1.50 per 1M tokens (reserve + commit per request)"
                if governance else "zero (nothing reserved)",
                "metering": "ON (usage rows batched; no switch in this build)",
            },
        })  # fmt: skip
    finally:
        ctx.group.stop(proc)

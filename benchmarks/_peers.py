"""The peers measured side by side on the same upstream: direct, nginx, litellm, portkey,
python-baseline, gpuproxy (governance on) and gpuproxy-off (governance off).

Two floor peers show what limits any design that runs Python per request under Granian
(throughput only): `granian-static` is a raw ASGI callable answering the stub's body
without forwarding; `granian-forward` is a raw ASGI callable forwarding through
`gpuproxy._core.Forwarder` with no governance at all (benchmarks/_forward_app.py).

`open_peer(name, ctx)` is a context manager giving a `PeerHandle` (URL, key, extra request
headers, process) or raising `NotAvailable` with the reason; the scenarios record that reason
instead of failing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _gpuproxy
import _nginx
from _machine import Layout
from _procs import Proc, ProcGroup, free_port, wait_http, wait_port
from _tools import (
    BENCH,
    PORTKEY_DIR,
    PORTKEY_PINS,
    PORTKEY_VERSION,
    ensure_litellm,
    ensure_nginx,
    ensure_portkey,
    npm_version,
)

__all__ = ["ALL_PEERS", "FLOOR_PEERS", "Ctx", "NotAvailable", "PeerHandle", "Upstream", "open_peer"]

ALL_PEERS = (
    "direct",
    "nginx",
    "litellm",
    "portkey",
    "python-baseline",
    "gpuproxy",
    "gpuproxy-off",
)
FLOOR_PEERS = ("granian-static", "granian-forward")
NotAvailable = _gpuproxy.NotAvailable
LITELLM_MASTER_KEY = "sk-bench-litellm-master"
#: What Portkey passes on to the stub as the OpenAI key (the gateway checks no key itself).
PORTKEY_UPSTREAM_KEY = "sk-bench-portkey-upstream"


@dataclass
class Upstream:
    """The stub upstream(s) every peer forwards to."""

    kind: str  # "nginx-stub" or "python-stub"
    hostports: list[str]  # "127.0.0.1:9000"
    procs: list[Proc]
    cpus: list[int]

    @property
    def base_urls(self) -> list[str]:
        return [f"http://{hp}" for hp in self.hostports]


@dataclass
class Ctx:
    group: ProcGroup
    layout: Layout
    upstream: Upstream
    streaming: bool = False
    backlog: int = 4096
    backpressure: int | None = None
    #: worker processes for multi-process peers; default one per SUT CPU
    workers: int | None = None

    @property
    def worker_count(self) -> int:
        return self.workers or len(self.layout.sut)


@dataclass
class PeerHandle:
    name: str
    base_url: str  # http://127.0.0.1:PORT
    api_key: str | None = None
    proc: Proc | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: extra request headers every load generator sends to this peer (besides the
    #: Authorization header made from api_key); empty for most peers
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/v1/chat/completions"


@contextlib.contextmanager
def open_peer(name: str, ctx: Ctx) -> Iterator[PeerHandle]:
    opener = {
        "direct": _direct,
        "nginx": _nginx_peer,
        "litellm": _litellm,
        "portkey": _portkey,
        "python-baseline": _python_baseline,
        "gpuproxy": _gpuproxy_on,
        "gpuproxy-off": _gpuproxy_off,
        "granian-static": _granian_static,
        "granian-forward": _granian_forward,
    }[name]
    with opener(ctx) as handle:
        yield handle


@contextlib.contextmanager
def _direct(ctx: Ctx) -> Iterator[PeerHandle]:
    # Direct gets the CPUs a proxy would have: move the stub there for the measurement.
    for proc in ctx.upstream.procs:
        proc.repin(ctx.layout.sut)
    try:
        yield PeerHandle(
            "direct",
            ctx.upstream.base_urls[0],
            config={
                "what": f"clients straight to the {ctx.upstream.kind}",
                "stub_cpus_during_measurement": ctx.layout.sut,
            },
        )
    finally:
        for proc in ctx.upstream.procs:
            proc.repin(ctx.upstream.cpus)


@contextlib.contextmanager
def _nginx_peer(ctx: Ctx) -> Iterator[PeerHandle]:
    nginx = ensure_nginx()
    if nginx is None:
        raise NotAvailable("nginx is not installed and could not be installed")
    port = free_port()
    workers = ctx.worker_count
    conf = _nginx.proxy_config(
        ctx.group.workdir / "nginx-peer", port, workers, ctx.upstream.hostports
    )
    proc = _nginx.start_nginx(ctx.group, nginx, "nginx-peer", conf, port, ctx.layout.sut)
    try:
        yield PeerHandle(
            "nginx",
            f"http://127.0.0.1:{port}",
            proc=proc,
            config={
                "worker_processes": workers,
                "upstream_keepalive": 1024,
                "proxy_buffering": "off",
                "config_file": str(
                    (ctx.group.workdir / "nginx-peer" / "nginx.conf").relative_to(BENCH.parent)
                ),
            },
        )
    finally:
        ctx.group.stop(proc)


def _litellm_config(upstreams: Sequence[str]) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "bench-model",
                "litellm_params": {
                    "model": "openai/bench-model",
                    "api_base": f"{url}/v1",
                    "api_key": "sk-stub-upstream",
                },
            }
            for url in upstreams
        ],
        "litellm_settings": {
            "drop_params": True,
            "turn_off_message_logging": True,
            "request_timeout": 600,
            "telemetry": False,
        },
        "router_settings": {"routing_strategy": "simple-shuffle"},
        "general_settings": {"master_key": LITELLM_MASTER_KEY},
    }


@contextlib.contextmanager
def _litellm(ctx: Ctx) -> Iterator[PeerHandle]:
    python = ensure_litellm()
    if python is None:
        raise NotAvailable("litellm[proxy] could not be installed into benchmarks/.venv-litellm")
    port = free_port()
    workers = ctx.worker_count
    config = _litellm_config(ctx.upstream.base_urls)
    path = ctx.group.workdir / "litellm-config.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(config, indent=2))
    litellm = str(Path(python).parent / "litellm")
    proc = ctx.group.start(
        "litellm",
        [
            litellm,
            "--config",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            str(workers),
        ],
        cpus=ctx.layout.sut,
        env={
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
        },
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health/liveliness", 180, proc)
        yield PeerHandle(
            "litellm",
            f"http://127.0.0.1:{port}",
            LITELLM_MASTER_KEY,
            proc,
            {
                "config": {**config, "general_settings": {"master_key": "<set>"}},
                "workers": workers,
                "governance": {
                    "auth": "ON (master key checked on every request)",
                    "virtual_keys_budgets_rate_limits_spend_tracking": (
                        "OFF: they need LiteLLM's database (Prisma, whose engines it downloads at "
                        "start; no download is possible here), so LiteLLM ran without one"
                    ),
                    "logging_callbacks": "none",
                },
            },
        )
    finally:
        ctx.group.stop(proc)


def _node_version(node: str) -> str | None:
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


@contextlib.contextmanager
def _portkey(ctx: Ctx) -> Iterator[PeerHandle]:
    """Portkey's open-source AI gateway (Node), routed to the stub by request headers."""
    script = ensure_portkey()
    node = shutil.which("node")
    if script is None or node is None:
        raise NotAvailable(
            f"@portkey-ai/gateway@{PORTKEY_VERSION} could not be installed with npm into "
            f"{PORTKEY_DIR.relative_to(BENCH.parent)} (node and npm are needed)"
        )
    port = free_port()
    workers = ctx.worker_count
    upstream, *unused = ctx.upstream.base_urls
    # Provider `openai` with a custom host: the gateway appends /chat/completions to it, so the
    # host carries /v1. The Authorization header (api_key) goes on to the stub as the key.
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": f"{upstream}/v1"}
    # Custom hosts are checked against an SSRF allow-list; 127.0.0.x other than .1 needs this.
    trusted = sorted(
        {"localhost", "127.0.0.1", *(hp.rsplit(":", 1)[0] for hp in ctx.upstream.hostports)}
    )
    env = {"NODE_ENV": "production", "TRUSTED_CUSTOM_HOSTS": ",".join(trusted)}
    args = [f"--port={port}", "--headless"]
    # start-server.js serves one process; several go through node:cluster.
    if workers == 1:
        argv, command = [node, script, *args], ["node", "build/start-server.js", *args]
        cluster_env: dict[str, str] = {}
    else:
        argv = [node, str(BENCH / "_portkey_cluster.mjs"), *args]
        command = ["node", "benchmarks/_portkey_cluster.mjs", *args]
        cluster_env = {"PORTKEY_GATEWAY_SCRIPT": script, "PORTKEY_WORKERS": str(workers)}
    proc = ctx.group.start("portkey", argv, cpus=ctx.layout.sut, env={**env, **cluster_env})
    try:
        wait_http(f"http://127.0.0.1:{port}/", 60, proc)  # GET / answers "AI Gateway says hey!"
        yield PeerHandle(
            "portkey",
            f"http://127.0.0.1:{port}",
            PORTKEY_UPSTREAM_KEY,
            proc,
            {
                "package": f"@portkey-ai/gateway@{npm_version('@portkey-ai/gateway')}",
                "node": _node_version(node),
                "dependencies": {name: npm_version(name) for name in ("hono", *PORTKEY_PINS)},
                "dependency_pins": (
                    f"{', '.join(f'{n}@{v}' for n, v in PORTKEY_PINS.items())}: later "
                    "@hono/node-server releases make every streamed completion fail with "
                    "'TypeError: immutable' (Portkey-AI/gateway issues 1389, 1550)"
                ),
                "command": " ".join(command),
                "processes": workers,
                "multi_process": (
                    "one process (start-server.js has no worker option)"
                    if workers == 1
                    else f"node:cluster, {workers} workers each running start-server.js; the "
                    "primary accepts and hands connections out round-robin"
                ),
                "env": {**env, **({"PORTKEY_WORKERS": str(workers)} if cluster_env else {})},
                "listen": "all interfaces (start-server.js takes a port only), Node's "
                "default backlog 511",
                "route": "POST /v1/chat/completions",
                "request_headers": {
                    **headers,
                    "Authorization": "Bearer <set> (passed on to the stub as the OpenAI key)",
                },
                "upstream": upstream,
                "upstreams_unused": unused,
                "streaming": "its stream reader waits 25 ms before passing on the first "
                "chunk of every stream (in the gateway's code): TTFT carries at least +25 ms "
                "and the first events arrive together",
                "governance": {
                    "auth": "none: the gateway checks no key of its own",
                    "virtual_keys_budgets_rate_limits_spend_tracking": "none (not part of the "
                    "open-source gateway run from npm)",
                    "cache_retries_fallbacks_guardrails": "off (none configured)",
                    "request_log": "its in-process log middleware (for the local console) "
                    "runs on every /v1 request; it cannot be turned off",
                },
            },
            headers,
        )
    finally:
        ctx.group.stop(proc)


def _pythonpath() -> str:
    """benchmarks/ first, then whatever PYTHONPATH the harness itself was given."""
    inherited = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(p for p in (str(BENCH), inherited) if p)


@contextlib.contextmanager
def _python_baseline(ctx: Ctx) -> Iterator[PeerHandle]:
    port = free_port()
    workers = ctx.worker_count
    proc = ctx.group.start(
        "python-baseline",
        [
            sys.executable,
            str(BENCH / "python_baseline.py"),
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--backlog",
            str(ctx.backlog),
            *(["--backpressure", str(ctx.backpressure)] if ctx.backpressure else []),
        ],
        cpus=ctx.layout.sut,
        env={"BASELINE_UPSTREAMS": ",".join(ctx.upstream.base_urls), "PYTHONPATH": _pythonpath()},
    )
    try:
        wait_port("127.0.0.1", port, 60, proc)
        yield PeerHandle(
            "python-baseline",
            f"http://127.0.0.1:{port}",
            proc=proc,
            config={
                "server": "Granian ASGI, uvloop",
                "workers": workers,
                "forwarding": "Litestar @post route + one pooled httpx.AsyncClient, streamed",
            },
        )
    finally:
        ctx.group.stop(proc)


@contextlib.contextmanager
def _gpuproxy_on(ctx: Ctx) -> Iterator[PeerHandle]:
    with _gpuproxy.open_gpuproxy(ctx, governance=True) as handle:
        yield handle


@contextlib.contextmanager
def _gpuproxy_off(ctx: Ctx) -> Iterator[PeerHandle]:
    with _gpuproxy.open_gpuproxy(ctx, governance=False) as handle:
        yield handle


def _stub_answer(base_url: str) -> bytes:
    """The stub's chat completion body: the static floor answers the same bytes."""
    from _loadgen import CHAT_BODY

    request = urllib.request.Request(  # noqa: S310 - loopback stub
        f"{base_url}/v1/chat/completions",
        CHAT_BODY.encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return bytes(resp.read())


@contextlib.contextmanager
def _granian_floor(ctx: Ctx, app: str) -> Iterator[PeerHandle]:
    if ctx.streaming:
        raise NotAvailable("a floor peer for plain (non-streamed) requests only")
    granian = Path(sys.executable).with_name("granian")
    if not granian.exists():
        raise NotAvailable("granian is not installed in this Python")
    port = free_port()
    workers = ctx.worker_count
    env = {
        "FWD_UPSTREAM": ctx.upstream.hostports[0],
        "FWD_STATIC_BODY": _stub_answer(ctx.upstream.base_urls[0]).decode(),
        "PYTHONPATH": _pythonpath(),
    }
    argv = [
        str(granian), "--interface", "asgi", "--loop", "uvloop", "--http", "1",
        "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port),
        "--backlog", str(ctx.backlog), "--no-access-log", "--log-level", "error",
        f"_forward_app:{app}",
    ]  # fmt: skip
    proc = ctx.group.start(f"granian-{app}", argv, cpus=ctx.layout.sut, env=env, cwd=BENCH)
    try:
        wait_port("127.0.0.1", port, 60, proc)
        yield PeerHandle(
            f"granian-{app}",
            f"http://127.0.0.1:{port}",
            proc=proc,
            config={
                "server": f"granian --interface asgi --loop uvloop --http 1 --workers {workers}",
                "app": "raw ASGI: read the body, answer the stub's bytes (no forwarding)"
                if app == "static"
                else "raw ASGI: gpuproxy._core.Forwarder to the stub, no auth/limits/billing",
                "role": "floor: the most any Python-per-request design reaches under Granian",
            },
        )
    finally:
        ctx.group.stop(proc)


@contextlib.contextmanager
def _granian_static(ctx: Ctx) -> Iterator[PeerHandle]:
    with _granian_floor(ctx, "static") as handle:
        yield handle


@contextlib.contextmanager
def _granian_forward(ctx: Ctx) -> Iterator[PeerHandle]:
    with _granian_floor(ctx, "forward") as handle:
        yield handle

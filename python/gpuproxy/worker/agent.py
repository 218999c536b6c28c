"""aiserve-gpuproxy-worker: the agent that runs next to a GPU.

It serves OpenAI-compatible inference over HTTP (Granian, embedded in this process's
event loop) from a simulated model or a local upstream server, and, given a proxy URL and
a one-time token, registers with the proxy over a WebSocket and heartbeats until stopped.

Exit codes: 0 stopped by a signal, 2 bad arguments, 3 the proxy refused registration,
4 the HTTP server could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from gpuproxy.worker.app import WorkerApp
from gpuproxy.worker.gpu import GpuProbe
from gpuproxy.worker.protocol import GpuInfo, HeartbeatMsg
from gpuproxy.worker.register import Registrar, RegistrationRefused
from gpuproxy.worker.serve_auth import authorization_for_secret, authorization_for_token
from gpuproxy.worker.simulate import SimulateBackend
from gpuproxy.worker.upstream import UpstreamBackend

__all__ = ["build_parser", "main", "run"]

log = logging.getLogger("gpuproxy.worker")
DEFAULT_MODEL = "gpuproxy-sim-1"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("aiserve-gpuproxy")
    except Exception:
        return "dev"


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="aiserve-gpuproxy-worker",
        description="Serve OpenAI-compatible inference next to a GPU and register it with "
        "an aiserve-gpuproxy proxy.",
        epilog="Examples:\n"
        "  aiserve-gpuproxy-worker --backend simulate --port 8001 --model demo\n"
        "  aiserve-gpuproxy-worker --backend openai --upstream http://127.0.0.1:8000 \\\n"
        "      --proxy-url https://proxy.example --token $GPUPROXY_WORKER_TOKEN",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve = parser.add_argument_group("serving")
    serve.add_argument(
        "--backend",
        choices=("simulate", "openai"),
        default="simulate",
        help="simulate: built-in deterministic generator; openai: front --upstream",
    )
    serve.add_argument(
        "--host",
        default=env("GPUPROXY_WORKER_HOST", "127.0.0.1"),
        help="address to listen on (default 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(env("GPUPROXY_WORKER_PORT", "8001")),
        help="port to listen on (default 8001)",
    )
    serve.add_argument(
        "--model",
        action="append",
        dest="models",
        metavar="NAME",
        help="model name to serve (repeatable; default $GPUPROXY_MODELS or "
        f"{DEFAULT_MODEL}; the openai backend asks the upstream)",
    )
    serve.add_argument(
        "--upstream",
        metavar="URL",
        help="base URL of the local OpenAI-compatible "
        "server (vLLM, TGI, llama.cpp) for --backend openai",
    )
    serve.add_argument(
        "--upstream-api-key",
        default=env("GPUPROXY_UPSTREAM_API_KEY"),
        help="bearer key for the upstream (env GPUPROXY_UPSTREAM_API_KEY)",
    )
    sim = parser.add_argument_group("simulate backend")
    sim.add_argument(
        "--token-rate",
        type=float,
        default=0.0,
        metavar="TOK_PER_S",
        help="tokens per second per request; 0 = as fast as possible (default)",
    )
    sim.add_argument(
        "--first-token-ms", type=float, default=0.0, help="delay before the first token (default 0)"
    )
    sim.add_argument("--embedding-dim", type=int, default=384, help="embedding size (default 384)")
    gpu = parser.add_argument_group("GPUs")
    gpu.add_argument(
        "--gpu-index",
        type=int,
        action="append",
        dest="gpu_indices",
        help="NVML GPU index to use (repeatable; default all when NVML is present)",
    )
    gpu.add_argument(
        "--gpu-name", default="Simulated GPU", help="name of the simulated GPU when NVML finds none"
    )
    gpu.add_argument("--gpu-memory-mb", type=int, default=24576, help="simulated GPU memory")
    gpu.add_argument("--gpu-count", type=int, default=1, help="number of simulated GPUs")
    reg = parser.add_argument_group("registration")
    reg.add_argument(
        "--proxy-url",
        default=env("GPUPROXY_PROXY_URL"),
        help="the proxy to register with (env GPUPROXY_PROXY_URL); none = standalone",
    )
    reg.add_argument(
        "--token",
        default=env("GPUPROXY_WORKER_TOKEN"),
        help="one-time registration token (env GPUPROXY_WORKER_TOKEN)",
    )
    reg.add_argument(
        "--serve-secret",
        default=env("GPUPROXY_WORKER_SECRET"),
        help="without --token: require 'Authorization: Bearer SECRET' on every request "
        "(env GPUPROXY_WORKER_SECRET); with a token the secret is derived from it",
    )
    reg.add_argument(
        "--advertise-url",
        default=env("GPUPROXY_ADVERTISE_URL"),
        help="URL the proxy uses to reach this worker (default http://HOST:PORT)",
    )
    reg.add_argument(
        "--heartbeat-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between heartbeats (default 5; the proxy may override)",
    )
    parser.add_argument(
        "--exit-with-parent",
        type=int,
        metavar="PID",
        help="exit when process PID is gone (used by the local fleet)",
    )
    parser.add_argument(
        "--log-level",
        default=env("LOG_LEVEL", "info"),
        choices=("debug", "info", "warning", "error"),
    )
    return parser


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.backend == "openai" and not args.upstream:
        parser.error("--backend openai needs --upstream URL")
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.token_rate < 0 or args.first_token_ms < 0:
        parser.error("--token-rate and --first-token-ms must not be negative")
    if not 0.05 <= args.heartbeat_interval <= 300:
        parser.error("--heartbeat-interval must be between 0.05 and 300 seconds")
    if args.proxy_url and not args.token:
        parser.error("--proxy-url needs --token (or GPUPROXY_WORKER_TOKEN)")
    if not 1 <= args.embedding_dim <= 4096 or not 1 <= args.gpu_count <= 64:
        parser.error("--embedding-dim must be 1-4096 and --gpu-count 1-64")
    if not args.models:
        from_env = [m.strip() for m in os.environ.get("GPUPROXY_MODELS", "").split(",")]
        args.models = [m for m in from_env if m] or (
            [DEFAULT_MODEL] if args.backend == "simulate" else []
        )


async def _watch_parent(pid: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.warning("parent %d is gone; exiting", pid)
            stop.set()
            return
        except PermissionError:
            pass
        await asyncio.sleep(1.0)


async def run(args: argparse.Namespace) -> int:
    from granian.constants import Interfaces
    from granian.server.embed import Server

    simulated = [
        GpuInfo(index=i, name=args.gpu_name, memory_total_mb=args.gpu_memory_mb, simulated=True)
        for i in range(args.gpu_count)
    ]
    probe = GpuProbe(simulated, args.gpu_indices)
    backend: SimulateBackend | UpstreamBackend
    if args.backend == "openai":
        backend = UpstreamBackend(args.upstream, api_key=args.upstream_api_key, models=args.models)
    else:
        backend = SimulateBackend(
            args.models,
            token_rate=args.token_rate,
            first_token_ms=args.first_token_ms,
            embedding_dim=args.embedding_dim,
        )
    authorization = None
    if args.token:
        authorization = authorization_for_token(args.token)
    elif args.serve_secret:
        authorization = authorization_for_secret(args.serve_secret)
    else:
        log.warning("no token and no --serve-secret: serving without authentication")
    app = WorkerApp(backend, probe, authorization=authorization)
    server = Server(
        app,
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGINL,
        log_enabled=False,
        websockets=False,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    serving = asyncio.create_task(server.serve(), name="http")
    tasks: set[asyncio.Task[Any]] = {serving}
    registrar: Registrar | None = None
    if args.proxy_url:
        host = args.host if args.host not in ("0.0.0.0", "::") else socket.getfqdn()
        address = args.advertise_url or f"http://{host}:{args.port}"

        async def heartbeat(seq: int) -> HeartbeatMsg:
            healthy = await backend.healthy()
            return HeartbeatMsg(
                seq=seq, healthy=healthy, in_flight=app.in_flight, gpus=probe.metrics(app.in_flight)
            )

        registrar = Registrar(
            args.proxy_url,
            args.token,
            address=address,
            models=backend.models,
            gpus=probe.gpus,
            heartbeat=heartbeat,
            backend=backend.name,
            version=_version(),
            heartbeat_interval_s=args.heartbeat_interval,
        )
        tasks.add(asyncio.create_task(registrar.run(), name="registration"))
    if args.exit_with_parent:
        tasks.add(asyncio.create_task(_watch_parent(args.exit_with_parent, stop), name="parent"))
    stopper = asyncio.create_task(stop.wait(), name="stop")
    log.info(
        "worker (%s backend, models %s) on http://%s:%d",
        backend.name,
        ", ".join(await backend.models()) or "-",
        args.host,
        args.port,
    )
    code = 0
    try:
        done, _ = await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is stopper or task.get_name() == "parent":
                continue
            error = task.exception()
            if isinstance(error, RegistrationRefused):
                log.error("the proxy refused registration: %s", error)
                code = 3
            elif task is serving:
                log.error("the HTTP server stopped: %s", error)
                code = 4
    finally:
        if registrar is not None:
            await registrar.deregister()
        server.stop()  # type: ignore[no-untyped-call]
        for task in (*tasks, stopper):
            if task is not serving:
                task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(serving, timeout=5)
        await backend.aclose()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _validate(parser, args)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency but optional here
        runner = asyncio.Runner()
    with runner:
        return runner.run(run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

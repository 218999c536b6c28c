"""`aiserve-gpuproxyd`: the server daemon.

Each worker process runs the Rust data plane on the public port (SO_REUSEPORT: the workers
share it) and the Litestar control plane, which Granian serves on a private Unix socket
behind it. The inference routes are answered by Rust without Python on the request path;
everything else is passed to the control plane (`gpuproxy.gateway.data_plane`).

Where a request goes from here: `ARCHITECTURE.md` next to this file. A hot route's path
starts in `crates/gpuproxy-core/src/gateway/service.rs`; every other route's in `app.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gpuproxy.config import load_settings
from gpuproxy.exceptions import ConfigError
from gpuproxy.gateway.data_plane import LISTEN_ENV, UDS_ENV
from gpuproxy.grpc_api.tls import load_tls

__all__ = ["HTTP_MODES", "build_parser", "main", "raise_open_file_limit"]

#: Granian's HTTP modes on the control plane's socket. HTTP/1.1 only is the default: the data
#: plane's fallback speaks HTTP/1.1 to it, and Granian's `auto` connection (able to switch to
#: HTTP/2) holds more memory per open connection (benchmarks/held_memory.py shows how much).
HTTP_MODES = ("1", "auto", "2")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiserve-gpuproxyd",
        description=(
            "Run the aiserve-gpuproxy server: GPU marketplace API and inference gateway. "
            "Settings come from environment variables and ./.env (see proxy/.env.example); "
            "flags override HOST and PORT."
        ),
    )
    parser.add_argument("--host", help="address to bind (env HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (env PORT, default 8080)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help=(
            "worker processes sharing the port (default 1); more than 1 needs REDIS_URL, "
            "which every limit and spend window is counted in"
        ),
    )
    parser.add_argument("--backlog", type=int, default=4096, help="listen backlog (default 4096)")
    parser.add_argument(
        "--backpressure",
        type=int,
        default=None,
        help="max concurrent connections per worker (default: backlog / workers)",
    )
    parser.add_argument(
        "--http",
        choices=HTTP_MODES,
        default="1",
        help=(
            "HTTP versions of the control plane's private socket: 1 (HTTP/1.1, default), "
            "auto (HTTP/1.1 and cleartext HTTP/2), 2 (HTTP/2 only); the public port (the "
            "Rust data plane) serves HTTP/1.1"
        ),
    )
    parser.add_argument(
        "-dv",
        "--developer-mode",
        action="store_true",
        help="human-readable logs instead of JSON lines",
    )
    parser.add_argument(
        "-dm",
        "--debug-mode",
        action="store_true",
        help="debug log level with request/response logging (never secrets)",
    )
    return parser


def raise_open_file_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit (100k connections need as many descriptors)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_048_576
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    try:
        # Before any worker starts: a bad certificate is one clear line, not a worker crash.
        load_tls(settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.workers > 1 and not settings.redis_url:
        # In-memory state is per process: N workers would each allow the full rate limits
        # and spend windows. Refused rather than silently multiplied.
        print(
            "error: --workers > 1 needs REDIS_URL (rate limits, spend windows and sessions "
            "are shared through Redis; in memory each worker would allow the full limits)",
            file=sys.stderr,
        )
        return 2
    # The factory runs in each worker process: pass the mode flags through the environment.
    if args.developer_mode:
        os.environ["GPUPROXY_DEVELOPER_MODE"] = "1"
    if args.debug_mode:
        os.environ["GPUPROXY_DEBUG_MODE"] = "1"
    raise_open_file_limit()
    # The control plane listens on a private socket; the data plane owns the public port.
    uds = Path(tempfile.gettempdir()) / f"aiserve-gpuproxy-{os.getpid()}.sock"
    with contextlib.suppress(FileNotFoundError):
        uds.unlink()
    os.environ[LISTEN_ENV] = f"{host}:{port}"
    os.environ[UDS_ENV] = str(uds)

    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    server = Server(
        "gpuproxy.app:create_asgi_app",
        factory=True,
        uds=uds,
        uds_permissions=0o600,
        interface=Interfaces.ASGI,
        http=HTTPModes(args.http),
        workers=args.workers,
        loop=Loops.uvloop,
        backlog=args.backlog,
        backpressure=args.backpressure,
        log_level=LogLevels.debug if args.debug_mode else LogLevels.warning,
        log_access=False,
        websockets=True,
    )
    print(f"aiserve-gpuproxyd listening on http://{host}:{port}", file=sys.stderr, flush=True)
    if settings.grpc_port:
        tls = "TLS" if settings.grpc_tls_cert else "plaintext, no TLS"
        print(f"gRPC on {host}:{settings.grpc_port} ({tls})", file=sys.stderr, flush=True)
    try:
        server.serve()
    finally:
        with contextlib.suppress(FileNotFoundError):
            uds.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

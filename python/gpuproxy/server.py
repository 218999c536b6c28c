"""`aiserve-gpuproxyd`: the server daemon (Granian + uvloop serving the Litestar app)."""

from __future__ import annotations

import argparse
import os
import resource
import sys
from collections.abc import Sequence

from gpuproxy.config import load_settings
from gpuproxy.exceptions import ConfigError

__all__ = ["HTTP_MODES", "build_parser", "main", "raise_open_file_limit"]

#: Granian's HTTP modes. HTTP/1.1 only is the default: Granian's `auto` connection (able to
#: switch to HTTP/2) costs ~12 KiB more RSS per open connection (28 -> 16 KiB per held SSE
#: stream, benchmarks/held_memory.py), and without TLS (no ALPN) HTTP/2 is only reachable by
#: clients that assume it (prior knowledge), which SDKs and browsers do not.
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
        help="worker processes (default 1; each has its own state)",
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
            "HTTP versions served: 1 (HTTP/1.1, default), auto (HTTP/1.1 and cleartext "
            "HTTP/2 by prior knowledge), 2 (HTTP/2 only)"
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
    # The factory runs in each worker process: pass the mode flags through the environment.
    if args.developer_mode:
        os.environ["GPUPROXY_DEVELOPER_MODE"] = "1"
    if args.debug_mode:
        os.environ["GPUPROXY_DEBUG_MODE"] = "1"
    raise_open_file_limit()

    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    server = Server(
        "gpuproxy.app:create_asgi_app",
        factory=True,
        address=host,
        port=port,
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
    server.serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

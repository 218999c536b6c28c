"""`aiserve-gpuproxy-client`: the command-line client of a running server.

    aiserve-gpuproxy-client -key KEY list [provider] [--min-vram 24 --max-price 1.5 ...]
    aiserve-gpuproxy-client -key KEY create vast.ai 12345 [--image IMG --env K=V --port 8000]
    aiserve-gpuproxy-client -key KEY destroy vast.ai 12345
    aiserve-gpuproxy-client -key KEY proxy https https://api.example.com [-X POST -d '{}']
    aiserve-gpuproxy-client -key KEY lb-strategy [least_connections]
    aiserve-gpuproxy-client -key KEY load [server|provider]
    aiserve-gpuproxy-client -key KEY reserve 4 [--gpu-model 4090 --all-or-nothing]
    aiserve-gpuproxy-client -key KEY mcp    (a stdio MCP server for desktop MCP clients)

The key comes from `-key`/`--key` or GPUPROXY_API_KEY, the server from `--url` or
GPUPROXY_URL. Tables by default, `--json` for the server's JSON; `-dv` traces requests on
stderr, `-dm` adds headers and bodies (keys redacted). `--grpc HOST:PORT` runs the
commands that have an RPC over the gRPC API instead (JSON out; `gpuproxy.cli._grpc_client`).
A failure prints one line `error: ...` on stderr and exits 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gpuproxy.cli._api import ApiClient, ApiError
from gpuproxy.cli._client_commands import COMMANDS
from gpuproxy.cli._grpc_client import run_grpc
from gpuproxy.cli._mcp_bridge import run_bridge

__all__ = ["build_parser", "main"]

PROG = "aiserve-gpuproxy-client"
DEFAULT_URL = "http://127.0.0.1:8080"
EXIT_ERROR = 1
EXIT_USAGE = 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global flags; repeated on every command (suppressed defaults) so either order works."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("-key", "--key", default=default, help="API key (env GPUPROXY_API_KEY)")
    parser.add_argument(
        "--url", default=default, help=f"server URL (env GPUPROXY_URL, {DEFAULT_URL})"
    )
    parser.add_argument(
        "-dv", "--developer-mode", dest="developer", action="store_true",
        default=argparse.SUPPRESS if suppress else False, help="trace requests on stderr",
    )  # fmt: skip
    parser.add_argument(
        "-dm", "--debug-mode", dest="debug", action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="trace requests with headers and bodies (keys redacted)",
    )  # fmt: skip
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppress else False,
        help="print the server's JSON instead of tables",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=argparse.SUPPRESS if suppress else 60.0,
        help="seconds to wait for each answer (default 60)",
    )  # fmt: skip
    parser.add_argument(
        "--grpc", metavar="HOST:PORT", default=default,
        help="use the gRPC API at HOST:PORT instead of HTTP (commands with an RPC; JSON out)",
    )  # fmt: skip
    parser.add_argument(
        "--grpc-ca", metavar="FILE", default=default,
        help="with --grpc: TLS, trusting the CA certificate(s) in FILE",
    )  # fmt: skip


def _filter_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--min-vram", help="minimum GPU memory in GB")
    parser.add_argument("--max-price", help="maximum price per hour in dollars (e.g. 1.50)")
    parser.add_argument("--gpu-model", help="GPU model substring (e.g. 4090, A100)")
    parser.add_argument("--location", help="location substring (e.g. US)")


def _rent_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", help="container image (vast.ai, io.net)")
    parser.add_argument("--env", action="append", metavar="NAME=VALUE", help="environment")
    parser.add_argument("--port", action="append", type=int, help="container port to expose")
    parser.add_argument("--disk", type=int, help="disk in GB")
    parser.add_argument("--model", action="append", help="model the worker should serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Talk to an aiserve-gpuproxy server.")
    _common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        _common(sub, suppress=True)
        return sub

    sub = add("list", "list GPU offers of every provider, or of one")
    sub.add_argument("provider", nargs="?", help="vast.ai, io.net, local (default: all)")
    _filter_flags(sub)
    sub.add_argument("--limit", type=_positive_int, help="at most this many offers")
    sub = add("mine", "list my rented instances")
    sub.add_argument("--all", action="store_true", help="include destroyed and failed ones")
    sub = add("show", "show one rented instance")
    sub.add_argument("provider")
    sub.add_argument("id", help="instance id")
    sub = add("create", "rent a GPU offer")
    sub.add_argument("provider")
    sub.add_argument("id", help="offer id (from `list`)")
    _rent_flags(sub)
    sub = add("destroy", "destroy a rented instance")
    sub.add_argument("provider")
    sub.add_argument("id", help="instance id")
    sub = add("proxy", "send a request through the server's protocol proxy")
    sub.add_argument("protocol", help="http, https, mcp, openinference, ...")
    sub.add_argument("target_url", metavar="URL")
    sub.add_argument("-X", "--method", default="GET", help="HTTP method (default GET)")
    sub.add_argument("-d", "--data", help="request body (JSON or text)")
    sub.add_argument("-H", "--header", action="append", help="'Name: value' header")
    sub = add("lb-strategy", "show the load-balancing strategy, or set it (admins)")
    sub.add_argument("name", nargs="?", help="round_robin, least_connections, p2c_ewma, ...")
    sub = add("load", "show server load (rented instances) and provider load (offers)")
    sub.add_argument("kind", nargs="?", default="all", choices=("server", "provider", "all"))
    sub = add("reserve", "reserve N GPUs (1-16) chosen by the load balancer")
    sub.add_argument("count", type=int, help="how many GPUs (1-16)")
    sub.add_argument("--provider", help="only this provider")
    _filter_flags(sub)
    sub.add_argument("--image", help="container image for every instance")
    sub.add_argument("--all-or-nothing", action="store_true", help="roll back on any failure")
    sub.add_argument("--no-wait", action="store_true", help="do not wait for GPUs to come up")
    sub.add_argument("--wait-timeout", type=float, default=900.0, help="seconds (default 900)")
    sub.add_argument("--poll-interval", type=float, default=2.0, help=argparse.SUPPRESS)
    add("mcp", "serve MCP on stdin/stdout, relayed to the server's /api/v1/mcp")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    key = args.key or os.environ.get("GPUPROXY_API_KEY", "")
    if not key:
        print(f"{PROG}: error: no API key: pass -key KEY or set GPUPROXY_API_KEY", file=sys.stderr)
        return EXIT_USAGE
    url = args.url or os.environ.get("GPUPROXY_URL") or DEFAULT_URL
    if args.command == "mcp":  # stdout carries the protocol: no tables, no traces
        return run_bridge(url, key, sys.stdin, sys.stdout, max(args.timeout, 300.0))
    if args.grpc:
        return run_grpc(args.grpc, key, args, sys.stdout)
    try:
        with ApiClient(
            url, key, timeout_s=args.timeout, developer=args.developer, debug=args.debug
        ) as api:
            return COMMANDS[args.command](api, args, sys.stdout)
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

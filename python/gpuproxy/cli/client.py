"""`aiserve-gpuproxy-client`: the command-line client of a running server."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from gpuproxy.cli._common import not_built

__all__ = ["build_parser", "main"]

PROG = "aiserve-gpuproxy-client"

_COMMANDS = {
    "list": "list GPU offers [provider]",
    "create": "rent a GPU: PROVIDER ID",
    "destroy": "destroy an instance: PROVIDER ID",
    "proxy": "send a request through the protocol proxy: PROTOCOL URL",
    "lb-strategy": "show or set the load-balancing strategy [NAME]",
    "load": "show load [server|provider]",
    "reserve": "reserve N GPUs [filters]",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Talk to an aiserve-gpuproxy server.")
    parser.add_argument("-key", "--key", help="API key (env GPUPROXY_API_KEY)")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in _COMMANDS.items():
        sub = commands.add_parser(name, help=f"{text} [not implemented yet]")
        sub.add_argument("args", nargs="*")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return not_built(PROG, args.command)


if __name__ == "__main__":
    raise SystemExit(main())

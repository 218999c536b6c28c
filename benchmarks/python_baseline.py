"""The `python-baseline` peer: what a plain Python gateway does with no Rust hot path.

A Litestar route forwards /v1/* to the upstreams (round robin) through one pooled
httpx.AsyncClient and streams the answer back chunk by chunk. No auth, no limits,
no metering: the cost of Python forwarding alone. Served by Granian (ASGI, uvloop),
the same server gpuproxy uses.

    BASELINE_UPSTREAMS=http://127.0.0.1:9000 python benchmarks/python_baseline.py --port 9100
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import AsyncIterator

import httpx
from litestar import Litestar, Request, post
from litestar.response import Stream

__all__ = ["create_app"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}


def create_app() -> Litestar:
    upstreams = os.environ.get("BASELINE_UPSTREAMS", "http://127.0.0.1:9000").split(",")
    rotation = itertools.cycle(upstreams)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=1024)
    client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(3600.0, connect=5.0))

    @post("/v1/{path:path}", status_code=200)
    async def forward(request: Request[None, None, None], path: str) -> Stream:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        upstream_request = client.build_request(
            "POST", f"{next(rotation)}/v1{path}", content=body, headers=headers
        )
        upstream = await client.send(upstream_request, stream=True)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            finally:
                await upstream.aclose()

        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
        return Stream(relay(), status_code=upstream.status_code, headers=out_headers)

    async def close_client() -> None:
        await client.aclose()

    return Litestar(route_handlers=[forward], on_shutdown=[close_client], openapi_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(description="plain Litestar + httpx forwarding proxy")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--backlog", type=int, default=4096)
    parser.add_argument("--backpressure", type=int, default=None)
    args = parser.parse_args()
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        "python_baseline:create_app",
        factory=True,
        address="127.0.0.1",
        port=args.port,
        interface=Interfaces.ASGI,
        workers=args.workers,
        loop=Loops.uvloop,
        backlog=args.backlog,
        backpressure=args.backpressure,
        log_level=LogLevels.warning,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main()

"""gRPC ProxyRequest / StreamProxyRequest against the HTTP route they wrap, in one run.

Starts the stub upstream and `aiserve-gpuproxyd` (one worker, GRPC_PORT set, governance
on as in the `gpuproxy` peer), then for each of unary and streaming runs the same number
of concurrent Python clients for the same time over HTTP (httpx, keep-alive) and over
gRPC (grpc.aio, one channel), and prints one JSON object: requests/s and latency
percentiles (streaming: time to the first chunk and to the end).

    .venv/bin/python benchmarks/grpc_proxy.py [--seconds 10] [--concurrency 32]

Not part of `run.py all` (no README table yet). What limits it: the clients are Python in
the same 2 cores as the server, so both columns are client-bound; the gRPC path is the HTTP
path plus one loopback hop through the control plane's event loop (Python), so its added
latency is that hop and it cannot be faster than HTTP by construction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _gpuproxy import _api_key, governance_env
from _procs import free_port
from gpuproxy.grpc_api import gpuproxy_pb2 as pb
from gpuproxy.grpc_api import gpuproxy_pb2_grpc

CHAT = {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
STREAM = {**CHAT, "stream": True}


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def _summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    if not ordered:
        return {"requests": 0}
    return {
        "requests": len(ordered),
        "per_second": round(len(ordered) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
    }


async def _drive(
    one: Callable[[], Awaitable[float]], concurrency: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def loop() -> None:
        while time.monotonic() < stop:
            latencies.append(await one())

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return _summary(latencies, seconds)


async def measure(base: str, target: str, key: str, seconds: float, concurrency: int) -> dict:
    headers = {"authorization": f"Bearer {key}"}
    metadata = (("authorization", f"Bearer {key}"),)
    results: dict[str, dict] = {}
    limits = httpx.Limits(max_connections=concurrency)
    async with (
        httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http,
        grpc.aio.insecure_channel(target) as channel,
    ):
        stub = gpuproxy_pb2_grpc.GPUProxyServiceStub(channel)
        unary = pb.ProxyRequestMessage(
            target_url="/v1/chat/completions", body=json.dumps(CHAT).encode()
        )
        streamed = pb.ProxyRequestMessage(
            target_url="/v1/chat/completions", body=json.dumps(STREAM).encode()
        )
        first: dict[str, list[float]] = {"http": [], "grpc": []}

        async def http_unary() -> float:
            started = time.perf_counter()
            (await http.post("/v1/chat/completions", json=CHAT)).raise_for_status()
            return time.perf_counter() - started

        async def grpc_unary() -> float:
            started = time.perf_counter()
            answer = await stub.ProxyRequest(unary, metadata=metadata, timeout=30)
            assert answer.status_code == 200, answer.body
            return time.perf_counter() - started

        async def http_stream() -> float:
            started = time.perf_counter()
            seen = False
            async with http.stream("POST", "/v1/chat/completions", json=STREAM) as response:
                async for chunk in response.aiter_raw():
                    if chunk and not seen:
                        first["http"].append(time.perf_counter() - started)
                        seen = True
            return time.perf_counter() - started

        async def grpc_stream() -> float:
            started = time.perf_counter()

            async def one() -> object:
                yield streamed

            seen = False
            async for part in stub.StreamProxyRequest(one(), metadata=metadata, timeout=30):
                if part.body and not seen:
                    first["grpc"].append(time.perf_counter() - started)
                    seen = True
            return time.perf_counter() - started

        for name, one in (("http_unary", http_unary), ("grpc_unary", grpc_unary),
                          ("http_stream", http_stream), ("grpc_stream", grpc_stream)):  # fmt: skip
            results[name] = await _drive(one, concurrency, seconds)
        for kind in ("http", "grpc"):
            results[f"{kind}_stream"]["first_chunk"] = _summary(first[kind], seconds)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-grpc-"))
    stub_port, port, grpc_port = free_port(), free_port(), free_port()
    here = Path(__file__).parent
    stub = subprocess.Popen(
        [sys.executable, str(here / "stub_upstream.py"), "--port", str(stub_port),
         "--chunks", "16"],
    )  # fmt: skip
    env = {
        **os.environ, "DATA_DIR": str(work), "PORT": str(port), "GRPC_PORT": str(grpc_port),
        "LOG_LEVEL": "warning", "GATEWAY_UPSTREAMS": f"bench-model=http://127.0.0.1:{stub_port}",
        "GATEWAY_WORKER_MAX_CONCURRENCY": "0", **governance_env(True),
    }  # fmt: skip
    daemon = Path(sys.executable).parent / "aiserve-gpuproxyd"
    server = subprocess.Popen([str(daemon)], env=env, cwd=work)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(f"http://127.0.0.1:{stub_port}/health", stub)
        _wait(f"{base}/health", server)
        key = _api_key(base)
        results = asyncio.run(
            measure(base, f"127.0.0.1:{grpc_port}", key, args.seconds, args.concurrency)
        )
    finally:
        for proc in (server, stub):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(json.dumps({"seconds": args.seconds, "concurrency": args.concurrency, **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

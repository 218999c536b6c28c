"""Scenario `streaming`: SSE chat completions through each peer, measured by
benchmarks/sse_client.py (wrk and oha cannot see events inside a response).

The stub sends its first event after FIRST_TOKEN_MS, then CHUNKS events INTERVAL_MS apart.
Per peer: time to first event (TTFT) and gaps between events, p50/p99; "added" = the
peer's figure minus direct's, same run. A proxy that buffers shows up as large gaps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from _bench import Bench, python_stub
from _loadgen import STREAM_BODY
from _peers import Ctx, NotAvailable, open_peer
from _procs import pin
from _tools import BENCH, log

__all__ = ["run"]

FIRST_TOKEN_MS = 10.0
INTERVAL_MS = 10.0
CHUNKS = 8


def _client(
    bench: Bench,
    url: str,
    api_key: str | None,
    concurrency: int,
    duration: float,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    argv = [
        sys.executable,
        str(BENCH / "sse_client.py"),
        "stream",
        "--url",
        url,
        "--body",
        STREAM_BODY,
        "--concurrency",
        str(concurrency),
        "--duration",
        f"{duration:g}",
    ]
    if api_key:
        argv += ["--api-key", api_key]
    for name, value in (headers or {}).items():
        argv += ["--header", f"{name}: {value}"]
    done = subprocess.run(
        pin(bench.layout.loadgen, argv),
        capture_output=True,
        text=True,
        timeout=duration + 120,
        check=False,
    )
    try:
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (json.JSONDecodeError, IndexError):
        return {"error": (done.stderr or done.stdout)[-800:], "streams": 0}


def _added(peer: dict[str, Any], direct: dict[str, Any], key: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for p in ("p50", "p99"):
        a, b = peer.get(key, {}).get(p), direct.get(key, {}).get(p)
        out[p] = None if a is None or b is None else round(a - b, 3)
    return out


def run(bench: Bench) -> dict[str, Any]:
    concurrency = 8 if bench.quick else 32
    duration = bench.secs(3, 15)
    peers: dict[str, Any] = {}
    with python_stub(
        bench, first_token_ms=FIRST_TOKEN_MS, interval_ms=INTERVAL_MS, chunks=CHUNKS
    ) as upstream:
        ctx = Ctx(bench.group, bench.layout, upstream, streaming=True)
        for name in bench.peers:
            try:
                with open_peer(name, ctx) as peer:
                    _client(bench, peer.chat_url, peer.api_key, 2, 1, peer.headers)  # warm-up
                    result = _client(
                        bench, peer.chat_url, peer.api_key, concurrency, duration, peer.headers
                    )
                    peers[name] = {"available": True, "config": peer.config, **result}
                    log(
                        f"streaming {name}: {result.get('streams')} streams, "
                        f"TTFT {result.get('ttft_ms')}, gap {result.get('gap_ms')}"
                    )
            except NotAvailable as exc:
                peers[name] = {"available": False, "reason": str(exc)}
            except (RuntimeError, TimeoutError) as exc:
                peers[name] = {"available": False, "reason": f"failed to run: {exc}"}
    direct = peers.get("direct", {})
    if direct.get("available") and direct.get("streams"):
        for name, result in peers.items():
            if name != "direct" and result.get("available") and result.get("streams"):
                result["added_ttft_ms"] = _added(result, direct, "ttft_ms")
                result["added_gap_ms"] = _added(result, direct, "gap_ms")
    return {
        "stub": {
            "kind": upstream.kind,
            "first_token_ms": FIRST_TOKEN_MS,
            "interval_ms": INTERVAL_MS,
            "chunks": CHUNKS,
        },
        "concurrency": concurrency,
        "duration_s": duration,
        "peers": peers,
    }

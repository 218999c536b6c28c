"""Scenario `throughput`: non-streaming chat completions through each peer.

Closed loop (wrk) at concurrency 1, 16, 64, 256: RPS, p50/p90/p99, errors. Open loop
(oha -q, latency-corrected) rate sweep: the highest offered rate whose p99 stays under
10 ms with no errors. Then each proxy at half its own maximum and `direct` at that same
rate: the added p99 at half load. Ratios against nginx, LiteLLM and direct.
"""

from __future__ import annotations

from typing import Any

from _bench import Bench, static_stub
from _loadgen import Target, oha_open_loop, wrk_closed_loop
from _peers import Ctx, NotAvailable, open_peer
from _tools import log

__all__ = ["CONCURRENCY", "P99_LIMIT_MS", "run"]

CONCURRENCY = (1, 16, 64, 256)
P99_LIMIT_MS = 10.0
SWEEP_CONNECTIONS = 128


def _sweep(bench: Bench, target: Target, max_rps: float) -> dict[str, Any]:
    """Ascending geometric ladder of offered rates up to 1.1 x the closed-loop maximum."""
    oha = bench.tools.get("oha")
    if oha is None:
        return {"available": False, "reason": "oha is not installed"}
    steps = 4 if bench.quick else 8
    low, high = max(20.0, 0.1 * max_rps), max(40.0, 1.1 * max_rps)
    ratio = (high / low) ** (1 / (steps - 1))
    points, best = [], None
    for i in range(steps):
        rate = round(low * ratio**i)
        point = oha_open_loop(
            oha,
            target,
            rate=rate,
            duration_s=bench.secs(2, 8),
            connections=SWEEP_CONNECTIONS,
            cpus=bench.layout.loadgen,
        )
        p99 = point.get("p99_ms")
        point["ok"] = bool(
            p99 is not None
            and p99 < P99_LIMIT_MS
            and point.get("errors", 1) == 0
            and point.get("achieved_rps", 0) >= 0.9 * rate
        )
        points.append(point)
        if not point["ok"]:
            break
        best = rate
    return {
        "p99_limit_ms": P99_LIMIT_MS,
        "connections": SWEEP_CONNECTIONS,
        "points": points,
        "max_rate_p99_under_limit": best,
    }


def _measure_peer(bench: Bench, ctx: Ctx, name: str) -> dict[str, Any]:
    with open_peer(name, ctx) as peer:
        target = Target(peer.chat_url, peer.api_key, headers=peer.headers)
        wrk = bench.tools["wrk"]
        assert wrk is not None
        # Warm-up: connection pools, caches, JIT-free but lazy imports on first requests.
        wrk_closed_loop(
            wrk,
            target,
            connections=16,
            duration_s=bench.secs(3, 5),
            cpus=bench.layout.loadgen,
            workdir=bench.workdir,
        )
        closed = {}
        for c in CONCURRENCY:
            closed[str(c)] = wrk_closed_loop(
                wrk,
                target,
                connections=c,
                duration_s=bench.secs(3, 10),
                cpus=bench.layout.loadgen,
                workdir=bench.workdir,
            )
            log(
                f"throughput {name} c={c}: {closed[str(c)].get('rps')} rps, "
                f"p99 {closed[str(c)].get('p99_ms')} ms"
            )
        max_rps = max(r.get("rps", 0.0) for r in closed.values())
        sweep = _sweep(bench, target, max_rps) if max_rps > 0 else {}
        half = None
        oha = bench.tools.get("oha")
        if oha and max_rps > 0 and name != "direct":
            half = oha_open_loop(
                oha,
                target,
                rate=round(max_rps / 2),
                duration_s=bench.secs(3, 10),
                connections=SWEEP_CONNECTIONS,
                cpus=bench.layout.loadgen,
            )
        return {
            "available": True,
            "config": peer.config,
            "closed_loop": closed,
            "max_rps": max_rps,
            "open_loop_sweep": sweep,
            "half_max": half,
        }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def run(bench: Bench) -> dict[str, Any]:
    peers: dict[str, Any] = {}
    with static_stub(bench) as upstream:
        ctx = Ctx(bench.group, bench.layout, upstream)
        for name in bench.peers:
            try:
                peers[name] = _measure_peer(bench, ctx, name)
            except NotAvailable as exc:
                log(f"throughput {name}: not available: {exc}")
                peers[name] = {"available": False, "reason": str(exc)}
            except (RuntimeError, TimeoutError) as exc:
                log(f"throughput {name}: failed: {exc}")
                peers[name] = {"available": False, "reason": f"failed to run: {exc}"}
        # `direct` at each proxy's half-max rate: what the proxy adds at that load.
        oha = bench.tools.get("oha")
        if oha and peers.get("direct", {}).get("available"):
            with open_peer("direct", ctx) as direct:
                for result in peers.values():
                    half = result.get("half_max") if result.get("available") else None
                    if not half or half.get("p99_ms") is None:
                        continue
                    base = oha_open_loop(
                        oha,
                        Target(direct.chat_url),
                        rate=half["rate"],
                        duration_s=bench.secs(3, 10),
                        connections=SWEEP_CONNECTIONS,
                        cpus=bench.layout.loadgen,
                    )
                    result["half_max_direct"] = base
                    # Below 90% of the offered rate the load generator (or the peer) was
                    # the limit: latencies of runs at different real rates don't subtract.
                    short = [r["rate"] for r in (half, base)
                             if r.get("achieved_rps", 0) < 0.9 * r["rate"]]  # fmt: skip
                    if short:
                        result["added_at_half_max_note"] = (
                            f"not computed: offered {half['rate']}/s, achieved "
                            f"{half.get('achieved_rps')} (peer) and {base.get('achieved_rps')} "
                            "(direct)"
                        )
                    elif base.get("p99_ms") is not None:
                        result["added_p99_ms_at_half_max"] = round(
                            half["p99_ms"] - base["p99_ms"], 3
                        )
                        result["added_p50_ms_at_half_max"] = round(
                            half["p50_ms"] - base["p50_ms"], 3
                        )
    maxima = {n: r.get("max_rps") for n, r in peers.items() if r.get("available")}
    for name, result in peers.items():
        if result.get("available"):
            result["ratios"] = {
                "throughput_vs_nginx": _ratio(maxima.get(name), maxima.get("nginx")),
                "throughput_vs_litellm": _ratio(maxima.get(name), maxima.get("litellm")),
                "throughput_vs_direct": _ratio(maxima.get(name), maxima.get("direct")),
            }
    ours = peers.get("gpuproxy", {})
    return {
        "upstream": upstream.kind,
        "stub_direct_max_rps": maxima.get("direct"),
        "peers": peers,
        "throughput_vs_nginx": _ratio(maxima.get("gpuproxy"), maxima.get("nginx")),
        "throughput_vs_litellm": _ratio(maxima.get("gpuproxy"), maxima.get("litellm")),
        "throughput_vs_direct": _ratio(maxima.get("gpuproxy"), maxima.get("direct")),
        "gpuproxy_available": bool(ours.get("available")),
    }

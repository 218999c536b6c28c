"""Scenario `soak`: steady open-loop load at half the measured maximum for 10 minutes
(--quick: 1 minute), in back-to-back segments: per segment p50/p99 and errors, and the
proxy's RSS after each. Reports RSS growth (MiB/min, least squares after the first
segment), total errors and p99 drift (last segment minus first).

The peer is gpuproxy (governance ON); when it is not available the harness soaks nginx
instead (marked as such), which at least validates the harness.
"""

from __future__ import annotations

from typing import Any

from _bench import Bench, static_stub
from _loadgen import Target, oha_open_loop, wrk_closed_loop
from _peers import Ctx, NotAvailable, open_peer
from _procs import tree_rss_bytes
from _tools import log

__all__ = ["run"]


def _slope_per_min(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return None
    return round(sum((x - mx) * (y - my) for x, y in points) / var * 60, 3)


def _soak(bench: Bench, ctx: Ctx, name: str) -> dict[str, Any]:
    oha, wrk = bench.tools.get("oha"), bench.tools.get("wrk")
    if oha is None or wrk is None:
        raise NotAvailable("oha and wrk are both needed")
    with open_peer(name, ctx) as peer:
        target = Target(peer.chat_url, peer.api_key, headers=peer.headers)
        probe = wrk_closed_loop(
            wrk,
            target,
            connections=64,
            duration_s=bench.secs(3, 10),
            cpus=bench.layout.loadgen,
            workdir=bench.workdir,
        )
        rate = round(probe["rps"] / 2)
        if rate <= 0:
            raise RuntimeError(f"{name} served nothing in the probe: {probe}")
        segment_s = bench.secs(10, 30)
        segments = int(bench.secs(60, 600) // segment_s)
        pid = peer.proc.pid if peer.proc else ctx.upstream.procs[0].pid
        rows = []
        elapsed = 0.0
        for _ in range(segments):
            point = oha_open_loop(
                oha,
                target,
                rate=rate,
                duration_s=segment_s,
                connections=64,
                cpus=bench.layout.loadgen,
            )
            elapsed += segment_s
            point["t_s"] = elapsed
            point["rss_mib"] = round(tree_rss_bytes(pid) / 2**20, 2)
            rows.append(point)
            log(
                f"soak {name} t={elapsed:.0f}s: p99 {point.get('p99_ms')} ms, "
                f"errors {point.get('errors')}, rss {point['rss_mib']} MiB"
            )
        p99s = [r["p99_ms"] for r in rows if r.get("p99_ms") is not None]
        return {
            "peer": name,
            "config": peer.config,
            "probe_max_rps": probe["rps"],
            "rate": rate,
            "segment_s": segment_s,
            "segments": rows,
            "rss_growth_mib_per_min": _slope_per_min([(r["t_s"], r["rss_mib"]) for r in rows[1:]]),
            "errors": sum(r.get("errors", 0) for r in rows),
            "p99_first_ms": p99s[0] if p99s else None,
            "p99_last_ms": p99s[-1] if p99s else None,
            "p99_drift_ms": round(p99s[-1] - p99s[0], 3) if len(p99s) > 1 else None,
            "p99_max_ms": max(p99s) if p99s else None,
        }


def run(bench: Bench) -> dict[str, Any]:
    wanted = [p for p in bench.peers if p != "direct"] or ["gpuproxy"]
    results: dict[str, Any] = {}
    with static_stub(bench) as upstream:
        ctx = Ctx(bench.group, bench.layout, upstream)
        for name in wanted:
            try:
                results[name] = _soak(bench, ctx, name)
            except NotAvailable as exc:
                results[name] = {"available": False, "reason": str(exc)}
                if name == "gpuproxy" and "nginx" not in wanted:
                    log(f"soak: gpuproxy not available ({exc}); soaking nginx instead")
                    results["nginx"] = {**_soak(bench, ctx, "nginx"), "substitute_for": "gpuproxy"}
    return {"peers": results}

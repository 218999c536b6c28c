"""PNG plots of a scenario's results (matplotlib, Agg backend; skipped when it is missing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot"]


def _available(peers: dict[str, Any]) -> dict[str, Any]:
    return {n: r for n, r in peers.items() if r.get("available")}


def _throughput(result: dict[str, Any], stem: Path, plt: Any) -> list[Path]:
    peers = _available(result["peers"])
    if not peers:
        return []
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, r in peers.items():
        closed = r["closed_loop"]
        # Points where nothing completed have no latency and no place on a log axis.
        cs = [int(c) for c in closed if closed[c].get("rps")]
        ax1.plot(cs, [closed[str(c)]["rps"] for c in cs], marker="o", label=name)
        ax2.plot(cs, [closed[str(c)].get("p99_ms") for c in cs], marker="o", label=name)
    for ax, label in ((ax1, "requests/s"), (ax2, "p99 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("concurrent connections (wrk, closed loop)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle("throughput: non-streaming chat completions")
    out = [stem.with_name(stem.name + "-closed-loop.png")]
    fig.tight_layout()
    fig.savefig(out[0], dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in peers.items():
        points = r.get("open_loop_sweep", {}).get("points", [])
        xs = [p["rate"] for p in points if p.get("p99_ms") is not None]
        ys = [p["p99_ms"] for p in points if p.get("p99_ms") is not None]
        if xs:
            ax.plot(xs, ys, marker="o", label=name)
    ax.axhline(10, color="red", linestyle="--", linewidth=1, label="10 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (requests/s, oha open loop)")
    ax.set_ylabel("p99 latency (ms, corrected)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    out.append(stem.with_name(stem.name + "-sweep.png"))
    fig.tight_layout()
    fig.savefig(out[1], dpi=100)
    plt.close(fig)
    return out


def _streaming(result: dict[str, Any], stem: Path, plt: Any) -> list[Path]:
    peers = {n: r for n, r in _available(result["peers"]).items() if r.get("ttft_curve_ms")}
    if not peers:
        return []
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, r in peers.items():
        for ax, key in ((ax1, "ttft_curve_ms"), (ax2, "gap_curve_ms")):
            curve = r.get(key) or []
            ax.plot(curve, [i / max(1, len(curve) - 1) for i in range(len(curve))], label=name)
    ax1.set_xlabel("time to first event (ms)")
    ax2.set_xlabel("gap between events (ms)")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_ylabel("fraction of samples")
        ax.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle("streaming: SSE chat completions (CDF)")
    out = stem.with_name(stem.name + "-cdf.png")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return [out]


def _connections(result: dict[str, Any], stem: Path, plt: Any) -> list[Path]:
    rows = [
        (n, run)
        for n, r in _available(result["peers"]).items()
        for run in r.get("runs", [])
        if "held" in run
    ]
    if not rows:
        return []
    labels = [f"{n}\n{run['target'] // 1000}k" for n, run in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    ax1.bar(labels, [run["held"] for _, run in rows], label="held")
    ax1.scatter(labels, [run["target"] for _, run in rows], marker="_", s=900, color="red",
                label="target")  # fmt: skip
    ax1.set_ylabel("streams held")
    ax1.legend(fontsize=8)
    ax2.bar(labels, [run.get("rss_per_connection_kib") or 0 for _, run in rows])
    ax2.axhline(40, color="red", linestyle="--", linewidth=1, label="goal 40 KiB")
    ax2.set_ylabel("RSS per held stream (KiB)")
    ax2.legend(fontsize=8)
    fig.suptitle("connections: held trickling SSE streams")
    out = stem.with_name(stem.name + "-held.png")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return [out]


def _soak(result: dict[str, Any], stem: Path, plt: Any) -> list[Path]:
    peers = {n: r for n, r in result["peers"].items() if r.get("segments")}
    if not peers:
        return []
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, r in peers.items():
        ts = [s["t_s"] for s in r["segments"]]
        ax1.plot(ts, [s["rss_mib"] for s in r["segments"]], marker="o", label=name)
        ax2.plot(ts, [s.get("p99_ms") for s in r["segments"]], marker="o", label=name)
    ax1.set_ylabel("RSS (MiB)")
    ax2.set_ylabel("p99 per segment (ms)")
    for ax in (ax1, ax2):
        ax.set_xlabel("time (s)")
        ax.grid(True, alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle("soak: steady load at half the maximum")
    out = stem.with_name(stem.name + "-timeline.png")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return [out]


def plot(scenario: str, result: dict[str, Any], stem: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    drawer = {
        "throughput": _throughput,
        "streaming": _streaming,
        "connections": _connections,
        "soak": _soak,
    }.get(scenario)
    return drawer(result, stem, plt) if drawer else []

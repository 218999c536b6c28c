#!/usr/bin/env python3
"""Benchmark harness entry point (issue 8): `python benchmarks/run.py SCENARIO [--quick]`.

Scenarios: throughput, streaming, connections, soak, core, gateway, or `all`.
Starts everything on loopback (stub upstream, peers, load generators), pinned with
taskset, stops everything (process groups, bounded waits), writes
benchmarks/results/<date>-<scenario>.json and PNG plots, and regenerates the
performance section of README.md. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Bench
from _machine import layout, machine_info, versions
from _peers import ALL_PEERS, FLOOR_PEERS
from _plots import plot
from _procs import ProcGroup, raise_nofile
from _readme import RESULTS, update_readme
from _tools import BENCH, WORK, ensure_litellm, ensure_nginx, ensure_oha, ensure_wrk, log

__all__ = ["main"]

SCENARIOS = ("throughput", "streaming", "connections", "soak", "core", "gateway", "keystorm")
DEFAULT_PEERS: dict[str, tuple[str, ...]] = {
    "throughput": ALL_PEERS + FLOOR_PEERS,
    "streaming": ALL_PEERS,
    "connections": ("direct", "nginx", "python-baseline", "gpuproxy"),
    "soak": ("gpuproxy",),
    "core": (),
    "gateway": (),
    "keystorm": ("gpuproxy",),
}
NEEDS_LOAD_TOOLS = {"throughput", "streaming", "connections", "soak", "keystorm"}


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through every `finally`, so every started process is stopped.
    raise SystemExit(128 + signum)


def _tools(scenario: str, peers: list[str]) -> dict[str, str | None]:
    if scenario not in NEEDS_LOAD_TOOLS:
        return {}
    found: dict[str, str | None] = {"wrk": ensure_wrk(), "oha": ensure_oha()}
    found["nginx"] = ensure_nginx()
    if "litellm" in peers:
        found["litellm"] = ensure_litellm()
    return found


def run_scenario(
    scenario: str,
    quick: bool,
    peers: list[str] | None,
    label: str = "",
    targets: list[int] | None = None,
    trickle_ms: float | None = None,
) -> Path:
    chosen = list(peers or DEFAULT_PEERS[scenario])
    tools = _tools(scenario, chosen)
    if scenario in NEEDS_LOAD_TOOLS and tools.get("wrk") is None:
        raise SystemExit("wrk is missing and could not be installed (apt-get install wrk)")
    cpu_layout = layout()
    workdir = WORK / f"{scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
    started = time.time()
    log(f"{scenario}{' (quick)' if quick else ''}: peers {chosen}, layout {cpu_layout.note}")
    with ProcGroup(workdir) as group:
        bench = Bench(
            quick, cpu_layout, group, tools, chosen, targets=targets, trickle_ms=trickle_ms
        )
        module = importlib.import_module(f"scenarios.{scenario}")
        result = module.run(bench)
    date = time.strftime("%Y-%m-%d", time.localtime(started))
    RESULTS.mkdir(parents=True, exist_ok=True)
    # A label (e.g. the machine) keeps those results apart from this machine's series.
    stem = f"{date}-{scenario}" + (f"-{label}" if label else "")
    out = RESULTS / f"{stem}.json"
    document: dict[str, Any] = {
        "scenario": scenario,
        "date": date,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "quick": quick,
        "label": label or None,
        "command": " ".join(["benchmarks/run.py", *sys.argv[1:]]),
        "machine": machine_info(),
        "layout": cpu_layout.as_dict(),
        "versions": versions(dict(tools.items())),
        "parameters": {
            "peers": chosen,
            "quick": quick,
            "targets": targets,
            "trickle_ms": trickle_ms,
        },
        "notes": bench.notes,
        "result": result,
    }
    plots = plot(scenario, result, RESULTS / stem)
    document["plots"] = [p.name for p in plots]
    out.write_text(json.dumps(document, indent=2) + "\n")
    log(f"wrote {out.relative_to(BENCH.parent)} and {len(plots)} plot(s)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=[*SCENARIOS, "all"])
    parser.add_argument("--quick", action="store_true", help="short validation run")
    parser.add_argument(
        "--peers", help=f"comma-separated subset of {','.join(ALL_PEERS + FLOOR_PEERS)}"
    )
    parser.add_argument("--no-readme", action="store_true", help="do not touch README.md")
    parser.add_argument("--label", default="", help="results as <date>-<scenario>-LABEL.json")
    parser.add_argument("--targets", help="connections: comma-separated stream counts")
    parser.add_argument(
        "--trickle-ms", type=float, help="connections: ms between a held stream's events (5000)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    raise_nofile()
    peers = [p for p in args.peers.split(",") if p] if args.peers else None
    targets = [int(t) for t in args.targets.split(",") if t] if args.targets else None
    if args.label and not args.label.replace("-", "").isalnum():
        parser.error("--label: letters, digits and '-' only")
    if peers and (unknown := set(peers) - set(ALL_PEERS + FLOOR_PEERS)):
        parser.error(f"unknown peers: {sorted(unknown)}")
    for scenario in SCENARIOS if args.scenario == "all" else (args.scenario,):
        run_scenario(scenario, args.quick, peers, args.label, targets, args.trickle_ms)
        if not args.no_readme and not update_readme():
            log("README.md has no bench markers; table not written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

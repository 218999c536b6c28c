"""Before/after of a hot-path optimisation, in ONE run on the same stub (issue 8, "make it fast").

Starts the stub worker once, then the gateway (governance ON, as in `gateway.py`) from each
source tree in turn: `--before DIR` is a checkout of the previous commit (its
`python/gpuproxy` with a `_core.abi3.so` copied in), the current tree is "after". Each is
measured the same way, alternating (before, after, before, after ... `--rounds`), so load
from other work on the machine falls on both:

- plain chat completions, closed loop (wrk): RPS and p50/p99 at 64 connections, p50 at 1;
- streamed chat completions (sse_client.py, 16 streams): time to first event p50/p99,
  and the same straight to the stub ("direct") for the added TTFT.

`--profile SECONDS` also records the "after" gateway with py-spy (native frames) under the
c=64 load and writes the top functions next to the results.

    .venv/bin/python benchmarks/ab_gateway.py --before /tmp/gpx-before/src --label NAME

Writes benchmarks/results/<date>-ab-<label>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))


from _loadgen import Target, wrk_closed_loop  # noqa: E402
from _machine import layout, machine_info  # noqa: E402
from _procs import ProcGroup, free_port, raise_nofile, wait_http  # noqa: E402
from _tools import ensure_wrk  # noqa: E402
from gateway import _gateway_env, _stream, launch_gateway  # noqa: E402


def _git_rev(tree: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


def _profile(pid: int, seconds: float, out: Path) -> str:
    """py-spy record of the gateway process: the top functions by own and total time."""
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        return "py-spy not installed (pip install py-spy)"
    raw = out.with_suffix(".txt")
    done = subprocess.run(
        # --gil: only the thread running Python (the event loop), not idle pool threads;
        # --nonblocking: the process is not paused per sample, so the load stays realistic.
        [str(py_spy), "record", "--pid", str(pid), "--duration", f"{seconds:g}", "--rate", "400",
         "--gil", "--nonblocking", "--format", "raw", "--output", str(raw)],
        capture_output=True, text=True, check=False, timeout=seconds + 60,
    )  # fmt: skip
    if not raw.exists():
        return f"py-spy wrote nothing: {done.stderr[-600:]}"
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        samples += count
        frames = stack.split(";")
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            total[frame] = total.get(frame, 0) + count
    lines = [
        f"py-spy record --gil --nonblocking, {samples} samples ({seconds:g} s at 400 Hz)",
        "",
        "own:",
    ]
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:40]:
        lines.append(f"{100 * count / max(samples, 1):6.2f}%  {frame}")
    lines += ["", "total (inclusive):"]
    for frame, count in sorted(total.items(), key=lambda kv: -kv[1])[:60]:
        lines.append(f"{100 * count / max(samples, 1):6.2f}%  {frame}")
    return "\n".join(lines) + "\n"


def _measure(
    group: ProcGroup,
    name: str,
    tree: Path,
    stub_url: str,
    tmp: Path,
    args: argparse.Namespace,
    cpus: Any,
    workdir: Path,
) -> dict[str, Any]:
    port = free_port()
    data_dir = tmp / f"data-{name}"
    env = {**_gateway_env(data_dir, port, stub_url), "PYTHONPATH": str(tree / "python")}
    proc, base, key, check = launch_gateway(
        group,
        f"gateway-{name}",
        [sys.executable, "-m", "gpuproxy.server", "--port", str(port), "--backlog", "4096"],
        port,
        cpus.sut,
        env,
        tmp,
    )
    if check.status_code != 200:
        raise SystemExit(f"{name}: gateway answered {check.status_code}: {check.text[:300]}")
    url = base + "/v1/chat/completions"
    target = Target(url, api_key=key)
    result: dict[str, Any] = {}
    profiler = None
    if args.profile and name == "after":
        py_spy = Path(sys.executable).parent / "py-spy"
        workers = subprocess.run(
            ["pgrep", "-P", str(proc.popen.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        pid = int(workers[0]) if workers else proc.popen.pid
        if py_spy.exists():
            profiler = (pid, workdir / f"profile-{args.label}")
    wrk = ensure_wrk()
    if wrk is None:
        raise SystemExit("wrk is missing and could not be installed (apt-get install wrk)")
    for connections in (64, 1):
        if profiler is not None and connections == 64:
            import threading

            summary: list[str] = []
            pid, out = profiler
            thread = threading.Thread(
                target=lambda: summary.append(_profile(pid, args.profile, out))  # noqa: B023
            )
            thread.start()
            result["plain_c64"] = wrk_closed_loop(
                wrk,
                target,
                connections=64,
                duration_s=max(args.duration, args.profile + 1),
                cpus=cpus.loadgen,
                workdir=workdir,
            )
            thread.join()
            result["profile"] = summary[0] if summary else ""
            continue
        result[f"plain_c{connections}"] = wrk_closed_loop(
            wrk,
            target,
            connections=connections,
            duration_s=args.duration,
            cpus=cpus.loadgen,
            workdir=workdir,
        )
    result["stream_c16"] = _stream(url, key, 16, args.duration, cpus.loadgen)
    group.stop(proc)
    return result


def _pick(run: dict[str, Any]) -> dict[str, Any]:
    c64, c1, stream = run["plain_c64"], run["plain_c1"], run["stream_c16"]
    return {
        "rps_c64": c64.get("rps"),
        "p50_c64_ms": c64.get("p50_ms"),
        "p99_c64_ms": c64.get("p99_ms"),
        "p50_c1_ms": c1.get("p50_ms"),
        "rps_c1": c1.get("rps"),
        "ttft_p50_ms": (stream.get("ttft_ms") or {}).get("p50"),
        "ttft_p99_ms": (stream.get("ttft_ms") or {}).get("p99"),
        "errors": (c64.get("errors") or 0) + (c1.get("errors") or 0) + (stream.get("errors") or 0),
    }


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in rows[0]:
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile()
    cpus = layout()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = BENCH / ".work" / f"ab-{stamp}"
    trees = {"before": args.before.resolve(), "after": ROOT}
    figures: dict[str, Any] = {
        "scenario": "ab_gateway",
        "label": args.label,
        "note": args.note,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "trees": {name: {"path": str(t), "commit": _git_rev(t)} for name, t in trees.items()},
        "layout": cpus.as_dict(),
        "machine": machine_info(),
    }
    rounds: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    raw: dict[str, list[dict[str, Any]]] = {"before": [], "after": [], "direct": []}
    with tempfile.TemporaryDirectory(prefix="gpx-ab-") as tmp, ProcGroup(workdir) as group:
        stub_port = free_port()
        stub = group.start(
            "stub",
            [sys.executable, str(BENCH / "stub_upstream.py"), "--port", str(stub_port),
             "--chunks", "16", "--interval-ms", "0", "--first-token-ms", "0"],
            cpus=cpus.stub,
        )  # fmt: skip
        stub_url = f"http://127.0.0.1:{stub_port}"
        wait_http(stub_url + "/health", proc=stub)
        direct = stub_url + "/v1/chat/completions"
        raw["direct"].append(_stream(direct, None, 16, args.duration, cpus.loadgen))
        for _ in range(args.rounds):
            for name, tree in trees.items():
                result = _measure(group, name, tree, stub_url, Path(tmp), args, cpus, workdir)
                profile = result.pop("profile", None)
                if profile:
                    figures["profile"] = profile.splitlines()
                raw[name].append(result)
                rounds[name].append(_pick(result))
        raw["direct"].append(_stream(direct, None, 16, args.duration, cpus.loadgen))
    direct_ttft = statistics.median(
        float(r["ttft_ms"]["p50"]) for r in raw["direct"] if r.get("ttft_ms")
    )
    summary = {name: _median(rows) for name, rows in rounds.items()}
    for row in summary.values():
        if row.get("ttft_p50_ms") is not None:
            row["added_ttft_p50_ms"] = round(row["ttft_p50_ms"] - direct_ttft, 3)
    summary["direct"] = {"ttft_p50_ms": round(direct_ttft, 3)}
    figures["rounds_by_tree"] = rounds
    figures["summary"] = summary
    figures["runs"] = raw
    figures["logs"] = str(workdir)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="source tree of 'before'")
    parser.add_argument("--label", required=True, help="name of the optimisation")
    parser.add_argument("--note", default="", help="what changed, for the JSON")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternating before/after rounds")
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy seconds on 'after'")
    args = parser.parse_args()
    figures = run(args)
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    name = f"{dt.date.today().isoformat()}-ab-{args.label}.json"
    (results / name).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures["summary"], indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())

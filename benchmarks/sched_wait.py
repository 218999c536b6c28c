"""Why the latency tail: time each thread of the gateway waits for the CPU (issue 8).

Starts the stub worker and one gateway worker (governance ON, as in `gateway.py`), the
gateway pinned to its own CPU as in `run.py`. At each fixed arrival rate (oha, open loop,
latency corrected for coordinated omission) it records the gateway's p50/p99/max and the
stub's p99 at the same rate, and reads every gateway thread's /proc schedstat before and
after: time on the CPU, time runnable but waiting for it (run-queue wait) and how many
times it was scheduled. With one CPU for the gateway, the event loop, Granian's runtime
threads and the forwarder's tokio threads take turns on it; the run-queue waits are the
time a request spends ready but not running.

    .venv/bin/python benchmarks/sched_wait.py [--rates 1000,4000] [--duration 8]

Writes benchmarks/results/<date>-sched-wait.json and prints a summary.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))


from _loadgen import Target, oha_open_loop  # noqa: E402
from _machine import layout, machine_info  # noqa: E402
from _procs import ProcGroup, free_port, raise_nofile, wait_http  # noqa: E402
from _tools import ensure_oha  # noqa: E402
from gateway import _gateway_env, launch_gateway  # noqa: E402

Sample = dict[tuple[int, str, str], tuple[int, int, int]]


def _threads(root: int) -> Sample:
    """(pid, tid, name) -> (ns on CPU, ns waiting to run, times scheduled) for a tree."""
    children = subprocess.run(
        ["pgrep", "-P", str(root)], capture_output=True, text=True, check=False
    ).stdout.split()
    out: Sample = {}
    for pid in [root, *map(int, children)]:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
                run, wait, slices = map(
                    int, Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
                )
            except (OSError, ValueError):
                continue
            out[(pid, tid, name)] = (run, wait, slices)
    return out


def _delta(before: Sample, after: Sample, requests: int) -> list[dict[str, Any]]:
    rows = []
    for key, (run, wait, slices) in after.items():
        b_run, b_wait, b_slices = before.get(key, (0, 0, 0))
        scheduled = slices - b_slices
        if scheduled < 10:
            continue  # idle threads
        rows.append({
            "thread": f"{key[2]} (tid {key[1]})",
            "on_cpu_ms": round((run - b_run) / 1e6, 1),
            "runqueue_wait_ms": round((wait - b_wait) / 1e6, 1),
            "times_scheduled": scheduled,
            "scheduled_per_request": round(scheduled / max(requests, 1), 2),
            "wait_us_per_schedule": round((wait - b_wait) / 1e3 / scheduled, 1),
        })  # fmt: skip
    return sorted(rows, key=lambda r: -r["on_cpu_ms"])


def run(rates: list[int], duration: float) -> dict[str, Any]:
    raise_nofile()
    cpus = layout()
    oha = ensure_oha()
    if oha is None:
        raise SystemExit("oha is missing and could not be installed")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results: dict[str, Any] = {
        "scenario": "sched_wait",
        "date": dt.date.today().isoformat(),
        "machine": machine_info(),
        "layout": cpus.as_dict(),
        "duration_s": duration,
        "rates": {},
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        ProcGroup(BENCH / ".work" / f"sched-{stamp}") as group,
    ):
        stub_port = free_port()
        stub = group.start("stub", [sys.executable, str(BENCH / "stub_upstream.py"), "--port",
                                    str(stub_port)], cpus=cpus.stub)  # fmt: skip
        stub_url = f"http://127.0.0.1:{stub_port}"
        wait_http(stub_url + "/health", proc=stub)
        port = free_port()
        gateway, base, key, check = launch_gateway(
            group,
            "gateway",
            [sys.executable, "-m", "gpuproxy.server", "--port", str(port)],
            port,
            cpus.sut,
            _gateway_env(Path(tmp) / "data", port, stub_url),
            Path(tmp),
        )
        if check.status_code != 200:
            raise SystemExit(f"gateway answered {check.status_code}: {check.text[:300]}")
        through = Target(base + "/v1/chat/completions", api_key=key)
        direct = Target(stub_url + "/v1/chat/completions")
        oha_open_loop(oha, through, rate=2000, duration_s=3, connections=64, cpus=cpus.loadgen)
        for rate in rates:
            before = _threads(gateway.popen.pid)
            measured = oha_open_loop(oha, through, rate=rate, duration_s=duration,
                                     connections=64, cpus=cpus.loadgen)  # fmt: skip
            after = _threads(gateway.popen.pid)
            stub_only = oha_open_loop(oha, direct, rate=rate, duration_s=duration / 2,
                                      connections=64, cpus=cpus.loadgen)  # fmt: skip
            requests = int(measured.get("requests") or rate * duration)
            results["rates"][str(rate)] = {
                "gateway": measured,
                "direct": stub_only,
                "threads": _delta(before, after, requests),
            }
            print(
                f"rate {rate}: gateway p50 {measured.get('p50_ms')} p99 "
                f"{measured.get('p99_ms')} ms, direct p99 {stub_only.get('p99_ms')} ms"
            )
            for row in results["rates"][str(rate)]["threads"]:
                print(f"  {row}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1000,4000", help="requests/s, comma-separated")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per rate")
    args = parser.parse_args()
    figures = run([int(r) for r in args.rates.split(",") if r], args.duration)
    out = BENCH / "results" / f"{figures['date']}-sched-wait.json"
    out.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"wrote {out.relative_to(BENCH.parent)}")


if __name__ == "__main__":
    main()

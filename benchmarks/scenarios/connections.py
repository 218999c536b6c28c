"""Scenario `connections`: ramp held, slowly trickling SSE streams through one instance.

The stub sends one event every TRICKLE_MS on each stream (forever, for the hold). The
client (benchmarks/sse_client.py hold) opens the streams from several 127.0.0.x source
addresses (25,000 per address) and the stub listens on several 127.0.0.x addresses, so
neither side of the proxy runs out of ephemeral ports. RLIMIT_NOFILE is raised for
every process, somaxconn for the run (restored after), and the proxies get a backlog
and Granian backpressure above the target. While the streams are held: RSS growth per
connection, CPU of the proxy, and an open-loop batch of ordinary requests (p99, errors).
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import time
from typing import Any

from _bench import Bench, ensure_somaxconn, python_stub
from _loadgen import STREAM_BODY, Target, oha_open_loop
from _peers import Ctx, NotAvailable, PeerHandle, open_peer
from _procs import cpu_seconds, pin, tree_rss_bytes
from _tools import BENCH, log

__all__ = ["run"]

TRICKLE_MS = 5000.0
PER_ADDRESS = 25_000
OTHER_P99_GOAL_MS = 50.0


def _addresses(first: int, count: int) -> list[str]:
    return [f"127.0.0.{first + i}" for i in range(count)]


def _read_tagged(proc: subprocess.Popen[str], tag: str, deadline: float) -> dict[str, Any]:
    """Read the client's stdout until the `tag` line (or EOF / deadline)."""
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(tag + " "):
            return dict(json.loads(line[len(tag) + 1 :]))
        if line.startswith("PROGRESS "):
            log(f"connections: {line.strip()}")
    return {"error": f"no {tag} line from the client"}


def _hold(bench: Bench, peer: PeerHandle, stub_pid: int, target: int) -> dict[str, Any]:
    measured_pid = peer.proc.pid if peer.proc else stub_pid
    rate = 2000.0 if bench.quick else 5000.0
    sources = _addresses(2, max(1, math.ceil(target / PER_ADDRESS)))
    rss_before = tree_rss_bytes(measured_pid)
    stub_rss_before = tree_rss_bytes(stub_pid)
    argv = [
        sys.executable,
        str(BENCH / "sse_client.py"),
        "hold",
        "--url",
        peer.chat_url,
        "--body",
        STREAM_BODY,
        "--count",
        str(target),
        "--rate",
        f"{rate:g}",
        "--sources",
        ",".join(sources),
    ]
    if peer.api_key:
        argv += ["--api-key", peer.api_key]
    client = subprocess.Popen(
        pin(bench.layout.loadgen, argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        held = _read_tagged(client, "HELD", time.monotonic() + target / rate + 180)
        hold_s = bench.secs(10, 30)
        cpu0, t0 = cpu_seconds(measured_pid), time.monotonic()
        time.sleep(hold_s / 3)
        rss_held = tree_rss_bytes(measured_pid)
        other = None
        if oha := bench.tools.get("oha"):
            other = oha_open_loop(
                oha,
                Target(peer.chat_url, peer.api_key),
                rate=100,
                duration_s=bench.secs(5, 15),
                connections=8,
                cpus=bench.layout.loadgen,
                timeout_s=10,
            )
        if (left := hold_s - (time.monotonic() - t0)) > 0:
            time.sleep(left)
        cpu_pct = 100 * (cpu_seconds(measured_pid) - cpu0) / (time.monotonic() - t0)
        stub_rss_held = tree_rss_bytes(stub_pid)
        assert client.stdin is not None
        client.stdin.write("stop\n")
        client.stdin.flush()
        final = _read_tagged(client, "RESULT", time.monotonic() + 120)
    finally:
        if client.poll() is None:
            client.terminate()
        try:
            client.wait(30)
        except subprocess.TimeoutExpired:
            client.kill()
    count = held.get("held") or 0
    return {
        "target": target,
        "ramp_rate_per_s": rate,
        "source_addresses": sources,
        "held": count,
        "ramp": held,
        "end": final,
        "rss_before_mib": round(rss_before / 2**20, 1),
        "rss_held_mib": round(rss_held / 2**20, 1),
        "rss_per_connection_kib": round((rss_held - rss_before) / count / 1024, 2)
        if count
        else None,
        "cpu_percent_of_one_core_while_held": round(cpu_pct, 1),
        "stub_rss_growth_mib": round((stub_rss_held - stub_rss_before) / 2**20, 1),
        "other_requests_while_held": other,
        "other_p99_under_goal": bool(
            other
            and other.get("p99_ms") is not None
            and other["p99_ms"] < OTHER_P99_GOAL_MS
            and other.get("errors") == 0
        ),
    }


def run(bench: Bench) -> dict[str, Any]:
    targets = bench.targets or ([10_000] if bench.quick else [10_000, 50_000, 100_000])
    system: dict[str, Any] = {}
    peers: dict[str, Any] = {name: {"runs": []} for name in bench.peers}
    # A proxy needs two descriptors per held stream (client side and upstream side).
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    system["rlimit_nofile"] = nofile
    ceiling = (nofile - 512) // 2
    if max(targets) > ceiling:
        bench.notes.append(
            f"RLIMIT_NOFILE is {nofile} here and could not be raised (no CAP_SYS_RESOURCE): "
            f"a proxy can hold at most ~{ceiling} streams, so larger targets were lowered to that"
        )
        targets = sorted({min(t, ceiling) for t in targets})
    with ensure_somaxconn(65535, system):
        for target in targets:
            hosts = _addresses(100, max(1, math.ceil(target / PER_ADDRESS)))
            with python_stub(
                bench, hosts=hosts, interval_ms=TRICKLE_MS, chunks=1_000_000
            ) as upstream:
                stub_pid = upstream.procs[0].pid
                ctx = Ctx(
                    bench.group,
                    bench.layout,
                    upstream,
                    streaming=True,
                    backlog=65535,
                    backpressure=target + 4096,
                )
                for name in bench.peers:
                    if peers[name].get("available") is False:
                        continue
                    try:
                        with open_peer(name, ctx) as peer:
                            peers[name]["config"] = peer.config
                            run_result = _hold(bench, peer, stub_pid, target)
                        peers[name]["available"] = True
                        peers[name]["runs"].append(run_result)
                        log(
                            f"connections {name} {target}: held {run_result['held']}, "
                            f"{run_result['rss_per_connection_kib']} KiB/conn"
                        )
                    except NotAvailable as exc:
                        peers[name] = {"available": False, "reason": str(exc)}
                    except (RuntimeError, TimeoutError) as exc:
                        peers[name]["runs"].append({"target": target, "error": str(exc)})
    return {
        "targets": targets,
        "trickle_interval_ms": TRICKLE_MS,
        "other_requests_p99_goal_ms": OTHER_P99_GOAL_MS,
        "system": system,
        "peers": peers,
    }

"""Scenario `connections`: ramp held, slowly trickling SSE streams through one instance.

The stub sends one event every TRICKLE_MS on each stream (forever, for the hold). Streams
are split into "lanes" of at most PER_LANE each: lane i is one client process
(benchmarks/sse_client.py hold) opening its streams from source address 127.0.0.(2+i),
and one stub process listening on 127.0.0.(100+i). So neither side of the proxy runs out
of ephemeral ports (~28k per source/destination pair) and no client or stub process needs
more descriptors than its limit. RLIMIT_NOFILE is raised where permitted, somaxconn for
the run (restored after), and the proxies get a backlog and Granian backpressure above
the target. While the streams are held: RSS growth per stream, CPU of the proxy, and an
open-loop batch of ordinary requests (p99, errors).

Where RLIMIT_NOFILE cannot be raised (no CAP_SYS_RESOURCE), a proxy process holds at
most (limit - 512) / 2 streams (one descriptor each side). A multi-process proxy (nginx,
python-baseline, gpuproxy: one instance, one listening port, W worker processes) then
runs with enough workers for the target, W = max(SUT CPUs, ceil(target / per-process
cap)), all pinned to the SUT CPUs; the worker count and the reason are noted.
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
OTHER_P99_GOAL_MS = 50.0
_RESERVE_FDS = 512


def _per_lane(nofile: int) -> int:
    return min(25_000, nofile - _RESERVE_FDS)


def _ramp_timeout(target: int, rate: float) -> float:
    """Seconds a client may take to open its streams: the paced ramp four times over (a
    saturated proxy accepts more slowly than the pace), plus a minute."""
    return 4 * target / rate + 60


def _read_tagged(proc: subprocess.Popen[str], tag: str, deadline: float) -> dict[str, Any]:
    """Read a client's stdout until the `tag` line (or EOF / deadline)."""
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


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the lanes' counts; keep the worst lane's latency percentiles."""
    out: dict[str, Any] = {"lanes": len(parts), "failures": {}}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, int | float) and key != "ramp_s":
                out[key] = out.get(key, 0) + value
        for kind, n in (part.get("failures") or {}).items():
            out["failures"][kind] = out["failures"].get(kind, 0) + n
        if "error" in part:
            out.setdefault("errors", []).append(part["error"])
    out["ramp_s"] = max((p.get("ramp_s", 0) for p in parts), default=0)
    ttfts = [p["ttft_ms"] for p in parts if p.get("ttft_ms")]
    if ttfts:
        out["ttft_ms_worst_lane"] = {
            k: max((t.get(k) or 0) for t in ttfts) for k in ("p50", "p90", "p99")
        }
    return out


def _start_clients(bench: Bench, peer: PeerHandle, target: int, rate: float, lanes: int,
                   stub_hosts: list[str]) -> list[subprocess.Popen[str]]:  # fmt: skip
    clients = []
    for lane in range(lanes):
        count = target // lanes + (1 if lane < target % lanes else 0)
        url = peer.chat_url
        if peer.name == "direct":  # lane i straight to stub process i
            url = f"http://{stub_hosts[lane % len(stub_hosts)]}/v1/chat/completions"
        argv = [sys.executable, str(BENCH / "sse_client.py"), "hold", "--url", url,
                "--body", STREAM_BODY, "--count", str(count), "--rate", f"{rate / lanes:g}",
                "--sources", f"127.0.0.{2 + lane}",
                "--ramp-timeout", f"{_ramp_timeout(target, rate):g}"]  # fmt: skip
        if peer.api_key:
            argv += ["--api-key", peer.api_key]
        for name, value in peer.headers.items():
            argv += ["--header", f"{name}: {value}"]
        clients.append(subprocess.Popen(
            pin(bench.layout.loadgen, argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True))  # fmt: skip
    return clients


def _stop_clients(clients: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    for client in clients:
        if client.stdin is not None and client.poll() is None:
            try:
                client.stdin.write("stop\n")
                client.stdin.flush()
            except BrokenPipeError:
                pass
    finals = [_read_tagged(c, "RESULT", time.monotonic() + 120) for c in clients]
    for client in clients:
        if client.poll() is None:
            client.terminate()
        try:
            client.wait(30)
        except subprocess.TimeoutExpired:
            client.kill()
    return finals


def _hold(bench: Bench, peer: PeerHandle, stub_pids: list[int], stub_hosts: list[str],
          target: int, lanes: int) -> dict[str, Any]:  # fmt: skip
    measured = [peer.proc.pid] if peer.proc else stub_pids
    rate = 2000.0 if bench.quick else 5000.0
    rss_before = sum(tree_rss_bytes(p) for p in measured)
    stub_rss_before = sum(tree_rss_bytes(p) for p in stub_pids)
    clients = _start_clients(bench, peer, target, rate, lanes, stub_hosts)
    try:
        deadline = time.monotonic() + _ramp_timeout(target, rate) + 120
        held = _merge([_read_tagged(c, "HELD", deadline) for c in clients])
        hold_s = bench.secs(10, 30)
        cpu0, t0 = sum(cpu_seconds(p) for p in measured), time.monotonic()
        time.sleep(hold_s / 3)
        rss_held = sum(tree_rss_bytes(p) for p in measured)
        other = None
        if oha := bench.tools.get("oha"):
            other = oha_open_loop(oha, Target(peer.chat_url, peer.api_key, headers=peer.headers),
                                  rate=100, duration_s=bench.secs(5, 15), connections=8,
                                  cpus=bench.layout.loadgen, timeout_s=10)  # fmt: skip
        if (left := hold_s - (time.monotonic() - t0)) > 0:
            time.sleep(left)
        elapsed = time.monotonic() - t0
        cpu_pct = 100 * (sum(cpu_seconds(p) for p in measured) - cpu0) / elapsed
        stub_rss_held = sum(tree_rss_bytes(p) for p in stub_pids)
    finally:
        final = _merge(_stop_clients(clients))
    count = held.get("held") or 0
    return {
        "target": target,
        "ramp_rate_per_s": rate,
        "lanes": lanes,
        "source_addresses": [f"127.0.0.{2 + i}" for i in range(lanes)],
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


def _workers_for(name: str, bench: Bench, nofile: int, target: int) -> int | None:
    """Worker processes a proxy needs to hold `target` streams within its descriptor limit
    (None: not a worker-process proxy)."""
    if name == "direct":
        return None  # stub and client processes scale with the lanes
    per_process = (nofile - _RESERVE_FDS) // 2
    return max(len(bench.layout.sut), math.ceil(target / per_process))


def run(bench: Bench) -> dict[str, Any]:
    targets = bench.targets or ([10_000] if bench.quick else [10_000, 50_000, 100_000])
    trickle_ms = bench.trickle_ms or TRICKLE_MS
    system: dict[str, Any] = {}
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    system["rlimit_nofile"] = nofile
    per_lane = _per_lane(nofile)
    system["streams_per_lane"] = per_lane
    peers: dict[str, Any] = {name: {"runs": []} for name in bench.peers}
    with ensure_somaxconn(65535, system):
        for target in targets:
            lanes = max(1, math.ceil(target / per_lane))
            hosts = [f"127.0.0.{100 + i}" for i in range(lanes)]
            with python_stub(bench, hosts=hosts, interval_ms=trickle_ms,
                             chunks=1_000_000) as upstream:  # fmt: skip
                stub_pids = [p.pid for p in upstream.procs]
                for name in bench.peers:
                    if peers[name].get("available") is False:
                        continue
                    wanted = target
                    workers = _workers_for(name, bench, nofile, target)
                    if workers is not None and workers > len(bench.layout.sut):
                        bench.notes.append(
                            f"{name} {target}: {workers} worker processes on "
                            f"{len(bench.layout.sut)} CPU(s): RLIMIT_NOFILE is {nofile} and "
                            f"could not be raised (no CAP_SYS_RESOURCE), so one process holds "
                            f"at most {(nofile - _RESERVE_FDS) // 2} streams"
                        )
                    per_worker = math.ceil(wanted / (workers or 1))
                    ctx = Ctx(bench.group, bench.layout, upstream, streaming=True,
                              backlog=65535, backpressure=per_worker + 4096,
                              workers=workers)  # fmt: skip
                    try:
                        with open_peer(name, ctx) as peer:
                            peers[name]["config"] = peer.config
                            lanes_now = max(1, math.ceil(wanted / per_lane))
                            run_result = _hold(
                                bench, peer, stub_pids, upstream.hostports, wanted, lanes_now
                            )
                        run_result["requested_target"] = target
                        run_result["proxy_workers"] = workers
                        peers[name]["available"] = True
                        peers[name]["runs"].append(run_result)
                        log(f"connections {name} {wanted}: held {run_result['held']}, "
                            f"{run_result['rss_per_connection_kib']} KiB/conn")  # fmt: skip
                    except NotAvailable as exc:
                        peers[name] = {"available": False, "reason": str(exc)}
                    except (RuntimeError, TimeoutError) as exc:
                        peers[name]["runs"].append({"target": wanted, "error": str(exc)})
    return {
        "targets": targets,
        "trickle_interval_ms": trickle_ms,
        "other_requests_p99_goal_ms": OTHER_P99_GOAL_MS,
        "system": system,
        "peers": peers,
    }

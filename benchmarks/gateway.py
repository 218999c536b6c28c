"""Scenario `gateway` (issue 6): what the inference gateway adds on top of the workers.

Chat completions, plain and streamed, through `aiserve-gpuproxyd` with governance ON (API-key
authentication, per-user rate limit, spend guard rails with limits set high enough to be
checked and never tripped, token metering with prices, batched usage rows) to a fast stub
worker (`stub_upstream.py`), and the same load sent directly to the stub, in the same run:

- plain, closed loop (wrk): throughput at 64 connections, latency p50/p99 at 64 and at 1
  connection; "added" = through the gateway minus direct;
- streamed (sse_client.py): time to the first event and whole-stream time at 16 concurrent
  streams; "added" the same way.

The gateway gets its own CPU (taskset), the stub and the load generator share the other(s).
At the end the admin's /api/monitoring/metrics confirms that every request was metered.

    .venv/bin/python benchmarks/gateway.py [--quick] [--json FILE] [--duration S]

Writes benchmarks/results/<date>-gateway.json (and FILE) and prints the figures as the last
line of stdout (one JSON object).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import httpx  # noqa: E402

from _loadgen import CHAT_BODY, STREAM_BODY, Target, wrk_closed_loop  # noqa: E402
from _machine import layout, machine_info  # noqa: E402
from _procs import Proc, ProcGroup, free_port, raise_nofile, wait_http  # noqa: E402

JWT_SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105 - throwaway
PASSWORD = "correct horse battery"  # noqa: S105 - a throwaway benchmark user


def _daemon() -> str:
    found = Path(sys.executable).parent / "aiserve-gpuproxyd"
    if found.exists():
        return str(found)
    return shutil.which("aiserve-gpuproxyd") or "aiserve-gpuproxyd"


def _gateway_env(data_dir: Path, port: int, stub_url: str) -> dict[str, str]:
    return {
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "JWT_SECRET": JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "warning",
        "LOCAL_FLEET_ENABLED": "false",
        "GATEWAY_UPSTREAMS": f"bench-model={stub_url}",
        "GATEWAY_WORKER_MAX_CONCURRENCY": "0",
        # Governance ON, limits high enough never to refuse the benchmark.
        "RATE_LIMIT_PER_MINUTE": "10000000",
        "GUARDRAILS_ENABLED": "true",
        "GUARDRAILS_MAX_5MIN_RATE": "1000000.00",
        "GUARDRAILS_MAX_1440MIN_RATE": "10000000.00",
        "CREDITS_ENFORCED": "true",
        "NEW_USER_CREDIT_USD": "1000000",
        "GATEWAY_DEFAULT_INPUT_PRICE": "0.10",
        "GATEWAY_DEFAULT_OUTPUT_PRICE": "0.40",
    }


def _login(http: httpx.Client, email: str, password: str) -> dict[str, str]:
    answer = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _api_key(http: httpx.Client) -> str:
    email = "bench@example.com"
    http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    jwt = _login(http, email, PASSWORD)
    created = http.post("/api/v1/auth/apikeys", json={"name": "bench"}, headers=jwt)
    created.raise_for_status()
    key: str = created.json()["key"]
    return key


def launch_gateway(
    group: ProcGroup, name: str, argv: list[str], port: int, cpus: list[int],
    env: dict[str, str], cwd: Path,
) -> tuple[Proc, str, str, httpx.Response]:  # fmt: skip
    """Start a gateway, wait for /health, create a user's API key and send one chat
    completion through it: (process, base URL, key, that first answer)."""
    proc = group.start(name, argv, cpus=cpus, env=env, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/health", proc=proc)
    with httpx.Client(base_url=base, timeout=30) as http:
        key = _api_key(http)
        check = http.post(
            "/v1/chat/completions",
            content=CHAT_BODY,
            headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
        )
    return proc, base, key, check


def _admin_headers(http: httpx.Client, data_dir: Path) -> dict[str, str] | None:
    password_file = data_dir / "admin_password"
    if not password_file.exists():
        return None
    return _login(http, "admin@gpucloud.local", password_file.read_text().strip())


def _stream(
    url: str, api_key: str | None, concurrency: int, duration: float, cpus: list[int]
) -> dict[str, Any]:
    import subprocess

    from _procs import pin

    argv = pin(
        cpus,
        [
            sys.executable, str(BENCH / "sse_client.py"), "stream", "--url", url,
            "--body", STREAM_BODY, "--concurrency", str(concurrency),
            "--duration", f"{duration:g}",
            *(["--api-key", api_key] if api_key else []),
        ],
    )  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120, check=False)
    for line in reversed(done.stdout.strip().splitlines()):
        try:
            result: dict[str, Any] = json.loads(line.split(" ", 1)[-1] if line[:1] != "{" else line)
        except json.JSONDecodeError:
            continue
        result.pop("ttft_curve_ms", None)
        result.pop("gap_curve_ms", None)
        return result
    return {"error": (done.stderr or done.stdout)[-800:]}


def _share(part: float | None, whole: float | None) -> float | None:
    return round(part / whole, 3) if part and whole else None


def _added(through: float | None, direct: float | None) -> float | None:
    if through is None or direct is None:
        return None
    return round(through - direct, 3)


def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile()
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"available": False, "reason": "wrk is not installed (apt-get install wrk)"}
    cpus = layout()
    duration = args.duration or (3.0 if args.quick else 10.0)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = BENCH / ".work" / f"gateway-{stamp}"
    figures: dict[str, Any] = {
        "scenario": "gateway",
        "quick": args.quick,
        "duration_s": duration,
        "layout": cpus.as_dict(),
        "machine": machine_info(),
        "governance": {
            "auth": "API key (Authorization: Bearer)",
            "rate_limit_per_minute": 10_000_000,
            "guard_rails": "enabled, 17 windows, limits far above the load",
            "metering": "token prices 0.10 / 0.40 $ per 1M tokens, batched usage rows",
        },
    }
    with tempfile.TemporaryDirectory(prefix="gpx-bench-") as tmp, ProcGroup(workdir) as group:
        stub_port = free_port()
        stub = group.start(
            "stub",
            [sys.executable, str(BENCH / "stub_upstream.py"), "--port", str(stub_port),
             "--chunks", "16", "--interval-ms", "0", "--first-token-ms", "0"],
            cpus=cpus.stub,
        )  # fmt: skip
        stub_url = f"http://127.0.0.1:{stub_port}"
        wait_http(stub_url + "/health", proc=stub)
        port = free_port()
        data_dir = Path(tmp) / "data"
        _, base, key, check = launch_gateway(
            group,
            "gateway",
            [_daemon(), "--port", str(port), "--backlog", "4096"],
            port,
            cpus.sut,
            _gateway_env(data_dir, port, stub_url),
            Path(tmp),
        )
        if check.status_code != 200:
            reason = f"gateway answered {check.status_code}: {check.text[:300]}"
            return {"available": False, "reason": reason}
        figures["rate_limit_headers"] = "x-ratelimit-limit" in check.headers
        with httpx.Client(base_url=base, timeout=30) as http:
            direct_url = stub_url + "/v1/chat/completions"
            proxy_url = base + "/v1/chat/completions"
            results: dict[str, Any] = {}
            for name, target in (
                ("direct", Target(direct_url)),
                ("gateway", Target(proxy_url, api_key=key)),
            ):
                for connections in (64, 1):
                    results[f"{name}_plain_c{connections}"] = wrk_closed_loop(
                        wrk,
                        target,
                        connections=connections,
                        duration_s=duration,
                        cpus=cpus.loadgen,
                        workdir=workdir,
                    )
                results[f"{name}_stream_c16"] = _stream(
                    direct_url if name == "direct" else proxy_url,
                    None if name == "direct" else key,
                    16,
                    duration,
                    cpus.loadgen,
                )
            admin = _admin_headers(http, data_dir)
            metered = None
            if admin is not None:
                time.sleep(1.0)
                report = http.get("/api/monitoring/metrics", headers=admin).json()
                metered = report.get("total_requests")
                figures["usage_writer"] = report.get("usage_writer")
        figures["runs"] = results
        figures["metered_requests"] = metered
        figures["summary"] = _summary(results)
        figures["logs"] = str(workdir)
    return {"available": True, **figures}


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    d64, g64 = results["direct_plain_c64"], results["gateway_plain_c64"]
    d1, g1 = results["direct_plain_c1"], results["gateway_plain_c1"]
    ds, gs = results["direct_stream_c16"], results["gateway_stream_c16"]

    def pct(run: dict[str, Any], group: str, key: str) -> float | None:
        value = run.get(group, {}).get(key)
        return None if value is None else float(value)

    return {
        "throughput_rps": {"direct": d64.get("rps"), "gateway": g64.get("rps")},
        "gateway_share_of_direct_rps": _share(g64.get("rps"), d64.get("rps")),
        "latency_c64_ms": {
            "direct": {"p50": d64.get("p50_ms"), "p99": d64.get("p99_ms")},
            "gateway": {"p50": g64.get("p50_ms"), "p99": g64.get("p99_ms")},
            "added_p50": _added(g64.get("p50_ms"), d64.get("p50_ms")),
            "added_p99": _added(g64.get("p99_ms"), d64.get("p99_ms")),
        },
        "latency_c1_ms": {
            "direct": {"p50": d1.get("p50_ms"), "p99": d1.get("p99_ms")},
            "gateway": {"p50": g1.get("p50_ms"), "p99": g1.get("p99_ms")},
            "added_p50": _added(g1.get("p50_ms"), d1.get("p50_ms")),
            "added_p99": _added(g1.get("p99_ms"), d1.get("p99_ms")),
        },
        "stream_ttft_c16_ms": {
            "direct": {"p50": pct(ds, "ttft_ms", "p50"), "p99": pct(ds, "ttft_ms", "p99")},
            "gateway": {"p50": pct(gs, "ttft_ms", "p50"), "p99": pct(gs, "ttft_ms", "p99")},
            "added_p50": _added(pct(gs, "ttft_ms", "p50"), pct(ds, "ttft_ms", "p50")),
            "added_p99": _added(pct(gs, "ttft_ms", "p99"), pct(ds, "ttft_ms", "p99")),
        },
        "streams": {"direct": ds.get("streams"), "gateway": gs.get("streams")},
        "errors": {
            "direct": (d64.get("errors") or 0) + (d1.get("errors") or 0) + (ds.get("errors") or 0),
            "gateway": (g64.get("errors") or 0) + (g1.get("errors") or 0) + (gs.get("errors") or 0),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3-second runs (validation)")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds per run")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    figures = run(args)
    out = json.dumps(figures, separators=(",", ":"))
    if figures.get("available"):
        results = BENCH / "results"
        results.mkdir(exist_ok=True)
        name = f"{dt.date.today().isoformat()}-gateway{'-quick' if args.quick else ''}.json"
        (results / name).write_text(json.dumps(figures, indent=2) + "\n")
    if args.json is not None:
        args.json.write_text(out + "\n")
    print(json.dumps(figures.get("summary", figures), indent=2), file=sys.stderr)
    print(out)
    return 0 if figures.get("available") else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())

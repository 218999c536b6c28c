"""Load generation with established tools.

- Closed loop (fixed concurrency, as fast as the server answers): wrk, with a generated Lua
  script that POSTs the chat body (with the target's Authorization and extra headers) and
  prints the summary as one JSON line.
- Open loop (fixed arrival rate, latency measured from the scheduled send time so a slow
  server cannot hide its queueing; "coordinated omission" corrected): oha -q RATE
  --latency-correction.
Both run pinned (taskset) to the load-generator CPUs.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _procs import pin

__all__ = ["CHAT_BODY", "STREAM_BODY", "Target", "oha_open_loop", "wrk_closed_loop"]

CHAT_BODY = (
    '{"model":"bench-model","messages":[{"role":"user","content":"Say hello to the benchmark."}],'
    '"max_tokens":16}'
)
STREAM_BODY = CHAT_BODY[:-1] + ',"stream":true}'


@dataclass(frozen=True)
class Target:
    """Where a peer listens and what to send it."""

    url: str  # full URL of the chat-completions route
    api_key: str | None = None
    body: str = CHAT_BODY
    #: extra request headers (a peer's PeerHandle.headers), sent after Authorization
    headers: Mapping[str, str] = field(default_factory=dict)


_WRK_LUA = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{auth}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"max_us":%d,"mean_us":%.1f}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
"""


def _lua_string(value: str) -> str:
    """A Lua long-bracket string literal (no escapes inside; JSON values stay as they are)."""
    if "]==]" in value or "\n" in value or "\r" in value:
        raise ValueError(f"header text not representable here: {value!r}")
    return f"[==[{value}]==]"


def _wrk_headers(target: Target) -> str:
    """The Lua lines setting Authorization and the target's extra headers ("" when none)."""
    lines = [f'wrk.headers["Authorization"] = "Bearer {target.api_key}"'] if target.api_key else []
    lines += [
        f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}"
        for name, value in target.headers.items()
    ]
    return "\n".join(lines)


def wrk_closed_loop(
    wrk: str,
    target: Target,
    *,
    connections: int,
    duration_s: float,
    cpus: Sequence[int],
    workdir: Path,
    timeout_s: float = 10.0,
) -> dict[str, Any]:
    """RPS, latency percentiles (ms) and errors at a fixed number of connections."""
    script = workdir / "wrk-post.lua"
    script.write_text(_WRK_LUA.format(body=target.body, auth=_wrk_headers(target)))
    threads = max(1, min(len(cpus) or 1, connections))
    argv = pin(
        cpus,
        [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            f"--timeout={timeout_s:g}s",
            "-s",
            str(script),
            target.url,
        ],
    )
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        return {"tool": "wrk", "error": (done.stderr or done.stdout)[-500:], "rps": 0.0}
    raw = json.loads(line[len("WRKJSON ") :])
    seconds = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in raw if k.startswith("err_"))
    if raw["requests"] == 0:
        # Nothing answered within the run: wrk's latency figures are empty, not zero.
        return {
            "tool": "wrk",
            "connections": connections,
            "threads": threads,
            "duration_s": round(seconds, 2),
            "requests": 0,
            "rps": 0.0,
            "p50_ms": None,
            "p90_ms": None,
            "p99_ms": None,
            "p999_ms": None,
            "max_ms": None,
            "mean_ms": None,
            "errors": errors,
            "errors_by_kind": {k[4:]: raw[k] for k in raw if k.startswith("err_") and raw[k]},
            "note": f"no request completed in {seconds:.1f} s (timeout {timeout_s:g} s)",
        }
    return {
        "tool": "wrk",
        "connections": connections,
        "threads": threads,
        "duration_s": round(seconds, 2),
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "p999_ms": raw["p999_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "mean_ms": round(raw["mean_us"] / 1000, 3),
        "errors": errors,
        "errors_by_kind": {k[4:]: raw[k] for k in raw if k.startswith("err_") and raw[k]},
    }


def oha_open_loop(
    oha: str,
    target: Target,
    *,
    rate: float,
    duration_s: float,
    connections: int,
    cpus: Sequence[int],
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """Latency (ms, corrected for coordinated omission) at a fixed arrival rate."""
    argv = [
        oha,
        "--no-tui",
        "--output-format",
        "json",
        "-z",
        f"{duration_s:g}s",
        "-q",
        f"{rate:g}",
        "--latency-correction",
        "--wait-ongoing-requests-after-deadline",
        "-c",
        str(connections),
        "-t",
        f"{timeout_s:g}s",
        "-m",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        target.body,
    ]
    if target.api_key:
        argv += ["-H", f"Authorization: Bearer {target.api_key}"]
    for name, value in target.headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(target.url)
    done = subprocess.run(
        pin(cpus, argv), capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    try:
        raw = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {
            "tool": "oha",
            "rate": rate,
            "error": (done.stderr or done.stdout)[-500:],
            "ok": False,
        }
    summary = raw.get("summary", {})
    pct = raw.get("latencyPercentiles", {})
    codes = raw.get("statusCodeDistribution", {}) or {}
    errors = dict(raw.get("errorDistribution", {}) or {})
    # Requests cut off by the end of the run are not the server's errors.
    aborted = sum(n for kind, n in errors.items() if "deadline" in kind)
    errors = {kind: n for kind, n in errors.items() if "deadline" not in kind}
    total = sum(codes.values()) + sum(errors.values())
    non_2xx = sum(n for code, n in codes.items() if not str(code).startswith("2"))

    def ms(value: Any) -> float | None:
        return None if value is None else round(float(value) * 1000, 3)

    return {
        "tool": "oha",
        "rate": rate,
        "connections": connections,
        "duration_s": duration_s,
        "requests": total,
        "achieved_rps": round(float(summary.get("requestsPerSec") or 0.0), 1),
        "p50_ms": ms(pct.get("p50")),
        "p90_ms": ms(pct.get("p90")),
        "p99_ms": ms(pct.get("p99")),
        "max_ms": ms(summary.get("slowest")),
        "errors": non_2xx + sum(errors.values()),
        "aborted_at_deadline": aborted,
        "errors_by_kind": {
            **{f"status_{c}": n for c, n in codes.items() if not str(c).startswith("2")},
            **errors,
        },
    }

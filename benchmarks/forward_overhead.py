"""Forwarding overhead of `gpuproxy._core.Forwarder` against a fast local backend.

Two comparisons, each at several concurrencies, all in one run against the same backend
(nginx answering a fixed chat.completion JSON; the stub upstream if nginx is missing):

1. In-process (uvloop): N asyncio tasks looping `await fwd.forward_to(...)` +
   `await resp.read()`, versus N tasks sending the same requests directly to the backend
   over keep-alive connections with a minimal asyncio-protocol HTTP/1.1 client.
2. Through a server (wrk): wrk -> Granian raw ASGI app forwarding with `_core` -> backend,
   versus wrk -> backend directly, plus the same Granian app answering without forwarding
   (separates Granian/ASGI cost from the forwarder's).

    .venv/bin/python benchmarks/forward_overhead.py [--duration 3] [--concurrency 16,64]

Results: a table on stdout and benchmarks/results/<date>-forward_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from stub_upstream import CHAT_JSON  # noqa: E402

REQUEST_BODY = json.dumps(
    {"model": "bench-model", "messages": [{"role": "user", "content": "Say hi"}]}
).encode()
PATH = "/v1/chat/completions"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@contextlib.contextmanager
def process(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    """Runs a server in its own process group; stops the whole group afterwards."""
    proc = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_port(port)
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def backend(workdir: Path) -> Iterator[tuple[str, str]]:
    """The fast upstream: nginx (1 worker) returning a fixed JSON, else the stub upstream."""
    port = free_port()
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx:
        body = CHAT_JSON.decode().replace("\\", "\\\\").replace("'", "\\'")
        conf = workdir / "nginx.conf"
        conf.write_text(
            f"""daemon off; worker_processes 1; pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  client_body_temp_path {workdir}/body; proxy_temp_path {workdir}/proxy;
  fastcgi_temp_path {workdir}/fcgi; uwsgi_temp_path {workdir}/uwsgi; scgi_temp_path {workdir}/scgi;
  server {{ listen 127.0.0.1:{port}; default_type application/json;
    location / {{ return 200 '{body}'; }} }}
}}
"""
        )
        with process([nginx, "-c", str(conf), "-p", str(workdir)], port):
            yield f"127.0.0.1:{port}", "nginx"
    else:
        argv = [sys.executable, str(HERE / "stub_upstream.py"), "--port", str(port)]
        with process(argv, port):
            yield f"127.0.0.1:{port}", "stub_upstream.py"


# ---- in-process load --------------------------------------------------------------


class _Conn(asyncio.Protocol):
    """A minimal keep-alive HTTP/1.1 client connection (content-length responses)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transport is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        match = re.search(rb"(?i)content-length:\s*(\d+)", self.buf[:end])
        total = end + 4 + (int(match.group(1)) if match else 0)
        if len(self.buf) >= total and self.waiter is not None and not self.waiter.done():
            status = int(self.buf[9:12])
            del self.buf[:total]
            self.waiter.set_result(status)

    async def request(self, raw: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


async def _direct(address: str, concurrency: int, duration: float) -> int:
    host, port = address.rsplit(":", 1)
    raw = (
        f"POST {PATH} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(REQUEST_BODY)}\r\n\r\n"
    ).encode() + REQUEST_BODY
    loop = asyncio.get_running_loop()
    conns = [(await loop.create_connection(_Conn, host, int(port)))[1] for _ in range(concurrency)]
    deadline = loop.time() + duration
    done = 0

    async def worker(conn: _Conn) -> None:
        nonlocal done
        while loop.time() < deadline:
            assert await conn.request(raw) == 200
            done += 1

    await asyncio.gather(*(worker(c) for c in conns))
    for c in conns:
        assert c.transport is not None
        c.transport.close()
    return done


async def _through_core(address: str, concurrency: int, duration: float, threads: int) -> int:
    from gpuproxy._core import Forwarder

    fwd = Forwarder(runtime_threads=threads)
    headers = [(b"content-type", b"application/json")]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    done = 0

    async def worker() -> None:
        nonlocal done
        while loop.time() < deadline:
            resp = await fwd.forward_to(address, "POST", PATH, headers, REQUEST_BODY)
            await resp.read()
            assert resp.status == 200
            done += 1

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        fwd.close()
    return done


def _measured(run: Any) -> tuple[int, float, float]:
    """Runs one load on uvloop: (requests, loop-thread CPU s, whole-process CPU s). CPU
    per request stays meaningful when other work competes for the cores."""
    import uvloop

    usage = resource.getrusage(resource.RUSAGE_SELF)
    proc0, thread0 = usage.ru_utime + usage.ru_stime, time.thread_time()
    done: int = uvloop.run(run)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return done, time.thread_time() - thread0, usage.ru_utime + usage.ru_stime - proc0


def in_process(address: str, concurrency: int, duration: float, threads: int) -> dict[str, Any]:
    # Warm up both paths (connections, caches) before measuring.
    _measured(_direct(address, concurrency, 0.3))
    _measured(_through_core(address, concurrency, 0.3, threads))
    direct, d_thread, d_proc = _measured(_direct(address, concurrency, duration))
    core, c_thread, c_proc = _measured(_through_core(address, concurrency, duration, threads))
    return {
        "direct_rps": round(direct / duration),
        "core_rps": round(core / duration),
        "ratio": round(core / direct, 3),
        "direct_loop_us_per_req": round(1e6 * d_thread / direct, 1),
        "core_loop_us_per_req": round(1e6 * c_thread / core, 1),
        "direct_process_us_per_req": round(1e6 * d_proc / direct, 1),
        "core_process_us_per_req": round(1e6 * c_proc / core, 1),
    }


# ---- through a server (wrk) ---------------------------------------------------------


def wrk(url: str, concurrency: int, duration: float, workdir: Path) -> dict[str, float]:
    script = workdir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(REQUEST_BODY.decode())}\n"
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
        return round(float(m.group(1)) * scale, 3)

    return {
        "rps": round(rps),
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def through_server(
    address: str, concurrency: list[int], duration: float, threads: int, workdir: Path
) -> dict[str, Any]:
    granian = str(Path(sys.executable).with_name("granian"))
    results: dict[str, Any] = {}
    for c in concurrency:
        results[f"c{c}"] = {"direct": wrk(f"http://{address}{PATH}", c, duration, workdir)}
    for app in ("static", "forward"):
        port = free_port()
        argv = [
            granian, "--interface", "asgi", "--loop", "uvloop", "--workers", "1",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "error",
            "--working-dir", str(HERE), f"_forward_app:{app}",
        ]  # fmt: skip
        env = {
            "FWD_UPSTREAM": address,
            "FWD_THREADS": str(threads),
            "PYTHONPATH": str(ROOT / "python"),
        }
        with process(argv, port, env):
            wrk(f"http://127.0.0.1:{port}{PATH}", 16, 1, workdir)  # warm-up
            for c in concurrency:
                results[f"c{c}"][f"granian_{app}"] = wrk(
                    f"http://127.0.0.1:{port}{PATH}", c, duration, workdir
                )
    for c in concurrency:
        r = results[f"c{c}"]
        r["forward_vs_direct"] = round(r["granian_forward"]["rps"] / r["direct"]["rps"], 3)
        r["forward_vs_static"] = round(r["granian_forward"]["rps"] / r["granian_static"]["rps"], 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--concurrency", default="16,64", help="comma-separated levels")
    parser.add_argument("--runtime-threads", type=int, default=1, help="Forwarder runtime threads")
    parser.add_argument("--no-wrk", action="store_true", help="skip the wrk/Granian comparison")
    parser.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    report: dict[str, Any] = {
        "scenario": "forward_overhead",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "duration_s": args.duration,
        "runtime_threads": args.runtime_threads,
    }
    with (
        tempfile.TemporaryDirectory(prefix="fwd-bench-") as tmp,
        backend(Path(tmp)) as (address, kind),
    ):
        report["backend"] = kind
        report["in_process"] = {
            f"c{c}": in_process(address, c, args.duration, args.runtime_threads) for c in levels
        }
        for c in levels:
            r = report["in_process"][f"c{c}"]
            print(
                f"in-process c={c:<3} direct {r['direct_rps']:>7} req/s"
                f"  _core {r['core_rps']:>7} req/s  ratio {r['ratio']}"
                f"  | CPU us/req: loop thread {r['direct_loop_us_per_req']} vs"
                f" {r['core_loop_us_per_req']}, process {r['direct_process_us_per_req']} vs"
                f" {r['core_process_us_per_req']}"
            )
        if not args.no_wrk and shutil.which("wrk"):
            report["wrk"] = through_server(
                address, levels, args.duration, args.runtime_threads, Path(tmp)
            )
            for c in levels:
                r = report["wrk"][f"c{c}"]
                fwd = r["granian_forward"]
                print(
                    f"wrk c={c:<3} direct {r['direct']['rps']:>7}"
                    f"  granian static {r['granian_static']['rps']:>7}"
                    f"  granian+_core forward {fwd['rps']:>7}"
                    f" (p50 {fwd['p50_ms']} ms, p99 {fwd['p99_ms']} ms)"
                    f"  forward/direct {r['forward_vs_direct']}"
                    f"  forward/static {r['forward_vs_static']}"
                )
    report["loadavg_after"] = os.getloadavg()
    if not args.no_save:
        out = HERE / "results" / f"{dt.date.today().isoformat()}-forward_overhead.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"saved {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

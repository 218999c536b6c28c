"""Where the memory of held SSE streams goes: RSS per stream of each layer on its own.

    .venv/bin/python benchmarks/held_memory.py [--count 2000] [--modes gpuproxy,granian,forwarder]
        [--trickle-ms 5000] [--hold-s 3]

Each mode starts the SSE stub (one event per `--trickle-ms`, 5 s by default, forever),
the system under test, opens `--count` trickling streams through it with
`sse_client.py hold`, and reads the SUT's RSS (and its anonymous memory from
/proc/PID/smaps_rollup) before and after holding them `--hold-s` seconds:

- `gpuproxy`: `aiserve-gpuproxyd` (one worker, governance ON as in `run.py`), the whole path;
- `gpuproxy-http-auto`: the same with `--http auto` (Granian's HTTP/1.1 + HTTP/2 connection);
- `granian`: Granian (the same settings) serving a minimal raw-ASGI app that answers each
  request with an SSE head and one event, then holds the stream open: the server's share;
- `forwarder`: a uvloop process forwarding `--count` streams through `gpuproxy._core`'s
  Forwarder to the stub, one asyncio task each reading the body: the forwarder's share
  (no server, no client sockets).

A quick bisecting tool (seconds per mode), not a scenario: prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _gpuproxy import governance_env
from _loadgen import STREAM_BODY
from _procs import free_port, raise_nofile, tree_pids, tree_rss_bytes, wait_http, wait_port

__all__ = ["main"]

BENCH = Path(__file__).parent
STUB_HOST = "127.0.0.100"
CLIENT_SOURCE = "127.0.0.2"
#: seconds the streams are held before RSS is read (--hold-s)
HOLD_S = [3.0]


def _anon_bytes(pid: int) -> int:
    total = 0
    for p in tree_pids(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Anonymous:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _threads(pid: int) -> int:
    return sum(len(os.listdir(f"/proc/{p}/task")) for p in tree_pids(pid))


def _start(argv: list[str], env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[Any]:
    return subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **kw,
    )


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _hold(url: str, key: str | None, count: int) -> subprocess.Popen[str]:
    argv = [sys.executable, str(BENCH / "sse_client.py"), "hold", "--url", url,
            "--body", STREAM_BODY, "--count", str(count), "--rate", "1000",
            "--sources", CLIENT_SOURCE]  # fmt: skip
    if key:
        argv += ["--api-key", key]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip


def _read_tag(proc: subprocess.Popen[str], tag: str) -> dict[str, Any]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(tag + " "):
            return dict(json.loads(line[len(tag) + 1 :]))
    return {"error": f"no {tag} line"}


def _measure(sut: subprocess.Popen[Any], stub: subprocess.Popen[Any], count: int,
             hold: Any) -> dict[str, Any]:  # fmt: skip
    """`hold()` opens the streams and returns (held, stop callable)."""
    time.sleep(1.0)
    before = tree_rss_bytes(sut.pid), _anon_bytes(sut.pid), tree_rss_bytes(stub.pid)
    held, stop = hold()
    time.sleep(HOLD_S[0])  # let trickled events pass through
    after = tree_rss_bytes(sut.pid), _anon_bytes(sut.pid), tree_rss_bytes(stub.pid)
    threads = _threads(sut.pid)
    stop()
    n = max(1, held)
    return {
        "held": held,
        "rss_before_mib": round(before[0] / 2**20, 1),
        "rss_held_mib": round(after[0] / 2**20, 1),
        "rss_per_stream_kib": round((after[0] - before[0]) / n / 1024, 2),
        "anon_per_stream_kib": round((after[1] - before[1]) / n / 1024, 2),
        "stub_rss_per_stream_kib": round((after[2] - before[2]) / n / 1024, 2),
        "sut_threads": threads,
    }


def _client_hold(url: str, key: str | None, count: int) -> Any:
    def hold() -> tuple[int, Any]:
        client = _hold(url, key, count)
        result = _read_tag(client, "HELD")

        def stop() -> None:
            assert client.stdin is not None
            client.stdin.write("stop\n")
            client.stdin.flush()
            _read_tag(client, "RESULT")
            client.wait(30)

        return int(result.get("held") or 0), stop

    return hold


def _api_key(base: str) -> str:
    from _gpuproxy import _api_key as make_key

    return make_key(base)


def run_gpuproxy(stub_url: str, count: int, tmp: Path, extra: list[str]) -> dict[str, Any]:
    port = free_port()
    data = tmp / f"gpuproxy-{port}"
    data.mkdir(parents=True)
    env = {"DATA_DIR": str(data), "DB_TYPE": "sqlite", "HOST": "127.0.0.1", "PORT": str(port),
           "REDIS_URL": "", "LOG_LEVEL": "warning", "GATEWAY_UPSTREAMS": f"bench-model={stub_url}",
           "GATEWAY_WORKER_MAX_CONCURRENCY": "0", **governance_env(True)}  # fmt: skip
    argv = [sys.executable, "-m", "gpuproxy.server", "--workers", "1", "--backlog", "65535",
            "--backpressure", str(count + 4096), *extra]  # fmt: skip
    sut = _start(argv, env, cwd=data)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", 90)
        key = _api_key(base)
        return _measure(sut, _STUB[0], count,
                        _client_hold(f"{base}/v1/chat/completions", key, count))  # fmt: skip
    finally:
        _stop(sut)


_GRANIAN_APP = """
import asyncio
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": b"data: {}\\n\\n", "more_body": True})
    while True:  # hold until the client goes (Granian answers http.disconnect then)
        message = await receive()
        if message["type"] == "http.disconnect":
            return
"""


def run_granian(count: int, tmp: Path, extra: str) -> dict[str, Any]:
    port = free_port()
    (tmp / "held_app.py").write_text(_GRANIAN_APP)
    code = ("from granian.constants import Interfaces, Loops; from granian.server import Server; "
            f"Server('held_app:app', address='127.0.0.1', port={port}, interface=Interfaces.ASGI, "
            f"workers=1, loop=Loops.uvloop, backlog=65535, backpressure={count + 4096}, "
            f"log_access=False, websockets=True{extra}).serve()")  # fmt: skip
    sut = _start([sys.executable, "-c", code], cwd=tmp)
    try:
        wait_port("127.0.0.1", port, 30)
        return _measure(sut, _STUB[0], count,
                        _client_hold(f"http://127.0.0.1:{port}/", None, count))  # fmt: skip
    finally:
        _stop(sut)


async def _forwarder_child(stub_url: str, count: int) -> None:
    from gpuproxy import _core

    fwd = _core.Forwarder()
    headers = [(b"content-type", b"application/json"), (b"accept", b"text/event-stream")]
    body = STREAM_BODY.encode()
    started = asyncio.Event()
    opened = 0

    async def one() -> None:
        nonlocal opened
        resp = await fwd.forward_to(stub_url, "POST", "/v1/chat/completions", headers, body)
        first = True
        async for _chunk in resp:
            if first:
                first = False
                opened += 1
                if opened == count:
                    started.set()

    print("READY", flush=True)
    sys.stdin.readline()
    tasks = []
    for _ in range(count):
        tasks.append(asyncio.ensure_future(one()))
        if len(tasks) % 200 == 0:
            await asyncio.sleep(0.02)
    await asyncio.wait_for(started.wait(), 60)
    print(f"HELD {opened}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for t in tasks:
        t.cancel()
    fwd.close()


def run_forwarder(stub_url: str, count: int) -> dict[str, Any]:
    sut = subprocess.Popen([sys.executable, __file__, "--child-forwarder", stub_url, str(count)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert sut.stdin is not None
    assert sut.stdout is not None
    try:
        assert sut.stdout.readline().startswith("READY")

        def hold() -> tuple[int, Any]:
            assert sut.stdin is not None
            assert sut.stdout is not None
            sut.stdin.write("go\n")
            sut.stdin.flush()
            line = sut.stdout.readline()

            def stop() -> None:
                assert sut.stdin is not None
                sut.stdin.write("stop\n")
                sut.stdin.flush()

            return int(line.split()[1]) if line.startswith("HELD") else 0, stop

        return _measure(sut, _STUB[0], count, hold)
    finally:
        _stop(sut)


_STUB: list[subprocess.Popen[Any]] = []


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child-forwarder":
        import uvloop

        uvloop.run(_forwarder_child(sys.argv[2], int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--modes", default="gpuproxy-http-auto,gpuproxy,granian,forwarder")
    parser.add_argument("--granian-kw", default="", help="extra Server(...) keywords, ', k=v'")
    parser.add_argument("--out", help="write the JSON here too")
    parser.add_argument("--trickle-ms", type=float, default=5000, help="ms between events")
    parser.add_argument("--hold-s", type=float, default=3.0, help="held this long, then RSS")
    args = parser.parse_args()
    raise_nofile()
    HOLD_S[0] = args.hold_s
    tmp = BENCH / ".work" / f"held-memory-{int(time.time())}"
    tmp.mkdir(parents=True)
    port = free_port()
    stub = _start([sys.executable, str(BENCH / "stub_upstream.py"), "--port", str(port),
                   "--hosts", STUB_HOST, "--interval-ms", f"{args.trickle_ms:g}",
                   "--chunks", "1000000"])  # fmt: skip
    _STUB.append(stub)
    stub_url = f"http://{STUB_HOST}:{port}"
    results: dict[str, Any] = {
        "count": args.count,
        "trickle_ms": args.trickle_ms,
        "hold_s": args.hold_s,
        "modes": {},
    }
    try:
        wait_port(STUB_HOST, port, 20)
        for mode in args.modes.split(","):
            if mode == "gpuproxy":
                results["modes"][mode] = run_gpuproxy(stub_url, args.count, tmp, [])
            elif mode == "gpuproxy-http-auto":  # as before HTTP/1.1-only became the default
                results["modes"][mode] = run_gpuproxy(stub_url, args.count, tmp,
                                                      ["--http", "auto"])  # fmt: skip
            elif mode == "granian":
                results["modes"][mode] = run_granian(args.count, tmp, args.granian_kw)
            elif mode == "forwarder":
                results["modes"][mode] = run_forwarder(stub_url, args.count)
            print(mode, json.dumps(results["modes"][mode]), file=sys.stderr, flush=True)
    finally:
        _stop(stub)
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

"""A storm of unknown API keys against gpuproxy while a known key is served (the storm
client of scenario `keystorm`).

Sends POST /v1/chat/completions with well-formed but unknown `gpx_` keys (each one costs
the control plane a database lookup when it is asked) at a fixed rate from many loopback
source addresses (127.0.1.1 ... : the per-address failed-authentication throttle applies to
each), for a fixed time, and prints one JSON line: offered and sent requests, statuses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import string
import time
from collections import Counter

_ALPHABET = string.ascii_lowercase + string.digits


def _unknown_key() -> str:
    key_id = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return f"gpx_{key_id}_{secrets.token_urlsafe(32)}"


async def _one(
    host: str, port: int, path: str, source: str, body: bytes, out: Counter[str]
) -> None:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(source, 0)), 5
        )
    except (OSError, TimeoutError):
        out["connect_error"] += 1
        return
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {_unknown_key()}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        writer.write(head + body)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 15)
        parts = line.split()
        out[parts[1].decode() if len(parts) > 1 else "bad_response"] += 1
    except (OSError, TimeoutError):
        out["timeout_or_reset"] += 1
    finally:
        writer.close()


async def storm(url: str, rate: float, duration: float, sources: int) -> dict[str, object]:
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    body = json.dumps(
        {"model": "bench-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    ).encode()
    out: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    sent = 0
    while (now := time.perf_counter() - start) < duration:
        due = int(now * rate)
        while sent < due:
            source = f"127.0.{1 + sent % sources // 250}.{1 + sent % sources % 250}"
            task = asyncio.create_task(_one(host, int(port), "/" + path, source, body, out))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.sleep(0.001)
    if tasks:
        await asyncio.wait(tasks, timeout=20)
    return {
        "offered_rate": rate,
        "duration_s": duration,
        "source_addresses": sources,
        "sent": sent,
        "statuses": dict(out),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--sources", type=int, default=200)
    args = parser.parse_args()
    import uvloop

    result = uvloop.run(storm(args.url, args.rate, args.duration, args.sources))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""What every scenario gets: options, CPU layout, tools, a process group, stub starters."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _nginx
from _machine import Layout
from _peers import Upstream
from _procs import ProcGroup, free_port, wait_port
from _tools import BENCH, ensure_nginx

__all__ = ["Bench", "ensure_somaxconn", "python_stub", "static_stub"]


@dataclass
class Bench:
    quick: bool
    layout: Layout
    group: ProcGroup
    tools: dict[str, str | None]
    peers: list[str]
    notes: list[str] = field(default_factory=list)
    targets: list[int] | None = None  # connections: stream counts (default by --quick)
    trickle_ms: float | None = None  # connections: ms between events (default TRICKLE_MS)

    @property
    def workdir(self) -> Path:
        return self.group.workdir

    def secs(self, quick: float, full: float) -> float:
        return quick if self.quick else full


@contextlib.contextmanager
def static_stub(bench: Bench) -> Iterator[Upstream]:
    """nginx returning a fixed chat.completion JSON (falls back to the Python stub)."""
    nginx = ensure_nginx()
    if nginx is None:
        bench.notes.append("nginx missing: the Python stub served the non-streaming upstream")
        with python_stub(bench) as upstream:
            yield upstream
        return
    port = free_port()
    cpus = bench.layout.stub
    conf = _nginx.stub_config(bench.workdir / "nginx-stub", port, len(cpus))
    proc = _nginx.start_nginx(bench.group, nginx, "nginx-stub", conf, port, cpus)
    try:
        yield Upstream("nginx-stub", [f"127.0.0.1:{port}"], [proc], cpus)
    finally:
        bench.group.stop(proc)


@contextlib.contextmanager
def python_stub(
    bench: Bench,
    *,
    hosts: list[str] | None = None,
    first_token_ms: float = 0.0,
    interval_ms: float = 0.0,
    chunks: int = 16,
) -> Iterator[Upstream]:
    """benchmarks/stub_upstream.py (SSE capable): one process per 127.0.0.x address, so each
    process's descriptor limit only has to cover that address's streams."""
    hosts = hosts or ["127.0.0.1"]
    port = free_port()
    cpus = bench.layout.stub
    procs = []
    try:
        for index, host in enumerate(hosts):
            argv = [sys.executable, str(BENCH / "stub_upstream.py"), "--port", str(port),
                    "--hosts", host, "--first-token-ms", f"{first_token_ms:g}",
                    "--interval-ms", f"{interval_ms:g}", "--chunks", str(chunks)]  # fmt: skip
            procs.append(bench.group.start(f"python-stub-{index}", argv, cpus=cpus))
        for host, proc in zip(hosts, procs, strict=True):
            wait_port(host, port, 20, proc)
        yield Upstream("python-stub", [f"{h}:{port}" for h in hosts], procs, cpus)
    finally:
        for proc in procs:
            bench.group.stop(proc)


@contextlib.contextmanager
def ensure_somaxconn(value: int, record: dict[str, Any]) -> Iterator[None]:
    """Raise net.core.somaxconn for the run when permitted; restore it afterwards."""
    path = Path("/proc/sys/net/core/somaxconn")
    try:
        before = int(path.read_text())
    except OSError:
        record["somaxconn"] = "unreadable"
        yield
        return
    changed = False
    if before < value and os.geteuid() == 0:
        try:
            path.write_text(str(value))
            changed = True
        except OSError as exc:
            record["somaxconn_error"] = str(exc)
    record["somaxconn"] = {"before": before, "during": int(path.read_text())}
    try:
        yield
    finally:
        if changed:
            with contextlib.suppress(OSError):
                path.write_text(str(before))

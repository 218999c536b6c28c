"""Start and stop worker agent processes for the local fleet.

Each worker runs in its own session (process group), so stopping it kills everything it
started; waits are bounded (SIGTERM, then SIGKILL). Workers also get
`--exit-with-parent`, so they do not outlive a proxy that died without cleaning up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

__all__ = ["WorkerProcess", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class WorkerProcess:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path | None) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    @classmethod
    def spawn(
        cls, args: list[str], *, env: dict[str, str] | None = None, log_path: Path | None = None
    ) -> WorkerProcess:
        """Start `python -m gpuproxy.worker --host 127.0.0.1 --port <free> ARGS`."""
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "gpuproxy.worker",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--exit-with-parent",
            str(os.getpid()),
            *args,
        ]
        output: int | IO[bytes] = subprocess.DEVNULL
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            output = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if log_path is not None else subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                close_fds=True,
            )
        finally:
            if log_path is not None and not isinstance(output, int):
                output.close()
        return cls(process, port, log_path)

    async def wait_healthy(self, timeout_s: float) -> bool:
        """Poll `/health` until it answers 200, the process dies, or the time is up."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    return False
                try:
                    response = await client.get(f"{self.endpoint}/health")
                    if response.status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        return False

    async def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the worker's process group, then SIGKILL after `grace_s`; reap it."""
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.process.wait, grace_s)
        # Kill the whole group even when the leader exited: it may have left children.
        self._signal(signal.SIGKILL)
        if self.process.poll() is None:
            await asyncio.to_thread(self.process.wait, 5)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

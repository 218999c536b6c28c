"""A private PostgreSQL server (its own cluster, on a free port) that a test may stop and
start again: never the shared one. initdb and pg_ctl run as the `postgres` user (the server
refuses to run as root), so this needs root; without root or the binaries the test skips,
unless CI=true, where that is a failure (as for the shared services in tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from tests.helpers import free_port

__all__ = ["PrivatePostgres"]

_USER = "postgres"
_IN_CI = os.environ.get("CI", "").lower() == "true"


def _bindir() -> Path | None:
    """The newest installed server's binaries (Debian layout), or pg_ctl's on PATH."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _unavailable(reason: str) -> None:
    if _IN_CI:
        pytest.fail(f"a private PostgreSQL cannot start: {reason} (CI=true: a failure)")
    pytest.skip(f"a private PostgreSQL cannot start: {reason}")


class PrivatePostgres:
    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None or not (bindir / "initdb").exists():
            _unavailable("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
        if os.geteuid() != 0:
            _unavailable("the tests do not run as root (initdb must run as the postgres user)")
        if shutil.which("runuser") is None:
            _unavailable("runuser is not installed")
        assert bindir is not None
        self._bin = bindir
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = _USER
        self.database = "postgres"
        # Not under pytest's tmp_path: root's 0700 directories are closed to `postgres`.
        self._dir = Path(tempfile.mkdtemp(prefix="gpx-pg-"))
        shutil.chown(self._dir, _USER, _USER)
        self._data = self._dir / "data"
        self._running = False

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def env(self) -> dict[str, str]:
        """The settings (environment variables) of a server using this database."""
        return {
            "DB_TYPE": "postgres",
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_USER": self.user,
            "DB_NAME": self.database,
        }

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = ["runuser", "-u", _USER, "--", *args]
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}"
                f"\n{self.log_tail()}"
            )

    def init(self) -> None:
        self._run(
            str(self._bin / "initdb"), "-D", str(self._data), "--auth=trust", "-U", _USER,
            "--no-sync", "--no-instructions", "-E", "UTF8",
        )  # fmt: skip

    def start(self) -> None:
        # fsync off: a test cluster, thrown away afterwards; -k: the socket in our own dir.
        options = f"-p {self.port} -h {self.host} -k {self._dir} -F"
        self._run(
            str(self._bin / "pg_ctl"), "-D", str(self._data), "-o", options,
            "-l", str(self._dir / "server.log"), "-w", "-t", "30", "start",
        )  # fmt: skip
        self._running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `fast` disconnects every client at once (rolling back their
        transactions), `immediate` is a crash (recovery at the next start)."""
        if self._running:
            self._run(
                str(self._bin / "pg_ctl"), "-D", str(self._data), "-m", mode, "-w", "-t", "30",
                "stop",
            )  # fmt: skip
            self._running = False

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            text = (self._dir / "server.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def remove(self) -> None:
        """Stop (if running) and delete the cluster."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

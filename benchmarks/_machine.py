"""What ran the benchmark: machine, CPU layout (who is pinned where), tool versions."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["Layout", "layout", "machine_info", "versions"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Layout:
    """CPU sets (taskset -c) for the system under test, the load generator and the stub."""

    sut: list[int]
    loadgen: list[int]
    stub: list[int]
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "method": (
                "each process is started as `taskset -c LIST ...` (children and threads inherit "
                "the mask); for the `direct` peer the stub is moved onto the SUT cores with "
                "`taskset -a -p` so direct gets the same CPU a proxy would get"
            ),
        }


def layout() -> Layout:
    cpus = sorted(os.sched_getaffinity(0))
    n = len(cpus)
    if n == 1:
        return Layout(cpus, cpus, cpus, "1 CPU: everything shares it (no isolation possible)")
    if n < 4:
        # 2 cores: the proxy gets one core to itself; load generator and stub share the other.
        return Layout(
            cpus[:1],
            cpus[1:],
            cpus[1:],
            f"{n} CPUs: SUT alone on cpu {cpus[0]}; load generator and stub share the rest",
        )
    quarter = max(1, n // 4)
    return Layout(
        cpus[2 * quarter :],
        cpus[:quarter],
        cpus[quarter : 2 * quarter],
        f"{n} CPUs: load generator {quarter}, stub {quarter}, SUT {n - 2 * quarter} CPUs",
    )


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _meminfo_kib(key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _sysctl(name: str) -> str | None:
    path = Path("/proc/sys") / name.replace(".", "/")
    with contextlib.suppress(OSError):
        return path.read_text().strip()
    return None


def machine_info() -> dict[str, Any]:
    uname = platform.uname()
    return {
        "cpu_model": _cpu_model(),
        "cores_online": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(_meminfo_kib("MemTotal") / 1024 / 1024, 1),
        "kernel": f"{uname.system} {uname.release}",
        "arch": uname.machine,
        "loadavg_at_start": list(os.getloadavg()),
        "rlimit_nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
        "sysctl": {
            name: _sysctl(name)
            for name in (
                "net.core.somaxconn",
                "net.ipv4.ip_local_port_range",
                "net.ipv4.tcp_tw_reuse",
                "fs.nr_open",
            )
        },
        "shared_machine_note": (
            "loadavg_at_start > 0.5 means other work shared these cores during the run"
        ),
    }


def _cmd_version(argv: list[str], pattern: str = r"\d+\.\d+(\.\d+)?") -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(0) if match else None


def _pkg(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "python", "crates"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    return None


def versions(tools: dict[str, str | None]) -> dict[str, Any]:
    """Versions of Python packages, the load generators, nginx and LiteLLM."""
    found: dict[str, Any] = {
        "python": sys.version.split()[0],
        "gpuproxy_commit": _git_commit(),
        **{
            name: _pkg(name)
            for name in (
                "aiserve-gpuproxy",
                "granian",
                "litestar",
                "httpx",
                "msgspec",
                "uvloop",
                "matplotlib",
            )
        },
    }
    for name, path in tools.items():
        if path is None:
            found[name] = None
        elif name == "litellm":
            found[name] = _cmd_version(
                [path, "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
            )
        else:
            found[name] = _cmd_version([path, "-v" if name in ("nginx", "wrk") else "--version"])
    return found

"""Finding, and installing when missing, the tools the harness drives.

- oha: `cargo install oha --locked` into benchmarks/.work/cargo (or found on PATH / ~/.cargo/bin)
- wrk, nginx: Debian packages (`apt-get install -y wrk nginx-light`) when running as root
- LiteLLM: `litellm[proxy]` from PyPI in its own venv, benchmarks/.venv-litellm
- Portkey AI gateway: `@portkey-ai/gateway` from npm into benchmarks/.work/portkey (node, npm)
Each function returns the path of the executable (Portkey: of its start script), or None with
the reason logged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = [
    "BENCH",
    "PORTKEY_DIR",
    "PORTKEY_PINS",
    "PORTKEY_VERSION",
    "WORK",
    "ensure_litellm",
    "ensure_nginx",
    "ensure_oha",
    "ensure_portkey",
    "ensure_wrk",
    "log",
    "npm_version",
]

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
LITELLM_VENV = BENCH / ".venv-litellm"
PORTKEY_DIR = WORK / "portkey"
PORTKEY_VERSION = "1.15.2"
#: Exact versions installed next to the gateway. @hono/node-server >= 1.14.2 hands out the
#: upstream fetch() response's own (immutable) Headers from its lightweight Response, and the
#: gateway appends its x-portkey-* headers to them: every streamed chat completion then fails
#: with `TypeError: immutable` (HTTP 500; Portkey-AI/gateway issues 1389 and 1550). 1.14.1 is
#: the last release without that; @hono/node-ws 1.2.0 is the last one that accepts it.
PORTKEY_PINS = {"@hono/node-server": "1.14.1", "@hono/node-ws": "1.2.0"}
_apt_updated = False


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _run(argv: list[str], timeout: float, logname: str) -> bool:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / logname
    log(f"installing: {' '.join(argv)} (log {path.relative_to(BENCH.parent)})")
    with path.open("ab") as out:
        try:
            done = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log(f"install failed: {exc}")
            return False
    if done.returncode != 0:
        log(f"install failed with exit code {done.returncode}; see {path}")
    return done.returncode == 0


def _apt(*packages: str) -> bool:
    global _apt_updated
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        log(f"cannot apt-get install {packages}: not root or no apt-get")
        return False
    if not _apt_updated:
        _run(["apt-get", "update", "-qq"], 600, "apt.log")
        _apt_updated = True
    return _run(["apt-get", "install", "-y", "-qq", *packages], 900, "apt.log")


def ensure_oha() -> str | None:
    local = WORK / "cargo" / "bin" / "oha"
    for candidate in (local, Path.home() / ".cargo" / "bin" / "oha"):
        if candidate.exists():
            return str(candidate)
    if found := shutil.which("oha"):
        return found
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(cargo).exists():
        log("oha missing and no cargo to build it")
        return None
    # -j 2: the machine may be shared; building takes a few minutes once.
    argv = [cargo, "install", "oha", "--locked", "--root", str(WORK / "cargo"), "-j", "2"]
    if _run(argv, 3600, "oha-install.log") and local.exists():
        return str(local)
    return None


def ensure_wrk() -> str | None:
    if (found := shutil.which("wrk")) or (_apt("wrk") and (found := shutil.which("wrk"))):
        return found
    return None


def ensure_nginx() -> str | None:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    if _apt("nginx-light") and Path("/usr/sbin/nginx").exists():
        # The package may start a system nginx on port 80; the harness runs its own.
        subprocess.run(["nginx", "-s", "stop"], capture_output=True, check=False)
        return "/usr/sbin/nginx"
    return None


def ensure_litellm() -> str | None:
    """The Python of the LiteLLM venv (created and filled when missing)."""
    python = LITELLM_VENV / "bin" / "python"
    probe = [str(python), "-c", "import litellm.proxy.proxy_server"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return str(python)
    if not python.exists() and not _run(
        [sys.executable, "-m", "venv", str(LITELLM_VENV)], 300, "litellm-install.log"
    ):
        return None
    if not _run(
        [str(python), "-m", "pip", "install", "-q", "litellm[proxy]>=1.60"],
        1800,
        "litellm-install.log",
    ):
        return None
    return str(python)


def npm_version(package: str) -> str | None:
    """Version of `package` installed in benchmarks/.work/portkey (None when absent)."""
    try:
        meta = json.loads((PORTKEY_DIR / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    return str(meta.get("version")) if meta.get("version") else None


def _portkey_script() -> Path | None:
    """The gateway's start script, from its package.json `bin` (build/start-server.js)."""
    root = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway"
    try:
        meta = json.loads((root / "package.json").read_text())
    except (OSError, ValueError):
        return None
    bin_field = meta.get("bin") or meta.get("main") or "build/start-server.js"
    if isinstance(bin_field, dict):
        bin_field = bin_field.get("gateway") or next(iter(bin_field.values()), "")
    script = root / str(bin_field)
    return script if script.is_file() else None


def _portkey_ready() -> bool:
    # A nested copy under the gateway would mean npm did not take the pinned version.
    nested = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "node_modules"
    return (
        _portkey_script() is not None
        and npm_version("@portkey-ai/gateway") == PORTKEY_VERSION
        and all(npm_version(name) == version for name, version in PORTKEY_PINS.items())
        and not (nested / "@hono" / "node-server").exists()
    )


def ensure_portkey() -> str | None:
    """Path of the Portkey gateway's start script (installed with npm when missing)."""
    if _portkey_ready():
        return str(_portkey_script())
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        log("Portkey gateway missing and no node/npm to install it")
        return None
    PORTKEY_DIR.mkdir(parents=True, exist_ok=True)
    # --ignore-scripts: the package's only install script is `patch-package`, and it ships no
    # patches; --save-exact keeps the pins in benchmarks/.work/portkey/package.json.
    argv = [npm, "install", "--prefix", str(PORTKEY_DIR), "--no-audit", "--no-fund",
            "--save-exact", "--ignore-scripts", f"@portkey-ai/gateway@{PORTKEY_VERSION}",
            *(f"{name}@{version}" for name, version in PORTKEY_PINS.items())]  # fmt: skip
    if _run(argv, 900, "portkey-install.log") and _portkey_ready():
        return str(_portkey_script())
    if _portkey_script() is not None:
        log("Portkey installed, but not at the pinned versions; see portkey-install.log")
    return None

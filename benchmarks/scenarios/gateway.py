"""Scenario `gateway` (issue 6's benchmark): runs benchmarks/gateway.py, written with the
gateway, and files its JSON figures with the others. Its own output format is kept as is:
the last stdout line that parses as JSON, or the file given to `--json` when supported."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from _bench import Bench
from _tools import BENCH

__all__ = ["run"]


def run(bench: Bench) -> dict[str, Any]:
    script = BENCH / "gateway.py"
    if not script.exists():
        return {"available": False, "reason": "benchmarks/gateway.py is not in this tree yet"}
    help_text = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    argv = [sys.executable, str(script)]
    if bench.quick and "--quick" in help_text:
        argv.append("--quick")
    out_file = bench.workdir / "gateway.json"
    out_file.unlink(missing_ok=True)
    if "--json" in help_text:
        argv += ["--json", str(out_file)]
    done = subprocess.run(
        argv, cwd=BENCH.parent, capture_output=True, text=True, timeout=3600, check=False
    )
    (bench.workdir / "gateway.log").write_text(done.stdout + done.stderr)
    if out_file.exists():
        return {"available": True, "figures": json.loads(out_file.read_text())}
    for line in reversed(done.stdout.strip().splitlines()):
        try:
            return {"available": True, "figures": json.loads(line)}
        except json.JSONDecodeError:
            continue
    return {
        "available": False,
        "reason": f"benchmarks/gateway.py exited {done.returncode}",
        "tail": (done.stderr or done.stdout)[-1500:],
    }

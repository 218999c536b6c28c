"""Scenario `core`: the Rust core's criterion benches and the Python binding-call figures.

- `cargo bench -p gpuproxy-core` (criterion; --quick passes a short warm-up/measurement),
  then every target/criterion/**/new/estimates.json is collected (mean, median, std dev, ns).
- `python benchmarks/core_calls.py` (written with the core): its JSON output (the last
  stdout line that parses as JSON, or `--json FILE` when it supports it) is included as is.
Both run pinned to the SUT CPUs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from _bench import Bench
from _procs import pin
from _tools import BENCH, log

__all__ = ["run"]

ROOT = BENCH.parent


def _criterion(bench: Bench) -> dict[str, Any]:
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo/bin/cargo")
    core = ROOT / "crates" / "gpuproxy-core"
    if not (core / "benches").is_dir():
        return {"available": False, "reason": "crates/gpuproxy-core has no benches/ yet"}
    # Only the criterion targets (libtest would reject criterion's flags).
    names = sorted(f.stem for f in (core / "benches").glob("*.rs"))
    argv = [
        cargo,
        "bench",
        "-p",
        "gpuproxy-core",
        *(a for n in names for a in ("--bench", n)),
        "--",
    ]
    if bench.quick:
        argv += ["--warm-up-time", "0.5", "--measurement-time", "1"]
    log(f"core: {' '.join(argv)}")
    done = subprocess.run(
        pin(bench.layout.sut, argv),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    (bench.workdir / "cargo-bench.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        return {
            "available": False,
            "reason": f"cargo bench exited {done.returncode}",
            "tail": (done.stderr or done.stdout)[-1500:],
        }
    figures: dict[str, Any] = {}
    for estimates in sorted((ROOT / "target" / "criterion").glob("**/new/estimates.json")):
        bench_dir = estimates.parent.parent
        name = str(bench_dir.relative_to(ROOT / "target" / "criterion"))
        data = json.loads(estimates.read_text())
        meta_path = estimates.parent / "benchmark.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        figures[meta.get("full_id", name)] = {
            "mean_ns": round(data["mean"]["point_estimate"], 2),
            "median_ns": round(data["median"]["point_estimate"], 2),
            "std_dev_ns": round(data["std_dev"]["point_estimate"], 2),
            "throughput": meta.get("throughput"),
        }
    return {"available": True, "command": " ".join(argv[1:]), "benchmarks": figures}


def _binding_calls(bench: Bench) -> dict[str, Any]:
    script = BENCH / "core_calls.py"
    if not script.exists():
        return {"available": False, "reason": "benchmarks/core_calls.py is not in this tree yet"}
    out_file = bench.workdir / "core_calls.json"
    out_file.unlink(missing_ok=True)
    argv = [sys.executable, str(script), *(["--quick"] if bench.quick else [])]
    help_text = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    if "--quick" not in help_text:
        argv = [a for a in argv if a != "--quick"]
    if "--json" in help_text:
        argv += ["--json", str(out_file)]
    done = subprocess.run(
        pin(bench.layout.sut, argv),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if out_file.exists():
        return {"available": True, "figures": json.loads(out_file.read_text())}
    for line in reversed(done.stdout.strip().splitlines()):
        try:
            return {"available": True, "figures": json.loads(line)}
        except json.JSONDecodeError:
            continue
    if done.returncode != 0:
        return {
            "available": False,
            "reason": f"core_calls.py exited {done.returncode}",
            "tail": (done.stderr or done.stdout)[-1500:],
        }
    return {"available": True, "text": done.stdout[-8000:]}


def _forward_overhead() -> dict[str, Any]:
    """The latest benchmarks/forward_overhead.py result (run on its own), by reference."""
    files = sorted((BENCH / "results").glob("????-??-??-forward_overhead.json"))
    if not files:
        return {"available": False, "reason": "no forward_overhead results yet"}
    return {"available": True, "file": files[-1].name, "figures": json.loads(files[-1].read_text())}


def run(bench: Bench) -> dict[str, Any]:
    return {
        "criterion": _criterion(bench),
        "binding_calls": _binding_calls(bench),
        "forward_overhead": _forward_overhead(),
    }

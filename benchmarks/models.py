"""The `models` scenario: predict latency and throughput of uploaded models through the
gateway, against calling ONNX Runtime directly in the same run (the overhead ratio).

Starts `aiserve-gpuproxyd` (one worker, governance on as in the `gpuproxy` peer: API-key
auth, rate limit checked, guard rails, a price per call), uploads a small ONNX model (a
two-layer MLP, 32 -> 64 -> 8, built with the onnx helper API) and a small tree model (a
scikit-learn DecisionTreeClassifier, depth 8, 16 features, uploaded as skops and converted
by the server), then for each measures: ONNX Runtime in this process on the same graph
(`direct`), the seed's predict route and the Open Inference Protocol `infer` route, one
client at a time (latency) and `--concurrency` clients (throughput). Prints one JSON object
and writes it to benchmarks/results/<date>-models.json.

    .venv/bin/python benchmarks/models.py [--seconds 5] [--concurrency 8]

`--batch-window-ms N` turns dynamic batching on (MODELS_BATCH_WINDOW_MS) and files the
results as `<date>-models-batchNms.json`. Not part of `run.py all` (no README table
generator yet). What limits it: the Python clients share the cores
with the server (on the 2-core box both columns are client-bound at concurrency > 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import onnxruntime as ort
import skops.io as sio
from onnx import TensorProto, helper, numpy_helper
from sklearn.tree import DecisionTreeClassifier

sys.path.insert(0, str(Path(__file__).parent))
from _gpuproxy import _api_key, governance_env
from _procs import free_port, wait_http

RESULTS = Path(__file__).parent / "results"


def mlp_onnx() -> bytes:
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((32, 64), dtype=np.float32)
    w2 = rng.standard_normal((64, 8), dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("MatMul", ["r", "W2"], ["y"]),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        initializer=[numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def tree_skops() -> bytes:
    rng = np.random.default_rng(1)
    x = rng.random((2000, 16), dtype=np.float32)
    y = (x[:, 0] + x[:, 3] * x[:, 7] > 0.6).astype(np.int64)
    estimator = DecisionTreeClassifier(max_depth=8, random_state=0).fit(x, y)
    data: bytes = sio.dumps(estimator)
    return data


def _summary(latencies: list[float], seconds: float | None = None) -> dict[str, float]:
    ordered = sorted(latencies)
    summary = {
        "requests": len(ordered),
        "p50_us": round(statistics.median(ordered) * 1e6, 1),
        "p99_us": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6, 1),
    }
    if seconds:
        summary["per_second"] = round(len(ordered) / seconds, 1)
    return summary


def direct(model: bytes, feed: dict[str, np.ndarray], seconds: float) -> dict[str, float]:
    """ONNX Runtime in this process, one thread per session as the server runs it."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.perf_counter()
        session.run(None, feed)
        latencies.append(time.perf_counter() - started)
    return _summary(latencies, seconds)


async def _drive(
    one: Callable[[], Awaitable[float]], concurrency: int, seconds: float
) -> dict[str, float]:
    """`concurrency` clients calling `one` back to back for `seconds`."""
    stop = time.monotonic() + seconds

    async def client() -> list[float]:
        mine: list[float] = []
        while time.monotonic() < stop:
            mine.append(await one())
        return mine

    per_client = await asyncio.gather(*(client() for _ in range(concurrency)))
    return _summary([t for times in per_client for t in times], seconds)


async def over_http(
    base: str, key: str, model_id: str, name: str, row: np.ndarray, seconds: float, conc: int
) -> dict[str, Any]:
    predict = {"input": row.tolist()}
    infer = {"inputs": [{"name": name, "shape": [1, row.size], "datatype": "FP32",
                         "data": row.tolist()}]}  # fmt: skip
    limits = httpx.Limits(max_connections=conc)
    headers = {"X-API-Key": key}
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as c:

        async def seed() -> float:
            started = time.perf_counter()
            (await c.post(f"/api/v1/ml/models/{model_id}/predict", json=predict)).raise_for_status()
            return time.perf_counter() - started

        async def oip() -> float:
            started = time.perf_counter()
            (await c.post(f"/v2/models/{model_id}/infer", json=infer)).raise_for_status()
            return time.perf_counter() - started

        for label, one in (("predict", seed), ("infer", oip)):
            await _drive(one, 1, min(1.0, seconds))  # warm-up
            results[f"{label}_c1"] = await _drive(one, 1, seconds)
            results[f"{label}_c{conc}"] = await _drive(one, conc, seconds)
    return results


def _upload(base: str, key: str, name: str, filename: str, content: bytes) -> str:
    answer = httpx.post(
        f"{base}/api/v1/ml/models/upload",
        headers={"X-API-Key": key},
        data={"name": name, "price_per_call": "0.000001"},
        files={"model": (filename, content)},
        timeout=60,
    )
    answer.raise_for_status()
    return str(answer.json()["model_id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-window-ms", type=int, default=0, help="dynamic batching (0: off)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-models-"))
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(work), "PORT": str(port), "LOG_LEVEL": "warning",
           "LOCAL_FLEET_ENABLED": "false", "MODELS_BATCH_WINDOW_MS": str(args.batch_window_ms),
           **governance_env(True)}  # fmt: skip
    daemon = Path(sys.executable).parent / "aiserve-gpuproxyd"
    server = subprocess.Popen([str(daemon)], env=env, cwd=work)
    rng = np.random.default_rng(2)
    cases = {
        "mlp_onnx": (mlp_onnx(), "m.onnx", "x", rng.random(32, dtype=np.float32)),
        "tree_skops": (tree_skops(), "m.skops", "input", rng.random(16, dtype=np.float32)),
    }
    results: dict[str, Any] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health")
        key = _api_key(base)
        for label, (content, filename, name, row) in cases.items():
            model_id = _upload(base, key, label.replace("_", "-"), filename, content)
            served = content
            if filename.endswith(".skops"):  # what the server serves: the converted graph
                served = (work / "models" / f"{model_id}.onnx").read_bytes()
            onnx.checker.check_model(onnx.load_from_string(served))
            entry: dict[str, Any] = {"direct": direct(served, {name: row[None, :]}, args.seconds)}
            entry.update(
                asyncio.run(
                    over_http(base, key, model_id, name, row, args.seconds, args.concurrency)
                )
            )
            entry["overhead_ratio_p50"] = round(
                entry["predict_c1"]["p50_us"] / entry["direct"]["p50_us"], 1
            )
            results[label] = entry
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    report = {
        "scenario": "models",
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "batch_window_ms": args.batch_window_ms,
        "cpus": os.cpu_count(),
        "load_at_end": os.getloadavg(),
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    suffix = f"-batch{args.batch_window_ms}ms" if args.batch_window_ms else ""
    stem = f"{time.strftime('%Y-%m-%d')}-models{suffix}.json"
    (RESULTS / stem).write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

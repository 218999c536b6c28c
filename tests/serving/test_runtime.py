"""ONNX Runtime sessions: the LRU bounded by model bytes, the per-call timeout (504, and the
run told to stop), a file ONNX Runtime cannot load (400)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from gpuproxy.serving.errors import ModelError
from gpuproxy.serving.runtime import ModelRuntime
from gpuproxy.serving.settings import ServingSettings

from .builders import BIAS, WEIGHTS, linear_onnx


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def slow_onnx(size: int = 1200) -> bytes:
    """Three chained square MatMuls: a few hundred milliseconds on one thread."""
    weight = np.random.default_rng(0).random((size, size), dtype=np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["a"]),
        helper.make_node("MatMul", ["a", "W"], ["b"]),
        helper.make_node("MatMul", ["b", "W"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])],
        initializer=[numpy_helper.from_array(weight, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


async def test_runs_on_cpu_and_evicts_the_least_recently_used(tmp_path: Path) -> None:
    data = linear_onnx()
    runtime = ModelRuntime(ServingSettings(cache_bytes=2 * len(data)))
    path = write(tmp_path, "a.onnx", data)
    x = np.array([[1, 2, 3]], dtype=np.float32)
    ran = await runtime.run("a", path, len(data), {"x": x}, ["y"])
    assert np.allclose(ran.outputs["y"], x @ WEIGHTS + BIAS)
    assert (ran.runtime, ran.used_gpu) == ("onnx", False)
    await runtime.load("b", path, len(data))
    await runtime.load("a", path, len(data))  # a is now the most recently used
    await runtime.load("c", path, len(data))
    assert runtime.loaded == ["a", "c"]
    runtime.evict("a")
    assert runtime.loaded == ["c"]


async def test_a_run_past_the_timeout_is_a_504(tmp_path: Path) -> None:
    data = slow_onnx()
    path = write(tmp_path, "slow.onnx", data)
    runtime = ModelRuntime(ServingSettings(predict_timeout_s=0.02))
    await runtime.load("slow", path, len(data))  # loading is not what times out here
    x = np.ones((1200, 1200), dtype=np.float32)
    with pytest.raises(ModelError) as caught:
        await runtime.run("slow", path, len(data), {"x": x}, ["y"])
    assert caught.value.http_status == 504
    assert caught.value.code == "model_timeout"


async def test_a_file_onnx_runtime_cannot_load_is_a_400(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.onnx", b"\x08\x07not really a model")
    runtime = ModelRuntime(ServingSettings())
    with pytest.raises(ModelError) as caught:
        await runtime.load("bad", path, 10)
    assert caught.value.http_status == 400
    assert runtime.loaded == []


async def test_a_missing_file_is_a_503_not_a_bad_model(tmp_path: Path) -> None:
    runtime = ModelRuntime(ServingSettings())
    with pytest.raises(ModelError) as caught:
        await runtime.load("gone", tmp_path / "gone.onnx", 10)
    assert caught.value.http_status == 503
    assert caught.value.code == "model_file_missing"

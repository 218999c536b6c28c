"""Dynamic batching: concurrent predictions of one model run as one ONNX Runtime call and
each caller gets exactly its own rows; a failing batch fails each caller; over real HTTP
the answers say how many requests ran together."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from tests.gateway.support import GatewayServer

from gpuproxy.serving.batching import Batcher, batchable
from gpuproxy.serving.formats import TensorSpec
from gpuproxy.serving.runtime import Ran

from .builders import BIAS, WEIGHTS
from .conftest import uploaded_linear


class Model:
    """y = 2x, counting the calls and the rows of each."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.fail = fail

    async def __call__(self, feeds: dict[str, np.ndarray], names: list[str]) -> Ran:
        self.calls.append(feeds["x"].shape[0])
        if self.fail:
            raise RuntimeError("boom")
        return Ran({"y": feeds["x"] * 2}, 0.1, False)


def rows(start: int, count: int) -> dict[str, np.ndarray]:
    return {"x": np.arange(start, start + count, dtype=np.float32).reshape(count, 1)}


async def test_requests_in_one_window_run_once_and_get_their_own_rows() -> None:
    model = Model()
    batcher = Batcher(model, window_s=0.05, max_rows=100)
    answers = await asyncio.gather(
        batcher.submit(rows(0, 1), ["y"]),
        batcher.submit(rows(10, 3), ["y"]),
        batcher.submit(rows(20, 2), ["y"]),
    )
    assert model.calls == [6]
    for ran, (start, count) in zip(answers, [(0, 1), (10, 3), (20, 2)], strict=True):
        assert np.array_equal(ran.outputs["y"], rows(start, count)["x"] * 2)
        assert ran.batch_size == 3


async def test_a_full_batch_runs_at_once_and_failures_reach_every_caller() -> None:
    model = Model()
    batcher = Batcher(model, window_s=10.0, max_rows=4)  # never waits the 10 s
    await asyncio.wait_for(
        asyncio.gather(batcher.submit(rows(0, 2), ["y"]), batcher.submit(rows(5, 2), ["y"])), 2
    )
    assert model.calls == [4]
    failing = Batcher(Model(fail=True), window_s=0.01, max_rows=8)
    results = await asyncio.gather(
        failing.submit(rows(0, 1), ["y"]), failing.submit(rows(1, 1), ["y"]), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)


def test_only_models_with_a_free_batch_dimension_are_batched() -> None:
    free = TensorSpec("x", "FP32", [-1, 3])
    fixed = TensorSpec("x", "FP32", [1, 3])
    assert batchable([free], [free])
    assert not batchable([fixed], [free])
    assert not batchable([free], [TensorSpec("y", "FP32", [])])


@pytest.fixture
def serving_env() -> dict[str, str]:
    return {"MODELS_BATCH_WINDOW_MS": "100", "MODELS_MAX_BATCH_SIZE": "64"}


async def test_concurrent_predictions_over_http_share_a_batch(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    model_id = await uploaded_linear(gateway, alice)
    inputs = np.random.default_rng(4).random((6, 3), dtype=np.float32)
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers, timeout=20) as c:
        answers = await asyncio.gather(
            *(
                c.post(f"/api/v1/ml/models/{model_id}/predict", json={"input": row.tolist()})
                for row in inputs
            )
        )
    for answer, row in zip(answers, inputs, strict=True):
        assert answer.status_code == 200, answer.text
        assert np.allclose(answer.json()["output"], row @ WEIGHTS + BIAS, atol=1e-5)
    assert max(a.json()["batch_size"] for a in answers) > 1

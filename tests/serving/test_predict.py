"""The seed's predict route over real HTTP: outputs equal to running the model directly
(the ONNX graph's math, scikit-learn's own predict), bad input as a 400 naming the field,
billing (the model's price per call passes the guard rails like chat does) and the
per-model Prometheus metrics."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from tests.gateway.support import GatewayServer

from .builders import BIAS, WEIGHTS, features, linear_onnx, logistic, skops_bytes, tree
from .conftest import upload, uploaded_linear


@pytest.fixture
def serving_env() -> dict[str, str]:
    return {"GUARDRAILS_ENABLED": "true", "GUARDRAILS_MAX_5MIN_RATE": "0.010000"}


async def test_predict_one_row_and_a_batch(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    model_id = await uploaded_linear(gateway, alice)
    rows = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]], dtype=np.float32)
    expected = rows @ WEIGHTS + BIAS
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers) as client:
        one = await client.post(
            f"/api/v1/ml/models/{model_id}/predict", json={"input": rows[0].tolist()}
        )
        assert one.status_code == 200, one.text
        body = one.json()
        assert np.allclose(body["output"], expected[0])
        assert (body["runtime"], body["used_gpu"]) == ("onnx", False)
        assert body["latency_ms"] > 0
        batch = await client.post(
            "/api/v1/ml/models/linear/predict", json={"inputs": {"x": rows.tolist()}}
        )
        assert batch.status_code == 200, batch.text
        assert np.allclose(batch.json()["outputs"]["y"], expected)

        for payload, param in [
            ({"input": [1.0, 2.0]}, "input.shape"),
            ({"input": [[1.0, 2.0, 3.0], [1.0]]}, "input"),
            ({"input": ["a", "b", "c"]}, "input"),
            ({"inputs": {"z": [1.0, 2.0, 3.0]}}, "inputs.z"),
            ({"input": [1.0, 2.0, 3.0], "outputs": ["nope"]}, "outputs[0]"),
            ({}, "input"),
        ]:
            refused = await client.post(f"/api/v1/ml/models/{model_id}/predict", json=payload)
            assert refused.status_code == 400, (payload, refused.text)
            assert refused.json()["error"]["param"] == param, refused.text
        unknown = await client.post("/api/v1/ml/models/nope/predict", json={"input": [1]})
        assert unknown.status_code == 404


async def test_scikit_learn_models_answer_like_scikit_learn(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    x = features(rows=8, seed=3)
    for estimator, name in ((logistic(), "clf"), (tree(), "reg")):
        uploaded = await upload(
            gateway, alice, skops_bytes(estimator), filename="m.skops", name=name
        )
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["converted_to"] == "onnx"
        async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers) as client:
            answer = await client.post(
                f"/api/v1/ml/models/{name}/predict", json={"input": x.tolist()}
            )
        assert answer.status_code == 200, answer.text
        expected = estimator.predict(x)
        # skl2onnx answers regressors as [n, 1], scikit-learn as [n].
        assert np.allclose(np.ravel(answer.json()["output"]), expected, rtol=1e-5, atol=1e-5)
        if name == "clf":
            probabilities = answer.json()["outputs"]["probabilities"]
            assert np.allclose(probabilities, estimator.predict_proba(x), atol=1e-5)


async def test_each_call_is_charged_and_guard_rails_refuse(gateway: GatewayServer) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    # $0.004 per call against bob's $0.01 per 5 minutes: two calls fit, the third does not.
    model_id = await uploaded_linear(gateway, alice, visibility="public", price_per_call="0.004")
    billing = gateway.services.billing
    assert billing is not None
    async with httpx.AsyncClient(base_url=gateway.url, headers=bob.headers) as client:
        for _ in range(2):
            ok = await client.post(
                f"/api/v1/ml/models/{model_id}/predict", json={"input": [1.0, 2.0, 3.0]}
            )
            assert ok.status_code == 200, ok.text
        refused = await client.post(
            f"/api/v1/ml/models/{model_id}/predict", json={"input": [1.0, 2.0, 3.0]}
        )
        assert refused.status_code == 402, refused.text
        assert refused.json()["error"]["code"] == "spending_limit_exceeded"
        # A refused input costs nothing (the reservation is released).
        bad = await client.post(f"/api/v1/ml/models/{model_id}/predict", json={"input": [1.0]})
        assert bad.status_code == 400
    windows = {s.name: (s.spent, s.reserved) for s in billing.guard.local_state(bob.id)}
    assert windows["5min"] == (8000, 0)

    admin = await gateway.user(admin=True)
    async with httpx.AsyncClient(base_url=gateway.url, headers=admin.headers) as client:
        scraped = await client.get("/api/monitoring/metrics/prometheus")
    assert scraped.status_code == 200, scraped.text
    text = scraped.text
    ok = f'gpuproxy_served_model_requests_total{{model="{model_id}",outcome="ok"}} 2.0'
    refused_line = (
        f'gpuproxy_served_model_requests_total{{model="{model_id}",outcome="refused"}} 1.0'
    )
    assert ok in text
    assert refused_line in text
    assert f'gpuproxy_served_model_duration_seconds_count{{model="{model_id}"}} 2.0' in text


async def test_the_seeds_own_paths_reach_the_catalog(gateway: GatewayServer) -> None:
    """Seed 001's curl examples: POST /api/v1/models/upload and /api/v1/models/{id}/predict
    (the data plane serves only reads there, the OpenAI model list)."""
    alice = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers, timeout=30) as c:
        uploaded = await c.post(
            "/api/v1/models/upload",
            data={"name": "seed-linear"},
            files={"model": ("model.onnx", linear_onnx())},
        )
        assert uploaded.status_code == 201, uploaded.text
        model_id = uploaded.json()["model_id"]
        answer = await c.post(f"/api/v1/models/{model_id}/predict", json={"input": [1.0, 2.0, 3.0]})
        assert answer.status_code == 200, answer.text
        expected = np.array([1.0, 2.0, 3.0], dtype=np.float32) @ WEIGHTS + BIAS
        assert np.allclose(answer.json()["output"], expected)
        wrong = await c.post(f"/api/v1/models/{model_id}/train", json={"input": [1.0]})
        assert wrong.status_code == 404, wrong.text
        listed = await c.get("/api/v1/models")  # still the OpenAI list, from the data plane
        assert listed.status_code == 200
        assert listed.json()["object"] == "list"

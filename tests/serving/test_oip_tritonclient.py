"""The Open Inference Protocol v2 with the real `tritonclient.http` against the real
gateway (data plane + app): server and model metadata, readiness, infer with JSON and with
binary tensors, for an ONNX model and a converted scikit-learn model; outputs equal to
running the original model directly; errors as the client reports them.

tritonclient is synchronous (gevent), so it runs in a worker thread while the test's event
loop keeps serving the gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np
import pytest
import tritonclient.http as triton
from tests.gateway.support import GatewayServer
from tritonclient.utils import InferenceServerException

from gpuproxy.app import create_app
from gpuproxy.config import Settings

from .builders import BIAS, WEIGHTS, features, logistic, skops_bytes
from .conftest import upload, uploaded_linear

T = TypeVar("T")


async def in_thread(gateway: GatewayServer, call: Callable[[triton.InferenceServerClient], T]) -> T:
    def run() -> T:
        client = triton.InferenceServerClient(urlparse(gateway.url).netloc, network_timeout=20)
        try:
            return call(client)
        finally:
            client.close()

    return await asyncio.to_thread(run)


def infer(
    client: triton.InferenceServerClient,
    model: str,
    inputs: dict[str, np.ndarray],
    headers: dict[str, str],
    *,
    binary: bool,
) -> Any:
    tensors = []
    for name, value in inputs.items():
        tensor = triton.InferInput(name, list(value.shape), "FP32")
        tensor.set_data_from_numpy(value, binary_data=binary)
        tensors.append(tensor)
    return client.infer(model, tensors, headers=headers)


async def test_metadata_ready_and_infer_json_and_binary(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    await uploaded_linear(gateway, alice)
    await uploaded_linear(gateway, alice)
    headers = {"X-API-Key": alice.key}
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], dtype=np.float32)

    def calls(client: triton.InferenceServerClient) -> dict[str, Any]:
        return {
            "live": client.is_server_live(),
            "ready": client.is_server_ready(),
            "server": client.get_server_metadata(),
            "model_ready": client.is_model_ready("linear", headers=headers),
            "version_ready": client.is_model_ready("linear", "1", headers=headers),
            "metadata": client.get_model_metadata("linear", headers=headers),
            "json": infer(client, "linear", {"x": x}, headers, binary=False).as_numpy("y"),
            "binary": infer(client, "linear", {"x": x}, headers, binary=True).as_numpy("y"),
        }

    got = await in_thread(gateway, calls)
    assert got["live"]
    assert got["ready"]
    assert got["model_ready"]
    assert got["version_ready"]
    assert "binary_tensor_data" in got["server"]["extensions"]
    assert got["metadata"]["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
    assert got["metadata"]["platform"] == "onnxruntime_onnx"
    assert got["metadata"]["versions"] == ["1", "2"]
    expected = x @ WEIGHTS + BIAS
    assert got["json"].dtype == np.float32
    assert np.allclose(got["json"], expected)
    assert np.array_equal(got["binary"], got["json"])


async def test_converted_scikit_learn_model(gateway: GatewayServer) -> None:
    alice = await gateway.user()
    estimator = logistic()
    uploaded = await upload(gateway, alice, skops_bytes(estimator), filename="m.skops", name="clf")
    assert uploaded.status_code == 201, uploaded.text
    x = features(rows=6, seed=5)

    def run(client: triton.InferenceServerClient) -> Any:
        return infer(client, "clf", {"input": x}, {"X-API-Key": alice.key}, binary=True)

    result = await in_thread(gateway, run)
    assert np.array_equal(result.as_numpy("label"), estimator.predict(x))
    assert np.allclose(result.as_numpy("probabilities"), estimator.predict_proba(x), atol=1e-5)


async def test_errors_the_client_sees(gateway: GatewayServer) -> None:
    alice, bob = await gateway.user(), await gateway.user()
    await uploaded_linear(gateway, alice)
    wrong = np.zeros((1, 2), dtype=np.float32)

    def attempt(
        model: str, key: str, value: np.ndarray
    ) -> Callable[[triton.InferenceServerClient], str]:
        def call(client: triton.InferenceServerClient) -> str:
            with pytest.raises(InferenceServerException) as caught:
                infer(client, model, {"x": value}, {"X-API-Key": key}, binary=False)
            return str(caught.value)

        return call

    shape = await in_thread(gateway, attempt("linear", alice.key, wrong))
    assert "[400]" in shape
    assert "inputs[0].shape" in shape
    # Bob cannot see Alice's private model: the same answer as a model that does not exist.
    hidden = await in_thread(gateway, attempt("linear", bob.key, wrong))
    assert "[404]" in hidden
    anonymous = await in_thread(gateway, attempt("linear", "", wrong))
    assert "[401]" in anonymous


def test_the_schema_documents_the_protocol_error_shape(
    make_settings: Callable[..., Settings],
) -> None:
    schema = create_app(make_settings()).openapi_schema.to_schema()
    protocol = {"$ref": "#/components/schemas/ProtocolError"}
    for path in ("/v2/models/{name}", "/v2/models/{name}/infer"):
        for method, operation in schema["paths"][path].items():
            for status, response in operation["responses"].items():
                if status.startswith("4") and status != "429":
                    body = response["content"]["application/json"]["schema"]
                    assert body == protocol, (method, path, status)
    assert schema["components"]["schemas"]["ProtocolError"]["required"] == ["error"]
